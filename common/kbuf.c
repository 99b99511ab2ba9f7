/*
 * kbuf: the bounded buffer every untrusted byte is read through (STYLE.md 5).
 * Layout: d[0 .. off) consumed, d[off .. len) unread, d[len .. alloc) free.
 * Invariant, checked on every call: off <= len <= alloc, len <= max <=
 * KBUF_MAX_SIZE.  A broken invariant is memory corruption: abort.
 */
#include <stdlib.h>
#include <string.h>

#include "kagi/kbuf.h"
#include "kagi/log.h"
#include "kagi/secmem.h"

struct kbuf {
	uint8_t *d;
	size_t off;
	size_t len;
	size_t alloc;
	size_t max;
	int readonly; /* a view of caller memory */
};

static void
kbuf_check(const struct kbuf *b)
{
	if (b->off > b->len || b->len > b->alloc || b->len > b->max ||
	    b->max > KBUF_MAX_SIZE || (b->d == NULL && b->alloc != 0)) {
		kagi_log_err("kbuf invariant broken: off=%zu len=%zu alloc=%zu "
		    "max=%zu", b->off, b->len, b->alloc, b->max);
		abort();
	}
}

struct kbuf *
kbuf_new(size_t max)
{
	struct kbuf *b;

	if (max > KBUF_MAX_SIZE)
		return NULL;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	b->max = max;
	return b;
}

struct kbuf *
kbuf_from(const void *data, size_t len)
{
	struct kbuf *b;

	if (len > KBUF_MAX_SIZE || (data == NULL && len != 0))
		return NULL;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	/* The view never writes: readonly guards every put. */
	b->d = (uint8_t *)(uintptr_t)data;
	b->len = b->alloc = b->max = len;
	b->readonly = 1;
	if (b->d == NULL)
		b->alloc = 0;
	return b;
}

void
kbuf_free(struct kbuf *b)
{
	if (b == NULL)
		return;
	if (!b->readonly && b->d != NULL) {
		kagi_wipe(b->d, b->alloc);
		free(b->d);
	}
	kagi_wipe(b, sizeof(*b));
	free(b);
}

void
kbuf_reset(struct kbuf *b)
{
	if (b == NULL)
		return;
	kbuf_check(b);
	if (b->readonly)
		return;
	if (b->d != NULL)
		kagi_wipe(b->d, b->alloc);
	b->off = b->len = 0;
}

size_t
kbuf_len(const struct kbuf *b)
{
	if (b == NULL)
		return 0;
	kbuf_check(b);
	return b->len - b->off;
}

const uint8_t *
kbuf_ptr(const struct kbuf *b)
{
	if (b == NULL)
		return NULL;
	kbuf_check(b);
	if (b->d == NULL)
		return (const uint8_t *)"";
	return b->d + b->off;
}

/* Point at the next n unread bytes without consuming, or fail. */
static int
kbuf_peek(struct kbuf *b, size_t n, const uint8_t **p)
{
	*p = NULL;
	if (b == NULL)
		return KAGI_ERR_INTERNAL;
	kbuf_check(b);
	if (n > b->len - b->off)
		return KAGI_ERR_FORMAT;
	*p = b->d != NULL ? b->d + b->off : (const uint8_t *)"";
	return 0;
}

static void
kbuf_consume(struct kbuf *b, size_t n)
{
	b->off += n;
	kbuf_check(b);
}

int
kbuf_get_u8(struct kbuf *b, uint8_t *v)
{
	const uint8_t *p;
	int r;

	if (v == NULL)
		return KAGI_ERR_INTERNAL;
	*v = 0;
	if ((r = kbuf_peek(b, 1, &p)) != 0)
		return r;
	*v = p[0];
	kbuf_consume(b, 1);
	return 0;
}

int
kbuf_get_u16(struct kbuf *b, uint16_t *v)
{
	const uint8_t *p;
	int r;

	if (v == NULL)
		return KAGI_ERR_INTERNAL;
	*v = 0;
	if ((r = kbuf_peek(b, 2, &p)) != 0)
		return r;
	*v = (uint16_t)((uint16_t)p[0] << 8 | p[1]);
	kbuf_consume(b, 2);
	return 0;
}

