/* log.c: sanitising (R-LOG-4: attacker text cannot forge log lines). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kagi/err.h"
#include "kagi/log.h"

static char got_msg[16384];
static char got_file[256];
static int got_line;
static int got_level;
static int calls;

static void
capture(int level, const char *file, int line, const char *func,
    const char *msg, void *arg)
{
	(void)func;
	ck_assert_ptr_eq(arg, (void *)&calls);
	got_level = level;
	got_line = line;
	snprintf(got_file, sizeof(got_file), "%s", file);
	snprintf(got_msg, sizeof(got_msg), "%s", msg);
	calls++;
}

static void
setup(void)
{
	calls = 0;
	got_msg[0] = '\0';
	kagi_log_set_handler(capture, &calls);
	kagi_log_set_level(KAGI_LOG_DEBUG);
}

START_TEST(control_chars_escaped)
{
	kagi_log_warn("user=%s", "eve\nkagi[1]: error: forged\x1b[31m\x7f");
	ck_assert_int_eq(calls, 1);
	ck_assert_str_eq(got_msg,
	    "user=eve\\x0akagi[1]: error: forged\\x1b[31m\\x7f");
	ck_assert_ptr_null(strchr(got_msg, '\n'));
	ck_assert_int_eq(got_level, KAGI_LOG_WARN);
}
END_TEST

START_TEST(invalid_utf8_escaped_valid_kept)
{
	/* overlong '/', lone continuation, surrogate, truncated sequence */
	kagi_log_info("%s|%s|%s|%s|%s", "\xc0\xaf", "\x80", "\xed\xa0\x80",
	    "\xe9\x8d", "鍵 ok");
	ck_assert_str_eq(got_msg,
	    "\\xc0\\xaf|\\x80|\\xed\\xa0\\x80|\\xe9\\x8d|鍵 ok");
}
END_TEST

START_TEST(handler_receives_file_line)
{
	int line = __LINE__ + 1;
	kagi_log_err("x");
	ck_assert_int_eq(got_line, line);
	ck_assert_ptr_nonnull(strstr(got_file, "test_log.c"));
}
END_TEST

START_TEST(level_filter_drops)
{
	kagi_log_set_level(KAGI_LOG_WARN);
	kagi_log_info("dropped");
	kagi_log_debug("dropped");
	ck_assert_int_eq(calls, 0);
	kagi_log_err("kept");
	ck_assert_int_eq(calls, 1);
	ck_assert_int_eq(kagi_log_get_level(), KAGI_LOG_WARN);
}
END_TEST

START_TEST(oversize_message_capped)
{
	char *big = malloc(10000);

	ck_assert_ptr_nonnull(big);
	memset(big, 'a', 9999);
	big[9999] = '\0';
	kagi_log_info("%s", big);
	ck_assert_uint_eq(strlen(got_msg), 2047);
	/* escaping may expand but never past 4x the cap */
	memset(big, '\n', 9999);
	kagi_log_info("%s", big);
	ck_assert_uint_eq(strlen(got_msg), 4 * 2047);
	free(big);
}
END_TEST

START_TEST(level_parse_table)
{
	int l = -1;

	ck_assert_int_eq(kagi_log_level_parse("error", &l), 0);
	ck_assert_int_eq(l, KAGI_LOG_ERR);
	ck_assert_int_eq(kagi_log_level_parse("debug", &l), 0);
	ck_assert_int_eq(l, KAGI_LOG_DEBUG);
	ck_assert_int_eq(kagi_log_level_parse("verbose", &l), KAGI_ERR_INVALID);
	ck_assert_int_eq(kagi_log_level_parse("", &l), KAGI_ERR_INVALID);
	ck_assert_int_eq(kagi_log_level_parse("INFO", &l), KAGI_ERR_INVALID);
	ck_assert_int_eq(kagi_log_level_parse(NULL, &l), KAGI_ERR_INVALID);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("common_log");
	TCase *tc = tcase_create("log");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, control_chars_escaped);
	tcase_add_test(tc, invalid_utf8_escaped_valid_kept);
	tcase_add_test(tc, handler_receives_file_line);
	tcase_add_test(tc, level_filter_drops);
	tcase_add_test(tc, oversize_message_capped);
	tcase_add_test(tc, level_parse_table);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
