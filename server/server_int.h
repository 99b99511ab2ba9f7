/*
 * kagid internals (module-private; not a contract).  main.c parses the
 * command line and calls kagid_run() or kagid_init_deployment(); the rest of
 * the server is in the kagi_server library so tests and fuzzers can link the
 * handlers and formatters.
 */
#ifndef KAGI_SERVER_INT_H
#define KAGI_SERVER_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "kagi/conf.h"
#include "kagi/err.h"
#include "kagi/store.h"

struct event_base;
struct evhttp;
struct event;
struct evhttp_request;
struct policy;

enum kagid_transport {
	KAGID_TR_HTTPS = 0, /* TLS 1.3 + client certificate */
	KAGID_TR_UNIX,      /* local socket, SO_PEERCRED */
	KAGID_TR_HTTP,      /* plain HTTP: health (later OCSP/CRL) only */
};

struct kagid;

struct kagid_listener {
	struct kagid *k;
	enum kagid_transport transport;
	struct evhttp *http;
};

struct kagid_opts {
	const char *config;  /* NULL: kagi_conf_locate(NULL) */
	int foreground;
	int json;            /* --init: JSON output */
};

struct kagid {
	struct kagi_conf *conf;
	struct policy *policy;
	struct store *store;
	struct event_base *base;
	SSL_CTX *ssl_ctx;
	struct kagid_listener lx[3];  /* indexed by enum kagid_transport */
	struct event *ev_sig[4];
	/* absolute paths */
	char *data_dir;
	char *policy_path;
	char *socket_path;
	char *pid_path;
	char *addr_path;
	char *tls_cert;
	char *tls_key;
	char *tls_client_ca;
	int socket_fd;
	int socket_created;
	gid_t socket_gid;
	int pid_fd;
	char https_addr[80];
	char http_addr[80];
	int64_t started;
	int exit_code;
	/* startup readiness pipe to the parent when daemonising (-1 if none) */
	int ready_fd;
	/* the CA service (ca_service.c); NULL until kagid_ca_open */
	struct kagid_ca *ca;
	/* group commit of issuances (group_commit.c); NULL: commit at once */
	struct kagid_gc *gc;
	/* JPKI user-authentication CAs (jpki.c); NULL: no My Number logins */
	X509_STORE *jpki;
};

/* main entry points (return 0 or KAGI_ERR_*; messages already printed) */
int kagid_run(const struct kagid_opts *o) KAGI_WUR;
int kagid_init_deployment(const struct kagid_opts *o) KAGI_WUR;

/* kagi.conf located, mode/owner checked (R-TERM-6), loaded; prints refusals */
int kagid_conf_open(const char *explicit_path, struct kagi_conf **out)
    KAGI_WUR;

/* paths: absolute, relative ones joined with the config file's directory */
char *kagid_conf_path(const struct kagi_conf *c, const char *p);

/* http.c: listeners and dispatch */
int kagid_listen_all(struct kagid *k) KAGI_WUR;
void kagid_listen_close(struct kagid *k);
/* Trust our CA's root and issuing certificates for client certificates. */
int kagid_tls_trust_ca(struct kagid *k) KAGI_WUR;

int kagid_tls_ctx_new(const char *cert, const char *key, const char *ca,
    SSL_CTX **out) KAGI_WUR;

/* api.c: one request, already identified and authorised */
struct kagid_req {
	struct kagid *k;
	struct kagid_listener *lx;
	struct evhttp_request *req;
	const char *method;
	char path[256];
	const char *query;     /* may be NULL */
	char peer[300];        /* audit actor: "uid:0(root)" / "cert:CN=..." */
	json_t *whoami;        /* transport details for /v1/whoami */
	const char *subpath;   /* prefix routes: the rest of the path */
	int status;
	double t0;
};
void kagid_dispatch(struct kagid_req *r);

/* Routing: each API module has a table ending with a NULL path, listed in
 * api.c's route_tables. */
typedef void kagid_api_fn(struct kagid_req *r);
#define KAGID_TR_API ((1u << KAGID_TR_HTTPS) | (1u << KAGID_TR_UNIX))
#define KAGID_TR_ALL (KAGID_TR_API | (1u << KAGID_TR_HTTP))
#define KAGID_TR_PLAIN (1u << KAGID_TR_HTTP)
struct kagid_route {
	const char *path;      /* exact path, or a prefix ending in '/' */
	const char *method;
	kagid_api_fn *fn;
	unsigned transports;   /* bit per enum kagid_transport */
	int prefix;            /* 1: path is a prefix; one more segment;
	                          2: a prefix; the rest may hold '/' */
};
void kagid_reply_json(struct kagid_req *r, int status, json_t *obj);
/* Request bodies (api.c): raw text in wiped secure memory, or a JSON
 * object; every handler reads its body through these. */
