/* Shared pieces of the CA: issuers, serials, the key allowlist, names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>

#include "kagi/ca.h"
#include "kagi/i18n.h"
#include "kagi/log.h"
#include "kagi/util.h"

#include "ca_int.h"

void
ca_log_ossl(const char *what)
{
	char buf[512];
	size_t used = 0;
	unsigned long e;
	int n;

	buf[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		char one[256];

		ERR_error_string_n(e, one, sizeof(one));
		if (used < sizeof(buf) - 1) {
			n = snprintf(buf + used, sizeof(buf) - used, "%s%s",
			    used ? "; " : "", one);
			if (n > 0)
				used += (size_t)n;
		}
	}
	kagi_log_err("%s: %s", what, buf[0] ? buf : "(no OpenSSL error)");
}

ASN1_TIME *
ca_time_new(int64_t t)
{
	/* RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime after. */
	if (t < 0 || (int64_t)(time_t)t != t)
		return NULL;
	return ASN1_TIME_adj(NULL, (time_t)t, 0, 0);
}

ASN1_INTEGER *
ca_serial_to_asn1(const uint8_t *s, size_t len)
{
	BIGNUM *bn;
	ASN1_INTEGER *ai;

	if (s == NULL || len == 0 || len > 20)
		return NULL;
	if ((bn = BN_bin2bn(s, (int)len, NULL)) == NULL)
		return NULL;
	/* Positive, non-zero, and still at most 20 octets once encoded. */
	if (BN_is_zero(bn) || BN_num_bytes(bn) > 20 ||
	    (BN_num_bytes(bn) == 20 && BN_is_bit_set(bn, 159))) {
		BN_free(bn);
		return NULL;
	}
	ai = BN_to_ASN1_INTEGER(bn, NULL);
	BN_free(bn);
	return ai;
}

int
ca_serial_new(uint8_t out[CA_SERIAL_LEN])
{
	uint8_t b[CA_SERIAL_LEN];
	int r;

	if (out == NULL)
		return KAGI_ERR_INVALID;
	if ((r = kagi_random_bytes(b, sizeof(b))) != 0)
		return r;
	/* Top bit clear (positive), next bit set (no leading zero octet). */
	b[0] = (uint8_t)((b[0] & 0x7f) | 0x40);
	memcpy(out, b, sizeof(b));
	return 0;
}

int
ca_key_check(const EVP_PKEY *pk)
{
	char group[64];
	size_t glen = 0;
	int bits;

	if (pk == NULL)
		return KAGI_ERR_INVALID;
	bits = EVP_PKEY_get_bits(pk);
	if (EVP_PKEY_is_a(pk, "RSA") && !EVP_PKEY_is_a(pk, "RSA-PSS")) {
		BIGNUM *e = NULL;
		int ok;

		if (bits < 2048 || bits > 8192) {
			kagi_log_warn("event=key_refused type=RSA bits=%d "
			    "allowed=2048..8192", bits);
			return KAGI_ERR_INVALID;
		}
		if (!EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e)) {
			ERR_clear_error();
			return KAGI_ERR_INVALID;
		}
		ok = BN_is_odd(e) && BN_num_bits(e) >= 2 &&
		    BN_num_bits(e) <= 256;
		BN_free(e);
		if (!ok) {
			kagi_log_warn("event=key_refused type=RSA bits=%d "
			    "reason=exponent", bits);
			return KAGI_ERR_INVALID;
		}
		return 0;
	}
	if (EVP_PKEY_is_a(pk, "EC") && !EVP_PKEY_is_a(pk, "SM2")) {
		if (!EVP_PKEY_get_utf8_string_param(pk,
		    OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen)) {
			ERR_clear_error();
			kagi_log_warn("event=key_refused type=EC "
			    "curve=explicit-or-unknown bits=%d", bits);
			return KAGI_ERR_INVALID;
		}
		if (strcmp(group, "prime256v1") == 0 ||
		    strcmp(group, "P-256") == 0 ||
		    strcmp(group, "secp384r1") == 0 ||
		    strcmp(group, "P-384") == 0)
			return 0;
		kagi_log_warn("event=key_refused type=EC curve=%s bits=%d "
		    "allowed=P-256,P-384", group, bits);
		return KAGI_ERR_INVALID;
	}
	kagi_log_warn("event=key_refused type=%s bits=%d allowed=RSA,EC",
	    EVP_PKEY_get0_type_name(pk) ? EVP_PKEY_get0_type_name(pk) : "?",
	    bits);
	return KAGI_ERR_INVALID;
}

static const char *const profile_names[] = {
	[CA_PROFILE_ROOT] = "root",
	[CA_PROFILE_ISSUING_CA] = "issuing-ca",
	[CA_PROFILE_STAFF_LOGON] = "staff-logon",
	[CA_PROFILE_TERMINAL] = "terminal",
	[CA_PROFILE_SERVER] = "server",
	[CA_PROFILE_OCSP] = "ocsp",
};

const char *
ca_profile_name(enum ca_profile p)
{
	if ((unsigned)p >= sizeof(profile_names) / sizeof(profile_names[0]))
		return NULL;
	return profile_names[p];
}

