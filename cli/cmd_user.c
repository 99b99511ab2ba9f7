/*
 * kagi user ...: accounts (docs/ACCOUNTS.md, docs/API.md).  Also the small
 * helpers the ID verbs share (cli_id_*, declared in verbs.h).
 *
 * The temporary password of `user add` and `user reset-password` is printed
 * once, here, and never again (R-PW-10); kagid keeps only its hash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "kagi/client.h"
#include "kagi/conf.h"
#include "kagi/err.h"
#include "kagi/i18n.h"
#include "kagi/kbuf.h"
#include "kagi/util.h"

#include "verbs.h"

/* ---- shared helpers ---- */

void
cli_id_seg(const char *s, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; s != NULL && *s != '\0' && o + 4 < len; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '@') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}

int
cli_id_error(struct cli *cli, const struct kagi_client *c, int err,
    const json_t *resp)
{
	const char *msg = NULL, *action = NULL;
	const json_t *needs, *v;
	char list[256];
	size_t i, off = 0;

	if (err == KAGI_ERR_UNAVAILABLE || err == KAGI_ERR_TIMEOUT ||
	    !json_is_object(resp))
		return cli_api_error(cli, c, err, resp);
	msg = json_string_value(json_object_get(resp, "message"));
	action = json_string_value(json_object_get(resp, "action"));
	needs = json_object_get(resp, "needs");
	if (err == KAGI_ERR_DENIED && action != NULL && json_is_array(needs)) {
		list[0] = '\0';
		json_array_foreach(needs, i, v) {
			if (json_is_string(v) && off < sizeof(list))
				off += (size_t)snprintf(list + off,
				    sizeof(list) - off, "%s%s", off ? ", " : "",
				    json_string_value(v));
		}
		return cli_error(cli, err, resp, _("not allowed: '%s' needs "
		    "one of the roles: %s"), action, list[0] ? list :
		    _("(local administrator only)"));
	}
	if (msg != NULL && msg[0] != '\0' && strcmp(msg, kagi_strerror(err)))
		return cli_error(cli, err, resp, "%s: %s", kagi_strerror(err),
		    msg);
	return cli_api_error(cli, c, err, resp);
}

int
cli_id_call(struct cli *cli, const char *method, const char *path,
    const json_t *body, json_t **resp)
{
	struct kagi_conf *conf = NULL;
	struct kagi_client *client = NULL;
	long http = 0;
	int code, r;

	*resp = NULL;
	if ((code = cli_connect(cli, &conf, &client)) != 0)
		return code;
	if ((r = kagi_client_call(client, method, path, body, resp,
	    &http)) != 0) {
		code = cli_id_error(cli, client, r, *resp);
		json_decref(*resp);
		*resp = NULL;
	}
	kagi_client_free(client);
	kagi_conf_free(conf);
	return code;
}

const char *
cli_id_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

void
cli_id_time(const json_t *o, const char *key, char *buf, size_t len)
{
	const json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v) || cli_format_time(v, buf, len) != 0)
		snprintf(buf, len, "-");
}

/* One operand and no more. */
int
cli_id_one_arg(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv, int first, const char *what)
{
	if (first >= argc)
		return cli_usage_error(cli, v, _("'%s' needs %s"), v->name,
		    what);
	if (first + 1 < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first + 1]);
	return CLI_DONE;
}

/* ---- printing ---- */

