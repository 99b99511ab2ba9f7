/*
 * policy: policy.ini parsing and validation, and pure decisions that take
 * `now` as an argument.  No I/O beyond reading the file; no globals.
 *
 * Load refuses a policy (with "FILE:LINE: [section] key: reason"):
 *  - with a syntax error, an unknown section or key, a duplicate key, or a
 *    value out of range;
 *  - whose My Number zone requires fewer than two factor categories for any
 *    account kind (R-MFA-2);
 *  - whose privileged tier is weaker than the ordinary tier on any
 *    parameter (R-PRIV-5).
 * The full list of settings and defaults is in docs/POLICY.md and in the
 * commented policy.ini written by `kagi init` (policy_default_text()).
 */
#ifndef KAGI_POLICY_H
#define KAGI_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "kagi/err.h"
#include "kagi/store.h" /* enum store_account_kind */

/* Factor categories (R-MFA-2): counted, never credentials. */
#define POLICY_CAT_KNOWLEDGE  0x1u
#define POLICY_CAT_POSSESSION 0x2u
#define POLICY_CAT_INHERENCE  0x4u

/* Factor types a zone may allow (R-MFA-3). */
#define POLICY_FACTOR_PASSWORD 0x1u /* knowledge */
#define POLICY_FACTOR_CARD     0x2u /* possession + knowledge (PIN) */
#define POLICY_FACTOR_FIDO     0x4u /* possession (+ knowledge/inherence with UV) */

#define POLICY_MAX_ZONES 8

/*
 * Operator roles (bits in store_account.roles).  Which role an action needs
 * is set in policy.ini [roles] (docs/POLICY.md); a dual-control action also
 * needs a second person (the approver is never the requester).
 */
#define POLICY_ROLE_OPERATOR 0x01u /* counter work: persons, users, cards */
#define POLICY_ROLE_APPROVER 0x02u /* approves privileged windows */
#define POLICY_ROLE_CISO     0x04u /* 統括情報セキュリティ責任者: delegates, exceptions */
#define POLICY_ROLE_HELPDESK 0x08u /* password resets, unlocks */
#define POLICY_ROLE_AUDITOR  0x10u /* reads the audit log */
#define POLICY_ROLE_HR       0x20u /* HR feed plan/apply */
#define POLICY_ROLE_ALL      0x3fu

/* Most actions [roles] can name (policy/roles.c holds the table). */
#define POLICY_ACTION_MAX 64

enum policy_tier {
	POLICY_TIER_ORDINARY = 0,
	POLICY_TIER_PRIVILEGED,
	POLICY_TIER_SHARED,
	POLICY_TIER_COUNT
};

struct policy_password {
	uint32_t min_length;      /* R-PW-2 */
	uint32_t min_classes;     /* of lower, upper, digit, symbol */
	uint32_t history;         /* last N refused (R-PW-4) */
	uint32_t max_age_days;    /* 0 = off */
	uint32_t max_logins;      /* 0 = off */
	uint32_t temp_length;     /* temporary password length (R-PW-7) */
	uint32_t temp_hours;      /* temporary password lifetime */
	uint32_t hash_cost;       /* yescrypt cost parameter (1..11) */
	int reject_login_name;
	int reject_person_name;
	int reject_common;
};

struct policy_lockout {
	uint32_t threshold;       /* consecutive failures that lock (R-LOGIN-2) */
	int64_t window;           /* seconds in which they must fall */
	int64_t duration;         /* seconds locked; 0 = until unlocked */
};

struct policy_zone {
	char name[32];
	char policy_oid[64];      /* certificatePolicies OID in terminal certs */
	int is_mynumber;          /* the My Number zone: floor of 2 categories */
	unsigned factors;         /* POLICY_FACTOR_* allowed */
	unsigned min_categories[STORE_KIND_COUNT];
	int offline_login;        /* revocation-bundle logins allowed */
	int64_t bundle_max_age;   /* seconds */
	char banner[1024];        /* shown before login (R-LOGIN-1) */
	int fido_uv;              /* POLICY_UV_*: FIDO user verification */
};

/* [zone.NAME] fido_uv: what a FIDO assertion must show (R-MFA-1). */
#define POLICY_UV_DISCOURAGED 0
#define POLICY_UV_PREFERRED   1
#define POLICY_UV_REQUIRED    2

/* [login]: the terminal login API (docs/API.md "Terminal login"). */
struct policy_login {
	int64_t challenge_lifetime; /* seconds a login challenge lives */
};

#define POLICY_FIDO_AAGUID_MAX 16
/* [fido]: registration and assertions (docs/FIDO.md). */
struct policy_fido {
	char rp_id[254];            /* relying party id (a DNS-like name) */
	uint8_t aaguids[POLICY_FIDO_AAGUID_MAX * 16]; /* allowlist, back to back */
	size_t n_aaguids;
	int self_attestation;       /* accept packed self attestation */
	int insecure_any_aaguid;    /* danger: any authenticator model */
};

struct policy_privileged {
	int64_t max_window;          /* longest approved window, seconds */
	int64_t max_window_delegate; /* for 代行者 (delegate) grants */
	int64_t session_idle;        /* idle timeout in a window (R-LOGIN-3) */
};

/* [cards]: smart-card lifecycle (docs/POLICY.md, R-PRIV-8). */
struct policy_cards {
	int pin_unblock_dual_control; /* a second operator approves (default 1) */
};

struct policy_sweep {
	int64_t interval;         /* kagid runs the sweep this often; 0 = off */
	uint32_t dormant_days;    /* no login for N days -> disable; 0 = off */
};

