/*
 * hsm against a real SoftHSM2: every test gets its own token directory and
 * softhsm2.conf (SOFTHSM2_CONF), so tests never touch /var/lib/softhsm.
 * Signatures are checked with OpenSSL's EVP_DigestVerify over the exported
 * public key, an implementation we did not write.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>

#include "hsm_int.h"
#include "kagi/err.h"
#include "kagi/hsm.h"
#include "kagi/log.h"
#include "kagi/secmem.h"

#define SO_PIN "so-pin-1234"
#define USER_PIN "user-pin-5678"

/*
 * basedir is made by main() and removed after the run: a failed assertion
 * ends a forked test with _exit(), before its teardown removes tmpdir.
 */
static char basedir[128];
static char tmpdir[256];
static char module[1024];

/* Log capture: to prove a PIN never reaches the log. */
static char logbuf[16384];
static size_t loglen;

static void
capture(int level, const char *file, int line, const char *func,
    const char *msg, void *arg)
{
	size_t n = strlen(msg);

	(void)level; (void)file; (void)line; (void)func; (void)arg;
	if (loglen + n + 2 < sizeof(logbuf)) {
		memcpy(logbuf + loglen, msg, n);
		loglen += n;
		logbuf[loglen++] = '\n';
		logbuf[loglen] = '\0';
	}
}

static void
write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	ck_assert_int_eq(close(fd), 0);
}

static void
setup(void)
{
	char path[512], conf[1024];
	const char *m = getenv("KAGI_TEST_PKCS11_MODULE");
	int n;

	snprintf(module, sizeof(module), "%s",
	    m != NULL ? m : "/usr/lib/softhsm/libsofthsm2.so");
	snprintf(tmpdir, sizeof(tmpdir), "%s/t-XXXXXX", basedir);
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/tokens", tmpdir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	n = snprintf(conf, sizeof(conf),
	    "directories.tokendir = %s/tokens\n"
	    "objectstore.backend = file\n"
	    "log.level = ERROR\n", tmpdir);
	snprintf(path, sizeof(path), "%s/softhsm2.conf", tmpdir);
	write_file(path, conf, (size_t)n, 0600);
	ck_assert_int_eq(setenv("SOFTHSM2_CONF", path, 1), 0);
	loglen = 0;
	logbuf[0] = '\0';
	kagi_log_set_level(KAGI_LOG_DEBUG);
	kagi_log_set_handler(capture, NULL);
}

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st; (void)flag; (void)f;
	return remove(p);
}

static void
teardown(void)
{
	kagi_log_set_handler(NULL, NULL);
	if (tmpdir[0] != '\0')
		(void)nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	tmpdir[0] = '\0';
}

/* Open the module, make token `label`, log in. */
static void
open_token(const char *label, struct hsm **h, struct hsm_session **s)
{
	ck_assert_int_eq(hsm_open(module, h), 0);
	ck_assert_int_eq(hsm_token_init(*h, label, SO_PIN, USER_PIN), 0);
	ck_assert_int_eq(hsm_session_open(*h, label, USER_PIN, s), 0);
}

static const EVP_MD *
md_for(int i)
{
	switch (i % 3) {
	case 0:
		return EVP_sha256();
	case 1:
		return EVP_sha384();
	default:
		return EVP_sha512();
	}
}

