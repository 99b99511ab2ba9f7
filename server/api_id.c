/*
 * The ID lifecycle API (docs/API.md "People, accounts and passwords",
 * docs/ACCOUNTS.md): persons, accounts, shared-ID members, operator roles
 * and certificates, password logins and changes.
 *
 * Every handler: parse the body strictly (unknown fields refused), check the
 * caller's role (kagid_authz_require, refusals audited), validate, then make
 * the change and its audit record in ONE write transaction.  No answer and
 * no audit record ever holds a password or a hash (R-PW-1); the one
 * exception is the temporary password in the answer of user add and
 * reset-password, shown once (R-PW-10).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "kagi/file.h"
#include "kagi/i18n.h"
#include "kagi/json.h"
#include "kagi/kbuf.h"
#include "kagi/log.h"
#include "kagi/policy.h"
#include "kagi/secmem.h"
#include "kagi/store.h"
#include "kagi/util.h"
#include "passwd.h"
#include "server_int.h"

#define TR_API KAGID_TR_API
#define NAME_MAX_BYTES 256u
#define TERMINAL_MAX 128u
#define COMMON_LIST_MAX (8u * 1024u * 1024u)
#define OPERATOR_CERT_DAYS 365
#define OPERATOR_CERT_DAYS_MAX 825

static const char *const kind_names[STORE_KIND_COUNT] = {
	"personal", "shared", "privileged", "development", "contractor",
	"service"
};
static const char *const state_names[STORE_ACCT_STATE_COUNT] = {
	"active", "disabled", "suspended", "deleted"
};
/* R-ID-11 */
static const char *const employment_types[] = {
	"regular", "fiscal-year", "temporary", "part-time", "dispatched",
	"contractor", "council", "other", NULL
};
/* R-PRIV-6: privileged IDs must not keep default names */
static const char *const default_admin_names[] = {
	"root", "admin", "administrator", "kagi", "kagi-admin", "superuser",
	"sysadmin", NULL
};

/* ---- small helpers ---- */

static json_t *
jtime(int64_t t)
{
	char b[64];

	if (t == 0 || t == INT64_MAX || kagi_time_format_utc(t, b, sizeof(b)) != 0)
		return json_null();
	return json_string(b);
}

/* An error answer with a translated sentence and the field it is about. */
static void
reply_fault(struct kagid_req *r, int err, const char *field, const char *msg)
{
	json_t *o = json_pack("{s:s, s:s}", "error", kagi_err_name(err),
	    "message", msg);

	if (o != NULL && field != NULL)
		json_object_set_new(o, "field", json_string(field));
	kagid_reply_json(r, kagi_err_http_status(err), o);
}

/* Parse the body or answer the error; 0 if *out is set. */
static int
get_body(struct kagid_req *r, const char *const *allowed, json_t **out)
{
	char err[256], msg[160];
	const char *key;
	int rc;

	if ((rc = kagid_read_json_body(r, KAGID_BODY_EMPTY_OBJECT, out, err,
	    sizeof(err))) != 0) {
		kagid_reply_error(r, 0, rc, err[0] ? err : NULL);
		return rc;
	}
	if ((key = kagi_json_unknown_key(*out, allowed)) != NULL) {
		snprintf(msg, sizeof(msg), _("unknown field \"%.40s\""), key);
		reply_fault(r, KAGI_ERR_INVALID, key, msg);
		json_decref(*out);
		*out = NULL;
		return KAGI_ERR_INVALID;
	}
	return 0;
}

/* Any query string is refused (docs/API.md). */
static int
no_query(struct kagid_req *r)
{
	if (r->query != NULL && r->query[0] != '\0') {
		reply_fault(r, KAGI_ERR_INVALID, NULL,
		    _("this endpoint takes no query parameters"));
		return KAGI_ERR_INVALID;
	}
	return 0;
}

/*
 * A string field: absent and optional -> *out NULL and 0.  Answers the
 * error itself (naming the field) and returns non-zero otherwise.
 */
static int
field_str(struct kagid_req *r, const json_t *o, const char *key, int required,
    size_t max, const char **out)
{
	const json_t *v = json_object_get(o, key);
	char msg[200];

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (!required)
			return 0;
		snprintf(msg, sizeof(msg), _("the field \"%s\" is required"),
		    key);
		reply_fault(r, KAGI_ERR_INVALID, key, msg);
		return KAGI_ERR_INVALID;
	}
	if (!json_is_string(v)) {
		snprintf(msg, sizeof(msg), _("the field \"%s\" must be a "
		    "string"), key);
		reply_fault(r, KAGI_ERR_FORMAT, key, msg);
		return KAGI_ERR_FORMAT;
	}
	if (json_string_length(v) > max) {
		snprintf(msg, sizeof(msg), _("the field \"%s\" is longer than "
		    "%zu bytes"), key, max);
		reply_fault(r, KAGI_ERR_LIMIT, key, msg);
		return KAGI_ERR_LIMIT;
	}
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(msg, sizeof(msg), _("the field \"%s\" contains a NUL "
		    "character"), key);
		reply_fault(r, KAGI_ERR_FORMAT, key, msg);
		return KAGI_ERR_FORMAT;
	}
	*out = json_string_value(v);
	return 0;
}

/* Text shown to people: no control characters. */
static int
printable(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static int
kind_from_name(const char *s)
{
	for (int i = 0; i < STORE_KIND_COUNT; i++)
		if (s != NULL && strcmp(s, kind_names[i]) == 0)
			return i;
	return -1;
}

static int
employment_valid(const char *s)
{
	for (size_t i = 0; employment_types[i] != NULL; i++)
		if (strcmp(s, employment_types[i]) == 0)
			return 1;
	return 0;
}

/*
 * A date from a request: RFC 3339, or YYYY-MM-DD.  For an end date a plain
 * day means "through that day" (the next local midnight).
 */
static int
parse_date(const char *s, int is_end, int64_t *out)
{
	int64_t t = 0;

	*out = 0;
	if (kagi_time_parse(s, &t) != 0)
		return KAGI_ERR_INVALID;
	if (is_end && strlen(s) == 10)
		t += 86400;
	*out = t;
	return 0;
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

/* An audit record of its own (refusals, failed logins). */
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

static json_t *
person_json(const struct store_person *p)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o}",
	    "staff_no", p->staff_no, "name", p->name, "kana", p->kana,
	    "section", p->section, "employment", p->employment,
	    "hr_status", p->hr_status, "start", jtime(p->start_date),
	    "end", jtime(p->end_date), "created", jtime(p->created),
	    "updated", jtime(p->updated));
}

/* Never the hash or the history (R-PW-1). */
static json_t *
account_json(const struct store_account *a, int64_t now)
{
	int locked = policy_check_locked(a->locked_until, now) != 0;

	return json_pack("{s:s, s:s?, s:s, s:s, s:o,"
	    " s:b, s:o, s:o, s:I, s:b,"
	    " s:b, s:o, s:I, s:I,"
	    " s:o, s:s?, s:o, s:o, s:o, s:o}",
	    "login", a->login,
	    "person", a->staff_no[0] ? a->staff_no : NULL,
	    "kind", a->kind < STORE_KIND_COUNT ? kind_names[a->kind] : "?",
	    "state", a->state < STORE_ACCT_STATE_COUNT ?
	    state_names[a->state] : "?",
	    "roles", kagid_roles_json(a->roles),
	    "temporary_password", a->pw_temp != 0,
	    "temporary_password_expires", jtime(a->pw_temp ?
	    a->pw_temp_expires : 0),
	    "password_changed", jtime(a->pw_changed),
	    "password_logins", (json_int_t)a->pw_logins,
	    "password_rotate", a->pw_rotate != 0,
	    "locked", locked,
	    "locked_until", jtime(locked ? a->locked_until : 0),
	    "failed_count", (json_int_t)a->failed_count,
	    "failed_since_login", (json_int_t)a->failed_since_login,
	    "last_login", jtime(a->last_login),
	    "last_login_terminal", a->last_login_terminal[0] ?
	    a->last_login_terminal : NULL,
	    "last_logout", jtime(a->last_logout),
	    "end", jtime(a->end_date),
	    "created", jtime(a->created),
	    "updated", jtime(a->updated));
}

/* The subpath of a prefix route as a login, or answer 400. */
static const char *
sub_login(struct kagid_req *r)
{
	if (r->subpath == NULL || !store_login_valid(r->subpath)) {
		reply_fault(r, KAGI_ERR_INVALID, "login", _("not a valid login "
		    "name (1 to 32 characters: letters, digits, '.', '_', "
		    "'@', '-')"));
		return NULL;
	}
	return r->subpath;
}

static void
reply_store_err(struct kagid_req *r, int rc, const char *what)
{
	kagi_log_err("%s: store: %s", what, kagi_err_name(rc));
	kagid_reply_error(r, 0, rc, NULL);
}

/* ---- persons ---- */

