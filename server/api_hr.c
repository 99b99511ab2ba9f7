/*
 * HR clean-up (R-ID-1, R-ID-5, R-ID-12, R-CARD-7): plan and apply an HR
 * feed (docs/HR-FEED.md).
 *
 *   POST /v1/hr/plan        {"feed_b64": base64 of the CSV bytes}
 *        -> the feed is validated whole (400 with every fault, nothing
 *           happens), the plan is computed and signed, and kept for
 *           GET /v1/hr/plans/<plan_id>; the answer is the summary.
 *   GET  /v1/hr/plans/<id>  -> the signed plan (JSON), as the file to keep
 *   POST /v1/hr/apply       the plan -> applied in one write transaction
 *
 * A plan carries the SHA-256 of every record it was computed from
 * (store_digest over persons, accounts, members, certs, fido, grants) and an
 * HMAC-SHA256 under a random key kept in the store's meta ("hr.key.0..3",
 * created on first use).  Apply refuses an edited plan (sig), a plan whose
 * state hash no longer matches (conflict, nothing changed), and answers
 * "already applied" for a plan applied before (meta "hr.applied").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "kagi/ca.h"
#include "kagi/json.h"
#include "kagi/log.h"
#include "kagi/policy.h"
#include "kagi/secmem.h"
#include "kagi/store.h"
#include "kagi/util.h"
#include "server_int.h"

#define HR_PLAN_FORMAT "kagi-hr-plan"
#define HR_PLAN_VERSION 1
#define HR_KEY_LEN 32
#define HR_PLAN_CACHE 4

static const char *const hr_state_dbs[] = {
	"persons", "accounts", "members", "certs", "fido", "grants", "cards",
};
#define HR_STATE_NDBS (sizeof(hr_state_dbs) / sizeof(hr_state_dbs[0]))

/* The plan's lists, in the order they are applied. */
static const char *const hr_lists[] = {
	"persons_add", "persons_update", "accounts_disable",
	"accounts_suspend", "accounts_enable", "certs_revoke", "fido_delete",
	"cards_collect", "windows_end", "shared_rotate", "missing_from_feed",
};
#define HR_NLISTS (sizeof(hr_lists) / sizeof(hr_lists[0]))

/* ---- snapshot of the store: only what the planner reads ---- */

struct sn_person {
	char *staff_no, *name, *kana, *section, *employment, *hr_status;
	int64_t end_date;
};
struct sn_account {
	char *login, *staff_no;
	uint8_t kind, state, pw_rotate;
};
struct sn_ref {          /* a cert, FIDO credential, grant or membership */
	char *owner;         /* holder / account / member login */
	char *key;           /* serial hex / cred id hex / grant id / shared */
	char *extra;         /* cert profile / grant state name */
	uint8_t state;
};

struct vec {
	void *v;
	size_t n, cap, size;
};

static void *
vec_push(struct vec *x)
{
	if (x->n == x->cap) {
		size_t nc = x->cap ? 2 * x->cap : 64;
		void *nv = realloc(x->v, nc * x->size);
		if (nv == NULL)
			return NULL;
		x->v = nv;
		x->cap = nc;
	}
	memset((char *)x->v + x->n * x->size, 0, x->size);
	return (char *)x->v + (x->n++) * x->size;
}

struct snap {
	struct vec persons;   /* struct sn_person, staff_no order */
	struct vec accounts;  /* struct sn_account, login order */
	struct vec certs;     /* holder, serial (revocable ones only) */
	struct vec fido;      /* account, cred id */
	struct vec grants;    /* account, id (requested/approved only) */
	struct vec members;   /* member, shared */
	struct sn_account **acct_by_staff; /* accounts sorted by staff_no */
};

static void
snap_free(struct snap *s)
{
	struct sn_person *p = s->persons.v;
	struct sn_account *a = s->accounts.v;
	struct vec *refs[] = { &s->certs, &s->fido, &s->grants, &s->members };

	for (size_t i = 0; i < s->persons.n; i++) {
		free(p[i].staff_no);
		free(p[i].name);
		free(p[i].kana);
		free(p[i].section);
		free(p[i].employment);
		free(p[i].hr_status);
	}
	for (size_t i = 0; i < s->accounts.n; i++) {
		free(a[i].login);
		free(a[i].staff_no);
	}
	for (size_t k = 0; k < 4; k++) {
		struct sn_ref *x = refs[k]->v;
		for (size_t i = 0; i < refs[k]->n; i++) {
			free(x[i].owner);
			free(x[i].key);
			free(x[i].extra);
		}
		free(refs[k]->v);
	}
	free(s->persons.v);
	free(s->accounts.v);
	free(s->acct_by_staff);
	memset(s, 0, sizeof(*s));
}

static char *
dupz(const char *s)
{
	return strdup(s != NULL ? s : "");
}

static int
sn_person_cb(const struct store_person *p, void *arg)
{
	struct snap *s = arg;
	struct sn_person *x = vec_push(&s->persons);

	if (x == NULL)
		return KAGI_ERR_NOMEM;
	x->staff_no = dupz(p->staff_no);
	x->name = dupz(p->name);
	x->kana = dupz(p->kana);
	x->section = dupz(p->section);
	x->employment = dupz(p->employment);
	x->hr_status = dupz(p->hr_status);
	x->end_date = p->end_date;
	if (!x->staff_no || !x->name || !x->kana || !x->section ||
	    !x->employment || !x->hr_status)
		return KAGI_ERR_NOMEM;
	return 0;
}

static int
sn_account_cb(const struct store_account *a, void *arg)
{
	struct snap *s = arg;
	struct sn_account *x = vec_push(&s->accounts);

	if (x == NULL)
		return KAGI_ERR_NOMEM;
	x->login = dupz(a->login);
	x->staff_no = dupz(a->staff_no);
	x->kind = a->kind;
	x->state = a->state;
	x->pw_rotate = a->pw_rotate;
	return x->login && x->staff_no ? 0 : KAGI_ERR_NOMEM;
}

static int
ref_push(struct vec *v, const char *owner, const char *key, const char *extra,
    uint8_t state)
{
	struct sn_ref *x = vec_push(v);

	if (x == NULL)
		return KAGI_ERR_NOMEM;
	x->owner = dupz(owner);
	x->key = dupz(key);
	x->extra = dupz(extra);
	x->state = state;
	return x->owner && x->key && x->extra ? 0 : KAGI_ERR_NOMEM;
}

static int
sn_cert_cb(const struct store_cert *c, void *arg)
{
	struct snap *s = arg;
	char hex[2 * STORE_SERIAL_MAX + 1];

	/* only certificates still valid or on hold can be revoked */
	if (c->state == STORE_CERT_REVOKED || c->holder == NULL ||
	    c->holder[0] == '\0')
		return 0;
	kagi_hex_encode(c->serial, c->serial_len, hex);
	return ref_push(&s->certs, c->holder, hex, c->profile, c->state);
}

