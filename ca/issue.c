/*
 * Certificate issuance by profile (DESIGN.md "Certificate profiles",
 * docs/CA.md).  Every extension is built from structures, never from
 * OpenSSL config strings, so no value from the store can inject syntax.
 * Nothing is taken from a CSR except its (verified) public key.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "kagi/ca.h"
#include "kagi/kbuf.h"
#include "kagi/log.h"
#include "kagi/util.h"

#include "ca_int.h"

#define UB_NAME 64  /* RFC 5280 upper bounds for O, OU, CN, serialNumber */

/* Printable UTF-8 without control characters, 1..maxchars code points. */
static int
check_text(const char *s, size_t maxchars)
{
	size_t len, chars = 0, i;

	if (s == NULL || (len = strlen(s)) == 0 || len > maxchars * 4)
		return 0;
	if (!kagi_utf8_valid(s, len))
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return 0;
		if ((c & 0xc0) != 0x80)
			chars++;
	}
	return chars <= maxchars;
}

/* [A-Za-z0-9] plus extra, 1..max bytes (identifiers, PrintableString). */
static int
check_ident(const char *s, size_t max, const char *extra)
{
	size_t len;

	if (s == NULL || (len = strlen(s)) == 0 || len > max)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr(extra, c) != NULL))
			return 0;
	}
	return 1;
}

/* An LDH host name: labels 1..63, total <= 253, no wildcard. */
static int
check_dns(const char *s)
{
	size_t len, lab = 0;

	if (s == NULL || (len = strlen(s)) == 0 || len > 253)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (lab == 0 || s[i - 1] == '-')
				return 0;
			lab = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			return 0;
		if (c == '-' && lab == 0)
			return 0;
		if (++lab > 63)
			return 0;
	}
	return lab > 0 && s[len - 1] != '-';
}

static int
add_entry(X509_NAME *n, int nid, int type, const char *v)
{
	if (v == NULL)
		return 1;
	return X509_NAME_add_entry_by_NID(n, nid, type,
	    (const unsigned char *)v, (int)strlen(v), -1, 0);
}

static X509_NAME *
build_subject(const struct ca_request *req)
{
	X509_NAME *n = X509_NAME_new();
	const char *sn = NULL;

	if (req->profile == CA_PROFILE_STAFF_LOGON)
		sn = req->staff_no;
	else if (req->profile == CA_PROFILE_TERMINAL)
		sn = req->device_id;
	/* UTF8String for the directory strings, PrintableString for sn. */
	if (n == NULL ||
	    !add_entry(n, NID_organizationName, V_ASN1_UTF8STRING, req->org) ||
	    !add_entry(n, NID_organizationalUnitName, V_ASN1_UTF8STRING,
	    req->section) ||
	    !add_entry(n, NID_commonName, V_ASN1_UTF8STRING, req->name) ||
	    !add_entry(n, NID_serialNumber, V_ASN1_PRINTABLESTRING, sn)) {
		X509_NAME_free(n);
		return NULL;
	}
	return n;
}