static void
api_person_add(struct kagid_req *r)
{
	static const char *const allowed[] = { "staff_no", "name", "kana",
	    "section", "employment", "start", "end", NULL };
	struct kagid_actor ac;
	struct store_person p;
	struct store_txn *t = NULL;
	json_t *b = NULL;
	const char *no, *name, *kana, *section, *emp, *start, *end;
	int64_t now = kagi_now(), sd = 0, ed = 0;
	int rc;

	memset(&p, 0, sizeof(p));
	if (no_query(r) != 0 || get_body(r, allowed, &b) != 0)
		return;
	no = json_string_value(json_object_get(b, "staff_no"));
	if (kagid_authz_require(r, "person.add", no != NULL &&
	    store_staff_no_valid(no) ? no : "", &ac) != 0)
		goto out;
	if (field_str(r, b, "staff_no", 1, 64, &no) != 0 ||
	    field_str(r, b, "name", 1, NAME_MAX_BYTES, &name) != 0 ||
	    field_str(r, b, "kana", 0, NAME_MAX_BYTES, &kana) != 0 ||
	    field_str(r, b, "section", 0, NAME_MAX_BYTES, &section) != 0 ||
	    field_str(r, b, "employment", 1, 64, &emp) != 0 ||
	    field_str(r, b, "start", 0, 64, &start) != 0 ||
	    field_str(r, b, "end", 0, 64, &end) != 0)
		goto out;
	if (!store_staff_no_valid(no)) {
		reply_fault(r, KAGI_ERR_INVALID, "staff_no", _("not a valid "
		    "staff number (1 to 32 characters: digits, letters, '-')"));
		goto out;
	}
	if (name[0] == '\0' || !printable(name) || !printable(kana) ||
	    !printable(section)) {
		reply_fault(r, KAGI_ERR_INVALID, "name", _("the name, kana "
		    "and section must be non-empty text without control "
		    "characters"));
		goto out;
	}
	if (!employment_valid(emp)) {
		reply_fault(r, KAGI_ERR_INVALID, "employment", _("unknown "
		    "employment type (regular, fiscal-year, temporary, "
		    "part-time, dispatched, contractor, council, other)"));
		goto out;
	}
	if ((start != NULL && parse_date(start, 0, &sd) != 0) ||
	    (end != NULL && parse_date(end, 1, &ed) != 0)) {
		reply_fault(r, KAGI_ERR_INVALID, start != NULL && sd == 0 ?
		    "start" : "end", _("not a date (YYYY-MM-DD or RFC 3339)"));
		goto out;
	}
	/* R-ID-11: contractor and dispatched people must have an end date */
	if (ed == 0 && (strcmp(emp, "contractor") == 0 ||
	    strcmp(emp, "dispatched") == 0)) {
		reply_fault(r, KAGI_ERR_INVALID, "end", _("contractor and "
		    "dispatched staff need an end date (R-ID-11)"));
		goto out;
	}
	if (ed != 0 && sd != 0 && ed <= sd) {
		reply_fault(r, KAGI_ERR_INVALID, "end", _("the end date is "
		    "not after the start date"));
		goto out;
	}
	p.staff_no = (char *)no;
	p.name = (char *)name;
	p.kana = (char *)(kana != NULL ? kana : "");
	p.section = (char *)(section != NULL ? section : "");
	p.employment = (char *)emp;
	p.hr_status = (char *)"active";
	p.start_date = sd;
	p.end_date = ed;
	p.created = p.updated = now;
	if ((rc = store_txn_begin(r->k->store, 1, &t)) != 0) {
		reply_store_err(r, rc, "person add");
		goto out;
	}
	if ((rc = store_person_add(t, &p)) == KAGI_ERR_EXISTS) {
		char msg[160];
		snprintf(msg, sizeof(msg), _("a person with staff number %s "
		    "already exists"), no);
		reply_fault(r, rc, "staff_no", msg);
		goto out;
	}
	if (rc != 0 || (rc = audit(t, ac.id, "person.add", no, "ok",
	    json_pack("{s:s, s:s}", "employment", emp, "section",
	    p.section))) != 0 || (rc = commit(&t)) != 0) {
		reply_store_err(r, rc, "person add");
		goto out;
	}
	kagi_log_info("event=person_add staff_no=%s actor=\"%s\"", no, ac.id);
	kagid_reply_json(r, 201, json_pack("{s:o}", "person", person_json(&p)));
out:
	store_txn_abort(t);
	json_decref(b);
}

static int
person_list_cb(const struct store_person *p, void *arg)
{
	json_t *o = person_json(p);

	if (o == NULL || json_array_append_new(arg, o) != 0)
		return KAGI_ERR_NOMEM;
	return 0;
}

static void
api_person_list(struct kagid_req *r)
{
	struct kagid_actor ac;
	struct store_txn *t = NULL;
	json_t *a = NULL;
	int rc;

	if (no_query(r) != 0 ||
	    kagid_authz_require(r, "person.list", "", &ac) != 0)
		return;
	if ((a = json_array()) == NULL) {
		kagid_reply_error(r, 0, KAGI_ERR_NOMEM, NULL);
		return;
	}
	if ((rc = store_txn_begin(r->k->store, 0, &t)) != 0 ||
	    (rc = store_person_iter(t, person_list_cb, a)) != 0) {
		store_txn_abort(t);
		json_decref(a);
		reply_store_err(r, rc, "person list");
		return;
	}
	store_txn_abort(t);
	kagid_reply_json(r, 200, json_pack("{s:o}", "persons", a));
}

struct acct_of {
	const char *staff_no;
	json_t *list;        /* accounts of the person (may be NULL) */
	int personal;        /* a live personal account exists */
	int64_t now;
};

static int
acct_of_cb(const struct store_account *a, void *arg)
{
	struct acct_of *x = arg;

	if (strcmp(a->staff_no, x->staff_no) != 0)
		return 0;
	if (a->kind == STORE_KIND_PERSONAL && a->state != STORE_ACCT_DELETED)
		x->personal = 1;
	if (x->list != NULL && json_array_append_new(x->list,
	    json_pack("{s:s, s:s, s:s}", "login", a->login, "kind",
	    a->kind < STORE_KIND_COUNT ? kind_names[a->kind] : "?", "state",
	    a->state < STORE_ACCT_STATE_COUNT ? state_names[a->state] :
	    "?")) != 0)
		return KAGI_ERR_NOMEM;
	return 0;
}

static void
api_person_show(struct kagid_req *r)
{
	struct kagid_actor ac;
	struct store_txn *t = NULL;
	struct store_person p;
	struct acct_of x;
	json_t *o = NULL;
	int rc;

	memset(&p, 0, sizeof(p));
	memset(&x, 0, sizeof(x));
	if (no_query(r) != 0)
		return;
	if (r->subpath == NULL || !store_staff_no_valid(r->subpath)) {
		reply_fault(r, KAGI_ERR_INVALID, "staff_no", _("not a valid "
		    "staff number (1 to 32 characters: digits, letters, '-')"));
		return;
	}
	if (kagid_authz_require(r, "person.show", r->subpath, &ac) != 0)
		return;
	x.staff_no = r->subpath;
	if ((x.list = json_array()) == NULL) {
		kagid_reply_error(r, 0, KAGI_ERR_NOMEM, NULL);
		return;
	}
	if ((rc = store_txn_begin(r->k->store, 0, &t)) == 0 &&
	    (rc = store_person_get(t, r->subpath, &p)) == 0)
		rc = store_account_iter(t, acct_of_cb, &x);
	store_txn_abort(t);
	if (rc == KAGI_ERR_NOT_FOUND) {
		reply_fault(r, rc, "staff_no", _("no person with this staff "
		    "number"));
	} else if (rc != 0) {
		reply_store_err(r, rc, "person show");
	} else if ((o = person_json(&p)) == NULL ||
	    json_object_set(o, "accounts", x.list) != 0) {
		json_decref(o);
		kagid_reply_error(r, 0, KAGI_ERR_NOMEM, NULL);
	} else {
		kagid_reply_json(r, 200, json_pack("{s:o}", "person", o));
	}
	json_decref(x.list);
	store_person_clear(&p);
}

/* ---- accounts ---- */

/*
 * The answer with the temporary password (R-PW-10: shown once).  Built in
 * secure memory and wiped; the password alphabet needs no JSON escaping.
 */
static void
reply_with_temp(struct kagid_req *r, int status, json_t *user,
    const char *temp, int64_t expires)
{
	char *u = NULL, *buf = NULL, exp[64];
	size_t n;

	u = json_dumps(user, JSON_COMPACT);
	json_decref(user);
	if (u == NULL || kagi_time_format_utc(expires, exp, sizeof(exp)) != 0) {
		free(u);
		kagid_reply_error(r, 0, KAGI_ERR_NOMEM, NULL);
		return;
	}
	n = strlen(u) + strlen(temp) + strlen(exp) + 128;
	if ((buf = kagi_secure_alloc(n)) == NULL) {
		free(u);
		kagid_reply_error(r, 0, KAGI_ERR_NOMEM, NULL);
		return;
	}
	snprintf(buf, n, "{\"user\":%s,\"temporary_password\":\"%s\","
	    "\"temporary_password_expires\":\"%s\"}\n", u, temp, exp);
	kagid_reply_text(r, status, "application/json", buf, strlen(buf));
	kagi_secure_free(buf, n);
	free(u);
}

/* A new temporary password and its hash for the account's tier. */
static int
temp_new(const struct policy *pol, enum store_account_kind kind, int64_t now,
    char **temp, char **hash, int64_t *expires)
{
	const struct policy_password *pw =
	    policy_password(pol, policy_tier_for_kind(kind));
	int rc;

	*temp = NULL;
	*hash = NULL;
	*expires = 0;
	if (pw == NULL)
		return KAGI_ERR_INTERNAL;
	if ((rc = kagid_pw_temp_new(pw->temp_length, temp)) != 0)
		return rc;
	if ((rc = kagid_pw_hash(*temp, pw->hash_cost, hash)) != 0) {
		kagi_secure_strfree(*temp);
		*temp = NULL;
		return rc;
	}
	*expires = now + (int64_t)pw->temp_hours * 3600;
	return 0;
}

