/*
 * OCSP responder core (RFC 6960, nonces per RFC 8954), docs/CA.md.
 *
 * - Requests are untrusted: DER, <= 8 KiB, parsed wholly, 1..16 CertIDs,
 *   SHA-1 or SHA-256 CertIDs only, nonce 1..32 octets, no unknown critical
 *   extension.  Any of these wrong -> malformedRequest.
 * - A CertID whose issuerNameHash/issuerKeyHash is not our issuing CA makes
 *   the whole request "unauthorized" (RFC 6960 §2.3): we are not
 *   authoritative for it, and answering "unknown" for a foreign CA would
 *   invite clients to treat the answer as meaningful.
 * - Responses are signed by the delegated OCSP signer, responderID byKey,
 *   the signer certificate included, thisUpdate = now, nextUpdate = now +
 *   validity, producedAt = now (the injected clock).
 * - Nonce: by default a request nonce is echoed, which needs a fresh
 *   signature per request, so such responses are never cached; with
 *   CA_OCSP_NONCE_IGNORE (RFC 8954 allows it) nonces are not echoed and the
 *   cache serves them too.
 * - Cache (docs/CA.md "OCSP"): signed responses to single-CertID requests
 *   without an echoed nonce, keyed by the request's exact DER bytes.  A
 *   request whose bytes are in the cache was parsed and checked in full
 *   when the entry was made, so it is not parsed again: its serial's
 *   status is looked up as always and the stored answer is reused only
 *   while that status is unchanged, more than half its validity remains
 *   and the entry was made for this responder's CA.  tests/unit/ca checks
 *   the reused answers with openssl.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>

#include "kagi/ca.h"
#include "kagi/kbuf.h"
#include "kagi/log.h"
#include "kagi/util.h"

#include "ca_int.h"

struct ca_ocsp_responder {
	X509 *ca_cert;
	X509 *signer_cert;
	EVP_PKEY *signer_key;
	int64_t validity;
	enum ca_ocsp_nonce_policy nonce;
	unsigned char name_sha1[20], key_sha1[20];
	unsigned char name_sha256[32], key_sha256[32];
};

/* ---- request parsing ---------------------------------------------------- */

static int
check_exts(const STACK_OF(X509_EXTENSION) *exts, int allow_nonce)
{
	for (int i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
		X509_EXTENSION *ext = sk_X509_EXTENSION_value(exts, i);
		int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));

		if (allow_nonce && nid == NID_id_pkix_OCSP_Nonce) {
			int l = ASN1_STRING_length(X509_EXTENSION_get_data(ext));

			/* RFC 8954: 1..32 octets (+2 for the inner OCTET STRING). */
			if (l < 1 || l > 34) {
				kagi_log_warn("event=ocsp_malformed reason=nonce_length "
				    "len=%d", l);
				return KAGI_ERR_INVALID;
			}
			continue;
		}
		if (X509_EXTENSION_get_critical(ext)) {
			kagi_log_warn("event=ocsp_malformed "
			    "reason=unknown_critical_extension");
			return KAGI_ERR_INVALID;
		}
	}
	return 0;
}

static int
count_nonces(OCSP_REQUEST *req)
{
	int n = 0, i = -1;

	while ((i = OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce,
	    i)) >= 0)
		n++;
	return n;
}

