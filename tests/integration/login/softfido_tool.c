/*
 * softfido_tool: drive the software authenticator's state file for the
 * login tests (the person with the key).
 *
 *   softfido_tool STATE new [uv] [x5c] a fresh authenticator (builtin UV,
 *                                      attestation certificate)
 *   softfido_tool STATE enrol RP USER  makeCredential through libfido2;
 *                                      prints the JSON body for kagid's
 *                                      POST /v1/users/fido/LOGIN
 *   softfido_tool STATE credm RP USER [CDH_B64]
 *                                      makeCredential like `fido2-cred -M`
 *                                      and print its output format
 *                                      (fido2-cred(1)): cdh, rp, fmt,
 *                                      authdata, credential id, signature,
 *                                      x5c (if any)
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

/* The output of `fido2-cred -M` (fido2-cred(1) "OUTPUT FORMAT"). */
static int
credm(struct softfido *sf, const char *rp, const char *user,
    const char *cdh_b64)
{
	fido_dev_t *dev = fido_dev_new();
	fido_cred_t *c = fido_cred_new();
	unsigned char cdh[64], uid[16];
	char *p[5];
	int rc, n, i;

	if (dev == NULL || c == NULL || softfido_open(sf, dev) != 0)
		return 1;
	if (cdh_b64 != NULL) {
		n = EVP_DecodeBlock(cdh, (const unsigned char *)cdh_b64,
		    (int)strlen(cdh_b64));
		if (strlen(cdh_b64) != 44 || n != 33)
			return 2;
	} else
		RAND_bytes(cdh, 32);
	RAND_bytes(uid, sizeof(uid));
	if (fido_cred_set_type(c, COSE_ES256) != FIDO_OK ||
	    fido_cred_set_clientdata_hash(c, cdh, 32) != FIDO_OK ||
	    fido_cred_set_rp(c, rp, NULL) != FIDO_OK ||
	    fido_cred_set_user(c, uid, sizeof(uid), user, NULL, NULL) !=
	    FIDO_OK)
		return 1;
	if ((rc = fido_dev_make_cred(dev, c, NULL)) != FIDO_OK) {
		fprintf(stderr, "make_cred: %s\n", fido_strerr(rc));
		return 1;
	}
	p[0] = b64(cdh, 32);
	p[1] = b64(fido_cred_authdata_ptr(c), fido_cred_authdata_len(c));
	p[2] = b64(fido_cred_id_ptr(c), fido_cred_id_len(c));
	p[3] = b64(fido_cred_sig_ptr(c), fido_cred_sig_len(c));
	p[4] = fido_cred_x5c_ptr(c) != NULL ? b64(fido_cred_x5c_ptr(c),
	    fido_cred_x5c_len(c)) : NULL;
	if (p[0] == NULL || p[1] == NULL || p[2] == NULL || p[3] == NULL)
		return 1;
	printf("%s\n%s\n%s\n%s\n%s\n%s\n", p[0], rp, fido_cred_fmt(c), p[1],
	    p[2], p[3]);
	if (p[4] != NULL)
		printf("%s\n", p[4]);
	for (i = 0; i < 5; i++)
		free(p[i]);
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
	for (int i = 3; strcmp(argv[2], "new") == 0 && i < argc; i++) {
		if (strcmp(argv[i], "uv") == 0)
			o.builtin_uv = 1;
		else if (strcmp(argv[i], "x5c") == 0)
			o.attestation = SOFTFIDO_ATT_X5C;
		else
			return 2;
	}
	if (strcmp(argv[2], "credm") == 0)
		o.attestation = SOFTFIDO_ATT_X5C; /* a new state file */
	if ((sf = softfido_new(&o)) == NULL) {
		fprintf(stderr, "softfido_new failed\n");
		return 1;
	}
	if (strcmp(argv[2], "new") == 0)
		r = 0;
	else if (strcmp(argv[2], "enrol") == 0 && argc == 5)
		r = enrol(sf, argv[3], argv[4]);
	else if (strcmp(argv[2], "credm") == 0 && (argc == 5 || argc == 6))
		r = credm(sf, argv[3], argv[4], argc == 6 ? argv[5] : NULL);
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
