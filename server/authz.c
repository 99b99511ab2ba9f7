/*
 * Who is calling, and may they do this action?  (server_int.h
 * kagid_authz; docs/ACCOUNTS.md "Operators and roles".)
 *
 * - Local socket, root or kagid's own user: the local administrator, every
 *   role (the person with a shell on the server can read the store anyway).
 * - Local socket, another user (admitted by the socket's group): the
 *   account whose login is that user name.
 * - HTTPS: the account named by the client certificate's CN (the
 *   certificate already chained to tls_client_ca in the handshake).
 * The account must be active, not past its end date, and hold one of the
 * roles policy.ini [roles] names for the action.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "kagi/json.h"
#include "kagi/log.h"
#include "kagi/policy.h"
#include "kagi/store.h"
#include "kagi/util.h"
#include "server_int.h"

/* The CN of the verified TLS client certificate (exactly one). */
/* Was x signed by a certificate in tls_client_ca (the bootstrap TLS CA)? */
static int
issued_by_tls_ca(struct kagid *k, X509 *x)
{
	STACK_OF(X509_INFO) *infos = NULL;
	BIO *bio = NULL;
	int ok = 0;

	if (k->tls_client_ca == NULL ||
	    (bio = BIO_new_file(k->tls_client_ca, "r")) == NULL ||
	    (infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL)) == NULL)
		goto out;
	for (int i = 0; i < sk_X509_INFO_num(infos) && !ok; i++) {
		X509_INFO *xi = sk_X509_INFO_value(infos, i);
		EVP_PKEY *pk;

		if (xi->x509 == NULL ||
		    X509_check_issued(xi->x509, x) != X509_V_OK ||
		    (pk = X509_get0_pubkey(xi->x509)) == NULL)
			continue;
		ok = X509_verify(x, pk) == 1;
	}
out:
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(bio);
	return ok;
}

static int
peer_cn(struct kagid_req *r, char *cn, size_t len)
{
	struct evhttp_connection *conn;
	struct bufferevent *bev;
	X509_NAME *name;
	X509 *x;
	SSL *ssl;
	int i, n;

	cn[0] = '\0';
	if ((conn = evhttp_request_get_connection(r->req)) == NULL ||
	    (bev = evhttp_connection_get_bufferevent(conn)) == NULL ||
	    (ssl = bufferevent_openssl_get_ssl(bev)) == NULL ||
	    (x = SSL_get0_peer_certificate(ssl)) == NULL ||
	    SSL_get_verify_result(ssl) != X509_V_OK)
		return KAGI_ERR_DENIED;
	/*
	 * Only the bootstrap TLS CA issues operator certificates.  Terminal
	 * and staff certificates from our own CA also pass the handshake
	 * (they are for the login API); they never name an operator.
	 */
	if (!issued_by_tls_ca(r->k, x))
		return KAGI_ERR_DENIED;
	name = X509_get_subject_name(x);
	if ((i = X509_NAME_get_index_by_NID(name, NID_commonName, -1)) < 0 ||
	    X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
		return KAGI_ERR_DENIED;
	n = X509_NAME_get_text_by_NID(name, NID_commonName, cn, (int)len);
	if (n <= 0 || (size_t)n >= len || strlen(cn) != (size_t)n) {
		cn[0] = '\0';
		return KAGI_ERR_DENIED;
	}
	return 0;
}

/*
 * An operator at the counter (issue 6): a registered terminal's
 * certificate (kagid_terminal_identify) and "Kagi-Operator-Session: ID",
 * a kagid login session opened with the operator's own staff card on that
 * same terminal (kagi login), not closed, not past its privileged window's
 * end and younger than KAGID_OPERATOR_SESSION_MAX.  The login of the
 * session is the operator; roles come from the account as for any
 * operator.  0 with login and the terminal's device id, else DENIED.
 */
static int
operator_session(struct kagid_req *r, char *login, size_t llen, char *dev,
    size_t dlen)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(r->req);
	const char *id = h != NULL ? evhttp_find_header(h,
	    "Kagi-Operator-Session") : NULL;
	struct store_txn *t = NULL;
	struct store_session ses;
	struct kagid_term term;
	const char *why = NULL;
	int64_t now = kagi_now();
	int rc = KAGI_ERR_DENIED;

	memset(&ses, 0, sizeof(ses));
	login[0] = dev[0] = '\0';
	if (id == NULL || !store_login_id_valid(id))
		return KAGI_ERR_DENIED;
	if (store_txn_begin(r->k->store, 0, &t) != 0)
		return KAGI_ERR_DENIED;
	if (kagid_terminal_identify(r, t, &term, &why) != 0) {
		kagi_log_warn("event=operator_session_refused reason=%s",
		    why != NULL ? why : "store");
		goto out;
	}
	if (store_session_get(t, id, &ses) != 0) {
		why = "unknown";
	} else if (ses.terminal == NULL || strcmp(ses.terminal,
	    term.device) != 0) {
		why = "other_terminal";
	} else if (ses.closed != 0) {
		why = "closed";
	} else if ((ses.end != 0 && now >= ses.end) ||
	    now - ses.start > KAGID_OPERATOR_SESSION_MAX) {
		why = "expired";
	} else if (ses.member != NULL && ses.member[0] != '\0') {
		why = "shared_id";  /* a person, not a shared ID, operates */
	} else if (ses.login == NULL || strlen(ses.login) >= llen) {
		why = "login";
	} else {
		snprintf(login, llen, "%s", ses.login);
		snprintf(dev, dlen, "%s", term.device);
		rc = 0;
	}
	if (rc != 0)
		kagi_log_warn("event=operator_session_refused reason=%s "
		    "terminal=%s", why, term.device);
out:
	store_session_clear(&ses);
	store_txn_abort(t);
	return rc;
}