int
ca_ocsp_request_parse(const uint8_t *der, size_t len, OCSP_REQUEST **out)
{
	int r = KAGI_ERR_INTERNAL;
	struct kbuf *view = NULL;
	OCSP_REQUEST *req = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	const unsigned char *p = der;
	const uint8_t *skip;
	int n, i;

	if (out != NULL)
		*out = NULL;
	if (out == NULL || (der == NULL && len != 0))
		return KAGI_ERR_INVALID;
	if (len > CA_OCSP_MAX_REQUEST) {
		kagi_log_warn("event=ocsp_malformed reason=size len=%zu", len);
		return KAGI_ERR_LIMIT;
	}
	if (len == 0) {
		kagi_log_warn("event=ocsp_malformed reason=empty");
		return KAGI_ERR_FORMAT;
	}
	if ((view = kbuf_from(der, len)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((req = d2i_OCSP_REQUEST(NULL, &p, (long)len)) == NULL) {
		kagi_log_warn("event=ocsp_malformed reason=der_decode");
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	if (kbuf_get_view(view, (size_t)(p - der), &skip) != 0 ||
	    kbuf_expect_end(view) != 0) {
		kagi_log_warn("event=ocsp_malformed reason=trailing_bytes n=%zu",
		    kbuf_len(view));
		r = KAGI_ERR_TRAILING;
		goto out;
	}
	n = OCSP_request_onereq_count(req);
	if (n < 1) {
		kagi_log_warn("event=ocsp_malformed reason=no_certid");
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	if (n > CA_OCSP_MAX_CERTIDS) {
		kagi_log_warn("event=ocsp_malformed reason=too_many_certids n=%d",
		    n);
		r = KAGI_ERR_LIMIT;
		goto out;
	}
	for (i = 0; i < n; i++) {
		OCSP_ONEREQ *one = OCSP_request_onereq_get0(req, i);
		OCSP_CERTID *cid = OCSP_onereq_get0_id(one);
		ASN1_OCTET_STRING *nh = NULL, *kh = NULL;
		ASN1_OBJECT *md = NULL;
		ASN1_INTEGER *sn = NULL;
		int nid, want;

		if (cid == NULL ||
		    !OCSP_id_get0_info(&nh, &md, &kh, &sn, cid) ||
		    nh == NULL || kh == NULL || md == NULL || sn == NULL) {
			r = KAGI_ERR_FORMAT;
			goto out;
		}
		nid = OBJ_obj2nid(md);
		if (nid != NID_sha1 && nid != NID_sha256) {
			kagi_log_warn("event=ocsp_malformed reason=certid_hash");
			r = KAGI_ERR_INVALID;
			goto out;
		}
		want = nid == NID_sha1 ? 20 : 32;
		if (ASN1_STRING_length(nh) != want ||
		    ASN1_STRING_length(kh) != want ||
		    ASN1_STRING_length(sn) < 1 || ASN1_STRING_length(sn) > 20) {
			kagi_log_warn("event=ocsp_malformed reason=certid_lengths");
			r = KAGI_ERR_FORMAT;
			goto out;
		}
		for (int j = 0; j < OCSP_ONEREQ_get_ext_count(one); j++)
			if (X509_EXTENSION_get_critical(
			    OCSP_ONEREQ_get_ext(one, j))) {
				kagi_log_warn("event=ocsp_malformed "
				    "reason=critical_single_extension");
				r = KAGI_ERR_INVALID;
				goto out;
			}
	}
	if ((exts = sk_X509_EXTENSION_new_null()) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < OCSP_REQUEST_get_ext_count(req); i++)
		if (!sk_X509_EXTENSION_push(exts, OCSP_REQUEST_get_ext(req, i))) {
			r = KAGI_ERR_NOMEM;
			goto out;
		}
	if ((r = check_exts(exts, 1)) != 0)
		goto out;
	if (count_nonces(req) > 1) {
		kagi_log_warn("event=ocsp_malformed reason=duplicate_nonce");
		r = KAGI_ERR_INVALID;
		goto out;
	}
	*out = req;
	req = NULL;
	r = 0;
out:
	ERR_clear_error();
	sk_X509_EXTENSION_free(exts); /* borrowed entries */
	OCSP_REQUEST_free(req);
	kbuf_free(view);
	return r;
}

/* ---- responder ---------------------------------------------------------- */

static int
hash_issuer(struct ca_ocsp_responder *r)
{
	unsigned char *name = NULL;
	int nlen = i2d_X509_NAME(X509_get_subject_name(r->ca_cert), &name);
	const ASN1_BIT_STRING *key = X509_get0_pubkey_bitstr(r->ca_cert);
	int ok;

	if (nlen <= 0 || key == NULL) {
		OPENSSL_free(name);
		return 0;
	}
	ok = EVP_Digest(name, (size_t)nlen, r->name_sha1, NULL, EVP_sha1(),
	    NULL) &&
	    EVP_Digest(name, (size_t)nlen, r->name_sha256, NULL, EVP_sha256(),
	    NULL) &&
	    EVP_Digest(key->data, (size_t)key->length, r->key_sha1, NULL,
	    EVP_sha1(), NULL) &&
	    EVP_Digest(key->data, (size_t)key->length, r->key_sha256, NULL,
	    EVP_sha256(), NULL);
	OPENSSL_free(name);
	return ok;
}

int
ca_ocsp_responder_new(X509 *ca_cert, X509 *signer_cert, EVP_PKEY *signer_key,
    int64_t validity, struct ca_ocsp_responder **out)
{
	int r = KAGI_ERR_INTERNAL;
	struct ca_ocsp_responder *rp = NULL;

	if (out != NULL)
		*out = NULL;
	if (ca_cert == NULL || signer_cert == NULL || signer_key == NULL ||
	    out == NULL || validity < 60 || validity > 7 * 86400)
		return KAGI_ERR_INVALID;
	if (EVP_PKEY_eq(X509_get0_pubkey(signer_cert), signer_key) != 1) {
		ERR_clear_error();
		kagi_log_err("OCSP signer certificate does not match its key");
		return KAGI_ERR_INVALID;
	}
	if (X509_check_issued(ca_cert, signer_cert) != X509_V_OK ||
	    (X509_get_extended_key_usage(signer_cert) & XKU_OCSP_SIGN) == 0) {
		kagi_log_err("OCSP signer is not an OCSP-signing certificate "
		    "issued by the CA");
		return KAGI_ERR_INVALID;
	}
	if ((rp = calloc(1, sizeof(*rp))) == NULL)
		return KAGI_ERR_NOMEM;
	if (!X509_up_ref(ca_cert))
		goto out;
	rp->ca_cert = ca_cert;
	if (!X509_up_ref(signer_cert))
		goto out;
	rp->signer_cert = signer_cert;
	if (!EVP_PKEY_up_ref(signer_key))
		goto out;
	rp->signer_key = signer_key;
	rp->validity = validity;
	rp->nonce = CA_OCSP_NONCE_HONOUR;
	if (!hash_issuer(rp))
		goto out;
	*out = rp;
	rp = NULL;
	r = 0;
out:
	ca_ocsp_responder_free(rp);
	return r;
}

void
ca_ocsp_responder_free(struct ca_ocsp_responder *r)
{
	if (r == NULL)
		return;
	X509_free(r->ca_cert);
	X509_free(r->signer_cert);
	EVP_PKEY_free(r->signer_key);
	free(r);
}

void
ca_ocsp_responder_set_nonce_policy(struct ca_ocsp_responder *r,
    enum ca_ocsp_nonce_policy p)
{
	if (r == NULL)
		return;
	r->nonce = p == CA_OCSP_NONCE_IGNORE ? CA_OCSP_NONCE_IGNORE :
	    CA_OCSP_NONCE_HONOUR;
	if (r->nonce == CA_OCSP_NONCE_IGNORE)
		kagi_log_warn("OCSP: request nonces are ignored (RFC 8954)");
}

static int
is_ours(const struct ca_ocsp_responder *r, OCSP_CERTID *cid)
{
	ASN1_OCTET_STRING *nh = NULL, *kh = NULL;
	ASN1_OBJECT *md = NULL;
	ASN1_INTEGER *sn = NULL;
	const unsigned char *wn, *wk;
	size_t l;

	if (!OCSP_id_get0_info(&nh, &md, &kh, &sn, cid))
		return 0;
	if (OBJ_obj2nid(md) == NID_sha1) {
		wn = r->name_sha1;
		wk = r->key_sha1;
		l = 20;
	} else {
		wn = r->name_sha256;
		wk = r->key_sha256;
		l = 32;
	}
	return (size_t)ASN1_STRING_length(nh) == l &&
	    (size_t)ASN1_STRING_length(kh) == l &&
	    memcmp(ASN1_STRING_get0_data(nh), wn, l) == 0 &&
	    memcmp(ASN1_STRING_get0_data(kh), wk, l) == 0;
}

static int
lookup_status(OCSP_CERTID *cid, ca_ocsp_lookup_fn *lookup, void *arg,
    struct ca_ocsp_status *st)
{
	ASN1_OCTET_STRING *nh = NULL, *kh = NULL;
	ASN1_OBJECT *md = NULL;
	ASN1_INTEGER *sn = NULL;
	int r;

	memset(st, 0, sizeof(*st));
	if (!OCSP_id_get0_info(&nh, &md, &kh, &sn, cid))
		return KAGI_ERR_INTERNAL;
	/* A negative serial was never issued by us. */
	if (ASN1_STRING_type(sn) == V_ASN1_NEG_INTEGER) {
		st->status = CA_OCSP_UNKNOWN;
		return 0;
	}
	r = lookup(ASN1_STRING_get0_data(sn), (size_t)ASN1_STRING_length(sn),
	    st, arg);
	if (r != 0) {
		kagi_log_err("OCSP status lookup failed: %s", kagi_err_name(r));
		return r;
	}
	if (st->status != CA_OCSP_GOOD && st->status != CA_OCSP_REVOKED &&
	    st->status != CA_OCSP_UNKNOWN)
		return KAGI_ERR_INTERNAL;
	return 0;
}

/* What a cache entry knows about its request (checked when it was made). */
struct cache_req {
	unsigned char issuer_key[20];  /* SHA-1 of the responder's CA key */
	uint8_t serial[20];
	size_t serial_len;
	int negative;                  /* a negative serial: always unknown */
	int had_nonce;                 /* cached under CA_OCSP_NONCE_IGNORE */
};

/* Cache internals (below). */
static int cache_peek(struct ca_ocsp_cache *c, const unsigned char *key,
    size_t klen, struct cache_req *cr);
static int cache_get(struct ca_ocsp_cache *c, const unsigned char *key,
    size_t klen, const struct ca_ocsp_status *st, int64_t now,
    uint8_t **resp, size_t *len);
static void cache_count_miss(struct ca_ocsp_cache *c);
static void cache_put(struct ca_ocsp_cache *c, const unsigned char *key,
    size_t klen, const struct cache_req *cr, const struct ca_ocsp_status *st,
    int64_t this_update, int64_t validity, const uint8_t *resp, size_t len);

/*
 * The cache's fast path: 0 answered from the cache, KAGI_ERR_NOT_FOUND not
 * there (*counted: a stale entry was dropped and counted as a miss), any
 * other error from the status lookup.
 */
static int
respond_cached(struct ca_ocsp_responder *r, struct ca_ocsp_cache *cache,
    const uint8_t *reqder, size_t req_len, ca_ocsp_lookup_fn *lookup,
    void *arg, int64_t now, uint8_t **resp, size_t *resp_len, int *counted)
{
	struct cache_req cr;
	struct ca_ocsp_status st;
	int rc;

	*counted = 0;
	if (cache_peek(cache, reqder, req_len, &cr) != 0 ||
	    memcmp(cr.issuer_key, r->key_sha1, sizeof(cr.issuer_key)) != 0 ||
	    (cr.had_nonce && r->nonce == CA_OCSP_NONCE_HONOUR))
		return KAGI_ERR_NOT_FOUND;
	memset(&st, 0, sizeof(st));
	if (cr.negative) {
		st.status = CA_OCSP_UNKNOWN;
	} else {
		if ((rc = lookup(cr.serial, cr.serial_len, &st, arg)) != 0) {
			kagi_log_err("OCSP status lookup failed: %s",
			    kagi_err_name(rc));
			return rc;
		}
		if (st.status != CA_OCSP_GOOD && st.status != CA_OCSP_REVOKED &&
		    st.status != CA_OCSP_UNKNOWN)
			return KAGI_ERR_INTERNAL;
	}
	if (cache_get(cache, reqder, req_len, &st, now, resp, resp_len) == 0)
		return 0;
	*counted = 1;
	return KAGI_ERR_NOT_FOUND;
}

static int
sign_response(struct ca_ocsp_responder *r, OCSP_REQUEST *req,
    const struct ca_ocsp_status *sts, int echo_nonce, int64_t now,
    uint8_t **resp, size_t *resp_len)
{
	int rc = KAGI_ERR_INTERNAL;
	OCSP_BASICRESP *bs = NULL;
	OCSP_RESPONSE *or = NULL;
	ASN1_TIME *tu = NULL, *nu = NULL, *rt = NULL;
	EVP_MD_CTX *mctx = NULL;
	unsigned char *der = NULL;
	int n = OCSP_request_onereq_count(req), len;

	if ((bs = OCSP_BASICRESP_new()) == NULL ||
	    (tu = ca_time_new(now)) == NULL ||
	    (nu = ca_time_new(now + r->validity)) == NULL)
		goto out;
	for (int i = 0; i < n; i++) {
		OCSP_CERTID *cid =
		    OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, i));
		int status = V_OCSP_CERTSTATUS_UNKNOWN, reason = -1;

		ASN1_TIME_free(rt);
		rt = NULL;
		if (sts[i].status == CA_OCSP_GOOD) {
			status = V_OCSP_CERTSTATUS_GOOD;
		} else if (sts[i].status == CA_OCSP_REVOKED) {
			status = V_OCSP_CERTSTATUS_REVOKED;
			if ((rt = ca_time_new(sts[i].revoked_at)) == NULL)
				goto out;
			/* No revocationReason rather than "unspecified". */
			if (sts[i].reason > 0 && sts[i].reason <= 10 &&
			    sts[i].reason != 7)
				reason = sts[i].reason;
		}
		if (OCSP_basic_add1_status(bs, cid, status, reason, rt, tu,
		    nu) == NULL)
			goto fail_ossl;
	}
	if (echo_nonce && OCSP_copy_nonce(bs, req) <= 0)
		goto fail_ossl;
	if ((rc = ca_sign_ctx_new(r->signer_key, NULL, &mctx)) != 0)
		goto out;
	rc = KAGI_ERR_INTERNAL;
	/* producedAt from the injected clock rather than time(NULL). */
	if (!ASN1_GENERALIZEDTIME_set(
	    (ASN1_GENERALIZEDTIME *)OCSP_resp_get0_produced_at(bs),
	    (time_t)now))
		goto fail_ossl;
	if (!OCSP_basic_sign_ctx(bs, r->signer_cert, mctx, NULL,
	    OCSP_RESPID_KEY | OCSP_NOTIME)) {
		ca_log_ossl("OCSP response signature");
		rc = KAGI_ERR_HSM;
		goto out;
	}
	if ((or = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL,
	    bs)) == NULL || (len = i2d_OCSP_RESPONSE(or, &der)) <= 0)
		goto fail_ossl;
	if ((*resp = malloc((size_t)len)) == NULL) {
		rc = KAGI_ERR_NOMEM;
		goto out;
	}
	memcpy(*resp, der, (size_t)len);
	*resp_len = (size_t)len;
	rc = 0;
	goto out;
fail_ossl:
	ca_log_ossl("OCSP response");
out:
	OPENSSL_free(der);
	OCSP_RESPONSE_free(or);
	EVP_MD_CTX_free(mctx);
	ASN1_TIME_free(rt);
	ASN1_TIME_free(tu);
	ASN1_TIME_free(nu);
	OCSP_BASICRESP_free(bs);
	return rc;
}

int
ca_ocsp_respond(struct ca_ocsp_responder *r, struct ca_ocsp_cache *cache,
    const uint8_t *reqder, size_t req_len, ca_ocsp_lookup_fn *lookup,
    void *arg, int64_t now, uint8_t **resp, size_t *resp_len)
{
	int rc = KAGI_ERR_INTERNAL;
	OCSP_REQUEST *req = NULL;
	struct ca_ocsp_status sts[CA_OCSP_MAX_CERTIDS];
	struct cache_req cr;
	int n, i, nonce, cacheable, counted = 0;

	if (resp != NULL)
		*resp = NULL;
	if (resp_len != NULL)
		*resp_len = 0;
	if (r == NULL || lookup == NULL || resp == NULL || resp_len == NULL)
		return KAGI_ERR_INVALID;
	if (cache != NULL && reqder != NULL && req_len > 0 &&
	    req_len <= CA_OCSP_MAX_REQUEST) {
		rc = respond_cached(r, cache, reqder, req_len, lookup, arg, now,
		    resp, resp_len, &counted);
		if (rc != KAGI_ERR_NOT_FOUND)
			return rc;
	}
	ERR_clear_error();
	if ((rc = ca_ocsp_request_parse(reqder, req_len, &req)) != 0)
		return rc;
	rc = KAGI_ERR_INTERNAL;
	n = OCSP_request_onereq_count(req);
	for (i = 0; i < n; i++) {
		OCSP_CERTID *cid =
		    OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, i));

		if (!is_ours(r, cid)) {
			kagi_log_warn("event=ocsp_unauthorized reason=other_issuer");
			rc = KAGI_ERR_DENIED;
			goto out;
		}
		if ((rc = lookup_status(cid, lookup, arg, &sts[i])) != 0)
			goto out;
	}
	nonce = count_nonces(req) > 0 && r->nonce == CA_OCSP_NONCE_HONOUR;
	cacheable = cache != NULL && n == 1 && !nonce;
	if (cacheable) {
		ASN1_INTEGER *sn = NULL;

		memset(&cr, 0, sizeof(cr));
		if (!OCSP_id_get0_info(NULL, NULL, NULL, &sn,
		    OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, 0))) ||
		    sn == NULL || ASN1_STRING_length(sn) < 1 ||
		    ASN1_STRING_length(sn) > 20) {
			rc = KAGI_ERR_INTERNAL;
			goto out;
		}
		memcpy(cr.issuer_key, r->key_sha1, sizeof(cr.issuer_key));
		cr.serial_len = (size_t)ASN1_STRING_length(sn);
		memcpy(cr.serial, ASN1_STRING_get0_data(sn), cr.serial_len);
		cr.negative = ASN1_STRING_type(sn) == V_ASN1_NEG_INTEGER;
		cr.had_nonce = count_nonces(req) > 0;
		if (!counted)
			cache_count_miss(cache);
	}
	if ((rc = sign_response(r, req, sts, nonce, now, resp, resp_len)) != 0)
		goto out;
	if (cacheable)
		cache_put(cache, reqder, req_len, &cr, &sts[0], now, r->validity,
		    *resp, *resp_len);
	rc = 0;
