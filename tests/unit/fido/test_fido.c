/*
 * kagi_fido against real registrations and assertions: libfido2's client
 * code drives the software authenticator (tests/softfido), our verifiers
 * judge the result, and fido2-cred -V / fido2-assert -V (fido2-tools, code
 * we did not write) must agree on the good cases.  Negative tests are named
 * after the fault.  Requirements: R-MFA-1..3, R-LOGIN-1.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fido.h>
#include <fido/es256.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "kagi/err.h"
#include "kagi/log.h"
#include "kagi/kfido.h"
#include "softfido.h"

#define RP "kagi.example.lg.jp"
#define PIN "4826"

static uint8_t cdh_reg[32], cdh_login[32];
static char tmpdir[64];

static void
setup(void)
{
	ck_assert_int_eq(RAND_bytes(cdh_reg, sizeof(cdh_reg)), 1);
	ck_assert_int_eq(RAND_bytes(cdh_login, sizeof(cdh_login)), 1);
	strcpy(tmpdir, "/tmp/kagi-fido-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
}

static fido_dev_t *
open_dev(struct softfido *sf)
{
	fido_dev_t *dev = fido_dev_new();

	ck_assert_ptr_nonnull(dev);
	ck_assert_int_eq(softfido_open(sf, dev), 0);
	return dev;
}

static void
close_dev(fido_dev_t **dev)
{
	fido_dev_close(*dev);
	fido_dev_free(dev);
}

/* fido_dev_make_cred through the soft authenticator. */
static fido_cred_t *
make_cred(struct softfido *sf, const char *pin)
{
	fido_dev_t *dev = open_dev(sf);
	fido_cred_t *c = fido_cred_new();
	static const uint8_t uid[] = { 0x4b, 0x41, 0x47, 0x49 };

	ck_assert_int_eq(fido_cred_set_type(c, COSE_ES256), FIDO_OK);
	ck_assert_int_eq(fido_cred_set_clientdata_hash(c, cdh_reg,
	    sizeof(cdh_reg)), FIDO_OK);
	ck_assert_int_eq(fido_cred_set_rp(c, RP, "kagi"), FIDO_OK);
	ck_assert_int_eq(fido_cred_set_user(c, uid, sizeof(uid), "s012345",
	    "Suzuki Hanako", NULL), FIDO_OK);
	ck_assert_int_eq(fido_dev_make_cred(dev, c, pin), FIDO_OK);
	close_dev(&dev);
	return c;
}

static int
get_assert(struct softfido *sf, const uint8_t *id, size_t id_len,
    const char *pin, fido_opt_t up, fido_assert_t **out)
{
	fido_dev_t *dev = open_dev(sf);
	fido_assert_t *a = fido_assert_new();
	int rc;

	*out = NULL;
	ck_assert_int_eq(fido_assert_set_clientdata_hash(a, cdh_login,
	    sizeof(cdh_login)), FIDO_OK);
	ck_assert_int_eq(fido_assert_set_rp(a, RP), FIDO_OK);
	ck_assert_int_eq(fido_assert_allow_cred(a, id, id_len), FIDO_OK);
	ck_assert_int_eq(fido_assert_set_up(a, up), FIDO_OK);
	rc = fido_dev_get_assert(dev, a, pin);
	close_dev(&dev);
	if (rc == FIDO_OK)
		*out = a;
	else
		fido_assert_free(&a);
	return rc;
}

static const struct kagi_fido_reg_policy policy = {
	.rp_id = RP,
	.require_uv = 1,
	.allow_self_attestation = 1,
	.aaguids = (const uint8_t *)SOFTFIDO_DEFAULT_AAGUID,
	.n_aaguids = 1,
};

static struct kagi_fido_reg_input
reg_input(const fido_cred_t *c, const uint8_t *cdh)
{
	struct kagi_fido_reg_input in = {
		.cdh = cdh,
		.cdh_len = 32,
		.fmt = fido_cred_fmt(c),
		.authdata = fido_cred_authdata_ptr(c),
		.authdata_len = fido_cred_authdata_len(c),
		.attstmt = fido_cred_attstmt_ptr(c),
		.attstmt_len = fido_cred_attstmt_len(c),
	};

	return in;
}

static struct kagi_fido_assert_input
assert_input(const fido_assert_t *a, const uint8_t *cdh)
{
	struct kagi_fido_assert_input in = {
		.cdh = cdh,
		.cdh_len = 32,
		.authdata = fido_assert_authdata_ptr(a, 0),
		.authdata_len = fido_assert_authdata_len(a, 0),
		.sig = fido_assert_sig_ptr(a, 0),
		.sig_len = fido_assert_sig_len(a, 0),
	};

	return in;
}

/* A PIN-protected soft authenticator with one UV credential registered. */
struct fixture {
	struct softfido *sf;
	fido_cred_t *cred;
	struct kagi_fido_reg reg;
};

