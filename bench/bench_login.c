/*
 * bench_login: helpers for the terminal login benchmark (bench/bench_login.sh,
 * docs/BENCHMARKS.md "Terminal login").
 *
 *   bench_login p11 MODULE TOKEN-LABEL PIN N
 *       the bare card operation: one PKCS#11 session on the token, then N
 *       times C_Login(CKU_USER) + find the private key + C_SignInit/C_Sign (ECDSA over a SHA-256
 *       digest, or CKM_SHA256_RSA_PKCS) + C_Logout, timed one by one;
 *       prints the median and p99 in ms (the first iteration also holds
 *       the module load and C_Initialize; the median hides it).
 *   bench_login p11s MODULE TOKEN-LABEL PIN N
 *       the same, but each iteration also finds the token again
 *       (C_GetSlotList + C_GetTokenInfo) and opens and closes its own
 *       session, as a per-login session costs (diagnostic).
 *   bench_login u2fkey ENROL.json
 *       credential id and ES256 public key (base64, pam_u2f authfile
 *       format "KEYHANDLE,PUBKEY") from softfido_tool's enrol output.
 *   bench_login load URL CERT KEY CA MODE CLIENTS SECONDS MAX [PREFIX USERS SECRET]
 *       CLIENTS threads, each with its own keep-alive libcurl handle and
 *       the terminal's client certificate (mTLS), for SECONDS or MAX
 *       operations in all.  MODE health: GET /v1/health.  MODE password:
 *       POST /v1/login/begin + /v1/login/finish with the password factor
 *       for PREFIX00..PREFIX(USERS-1), SECRET the password; MODE card: the
 *       same with the card factor signed in software, SECRET the staff-logon
 *       key file (PEM) and DIR/PREFIXnn.crt next to it each account's
 *       certificate.  One operation = one login decision (begin + finish).
 *       Prints operations/s and the per-operation latency p50/p99 in ms.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <fido.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <p11-kit/pkcs11.h>

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
pct(double *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0.0;
	i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

/* --- p11: bare C_Login + C_Sign ------------------------------------------ */

static int
bench_p11(const char *module, const char *label, const char *pin, long n,
    int per_login_session)
{
	void *h = NULL;
	CK_FUNCTION_LIST_PTR f = NULL;
	CK_C_GetFunctionList gfl;
	CK_SLOT_ID slots[16], slot = 0;
	CK_ULONG ns = 16, cnt = 0, i;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = 0;
	CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof(cls) } };
	CK_ATTRIBUTE ktmpl[] = { { CKA_KEY_TYPE, &kt, sizeof(kt) } };
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	unsigned char data[32], sig[512];
	CK_ULONG siglen;
	double *t = NULL, t0 = now_ms(), tstart = t0;
	int found = 0, rc = 1;
	long k;
	void *sym;

	if (n < 1 || (t = calloc((size_t)n, sizeof(*t))) == NULL)
		goto out;
	memset(data, 0x5a, sizeof(data));
	if ((h = dlopen(module, RTLD_NOW | RTLD_LOCAL)) == NULL ||
	    (sym = dlsym(h, "C_GetFunctionList")) == NULL) {
		fprintf(stderr, "p11: cannot load %s\n", module);
		goto out;
	}
	memcpy(&gfl, &sym, sizeof(gfl));
	if (gfl(&f) != CKR_OK || f->C_Initialize(NULL) != CKR_OK ||
	    f->C_GetSlotList(CK_TRUE, slots, &ns) != CKR_OK)
		goto out;
	for (i = 0; i < ns && !found; i++) {
		CK_TOKEN_INFO ti;
		size_t l = strlen(label);

		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK || l > 32)
			continue;
		if (memcmp(ti.label, label, l) == 0 &&
		    (l == 32 || ti.label[l] == ' ')) {
			slot = slots[i];
			found = 1;
		}
	}
	if (!found) {
		fprintf(stderr, "p11: no token %s\n", label);
		goto out;
	}
	if (f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s) !=
	    CKR_OK)
		goto out;
	for (k = 0; k < n; k++) {
		if (k > 0)
			t0 = now_ms();
		if (per_login_session && k > 0) {
			CK_TOKEN_INFO ti;

			f->C_CloseSession(s);
			s = CK_INVALID_HANDLE;
			ns = 16;
			if (f->C_GetSlotList(CK_TRUE, slots, &ns) != CKR_OK)
				goto out;
			for (i = 0; i < ns; i++)
				(void)f->C_GetTokenInfo(slots[i], &ti);
			if (f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL,
			    NULL, &s) != CKR_OK)
				goto out;
		}
		if (f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)(uintptr_t)pin,
		    (CK_ULONG)strlen(pin)) != CKR_OK) {
			fprintf(stderr, "p11: C_Login failed\n");
			goto out;
		}
		{ /* private key handles do not survive C_Logout */
			if (f->C_FindObjectsInit(s, tmpl, 1) != CKR_OK ||
			    f->C_FindObjects(s, &key, 1, &cnt) != CKR_OK ||
			    f->C_FindObjectsFinal(s) != CKR_OK || cnt != 1 ||
			    f->C_GetAttributeValue(s, key, ktmpl, 1) != CKR_OK) {
				fprintf(stderr, "p11: no private key\n");
				goto out;
			}
			if (kt == CKK_RSA)
				mech.mechanism = CKM_SHA256_RSA_PKCS;
		}
		siglen = sizeof(sig);
		if (f->C_SignInit(s, &mech, key) != CKR_OK ||
		    f->C_Sign(s, data, sizeof(data), sig, &siglen) != CKR_OK) {
			fprintf(stderr, "p11: C_Sign failed\n");
			goto out;
		}
		if (f->C_Logout(s) != CKR_OK)
			goto out;
		t[k] = now_ms() - t0;
	}
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	printf("p11 %s: %ld x %sC_Login+C_FindObjects+C_Sign+C_Logout: median %.3f ms, "
	    "p99 %.3f ms (process total %.1f ms)\n",
	    kt == CKK_RSA ? "rsa" : "ecdsa", n, per_login_session ?
	    "C_GetSlotList+C_GetTokenInfo+C_OpenSession+" : "",
	    pct(t, (size_t)n, 0.5),
	    pct(t, (size_t)n, 0.99), now_ms() - tstart);
	rc = 0;
