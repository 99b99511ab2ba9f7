/*
 * hsm module internals: struct bodies and helpers shared by the hsm/ sources.
 * Not a contract; only the hsm sources and the hsm unit tests include this.
 *
 * The PKCS#11 types come from p11-kit's pkcs11.h (Debian libp11-kit-dev), in
 * its default CRYPTOKI_COMPAT mode, which spells the OASIS v2.40 names.  We
 * only use the header; we do not link p11-kit: modules are dlopen()ed.
 */
#ifndef KAGI_HSM_INT_H
#define KAGI_HSM_INT_H

#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "kagi/hsm.h"

/* Token label, manufacturer and model are 32 bytes, serial 16 (blank padded). */
#define HSM_LABEL_LEN 32
#define HSM_SERIAL_LEN 16
/* Cap on any attribute value we read from a token (card bytes are untrusted). */
#define HSM_ATTR_MAX (64u * 1024u)

struct hsm {
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	int finalize;   /* 1 if we called C_Initialize and must C_Finalize */
	char *path;     /* for log lines */
};

struct hsm_session {
	struct hsm *h;  /* borrowed: the session must be closed before h */
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE sh;
	char label[HSM_LABEL_LEN + 1]; /* token label, trailing blanks removed */
};

struct hsm_key {
	struct hsm_session *s; /* borrowed: free keys before their session */
	CK_OBJECT_HANDLE priv;
	enum hsm_key_type type;
	EVP_PKEY *pub;  /* cached public key */
	size_t field_len; /* EC: bytes per coordinate (r and s); RSA: 0 */
};

/*
 * What a token must match: a plain label, or the parsed pkcs11: URI.  Fields
 * hold the raw decoded bytes; has_* say which were given.
 */
struct hsm_token_match {
	int has_token, has_manufacturer, has_serial, has_model, has_slot_id;
	char token[HSM_LABEL_LEN + 1];
	char manufacturer[HSM_LABEL_LEN + 1];
	char serial[HSM_SERIAL_LEN + 1];
	char model[HSM_SERIAL_LEN + 1];
	CK_SLOT_ID slot_id;
};

/* Map a CK_RV to KAGI_ERR_* and log "what: CKR_NAME". */
int hsm_ckr_err(CK_RV rv, const char *what);
/* "CKR_PIN_INCORRECT", or "CKR_0x..." in buf for unknown codes. */
const char *hsm_ckr_name(CK_RV rv, char *buf, size_t len);

/*
 * Parse a "pkcs11:" URI (RFC 7512) or take a plain label.  Refuses unknown
 * or unsupported attributes, duplicates, query attributes (pin-value, ...),
 * bad percent-encoding and values longer than the PKCS#11 field.
 */
int hsm_token_match_parse(const char *token, struct hsm_token_match *m)
    KAGI_WUR;
/* Does this slot's token match? 1 yes, 0 no. */
int hsm_token_match_check(const struct hsm_token_match *m, CK_SLOT_ID slot,
    const CK_TOKEN_INFO *ti);
/* Blank-padded field compare: s (len <= n) against a PKCS#11 char field. */
int hsm_padded_eq(const CK_UTF8CHAR *field, size_t n, const char *s);
/* Copy s into a blank-padded field of n bytes; s must fit. */
void hsm_padded_set(CK_UTF8CHAR *field, size_t n, const char *s);

/*
 * CKA_EC_POINT: a DER OCTET STRING around an uncompressed point of
 * 1 + 2 * field_len bytes, or the raw point.  *pt points into p.
 */
int hsm_ec_point_unwrap(const uint8_t *p, size_t n, size_t field_len,
    const uint8_t **pt, size_t *ptlen) KAGI_WUR;

#endif
