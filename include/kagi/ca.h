/*
 * ca: X.509 issuance by profile from verified CSRs, CRLs and OCSP responses,
 * signed with keys that stay in the HSM (docs/CA.md).
 *
 * Signing goes through a small in-process OpenSSL 3 provider ("kagi-hsm")
 * loaded into a dedicated OSSL_LIB_CTX (ca_signer_libctx()).  Its key
 * management wraps a struct hsm_key and its signature operations hash in
 * software and call hsm_key_sign, so X509_sign_ctx, X509_CRL_sign_ctx and
 * OCSP_basic_sign_ctx work with an HSM key.  Subject names and SANs always
 * come from the caller (the store), never from a CSR.
 * Requirements: R-SIGN-3, R-SIGN-5, R-KEY-1, R-KEY-2, R-INPUT-1..3.
 */
#ifndef KAGI_CA_H
#define KAGI_CA_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>

#include "kagi/err.h"
#include "kagi/hsm.h"

/* ---- HSM signer (ca/hsm_provider.c) ---------------------------------- */

/*
 * An EVP_PKEY whose private operations are done by k.  The key BORROWS k:
 * k must outlive the EVP_PKEY and every context made from it.  Sign with an
 * EVP_MD_CTX from ca_sign_ctx_new (or EVP_DigestSignInit_ex with
 * ca_signer_libctx()).  KAGI_ERR_INVALID: unsupported key type.
 */
int ca_signer_from_hsm(struct hsm_key *k, EVP_PKEY **out) KAGI_WUR;
/* The library context holding the kagi-hsm provider (NULL on failure). */
OSSL_LIB_CTX *ca_signer_libctx(void);
/*
 * A digest-sign context for signer (an HSM signer or an ordinary software
 * key) with md ("SHA256", "SHA384", "SHA512"; NULL = the key's default:
 * SHA-384 for P-384, SHA-256 otherwise).  EVP_MD_CTX_free it.
 */
int ca_sign_ctx_new(EVP_PKEY *signer, const char *md, EVP_MD_CTX **out)
    KAGI_WUR;

/* ---- keys and serials ------------------------------------------------- */

/*
 * The key allowlist (R-KEY-1): RSA 2048..8192 bits with an odd exponent
 * >= 3, EC P-256 or P-384.  Anything else is KAGI_ERR_INVALID, logged with
 * its type and size.
 */
int ca_key_check(const EVP_PKEY *pk) KAGI_WUR;

#define CA_SERIAL_LEN 16
/*
 * A fresh serial: 16 random octets from kagi_random_bytes with the top bit
 * cleared and the next bit set, so the INTEGER is positive and exactly 16
 * octets (RFC 5280 §4.1.2.2: <= 20 octets); 126 bits of randomness.
 */
int ca_serial_new(uint8_t out[CA_SERIAL_LEN]) KAGI_WUR;

/* ---- CSR intake (ca/csr.c) -------------------------------------------- */

#define CA_CSR_MAX_SIZE (16u * 1024u)
#define CA_CSR_HAD_EXTENSIONS 0x1u /* the CSR requested extensions (ignored) */

/*
 * Parse a PKCS#10 CSR (PEM or DER, at most CA_CSR_MAX_SIZE bytes, parsed
 * wholly: no trailing bytes, DER must be canonical), check the key against
 * the allowlist and verify the self-signature (proof of possession).  Only the
 * public key is returned; the CSR's subject and requested extensions are
 * never used (*flags tells whether extensions were requested; may be NULL).
 * Errors: KAGI_ERR_LIMIT (size), KAGI_ERR_FORMAT, KAGI_ERR_TRAILING,
 * KAGI_ERR_INVALID (key not allowed), KAGI_ERR_SIG (signature).
 */
int ca_csr_parse(const uint8_t *in, size_t len, EVP_PKEY **pubkey_out,
    unsigned *flags) KAGI_WUR;

/* ---- profiles and issuance (ca/issue.c) ------------------------------- */

enum ca_profile {
	CA_PROFILE_ROOT = 0,
	CA_PROFILE_ISSUING_CA,
	CA_PROFILE_STAFF_LOGON,
	CA_PROFILE_TERMINAL,
	CA_PROFILE_SERVER,
	CA_PROFILE_OCSP,
};
/* "root", "issuing-ca", "staff-logon", "terminal", "server", "ocsp". */
const char *ca_profile_name(enum ca_profile p);
int ca_profile_parse(const char *name, enum ca_profile *out) KAGI_WUR;

struct ca_issuer;