/* Sign "msg" through the HSM; verify with OpenSSL; a flipped bit fails. */
static void
sign_and_verify(struct hsm_key *k, const EVP_MD *md)
{
	static const char msg[] = "kagi: to-be-signed bytes";
	uint8_t dg[EVP_MAX_MD_SIZE], sig[1024];
	unsigned int dlen = 0;
	size_t siglen = sizeof(sig);
	EVP_PKEY *pub = NULL;
	EVP_MD_CTX *ctx;

	ck_assert_int_eq(EVP_Digest(msg, strlen(msg), dg, &dlen, md, NULL), 1);
	ck_assert_int_eq(hsm_key_sign(k, md, dg, dlen, sig, &siglen), 0);
	ck_assert_uint_gt(siglen, 0);
	ck_assert_int_eq(hsm_key_public(k, &pub), 0);

	ctx = EVP_MD_CTX_new();
	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(EVP_DigestVerifyInit(ctx, NULL, md, NULL, pub), 1);
	ck_assert_int_eq(EVP_DigestVerify(ctx, sig, siglen,
	    (const uint8_t *)msg, strlen(msg)), 1);
	EVP_MD_CTX_free(ctx);

	sig[siglen / 2] ^= 0x01;
	ctx = EVP_MD_CTX_new();
	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(EVP_DigestVerifyInit(ctx, NULL, md, NULL, pub), 1);
	ck_assert_int_ne(EVP_DigestVerify(ctx, sig, siglen,
	    (const uint8_t *)msg, strlen(msg)), 1);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pub);
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

START_TEST(token_init_and_login)
{
	struct hsm *h = NULL;
	struct hsm_session *s = NULL;

	open_token("kagi-test", &h, &s);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s->label, "kagi-test");
	hsm_session_close(s);
	/* Log in again on a second session. */
	ck_assert_int_eq(hsm_session_open(h, "kagi-test", USER_PIN, &s), 0);
	hsm_session_close(s);
	hsm_close(h);
	ck_assert_ptr_null(strstr(logbuf, USER_PIN));
	ck_assert_ptr_null(strstr(logbuf, SO_PIN));
}
END_TEST

static const struct {
	enum hsm_key_type type;
	const char *alg;
	int bits;
} keytypes[] = {
	{ HSM_KEY_EC_P256, "EC", 256 },
	{ HSM_KEY_EC_P384, "EC", 384 },
	{ HSM_KEY_RSA_2048, "RSA", 2048 },
	{ HSM_KEY_RSA_3072, "RSA", 3072 },
};

/* Loop over keytypes: generate, export, sign with SHA-256/384/512, verify. */
START_TEST(generate_sign_verify)
{
	struct hsm *h = NULL;
	struct hsm_session *s = NULL;
	struct hsm_key *k = NULL;
	EVP_PKEY *pub = NULL;
	int i;

	open_token("kagi-test", &h, &s);
	ck_assert_int_eq(hsm_key_generate(s, "ca-key", keytypes[_i].type, &k),
	    0);
	ck_assert_int_eq((int)hsm_key_type(k), (int)keytypes[_i].type);
	ck_assert_int_eq(hsm_key_public(k, &pub), 0);
	ck_assert(EVP_PKEY_is_a(pub, keytypes[_i].alg));
	ck_assert_int_eq(EVP_PKEY_get_bits(pub), keytypes[_i].bits);
	EVP_PKEY_free(pub);
	for (i = 0; i < 3; i++)
		sign_and_verify(k, md_for(i));

	if (getenv("KAGI_TEST_TIMING") != NULL) {
		uint8_t dg[32] = { 1 }, sig[1024];
		size_t sl;
		double t0 = now_ms();
		int n;

		for (n = 0; n < 50; n++) {
			sl = sizeof(sig);
			ck_assert_int_eq(hsm_key_sign(k, EVP_sha256(), dg,
			    sizeof(dg), sig, &sl), 0);
		}
		fprintf(stderr, "timing: %s-%d sign %.3f ms\n",
		    keytypes[_i].alg, keytypes[_i].bits,
		    (now_ms() - t0) / 50.0);
	}
	hsm_key_free(k);
	hsm_session_close(s);
	hsm_close(h);
}
END_TEST

