/*
 * Injectable clock and randomness (STYLE.md 13), time and duration parsing
 * and formatting.  Stored times are UTC; people see local time.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "kagi/log.h"
#include "kagi/util.h"

static kagi_clock_fn *clock_fn;
static void *clock_arg;
static kagi_random_fn *random_fn;
static void *random_arg;

int64_t
kagi_now(void)
{
	struct timespec ts;

	if (clock_fn != NULL)
		return clock_fn(clock_arg);
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec;
}

void
kagi_clock_set_source(kagi_clock_fn *fn, void *arg)
{
	clock_fn = fn;
	clock_arg = fn != NULL ? arg : NULL;
}

int
kagi_random_bytes(void *buf, size_t n)
{
	uint8_t *p = buf;
	size_t chunk;

	if (buf == NULL && n != 0)
		return KAGI_ERR_INTERNAL;
	if (random_fn != NULL)
		return random_fn(buf, n, random_arg);
	while (n > 0) {
		chunk = n > INT_MAX ? INT_MAX : n;
		if (RAND_bytes(p, (int)chunk) != 1) {
			kagi_log_err("RAND_bytes failed");
			return KAGI_ERR_SYSTEM;
		}
		p += chunk;
		n -= chunk;
	}
	return 0;
}

void
kagi_random_set_source(kagi_random_fn *fn, void *arg)
{
	random_fn = fn;
	random_arg = fn != NULL ? arg : NULL;
}

int
kagi_random_uniform(uint32_t bound, uint32_t *out)
{
	uint32_t v, min;
	int r;

	if (out == NULL)
		return KAGI_ERR_INTERNAL;
	*out = 0;
	if (bound < 2)
		return bound == 1 ? 0 : KAGI_ERR_INVALID;
	/* Reject values below 2^32 mod bound: what remains is a multiple. */
	min = (uint32_t)(-bound) % bound;
	for (;;) {
		if ((r = kagi_random_bytes(&v, sizeof(v))) != 0)
			return r;
		if (v >= min)
			break;
	}
	*out = v % bound;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t
days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
days_in_month(int y, int m)
{
	static const int dm[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
		30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 ? 28 + leap : dm[m - 1];
}

/* Exactly n decimal digits at s. */
static int
parse_digits(const char *s, int n, int *out)
{
	int i, v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int
parse_date(const char *s, int *y, int *mo, int *d)
{
	if (parse_digits(s, 4, y) != 0 || s[4] != '-' ||
	    parse_digits(s + 5, 2, mo) != 0 || s[7] != '-' ||
	    parse_digits(s + 8, 2, d) != 0)
		return -1;
	if (*y < 1 || *mo < 1 || *mo > 12 || *d < 1 ||
	    *d > days_in_month(*y, *mo))
		return -1;
	return 0;
}

int
kagi_time_parse(const char *s, int64_t *out)
{
	int y, mo, d, h, mi, sec, oh, om, sign;
	int64_t t;
	struct tm tm;
	time_t lt;
	const char *p;

	if (out == NULL)
		return KAGI_ERR_INTERNAL;
	*out = 0;
	if (s == NULL || strnlen(s, 11) < 10 || parse_date(s, &y, &mo, &d) != 0)
		return KAGI_ERR_INVALID;
	if (s[10] == '\0') {
		/* A plain date: local midnight. */
		memset(&tm, 0, sizeof(tm));
		tm.tm_year = y - 1900;
		tm.tm_mon = mo - 1;
		tm.tm_mday = d;
		tm.tm_isdst = -1;
		tzset();
		lt = mktime(&tm);
		if (lt == (time_t)-1 || tm.tm_year != y - 1900 ||
		    tm.tm_mon != mo - 1 || tm.tm_mday != d)
			return KAGI_ERR_INVALID;
		*out = (int64_t)lt;
		return 0;
	}
	p = s + 10;
	if (*p != 'T' && *p != 't')
		return KAGI_ERR_INVALID;
	p++;
	if (parse_digits(p, 2, &h) != 0 || p[2] != ':' ||
	    parse_digits(p + 3, 2, &mi) != 0 || p[5] != ':' ||
	    parse_digits(p + 6, 2, &sec) != 0)
		return KAGI_ERR_INVALID;
	if (h > 23 || mi > 59 || sec > 59) /* no leap seconds */
		return KAGI_ERR_INVALID;
	p += 8;
	if (*p == '.') {
		/* Fractional seconds are accepted and truncated. */
		p++;
		if (*p < '0' || *p > '9')
			return KAGI_ERR_INVALID;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		*out = t;
		return 0;
	}
	if (*p != '+' && *p != '-')
		return KAGI_ERR_INVALID;
	sign = *p == '+' ? 1 : -1;
	p++;
	if (parse_digits(p, 2, &oh) != 0 || p[2] != ':' ||
	    parse_digits(p + 3, 2, &om) != 0 || p[5] != '\0' || oh > 23 ||
	    om > 59)
		return KAGI_ERR_INVALID;
	*out = t - sign * (int64_t)(oh * 3600 + om * 60);
	return 0;
}

int
kagi_duration_parse(const char *s, int64_t *out)
{
	int64_t v = 0, mul;
	const char *p;
	int ndig = 0;

	if (out == NULL)
		return KAGI_ERR_INTERNAL;
	*out = 0;
	if (s == NULL)
		return KAGI_ERR_INVALID;
	for (p = s; *p >= '0' && *p <= '9'; p++) {
		if (++ndig > 9)
			return KAGI_ERR_INVALID;
		v = v * 10 + (*p - '0');
	}
	if (ndig == 0 || p[0] == '\0' || p[1] != '\0')
		return KAGI_ERR_INVALID;
	switch (p[0]) {
	case 's':
		mul = 1;
		break;
	case 'm':
		mul = 60;
		break;
	case 'h':
		mul = 3600;
		break;
	case 'd':
		mul = 86400;
		break;
	case 'w':
		mul = 7 * 86400;
		break;
	default:
		return KAGI_ERR_INVALID;
	}
	/* 9 digits times a week fits easily in int64. */
	*out = v * mul;
	return 0;
}

int
kagi_time_format_utc(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (buf == NULL || len == 0)
		return KAGI_ERR_INTERNAL;
	buf[0] = '\0';
	if (gmtime_r(&tt, &tm) == NULL || tm.tm_year < -1899 ||
	    tm.tm_year > 9999 - 1900)
		return KAGI_ERR_INVALID;
	if (strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		buf[0] = '\0';
		return KAGI_ERR_LIMIT;
	}
	return 0;
}

int
kagi_time_format_local(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (buf == NULL || len == 0)
		return KAGI_ERR_INTERNAL;
	buf[0] = '\0';
	tzset(); /* pick up TZ changes; localtime_r need not */
	if (localtime_r(&tt, &tm) == NULL || tm.tm_year < -1899 ||
	    tm.tm_year > 9999 - 1900)
		return KAGI_ERR_INVALID;
	if (strftime(buf, len, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0) {
		buf[0] = '\0';
		return KAGI_ERR_LIMIT;
	}
	return 0;
}

void
kagi_hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	if (out == NULL)
		return;
	for (i = 0; i < n && in != NULL; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 0xf];
	}
	out[2 * i] = '\0';
}
