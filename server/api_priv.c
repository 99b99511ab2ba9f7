/*
 * Privileged windows (R-PRIV-1, R-PRIV-2, R-PRIV-7, R-ID-3): a privileged
 * account may be used only inside a window that one operator requested and
 * another approved.  Endpoints (docs/API.md "Privileged windows"):
 *
 *   POST /v1/priv/request  {account, duration, reason, [start], [delegate]}
 *   POST /v1/priv/approve  {id}      approver != requester; delegate: CISO
 *   POST /v1/priv/deny     {id}
 *   POST /v1/priv/revoke   {id}
 *   GET  /v1/priv/list     [?account=A&state=S]
 *
 * The decisions are pure functions with `now` passed in
 * (priv_window_open, priv_check_approve); the login path asks
 * kagid_priv_check.  Every change and every refusal is audited.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "kagi/json.h"
#include "kagi/log.h"
#include "kagi/policy.h"
#include "kagi/store.h"
#include "kagi/util.h"
#include "server_int.h"

/* A start this far in the past is taken as "now" (clock skew). */
#define PRIV_START_SLACK 300
/* Windows may be requested at most this far ahead. */
#define PRIV_START_AHEAD (90 * 86400)

/* ---- pure decisions ---- */

int
priv_window_open(const struct store_grant *g, size_t n, int64_t now,
    int64_t *end)
{
	int64_t best = 0;
	int found = 0;

	if (end != NULL)
		*end = 0;
	if (end == NULL || (g == NULL && n > 0))
		return KAGI_ERR_INVALID;
	for (size_t i = 0; i < n; i++) {
		if (g[i].state != STORE_GRANT_APPROVED)
			continue;
		/* open on [start, end): at `end` the window is closed */
		if (now < g[i].start || now >= g[i].end)
			continue;
		if (!found || g[i].end > best)
			best = g[i].end;
		found = 1;
	}
	if (!found)
		return KAGI_ERR_DENIED;
	*end = best;
	return 0;
}

int
priv_check_approve(const struct store_grant *g, const char *approver,
    uint32_t approver_roles, const struct policy_privileged *pp,
    int64_t now, const char **why)
{
	int64_t max;

	if (why != NULL)
		*why = "invalid";
	if (g == NULL || approver == NULL || pp == NULL)
		return KAGI_ERR_INVALID;
	if (g->state != STORE_GRANT_REQUESTED) {
		if (why != NULL)
			*why = "not_requested";
		return KAGI_ERR_CONFLICT;
	}
	/* R-ID-3: the applicant never approves their own request */
	if (g->requester == NULL || strcmp(g->requester, approver) == 0) {
		if (why != NULL)
			*why = "self_approval";
		return KAGI_ERR_DENIED;
	}
	/* R-PRIV-2: a 代行者 grant is approved by the CISO */
	if (g->delegate && !(approver_roles & POLICY_ROLE_CISO)) {
		if (why != NULL)
			*why = "delegate_needs_ciso";
		return KAGI_ERR_DENIED;
	}
	max = g->delegate ? pp->max_window_delegate : pp->max_window;
	if (g->end - g->start > max || g->end <= g->start) {
		if (why != NULL)
			*why = "too_long";
		return KAGI_ERR_LIMIT;
	}
	if (g->end <= now) {
		if (why != NULL)
			*why = "window_over";
		return KAGI_ERR_EXPIRED;
	}
	if (why != NULL)
		*why = "ok";
	return 0;
}

struct grant_vec {
	struct store_grant *g;
	size_t n, cap;
	int err;
};

static int
grant_collect(const struct store_grant *g, void *arg)
{
	struct grant_vec *v = arg;
	struct store_grant c;

	if (g->state != STORE_GRANT_APPROVED)
		return 0;
	if (v->n == v->cap) {
		size_t nc = v->cap ? 2 * v->cap : 8;
		struct store_grant *ng = realloc(v->g, nc * sizeof(*ng));
		if (ng == NULL)
			return KAGI_ERR_NOMEM;
		v->g = ng;
		v->cap = nc;
	}
	/* only the fields the decision reads */
	memset(&c, 0, sizeof(c));
	c.state = g->state;
	c.start = g->start;
	c.end = g->end;
	v->g[v->n++] = c;
	return 0;
}