static void
fixture_new(struct fixture *f, const struct softfido_opts *o)
{
	struct kagi_fido_reg_input in;

	memset(f, 0, sizeof(*f));
	ck_assert_ptr_nonnull(f->sf = softfido_new(o));
	ck_assert_int_eq(softfido_set_pin(f->sf, PIN), 0);
	f->cred = make_cred(f->sf, PIN);
	in = reg_input(f->cred, cdh_reg);
	ck_assert_int_eq(kagi_fido_cred_check(&policy, &in, &f->reg), 0);
}

static void
fixture_free(struct fixture *f)
{
	kagi_fido_reg_clear(&f->reg);
	fido_cred_free(&f->cred);
	softfido_free(f->sf);
}

/* --- external verifiers (fido2-tools) ---------------------------------- */

static void
b64_line(FILE *fp, const uint8_t *p, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);

	ck_assert_ptr_nonnull(out);
	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	fprintf(fp, "%s\n", out);
	free(out);
}

static int
run(const char *cmd)
{
	int st = system(cmd);

	ck_assert_int_ne(st, -1);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* fido2-cred -V [-v]: input lines per fido2-cred(1) INPUT FORMAT. */
static int
fido2_cred_verify(const fido_cred_t *c, const uint8_t *cdh, const char *rp,
    int uv, char *pem_out, size_t pem_cap)
{
	char in[128], out[128], cmd[512];
	FILE *fp;
	int rc;

	snprintf(in, sizeof(in), "%s/cred.in", tmpdir);
	snprintf(out, sizeof(out), "%s/cred.out", tmpdir);
	ck_assert_ptr_nonnull(fp = fopen(in, "w"));
	b64_line(fp, cdh, 32);
	fprintf(fp, "%s\n%s\n", rp, fido_cred_fmt(c));
	b64_line(fp, fido_cred_authdata_ptr(c), fido_cred_authdata_len(c));
	b64_line(fp, fido_cred_id_ptr(c), fido_cred_id_len(c));
	b64_line(fp, fido_cred_sig_ptr(c), fido_cred_sig_len(c));
	if (fido_cred_x5c_ptr(c) != NULL)
		b64_line(fp, fido_cred_x5c_ptr(c), fido_cred_x5c_len(c));
	fclose(fp);
	snprintf(cmd, sizeof(cmd), "fido2-cred -V %s -i %s -o %s es256 "
	    "2>/dev/null", uv ? "-v" : "", in, out);
	rc = run(cmd);
	if (rc == 0 && pem_out != NULL) {
		size_t n;

		ck_assert_ptr_nonnull(fp = fopen(out, "r"));
		n = fread(pem_out, 1, pem_cap - 1, fp);
		pem_out[n] = '\0';
		fclose(fp);
	}
	return rc;
}

/* The stored COSE key as a PEM file, via libfido2's es256 conversion. */
static void
cose_to_pem(const uint8_t *cose, const char *path)
{
	uint8_t xy[64];
	es256_pk_t *pk = es256_pk_new();
	EVP_PKEY *k;
	FILE *fp;

	ck_assert_int_eq(kagi_fido_cose_es256_parse(cose,
	    KAGI_FIDO_COSE_ES256_LEN, xy), 0);
	ck_assert_int_eq(es256_pk_from_ptr(pk, xy, sizeof(xy)), FIDO_OK);
	ck_assert_ptr_nonnull(k = es256_pk_to_EVP_PKEY(pk));
	ck_assert_ptr_nonnull(fp = fopen(path, "w"));
	ck_assert_int_eq(PEM_write_PUBKEY(fp, k), 1);
	fclose(fp);
	EVP_PKEY_free(k);
	es256_pk_free(&pk);
}

/* fido2-assert -V [-p] [-v] key.pem es256 */
static int
fido2_assert_verify(const fido_assert_t *a, const uint8_t *cdh,
    const char *rp, const uint8_t *cose, int up, int uv)
{
	char in[128], pem[128], cmd[512];
	FILE *fp;

	snprintf(in, sizeof(in), "%s/assert.in", tmpdir);
	snprintf(pem, sizeof(pem), "%s/key.pem", tmpdir);
	cose_to_pem(cose, pem);
	ck_assert_ptr_nonnull(fp = fopen(in, "w"));
	b64_line(fp, cdh, 32);
	fprintf(fp, "%s\n", rp);
	b64_line(fp, fido_assert_authdata_ptr(a, 0),
	    fido_assert_authdata_len(a, 0));
	b64_line(fp, fido_assert_sig_ptr(a, 0), fido_assert_sig_len(a, 0));
	fclose(fp);
	snprintf(cmd, sizeof(cmd), "fido2-assert -V %s %s -i %s %s es256 "
	    "2>/dev/null", up ? "-p" : "", uv ? "-v" : "", in, pem);
	return run(cmd);
}

/* --- registration ------------------------------------------------------- */

START_TEST(registration_ok)
{
	struct fixture f;
	char pem[1024];
	uint8_t xy[64];
	char idline[200];

	fixture_new(&f, NULL);
	ck_assert_uint_eq(f.reg.cred_id_len, fido_cred_id_len(f.cred));
	ck_assert_mem_eq(f.reg.cred_id, fido_cred_id_ptr(f.cred),
	    f.reg.cred_id_len);
	ck_assert_int_eq(kagi_fido_cose_es256_parse(f.reg.cose_key,
	    sizeof(f.reg.cose_key), xy), 0);
	ck_assert_mem_eq(xy, fido_cred_pubkey_ptr(f.cred), 64);
	ck_assert_mem_eq(f.reg.aaguid, SOFTFIDO_DEFAULT_AAGUID, 16);
	ck_assert_uint_eq(f.reg.counter, fido_cred_sigcount(f.cred));
	ck_assert_uint_eq(f.reg.counter, 1);
	ck_assert(f.reg.flags & KAGI_FIDO_FLAG_UV);
	ck_assert_int_eq(f.reg.attested, 0);
	/* fido2-cred agrees, and prints the same id and key */
	ck_assert_int_eq(fido2_cred_verify(f.cred, cdh_reg, RP, 1, pem,
	    sizeof(pem)), 0);
	EVP_EncodeBlock((unsigned char *)idline, f.reg.cred_id,
	    (int)f.reg.cred_id_len);
	ck_assert_msg(strncmp(pem, idline, strlen(idline)) == 0 &&
	    pem[strlen(idline)] == '\n', "fido2-cred printed another id");
	ck_assert_ptr_nonnull(strstr(pem, "-----BEGIN PUBLIC KEY-----"));
	{
		char path[128], ours[1024];
		FILE *fp;
		size_t n;

		snprintf(path, sizeof(path), "%s/ours.pem", tmpdir);
		cose_to_pem(f.reg.cose_key, path);
		ck_assert_ptr_nonnull(fp = fopen(path, "r"));
		n = fread(ours, 1, sizeof(ours) - 1, fp);
		ours[n] = '\0';
		fclose(fp);
		ck_assert_ptr_nonnull(strstr(pem, ours));
	}
	fixture_free(&f);
}
END_TEST

START_TEST(registration_x5c_ok)
{
	struct softfido_opts o = { .attestation = SOFTFIDO_ATT_X5C };
	struct fixture f;
	struct kagi_fido_reg_policy pol = policy;
	struct kagi_fido_reg reg;
	struct kagi_fido_reg_input in;

	fixture_new(&f, &o);
	ck_assert_int_eq(f.reg.attested, 1);
	ck_assert_int_eq(fido2_cred_verify(f.cred, cdh_reg, RP, 1, NULL, 0),
	    0);
	/* with x5c, self attestation need not be allowed */
	pol.allow_self_attestation = 0;
	in = reg_input(f.cred, cdh_reg);
	ck_assert_int_eq(kagi_fido_cred_check(&pol, &in, &reg), 0);
	kagi_fido_reg_clear(&reg);
	fixture_free(&f);
}
END_TEST

START_TEST(reg_wrong_rpid_refused)
{
	struct fixture f;
	struct kagi_fido_reg_policy pol = policy;
	struct kagi_fido_reg reg;
	struct kagi_fido_reg_input in;

	fixture_new(&f, NULL);
	pol.rp_id = "evil.example";
	in = reg_input(f.cred, cdh_reg);
	ck_assert_int_eq(kagi_fido_cred_check(&pol, &in, &reg),
	    KAGI_ERR_DENIED);
	ck_assert_ptr_null(reg.cred_id);
	ck_assert_int_ne(fido2_cred_verify(f.cred, cdh_reg, "evil.example", 1,
	    NULL, 0), 0);
	fixture_free(&f);
}
END_TEST

START_TEST(reg_wrong_client_data_hash_refused)
{
	struct fixture f;
	struct kagi_fido_reg reg;
	struct kagi_fido_reg_input in;

	fixture_new(&f, NULL);
	in = reg_input(f.cred, cdh_login);
	ck_assert_int_eq(kagi_fido_cred_check(&policy, &in, &reg),
	    KAGI_ERR_SIG);
	ck_assert_int_ne(fido2_cred_verify(f.cred, cdh_login, RP, 1, NULL, 0),
	    0);
	fixture_free(&f);
}
END_TEST

START_TEST(reg_no_uv_when_required_refused)
{
	struct softfido *sf = softfido_new(NULL);
	fido_cred_t *c = make_cred(sf, NULL); /* no PIN: UV clear */
	struct kagi_fido_reg_policy pol = policy;
	struct kagi_fido_reg reg;
	struct kagi_fido_reg_input in = reg_input(c, cdh_reg);

	ck_assert_int_eq(kagi_fido_cred_check(&pol, &in, &reg),
	    KAGI_ERR_DENIED);
	ck_assert_int_ne(fido2_cred_verify(c, cdh_reg, RP, 1, NULL, 0), 0);
	pol.require_uv = 0;
	ck_assert_int_eq(kagi_fido_cred_check(&pol, &in, &reg), 0);
	ck_assert_int_eq(fido2_cred_verify(c, cdh_reg, RP, 0, NULL, 0), 0);
	kagi_fido_reg_clear(&reg);
	fido_cred_free(&c);
	softfido_free(sf);
}
END_TEST

START_TEST(reg_aaguid_not_allowed)
{
	static const uint8_t other[16] = "some-other-mode";
	struct softfido_opts o = { .aaguid = other };
	struct softfido *sf = softfido_new(&o);
	fido_cred_t *c;
	struct kagi_fido_reg_policy pol = policy;
	struct kagi_fido_reg reg;
	struct kagi_fido_reg_input in;
	uint8_t both[32];

	ck_assert_int_eq(softfido_set_pin(sf, PIN), 0);
	c = make_cred(sf, PIN);
	in = reg_input(c, cdh_reg);
	ck_assert_int_eq(kagi_fido_cred_check(&pol, &in, &reg),
	    KAGI_ERR_DENIED);
	pol.aaguids = NULL;
	pol.n_aaguids = 0;
	ck_assert_int_eq(kagi_fido_cred_check(&pol, &in, &reg),
	    KAGI_ERR_DENIED); /* an empty allowlist admits nothing */
	memcpy(both, SOFTFIDO_DEFAULT_AAGUID, 16);
	memcpy(both + 16, other, 16);
	pol.aaguids = both;
	pol.n_aaguids = 2;
	ck_assert_int_eq(kagi_fido_cred_check(&pol, &in, &reg), 0);
	ck_assert_mem_eq(reg.aaguid, other, 16);
	kagi_fido_reg_clear(&reg);
	pol.aaguids = NULL;
	pol.n_aaguids = 0;
	pol.insecure_any_aaguid = 1;
	ck_assert_int_eq(kagi_fido_cred_check(&pol, &in, &reg), 0);
	kagi_fido_reg_clear(&reg);
	fido_cred_free(&c);
	softfido_free(sf);
}
END_TEST

START_TEST(reg_self_attestation_refused)
{
	struct fixture f;
	struct kagi_fido_reg_policy pol = policy;
	struct kagi_fido_reg reg;
	struct kagi_fido_reg_input in;

	fixture_new(&f, NULL);
	pol.allow_self_attestation = 0;
	in = reg_input(f.cred, cdh_reg);
	ck_assert_int_eq(kagi_fido_cred_check(&pol, &in, &reg),
	    KAGI_ERR_DENIED);
	fixture_free(&f);
}
END_TEST

START_TEST(reg_other_fmt_refused)
{
	struct fixture f;
	struct kagi_fido_reg reg;
	struct kagi_fido_reg_input in;
	static const char *const fmts[] = { "fido-u2f", "none", "tpm", "" };

	fixture_new(&f, NULL);
	in = reg_input(f.cred, cdh_reg);
	for (size_t i = 0; i < 4; i++) {
		in.fmt = fmts[i];
		ck_assert_int_eq(kagi_fido_cred_check(&policy, &in, &reg),
		    KAGI_ERR_DENIED);
	}
	fixture_free(&f);
}
END_TEST

START_TEST(reg_oversize_and_bad_args)
{
	struct fixture f;
	struct kagi_fido_reg reg;
	struct kagi_fido_reg_input in;

	fixture_new(&f, NULL);
	in = reg_input(f.cred, cdh_reg);
	in.authdata_len = KAGI_FIDO_AUTHDATA_MAX + 1;
	ck_assert_int_eq(kagi_fido_cred_check(&policy, &in, &reg),
	    KAGI_ERR_LIMIT);
	in = reg_input(f.cred, cdh_reg);
	in.cdh_len = 31;
	ck_assert_int_eq(kagi_fido_cred_check(&policy, &in, &reg),
	    KAGI_ERR_INVALID);
	ck_assert_int_eq(kagi_fido_cred_check(NULL, &in, &reg),
	    KAGI_ERR_INVALID);
	in = reg_input(f.cred, cdh_reg);
	in.authdata_len--; /* truncated CBOR */
	ck_assert_int_eq(kagi_fido_cred_check(&policy, &in, &reg),
	    KAGI_ERR_FORMAT);
	fixture_free(&f);
}
END_TEST

/* Flip every bit of authData and attStmt: never a crash, and a changed
 * authData is never accepted. */
START_TEST(reg_mutations_refused)
{
	struct fixture f;
	struct kagi_fido_reg reg;
	struct kagi_fido_reg_input in;
	uint8_t ad[1024], st[2048];
	size_t adl, stl;

	fixture_new(&f, NULL);
	in = reg_input(f.cred, cdh_reg);
	adl = in.authdata_len;
	stl = in.attstmt_len;
	ck_assert_uint_le(adl, sizeof(ad));
	ck_assert_uint_le(stl, sizeof(st));
	memcpy(ad, in.authdata, adl);
	memcpy(st, in.attstmt, stl);
	in.authdata = ad;
	in.attstmt = st;
	for (size_t i = 0; i < adl; i++)
		for (int b = 0; b < 8; b++) {
			ad[i] ^= (uint8_t)(1u << b);
			ck_assert_msg(kagi_fido_cred_check(&policy, &in,
			    &reg) != 0, "authdata flip %zu/%d accepted", i, b);
			ad[i] ^= (uint8_t)(1u << b);
		}
	for (size_t n = 0; n < adl; n++) {
		in.authdata_len = n;
		ck_assert_int_ne(kagi_fido_cred_check(&policy, &in, &reg), 0);
	}
	in.authdata_len = adl;
	for (size_t i = 0; i < stl; i++)
		for (int b = 0; b < 8; b++) {
			st[i] ^= (uint8_t)(1u << b);
			if (kagi_fido_cred_check(&policy, &in, &reg) == 0)
				kagi_fido_reg_clear(&reg);
			st[i] ^= (uint8_t)(1u << b);
		}
	ck_assert_int_eq(kagi_fido_cred_check(&policy, &in, &reg), 0);
	kagi_fido_reg_clear(&reg);
	fixture_free(&f);
}
END_TEST

/* --- assertion ---------------------------------------------------------- */

START_TEST(assertion_ok)
{
	struct fixture f;
	fido_assert_t *a;
	struct kagi_fido_assert_input in;
	struct kagi_fido_assert_result res;

	fixture_new(&f, NULL);
	ck_assert_int_eq(get_assert(f.sf, f.reg.cred_id, f.reg.cred_id_len,
	    PIN, FIDO_OPT_OMIT, &a), FIDO_OK);
	in = assert_input(a, cdh_login);
	ck_assert_int_eq(kagi_fido_assert_check(RP, f.reg.cose_key,
	    sizeof(f.reg.cose_key), &in, 1, &res), 0);
	ck_assert_uint_eq(res.counter, f.reg.counter + 1);
	ck_assert(res.flags & KAGI_FIDO_FLAG_UP);
	ck_assert(res.flags & KAGI_FIDO_FLAG_UV);
	ck_assert_int_eq(kagi_fido_counter_check(f.reg.counter, res.counter),
	    0);
	ck_assert_int_eq(fido2_assert_verify(a, cdh_login, RP, f.reg.cose_key,
	    1, 1), 0);
	fido_assert_free(&a);
	fixture_free(&f);
}
END_TEST

START_TEST(no_up_refused)
{
	struct fixture f;
	fido_assert_t *a;
	struct kagi_fido_assert_input in;
	struct kagi_fido_assert_result res;

	fixture_new(&f, NULL);
	/* the platform asked for no presence: the assertion says UP=0 */
	ck_assert_int_eq(get_assert(f.sf, f.reg.cred_id, f.reg.cred_id_len,
	    PIN, FIDO_OPT_FALSE, &a), FIDO_OK);
	in = assert_input(a, cdh_login);
	ck_assert_int_eq(kagi_fido_assert_check(RP, f.reg.cose_key,
	    sizeof(f.reg.cose_key), &in, 0, &res), KAGI_ERR_DENIED);
	ck_assert_uint_eq(res.counter, 0);
	ck_assert_int_ne(fido2_assert_verify(a, cdh_login, RP, f.reg.cose_key,
	    1, 0), 0);
	/* the signature itself is fine: without -p fido2-assert accepts */
	ck_assert_int_eq(fido2_assert_verify(a, cdh_login, RP, f.reg.cose_key,
	    0, 0), 0);
	fido_assert_free(&a);
	/* and nobody touching the key gets no assertion at all */
	ck_assert_int_eq(softfido_set_up(f.sf, 0), 0);
	ck_assert_int_eq(get_assert(f.sf, f.reg.cred_id, f.reg.cred_id_len,
	    PIN, FIDO_OPT_OMIT, &a), FIDO_ERR_OPERATION_DENIED);
	fixture_free(&f);
}
END_TEST

START_TEST(no_uv_when_required_refused)
{
	struct fixture f;
	fido_assert_t *a;
	struct kagi_fido_assert_input in;
	struct kagi_fido_assert_result res;

	fixture_new(&f, NULL);
	ck_assert_int_eq(get_assert(f.sf, f.reg.cred_id, f.reg.cred_id_len,
	    NULL, FIDO_OPT_OMIT, &a), FIDO_OK);
	in = assert_input(a, cdh_login);
	ck_assert_int_eq(kagi_fido_assert_check(RP, f.reg.cose_key,
	    sizeof(f.reg.cose_key), &in, 1, &res), KAGI_ERR_DENIED);
	ck_assert_int_ne(fido2_assert_verify(a, cdh_login, RP, f.reg.cose_key,
	    1, 1), 0);
	/* where policy does not ask for UV, the same assertion passes */
	ck_assert_int_eq(kagi_fido_assert_check(RP, f.reg.cose_key,
	    sizeof(f.reg.cose_key), &in, 0, &res), 0);
	ck_assert(!(res.flags & KAGI_FIDO_FLAG_UV));
	fido_assert_free(&a);
	fixture_free(&f);
}
END_TEST

/* A frozen or rewinding counter: the signature is valid, the counter rule
 * refuses (clone suspected). */
static void
counter_case(enum softfido_counter_mode mode)
{
	struct fixture f;
	fido_assert_t *a;
	struct kagi_fido_assert_input in;
	struct kagi_fido_assert_result res;
	uint32_t stored;

	fixture_new(&f, NULL);
	ck_assert_int_eq(get_assert(f.sf, f.reg.cred_id, f.reg.cred_id_len,
	    PIN, FIDO_OPT_OMIT, &a), FIDO_OK);
	in = assert_input(a, cdh_login);
	ck_assert_int_eq(kagi_fido_assert_check(RP, f.reg.cose_key,
	    sizeof(f.reg.cose_key), &in, 1, &res), 0);
	ck_assert_int_eq(kagi_fido_counter_check(f.reg.counter, res.counter),
	    0);
	stored = res.counter;
	fido_assert_free(&a);

	ck_assert_int_eq(softfido_set_counter_mode(f.sf, mode), 0);
	ck_assert_int_eq(get_assert(f.sf, f.reg.cred_id, f.reg.cred_id_len,
	    PIN, FIDO_OPT_OMIT, &a), FIDO_OK);
	in = assert_input(a, cdh_login);
	ck_assert_int_eq(kagi_fido_assert_check(RP, f.reg.cose_key,
	    sizeof(f.reg.cose_key), &in, 1, &res), 0);
	ck_assert_uint_le(res.counter, stored);
	ck_assert_int_eq(kagi_fido_counter_check(stored, res.counter),
	    KAGI_ERR_SIG);
	/* libfido2's verifier never looks at the counter: it accepts */
	ck_assert_int_eq(fido2_assert_verify(a, cdh_login, RP, f.reg.cose_key,
	    1, 1), 0);
	fido_assert_free(&a);
	fixture_free(&f);
}

START_TEST(counter_not_increased_refused)
{
	counter_case(SOFTFIDO_COUNTER_FROZEN);
}
END_TEST

START_TEST(counter_rewind_refused)
{
	counter_case(SOFTFIDO_COUNTER_REWIND);
}
END_TEST

START_TEST(counter_rule)
{
	static const struct {
		uint32_t stored, next;
		int want;
	} t[] = {
		{ 0, 0, 0 },           /* no counter at all: allowed */
		{ 0, 1, 0 },
		{ 5, 6, 0 },
		{ 5, 1000, 0 },
		{ 5, 5, KAGI_ERR_SIG }, /* not increased */
		{ 5, 4, KAGI_ERR_SIG }, /* rewound */
		{ 5, 0, KAGI_ERR_SIG }, /* dropped to zero */
		{ 0xffffffffu, 0xffffffffu, KAGI_ERR_SIG },
		{ 0xfffffffeu, 0xffffffffu, 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_msg(kagi_fido_counter_check(t[i].stored,
		    t[i].next) == t[i].want, "case %zu", i);
}
END_TEST

START_TEST(counter_zero_allowed)
{
	struct fixture f;
	fido_assert_t *a;
	struct kagi_fido_assert_input in;
	struct kagi_fido_assert_result res;

	fixture_new(&f, NULL);
	ck_assert_int_eq(softfido_set_counter_mode(f.sf,
	    SOFTFIDO_COUNTER_ZERO), 0);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(get_assert(f.sf, f.reg.cred_id,
		    f.reg.cred_id_len, PIN, FIDO_OPT_OMIT, &a), FIDO_OK);
		in = assert_input(a, cdh_login);
		ck_assert_int_eq(kagi_fido_assert_check(RP, f.reg.cose_key,
		    sizeof(f.reg.cose_key), &in, 1, &res), 0);
		ck_assert_uint_eq(res.counter, 0);
		ck_assert_int_eq(kagi_fido_counter_check(0, res.counter), 0);
		fido_assert_free(&a);
	}
	fixture_free(&f);
}
END_TEST

START_TEST(wrong_rpid_refused)
{
	struct fixture f;
	fido_assert_t *a;
	struct kagi_fido_assert_input in;
	struct kagi_fido_assert_result res;

	fixture_new(&f, NULL);
	ck_assert_int_eq(get_assert(f.sf, f.reg.cred_id, f.reg.cred_id_len,
	    PIN, FIDO_OPT_OMIT, &a), FIDO_OK);
	in = assert_input(a, cdh_login);
	ck_assert_int_eq(kagi_fido_assert_check("evil.example",
	    f.reg.cose_key, sizeof(f.reg.cose_key), &in, 1, &res),
	    KAGI_ERR_DENIED);
	ck_assert_int_ne(fido2_assert_verify(a, cdh_login, "evil.example",
	    f.reg.cose_key, 1, 1), 0);
	fido_assert_free(&a);
	fixture_free(&f);
}
END_TEST

START_TEST(wrong_client_data_hash_refused)
{
	struct fixture f;
	fido_assert_t *a;
	struct kagi_fido_assert_input in;
	struct kagi_fido_assert_result res;

	fixture_new(&f, NULL);
	ck_assert_int_eq(get_assert(f.sf, f.reg.cred_id, f.reg.cred_id_len,
	    PIN, FIDO_OPT_OMIT, &a), FIDO_OK);
	/* an old challenge (the registration's) does not verify */
	in = assert_input(a, cdh_reg);
	ck_assert_int_eq(kagi_fido_assert_check(RP, f.reg.cose_key,
	    sizeof(f.reg.cose_key), &in, 1, &res), KAGI_ERR_SIG);
	ck_assert_int_ne(fido2_assert_verify(a, cdh_reg, RP, f.reg.cose_key,
	    1, 1), 0);
	fido_assert_free(&a);
	fixture_free(&f);
}
END_TEST

START_TEST(wrong_key_refused)
{
	struct fixture f, g;
	fido_assert_t *a;
	struct kagi_fido_assert_input in;
	struct kagi_fido_assert_result res;
	uint8_t junk[KAGI_FIDO_COSE_ES256_LEN];

	fixture_new(&f, NULL);
	fixture_new(&g, NULL);
	ck_assert_int_eq(get_assert(f.sf, f.reg.cred_id, f.reg.cred_id_len,
	    PIN, FIDO_OPT_OMIT, &a), FIDO_OK);
	in = assert_input(a, cdh_login);
	ck_assert_int_eq(kagi_fido_assert_check(RP, g.reg.cose_key,
	    sizeof(g.reg.cose_key), &in, 1, &res), KAGI_ERR_SIG);
	/* a stored key that is not a canonical COSE ES256 key */
	memcpy(junk, f.reg.cose_key, sizeof(junk));
	junk[4] = 0x27; /* alg -8 */
	ck_assert_int_eq(kagi_fido_assert_check(RP, junk, sizeof(junk), &in, 1,
	    &res), KAGI_ERR_FORMAT);
	ck_assert_int_eq(kagi_fido_assert_check(RP, f.reg.cose_key,
	    sizeof(f.reg.cose_key) - 1, &in, 1, &res), KAGI_ERR_FORMAT);
	/* a point not on the curve */
	memcpy(junk, f.reg.cose_key, sizeof(junk));
	junk[20] ^= 0x01;
	ck_assert_int_ne(kagi_fido_assert_check(RP, junk, sizeof(junk), &in, 1,
	    &res), 0);
	fido_assert_free(&a);
	fixture_free(&g);
	fixture_free(&f);
}
END_TEST

START_TEST(unknown_credential)
{
	struct fixture f;
	fido_assert_t *a;
	uint8_t id[48];

	fixture_new(&f, NULL);
	ck_assert_int_eq(RAND_bytes(id, sizeof(id)), 1);
	ck_assert_int_eq(get_assert(f.sf, id, sizeof(id), PIN, FIDO_OPT_OMIT,
	    &a), FIDO_ERR_NO_CREDENTIALS);
	fixture_free(&f);
}
END_TEST

START_TEST(wrong_pin)
{
	struct fixture f;
	fido_assert_t *a;

	fixture_new(&f, NULL);
	ck_assert_int_eq(get_assert(f.sf, f.reg.cred_id, f.reg.cred_id_len,
	    "1111", FIDO_OPT_OMIT, &a), FIDO_ERR_PIN_INVALID);
	ck_assert_int_eq(softfido_pin_retries(f.sf), SOFTFIDO_MAX_RETRIES - 1);
	fixture_free(&f);
}
END_TEST

/* Flip every bit of authData and signature, cut at every length. */
START_TEST(assert_mutations_refused)
{
	struct fixture f;
	fido_assert_t *a;
	struct kagi_fido_assert_input in;
	struct kagi_fido_assert_result res;
	uint8_t ad[256], sig[80];

	fixture_new(&f, NULL);
	ck_assert_int_eq(get_assert(f.sf, f.reg.cred_id, f.reg.cred_id_len,
	    PIN, FIDO_OPT_OMIT, &a), FIDO_OK);
	in = assert_input(a, cdh_login);
	ck_assert_uint_le(in.authdata_len, sizeof(ad));
	ck_assert_uint_le(in.sig_len, sizeof(sig));
	memcpy(ad, in.authdata, in.authdata_len);
	memcpy(sig, in.sig, in.sig_len);
	in.authdata = ad;
	in.sig = sig;
	for (size_t i = 0; i < in.authdata_len; i++)
		for (int b = 0; b < 8; b++) {
			ad[i] ^= (uint8_t)(1u << b);
			ck_assert_msg(kagi_fido_assert_check(RP, f.reg.cose_key,
			    sizeof(f.reg.cose_key), &in, 1, &res) != 0,
			    "authdata flip %zu/%d accepted", i, b);
			ad[i] ^= (uint8_t)(1u << b);
		}
	for (size_t i = 0; i < in.sig_len; i++)
		for (int b = 0; b < 8; b++) {
			sig[i] ^= (uint8_t)(1u << b);
			ck_assert_msg(kagi_fido_assert_check(RP, f.reg.cose_key,
			    sizeof(f.reg.cose_key), &in, 1, &res) != 0,
			    "sig flip %zu/%d accepted", i, b);
			sig[i] ^= (uint8_t)(1u << b);
		}
	{
		size_t adl = in.authdata_len, sl = in.sig_len;

		for (size_t n = 0; n < adl; n++) {
			in.authdata_len = n;
			ck_assert_int_ne(kagi_fido_assert_check(RP,
			    f.reg.cose_key, sizeof(f.reg.cose_key), &in, 1,
			    &res), 0);
		}
		in.authdata_len = adl;
		for (size_t n = 0; n < sl; n++) {
			in.sig_len = n;
			ck_assert_int_ne(kagi_fido_assert_check(RP,
			    f.reg.cose_key, sizeof(f.reg.cose_key), &in, 1,
			    &res), 0);
		}
		in.sig_len = sl;
	}
	ck_assert_int_eq(kagi_fido_assert_check(RP, f.reg.cose_key,
	    sizeof(f.reg.cose_key), &in, 1, &res), 0);
	fido_assert_free(&a);
	fixture_free(&f);
}
END_TEST

/* --- CBOR well-formedness check ------------------------------------------ */

START_TEST(cbor_check_table)
{
	static const struct {
		const char *name;
		uint8_t in[12];
		size_t len;
		int want;
	} t[] = {
		{ "uint", { 0x01 }, 1, 0 },
		{ "bytes", { 0x42, 1, 2 }, 3, 0 },
		{ "map", { 0xa1, 0x01, 0x02 }, 3, 0 },
		{ "neg_and_bool", { 0x82, 0x26, 0xf5 }, 3, 0 },
		{ "empty", { 0 }, 0, KAGI_ERR_FORMAT },
		{ "trailing", { 0x01, 0x02 }, 2, KAGI_ERR_TRAILING },
		{ "short_bytes", { 0x43, 1, 2 }, 3, KAGI_ERR_FORMAT },
		{ "short_head", { 0x19, 0x01 }, 2, KAGI_ERR_FORMAT },
		{ "indefinite", { 0x5f, 0x41, 0x00, 0xff }, 4,
		    KAGI_ERR_FORMAT },
		{ "reserved_ai", { 0x1c }, 1, KAGI_ERR_FORMAT },
		{ "tag", { 0xc1, 0x01 }, 2, KAGI_ERR_FORMAT },
		{ "huge_array", { 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		    0xff, 0xff }, 9, KAGI_ERR_FORMAT },
		{ "huge_map", { 0xba, 0x7f, 0xff, 0xff, 0xff, 0x01, 0x01 }, 7,
		    KAGI_ERR_FORMAT },
		{ "too_deep", { 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81,
		    0x81, 0x81, 0x00 }, 10, KAGI_ERR_LIMIT },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_msg(kagi_fido_cbor_check(t[i].in, t[i].len, 8) ==
		    t[i].want, "%s", t[i].name);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("fido");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, registration_ok);
	tcase_add_test(tc, registration_x5c_ok);
	tcase_add_test(tc, reg_wrong_rpid_refused);
	tcase_add_test(tc, reg_wrong_client_data_hash_refused);
	tcase_add_test(tc, reg_no_uv_when_required_refused);
	tcase_add_test(tc, reg_aaguid_not_allowed);
	tcase_add_test(tc, reg_self_attestation_refused);
	tcase_add_test(tc, reg_other_fmt_refused);
	tcase_add_test(tc, reg_oversize_and_bad_args);
	tcase_add_test(tc, reg_mutations_refused);
	tcase_add_test(tc, assertion_ok);
	tcase_add_test(tc, no_up_refused);
	tcase_add_test(tc, no_uv_when_required_refused);
	tcase_add_test(tc, counter_not_increased_refused);
	tcase_add_test(tc, counter_rewind_refused);
	tcase_add_test(tc, counter_rule);
	tcase_add_test(tc, counter_zero_allowed);
	tcase_add_test(tc, wrong_rpid_refused);
	tcase_add_test(tc, wrong_client_data_hash_refused);
	tcase_add_test(tc, wrong_key_refused);
	tcase_add_test(tc, unknown_credential);
	tcase_add_test(tc, wrong_pin);
	tcase_add_test(tc, assert_mutations_refused);
	tcase_add_test(tc, cbor_check_table);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	fido_init(FIDO_DISABLE_U2F_FALLBACK);
	kagi_log_set_level(KAGI_LOG_ERR); /* refusals are expected here */
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
