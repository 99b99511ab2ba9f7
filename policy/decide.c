/*
 * Pure policy decisions: no I/O, no clock; `now` is always an argument so
 * tests and fuzzers decide time (STYLE 13).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "kagi/i18n.h"
#include "kagi/kbuf.h"
#include "policy_int.h"

enum policy_tier
policy_tier_for_kind(enum store_account_kind kind)
{
	switch (kind) {
	case STORE_KIND_PRIVILEGED:
		return POLICY_TIER_PRIVILEGED;
	case STORE_KIND_SHARED:
		return POLICY_TIER_SHARED;
	default:
		return POLICY_TIER_ORDINARY;
	}
}

/*
 * R-MFA-2 counts categories, not credentials.  A card login proves
 * possession (the key on the card) and knowledge (the card verified the PIN).
 * FIDO proves possession; with user verification it adds a second category.
 * The authenticator does not say whether UV was a PIN or a fingerprint, so
 * it is counted as knowledge: password + FIDO-with-UV is then two categories,
 * never three (an under-count is the safe side).
 */
unsigned
policy_categories(unsigned factors, int fido_uv)
{
	unsigned cats = 0;

	if (factors & POLICY_FACTOR_PASSWORD)
		cats |= POLICY_CAT_KNOWLEDGE;
	if (factors & POLICY_FACTOR_CARD)
		cats |= POLICY_CAT_POSSESSION | POLICY_CAT_KNOWLEDGE;
	if (factors & POLICY_FACTOR_FIDO) {
		cats |= POLICY_CAT_POSSESSION;
		if (fido_uv)
			cats |= POLICY_CAT_KNOWLEDGE;
	}
	return cats;
}

unsigned
policy_category_count(unsigned cats)
{
	unsigned n = 0;

	cats &= POLICY_CAT_KNOWLEDGE | POLICY_CAT_POSSESSION |
	    POLICY_CAT_INHERENCE;
	while (cats != 0) {
		n += cats & 1u;
		cats >>= 1;
	}
	return n;
}

int
policy_check_factors(const struct policy *p, const char *zone,
    enum store_account_kind kind, unsigned factors, int fido_uv)
{
	const struct policy_zone *z;
	const unsigned known = POLICY_FACTOR_PASSWORD | POLICY_FACTOR_CARD |
	    POLICY_FACTOR_FIDO;

	if (p == NULL || zone == NULL || (unsigned)kind >= STORE_KIND_COUNT)
		return KAGI_ERR_DENIED;
	if ((z = policy_zone_find(p, zone)) == NULL)
		return KAGI_ERR_DENIED;
	if (factors == 0 || (factors & ~known) != 0 ||
	    (factors & ~z->factors) != 0)
		return KAGI_ERR_DENIED;
	if (policy_category_count(policy_categories(factors, fido_uv)) <
	    z->min_categories[kind])
		return KAGI_ERR_DENIED;
	/* Defence in depth: the load-time floor, re-checked (R-MFA-2). */
	if (z->is_mynumber &&
	    policy_category_count(policy_categories(factors, fido_uv)) < 2)
		return KAGI_ERR_DENIED;
	return 0;
}

/* Locked while now < locked_until; the lock ends at locked_until. */
int
policy_check_locked(int64_t locked_until, int64_t now)
{
	if (locked_until == INT64_MAX)
		return KAGI_ERR_LOCKED;
	if (locked_until > now)
		return KAGI_ERR_LOCKED;
	return 0;
}

/*
 * Failures count inside the window [first, first + window).  A failure at or
 * after first + window, before first (the clock went back), or after an
 * expired lock starts a new count at 1.  Reaching the threshold locks for
 * `duration` seconds, or until an operator unlocks (duration 0: INT64_MAX).
 */
