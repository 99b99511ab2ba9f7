/*
 * The CA service inside kagid (private to ca_service.c, api_ca.c and
 * api_terminal.c; not a contract).  docs/CA.md "In kagid".
 */
#ifndef KAGI_SERVER_CA_SERVICE_H
#define KAGI_SERVER_CA_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kagi/ca.h"
#include "kagi/hsm.h"
#include "kagi/store.h"
#include "server_int.h"

enum kagid_ca_which {
	KAGID_CA_ISSUING = 0,
	KAGID_CA_ROOT = 1,
};

struct kagid_ca_crl {
	uint8_t *der;          /* served from memory */
	size_t len;
	uint64_t number;
	int64_t this_update;
	int64_t next_update;
	size_t entries;
};

struct kagid_ca {
	struct kagid *k;
	struct hsm *h;
	struct hsm_session *s;
	struct hsm_key *root_k, *iss_k, *ocsp_k;
	EVP_PKEY *root_signer, *iss_signer, *ocsp_signer;
	X509 *root, *issuing, *ocsp;
	uint8_t *root_der, *iss_der; /* for /ca/<ca>.crt */
	size_t root_der_len, iss_der_len;
	struct ca_issuer *root_iss, *iss;
	struct ca_ocsp_responder *resp;
	struct ca_ocsp_cache *cache;
	char *ca_dir;
	char *crl_dir;
	const char *org;
	const char *upn_suffix;
	char *base_url;
	int64_t validity[CA_PROFILE_OCSP + 1]; /* by enum ca_profile */
	int64_t crl_lifetime;
	int64_t ocsp_validity;
	struct kagid_ca_crl crl[2]; /* by enum kagid_ca_which */
	struct event *timer;
	uint64_t ocsp_requests;
	int crl_dirty;         /* a publish failed: the timer retries */
};

/* Serial octets <-> upper-case hex (as openssl x509 -serial prints). */
int kagid_serial_parse(const char *hex, uint8_t out[STORE_SERIAL_MAX],
    size_t *len) KAGI_WUR;
void kagid_serial_hex(const uint8_t *s, size_t len,
    char out[2 * STORE_SERIAL_MAX + 1]);
/* A store record as JSON (with_pem: include the PEM). */
json_t *kagid_cert_json(const struct store_cert *c, int with_pem);
/* SHA-256 fingerprint "AA:BB:..." of a certificate. */
int kagid_cert_sha256(X509 *x, char out[3 * 32]) KAGI_WUR;
/* Publish a new CRL for one CA (store, file, memory). */
int kagid_ca_publish(struct kagid_ca *ca, enum kagid_ca_which which,
    int64_t now) KAGI_WUR;

#endif
