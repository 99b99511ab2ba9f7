/*
 * Terminal login API (issue 5; docs/API.md "Terminal login"):
 *   POST /v1/login/begin     {login, service}      -> a single-use challenge
 *   POST /v1/login/finish    {challenge_id, login, card, fido, password,
 *                             member}              -> a decision
 *   POST /v1/login/close     {session_id}          -> {}
 *   POST /v1/login/password  {login, old, new}     -> {} or rules broken
 * and FIDO credential registration for operators:
 *   POST|GET|DELETE /v1/users/fido/<login>
 *
 * The login endpoints answer only a terminal: a TLS peer whose client
 * certificate is, byte for byte, a current, active "terminal" certificate
 * in our store, of an active terminal record, whose certificatePolicies
 * OID names the same zone as the record (R-TERM-1, R-ZONE-4).  Everything a
 * finish decides happens in one write transaction with its audit records,
 * so a crash leaves either all or nothing.  The decision itself is
 * login_decide (login.c).
 *
 * Challenges live in kagid's memory only (login_challenges, login.c): a
 * begin changes nothing durable, so it reads the store and writes nothing
 * (its trace is the log line event=login_begin; the finish's audit record
 * names the challenge).  A finish takes its challenge from memory, checked
 * and marked used in one step before anything else; after a kagid restart
 * an outstanding challenge is unknown and its finish refused "expired".
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "kagi/i18n.h"
#include "kagi/json.h"
#include "kagi/kbuf.h"
#include "kagi/kfido.h"
#include "kagi/log.h"
#include "kagi/policy.h"
#include "kagi/secmem.h"
#include "kagi/store.h"
#include "kagi/util.h"
#include "ca_service.h"
#include "login.h"
#include "server_int.h"

#define TR_TLS (1u << KAGID_TR_HTTPS)
/* old session (and pre-memory challenge) records removed per finish */
#define SWEEP_PER_FINISH 16

/* The outstanding challenges of this kagid (one table per process). */
static struct login_challenges *challenges;
static pthread_once_t challenges_once = PTHREAD_ONCE_INIT;

static void
challenges_init(void)
{
	if (login_challenges_new(LOGIN_CHALLENGES_MAX, &challenges) != 0)
		challenges = NULL;
}

static struct login_challenges *
challenge_table(void)
{
	(void)pthread_once(&challenges_once, challenges_init);
	return challenges;
}

/* ---- small helpers ---- */

static json_t *
jtime(int64_t t)
{
	char b[64];

	if (t == 0 || t == INT64_MAX || kagi_time_format_utc(t, b, sizeof(b)) != 0)
		return json_null();
	return json_string(b);
}

static int
audit(struct store_txn *t, const char *actor, const char *action,
    const char *object, const char *outcome, json_t *detail)
{
	char *d = NULL;
	int rc;

	if (detail != NULL && (d = kagi_json_dump(detail)) == NULL) {
		json_decref(detail);
		return KAGI_ERR_NOMEM;
	}
	json_decref(detail);
	rc = store_audit_append(t, kagi_now(), actor, action,
	    object != NULL ? object : "", outcome, d != NULL ? d : "", NULL);
	free(d);
	return rc;
}

static void
audit_alone(struct kagid *k, const char *actor, const char *action,
    const char *object, const char *outcome, json_t *detail)
{
	struct store_txn *t = NULL;
	int rc;

	if ((rc = store_txn_begin(k->store, 1, &t)) != 0) {
		json_decref(detail);
	} else if ((rc = audit(t, actor, action, object, outcome,
	    detail)) == 0) {
		rc = store_txn_commit(t);
		t = NULL;
	}
	store_txn_abort(t);
	if (rc != 0)
		kagi_log_err("event=audit_append_failed action=%s err=%s",
		    action, kagi_err_name(rc));
}

static int
commit(struct store_txn **t)
{
	int rc = store_txn_commit(*t);

	*t = NULL;
	return rc;
}

/* An error answer; reason (a stable code) only where it gives nothing away. */
static void
reply_err(struct kagid_req *r, int rc, const char *reason, const char *field)
{
	json_t *o = json_pack("{s:s, s:s}", "error", kagi_err_name(rc),
	    "message", kagi_strerror(rc));

	if (o != NULL && reason != NULL && rc != KAGI_ERR_AUTH)
		json_object_set_new(o, "reason", json_string(reason));
	if (o != NULL && field != NULL)
		json_object_set_new(o, "field", json_string(field));
	kagid_reply_json(r, kagi_err_http_status(rc), o);
}

/* The request body, in secure memory (it may hold a password); an empty
 * body is a format error here. */
static int
body_text(struct kagid_req *r, char **out, size_t *len)
{
	int rc = kagid_body_text(r, 0, out, len);

	if (rc == 0 && *out == NULL)
		rc = KAGI_ERR_FORMAT;
	return rc;
}

static int
body_object(struct kagid_req *r, const char *const *allowed, json_t **out,
    const char **field)
{
	char err[160];
	int rc;

	*field = NULL;
	if ((rc = kagid_read_json_body(r, KAGID_BODY_REQUIRED, out, err,
	    sizeof(err))) != 0)
		return rc;
	if (kagi_json_unknown_key(*out, allowed) != NULL) {
		*field = allowed[0];
		json_decref(*out);
		*out = NULL;
		return KAGI_ERR_INVALID;
	}
	return 0;
}

static int
random_id(char out[STORE_LOGIN_ID_LEN + 1])
{
	uint8_t b[STORE_LOGIN_ID_LEN / 2];
	int rc;

	if ((rc = kagi_random_bytes(b, sizeof(b))) != 0)
		return rc;
	kagi_hex_encode(b, sizeof(b), out);
	return 0;
}

static int
der_equal(X509 *x, const uint8_t *der, size_t len)
{
	unsigned char *d = NULL;
	int n, eq;

	if ((n = i2d_X509(x, &d)) <= 0)
		return 0;
	eq = (size_t)n == len && memcmp(d, der, len) == 0;
	OPENSSL_free(d);
	return eq;
}

/* ---- the terminal (R-TERM-1) ---- */

static X509 *
peer_cert(struct kagid_req *r)
{
	struct evhttp_connection *conn;
	struct bufferevent *bev;
	SSL *ssl;

	if (r->lx == NULL || r->lx->transport != KAGID_TR_HTTPS)
		return NULL;
	if ((conn = evhttp_request_get_connection(r->req)) == NULL ||
	    (bev = evhttp_connection_get_bufferevent(conn)) == NULL ||
	    (ssl = bufferevent_openssl_get_ssl(bev)) == NULL ||
	    SSL_get_verify_result(ssl) != X509_V_OK)
		return NULL;
	return SSL_get0_peer_certificate(ssl);
}

/* The zone OID of a terminal certificate (its first policy). */
static int
cert_policy_oid(X509 *x, char *out, size_t n)
{
	CERTIFICATEPOLICIES *cp;
	int r = KAGI_ERR_NOT_FOUND;

	out[0] = '\0';
	if ((cp = X509_get_ext_d2i(x, NID_certificate_policies, NULL,
	    NULL)) == NULL)
		return KAGI_ERR_NOT_FOUND;
	if (sk_POLICYINFO_num(cp) == 1) {
		POLICYINFO *pi = sk_POLICYINFO_value(cp, 0);
		if (OBJ_obj2txt(out, (int)n, pi->policyid, 1) > 0 &&
		    strlen(out) < n)
			r = 0;
	}
	CERTIFICATEPOLICIES_free(cp);
	return r;
}

