/*
 * store record codecs: round trips and mutation loops (STYLE 14).  Every
 * record type goes through encode/decode; every encoded record is bit-flipped,
 * truncated and extended, and must never crash, never decode partially and
 * never decode back to the original value.  Refusals are named after the
 * fault (truncated_record, trailing_bytes, bad_version, oversize_string,
 * bad_enum).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "kagi/kbuf.h"
#include "kagi/store.h"
#include "store_int.h"

/* A uniform view over the three codecs for the table-driven loops. */
struct codec {
	const char *name;
	size_t size;
	void (*make)(void *rec);
	int (*enc)(const void *rec, struct kbuf *out);
	int (*dec)(const uint8_t *p, size_t len, void *out);
	void (*clear)(void *rec);
	int (*eq)(const void *a, const void *b);
};

static void mk_person(void *r) { th_person(r, "A-10234"); }
static void mk_account(void *r) { th_account(r, "hanako.y", STORE_PW_HISTORY_MAX); }
static void mk_account0(void *r) { th_account(r, "svc_backup", 0); }
static void mk_audit(void *r) { th_audit(r, 42); }
static int enc_person(const void *r, struct kbuf *o) { return store_person_encode(r, o); }
static int enc_account(const void *r, struct kbuf *o) { return store_account_encode(r, o); }
static int enc_audit(const void *r, struct kbuf *o) { return store_audit_encode(r, o); }
static int dec_person(const uint8_t *p, size_t n, void *o) { return store_person_decode(p, n, o); }
static int dec_account(const uint8_t *p, size_t n, void *o) { return store_account_decode(p, n, o); }
static int dec_audit(const uint8_t *p, size_t n, void *o) { return store_audit_decode(p, n, o); }
static void clr_person(void *r) { store_person_clear(r); }
static void clr_account(void *r) { store_account_clear(r); }
static void clr_audit(void *r) { store_audit_clear(r); }
static int eq_person(const void *a, const void *b) { return th_person_eq(a, b); }
static int eq_account(const void *a, const void *b) { return th_account_eq(a, b); }
static int eq_audit(const void *a, const void *b) { return th_audit_eq(a, b); }

static const struct codec codecs[] = {
	{ "person", sizeof(struct store_person), mk_person, enc_person,
	  dec_person, clr_person, eq_person },
	{ "account", sizeof(struct store_account), mk_account, enc_account,
	  dec_account, clr_account, eq_account },
	{ "account-nohist", sizeof(struct store_account), mk_account0,
	  enc_account, dec_account, clr_account, eq_account },
	{ "audit", sizeof(struct store_audit), mk_audit, enc_audit, dec_audit,
	  clr_audit, eq_audit },
};
#define NCODECS (sizeof(codecs) / sizeof(codecs[0]))

/* Aligned scratch big enough for any record struct. */
union anyrec {
	struct store_person p;
	struct store_account a;
	struct store_audit u;
};

static int
is_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

/* Encode the codec's sample record into a malloc'ed buffer. */
static uint8_t *
encode_sample(const struct codec *c, size_t *len)
{
	union anyrec rec;
	struct kbuf *b = kbuf_new(STORE_VALUE_MAX);
	uint8_t *out;

	ck_assert_ptr_nonnull(b);
	c->make(&rec);
	ck_assert_int_eq(c->enc(&rec, b), 0);
	*len = kbuf_len(b);
	out = malloc(*len + 64);
	ck_assert_ptr_nonnull(out);
	memcpy(out, kbuf_ptr(b), *len);
	kbuf_free(b);
	c->clear(&rec);
	return out;
}

START_TEST(roundtrip)
{
	const struct codec *c = &codecs[_i];
	union anyrec orig, dec;
	struct kbuf *b = kbuf_new(STORE_VALUE_MAX), *b2 = kbuf_new(STORE_VALUE_MAX);

	c->make(&orig);
	ck_assert_int_eq(c->enc(&orig, b), 0);
	ck_assert_int_eq(c->dec(kbuf_ptr(b), kbuf_len(b), &dec), 0);
	ck_assert_msg(c->eq(&orig, &dec), "%s: decoded value differs", c->name);
	/* Canonical: the decoded value re-encodes to the same bytes. */
	ck_assert_int_eq(c->enc(&dec, b2), 0);
	ck_assert_uint_eq(kbuf_len(b), kbuf_len(b2));
	ck_assert(memcmp(kbuf_ptr(b), kbuf_ptr(b2), kbuf_len(b)) == 0);
	ck_assert_uint_eq(kbuf_ptr(b)[0], STORE_REC_VERSION);
	c->clear(&orig);
	c->clear(&dec);
	ck_assert(is_zero(&dec, c->size));
	kbuf_free(b);
	kbuf_free(b2);
}
END_TEST

