/*
 * store: the only module that includes <lmdb.h>.  Typed, versioned records in
 * named LMDB databases, read and write transactions, and the hash-chained
 * audit log.  Every record value starts with a version byte and is decoded
 * through a kbuf: malformed, oversize or trailing bytes are refused
 * (KAGI_ERR_FORMAT / KAGI_ERR_LIMIT / KAGI_ERR_TRAILING), never half-decoded.
 *
 * Invariant: a write transaction that changed any record must append at
 * least one audit record before it commits; store_txn_commit refuses
 * otherwise (KAGI_ERR_INTERNAL, and the transaction is aborted).  A state
 * change and its audit record are therefore always in one transaction.
 */
#ifndef KAGI_STORE_H
#define KAGI_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "kagi/err.h"

#define STORE_SCHEMA_VERSION 1u
#define STORE_HASH_LEN 32

struct store;
struct store_txn;
struct kbuf;

struct store_opts {
	size_t map_size;   /* 0: default (1 GiB) */
	int read_only;     /* open without writing (no schema creation) */
};

/*
 * Open (creating if needed) the environment in dir (mode 0700).  A schema
 * version newer than STORE_SCHEMA_VERSION is refused with KAGI_ERR_VERSION
 * and a log line naming both versions.
 */
int store_open(const char *dir, const struct store_opts *opts,
    struct store **out) KAGI_WUR;
void store_close(struct store *s);
/* Schema version found in meta. */
uint32_t store_schema_version(const struct store *s);
/* Online, consistent copy into an empty directory (mdb_env_copy2, compact). */
int store_backup(struct store *s, const char *dir) KAGI_WUR;

int store_txn_begin(struct store *s, int write, struct store_txn **out) KAGI_WUR;
/* Commit and free.  On failure the transaction is aborted and freed. */
int store_txn_commit(struct store_txn *t) KAGI_WUR;
/* Abort and free; NULL-safe. */
void store_txn_abort(struct store_txn *t);

/*
 * ---- group commit (docs/ARCHITECTURE.md "Group commit") ----
 * A batch is one pending write transaction that several independent
 * changes join.  store_batch_join gives a member: a nested write
 * transaction inside the batch, used like any write transaction (same
 * audit invariant) and atomic on its own: store_txn_commit merges it into
 * the batch (nothing is durable yet), store_txn_abort discards only it.
 * One member at a time.  Nothing in a batch is durable, or visible to read
 * transactions, until store_batch_commit has committed and synced it; the
 * caller answers the requests behind the members only then, from the
 * callback.  store_txn_begin(write) and store_backup first commit a pending
 * batch (so a later writer never waits for, or deadlocks on, the batch);
 * they refuse with KAGI_ERR_INTERNAL while a member is open.
 *
 * The callback runs after every batch commit, with 0 or the error (a
 * failed batch committed none of its members: fail every request).
 * store_close aborts a pending batch without calling it.
 */
typedef void store_batch_cb(int result, size_t members, void *arg);
void store_batch_set_cb(struct store *s, store_batch_cb *cb, void *arg);
int store_batch_join(struct store *s, struct store_txn **out) KAGI_WUR;
/* Commit the pending batch (0 if there is none); calls the callback. */
int store_batch_commit(struct store *s) KAGI_WUR;
/* Members committed into the pending batch (0: no batch pending). */
size_t store_batch_pending(const struct store *s);

/* ---- audit log (R-LOG-1..5) ---- */

struct store_audit {
	uint64_t seq;          /* 1, 2, 3 ... */
	int64_t time;          /* UTC seconds */
	char *actor;           /* "uid:1000(alice)", "cert:CN=...", "kagid" */
	char *action;          /* "store.init", "user.add", ... */
	char *object;          /* what it acted on ("" if none) */
	char *outcome;         /* "ok", "denied", "failed", ... */
	char *detail;          /* JSON object text, "" if none; never secrets */
	uint8_t prev[STORE_HASH_LEN]; /* SHA-256 of the previous encoded record */
};

/*
 * Append a record in this write transaction; seq and prev are assigned here.
 * Strings: actor/action/object/outcome <= 256 bytes, detail <= 4096 bytes.
 */
int store_audit_append(struct store_txn *t, int64_t now, const char *actor,
    const char *action, const char *object, const char *outcome,
    const char *detail, uint64_t *seq_out) KAGI_WUR;
