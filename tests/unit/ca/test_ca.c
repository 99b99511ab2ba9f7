/*
 * CA core against a real SoftHSM2 token, checked by verifiers we did not
 * write: `openssl verify/crl/ocsp` and GnuTLS `certtool --verify-chain`.
 * Profiles are asserted on parsed extensions (R-SIGN-3, R-SIGN-5, R-KEY-1,
 * R-KEY-2, R-INPUT-1..3, R-CARD-4 for holds).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca_env.h"
#include "kagi/ca.h"
#include "kagi/hsm.h"

static struct ca_env env;
static char out[65536];

static void
setup(void)
{
	ca_env_setup(&env);
}

static void
teardown(void)
{
	ca_env_teardown(&env);
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- helpers ------------------------------------------------------------ */

static int
ext_crit(X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);

	if (i < 0)
		return -1;
	return X509_EXTENSION_get_critical(X509_get_ext(x, i)) ? 1 : 0;
}

static void
check_eku(X509 *x, const int *nids, size_t n)
{
	EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL,
	    NULL);

	ck_assert_ptr_nonnull(eku);
	ck_assert_int_eq(sk_ASN1_OBJECT_num(eku), (int)n);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, (int)i)),
		    nids[i]);
	EXTENDED_KEY_USAGE_free(eku);
	ck_assert_int_eq(ext_crit(x, NID_ext_key_usage), 0);
}

static void
check_ku(X509 *x, uint32_t want)
{
	ck_assert_int_eq(ext_crit(x, NID_key_usage), 1);
	ck_assert_uint_eq(X509_get_key_usage(x), want);
}

static void
check_bc(X509 *x, int ca, long pathlen)
{
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL,
	    NULL);

	ck_assert_ptr_nonnull(bc);
	ck_assert_int_eq(ext_crit(x, NID_basic_constraints), 1);
	ck_assert_int_eq(bc->ca != 0, ca);
	if (pathlen < 0)
		ck_assert_ptr_null(bc->pathlen);
	else
		ck_assert_int_eq(ASN1_INTEGER_get(bc->pathlen), pathlen);
	BASIC_CONSTRAINTS_free(bc);
}

/* End-entity common: SKI, AKI = issuer SKI, CDP and AIA exactly. */
static void
check_ee_common(X509 *x, X509 *issuer)
{
	CRL_DIST_POINTS *cdp;
	AUTHORITY_INFO_ACCESS *aia;
	DIST_POINT *dp;
	GENERAL_NAME *g;
	ACCESS_DESCRIPTION *ad;

	check_bc(x, 0, -1);
	ck_assert_ptr_nonnull(X509_get0_subject_key_id(x));
	ck_assert_ptr_nonnull(X509_get0_authority_key_id(x));
	ck_assert_int_eq(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(x),
	    X509_get0_subject_key_id(issuer)), 0);
	cdp = X509_get_ext_d2i(x, NID_crl_distribution_points, NULL, NULL);
	ck_assert_ptr_nonnull(cdp);
	ck_assert_int_eq(sk_DIST_POINT_num(cdp), 1);
	dp = sk_DIST_POINT_value(cdp, 0);
	ck_assert_int_eq(dp->distpoint->type, 0);
	ck_assert_int_eq(sk_GENERAL_NAME_num(dp->distpoint->name.fullname), 1);
	g = sk_GENERAL_NAME_value(dp->distpoint->name.fullname, 0);
	ck_assert_int_eq(g->type, GEN_URI);
	ck_assert_str_eq((const char *)ASN1_STRING_get0_data(g->d.ia5),
	    CA_TEST_CDP);
	CRL_DIST_POINTS_free(cdp);
	aia = X509_get_ext_d2i(x, NID_info_access, NULL, NULL);
	ck_assert_ptr_nonnull(aia);
	ck_assert_int_eq(sk_ACCESS_DESCRIPTION_num(aia), 2);
	ad = sk_ACCESS_DESCRIPTION_value(aia, 0);
	ck_assert_int_eq(OBJ_obj2nid(ad->method), NID_ad_OCSP);
	ck_assert_str_eq((const char *)ASN1_STRING_get0_data(
	    ad->location->d.ia5), CA_TEST_OCSP);
	ad = sk_ACCESS_DESCRIPTION_value(aia, 1);
	ck_assert_int_eq(OBJ_obj2nid(ad->method), NID_ad_ca_issuers);
	ck_assert_str_eq((const char *)ASN1_STRING_get0_data(
	    ad->location->d.ia5), CA_TEST_CAISSUERS);
	AUTHORITY_INFO_ACCESS_free(aia);
	ck_assert_int_eq(X509_get_version(x), X509_VERSION_3);
}

/* The SAN list as "TYPE:value" lines for an exact comparison. */
static void
san_text(X509 *x, char *buf, size_t len)
{
	GENERAL_NAMES *gns = X509_get_ext_d2i(x, NID_subject_alt_name, NULL,
	    NULL);
	size_t used = 0;

	buf[0] = '\0';
	if (gns == NULL)
		return;
	for (int i = 0; i < sk_GENERAL_NAME_num(gns); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gns, i);
		char one[300];

		switch (g->type) {
		case GEN_DNS:
			snprintf(one, sizeof(one), "DNS:%s;",
			    ASN1_STRING_get0_data(g->d.ia5));
			break;
		case GEN_URI:
			snprintf(one, sizeof(one), "URI:%s;",
			    ASN1_STRING_get0_data(g->d.ia5));
			break;
		case GEN_IPADD: {
			const unsigned char *ip = ASN1_STRING_get0_data(g->d.ip);

			if (ASN1_STRING_length(g->d.ip) == 4)
				snprintf(one, sizeof(one), "IP:%u.%u.%u.%u;",
				    ip[0], ip[1], ip[2], ip[3]);
			else
				snprintf(one, sizeof(one), "IP:v6/%d;",
				    ASN1_STRING_length(g->d.ip));
			break;
		}
		case GEN_OTHERNAME: {
			char oid[64];
			ASN1_TYPE *v = g->d.otherName->value;

			OBJ_obj2txt(oid, sizeof(oid), g->d.otherName->type_id, 1);
			snprintf(one, sizeof(one), "other:%s:%s:%s;", oid,
			    v->type == V_ASN1_UTF8STRING ? "UTF8" : "?",
			    v->type == V_ASN1_UTF8STRING ?
			    (const char *)ASN1_STRING_get0_data(v->value.utf8string) :
			    "");
			break;
		}
		default:
			snprintf(one, sizeof(one), "type%d;", g->type);
		}
		used += (size_t)snprintf(buf + used, len - used, "%s", one);
	}
	GENERAL_NAMES_free(gns);
}

static void
subject_text(X509 *x, char *buf, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n;

	X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
	    XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
	n = BIO_read(b, buf, (int)len - 1);
	buf[n > 0 ? n : 0] = '\0';
	BIO_free(b);
}

static EVP_PKEY *
csr_key(EVP_PKEY *sw, int with_exts, unsigned *flags)
{
	uint8_t *der = NULL;
	size_t len = 0;
	EVP_PKEY *pub = NULL;

	ck_assert_int_eq(ca_test_csr(sw, with_exts, &der, &len), 1);
	ck_assert_int_eq(ca_csr_parse(der, len, &pub, flags), 0);
	free(der);
	return pub;
}

static void
base_request(struct ca_request *rq, enum ca_profile prof, EVP_PKEY *pub)
{
	int64_t now = (int64_t)time(NULL);

	memset(rq, 0, sizeof(*rq));
	rq->profile = prof;
	rq->pubkey = pub;
	rq->org = "Kagi Test Ward";
	rq->not_before = now - 60;
	rq->not_after = now + 365 * 86400;
}

/* Both independent verifiers must accept leaf -> issuing -> root. */
static void
verify_chain(struct ca_pki *p, X509 *leaf, const char *name)
{
	X509 *chain[3] = { leaf, p->issuing, p->root };
	int st;

	ca_env_write_pem(&env, name, &leaf, 1);
	ca_env_write_pem(&env, "chain.pem", chain, 3);
	st = ca_env_run(&env, out, sizeof(out),
	    "openssl verify -CAfile root.pem -untrusted issuing.pem %s", name);
	ck_assert_msg(st == 0, "openssl verify: %s", out);
	ck_assert_ptr_nonnull(strstr(out, ": OK"));
	st = ca_env_run(&env, out, sizeof(out),
	    "certtool --verify-chain --infile chain.pem");
	ck_assert_msg(st == 0, "certtool: %s", out);
	ck_assert_msg(strstr(out, "Chain verification output: Verified") != NULL,
	    "certtool: %s", out);
}

static X509 *
issue_staff(struct ca_pki *p, EVP_PKEY *pub, const char *staff_no)
{
	struct ca_request rq;
	X509 *x = NULL;

	base_request(&rq, CA_PROFILE_STAFF_LOGON, pub);
	rq.section = "戸籍住民課";
	rq.name = "山田 花子";
	rq.staff_no = staff_no;
	rq.upn_suffix = "city.kagi.test";
	ck_assert_int_eq(ca_cert_issue(p->iss, &rq, &x), 0);
	return x;
}

/* ---- provider ------------------------------------------------------------ */

