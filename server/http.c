/*
 * kagid listeners: HTTPS (TLS 1.3 only, client certificate required and
 * verified against tls_client_ca before any handler runs), the same API on a
 * local Unix socket (peer identified by SO_PEERCRED), and plain HTTP for
 * health (later OCSP and CRLs).  Every request is identified, authorised,
 * dispatched to api.c and logged in one line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "kagi/json.h"
#include "kagi/log.h"
#include "ca_service.h"
#include "server_int.h"

#define KAGID_HTTP_TIMEOUT 30      /* seconds: a stuck client is dropped */
#define KAGID_MAX_HEADERS 16384

static double
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void
log_ssl_errors(const char *what)
{
	unsigned long e;
	char buf[256];

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		kagi_log_err("%s: %s", what, buf);
	}
}

/*
 * A handshake refused by us (no certificate, wrong CA, expired, TLS < 1.3)
 * never reaches a handler; log why, once, for the operator.
 */
static void
tls_info_cb(const SSL *ssl, int where, int ret)
{
	long vr;

	if (!(where & SSL_CB_ALERT) || !(where & SSL_CB_WRITE))
		return;
	if (SSL_alert_type_string(ret)[0] != 'F')
		return;
	vr = SSL_get_verify_result(ssl);
	/* OpenSSL 3.0 has no text for TLS 1.3's certificate_required (116) */
	kagi_log_warn("event=tls_refused alert=\"%s\" verify=\"%s\"",
	    (ret & 0xff) == 116 ? "certificate required" :
	    SSL_alert_desc_string_long(ret),
	    vr == X509_V_OK ? "-" : X509_verify_cert_error_string(vr));
}

int
kagid_tls_ctx_new(const char *cert, const char *key, const char *ca,
    SSL_CTX **out)
{
	int r = KAGI_ERR_INTERNAL;
	SSL_CTX *ctx = NULL;
	X509_STORE *st = NULL;
	STACK_OF(X509_NAME) *names = NULL;

	*out = NULL;
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		goto out;
	/* TLS 1.3 only (R-TERM-1 transport; DESIGN.md) */
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION))
		goto out;
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
	    SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	r = KAGI_ERR_INVALID;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		log_ssl_errors(cert);
		goto out;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		log_ssl_errors(key);
		goto out;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		kagi_log_err("%s does not match %s", key, cert);
		goto out;
	}
	/* client certificates: only those chaining to tls_client_ca */
	if ((st = X509_STORE_new()) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if (X509_STORE_load_file(st, ca) != 1) {
		log_ssl_errors(ca);
		goto out;
	}
	SSL_CTX_set_cert_store(ctx, st);
	st = NULL;
	if ((names = SSL_load_client_CA_file(ca)) == NULL) {
		log_ssl_errors(ca);
		goto out;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
	    SSL_VERIFY_FAIL_IF_NO_PEER_CERT | SSL_VERIFY_CLIENT_ONCE, NULL);
	SSL_CTX_set_verify_depth(ctx, 4);
	SSL_CTX_set_info_callback(ctx, tls_info_cb);
	*out = ctx;
	ctx = NULL;
	r = 0;
out:
	X509_STORE_free(st);
	SSL_CTX_free(ctx);
	return r;
}

/*
 * Client certificates come from two issuers: the bootstrap TLS CA in
 * tls_client_ca (operators and the admin tool; kagid_authz accepts only
 * these) and our own CA (terminal certificates, profile terminal; the login
 * API checks the profile and the store).  Add the CA's root and issuing
 * certificates to the handshake's trust store once the CA is loaded.
 */
