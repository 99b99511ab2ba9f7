/*
 * CA endpoints (docs/API.md "CA"):
 *   API (HTTPS + local socket, role-checked through kagid_authz):
 *     POST /v1/ca/issue, POST /v1/ca/revoke, POST /v1/ca/unhold,
 *     GET /v1/ca, GET /v1/ca/certs, GET /v1/ca/certs/<serial>
 *   Public (also on the plain HTTP listener, no identity needed):
 *     GET /crl/issuing.crl, /crl/root.crl (DER), GET /ca/root.crt,
 *     /ca/issuing.crt (DER), POST /ocsp and GET /ocsp/<base64> (RFC 6960
 *     Appendix A).
 * Subject and SANs come from the store (account -> person, device ->
 * terminal record and its zone's OID), never from the CSR.  A certificate
 * and its audit record are written in one transaction; bad input changes
 * nothing (R-INPUT-1..3).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "kagi/ca.h"
#include "kagi/i18n.h"
#include "kagi/json.h"
#include "kagi/log.h"
#include "kagi/policy.h"
#include "kagi/store.h"
#include "kagi/util.h"
#include "ca_service.h"
#include "server_int.h"

#define ISSUE_MAX_SANS 8
#define SERIAL_TRIES 8

/* ---- request helpers ---- */

/* Refuse unknown members: a typo must not silently change what happens. */
static int
only_keys(const json_t *o, const char *const *allowed, char *err,
    size_t errlen)
{
	const char *key = kagi_json_unknown_key(o, allowed);

	if (key == NULL)
		return 0;
	snprintf(err, errlen, "unknown member '%.64s'", key);
	return KAGI_ERR_INVALID;
}

static int
need_ca(struct kagid_req *r)
{
	if (r->k->ca != NULL)
		return 1;
	kagid_reply_error(r, 503, KAGI_ERR_UNAVAILABLE, "the CA is not loaded");
	return 0;
}

/* An array of up to max strings, each <= maxlen. */
static int
str_array(const json_t *o, const char *key, const char **out, size_t max,
    size_t *n, char *err, size_t errlen)
{
	json_t *a = json_object_get(o, key), *v;
	size_t i;

	*n = 0;
	if (a == NULL)
		return 0;
	if (!json_is_array(a) || json_array_size(a) > max) {
		snprintf(err, errlen, "'%s' must be an array of at most %zu "
		    "strings", key, max);
		return KAGI_ERR_INVALID;
	}
	json_array_foreach(a, i, v) {
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > 253) {
			snprintf(err, errlen, "'%s' must hold non-empty strings",
			    key);
			return KAGI_ERR_INVALID;
		}
		out[i] = json_string_value(v);
	}
	*n = json_array_size(a);
	return 0;
}

static int64_t
x509_not_after(X509 *x)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

static char *
pem_of(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data = NULL, *s = NULL;
	long n;

	if (b != NULL && PEM_write_bio_X509(b, x) == 1 &&
	    (n = BIO_get_mem_data(b, &data)) > 0)
		s = strndup(data, (size_t)n);
	BIO_free(b);
	return s;
}

static const char *
csr_error_text(int rc)
{
	switch (rc) {
	case KAGI_ERR_LIMIT:
		return N_("the CSR is too large (at most 16 KiB)");
	case KAGI_ERR_TRAILING:
		return N_("the CSR has data after its end");
	case KAGI_ERR_INVALID:
		return N_("the CSR's key type or size is not allowed (RSA 2048 "
		    "bits or more, or EC P-256/P-384)");
	case KAGI_ERR_SIG:
		return N_("the CSR's signature does not verify (no proof of "
		    "possession)");
	default:
		return N_("the CSR is not a PKCS#10 request in PEM or DER");
	}
}

/* ---- POST /v1/ca/issue ---- */

static const char *const issue_keys[] = { "profile", "csr", "account",
	"device", "dns", "ip", NULL };

