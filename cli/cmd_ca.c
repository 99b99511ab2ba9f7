/*
 * kagi ca show | issue | revoke | unhold | list | crl, and
 * kagi terminal add | list | show helpers (cmd_terminal.c).
 *
 * Each verb calls kagid's API (docs/API.md "CA") and prints the answer for a
 * person (dates in local time) or, with --json, kagid's JSON.  Subject and
 * SANs are decided by kagid from its store; the CLI only sends the CSR and
 * names the holder.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "kagi/client.h"
#include "kagi/conf.h"
#include "kagi/err.h"
#include "kagi/file.h"
#include "kagi/i18n.h"
#include "kagi/json.h"

#include "verbs.h"

#define CSR_FILE_MAX (256u * 1024u)
#define CLI_MULTI_MAX 8

/*
 * An API error with kagid's detail, translated when the catalogue has it
 * (kagid's details are fixed English sentences, also in po/).
 */
int
cli_ca_api_error(struct cli *cli, const struct kagi_client *c, int err,
    const json_t *resp)
{
	const char *d = json_is_object(resp) ?
	    json_string_value(json_object_get(resp, "detail")) : NULL;

	if (d != NULL && d[0] != '\0')
		return cli_error(cli, err, resp, "%s: %s", kagi_strerror(err),
		    _(d));
	return cli_api_error(cli, c, err, resp);
}

/* Every value of a repeatable option (--dns A --dns B, --dns=A). */
size_t
cli_multi(int argc, char **argv, const char *name, const char **out,
    size_t max)
{
	size_t n = 0, nl = strlen(name);

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0)
			break;
		if (strncmp(a, "--", 2) != 0 || strncmp(a + 2, name, nl) != 0)
			continue;
		const char *val = NULL;
		if (a[2 + nl] == '=')
			val = a + 3 + nl;
		else if (a[2 + nl] == '\0' && i + 1 < argc)
			val = argv[++i];
		if (val == NULL)
			continue;
		if (n < max)
			out[n] = val;
		n++;
	}
	return n;
}

static void
kv(const char *label, const char *value)
{
	if (value != NULL && value[0] != '\0')
		printf("  %-22s %s\n", label, value);
}

static void
kv_time(const char *label, const json_t *v)
{
	char buf[80];

	if (v != NULL && cli_format_time(v, buf, sizeof(buf)) == 0)
		kv(label, buf);
}

static const char *
jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

static void
print_cacert(const char *title, const json_t *c)
{
	if (!json_is_object(c))
		return;
	printf("%s\n", title);
	kv(_("subject"), jstr(c, "subject"));
	kv(_("serial"), jstr(c, "serial"));
	kv(_("SHA-256 fingerprint"), jstr(c, "sha256"));
	kv_time(_("valid from"), json_object_get(c, "not_before"));
	kv_time(_("valid until"), json_object_get(c, "not_after"));
}

int
cmd_ca_show(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	struct kagi_conf *conf = NULL;
	struct kagi_client *client = NULL;
	json_t *resp = NULL, *crl, *ic, *rc2, *oc;
	long http = 0;
	int first, code, r;
	char n[32];

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE)
		return code;
	if (first < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first]);
	if ((code = cli_connect(cli, &conf, &client)) != 0)
		goto out;
	if ((r = kagi_client_call(client, "GET", "/v1/ca", NULL, &resp,
	    &http)) != 0) {
		code = cli_ca_api_error(cli, client, r, resp);
		goto out;
	}
	if (cli->json) {
		code = cli_print_json(cli, resp);
		goto out;
	}
	print_cacert(_("Root CA:"), json_object_get(resp, "root"));
	print_cacert(_("Issuing CA:"), json_object_get(resp, "issuing"));
	print_cacert(_("OCSP signer:"), json_object_get(resp, "ocsp_signer"));
	crl = json_object_get(resp, "crl");
	ic = json_object_get(crl, "issuing");
	rc2 = json_object_get(crl, "root");
	if (json_is_object(ic)) {
		printf("%s\n", _("CRL of the issuing CA:"));
		kv(_("URL"), jstr(ic, "url"));
		snprintf(n, sizeof(n), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(json_object_get(ic, "number")));
		kv(_("CRL number"), n);
		snprintf(n, sizeof(n), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(json_object_get(ic, "entries")));
		kv(_("revoked entries"), n);
		kv_time(_("this update"), json_object_get(ic, "this_update"));
		kv_time(_("next update"), json_object_get(ic, "next_update"));
	}
	if (json_is_object(rc2)) {
		printf("%s\n", _("CRL of the root CA:"));
		kv(_("URL"), jstr(rc2, "url"));
	}
	oc = json_object_get(resp, "ocsp");
	if (json_is_object(oc)) {
		printf("%s\n", _("OCSP responder:"));
		kv(_("URL"), jstr(oc, "url"));
	}
	code = 0;
