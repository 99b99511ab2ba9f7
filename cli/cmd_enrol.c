/*
 * kagi enrol | card replace | card pin-unblock: the counter (窓口, issue 6).
 *
 * The card operations run in kagi-cardd on the counter PC (this tool uses
 * only common, client and cardd's client library): CARD_INFO, ENROL_KEYGEN,
 * ENROL_WRITE, PIN_UNBLOCK (docs/PROTOCOL-cardd.md "The counter").  kagid
 * binds the card and issues the certificate (docs/API.md, cards).  Steps:
 *
 *   person -> identity check -> card -> R-CARD-1 check -> PIN (twice) ->
 *   key pair on the card + CSR -> POST /v1/cards/enrol -> certificate on
 *   the card -> POST /v1/cards/<serial>/activate -> [temp password, FIDO]
 *
 * Interrupted anywhere, a retry works: kagid keeps the card "pending" until
 * activation and supersedes a pending certificate on the next enrol.  Each
 * step is timed (wall clock, shown and in --json) for bench/bench_enrol.sh.
 * PINs are read without echo (or from --pin-fd), kept in secure memory and
 * wiped; they go to cardd only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "kagi/cardd.h"
#include "kagi/err.h"
#include "kagi/i18n.h"
#include "kagi/secmem.h"
#include "kagi/util.h"

#include "verbs.h"

#define ENROL_PIN_MIN 6   /* our floor; the card's own range also applies */
#define ENROL_PIN_MAX 16
#define ENROL_STEPS_MAX 16
#define CARDD_TIMEOUT_MS (150 * 1000)

struct enrol_opts {
	const char *login;
	const char *fido;         /* fido2-cred -M output for `user fido add` */
	const char *receipt;
	const char *socket;       /* cardd's socket */
	const char *replaces;     /* card replace: the old card */
	int temp_password;
	int yes;
	int transport_pin;        /* the card holds an issuing PIN to change */
	int pin_fd;
	int card_wait;
};

struct step {
	const char *name;  /* stable, for --json and the benchmark */
	double ms;
};

struct enrol {
	struct cli *cli;
	struct kagi_conf *conf;
	struct kagi_client *client;
	struct enrol_opts *o;
	struct step steps[ENROL_STEPS_MAX];
	size_t nsteps;
	struct timespec t0;
	FILE *pinf;               /* --pin-fd stream */
};

/* ---- small helpers ---- */

static double
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void
step_begin(struct enrol *e)
{
	clock_gettime(CLOCK_MONOTONIC, &e->t0);
}

/* Record and show a finished step (progress goes to stderr with --json). */
static void
step_end(struct enrol *e, const char *name, const char *what)
{
	double ms = mono_ms() - ((double)e->t0.tv_sec * 1000.0 +
	    (double)e->t0.tv_nsec / 1e6);

	if (e->nsteps < ENROL_STEPS_MAX) {
		e->steps[e->nsteps].name = name;
		e->steps[e->nsteps].ms = ms;
		e->nsteps++;
	}
	if (!e->cli->quiet)
		fprintf(e->cli->json ? stderr : stdout, _("  [%s] %s (%.0f ms)\n"),
		    name, what, ms);
	fflush(stdout);
}

static int
api(struct enrol *e, const char *method, const char *path, const json_t *body,
    json_t **resp)
{
	long http = 0;
	int r;

	*resp = NULL;
	r = kagi_client_call(e->client, method, path, body, resp, &http);
	return r;
}

/* An API failure: kagid's message; returns the exit code. */
static int
api_fail(struct enrol *e, int r, json_t *resp)
{
	int code = cli_id_error(e->cli, e->client, r, resp);

	json_decref(resp);
	return code;
}

/* ---- PINs ---- */

/* One line from the --pin-fd stream or the terminal without echo. */
static int
read_secret(struct enrol *e, const char *prompt, char **out)
{
	return cli_read_secret(e->pinf, prompt, out);
}

static int
pin_ok(const char *pin, unsigned min, unsigned max)
{
	size_t n = strlen(pin), i;

	if (n < min || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)pin[i] < 0x20 || pin[i] == 0x7f)
			return 0;
	return 1;
}

/*
 * The holder chooses the PIN: asked twice, the length checked against our
 * floor and the card's range.  *pin in secure memory.
 */
static int
ask_new_pin(struct enrol *e, unsigned card_min, unsigned card_max, char **pin)
{
	char *a = NULL, *b = NULL;
	unsigned min = ENROL_PIN_MIN, max = ENROL_PIN_MAX;
	int tries, r = KAGI_ERR_INTERNAL;

	*pin = NULL;
	if (card_min > min)
		min = card_min;
	if (card_max > 0 && card_max < max)
		max = card_max;
	for (tries = 0; tries < 3; tries++) {
		kagi_secure_strfree(a);
		kagi_secure_strfree(b);
		a = b = NULL;
		if ((r = read_secret(e, _("New card PIN (the holder types it): "),
		    &a)) != 0)
			goto out;
		if (!pin_ok(a, min, max)) {
			fprintf(stderr, _("kagi: the PIN must be %u to %u "
			    "characters; try again.\n"), min, max);
			r = KAGI_ERR_INVALID;
			continue;
		}
		if ((r = read_secret(e, _("The same PIN again: "), &b)) != 0)
			goto out;
		if (strlen(a) != strlen(b) || !kagi_memeq_ct(a, b,
		    strlen(a))) {
			fprintf(stderr, "%s", _("kagi: the two PINs differ; try "
			    "again.\n"));
			r = KAGI_ERR_INVALID;
			continue;
		}
		*pin = a;
		a = NULL;
		r = 0;
		break;
	}
out:
	kagi_secure_strfree(a);
	kagi_secure_strfree(b);
	return r;
}