int
kagid_priv_check(struct store_txn *t, const char *login, int64_t now,
    int64_t *session_end)
{
	struct store_account a;
	struct grant_vec v;
	int64_t end = 0;
	int r = KAGI_ERR_INTERNAL;

	memset(&a, 0, sizeof(a));
	memset(&v, 0, sizeof(v));
	if (session_end != NULL)
		*session_end = 0;
	if (t == NULL || login == NULL || session_end == NULL)
		return KAGI_ERR_INVALID;
	if ((r = store_account_get(t, login, &a)) != 0)
		goto out;
	if (a.kind != STORE_KIND_PRIVILEGED) {
		r = 0;
		goto out;
	}
	if ((r = store_grant_iter(t, login, grant_collect, &v)) != 0)
		goto out;
	if ((r = priv_window_open(v.g, v.n, now, &end)) != 0) {
		kagi_log_info("event=priv_login_outside_window account=%s",
		    login);
		goto out;
	}
	*session_end = end;
	r = 0;
out:
	free(v.g);
	store_account_clear(&a);
	return r;
}

/* ---- handlers ---- */

/* One audit record in its own transaction (refusals, reads). */
static void
audit_alone(struct kagid *k, const char *actor, const char *action,
    const char *object, const char *outcome, const json_t *detail)
{
	struct store_txn *t = NULL;
	char *d = detail != NULL ? kagi_json_dump(detail) : NULL;
	int rc;

	rc = store_txn_begin(k->store, 1, &t);
	if (rc == 0)
		rc = store_audit_append(t, kagi_now(), actor, action, object,
		    outcome, d != NULL ? d : "", NULL);
	if (rc == 0) {
		rc = store_txn_commit(t);
		t = NULL;
	}
	store_txn_abort(t);
	if (rc != 0)
		kagi_log_err("event=audit_append_failed action=%s err=%s",
		    action, kagi_err_name(rc));
	free(d);
}

/* The caller's roles for action; a refusal is audited and answered 403
 * by kagid_authz_require. */
static int
authorise(struct kagid_req *r, const char *action, const char *object,
    struct kagid_actor *a)
{
	memset(a, 0, sizeof(*a));
	return kagid_authz_require(r, action, object, a);
}

/* The identity compared for R-ID-3: the operator account, else the peer. */
static const char *
identity(const struct kagid_actor *a)
{
	return a->login[0] != '\0' ? a->login : a->id;
}

static json_t *
time_json(int64_t t)
{
	char buf[64];

	if (t == 0 || kagi_time_format_utc(t, buf, sizeof(buf)) != 0)
		return json_null();
	return json_string(buf);
}

static json_t *
grant_json(const struct store_grant *g)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:o, s:o, s:I, s:s,"
	    " s:o, s:o}",
	    "id", g->id, "account", g->account,
	    "state", store_grant_state_name(g->state),
	    "requester", g->requester, "approver", g->approver,
	    "delegate", g->delegate ? 1 : 0,
	    "start", time_json(g->start), "end", time_json(g->end),
	    "duration", (json_int_t)(g->end - g->start),
	    "reason", g->reason,
	    "created", time_json(g->created),
	    "decided", time_json(g->decided));
}

static void
reply_store_err(struct kagid_req *r, int rc, const char *what)
{
	kagi_log_err("priv: %s: %s", what, kagi_err_name(rc));
	kagid_reply_error(r, 0, rc, NULL);
}

static int
new_grant_id(char out[STORE_GRANT_ID_LEN + 1])
{
	uint8_t b[STORE_GRANT_ID_LEN / 2];
	int r;

	if ((r = kagi_random_bytes(b, sizeof(b))) != 0)
		return r;
	kagi_hex_encode(b, sizeof(b), out);
	return 0;
}