int store_audit_get(struct store_txn *t, uint64_t seq,
    struct store_audit *out) KAGI_WUR;
/* Head of the chain: last seq (0 if empty) and its record hash. */
int store_audit_head(struct store_txn *t, uint64_t *seq,
    uint8_t hash[STORE_HASH_LEN]) KAGI_WUR;
/* Called for each record from seq `since` (inclusive) on; non-zero stops. */
typedef int store_audit_cb(const struct store_audit *rec,
    const uint8_t hash[STORE_HASH_LEN], void *arg);
int store_audit_iter(struct store_txn *t, uint64_t since, store_audit_cb *cb,
    void *arg) KAGI_WUR;
/*
 * Recompute the chain from seq 1.  0 if every record decodes, sequences are
 * contiguous, each prev matches the hash of the record before, and the head
 * in meta matches the last record.  Otherwise KAGI_ERR_CORRUPT with *bad_seq
 * the first sequence that does not match.  *count gets the records checked.
 */
int store_audit_verify(struct store_txn *t, uint64_t *count,
    uint64_t *bad_seq) KAGI_WUR;
void store_audit_clear(struct store_audit *a);
/* Codec (also used by tests and the fuzzer). */
int store_audit_encode(const struct store_audit *a, struct kbuf *out) KAGI_WUR;
int store_audit_decode(const uint8_t *p, size_t len,
    struct store_audit *out) KAGI_WUR;

/* ---- records ---- */

enum store_account_kind {
	STORE_KIND_PERSONAL = 0,
	STORE_KIND_SHARED,
	STORE_KIND_PRIVILEGED,
	STORE_KIND_DEVELOPMENT,
	STORE_KIND_CONTRACTOR,
	STORE_KIND_SERVICE,
	STORE_KIND_COUNT
};

enum store_account_state {
	STORE_ACCT_ACTIVE = 0,
	STORE_ACCT_DISABLED,
	STORE_ACCT_SUSPENDED,
	STORE_ACCT_DELETED,
	STORE_ACCT_STATE_COUNT
};

/* persons: staff number -> person (R-ID-11) */
struct store_person {
	char *staff_no;     /* key, <= 32 bytes, [0-9A-Za-z-] */
	char *name;
	char *kana;
	char *section;
	char *employment;   /* regular, fiscal-year, temporary, dispatched, ... */
	char *hr_status;    /* active, transferred, seconded, on-leave, retired, ... */
	int64_t start_date; /* 0 = unknown */
	int64_t end_date;   /* 0 = none */
	int64_t created;
	int64_t updated;
};

#define STORE_PW_HISTORY_MAX 24

/* accounts: login name -> account */
struct store_account {
	char *login;        /* key, <= 32 bytes */
	char *staff_no;     /* owning person ("" for service accounts) */
	uint8_t kind;       /* enum store_account_kind */
	uint8_t state;      /* enum store_account_state */
	uint32_t roles;     /* operator role bits (policy) */
	char *pw_hash;      /* yescrypt "$y$..." or "" */
	uint8_t pw_temp;    /* 1: temporary password, must change (R-PW-6) */
	int64_t pw_temp_expires;
	int64_t pw_changed;
	uint32_t pw_logins; /* successful logins since the last change (R-PW-4) */
	uint32_t pw_history_n;
	char *pw_history[STORE_PW_HISTORY_MAX]; /* older hashes, newest first */
	uint8_t pw_rotate;  /* shared ID: rotation required (R-PW-9) */
	uint32_t failed_count;      /* consecutive failures */
	int64_t failed_first;       /* time of the first of them */
	int64_t locked_until;       /* 0 = not locked; INT64_MAX = until unlock */
	uint32_t failed_since_login;/* shown at next login (R-LOGIN-4) */
	int64_t last_login;
	char *last_login_terminal;
	int64_t last_logout;
	int64_t end_date;           /* dev/contractor expiry; 0 = none */
	int64_t created;
	int64_t updated;
};

void store_person_clear(struct store_person *p);
void store_account_clear(struct store_account *a);
int store_person_encode(const struct store_person *p, struct kbuf *out) KAGI_WUR;
int store_person_decode(const uint8_t *p, size_t len,
    struct store_person *out) KAGI_WUR;
int store_account_encode(const struct store_account *a,
    struct kbuf *out) KAGI_WUR;
int store_account_decode(const uint8_t *p, size_t len,
    struct store_account *out) KAGI_WUR;