out:
	OCSP_REQUEST_free(req);
	return rc;
}

int
ca_ocsp_error_response(int err, uint8_t **resp, size_t *resp_len)
{
	OCSP_RESPONSE *or;
	unsigned char *der = NULL;
	int status, len;

	if (resp != NULL)
		*resp = NULL;
	if (resp_len != NULL)
		*resp_len = 0;
	if (resp == NULL || resp_len == NULL)
		return KAGI_ERR_INVALID;
	switch (err) {
	case KAGI_ERR_FORMAT:
	case KAGI_ERR_TRAILING:
	case KAGI_ERR_LIMIT:
	case KAGI_ERR_INVALID:
		status = OCSP_RESPONSE_STATUS_MALFORMEDREQUEST;
		break;
	case KAGI_ERR_DENIED:
		status = OCSP_RESPONSE_STATUS_UNAUTHORIZED;
		break;
	case KAGI_ERR_UNAVAILABLE:
		status = OCSP_RESPONSE_STATUS_TRYLATER;
		break;
	default:
		status = OCSP_RESPONSE_STATUS_INTERNALERROR;
		break;
	}
	if ((or = OCSP_response_create(status, NULL)) == NULL)
		return KAGI_ERR_NOMEM;
	len = i2d_OCSP_RESPONSE(or, &der);
	OCSP_RESPONSE_free(or);
	if (len <= 0)
		return KAGI_ERR_NOMEM;
	if ((*resp = malloc((size_t)len)) == NULL) {
		OPENSSL_free(der);
		return KAGI_ERR_NOMEM;
	}
	memcpy(*resp, der, (size_t)len);
	*resp_len = (size_t)len;
	OPENSSL_free(der);
	return 0;
}

