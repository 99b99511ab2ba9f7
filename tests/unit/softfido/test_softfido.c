/*
 * The software authenticator, driven through libfido2's own client code
 * (fido_dev_open, fido_dev_make_cred, fido_dev_get_assert, fido_dev_set_pin)
 * and checked with libfido2's verifiers; plus raw CTAPHID reports and raw
 * CTAP2 CBOR to prove that malformed requests get an error, never a crash.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fido.h>
#include <fido/es256.h>
#include <openssl/rand.h>

#include "kagi/err.h"
#include "kagi/log.h"
#include "softfido.h"

#define RP "kagi.example.lg.jp"
#define PIN "4826"

static const uint8_t cdh[32] = "0123456789abcdef0123456789abcde";

static fido_dev_t *
open_dev(struct softfido *sf)
{
	fido_dev_t *dev = fido_dev_new();

	ck_assert_ptr_nonnull(dev);
	ck_assert_int_eq(softfido_open(sf, dev), 0);
	ck_assert(fido_dev_is_fido2(dev));
	return dev;
}

static void
close_dev(fido_dev_t **dev)
{
	fido_dev_close(*dev);
	fido_dev_free(dev);
}

static int
make_cred(struct softfido *sf, const char *pin, int uv, fido_cred_t **out)
{
	fido_dev_t *dev = open_dev(sf);
	fido_cred_t *c = fido_cred_new();
	static const uint8_t uid[] = { 1, 2, 3, 4 };
	int rc;

	ck_assert_int_eq(fido_cred_set_type(c, COSE_ES256), FIDO_OK);
	ck_assert_int_eq(fido_cred_set_clientdata_hash(c, cdh, sizeof(cdh)),
	    FIDO_OK);
	ck_assert_int_eq(fido_cred_set_rp(c, RP, "kagi"), FIDO_OK);
	ck_assert_int_eq(fido_cred_set_user(c, uid, sizeof(uid), "taro",
	    "Yamada Taro", NULL), FIDO_OK);
	if (uv)
		ck_assert_int_eq(fido_cred_set_uv(c, FIDO_OPT_TRUE), FIDO_OK);
	rc = fido_dev_make_cred(dev, c, pin);
	close_dev(&dev);
	if (rc == FIDO_OK && out != NULL)
		*out = c;
	else
		fido_cred_free(&c);
	return rc;
}

static int
get_assert(struct softfido *sf, const char *rp, const fido_cred_t *c,
    const char *pin, fido_opt_t up, fido_opt_t uv, fido_assert_t **out)
{
	fido_dev_t *dev = open_dev(sf);
	fido_assert_t *a = fido_assert_new();
	int rc;

	ck_assert_int_eq(fido_assert_set_clientdata_hash(a, cdh, sizeof(cdh)),
	    FIDO_OK);
	ck_assert_int_eq(fido_assert_set_rp(a, rp), FIDO_OK);
	ck_assert_int_eq(fido_assert_allow_cred(a, fido_cred_id_ptr(c),
	    fido_cred_id_len(c)), FIDO_OK);
	ck_assert_int_eq(fido_assert_set_up(a, up), FIDO_OK);
	ck_assert_int_eq(fido_assert_set_uv(a, uv), FIDO_OK);
	rc = fido_dev_get_assert(dev, a, pin);
	close_dev(&dev);
	if (rc == FIDO_OK && out != NULL)
		*out = a;
	else
		fido_assert_free(&a);
	return rc;
}

/* libfido2 verifies the assertion with the credential's public key. */
static int
verify_assert(const fido_cred_t *c, fido_assert_t *a, fido_opt_t up)
{
	es256_pk_t *pk = es256_pk_new();
	int rc;

	ck_assert_int_eq(es256_pk_from_ptr(pk, fido_cred_pubkey_ptr(c),
	    fido_cred_pubkey_len(c)), FIDO_OK);
	ck_assert_int_eq(fido_assert_set_up(a, up), FIDO_OK);
	rc = fido_assert_verify(a, 0, COSE_ES256, pk);
	es256_pk_free(&pk);
	return rc;
}

