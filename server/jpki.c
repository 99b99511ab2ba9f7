/*
 * My Number cards (JPKI) as login cards (R-JPKI-1, R-JPKI-3; docs/CARDS.md
 * "My Number cards").
 *
 * A My Number card carries two JPKI certificates: the user-authentication
 * certificate (利用者証明用電子証明書) and the signature certificate
 * (署名用電子証明書).  kagi accepts the authentication certificate at login
 * only when
 *   - it chains, at the time of the login, to a CA in [kagid] jpki_auth_ca
 *     (the JPKI user-authentication CA, configured by the ward), and
 *   - its key usage is digitalSignature without nonRepudiation (the
 *     signature certificate asserts nonRepudiation: it is never used), and
 *   - an operator has bound it to a person and account at the counter
 *     (POST /v1/jpki/bind), and that binding, a card record under the
 *     serial "jpki:" + the certificate's SHA-256 (first 56 hex digits), is
 *     active: lost, returned or destroyed stops it like any staff card.
 * Nothing of the certificate's subject is stored (R-JPKI-3): the card
 * record holds the fingerprint, the audit record the issuer and serial.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "kagi/i18n.h"
#include "kagi/json.h"
#include "kagi/log.h"
#include "kagi/store.h"
#include "kagi/util.h"
#include "ca_service.h"
#include "server_int.h"

#define JPKI_PREFIX "jpki:"
#define JPKI_HEX 56u /* of SHA-256's 64: the serial fits STORE_CARD_SERIAL_MAX */
#define JPKI_CHAIN_MAX 4u