static void
api_user_add(struct kagid_req *r)
{
	static const char *const allowed[] = { "login", "kind", "person",
	    "end", NULL };
	struct kagid_actor ac;
	struct store_account a;
	struct store_person p;
	struct store_txn *t = NULL;
	struct acct_of x;
	json_t *b = NULL;
	const char *login, *kind_s, *person, *end;
	char *temp = NULL, *hash = NULL, msg[200];
	int64_t now = kagi_now(), ed = 0, texp = 0;
	int kind, rc;

	memset(&a, 0, sizeof(a));
	memset(&p, 0, sizeof(p));
	memset(&x, 0, sizeof(x));
	if (no_query(r) != 0 || get_body(r, allowed, &b) != 0)
		return;
	login = json_string_value(json_object_get(b, "login"));
	if (kagid_authz_require(r, "user.add", login != NULL &&
	    store_login_valid(login) ? login : "", &ac) != 0)
		goto out;
	if (field_str(r, b, "login", 1, 64, &login) != 0 ||
	    field_str(r, b, "kind", 1, 32, &kind_s) != 0 ||
	    field_str(r, b, "person", 0, 64, &person) != 0 ||
	    field_str(r, b, "end", 0, 64, &end) != 0)
		goto out;
	if (!store_login_valid(login)) {
		reply_fault(r, KAGI_ERR_INVALID, "login", _("not a valid login "
		    "name (1 to 32 characters: letters, digits, '.', '_', "
		    "'@', '-')"));
		goto out;
	}
	if ((kind = kind_from_name(kind_s)) < 0) {
		reply_fault(r, KAGI_ERR_INVALID, "kind", _("unknown account "
		    "kind (personal, shared, privileged, development, "
		    "contractor, service)"));
		goto out;
	}
	if (end != NULL && (parse_date(end, 1, &ed) != 0 || ed <= now)) {
		reply_fault(r, KAGI_ERR_INVALID, "end", _("the end date must "
		    "be a date in the future (YYYY-MM-DD)"));
		goto out;
	}
	/* R-DEV-1, R-CONTR-1 */
	if (ed == 0 && (kind == STORE_KIND_DEVELOPMENT ||
	    kind == STORE_KIND_CONTRACTOR)) {
		reply_fault(r, KAGI_ERR_INVALID, "end", _("development and "
		    "contractor accounts need an end date (R-DEV-1, "
		    "R-CONTR-1)"));
		goto out;
	}
	if (kind == STORE_KIND_SERVICE && person != NULL) {
		reply_fault(r, KAGI_ERR_INVALID, "person", _("a service "
		    "account belongs to no person"));
		goto out;
	}
	if (kind != STORE_KIND_SERVICE && person == NULL) {
		reply_fault(r, KAGI_ERR_INVALID, "person", _("this kind of "
		    "account needs the staff number of its person"));
		goto out;
	}
	if (person != NULL && !store_staff_no_valid(person)) {
		reply_fault(r, KAGI_ERR_INVALID, "person", _("not a valid "
		    "staff number (1 to 32 characters: digits, letters, '-')"));
		goto out;
	}
	if (kind == STORE_KIND_PRIVILEGED) {
		for (size_t i = 0; default_admin_names[i] != NULL; i++) {
			if (strcasecmp(login, default_admin_names[i]) == 0) {
				reply_fault(r, KAGI_ERR_INVALID, "login",
				    _("a privileged account may not have a "
				    "default administrator name (R-PRIV-6)"));
				goto out;
			}
		}
	}
	if (kind != STORE_KIND_SERVICE && (rc = temp_new(r->k->policy,
	    (enum store_account_kind)kind, now, &temp, &hash, &texp)) != 0) {
		kagid_reply_error(r, 0, rc, NULL);
		goto out;
	}
	if ((rc = store_txn_begin(r->k->store, 1, &t)) != 0) {
		reply_store_err(r, rc, "user add");
		goto out;
	}
	if (person != NULL) {
		if ((rc = store_person_get(t, person, &p)) != 0) {
			if (rc == KAGI_ERR_NOT_FOUND)
				reply_fault(r, rc, "person", _("no person with "
				    "this staff number"));
			else
				reply_store_err(r, rc, "user add");
			goto out;
		}
		if (strcmp(p.hr_status, "retired") == 0 ||
		    strcmp(p.hr_status, "deceased") == 0 ||
		    strcmp(p.hr_status, "contract-ended") == 0 ||
		    (p.end_date != 0 && p.end_date <= now)) {
			reply_fault(r, KAGI_ERR_DENIED, "person", _("the "
			    "person has left; no new account can be made"));
			goto out;
		}
		x.staff_no = person;
		if ((rc = store_account_iter(t, acct_of_cb, &x)) != 0) {
			reply_store_err(r, rc, "user add");
			goto out;
		}
		if (kind == STORE_KIND_PERSONAL && x.personal) {
			snprintf(msg, sizeof(msg), _("the person %s already "
			    "has a personal account"), person);
			reply_fault(r, KAGI_ERR_EXISTS, "person", msg);
			goto out;
		}
	}
	a.login = (char *)login;
	a.staff_no = (char *)(person != NULL ? person : "");
	a.kind = (uint8_t)kind;
	a.state = STORE_ACCT_ACTIVE;
	a.pw_hash = hash != NULL ? hash : (char *)"";
	a.pw_temp = hash != NULL ? 1 : 0;
	a.pw_temp_expires = texp;
	a.pw_changed = now;
	a.last_login_terminal = (char *)"";
	a.end_date = ed;
	a.created = a.updated = now;
	if ((rc = store_account_add(t, &a)) == KAGI_ERR_EXISTS) {
		snprintf(msg, sizeof(msg), _("an account named %s already "
		    "exists"), login);
		reply_fault(r, rc, "login", msg);
		goto out;
	}
	if (rc != 0 || (rc = audit(t, ac.id, "user.add", login, "ok",
	    json_pack("{s:s, s:s?, s:o, s:o}", "kind", kind_names[kind],
	    "person", person, "end", jtime(ed), "temporary_password_expires",
	    jtime(texp)))) != 0 || (rc = commit(&t)) != 0) {
		reply_store_err(r, rc, "user add");
		goto out;
	}
	kagi_log_info("event=user_add account=%s kind=%s actor=\"%s\"", login,
	    kind_names[kind], ac.id);
	a.pw_hash = (char *)"";
	if (temp != NULL)
		reply_with_temp(r, 201, account_json(&a, now), temp, texp);
	else
		kagid_reply_json(r, 201, json_pack("{s:o}", "user",
		    account_json(&a, now)));
out:
	store_txn_abort(t);
	store_person_clear(&p);
	kagi_secure_strfree(temp);
	free(hash);
	json_decref(b);
}

struct user_list {
	json_t *list;
	int64_t now;
};

static int
user_list_cb(const struct store_account *a, void *arg)
{
	struct user_list *x = arg;
	json_t *o = account_json(a, x->now);

	if (o == NULL || json_array_append_new(x->list, o) != 0)
		return KAGI_ERR_NOMEM;
	return 0;
}

static void
api_user_list(struct kagid_req *r)
{
	struct kagid_actor ac;
	struct store_txn *t = NULL;
	struct user_list x;
	int rc;

	if (no_query(r) != 0 ||
	    kagid_authz_require(r, "user.list", "", &ac) != 0)
		return;
	x.now = kagi_now();
	if ((x.list = json_array()) == NULL) {
		kagid_reply_error(r, 0, KAGI_ERR_NOMEM, NULL);
		return;
	}
	if ((rc = store_txn_begin(r->k->store, 0, &t)) != 0 ||
	    (rc = store_account_iter(t, user_list_cb, &x)) != 0) {
		store_txn_abort(t);
		json_decref(x.list);
		reply_store_err(r, rc, "user list");
		return;
	}
	store_txn_abort(t);
	kagid_reply_json(r, 200, json_pack("{s:o}", "users", x.list));
}

struct member_walk {
	const char *login;   /* member_of: this member; NULL: all members */
	json_t *list;
	struct store_txn *t;
	int64_t now;
	int err;
};

static int
members_cb(const struct store_member *m, void *arg)
{
	struct member_walk *w = arg;

	if (json_array_append_new(w->list, json_pack("{s:s, s:o}", "member",
	    m->member, "added", jtime(m->added))) != 0)
		return KAGI_ERR_NOMEM;
	return 0;
}

static int
member_of_cb(const struct store_member *m, void *arg)
{
	struct member_walk *w = arg;

	if (strcmp(m->member, w->login) != 0)
		return 0;
	if (json_array_append_new(w->list, json_string(m->shared)) != 0)
		return KAGI_ERR_NOMEM;
	return 0;
}

static void
api_user_show(struct kagid_req *r)
{
	struct kagid_actor ac;
	struct store_txn *t = NULL;
	struct store_account a;
	struct member_walk w;
	json_t *o = NULL, *members = NULL, *member_of = NULL;
	const char *login;
	int rc;

	memset(&a, 0, sizeof(a));
	memset(&w, 0, sizeof(w));
	if (no_query(r) != 0 || (login = sub_login(r)) == NULL ||
	    kagid_authz_require(r, "user.show", login, &ac) != 0)
		return;
	members = json_array();
	member_of = json_array();
	if ((rc = store_txn_begin(r->k->store, 0, &t)) == 0)
		rc = store_account_get(t, login, &a);
	if (rc == 0 && a.kind == STORE_KIND_SHARED) {
		w.list = members;
		rc = store_member_iter(t, login, members_cb, &w);
	}
	if (rc == 0) {
		w.list = member_of;
		w.login = login;
		rc = store_member_iter(t, NULL, member_of_cb, &w);
	}
	store_txn_abort(t);
	if (rc == KAGI_ERR_NOT_FOUND)
		reply_fault(r, rc, "login", _("no account with this login "
		    "name"));
	else if (rc != 0)
		reply_store_err(r, rc, "user show");
	else if ((o = account_json(&a, kagi_now())) == NULL)
		kagid_reply_error(r, 0, KAGI_ERR_NOMEM, NULL);
	else {
		if (a.kind == STORE_KIND_SHARED)
			json_object_set(o, "members", members);
		json_object_set(o, "member_of", member_of);
		kagid_reply_json(r, 200, json_pack("{s:o}", "user", o));
	}
	json_decref(members);
	json_decref(member_of);
	store_account_clear(&a);
}

/*
 * The common shape of a state change on one account: authorise, read the
 * account in a write transaction, let fn change it (or answer a refusal:
 * fn returns non-zero after replying), write it with its audit record.
 */
typedef int acct_fn(struct kagid_req *r, struct store_txn *t,
    struct store_account *a, int64_t now, json_t **detail, void *arg);