static int
check_request(const struct ca_issuer *iss, const struct ca_request *req)
{
	if (ca_profile_name(req->profile) == NULL) {
		kagi_log_err("unknown profile %d", (int)req->profile);
		return KAGI_ERR_INVALID;
	}
	if ((req->profile == CA_PROFILE_ROOT) != (iss->cert == NULL)) {
		kagi_log_err("profile %s needs %s issuer",
		    ca_profile_name(req->profile),
		    iss->cert == NULL ? "a certificate-holding" : "a self-signing");
		return KAGI_ERR_INVALID;
	}
	if (req->pubkey == NULL || ca_key_check(req->pubkey) != 0)
		return KAGI_ERR_INVALID;
	if (req->profile == CA_PROFILE_ROOT &&
	    EVP_PKEY_eq(req->pubkey, iss->signer) != 1) {
		ERR_clear_error();
		kagi_log_err("root: subject key is not the signer's key");
		return KAGI_ERR_INVALID;
	}
	if (!check_text(req->org, UB_NAME) || !check_text(req->name, UB_NAME) ||
	    (req->section != NULL && !check_text(req->section, UB_NAME))) {
		kagi_log_err("subject O/OU/CN missing or not acceptable");
		return KAGI_ERR_INVALID;
	}
	if (req->profile == CA_PROFILE_STAFF_LOGON &&
	    (!check_ident(req->staff_no, 32, "-") ||
	    !check_dns(req->upn_suffix))) {
		kagi_log_err("staff-logon: staff number or UPN suffix missing "
		    "or not acceptable");
		return KAGI_ERR_INVALID;
	}
	if (req->profile == CA_PROFILE_TERMINAL &&
	    (!check_ident(req->device_id, 64, "-._") ||
	    req->zone_oid == NULL || !check_ident(req->zone_oid, 128, ".") ||
	    strspn(req->zone_oid, "0123456789.") != strlen(req->zone_oid))) {
		kagi_log_err("terminal: device id or zone OID missing or not "
		    "acceptable");
		return KAGI_ERR_INVALID;
	}
	if ((req->n_dns > 0 && req->profile != CA_PROFILE_TERMINAL &&
	    req->profile != CA_PROFILE_SERVER) ||
	    (req->n_ips > 0 && req->profile != CA_PROFILE_SERVER) ||
	    req->n_dns > 32 || req->n_ips > 32) {
		kagi_log_err("profile %s: SANs not allowed or too many",
		    ca_profile_name(req->profile));
		return KAGI_ERR_INVALID;
	}
	if (req->profile == CA_PROFILE_SERVER && req->n_dns + req->n_ips == 0) {
		kagi_log_err("server: at least one DNS or IP SAN is required");
		return KAGI_ERR_INVALID;
	}
	for (size_t i = 0; i < req->n_dns; i++)
		if (!check_dns(req->dns[i])) {
			kagi_log_err("DNS name %zu not acceptable", i);
			return KAGI_ERR_INVALID;
		}
	if (req->not_before < 0 || req->not_after <= req->not_before) {
		kagi_log_err("validity not acceptable");
		return KAGI_ERR_INVALID;
	}
	if (iss->cert != NULL) {
		int day = 0, sec = 0;
		ASN1_TIME *na = ca_time_new(req->not_after);

		/* Never outlive the issuer (RFC 5280 path validation). */
		if (na == NULL || !ASN1_TIME_diff(&day, &sec, na,
		    X509_get0_notAfter(iss->cert)) || day < 0 || sec < 0) {
			ASN1_TIME_free(na);
			kagi_log_err("notAfter beyond the issuer's notAfter");
			return KAGI_ERR_INVALID;
		}
		ASN1_TIME_free(na);
	}
	if (req->serial != NULL && (req->serial_len == 0 ||
	    req->serial_len > 20)) {
		kagi_log_err("serial length %zu not acceptable", req->serial_len);
		return KAGI_ERR_INVALID;
	}
	return 0;
}

static int
add_ext(X509 *x, int nid, void *value, int crit)
{
	return X509_add1_ext_i2d(x, nid, value, crit, X509V3_ADD_APPEND) == 1;
}

static GENERAL_NAME *
gn_ia5(int type, const char *s)
{
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_IA5STRING *v = ASN1_IA5STRING_new();

	if (g == NULL || v == NULL ||
	    !ASN1_STRING_set(v, s, (int)strlen(s))) {
		GENERAL_NAME_free(g);
		ASN1_IA5STRING_free(v);
		return NULL;
	}
	GENERAL_NAME_set0_value(g, type, v);
	return g;
}

static int
push_gn(GENERAL_NAMES *gns, GENERAL_NAME *g)
{
	if (g == NULL)
		return 0;
	if (!sk_GENERAL_NAME_push(gns, g)) {
		GENERAL_NAME_free(g);
		return 0;
	}
	return 1;
}

/* Microsoft UPN: otherName 1.3.6.1.4.1.311.20.2.3 with a UTF8String. */
static GENERAL_NAME *
gn_upn(const char *upn)
{
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_TYPE *t = ASN1_TYPE_new();
	ASN1_UTF8STRING *u = ASN1_UTF8STRING_new();

	if (g == NULL || t == NULL || u == NULL ||
	    !ASN1_STRING_set(u, upn, (int)strlen(upn)))
		goto fail;
	ASN1_TYPE_set(t, V_ASN1_UTF8STRING, u);
	u = NULL;
	if (!GENERAL_NAME_set0_othername(g, OBJ_nid2obj(NID_ms_upn), t))
		goto fail;
	return g;
fail:
	GENERAL_NAME_free(g);
	ASN1_TYPE_free(t);
	ASN1_UTF8STRING_free(u);
	return NULL;
}

