/* ca module internals (not a contract). */
#ifndef KAGI_CA_INT_H
#define KAGI_CA_INT_H

#include <stdint.h>

#include <openssl/asn1.h>
#include <openssl/x509.h>

#include "kagi/ca.h"

struct ca_issuer {
	X509 *cert;            /* NULL: self-signing root */
	EVP_PKEY *signer;
	char *cdp_url;
	char *ocsp_url;
	char *ca_issuers_url;
};

/* Log the OpenSSL error queue (then clear it) after a message. */
void ca_log_ossl(const char *what);
/* An ASN1_TIME for t (UTCTime until 2049, GeneralizedTime after). */
ASN1_TIME *ca_time_new(int64_t t);
/* A positive INTEGER from big-endian bytes (1..20, not zero). */
ASN1_INTEGER *ca_serial_to_asn1(const uint8_t *s, size_t len);
/* Sign with ctx made by ca_sign_ctx_new for iss->signer. */
EVP_MD_CTX *ca_issuer_sign_ctx(const struct ca_issuer *iss);

#endif