static void
api_ca_issue(struct kagid_req *r)
{
	struct kagid *k = r->k;
	struct kagid_ca *ca = k->ca;
	struct kagid_actor actor;
	struct store_txn *t = NULL;
	struct store_account acct;
	struct store_person person;
	struct store_terminal term;
	struct store_cert rec, probe;
	struct ca_request rq;
	enum ca_profile prof;
	json_t *body = NULL, *resp = NULL;
	const char *profile = NULL, *csr = NULL, *account = NULL;
	const char *device = NULL, *dns[ISSUE_MAX_SANS], *ips[ISSUE_MAX_SANS];
	const char *detail = NULL, *holder = "";
	size_t n_dns = 0, n_ips = 0;
	EVP_PKEY *pub = NULL;
	X509 *x = NULL;
	uint8_t serial[CA_SERIAL_LEN];
	unsigned flags = 0;
	char err[256], hex[2 * STORE_SERIAL_MAX + 1], nabuf[64];
	char *pem = NULL, *adetail = NULL, *event = NULL;
	int64_t now = kagi_now(), ina;
	int rc, status = 0;

	memset(&acct, 0, sizeof(acct));
	memset(&person, 0, sizeof(person));
	memset(&term, 0, sizeof(term));
	memset(&rec, 0, sizeof(rec));
	memset(&probe, 0, sizeof(probe));
	memset(&rq, 0, sizeof(rq));
	err[0] = '\0';
	if (kagid_authz_require(r, "cert.issue", NULL, &actor) != 0)
		return;
	if (!need_ca(r))
		return;
	if ((rc = kagid_read_json_body(r, KAGID_BODY_REQUIRED, &body, err,
	    sizeof(err))) != 0 ||
	    (rc = only_keys(body, issue_keys, err, sizeof(err))) != 0)
		goto fail;
	if ((rc = kagi_json_get_string(body, "profile", 1, 32, &profile)) != 0) {
		detail = "'profile' is required";
		goto fail;
	}
	if ((rc = kagi_json_get_string(body, "csr", 1, 64 * 1024, &csr)) != 0) {
		detail = "'csr' (PEM text) is required";
		goto fail;
	}
	if ((rc = kagi_json_get_string(body, "account", 0, 64,
	    &account)) != 0 ||
	    (rc = kagi_json_get_string(body, "device", 0, 64, &device)) != 0 ||
	    (rc = str_array(body, "dns", dns, ISSUE_MAX_SANS, &n_dns, err,
	    sizeof(err))) != 0 ||
	    (rc = str_array(body, "ip", ips, ISSUE_MAX_SANS, &n_ips, err,
	    sizeof(err))) != 0)
		goto fail;
	if (ca_profile_parse(profile, &prof) != 0 || prof == CA_PROFILE_ROOT ||
	    prof == CA_PROFILE_ISSUING_CA) {
		rc = KAGI_ERR_INVALID;
		detail = N_("unknown profile (staff-logon, terminal, server or "
		    "ocsp)");
		goto fail;
	}
	/* who the certificate is for: exactly what the profile takes */
	rc = KAGI_ERR_INVALID;
	if (prof == CA_PROFILE_STAFF_LOGON && (account == NULL ||
	    device != NULL || n_dns || n_ips)) {
		detail = N_("profile staff-logon needs an account and nothing "
		    "else");
		goto fail;
	}
	if (prof == CA_PROFILE_TERMINAL && (device == NULL || account != NULL ||
	    n_dns || n_ips)) {
		detail = N_("profile terminal needs a device and nothing else "
		    "(its DNS names come from the terminal record)");
		goto fail;
	}
	if (prof == CA_PROFILE_SERVER && (account != NULL || device != NULL ||
	    n_dns + n_ips == 0)) {
		detail = N_("profile server needs DNS names or IP addresses");
		goto fail;
	}
	if (prof == CA_PROFILE_OCSP && (account != NULL || device != NULL ||
	    n_dns || n_ips)) {
		detail = N_("profile ocsp takes no holder");
		goto fail;
	}
	/* the CSR: size, format, key allowlist, proof of possession */
	if ((rc = ca_csr_parse((const uint8_t *)csr, strlen(csr), &pub,
	    &flags)) != 0) {
		detail = csr_error_text(rc);
		kagi_log_warn("event=csr_refused err=%s peer=%s",
		    kagi_err_name(rc), r->peer);
		goto fail;
	}
	/*
	 * A member of the pending group commit (docs/ARCHITECTURE.md "Group
	 * commit"): atomic on its own, durable with its batch; the answer
	 * waits for that (kagid_gc_defer).
	 */
	if ((rc = store_batch_join(k->store, &t)) != 0)
		goto fail;
	rq.profile = prof;
	rq.pubkey = pub;
	rq.org = ca->org;
	if (prof == CA_PROFILE_STAFF_LOGON) {
		if ((rc = store_account_get(t, account, &acct)) != 0) {
			if (rc == KAGI_ERR_NOT_FOUND || rc == KAGI_ERR_INVALID) {
				rc = KAGI_ERR_NOT_FOUND;
				detail = N_("unknown account");
			}
			goto fail;
		}
		if (acct.state != STORE_ACCT_ACTIVE) {
			rc = KAGI_ERR_DENIED;
			detail = N_("the account is not active (disabled, "
			    "suspended or deleted)");
			goto fail;
		}
		if (acct.staff_no == NULL || acct.staff_no[0] == '\0') {
			rc = KAGI_ERR_INVALID;
			detail = N_("the account belongs to no person (staff "
			    "number)");
			goto fail;
		}
		if ((rc = store_person_get(t, acct.staff_no, &person)) != 0) {
			if (rc == KAGI_ERR_NOT_FOUND)
				detail = N_("the account's person is not in "
				    "the store");
			goto fail;
		}
		rq.name = person.name;
		rq.section = person.section != NULL && person.section[0] ?
		    person.section : NULL;
		rq.staff_no = person.staff_no;
		rq.upn_suffix = ca->upn_suffix;
		holder = acct.login;
	} else if (prof == CA_PROFILE_TERMINAL) {
		const struct policy_zone *z;
		if ((rc = store_terminal_get(t, device, &term)) != 0) {
			if (rc == KAGI_ERR_NOT_FOUND || rc == KAGI_ERR_INVALID) {
				rc = KAGI_ERR_NOT_FOUND;
				detail = N_("unknown device");
			}
			goto fail;
		}
		if (term.state != STORE_TERM_ACTIVE) {
			rc = KAGI_ERR_DENIED;
			detail = N_("the terminal is revoked");
			goto fail;
		}
		if ((z = policy_zone_find(k->policy, term.zone)) == NULL ||
		    z->policy_oid[0] == '\0') {
			rc = KAGI_ERR_INVALID;
			detail = N_("the terminal's zone is not in the policy");
			goto fail;
		}
		rq.name = term.device_id;
		rq.device_id = term.device_id;
		rq.zone_oid = z->policy_oid;
		rq.dns = (const char *const *)term.dns;
		rq.n_dns = term.n_dns;
		holder = term.device_id;
	} else if (prof == CA_PROFILE_SERVER) {
		rq.name = n_dns > 0 ? dns[0] : ips[0];
		rq.dns = dns;
		rq.n_dns = n_dns;
		rq.ips = ips;
		rq.n_ips = n_ips;
	} else {
		rq.name = "kagi OCSP Responder";
	}
	rq.not_before = now - 60;
	rq.not_after = now + ca->validity[prof];
	ina = x509_not_after(ca->issuing);
	if (rq.not_after > ina)
		rq.not_after = ina;
	/* a fresh serial, unique in the store */
	for (int i = 0; ; i++) {
		if (i == SERIAL_TRIES) {
			rc = KAGI_ERR_INTERNAL;
			goto fail;
		}
		if ((rc = ca_serial_new(serial)) != 0)
			goto fail;
		rc = store_cert_get(t, serial, sizeof(serial), &probe);
		store_cert_clear(&probe);
		if (rc == KAGI_ERR_NOT_FOUND)
			break;
		if (rc != 0)
			goto fail;
		kagi_log_warn("event=serial_collision");
	}
	rq.serial = serial;
	rq.serial_len = sizeof(serial);
	if ((rc = ca_cert_issue(ca->iss, &rq, &x)) != 0) {
		if (rc == KAGI_ERR_INVALID)
			detail = N_("the store holds a value that cannot go "
			    "into a certificate (name, section, DNS name)");
		goto fail;
	}
	{
		/* the record, as the certificate says */
		const ASN1_INTEGER *ai = X509_get0_serialNumber(x);
		unsigned char *der = NULL;
		int n;
		memcpy(rec.serial, ai->data, (size_t)ai->length);
		rec.serial_len = (size_t)ai->length;
		if ((rec.profile = strdup(ca_profile_name(prof))) == NULL ||
		    (rec.holder = strdup(holder)) == NULL) {
			rc = KAGI_ERR_NOMEM;
			goto fail;
		}
		{
			BIO *b = BIO_new(BIO_s_mem());
			char *data = NULL;
			long bl;
			if (b != NULL && X509_NAME_print_ex(b,
			    X509_get_subject_name(x), 0, XN_FLAG_RFC2253 &
			    ~ASN1_STRFLGS_ESC_MSB) >= 0 &&
			    (bl = BIO_get_mem_data(b, &data)) >= 0)
				rec.subject = strndup(data ? data : "",
				    (size_t)bl > 1000 ? 1000 : (size_t)bl);
			BIO_free(b);
			if (rec.subject == NULL) {
				rc = KAGI_ERR_NOMEM;
				goto fail;
			}
		}
		rec.state = STORE_CERT_ACTIVE;
		rec.not_before = rq.not_before;
		rec.not_after = rq.not_after;
		rec.issued_at = now;
		if ((n = i2d_X509(x, &der)) <= 0) {
			rc = KAGI_ERR_INTERNAL;
			goto fail;
		}
		rec.der = malloc((size_t)n);
		if (rec.der != NULL)
			memcpy(rec.der, der, (size_t)n);
		rec.der_len = (size_t)n;
		OPENSSL_free(der);
		if (rec.der == NULL) {
			rc = KAGI_ERR_NOMEM;
			goto fail;
		}
	}
	kagid_serial_hex(rec.serial, rec.serial_len, hex);
	{
		json_t *d = json_pack("{s:s, s:s, s:s, s:b}", "profile",
		    rec.profile, "holder", rec.holder, "subject", rec.subject,
		    "csr_extensions_ignored",
		    (flags & CA_CSR_HAD_EXTENSIONS) != 0);
		adetail = d != NULL ? kagi_json_dump(d) : NULL;
		json_decref(d);
		if (adetail == NULL) {
			rc = KAGI_ERR_NOMEM;
			goto fail;
		}
	}
	if ((rc = store_cert_add(t, &rec)) != 0)
		goto fail;
	if (prof == CA_PROFILE_TERMINAL) {
		memcpy(term.cert_serial, rec.serial, rec.serial_len);
		term.cert_serial_len = rec.serial_len;
		term.updated = now;
		if ((rc = store_terminal_put(t, &term)) != 0)
			goto fail;
	}
	if ((rc = store_audit_append(t, now, actor.id, "ca.issue", hex, "ok",
	    adetail, NULL)) != 0)
		goto fail;
	/* the answer is ready before the record joins the batch */
	if ((pem = pem_of(x)) == NULL ||
	    kagi_time_format_utc(rec.not_after, nabuf, sizeof(nabuf)) != 0) {
		rc = KAGI_ERR_NOMEM;
		goto fail;
	}
	resp = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "serial", hex,
	    "profile", rec.profile, "holder", rec.holder, "subject",
	    rec.subject, "not_after", nabuf, "pem", pem);
	if (resp == NULL) {
		rc = KAGI_ERR_NOMEM;
		goto fail;
	}
	if (flags & CA_CSR_HAD_EXTENSIONS)
		json_object_set_new(resp, "warning", json_string(
		    N_("the CSR asked for extensions; they were ignored")));
	{
		char ev[256];
		snprintf(ev, sizeof(ev), "event=ca.issue serial=%s profile=%s "
		    "holder=%.64s", hex, rec.profile, rec.holder);
		event = strdup(ev);
	}
	rc = store_txn_commit(t);
	t = NULL;
	if (rc != 0)
		goto fail;
	/* answered (201 or an error) once the batch is durable */
	kagid_gc_defer(r, 201, resp, event);
	resp = NULL;
	event = NULL;
	goto out;
