/* kbuf.c: the bounded buffer for untrusted bytes (STYLE.md 5, 14). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "kagi/kbuf.h"

static const uint8_t blob_bytes[] = { 0x00, 0xff, 0x10, 0x00, 0x7f };

/* One record of every type, in a fixed order. */
static struct kbuf *
encode_record(void)
{
	struct kbuf *b = kbuf_new(1024);

	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(kbuf_put_u8(b, 0xa5), 0);
	ck_assert_int_eq(kbuf_put_u16(b, 0xbeef), 0);
	ck_assert_int_eq(kbuf_put_u32(b, 0xdeadbeefu), 0);
	ck_assert_int_eq(kbuf_put_u64(b, 0x0123456789abcdefull), 0);
	ck_assert_int_eq(kbuf_put_i64(b, -1234567890123ll), 0);
	ck_assert_int_eq(kbuf_put_string(b, "鍵 key"), 0);
	ck_assert_int_eq(kbuf_put_blob(b, blob_bytes, sizeof(blob_bytes)), 0);
	ck_assert_int_eq(kbuf_put_string(b, NULL), 0);
	ck_assert_int_eq(kbuf_put(b, "xy", 2), 0);
	return b;
}

/* Decode; returns 0 only for a complete, well-formed record. */
static int
decode_record(const uint8_t *p, size_t n, int check_values)
{
	struct kbuf *b = kbuf_from(p, n);
	uint8_t u8, raw[2], *blob = NULL;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	int64_t i64;
	char *s1 = NULL, *s2 = NULL;
	size_t bloblen = 0;
	const uint8_t *view;
	int r;

	ck_assert_ptr_nonnull(b);
	if ((r = kbuf_get_u8(b, &u8)) != 0 ||
	    (r = kbuf_get_u16(b, &u16)) != 0 ||
	    (r = kbuf_get_u32(b, &u32)) != 0 ||
	    (r = kbuf_get_u64(b, &u64)) != 0 ||
	    (r = kbuf_get_i64(b, &i64)) != 0 ||
	    (r = kbuf_get_string(b, &s1, 64)) != 0 ||
	    (r = kbuf_get_blob(b, &blob, &bloblen, 64)) != 0 ||
	    (r = kbuf_get_string(b, &s2, 64)) != 0 ||
	    (r = kbuf_get_bytes(b, raw, 1)) != 0 ||
	    (r = kbuf_get_view(b, 1, &view)) != 0 ||
	    (r = kbuf_expect_end(b)) != 0)
		goto out;
	if (check_values) {
		ck_assert_uint_eq(u8, 0xa5);
		ck_assert_uint_eq(u16, 0xbeef);
		ck_assert_uint_eq(u32, 0xdeadbeefu);
		ck_assert(u64 == 0x0123456789abcdefull);
		ck_assert(i64 == -1234567890123ll);
		ck_assert_str_eq(s1, "鍵 key");
		ck_assert_uint_eq(bloblen, sizeof(blob_bytes));
		ck_assert_mem_eq(blob, blob_bytes, sizeof(blob_bytes));
		ck_assert_str_eq(s2, "");
		ck_assert_uint_eq(raw[0], 'x');
		ck_assert_uint_eq(view[0], 'y');
	}
out:
	free(s1);
	free(s2);
	free(blob);
	kbuf_free(b);
	return r;
}

START_TEST(round_trip_every_type)
{
	struct kbuf *b = encode_record();

	ck_assert_int_eq(decode_record(kbuf_ptr(b), kbuf_len(b), 1), 0);
	kbuf_free(b);
}
END_TEST

