/*
 * softfido: a software FIDO2 authenticator for tests only (docs/FIDO.md).
 *
 * It sits behind libfido2's fido_dev_set_io_functions(): libfido2 writes and
 * reads 64-byte HID reports with CTAPHID framing (INIT with nonce and channel
 * allocation, CBOR, PING, WINK, CANCEL, ERROR, continuation packets), so
 * libfido2's own client code (fido_dev_open, fido_dev_make_cred,
 * fido_dev_get_assert, fido_dev_set_pin, ...) runs unmodified.
 *
 * CTAP2.0 over CBOR: authenticatorGetInfo, MakeCredential (ES256, "packed"
 * self attestation or with a test attestation certificate), GetAssertion
 * (allowList only, no discoverable credentials), ClientPIN protocol 1
 * (getRetries, getKeyAgreement, setPIN, changePIN, getPINToken), Reset.
 *
 * Knobs simulate the person and the device: user presence (touched or
 * not), built-in user verification (succeeds or not), the signature counter
 * (normal, frozen, rewinding, absent), the PIN.
 *
 * State (credentials with private keys, counter, PIN hash, retries, knobs)
 * is in memory; with opts.state_path it lives in a file instead, re-read and
 * written back under an exclusive lock around every CTAP command and knob
 * change, so two processes (a daemon and the test driving it) share one
 * authenticator.  Private keys are in that file: test use only.
 *
 * Functions return 0 or a negative KAGI_ERR_*.
 */
#ifndef KAGI_SOFTFIDO_H
#define KAGI_SOFTFIDO_H

#include <stddef.h>
#include <stdint.h>

#include <fido.h>

#include "kagi/err.h"

/* "kagi-softfido-01" */
#define SOFTFIDO_DEFAULT_AAGUID \
	"\x6b\x61\x67\x69\x2d\x73\x6f\x66\x74\x66\x69\x64\x6f\x2d\x30\x31"
#define SOFTFIDO_MAX_RETRIES 8

enum softfido_counter_mode {
	SOFTFIDO_COUNTER_NORMAL = 0, /* +1 before every signature */
	SOFTFIDO_COUNTER_FROZEN = 1, /* never changes (a cloned key) */
	SOFTFIDO_COUNTER_REWIND = 2, /* -1 before every signature (floor 0) */
	SOFTFIDO_COUNTER_ZERO = 3,   /* always 0: no counter implemented */
};

enum softfido_attestation {
	SOFTFIDO_ATT_SELF = 0, /* packed, signed by the credential key */
	SOFTFIDO_ATT_X5C = 1,  /* packed, test attestation key + certificate */
};

struct softfido_opts {
	const uint8_t *aaguid;   /* 16 bytes; NULL: SOFTFIDO_DEFAULT_AAGUID */
	enum softfido_attestation attestation;
	int builtin_uv;          /* advertise the "uv" option */
	const char *state_path;  /* shared state file, or NULL */
};

struct softfido;

/* NULL opts: defaults.  With state_path an existing file is loaded. */
struct softfido *softfido_new(const struct softfido_opts *opts);
void softfido_free(struct softfido *sf);

/*
 * Install the io functions on dev (before fido_dev_open).  Then open dev
 * with fido_dev_open(dev, softfido_path(sf)).  softfido_open does both.
 */
int softfido_attach(struct softfido *sf, fido_dev_t *dev) KAGI_WUR;
const char *softfido_path(const struct softfido *sf);
int softfido_open(struct softfido *sf, fido_dev_t *dev) KAGI_WUR;
/* The io functions themselves, to drive raw HID reports in tests. */
const fido_dev_io_t *softfido_io(void);

/* Knobs (saved to the state file when there is one). */
int softfido_set_up(struct softfido *sf, int touched) KAGI_WUR;
int softfido_set_uv(struct softfido *sf, int verified) KAGI_WUR;
int softfido_set_counter_mode(struct softfido *sf,
    enum softfido_counter_mode mode) KAGI_WUR;
int softfido_set_counter(struct softfido *sf, uint32_t value) KAGI_WUR;
/* Set (or with NULL, clear) the PIN directly; resets the retries. */
int softfido_set_pin(struct softfido *sf, const char *pin) KAGI_WUR;

uint32_t softfido_counter(struct softfido *sf);
int softfido_pin_retries(struct softfido *sf);
size_t softfido_cred_count(struct softfido *sf);
/* The attestation certificate (DER) in SOFTFIDO_ATT_X5C mode. */
int softfido_attestation_cert(struct softfido *sf, const uint8_t **der,
    size_t *len) KAGI_WUR;

/* Explicit snapshot to / from a file (0600, atomic replace). */
int softfido_save(struct softfido *sf, const char *path) KAGI_WUR;
int softfido_load(struct softfido *sf, const char *path) KAGI_WUR;

/*
 * One CTAP2 command without HID framing: req = command byte + CBOR
 * parameters; resp (cap bytes) gets status byte + CBOR.  For tests.
 */
int softfido_cbor(struct softfido *sf, const uint8_t *req, size_t req_len,
    uint8_t *resp, size_t cap, size_t *resp_len) KAGI_WUR;

#endif