fail:
	if (rc == 0)
		rc = KAGI_ERR_INTERNAL;
	kagid_reply_error(r, status, rc, detail != NULL ? detail :
	    err[0] ? err : NULL);
out:
	store_txn_abort(t);
	store_account_clear(&acct);
	store_person_clear(&person);
	store_terminal_clear(&term);
	store_cert_clear(&rec);
	json_decref(body);
	EVP_PKEY_free(pub);
	X509_free(x);
	free(pem);
	free(adetail);
	free(event);
	json_decref(resp);
}

/* ---- POST /v1/ca/revoke, /v1/ca/unhold ---- */

static const char *const revoke_keys[] = { "serial", "reason", NULL };
static const char *const unhold_keys[] = { "serial", NULL };

static void
reply_cert(struct kagid_req *r, int status, const uint8_t *serial,
    size_t len)
{
	struct store_txn *t = NULL;
	struct store_cert c;
	int rc;

	memset(&c, 0, sizeof(c));
	if ((rc = store_txn_begin(r->k->store, 0, &t)) == 0)
		rc = store_cert_get(t, serial, len, &c);
	store_txn_abort(t);
	if (rc != 0) {
		kagid_reply_error(r, 0, rc, NULL);
		return;
	}
	kagid_reply_json(r, status, kagid_cert_json(&c, 0));
	store_cert_clear(&c);
}

