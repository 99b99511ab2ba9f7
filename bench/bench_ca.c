/*
 * CA benchmarks (run by bench/bench_ca.sh; figures in docs/BENCHMARKS.md).
 *
 *   bench_ca issue SOCKET CSR N [DNS-PREFIX [CONCURRENCY]]
 *       N x POST /v1/ca/issue (profile server) to a running kagid over its
 *       Unix socket on CONCURRENCY (default 1) kept-alive connections, each
 *       with one request outstanding; prints each serial it was answered
 *       (201) on stdout as soon as it arrives (flushed: a crash test reads
 *       what the client was told), and the rate and p50/p99 on stderr.
 *   bench_ca load HOST:PORT PATH REQDIR CONC SECONDS keepalive|close
 *       The OCSP load client used for every responder: CONC connections,
 *       one request outstanding on each, POSTing REQDIR/1.der..K.der in
 *       rotation for SECONDS; keepalive asks for `Connection: keep-alive`
 *       (so an HTTP/1.0-style server such as `openssl ocsp -port` may keep
 *       it too) and reuses a connection until the server closes it; close
 *       sends `Connection: close` and opens a
 *       new connection per request.  Latency is measured from the start of
 *       the request (including the connect in close mode).  Prints
 *       responses/s, p50, p99 and errors.
 *   bench_ca crl N
 *       A private SoftHSM2 token and store: an issuing CA (P-256 in the
 *       token), N revoked certificates recorded in the store, then one
 *       complete CRL built from the store, signed in the HSM and DER-encoded
 *       exactly as kagid does it (kagid_ca_crl_der); prints the seconds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/pem.h>

#include "kagi/ca.h"
#include "kagi/hsm.h"
#include "kagi/log.h"
#include "kagi/store.h"
#include "server_int.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * ---- a small HTTP/1.1 load generator (poll, non-blocking sockets) ----
 * One request outstanding per connection.  Used for issuance (Unix socket)
 * and for OCSP against every responder, so they are measured alike.
 */
struct lg_target {
	int is_unix;
	struct sockaddr_un sun;
	struct sockaddr_in sin;
	const char *host;       /* Host header */
	const char *path;
	const char *ctype;
	int close_each;         /* Connection: close, a new connection each */
};

/* body for request number idx (malloc'd into *body) */
typedef int lg_body_fn(void *arg, long idx, char **body, size_t *len);
/* a complete answer */
typedef void lg_done_fn(void *arg, long idx, int status, const char *body,
    size_t len);

struct lg_conn {
	int fd;
	int dead;               /* could not connect: retired */
	int reused;             /* a request already completed on it */
	char *out;
	size_t outlen, off;
	char *in;
	size_t inlen, incap;
	double t0;
	long idx;
	int busy;
};

struct lg_stats {
	long ok, bad_status, errors, connects;
	long pending;           /* unanswered when the time was up */
	double *lat;            /* ms, completed requests */
	size_t nlat, caplat;
	double secs;
};

static void
lg_close(struct lg_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->reused = 0;
}

