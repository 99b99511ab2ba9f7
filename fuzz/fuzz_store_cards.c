/*
 * libFuzzer harness for the card record decoders (store/cards.c; LMDB
 * values are untrusted).  The first byte picks the decoder (even: card,
 * odd: PIN-unblock approval), the rest is the value.  Beyond "no crash": a
 * value that decodes re-encodes to exactly the same bytes (canonical), and
 * a refused value leaves the output cleared.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kagi/kbuf.h"
#include "kagi/log.h"
#include "kagi/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
quiet(int level, const char *file, int line, const char *func,
    const char *msg, void *arg)
{
	(void)level;
	(void)file;
	(void)line;
	(void)func;
	(void)msg;
	(void)arg;
}

static int
all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kbuf *b;
	const uint8_t *p;
	size_t len;

	if (size < 1)
		return 0;
	kagi_log_set_handler(quiet, NULL);
	p = data + 1;
	len = size - 1;
	if ((b = kbuf_new(64u * 1024u)) == NULL)
		return 0;
	if ((data[0] & 1) == 0) {
		struct store_card c;
		if (store_card_decode(p, len, &c) == 0) {
			if (store_card_encode(&c, b) != 0 ||
			    kbuf_len(b) != len ||
			    memcmp(kbuf_ptr(b), p, len) != 0)
				abort();
			store_card_clear(&c);
		} else if (!all_zero(&c, sizeof(c))) {
			abort();
		}
	} else {
		struct store_card_approval a;
		if (store_card_approval_decode(p, len, &a) == 0) {
			if (store_card_approval_encode(&a, b) != 0 ||
			    kbuf_len(b) != len ||
			    memcmp(kbuf_ptr(b), p, len) != 0)
				abort();
			store_card_approval_clear(&a);
		} else if (!all_zero(&a, sizeof(a))) {
			abort();
		}
	}
	kbuf_free(b);
	return 0;
}