START_TEST(getinfo_through_libfido2)
{
	struct softfido *sf = softfido_new(NULL);
	fido_dev_t *dev = open_dev(sf);
	fido_cbor_info_t *ci = fido_cbor_info_new();

	ck_assert_int_eq(fido_dev_get_cbor_info(dev, ci), FIDO_OK);
	ck_assert_uint_eq(fido_cbor_info_versions_len(ci), 1);
	ck_assert_str_eq(fido_cbor_info_versions_ptr(ci)[0], "FIDO_2_0");
	ck_assert_uint_eq(fido_cbor_info_aaguid_len(ci), 16);
	ck_assert_mem_eq(fido_cbor_info_aaguid_ptr(ci),
	    SOFTFIDO_DEFAULT_AAGUID, 16);
	ck_assert_uint_eq(fido_cbor_info_protocols_len(ci), 1);
	ck_assert_uint_eq(fido_cbor_info_protocols_ptr(ci)[0], 1);
	ck_assert(fido_dev_supports_pin(dev));
	ck_assert(!fido_dev_has_pin(dev));
	fido_cbor_info_free(&ci);
	close_dev(&dev);
	ck_assert_int_eq(softfido_set_pin(sf, PIN), 0);
	dev = open_dev(sf);
	ck_assert(fido_dev_has_pin(dev));
	close_dev(&dev);
	softfido_free(sf);
}
END_TEST

START_TEST(register_and_assert_verify_with_libfido2)
{
	struct softfido *sf = softfido_new(NULL);
	fido_cred_t *c = NULL;
	fido_assert_t *a = NULL;
	uint32_t first;

	ck_assert_int_eq(make_cred(sf, NULL, 0, &c), FIDO_OK);
	ck_assert_str_eq(fido_cred_fmt(c), "packed");
	ck_assert_ptr_null(fido_cred_x5c_ptr(c));
	ck_assert_int_eq(fido_cred_verify_self(c), FIDO_OK);
	ck_assert_uint_ge(fido_cred_id_len(c), 32);
	ck_assert_uint_le(fido_cred_id_len(c), 64);
	ck_assert(fido_cred_flags(c) & 0x01);
	ck_assert(!(fido_cred_flags(c) & 0x04));
	first = fido_cred_sigcount(c);
	ck_assert_uint_eq(first, 1);
	ck_assert_int_eq(get_assert(sf, RP, c, NULL, FIDO_OPT_OMIT,
	    FIDO_OPT_OMIT, &a), FIDO_OK);
	ck_assert_int_eq(verify_assert(c, a, FIDO_OPT_TRUE), FIDO_OK);
	ck_assert_uint_eq(fido_assert_sigcount(a, 0), first + 1);
	ck_assert_mem_eq(fido_assert_id_ptr(a, 0), fido_cred_id_ptr(c),
	    fido_cred_id_len(c));
	fido_assert_free(&a);
	ck_assert_int_eq(get_assert(sf, RP, c, NULL, FIDO_OPT_OMIT,
	    FIDO_OPT_OMIT, &a), FIDO_OK);
	ck_assert_uint_eq(fido_assert_sigcount(a, 0), first + 2);
	fido_assert_free(&a);
	fido_cred_free(&c);
	softfido_free(sf);
}
END_TEST

START_TEST(x5c_attestation_verifies)
{
	struct softfido_opts o = { .attestation = SOFTFIDO_ATT_X5C };
	struct softfido *sf = softfido_new(&o);
	fido_cred_t *c = NULL;
	const uint8_t *der;
	size_t len;

	ck_assert_int_eq(make_cred(sf, NULL, 0, &c), FIDO_OK);
	ck_assert_int_eq(softfido_attestation_cert(sf, &der, &len), 0);
	ck_assert_uint_eq(fido_cred_x5c_len(c), len);
	ck_assert_mem_eq(fido_cred_x5c_ptr(c), der, len);
	ck_assert_int_eq(fido_cred_verify(c), FIDO_OK);
	fido_cred_free(&c);
	softfido_free(sf);
}
END_TEST

