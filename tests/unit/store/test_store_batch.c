/*
 * Group commit in the store (include/kagi/store.h "group commit",
 * docs/ARCHITECTURE.md "Group commit"; R-LOG-1): batch members are atomic
 * on their own, invisible and not durable until the batch commits, any other
 * writer commits the batch first, and the audit chain stays whole.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "kagi/store.h"
#include "store_int.h"

#define NOW 1700000000

struct cb_log {
	int calls;
	int result;
	size_t members;
};

static void
on_batch(int result, size_t members, void *arg)
{
	struct cb_log *l = arg;

	l->calls++;
	l->result = result;
	l->members = members;
}

static struct store *
open_rw(const char *dir)
{
	struct store *s = NULL;

	ck_assert_int_eq(store_open(dir, NULL, &s), 0);
	return s;
}

/* One member: a person and its audit record. */
static void
member_add(struct store *s, const char *staff_no)
{
	struct store_txn *t = NULL;
	struct store_person p;

	th_person(&p, staff_no);
	ck_assert_int_eq(store_batch_join(s, &t), 0);
	ck_assert_int_eq(store_person_add(t, &p), 0);
	ck_assert_int_eq(store_audit_append(t, NOW, "test", "person.add",
	    staff_no, "ok", "", NULL), 0);
	ck_assert_int_eq(store_txn_commit(t), 0);
	store_person_clear(&p);
}

static int
person_exists(struct store *s, const char *staff_no)
{
	struct store_txn *t = NULL;
	struct store_person p;
	int r;

	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	r = store_person_get(t, staff_no, &p);
	store_txn_abort(t);
	store_person_clear(&p);
	ck_assert(r == 0 || r == KAGI_ERR_NOT_FOUND);
	return r == 0;
}

static void
chain_ok(struct store *s, uint64_t want)
{
	struct store_txn *t = NULL;
	uint64_t count = 0, bad = 0;

	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	ck_assert_int_eq(store_audit_verify(t, &count, &bad), 0);
	ck_assert_uint_eq(count, want);
	store_txn_abort(t);
}

/* Members are not visible (nor durable) until the batch commits. */
START_TEST(invisible_until_batch_commit)
{
	char *dir = th_tmpdir();
	struct store *s = open_rw(dir);
	struct cb_log l = { 0, -1, 0 };

	store_batch_set_cb(s, on_batch, &l);
	member_add(s, "B001");
	member_add(s, "B002");
	ck_assert_uint_eq(store_batch_pending(s), 2);
	ck_assert(!person_exists(s, "B001"));
	ck_assert_int_eq(l.calls, 0);
	ck_assert_int_eq(store_batch_commit(s), 0);
	ck_assert_int_eq(l.calls, 1);
	ck_assert_int_eq(l.result, 0);
	ck_assert_uint_eq(l.members, 2);
	ck_assert_uint_eq(store_batch_pending(s), 0);
	ck_assert(person_exists(s, "B001") && person_exists(s, "B002"));
	chain_ok(s, 2);
	/* nothing pending: a commit is a no-op and calls nobody */
	ck_assert_int_eq(store_batch_commit(s), 0);
	ck_assert_int_eq(l.calls, 1);
	store_close(s);
	/* durable: still there after reopening */
	s = open_rw(dir);
	ck_assert(person_exists(s, "B002"));
	chain_ok(s, 2);
	store_close(s);
	th_tmpdir_rm(dir);
}
END_TEST

/* An aborted member takes only its own changes with it. */
START_TEST(aborted_member_only)
{
	char *dir = th_tmpdir();
	struct store *s = open_rw(dir);
	struct store_txn *t = NULL;
	struct store_person p;

	member_add(s, "A001");
	th_person(&p, "A002");
	ck_assert_int_eq(store_batch_join(s, &t), 0);
	ck_assert_int_eq(store_person_add(t, &p), 0);
	ck_assert_int_eq(store_audit_append(t, NOW, "test", "person.add",
	    "A002", "ok", "", NULL), 0);
	store_txn_abort(t);
	store_person_clear(&p);
	member_add(s, "A003");
	ck_assert_int_eq(store_batch_commit(s), 0);
	ck_assert(person_exists(s, "A001"));
	ck_assert(!person_exists(s, "A002"));
	ck_assert(person_exists(s, "A003"));
	/* seq 1, 2: the aborted member's audit record left no gap */
	chain_ok(s, 2);
	store_close(s);
	th_tmpdir_rm(dir);
}
END_TEST

/* A member that changed records without an audit record is refused. */
START_TEST(unaudited_member)
{
	char *dir = th_tmpdir();
	struct store *s = open_rw(dir);
	struct store_txn *t = NULL;
	struct store_person p;

	member_add(s, "U001");
	th_person(&p, "U002");
	ck_assert_int_eq(store_batch_join(s, &t), 0);
	ck_assert_int_eq(store_person_add(t, &p), 0);
	ck_assert_int_eq(store_txn_commit(t), KAGI_ERR_INTERNAL);
	store_person_clear(&p);
	ck_assert_int_eq(store_batch_commit(s), 0);
	ck_assert(person_exists(s, "U001"));
	ck_assert(!person_exists(s, "U002"));
	chain_ok(s, 1);
	store_close(s);
	th_tmpdir_rm(dir);
}
END_TEST

