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
	int prefix;            /* 1: path is a prefix; one more segment */
};
void kagid_reply_json(struct kagid_req *r, int status, json_t *obj);
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
int kagid_authz(struct kagid_req *r, const char *action,
    struct kagid_actor *out) KAGI_WUR;

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

#endif