START_TEST(pin_set_change_and_uv)
{
	struct softfido *sf = softfido_new(NULL);
	fido_dev_t *dev = open_dev(sf);
	fido_cred_t *c = NULL;
	fido_assert_t *a = NULL;

	ck_assert_int_eq(fido_dev_set_pin(dev, PIN, NULL), FIDO_OK);
	close_dev(&dev);
	/* PIN set: makeCredential without pinAuth is refused */
	ck_assert_int_eq(make_cred(sf, NULL, 0, NULL), FIDO_ERR_PIN_REQUIRED);
	ck_assert_int_eq(make_cred(sf, PIN, 0, &c), FIDO_OK);
	ck_assert(fido_cred_flags(c) & 0x04);
	fido_cred_set_uv(c, FIDO_OPT_TRUE);
	ck_assert_int_eq(fido_cred_verify_self(c), FIDO_OK);
	ck_assert_int_eq(get_assert(sf, RP, c, PIN, FIDO_OPT_OMIT,
	    FIDO_OPT_OMIT, &a), FIDO_OK);
	ck_assert(fido_assert_flags(a, 0) & 0x04);
	fido_assert_free(&a);
	/* without a PIN the assertion carries no UV */
	ck_assert_int_eq(get_assert(sf, RP, c, NULL, FIDO_OPT_OMIT,
	    FIDO_OPT_OMIT, &a), FIDO_OK);
	ck_assert(!(fido_assert_flags(a, 0) & 0x04));
	fido_assert_free(&a);
	/* changePIN through libfido2, then the old one is wrong */
	dev = open_dev(sf);
	ck_assert_int_eq(fido_dev_set_pin(dev, "7777", PIN), FIDO_OK);
	ck_assert_int_eq(fido_dev_set_pin(dev, "8888", PIN),
	    FIDO_ERR_PIN_INVALID);
	close_dev(&dev);
	ck_assert_int_eq(get_assert(sf, RP, c, "7777", FIDO_OPT_OMIT,
	    FIDO_OPT_OMIT, NULL), FIDO_OK);
	fido_cred_free(&c);
	softfido_free(sf);
}
END_TEST

START_TEST(wrong_pin)
{
	struct softfido *sf = softfido_new(NULL);
	fido_dev_t *dev;
	int retries = -1;

	ck_assert_int_eq(softfido_set_pin(sf, PIN), 0);
	ck_assert_int_eq(make_cred(sf, "0000", 0, NULL), FIDO_ERR_PIN_INVALID);
	ck_assert_int_eq(softfido_pin_retries(sf), SOFTFIDO_MAX_RETRIES - 1);
	dev = open_dev(sf);
	ck_assert_int_eq(fido_dev_get_retry_count(dev, &retries), FIDO_OK);
	ck_assert_int_eq(retries, SOFTFIDO_MAX_RETRIES - 1);
	close_dev(&dev);
	ck_assert_int_eq(make_cred(sf, PIN, 0, NULL), FIDO_OK);
	ck_assert_int_eq(softfido_pin_retries(sf), SOFTFIDO_MAX_RETRIES);
	softfido_free(sf);
}
END_TEST

START_TEST(pin_blocked)
{
	struct softfido *sf = softfido_new(NULL);
	int rc;

	ck_assert_int_eq(softfido_set_pin(sf, PIN), 0);
	for (int i = 0; i < SOFTFIDO_MAX_RETRIES; i++) {
		rc = make_cred(sf, "0000", 0, NULL);
		ck_assert_int_eq(rc, i == SOFTFIDO_MAX_RETRIES - 1 ?
		    FIDO_ERR_PIN_BLOCKED : FIDO_ERR_PIN_INVALID);
	}
	ck_assert_int_eq(make_cred(sf, PIN, 0, NULL), FIDO_ERR_PIN_BLOCKED);
	softfido_free(sf);
}
END_TEST

START_TEST(not_touched)
{
	struct softfido *sf = softfido_new(NULL);
	fido_cred_t *c = NULL;
	fido_assert_t *a = NULL;

	ck_assert_int_eq(make_cred(sf, NULL, 0, &c), FIDO_OK);
	ck_assert_int_eq(softfido_set_up(sf, 0), 0);
	ck_assert_int_eq(make_cred(sf, NULL, 0, NULL),
	    FIDO_ERR_OPERATION_DENIED);
	ck_assert_int_eq(get_assert(sf, RP, c, NULL, FIDO_OPT_OMIT,
	    FIDO_OPT_OMIT, NULL), FIDO_ERR_OPERATION_DENIED);
	/* up=false needs no touch, and the UP flag is then clear */
	ck_assert_int_eq(get_assert(sf, RP, c, NULL, FIDO_OPT_FALSE,
	    FIDO_OPT_OMIT, &a), FIDO_OK);
	ck_assert(!(fido_assert_flags(a, 0) & 0x01));
	ck_assert_int_eq(verify_assert(c, a, FIDO_OPT_TRUE),
	    FIDO_ERR_INVALID_PARAM);
	fido_assert_free(&a);
	fido_cred_free(&c);
	softfido_free(sf);
}
END_TEST