/* ---- cardd ---- */

static int
counter_conv(uint8_t style, uint16_t prompt, const char *arg, char **answer,
    void *ctx)
{
	struct enrol *e = ctx;

	*answer = NULL;
	if (style == CARDD_STYLE_ECHO_OFF || style == CARDD_STYLE_ECHO_ON)
		return 1; /* the counter requests carry their PINs */
	if (prompt == CARDD_P_INSERT_CARD && !e->cli->quiet)
		fprintf(e->cli->json ? stderr : stdout, _("Insert the card "
		    "into the reader (waiting %s s)...\n"), arg);
	fflush(stdout);
	return 0;
}

static const char *
socket_path(const struct enrol *e)
{
	if (e->o->socket != NULL)
		return e->o->socket;
	if (e->conf != NULL && e->conf->cardd_socket != NULL)
		return e->conf->cardd_socket;
	return CARDD_SOCKET_DEFAULT;
}

/* One counter request; *code is cardd's RESULT code. */
static int
counter_call(struct enrol *e, const struct cardd_msg *req,
    struct cardd_msg *data, int *code)
{
	struct cardd_conn *c = NULL;
	struct cardd_msg res;
	int r;

	*code = KAGI_ERR_INTERNAL;
	memset(&res, 0, sizeof(res));
	if ((r = cardd_conn_open(socket_path(e), &c)) != 0)
		return r;
	r = cardd_conn_counter(c, req, counter_conv, e, CARDD_TIMEOUT_MS,
	    data, &res);
	cardd_conn_close(c);
	if (r == 0)
		*code = res.code;
	cardd_msg_clear(&res);
	return r;
}

static int
cardd_fail(struct enrol *e, int r)
{
	return cli_error(e->cli, r, NULL, _("kagi-cardd on this PC does not "
	    "answer (%s): %s"), socket_path(e), kagi_strerror(r));
}

/* ---- printing ---- */

static void
print_card_line(const json_t *c)
{
	char t[64];

	cli_id_time(c, "updated", t, sizeof(t));
	printf("    %s  %s  %s  (%s)\n", cli_id_str(c, "serial"),
	    cli_id_str(c, "state"), cli_id_str(c, "label"), t);
}

/* The account enrolled: --login, else the person's one personal account. */
static const char *
pick_login(const json_t *person, const char *want)
{
	const json_t *a = json_object_get(person, "accounts"), *v;
	const char *found = NULL;
	size_t i, n = 0;

	if (want != NULL)
		return want;
	json_array_foreach(a, i, v) {
		if (strcmp(cli_id_str(v, "kind"), "personal") == 0 &&
		    strcmp(cli_id_str(v, "state"), "deleted") != 0) {
			found = cli_id_str(v, "login");
			n++;
		}
	}
	return n == 1 ? found : NULL;
}

static int
confirm(struct enrol *e)
{
	char buf[16];
	FILE *tty;
	int ok = 0;

	if (e->o->yes)
		return 1;
	if ((tty = fopen("/dev/tty", "r+")) == NULL)
		return 0;
	fprintf(tty, "%s", _("Identity checked against an official ID? "
	    "[y/N] "));
	fflush(tty);
	if (fgets(buf, sizeof(buf), tty) != NULL)
		ok = buf[0] == 'y' || buf[0] == 'Y';
	fclose(tty);
	return ok;
}