out:
	if (f != NULL) {
		if (s != CK_INVALID_HANDLE)
			f->C_CloseSession(s);
		f->C_Finalize(NULL);
	}
	if (h != NULL)
		dlclose(h);
	free(t);
	return rc;
}

/* --- u2fkey: pam_u2f authfile entry from an enrolment ------------------- */

static int
bench_u2fkey(const char *path)
{
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);
	const char *ad;
	unsigned char *raw = NULL;
	char *o1 = NULL, *o2 = NULL;
	fido_cred_t *c = fido_cred_new();
	size_t l;
	int n, rc = 1;

	if (j == NULL || c == NULL ||
	    (ad = json_string_value(json_object_get(j, "authdata"))) == NULL)
		goto out;
	l = strlen(ad);
	if ((raw = malloc(l)) == NULL ||
	    (n = EVP_DecodeBlock(raw, (const unsigned char *)ad, (int)l)) < 0)
		goto out;
	while (l > 0 && ad[l - 1] == '=') {
		n--;
		l--;
	}
	if (fido_cred_set_type(c, COSE_ES256) != FIDO_OK ||
	    fido_cred_set_authdata(c, raw, (size_t)n) != FIDO_OK) {
		fprintf(stderr, "u2fkey: bad authdata\n");
		goto out;
	}
	o1 = malloc(4 * fido_cred_id_len(c) / 3 + 8);
	o2 = malloc(4 * fido_cred_pubkey_len(c) / 3 + 8);
	if (o1 == NULL || o2 == NULL)
		goto out;
	EVP_EncodeBlock((unsigned char *)o1, fido_cred_id_ptr(c),
	    (int)fido_cred_id_len(c));
	EVP_EncodeBlock((unsigned char *)o2, fido_cred_pubkey_ptr(c),
	    (int)fido_cred_pubkey_len(c));
	printf("%s,%s\n", o1, o2);
	rc = 0;
out:
	free(o1);
	free(o2);
	free(raw);
	fido_cred_free(&c);
	json_decref(j);
	return rc;
}

/* --- load: concurrent clients against kagid --------------------------- */

struct load {
	const char *url, *cert, *key, *ca, *prefix, *password, *certdir;
	int mode, users; /* MODE_* */
	EVP_PKEY *card_key;
	double deadline;
	long max;
	pthread_mutex_t mu;
	long started, ok, errors;
	double *lat;
	size_t nlat, cap;
	char first_error[256];
};

enum { MODE_HEALTH, MODE_PASSWORD, MODE_CARD };

struct resp {
	char buf[8192];
	size_t len;
};

static size_t
on_body(char *p, size_t sz, size_t nm, void *arg)
{
	struct resp *r = arg;
	size_t n = sz * nm;

	if (n > sizeof(r->buf) - 1 - r->len)
		n = sizeof(r->buf) - 1 - r->len;
	memcpy(r->buf + r->len, p, n);
	r->len += n;
	r->buf[r->len] = '\0';
	return sz * nm;
}

static long
do_req(CURL *c, const struct load *L, const char *path, const char *body,
    struct resp *r)
{
	char url[512];
	long code = 0;