static int
sn_fido_cb(const struct store_fido *f, void *arg)
{
	struct snap *s = arg;
	char *hex = NULL;
	int r;

	if ((hex = malloc(2 * f->cred_id_len + 1)) == NULL)
		return KAGI_ERR_NOMEM;
	kagi_hex_encode(f->cred_id, f->cred_id_len, hex);
	r = ref_push(&s->fido, f->account, hex, "", f->state);
	free(hex);
	return r;
}

static int
sn_grant_cb(const struct store_grant *g, void *arg)
{
	struct snap *s = arg;

	if (g->state != STORE_GRANT_REQUESTED &&
	    g->state != STORE_GRANT_APPROVED)
		return 0;
	return ref_push(&s->grants, g->account, g->id,
	    store_grant_state_name(g->state), g->state);
}

static int
sn_member_cb(const struct store_member *m, void *arg)
{
	struct snap *s = arg;

	return ref_push(&s->members, m->member, m->shared, "", 0);
}

static int
ref_cmp(const void *a, const void *b)
{
	const struct sn_ref *x = a, *y = b;
	int c = strcmp(x->owner, y->owner);

	return c != 0 ? c : strcmp(x->key, y->key);
}

static int
acct_staff_cmp(const void *a, const void *b)
{
	const struct sn_account *const *x = a, *const *y = b;
	int c = strcmp((*x)->staff_no, (*y)->staff_no);

	return c != 0 ? c : strcmp((*x)->login, (*y)->login);
}

static int
snap_load(struct store_txn *t, struct snap *s)
{
	int r;

	memset(s, 0, sizeof(*s));
	s->persons.size = sizeof(struct sn_person);
	s->accounts.size = sizeof(struct sn_account);
	s->certs.size = s->fido.size = s->grants.size = s->members.size =
	    sizeof(struct sn_ref);
	if ((r = store_person_iter(t, sn_person_cb, s)) != 0 ||
	    (r = store_account_iter(t, sn_account_cb, s)) != 0 ||
	    (r = store_cert_iter(t, sn_cert_cb, s)) != 0 ||
	    (r = store_fido_iter(t, NULL, sn_fido_cb, s)) != 0 ||
	    (r = store_grant_iter(t, NULL, sn_grant_cb, s)) != 0 ||
	    (r = store_member_iter(t, NULL, sn_member_cb, s)) != 0)
		return r;
	{
		struct vec *refs[] = { &s->certs, &s->fido, &s->grants,
		    &s->members };
		for (size_t i = 0; i < 4; i++)
			if (refs[i]->n > 1)
				qsort(refs[i]->v, refs[i]->n,
				    sizeof(struct sn_ref), ref_cmp);
	}
	if (s->accounts.n > 0) {
		struct sn_account *a = s->accounts.v;
		if ((s->acct_by_staff = calloc(s->accounts.n,
		    sizeof(*s->acct_by_staff))) == NULL)
			return KAGI_ERR_NOMEM;
		for (size_t i = 0; i < s->accounts.n; i++)
			s->acct_by_staff[i] = &a[i];
		qsort(s->acct_by_staff, s->accounts.n,
		    sizeof(*s->acct_by_staff), acct_staff_cmp);
	}
	return 0;
}