START_TEST(keys_are_sensitive_not_extractable)
{
	struct hsm *h = NULL;
	struct hsm_session *s = NULL;
	struct hsm_key *k = NULL;
	enum hsm_key_type types[] = { HSM_KEY_EC_P256, HSM_KEY_RSA_2048 };
	const char *labels[] = { "ec", "rsa" };
	int sens = -1, ext = -1;
	size_t i;

	open_token("kagi-test", &h, &s);
	for (i = 0; i < 2; i++) {
		uint8_t v[1024];
		CK_ATTRIBUTE a = { types[i] == HSM_KEY_EC_P256 ? CKA_VALUE :
		    CKA_PRIVATE_EXPONENT, v, sizeof(v) };
		CK_RV rv;

		ck_assert_int_eq(hsm_key_generate(s, labels[i], types[i], &k),
		    0);
		ck_assert_int_eq(hsm_key_is_protected(k, &sens, &ext), 0);
		ck_assert_int_eq(sens, 1);
		ck_assert_int_eq(ext, 0);
		/* Ask the module directly for the private value: refused. */
		rv = s->h->f->C_GetAttributeValue(s->sh, k->priv, &a, 1);
		ck_assert_uint_eq(rv, CKR_ATTRIBUTE_SENSITIVE);
		ck_assert_uint_eq(a.ulValueLen, CK_UNAVAILABLE_INFORMATION);
		hsm_key_free(k);
		k = NULL;
	}
	hsm_session_close(s);
	hsm_close(h);
}
END_TEST

START_TEST(find_by_label_after_reopen)
{
	struct hsm *h = NULL;
	struct hsm_session *s = NULL;
	struct hsm_key *k = NULL, *k2 = NULL;
	EVP_PKEY *p1 = NULL, *p2 = NULL;

	open_token("kagi-test", &h, &s);
	ck_assert_int_eq(hsm_key_generate(s, "issuing", HSM_KEY_EC_P256, &k),
	    0);
	ck_assert_int_eq(hsm_key_generate(s, "other", HSM_KEY_RSA_2048, &k2),
	    0);
	ck_assert_int_eq(hsm_key_public(k, &p1), 0);
	hsm_key_free(k);
	hsm_key_free(k2);
	k = k2 = NULL;
	hsm_session_close(s);
	hsm_close(h);
	s = NULL;
	h = NULL;

	/* A new handle (module finalised, unloaded and loaded again). */
	ck_assert_int_eq(hsm_open(module, &h), 0);
	ck_assert_int_eq(hsm_session_open(h, "kagi-test", USER_PIN, &s), 0);
	ck_assert_int_eq(hsm_key_find(s, "issuing", &k), 0);
	ck_assert_int_eq((int)hsm_key_type(k), HSM_KEY_EC_P256);
	ck_assert_int_eq(hsm_key_public(k, &p2), 0);
	ck_assert_int_eq(EVP_PKEY_eq(p1, p2), 1);
	sign_and_verify(k, EVP_sha256());
	ck_assert_int_eq(hsm_key_find(s, "other", &k2), 0);
	ck_assert_int_eq((int)hsm_key_type(k2), HSM_KEY_RSA_2048);
	sign_and_verify(k2, EVP_sha384());
	hsm_key_free(k2);
	k2 = NULL;
	/* A label that is not there. */
	ck_assert_int_eq(hsm_key_find(s, "issuing2", &k2), KAGI_ERR_NOT_FOUND);
	ck_assert_ptr_null(k2);
	EVP_PKEY_free(p1);
	EVP_PKEY_free(p2);
	hsm_key_free(k);
	hsm_session_close(s);
	hsm_close(h);
}
END_TEST

START_TEST(wrong_pin)
{
	struct hsm *h = NULL;
	struct hsm_session *s = NULL;

	open_token("kagi-test", &h, &s);
	hsm_session_close(s);
	s = NULL;
	hsm_close(h);
	h = NULL;
	ck_assert_int_eq(hsm_open(module, &h), 0);
	ck_assert_int_eq(hsm_session_open(h, "kagi-test", "wrong-pin-0000",
	    &s), KAGI_ERR_PIN);
	ck_assert_ptr_null(s);
	/* Too short for the token is a wrong PIN too. */
	ck_assert_int_eq(hsm_session_open(h, "kagi-test", "1", &s),
	    KAGI_ERR_PIN);
	ck_assert_ptr_nonnull(strstr(logbuf, "CKR_PIN_INCORRECT"));
	ck_assert_ptr_null(strstr(logbuf, "wrong-pin-0000"));
	/* The right PIN still works. */
	ck_assert_int_eq(hsm_session_open(h, "kagi-test", USER_PIN, &s), 0);
	hsm_session_close(s);
	hsm_close(h);
}
END_TEST

