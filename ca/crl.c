/*
 * Complete v2 CRLs (RFC 5280 §5).  Entries are normalised and sorted once
 * in a prepared array (O(n log n)), then appended in order, so 100,000
 * entries take well under the 2 s goal (tests/unit/ca: crl_100k).
 *
 * Hold and release: certificateHold (6) is an ordinary entry; a released
 * hold is simply absent from the next complete CRL.  removeFromCRL (8) only
 * has meaning in delta CRLs, which kagi does not publish, so it is refused.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "kagi/ca.h"
#include "kagi/log.h"

#include "ca_int.h"

struct crl_item {
	const uint8_t *s;    /* serial without leading zero octets */
	size_t len;
	size_t idx;          /* index into the caller's array */
};

static int
item_cmp(const void *a, const void *b)
{
	const struct crl_item *x = a, *y = b;

	/* Positive big-endian integers without leading zeros. */
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->s, y->s, x->len);
}

static int
reason_ok(int reason)
{
	return reason >= CA_REASON_UNSPECIFIED &&
	    reason <= CA_REASON_AA_COMPROMISE && reason != 7 &&
	    reason != CA_REASON_REMOVE_FROM_CRL;
}

static X509_REVOKED *
make_revoked(const struct ca_crl_entry *e)
{
	X509_REVOKED *rev = X509_REVOKED_new();
	ASN1_INTEGER *sn = ca_serial_to_asn1(e->serial, e->serial_len);
	ASN1_TIME *t = ca_time_new(e->revoked_at);
	ASN1_ENUMERATED *rc = NULL;
	int ok = 0;

	if (rev == NULL || sn == NULL || t == NULL ||
	    !X509_REVOKED_set_serialNumber(rev, sn) ||
	    !X509_REVOKED_set_revocationDate(rev, t))
		goto out;
	/* RFC 5280 §5.3.1: omit reasonCode rather than say unspecified. */
	if (e->reason != CA_REASON_UNSPECIFIED) {
		if ((rc = ASN1_ENUMERATED_new()) == NULL ||
		    !ASN1_ENUMERATED_set(rc, e->reason) ||
		    X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, rc, 0,
		    X509V3_ADD_APPEND) != 1)
			goto out;
	}
	ok = 1;
out:
	ASN1_ENUMERATED_free(rc);
	ASN1_TIME_free(t);
	ASN1_INTEGER_free(sn);
	if (!ok) {
		X509_REVOKED_free(rev);
		rev = NULL;
	}
	return rev;
}

int
ca_crl_build(const struct ca_issuer *iss, const struct ca_crl_entry *e,
    size_t n, uint64_t crl_number, int64_t this_update, int64_t next_update,
    X509_CRL **out)
{
	int r = KAGI_ERR_INTERNAL;
	struct crl_item *items = NULL;
	X509_CRL *crl = NULL;
	X509_REVOKED *rev = NULL;
	ASN1_TIME *tu = NULL, *nu = NULL;
	ASN1_INTEGER *num = NULL;
	AUTHORITY_KEYID *aki = NULL;
	EVP_MD_CTX *mctx = NULL;
	const ASN1_OCTET_STRING *skid;
	size_t i;

	if (out != NULL)
		*out = NULL;
	ERR_clear_error();
	if (iss == NULL || iss->cert == NULL || out == NULL ||
	    (e == NULL && n != 0))
		return KAGI_ERR_INVALID;
	if (n > 10u * 1000u * 1000u) {
		kagi_log_err("CRL with %zu entries refused", n);
		return KAGI_ERR_LIMIT;
	}
	if (next_update <= this_update || this_update < 0) {
		kagi_log_err("CRL nextUpdate must follow thisUpdate");
		return KAGI_ERR_INVALID;
	}
	if ((skid = X509_get0_subject_key_id(iss->cert)) == NULL)
		return KAGI_ERR_INVALID;
	if (n > 0 && (items = calloc(n, sizeof(*items))) == NULL)
		return KAGI_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		const uint8_t *s = e[i].serial;
		size_t len = e[i].serial_len;

		if (s == NULL || len == 0 || len > 20 || !reason_ok(e[i].reason) ||
		    e[i].revoked_at < 0) {
			kagi_log_err("CRL entry %zu not acceptable (serial length "
			    "%zu, reason %d)", i, len, e[i].reason);
			r = KAGI_ERR_INVALID;
			goto out;
		}
		while (len > 1 && s[0] == 0) {
			s++;
			len--;
		}
		if (len == 1 && s[0] == 0) {
			kagi_log_err("CRL entry %zu: serial zero", i);
			r = KAGI_ERR_INVALID;
			goto out;
		}
		items[i].s = s;
		items[i].len = len;
		items[i].idx = i;
	}
	if (n > 1)
		qsort(items, n, sizeof(*items), item_cmp);
	for (i = 1; i < n; i++)
		if (item_cmp(&items[i - 1], &items[i]) == 0) {
			kagi_log_err("CRL: duplicate serial (entries %zu and %zu)",
			    items[i - 1].idx, items[i].idx);
			r = KAGI_ERR_INVALID;
			goto out;
		}
	if ((crl = X509_CRL_new()) == NULL ||
	    (tu = ca_time_new(this_update)) == NULL ||
	    (nu = ca_time_new(next_update)) == NULL ||
	    !X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(iss->cert)) ||
	    !X509_CRL_set1_lastUpdate(crl, tu) ||
	    !X509_CRL_set1_nextUpdate(crl, nu))
		goto fail_ossl;
	for (i = 0; i < n; i++) {
		if ((rev = make_revoked(&e[items[i].idx])) == NULL) {
			r = KAGI_ERR_INVALID;
			goto fail_ossl;
		}
		/* Appended in sorted order; X509_CRL_sort is never needed. */
		if (!X509_CRL_add0_revoked(crl, rev))
			goto fail_ossl;
		rev = NULL;
	}
	if ((num = ASN1_INTEGER_new()) == NULL ||
	    !ASN1_INTEGER_set_uint64(num, crl_number) ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0,
	    X509V3_ADD_APPEND) != 1)
		goto fail_ossl;
	if ((aki = AUTHORITY_KEYID_new()) == NULL ||
	    (aki->keyid = ASN1_OCTET_STRING_dup(skid)) == NULL ||
	    X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, aki, 0,
	    X509V3_ADD_APPEND) != 1)
		goto fail_ossl;
	if ((mctx = ca_issuer_sign_ctx(iss)) == NULL) {
		r = KAGI_ERR_HSM;
		goto out;
	}
	if (X509_CRL_sign_ctx(crl, mctx) <= 0) {
		ca_log_ossl("CRL signature");
		r = KAGI_ERR_HSM;
		goto out;
	}
	if (X509_CRL_verify(crl, X509_get0_pubkey(iss->cert)) != 1) {
		ca_log_ossl("signed CRL does not verify");
		r = KAGI_ERR_SIG;
		goto out;
	}
	kagi_log_info("event=crl_signed number=%llu entries=%zu",
	    (unsigned long long)crl_number, n);
	*out = crl;
	crl = NULL;
	r = 0;
	goto out;
fail_ossl:
	ca_log_ossl("CRL build");
out:
	EVP_MD_CTX_free(mctx);
	AUTHORITY_KEYID_free(aki);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(tu);
	ASN1_TIME_free(nu);
	X509_REVOKED_free(rev);
	X509_CRL_free(crl);
	free(items);
	return r;
}