START_TEST(builtin_uv)
{
	struct softfido_opts o = { .builtin_uv = 1 };
	struct softfido *sf = softfido_new(&o);
	fido_cred_t *c = NULL;

	ck_assert_int_eq(make_cred(sf, NULL, 1, &c), FIDO_OK);
	ck_assert(fido_cred_flags(c) & 0x04);
	ck_assert_int_eq(softfido_set_uv(sf, 0), 0);
	ck_assert_int_eq(make_cred(sf, NULL, 1, NULL),
	    FIDO_ERR_OPERATION_DENIED);
	ck_assert_int_eq(get_assert(sf, RP, c, NULL, FIDO_OPT_OMIT,
	    FIDO_OPT_TRUE, NULL), FIDO_ERR_OPERATION_DENIED);
	fido_cred_free(&c);
	softfido_free(sf);
}
END_TEST

START_TEST(counter_modes)
{
	struct softfido *sf = softfido_new(NULL);
	fido_cred_t *c = NULL;
	fido_assert_t *a = NULL;
	static const struct {
		enum softfido_counter_mode mode;
		uint32_t start, want;
	} t[] = {
		{ SOFTFIDO_COUNTER_NORMAL, 10, 11 },
		{ SOFTFIDO_COUNTER_FROZEN, 10, 10 },
		{ SOFTFIDO_COUNTER_REWIND, 10, 9 },
		{ SOFTFIDO_COUNTER_REWIND, 0, 0 },
		{ SOFTFIDO_COUNTER_ZERO, 10, 0 },
	};

	ck_assert_int_eq(make_cred(sf, NULL, 0, &c), FIDO_OK);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_int_eq(softfido_set_counter_mode(sf, t[i].mode), 0);
		ck_assert_int_eq(softfido_set_counter(sf, t[i].start), 0);
		ck_assert_int_eq(get_assert(sf, RP, c, NULL, FIDO_OPT_OMIT,
		    FIDO_OPT_OMIT, &a), FIDO_OK);
		ck_assert_uint_eq(fido_assert_sigcount(a, 0), t[i].want);
		ck_assert_uint_eq(softfido_counter(sf), t[i].want);
		fido_assert_free(&a);
	}
	fido_cred_free(&c);
	softfido_free(sf);
}
END_TEST

START_TEST(unknown_credential)
{
	struct softfido *sf = softfido_new(NULL);
	struct softfido *other = softfido_new(NULL);
	fido_cred_t *c = NULL;

	ck_assert_int_eq(make_cred(other, NULL, 0, &c), FIDO_OK);
	ck_assert_int_eq(get_assert(sf, RP, c, NULL, FIDO_OPT_OMIT,
	    FIDO_OPT_OMIT, NULL), FIDO_ERR_NO_CREDENTIALS);
	/* right id, other relying party */
	ck_assert_int_eq(get_assert(other, "evil.example", c, NULL,
	    FIDO_OPT_OMIT, FIDO_OPT_OMIT, NULL), FIDO_ERR_NO_CREDENTIALS);
	fido_cred_free(&c);
	softfido_free(sf);
	softfido_free(other);
}
END_TEST

START_TEST(excluded_credential)
{
	struct softfido *sf = softfido_new(NULL);
	fido_cred_t *c = NULL, *c2 = fido_cred_new();
	fido_dev_t *dev;
	static const uint8_t uid[] = { 9 };

	ck_assert_int_eq(make_cred(sf, NULL, 0, &c), FIDO_OK);
	fido_cred_set_type(c2, COSE_ES256);
	fido_cred_set_clientdata_hash(c2, cdh, sizeof(cdh));
	fido_cred_set_rp(c2, RP, NULL);
	fido_cred_set_user(c2, uid, sizeof(uid), "x", NULL, NULL);
	fido_cred_exclude(c2, fido_cred_id_ptr(c), fido_cred_id_len(c));
	dev = open_dev(sf);
	ck_assert_int_eq(fido_dev_make_cred(dev, c2, NULL),
	    FIDO_ERR_CREDENTIAL_EXCLUDED);
	close_dev(&dev);
	fido_cred_free(&c2);
	fido_cred_free(&c);
	softfido_free(sf);
}
END_TEST

static char tmpdir[64];

