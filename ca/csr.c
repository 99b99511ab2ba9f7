/*
 * CSR intake (R-INPUT-1..2).  A CSR is untrusted: size-capped, parsed
 * wholly (PEM: one block with nothing but whitespace around it; DER: no
 * trailing bytes, canonical encoding), key checked against the allowlist
 * before any signature work, then the self-signature verified (proof of
 * possession).  Only the public key leaves this file.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
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

static void
log_key_alg(X509_REQ *req)
{
	X509_PUBKEY *xpk = X509_REQ_get_X509_PUBKEY(req);
	ASN1_OBJECT *alg = NULL;
	char oid[80] = "?";

	if (xpk != NULL &&
	    X509_PUBKEY_get0_param(&alg, NULL, NULL, NULL, xpk) && alg != NULL)
		OBJ_obj2txt(oid, sizeof(oid), alg, 1);
	kagi_log_warn("event=csr_refused reason=key_algorithm oid=%s", oid);
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
	int relen;
	X509_REQ *req = NULL;
	EVP_PKEY *pk = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;

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
	if ((req = d2i_X509_REQ(NULL, &p, dlen)) == NULL) {
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
	relen = i2d_X509_REQ(req, &reenc);
	if (relen != (int)dlen || memcmp(reenc, der, (size_t)dlen) != 0) {
		kagi_log_warn("event=csr_refused reason=not_der");
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	if (X509_REQ_get_version(req) != X509_REQ_VERSION_1) {
		kagi_log_warn("event=csr_refused reason=version");
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	if ((pk = X509_REQ_get_pubkey(req)) == NULL) {
		log_key_alg(req);
		r = KAGI_ERR_INVALID;
		goto out;
	}
	/* Allowlist before any signature work (no RSA-16384 verify). */
	if ((r = ca_key_check(pk)) != 0)
		goto out;
	if (X509_REQ_verify(req, pk) != 1) {
		kagi_log_warn("event=csr_refused reason=signature");
		r = KAGI_ERR_SIG;
		goto out;
	}
	exts = X509_REQ_get_extensions(req);
	if (flags != NULL && exts != NULL && sk_X509_EXTENSION_num(exts) > 0) {
		*flags |= CA_CSR_HAD_EXTENSIONS;
		kagi_log_info("CSR requested %d extensions; ignored",
		    sk_X509_EXTENSION_num(exts));
	}
	*pubkey_out = pk;
	pk = NULL;
	r = 0;
out:
	ERR_clear_error();
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	EVP_PKEY_free(pk);
	X509_REQ_free(req);
	OPENSSL_free(reenc);
	OPENSSL_free(pemder);
	kbuf_free(view);
	return r;
}
