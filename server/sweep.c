/*
 * Sweeps (R-ID-12, R-DEV-1, R-CONTR-1, R-PW-6, R-PRIV-7): what time alone
 * ends.  One run is one write transaction (or a read transaction for a dry
 * run) that
 *  - disables dormant accounts: active, not a service account, no operator
 *    roles, and no login (nor creation or change) for [sweep] dormant_days;
 *  - disables accounts whose end_date has passed (development, contractor);
 *  - clears expired temporary passwords (the account needs a new reset);
 *  - ends privileged windows (and open requests) whose end has passed.
 * One audit record per change and a "sweep.run" summary.  kagid runs it
 * every [sweep] interval; `kagi sweep [--dry-run]` runs it by hand
 * (POST /v1/sweep).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "kagi/json.h"
#include "kagi/log.h"
#include "kagi/policy.h"
#include "kagi/store.h"
#include "kagi/util.h"
#include "server_int.h"

#define SWEEP_RECHECK 60 /* seconds between looks when the sweep is off */

enum sweep_what {
	SW_DORMANT = 0,
	SW_EXPIRED,
	SW_TEMP_PW,
	SW_WINDOW,
	SW_COUNT
};

static const char *const sw_names[SW_COUNT] = {
	"dormant", "expired", "temp_passwords", "windows_ended",
};

struct sweep_item {
	char *key;
	int what;
};

struct sweep_ctx {
	const struct policy *p;
	int64_t now;
	struct sweep_item *it;
	size_t n, cap;
};

static int
item_add(struct sweep_ctx *x, const char *key, int what)
{
	if (x->n == x->cap) {
		size_t nc = x->cap ? 2 * x->cap : 32;
		struct sweep_item *ni = realloc(x->it, nc * sizeof(*ni));
		if (ni == NULL)
			return KAGI_ERR_NOMEM;
		x->it = ni;
		x->cap = nc;
	}
	if ((x->it[x->n].key = strdup(key)) == NULL)
		return KAGI_ERR_NOMEM;
	x->it[x->n++].what = what;
	return 0;
}

static int64_t
max3(int64_t a, int64_t b, int64_t c)
{
	int64_t m = a > b ? a : b;

	return m > c ? m : c;
}

static int
acct_cb(const struct store_account *a, void *arg)
{
	struct sweep_ctx *x = arg;
	int r;

	if ((a->state == STORE_ACCT_ACTIVE ||
	    a->state == STORE_ACCT_SUSPENDED) && a->end_date != 0 &&
	    a->end_date <= x->now) {
		if ((r = item_add(x, a->login, SW_EXPIRED)) != 0)
			return r;
	} else if (a->state == STORE_ACCT_ACTIVE &&
	    a->kind != STORE_KIND_SERVICE && a->roles == 0 &&
	    policy_is_dormant(policy_sweep(x->p), max3(a->last_login,
	    a->created, a->updated), x->now)) {
		if ((r = item_add(x, a->login, SW_DORMANT)) != 0)
			return r;
	}
	if (a->pw_temp && a->pw_hash != NULL && a->pw_hash[0] != '\0' &&
	    a->pw_temp_expires != 0 && a->pw_temp_expires <= x->now)
		if ((r = item_add(x, a->login, SW_TEMP_PW)) != 0)
			return r;
	return 0;
}

static int
grant_cb(const struct store_grant *g, void *arg)
{
	struct sweep_ctx *x = arg;

	if ((g->state == STORE_GRANT_APPROVED ||
	    g->state == STORE_GRANT_REQUESTED) && g->end <= x->now)
		return item_add(x, g->id, SW_WINDOW);
	return 0;
}

static int
audit_one(struct store_txn *t, int64_t now, const char *actor,
    const char *action, const char *object, json_t *det)
{
	char *d = det != NULL ? kagi_json_dump(det) : NULL;
	int r;

	r = store_audit_append(t, now, actor, action, object, "ok",
	    d != NULL ? d : "", NULL);
	free(d);
	json_decref(det);
	return r;
}