	snprintf(url, sizeof(url), "%s%s", L->url, path);
	r->len = 0;
	r->buf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}
	if (curl_easy_perform(c) != CURLE_OK)
		return -1;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	return code;
}

static void
load_error(struct load *L, const char *what, long code, const char *body)
{
	pthread_mutex_lock(&L->mu);
	L->errors++;
	if (L->first_error[0] == '\0')
		snprintf(L->first_error, sizeof(L->first_error),
		    "%s: HTTP %ld %.150s", what, code, body);
	pthread_mutex_unlock(&L->mu);
}

/* The staff-logon certificate of LOGIN: CERTDIR/LOGIN.crt (PEM text). */
static char *
read_cert(struct load *L, const char *login)
{
	char path[512], *p = NULL;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s.crt", L->certdir, login);
	if ((f = fopen(path, "rb")) == NULL) {
		load_error(L, "certificate", 0, path);
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (p = calloc(1, (size_t)n + 1)) != NULL &&
	    fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		p = NULL;
	}
	fclose(f);
	return p;
}

/*
 * The card factor made in software: ECDSA with the staff-logon key over
 * tbs_hash = SHA-256("kagi-login-v1" 0x00 challenge 0x00 login).
 */
static json_t *
card_finish(struct load *L, json_t *begin, const char *cid, const char *login,
    const char *cert_pem)
{
	const char *ch = json_string_value(json_object_get(begin, "challenge"));
	unsigned char chal[64], tbs[32], sig[128];
	char sig64[200];
	size_t siglen = sizeof(sig);
	unsigned int tl = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(L->card_key, NULL);
	json_t *out = NULL;

	if (ch == NULL || strlen(ch) != 44 || md == NULL || pc == NULL ||
	    EVP_DecodeBlock(chal, (const unsigned char *)ch, 44) != 33)
		goto done;
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, "kagi-login-v1", 14) != 1 ||
	    EVP_DigestUpdate(md, chal, 32) != 1 ||
	    EVP_DigestUpdate(md, "", 1) != 1 ||
	    EVP_DigestUpdate(md, login, strlen(login)) != 1 ||
	    EVP_DigestFinal_ex(md, tbs, &tl) != 1 ||
	    EVP_PKEY_sign_init(pc) != 1 ||
	    EVP_PKEY_sign(pc, sig, &siglen, tbs, sizeof(tbs)) != 1)
		goto done;
	EVP_EncodeBlock((unsigned char *)sig64, sig, (int)siglen);
	out = json_pack("{s:s, s:s, s:{s:[s], s:s}}", "challenge_id", cid,
	    "login", login, "card", "certs", cert_pem, "signature", sig64);
done:
	EVP_PKEY_CTX_free(pc);
	EVP_MD_CTX_free(md);
	return out;
}

static void *
load_thread(void *arg)
{
	struct load *L = arg;
	CURL *c = curl_easy_init();
	struct curl_slist *hdr = NULL;
	struct resp *r = malloc(sizeof(*r));
	char body[1024], login[64], *cert_pem = NULL;
	static int next_user;
	int user;
	long code;

	if (c == NULL || r == NULL)
		goto out;
	pthread_mutex_lock(&L->mu);
	user = next_user++ % (L->users > 0 ? L->users : 1);
	pthread_mutex_unlock(&L->mu);
	snprintf(login, sizeof(login), "%s%02d", L->prefix != NULL ?
	    L->prefix : "", user);
	if (L->mode == MODE_CARD && (cert_pem = read_cert(L, login)) == NULL)
		goto out;
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_SSLCERT, L->cert);
	curl_easy_setopt(c, CURLOPT_SSLKEY, L->key);
	curl_easy_setopt(c, CURLOPT_CAINFO, L->ca);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	for (;;) {
		double t0 = now_ms();

		pthread_mutex_lock(&L->mu);
		if (t0 > L->deadline || L->started >= L->max) {
			pthread_mutex_unlock(&L->mu);
			break;
		}
		L->started++;
		pthread_mutex_unlock(&L->mu);
		if (L->mode == MODE_HEALTH) {
			code = do_req(c, L, "/v1/health", NULL, r);
			if (code != 200) {
				load_error(L, "health", code, r->buf);
				continue;
			}
		} else {
			json_t *j, *fb = NULL;
			const char *cid;
			char *txt = NULL;

			snprintf(body, sizeof(body),
			    "{\"login\":\"%s\",\"service\":\"login\"}", login);
			code = do_req(c, L, "/v1/login/begin", body, r);
			j = code == 200 ? json_loads(r->buf, 0, NULL) : NULL;
			cid = json_string_value(json_object_get(j,
			    "challenge_id"));
			if (cid != NULL && L->mode == MODE_PASSWORD)
				fb = json_pack("{s:s, s:s, s:s}", "challenge_id",
				    cid, "login", login, "password", L->password);
			else if (cid != NULL)
				fb = card_finish(L, j, cid, login, cert_pem);
			json_decref(j);
			if (fb == NULL ||
			    (txt = json_dumps(fb, JSON_COMPACT)) == NULL) {
				load_error(L, "begin", code, r->buf);
				json_decref(fb);
				continue;
			}
			json_decref(fb);
			code = do_req(c, L, "/v1/login/finish", txt, r);
			free(txt);
			if (code != 200 || strstr(r->buf, "\"ok\"") == NULL) {
				load_error(L, "finish", code, r->buf);
				continue;
			}
		}
		pthread_mutex_lock(&L->mu);
		L->ok++;
		if (L->nlat < L->cap)
			L->lat[L->nlat++] = now_ms() - t0;
		pthread_mutex_unlock(&L->mu);
	}