/* KAGI_ERR_NOT_FOUND if absent.  put replaces; add refuses (KAGI_ERR_EXISTS). */
int store_person_get(struct store_txn *t, const char *staff_no,
    struct store_person *out) KAGI_WUR;
int store_person_put(struct store_txn *t, const struct store_person *p) KAGI_WUR;
int store_person_add(struct store_txn *t, const struct store_person *p) KAGI_WUR;
int store_person_del(struct store_txn *t, const char *staff_no) KAGI_WUR;
typedef int store_person_cb(const struct store_person *p, void *arg);
int store_person_iter(struct store_txn *t, store_person_cb *cb,
    void *arg) KAGI_WUR;

int store_account_get(struct store_txn *t, const char *login,
    struct store_account *out) KAGI_WUR;
int store_account_put(struct store_txn *t, const struct store_account *a) KAGI_WUR;
int store_account_add(struct store_txn *t, const struct store_account *a) KAGI_WUR;
int store_account_del(struct store_txn *t, const char *login) KAGI_WUR;
typedef int store_account_cb(const struct store_account *a, void *arg);
int store_account_iter(struct store_txn *t, store_account_cb *cb,
    void *arg) KAGI_WUR;

/* ---- certificates (store/certs.c; docs/STORE-FORMAT.md "certs") ---- */

enum store_cert_state {
	STORE_CERT_ACTIVE = 0,
	STORE_CERT_HOLD,        /* certificateHold (R-CARD-4): revoked for now */
	STORE_CERT_REVOKED,     /* final */
	STORE_CERT_STATE_COUNT
};

#define STORE_SERIAL_MAX 20          /* RFC 5280 section 4.1.2.2 */
#define STORE_CERT_DER_MAX (16u * 1024u)
#define STORE_HOLDER_MAX 64u

/* certs: serial (big-endian octets) -> certificate */
struct store_cert {
	uint8_t serial[STORE_SERIAL_MAX]; /* key */
	size_t serial_len;  /* 1..20 */
	char *profile;      /* "staff-logon", "terminal", "server", "ocsp", ... */
	char *holder;       /* account login, device id, or "" (server/ocsp/CA) */
	char *subject;      /* RFC 2253 text, for display */
	uint8_t state;      /* enum store_cert_state */
	uint8_t reason;     /* RFC 5280 CRLReason; 0 while active */
	int64_t revoked_at; /* 0 while active */
	int64_t not_before;
	int64_t not_after;
	int64_t issued_at;
	uint8_t *der;       /* the certificate */
	size_t der_len;     /* 1..STORE_CERT_DER_MAX */
};

void store_cert_clear(struct store_cert *c);
int store_cert_encode(const struct store_cert *c, struct kbuf *out) KAGI_WUR;
int store_cert_decode(const uint8_t *p, size_t len,
    struct store_cert *out) KAGI_WUR;
/*
 * get: KAGI_ERR_NOT_FOUND if absent.  put replaces (keeping the holder
 * index "certs_by_holder" in step); add refuses an existing serial with
 * KAGI_ERR_EXISTS and changes nothing.
 */
int store_cert_get(struct store_txn *t, const uint8_t *serial,
    size_t serial_len, struct store_cert *out) KAGI_WUR;
int store_cert_put(struct store_txn *t, const struct store_cert *c) KAGI_WUR;
int store_cert_add(struct store_txn *t, const struct store_cert *c) KAGI_WUR;
/* Callback: non-zero stops (a negative value is returned by the iterator). */
typedef int store_cert_cb(const struct store_cert *c, void *arg);
/* Every certificate in serial order. */
int store_cert_iter(struct store_txn *t, store_cert_cb *cb,
    void *arg) KAGI_WUR;
/* The certificates of one holder ("" = those without a holder), by serial. */
int store_cert_iter_holder(struct store_txn *t, const char *holder,
    store_cert_cb *cb, void *arg) KAGI_WUR;

/* ---- terminals (store/terminals.c) ---- */

enum store_terminal_state {
	STORE_TERM_ACTIVE = 0,
	STORE_TERM_REVOKED,
	STORE_TERM_STATE_COUNT
};

#define STORE_TERM_DNS_MAX 8