out:
	json_decref(resp);
	kagi_client_free(client);
	kagi_conf_free(conf);
	return code;
}

/* The CSR as PEM text: PEM is sent as it is, anything else is wrapped. */
static char *
csr_text(const uint8_t *buf, size_t len)
{
	const char *p = (const char *)buf;
	size_t i = 0, b64len;
	char *out, *b64;
	int n;

	while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' ||
	    p[i] == '\n'))
		i++;
	if (len - i >= 10 && memcmp(p + i, "-----BEGIN", 10) == 0 &&
	    memchr(buf, '\0', len) == NULL)
		return strndup(p, len);
	/* DER (or anything else): let kagid judge it, as PEM */
	b64len = 4 * ((len + 2) / 3) + 1;
	if ((b64 = malloc(b64len)) == NULL)
		return NULL;
	n = EVP_EncodeBlock((unsigned char *)b64, buf, (int)len);
	if (n < 0) {
		free(b64);
		return NULL;
	}
	out = malloc((size_t)n + (size_t)n / 64 + 128);
	if (out != NULL) {
		size_t o = (size_t)sprintf(out,
		    "-----BEGIN CERTIFICATE REQUEST-----\n");
		for (int j = 0; j < n; j += 64) {
			int l = n - j < 64 ? n - j : 64;
			memcpy(out + o, b64 + j, (size_t)l);
			o += (size_t)l;
			out[o++] = '\n';
		}
		o += (size_t)sprintf(out + o,
		    "-----END CERTIFICATE REQUEST-----\n");
	}
	free(b64);
	return out;
}