/* ---- response cache ----------------------------------------------------- */

struct cache_ent {
	struct cache_ent *next;
	unsigned char *key;            /* the request's DER */
	size_t klen;
	struct cache_req cr;
	struct ca_ocsp_status st;
	int64_t this_update, validity;
	uint8_t *resp;
	size_t len;
};

struct ca_ocsp_cache {
	pthread_mutex_t mu;
	struct cache_ent **b;
	size_t nb, n, max;
	uint64_t hits, misses;
};

static uint64_t
fnv1a(const unsigned char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

static void
ent_free(struct cache_ent *e)
{
	if (e == NULL)
		return;
	free(e->key);
	free(e->resp);
	free(e);
}

int
ca_ocsp_cache_new(size_t max_entries, struct ca_ocsp_cache **out)
{
	struct ca_ocsp_cache *c;
	size_t nb = 16;

	if (out != NULL)
		*out = NULL;
	if (out == NULL || max_entries == 0 || max_entries > 10u * 1000u * 1000u)
		return KAGI_ERR_INVALID;
	while (nb < max_entries)
		nb <<= 1;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return KAGI_ERR_NOMEM;
	if ((c->b = calloc(nb, sizeof(*c->b))) == NULL) {
		free(c);
		return KAGI_ERR_NOMEM;
	}
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		free(c->b);
		free(c);
		return KAGI_ERR_SYSTEM;
	}
	c->nb = nb;
	c->max = max_entries;
	*out = c;
	return 0;
}

