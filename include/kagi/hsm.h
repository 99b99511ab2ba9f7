/*
 * hsm: keys behind PKCS#11.  Loads a module with dlopen from a configured
 * path, selects a token by label or RFC 7512 "pkcs11:" URI, logs in, finds or
 * generates keys, exports public keys and signs digests.  No function returns
 * private key bytes: generated private keys are CKA_SENSITIVE, not
 * CKA_EXTRACTABLE, CKA_TOKEN.  Used for the CA keys on kagid's host and for
 * staff cards on terminals.  PKCS#11 return codes are mapped to KAGI_ERR_*
 * with the CKR_ name in the log.  A session (and its keys) is not
 * thread-safe: use one per thread (docs/HSM.md).
 */
#ifndef KAGI_HSM_H
#define KAGI_HSM_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "kagi/err.h"

struct hsm;          /* a loaded, initialised module */
struct hsm_session;  /* a logged-in session on one token */
struct hsm_key;      /* a private key handle (+ its public key) on a token */

enum hsm_key_type {
	HSM_KEY_EC_P256 = 0,
	HSM_KEY_EC_P384,
	HSM_KEY_RSA_2048,
	HSM_KEY_RSA_3072,
};

/* dlopen + C_Initialize (CKF_OS_LOCKING_OK). */
int hsm_open(const char *module_path, struct hsm **out) KAGI_WUR;
void hsm_close(struct hsm *h);
/*
 * Initialise a new token with label in the first free slot (SoftHSM2's
 * uninitialised slot), set its SO PIN and user PIN.  KAGI_ERR_EXISTS if a
 * token with that label already exists.
 */
int hsm_token_init(struct hsm *h, const char *label, const char *so_pin,
    const char *user_pin) KAGI_WUR;
/*
 * Open a R/W session on the token named by `token` (a label, or a pkcs11: URI
 * with token= / serial= / slot-id= attributes) and C_Login as user with pin.
 * KAGI_ERR_NOT_FOUND: no such token; KAGI_ERR_PIN: wrong PIN;
 * KAGI_ERR_LOCKED: PIN blocked.
 */
int hsm_session_open(struct hsm *h, const char *token, const char *pin,
    struct hsm_session **out) KAGI_WUR;
void hsm_session_close(struct hsm_session *s);

/* Generate a key pair on the token under label (CKA_LABEL and CKA_ID). */
int hsm_key_generate(struct hsm_session *s, const char *label,
    enum hsm_key_type type, struct hsm_key **out) KAGI_WUR;
/* Find an existing private key by label; KAGI_ERR_NOT_FOUND if absent. */
int hsm_key_find(struct hsm_session *s, const char *label,
    struct hsm_key **out) KAGI_WUR;
void hsm_key_free(struct hsm_key *k);
enum hsm_key_type hsm_key_type(const struct hsm_key *k);
/* The public key (new reference; EVP_PKEY_free it). */
int hsm_key_public(const struct hsm_key *k, EVP_PKEY **out) KAGI_WUR;
/*
 * Sign a digest made with md (SHA-256/384/512).  EC keys: CKM_ECDSA over the
 * digest, the raw r||s returned DER-encoded (ECDSA-Sig-Value).  RSA keys:
 * CKM_RSA_PKCS over the DigestInfo.  *siglen in: buffer size, out: length.
 */
int hsm_key_sign(struct hsm_key *k, const EVP_MD *md, const uint8_t *digest,
    size_t dlen, uint8_t *sig, size_t *siglen) KAGI_WUR;
/* Is the private key object CKA_SENSITIVE and not CKA_EXTRACTABLE? */
int hsm_key_is_protected(const struct hsm_key *k, int *sensitive,
    int *extractable) KAGI_WUR;

/*
 * Read a PIN file: mode 0600 (no group/other bits), owned by the effective
 * user, at most 64 bytes, one line.  The PIN is in secure memory; free with
 * kagi_secure_strfree.  KAGI_ERR_PERM names the mode in the log.
 */
int hsm_pin_read(const char *path, char **pin) KAGI_WUR;

/*
 * Cards on terminals (kagi-cardd).  A staff card is a token holding a
 * certificate object and the private key with the same CKA_ID.
 */
