/* Test environment for the CA suite (see ca_env.h). */
#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca_env.h"
#include "kagi/log.h"

#define SO_PIN "so-pin-1234"
#define USER_PIN "user-pin-5678"
#define TOKEN "kagi-ca-test"

static char basedir[128];

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st; (void)flag; (void)f;
	return remove(p);
}

void
ca_env_global_init(void)
{
	snprintf(basedir, sizeof(basedir), "/tmp/kagi-ca-XXXXXX");
	if (mkdtemp(basedir) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
}

void
ca_env_global_cleanup(void)
{
	if (getenv("KAGI_KEEP_TMP") == NULL)
		(void)nftw(basedir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	else
		fprintf(stderr, "kept %s\n", basedir);
}

const char *
ca_env_path(const struct ca_env *e, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", e->dir, name);
	return buf;
}

void
ca_env_write(const struct ca_env *e, const char *name, const void *data,
    size_t len)
{
	char path[512];
	int fd;

	ca_env_path(e, name, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

void
ca_env_write_pem(const struct ca_env *e, const char *name, X509 *const *certs,
    size_t n)
{
	char path[512];
	FILE *f;

	ca_env_path(e, name, path, sizeof(path));
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(PEM_write_X509(f, certs[i]), 1);
	ck_assert_int_eq(fclose(f), 0);
}

int
ca_env_run(const struct ca_env *e, char *out, size_t outlen, const char *fmt,
    ...)
{
	char cmd[4096], full[5200], path[512];
	va_list ap;
	int st;
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	ca_env_path(e, "cmd.out", path, sizeof(path));
	snprintf(full, sizeof(full), "cd '%s' && ( %s ) > '%s' 2>&1", e->dir,
	    cmd, path);
	st = system(full);
	if (out != NULL && outlen > 0) {
		size_t n = 0;

		out[0] = '\0';
		if ((f = fopen(path, "r")) != NULL) {
			n = fread(out, 1, outlen - 1, f);
			fclose(f);
		}
		out[n] = '\0';
	}
	if (getenv("KAGI_TEST_VERBOSE") != NULL)
		fprintf(stderr, "$ %s -> %d\n%s\n", cmd, st,
		    out != NULL ? out : "");
	ck_assert_int_ne(st, -1);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

void
ca_env_setup(struct ca_env *e)
{
	char path[512], conf[1024];
	const char *m = getenv("KAGI_TEST_PKCS11_MODULE");
	int n;

	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "%s/t-XXXXXX", basedir);
	ck_assert_ptr_nonnull(mkdtemp(e->dir));
	ca_env_path(e, "tokens", path, sizeof(path));
	ck_assert_int_eq(mkdir(path, 0700), 0);
	n = snprintf(conf, sizeof(conf),
	    "directories.tokendir = %s/tokens\n"
	    "objectstore.backend = file\n"
	    "log.level = ERROR\n", e->dir);
	ca_env_write(e, "softhsm2.conf", conf, (size_t)n);
	ck_assert_int_eq(setenv("SOFTHSM2_CONF",
	    ca_env_path(e, "softhsm2.conf", path, sizeof(path)), 1), 0);
	kagi_log_set_level(getenv("KAGI_TEST_VERBOSE") ? KAGI_LOG_DEBUG :
	    KAGI_LOG_ERR);
	ck_assert_int_eq(hsm_open(m != NULL ? m :
	    "/usr/lib/softhsm/libsofthsm2.so", &e->h), 0);
	ck_assert_int_eq(hsm_token_init(e->h, TOKEN, SO_PIN, USER_PIN), 0);
	ck_assert_int_eq(hsm_session_open(e->h, TOKEN, USER_PIN, &e->s), 0);
}

void
ca_env_teardown(struct ca_env *e)
{
	hsm_session_close(e->s);
	hsm_close(e->h);
	e->s = NULL;
	e->h = NULL;
	if (e->dir[0] != '\0' && getenv("KAGI_KEEP_TMP") == NULL)
		(void)nftw(e->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void
ca_pki_build(struct ca_env *e, struct ca_pki *p, enum hsm_key_type t)
{
	struct ca_issuer *self = NULL, *root_iss = NULL;
	EVP_PKEY *rpub = NULL, *ipub = NULL;
	int64_t now = (int64_t)time(NULL);
	struct ca_request rq;

	memset(p, 0, sizeof(*p));
	ck_assert_int_eq(hsm_key_generate(e->s, "root", t, &p->root_k), 0);
	ck_assert_int_eq(hsm_key_generate(e->s, "issuing", t, &p->iss_k), 0);
	ck_assert_int_eq(ca_signer_from_hsm(p->root_k, &p->root_signer), 0);
	ck_assert_int_eq(ca_signer_from_hsm(p->iss_k, &p->iss_signer), 0);
	ck_assert_int_eq(hsm_key_public(p->root_k, &rpub), 0);
	ck_assert_int_eq(hsm_key_public(p->iss_k, &ipub), 0);

	ck_assert_int_eq(ca_issuer_new(NULL, p->root_signer, NULL, NULL, NULL,
	    &self), 0);
	memset(&rq, 0, sizeof(rq));
	rq.profile = CA_PROFILE_ROOT;
	rq.pubkey = rpub;
	rq.org = "Kagi Test Ward";
	rq.section = "情報政策課";
	rq.name = "Kagi Test Root CA";
	rq.not_before = now - 60;
	rq.not_after = now + 20 * 365 * 86400LL;
	ck_assert_int_eq(ca_cert_issue(self, &rq, &p->root), 0);

	ck_assert_int_eq(ca_issuer_new(p->root, p->root_signer, CA_TEST_ROOT_CDP,
	    NULL, NULL, &root_iss), 0);
	rq.profile = CA_PROFILE_ISSUING_CA;
	rq.pubkey = ipub;
	rq.name = "Kagi Test Issuing CA";
	rq.not_after = now + 10 * 365 * 86400LL;
	ck_assert_int_eq(ca_cert_issue(root_iss, &rq, &p->issuing), 0);
	ck_assert_int_eq(ca_issuer_new(p->issuing, p->iss_signer, CA_TEST_CDP,
	    CA_TEST_OCSP, CA_TEST_CAISSUERS, &p->iss), 0);
	p->root_iss = root_iss;
	ca_env_write_pem(e, "root.pem", &p->root, 1);
	ca_env_write_pem(e, "issuing.pem", &p->issuing, 1);
	ca_issuer_free(self);
	EVP_PKEY_free(rpub);
	EVP_PKEY_free(ipub);
}

void
ca_pki_free(struct ca_pki *p)
{
	ca_issuer_free(p->iss);
	ca_issuer_free(p->root_iss);
	X509_free(p->root);
	X509_free(p->issuing);
	EVP_PKEY_free(p->root_signer);
	EVP_PKEY_free(p->iss_signer);
	hsm_key_free(p->root_k);
	hsm_key_free(p->iss_k);
	memset(p, 0, sizeof(*p));
}

EVP_PKEY *
ca_test_keygen(const char *alg, const char *param, size_t bits)
{
	EVP_PKEY *k;

	if (strcmp(alg, "RSA") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits);
	else if (strcmp(alg, "EC") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", param);
	else
		k = EVP_PKEY_Q_keygen(NULL, NULL, alg);
	return k;
}

int
ca_test_csr(EVP_PKEY *key, int with_exts, uint8_t **der, size_t *len)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	unsigned char *p = NULL;
	int l, ok = 0;
	const EVP_MD *md = EVP_PKEY_is_a(key, "ED25519") ? NULL : EVP_sha256();

	if (req == NULL || n == NULL)
		goto out;
	/* A subject the CA must ignore. */
	if (!X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	    (const unsigned char *)"Evil Admin", -1, -1, 0) ||
	    !X509_REQ_set_subject_name(req, n) ||
	    !X509_REQ_set_pubkey(req, key))
		goto out;
	if (with_exts) {
		STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
		X509_EXTENSION *e1 = X509V3_EXT_conf_nid(NULL, NULL,
		    NID_subject_alt_name, "DNS:evil.example,email:evil@example");
		X509_EXTENSION *e2 = X509V3_EXT_conf_nid(NULL, NULL,
		    NID_basic_constraints, "critical,CA:TRUE");
		X509_EXTENSION *e3 = X509V3_EXT_conf_nid(NULL, NULL,
		    NID_ext_key_usage, "codeSigning");
		int r = exts && e1 && e2 && e3 &&
		    sk_X509_EXTENSION_push(exts, e1) &&
		    sk_X509_EXTENSION_push(exts, e2) &&
		    sk_X509_EXTENSION_push(exts, e3) &&
		    X509_REQ_add_extensions(req, exts);

		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
		if (!r)
			goto out;
	}
	if (X509_REQ_sign(req, key, md) <= 0)
		goto out;
	if ((l = i2d_X509_REQ(req, &p)) <= 0)
		goto out;
	*der = malloc((size_t)l);
	memcpy(*der, p, (size_t)l);
	*len = (size_t)l;
	OPENSSL_free(p);
	ok = 1;
out:
	X509_NAME_free(n);
	X509_REQ_free(req);
	return ok;
}