START_TEST(missing_token)
{
	struct hsm *h = NULL;
	struct hsm_session *s = NULL;

	open_token("kagi-test", &h, &s);
	hsm_session_close(s);
	s = NULL;
	ck_assert_int_eq(hsm_session_open(h, "kagi-nope", USER_PIN, &s),
	    KAGI_ERR_NOT_FOUND);
	ck_assert_ptr_null(s);
	/* A label that is a prefix of an existing one is not a match. */
	ck_assert_int_eq(hsm_session_open(h, "kagi", USER_PIN, &s),
	    KAGI_ERR_NOT_FOUND);
	hsm_close(h);
}
END_TEST

START_TEST(duplicate_token_label)
{
	struct hsm *h = NULL;
	struct hsm_session *s = NULL;

	open_token("kagi-test", &h, &s);
	ck_assert_int_eq(hsm_token_init(h, "kagi-test", SO_PIN, USER_PIN),
	    KAGI_ERR_EXISTS);
	/* A different label still gets the next free slot. */
	ck_assert_int_eq(hsm_token_init(h, "kagi-test2", SO_PIN, USER_PIN), 0);
	hsm_session_close(s);
	hsm_close(h);
}
END_TEST

START_TEST(duplicate_key_label)
{
	struct hsm *h = NULL;
	struct hsm_session *s = NULL;
	struct hsm_key *k = NULL, *k2 = NULL;

	open_token("kagi-test", &h, &s);
	ck_assert_int_eq(hsm_key_generate(s, "ca", HSM_KEY_EC_P256, &k), 0);
	ck_assert_int_eq(hsm_key_generate(s, "ca", HSM_KEY_EC_P384, &k2),
	    KAGI_ERR_EXISTS);
	ck_assert_ptr_null(k2);
	/* The first key is untouched and still the one found. */
	ck_assert_int_eq(hsm_key_find(s, "ca", &k2), 0);
	ck_assert_int_eq((int)hsm_key_type(k2), HSM_KEY_EC_P256);
	hsm_key_free(k);
	hsm_key_free(k2);
	hsm_session_close(s);
	hsm_close(h);
}
END_TEST

START_TEST(bad_module_path)
{
	struct hsm *h = NULL;
	char path[512];

	snprintf(path, sizeof(path), "%s/no-such-module.so", tmpdir);
	ck_assert_int_eq(hsm_open(path, &h), KAGI_ERR_NOT_FOUND);
	ck_assert_ptr_null(h);
	ck_assert_ptr_nonnull(strstr(logbuf, "no such file"));
	/* Only absolute paths: no search through LD_LIBRARY_PATH. */
	ck_assert_int_eq(hsm_open("libsofthsm2.so", &h), KAGI_ERR_INVALID);
	ck_assert_int_eq(hsm_open(NULL, &h), KAGI_ERR_INVALID);
	/* Not a shared object at all. */
	snprintf(path, sizeof(path), "%s/junk.so", tmpdir);
	write_file(path, "not an ELF file\n", 16, 0644);
	ck_assert_int_eq(hsm_open(path, &h), KAGI_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(logbuf, "cannot load"));
	/* Group-writable module file: refused before loading. */
	ck_assert_int_eq(chmod(path, 0664), 0);
	ck_assert_int_eq(hsm_open(path, &h), KAGI_ERR_PERM);
	ck_assert_ptr_null(h);
}
END_TEST

START_TEST(not_a_pkcs11_module)
{
	struct hsm *h = NULL;
	const char *libs[] = { "/lib/x86_64-linux-gnu/libm.so.6",
	    "/usr/lib/x86_64-linux-gnu/libm.so.6", "/lib64/libm.so.6" };
	size_t i;

	for (i = 0; i < sizeof(libs) / sizeof(libs[0]); i++)
		if (access(libs[i], R_OK) == 0)
			break;
	ck_assert_uint_lt(i, sizeof(libs) / sizeof(libs[0]));
	ck_assert_int_eq(hsm_open(libs[i], &h), KAGI_ERR_INVALID);
	ck_assert_ptr_null(h);
	ck_assert_ptr_nonnull(strstr(logbuf, "C_GetFunctionList"));
}
END_TEST