/* 1 if a SAN URI of x is exactly urn:kagi:device:<device>. */
static int
cert_names_device(X509 *x, const char *device)
{
	GENERAL_NAMES *g;
	char want[96];
	int found = 0;

	snprintf(want, sizeof(want), "urn:kagi:device:%s", device);
	if ((g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL)) == NULL)
		return 0;
	for (int i = 0; i < sk_GENERAL_NAME_num(g); i++) {
		GENERAL_NAME *n = sk_GENERAL_NAME_value(g, i);
		const ASN1_IA5STRING *u;
		if (n->type != GEN_URI)
			continue;
		u = n->d.uniformResourceIdentifier;
		if ((size_t)u->length == strlen(want) &&
		    memcmp(u->data, want, strlen(want)) == 0)
			found = 1;
	}
	GENERAL_NAMES_free(g);
	return found;
}

/*
 * Who is calling: 0 and *out, KAGI_ERR_DENIED with *why, or a store error.
 */
int
kagid_terminal_identify(struct kagid_req *r, struct store_txn *t,
    struct kagid_term *out, const char **why)
{
	struct store_cert c;
	struct store_terminal d;
	const struct policy_zone *z;
	const ASN1_INTEGER *sn;
	char oid[128];
	X509 *x;
	int rc = KAGI_ERR_DENIED;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	memset(&d, 0, sizeof(d));
	*why = "not_a_terminal";
	if ((x = peer_cert(r)) == NULL)
		goto out;
	sn = X509_get0_serialNumber(x);
	if (sn == NULL || sn->length <= 0 || sn->length > STORE_SERIAL_MAX)
		goto out;
	kagid_serial_hex(sn->data, (size_t)sn->length, out->serial);
	if ((rc = store_cert_get(t, sn->data, (size_t)sn->length, &c)) != 0) {
		if (rc == KAGI_ERR_NOT_FOUND || rc == KAGI_ERR_INVALID) {
			*why = "terminal_cert_unknown";
			rc = KAGI_ERR_DENIED;
		}
		goto out;
	}
	rc = KAGI_ERR_DENIED;
	/* our certificate exactly as we issued it */
	if (!der_equal(x, c.der, c.der_len)) {
		*why = "terminal_cert_unknown";
		goto out;
	}
	if (c.profile == NULL || strcmp(c.profile, "terminal") != 0) {
		*why = "not_a_terminal";
		goto out;
	}
	if (c.state != STORE_CERT_ACTIVE) {
		*why = "terminal_cert_revoked";
		goto out;
	}
	if (!store_device_id_valid(c.holder) ||
	    !cert_names_device(x, c.holder)) {
		*why = "terminal_cert_device";
		goto out;
	}
	if (cert_policy_oid(x, oid, sizeof(oid)) != 0 ||
	    (z = policy_zone_by_oid(r->k->policy, oid)) == NULL) {
		*why = "terminal_zone_unknown";
		goto out;
	}
	if ((rc = store_terminal_get(t, c.holder, &d)) != 0) {
		if (rc == KAGI_ERR_NOT_FOUND) {
			*why = "terminal_unregistered";
			rc = KAGI_ERR_DENIED;
		}
		goto out;
	}
	rc = KAGI_ERR_DENIED;
	if (d.state != STORE_TERM_ACTIVE) {
		*why = "terminal_revoked";
		goto out;
	}
	if (d.zone == NULL || strcmp(d.zone, z->name) != 0) {
		*why = "terminal_zone_mismatch";
		goto out;
	}
	if (d.cert_serial_len != c.serial_len ||
	    memcmp(d.cert_serial, c.serial, c.serial_len) != 0) {
		*why = "terminal_cert_superseded";
		goto out;
	}
	snprintf(out->device, sizeof(out->device), "%s", d.device_id);
	snprintf(out->zone, sizeof(out->zone), "%s", z->name);
	*why = NULL;
	rc = 0;
out:
	store_cert_clear(&c);
	store_terminal_clear(&d);
	return rc;
}

/* Refuse a caller that is not a terminal: audited, 403. */
static void
refuse_terminal(struct kagid_req *r, struct store_txn **t, const char *path,
    const char *why)
{
	int rc;

	kagi_log_warn("event=login_terminal_refused reason=%s peer=%s", why,
	    r->peer);
	if (*t != NULL && (rc = audit(*t, r->peer, "login.terminal_refused",
	    "", "denied", json_pack("{s:s, s:s}", "reason", why, "path",
	    path))) == 0 && (rc = commit(t)) == 0) {
		reply_err(r, KAGI_ERR_DENIED, why, NULL);
		return;
	}
	store_txn_abort(*t);
	*t = NULL;
	audit_alone(r->k, r->peer, "login.terminal_refused", "", "denied",
	    json_pack("{s:s, s:s}", "reason", why, "path", path));
	reply_err(r, KAGI_ERR_DENIED, why, NULL);
}

/* ---- begin ---- */

struct cred_list {
	json_t *ids;
	int err;
};

static int
cred_cb(const struct store_fido *f, void *arg)
{
	struct cred_list *l = arg;
	char *b;

	if (f->state != STORE_FIDO_ACTIVE)
		return 0;
	if ((b = login_b64_encode(f->cred_id, f->cred_id_len)) == NULL ||
	    json_array_append_new(l->ids, json_string(b)) != 0) {
		free(b);
		l->err = KAGI_ERR_NOMEM;
		return 1;
	}
	free(b);
	return 0;
}

static const char *
uv_name(int uv)
{
	switch (uv) {
	case POLICY_UV_REQUIRED:
		return "required";
	case POLICY_UV_PREFERRED:
		return "preferred";
	default:
		return "discouraged";
	}
}

static json_t *
factors_json(unsigned f)
{
	static const unsigned order[] = { POLICY_FACTOR_CARD,
	    POLICY_FACTOR_FIDO, POLICY_FACTOR_PASSWORD };
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < 3; i++)
		if (f & order[i])
			json_array_append_new(a,
			    json_string(login_factor_name(order[i])));
	return a;
}

static json_t *
categories_json(unsigned c)
{
	static const unsigned order[] = { POLICY_CAT_KNOWLEDGE,
	    POLICY_CAT_POSSESSION, POLICY_CAT_INHERENCE };
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < 3; i++)
		if (c & order[i])
			json_array_append_new(a,
			    json_string(login_category_name(order[i])));
	return a;
}

static const char *const kind_names[STORE_KIND_COUNT] = {
	"personal", "shared", "privileged", "development", "contractor",
	"service"
};