static void
api_priv_request(struct kagid_req *r)
{
	struct kagid *k = r->k;
	struct kagid_actor actor;
	struct store_txn *t = NULL;
	struct store_account a;
	struct store_grant g;
	const struct policy_privileged *pp = policy_privileged(k->policy);
	const char *account = NULL, *reason = NULL, *start_s = NULL;
	json_t *body = NULL, *det = NULL;
	char err[256], id[STORE_GRANT_ID_LEN + 1];
	int64_t now = kagi_now(), duration = 0, start, max;
	int delegate = 0, rc, tries;

	memset(&a, 0, sizeof(a));
	memset(&g, 0, sizeof(g));
	if (authorise(r, "priv.request", NULL, &actor) != 0)
		return;
	if ((rc = kagid_read_json_body(r, KAGID_BODY_REQUIRED, &body, err,
	    sizeof(err))) != 0) {
		kagid_reply_error(r, 400, rc, err[0] ? err : NULL);
		return;
	}
	if (kagi_json_get_string(body, "account", 1, 32, &account) != 0 ||
	    kagi_json_get_int(body, "duration", 1, 1, INT32_MAX,
	    &duration) != 0 ||
	    kagi_json_get_string(body, "reason", 1, STORE_GRANT_REASON_MAX,
	    &reason) != 0 ||
	    kagi_json_get_string(body, "start", 0, 64, &start_s) != 0 ||
	    kagi_json_get_bool(body, "delegate", 0, &delegate) != 0) {
		kagid_reply_error(r, 400, KAGI_ERR_FORMAT, "fields: account "
		    "(string), duration (seconds), reason (string), "
		    "[start (RFC 3339)], [delegate (bool)]");
		goto out;
	}
	if (reason[0] == '\0') {
		kagid_reply_error(r, 400, KAGI_ERR_INVALID,
		    "a reason is required");
		goto out;
	}
	start = now;
	if (start_s != NULL) {
		if (kagi_time_parse(start_s, &start) != 0) {
			kagid_reply_error(r, 400, KAGI_ERR_INVALID,
			    "start: not an RFC 3339 time");
			goto out;
		}
		if (start < now - PRIV_START_SLACK ||
		    start > now + PRIV_START_AHEAD) {
			kagid_reply_error(r, 400, KAGI_ERR_INVALID,
			    "start: in the past or more than 90 days ahead");
			goto out;
		}
		if (start < now)
			start = now;
	}
	/* R-PRIV-7: never longer than policy allows */
	max = delegate ? pp->max_window_delegate : pp->max_window;
	if (duration > max) {
		char d[160];
		snprintf(d, sizeof(d), "window of %llds is longer than the "
		    "policy maximum %llds%s", (long long)duration,
		    (long long)max, delegate ? " for delegates" : "");
		det = json_pack("{s:s, s:I, s:I}", "reason", "too_long",
		    "duration", (json_int_t)duration, "max", (json_int_t)max);
		audit_alone(k, actor.id, "priv.request", account, "denied",
		    det);
		kagid_reply_error(r, 400, KAGI_ERR_LIMIT, d);
		goto out;
	}
	if ((rc = store_txn_begin(k->store, 1, &t)) != 0) {
		reply_store_err(r, rc, "begin");
		goto out;
	}
	if ((rc = store_account_get(t, account, &a)) != 0) {
		kagid_reply_error(r, 0, rc == KAGI_ERR_INVALID ?
		    KAGI_ERR_INVALID : rc, "account");
		goto out;
	}
	if (a.kind != STORE_KIND_PRIVILEGED) {
		kagid_reply_error(r, 400, KAGI_ERR_INVALID,
		    "windows are only for privileged accounts");
		goto out;
	}
	if (a.state != STORE_ACCT_ACTIVE) {
		kagid_reply_error(r, 409, KAGI_ERR_CONFLICT,
		    "the account is not active");
		goto out;
	}
	g.account = (char *)account;
	g.requester = (char *)identity(&actor);
	g.approver = (char *)"";
	g.delegate = delegate ? 1 : 0;
	g.state = STORE_GRANT_REQUESTED;
	g.start = start;
	g.end = start + duration;
	g.reason = (char *)reason;
	g.created = g.updated = now;
	for (tries = 0; tries < 4; tries++) {
		if ((rc = new_grant_id(id)) != 0)
			break;
		g.id = id;
		if ((rc = store_grant_add(t, &g)) != KAGI_ERR_EXISTS)
			break;
	}
	if (rc != 0) {
		reply_store_err(r, rc, "add grant");
		goto out;
	}
	det = json_pack("{s:s, s:o, s:o, s:b, s:s}", "account", account,
	    "start", time_json(g.start), "end", time_json(g.end),
	    "delegate", g.delegate, "reason", reason);
	{
		char *d = kagi_json_dump(det);
		rc = store_audit_append(t, now, actor.id, "priv.request", id,
		    "ok", d != NULL ? d : "", NULL);
		free(d);
	}
	if (rc != 0) {
		reply_store_err(r, rc, "audit");
		goto out;
	}
	rc = store_txn_commit(t);
	t = NULL;
	if (rc != 0) {
		reply_store_err(r, rc, "commit");
		goto out;
	}
	kagi_log_info("event=priv_request id=%s account=%s by=%s", id,
	    account, actor.id);
	kagid_reply_json(r, 201, grant_json(&g));
out:
	store_txn_abort(t);
	store_account_clear(&a);
	json_decref(det);
	json_decref(body);
}