START_TEST(truncated_record)
{
	const struct codec *c = &codecs[_i];
	union anyrec dec;
	size_t len, n;
	uint8_t *enc = encode_sample(c, &len);

	for (n = 0; n < len; n++) {
		/* A copy of exactly n bytes so ASan sees any over-read. */
		uint8_t *p = malloc(n == 0 ? 1 : n);

		memcpy(p, enc, n);
		memset(&dec, 0x5a, sizeof(dec));
		ck_assert_msg(c->dec(p, n, &dec) != 0,
		    "%s: truncated at %zu of %zu decoded", c->name, n, len);
		ck_assert_msg(is_zero(&dec, c->size),
		    "%s: partial output at %zu", c->name, n);
		free(p);
	}
	free(enc);
}
END_TEST

START_TEST(trailing_bytes)
{
	const struct codec *c = &codecs[_i];
	static const uint8_t tails[] = { 0x00, 0x01, 0xff, 0x80 };
	union anyrec dec;
	size_t len, extra, t;
	uint8_t *enc = encode_sample(c, &len);

	for (t = 0; t < sizeof(tails); t++) {
		for (extra = 1; extra <= 64; extra++) {
			memset(enc + len, tails[t], extra);
			memset(&dec, 0x5a, sizeof(dec));
			ck_assert_int_eq(c->dec(enc, len + extra, &dec),
			    KAGI_ERR_TRAILING);
			ck_assert(is_zero(&dec, c->size));
		}
	}
	free(enc);
}
END_TEST