static char *
concat3(const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
	char *s = malloc(la + lb + lc + 1);

	if (s != NULL) {
		memcpy(s, a, la);
		memcpy(s + la, b, lb);
		memcpy(s + la + lb, c, lc + 1);
	}
	return s;
}

static int
add_san(X509 *x, const struct ca_request *req)
{
	GENERAL_NAMES *gns = GENERAL_NAMES_new();
	char *tmp = NULL;
	int ok = 0;

	if (gns == NULL)
		return 0;
	switch (req->profile) {
	case CA_PROFILE_STAFF_LOGON:
		if ((tmp = concat3(req->staff_no, "@", req->upn_suffix)) == NULL ||
		    !push_gn(gns, gn_upn(tmp)))
			goto out;
		free(tmp);
		if ((tmp = concat3("urn:kagi:staff:", req->staff_no, "")) == NULL ||
		    !push_gn(gns, gn_ia5(GEN_URI, tmp)))
			goto out;
		break;
	case CA_PROFILE_TERMINAL:
		if ((tmp = concat3("urn:kagi:device:", req->device_id, "")) ==
		    NULL || !push_gn(gns, gn_ia5(GEN_URI, tmp)))
			goto out;
		break;
	default:
		break;
	}
	for (size_t i = 0; i < req->n_dns; i++)
		if (!push_gn(gns, gn_ia5(GEN_DNS, req->dns[i])))
			goto out;
	for (size_t i = 0; i < req->n_ips; i++) {
		ASN1_OCTET_STRING *ip = a2i_IPADDRESS(req->ips[i]);
		GENERAL_NAME *g;

		if (ip == NULL) {
			kagi_log_err("IP address %zu not acceptable", i);
			goto out;
		}
		if ((g = GENERAL_NAME_new()) == NULL) {
			ASN1_OCTET_STRING_free(ip);
			goto out;
		}
		GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
		if (!push_gn(gns, g))
			goto out;
	}
	ok = sk_GENERAL_NAME_num(gns) == 0 ||
	    add_ext(x, NID_subject_alt_name, gns, 0);
out:
	free(tmp);
	GENERAL_NAMES_free(gns);
	return ok;
}

static int
add_ku(X509 *x, const int *bits, size_t n)
{
	ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
	int ok = ku != NULL;

	for (size_t i = 0; ok && i < n; i++)
		ok = ASN1_BIT_STRING_set_bit(ku, bits[i], 1);
	ok = ok && add_ext(x, NID_key_usage, ku, 1);
	ASN1_BIT_STRING_free(ku);
	return ok;
}

static int
add_eku(X509 *x, const int *nids, size_t n)
{
	EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
	int ok = eku != NULL;

	for (size_t i = 0; ok && i < n; i++)
		ok = sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(nids[i])) > 0;
	ok = ok && add_ext(x, NID_ext_key_usage, eku, 0);
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	return ok;
}

static int
add_bc(X509 *x, int ca, int pathlen)
{
	BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
	int ok = bc != NULL;

	if (ok && ca) {
		bc->ca = 0xff;
		if (pathlen >= 0) {
			ok = (bc->pathlen = ASN1_INTEGER_new()) != NULL &&
			    ASN1_INTEGER_set(bc->pathlen, pathlen);
		}
	}
	ok = ok && add_ext(x, NID_basic_constraints, bc, 1);
	BASIC_CONSTRAINTS_free(bc);
	return ok;
}

/* RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING. */
static ASN1_OCTET_STRING *
make_ski(X509 *x)
{
	const ASN1_BIT_STRING *bs = X509_get0_pubkey_bitstr(x);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	ASN1_OCTET_STRING *o;

	if (bs == NULL || !EVP_Digest(bs->data, (size_t)bs->length, md, &mdlen,
	    EVP_sha1(), NULL))
		return NULL;
	if ((o = ASN1_OCTET_STRING_new()) == NULL)
		return NULL;
	if (!ASN1_OCTET_STRING_set(o, md, (int)mdlen)) {
		ASN1_OCTET_STRING_free(o);
		return NULL;
	}
	return o;
}

static int
add_aki(X509 *x, const ASN1_OCTET_STRING *keyid)
{
	AUTHORITY_KEYID *aki = AUTHORITY_KEYID_new();
	int ok = aki != NULL && keyid != NULL &&
	    (aki->keyid = ASN1_OCTET_STRING_dup(keyid)) != NULL &&
	    add_ext(x, NID_authority_key_identifier, aki, 0);

	AUTHORITY_KEYID_free(aki);
	return ok;
}