out:
	curl_slist_free_all(hdr);
	if (c != NULL)
		curl_easy_cleanup(c);
	free(r);
	free(cert_pem);
	return NULL;
}

static int
bench_load(char **a, int argc)
{
	struct load L;
	pthread_t th[256];
	int n = atoi(a[5]), i;
	double t0, el;

	memset(&L, 0, sizeof(L));
	L.url = a[0];
	L.cert = a[1];
	L.key = a[2];
	L.ca = a[3];
	L.mode = strcmp(a[4], "password") == 0 ? MODE_PASSWORD :
	    strcmp(a[4], "card") == 0 ? MODE_CARD : MODE_HEALTH;
	L.max = atol(a[7]);
	if (L.mode != MODE_HEALTH) {
		if (argc < 11)
			return 2;
		L.prefix = a[8];
		L.users = atoi(a[9]);
		L.password = a[10];
	}
	if (L.mode == MODE_CARD) {
		/* PASSWORD is the key file; certificates next to it */
		FILE *f = fopen(a[10], "r");
		char *slash;

		if (f == NULL ||
		    (L.card_key = PEM_read_PrivateKey(f, NULL, NULL, NULL)) ==
		    NULL) {
			fprintf(stderr, "load: cannot read key %s\n", a[10]);
			if (f != NULL)
				fclose(f);
			return 1;
		}
		fclose(f);
		L.certdir = strdup(a[10]);
		if (L.certdir == NULL ||
		    (slash = strrchr(L.certdir, '/')) == NULL)
			return 1;
		*slash = '\0';
		L.password = NULL;
	}
	if (n < 1 || n > 256 || L.max < 1)
		return 2;
	L.cap = (size_t)L.max;
	if ((L.lat = calloc(L.cap, sizeof(double))) == NULL)
		return 1;
	pthread_mutex_init(&L.mu, NULL);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	t0 = now_ms();
	L.deadline = t0 + atof(a[6]) * 1e3;
	for (i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, load_thread, &L) != 0)
			return 1;
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	el = (now_ms() - t0) / 1e3;
	qsort(L.lat, L.nlat, sizeof(double), cmp_double);
	printf("load %s: %d clients, %ld ok, %ld errors in %.2f s: "
	    "%.1f/s, latency p50 %.2f ms, p99 %.2f ms\n", a[4], n, L.ok,
	    L.errors, el, (double)L.ok / el, pct(L.lat, L.nlat, 0.5),
	    pct(L.lat, L.nlat, 0.99));
	if (L.first_error[0] != '\0')
		printf("  first error: %s\n", L.first_error);
	curl_global_cleanup();
	EVP_PKEY_free(L.card_key);
	free((char *)(uintptr_t)L.certdir);
	free(L.lat);
	return L.ok > 0 && L.errors == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	if (argc == 6 && strcmp(argv[1], "p11") == 0)
		return bench_p11(argv[2], argv[3], argv[4], atol(argv[5]), 0);
	if (argc == 6 && strcmp(argv[1], "p11s") == 0)
		return bench_p11(argv[2], argv[3], argv[4], atol(argv[5]), 1);
	if (argc == 3 && strcmp(argv[1], "u2fkey") == 0)
		return bench_u2fkey(argv[2]);
	if (argc >= 10 && strcmp(argv[1], "load") == 0)
		return bench_load(argv + 2, argc - 2);
	fprintf(stderr, "usage: bench_login p11|p11s MODULE LABEL PIN N\n"
	    "       bench_login u2fkey ENROL.json\n"
	    "       bench_login load URL CERT KEY CA health|password|card "
	    "CLIENTS SECONDS MAX [PREFIX USERS PASSWORD|KEYFILE]\n"
	    "(driven by bench/bench_login.sh)\n");
	return 2;
}
