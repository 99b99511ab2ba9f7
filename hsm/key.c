/*
 * hsm keys: generate, find, export the public key, sign a digest.
 *
 * Private keys we generate are CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE and not
 * CKA_EXTRACTABLE, usable only for signing; no function here returns private
 * key bytes (STYLE.md 8).  Attribute values read from a token are untrusted
 * (a card can answer anything): lengths are capped, EC parameters must be one
 * of the allowlisted curves, points are checked by OpenSSL.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "hsm_int.h"
#include "kagi/log.h"
#include "kagi/util.h"

#define KEY_ID_LEN 16
#define KEY_LABEL_MAX 128
#define SIG_RAW_MAX 1024 /* RSA-8192; larger than anything we allow */

/* DER OIDs as carried in CKA_EC_PARAMS (namedCurve choice). */
static const uint8_t oid_p256[] = { /* 1.2.840.10045.3.1.7 */
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t oid_p384[] = { /* 1.3.132.0.34 */
	0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const uint8_t rsa_e65537[] = { 0x01, 0x00, 0x01 };

/* RFC 8017 §9.2 note 1: DER DigestInfo prefixes, followed by the hash. */
static const uint8_t di_sha256[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09,
	0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
	0x04, 0x20 };
static const uint8_t di_sha384[] = { 0x30, 0x41, 0x30, 0x0d, 0x06, 0x09,
	0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00,
	0x04, 0x30 };
static const uint8_t di_sha512[] = { 0x30, 0x51, 0x30, 0x0d, 0x06, 0x09,
	0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00,
	0x04, 0x40 };

static const struct {
	enum hsm_key_type type;
	const uint8_t *oid;
	size_t oidlen;
	const char *group;
	size_t field_len;
} ec_curves[] = {
	{ HSM_KEY_EC_P256, oid_p256, sizeof(oid_p256), SN_X9_62_prime256v1,
	    32 },
	{ HSM_KEY_EC_P384, oid_p384, sizeof(oid_p384), SN_secp384r1, 48 },
};

static const char *
type_name(enum hsm_key_type t)
{
	switch (t) {
	case HSM_KEY_EC_P256:
		return "ec-p256";
	case HSM_KEY_EC_P384:
		return "ec-p384";
	case HSM_KEY_RSA_2048:
		return "rsa-2048";
	case HSM_KEY_RSA_3072:
		return "rsa-3072";
	}
	return "unknown";
}

/*
 * Read one attribute into a new allocation (free()).  KAGI_ERR_NOT_FOUND if
 * the object does not have it; KAGI_ERR_LIMIT over HSM_ATTR_MAX.
 */
static int
attr_get(struct hsm_session *s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
    uint8_t **out, size_t *outlen)
{
	CK_ATTRIBUTE a;
	uint8_t *buf = NULL;
	CK_RV rv;
	int r = KAGI_ERR_INTERNAL;

	*out = NULL;
	*outlen = 0;
	a.type = type;
	a.pValue = NULL;
	a.ulValueLen = 0;
	rv = s->h->f->C_GetAttributeValue(s->sh, o, &a, 1);
	if (rv == CKR_ATTRIBUTE_TYPE_INVALID ||
	    a.ulValueLen == CK_UNAVAILABLE_INFORMATION) {
		r = KAGI_ERR_NOT_FOUND;
		goto out;
	}
	if (rv != CKR_OK) {
		r = hsm_ckr_err(rv, "C_GetAttributeValue");
		goto out;
	}
	if (a.ulValueLen > HSM_ATTR_MAX) {
		kagi_log_err("attribute 0x%lx: %lu bytes, over the limit",
		    type, a.ulValueLen);
		r = KAGI_ERR_LIMIT;
		goto out;
	}
	/* One spare byte so that a zero-length value still allocates. */
	if ((buf = calloc(1, a.ulValueLen + 1)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	a.pValue = buf;
	if ((rv = s->h->f->C_GetAttributeValue(s->sh, o, &a, 1)) != CKR_OK) {
		r = hsm_ckr_err(rv, "C_GetAttributeValue");
		goto out;
	}
	if (a.ulValueLen > HSM_ATTR_MAX) {
		r = KAGI_ERR_HSM;
		goto out;
	}
	*out = buf;
	*outlen = a.ulValueLen;
	buf = NULL;
	r = 0;
out:
	free(buf);
	return r;
}

static int
attr_get_bool(struct hsm_session *s, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE type, int *v)
{
	uint8_t *b = NULL;
	size_t n = 0;
	int r;

	if ((r = attr_get(s, o, type, &b, &n)) != 0)
		return r;
	if (n != sizeof(CK_BBOOL)) {
		free(b);
		kagi_log_err("attribute 0x%lx: not a CK_BBOOL", type);
		return KAGI_ERR_HSM;
	}
	*v = b[0] != CK_FALSE;
	free(b);
	return 0;
}

static int
attr_get_ulong(struct hsm_session *s, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE type, CK_ULONG *v)
{
	uint8_t *b = NULL;
	size_t n = 0;
	int r;

	if ((r = attr_get(s, o, type, &b, &n)) != 0)
		return r;
	if (n != sizeof(CK_ULONG)) {
		free(b);
		kagi_log_err("attribute 0x%lx: not a CK_ULONG", type);
		return KAGI_ERR_HSM;
	}
	memcpy(v, b, sizeof(*v));
	free(b);
	return 0;
}

/*
 * Find objects matching tmpl; up to max handles.  *n is how many matched
 * (capped at max + 1 so a caller can tell "more than max").
 */
static int
find_objects(struct hsm_session *s, CK_ATTRIBUTE *tmpl, CK_ULONG ntmpl,
    CK_OBJECT_HANDLE *objs, CK_ULONG max, CK_ULONG *n)
{
	CK_OBJECT_HANDLE buf[8];
	CK_ULONG got = 0;
	CK_RV rv;
	int r = KAGI_ERR_INTERNAL;

	*n = 0;
	if (max + 1 > sizeof(buf) / sizeof(buf[0]))
		return KAGI_ERR_INTERNAL;
	if ((rv = s->h->f->C_FindObjectsInit(s->sh, tmpl, ntmpl)) != CKR_OK)
		return hsm_ckr_err(rv, "C_FindObjectsInit");
	rv = s->h->f->C_FindObjects(s->sh, buf, max + 1, &got);
	if (rv != CKR_OK) {
		r = hsm_ckr_err(rv, "C_FindObjects");
		goto out;
	}
	if (got > max + 1) {
		r = KAGI_ERR_HSM;
		goto out;
	}
	memcpy(objs, buf, (got > max ? max : got) * sizeof(*objs));
	*n = got;
	r = 0;
out:
	(void)s->h->f->C_FindObjectsFinal(s->sh);
	return r;
}

static int
find_private_by_label(struct hsm_session *s, const char *label,
    CK_OBJECT_HANDLE *o, CK_ULONG *n)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (CK_VOID_PTR)label, (CK_ULONG)strlen(label) },
	};

	return find_objects(s, t, 2, o, 1, n);
}

static EVP_PKEY *
pkey_from_params(const char *alg, OSSL_PARAM *params)
{
	EVP_PKEY_CTX *ctx = NULL, *chk = NULL;
	EVP_PKEY *pk = NULL, *ret = NULL;

	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	/* The bytes came from a token: let OpenSSL check them. */
	if ((chk = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL)) == NULL ||
	    EVP_PKEY_public_check(chk) != 1)
		goto out;
	ret = pk;
	pk = NULL;
out:
	EVP_PKEY_free(pk);
	EVP_PKEY_CTX_free(chk);
	EVP_PKEY_CTX_free(ctx);
	return ret;
}

