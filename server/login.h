/*
 * Terminal login (issue 5; docs/API.md "Terminal login"): the pure parts,
 * module-private to kagid.  No I/O and no clock here: `now` and every
 * verification outcome are passed in, so the Check table in
 * tests/unit/login/ and the fuzzer drive them directly (STYLE 13).
 *
 * The handlers (api_login.c) verify the terminal, the challenge, the card
 * chain and signature, the FIDO assertion and the password against the
 * store; login_decide turns those outcomes and the account into one
 * answer, reusing ID-A's password-login bookkeeping (passwd.h).
 */
#ifndef KAGID_LOGIN_H
#define KAGID_LOGIN_H

#include <stddef.h>
#include <stdint.h>

#include "kagi/err.h"
#include "kagi/policy.h"
#include "kagi/store.h"
#include "passwd.h"

/* tbs_hash = SHA-256("kagi-login-v1" || 0x00 || challenge || 0x00 || login) */
#define LOGIN_TBS_LABEL "kagi-login-v1"
#define LOGIN_TBS_LEN 32

#define LOGIN_MAX_CERTS 4            /* leaf + up to 3 intermediates */
#define LOGIN_CERT_PEM_MAX (16u * 1024u)
#define LOGIN_CARD_SIG_MAX 1024u     /* RSA-8192 */
#define LOGIN_LOGIN_MAX 64u           /* login / member as sent */

int login_tbs_hash(const uint8_t challenge[STORE_CHALLENGE_LEN],
    const char *login, uint8_t out[LOGIN_TBS_LEN]) KAGI_WUR;

/*
 * Strict standard base64 (RFC 4648 §4, padded, no whitespace): 0 and a new
 * buffer (free()) of 1..max bytes; KAGI_ERR_FORMAT or KAGI_ERR_LIMIT.
 */
int login_b64_decode(const char *s, size_t max, uint8_t **out,
    size_t *outlen) KAGI_WUR;
/* Standard padded base64 as a new string (free()); NULL on failure. */
char *login_b64_encode(const uint8_t *p, size_t n);

/*
 * FIDO authenticator data: the contract sends it raw; libfido2's
 * fido_assert_authdata_ptr() form (a CBOR byte string) is accepted too.
 * Gives the CBOR-wrapped form kagi_fido_assert_check wants (free()).
 */
int login_fido_authdata_cbor(const uint8_t *p, size_t n, uint8_t **out,
    size_t *outlen) KAGI_WUR;

/* POST /v1/login/finish, parsed and validated (nothing verified yet). */
struct login_finish {
	char challenge_id[STORE_LOGIN_ID_LEN + 1];
	char *login;
	char *member;            /* NULL if absent */
	int has_card;
	char *certs[LOGIN_MAX_CERTS]; /* PEM text */
	size_t n_certs;
	uint8_t *card_sig;
	size_t card_sig_len;
	int has_fido;
	uint8_t *fido_cred_id;
	size_t fido_cred_id_len;
	uint8_t *fido_authdata;  /* as sent (raw or CBOR-wrapped) */
	size_t fido_authdata_len;
	uint8_t *fido_sig;
	size_t fido_sig_len;
	char *password;          /* secure memory; NULL if absent */
};

/*
 * Parse the finish body (text of len bytes, at most KAGI_JSON_MAX_BODY):
 * a JSON object with only the contract's members, each of the right type
 * and size, base64 values decoded strictly.  On error *field (if not NULL)
 * names the member at fault and *out is left empty.  KAGI_ERR_FORMAT,
 * KAGI_ERR_LIMIT, KAGI_ERR_INVALID, KAGI_ERR_NOMEM.
 */
int login_finish_parse(const char *text, size_t len, struct login_finish *out,
    const char **field) KAGI_WUR;
/* NULL-safe; the password is wiped. */
void login_finish_clear(struct login_finish *f);

/*
 * May this challenge be answered by terminal `device` for `login` at now?
 * 0; KAGI_ERR_EXPIRED (used: "challenge_replayed", or past its expiry:
 * "challenge_expired"); KAGI_ERR_DENIED (another terminal or login).
 * *why gets the stable reason.
 */
int login_challenge_check(const struct store_challenge *c, const char *device,
    const char *login, int64_t now, const char **why) KAGI_WUR;

