/*
 * HR feed parser, HR planner, privileged-window decisions and the sweep
 * (R-ID-1, R-ID-3, R-ID-5, R-ID-12, R-PRIV-2, R-PRIV-7, R-DEV-1, R-PW-6).
 * The planner and the sweep run against a real LMDB store in a private
 * directory, built with the store API.  `now` is always injected.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "kagi/kbuf.h"
#include "kagi/policy.h"
#include "kagi/store.h"
#include "server_int.h"

#define NOW ((int64_t)1790000000) /* 2026-09-21 */
#define DAY ((int64_t)86400)

static const char HDR[] =
    "staff_no,name,kana,section,employment,status,effective_date\n";

/* ---- helpers ---- */

static char *
tmpdir_new(void)
{
	char tmpl[] = "/tmp/kagi-hr-test.XXXXXX";
	char *d = mkdtemp(tmpl);

	ck_assert_ptr_nonnull(d);
	return strdup(d);
}

static void
tmpdir_rm(char *d)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	ck_assert_int_eq(system(cmd), 0);
	free(d);
}

static int
parse(const char *text, struct hr_feed **f, struct hr_feed_errors *e)
{
	return hr_feed_parse((const uint8_t *)text, strlen(text), f, e);
}

/* ---- parser: malformed feeds are refused whole, naming the line ---- */

#define S10 "SSSSSSSSSS"
#define S100 S10 S10 S10 S10 S10 S10 S10 S10 S10 S10
#define S300 S100 S100 S100

struct bad_feed {
	const char *name;
	const char *body;       /* after the header unless no_header */
	int no_header;
	uint32_t line;          /* of the first fault */
	uint32_t column;
	const char *reason;
};

static const struct bad_feed bad_feeds[] = {
	{ "bad_date", "A1,n,k,s,regular,active,2026-04-01\n"
	  "A2,n,k,s,regular,active,2026-02-30\n", 0, 3, 7, "bad_date" },
	{ "bad_date_format", "A1,n,k,s,regular,active,2026/04/01\n", 0, 2, 7,
	  "bad_date" },
	{ "unknown_status", "A1,n,k,s,regular,active,2026-04-01\n"
	  "A2,n,k,s,regular,active,2026-04-01\n"
	  "A3,n,k,s,regular,fired,2026-04-01\n", 0, 4, 6, "unknown_status" },
	{ "dup_staff_no", "A1,n,k,s,regular,active,2026-04-01\n"
	  "A2,n,k,s,regular,active,2026-04-01\n"
	  "A1,n,k,s,regular,retired,2026-04-01\n", 0, 4, 1, "dup_staff_no" },
	{ "wrong_column_count", "A1,n,k,s,regular,active,2026-04-01\n"
	  "A2,n,k,s,regular,active\n", 0, 3, 6, "wrong_column_count" },
	{ "too_many_columns", "A1,n,k,s,regular,active,2026-04-01,x\n", 0, 2,
	  8, "wrong_column_count" },
	{ "invalid_utf8", "A1,n,k,s,regular,active,2026-04-01\n"
	  "A2,\xe5\xb1\xb1\xff,k,s,regular,active,2026-04-01\n", 0, 3, 2,
	  "invalid_utf8" },
	{ "missing_header", "A1,n,k,s,regular,active,2026-04-01\n", 1, 1, 1,
	  "missing_header" },
	{ "header_missing_column",
	  "staff_no,name,kana,section,employment,status\n", 1, 1, 0,
	  "missing_column" },
	{ "oversize_field", "A1,n,k,s,regular,active,2026-04-01\n"
	  "A2,n,k," S300 ",regular,active,2026-04-01\n", 0, 3, 4,
	  "oversize_field" },
	{ "bad_quote", "A1,\"n,k,s,regular,active,2026-04-01\n", 0, 2, 2,
	  "bad_quote" },
	{ "bad_staff_no", "A 1,n,k,s,regular,active,2026-04-01\n", 0, 2, 1,
	  "bad_staff_no" },
	{ "control_char", "A1,n\x01,k,s,regular,active,2026-04-01\n", 0, 2, 2,
	  "control_char" },
	{ "bad_employment", "A1,n,k,s,boss,active,2026-04-01\n", 0, 2, 5,
	  "bad_employment" },
	{ "empty_name", "A1,,k,s,regular,active,2026-04-01\n", 0, 2, 2,
	  "empty_field" },
	{ "empty_feed", "", 1, 1, 0, "missing_header" },
};

