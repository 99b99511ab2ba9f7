/*
 * Smart cards at the counter (docs/API.md "Cards", docs/CARDS.md;
 * R-CARD-1, R-CARD-4..7, R-CARD-9, R-PRIV-8):
 *   GET  /v1/cards[?holder=STAFF&state=S], GET /v1/cards/<serial>
 *   POST /v1/cards/check {"serial","staff_number"}
 *   POST /v1/cards/enrol {"staff_number","login","card":{...},"csr",
 *        "replaces"}
 *   POST /v1/cards/<serial>/activate | lost | found | return | destroy
 *   POST /v1/cards/<serial>/pin-unblock/approve, /pin-unblock
 * Every state change, the certificate changes it causes (issue, hold,
 * release, revoke: through the CA service as api_ca.c does) and their audit
 * records are written in one transaction; a refusal changes nothing.
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

#define CARD_SERIAL_TRIES 8
#define CARD_APPROVAL_LIFETIME 600 /* R-PRIV-8: 10 minutes */

/* ---- helpers ---- */

static int
card_only_keys(const json_t *o, const char *const *allowed, char *err,
    size_t errlen)
{
	const char *key = kagi_json_unknown_key(o, allowed);

	if (key == NULL)
		return 0;
	snprintf(err, errlen, "unknown member '%.64s'", key);
	return KAGI_ERR_INVALID;
}

static json_t *
time_json(int64_t t)
{
	char b[64];

	if (t == 0 || kagi_time_format_utc(t, b, sizeof(b)) != 0)
		return json_null();
	return json_string(b);
}

static json_t *
str_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

static json_t *
card_json(const struct store_card *c)
{
	json_t *o = NULL, *certs = json_array(), *disp = NULL;
	char hex[2 * STORE_SERIAL_MAX + 1];

	if (certs == NULL)
		return NULL;
	for (uint32_t i = 0; i < c->n_certs; i++) {
		kagid_serial_hex(c->certs[i], c->cert_len[i], hex);
		json_array_append_new(certs, json_string(hex));
	}
	if (c->disposal_time != 0)
		disp = json_pack("{s:o, s:s, s:s, s:s}", "time",
		    time_json(c->disposal_time), "operator",
		    c->disposal_operator, "method", c->disposal_method, "note",
		    c->disposal_note);
	o = json_pack("{s:s, s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o,"
	    " s:o, s:o, s:o, s:o, s:o, s:b}",
	    "serial", c->serial, "atr", str_or_null(c->atr),
	    "label", c->label, "manufacturer", c->manufacturer,
	    "model", c->model, "holder", c->holder, "login", c->login,
	    "holder_category", store_card_category_name(c->holder_category),
	    "state", store_card_state_name(c->state), "certs", certs,
	    "created", time_json(c->created), "updated", time_json(c->updated),
	    "replaces", str_or_null(c->replaces),
	    "replaced_by", str_or_null(c->replaced_by),
	    "disposal", disp != NULL ? disp : json_null(),
	    "case_open", c->case_open != 0);
	return o;
}

/* R-CARD-9: the holder category from the person's employment type. */
uint8_t
kagid_card_category(const char *employment)
{
	static const struct {
		const char *emp;
		uint8_t cat;
	} map[] = {
		{ "temporary", STORE_CARD_CAT_TEMPORARY },
		{ "part-time", STORE_CARD_CAT_TEMPORARY },
		{ "dispatched", STORE_CARD_CAT_CONTRACTOR },
		{ "contractor", STORE_CARD_CAT_CONTRACTOR },
		{ "other", STORE_CARD_CAT_VISITOR },
		{ "visitor", STORE_CARD_CAT_VISITOR },
	};

	for (size_t i = 0; employment != NULL &&
	    i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(employment, map[i].emp) == 0)
			return map[i].cat;
	return STORE_CARD_CAT_STAFF;
}

/* Who an operator is, for "approver != requester" (R-PRIV-8). */
static const char *
actor_ident(const struct kagid_actor *a)
{
	return a->login[0] != '\0' ? a->login : a->id;
}

static int
need_ca(struct kagid_req *r)
{
	if (r->k->ca != NULL)
		return 1;
	kagid_reply_error(r, 503, KAGI_ERR_UNAVAILABLE, "the CA is not loaded");
	return 0;
}

static char *
dump_or_empty(json_t *d)
{
	char *s = d != NULL ? kagi_json_dump(d) : NULL;

	json_decref(d);
	return s;
}

/*
 * Revoke (reason) or hold every certificate of c that is still valid
 * (active, or on hold when revoking), inside t; *changed counts them.
 */