START_TEST(uri_selection)
{
	struct hsm *h = NULL;
	struct hsm_session *s = NULL, *s2 = NULL;
	CK_TOKEN_INFO ti;
	char uri[256], serial[HSM_SERIAL_LEN + 1];
	size_t n;

	/* A label with a blank and a ';' must be percent-encoded. */
	open_token("Ward CA;1", &h, &s);
	ck_assert_int_eq(hsm_token_init(h, "other", SO_PIN, USER_PIN), 0);
	ck_assert_int_eq(hsm_session_open(h, "pkcs11:token=Ward%20CA%3b1",
	    USER_PIN, &s2), 0);
	ck_assert_uint_eq(s2->slot, s->slot);
	hsm_session_close(s2);
	s2 = NULL;

	/* serial= from the token's own info, and slot-id=. */
	ck_assert_uint_eq(s->h->f->C_GetTokenInfo(s->slot, &ti), CKR_OK);
	memcpy(serial, ti.serialNumber, HSM_SERIAL_LEN);
	serial[HSM_SERIAL_LEN] = '\0';
	for (n = HSM_SERIAL_LEN; n > 0 && serial[n - 1] == ' '; n--)
		serial[n - 1] = '\0';
	snprintf(uri, sizeof(uri), "pkcs11:serial=%s", serial);
	ck_assert_int_eq(hsm_session_open(h, uri, USER_PIN, &s2), 0);
	ck_assert_uint_eq(s2->slot, s->slot);
	hsm_session_close(s2);
	s2 = NULL;
	snprintf(uri, sizeof(uri), "pkcs11:slot-id=%lu;token=Ward%%20CA%%3B1",
	    (unsigned long)s->slot);
	ck_assert_int_eq(hsm_session_open(h, uri, USER_PIN, &s2), 0);
	ck_assert_uint_eq(s2->slot, s->slot);
	hsm_session_close(s2);
	s2 = NULL;

	/* Attributes that contradict each other: no token. */
	snprintf(uri, sizeof(uri), "pkcs11:serial=%s;token=other", serial);
	ck_assert_int_eq(hsm_session_open(h, uri, USER_PIN, &s2),
	    KAGI_ERR_NOT_FOUND);
	/* Two tokens match an empty selection: ambiguous. */
	ck_assert_int_eq(hsm_session_open(h, "pkcs11:", USER_PIN, &s2),
	    KAGI_ERR_CONFLICT);
	/* Refused forms. */
	ck_assert_int_eq(hsm_session_open(h, "pkcs11:object=ca", USER_PIN,
	    &s2), KAGI_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(logbuf, "unsupported path attribute"));
	ck_assert_int_eq(hsm_session_open(h, "pkcs11:token=Ward%2", USER_PIN,
	    &s2), KAGI_ERR_FORMAT);
	ck_assert_int_eq(hsm_session_open(h, "pkcs11:token=Ward%zz", USER_PIN,
	    &s2), KAGI_ERR_FORMAT);
	ck_assert_int_eq(hsm_session_open(h, "pkcs11:token=a%00b", USER_PIN,
	    &s2), KAGI_ERR_FORMAT);
	ck_assert_int_eq(hsm_session_open(h, "pkcs11:token=a;token=b",
	    USER_PIN, &s2), KAGI_ERR_FORMAT);
	ck_assert_int_eq(hsm_session_open(h, "pkcs11:slot-id=-1", USER_PIN,
	    &s2), KAGI_ERR_FORMAT);
	ck_assert_int_eq(hsm_session_open(h,
	    "pkcs11:token=0123456789abcdef0123456789abcdefX", USER_PIN, &s2),
	    KAGI_ERR_LIMIT);
	ck_assert_ptr_null(s2);
	hsm_session_close(s);
	hsm_close(h);
}
END_TEST

