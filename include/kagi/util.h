/*
 * Injectable time and randomness (tests and fuzzers install their own), and
 * time formatting.  Times are int64 seconds since the Unix epoch, UTC.
 * Dates shown to people are formatted in the local time zone.
 */
#ifndef KAGI_UTIL_H
#define KAGI_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "kagi/err.h"

typedef int64_t kagi_clock_fn(void *arg);
typedef int kagi_random_fn(void *buf, size_t n, void *arg);

/* Current time from the installed source (default: CLOCK_REALTIME). */
int64_t kagi_now(void);
void kagi_clock_set_source(kagi_clock_fn *fn, void *arg);

/* Fill buf with n random bytes (default: OpenSSL RAND_bytes). */
int kagi_random_bytes(void *buf, size_t n) KAGI_WUR;
void kagi_random_set_source(kagi_random_fn *fn, void *arg);
/* Uniform integer in [0, bound) without modulo bias. */
int kagi_random_uniform(uint32_t bound, uint32_t *out) KAGI_WUR;

/* "2026-11-24T09:00:00Z" */
int kagi_time_format_utc(int64_t t, char *buf, size_t len) KAGI_WUR;
/* "2026-11-24 18:00:00 JST" in the local time zone (TZ). */
int kagi_time_format_local(int64_t t, char *buf, size_t len) KAGI_WUR;
/* RFC 3339 with Z or +hh:mm offset, or a date "YYYY-MM-DD" (00:00 local). */
int kagi_time_parse(const char *s, int64_t *out) KAGI_WUR;
/* "90s", "15m", "72h", "30d" -> seconds; KAGI_ERR_INVALID otherwise. */
int kagi_duration_parse(const char *s, int64_t *out) KAGI_WUR;

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void kagi_hex_encode(const uint8_t *in, size_t n, char *out);

#endif