#define KAGID_BODY_REQUIRED 1u     /* empty body: KAGI_ERR_FORMAT */
#define KAGID_BODY_EMPTY_OBJECT 2u /* empty body: {} */
int kagid_body_text(struct kagid_req *r, size_t max, char **out, size_t *len)
    KAGI_WUR;
void kagid_body_free(char *text, size_t len);
int kagid_read_json_body(struct kagid_req *r, unsigned flags, json_t **out,
    char *errbuf, size_t errlen) KAGI_WUR;
void kagid_reply_error(struct kagid_req *r, int status, int err,
    const char *detail);
void kagid_reply_text(struct kagid_req *r, int status, const char *ctype,
    const char *data, size_t len);

/*
 * authz.c: who is calling, and may they do `action` ("person.add",
 * "priv.approve", ...: the [roles] section of policy.ini names the role each
 * action needs).  A TLS peer is the operator account named by its client
 * certificate's CN (active, with roles); a local-socket peer that is root or
 * kagid's own user is the local administrator (all roles; audited as
 * "uid:0(root)"); another local user is the account with its login name.
 * 0 and *out filled, or KAGI_ERR_DENIED (and the handler replies 403 and
 * audits the refusal).
 */
struct kagid_actor {
	char id[300];       /* audit actor: r->peer, plus "(login)" if mapped */
	char login[40];     /* operator account login; "" for local admin */
	uint32_t roles;     /* POLICY_ROLE_* bits */
	int local_admin;
};
/* An operator's card session at the counter lasts at most this (R-LOGIN-3). */
#define KAGID_OPERATOR_SESSION_MAX ((int64_t)8 * 3600)
int kagid_authz(struct kagid_req *r, const char *action,
    struct kagid_actor *out) KAGI_WUR;
/*
 * kagid_authz, and on a refusal: audit it (action, object, outcome
 * "denied", detail {"reason","needs"}) and reply 403 {"error":"denied",
 * "message","action","needs":[roles]}.  The handler then just returns.
 * *out is filled in both cases (out->id is the audit actor).
 */
int kagid_authz_require(struct kagid_req *r, const char *action,
    const char *object, struct kagid_actor *out) KAGI_WUR;
/* Role names of a POLICY_ROLE_* mask as a JSON array (new reference). */
json_t *kagid_roles_json(uint32_t mask);

/* api_id.c: persons, users, members, operators, password logins */
extern const struct kagid_route kagid_id_routes[];
/*
 * A password change (rules, history, lockout on a wrong old password),
 * audited as `action` by `actor`.  0: changed, the caller answers; else
 * the error answer was sent.  Used by /v1/auth/password/change and
 * /v1/login/password.
 */
int kagid_pw_change(struct kagid_req *r, const char *actor,
    const char *action, const char *login, const char *old,
    const char *new_password) KAGI_WUR;

/* api_login.c: terminal login (docs/API.md "Terminal login") and FIDO
 * credential registration */
extern const struct kagid_route kagid_login_routes[];
/* api_event.c: POST /v1/login/event (card removal, window end) */
extern const struct kagid_route kagid_event_routes[];
/*
 * api_login.c: the terminal calling (R-TERM-1): a TLS peer whose
 * certificate is, byte for byte, the current active "terminal" certificate
 * of an active terminal record in the zone its policy OID names.  0 and
 * *out; KAGI_ERR_DENIED with a stable *why; or a store error.
 */
struct kagid_term {
	char device[65];
	char zone[32];
	char serial[2 * STORE_SERIAL_MAX + 1];
};
int kagid_terminal_identify(struct kagid_req *r, struct store_txn *t,
    struct kagid_term *out, const char **why) KAGI_WUR;

/*
 * ca_service.c: the CA in kagid (docs/CA.md "In kagid").  kagid_ca_open
 * reads the HSM PIN file (0600, owned by kagid's user, else refused), logs
 * in, finds the CA and OCSP keys, loads <dir>/ca/{root,issuing,ocsp}.crt,
 * builds the issuer and the OCSP responder, publishes the CRLs and starts
 * the CRL / OCSP-signer renewal timer.  Prints refusals like kagid_run.
 */