START_TEST(uri_with_pin_value_refused)
{
	struct hsm *h = NULL;
	struct hsm_session *s = NULL;

	open_token("kagi-test", &h, &s);
	hsm_session_close(s);
	s = NULL;
	ck_assert_int_eq(hsm_session_open(h,
	    "pkcs11:token=kagi-test?pin-value=" USER_PIN, USER_PIN, &s),
	    KAGI_ERR_INVALID);
	ck_assert_ptr_null(s);
	ck_assert_int_eq(hsm_session_open(h,
	    "pkcs11:token=kagi-test?module-path=/tmp/evil.so", USER_PIN, &s),
	    KAGI_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(logbuf, "PINs are not accepted"));
	ck_assert_ptr_null(strstr(logbuf, USER_PIN));
	ck_assert_ptr_null(strstr(logbuf, "evil"));
	hsm_close(h);
}
END_TEST

START_TEST(siglen_too_small)
{
	struct hsm *h = NULL;
	struct hsm_session *s = NULL;
	struct hsm_key *k = NULL;
	uint8_t dg[48] = { 0 }, sig[512];
	size_t siglen;

	open_token("kagi-test", &h, &s);
	ck_assert_int_eq(hsm_key_generate(s, "ec", HSM_KEY_EC_P256, &k), 0);
	siglen = 8;
	ck_assert_int_eq(hsm_key_sign(k, EVP_sha256(), dg, 32, sig, &siglen),
	    KAGI_ERR_LIMIT);
	ck_assert_uint_eq(siglen, 0);
	/* The maximum DER size fits. */
	siglen = 72;
	ck_assert_int_eq(hsm_key_sign(k, EVP_sha256(), dg, 32, sig, &siglen),
	    0);
	ck_assert_uint_le(siglen, 72);
	/* Digest and md disagree; SHA-1 is not allowed. */
	siglen = sizeof(sig);
	ck_assert_int_eq(hsm_key_sign(k, EVP_sha256(), dg, 48, sig, &siglen),
	    KAGI_ERR_INVALID);
	siglen = sizeof(sig);
	ck_assert_int_eq(hsm_key_sign(k, EVP_sha1(), dg, 20, sig, &siglen),
	    KAGI_ERR_INVALID);
	hsm_key_free(k);

	ck_assert_int_eq(hsm_key_generate(s, "rsa", HSM_KEY_RSA_2048, &k), 0);
	siglen = 255;
	ck_assert_int_eq(hsm_key_sign(k, EVP_sha256(), dg, 32, sig, &siglen),
	    KAGI_ERR_LIMIT);
	siglen = 256;
	ck_assert_int_eq(hsm_key_sign(k, EVP_sha256(), dg, 32, sig, &siglen),
	    0);
	ck_assert_uint_eq(siglen, 256);
	hsm_key_free(k);
	hsm_session_close(s);
	hsm_close(h);
}
END_TEST

START_TEST(opensc_module_no_card)
{
	struct hsm *h = NULL;
	struct hsm_session *s = NULL;
	const char *osc = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";

	/* OpenSC loads and answers; no card carries this label. */
	ck_assert_int_eq(access(osc, R_OK), 0);
	ck_assert_int_eq(hsm_open(osc, &h), 0);
	ck_assert_int_eq(hsm_session_open(h, "pkcs11:token=kagi-no-such-card",
	    "123456", &s), KAGI_ERR_NOT_FOUND);
	ck_assert_ptr_null(s);
	hsm_close(h);
}
END_TEST

