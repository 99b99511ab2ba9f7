/*
 * libFuzzer harness for POST /v1/login/finish bodies (server/login.c):
 * the parser/validator, then what the handler does with a parsed body
 * before any store access: the FIDO authdata wrapping and base64
 * round trips.  A refused body must leave nothing behind; an accepted one
 * must hold only values within the contract's limits.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kagi/log.h"
#include "login.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
quiet(int level, const char *file, int line, const char *func,
    const char *msg, void *arg)
{
	(void)level, (void)file, (void)line, (void)func, (void)msg, (void)arg;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct login_finish f;
	const char *field = NULL;
	uint8_t *w = NULL, *back = NULL;
	size_t wn = 0, bn = 0;
	char *e;

	kagi_log_set_handler(quiet, NULL);
	if (login_finish_parse((const char *)data, size, &f, &field) != 0) {
		if (f.login != NULL || f.password != NULL || f.n_certs != 0 ||
		    field == NULL)
			abort();
		return 0;
	}
	if (f.login == NULL || !store_login_id_valid(f.challenge_id) ||
	    f.n_certs > LOGIN_MAX_CERTS || f.card_sig_len > LOGIN_CARD_SIG_MAX ||
	    (f.has_card && (f.n_certs == 0 || f.card_sig_len == 0)) ||
	    (f.has_fido && (f.fido_cred_id_len == 0 ||
	    f.fido_authdata_len == 0 || f.fido_sig_len == 0)))
		abort();
	if (f.has_fido) {
		if (login_fido_authdata_cbor(f.fido_authdata,
		    f.fido_authdata_len, &w, &wn) == 0) {
			if (wn < f.fido_authdata_len)
				abort();
			free(w);
		}
		/* what we encode decodes to the same bytes */
		if ((e = login_b64_encode(f.fido_cred_id,
		    f.fido_cred_id_len)) != NULL) {
			if (login_b64_decode(e, f.fido_cred_id_len, &back,
			    &bn) != 0 || bn != f.fido_cred_id_len ||
			    memcmp(back, f.fido_cred_id, bn) != 0)
				abort();
			free(back);
			free(e);
		}
	}
	login_finish_clear(&f);
	return 0;
}