static void
print_user(const json_t *u)
{
	char t[64];
	const json_t *a, *v;
	size_t i;

	printf(_("Account %s\n"), cli_id_str(u, "login"));
	printf("  %s: %s\n", _("kind"), cli_id_str(u, "kind"));
	printf("  %s: %s\n", _("state"), cli_id_str(u, "state"));
	if (json_is_string(json_object_get(u, "person")))
		printf("  %s: %s\n", _("person"), cli_id_str(u, "person"));
	a = json_object_get(u, "roles");
	if (json_array_size(a) > 0) {
		printf("  %s:", _("roles"));
		json_array_foreach(a, i, v)
			printf("%s%s", i ? ", " : " ", json_string_value(v));
		printf("\n");
	}
	if (json_is_true(json_object_get(u, "temporary_password"))) {
		cli_id_time(u, "temporary_password_expires", t, sizeof(t));
		printf("  %s: %s\n", _("temporary password expires"), t);
	}
	cli_id_time(u, "password_changed", t, sizeof(t));
	printf("  %s: %s\n", _("password changed"), t);
	if (json_is_true(json_object_get(u, "password_rotate")))
		printf("  %s\n", _("the shared password must be changed "
		    "(a member left)"));
	if (json_is_true(json_object_get(u, "locked"))) {
		cli_id_time(u, "locked_until", t, sizeof(t));
		printf("  %s: %s\n", _("locked until"), strcmp(t, "-") ? t :
		    _("an operator unlocks it"));
	}
	printf("  %s: %lld\n", _("failed logins since the last login"),
	    (long long)json_integer_value(json_object_get(u,
	    "failed_since_login")));
	cli_id_time(u, "last_login", t, sizeof(t));
	printf("  %s: %s", _("last login"), t);
	if (json_is_string(json_object_get(u, "last_login_terminal")))
		printf(" (%s)", cli_id_str(u, "last_login_terminal"));
	printf("\n");
	cli_id_time(u, "end", t, sizeof(t));
	if (strcmp(t, "-") != 0)
		printf("  %s: %s\n", _("end date"), t);
	a = json_object_get(u, "members");
	if (json_is_array(a)) {
		printf("  %s:", _("members"));
		if (json_array_size(a) == 0)
			printf(" %s", _("(none)"));
		json_array_foreach(a, i, v)
			printf("%s%s", i ? ", " : " ", cli_id_str(v, "member"));
		printf("\n");
	}
	a = json_object_get(u, "member_of");
	if (json_array_size(a) > 0) {
		printf("  %s:", _("member of"));
		json_array_foreach(a, i, v)
			printf("%s%s", i ? ", " : " ", json_string_value(v));
		printf("\n");
	}
}

/* The temporary password, once (R-PW-10). */
static void
print_temp(const json_t *resp)
{
	char t[64];

	cli_id_time(resp, "temporary_password_expires", t, sizeof(t));
	printf(_("Temporary password: %s\n"), cli_id_str(resp,
	    "temporary_password"));
	printf(_("  It is shown only this once and cannot be displayed "
	    "again.\n"
	    "  Hand it to the person directly (never by e-mail or a note on "
	    "the terminal).\n"
	    "  It must be changed at the first login and expires at %s.\n"),
	    t);
}

/* ---- verbs ---- */

static int
user_add(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	const char *kind = NULL, *person = NULL, *end = NULL;
	const struct cli_opt opts[] = {
		{ "kind", 0, required_argument, &kind, NULL },
		{ "person", 0, required_argument, &person, NULL },
		{ "end", 0, required_argument, &end, NULL },
		{ NULL, 0, 0, NULL, NULL },
	};
	json_t *body = NULL, *resp = NULL;
	int first, code;

	if ((code = cli_parse(cli, v, argc, argv, opts, &first)) != CLI_DONE ||
	    (code = cli_id_one_arg(cli, v, argc, argv, first,
	    _("a login name"))) != CLI_DONE)
		return code;
	if (kind == NULL)
		return cli_usage_error(cli, v, _("--kind is required "
		    "(personal, shared, privileged, development, contractor, "
		    "service)"));
	body = json_pack("{s:s, s:s, s:s?, s:s?}", "login", argv[first],
	    "kind", kind, "person", person, "end", end);
	if (body == NULL)
		return cli_error(cli, KAGI_ERR_NOMEM, NULL, "%s",
		    kagi_strerror(KAGI_ERR_NOMEM));
	code = cli_id_call(cli, "POST", "/v1/users", body, &resp);
	json_decref(body);
	if (code != 0)
		return code;
	if (cli->json) {
		code = cli_print_json(cli, resp);
	} else {
		const json_t *u = json_object_get(resp, "user");
		printf(_("Created the account %s (%s).\n"), cli_id_str(u,
		    "login"), cli_id_str(u, "kind"));
		if (json_is_string(json_object_get(resp, "temporary_password")))
			print_temp(resp);
		else
			printf(_("A service account has no password.\n"));
		code = fflush(stdout) == 0 ? 0 :
		    kagi_err_exit_code(KAGI_ERR_SYSTEM);
	}
	json_decref(resp);
	return code;
}

static int
user_show(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	json_t *resp = NULL;
	char seg[128], path[200];
	int first, code;

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE ||
	    (code = cli_id_one_arg(cli, v, argc, argv, first,
	    _("a login name"))) != CLI_DONE)
		return code;
	cli_id_seg(argv[first], seg, sizeof(seg));
	snprintf(path, sizeof(path), "/v1/users/%s", seg);
	if ((code = cli_id_call(cli, "GET", path, NULL, &resp)) != 0)
		return code;
	if (cli->json)
		code = cli_print_json(cli, resp);
	else
		print_user(json_object_get(resp, "user"));
	json_decref(resp);
	return code;
}

