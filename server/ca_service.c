/*
 * The CA in kagid (docs/CA.md "In kagid"): keys in the HSM token named by
 * kagi.conf, certificates in <config dir>/ca/, records in the store.
 *
 * - Start: the PIN file must be mode 0600 and owned by kagid's user
 *   (hsm_pin_read), else kagid refuses to start; the token, the three keys
 *   (root, issuing, OCSP signer) and the certificates must all be there and
 *   match, else it refuses too (fail closed, R-KEY-2).
 * - CRLs: a new one for each CA at start, after every change of a
 *   certificate's state (kagid_ca_changed) and on a timer before half of its
 *   lifetime has passed.  The CRL number lives in meta and is incremented in
 *   the same transaction as the "crl.publish" audit record; the file is
 *   replaced atomically and the DER is served from memory.
 * - OCSP: the responder answers from the store through the cache; any state
 *   change flushes the cache (R-CARD-4: a hold is immediate).  The OCSP
 *   signer certificate is renewed (same HSM key) when less than a third of
 *   its validity remains; audited as "ca.ocsp_renew".
 * Requirements: R-SIGN-3, R-SIGN-5, R-KEY-1, R-KEY-2, R-CARD-4, R-LOG-1.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "kagi/ca.h"
#include "kagi/conf.h"
#include "kagi/file.h"
#include "kagi/hsm.h"
#include "kagi/i18n.h"
#include "kagi/json.h"
#include "kagi/log.h"
#include "kagi/secmem.h"
#include "kagi/store.h"
#include "kagi/util.h"
#include "ca_service.h"
#include "server_int.h"

#define LABEL_ROOT "kagi-root-ca"
#define LABEL_ISSUING "kagi-issuing-ca"
#define LABEL_OCSP "kagi-ocsp"
#define ROOT_DAYS (20 * 365 + 5)
#define ISSUING_DAYS (10 * 365 + 2)
#define OCSP_CACHE_MAX 200000u
#define CERT_FILE_MAX (64u * 1024u)

static const char *const crl_meta[2] = { "crl_number.issuing",
	"crl_number.root" };
static const char *const crl_names[2] = { "issuing", "root" };

static void refuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void
refuse(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kagid: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

/* ---- small helpers ---- */

void
kagid_serial_hex(const uint8_t *s, size_t len,
    char out[2 * STORE_SERIAL_MAX + 1])
{
	static const char hx[] = "0123456789ABCDEF";
	size_t i;

	if (len > STORE_SERIAL_MAX)
		len = STORE_SERIAL_MAX;
	for (i = 0; i < len; i++) {
		out[2 * i] = hx[s[i] >> 4];
		out[2 * i + 1] = hx[s[i] & 0xf];
	}
	out[2 * i] = '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Hex (upper or lower case, optional ':' between octets) to the minimal
 * positive INTEGER octets.  KAGI_ERR_INVALID for anything else.
 */
int
kagid_serial_parse(const char *hex, uint8_t out[STORE_SERIAL_MAX],
    size_t *len)
{
	char digits[2 * STORE_SERIAL_MAX + 4];
	uint8_t tmp[STORE_SERIAL_MAX + 2];
	size_t nd = 0, nb, i, off = 0;

	*len = 0;
	if (hex == NULL)
		return KAGI_ERR_INVALID;
	for (const char *p = hex; *p != '\0'; p++) {
		if (*p == ':')
			continue;
		if (hexval(*p) < 0 || nd >= sizeof(digits) - 1)
			return KAGI_ERR_INVALID;
		digits[nd++] = *p;
	}
	if (nd == 0)
		return KAGI_ERR_INVALID;
	/* odd: a leading zero nibble */
	nb = (nd + 1) / 2;
	if (nb > sizeof(tmp))
		return KAGI_ERR_INVALID;
	for (i = 0; i < nb; i++) {
		int hi, lo;
		size_t j = 2 * i - (nd % 2);
		hi = (nd % 2 && i == 0) ? 0 : hexval(digits[j]);
		lo = hexval(digits[(nd % 2 && i == 0) ? 0 : j + 1]);
		tmp[i] = (uint8_t)(hi << 4 | lo);
	}
	/* strip superfluous leading zeros, keep one if the next has bit 7 */
	while (off + 1 < nb && tmp[off] == 0 && (tmp[off + 1] & 0x80) == 0)
		off++;
	if (nb - off == 1 && tmp[off] == 0)
		return KAGI_ERR_INVALID; /* zero is not a serial */
	if (tmp[off] & 0x80)
		return KAGI_ERR_INVALID; /* negative */
	if (nb - off > STORE_SERIAL_MAX)
		return KAGI_ERR_INVALID;
	memcpy(out, tmp + off, nb - off);
	*len = nb - off;
	return 0;
}

int
kagid_cert_sha256(X509 *x, char out[3 * 32])
{
	unsigned char md[32];
	unsigned int n = 0;
	static const char hx[] = "0123456789ABCDEF";

	out[0] = '\0';
	if (x == NULL || X509_digest(x, EVP_sha256(), md, &n) != 1 || n != 32)
		return KAGI_ERR_INTERNAL;
	for (unsigned i = 0; i < 32; i++) {
		out[3 * i] = hx[md[i] >> 4];
		out[3 * i + 1] = hx[md[i] & 0xf];
		out[3 * i + 2] = i + 1 < 32 ? ':' : '\0';
	}
	return 0;
}

static const char *
state_name(uint8_t st)
{
	switch (st) {
	case STORE_CERT_ACTIVE: return "active";
	case STORE_CERT_HOLD: return "hold";
	case STORE_CERT_REVOKED: return "revoked";
	}
	return "?";
}

static void
set_time(json_t *o, const char *key, int64_t t)
{
	char buf[64];

	if (t != 0 && kagi_time_format_utc(t, buf, sizeof(buf)) == 0)
		json_object_set_new(o, key, json_string(buf));
}

static char *
der_to_pem(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	BIO *b = NULL;
	char *s = NULL, *data = NULL;
	long n;

	if (x == NULL)
		return NULL;
	if ((b = BIO_new(BIO_s_mem())) != NULL && PEM_write_bio_X509(b, x) == 1 &&
	    (n = BIO_get_mem_data(b, &data)) > 0 &&
	    (s = malloc((size_t)n + 1)) != NULL) {
		memcpy(s, data, (size_t)n);
		s[n] = '\0';
	}
	BIO_free(b);
	X509_free(x);
	return s;
}

json_t *
kagid_cert_json(const struct store_cert *c, int with_pem)
{
	char hex[2 * STORE_SERIAL_MAX + 1];
	json_t *o;

	kagid_serial_hex(c->serial, c->serial_len, hex);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "serial", hex,
	    "profile", c->profile, "holder", c->holder, "subject", c->subject,
	    "state", state_name(c->state));
	if (o == NULL)
		return NULL;
	if (c->state != STORE_CERT_ACTIVE) {
		const char *rn = ca_reason_name(c->reason);
		json_object_set_new(o, "reason", json_string(rn ? rn : "?"));
		set_time(o, "revoked_at", c->revoked_at);
	}
	set_time(o, "not_before", c->not_before);
	set_time(o, "not_after", c->not_after);
	set_time(o, "issued_at", c->issued_at);
	if (with_pem) {
		char *pem = der_to_pem(c->der, c->der_len);
		if (pem != NULL)
			json_object_set_new(o, "pem", json_string(pem));
		free(pem);
	}
	return o;
}