START_TEST(malformed_feed_refused)
{
	const struct bad_feed *b = &bad_feeds[_i];
	struct hr_feed *f = (struct hr_feed *)1;
	struct hr_feed_errors e;
	char *text = NULL;
	size_t n = strlen(HDR) + strlen(b->body) + 1;
	int r;

	text = malloc(n);
	ck_assert_ptr_nonnull(text);
	snprintf(text, n, "%s%s", b->no_header ? "" : HDR, b->body);
	r = parse(text, &f, &e);
	ck_assert_msg(r == KAGI_ERR_FORMAT, "%s: r=%d", b->name, r);
	ck_assert_msg(f == NULL, "%s: rows returned with an error", b->name);
	ck_assert_msg(e.n >= 1, "%s: no error listed", b->name);
	ck_assert_msg(e.e[0].line == b->line, "%s: line %u, want %u", b->name,
	    e.e[0].line, b->line);
	ck_assert_msg(e.e[0].column == b->column, "%s: column %u, want %u",
	    b->name, e.e[0].column, b->column);
	ck_assert_msg(strcmp(e.e[0].reason, b->reason) == 0,
	    "%s: reason %s, want %s", b->name, e.e[0].reason, b->reason);
	free(text);
}
END_TEST

START_TEST(dup_staff_no_names_first_line)
{
	struct hr_feed *f = NULL;
	struct hr_feed_errors e;
	const char *t = "staff_no,name,kana,section,employment,status,"
	    "effective_date\nA1,n,k,s,regular,active,2026-04-01\n"
	    "A2,n,k,s,regular,active,2026-04-01\n"
	    "A1,n,k,s,regular,retired,2026-04-01\n";

	ck_assert_int_eq(parse(t, &f, &e), KAGI_ERR_FORMAT);
	ck_assert_uint_eq(e.e[0].other_line, 2);
}
END_TEST

START_TEST(every_fault_listed)
{
	struct hr_feed *f = NULL;
	struct hr_feed_errors e;
	const char *t = "staff_no,name,kana,section,employment,status,"
	    "effective_date\nA1,n,k,s,regular,active,2026-13-01\n"
	    "A2,n,k,s,regular,active,2026-04-01\n"
	    "A3,n,k,s,regular,gone,2026-04-01\n";

	ck_assert_int_eq(parse(t, &f, &e), KAGI_ERR_FORMAT);
	ck_assert_uint_eq(e.total, 2);
	ck_assert_uint_eq(e.e[0].line, 2);
	ck_assert_uint_eq(e.e[1].line, 4);
}
END_TEST

START_TEST(bom_and_crlf_ok)
{
	struct hr_feed *f = NULL;
	struct hr_feed_errors e;
	const char *t = "\xef\xbb\xbfstaff_no,name,kana,section,employment,"
	    "status,effective_date\r\n"
	    "A1,\"山田, 太郎\",ヤマダ,\"総務\"\"課\",regular,retired,"
	    "2024-02-29\r\n\r\n"
	    "A2,n,k,s,fiscal-year,on-leave,2026-04-01\r\n";

	ck_assert_int_eq(parse(t, &f, &e), 0);
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(f->n, 2);
	ck_assert_str_eq(f->rows[0].f[HR_COL_NAME], "山田, 太郎");
	ck_assert_str_eq(f->rows[0].f[HR_COL_SECTION], "総務\"課");
	ck_assert_int_eq(f->rows[0].status, HR_RETIRED);
	ck_assert_int_eq(f->rows[1].status, HR_ON_LEAVE);
	ck_assert_uint_eq(f->rows[1].line, 4);
	hr_feed_free(f);
}
END_TEST

START_TEST(header_any_order)
{
	struct hr_feed *f = NULL;
	struct hr_feed_errors e;
	const char *t = "status,staff_no,effective_date,name,kana,section,"
	    "employment\nretired,A1,2026-03-31,n,k,s,regular\n";

	ck_assert_int_eq(parse(t, &f, &e), 0);
	ck_assert_str_eq(f->rows[0].f[HR_COL_STAFF_NO], "A1");
	ck_assert_int_eq(f->rows[0].status, HR_RETIRED);
	ck_assert_int_eq(f->rows[0].effective, 1774915200); /* 2026-03-31Z */
	hr_feed_free(f);
}
END_TEST

START_TEST(dates_table)
{
	static const struct { const char *s; int ok; } d[] = {
		{ "2024-02-29", 1 }, { "2023-02-29", 0 }, { "2000-02-29", 1 },
		{ "1900-02-29", 0 }, { "2026-04-31", 0 }, { "2026-12-31", 1 },
		{ "2026-00-10", 0 }, { "2026-01-00", 0 }, { "26-01-01", 0 },
		{ "2026-1-01", 0 }, { "2026-01-01 ", 0 }, { "1899-12-31", 0 },
	};
	int64_t t;

	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		ck_assert_msg((hr_date_parse(d[i].s, &t) == 0) == d[i].ok,
		    "%s", d[i].s);
	ck_assert_int_eq(hr_date_parse("1970-01-02", &t), 0);
	ck_assert_int_eq(t, DAY);
}
END_TEST

