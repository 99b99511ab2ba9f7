/*
 * libFuzzer harness for the FIDO verification path kagid runs on bytes a
 * terminal sends (fido/fido.c): registration (authData + attStmt through
 * kagi_fido_cred_check) and assertion (authData + signature + stored COSE
 * key through kagi_fido_assert_check), plus the CBOR well-formedness check.
 *
 * Input: byte 0 selects the path (bit 0: assertion, bit 1: require UV),
 * bytes 1..32 are the clientDataHash, then fields with a u16 big-endian
 * length each: registration authData, attStmt; assertion authData, sig,
 * COSE key.  Seeds (fuzz/corpus/fido_authdata/) are real registrations and
 * assertions from the test authenticator.  A success must leave well-formed
 * outputs; nothing may crash or leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kagi/kfido.h"
#include "kagi/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
quiet(int level, const char *file, int line, const char *func,
    const char *msg, void *arg)
{
	(void)level, (void)file, (void)line, (void)func, (void)msg, (void)arg;
}

static const uint8_t aaguid[16] = "kagi-softfido-01";

static int
field(const uint8_t **p, size_t *left, const uint8_t **out, size_t *len)
{
	size_t n;

	if (*left < 2)
		return -1;
	n = (size_t)(*p)[0] << 8 | (*p)[1];
	*p += 2;
	*left -= 2;
	if (n > *left)
		return -1;
	*out = *p;
	*len = n;
	*p += n;
	*left -= n;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p, *a = NULL, *b = NULL, *k = NULL;
	size_t left, al = 0, bl = 0, kl = 0;
	uint8_t mode;

	kagi_log_set_handler(quiet, NULL);
	if (size < 33)
		return 0;
	mode = data[0];
	p = data + 33;
	left = size - 33;
	(void)kagi_fido_cbor_check(p, left, 8);
	if (field(&p, &left, &a, &al) != 0 || field(&p, &left, &b, &bl) != 0)
		return 0;
	if ((mode & 1) == 0) {
		struct kagi_fido_reg_policy pol = {
			.rp_id = "kagi.example.lg.jp",
			.require_uv = (mode & 2) != 0,
			.allow_self_attestation = 1,
			.aaguids = aaguid,
			.n_aaguids = 1,
		};
		struct kagi_fido_reg_input in = {
			.cdh = data + 1, .cdh_len = 32, .fmt = "packed",
			.authdata = a, .authdata_len = al,
			.attstmt = b, .attstmt_len = bl,
		};
		struct kagi_fido_reg reg;

		if (kagi_fido_cred_check(&pol, &in, &reg) == 0) {
			uint8_t xy[64];

			if (reg.cred_id == NULL || reg.cred_id_len == 0 ||
			    kagi_fido_cose_es256_parse(reg.cose_key,
			    sizeof(reg.cose_key), xy) != 0 ||
			    !(reg.flags & KAGI_FIDO_FLAG_UP))
				abort();
		}
		kagi_fido_reg_clear(&reg);
	} else {
		struct kagi_fido_assert_input in = {
			.cdh = data + 1, .cdh_len = 32,
			.authdata = a, .authdata_len = al,
			.sig = b, .sig_len = bl,
		};
		struct kagi_fido_assert_result res;

		k = p;
		kl = left;
		if (kagi_fido_assert_check("kagi.example.lg.jp", k, kl, &in,
		    (mode & 2) != 0, &res) == 0) {
			if (!(res.flags & KAGI_FIDO_FLAG_UP))
				abort();
			(void)kagi_fido_counter_check(0, res.counter);
		}
	}
	return 0;
}
