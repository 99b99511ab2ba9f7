/*
 * CSR intake (R-INPUT-1..2).  A CSR is untrusted: size-capped, parsed
 * wholly (PEM: one block with nothing but whitespace around it; DER: no
 * trailing bytes, canonical encoding), key checked against the allowlist
 * before any signature work, then the self-signature verified (proof of
 * possession).  Only the public key leaves this file.
 *
 * Speed (docs/BENCHMARKS.md "CA"): OpenSSL 3.0 decodes the key of every
 * parsed SubjectPublicKeyInfo through a decoder context it builds anew each
 * time, which cost more than signing the certificate.  So the CSR is parsed
 * with a template of our own (same fields and DER rules as X509_REQ, the key
 * left as algorithm + BIT STRING), and P-256/P-384 keys with an
 * uncompressed point are imported directly from it; any other key goes through d2i_PUBKEY as
 * before.  tests/unit/ca checks that both give the same key.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "kagi/ca.h"
#include "kagi/kbuf.h"
#include "kagi/log.h"

#include "ca_int.h"

static int
is_ws(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Unwrap exactly one PEM CSR block; *der is OPENSSL_malloc'ed. */
static int
pem_unwrap(const uint8_t *in, size_t len, unsigned char **der, long *dlen)
{
	int r = KAGI_ERR_FORMAT;
	BIO *bio = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long n = 0;
	char rest[64];
	int got;

	*der = NULL;
	*dlen = 0;
	if ((bio = BIO_new_mem_buf(in, (int)len)) == NULL)
		return KAGI_ERR_NOMEM;
	if (!PEM_read_bio(bio, &name, &header, &data, &n)) {
		kagi_log_warn("event=csr_refused reason=pem_decode");
		goto out;
	}
	if (strcmp(name, PEM_STRING_X509_REQ) != 0 &&
	    strcmp(name, PEM_STRING_X509_REQ_OLD) != 0) {
		kagi_log_warn("event=csr_refused reason=pem_label");
		goto out;
	}
	if (header[0] != '\0') {
		kagi_log_warn("event=csr_refused reason=pem_headers");
		goto out;
	}
	/* Nothing but whitespace may follow the END line. */
	while ((got = BIO_read(bio, rest, (int)sizeof(rest))) > 0)
		for (int i = 0; i < got; i++)
			if (!is_ws((uint8_t)rest[i])) {
				kagi_log_warn("event=csr_refused "
				    "reason=trailing_after_pem");
				r = KAGI_ERR_TRAILING;
				goto out;
			}
	*der = data;
	*dlen = n;
	data = NULL;
	r = 0;
out:
	ERR_clear_error();
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	BIO_free(bio);
	return r;
}

/*
 * PKCS#10 (RFC 2986) as X509_REQ parses it, but with the key not decoded:
 * attributes [0] IMPLICIT SET OF, mandatory (X509_REQ re-encodes an absent
 * one as empty, which the canonical check refused anyway).
 */
typedef struct {
	X509_ALGOR *alg;
	ASN1_BIT_STRING *key;
} KAGI_CSR_SPKI;

typedef struct {
	ASN1_INTEGER *version;
	X509_NAME *subject;
	KAGI_CSR_SPKI *spki;
	STACK_OF(X509_ATTRIBUTE) *attributes;
} KAGI_CSR_INFO;

typedef struct {
	KAGI_CSR_INFO *info;
	X509_ALGOR *sig_alg;
	ASN1_BIT_STRING *sig;
} KAGI_CSR;

ASN1_SEQUENCE(KAGI_CSR_SPKI) = {
	ASN1_SIMPLE(KAGI_CSR_SPKI, alg, X509_ALGOR),
	ASN1_SIMPLE(KAGI_CSR_SPKI, key, ASN1_BIT_STRING)
} static_ASN1_SEQUENCE_END(KAGI_CSR_SPKI)

ASN1_SEQUENCE(KAGI_CSR_INFO) = {
	ASN1_SIMPLE(KAGI_CSR_INFO, version, ASN1_INTEGER),
	ASN1_SIMPLE(KAGI_CSR_INFO, subject, X509_NAME),
	ASN1_SIMPLE(KAGI_CSR_INFO, spki, KAGI_CSR_SPKI),
	ASN1_IMP_SET_OF(KAGI_CSR_INFO, attributes, X509_ATTRIBUTE, 0)
} static_ASN1_SEQUENCE_END(KAGI_CSR_INFO)