/* ---- planner on a 10,000-person feed ---- */

#define NP 10000
#define NFEED 9995       /* P00000..P09994 stay in the feed */
#define NNEW 5           /* N0..N4 are new */

static int
status_of(int i)
{
	if (i % 20 == 0)
		return HR_RETIRED;              /* 500 */
	if (i % 20 == 1 && i < 6000)
		return HR_TRANSFERRED;          /* 300 */
	if (i % 20 == 2 && i < 2000)
		return HR_SECONDED;             /* 100 */
	return HR_ACTIVE;
}

static void
put_cert(struct store_txn *t, uint32_t serial, const char *holder)
{
	struct store_cert c;
	uint8_t der[8] = { 0x30, 0x06, 1, 2, 3, 4, 5, 6 };

	memset(&c, 0, sizeof(c));
	c.serial[0] = 0x10;
	c.serial[1] = (uint8_t)(serial >> 16);
	c.serial[2] = (uint8_t)(serial >> 8);
	c.serial[3] = (uint8_t)serial;
	c.serial_len = 4;
	c.profile = (char *)"staff-logon";
	c.holder = (char *)holder;
	c.subject = (char *)"CN=x";
	c.not_before = NOW - DAY;
	c.not_after = NOW + 365 * DAY;
	c.issued_at = NOW - DAY;
	c.der = der;
	c.der_len = sizeof(der);
	ck_assert_int_eq(store_cert_add(t, &c), 0);
}

static void
put_fido(struct store_txn *t, uint32_t n, const char *account)
{
	struct store_fido f;
	uint8_t id[16], cose[4] = { 0xa5, 1, 2, 3 };

	memset(&f, 0, sizeof(f));
	memset(id, 0x42, sizeof(id));
	memcpy(id, &n, sizeof(n));
	f.cred_id = id;
	f.cred_id_len = sizeof(id);
	f.account = (char *)account;
	f.cose_key = cose;
	f.cose_key_len = sizeof(cose);
	f.created = NOW - DAY;
	ck_assert_int_eq(store_fido_add(t, &f), 0);
}

static void
put_grant(struct store_txn *t, uint32_t n, const char *account,
    uint8_t state, int64_t start, int64_t end)
{
	struct store_grant g;
	char id[STORE_GRANT_ID_LEN + 1];

	snprintf(id, sizeof(id), "%016x", n);
	memset(&g, 0, sizeof(g));
	g.id = id;
	g.account = (char *)account;
	g.requester = (char *)"op1";
	g.approver = (char *)"op2";
	g.state = state;
	g.start = start;
	g.end = end;
	g.reason = (char *)"maintenance";
	g.created = start;
	ck_assert_int_eq(store_grant_add(t, &g), 0);
}

static void
put_account(struct store_txn *t, const char *login, const char *staff_no,
    uint8_t kind)
{
	struct store_account a;

	memset(&a, 0, sizeof(a));
	a.login = (char *)login;
	a.staff_no = (char *)staff_no;
	a.kind = kind;
	a.pw_hash = (char *)"";
	a.last_login_terminal = (char *)"";
	a.created = a.updated = a.last_login = NOW - DAY;
	ck_assert_int_eq(store_account_add(t, &a), 0);
}

static struct store *
build_store(const char *dir)
{
	struct store *s = NULL;
	struct store_txn *t = NULL;
	struct store_member m;
	char sno[16], login[16];
	uint32_t serial = 1;

	ck_assert_int_eq(store_open(dir, NULL, &s), 0);
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	for (int i = 0; i < NP; i++) {
		struct store_person p;

		snprintf(sno, sizeof(sno), "P%05d", i);
		snprintf(login, sizeof(login), "u%05d", i);
		memset(&p, 0, sizeof(p));
		p.staff_no = sno;
		p.name = (char *)"名前";
		p.kana = (char *)"ナマエ";
		p.section = (char *)"総務課";
		p.employment = (char *)"regular";
		p.hr_status = (char *)"active";
		p.created = p.updated = NOW - DAY;
		ck_assert_int_eq(store_person_add(t, &p), 0);
		put_account(t, login, sno, STORE_KIND_PERSONAL);
		if (i >= NFEED)
			continue;
		switch (status_of(i)) {
		case HR_RETIRED:
			put_cert(t, serial++, login);
			put_cert(t, serial++, login);
			put_fido(t, (uint32_t)i, login);
			break;
		case HR_TRANSFERRED:
			put_cert(t, serial++, login);
			break;
		case HR_SECONDED:
			put_grant(t, (uint32_t)i, login, STORE_GRANT_APPROVED,
			    NOW - 60, NOW + 3600);
			break;
		default:
			/* an active person's certificate stays */
			if (i % 20 == 3 && i < 400)
				put_cert(t, serial++, login);
			break;
		}
	}
	/* a shared ID used by three leavers and one stayer */
	put_account(t, "shared-ops", "", STORE_KIND_SHARED);
	memset(&m, 0, sizeof(m));
	m.shared = (char *)"shared-ops";
	m.added = NOW - DAY;
	m.member = (char *)"u00000";
	ck_assert_int_eq(store_member_add(t, &m), 0);
	m.member = (char *)"u00020";
	ck_assert_int_eq(store_member_add(t, &m), 0);
	m.member = (char *)"u00040";
	ck_assert_int_eq(store_member_add(t, &m), 0);
	m.member = (char *)"u00005";
	ck_assert_int_eq(store_member_add(t, &m), 0);
	ck_assert_int_eq(store_audit_append(t, NOW, "test", "test.seed", "",
	    "ok", "", NULL), 0);
	ck_assert_int_eq(store_txn_commit(t), 0);
	return s;
}

