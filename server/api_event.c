/*
 * Session events from a terminal (issue 6; docs/API.md "Terminal login"):
 *   POST /v1/login/event {"session_id", "event": "card_removed"|"window_end",
 *                         "action": "lock"|"end", "result": "ok"|"failed"}
 *        -> {}
 * kagi-cardd reports what it did when the card of a logged-in session was
 * removed (R-CARD-2) or a privileged window's end was reached (R-LOGIN-3).
 * Only the terminal that opened the session may report on it, identified
 * exactly as for /v1/login/... (R-TERM-1): a TLS peer whose certificate is,
 * byte for byte, a current, active "terminal" certificate of an active
 * terminal record in the zone its policy OID names.  The audit record
 * ("login.card_removed" / "login.window_end") and the state change (a
 * window end that ended the session closes it) are one transaction.
 *
 * The terminal is identified by api_login.c's kagid_terminal_identify.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <jansson.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "kagi/json.h"
#include "kagi/log.h"
#include "kagi/policy.h"
#include "kagi/store.h"
#include "kagi/util.h"
#include "ca_service.h"
#include "server_int.h"

#define TR_TLS (1u << KAGID_TR_HTTPS)

static int
ev_audit(struct store_txn *t, const char *actor, const char *action,
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
ev_reply_err(struct kagid_req *r, int rc, const char *reason,
    const char *field)
{
	json_t *o = json_pack("{s:s, s:s}", "error", kagi_err_name(rc),
	    "message", kagi_strerror(rc));

	if (o != NULL && reason != NULL)
		json_object_set_new(o, "reason", json_string(reason));
	if (o != NULL && field != NULL)
		json_object_set_new(o, "field", json_string(field));
	kagid_reply_json(r, kagi_err_http_status(rc), o);
}

/* One of the allowed words, or NULL. */
static const char *
ev_word(const json_t *b, const char *key, const char *a, const char *c)
{
	const char *s = NULL;

	if (kagi_json_get_string(b, key, 1, 16, &s) != 0)
		return NULL;
	if (strcmp(s, a) == 0)
		return a;
	if (strcmp(s, c) == 0)
		return c;
	return NULL;
}

static void
api_login_event(struct kagid_req *r)
{
	static const char *const allowed[] = { "session_id", "event",
		"action", "result", NULL };
	struct kagid *k = r->k;
	struct store_txn *t = NULL;
	struct store_session s;
	struct store_account a;
	struct kagid_term term;
	json_t *b = NULL;
	const char *id = NULL, *why = NULL, *event, *action, *result, *key;
	const char *audit_action;
	char err[160];
	int64_t now = kagi_now();
	int rc, closed = 0;

	memset(&s, 0, sizeof(s));
	memset(&a, 0, sizeof(a));
	if ((rc = store_txn_begin(k->store, 1, &t)) != 0) {
		kagid_reply_error(r, 0, rc, NULL);
		return;
	}
	if ((rc = kagid_terminal_identify(r, t, &term, &why)) != 0) {
		if (rc != KAGI_ERR_DENIED) {
			kagid_reply_error(r, 0, rc, NULL);
			goto out;
		}
		kagi_log_warn("event=login_terminal_refused reason=%s peer=%s",
		    why, r->peer);
		if ((rc = ev_audit(t, r->peer, "login.terminal_refused", "",
		    "denied", json_pack("{s:s, s:s}", "reason", why, "path",
		    r->path))) == 0) {
			rc = store_txn_commit(t);
			t = NULL;
		}
		if (rc != 0)
			kagi_log_err("event=audit_append_failed "
			    "action=login.terminal_refused err=%s",
			    kagi_err_name(rc));
		ev_reply_err(r, KAGI_ERR_DENIED, why, NULL);
		goto out;
	}
	if ((rc = kagid_read_json_body(r, KAGID_BODY_REQUIRED, &b, err,
	    sizeof(err))) != 0) {
		kagid_reply_error(r, 0, rc, err[0] != '\0' ? err : NULL);
		goto out;
	}
	if ((key = kagi_json_unknown_key(b, allowed)) != NULL) {
		ev_reply_err(r, KAGI_ERR_INVALID, "unknown_field", key);
		goto out;
	}
	if (kagi_json_get_string(b, "session_id", 1, STORE_LOGIN_ID_LEN,
	    &id) != 0 || !store_login_id_valid(id)) {
		ev_reply_err(r, KAGI_ERR_INVALID, NULL, "session_id");
		goto out;
	}
	if ((event = ev_word(b, "event", "card_removed", "window_end")) ==
	    NULL) {
		ev_reply_err(r, KAGI_ERR_INVALID, NULL, "event");
		goto out;
	}
	if ((action = ev_word(b, "action", "lock", "end")) == NULL) {
		ev_reply_err(r, KAGI_ERR_INVALID, NULL, "action");
		goto out;
	}
	if ((result = ev_word(b, "result", "ok", "failed")) == NULL) {
		ev_reply_err(r, KAGI_ERR_INVALID, NULL, "result");
		goto out;
	}
	if ((rc = store_session_get(t, id, &s)) != 0) {
		ev_reply_err(r, rc, rc == KAGI_ERR_NOT_FOUND ?
		    "unknown_session" : NULL, NULL);
		goto out;
	}
	/* only the terminal that opened it reports on it */
	if (s.terminal == NULL || strcmp(s.terminal, term.device) != 0) {
		ev_reply_err(r, KAGI_ERR_NOT_FOUND, "unknown_session", NULL);
		goto out;
	}
	audit_action = strcmp(event, "card_removed") == 0 ?
	    "login.card_removed" : "login.window_end";
	/* an action that ended the session closes it (as /login/close): a
	 * window end, or an operator's counter card pulled out */
	if (strcmp(action, "end") == 0 && strcmp(result, "ok") == 0 &&
	    s.closed == 0) {
		s.closed = now;
		closed = 1;
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
	}
	if ((rc = ev_audit(t, r->peer, audit_action, s.login,
	    strcmp(result, "ok") == 0 ? "ok" : "failed",
	    json_pack("{s:s, s:s, s:s, s:b, s:I}", "session_id", s.id,
	    "terminal", term.device, "action", action, "closed", closed,
	    "session_start", (json_int_t)s.start))) != 0)
		goto fail;
	rc = store_txn_commit(t);
	t = NULL;
	if (rc != 0)
		goto fail;
	kagi_log_info("event=%s session=%s login=%s terminal=%s action=%s "
	    "result=%s", audit_action, s.id, s.login, term.device, action,
	    result);
	kagid_reply_json(r, 200, json_object());
	goto out;
fail:
	kagi_log_err("login event: store: %s", kagi_err_name(rc));
	kagid_reply_error(r, 0, rc, NULL);
out:
	store_txn_abort(t);
	json_decref(b);
	store_session_clear(&s);
	store_account_clear(&a);
}

const struct kagid_route kagid_event_routes[] = {
	{ "/v1/login/event", "POST", api_login_event, TR_TLS, 0 },
	{ NULL, NULL, NULL, 0, 0 },
};