int
kagid_tls_trust_ca(struct kagid *k)
{
	X509_STORE *st;
	X509 *certs[2];

	if (k->ssl_ctx == NULL || k->ca == NULL)
		return 0;
	certs[0] = k->ca->root;
	certs[1] = k->ca->issuing;
	if ((st = SSL_CTX_get_cert_store(k->ssl_ctx)) == NULL)
		return KAGI_ERR_INTERNAL;
	for (size_t i = 0; i < 2; i++) {
		if (certs[i] == NULL)
			continue;
		if (X509_STORE_add_cert(st, certs[i]) != 1) {
			log_ssl_errors("CA certificate");
			return KAGI_ERR_INTERNAL;
		}
	}
	if (certs[0] != NULL && SSL_CTX_add_client_CA(k->ssl_ctx,
	    certs[0]) != 1) {
		log_ssl_errors("CA certificate");
		return KAGI_ERR_INTERNAL;
	}
	return 0;
}

static struct bufferevent *
https_bevcb(struct event_base *base, void *arg)
{
	struct kagid *k = arg;
	SSL *ssl;
	struct bufferevent *bev;

	if ((ssl = SSL_new(k->ssl_ctx)) == NULL)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

/* ---- peer identity ---- */

static int
peer_unix(struct kagid_req *r, int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	struct passwd pw, *pwp = NULL;
	char pwbuf[4096];
	const char *user = NULL;
	int allowed = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 ||
	    len != sizeof(cr)) {
		kagi_log_err("SO_PEERCRED: %s", strerror(errno));
		return KAGI_ERR_SYSTEM;
	}
	if (getpwuid_r(cr.uid, &pw, pwbuf, sizeof(pwbuf), &pwp) == 0 &&
	    pwp != NULL)
		user = pwp->pw_name;
	snprintf(r->peer, sizeof(r->peer), "uid:%lu(%s)",
	    (unsigned long)cr.uid, user != NULL ? user : "?");
	r->whoami = json_pack("{s:s, s:I, s:I, s:s?}", "transport", "unix",
	    "uid", (json_int_t)cr.uid, "gid", (json_int_t)cr.gid, "user", user);
	/*
	 * The socket mode already limits who can connect; check again here so
	 * a wider mode set by mistake does not widen access: root, kagid's
	 * own user, or a member of the socket's group.
	 */
	if (cr.uid == 0 || cr.uid == geteuid() || cr.gid == r->k->socket_gid)
		allowed = 1;
	if (!allowed && user != NULL) {
		gid_t groups[256];
		int n = (int)(sizeof(groups) / sizeof(groups[0]));
		if (getgrouplist(user, pw.pw_gid, groups, &n) >= 0) {
			for (int i = 0; i < n; i++)
				if (groups[i] == r->k->socket_gid)
					allowed = 1;
		}
	}
	return allowed ? 0 : KAGI_ERR_DENIED;
}

static int
peer_tls(struct kagid_req *r, struct bufferevent *bev)
{
	SSL *ssl;
	X509 *x;
	BIO *b = NULL;
	BIGNUM *bn = NULL;
	char *serial = NULL;
	char subject[256];
	int n, rc = KAGI_ERR_DENIED;

	subject[0] = '\0';
	if ((ssl = bufferevent_openssl_get_ssl(bev)) == NULL)
		return KAGI_ERR_DENIED;
	/* verified during the handshake; absent means something is wrong */
	if ((x = SSL_get0_peer_certificate(ssl)) == NULL ||
	    SSL_get_verify_result(ssl) != X509_V_OK)
		return KAGI_ERR_DENIED;
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return KAGI_ERR_NOMEM;
	if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
	    XN_FLAG_RFC2253) < 0)
		goto out;
	n = BIO_read(b, subject, (int)sizeof(subject) - 1);
	subject[n > 0 ? n : 0] = '\0';
	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) == NULL ||
	    (serial = BN_bn2hex(bn)) == NULL)
		goto out;
	snprintf(r->peer, sizeof(r->peer), "cert:%s serial=%s", subject,
	    serial);
	r->whoami = json_pack("{s:s, s:s, s:s}", "transport", "tls",
	    "subject", subject, "serial", serial);
	rc = 0;
out:
	OPENSSL_free(serial);
	BN_free(bn);
	BIO_free(b);
	return rc;
}

/* ---- replies ---- */

