/*
 * kagi-cardd's request handlers: one connection, one request (AUTH, ACCT,
 * CHPW, SESSION_OPEN, SESSION_CLOSE), cardd's prompts, one RESULT.
 *
 * AUTH follows kagid's login API (docs/API.md "Login"): /v1/login/begin
 * gives a single-use challenge and the factors the zone accepts; cardd
 * chooses what is present (a card, a FIDO credential on an attached key, a
 * password), collects each factor through the conversation, binds the card
 * signature and the FIDO assertion to
 *   tbs_hash = SHA-256("kagi-login-v1" 0x00 challenge 0x00 login)
 * and lets kagid decide with /v1/login/finish.  cardd decides nothing about
 * the account: kagid does (DESIGN.md "Login").
 *
 * Callers are identified by SO_PEERCRED: a non-root caller may only act as
 * itself (R-LOGIN, STYLE.md 11).  PINs and passwords live in secure memory,
 * are wiped right after use and never logged.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cardd_int.h"
#include "kagi/json.h"
#include "kagi/log.h"
#include "kagi/secmem.h"
#include "kagi/util.h"

#define B64_MAX (64u * 1024u)
#define FIDO_CREDS_MAX 16
#define FIDO_CRED_ID_MAX 1023
#define MEMBER_MAX 64 /* kagid's login limit (docs/API.md) */

int
cardd_tbs_hash(const uint8_t *challenge, size_t clen, const char *login,
    uint8_t out[CARDD_TBS_LEN])
{
	static const char tag[] = "kagi-login-v1";
	static const uint8_t zero = 0;
	EVP_MD_CTX *ctx = NULL;
	unsigned int n = 0;
	int r = KAGI_ERR_INTERNAL;

	if (challenge == NULL || clen != 32 || login == NULL || out == NULL)
		return KAGI_ERR_INVALID;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return KAGI_ERR_NOMEM;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, tag, sizeof(tag) - 1) != 1 ||
	    EVP_DigestUpdate(ctx, &zero, 1) != 1 ||
	    EVP_DigestUpdate(ctx, challenge, clen) != 1 ||
	    EVP_DigestUpdate(ctx, &zero, 1) != 1 ||
	    EVP_DigestUpdate(ctx, login, strlen(login)) != 1 ||
	    EVP_DigestFinal_ex(ctx, out, &n) != 1 || n != CARDD_TBS_LEN)
		goto out;
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	return r;
}

/* ---- small helpers ---- */

static char *
b64_encode(const uint8_t *p, size_t n)
{
	char *s;

	if (n > B64_MAX)
		return NULL;
	if ((s = malloc(((n + 2) / 3) * 4 + 1)) == NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	return s;
}

/* Standard padded base64, nothing else; *out malloc()ed. */
static int
b64_decode(const char *s, size_t max, uint8_t **out, size_t *outlen)
{
	size_t n = strlen(s), pad = 0, i;
	uint8_t *buf;
	int got;

	*out = NULL;
	*outlen = 0;
	if (n == 0 || n % 4 != 0 || n / 4 * 3 > max + 2)
		return KAGI_ERR_FORMAT;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '=') {
			if (i < n - 2)
				return KAGI_ERR_FORMAT;
			pad++;
			continue;
		}
		if (pad > 0 || !((c >= 'A' && c <= 'Z') ||
		    (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '+' || c == '/'))
			return KAGI_ERR_FORMAT;
	}
	if ((buf = malloc(n / 4 * 3 + 1)) == NULL)
		return KAGI_ERR_NOMEM;
	got = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)n);
	if (got < 0 || (size_t)got < pad || (size_t)got - pad > max) {
		free(buf);
		return KAGI_ERR_FORMAT;
	}
	*out = buf;
	*outlen = (size_t)got - pad;
	return 0;
}

static char *
der_to_pem(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = NULL;
	BIO *b = NULL;
	BUF_MEM *m = NULL;
	char *s = NULL;

	if ((x = d2i_X509(NULL, &p, (long)len)) == NULL ||
	    (b = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_X509(b, x) != 1)
		goto out;
	BIO_get_mem_ptr(b, &m);
	if (m == NULL || (s = malloc(m->length + 1)) == NULL)
		goto out;
	memcpy(s, m->data, m->length);
	s[m->length] = '\0';
out:
	BIO_free(b);
	X509_free(x);
	return s;
}

/* Wipe a string held by a JSON value (a password we put into a body). */
static void
json_wipe_string(json_t *v)
{
	if (v != NULL && json_is_string(v))
		kagi_wipe((void *)(uintptr_t)json_string_value(v),
		    json_string_length(v));
}

static int
peer_may_act_as(const struct cardd_peer *p, const char *user)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (p->uid == 0)
		return 1;
	if (getpwuid_r(p->uid, &pw, buf, sizeof(buf), &res) != 0 ||
	    res == NULL)
		return 0;
	return strcmp(pw.pw_name, user) == 0;
}