int
policy_lockout_fail(const struct policy_lockout *l, uint32_t *count,
    int64_t *first, int64_t *locked_until, int64_t now)
{
	bool restart;

	if (l == NULL || count == NULL || first == NULL ||
	    locked_until == NULL)
		return 0;
	restart = *count == 0 || now < *first ||
	    now - *first >= l->window ||
	    (*locked_until != 0 && *locked_until != INT64_MAX &&
	    *locked_until <= now);
	if (restart) {
		*count = 1;
		*first = now;
		if (*locked_until != INT64_MAX && *locked_until <= now)
			*locked_until = 0;
	} else if (*count < UINT32_MAX) {
		(*count)++;
	}
	if (l->threshold == 0 || *count < l->threshold)
		return 0;
	if (l->duration <= 0 || now > INT64_MAX - 1 - l->duration)
		*locked_until = INT64_MAX;
	else if (*locked_until != INT64_MAX &&
	    *locked_until < now + l->duration)
		*locked_until = now + l->duration;
	return 1;
}

int
policy_check_password_age(const struct policy_password *pw, int64_t changed,
    uint32_t logins, int64_t now)
{
	if (pw == NULL)
		return KAGI_ERR_EXPIRED;
	if (pw->max_age_days != 0 &&
	    now - changed >= (int64_t)pw->max_age_days * 86400)
		return KAGI_ERR_EXPIRED;
	if (pw->max_logins != 0 && logins >= pw->max_logins)
		return KAGI_ERR_EXPIRED;
	return 0;
}

int
policy_is_dormant(const struct policy_sweep *s, int64_t last_activity,
    int64_t now)
{
	if (s == NULL || s->dormant_days == 0)
		return 0;
	return now - last_activity >= (int64_t)s->dormant_days * 86400;
}

/* A short list of the passwords tried first; checked case-insensitively. */
static const char *const common_pw[] = {
	"password", "passw0rd", "p@ssw0rd", "p@ssword", "123456", "1234567",
	"12345678", "123456789", "1234567890", "12345678910", "qwerty",
	"qwertyuiop", "qwerty123", "asdfghjkl", "zxcvbnm", "abc123",
	"abcd1234", "a1b2c3d4", "111111", "000000", "letmein", "welcome",
	"welcome1", "admin", "administrator", "changeme", "iloveyou",
	"monkey", "dragon", "sunshine", "princess", "football", "baseball",
	"master", "superman", "trustno1", "whatever", "computer", "internet",
	"tokyo", "nippon", "japan", "sakura", "pokemon", "doraemon",
	"kagi", "mynumber", "lgwan", "root", "guest", "user", "test",
	NULL
};

static bool
ci_contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle), h = strlen(hay);

	if (n == 0 || n > h)
		return false;
	for (size_t i = 0; i + n <= h; i++)
		if (strncasecmp(hay + i, needle, n) == 0)
			return true;
	return false;
}

/* The password with trailing digits and symbols removed ("Password1!"). */
static size_t
core_len(const char *s, size_t n)
{
	while (n > 0) {
		char ch = s[n - 1];
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (unsigned char)ch >= 0x80)
			break;
		n--;
	}
	return n;
}