static int64_t
asn1_to_epoch(const ASN1_TIME *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

static int
subject_text(X509 *x, char **out)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data = NULL;
	long n;
	int r = KAGI_ERR_NOMEM;

	*out = NULL;
	if (b == NULL)
		return r;
	if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
	    XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0 &&
	    (n = BIO_get_mem_data(b, &data)) >= 0 &&
	    (*out = strndup(data != NULL ? data : "", (size_t)n)) != NULL)
		r = 0;
	BIO_free(b);
	return r;
}

/* A store record for a freshly issued certificate. */
static int
record_from_x509(X509 *x, const char *profile, const char *holder,
    int64_t now, struct store_cert *c)
{
	const ASN1_INTEGER *ai = X509_get0_serialNumber(x);
	unsigned char *der = NULL;
	int n;
	int r = KAGI_ERR_INTERNAL;

	memset(c, 0, sizeof(*c));
	if (ai == NULL || ai->length < 1 || ai->length > STORE_SERIAL_MAX ||
	    (ai->type & V_ASN1_NEG))
		return KAGI_ERR_INVALID;
	memcpy(c->serial, ai->data, (size_t)ai->length);
	c->serial_len = (size_t)ai->length;
	if ((c->profile = strdup(profile)) == NULL ||
	    (c->holder = strdup(holder != NULL ? holder : "")) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto fail;
	}
	if ((r = subject_text(x, &c->subject)) != 0)
		goto fail;
	/* the subject text is for display; keep it within the record cap */
	if (strlen(c->subject) > 1000)
		c->subject[1000] = '\0';
	c->state = STORE_CERT_ACTIVE;
	c->not_before = asn1_to_epoch(X509_get0_notBefore(x));
	c->not_after = asn1_to_epoch(X509_get0_notAfter(x));
	c->issued_at = now;
	if ((n = i2d_X509(x, &der)) <= 0) {
		r = KAGI_ERR_INTERNAL;
		goto fail;
	}
	if ((c->der = malloc((size_t)n)) == NULL) {
		OPENSSL_free(der);
		r = KAGI_ERR_NOMEM;
		goto fail;
	}
	memcpy(c->der, der, (size_t)n);
	c->der_len = (size_t)n;
	OPENSSL_free(der);
	return 0;
fail:
	store_cert_clear(c);
	return r;
}

static int64_t
conf_duration(const char *v, int64_t def)
{
	int64_t d = 0;

	if (v != NULL && kagi_duration_parse(v, &d) == 0 && d > 0)
		return d;
	return def;
}

static int
key_type_of(const struct kagi_conf *c, enum hsm_key_type *t)
{
	const char *v = c->ca_key_type != NULL ? c->ca_key_type : "p256";

	if (strcmp(v, "p256") == 0)
		*t = HSM_KEY_EC_P256;
	else if (strcmp(v, "p384") == 0)
		*t = HSM_KEY_EC_P384;
	else if (strcmp(v, "rsa3072") == 0)
		*t = HSM_KEY_RSA_3072;
	else
		return KAGI_ERR_INVALID;
	return 0;
}

static char *
base_url(const struct kagi_conf *c)
{
	char *s = NULL;
	size_t n;

	if (c->ca_base_url != NULL)
		s = strdup(c->ca_base_url);
	else if (asprintf(&s, "http://%s", c->http_listen != NULL ?
	    c->http_listen : "127.0.0.1") < 0)
		s = NULL;
	if (s != NULL && (n = strlen(s)) > 0 && s[n - 1] == '/')
		s[n - 1] = '\0';
	return s;
}

static char *
url_join(const char *base, const char *path)
{
	char *s = NULL;

	if (asprintf(&s, "%s%s", base, path) < 0)
		return NULL;
	return s;
}

static const char *
org_of(const struct kagi_conf *c)
{
	return c->ca_org != NULL ? c->ca_org : "kagi";
}

static int
cert_write_file(const char *path, X509 *x, int replace)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data = NULL;
	long n;
	int r = KAGI_ERR_INTERNAL;

	if (b == NULL)
		return KAGI_ERR_NOMEM;
	if (PEM_write_bio_X509(b, x) == 1 &&
	    (n = BIO_get_mem_data(b, &data)) > 0)
		r = replace ? kagi_file_write_atomic(path, data, (size_t)n,
		    0644) : kagi_file_write_new(path, data, (size_t)n, 0644);
	BIO_free(b);
	return r;
}

static int
cert_read_file(const char *path, X509 **out)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	BIO *b = NULL;
	int r;

	*out = NULL;
	if ((r = kagi_file_read(path, CERT_FILE_MAX, KAGI_FILE_CONFIG, &buf,
	    &len)) != 0)
		return r;
	if ((b = BIO_new_mem_buf(buf, (int)len)) == NULL ||
	    (*out = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL)
		r = KAGI_ERR_FORMAT;
	BIO_free(b);
	free(buf);
	return r;
}

/* ---- CRL ---- */

static ASN1_INTEGER *
ca_serial_asn1(const uint8_t *s, size_t n)
{
	BIGNUM *bn = BN_bin2bn(s, (int)n, NULL);
	ASN1_INTEGER *ai = bn != NULL ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;

	BN_free(bn);
	return ai;
}

struct crl_collect {
	int for_root;
	struct {
		uint8_t serial[STORE_SERIAL_MAX];
		size_t len;
		int64_t at;
		int reason;
	} *v;
	size_t n, cap;
	int err;
};

