/*
 * kagid JSON API handlers (docs/API.md).  Requests arrive identified and
 * authorised by http.c; each handler answers exactly once through
 * kagid_reply_*.  Errors are {"error": kagi_err_name, "message": ...}.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "kagi/json.h"
#include "kagi/log.h"
#include "kagi/policy.h"
#include "kagi/secmem.h"
#include "kagi/store.h"
#include "kagi/util.h"
#include "server_int.h"

#define TR_API KAGID_TR_API
#define TR_ALL KAGID_TR_ALL

/*
 * The request body as text, NUL-terminated, in a block that is wiped when
 * freed (it may hold a password: kagid_body_free).  An empty body gives
 * *out NULL and *len 0; more than max bytes (0: KAGI_JSON_MAX_BODY) is
 * KAGI_ERR_LIMIT.  libevent's own buffers are wiped too (main.c).
 */
int
kagid_body_text(struct kagid_req *r, size_t max, char **out, size_t *len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	size_t n = in != NULL ? evbuffer_get_length(in) : 0;
	char *text;

	*out = NULL;
	*len = 0;
	if (max == 0)
		max = KAGI_JSON_MAX_BODY;
	if (n == 0)
		return 0;
	if (n > max)
		return KAGI_ERR_LIMIT;
	if ((text = malloc(n + 1)) == NULL)
		return KAGI_ERR_NOMEM;
	if (evbuffer_remove(in, text, n) != (int)n) {
		kagi_free_wipe(text);
		return KAGI_ERR_INTERNAL;
	}
	text[n] = '\0';
	*out = text;
	*len = n;
	return 0;
}

void
kagid_body_free(char *text, size_t len)
{
	(void)len;
	kagi_free_wipe(text);
}

/*
 * The request body as a JSON object (kagi_json_parse_object: size and depth
 * caps, no duplicate keys; errbuf names line and column).  An empty body is
 * KAGI_ERR_FORMAT with KAGID_BODY_REQUIRED, an empty object with
 * KAGID_BODY_EMPTY_OBJECT, else *out NULL.  The raw text is wiped.
 */
int
kagid_read_json_body(struct kagid_req *r, unsigned flags, json_t **out,
    char *errbuf, size_t errlen)
{
	char *text = NULL;
	size_t n = 0;
	int rc;

	*out = NULL;
	errbuf[0] = '\0';
	if ((rc = kagid_body_text(r, 0, &text, &n)) != 0)
		return rc;
	if (text == NULL) {
		if (flags & KAGID_BODY_REQUIRED) {
			snprintf(errbuf, errlen, "%s",
			    "a JSON object body is required");
			return KAGI_ERR_FORMAT;
		}
		if (flags & KAGID_BODY_EMPTY_OBJECT) {
			*out = json_object();
			return *out != NULL ? 0 : KAGI_ERR_NOMEM;
		}
		return 0;
	}
	rc = kagi_json_parse_object(text, n, out, errbuf, errlen);
	kagid_body_free(text, n);
	return rc;
}

static void
api_health(struct kagid_req *r)
{
	char t[64];

	if (kagi_time_format_utc(kagi_now(), t, sizeof(t)) != 0)
		snprintf(t, sizeof(t), "%s", "");
	kagid_reply_json(r, 200, json_pack("{s:s, s:s, s:s}", "status", "ok",
	    "version", KAGI_VERSION, "time", t));
}

static void
api_whoami(struct kagid_req *r)
{
	if (r->whoami == NULL) {
		kagid_reply_error(r, 0, KAGI_ERR_NOMEM, NULL);
		return;
	}
	kagid_reply_json(r, 200, json_incref(r->whoami));
}