/* The receipt (受付票): no secret is ever in it. */
static char *
receipt_text(const json_t *person, const char *staff, const char *login,
    const struct cardd_msg *card, const json_t *cert_info,
    const char *replaces, int temp_issued, int fido_done)
{
	char now[64], until[64];
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return NULL;
	if (kagi_time_format_local(kagi_now(), now, sizeof(now)) != 0)
		snprintf(now, sizeof(now), "-");
	cli_id_time(cert_info, "not_after", until, sizeof(until));
	fprintf(f, "%s\n", _("=== Card enrolment receipt ==="));
	fprintf(f, "%s: %s\n", _("Date"), now);
	fprintf(f, "%s: %s\n", _("Staff number"), staff);
	fprintf(f, "%s: %s\n", _("Name"), cli_id_str(person, "name"));
	if (cli_id_str(person, "section")[0] != '\0')
		fprintf(f, "%s: %s\n", _("Section"),
		    cli_id_str(person, "section"));
	fprintf(f, "%s: %s\n", _("Account"), login);
	fprintf(f, "%s: %s (%s, %s %s)\n", _("Card"), card->serial,
	    card->label, card->manufacturer, card->model);
	fprintf(f, "%s: %s\n", _("Certificate serial"),
	    cli_id_str(cert_info, "serial"));
	fprintf(f, "%s: %s\n", _("Certificate valid until"), until);
	if (replaces != NULL)
		fprintf(f, "%s: %s\n", _("Replaces the card"), replaces);
	if (temp_issued)
		fprintf(f, "%s\n", _("A temporary password was handed over "
		    "in person."));
	if (fido_done)
		fprintf(f, "%s\n", _("A security key (FIDO2) was "
		    "registered."));
	fprintf(f, "%s\n", _("Keep your card and PIN to yourself; report a "
	    "lost card at once."));
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int
write_receipt(const char *path, const char *text)
{
	FILE *f;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0640);
	if (fd < 0)
		return KAGI_ERR_SYSTEM;
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		return KAGI_ERR_SYSTEM;
	}
	fputs(text, f);
	return fclose(f) == 0 ? 0 : KAGI_ERR_SYSTEM;
}