static int
crl_collect_cb(const struct store_cert *c, void *arg)
{
	struct crl_collect *x = arg;
	int is_ca = strcmp(c->profile, "issuing-ca") == 0;

	if (c->state == STORE_CERT_ACTIVE || strcmp(c->profile, "root") == 0)
		return 0;
	if (is_ca != (x->for_root != 0))
		return 0;
	if (x->n == x->cap) {
		size_t nc = x->cap ? x->cap * 2 : 1024;
		void *nv = realloc(x->v, nc * sizeof(*x->v));
		if (nv == NULL) {
			x->err = KAGI_ERR_NOMEM;
			return KAGI_ERR_NOMEM;
		}
		x->v = nv;
		x->cap = nc;
	}
	memcpy(x->v[x->n].serial, c->serial, c->serial_len);
	x->v[x->n].len = c->serial_len;
	x->v[x->n].at = c->revoked_at;
	x->v[x->n].reason = c->state == STORE_CERT_HOLD ?
	    CA_REASON_CERTIFICATE_HOLD : c->reason;
	x->n++;
	return 0;
}

int
kagid_ca_crl_der(struct store_txn *t, const struct ca_issuer *iss,
    int for_root, uint64_t number, int64_t this_update, int64_t next_update,
    uint8_t **der, size_t *len, size_t *entries)
{
	struct crl_collect x;
	struct ca_crl_entry *e = NULL;
	X509_CRL *crl = NULL;
	unsigned char *p = NULL;
	int n, r = KAGI_ERR_INTERNAL;

	*der = NULL;
	*len = 0;
	if (entries != NULL)
		*entries = 0;
	memset(&x, 0, sizeof(x));
	x.for_root = for_root;
	if ((r = store_cert_iter(t, crl_collect_cb, &x)) != 0)
		goto out;
	if (x.n > 0 && (e = calloc(x.n, sizeof(*e))) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < x.n; i++) {
		e[i].serial = x.v[i].serial;
		e[i].serial_len = x.v[i].len;
		e[i].revoked_at = x.v[i].at;
		e[i].reason = x.v[i].reason;
	}
	if ((r = ca_crl_build(iss, e, x.n, number, this_update, next_update,
	    &crl)) != 0)
		goto out;
	if ((n = i2d_X509_CRL(crl, &p)) <= 0) {
		r = KAGI_ERR_INTERNAL;
		goto out;
	}
	if ((*der = malloc((size_t)n)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	memcpy(*der, p, (size_t)n);
	*len = (size_t)n;
	if (entries != NULL)
		*entries = x.n;
	r = 0;
out:
	OPENSSL_free(p);
	X509_CRL_free(crl);
	free(e);
	free(x.v);
	return r;
}

int
kagid_ca_publish(struct kagid_ca *ca, enum kagid_ca_which which, int64_t now)
{
	struct store_txn *t = NULL;
	uint64_t num = 0;
	uint8_t *der = NULL;
	size_t len = 0, entries = 0;
	char detail[160], path[4096];
	int64_t next = now + ca->crl_lifetime;
	int r;

	if ((r = store_txn_begin(ca->k->store, 1, &t)) != 0)
		goto out;
	r = store_meta_u64_get(t, crl_meta[which], &num);
	if (r == KAGI_ERR_NOT_FOUND)
		r = 0;
	if (r != 0)
		goto out;
	num++;
	if ((r = kagid_ca_crl_der(t, which == KAGID_CA_ROOT ? ca->root_iss :
	    ca->iss, which == KAGID_CA_ROOT, num, now, next, &der, &len,
	    &entries)) != 0)
		goto out;
	snprintf(detail, sizeof(detail),
	    "{\"ca\":\"%s\",\"entries\":%zu,\"number\":%llu}",
	    crl_names[which], entries, (unsigned long long)num);
	if ((r = store_meta_u64_put(t, crl_meta[which], num)) != 0 ||
	    (r = store_audit_append(t, now, "kagid", "crl.publish",
	    crl_names[which], "ok", detail, NULL)) != 0)
		goto out;
	r = store_txn_commit(t);
	t = NULL;
	if (r != 0)
		goto out;
	free(ca->crl[which].der);
	ca->crl[which].der = der;
	ca->crl[which].len = len;
	ca->crl[which].number = num;
	ca->crl[which].this_update = now;
	ca->crl[which].next_update = next;
	ca->crl[which].entries = entries;
	der = NULL;
	snprintf(path, sizeof(path), "%s/%s.crl", ca->crl_dir,
	    crl_names[which]);
	if (kagi_file_write_atomic(path, ca->crl[which].der,
	    ca->crl[which].len, 0644) != 0)
		kagi_log_err("event=crl_write_failed path=%s", path);
	kagi_log_info("event=crl.publish ca=%s number=%llu entries=%zu",
	    crl_names[which], (unsigned long long)num, entries);
out:
	store_txn_abort(t);
	free(der);
	if (r != 0)
		kagi_log_err("event=crl_publish_failed ca=%s err=%s",
		    crl_names[which], kagi_err_name(r));
	return r;
}

/*
 * At start: keep the CRL file in crl_dir if it is ours (signature), carries
 * the CRL number in meta, lists exactly the hold/revoked certificates of
 * the store (a kill -9 between a commit and the publish leaves it behind)
 * and has more than half of its lifetime left.  Else the caller publishes.
 */
static int
crl_reuse(struct kagid_ca *ca, enum kagid_ca_which which, int64_t now)
{
	struct store_txn *t = NULL;
	struct crl_collect x;
	uint8_t *buf = NULL;
	size_t len = 0;
	const unsigned char *p;
	X509_CRL *crl = NULL;
	ASN1_INTEGER *num = NULL;
	EVP_PKEY *pub;
	uint64_t want = 0, got;
	int64_t tu, nu;
	char path[4096];
	int ok = 0;

	memset(&x, 0, sizeof(x));
	x.for_root = which == KAGID_CA_ROOT;
	snprintf(path, sizeof(path), "%s/%s.crl", ca->crl_dir,
	    crl_names[which]);
	if (kagi_file_read(path, 64u * 1024u * 1024u, KAGI_FILE_CONFIG, &buf,
	    &len) != 0)
		goto out;
	p = buf;
	if ((crl = d2i_X509_CRL(NULL, &p, (long)len)) == NULL ||
	    p != buf + len)
		goto out;
	pub = X509_get0_pubkey(which == KAGID_CA_ROOT ? ca->root : ca->issuing);
	if (X509_CRL_verify(crl, pub) != 1)
		goto out;
	if ((num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL)) ==
	    NULL || ASN1_INTEGER_get_uint64(&got, num) != 1)
		goto out;
	tu = asn1_to_epoch(X509_CRL_get0_lastUpdate(crl));
	nu = asn1_to_epoch(X509_CRL_get0_nextUpdate(crl));
	if (nu <= tu || now >= tu + (nu - tu) / 2)
		goto out;
	if (store_txn_begin(ca->k->store, 0, &t) != 0 ||
	    store_meta_u64_get(t, crl_meta[which], &want) != 0 || want != got ||
	    store_cert_iter(t, crl_collect_cb, &x) != 0 || x.err != 0)
		goto out;
	{
		/* no entries: the list is absent (NULL), not empty */
		STACK_OF(X509_REVOKED) *rl = X509_CRL_get_REVOKED(crl);
		size_t have = rl != NULL ? (size_t)sk_X509_REVOKED_num(rl) : 0;
		if (have != x.n)
			goto out;
	}
	for (size_t i = 0; i < x.n; i++) {
		X509_REVOKED *rv = NULL;
		ASN1_INTEGER *ai = ca_serial_asn1(x.v[i].serial, x.v[i].len);
		int found = ai != NULL &&
		    X509_CRL_get0_by_serial(crl, &rv, ai) == 1;
		int reason = -1;
		ASN1_ENUMERATED *re;

		ASN1_INTEGER_free(ai);
		if (!found)
			goto out;
		re = X509_REVOKED_get_ext_d2i(rv, NID_crl_reason, NULL, NULL);
		reason = re != NULL ? (int)ASN1_ENUMERATED_get(re) : 0;
		ASN1_ENUMERATED_free(re);
		if (reason != x.v[i].reason)
			goto out;
	}
	free(ca->crl[which].der);
	ca->crl[which].der = buf;
	ca->crl[which].len = len;
	ca->crl[which].number = got;
	ca->crl[which].this_update = tu;
	ca->crl[which].next_update = nu;
	ca->crl[which].entries = x.n;
	buf = NULL;
	ok = 1;
	kagi_log_info("event=crl_reused ca=%s number=%llu entries=%zu",
	    crl_names[which], (unsigned long long)got, x.n);
out:
	store_txn_abort(t);
	ASN1_INTEGER_free(num);
	X509_CRL_free(crl);
	free(buf);
	free(x.v);
	return ok;
}

/* ---- OCSP signer ---- */

static int
responder_build(struct kagid_ca *ca)
{
	struct ca_ocsp_responder *rsp = NULL;
	int r;

	if ((r = ca_ocsp_responder_new(ca->issuing, ca->ocsp, ca->ocsp_signer,
	    ca->ocsp_validity, &rsp)) != 0)
		return r;
	ca_ocsp_responder_free(ca->resp);
	ca->resp = rsp;
	ca_ocsp_cache_clear(ca->cache);
	return 0;
}

/* Renew the OCSP signer certificate when < 1/3 of its validity remains. */
static int
ocsp_renew_if_due(struct kagid_ca *ca, int64_t now)
{
	struct ca_request rq;
	struct store_cert rec;
	struct store_txn *t = NULL;
	EVP_PKEY *pub = NULL;
	X509 *x = NULL;
	int64_t nb = asn1_to_epoch(X509_get0_notBefore(ca->ocsp));
	int64_t na = asn1_to_epoch(X509_get0_notAfter(ca->ocsp));
	char path[4096], hex[2 * STORE_SERIAL_MAX + 1], detail[128];
	int r;

	memset(&rec, 0, sizeof(rec));
	if (na - now > (na - nb) / 3)
		return 0;
	memset(&rq, 0, sizeof(rq));
	if ((r = hsm_key_public(ca->ocsp_k, &pub)) != 0)
		goto out;
	rq.profile = CA_PROFILE_OCSP;
	rq.pubkey = pub;
	rq.org = ca->org;
	rq.name = "kagi OCSP Responder";
	rq.not_before = now - 60;
	rq.not_after = now + ca->validity[CA_PROFILE_OCSP];
	{
		int64_t ina = asn1_to_epoch(X509_get0_notAfter(ca->issuing));
		if (rq.not_after > ina)
			rq.not_after = ina;
	}
	if ((r = ca_cert_issue(ca->iss, &rq, &x)) != 0 ||
	    (r = record_from_x509(x, "ocsp", "", now, &rec)) != 0)
		goto out;
	kagid_serial_hex(rec.serial, rec.serial_len, hex);
	snprintf(detail, sizeof(detail), "{\"serial\":\"%s\"}", hex);
	if ((r = store_txn_begin(ca->k->store, 1, &t)) != 0 ||
	    (r = store_cert_add(t, &rec)) != 0 ||
	    (r = store_audit_append(t, now, "kagid", "ca.ocsp_renew", hex,
	    "ok", detail, NULL)) != 0)
		goto out;
	r = store_txn_commit(t);
	t = NULL;
	if (r != 0)
		goto out;
	snprintf(path, sizeof(path), "%s/ocsp.crt", ca->ca_dir);
	if (cert_write_file(path, x, 1) != 0)
		kagi_log_err("event=ocsp_cert_write_failed path=%s", path);
	X509_free(ca->ocsp);
	ca->ocsp = x;
	x = NULL;
	if ((r = responder_build(ca)) != 0)
		goto out;
	kagi_log_info("event=ca.ocsp_renew serial=%s", hex);
out:
	store_txn_abort(t);
	store_cert_clear(&rec);
	X509_free(x);
	EVP_PKEY_free(pub);
	if (r != 0)
		kagi_log_err("event=ocsp_renew_failed err=%s", kagi_err_name(r));
	return r;
}

/* ---- timer ---- */

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct kagid_ca *ca = arg;
	int64_t now = kagi_now();

	(void)fd;
	(void)what;
	for (int w = 0; w < 2; w++) {
		const struct kagid_ca_crl *c = &ca->crl[w];
		/* renew when half of the lifetime has passed */
		if (c->der == NULL || ca->crl_dirty || now >= c->this_update +
		    (c->next_update - c->this_update) / 2)
			if (kagid_ca_publish(ca, (enum kagid_ca_which)w,
			    now) != 0)
				kagi_log_warn("event=crl_retry_later");
	}
	ca->crl_dirty = 0;
	(void)ocsp_renew_if_due(ca, now);
}