/* Another writer first commits the batch (and its callback runs). */
START_TEST(writer_commits_batch_first)
{
	char *dir = th_tmpdir();
	struct store *s = open_rw(dir);
	struct store_txn *t = NULL;
	struct cb_log l = { 0, -1, 0 };

	store_batch_set_cb(s, on_batch, &l);
	member_add(s, "W001");
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	ck_assert_int_eq(l.calls, 1);
	ck_assert_int_eq(l.result, 0);
	ck_assert_uint_eq(l.members, 1);
	ck_assert_uint_eq(store_batch_pending(s), 0);
	ck_assert_int_eq(store_audit_append(t, NOW, "test", "other", "", "ok",
	    "", NULL), 0);
	ck_assert_int_eq(store_txn_commit(t), 0);
	ck_assert(person_exists(s, "W001"));
	chain_ok(s, 2);
	/* and a new batch after that writer */
	member_add(s, "W002");
	ck_assert_int_eq(store_batch_commit(s), 0);
	ck_assert_int_eq(l.calls, 2);
	chain_ok(s, 3);
	store_close(s);
	th_tmpdir_rm(dir);
}
END_TEST

/* A writer while a member is open would deadlock: refused, not hung. */
START_TEST(writer_during_open_member)
{
	char *dir = th_tmpdir();
	struct store *s = open_rw(dir);
	struct store_txn *m = NULL, *t = NULL, *m2 = NULL;
	char bdir[600];

	ck_assert_int_eq(store_batch_join(s, &m), 0);
	ck_assert_int_eq(store_txn_begin(s, 1, &t), KAGI_ERR_INTERNAL);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(store_batch_join(s, &m2), KAGI_ERR_INTERNAL);
	ck_assert_ptr_null(m2);
	ck_assert_int_eq(store_batch_commit(s), KAGI_ERR_INTERNAL);
	snprintf(bdir, sizeof(bdir), "%s/backup", dir);
	ck_assert_int_eq(store_backup(s, bdir), KAGI_ERR_INTERNAL);
	/* readers are not affected */
	ck_assert(!person_exists(s, "X"));
	store_txn_abort(m);
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	store_txn_abort(t);
	store_close(s);
	th_tmpdir_rm(dir);
}
END_TEST

/* Closing with a pending batch aborts it: nothing half-written. */
START_TEST(close_aborts_pending_batch)
{
	char *dir = th_tmpdir();
	struct store *s = open_rw(dir);
	struct cb_log l = { 0, -1, 0 };

	store_batch_set_cb(s, on_batch, &l);
	member_add(s, "C001");
	store_close(s);
	ck_assert_int_eq(l.calls, 0);
	s = open_rw(dir);
	ck_assert(!person_exists(s, "C001"));
	chain_ok(s, 0);
	store_close(s);
	th_tmpdir_rm(dir);
}
END_TEST

/* Many members in one batch: one chain, every record there. */
START_TEST(many_members_one_chain)
{
	char *dir = th_tmpdir();
	struct store *s = open_rw(dir);
	char no[16];

	for (int i = 0; i < 200; i++) {
		snprintf(no, sizeof(no), "M%04d", i);
		member_add(s, no);
	}
	ck_assert_uint_eq(store_batch_pending(s), 200);
	ck_assert_int_eq(store_batch_commit(s), 0);
	for (int i = 0; i < 200; i += 37) {
		snprintf(no, sizeof(no), "M%04d", i);
		ck_assert(person_exists(s, no));
	}
	chain_ok(s, 200);
	store_close(s);
	th_tmpdir_rm(dir);
}
END_TEST

START_TEST(batch_on_read_only_store)
{
	char *dir = th_tmpdir();
	struct store *s = open_rw(dir);
	struct store_opts o = { 0, 1 };
	struct store_txn *t = NULL;

	store_close(s);
	s = NULL;
	ck_assert_int_eq(store_open(dir, &o, &s), 0);
	ck_assert_int_eq(store_batch_join(s, &t), KAGI_ERR_INVALID);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(store_batch_join(NULL, &t), KAGI_ERR_INVALID);
	ck_assert_int_eq(store_batch_commit(NULL), KAGI_ERR_INVALID);
	store_close(s);
	th_tmpdir_rm(dir);
}
END_TEST

static Suite *
suite(void)
{
	Suite *su = suite_create("store_batch");
	TCase *tc = tcase_create("batch");

	tcase_add_test(tc, invisible_until_batch_commit);
	tcase_add_test(tc, aborted_member_only);
	tcase_add_test(tc, unaudited_member);
	tcase_add_test(tc, writer_commits_batch_first);
	tcase_add_test(tc, writer_during_open_member);
	tcase_add_test(tc, close_aborts_pending_batch);
	tcase_add_test(tc, many_members_one_chain);
	tcase_add_test(tc, batch_on_read_only_store);
	suite_add_tcase(su, tc);
	return su;
}

int
main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
