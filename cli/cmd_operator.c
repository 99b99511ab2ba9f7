/*
 * kagi operator grant | revoke | list | cert: who may do what in kagid
 * (docs/ACCOUNTS.md "Operators and roles").  `operator cert` makes the key
 * here (P-256, written 0600) and sends only a certificate request; kagid
 * issues a client certificate with CN = the login from the deployment's
 * TLS CA.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "kagi/err.h"
#include "kagi/file.h"
#include "kagi/i18n.h"

#include "verbs.h"

/* "operator,helpdesk" -> ["operator","helpdesk"] (kagid checks names). */
static json_t *
roles_array(const char *s)
{
	json_t *a = json_array();

	while (a != NULL && s != NULL && *s != '\0') {
		size_t n = strcspn(s, ",");
		const char *b = s;
		size_t m = n;
		while (m > 0 && (*b == ' ')) {
			b++;
			m--;
		}
		while (m > 0 && b[m - 1] == ' ')
			m--;
		json_array_append_new(a, json_stringn(b, m));
		s += n;
		if (*s == ',')
			s++;
	}
	return a;
}

static int
operator_grant(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	const char *role = NULL;
	const struct cli_opt opts[] = {
		{ "role", 0, required_argument, &role, NULL },
		{ NULL, 0, 0, NULL, NULL },
	};
	json_t *body = NULL, *resp = NULL, *roles;
	const json_t *u, *x;
	char seg[128], path[200];
	size_t i;
	int first, code;

	if ((code = cli_parse(cli, v, argc, argv, opts, &first)) != CLI_DONE ||
	    (code = cli_id_one_arg(cli, v, argc, argv, first,
	    _("a login name"))) != CLI_DONE)
		return code;
	if (role == NULL)
		return cli_usage_error(cli, v, _("--role is required (operator, "
		    "approver, ciso, helpdesk, auditor, hr; several with "
		    "commas)"));
	cli_id_seg(argv[first], seg, sizeof(seg));
	snprintf(path, sizeof(path), "/v1/operators/%s/%s", v->name, seg);
	if ((roles = roles_array(role)) == NULL ||
	    (body = json_pack("{s:o}", "roles", roles)) == NULL)
		return cli_error(cli, KAGI_ERR_NOMEM, NULL, "%s",
		    kagi_strerror(KAGI_ERR_NOMEM));
	code = cli_id_call(cli, "POST", path, body, &resp);
	json_decref(body);
	if (code != 0)
		return code;
	if (cli->json) {
		code = cli_print_json(cli, resp);
		json_decref(resp);
		return code;
	}
	u = json_object_get(resp, "user");
	printf(_("Roles of %s now:"), cli_id_str(u, "login"));
	if (json_array_size(json_object_get(u, "roles")) == 0)
		printf(" %s", _("(none)"));
	json_array_foreach(json_object_get(u, "roles"), i, x)
		printf("%s%s", i ? ", " : " ", json_string_value(x));
	printf("\n");
	json_decref(resp);
	return 0;
}

static int
operator_list(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	json_t *resp = NULL;
	const json_t *a, *o, *x;
	size_t i, j;
	int first, code;

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE)
		return code;
	if (first < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first]);
	if ((code = cli_id_call(cli, "GET", "/v1/operators", NULL, &resp)) != 0)
		return code;
	if (cli->json) {
		code = cli_print_json(cli, resp);
		json_decref(resp);
		return code;
	}
	a = json_object_get(resp, "operators");
	if (json_array_size(a) == 0)
		printf(_("No operators (only the local administrator).\n"));
	json_array_foreach(a, i, o) {
		printf("%-20s %-10s", cli_id_str(o, "login"),
		    cli_id_str(o, "state"));
		json_array_foreach(json_object_get(o, "roles"), j, x)
			printf("%s%s", j ? ", " : " ", json_string_value(x));
		printf("\n");
	}
	json_decref(resp);
	return 0;
}

static int
path_free(const char *p)
{
	struct stat st;

	return lstat(p, &st) != 0 && errno == ENOENT;
}

