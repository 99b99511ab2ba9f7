/* secmem.c: secure allocation, wiping, constant-time compare, hardening. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "kagi/secmem.h"

START_TEST(alloc_zeroed_and_free)
{
	size_t sizes[] = { 1, 15, 4096, 5000, 100000 };
	size_t i, k;
	unsigned char *p;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		p = kagi_secure_alloc(sizes[i]);
		ck_assert_ptr_nonnull(p);
		for (k = 0; k < sizes[i]; k++)
			ck_assert_uint_eq(p[k], 0);
		memset(p, 0x5a, sizes[i]);
		kagi_secure_free(p, sizes[i]);
	}
	kagi_secure_free(NULL, 10);
}
END_TEST

START_TEST(strdup_and_compare)
{
	char *s = kagi_secure_strdup("pin-1234");

	ck_assert_str_eq(s, "pin-1234");
	ck_assert_int_eq(kagi_memeq_ct(s, "pin-1234", 8), 1);
	ck_assert_int_eq(kagi_memeq_ct(s, "pin-1235", 8), 0);
	ck_assert_int_eq(kagi_memeq_ct(s, "x", 0), 1);
	s[2] = '\0'; /* a shortened secret still frees its whole mapping */
	kagi_secure_strfree(s);
	kagi_secure_strfree(NULL);
	ck_assert_ptr_null(kagi_secure_strdup(NULL));
}
END_TEST

START_TEST(wipe_zeroes)
{
	char buf[16];

	memset(buf, 'x', sizeof(buf));
	kagi_wipe(buf, sizeof(buf));
	for (size_t i = 0; i < sizeof(buf); i++)
		ck_assert_int_eq(buf[i], 0);
	kagi_wipe(NULL, 5);
}
END_TEST

START_TEST(process_harden_no_core)
{
	struct rlimit rl;

	ck_assert_int_eq(kagi_process_harden(), 0);
	ck_assert_int_eq(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
	ck_assert_int_eq(getrlimit(RLIMIT_CORE, &rl), 0);
	ck_assert_uint_eq(rl.rlim_cur, 0);
	ck_assert_uint_eq(rl.rlim_max, 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("common_secmem");
	TCase *tc = tcase_create("secmem");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, alloc_zeroed_and_free);
	tcase_add_test(tc, strdup_and_compare);
	tcase_add_test(tc, wipe_zeroes);
	tcase_add_test(tc, process_harden_no_core);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