START_TEST(integer_edges_round_trip)
{
	static const int64_t v[] = { 0, 1, -1, INT64_MAX, INT64_MIN };
	struct kbuf *b = kbuf_new(256);
	int64_t got;
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		ck_assert_int_eq(kbuf_put_i64(b, v[i]), 0);
	ck_assert_uint_eq(kbuf_len(b), 8 * 5);
	/* big-endian on the wire */
	ck_assert_uint_eq(kbuf_ptr(b)[8 + 7], 1);
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		ck_assert_int_eq(kbuf_get_i64(b, &got), 0);
		ck_assert(got == v[i]);
	}
	ck_assert_int_eq(kbuf_expect_end(b), 0);
	kbuf_free(b);
}
END_TEST

START_TEST(truncated_u32)
{
	static const uint8_t d[] = { 1, 2, 3 };
	struct kbuf *b = kbuf_from(d, sizeof(d));
	uint32_t v = 7;
	uint64_t w;

	ck_assert_int_eq(kbuf_get_u32(b, &v), KAGI_ERR_FORMAT);
	ck_assert_uint_eq(v, 0);
	ck_assert_uint_eq(kbuf_len(b), 3); /* nothing consumed */
	ck_assert_int_eq(kbuf_get_u64(b, &w), KAGI_ERR_FORMAT);
	kbuf_free(b);
}
END_TEST

START_TEST(oversize_string)
{
	struct kbuf *b = kbuf_new(64);
	char *s = (char *)1;

	ck_assert_int_eq(kbuf_put_string(b, "0123456789"), 0);
	ck_assert_int_eq(kbuf_get_string(b, &s, 9), KAGI_ERR_LIMIT);
	ck_assert_ptr_null(s);
	ck_assert_uint_eq(kbuf_len(b), 14);
	ck_assert_int_eq(kbuf_get_string(b, &s, 10), 0);
	ck_assert_str_eq(s, "0123456789");
	free(s);
	kbuf_free(b);
}
END_TEST

START_TEST(length_past_end)
{
	static const uint8_t d[] = { 0, 0, 0, 5, 'a', 'b' };
	struct kbuf *b = kbuf_from(d, sizeof(d));
	uint8_t *blob = (uint8_t *)1;
	size_t n = 9;

	ck_assert_int_eq(kbuf_get_blob(b, &blob, &n, 100), KAGI_ERR_FORMAT);
	ck_assert_ptr_null(blob);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(kbuf_len(b), sizeof(d));
	kbuf_free(b);
}
END_TEST

START_TEST(huge_length_prefix)
{
	static const uint8_t d[] = { 0xff, 0xff, 0xff, 0xff, 'a' };
	struct kbuf *b = kbuf_from(d, sizeof(d));
	char *s = NULL;

	ck_assert_int_eq(kbuf_get_string(b, &s, SIZE_MAX), KAGI_ERR_FORMAT);
	ck_assert_int_eq(kbuf_get_string(b, &s, 1000), KAGI_ERR_LIMIT);
	kbuf_free(b);
}
END_TEST

START_TEST(embedded_nul)
{
	struct kbuf *b = kbuf_new(64);
	char *s = NULL;

	ck_assert_int_eq(kbuf_put_blob(b, "a\0b", 3), 0);
	ck_assert_int_eq(kbuf_get_string(b, &s, 64), KAGI_ERR_FORMAT);
	ck_assert_ptr_null(s);
	ck_assert_uint_eq(kbuf_len(b), 7);
	kbuf_free(b);
}
END_TEST

START_TEST(invalid_utf8)
{
	struct kbuf *b = kbuf_new(64);
	char *s = NULL;

	ck_assert_int_eq(kbuf_put_blob(b, "\xc0\xaf", 2), 0);
	ck_assert_int_eq(kbuf_get_string(b, &s, 64), KAGI_ERR_FORMAT);
	ck_assert_ptr_null(s);
	kbuf_free(b);
}
END_TEST

START_TEST(trailing_bytes)
{
	static const uint8_t d[] = { 0, 1, 2 };
	struct kbuf *b = kbuf_from(d, sizeof(d));
	uint16_t v;

	ck_assert_int_eq(kbuf_get_u16(b, &v), 0);
	ck_assert_int_eq(kbuf_expect_end(b), KAGI_ERR_TRAILING);
	kbuf_free(b);
}
END_TEST