ASN1_SEQUENCE(KAGI_CSR) = {
	ASN1_SIMPLE(KAGI_CSR, info, KAGI_CSR_INFO),
	ASN1_SIMPLE(KAGI_CSR, sig_alg, X509_ALGOR),
	ASN1_SIMPLE(KAGI_CSR, sig, ASN1_BIT_STRING)
} static_ASN1_SEQUENCE_END(KAGI_CSR)

static void
log_key_alg(const KAGI_CSR_SPKI *spki)
{
	const ASN1_OBJECT *alg = NULL;
	char oid[80] = "?";

	X509_ALGOR_get0(&alg, NULL, NULL, spki->alg);
	if (alg != NULL)
		OBJ_obj2txt(oid, sizeof(oid), alg, 1);
	kagi_log_warn("event=csr_refused reason=key_algorithm oid=%s", oid);
}

/*
 * The fast path: an id-ecPublicKey on a named allowlisted curve, imported
 * from its point (the EC key manager checks that it is on the curve, as the
 * decoder does).  Returns NULL, nothing logged, for anything else.
 */
static EVP_PKEY *
ec_key_from_spki(const KAGI_CSR_SPKI *spki)
{
	const ASN1_OBJECT *alg = NULL;
	const void *pval = NULL;
	int ptype = 0, curve;
	const char *group;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;
	OSSL_PARAM params[3];

	X509_ALGOR_get0(&alg, &ptype, &pval, spki->alg);
	if (OBJ_obj2nid(alg) != NID_X9_62_id_ecPublicKey ||
	    ptype != V_ASN1_OBJECT || pval == NULL)
		return NULL;
	curve = OBJ_obj2nid(pval);
	if (curve == NID_X9_62_prime256v1)
		group = "prime256v1";
	else if (curve == NID_secp384r1)
		group = "secp384r1";
	else
		return NULL;
	/* a key with unused bits is left to the general path */
	if ((spki->key->flags & ASN1_STRING_FLAG_BITS_LEFT) != 0 &&
	    (spki->key->flags & 0x07) != 0)
		return NULL;
	/* uncompressed points only: a compressed one keeps its form in the
	 * decoder's key, so it goes the general way */
	if (spki->key->length < 1 || spki->key->data[0] != 0x04)
		return NULL;
	params[0] = OSSL_PARAM_construct_utf8_string(
	    OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
	    spki->key->data, (size_t)spki->key->length);
	params[2] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
	EVP_PKEY_CTX_free(ctx);
	return pk;
}

/* The general path: OpenSSL's decoders on the SubjectPublicKeyInfo. */
static EVP_PKEY *
key_from_spki(const KAGI_CSR_SPKI *spki)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	int len = ASN1_item_i2d((const ASN1_VALUE *)spki, &der,
	    ASN1_ITEM_rptr(KAGI_CSR_SPKI));
	EVP_PKEY *pk = NULL;

	if (len > 0) {
		p = der;
		pk = d2i_PUBKEY(NULL, &p, len);
		if (pk != NULL && p != der + len) {
			EVP_PKEY_free(pk);
			pk = NULL;
		}
	}
	OPENSSL_free(der);
	return pk;
}

/* Requested extensions (extensionRequest, either OID) present? */
static int
count_requested_exts(const KAGI_CSR_INFO *info)
{
	int n = 0;

	for (int i = 0; i < sk_X509_ATTRIBUTE_num(info->attributes); i++) {
		X509_ATTRIBUTE *a = sk_X509_ATTRIBUTE_value(info->attributes, i);
		int nid = OBJ_obj2nid(X509_ATTRIBUTE_get0_object(a));
		ASN1_TYPE *t;
		const unsigned char *p;
		STACK_OF(X509_EXTENSION) *exts;

		if (nid != NID_ext_req && nid != NID_ms_ext_req)
			continue;
		if ((t = X509_ATTRIBUTE_get0_type(a, 0)) == NULL ||
		    t->type != V_ASN1_SEQUENCE)
			continue;
		p = t->value.sequence->data;
		exts = (STACK_OF(X509_EXTENSION) *)ASN1_item_d2i(NULL, &p,
		    t->value.sequence->length, ASN1_ITEM_rptr(X509_EXTENSIONS));
		n += sk_X509_EXTENSION_num(exts) > 0 ?
		    sk_X509_EXTENSION_num(exts) : 0;
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
		/* X509_REQ_get_extensions reads the first one only */
		break;
	}
	return n;
}