/* CKA_EC_POINT as PKCS#11 v2.40 says (DER OCTET STRING) and raw. */
START_TEST(ec_point_wrapped_and_raw)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	uint8_t pt[65], buf[80];
	const uint8_t *out = NULL;
	size_t n = 0, outlen = 0;

	ck_assert_ptr_nonnull(pk);
	ck_assert_int_eq(EVP_PKEY_get_octet_string_param(pk,
	    "encoded-pub-key", pt, sizeof(pt), &n), 1);
	ck_assert_uint_eq(n, 65);
	ck_assert_uint_eq(pt[0], 0x04);
	/* Raw. */
	ck_assert_int_eq(hsm_ec_point_unwrap(pt, 65, 32, &out, &outlen), 0);
	ck_assert_ptr_eq(out, pt);
	ck_assert_uint_eq(outlen, 65);
	/* Wrapped. */
	buf[0] = 0x04;
	buf[1] = 65;
	memcpy(buf + 2, pt, 65);
	ck_assert_int_eq(hsm_ec_point_unwrap(buf, 67, 32, &out, &outlen), 0);
	ck_assert_ptr_eq(out, buf + 2);
	ck_assert_uint_eq(outlen, 65);
	/* trailing_byte, truncated, wrong curve size, compressed point. */
	buf[67] = 0;
	ck_assert_int_eq(hsm_ec_point_unwrap(buf, 68, 32, &out, &outlen),
	    KAGI_ERR_FORMAT);
	ck_assert_int_eq(hsm_ec_point_unwrap(buf, 66, 32, &out, &outlen),
	    KAGI_ERR_FORMAT);
	ck_assert_int_eq(hsm_ec_point_unwrap(buf, 67, 48, &out, &outlen),
	    KAGI_ERR_FORMAT);
	pt[0] = 0x02;
	ck_assert_int_eq(hsm_ec_point_unwrap(pt, 33, 32, &out, &outlen),
	    KAGI_ERR_FORMAT);
	ck_assert_int_eq(hsm_ec_point_unwrap(pt, 65, 32, &out, &outlen),
	    KAGI_ERR_FORMAT);
	EVP_PKEY_free(pk);
}
END_TEST

/* PIN files (R-KEY: secrets only in 0600 files owned by the service). */
static void
pin_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

START_TEST(pin_file_ok)
{
	char path[512];
	char *pin = NULL;

	pin_path(path, sizeof(path), "pin");
	write_file(path, "123456\n", 7, 0600);
	ck_assert_int_eq(hsm_pin_read(path, &pin), 0);
	ck_assert_str_eq(pin, "123456");
	kagi_secure_strfree(pin);
	pin = NULL;
	/* No newline, and exactly 64 bytes plus a newline. */
	write_file(path, "abc", 3, 0600);
	ck_assert_int_eq(hsm_pin_read(path, &pin), 0);
	ck_assert_str_eq(pin, "abc");
	kagi_secure_strfree(pin);
	pin = NULL;
	write_file(path, "0123456789012345678901234567890123456789"
	    "012345678901234567890123\n", 65, 0600);
	ck_assert_int_eq(hsm_pin_read(path, &pin), 0);
	ck_assert_uint_eq(strlen(pin), 64);
	kagi_secure_strfree(pin);
}
END_TEST

START_TEST(pin_file_mode_0644_refused)
{
	char path[512];
	char *pin = NULL;

	pin_path(path, sizeof(path), "pin");
	write_file(path, "123456\n", 7, 0644);
	ck_assert_int_eq(hsm_pin_read(path, &pin), KAGI_ERR_PERM);
	ck_assert_ptr_null(pin);
	ck_assert_ptr_nonnull(strstr(logbuf, "0644"));
	ck_assert_ptr_null(strstr(logbuf, "123456"));
	write_file(path, "123456\n", 7, 0640);
	ck_assert_int_eq(hsm_pin_read(path, &pin), KAGI_ERR_PERM);
}
END_TEST

START_TEST(pin_file_symlink_refused)
{
	char path[512], link[512];
	char *pin = NULL;

	pin_path(path, sizeof(path), "pin");
	pin_path(link, sizeof(link), "pin-link");
	write_file(path, "123456\n", 7, 0600);
	ck_assert_int_eq(symlink(path, link), 0);
	ck_assert_int_eq(hsm_pin_read(link, &pin), KAGI_ERR_PERM);
	ck_assert_ptr_null(pin);
	ck_assert_ptr_nonnull(strstr(logbuf, "symbolic link"));
}
END_TEST