static void
api_login_begin(struct kagid_req *r)
{
	static const char *const allowed[] = { "login", "service", NULL };
	struct kagid *k = r->k;
	struct store_txn *t = NULL;
	struct store_challenge ch;
	struct store_account a;
	struct kagid_term term;
	struct cred_list cl = { NULL, 0 };
	const struct policy_zone *z;
	const struct policy_fido *pf = policy_fido(k->policy);
	const struct policy_login *pl = policy_login(k->policy);
	json_t *b = NULL, *o = NULL;
	const char *login = NULL, *service = NULL, *why = NULL, *field = NULL;
	char *cb64 = NULL, exp[64];
	int64_t now = kagi_now();
	unsigned kind = STORE_KIND_PERSONAL;
	int rc;

	memset(&ch, 0, sizeof(ch));
	memset(&a, 0, sizeof(a));
	/* a begin only reads: the challenge is held in memory */
	if ((rc = store_txn_begin(k->store, 0, &t)) != 0) {
		kagid_reply_error(r, 0, rc, NULL);
		return;
	}
	if ((rc = kagid_terminal_identify(r, t, &term, &why)) != 0) {
		if (rc == KAGI_ERR_DENIED) {
			/* audited in a write transaction of its own */
			store_txn_abort(t);
			t = NULL;
			refuse_terminal(r, &t, r->path, why);
		} else {
			kagid_reply_error(r, 0, rc, NULL);
		}
		goto out;
	}
	if ((rc = body_object(r, allowed, &b, &field)) != 0) {
		reply_err(r, rc, NULL, field);
		goto out;
	}
	if (kagi_json_get_string(b, "login", 1, LOGIN_LOGIN_MAX, &login) != 0 ||
	    !store_login_valid(login)) {
		reply_err(r, KAGI_ERR_INVALID, NULL, "login");
		goto out;
	}
	if (kagi_json_get_string(b, "service", 0, 64, &service) != 0 ||
	    (service != NULL && (service[0] == '\0' ||
	    !kagi_utf8_valid(service, strlen(service))))) {
		reply_err(r, KAGI_ERR_INVALID, NULL, "service");
		goto out;
	}
	if ((z = policy_zone_find(k->policy, term.zone)) == NULL ||
	    pf == NULL || pl == NULL) {
		kagid_reply_error(r, 0, KAGI_ERR_INTERNAL, NULL);
		goto out;
	}
	/* an unknown login gets the same shape (no account enumeration) */
	if ((cl.ids = json_array()) == NULL) {
		kagid_reply_error(r, 0, KAGI_ERR_NOMEM, NULL);
		goto out;
	}
	rc = store_account_get(t, login, &a);
	if (rc == 0) {
		if (a.kind < STORE_KIND_COUNT)
			kind = a.kind;
		/* the account's own credentials (a shared ID's member is
		 * not known before finish: its key is matched there) */
		if ((rc = store_fido_iter(t, login, cred_cb, &cl)) != 0 ||
		    cl.err != 0) {
			kagid_reply_error(r, 0, cl.err != 0 ? cl.err : rc, NULL);
			goto out;
		}
	} else if (rc != KAGI_ERR_NOT_FOUND) {
		kagid_reply_error(r, 0, rc, NULL);
		goto out;
	}
	/* the challenge: 32 random bytes, single use, bound to this
	 * terminal and login */
	if ((rc = random_id(ch.id)) != 0 ||
	    (rc = kagi_random_bytes(ch.challenge, sizeof(ch.challenge))) != 0) {
		kagid_reply_error(r, 0, rc, NULL);
		goto out;
	}
	ch.login = strdup(login);
	ch.terminal = strdup(term.device);
	ch.zone = strdup(term.zone);
	ch.created = now;
	ch.expires = now + pl->challenge_lifetime;
	if (ch.login == NULL || ch.terminal == NULL || ch.zone == NULL ||
	    (cb64 = login_b64_encode(ch.challenge, sizeof(ch.challenge))) ==
	    NULL || kagi_time_format_utc(ch.expires, exp, sizeof(exp)) != 0) {
		kagid_reply_error(r, 0, KAGI_ERR_NOMEM, NULL);
		goto out;
	}
	store_txn_abort(t);
	t = NULL;
	if ((rc = login_challenges_add(challenge_table(), &ch, now)) != 0) {
		/* full (every held one unexpired): fail closed, try later */
		kagi_log_err("event=login_begin_failed terminal=%s err=%s",
		    term.device, kagi_err_name(rc));
		kagid_reply_error(r, 0, rc == KAGI_ERR_LIMIT ?
		    KAGI_ERR_UNAVAILABLE : rc, NULL);
		goto out;
	}
	kagi_log_info("event=login_begin account=%s terminal=%s zone=%s "
	    "service=%s challenge_id=%s", login, term.device, term.zone,
	    service != NULL ? service : "-", ch.id);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:o, s:I},"
	    " s:{s:s, s:s, s:O}, s:s}",
	    "challenge_id", ch.id, "challenge", cb64, "expires", exp,
	    "zone", term.zone, "kind", kind_names[kind],
	    "factors", "allowed", factors_json(z->factors),
	    "min_categories", (json_int_t)(z->min_categories[kind] < 2 &&
	    z->is_mynumber ? 2 : z->min_categories[kind]),
	    "fido", "rp_id", pf->rp_id, "uv", uv_name(z->fido_uv),
	    "credentials", cl.ids, "banner", z->banner);
	if (o == NULL) {
		kagid_reply_error(r, 0, KAGI_ERR_NOMEM, NULL);
		goto out;
	}
	kagid_reply_json(r, 200, o);
out:
	store_txn_abort(t);
	json_decref(cl.ids);
	json_decref(b);
	free(cb64);
	store_challenge_clear(&ch);
	store_account_clear(&a);
}

/* ---- finish: the factors ---- */

static int
pem_cert(const char *pem, X509 **out)
{
	BIO *b;
	X509 *x;

	*out = NULL;
	if ((b = BIO_new_mem_buf(pem, (int)strlen(pem))) == NULL)
		return KAGI_ERR_NOMEM;
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	if (x == NULL)
		return KAGI_ERR_FORMAT;
	*out = x;
	return 0;
}

/* Signature over the tbs hash by the card key: ECDSA (DER) over the hash,
 * or RSA PKCS#1 v1.5 with the SHA-256 DigestInfo. */
static int
card_sig_verify(X509 *leaf, const uint8_t *sig, size_t sig_len,
    const uint8_t tbs[LOGIN_TBS_LEN])
{
	EVP_PKEY *pk = X509_get0_pubkey(leaf);
	EVP_PKEY_CTX *ctx = NULL;
	int id, r = KAGI_ERR_SIG;

	if (pk == NULL)
		return KAGI_ERR_SIG;
	id = EVP_PKEY_get_base_id(pk);
	if (id != EVP_PKEY_EC && id != EVP_PKEY_RSA)
		return KAGI_ERR_SIG;
	if ((ctx = EVP_PKEY_CTX_new(pk, NULL)) == NULL)
		return KAGI_ERR_NOMEM;
	if (EVP_PKEY_verify_init(ctx) != 1)
		goto out;
	if (id == EVP_PKEY_RSA &&
	    (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) != 1))
		goto out;
	if (EVP_PKEY_verify(ctx, sig, sig_len, tbs, LOGIN_TBS_LEN) == 1)
		r = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	return r;
}

/*
 * A My Number card (R-JPKI-1, server/jpki.c): the JPKI user-authentication
 * certificate, bound to this account at the counter and active, and the
 * signature over tbs.  The signature certificate is never accepted.
 */
static int
jpki_verify(struct kagid *k, struct store_txn *t, X509 *leaf,
    STACK_OF(X509) *untrusted, const struct login_finish *f,
    const uint8_t tbs[LOGIN_TBS_LEN], const char *holder, int64_t now,
    int *outcome, const char **why)
{
	int rc;

	if ((rc = kagid_jpki_classify(k, leaf, untrusted, now, outcome,
	    why)) != 0 || *outcome != 0)
		return rc;
	if ((rc = kagid_jpki_binding(t, leaf, holder, outcome, why)) != 0 ||
	    *outcome != 0)
		return rc;
	if ((rc = card_sig_verify(leaf, f->card_sig, f->card_sig_len,
	    tbs)) != 0) {
		if (rc != KAGI_ERR_SIG)
			return rc;
		*outcome = KAGI_ERR_AUTH;
		*why = "card_signature";
	}
	return 0;
}

/*
 * The card: chain to our issuing CA, our record of the leaf (state,
 * profile, holder), the signature.  *outcome: 0 or the refusal (with
 * *why); the return is non-zero only for a server fault.
 */