/*
 * CKA_EC_POINT is a DER OCTET STRING wrapping the point (PKCS#11 v2.40
 * §2.3.3); some modules give the raw point.  Accept either, requiring an
 * uncompressed point of the curve's size.
 */
int
hsm_ec_point_unwrap(const uint8_t *p, size_t n, size_t field_len,
    const uint8_t **pt, size_t *ptlen)
{
	size_t want = 1 + 2 * field_len;
	const unsigned char *q = p;
	ASN1_OCTET_STRING *os = NULL;

	if (n > 2 && p[0] == V_ASN1_OCTET_STRING &&
	    (os = d2i_ASN1_OCTET_STRING(NULL, &q, (long)n)) != NULL) {
		if (q == p + n && (size_t)ASN1_STRING_length(os) == want &&
		    ASN1_STRING_get0_data(os)[0] == 0x04) {
			/* The point sits at the end of the DER bytes. */
			*pt = p + n - want;
			*ptlen = want;
			ASN1_OCTET_STRING_free(os);
			return 0;
		}
		ASN1_OCTET_STRING_free(os);
	}
	if (n == want && p[0] == 0x04) {
		*pt = p;
		*ptlen = n;
		return 0;
	}
	kagi_log_err("CKA_EC_POINT: not an uncompressed point of %zu bytes",
	    want);
	return KAGI_ERR_FORMAT;
}