static int
add_policy(X509 *x, const char *oid)
{
	CERTIFICATEPOLICIES *cp = sk_POLICYINFO_new_null();
	POLICYINFO *pi = POLICYINFO_new();
	int ok = 0;

	if (cp == NULL || pi == NULL)
		goto out;
	ASN1_OBJECT_free(pi->policyid);
	if ((pi->policyid = OBJ_txt2obj(oid, 1)) == NULL) {
		kagi_log_err("zone OID not acceptable");
		goto out;
	}
	if (!sk_POLICYINFO_push(cp, pi))
		goto out;
	pi = NULL;
	ok = add_ext(x, NID_certificate_policies, cp, 0);
out:
	POLICYINFO_free(pi);
	sk_POLICYINFO_pop_free(cp, POLICYINFO_free);
	return ok;
}

static int
add_cdp(X509 *x, const char *url)
{
	CRL_DIST_POINTS *cdp = sk_DIST_POINT_new_null();
	DIST_POINT *dp = DIST_POINT_new();
	int ok = 0;

	if (cdp == NULL || dp == NULL ||
	    (dp->distpoint = DIST_POINT_NAME_new()) == NULL)
		goto out;
	dp->distpoint->type = 0; /* fullName */
	if ((dp->distpoint->name.fullname = GENERAL_NAMES_new()) == NULL ||
	    !push_gn(dp->distpoint->name.fullname, gn_ia5(GEN_URI, url)))
		goto out;
	if (!sk_DIST_POINT_push(cdp, dp))
		goto out;
	dp = NULL;
	ok = add_ext(x, NID_crl_distribution_points, cdp, 0);
out:
	DIST_POINT_free(dp);
	sk_DIST_POINT_pop_free(cdp, DIST_POINT_free);
	return ok;
}

static int
push_ad(AUTHORITY_INFO_ACCESS *aia, int method, const char *url)
{
	ACCESS_DESCRIPTION *ad = ACCESS_DESCRIPTION_new();
	GENERAL_NAME *g = gn_ia5(GEN_URI, url);

	if (ad == NULL || g == NULL)
		goto fail;
	ASN1_OBJECT_free(ad->method);
	ad->method = OBJ_nid2obj(method);
	GENERAL_NAME_free(ad->location);
	ad->location = g;
	g = NULL;
	if (!sk_ACCESS_DESCRIPTION_push(aia, ad))
		goto fail;
	return 1;
fail:
	ACCESS_DESCRIPTION_free(ad);
	GENERAL_NAME_free(g);
	return 0;
}

static int
add_aia(X509 *x, const struct ca_issuer *iss)
{
	AUTHORITY_INFO_ACCESS *aia;
	int ok = 0;

	if (iss->ocsp_url == NULL && iss->ca_issuers_url == NULL)
		return 1;
	if ((aia = sk_ACCESS_DESCRIPTION_new_null()) == NULL)
		return 0;
	if (iss->ocsp_url != NULL && !push_ad(aia, NID_ad_OCSP, iss->ocsp_url))
		goto out;
	if (iss->ca_issuers_url != NULL &&
	    !push_ad(aia, NID_ad_ca_issuers, iss->ca_issuers_url))
		goto out;
	ok = add_ext(x, NID_info_access, aia, 0);
out:
	sk_ACCESS_DESCRIPTION_pop_free(aia, ACCESS_DESCRIPTION_free);
	return ok;
}

static int
add_nocheck(X509 *x)
{
	ASN1_NULL *n = ASN1_NULL_new();
	int ok = n != NULL && add_ext(x, NID_id_pkix_OCSP_noCheck, n, 0);

	ASN1_NULL_free(n);
	return ok;
}

/*
 * The subject key of an end-entity certificate, for P-256/P-384 keys with
 * uncompressed points, written as algorithm + point (RFC 5480) straight from the key's
 * parameters.  X509_set_pubkey would encode the key through an OpenSSL 3.0
 * encoder context and decode the result again through a decoder context,
 * both built anew per call (docs/BENCHMARKS.md "CA"); the encoding is the
 * same (tests/unit/ca compares it with i2d_PUBKEY).  The certificate then
 * caches no EVP_PKEY (X509_get0_pubkey returns NULL), so only end-entity
 * profiles take this path: CA and OCSP-signer certificates are used as
 * issuers in this process.  Returns 1 done, 0 not applicable, -1 error.
 */