static uint32_t
load_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int
kbuf_get_u32(struct kbuf *b, uint32_t *v)
{
	const uint8_t *p;
	int r;

	if (v == NULL)
		return KAGI_ERR_INTERNAL;
	*v = 0;
	if ((r = kbuf_peek(b, 4, &p)) != 0)
		return r;
	*v = load_u32(p);
	kbuf_consume(b, 4);
	return 0;
}

int
kbuf_get_u64(struct kbuf *b, uint64_t *v)
{
	const uint8_t *p;
	int r;

	if (v == NULL)
		return KAGI_ERR_INTERNAL;
	*v = 0;
	if ((r = kbuf_peek(b, 8, &p)) != 0)
		return r;
	*v = (uint64_t)load_u32(p) << 32 | load_u32(p + 4);
	kbuf_consume(b, 8);
	return 0;
}

int
kbuf_get_i64(struct kbuf *b, int64_t *v)
{
	uint64_t u;
	int r;

	if (v == NULL)
		return KAGI_ERR_INTERNAL;
	*v = 0;
	if ((r = kbuf_get_u64(b, &u)) != 0)
		return r;
	/* Two's complement without implementation-defined conversion. */
	if (u <= (uint64_t)INT64_MAX)
		*v = (int64_t)u;
	else
		*v = -(int64_t)(~u) - 1;
	return 0;
}

int
kbuf_get_bytes(struct kbuf *b, void *out, size_t len)
{
	const uint8_t *p;
	int r;

	if (out == NULL && len != 0)
		return KAGI_ERR_INTERNAL;
	if ((r = kbuf_peek(b, len, &p)) != 0)
		return r;
	if (len != 0)
		memcpy(out, p, len);
	kbuf_consume(b, len);
	return 0;
}

int
kbuf_get_view(struct kbuf *b, size_t len, const uint8_t **p)
{
	int r;

	if (p == NULL)
		return KAGI_ERR_INTERNAL;
	if ((r = kbuf_peek(b, len, p)) != 0)
		return r;
	kbuf_consume(b, len);
	return 0;
}

/* Peek a u32 length prefix and the bytes after it; consumes nothing. */
static int
kbuf_peek_lv(struct kbuf *b, size_t maxlen, const uint8_t **data,
    size_t *len)
{
	const uint8_t *p;
	uint32_t n;
	int r;

	*data = NULL;
	*len = 0;
	if ((r = kbuf_peek(b, 4, &p)) != 0)
		return r;
	n = load_u32(p);
	if (n > maxlen)
		return KAGI_ERR_LIMIT;
	if ((size_t)n > b->len - b->off - 4)
		return KAGI_ERR_FORMAT;
	*data = p + 4;
	*len = n;
	return 0;
}

int
kbuf_get_string(struct kbuf *b, char **out, size_t maxlen)
{
	const uint8_t *p;
	size_t n;
	char *s;
	int r;

	if (out == NULL)
		return KAGI_ERR_INTERNAL;
	*out = NULL;
	if ((r = kbuf_peek_lv(b, maxlen, &p, &n)) != 0)
		return r;
	if (!kagi_utf8_valid((const char *)p, n))
		return KAGI_ERR_FORMAT;
	if ((s = malloc(n + 1)) == NULL)
		return KAGI_ERR_NOMEM;
	memcpy(s, p, n);
	s[n] = '\0';
	kbuf_consume(b, 4 + n);
	*out = s;
	return 0;
}

int
kbuf_get_blob(struct kbuf *b, uint8_t **out, size_t *outlen, size_t maxlen)
{
	const uint8_t *p;
	size_t n;
	uint8_t *d = NULL;
	int r;

	if (out == NULL || outlen == NULL)
		return KAGI_ERR_INTERNAL;
	*out = NULL;
	*outlen = 0;
	if ((r = kbuf_peek_lv(b, maxlen, &p, &n)) != 0)
		return r;
	if (n > 0) {
		if ((d = malloc(n)) == NULL)
			return KAGI_ERR_NOMEM;
		memcpy(d, p, n);
	}
	kbuf_consume(b, 4 + n);
	*out = d;
	*outlen = n;
	return 0;
}

