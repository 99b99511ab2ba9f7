/*
 * Logging: format, sanitise, hand to the installed handler (STYLE.md 12).
 * Sanitising happens here, once, so no handler can forget it: bytes below
 * 0x20, 0x7f and anything that is not valid UTF-8 become \xNN, so text from
 * a peer cannot forge a second log line or terminal escapes (R-LOG-4).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "kagi/err.h"
#include "kagi/log.h"

#define LOG_MSG_MAX 2048 /* cap of a formatted message, before escaping */

static kagi_log_handler_fn *log_handler = kagi_log_stderr_handler;
static void *log_handler_arg;
static int log_level = KAGI_LOG_INFO;

void
kagi_log_set_handler(kagi_log_handler_fn *fn, void *arg)
{
	if (fn == NULL) {
		log_handler = kagi_log_stderr_handler;
		log_handler_arg = NULL;
		return;
	}
	log_handler = fn;
	log_handler_arg = arg;
}

void
kagi_log_set_level(int level)
{
	if (level < KAGI_LOG_ERR)
		level = KAGI_LOG_ERR;
	if (level > KAGI_LOG_DEBUG)
		level = KAGI_LOG_DEBUG;
	log_level = level;
}

int
kagi_log_get_level(void)
{
	return log_level;
}

int
kagi_log_level_parse(const char *s, int *level)
{
	static const struct {
		const char *name;
		int level;
	} names[] = {
		{ "error", KAGI_LOG_ERR },
		{ "warn", KAGI_LOG_WARN },
		{ "info", KAGI_LOG_INFO },
		{ "debug", KAGI_LOG_DEBUG },
	};
	size_t i;

	if (s == NULL || level == NULL)
		return KAGI_ERR_INVALID;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i].name) == 0) {
			*level = names[i].level;
			return 0;
		}
	}
	return KAGI_ERR_INVALID;
}

static const char *
level_name(int level)
{
	switch (level) {
	case KAGI_LOG_ERR:
		return "error";
	case KAGI_LOG_WARN:
		return "warning";
	case KAGI_LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

static const char *
base_name(const char *file)
{
	const char *s;

	if (file == NULL)
		return "?";
	s = strrchr(file, '/');
	return s != NULL ? s + 1 : file;
}

void
kagi_log_stderr_handler(int level, const char *file, int line,
    const char *func, const char *msg, void *arg)
{
	int saved = errno;

	(void)func;
	(void)arg;
	fprintf(stderr, "%s[%ld]: %s: %s (%s:%d)\n",
	    program_invocation_short_name, (long)getpid(), level_name(level),
	    msg, base_name(file), line);
	errno = saved;
}

void
kagi_log_syslog_handler(int level, const char *file, int line,
    const char *func, const char *msg, void *arg)
{
	int prio;
	int saved = errno;

	(void)func;
	(void)arg;
	switch (level) {
	case KAGI_LOG_ERR:
		prio = LOG_ERR;
		break;
	case KAGI_LOG_WARN:
		prio = LOG_WARNING;
		break;
	case KAGI_LOG_INFO:
		prio = LOG_INFO;
		break;
	default:
		prio = LOG_DEBUG;
		break;
	}
	syslog(prio, "%s (%s:%d)", msg, base_name(file), line);
	errno = saved;
}

/* Length of a valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t
utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len, i;
	unsigned long cp;

	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1fu;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0fu;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07u;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3fu);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Escape in (n bytes) into out (outlen >= 4n + 1). */
static void
log_sanitise(const char *in, size_t n, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, o = 0, k;

	while (i < n && o + 5 <= outlen) {
		if (s[i] >= 0x20 && s[i] < 0x7f) {
			out[o++] = (char)s[i++];
			continue;
		}
		k = s[i] >= 0x80 ? utf8_seq_len(s + i, n - i) : 0;
		if (k > 0) {
			memcpy(out + o, s + i, k);
			o += k;
			i += k;
			continue;
		}
		out[o++] = '\\';
		out[o++] = 'x';
		out[o++] = hex[s[i] >> 4];
		out[o++] = hex[s[i] & 0xf];
		i++;
	}
	out[o] = '\0';
}

void
kagi_log_msg(int level, const char *file, int line, const char *func,
    const char *fmt, ...)
{
	char raw[LOG_MSG_MAX];
	char safe[4 * LOG_MSG_MAX + 1];
	va_list ap;
	int n;
	size_t len;
	int saved = errno;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	n = vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	if (n < 0)
		len = 0;
	else if ((size_t)n >= sizeof(raw))
		len = sizeof(raw) - 1;
	else
		len = (size_t)n;
	log_sanitise(raw, len, safe, sizeof(safe));
	log_handler(level, file, line, func, safe, log_handler_arg);
	errno = saved;
}