int
kagid_jpki_open(struct kagid *k)
{
	STACK_OF(X509_INFO) *infos = NULL;
	X509_STORE *st = NULL;
	BIO *bio = NULL;
	char *path = NULL;
	int n = 0, r = KAGI_ERR_INTERNAL;

	k->jpki = NULL;
	if (k->conf->jpki_auth_ca == NULL)
		return 0;
	if ((path = kagid_conf_path(k->conf, k->conf->jpki_auth_ca)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((bio = BIO_new_file(path, "r")) == NULL ||
	    (infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL)) == NULL) {
		fprintf(stderr, _("%s: cannot read the JPKI authentication CA "
		    "certificates ([kagid] jpki_auth_ca)\n"), path);
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	if ((st = X509_STORE_new()) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
		X509_INFO *xi = sk_X509_INFO_value(infos, i);

		if (xi->x509 == NULL)
			continue;
		if (X509_STORE_add_cert(st, xi->x509) != 1) {
			r = KAGI_ERR_NOMEM;
			goto out;
		}
		n++;
	}
	if (n == 0) {
		fprintf(stderr, _("%s: no certificate in the JPKI "
		    "authentication CA file ([kagid] jpki_auth_ca)\n"), path);
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	kagi_log_info("event=jpki_ca_loaded file=%s certificates=%d", path, n);
	k->jpki = st;
	st = NULL;
	r = 0;
out:
	X509_STORE_free(st);
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(bio);
	free(path);
	return r;
}

void
kagid_jpki_close(struct kagid *k)
{
	X509_STORE_free(k->jpki);
	k->jpki = NULL;
}

int
kagid_jpki_card_serial(X509 *leaf, char out[KAGID_JPKI_SERIAL_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t off;

	out[0] = '\0';
	if (X509_digest(leaf, EVP_sha256(), md, &mdlen) != 1 || mdlen < 28)
		return KAGI_ERR_INTERNAL;
	memcpy(out, JPKI_PREFIX, strlen(JPKI_PREFIX));
	off = strlen(JPKI_PREFIX);
	for (size_t i = 0; i < JPKI_HEX / 2; i++)
		snprintf(out + off + 2 * i, 3, "%02x", md[i]);
	out[KAGID_JPKI_SERIAL_LEN] = '\0';
	return 0;
}

int
kagid_jpki_classify(struct kagid *k, X509 *leaf, STACK_OF(X509) *untrusted,
    int64_t now, int *outcome, const char **why)
{
	X509_STORE_CTX *ctx = NULL;
	uint32_t ku;
	int r = KAGI_ERR_INTERNAL;

	*outcome = KAGI_ERR_AUTH;
	*why = "card_cert_other_ca";
	if (k->jpki == NULL)
		return 0;
	if ((ctx = X509_STORE_CTX_new()) == NULL ||
	    X509_STORE_CTX_init(ctx, k->jpki, leaf, untrusted) != 1) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx),
	    (time_t)now);
	if (X509_verify_cert(ctx) != 1) {
		int e = X509_STORE_CTX_get_error(ctx);

		kagi_log_info("jpki: chain refused: %s",
		    X509_verify_cert_error_string(e));
		if (e == X509_V_ERR_CERT_HAS_EXPIRED) {
			*outcome = KAGI_ERR_EXPIRED;
			*why = "jpki_cert_expired";
		}
		r = 0;
		goto out;
	}
	/* the signature certificate is never a login certificate */
	ku = X509_get_key_usage(leaf);
	if (ku == UINT32_MAX || !(ku & KU_DIGITAL_SIGNATURE)) {
		*outcome = KAGI_ERR_DENIED;
		*why = "jpki_key_usage";
		r = 0;
		goto out;
	}
	if (ku & KU_NON_REPUDIATION) {
		*outcome = KAGI_ERR_DENIED;
		*why = "jpki_signature_cert";
		r = 0;
		goto out;
	}
	*outcome = 0;
	*why = NULL;
	r = 0;
out:
	X509_STORE_CTX_free(ctx);
	return r;
}

int
kagid_jpki_binding(struct store_txn *t, X509 *leaf, const char *login,
    int *outcome, const char **why)
{
	char serial[KAGID_JPKI_SERIAL_LEN + 1];
	struct store_card c;
	int rc;

	memset(&c, 0, sizeof(c));
	*outcome = KAGI_ERR_AUTH;
	*why = "jpki_not_bound";
	if ((rc = kagid_jpki_card_serial(leaf, serial)) != 0)
		return rc;
	if ((rc = store_card_get(t, serial, &c)) != 0)
		return rc == KAGI_ERR_NOT_FOUND ? 0 : rc;
	if (c.login == NULL || strcmp(c.login, login) != 0) {
		*why = "card_cert_other_account";
	} else if (c.state == STORE_CARD_LOST) {
		*outcome = KAGI_ERR_REVOKED;
		*why = "jpki_card_lost";
	} else if (c.state != STORE_CARD_ACTIVE) {
		*outcome = KAGI_ERR_REVOKED;
		*why = "jpki_card_state";
	} else {
		*outcome = 0;
		*why = NULL;
	}
	store_card_clear(&c);
	return 0;
}

/* ---- POST /v1/jpki/bind {"staff_number","login","certificate","chain"} */

static int
pem_one(const char *pem, X509 **out)
{
	BIO *bio;

	*out = NULL;
	if (pem == NULL || (bio = BIO_new_mem_buf(pem, -1)) == NULL)
		return KAGI_ERR_FORMAT;
	*out = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return *out != NULL ? 0 : KAGI_ERR_FORMAT;
}

static void
bind_refuse(struct kagid_req *r, int rc, const char *field,
    const char *detail)
{
	json_t *o = json_pack("{s:s, s:s}", "error", kagi_err_name(rc),
	    "message", kagi_strerror(rc));

	if (o != NULL && field != NULL)
		json_object_set_new(o, "field", json_string(field));
	if (o != NULL && detail != NULL)
		json_object_set_new(o, "detail", json_string(detail));
	kagid_reply_json(r, kagi_err_http_status(rc), o);
}

static const char *
why_text(const char *why)
{
	if (strcmp(why, "jpki_signature_cert") == 0)
		return N_("this is the card's signature certificate; only the "
		    "user-authentication certificate can be bound");
	if (strcmp(why, "jpki_key_usage") == 0)
		return N_("the certificate's key usage does not allow login");
	if (strcmp(why, "jpki_cert_expired") == 0)
		return N_("the certificate has expired");
	return N_("the certificate is not from the JPKI user-authentication "
	    "CA configured in [kagid] jpki_auth_ca");
}

static void
api_jpki_bind(struct kagid_req *r)
{
	static const char *const keys[] = { "staff_number", "login",
		"certificate", "chain", NULL };
	struct kagid_actor actor;
	struct store_txn *t = NULL;
	struct store_person p;
	struct store_account a;
	struct store_card c, old;
	STACK_OF(X509) *untrusted = NULL;
	X509 *leaf = NULL, *x = NULL;
	json_t *b = NULL, *chain, *v, *d = NULL;
	const char *staff = NULL, *login = NULL, *pem = NULL, *why = NULL,
	    *key;
	char err[256], serial[KAGID_JPKI_SERIAL_LEN + 1], sn[80];
	char *issuer = NULL, *detail = NULL;
	int64_t now = kagi_now();
	int outcome, rc;
	size_t i;

	memset(&p, 0, sizeof(p));
	memset(&a, 0, sizeof(a));
	memset(&c, 0, sizeof(c));
	memset(&old, 0, sizeof(old));
	if (kagid_authz_require(r, "card.enrol", NULL, &actor) != 0)
		return;
	if (r->k->jpki == NULL) {
		bind_refuse(r, KAGI_ERR_UNAVAILABLE, NULL,
		    _("My Number card logins are not configured "
		    "([kagid] jpki_auth_ca)"));
		return;
	}
	if ((rc = kagid_read_json_body(r, KAGID_BODY_REQUIRED, &b, err,
	    sizeof(err))) != 0) {
		bind_refuse(r, rc, NULL, err[0] ? err : NULL);
		return;
	}
	if ((key = kagi_json_unknown_key(b, keys)) != NULL) {
		bind_refuse(r, KAGI_ERR_INVALID, key, _("unknown member"));
		goto out;
	}
	if (kagi_json_get_string(b, "staff_number", 1, 32, &staff) != 0) {
		bind_refuse(r, KAGI_ERR_INVALID, "staff_number", NULL);
		goto out;
	}
	if (kagi_json_get_string(b, "login", 1, 32, &login) != 0 ||
	    !store_login_valid(login)) {
		bind_refuse(r, KAGI_ERR_INVALID, "login", NULL);
		goto out;
	}
	if (kagi_json_get_string(b, "certificate", 1, 16384, &pem) != 0 ||
	    pem_one(pem, &leaf) != 0) {
		bind_refuse(r, KAGI_ERR_FORMAT, "certificate",
		    _("one PEM certificate is expected"));
		goto out;
	}
	if ((untrusted = sk_X509_new_null()) == NULL) {
		kagid_reply_error(r, 0, KAGI_ERR_NOMEM, NULL);
		goto out;
	}
	chain = json_object_get(b, "chain");
	if (chain != NULL && (!json_is_array(chain) ||
	    json_array_size(chain) > JPKI_CHAIN_MAX)) {
		bind_refuse(r, KAGI_ERR_FORMAT, "chain",
		    _("a list of at most 4 PEM certificates is expected"));
		goto out;
	}
	json_array_foreach(chain, i, v) {
		if (pem_one(json_string_value(v), &x) != 0) {
			bind_refuse(r, KAGI_ERR_FORMAT, "chain",
			    _("a list of at most 4 PEM certificates is "
			    "expected"));
			goto out;
		}
		if (!sk_X509_push(untrusted, x)) {
			kagid_reply_error(r, 0, KAGI_ERR_NOMEM, NULL);
			goto out;
		}
		x = NULL;
	}
	if ((rc = kagid_jpki_classify(r->k, leaf, untrusted, now, &outcome,
	    &why)) != 0) {
		kagid_reply_error(r, 0, rc, NULL);
		goto out;
	}
	if (outcome != 0) {
		bind_refuse(r, KAGI_ERR_INVALID, "certificate",
		    _(why_text(why)));
		goto out;
	}
	if ((rc = kagid_jpki_card_serial(leaf, serial)) != 0) {
		kagid_reply_error(r, 0, rc, NULL);
		goto out;
	}
	if ((rc = store_txn_begin(r->k->store, 1, &t)) != 0) {
		kagid_reply_error(r, 0, rc, NULL);
		goto out;
	}
	if ((rc = store_person_get(t, staff, &p)) != 0) {
		bind_refuse(r, rc, "staff_number", rc == KAGI_ERR_NOT_FOUND ?
		    _("no person with this staff number") : NULL);
		goto out;
	}
	if ((rc = store_account_get(t, login, &a)) != 0 ||
	    a.staff_no == NULL || strcmp(a.staff_no, staff) != 0) {
		bind_refuse(r, rc == 0 || rc == KAGI_ERR_NOT_FOUND ?
		    KAGI_ERR_INVALID : rc, "login",
		    _("the account does not belong to this person"));
		goto out;
	}
	if (a.state != STORE_ACCT_ACTIVE) {
		bind_refuse(r, KAGI_ERR_DENIED, "login",
		    _("the account is not active"));
		goto out;
	}
	/* R-CARD-1: one card, one person */
	if ((rc = store_card_get(t, serial, &old)) == 0) {
		bind_refuse(r, KAGI_ERR_EXISTS, "certificate",
		    _("this My Number card is already bound (see kagi card "
		    "show)"));
		goto out;
	}
	if (rc != KAGI_ERR_NOT_FOUND) {
		kagid_reply_error(r, 0, rc, NULL);
		goto out;
	}
	c.serial = serial;
	c.atr = (char *)"";
	c.label = (char *)"JPKI";
	c.manufacturer = (char *)"J-LIS";
	c.model = (char *)"My Number card";
	c.holder = (char *)staff;
	c.login = (char *)login;
	c.holder_category = kagid_card_category(p.employment);
	c.state = STORE_CARD_ACTIVE;
	c.replaces = (char *)"";
	c.replaced_by = (char *)"";
	c.disposal_operator = (char *)"";
	c.disposal_method = (char *)"";
	c.disposal_note = (char *)"";
	c.created = c.updated = now;
	{
		const ASN1_INTEGER *asn = X509_get0_serialNumber(leaf);
		sn[0] = '\0';
		if (asn != NULL && asn->length > 0 &&
		    (size_t)asn->length <= STORE_SERIAL_MAX)
			kagid_serial_hex(asn->data, (size_t)asn->length, sn);
	}
	issuer = X509_NAME_oneline(X509_get_issuer_name(leaf), NULL, 0);
	d = json_pack("{s:s, s:s, s:s, s:s}", "login", login, "issuer",
	    issuer != NULL ? issuer : "", "cert_serial", sn, "kind", "jpki");
	detail = d != NULL ? kagi_json_dump(d) : NULL;
	if (detail == NULL) {
		kagid_reply_error(r, 0, KAGI_ERR_NOMEM, NULL);
		goto out;
	}
	if ((rc = store_card_add(t, &c)) != 0 ||
	    (rc = store_audit_append(t, now, actor.id, "card.jpki_bind",
	    serial, "ok", detail, NULL)) != 0) {
		kagid_reply_error(r, 0, rc, NULL);
		goto out;
	}
	rc = store_txn_commit(t);
	t = NULL;
	if (rc != 0) {
		kagid_reply_error(r, 0, rc, NULL);
		goto out;
	}
	kagi_log_info("event=card.jpki_bind card=%s login=%s", serial, login);
	kagid_reply_json(r, 201, json_pack("{s:s, s:s, s:s, s:s}", "serial",
	    serial, "holder", staff, "login", login, "state", "active"));
out:
	store_txn_abort(t);
	store_person_clear(&p);
	store_account_clear(&a);
	store_card_clear(&old);
	sk_X509_pop_free(untrusted, X509_free);
	X509_free(leaf);
	X509_free(x);
	json_decref(b);
	json_decref(d);
	OPENSSL_free(issuer);
	free(detail);
}

const struct kagid_route kagid_jpki_routes[] = {
	{ "/v1/jpki/bind", "POST", api_jpki_bind, KAGID_TR_API, 0 },
	{ NULL, NULL, NULL, 0, 0 },
};
