/*
 * kagi-hsm: a minimal in-process OpenSSL 3 provider so that OpenSSL's own
 * X.509 / CRL / OCSP signing code (X509_sign_ctx, X509_CRL_sign_ctx,
 * OCSP_basic_sign_ctx) signs with a key that never leaves the HSM.
 *
 * It lives in its own OSSL_LIB_CTX holding only this provider.  Loading it
 * into the default library context would make a plain fetch of "ECDSA" or
 * "RSA" ambiguous for every other key in the process (kagid's TLS keys);
 * in a private context every fetch during signing lands here.
 *
 *   KEYMGMT "EC", "RSA": key data = a borrowed struct hsm_key plus its public
 *     key (a default-context EVP_PKEY).  Created only through import of the
 *     private parameter "kagi-hsm-key" (an octet pointer) by
 *     ca_signer_from_hsm.  Export gives the public part only (what
 *     X509_check_private_key / EVP_PKEY_eq need); get_params passes bits,
 *     security-bits, max-size and default-digest through from the public key.
 *   SIGNATURE "ECDSA", "RSA": hashes in software (the default context's
 *     SHA-2) and calls hsm_key_sign with the digest.  SoftHSM2 has no
 *     combined ECDSA-SHA256 mechanism, so this is always hash-then-CKM_ECDSA;
 *     hsm_key_sign returns the DER ECDSA-Sig-Value.  get_ctx_params answers
 *     "algorithm-id" with the DER AlgorithmIdentifier (ecdsa-with-SHA256/384/
 *     512, sha256/384/512WithRSAEncryption) so ASN1_item_sign_ctx can fill in
 *     signatureAlgorithm, and "pad-mode" (PKCS#1 v1.5 only) for RSA.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "kagi/ca.h"
#include "kagi/hsm.h"
#include "kagi/log.h"

#include "ca_int.h"

#define KH_PROV_NAME "kagi-hsm"
#define KH_PARAM_KEY "kagi-hsm-key"
#define KH_MAX_SIG 1100 /* RSA-8192 is 1024 bytes; ECDSA P-384 DER is 104 */

struct kh_key {
	int is_ec;
	struct hsm_key *hk;  /* borrowed; must outlive the EVP_PKEY */
	EVP_PKEY *pub;       /* default-context public key */
	size_t maxsig;
};

struct kh_sig {
	int is_ec;
	struct kh_key *key;  /* borrowed from the EVP_PKEY */
	EVP_MD *md;
	EVP_MD_CTX *mdctx;
};

static OSSL_LIB_CTX *g_libctx;
static OSSL_PROVIDER *g_prov;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* ---- key management --------------------------------------------------- */

static struct kh_key *
kh_key_new(int is_ec)
{
	struct kh_key *k = calloc(1, sizeof(*k));

	if (k != NULL)
		k->is_ec = is_ec;
	return k;
}

static void *
kh_ec_new(void *provctx)
{
	(void)provctx;
	return kh_key_new(1);
}

static void *
kh_rsa_new(void *provctx)
{
	(void)provctx;
	return kh_key_new(0);
}

static void
kh_key_free(void *kd)
{
	struct kh_key *k = kd;

	if (k == NULL)
		return;
	EVP_PKEY_free(k->pub);
	free(k);
}

static int
kh_key_has(const void *kd, int selection)
{
	const struct kh_key *k = kd;

	if (k == NULL)
		return 0;
	if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0)
		return 1;
	/* The private half is in the HSM; the public half is cached. */
	return k->hk != NULL && k->pub != NULL;
}

static int
kh_key_match(const void *kd1, const void *kd2, int selection)
{
	const struct kh_key *a = kd1, *b = kd2;

	(void)selection;
	if (a == NULL || b == NULL || a->pub == NULL || b->pub == NULL)
		return 0;
	return EVP_PKEY_eq(a->pub, b->pub) == 1;
}