static int
apply_item(struct store_txn *t, const struct sweep_item *it, int64_t now,
    const char *actor)
{
	struct store_account a;
	struct store_grant g;
	int r = KAGI_ERR_INTERNAL;

	memset(&a, 0, sizeof(a));
	memset(&g, 0, sizeof(g));
	if (it->what == SW_WINDOW) {
		if ((r = store_grant_get(t, it->key, &g)) != 0)
			goto out;
		g.state = STORE_GRANT_ENDED;
		g.updated = now;
		if ((r = store_grant_put(t, &g)) != 0)
			goto out;
		r = audit_one(t, now, actor, "sweep.window.end", it->key,
		    json_pack("{s:s}", "account", g.account));
		goto out;
	}
	if ((r = store_account_get(t, it->key, &a)) != 0)
		goto out;
	if (it->what == SW_TEMP_PW) {
		/* the hash goes; a new reset is needed (R-PW-6) */
		free(a.pw_hash);
		if ((a.pw_hash = strdup("")) == NULL) {
			r = KAGI_ERR_NOMEM;
			goto out;
		}
		a.pw_temp = 0;
		a.pw_temp_expires = 0;
	} else {
		a.state = STORE_ACCT_DISABLED;
	}
	a.updated = now;
	if ((r = store_account_put(t, &a)) != 0)
		goto out;
	if (it->what == SW_TEMP_PW)
		r = audit_one(t, now, actor, "sweep.password.clear", it->key,
		    json_pack("{s:s}", "reason", "temporary_expired"));
	else
		r = audit_one(t, now, actor, "sweep.account.disable", it->key,
		    json_pack("{s:s}", "reason", sw_names[it->what]));
out:
	store_account_clear(&a);
	store_grant_clear(&g);
	return r;
}