static void
api_ca_revoke(struct kagid_req *r)
{
	struct kagid_actor actor;
	struct store_txn *t = NULL;
	json_t *body = NULL;
	const char *ser = NULL, *rs = NULL, *detail = NULL;
	uint8_t serial[STORE_SERIAL_MAX];
	size_t sl = 0;
	int reason = 0, rc;
	char err[256];

	err[0] = '\0';
	if (kagid_authz_require(r, "cert.revoke", NULL, &actor) != 0)
		return;
	if (!need_ca(r))
		return;
	if ((rc = kagid_read_json_body(r, KAGID_BODY_REQUIRED, &body, err,
	    sizeof(err))) != 0 ||
	    (rc = only_keys(body, revoke_keys, err, sizeof(err))) != 0)
		goto fail;
	if (kagi_json_get_string(body, "serial", 1, 64, &ser) != 0 ||
	    kagid_serial_parse(ser, serial, &sl) != 0) {
		rc = KAGI_ERR_INVALID;
		detail = N_("'serial' must be the certificate's serial number "
		    "in hex");
		goto fail;
	}
	if (kagi_json_get_string(body, "reason", 1, 64, &rs) != 0 ||
	    ca_reason_parse(rs, &reason) != 0 ||
	    reason == CA_REASON_REMOVE_FROM_CRL) {
		rc = KAGI_ERR_INVALID;
		detail = N_("'reason' must be an RFC 5280 reason name such as "
		    "keyCompromise, affiliationChanged, superseded, "
		    "cessationOfOperation, certificateHold or "
		    "privilegeWithdrawn");
		goto fail;
	}
	if ((rc = store_txn_begin(r->k->store, 1, &t)) != 0)
		goto fail;
	rc = kagid_ca_revoke_txn(r->k, t, serial, sl, reason, kagi_now(),
	    actor.id);
	if (rc == KAGI_ERR_NOT_FOUND)
		detail = N_("no certificate with this serial number");
	else if (rc == KAGI_ERR_REVOKED)
		detail = N_("the certificate is already revoked (or already "
		    "on hold); nothing was changed");
	else if (rc == KAGI_ERR_DENIED)
		detail = N_("CA certificates are not revoked here");
	if (rc != 0)
		goto fail;
	rc = store_txn_commit(t);
	t = NULL;
	if (rc != 0)
		goto fail;
	kagid_ca_changed(r->k);
	json_decref(body);
	reply_cert(r, 200, serial, sl);
	return;
fail:
	store_txn_abort(t);
	json_decref(body);
	kagid_reply_error(r, 0, rc, detail != NULL ? detail :
	    err[0] ? err : NULL);
}