int
cmd_ca_issue(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	const char *profile = NULL, *csr = NULL, *acct = NULL, *dev = NULL;
	const char *outp = NULL, *d1 = NULL, *i1 = NULL, *zone = NULL;
	const struct cli_opt opts[] = {
		{ "profile", 'p', required_argument, &profile, NULL },
		{ "csr", 0, required_argument, &csr, NULL },
		{ "for", 0, required_argument, &acct, NULL },
		{ "for-device", 0, required_argument, &dev, NULL },
		{ "zone", 0, required_argument, &zone, NULL },
		{ "dns", 0, required_argument, &d1, NULL },
		{ "ip", 0, required_argument, &i1, NULL },
		{ "out", 'o', required_argument, &outp, NULL },
		{ NULL, 0, 0, NULL, NULL },
	};
	const char *dns[CLI_MULTI_MAX], *ips[CLI_MULTI_MAX];
	size_t nd, ni;
	struct kagi_conf *conf = NULL;
	struct kagi_client *client = NULL;
	json_t *body = NULL, *resp = NULL, *a;
	uint8_t *buf = NULL;
	size_t len = 0;
	char *pem = NULL;
	const char *cpem;
	long http = 0;
	int first, code, r;

	if ((code = cli_parse(cli, v, argc, argv, opts, &first)) != CLI_DONE)
		return code;
	if (first < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first]);
	if (profile == NULL || csr == NULL)
		return cli_usage_error(cli, v,
		    _("--profile and --csr are required"));
	nd = cli_multi(argc, argv, "dns", dns, CLI_MULTI_MAX);
	ni = cli_multi(argc, argv, "ip", ips, CLI_MULTI_MAX);
	if (nd > CLI_MULTI_MAX || ni > CLI_MULTI_MAX)
		return cli_usage_error(cli, v,
		    _("at most 8 --dns and 8 --ip values"));
	if ((r = kagi_file_read(csr, CSR_FILE_MAX, 0, &buf, &len)) != 0) {
		code = cli_error(cli, r, NULL, _("cannot read the CSR %s: %s"),
		    csr, kagi_strerror(r));
		goto out;
	}
	if ((pem = csr_text(buf, len)) == NULL) {
		code = cli_error(cli, KAGI_ERR_NOMEM, NULL, "%s",
		    kagi_strerror(KAGI_ERR_NOMEM));
		goto out;
	}
	body = json_pack("{s:s, s:s}", "profile", profile, "csr", pem);
	if (body == NULL) {
		code = cli_error(cli, KAGI_ERR_FORMAT, NULL,
		    _("the CSR file %s is not text"), csr);
		goto out;
	}
	if (acct != NULL)
		json_object_set_new(body, "account", json_string(acct));
	if (dev != NULL)
		json_object_set_new(body, "device", json_string(dev));
	if (nd > 0) {
		a = json_array();
		for (size_t i = 0; i < nd; i++)
			json_array_append_new(a, json_string(dns[i]));
		json_object_set_new(body, "dns", a);
	}
	if (ni > 0) {
		a = json_array();
		for (size_t i = 0; i < ni; i++)
			json_array_append_new(a, json_string(ips[i]));
		json_object_set_new(body, "ip", a);
	}
	(void)zone; /* the zone comes from the terminal record in kagid */
	if ((code = cli_connect(cli, &conf, &client)) != 0)
		goto out;
	if ((r = kagi_client_call(client, "POST", "/v1/ca/issue", body, &resp,
	    &http)) != 0) {
		code = cli_ca_api_error(cli, client, r, resp);
		goto out;
	}
	cpem = json_string_value(json_object_get(resp, "pem"));
	if (cpem == NULL) {
		code = cli_error(cli, KAGI_ERR_FORMAT, resp,
		    _("kagid's answer has no certificate"));
		goto out;
	}
	if (outp != NULL && (r = kagi_file_write_atomic(outp, cpem,
	    strlen(cpem), 0644)) != 0) {
		code = cli_error(cli, r, resp, _("cannot write %s: %s"), outp,
		    kagi_strerror(r));
		goto out;
	}
	if (cli->json) {
		code = cli_print_json(cli, resp);
		goto out;
	}
	if (outp == NULL)
		fputs(cpem, stdout);
	if (!cli->quiet) {
		FILE *f = outp == NULL ? stderr : stdout;
		char na[80];
		fprintf(f, _("Issued certificate %s (%s) for %s\n"),
		    jstr(resp, "serial"), jstr(resp, "profile"),
		    jstr(resp, "subject"));
		if (cli_format_time(json_object_get(resp, "not_after"), na,
		    sizeof(na)) == 0)
			fprintf(f, _("Valid until %s\n"), na);
		if (outp != NULL)
			fprintf(f, _("Wrote %s\n"), outp);
		if (json_is_string(json_object_get(resp, "warning")))
			fprintf(stderr, _("Warning: %s\n"),
			    _(jstr(resp, "warning")));
	}
	code = 0;
out:
	json_decref(body);
	json_decref(resp);
	free(buf);
	free(pem);
	kagi_client_free(client);
	kagi_conf_free(conf);
	return code;
}

static const char *
state_text(const char *s)
{
	if (strcmp(s, "active") == 0)
		return _("active");
	if (strcmp(s, "hold") == 0)
		return _("on hold");
	if (strcmp(s, "revoked") == 0)
		return _("revoked");
	return s;
}