static void
account_change(struct kagid_req *r, const char *action, const char *audit_as,
    acct_fn *fn, void *arg, json_t *extra)
{
	struct kagid_actor ac;
	struct store_txn *t = NULL;
	struct store_account a;
	json_t *detail = NULL, *o = NULL;
	const char *login;
	int64_t now = kagi_now();
	int rc;

	memset(&a, 0, sizeof(a));
	if ((login = sub_login(r)) == NULL ||
	    kagid_authz_require(r, action, login, &ac) != 0)
		goto out;
	if ((rc = store_txn_begin(r->k->store, 1, &t)) != 0) {
		reply_store_err(r, rc, action);
		goto out;
	}
	if ((rc = store_account_get(t, login, &a)) != 0) {
		if (rc == KAGI_ERR_NOT_FOUND)
			reply_fault(r, rc, "login", _("no account with this "
			    "login name"));
		else
			reply_store_err(r, rc, action);
		goto out;
	}
	if (fn(r, t, &a, now, &detail, arg) != 0)
		goto out;
	a.updated = now;
	if ((rc = store_account_put(t, &a)) != 0 ||
	    (rc = audit(t, ac.id, audit_as, login, "ok", detail)) != 0 ||
	    (rc = commit(&t)) != 0) {
		detail = NULL;
		reply_store_err(r, rc, action);
		goto out;
	}
	detail = NULL;
	kagi_log_info("event=%s account=%s actor=\"%s\"", audit_as, login,
	    ac.id);
	if ((o = account_json(&a, now)) != NULL && extra != NULL)
		json_object_update(o, extra);
	kagid_reply_json(r, 200, json_pack("{s:o}", "user", o));
out:
	json_decref(detail);
	json_decref(extra);
	store_txn_abort(t);
	store_account_clear(&a);
}

static int
do_disable(struct kagid_req *r, struct store_txn *t, struct store_account *a,
    int64_t now, json_t **detail, void *arg)
{
	(void)t;
	(void)now;
	(void)arg;
	if (a->state == STORE_ACCT_DELETED) {
		reply_fault(r, KAGI_ERR_CONFLICT, "login", _("the account is "
		    "deleted"));
		return -1;
	}
	*detail = json_pack("{s:s}", "from", state_names[a->state]);
	a->state = STORE_ACCT_DISABLED;
	return 0;
}

static int
do_enable(struct kagid_req *r, struct store_txn *t, struct store_account *a,
    int64_t now, json_t **detail, void *arg)
{
	(void)t;
	(void)arg;
	if (a->state == STORE_ACCT_DELETED) {
		reply_fault(r, KAGI_ERR_CONFLICT, "login", _("a deleted "
		    "account cannot be enabled"));
		return -1;
	}
	if (a->end_date != 0 && a->end_date <= now) {
		reply_fault(r, KAGI_ERR_EXPIRED, "login", _("the account is "
		    "past its end date"));
		return -1;
	}
	*detail = json_pack("{s:s}", "from", state_names[a->state]);
	a->state = STORE_ACCT_ACTIVE;
	return 0;
}

static int
do_unlock(struct kagid_req *r, struct store_txn *t, struct store_account *a,
    int64_t now, json_t **detail, void *arg)
{
	(void)r;
	(void)t;
	(void)arg;
	*detail = json_pack("{s:b, s:I}", "was_locked",
	    policy_check_locked(a->locked_until, now) != 0,
	    "failures", (json_int_t)a->failed_count);
	a->failed_count = 0;
	a->failed_first = 0;
	a->locked_until = 0;
	return 0;
}

static void
api_user_disable(struct kagid_req *r)
{
	if (no_query(r) == 0)
		account_change(r, "user.disable", "user.disable", do_disable,
		    NULL, NULL);
}

static void
api_user_enable(struct kagid_req *r)
{
	if (no_query(r) == 0)
		account_change(r, "user.enable", "user.enable", do_enable,
		    NULL, NULL);
}

static void
api_user_unlock(struct kagid_req *r)
{
	if (no_query(r) == 0)
		account_change(r, "user.unlock", "user.unlock", do_unlock,
		    NULL, NULL);
}

/* A member leaves a shared ID: drop the pair, flag the shared password
 * for rotation (R-PW-9). */
static int
drop_member(struct store_txn *t, const char *shared, const char *member,
    int64_t now)
{
	struct store_account s;
	int rc;

	memset(&s, 0, sizeof(s));
	if ((rc = store_member_del(t, shared, member)) != 0)
		return rc;
	if ((rc = store_account_get(t, shared, &s)) == 0 &&
	    s.state != STORE_ACCT_DELETED) {
		s.pw_rotate = 1;
		s.updated = now;
		rc = store_account_put(t, &s);
	} else if (rc == KAGI_ERR_NOT_FOUND) {
		rc = 0;
	}
	store_account_clear(&s);
	return rc;
}

struct pair {
	char shared[40], member[40];
};

struct pairs {
	const char *login;
	int as_shared;       /* 1: pairs of this shared ID; 0: as member */
	struct pair *v;
	size_t n, cap;
};

static int
collect_pairs_cb(const struct store_member *m, void *arg)
{
	struct pairs *p = arg;

	if (!p->as_shared && strcmp(m->member, p->login) != 0)
		return 0;
	if (p->n == p->cap) {
		size_t nc = p->cap ? 2 * p->cap : 8;
		struct pair *nv = realloc(p->v, nc * sizeof(*nv));
		if (nv == NULL)
			return KAGI_ERR_NOMEM;
		p->v = nv;
		p->cap = nc;
	}
	snprintf(p->v[p->n].shared, sizeof(p->v[0].shared), "%s", m->shared);
	snprintf(p->v[p->n].member, sizeof(p->v[0].member), "%s", m->member);
	p->n++;
	return 0;
}

static int
do_delete(struct kagid_req *r, struct store_txn *t, struct store_account *a,
    int64_t now, json_t **detail, void *arg)
{
	struct pairs p;
	json_t *flagged = json_array();
	int rc = 0;

	(void)arg;
	memset(&p, 0, sizeof(p));
	if (a->state == STORE_ACCT_DELETED) {
		json_decref(flagged);
		reply_fault(r, KAGI_ERR_CONFLICT, "login", _("the account is "
		    "already deleted"));
		return -1;
	}
	/* its memberships end; those shared IDs must rotate (R-PW-9) */
	p.login = a->login;
	p.as_shared = 0;
	if ((rc = store_member_iter(t, NULL, collect_pairs_cb, &p)) == 0) {
		for (size_t i = 0; rc == 0 && i < p.n; i++) {
			rc = drop_member(t, p.v[i].shared, p.v[i].member, now);
			json_array_append_new(flagged,
			    json_string(p.v[i].shared));
		}
	}
	/* a deleted shared ID has no members */
	p.n = 0;
	p.as_shared = 1;
	if (rc == 0 && a->kind == STORE_KIND_SHARED &&
	    (rc = store_member_iter(t, a->login, collect_pairs_cb, &p)) == 0)
		for (size_t i = 0; rc == 0 && i < p.n; i++)
			rc = store_member_del(t, p.v[i].shared, p.v[i].member);
	free(p.v);
	if (rc != 0) {
		json_decref(flagged);
		reply_store_err(r, rc, "user delete");
		return -1;
	}
	*detail = json_pack("{s:s, s:o}", "from", state_names[a->state],
	    "rotate", flagged);
	/*
	 * The record stays (R-CONTR-1: history is kept, the name is not
	 * reused); its secrets and roles go.
	 */
	a->state = STORE_ACCT_DELETED;
	a->roles = 0;
	for (uint32_t i = 0; i < a->pw_history_n; i++) {
		kagi_wipe(a->pw_history[i], strlen(a->pw_history[i]));
		free(a->pw_history[i]);
		a->pw_history[i] = NULL;
	}
	a->pw_history_n = 0;
	kagi_wipe(a->pw_hash, strlen(a->pw_hash));
	a->pw_hash[0] = '\0';
	a->pw_temp = 0;
	a->pw_temp_expires = 0;
	return 0;
}

static void
api_user_delete(struct kagid_req *r)
{
	if (no_query(r) == 0)
		account_change(r, "user.delete", "user.delete", do_delete,
		    NULL, NULL);
}

struct reset_ctx {
	char *temp;
	int64_t expires;
};

static int
do_reset(struct kagid_req *r, struct store_txn *t, struct store_account *a,
    int64_t now, json_t **detail, void *arg)
{
	struct reset_ctx *x = arg;
	const struct policy_password *pw;
	char *hash = NULL;
	int rc;

	(void)t;
	if (a->state != STORE_ACCT_ACTIVE) {
		reply_fault(r, KAGI_ERR_CONFLICT, "login", _("the account is "
		    "not active; enable it first"));
		return -1;
	}
	if (a->kind == STORE_KIND_SERVICE) {
		reply_fault(r, KAGI_ERR_INVALID, "login", _("service accounts "
		    "have no password"));
		return -1;
	}
	pw = policy_password(r->k->policy,
	    policy_tier_for_kind((enum store_account_kind)a->kind));
	if ((rc = temp_new(r->k->policy, (enum store_account_kind)a->kind,
	    now, &x->temp, &hash, &x->expires)) != 0 ||
	    (rc = kagid_pw_set(a, hash, pw->history, 1, x->expires, now)) !=
	    0) {
		kagid_reply_error(r, 0, rc, NULL);
		return -1;
	}
	*detail = json_pack("{s:o}", "temporary_password_expires",
	    jtime(x->expires));
	return 0;
}