static char *
build_feed(size_t *len)
{
	size_t cap = 200 * (NFEED + NNEW) + 128, n = 0;
	char *b = malloc(cap);

	ck_assert_ptr_nonnull(b);
	n += (size_t)snprintf(b + n, cap - n, "%s", HDR);
	for (int i = 0; i < NFEED; i++) {
		int st = status_of(i);
		n += (size_t)snprintf(b + n, cap - n,
		    "P%05d,名前,ナマエ,%s,regular,%s,2026-09-30\n", i,
		    st == HR_TRANSFERRED ? "税務課" : "総務課",
		    hr_status_name(st));
	}
	for (int i = 0; i < NNEW; i++)
		n += (size_t)snprintf(b + n, cap - n,
		    "N%d,新人,シンジン,総務課,fiscal-year,active,2026-10-01\n",
		    i);
	*len = n;
	return b;
}

static size_t
count_where(const json_t *list, const char *key, const char *val)
{
	const json_t *e;
	size_t i, n = 0;

	json_array_foreach(list, i, e)
		if (strcmp(json_string_value(json_object_get(e, key)),
		    val) == 0)
			n++;
	return n;
}

START_TEST(planner_10000_people)
{
	char *dir = tmpdir_new(), *csv;
	struct store *s = build_store(dir);
	struct store_txn *t = NULL;
	struct hr_feed *f = NULL;
	struct hr_feed_errors e;
	json_t *plan = NULL, *plan2 = NULL, *rot;
	size_t len = 0;
	char *d1, *d2;

	csv = build_feed(&len);
	ck_assert_int_eq(hr_feed_parse((uint8_t *)csv, len, &f, &e), 0);
	ck_assert_uint_eq(f->n, NFEED + NNEW);
	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	ck_assert_int_eq(hr_plan_compute(t, f, &plan), 0);
	ck_assert_int_eq(hr_plan_compute(t, f, &plan2), 0);
	store_txn_abort(t);

#define N(list) json_array_size(json_object_get(plan, list))
	ck_assert_uint_eq(N("persons_add"), NNEW);
	ck_assert_uint_eq(N("persons_update"), 500 + 300 + 100);
	ck_assert_uint_eq(N("accounts_disable"), 500);
	ck_assert_uint_eq(N("accounts_suspend"), 100);
	ck_assert_uint_eq(N("accounts_enable"), 0);
	ck_assert_uint_eq(N("certs_revoke"), 2 * 500 + 300);
	ck_assert_uint_eq(count_where(json_object_get(plan, "certs_revoke"),
	    "reason", "cessationOfOperation"), 1000);
	ck_assert_uint_eq(count_where(json_object_get(plan, "certs_revoke"),
	    "reason", "affiliationChanged"), 300);
	ck_assert_uint_eq(N("fido_delete"), 500);
	ck_assert_uint_eq(N("cards_collect"), 0);
	ck_assert_uint_eq(N("windows_end"), 100);
	ck_assert_uint_eq(N("shared_rotate"), 1);
	ck_assert_uint_eq(N("missing_from_feed"), NP - NFEED);
#undef N
	rot = json_array_get(json_object_get(plan, "shared_rotate"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(rot, "login")),
	    "shared-ops");
	ck_assert_uint_eq(json_array_size(json_object_get(rot, "members")), 3);
	ck_assert_uint_eq(count_where(json_object_get(plan,
	    "accounts_disable"), "status", "retired"), 500);
	ck_assert_uint_eq(count_where(json_object_get(plan,
	    "accounts_suspend"), "status", "seconded"), 100);
	/* deterministic: same store, same feed, same plan and state hash */
	d1 = json_dumps(plan, JSON_SORT_KEYS | JSON_COMPACT);
	d2 = json_dumps(plan2, JSON_SORT_KEYS | JSON_COMPACT);
	ck_assert_str_eq(d1, d2);
	free(d1);
	free(d2);
	json_decref(plan);
	json_decref(plan2);
	hr_feed_free(f);
	free(csv);
	store_close(s);
	tmpdir_rm(dir);
}
END_TEST