static int
set_ec_spki(X509 *x, EVP_PKEY *pk)
{
	char group[64], form[32];
	unsigned char pt[1 + 2 * 48];
	unsigned char *copy;
	size_t glen = 0, ptlen = 0;
	int curve;

	if (!EVP_PKEY_is_a(pk, "EC") || EVP_PKEY_is_a(pk, "SM2") ||
	    !EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME,
	    group, sizeof(group), &glen)) {
		ERR_clear_error();
		return 0;
	}
	if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
		curve = NID_X9_62_prime256v1;
	else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
		curve = NID_secp384r1;
	else
		return 0;
	/* the encoder keeps a compressed form: leave such keys to it */
	if (!EVP_PKEY_get_utf8_string_param(pk,
	    OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, form, sizeof(form),
	    &glen) || strcmp(form, "uncompressed") != 0) {
		ERR_clear_error();
		return 0;
	}
	if (!EVP_PKEY_get_octet_string_param(pk,
	    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, sizeof(pt), &ptlen) ||
	    ptlen == 0 || pt[0] != 0x04) {
		ERR_clear_error();
		return 0;
	}
	if ((copy = OPENSSL_memdup(pt, ptlen)) == NULL)
		return -1;
	if (!X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x),
	    OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
	    OBJ_nid2obj(curve), copy, (int)ptlen)) {
		OPENSSL_free(copy);
		return -1;
	}
	return 1;
}

