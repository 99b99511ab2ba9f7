/*
 * libFuzzer: the cardd protocol parser (cardd_msg_parse), the trust
 * boundary of kagi-cardd's socket and of pam_kagi.so.  Whatever parses must
 * re-encode to exactly the input bytes (no loose acceptance), and a failed
 * parse leaves nothing allocated.  Seeds: fuzz/corpus/cardd_proto/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kagi/cardd.h"
#include "kagi/kbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cardd_msg m;
	struct kbuf *b;

	if (cardd_msg_parse(data, size, &m) != 0) {
		if (m.user != NULL || m.rules != NULL || m.response != NULL)
			abort();
		return 0;
	}
	b = kbuf_new(CARDD_FRAME_MAX + 4);
	if (b == NULL)
		abort();
	if (cardd_msg_emit(&m, b) != 0 || kbuf_len(b) != size + 4 ||
	    memcmp(kbuf_ptr(b) + 4, data, size) != 0)
		abort();
	kbuf_free(b);
	cardd_msg_clear(&m);
	return 0;
}