/* Apply (no certificates: the CA is not part of this test), twice, and a
 * stale plan; also an edited plan's MAC. */
START_TEST(apply_then_stale_and_edited)
{
	char *dir = tmpdir_new();
	struct store *s = NULL;
	struct store_txn *t = NULL;
	struct hr_feed *f = NULL;
	struct hr_feed_errors e;
	struct store_account a;
	json_t *plan = NULL, *rep = NULL;
	const char *csv = "staff_no,name,kana,section,employment,status,"
	    "effective_date\nA1,n,k,s,regular,retired,2026-09-30\n"
	    "A2,n,k,s,regular,on-leave,2026-09-30\n";

	ck_assert_int_eq(store_open(dir, NULL, &s), 0);
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	put_account(t, "a1", "A1", STORE_KIND_PERSONAL);
	put_account(t, "a2", "A2", STORE_KIND_PERSONAL);
	put_fido(t, 7, "a1");
	put_grant(t, 9, "a2", STORE_GRANT_REQUESTED, NOW, NOW + 600);
	ck_assert_int_eq(store_audit_append(t, NOW, "t", "t", "", "ok", "",
	    NULL), 0);
	ck_assert_int_eq(store_txn_commit(t), 0);

	ck_assert_int_eq(parse(csv, &f, &e), 0);
	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	ck_assert_int_eq(hr_plan_compute(t, f, &plan), 0);
	store_txn_abort(t);
	ck_assert_int_eq(hr_plan_sign(s, plan, NOW, "test"), 0);
	ck_assert_int_eq(hr_plan_verify(s, plan), 0);
	/* an edited plan: the MAC no longer verifies */
	{
		json_t *ed = json_deep_copy(plan);
		json_object_set_new(json_array_get(json_object_get(ed,
		    "accounts_disable"), 0), "login", json_string("a2"));
		ck_assert_int_eq(hr_plan_verify(s, ed), KAGI_ERR_SIG);
		json_decref(ed);
	}
	/* a change after planning makes the plan stale: nothing written */
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	put_account(t, "zz", "", STORE_KIND_SERVICE);
	ck_assert_int_eq(store_audit_append(t, NOW, "t", "t", "", "ok", "",
	    NULL), 0);
	ck_assert_int_eq(store_txn_commit(t), 0);
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	ck_assert_int_eq(hr_plan_apply_txn(NULL, t, plan, NOW, "test", &rep),
	    KAGI_ERR_CONFLICT);
	ck_assert_ptr_null(rep);
	store_txn_abort(t);
	json_decref(plan);
	/* a fresh plan applies */
	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	ck_assert_int_eq(hr_plan_compute(t, f, &plan), 0);
	store_txn_abort(t);
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	ck_assert_int_eq(hr_plan_apply_txn(NULL, t, plan, NOW, "test", &rep),
	    0);
	ck_assert_int_eq(store_txn_commit(t), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(
	    rep, "changed"), "accounts_disable")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(
	    rep, "changed"), "fido_delete")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(
	    rep, "changed"), "windows_end")), 1);
	json_decref(rep);
	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	ck_assert_int_eq(store_account_get(t, "a1", &a), 0);
	ck_assert_int_eq(a.state, STORE_ACCT_DISABLED);
	store_account_clear(&a);
	ck_assert_int_eq(store_account_get(t, "a2", &a), 0);
	ck_assert_int_eq(a.state, STORE_ACCT_SUSPENDED);
	store_account_clear(&a);
	store_txn_abort(t);
	/* the same plan again: the state moved on, so it is stale */
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	ck_assert_int_eq(hr_plan_apply_txn(NULL, t, plan, NOW, "test", &rep),
	    KAGI_ERR_CONFLICT);
	store_txn_abort(t);
	json_decref(plan);
	hr_feed_free(f);
	store_close(s);
	tmpdir_rm(dir);
}
END_TEST

/* ---- privileged windows ---- */

static struct store_grant
grant(uint8_t state, int64_t start, int64_t end, int delegate,
    const char *requester)
{
	struct store_grant g;

	memset(&g, 0, sizeof(g));
	g.id = (char *)"0123456789abcdef";
	g.account = (char *)"root-adm";
	g.requester = (char *)requester;
	g.approver = (char *)"";
	g.state = state;
	g.start = start;
	g.end = end;
	g.delegate = (uint8_t)delegate;
	g.reason = (char *)"r";
	return g;
}