START_TEST(cap_exceeded)
{
	struct kbuf *b = kbuf_new(10);

	ck_assert_int_eq(kbuf_put_u64(b, 1), 0);
	ck_assert_int_eq(kbuf_put_u32(b, 1), KAGI_ERR_LIMIT);
	ck_assert_uint_eq(kbuf_len(b), 8);
	/* a blob that does not fit leaves no orphan length prefix */
	ck_assert_int_eq(kbuf_put_blob(b, "", 0), KAGI_ERR_LIMIT);
	ck_assert_uint_eq(kbuf_len(b), 8);
	ck_assert_int_eq(kbuf_put_u16(b, 1), 0);
	ck_assert_int_eq(kbuf_put_u8(b, 1), KAGI_ERR_LIMIT);
	ck_assert_uint_eq(kbuf_len(b), 10);
	kbuf_reset(b);
	ck_assert_uint_eq(kbuf_len(b), 0);
	ck_assert_int_eq(kbuf_put(b, "0123456789", 10), 0);
	kbuf_free(b);
	ck_assert_ptr_null(kbuf_new(KBUF_MAX_SIZE + 1u));
}
END_TEST

START_TEST(view_past_end)
{
	static const uint8_t d[] = { 1, 2, 3, 4 };
	struct kbuf *b = kbuf_from(d, sizeof(d));
	const uint8_t *p = d;
	uint8_t out[8];

	ck_assert_int_eq(kbuf_get_view(b, 5, &p), KAGI_ERR_FORMAT);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(kbuf_get_bytes(b, out, 5), KAGI_ERR_FORMAT);
	ck_assert_int_eq(kbuf_get_view(b, SIZE_MAX, &p), KAGI_ERR_FORMAT);
	ck_assert_int_eq(kbuf_get_view(b, 4, &p), 0);
	ck_assert_ptr_eq(p, d);
	ck_assert_int_eq(kbuf_get_view(b, 1, &p), KAGI_ERR_FORMAT);
	ck_assert_int_eq(kbuf_expect_end(b), 0);
	kbuf_free(b);
}
END_TEST

START_TEST(write_to_view_refused)
{
	static const uint8_t d[] = { 1 };
	struct kbuf *b = kbuf_from(d, sizeof(d));

	ck_assert_int_eq(kbuf_put_u8(b, 1), KAGI_ERR_INTERNAL);
	ck_assert_uint_eq(kbuf_len(b), 1);
	kbuf_free(b);
	kbuf_free(NULL);
}
END_TEST

START_TEST(empty_blob_is_null)
{
	struct kbuf *b = kbuf_new(16);
	uint8_t *p = (uint8_t *)1;
	size_t n = 5;

	ck_assert_int_eq(kbuf_put_blob(b, NULL, 0), 0);
	ck_assert_int_eq(kbuf_get_blob(b, &p, &n, 0), 0);
	ck_assert_ptr_null(p);
	ck_assert_uint_eq(n, 0);
	kbuf_free(b);
}
END_TEST

START_TEST(growth_keeps_contents)
{
	struct kbuf *b = kbuf_new(100000);
	uint32_t i, v;

	for (i = 0; i < 20000; i++)
		ck_assert_int_eq(kbuf_put_u32(b, i), 0);
	for (i = 0; i < 20000; i++) {
		ck_assert_int_eq(kbuf_get_u32(b, &v), 0);
		ck_assert_uint_eq(v, i);
	}
	kbuf_free(b);
}
END_TEST