static int
build_ec(const uint8_t *params, size_t plen, const uint8_t *point,
    size_t ptlen, EVP_PKEY **out, enum hsm_key_type *type, size_t *field_len)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *op = NULL;
	const uint8_t *pt = NULL;
	size_t ptl = 0, i;
	int c = -1, r = KAGI_ERR_INTERNAL;

	for (i = 0; i < sizeof(ec_curves) / sizeof(ec_curves[0]); i++)
		if (plen == ec_curves[i].oidlen &&
		    memcmp(params, ec_curves[i].oid, plen) == 0)
			c = (int)i;
	if (c < 0) {
		kagi_log_err("CKA_EC_PARAMS: curve not allowed (P-256, P-384)");
		r = KAGI_ERR_INVALID;
		goto out;
	}
	if ((r = hsm_ec_point_unwrap(point, ptlen, ec_curves[c].field_len, &pt,
	    &ptl)) != 0)
		goto out;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    ec_curves[c].group, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	    pt, ptl) != 1 ||
	    (op = OSSL_PARAM_BLD_to_param(bld)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if ((*out = pkey_from_params("EC", op)) == NULL) {
		kagi_log_err("EC public key from token rejected by OpenSSL");
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	*type = ec_curves[c].type;
	*field_len = ec_curves[c].field_len;
	r = 0;
out:
	OSSL_PARAM_free(op);
	OSSL_PARAM_BLD_free(bld);
	return r;
}

static int
build_rsa(const uint8_t *mod, size_t mlen, const uint8_t *exp, size_t elen,
    EVP_PKEY **out, enum hsm_key_type *type)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *op = NULL;
	BIGNUM *n = NULL, *e = NULL;
	EVP_PKEY *pk = NULL;
	int bits, r = KAGI_ERR_INTERNAL;

	if (mlen == 0 || elen == 0 || elen > 8) {
		kagi_log_err("RSA public key: bad modulus or exponent length");
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	if ((n = BN_bin2bn(mod, (int)mlen, NULL)) == NULL ||
	    (e = BN_bin2bn(exp, (int)elen, NULL)) == NULL ||
	    (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
	    (op = OSSL_PARAM_BLD_to_param(bld)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if ((pk = pkey_from_params("RSA", op)) == NULL) {
		kagi_log_err("RSA public key from token rejected by OpenSSL");
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	bits = EVP_PKEY_get_bits(pk);
	if (bits == 2048)
		*type = HSM_KEY_RSA_2048;
	else if (bits == 3072)
		*type = HSM_KEY_RSA_3072;
	else {
		kagi_log_err("RSA key of %d bits not allowed (2048, 3072)",
		    bits);
		r = KAGI_ERR_INVALID;
		goto out;
	}
	*out = pk;
	pk = NULL;
	r = 0;
out:
	EVP_PKEY_free(pk);
	OSSL_PARAM_free(op);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return r;
}

/* Build the public key from a public key object (or the private key). */
static int
pub_from_object(struct hsm_session *s, CK_OBJECT_HANDLE o, CK_KEY_TYPE kt,
    EVP_PKEY **out, enum hsm_key_type *type, size_t *field_len)
{
	uint8_t *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;
	int r = KAGI_ERR_INTERNAL;

	*out = NULL;
	if (kt == CKK_EC) {
		if ((r = attr_get(s, o, CKA_EC_PARAMS, &a, &alen)) != 0 ||
		    (r = attr_get(s, o, CKA_EC_POINT, &b, &blen)) != 0)
			goto out;
		r = build_ec(a, alen, b, blen, out, type, field_len);
	} else if (kt == CKK_RSA) {
		if ((r = attr_get(s, o, CKA_MODULUS, &a, &alen)) != 0 ||
		    (r = attr_get(s, o, CKA_PUBLIC_EXPONENT, &b, &blen)) != 0)
			goto out;
		*field_len = 0;
		r = build_rsa(a, alen, b, blen, out, type);
	} else {
		kagi_log_err("key type 0x%lx not supported", kt);
		r = KAGI_ERR_INVALID;
	}
out:
	free(a);
	free(b);
	return r;
}

/* A card may hold only a certificate beside the private key. */
static int
pub_from_cert(struct hsm_session *s, const uint8_t *id, size_t idlen,
    CK_KEY_TYPE kt, EVP_PKEY **out, enum hsm_key_type *type,
    size_t *field_len)
{
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, (CK_VOID_PTR)id, (CK_ULONG)idlen },
	};
	CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
	CK_ULONG n = 0;
	uint8_t *der = NULL;
	size_t dlen = 0;
	const unsigned char *p;
	X509 *x = NULL;
	EVP_PKEY *pk;
	int r = KAGI_ERR_INTERNAL;

	*out = NULL;
	if ((r = find_objects(s, t, 2, &o, 1, &n)) != 0)
		goto out;
	if (n != 1) {
		r = KAGI_ERR_NOT_FOUND;
		goto out;
	}
	if ((r = attr_get(s, o, CKA_VALUE, &der, &dlen)) != 0)
		goto out;
	p = der;
	if ((x = d2i_X509(NULL, &p, (long)dlen)) == NULL || p != der + dlen) {
		kagi_log_err("certificate object: not one DER certificate");
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	pk = X509_get0_pubkey(x);
	if (pk == NULL) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	if (kt == CKK_EC && EVP_PKEY_is_a(pk, "EC")) {
		char g[64];
		size_t i;

		if (EVP_PKEY_get_utf8_string_param(pk,
		    OSSL_PKEY_PARAM_GROUP_NAME, g, sizeof(g), NULL) != 1) {
			r = KAGI_ERR_FORMAT;
			goto out;
		}
		r = KAGI_ERR_INVALID;
		for (i = 0; i < sizeof(ec_curves) / sizeof(ec_curves[0]); i++)
			if (strcmp(g, ec_curves[i].group) == 0) {
				*type = ec_curves[i].type;
				*field_len = ec_curves[i].field_len;
				r = 0;
			}
		if (r != 0) {
			kagi_log_err("certificate key: curve %s not allowed", g);
			goto out;
		}
	} else if (kt == CKK_RSA && EVP_PKEY_is_a(pk, "RSA")) {
		int bits = EVP_PKEY_get_bits(pk);

		*field_len = 0;
		if (bits == 2048)
			*type = HSM_KEY_RSA_2048;
		else if (bits == 3072)
			*type = HSM_KEY_RSA_3072;
		else {
			kagi_log_err("certificate key: RSA-%d not allowed",
			    bits);
			r = KAGI_ERR_INVALID;
			goto out;
		}
	} else {
		kagi_log_err("certificate key type does not match the private "
		    "key");
		r = KAGI_ERR_INVALID;
		goto out;
	}
	if (EVP_PKEY_up_ref(pk) != 1) {
		r = KAGI_ERR_INTERNAL;
		goto out;
	}
	*out = pk;
	r = 0;
out:
	X509_free(x);
	free(der);
	return r;
}

/*
 * Complete a key object for the private key priv: its type and public key
 * from the public key object with the same CKA_ID, else the private key's
 * own public attributes (RSA), else a certificate with that CKA_ID.
 */
static int
key_load(struct hsm_session *s, CK_OBJECT_HANDLE priv, const char *label,
    struct hsm_key **out)
{
	struct hsm_key *k = NULL;
	CK_KEY_TYPE kt = 0;
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_OBJECT_HANDLE pubo = CK_INVALID_HANDLE;
	CK_ULONG n = 0;
	uint8_t *id = NULL;
	size_t idlen = 0;
	int r = KAGI_ERR_INTERNAL;

	*out = NULL;
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	k->s = s;
	k->priv = priv;
	if ((r = attr_get_ulong(s, priv, CKA_KEY_TYPE, &kt)) != 0)
		goto out;
	r = attr_get(s, priv, CKA_ID, &id, &idlen);
	if (r != 0 && r != KAGI_ERR_NOT_FOUND)
		goto out;
	if (idlen > 0) {
		CK_ATTRIBUTE t[] = {
			{ CKA_CLASS, &cls, sizeof(cls) },
			{ CKA_KEY_TYPE, &kt, sizeof(kt) },
			{ CKA_ID, id, (CK_ULONG)idlen },
		};

		if ((r = find_objects(s, t, 3, &pubo, 1, &n)) != 0)
			goto out;
	} else {
		CK_ATTRIBUTE t[] = {
			{ CKA_CLASS, &cls, sizeof(cls) },
			{ CKA_KEY_TYPE, &kt, sizeof(kt) },
			{ CKA_LABEL, (CK_VOID_PTR)label,
			    (CK_ULONG)strlen(label) },
		};

		if ((r = find_objects(s, t, 3, &pubo, 1, &n)) != 0)
			goto out;
	}
	if (n > 1) {
		kagi_log_err("key \"%s\": several public key objects share its "
		    "CKA_ID", label);
		r = KAGI_ERR_CONFLICT;
		goto out;
	}
	if (n == 1)
		r = pub_from_object(s, pubo, kt, &k->pub, &k->type,
		    &k->field_len);
	else if (kt == CKK_RSA)
		r = pub_from_object(s, priv, kt, &k->pub, &k->type,
		    &k->field_len);
	else
		r = KAGI_ERR_NOT_FOUND;
	if (r == KAGI_ERR_NOT_FOUND && idlen > 0)
		r = pub_from_cert(s, id, idlen, kt, &k->pub, &k->type,
		    &k->field_len);
	if (r != 0) {
		if (r == KAGI_ERR_NOT_FOUND)
			kagi_log_err("key \"%s\": no public key or "
			    "certificate found", label);
		goto out;
	}
	*out = k;
	k = NULL;
	r = 0;
out:
	free(id);
	hsm_key_free(k);
	return r;
}

int
hsm_key_find(struct hsm_session *s, const char *label, struct hsm_key **out)
{
	CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
	CK_ULONG n = 0;
	int r = KAGI_ERR_INTERNAL;

	if (out == NULL)
		return KAGI_ERR_INVALID;
	*out = NULL;
	if (s == NULL || label == NULL || *label == '\0' ||
	    strlen(label) > KEY_LABEL_MAX)
		return KAGI_ERR_INVALID;
	if ((r = find_private_by_label(s, label, &o, &n)) != 0)
		return r;
	if (n == 0) {
		kagi_log_err("token \"%s\": no private key \"%s\"", s->label,
		    label);
		return KAGI_ERR_NOT_FOUND;
	}
	if (n > 1) {
		kagi_log_err("token \"%s\": several private keys \"%s\"",
		    s->label, label);
		return KAGI_ERR_CONFLICT;
	}
	return key_load(s, o, label, out);
}

int
hsm_key_generate(struct hsm_session *s, const char *label,
    enum hsm_key_type type, struct hsm_key **out)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
	CK_ULONG n = 0, bits = 0, npub = 0, i;
	CK_MECHANISM mech = { 0, NULL, 0 };
	uint8_t id[KEY_ID_LEN];
	const uint8_t *oid = NULL;
	size_t oidlen = 0;
	CK_RV rv;
	int r = KAGI_ERR_INTERNAL;
	CK_ATTRIBUTE pubt[8];
	CK_ATTRIBUTE privt[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_SIGN, &yes, sizeof(yes) },
		{ CKA_DECRYPT, &no, sizeof(no) },
		{ CKA_UNWRAP, &no, sizeof(no) },
		{ CKA_DERIVE, &no, sizeof(no) },
		{ CKA_LABEL, (CK_VOID_PTR)label, 0 },
		{ CKA_ID, id, sizeof(id) },
	};

	if (out == NULL)
		return KAGI_ERR_INVALID;
	*out = NULL;
	if (s == NULL || label == NULL || *label == '\0' ||
	    strlen(label) > KEY_LABEL_MAX) {
		kagi_log_err("key label must be 1..%d bytes", KEY_LABEL_MAX);
		return KAGI_ERR_INVALID;
	}
	for (i = 0; label[i] != '\0'; i++)
		if ((unsigned char)label[i] < 0x20 || label[i] == 0x7f) {
			kagi_log_err("key label has control characters");
			return KAGI_ERR_INVALID;
		}
	privt[8].ulValueLen = (CK_ULONG)strlen(label);

	switch (type) {
	case HSM_KEY_EC_P256:
		oid = oid_p256;
		oidlen = sizeof(oid_p256);
		break;
	case HSM_KEY_EC_P384:
		oid = oid_p384;
		oidlen = sizeof(oid_p384);
		break;
	case HSM_KEY_RSA_2048:
		bits = 2048;
		break;
	case HSM_KEY_RSA_3072:
		bits = 3072;
		break;
	default:
		kagi_log_err("unknown key type %d", (int)type);
		return KAGI_ERR_INVALID;
	}

	if ((r = find_private_by_label(s, label, &o, &n)) != 0)
		return r;
	if (n != 0) {
		kagi_log_err("token \"%s\": a key \"%s\" exists already",
		    s->label, label);
		return KAGI_ERR_EXISTS;
	}
	if ((r = kagi_random_bytes(id, sizeof(id))) != 0)
		return r;

	pubt[npub++] = (CK_ATTRIBUTE){ CKA_TOKEN, &yes, sizeof(yes) };
	pubt[npub++] = (CK_ATTRIBUTE){ CKA_PRIVATE, &no, sizeof(no) };
	pubt[npub++] = (CK_ATTRIBUTE){ CKA_VERIFY, &yes, sizeof(yes) };
	pubt[npub++] = (CK_ATTRIBUTE){ CKA_ENCRYPT, &no, sizeof(no) };
	pubt[npub++] = (CK_ATTRIBUTE){ CKA_LABEL, (CK_VOID_PTR)label,
	    (CK_ULONG)strlen(label) };
	pubt[npub++] = (CK_ATTRIBUTE){ CKA_ID, id, sizeof(id) };
	if (oid != NULL) {
		mech.mechanism = CKM_EC_KEY_PAIR_GEN;
		pubt[npub++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS,
		    (CK_VOID_PTR)oid, (CK_ULONG)oidlen };
	} else {
		mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		pubt[npub++] = (CK_ATTRIBUTE){ CKA_MODULUS_BITS, &bits,
		    sizeof(bits) };
		pubt[npub++] = (CK_ATTRIBUTE){ CKA_PUBLIC_EXPONENT,
		    (CK_VOID_PTR)rsa_e65537, sizeof(rsa_e65537) };
	}

	rv = s->h->f->C_GenerateKeyPair(s->sh, &mech, pubt, npub, privt,
	    (CK_ULONG)(sizeof(privt) / sizeof(privt[0])), &pub, &priv);
	if (rv != CKR_OK) {
		r = hsm_ckr_err(rv, "C_GenerateKeyPair");
		goto out;
	}
	if ((r = key_load(s, priv, label, out)) != 0)
		goto out;
	if ((*out)->type != type) {
		kagi_log_err("generated key has the wrong type");
		hsm_key_free(*out);
		*out = NULL;
		r = KAGI_ERR_HSM;
		goto out;
	}
	kagi_log_info("event=hsm_key_generate token=\"%s\" key=\"%s\" "
	    "type=%s", s->label, label, type_name(type));
	r = 0;
out:
	if (r != 0) {
		/* Leave no half-made key pair behind. */
		if (priv != CK_INVALID_HANDLE)
			(void)s->h->f->C_DestroyObject(s->sh, priv);
		if (pub != CK_INVALID_HANDLE)
			(void)s->h->f->C_DestroyObject(s->sh, pub);
	}
	return r;
}

void
hsm_key_free(struct hsm_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pub);
	free(k);
}

enum hsm_key_type
hsm_key_type(const struct hsm_key *k)
{
	return k->type;
}

int
hsm_key_public(const struct hsm_key *k, EVP_PKEY **out)
{
	if (out == NULL)
		return KAGI_ERR_INVALID;
	*out = NULL;
	if (k == NULL || k->pub == NULL)
		return KAGI_ERR_INVALID;
	if (EVP_PKEY_up_ref(k->pub) != 1)
		return KAGI_ERR_INTERNAL;
	*out = k->pub;
	return 0;
}

int
hsm_key_is_protected(const struct hsm_key *k, int *sensitive,
    int *extractable)
{
	int sens = 0, ext = 1, r;

	/* Fail closed: a caller that ignores the error sees "exposed". */
	if (sensitive != NULL)
		*sensitive = 0;
	if (extractable != NULL)
		*extractable = 1;
	if (k == NULL || sensitive == NULL || extractable == NULL)
		return KAGI_ERR_INVALID;
	if ((r = attr_get_bool(k->s, k->priv, CKA_SENSITIVE, &sens)) != 0 ||
	    (r = attr_get_bool(k->s, k->priv, CKA_EXTRACTABLE, &ext)) != 0)
		return r == KAGI_ERR_NOT_FOUND ? KAGI_ERR_HSM : r;
	*sensitive = sens;
	*extractable = ext;
	return 0;
}

/* Raw r||s (each field_len bytes) to DER ECDSA-Sig-Value (RFC 5480). */
static int
ecdsa_raw_to_der(const uint8_t *raw, size_t rawlen, size_t field_len,
    uint8_t *sig, size_t *siglen)
{
	ECDSA_SIG *es = NULL;
	BIGNUM *br = NULL, *bs = NULL;
	unsigned char *der = NULL;
	int dlen, r = KAGI_ERR_INTERNAL;

	if (rawlen != 2 * field_len) {
		kagi_log_err("CKM_ECDSA: %zu signature bytes, expected %zu",
		    rawlen, 2 * field_len);
		r = KAGI_ERR_HSM;
		goto out;
	}
	if ((es = ECDSA_SIG_new()) == NULL ||
	    (br = BN_bin2bn(raw, (int)field_len, NULL)) == NULL ||
	    (bs = BN_bin2bn(raw + field_len, (int)field_len, NULL)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if (ECDSA_SIG_set0(es, br, bs) != 1) {
		r = KAGI_ERR_INTERNAL;
		goto out;
	}
	br = bs = NULL; /* owned by es */
	if ((dlen = i2d_ECDSA_SIG(es, &der)) <= 0) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if ((size_t)dlen > *siglen) {
		r = KAGI_ERR_LIMIT;
		goto out;
	}
	memcpy(sig, der, (size_t)dlen);
	*siglen = (size_t)dlen;
	r = 0;
out:
	OPENSSL_free(der);
	BN_free(br);
	BN_free(bs);
	ECDSA_SIG_free(es);
	return r;
}

int
hsm_key_sign(struct hsm_key *k, const EVP_MD *md, const uint8_t *digest,
    size_t dlen, uint8_t *sig, size_t *siglen)
{
	uint8_t in[128];
	uint8_t raw[SIG_RAW_MAX];
	const uint8_t *prefix = NULL;
	size_t plen = 0, inlen = 0, cap, need;
	CK_ULONG rawlen = sizeof(raw);
	CK_MECHANISM mech = { 0, NULL, 0 };
	CK_RV rv;
	int nid, mdsize, r = KAGI_ERR_INTERNAL;

	if (siglen == NULL)
		return KAGI_ERR_INVALID;
	cap = *siglen;
	*siglen = 0;
	if (k == NULL || md == NULL || digest == NULL || sig == NULL ||
	    k->pub == NULL)
		return KAGI_ERR_INVALID;
	nid = EVP_MD_get_type(md);
	mdsize = EVP_MD_get_size(md);
	switch (nid) {
	case NID_sha256:
		prefix = di_sha256;
		plen = sizeof(di_sha256);
		break;
	case NID_sha384:
		prefix = di_sha384;
		plen = sizeof(di_sha384);
		break;
	case NID_sha512:
		prefix = di_sha512;
		plen = sizeof(di_sha512);
		break;
	default:
		kagi_log_err("digest %s not allowed (SHA-256/384/512)",
		    OBJ_nid2sn(nid));
		return KAGI_ERR_INVALID;
	}
	if (mdsize <= 0 || dlen != (size_t)mdsize) {
		kagi_log_err("digest length %zu does not match %s", dlen,
		    OBJ_nid2sn(nid));
		return KAGI_ERR_INVALID;
	}
	/* The largest signature this key can give (DER ECDSA or RSA). */
	need = (size_t)EVP_PKEY_get_size(k->pub);
	if (cap < need) {
		kagi_log_err("signature buffer %zu bytes, need %zu", cap, need);
		return KAGI_ERR_LIMIT;
	}
	if (k->type == HSM_KEY_EC_P256 || k->type == HSM_KEY_EC_P384) {
		mech.mechanism = CKM_ECDSA;
		memcpy(in, digest, dlen);
		inlen = dlen;
	} else {
		mech.mechanism = CKM_RSA_PKCS;
		memcpy(in, prefix, plen);
		memcpy(in + plen, digest, dlen);
		inlen = plen + dlen;
	}
	if ((rv = k->s->h->f->C_SignInit(k->s->sh, &mech, k->priv)) != CKR_OK) {
		r = hsm_ckr_err(rv, "C_SignInit");
		goto out;
	}
	/* raw holds any signature we allow, so no CKR_BUFFER_TOO_SMALL. */
	rv = k->s->h->f->C_Sign(k->s->sh, in, (CK_ULONG)inlen, raw, &rawlen);
	if (rv != CKR_OK) {
		r = hsm_ckr_err(rv, "C_Sign");
		goto out;
	}
	if (rawlen > sizeof(raw)) {
		r = KAGI_ERR_HSM;
		goto out;
	}
	if (mech.mechanism == CKM_ECDSA) {
		size_t outlen = cap;

		if ((r = ecdsa_raw_to_der(raw, rawlen, k->field_len, sig,
		    &outlen)) != 0)
			goto out;
		*siglen = outlen;
	} else {
		if (rawlen != need) {
			kagi_log_err("CKM_RSA_PKCS: %lu signature bytes, "
			    "expected %zu", rawlen, need);
			r = KAGI_ERR_HSM;
			goto out;
		}
		memcpy(sig, raw, rawlen);
		*siglen = rawlen;
	}
	r = 0;
out:
	OPENSSL_cleanse(in, sizeof(in));
	return r;
}

/*
 * Cards (kagi-cardd, tests/lib/cardtoken): certificate objects and keys by
 * CKA_ID.  Certificate bytes read from a card are untrusted: each value is
 * capped (HSM_ATTR_MAX) and must be exactly one DER certificate.
 */
void
hsm_cert_list_free(struct hsm_cert *c, size_t n)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(c[i].der);
		free(c[i].id);
		free(c[i].label);
	}
	free(c);
}

static int
der_is_one_cert(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x;

	if (len == 0 || len > HSM_ATTR_MAX)
		return 0;
	x = d2i_X509(NULL, &p, (long)len);
	if (x == NULL)
		return 0;
	X509_free(x);
	return p == der + len;
}

int
hsm_cert_list(struct hsm_session *s, struct hsm_cert **out, size_t *n)
{
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE ct = CKC_X_509;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_CERTIFICATE_TYPE, &ct, sizeof(ct) },
	};
	CK_OBJECT_HANDLE objs[HSM_CERTS_MAX + 1];
	CK_ULONG got = 0, i;
	struct hsm_cert *list = NULL;
	uint8_t *lab = NULL;
	size_t k = 0, lablen = 0;
	CK_RV rv;
	int r = KAGI_ERR_INTERNAL;

	if (out == NULL || n == NULL)
		return KAGI_ERR_INVALID;
	*out = NULL;
	*n = 0;
	if (s == NULL)
		return KAGI_ERR_INVALID;
	if ((rv = s->h->f->C_FindObjectsInit(s->sh, t, 2)) != CKR_OK)
		return hsm_ckr_err(rv, "C_FindObjectsInit");
	rv = s->h->f->C_FindObjects(s->sh, objs, HSM_CERTS_MAX + 1, &got);
	(void)s->h->f->C_FindObjectsFinal(s->sh);
	if (rv != CKR_OK)
		return hsm_ckr_err(rv, "C_FindObjects");
	if (got > HSM_CERTS_MAX) {
		kagi_log_err("token \"%s\": more than %d certificates",
		    s->label, HSM_CERTS_MAX);
		return KAGI_ERR_LIMIT;
	}
	if ((list = calloc(got + 1, sizeof(*list))) == NULL)
		return KAGI_ERR_NOMEM;
	for (i = 0; i < got; i++) {
		struct hsm_cert *c = &list[k];

		if ((r = attr_get(s, objs[i], CKA_VALUE, &c->der,
		    &c->der_len)) != 0)
			goto out;
		k++;
		if (!der_is_one_cert(c->der, c->der_len)) {
			kagi_log_err("token \"%s\": a certificate object is "
			    "not one DER certificate", s->label);
			r = KAGI_ERR_FORMAT;
			goto out;
		}
		r = attr_get(s, objs[i], CKA_ID, &c->id, &c->id_len);
		if (r != 0 && r != KAGI_ERR_NOT_FOUND)
			goto out;
		if (c->id_len == 0) {
			free(c->id);
			c->id = NULL;
		}
		r = attr_get(s, objs[i], CKA_LABEL, &lab, &lablen);
		if (r != 0 && r != KAGI_ERR_NOT_FOUND)
			goto out;
		if (lab != NULL && lablen > 0 && lablen <= KEY_LABEL_MAX &&
		    memchr(lab, '\0', lablen) == NULL) {
			/* attr_get allocated one spare byte: NUL-terminated. */
			c->label = (char *)lab;
			lab = NULL;
		}
		free(lab);
		lab = NULL;
	}
	*out = list;
	*n = k;
	list = NULL;
	r = 0;
