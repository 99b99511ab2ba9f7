/*
 * loginapi_fido_tool: drive the software authenticator (tests/softfido)
 * through libfido2's own client code and print the JSON bodies kagid's
 * API takes.  The authenticator lives in a state file, so consecutive runs
 * share one key and its counter.  Test use only.
 *
 *   loginapi_fido_tool STATE make RP
 *       makeCredential (PIN-protected key, UV by PIN) -> the body of
 *       POST /v1/users/fido/LOGIN:
 *       {"client_data_hash","fmt","authdata","attstmt"}
 *   loginapi_fido_tool STATE assert RP CRED_ID_B64 CDH_HEX [OPTIONS]
 *       getAssertion with clientDataHash = CDH (kagid's tbs_hash) -> the
 *       "fido" member of POST /v1/login/finish:
 *       {"credential_id","authdata","signature"}
 *       OPTIONS: nouv (no PIN: no user verification), noup (user not
 *       present), frozen (the counter does not move: a cloned key)
 * Exit 0 on success, 1 on a usage or device error (message on stderr).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fido.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "softfido.h"

#define PIN "4826"

static char *
b64(const unsigned char *p, size_t n)
{
	char *s = malloc(4 * ((n + 2) / 3) + 1);

	if (s != NULL)
		EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	return s;
}

static int
unb64(const char *s, unsigned char *out, size_t cap, size_t *len)
{
	size_t n = strlen(s);
	int got;

	if (n == 0 || n % 4 != 0 || n / 4 * 3 > cap)
		return -1;
	if ((got = EVP_DecodeBlock(out, (const unsigned char *)s,
	    (int)n)) < 0)
		return -1;
	*len = (size_t)got - (n >= 1 && s[n - 1] == '=') -
	    (n >= 2 && s[n - 2] == '=');
	return 0;
}

static int
unhex(const char *s, unsigned char *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	return 0;
}

static int
die(const char *what, int rc)
{
	fprintf(stderr, "loginapi_fido_tool: %s: %s\n", what,
	    rc != 0 ? fido_strerr(rc) : "failed");
	return 1;
}

static int
do_make(struct softfido *sf, const char *rp)
{
	static const unsigned char uid[] = { 0x4b, 0x41, 0x47, 0x49 };
	unsigned char cdh[32];
	fido_dev_t *dev = fido_dev_new();
	fido_cred_t *c = fido_cred_new();
	char *h, *ad, *att;
	int rc;

	if (dev == NULL || c == NULL || RAND_bytes(cdh, sizeof(cdh)) != 1)
		return die("setup", 0);
	if (softfido_set_pin(sf, PIN) != 0)
		return die("set pin", 0);
	if (softfido_open(sf, dev) != 0)
		return die("open", 0);
	if ((rc = fido_cred_set_type(c, COSE_ES256)) != FIDO_OK ||
	    (rc = fido_cred_set_clientdata_hash(c, cdh, sizeof(cdh))) !=
	    FIDO_OK || (rc = fido_cred_set_rp(c, rp, "kagi")) != FIDO_OK ||
	    (rc = fido_cred_set_user(c, uid, sizeof(uid), "staff", "Staff",
	    NULL)) != FIDO_OK || (rc = fido_dev_make_cred(dev, c, PIN)) !=
	    FIDO_OK)
		return die("make_cred", rc);
	h = b64(cdh, sizeof(cdh));
	ad = b64(fido_cred_authdata_ptr(c), fido_cred_authdata_len(c));
	att = b64(fido_cred_attstmt_ptr(c), fido_cred_attstmt_len(c));
	if (h == NULL || ad == NULL || att == NULL)
		return die("encode", 0);
	printf("{\"client_data_hash\":\"%s\",\"fmt\":\"%s\",\"authdata\":\"%s\","
	    "\"attstmt\":\"%s\"}\n", h, fido_cred_fmt(c), ad, att);
	free(h);
	free(ad);
	free(att);
	fido_cred_free(&c);
	fido_dev_close(dev);
	fido_dev_free(&dev);
	return 0;
}

static int
do_assert(struct softfido *sf, const char *rp, const char *id_b64,
    const char *cdh_hex, int argc, char **argv)
{
	unsigned char id[1024], cdh[32];
	size_t id_len = 0;
	int uv = 1, up = 1, frozen = 0, rc;
	fido_dev_t *dev = fido_dev_new();
	fido_assert_t *a = fido_assert_new();
	char *ad, *sig;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "nouv") == 0)
			uv = 0;
		else if (strcmp(argv[i], "noup") == 0)
			up = 0;
		else if (strcmp(argv[i], "frozen") == 0)
			frozen = 1;
		else
			return die("unknown option", 0);
	}
	if (dev == NULL || a == NULL || unb64(id_b64, id, sizeof(id),
	    &id_len) != 0 || unhex(cdh_hex, cdh, sizeof(cdh)) != 0)
		return die("arguments", 0);
	if (softfido_set_counter_mode(sf, frozen ? SOFTFIDO_COUNTER_FROZEN :
	    SOFTFIDO_COUNTER_NORMAL) != 0 || softfido_set_up(sf, up) != 0)
		return die("knobs", 0);
	if (softfido_open(sf, dev) != 0)
		return die("open", 0);
	if ((rc = fido_assert_set_clientdata_hash(a, cdh, sizeof(cdh))) !=
	    FIDO_OK || (rc = fido_assert_set_rp(a, rp)) != FIDO_OK ||
	    (rc = fido_assert_allow_cred(a, id, id_len)) != FIDO_OK ||
	    (rc = fido_assert_set_up(a, up ? FIDO_OPT_TRUE :
	    FIDO_OPT_FALSE)) != FIDO_OK ||
	    (rc = fido_dev_get_assert(dev, a, uv ? PIN : NULL)) != FIDO_OK)
		return die("get_assert", rc);
	/* as kagi-cardd sends it: libfido2's CBOR-wrapped authdata */
	ad = b64(fido_assert_authdata_ptr(a, 0), fido_assert_authdata_len(a, 0));
	sig = b64(fido_assert_sig_ptr(a, 0), fido_assert_sig_len(a, 0));
	if (ad == NULL || sig == NULL)
		return die("encode", 0);
	printf("{\"credential_id\":\"%s\",\"authdata\":\"%s\","
	    "\"signature\":\"%s\"}\n", id_b64, ad, sig);
	free(ad);
	free(sig);
	fido_assert_free(&a);
	fido_dev_close(dev);
	fido_dev_free(&dev);
	return 0;
}

int
main(int argc, char **argv)
{
	struct softfido_opts o;
	struct softfido *sf;
	int rc;

	if (argc < 4) {
		fprintf(stderr, "usage: %s STATE make RP | STATE assert RP "
		    "CRED_ID_B64 CDH_HEX [nouv] [noup] [frozen]\n", argv[0]);
		return 1;
	}
	fido_init(FIDO_DISABLE_U2F_FALLBACK);
	memset(&o, 0, sizeof(o));
	o.state_path = argv[1];
	o.attestation = SOFTFIDO_ATT_X5C;
	if ((sf = softfido_new(&o)) == NULL)
		return die("softfido_new", 0);
	if (strcmp(argv[2], "make") == 0)
		rc = do_make(sf, argv[3]);
	else if (strcmp(argv[2], "assert") == 0 && argc >= 6)
		rc = do_assert(sf, argv[3], argv[4], argv[5], argc - 6,
		    argv + 6);
	else
		rc = die("usage", 0);
	softfido_free(sf);
	return rc;
}