static int
card_verify(struct kagid *k, struct store_txn *t, const struct login_finish *f,
    const uint8_t tbs[LOGIN_TBS_LEN], const char *holder, int64_t now,
    int *outcome, const char **why, char serial[2 * STORE_SERIAL_MAX + 1])
{
	X509 *leaf = NULL, *x = NULL;
	STACK_OF(X509) *untrusted = NULL, *chain;
	X509_STORE *st = NULL;
	X509_STORE_CTX *ctx = NULL;
	struct store_cert c;
	const ASN1_INTEGER *sn;
	int r = KAGI_ERR_INTERNAL, rc;

	memset(&c, 0, sizeof(c));
	*outcome = KAGI_ERR_AUTH;
	*why = "card_cert_malformed";
	serial[0] = '\0';
	if (k->ca == NULL || k->ca->root == NULL || k->ca->issuing == NULL) {
		kagi_log_err("login: card factor but the CA is not loaded");
		return KAGI_ERR_UNAVAILABLE;
	}
	if ((rc = pem_cert(f->certs[0], &leaf)) != 0) {
		r = rc == KAGI_ERR_NOMEM ? rc : 0;
		goto out;
	}
	if ((untrusted = sk_X509_new_null()) == NULL ||
	    !sk_X509_push(untrusted, k->ca->issuing)) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	X509_up_ref(k->ca->issuing);
	for (size_t i = 1; i < f->n_certs; i++) {
		if ((rc = pem_cert(f->certs[i], &x)) != 0) {
			r = rc == KAGI_ERR_NOMEM ? rc : 0;
			goto out;
		}
		if (!sk_X509_push(untrusted, x)) {
			r = KAGI_ERR_NOMEM;
			goto out;
		}
		x = NULL;
	}
	sn = X509_get0_serialNumber(leaf);
	if (sn != NULL && sn->length > 0 && sn->length <= STORE_SERIAL_MAX)
		kagid_serial_hex(sn->data, (size_t)sn->length, serial);
	/* the chain: our root is the only trust anchor, at `now` */
	if ((st = X509_STORE_new()) == NULL ||
	    (ctx = X509_STORE_CTX_new()) == NULL ||
	    X509_STORE_add_cert(st, k->ca->root) != 1 ||
	    X509_STORE_CTX_init(ctx, st, leaf, untrusted) != 1) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx),
	    (time_t)now);
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
	if (X509_verify_cert(ctx) != 1) {
		int e = X509_STORE_CTX_get_error(ctx);
		if (k->jpki != NULL && e != X509_V_ERR_CERT_HAS_EXPIRED) {
			/* not ours: a bound My Number card, or refused */
			r = jpki_verify(k, t, leaf, untrusted, f, tbs, holder,
			    now, outcome, why);
			goto out;
		}
		kagi_log_info("login: card chain refused: %s",
		    X509_verify_cert_error_string(e));
		if (e == X509_V_ERR_CERT_HAS_EXPIRED) {
			*outcome = KAGI_ERR_EXPIRED;
			*why = "card_cert_expired";
		} else {
			*why = "card_cert_other_ca";
		}
		r = 0;
		goto out;
	}
	chain = X509_STORE_CTX_get0_chain(ctx);
	if (sk_X509_num(chain) != 3 ||
	    X509_cmp(sk_X509_value(chain, 1), k->ca->issuing) != 0) {
		*why = "card_cert_other_ca";
		r = 0;
		goto out;
	}
	/* our record of it */
	if (sn == NULL || sn->length <= 0 || sn->length > STORE_SERIAL_MAX ||
	    (rc = store_cert_get(t, sn->data, (size_t)sn->length, &c)) ==
	    KAGI_ERR_NOT_FOUND || (rc == 0 && !der_equal(leaf, c.der,
	    c.der_len))) {
		*why = "card_cert_unknown";
		r = 0;
		goto out;
	}
	if (rc != 0) {
		r = rc;
		goto out;
	}
	if (c.profile == NULL || strcmp(c.profile, "staff-logon") != 0) {
		*why = "card_cert_profile";
		r = 0;
		goto out;
	}
	if (c.holder == NULL || strcmp(c.holder, holder) != 0) {
		*why = "card_cert_other_account";
		r = 0;
		goto out;
	}
	if (c.state == STORE_CERT_HOLD || c.state == STORE_CERT_REVOKED) {
		*outcome = KAGI_ERR_REVOKED;
		*why = c.state == STORE_CERT_HOLD ? "card_cert_hold" :
		    "card_cert_revoked";
		r = 0;
		goto out;
	}
	if (c.state != STORE_CERT_ACTIVE) {
		*why = "card_cert_state";
		r = 0;
		goto out;
	}
	if ((rc = card_sig_verify(leaf, f->card_sig, f->card_sig_len,
	    tbs)) != 0) {
		if (rc != KAGI_ERR_SIG) {
			r = rc;
			goto out;
		}
		*why = "card_signature";
		r = 0;
		goto out;
	}
	*outcome = 0;
	*why = NULL;
	r = 0;
out:
	store_cert_clear(&c);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	sk_X509_pop_free(untrusted, X509_free);
	X509_free(x);
	X509_free(leaf);
	return r;
}

struct fido_check {
	struct store_fido cred;  /* the stored credential */
	char key[2 * STORE_HASH_LEN + 1];
	int update;              /* cred.sign_count raised: write it back */
	int clone;               /* counter did not increase */
	uint32_t presented;      /* the counter the assertion carried */
	int uv;
};

/*
 * The FIDO assertion against the stored credential of `owner`: rpId,
 * clientDataHash = tbs, UP always, UV where the zone requires it, and the
 * counter (kagid's job: fido_assert_verify never checks it).
 */
static int
fido_verify(struct kagid *k, struct store_txn *t, const struct login_finish *f,
    const uint8_t tbs[LOGIN_TBS_LEN], const char *owner, const char *zone,
    struct fido_check *fc, int *outcome, const char **why)
{
	const struct policy_fido *pf = policy_fido(k->policy);
	const struct policy_zone *z = policy_zone_find(k->policy, zone);
	struct kagi_fido_assert_input in;
	struct kagi_fido_assert_result res;
	uint8_t *ad = NULL;
	size_t ad_len = 0;
	int rc, r = KAGI_ERR_INTERNAL;

	*outcome = KAGI_ERR_AUTH;
	*why = "fido_unknown_credential";
	if (pf == NULL || z == NULL)
		return KAGI_ERR_INTERNAL;
	if (store_fido_key(f->fido_cred_id, f->fido_cred_id_len, fc->key) != 0)
		fc->key[0] = '\0';
	if ((rc = store_fido_get(t, f->fido_cred_id, f->fido_cred_id_len,
	    &fc->cred)) != 0) {
		if (rc == KAGI_ERR_NOT_FOUND || rc == KAGI_ERR_INVALID)
			return 0;
		return rc;
	}
	if (fc->cred.account == NULL || strcmp(fc->cred.account, owner) != 0) {
		*why = "fido_other_account";
		return 0;
	}
	if (fc->cred.state != STORE_FIDO_ACTIVE) {
		*outcome = KAGI_ERR_DENIED;
		*why = "fido_disabled";
		return 0;
	}
	if ((rc = login_fido_authdata_cbor(f->fido_authdata,
	    f->fido_authdata_len, &ad, &ad_len)) != 0) {
		if (rc == KAGI_ERR_NOMEM)
			return rc;
		*why = "fido_malformed";
		return 0;
	}
	memset(&in, 0, sizeof(in));
	memset(&res, 0, sizeof(res));
	in.cdh = tbs;
	in.cdh_len = LOGIN_TBS_LEN;
	in.authdata = ad;
	in.authdata_len = ad_len;
	in.sig = f->fido_sig;
	in.sig_len = f->fido_sig_len;
	rc = kagi_fido_assert_check(pf->rp_id, fc->cred.cose_key,
	    fc->cred.cose_key_len, &in, z->fido_uv == POLICY_UV_REQUIRED, &res);
	free(ad);
	switch (rc) {
	case 0:
		break;
	case KAGI_ERR_NOMEM:
		return rc;
	case KAGI_ERR_SIG:
		*why = "fido_signature";
		return 0;
	case KAGI_ERR_DENIED:
		/* rpId, UP or (where required) UV */
		*outcome = KAGI_ERR_DENIED;
		*why = "fido_flags";
		return 0;
	default:
		*why = "fido_malformed";
		return 0;
	}
	fc->presented = res.counter;
	/* WebAuthn §7.2 step 21: a counter that did not increase means a
	 * second copy of the key; refused, audited, the record unchanged */
	if (kagi_fido_counter_check(fc->cred.sign_count, res.counter) != 0) {
		*outcome = KAGI_ERR_SIG;
		*why = "fido_clone_suspected";
		fc->clone = 1;
		return 0;
	}
	if (res.counter != fc->cred.sign_count) {
		fc->cred.sign_count = res.counter;
		fc->update = 1;
	}
	fc->uv = (res.flags & KAGI_FIDO_FLAG_UV) != 0;
	*outcome = 0;
	*why = NULL;
	r = 0;
	return r;
}