START_TEST(window_edges)
{
	static const struct { int64_t now; int open; } t[] = {
		{ 999, 0 },   /* before start */
		{ 1000, 1 },  /* at start */
		{ 1999, 1 },
		{ 2000, 0 },  /* at end: closed */
		{ 2001, 0 },  /* after end */
	};
	struct store_grant g = grant(STORE_GRANT_APPROVED, 1000, 2000, 0,
	    "op1");
	int64_t end;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int r = priv_window_open(&g, 1, t[i].now, &end);
		ck_assert_msg((r == 0) == t[i].open, "now=%lld",
		    (long long)t[i].now);
		ck_assert_int_eq(end, t[i].open ? 2000 : 0);
		if (!t[i].open)
			ck_assert_int_eq(r, KAGI_ERR_DENIED);
	}
	/* only approved windows open; the latest end wins */
	for (uint8_t s = 0; s < STORE_GRANT_STATE_COUNT; s++) {
		struct store_grant x = grant(s, 1000, 2000, 0, "op1");
		ck_assert_int_eq(priv_window_open(&x, 1, 1500, &end) == 0,
		    s == STORE_GRANT_APPROVED);
	}
	{
		struct store_grant two[2] = {
			grant(STORE_GRANT_APPROVED, 1000, 2000, 0, "a"),
			grant(STORE_GRANT_APPROVED, 1400, 2600, 0, "a"),
		};
		ck_assert_int_eq(priv_window_open(two, 2, 1500, &end), 0);
		ck_assert_int_eq(end, 2600);
	}
	ck_assert_int_eq(priv_window_open(NULL, 0, 1500, &end),
	    KAGI_ERR_DENIED);
}
END_TEST