out:
	free(lab);
	hsm_cert_list_free(list, k);
	return r;
}

int
hsm_cert_write(struct hsm_session *s, const char *label, const uint8_t *id,
    size_t id_len, const uint8_t *der, size_t der_len)
{
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE ct = CKC_X_509;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
	X509 *x = NULL;
	uint8_t *subj = NULL;
	const unsigned char *p = der;
	int slen;
	CK_RV rv;
	int r = KAGI_ERR_INTERNAL;

	if (s == NULL || label == NULL || *label == '\0' ||
	    strlen(label) > KEY_LABEL_MAX || id == NULL || id_len == 0 ||
	    id_len > 255 || der == NULL || der_len == 0 ||
	    der_len > HSM_ATTR_MAX)
		return KAGI_ERR_INVALID;
	x = d2i_X509(NULL, &p, (long)der_len);
	if (x == NULL || p != der + der_len) {
		kagi_log_err("certificate to write is not one DER certificate");
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	if ((slen = i2d_X509_NAME(X509_get_subject_name(x), &subj)) <= 0) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	{
		CK_ATTRIBUTE t[] = {
			{ CKA_CLASS, &cls, sizeof(cls) },
			{ CKA_CERTIFICATE_TYPE, &ct, sizeof(ct) },
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_PRIVATE, &no, sizeof(no) },
			{ CKA_LABEL, (CK_VOID_PTR)label,
			    (CK_ULONG)strlen(label) },
			{ CKA_ID, (CK_VOID_PTR)id, (CK_ULONG)id_len },
			{ CKA_SUBJECT, subj, (CK_ULONG)slen },
			{ CKA_VALUE, (CK_VOID_PTR)der, (CK_ULONG)der_len },
		};

		rv = s->h->f->C_CreateObject(s->sh, t,
		    (CK_ULONG)(sizeof(t) / sizeof(t[0])), &o);
		if (rv != CKR_OK) {
			r = hsm_ckr_err(rv, "C_CreateObject(certificate)");
			goto out;
		}
	}
	kagi_log_info("event=hsm_cert_write token=\"%s\" label=\"%s\"",
	    s->label, label);
	r = 0;
out:
	OPENSSL_free(subj);
	X509_free(x);
	return r;
}