static void
cache_clear_locked(struct ca_ocsp_cache *c)
{
	for (size_t i = 0; i < c->nb; i++) {
		struct cache_ent *e = c->b[i], *nx;

		for (; e != NULL; e = nx) {
			nx = e->next;
			ent_free(e);
		}
		c->b[i] = NULL;
	}
	c->n = 0;
}

void
ca_ocsp_cache_clear(struct ca_ocsp_cache *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	cache_clear_locked(c);
	pthread_mutex_unlock(&c->mu);
}

void
ca_ocsp_cache_free(struct ca_ocsp_cache *c)
{
	if (c == NULL)
		return;
	cache_clear_locked(c);
	pthread_mutex_destroy(&c->mu);
	free(c->b);
	free(c);
}

void
ca_ocsp_cache_stats(struct ca_ocsp_cache *c, size_t *entries, uint64_t *hits,
    uint64_t *misses)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	if (entries != NULL)
		*entries = c->n;
	if (hits != NULL)
		*hits = c->hits;
	if (misses != NULL)
		*misses = c->misses;
	pthread_mutex_unlock(&c->mu);
}

static int
same_status(const struct ca_ocsp_status *a, const struct ca_ocsp_status *b)
{
	if (a->status != b->status)
		return 0;
	return a->status != CA_OCSP_REVOKED ||
	    (a->revoked_at == b->revoked_at && a->reason == b->reason);
}