static void
log_request(struct kagid_req *r)
{
	kagi_log_info("request method=%s path=%s status=%d peer=%s ms=%.1f",
	    r->method, r->path, r->status, r->peer[0] ? r->peer : "-",
	    mono_ms() - r->t0);
}

static void
common_headers(struct evhttp_request *req, const char *ctype)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
}

void
kagid_reply_text(struct kagid_req *r, int status, const char *ctype,
    const char *data, size_t len)
{
	struct evbuffer *b = evbuffer_new();

	r->status = status;
	common_headers(r->req, ctype);
	if (b != NULL && len > 0 && evbuffer_add(b, data, len) != 0) {
		evbuffer_free(b);
		b = NULL;
		r->status = status = 500;
	}
	log_request(r);
	evhttp_send_reply(r->req, status, NULL, b);
	if (b != NULL)
		evbuffer_free(b);
}

void
kagid_reply_json(struct kagid_req *r, int status, json_t *obj)
{
	char *s = NULL;
	size_t n;

	if (obj != NULL)
		s = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (s == NULL) {
		static const char oom[] =
		    "{\"error\":\"nomem\",\"message\":\"out of memory\"}\n";
		kagid_reply_text(r, 500, "application/json", oom,
		    sizeof(oom) - 1);
		return;
	}
	n = strlen(s);
	/* one line per answer: easier for humans with curl */
	{
		char *t = realloc(s, n + 2);
		if (t != NULL) {
			s = t;
			s[n++] = '\n';
			s[n] = '\0';
		}
	}
	kagid_reply_text(r, status, "application/json", s, n);
	free(s);
}

void
kagid_reply_error(struct kagid_req *r, int status, int err,
    const char *detail)
{
	json_t *o;

	if (status == 0)
		status = kagi_err_http_status(err);
	o = json_pack("{s:s, s:s}", "error", kagi_err_name(err),
	    "message", kagi_strerror(err));
	if (o != NULL && detail != NULL)
		json_object_set_new(o, "detail", json_string(detail));
	kagid_reply_json(r, status, o);
}

static const char *
method_name(enum evhttp_cmd_type t)
{
	switch (t) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE: return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH: return "PATCH";
	}
	return "?";
}

static void
gen_cb(struct evhttp_request *req, void *arg)
{
	struct kagid_listener *lx = arg;
	struct kagid_req r;
	const struct evhttp_uri *uri;
	struct evhttp_connection *conn;
	struct bufferevent *bev;
	const char *path;
	int rc = 0;

	memset(&r, 0, sizeof(r));
	r.t0 = mono_ms();
	r.k = lx->k;
	r.lx = lx;
	r.req = req;
	r.method = method_name(evhttp_request_get_command(req));
	snprintf(r.path, sizeof(r.path), "%s", "?");
	uri = evhttp_request_get_evhttp_uri(req);
	if (uri != NULL && (path = evhttp_uri_get_path(uri)) != NULL) {
		if (strlen(path) >= sizeof(r.path)) {
			snprintf(r.path, sizeof(r.path), "%.200s...", path);
			kagid_reply_error(&r, 414, KAGI_ERR_LIMIT, "path too long");
			return;
		}
		snprintf(r.path, sizeof(r.path), "%s", path);
		r.query = evhttp_uri_get_query(uri);
	}
	conn = evhttp_request_get_connection(req);
	bev = conn != NULL ? evhttp_connection_get_bufferevent(conn) : NULL;
	switch (lx->transport) {
	case KAGID_TR_UNIX:
		rc = bev != NULL ? peer_unix(&r, (int)bufferevent_getfd(bev)) :
		    KAGI_ERR_INTERNAL;
		break;
	case KAGID_TR_HTTPS:
		rc = bev != NULL ? peer_tls(&r, bev) : KAGI_ERR_INTERNAL;
		break;
	case KAGID_TR_HTTP: {
		char *host = NULL;
		ev_uint16_t port = 0;
		if (conn != NULL)
			evhttp_connection_get_peer(conn, &host, &port);
		snprintf(r.peer, sizeof(r.peer), "http:%s:%u",
		    host != NULL ? host : "?", (unsigned)port);
		/* no whoami: plain HTTP serves only public routes (OCSP, CRLs,
		 * CA certificates, health), none reads it; saves an allocation
		 * per OCSP request */
		break;
	}
	}
	if (rc != 0) {
		kagi_log_warn("event=peer_refused transport=%d peer=%s",
		    (int)lx->transport, r.peer[0] ? r.peer : "-");
		kagid_reply_error(&r, 403, rc == KAGI_ERR_DENIED ? rc :
		    KAGI_ERR_DENIED, NULL);
	} else {
		kagid_dispatch(&r);
	}
	json_decref(r.whoami);
}