int
kagid_sweep_txn(struct store_txn *t, const struct policy *p, int64_t now,
    int dry_run, const char *actor, json_t **report)
{
	struct sweep_ctx x;
	json_t *rep = NULL, *lists[SW_COUNT] = { NULL };
	char ts[64];
	int r = KAGI_ERR_INTERNAL;

	memset(&x, 0, sizeof(x));
	if (report != NULL)
		*report = NULL;
	if (t == NULL || p == NULL || report == NULL || actor == NULL)
		return KAGI_ERR_INVALID;
	x.p = p;
	x.now = now;
	if ((r = store_account_iter(t, acct_cb, &x)) != 0 ||
	    (r = store_grant_iter(t, NULL, grant_cb, &x)) != 0)
		goto out;
	r = KAGI_ERR_NOMEM;
	for (int i = 0; i < SW_COUNT; i++)
		if ((lists[i] = json_array()) == NULL)
			goto out;
	for (size_t i = 0; i < x.n; i++) {
		if (!dry_run && (r = apply_item(t, &x.it[i], now, actor)) != 0)
			goto out;
		if (json_array_append_new(lists[x.it[i].what],
		    json_string(x.it[i].key)) != 0) {
			r = KAGI_ERR_NOMEM;
			goto out;
		}
	}
	if (kagi_time_format_utc(now, ts, sizeof(ts)) != 0)
		ts[0] = '\0';
	if ((rep = json_pack("{s:b, s:s, s:I}", "dry_run", dry_run ? 1 : 0,
	    "time", ts, "changes", (json_int_t)x.n)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	for (int i = 0; i < SW_COUNT; i++) {
		json_object_set_new(rep, sw_names[i], lists[i]);
		lists[i] = NULL;
	}
	*report = rep;
	rep = NULL;
	r = 0;
out:
	for (int i = 0; i < SW_COUNT; i++)
		json_decref(lists[i]);
	json_decref(rep);
	for (size_t i = 0; i < x.n; i++)
		free(x.it[i].key);
	free(x.it);
	return r;
}

int
kagid_sweep_run(struct kagid *k, int dry_run, int record_empty, int64_t now,
    const char *actor, json_t **report)
{
	struct store_txn *t = NULL;
	json_t *rep = NULL, *det = NULL;
	json_int_t changes;
	int r = KAGI_ERR_INTERNAL;

	if (report != NULL)
		*report = NULL;
	if (k == NULL || report == NULL)
		return KAGI_ERR_INVALID;
	if ((r = store_txn_begin(k->store, !dry_run, &t)) != 0)
		return r;
	if ((r = kagid_sweep_txn(t, k->policy, now, dry_run, actor,
	    &rep)) != 0)
		goto out;
	changes = json_integer_value(json_object_get(rep, "changes"));
	if (dry_run || (changes == 0 && !record_empty)) {
		store_txn_abort(t);
		t = NULL;
	} else {
		det = json_pack("{s:I, s:I, s:I, s:I, s:I}", "changes", changes,
		    "dormant", (json_int_t)json_array_size(json_object_get(rep,
		    "dormant")), "expired", (json_int_t)json_array_size(
		    json_object_get(rep, "expired")), "temp_passwords",
		    (json_int_t)json_array_size(json_object_get(rep,
		    "temp_passwords")), "windows_ended",
		    (json_int_t)json_array_size(json_object_get(rep,
		    "windows_ended")));
		if ((r = audit_one(t, now, actor, "sweep.run", "", det)) != 0)
			goto out;
		r = store_txn_commit(t);
		t = NULL;
		if (r != 0)
			goto out;
	}
	if (changes > 0 && !dry_run)
		kagi_log_info("event=sweep changes=%lld by=%s",
		    (long long)changes, actor);
	*report = rep;
	rep = NULL;
	r = 0;
out:
	store_txn_abort(t);
	json_decref(rep);
	return r;
}

/* ---- timer ---- */

static struct event *sweep_ev;

static void
sweep_arm(struct kagid *k)
{
	const struct policy_sweep *s = policy_sweep(k->policy);
	struct timeval tv;

	tv.tv_sec = (time_t)(s != NULL && s->interval > 0 ? s->interval :
	    SWEEP_RECHECK);
	tv.tv_usec = 0;
	if (evtimer_add(sweep_ev, &tv) != 0)
		kagi_log_err("event=sweep_timer_failed");
}

static void
on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct kagid *k = arg;
	const struct policy_sweep *s = policy_sweep(k->policy);
	json_t *rep = NULL;
	int r;

	(void)fd;
	(void)what;
	if (s != NULL && s->interval > 0) {
		r = kagid_sweep_run(k, 0, 0, kagi_now(), "kagid", &rep);
		if (r != 0)
			kagi_log_err("event=sweep_failed err=%s",
			    kagi_err_name(r));
		json_decref(rep);
	}
	sweep_arm(k);
}

int
kagid_sweep_timer_start(struct kagid *k)
{
	if (k == NULL || k->base == NULL)
		return KAGI_ERR_INVALID;
	if (sweep_ev != NULL)
		return 0;
	if ((sweep_ev = evtimer_new(k->base, on_sweep, k)) == NULL)
		return KAGI_ERR_NOMEM;
	sweep_arm(k);
	return 0;
}

void
kagid_sweep_timer_stop(struct kagid *k)
{
	(void)k;
	if (sweep_ev != NULL) {
		event_free(sweep_ev);
		sweep_ev = NULL;
	}
}

/* ---- POST /v1/sweep {"dry_run": bool} ---- */

static void
api_sweep(struct kagid_req *r)
{
	struct kagid_actor actor;
	json_t *body = NULL, *rep = NULL;
	char err[256];
	int dry = 0, rc;

	memset(&actor, 0, sizeof(actor));
	if (kagid_authz_require(r, "sweep.run", NULL, &actor) != 0)
		return;
	if ((rc = kagid_read_json_body(r, 0, &body, err, sizeof(err))) != 0 ||
	    (body != NULL && kagi_json_get_bool(body, "dry_run", 0,
	    &dry) != 0)) {
		json_decref(body);
		kagid_reply_error(r, 400, rc == KAGI_ERR_LIMIT ? rc :
		    KAGI_ERR_FORMAT, "body: {\"dry_run\": bool}");
		return;
	}
	json_decref(body);
	if ((rc = kagid_sweep_run(r->k, dry, 1, kagi_now(), actor.id,
	    &rep)) != 0) {
		kagi_log_err("sweep: %s", kagi_err_name(rc));
		kagid_reply_error(r, 0, rc, NULL);
		return;
	}
	kagid_reply_json(r, 200, rep);
}

const struct kagid_route kagid_sweep_routes[] = {
	{ "/v1/sweep", "POST", api_sweep, KAGID_TR_API, 0 },
	{ NULL, NULL, NULL, 0, 0 },
};