/* ---- the conversation ---- */

struct conv {
	struct cardd_peer *p;
	int broken; /* the connection failed: no RESULT can be sent */
};

/*
 * Show one prompt; for ECHO_OFF / ECHO_ON wait for the ANSWER.  A cancelled
 * answer gives KAGI_ERR_AUTH; anything but an ANSWER breaks the connection.
 */
static int
ask(struct conv *cv, uint8_t style, uint16_t id, const char *arg,
    char **answer)
{
	struct cardd_msg m, a;
	int r;

	if (answer != NULL)
		*answer = NULL;
	if (cv->broken)
		return KAGI_ERR_UNAVAILABLE;
	memset(&m, 0, sizeof(m));
	m.type = CARDD_MSG_PROMPT;
	m.style = style;
	m.prompt = id;
	m.text = (char *)(uintptr_t)(arg != NULL ? arg : "");
	if ((r = cardd_msg_send(cv->p->fd, &m, CARDD_REQUEST_TIMEOUT_MS)) !=
	    0) {
		cv->broken = 1;
		return r;
	}
	if (style != CARDD_STYLE_ECHO_OFF && style != CARDD_STYLE_ECHO_ON)
		return 0;
	r = cardd_msg_recv(cv->p->fd, &a, CARDD_ANSWER_TIMEOUT_MS);
	if (r == 0 && a.type != CARDD_MSG_ANSWER)
		r = KAGI_ERR_FORMAT;
	if (r != 0) {
		kagi_log_warn("event=cardd_proto_error pid=%ld uid=%ld "
		    "error=%s", (long)cv->p->pid, (long)cv->p->uid,
		    kagi_err_name(r));
		cardd_msg_clear(&a);
		if (r != KAGI_ERR_TIMEOUT && r != KAGI_ERR_FORMAT &&
		    r != KAGI_ERR_LIMIT && r != KAGI_ERR_VERSION &&
		    r != KAGI_ERR_TRAILING)
			cv->broken = 1;
		return r;
	}
	if (!a.answered || a.response == NULL) {
		cardd_msg_clear(&a);
		return KAGI_ERR_AUTH;
	}
	if (answer != NULL) {
		*answer = a.response;
		a.response = NULL;
	}
	cardd_msg_clear(&a);
	return 0;
}

static int
fido_ask(uint16_t prompt, char **pin, void *ctx)
{
	struct conv *cv = ctx;

	if (prompt == CARDD_P_FIDO_PIN)
		return ask(cv, CARDD_STYLE_ECHO_OFF, prompt, "", pin);
	return ask(cv, CARDD_STYLE_INFO, prompt, "", NULL);
}

static int
send_result(struct conv *cv, struct cardd_msg *res)
{
	res->type = CARDD_MSG_RESULT;
	if (cv->broken)
		return KAGI_ERR_UNAVAILABLE;
	return cardd_msg_send(cv->p->fd, res, CARDD_REQUEST_TIMEOUT_MS);
}

static int
send_code(struct conv *cv, int code)
{
	struct cardd_msg res;

	memset(&res, 0, sizeof(res));
	res.code = code > 0 || code < KAGI_ERR_MIN ? KAGI_ERR_INTERNAL : code;
	return send_result(cv, &res);
}

/* ---- sessions cardd knows of (ACCT, SESSION_CLOSE) ---- */

static void
session_record(struct cardd *d, const char *id, const char *user,
    int64_t end)
{
	size_t i, slot = 0;
	int64_t oldest = INT64_MAX;

	if (id == NULL || strlen(id) != 32)
		return;
	pthread_mutex_lock(&d->sess_lock);
	for (i = 0; i < CARDD_SESSIONS_MAX; i++) {
		if (!d->sessions[i].used) {
			slot = i;
			break;
		}
		if (d->sessions[i].end < oldest) {
			oldest = d->sessions[i].end;
			slot = i;
		}
	}
	memset(&d->sessions[slot], 0, sizeof(d->sessions[slot]));
	memcpy(d->sessions[slot].id, id, 33);
	snprintf(d->sessions[slot].user, sizeof(d->sessions[slot].user), "%s",
	    user);
	d->sessions[slot].end = end;
	d->sessions[slot].used = 1;
	pthread_mutex_unlock(&d->sess_lock);
}