static int
post_serial(struct cli *cli, const struct cli_verb *v, const char *path,
    json_t *body)
{
	struct kagi_conf *conf = NULL;
	struct kagi_client *client = NULL;
	json_t *resp = NULL;
	long http = 0;
	int code, r;

	(void)v;
	if ((code = cli_connect(cli, &conf, &client)) != 0)
		goto out;
	if ((r = kagi_client_call(client, "POST", path, body, &resp,
	    &http)) != 0) {
		code = cli_ca_api_error(cli, client, r, resp);
		goto out;
	}
	if (cli->json) {
		code = cli_print_json(cli, resp);
		goto out;
	}
	if (!cli->quiet)
		printf(_("Certificate %s is now %s.\n"), jstr(resp, "serial"),
		    state_text(jstr(resp, "state")));
	code = 0;
out:
	json_decref(resp);
	kagi_client_free(client);
	kagi_conf_free(conf);
	return code;
}

int
cmd_ca_revoke(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	const char *reason = NULL;
	const struct cli_opt opts[] = {
		{ "reason", 'r', required_argument, &reason, NULL },
		{ NULL, 0, 0, NULL, NULL },
	};
	json_t *body;
	int first, code;

	if ((code = cli_parse(cli, v, argc, argv, opts, &first)) != CLI_DONE)
		return code;
	if (first >= argc)
		return cli_usage_error(cli, v, _("SERIAL is required"));
	if (first + 1 < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first + 1]);
	if (reason == NULL)
		return cli_usage_error(cli, v, _("--reason is required "
		    "(keyCompromise, affiliationChanged, superseded, "
		    "cessationOfOperation, certificateHold, privilegeWithdrawn, "
		    "unspecified)"));
	body = json_pack("{s:s, s:s}", "serial", argv[first], "reason",
	    reason);
	code = post_serial(cli, v, "/v1/ca/revoke", body);
	json_decref(body);
	return code;
}

int
cmd_ca_unhold(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	json_t *body;
	int first, code;

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE)
		return code;
	if (first >= argc)
		return cli_usage_error(cli, v, _("SERIAL is required"));
	if (first + 1 < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first + 1]);
	body = json_pack("{s:s}", "serial", argv[first]);
	code = post_serial(cli, v, "/v1/ca/unhold", body);
	json_decref(body);
	return code;
}

/* %XX-encode a query value. */
static void
qappend(char *buf, size_t len, const char *key, const char *val)
{
	size_t o = strlen(buf);
	static const char hx[] = "0123456789ABCDEF";

	o += (size_t)snprintf(buf + o, len - o, "%s%s=", strchr(buf, '?') ?
	    "&" : "?", key);
	for (const unsigned char *p = (const unsigned char *)val;
	    *p != '\0' && o + 4 < len; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
		    *p == '_') {
			buf[o++] = (char)*p;
		} else {
			buf[o++] = '%';
			buf[o++] = hx[*p >> 4];
			buf[o++] = hx[*p & 15];
		}
	}
	buf[o] = '\0';
}

