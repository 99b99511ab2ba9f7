/* vpcd_frame.c: the framing of the test card bridge (negative cases named
 * after the fault). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "kagi/err.h"
#include "vpcd_frame.h"

START_TEST(control_codes)
{
	static const uint8_t codes[] = { 0x00, 0x01, 0x02, 0x04 };
	enum vpcd_msg k;
	size_t i;

	for (i = 0; i < sizeof(codes); i++) {
		ck_assert_int_eq(vpcd_frame_kind(&codes[i], 1, &k), 0);
		ck_assert_int_eq((int)k, codes[i]);
	}
}
END_TEST

START_TEST(unknown_control_refused)
{
	uint8_t c = 0x03;
	enum vpcd_msg k;

	ck_assert_int_eq(vpcd_frame_kind(&c, 1, &k), KAGI_ERR_FORMAT);
	c = 0xff;
	ck_assert_int_eq(vpcd_frame_kind(&c, 1, &k), KAGI_ERR_FORMAT);
}
END_TEST

START_TEST(short_apdu_refused)
{
	uint8_t a[3] = { 0x00, 0xa4, 0x04 };
	enum vpcd_msg k;

	ck_assert_int_eq(vpcd_frame_kind(a, 2, &k), KAGI_ERR_FORMAT);
	ck_assert_int_eq(vpcd_frame_kind(a, 3, &k), KAGI_ERR_FORMAT);
}
END_TEST

START_TEST(zero_length_refused)
{
	uint8_t hdr[2] = { 0, 0 };
	size_t n = 7;

	ck_assert_int_eq(vpcd_frame_len(hdr, &n), KAGI_ERR_FORMAT);
	ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(length_big_endian)
{
	uint8_t hdr[2] = { 0x01, 0x02 };
	size_t n = 0;

	ck_assert_int_eq(vpcd_frame_len(hdr, &n), 0);
	ck_assert_uint_eq(n, 0x0102);
	hdr[0] = 0xff;
	hdr[1] = 0xff;
	ck_assert_int_eq(vpcd_frame_len(hdr, &n), 0);
	ck_assert_uint_eq(n, 65535);
}
END_TEST

START_TEST(truncated_payload_refused)
{
	/* announces 5 bytes, carries 4 */
	uint8_t buf[] = { 0x00, 0x05, 0x00, 0xa4, 0x04, 0x00 };
	const uint8_t *p = NULL;
	enum vpcd_msg k;
	size_t plen = 9, used = 9;

	ck_assert_int_eq(vpcd_frame_next(buf, sizeof(buf), &k, &p, &plen, &used),
		KAGI_ERR_FORMAT);
	ck_assert_ptr_null(p);
	ck_assert_uint_eq(plen, 0);
	ck_assert_uint_eq(used, 0);
	ck_assert_int_eq(vpcd_frame_next(buf, 1, &k, &p, &plen, &used),
		KAGI_ERR_FORMAT);
}
END_TEST

START_TEST(stream_of_frames)
{
	uint8_t buf[] = { 0x00, 0x01, 0x01, 0x00, 0x01, 0x04,
		0x00, 0x05, 0x00, 0xa4, 0x04, 0x00, 0x00 };
	const uint8_t *p = NULL;
	enum vpcd_msg k;
	size_t plen, used, off = 0;

	ck_assert_int_eq(vpcd_frame_next(buf, sizeof(buf), &k, &p, &plen, &used), 0);
	ck_assert_int_eq(k, VPCD_POWER_ON);
	off += used;
	ck_assert_int_eq(vpcd_frame_next(buf + off, sizeof(buf) - off, &k, &p, &plen,
		&used), 0);
	ck_assert_int_eq(k, VPCD_GET_ATR);
	off += used;
	ck_assert_int_eq(vpcd_frame_next(buf + off, sizeof(buf) - off, &k, &p, &plen,
		&used), 0);
	ck_assert_int_eq(k, VPCD_APDU);
	ck_assert_uint_eq(plen, 5);
	ck_assert_uint_eq(off + used, sizeof(buf));
}
END_TEST

START_TEST(emit_roundtrip_and_oversize)
{
	static uint8_t big[70000], out[70000];
	uint8_t sw[2] = { 0x90, 0x00 };
	size_t outlen = 9;

	ck_assert_int_eq(vpcd_frame_emit(sw, 2, out, sizeof(out), &outlen), 0);
	ck_assert_uint_eq(outlen, 4);
	ck_assert_int_eq(memcmp(out, "\x00\x02\x90\x00", 4), 0);
	/* oversize_response: more than a 16-bit length can say */
	ck_assert_int_eq(vpcd_frame_emit(big, 65536, out, sizeof(out), &outlen),
		KAGI_ERR_LIMIT);
	ck_assert_uint_eq(outlen, 0);
	/* output_too_small */
	ck_assert_int_eq(vpcd_frame_emit(sw, 2, out, 3, &outlen), KAGI_ERR_LIMIT);
	ck_assert_int_eq(vpcd_frame_emit(sw, 2, out, 1, &outlen), KAGI_ERR_LIMIT);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("vpcd_frame");
	TCase *tc = tcase_create("frame");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, control_codes);
	tcase_add_test(tc, unknown_control_refused);
	tcase_add_test(tc, short_apdu_refused);
	tcase_add_test(tc, zero_length_refused);
	tcase_add_test(tc, length_big_endian);
	tcase_add_test(tc, truncated_payload_refused);
	tcase_add_test(tc, stream_of_frames);
	tcase_add_test(tc, emit_roundtrip_and_oversize);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