enum priv_op { OP_APPROVE, OP_DENY, OP_REVOKE };

static void
priv_decide(struct kagid_req *r, enum priv_op op)
{
	static const char *const actions[] = { "priv.approve", "priv.deny",
	    "priv.revoke" };
	struct kagid *k = r->k;
	struct kagid_actor actor;
	struct store_txn *t = NULL;
	struct store_grant g;
	const char *action = actions[op], *id = NULL, *why = "ok";
	json_t *body = NULL, *det = NULL;
	char err[256], *d = NULL;
	int64_t now = kagi_now();
	int rc;

	memset(&g, 0, sizeof(g));
	if ((rc = kagid_read_json_body(r, KAGID_BODY_REQUIRED, &body, err,
	    sizeof(err))) != 0) {
		kagid_reply_error(r, 400, rc, err[0] ? err : NULL);
		return;
	}
	if (kagi_json_get_string(body, "id", 1, 64, &id) != 0) {
		kagid_reply_error(r, 400, KAGI_ERR_FORMAT, "id (string)");
		goto out;
	}
	if ((rc = store_txn_begin(k->store, 0, &t)) != 0) {
		reply_store_err(r, rc, "begin");
		goto out;
	}
	rc = store_grant_get(t, id, &g);
	store_txn_abort(t);
	t = NULL;
	/* R-PRIV-2: approving a 代行者 grant is the CISO's action */
	if (op == OP_APPROVE && rc == 0 && g.delegate)
		action = "priv.approve-delegate";
	if (authorise(r, action, id, &actor) != 0)
		goto out;
	if (rc != 0) {
		kagid_reply_error(r, 0, rc == KAGI_ERR_INVALID ||
		    rc == KAGI_ERR_NOT_FOUND ? KAGI_ERR_NOT_FOUND : rc,
		    "no such window");
		goto out;
	}
	/* decide and write in one write transaction on fresh state */
	store_grant_clear(&g);
	if ((rc = store_txn_begin(k->store, 1, &t)) != 0) {
		reply_store_err(r, rc, "begin");
		goto out;
	}
	if ((rc = store_grant_get(t, id, &g)) != 0) {
		reply_store_err(r, rc, "grant");
		goto out;
	}
	switch (op) {
	case OP_APPROVE:
		rc = priv_check_approve(&g, identity(&actor), actor.roles,
		    policy_privileged(k->policy), now, &why);
		break;
	case OP_DENY:
		rc = g.state == STORE_GRANT_REQUESTED ? 0 : KAGI_ERR_CONFLICT;
		why = rc == 0 ? "ok" : "not_requested";
		break;
	case OP_REVOKE:
		rc = g.state == STORE_GRANT_REQUESTED ||
		    g.state == STORE_GRANT_APPROVED ? 0 : KAGI_ERR_CONFLICT;
		why = rc == 0 ? "ok" : "not_open";
		break;
	}
	if (rc != 0) {
		/* refusals are audited too (R-ID-3: self-approval) */
		store_txn_abort(t);
		t = NULL;
		det = json_pack("{s:s, s:s, s:s}", "reason", why,
		    "account", g.account, "state",
		    store_grant_state_name(g.state));
		audit_alone(k, actor.id, action, g.id, "denied", det);
		kagi_log_warn("event=priv_refused action=%s id=%s reason=%s "
		    "by=%s", action, g.id, why, actor.id);
		{
			char m[128];
			snprintf(m, sizeof(m), "%s", why);
			kagid_reply_json(r, kagi_err_http_status(rc),
			    json_pack("{s:s, s:s, s:s, s:s}", "error",
			    kagi_err_name(rc), "message", kagi_strerror(rc),
			    "detail", m, "reason", why));
		}
		goto out;
	}
	free(g.approver);
	if ((g.approver = strdup(identity(&actor))) == NULL) {
		kagid_reply_error(r, 0, KAGI_ERR_NOMEM, NULL);
		goto out;
	}
	g.state = op == OP_APPROVE ? STORE_GRANT_APPROVED :
	    op == OP_DENY ? STORE_GRANT_DENIED : STORE_GRANT_REVOKED;
	if (op != OP_REVOKE)
		g.decided = now;
	g.updated = now;
	det = json_pack("{s:s, s:o, s:o, s:b}", "account", g.account,
	    "start", time_json(g.start), "end", time_json(g.end),
	    "delegate", g.delegate);
	d = kagi_json_dump(det);
	if ((rc = store_grant_put(t, &g)) != 0 ||
	    (rc = store_audit_append(t, now, actor.id, action, g.id, "ok",
	    d != NULL ? d : "", NULL)) != 0) {
		reply_store_err(r, rc, action);
		goto out;
	}
	rc = store_txn_commit(t);
	t = NULL;
	if (rc != 0) {
		reply_store_err(r, rc, action);
		goto out;
	}
	kagi_log_info("event=%s id=%s account=%s by=%s", action, g.id,
	    g.account, actor.id);
	kagid_reply_json(r, 200, grant_json(&g));
out:
	free(d);
	store_txn_abort(t);
	store_grant_clear(&g);
	json_decref(det);
	json_decref(body);
}