static struct evhttp *
http_new(struct kagid *k, enum kagid_transport t)
{
	struct evhttp *h;
	struct kagid_listener *lx = &k->lx[t];

	if ((h = evhttp_new(k->base)) == NULL)
		return NULL;
	lx->k = k;
	lx->transport = t;
	lx->http = h;
	evhttp_set_timeout(h, KAGID_HTTP_TIMEOUT);
	/* handlers cap their own bodies (KAGI_JSON_MAX_BODY); only HR feeds
	 * and plans may be larger (api_hr.c) */
	evhttp_set_max_body_size(h, (ev_ssize_t)KAGID_MAX_BODY);
	evhttp_set_max_headers_size(h, KAGID_MAX_HEADERS);
	evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
	evhttp_set_default_content_type(h, "application/json");
	evhttp_set_gencb(h, gen_cb, lx);
	return h;
}

/* "host:port" or "[v6]:port" */
static int
split_hostport(const char *s, char *host, size_t hlen, uint16_t *port)
{
	const char *colon, *hs = s, *he;
	char *end = NULL;
	unsigned long p;

	if (s[0] == '[') {
		hs = s + 1;
		if ((he = strchr(hs, ']')) == NULL || he[1] != ':')
			return KAGI_ERR_INVALID;
		colon = he + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return KAGI_ERR_INVALID;
		he = colon;
	}
	if (he == hs || (size_t)(he - hs) >= hlen)
		return KAGI_ERR_INVALID;
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || p > 65535)
		return KAGI_ERR_INVALID;
	*port = (uint16_t)p;
	return 0;
}

static int
bind_tcp(struct kagid *k, struct evhttp *h, const char *spec, char *actual,
    size_t alen)
{
	char host[256];
	uint16_t port = 0;
	struct evhttp_bound_socket *bs;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char ab[INET6_ADDRSTRLEN];
	int fd;

	(void)k;
	if (split_hostport(spec, host, sizeof(host), &port) != 0) {
		kagi_log_err("bad listen address '%s' (want host:port)", spec);
		return KAGI_ERR_INVALID;
	}
	if ((bs = evhttp_bind_socket_with_handle(h, host, port)) == NULL) {
		kagi_log_err("cannot listen on %s: %s", spec, strerror(errno));
		return KAGI_ERR_SYSTEM;
	}
	fd = (int)evhttp_bound_socket_get_fd(bs);
	/*
	 * Answers go out in more than one write (headers, body, TLS records);
	 * without TCP_NODELAY each waits for the peer's delayed ACK (~40 ms
	 * per request).  Linux copies the option to accepted sockets.
	 */
	{
		int one = 1;
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one)) != 0)
			kagi_log_warn("TCP_NODELAY on %s: %s", spec,
			    strerror(errno));
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		return KAGI_ERR_SYSTEM;
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &a->sin6_addr, ab, sizeof(ab));
		snprintf(actual, alen, "[%s]:%u", ab, ntohs(a->sin6_port));
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &a->sin_addr, ab, sizeof(ab));
		snprintf(actual, alen, "%s:%u", ab, ntohs(a->sin_port));
	}
	return 0;
}

