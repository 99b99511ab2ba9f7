/*
 * softfido_tool: drive the software authenticator's state file for the
 * login tests (the person with the key).
 *
 *   softfido_tool STATE new [uv]       a fresh authenticator (builtin UV)
 *   softfido_tool STATE enrol RP USER  makeCredential through libfido2;
 *                                      prints the JSON body for kagid's
 *                                      POST /v1/users/fido/LOGIN
 *   softfido_tool STATE up 0|1         the person touches the key or not
 *   softfido_tool STATE uv 0|1         built-in UV succeeds or not
 *   softfido_tool STATE counter normal|frozen|rewind
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fido.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "softfido.h"

static char *
b64(const unsigned char *p, size_t n)
{
	char *s = malloc(((n + 2) / 3) * 4 + 1);

	if (s != NULL)
		EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	return s;
}

static int
enrol(struct softfido *sf, const char *rp, const char *user)
{
	fido_dev_t *dev = fido_dev_new();
	fido_cred_t *c = fido_cred_new();
	unsigned char cdh[32], uid[16];
	int rc;

	if (dev == NULL || c == NULL || softfido_open(sf, dev) != 0)
		return 1;
	RAND_bytes(cdh, sizeof(cdh));
	RAND_bytes(uid, sizeof(uid));
	if (fido_cred_set_type(c, COSE_ES256) != FIDO_OK ||
	    fido_cred_set_clientdata_hash(c, cdh, sizeof(cdh)) != FIDO_OK ||
	    fido_cred_set_rp(c, rp, rp) != FIDO_OK ||
	    fido_cred_set_user(c, uid, sizeof(uid), user, user, NULL) !=
	    FIDO_OK)
		return 1;
	if ((rc = fido_dev_make_cred(dev, c, NULL)) != FIDO_OK) {
		fprintf(stderr, "make_cred: %s\n", fido_strerr(rc));
		return 1;
	}
	{
		char *a = b64(cdh, sizeof(cdh));
		char *b = b64(fido_cred_authdata_ptr(c),
		    fido_cred_authdata_len(c));
		char *d = b64(fido_cred_attstmt_ptr(c),
		    fido_cred_attstmt_len(c));

		if (a == NULL || b == NULL || d == NULL)
			return 1;
		printf("{\"client_data_hash\":\"%s\",\"fmt\":\"%s\","
		    "\"authdata\":\"%s\",\"attstmt\":\"%s\"}\n", a,
		    fido_cred_fmt(c), b, d);
		free(a);
		free(b);
		free(d);
	}
	fido_dev_close(dev);
	fido_dev_free(&dev);
	fido_cred_free(&c);
	return 0;
}

int
main(int argc, char **argv)
{
	struct softfido_opts o;
	struct softfido *sf;
	int r = 1;

	if (argc < 3)
		return 2;
	fido_init(FIDO_DISABLE_U2F_FALLBACK);
	memset(&o, 0, sizeof(o));
	o.state_path = argv[1];
	o.builtin_uv = strcmp(argv[2], "new") == 0 && argc > 3 &&
	    strcmp(argv[3], "uv") == 0;
	if ((sf = softfido_new(&o)) == NULL) {
		fprintf(stderr, "softfido_new failed\n");
		return 1;
	}
	if (strcmp(argv[2], "new") == 0)
		r = 0;
	else if (strcmp(argv[2], "enrol") == 0 && argc == 5)
		r = enrol(sf, argv[3], argv[4]);
	else if (strcmp(argv[2], "up") == 0 && argc == 4)
		r = softfido_set_up(sf, atoi(argv[3])) != 0;
	else if (strcmp(argv[2], "uv") == 0 && argc == 4)
		r = softfido_set_uv(sf, atoi(argv[3])) != 0;
	else if (strcmp(argv[2], "counter") == 0 && argc == 4)
		r = softfido_set_counter_mode(sf, strcmp(argv[3], "frozen") ==
		    0 ? SOFTFIDO_COUNTER_FROZEN : strcmp(argv[3], "rewind") ==
		    0 ? SOFTFIDO_COUNTER_REWIND : SOFTFIDO_COUNTER_NORMAL) != 0;
	else
		r = 2;
	softfido_free(sf);
	return r;
}