static void
api_ca_unhold(struct kagid_req *r)
{
	struct kagid_actor actor;
	struct store_txn *t = NULL;
	struct store_cert c;
	json_t *body = NULL;
	const char *ser = NULL, *detail = NULL;
	uint8_t serial[STORE_SERIAL_MAX];
	size_t sl = 0;
	char err[256], hex[2 * STORE_SERIAL_MAX + 1];
	int rc;

	memset(&c, 0, sizeof(c));
	err[0] = '\0';
	if (kagid_authz_require(r, "cert.revoke", NULL, &actor) != 0)
		return;
	if (!need_ca(r))
		return;
	if ((rc = kagid_read_json_body(r, KAGID_BODY_REQUIRED, &body, err,
	    sizeof(err))) != 0 ||
	    (rc = only_keys(body, unhold_keys, err, sizeof(err))) != 0)
		goto fail;
	if (kagi_json_get_string(body, "serial", 1, 64, &ser) != 0 ||
	    kagid_serial_parse(ser, serial, &sl) != 0) {
		rc = KAGI_ERR_INVALID;
		detail = N_("'serial' must be the certificate's serial number "
		    "in hex");
		goto fail;
	}
	if ((rc = store_txn_begin(r->k->store, 1, &t)) != 0)
		goto fail;
	if ((rc = store_cert_get(t, serial, sl, &c)) != 0) {
		if (rc == KAGI_ERR_NOT_FOUND)
			detail = N_("no certificate with this serial number");
		goto fail;
	}
	if (c.state != STORE_CERT_HOLD) {
		rc = KAGI_ERR_INVALID;
		detail = N_("the certificate is not on hold; nothing was "
		    "changed");
		goto fail;
	}
	c.state = STORE_CERT_ACTIVE;
	c.reason = 0;
	c.revoked_at = 0;
	kagid_serial_hex(c.serial, c.serial_len, hex);
	if ((rc = store_cert_put(t, &c)) != 0 ||
	    (rc = store_audit_append(t, kagi_now(), actor.id, "ca.unhold",
	    hex, "ok", "", NULL)) != 0)
		goto fail;
	rc = store_txn_commit(t);
	t = NULL;
	if (rc != 0)
		goto fail;
	kagi_log_info("event=ca.unhold serial=%s", hex);
	kagid_ca_changed(r->k);
	store_cert_clear(&c);
	json_decref(body);
	reply_cert(r, 200, serial, sl);
	return;
fail:
	store_txn_abort(t);
	store_cert_clear(&c);
	json_decref(body);
	kagid_reply_error(r, 0, rc, detail != NULL ? detail :
	    err[0] ? err : NULL);
}

/* ---- GET /v1/ca/certs[?holder=&state=&profile=], /v1/ca/certs/<serial> */

struct list_ctx {
	json_t *a;
	const char *state;
	const char *profile;
	int err;
};

static int
list_cb(const struct store_cert *c, void *arg)
{
	struct list_ctx *x = arg;
	static const char *const st[] = { "active", "hold", "revoked" };

	if (x->state != NULL && (c->state >= 3 ||
	    strcmp(st[c->state], x->state) != 0))
		return 0;
	if (x->profile != NULL && strcmp(c->profile, x->profile) != 0)
		return 0;
	if (json_array_append_new(x->a, kagid_cert_json(c, 0)) != 0) {
		x->err = KAGI_ERR_NOMEM;
		return KAGI_ERR_NOMEM;
	}
	return 0;
}

