/*
 * CA benchmarks (run by bench/bench_ca.sh; figures in docs/BENCHMARKS.md).
 *
 *   bench_ca issue SOCKET CSR N [DNS-PREFIX]
 *       N x POST /v1/ca/issue (profile server) to a running kagid over its
 *       Unix socket with one libcurl handle (keep-alive); prints the rate
 *       and the serials (one per line) to stdout.
 *   bench_ca crl N
 *       A private SoftHSM2 token and store: an issuing CA (P-256 in the
 *       token), N revoked certificates recorded in the store, then one
 *       complete CRL built from the store, signed in the HSM and DER-encoded
 *       exactly as kagid does it (kagid_ca_crl_der); prints the seconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
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

struct buf {
	char *p;
	size_t n;
};

static size_t
on_data(char *d, size_t sz, size_t nm, void *arg)
{
	struct buf *b = arg;
	size_t n = sz * nm;
	char *q = realloc(b->p, b->n + n + 1);

	if (q == NULL)
		return 0;
	memcpy(q + b->n, d, n);
	b->p = q;
	b->n += n;
	b->p[b->n] = '\0';
	return n;
}

static int
bench_issue(const char *sock, const char *csrfile, long n, const char *pfx)
{
	FILE *f = fopen(csrfile, "r");
	char csr[16384], url[] = "http://kagid/v1/ca/issue";
	size_t cl;
	CURL *c;
	struct curl_slist *h = NULL;
	double t0, t;
	long ok = 0;

	if (f == NULL) {
		perror(csrfile);
		return 1;
	}
	cl = fread(csr, 1, sizeof(csr) - 1, f);
	fclose(f);
	csr[cl] = '\0';
	curl_global_init(CURL_GLOBAL_DEFAULT);
	c = curl_easy_init();
	h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	t0 = now_s();
	for (long i = 0; i < n; i++) {
		struct buf b = { NULL, 0 };
		char name[64];
		json_t *body, *resp;
		char *s;
		long code = 0;

		snprintf(name, sizeof(name), "%s%ld.bench.example", pfx, i);
		body = json_pack("{s:s, s:s, s:[s]}", "profile", "server",
		    "csr", csr, "dns", name);
		s = json_dumps(body, JSON_COMPACT);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, s);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
		if (curl_easy_perform(c) == CURLE_OK &&
		    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) ==
		    CURLE_OK && code == 201 && b.p != NULL &&
		    (resp = json_loads(b.p, 0, NULL)) != NULL) {
			printf("%s\n", json_string_value(json_object_get(resp,
			    "serial")));
			json_decref(resp);
			ok++;
		} else {
			fprintf(stderr, "request %ld failed: HTTP %ld %s\n", i,
			    code, b.p != NULL ? b.p : "");
		}
		free(b.p);
		free(s);
		json_decref(body);
	}
	t = now_s() - t0;
	fprintf(stderr, "issued %ld/%ld certificates in %.3f s: %.1f/s\n", ok,
	    n, t, (double)ok / t);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	curl_global_cleanup();
	return ok == n ? 0 : 1;
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * N POSTs of the DER requests DIR/1.der..DIR/K.der in rotation to URL, one
 * at a time, a new connection for each (HTTP/1.0, as `openssl ocsp -port`
 * needs); prints rate, p50 and p99.  The same client for every responder.
 */
static int
bench_ocsp(const char *url, const char *dir, long n)
{
	uint8_t *req[1000];
	size_t rl[1000];
	int k = 0;
	double *lat = calloc((size_t)n, sizeof(double)), t0, t;
	long ok = 0;
	CURL *c;
	struct curl_slist *h = NULL;

	for (k = 0; k < 1000; k++) {
		char path[600];
		FILE *f;
		snprintf(path, sizeof(path), "%s/%d.der", dir, k + 1);
		if ((f = fopen(path, "rb")) == NULL)
			break;
		req[k] = malloc(8192);
		rl[k] = fread(req[k], 1, 8192, f);
		fclose(f);
	}
	if (k == 0 || lat == NULL)
		return 1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	c = curl_easy_init();
	h = curl_slist_append(h, "Content-Type: application/ocsp-request");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_0);
	curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	t0 = now_s();
	for (long i = 0; i < n; i++) {
		struct buf b = { NULL, 0 };
		long code = 0;
		double s0 = now_s();
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req[i % k]);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)rl[i % k]);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
		if (curl_easy_perform(c) == CURLE_OK &&
		    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) ==
		    CURLE_OK && code == 200 && b.n > 10)
			ok++;
		lat[i] = now_s() - s0;
		free(b.p);
	}
	t = now_s() - t0;
	qsort(lat, (size_t)n, sizeof(double), cmp_d);
	printf("ocsp %s: %ld/%ld ok in %.3f s: %.1f/s p50=%.2fms p99=%.2fms\n",
	    url, ok, n, t, (double)ok / t, lat[n / 2] * 1e3,
	    lat[(size_t)((double)n * 0.99)] * 1e3);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	curl_global_cleanup();
	for (int i = 0; i < k; i++)
		free(req[i]);
	free(lat);
	return ok == n ? 0 : 1;
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
	if (argc >= 5 && strcmp(argv[1], "issue") == 0)
		return bench_issue(argv[2], argv[3], atol(argv[4]),
		    argc > 5 ? argv[5] : "h");
	if (argc == 5 && strcmp(argv[1], "ocsp") == 0)
		return bench_ocsp(argv[2], argv[3], atol(argv[4]));
	if (argc == 3 && strcmp(argv[1], "crl") == 0)
		return bench_crl(atol(argv[2]));
	fprintf(stderr, "usage: bench_ca issue SOCKET CSR N [DNS-PREFIX]\n"
	    "       bench_ca ocsp URL REQDIR N\n"
	    "       bench_ca crl N\n");
	return 2;
}