/* terminals: device id -> terminal (R-TERM-1) */
struct store_terminal {
	char *device_id;    /* key, 1..64 bytes of [A-Za-z0-9._-] */
	char *zone;         /* policy zone name */
	char *dns[STORE_TERM_DNS_MAX]; /* DNS names for its certificate */
	uint32_t n_dns;
	uint8_t state;      /* enum store_terminal_state */
	uint8_t cert_serial[STORE_SERIAL_MAX]; /* current certificate */
	size_t cert_serial_len; /* 0 = none yet */
	int64_t created;
	int64_t updated;
};

void store_terminal_clear(struct store_terminal *t);
int store_terminal_encode(const struct store_terminal *d,
    struct kbuf *out) KAGI_WUR;
int store_terminal_decode(const uint8_t *p, size_t len,
    struct store_terminal *out) KAGI_WUR;
int store_device_id_valid(const char *s);
int store_terminal_get(struct store_txn *t, const char *device_id,
    struct store_terminal *out) KAGI_WUR;
int store_terminal_put(struct store_txn *t,
    const struct store_terminal *d) KAGI_WUR;
int store_terminal_add(struct store_txn *t,
    const struct store_terminal *d) KAGI_WUR;
typedef int store_terminal_cb(const struct store_terminal *d, void *arg);
int store_terminal_iter(struct store_txn *t, store_terminal_cb *cb,
    void *arg) KAGI_WUR;

/*
 * meta counters (u8 version 1, u64 value), e.g. "crl_number.issuing".
 * name: 1..32 bytes of [a-z0-9._]; "schema" and "audit_head" are refused.
 * get: KAGI_ERR_NOT_FOUND if never set.  put marks the transaction changed.
 */
int store_meta_u64_get(struct store_txn *t, const char *name,
    uint64_t *out) KAGI_WUR;
int store_meta_u64_put(struct store_txn *t, const char *name,
    uint64_t v) KAGI_WUR;

/* Key syntax (docs/STORE-FORMAT.md): 1 if s is an acceptable key, else 0. */
int store_staff_no_valid(const char *s);
int store_login_valid(const char *s);

/*
 * ---- members: shared ID -> member accounts (R-ID-7) ----
 * One record per (shared, member) pair: docs/STORE-FORMAT.md "members".
 * add refuses a pair that exists (KAGI_ERR_EXISTS); del and get give
 * KAGI_ERR_NOT_FOUND for a pair that does not.  The iterator walks the
 * members of one shared ID in login order, or every pair (shared NULL).
 */
struct store_member {
	char *shared;       /* login of the shared account */
	char *member;       /* login of the member's own account */
	int64_t added;
};
void store_member_clear(struct store_member *m);
int store_member_encode(const struct store_member *m, struct kbuf *out) KAGI_WUR;
int store_member_decode(const uint8_t *p, size_t len,
    struct store_member *out) KAGI_WUR;
int store_member_add(struct store_txn *t, const struct store_member *m) KAGI_WUR;
int store_member_get(struct store_txn *t, const char *shared,
    const char *member, struct store_member *out) KAGI_WUR;
int store_member_del(struct store_txn *t, const char *shared,
    const char *member) KAGI_WUR;
typedef int store_member_cb(const struct store_member *m, void *arg);
int store_member_iter(struct store_txn *t, const char *shared,
    store_member_cb *cb, void *arg) KAGI_WUR;

/*
 * ---- privileged windows: grants (store/grants.c) ----
 * grants: id -> grant (R-PRIV-1, R-PRIV-2, R-PRIV-7, R-ID-3).  A window on
 * a privileged account from start to end (end exclusive), requested by one
 * operator and approved (or denied) by another.  Ids are 16 lowercase hex
 * digits.  Decisions are made in kagid (server/api_priv.c).
 */
enum store_grant_state {
	STORE_GRANT_REQUESTED = 0,
	STORE_GRANT_APPROVED,
	STORE_GRANT_DENIED,
	STORE_GRANT_REVOKED,
	STORE_GRANT_ENDED,      /* ended by a sweep or HR before its end */
	STORE_GRANT_STATE_COUNT
};

#define STORE_GRANT_ID_LEN 16u
#define STORE_GRANT_REASON_MAX 512u