/*
 * Outstanding challenges, kept in kagid's memory only (never in the store:
 * docs/ARCHITECTURE.md "Login challenges").  A challenge is short-lived and
 * single-use; losing them all when kagid restarts voids the outstanding
 * ones (their finish is refused "expired"), which fails closed.  At most
 * `max` are held (answered or not, until they expire, so a replay is still
 * told apart); safe to share between threads.
 */
#define LOGIN_CHALLENGES_MAX 65536u
struct login_challenges;
int login_challenges_new(size_t max, struct login_challenges **out) KAGI_WUR;
void login_challenges_free(struct login_challenges *t);
/*
 * Hold a copy of c (id, challenge, login, terminal, zone, created,
 * expires; used must be 0).  Sweeps a few expired ones on the way.
 * KAGI_ERR_LIMIT if `max` are held even after sweeping every expired one,
 * KAGI_ERR_CONFLICT if the id is held already, KAGI_ERR_INVALID, NOMEM.
 */
int login_challenges_add(struct login_challenges *t,
    const struct store_challenge *c, int64_t now) KAGI_WUR;
/*
 * The finish's look-up of challenge `id` for terminal `device` and `login`:
 * KAGI_ERR_NOT_FOUND if none is held (never issued, swept after expiry, or
 * kagid restarted); else login_challenge_check's answer and *why.  On 0
 * the challenge is marked used in the same step (under the lock: two
 * finishes racing for one challenge cannot both get it) and copied into
 * *out (store_challenge_clear it).  A refused look-up leaves it unspent.
 */
int login_challenges_take(struct login_challenges *t, const char *id,
    const char *device, const char *login, int64_t now,
    struct store_challenge *out, const char **why) KAGI_WUR;
/* Challenges held now (answered or not, expired ones not yet swept). */
size_t login_challenges_count(struct login_challenges *t);

/* A factor that was not presented. */
#define LOGIN_ABSENT 1

/* What the handler found out; every verification done already. */
struct login_facts {
	const struct policy *policy;
	const char *zone;           /* from the terminal certificate */
	const char *terminal;       /* device id */
	int64_t now;
	/* LOGIN_ABSENT, 0 (verified) or the KAGI_ERR_* of the check */
	int card, fido, password;
	const char *card_why, *fido_why, *password_why; /* stable reasons */
	int fido_uv;                /* the verified assertion had UV set */
	/* shared IDs (R-ID-7) */
	const char *member;         /* as asked; NULL if none */
	int member_listed;          /* a designated member of this ID */
	/* privileged IDs (R-PRIV-1, R-PRIV-7): kagid_priv_check's answer */
	int priv_rc;
	int64_t priv_end;
};

struct login_result {
	int rc;                     /* 0, KAGI_ERR_MUST_CHANGE or a refusal */
	const char *reason;         /* stable reason code for the audit */
	unsigned factors;           /* POLICY_FACTOR_* verified */
	unsigned categories;        /* POLICY_CAT_* they count */
	int counted;                /* a failed attempt was recorded */
	int account_changed;        /* *a must be written back */
	int64_t session_end;        /* privileged window end, 0 = none */
	struct kagid_login_info info; /* last login etc. before this one */
};

/*
 * Decide one login.  a: the account (NULL if unknown), updated in place
 * (failure counters and lock, or last login); m: the member's account for
 * a shared ID (NULL if none or unknown), only checked.  Returns out->rc:
 * 0 ok; KAGI_ERR_MUST_CHANGE (password used and temporary, rotated or
 * aged: R-PW-6); KAGI_ERR_AUTH (unknown account, a factor failed:
 * counted toward lockout, R-LOGIN-2); KAGI_ERR_REVOKED (card on hold or
 * revoked); KAGI_ERR_LOCKED; KAGI_ERR_EXPIRED (account end date,
 * temporary password); KAGI_ERR_DENIED (disabled, no or not enough factor
 * categories (R-MFA-2), shared ID without its member's own factor,
 * privileged outside a window, FIDO flags); KAGI_ERR_SIG (FIDO counter:
 * clone suspected).
 */
int login_decide(const struct login_facts *f, struct store_account *a,
    const struct store_account *m, struct login_result *out);

/* JSON names of POLICY_FACTOR_* / POLICY_CAT_* bits, in a fixed order. */
const char *login_factor_name(unsigned bit);
const char *login_category_name(unsigned bit);

#endif
