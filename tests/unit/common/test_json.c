/* json.c: untrusted JSON bodies. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "kagi/json.h"

static int
parse(const char *text, json_t **out, char *err, size_t errlen)
{
	return kagi_json_parse_object(text, strlen(text), out, err, errlen);
}

START_TEST(good_object)
{
	json_t *o = NULL;
	const char *s = NULL;
	int64_t i = 0;
	int b = 0;
	char err[200];
	char *d;

	ck_assert_int_eq(parse("{\"b\":true,\"a\":\"鍵\",\"n\":42}", &o, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(kagi_json_get_string(o, "a", 1, 16, &s), 0);
	ck_assert_str_eq(s, "鍵");
	ck_assert_int_eq(kagi_json_get_int(o, "n", 1, 0, 100, &i), 0);
	ck_assert(i == 42);
	ck_assert_int_eq(kagi_json_get_bool(o, "b", 1, &b), 0);
	ck_assert_int_eq(b, 1);
	d = kagi_json_dump(o);
	ck_assert_str_eq(d, "{\"a\":\"鍵\",\"b\":true,\"n\":42}");
	free(d);
	json_decref(o);
}
END_TEST

static const struct {
	const char *name;
	const char *text;
	int err;
} bad[] = {
	{ "dup_key", "{\"a\":1,\"a\":2}", KAGI_ERR_FORMAT },
	{ "not_an_object", "[1,2]", KAGI_ERR_FORMAT },
	{ "string_top", "\"x\"", KAGI_ERR_FORMAT },
	{ "trailing_garbage", "{} x", KAGI_ERR_FORMAT },
	{ "two_objects", "{}{}", KAGI_ERR_FORMAT },
	{ "embedded_nul_escape", "{\"a\":\"x\\u0000y\"}", KAGI_ERR_FORMAT },
	{ "truncated", "{\"a\":", KAGI_ERR_FORMAT },
	{ "empty", "", KAGI_ERR_FORMAT },
	{ "invalid_utf8", "{\"a\":\"\xff\"}", KAGI_ERR_FORMAT },
	{ "nested_dup_key", "{\"o\":{\"k\":1,\"k\":1}}", KAGI_ERR_FORMAT },
};

START_TEST(bad_body_refused)
{
	json_t *o = (json_t *)1;
	char err[200] = "";

	ck_assert_msg(parse(bad[_i].text, &o, err, sizeof(err)) == bad[_i].err,
	    "%s accepted", bad[_i].name);
	ck_assert_ptr_null(o);
	ck_assert_int_gt((int)strlen(err), 0);
}
END_TEST

START_TEST(embedded_nul_raw)
{
	json_t *o = (json_t *)1;
	char err[200];

	ck_assert_int_eq(kagi_json_parse_object("{}\0", 3, &o, err,
	    sizeof(err)), KAGI_ERR_FORMAT);
	ck_assert_ptr_null(o);
}
END_TEST

START_TEST(too_deep)
{
	char text[512] = "{\"a\":";
	json_t *o = (json_t *)1;
	char err[200];
	int i;

	for (i = 0; i < 40; i++)
		strcat(text, "[");
	for (i = 0; i < 40; i++)
		strcat(text, "]");
	strcat(text, "}");
	ck_assert_int_eq(parse(text, &o, err, sizeof(err)), KAGI_ERR_LIMIT);
	ck_assert_ptr_null(o);
	ck_assert_str_eq(err, "JSON body is nested too deeply");
}
END_TEST

START_TEST(too_large)
{
	size_t n = KAGI_JSON_MAX_BODY + 1;
	char *big = malloc(n);
	json_t *o = (json_t *)1;
	char err[200];

	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	ck_assert_int_eq(kagi_json_parse_object(big, n, &o, err, sizeof(err)),
	    KAGI_ERR_LIMIT);
	ck_assert_ptr_null(o);
	free(big);
}
END_TEST

START_TEST(wrong_type_getters)
{
	json_t *o = NULL;
	const char *s = "default";
	int64_t i = 7;
	int b = 3;
	char err[200];

	ck_assert_int_eq(parse("{\"s\":1,\"i\":\"1\",\"b\":0,\"f\":1.5,"
	    "\"long\":\"abcdef\",\"big\":1000,\"nul\":null}", &o, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(kagi_json_get_string(o, "s", 1, 10, &s),
	    KAGI_ERR_FORMAT);
	ck_assert_int_eq(kagi_json_get_int(o, "i", 1, 0, 10, &i),
	    KAGI_ERR_FORMAT);
	ck_assert_int_eq(kagi_json_get_int(o, "f", 1, 0, 10, &i),
	    KAGI_ERR_FORMAT);
	ck_assert_int_eq(kagi_json_get_bool(o, "b", 1, &b), KAGI_ERR_FORMAT);
	ck_assert_int_eq(kagi_json_get_string(o, "long", 1, 5, &s),
	    KAGI_ERR_FORMAT);
	ck_assert_int_eq(kagi_json_get_int(o, "big", 1, 0, 999, &i),
	    KAGI_ERR_FORMAT);
	ck_assert_int_eq(kagi_json_get_int(o, "big", 1, 1001, 2000, &i),
	    KAGI_ERR_FORMAT);
	/* absent: required -> not_found; optional -> default untouched */
	ck_assert_int_eq(kagi_json_get_string(o, "missing", 1, 5, &s),
	    KAGI_ERR_NOT_FOUND);
	ck_assert_int_eq(kagi_json_get_string(o, "missing", 0, 5, &s), 0);
	ck_assert_str_eq(s, "default");
	ck_assert_int_eq(kagi_json_get_int(o, "nul", 0, 0, 5, &i), 0);
	ck_assert(i == 7);
	ck_assert_int_eq(kagi_json_get_bool(o, "nul", 1, &b),
	    KAGI_ERR_NOT_FOUND);
	ck_assert_int_eq(b, 3);
	json_decref(o);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("common_json");
	TCase *tc = tcase_create("json");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, good_object);
	tcase_add_loop_test(tc, bad_body_refused, 0,
	    (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, embedded_nul_raw);
	tcase_add_test(tc, too_deep);
	tcase_add_test(tc, too_large);
	tcase_add_test(tc, wrong_type_getters);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