int
ca_profile_parse(const char *name, enum ca_profile *out)
{
	size_t i;

	if (out == NULL)
		return KAGI_ERR_INVALID;
	*out = CA_PROFILE_ROOT;
	if (name == NULL)
		return KAGI_ERR_INVALID;
	for (i = 0; i < sizeof(profile_names) / sizeof(profile_names[0]); i++)
		if (strcmp(name, profile_names[i]) == 0) {
			*out = (enum ca_profile)i;
			return 0;
		}
	return KAGI_ERR_INVALID;
}

static const struct {
	int code;
	const char *name;
	const char *desc;
} reasons[] = {
	{ CA_REASON_UNSPECIFIED, "unspecified", N_("unspecified") },
	{ CA_REASON_KEY_COMPROMISE, "keyCompromise", N_("key compromise") },
	{ CA_REASON_CA_COMPROMISE, "cACompromise", N_("CA compromise") },
	{ CA_REASON_AFFILIATION_CHANGED, "affiliationChanged",
	    N_("affiliation changed") },
	{ CA_REASON_SUPERSEDED, "superseded", N_("superseded") },
	{ CA_REASON_CESSATION_OF_OPERATION, "cessationOfOperation",
	    N_("cessation of operation") },
	{ CA_REASON_CERTIFICATE_HOLD, "certificateHold",
	    N_("on hold (suspended)") },
	{ CA_REASON_REMOVE_FROM_CRL, "removeFromCRL",
	    N_("removed from CRL (hold released)") },
	{ CA_REASON_PRIVILEGE_WITHDRAWN, "privilegeWithdrawn",
	    N_("privilege withdrawn") },
	{ CA_REASON_AA_COMPROMISE, "aACompromise",
	    N_("attribute authority compromise") },
};

const char *
ca_reason_name(int reason)
{
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == reason)
			return reasons[i].name;
	return NULL;
}

int
ca_reason_parse(const char *name, int *out)
{
	size_t i;

	if (out == NULL)
		return KAGI_ERR_INVALID;
	*out = 0;
	if (name == NULL)
		return KAGI_ERR_INVALID;
	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (strcasecmp(name, reasons[i].name) == 0) {
			*out = reasons[i].code;
			return 0;
		}
	return KAGI_ERR_INVALID;
}

const char *
ca_reason_describe(int reason)
{
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == reason)
			return _(reasons[i].desc);
	return _("unknown reason");
}

static int
dup_opt(const char *s, char **out)
{
	*out = NULL;
	if (s == NULL || *s == '\0')
		return 0;
	/* URLs go into IA5String fields: printable ASCII, bounded. */
	if (strlen(s) > 1024)
		return KAGI_ERR_INVALID;
	for (const char *p = s; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return KAGI_ERR_INVALID;
	if ((*out = strdup(s)) == NULL)
		return KAGI_ERR_NOMEM;
	return 0;
}

int
ca_issuer_new(X509 *cert, EVP_PKEY *signer, const char *cdp_url,
    const char *ocsp_url, const char *ca_issuers_url, struct ca_issuer **out)
{
	int r = KAGI_ERR_INTERNAL;
	struct ca_issuer *iss = NULL;

	if (out != NULL)
		*out = NULL;
	if (signer == NULL || out == NULL)
		return KAGI_ERR_INVALID;
	if ((iss = calloc(1, sizeof(*iss))) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = dup_opt(cdp_url, &iss->cdp_url)) != 0 ||
	    (r = dup_opt(ocsp_url, &iss->ocsp_url)) != 0 ||
	    (r = dup_opt(ca_issuers_url, &iss->ca_issuers_url)) != 0) {
		kagi_log_err("issuer URL not acceptable");
		goto out;
	}
	if (cert != NULL) {
		EVP_PKEY *cpub = X509_get0_pubkey(cert);

		/* The signer must belong to the certificate. */
		if (cpub == NULL || EVP_PKEY_eq(cpub, signer) != 1) {
			ERR_clear_error();
			kagi_log_err("issuer certificate does not match its key");
			r = KAGI_ERR_INVALID;
			goto out;
		}
		if (X509_get0_subject_key_id(cert) == NULL) {
			kagi_log_err("issuer certificate has no SKI");
			r = KAGI_ERR_INVALID;
			goto out;
		}
		if (!X509_up_ref(cert))
			goto out;
		iss->cert = cert;
	}
	if (!EVP_PKEY_up_ref(signer))
		goto out;
	iss->signer = signer;
	*out = iss;
	iss = NULL;
	r = 0;
out:
	ca_issuer_free(iss);
	return r;
}

void
ca_issuer_free(struct ca_issuer *iss)
{
	if (iss == NULL)
		return;
	X509_free(iss->cert);
	EVP_PKEY_free(iss->signer);
	free(iss->cdp_url);
	free(iss->ocsp_url);
	free(iss->ca_issuers_url);
	free(iss);
}

X509 *
ca_issuer_cert(const struct ca_issuer *iss)
{
	return iss == NULL ? NULL : iss->cert;
}

EVP_MD_CTX *
ca_issuer_sign_ctx(const struct ca_issuer *iss)
{
	EVP_MD_CTX *m = NULL;

	if (iss == NULL || ca_sign_ctx_new(iss->signer, NULL, &m) != 0)
		return NULL;
	return m;
}