/* ---- revocation (shared with the HR helper) ---- */

int
kagid_ca_revoke_txn(struct kagid *k, struct store_txn *t,
    const uint8_t *serial, size_t serial_len, int reason, int64_t now,
    const char *actor)
{
	struct store_cert c;
	char hex[2 * STORE_SERIAL_MAX + 1], detail[512];
	const char *rn = ca_reason_name(reason);
	int r, hold = reason == CA_REASON_CERTIFICATE_HOLD;

	(void)k;
	memset(&c, 0, sizeof(c));
	if (t == NULL || serial == NULL || rn == NULL ||
	    reason == CA_REASON_REMOVE_FROM_CRL)
		return KAGI_ERR_INVALID;
	if ((r = store_cert_get(t, serial, serial_len, &c)) != 0)
		goto out;
	if (strcmp(c.profile, "root") == 0 ||
	    strcmp(c.profile, "issuing-ca") == 0) {
		r = KAGI_ERR_DENIED;
		goto out;
	}
	if (c.state == STORE_CERT_REVOKED ||
	    (c.state == STORE_CERT_HOLD && hold)) {
		r = KAGI_ERR_REVOKED;
		goto out;
	}
	c.state = hold ? STORE_CERT_HOLD : STORE_CERT_REVOKED;
	c.reason = (uint8_t)reason;
	c.revoked_at = now;
	kagid_serial_hex(c.serial, c.serial_len, hex);
	{
		json_t *d = json_pack("{s:s, s:s, s:s}", "reason", rn,
		    "profile", c.profile, "holder", c.holder);
		char *s = d != NULL ? kagi_json_dump(d) : NULL;
		json_decref(d);
		if (s == NULL) {
			r = KAGI_ERR_NOMEM;
			goto out;
		}
		snprintf(detail, sizeof(detail), "%s", s);
		free(s);
	}
	if ((r = store_cert_put(t, &c)) != 0 ||
	    (r = store_audit_append(t, now, actor != NULL ? actor : "kagid",
	    hold ? "ca.hold" : "ca.revoke", hex, "ok", detail, NULL)) != 0)
		goto out;
	kagi_log_info("event=%s serial=%s reason=%s", hold ? "ca.hold" :
	    "ca.revoke", hex, rn);
	r = 0;
out:
	store_cert_clear(&c);
	return r;
}