/*
 * An issuer: its certificate (NULL only to self-sign a root), its signer
 * (from ca_signer_from_hsm) and the URLs put into issued certificates (each
 * may be NULL: CRL distribution point, OCSP responder, caIssuers).  Takes
 * its own references; the caller keeps its own.
 */
int ca_issuer_new(X509 *cert, EVP_PKEY *signer, const char *cdp_url,
    const char *ocsp_url, const char *ca_issuers_url,
    struct ca_issuer **out) KAGI_WUR;
void ca_issuer_free(struct ca_issuer *iss);
/* Borrowed; NULL for a self-signing (root) issuer. */
X509 *ca_issuer_cert(const struct ca_issuer *iss);

/*
 * What to issue.  All pointers are borrowed for the call.  Subject fields and
 * SAN values come from the store, never from the CSR; they are checked
 * (UTF-8, lengths, character sets) and refused with KAGI_ERR_INVALID.
 * Subject DN: O=org, OU=section (optional), CN=name, serialNumber=
 * staff_no / device_id when the profile has one (docs/CA.md).
 */
struct ca_request {
	enum ca_profile profile;
	EVP_PKEY *pubkey;          /* subject public key (allowlisted) */
	const char *org;           /* O, required */
	const char *section;       /* OU, optional */
	const char *name;          /* CN, required */
	const char *staff_no;      /* staff-logon: required */
	const char *upn_suffix;    /* staff-logon: UPN "<staff_no>@<suffix>" */
	const char *device_id;     /* terminal: required */
	const char *zone_oid;      /* terminal: certificatePolicies OID */
	const char *const *dns;    /* terminal, server: DNS SANs */
	size_t n_dns;
	const char *const *ips;    /* server: IP SANs (v4 or v6 text) */
	size_t n_ips;
	int64_t not_before;        /* seconds since the epoch, UTC */
	int64_t not_after;
	const uint8_t *serial;     /* big-endian positive; NULL = new random */
	size_t serial_len;         /* 1..20 */
};

/*
 * Build, sign and self-check (signature verified with the issuer's public
 * key) one certificate.  KAGI_ERR_INVALID for a bad request (field, key,
 * validity, profile/issuer mismatch), KAGI_ERR_HSM / KAGI_ERR_SIG from
 * signing.  For the end-entity profiles (staff-logon, terminal, server) with
 * an EC key, X509_get0_pubkey() on the result returns NULL (the key is
 * written from its point, not cached); use req->pubkey.
 */
int ca_cert_issue(const struct ca_issuer *iss, const struct ca_request *req,
    X509 **out) KAGI_WUR;

/* ---- revocation reasons ----------------------------------------------- */

/* RFC 5280 §5.3.1 CRLReason (7 is unused). */
enum ca_reason {
	CA_REASON_UNSPECIFIED = 0,
	CA_REASON_KEY_COMPROMISE = 1,
	CA_REASON_CA_COMPROMISE = 2,
	CA_REASON_AFFILIATION_CHANGED = 3,
	CA_REASON_SUPERSEDED = 4,
	CA_REASON_CESSATION_OF_OPERATION = 5,
	CA_REASON_CERTIFICATE_HOLD = 6,
	CA_REASON_REMOVE_FROM_CRL = 8,
	CA_REASON_PRIVILEGE_WITHDRAWN = 9,
	CA_REASON_AA_COMPROMISE = 10,
};
/* RFC names: "keyCompromise", "certificateHold", ... (NULL if invalid). */
const char *ca_reason_name(int reason);
int ca_reason_parse(const char *name, int *out) KAGI_WUR;
/* Translated description for people (never NULL). */
const char *ca_reason_describe(int reason);

/* ---- CRL (ca/crl.c) ----------------------------------------------------- */

struct ca_crl_entry {
	const uint8_t *serial;     /* big-endian positive */
	size_t serial_len;         /* 1..20 */
	int64_t revoked_at;
	int reason;                /* enum ca_reason, not REMOVE_FROM_CRL */
};

/*
 * A complete v2 CRL over entries (any order; sorted by serial here), with
 * cRLNumber, authorityKeyIdentifier, thisUpdate and nextUpdate, signed by
 * iss.  A released hold is simply left out of the next complete CRL, so
 * REMOVE_FROM_CRL (delta CRLs only) and duplicate serials are
 * KAGI_ERR_INVALID.  Unspecified reasons carry no reasonCode extension.
 */
int ca_crl_build(const struct ca_issuer *iss, const struct ca_crl_entry *e,
    size_t n, uint64_t crl_number, int64_t this_update, int64_t next_update,
    X509_CRL **out) KAGI_WUR;