static void
api_priv_approve(struct kagid_req *r)
{
	priv_decide(r, OP_APPROVE);
}

static void
api_priv_deny(struct kagid_req *r)
{
	priv_decide(r, OP_DENY);
}

static void
api_priv_revoke(struct kagid_req *r)
{
	priv_decide(r, OP_REVOKE);
}

struct list_ctx {
	json_t *a;
	int state;
	int err;
};

static int
list_cb(const struct store_grant *g, void *arg)
{
	struct list_ctx *x = arg;
	json_t *o;

	if (x->state >= 0 && g->state != x->state)
		return 0;
	if ((o = grant_json(g)) == NULL || json_array_append_new(x->a, o) != 0)
		return KAGI_ERR_NOMEM;
	return 0;
}

static void
api_priv_list(struct kagid_req *r)
{
	struct kagid *k = r->k;
	struct kagid_actor actor;
	struct evkeyvalq q;
	struct evkeyval *kv;
	struct store_txn *t = NULL;
	struct list_ctx x;
	const char *account = NULL;
	int rc = 0;

	memset(&x, 0, sizeof(x));
	x.state = -1;
	if (authorise(r, "priv.list", NULL, &actor) != 0)
		return;
	TAILQ_INIT(&q);
	if (r->query != NULL && evhttp_parse_query_str(r->query, &q) != 0) {
		kagid_reply_error(r, 400, KAGI_ERR_FORMAT, "query string");
		return;
	}
	TAILQ_FOREACH(kv, &q, next) {
		if (strcmp(kv->key, "account") == 0 &&
		    strlen(kv->value) <= 32) {
			account = kv->value;
		} else if (strcmp(kv->key, "state") == 0) {
			unsigned s;
			for (s = 0; s < STORE_GRANT_STATE_COUNT; s++)
				if (strcmp(kv->value,
				    store_grant_state_name(s)) == 0)
					break;
			if (s == STORE_GRANT_STATE_COUNT) {
				rc = KAGI_ERR_INVALID;
				break;
			}
			x.state = (int)s;
		} else {
			rc = KAGI_ERR_INVALID;
			break;
		}
	}
	if (rc != 0) {
		evhttp_clear_headers(&q);
		kagid_reply_error(r, 400, rc, "query: account=LOGIN, state="
		    "requested|approved|denied|revoked|ended");
		return;
	}
	if ((x.a = json_array()) == NULL) {
		evhttp_clear_headers(&q);
		kagid_reply_error(r, 0, KAGI_ERR_NOMEM, NULL);
		return;
	}
	if ((rc = store_txn_begin(k->store, 0, &t)) == 0)
		rc = store_grant_iter(t, account, list_cb, &x);
	store_txn_abort(t);
	evhttp_clear_headers(&q);
	if (rc != 0) {
		json_decref(x.a);
		reply_store_err(r, rc, "list");
		return;
	}
	kagid_reply_json(r, 200, json_pack("{s:o}", "grants", x.a));
}

const struct kagid_route kagid_priv_routes[] = {
	{ "/v1/priv/request", "POST", api_priv_request, KAGID_TR_API, 0 },
	{ "/v1/priv/approve", "POST", api_priv_approve, KAGID_TR_API, 0 },
	{ "/v1/priv/deny", "POST", api_priv_deny, KAGID_TR_API, 0 },
	{ "/v1/priv/revoke", "POST", api_priv_revoke, KAGID_TR_API, 0 },
	{ "/v1/priv/list", "GET", api_priv_list, KAGID_TR_API, 0 },
	{ NULL, NULL, NULL, 0, 0 },
};