int
cmd_ca_list(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	const char *holder = NULL, *state = NULL, *profile = NULL;
	const struct cli_opt opts[] = {
		{ "holder", 0, required_argument, &holder, NULL },
		{ "state", 0, required_argument, &state, NULL },
		{ "profile", 'p', required_argument, &profile, NULL },
		{ NULL, 0, 0, NULL, NULL },
	};
	struct kagi_conf *conf = NULL;
	struct kagi_client *client = NULL;
	json_t *resp = NULL, *certs, *c;
	char path[512];
	long http = 0;
	size_t i;
	int first, code, r;

	if ((code = cli_parse(cli, v, argc, argv, opts, &first)) != CLI_DONE)
		return code;
	if (first < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first]);
	if (state != NULL && strcmp(state, "active") != 0 &&
	    strcmp(state, "hold") != 0 && strcmp(state, "revoked") != 0)
		return cli_usage_error(cli, v,
		    _("--state must be active, hold or revoked"));
	snprintf(path, sizeof(path), "/v1/ca/certs");
	if (holder != NULL)
		qappend(path, sizeof(path), "holder", holder);
	if (state != NULL)
		qappend(path, sizeof(path), "state", state);
	if (profile != NULL)
		qappend(path, sizeof(path), "profile", profile);
	if ((code = cli_connect(cli, &conf, &client)) != 0)
		goto out;
	if ((r = kagi_client_call(client, "GET", path, NULL, &resp,
	    &http)) != 0) {
		code = cli_ca_api_error(cli, client, r, resp);
		goto out;
	}
	if (cli->json) {
		code = cli_print_json(cli, resp);
		goto out;
	}
	certs = json_object_get(resp, "certs");
	if (json_array_size(certs) == 0 && !cli->quiet)
		printf("%s\n", _("No certificates."));
	json_array_foreach(certs, i, c) {
		char na[80];
		if (cli_format_time(json_object_get(c, "not_after"), na,
		    sizeof(na)) != 0)
			na[0] = '\0';
		printf("%s  %-11s %-8s %-16s %s  %s\n", jstr(c, "serial"),
		    jstr(c, "profile"), state_text(jstr(c, "state")),
		    jstr(c, "holder")[0] ? jstr(c, "holder") : "-", na,
		    jstr(c, "subject"));
	}
	code = 0;
out:
	json_decref(resp);
	kagi_client_free(client);
	kagi_conf_free(conf);
	return code;
}

int
cmd_ca_crl(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	const char *outp = NULL;
	int root = 0;
	const struct cli_opt opts[] = {
		{ "out", 'o', required_argument, &outp, NULL },
		{ "root", 0, no_argument, NULL, &root },
		{ NULL, 0, 0, NULL, NULL },
	};
	struct kagi_conf *conf = NULL;
	struct kagi_client *client = NULL;
	json_t *info = NULL, *crl;
	char *body = NULL;
	size_t len = 0;
	long http = 0;
	int first, code, r;

	if ((code = cli_parse(cli, v, argc, argv, opts, &first)) != CLI_DONE)
		return code;
	if (first < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first]);
	if ((code = cli_connect(cli, &conf, &client)) != 0)
		goto out;
	if ((r = kagi_client_call(client, "GET", "/v1/ca", NULL, &info,
	    &http)) != 0) {
		code = cli_ca_api_error(cli, client, r, info);
		goto out;
	}
	crl = json_object_get(json_object_get(info, "crl"), root ? "root" :
	    "issuing");
	if (outp != NULL) {
		if ((r = kagi_client_call_raw(client, "GET", root ?
		    "/crl/root.crl" : "/crl/issuing.crl", &body, &len,
		    &http)) != 0) {
			code = cli_api_error(cli, client, r, NULL);
			goto out;
		}
		if ((r = kagi_file_write_atomic(outp, body, len, 0644)) != 0) {
			code = cli_error(cli, r, NULL, _("cannot write %s: %s"),
			    outp, kagi_strerror(r));
			goto out;
		}
	}
	if (cli->json) {
		code = cli_print_json(cli, crl);
		goto out;
	}
	if (json_is_object(crl)) {
		char n[32];
		printf("%s\n", root ? _("CRL of the root CA:") :
		    _("CRL of the issuing CA:"));
		kv(_("URL"), jstr(crl, "url"));
		snprintf(n, sizeof(n), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(json_object_get(crl, "number")));
		kv(_("CRL number"), n);
		snprintf(n, sizeof(n), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(json_object_get(crl, "entries")));
		kv(_("revoked entries"), n);
		kv_time(_("this update"), json_object_get(crl, "this_update"));
		kv_time(_("next update"), json_object_get(crl, "next_update"));
	}
	if (outp != NULL && !cli->quiet)
		printf(_("Wrote %s (DER, %zu bytes)\n"), outp, len);
	code = 0;
out:
	free(body);
	json_decref(info);
	kagi_client_free(client);
	kagi_conf_free(conf);
	return code;
}
