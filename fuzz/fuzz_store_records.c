/*
 * libFuzzer harness for the store record decoders (LMDB values are
 * untrusted: the file can be damaged).  The first byte picks the decoder
 * (0 person, 1 account, 2 audit; taken mod 3), the rest is the value.
 * Property checked beyond "no crash": a value that decodes re-encodes to
 * exactly the same bytes (the encoding is canonical), and a refused value
 * leaves the output cleared.
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
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

static void
check_same(struct kbuf *b, const uint8_t *p, size_t len)
{
	if (kbuf_len(b) != len || memcmp(kbuf_ptr(b), p, len) != 0)
		abort();
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
	switch (data[0] % 3) {
	case 0: {
		struct store_person r;

		if (store_person_decode(p, len, &r) == 0) {
			if (store_person_encode(&r, b) != 0)
				abort();
			check_same(b, p, len);
			store_person_clear(&r);
		} else if (!all_zero(&r, sizeof(r)))
			abort();
		break;
	}
	case 1: {
		struct store_account r;

		if (store_account_decode(p, len, &r) == 0) {
			if (store_account_encode(&r, b) != 0)
				abort();
			check_same(b, p, len);
			store_account_clear(&r);
		} else if (!all_zero(&r, sizeof(r)))
			abort();
		break;
	}
	default: {
		struct store_audit r;

		if (store_audit_decode(p, len, &r) == 0) {
			if (store_audit_encode(&r, b) != 0)
				abort();
			check_same(b, p, len);
			store_audit_clear(&r);
		} else if (!all_zero(&r, sizeof(r)))
			abort();
		break;
	}
	}
	kbuf_free(b);
	return 0;
}