void
kagid_ca_changed(struct kagid *k)
{
	struct kagid_ca *ca = k != NULL ? k->ca : NULL;

	if (ca == NULL)
		return;
	/* the cache re-checks status on every hit; flushing is belt and braces */
	ca_ocsp_cache_clear(ca->cache);
	if (kagid_ca_publish(ca, KAGID_CA_ISSUING, kagi_now()) != 0) {
		kagi_log_warn("event=crl_retry_later (the timer tries again)");
		ca->crl_dirty = 1;
	}
}

/* ---- start and stop ---- */

static int
load_paths(struct kagid_ca *ca, const struct kagi_conf *c)
{
	if ((ca->ca_dir = kagi_path_join(c->dir, "ca")) == NULL)
		return KAGI_ERR_NOMEM;
	ca->crl_dir = c->ca_crl_dir != NULL ? strdup(c->ca_crl_dir) :
	    kagi_path_join(c->dir, "crl");
	if (ca->crl_dir == NULL || (ca->base_url = base_url(c)) == NULL)
		return KAGI_ERR_NOMEM;
	ca->org = org_of(c);
	ca->upn_suffix = c->ca_upn_suffix != NULL ? c->ca_upn_suffix :
	    "kagi.local";
	ca->validity[CA_PROFILE_STAFF_LOGON] = conf_duration(
	    c->ca_validity_staff_logon, 5 * 365 * 86400LL);
	ca->validity[CA_PROFILE_TERMINAL] = conf_duration(
	    c->ca_validity_terminal, 365 * 86400LL);
	ca->validity[CA_PROFILE_SERVER] = conf_duration(c->ca_validity_server,
	    397 * 86400LL);
	ca->validity[CA_PROFILE_OCSP] = conf_duration(c->ca_validity_ocsp,
	    30 * 86400LL);
	ca->crl_lifetime = conf_duration(c->ca_crl_next_update, 86400);
	ca->ocsp_validity = conf_duration(c->ca_ocsp_validity, 4 * 3600);
	return 0;
}

static int
der_of(X509 *x, uint8_t **der, size_t *len)
{
	unsigned char *p = NULL;
	int n = i2d_X509(x, &p);

	*der = NULL;
	*len = 0;
	if (n <= 0)
		return KAGI_ERR_INTERNAL;
	if ((*der = malloc((size_t)n)) == NULL) {
		OPENSSL_free(p);
		return KAGI_ERR_NOMEM;
	}
	memcpy(*der, p, (size_t)n);
	*len = (size_t)n;
	OPENSSL_free(p);
	return 0;
}

/* The HSM key under label whose public key is that of cert x. */
static int
find_key(struct kagid_ca *ca, const char *label, X509 *x,
    struct hsm_key **k, EVP_PKEY **signer)
{
	EVP_PKEY *pub = NULL;
	int r;

	if ((r = hsm_key_find(ca->s, label, k)) != 0) {
		if (r == KAGI_ERR_NOT_FOUND)
			refuse(_("the key \"%s\" is not in the HSM token \"%s\""),
			    label, ca->k->conf->hsm_token_label);
		else
			refuse(_("cannot use the key \"%s\" in the HSM: %s"),
			    label, kagi_strerror(r));
		return r;
	}
	if ((r = hsm_key_public(*k, &pub)) != 0)
		return r;
	if (EVP_PKEY_eq(pub, X509_get0_pubkey(x)) != 1) {
		EVP_PKEY_free(pub);
		refuse(_("the key \"%s\" in the HSM does not match its "
		    "certificate in %s"), label, ca->ca_dir);
		return KAGI_ERR_INVALID;
	}
	EVP_PKEY_free(pub);
	if ((r = ca_signer_from_hsm(*k, signer)) != 0)
		refuse(_("cannot use the key \"%s\" in the HSM: %s"), label,
		    kagi_strerror(r));
	return r;
}

static void
ca_free(struct kagid_ca *ca)
{
	if (ca == NULL)
		return;
	if (ca->timer != NULL)
		event_free(ca->timer);
	for (int i = 0; i < 2; i++)
		free(ca->crl[i].der);
	ca_ocsp_responder_free(ca->resp);
	ca_ocsp_cache_free(ca->cache);
	ca_issuer_free(ca->iss);
	ca_issuer_free(ca->root_iss);
	EVP_PKEY_free(ca->root_signer);
	EVP_PKEY_free(ca->iss_signer);
	EVP_PKEY_free(ca->ocsp_signer);
	X509_free(ca->root);
	X509_free(ca->issuing);
	X509_free(ca->ocsp);
	free(ca->root_der);
	free(ca->iss_der);
	hsm_key_free(ca->root_k);
	hsm_key_free(ca->iss_k);
	hsm_key_free(ca->ocsp_k);
	hsm_session_close(ca->s);
	hsm_close(ca->h);
	free(ca->ca_dir);
	free(ca->crl_dir);
	free(ca->base_url);
	free(ca);
}