struct kagid_ca;
struct ca_issuer;
int kagid_ca_open(struct kagid *k) KAGI_WUR;
void kagid_ca_close(struct kagid *k);
/*
 * Revoke (or put on hold, reason 6) the certificate with this serial inside
 * the caller's write transaction and append its audit record "ca.revoke"
 * (actor as given).  KAGI_ERR_NOT_FOUND: no such certificate;
 * KAGI_ERR_REVOKED: already revoked (or on hold and reason is hold again):
 * nothing changed.  A hold may be made final (hold -> revoked).  After the
 * caller commits it must call kagid_ca_changed(k).
 */
int kagid_ca_revoke_txn(struct kagid *k, struct store_txn *t,
    const uint8_t *serial, size_t serial_len, int reason, int64_t now,
    const char *actor) KAGI_WUR;
/* After a commit that changed certificate states: new CRL, OCSP cache flush. */
void kagid_ca_changed(struct kagid *k);
/*
 * A complete CRL over the hold/revoked certificates in the store (bench and
 * tests): DER in *der (free()).  for_root: the root's CRL (entries: the
 * revoked issuing-CA certificates), else the issuing CA's (everything else).
 */
int kagid_ca_crl_der(struct store_txn *t, const struct ca_issuer *iss,
    int for_root, uint64_t number, int64_t this_update, int64_t next_update,
    uint8_t **der, size_t *len, size_t *entries) KAGI_WUR;

/* --init: create the CA (keys in the HSM, certificates in <dir>/ca/). */
struct kagid_ca_init;
/* KAGI_ERR_EXISTS (message in err) if <dir>/ca/ already holds a CA file. */
int kagid_ca_init_precheck(const struct kagi_conf *c, char *err,
    size_t errlen) KAGI_WUR;
/*
 * Generate the root, issuing and OCSP keys in the token (PIN from the pin
 * file), issue the certificates and write them.  Steps are appended to
 * steps (json) or printed (!json).
 */
int kagid_ca_init_create(const struct kagi_conf *c, int64_t now, int json,
    json_t *steps, char *err, size_t errlen,
    struct kagid_ca_init **out) KAGI_WUR;
/*
 * Record the three certificates and the first CRL numbers in t; the
 * caller's audit record (deploy.init, with kagid_ca_init_root_fp) covers
 * them.
 */
int kagid_ca_init_record(struct kagid_ca_init *ci, struct store_txn *t,
    int64_t now) KAGI_WUR;
/* SHA-256 fingerprint (hex) of the root certificate. */
const char *kagid_ca_init_root_fp(const struct kagid_ca_init *ci);
void kagid_ca_init_free(struct kagid_ca_init *ci);

/*
 * group_commit.c (docs/ARCHITECTURE.md "Group commit").  kagid_gc_start
 * installs the store's batch callback and the flush timer (window_ms 0:
 * the next loop iteration; at most 100).  A handler that recorded its
 * change as a batch member (store_batch_join + store_txn_commit) answers
 * through kagid_gc_defer: obj (reference taken) is sent with status once
 * the batch is committed and synced, and `event` (malloc'd, taken; may be
 * NULL) is logged then; if the batch fails, an error answer is sent
 * instead.  Without kagid_gc_start the batch is committed inside
 * kagid_gc_defer.  kagid_gc_stop commits and answers what waits.
 */
struct kagid_gc;
int kagid_gc_start(struct kagid *k, unsigned window_ms) KAGI_WUR;
void kagid_gc_stop(struct kagid *k);
void kagid_gc_defer(struct kagid_req *r, int status, json_t *obj,
    char *event);

/* api_ca.c, api_terminal.c: route tables (listed in api.c) */
extern const struct kagid_route kagid_ca_routes[];
extern const struct kagid_route kagid_terminal_routes[];
/* api_card.c: smart cards (docs/CARDS.md) */
extern const struct kagid_route kagid_card_routes[];

/*
 * ---- ID lifecycle: privileged windows, HR clean-up, sweeps ----
 * api_priv.c, api_hr.c: route tables (listed in api.c).
 */
extern const struct kagid_route kagid_priv_routes[];
extern const struct kagid_route kagid_hr_routes[];

/* Largest request body evhttp accepts (http.c).  Handlers that read with
 * kagi_json_parse_object stay at KAGI_JSON_MAX_BODY; only HR feeds and
 * plans (api_hr.c) may be larger, up to HR_FEED_MAX_BYTES. */
#define KAGID_MAX_BODY (48u * 1024u * 1024u)

/*
 * Privileged windows (R-PRIV-1, R-PRIV-7; api_priv.c).  Pure decision: 0
 * and *end (the latest end among them) if one of the n grants is approved
 * and open at now (start <= now < end); else KAGI_ERR_DENIED.
 */
struct store_grant;
struct policy_privileged;
int priv_window_open(const struct store_grant *g, size_t n, int64_t now,
    int64_t *end) KAGI_WUR;
