/*
 * Fuzz CSR intake (ca_csr_parse): PEM/DER framing, DER decoding, the key
 * allowlist and signature verification of untrusted CSRs.  Seeds in
 * fuzz/corpus/csr/ (P-256, P-384, RSA-2048 with requested extensions, PEM,
 * Ed25519, a broken signature).
 */
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "kagi/ca.h"
#include "kagi/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
quiet(int level, const char *file, int line, const char *func,
    const char *msg, void *arg)
{
	(void)level; (void)file; (void)line; (void)func; (void)msg; (void)arg;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	EVP_PKEY *pk = NULL;
	unsigned flags = 0;

	kagi_log_set_handler(quiet, NULL);
	if (ca_csr_parse(data, size, &pk, &flags) == 0) {
		/* Whatever was accepted must pass the allowlist again. */
		if (ca_key_check(pk) != 0)
			__builtin_trap();
		EVP_PKEY_free(pk);
	} else if (pk != NULL) {
		__builtin_trap(); /* no output on failure */
	}
	return 0;
}
