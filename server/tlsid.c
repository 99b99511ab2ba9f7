/*
 * The bootstrap TLS identity written by `kagid --init`: a software ECDSA
 * P-256 CA, kagid's server certificate and the admin client certificate for
 * `kagi`.  This CA is a software bootstrap until the HSM-backed CA lands
 * (docs/API.md, "TLS identity").  OpenSSL 3 non-deprecated APIs only.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "kagi/log.h"
#include "kagi/secmem.h"
#include "kagi/util.h"
#include "server_int.h"

int
tlsid_key_new(EVP_PKEY **out)
{
	EVP_PKEY *k = NULL;

	*out = NULL;
	k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (k == NULL) {
		kagi_log_err("EC P-256 key generation failed");
		return KAGI_ERR_INTERNAL;
	}
	*out = k;
	return 0;
}

/* RFC 5280 §4.1.2.2: positive, at most 20 octets; we use 128 random bits. */
static int
random_serial(X509 *x)
{
	int r = KAGI_ERR_INTERNAL;
	uint8_t b[16];
	BIGNUM *bn = NULL;

	if ((r = kagi_random_bytes(b, sizeof(b))) != 0)
		goto out;
	b[0] &= 0x7f;
	b[0] |= 0x01; /* never zero, never shorter than it claims */
	r = KAGI_ERR_INTERNAL;
	if ((bn = BN_bin2bn(b, (int)sizeof(b), NULL)) == NULL)
		goto out;
	if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto out;
	r = 0;
out:
	BN_free(bn);
	return r;
}

static int
add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = NULL;
	int ok;

	ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
	if (ext == NULL) {
		kagi_log_err("cannot build extension %s=%s", OBJ_nid2sn(nid),
		    value);
		return KAGI_ERR_INTERNAL;
	}
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : KAGI_ERR_INTERNAL;
}

int
tlsid_cert_new(enum tlsid_profile prof, const char *cn, EVP_PKEY *pub,
    X509 *issuer_cert, EVP_PKEY *issuer_key, int64_t now, int days,
    const char *san, X509 **out)
{
	int r = KAGI_ERR_INTERNAL;
	X509 *x = NULL;
	X509_NAME *name = NULL;
	X509V3_CTX ctx;
	EVP_PKEY *signer = issuer_key;

	*out = NULL;
	if (cn == NULL || pub == NULL || days <= 0)
		return KAGI_ERR_INVALID;
	if ((issuer_cert == NULL) != (issuer_key == NULL))
		return KAGI_ERR_INVALID;
	if (issuer_cert == NULL) {
		if (prof != TLSID_CA)
			return KAGI_ERR_INVALID;
		signer = pub; /* self-signed: pub holds the private key too */
	}
	if ((x = X509_new()) == NULL)
		goto out;
	if (!X509_set_version(x, X509_VERSION_3))
		goto out;
	if ((r = random_serial(x)) != 0)
		goto out;
	r = KAGI_ERR_INTERNAL;
	if (ASN1_TIME_set(X509_getm_notBefore(x), (time_t)now) == NULL)
		goto out;
	if (ASN1_TIME_adj(X509_getm_notAfter(x), (time_t)now, days, 0) == NULL)
		goto out;
	if (!X509_set_pubkey(x, pub))
		goto out;
	if ((name = X509_NAME_new()) == NULL)
		goto out;
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
	    (const unsigned char *)"kagi", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0))
		goto out;
	if (!X509_set_subject_name(x, name))
		goto out;
	if (!X509_set_issuer_name(x, issuer_cert != NULL ?
	    X509_get_subject_name(issuer_cert) : name))
		goto out;

	X509V3_set_ctx(&ctx, issuer_cert != NULL ? issuer_cert : x, x, NULL,
	    NULL, 0);
	switch (prof) {
	case TLSID_CA:
		if ((r = add_ext(x, &ctx, NID_basic_constraints,
		    "critical,CA:TRUE")) != 0 ||
		    (r = add_ext(x, &ctx, NID_key_usage,
		    "critical,keyCertSign,cRLSign")) != 0)
			goto out;
		break;
	case TLSID_SERVER:
		if ((r = add_ext(x, &ctx, NID_basic_constraints,
		    "critical,CA:FALSE")) != 0 ||
		    (r = add_ext(x, &ctx, NID_key_usage,
		    "critical,digitalSignature")) != 0 ||
		    (r = add_ext(x, &ctx, NID_ext_key_usage,
		    "serverAuth")) != 0)
			goto out;
		if (san != NULL && (r = add_ext(x, &ctx,
		    NID_subject_alt_name, san)) != 0)
			goto out;
		break;
	case TLSID_CLIENT:
		if ((r = add_ext(x, &ctx, NID_basic_constraints,
		    "critical,CA:FALSE")) != 0 ||
		    (r = add_ext(x, &ctx, NID_key_usage,
		    "critical,digitalSignature")) != 0 ||
		    (r = add_ext(x, &ctx, NID_ext_key_usage,
		    "clientAuth")) != 0)
			goto out;
		break;
	}
	if ((r = add_ext(x, &ctx, NID_subject_key_identifier, "hash")) != 0)
		goto out;
	if ((r = add_ext(x, &ctx, NID_authority_key_identifier,
	    "keyid:always")) != 0)
		goto out;
	r = KAGI_ERR_INTERNAL;
	if (X509_sign(x, signer, EVP_sha256()) <= 0) {
		kagi_log_err("certificate signing failed");
		goto out;
	}
	*out = x;
	x = NULL;
	r = 0;
out:
	X509_NAME_free(name);
	X509_free(x);
	return r;
}

int
tlsid_key_pem(EVP_PKEY *k, char **pem, size_t *len)
{
	int r = KAGI_ERR_INTERNAL;
	BIO *b = NULL;
	char *p = NULL, *data = NULL;
	long n;

	*pem = NULL;
	*len = 0;
	if ((b = BIO_new(BIO_s_secmem())) == NULL)
		goto out;
	if (!PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL))
		goto out;
	n = BIO_get_mem_data(b, &data);
	if (n <= 0)
		goto out;
	if ((p = kagi_secure_alloc((size_t)n + 1)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	memcpy(p, data, (size_t)n);
	p[n] = '\0';
	*pem = p;
	*len = (size_t)n;
	r = 0;
out:
	BIO_free(b);
	return r;
}

int
tlsid_cert_pem(X509 *x, char **pem, size_t *len)
{
	int r = KAGI_ERR_INTERNAL;
	BIO *b = NULL;
	char *p = NULL, *data = NULL;
	long n;

	*pem = NULL;
	*len = 0;
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		goto out;
	if (!PEM_write_bio_X509(b, x))
		goto out;
	n = BIO_get_mem_data(b, &data);
	if (n <= 0)
		goto out;
	if ((p = malloc((size_t)n + 1)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	memcpy(p, data, (size_t)n);
	p[n] = '\0';
	*pem = p;
	*len = (size_t)n;
	r = 0;
out:
	BIO_free(b);
	return r;
}

int
tlsid_cert_fingerprint(X509 *x, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	out[0] = '\0';
	if (!X509_digest(x, EVP_sha256(), md, &n) || n != 32)
		return KAGI_ERR_INTERNAL;
	kagi_hex_encode(md, n, out);
	return 0;
}