START_TEST(pin_file_empty_refused)
{
	char path[512];
	char *pin = NULL;

	pin_path(path, sizeof(path), "pin");
	write_file(path, "", 0, 0600);
	ck_assert_int_eq(hsm_pin_read(path, &pin), KAGI_ERR_INVALID);
	write_file(path, "\n", 1, 0600);
	ck_assert_int_eq(hsm_pin_read(path, &pin), KAGI_ERR_INVALID);
	ck_assert_ptr_null(pin);
}
END_TEST

START_TEST(pin_file_too_long_refused)
{
	char path[512];
	char buf[80];
	char *pin = NULL;

	memset(buf, '7', sizeof(buf));
	pin_path(path, sizeof(path), "pin");
	write_file(path, buf, 65, 0600); /* 65 bytes, no newline */
	ck_assert_int_eq(hsm_pin_read(path, &pin), KAGI_ERR_LIMIT);
	write_file(path, buf, sizeof(buf), 0600);
	ck_assert_int_eq(hsm_pin_read(path, &pin), KAGI_ERR_LIMIT);
	ck_assert_ptr_null(pin);
}
END_TEST

START_TEST(pin_file_two_lines_refused)
{
	char path[512];
	char *pin = NULL;

	pin_path(path, sizeof(path), "pin");
	write_file(path, "1234\n5678\n", 10, 0600);
	ck_assert_int_eq(hsm_pin_read(path, &pin), KAGI_ERR_FORMAT);
	write_file(path, "12\0" "34\n", 6, 0600);
	ck_assert_int_eq(hsm_pin_read(path, &pin), KAGI_ERR_FORMAT);
	write_file(path, "1234\r\n", 6, 0600);
	ck_assert_int_eq(hsm_pin_read(path, &pin), KAGI_ERR_FORMAT);
	ck_assert_ptr_null(pin);
}
END_TEST

START_TEST(pin_file_missing)
{
	char path[512];
	char *pin = NULL;

	pin_path(path, sizeof(path), "absent");
	ck_assert_int_eq(hsm_pin_read(path, &pin), KAGI_ERR_NOT_FOUND);
	ck_assert_ptr_null(pin);
}
END_TEST

static Suite *
hsm_suite(void)
{
	Suite *su = suite_create("hsm");
	TCase *tc = tcase_create("softhsm2");
	TCase *tp = tcase_create("pin_file");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, token_init_and_login);
	tcase_add_loop_test(tc, generate_sign_verify, 0,
	    (int)(sizeof(keytypes) / sizeof(keytypes[0])));
	tcase_add_test(tc, keys_are_sensitive_not_extractable);
	tcase_add_test(tc, find_by_label_after_reopen);
	tcase_add_test(tc, wrong_pin);
	tcase_add_test(tc, missing_token);
	tcase_add_test(tc, duplicate_token_label);
	tcase_add_test(tc, duplicate_key_label);
	tcase_add_test(tc, bad_module_path);
	tcase_add_test(tc, not_a_pkcs11_module);
	tcase_add_test(tc, uri_selection);
	tcase_add_test(tc, uri_with_pin_value_refused);
	tcase_add_test(tc, siglen_too_small);
	tcase_add_test(tc, opensc_module_no_card);
	tcase_add_test(tc, ec_point_wrapped_and_raw);
	suite_add_tcase(su, tc);

	tcase_add_checked_fixture(tp, setup, teardown);
	tcase_add_test(tp, pin_file_ok);
	tcase_add_test(tp, pin_file_mode_0644_refused);
	tcase_add_test(tp, pin_file_symlink_refused);
	tcase_add_test(tp, pin_file_empty_refused);
	tcase_add_test(tp, pin_file_too_long_refused);
	tcase_add_test(tp, pin_file_two_lines_refused);
	tcase_add_test(tp, pin_file_missing);
	suite_add_tcase(su, tp);
	return su;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	snprintf(basedir, sizeof(basedir), "/tmp/kagi-hsm-XXXXXX");
	if (mkdtemp(basedir) == NULL) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	sr = srunner_create(hsm_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	(void)nftw(basedir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
