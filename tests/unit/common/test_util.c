/* util.c: durations, times, local formatting, injected clock and RNG. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kagi/util.h"

static const struct {
	const char *s;
	int64_t v;
} dur_good[] = {
	{ "90s", 90 }, { "15m", 900 }, { "72h", 259200 }, { "30d", 2592000 },
	{ "2w", 1209600 }, { "0s", 0 }, { "999999999s", 999999999 },
};

static const char *const dur_bad[] = {
	"", "s", "90", "90x", "-5m", "+5m", " 5m", "5m ", "5 m", "1.5h",
	"5mm", "1000000000s", "5M", "0x10s",
};

START_TEST(duration_good)
{
	int64_t v = -1;

	ck_assert_int_eq(kagi_duration_parse(dur_good[_i].s, &v), 0);
	ck_assert(v == dur_good[_i].v);
}
END_TEST

START_TEST(duration_bad)
{
	int64_t v = 77;

	ck_assert_int_eq(kagi_duration_parse(dur_bad[_i], &v),
	    KAGI_ERR_INVALID);
	ck_assert(v == 0);
}
END_TEST

static const struct {
	const char *s;
	int64_t v;
} time_good[] = {
	{ "1970-01-01T00:00:00Z", 0 },
	{ "2026-11-24T09:00:00Z", 1795510800 },
	{ "2026-11-24T18:00:00+09:00", 1795510800 },
	{ "2026-11-24T04:30:00-04:30", 1795510800 },
	{ "2026-11-24t09:00:00.123z", 1795510800 },
	{ "2024-02-29T00:00:00Z", 1709164800 },
	{ "1969-12-31T23:59:59Z", -1 },
};

static const char *const time_bad[] = {
	"", "2026-11-24T09:00:00", "2026-11-24 09:00:00Z",
	"2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z", "2026-11-31",
	"2026-11-24T24:00:00Z", "2026-11-24T09:60:00Z",
	"2026-11-24T09:00:60Z", "2026-11-24T09:00:00+9:00",
	"2026-11-24T09:00:00+09:00x", "2026-11-24T09:00:00Zjunk",
	"26-11-24", "2026-1-24", "2026-11-24T09:00:00.Z", "0000-01-01",
	"2026-11-24x", "２０２６-11-24",
};

START_TEST(time_parse_good)
{
	int64_t v = 42;

	ck_assert_int_eq(kagi_time_parse(time_good[_i].s, &v), 0);
	ck_assert_msg(v == time_good[_i].v, "%s -> %lld", time_good[_i].s,
	    (long long)v);
}
END_TEST

START_TEST(time_parse_bad)
{
	int64_t v = 42;

	ck_assert_msg(kagi_time_parse(time_bad[_i], &v) == KAGI_ERR_INVALID,
	    "accepted %s", time_bad[_i]);
	ck_assert(v == 0);
}
END_TEST

START_TEST(date_is_local_midnight)
{
	int64_t v;

	setenv("TZ", "Asia/Tokyo", 1);
	ck_assert_int_eq(kagi_time_parse("2026-11-24", &v), 0);
	ck_assert(v == 1795510800 - 18 * 3600);
	setenv("TZ", "UTC", 1);
	ck_assert_int_eq(kagi_time_parse("2026-11-24", &v), 0);
	ck_assert(v == 1795510800 - 9 * 3600);
}
END_TEST

START_TEST(format_local_tokyo_is_jst)
{
	char buf[64];

	setenv("TZ", "Asia/Tokyo", 1);
	ck_assert_int_eq(kagi_time_format_local(1795510800, buf, sizeof(buf)),
	    0);
	ck_assert_str_eq(buf, "2026-11-24 18:00:00 JST");
	setenv("TZ", "UTC", 1);
	ck_assert_int_eq(kagi_time_format_local(1795510800, buf, sizeof(buf)),
	    0);
	ck_assert_str_eq(buf, "2026-11-24 09:00:00 UTC");
}
END_TEST

START_TEST(format_utc_and_small_buffer)
{
	char buf[32];
	int64_t back;

	ck_assert_int_eq(kagi_time_format_utc(1795510800, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "2026-11-24T09:00:00Z");
	ck_assert_int_eq(kagi_time_parse(buf, &back), 0);
	ck_assert(back == 1795510800);
	ck_assert_int_eq(kagi_time_format_utc(0, buf, 10), KAGI_ERR_LIMIT);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(kagi_time_format_utc(INT64_MAX, buf, sizeof(buf)),
	    KAGI_ERR_INVALID);
}
END_TEST

static int64_t
fixed_clock(void *arg)
{
	return *(int64_t *)arg;
}

static int
counting_rng(void *buf, size_t n, void *arg)
{
	uint32_t *next = arg;
	uint8_t *p = buf;
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(*next >> (8 * (i % 4)));
	(*next)++;
	return 0;
}

START_TEST(injected_clock_and_random)
{
	int64_t t = 1234;
	uint32_t seed = 0, v;
	uint8_t b[4];

	kagi_clock_set_source(fixed_clock, &t);
	ck_assert(kagi_now() == 1234);
	kagi_clock_set_source(NULL, NULL);
	ck_assert(kagi_now() > 1700000000);

	kagi_random_set_source(counting_rng, &seed);
	ck_assert_int_eq(kagi_random_bytes(b, sizeof(b)), 0);
	ck_assert_uint_eq(b[0], 0);
	/* 2^32 mod 3 == 1: a draw of 0 is rejected (modulo bias) */
	seed = 0;
	ck_assert_int_eq(kagi_random_uniform(3, &v), 0);
	ck_assert_uint_eq(seed, 2); /* value 0 rejected, value 1 accepted */
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(kagi_random_uniform(0, &v), KAGI_ERR_INVALID);
	kagi_random_set_source(NULL, NULL);
	for (int i = 0; i < 1000; i++) {
		ck_assert_int_eq(kagi_random_uniform(10, &v), 0);
		ck_assert_uint_lt(v, 10);
	}
}
END_TEST

START_TEST(hex_encode)
{
	static const uint8_t d[] = { 0x00, 0xab, 0xff, 0x10 };
	char out[9];

	kagi_hex_encode(d, sizeof(d), out);
	ck_assert_str_eq(out, "00abff10");
	kagi_hex_encode(d, 0, out);
	ck_assert_str_eq(out, "");
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

int
main(void)
{
	Suite *s = suite_create("common_util");
	TCase *tc = tcase_create("util");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, duration_good, 0, N(dur_good));
	tcase_add_loop_test(tc, duration_bad, 0, N(dur_bad));
	tcase_add_loop_test(tc, time_parse_good, 0, N(time_good));
	tcase_add_loop_test(tc, time_parse_bad, 0, N(time_bad));
	tcase_add_test(tc, date_is_local_midnight);
	tcase_add_test(tc, format_local_tokyo_is_jst);
	tcase_add_test(tc, format_utc_and_small_buffer);
	tcase_add_test(tc, injected_clock_and_random);
	tcase_add_test(tc, hex_encode);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