START_TEST(approval_table)
{
	struct policy_privileged pp = { 3600, 1800, 600 };
	static const struct {
		const char *name;
		uint8_t state;
		int64_t len;
		int delegate;
		const char *approver;
		uint32_t roles;
		int64_t now;
		int want;
		const char *why;
	} t[] = {
		{ "ok", STORE_GRANT_REQUESTED, 3600, 0, "op2",
		  POLICY_ROLE_APPROVER, 1000, 0, "ok" },
		{ "approval_by_requester", STORE_GRANT_REQUESTED, 600, 0,
		  "op1", POLICY_ROLE_ALL, 1000, KAGI_ERR_DENIED,
		  "self_approval" },
		{ "delegate_by_non_ciso", STORE_GRANT_REQUESTED, 600, 1, "op2",
		  POLICY_ROLE_APPROVER, 1000, KAGI_ERR_DENIED,
		  "delegate_needs_ciso" },
		{ "delegate_by_ciso", STORE_GRANT_REQUESTED, 1800, 1, "op2",
		  POLICY_ROLE_CISO, 1000, 0, "ok" },
		{ "longer_than_maximum", STORE_GRANT_REQUESTED, 3601, 0, "op2",
		  POLICY_ROLE_APPROVER, 1000, KAGI_ERR_LIMIT, "too_long" },
		{ "delegate_longer_than_maximum", STORE_GRANT_REQUESTED, 1801,
		  1, "op2", POLICY_ROLE_CISO, 1000, KAGI_ERR_LIMIT,
		  "too_long" },
		{ "window_already_over", STORE_GRANT_REQUESTED, 600, 0, "op2",
		  POLICY_ROLE_APPROVER, 1600, KAGI_ERR_EXPIRED,
		  "window_over" },
		{ "already_approved", STORE_GRANT_APPROVED, 600, 0, "op2",
		  POLICY_ROLE_APPROVER, 1000, KAGI_ERR_CONFLICT,
		  "not_requested" },
		{ "denied_before", STORE_GRANT_DENIED, 600, 0, "op2",
		  POLICY_ROLE_APPROVER, 1000, KAGI_ERR_CONFLICT,
		  "not_requested" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct store_grant g = grant(t[i].state, 1000,
		    1000 + t[i].len, t[i].delegate, "op1");
		const char *why = NULL;
		int r = priv_check_approve(&g, t[i].approver, t[i].roles, &pp,
		    t[i].now, &why);
		ck_assert_msg(r == t[i].want, "%s: r=%d want %d", t[i].name,
		    r, t[i].want);
		ck_assert_msg(strcmp(why, t[i].why) == 0, "%s: why=%s",
		    t[i].name, why);
	}
}
END_TEST

START_TEST(priv_check_on_store)
{
	char *dir = tmpdir_new();
	struct store *s = NULL;
	struct store_txn *t = NULL;
	int64_t end = -1;

	ck_assert_int_eq(store_open(dir, NULL, &s), 0);
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	put_account(t, "adm1", "P1", STORE_KIND_PRIVILEGED);
	put_account(t, "user1", "P2", STORE_KIND_PERSONAL);
	put_grant(t, 1, "adm1", STORE_GRANT_APPROVED, NOW, NOW + 3600);
	put_grant(t, 2, "adm1", STORE_GRANT_REQUESTED, NOW, NOW + 7200);
	ck_assert_int_eq(store_audit_append(t, NOW, "t", "t", "", "ok", "",
	    NULL), 0);
	ck_assert_int_eq(store_txn_commit(t), 0);
	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	ck_assert_int_eq(kagid_priv_check(t, "adm1", NOW - 1, &end),
	    KAGI_ERR_DENIED);
	ck_assert_int_eq(end, 0);
	ck_assert_int_eq(kagid_priv_check(t, "adm1", NOW, &end), 0);
	ck_assert_int_eq(end, NOW + 3600);
	ck_assert_int_eq(kagid_priv_check(t, "adm1", NOW + 3600, &end),
	    KAGI_ERR_DENIED);
	ck_assert_int_eq(kagid_priv_check(t, "user1", NOW - 1, &end), 0);
	ck_assert_int_eq(end, 0);
	ck_assert_int_eq(kagid_priv_check(t, "nobody", NOW, &end),
	    KAGI_ERR_NOT_FOUND);
	store_txn_abort(t);
	store_close(s);
	tmpdir_rm(dir);
}
END_TEST

/* ---- sweep ---- */

START_TEST(sweep_dormant_edge)
{
	char *dir = tmpdir_new();
	struct store *s = NULL;
	struct store_txn *t = NULL;
	struct policy *p = NULL;
	struct store_account a;
	json_t *rep = NULL;
	char err[256];
	int64_t dormant = 90 * DAY; /* default [sweep] dormant_days */
	const char *pol = policy_default_text();
	static const struct {
		const char *login;
		uint8_t kind;
		int64_t last, end, temp_exp;
		uint32_t roles;
		uint8_t want_state;
	} acc[] = {
		{ "dormant-edge", STORE_KIND_PERSONAL, 0, 0, 0, 0,
		  STORE_ACCT_DISABLED },   /* last = now - 90d: dormant */
		{ "dormant-minus1", STORE_KIND_PERSONAL, 1, 0, 0, 0,
		  STORE_ACCT_ACTIVE },     /* one second less: not yet */
		{ "service-old", STORE_KIND_SERVICE, 0, 0, 0, 0,
		  STORE_ACCT_ACTIVE },
		{ "operator-old", STORE_KIND_PERSONAL, 0, 0, 0,
		  POLICY_ROLE_OPERATOR, STORE_ACCT_ACTIVE },
		{ "dev-expired", STORE_KIND_DEVELOPMENT, 90 * DAY, 1, 0, 0,
		  STORE_ACCT_DISABLED },   /* end_date == now */
		{ "dev-tomorrow", STORE_KIND_DEVELOPMENT, 90 * DAY, 2, 0, 0,
		  STORE_ACCT_ACTIVE },     /* end_date == now + 1 */
		{ "temp-expired", STORE_KIND_PERSONAL, 90 * DAY, 0, 1, 0,
		  STORE_ACCT_ACTIVE },
	};
	size_t n = sizeof(acc) / sizeof(acc[0]);

	ck_assert_int_eq(policy_parse(pol, strlen(pol), "default", &p, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(store_open(dir, NULL, &s), 0);
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	for (size_t i = 0; i < n; i++) {
		memset(&a, 0, sizeof(a));
		a.login = (char *)acc[i].login;
		a.staff_no = (char *)"";
		a.kind = acc[i].kind;
		a.roles = acc[i].roles;
		a.pw_hash = (char *)(acc[i].temp_exp ? "$y$j9T$x$y" : "");
		a.pw_temp = acc[i].temp_exp ? 1 : 0;
		a.pw_temp_expires = acc[i].temp_exp ? NOW : 0;
		a.last_login_terminal = (char *)"";
		a.last_login = NOW - dormant + acc[i].last;
		a.created = a.updated = NOW - 200 * DAY;
		a.end_date = acc[i].end ? NOW + acc[i].end - 1 : 0;
		ck_assert_int_eq(store_account_add(t, &a), 0);
	}
	put_grant(t, 1, "dormant-minus1", STORE_GRANT_APPROVED, NOW - 7200,
	    NOW);                           /* ends exactly now */
	put_grant(t, 2, "dormant-minus1", STORE_GRANT_APPROVED, NOW - 7200,
	    NOW + 1);
	ck_assert_int_eq(store_audit_append(t, NOW, "t", "t", "", "ok", "",
	    NULL), 0);
	ck_assert_int_eq(store_txn_commit(t), 0);

	/* dry run: a report, and nothing written */
	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	ck_assert_int_eq(kagid_sweep_txn(t, p, NOW, 1, "test", &rep), 0);
	store_txn_abort(t);
	ck_assert_int_eq(json_integer_value(json_object_get(rep, "changes")),
	    4);
	json_decref(rep);
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	ck_assert_int_eq(kagid_sweep_txn(t, p, NOW, 0, "test", &rep), 0);
	ck_assert_int_eq(store_txn_commit(t), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(rep, "dormant")), 1);
	ck_assert_uint_eq(json_array_size(json_object_get(rep, "expired")), 1);
	ck_assert_uint_eq(json_array_size(json_object_get(rep,
	    "temp_passwords")), 1);
	ck_assert_uint_eq(json_array_size(json_object_get(rep,
	    "windows_ended")), 1);
	json_decref(rep);
	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(store_account_get(t, acc[i].login, &a), 0);
		ck_assert_msg(a.state == acc[i].want_state, "%s: state %u",
		    acc[i].login, a.state);
		if (acc[i].temp_exp) {
			ck_assert_str_eq(a.pw_hash, "");
			ck_assert_int_eq(a.pw_temp, 0);
		}
		store_account_clear(&a);
	}
	/* a second run finds nothing */
	ck_assert_int_eq(kagid_sweep_txn(t, p, NOW, 1, "test", &rep), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(rep, "changes")),
	    0);
	json_decref(rep);
	store_txn_abort(t);
	policy_free(p);
	store_close(s);
	tmpdir_rm(dir);
}
END_TEST