START_TEST(provider_digest_sign_verifies)
{
	static const char msg[] = "to be signed";
	struct ca_pki p;
	EVP_MD_CTX *m = NULL, *v;
	unsigned char sig[256];
	size_t slen = sizeof(sig);
	EVP_PKEY *pub = NULL;

	ca_pki_build(&env, &p, HSM_KEY_EC_P256);
	ck_assert_int_eq(ca_sign_ctx_new(p.iss_signer, NULL, &m), 0);
	ck_assert_int_eq(EVP_DigestSign(m, sig, &slen, (const uint8_t *)msg,
	    sizeof(msg)), 1);
	ck_assert_int_eq(hsm_key_public(p.iss_k, &pub), 0);
	v = EVP_MD_CTX_new();
	ck_assert_int_eq(EVP_DigestVerifyInit(v, NULL, EVP_sha256(), NULL, pub),
	    1);
	ck_assert_int_eq(EVP_DigestVerify(v, sig, slen, (const uint8_t *)msg,
	    sizeof(msg)), 1);
	EVP_MD_CTX_free(v);
	EVP_MD_CTX_free(m);
	EVP_PKEY_free(pub);
	/* A software key through the same helper still signs in software. */
	pub = ca_test_keygen("EC", "P-384", 0);
	slen = sizeof(sig);
	ck_assert_int_eq(ca_sign_ctx_new(pub, NULL, &m), 0);
	ck_assert_int_eq(EVP_DigestSign(m, sig, &slen, (const uint8_t *)msg,
	    sizeof(msg)), 1);
	EVP_MD_CTX_free(m);
	v = EVP_MD_CTX_new();
	ck_assert_int_eq(EVP_DigestVerifyInit(v, NULL, EVP_sha384(), NULL, pub),
	    1);
	ck_assert_int_eq(EVP_DigestVerify(v, sig, slen, (const uint8_t *)msg,
	    sizeof(msg)), 1);
	EVP_MD_CTX_free(v);
	EVP_PKEY_free(pub);
	/* The bridged key reports the public key's size and bits. */
	ck_assert_int_eq(EVP_PKEY_get_bits(p.iss_signer), 256);
	ck_assert_int_eq(EVP_PKEY_eq(X509_get0_pubkey(p.issuing), p.iss_signer),
	    1);
	ca_pki_free(&p);
}
END_TEST

