/*
 * cardtoken: prepare a SoftHSM2 token as a staff card, as the counter does
 * with a real card (test helper; uses $SOFTHSM2_CONF).
 *
 *   cardtoken init  LABEL PIN                 new token (SO PIN = "so-" PIN)
 *   cardtoken csr   LABEL PIN OUT.csr [p256|rsa2048]
 *                   key generated ON the token, CSR signed by the token key
 *                   (ca_signer_from_hsm + X509_REQ_sign_ctx)
 *   cardtoken write LABEL PIN CERT.pem [CHAIN.pem]
 *                   the certificate (and CA certificates) written onto the
 *                   token with the key's CKA_ID
 *   cardtoken sign  LABEL PIN HEXDIGEST       (diagnostics) DER signature hex
 *
 * The PIN is a command-line argument here only because this is a test
 * helper for throwaway tokens.  Exit 0 on success; errors name the step.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "kagi/ca.h"
#include "kagi/err.h"
#include "kagi/hsm.h"

#define KEY_LABEL "staff-logon"

static const char *
module_path(void)
{
	const char *m = getenv("CARDTOKEN_MODULE");

	return m != NULL ? m : "/usr/lib/softhsm/libsofthsm2.so";
}

static int
die(const char *what, int r)
{
	fprintf(stderr, "cardtoken: %s: %s\n", what, kagi_err_name(r));
	return 1;
}

static int
do_csr(struct hsm_session *s, const char *out, const char *type)
{
	struct hsm_key *k = NULL;
	EVP_PKEY *signer = NULL, *pub = NULL;
	EVP_MD_CTX *ctx = NULL;
	X509_REQ *req = NULL;
	X509_NAME *n = NULL;
	FILE *f = NULL;
	enum hsm_key_type kt = HSM_KEY_EC_P256;
	int r, rc = 1;

	if (type != NULL && strcmp(type, "rsa2048") == 0)
		kt = HSM_KEY_RSA_2048;
	else if (type != NULL && strcmp(type, "p256") != 0)
		return die("key type", KAGI_ERR_INVALID);
	if ((r = hsm_key_generate(s, KEY_LABEL, kt, &k)) != 0)
		return die("generate the key on the token", r);
	if ((r = hsm_key_public(k, &pub)) != 0 ||
	    (r = ca_signer_from_hsm(k, &signer)) != 0 ||
	    (r = ca_sign_ctx_new(signer, "SHA256", &ctx)) != 0) {
		rc = die("signer", r);
		goto out;
	}
	if ((req = X509_REQ_new()) == NULL || (n = X509_NAME_new()) == NULL ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	    (const unsigned char *)"card request", -1, -1, 0) != 1 ||
	    X509_REQ_set_subject_name(req, n) != 1 ||
	    X509_REQ_set_pubkey(req, pub) != 1 ||
	    X509_REQ_sign_ctx(req, ctx) <= 0) {
		rc = die("CSR signed by the token key", KAGI_ERR_INTERNAL);
		goto out;
	}
	if ((f = fopen(out, "w")) == NULL || PEM_write_X509_REQ(f, req) != 1) {
		rc = die("write the CSR", KAGI_ERR_SYSTEM);
		goto out;
	}
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	X509_NAME_free(n);
	X509_REQ_free(req);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(signer);
	EVP_PKEY_free(pub);
	hsm_key_free(k);
	return rc;
}

static int
write_pem_certs(struct hsm_session *s, const char *path, const uint8_t *id,
    size_t idlen, int first_only)
{
	FILE *f = fopen(path, "r");
	X509 *x;
	uint8_t *der;
	int n = 0, dlen, r;
	char label[32];

	if (f == NULL)
		return die(path, KAGI_ERR_NOT_FOUND);
	while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		der = NULL;
		dlen = i2d_X509(x, &der);
		X509_free(x);
		if (dlen <= 0) {
			fclose(f);
			return die("certificate", KAGI_ERR_FORMAT);
		}
		if (n == 0 && first_only)
			r = hsm_cert_write(s, KEY_LABEL, id, idlen, der,
			    (size_t)dlen);
		else {
			/* CA certificates: their own CKA_ID, not the key's */
			uint8_t caid[2] = { 0xca, (uint8_t)n };

			snprintf(label, sizeof(label), "ca-%d", n);
			r = hsm_cert_write(s, label, caid, sizeof(caid), der,
			    (size_t)dlen);
		}
		OPENSSL_free(der);
		if (r != 0) {
			fclose(f);
			return die("write the certificate", r);
		}
		n++;
		if (first_only)
			break;
	}
	fclose(f);
	return n > 0 ? 0 : die(path, KAGI_ERR_FORMAT);
}