int
kbuf_expect_end(const struct kbuf *b)
{
	if (b == NULL)
		return KAGI_ERR_INTERNAL;
	kbuf_check(b);
	return b->off == b->len ? 0 : KAGI_ERR_TRAILING;
}

/* Make room for n more bytes and return where they go. */
static int
kbuf_reserve(struct kbuf *b, size_t n, uint8_t **p)
{
	size_t want, nalloc;
	uint8_t *nd;

	*p = NULL;
	if (b == NULL)
		return KAGI_ERR_INTERNAL;
	kbuf_check(b);
	if (b->readonly)
		return KAGI_ERR_INTERNAL;
	if (n > b->max - b->len)
		return KAGI_ERR_LIMIT;
	want = b->len + n;
	if (want > b->alloc) {
		nalloc = b->alloc < 256 ? 256 : b->alloc;
		while (nalloc < want)
			nalloc = nalloc > b->max / 2 ? b->max : nalloc * 2;
		if (nalloc > b->max)
			nalloc = b->max;
		/* Not realloc: the old block must be wiped, not just freed. */
		if ((nd = malloc(nalloc)) == NULL)
			return KAGI_ERR_NOMEM;
		if (b->d != NULL) {
			memcpy(nd, b->d, b->len);
			kagi_wipe(b->d, b->alloc);
			free(b->d);
		}
		b->d = nd;
		b->alloc = nalloc;
	}
	*p = b->d + b->len;
	return 0;
}

static int
kbuf_append(struct kbuf *b, const void *data, size_t n)
{
	uint8_t *p;
	int r;

	if ((r = kbuf_reserve(b, n, &p)) != 0)
		return r;
	if (n != 0)
		memcpy(p, data, n);
	b->len += n;
	kbuf_check(b);
	return 0;
}

int
kbuf_put_u8(struct kbuf *b, uint8_t v)
{
	return kbuf_append(b, &v, 1);
}

int
kbuf_put_u16(struct kbuf *b, uint16_t v)
{
	uint8_t p[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	return kbuf_append(b, p, sizeof(p));
}

int
kbuf_put_u32(struct kbuf *b, uint32_t v)
{
	uint8_t p[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
	    (uint8_t)(v >> 8), (uint8_t)v };

	return kbuf_append(b, p, sizeof(p));
}

int
kbuf_put_u64(struct kbuf *b, uint64_t v)
{
	uint8_t p[8];
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
	return kbuf_append(b, p, sizeof(p));
}

int
kbuf_put_i64(struct kbuf *b, int64_t v)
{
	return kbuf_put_u64(b, (uint64_t)v);
}

int
kbuf_put(struct kbuf *b, const void *data, size_t len)
{
	if (data == NULL && len != 0)
		return KAGI_ERR_INTERNAL;
	return kbuf_append(b, data, len);
}

int
kbuf_put_blob(struct kbuf *b, const void *data, size_t len)
{
	uint8_t *p;
	int r;

	if (data == NULL && len != 0)
		return KAGI_ERR_INTERNAL;
	if (len > UINT32_MAX)
		return KAGI_ERR_LIMIT;
	if (b == NULL)
		return KAGI_ERR_INTERNAL;
	/* All or nothing: never leave a length without its bytes. */
	if (len > SIZE_MAX - 4)
		return KAGI_ERR_LIMIT;
	if ((r = kbuf_reserve(b, 4 + len, &p)) != 0)
		return r;
	r = kbuf_put_u32(b, (uint32_t)len);
	if (r == 0)
		r = kbuf_append(b, data, len);
	return r;
}

int
kbuf_put_string(struct kbuf *b, const char *s)
{
	if (s == NULL)
		s = "";
	return kbuf_put_blob(b, s, strlen(s));
}

int
kagi_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, n, k;
	uint32_t cp;
	unsigned char c;

	if (s == NULL)
		return len == 0;
	while (i < len) {
		c = s[i];
		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 2;
			cp = c & 0x1fu;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 3;
			cp = c & 0x0fu;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 4;
			cp = c & 0x07u;
		} else
			return 0; /* continuation, overlong lead, > U+10FFFF */
		if (n > len - i)
			return 0;
		for (k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3fu);
		}
		if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000))
			return 0; /* overlong */
		if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n;
	}
	return 1;
}