static void
api_ca_certs(struct kagid_req *r)
{
	struct kagid_actor actor;
	struct evkeyvalq q;
	struct evkeyval *kv;
	struct store_txn *t = NULL;
	struct list_ctx x;
	const char *holder = NULL;
	int rc = 0;

	if (kagid_authz_require(r, "cert.list", NULL, &actor) != 0)
		return;
	memset(&x, 0, sizeof(x));
	TAILQ_INIT(&q);
	if (r->query != NULL && evhttp_parse_query_str(r->query, &q) != 0) {
		kagid_reply_error(r, 400, KAGI_ERR_FORMAT, "query string");
		return;
	}
	TAILQ_FOREACH(kv, &q, next) {
		if (strcmp(kv->key, "holder") == 0)
			holder = kv->value;
		else if (strcmp(kv->key, "state") == 0 &&
		    (strcmp(kv->value, "active") == 0 ||
		    strcmp(kv->value, "hold") == 0 ||
		    strcmp(kv->value, "revoked") == 0))
			x.state = kv->value;
		else if (strcmp(kv->key, "profile") == 0)
			x.profile = kv->value;
		else {
			rc = KAGI_ERR_INVALID;
			break;
		}
	}
	if (rc != 0 || (holder != NULL && strlen(holder) > STORE_HOLDER_MAX)) {
		evhttp_clear_headers(&q);
		kagid_reply_error(r, 400, KAGI_ERR_INVALID,
		    "query: holder=X, state=active|hold|revoked, profile=P");
		return;
	}
	if ((x.a = json_array()) == NULL) {
		rc = KAGI_ERR_NOMEM;
		goto out;
	}
	if ((rc = store_txn_begin(r->k->store, 0, &t)) != 0)
		goto out;
	rc = holder != NULL ? store_cert_iter_holder(t, holder, list_cb, &x) :
	    store_cert_iter(t, list_cb, &x);
out:
	store_txn_abort(t);
	evhttp_clear_headers(&q);
	if (rc != 0) {
		json_decref(x.a);
		kagid_reply_error(r, 0, rc, NULL);
		return;
	}
	kagid_reply_json(r, 200, json_pack("{s:o}", "certs", x.a));
}

static void
api_ca_cert_one(struct kagid_req *r)
{
	struct kagid_actor actor;
	struct store_txn *t = NULL;
	struct store_cert c;
	uint8_t serial[STORE_SERIAL_MAX];
	size_t sl = 0;
	int rc;

	if (kagid_authz_require(r, "cert.list", NULL, &actor) != 0)
		return;
	memset(&c, 0, sizeof(c));
	if (kagid_serial_parse(r->subpath, serial, &sl) != 0) {
		kagid_reply_error(r, 400, KAGI_ERR_INVALID,
		    N_("'serial' must be the certificate's serial number in "
		    "hex"));
		return;
	}
	if ((rc = store_txn_begin(r->k->store, 0, &t)) == 0)
		rc = store_cert_get(t, serial, sl, &c);
	store_txn_abort(t);
	if (rc != 0) {
		kagid_reply_error(r, 0, rc, rc == KAGI_ERR_NOT_FOUND ?
		    N_("no certificate with this serial number") : NULL);
		return;
	}
	kagid_reply_json(r, 200, kagid_cert_json(&c, 1));
	store_cert_clear(&c);
}

/* ---- GET /v1/ca ---- */

static json_t *
ca_cert_info(X509 *x)
{
	char fp[96], nb[64], na[64], hex[2 * STORE_SERIAL_MAX + 1];
	char *subj = NULL;
	BIO *b = BIO_new(BIO_s_mem());
	char *data = NULL;
	long n;
	struct tm tm;
	int64_t tnb = 0, tna = 0;
	const ASN1_INTEGER *ai = X509_get0_serialNumber(x);
	json_t *o = NULL;

	if (b != NULL && X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
	    XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0 &&
	    (n = BIO_get_mem_data(b, &data)) >= 0)
		subj = strndup(data ? data : "", (size_t)n);
	BIO_free(b);
	memset(&tm, 0, sizeof(tm));
	if (ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm) == 1)
		tnb = (int64_t)timegm(&tm);
	memset(&tm, 0, sizeof(tm));
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
		tna = (int64_t)timegm(&tm);
	kagid_serial_hex(ai->data, (size_t)ai->length, hex);
	if (subj != NULL && kagid_cert_sha256(x, fp) == 0 &&
	    kagi_time_format_utc(tnb, nb, sizeof(nb)) == 0 &&
	    kagi_time_format_utc(tna, na, sizeof(na)) == 0)
		o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "subject", subj,
		    "serial", hex, "sha256", fp, "not_before", nb,
		    "not_after", na);
	free(subj);
	return o;
}

