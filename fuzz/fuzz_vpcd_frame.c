/*
 * libFuzzer: the vpcd TCP framing of the test card bridge
 * (tests/vcard/vpcd_frame.c): a byte stream as vpcd would send it, parsed
 * frame by frame, each payload classified and framed back.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../tests/vcard/vpcd_frame.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[VPCD_MAX_FRAME + VPCD_HDR_LEN];
	const uint8_t *p = NULL;
	enum vpcd_msg kind;
	size_t plen = 0, used = 0, outlen = 0, off = 0, n = 0;

	if (size >= VPCD_HDR_LEN && vpcd_frame_len(data, &n) == 0 &&
	    (n == 0 || n > VPCD_MAX_FRAME))
		__builtin_trap();
	while (off < size) {
		if (vpcd_frame_next(data + off, size - off, &kind, &p, &plen,
		    &used) != 0)
			break;
		if (used == 0 || used > size - off || plen + VPCD_HDR_LEN != used ||
		    p != data + off + VPCD_HDR_LEN)
			__builtin_trap();
		if (vpcd_frame_emit(p, plen, out, sizeof(out), &outlen) != 0 ||
		    outlen != used || memcmp(out, data + off, used) != 0)
			__builtin_trap();
		off += used;
	}
	return 0;
}