/* Roles of an operator account; 0 if it may not act at all. */
static uint32_t
account_roles(struct kagid *k, const char *login, int64_t now)
{
	struct store_txn *t = NULL;
	struct store_account a;
	uint32_t roles = 0;

	memset(&a, 0, sizeof(a));
	if (!store_login_valid(login))
		return 0;
	if (store_txn_begin(k->store, 0, &t) != 0)
		return 0;
	if (store_account_get(t, login, &a) == 0 &&
	    a.state == STORE_ACCT_ACTIVE &&
	    (a.end_date == 0 || now < a.end_date))
		roles = a.roles & POLICY_ROLE_ALL;
	store_account_clear(&a);
	store_txn_abort(t);
	return roles;
}

int
kagid_authz(struct kagid_req *r, const char *action, struct kagid_actor *out)
{
	uint32_t need = 0;
	char cn[64], term[80];
	const char *login = NULL, *via = NULL;

	if (out == NULL)
		return KAGI_ERR_DENIED;
	memset(out, 0, sizeof(*out));
	if (r == NULL || action == NULL)
		return KAGI_ERR_DENIED;
	snprintf(out->id, sizeof(out->id), "%s", r->peer);
	if (policy_action_roles(r->k->policy, action, &need) != 0) {
		/* a handler asking for an action the table lacks: a bug */
		kagi_log_err("authz: unknown action %s", action);
		return KAGI_ERR_DENIED;
	}
	switch (r->lx->transport) {
	case KAGID_TR_UNIX: {
		json_t *u = json_object_get(r->whoami, "uid");
		if (!json_is_integer(u))
			return KAGI_ERR_DENIED;
		if (json_integer_value(u) == 0 ||
		    json_integer_value(u) == (json_int_t)geteuid()) {
			out->local_admin = 1;
			out->roles = POLICY_ROLE_ALL;
			return 0;
		}
		login = json_string_value(json_object_get(r->whoami, "user"));
		break;
	}
	case KAGID_TR_HTTPS:
		if (peer_cn(r, cn, sizeof(cn)) == 0)
			login = cn;
		else if (operator_session(r, cn, sizeof(cn), term,
		    sizeof(term)) == 0) {
			login = cn;
			via = term;
		}
		break;
	default:
		return KAGI_ERR_DENIED;
	}
	if (login == NULL || !store_login_valid(login))
		return KAGI_ERR_DENIED;
	/* store_login_valid() bounds the login below sizeof(out->login). */
	if (strlen(login) >= sizeof(out->login))
		return KAGI_ERR_DENIED;
	memcpy(out->login, login, strlen(login) + 1);
	out->roles = account_roles(r->k, login, kagi_now());
	if (out->roles != 0 && via != NULL)
		snprintf(out->id, sizeof(out->id), "card:%s@%s (%s)",
		    out->login, via, out->login);
	else if (out->roles != 0)
		snprintf(out->id, sizeof(out->id), "%.250s (%s)", r->peer,
		    out->login);
	return (out->roles & need) != 0 ? 0 : KAGI_ERR_DENIED;
}

/* The role names in mask as a JSON array. */
json_t *
kagid_roles_json(uint32_t mask)
{
	json_t *a = json_array();

	for (uint32_t b = 1; a != NULL && b <= POLICY_ROLE_HR; b <<= 1)
		if ((mask & b) && policy_role_name(b) != NULL)
			json_array_append_new(a, json_string(policy_role_name(b)));
	return a;
}

int
kagid_authz_require(struct kagid_req *r, const char *action,
    const char *object, struct kagid_actor *out)
{
	struct store_txn *t = NULL;
	uint32_t need = 0;
	json_t *needs = NULL, *d = NULL, *o = NULL;
	char *detail = NULL;
	int rc, ar;

	if ((rc = kagid_authz(r, action, out)) == 0)
		return 0;
	if (policy_action_roles(r->k->policy, action, &need) != 0)
		need = 0;
	needs = kagid_roles_json(need);
	d = json_pack("{s:s, s:O?}", "reason", out->roles == 0 ?
	    "no operator roles" : "role", "needs", needs);
	detail = d != NULL ? kagi_json_dump(d) : NULL;
	/* the refusal is audited (R-LOG-1) in its own transaction */
	ar = store_txn_begin(r->k->store, 1, &t);
	if (ar == 0)
		ar = store_audit_append(t, kagi_now(), out->id, action,
		    object != NULL ? object : "", "denied",
		    detail != NULL ? detail : "", NULL);
	if (ar == 0) {
		ar = store_txn_commit(t);
		t = NULL;
	}
	store_txn_abort(t);
	if (ar != 0)
		kagi_log_err("event=audit_append_failed action=%s err=%s",
		    action, kagi_err_name(ar));
	kagi_log_warn("event=authz_denied action=%s actor=\"%s\"", action,
	    out->id);
	o = json_pack("{s:s, s:s, s:s, s:O?}", "error",
	    kagi_err_name(KAGI_ERR_DENIED), "message",
	    kagi_strerror(KAGI_ERR_DENIED), "action", action, "needs", needs);
	kagid_reply_json(r, 403, o);
	free(detail);
	json_decref(d);
	json_decref(needs);
	return KAGI_ERR_DENIED;
}