static int
do_write(struct hsm_session *s, const char *cert, const char *chain)
{
	struct hsm_key *k = NULL;
	uint8_t *id = NULL;
	size_t idlen = 0;
	int r, rc = 1;

	if ((r = hsm_key_find(s, KEY_LABEL, &k)) != 0 ||
	    (r = hsm_key_id(k, &id, &idlen)) != 0) {
		rc = die("the card key", r);
		goto out;
	}
	if ((rc = write_pem_certs(s, cert, id, idlen, 1)) != 0)
		goto out;
	if (chain != NULL)
		rc = write_pem_certs(s, chain, NULL, 0, 0);
out:
	free(id);
	hsm_key_free(k);
	return rc;
}

static int
do_sign(struct hsm_session *s, const char *hex)
{
	struct hsm_key *k = NULL;
	uint8_t dg[32], sig[1024];
	size_t siglen = sizeof(sig), i;
	int r;

	if (strlen(hex) != 64)
		return die("digest", KAGI_ERR_INVALID);
	for (i = 0; i < 32; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return die("digest", KAGI_ERR_INVALID);
		dg[i] = (uint8_t)v;
	}
	if ((r = hsm_key_find(s, KEY_LABEL, &k)) != 0)
		return die("the card key", r);
	r = hsm_key_sign(k, EVP_sha256(), dg, 32, sig, &siglen);
	hsm_key_free(k);
	if (r != 0)
		return die("sign", r);
	for (i = 0; i < siglen; i++)
		printf("%02x", sig[i]);
	printf("\n");
	return 0;
}

int
main(int argc, char **argv)
{
	struct hsm *h = NULL;
	struct hsm_session *s = NULL;
	char so[80];
	int r, rc = 1;

	if (argc < 4) {
		fprintf(stderr, "usage: cardtoken init|csr|write|sign LABEL "
		    "PIN [ARGS]\n");
		return 2;
	}
	if ((r = hsm_open(module_path(), &h)) != 0)
		return die("load the PKCS#11 module", r);
	if (strcmp(argv[1], "init") == 0) {
		snprintf(so, sizeof(so), "so-%s", argv[3]);
		r = hsm_token_init(h, argv[2], so, argv[3]);
		rc = r == 0 ? 0 : die("init the token", r);
		goto out;
	}
	if ((r = hsm_session_open(h, argv[2], argv[3], &s)) != 0) {
		rc = die("log in to the token", r);
		goto out;
	}
	if (strcmp(argv[1], "csr") == 0 && argc >= 5)
		rc = do_csr(s, argv[4], argc >= 6 ? argv[5] : NULL);
	else if (strcmp(argv[1], "write") == 0 && argc >= 5)
		rc = do_write(s, argv[4], argc >= 6 ? argv[5] : NULL);
	else if (strcmp(argv[1], "sign") == 0 && argc >= 5)
		rc = do_sign(s, argv[4]);
	else {
		fprintf(stderr, "cardtoken: bad command\n");
		rc = 2;
	}
out:
	hsm_session_logout(s);
	hsm_session_close(s);
	hsm_close(h);
	return rc;
}