/*
 * May `approver` (identity, roles) approve grant g at now?  0, or:
 * KAGI_ERR_CONFLICT not in state requested; KAGI_ERR_DENIED self-approval
 * (R-ID-3) or a delegate grant without the CISO role (R-PRIV-2);
 * KAGI_ERR_LIMIT window longer than policy allows; KAGI_ERR_EXPIRED the
 * window has already ended.  *why (if not NULL) gets a stable reason code.
 */
int priv_check_approve(const struct store_grant *g, const char *approver,
    uint32_t approver_roles, const struct policy_privileged *pp,
    int64_t now, const char **why) KAGI_WUR;
/*
 * The login path (POST /v1/auth/password): 0 if `login` may log in at now.
 * Accounts of other kinds: 0 and *session_end 0 (no window).  A privileged
 * account: 0 and *session_end the end of its open approved window, else
 * KAGI_ERR_DENIED (no open window).
 */
int kagid_priv_check(struct store_txn *t, const char *login, int64_t now,
    int64_t *session_end) KAGI_WUR;

/* HR feed (hr_feed.c, pure; docs/HR-FEED.md). */
enum hr_status {
	HR_ACTIVE = 0,
	HR_TRANSFERRED,
	HR_SECONDED,
	HR_ON_LEAVE,
	HR_RETIRED,
	HR_DECEASED,
	HR_CONTRACT_ENDED,
	HR_STATUS_COUNT
};
enum hr_col {
	HR_COL_STAFF_NO = 0,
	HR_COL_NAME,
	HR_COL_KANA,
	HR_COL_SECTION,
	HR_COL_EMPLOYMENT,
	HR_COL_STATUS,
	HR_COL_EFFECTIVE,
	HR_COL_COUNT
};
#define HR_FEED_MAX_BYTES (32u * 1024u * 1024u)
#define HR_FEED_MAX_LINE 4096u
#define HR_FEED_MAX_ROWS 500000u
#define HR_FEED_MAX_FIELDS 16
#define HR_FEED_MAX_ERRORS 100
struct hr_row {
	uint32_t line;
	char *f[HR_COL_COUNT];  /* text of each column (NUL-terminated) */
	int status;             /* enum hr_status */
	int64_t effective;      /* 00:00 UTC of effective_date */
};
struct hr_feed {
	struct hr_row *rows;
	size_t n;
	uint8_t sha256[32];     /* of the feed bytes as received */
};
struct hr_feed_error {
	uint32_t line;          /* 1-based; the header is line 1 */
	uint32_t column;        /* 1-based CSV column; 0: the whole line */
	const char *field;      /* column name, "" if none */
	const char *reason;     /* stable code: "bad_date", "dup_staff_no"... */
	uint32_t other_line;    /* dup_staff_no: the line of the first */
};
struct hr_feed_errors {
	struct hr_feed_error e[HR_FEED_MAX_ERRORS]; /* sorted by line, column */
	size_t n;
	size_t total;           /* may exceed n */
};
/*
 * Parse a whole feed.  0 and *out; or KAGI_ERR_FORMAT / KAGI_ERR_LIMIT with
 * every fault found in *errs and no rows (the whole feed is refused).
 */
int hr_feed_parse(const uint8_t *data, size_t len, struct hr_feed **out,
    struct hr_feed_errors *errs) KAGI_WUR;
void hr_feed_free(struct hr_feed *f);
const char *hr_status_name(int s);
int hr_status_parse(const char *s, int *out) KAGI_WUR;
const char *hr_col_name(int c);
/* "YYYY-MM-DD" (a real calendar date, 1900..2199) -> 00:00 UTC. */
int hr_date_parse(const char *s, int64_t *out) KAGI_WUR;

/*
 * HR plan (api_hr.c): what applying feed f to the store in t would do, as
 * the JSON plan of docs/HR-FEED.md without "mac" and "created"; includes
 * "state_hash" over the records it read.  Deterministic for a given store
 * state and feed.
 */
int hr_plan_compute(struct store_txn *t, const struct hr_feed *f,
    json_t **out) KAGI_WUR;
/*
 * Apply a plan (already MAC-checked) in write transaction t: one audit
 * record per action, actor as given.  KAGI_ERR_CONFLICT if the state hash
 * no longer matches (nothing written).  *report gets the counts.  k may be
 * NULL (unit tests): certificate revocations are then refused.
 */
int hr_plan_apply_txn(struct kagid *k, struct store_txn *t,
    const json_t *plan, int64_t now, const char *actor,
    json_t **report) KAGI_WUR;