static int
kh_key_import(void *kd, int selection, const OSSL_PARAM params[])
{
	struct kh_key *k = kd;
	const OSSL_PARAM *p;
	const void *ptr = NULL;
	size_t plen = 0;
	struct hsm_key *hk;
	enum hsm_key_type t;
	EVP_PKEY *pub = NULL;

	(void)selection;
	if (k == NULL || k->hk != NULL)
		return 0;
	/* Only our own constructor can make a key: no software keys here. */
	p = OSSL_PARAM_locate_const(params, KH_PARAM_KEY);
	if (p == NULL || !OSSL_PARAM_get_octet_ptr(p, &ptr, &plen) ||
	    ptr == NULL)
		return 0;
	hk = (struct hsm_key *)(uintptr_t)ptr;
	t = hsm_key_type(hk);
	if ((t == HSM_KEY_EC_P256 || t == HSM_KEY_EC_P384) != (k->is_ec != 0))
		return 0;
	if (hsm_key_public(hk, &pub) != 0 || pub == NULL)
		return 0;
	k->hk = hk;
	k->pub = pub;
	k->maxsig = (size_t)EVP_PKEY_get_size(pub);
	if (k->maxsig == 0 || k->maxsig > KH_MAX_SIG) {
		k->hk = NULL;
		k->pub = NULL;
		EVP_PKEY_free(pub);
		return 0;
	}
	return 1;
}