static void
api_user_reset(struct kagid_req *r)
{
	struct kagid_actor ac;
	struct store_txn *t = NULL;
	struct store_account a;
	struct reset_ctx x;
	json_t *detail = NULL;
	const char *login;
	int64_t now = kagi_now();
	int rc;

	memset(&a, 0, sizeof(a));
	memset(&x, 0, sizeof(x));
	if (no_query(r) != 0 || (login = sub_login(r)) == NULL ||
	    kagid_authz_require(r, "user.reset-password", login, &ac) != 0)
		return;
	if ((rc = store_txn_begin(r->k->store, 1, &t)) != 0) {
		reply_store_err(r, rc, "reset-password");
		goto out;
	}
	if ((rc = store_account_get(t, login, &a)) != 0) {
		if (rc == KAGI_ERR_NOT_FOUND)
			reply_fault(r, rc, "login", _("no account with this "
			    "login name"));
		else
			reply_store_err(r, rc, "reset-password");
		goto out;
	}
	if (do_reset(r, t, &a, now, &detail, &x) != 0)
		goto out;
	if ((rc = store_account_put(t, &a)) != 0 ||
	    (rc = audit(t, ac.id, "user.reset-password", login, "ok",
	    detail)) != 0 || (rc = commit(&t)) != 0) {
		detail = NULL;
		reply_store_err(r, rc, "reset-password");
		goto out;
	}
	detail = NULL;
	kagi_log_info("event=password_reset account=%s actor=\"%s\"", login,
	    ac.id);
	reply_with_temp(r, 200, account_json(&a, now), x.temp, x.expires);
out:
	json_decref(detail);
	kagi_secure_strfree(x.temp);
	store_txn_abort(t);
	store_account_clear(&a);
}

/* ---- shared-ID members (R-ID-7, R-PW-9) ---- */

static void
api_members_list(struct kagid_req *r)
{
	struct kagid_actor ac;
	struct store_txn *t = NULL;
	struct store_account a;
	struct member_walk w;
	const char *login;
	int rc;

	memset(&a, 0, sizeof(a));
	memset(&w, 0, sizeof(w));
	if (no_query(r) != 0 || (login = sub_login(r)) == NULL ||
	    kagid_authz_require(r, "user.show", login, &ac) != 0)
		return;
	if ((w.list = json_array()) == NULL) {
		kagid_reply_error(r, 0, KAGI_ERR_NOMEM, NULL);
		return;
	}
	if ((rc = store_txn_begin(r->k->store, 0, &t)) == 0 &&
	    (rc = store_account_get(t, login, &a)) == 0)
		rc = store_member_iter(t, login, members_cb, &w);
	store_txn_abort(t);
	if (rc == KAGI_ERR_NOT_FOUND)
		reply_fault(r, rc, "login", _("no account with this login "
		    "name"));
	else if (rc != 0)
		reply_store_err(r, rc, "members");
	else
		kagid_reply_json(r, 200, json_pack("{s:s, s:b, s:O}", "shared",
		    login, "password_rotate", a.pw_rotate != 0, "members",
		    w.list));
	json_decref(w.list);
	store_account_clear(&a);
}

static void
api_member_add(struct kagid_req *r)
{
	static const char *const allowed[] = { "member", NULL };
	struct kagid_actor ac;
	struct store_txn *t = NULL;
	struct store_account s, m;
	struct store_member rec;
	json_t *b = NULL;
	const char *shared, *member;
	int64_t now = kagi_now();
	int rc;

	memset(&s, 0, sizeof(s));
	memset(&m, 0, sizeof(m));
	if (no_query(r) != 0 || (shared = sub_login(r)) == NULL ||
	    get_body(r, allowed, &b) != 0)
		return;
	if (kagid_authz_require(r, "user.member", shared, &ac) != 0 ||
	    field_str(r, b, "member", 1, 64, &member) != 0)
		goto out;
	if (!store_login_valid(member) || strcmp(member, shared) == 0) {
		reply_fault(r, KAGI_ERR_INVALID, "member", _("not a valid "
		    "member login name"));
		goto out;
	}
	if ((rc = store_txn_begin(r->k->store, 1, &t)) != 0) {
		reply_store_err(r, rc, "member add");
		goto out;
	}
	if ((rc = store_account_get(t, shared, &s)) != 0 ||
	    (rc = store_account_get(t, member, &m)) != 0) {
		if (rc == KAGI_ERR_NOT_FOUND)
			reply_fault(r, rc, s.login == NULL ? "login" :
			    "member", _("no account with this login name"));
		else
			reply_store_err(r, rc, "member add");
		goto out;
	}
	if (s.kind != STORE_KIND_SHARED || s.state == STORE_ACCT_DELETED) {
		reply_fault(r, KAGI_ERR_INVALID, "login", _("only a shared "
		    "account has members"));
		goto out;
	}
	/* members use their own personal ID as well (R-ID-7) */
	if (m.kind != STORE_KIND_PERSONAL || m.state != STORE_ACCT_ACTIVE) {
		reply_fault(r, KAGI_ERR_INVALID, "member", _("a member must be "
		    "an active personal account"));
		goto out;
	}
	rec.shared = (char *)shared;
	rec.member = (char *)member;
	rec.added = now;
	if ((rc = store_member_add(t, &rec)) == KAGI_ERR_EXISTS) {
		reply_fault(r, rc, "member", _("already a member"));
		goto out;
	}
	if (rc != 0 || (rc = audit(t, ac.id, "user.member-add", shared, "ok",
	    json_pack("{s:s}", "member", member))) != 0 ||
	    (rc = commit(&t)) != 0) {
		reply_store_err(r, rc, "member add");
		goto out;
	}
	kagid_reply_json(r, 201, json_pack("{s:s, s:s, s:o}", "shared",
	    shared, "member", member, "added", jtime(now)));
out:
	store_txn_abort(t);
	store_account_clear(&s);
	store_account_clear(&m);
	json_decref(b);
}

static void
api_member_remove(struct kagid_req *r)
{
	struct kagid_actor ac;
	struct store_txn *t = NULL;
	struct evkeyvalq q;
	struct evkeyval *kv;
	const char *shared, *member = NULL;
	int64_t now = kagi_now();
	int rc, bad = 0;

	TAILQ_INIT(&q);
	if ((shared = sub_login(r)) == NULL)
		return;
	if (r->query == NULL || evhttp_parse_query_str(r->query, &q) != 0) {
		reply_fault(r, KAGI_ERR_INVALID, "member", _("name the member: "
		    "?member=LOGIN"));
		return;
	}
	TAILQ_FOREACH(kv, &q, next) {
		if (strcmp(kv->key, "member") == 0 && member == NULL)
			member = kv->value;
		else
			bad = 1;
	}
	if (bad || member == NULL || !store_login_valid(member)) {
		reply_fault(r, KAGI_ERR_INVALID, "member", _("name the member: "
		    "?member=LOGIN"));
		goto out;
	}
	if (kagid_authz_require(r, "user.member", shared, &ac) != 0)
		goto out;
	if ((rc = store_txn_begin(r->k->store, 1, &t)) != 0) {
		reply_store_err(r, rc, "member remove");
		goto out;
	}
	if ((rc = drop_member(t, shared, member, now)) == KAGI_ERR_NOT_FOUND) {
		reply_fault(r, rc, "member", _("not a member of this shared "
		    "account"));
		goto out;
	}
	if (rc != 0 || (rc = audit(t, ac.id, "user.member-remove", shared,
	    "ok", json_pack("{s:s, s:b}", "member", member, "rotate", 1))) !=
	    0 || (rc = commit(&t)) != 0) {
		reply_store_err(r, rc, "member remove");
		goto out;
	}
	kagi_log_info("event=shared_rotate_required account=%s member_left=%s",
	    shared, member);
	kagid_reply_json(r, 200, json_pack("{s:s, s:s, s:b}", "shared", shared,
	    "removed", member, "password_rotate", 1));
out:
	store_txn_abort(t);
	evhttp_clear_headers(&q);
}

/* ---- operators and roles ---- */

static int
operators_cb(const struct store_account *a, void *arg)
{
	if (a->roles == 0)
		return 0;
	if (json_array_append_new(arg, json_pack("{s:s, s:s, s:s, s:o}",
	    "login", a->login, "kind", a->kind < STORE_KIND_COUNT ?
	    kind_names[a->kind] : "?", "state", a->state <
	    STORE_ACCT_STATE_COUNT ? state_names[a->state] : "?", "roles",
	    kagid_roles_json(a->roles))) != 0)
		return KAGI_ERR_NOMEM;
	return 0;
}

static void
api_operator_list(struct kagid_req *r)
{
	struct kagid_actor ac;
	struct store_txn *t = NULL;
	json_t *a;
	int rc;

	if (no_query(r) != 0 ||
	    kagid_authz_require(r, "operator.list", "", &ac) != 0)
		return;
	if ((a = json_array()) == NULL) {
		kagid_reply_error(r, 0, KAGI_ERR_NOMEM, NULL);
		return;
	}
	if ((rc = store_txn_begin(r->k->store, 0, &t)) != 0 ||
	    (rc = store_account_iter(t, operators_cb, a)) != 0) {
		store_txn_abort(t);
		json_decref(a);
		reply_store_err(r, rc, "operator list");
		return;
	}
	store_txn_abort(t);
	kagid_reply_json(r, 200, json_pack("{s:o}", "operators", a));
}

struct grant_ctx {
	uint32_t mask;
	int grant;
	const struct kagid_actor *ac;
};

static int
do_grant(struct kagid_req *r, struct store_txn *t, struct store_account *a,
    int64_t now, json_t **detail, void *arg)
{
	struct grant_ctx *g = arg;

	(void)t;
	(void)now;
	if (g->grant && (a->state != STORE_ACCT_ACTIVE ||
	    a->kind == STORE_KIND_SHARED)) {
		reply_fault(r, KAGI_ERR_INVALID, "login", _("roles go only to "
		    "an active account that is not shared"));
		return -1;
	}
	*detail = json_pack("{s:o, s:o}", g->grant ? "granted" : "revoked",
	    kagid_roles_json(g->mask), "before", kagid_roles_json(a->roles));
	if (g->grant)
		a->roles |= g->mask;
	else
		a->roles &= ~g->mask;
	json_object_set_new(*detail, "roles", kagid_roles_json(a->roles));
	return 0;
}