/* ---- finish ---- */

static json_t *
refusal_detail(const struct kagid_term *term, const struct login_finish *f,
    const struct login_result *res, const char *card_serial,
    const char *fido_key)
{
	json_t *d = json_pack("{s:s, s:s, s:s, s:I}", "reason",
	    res->reason != NULL ? res->reason : "refused", "terminal",
	    term->device, "zone", term->zone, "failed_since",
	    (json_int_t)res->info.failed_since);

	if (d == NULL)
		return NULL;
	/* the challenge (held in memory only: this record is its trace) */
	json_object_set_new(d, "challenge_id", json_string(f->challenge_id));
	if (f->member != NULL && store_login_valid(f->member))
		json_object_set_new(d, "member", json_string(f->member));
	if (card_serial != NULL && card_serial[0] != '\0')
		json_object_set_new(d, "card_serial", json_string(card_serial));
	if (fido_key != NULL && fido_key[0] != '\0')
		json_object_set_new(d, "fido_credential", json_string(fido_key));
	if (res->counted)
		json_object_set_new(d, "counted", json_true());
	return d;
}

static void
api_login_finish(struct kagid_req *r)
{
	struct kagid *k = r->k;
	struct store_txn *t = NULL;
	struct login_finish f;
	struct kagid_term term;
	struct store_challenge ch;
	struct store_account a, m;
	struct store_member mem;
	struct store_session sess;
	struct fido_check fc;
	struct login_facts facts;
	struct login_result res;
	uint8_t tbs[LOGIN_TBS_LEN];
	char *text = NULL, card_serial[2 * STORE_SERIAL_MAX + 1];
	const char *field = NULL, *why = NULL, *owner, *object;
	size_t tlen = 0;
	int64_t now = kagi_now();
	int have_a = 0, have_m = 0, listed = 0, rc;
	json_t *o = NULL, *ll;

	memset(&f, 0, sizeof(f));
	memset(&ch, 0, sizeof(ch));
	memset(&a, 0, sizeof(a));
	memset(&m, 0, sizeof(m));
	memset(&mem, 0, sizeof(mem));
	memset(&sess, 0, sizeof(sess));
	memset(&fc, 0, sizeof(fc));
	memset(&res, 0, sizeof(res));
	card_serial[0] = '\0';
	if ((rc = store_txn_begin(k->store, 1, &t)) != 0) {
		kagid_reply_error(r, 0, rc, NULL);
		return;
	}
	/* R-TERM-1: only a registered terminal may ask */
	if ((rc = kagid_terminal_identify(r, t, &term, &why)) != 0) {
		if (rc == KAGI_ERR_DENIED)
			refuse_terminal(r, &t, r->path, why);
		else
			kagid_reply_error(r, 0, rc, NULL);
		goto out;
	}
	if ((rc = body_text(r, &text, &tlen)) != 0 ||
	    (rc = login_finish_parse(text, tlen, &f, &field)) != 0) {
		reply_err(r, rc, NULL, field);
		goto out;
	}
	object = store_login_valid(f.login) ? f.login : "";
	/* the challenge: this terminal's, this login's, unused, unexpired;
	 * single use: whatever happens next, a challenge taken is spent */
	rc = login_challenges_take(challenge_table(), f.challenge_id,
	    term.device, f.login, now, &ch, &why);
	if (rc == KAGI_ERR_NOT_FOUND) {
		rc = KAGI_ERR_EXPIRED;
		why = "challenge_unknown";
	} else if (rc != 0 && why == NULL) {
		kagid_reply_error(r, 0, rc, NULL);
		goto out;
	}
	if (rc != 0) {
		int wr;
		kagi_log_warn("event=login_refused reason=%s terminal=%s",
		    why, term.device);
		if ((wr = audit(t, r->peer, "login.refused", object,
		    kagi_err_name(rc), json_pack("{s:s, s:s, s:s, s:s}",
		    "reason", why, "terminal", term.device, "zone", term.zone,
		    "challenge_id", f.challenge_id))) != 0 ||
		    (wr = commit(&t)) != 0) {
			kagid_reply_error(r, 0, wr, NULL);
			goto out;
		}
		reply_err(r, rc, why, NULL);
		goto out;
	}
	/* old sessions go in this transaction (it always ends with an audit
	 * record, or is aborted) */
	if ((rc = store_login_sweep(t, now, SWEEP_PER_FINISH, NULL)) != 0 ||
	    (rc = login_tbs_hash(ch.challenge, f.login, tbs)) != 0) {
		kagid_reply_error(r, 0, rc, NULL);
		goto out;
	}

	memset(&facts, 0, sizeof(facts));
	facts.policy = k->policy;
	facts.zone = term.zone;
	facts.terminal = term.device;
	facts.now = now;
	facts.card = facts.fido = facts.password = LOGIN_ABSENT;
	facts.member = f.member;
	facts.priv_rc = KAGI_ERR_DENIED;

	if ((rc = store_account_get(t, object, &a)) == 0)
		have_a = 1;
	else if (rc != KAGI_ERR_NOT_FOUND && rc != KAGI_ERR_INVALID) {
		kagid_reply_error(r, 0, rc, NULL);
		goto out;
	}
	owner = object;
	if (have_a && a.kind == STORE_KIND_SHARED && f.member != NULL &&
	    store_login_valid(f.member)) {
		/* R-ID-7: the member's own card or key */
		owner = f.member;
		if ((rc = store_member_get(t, object, f.member, &mem)) == 0)
			listed = 1;
		else if (rc != KAGI_ERR_NOT_FOUND) {
			kagid_reply_error(r, 0, rc, NULL);
			goto out;
		}
		if ((rc = store_account_get(t, f.member, &m)) == 0)
			have_m = 1;
		else if (rc != KAGI_ERR_NOT_FOUND) {
			kagid_reply_error(r, 0, rc, NULL);
			goto out;
		}
	}
	facts.member_listed = listed;
	/* factors are verified only for an existing account */
	if (have_a && f.has_card) {
		if ((rc = card_verify(k, t, &f, tbs, owner, now, &facts.card,
		    &facts.card_why, card_serial)) != 0) {
			kagid_reply_error(r, 0, rc, NULL);
			goto out;
		}
	}
	if (have_a && f.has_fido) {
		if ((rc = fido_verify(k, t, &f, tbs, owner, term.zone, &fc,
		    &facts.fido, &facts.fido_why)) != 0) {
			kagid_reply_error(r, 0, rc, NULL);
			goto out;
		}
		facts.fido_uv = fc.uv;
	}
	if (have_a && f.password != NULL) {
		facts.password = kagid_pw_verify(f.password, a.pw_hash) == 0 ?
		    0 : KAGI_ERR_AUTH;
		facts.password_why = "password_wrong";
	}
	if (have_a && a.kind == STORE_KIND_PRIVILEGED) {
		facts.priv_rc = kagid_priv_check(t, object, now,
		    &facts.priv_end);
		if (facts.priv_rc != 0 && facts.priv_rc != KAGI_ERR_DENIED) {
			kagid_reply_error(r, 0, facts.priv_rc, NULL);
			goto out;
		}
	}
	(void)login_decide(&facts, have_a ? &a : NULL, have_m ? &m : NULL,
	    &res);

	/* everything it changes, and its audit records, in this txn */
	if (res.account_changed && (rc = store_account_put(t, &a)) != 0)
		goto store_fail;
	if (fc.update && (rc = store_fido_put(t, &fc.cred)) != 0)
		goto store_fail;
	if (fc.clone) {
		kagi_log_warn("event=fido_clone_suspected account=%s "
		    "credential=%s stored=%u presented=%u terminal=%s", owner,
		    fc.key, fc.cred.sign_count, fc.presented, term.device);
		if ((rc = audit(t, r->peer, "fido.clone_suspected", owner,
		    "refused", json_pack("{s:s, s:I, s:I, s:s, s:s}",
		    "credential", fc.key, "stored",
		    (json_int_t)fc.cred.sign_count, "presented",
		    (json_int_t)fc.presented, "terminal", term.device,
		    "login", object))) != 0)
			goto store_fail;
	}
	if (res.info.locked_now) {
		kagi_log_warn("event=account_locked account=%s failures=%u",
		    object, a.failed_count);
		if ((rc = audit(t, r->peer, "auth.lock", object, "locked",
		    json_pack("{s:I, s:o}", "failures",
		    (json_int_t)a.failed_count, "until",
		    jtime(a.locked_until)))) != 0)
			goto store_fail;
	}
	if (res.rc != 0 && res.rc != KAGI_ERR_MUST_CHANGE) {
		kagi_log_info("event=login_refused account=%s reason=%s "
		    "terminal=%s", object, res.reason, term.device);
		if ((rc = audit(t, r->peer, "login.refused", object,
		    kagi_err_name(res.rc), refusal_detail(&term, &f, &res,
		    card_serial, fc.key))) != 0 || (rc = commit(&t)) != 0)
			goto store_fail;
		o = json_pack("{s:s, s:s}", "error", kagi_err_name(res.rc),
		    "message", kagi_strerror(res.rc));
		if (o != NULL && res.rc != KAGI_ERR_AUTH)
			json_object_set_new(o, "reason",
			    json_string(res.reason));
		if (o != NULL && res.rc == KAGI_ERR_LOCKED)
			json_object_set_new(o, "locked_until",
			    jtime(a.locked_until));
		kagid_reply_json(r, kagi_err_http_status(res.rc), o);
		goto out;
	}
	/* a session (challenges database, "s:" records) */
	if ((rc = random_id(sess.id)) != 0)
		goto store_fail;
	sess.login = strdup(object);
	sess.member = strdup(a.kind == STORE_KIND_SHARED && f.member != NULL ?
	    f.member : "");
	sess.terminal = strdup(term.device);
	sess.zone = strdup(term.zone);
	sess.start = now;
	sess.end = res.session_end;
	if (sess.login == NULL || sess.member == NULL || sess.terminal == NULL ||
	    sess.zone == NULL) {
		rc = KAGI_ERR_NOMEM;
		goto store_fail;
	}
	{
		json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o}",
		    "terminal", term.device, "zone", term.zone,
		    "session_id", sess.id, "challenge_id", ch.id,
		    "factors", factors_json(res.factors),
		    "categories", categories_json(res.categories),
		    "session_end", jtime(res.session_end));
		if (d != NULL && sess.member[0] != '\0')
			json_object_set_new(d, "member", json_string(sess.member));
		if (d != NULL && card_serial[0] != '\0')
			json_object_set_new(d, "card_serial",
			    json_string(card_serial));
		if (d != NULL && fc.key[0] != '\0' && res.factors &
		    POLICY_FACTOR_FIDO)
			json_object_set_new(d, "fido_credential",
			    json_string(fc.key));
		if (d != NULL && res.rc == KAGI_ERR_MUST_CHANGE)
			json_object_set_new(d, "must_change",
			    json_string(res.reason));
		if ((rc = store_session_add(t, &sess)) != 0 ||
		    (rc = audit(t, r->peer, res.rc == 0 ? "login.ok" :
		    "login.must_change", object, res.rc == 0 ? "ok" :
		    "must_change", d)) != 0 || (rc = commit(&t)) != 0)
			goto store_fail;
	}
	kagi_log_info("event=login_ok account=%s terminal=%s zone=%s%s", object,
	    term.device, term.zone, res.rc == 0 ? "" : " must_change=1");
	ll = res.info.last_login != 0 ? json_pack("{s:o, s:s?}", "time",
	    jtime(res.info.last_login), "terminal",
	    res.info.last_login_terminal[0] != '\0' ?
	    res.info.last_login_terminal : NULL) : json_null();
	o = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:I}",
	    "result", res.rc == 0 ? "ok" : "must_change",
	    "session_id", sess.id,
	    "session_end", jtime(res.session_end),
	    "categories", categories_json(res.categories),
	    "last_login", ll != NULL ? ll : json_null(),
	    "last_logout", jtime(res.info.last_logout),
	    "failed_since", (json_int_t)res.info.failed_since);
	kagid_reply_json(r, 200, o);
	goto out;