/* ---- OCSP (ca/ocsp.c) --------------------------------------------------- */

#define CA_OCSP_MAX_REQUEST (8u * 1024u)
#define CA_OCSP_MAX_CERTIDS 16

enum ca_ocsp_cert_status {
	CA_OCSP_GOOD = 0,
	CA_OCSP_REVOKED = 1,
	CA_OCSP_UNKNOWN = 2,
};

struct ca_ocsp_status {
	enum ca_ocsp_cert_status status;
	int64_t revoked_at;        /* REVOKED only */
	int reason;                /* REVOKED only: enum ca_reason */
};

/*
 * Status of the certificate with this serial issued by our CA.  Returns 0
 * and fills *st (UNKNOWN for a serial we never issued), or a negative error
 * (the responder then answers internalError).
 */
typedef int ca_ocsp_lookup_fn(const uint8_t *serial, size_t serial_len,
    struct ca_ocsp_status *st, void *arg);

/*
 * Parse an OCSPRequest: DER, at most CA_OCSP_MAX_REQUEST bytes, parsed
 * wholly, 1..CA_OCSP_MAX_CERTIDS CertIDs with SHA-1 or SHA-256, a nonce of
 * at most 32 octets, no unknown critical extension.  KAGI_ERR_LIMIT,
 * KAGI_ERR_FORMAT, KAGI_ERR_TRAILING, KAGI_ERR_INVALID.
 */
int ca_ocsp_request_parse(const uint8_t *der, size_t len, OCSP_REQUEST **out)
    KAGI_WUR;

struct ca_ocsp_cache;
struct ca_ocsp_responder;

/* Nonce handling (RFC 8954 lets a responder ignore nonces). */
enum ca_ocsp_nonce_policy {
	CA_OCSP_NONCE_HONOUR = 0,  /* default: echo, sign fresh, never cache */
	CA_OCSP_NONCE_IGNORE = 1,  /* answer from the cache, no nonce echoed */
};

/*
 * A responder for the certificates issued by ca_cert, answering with the
 * delegated signer (signer_cert, signer_key; the signer certificate is
 * included in responses, responderID by key hash).  Responses are valid for
 * validity seconds (nextUpdate = thisUpdate + validity).
 */
int ca_ocsp_responder_new(X509 *ca_cert, X509 *signer_cert,
    EVP_PKEY *signer_key, int64_t validity,
    struct ca_ocsp_responder **out) KAGI_WUR;
void ca_ocsp_responder_free(struct ca_ocsp_responder *r);
void ca_ocsp_responder_set_nonce_policy(struct ca_ocsp_responder *r,
    enum ca_ocsp_nonce_policy p);

/*
 * Answer one DER request: a signed OCSPResponse (successful) in *resp
 * (free()).  cache may be NULL.  On a request error nothing is returned and
 * the code says which error response to send (ca_ocsp_error_response):
 * KAGI_ERR_FORMAT / TRAILING / LIMIT / INVALID -> malformedRequest,
 * KAGI_ERR_DENIED (a CertID for another CA) -> unauthorized, anything else
 * -> internalError.
 */
int ca_ocsp_respond(struct ca_ocsp_responder *r, struct ca_ocsp_cache *cache,
    const uint8_t *req, size_t req_len, ca_ocsp_lookup_fn *lookup, void *arg,
    int64_t now, uint8_t **resp, size_t *resp_len) KAGI_WUR;
/* The unsigned error OCSPResponse for an error from ca_ocsp_respond. */
int ca_ocsp_error_response(int err, uint8_t **resp, size_t *resp_len)
    KAGI_WUR;

/*
 * A cache of signed responses for single-CertID requests without a nonce,
 * keyed by the CertID (hash algorithm, issuer hashes, serial).  A cached
 * response is reused while the looked-up status is unchanged and more than
 * half of its validity remains.  Thread-safe.  max_entries > 0.
 */
int ca_ocsp_cache_new(size_t max_entries, struct ca_ocsp_cache **out)
    KAGI_WUR;
void ca_ocsp_cache_free(struct ca_ocsp_cache *c);
/* Drop every entry (e.g. after the signer certificate changes). */
void ca_ocsp_cache_clear(struct ca_ocsp_cache *c);
/* Entries now held; hits and misses since creation (for tests, metrics). */
void ca_ocsp_cache_stats(struct ca_ocsp_cache *c, size_t *entries,
    uint64_t *hits, uint64_t *misses);

#endif
