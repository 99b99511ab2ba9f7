/* vpcd TCP framing: see vpcd_frame.h. */
#include "vpcd_frame.h"

#include <string.h>

#include "kagi/err.h"

int
vpcd_frame_len(const uint8_t hdr[VPCD_HDR_LEN], size_t *len)
{
	size_t n;

	*len = 0;
	if (hdr == NULL)
		return KAGI_ERR_INTERNAL;
	n = ((size_t)hdr[0] << 8) | (size_t)hdr[1];
	if (n == 0 || n > VPCD_MAX_FRAME)
		return KAGI_ERR_FORMAT;
	*len = n;
	return 0;
}

int
vpcd_frame_kind(const uint8_t *p, size_t n, enum vpcd_msg *kind)
{
	*kind = VPCD_APDU;
	if (p == NULL || n == 0 || n > VPCD_MAX_FRAME)
		return KAGI_ERR_FORMAT;
	if (n == 1) {
		switch (p[0]) {
		case VPCD_POWER_OFF:
		case VPCD_POWER_ON:
		case VPCD_RESET:
		case VPCD_GET_ATR:
			*kind = (enum vpcd_msg)p[0];
			return 0;
		default:
			return KAGI_ERR_FORMAT;
		}
	}
	if (n < VPCD_MIN_APDU)
		return KAGI_ERR_FORMAT;
	*kind = VPCD_APDU;
	return 0;
}

int
vpcd_frame_emit(const uint8_t *data, size_t n, uint8_t *out, size_t outsz,
	size_t *outlen)
{
	*outlen = 0;
	if (out == NULL || (data == NULL && n > 0))
		return KAGI_ERR_INTERNAL;
	if (n > VPCD_MAX_FRAME || outsz < VPCD_HDR_LEN || outsz - VPCD_HDR_LEN < n)
		return KAGI_ERR_LIMIT;
	out[0] = (uint8_t)(n >> 8);
	out[1] = (uint8_t)(n & 0xff);
	if (n > 0)
		memcpy(out + VPCD_HDR_LEN, data, n);
	*outlen = n + VPCD_HDR_LEN;
	return 0;
}

int
vpcd_frame_next(const uint8_t *buf, size_t len, enum vpcd_msg *kind,
	const uint8_t **payload, size_t *plen, size_t *used)
{
	size_t n = 0;
	int r;

	*kind = VPCD_APDU;
	*payload = NULL;
	*plen = 0;
	*used = 0;
	if (buf == NULL || len < VPCD_HDR_LEN)
		return KAGI_ERR_FORMAT;
	if ((r = vpcd_frame_len(buf, &n)) != 0)
		return r;
	if (len - VPCD_HDR_LEN < n)
		return KAGI_ERR_FORMAT;
	if ((r = vpcd_frame_kind(buf + VPCD_HDR_LEN, n, kind)) != 0)
		return r;
	*payload = buf + VPCD_HDR_LEN;
	*plen = n;
	*used = VPCD_HDR_LEN + n;
	return 0;
}
