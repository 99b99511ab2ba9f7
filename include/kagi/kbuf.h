/*
 * kbuf: the one bounded buffer through which every untrusted byte is read
 * (socket bytes, LMDB values, card responses, files).  A kbuf has a hard size
 * cap fixed at creation; reads consume from the front and fail with
 * KAGI_ERR_FORMAT (not enough bytes) or KAGI_ERR_LIMIT (a length prefix over
 * the caller's maximum) without consuming anything.  Writes append and fail
 * with KAGI_ERR_LIMIT past the cap.  Integers are big-endian; strings and
 * blobs carry a u32 length prefix.  Invariants are checked on every call.
 */
#ifndef KAGI_KBUF_H
#define KAGI_KBUF_H

#include <stddef.h>
#include <stdint.h>

#include "kagi/err.h"

#define KBUF_MAX_SIZE (64u * 1024u * 1024u) /* absolute cap: 64 MiB */

struct kbuf;

/* A growable buffer for writing, capped at max bytes (<= KBUF_MAX_SIZE). */
struct kbuf *kbuf_new(size_t max);
/* A read-only view of caller memory (no copy; data must outlive the view). */
struct kbuf *kbuf_from(const void *data, size_t len);
/* NULL-safe; wipes the contents of owned memory. */
void kbuf_free(struct kbuf *b);
/* Drop contents (wiped) but keep the cap; only for writable buffers. */
void kbuf_reset(struct kbuf *b);

size_t kbuf_len(const struct kbuf *b);       /* bytes left to read */
const uint8_t *kbuf_ptr(const struct kbuf *b); /* start of unread bytes */

int kbuf_get_u8(struct kbuf *b, uint8_t *v) KAGI_WUR;
int kbuf_get_u16(struct kbuf *b, uint16_t *v) KAGI_WUR;
int kbuf_get_u32(struct kbuf *b, uint32_t *v) KAGI_WUR;
int kbuf_get_u64(struct kbuf *b, uint64_t *v) KAGI_WUR;
int kbuf_get_i64(struct kbuf *b, int64_t *v) KAGI_WUR;
/* Exactly len raw bytes into out. */
int kbuf_get_bytes(struct kbuf *b, void *out, size_t len) KAGI_WUR;
/* Point at the next len bytes without copying, and consume them. */
int kbuf_get_view(struct kbuf *b, size_t len, const uint8_t **p) KAGI_WUR;
/*
 * u32 length + bytes; refuses lengths over maxlen (KAGI_ERR_LIMIT) and
 * embedded NUL or invalid UTF-8 (KAGI_ERR_FORMAT); *out is a new
 * NUL-terminated string (free()).
 */
int kbuf_get_string(struct kbuf *b, char **out, size_t maxlen) KAGI_WUR;
/* u32 length + bytes into a new allocation (free()); len 0 gives NULL. */
int kbuf_get_blob(struct kbuf *b, uint8_t **out, size_t *outlen,
    size_t maxlen) KAGI_WUR;
/* 0 if everything was consumed, else KAGI_ERR_TRAILING. */
int kbuf_expect_end(const struct kbuf *b) KAGI_WUR;

int kbuf_put_u8(struct kbuf *b, uint8_t v) KAGI_WUR;
int kbuf_put_u16(struct kbuf *b, uint16_t v) KAGI_WUR;
int kbuf_put_u32(struct kbuf *b, uint32_t v) KAGI_WUR;
int kbuf_put_u64(struct kbuf *b, uint64_t v) KAGI_WUR;
int kbuf_put_i64(struct kbuf *b, int64_t v) KAGI_WUR;
int kbuf_put(struct kbuf *b, const void *data, size_t len) KAGI_WUR;
/* u32 length + bytes; NULL is written as the empty string. */
int kbuf_put_string(struct kbuf *b, const char *s) KAGI_WUR;
int kbuf_put_blob(struct kbuf *b, const void *data, size_t len) KAGI_WUR;

/* True if s is valid UTF-8 of exactly len bytes with no NUL. */
int kagi_utf8_valid(const char *s, size_t len);

#endif