static int
lg_connect(const struct lg_target *tg, struct lg_conn *c)
{
	int fd = socket(tg->is_unix ? AF_UNIX : AF_INET,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
	int rc;

	if (fd < 0)
		return -1;
	if (!tg->is_unix)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
	rc = tg->is_unix ? connect(fd, (const struct sockaddr *)&tg->sun,
	    sizeof(tg->sun)) : connect(fd, (const struct sockaddr *)&tg->sin,
	    sizeof(tg->sin));
	if (rc != 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	c->fd = fd;
	c->reused = 0;
	return 0;
}

static void
lg_lat_add(struct lg_stats *st, double ms)
{
	if (st->nlat == st->caplat) {
		size_t n = st->caplat ? st->caplat * 2 : 4096;
		double *p = realloc(st->lat, n * sizeof(double));
		if (p == NULL)
			return;
		st->lat = p;
		st->caplat = n;
	}
	st->lat[st->nlat++] = ms;
}

/*
 * 1: complete (status, body, whether the server will close), 0: need more
 * bytes, -1: malformed.  eof: the peer closed (ends a body without a
 * Content-Length).
 */
static int
lg_parse(const char *in, size_t n, int eof, int *status, size_t *boff,
    size_t *blen, int *srv_close)
{
	const char *end = NULL, *p, *le;
	long cl = -1;
	int minor = 1, keep = 0;

	for (size_t i = 0; i + 3 < n; i++)
		if (memcmp(in + i, "\r\n\r\n", 4) == 0) {
			end = in + i;
			break;
		}
	if (end == NULL)
		return eof ? -1 : 0;
	if (sscanf(in, "HTTP/1.%d %d", &minor, status) != 2)
		return -1;
	*srv_close = 0;
	for (p = memchr(in, '\n', (size_t)(end - in)); p != NULL && p < end;
	    p = le) {
		p++;
		le = memchr(p, '\n', (size_t)(end + 2 - p));
		if (le == NULL)
			break;
		if (strncasecmp(p, "content-length:", 15) == 0)
			cl = strtol(p + 15, NULL, 10);
		else if (strncasecmp(p, "connection:", 11) == 0) {
			const char *v = p + 11;
			while (*v == ' ')
				v++;
			if (strncasecmp(v, "close", 5) == 0)
				*srv_close = 1;
			else if (strncasecmp(v, "keep-alive", 10) == 0)
				keep = 1;
		}
	}
	if (minor == 0 && !keep)
		*srv_close = 1;
	*boff = (size_t)(end + 4 - in);
	if (cl >= 0) {
		if (n < *boff + (size_t)cl)
			return eof ? -1 : 0;
		*blen = (size_t)cl;
		return 1;
	}
	if (!eof)
		return 0;
	*blen = n - *boff;
	*srv_close = 1;
	return 1;
}

static int
lg_start(const struct lg_target *tg, struct lg_conn *c, long idx,
    lg_body_fn *bf, void *arg, struct lg_stats *st)
{
	char *body = NULL, hdr[512];
	size_t blen = 0;
	int hl;

	c->t0 = now_s();
	if (c->fd < 0) {
		if (lg_connect(tg, c) != 0)
			return -1;
		st->connects++;
	}
	if (bf(arg, idx, &body, &blen) != 0)
		return -1;
	hl = snprintf(hdr, sizeof(hdr), "POST %s HTTP/1.1\r\nHost: %s\r\n"
	    "Content-Type: %s\r\nContent-Length: %zu\r\n%s\r\n", tg->path,
	    tg->host, tg->ctype, blen, tg->close_each ?
	    "Connection: close\r\n" : "Connection: keep-alive\r\n");
	free(c->out);
	if ((c->out = malloc((size_t)hl + blen)) == NULL) {
		free(body);
		return -1;
	}
	memcpy(c->out, hdr, (size_t)hl);
	memcpy(c->out + hl, body, blen);
	free(body);
	c->outlen = (size_t)hl + blen;
	c->off = 0;
	c->inlen = 0;
	c->idx = idx;
	c->busy = 1;
	return 0;
}

/* Run until max requests were answered (max > 0) or secs passed. */
static int
lg_run(const struct lg_target *tg, int conc, long max, double secs,
    lg_body_fn *bf, lg_done_fn *df, void *arg, struct lg_stats *st)
{
	struct lg_conn *cs = calloc((size_t)conc, sizeof(*cs));
	struct pollfd *pf = calloc((size_t)conc, sizeof(*pf));
	double t0 = now_s(), tend = t0 + secs;
	long next = 0;
	int live;

	if (cs == NULL || pf == NULL)
		return -1;
	for (int i = 0; i < conc; i++)
		cs[i].fd = -1;
	for (;;) {
		double now = now_s();
		int stop = (max > 0 && next >= max) || (secs > 0 && now >= tend);

		if (secs > 0 && now >= tend)
			break;          /* what is still waiting: see below */
		live = 0;
		for (int i = 0; i < conc; i++) {
			struct lg_conn *c = &cs[i];
			if (max > 0 && next >= max)
				stop = 1;
			if (!c->busy && !c->dead && !stop) {
				if (lg_start(tg, c, next, bf, arg, st) != 0) {
					st->errors++;
					lg_close(c);
					c->dead = 1;
					continue;
				}
				next++;
			}
			if (c->busy && now - c->t0 > 30.0) {
				st->errors++;       /* stuck: give up on it */
				c->busy = 0;
				lg_close(c);
			}
			pf[i].fd = c->busy ? c->fd : -1;
			pf[i].events = c->off < c->outlen ? POLLOUT : POLLIN;
			pf[i].revents = 0;
			live += c->busy;
		}
		if (live == 0)
			break;
		if (poll(pf, (nfds_t)conc, 100) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < conc; i++) {
			struct lg_conn *c = &cs[i];
			int status = 0, srv_close = 0, pr;
			size_t boff = 0, blen = 0;
			ssize_t n;

			if (!c->busy || pf[i].revents == 0)
				continue;
			if (c->off < c->outlen) {
				n = send(c->fd, c->out + c->off,
				    c->outlen - c->off, MSG_NOSIGNAL);
				if (n > 0)
					c->off += (size_t)n;
				else if (n < 0 && errno != EAGAIN &&
				    errno != EINTR)
					goto conn_err;
				continue;
			}
			if (c->incap - c->inlen < 4096) {
				size_t nc = c->incap ? c->incap * 2 : 16384;
				char *q = realloc(c->in, nc);
				if (q == NULL)
					goto conn_err;
				c->in = q;
				c->incap = nc;
			}
			n = recv(c->fd, c->in + c->inlen, c->incap - c->inlen,
			    0);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (n < 0)
				goto conn_err;
			c->inlen += (size_t)n;
			pr = lg_parse(c->in, c->inlen, n == 0, &status, &boff,
			    &blen, &srv_close);
			if (pr == 0)
				continue;
			if (pr < 0)
				goto conn_err;
			lg_lat_add(st, (now_s() - c->t0) * 1e3);
			if (status == 200 || status == 201)
				st->ok++;
			else
				st->bad_status++;
			if (df != NULL)
				df(arg, c->idx, status, c->in + boff, blen);
			c->busy = 0;
			c->reused = 1;
			if (srv_close || tg->close_each)
				lg_close(c);
			continue;
conn_err:
			st->errors++;
			c->busy = 0;
			lg_close(c);
		}
	}
	st->secs = now_s() - t0;
	/*
	 * Requests still waiting when time is up (a responder that serves
	 * one connection at a time starves the others): counted, and their
	 * waiting time so far goes into the latencies, so p99 is not
	 * flattered by leaving them out (it is then a lower bound).
	 */
	for (int i = 0; i < conc; i++)
		if (cs[i].busy) {
			st->pending++;
			lg_lat_add(st, (now_s() - cs[i].t0) * 1e3);
		}
	for (int i = 0; i < conc; i++) {
		lg_close(&cs[i]);
		free(cs[i].out);
		free(cs[i].in);
	}
	free(cs);
	free(pf);
	return 0;
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
lg_report(FILE *f, const char *what, struct lg_stats *st)
{
	double p50 = 0, p99 = 0;

	if (st->nlat > 0) {
		qsort(st->lat, st->nlat, sizeof(double), cmp_d);
		p50 = st->lat[st->nlat / 2];
		p99 = st->lat[(size_t)((double)st->nlat * 0.99)];
	}
	fprintf(f, "%s: %ld ok in %.3f s: %.1f/s p50=%.2fms p99=%.2fms "
	    "non2xx=%ld errors=%ld unanswered=%ld connections=%ld\n", what,
	    st->ok, st->secs, (double)st->ok / st->secs, p50, p99,
	    st->bad_status, st->errors, st->pending, st->connects);
}

/* ---- issuance ---- */

struct issue_ctx {
	const char *csr;
	const char *pfx;
};

static int
issue_body(void *arg, long idx, char **body, size_t *len)
{
	struct issue_ctx *ic = arg;
	char name[96];
	json_t *o;

	snprintf(name, sizeof(name), "%s%ld.bench.example", ic->pfx, idx);
	o = json_pack("{s:s, s:s, s:[s]}", "profile", "server", "csr",
	    ic->csr, "dns", name);
	*body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (*body == NULL)
		return -1;
	*len = strlen(*body);
	return 0;
}

static void
issue_done(void *arg, long idx, int status, const char *body, size_t len)
{
	json_t *resp;

	(void)arg;
	if (status == 201 && (resp = json_loadb(body, len, 0, NULL)) != NULL) {
		const char *s = json_string_value(json_object_get(resp,
		    "serial"));
		if (s != NULL) {
			/* what the client was told, at once (crash test) */
			printf("%s\n", s);
			fflush(stdout);
		}
		json_decref(resp);
	} else {
		fprintf(stderr, "request %ld: HTTP %d %.*s\n", idx, status,
		    (int)(len > 300 ? 300 : len), body);
	}
}

static int
bench_issue(const char *sock, const char *csrfile, long n, const char *pfx,
    int conc)
{
	FILE *f = fopen(csrfile, "r");
	char csr[16384], what[64];
	size_t cl;
	struct lg_target tg;
	struct issue_ctx ic;
	struct lg_stats st;

	if (f == NULL) {
		perror(csrfile);
		return 1;
	}
	cl = fread(csr, 1, sizeof(csr) - 1, f);
	fclose(f);
	csr[cl] = '\0';
	memset(&tg, 0, sizeof(tg));
	memset(&st, 0, sizeof(st));
	tg.is_unix = 1;
	tg.sun.sun_family = AF_UNIX;
	if (strlen(sock) >= sizeof(tg.sun.sun_path))
		return 1;
	strcpy(tg.sun.sun_path, sock);
	tg.host = "kagid";
	tg.path = "/v1/ca/issue";
	tg.ctype = "application/json";
	ic.csr = csr;
	ic.pfx = pfx;
	if (lg_run(&tg, conc < 1 ? 1 : conc, n, 0, issue_body, issue_done, &ic,
	    &st) != 0)
		return 1;
	snprintf(what, sizeof(what), "issue concurrency=%d", conc);
	lg_report(stderr, what, &st);
	fprintf(stderr, "issued %ld/%ld certificates in %.3f s: %.1f/s\n",
	    st.ok, n, st.secs, (double)st.ok / st.secs);
	free(st.lat);
	return st.ok == n ? 0 : 1;
}

/* ---- OCSP load ---- */

struct ocsp_ctx {
	uint8_t *req[1000];
	size_t rl[1000];
	int k;
};

static int
ocsp_body(void *arg, long idx, char **body, size_t *len)
{
	struct ocsp_ctx *oc = arg;
	size_t i = (size_t)(idx % oc->k);

	if ((*body = malloc(oc->rl[i])) == NULL)
		return -1;
	memcpy(*body, oc->req[i], oc->rl[i]);
	*len = oc->rl[i];
	return 0;
}

static int
bench_load(const char *hostport, const char *path, const char *dir,
    int conc, double secs, const char *mode)
{
	struct ocsp_ctx oc;
	struct lg_target tg;
	struct lg_stats st;
	char host[64], what[200];
	const char *colon = strrchr(hostport, ':');
	int rc = 1;

	memset(&oc, 0, sizeof(oc));
	memset(&tg, 0, sizeof(tg));
	memset(&st, 0, sizeof(st));
	if (colon == NULL || (size_t)(colon - hostport) >= sizeof(host) ||
	    (strcmp(mode, "keepalive") != 0 && strcmp(mode, "close") != 0))
		return 2;
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';
	tg.sin.sin_family = AF_INET;
	tg.sin.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &tg.sin.sin_addr) != 1)
		return 2;
	tg.host = hostport;
	tg.path = path;
	tg.ctype = "application/ocsp-request";
	tg.close_each = strcmp(mode, "close") == 0;
	for (oc.k = 0; oc.k < 1000; oc.k++) {
		char p[600];
		FILE *f;
		snprintf(p, sizeof(p), "%s/%d.der", dir, oc.k + 1);
		if ((f = fopen(p, "rb")) == NULL)
			break;
		oc.req[oc.k] = malloc(8192);
		oc.rl[oc.k] = oc.req[oc.k] != NULL ?
		    fread(oc.req[oc.k], 1, 8192, f) : 0;
		fclose(f);
		if (oc.rl[oc.k] == 0)
			break;
	}
	if (oc.k == 0)
		goto out;
	if (lg_run(&tg, conc, 0, secs, ocsp_body, NULL, &oc, &st) != 0)
		goto out;
	snprintf(what, sizeof(what), "load %s%s conc=%d %s", hostport, path,
	    conc, mode);
	lg_report(stdout, what, &st);
	rc = st.ok > 0 && st.bad_status == 0 ? 0 : 1;
out:
	for (int i = 0; i < oc.k; i++)
		free(oc.req[i]);
	free(st.lat);
	return rc;
}

static int
bench_crl(long n)
{
	char dir[] = "/tmp/kagi-bench-crl-XXXXXX", path[512], conf[600];
	struct hsm *h = NULL;
	struct hsm_session *s = NULL;
	struct hsm_key *k = NULL;
	EVP_PKEY *signer = NULL, *pub = NULL;
	struct ca_issuer *self = NULL, *iss = NULL;
	struct ca_request rq;
	struct store *st = NULL;
	struct store_txn *t = NULL;
	X509 *cert = NULL;
	uint8_t *der = NULL, fake[64];
	size_t len = 0, entries = 0;
	int64_t now = (int64_t)time(NULL);
	double t0, t1;
	FILE *f;
	int rc = 1;

	kagi_log_set_level(KAGI_LOG_ERR);
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/tokens", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/softhsm2.conf", dir);
	f = fopen(path, "w");
	snprintf(conf, sizeof(conf), "directories.tokendir = %s/tokens\n"
	    "objectstore.backend = file\nlog.level = ERROR\n", dir);
	fputs(conf, f);
	fclose(f);
	setenv("SOFTHSM2_CONF", path, 1);
	if (hsm_open("/usr/lib/softhsm/libsofthsm2.so", &h) != 0 ||
	    hsm_token_init(h, "bench", "so-pin-0000", "user-pin-0000") != 0 ||
	    hsm_session_open(h, "bench", "user-pin-0000", &s) != 0 ||
	    hsm_key_generate(s, "issuing", HSM_KEY_EC_P256, &k) != 0 ||
	    ca_signer_from_hsm(k, &signer) != 0 || hsm_key_public(k, &pub) != 0 ||
	    ca_issuer_new(NULL, signer, NULL, NULL, NULL, &self) != 0)
		goto out;
	memset(&rq, 0, sizeof(rq));
	rq.profile = CA_PROFILE_ROOT;
	rq.pubkey = pub;
	rq.org = "bench";
	rq.name = "bench CA";
	rq.not_before = now - 60;
	rq.not_after = now + 86400 * 365;
	if (ca_cert_issue(self, &rq, &cert) != 0 ||
	    ca_issuer_new(cert, signer, NULL, NULL, NULL, &iss) != 0)
		goto out;
	snprintf(path, sizeof(path), "%s/store", dir);
	if (store_open(path, NULL, &st) != 0 || store_txn_begin(st, 1, &t) != 0)
		goto out;
	memset(fake, 0x30, sizeof(fake));
	for (long i = 0; i < n; i++) {
		struct store_cert c;
		memset(&c, 0, sizeof(c));
		c.serial_len = 16;
		for (int j = 0; j < 16; j++)
			c.serial[j] = (uint8_t)(((unsigned long)i * 2654435761u) >>
			    (j % 4 * 8));
		c.serial[0] = (uint8_t)(0x40 | (c.serial[0] & 0x3f));
		c.serial[12] = (uint8_t)(i >> 16);
		c.serial[13] = (uint8_t)(i >> 8);
		c.serial[14] = (uint8_t)i;
		c.serial[15] = 0x5a;
		c.profile = (char *)"staff-logon";
		c.holder = (char *)"";
		c.subject = (char *)"CN=bench";
		c.state = STORE_CERT_REVOKED;
		c.reason = (uint8_t)(i % 3 == 0 ? 1 : 4);
		c.revoked_at = now - i;
		c.not_before = now - 86400;
		c.not_after = now + 86400;
		c.issued_at = now - 86400;
		c.der = fake;
		c.der_len = sizeof(fake);
		if (store_cert_add(t, &c) != 0)
			goto out;
	}
	if (store_audit_append(t, now, "bench", "bench.fill", "", "ok", "",
	    NULL) != 0 || store_txn_commit(t) != 0)
		goto out;
	t = NULL;
	if (store_txn_begin(st, 0, &t) != 0)
		goto out;
	t0 = now_s();
	if (kagid_ca_crl_der(t, iss, 0, 1, now, now + 86400, &der, &len,
	    &entries) != 0)
		goto out;
	t1 = now_s();
	printf("crl entries=%zu der_bytes=%zu seconds=%.3f\n", entries, len,
	    t1 - t0);
	snprintf(path, sizeof(path), "%s/bench.crl", dir);
	if ((f = fopen(getenv("BENCH_CRL_OUT") ? getenv("BENCH_CRL_OUT") :
	    path, "wb")) != NULL) {
		fwrite(der, 1, len, f);
		fclose(f);
	}
	if (getenv("BENCH_CA_OUT") != NULL &&
	    (f = fopen(getenv("BENCH_CA_OUT"), "w")) != NULL) {
		PEM_write_X509(f, cert);
		fclose(f);
	}
	rc = entries == (size_t)n ? 0 : 1;
out:
	store_txn_abort(t);
	store_close(st);
	free(der);
	ca_issuer_free(iss);
	ca_issuer_free(self);
	X509_free(cert);
	EVP_PKEY_free(signer);
	EVP_PKEY_free(pub);
	hsm_key_free(k);
	hsm_session_close(s);
	hsm_close(h);
	snprintf(conf, sizeof(conf), "rm -rf '%s'", dir);
	if (system(conf) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	if (rc != 0)
		fprintf(stderr, "bench_ca crl failed\n");
	return rc;
}

int
main(int argc, char **argv)
{
	if (argc >= 5 && argc <= 7 && strcmp(argv[1], "issue") == 0)
		return bench_issue(argv[2], argv[3], atol(argv[4]),
		    argc > 5 ? argv[5] : "h", argc > 6 ? atoi(argv[6]) : 1);
	if (argc == 8 && strcmp(argv[1], "load") == 0)
		return bench_load(argv[2], argv[3], argv[4], atoi(argv[5]),
		    atof(argv[6]), argv[7]);
	if (argc == 3 && strcmp(argv[1], "crl") == 0)
		return bench_crl(atol(argv[2]));
	fprintf(stderr, "usage: bench_ca issue SOCKET CSR N [DNS-PREFIX "
	    "[CONCURRENCY]]\n"
	    "       bench_ca load HOST:PORT PATH REQDIR CONC SECONDS "
	    "keepalive|close\n"
	    "       bench_ca crl N\n");
	return 2;
}