store_fail:
	kagi_log_err("login finish: store: %s", kagi_err_name(rc));
	kagid_reply_error(r, 0, rc, NULL);
out:
	store_txn_abort(t);
	if (text != NULL)
		kagid_body_free(text, tlen);
	login_finish_clear(&f);
	store_challenge_clear(&ch);
	store_account_clear(&a);
	store_account_clear(&m);
	store_member_clear(&mem);
	store_session_clear(&sess);
	store_fido_clear(&fc.cred);
	kagi_wipe(tbs, sizeof(tbs));
}

/* ---- close ---- */

static void
api_login_close(struct kagid_req *r)
{
	static const char *const allowed[] = { "session_id", NULL };
	struct kagid *k = r->k;
	struct store_txn *t = NULL;
	struct store_session s;
	struct store_account a;
	struct kagid_term term;
	json_t *b = NULL;
	const char *id = NULL, *why = NULL, *field = NULL;
	int64_t now = kagi_now();
	int rc;

	memset(&s, 0, sizeof(s));
	memset(&a, 0, sizeof(a));
	if ((rc = store_txn_begin(k->store, 1, &t)) != 0) {
		kagid_reply_error(r, 0, rc, NULL);
		return;
	}
	if ((rc = kagid_terminal_identify(r, t, &term, &why)) != 0) {
		if (rc == KAGI_ERR_DENIED)
			refuse_terminal(r, &t, r->path, why);
		else
			kagid_reply_error(r, 0, rc, NULL);
		goto out;
	}
	if ((rc = body_object(r, allowed, &b, &field)) != 0) {
		reply_err(r, rc, NULL, field);
		goto out;
	}
	if (kagi_json_get_string(b, "session_id", 1, STORE_LOGIN_ID_LEN,
	    &id) != 0 || !store_login_id_valid(id)) {
		reply_err(r, KAGI_ERR_INVALID, NULL, "session_id");
		goto out;
	}
	if ((rc = store_session_get(t, id, &s)) != 0) {
		reply_err(r, rc, rc == KAGI_ERR_NOT_FOUND ? "unknown_session" :
		    NULL, NULL);
		goto out;
	}
	/* only the terminal that opened it closes it */
	if (strcmp(s.terminal, term.device) != 0) {
		reply_err(r, KAGI_ERR_NOT_FOUND, "unknown_session", NULL);
		goto out;
	}
	if (s.closed != 0) {
		/* closing twice changes nothing */
		kagid_reply_json(r, 200, json_object());
		goto out;
	}
	s.closed = now;
	if ((rc = store_session_put(t, &s)) != 0)
		goto fail;
	if ((rc = store_account_get(t, s.login, &a)) == 0) {
		a.last_logout = now;
		a.updated = now;
		if ((rc = store_account_put(t, &a)) != 0)
			goto fail;
	} else if (rc != KAGI_ERR_NOT_FOUND) {
		goto fail;
	}
	if ((rc = audit(t, r->peer, "login.close", s.login, "ok",
	    json_pack("{s:s, s:s, s:I}", "session_id", s.id, "terminal",
	    term.device, "duration_s", (json_int_t)(now - s.start)))) != 0 ||
	    (rc = commit(&t)) != 0)
		goto fail;
	kagid_reply_json(r, 200, json_object());
	goto out;
fail:
	kagi_log_err("login close: store: %s", kagi_err_name(rc));
	kagid_reply_error(r, 0, rc, NULL);
out:
	store_txn_abort(t);
	json_decref(b);
	store_session_clear(&s);
	store_account_clear(&a);
}