struct policy;

int policy_load(const char *path, struct policy **out, char *errbuf,
    size_t errlen) KAGI_WUR;
/* Parse from memory; name is used in messages in place of a path. */
int policy_parse(const char *text, size_t len, const char *name,
    struct policy **out, char *errbuf, size_t errlen) KAGI_WUR;
void policy_free(struct policy *p);
/* The default, commented policy.ini text (static storage). */
const char *policy_default_text(void);

const struct policy_password *policy_password(const struct policy *p,
    enum policy_tier tier);
const struct policy_lockout *policy_lockout(const struct policy *p,
    enum policy_tier tier);
const struct policy_privileged *policy_privileged(const struct policy *p);
const struct policy_sweep *policy_sweep(const struct policy *p);
const struct policy_login *policy_login(const struct policy *p);
const struct policy_fido *policy_fido(const struct policy *p);
const struct policy_cards *policy_cards(const struct policy *p);
/* The zone whose policy_oid is oid (terminal certificates), else NULL. */
const struct policy_zone *policy_zone_by_oid(const struct policy *p,
    const char *oid);
size_t policy_zone_count(const struct policy *p);
const struct policy_zone *policy_zone_at(const struct policy *p, size_t i);
/* NULL if there is no such zone. */
const struct policy_zone *policy_zone_find(const struct policy *p,
    const char *name);
/* Tier for an account kind (privileged -> PRIVILEGED, shared -> SHARED ...). */
enum policy_tier policy_tier_for_kind(enum store_account_kind kind);

/* Categories a set of verified factors counts (POLICY_CAT_*). */
unsigned policy_categories(unsigned factors, int fido_uv);
/* Number of bits set in a category mask. */
unsigned policy_category_count(unsigned cats);
/*
 * 0 if the categories presented satisfy the zone for this account kind, and
 * every factor used is allowed in the zone; KAGI_ERR_DENIED otherwise.
 */
int policy_check_factors(const struct policy *p, const char *zone,
    enum store_account_kind kind, unsigned factors, int fido_uv) KAGI_WUR;
/*
 * Lockout: 0 if not locked at `now`; KAGI_ERR_LOCKED if locked_until is in
 * the future (INT64_MAX = until unlocked).
 */
int policy_check_locked(int64_t locked_until, int64_t now) KAGI_WUR;
/*
 * Record one failed attempt at `now`: updates *count and *first (a failure after
 * the window starts a new count) and sets *locked_until when the threshold is
 * reached.  Returns 1 if this failure locked the account, else 0.
 */
int policy_lockout_fail(const struct policy_lockout *l, uint32_t *count,
    int64_t *first, int64_t *locked_until, int64_t now);

/*
 * Password age (R-PW-4): 0 if a password changed at `changed` and used for
 * `logins` successful logins may still be used at `now`; KAGI_ERR_EXPIRED
 * once max_age_days or max_logins (when on) is reached.
 */
int policy_check_password_age(const struct policy_password *pw,
    int64_t changed, uint32_t logins, int64_t now) KAGI_WUR;
/*
 * Password quality (R-PW-2): 0 if the new password meets min_length (in
 * characters), min_classes and the reject_* rules; else KAGI_ERR_INVALID
 * and *reason (if not NULL) is a translated sentence for the person.
 * History (R-PW-4) is checked by the caller against stored hashes.
 */
int policy_check_password(const struct policy_password *pw,
    const char *password, const char *login, const char *person_name,
    const char **reason) KAGI_WUR;
/* 1 if no activity for dormant_days (when on) at `now`, else 0. */
int policy_is_dormant(const struct policy_sweep *s, int64_t last_activity,
    int64_t now);


/*
 * ---- operator roles per action ([roles], docs/POLICY.md) ----
 * policy_action_roles: the POLICY_ROLE_* bits of which any one allows
 * `action` ("user.add", "priv.approve", ...); 0 means only the local
 * administrator.  KAGI_ERR_NOT_FOUND for an action not in the table.
 */
int policy_action_roles(const struct policy *p, const char *action,
    uint32_t *roles) KAGI_WUR;
/* The i-th action name in the table, NULL past its end. */
const char *policy_action_at(size_t i);
/* "operator" ... for a single POLICY_ROLE_* bit, else NULL. */
const char *policy_role_name(uint32_t bit);
/*
 * "operator, helpdesk" -> role bits (case-insensitive; "none" alone = 0).
 * KAGI_ERR_INVALID for an unknown or repeated name or an empty item.
 */
int policy_roles_parse(const char *s, uint32_t *out) KAGI_WUR;
/* [general] common_list: a deployment's extra list of refused passwords
 * (one a line), or NULL when not set. */
const char *policy_common_list(const struct policy *p);

/*
 * Every password rule the new password breaks (R-PW-2), as POLICY_PWF_*
 * bits; 0 if none.  Unlike policy_check_password, which stops at the first,
 * this lets a person see all of them at once.  History, the temporary
 * password and the deployment's common list are checked by the caller.
 */
#define POLICY_PWF_UTF8        0x01u /* not valid UTF-8 (or NUL) */
#define POLICY_PWF_MIN_LENGTH  0x02u
#define POLICY_PWF_MIN_CLASSES 0x04u
#define POLICY_PWF_LOGIN_NAME  0x08u
#define POLICY_PWF_PERSON_NAME 0x10u
#define POLICY_PWF_COMMON      0x20u /* on the built-in short list */
unsigned policy_password_faults(const struct policy_password *pw,
    const char *password, const char *login, const char *person_name);

#endif