/* ---- records: round trip and mutation ---- */

START_TEST(grant_fido_codec_mutation)
{
	struct store_grant g = grant(STORE_GRANT_APPROVED, 10, 20, 1, "op1"),
	    d;
	struct store_fido f, fd;
	uint8_t id[3] = { 1, 2, 3 }, cose[2] = { 9, 9 };
	struct kbuf *b = kbuf_new(65536), *b2 = kbuf_new(65536);
	const uint8_t *p;
	size_t n;

	ck_assert_int_eq(store_grant_encode(&g, b), 0);
	p = kbuf_ptr(b);
	n = kbuf_len(b);
	ck_assert_int_eq(store_grant_decode(p, n, &d), 0);
	ck_assert_str_eq(d.requester, "op1");
	ck_assert_int_eq(d.end, 20);
	store_grant_clear(&d);
	for (size_t i = 0; i < n; i++) {          /* truncations */
		ck_assert_int_ne(store_grant_decode(p, i, &d), 0);
	}
	for (size_t i = 0; i < n; i++) {          /* flips: never a forgery */
		uint8_t *m = malloc(n);
		memcpy(m, p, n);
		m[i] ^= 0x80;
		if (store_grant_decode(m, n, &d) == 0) {
			kbuf_reset(b2);
			ck_assert_int_eq(store_grant_encode(&d, b2), 0);
			ck_assert(kbuf_len(b2) == n &&
			    memcmp(kbuf_ptr(b2), m, n) == 0);
			store_grant_clear(&d);
		}
		free(m);
	}
	memset(&f, 0, sizeof(f));
	f.cred_id = id;
	f.cred_id_len = 3;
	f.account = (char *)"alice";
	f.cose_key = cose;
	f.cose_key_len = 2;
	f.sign_count = 7;
	kbuf_reset(b);
	ck_assert_int_eq(store_fido_encode(&f, b), 0);
	ck_assert_int_eq(store_fido_decode(kbuf_ptr(b), kbuf_len(b), &fd), 0);
	ck_assert_uint_eq(fd.sign_count, 7);
	ck_assert_str_eq(fd.account, "alice");
	store_fido_clear(&fd);
	ck_assert_int_eq(store_fido_decode(kbuf_ptr(b), kbuf_len(b) - 1, &fd),
	    KAGI_ERR_FORMAT);
	kbuf_free(b);
	kbuf_free(b2);
}
END_TEST

static Suite *
hr_suite(void)
{
	Suite *s = suite_create("hr");
	TCase *tc = tcase_create("feed");

	tcase_add_loop_test(tc, malformed_feed_refused, 0,
	    (int)(sizeof(bad_feeds) / sizeof(bad_feeds[0])));
	tcase_add_test(tc, dup_staff_no_names_first_line);
	tcase_add_test(tc, every_fault_listed);
	tcase_add_test(tc, bom_and_crlf_ok);
	tcase_add_test(tc, header_any_order);
	tcase_add_test(tc, dates_table);
	suite_add_tcase(s, tc);
	tc = tcase_create("plan");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, planner_10000_people);
	tcase_add_test(tc, apply_then_stale_and_edited);
	suite_add_tcase(s, tc);
	tc = tcase_create("priv");
	tcase_add_test(tc, window_edges);
	tcase_add_test(tc, approval_table);
	tcase_add_test(tc, priv_check_on_store);
	suite_add_tcase(s, tc);
	tc = tcase_create("sweep");
	tcase_add_test(tc, sweep_dormant_edge);
	tcase_add_test(tc, grant_fido_codec_mutation);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(hr_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