struct store_grant {
	char *id;           /* key: STORE_GRANT_ID_LEN hex digits */
	char *account;      /* privileged account login */
	char *requester;    /* operator identity (login, or actor id) */
	char *approver;     /* who approved/denied/revoked; "" before */
	uint8_t delegate;   /* 1: 代行者 grant (CISO approval, R-PRIV-2) */
	uint8_t state;      /* enum store_grant_state */
	int64_t start;      /* window start (UTC seconds) */
	int64_t end;        /* window end, exclusive */
	char *reason;       /* why (<= STORE_GRANT_REASON_MAX bytes) */
	int64_t created;
	int64_t decided;    /* approve/deny time, 0 before */
	int64_t updated;
};

void store_grant_clear(struct store_grant *g);
int store_grant_encode(const struct store_grant *g, struct kbuf *out) KAGI_WUR;
int store_grant_decode(const uint8_t *p, size_t len,
    struct store_grant *out) KAGI_WUR;
const char *store_grant_state_name(unsigned state);
/* KAGI_ERR_NOT_FOUND if absent; add refuses an existing id (EXISTS). */
int store_grant_get(struct store_txn *t, const char *id,
    struct store_grant *out) KAGI_WUR;
int store_grant_put(struct store_txn *t, const struct store_grant *g) KAGI_WUR;
int store_grant_add(struct store_txn *t, const struct store_grant *g) KAGI_WUR;
typedef int store_grant_cb(const struct store_grant *g, void *arg);
/* Grants in id order; account NULL: all, else only that account's. */
int store_grant_iter(struct store_txn *t, const char *account,
    store_grant_cb *cb, void *arg) KAGI_WUR;

/*
 * ---- FIDO credentials (store/fido.c) ----
 * fido: SHA-256(credential id) -> credential.  The key is the hash so any
 * credential id (WebAuthn allows up to 1023 bytes) fits LMDB's key limit;
 * the record holds the full id and is checked against the key.
 */
enum store_fido_state {
	STORE_FIDO_ACTIVE = 0,
	STORE_FIDO_DISABLED,
	STORE_FIDO_STATE_COUNT
};

#define STORE_FIDO_CRED_ID_MAX 1023u
#define STORE_FIDO_COSE_MAX 2048u
#define STORE_FIDO_AAGUID_LEN 16u

struct store_fido {
	uint8_t *cred_id;   /* credential id (1..STORE_FIDO_CRED_ID_MAX) */
	size_t cred_id_len;
	char *account;      /* owning account login */
	uint8_t *cose_key;  /* COSE_Key public key (1..STORE_FIDO_COSE_MAX) */
	size_t cose_key_len;
	uint32_t sign_count;
	uint8_t aaguid[STORE_FIDO_AAGUID_LEN];
	uint8_t state;      /* enum store_fido_state */
	int64_t created;
};

void store_fido_clear(struct store_fido *f);
int store_fido_encode(const struct store_fido *f, struct kbuf *out) KAGI_WUR;
int store_fido_decode(const uint8_t *p, size_t len,
    struct store_fido *out) KAGI_WUR;
/* The store key of a credential id: lowercase hex of its SHA-256. */
int store_fido_key(const uint8_t *cred_id, size_t len,
    char out[2 * STORE_HASH_LEN + 1]) KAGI_WUR;
int store_fido_get(struct store_txn *t, const uint8_t *cred_id, size_t len,
    struct store_fido *out) KAGI_WUR;
int store_fido_put(struct store_txn *t, const struct store_fido *f) KAGI_WUR;
int store_fido_add(struct store_txn *t, const struct store_fido *f) KAGI_WUR;
/* KAGI_ERR_NOT_FOUND if absent. */
int store_fido_del(struct store_txn *t, const uint8_t *cred_id,
    size_t len) KAGI_WUR;
typedef int store_fido_cb(const struct store_fido *f, void *arg);
/* Credentials in key order; account NULL: all, else only that account's. */
int store_fido_iter(struct store_txn *t, const char *account,
    store_fido_cb *cb, void *arg) KAGI_WUR;

/*
 * ---- login challenges and sessions (store/challenges.c) ----
 * Both live in the "challenges" database, told apart by the key prefix:
 * "c:" + id for a challenge, "s:" + id for a session (docs/STORE-FORMAT.md
 * "challenges").  Ids are STORE_LOGIN_ID_LEN lowercase hex digits.  A
 * challenge is single-use: the finish that reads it marks it used in the
 * same transaction; store_login_sweep deletes expired ones.
 */
#define STORE_LOGIN_ID_LEN 32u
#define STORE_CHALLENGE_LEN 32u