int
kagid_ca_open(struct kagid *k)
{
	const struct kagi_conf *c = k->conf;
	struct kagid_ca *ca = NULL;
	char *pin_path = NULL, *shc = NULL, *pin = NULL;
	char *u1 = NULL, *u2 = NULL, *u3 = NULL, *u4 = NULL;
	char path[4096];
	struct timeval tv;
	int r = KAGI_ERR_INTERNAL;

	if ((ca = calloc(1, sizeof(*ca))) == NULL)
		return KAGI_ERR_NOMEM;
	ca->k = k;
	if ((r = load_paths(ca, c)) != 0)
		goto out;
	if (c->hsm_module == NULL || c->hsm_pin_file == NULL ||
	    c->hsm_token_label == NULL) {
		refuse(_("%s: [hsm] module, token_label and pin_file must be "
		    "set for the CA"), c->path);
		r = KAGI_ERR_INVALID;
		goto out;
	}
	/* certificates first: no CA here means no --init was run */
	snprintf(path, sizeof(path), "%s/root.crt", ca->ca_dir);
	if ((r = cert_read_file(path, &ca->root)) == 0) {
		snprintf(path, sizeof(path), "%s/issuing.crt", ca->ca_dir);
		r = cert_read_file(path, &ca->issuing);
	}
	if (r == 0) {
		snprintf(path, sizeof(path), "%s/ocsp.crt", ca->ca_dir);
		r = cert_read_file(path, &ca->ocsp);
	}
	if (r != 0) {
		if (r == KAGI_ERR_NOT_FOUND)
			refuse(_("%s: no CA certificate here; run 'kagid "
			    "--init' first"), path);
		else
			refuse(_("%s: cannot read the CA certificate: %s"),
			    path, kagi_strerror(r));
		goto out;
	}
	if ((pin_path = kagid_conf_path(c, c->hsm_pin_file)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if ((r = hsm_pin_read(pin_path, &pin)) != 0) {
		if (r == KAGI_ERR_PERM)
			refuse(_("%s: unsafe mode or owner: the HSM PIN file "
			    "must be owned by this user with mode 0600"),
			    pin_path);
		else if (r == KAGI_ERR_NOT_FOUND)
			refuse(_("%s: HSM PIN file not found"), pin_path);
		else
			refuse(_("%s: cannot read the HSM PIN file: %s"),
			    pin_path, kagi_strerror(r));
		goto out;
	}
	if (c->softhsm2_conf != NULL) {
		if ((shc = kagid_conf_path(c, c->softhsm2_conf)) == NULL ||
		    setenv("SOFTHSM2_CONF", shc, 1) != 0) {
			r = KAGI_ERR_NOMEM;
			goto out;
		}
	}
	if ((r = hsm_open(c->hsm_module, &ca->h)) != 0) {
		refuse(_("cannot load the PKCS#11 module %s"), c->hsm_module);
		goto out;
	}
	if ((r = hsm_session_open(ca->h, c->hsm_token_label, pin,
	    &ca->s)) != 0) {
		if (r == KAGI_ERR_NOT_FOUND)
			refuse(_("no HSM token labelled \"%s\" (module %s)"),
			    c->hsm_token_label, c->hsm_module);
		else if (r == KAGI_ERR_PIN)
			refuse(_("the HSM token \"%s\" refused the PIN in %s "
			    "(wrong PIN)"), c->hsm_token_label, pin_path);
		else if (r == KAGI_ERR_LOCKED)
			refuse(_("the PIN of the HSM token \"%s\" is blocked"),
			    c->hsm_token_label);
		else
			refuse(_("cannot log in to the HSM token \"%s\": %s"),
			    c->hsm_token_label, kagi_strerror(r));
		goto out;
	}
	if ((r = find_key(ca, LABEL_ROOT, ca->root, &ca->root_k,
	    &ca->root_signer)) != 0 ||
	    (r = find_key(ca, LABEL_ISSUING, ca->issuing, &ca->iss_k,
	    &ca->iss_signer)) != 0 ||
	    (r = find_key(ca, LABEL_OCSP, ca->ocsp, &ca->ocsp_k,
	    &ca->ocsp_signer)) != 0)
		goto out;
	if ((u1 = url_join(ca->base_url, "/crl/root.crl")) == NULL ||
	    (u2 = url_join(ca->base_url, "/crl/issuing.crl")) == NULL ||
	    (u3 = url_join(ca->base_url, "/ocsp")) == NULL ||
	    (u4 = url_join(ca->base_url, "/ca/issuing.crt")) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if ((r = ca_issuer_new(ca->root, ca->root_signer, u1, NULL, NULL,
	    &ca->root_iss)) != 0 ||
	    (r = ca_issuer_new(ca->issuing, ca->iss_signer, u2, u3, u4,
	    &ca->iss)) != 0 ||
	    (r = ca_ocsp_cache_new(OCSP_CACHE_MAX, &ca->cache)) != 0 ||
	    (r = der_of(ca->root, &ca->root_der, &ca->root_der_len)) != 0 ||
	    (r = der_of(ca->issuing, &ca->iss_der, &ca->iss_der_len)) != 0) {
		refuse(_("cannot set up the CA: %s"), kagi_strerror(r));
		goto out;
	}
	if ((r = responder_build(ca)) != 0) {
		refuse(_("cannot set up the OCSP responder with %s/ocsp.crt: "
		    "%s"), ca->ca_dir, kagi_strerror(r));
		goto out;
	}
	if ((r = kagi_mkdir_p(ca->crl_dir, 0755)) != 0) {
		refuse(_("cannot create the directory %s"), ca->crl_dir);
		goto out;
	}
	k->ca = ca;
	for (int w = 0; w < 2; w++) {
		if (crl_reuse(ca, (enum kagid_ca_which)w, kagi_now()))
			continue;
		if ((r = kagid_ca_publish(ca, (enum kagid_ca_which)w,
		    kagi_now())) != 0) {
			k->ca = NULL;
			refuse(_("cannot publish the CRLs: %s (see the log)"),
			    kagi_strerror(r));
			goto out;
		}
	}
	(void)ocsp_renew_if_due(ca, kagi_now());
	if (k->base != NULL) {
		int64_t iv = ca->crl_lifetime / 10;
		if (iv < 1)
			iv = 1;
		if (iv > 300)
			iv = 300;
		tv.tv_sec = (time_t)iv;
		tv.tv_usec = 0;
		if ((ca->timer = event_new(k->base, -1, EV_PERSIST, on_timer,
		    ca)) == NULL || event_add(ca->timer, &tv) != 0) {
			k->ca = NULL;
			r = KAGI_ERR_SYSTEM;
			goto out;
		}
	}
	kagi_log_info("event=ca_ready token=%s crl_dir=%s base_url=%s",
	    c->hsm_token_label, ca->crl_dir, ca->base_url);
	ca = NULL;
	r = 0;
out:
	if (pin != NULL)
		kagi_secure_strfree(pin);
	free(pin_path);
	free(shc);
	free(u1);
	free(u2);
	free(u3);
	free(u4);
	ca_free(ca);
	return r;
}

void
kagid_ca_close(struct kagid *k)
{
	if (k == NULL)
		return;
	ca_free(k->ca);
	k->ca = NULL;
}

/* ---- --init ---- */

struct kagid_ca_init {
	X509 *root, *issuing, *ocsp;
	char key_type[16];
	char root_fp[96];
	char iss_fp[96];
};

void
kagid_ca_init_free(struct kagid_ca_init *ci)
{
	if (ci == NULL)
		return;
	X509_free(ci->root);
	X509_free(ci->issuing);
	X509_free(ci->ocsp);
	free(ci);
}

const char *
kagid_ca_init_root_fp(const struct kagid_ca_init *ci)
{
	return ci != NULL ? ci->root_fp : "";
}

int
kagid_ca_init_precheck(const struct kagi_conf *c, char *err, size_t errlen)
{
	static const char *const names[] = { "root.crt", "issuing.crt",
		"ocsp.crt" };
	char path[4096];
	struct stat st;
	enum hsm_key_type kt;

	err[0] = '\0';
	if (key_type_of(c, &kt) != 0) {
		snprintf(err, errlen, "%s", _("[ca] key_type must be p256, "
		    "p384 or rsa3072"));
		return KAGI_ERR_INVALID;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/ca/%s", c->dir, names[i]);
		if (lstat(path, &st) == 0) {
			snprintf(err, errlen, _("%s already exists; refusing "
			    "to overwrite it (nothing was changed)"), path);
			return KAGI_ERR_EXISTS;
		}
	}
	return 0;
}

static void
init_step(int json, json_t *steps, const char *what, const char *path,
    const char *text)
{
	if (json) {
		json_array_append_new(steps, json_pack("{s:s, s:s}", "step",
		    what, "path", path));
		return;
	}
	printf("%s\n", text);
	fflush(stdout);
}

static int
gen_protected(struct hsm_session *s, const char *label, enum hsm_key_type t,
    struct hsm_key **k, EVP_PKEY **signer, EVP_PKEY **pub)
{
	int sens = 0, extr = 1, r;

	if ((r = hsm_key_generate(s, label, t, k)) != 0)
		return r;
	/* R-KEY-2: never a CA key that could leave the token */
	if ((r = hsm_key_is_protected(*k, &sens, &extr)) != 0)
		return r;
	if (!sens || extr) {
		kagi_log_err("event=ca_key_unprotected label=%s sensitive=%d "
		    "extractable=%d", label, sens, extr);
		return KAGI_ERR_HSM;
	}
	if ((r = ca_signer_from_hsm(*k, signer)) != 0 ||
	    (r = hsm_key_public(*k, pub)) != 0)
		return r;
	return 0;
}

int
kagid_ca_init_create(const struct kagi_conf *c, int64_t now, int json,
    json_t *steps, char *err, size_t errlen, struct kagid_ca_init **out)
{
	struct kagid_ca_init *ci = NULL;
	struct hsm *h = NULL;
	struct hsm_session *s = NULL;
	struct hsm_key *rk = NULL, *ik = NULL, *ok = NULL;
	EVP_PKEY *rs = NULL, *is = NULL, *os = NULL;
	EVP_PKEY *rp = NULL, *ip = NULL, *op = NULL;
	struct ca_issuer *self = NULL, *riss = NULL, *iiss = NULL;
	struct ca_request rq;
	enum hsm_key_type kt;
	char *pin_path = NULL, *pin = NULL, *dir = NULL, *burl = NULL;
	char *u1 = NULL, *u2 = NULL, *u3 = NULL, *u4 = NULL;
	char path[4096], text[4400];
	int r = KAGI_ERR_INTERNAL;

	*out = NULL;
	err[0] = '\0';
	if ((r = key_type_of(c, &kt)) != 0) {
		snprintf(err, errlen, "%s", _("[ca] key_type must be p256, "
		    "p384 or rsa3072"));
		goto out;
	}
	if ((ci = calloc(1, sizeof(*ci))) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	snprintf(ci->key_type, sizeof(ci->key_type), "%s",
	    c->ca_key_type != NULL ? c->ca_key_type : "p256");
	if (c->hsm_module == NULL || c->hsm_pin_file == NULL ||
	    (pin_path = kagid_conf_path(c, c->hsm_pin_file)) == NULL) {
		r = KAGI_ERR_INVALID;
		snprintf(err, errlen, "%s", _("the CA needs [hsm] module and "
		    "pin_file"));
		goto out;
	}
	if ((r = hsm_pin_read(pin_path, &pin)) != 0) {
		snprintf(err, errlen, _("%s: cannot read the HSM PIN file: %s"),
		    pin_path, kagi_strerror(r));
		goto out;
	}
	if ((r = hsm_open(c->hsm_module, &h)) != 0 ||
	    (r = hsm_session_open(h, c->hsm_token_label, pin, &s)) != 0) {
		snprintf(err, errlen, _("cannot log in to the HSM token "
		    "\"%s\": %s"), c->hsm_token_label, kagi_strerror(r));
		goto out;
	}
	if ((r = gen_protected(s, LABEL_ROOT, kt, &rk, &rs, &rp)) != 0 ||
	    (r = gen_protected(s, LABEL_ISSUING, kt, &ik, &is, &ip)) != 0 ||
	    (r = gen_protected(s, LABEL_OCSP, kt, &ok, &os, &op)) != 0) {
		snprintf(err, errlen, _("cannot generate the CA keys in the "
		    "HSM token \"%s\": %s"), c->hsm_token_label,
		    kagi_strerror(r));
		goto out;
	}
	snprintf(text, sizeof(text), _("Generated the root CA, issuing CA "
	    "and OCSP signer keys (%s) in the HSM token \"%s\" (sensitive, "
	    "not extractable)"), ci->key_type, c->hsm_token_label);
	init_step(json, steps, "ca_keys", c->hsm_token_label, text);

	if ((burl = base_url(c)) == NULL ||
	    (u1 = url_join(burl, "/crl/root.crl")) == NULL ||
	    (u2 = url_join(burl, "/crl/issuing.crl")) == NULL ||
	    (u3 = url_join(burl, "/ocsp")) == NULL ||
	    (u4 = url_join(burl, "/ca/issuing.crt")) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	memset(&rq, 0, sizeof(rq));
	rq.org = org_of(c);
	rq.not_before = now - 60;
	if ((r = ca_issuer_new(NULL, rs, NULL, NULL, NULL, &self)) != 0)
		goto out;
	rq.profile = CA_PROFILE_ROOT;
	rq.pubkey = rp;
	rq.name = "kagi Root CA";
	rq.not_after = now + ROOT_DAYS * 86400LL;
	if ((r = ca_cert_issue(self, &rq, &ci->root)) != 0)
		goto cert_fail;
	if ((r = ca_issuer_new(ci->root, rs, u1, NULL, NULL, &riss)) != 0)
		goto out;
	rq.profile = CA_PROFILE_ISSUING_CA;
	rq.pubkey = ip;
	rq.name = "kagi Issuing CA";
	rq.not_after = now + ISSUING_DAYS * 86400LL;
	if ((r = ca_cert_issue(riss, &rq, &ci->issuing)) != 0)
		goto cert_fail;
	if ((r = ca_issuer_new(ci->issuing, is, u2, u3, u4, &iiss)) != 0)
		goto out;
	rq.profile = CA_PROFILE_OCSP;
	rq.pubkey = op;
	rq.name = "kagi OCSP Responder";
	rq.not_after = now + conf_duration(c->ca_validity_ocsp, 30 * 86400LL);
	if ((r = ca_cert_issue(iiss, &rq, &ci->ocsp)) != 0)
		goto cert_fail;
	if ((r = kagid_cert_sha256(ci->root, ci->root_fp)) != 0 ||
	    (r = kagid_cert_sha256(ci->issuing, ci->iss_fp)) != 0)
		goto out;
	if ((dir = kagi_path_join(c->dir, "ca")) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if ((r = kagi_mkdir_p(dir, 0755)) != 0) {
		snprintf(err, errlen, _("cannot create the directory %s"), dir);
		goto out;
	}
	{
		X509 *xs[3] = { ci->root, ci->issuing, ci->ocsp };
		const char *nm[3] = { "root.crt", "issuing.crt", "ocsp.crt" };
		for (int i = 0; i < 3; i++) {
			snprintf(path, sizeof(path), "%s/%s", dir, nm[i]);
			if ((r = cert_write_file(path, xs[i], 0)) != 0) {
				snprintf(err, errlen, _("cannot write %s"),
				    path);
				goto out;
			}
		}
	}
	/* the first CRLs (number 1), so that kagid starts with them */
	{
		struct ca_issuer *iv[2] = { iiss, riss };
		int64_t life = conf_duration(c->ca_crl_next_update, 86400);
		char *cd = c->ca_crl_dir != NULL ? strdup(c->ca_crl_dir) :
		    kagi_path_join(c->dir, "crl");
		if (cd == NULL || (r = kagi_mkdir_p(cd, 0755)) != 0) {
			free(cd);
			r = r != 0 ? r : KAGI_ERR_NOMEM;
			goto out;
		}
		for (int w = 0; w < 2; w++) {
			X509_CRL *crl = NULL;
			unsigned char *der = NULL;
			int n = 0;
			if ((r = ca_crl_build(iv[w], NULL, 0, 1, now, now + life,
			    &crl)) != 0 || (n = i2d_X509_CRL(crl, &der)) <= 0) {
				X509_CRL_free(crl);
				free(cd);
				r = r != 0 ? r : KAGI_ERR_INTERNAL;
				goto cert_fail;
			}
			snprintf(path, sizeof(path), "%s/%s.crl", cd,
			    crl_names[w]);
			r = kagi_file_write_atomic(path, der, (size_t)n, 0644);
			OPENSSL_free(der);
			X509_CRL_free(crl);
			if (r != 0) {
				snprintf(err, errlen, _("cannot write %s"), path);
				free(cd);
				goto out;
			}
		}
		free(cd);
	}
	snprintf(path, sizeof(path), "%s/root.crt", dir);
	snprintf(text, sizeof(text), _("Created the root CA (20 years), the "
	    "issuing CA (10 years) and the OCSP signer certificates in %s"),
	    dir);
	init_step(json, steps, "ca", dir, text);
	*out = ci;
	ci = NULL;
	r = 0;
	goto out;
cert_fail:
	snprintf(err, errlen, _("cannot create the CA certificates: %s"),
	    kagi_strerror(r));
out:
	ca_issuer_free(self);
	ca_issuer_free(riss);
	ca_issuer_free(iiss);
	EVP_PKEY_free(rs);
	EVP_PKEY_free(is);
	EVP_PKEY_free(os);
	EVP_PKEY_free(rp);
	EVP_PKEY_free(ip);
	EVP_PKEY_free(op);
	hsm_key_free(rk);
	hsm_key_free(ik);
	hsm_key_free(ok);
	hsm_session_close(s);
	hsm_close(h);
	if (pin != NULL)
		kagi_secure_strfree(pin);
	free(pin_path);
	free(dir);
	free(burl);
	free(u1);
	free(u2);
	free(u3);
	free(u4);
	kagid_ca_init_free(ci);
	if (r != 0 && err[0] == '\0')
		snprintf(err, errlen, _("cannot create the CA: %s"),
		    kagi_strerror(r));
	return r;
}

int
kagid_ca_init_record(struct kagid_ca_init *ci, struct store_txn *t,
    int64_t now)
{
	X509 *xs[3] = { ci->root, ci->issuing, ci->ocsp };
	const char *prof[3] = { "root", "issuing-ca", "ocsp" };
	struct store_cert rec;
	int r;

	for (int i = 0; i < 3; i++) {
		if ((r = record_from_x509(xs[i], prof[i], "", now, &rec)) != 0)
			return r;
		r = store_cert_add(t, &rec);
		store_cert_clear(&rec);
		if (r != 0)
			return r;
	}
	(void)now;
	/* the first CRLs written by kagid_ca_init_create carry number 1 */
	if ((r = store_meta_u64_put(t, crl_meta[0], 1)) != 0 ||
	    (r = store_meta_u64_put(t, crl_meta[1], 1)) != 0)
		return r;
	return 0;
}