static json_t *
crl_info(const struct kagid_ca_crl *c, const char *url)
{
	char tu[64], nu[64];

	if (kagi_time_format_utc(c->this_update, tu, sizeof(tu)) != 0 ||
	    kagi_time_format_utc(c->next_update, nu, sizeof(nu)) != 0)
		return NULL;
	return json_pack("{s:I, s:I, s:s, s:s, s:s}", "number",
	    (json_int_t)c->number, "entries", (json_int_t)c->entries,
	    "this_update", tu, "next_update", nu, "url", url);
}

static void
api_ca_show(struct kagid_req *r)
{
	struct kagid_actor actor;
	struct kagid_ca *ca = r->k->ca;
	char u1[600], u2[600], u3[600];
	size_t entries = 0;
	uint64_t hits = 0, misses = 0;

	if (kagid_authz_require(r, "cert.list", NULL, &actor) != 0)
		return;
	if (!need_ca(r))
		return;
	snprintf(u1, sizeof(u1), "%s/crl/issuing.crl", ca->base_url);
	snprintf(u2, sizeof(u2), "%s/crl/root.crl", ca->base_url);
	snprintf(u3, sizeof(u3), "%s/ocsp", ca->base_url);
	ca_ocsp_cache_stats(ca->cache, &entries, &hits, &misses);
	kagid_reply_json(r, 200, json_pack("{s:o, s:o, s:o, s:{s:o, s:o},"
	    " s:{s:s, s:I, s:I, s:I}}",
	    "root", ca_cert_info(ca->root),
	    "issuing", ca_cert_info(ca->issuing),
	    "ocsp_signer", ca_cert_info(ca->ocsp),
	    "crl", "issuing", crl_info(&ca->crl[KAGID_CA_ISSUING], u1),
	    "root", crl_info(&ca->crl[KAGID_CA_ROOT], u2),
	    "ocsp", "url", u3, "cache_entries", (json_int_t)entries,
	    "cache_hits", (json_int_t)hits, "cache_misses",
	    (json_int_t)misses));
}

/* ---- public: CRLs, CA certificates, OCSP ---- */

static void
pub_crl(struct kagid_req *r)
{
	struct kagid_ca *ca = r->k->ca;
	const struct kagid_ca_crl *c;

	if (!need_ca(r))
		return;
	c = &ca->crl[strcmp(r->path, "/crl/root.crl") == 0 ? KAGID_CA_ROOT :
	    KAGID_CA_ISSUING];
	if (c->der == NULL) {
		kagid_reply_error(r, 503, KAGI_ERR_UNAVAILABLE, NULL);
		return;
	}
	kagid_reply_text(r, 200, "application/pkix-crl", (const char *)c->der,
	    c->len);
}

static void
pub_cacert(struct kagid_req *r)
{
	struct kagid_ca *ca = r->k->ca;
	int root;

	if (!need_ca(r))
		return;
	root = strcmp(r->path, "/ca/root.crt") == 0;
	kagid_reply_text(r, 200, "application/pkix-cert",
	    (const char *)(root ? ca->root_der : ca->iss_der),
	    root ? ca->root_der_len : ca->iss_der_len);
}

static int
ocsp_lookup(const uint8_t *serial, size_t len, struct ca_ocsp_status *st,
    void *arg)
{
	struct kagid *k = arg;
	struct store_txn *t = NULL;
	struct store_cert c;
	int rc;

	memset(&c, 0, sizeof(c));
	memset(st, 0, sizeof(*st));
	if ((rc = store_txn_begin(k->store, 0, &t)) != 0)
		return rc;
	rc = store_cert_get(t, serial, len, &c);
	store_txn_abort(t);
	if (rc == KAGI_ERR_NOT_FOUND || rc == KAGI_ERR_INVALID) {
		st->status = CA_OCSP_UNKNOWN;
		return 0;
	}
	if (rc != 0)
		return rc;
	/* CA certificates are not issued by the issuing CA */
	if (strcmp(c.profile, "root") == 0 ||
	    strcmp(c.profile, "issuing-ca") == 0)
		st->status = CA_OCSP_UNKNOWN;
	else if (c.state == STORE_CERT_ACTIVE)
		st->status = CA_OCSP_GOOD;
	else {
		st->status = CA_OCSP_REVOKED;
		st->revoked_at = c.revoked_at;
		st->reason = c.state == STORE_CERT_HOLD ?
		    CA_REASON_CERTIFICATE_HOLD : c.reason;
	}
	store_cert_clear(&c);
	return 0;
}

static void
ocsp_answer(struct kagid_req *r, const uint8_t *der, size_t len)
{
	struct kagid_ca *ca = r->k->ca;
	uint8_t *resp = NULL;
	size_t rlen = 0;
	int rc;

	ca->ocsp_requests++;
	rc = ca_ocsp_respond(ca->resp, ca->cache, der, len, ocsp_lookup, r->k,
	    kagi_now(), &resp, &rlen);
	if (rc != 0) {
		kagi_log_warn("event=ocsp_error err=%s peer=%s",
		    kagi_err_name(rc), r->peer);
		if (ca_ocsp_error_response(rc, &resp, &rlen) != 0) {
			kagid_reply_error(r, 500, KAGI_ERR_INTERNAL, NULL);
			return;
		}
	}
	kagid_reply_text(r, 200, "application/ocsp-response",
	    (const char *)resp, rlen);
	free(resp);
}

