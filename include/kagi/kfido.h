/*
 * kfido: server-side FIDO2 (CTAP2 / WebAuthn) verification for kagid.
 * Named kfido.h because <fido.h> is libfido2's header; every symbol carries
 * the kagi_fido_ prefix so nothing clashes with libfido2's fido_ namespace.
 *
 * Inputs are the bytes a client (kagi-cardd) obtains from libfido2 and sends
 * to kagid; all of them are untrusted:
 *   authdata  the authenticator data as a CBOR byte string, exactly what
 *             fido_cred_authdata_ptr() / fido_assert_authdata_ptr() return;
 *   attstmt   the attestation statement CBOR map (fido_cred_attstmt_ptr());
 *   sig       the assertion signature (DER ECDSA, fido_assert_sig_ptr()).
 * Only ES256 (ECDSA P-256 / SHA-256) credentials and the "packed" attestation
 * format are accepted.  The stored public key is a canonical COSE_Key
 * (RFC 9052 / RFC 9053): {1:2, 3:-7, -1:1, -2:x, -3:y}, 77 bytes.
 * Format details and the counter rule: docs/FIDO.md.
 */
#ifndef KAGI_KFIDO_H
#define KAGI_KFIDO_H

#include <stddef.h>
#include <stdint.h>

#include "kagi/err.h"

#define KAGI_FIDO_CDH_LEN 32        /* clientDataHash: SHA-256 */
#define KAGI_FIDO_AAGUID_LEN 16
#define KAGI_FIDO_COSE_ES256_LEN 77 /* canonical COSE_Key, see above */
#define KAGI_FIDO_CRED_ID_MAX 1023  /* CTAP2: ids are at most 1023 bytes here */
#define KAGI_FIDO_AUTHDATA_MAX 2048 /* CBOR-wrapped authenticator data */
#define KAGI_FIDO_ATTSTMT_MAX 4096  /* CBOR attestation statement */
#define KAGI_FIDO_SIG_MAX 80        /* DER ECDSA P-256 is at most 72 bytes */

/* authenticator data flags (WebAuthn §6.1) */
#define KAGI_FIDO_FLAG_UP 0x01u /* user present */
#define KAGI_FIDO_FLAG_UV 0x04u /* user verified */
#define KAGI_FIDO_FLAG_AT 0x40u /* attested credential data included */
#define KAGI_FIDO_FLAG_ED 0x80u /* extension data included */

/* What the server accepts at registration. */
struct kagi_fido_reg_policy {
	const char *rp_id;          /* configured relying party id */
	int require_uv;             /* UV flag must be set */
	int allow_self_attestation; /* accept packed without x5c */
	/* AAGUID allowlist: n_aaguids entries of 16 bytes, back to back. */
	const uint8_t *aaguids;
	size_t n_aaguids;
	/* Accept any AAGUID (the allowlist is then ignored); logged. */
	int insecure_any_aaguid;
};

/* One makeCredential result as the client received it. */
struct kagi_fido_reg_input {
	const uint8_t *cdh;      /* the server's clientDataHash */
	size_t cdh_len;          /* KAGI_FIDO_CDH_LEN */
	const char *fmt;         /* attestation format ("packed") */
	const uint8_t *authdata; /* CBOR byte string */
	size_t authdata_len;
	const uint8_t *attstmt;  /* CBOR map */
	size_t attstmt_len;
};

/* What to store for a verified credential. */
struct kagi_fido_reg {
	uint8_t *cred_id; /* malloc'd; free with kagi_fido_reg_clear */
	size_t cred_id_len;
	uint8_t cose_key[KAGI_FIDO_COSE_ES256_LEN];
	uint8_t aaguid[KAGI_FIDO_AAGUID_LEN];
	uint32_t counter;
	uint8_t flags;
	int attested;     /* 1: x5c present and its signature verified */
};

/*
 * Verify a registration: CBOR shape, rpId hash, UP (always), UV when the
 * policy asks, no unrequested extensions, the attestation signature (x5c
 * through fido_cred_verify, else self attestation through
 * fido_cred_verify_self when allowed), the AAGUID against the allowlist.
 * Errors: KAGI_ERR_INVALID (arguments), KAGI_ERR_LIMIT (oversize input),
 * KAGI_ERR_FORMAT (malformed), KAGI_ERR_DENIED (rpId, flags, fmt, AAGUID or
 * attestation kind not acceptable), KAGI_ERR_SIG (signature), KAGI_ERR_NOMEM.
 * On success *out owns cred_id.
 */
int kagi_fido_cred_check(const struct kagi_fido_reg_policy *pol,
    const struct kagi_fido_reg_input *in, struct kagi_fido_reg *out) KAGI_WUR;
/* NULL-safe: frees cred_id and clears the struct. */
void kagi_fido_reg_clear(struct kagi_fido_reg *r);

/* One getAssertion result as the client received it. */
struct kagi_fido_assert_input {
	const uint8_t *cdh;      /* the server's clientDataHash */
	size_t cdh_len;
	const uint8_t *authdata; /* CBOR byte string */
	size_t authdata_len;
	const uint8_t *sig;      /* DER ECDSA signature */
	size_t sig_len;
};

struct kagi_fido_assert_result {
	uint32_t counter; /* the authenticator's signature counter */
	uint8_t flags;    /* KAGI_FIDO_FLAG_* */
};

/*
 * Verify one assertion against a stored COSE key with the configured rpId
 * and the server's clientDataHash: signature over authData || cdh, rpId
 * hash, UP required, UV required when require_uv.  The signature counter is
 * returned but NOT judged here: the caller must also call
 * kagi_fido_counter_check(stored, out->counter) and store the new value.
 * Errors: KAGI_ERR_INVALID, KAGI_ERR_LIMIT, KAGI_ERR_FORMAT, KAGI_ERR_DENIED
 * (rpId, UP, UV), KAGI_ERR_SIG, KAGI_ERR_NOMEM.
 */
int kagi_fido_assert_check(const char *rp_id, const uint8_t *cose_key,
    size_t cose_key_len, const struct kagi_fido_assert_input *in,
    int require_uv, struct kagi_fido_assert_result *out) KAGI_WUR;

/*
 * The signature counter rule (WebAuthn §6.1.1, §7.2 step 21; CTAP2 §6.1):
 * an authenticator that implements a counter increases it on every
 * signature, so a new value that is not greater than the stored one means
 * two copies of the key exist.  Both zero means the authenticator has no
 * counter, which is allowed.  Returns 0, or KAGI_ERR_SIG ("clone
 * suspected": the caller refuses the login and audits it).
 */
int kagi_fido_counter_check(uint32_t stored, uint32_t new_counter) KAGI_WUR;

/* Parse a canonical ES256 COSE_Key into the raw point x || y (64 bytes). */
int kagi_fido_cose_es256_parse(const uint8_t *cose, size_t len,
    uint8_t xy[64]) KAGI_WUR;
/* Encode the raw point x || y as the canonical ES256 COSE_Key. */
void kagi_fido_cose_es256_encode(const uint8_t xy[64],
    uint8_t out[KAGI_FIDO_COSE_ES256_LEN]);

/*
 * Check that p[0..len) is exactly one well-formed CBOR data item: definite
 * lengths only, no tags, nesting at most max_depth, every declared length or
 * count backed by bytes actually present (so a decoder never allocates for
 * a count the input cannot hold).  KAGI_ERR_FORMAT, KAGI_ERR_TRAILING or
 * KAGI_ERR_LIMIT (too deep).
 */
int kagi_fido_cbor_check(const uint8_t *p, size_t len, unsigned max_depth)
    KAGI_WUR;

#endif