START_TEST(bit_flips)
{
	const struct codec *c = &codecs[_i];
	union anyrec orig, dec;
	struct kbuf *re = kbuf_new(STORE_VALUE_MAX);
	size_t len, bit, accepted = 0;
	uint8_t *enc = encode_sample(c, &len);

	c->make(&orig);
	for (bit = 0; bit < len * 8; bit++) {
		enc[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		memset(&dec, 0x5a, sizeof(dec));
		if (c->dec(enc, len, &dec) == 0) {
			/*
			 * Accepted only if it is a different, canonical
			 * value: it re-encodes to exactly the flipped bytes.
			 */
			accepted++;
			ck_assert_msg(!c->eq(&orig, &dec),
			    "%s: flip of bit %zu decoded to the original",
			    c->name, bit);
			kbuf_reset(re);
			ck_assert_int_eq(c->enc(&dec, re), 0);
			ck_assert_uint_eq(kbuf_len(re), len);
			ck_assert(memcmp(kbuf_ptr(re), enc, len) == 0);
			c->clear(&dec);
		} else
			ck_assert_msg(is_zero(&dec, c->size),
			    "%s: partial output after flip %zu", c->name, bit);
		enc[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	/* Sanity: the loop restored the record. */
	ck_assert_int_eq(c->dec(enc, len, &dec), 0);
	ck_assert(c->eq(&orig, &dec));
	ck_assert_uint_lt(accepted, len * 8);
	c->clear(&dec);
	c->clear(&orig);
	kbuf_free(re);
	free(enc);
}
END_TEST

START_TEST(bad_version)
{
	const struct codec *c = &codecs[_i];
	static const struct { uint8_t v; int want; } vs[] = {
		{ 0, KAGI_ERR_FORMAT }, { 2, KAGI_ERR_VERSION },
		{ 0x7f, KAGI_ERR_VERSION }, { 0xff, KAGI_ERR_VERSION },
	};
	union anyrec dec;
	size_t len, i;
	uint8_t *enc = encode_sample(c, &len);

	for (i = 0; i < sizeof(vs) / sizeof(vs[0]); i++) {
		enc[0] = vs[i].v;
		memset(&dec, 0x5a, sizeof(dec));
		ck_assert_int_eq(c->dec(enc, len, &dec), vs[i].want);
		ck_assert(is_zero(&dec, c->size));
	}
	/* Empty input. */
	ck_assert_int_ne(c->dec(enc, 0, &dec), 0);
	free(enc);
}
END_TEST

/* A string of n copies of ch (malloc'ed). */
static char *
rep(char ch, size_t n)
{
	char *s = malloc(n + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, ch, n);
	s[n] = '\0';
	return s;
}

/* Encode with one string field replaced, expecting want; restores it. */
static void
enc_expect(const struct codec *c, void *rec, char **field, char *val, int want)
{
	struct kbuf *b = kbuf_new(STORE_VALUE_MAX);
	char *save = *field;

	*field = val;
	ck_assert_int_eq(c->enc(rec, b), want);
	ck_assert_uint_eq(kbuf_len(b), 0); /* nothing written on refusal */
	*field = save;
	free(val);
	kbuf_free(b);
}

/*
 * Hand-built value: version, then the person fields, with the name string
 * given as raw length + bytes so a decoder sees an oversize prefix.
 */
static struct kbuf *
raw_person_with_name(size_t namelen)
{
	struct kbuf *b = kbuf_new(STORE_VALUE_MAX);
	char *name = rep('x', namelen);
	int i;

	ck_assert_int_eq(kbuf_put_u8(b, 1), 0);
	ck_assert_int_eq(kbuf_put_string(b, "A-1"), 0);
	ck_assert_int_eq(kbuf_put_string(b, name), 0);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(kbuf_put_string(b, ""), 0);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(kbuf_put_i64(b, 0), 0);
	free(name);
	return b;
}

START_TEST(oversize_string)
{
	struct store_person p;
	struct store_account a;
	struct store_audit u;
	struct kbuf *b;

	th_person(&p, "A-1");
	enc_expect(&codecs[0], &p, &p.name, rep('n', STORE_NAME_MAX + 1),
	    KAGI_ERR_LIMIT);
	enc_expect(&codecs[0], &p, &p.employment, rep('e', STORE_SHORT_MAX + 1),
	    KAGI_ERR_LIMIT);
	enc_expect(&codecs[0], &p, &p.staff_no, rep('1', STORE_KEY_MAX + 1),
	    KAGI_ERR_INVALID);
	store_person_clear(&p);

	th_account(&a, "hanako", 3);
	enc_expect(&codecs[1], &a, &a.login, rep('l', STORE_KEY_MAX + 1),
	    KAGI_ERR_INVALID);
	enc_expect(&codecs[1], &a, &a.pw_hash, rep('h', STORE_PWHASH_MAX + 1),
	    KAGI_ERR_LIMIT);
	enc_expect(&codecs[1], &a, &a.pw_history[2],
	    rep('h', STORE_PWHASH_MAX + 1), KAGI_ERR_LIMIT);
	enc_expect(&codecs[1], &a, &a.last_login_terminal,
	    rep('t', STORE_TERMINAL_MAX + 1), KAGI_ERR_LIMIT);
	store_account_clear(&a);

	th_audit(&u, 1);
	enc_expect(&codecs[3], &u, &u.actor, rep('a', STORE_AUDIT_FIELD_MAX + 1),
	    KAGI_ERR_LIMIT);
	enc_expect(&codecs[3], &u, &u.detail,
	    rep('d', STORE_AUDIT_DETAIL_MAX + 1), KAGI_ERR_LIMIT);
	/* At the cap is fine. */
	{
		struct kbuf *ok = kbuf_new(STORE_VALUE_MAX);
		char *save = u.detail;

		u.detail = rep('d', STORE_AUDIT_DETAIL_MAX);
		ck_assert_int_eq(store_audit_encode(&u, ok), 0);
		free(u.detail);
		u.detail = save;
		kbuf_free(ok);
	}
	store_audit_clear(&u);

	/* Decoders refuse an oversize length prefix. */
	b = raw_person_with_name(STORE_NAME_MAX);
	ck_assert_int_eq(store_person_decode(kbuf_ptr(b), kbuf_len(b), &p), 0);
	store_person_clear(&p);
	kbuf_free(b);
	b = raw_person_with_name(STORE_NAME_MAX + 1);
	memset(&p, 0x5a, sizeof(p));
	ck_assert_int_eq(store_person_decode(kbuf_ptr(b), kbuf_len(b), &p),
	    KAGI_ERR_LIMIT);
	ck_assert(is_zero(&p, sizeof(p)));
	kbuf_free(b);
}
END_TEST

/* Offset of the byte after the login and staff_no strings of an account. */
static size_t
account_kind_off(const struct store_account *a)
{
	return 1 + 4 + strlen(a->login) + 4 + strlen(a->staff_no);
}

START_TEST(bad_enum)
{
	struct store_account a, d;
	struct kbuf *b = kbuf_new(STORE_VALUE_MAX);
	uint8_t *p;
	size_t len, off, temp_off, hist_off;

	th_account(&a, "hanako", 2);
	/* Encoder refuses out-of-range enums and flags. */
	a.kind = STORE_KIND_COUNT;
	ck_assert_int_eq(store_account_encode(&a, b), KAGI_ERR_INVALID);
	a.kind = STORE_KIND_SHARED;
	a.state = STORE_ACCT_STATE_COUNT;
	ck_assert_int_eq(store_account_encode(&a, b), KAGI_ERR_INVALID);
	a.state = STORE_ACCT_ACTIVE;
	a.pw_temp = 2;
	ck_assert_int_eq(store_account_encode(&a, b), KAGI_ERR_INVALID);
	a.pw_temp = 0;
	a.pw_history_n = STORE_PW_HISTORY_MAX + 1;
	ck_assert_int_eq(store_account_encode(&a, b), KAGI_ERR_LIMIT);
	a.pw_history_n = 2;
	ck_assert_uint_eq(kbuf_len(b), 0);
	ck_assert_int_eq(store_account_encode(&a, b), 0);

	len = kbuf_len(b);
	p = malloc(len);
	memcpy(p, kbuf_ptr(b), len);
	off = account_kind_off(&a);
	temp_off = off + 1 + 1 + 4 + 4 + strlen(a.pw_hash);
	hist_off = temp_off + 1 + 8 + 8 + 4;
	ck_assert_int_eq(store_account_decode(p, len, &d), 0);
	ck_assert_uint_eq(d.kind, STORE_KIND_SHARED);
	store_account_clear(&d);

	/* Decoder: kind, state, flag, history count, each in turn. */
	p[off] = STORE_KIND_COUNT;
	ck_assert_int_eq(store_account_decode(p, len, &d), KAGI_ERR_FORMAT);
	p[off] = 0xff;
	ck_assert_int_eq(store_account_decode(p, len, &d), KAGI_ERR_FORMAT);
	p[off] = STORE_KIND_SHARED;
	p[off + 1] = STORE_ACCT_STATE_COUNT;
	ck_assert_int_eq(store_account_decode(p, len, &d), KAGI_ERR_FORMAT);
	p[off + 1] = STORE_ACCT_ACTIVE;
	p[temp_off] = 2;
	ck_assert_int_eq(store_account_decode(p, len, &d), KAGI_ERR_FORMAT);
	p[temp_off] = 0;
	ck_assert_uint_eq(p[hist_off + 3], 2); /* found the count */
	p[hist_off + 3] = STORE_PW_HISTORY_MAX + 1;
	ck_assert_int_eq(store_account_decode(p, len, &d), KAGI_ERR_LIMIT);
	ck_assert(is_zero(&d, sizeof(d)));
	p[hist_off + 3] = 2;
	ck_assert_int_eq(store_account_decode(p, len, &d), 0);
	store_account_clear(&d);
	free(p);
	store_account_clear(&a);
	kbuf_free(b);
}
END_TEST

START_TEST(bad_key)
{
	struct store_person p;
	struct store_account a;
	struct store_audit u;
	struct kbuf *b = kbuf_new(STORE_VALUE_MAX);

	th_person(&p, "A-1");
	enc_expect(&codecs[0], &p, &p.staff_no, strdup("A/1"), KAGI_ERR_INVALID);
	enc_expect(&codecs[0], &p, &p.staff_no, strdup(""), KAGI_ERR_INVALID);
	store_person_clear(&p);
	th_account(&a, "hanako", 0);
	enc_expect(&codecs[1], &a, &a.login, strdup("-rf"), KAGI_ERR_INVALID);
	enc_expect(&codecs[1], &a, &a.login, strdup("a b"), KAGI_ERR_INVALID);
	enc_expect(&codecs[1], &a, &a.staff_no, strdup("x:y"), KAGI_ERR_INVALID);
	/* A service account has no person. */
	free(a.staff_no);
	a.staff_no = NULL;
	ck_assert_int_eq(store_account_encode(&a, b), 0);
	store_account_clear(&a);
	th_audit(&u, 1);
	u.seq = 0;
	kbuf_reset(b);
	ck_assert_int_eq(store_audit_encode(&u, b), KAGI_ERR_INVALID);
	u.seq = 1;
	enc_expect(&codecs[3], &u, &u.action, strdup(""), KAGI_ERR_INVALID);
	enc_expect(&codecs[3], &u, &u.detail, strdup("\xff\xfe"),
	    KAGI_ERR_INVALID);
	store_audit_clear(&u);
	kbuf_free(b);
}
END_TEST

static Suite *
codec_suite(void)
{
	Suite *s = suite_create("store_codec");
	TCase *tc = tcase_create("codec");

	tcase_add_loop_test(tc, roundtrip, 0, (int)NCODECS);
	tcase_add_loop_test(tc, truncated_record, 0, (int)NCODECS);
	tcase_add_loop_test(tc, trailing_bytes, 0, (int)NCODECS);
	tcase_add_loop_test(tc, bit_flips, 0, (int)NCODECS);
	tcase_add_loop_test(tc, bad_version, 0, (int)NCODECS);
	tcase_add_test(tc, oversize_string);
	tcase_add_test(tc, bad_enum);
	tcase_add_test(tc, bad_key);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(codec_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