static int
bind_unix(struct kagid *k, struct evhttp *h)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd = -1, r = KAGI_ERR_SYSTEM;
	mode_t old;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(k->socket_path) >= sizeof(sa.sun_path)) {
		kagi_log_err("socket path too long: %s", k->socket_path);
		return KAGI_ERR_LIMIT;
	}
	memcpy(sa.sun_path, k->socket_path, strlen(k->socket_path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) < 0)
		goto out;
	if (lstat(k->socket_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			kagi_log_err("%s exists and is not a socket; not "
			    "removing it", k->socket_path);
			r = KAGI_ERR_EXISTS;
			goto out;
		}
		/* a live kagid still answers: do not steal its socket */
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa,
		    sizeof(sa)) == 0) {
			close(probe);
			kagi_log_err("%s is in use by a running process",
			    k->socket_path);
			r = KAGI_ERR_EXISTS;
			goto out;
		}
		if (probe >= 0)
			close(probe);
		if (unlink(k->socket_path) != 0) {
			kagi_log_err("cannot remove stale %s: %s",
			    k->socket_path, strerror(errno));
			goto out;
		}
		kagi_log_info("removed stale socket %s", k->socket_path);
	}
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		umask(old);
		kagi_log_err("cannot bind %s: %s", k->socket_path,
		    strerror(errno));
		goto out;
	}
	umask(old);
	k->socket_created = 1;
	if (chmod(k->socket_path, k->conf->socket_mode != 0 ?
	    k->conf->socket_mode : 0660) != 0 ||
	    stat(k->socket_path, &st) != 0) {
		kagi_log_err("cannot set mode of %s: %s", k->socket_path,
		    strerror(errno));
		goto out;
	}
	k->socket_gid = st.st_gid;
	if (listen(fd, 128) != 0)
		goto out;
	if (evhttp_accept_socket_with_handle(h, fd) == NULL) {
		kagi_log_err("cannot accept on %s", k->socket_path);
		goto out;
	}
	k->socket_fd = fd; /* owned by evhttp now */
	fd = -1;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	return r;
}

int
kagid_listen_all(struct kagid *k)
{
	int r;
	struct evhttp *h;

	if (k->conf->listen != NULL) {
		if ((h = http_new(k, KAGID_TR_HTTPS)) == NULL)
			return KAGI_ERR_NOMEM;
		evhttp_set_bevcb(h, https_bevcb, k);
		if ((r = bind_tcp(k, h, k->conf->listen, k->https_addr,
		    sizeof(k->https_addr))) != 0)
			return r;
		kagi_log_info("listening https=%s (TLS 1.3, client "
		    "certificates from %s)", k->https_addr, k->tls_client_ca);
	}
	if (k->conf->http_listen != NULL) {
		if ((h = http_new(k, KAGID_TR_HTTP)) == NULL)
			return KAGI_ERR_NOMEM;
		if ((r = bind_tcp(k, h, k->conf->http_listen, k->http_addr,
		    sizeof(k->http_addr))) != 0)
			return r;
		kagi_log_info("listening http=%s", k->http_addr);
	}
	if (k->socket_path != NULL) {
		if ((h = http_new(k, KAGID_TR_UNIX)) == NULL)
			return KAGI_ERR_NOMEM;
		if ((r = bind_unix(k, h)) != 0)
			return r;
		kagi_log_info("listening socket=%s mode=%04o", k->socket_path,
		    (unsigned)(k->conf->socket_mode != 0 ?
		    k->conf->socket_mode : 0660));
	}
	return 0;
}

void
kagid_listen_close(struct kagid *k)
{
	for (size_t i = 0; i < sizeof(k->lx) / sizeof(k->lx[0]); i++) {
		if (k->lx[i].http != NULL) {
			evhttp_free(k->lx[i].http);
			k->lx[i].http = NULL;
		}
	}
	if (k->socket_created && k->socket_path != NULL) {
		struct stat st;
		if (lstat(k->socket_path, &st) == 0 && S_ISSOCK(st.st_mode))
			(void)unlink(k->socket_path);
		k->socket_created = 0;
	}
}