static int
certs_revoke(struct kagid *k, struct store_txn *t,
    const struct store_card *c, int reason, int64_t now, const char *actor,
    int *changed)
{
	int hold = reason == CA_REASON_CERTIFICATE_HOLD;

	for (uint32_t i = 0; i < c->n_certs; i++) {
		struct store_cert sc;
		int rc;

		memset(&sc, 0, sizeof(sc));
		rc = store_cert_get(t, c->certs[i], c->cert_len[i], &sc);
		if (rc == KAGI_ERR_NOT_FOUND)
			continue;
		if (rc != 0)
			return rc;
		rc = 0;
		if (sc.state == STORE_CERT_ACTIVE ||
		    (!hold && sc.state == STORE_CERT_HOLD)) {
			rc = kagid_ca_revoke_txn(k, t, c->certs[i],
			    c->cert_len[i], reason, now, actor);
			if (rc == 0)
				(*changed)++;
		}
		store_cert_clear(&sc);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Release the hold on every held certificate of c (as POST /v1/ca/unhold). */
static int
certs_unhold(struct store_txn *t, const struct store_card *c, int64_t now,
    const char *actor, int *changed)
{
	char hex[2 * STORE_SERIAL_MAX + 1];

	for (uint32_t i = 0; i < c->n_certs; i++) {
		struct store_cert sc;
		int rc;

		memset(&sc, 0, sizeof(sc));
		rc = store_cert_get(t, c->certs[i], c->cert_len[i], &sc);
		if (rc == KAGI_ERR_NOT_FOUND)
			continue;
		if (rc != 0)
			return rc;
		if (sc.state == STORE_CERT_HOLD) {
			sc.state = STORE_CERT_ACTIVE;
			sc.reason = 0;
			sc.revoked_at = 0;
			kagid_serial_hex(sc.serial, sc.serial_len, hex);
			if ((rc = store_cert_put(t, &sc)) == 0 &&
			    (rc = store_audit_append(t, now, actor, "ca.unhold",
			    hex, "ok", "", NULL)) == 0) {
				kagi_log_info("event=ca.unhold serial=%s", hex);
				(*changed)++;
			}
		}
		store_cert_clear(&sc);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int
set_str(char **dst, const char *s)
{
	char *d = strdup(s != NULL ? s : "");

	if (d == NULL)
		return KAGI_ERR_NOMEM;
	free(*dst);
	*dst = d;
	return 0;
}

/* ---- GET /v1/cards, /v1/cards/<serial> ---- */

struct list_ctx {
	json_t *a;
	int state;   /* -1: any */
};

static int
list_cb(const struct store_card *c, void *arg)
{
	struct list_ctx *x = arg;
	json_t *o;

	if (x->state >= 0 && c->state != x->state)
		return 0;
	if ((o = card_json(c)) == NULL)
		return KAGI_ERR_NOMEM;
	return json_array_append_new(x->a, o) == 0 ? 0 : KAGI_ERR_NOMEM;
}

static void
api_card_list(struct kagid_req *r)
{
	struct kagid_actor actor;
	struct evkeyvalq q;
	struct evkeyval *kv;
	struct store_txn *t = NULL;
	struct list_ctx x;
	const char *holder = NULL;
	uint8_t st = 0;
	int rc = 0;

	if (kagid_authz_require(r, "card.list", NULL, &actor) != 0)
		return;
	memset(&x, 0, sizeof(x));
	x.state = -1;
	TAILQ_INIT(&q);
	if (r->query != NULL && evhttp_parse_query_str(r->query, &q) != 0) {
		kagid_reply_error(r, 400, KAGI_ERR_FORMAT, "query string");
		return;
	}
	TAILQ_FOREACH(kv, &q, next) {
		if (strcmp(kv->key, "holder") == 0 &&
		    store_staff_no_valid(kv->value))
			holder = kv->value;
		else if (strcmp(kv->key, "state") == 0 &&
		    store_card_state_parse(kv->value, &st) == 0)
			x.state = st;
		else {
			rc = KAGI_ERR_INVALID;
			break;
		}
	}
	if (rc != 0) {
		evhttp_clear_headers(&q);
		kagid_reply_error(r, 400, KAGI_ERR_INVALID,
		    N_("query: holder=STAFF_NUMBER, state=pending|active|lost|"
		    "replaced|returned|destroyed"));
		return;
	}
	if ((x.a = json_array()) == NULL) {
		rc = KAGI_ERR_NOMEM;
		goto out;
	}
	if ((rc = store_txn_begin(r->k->store, 0, &t)) != 0)
		goto out;
	rc = store_card_iter(t, holder, list_cb, &x);
out:
	store_txn_abort(t);
	evhttp_clear_headers(&q);
	if (rc != 0) {
		json_decref(x.a);
		kagid_reply_error(r, 0, rc, NULL);
		return;
	}
	kagid_reply_json(r, 200, json_pack("{s:o}", "cards", x.a));
}

static void
api_card_one(struct kagid_req *r)
{
	struct kagid_actor actor;
	struct store_txn *t = NULL;
	struct store_card c;
	json_t *o;
	int rc;

	memset(&c, 0, sizeof(c));
	if (kagid_authz_require(r, "card.show", r->subpath, &actor) != 0)
		return;
	if (!store_card_serial_valid(r->subpath)) {
		kagid_reply_error(r, 404, KAGI_ERR_NOT_FOUND,
		    N_("no card with this serial number"));
		return;
	}
	if ((rc = store_txn_begin(r->k->store, 0, &t)) == 0)
		rc = store_card_get(t, r->subpath, &c);
	store_txn_abort(t);
	if (rc != 0) {
		kagid_reply_error(r, 0, rc, rc == KAGI_ERR_NOT_FOUND ?
		    N_("no card with this serial number") : NULL);
		return;
	}
	o = card_json(&c);
	store_card_clear(&c);
	if (o == NULL) {
		kagid_reply_error(r, 0, KAGI_ERR_NOMEM, NULL);
		return;
	}
	kagid_reply_json(r, 200, o);
}

/* ---- R-CARD-1 ---- */

/*
 * May card `serial` (record c, or NULL if there is none) be enrolled for
 * staff_no?  0, or KAGI_ERR_CONFLICT with *detail.
 */
static int
bind_check(const struct store_card *c, const char *staff_no,
    const char **detail)
{
	*detail = NULL;
	if (c == NULL || c->state == STORE_CARD_RETURNED)
		return 0;
	if (c->state == STORE_CARD_DESTROYED) {
		*detail = N_("this card was recorded as destroyed; it cannot be "
		    "enrolled again");
		return KAGI_ERR_CONFLICT;
	}
	if (strcmp(c->holder, staff_no) != 0) {
		*detail = N_("this card is bound to another person and has not "
		    "been returned (R-CARD-1); nothing was changed");
		return KAGI_ERR_CONFLICT;
	}
	if (c->state != STORE_CARD_PENDING) {
		*detail = N_("this card is already enrolled for this person");
		return KAGI_ERR_CONFLICT;
	}
	return 0;
}

static const char *const check_keys[] = { "serial", "staff_number", NULL };

static void
api_card_check(struct kagid_req *r)
{
	struct kagid_actor actor;
	struct store_txn *t = NULL;
	struct store_card c;
	json_t *body = NULL;
	const char *serial = NULL, *sno = NULL, *detail = NULL;
	char err[256];
	int rc;

	memset(&c, 0, sizeof(c));
	if (kagid_authz_require(r, "card.enrol", NULL, &actor) != 0)
		return;
	if ((rc = kagid_read_json_body(r, KAGID_BODY_REQUIRED, &body, err,
	    sizeof(err))) != 0 ||
	    (rc = card_only_keys(body, check_keys, err, sizeof(err))) != 0)
		goto fail;
	if (kagi_json_get_string(body, "serial", 1, STORE_CARD_SERIAL_MAX,
	    &serial) != 0 || !store_card_serial_valid(serial)) {
		rc = KAGI_ERR_INVALID;
		detail = N_("'serial' must be the card's serial number "
		    "(letters, digits, . _ : -)");
		goto fail;
	}
	if (kagi_json_get_string(body, "staff_number", 1, 32, &sno) != 0 ||
	    !store_staff_no_valid(sno)) {
		rc = KAGI_ERR_INVALID;
		detail = N_("'staff_number' is required");
		goto fail;
	}
	if ((rc = store_txn_begin(r->k->store, 0, &t)) != 0)
		goto fail;
	rc = store_card_get(t, serial, &c);
	store_txn_abort(t);
	t = NULL;
	if (rc != 0 && rc != KAGI_ERR_NOT_FOUND)
		goto fail;
	if ((rc = bind_check(rc == 0 ? &c : NULL, sno, &detail)) != 0)
		goto fail;
	kagid_reply_json(r, 200, json_pack("{s:b}", "free", 1));
	goto out;
fail:
	kagid_reply_error(r, 0, rc, detail != NULL ? detail : err[0] ? err :
	    NULL);
out:
	store_card_clear(&c);
	json_decref(body);
}

/* ---- POST /v1/cards/enrol ---- */

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

static int64_t
x509_not_after(X509 *x)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
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

/*
 * Issue a staff-logon certificate for acct/person from pub inside t (as
 * POST /v1/ca/issue does, "ca.issue" audit record included): *x and *rec.
 */
static int
issue_staff_logon(struct kagid *k, struct store_txn *t, EVP_PKEY *pub,
    const struct store_account *acct, const struct store_person *person,
    int64_t now, const char *actor, X509 **xout, struct store_cert *rec,
    const char **detail)
{
	struct kagid_ca *ca = k->ca;
	struct ca_request rq;
	struct store_cert probe;
	uint8_t serial[CA_SERIAL_LEN];
	char hex[2 * STORE_SERIAL_MAX + 1], *adetail = NULL;
	X509 *x = NULL;
	int64_t ina;
	int rc;

	memset(&rq, 0, sizeof(rq));
	memset(&probe, 0, sizeof(probe));
	*xout = NULL;
	rq.profile = CA_PROFILE_STAFF_LOGON;
	rq.pubkey = pub;
	rq.org = ca->org;
	rq.name = person->name;
	rq.section = person->section != NULL && person->section[0] ?
	    person->section : NULL;
	rq.staff_no = person->staff_no;
	rq.upn_suffix = ca->upn_suffix;
	rq.not_before = now - 60;
	rq.not_after = now + ca->validity[CA_PROFILE_STAFF_LOGON];
	ina = x509_not_after(ca->issuing);
	if (rq.not_after > ina)
		rq.not_after = ina;
	for (int i = 0; ; i++) {
		if (i == CARD_SERIAL_TRIES)
			return KAGI_ERR_INTERNAL;
		if ((rc = ca_serial_new(serial)) != 0)
			return rc;
		rc = store_cert_get(t, serial, sizeof(serial), &probe);
		store_cert_clear(&probe);
		if (rc == KAGI_ERR_NOT_FOUND)
			break;
		if (rc != 0)
			return rc;
		kagi_log_warn("event=serial_collision");
	}
	rq.serial = serial;
	rq.serial_len = sizeof(serial);
	if ((rc = ca_cert_issue(ca->iss, &rq, &x)) != 0) {
		if (rc == KAGI_ERR_INVALID)
			*detail = N_("the store holds a value that cannot go "
			    "into a certificate (name, section, DNS name)");
		return rc;
	}
	{
		const ASN1_INTEGER *ai = X509_get0_serialNumber(x);
		unsigned char *der = NULL;
		BIO *b = NULL;
		char *data = NULL;
		long bl;
		int n;

		memcpy(rec->serial, ai->data, (size_t)ai->length);
		rec->serial_len = (size_t)ai->length;
		rc = KAGI_ERR_NOMEM;
		if ((rec->profile = strdup("staff-logon")) == NULL ||
		    (rec->holder = strdup(acct->login)) == NULL)
			goto out;
		if ((b = BIO_new(BIO_s_mem())) != NULL &&
		    X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
		    XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0 &&
		    (bl = BIO_get_mem_data(b, &data)) >= 0)
			rec->subject = strndup(data ? data : "",
			    (size_t)bl > 1000 ? 1000 : (size_t)bl);
		BIO_free(b);
		if (rec->subject == NULL)
			goto out;
		rec->state = STORE_CERT_ACTIVE;
		rec->not_before = rq.not_before;
		rec->not_after = rq.not_after;
		rec->issued_at = now;
		if ((n = i2d_X509(x, &der)) <= 0) {
			rc = KAGI_ERR_INTERNAL;
			goto out;
		}
		if ((rec->der = malloc((size_t)n)) != NULL)
			memcpy(rec->der, der, (size_t)n);
		rec->der_len = (size_t)n;
		OPENSSL_free(der);
		if (rec->der == NULL)
			goto out;
	}
	kagid_serial_hex(rec->serial, rec->serial_len, hex);
	if ((adetail = dump_or_empty(json_pack("{s:s, s:s, s:s, s:b}",
	    "profile", rec->profile, "holder", rec->holder, "subject",
	    rec->subject, "csr_extensions_ignored", 0))) == NULL)
		goto out;
	if ((rc = store_cert_add(t, rec)) != 0 ||
	    (rc = store_audit_append(t, now, actor, "ca.issue", hex, "ok",
	    adetail, NULL)) != 0)
		goto out;
	*xout = x;
	x = NULL;
	rc = 0;
out:
	free(adetail);
	X509_free(x);
	return rc;
}

static const char *const enrol_keys[] = { "staff_number", "login", "card",
	"csr", "replaces", NULL };
static const char *const enrol_card_keys[] = { "serial", "atr", "label",
	"manufacturer", "model", NULL };

static void
api_card_enrol(struct kagid_req *r)
{
	struct kagid *k = r->k;
	struct kagid_actor actor;
	struct store_txn *t = NULL;
	struct store_account acct;
	struct store_person person;
	struct store_card c, old;
	struct store_cert rec;
	json_t *body = NULL, *cj, *resp = NULL, *cardo = NULL;
	const char *sno = NULL, *login = NULL, *csr = NULL, *replaces = NULL;
	const char *serial = NULL, *atr = NULL, *label = NULL, *manuf = NULL;
	const char *model = NULL, *detail = NULL;
	EVP_PKEY *pub = NULL;
	X509 *x = NULL;
	unsigned flags = 0;
	char err[256], hex[2 * STORE_SERIAL_MAX + 1], atrlc[2 *
	    STORE_CARD_ATR_MAX + 1];
	char *pem = NULL, *ipem = NULL, *rpem = NULL, *adetail = NULL;
	int64_t now = kagi_now();
	int rc, existed = 0, changed = 0;

	memset(&acct, 0, sizeof(acct));
	memset(&person, 0, sizeof(person));
	memset(&c, 0, sizeof(c));
	memset(&old, 0, sizeof(old));
	memset(&rec, 0, sizeof(rec));
	err[0] = '\0';
	if (kagid_authz_require(r, "card.enrol", NULL, &actor) != 0)
		return;
	if (!need_ca(r))
		return;
	if ((rc = kagid_read_json_body(r, KAGID_BODY_REQUIRED, &body, err,
	    sizeof(err))) != 0 ||
	    (rc = card_only_keys(body, enrol_keys, err, sizeof(err))) != 0)
		goto fail;
	rc = KAGI_ERR_INVALID;
	if (kagi_json_get_string(body, "staff_number", 1, 32, &sno) != 0 ||
	    !store_staff_no_valid(sno)) {
		detail = N_("'staff_number' is required");
		goto fail;
	}
	if (kagi_json_get_string(body, "login", 1, 32, &login) != 0 ||
	    !store_login_valid(login)) {
		detail = N_("'login' (the account the certificate is for) is "
		    "required");
		goto fail;
	}
	if (kagi_json_get_string(body, "csr", 1, 64 * 1024, &csr) != 0) {
		detail = N_("'csr' (PEM text, signed by the card's key) is "
		    "required");
		goto fail;
	}
	if (kagi_json_get_string(body, "replaces", 0, STORE_CARD_SERIAL_MAX,
	    &replaces) != 0 || (replaces != NULL &&
	    !store_card_serial_valid(replaces))) {
		detail = N_("'replaces' must be the old card's serial number");
		goto fail;
	}
	cj = json_object_get(body, "card");
	if (!json_is_object(cj)) {
		detail = N_("'card' (serial, atr, label, manufacturer, model) "
		    "is required");
		goto fail;
	}
	if ((rc = card_only_keys(cj, enrol_card_keys, err, sizeof(err))) != 0)
		goto fail;
	rc = KAGI_ERR_INVALID;
	if (kagi_json_get_string(cj, "serial", 1, STORE_CARD_SERIAL_MAX,
	    &serial) != 0 || !store_card_serial_valid(serial)) {
		detail = N_("'serial' must be the card's serial number "
		    "(letters, digits, . _ : -)");
		goto fail;
	}
	if ((json_object_get(cj, "atr") != NULL &&
	    !json_is_null(json_object_get(cj, "atr")) &&
	    kagi_json_get_string(cj, "atr", 0, 2 * STORE_CARD_ATR_MAX,
	    &atr) != 0) ||
	    kagi_json_get_string(cj, "label", 0, STORE_CARD_TEXT_MAX,
	    &label) != 0 ||
	    kagi_json_get_string(cj, "manufacturer", 0, STORE_CARD_TEXT_MAX,
	    &manuf) != 0 ||
	    kagi_json_get_string(cj, "model", 0, STORE_CARD_TEXT_MAX,
	    &model) != 0) {
		detail = N_("the card's atr (hex), label, manufacturer and "
		    "model must be short strings");
		goto fail;
	}
	atrlc[0] = '\0';
	if (atr != NULL) {
		size_t i, n = strlen(atr);
		for (i = 0; i < n; i++)
			atrlc[i] = (char)(atr[i] >= 'A' && atr[i] <= 'F' ?
			    atr[i] + ('a' - 'A') : atr[i]);
		atrlc[n] = '\0';
	}
	if (replaces != NULL && strcmp(replaces, serial) == 0) {
		detail = N_("a card cannot replace itself");
		goto fail;
	}
	if ((rc = ca_csr_parse((const uint8_t *)csr, strlen(csr), &pub,
	    &flags)) != 0) {
		detail = csr_error_text(rc);
		kagi_log_warn("event=csr_refused err=%s peer=%s",
		    kagi_err_name(rc), r->peer);
		goto fail;
	}
	if ((rc = store_txn_begin(k->store, 1, &t)) != 0)
		goto fail;
	/* the person and the account: the checks of POST /v1/ca/issue */
	if ((rc = store_person_get(t, sno, &person)) != 0) {
		if (rc == KAGI_ERR_NOT_FOUND)
			detail = N_("unknown staff number");
		goto fail;
	}
	if ((rc = store_account_get(t, login, &acct)) != 0) {
		if (rc == KAGI_ERR_NOT_FOUND)
			detail = N_("unknown account");
		goto fail;
	}
	if (acct.state != STORE_ACCT_ACTIVE) {
		rc = KAGI_ERR_DENIED;
		detail = N_("the account is not active (disabled, suspended "
		    "or deleted)");
		goto fail;
	}
	if (acct.staff_no == NULL || strcmp(acct.staff_no, sno) != 0) {
		rc = KAGI_ERR_INVALID;
		detail = N_("the account does not belong to this staff number");
		goto fail;
	}
	/* R-CARD-1 */
	rc = store_card_get(t, serial, &c);
	if (rc != 0 && rc != KAGI_ERR_NOT_FOUND)
		goto fail;
	existed = rc == 0;
	if ((rc = bind_check(existed ? &c : NULL, sno, &detail)) != 0) {
		kagi_log_warn("event=card.enrol_refused card=%s staff_no=%s",
		    serial, sno);
		goto fail;
	}
	if (replaces != NULL) {
		if ((rc = store_card_get(t, replaces, &old)) != 0) {
			if (rc == KAGI_ERR_NOT_FOUND)
				detail = N_("the card to replace is not known");
			goto fail;
		}
		if (strcmp(old.holder, sno) != 0 ||
		    (old.state != STORE_CARD_ACTIVE &&
		    old.state != STORE_CARD_LOST)) {
			rc = KAGI_ERR_INVALID;
			detail = N_("the card to replace must be this person's "
			    "active or lost card");
			goto fail;
		}
	}
	/* a retry: the earlier pending certificate must not stay usable */
	if (existed && c.state == STORE_CARD_PENDING) {
		if ((rc = certs_revoke(k, t, &c, CA_REASON_SUPERSEDED, now,
		    actor.id, &changed)) != 0)
			goto fail;
	} else {
		/* a new record (or a returned card handed out again) */
		int64_t created = now;
		store_card_clear(&c);
		c.created = created;
		if ((rc = set_str(&c.serial, serial)) != 0 ||
		    (rc = set_str(&c.replaced_by, "")) != 0 ||
		    (rc = set_str(&c.disposal_operator, "")) != 0 ||
		    (rc = set_str(&c.disposal_method, "")) != 0 ||
		    (rc = set_str(&c.disposal_note, "")) != 0)
			goto fail;
	}
	if ((rc = set_str(&c.atr, atrlc)) != 0 ||
	    (rc = set_str(&c.label, label)) != 0 ||
	    (rc = set_str(&c.manufacturer, manuf)) != 0 ||
	    (rc = set_str(&c.model, model)) != 0 ||
	    (rc = set_str(&c.holder, sno)) != 0 ||
	    (rc = set_str(&c.login, login)) != 0 ||
	    (rc = set_str(&c.replaces, replaces)) != 0)
		goto fail;
	c.holder_category = kagid_card_category(person.employment);
	c.state = STORE_CARD_PENDING;
	c.case_open = 0;
	c.updated = now;
	if ((rc = issue_staff_logon(k, t, pub, &acct, &person, now, actor.id,
	    &x, &rec, &detail)) != 0)
		goto fail;
	if (c.n_certs == STORE_CARD_CERTS_MAX) {
		/* keep the newest: the oldest are revoked by now */
		memmove(c.certs[0], c.certs[1], (STORE_CARD_CERTS_MAX - 1) *
		    sizeof(c.certs[0]));
		memmove(&c.cert_len[0], &c.cert_len[1],
		    (STORE_CARD_CERTS_MAX - 1) * sizeof(c.cert_len[0]));
		c.n_certs--;
	}
	memcpy(c.certs[c.n_certs], rec.serial, rec.serial_len);
	c.cert_len[c.n_certs] = rec.serial_len;
	c.n_certs++;
	kagid_serial_hex(rec.serial, rec.serial_len, hex);
	if ((rc = store_card_put(t, &c)) != 0) {
		if (rc == KAGI_ERR_INVALID || rc == KAGI_ERR_LIMIT)
			detail = N_("the card's atr must be hex; label, "
			    "manufacturer and model at most 64 bytes");
		goto fail;
	}
	if ((adetail = dump_or_empty(json_pack("{s:s, s:s, s:s, s:s, s:s?,"
	    " s:b, s:s}", "holder", sno, "login", login, "cert", hex,
	    "holder_category", store_card_category_name(c.holder_category),
	    "replaces", replaces, "retry", existed, "label", c.label))) ==
	    NULL) {
		rc = KAGI_ERR_NOMEM;
		goto fail;
	}
	if ((rc = store_audit_append(t, now, actor.id, "card.enrol", serial,
	    "ok", adetail, NULL)) != 0)
		goto fail;
	rc = KAGI_ERR_NOMEM;
	if ((pem = pem_of(x)) == NULL || (ipem = pem_of(k->ca->issuing)) ==
	    NULL || (rpem = pem_of(k->ca->root)) == NULL ||
	    (cardo = card_json(&c)) == NULL)
		goto fail;
	rc = store_txn_commit(t);
	t = NULL;
	if (rc != 0)
		goto fail;
	kagi_log_info("event=card.enrol card=%s holder=%s cert=%s", serial,
	    sno, hex);
	if (changed)
		kagid_ca_changed(k);
	resp = json_pack("{s:o, s:s, s:[s, s]}", "card", cardo,
	    "certificate", pem, "chain", ipem, rpem);
	cardo = NULL;
	if (resp == NULL) {
		kagid_reply_error(r, 0, KAGI_ERR_NOMEM, NULL);
		goto out;
	}
	kagid_reply_json(r, 201, resp);
	goto out;
fail:
	store_txn_abort(t);
	t = NULL;
	if (rc == 0)
		rc = KAGI_ERR_INTERNAL;
	kagid_reply_error(r, 0, rc, detail != NULL ? detail : err[0] ? err :
	    NULL);
out:
	store_txn_abort(t);
	store_account_clear(&acct);
	store_person_clear(&person);
	store_card_clear(&c);
	store_card_clear(&old);
	store_cert_clear(&rec);
	json_decref(body);
	json_decref(cardo);
	EVP_PKEY_free(pub);
	X509_free(x);
	free(pem);
	free(ipem);
	free(rpem);
	free(adetail);
}

/* ---- POST /v1/cards/<serial>/<op> ---- */

enum card_op {
	OP_ACTIVATE = 0,
	OP_LOST,
	OP_FOUND,
	OP_RETURN,
	OP_DESTROY,
	OP_APPROVE,
	OP_PIN_UNBLOCK,
};

static const struct {
	const char *name;    /* path segment(s) after the serial */
	const char *action;  /* [roles] action and audit action */
	const char *audit;
	const char *const keys[3];
} ops[] = {
	[OP_ACTIVATE] = { "activate", "card.enrol", "card.activate",
	    { NULL } },
	[OP_LOST] = { "lost", "card.lost", "card.lost", { "note", NULL } },
	[OP_FOUND] = { "found", "card.found", "card.found", { NULL } },
	[OP_RETURN] = { "return", "card.return", "card.return",
	    { "note", NULL } },
	[OP_DESTROY] = { "destroy", "card.destroy", "card.destroy",
	    { "method", "note", NULL } },
	[OP_APPROVE] = { "pin-unblock/approve", "card.approve",
	    "card.pin_unblock.approve", { NULL } },
	[OP_PIN_UNBLOCK] = { "pin-unblock", "card.pin_unblock",
	    "card.pin_unblock", { "approval_id", NULL } },
};
#define N_OPS (sizeof(ops) / sizeof(ops[0]))

static const char *
not_from_text(enum card_op op)
{
	switch (op) {
	case OP_ACTIVATE:
		return N_("only a pending card can be activated; nothing was "
		    "changed");
	case OP_LOST:
		return N_("only an active card can be reported lost; nothing "
		    "was changed");
	case OP_FOUND:
		return N_("the card is not lost; nothing was changed");
	case OP_RETURN:
		return N_("the card is already returned or destroyed; nothing "
		    "was changed");
	case OP_DESTROY:
		return N_("the card is already destroyed; nothing was "
		    "changed");
	default:
		return N_("the card is not in use (returned, destroyed or "
		    "replaced); nothing was changed");
	}
}

static int
op_allowed(enum card_op op, uint8_t st)
{
	switch (op) {
	case OP_ACTIVATE:
		return st == STORE_CARD_PENDING;
	case OP_LOST:
		return st == STORE_CARD_ACTIVE;
	case OP_FOUND:
		return st == STORE_CARD_LOST;
	case OP_RETURN:
		return st != STORE_CARD_DESTROYED &&
		    st != STORE_CARD_RETURNED;
	case OP_DESTROY:
		return st != STORE_CARD_DESTROYED;
	default:
		return st == STORE_CARD_ACTIVE || st == STORE_CARD_PENDING ||
		    st == STORE_CARD_LOST;
	}
}

/* The approval record for OP_APPROVE (201 {"approval_id","expires"}). */
static int
do_approve(struct store_txn *t, const struct store_card *c,
    const struct kagid_actor *actor, int64_t now, json_t **resp)
{
	struct store_card_approval a;
	uint8_t b[STORE_LOGIN_ID_LEN / 2];
	char *det = NULL;
	int rc;

	memset(&a, 0, sizeof(a));
	if ((rc = kagi_random_bytes(b, sizeof(b))) != 0)
		return rc;
	kagi_hex_encode(b, sizeof(b), a.id);
	a.created = now;
	a.expires = now + CARD_APPROVAL_LIFETIME;
	rc = KAGI_ERR_NOMEM;
	if ((a.serial = strdup(c->serial)) == NULL ||
	    (a.approver = strdup(actor_ident(actor))) == NULL ||
	    (a.used_by = strdup("")) == NULL)
		goto out;
	if ((det = dump_or_empty(json_pack("{s:s, s:s}", "approval_id", a.id,
	    "holder", c->holder))) == NULL)
		goto out;
	if ((rc = store_card_approval_add(t, &a)) != 0 ||
	    (rc = store_audit_append(t, now, actor->id,
	    "card.pin_unblock.approve", c->serial, "ok", det, NULL)) != 0)
		goto out;
	if ((*resp = json_pack("{s:s, s:o}", "approval_id", a.id, "expires",
	    time_json(a.expires))) == NULL) {
		rc = KAGI_ERR_NOMEM;
		goto out;
	}
	rc = 0;
out:
	free(det);
	store_card_approval_clear(&a);
	return rc;
}

/* OP_PIN_UNBLOCK: check and consume the approval (R-PRIV-8). */
static int
use_approval(struct kagid *k, struct store_txn *t,
    const struct store_card *c, const struct kagid_actor *actor,
    const char *id, int64_t now, const char **detail, const char **why,
    char **approver)
{
	struct store_card_approval a;
	int rc;

	memset(&a, 0, sizeof(a));
	*why = NULL;
	if (id == NULL) {
		if (policy_cards(k->policy) != NULL &&
		    !policy_cards(k->policy)->pin_unblock_dual_control)
			return 0;
		*detail = N_("a second operator's approval is required "
		    "(kagi card approve SERIAL; policy [cards] "
		    "pin_unblock_dual_control)");
		*why = "approval_required";
		return KAGI_ERR_DENIED;
	}
	if (!store_login_id_valid(id)) {
		*detail = N_("'approval_id' must be the 32 hex digits that "
		    "kagi card approve printed");
		return KAGI_ERR_INVALID;
	}
	if ((rc = store_card_approval_get(t, id, &a)) != 0) {
		if (rc == KAGI_ERR_NOT_FOUND) {
			*detail = N_("no such approval");
			*why = "unknown_approval";
		}
		goto out;
	}
	rc = KAGI_ERR_DENIED;
	if (strcmp(a.serial, c->serial) != 0) {
		*detail = N_("the approval is for another card");
		*why = "other_card";
	} else if (a.used) {
		*detail = N_("the approval has already been used; ask for a "
		    "new one");
		*why = "approval_used";
	} else if (now >= a.expires) {
		rc = KAGI_ERR_EXPIRED;
		*detail = N_("the approval has expired (10 minutes); ask for "
		    "a new one");
		*why = "approval_expired";
	} else if (strcmp(a.approver, actor_ident(actor)) == 0) {
		*detail = N_("the approver must be another operator (dual "
		    "control, R-PRIV-8)");
		*why = "self_approval";
	} else {
		a.used = 1;
		if (set_str(&a.used_by, actor_ident(actor)) != 0 ||
		    set_str(approver, a.approver) != 0) {
			rc = KAGI_ERR_NOMEM;
			goto out;
		}
		rc = store_card_approval_put(t, &a);
	}
out:
	store_card_approval_clear(&a);
	return rc;
}

/* A refusal of a PIN unblock is audited in its own transaction. */
static void
audit_refusal(struct kagid_req *r, const char *actor, const char *action,
    const char *object, const char *why)
{
	struct store_txn *t = NULL;
	char *det = dump_or_empty(json_pack("{s:s}", "reason", why));
	int rc;

	if ((rc = store_txn_begin(r->k->store, 1, &t)) == 0 &&
	    (rc = store_audit_append(t, kagi_now(), actor, action, object,
	    "denied", det != NULL ? det : "", NULL)) == 0) {
		rc = store_txn_commit(t);
		t = NULL;
	}
	store_txn_abort(t);
	if (rc != 0)
		kagi_log_err("event=audit_append_failed action=%s err=%s",
		    action, kagi_err_name(rc));
	free(det);
}

static void
card_op(struct kagid_req *r, const char *serial, enum card_op op)
{
	struct kagid *k = r->k;
	struct kagid_actor actor;
	struct store_txn *t = NULL;
	struct store_card c, old;
	json_t *body = NULL, *resp = NULL, *det = NULL;
	const char *note = NULL, *method = NULL, *approval = NULL;
	const char *detail = NULL, *why = NULL;
	char err[256], *adetail = NULL, *approver = NULL;
	int64_t now = kagi_now();
	uint8_t from;
	int rc, changed = 0, status = 200;

	memset(&c, 0, sizeof(c));
	memset(&old, 0, sizeof(old));
	err[0] = '\0';
	if (kagid_authz_require(r, ops[op].action, serial, &actor) != 0)
		return;
	if (op != OP_APPROVE && op != OP_PIN_UNBLOCK && !need_ca(r))
		return;
	if ((rc = kagid_read_json_body(r, KAGID_BODY_EMPTY_OBJECT, &body,
	    err, sizeof(err))) != 0 ||
	    (rc = card_only_keys(body, ops[op].keys, err, sizeof(err))) != 0)
		goto fail;
	rc = KAGI_ERR_INVALID;
	if (kagi_json_get_string(body, "note", 0, STORE_CARD_NOTE_MAX,
	    &note) != 0) {
		detail = N_("'note' must be a text of at most 512 bytes");
		goto fail;
	}
	if (op == OP_DESTROY && (kagi_json_get_string(body, "method", 1,
	    STORE_CARD_TEXT_MAX, &method) != 0 || method[0] == '\0')) {
		detail = N_("'method' (how the card was destroyed, e.g. "
		    "shredder) is required");
		goto fail;
	}
	if (kagi_json_get_string(body, "approval_id", 0, 64,
	    &approval) != 0) {
		detail = N_("'approval_id' must be the 32 hex digits that "
		    "kagi card approve printed");
		goto fail;
	}
	if (!store_card_serial_valid(serial)) {
		rc = KAGI_ERR_NOT_FOUND;
		detail = N_("no card with this serial number");
		goto fail;
	}
	if ((rc = store_txn_begin(k->store, 1, &t)) != 0)
		goto fail;
	if ((rc = store_card_get(t, serial, &c)) != 0) {
		if (rc == KAGI_ERR_NOT_FOUND)
			detail = N_("no card with this serial number");
		goto fail;
	}
	from = c.state;
	if (!op_allowed(op, c.state)) {
		rc = KAGI_ERR_INVALID;
		detail = not_from_text(op);
		goto fail;
	}
	switch (op) {
	case OP_ACTIVATE:
		c.state = STORE_CARD_ACTIVE;
		if (c.replaces[0] != '\0') {
			rc = store_card_get(t, c.replaces, &old);
			if (rc == KAGI_ERR_NOT_FOUND) {
				detail = N_("the card to replace is not known");
				goto fail;
			}
			if (rc != 0)
				goto fail;
			if (old.state != STORE_CARD_DESTROYED &&
			    old.state != STORE_CARD_RETURNED &&
			    old.state != STORE_CARD_REPLACED) {
				uint8_t ofrom = old.state;
				char *od;
				if ((rc = certs_revoke(k, t, &old,
				    CA_REASON_SUPERSEDED, now, actor.id,
				    &changed)) != 0 ||
				    (rc = set_str(&old.replaced_by,
				    c.serial)) != 0)
					goto fail;
				old.state = STORE_CARD_REPLACED;
				old.case_open = 1;
				old.updated = now;
				od = dump_or_empty(json_pack("{s:s, s:s, s:s}",
				    "from", store_card_state_name(ofrom),
				    "to", "replaced", "replaced_by", c.serial));
				if (od == NULL) {
					rc = KAGI_ERR_NOMEM;
					goto fail;
				}
				rc = store_card_put(t, &old);
				if (rc == 0)
					rc = store_audit_append(t, now, actor.id,
					    "card.replace", old.serial, "ok", od,
					    NULL);
				free(od);
				if (rc != 0)
					goto fail;
			}
		}
		break;
	case OP_LOST:
		if ((rc = certs_revoke(k, t, &c, CA_REASON_CERTIFICATE_HOLD,
		    now, actor.id, &changed)) != 0)
			goto fail;
		c.state = STORE_CARD_LOST;
		c.case_open = 1;
		break;
	case OP_FOUND:
		if ((rc = certs_unhold(t, &c, now, actor.id, &changed)) != 0)
			goto fail;
		c.state = STORE_CARD_ACTIVE;
		c.case_open = 0;
		break;
	case OP_RETURN:
	case OP_DESTROY:
		if ((rc = certs_revoke(k, t, &c,
		    CA_REASON_CESSATION_OF_OPERATION, now, actor.id,
		    &changed)) != 0)
			goto fail;
		c.state = op == OP_RETURN ? STORE_CARD_RETURNED :
		    STORE_CARD_DESTROYED;
		c.case_open = 0;
		c.disposal_time = now;
		if ((rc = set_str(&c.disposal_operator, actor.id)) != 0 ||
		    (rc = set_str(&c.disposal_method, op == OP_RETURN ?
		    "return" : method)) != 0 ||
		    (rc = set_str(&c.disposal_note, note)) != 0)
			goto fail;
		break;
	case OP_APPROVE:
		if ((rc = do_approve(t, &c, &actor, now, &resp)) != 0)
			goto fail;
		status = 201;
		break;
	case OP_PIN_UNBLOCK:
		if ((rc = use_approval(k, t, &c, &actor, approval, now,
		    &detail, &why, &approver)) != 0)
			goto fail;
		break;
	}
	if (op != OP_APPROVE) {
		det = json_pack("{s:s, s:s, s:i}", "from",
		    store_card_state_name(from), "to",
		    store_card_state_name(c.state), "certs_changed", changed);
		if (det != NULL && note != NULL)
			json_object_set_new(det, "note", json_string(note));
		if (det != NULL && method != NULL)
			json_object_set_new(det, "method", json_string(method));
		if (det != NULL && approval != NULL)
			json_object_set_new(det, "approval_id",
			    json_string(approval));
		if (det != NULL && approver != NULL)
			json_object_set_new(det, "approved_by",
			    json_string(approver));
		if ((adetail = dump_or_empty(det)) == NULL) {
			rc = KAGI_ERR_NOMEM;
			goto fail;
		}
		if (op != OP_PIN_UNBLOCK) {
			c.updated = now;
			if ((rc = store_card_put(t, &c)) != 0)
				goto fail;
		}
		if ((rc = store_audit_append(t, now, actor.id, ops[op].audit,
		    serial, "ok", adetail, NULL)) != 0)
			goto fail;
		resp = op == OP_PIN_UNBLOCK ? json_object() : card_json(&c);
		if (resp == NULL) {
			rc = KAGI_ERR_NOMEM;
			goto fail;
		}
	}
	rc = store_txn_commit(t);
	t = NULL;
	if (rc != 0)
		goto fail;
	kagi_log_info("event=%s card=%s from=%s to=%s certs=%d",
	    ops[op].audit, serial, store_card_state_name(from),
	    store_card_state_name(c.state), changed);
	if (changed)
		kagid_ca_changed(k);
	kagid_reply_json(r, status, resp);
	resp = NULL;
	goto out;
fail:
	store_txn_abort(t);
	t = NULL;
	if (why != NULL)
		audit_refusal(r, actor.id, ops[op].audit, serial, why);
	if (rc == 0)
		rc = KAGI_ERR_INTERNAL;
	kagid_reply_error(r, 0, rc, detail != NULL ? detail : err[0] ? err :
	    NULL);
out:
	store_txn_abort(t);
	store_card_clear(&c);
	store_card_clear(&old);
	json_decref(body);
	json_decref(resp);
	free(adetail);
	free(approver);
}

/* POST /v1/cards/<serial>/<op>: r->subpath is "<serial>/<op>". */
static void
api_card_post(struct kagid_req *r)
{
	const char *sl = strchr(r->subpath, '/');
	char serial[STORE_CARD_SERIAL_MAX + 1];
	size_t n;

	if (sl == NULL || (n = (size_t)(sl - r->subpath)) == 0 ||
	    n > STORE_CARD_SERIAL_MAX) {
		kagid_reply_error(r, 404, KAGI_ERR_NOT_FOUND, NULL);
		return;
	}
	memcpy(serial, r->subpath, n);
	serial[n] = '\0';
	for (size_t i = 0; i < N_OPS; i++)
		if (strcmp(sl + 1, ops[i].name) == 0) {
			card_op(r, serial, (enum card_op)i);
			return;
		}
	kagid_reply_error(r, 404, KAGI_ERR_NOT_FOUND, NULL);
}

const struct kagid_route kagid_card_routes[] = {
	{ "/v1/cards", "GET", api_card_list, KAGID_TR_API, 0 },
	{ "/v1/cards/check", "POST", api_card_check, KAGID_TR_API, 0 },
	{ "/v1/cards/enrol", "POST", api_card_enrol, KAGID_TR_API, 0 },
	{ "/v1/cards/", "GET", api_card_one, KAGID_TR_API, 1 },
	{ "/v1/cards/", "POST", api_card_post, KAGID_TR_API, 2 },
	{ NULL, NULL, NULL, 0, 0 },
};