/* ---- password change from a terminal ---- */

static void
api_login_password(struct kagid_req *r)
{
	static const char *const allowed[] = { "login", "old", "new", NULL };
	struct kagid *k = r->k;
	struct store_txn *t = NULL;
	struct kagid_term term;
	json_t *b = NULL;
	const char *login = NULL, *old = NULL, *nw = NULL, *why = NULL;
	const char *field = NULL;
	int rc;

	if ((rc = store_txn_begin(k->store, 1, &t)) != 0) {
		kagid_reply_error(r, 0, rc, NULL);
		return;
	}
	if ((rc = kagid_terminal_identify(r, t, &term, &why)) != 0) {
		if (rc == KAGI_ERR_DENIED)
			refuse_terminal(r, &t, r->path, why);
		else
			kagid_reply_error(r, 0, rc, NULL);
		goto out;
	}
	store_txn_abort(t);
	t = NULL;
	if ((rc = body_object(r, allowed, &b, &field)) != 0) {
		reply_err(r, rc, NULL, field);
		goto out;
	}
	if (kagi_json_get_string(b, "login", 1, LOGIN_LOGIN_MAX, &login) != 0) {
		reply_err(r, KAGI_ERR_INVALID, NULL, "login");
		goto out;
	}
	if (kagi_json_get_string(b, "old", 1, KAGID_PW_MAX_BYTES, &old) != 0) {
		reply_err(r, KAGI_ERR_INVALID, NULL, "old");
		goto out;
	}
	if (kagi_json_get_string(b, "new", 1, 64 * 1024, &nw) != 0) {
		reply_err(r, KAGI_ERR_INVALID, NULL, "new");
		goto out;
	}
	/* ID-A's change: rules, history, a wrong old password counts */
	if (kagid_pw_change(r, r->peer, "login.password", login, old, nw) == 0)
		kagid_reply_json(r, 200, json_object());
out:
	store_txn_abort(t);
	json_decref(b);
}

/* ---- FIDO credentials: POST|GET|DELETE /v1/users/fido/<login> ---- */

static json_t *
cred_json(const struct store_fido *f)
{
	char key[2 * STORE_HASH_LEN + 1], aag[2 * STORE_FIDO_AAGUID_LEN + 1];
	char *id = login_b64_encode(f->cred_id, f->cred_id_len);
	json_t *o;

	if (id == NULL || store_fido_key(f->cred_id, f->cred_id_len, key) != 0) {
		free(id);
		return NULL;
	}
	kagi_hex_encode(f->aaguid, STORE_FIDO_AAGUID_LEN, aag);
	o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:o}", "account",
	    f->account, "credential_id", id, "key", key, "aaguid", aag,
	    "counter", (json_int_t)f->sign_count, "state",
	    f->state == STORE_FIDO_ACTIVE ? "active" : "disabled", "created",
	    jtime(f->created));
	free(id);
	return o;
}

static void
api_fido_add(struct kagid_req *r)
{
	static const char *const allowed[] = { "client_data_hash", "fmt",
	    "authdata", "attstmt", NULL };
	struct kagid *k = r->k;
	const struct policy_fido *pf = policy_fido(k->policy);
	const char *login = r->subpath, *fmt = NULL, *s = NULL, *field = NULL;
	struct kagid_actor ac;
	struct kagi_fido_reg_policy pol;
	struct kagi_fido_reg_input in;
	struct kagi_fido_reg reg;
	struct store_account a;
	struct store_fido rec;
	struct store_txn *t = NULL;
	uint8_t *cdh = NULL, *ad = NULL, *adc = NULL, *att = NULL;
	size_t cdh_len = 0, ad_len = 0, adc_len = 0, att_len = 0;
	json_t *b = NULL;
	int rc;

	memset(&reg, 0, sizeof(reg));
	memset(&a, 0, sizeof(a));
	memset(&rec, 0, sizeof(rec));
	if (kagid_authz_require(r, "fido.manage", login != NULL &&
	    store_login_valid(login) ? login : "", &ac) != 0)
		return;
	if (!store_login_valid(login)) {
		reply_err(r, KAGI_ERR_NOT_FOUND, "unknown_account", NULL);
		return;
	}
	if ((rc = body_object(r, allowed, &b, &field)) != 0) {
		reply_err(r, rc, NULL, field);
		goto out;
	}
	field = "client_data_hash";
	if ((rc = kagi_json_get_string(b, field, 1, 64, &s)) != 0 ||
	    (rc = login_b64_decode(s, KAGI_FIDO_CDH_LEN, &cdh,
	    &cdh_len)) != 0 || cdh_len != KAGI_FIDO_CDH_LEN)
		goto bad;
	field = "fmt";
	if ((rc = kagi_json_get_string(b, field, 1, 32, &fmt)) != 0)
		goto bad;
	field = "authdata";
	if ((rc = kagi_json_get_string(b, field, 1, 4 * KAGI_FIDO_AUTHDATA_MAX,
	    &s)) != 0 || (rc = login_b64_decode(s, KAGI_FIDO_AUTHDATA_MAX, &ad,
	    &ad_len)) != 0 || (rc = login_fido_authdata_cbor(ad, ad_len, &adc,
	    &adc_len)) != 0)
		goto bad;
	field = "attstmt";
	if ((rc = kagi_json_get_string(b, field, 1, 4 * KAGI_FIDO_ATTSTMT_MAX,
	    &s)) != 0 || (rc = login_b64_decode(s, KAGI_FIDO_ATTSTMT_MAX, &att,
	    &att_len)) != 0)
		goto bad;
	memset(&pol, 0, sizeof(pol));
	pol.rp_id = pf->rp_id;
	pol.require_uv = 0;
	pol.allow_self_attestation = pf->self_attestation;
	pol.aaguids = pf->aaguids;
	pol.n_aaguids = pf->n_aaguids;
	pol.insecure_any_aaguid = pf->insecure_any_aaguid;
	memset(&in, 0, sizeof(in));
	in.cdh = cdh;
	in.cdh_len = cdh_len;
	in.fmt = fmt;
	in.authdata = adc;
	in.authdata_len = adc_len;
	in.attstmt = att;
	in.attstmt_len = att_len;
	if ((rc = store_txn_begin(k->store, 1, &t)) != 0) {
		kagid_reply_error(r, 0, rc, NULL);
		goto out;
	}
	if ((rc = store_account_get(t, login, &a)) != 0) {
		reply_err(r, rc, rc == KAGI_ERR_NOT_FOUND ? "unknown_account" :
		    NULL, NULL);
		goto out;
	}
	if (a.state != STORE_ACCT_ACTIVE) {
		reply_err(r, KAGI_ERR_DENIED, "account_disabled", NULL);
		goto out;
	}
	if ((rc = kagi_fido_cred_check(&pol, &in, &reg)) != 0) {
		const char *why = rc == KAGI_ERR_DENIED ? "fido_not_acceptable" :
		    rc == KAGI_ERR_SIG ? "fido_attestation_signature" :
		    "fido_malformed";
		store_txn_abort(t);
		t = NULL;
		audit_alone(k, ac.id, "fido.add", login, kagi_err_name(rc),
		    json_pack("{s:s}", "reason", why));
		reply_err(r, rc, why, NULL);
		goto out;
	}
	rec.cred_id = reg.cred_id;
	rec.cred_id_len = reg.cred_id_len;
	rec.account = a.login;
	rec.cose_key = reg.cose_key;
	rec.cose_key_len = sizeof(reg.cose_key);
	rec.sign_count = reg.counter;
	memcpy(rec.aaguid, reg.aaguid, STORE_FIDO_AAGUID_LEN);
	rec.state = STORE_FIDO_ACTIVE;
	rec.created = kagi_now();
	{
		char key[2 * STORE_HASH_LEN + 1], aag[33];
		json_t *o;
		if ((rc = store_fido_key(rec.cred_id, rec.cred_id_len,
		    key)) != 0)
			goto fail;
		kagi_hex_encode(rec.aaguid, STORE_FIDO_AAGUID_LEN, aag);
		if ((rc = store_fido_add(t, &rec)) != 0) {
			if (rc == KAGI_ERR_EXISTS) {
				reply_err(r, rc, "fido_credential_exists",
				    NULL);
				goto out;
			}
			goto fail;
		}
		if ((rc = audit(t, ac.id, "fido.add", login, "ok",
		    json_pack("{s:s, s:s, s:b, s:I}", "credential", key,
		    "aaguid", aag, "attested", reg.attested, "counter",
		    (json_int_t)reg.counter))) != 0 ||
		    (rc = commit(&t)) != 0)
			goto fail;
		kagi_log_info("event=fido.add account=%s credential=%s "
		    "aaguid=%s", login, key, aag);
		o = cred_json(&rec);
		kagid_reply_json(r, 201, o);
	}
	goto out;
bad:
	reply_err(r, rc == KAGI_ERR_NOT_FOUND ? KAGI_ERR_INVALID : rc, NULL,
	    field);
	goto out;
fail:
	kagid_reply_error(r, 0, rc, NULL);
out:
	store_txn_abort(t);
	json_decref(b);
	free(cdh);
	free(ad);
	free(adc);
	free(att);
	kagi_fido_reg_clear(&reg);
	store_account_clear(&a);
}