static struct cache_ent **
cache_find(struct ca_ocsp_cache *c, const unsigned char *key, size_t klen)
{
	struct cache_ent **pp = &c->b[fnv1a(key, klen) & (c->nb - 1)];

	for (; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->klen == klen && memcmp((*pp)->key, key, klen) == 0)
			return pp;
	return pp;
}

static int
cache_peek(struct ca_ocsp_cache *c, const unsigned char *key, size_t klen,
    struct cache_req *cr)
{
	struct cache_ent *e;

	pthread_mutex_lock(&c->mu);
	e = *cache_find(c, key, klen);
	if (e != NULL)
		*cr = e->cr;
	pthread_mutex_unlock(&c->mu);
	return e != NULL ? 0 : KAGI_ERR_NOT_FOUND;
}

static void
cache_count_miss(struct ca_ocsp_cache *c)
{
	pthread_mutex_lock(&c->mu);
	c->misses++;
	pthread_mutex_unlock(&c->mu);
}

/* A fresh entry's answer (copied) or KAGI_ERR_NOT_FOUND; drops a stale one
 * and counts the miss. */
static int
cache_get(struct ca_ocsp_cache *c, const unsigned char *key, size_t klen,
    const struct ca_ocsp_status *st, int64_t now, uint8_t **resp,
    size_t *len)
{
	struct cache_ent **pp, *e;
	int r = KAGI_ERR_NOT_FOUND;

	pthread_mutex_lock(&c->mu);
	pp = cache_find(c, key, klen);
	e = *pp;
	if (e != NULL) {
		/* Reuse while the status is unchanged and > half validity left. */
		if (same_status(&e->st, st) && now >= e->this_update &&
		    now < e->this_update + e->validity / 2) {
			if ((*resp = malloc(e->len)) != NULL) {
				memcpy(*resp, e->resp, e->len);
				*len = e->len;
				c->hits++;
				r = 0;
			}
			goto out;
		}
		*pp = e->next;
		ent_free(e);
		c->n--;
		c->misses++;
	}
out:
	pthread_mutex_unlock(&c->mu);
	return r;
}

static void
cache_put(struct ca_ocsp_cache *c, const unsigned char *key, size_t klen,
    const struct cache_req *cr, const struct ca_ocsp_status *st,
    int64_t this_update, int64_t validity, const uint8_t *resp, size_t len)
{
	struct cache_ent *e, **pp;

	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->key = malloc(klen)) == NULL || (e->resp = malloc(len)) == NULL) {
		ent_free(e);
		return;
	}
	memcpy(e->key, key, klen);
	memcpy(e->resp, resp, len);
	e->klen = klen;
	e->len = len;
	e->cr = *cr;
	e->st = *st;
	e->this_update = this_update;
	e->validity = validity;
	pthread_mutex_lock(&c->mu);
	pp = cache_find(c, key, klen);
	if (*pp != NULL) {
		/* A concurrent signer got there first: keep the newer one. */
		struct cache_ent *old = *pp;

		e->next = old->next;
		*pp = e;
		ent_free(old);
	} else {
		if (c->n >= c->max) {
			/* Crude but bounded: start over when full. */
			cache_clear_locked(c);
			pp = cache_find(c, key, klen);
		}
		*pp = e;
		c->n++;
	}
	pthread_mutex_unlock(&c->mu);
}