/* Serial and notAfter of a PEM certificate, and its DER. */
static int
cert_from_pem(const char *pem, uint8_t **der, size_t *der_len, json_t **info)
{
	BIO *b = NULL;
	X509 *x = NULL;
	BIGNUM *bn = NULL;
	char *hex = NULL;
	unsigned char *d = NULL;
	const ASN1_TIME *na;
	struct tm tm;
	char t[32];
	int n, r = KAGI_ERR_FORMAT;

	*der = NULL;
	*der_len = 0;
	*info = NULL;
	if ((b = BIO_new_mem_buf(pem, -1)) == NULL ||
	    (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL)
		goto out;
	if ((n = i2d_X509(x, &d)) <= 0)
		goto out;
	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) ==
	    NULL || (hex = BN_bn2hex(bn)) == NULL)
		goto out;
	na = X509_get0_notAfter(x);
	memset(&tm, 0, sizeof(tm));
	if (ASN1_TIME_to_tm(na, &tm) != 1 ||
	    strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		goto out;
	if ((*info = json_pack("{s:s, s:s}", "serial", hex, "not_after",
	    t)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	*der = d;
	*der_len = (size_t)n;
	d = NULL;
	r = 0;
out:
	OPENSSL_free(d);
	OPENSSL_free(hex);
	BN_free(bn);
	X509_free(x);
	BIO_free(b);
	return r;
}

/* Has the card this certificate (by DER) already? */
static int
card_has_cert(const struct cardd_msg *card, const uint8_t *der, size_t len)
{
	size_t i;

	for (i = 0; i < card->ncerts; i++)
		if (card->cert_lens[i] == len &&
		    memcmp(card->certs[i], der, len) == 0)
			return 1;
	return 0;
}

/* `kagi user fido add LOGIN --registration FILE`, through its own verb. */
static int
fido_register(struct enrol *e, const char *login)
{
	const struct cli_verb *u, *f = NULL;
	struct cli sub;
	char *argv[5];
	size_t i;
	int saved = -1, devnull = -1, code;

	for (u = cli_user_verbs; u->name != NULL; u++)
		if (strcmp(u->name, "fido") == 0)
			break;
	for (i = 0; u->name != NULL && u->sub != NULL &&
	    u->sub[i].name != NULL; i++)
		if (strcmp(u->sub[i].name, "add") == 0)
			f = &u->sub[i];
	if (f == NULL || f->run == NULL)
		return kagi_err_exit_code(KAGI_ERR_INTERNAL);
	sub = *e->cli;
	sub.json = 0;
	sub.quiet = 1;
	sub.parent = "user fido";
	argv[0] = (char *)(uintptr_t)"add";
	argv[1] = (char *)(uintptr_t)"--registration";
	argv[2] = (char *)(uintptr_t)e->o->fido;
	argv[3] = (char *)(uintptr_t)login;
	argv[4] = NULL;
	optind = 0; /* cli_parse runs getopt again */
	if (!e->cli->json)
		return f->run(&sub, f, 4, argv);
	/* --json: stdout carries only our one document; its errors go to
	 * stderr (sub.json is off) */
	fflush(stdout);
	if ((saved = dup(STDOUT_FILENO)) < 0 ||
	    (devnull = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0 ||
	    dup2(devnull, STDOUT_FILENO) < 0) {
		if (saved >= 0)
			close(saved);
		if (devnull >= 0)
			close(devnull);
		return kagi_err_exit_code(KAGI_ERR_SYSTEM);
	}
	code = f->run(&sub, f, 4, argv);
	fflush(stdout);
	(void)dup2(saved, STDOUT_FILENO);
	close(saved);
	close(devnull);
	return code;
}

/* ---- the enrolment ---- */

static int
enrol_run(struct cli *cli, struct enrol_opts *o, const char *staff)
{
	struct enrol e;
	struct cardd_msg req, card, csr, wdata;
	json_t *person_resp = NULL, *cards = NULL, *resp = NULL, *body = NULL,
	    *cert_info = NULL, *out = NULL, *steps = NULL, *temp = NULL;
	const json_t *person, *a, *v;
	const char *login = NULL, *cert_pem;
	char seg[128], path[256], *pin = NULL, *old_pin = NULL, *receipt = NULL;
	uint8_t *der = NULL;
	size_t der_len = 0, i;
	int code = 1, r, cc, fido_done = 0;

	memset(&e, 0, sizeof(e));
	memset(&req, 0, sizeof(req));
	memset(&card, 0, sizeof(card));
	memset(&csr, 0, sizeof(csr));
	memset(&wdata, 0, sizeof(wdata));
	e.cli = cli;
	e.o = o;
	if (o->pin_fd >= 0 && (e.pinf = fdopen(o->pin_fd, "r")) == NULL) {
		code = cli_error(cli, KAGI_ERR_INVALID, NULL, _("--pin-fd %d "
		    "is not open"), o->pin_fd);
		goto out;
	}
	if ((code = cli_connect(cli, &e.conf, &e.client)) != 0)
		goto out;
	code = 1;

	/* 1. the person and their cards, for the identity check */
	step_begin(&e);
	cli_id_seg(staff, seg, sizeof(seg));
	snprintf(path, sizeof(path), "/v1/persons/%s", seg);
	if ((r = api(&e, "GET", path, NULL, &person_resp)) != 0) {
		code = api_fail(&e, r, person_resp);
		person_resp = NULL;
		goto out;
	}
	person = json_object_get(person_resp, "person");
	snprintf(path, sizeof(path), "/v1/cards?holder=%s", seg);
	if ((r = api(&e, "GET", path, NULL, &cards)) != 0) {
		code = api_fail(&e, r, cards);
		cards = NULL;
		goto out;
	}
	if ((login = pick_login(person, o->login)) == NULL) {
		code = cli_error(cli, KAGI_ERR_INVALID, NULL, _("%s has no "
		    "single personal account: name it with --login"), staff);
		goto out;
	}
	if (!cli->json) {
		printf(_("Person %s\n"), staff);
		printf("  %s: %s\n", _("name"), cli_id_str(person, "name"));
		if (cli_id_str(person, "section")[0])
			printf("  %s: %s\n", _("section"),
			    cli_id_str(person, "section"));
		printf("  %s: %s\n", _("employment"),
		    cli_id_str(person, "employment"));
		printf("  %s: %s\n", _("account"), login);
		a = json_object_get(cards, "cards");
		printf("  %s:%s\n", _("cards"), json_array_size(a) == 0 ?
		    _(" (none)") : "");
		json_array_foreach(a, i, v)
			print_card_line(v);
	}
	step_end(&e, "person", _("person shown"));
	if (strcmp(cli_id_str(person, "hr_status"), "left") == 0) {
		code = cli_error(cli, KAGI_ERR_DENIED, NULL, _("%s has left: "
		    "no card is enrolled"), staff);
		goto out;
	}
	if (!confirm(&e)) {
		code = cli_error(cli, KAGI_ERR_DENIED, NULL, "%s",
		    _("the identity check was not confirmed; nothing was "
		    "changed"));
		goto out;
	}

	/* 2. the card in the reader */
	step_begin(&e);
	req.type = CARDD_MSG_CARD_INFO;
	req.wait = (uint32_t)o->card_wait;
	if ((r = counter_call(&e, &req, &card, &cc)) != 0) {
		code = cardd_fail(&e, r);
		goto out;
	}
	if (cc == KAGI_ERR_NOT_FOUND) {
		code = cli_error(cli, KAGI_ERR_TIMEOUT, NULL, _("no card in "
		    "the reader after %d s; nothing was changed"),
		    o->card_wait);
		goto out;
	}
	if (cc != 0 || card.type != CARDD_MSG_CARD) {
		code = cli_error(cli, cc != 0 ? cc : KAGI_ERR_FORMAT, NULL,
		    _("the card cannot be read: %s"), kagi_strerror(cc != 0 ?
		    cc : KAGI_ERR_FORMAT));
		goto out;
	}
	if (!cli->json)
		printf(_("Card %s (%s, %s %s), %zu certificate(s) on it\n"),
		    card.serial, card.label, card.manufacturer, card.model,
		    card.ncerts);
	step_end(&e, "card", _("card read"));
	if ((card.caps & CARDD_CAP_WRITABLE) == 0 || (card.caps &
	    (CARDD_CAP_KEYGEN_EC | CARDD_CAP_KEYGEN_RSA)) == 0) {
		code = cli_error(cli, KAGI_ERR_DENIED, NULL, "%s",
		    _("this card cannot generate keys: use a card that "
		    "makes its key pair on the card (nothing was stored)"));
		goto out;
	}

	/* 3. R-CARD-1: not bound to another active person */
	step_begin(&e);
	body = json_pack("{s:s, s:s}", "serial", card.serial, "staff_number",
	    staff);
	r = body != NULL ? api(&e, "POST", "/v1/cards/check", body, &resp) :
	    KAGI_ERR_NOMEM;
	json_decref(body);
	body = NULL;
	if (r == KAGI_ERR_CONFLICT) {
		code = cli_error(cli, r, resp, _("card %s belongs to another "
		    "person; it cannot be enrolled for %s (R-CARD-1)"),
		    card.serial, staff);
		goto out;
	}
	if (r != 0) {
		code = api_fail(&e, r, resp);
		resp = NULL;
		goto out;
	}
	json_decref(resp);
	resp = NULL;
	step_end(&e, "check", _("card is free for this person"));

	/* 4. the PIN: the holder types it twice at the counter */
	if (o->transport_pin || (card.caps & CARDD_CAP_PIN_CHANGE) != 0) {
		if ((r = read_secret(&e, _("Current card PIN (issuing PIN): "),
		    &old_pin)) != 0) {
			code = cli_error(cli, r, NULL, "%s", _("no PIN was "
			    "entered"));
			goto out;
		}
	}
	if ((r = ask_new_pin(&e, card.pin_min, card.pin_max, &pin)) != 0) {
		code = cli_error(cli, r, NULL, "%s", _("no valid PIN was "
		    "set; nothing was changed"));
		goto out;
	}

	/* 5. key pair on the card, CSR signed by it */
	step_begin(&e);
	memset(&req, 0, sizeof(req));
	req.type = CARDD_MSG_ENROL_KEYGEN;
	req.serial = card.serial;
	req.old_pw = old_pin != NULL ? old_pin : pin;
	req.new_pw = old_pin != NULL ? pin : (char *)(uintptr_t)"";
	r = counter_call(&e, &req, &csr, &cc);
	memset(&req, 0, sizeof(req));
	if (r != 0) {
		code = cardd_fail(&e, r);
		goto out;
	}
	if (cc != 0 || csr.type != CARDD_MSG_CSR) {
		if (cc == KAGI_ERR_PIN)
			code = cli_error(cli, cc, NULL, "%s", _("the card "
			    "refused the PIN"));
		else if (cc == KAGI_ERR_DENIED)
			code = cli_error(cli, cc, NULL, "%s", _("this card "
			    "cannot generate keys: use a card that makes its "
			    "key pair on the card (nothing was stored)"));
		else
			code = cli_error(cli, cc != 0 ? cc : KAGI_ERR_FORMAT,
			    NULL, _("no key pair was made on the card: %s"),
			    kagi_strerror(cc != 0 ? cc : KAGI_ERR_FORMAT));
		goto out;
	}
	/* From here on the card's PIN is the holder's. */
	kagi_secure_strfree(old_pin);
	old_pin = NULL;
	step_end(&e, "keygen", csr.key_type != NULL && strcmp(csr.key_type,
	    "p256") == 0 ? _("P-256 key pair made on the card") :
	    _("RSA-2048 key pair made on the card"));

	/* 6. kagid: the certificate, the card bound "pending" */
	step_begin(&e);
	body = json_pack("{s:s, s:s, s:{s:s, s:n, s:s, s:s, s:s}, s:s}",
	    "staff_number", staff, "login", login, "card", "serial",
	    card.serial, "atr", "label", card.label, "manufacturer",
	    card.manufacturer, "model", card.model, "csr", csr.csr);
	if (body != NULL && card.atr != NULL && card.atr[0] != '\0')
		(void)json_object_set_new(json_object_get(body, "card"), "atr",
		    json_string(card.atr));
	if (body != NULL && o->replaces != NULL)
		(void)json_object_set_new(body, "replaces",
		    json_string(o->replaces));
	r = body != NULL ? api(&e, "POST", "/v1/cards/enrol", body, &resp) :
	    KAGI_ERR_NOMEM;
	json_decref(body);
	body = NULL;
	if (r != 0) {
		code = api_fail(&e, r, resp);
		resp = NULL;
		goto out;
	}
	cert_pem = json_string_value(json_object_get(resp, "certificate"));
	if (cert_pem == NULL || (r = cert_from_pem(cert_pem, &der, &der_len,
	    &cert_info)) != 0) {
		code = cli_error(cli, KAGI_ERR_FORMAT, NULL, "%s", _("kagid "
		    "answered without a usable certificate"));
		goto out;
	}
	step_end(&e, "issue", _("certificate issued"));

	/* 7. the certificate onto the card, next to its key */
	step_begin(&e);
	memset(&req, 0, sizeof(req));
	req.type = CARDD_MSG_ENROL_WRITE;
	req.serial = card.serial;
	req.old_pw = pin;
	req.key_id = csr.key_id;
	req.der = der;
	req.der_len = der_len;
	cc = 0;
	r = card_has_cert(&card, der, der_len) ? 0 :
	    counter_call(&e, &req, &wdata, &cc);
	memset(&req, 0, sizeof(req));
	cardd_msg_clear(&wdata);
	if (r != 0) {
		code = cardd_fail(&e, r);
		goto out;
	}
	if (cc != 0) {
		code = cli_error(cli, cc, NULL, _("the certificate could not "
		    "be written to the card: %s (run kagi enrol again)"),
		    kagi_strerror(cc));
		goto out;
	}
	step_end(&e, "write", _("certificate written to the card"));

	/* 8. active */
	step_begin(&e);
	cli_id_seg(card.serial, seg, sizeof(seg));
	snprintf(path, sizeof(path), "/v1/cards/%s/activate", seg);
	body = json_object();
	r = body != NULL ? api(&e, "POST", path, body, &out) : KAGI_ERR_NOMEM;
	json_decref(body);
	body = NULL;
	if (r != 0) {
		code = api_fail(&e, r, out);
		out = NULL;
		goto out;
	}
	/* the card as kagid holds it now (active) */
	if (json_is_object(json_object_get(out, "card")))
		(void)json_object_set(resp, "card", json_object_get(out,
		    "card"));
	else if (json_is_string(json_object_get(out, "state")))
		(void)json_object_set(resp, "card", out);
	json_decref(out);
	out = NULL;
	step_end(&e, "activate", _("card active"));

	/* 9. optional: a temporary password, a security key */
	if (o->temp_password) {
		step_begin(&e);
		cli_id_seg(login, seg, sizeof(seg));
		snprintf(path, sizeof(path), "/v1/users/reset-password/%s",
		    seg);
		if ((r = api(&e, "POST", path, NULL, &temp)) != 0) {
			code = api_fail(&e, r, temp);
			temp = NULL;
			goto out;
		}
		step_end(&e, "temp_password", _("temporary password issued"));
	}
	if (o->fido != NULL) {
		step_begin(&e);
		if ((code = fido_register(&e, login)) != 0)
			goto out;
		fido_done = 1;
		step_end(&e, "fido", _("security key registered"));
	}

	receipt = receipt_text(person, staff, login, &card, cert_info,
	    o->replaces, temp != NULL, fido_done);
	if (receipt == NULL) {
		code = cli_error(cli, KAGI_ERR_NOMEM, NULL, "%s",
		    _("out of memory"));
		goto out;
	}
	if (o->receipt != NULL && (r = write_receipt(o->receipt,
	    receipt)) != 0) {
		code = cli_error(cli, r, NULL, _("the card is enrolled, but "
		    "the receipt %s could not be written"), o->receipt);
		goto out;
	}
	if (cli->json) {
		if ((steps = json_array()) == NULL) {
			code = kagi_err_exit_code(KAGI_ERR_NOMEM);
			goto out;
		}
		for (i = 0; i < e.nsteps; i++)
			(void)json_array_append_new(steps, json_pack(
			    "{s:s, s:f}", "step", e.steps[i].name, "ms",
			    e.steps[i].ms));
		out = json_pack("{s:s, s:s, s:O?, s:O, s:s?, s:O?, s:s, s:o}",
		    "staff_number", staff, "login", login, "card",
		    json_object_get(resp, "card"), "certificate", cert_info,
		    "certificate_pem", cert_pem, "chain",
		    json_object_get(resp, "chain"), "key_type", csr.key_type,
		    "steps", steps);
		steps = NULL;
		if (out != NULL && temp != NULL)
			(void)json_object_set(out, "temporary_password",
			    json_object_get(temp, "temporary_password"));
		code = out != NULL ? cli_print_json(cli, out) :
		    kagi_err_exit_code(KAGI_ERR_NOMEM);
	} else {
		printf("\n%s", receipt);
		if (temp != NULL) {
			char t[64];

			cli_id_time(temp, "temporary_password_expires", t,
			    sizeof(t));
			printf(_("Temporary password: %s\n"), cli_id_str(temp,
			    "temporary_password"));
			printf(_("  It is shown only this once; it must be "
			    "changed at the first login and expires at %s.\n"),
			    t);
		}
		code = fflush(stdout) == 0 ? 0 :
		    kagi_err_exit_code(KAGI_ERR_SYSTEM);
	}
out:
	if (temp != NULL) {
		/* the temporary password leaves memory wiped */
		const char *tp = json_string_value(json_object_get(temp,
		    "temporary_password"));

		if (tp != NULL)
			kagi_wipe((void *)(uintptr_t)tp, strlen(tp));
	}
	json_decref(temp);
	json_decref(out);
	json_decref(steps);
	json_decref(cert_info);
	json_decref(resp);
	json_decref(cards);
	json_decref(person_resp);
	free(receipt);
	OPENSSL_free(der);
	kagi_secure_strfree(pin);
	kagi_secure_strfree(old_pin);
	cardd_msg_clear(&card);
	cardd_msg_clear(&csr);
	if (e.pinf != NULL)
		fclose(e.pinf);
	kagi_client_free(e.client);
	kagi_conf_free(e.conf);
	return code;
}

/* Options shared by enrol and card replace. */
#define ENROL_OPTS(o, fdarg, waitarg) \
	{ "login", 0, required_argument, &(o).login, NULL }, \
	{ "fido", 0, required_argument, &(o).fido, NULL }, \
	{ "receipt", 0, required_argument, &(o).receipt, NULL }, \
	{ "cardd-socket", 0, required_argument, &(o).socket, NULL }, \
	{ "pin-fd", 0, required_argument, &(fdarg), NULL }, \
	{ "card-wait", 0, required_argument, &(waitarg), NULL }, \
	{ "temp-password", 0, no_argument, NULL, &(o).temp_password }, \
	{ "transport-pin", 0, no_argument, NULL, &(o).transport_pin }, \
	{ "yes", 'y', no_argument, NULL, &(o).yes }

static int
int_opt(struct cli *cli, const struct cli_verb *v, const char *name,
    const char *s, int min, int max, int *out)
{
	char *end = NULL;
	long n;

	if (s == NULL)
		return CLI_DONE;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || n < min || n > max)
		return cli_usage_error(cli, v, _("--%s must be a number from "
		    "%d to %d"), name, min, max);
	*out = (int)n;
	return CLI_DONE;
}

int
cmd_enrol(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	struct enrol_opts o;
	const char *fd_s = NULL, *wait_s = NULL;
	int first, code;

	memset(&o, 0, sizeof(o));
	o.pin_fd = -1;
	o.card_wait = 30;
	{
		const struct cli_opt opts[] = {
			ENROL_OPTS(o, fd_s, wait_s),
			{ NULL, 0, 0, NULL, NULL },
		};

		if ((code = cli_parse(cli, v, argc, argv, opts, &first)) !=
		    CLI_DONE)
			return code;
	}
	if ((code = cli_id_one_arg(cli, v, argc, argv, first,
	    _("a staff number"))) != CLI_DONE ||
	    (code = int_opt(cli, v, "pin-fd", fd_s, 0, 1024, &o.pin_fd)) !=
	    CLI_DONE ||
	    (code = int_opt(cli, v, "card-wait", wait_s, 0,
	    (int)CARDD_WAIT_MAX, &o.card_wait)) != CLI_DONE)
		return code;
	return enrol_run(cli, &o, argv[first]);
}

/* kagi card replace OLD_SERIAL: a new card for the same holder. */
int
cmd_card_replace(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	struct enrol_opts o;
	const char *fd_s = NULL, *wait_s = NULL;
	json_t *resp = NULL;
	char seg[128], path[200], *holder = NULL, *login = NULL;
	int first, code;

	memset(&o, 0, sizeof(o));
	o.pin_fd = -1;
	o.card_wait = 30;
	{
		const struct cli_opt opts[] = {
			ENROL_OPTS(o, fd_s, wait_s),
			{ NULL, 0, 0, NULL, NULL },
		};

		if ((code = cli_parse(cli, v, argc, argv, opts, &first)) !=
		    CLI_DONE)
			return code;
	}
	if ((code = cli_id_one_arg(cli, v, argc, argv, first,
	    _("the old card's serial"))) != CLI_DONE ||
	    (code = int_opt(cli, v, "pin-fd", fd_s, 0, 1024, &o.pin_fd)) !=
	    CLI_DONE ||
	    (code = int_opt(cli, v, "card-wait", wait_s, 0,
	    (int)CARDD_WAIT_MAX, &o.card_wait)) != CLI_DONE)
		return code;
	cli_id_seg(argv[first], seg, sizeof(seg));
	snprintf(path, sizeof(path), "/v1/cards/%s", seg);
	if ((code = cli_id_call(cli, "GET", path, NULL, &resp)) != 0)
		return code;
	if ((holder = strdup(cli_id_str(resp, "holder"))) == NULL ||
	    (login = strdup(cli_id_str(resp, "login"))) == NULL) {
		code = cli_error(cli, KAGI_ERR_NOMEM, NULL, "%s",
		    _("out of memory"));
		goto out;
	}
	json_decref(resp);
	resp = NULL;
	if (holder[0] == '\0') {
		code = cli_error(cli, KAGI_ERR_FORMAT, NULL, _("card %s has no "
		    "holder"), argv[first]);
		goto out;
	}
	if (o.login == NULL && login[0] != '\0')
		o.login = login;
	o.replaces = argv[first];
	if (!cli->json && !cli->quiet)
		printf(_("Replacing card %s of %s: enrol the new card.\n"),
		    argv[first], holder);
	code = enrol_run(cli, &o, holder);
out:
	json_decref(resp);
	free(holder);
	free(login);
	return code;
}

/*
 * kagi card pin-unblock SERIAL [--approval ID]: kagid authorises (dual
 * control, audit card.pin_unblock), then cardd logs in with the SO PIN
 * (PUK) and sets the new user PIN (C_InitPIN).
 */
int
cmd_card_pin_unblock(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	struct enrol_opts o;
	struct enrol e;
	struct cardd_msg req, card, data;
	const char *approval = NULL, *fd_s = NULL, *wait_s = NULL;
	json_t *body = NULL, *resp = NULL;
	char seg[128], path[200], *so = NULL, *pin = NULL;
	int first, code, r, cc;
	const struct cli_opt opts[] = {
		{ "approval", 0, required_argument, &approval, NULL },
		{ "cardd-socket", 0, required_argument, &o.socket, NULL },
		{ "pin-fd", 0, required_argument, &fd_s, NULL },
		{ "card-wait", 0, required_argument, &wait_s, NULL },
		{ NULL, 0, 0, NULL, NULL },
	};

	memset(&o, 0, sizeof(o));
	memset(&e, 0, sizeof(e));
	memset(&req, 0, sizeof(req));
	memset(&card, 0, sizeof(card));
	memset(&data, 0, sizeof(data));
	o.pin_fd = -1;
	o.card_wait = 30;
	if ((code = cli_parse(cli, v, argc, argv, opts, &first)) != CLI_DONE ||
	    (code = cli_id_one_arg(cli, v, argc, argv, first,
	    _("the card's serial"))) != CLI_DONE ||
	    (code = int_opt(cli, v, "pin-fd", fd_s, 0, 1024, &o.pin_fd)) !=
	    CLI_DONE ||
	    (code = int_opt(cli, v, "card-wait", wait_s, 0,
	    (int)CARDD_WAIT_MAX, &o.card_wait)) != CLI_DONE)
		return code;
	e.cli = cli;
	e.o = &o;
	if (o.pin_fd >= 0 && (e.pinf = fdopen(o.pin_fd, "r")) == NULL) {
		code = cli_error(cli, KAGI_ERR_INVALID, NULL, _("--pin-fd %d "
		    "is not open"), o.pin_fd);
		goto out;
	}
	if ((code = cli_connect(cli, &e.conf, &e.client)) != 0)
		goto out;
	/* the card in the reader must be this one */
	req.type = CARDD_MSG_CARD_INFO;
	req.wait = (uint32_t)o.card_wait;
	if ((r = counter_call(&e, &req, &card, &cc)) != 0) {
		code = cardd_fail(&e, r);
		goto out;
	}
	if (cc != 0 || card.type != CARDD_MSG_CARD) {
		code = cli_error(cli, cc == KAGI_ERR_NOT_FOUND ?
		    KAGI_ERR_TIMEOUT : cc != 0 ? cc : KAGI_ERR_FORMAT, NULL,
		    "%s", _("no readable card in the reader"));
		goto out;
	}
	if (strcmp(card.serial, argv[first]) != 0) {
		code = cli_error(cli, KAGI_ERR_INVALID, NULL, _("the card in "
		    "the reader is %s, not %s"), card.serial, argv[first]);
		goto out;
	}
	if ((r = read_secret(&e, _("Security officer PIN (PUK) of the card: "),
	    &so)) != 0 || so[0] == '\0') {
		code = cli_error(cli, r != 0 ? r : KAGI_ERR_INVALID, NULL, "%s",
		    _("no PUK was entered"));
		goto out;
	}
	if ((r = ask_new_pin(&e, card.pin_min, card.pin_max, &pin)) != 0) {
		code = cli_error(cli, r, NULL, "%s", _("no valid PIN was "
		    "set; nothing was changed"));
		goto out;
	}
	/* kagid: role, dual control (R-PRIV-8), audit */
	cli_id_seg(argv[first], seg, sizeof(seg));
	snprintf(path, sizeof(path), "/v1/cards/%s/pin-unblock", seg);
	body = approval != NULL ? json_pack("{s:s}", "approval_id", approval) :
	    json_object();
	r = body != NULL ? api(&e, "POST", path, body, &resp) : KAGI_ERR_NOMEM;
	json_decref(body);
	if (r != 0) {
		code = api_fail(&e, r, resp);
		resp = NULL;
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.type = CARDD_MSG_PIN_UNBLOCK;
	req.serial = card.serial;
	req.old_pw = so;
	req.new_pw = pin;
	r = counter_call(&e, &req, &data, &cc);
	memset(&req, 0, sizeof(req));
	cardd_msg_clear(&data);
	if (r != 0) {
		code = cardd_fail(&e, r);
		goto out;
	}
	if (cc == KAGI_ERR_PIN) {
		code = cli_error(cli, cc, NULL, "%s", _("the card refused the "
		    "PUK; the PIN was not changed"));
		goto out;
	}
	if (cc != 0) {
		code = cli_error(cli, cc, NULL, _("the PIN could not be set: "
		    "%s"), kagi_strerror(cc));
		goto out;
	}
	if (cli->json) {
		json_t *j = json_pack("{s:s, s:b}", "serial", argv[first],
		    "pin_set", 1);

		code = j != NULL ? cli_print_json(cli, j) :
		    kagi_err_exit_code(KAGI_ERR_NOMEM);
		json_decref(j);
	} else {
		printf(_("A new PIN was set on card %s.\n"), argv[first]);
		code = 0;
	}
out:
	json_decref(resp);
	kagi_secure_strfree(so);
	kagi_secure_strfree(pin);
	cardd_msg_clear(&card);
	if (e.pinf != NULL)
		fclose(e.pinf);
	kagi_client_free(e.client);
	kagi_conf_free(e.conf);
	return code;
}
