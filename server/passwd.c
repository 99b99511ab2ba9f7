/*
 * Passwords in kagid: yescrypt hashing (libxcrypt), temporary passwords,
 * the rules a new password must meet, and the password-login decision with
 * lockout (R-PW-1..14, R-LOGIN-2, R-LOGIN-4, R-PRIV-5).  docs/ACCOUNTS.md
 * explains the behaviour; passwd.h is the contract.
 */
#include <crypt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kagi/i18n.h"
#include "kagi/kbuf.h"
#include "kagi/log.h"
#include "kagi/secmem.h"
#include "kagi/util.h"
#include "passwd.h"

/* data/common-passwords.txt, embedded by server/CMakeLists.txt */
extern const unsigned char kagid_common_pw_data[];
extern const size_t kagid_common_pw_len;

int
kagid_pw_hash(const char *password, uint32_t cost, char **out)
{
	struct crypt_data *cd = NULL;
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	const char *h;
	int r = KAGI_ERR_INTERNAL;

	if (out != NULL)
		*out = NULL;
	if (password == NULL || out == NULL || cost < 1 || cost > 11)
		return KAGI_ERR_INVALID;
	if (strlen(password) > KAGID_PW_MAX_BYTES)
		return KAGI_ERR_LIMIT;
	/* NULL random bytes: libxcrypt takes the salt from getentropy() */
	if (crypt_gensalt_rn("$y$", cost, NULL, 0, setting,
	    (int)sizeof(setting)) == NULL) {
		kagi_log_err("crypt_gensalt_rn($y$, %u) failed", cost);
		return KAGI_ERR_SYSTEM;
	}
	if ((cd = kagi_secure_alloc(sizeof(*cd))) == NULL)
		return KAGI_ERR_NOMEM;
	h = crypt_rn(password, setting, cd, (int)sizeof(*cd));
	if (h == NULL || h[0] == '*' || strncmp(h, "$y$", 3) != 0) {
		kagi_log_err("yescrypt hashing failed");
		r = KAGI_ERR_SYSTEM;
		goto out;
	}
	if ((*out = strdup(h)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	r = 0;
out:
	kagi_secure_free(cd, sizeof(*cd));
	return r;
}

int
kagid_pw_verify(const char *password, const char *hash)
{
	struct crypt_data *cd = NULL;
	const char *h;
	size_t n;
	int r = KAGI_ERR_AUTH;

	if (password == NULL || hash == NULL || strncmp(hash, "$y$", 3) != 0 ||
	    strlen(password) > KAGID_PW_MAX_BYTES)
		return KAGI_ERR_AUTH;
	if ((cd = kagi_secure_alloc(sizeof(*cd))) == NULL)
		return KAGI_ERR_NOMEM;
	h = crypt_rn(password, hash, cd, (int)sizeof(*cd));
	n = strlen(hash);
	if (h != NULL && h[0] != '*' && strlen(h) == n &&
	    kagi_memeq_ct(h, hash, n))
		r = 0;
	kagi_secure_free(cd, sizeof(*cd));
	return r;
}

int
kagid_pw_temp_new(uint32_t length, char **out)
{
	static const char alpha[] = KAGID_PW_TEMP_ALPHABET;
	char *s = NULL;
	uint32_t i, k;
	int r = KAGI_ERR_INTERNAL, tries;

	if (out != NULL)
		*out = NULL;
	if (out == NULL || length < 8 || length > 64)
		return KAGI_ERR_INVALID;
	if ((s = kagi_secure_alloc(length + 1)) == NULL)
		return KAGI_ERR_NOMEM;
	/* redraw until lower, upper and digit all occur (rarely needed) */
	for (tries = 0; tries < 100; tries++) {
		unsigned cls = 0;
		for (i = 0; i < length; i++) {
			if ((r = kagi_random_uniform(sizeof(alpha) - 1, &k)) != 0)
				goto out;
			s[i] = alpha[k];
			cls |= (s[i] >= 'a' && s[i] <= 'z') ? 1u :
			    (s[i] >= 'A' && s[i] <= 'Z') ? 2u : 4u;
		}
		s[length] = '\0';
		if (cls == 7u)
			break;
	}
	if (tries == 100) {
		r = KAGI_ERR_INTERNAL;
		goto out;
	}
	*out = s;
	s = NULL;
	r = 0;
out:
	kagi_secure_free(s, length + 1);
	return r;
}

/* ---- the common-password lists ---- */

static bool
is_letter(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

/* Is [p, p+n) a line of the list text (case-insensitive)? */
static bool
list_has(const char *list, size_t len, const char *p, size_t n)
{
	size_t i = 0;

	if (n == 0)
		return false;
	while (i < len) {
		size_t e = i;
		while (e < len && list[e] != '\n')
			e++;
		{
			size_t le = e;
			if (le > i && list[le - 1] == '\r')
				le--;
			if (list[i] != '#' && le - i == n &&
			    strncasecmp(list + i, p, n) == 0)
				return true;
		}
		i = e + 1;
	}
	return false;
}

static bool
on_list(const char *list, size_t len, const char *pw)
{
	size_t n = strlen(pw), a = 0, b = n;

	if (list == NULL || len == 0)
		return false;
	if (list_has(list, len, pw, n))
		return true;
	/* digits and symbols added at the ends do not make it uncommon */
	while (a < b && !is_letter((unsigned char)pw[a]))
		a++;
	while (b > a && !is_letter((unsigned char)pw[b - 1]))
		b--;
	if (b - a >= 4 && (a > 0 || b < n) &&
	    list_has(list, len, pw + a, b - a))
		return true;
	return false;
}

int
kagid_pw_is_common(const char *password, const char *extra, size_t extra_len)
{
	if (password == NULL)
		return 0;
	if (on_list((const char *)kagid_common_pw_data, kagid_common_pw_len,
	    password))
		return 1;
	return on_list(extra, extra_len, password) ? 1 : 0;
}

/* ---- rules for a new password ---- */

static int
add_fault(json_t *a, const char *rule, const char *msg)
{
	json_t *o = json_pack("{s:s, s:s}", "rule", rule, "message", msg);

	if (o == NULL || json_array_append_new(a, o) != 0)
		return KAGI_ERR_NOMEM;
	return 0;
}

int
kagid_pw_check_new(const struct kagid_pw_rules *c, const char *password,
    json_t **faults)
{
	json_t *a = NULL;
	unsigned f;
	char msg[256];
	int r = KAGI_ERR_INTERNAL;

	if (faults != NULL)
		*faults = NULL;
	if (c == NULL || c->pw == NULL || password == NULL || faults == NULL)
		return KAGI_ERR_INVALID;
	if ((a = json_array()) == NULL)
		return KAGI_ERR_NOMEM;
	if (strlen(password) > KAGID_PW_MAX_BYTES) {
		snprintf(msg, sizeof(msg), _("The password is longer than %d "
		    "bytes."), KAGID_PW_MAX_BYTES);
		if ((r = add_fault(a, "max_length", msg)) != 0)
			goto out;
		goto done; /* not hashed: nothing more to check */
	}
	f = policy_password_faults(c->pw, password, c->login, c->person_name);
	if (f & POLICY_PWF_UTF8) {
		if ((r = add_fault(a, "utf8", _("The password is not valid "
		    "UTF-8 text."))) != 0)
			goto out;
		goto done;
	}
	if (f & POLICY_PWF_MIN_LENGTH) {
		snprintf(msg, sizeof(msg), _("The password must have at least "
		    "%u characters."), c->pw->min_length);
		if ((r = add_fault(a, "min_length", msg)) != 0)
			goto out;
	}
	if (f & POLICY_PWF_MIN_CLASSES) {
		snprintf(msg, sizeof(msg), _("The password must use at least "
		    "%u kinds of characters: lower case, upper case, digits, "
		    "symbols."), c->pw->min_classes);
		if ((r = add_fault(a, "min_classes", msg)) != 0)
			goto out;
	}
	if ((f & POLICY_PWF_LOGIN_NAME) && (r = add_fault(a, "login_name",
	    _("The password must not contain the login name."))) != 0)
		goto out;
	if ((f & POLICY_PWF_PERSON_NAME) && (r = add_fault(a, "person_name",
	    _("The password must not contain the person's name."))) != 0)
		goto out;
	if (c->pw->reject_common && ((f & POLICY_PWF_COMMON) ||
	    kagid_pw_is_common(password, c->extra_common,
	    c->extra_common_len)) && (r = add_fault(a, "common",
	    _("The password is too common: it is on the list of passwords "
	    "people often choose."))) != 0)
		goto out;
	if (c->current != NULL && c->current_is_temp &&
	    strcmp(c->current, password) == 0 && (r = add_fault(a,
	    "temporary", _("The new password must not be the temporary "
	    "password."))) != 0)
		goto out;
	/* history (R-PW-4): the current password and the last N */
	if (c->a != NULL) {
		bool used = false;
		if (!c->current_is_temp && c->a->pw_hash != NULL &&
		    c->a->pw_hash[0] != '\0' &&
		    kagid_pw_verify(password, c->a->pw_hash) == 0)
			used = true;
		for (uint32_t i = 0; !used && i < c->a->pw_history_n &&
		    i < c->history; i++)
			if (kagid_pw_verify(password, c->a->pw_history[i]) == 0)
				used = true;
		if (used) {
			snprintf(msg, sizeof(msg), _("The password was used "
			    "before: it must differ from the current one and "
			    "the last %u."), c->history);
			if ((r = add_fault(a, "history", msg)) != 0)
				goto out;
		}
	}
done:
	if (json_array_size(a) == 0) {
		r = 0;
		goto out;
	}
	*faults = a;
	a = NULL;
	r = KAGI_ERR_INVALID;
out:
	json_decref(a);
	return r;
}

int
kagid_pw_set(struct store_account *a, char *hash, uint32_t keep, int temp,
    int64_t temp_expires, int64_t now)
{
	uint32_t i;

	if (a == NULL || hash == NULL) {
		free(hash);
		return KAGI_ERR_INVALID;
	}
	if (keep > STORE_PW_HISTORY_MAX)
		keep = STORE_PW_HISTORY_MAX;
	/* a temporary password never goes to the history: it is random */
	if (!a->pw_temp && a->pw_hash != NULL && a->pw_hash[0] != '\0' &&
	    keep > 0) {
		for (i = a->pw_history_n; i >= keep && i > 0; i--) {
			char *h = a->pw_history[i - 1];
			if (h != NULL) {
				kagi_wipe(h, strlen(h));
				free(h);
			}
			a->pw_history[i - 1] = NULL;
		}
		if (a->pw_history_n > keep - 1)
			a->pw_history_n = keep - 1;
		memmove(&a->pw_history[1], &a->pw_history[0],
		    a->pw_history_n * sizeof(a->pw_history[0]));
		a->pw_history[0] = a->pw_hash;
		a->pw_history_n++;
	} else if (a->pw_hash != NULL) {
		kagi_wipe(a->pw_hash, strlen(a->pw_hash));
		free(a->pw_hash);
	}
	a->pw_hash = hash;
	a->pw_temp = temp ? 1 : 0;
	a->pw_temp_expires = temp ? temp_expires : 0;
	a->pw_changed = now;
	a->pw_logins = 0;
	a->pw_rotate = 0;
	a->failed_count = 0;
	a->failed_first = 0;
	if (a->locked_until != 0)
		a->locked_until = 0;
	a->updated = now;
	return 0;
}

/* ---- the password-login decision ---- */

int
kagid_login_precheck(const struct store_account *a, int64_t now)
{
	if (a == NULL || a->state != STORE_ACCT_ACTIVE)
		return KAGI_ERR_DENIED;
	if (a->end_date != 0 && now >= a->end_date)
		return KAGI_ERR_EXPIRED;
	return policy_check_locked(a->locked_until, now);
}

int
kagid_login_record(const struct policy *p, struct store_account *a,
    int pw_ok, const char *terminal, int64_t now,
    struct kagid_login_info *info, int *changed)
{
	const struct policy_lockout *lk;
	const struct policy_password *pw;
	enum policy_tier tier;
	const char *must = NULL;
	char *term = NULL;
	int r;

	if (info != NULL)
		memset(info, 0, sizeof(*info));
	if (changed != NULL)
		*changed = 0;
	if (p == NULL || a == NULL || info == NULL || changed == NULL)
		return KAGI_ERR_INVALID;
	info->last_login = a->last_login;
	snprintf(info->last_login_terminal, sizeof(info->last_login_terminal),
	    "%s", a->last_login_terminal != NULL ? a->last_login_terminal : "");
	info->last_logout = a->last_logout;
	info->failed_since = a->failed_since_login;
	info->locked_until = a->locked_until;
	if ((r = kagid_login_precheck(a, now)) != 0)
		return r;
	tier = policy_tier_for_kind((enum store_account_kind)a->kind);
	lk = policy_lockout(p, tier);
	pw = policy_password(p, tier);
	if (lk == NULL || pw == NULL)
		return KAGI_ERR_INTERNAL;
	if (!pw_ok) {
		/* R-LOGIN-2: count it; the threshold locks (R-PRIV-5 tier) */
		info->locked_now = policy_lockout_fail(lk, &a->failed_count,
		    &a->failed_first, &a->locked_until, now);
		if (a->failed_since_login < UINT32_MAX)
			a->failed_since_login++;
		a->updated = now;
		*changed = 1;
		info->failed_since = a->failed_since_login;
		info->locked_until = a->locked_until;
		return KAGI_ERR_AUTH;
	}
	/* R-PW-7: an unused temporary password expires */
	if (a->pw_temp && now >= a->pw_temp_expires)
		return KAGI_ERR_EXPIRED;
	if (a->pw_temp)
		must = "temporary";
	else if (a->pw_rotate)
		must = "rotate";
	else if (policy_check_password_age(pw, a->pw_changed, a->pw_logins,
	    now) != 0)
		must = "expired";
	if (terminal != NULL && (term = strdup(terminal)) == NULL)
		return KAGI_ERR_NOMEM;
	a->failed_count = 0;
	a->failed_first = 0;
	a->failed_since_login = 0;
	if (a->locked_until != INT64_MAX && a->locked_until <= now)
		a->locked_until = 0;
	a->last_login = now;
	if (term != NULL) {
		free(a->last_login_terminal);
		a->last_login_terminal = term;
	}
	/* R-PW-4 "by number of accesses": only logins that open a session */
	if (must == NULL && a->pw_logins < UINT32_MAX)
		a->pw_logins++;
	a->updated = now;
	*changed = 1;
	info->must_change = must;
	info->locked_until = a->locked_until;
	return must != NULL ? KAGI_ERR_MUST_CHANGE : 0;
}
