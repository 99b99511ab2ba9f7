/*
 * kagid passwords and password logins (module-private; docs/ACCOUNTS.md).
 * Hashes are yescrypt through libxcrypt ("$y$", R-PW-11, R-PW-14); the
 * decisions take `now` and the account record and change only that record,
 * so tests drive them with any clock (STYLE 13).  Nothing here logs a
 * password, and every buffer that held one is wiped.
 */
#ifndef KAGID_PASSWD_H
#define KAGID_PASSWD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kagi/err.h"
#include "kagi/policy.h"
#include "kagi/store.h"

/* Longest password accepted, in bytes (a hash input, not a rule). */
#define KAGID_PW_MAX_BYTES 1024
/* Temporary-password alphabet: no 0/O, 1/l/I (R-PW-10: read aloud). */
#define KAGID_PW_TEMP_ALPHABET \
	"23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

/* yescrypt hash at cost 1..11 -> "$y$..." in *out (free()). */
int kagid_pw_hash(const char *password, uint32_t cost, char **out) KAGI_WUR;
/*
 * 0 if password matches hash (constant-time compare of the result),
 * KAGI_ERR_AUTH if it does not or hash is empty or not a yescrypt hash.
 */
int kagid_pw_verify(const char *password, const char *hash) KAGI_WUR;
/* A random temporary password of length characters from the alphabet
 * above, with lower case, upper case and digits (kagi_secure_strfree). */
int kagid_pw_temp_new(uint32_t length, char **out) KAGI_WUR;

/*
 * 1 if the password is on the bundled list (data/common-passwords.txt,
 * embedded at build time) or on the extra list text (one a line; may be
 * NULL), compared case-insensitively, also with digits and symbols at
 * either end removed ("Sakura2024!" is "sakura").
 */
int kagid_pw_is_common(const char *password, const char *extra,
    size_t extra_len);

/* What a new password is checked against (R-PW-2, R-PW-4, R-PW-6). */
struct kagid_pw_rules {
	const struct policy_password *pw;   /* the account's tier */
	const char *login;
	const char *person_name;            /* NULL for service accounts */
	const struct store_account *a;      /* current hash and history */
	uint32_t history;                   /* how many earlier hashes count */
	const char *current;                /* the verified current password */
	int current_is_temp;                /* ... and it is temporary */
	const char *extra_common;           /* policy common_list text */
	size_t extra_common_len;
};
/*
 * 0 if the new password breaks no rule; else KAGI_ERR_INVALID and *faults
 * is a new JSON array with one {"rule", "message"} per broken rule
 * (rules: utf8, max_length, min_length, min_classes, login_name,
 * person_name, common, temporary, history).  Messages are translated.
 */
int kagid_pw_check_new(const struct kagid_pw_rules *c, const char *password,
    json_t **faults) KAGI_WUR;

/*
 * Set a new password hash on the account at now: the old hash goes to the
 * front of the history (kept to `keep` entries), the counters of the old
 * password are reset.  temp: the new one is temporary until temp_expires.
 * Takes ownership of hash (also on failure).
 */
int kagid_pw_set(struct store_account *a, char *hash, uint32_t keep,
    int temp, int64_t temp_expires, int64_t now) KAGI_WUR;

/* What a password login tells the person (R-LOGIN-4). */
struct kagid_login_info {
	int64_t last_login;             /* before this login; 0 = never */
	char last_login_terminal[129];
	int64_t last_logout;
	uint32_t failed_since;          /* failures since the last success */
	const char *must_change;        /* "temporary", "expired", "rotate" */
	int locked_now;                 /* this failure locked the account */
	int64_t locked_until;           /* INT64_MAX: until unlocked */
};
/*
 * Can the account try a password at now?  0, or KAGI_ERR_DENIED (disabled,
 * suspended, deleted), KAGI_ERR_EXPIRED (end date passed), KAGI_ERR_LOCKED.
 */
int kagid_login_precheck(const struct store_account *a, int64_t now) KAGI_WUR;
/*
 * Decide one password login at now; pw_ok says whether the password
 * matched.  Updates *a (failure counters and lock, or last login and the
 * login count) and fills *info.  Returns 0 (ok), KAGI_ERR_MUST_CHANGE (the
 * login only allows a change: R-PW-6, R-PW-4, R-PW-9), KAGI_ERR_AUTH (wrong
 * password; info->locked_now if this failure locked it), or the precheck
 * errors.  A temporary password past its expiry is KAGI_ERR_EXPIRED.
 * *changed is set when *a must be written back.
 */
int kagid_login_record(const struct policy *p, struct store_account *a,
    int pw_ok, const char *terminal, int64_t now,
    struct kagid_login_info *info, int *changed) KAGI_WUR;

#endif