static void
api_status(struct kagid_req *r)
{
	struct kagid *k = r->k;
	struct store_txn *t = NULL;
	struct store_stats st;
	uint64_t head_seq = 0;
	uint8_t head[STORE_HASH_LEN];
	char headhex[2 * STORE_HASH_LEN + 1], started[64];
	json_t *zones = NULL, *o = NULL;
	const char *mynumber = NULL;
	int rc;

	memset(&st, 0, sizeof(st));
	memset(head, 0, sizeof(head));
	if ((rc = store_txn_begin(k->store, 0, &t)) != 0 ||
	    (rc = store_stats_get(t, &st)) != 0 ||
	    (rc = store_audit_head(t, &head_seq, head)) != 0) {
		store_txn_abort(t);
		kagi_log_err("status: store: %s", kagi_err_name(rc));
		kagid_reply_error(r, 0, rc, NULL);
		return;
	}
	store_txn_abort(t);
	kagi_hex_encode(head, sizeof(head), headhex);
	if (kagi_time_format_utc(k->started, started, sizeof(started)) != 0)
		started[0] = '\0';
	zones = json_array();
	for (size_t i = 0; zones != NULL && i < policy_zone_count(k->policy);
	    i++) {
		const struct policy_zone *z = policy_zone_at(k->policy, i);
		if (z == NULL)
			continue;
		json_array_append_new(zones, json_string(z->name));
		if (z->is_mynumber && mynumber == NULL)
			mynumber = z->name;
	}
	o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I,"
	    " s:{s:I, s:I, s:s},"
	    " s:{s:s, s:o, s:s?},"
	    " s:{s:s?, s:s?, s:s?},"
	    " s:{s:s?, s:s?}}",
	    "version", KAGI_VERSION, "started", started,
	    "uptime_s", (json_int_t)(kagi_now() - k->started),
	    "schema", (json_int_t)st.schema,
	    "persons", (json_int_t)st.persons,
	    "accounts", (json_int_t)st.accounts,
	    "audit", "records", (json_int_t)st.audit_records,
	    "head_seq", (json_int_t)head_seq, "head_hash", headhex,
	    "policy", "path", k->policy_path, "zones", zones,
	    "mynumber_zone", mynumber,
	    "listen", "https", k->https_addr[0] ? k->https_addr : NULL,
	    "http", k->http_addr[0] ? k->http_addr : NULL,
	    "socket", k->socket_path,
	    "hsm", "module", k->conf->hsm_module,
	    "token", k->conf->hsm_token_label);
	if (o == NULL) {
		kagid_reply_error(r, 0, KAGI_ERR_NOMEM, NULL);
		return;
	}
	kagid_reply_json(r, 200, o);
}

static void
api_audit_verify(struct kagid_req *r)
{
	struct kagid *k = r->k;
	struct store_txn *t = NULL;
	uint64_t count = 0, bad = 0, head_seq = 0;
	uint8_t head[STORE_HASH_LEN];
	json_t *body = NULL;
	char err[256], detail[128];
	int rc, vr, ar;

	if ((rc = kagid_read_json_body(r, 0, &body, err, sizeof(err))) != 0) {
		kagid_reply_error(r, 0, rc, err[0] ? err : NULL);
		return;
	}
	json_decref(body); /* no parameters yet; {} or no body */

	if ((rc = store_txn_begin(k->store, 0, &t)) != 0) {
		kagid_reply_error(r, 0, rc, NULL);
		return;
	}
	vr = store_audit_verify(t, &count, &bad);
	if (vr == 0 && (rc = store_audit_head(t, &head_seq, head)) != 0)
		vr = rc;
	store_txn_abort(t);
	t = NULL;

	/* the verification itself is recorded (R-LOG-4) in its own txn */
	if (vr == 0)
		snprintf(detail, sizeof(detail), "{\"records\":%llu}",
		    (unsigned long long)count);
	else
		snprintf(detail, sizeof(detail),
		    "{\"records\":%llu,\"bad_seq\":%llu}",
		    (unsigned long long)count, (unsigned long long)bad);
	ar = store_txn_begin(k->store, 1, &t);
	if (ar == 0)
		ar = store_audit_append(t, kagi_now(), r->peer, "audit.verify",
		    "", vr == 0 ? "ok" : "corrupt", detail, NULL);
	if (ar == 0) {
		ar = store_txn_commit(t);
		t = NULL;
	}
	store_txn_abort(t);
	if (ar != 0)
		kagi_log_err("event=audit_append_failed action=audit.verify "
		    "err=%s", kagi_err_name(ar));

	if (vr == KAGI_ERR_CORRUPT) {
		kagi_log_err("event=audit_chain_corrupt bad_seq=%llu",
		    (unsigned long long)bad);
		kagid_reply_json(r, kagi_err_http_status(vr),
		    json_pack("{s:s, s:s, s:I, s:I}", "error",
		    kagi_err_name(vr), "message", kagi_strerror(vr),
		    "bad_seq", (json_int_t)bad, "records", (json_int_t)count));
		return;
	}
	if (vr != 0) {
		kagid_reply_error(r, 0, vr, NULL);
		return;
	}
	kagid_reply_json(r, 200, json_pack("{s:b, s:I, s:I}", "ok", 1,
	    "records", (json_int_t)count, "head_seq", (json_int_t)head_seq));
}