struct hsm_token_info {
	unsigned long slot_id;
	char label[33];        /* trailing blanks removed */
	char serial[17];
	char manufacturer[33];
	char model[17];
	int initialized;
	int pin_count_low;     /* CKF_USER_PIN_COUNT_LOW: a wrong PIN was entered */
	int pin_final_try;     /* CKF_USER_PIN_FINAL_TRY */
	int pin_locked;        /* CKF_USER_PIN_LOCKED */
};
#define HSM_CERTS_MAX 16
struct hsm_cert {
	uint8_t *der;
	size_t der_len;
	uint8_t *id;           /* CKA_ID (may be NULL) */
	size_t id_len;
	char *label;           /* CKA_LABEL (may be NULL) */
};

/* Tokens present in the module's slots now; *out is malloc()ed (free()). */
int hsm_token_list(struct hsm *h, struct hsm_token_info **out, size_t *n)
    KAGI_WUR;
/*
 * Open a session on a token without logging in (public objects only), as
 * hsm_session_open selects it.  rw: a read/write session (to write a
 * certificate).
 */
int hsm_session_open_public(struct hsm *h, const char *token, int rw,
    struct hsm_session **out) KAGI_WUR;
/*
 * C_Login as user on an open session.  KAGI_ERR_PIN: wrong PIN;
 * KAGI_ERR_LOCKED: PIN blocked.  A CKR_GENERAL_ERROR (OpenSC's answer to
 * some cards' "wrong PIN" status) counts as a wrong PIN only when the token's
 * flags show a new failed attempt or a blocked PIN; else KAGI_ERR_HSM.
 */
int hsm_session_login(struct hsm_session *s, const char *pin) KAGI_WUR;
/* C_Logout (ends the login state of the token for this process). */
void hsm_session_logout(struct hsm_session *s);
/* The token's current identity and PIN flags. */
int hsm_session_token_info(struct hsm_session *s, struct hsm_token_info *out)
    KAGI_WUR;
/* X.509 certificate objects on the token (at most HSM_CERTS_MAX). */
int hsm_cert_list(struct hsm_session *s, struct hsm_cert **out, size_t *n)
    KAGI_WUR;
void hsm_cert_list_free(struct hsm_cert *c, size_t n);
/* Write a public X.509 certificate object (C_CreateObject CKO_CERTIFICATE). */
int hsm_cert_write(struct hsm_session *s, const char *label,
    const uint8_t *id, size_t id_len, const uint8_t *der, size_t der_len)
    KAGI_WUR;
/* The private key with this CKA_ID; KAGI_ERR_NOT_FOUND if absent. */
int hsm_key_find_id(struct hsm_session *s, const uint8_t *id, size_t id_len,
    struct hsm_key **out) KAGI_WUR;
/* The key's CKA_ID (malloc()ed). */
int hsm_key_id(const struct hsm_key *k, uint8_t **id, size_t *id_len)
    KAGI_WUR;

/*
 * Card administration at the counter (kagi-cardd enrolment, PIN unblock).
 * keygen_*: C_GetMechanismInfo has CKF_GENERATE_KEY_PAIR for
 * CKM_EC_KEY_PAIR_GEN (256 bits in range) / CKM_RSA_PKCS_KEY_PAIR_GEN (2048).
 */
struct hsm_token_caps {
	int keygen_ec;
	int keygen_rsa;
	int write_protected;      /* CKF_WRITE_PROTECTED */
	int user_pin_initialized; /* CKF_USER_PIN_INITIALIZED */
	int pin_to_be_changed;    /* CKF_USER_PIN_TO_BE_CHANGED */
	unsigned long pin_min, pin_max; /* ulMinPinLen, ulMaxPinLen */
};
int hsm_session_caps(struct hsm_session *s, struct hsm_token_caps *out)
    KAGI_WUR;
/* C_Login as CKU_SO.  KAGI_ERR_PIN: wrong SO PIN; KAGI_ERR_LOCKED. */
int hsm_session_login_so(struct hsm_session *s, const char *so_pin) KAGI_WUR;
/* C_InitPIN (after hsm_session_login_so).  KAGI_ERR_INVALID: PIN length. */
int hsm_session_init_pin(struct hsm_session *s, const char *new_pin)
    KAGI_WUR;
/* C_SetPIN old -> new.  KAGI_ERR_PIN: wrong old PIN; INVALID: new length. */
int hsm_session_set_pin(struct hsm_session *s, const char *old_pin,
    const char *new_pin) KAGI_WUR;
/*
 * Destroy the certificates and keys whose CKA_LABEL starts with label_prefix
 * (objects kagi made) and whose CKA_ID is not keep_id: what an earlier or
 * interrupted enrolment left on the card.  Other objects stay.
 */
int hsm_card_prune(struct hsm_session *s, const char *label_prefix,
    const uint8_t *keep_id, size_t keep_len, size_t *removed) KAGI_WUR;

#endif