/* An unsigned error response without parsing anything (RFC 6960 2.3). */
static void
ocsp_error(struct kagid_req *r, int err)
{
	uint8_t *resp = NULL;
	size_t rlen = 0;

	kagi_log_warn("event=ocsp_error err=%s peer=%s", kagi_err_name(err),
	    r->peer);
	if (ca_ocsp_error_response(err, &resp, &rlen) != 0) {
		kagid_reply_error(r, 500, KAGI_ERR_INTERNAL, NULL);
		return;
	}
	kagid_reply_text(r, 200, "application/ocsp-response",
	    (const char *)resp, rlen);
	free(resp);
}

static void
pub_ocsp_post(struct kagid_req *r)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	size_t n = in != NULL ? evbuffer_get_length(in) : 0;
	uint8_t *buf = NULL;

	if (!need_ca(r))
		return;
	if (n == 0 || n > CA_OCSP_MAX_REQUEST) {
		/* malformedRequest without reading a byte more */
		ocsp_error(r, n == 0 ? KAGI_ERR_FORMAT : KAGI_ERR_LIMIT);
		return;
	}
	/* the body where evhttp put it (copied only if it spans chains) */
	if ((buf = evbuffer_pullup(in, (ev_ssize_t)n)) == NULL) {
		kagid_reply_error(r, 500, KAGI_ERR_INTERNAL, NULL);
		return;
	}
	ocsp_answer(r, buf, n);
}

/* GET /ocsp/<url-encoded base64 of the DER request> (RFC 6960 A.1) */
static void
pub_ocsp_get(struct kagid_req *r)
{
	char *dec = NULL;
	size_t n = 0, i, pad = 0;
	unsigned char *der = NULL;
	char *b64 = NULL;
	int dl;

	if (!need_ca(r))
		return;
	if ((dec = evhttp_uridecode(r->subpath, 0, &n)) == NULL) {
		kagid_reply_error(r, 500, KAGI_ERR_NOMEM, NULL);
		return;
	}
	/* accept the standard and the URL-safe alphabet, padded or not */
	if (n == 0 || n > 2 * CA_OCSP_MAX_REQUEST ||
	    (b64 = malloc(n + 4)) == NULL)
		goto malformed;
	for (i = 0; i < n; i++) {
		char ch = dec[i];
		if (ch == '-')
			ch = '+';
		else if (ch == '_')
			ch = '/';
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '+' || ch == '/' ||
		    ch == '='))
			goto malformed;
		b64[i] = ch;
	}
	while (n % 4 != 0)
		b64[n++] = '=';
	b64[n] = '\0';
	for (i = n; i > 0 && b64[i - 1] == '='; i--)
		pad++;
	if (pad > 2 || (der = malloc(n / 4 * 3 + 1)) == NULL)
		goto malformed;
	if ((dl = EVP_DecodeBlock(der, (unsigned char *)b64, (int)n)) < 0 ||
	    (size_t)dl < pad)
		goto malformed;
	ocsp_answer(r, der, (size_t)dl - pad);
	goto out;
malformed:
	ocsp_error(r, KAGI_ERR_FORMAT);
out:
	free(dec);
	free(b64);
	free(der);
}

const struct kagid_route kagid_ca_routes[] = {
	{ "/v1/ca", "GET", api_ca_show, KAGID_TR_API, 0 },
	{ "/v1/ca/issue", "POST", api_ca_issue, KAGID_TR_API, 0 },
	{ "/v1/ca/revoke", "POST", api_ca_revoke, KAGID_TR_API, 0 },
	{ "/v1/ca/unhold", "POST", api_ca_unhold, KAGID_TR_API, 0 },
	{ "/v1/ca/certs", "GET", api_ca_certs, KAGID_TR_API, 0 },
	{ "/v1/ca/certs/", "GET", api_ca_cert_one, KAGID_TR_API, 1 },
	{ "/crl/issuing.crl", "GET", pub_crl, KAGID_TR_ALL, 0 },
	{ "/crl/root.crl", "GET", pub_crl, KAGID_TR_ALL, 0 },
	{ "/ca/root.crt", "GET", pub_cacert, KAGID_TR_ALL, 0 },
	{ "/ca/issuing.crt", "GET", pub_cacert, KAGID_TR_ALL, 0 },
	{ "/ocsp", "POST", pub_ocsp_post, KAGID_TR_ALL, 0 },
	{ "/ocsp/", "GET", pub_ocsp_get, KAGID_TR_ALL, 1 },
	{ NULL, NULL, NULL, 0, 0 },
};