struct export_ctx {
	struct evbuffer *out;
	enum kagid_audit_format fmt;
	const char *host;
	int err;
};

static int
export_cb(const struct store_audit *rec, const uint8_t hash[STORE_HASH_LEN],
    void *arg)
{
	struct export_ctx *x = arg;
	char *line = NULL;
	int rc;

	if ((rc = kagid_audit_line(rec, hash, x->fmt, x->host, &line)) != 0) {
		x->err = rc;
		return 1;
	}
	if (evbuffer_add(x->out, line, strlen(line)) != 0) {
		free(line);
		x->err = KAGI_ERR_NOMEM;
		return 1;
	}
	free(line);
	return 0;
}

static int
parse_u64(const char *s, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	if (s == NULL || s[0] < '0' || s[0] > '9' || strlen(s) > 20)
		return KAGI_ERR_INVALID;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return KAGI_ERR_INVALID;
	*out = (uint64_t)v;
	return 0;
}

static void
api_audit_export(struct kagid_req *r)
{
	struct kagid *k = r->k;
	struct evkeyvalq q;
	struct evkeyval *kv;
	struct export_ctx x;
	struct store_txn *t = NULL;
	uint64_t since = 1;
	char host[256];
	int rc = 0;

	memset(&x, 0, sizeof(x));
	TAILQ_INIT(&q);
	if (r->query != NULL && evhttp_parse_query_str(r->query, &q) != 0) {
		kagid_reply_error(r, 400, KAGI_ERR_FORMAT, "query string");
		return;
	}
	TAILQ_FOREACH(kv, &q, next) {
		if (strcmp(kv->key, "since") == 0) {
			if (parse_u64(kv->value, &since) != 0) {
				rc = KAGI_ERR_INVALID;
				break;
			}
		} else if (strcmp(kv->key, "format") == 0) {
			if (kagid_audit_format_parse(kv->value, &x.fmt) != 0) {
				rc = KAGI_ERR_INVALID;
				break;
			}
		} else {
			rc = KAGI_ERR_INVALID;
			break;
		}
	}
	if (rc != 0) {
		char d[160];
		snprintf(d, sizeof(d), "bad query parameter '%.64s' "
		    "(since=N, format=jsonl|syslog)", kv->key);
		evhttp_clear_headers(&q);
		kagid_reply_error(r, 400, rc, d);
		return;
	}
	evhttp_clear_headers(&q);
	if (since == 0)
		since = 1;
	if (gethostname(host, sizeof(host)) != 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	x.host = host;
	if ((x.out = evbuffer_new()) == NULL) {
		kagid_reply_error(r, 0, KAGI_ERR_NOMEM, NULL);
		return;
	}
	if ((rc = store_txn_begin(k->store, 0, &t)) == 0) {
		rc = store_audit_iter(t, since, export_cb, &x);
		if (x.err != 0)
			rc = x.err;
	}
	store_txn_abort(t);
	if (rc != 0) {
		evbuffer_free(x.out);
		kagi_log_err("audit export: %s", kagi_err_name(rc));
		kagid_reply_error(r, 0, rc, NULL);
		return;
	}
	{
		size_t n = evbuffer_get_length(x.out);
		const char *p = n > 0 ? (const char *)evbuffer_pullup(x.out,
		    -1) : "";
		kagid_reply_text(r, 200, x.fmt == KAGID_AUDIT_JSONL ?
		    "application/x-ndjson; charset=utf-8" :
		    "text/plain; charset=utf-8", p, n);
	}
	evbuffer_free(x.out);
}

static const struct kagid_route core_routes[] = {
	{ "/v1/health", "GET", api_health, TR_ALL, 0 },
	{ "/v1/whoami", "GET", api_whoami, TR_API, 0 },
	{ "/v1/status", "GET", api_status, TR_API, 0 },
	{ "/v1/audit/verify", "POST", api_audit_verify, TR_API, 0 },
	{ "/v1/audit/export", "GET", api_audit_export, TR_API, 0 },
	{ NULL, NULL, NULL, 0, 0 },
};

/*
 * Every module's route table, searched in order.  A module adds one line
 * here for its table (declared in server_int.h).
 */
static const struct kagid_route *const route_tables[] = {
	core_routes,
	kagid_ca_routes,
	kagid_terminal_routes,
	kagid_id_routes,
	kagid_priv_routes,
	kagid_hr_routes,
	kagid_sweep_routes,
	kagid_login_routes,
	kagid_event_routes,
	kagid_card_routes,
	kagid_jpki_routes,
	NULL,
};

/* Does route rt serve path?  Prefix routes ("/v1/users/") also match
 * "/v1/users/alice" and leave the rest in r->subpath. */
static int
route_matches(const struct kagid_route *rt, const char *path)
{
	size_t n;

	if (!rt->prefix)
		return strcmp(rt->path, path) == 0;
	n = strlen(rt->path);
	return strncmp(rt->path, path, n) == 0 && path[n] != '\0' &&
	    (rt->prefix == 2 || strchr(path + n, '/') == NULL);
}

void
kagid_dispatch(struct kagid_req *r)
{
	const struct kagid_route *match = NULL;
	int path_seen = 0;
	unsigned bit = 1u << r->lx->transport;
	char allow[64];

	allow[0] = '\0';
	r->subpath = NULL;
	for (size_t t = 0; route_tables[t] != NULL; t++) {
		for (const struct kagid_route *rt = route_tables[t];
		    rt->path != NULL; rt++) {
			if (!(rt->transports & bit) ||
			    !route_matches(rt, r->path))
				continue;
			path_seen = 1;
			if (strstr(allow, rt->method) == NULL &&
			    strlen(allow) + strlen(rt->method) + 3 <
			    sizeof(allow)) {
				if (allow[0])
					strcat(allow, ", ");
				strcat(allow, rt->method);
			}
			if (match == NULL &&
			    strcmp(rt->method, r->method) == 0) {
				match = rt;
				if (rt->prefix)
					r->subpath = r->path +
					    strlen(rt->path);
			}
		}
	}
	if (match == NULL && path_seen) {
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "Allow", allow);
		char d[96];
		snprintf(d, sizeof(d), "method not allowed; allowed: %s",
		    allow);
		kagid_reply_error(r, 405, KAGI_ERR_INVALID, d);
		return;
	}
	if (match == NULL) {
		kagid_reply_error(r, 404, KAGI_ERR_NOT_FOUND, NULL);
		return;
	}
	/* evhttp admits bodies up to KAGID_MAX_BODY for HR feeds and plans
	 * (api_hr.c); every other route keeps KAGI_JSON_MAX_BODY */
	if (strncmp(r->path, "/v1/hr/", 7) != 0 &&
	    evbuffer_get_length(evhttp_request_get_input_buffer(r->req)) >
	    KAGI_JSON_MAX_BODY) {
		kagid_reply_error(r, 413, KAGI_ERR_LIMIT,
		    "request body too large");
		return;
	}
	match->fn(r);
}