static void
operator_grant(struct kagid_req *r, int grant)
{
	static const char *const allowed[] = { "roles", NULL };
	struct kagid_actor ac;
	struct grant_ctx g;
	json_t *b = NULL, *roles, *v;
	const char *login;
	size_t i;

	memset(&g, 0, sizeof(g));
	if (no_query(r) != 0 || (login = sub_login(r)) == NULL ||
	    get_body(r, allowed, &b) != 0)
		return;
	/* authorised once here (for the self-change check) and again in
	 * account_change: both are reads of the same policy */
	if (kagid_authz_require(r, "operator.grant", login, &ac) != 0)
		goto out;
	roles = json_object_get(b, "roles");
	if (!json_is_array(roles) || json_array_size(roles) == 0) {
		reply_fault(r, KAGI_ERR_INVALID, "roles", _("roles must be a "
		    "non-empty list of operator, approver, ciso, helpdesk, "
		    "auditor, hr"));
		goto out;
	}
	json_array_foreach(roles, i, v) {
		uint32_t bit = 0;
		if (!json_is_string(v) || policy_roles_parse(json_string_value(v),
		    &bit) != 0 || bit == 0 || (bit & (bit - 1)) != 0) {
			reply_fault(r, KAGI_ERR_INVALID, "roles", _("roles must "
			    "be a non-empty list of operator, approver, ciso, "
			    "helpdesk, auditor, hr"));
			goto out;
		}
		g.mask |= bit;
	}
	/* R-ID-3: nobody changes their own roles (refusal audited) */
	if (!ac.local_admin && strcmp(ac.login, login) == 0) {
		audit_alone(r->k, ac.id, grant ? "operator.grant" :
		    "operator.revoke", login, "denied", json_pack("{s:s}",
		    "reason", "own roles"));
		kagi_log_warn("event=authz_denied action=operator.grant "
		    "actor=\"%s\" reason=own_roles", ac.id);
		reply_fault(r, KAGI_ERR_DENIED, "login", _("an operator cannot "
		    "change their own roles"));
		goto out;
	}
	g.grant = grant;
	g.ac = &ac;
	account_change(r, "operator.grant", grant ? "operator.grant" :
	    "operator.revoke", do_grant, &g, NULL);
out:
	json_decref(b);
}

static void
api_operator_grant(struct kagid_req *r)
{
	operator_grant(r, 1);
}

static void
api_operator_revoke(struct kagid_req *r)
{
	operator_grant(r, 0);
}

/* The deployment's TLS CA (tls_client_ca and ca.key beside it). */
static int
tls_ca_load(struct kagid *k, X509 **cert, EVP_PKEY **key)
{
	char *dir = NULL, *kp = NULL;
	uint8_t *kb = NULL;
	size_t klen = 0;
	BIO *bio = NULL;
	FILE *f = NULL;
	int r = KAGI_ERR_INTERNAL;

	*cert = NULL;
	*key = NULL;
	if ((dir = kagi_path_dirname(k->tls_client_ca)) == NULL ||
	    (kp = kagi_path_join(dir, "ca.key")) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if ((f = fopen(k->tls_client_ca, "re")) == NULL ||
	    (*cert = PEM_read_X509(f, NULL, NULL, NULL)) == NULL) {
		kagi_log_err("operator cert: cannot read %s", k->tls_client_ca);
		r = KAGI_ERR_UNAVAILABLE;
		goto out;
	}
	if ((r = kagi_file_read(kp, 64 * 1024, KAGI_FILE_SECRET, &kb,
	    &klen)) != 0) {
		kagi_log_err("operator cert: cannot read the TLS CA key %s: %s",
		    kp, kagi_err_name(r));
		r = KAGI_ERR_UNAVAILABLE;
		goto out;
	}
	if ((bio = BIO_new_mem_buf(kb, (int)klen)) == NULL ||
	    (*key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL ||
	    X509_check_private_key(*cert, *key) != 1) {
		kagi_log_err("operator cert: %s does not hold the key of %s",
		    kp, k->tls_client_ca);
		r = KAGI_ERR_UNAVAILABLE;
		goto out;
	}
	r = 0;
out:
	if (r != 0) {
		X509_free(*cert);
		EVP_PKEY_free(*key);
		*cert = NULL;
		*key = NULL;
	}
	if (f != NULL)
		fclose(f);
	BIO_free(bio);
	if (kb != NULL)
		kagi_secure_free(kb, klen + 1);
	free(kp);
	free(dir);
	return r;
}

/* A CSR's public key if the CSR is signed by it and the key is strong. */
static int
csr_key(const char *pem, EVP_PKEY **out)
{
	BIO *bio = NULL;
	X509_REQ *req = NULL;
	EVP_PKEY *pk = NULL;
	int r = KAGI_ERR_INVALID, bits;

	*out = NULL;
	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL)) == NULL ||
	    (pk = X509_REQ_get_pubkey(req)) == NULL) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	if (X509_REQ_verify(req, pk) != 1) {
		r = KAGI_ERR_SIG;
		goto out;
	}
	bits = EVP_PKEY_get_bits(pk);
	if (!((EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC && bits >= 256) ||
	    (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA && bits >= 2048) ||
	    EVP_PKEY_get_base_id(pk) == EVP_PKEY_ED25519))
		goto out;
	*out = pk;
	pk = NULL;
	r = 0;
out:
	EVP_PKEY_free(pk);
	X509_REQ_free(req);
	BIO_free(bio);
	return r;
}

static void
api_operator_cert(struct kagid_req *r)
{
	static const char *const allowed[] = { "csr", "days", NULL };
	struct kagid_actor ac;
	struct store_txn *t = NULL;
	struct store_account a;
	X509 *ca = NULL, *x = NULL;
	EVP_PKEY *cakey = NULL, *pub = NULL;
	json_t *b = NULL;
	const char *login, *csr;
	char *pem = NULL, fp[65], *serial = NULL;
	size_t pemlen = 0;
	int64_t now = kagi_now(), days = OPERATOR_CERT_DAYS;
	BIGNUM *bn = NULL;
	int rc;

	memset(&a, 0, sizeof(a));
	if (no_query(r) != 0 || (login = sub_login(r)) == NULL ||
	    get_body(r, allowed, &b) != 0)
		return;
	if (kagid_authz_require(r, "operator.cert", login, &ac) != 0 ||
	    field_str(r, b, "csr", 1, 16384, &csr) != 0)
		goto out;
	if (json_object_get(b, "days") != NULL &&
	    kagi_json_get_int(b, "days", 1, 1, OPERATOR_CERT_DAYS_MAX,
	    &days) != 0) {
		reply_fault(r, KAGI_ERR_INVALID, "days", _("days must be a "
		    "whole number from 1 to 825"));
		goto out;
	}
	if ((rc = csr_key(csr, &pub)) != 0) {
		reply_fault(r, rc, "csr", _("not a certificate request signed "
		    "by its own key (EC P-256 or stronger, RSA 2048 or "
		    "stronger, Ed25519)"));
		goto out;
	}
	if ((rc = store_txn_begin(r->k->store, 1, &t)) != 0) {
		reply_store_err(r, rc, "operator cert");
		goto out;
	}
	if ((rc = store_account_get(t, login, &a)) != 0) {
		if (rc == KAGI_ERR_NOT_FOUND)
			reply_fault(r, rc, "login", _("no account with this "
			    "login name"));
		else
			reply_store_err(r, rc, "operator cert");
		goto out;
	}
	if (a.state != STORE_ACCT_ACTIVE || a.roles == 0) {
		reply_fault(r, KAGI_ERR_INVALID, "login", _("the account is "
		    "not an active operator: grant it a role first"));
		goto out;
	}
	if ((rc = tls_ca_load(r->k, &ca, &cakey)) != 0) {
		reply_fault(r, rc, NULL, _("the deployment's TLS CA key is not "
		    "available on this server"));
		goto out;
	}
	/* The subject comes from the store, never from the CSR (DESIGN). */
	if ((rc = tlsid_cert_new(TLSID_CLIENT, login, pub, ca, cakey, now,
	    (int)days, NULL, &x)) != 0 ||
	    (rc = tlsid_cert_pem(x, &pem, &pemlen)) != 0 ||
	    (rc = tlsid_cert_fingerprint(x, fp)) != 0) {
		kagid_reply_error(r, 0, rc, NULL);
		goto out;
	}
	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) ==
	    NULL || (serial = BN_bn2hex(bn)) == NULL) {
		kagid_reply_error(r, 0, KAGI_ERR_NOMEM, NULL);
		goto out;
	}
	if ((rc = audit(t, ac.id, "operator.cert", login, "ok",
	    json_pack("{s:s, s:s, s:I}", "serial", serial, "sha256", fp,
	    "days", (json_int_t)days))) != 0 || (rc = commit(&t)) != 0) {
		reply_store_err(r, rc, "operator cert");
		goto out;
	}
	kagi_log_info("event=operator_cert account=%s serial=%s actor=\"%s\"",
	    login, serial, ac.id);
	kagid_reply_json(r, 201, json_pack("{s:s, s:s, s:s, s:o}",
	    "certificate", pem, "serial", serial, "sha256", fp, "not_after",
	    jtime(now + days * 86400)));
out:
	OPENSSL_free(serial);
	BN_free(bn);
	free(pem);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(cakey);
	EVP_PKEY_free(pub);
	store_txn_abort(t);
	store_account_clear(&a);
	json_decref(b);
}

/* ---- password logins (R-PW-6, R-LOGIN-2, R-LOGIN-4) ---- */

/* Spend the time a real check would, so an unknown login does not answer
 * faster than a known one. */
static void
dummy_verify(const struct policy *p, const char *password)
{
	static char *dummy;
	const struct policy_password *pw = policy_password(p,
	    POLICY_TIER_ORDINARY);

	if (dummy == NULL && pw != NULL &&
	    kagid_pw_hash("kagi-dummy-password", pw->hash_cost, &dummy) != 0)
		dummy = NULL;
	if (dummy != NULL && kagid_pw_verify(password, dummy) == 0)
		kagi_log_debug("dummy password matched");
}