static int
user_list(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	json_t *resp = NULL;
	const json_t *a, *u;
	char t[64], flags[160];
	size_t i;
	int first, code;

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE)
		return code;
	if (first < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first]);
	if ((code = cli_id_call(cli, "GET", "/v1/users", NULL, &resp)) != 0)
		return code;
	if (cli->json) {
		code = cli_print_json(cli, resp);
		json_decref(resp);
		return code;
	}
	a = json_object_get(resp, "users");
	if (json_array_size(a) == 0)
		printf(_("No accounts.\n"));
	else
		printf("%-20s %-12s %-10s %-12s %-18s %s\n", _("LOGIN"),
		    _("KIND"), _("STATE"), _("PERSON"), _("FLAGS"),
		    _("LAST LOGIN"));
	json_array_foreach(a, i, u) {
		snprintf(flags, sizeof(flags), "%s%s%s",
		    json_is_true(json_object_get(u, "temporary_password")) ?
		    _("temp ") : "",
		    json_is_true(json_object_get(u, "locked")) ?
		    _("locked ") : "",
		    json_is_true(json_object_get(u, "password_rotate")) ?
		    _("rotate ") : "");
		cli_id_time(u, "last_login", t, sizeof(t));
		printf("%-20s %-12s %-10s %-12s %-18s %s\n",
		    cli_id_str(u, "login"), cli_id_str(u, "kind"),
		    cli_id_str(u, "state"), json_is_string(json_object_get(u,
		    "person")) ? cli_id_str(u, "person") : "-",
		    flags[0] ? flags : "-", t);
	}
	json_decref(resp);
	return 0;
}

/* disable, enable, delete, unlock, reset-password: POST/DELETE on one login */
static int
user_action(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	json_t *resp = NULL;
	const json_t *u;
	char seg[128], path[200];
	const char *method = "POST";
	int first, code;

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE ||
	    (code = cli_id_one_arg(cli, v, argc, argv, first,
	    _("a login name"))) != CLI_DONE)
		return code;
	cli_id_seg(argv[first], seg, sizeof(seg));
	if (strcmp(v->name, "delete") == 0) {
		method = "DELETE";
		snprintf(path, sizeof(path), "/v1/users/%s", seg);
	} else {
		snprintf(path, sizeof(path), "/v1/users/%s/%s", v->name, seg);
	}
	if ((code = cli_id_call(cli, method, path, NULL, &resp)) != 0)
		return code;
	if (cli->json) {
		code = cli_print_json(cli, resp);
		json_decref(resp);
		return code;
	}
	u = json_object_get(resp, "user");
	if (strcmp(v->name, "disable") == 0)
		printf(_("Disabled the account %s.\n"), cli_id_str(u, "login"));
	else if (strcmp(v->name, "enable") == 0)
		printf(_("Enabled the account %s.\n"), cli_id_str(u, "login"));
	else if (strcmp(v->name, "delete") == 0)
		printf(_("Deleted the account %s (its record and history are "
		    "kept).\n"), cli_id_str(u, "login"));
	else if (strcmp(v->name, "unlock") == 0)
		printf(_("Unlocked the account %s.\n"), cli_id_str(u, "login"));
	else {
		printf(_("Reset the password of %s.\n"), cli_id_str(u,
		    "login"));
		print_temp(resp);
	}
	json_decref(resp);
	return fflush(stdout) == 0 ? 0 : kagi_err_exit_code(KAGI_ERR_SYSTEM);
}

static int
member_add_remove(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	json_t *resp = NULL, *body = NULL;
	char seg[128], mseg[128], path[300];
	int first, code, add = strcmp(v->name, "add") == 0;

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE)
		return code;
	if (first + 2 != argc)
		return cli_usage_error(cli, v, _("give the shared account and "
		    "the member's login"));
	cli_id_seg(argv[first], seg, sizeof(seg));
	cli_id_seg(argv[first + 1], mseg, sizeof(mseg));
	if (add) {
		snprintf(path, sizeof(path), "/v1/members/%s", seg);
		if ((body = json_pack("{s:s}", "member", argv[first + 1])) ==
		    NULL)
			return cli_error(cli, KAGI_ERR_NOMEM, NULL, "%s",
			    kagi_strerror(KAGI_ERR_NOMEM));
		code = cli_id_call(cli, "POST", path, body, &resp);
	} else {
		snprintf(path, sizeof(path), "/v1/members/%s?member=%s", seg,
		    mseg);
		code = cli_id_call(cli, "DELETE", path, NULL, &resp);
	}
	json_decref(body);
	if (code != 0)
		return code;
	if (cli->json) {
		code = cli_print_json(cli, resp);
	} else if (add) {
		printf(_("%s is now a member of the shared account %s.\n"),
		    argv[first + 1], argv[first]);
	} else {
		printf(_("%s is no longer a member of the shared account %s.\n"
		    "The shared password must now be changed (R-PW-9): reset "
		    "it with\n  kagi user reset-password %s\n"),
		    argv[first + 1], argv[first], argv[first]);
	}
	json_decref(resp);
	return code;
}

