/*
 * Fuzz the OCSP request parser (ca_ocsp_request_parse): size cap, whole-DER
 * parse, CertID hash allowlist and lengths, nonce and critical extensions.
 * Seeds in fuzz/corpus/ocsp_req/ (openssl ocsp -reqout: SHA-1 and SHA-256
 * CertIDs, with and without nonce, several CertIDs).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <openssl/ocsp.h>

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
	OCSP_REQUEST *req = NULL;
	uint8_t *resp = NULL;
	size_t len = 0;
	int r;

	kagi_log_set_handler(quiet, NULL);
	r = ca_ocsp_request_parse(data, size, &req);
	if (r == 0) {
		int n = OCSP_request_onereq_count(req);

		if (n < 1 || n > CA_OCSP_MAX_CERTIDS)
			__builtin_trap();
		for (int i = 0; i < n; i++) {
			ASN1_OCTET_STRING *nh = NULL, *kh = NULL;
			ASN1_OBJECT *md = NULL;
			ASN1_INTEGER *sn = NULL;

			if (!OCSP_id_get0_info(&nh, &md, &kh, &sn,
			    OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, i))))
				__builtin_trap();
		}
		OCSP_REQUEST_free(req);
	} else {
		if (req != NULL)
			__builtin_trap();
		/* The error answer for any parse failure must build. */
		if (ca_ocsp_error_response(r, &resp, &len) != 0)
			__builtin_trap();
		free(resp);
	}
	return 0;
}