int
policy_check_password(const struct policy_password *pw, const char *password,
    const char *login, const char *person_name, const char **reason)
{
	size_t n, chars = 0, cl;
	unsigned classes = 0, nclasses = 0;

	if (reason != NULL)
		*reason = NULL;
	if (pw == NULL || password == NULL) {
		if (reason != NULL)
			*reason = _("no password was given");
		return KAGI_ERR_INVALID;
	}
	n = strlen(password);
	if (!kagi_utf8_valid(password, n)) {
		if (reason != NULL)
			*reason = _("the password is not valid UTF-8 text");
		return KAGI_ERR_INVALID;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)password[i];
		if ((ch & 0xc0) != 0x80)
			chars++;
		if (ch >= 'a' && ch <= 'z')
			classes |= 1u;
		else if (ch >= 'A' && ch <= 'Z')
			classes |= 2u;
		else if (ch >= '0' && ch <= '9')
			classes |= 4u;
		else if (ch < 0x80 || (ch & 0xc0) != 0x80)
			classes |= 8u;
	}
	for (unsigned b = 1; b <= 8u; b <<= 1)
		nclasses += (classes & b) ? 1u : 0u;
	if (chars < pw->min_length) {
		if (reason != NULL)
			*reason = _("the password is too short");
		return KAGI_ERR_INVALID;
	}
	if (nclasses < pw->min_classes) {
		if (reason != NULL)
			*reason = _("the password needs more kinds of characters "
			    "(lower case, upper case, digits, symbols)");
		return KAGI_ERR_INVALID;
	}
	if (pw->reject_login_name && login != NULL && strlen(login) >= 3 &&
	    ci_contains(password, login)) {
		if (reason != NULL)
			*reason = _("the password contains the login name");
		return KAGI_ERR_INVALID;
	}
	if (pw->reject_person_name && person_name != NULL) {
		const char *s = person_name;
		while (*s != '\0') {
			char part[128];
			size_t k = strcspn(s, " \t,.-");
			if (k >= 3 && k < sizeof(part)) {
				memcpy(part, s, k);
				part[k] = '\0';
				if (ci_contains(password, part)) {
					if (reason != NULL)
						*reason = _("the password contains "
						    "the person's name");
					return KAGI_ERR_INVALID;
				}
			}
			s += k;
			if (*s != '\0')
				s++;
		}
	}
	if (pw->reject_common) {
		cl = core_len(password, n);
		for (size_t i = 0; common_pw[i] != NULL; i++) {
			size_t m = strlen(common_pw[i]);
			if ((m == n && strncasecmp(password, common_pw[i], n) == 0) ||
			    (m == cl && strncasecmp(password, common_pw[i], m) == 0)) {
				if (reason != NULL)
					*reason = _("the password is too common");
				return KAGI_ERR_INVALID;
			}
		}
	}
	return 0;
}

/* Does password contain a part (3+ characters) of the person's name? */
static bool
has_name_part(const char *password, const char *person_name)
{
	const char *s = person_name;

	while (s != NULL && *s != '\0') {
		char part[128];
		size_t k = strcspn(s, " \t,.-");
		if (k >= 3 && k < sizeof(part)) {
			memcpy(part, s, k);
			part[k] = '\0';
			if (ci_contains(password, part))
				return true;
		}
		s += k;
		if (*s != '\0')
			s++;
	}
	return false;
}

unsigned
policy_password_faults(const struct policy_password *pw, const char *password,
    const char *login, const char *person_name)
{
	size_t n, chars = 0, cl;
	unsigned classes = 0, nclasses = 0, f = 0;

	if (pw == NULL || password == NULL)
		return POLICY_PWF_MIN_LENGTH;
	n = strlen(password);
	if (!kagi_utf8_valid(password, n))
		return POLICY_PWF_UTF8;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)password[i];
		if ((ch & 0xc0) != 0x80)
			chars++;
		if (ch >= 'a' && ch <= 'z')
			classes |= 1u;
		else if (ch >= 'A' && ch <= 'Z')
			classes |= 2u;
		else if (ch >= '0' && ch <= '9')
			classes |= 4u;
		else if (ch < 0x80 || (ch & 0xc0) != 0x80)
			classes |= 8u;
	}
	for (unsigned b = 1; b <= 8u; b <<= 1)
		nclasses += (classes & b) ? 1u : 0u;
	if (chars < pw->min_length)
		f |= POLICY_PWF_MIN_LENGTH;
	if (nclasses < pw->min_classes)
		f |= POLICY_PWF_MIN_CLASSES;
	if (pw->reject_login_name && login != NULL && strlen(login) >= 3 &&
	    ci_contains(password, login))
		f |= POLICY_PWF_LOGIN_NAME;
	if (pw->reject_person_name && person_name != NULL &&
	    has_name_part(password, person_name))
		f |= POLICY_PWF_PERSON_NAME;
	if (pw->reject_common) {
		cl = core_len(password, n);
		for (size_t i = 0; common_pw[i] != NULL; i++) {
			size_t m = strlen(common_pw[i]);
			if ((m == n && strncasecmp(password, common_pw[i], n) ==
			    0) || (m == cl && strncasecmp(password, common_pw[i],
			    m) == 0)) {
				f |= POLICY_PWF_COMMON;
				break;
			}
		}
	}
	return f;
}
