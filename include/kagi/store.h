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

#endif
