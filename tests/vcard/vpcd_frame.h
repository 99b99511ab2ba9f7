/*
 * vpcd's TCP framing (vsmartcard virtualsmartcard/src/vpcd): every message
 * in either direction is a 2-byte big-endian length followed by that many
 * bytes.  From vpcd to the card a 1-byte message is a control code (power
 * off / on / reset / get ATR); anything else is a command APDU.  The card
 * answers get-ATR and APDUs with one framed message and nothing else.
 * Used by the test bridge (kagi-test-vcard) and fuzz/fuzz_vpcd_frame.c.
 */
#ifndef KAGI_TEST_VPCD_FRAME_H
#define KAGI_TEST_VPCD_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define VPCD_HDR_LEN 2
/* extended-length APDU: 4 header + 3 Lc + 65535 data + 3 Le; a 16-bit
 * length prefix caps it at 65535 anyway */
#define VPCD_MAX_FRAME 65535u
#define VPCD_MIN_APDU 4u  /* CLA INS P1 P2 */

enum vpcd_msg {
	VPCD_POWER_OFF = 0x00,
	VPCD_POWER_ON = 0x01,
	VPCD_RESET = 0x02,
	VPCD_GET_ATR = 0x04,
	VPCD_APDU = 0x100,
};

/* The payload length announced by a 2-byte header: 0, or KAGI_ERR_FORMAT
 * for an empty frame. */
int vpcd_frame_len(const uint8_t hdr[VPCD_HDR_LEN], size_t *len)
	__attribute__((warn_unused_result));
/* What a payload of n bytes from vpcd is: a known control code, or an
 * APDU of at least 4 bytes.  KAGI_ERR_FORMAT for an unknown control code
 * or a 2-3 byte message. */
int vpcd_frame_kind(const uint8_t *p, size_t n, enum vpcd_msg *kind)
	__attribute__((warn_unused_result));
/* Frame n bytes of data into out (outsz bytes): KAGI_ERR_LIMIT when n does
 * not fit the 16-bit length or out is too small. */
int vpcd_frame_emit(const uint8_t *data, size_t n, uint8_t *out, size_t outsz,
	size_t *outlen) __attribute__((warn_unused_result));
/* Parse one frame from the front of buf (a byte stream from vpcd):
 * *used = bytes consumed; payload points into buf.  KAGI_ERR_TRAILING is
 * never returned; a short buffer gives KAGI_ERR_FORMAT. */
int vpcd_frame_next(const uint8_t *buf, size_t len, enum vpcd_msg *kind,
	const uint8_t **payload, size_t *plen, size_t *used)
	__attribute__((warn_unused_result));

#endif