static const char *
outcome_of(int rc)
{
	switch (rc) {
	case 0:
		return "ok";
	case KAGI_ERR_MUST_CHANGE:
		return "must_change";
	default:
		return kagi_err_name(rc);
	}
}

/* Error answer for a refused login, with the lock time when locked. */
static void
reply_login_err(struct kagid_req *r, int rc, const struct store_account *a,
    const char *detail)
{
	json_t *o = json_pack("{s:s, s:s}", "error", kagi_err_name(rc),
	    "message", kagi_strerror(rc));

	if (o != NULL && detail != NULL)
		json_object_set_new(o, "detail", json_string(detail));
	if (o != NULL && a != NULL && (rc == KAGI_ERR_LOCKED ||
	    rc == KAGI_ERR_AUTH)) {
		int locked = policy_check_locked(a->locked_until,
		    kagi_now()) != 0;
		json_object_set_new(o, "locked", json_boolean(locked));
		if (locked)
			json_object_set_new(o, "locked_until",
			    jtime(a->locked_until));
	}
	kagid_reply_json(r, kagi_err_http_status(rc), o);
}

static const char *
login_refusal_detail(int rc)
{
	switch (rc) {
	case KAGI_ERR_DENIED:
		return "account disabled, or no open privileged window";
	case KAGI_ERR_EXPIRED:
		return "account or temporary password expired";
	case KAGI_ERR_LOCKED:
		return "account locked";
	default:
		return NULL;
	}
}

/*
 * One password check on account `login` inside t: the account is read,
 * prechecked, verified and recorded (failures count, a lock is audited).
 * Returns the decision; *a holds the updated account.
 */
static int
login_one(struct kagid_req *r, struct store_txn *t, const char *actor,
    const char *login, const char *password, const char *terminal,
    const char *member, struct store_account *a,
    struct kagid_login_info *info, int64_t now)
{
	int rc, pw_ok, changed = 0, wr;

	memset(info, 0, sizeof(*info));
	if ((rc = store_account_get(t, login, a)) != 0) {
		if (rc != KAGI_ERR_NOT_FOUND)
			return rc;
		dummy_verify(r->k->policy, password);
		wr = audit(t, actor, "auth.password", login, "auth",
		    json_pack("{s:s, s:s?}", "reason", "unknown account",
		    "terminal", terminal));
		return wr != 0 ? wr : KAGI_ERR_AUTH;
	}
	if ((rc = kagid_login_precheck(a, now)) != 0) {
		wr = audit(t, actor, "auth.password", login, outcome_of(rc),
		    json_pack("{s:s, s:s?}", "reason", login_refusal_detail(rc),
		    "terminal", terminal));
		return wr != 0 ? wr : rc;
	}
	pw_ok = kagid_pw_verify(password, a->pw_hash);
	if (pw_ok != 0 && pw_ok != KAGI_ERR_AUTH)
		return pw_ok;
	rc = kagid_login_record(r->k->policy, a, pw_ok == 0, terminal, now,
	    info, &changed);
	if (changed && (wr = store_account_put(t, a)) != 0)
		return wr;
	if ((wr = audit(t, actor, "auth.password", login, outcome_of(rc),
	    json_pack("{s:s?, s:s?, s:I, s:s?}", "terminal", terminal,
	    "member", member, "failed_since", (json_int_t)info->failed_since,
	    "must_change", info->must_change))) != 0)
		return wr;
	if (info->locked_now) {
		/* R-LOGIN-2: the lock is its own event for the SIEM */
		kagi_log_warn("event=account_locked account=%s failures=%u",
		    login, a->failed_count);
		if ((wr = audit(t, actor, "auth.lock", login, "locked",
		    json_pack("{s:I, s:o}", "failures",
		    (json_int_t)a->failed_count, "until",
		    jtime(a->locked_until)))) != 0)
			return wr;
	}
	return rc;
}

static void
api_auth_password(struct kagid_req *r)
{
	static const char *const allowed[] = { "login", "password",
	    "terminal", "member", "member_password", NULL };
	struct kagid_actor ac;
	struct kagid_login_info info, minfo;
	struct store_account a, m;
	struct store_member rec;
	struct store_txn *t = NULL;
	json_t *b = NULL, *o;
	const char *login, *password, *terminal, *member, *mpw;
	int64_t now = kagi_now(), session_end = 0;
	int rc, cr;

	memset(&a, 0, sizeof(a));
	memset(&m, 0, sizeof(m));
	memset(&rec, 0, sizeof(rec));
	if (no_query(r) != 0 || get_body(r, allowed, &b) != 0)
		return;
	login = json_string_value(json_object_get(b, "login"));
	if (kagid_authz_require(r, "auth.password", login != NULL &&
	    store_login_valid(login) ? login : "", &ac) != 0)
		goto out;
	if (field_str(r, b, "login", 1, 64, &login) != 0 ||
	    field_str(r, b, "password", 1, KAGID_PW_MAX_BYTES, &password) != 0 ||
	    field_str(r, b, "terminal", 0, TERMINAL_MAX, &terminal) != 0 ||
	    field_str(r, b, "member", 0, 64, &member) != 0 ||
	    field_str(r, b, "member_password", 0, KAGID_PW_MAX_BYTES,
	    &mpw) != 0)
		goto out;
	if (terminal != NULL && !printable(terminal)) {
		reply_fault(r, KAGI_ERR_INVALID, "terminal", _("the terminal "
		    "name contains control characters"));
		goto out;
	}
	if (!store_login_valid(login) || (member != NULL &&
	    !store_login_valid(member))) {
		/* same answer as a wrong password: no hint what exists */
		dummy_verify(r->k->policy, password);
		audit_alone(r->k, ac.id, "auth.password", "", "auth",
		    json_pack("{s:s}", "reason", "malformed login name"));
		reply_login_err(r, KAGI_ERR_AUTH, NULL, NULL);
		goto out;
	}
	if ((rc = store_txn_begin(r->k->store, 1, &t)) != 0) {
		reply_store_err(r, rc, "auth password");
		goto out;
	}
	rc = login_one(r, t, ac.id, login, password, terminal, member, &a,
	    &info, now);
	/* R-PRIV-1, R-PRIV-7: a privileged ID logs in only inside an approved,
	 * open window (api_priv.c); the answer gives the window's end */
	if ((rc == 0 || rc == KAGI_ERR_MUST_CHANGE) &&
	    a.kind == STORE_KIND_PRIVILEGED &&
	    kagid_priv_check(t, login, now, &session_end) != 0) {
		(void)audit(t, ac.id, "auth.password", login, "denied",
		    json_pack("{s:s}", "reason", "outside a privileged window"));
		rc = KAGI_ERR_DENIED;
	}
	/*
	 * R-ID-7: a shared ID is used only by a designated member, who also
	 * authenticates with their own personal password; both identities are
	 * recorded.
	 */
	if ((rc == 0 || rc == KAGI_ERR_MUST_CHANGE) &&
	    a.kind == STORE_KIND_SHARED) {
		int mr;
		if (member == NULL || mpw == NULL) {
			mr = KAGI_ERR_DENIED;
			(void)audit(t, ac.id, "auth.password", login, "denied",
			    json_pack("{s:s}", "reason", "shared ID without "
			    "a member login"));
		} else if ((mr = store_member_get(t, login, member, &rec)) ==
		    KAGI_ERR_NOT_FOUND) {
			mr = KAGI_ERR_DENIED;
			(void)audit(t, ac.id, "auth.password", login, "denied",
			    json_pack("{s:s, s:s}", "reason", "not a member",
			    "member", member));
		} else if (mr == 0) {
			mr = login_one(r, t, ac.id, member, mpw, terminal,
			    NULL, &m, &minfo, now);
		}
		if (mr != 0) {
			if ((cr = commit(&t)) != 0) {
				reply_store_err(r, cr, "auth password");
				goto out;
			}
			reply_login_err(r, mr == KAGI_ERR_MUST_CHANGE ?
			    KAGI_ERR_DENIED : mr, NULL, mr ==
			    KAGI_ERR_MUST_CHANGE ? "the member must change "
			    "their own password first" : "member login "
			    "refused");
			goto out;
		}
	}
	if ((cr = commit(&t)) != 0) {
		reply_store_err(r, cr, "auth password");
		goto out;
	}
	if (rc != 0 && rc != KAGI_ERR_MUST_CHANGE) {
		if (rc == KAGI_ERR_AUTH || rc == KAGI_ERR_LOCKED ||
		    rc == KAGI_ERR_EXPIRED || rc == KAGI_ERR_DENIED)
			reply_login_err(r, rc, a.login != NULL ? &a : NULL,
			    login_refusal_detail(rc));
		else
			reply_store_err(r, rc, "auth password");
		goto out;
	}
	o = json_pack("{s:s, s:s, s:o, s:s?, s:o, s:I}",
	    "result", rc == 0 ? "ok" : "must_change",
	    "kind", a.kind < STORE_KIND_COUNT ? kind_names[a.kind] : "?",
	    "last_login", jtime(info.last_login),
	    "last_login_terminal", info.last_login_terminal[0] ?
	    info.last_login_terminal : NULL,
	    "last_logout", jtime(info.last_logout),
	    "failed_since", (json_int_t)info.failed_since);
	if (o != NULL && info.must_change != NULL)
		json_object_set_new(o, "reason", json_string(info.must_change));
	if (o != NULL && member != NULL && a.kind == STORE_KIND_SHARED)
		json_object_set_new(o, "member", json_string(member));
	if (o != NULL && session_end != 0)
		json_object_set_new(o, "session_end", jtime(session_end));
	kagid_reply_json(r, 200, o);
out:
	store_txn_abort(t);
	store_member_clear(&rec);
	store_account_clear(&a);
	store_account_clear(&m);
	json_decref(b);
}