int
ca_csr_parse(const uint8_t *in, size_t len, EVP_PKEY **pubkey_out,
    unsigned *flags)
{
	int r = KAGI_ERR_INTERNAL;
	struct kbuf *view = NULL;
	unsigned char *pemder = NULL, *reenc = NULL;
	const unsigned char *der, *p;
	const uint8_t *skip;
	long dlen = 0;
	size_t i;
	int relen, nexts;
	KAGI_CSR *req = NULL;
	EVP_PKEY *pk = NULL;

	if (pubkey_out != NULL)
		*pubkey_out = NULL;
	if (flags != NULL)
		*flags = 0;
	if (pubkey_out == NULL || (in == NULL && len != 0))
		return KAGI_ERR_INVALID;
	if (len > CA_CSR_MAX_SIZE) {
		kagi_log_warn("event=csr_refused reason=size len=%zu max=%u", len,
		    CA_CSR_MAX_SIZE);
		return KAGI_ERR_LIMIT;
	}
	if (len == 0) {
		kagi_log_warn("event=csr_refused reason=empty");
		return KAGI_ERR_FORMAT;
	}
	for (i = 0; i < len && is_ws(in[i]); i++)
		;
	if (len - i >= 10 && memcmp(in + i, "-----BEGIN", 10) == 0) {
		if ((r = pem_unwrap(in + i, len - i, &pemder, &dlen)) != 0)
			goto out;
		der = pemder;
	} else {
		der = in;
		dlen = (long)len;
	}
	if ((view = kbuf_from(der, (size_t)dlen)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	p = der;
	if ((req = (KAGI_CSR *)ASN1_item_d2i(NULL, &p, dlen,
	    ASN1_ITEM_rptr(KAGI_CSR))) == NULL) {
		kagi_log_warn("event=csr_refused reason=der_decode");
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	if (kbuf_get_view(view, (size_t)(p - der), &skip) != 0 ||
	    kbuf_expect_end(view) != 0) {
		kagi_log_warn("event=csr_refused reason=trailing_bytes n=%zu",
		    kbuf_len(view));
		r = KAGI_ERR_TRAILING;
		goto out;
	}
	/* Canonical DER only: the bytes must re-encode identically. */
	relen = ASN1_item_i2d((const ASN1_VALUE *)req, &reenc,
	    ASN1_ITEM_rptr(KAGI_CSR));
	if (relen != (int)dlen || memcmp(reenc, der, (size_t)dlen) != 0) {
		kagi_log_warn("event=csr_refused reason=not_der");
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	if (ASN1_INTEGER_get(req->info->version) != X509_REQ_VERSION_1) {
		kagi_log_warn("event=csr_refused reason=version");
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	if ((pk = ec_key_from_spki(req->info->spki)) == NULL)
		pk = key_from_spki(req->info->spki);
	if (pk == NULL) {
		log_key_alg(req->info->spki);
		r = KAGI_ERR_INVALID;
		goto out;
	}
	/* Allowlist before any signature work (no RSA-16384 verify). */
	if ((r = ca_key_check(pk)) != 0)
		goto out;
	if (ASN1_item_verify_ex(ASN1_ITEM_rptr(KAGI_CSR_INFO), req->sig_alg,
	    req->sig, req->info, NULL, pk, NULL, NULL) != 1) {
		kagi_log_warn("event=csr_refused reason=signature");
		r = KAGI_ERR_SIG;
		goto out;
	}
	nexts = count_requested_exts(req->info);
	if (flags != NULL && nexts > 0) {
		*flags |= CA_CSR_HAD_EXTENSIONS;
		kagi_log_info("CSR requested %d extensions; ignored", nexts);
	}
	*pubkey_out = pk;
	pk = NULL;
	r = 0;
out:
	ERR_clear_error();
	EVP_PKEY_free(pk);
	ASN1_item_free((ASN1_VALUE *)req, ASN1_ITEM_rptr(KAGI_CSR));
	OPENSSL_free(reenc);
	OPENSSL_free(pemder);
	kbuf_free(view);
	return r;
}