static const OSSL_PARAM kh_import_types_tbl[] = {
	OSSL_PARAM_octet_ptr(KH_PARAM_KEY, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
kh_key_import_types(int selection)
{
	(void)selection;
	return kh_import_types_tbl;
}

static const OSSL_PARAM kh_ec_export_tbl[] = {
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM kh_rsa_export_tbl[] = {
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
kh_ec_export_types(int selection)
{
	(void)selection;
	return kh_ec_export_tbl;
}

static const OSSL_PARAM *
kh_rsa_export_types(int selection)
{
	(void)selection;
	return kh_rsa_export_tbl;
}

/* Public part only, whatever was asked for: no private bytes exist here. */
static int
kh_key_export(void *kd, int selection, OSSL_CALLBACK *cb, void *cbarg)
{
	struct kh_key *k = kd;
	OSSL_PARAM *params = NULL;
	int ok;

	(void)selection;
	if (k == NULL || k->pub == NULL)
		return 0;
	if (EVP_PKEY_todata(k->pub, EVP_PKEY_PUBLIC_KEY, &params) != 1)
		return 0;
	ok = cb(params, cbarg);
	OSSL_PARAM_free(params);
	return ok;
}

static int
kh_key_get_params(void *kd, OSSL_PARAM params[])
{
	struct kh_key *k = kd;
	OSSL_PARAM *p;

	if (k == NULL || k->pub == NULL)
		return 0;
	if (!EVP_PKEY_get_params(k->pub, params))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_DEFAULT_DIGEST);
	if (p != NULL && k->is_ec && EVP_PKEY_get_bits(k->pub) == 384 &&
	    !OSSL_PARAM_set_utf8_string(p, "SHA384"))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_MAX_SIZE);
	if (p != NULL && !OSSL_PARAM_set_int(p, (int)k->maxsig))
		return 0;
	return 1;
}

static const OSSL_PARAM kh_gettable_tbl[] = {
	OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
kh_key_gettable_params(void *provctx)
{
	(void)provctx;
	return kh_gettable_tbl;
}

static const char *
kh_ec_query_name(int op)
{
	return op == OSSL_OP_SIGNATURE ? "ECDSA" : NULL;
}

static const char *
kh_rsa_query_name(int op)
{
	return op == OSSL_OP_SIGNATURE ? "RSA" : NULL;
}

#define FN(id, f) { id, (void (*)(void))(f) }

static const OSSL_DISPATCH kh_ec_keymgmt[] = {
	FN(OSSL_FUNC_KEYMGMT_NEW, kh_ec_new),
	FN(OSSL_FUNC_KEYMGMT_FREE, kh_key_free),
	FN(OSSL_FUNC_KEYMGMT_HAS, kh_key_has),
	FN(OSSL_FUNC_KEYMGMT_MATCH, kh_key_match),
	FN(OSSL_FUNC_KEYMGMT_IMPORT, kh_key_import),
	FN(OSSL_FUNC_KEYMGMT_IMPORT_TYPES, kh_key_import_types),
	FN(OSSL_FUNC_KEYMGMT_EXPORT, kh_key_export),
	FN(OSSL_FUNC_KEYMGMT_EXPORT_TYPES, kh_ec_export_types),
	FN(OSSL_FUNC_KEYMGMT_GET_PARAMS, kh_key_get_params),
	FN(OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, kh_key_gettable_params),
	FN(OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, kh_ec_query_name),
	{ 0, NULL }
};

static const OSSL_DISPATCH kh_rsa_keymgmt[] = {
	FN(OSSL_FUNC_KEYMGMT_NEW, kh_rsa_new),
	FN(OSSL_FUNC_KEYMGMT_FREE, kh_key_free),
	FN(OSSL_FUNC_KEYMGMT_HAS, kh_key_has),
	FN(OSSL_FUNC_KEYMGMT_MATCH, kh_key_match),
	FN(OSSL_FUNC_KEYMGMT_IMPORT, kh_key_import),
	FN(OSSL_FUNC_KEYMGMT_IMPORT_TYPES, kh_key_import_types),
	FN(OSSL_FUNC_KEYMGMT_EXPORT, kh_key_export),
	FN(OSSL_FUNC_KEYMGMT_EXPORT_TYPES, kh_rsa_export_types),
	FN(OSSL_FUNC_KEYMGMT_GET_PARAMS, kh_key_get_params),
	FN(OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, kh_key_gettable_params),
	FN(OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, kh_rsa_query_name),
	{ 0, NULL }
};

/* ---- signature ---------------------------------------------------------- */

static struct kh_sig *
kh_sig_new(int is_ec)
{
	struct kh_sig *s = calloc(1, sizeof(*s));

	if (s != NULL)
		s->is_ec = is_ec;
	return s;
}

static void *
kh_ecdsa_newctx(void *provctx, const char *propq)
{
	(void)provctx;
	(void)propq;
	return kh_sig_new(1);
}

static void *
kh_rsa_newctx(void *provctx, const char *propq)
{
	(void)provctx;
	(void)propq;
	return kh_sig_new(0);
}

static void
kh_sig_freectx(void *vctx)
{
	struct kh_sig *s = vctx;

	if (s == NULL)
		return;
	EVP_MD_CTX_free(s->mdctx);
	EVP_MD_free(s->md);
	free(s);
}

static void *
kh_sig_dupctx(void *vctx)
{
	struct kh_sig *s = vctx, *d;

	if (s == NULL || (d = kh_sig_new(s->is_ec)) == NULL)
		return NULL;
	d->key = s->key;
	if (s->md != NULL) {
		if (!EVP_MD_up_ref(s->md))
			goto fail;
		d->md = s->md;
	}
	if (s->mdctx != NULL) {
		if ((d->mdctx = EVP_MD_CTX_new()) == NULL ||
		    !EVP_MD_CTX_copy_ex(d->mdctx, s->mdctx))
			goto fail;
	}
	return d;
fail:
	kh_sig_freectx(d);
	return NULL;
}

/* Only SHA-2 (R-KEY-1); the default context does the hashing. */
static int
kh_sig_set_md(struct kh_sig *s, const char *mdname)
{
	EVP_MD *md;

	if (mdname == NULL)
		mdname = (s->is_ec && s->key != NULL &&
		    EVP_PKEY_get_bits(s->key->pub) == 384) ? "SHA384" : "SHA256";
	if ((md = EVP_MD_fetch(NULL, mdname, NULL)) == NULL)
		return 0;
	if (!EVP_MD_is_a(md, "SHA2-256") && !EVP_MD_is_a(md, "SHA2-384") &&
	    !EVP_MD_is_a(md, "SHA2-512")) {
		EVP_MD_free(md);
		return 0;
	}
	EVP_MD_free(s->md);
	s->md = md;
	return 1;
}

static int kh_sig_set_ctx_params(void *vctx, const OSSL_PARAM params[]);

static int
kh_sig_init_key(struct kh_sig *s, void *provkey)
{
	struct kh_key *k = provkey;

	if (k == NULL || k->hk == NULL || k->is_ec != s->is_ec)
		return 0;
	s->key = k;
	return 1;
}

static int
kh_sig_sign_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
	struct kh_sig *s = vctx;

	if (s == NULL || !kh_sig_init_key(s, provkey))
		return 0;
	EVP_MD_free(s->md);
	s->md = NULL;
	return kh_sig_set_ctx_params(s, params);
}

static int
kh_sig_digest_sign_init(void *vctx, const char *mdname, void *provkey,
    const OSSL_PARAM params[])
{
	struct kh_sig *s = vctx;

	if (s == NULL || !kh_sig_init_key(s, provkey) ||
	    !kh_sig_set_md(s, mdname))
		return 0;
	if (s->mdctx == NULL && (s->mdctx = EVP_MD_CTX_new()) == NULL)
		return 0;
	if (!EVP_DigestInit_ex(s->mdctx, s->md, NULL))
		return 0;
	return kh_sig_set_ctx_params(s, params);
}

static int
kh_sig_digest_sign_update(void *vctx, const unsigned char *data, size_t len)
{
	struct kh_sig *s = vctx;

	if (s == NULL || s->mdctx == NULL)
		return 0;
	return EVP_DigestUpdate(s->mdctx, data, len);
}

/* Sign a digest in the HSM; sig == NULL asks for the maximum size. */
static int
kh_sign_digest(struct kh_sig *s, unsigned char *sig, size_t *siglen,
    size_t sigsize, const unsigned char *dgst, size_t dlen)
{
	size_t len = sigsize;
	int r;

	if (sig == NULL) {
		*siglen = s->key->maxsig;
		return 1;
	}
	if (s->md == NULL || dlen != (size_t)EVP_MD_get_size(s->md))
		return 0;
	r = hsm_key_sign(s->key->hk, s->md, dgst, dlen, sig, &len);
	if (r != 0) {
		kagi_log_err("event=ca_sign_failed error=%s", kagi_err_name(r));
		return 0;
	}
	*siglen = len;
	return 1;
}

static int
kh_sig_digest_sign_final(void *vctx, unsigned char *sig, size_t *siglen,
    size_t sigsize)
{
	struct kh_sig *s = vctx;
	unsigned char dgst[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;

	if (s == NULL || s->key == NULL || s->mdctx == NULL || siglen == NULL)
		return 0;
	if (sig == NULL)
		return kh_sign_digest(s, NULL, siglen, 0, NULL, 0);
	if (!EVP_DigestFinal_ex(s->mdctx, dgst, &dlen))
		return 0;
	return kh_sign_digest(s, sig, siglen, sigsize, dgst, dlen);
}

static int
kh_sig_digest_sign(void *vctx, unsigned char *sig, size_t *siglen,
    size_t sigsize, const unsigned char *tbs, size_t tbslen)
{
	struct kh_sig *s = vctx;
	unsigned char dgst[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;

	if (s == NULL || s->key == NULL || s->md == NULL || siglen == NULL)
		return 0;
	if (sig == NULL)
		return kh_sign_digest(s, NULL, siglen, 0, NULL, 0);
	if (!EVP_Digest(tbs, tbslen, dgst, &dlen, s->md, NULL))
		return 0;
	return kh_sign_digest(s, sig, siglen, sigsize, dgst, dlen);
}

/* EVP_PKEY_sign: tbs is already a digest; md from params or its length. */
static int
kh_sig_sign(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize,
    const unsigned char *tbs, size_t tbslen)
{
	struct kh_sig *s = vctx;

	if (s == NULL || s->key == NULL || siglen == NULL)
		return 0;
	if (sig == NULL)
		return kh_sign_digest(s, NULL, siglen, 0, NULL, 0);
	if (s->md == NULL && !kh_sig_set_md(s, tbslen == 32 ? "SHA256" :
	    tbslen == 48 ? "SHA384" : tbslen == 64 ? "SHA512" : "none"))
		return 0;
	return kh_sign_digest(s, sig, siglen, sigsize, tbs, tbslen);
}

static int
kh_sig_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
	struct kh_sig *s = vctx;
	OSSL_PARAM *p;

	if (s == NULL)
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID);
	if (p != NULL) {
		X509_ALGOR *alg = NULL;
		unsigned char *der = NULL;
		int sigid = NID_undef, len, ok;

		if (s->md == NULL || !OBJ_find_sigid_by_algs(&sigid,
		    EVP_MD_get_type(s->md), s->is_ec ? EVP_PKEY_EC : EVP_PKEY_RSA))
			return 0;
		if ((alg = X509_ALGOR_new()) == NULL)
			return 0;
		/* RFC 5758: ECDSA params absent; RFC 4055: RSA params NULL. */
		if (!X509_ALGOR_set0(alg, OBJ_nid2obj(sigid),
		    s->is_ec ? V_ASN1_UNDEF : V_ASN1_NULL, NULL)) {
			X509_ALGOR_free(alg);
			return 0;
		}
		len = i2d_X509_ALGOR(alg, &der);
		X509_ALGOR_free(alg);
		if (len <= 0)
			return 0;
		ok = OSSL_PARAM_set_octet_string(p, der, (size_t)len);
		OPENSSL_free(der);
		if (!ok)
			return 0;
	}
	p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST);
	if (p != NULL && (s->md == NULL ||
	    !OSSL_PARAM_set_utf8_string(p, EVP_MD_get0_name(s->md))))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
	if (p != NULL) {
		if (s->is_ec)
			return 0;
		if (p->data_type == OSSL_PARAM_UTF8_STRING) {
			if (!OSSL_PARAM_set_utf8_string(p,
			    OSSL_PKEY_RSA_PAD_MODE_PKCSV15))
				return 0;
		} else if (!OSSL_PARAM_set_int(p, RSA_PKCS1_PADDING)) {
			return 0;
		}
	}
	return 1;
}

static const OSSL_PARAM kh_ec_gettable_ctx_tbl[] = {
	OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM kh_rsa_gettable_ctx_tbl[] = {
	OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_int(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
kh_ecdsa_gettable_ctx_params(void *vctx, void *provctx)
{
	(void)vctx;
	(void)provctx;
	return kh_ec_gettable_ctx_tbl;
}

static const OSSL_PARAM *
kh_rsa_gettable_ctx_params(void *vctx, void *provctx)
{
	(void)vctx;
	(void)provctx;
	return kh_rsa_gettable_ctx_tbl;
}

static int
kh_sig_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
	struct kh_sig *s = vctx;
	const OSSL_PARAM *p;

	if (s == NULL)
		return 0;
	if (params == NULL)
		return 1;
	p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST);
	if (p != NULL) {
		const char *name = NULL;

		/* The digest is fixed once a digest-sign has started. */
		if (s->mdctx != NULL ||
		    !OSSL_PARAM_get_utf8_string_ptr(p, &name) ||
		    !kh_sig_set_md(s, name))
			return 0;
	}
	p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
	if (p != NULL) {
		int mode = 0;
		const char *ms = NULL;

		if (s->is_ec)
			return 0;
		if (p->data_type == OSSL_PARAM_UTF8_STRING) {
			if (!OSSL_PARAM_get_utf8_string_ptr(p, &ms) ||
			    strcmp(ms, OSSL_PKEY_RSA_PAD_MODE_PKCSV15) != 0)
				return 0;
		} else if (!OSSL_PARAM_get_int(p, &mode) ||
		    mode != RSA_PKCS1_PADDING) {
			return 0;
		}
	}
	return 1;
}

static const OSSL_PARAM kh_ec_settable_ctx_tbl[] = {
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM kh_rsa_settable_ctx_tbl[] = {
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_int(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
kh_ecdsa_settable_ctx_params(void *vctx, void *provctx)
{
	(void)vctx;
	(void)provctx;
	return kh_ec_settable_ctx_tbl;
}

static const OSSL_PARAM *
kh_rsa_settable_ctx_params(void *vctx, void *provctx)
{
	(void)vctx;
	(void)provctx;
	return kh_rsa_settable_ctx_tbl;
}

#define KH_SIG_COMMON \
	FN(OSSL_FUNC_SIGNATURE_FREECTX, kh_sig_freectx), \
	FN(OSSL_FUNC_SIGNATURE_DUPCTX, kh_sig_dupctx), \
	FN(OSSL_FUNC_SIGNATURE_SIGN_INIT, kh_sig_sign_init), \
	FN(OSSL_FUNC_SIGNATURE_SIGN, kh_sig_sign), \
	FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, kh_sig_digest_sign_init), \
	FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, kh_sig_digest_sign_update), \
	FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, kh_sig_digest_sign_final), \
	FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN, kh_sig_digest_sign), \
	FN(OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, kh_sig_get_ctx_params), \
	FN(OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, kh_sig_set_ctx_params)

static const OSSL_DISPATCH kh_ecdsa_signature[] = {
	FN(OSSL_FUNC_SIGNATURE_NEWCTX, kh_ecdsa_newctx),
	KH_SIG_COMMON,
	FN(OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, kh_ecdsa_gettable_ctx_params),
	FN(OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, kh_ecdsa_settable_ctx_params),
	{ 0, NULL }
};

static const OSSL_DISPATCH kh_rsa_signature[] = {
	FN(OSSL_FUNC_SIGNATURE_NEWCTX, kh_rsa_newctx),
	KH_SIG_COMMON,
	FN(OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, kh_rsa_gettable_ctx_params),
	FN(OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, kh_rsa_settable_ctx_params),
	{ 0, NULL }
};

/* ---- provider ---------------------------------------------------------- */

#define KH_PROPS "provider=" KH_PROV_NAME

static const OSSL_ALGORITHM kh_keymgmt_algs[] = {
	{ "EC:id-ecPublicKey:1.2.840.10045.2.1", KH_PROPS, kh_ec_keymgmt,
	    "kagi HSM EC key" },
	{ "RSA:rsaEncryption:1.2.840.113549.1.1.1", KH_PROPS, kh_rsa_keymgmt,
	    "kagi HSM RSA key" },
	{ NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM kh_signature_algs[] = {
	{ "ECDSA", KH_PROPS, kh_ecdsa_signature, "kagi HSM ECDSA" },
	{ "RSA:rsaEncryption:1.2.840.113549.1.1.1", KH_PROPS, kh_rsa_signature,
	    "kagi HSM RSA PKCS#1 v1.5" },
	{ NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM *
kh_query(void *provctx, int op, int *no_cache)
{
	(void)provctx;
	*no_cache = 0;
	switch (op) {
	case OSSL_OP_KEYMGMT:
		return kh_keymgmt_algs;
	case OSSL_OP_SIGNATURE:
		return kh_signature_algs;
	default:
		return NULL;
	}
}

static const OSSL_PARAM kh_prov_gettable_tbl[] = {
	OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_NAME, NULL, 0),
	OSSL_PARAM_int(OSSL_PROV_PARAM_STATUS, NULL),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
kh_prov_gettable_params(void *provctx)
{
	(void)provctx;
	return kh_prov_gettable_tbl;
}

static int
kh_prov_get_params(void *provctx, OSSL_PARAM params[])
{
	OSSL_PARAM *p;

	(void)provctx;
	p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME);
	if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, "kagi HSM bridge"))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS);
	if (p != NULL && !OSSL_PARAM_set_int(p, 1))
		return 0;
	return 1;
}

static const OSSL_DISPATCH kh_prov_dispatch[] = {
	FN(OSSL_FUNC_PROVIDER_QUERY_OPERATION, kh_query),
	FN(OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, kh_prov_gettable_params),
	FN(OSSL_FUNC_PROVIDER_GET_PARAMS, kh_prov_get_params),
	{ 0, NULL }
};

static int
kh_prov_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
    const OSSL_DISPATCH **out, void **provctx)
{
	(void)handle;
	(void)in;
	*out = kh_prov_dispatch;
	*provctx = NULL;
	return 1;
}

