/*
 * Fuzz the token selector (label or RFC 7512 pkcs11: URI) and the CKA_EC_POINT
 * unwrapping: both read bytes from configuration or from a token.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../hsm/hsm_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hsm_token_match m;
	const uint8_t *pt = NULL;
	size_t ptlen = 0;
	char *s;

	if (size > 4096)
		return 0;
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	memset(&m, 0, sizeof(m));
	(void)hsm_token_match_parse(s, &m);
	free(s);
	(void)hsm_ec_point_unwrap(data, size, 32, &pt, &ptlen);
	(void)hsm_ec_point_unwrap(data, size, 48, &pt, &ptlen);
	return 0;
}