static void
mk_tmp(void)
{
	strcpy(tmpdir, "/tmp/softfido-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
rm_tmp(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(state_file_shared)
{
	char path[128];
	struct softfido_opts o = { 0 };
	struct softfido *a, *b;
	fido_cred_t *c = NULL;
	fido_assert_t *as = NULL;

	mk_tmp();
	snprintf(path, sizeof(path), "%s/state", tmpdir);
	o.state_path = path;
	a = softfido_new(&o);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(make_cred(a, NULL, 0, &c), FIDO_OK);
	/* a second instance (think: another process) sees the credential */
	b = softfido_new(&o);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(softfido_cred_count(b), 1);
	ck_assert_int_eq(get_assert(b, RP, c, NULL, FIDO_OPT_OMIT,
	    FIDO_OPT_OMIT, &as), FIDO_OK);
	ck_assert_int_eq(verify_assert(c, as, FIDO_OPT_TRUE), FIDO_OK);
	ck_assert_uint_eq(fido_assert_sigcount(as, 0), 2);
	fido_assert_free(&as);
	/* and knobs set through one apply to the other */
	ck_assert_int_eq(softfido_set_up(a, 0), 0);
	ck_assert_int_eq(get_assert(b, RP, c, NULL, FIDO_OPT_OMIT,
	    FIDO_OPT_OMIT, NULL), FIDO_ERR_OPERATION_DENIED);
	ck_assert_int_eq(softfido_set_up(b, 1), 0);
	ck_assert_int_eq(get_assert(a, RP, c, NULL, FIDO_OPT_OMIT,
	    FIDO_OPT_OMIT, &as), FIDO_OK);
	ck_assert_uint_eq(fido_assert_sigcount(as, 0), 3);
	fido_assert_free(&as);
	softfido_free(a);
	softfido_free(b);
	fido_cred_free(&c);
	rm_tmp();
}
END_TEST

START_TEST(state_file_junk)
{
	char path[128];
	struct softfido *a = softfido_new(NULL), *b = softfido_new(NULL);
	FILE *f;
	long len;
	uint8_t *buf;
	int fd;

	mk_tmp();
	snprintf(path, sizeof(path), "%s/state", tmpdir);
	ck_assert_int_eq(softfido_set_pin(a, PIN), 0);
	ck_assert_int_eq(make_cred(a, PIN, 0, NULL), FIDO_OK);
	ck_assert_int_eq(softfido_save(a, path), 0);
	ck_assert_int_eq(softfido_load(b, path), 0);
	ck_assert_uint_eq(softfido_cred_count(b), 1);
	f = fopen(path, "rb");
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	buf = malloc((size_t)len + 1);
	ck_assert_uint_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	/* trailing byte, truncation, bad magic: refused, state untouched */
	buf[len] = 0;
	static const struct {
		size_t len;
		int flip;
		int want;
	} t[] = { { 0, 0, KAGI_ERR_TRAILING }, { 1, 0, KAGI_ERR_FORMAT },
		  { 0, 1, KAGI_ERR_FORMAT } };
	for (size_t i = 0; i < 3; i++) {
		size_t n = i == 0 ? (size_t)len + 1 : i == 1 ?
		    (size_t)len - 10 : (size_t)len;
		if (t[i].flip)
			buf[0] ^= 0xff;
		unlink(path);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(fd, buf, n), (ssize_t)n);
		close(fd);
		ck_assert_int_eq(softfido_load(b, path), t[i].want);
		ck_assert_uint_eq(softfido_cred_count(b), 1);
	}
	free(buf);
	softfido_free(a);
	softfido_free(b);
	rm_tmp();
}
END_TEST

/* --- raw CTAP2 CBOR ------------------------------------------------------ */

static uint8_t
cbor_status(struct softfido *sf, const uint8_t *req, size_t len)
{
	uint8_t resp[8192];
	size_t n = 0;

	ck_assert_int_eq(softfido_cbor(sf, req, len, resp, sizeof(resp), &n),
	    0);
	ck_assert_uint_ge(n, 1);
	return resp[0];
}

/* a valid makeCredential: {1: cdh, 2: {"id": "a"}, 3: {"id": h'01'},
 * 4: [{"alg": -7, "type": "public-key"}]} */
static const uint8_t mc_ok[] = {
	0x01, 0xa4,
	0x01, 0x58, 0x20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
	16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
	0x02, 0xa1, 0x62, 'i', 'd', 0x61, 'a',
	0x03, 0xa1, 0x62, 'i', 'd', 0x41, 0x01,
	0x04, 0x81, 0xa2, 0x63, 'a', 'l', 'g', 0x26, 0x64, 't', 'y', 'p', 'e',
	0x6a, 'p', 'u', 'b', 'l', 'i', 'c', '-', 'k', 'e', 'y',
};

START_TEST(malformed_cbor_answered)
{
	struct softfido *sf = softfido_new(NULL);
	uint8_t buf[sizeof(mc_ok) + 1];
	static const struct {
		const char *name;
		uint8_t req[16];
		size_t len;
		uint8_t want;
	} t[] = {
		{ "empty", { 0 }, 0, 0x03 },
		{ "unknown_command", { 0x55 }, 1, 0x01 },
		{ "getinfo_with_params", { 0x04, 0xa0 }, 2, 0x03 },
		{ "truncated_map", { 0x01, 0xa2, 0x01 }, 3, 0x12 },
		{ "array_root", { 0x01, 0x80 }, 2, 0x11 },
		{ "text_key", { 0x01, 0xa1, 0x61, 'a', 0x01 }, 5, 0x11 },
		{ "indefinite_map", { 0x01, 0xbf, 0xff }, 3, 0x12 },
		{ "tagged", { 0x01, 0xc0, 0xa0 }, 3, 0x12 },
		{ "huge_array_count", { 0x01, 0x9b, 0x7f, 0xff, 0xff, 0xff,
		    0xff, 0xff, 0xff, 0xff }, 10, 0x12 },
		{ "huge_bytes", { 0x01, 0xa1, 0x01, 0x5a, 0xff, 0xff, 0xff,
		    0xff }, 8, 0x12 },
		{ "too_deep", { 0x01, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81,
		    0x81, 0x81, 0x81, 0x80 }, 12, 0x12 },
		{ "duplicate_key", { 0x01, 0xa2, 0x01, 0x00, 0x01, 0x00 }, 6,
		    0x12 },
		{ "makecred_no_params", { 0x01 }, 1, 0x14 },
		{ "makecred_missing", { 0x01, 0xa1, 0x01, 0x40 }, 4, 0x14 },
		{ "getassert_wrong_types", { 0x02, 0xa2, 0x01, 0x01, 0x02,
		    0x01 }, 6, 0x11 },
		{ "clientpin_bad_protocol", { 0x06, 0xa2, 0x01, 0x07, 0x02,
		    0x01 }, 6, 0x02 },
		{ "clientpin_bad_sub", { 0x06, 0xa2, 0x01, 0x01, 0x02,
		    0x18, 0x63 }, 7, 0x3e },
		{ "getnext", { 0x08 }, 1, 0x30 },
		{ "getassert_short_cdh", { 0x02, 0xa2, 0x01, 0x61, 'a',
		    0x02, 0x40 }, 7, 0x03 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint8_t st = cbor_status(sf, t[i].req, t[i].len);

		ck_assert_msg(st == t[i].want, "%s: status 0x%02x, want 0x%02x",
		    t[i].name, st, t[i].want);
	}
	/* the valid request works, with a trailing byte it does not */
	ck_assert_uint_eq(cbor_status(sf, mc_ok, sizeof(mc_ok)), 0);
	memcpy(buf, mc_ok, sizeof(mc_ok));
	buf[sizeof(mc_ok)] = 0x00;
	ck_assert_uint_eq(cbor_status(sf, buf, sizeof(buf)), 0x12);
	softfido_free(sf);
}
END_TEST

/* Flip every bit and cut at every length: always an answer, no crash. */
START_TEST(mutated_requests_answered)
{
	struct softfido *sf = softfido_new(NULL);
	uint8_t buf[sizeof(mc_ok)];
	size_t ok = 0;

	for (size_t i = 0; i < sizeof(mc_ok); i++)
		for (int bit = 0; bit < 8; bit++) {
			memcpy(buf, mc_ok, sizeof(buf));
			buf[i] ^= (uint8_t)(1u << bit);
			if (cbor_status(sf, buf, sizeof(buf)) == 0)
				ok++;
		}
	for (size_t n = 0; n < sizeof(mc_ok); n++)
		ck_assert_uint_ne(cbor_status(sf, mc_ok, n), 0);
	/* some flips (inside the cdh, the user id) are still valid */
	ck_assert_uint_gt(ok, 0);
	ck_assert_uint_lt(ok, sizeof(mc_ok) * 8);
	softfido_free(sf);
}
END_TEST

/* --- raw CTAPHID reports ------------------------------------------------- */

struct raw {
	const fido_dev_io_t *io;
	void *h;
	uint32_t cid;
};

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
raw_write(struct raw *r, uint32_t cid, uint8_t b4, const uint8_t *rest,
    size_t n)
{
	uint8_t pkt[65];

	memset(pkt, 0, sizeof(pkt));
	put32(pkt + 1, cid);
	pkt[5] = b4;
	if (n > 0)
		memcpy(pkt + 6, rest, n);
	ck_assert_int_eq(r->io->write(r->h, pkt, sizeof(pkt)), 65);
}

/* Read one report; returns its command byte (0x80 | cmd). */
static uint8_t
raw_read(struct raw *r, uint8_t *rpt)
{
	ck_assert_int_eq(r->io->read(r->h, rpt, 64, 100), 64);
	return rpt[4];
}

static void
raw_open(struct softfido *sf, struct raw *r)
{
	uint8_t rest[10] = { 0, 8, 1, 2, 3, 4, 5, 6, 7, 8 }, rpt[64];

	r->io = softfido_io();
	r->h = r->io->open(softfido_path(sf));
	ck_assert_ptr_nonnull(r->h);
	raw_write(r, 0xffffffffu, 0x86, rest, sizeof(rest));
	ck_assert_uint_eq(raw_read(r, rpt), 0x86);
	ck_assert_uint_eq(rpt[6], 17);
	ck_assert_mem_eq(rpt + 7, rest + 2, 8);
	r->cid = (uint32_t)rpt[15] << 24 | (uint32_t)rpt[16] << 16 |
	    (uint32_t)rpt[17] << 8 | rpt[18];
	ck_assert_uint_ne(r->cid, 0);
	ck_assert_uint_ne(r->cid, 0xffffffffu);
	ck_assert_uint_eq(rpt[23] & 0x04, 0x04); /* CBOR capability */
}

static void
expect_error(struct raw *r, uint8_t code, const char *what)
{
	uint8_t rpt[64];

	ck_assert_msg(raw_read(r, rpt) == 0xbf, "%s: no ERROR", what);
	ck_assert_msg(rpt[7] == code, "%s: error 0x%02x, want 0x%02x", what,
	    rpt[7], code);
}

START_TEST(malformed_frames_answered)
{
	struct softfido *sf = softfido_new(NULL);
	struct raw r;
	uint8_t rpt[64], msg[200], got[200], rest[64];
	size_t have;

	raw_open(sf, &r);
	/* nothing queued: a read times out */
	ck_assert_int_eq(r.io->read(r.h, rpt, 64, 10), -1);
	/* a report of the wrong size is refused */
	ck_assert_int_eq(r.io->write(r.h, rpt, 64), -1);

	rest[0] = 0;
	rest[1] = 1;
	rest[2] = 0x04;
	raw_write(&r, 0xffffffffu, 0x90, rest, 3);
	expect_error(&r, 0x0b, "cbor_on_broadcast");
	raw_write(&r, 0, 0x90, rest, 3);
	expect_error(&r, 0x0b, "cid_zero");
	raw_write(&r, 0x12345678, 0x90, rest, 3);
	expect_error(&r, 0x0b, "unallocated_cid");
	rest[1] = 7;
	raw_write(&r, 0xffffffffu, 0x86, rest, 9);
	expect_error(&r, 0x03, "init_wrong_length");
	raw_write(&r, r.cid, 0x83, rest, 3);
	expect_error(&r, 0x01, "u2f_msg");
	raw_write(&r, r.cid, 0xd5, rest, 3);
	expect_error(&r, 0x01, "unknown_command");
	rest[0] = 0x1d;
	rest[1] = 0xba; /* 7610 > 7609 */
	raw_write(&r, r.cid, 0x90, rest, 2);
	expect_error(&r, 0x03, "oversize");
	rest[0] = 0;
	rest[1] = 0;
	raw_write(&r, r.cid, 0x90, rest, 2);
	expect_error(&r, 0x03, "empty_cbor");
	raw_write(&r, r.cid, 0x00, rest, 3);
	expect_error(&r, 0x04, "continuation_without_start");
	/* a two-frame message with a wrong sequence number */
	rest[0] = 0;
	rest[1] = 100;
	raw_write(&r, r.cid, 0x81, rest, 2);
	raw_write(&r, r.cid, 0x05, rest, 3);
	expect_error(&r, 0x04, "wrong_seq");
	/* a second init packet mid-message on another channel: busy */
	raw_write(&r, r.cid, 0x81, rest, 2);
	raw_write(&r, r.cid + 0x100, 0x81, rest, 2);
	expect_error(&r, 0x0b, "other_unallocated");
	raw_write(&r, r.cid, 0x81, rest, 2);
	expect_error(&r, 0x04, "restart_mid_message");
	/* malformed CBOR inside a well-framed message: CTAP2 status */
	rest[0] = 0;
	rest[1] = 3;
	rest[2] = 0x01;
	rest[3] = 0xa2;
	rest[4] = 0x01;
	raw_write(&r, r.cid, 0x90, rest, 5);
	ck_assert_uint_eq(raw_read(&r, rpt), 0x90);
	ck_assert_uint_eq(rpt[6], 1);
	ck_assert_uint_eq(rpt[7], 0x12);

	/* after all that, a multi-frame PING still echoes */
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7);
	rest[0] = 0;
	rest[1] = sizeof(msg);
	memcpy(rest + 2, msg, 57);
	raw_write(&r, r.cid, 0x81, rest, 59);
	for (uint8_t seq = 0, off = 57; off < sizeof(msg); seq++) {
		size_t n = sizeof(msg) - off < 59 ? sizeof(msg) - off : 59;

		raw_write(&r, r.cid, seq, msg + off, n);
		off = (uint8_t)(off + n);
	}
	ck_assert_uint_eq(raw_read(&r, rpt), 0x81);
	ck_assert_uint_eq(rpt[6], sizeof(msg));
	memcpy(got, rpt + 7, 57);
	have = 57;
	for (uint8_t seq = 0; have < sizeof(msg); seq++) {
		size_t n = sizeof(msg) - have < 59 ? sizeof(msg) - have : 59;

		ck_assert_uint_eq(raw_read(&r, rpt), seq);
		memcpy(got + have, rpt + 5, n);
		have += n;
	}
	ck_assert_mem_eq(got, msg, sizeof(msg));
	r.io->close(r.h);
	softfido_free(sf);
}
END_TEST

/* Random reports never crash it and it keeps working afterwards. */
START_TEST(random_frames_answered)
{
	struct softfido *sf = softfido_new(NULL);
	struct raw r;
	uint8_t pkt[65], rpt[64];
	fido_cred_t *c = NULL;

	raw_open(sf, &r);
	for (int i = 0; i < 3000; i++) {
		ck_assert_int_eq(RAND_bytes(pkt, sizeof(pkt)), 1);
		pkt[0] = 0;
		if (i % 2 == 0)
			put32(pkt + 1, r.cid);
		if (i % 3 == 0)
			pkt[5] = 0x90;
		ck_assert_int_eq(r.io->write(r.h, pkt, sizeof(pkt)), 65);
		while (r.io->read(r.h, rpt, 64, 0) == 64)
			;
	}
	r.io->close(r.h);
	ck_assert_int_eq(make_cred(sf, NULL, 0, &c), FIDO_OK);
	ck_assert_int_eq(fido_cred_verify_self(c), FIDO_OK);
	fido_cred_free(&c);
	softfido_free(sf);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("softfido");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, getinfo_through_libfido2);
	tcase_add_test(tc, register_and_assert_verify_with_libfido2);
	tcase_add_test(tc, x5c_attestation_verifies);
	tcase_add_test(tc, pin_set_change_and_uv);
	tcase_add_test(tc, wrong_pin);
	tcase_add_test(tc, pin_blocked);
	tcase_add_test(tc, not_touched);
	tcase_add_test(tc, builtin_uv);
	tcase_add_test(tc, counter_modes);
	tcase_add_test(tc, unknown_credential);
	tcase_add_test(tc, excluded_credential);
	tcase_add_test(tc, state_file_shared);
	tcase_add_test(tc, state_file_junk);
	tcase_add_test(tc, malformed_cbor_answered);
	tcase_add_test(tc, mutated_requests_answered);
	tcase_add_test(tc, malformed_frames_answered);
	tcase_add_test(tc, random_frames_answered);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	fido_init(FIDO_DISABLE_U2F_FALLBACK);
	kagi_log_set_level(KAGI_LOG_ERR); /* refusals are expected here */
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