struct list_ctx {
	json_t *a;
	int err;
};

static int
list_cb(const struct store_fido *f, void *arg)
{
	struct list_ctx *l = arg;
	json_t *o = cred_json(f);

	if (o == NULL || json_array_append_new(l->a, o) != 0) {
		l->err = KAGI_ERR_NOMEM;
		return 1;
	}
	return 0;
}

static void
api_fido_list(struct kagid_req *r)
{
	const char *login = r->subpath;
	struct kagid_actor ac;
	struct store_txn *t = NULL;
	struct list_ctx l = { NULL, 0 };
	int rc;

	if (kagid_authz_require(r, "user.show", login != NULL &&
	    store_login_valid(login) ? login : "", &ac) != 0)
		return;
	if (!store_login_valid(login)) {
		reply_err(r, KAGI_ERR_NOT_FOUND, "unknown_account", NULL);
		return;
	}
	if ((l.a = json_array()) == NULL) {
		kagid_reply_error(r, 0, KAGI_ERR_NOMEM, NULL);
		return;
	}
	if ((rc = store_txn_begin(r->k->store, 0, &t)) == 0)
		rc = store_fido_iter(t, login, list_cb, &l);
	store_txn_abort(t);
	if (rc == 0 && l.err != 0)
		rc = l.err;
	if (rc != 0) {
		json_decref(l.a);
		kagid_reply_error(r, 0, rc, NULL);
		return;
	}
	kagid_reply_json(r, 200, json_pack("{s:o}", "credentials", l.a));
}

struct find_ctx {
	const char *key;
	struct store_fido found;
	int hit;
};

static int
find_cb(const struct store_fido *f, void *arg)
{
	struct find_ctx *c = arg;
	char key[2 * STORE_HASH_LEN + 1];

	if (store_fido_key(f->cred_id, f->cred_id_len, key) != 0 ||
	    strcmp(key, c->key) != 0)
		return 0;
	if ((c->found.cred_id = malloc(f->cred_id_len)) == NULL)
		return KAGI_ERR_NOMEM;
	memcpy(c->found.cred_id, f->cred_id, f->cred_id_len);
	c->found.cred_id_len = f->cred_id_len;
	c->hit = 1;
	return 1;
}

static void
api_fido_remove(struct kagid_req *r)
{
	const char *login = r->subpath;
	struct kagid_actor ac;
	struct store_txn *t = NULL;
	struct evkeyvalq q;
	struct find_ctx fc;
	const char *key = NULL;
	int rc;

	memset(&fc, 0, sizeof(fc));
	TAILQ_INIT(&q);
	if (kagid_authz_require(r, "fido.manage", login != NULL &&
	    store_login_valid(login) ? login : "", &ac) != 0)
		return;
	if (!store_login_valid(login)) {
		reply_err(r, KAGI_ERR_NOT_FOUND, "unknown_account", NULL);
		return;
	}
	if (r->query == NULL || evhttp_parse_query_str(r->query, &q) != 0 ||
	    (key = evhttp_find_header(&q, "key")) == NULL ||
	    strlen(key) != 2 * STORE_HASH_LEN) {
		reply_err(r, KAGI_ERR_INVALID, NULL, "key");
		goto out;
	}
	for (const char *p = key; *p != '\0'; p++) {
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) {
			reply_err(r, KAGI_ERR_INVALID, NULL, "key");
			goto out;
		}
	}
	fc.key = key;
	if ((rc = store_txn_begin(r->k->store, 1, &t)) != 0 ||
	    (rc = store_fido_iter(t, login, find_cb, &fc)) != 0)
		goto fail;
	if (!fc.hit) {
		reply_err(r, KAGI_ERR_NOT_FOUND, "unknown_credential", NULL);
		goto out;
	}
	if ((rc = store_fido_del(t, fc.found.cred_id,
	    fc.found.cred_id_len)) != 0 ||
	    (rc = audit(t, ac.id, "fido.remove", login, "ok",
	    json_pack("{s:s}", "credential", key))) != 0 ||
	    (rc = commit(&t)) != 0)
		goto fail;
	kagi_log_info("event=fido.remove account=%s credential=%s", login,
	    key);
	kagid_reply_json(r, 200, json_object());
	goto out;
fail:
	kagid_reply_error(r, 0, rc, NULL);
out:
	store_txn_abort(t);
	evhttp_clear_headers(&q);
	free(fc.found.cred_id);
}

const struct kagid_route kagid_login_routes[] = {
	{ "/v1/login/begin", "POST", api_login_begin, TR_TLS, 0 },
	{ "/v1/login/finish", "POST", api_login_finish, TR_TLS, 0 },
	{ "/v1/login/close", "POST", api_login_close, TR_TLS, 0 },
	{ "/v1/login/password", "POST", api_login_password, TR_TLS, 0 },
	{ "/v1/users/fido/", "POST", api_fido_add, KAGID_TR_API, 1 },
	{ "/v1/users/fido/", "GET", api_fido_list, KAGID_TR_API, 1 },
	{ "/v1/users/fido/", "DELETE", api_fido_remove, KAGID_TR_API, 1 },
	{ NULL, NULL, NULL, 0, 0 },
};