START_TEST(ca_certs_profile_and_chain)
{
	struct ca_pki p;
	int st;

	ca_pki_build(&env, &p, HSM_KEY_EC_P256);
	check_bc(p.root, 1, -1);
	check_ku(p.root, KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	check_bc(p.issuing, 1, 0);
	check_ku(p.issuing, KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	ck_assert_int_eq(X509_check_issued(p.root, p.root), X509_V_OK);
	ck_assert_int_eq(X509_check_issued(p.root, p.issuing), X509_V_OK);
	ck_assert_int_eq(OBJ_obj2nid(X509_get0_tbs_sigalg(p.issuing)->algorithm),
	    NID_ecdsa_with_SHA256);
	st = ca_env_run(&env, out, sizeof(out),
	    "openssl verify -x509_strict -CAfile root.pem issuing.pem");
	ck_assert_msg(st == 0, "%s", out);
	ca_pki_free(&p);
}
END_TEST

/* ---- profiles ------------------------------------------------------------ */

START_TEST(profile_staff_logon)
{
	static const int eku[] = { NID_client_auth, NID_ms_smartcard_login };
	struct ca_pki p;
	EVP_PKEY *sw = ca_test_keygen("EC", "P-256", 0), *pub;
	unsigned flags = 0;
	X509 *x;
	char san[1024], subj[512];

	ca_pki_build(&env, &p, HSM_KEY_EC_P256);
	pub = csr_key(sw, 1, &flags);
	ck_assert_uint_eq(flags & CA_CSR_HAD_EXTENSIONS, CA_CSR_HAD_EXTENSIONS);
	x = issue_staff(&p, pub, "A012345");
	verify_chain(&p, x, "staff.pem");
	check_ee_common(x, p.issuing);
	check_ku(x, KU_DIGITAL_SIGNATURE);
	check_eku(x, eku, 2);
	san_text(x, san, sizeof(san));
	ck_assert_str_eq(san, "other:1.3.6.1.4.1.311.20.2.3:UTF8:"
	    "A012345@city.kagi.test;URI:urn:kagi:staff:A012345;");
	ck_assert_int_eq(ext_crit(x, NID_subject_alt_name), 0);
	ck_assert_int_eq(ext_crit(x, NID_certificate_policies), -1);
	/* BC, KU, EKU, SKI, AKI, SAN, CDP, AIA and nothing else. */
	ck_assert_int_eq(X509_get_ext_count(x), 8);
	subject_text(x, subj, sizeof(subj));
	ck_assert_str_eq(subj, "serialNumber=A012345,CN=山田 花子,"
	    "OU=戸籍住民課,O=Kagi Test Ward");
	X509_free(x);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(sw);
	ca_pki_free(&p);
}
END_TEST

START_TEST(profile_terminal)
{
	static const int eku[] = { NID_client_auth };
	static const char *const dns[] = { "pc-0042.mn.city.kagi.test" };
	struct ca_pki p;
	EVP_PKEY *sw = ca_test_keygen("EC", "P-384", 0), *pub;
	struct ca_request rq;
	X509 *x = NULL;
	CERTIFICATEPOLICIES *cp;
	char san[1024], oid[64];

	ca_pki_build(&env, &p, HSM_KEY_EC_P256);
	pub = csr_key(sw, 1, NULL);
	base_request(&rq, CA_PROFILE_TERMINAL, pub);
	rq.name = "pc-0042";
	rq.device_id = "pc-0042";
	rq.zone_oid = "1.3.6.1.4.1.99999.1.2.1";
	rq.dns = dns;
	rq.n_dns = 1;
	ck_assert_int_eq(ca_cert_issue(p.iss, &rq, &x), 0);
	verify_chain(&p, x, "terminal.pem");
	check_ee_common(x, p.issuing);
	check_ku(x, KU_DIGITAL_SIGNATURE);
	check_eku(x, eku, 1);
	san_text(x, san, sizeof(san));
	ck_assert_str_eq(san, "URI:urn:kagi:device:pc-0042;"
	    "DNS:pc-0042.mn.city.kagi.test;");
	cp = X509_get_ext_d2i(x, NID_certificate_policies, NULL, NULL);
	ck_assert_ptr_nonnull(cp);
	ck_assert_int_eq(sk_POLICYINFO_num(cp), 1);
	OBJ_obj2txt(oid, sizeof(oid), sk_POLICYINFO_value(cp, 0)->policyid, 1);
	ck_assert_str_eq(oid, "1.3.6.1.4.1.99999.1.2.1");
	ck_assert_ptr_null(sk_POLICYINFO_value(cp, 0)->qualifiers);
	CERTIFICATEPOLICIES_free(cp);
	ck_assert_int_eq(X509_get_ext_count(x), 9);
	X509_free(x);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(sw);
	ca_pki_free(&p);
}
END_TEST

START_TEST(profile_server_rsa)
{
	static const int eku[] = { NID_server_auth };
	static const char *const dns[] = { "kagid.city.kagi.test" };
	static const char *const ips[] = { "192.0.2.10", "2001:db8::10" };
	struct ca_pki p;
	EVP_PKEY *sw = ca_test_keygen("RSA", NULL, 2048), *pub;
	struct ca_request rq;
	X509 *x = NULL;
	char san[1024];

	ca_pki_build(&env, &p, HSM_KEY_EC_P256);
	pub = csr_key(sw, 0, NULL);
	base_request(&rq, CA_PROFILE_SERVER, pub);
	rq.name = "kagid.city.kagi.test";
	rq.dns = dns;
	rq.n_dns = 1;
	rq.ips = ips;
	rq.n_ips = 2;
	ck_assert_int_eq(ca_cert_issue(p.iss, &rq, &x), 0);
	verify_chain(&p, x, "server.pem");
	check_ee_common(x, p.issuing);
	check_ku(x, KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT);
	check_eku(x, eku, 1);
	san_text(x, san, sizeof(san));
	ck_assert_str_eq(san, "DNS:kagid.city.kagi.test;IP:192.0.2.10;IP:v6/16;");
	ck_assert_int_eq(X509_check_host(x, "kagid.city.kagi.test", 0, 0, NULL),
	    1);
	ck_assert_int_eq(X509_get_ext_count(x), 8);
	X509_free(x);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(sw);
	ca_pki_free(&p);
}
END_TEST

static X509 *
issue_ocsp_signer(struct ca_pki *p, struct hsm_key **k, EVP_PKEY **signer)
{
	struct ca_request rq;
	EVP_PKEY *pub = NULL;
	X509 *x = NULL;

	ck_assert_int_eq(hsm_key_generate(env.s, "ocsp", HSM_KEY_EC_P256, k), 0);
	ck_assert_int_eq(ca_signer_from_hsm(*k, signer), 0);
	ck_assert_int_eq(hsm_key_public(*k, &pub), 0);
	base_request(&rq, CA_PROFILE_OCSP, pub);
	rq.name = "Kagi OCSP Responder";
	rq.not_after = rq.not_before + 30 * 86400;
	ck_assert_int_eq(ca_cert_issue(p->iss, &rq, &x), 0);
	EVP_PKEY_free(pub);
	ca_env_write_pem(&env, "ocsp.pem", &x, 1);
	return x;
}

START_TEST(profile_ocsp_signer)
{
	static const int eku[] = { NID_OCSP_sign };
	struct ca_pki p;
	struct hsm_key *k = NULL;
	EVP_PKEY *signer = NULL;
	X509 *x;
	int i;

	ca_pki_build(&env, &p, HSM_KEY_EC_P256);
	x = issue_ocsp_signer(&p, &k, &signer);
	verify_chain(&p, x, "ocsp-leaf.pem");
	check_ee_common(x, p.issuing);
	check_ku(x, KU_DIGITAL_SIGNATURE);
	check_eku(x, eku, 1);
	i = X509_get_ext_by_NID(x, NID_id_pkix_OCSP_noCheck, -1);
	ck_assert_int_ge(i, 0);
	/* id-pkix-ocsp-nocheck is NULL (05 00). */
	ck_assert_int_eq(ASN1_STRING_length(X509_EXTENSION_get_data(
	    X509_get_ext(x, i))), 2);
	ck_assert_int_eq(ext_crit(x, NID_subject_alt_name), -1);
	ck_assert_int_eq(X509_get_ext_count(x), 8);
	X509_free(x);
	EVP_PKEY_free(signer);
	hsm_key_free(k);
	ca_pki_free(&p);
}
END_TEST

START_TEST(serial_random_positive_16)
{
	struct ca_pki p;
	EVP_PKEY *sw = ca_test_keygen("EC", "P-256", 0), *pub;
	X509 *a, *b;
	const ASN1_INTEGER *sa, *sb;

	ca_pki_build(&env, &p, HSM_KEY_EC_P256);
	pub = csr_key(sw, 0, NULL);
	a = issue_staff(&p, pub, "A1");
	b = issue_staff(&p, pub, "A1");
	sa = X509_get0_serialNumber(a);
	sb = X509_get0_serialNumber(b);
	ck_assert_int_eq(ASN1_STRING_type(sa), V_ASN1_INTEGER); /* positive */
	ck_assert_int_eq(ASN1_STRING_length(sa), 16);
	ck_assert_int_eq(ASN1_STRING_length(sb), 16);
	ck_assert_uint_eq(ASN1_STRING_get0_data(sa)[0] & 0xc0, 0x40);
	ck_assert_int_ne(ASN1_INTEGER_cmp(sa, sb), 0);
	/* DER of the serial: 02 10 <16 octets> (no padding octet). */
	{
		unsigned char *d = NULL;
		int l = i2d_ASN1_INTEGER((ASN1_INTEGER *)sa, &d);

		ck_assert_int_eq(l, 18);
		OPENSSL_free(d);
	}
	X509_free(a);
	X509_free(b);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(sw);
	ca_pki_free(&p);
}
END_TEST

START_TEST(issue_per_cert_time)
{
	struct ca_pki p;
	EVP_PKEY *sw = ca_test_keygen("EC", "P-256", 0), *pub;
	const int n = 200;
	double t0, t1;

	ca_pki_build(&env, &p, HSM_KEY_EC_P256);
	pub = csr_key(sw, 0, NULL);
	t0 = now_ms();
	for (int i = 0; i < n; i++)
		X509_free(issue_staff(&p, pub, "B77"));
	t1 = now_ms();
	/* A measurement, not an assertion (see docs/CA.md). */
	printf("issue: %d staff-logon certificates (SoftHSM P-256) in %.1f ms: "
	    "%.3f ms/cert, %.0f certs/s\n", n, t1 - t0, (t1 - t0) / n,
	    n / ((t1 - t0) / 1e3));
	fflush(stdout);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(sw);
	ca_pki_free(&p);
}
END_TEST

START_TEST(issue_bad_requests_refused)
{
	struct ca_pki p;
	EVP_PKEY *sw = ca_test_keygen("EC", "P-256", 0), *pub;
	EVP_PKEY *weak = ca_test_keygen("EC", "P-192", 0);
	struct ca_request rq;
	X509 *x = (X509 *)1;
	static const char *const bad_dns[] = { "*.city.kagi.test" };

	ca_pki_build(&env, &p, HSM_KEY_EC_P256);
	pub = csr_key(sw, 0, NULL);
	base_request(&rq, CA_PROFILE_STAFF_LOGON, pub);
	rq.name = "x";
	rq.upn_suffix = "city.kagi.test";
	rq.staff_no = "A1,OU=admin";            /* injection attempt */
	ck_assert_int_eq(ca_cert_issue(p.iss, &rq, &x), KAGI_ERR_INVALID);
	ck_assert_ptr_null(x);
	rq.staff_no = "A1";
	rq.name = "bad\nname";
	ck_assert_int_eq(ca_cert_issue(p.iss, &rq, &x), KAGI_ERR_INVALID);
	rq.name = "ok";
	rq.not_after = rq.not_before;           /* empty validity */
	ck_assert_int_eq(ca_cert_issue(p.iss, &rq, &x), KAGI_ERR_INVALID);
	rq.not_after = rq.not_before + 40LL * 365 * 86400; /* past the CA */
	ck_assert_int_eq(ca_cert_issue(p.iss, &rq, &x), KAGI_ERR_INVALID);
	base_request(&rq, CA_PROFILE_SERVER, pub);
	rq.name = "w";
	rq.dns = bad_dns;
	rq.n_dns = 1;
	ck_assert_int_eq(ca_cert_issue(p.iss, &rq, &x), KAGI_ERR_INVALID);
	if (weak != NULL) {
		base_request(&rq, CA_PROFILE_OCSP, weak);
		rq.name = "w";
		ck_assert_int_eq(ca_cert_issue(p.iss, &rq, &x), KAGI_ERR_INVALID);
	}
	/* A root profile through a certificate-holding issuer. */
	base_request(&rq, CA_PROFILE_ROOT, pub);
	rq.name = "r";
	ck_assert_int_eq(ca_cert_issue(p.iss, &rq, &x), KAGI_ERR_INVALID);
	ck_assert_ptr_null(x);
	EVP_PKEY_free(weak);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(sw);
	ca_pki_free(&p);
}
END_TEST

START_TEST(rsa3072_ca_chain)
{
	struct ca_pki p;
	EVP_PKEY *sw = ca_test_keygen("RSA", NULL, 2048), *pub;
	X509 *x;

	ca_pki_build(&env, &p, HSM_KEY_RSA_3072);
	ck_assert_int_eq(OBJ_obj2nid(X509_get0_tbs_sigalg(p.issuing)->algorithm),
	    NID_sha256WithRSAEncryption);
	ck_assert_int_eq(EVP_PKEY_get_bits(X509_get0_pubkey(p.root)), 3072);
	pub = csr_key(sw, 0, NULL);
	x = issue_staff(&p, pub, "R3072");
	verify_chain(&p, x, "staff-rsa.pem");
	X509_free(x);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(sw);
	ca_pki_free(&p);
}
END_TEST

/* ---- CSR intake ------------------------------------------------------------ */

static int
parse_csr_of(EVP_PKEY *k)
{
	uint8_t *der = NULL;
	size_t len = 0;
	EVP_PKEY *pub = (EVP_PKEY *)1;
	int r;

	ck_assert_ptr_nonnull(k);
	ck_assert_int_eq(ca_test_csr(k, 0, &der, &len), 1);
	r = ca_csr_parse(der, len, &pub, NULL);
	if (r != 0)
		ck_assert_ptr_null(pub);
	EVP_PKEY_free(r == 0 ? pub : NULL);
	free(der);
	return r;
}

START_TEST(csr_pem_and_der_accepted)
{
	EVP_PKEY *k = ca_test_keygen("EC", "P-384", 0), *pub = NULL;
	uint8_t *der = NULL;
	size_t len = 0;
	X509_REQ *req;
	const unsigned char *pp;
	BIO *b = BIO_new(BIO_s_mem());
	char *pem;
	long pl;
	unsigned flags = 1;

	ck_assert_int_eq(ca_test_csr(k, 0, &der, &len), 1);
	ck_assert_int_eq(ca_csr_parse(der, len, &pub, &flags), 0);
	ck_assert_uint_eq(flags, 0);
	ck_assert_int_eq(EVP_PKEY_eq(pub, k), 1);
	EVP_PKEY_free(pub);
	pp = der;
	req = d2i_X509_REQ(NULL, &pp, (long)len);
	ck_assert_int_eq(PEM_write_bio_X509_REQ(b, req), 1);
	pl = BIO_get_mem_data(b, &pem);
	ck_assert_int_eq(ca_csr_parse((const uint8_t *)pem, (size_t)pl, &pub,
	    NULL), 0);
	EVP_PKEY_free(pub);
	ck_assert_int_eq(parse_csr_of(k), 0);
	X509_REQ_free(req);
	BIO_free(b);
	free(der);
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(csr_bad_signature)
{
	EVP_PKEY *k = ca_test_keygen("EC", "P-256", 0), *pub = NULL;
	uint8_t *der = NULL;
	size_t len = 0;

	ck_assert_int_eq(ca_test_csr(k, 0, &der, &len), 1);
	/* The last bytes are the signature's s value. */
	der[len - 3] ^= 0x01;
	ck_assert_int_eq(ca_csr_parse(der, len, &pub, NULL), KAGI_ERR_SIG);
	ck_assert_ptr_null(pub);
	free(der);
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(csr_other_key_signature)
{
	/* Subject key A, signed by key B: no proof of possession of A. */
	EVP_PKEY *a = ca_test_keygen("EC", "P-256", 0);
	EVP_PKEY *b = ca_test_keygen("EC", "P-256", 0), *pub = NULL;
	X509_REQ *req = X509_REQ_new();
	unsigned char *der = NULL;
	int len;

	ck_assert_int_eq(X509_REQ_set_pubkey(req, a), 1);
	ck_assert_int_gt(X509_REQ_sign(req, b, EVP_sha256()), 0);
	len = i2d_X509_REQ(req, &der);
	ck_assert_int_eq(ca_csr_parse(der, (size_t)len, &pub, NULL),
	    KAGI_ERR_SIG);
	OPENSSL_free(der);
	X509_REQ_free(req);
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
}
END_TEST

START_TEST(csr_rsa1024_refused)
{
	EVP_PKEY *k = ca_test_keygen("RSA", NULL, 1024);

	ck_assert_int_eq(parse_csr_of(k), KAGI_ERR_INVALID);
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(csr_p192_refused)
{
	EVP_PKEY *k = ca_test_keygen("EC", "P-192", 0);

	if (k == NULL) {
		printf("csr_p192_refused: OpenSSL cannot make P-192 keys; "
		    "secp224r1 instead\n");
		k = ca_test_keygen("EC", "secp224r1", 0);
	}
	ck_assert_int_eq(parse_csr_of(k), KAGI_ERR_INVALID);
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(csr_ed25519_refused)
{
	EVP_PKEY *k = ca_test_keygen("ED25519", NULL, 0);

	ck_assert_int_eq(parse_csr_of(k), KAGI_ERR_INVALID);
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(csr_secp256k1_refused)
{
	EVP_PKEY *k = ca_test_keygen("EC", "secp256k1", 0);

	ck_assert_int_eq(parse_csr_of(k), KAGI_ERR_INVALID);
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(csr_garbage)
{
	static const char junk[] = "this is not a certificate request";
	static const char pemjunk[] = "-----BEGIN CERTIFICATE REQUEST-----\n"
	    "AAAA\n-----END CERTIFICATE REQUEST-----\n";
	EVP_PKEY *pub = NULL;
	uint8_t zeros[64] = { 0 };

	ck_assert_int_eq(ca_csr_parse((const uint8_t *)junk, sizeof(junk), &pub,
	    NULL), KAGI_ERR_FORMAT);
	ck_assert_int_eq(ca_csr_parse((const uint8_t *)pemjunk,
	    sizeof(pemjunk) - 1, &pub, NULL), KAGI_ERR_FORMAT);
	ck_assert_int_eq(ca_csr_parse(zeros, sizeof(zeros), &pub, NULL),
	    KAGI_ERR_FORMAT);
	ck_assert_int_eq(ca_csr_parse(zeros, 0, &pub, NULL), KAGI_ERR_FORMAT);
	ck_assert_ptr_null(pub);
}
END_TEST

START_TEST(csr_wrong_pem_label)
{
	/* A certificate is not a CSR. */
	struct ca_pki p;
	BIO *b = BIO_new(BIO_s_mem());
	EVP_PKEY *pub = NULL;
	char *pem;
	long pl;

	ca_pki_build(&env, &p, HSM_KEY_EC_P256);
	ck_assert_int_eq(PEM_write_bio_X509(b, p.root), 1);
	pl = BIO_get_mem_data(b, &pem);
	ck_assert_int_eq(ca_csr_parse((const uint8_t *)pem, (size_t)pl, &pub,
	    NULL), KAGI_ERR_FORMAT);
	BIO_free(b);
	ca_pki_free(&p);
}
END_TEST

START_TEST(csr_trailing_bytes)
{
	EVP_PKEY *k = ca_test_keygen("EC", "P-256", 0), *pub = NULL;
	uint8_t *der = NULL, *more;
	size_t len = 0;
	X509_REQ *req;
	const unsigned char *pp;
	BIO *b = BIO_new(BIO_s_mem());
	char *pem, *pem2;
	long pl;

	ck_assert_int_eq(ca_test_csr(k, 0, &der, &len), 1);
	more = malloc(len + 1);
	memcpy(more, der, len);
	more[len] = 0x00;
	ck_assert_int_eq(ca_csr_parse(more, len + 1, &pub, NULL),
	    KAGI_ERR_TRAILING);
	ck_assert_ptr_null(pub);
	/* PEM followed by text. */
	pp = der;
	req = d2i_X509_REQ(NULL, &pp, (long)len);
	ck_assert_int_eq(PEM_write_bio_X509_REQ(b, req), 1);
	pl = BIO_get_mem_data(b, &pem);
	pem2 = malloc((size_t)pl + 16);
	memcpy(pem2, pem, (size_t)pl);
	memcpy(pem2 + pl, "\nextra junk\n", 12);
	ck_assert_int_eq(ca_csr_parse((const uint8_t *)pem2, (size_t)pl + 12,
	    &pub, NULL), KAGI_ERR_TRAILING);
	/* Two CSRs in one PEM file. */
	memcpy(pem2, pem, (size_t)pl);
	ck_assert_int_eq(PEM_write_bio_X509_REQ(b, req), 1);
	pl = BIO_get_mem_data(b, &pem);
	ck_assert_int_eq(ca_csr_parse((const uint8_t *)pem, (size_t)pl, &pub,
	    NULL), KAGI_ERR_TRAILING);
	free(pem2);
	free(more);
	free(der);
	X509_REQ_free(req);
	BIO_free(b);
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(csr_oversize)
{
	uint8_t *big = calloc(1, CA_CSR_MAX_SIZE + 1);
	EVP_PKEY *pub = NULL;

	big[0] = 0x30;
	ck_assert_int_eq(ca_csr_parse(big, CA_CSR_MAX_SIZE + 1, &pub, NULL),
	    KAGI_ERR_LIMIT);
	ck_assert_ptr_null(pub);
	free(big);
}
END_TEST

START_TEST(csr_truncated_and_flipped_never_accepted)
{
	EVP_PKEY *k = ca_test_keygen("EC", "P-256", 0), *pub = NULL;
	uint8_t *der = NULL;
	size_t len = 0;

	ck_assert_int_eq(ca_test_csr(k, 1, &der, &len), 1);
	for (size_t i = 0; i < len; i++) {
		ck_assert_int_ne(ca_csr_parse(der, i, &pub, NULL), 0);
		ck_assert_ptr_null(pub);
	}
	for (size_t i = 0; i < len; i++) {
		int r;

		der[i] ^= 0x20;
		r = ca_csr_parse(der, len, &pub, NULL);
		/* A flip may only land in the ignored extension or subject
		 * area if the signature still verifies: it cannot. */
		ck_assert_msg(r != 0, "flip at %zu accepted", i);
		der[i] ^= 0x20;
	}
	free(der);
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(csr_with_san_ignored)
{
	struct ca_pki p;
	EVP_PKEY *sw = ca_test_keygen("EC", "P-256", 0), *pub;
	unsigned flags = 0;
	X509 *x;
	char san[1024], subj[512];

	ca_pki_build(&env, &p, HSM_KEY_EC_P256);
	pub = csr_key(sw, 1, &flags);
	ck_assert_uint_eq(flags, CA_CSR_HAD_EXTENSIONS);
	x = issue_staff(&p, pub, "C9");
	san_text(x, san, sizeof(san));
	ck_assert_ptr_null(strstr(san, "evil"));
	ck_assert_ptr_null(strstr(san, "DNS:"));
	subject_text(x, subj, sizeof(subj));
	ck_assert_ptr_null(strstr(subj, "Evil"));
	check_bc(x, 0, -1);  /* the CSR asked for CA:TRUE */
	ck_assert_int_eq(X509_get_extended_key_usage(x) & XKU_CODE_SIGN, 0);
	X509_free(x);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(sw);
	ca_pki_free(&p);
}
END_TEST

/* ---- CRL ------------------------------------------------------------------ */

/* ---- fast paths equal the general (OpenSSL decoder/encoder) path ------- */

/* A software key; "compressed" asks for compressed points in its encoding. */
static EVP_PKEY *
fast_key(int kind)
{
	EVP_PKEY *k;

	switch (kind) {
	case 0: return ca_test_keygen("EC", "P-256", 0);
	case 1: return ca_test_keygen("EC", "P-384", 0);
	case 2:
		k = ca_test_keygen("EC", "P-256", 0);
		ck_assert_int_eq(EVP_PKEY_set_utf8_string_param(k,
		    OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed"), 1);
		return k;
	default: return ca_test_keygen("RSA", NULL, 2048);
	}
}

static void
assert_same_spki(EVP_PKEY *a, EVP_PKEY *b)
{
	unsigned char *da = NULL, *db = NULL;
	int la = i2d_PUBKEY(a, &da), lb = i2d_PUBKEY(b, &db);

	ck_assert_int_gt(la, 0);
	ck_assert_int_eq(la, lb);
	ck_assert_int_eq(memcmp(da, db, (size_t)la), 0);
	OPENSSL_free(da);
	OPENSSL_free(db);
}

/*
 * ca_csr_parse imports P-256/P-384 keys from their point; the key must be
 * the one OpenSSL's own X509_REQ decoder finds, for P-256, P-384, a
 * compressed P-256 point and (general path) RSA, with and without
 * requested extensions.
 */
START_TEST(csr_fast_key_equals_decoder_key)
{
	for (int kind = 0; kind < 4; kind++)
		for (int ext = 0; ext < 2; ext++) {
			EVP_PKEY *k = fast_key(kind), *pub = NULL;
			uint8_t *der = NULL;
			size_t len = 0;
			const unsigned char *pp;
			X509_REQ *req;
			unsigned flags = 0;

			ck_assert_int_eq(ca_test_csr(k, ext, &der, &len), 1);
			ck_assert_int_eq(ca_csr_parse(der, len, &pub, &flags), 0);
			ck_assert_uint_eq(flags & CA_CSR_HAD_EXTENSIONS,
			    ext ? CA_CSR_HAD_EXTENSIONS : 0);
			pp = der;
			req = d2i_X509_REQ(NULL, &pp, (long)len);
			ck_assert_ptr_nonnull(req);
			ck_assert_ptr_nonnull(X509_REQ_get0_pubkey(req));
			ck_assert_int_eq(EVP_PKEY_eq(pub,
			    X509_REQ_get0_pubkey(req)), 1);
			ck_assert_int_eq(EVP_PKEY_eq(pub, k), 1);
			assert_same_spki(pub, X509_REQ_get0_pubkey(req));
			X509_REQ_free(req);
			EVP_PKEY_free(pub);
			free(der);
			EVP_PKEY_free(k);
		}
}
END_TEST

/* A P-256 point moved off the curve: refused like the decoder refuses it. */
START_TEST(csr_point_not_on_curve)
{
	EVP_PKEY *k = ca_test_keygen("EC", "P-256", 0), *pub = NULL;
	uint8_t *der = NULL;
	size_t len = 0, i;
	const unsigned char *pp;
	X509_REQ *req;

	ck_assert_int_eq(ca_test_csr(k, 0, &der, &len), 1);
	/* BIT STRING, 66 octets, no unused bits, uncompressed point */
	for (i = 0; i + 4 < len; i++)
		if (der[i] == 0x03 && der[i + 1] == 0x42 && der[i + 2] == 0x00 &&
		    der[i + 3] == 0x04)
			break;
	ck_assert_uint_lt(i + 4, len);
	der[i + 4 + 40] ^= 0x01;        /* a byte of y */
	pp = der;
	req = d2i_X509_REQ(NULL, &pp, (long)len);
	ck_assert_ptr_nonnull(req);
	ck_assert_ptr_null(X509_REQ_get0_pubkey(req)); /* OpenSSL: no key */
	ERR_clear_error();
	ck_assert_int_eq(ca_csr_parse(der, len, &pub, NULL), KAGI_ERR_INVALID);
	ck_assert_ptr_null(pub);
	X509_REQ_free(req);
	free(der);
	EVP_PKEY_free(k);
}
END_TEST

/*
 * ca_cert_issue writes an end-entity EC key from its point; the certificate
 * must carry exactly the SubjectPublicKeyInfo OpenSSL's encoder writes
 * (i2d_PUBKEY), the key must come back out of the DER, and both
 * verifiers must accept the chain.
 */
START_TEST(issue_fast_spki_equals_encoder)
{
	static const char *const dns[] = { "fast.city.kagi.test" };
	struct ca_pki p;

	ca_pki_build(&env, &p, HSM_KEY_EC_P256);
	for (int kind = 0; kind < 4; kind++) {
		EVP_PKEY *k = fast_key(kind), *pub = csr_key(k, 0, NULL);
		struct ca_request rq;
		X509 *x = NULL, *back;
		unsigned char *cd = NULL, *kd = NULL, *xd = NULL;
		const unsigned char *pp;
		int cl, kl, xl;

		base_request(&rq, CA_PROFILE_SERVER, pub);
		rq.name = dns[0];
		rq.dns = dns;
		rq.n_dns = 1;
		ck_assert_int_eq(ca_cert_issue(p.iss, &rq, &x), 0);
		cl = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &cd);
		kl = i2d_PUBKEY(pub, &kd);
		ck_assert_int_gt(cl, 0);
		ck_assert_int_eq(cl, kl);
		ck_assert_int_eq(memcmp(cd, kd, (size_t)cl), 0);
		xl = i2d_X509(x, &xd);
		ck_assert_int_gt(xl, 0);
		pp = xd;
		back = d2i_X509(NULL, &pp, xl);
		ck_assert_ptr_nonnull(back);
		ck_assert_int_eq(EVP_PKEY_eq(X509_get0_pubkey(back), k), 1);
		ck_assert_int_eq(X509_verify(back,
		    X509_get0_pubkey(p.issuing)), 1);
		verify_chain(&p, x, "fast.pem");
		X509_free(back);
		OPENSSL_free(xd);
		OPENSSL_free(cd);
		OPENSSL_free(kd);
		X509_free(x);
		EVP_PKEY_free(pub);
		EVP_PKEY_free(k);
	}
	ca_pki_free(&p);
}
END_TEST

static void
write_crl(X509_CRL *crl, const char *name)
{
	char path[512];
	FILE *f = fopen(ca_env_path(&env, name, path, sizeof(path)), "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(PEM_write_X509_CRL(f, crl), 1);
	fclose(f);
}

START_TEST(crl_revoked_cert_fails_verify)
{
	struct ca_pki p;
	EVP_PKEY *sw = ca_test_keygen("EC", "P-256", 0), *pub;
	X509 *a, *b;
	X509_CRL *crl = NULL;
	struct ca_crl_entry ent[2];
	int64_t now = (int64_t)time(NULL);
	X509_REVOKED *rev = NULL;
	ASN1_INTEGER *num;
	ASN1_ENUMERATED *rc;
	int st, crit;

	ca_pki_build(&env, &p, HSM_KEY_EC_P256);
	pub = csr_key(sw, 0, NULL);
	a = issue_staff(&p, pub, "D1");
	b = issue_staff(&p, pub, "D2");
	ca_env_write_pem(&env, "a.pem", &a, 1);
	ca_env_write_pem(&env, "b.pem", &b, 1);

	/* An empty CRL first: both certificates pass the CRL check. */
	ck_assert_int_eq(ca_crl_build(p.iss, NULL, 0, 1, now, now + 86400,
	    &crl), 0);
	write_crl(crl, "crl1.pem");
	X509_CRL_free(crl);
	{
		X509_CRL *rcrl = NULL;

		ck_assert_int_eq(ca_crl_build(p.root_iss, NULL, 0, 1, now,
		    now + 86400, &rcrl), 0);
		write_crl(rcrl, "rootcrl.pem");
		X509_CRL_free(rcrl);
	}
	st = ca_env_run(&env, out, sizeof(out),
	    "cat root.pem rootcrl.pem crl1.pem > trust1.pem && "
	    "openssl verify -crl_check_all -CAfile trust1.pem "
	    "-untrusted issuing.pem a.pem");
	ck_assert_msg(st == 0, "%s", out);

	/* a: keyCompromise; b: certificateHold (a lost card, R-CARD-4). */
	ent[0].serial = ASN1_STRING_get0_data(X509_get0_serialNumber(b));
	ent[0].serial_len = (size_t)ASN1_STRING_length(X509_get0_serialNumber(b));
	ent[0].revoked_at = now - 10;
	ent[0].reason = CA_REASON_CERTIFICATE_HOLD;
	ent[1].serial = ASN1_STRING_get0_data(X509_get0_serialNumber(a));
	ent[1].serial_len = (size_t)ASN1_STRING_length(X509_get0_serialNumber(a));
	ent[1].revoked_at = now - 5;
	ent[1].reason = CA_REASON_KEY_COMPROMISE;
	ck_assert_int_eq(ca_crl_build(p.iss, ent, 2, 2, now, now + 86400, &crl),
	    0);
	write_crl(crl, "crl2.pem");
	st = ca_env_run(&env, out, sizeof(out),
	    "openssl crl -in crl2.pem -noout -verify -CAfile issuing.pem");
	ck_assert_msg(st == 0 && strstr(out, "verify OK") != NULL, "%s", out);
	st = ca_env_run(&env, out, sizeof(out),
	    "cat root.pem rootcrl.pem crl2.pem > trust2.pem && "
	    "openssl verify -crl_check_all -CAfile trust2.pem "
	    "-untrusted issuing.pem a.pem");
	ck_assert_int_ne(st, 0);
	ck_assert_msg(strstr(out, "certificate revoked") != NULL, "%s", out);
	st = ca_env_run(&env, out, sizeof(out),
	    "openssl verify -crl_check_all -CAfile trust2.pem "
	    "-untrusted issuing.pem b.pem");
	ck_assert_int_ne(st, 0);
	ck_assert_msg(strstr(out, "certificate revoked") != NULL, "%s", out);

	/* Parsed: v2, number 2, AKI = issuer SKI, reasons, sorted. */
	ck_assert_int_eq(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
	num = X509_CRL_get_ext_d2i(crl, NID_crl_number, &crit, NULL);
	ck_assert_int_eq(ASN1_INTEGER_get(num), 2);
	ASN1_INTEGER_free(num);
	{
		AUTHORITY_KEYID *aki = X509_CRL_get_ext_d2i(crl,
		    NID_authority_key_identifier, NULL, NULL);

		ck_assert_ptr_nonnull(aki);
		ck_assert_int_eq(ASN1_OCTET_STRING_cmp(aki->keyid,
		    X509_get0_subject_key_id(p.issuing)), 0);
		AUTHORITY_KEYID_free(aki);
	}
	ck_assert_int_eq(X509_CRL_get0_by_serial(crl, &rev,
	    (ASN1_INTEGER *)X509_get0_serialNumber(b)), 1);
	rc = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, NULL, NULL);
	ck_assert_int_eq(ASN1_ENUMERATED_get(rc), CA_REASON_CERTIFICATE_HOLD);
	ASN1_ENUMERATED_free(rc);
	X509_CRL_free(crl);

	/* Hold released: b is absent from the next CRL and verifies again. */
	ck_assert_int_eq(ca_crl_build(p.iss, &ent[1], 1, 3, now, now + 86400,
	    &crl), 0);
	write_crl(crl, "crl3.pem");
	X509_CRL_free(crl);
	st = ca_env_run(&env, out, sizeof(out),
	    "cat root.pem rootcrl.pem crl3.pem > trust3.pem && "
	    "openssl verify -crl_check_all -CAfile trust3.pem "
	    "-untrusted issuing.pem b.pem");
	ck_assert_msg(st == 0, "%s", out);

	X509_free(a);
	X509_free(b);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(sw);
	ca_pki_free(&p);
}
END_TEST

START_TEST(crl_bad_entries_refused)
{
	struct ca_pki p;
	X509_CRL *crl = (X509_CRL *)1;
	static const uint8_t s1[] = { 0x41, 0x02 }, s1z[] = { 0, 0x41, 0x02 };
	static const uint8_t zero[] = { 0 };
	struct ca_crl_entry e[2] = {
		{ s1, sizeof(s1), 1000, CA_REASON_KEY_COMPROMISE },
		{ s1z, sizeof(s1z), 1000, CA_REASON_SUPERSEDED },
	};
	int64_t now = (int64_t)time(NULL);

	ca_pki_build(&env, &p, HSM_KEY_EC_P256);
	/* The same serial twice (once with a leading zero octet). */
	ck_assert_int_eq(ca_crl_build(p.iss, e, 2, 5, now, now + 60, &crl),
	    KAGI_ERR_INVALID);
	ck_assert_ptr_null(crl);
	e[1].serial = zero;
	e[1].serial_len = 1;
	ck_assert_int_eq(ca_crl_build(p.iss, e, 2, 5, now, now + 60, &crl),
	    KAGI_ERR_INVALID);
	e[1].serial = s1z;
	e[1].serial_len = 2; /* 00 41: a different serial (0x41) */
	e[1].reason = CA_REASON_REMOVE_FROM_CRL;
	ck_assert_int_eq(ca_crl_build(p.iss, e, 2, 5, now, now + 60, &crl),
	    KAGI_ERR_INVALID);
	e[1].reason = 7;
	ck_assert_int_eq(ca_crl_build(p.iss, e, 2, 5, now, now + 60, &crl),
	    KAGI_ERR_INVALID);
	ck_assert_int_eq(ca_crl_build(p.iss, e, 1, 5, now, now, &crl),
	    KAGI_ERR_INVALID);
	ck_assert_ptr_null(crl);
	ca_pki_free(&p);
}
END_TEST

START_TEST(crl_100k_entries)
{
	struct ca_pki p;
	const size_t n = 100000;
	uint8_t *serials = malloc(n * CA_SERIAL_LEN);
	struct ca_crl_entry *e = calloc(n, sizeof(*e));
	X509_CRL *crl = NULL;
	int64_t now = (int64_t)time(NULL);
	double t0, t1;
	unsigned char *der = NULL;
	int dlen, st;

	ca_pki_build(&env, &p, HSM_KEY_EC_P256);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(ca_serial_new(serials + i * CA_SERIAL_LEN), 0);
		e[i].serial = serials + i * CA_SERIAL_LEN;
		e[i].serial_len = CA_SERIAL_LEN;
		e[i].revoked_at = now - (int64_t)(i % 86400);
		e[i].reason = (i % 3 == 0) ? CA_REASON_CERTIFICATE_HOLD :
		    (i % 3 == 1) ? CA_REASON_KEY_COMPROMISE : CA_REASON_UNSPECIFIED;
	}
	t0 = now_ms();
	ck_assert_int_eq(ca_crl_build(p.iss, e, n, 42, now, now + 86400, &crl),
	    0);
	dlen = i2d_X509_CRL(crl, &der);
	t1 = now_ms();
	/* A measurement, not an assertion (goal < 2 s; docs/CA.md). */
	printf("crl: %zu entries built, signed and encoded in %.1f ms "
	    "(%d bytes DER)\n", n, t1 - t0, dlen);
	fflush(stdout);
	ck_assert_int_eq(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), (int)n);
	ca_env_write(&env, "big.crl", der, (size_t)dlen);
	st = ca_env_run(&env, out, sizeof(out),
	    "openssl crl -inform DER -in big.crl -noout -verify "
	    "-CAfile issuing.pem");
	ck_assert_msg(st == 0 && strstr(out, "verify OK") != NULL, "%s", out);
	/* Entries are in ascending serial order. */
	{
		STACK_OF(X509_REVOKED) *rs = X509_CRL_get_REVOKED(crl);

		for (int i = 1; i < sk_X509_REVOKED_num(rs); i++)
			ck_assert_int_lt(ASN1_INTEGER_cmp(
			    X509_REVOKED_get0_serialNumber(
			    sk_X509_REVOKED_value(rs, i - 1)),
			    X509_REVOKED_get0_serialNumber(
			    sk_X509_REVOKED_value(rs, i))), 0);
	}
	OPENSSL_free(der);
	X509_CRL_free(crl);
	free(e);
	free(serials);
	ca_pki_free(&p);
}
END_TEST

/* ---- OCSP ----------------------------------------------------------------- */

struct status_tbl {
	const ASN1_INTEGER *serial[4];
	struct ca_ocsp_status st[4];
	int n;
	int calls;
};

static int
lookup_cb(const uint8_t *s, size_t len, struct ca_ocsp_status *st, void *arg)
{
	struct status_tbl *t = arg;

	t->calls++;
	for (int i = 0; i < t->n; i++)
		if ((size_t)ASN1_STRING_length(t->serial[i]) == len &&
		    memcmp(ASN1_STRING_get0_data(t->serial[i]), s, len) == 0) {
			*st = t->st[i];
			return 0;
		}
	st->status = CA_OCSP_UNKNOWN;
	return 0;
}

struct ocsp_fixture {
	struct ca_pki p;
	struct hsm_key *ok;
	EVP_PKEY *osigner, *sw, *pub;
	X509 *ocsp, *good, *revoked, *unknown;
	struct ca_ocsp_responder *r;
	struct status_tbl tbl;
};

static void
ocsp_fixture_build(struct ocsp_fixture *f)
{
	memset(f, 0, sizeof(*f));
	ca_pki_build(&env, &f->p, HSM_KEY_EC_P256);
	f->ocsp = issue_ocsp_signer(&f->p, &f->ok, &f->osigner);
	f->sw = ca_test_keygen("EC", "P-256", 0);
	f->pub = csr_key(f->sw, 0, NULL);
	f->good = issue_staff(&f->p, f->pub, "G1");
	f->revoked = issue_staff(&f->p, f->pub, "R1");
	f->unknown = issue_staff(&f->p, f->pub, "U1");
	ca_env_write_pem(&env, "good.pem", &f->good, 1);
	ca_env_write_pem(&env, "revoked.pem", &f->revoked, 1);
	ca_env_write_pem(&env, "unknown.pem", &f->unknown, 1);
	f->tbl.serial[0] = X509_get0_serialNumber(f->good);
	f->tbl.st[0].status = CA_OCSP_GOOD;
	f->tbl.serial[1] = X509_get0_serialNumber(f->revoked);
	f->tbl.st[1].status = CA_OCSP_REVOKED;
	f->tbl.st[1].revoked_at = (int64_t)time(NULL) - 3600;
	f->tbl.st[1].reason = CA_REASON_KEY_COMPROMISE;
	f->tbl.n = 2;
	ck_assert_int_eq(ca_ocsp_responder_new(f->p.issuing, f->ocsp,
	    f->osigner, 3600, &f->r), 0);
}

static void
ocsp_fixture_free(struct ocsp_fixture *f)
{
	ca_ocsp_responder_free(f->r);
	X509_free(f->ocsp);
	X509_free(f->good);
	X509_free(f->revoked);
	X509_free(f->unknown);
	EVP_PKEY_free(f->osigner);
	EVP_PKEY_free(f->sw);
	EVP_PKEY_free(f->pub);
	hsm_key_free(f->ok);
	ca_pki_free(&f->p);
}

static uint8_t *
read_file(const char *name, size_t *len)
{
	char path[512];
	FILE *f = fopen(ca_env_path(&env, name, path, sizeof(path)), "rb");
	uint8_t *b = malloc(65536);

	ck_assert_ptr_nonnull(f);
	*len = fread(b, 1, 65536, f);
	fclose(f);
	return b;
}

/* openssl makes the request, we answer, openssl checks the answer. */
static void
ocsp_roundtrip(struct ocsp_fixture *f, struct ca_ocsp_cache *cache,
    const char *cert, const char *opts, const char *expect)
{
	uint8_t *req, *resp = NULL;
	size_t rlen, resp_len = 0;
	int st;
	char want[128];

	st = ca_env_run(&env, out, sizeof(out),
	    "openssl ocsp -issuer issuing.pem %s -cert %s -reqout req.der",
	    opts, cert);
	ck_assert_msg(st == 0, "%s", out);
	req = read_file("req.der", &rlen);
	ck_assert_int_eq(ca_ocsp_respond(f->r, cache, req, rlen, lookup_cb,
	    &f->tbl, (int64_t)time(NULL), &resp, &resp_len), 0);
	ca_env_write(&env, "resp.der", resp, resp_len);
	{
		/* The nonce is echoed exactly when the request had one. */
		const unsigned char *pq = req, *pr = resp;
		OCSP_REQUEST *oq = d2i_OCSP_REQUEST(NULL, &pq, (long)rlen);
		OCSP_RESPONSE *ors = d2i_OCSP_RESPONSE(NULL, &pr, (long)resp_len);
		OCSP_BASICRESP *bs = ors ? OCSP_response_get1_basic(ors) : NULL;

		ck_assert_ptr_nonnull(bs);
		ck_assert_int_eq(OCSP_check_nonce(oq, bs),
		    strstr(opts, "-no_nonce") ? 2 : 1);
		OCSP_BASICRESP_free(bs);
		OCSP_RESPONSE_free(ors);
		OCSP_REQUEST_free(oq);
	}
	/*
	 * Signature and nonce against the saved request (openssl ignores
	 * -reqin when -cert is given, so status is checked separately).
	 */
	st = ca_env_run(&env, out, sizeof(out),
	    "openssl ocsp -reqin req.der -respin resp.der -VAfile ocsp.pem");
	ck_assert_msg(st == 0 && strstr(out, "Response verify OK") != NULL,
	    "%s", out);
	ck_assert_msg(strstr(out, "Nonce Verify error") == NULL, "%s", out);
	if (strstr(opts, "-no_nonce") == NULL)
		ck_assert_msg(strstr(out, "WARNING: no nonce") == NULL, "%s", out);
	st = ca_env_run(&env, out, sizeof(out),
	    "openssl ocsp -respin resp.der -issuer issuing.pem -no_nonce "
	    "-VAfile ocsp.pem %s -cert %s", opts, cert);
	snprintf(want, sizeof(want), "%s: %s", cert, expect);
	ck_assert_msg(st == 0 && strstr(out, want) != NULL &&
	    strstr(out, "Response verify OK") != NULL, "%s", out);
	/* Chain trust instead of -VAfile: root + issuing as CAfile. */
	st = ca_env_run(&env, out, sizeof(out),
	    "cat root.pem issuing.pem > cas.pem && "
	    "openssl ocsp -respin resp.der -issuer issuing.pem -no_nonce "
	    "-CAfile cas.pem %s -cert %s", opts, cert);
	ck_assert_msg(st == 0 && strstr(out, want) != NULL &&
	    strstr(out, "Response verify OK") != NULL, "%s", out);
	free(resp);
	free(req);
}

START_TEST(ocsp_good_revoked_unknown)
{
	struct ocsp_fixture f;

	ocsp_fixture_build(&f);
	ocsp_roundtrip(&f, NULL, "good.pem", "", "good");
	ocsp_roundtrip(&f, NULL, "revoked.pem", "", "revoked");
	ck_assert_ptr_nonnull(strstr(out, "Reason: keyCompromise"));
	ocsp_roundtrip(&f, NULL, "unknown.pem", "", "unknown");
	/* SHA-256 CertIDs. */
	ocsp_roundtrip(&f, NULL, "good.pem", "-sha256", "good");
	ocsp_roundtrip(&f, NULL, "revoked.pem", "-sha256", "revoked");
	ocsp_fixture_free(&f);
}
END_TEST

START_TEST(ocsp_hold_is_revoked)
{
	struct ocsp_fixture f;

	ocsp_fixture_build(&f);
	f.tbl.st[0].status = CA_OCSP_REVOKED;
	f.tbl.st[0].revoked_at = (int64_t)time(NULL) - 10;
	f.tbl.st[0].reason = CA_REASON_CERTIFICATE_HOLD;
	ocsp_roundtrip(&f, NULL, "good.pem", "", "revoked");
	ck_assert_ptr_nonnull(strstr(out, "Reason: certificateHold"));
	ocsp_fixture_free(&f);
}
END_TEST

START_TEST(ocsp_cache_reuses_until_status_changes)
{
	struct ocsp_fixture f;
	struct ca_ocsp_cache *c = NULL;
	size_t n = 0;
	uint64_t hits = 0, misses = 0;
	uint8_t *r1, *r2;
	size_t l1, l2;

	ocsp_fixture_build(&f);
	ck_assert_int_eq(ca_ocsp_cache_new(100, &c), 0);
	ocsp_roundtrip(&f, c, "good.pem", "-no_nonce", "good");
	r1 = read_file("resp.der", &l1);
	ocsp_roundtrip(&f, c, "good.pem", "-no_nonce", "good");
	r2 = read_file("resp.der", &l2);
	ca_ocsp_cache_stats(c, &n, &hits, &misses);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(hits, 1);
	ck_assert_uint_eq(misses, 1);
	ck_assert_uint_eq(l1, l2);
	ck_assert_int_eq(memcmp(r1, r2, l1), 0);  /* the same signed bytes */
	free(r2);
	/* The card is reported lost: the next answer is revoked at once. */
	f.tbl.st[0].status = CA_OCSP_REVOKED;
	f.tbl.st[0].revoked_at = (int64_t)time(NULL) - 1;
	f.tbl.st[0].reason = CA_REASON_CERTIFICATE_HOLD;
	ocsp_roundtrip(&f, c, "good.pem", "-no_nonce", "revoked");
	r2 = read_file("resp.der", &l2);
	ck_assert(l1 != l2 || memcmp(r1, r2, l1) != 0);
	/* With a nonce: answered fresh, not cached. */
	ocsp_roundtrip(&f, c, "good.pem", "", "revoked");
	ca_ocsp_cache_stats(c, &n, &hits, &misses);
	ck_assert_uint_eq(hits, 1);
	ck_assert_uint_eq(misses, 2);
	free(r1);
	free(r2);
	ca_ocsp_cache_free(c);
	ocsp_fixture_free(&f);
}
END_TEST

/*
 * Answers from the cache's fast path (request bytes seen before: no parse)
 * equal the slow path's: for SHA-1 and SHA-256 CertIDs and good, revoked
 * and unknown serials the second answer is the same signed bytes, openssl
 * verifies it with the right status, and a status change is answered at
 * once.  A nonce request cached while nonces were ignored is signed afresh
 * with its nonce echoed once nonces are honoured again.
 */
START_TEST(ocsp_cache_fast_path_equals_slow_path)
{
	static const char *const certs[] = { "good.pem", "revoked.pem",
	    "unknown.pem" };
	static const char *const want[] = { "good", "revoked", "unknown" };
	static const char *const opts[] = { "-no_nonce", "-no_nonce -sha256" };
	struct ocsp_fixture f;
	struct ca_ocsp_cache *c = NULL;
	size_t n = 0, l1, l2;
	uint64_t hits = 0, misses = 0;
	uint8_t *r1, *r2;
	int calls;

	ocsp_fixture_build(&f);
	ck_assert_int_eq(ca_ocsp_cache_new(100, &c), 0);
	for (size_t o = 0; o < 2; o++)
		for (size_t i = 0; i < 3; i++) {
			ocsp_roundtrip(&f, c, certs[i], opts[o], want[i]);
			r1 = read_file("resp.der", &l1);
			calls = f.tbl.calls;
			ocsp_roundtrip(&f, c, certs[i], opts[o], want[i]);
			r2 = read_file("resp.der", &l2);
			/* the status was still looked up for the cached answer */
			ck_assert_int_eq(f.tbl.calls, calls + 1);
			ck_assert_uint_eq(l1, l2);
			ck_assert_int_eq(memcmp(r1, r2, l1), 0);
			free(r1);
			free(r2);
		}
	ca_ocsp_cache_stats(c, &n, &hits, &misses);
	ck_assert_uint_eq(n, 6);
	ck_assert_uint_eq(hits, 6);
	ck_assert_uint_eq(misses, 6);
	/* good -> revoked (hold) through the fast path, SHA-256 CertID */
	f.tbl.st[0].status = CA_OCSP_REVOKED;
	f.tbl.st[0].revoked_at = (int64_t)time(NULL) - 1;
	f.tbl.st[0].reason = CA_REASON_CERTIFICATE_HOLD;
	ocsp_roundtrip(&f, c, "good.pem", "-no_nonce -sha256", "revoked");
	ck_assert_ptr_nonnull(strstr(out, "Reason: certificateHold"));
	/* and back: released from hold */
	f.tbl.st[0].status = CA_OCSP_GOOD;
	ocsp_roundtrip(&f, c, "good.pem", "-no_nonce -sha256", "good");
	/* nonces ignored: a nonce request is cached and not echoed ... */
	ca_ocsp_responder_set_nonce_policy(f.r, CA_OCSP_NONCE_IGNORE);
	{
		uint8_t *req, *resp = NULL;
		size_t rlen, resp_len = 0;
		const unsigned char *pq, *pr;
		OCSP_REQUEST *oq;
		OCSP_RESPONSE *ors;
		OCSP_BASICRESP *bs;

		ck_assert_int_eq(ca_env_run(&env, out, sizeof(out),
		    "openssl ocsp -issuer issuing.pem -cert good.pem "
		    "-reqout req.der"), 0);
		req = read_file("req.der", &rlen);
		for (int round = 0; round < 3; round++) {
			if (round == 2)
				ca_ocsp_responder_set_nonce_policy(f.r,
				    CA_OCSP_NONCE_HONOUR);
			ck_assert_int_eq(ca_ocsp_respond(f.r, c, req, rlen,
			    lookup_cb, &f.tbl, (int64_t)time(NULL), &resp,
			    &resp_len), 0);
			pq = req;
			pr = resp;
			oq = d2i_OCSP_REQUEST(NULL, &pq, (long)rlen);
			ors = d2i_OCSP_RESPONSE(NULL, &pr, (long)resp_len);
			bs = ors ? OCSP_response_get1_basic(ors) : NULL;
			ck_assert_ptr_nonnull(bs);
			/* ... and echoed again once nonces are honoured */
			ck_assert_int_eq(OCSP_check_nonce(oq, bs),
			    round == 2 ? 1 : -1);
			OCSP_BASICRESP_free(bs);
			OCSP_RESPONSE_free(ors);
			OCSP_REQUEST_free(oq);
			free(resp);
			resp = NULL;
		}
		free(req);
	}
	ca_ocsp_cache_free(c);
	ocsp_fixture_free(&f);
}
END_TEST

static void
expect_error_status(int err, int want_status)
{
	uint8_t *resp = NULL;
	size_t len = 0;
	const unsigned char *p;
	OCSP_RESPONSE *or;

	ck_assert_int_eq(ca_ocsp_error_response(err, &resp, &len), 0);
	p = resp;
	or = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
	ck_assert_ptr_nonnull(or);
	ck_assert_int_eq(OCSP_response_status(or), want_status);
	OCSP_RESPONSE_free(or);
	free(resp);
}

START_TEST(ocsp_garbage_request)
{
	struct ocsp_fixture f;
	static const uint8_t junk[] = "GET / HTTP/1.0\r\n\r\n";
	uint8_t *resp = (uint8_t *)1, big[CA_OCSP_MAX_REQUEST + 1];
	size_t len = 1;
	int r;

	ocsp_fixture_build(&f);
	r = ca_ocsp_respond(f.r, NULL, junk, sizeof(junk), lookup_cb, &f.tbl,
	    (int64_t)time(NULL), &resp, &len);
	ck_assert_int_eq(r, KAGI_ERR_FORMAT);
	ck_assert_ptr_null(resp);
	ck_assert_uint_eq(len, 0);
	expect_error_status(r, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	memset(big, 0x30, sizeof(big));
	ck_assert_int_eq(ca_ocsp_respond(f.r, NULL, big, sizeof(big), lookup_cb,
	    &f.tbl, 0, &resp, &len), KAGI_ERR_LIMIT);
	ck_assert_int_eq(ca_ocsp_respond(f.r, NULL, big, 0, lookup_cb,
	    &f.tbl, 0, &resp, &len), KAGI_ERR_FORMAT);
	ck_assert_int_eq(f.tbl.calls, 0);
	/* Shown to a client as malformedRequest by openssl too. */
	ck_assert_int_eq(ca_ocsp_error_response(KAGI_ERR_FORMAT, &resp, &len), 0);
	ca_env_write(&env, "err.der", resp, len);
	free(resp);
	ck_assert_int_ne(ca_env_run(&env, out, sizeof(out),
	    "openssl ocsp -respin err.der -resp_text -noverify"), 0);
	ck_assert_msg(strstr(out, "malformedrequest") != NULL, "%s", out);
	ocsp_fixture_free(&f);
}
END_TEST

START_TEST(ocsp_trailing_bytes)
{
	struct ocsp_fixture f;
	uint8_t *req, *resp = NULL;
	size_t rlen, len = 0;

	ocsp_fixture_build(&f);
	ck_assert_int_eq(ca_env_run(&env, out, sizeof(out),
	    "openssl ocsp -issuer issuing.pem -cert good.pem -reqout req.der"), 0);
	req = read_file("req.der", &rlen);
	req[rlen] = 0x00;
	ck_assert_int_eq(ca_ocsp_respond(f.r, NULL, req, rlen + 1, lookup_cb,
	    &f.tbl, (int64_t)time(NULL), &resp, &len), KAGI_ERR_TRAILING);
	ck_assert_ptr_null(resp);
	/* Every truncation fails too, and never crashes. */
	for (size_t i = 0; i < rlen; i++)
		ck_assert_int_ne(ca_ocsp_respond(f.r, NULL, req, i, lookup_cb,
		    &f.tbl, (int64_t)time(NULL), &resp, &len), 0);
	ck_assert_int_eq(f.tbl.calls, 0);
	free(req);
	ocsp_fixture_free(&f);
}
END_TEST

START_TEST(ocsp_other_ca)
{
	struct ocsp_fixture f;
	uint8_t *req, *resp = NULL;
	size_t rlen, len = 0;
	int r;

	ocsp_fixture_build(&f);
	/* The root CA is not the CA this responder answers for. */
	ck_assert_int_eq(ca_env_run(&env, out, sizeof(out),
	    "openssl ocsp -issuer root.pem -cert issuing.pem -reqout req.der"), 0);
	req = read_file("req.der", &rlen);
	r = ca_ocsp_respond(f.r, NULL, req, rlen, lookup_cb, &f.tbl,
	    (int64_t)time(NULL), &resp, &len);
	ck_assert_int_eq(r, KAGI_ERR_DENIED);
	ck_assert_ptr_null(resp);
	ck_assert_int_eq(f.tbl.calls, 0);
	expect_error_status(r, OCSP_RESPONSE_STATUS_UNAUTHORIZED);
	free(req);
	ocsp_fixture_free(&f);
}
END_TEST

START_TEST(ocsp_responder_wrong_signer_refused)
{
	struct ocsp_fixture f;
	struct ca_ocsp_responder *r = (struct ca_ocsp_responder *)1;

	ocsp_fixture_build(&f);
	/* The issuing CA's key with the OCSP certificate: mismatch. */
	ck_assert_int_eq(ca_ocsp_responder_new(f.p.issuing, f.ocsp,
	    f.p.iss_signer, 3600, &r), KAGI_ERR_INVALID);
	ck_assert_ptr_null(r);
	/* A staff certificate is no OCSP signer. */
	ck_assert_int_eq(ca_ocsp_responder_new(f.p.issuing, f.good, f.pub, 3600,
	    &r), KAGI_ERR_INVALID);
	ocsp_fixture_free(&f);
}
END_TEST

static Suite *
ca_suite(void)
{
	Suite *s = suite_create("ca");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, provider_digest_sign_verifies);
	tcase_add_test(tc, ca_certs_profile_and_chain);
	tcase_add_test(tc, profile_staff_logon);
	tcase_add_test(tc, profile_terminal);
	tcase_add_test(tc, profile_server_rsa);
	tcase_add_test(tc, profile_ocsp_signer);
	tcase_add_test(tc, serial_random_positive_16);
	tcase_add_test(tc, issue_per_cert_time);
	tcase_add_test(tc, issue_bad_requests_refused);
	tcase_add_test(tc, rsa3072_ca_chain);
	tcase_add_test(tc, csr_pem_and_der_accepted);
	tcase_add_test(tc, csr_bad_signature);
	tcase_add_test(tc, csr_other_key_signature);
	tcase_add_test(tc, csr_rsa1024_refused);
	tcase_add_test(tc, csr_p192_refused);
	tcase_add_test(tc, csr_ed25519_refused);
	tcase_add_test(tc, csr_secp256k1_refused);
	tcase_add_test(tc, csr_garbage);
	tcase_add_test(tc, csr_wrong_pem_label);
	tcase_add_test(tc, csr_trailing_bytes);
	tcase_add_test(tc, csr_oversize);
	tcase_add_test(tc, csr_truncated_and_flipped_never_accepted);
	tcase_add_test(tc, csr_with_san_ignored);
	tcase_add_test(tc, csr_fast_key_equals_decoder_key);
	tcase_add_test(tc, csr_point_not_on_curve);
	tcase_add_test(tc, issue_fast_spki_equals_encoder);
	tcase_add_test(tc, crl_revoked_cert_fails_verify);
	tcase_add_test(tc, crl_bad_entries_refused);
	tcase_add_test(tc, crl_100k_entries);
	tcase_add_test(tc, ocsp_good_revoked_unknown);
	tcase_add_test(tc, ocsp_hold_is_revoked);
	tcase_add_test(tc, ocsp_cache_reuses_until_status_changes);
	tcase_add_test(tc, ocsp_cache_fast_path_equals_slow_path);
	tcase_add_test(tc, ocsp_garbage_request);
	tcase_add_test(tc, ocsp_trailing_bytes);
	tcase_add_test(tc, ocsp_other_ca);
	tcase_add_test(tc, ocsp_responder_wrong_signer_refused);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	ca_env_global_init();
	sr = srunner_create(ca_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	ca_env_global_cleanup();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
