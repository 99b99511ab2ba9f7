/* err.c: one table drives names, texts, HTTP statuses and exit codes. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "kagi/err.h"

START_TEST(every_code_has_unique_name_round_trip)
{
	int e, f;

	for (e = KAGI_OK; e >= KAGI_ERR_MIN; e--) {
		const char *n = kagi_err_name(e);

		ck_assert_ptr_nonnull(n);
		ck_assert_int_gt((int)strlen(n), 0);
		ck_assert_int_eq(kagi_err_from_name(n), e);
		for (f = e - 1; f >= KAGI_ERR_MIN; f--)
			ck_assert_str_ne(n, kagi_err_name(f));
	}
}
END_TEST

START_TEST(every_code_has_text_status_and_exit)
{
	int e;

	for (e = KAGI_OK; e >= KAGI_ERR_MIN; e--) {
		ck_assert_int_gt((int)strlen(kagi_strerror(e)), 0);
		ck_assert_int_ge(kagi_err_http_status(e), 200);
		ck_assert_int_le(kagi_err_http_status(e), 599);
		ck_assert_int_ge(kagi_err_exit_code(e), 0);
		ck_assert_int_le(kagi_err_exit_code(e), 10);
		if (e != KAGI_OK) {
			ck_assert_int_ge(kagi_err_http_status(e), 400);
			ck_assert_int_ne(kagi_err_exit_code(e), 0);
		}
	}
}
END_TEST

START_TEST(documented_exit_codes)
{
	static const struct { int e, code, http; } t[] = {
		{ KAGI_OK, 0, 200 },
		{ KAGI_ERR_INTERNAL, 1, 500 },
		{ KAGI_ERR_HSM, 1, 503 },
		{ KAGI_ERR_USAGE, 2, 400 },
		{ KAGI_ERR_NOT_FOUND, 3, 404 },
		{ KAGI_ERR_AUTH, 4, 401 },
		{ KAGI_ERR_DENIED, 4, 403 },
		{ KAGI_ERR_MUST_CHANGE, 4, 403 },
		{ KAGI_ERR_FORMAT, 5, 400 },
		{ KAGI_ERR_TRAILING, 5, 400 },
		{ KAGI_ERR_UNAVAILABLE, 6, 503 },
		{ KAGI_ERR_TIMEOUT, 6, 504 },
		{ KAGI_ERR_CORRUPT, 7, 500 },
		{ KAGI_ERR_EXISTS, 8, 409 },
		{ KAGI_ERR_CONFLICT, 8, 409 },
		{ KAGI_ERR_PERM, 9, 403 },
		{ KAGI_ERR_VERSION, 10, 409 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_int_eq(kagi_err_exit_code(t[i].e), t[i].code);
		ck_assert_int_eq(kagi_err_http_status(t[i].e), t[i].http);
	}
	ck_assert_str_eq(kagi_err_name(KAGI_ERR_NOT_FOUND), "not_found");
	ck_assert_str_eq(kagi_err_name(KAGI_ERR_MUST_CHANGE), "must_change");
}
END_TEST

START_TEST(unknown_code_is_internal)
{
	ck_assert_str_eq(kagi_err_name(-1000), "internal");
	ck_assert_str_eq(kagi_err_name(5), "internal");
	ck_assert_int_eq(kagi_err_exit_code(-1000), 1);
	ck_assert_int_eq(kagi_err_http_status(-1000), 500);
	ck_assert_int_eq(kagi_err_from_name("no_such_error"), KAGI_ERR_INTERNAL);
	ck_assert_int_eq(kagi_err_from_name(NULL), KAGI_ERR_INTERNAL);
	ck_assert_int_eq(kagi_err_from_name("NOT_FOUND"), KAGI_ERR_INTERNAL);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("common_err");
	TCase *tc = tcase_create("err");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, every_code_has_unique_name_round_trip);
	tcase_add_test(tc, every_code_has_text_status_and_exit);
	tcase_add_test(tc, documented_exit_codes);
	tcase_add_test(tc, unknown_code_is_internal);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