/* Flip every bit, truncate at every length: never a crash. */
START_TEST(mutation_flip_and_truncate)
{
	struct kbuf *b = encode_record();
	size_t n = kbuf_len(b), i;
	uint8_t *copy = malloc(n);
	int bit, r;

	ck_assert_ptr_nonnull(copy);
	for (i = 0; i < n; i++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(copy, kbuf_ptr(b), n);
			copy[i] ^= (uint8_t)(1u << bit);
			r = decode_record(copy, n, 0);
			ck_assert(r == 0 || r == KAGI_ERR_FORMAT ||
			    r == KAGI_ERR_LIMIT || r == KAGI_ERR_TRAILING);
		}
	}
	for (i = 0; i < n; i++) {
		/* a heap copy of exactly i bytes: ASan catches overreads */
		uint8_t *t = malloc(i == 0 ? 1 : i);

		ck_assert_ptr_nonnull(t);
		memcpy(t, kbuf_ptr(b), i);
		r = decode_record(t, i, 0);
		ck_assert_int_eq(r, KAGI_ERR_FORMAT);
		free(t);
	}
	free(copy);
	kbuf_free(b);
}
END_TEST

static const struct {
	const char *s;
	size_t len;
	int valid;
} utf8_table[] = {
	{ "", 0, 1 },
	{ "ascii", 5, 1 },
	{ "\xc2\x80", 2, 1 },             /* U+0080 */
	{ "\xdf\xbf", 2, 1 },             /* U+07FF */
	{ "\xe0\xa0\x80", 3, 1 },         /* U+0800 */
	{ "\xe9\x8d\xb5", 3, 1 },         /* 鍵 */
	{ "\xef\xbf\xbf", 3, 1 },         /* U+FFFF */
	{ "\xf0\x90\x80\x80", 4, 1 },     /* U+10000 */
	{ "\xf4\x8f\xbf\xbf", 4, 1 },     /* U+10FFFF */
	{ "a\0b", 3, 0 },                 /* NUL */
	{ "\x80", 1, 0 },                 /* lone continuation */
	{ "\xc0\x80", 2, 0 },             /* overlong NUL */
	{ "\xc1\xbf", 2, 0 },             /* overlong */
	{ "\xe0\x80\xaf", 3, 0 },         /* overlong '/' */
	{ "\xe0\x9f\xbf", 3, 0 },         /* overlong U+07FF */
	{ "\xf0\x8f\xbf\xbf", 4, 0 },     /* overlong U+FFFF */
	{ "\xed\xa0\x80", 3, 0 },         /* surrogate D800 */
	{ "\xed\xbf\xbf", 3, 0 },         /* surrogate DFFF */
	{ "\xf4\x90\x80\x80", 4, 0 },     /* U+110000 */
	{ "\xf5\x80\x80\x80", 4, 0 },     /* lead > F4 */
	{ "\xff", 1, 0 },
	{ "\xe9\x8d", 2, 0 },             /* truncated */
	{ "\xe9\x41\xb5", 3, 0 },         /* bad continuation */
};

START_TEST(utf8_table_entry)
{
	ck_assert_int_eq(kagi_utf8_valid(utf8_table[_i].s, utf8_table[_i].len),
	    utf8_table[_i].valid);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("common_kbuf");
	TCase *tc = tcase_create("kbuf");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, round_trip_every_type);
	tcase_add_test(tc, integer_edges_round_trip);
	tcase_add_test(tc, truncated_u32);
	tcase_add_test(tc, oversize_string);
	tcase_add_test(tc, length_past_end);
	tcase_add_test(tc, huge_length_prefix);
	tcase_add_test(tc, embedded_nul);
	tcase_add_test(tc, invalid_utf8);
	tcase_add_test(tc, trailing_bytes);
	tcase_add_test(tc, cap_exceeded);
	tcase_add_test(tc, view_past_end);
	tcase_add_test(tc, write_to_view_refused);
	tcase_add_test(tc, empty_blob_is_null);
	tcase_add_test(tc, growth_keeps_contents);
	tcase_add_test(tc, mutation_flip_and_truncate);
	tcase_add_loop_test(tc, utf8_table_entry, 0,
	    (int)(sizeof(utf8_table) / sizeof(utf8_table[0])));
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