/* The deployment's extra common-password list (policy common_list). */
static int
extra_common_load(const struct policy *p, uint8_t **text, size_t *len)
{
	const char *path = policy_common_list(p);
	int rc;

	*text = NULL;
	*len = 0;
	if (path == NULL)
		return 0;
	if ((rc = kagi_file_read(path, COMMON_LIST_MAX, KAGI_FILE_CONFIG, text,
	    len)) != 0)
		kagi_log_err("common_list %s: %s", path, kagi_err_name(rc));
	return rc;
}

/*
 * A password change for `login` (R-PW-2, R-PW-4, R-PW-6), audited as
 * `action` by `actor`: the old password is checked like a login (a wrong
 * one counts toward lockout), the new one against every rule.  0 when the
 * password was changed (the caller answers); otherwise the error answer
 * has been sent and the return is non-zero.  Shared with the terminal
 * login API (api_login.c, POST /v1/login/password).
 */
int
kagid_pw_change(struct kagid_req *r, const char *actor, const char *action,
    const char *login, const char *old, const char *new)
{
	struct kagid_login_info info;
	struct kagid_pw_rules rules;
	struct store_account a;
	struct store_person p;
	struct store_txn *t = NULL;
	const struct policy_password *pw;
	json_t *faults = NULL, *names = NULL, *o, *v;
	uint8_t *extra = NULL;
	size_t extra_len = 0, i;
	char *hash = NULL;
	int64_t now = kagi_now();
	int rc, pw_ok, changed = 0, was_temp, ret = KAGI_ERR_INTERNAL;

	memset(&a, 0, sizeof(a));
	memset(&p, 0, sizeof(p));
	memset(&rules, 0, sizeof(rules));
	if (!store_login_valid(login)) {
		dummy_verify(r->k->policy, old);
		reply_login_err(r, KAGI_ERR_AUTH, NULL, NULL);
		goto out;
	}
	if (extra_common_load(r->k->policy, &extra, &extra_len) != 0) {
		kagid_reply_error(r, 0, KAGI_ERR_UNAVAILABLE,
		    "common password list");
		goto out;
	}
	if ((rc = store_txn_begin(r->k->store, 1, &t)) != 0) {
		reply_store_err(r, rc, "password change");
		goto out;
	}
	if ((rc = store_account_get(t, login, &a)) != 0) {
		if (rc != KAGI_ERR_NOT_FOUND) {
			reply_store_err(r, rc, "password change");
			goto out;
		}
		store_txn_abort(t);
		t = NULL;
		dummy_verify(r->k->policy, old);
		audit_alone(r->k, actor, action, login, "auth",
		    json_pack("{s:s}", "reason", "unknown account"));
		reply_login_err(r, KAGI_ERR_AUTH, NULL, NULL);
		goto out;
	}
	if ((rc = kagid_login_precheck(&a, now)) != 0) {
		store_txn_abort(t);
		t = NULL;
		audit_alone(r->k, actor, action, login,
		    outcome_of(rc), json_pack("{s:s}", "reason",
		    login_refusal_detail(rc)));
		reply_login_err(r, rc, &a, login_refusal_detail(rc));
		goto out;
	}
	if ((pw_ok = kagid_pw_verify(old, a.pw_hash)) != 0) {
		if (pw_ok != KAGI_ERR_AUTH) {
			kagid_reply_error(r, 0, pw_ok, NULL);
			goto out;
		}
		/* a wrong old password counts like a failed login */
		rc = kagid_login_record(r->k->policy, &a, 0, NULL, now, &info,
		    &changed);
		if ((changed && (rc = store_account_put(t, &a)) != 0) ||
		    (rc = audit(t, actor, action, login, "auth",
		    json_pack("{s:I}", "failed_since",
		    (json_int_t)info.failed_since))) != 0 ||
		    (info.locked_now && (rc = audit(t, actor, "auth.lock", login,
		    "locked", json_pack("{s:I, s:o}", "failures",
		    (json_int_t)a.failed_count, "until",
		    jtime(a.locked_until)))) != 0) ||
		    (rc = commit(&t)) != 0) {
			reply_store_err(r, rc, "password change");
			goto out;
		}
		if (info.locked_now)
			kagi_log_warn("event=account_locked account=%s "
			    "failures=%u", login, a.failed_count);
		reply_login_err(r, KAGI_ERR_AUTH, &a, NULL);
		goto out;
	}
	if (a.pw_temp && now >= a.pw_temp_expires) {
		store_txn_abort(t);
		t = NULL;
		audit_alone(r->k, actor, action, login,
		    "expired", json_pack("{s:s}", "reason",
		    "temporary password expired"));
		reply_login_err(r, KAGI_ERR_EXPIRED, &a,
		    "temporary password expired");
		goto out;
	}
	pw = policy_password(r->k->policy,
	    policy_tier_for_kind((enum store_account_kind)a.kind));
	if (a.staff_no[0] != '\0' &&
	    (rc = store_person_get(t, a.staff_no, &p)) != 0 &&
	    rc != KAGI_ERR_NOT_FOUND) {
		reply_store_err(r, rc, "password change");
		goto out;
	}
	rules.pw = pw;
	rules.login = login;
	rules.person_name = p.name;
	rules.a = &a;
	rules.history = pw->history;
	rules.current = old;
	rules.current_is_temp = a.pw_temp;
	rules.extra_common = (const char *)extra;
	rules.extra_common_len = extra_len;
	if ((rc = kagid_pw_check_new(&rules, new, &faults)) != 0) {
		if (rc != KAGI_ERR_INVALID) {
			kagid_reply_error(r, 0, rc, NULL);
			goto out;
		}
		store_txn_abort(t);
		t = NULL;
		names = json_array();
		json_array_foreach(faults, i, v)
			json_array_append(names, json_object_get(v, "rule"));
		audit_alone(r->k, actor, action, login,
		    "refused", json_pack("{s:O}", "rules", names));
		o = json_pack("{s:s, s:s, s:O}", "error",
		    kagi_err_name(KAGI_ERR_INVALID), "message",
		    _("The new password does not meet the password rules."),
		    "rules", faults);
		kagid_reply_json(r, 400, o);
		goto out;
	}
	if ((rc = kagid_pw_hash(new, pw->hash_cost, &hash)) != 0) {
		kagid_reply_error(r, 0, rc, NULL);
		goto out;
	}
	was_temp = a.pw_temp;
	rc = kagid_pw_set(&a, hash, pw->history, 0, 0, now);
	hash = NULL;
	if (rc != 0 || (rc = store_account_put(t, &a)) != 0 ||
	    (rc = audit(t, actor, action, login, "ok",
	    json_pack("{s:b}", "was_temporary", was_temp))) != 0 ||
	    (rc = commit(&t)) != 0) {
		reply_store_err(r, rc, "password change");
		goto out;
	}
	kagi_log_info("event=password_changed account=%s", login);
	ret = 0;
out:
	store_txn_abort(t);
	if (extra != NULL)
		free(extra);
	json_decref(names);
	json_decref(faults);
	store_person_clear(&p);
	store_account_clear(&a);
	return ret;
}

static void
api_auth_password_change(struct kagid_req *r)
{
	static const char *const allowed[] = { "login", "old", "new", NULL };
	struct kagid_actor ac;
	json_t *b = NULL;
	const char *login, *old, *new;

	if (no_query(r) != 0 || get_body(r, allowed, &b) != 0)
		return;
	login = json_string_value(json_object_get(b, "login"));
	if (kagid_authz_require(r, "auth.password", login != NULL &&
	    store_login_valid(login) ? login : "", &ac) != 0)
		goto out;
	if (field_str(r, b, "login", 1, 64, &login) != 0 ||
	    field_str(r, b, "old", 1, KAGID_PW_MAX_BYTES, &old) != 0 ||
	    field_str(r, b, "new", 1, 64 * 1024, &new) != 0)
		goto out;
	if (kagid_pw_change(r, ac.id, "auth.password-change", login, old,
	    new) == 0)
		kagid_reply_json(r, 200, json_pack("{s:s}", "result", "ok"));
out:
	json_decref(b);
}

const struct kagid_route kagid_id_routes[] = {
	{ "/v1/persons", "GET", api_person_list, TR_API, 0 },
	{ "/v1/persons", "POST", api_person_add, TR_API, 0 },
	{ "/v1/persons/", "GET", api_person_show, TR_API, 1 },
	{ "/v1/users", "GET", api_user_list, TR_API, 0 },
	{ "/v1/users", "POST", api_user_add, TR_API, 0 },
	{ "/v1/users/disable/", "POST", api_user_disable, TR_API, 1 },
	{ "/v1/users/enable/", "POST", api_user_enable, TR_API, 1 },
	{ "/v1/users/unlock/", "POST", api_user_unlock, TR_API, 1 },
	{ "/v1/users/reset-password/", "POST", api_user_reset, TR_API, 1 },
	{ "/v1/users/", "GET", api_user_show, TR_API, 1 },
	{ "/v1/users/", "DELETE", api_user_delete, TR_API, 1 },
	{ "/v1/members/", "GET", api_members_list, TR_API, 1 },
	{ "/v1/members/", "POST", api_member_add, TR_API, 1 },
	{ "/v1/members/", "DELETE", api_member_remove, TR_API, 1 },
	{ "/v1/operators", "GET", api_operator_list, TR_API, 0 },
	{ "/v1/operators/grant/", "POST", api_operator_grant, TR_API, 1 },
	{ "/v1/operators/revoke/", "POST", api_operator_revoke, TR_API, 1 },
	{ "/v1/operators/cert/", "POST", api_operator_cert, TR_API, 1 },
	{ "/v1/auth/password", "POST", api_auth_password, TR_API, 0 },
	{ "/v1/auth/password/change", "POST", api_auth_password_change,
	  TR_API, 0 },
	{ NULL, NULL, NULL, 0, 0 },
};
