/*
 * Test environment for the CA suite: a private SoftHSM2 token per test
 * (mkdtemp, softhsm2.conf with directories.tokendir, SOFTHSM2_CONF), a root
 * and an issuing CA whose keys are generated in that token, and helpers to
 * write PEM/DER files and run independent verifiers (openssl, certtool).
 */
#ifndef KAGI_TEST_CA_ENV_H
#define KAGI_TEST_CA_ENV_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "kagi/ca.h"
#include "kagi/hsm.h"

#define CA_TEST_CDP "http://ca.kagi.test/crl/issuing.crl"
#define CA_TEST_OCSP "http://ca.kagi.test/ocsp"
#define CA_TEST_CAISSUERS "http://ca.kagi.test/ca/issuing.crt"
#define CA_TEST_ROOT_CDP "http://ca.kagi.test/crl/root.crl"

struct ca_env {
	char dir[256];
	struct hsm *h;
	struct hsm_session *s;
};

struct ca_pki {
	struct hsm_key *root_k, *iss_k;
	EVP_PKEY *root_signer, *iss_signer;
	X509 *root, *issuing;
	struct ca_issuer *root_iss, *iss;
};

/* Called once from main(): a base directory removed at exit. */
void ca_env_global_init(void);
void ca_env_global_cleanup(void);

/* Per test: a fresh token "kagi-ca-test", logged in. */
void ca_env_setup(struct ca_env *e);
void ca_env_teardown(struct ca_env *e);

/* Root + issuing CA in the token with key type t (validity from now). */
void ca_pki_build(struct ca_env *e, struct ca_pki *p, enum hsm_key_type t);
void ca_pki_free(struct ca_pki *p);

/* dir/name into buf. */
const char *ca_env_path(const struct ca_env *e, const char *name, char *buf,
    size_t len);
void ca_env_write(const struct ca_env *e, const char *name, const void *data,
    size_t len);
void ca_env_write_pem(const struct ca_env *e, const char *name, X509 *const *certs,
    size_t n);
/*
 * Run a shell command (printf format) in e->dir with stdout+stderr captured
 * into out (NUL-terminated, may be NULL); returns the exit status.
 */
int ca_env_run(const struct ca_env *e, char *out, size_t outlen,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Software key and a CSR for it (DER), optionally asking for extensions. */
EVP_PKEY *ca_test_keygen(const char *alg, const char *param, size_t bits);
int ca_test_csr(EVP_PKEY *key, int with_exts, uint8_t **der, size_t *len);

#endif