/* The user a session belongs to, if cardd saw its login. */
static int
session_user(struct cardd *d, const char *id, char *user, size_t len)
{
	size_t i;
	int found = 0;

	pthread_mutex_lock(&d->sess_lock);
	for (i = 0; i < CARDD_SESSIONS_MAX; i++)
		if (d->sessions[i].used && strcmp(d->sessions[i].id, id) == 0) {
			snprintf(user, len, "%s", d->sessions[i].user);
			found = 1;
			break;
		}
	pthread_mutex_unlock(&d->sess_lock);
	return found;
}

static void
session_forget(struct cardd *d, const char *id)
{
	size_t i;

	pthread_mutex_lock(&d->sess_lock);
	for (i = 0; i < CARDD_SESSIONS_MAX; i++)
		if (d->sessions[i].used && strcmp(d->sessions[i].id, id) == 0)
			memset(&d->sessions[i], 0, sizeof(d->sessions[i]));
	pthread_mutex_unlock(&d->sess_lock);
}

/* ---- AUTH ---- */

struct begin {
	char challenge_id[33];
	uint8_t *challenge;
	size_t challenge_len;
	int allow_card, allow_fido, allow_pw;
	int shared;        /* kind "shared": a member logs in (R-ID-7) */
	int64_t min_categories;
	char *rp_id;
	int uv;            /* 0 discouraged, 1 preferred, 2 required */
	size_t ncreds;
	uint8_t *creds[FIDO_CREDS_MAX];
	size_t cred_lens[FIDO_CREDS_MAX];
	char *banner;
};

static void
begin_clear(struct begin *b)
{
	size_t i;

	free(b->challenge);
	free(b->rp_id);
	free(b->banner);
	for (i = 0; i < b->ncreds; i++)
		free(b->creds[i]);
	memset(b, 0, sizeof(*b));
}