struct store_challenge {
	char id[STORE_LOGIN_ID_LEN + 1];  /* key */
	uint8_t challenge[STORE_CHALLENGE_LEN];
	char *login;        /* as asked (valid login syntax) */
	char *terminal;     /* device id of the terminal that asked */
	char *zone;         /* that terminal's zone */
	int64_t created;
	int64_t expires;    /* answerable while now < expires */
	uint8_t used;       /* 1 once a finish has read it */
};

struct store_session {
	char id[STORE_LOGIN_ID_LEN + 1];  /* key */
	char *login;
	char *member;       /* shared IDs: the member; "" otherwise */
	char *terminal;
	char *zone;
	int64_t start;
	int64_t end;        /* privileged window end; 0 = none */
	int64_t closed;     /* logout time; 0 = open */
};

/* 1 if s is STORE_LOGIN_ID_LEN lowercase hex digits. */
int store_login_id_valid(const char *s);
void store_challenge_clear(struct store_challenge *c);
int store_challenge_encode(const struct store_challenge *c,
    struct kbuf *out) KAGI_WUR;
int store_challenge_decode(const uint8_t *p, size_t len,
    struct store_challenge *out) KAGI_WUR;
/* KAGI_ERR_NOT_FOUND if absent; add refuses an existing id (EXISTS). */
int store_challenge_get(struct store_txn *t, const char *id,
    struct store_challenge *out) KAGI_WUR;
int store_challenge_add(struct store_txn *t,
    const struct store_challenge *c) KAGI_WUR;
int store_challenge_put(struct store_txn *t,
    const struct store_challenge *c) KAGI_WUR;
int store_challenge_del(struct store_txn *t, const char *id) KAGI_WUR;

void store_session_clear(struct store_session *s);
int store_session_encode(const struct store_session *s,
    struct kbuf *out) KAGI_WUR;
int store_session_decode(const uint8_t *p, size_t len,
    struct store_session *out) KAGI_WUR;
int store_session_get(struct store_txn *t, const char *id,
    struct store_session *out) KAGI_WUR;
int store_session_add(struct store_txn *t,
    const struct store_session *s) KAGI_WUR;
int store_session_put(struct store_txn *t,
    const struct store_session *s) KAGI_WUR;

/* Sessions are kept this long after they close or end (or, never closed,
 * after they started) for the record, then swept. */
#define STORE_SESSION_KEEP (30 * 86400)
/*
 * Delete challenges with expires <= now and sessions past
 * STORE_SESSION_KEEP, at most max records (0: no limit, every record
 * looked at); *removed (may be NULL) gets the count.  With max > 0 it looks
 * at no more than 4 * max records, going on where the previous bounded
 * sweep stopped, so its cost does not grow with the database.  A record
 * that does not decode is KAGI_ERR_CORRUPT.
 */
int store_login_sweep(struct store_txn *t, int64_t now, size_t max,
    size_t *removed) KAGI_WUR;

/*
 * ---- state digest (store/grants.c; HR plans, server/api_hr.c) ----
 * SHA-256 over every key and value of the named databases ("persons",
 * "accounts", ...; unknown names: KAGI_ERR_INVALID), database by database
 * in the order given, records in key order, each length-prefixed: any
 * change to any of those records changes the digest.
 */
int store_digest(struct store_txn *t, const char *const *dbs, size_t n,
    uint8_t out[STORE_HASH_LEN]) KAGI_WUR;

/* ---- statistics (kagi status) ---- */
struct store_stats {
	uint32_t schema;
	uint64_t persons;
	uint64_t accounts;
	uint64_t audit_records;
	size_t map_size;
	size_t map_used;    /* bytes in use (last page * page size) */
};
int store_stats_get(struct store_txn *t, struct store_stats *out) KAGI_WUR;

/*
 * ---- smart cards (store/cards.c; docs/STORE-FORMAT.md "cards") ----
 * One "cards" database, record kinds told apart by the key: "c:" + card
 * serial -> card (R-CARD-1..9), "h:" + holder staff number + NUL + card
 * serial -> empty (the holder index, kept in step by put), "a:" + id ->
 * PIN-unblock approval (R-PRIV-8; single use, expires).  A card serial is
 * what the token reports (PKCS#11 serialNumber, trailing blanks removed):
 * 1..STORE_CARD_SERIAL_MAX bytes of [0-9A-Za-z._:-].
 */