int
hsm_key_find_id(struct hsm_session *s, const uint8_t *id, size_t id_len,
    struct hsm_key **out)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, (CK_VOID_PTR)id, (CK_ULONG)id_len },
	};
	CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
	CK_ULONG n = 0;
	int r;

	if (out == NULL)
		return KAGI_ERR_INVALID;
	*out = NULL;
	if (s == NULL || id == NULL || id_len == 0 || id_len > 255)
		return KAGI_ERR_INVALID;
	if ((r = find_objects(s, t, 2, &o, 1, &n)) != 0)
		return r;
	if (n == 0)
		return KAGI_ERR_NOT_FOUND;
	if (n > 1) {
		kagi_log_err("token \"%s\": several private keys share a "
		    "CKA_ID", s->label);
		return KAGI_ERR_CONFLICT;
	}
	return key_load(s, o, "(by id)", out);
}

int
hsm_key_id(const struct hsm_key *k, uint8_t **id, size_t *id_len)
{
	int r;

	if (id == NULL || id_len == NULL)
		return KAGI_ERR_INVALID;
	*id = NULL;
	*id_len = 0;
	if (k == NULL)
		return KAGI_ERR_INVALID;
	if ((r = attr_get(k->s, k->priv, CKA_ID, id, id_len)) != 0)
		return r;
	if (*id_len == 0) {
		free(*id);
		*id = NULL;
		return KAGI_ERR_NOT_FOUND;
	}
	return 0;
}
