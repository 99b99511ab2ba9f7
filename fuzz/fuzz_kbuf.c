/*
 * libFuzzer harness for kbuf: the input is both program and data.  Each
 * opcode byte chooses a typed read from the rest of the input; every read
 * must either succeed or fail cleanly, and a failed read must consume nothing.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kagi/kbuf.h"
#include "kagi/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
quiet(int level, const char *file, int line, const char *func,
    const char *msg, void *arg)
{
	(void)level, (void)file, (void)line, (void)func, (void)msg, (void)arg;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kbuf *b, *w;
	uint8_t u8, tmp[16], *blob;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	int64_t i64;
	char *s;
	const uint8_t *view;
	size_t before, n, ops = 0;
	int r;

	kagi_log_set_handler(quiet, NULL);
	if ((b = kbuf_from(data, size)) == NULL)
		return 0;
	w = kbuf_new(4096);
	while (kbuf_len(b) > 0 && ops++ < 256) {
		if (kbuf_get_u8(b, &u8) != 0)
			abort();
		before = kbuf_len(b);
		s = NULL;
		blob = NULL;
		switch (u8 % 10) {
		case 0:
			r = kbuf_get_u16(b, &u16);
			if (r == 0)
				r = kbuf_put_u16(w, u16);
			break;
		case 1:
			r = kbuf_get_u32(b, &u32);
			if (r == 0)
				r = kbuf_put_u32(w, u32);
			break;
		case 2:
			r = kbuf_get_u64(b, &u64);
			if (r == 0)
				r = kbuf_put_u64(w, u64);
			break;
		case 3:
			r = kbuf_get_i64(b, &i64);
			if (r == 0)
				r = kbuf_put_i64(w, i64);
			break;
		case 4:
			r = kbuf_get_string(b, &s, (size_t)(u8 >> 4) * 64);
			if (r == 0) {
				if (!kagi_utf8_valid(s, strlen(s)))
					abort();
				r = kbuf_put_string(w, s);
			}
			break;
		case 5:
			r = kbuf_get_blob(b, &blob, &n, 1024);
			if (r == 0)
				r = kbuf_put_blob(w, blob, n);
			break;
		case 6:
			r = kbuf_get_bytes(b, tmp, (size_t)(u8 >> 4));
			break;
		case 7:
			r = kbuf_get_view(b, (size_t)(u8 >> 3), &view);
			if (r == 0 && u8 >> 3 > 0)
				(void)view[(u8 >> 3) - 1];
			break;
		case 8:
			r = kbuf_expect_end(b);
			break;
		default:
			kbuf_reset(w);
			r = 0;
			break;
		}
		if (r != 0 && kbuf_len(b) != before && r != KAGI_ERR_LIMIT &&
		    r != KAGI_ERR_NOMEM)
			abort(); /* a failed read consumed bytes */
		free(s);
		free(blob);
		if (r != 0 && u8 % 10 != 8)
			break;
	}
	/* Whatever was written must read back as a view of itself. */
	if (w != NULL) {
		struct kbuf *v = kbuf_from(kbuf_ptr(w), kbuf_len(w));

		if (v == NULL || kbuf_len(v) != kbuf_len(w))
			abort();
		kbuf_free(v);
	}
	kbuf_free(w);
	kbuf_free(b);
	return 0;
}