enum store_card_state {
	STORE_CARD_PENDING = 0,  /* certificate issued, not yet confirmed */
	STORE_CARD_ACTIVE,
	STORE_CARD_LOST,         /* certificates on hold (R-CARD-4) */
	STORE_CARD_REPLACED,     /* certificates revoked (R-CARD-5) */
	STORE_CARD_RETURNED,
	STORE_CARD_DESTROYED,    /* final (R-CARD-6) */
	STORE_CARD_STATE_COUNT
};

enum store_card_category {       /* R-CARD-9 */
	STORE_CARD_CAT_STAFF = 0,
	STORE_CARD_CAT_CONTRACTOR,
	STORE_CARD_CAT_TEMPORARY,
	STORE_CARD_CAT_VISITOR,
	STORE_CARD_CAT_COUNT
};

#define STORE_CARD_SERIAL_MAX 64u
#define STORE_CARD_ATR_MAX 66u       /* bytes (hex text twice as long) */
#define STORE_CARD_TEXT_MAX 64u      /* label, manufacturer, model, method */
#define STORE_CARD_NOTE_MAX 512u
#define STORE_CARD_CERTS_MAX 8u

struct store_card {
	char *serial;       /* key */
	char *atr;          /* lowercase hex, "" = unknown */
	char *label;        /* token label */
	char *manufacturer;
	char *model;
	char *holder;       /* staff number */
	char *login;        /* account the certificates are for */
	uint8_t holder_category; /* enum store_card_category */
	uint8_t state;      /* enum store_card_state */
	uint32_t n_certs;   /* certificate serials, oldest first */
	uint8_t certs[STORE_CARD_CERTS_MAX][STORE_SERIAL_MAX];
	size_t cert_len[STORE_CARD_CERTS_MAX];
	char *replaces;     /* old card serial, "" = none */
	char *replaced_by;  /* new card serial, "" = none */
	uint8_t case_open;  /* 1: lost or replaced, not yet returned/destroyed */
	int64_t disposal_time;   /* 0 = none (returned or destroyed) */
	char *disposal_operator;
	char *disposal_method;   /* "return" for a returned card */
	char *disposal_note;
	int64_t created;
	int64_t updated;
};

int store_card_serial_valid(const char *s);
const char *store_card_state_name(unsigned state);
int store_card_state_parse(const char *s, uint8_t *out) KAGI_WUR;
const char *store_card_category_name(unsigned cat);
void store_card_clear(struct store_card *c);
int store_card_encode(const struct store_card *c, struct kbuf *out) KAGI_WUR;
int store_card_decode(const uint8_t *p, size_t len,
    struct store_card *out) KAGI_WUR;
/* KAGI_ERR_NOT_FOUND if absent; add refuses an existing serial (EXISTS);
 * put replaces, moving the holder index entry if the holder changed. */
int store_card_get(struct store_txn *t, const char *serial,
    struct store_card *out) KAGI_WUR;
int store_card_put(struct store_txn *t, const struct store_card *c) KAGI_WUR;
int store_card_add(struct store_txn *t, const struct store_card *c) KAGI_WUR;
typedef int store_card_cb(const struct store_card *c, void *arg);
/* Cards in serial order; holder NULL: all, else that person's (index). */
int store_card_iter(struct store_txn *t, const char *holder,
    store_card_cb *cb, void *arg) KAGI_WUR;

/* A PIN-unblock approval (R-PRIV-8): id is STORE_LOGIN_ID_LEN hex. */
struct store_card_approval {
	char id[STORE_LOGIN_ID_LEN + 1]; /* key */
	char *serial;       /* the card */
	char *approver;     /* operator identity that approved */
	int64_t created;
	int64_t expires;    /* usable while now < expires */
	uint8_t used;       /* 1 once a PIN unblock consumed it */
	char *used_by;      /* "" until used */
};
void store_card_approval_clear(struct store_card_approval *a);
int store_card_approval_encode(const struct store_card_approval *a,
    struct kbuf *out) KAGI_WUR;
int store_card_approval_decode(const uint8_t *p, size_t len,
    struct store_card_approval *out) KAGI_WUR;
int store_card_approval_get(struct store_txn *t, const char *id,
    struct store_card_approval *out) KAGI_WUR;
int store_card_approval_add(struct store_txn *t,
    const struct store_card_approval *a) KAGI_WUR;
int store_card_approval_put(struct store_txn *t,
    const struct store_card_approval *a) KAGI_WUR;

#endif