static void
kh_global_init(void)
{
	OSSL_LIB_CTX *lc;

	if ((lc = OSSL_LIB_CTX_new()) == NULL)
		return;
	if (!OSSL_PROVIDER_add_builtin(lc, KH_PROV_NAME, kh_prov_init) ||
	    (g_prov = OSSL_PROVIDER_load(lc, KH_PROV_NAME)) == NULL) {
		ca_log_ossl("cannot load the kagi-hsm provider");
		OSSL_LIB_CTX_free(lc);
		return;
	}
	g_libctx = lc;
}

OSSL_LIB_CTX *
ca_signer_libctx(void)
{
	if (pthread_once(&g_once, kh_global_init) != 0)
		return NULL;
	return g_libctx;
}

int
ca_signer_from_hsm(struct hsm_key *k, EVP_PKEY **out)
{
	int r = KAGI_ERR_INTERNAL;
	OSSL_LIB_CTX *lc;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *pk = NULL;
	enum hsm_key_type t;
	OSSL_PARAM params[2];
	void *kp = k;

	if (out != NULL)
		*out = NULL;
	if (k == NULL || out == NULL)
		return KAGI_ERR_INVALID;
	if ((lc = ca_signer_libctx()) == NULL)
		return KAGI_ERR_INTERNAL;
	t = hsm_key_type(k);
	switch (t) {
	case HSM_KEY_EC_P256:
	case HSM_KEY_EC_P384:
	case HSM_KEY_RSA_2048:
	case HSM_KEY_RSA_3072:
		break;
	default:
		kagi_log_err("unsupported HSM key type %d", (int)t);
		return KAGI_ERR_INVALID;
	}
	pctx = EVP_PKEY_CTX_new_from_name(lc,
	    (t == HSM_KEY_EC_P256 || t == HSM_KEY_EC_P384) ? "EC" : "RSA",
	    KH_PROPS);
	if (pctx == NULL || EVP_PKEY_fromdata_init(pctx) != 1) {
		ca_log_ossl("kagi-hsm key context");
		goto out;
	}
	params[0] = OSSL_PARAM_construct_octet_ptr(KH_PARAM_KEY, &kp, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_PKEY_fromdata(pctx, &pk, EVP_PKEY_KEYPAIR, params) != 1) {
		ca_log_ossl("kagi-hsm key import");
		r = KAGI_ERR_HSM;
		goto out;
	}
	*out = pk;
	pk = NULL;
	r = 0;
out:
	EVP_PKEY_free(pk);
	EVP_PKEY_CTX_free(pctx);
	return r;
}

int
ca_sign_ctx_new(EVP_PKEY *signer, const char *md, EVP_MD_CTX **out)
{
	int r = KAGI_ERR_INTERNAL;
	EVP_MD_CTX *mctx = NULL;
	OSSL_LIB_CTX *lc = NULL;

	if (out != NULL)
		*out = NULL;
	if (signer == NULL || out == NULL)
		return KAGI_ERR_INVALID;
	if (g_prov != NULL && EVP_PKEY_get0_provider(signer) == g_prov)
		lc = g_libctx;
	if (md == NULL)
		md = (EVP_PKEY_is_a(signer, "EC") &&
		    EVP_PKEY_get_bits(signer) == 384) ? "SHA384" : "SHA256";
	if ((mctx = EVP_MD_CTX_new()) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if (EVP_DigestSignInit_ex(mctx, NULL, md, lc, NULL, signer,
	    NULL) != 1) {
		ca_log_ossl("sign context");
		r = KAGI_ERR_INVALID;
		goto out;
	}
	*out = mctx;
	mctx = NULL;
	r = 0;
out:
	EVP_MD_CTX_free(mctx);
	return r;
}