static int
set_subject_key(X509 *x, const struct ca_request *req)
{
	int fast = 0;

	if (req->profile == CA_PROFILE_STAFF_LOGON ||
	    req->profile == CA_PROFILE_TERMINAL ||
	    req->profile == CA_PROFILE_SERVER)
		fast = set_ec_spki(x, req->pubkey);
	if (fast < 0)
		return 0;
	return fast == 1 || X509_set_pubkey(x, req->pubkey);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int
add_profile_exts(X509 *x, const struct ca_issuer *iss,
    const struct ca_request *req)
{
	static const int ku_ca[] = { 5, 6 };          /* keyCertSign, cRLSign */
	static const int ku_ds[] = { 0 };             /* digitalSignature */
	static const int ku_ds_ke[] = { 0, 2 };       /* + keyEncipherment */
	static const int eku_staff[] = { NID_client_auth,
	    NID_ms_smartcard_login };
	static const int eku_client[] = { NID_client_auth };
	static const int eku_server[] = { NID_server_auth };
	static const int eku_ocsp[] = { NID_OCSP_sign };
	ASN1_OCTET_STRING *ski = NULL;
	const ASN1_OCTET_STRING *akid;
	int ok = 0;

	switch (req->profile) {
	case CA_PROFILE_ROOT:
		ok = add_bc(x, 1, -1) && add_ku(x, ku_ca, N(ku_ca));
		break;
	case CA_PROFILE_ISSUING_CA:
		ok = add_bc(x, 1, 0) && add_ku(x, ku_ca, N(ku_ca));
		break;
	case CA_PROFILE_STAFF_LOGON:
		ok = add_bc(x, 0, -1) && add_ku(x, ku_ds, N(ku_ds)) &&
		    add_eku(x, eku_staff, N(eku_staff));
		break;
	case CA_PROFILE_TERMINAL:
		ok = add_bc(x, 0, -1) && add_ku(x, ku_ds, N(ku_ds)) &&
		    add_eku(x, eku_client, N(eku_client));
		break;
	case CA_PROFILE_SERVER:
		ok = add_bc(x, 0, -1) && (EVP_PKEY_is_a(req->pubkey, "RSA") ?
		    add_ku(x, ku_ds_ke, N(ku_ds_ke)) : add_ku(x, ku_ds, N(ku_ds))) &&
		    add_eku(x, eku_server, N(eku_server));
		break;
	case CA_PROFILE_OCSP:
		ok = add_bc(x, 0, -1) && add_ku(x, ku_ds, N(ku_ds)) &&
		    add_eku(x, eku_ocsp, N(eku_ocsp));
		break;
	}
	if (!ok)
		goto out;
	ok = 0;
	if ((ski = make_ski(x)) == NULL ||
	    !add_ext(x, NID_subject_key_identifier, ski, 0))
		goto out;
	akid = iss->cert != NULL ? X509_get0_subject_key_id(iss->cert) : ski;
	if (!add_aki(x, akid) || !add_san(x, req))
		goto out;
	if (req->profile == CA_PROFILE_TERMINAL && !add_policy(x, req->zone_oid))
		goto out;
	if (req->profile != CA_PROFILE_ROOT) {
		if (iss->cdp_url != NULL && !add_cdp(x, iss->cdp_url))
			goto out;
		if (!add_aia(x, iss))
			goto out;
	}
	if (req->profile == CA_PROFILE_OCSP && !add_nocheck(x))
		goto out;
	ok = 1;
out:
	ASN1_OCTET_STRING_free(ski);
	return ok;
}

int
ca_cert_issue(const struct ca_issuer *iss, const struct ca_request *req,
    X509 **out)
{
	int r = KAGI_ERR_INTERNAL;
	X509 *x = NULL;
	X509_NAME *subj = NULL;
	ASN1_INTEGER *sn = NULL;
	ASN1_TIME *nb = NULL, *na = NULL;
	EVP_MD_CTX *mctx = NULL;
	EVP_PKEY *vkey;
	uint8_t serial[CA_SERIAL_LEN];
	const uint8_t *sp;
	size_t slen;
	char hex[2 * 20 + 1];

	if (out != NULL)
		*out = NULL;
	if (iss == NULL || req == NULL || out == NULL)
		return KAGI_ERR_INVALID;
	ERR_clear_error(); /* so ca_log_ossl reports only our failures */
	if ((r = check_request(iss, req)) != 0)
		goto out;
	r = KAGI_ERR_INTERNAL;
	if (req->serial != NULL) {
		sp = req->serial;
		slen = req->serial_len;
	} else {
		if ((r = ca_serial_new(serial)) != 0)
			goto out;
		r = KAGI_ERR_INTERNAL;
		sp = serial;
		slen = sizeof(serial);
	}
	if ((sn = ca_serial_to_asn1(sp, slen)) == NULL) {
		kagi_log_err("serial not acceptable (zero, negative or too long)");
		r = KAGI_ERR_INVALID;
		goto out;
	}
	if ((subj = build_subject(req)) == NULL) {
		ca_log_ossl("subject name");
		r = KAGI_ERR_INVALID;
		goto out;
	}
	if ((nb = ca_time_new(req->not_before)) == NULL ||
	    (na = ca_time_new(req->not_after)) == NULL) {
		r = KAGI_ERR_INVALID;
		goto out;
	}
	if ((x = X509_new()) == NULL ||
	    !X509_set_version(x, X509_VERSION_3) ||
	    !X509_set_serialNumber(x, sn) ||
	    !X509_set_subject_name(x, subj) ||
	    !X509_set_issuer_name(x, iss->cert != NULL ?
	    X509_get_subject_name(iss->cert) : subj) ||
	    !X509_set1_notBefore(x, nb) || !X509_set1_notAfter(x, na) ||
	    !set_subject_key(x, req)) {
		ca_log_ossl("certificate fields");
		goto out;
	}
	if (!add_profile_exts(x, iss, req)) {
		ca_log_ossl("certificate extensions");
		goto out;
	}
	if ((mctx = ca_issuer_sign_ctx(iss)) == NULL) {
		r = KAGI_ERR_HSM;
		goto out;
	}
	if (X509_sign_ctx(x, mctx) <= 0) {
		ca_log_ossl("certificate signature");
		r = KAGI_ERR_HSM;
		goto out;
	}
	/* Fail closed on a faulty signer: check the signature we just made. */
	vkey = iss->cert != NULL ? X509_get0_pubkey(iss->cert) : req->pubkey;
	if (X509_verify(x, vkey) != 1) {
		ca_log_ossl("issued certificate does not verify");
		r = KAGI_ERR_SIG;
		goto out;
	}
	{
		const ASN1_INTEGER *s = X509_get0_serialNumber(x);
		size_t n = (size_t)ASN1_STRING_length(s);

		if (n > 20)
			n = 20;
		kagi_hex_encode(ASN1_STRING_get0_data(s), n, hex);
	}
	kagi_log_info("event=cert_issued profile=%s serial=%s",
	    ca_profile_name(req->profile), hex);
	*out = x;
	x = NULL;
	r = 0;
out:
	EVP_MD_CTX_free(mctx);
	X509_free(x);
	X509_NAME_free(subj);
	ASN1_INTEGER_free(sn);
	ASN1_TIME_free(nb);
	ASN1_TIME_free(na);
	return r;
}