static int
member_list(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	json_t *resp = NULL;
	const json_t *a, *m;
	char seg[128], path[200], t[64];
	size_t i;
	int first, code;

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE ||
	    (code = cli_id_one_arg(cli, v, argc, argv, first,
	    _("a shared account"))) != CLI_DONE)
		return code;
	cli_id_seg(argv[first], seg, sizeof(seg));
	snprintf(path, sizeof(path), "/v1/members/%s", seg);
	if ((code = cli_id_call(cli, "GET", path, NULL, &resp)) != 0)
		return code;
	if (cli->json) {
		code = cli_print_json(cli, resp);
		json_decref(resp);
		return code;
	}
	a = json_object_get(resp, "members");
	printf(_("Members of %s:\n"), argv[first]);
	if (json_array_size(a) == 0)
		printf("  %s\n", _("(none)"));
	json_array_foreach(a, i, m) {
		cli_id_time(m, "added", t, sizeof(t));
		printf(_("  %s (added %s)\n"), cli_id_str(m, "member"), t);
	}
	if (json_is_true(json_object_get(resp, "password_rotate")))
		printf(_("The shared password must be changed: a member "
		    "left.\n"));
	json_decref(resp);
	return 0;
}

static int
member_dispatch(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	const struct cli_verb *s;
	int first, code;

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE)
		return code;
	if (first >= argc)
		return cli_usage_error(cli, v, _("'%s' needs a subcommand"),
		    v->name);
	for (s = v->sub; s->name != NULL; s++)
		if (strcmp(s->name, argv[first]) == 0)
			break;
	if (s->name == NULL)
		return cli_usage_error(cli, v, _("unknown subcommand '%s %s'"),
		    v->name, argv[first]);
	cli->parent = strcmp(v->name, "fido") == 0 ? "user fido" :
	    "user member";
	return s->run(cli, s, argc - first, argv + first);
}

/* ---- kagi user fido add | list | remove ---- */

#define FIDO_REG_FILE_MAX (64u * 1024u) /* a fido2-cred -M output */
#define FIDO_BLOB_MAX (16u * 1024u)     /* one decoded line */
#define FIDO_REG_LINES 8

/* One line of fido2-cred's output: strict standard base64 (padded). */
static int
fido_b64_decode(const char *s, uint8_t **out, size_t *outlen)
{
	size_t n = strlen(s), pad = 0, i;
	uint8_t *buf;
	int got;

	*out = NULL;
	*outlen = 0;
	if (n == 0 || n % 4 != 0 || n / 4 * 3 > FIDO_BLOB_MAX)
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
	if (got < 0 || (size_t)got < pad || (size_t)got == pad) {
		free(buf);
		return KAGI_ERR_FORMAT;
	}
	*out = buf;
	*outlen = (size_t)got - pad;
	return 0;
}