/* Sign / check a plan with the store's HR key (meta; created on first use). */
int hr_plan_sign(struct store *s, json_t *plan, int64_t now,
    const char *actor) KAGI_WUR;
int hr_plan_verify(struct store *s, const json_t *plan) KAGI_WUR;

/*
 * Sweeps (R-ID-12, R-DEV-1, R-PW-6, R-PRIV-7; sweep.c): dormant accounts,
 * expired development/contractor accounts, expired temporary passwords,
 * ended windows.  One write transaction (dry_run: read only, nothing
 * written), one audit record per change plus "sweep.run".  *report: counts
 * and the items.  record_empty: append "sweep.run" even when nothing changed
 * (manual runs; the timer does not).
 */
int kagid_sweep_txn(struct store_txn *t, const struct policy *p, int64_t now,
    int dry_run, const char *actor, json_t **report) KAGI_WUR;
int kagid_sweep_run(struct kagid *k, int dry_run, int record_empty,
    int64_t now, const char *actor, json_t **report) KAGI_WUR;
/* kagid.c: start the sweep timer ([sweep] interval); stop and free it. */
int kagid_sweep_timer_start(struct kagid *k) KAGI_WUR;
void kagid_sweep_timer_stop(struct kagid *k);
extern const struct kagid_route kagid_sweep_routes[];

/* audit_fmt.c: export formats (pure, fuzzable) */
enum kagid_audit_format {
	KAGID_AUDIT_JSONL = 0,
	KAGID_AUDIT_SYSLOG,
};
int kagid_audit_format_parse(const char *s, enum kagid_audit_format *out)
    KAGI_WUR;
/* One line (with '\n') for a record; *out is a new string (free()). */
int kagid_audit_line(const struct store_audit *rec,
    const uint8_t hash[STORE_HASH_LEN], enum kagid_audit_format fmt,
    const char *host, char **out) KAGI_WUR;
/* RFC 5424 SD-PARAM value escaping of '"', '\\' and ']' (controls -> '?'). */
char *kagid_sd_escape(const char *s);

/* tlsid.c: the bootstrap TLS identity written by --init */
int tlsid_key_new(EVP_PKEY **out) KAGI_WUR;
enum tlsid_profile {
	TLSID_CA = 0,
	TLSID_SERVER,
	TLSID_CLIENT,
};
/*
 * Make a certificate for key `pub` with subject CN=cn (O=kagi), signed by
 * issuer_key with issuer_cert (NULL, NULL: self-signed CA).  now and days set
 * the validity; dns/ip SANs only for TLSID_SERVER (comma separated
 * "DNS:x,IP:y" text, may be NULL).
 */
int tlsid_cert_new(enum tlsid_profile prof, const char *cn, EVP_PKEY *pub,
    X509 *issuer_cert, EVP_PKEY *issuer_key, int64_t now, int days,
    const char *san, X509 **out) KAGI_WUR;
/* PEM encodings into new buffers (key: secure memory, kagi_secure_free). */
int tlsid_key_pem(EVP_PKEY *k, char **pem, size_t *len) KAGI_WUR;
int tlsid_cert_pem(X509 *x, char **pem, size_t *len) KAGI_WUR;
/* SHA-256 fingerprint of the DER certificate, hex. */
int tlsid_cert_fingerprint(X509 *x, char out[65]) KAGI_WUR;

/*
 * jpki.c: My Number cards as login cards (R-JPKI-1).  A binding is a card
 * record under "jpki:" + 56 hex digits of the certificate's SHA-256.
 */
#define KAGID_JPKI_SERIAL_LEN (5u + 56u)
int kagid_jpki_open(struct kagid *k) KAGI_WUR;
void kagid_jpki_close(struct kagid *k);
int kagid_jpki_card_serial(X509 *leaf, char out[KAGID_JPKI_SERIAL_LEN + 1])
    KAGI_WUR;
/* Chain to a JPKI authentication CA at now and the key usage of an
 * authentication certificate: *outcome 0, or the refusal and *why. */
int kagid_jpki_classify(struct kagid *k, X509 *leaf,
    STACK_OF(X509) *untrusted, int64_t now, int *outcome, const char **why)
    KAGI_WUR;
/* The operator's binding of leaf to login, active: *outcome 0, or why not. */
int kagid_jpki_binding(struct store_txn *t, X509 *leaf, const char *login,
    int *outcome, const char **why) KAGI_WUR;
extern const struct kagid_route kagid_jpki_routes[];
/* api_card.c: R-CARD-9 holder category from a person's employment type */
uint8_t kagid_card_category(const char *employment);

#endif