/* A P-256 key and a CSR for CN=login, both PEM. */
static int
make_key_csr(const char *login, char **key_pem, size_t *key_len,
    char **csr_pem)
{
	EVP_PKEY *pk = NULL;
	X509_REQ *req = NULL;
	X509_NAME *name = NULL;
	BIO *kb = NULL, *cb = NULL;
	char *p = NULL;
	long n;
	int r = KAGI_ERR_INTERNAL;

	*key_pem = NULL;
	*key_len = 0;
	*csr_pem = NULL;
	if ((pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL ||
	    (req = X509_REQ_new()) == NULL || (name = X509_NAME_new()) == NULL)
		goto out;
	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)login, -1, -1, 0) != 1 ||
	    X509_REQ_set_subject_name(req, name) != 1 ||
	    X509_REQ_set_pubkey(req, pk) != 1 ||
	    X509_REQ_sign(req, pk, EVP_sha256()) <= 0)
		goto out;
	if ((kb = BIO_new(BIO_s_secmem())) == NULL ||
	    PEM_write_bio_PrivateKey(kb, pk, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (cb = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_X509_REQ(cb, req) != 1)
		goto out;
	n = BIO_get_mem_data(kb, &p);
	if (n <= 0 || (*key_pem = OPENSSL_secure_malloc((size_t)n)) == NULL)
		goto out;
	memcpy(*key_pem, p, (size_t)n);
	*key_len = (size_t)n;
	n = BIO_get_mem_data(cb, &p);
	if (n <= 0 || (*csr_pem = calloc(1, (size_t)n + 1)) == NULL)
		goto out;
	memcpy(*csr_pem, p, (size_t)n);
	r = 0;
out:
	if (r != 0) {
		OPENSSL_secure_clear_free(*key_pem, *key_len);
		*key_pem = NULL;
		*key_len = 0;
	}
	BIO_free(kb);
	BIO_free(cb);
	X509_NAME_free(name);
	X509_REQ_free(req);
	EVP_PKEY_free(pk);
	return r;
}

static int
operator_cert(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	const char *key_out = NULL, *cert_out = NULL, *days = NULL;
	const struct cli_opt opts[] = {
		{ "key-out", 0, required_argument, &key_out, NULL },
		{ "cert-out", 0, required_argument, &cert_out, NULL },
		{ "days", 0, required_argument, &days, NULL },
		{ NULL, 0, 0, NULL, NULL },
	};
	json_t *body = NULL, *resp = NULL;
	char seg[128], path[200], *key = NULL, *csr = NULL, *end = NULL;
	const char *cert;
	size_t klen = 0;
	long d = 0;
	int first, code, r;

	if ((code = cli_parse(cli, v, argc, argv, opts, &first)) != CLI_DONE ||
	    (code = cli_id_one_arg(cli, v, argc, argv, first,
	    _("a login name"))) != CLI_DONE)
		return code;
	if (key_out == NULL || cert_out == NULL)
		return cli_usage_error(cli, v, _("--key-out and --cert-out are "
		    "required"));
	if (days != NULL) {
		errno = 0;
		d = strtol(days, &end, 10);
		if (errno != 0 || end == days || *end != '\0' || d < 1 ||
		    d > 825)
			return cli_usage_error(cli, v, _("--days must be a "
			    "whole number from 1 to 825"));
	}
	if (!path_free(key_out) || !path_free(cert_out))
		return cli_error(cli, KAGI_ERR_EXISTS, NULL, _("%s or %s "
		    "already exists; nothing was changed"), key_out, cert_out);
	if (make_key_csr(argv[first], &key, &klen, &csr) != 0)
		return cli_error(cli, KAGI_ERR_INTERNAL, NULL, "%s",
		    _("cannot make the key and certificate request"));
	body = json_pack("{s:s}", "csr", csr);
	if (body != NULL && d > 0)
		json_object_set_new(body, "days", json_integer(d));
	cli_id_seg(argv[first], seg, sizeof(seg));
	snprintf(path, sizeof(path), "/v1/operators/cert/%s", seg);
	code = body != NULL ? cli_id_call(cli, "POST", path, body, &resp) :
	    cli_error(cli, KAGI_ERR_NOMEM, NULL, "%s",
	    kagi_strerror(KAGI_ERR_NOMEM));
	if (code != 0)
		goto out;
	cert = json_string_value(json_object_get(resp, "certificate"));
	if (cert == NULL) {
		code = cli_error(cli, KAGI_ERR_FORMAT, NULL, "%s",
		    _("kagid's answer has no certificate"));
		goto out;
	}
	if ((r = kagi_file_write_new(key_out, key, klen, 0600)) != 0) {
		code = cli_error(cli, r, NULL, _("cannot write %s: %s"),
		    key_out, kagi_strerror(r));
		goto out;
	}
	if ((r = kagi_file_write_new(cert_out, cert, strlen(cert), 0644)) !=
	    0) {
		code = cli_error(cli, r, NULL, _("cannot write %s: %s"),
		    cert_out, kagi_strerror(r));
		goto out;
	}
	if (cli->json) {
		json_object_set_new(resp, "key_file", json_string(key_out));
		json_object_set_new(resp, "cert_file", json_string(cert_out));
		code = cli_print_json(cli, resp);
	} else {
		char t[64];
		cli_id_time(resp, "not_after", t, sizeof(t));
		printf(_("Issued a client certificate for %s (serial %s, valid "
		    "until %s).\n  key: %s (mode 0600)\n  certificate: %s\n"),
		    argv[first], cli_id_str(resp, "serial"), t, key_out,
		    cert_out);
	}
out:
	OPENSSL_secure_clear_free(key, klen);
	free(csr);
	json_decref(body);
	json_decref(resp);
	return code;
}

const struct cli_verb cli_operator_verbs[] = {
	{ "grant", N_("LOGIN --role ROLE[,ROLE]"),
	  N_("give an account operator roles"),
	  N_("Roles: operator, approver, ciso, helpdesk, auditor, hr.  Which "
	     "role each\naction needs is set in policy.ini [roles].  Nobody "
	     "changes their own roles.\n"),
	  operator_grant, NULL },
	{ "revoke", N_("LOGIN --role ROLE[,ROLE]"),
	  N_("take operator roles away"), NULL, operator_grant, NULL },
	{ "list", "", N_("list accounts that hold roles"), NULL, operator_list,
	  NULL },
	{ "cert", N_("LOGIN --key-out KEY --cert-out CERT [--days N]"),
	  N_("issue an operator's client certificate for mTLS"),
	  N_("Makes a P-256 key here (written to KEY, mode 0600; it never "
	     "leaves this\nmachine) and asks kagid for a client certificate "
	     "with CN = LOGIN\n(default 365 days).  Use them as [client] cert "
	     "and key in the operator's\nkagi.conf.\n"),
	  operator_cert, NULL },
	{ NULL, NULL, NULL, NULL, NULL, NULL },
};