static char *
fido_b64_encode(const uint8_t *p, size_t n)
{
	char *s;

	if (n > FIDO_BLOB_MAX || (s = malloc(((n + 2) / 3) * 4 + 1)) == NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	return s;
}

/* A CBOR head: major type and argument (RFC 8949 3.1). */
static int
cbor_head(struct kbuf *b, uint8_t major, uint64_t n)
{
	uint8_t m = (uint8_t)(major << 5);
	int r;

	if (n < 24)
		return kbuf_put_u8(b, (uint8_t)(m | n));
	if (n <= 0xff) {
		if ((r = kbuf_put_u8(b, (uint8_t)(m | 24))) != 0)
			return r;
		return kbuf_put_u8(b, (uint8_t)n);
	}
	if (n <= 0xffff) {
		if ((r = kbuf_put_u8(b, (uint8_t)(m | 25))) != 0)
			return r;
		return kbuf_put_u16(b, (uint16_t)n);
	}
	if ((r = kbuf_put_u8(b, (uint8_t)(m | 26))) != 0)
		return r;
	return kbuf_put_u32(b, (uint32_t)n);
}

static int
cbor_text(struct kbuf *b, const char *s)
{
	int r;

	if ((r = cbor_head(b, 3, strlen(s))) != 0)
		return r;
	return kbuf_put(b, s, strlen(s));
}

static int
cbor_bytes(struct kbuf *b, const uint8_t *p, size_t n)
{
	int r;

	if ((r = cbor_head(b, 2, n)) != 0)
		return r;
	return kbuf_put(b, p, n);
}

/*
 * The attestation statement kagid takes (docs/API.md): the CBOR map
 * fido2-cred took apart, rebuilt in CTAP2 canonical order.  packed:
 * {"alg", "sig", "x5c"?}; fido-u2f: {"sig", "x5c"}; none: {}.
 */
static int
fido_attstmt(const char *fmt, int64_t alg, const uint8_t *sig, size_t siglen,
    const uint8_t *x5c, size_t x5clen, struct kbuf *b)
{
	int packed = strcmp(fmt, "packed") == 0, r;

	if (strcmp(fmt, "none") == 0)
		return cbor_head(b, 5, 0);
	if (!packed && strcmp(fmt, "fido-u2f") != 0)
		return KAGI_ERR_FORMAT;
	if (!packed && x5c == NULL)
		return KAGI_ERR_FORMAT;
	if ((r = cbor_head(b, 5, (packed ? 2u : 1u) + (x5c != NULL))) != 0)
		return r;
	if (packed && ((r = cbor_text(b, "alg")) != 0 ||
	    (r = cbor_head(b, 1, (uint64_t)(-1 - alg))) != 0))
		return r;
	if ((r = cbor_text(b, "sig")) != 0 ||
	    (r = cbor_bytes(b, sig, siglen)) != 0)
		return r;
	if (x5c != NULL && ((r = cbor_text(b, "x5c")) != 0 ||
	    (r = cbor_head(b, 4, 1)) != 0 ||
	    (r = cbor_bytes(b, x5c, x5clen)) != 0))
		return r;
	return 0;
}

/* Read a whole small file ("-": stdin), NUL-terminated. */
static int
fido_read_file(const char *path, char **out)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char *buf = NULL;
	size_t n;
	int r = KAGI_ERR_SYSTEM;

	*out = NULL;
	if (f == NULL)
		return KAGI_ERR_NOT_FOUND;
	if ((buf = malloc(FIDO_REG_FILE_MAX + 1)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	n = fread(buf, 1, FIDO_REG_FILE_MAX + 1, f);
	if (ferror(f))
		goto out;
	if (n > FIDO_REG_FILE_MAX) {
		r = KAGI_ERR_LIMIT;
		goto out;
	}
	if (memchr(buf, '\0', n) != NULL) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	buf = NULL;
	r = 0;
out:
	free(buf);
	if (f != stdin)
		fclose(f);
	return r;
}

/*
 * fido2-cred -M output (fido2-cred(1) "OUTPUT FORMAT"), one item a line:
 * client data hash, rp id, format, authenticator data, credential id,
 * attestation signature, attestation certificate (if present),
 * largeBlobKey (if present).  Lines are split in place.
 */
static int
fido_split_lines(char *text, char *lines[FIDO_REG_LINES], size_t *nlines,
    size_t *bad_line)
{
	char *p = text, *nl;
	size_t n = 0;

	*nlines = 0;
	*bad_line = 0;
	while (*p != '\0') {
		if (n == FIDO_REG_LINES) {
			*bad_line = n + 1;
			return KAGI_ERR_TRAILING;
		}
		nl = strchr(p, '\n');
		if (nl != NULL)
			*nl = '\0';
		if (nl != NULL && nl > p && nl[-1] == '\r')
			nl[-1] = '\0';
		lines[n++] = p;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	*nlines = n;
	return 0;
}

static int
fido_alg(const char *type, int64_t *alg)
{
	if (strcmp(type, "es256") == 0)
		*alg = -7;
	else if (strcmp(type, "rs256") == 0)
		*alg = -257;
	else if (strcmp(type, "eddsa") == 0)
		*alg = -8;
	else
		return KAGI_ERR_INVALID;
	return 0;
}

static void
print_fido(const json_t *c)
{
	char t[64];

	cli_id_time(c, "created", t, sizeof(t));
	printf(_("  key %s\n"), cli_id_str(c, "key"));
	printf("    %s: %s\n", _("credential id"), cli_id_str(c,
	    "credential_id"));
	printf("    %s: %s\n", _("authenticator model (AAGUID)"),
	    cli_id_str(c, "aaguid"));
	printf("    %s: %s\n", _("state"), cli_id_str(c, "state"));
	printf("    %s: %lld\n", _("signature counter"),
	    (long long)json_integer_value(json_object_get(c, "counter")));
	printf("    %s: %s\n", _("registered"), t);
}

static int
fido_add(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	const char *file = NULL, *cdh_opt = NULL, *type = "es256";
	const struct cli_opt opts[] = {
		{ "registration", 0, required_argument, &file, NULL },
		{ "client-data-hash", 0, required_argument, &cdh_opt, NULL },
		{ "type", 0, required_argument, &type, NULL },
		{ NULL, 0, 0, NULL, NULL },
	};
	char *text = NULL, *lines[FIDO_REG_LINES], *ad64 = NULL, *att64 = NULL;
	uint8_t *blob[FIDO_REG_LINES], *ocdh = NULL;
	size_t blen[FIDO_REG_LINES], nlines = 0, bad = 0, i, ocdh_len = 0;
	struct kbuf *att = NULL;
	const uint8_t *x5c = NULL;
	size_t x5c_len = 0;
	int64_t alg = -7;
	json_t *body = NULL, *resp = NULL;
	char seg[128], path[200];
	int first, code, r;

	memset(blob, 0, sizeof(blob));
	memset(blen, 0, sizeof(blen));
	if ((code = cli_parse(cli, v, argc, argv, opts, &first)) != CLI_DONE ||
	    (code = cli_id_one_arg(cli, v, argc, argv, first,
	    _("a login name"))) != CLI_DONE)
		return code;
	if (file == NULL)
		return cli_usage_error(cli, v, _("--registration FILE is "
		    "required (the output of fido2-cred -M)"));
	if (fido_alg(type, &alg) != 0)
		return cli_usage_error(cli, v, _("unknown credential type "
		    "'%s' (es256, rs256 or eddsa)"), type);
	if ((r = fido_read_file(file, &text)) != 0) {
		code = cli_error(cli, r, NULL, _("cannot read the registration "
		    "%s: %s"), file, kagi_strerror(r));
		goto out;
	}
	if ((r = fido_split_lines(text, lines, &nlines, &bad)) != 0 ||
	    nlines < 6) {
		code = cli_error(cli, KAGI_ERR_FORMAT, NULL, _("%s is not the "
		    "output of fido2-cred -M: it has %zu lines, expected 6 to "
		    "8"), file, r != 0 ? bad : nlines);
		goto out;
	}
	/* lines 1, 4..8 are base64; 2 (rp id) and 3 (format) are text */
	for (i = 0; i < nlines; i++) {
		if (i == 1 || i == 2)
			continue;
		if (fido_b64_decode(lines[i], &blob[i], &blen[i]) != 0) {
			code = cli_error(cli, KAGI_ERR_FORMAT, NULL, _("%s, "
			    "line %zu: not base64"), file, i + 1);
			goto out;
		}
	}
	if (blen[0] != 32) {
		code = cli_error(cli, KAGI_ERR_FORMAT, NULL, _("%s, line 1: "
		    "the client data hash must be 32 bytes"), file);
		goto out;
	}
	if (lines[1][0] == '\0' || lines[2][0] == '\0') {
		code = cli_error(cli, KAGI_ERR_FORMAT, NULL, _("%s: the "
		    "relying party id and the format must not be empty"),
		    file);
		goto out;
	}
	if (cdh_opt != NULL) {
		/* the hash the operator gave fido2-cred must be the one in
		 * its output: a registration for another request is refused */
		if (fido_b64_decode(cdh_opt, &ocdh, &ocdh_len) != 0 ||
		    ocdh_len != 32) {
			code = cli_usage_error(cli, v, _("--client-data-hash "
			    "must be 32 bytes in base64"));
			goto out;
		}
		if (memcmp(ocdh, blob[0], 32) != 0) {
			code = cli_error(cli, KAGI_ERR_INVALID, NULL, _("%s was "
			    "made for another client data hash than the one "
			    "given"), file);
			goto out;
		}
	}
	/* line 7: an attestation certificate (DER SEQUENCE); a 32-byte
	 * blob there is the largeBlobKey of a self-attested credential */
	if (nlines >= 7 && blen[6] > 32 && blob[6][0] == 0x30) {
		x5c = blob[6];
		x5c_len = blen[6];
	} else if (nlines == 8 || (nlines == 7 && blen[6] != 32)) {
		code = cli_error(cli, KAGI_ERR_FORMAT, NULL, _("%s, line 7: "
		    "not an attestation certificate"), file);
		goto out;
	}
	if ((att = kbuf_new(FIDO_BLOB_MAX)) == NULL) {
		code = cli_error(cli, KAGI_ERR_NOMEM, NULL, "%s",
		    kagi_strerror(KAGI_ERR_NOMEM));
		goto out;
	}
	if ((r = fido_attstmt(lines[2], alg, blob[5], blen[5], x5c, x5c_len,
	    att)) != 0) {
		code = cli_error(cli, r, NULL, _("%s: attestation format '%s' "
		    "is not supported (packed, fido-u2f or none)"), file,
		    lines[2]);
		goto out;
	}
	if ((ad64 = fido_b64_encode(blob[3], blen[3])) == NULL ||
	    (att64 = fido_b64_encode(kbuf_ptr(att), kbuf_len(att))) == NULL ||
	    (body = json_pack("{s:s, s:s, s:s, s:s}", "client_data_hash",
	    lines[0], "fmt", lines[2], "authdata", ad64, "attstmt",
	    att64)) == NULL) {
		code = cli_error(cli, KAGI_ERR_NOMEM, NULL, "%s",
		    kagi_strerror(KAGI_ERR_NOMEM));
		goto out;
	}
	cli_id_seg(argv[first], seg, sizeof(seg));
	snprintf(path, sizeof(path), "/v1/users/fido/%s", seg);
	if ((code = cli_id_call(cli, "POST", path, body, &resp)) != 0)
		goto out;
	if (cli->json) {
		code = cli_print_json(cli, resp);
	} else {
		printf(_("Registered a security key for %s (relying party "
		    "%s).\n"), argv[first], lines[1]);
		print_fido(resp);
		code = fflush(stdout) == 0 ? 0 :
		    kagi_err_exit_code(KAGI_ERR_SYSTEM);
	}
out:
	for (i = 0; i < FIDO_REG_LINES; i++)
		free(blob[i]);
	free(ocdh);
	free(text);
	free(ad64);
	free(att64);
	kbuf_free(att);
	json_decref(body);
	json_decref(resp);
	return code;
}

static int
fido_list(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	json_t *resp = NULL;
	const json_t *a, *c;
	char seg[128], path[200];
	size_t i;
	int first, code;

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE ||
	    (code = cli_id_one_arg(cli, v, argc, argv, first,
	    _("a login name"))) != CLI_DONE)
		return code;
	cli_id_seg(argv[first], seg, sizeof(seg));
	snprintf(path, sizeof(path), "/v1/users/fido/%s", seg);
	if ((code = cli_id_call(cli, "GET", path, NULL, &resp)) != 0)
		return code;
	if (cli->json) {
		code = cli_print_json(cli, resp);
		json_decref(resp);
		return code;
	}
	a = json_object_get(resp, "credentials");
	if (json_array_size(a) == 0)
		printf(_("%s has no security keys.\n"), argv[first]);
	else
		printf(_("Security keys of %s:\n"), argv[first]);
	json_array_foreach(a, i, c)
		print_fido(c);
	json_decref(resp);
	return fflush(stdout) == 0 ? 0 : kagi_err_exit_code(KAGI_ERR_SYSTEM);
}

/* KEY: the 64-hex key from `list`, or the credential id in base64. */
static int
fido_key_arg(const char *arg, char key[65])
{
	uint8_t *id = NULL, h[32];
	size_t n = strlen(arg), i, idlen = 0;
	int hex = n == 64;

	for (i = 0; hex && i < n; i++)
		if (!((arg[i] >= '0' && arg[i] <= '9') ||
		    (arg[i] >= 'a' && arg[i] <= 'f') ||
		    (arg[i] >= 'A' && arg[i] <= 'F')))
			hex = 0;
	if (hex) {
		for (i = 0; i < n; i++)
			key[i] = (char)(arg[i] >= 'A' && arg[i] <= 'F' ?
			    arg[i] - 'A' + 'a' : arg[i]);
		key[n] = '\0';
		return 0;
	}
	if (fido_b64_decode(arg, &id, &idlen) != 0)
		return KAGI_ERR_INVALID;
	if (EVP_Digest(id, idlen, h, NULL, EVP_sha256(), NULL) != 1) {
		free(id);
		return KAGI_ERR_INTERNAL;
	}
	free(id);
	kagi_hex_encode(h, sizeof(h), key);
	return 0;
}

static int
fido_remove(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	json_t *resp = NULL;
	char seg[128], path[300], key[65];
	int first, code;

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE)
		return code;
	if (first + 2 != argc)
		return cli_usage_error(cli, v, _("give the login and the key "
		    "(from 'kagi user fido list')"));
	if (fido_key_arg(argv[first + 1], key) != 0)
		return cli_usage_error(cli, v, _("'%s' is neither a key (64 "
		    "hex digits) nor a credential id in base64"),
		    argv[first + 1]);
	cli_id_seg(argv[first], seg, sizeof(seg));
	snprintf(path, sizeof(path), "/v1/users/fido/%s?key=%s", seg, key);
	if ((code = cli_id_call(cli, "DELETE", path, NULL, &resp)) != 0)
		return code;
	if (cli->json) {
		json_t *o = json_pack("{s:s, s:s, s:b}", "account", argv[first],
		    "key", key, "removed", 1);

		code = o != NULL ? cli_print_json(cli, o) :
		    cli_error(cli, KAGI_ERR_NOMEM, NULL, "%s",
		    kagi_strerror(KAGI_ERR_NOMEM));
		json_decref(o);
	} else {
		printf(_("Removed the security key %s from %s.\n"), key,
		    argv[first]);
		code = fflush(stdout) == 0 ? 0 :
		    kagi_err_exit_code(KAGI_ERR_SYSTEM);
	}
	json_decref(resp);
	return code;
}

static const struct cli_verb fido_verbs[] = {
	{ "add", N_("LOGIN --registration FILE [--client-data-hash B64] "
	  "[--type es256]"),
	  N_("register a security key from the output of fido2-cred -M"),
	  N_("Options:\n"
	     "  --registration FILE     what `fido2-cred -M` printed (\"-\": "
	     "standard input)\n"
	     "  --client-data-hash B64  the client data hash given to "
	     "fido2-cred; must\n"
	     "                          match the first line of FILE\n"
	     "  --type TYPE             the credential type given to "
	     "fido2-cred\n"
	     "                          (es256, the default; rs256; eddsa)\n"
	     "\nOn a workstation with the key attached, for example:\n"
	     "  (openssl rand -base64 32; echo kagi.local; echo LOGIN;\n"
	     "   openssl rand -base64 16) >param\n"
	     "  fido2-cred -M -v -i param DEVICE >reg\n"
	     "  kagi user fido add LOGIN --registration reg\n"
	     "kagid checks the attestation, the relying party and the "
	     "authenticator model.\n"),
	  fido_add, NULL },
	{ "list", N_("LOGIN"), N_("list a person's security keys"), NULL,
	  fido_list, NULL },
	{ "remove", N_("LOGIN KEY"),
	  N_("remove a security key (KEY from 'list', or its credential id)"),
	  NULL, fido_remove, NULL },
	{ NULL, NULL, NULL, NULL, NULL, NULL },
};

static const struct cli_verb member_verbs[] = {
	{ "add", N_("SHARED LOGIN"),
	  N_("let a person's own account use a shared account"),
	  N_("The member must be an active personal account.  Members log in "
	     "to the\nshared account with their own password as well "
	     "(R-ID-7).\n"),
	  member_add_remove, NULL },
	{ "remove", N_("SHARED LOGIN"),
	  N_("end a membership; the shared password must then change"),
	  N_("Flags the shared password for rotation (R-PW-9): its next "
	     "login only\nallows a change.\n"),
	  member_add_remove, NULL },
	{ "list", N_("SHARED"), N_("show the members of a shared account"),
	  NULL, member_list, NULL },
	{ NULL, NULL, NULL, NULL, NULL, NULL },
};

const struct cli_verb cli_user_verbs[] = {
	{ "add", N_("LOGIN --kind KIND [--person STAFF_NO] [--end DATE]"),
	  N_("create an account and print its temporary password once"),
	  N_("Options:\n"
	     "  --kind KIND      personal, shared, privileged, development, "
	     "contractor,\n"
	     "                   service\n"
	     "  --person NO      the staff number of its person (every kind "
	     "but service)\n"
	     "  --end DATE       last day of use, YYYY-MM-DD (required for "
	     "development\n"
	     "                   and contractor accounts: R-DEV-1, R-CONTR-1)\n"
	     "\nA person has at most one personal account.  The temporary "
	     "password is\nprinted once and must be changed at the first "
	     "login (R-PW-6, R-PW-10).\n"),
	  user_add, NULL },
	{ "show", N_("LOGIN"), N_("show an account"), NULL, user_show, NULL },
	{ "list", "", N_("list accounts"), NULL, user_list, NULL },
	{ "disable", N_("LOGIN"), N_("disable an account (no logins)"), NULL,
	  user_action, NULL },
	{ "enable", N_("LOGIN"), N_("enable a disabled account"), NULL,
	  user_action, NULL },
	{ "delete", N_("LOGIN"),
	  N_("delete an account (the record and its history are kept)"),
	  NULL, user_action, NULL },
	{ "unlock", N_("LOGIN"),
	  N_("unlock an account locked after failed logins"), NULL,
	  user_action, NULL },
	{ "reset-password", N_("LOGIN"),
	  N_("issue a new temporary password and print it once"),
	  N_("The old password stops working at once; the new temporary one "
	     "must be\nchanged at the first login.  An expired lock is "
	     "cleared too.\n"),
	  user_action, NULL },
	{ "member", N_("add | remove | list ..."),
	  N_("members of shared accounts"), NULL, member_dispatch,
	  member_verbs },
	{ "fido", N_("add | list | remove ..."),
	  N_("security keys (FIDO2) of an account"), NULL, member_dispatch,
	  fido_verbs },
	{ NULL, NULL, NULL, NULL, NULL, NULL },
};