static int
is_hex32(const char *s)
{
	size_t i;

	if (strlen(s) != 32)
		return 0;
	for (i = 0; i < 32; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* kagid's answer to /v1/login/begin, checked field by field. */
static int
begin_parse(const json_t *o, struct begin *b)
{
	const char *s = NULL;
	const json_t *f, *a, *v;
	size_t i;
	int r;

	memset(b, 0, sizeof(*b));
	if ((r = kagi_json_get_string(o, "challenge_id", 1, 32, &s)) != 0)
		goto out;
	if (!is_hex32(s)) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	memcpy(b->challenge_id, s, 33);
	if ((r = kagi_json_get_string(o, "challenge", 1, 64, &s)) != 0 ||
	    (r = b64_decode(s, 32, &b->challenge, &b->challenge_len)) != 0)
		goto out;
	if (b->challenge_len != 32) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	/* "kind" is optional for older kagids; only "shared" matters here */
	s = NULL;
	if ((r = kagi_json_get_string(o, "kind", 0, 32, &s)) != 0)
		goto out;
	b->shared = s != NULL && strcmp(s, "shared") == 0;
	f = json_object_get(o, "factors");
	a = f != NULL ? json_object_get(f, "allowed") : NULL;
	if (!json_is_object(f) || !json_is_array(a) || json_array_size(a) > 8) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	json_array_foreach(a, i, v) {
		if (!json_is_string(v)) {
			r = KAGI_ERR_FORMAT;
			goto out;
		}
		s = json_string_value(v);
		if (strcmp(s, "card") == 0)
			b->allow_card = 1;
		else if (strcmp(s, "fido") == 0)
			b->allow_fido = 1;
		else if (strcmp(s, "password") == 0)
			b->allow_pw = 1;
		/* other factors: not offered by this terminal */
	}
	b->min_categories = 2;
	if ((r = kagi_json_get_int(f, "min_categories", 0, 1, 3,
	    &b->min_categories)) != 0)
		goto out;
	if ((f = json_object_get(o, "fido")) != NULL && !json_is_null(f)) {
		if (!json_is_object(f)) {
			r = KAGI_ERR_FORMAT;
			goto out;
		}
		if ((r = kagi_json_get_string(f, "rp_id", 1, 253, &s)) != 0)
			goto out;
		if ((b->rp_id = strdup(s)) == NULL) {
			r = KAGI_ERR_NOMEM;
			goto out;
		}
		s = "preferred";
		if ((r = kagi_json_get_string(f, "uv", 0, 16, &s)) != 0)
			goto out;
		if (strcmp(s, "required") == 0)
			b->uv = 2;
		else if (strcmp(s, "preferred") == 0)
			b->uv = 1;
		else if (strcmp(s, "discouraged") == 0)
			b->uv = 0;
		else {
			r = KAGI_ERR_FORMAT;
			goto out;
		}
		a = json_object_get(f, "credentials");
		if (a != NULL && (!json_is_array(a) ||
		    json_array_size(a) > FIDO_CREDS_MAX)) {
			r = KAGI_ERR_FORMAT;
			goto out;
		}
		json_array_foreach(a, i, v) {
			if (!json_is_string(v)) {
				r = KAGI_ERR_FORMAT;
				goto out;
			}
			if ((r = b64_decode(json_string_value(v),
			    FIDO_CRED_ID_MAX, &b->creds[b->ncreds],
			    &b->cred_lens[b->ncreds])) != 0)
				goto out;
			b->ncreds++;
		}
	}
	s = NULL;
	if ((r = kagi_json_get_string(o, "banner", 0, CARDD_TEXT_MAX,
	    &s)) != 0)
		goto out;
	if (s != NULL && (b->banner = strdup(s)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	r = 0;
out:
	if (r != 0) {
		kagi_log_err("event=kagid_bad_answer call=login/begin error=%s",
		    kagi_err_name(r));
		begin_clear(b);
		if (r != KAGI_ERR_NOMEM)
			r = KAGI_ERR_FORMAT;
	}
	return r;
}

static int
json_time(const json_t *o, const char *key, int64_t *out)
{
	const json_t *v = json_object_get(o, key);

	*out = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || kagi_time_parse(json_string_value(v),
	    out) != 0)
		return KAGI_ERR_FORMAT;
	return 0;
}

/* kagid's answer to /v1/login/finish into the RESULT. */
static int
finish_parse(const json_t *o, struct cardd_msg *res)
{
	const char *s = NULL;
	const json_t *ll;
	int64_t n = 0;
	int r;

	if ((r = kagi_json_get_string(o, "result", 1, 16, &s)) != 0)
		return KAGI_ERR_FORMAT;
	if (strcmp(s, "ok") == 0)
		res->must_change = 0;
	else if (strcmp(s, "must_change") == 0)
		res->must_change = 1;
	else
		return KAGI_ERR_FORMAT;
	if (kagi_json_get_string(o, "session_id", 1, 32, &s) != 0 ||
	    !is_hex32(s) || (res->session_id = strdup(s)) == NULL)
		return KAGI_ERR_FORMAT;
	if (json_time(o, "session_end", &res->session_end) != 0 ||
	    json_time(o, "last_logout", &res->last_logout) != 0)
		return KAGI_ERR_FORMAT;
	ll = json_object_get(o, "last_login");
	if (ll != NULL && !json_is_null(ll)) {
		if (!json_is_object(ll) ||
		    json_time(ll, "time", &res->last_login) != 0)
			return KAGI_ERR_FORMAT;
		s = NULL;
		if (kagi_json_get_string(ll, "terminal", 0, CARDD_NAME_MAX,
		    &s) != 0)
			return KAGI_ERR_FORMAT;
		if (s != NULL && (res->last_terminal = strdup(s)) == NULL)
			return KAGI_ERR_NOMEM;
	}
	if (kagi_json_get_int(o, "failed_since", 0, 0, UINT32_MAX, &n) != 0)
		return KAGI_ERR_FORMAT;
	res->failed_since = (uint32_t)n;
	return 0;
}

/* The card step: PIN, C_Login, signature; adds "card" to the body. */
static int
step_card(struct conv *cv, const struct cardd_card *card,
    const uint8_t tbs[CARDD_TBS_LEN], json_t *body)
{
	struct cardd *d = cv->p->d;
	char *pin = NULL, *b64 = NULL, *pem;
	uint8_t sig[CARDD_SIG_MAX];
	size_t siglen = sizeof(sig), i;
	const char *pin_state = "";
	json_t *certs = NULL, *c = NULL;
	int r;

	if ((r = ask(cv, CARDD_STYLE_INFO, CARDD_P_CARD_READ, card->label,
	    NULL)) != 0 ||
	    (r = ask(cv, CARDD_STYLE_ECHO_OFF, CARDD_P_PIN, "", &pin)) != 0)
		goto out;
	r = cardd_cards_sign(d->cards, card, pin, tbs, sig, &siglen,
	    &pin_state);
	kagi_secure_strfree(pin);
	pin = NULL;
	if (r == KAGI_ERR_PIN) {
		(void)ask(cv, CARDD_STYLE_ERROR, CARDD_P_WRONG_PIN, pin_state,
		    NULL);
		goto out;
	}
	if (r == KAGI_ERR_LOCKED) {
		(void)ask(cv, CARDD_STYLE_ERROR, CARDD_P_PIN_BLOCKED, "", NULL);
		goto out;
	}
	if (r == KAGI_ERR_UNAVAILABLE) {
		/* the card went away: say so, not "server unreachable" */
		(void)ask(cv, CARDD_STYLE_ERROR, CARDD_P_NO_CARD, "", NULL);
		r = KAGI_ERR_NOT_FOUND;
		goto out;
	}
	if (r != 0)
		goto out;
	if ((certs = json_array()) == NULL || (c = json_object()) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < card->ncerts; i++) {
		if ((pem = der_to_pem(card->certs[i], card->cert_lens[i])) ==
		    NULL || json_array_append_new(certs, json_string(pem)) !=
		    0) {
			free(pem);
			r = KAGI_ERR_NOMEM;
			goto out;
		}
		free(pem);
	}
	if ((b64 = b64_encode(sig, siglen)) == NULL ||
	    json_object_set(c, "certs", certs) != 0 ||
	    json_object_set_new(c, "signature", json_string(b64)) != 0 ||
	    json_object_set(body, "card", c) != 0) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	r = 0;
out:
	kagi_secure_strfree(pin);
	kagi_wipe(sig, sizeof(sig));
	free(b64);
	json_decref(certs);
	json_decref(c);
	return r;
}

static int
step_fido(struct conv *cv, const struct begin *b,
    const uint8_t tbs[CARDD_TBS_LEN], json_t *body, int *uv_done)
{
	struct cardd *d = cv->p->d;
	struct cardd_fido_req req;
	struct cardd_fido_resp resp;
	char *id = NULL, *ad = NULL, *sg = NULL;
	json_t *f = NULL;
	int r;

	*uv_done = 0;
	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	req.rp_id = b->rp_id;
	req.uv = b->uv;
	req.ncreds = b->ncreds;
	req.creds = (uint8_t **)(uintptr_t)b->creds;
	req.cred_lens = (size_t *)(uintptr_t)b->cred_lens;
	memcpy(req.cdh, tbs, CARDD_TBS_LEN);
	pthread_mutex_lock(&d->fido_lock);
	r = cardd_fido_assert(d->fido, &req, fido_ask, cv, &resp);
	pthread_mutex_unlock(&d->fido_lock);
	if (r != 0)
		goto out;
	if ((id = b64_encode(resp.cred_id, resp.cred_id_len)) == NULL ||
	    (ad = b64_encode(resp.authdata, resp.authdata_len)) == NULL ||
	    (sg = b64_encode(resp.sig, resp.sig_len)) == NULL ||
	    (f = json_pack("{s:s, s:s, s:s}", "credential_id", id,
	    "authdata", ad, "signature", sg)) == NULL ||
	    json_object_set(body, "fido", f) != 0) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	*uv_done = resp.uv_done;
	r = 0;
out:
	free(id);
	free(ad);
	free(sg);
	json_decref(f);
	cardd_fido_resp_clear(&resp);
	return r;
}

static int
step_password(struct conv *cv, json_t *body, json_t **pwval)
{
	char *pw = NULL;
	int r;

	if ((r = ask(cv, CARDD_STYLE_ECHO_OFF, CARDD_P_PASSWORD, "",
	    &pw)) != 0)
		return r;
	*pwval = json_string(pw);
	kagi_secure_strfree(pw);
	if (*pwval == NULL || json_object_set(body, "password", *pwval) != 0)
		return KAGI_ERR_NOMEM;
	return 0;
}

/*
 * A member's personal login as typed: 1..MEMBER_MAX bytes, printable
 * ASCII without spaces (kagid checks the rest: the same rules as any
 * login, and that it is a designated member).  Never empty, so nothing
 * odd reaches the log or kagid.
 */
static int
member_valid(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > MEMBER_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

/*
 * Shared IDs (R-ID-7): ask who is using the shared account; that member's
 * own card (or key) is the factor, kagid checks it belongs to the member.
 */
static int
step_member(struct conv *cv, const char *shared, json_t *body)
{
	char *m = NULL;
	int r;

	if ((r = ask(cv, CARDD_STYLE_ECHO_ON, CARDD_P_MEMBER, shared,
	    &m)) != 0)
		return r;
	if (!member_valid(m) || strcmp(m, shared) == 0) {
		kagi_log_warn("event=login_member_invalid user=%s", shared);
		kagi_secure_strfree(m);
		return KAGI_ERR_AUTH;
	}
	kagi_log_info("event=login_member user=%s member=%s", shared, m);
	r = json_object_set_new(body, "member", json_string(m)) == 0 ? 0 :
	    KAGI_ERR_NOMEM;
	kagi_secure_strfree(m);
	return r;
}

static int
do_auth(struct conv *cv, const struct cardd_msg *req)
{
	struct cardd *d = cv->p->d;
	struct begin b;
	struct cardd_card card;
	struct cardd_msg res;
	uint8_t tbs[CARDD_TBS_LEN];
	json_t *body = NULL, *resp = NULL, *pwval = NULL;
	int have_card = 0, used_card = 0, used_fido = 0, used_pw = 0;
	int fido_ok = 0, uv_done = 0, cats = 0, r = KAGI_ERR_INTERNAL;
	char wait_s[16];

	memset(&b, 0, sizeof(b));
	memset(&card, 0, sizeof(card));
	memset(&res, 0, sizeof(res));
	kagi_log_info("event=login_begin user=%s service=%s tty=%s rhost=%s "
	    "uid=%ld", req->user, req->service, req->tty, req->rhost,
	    (long)cv->p->uid);
	if (!peer_may_act_as(cv->p, req->user)) {
		kagi_log_warn("event=peer_denied uid=%ld pid=%ld user=%s",
		    (long)cv->p->uid, (long)cv->p->pid, req->user);
		r = KAGI_ERR_DENIED;
		goto out;
	}
	if ((body = json_pack("{s:s, s:s}", "login", req->user, "service",
	    req->service)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	r = kagi_client_call(d->kagid, "POST", "/v1/login/begin", body, &resp,
	    NULL);
	json_decref(body);
	body = NULL;
	if (r != 0)
		goto out;
	if ((r = begin_parse(resp, &b)) != 0)
		goto out;
	json_decref(resp);
	resp = NULL;
	if ((r = cardd_tbs_hash(b.challenge, b.challenge_len, req->user,
	    tbs)) != 0)
		goto out;
	if (b.banner != NULL && b.banner[0] != '\0' &&
	    (r = ask(cv, CARDD_STYLE_INFO, CARDD_P_TEXT, b.banner, NULL)) != 0)
		goto out;
	if ((body = json_pack("{s:s, s:s}", "challenge_id", b.challenge_id,
	    "login", req->user)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	/* a shared ID: the member first, then the member's own card */
	if (b.shared && (r = step_member(cv, req->user, body)) != 0)
		goto out;

	/* Which factors are here: a card now, a key with a credential. */
	if (b.allow_card && cardd_cards_find(d->cards, &card) == 0)
		have_card = 1;
	fido_ok = b.allow_fido && d->fido != NULL && b.ncreds > 0 &&
	    b.rp_id != NULL && cardd_fido_present(d->fido);
	if (!have_card && !fido_ok && b.allow_card && d->card_wait > 0) {
		snprintf(wait_s, sizeof(wait_s), "%d", d->card_wait);
		if ((r = ask(cv, CARDD_STYLE_INFO, CARDD_P_INSERT_CARD, wait_s,
		    NULL)) != 0)
			goto out;
		r = cardd_cards_wait(d->cards, d->card_wait, &card);
		if (r == 0)
			have_card = 1;
		else if (r != KAGI_ERR_TIMEOUT && r != KAGI_ERR_NOT_FOUND)
			goto out;
		else if (!b.allow_pw) {
			(void)ask(cv, CARDD_STYLE_ERROR, CARDD_P_NO_CARD, "",
			    NULL);
			r = KAGI_ERR_TIMEOUT;
			goto out;
		}
	}
	if (have_card) {
		if ((r = step_card(cv, &card, tbs, body)) != 0)
			goto out;
		used_card = 1;
		cats += 2; /* possession + knowledge (the PIN) */
	}
	if (cats < b.min_categories && fido_ok) {
		if ((r = step_fido(cv, &b, tbs, body, &uv_done)) != 0)
			goto out;
		used_fido = 1;
		cats += uv_done ? 2 : 1;
	}
	if ((cats < b.min_categories || cats == 0) && b.allow_pw) {
		if ((r = step_password(cv, body, &pwval)) != 0)
			goto out;
		used_pw = 1;
	}
	if (!used_card && !used_fido && !used_pw) {
		kagi_log_warn("event=login_no_factor user=%s", req->user);
		(void)ask(cv, CARDD_STYLE_ERROR, CARDD_P_NO_CARD, "", NULL);
		r = KAGI_ERR_AUTH;
		goto out;
	}
	r = kagi_client_call(d->kagid, "POST", "/v1/login/finish", body,
	    &resp, NULL);
	json_wipe_string(pwval);
	if (r != 0) {
		if (used_card && (r == KAGI_ERR_REVOKED || r == KAGI_ERR_SIG ||
		    r == KAGI_ERR_AUTH))
			cardd_cards_forget(d->cards, &card); /* re-read next time */
		goto out;
	}
	if ((r = finish_parse(resp, &res)) != 0) {
		kagi_log_err("event=kagid_bad_answer call=login/finish");
		cardd_msg_clear(&res);
		goto out;
	}
	session_record(d, res.session_id, req->user, res.session_end);
	cardd_watch_login(d, res.session_id, req->user, req->tty,
	    res.session_end, used_card ? &card : NULL);
	if (req->service != NULL && strcmp(req->service, "kagi-counter") == 0)
		cardd_watch_counter(d, res.session_id);
	r = 0;
out:
	kagi_log_info("event=login_result user=%s card=%d fido=%d password=%d "
	    "result=%s", req->user, used_card, used_fido, used_pw,
	    r == 0 ? (res.must_change ? "must_change" : "ok") :
	    kagi_err_name(r));
	json_wipe_string(pwval);
	json_decref(pwval);
	json_decref(body);
	json_decref(resp);
	begin_clear(&b);
	cardd_card_clear(&card);
	kagi_wipe(tbs, sizeof(tbs));
	if (r == 0)
		r = send_result(cv, &res);
	else
		(void)send_code(cv, r);
	cardd_msg_clear(&res);
	return r;
}

/* ---- ACCT, CHPW, SESSION_* ---- */

static int
do_acct(struct conv *cv, const struct cardd_msg *req)
{
	struct cardd *d = cv->p->d;
	struct cardd_msg res;
	int64_t now = kagi_now(), newest = -1;
	size_t i;
	int r;

	memset(&res, 0, sizeof(res));
	if (!peer_may_act_as(cv->p, req->user)) {
		kagi_log_warn("event=peer_denied uid=%ld pid=%ld user=%s",
		    (long)cv->p->uid, (long)cv->p->pid, req->user);
		return send_code(cv, KAGI_ERR_DENIED);
	}
	/* Only a login cardd itself saw can pass the account step. */
	res.code = KAGI_ERR_DENIED;
	pthread_mutex_lock(&d->sess_lock);
	for (i = 0; i < CARDD_SESSIONS_MAX; i++) {
		const struct cardd_session *s = &d->sessions[i];

		if (!s->used || strcmp(s->user, req->user) != 0)
			continue;
		if ((int64_t)i <= newest)
			continue;
		newest = (int64_t)i;
		res.code = s->end != 0 && s->end <= now ? KAGI_ERR_EXPIRED : 0;
		res.session_end = s->end;
	}
	pthread_mutex_unlock(&d->sess_lock);
	r = send_result(cv, &res);
	return r;
}

static int
do_chpw(struct conv *cv, const struct cardd_msg *req)
{
	struct cardd *d = cv->p->d;
	struct cardd_msg res;
	json_t *body = NULL, *resp = NULL, *rules, *v;
	const char *rule, *msg;
	size_t i;
	int r;

	memset(&res, 0, sizeof(res));
	if (!peer_may_act_as(cv->p, req->user)) {
		kagi_log_warn("event=peer_denied uid=%ld pid=%ld user=%s",
		    (long)cv->p->uid, (long)cv->p->pid, req->user);
		return send_code(cv, KAGI_ERR_DENIED);
	}
	if ((body = json_pack("{s:s, s:s, s:s}", "login", req->user, "old",
	    req->old_pw, "new", req->new_pw)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	r = kagi_client_call(d->kagid, "POST", "/v1/login/password", body,
	    &resp, NULL);
	json_wipe_string(json_object_get(body, "old"));
	json_wipe_string(json_object_get(body, "new"));
	kagi_log_info("event=password_change user=%s result=%s", req->user,
	    r == 0 ? "ok" : kagi_err_name(r));
	if (r == KAGI_ERR_INVALID && resp != NULL &&
	    json_is_array(rules = json_object_get(resp, "rules"))) {
		size_t n = json_array_size(rules);

		if (n > CARDD_RULES_MAX)
			n = CARDD_RULES_MAX;
		if (n > 0 && (res.rules = calloc(n, sizeof(*res.rules))) ==
		    NULL) {
			r = KAGI_ERR_NOMEM;
			goto out;
		}
		json_array_foreach(rules, i, v) {
			if (res.nrules >= n)
				break;
			rule = msg = NULL;
			if (!json_is_object(v) ||
			    kagi_json_get_string(v, "rule", 1, 64, &rule) != 0)
				continue;
			if (kagi_json_get_string(v, "message", 0,
			    CARDD_TEXT_MAX, &msg) != 0)
				msg = NULL;
			res.rules[res.nrules].rule = strdup(rule);
			res.rules[res.nrules].message = strdup(msg != NULL ?
			    msg : "");
			if (res.rules[res.nrules].rule == NULL ||
			    res.rules[res.nrules].message == NULL) {
				free(res.rules[res.nrules].rule);
				free(res.rules[res.nrules].message);
				res.rules[res.nrules].rule = NULL;
				res.rules[res.nrules].message = NULL;
				r = KAGI_ERR_NOMEM;
				goto out;
			}
			res.nrules++;
		}
	}
out:
	json_decref(body);
	json_decref(resp);
	res.code = r > 0 || r < KAGI_ERR_MIN ? KAGI_ERR_INTERNAL : r;
	r = send_result(cv, &res);
	cardd_msg_clear(&res);
	return r;
}

static int
do_session(struct conv *cv, const struct cardd_msg *req)
{
	struct cardd *d = cv->p->d;
	json_t *body = NULL, *resp = NULL;
	char owner[CARDD_NAME_MAX + 1];
	int r;

	if (!peer_may_act_as(cv->p, req->user)) {
		kagi_log_warn("event=peer_denied uid=%ld pid=%ld user=%s",
		    (long)cv->p->uid, (long)cv->p->pid, req->user);
		return send_code(cv, KAGI_ERR_DENIED);
	}
	if (!is_hex32(req->session_id)) {
		/* No kagi session (e.g. another module authenticated). */
		return send_code(cv, KAGI_ERR_NOT_FOUND);
	}
	if (session_user(d, req->session_id, owner, sizeof(owner)) &&
	    strcmp(owner, req->user) != 0) {
		kagi_log_warn("event=session_not_owner user=%s", req->user);
		return send_code(cv, KAGI_ERR_DENIED);
	}
	if (req->type == CARDD_MSG_SESSION_OPEN) {
		cardd_watch_session_open(d, req->session_id,
		    req->logind != NULL ? req->logind : "");
		kagi_log_info("event=session_open user=%s service=%s tty=%s "
		    "logind=%s", req->user, req->service, req->tty,
		    req->logind != NULL && req->logind[0] ? req->logind : "-");
		return send_code(cv, 0);
	}
	if ((body = json_pack("{s:s}", "session_id", req->session_id)) ==
	    NULL)
		return send_code(cv, KAGI_ERR_NOMEM);
	r = kagi_client_call(d->kagid, "POST", "/v1/login/close", body, &resp,
	    NULL);
	json_decref(body);
	json_decref(resp);
	if (r == 0)
		session_forget(d, req->session_id);
	kagi_log_info("event=session_close user=%s service=%s result=%s",
	    req->user, req->service, r == 0 ? "ok" : kagi_err_name(r));
	return send_code(cv, r);
}

void
cardd_serve(struct cardd_peer *p)
{
	struct conv cv;
	struct cardd_msg req;
	int r;

	memset(&cv, 0, sizeof(cv));
	cv.p = p;
	r = cardd_msg_recv(p->fd, &req, CARDD_REQUEST_TIMEOUT_MS);
	if (r == 0 && (!cardd_msg_from_client(req.type) ||
	    req.type == CARDD_MSG_ANSWER))
		r = KAGI_ERR_FORMAT;
	if (r != 0) {
		kagi_log_warn("event=cardd_proto_error pid=%ld uid=%ld "
		    "error=%s", (long)p->pid, (long)p->uid, kagi_err_name(r));
		if (r != KAGI_ERR_UNAVAILABLE)
			(void)send_code(&cv, r); /* best effort, then close */
		cardd_msg_clear(&req);
		return;
	}
	switch (req.type) {
	case CARDD_MSG_AUTH:
		(void)do_auth(&cv, &req);
		break;
	case CARDD_MSG_ACCT:
		(void)do_acct(&cv, &req);
		break;
	case CARDD_MSG_CHPW:
		(void)do_chpw(&cv, &req);
		break;
	case CARDD_MSG_SESSION_OPEN:
	case CARDD_MSG_SESSION_CLOSE:
		(void)do_session(&cv, &req);
		break;
	default:
		(void)send_code(&cv, KAGI_ERR_FORMAT);
		break;
	}
	cardd_msg_clear(&req);
}