/* First index in refs (sorted by owner) whose owner is >= owner. */
static size_t
ref_lower(const struct vec *v, const char *owner)
{
	const struct sn_ref *x = v->v;
	size_t lo = 0, hi = v->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(x[mid].owner, owner) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct sn_person *
snap_person(const struct snap *s, const char *staff_no)
{
	struct sn_person *p = s->persons.v;
	size_t lo = 0, hi = s->persons.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(p[mid].staff_no, staff_no);
		if (c == 0)
			return &p[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static struct sn_account *
snap_account(const struct snap *s, const char *login)
{
	struct sn_account *a = s->accounts.v;
	size_t lo = 0, hi = s->accounts.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(a[mid].login, login);
		if (c == 0)
			return &a[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static size_t
acct_staff_lower(const struct snap *s, const char *staff_no)
{
	size_t lo = 0, hi = s->accounts.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(s->acct_by_staff[mid]->staff_no, staff_no) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- planner ---- */

static const char *const kind_names[STORE_KIND_COUNT] = {
	"personal", "shared", "privileged", "development", "contractor",
	"service",
};

static const char *
kind_name(unsigned k)
{
	return k < STORE_KIND_COUNT ? kind_names[k] : "unknown";
}

static int
is_depart(int st)
{
	return st == HR_RETIRED || st == HR_DECEASED ||
	    st == HR_CONTRACT_ENDED;
}

static int
is_away(const char *hr_status)
{
	return strcmp(hr_status, "seconded") == 0 ||
	    strcmp(hr_status, "on-leave") == 0;
}

struct planner {
	const struct snap *s;
	json_t *lists[HR_NLISTS];
	/* shared IDs already listed (dedupe): sorted small set */
	json_t *rotated;     /* object: shared login -> entry */
};

static json_t *
L(struct planner *p, const char *name)
{
	for (size_t i = 0; i < HR_NLISTS; i++)
		if (strcmp(hr_lists[i], name) == 0)
			return p->lists[i];
	return NULL;
}

static int
push(json_t *list, json_t *o)
{
	if (o == NULL)
		return KAGI_ERR_NOMEM;
	return json_array_append_new(list, o) == 0 ? 0 : KAGI_ERR_NOMEM;
}

static json_t *
person_json(const struct hr_row *row)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
	    "staff_no", row->f[HR_COL_STAFF_NO], "name", row->f[HR_COL_NAME],
	    "kana", row->f[HR_COL_KANA], "section", row->f[HR_COL_SECTION],
	    "employment", row->f[HR_COL_EMPLOYMENT],
	    "status", row->f[HR_COL_STATUS],
	    "effective_date", row->f[HR_COL_EFFECTIVE]);
}

static int
plan_person(struct planner *p, const struct hr_row *row,
    const struct sn_person *prev)
{
	json_t *o = NULL, *changed = NULL;
	int64_t end = is_depart(row->status) ? row->effective : 0;
	int r;

	if (prev == NULL)
		return push(L(p, "persons_add"), person_json(row));
	if ((changed = json_array()) == NULL)
		return KAGI_ERR_NOMEM;
#define CHG(col, field, name) \
	if (strcmp(row->f[col], prev->field) != 0) \
		json_array_append_new(changed, json_string(name))
	CHG(HR_COL_NAME, name, "name");
	CHG(HR_COL_KANA, kana, "kana");
	CHG(HR_COL_SECTION, section, "section");
	CHG(HR_COL_EMPLOYMENT, employment, "employment");
	CHG(HR_COL_STATUS, hr_status, "status");
#undef CHG
	if (end != prev->end_date)
		json_array_append_new(changed, json_string("end_date"));
	if (json_array_size(changed) == 0) {
		json_decref(changed);
		return 0;
	}
	if ((o = person_json(row)) == NULL) {
		json_decref(changed);
		return KAGI_ERR_NOMEM;
	}
	json_object_set_new(o, "changed", changed);
	r = push(L(p, "persons_update"), o);
	return r;
}

static int
plan_rotate(struct planner *p, const char *member, const char *staff_no)
{
	const struct vec *m = &p->s->members;
	const struct sn_ref *x = m->v;
	int r;

	for (size_t i = ref_lower(m, member); i < m->n &&
	    strcmp(x[i].owner, member) == 0; i++) {
		struct sn_account *sh = snap_account(p->s, x[i].key);
		json_t *e;

		if (sh == NULL || sh->pw_rotate ||
		    sh->state == STORE_ACCT_DELETED)
			continue;
		if ((e = json_object_get(p->rotated, x[i].key)) != NULL) {
			json_array_append_new(json_object_get(e, "members"),
			    json_string(member));
			continue;
		}
		e = json_pack("{s:s, s:[s], s:s}", "login", x[i].key,
		    "members", member, "reason_staff_no", staff_no);
		if (e == NULL)
			return KAGI_ERR_NOMEM;
		if (json_object_set(p->rotated, x[i].key, e) != 0 ||
		    (r = push(L(p, "shared_rotate"), e)) != 0)
			return KAGI_ERR_NOMEM;
	}
	return 0;
}

static int
plan_account(struct planner *p, const struct hr_row *row,
    const struct sn_person *prev, const struct sn_account *a)
{
	const struct snap *s = p->s;
	const char *st = row->f[HR_COL_STATUS];
	int depart = is_depart(row->status);
	int away = row->status == HR_SECONDED || row->status == HR_ON_LEAVE;
	int back = (row->status == HR_ACTIVE ||
	    row->status == HR_TRANSFERRED) && prev != NULL &&
	    is_away(prev->hr_status);
	/* a transfer (異動) acts once: when the status or the section
	 * changes, not on every feed that still says "transferred" */
	int transfer = prev != NULL && (row->status == HR_TRANSFERRED ||
	    row->status == HR_ACTIVE) &&
	    (strcmp(prev->section, row->f[HR_COL_SECTION]) != 0 ||
	    (row->status == HR_TRANSFERRED &&
	    strcmp(prev->hr_status, "transferred") != 0));
	const char *reason = depart ? "cessationOfOperation" :
	    "affiliationChanged";
	const struct sn_ref *x;
	size_t i;
	int r;

	if (a->state == STORE_ACCT_DELETED)
		return 0;
	if (depart && (a->state == STORE_ACCT_ACTIVE ||
	    a->state == STORE_ACCT_SUSPENDED)) {
		if ((r = push(L(p, "accounts_disable"), json_pack(
		    "{s:s, s:s, s:s, s:s}", "login", a->login, "staff_no",
		    a->staff_no, "kind", kind_name(a->kind), "status", st))) !=
		    0)
			return r;
	} else if (away && a->state == STORE_ACCT_ACTIVE) {
		if ((r = push(L(p, "accounts_suspend"), json_pack(
		    "{s:s, s:s, s:s, s:s}", "login", a->login, "staff_no",
		    a->staff_no, "kind", kind_name(a->kind), "status", st))) !=
		    0)
			return r;
	} else if (back && a->state == STORE_ACCT_SUSPENDED) {
		if ((r = push(L(p, "accounts_enable"), json_pack(
		    "{s:s, s:s, s:s, s:s}", "login", a->login, "staff_no",
		    a->staff_no, "kind", kind_name(a->kind), "status", st))) !=
		    0)
			return r;
	}
	/* certificates: all on departure, affiliationChanged on transfer */
	if (depart || transfer) {
		x = s->certs.v;
		for (i = ref_lower(&s->certs, a->login); i < s->certs.n &&
		    strcmp(x[i].owner, a->login) == 0; i++)
			if ((r = push(L(p, "certs_revoke"), json_pack(
			    "{s:s, s:s, s:s, s:s, s:s}", "serial", x[i].key,
			    "holder", a->login, "profile", x[i].extra,
			    "reason", reason, "staff_no", a->staff_no))) != 0)
				return r;
	}
	/* FIDO credentials are deleted on departure (R-CARD-7) */
	if (depart) {
		x = s->fido.v;
		for (i = ref_lower(&s->fido, a->login); i < s->fido.n &&
		    strcmp(x[i].owner, a->login) == 0; i++)
			if ((r = push(L(p, "fido_delete"), json_pack(
			    "{s:s, s:s, s:s}", "credential_id", x[i].key,
			    "account", a->login, "staff_no", a->staff_no))) !=
			    0)
				return r;
	}
	/* privileged windows end for anyone not simply active */
	if (depart || away || transfer) {
		x = s->grants.v;
		for (i = ref_lower(&s->grants, a->login); i < s->grants.n &&
		    strcmp(x[i].owner, a->login) == 0; i++)
			if ((r = push(L(p, "windows_end"), json_pack(
			    "{s:s, s:s, s:s, s:s}", "id", x[i].key, "account",
			    a->login, "state", x[i].extra, "staff_no",
			    a->staff_no))) != 0)
				return r;
	}
	/* shared IDs they could use get a new password (R-PW-9) */
	if (depart || row->status == HR_SECONDED || transfer)
		if ((r = plan_rotate(p, a->login, a->staff_no)) != 0)
			return r;
	return 0;
}

/* R-CARD-7: a leaver's cards not yet returned or destroyed, to collect. */
struct collect_ctx {
	struct planner *p;
	const char *status;
};

static int
collect_card_cb(const struct store_card *c, void *arg)
{
	struct collect_ctx *x = arg;

	if (c->state == STORE_CARD_RETURNED ||
	    c->state == STORE_CARD_DESTROYED)
		return 0;
	return push(L(x->p, "cards_collect"), json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:s}", "serial", c->serial,
	    "staff_no", c->holder, "login", c->login, "state",
	    store_card_state_name(c->state), "label", c->label, "status",
	    x->status));
}

static int
plan_cards(struct planner *p, struct store_txn *t, const struct hr_row *row)
{
	struct collect_ctx x;

	if (!is_depart(row->status))
		return 0;
	x.p = p;
	x.status = row->f[HR_COL_STATUS];
	return store_card_iter(t, row->f[HR_COL_STAFF_NO], collect_card_cb, &x);
}

struct row_ix {
	const struct hr_row *row;
};

static int
row_cmp(const void *a, const void *b)
{
	const struct row_ix *x = a, *y = b;

	return strcmp(x->row->f[HR_COL_STAFF_NO], y->row->f[HR_COL_STAFF_NO]);
}

static int
hex_of(const uint8_t *b, size_t n, json_t **out)
{
	char h[2 * 64 + 1];

	if (n > 64)
		return KAGI_ERR_INTERNAL;
	kagi_hex_encode(b, n, h);
	*out = json_string(h);
	return *out != NULL ? 0 : KAGI_ERR_NOMEM;
}

int
hr_plan_compute(struct store_txn *t, const struct hr_feed *f, json_t **out)
{
	struct snap s;
	struct planner p;
	struct row_ix *ix = NULL;
	uint8_t state[STORE_HASH_LEN];
	json_t *plan = NULL, *sum = NULL, *v = NULL;
	int r = KAGI_ERR_INTERNAL;
	size_t i, j;

	memset(&p, 0, sizeof(p));
	if (out != NULL)
		*out = NULL;
	if (t == NULL || f == NULL || out == NULL)
		return KAGI_ERR_INVALID;
	if ((r = snap_load(t, &s)) != 0)
		goto out;
	if ((r = store_digest(t, hr_state_dbs, HR_STATE_NDBS, state)) != 0)
		goto out;
	p.s = &s;
	r = KAGI_ERR_NOMEM;
	if ((p.rotated = json_object()) == NULL)
		goto out;
	for (i = 0; i < HR_NLISTS; i++)
		if ((p.lists[i] = json_array()) == NULL)
			goto out;
	if (f->n > 0 && (ix = calloc(f->n, sizeof(*ix))) == NULL)
		goto out;
	for (i = 0; i < f->n; i++)
		ix[i].row = &f->rows[i];
	if (f->n > 1)
		qsort(ix, f->n, sizeof(*ix), row_cmp);
	for (i = 0; i < f->n; i++) {
		const struct hr_row *row = ix[i].row;
		const char *sno = row->f[HR_COL_STAFF_NO];
		const struct sn_person *prev = snap_person(&s, sno);

		if ((r = plan_person(&p, row, prev)) != 0 ||
		    (r = plan_cards(&p, t, row)) != 0)
			goto out;
		for (j = acct_staff_lower(&s, sno); j < s.accounts.n &&
		    strcmp(s.acct_by_staff[j]->staff_no, sno) == 0; j++)
			if ((r = plan_account(&p, row, prev,
			    s.acct_by_staff[j])) != 0)
				goto out;
	}
	/* people in the store the feed does not name: reported only (R-ID-5) */
	{
		struct sn_person *pp = s.persons.v;
		size_t k = 0;

		for (i = 0; i < s.persons.n; i++) {
			int c = 1;

			while (k < f->n && (c = strcmp(ix[k].row->f[
			    HR_COL_STAFF_NO], pp[i].staff_no)) < 0)
				k++;
			if (k < f->n && c == 0)
				continue;
			if ((r = push(L(&p, "missing_from_feed"), json_pack(
			    "{s:s, s:s, s:s}", "staff_no", pp[i].staff_no,
			    "name", pp[i].name, "status", pp[i].hr_status))) !=
			    0)
				goto out;
		}
	}
	r = KAGI_ERR_NOMEM;
	if ((sum = json_object()) == NULL)
		goto out;
	for (i = 0; i < HR_NLISTS; i++)
		if (json_object_set_new(sum, hr_lists[i], json_integer(
		    (json_int_t)json_array_size(p.lists[i]))) != 0)
			goto out;
	if ((plan = json_pack("{s:s, s:i, s:{s:I}, s:o}", "format",
	    HR_PLAN_FORMAT, "version", HR_PLAN_VERSION, "feed", "rows",
	    (json_int_t)f->n, "summary", sum)) == NULL)
		goto out;
	sum = NULL;
	if ((r = hex_of(f->sha256, sizeof(f->sha256), &v)) != 0 ||
	    json_object_set_new(json_object_get(plan, "feed"), "sha256",
	    v) != 0)
		goto out;
	if ((r = hex_of(state, sizeof(state), &v)) != 0 ||
	    json_object_set_new(plan, "state_hash", v) != 0)
		goto out;
	for (i = 0; i < HR_NLISTS; i++) {
		if (json_object_set_new(plan, hr_lists[i], p.lists[i]) != 0) {
			p.lists[i] = NULL;
			r = KAGI_ERR_NOMEM;
			goto out;
		}
		p.lists[i] = NULL;
	}
	*out = plan;
	plan = NULL;
	r = 0;
out:
	for (i = 0; i < HR_NLISTS; i++)
		json_decref(p.lists[i]);
	json_decref(p.rotated);
	json_decref(sum);
	json_decref(plan);
	free(ix);
	snap_free(&s);
	return r;
}

/* ---- signing ---- */

static const char *const key_names[4] = {
	"hr.key.0", "hr.key.1", "hr.key.2", "hr.key.3",
};

static int
key_get(struct store_txn *t, uint8_t key[HR_KEY_LEN])
{
	uint64_t v;
	int r;

	for (int i = 0; i < 4; i++) {
		if ((r = store_meta_u64_get(t, key_names[i], &v)) != 0)
			return r;
		for (int b = 0; b < 8; b++)
			key[8 * i + b] = (uint8_t)(v >> (56 - 8 * b));
	}
	return 0;
}

/* The HR key, created (and audited) on first use. */
static int
key_load(struct store *st, const char *actor, int create,
    uint8_t key[HR_KEY_LEN])
{
	struct store_txn *t = NULL;
	uint64_t v;
	int r;

	if ((r = store_txn_begin(st, 0, &t)) != 0)
		return r;
	r = key_get(t, key);
	store_txn_abort(t);
	t = NULL;
	if (r != KAGI_ERR_NOT_FOUND || !create)
		return r;
	if ((r = store_txn_begin(st, 1, &t)) != 0)
		return r;
	if ((r = kagi_random_bytes(key, HR_KEY_LEN)) != 0)
		goto out;
	for (int i = 0; i < 4; i++) {
		v = 0;
		for (int b = 0; b < 8; b++)
			v = (v << 8) | key[8 * i + b];
		if ((r = store_meta_u64_put(t, key_names[i], v)) != 0)
			goto out;
	}
	if ((r = store_audit_append(t, kagi_now(), actor, "hr.key.create",
	    "", "ok", "", NULL)) != 0)
		goto out;
	r = store_txn_commit(t);
	t = NULL;
	if (r == 0)
		kagi_log_info("event=hr_key_created");
out:
	store_txn_abort(t);
	if (r != 0)
		kagi_wipe(key, HR_KEY_LEN);
	return r;
}

static int
plan_mac(const uint8_t key[HR_KEY_LEN], const json_t *plan,
    uint8_t mac[32])
{
	json_t *c = NULL;
	char *text = NULL;
	unsigned int len = 0;
	int r = KAGI_ERR_INTERNAL;

	if ((c = json_copy((json_t *)plan)) == NULL)
		return KAGI_ERR_NOMEM;
	json_object_del(c, "mac");
	json_object_del(c, "plan_id");
	if ((text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if (HMAC(EVP_sha256(), key, HR_KEY_LEN, (const uint8_t *)text,
	    strlen(text), mac, &len) == NULL || len != 32)
		goto out;
	r = 0;
out:
	free(text);
	json_decref(c);
	return r;
}

int
hr_plan_sign(struct store *s, json_t *plan, int64_t now, const char *actor)
{
	uint8_t key[HR_KEY_LEN], mac[32];
	char hex[65], t[64];
	int r;

	if (s == NULL || plan == NULL || actor == NULL)
		return KAGI_ERR_INVALID;
	if ((r = kagi_time_format_utc(now, t, sizeof(t))) != 0)
		return r;
	if (json_object_set_new(plan, "created", json_string(t)) != 0 ||
	    json_object_set_new(plan, "created_by", json_string(actor)) != 0)
		return KAGI_ERR_NOMEM;
	if ((r = key_load(s, actor, 1, key)) != 0)
		return r;
	r = plan_mac(key, plan, mac);
	kagi_wipe(key, sizeof(key));
	if (r != 0)
		return r;
	kagi_hex_encode(mac, sizeof(mac), hex);
	if (json_object_set_new(plan, "mac", json_string(hex)) != 0)
		return KAGI_ERR_NOMEM;
	hex[16] = '\0';
	if (json_object_set_new(plan, "plan_id", json_string(hex)) != 0)
		return KAGI_ERR_NOMEM;
	return 0;
}

int
hr_plan_verify(struct store *s, const json_t *plan)
{
	uint8_t key[HR_KEY_LEN], mac[32];
	char hex[65];
	const char *got;
	int r;

	if (s == NULL || !json_is_object(plan))
		return KAGI_ERR_INVALID;
	got = json_string_value(json_object_get(plan, "mac"));
	if (got == NULL || strlen(got) != 64)
		return KAGI_ERR_SIG;
	if (!json_is_string(json_object_get(plan, "format")) ||
	    strcmp(json_string_value(json_object_get(plan, "format")),
	    HR_PLAN_FORMAT) != 0)
		return KAGI_ERR_FORMAT;
	if (json_integer_value(json_object_get(plan, "version")) !=
	    HR_PLAN_VERSION)
		return KAGI_ERR_VERSION;
	if ((r = key_load(s, "kagid", 0, key)) != 0)
		return r == KAGI_ERR_NOT_FOUND ? KAGI_ERR_SIG : r;
	r = plan_mac(key, plan, mac);
	kagi_wipe(key, sizeof(key));
	if (r != 0)
		return r;
	kagi_hex_encode(mac, sizeof(mac), hex);
	if (CRYPTO_memcmp(hex, got, 64) != 0)
		return KAGI_ERR_SIG;
	return 0;
}

/* ---- apply ---- */

static int
unhex(const char *s, uint8_t *out, size_t max, size_t *len)
{
	size_t n = s != NULL ? strlen(s) : 0;

	*len = 0;
	if (n == 0 || n % 2 != 0 || n / 2 > max)
		return KAGI_ERR_FORMAT;
	for (size_t i = 0; i < n; i += 2) {
		int v = 0;
		for (int k = 0; k < 2; k++) {
			char c = s[i + (size_t)k];
			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= c - '0';
			else if (c >= 'a' && c <= 'f')
				v |= c - 'a' + 10;
			else if (c >= 'A' && c <= 'F')
				v |= c - 'A' + 10;
			else
				return KAGI_ERR_FORMAT;
		}
		out[i / 2] = (uint8_t)v;
	}
	*len = n / 2;
	return 0;
}

static uint64_t
plan_id_u64(const json_t *plan)
{
	const char *m = json_string_value(json_object_get(plan, "mac"));
	uint8_t b[8];
	size_t n = 0;
	uint64_t v = 0;
	char h[17];

	if (m == NULL || strlen(m) < 16)
		return 0;
	memcpy(h, m, 16);
	h[16] = '\0';
	if (unhex(h, b, sizeof(b), &n) != 0 || n != 8)
		return 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | b[i];
	return v;
}

struct apply {
	struct kagid *k;
	struct store_txn *t;
	int64_t now;
	const char *actor;
	const char *plan_id;
	json_int_t changed[HR_NLISTS];
	json_int_t unchanged;
};

static const char *
sget(const json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v;
}

static int
audit(struct apply *a, const char *action, const char *object,
    json_t *detail)
{
	char *d = NULL;
	int r;

	if (detail != NULL)
		json_object_set_new(detail, "plan", json_string(a->plan_id));
	d = detail != NULL ? kagi_json_dump(detail) : NULL;
	r = store_audit_append(a->t, a->now, a->actor, action, object, "ok",
	    d != NULL ? d : "", NULL);
	free(d);
	json_decref(detail);
	return r;
}

static int
apply_person(struct apply *a, const json_t *o, int add)
{
	struct store_person p;
	const char *sno = sget(o, "staff_no"), *st = sget(o, "status");
	const char *eff = sget(o, "effective_date");
	int64_t effective = 0;
	int status = -1, r;

	memset(&p, 0, sizeof(p));
	if (sno == NULL || st == NULL || eff == NULL ||
	    hr_status_parse(st, &status) != 0 ||
	    hr_date_parse(eff, &effective) != 0 || !sget(o, "name") ||
	    !sget(o, "kana") || !sget(o, "section") || !sget(o, "employment"))
		return KAGI_ERR_FORMAT;
	if (!add) {
		if ((r = store_person_get(a->t, sno, &p)) != 0)
			return r == KAGI_ERR_NOT_FOUND ? KAGI_ERR_CONFLICT : r;
		free(p.name);
		free(p.kana);
		free(p.section);
		free(p.employment);
		free(p.hr_status);
		p.name = p.kana = p.section = p.employment = p.hr_status = NULL;
	} else {
		if ((p.staff_no = strdup(sno)) == NULL)
			return KAGI_ERR_NOMEM;
		p.created = a->now;
	}
	p.name = strdup(sget(o, "name"));
	p.kana = strdup(sget(o, "kana"));
	p.section = strdup(sget(o, "section"));
	p.employment = strdup(sget(o, "employment"));
	p.hr_status = strdup(st);
	p.end_date = is_depart(status) ? effective : 0;
	p.updated = a->now;
	if (!p.name || !p.kana || !p.section || !p.employment ||
	    !p.hr_status) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	r = add ? store_person_add(a->t, &p) : store_person_put(a->t, &p);
	if (r == KAGI_ERR_EXISTS)
		r = KAGI_ERR_CONFLICT;
	if (r != 0)
		goto out;
	r = audit(a, add ? "hr.person.add" : "hr.person.update", sno,
	    json_pack("{s:s, s:s, s:O?}", "status", st, "effective_date", eff,
	    "changed", json_object_get(o, "changed")));
out:
	store_person_clear(&p);
	return r;
}

/* accounts_disable / _suspend / _enable */
static int
apply_account(struct apply *a, const json_t *o, uint8_t to,
    const char *action, int *did)
{
	struct store_account acct;
	const char *login = sget(o, "login");
	int r;

	*did = 0;
	memset(&acct, 0, sizeof(acct));
	if (login == NULL)
		return KAGI_ERR_FORMAT;
	if ((r = store_account_get(a->t, login, &acct)) != 0)
		return r == KAGI_ERR_NOT_FOUND ? KAGI_ERR_CONFLICT : r;
	if (acct.state != to) {
		acct.state = to;
		acct.updated = a->now;
		if ((r = store_account_put(a->t, &acct)) != 0 ||
		    (r = audit(a, action, login, json_pack("{s:s?, s:s?}",
		    "staff_no", sget(o, "staff_no"), "status",
		    sget(o, "status")))) != 0)
			goto out;
		*did = 1;
	}
	r = 0;
out:
	store_account_clear(&acct);
	return r;
}

static int
apply_cert(struct apply *a, const json_t *o, int *did)
{
	uint8_t serial[STORE_SERIAL_MAX];
	size_t n = 0;
	const char *reason = sget(o, "reason");
	int rc, r;

	*did = 0;
	if (unhex(sget(o, "serial"), serial, sizeof(serial), &n) != 0 ||
	    reason == NULL)
		return KAGI_ERR_FORMAT;
	if (strcmp(reason, "cessationOfOperation") == 0)
		rc = CA_REASON_CESSATION_OF_OPERATION;
	else if (strcmp(reason, "affiliationChanged") == 0)
		rc = CA_REASON_AFFILIATION_CHANGED;
	else
		return KAGI_ERR_FORMAT;
	if (a->k == NULL)
		return KAGI_ERR_INTERNAL;
	/* kagid_ca_revoke_txn appends the "ca.revoke" audit record */
	r = kagid_ca_revoke_txn(a->k, a->t, serial, n, rc, a->now, a->actor);
	if (r == KAGI_ERR_REVOKED)
		return 0;
	if (r == KAGI_ERR_NOT_FOUND)
		return KAGI_ERR_CONFLICT;
	if (r == 0)
		*did = 1;
	return r;
}

static int
apply_fido(struct apply *a, const json_t *o, int *did)
{
	uint8_t id[STORE_FIDO_CRED_ID_MAX];
	const char *hex = sget(o, "credential_id");
	char key[2 * STORE_HASH_LEN + 1];
	size_t n = 0;
	int r;

	*did = 0;
	if (unhex(hex, id, sizeof(id), &n) != 0)
		return KAGI_ERR_FORMAT;
	r = store_fido_del(a->t, id, n);
	if (r == KAGI_ERR_NOT_FOUND)
		return 0;
	if (r != 0)
		return r;
	if ((r = store_fido_key(id, n, key)) != 0)
		return r;
	*did = 1;
	return audit(a, "hr.fido.delete", key, json_pack("{s:s?, s:s?}",
	    "account", sget(o, "account"), "staff_no", sget(o, "staff_no")));
}

static int
apply_window(struct apply *a, const json_t *o, int *did)
{
	struct store_grant g;
	const char *id = sget(o, "id");
	int r;

	*did = 0;
	memset(&g, 0, sizeof(g));
	if (id == NULL)
		return KAGI_ERR_FORMAT;
	if ((r = store_grant_get(a->t, id, &g)) != 0)
		return r == KAGI_ERR_NOT_FOUND ? KAGI_ERR_CONFLICT : r;
	if (g.state == STORE_GRANT_REQUESTED ||
	    g.state == STORE_GRANT_APPROVED) {
		g.state = STORE_GRANT_ENDED;
		g.updated = a->now;
		if ((r = store_grant_put(a->t, &g)) != 0 ||
		    (r = audit(a, "hr.window.end", id, json_pack("{s:s}",
		    "account", g.account))) != 0)
			goto out;
		*did = 1;
	}
	r = 0;
out:
	store_grant_clear(&g);
	return r;
}

static int
apply_rotate(struct apply *a, const json_t *o, int *did)
{
	struct store_account acct;
	const char *login = sget(o, "login");
	int r;

	*did = 0;
	memset(&acct, 0, sizeof(acct));
	if (login == NULL)
		return KAGI_ERR_FORMAT;
	if ((r = store_account_get(a->t, login, &acct)) != 0)
		return r == KAGI_ERR_NOT_FOUND ? KAGI_ERR_CONFLICT : r;
	if (!acct.pw_rotate) {
		acct.pw_rotate = 1;
		acct.updated = a->now;
		if ((r = store_account_put(a->t, &acct)) != 0 ||
		    (r = audit(a, "hr.shared.rotate", login, json_pack(
		    "{s:O?}", "members", json_object_get(o, "members")))) != 0)
			goto out;
		*did = 1;
	}
	r = 0;
out:
	store_account_clear(&acct);
	return r;
}

int
hr_plan_apply_txn(struct kagid *k, struct store_txn *t, const json_t *plan,
    int64_t now, const char *actor, json_t **report)
{
	struct apply a;
	uint8_t state[STORE_HASH_LEN];
	char hex[2 * STORE_HASH_LEN + 1];
	const char *want;
	json_t *changed = NULL, *det = NULL;
	int r = KAGI_ERR_INTERNAL;

	memset(&a, 0, sizeof(a));
	if (report != NULL)
		*report = NULL;
	if (t == NULL || plan == NULL || actor == NULL || report == NULL)
		return KAGI_ERR_INVALID;
	a.k = k;
	a.t = t;
	a.now = now;
	a.actor = actor;
	a.plan_id = sget(plan, "plan_id");
	if (a.plan_id == NULL)
		a.plan_id = "";
	want = sget(plan, "state_hash");
	if ((r = store_digest(t, hr_state_dbs, HR_STATE_NDBS, state)) != 0)
		return r;
	kagi_hex_encode(state, sizeof(state), hex);
	if (want == NULL || strcmp(want, hex) != 0) {
		kagi_log_warn("event=hr_plan_stale plan=%s", a.plan_id);
		return KAGI_ERR_CONFLICT;
	}
	for (size_t l = 0; l < HR_NLISTS; l++) {
		const json_t *list = json_object_get(plan, hr_lists[l]);
		const char *name = hr_lists[l];
		size_t i;
		json_t *o;

		if (!json_is_array(list))
			return KAGI_ERR_FORMAT;
		if (strcmp(name, "missing_from_feed") == 0 ||
		    strcmp(name, "cards_collect") == 0)
			continue;   /* reported, not acted on */
		json_array_foreach(list, i, o) {
			int did = 1;

			if (!json_is_object(o))
				return KAGI_ERR_FORMAT;
			if (strcmp(name, "persons_add") == 0)
				r = apply_person(&a, o, 1);
			else if (strcmp(name, "persons_update") == 0)
				r = apply_person(&a, o, 0);
			else if (strcmp(name, "accounts_disable") == 0)
				r = apply_account(&a, o, STORE_ACCT_DISABLED,
				    "hr.account.disable", &did);
			else if (strcmp(name, "accounts_suspend") == 0)
				r = apply_account(&a, o, STORE_ACCT_SUSPENDED,
				    "hr.account.suspend", &did);
			else if (strcmp(name, "accounts_enable") == 0)
				r = apply_account(&a, o, STORE_ACCT_ACTIVE,
				    "hr.account.enable", &did);
			else if (strcmp(name, "certs_revoke") == 0)
				r = apply_cert(&a, o, &did);
			else if (strcmp(name, "fido_delete") == 0)
				r = apply_fido(&a, o, &did);
			else if (strcmp(name, "windows_end") == 0)
				r = apply_window(&a, o, &did);
			else if (strcmp(name, "shared_rotate") == 0)
				r = apply_rotate(&a, o, &did);
			else
				r = KAGI_ERR_INTERNAL;
			if (r != 0) {
				kagi_log_err("event=hr_apply_failed list=%s "
				    "index=%zu err=%s", name, i,
				    kagi_err_name(r));
				return r;
			}
			if (did)
				a.changed[l]++;
			else
				a.unchanged++;
		}
	}
	if ((changed = json_object()) == NULL)
		return KAGI_ERR_NOMEM;
	for (size_t l = 0; l < HR_NLISTS; l++)
		json_object_set_new(changed, hr_lists[l],
		    json_integer(a.changed[l]));
	if ((r = store_meta_u64_put(t, "hr.applied", plan_id_u64(plan))) != 0)
		goto out;
	det = json_pack("{s:O, s:I}", "changed", changed, "unchanged",
	    (json_int_t)a.unchanged);
	if ((r = audit(&a, "hr.apply", a.plan_id, det)) != 0)
		goto out;
	if ((*report = json_pack("{s:b, s:b, s:s, s:O, s:I}", "applied", 1,
	    "already_applied", 0, "plan_id", a.plan_id, "changed", changed,
	    "unchanged", (json_int_t)a.unchanged)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	r = 0;
out:
	json_decref(changed);
	return r;
}

/* ---- handlers ---- */

/* The request body as parsed JSON, up to max bytes (jansson, no dups): an
 * HR feed may be larger than kagid_read_json_body's cap. */
static int
read_big_json(struct kagid_req *r, size_t max, json_t **out, char *err,
    size_t errlen)
{
	json_error_t je;
	char *text = NULL;
	size_t n = 0;
	int rc;

	*out = NULL;
	err[0] = '\0';
	if ((rc = kagid_body_text(r, max, &text, &n)) != 0)
		return rc;
	if (text == NULL) {
		snprintf(err, errlen, "a JSON body is required");
		return KAGI_ERR_FORMAT;
	}
	*out = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
	kagid_body_free(text, n);
	if (*out == NULL || !json_is_object(*out)) {
		snprintf(err, errlen, "body: line %d column %d: %s", je.line,
		    je.column, *out == NULL ? je.text : "not an object");
		json_decref(*out);
		*out = NULL;
		return KAGI_ERR_FORMAT;
	}
	return 0;
}

static int
b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict standard base64 with padding. */
static int
b64_decode(const char *s, size_t n, uint8_t **out, size_t *outlen)
{
	uint8_t *b = NULL;
	size_t o = 0;

	*out = NULL;
	*outlen = 0;
	if (n % 4 != 0)
		return KAGI_ERR_FORMAT;
	if ((b = malloc(n / 4 * 3 + 1)) == NULL)
		return KAGI_ERR_NOMEM;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			char c = s[i + (size_t)k];
			if (c == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0 || (v[k] = b64val(c)) < 0) {
				free(b);
				return KAGI_ERR_FORMAT;
			}
		}
		b[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			b[o++] = (uint8_t)((v[1] & 15) << 4 | v[2] >> 2);
		if (pad < 1)
			b[o++] = (uint8_t)((v[2] & 3) << 6 | v[3]);
	}
	*out = b;
	*outlen = o;
	return 0;
}

/* A refusal is audited and answered 403 by kagid_authz_require. */
static int
authorise(struct kagid_req *r, const char *action, struct kagid_actor *a)
{
	memset(a, 0, sizeof(*a));
	return kagid_authz_require(r, action, NULL, a);
}

/* Plans kept for GET /v1/hr/plans/<id> (process memory, newest wins). */
static struct {
	char id[17];
	char *text;
	size_t len;
} plan_cache[HR_PLAN_CACHE];
static unsigned plan_cache_next;

static int
cache_put(const char *id, char *text)
{
	unsigned i = plan_cache_next++ % HR_PLAN_CACHE;

	free(plan_cache[i].text);
	snprintf(plan_cache[i].id, sizeof(plan_cache[i].id), "%s", id);
	plan_cache[i].text = text;
	plan_cache[i].len = strlen(text);
	return 0;
}

static json_t *
errors_json(const struct hr_feed_errors *e)
{
	json_t *a = json_array(), *o;

	for (size_t i = 0; a != NULL && i < e->n; i++) {
		o = json_pack("{s:I, s:I, s:s, s:s}", "line",
		    (json_int_t)e->e[i].line, "column",
		    (json_int_t)e->e[i].column, "field", e->e[i].field,
		    "reason", e->e[i].reason);
		if (o != NULL && e->e[i].other_line != 0)
			json_object_set_new(o, "first_line",
			    json_integer(e->e[i].other_line));
		json_array_append_new(a, o);
	}
	return a;
}

static void
api_hr_plan(struct kagid_req *r)
{
	struct kagid *k = r->k;
	struct kagid_actor actor;
	struct hr_feed *feed = NULL;
	struct hr_feed_errors *errs = NULL;
	struct store_txn *t = NULL;
	json_t *body = NULL, *plan = NULL;
	const char *b64 = NULL;
	uint8_t *csv = NULL;
	size_t csvlen = 0;
	char err[256], *text = NULL;
	int rc;

	if (authorise(r, "hr.plan", &actor) != 0)
		return;
	if ((rc = read_big_json(r, KAGID_MAX_BODY, &body, err,
	    sizeof(err))) != 0) {
		kagid_reply_error(r, 400, rc, err[0] ? err : NULL);
		return;
	}
	b64 = json_string_value(json_object_get(body, "feed_b64"));
	if (b64 == NULL || json_object_size(body) != 1) {
		kagid_reply_error(r, 400, KAGI_ERR_FORMAT,
		    "body: {\"feed_b64\": base64 of the CSV}");
		goto out;
	}
	if ((rc = b64_decode(b64, strlen(b64), &csv, &csvlen)) != 0) {
		kagid_reply_error(r, 400, rc, "feed_b64: not base64");
		goto out;
	}
	if ((errs = calloc(1, sizeof(*errs))) == NULL) {
		kagid_reply_error(r, 0, KAGI_ERR_NOMEM, NULL);
		goto out;
	}
	/* every line is checked; any fault refuses the whole feed */
	if ((rc = hr_feed_parse(csv, csvlen, &feed, errs)) != 0) {
		char m[160];
		if (errs->n > 0)
			snprintf(m, sizeof(m), "HR feed refused: %zu fault(s); "
			    "first at line %u column %u: %s", errs->total,
			    errs->e[0].line, errs->e[0].column,
			    errs->e[0].reason);
		else
			snprintf(m, sizeof(m), "HR feed refused: %s",
			    kagi_err_name(rc));
		kagi_log_warn("event=hr_feed_refused faults=%zu", errs->total);
		kagid_reply_json(r, kagi_err_http_status(rc), json_pack(
		    "{s:s, s:s, s:s, s:I, s:o}", "error", kagi_err_name(rc),
		    "message", kagi_strerror(rc), "detail", m, "error_count",
		    (json_int_t)errs->total, "errors", errors_json(errs)));
		goto out;
	}
	if ((rc = store_txn_begin(k->store, 0, &t)) != 0 ||
	    (rc = hr_plan_compute(t, feed, &plan)) != 0) {
		kagi_log_err("hr plan: %s", kagi_err_name(rc));
		kagid_reply_error(r, 0, rc, NULL);
		goto out;
	}
	store_txn_abort(t);
	t = NULL;
	if ((rc = hr_plan_sign(k->store, plan, kagi_now(), actor.id)) != 0 ||
	    (text = json_dumps(plan, JSON_INDENT(1) | JSON_SORT_KEYS)) ==
	    NULL) {
		kagid_reply_error(r, 0, rc != 0 ? rc : KAGI_ERR_NOMEM, NULL);
		goto out;
	}
	kagi_log_info("event=hr_plan plan=%s rows=%zu by=%s",
	    json_string_value(json_object_get(plan, "plan_id")), feed->n,
	    actor.id);
	{
		json_t *o = json_pack("{s:s, s:O, s:O, s:O, s:I}", "plan_id",
		    json_string_value(json_object_get(plan, "plan_id")),
		    "summary", json_object_get(plan, "summary"),
		    "feed", json_object_get(plan, "feed"),
		    "state_hash", json_object_get(plan, "state_hash"),
		    "size", (json_int_t)strlen(text));
		cache_put(json_string_value(json_object_get(plan, "plan_id")),
		    text);
		text = NULL;
		kagid_reply_json(r, 200, o);
	}
out:
	store_txn_abort(t);
	free(text);
	json_decref(plan);
	hr_feed_free(feed);
	free(errs);
	free(csv);
	json_decref(body);
}

static void
api_hr_plan_get(struct kagid_req *r)
{
	struct kagid_actor actor;

	if (authorise(r, "hr.plan", &actor) != 0)
		return;
	for (unsigned i = 0; i < HR_PLAN_CACHE; i++)
		if (plan_cache[i].text != NULL &&
		    strcmp(plan_cache[i].id, r->subpath) == 0) {
			kagid_reply_text(r, 200,
			    "application/json; charset=utf-8",
			    plan_cache[i].text, plan_cache[i].len);
			return;
		}
	kagid_reply_error(r, 404, KAGI_ERR_NOT_FOUND,
	    "no such plan (plans are kept until kagid restarts)");
}

static void
api_hr_apply(struct kagid_req *r)
{
	struct kagid *k = r->k;
	struct kagid_actor actor;
	struct store_txn *t = NULL;
	json_t *plan = NULL, *report = NULL;
	const char *pid;
	char err[256];
	uint64_t last = 0;
	int rc;

	if (authorise(r, "hr.apply", &actor) != 0)
		return;
	if ((rc = read_big_json(r, KAGID_MAX_BODY, &plan, err,
	    sizeof(err))) != 0) {
		kagid_reply_error(r, 400, rc, err[0] ? err : NULL);
		return;
	}
	/* an edited plan (or one from another kagid) is refused */
	if ((rc = hr_plan_verify(k->store, plan)) != 0) {
		kagi_log_warn("event=hr_plan_refused reason=%s by=%s",
		    kagi_err_name(rc), actor.id);
		kagid_reply_error(r, rc == KAGI_ERR_SIG ? 400 : 0, rc,
		    rc == KAGI_ERR_SIG ? "the plan's MAC does not verify: it "
		    "was changed or made by another kagid" : NULL);
		goto out;
	}
	pid = json_string_value(json_object_get(plan, "plan_id"));
	if (pid == NULL)
		pid = "";
	if ((rc = store_txn_begin(k->store, 1, &t)) != 0) {
		kagid_reply_error(r, 0, rc, NULL);
		goto out;
	}
	rc = store_meta_u64_get(t, "hr.applied", &last);
	if (rc == 0 && last == plan_id_u64(plan)) {
		store_txn_abort(t);
		t = NULL;
		kagid_reply_json(r, 200, json_pack("{s:b, s:b, s:s, s:{}, s:i}",
		    "applied", 0, "already_applied", 1, "plan_id", pid,
		    "changed", "unchanged", 0));
		goto out;
	}
	if (rc != 0 && rc != KAGI_ERR_NOT_FOUND) {
		kagid_reply_error(r, 0, rc, NULL);
		goto out;
	}
	rc = hr_plan_apply_txn(k, t, plan, kagi_now(), actor.id, &report);
	if (rc != 0) {
		store_txn_abort(t);
		t = NULL;
		kagid_reply_error(r, 0, rc, rc == KAGI_ERR_CONFLICT ?
		    "the store changed since the plan was made; make a new "
		    "plan" : NULL);
		goto out;
	}
	rc = store_txn_commit(t);
	t = NULL;
	if (rc != 0) {
		kagid_reply_error(r, 0, rc, NULL);
		goto out;
	}
	if (json_integer_value(json_object_get(json_object_get(report,
	    "changed"), "certs_revoke")) > 0)
		kagid_ca_changed(k);
	kagi_log_info("event=hr_apply plan=%s by=%s", pid, actor.id);
	kagid_reply_json(r, 200, report);
	report = NULL;
out:
	store_txn_abort(t);
	json_decref(report);
	json_decref(plan);
}

const struct kagid_route kagid_hr_routes[] = {
	{ "/v1/hr/plan", "POST", api_hr_plan, KAGID_TR_API, 0 },
	{ "/v1/hr/plans/", "GET", api_hr_plan_get, KAGID_TR_API, 1 },
	{ "/v1/hr/apply", "POST", api_hr_apply, KAGID_TR_API, 0 },
	{ NULL, NULL, NULL, 0, 0 },
};
