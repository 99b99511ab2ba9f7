/*
 * store environment, records and the audit chain against a real LMDB
 * environment in a private directory (R-LOG-1..5, R-BAK-1).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "kagi/kbuf.h"
#include "kagi/store.h"
#include "store_int.h"

#define NOW 1700000000

static struct store *
open_rw(const char *dir)
{
	struct store *s = NULL;

	ck_assert_int_eq(store_open(dir, NULL, &s), 0);
	ck_assert_ptr_nonnull(s);
	return s;
}

/* Append n audit records, one transaction each, detail carrying a marker. */
static void
append_n(struct store *s, uint64_t n)
{
	struct store_txn *t;
	char detail[64];
	uint64_t i, seq, head;
	uint8_t h[STORE_HASH_LEN];

	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	ck_assert_int_eq(store_audit_head(t, &head, h), 0);
	store_txn_abort(t);
	for (i = 1; i <= n; i++) {
		snprintf(detail, sizeof(detail), "{\"m\":\"MARK-%05llu\"}",
		    (unsigned long long)(head + i));
		ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
		ck_assert_int_eq(store_audit_append(t, NOW + (int64_t)i,
		    "uid:1000(alice)", "test.event", "obj", "ok", detail,
		    &seq), 0);
		ck_assert_uint_eq(seq, head + i);
		ck_assert_int_eq(store_txn_commit(t), 0);
	}
}

static int
verify(struct store *s, uint64_t *count, uint64_t *bad)
{
	struct store_txn *t;
	int r;

	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	r = store_audit_verify(t, count, bad);
	store_txn_abort(t);
	return r;
}

static char *
data_file(const char *dir)
{
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s/data.mdb", dir), 0);
	return p;
}

START_TEST(open_creates_dir)
{
	char *base = th_tmpdir(), *dir;
	struct store *s;
	struct store_txn *t;
	struct store_stats st;
	struct stat sb;

	ck_assert_int_ge(asprintf(&dir, "%s/db", base), 0);
	s = open_rw(dir);
	ck_assert_int_eq(stat(dir, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 0777, 0700);
	ck_assert_uint_eq(store_schema_version(s), STORE_SCHEMA_VERSION);
	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	ck_assert_int_eq(store_stats_get(t, &st), 0);
	ck_assert_uint_eq(st.schema, STORE_SCHEMA_VERSION);
	ck_assert_uint_eq(st.persons, 0);
	ck_assert_uint_eq(st.audit_records, 0);
	ck_assert_uint_eq(st.map_size, (size_t)1 << 30);
	ck_assert_uint_gt(st.map_used, 0);
	store_txn_abort(t);
	store_close(s);
	/* Reopen: the schema is read back, not rewritten. */
	s = open_rw(dir);
	ck_assert_uint_eq(store_schema_version(s), STORE_SCHEMA_VERSION);
	store_close(s);
	free(dir);
	th_tmpdir_rm(base);
}
END_TEST

START_TEST(read_only_never_creates)
{
	char *base = th_tmpdir(), *dir;
	struct store *s = NULL;
	struct store_txn *t = NULL;
	struct store_opts ro = { 0, 1 };
	struct stat sb;

	ck_assert_int_ge(asprintf(&dir, "%s/none", base), 0);
	ck_assert_int_eq(store_open(dir, &ro, &s), KAGI_ERR_NOT_FOUND);
	ck_assert_ptr_null(s);
	ck_assert_int_ne(stat(dir, &sb), 0);
	/* An empty directory is not a store either. */
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_ne(store_open(dir, &ro, &s), 0);
	ck_assert_ptr_null(s);
	rmdir(dir);
	s = open_rw(dir);
	append_n(s, 2);
	store_close(s);
	ck_assert_int_eq(store_open(dir, &ro, &s), 0);
	ck_assert_int_eq(store_txn_begin(s, 1, &t), KAGI_ERR_INVALID);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	{
		uint64_t n, bad;

		ck_assert_int_eq(store_audit_verify(t, &n, &bad), 0);
		ck_assert_uint_eq(n, 2);
	}
	store_txn_abort(t);
	store_close(s);
	free(dir);
	th_tmpdir_rm(base);
}
END_TEST

START_TEST(schema_newer_refused)
{
	char *dir = th_tmpdir();
	struct store *s = open_rw(dir);

	ck_assert_int_eq(store_test_set_schema(s, STORE_SCHEMA_VERSION + 1), 0);
	store_close(s);
	s = NULL;
	ck_assert_int_eq(store_open(dir, NULL, &s), KAGI_ERR_VERSION);
	ck_assert_ptr_null(s);
	{
		struct store_opts ro = { 0, 1 };

		ck_assert_int_eq(store_open(dir, &ro, &s), KAGI_ERR_VERSION);
	}
	/* The current version opens again. */
	th_tmpdir_rm(dir);
	dir = th_tmpdir();
	s = open_rw(dir);
	ck_assert_int_eq(store_test_set_schema(s, STORE_SCHEMA_VERSION), 0);
	store_close(s);
	s = open_rw(dir);
	store_close(s);
	th_tmpdir_rm(dir);
}
END_TEST

START_TEST(junk_schema_refused)
{
	char *dir = th_tmpdir();
	struct store *s = open_rw(dir);
	static const uint8_t junk[] = { 1, 0, 0 };

	ck_assert_int_eq(store_test_raw_put(s, "meta", "schema", 6, junk,
	    sizeof(junk)), 0);
	store_close(s);
	s = NULL;
	ck_assert_int_eq(store_open(dir, NULL, &s), KAGI_ERR_CORRUPT);
	ck_assert_ptr_null(s);
	th_tmpdir_rm(dir);
}
END_TEST

START_TEST(person_put_get)
{
	char *dir = th_tmpdir();
	struct store *s = open_rw(dir);
	struct store_txn *t;
	struct store_person p, g;

	th_person(&p, "A-10234");
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	ck_assert_int_eq(store_person_add(t, &p), 0);
	ck_assert_int_eq(store_person_add(t, &p), KAGI_ERR_EXISTS);
	ck_assert_int_eq(store_audit_append(t, NOW, "kagid", "person.add",
	    p.staff_no, "ok", "", NULL), 0);
	ck_assert_int_eq(store_txn_commit(t), 0);

	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	ck_assert_int_eq(store_person_get(t, "A-10234", &g), 0);
	ck_assert(th_person_eq(&p, &g));
	store_person_clear(&g);
	ck_assert_int_eq(store_person_get(t, "B-1", &g), KAGI_ERR_NOT_FOUND);
	ck_assert_int_eq(store_person_get(t, "bad/key", &g), KAGI_ERR_INVALID);
	store_txn_abort(t);

	/* put replaces; del removes; a second del finds nothing. */
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	free(p.hr_status);
	p.hr_status = strdup("retired");
	ck_assert_int_eq(store_person_put(t, &p), 0);
	ck_assert_int_eq(store_person_get(t, "A-10234", &g), 0);
	ck_assert_str_eq(g.hr_status, "retired");
	store_person_clear(&g);
	ck_assert_int_eq(store_person_del(t, "A-10234"), 0);
	ck_assert_int_eq(store_person_del(t, "A-10234"), KAGI_ERR_NOT_FOUND);
	ck_assert_int_eq(store_audit_append(t, NOW, "kagid", "person.del",
	    p.staff_no, "ok", "", NULL), 0);
	ck_assert_int_eq(store_txn_commit(t), 0);
	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	ck_assert_int_eq(store_person_get(t, "A-10234", &g), KAGI_ERR_NOT_FOUND);
	store_txn_abort(t);
	store_person_clear(&p);
	store_close(s);
	th_tmpdir_rm(dir);
}
END_TEST

static int
count_acct(const struct store_account *a, void *arg)
{
	(void)a;
	(*(int *)arg)++;
	return 0;
}

static int
stop_at_two(const struct store_account *a, void *arg)
{
	(void)a;
	return ++(*(int *)arg) == 2 ? 1 : 0;
}

static int
count_person(const struct store_person *p, void *arg)
{
	(void)p;
	(*(int *)arg)++;
	return 0;
}

START_TEST(account_put_get)
{
	char *dir = th_tmpdir();
	struct store *s = open_rw(dir);
	struct store_txn *t;
	struct store_account a, g;
	struct store_person p;
	struct store_stats st;
	char login[32];
	int i, n;

	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	for (i = 0; i < 5; i++) {
		snprintf(login, sizeof(login), "user%d", i);
		th_account(&a, login, (uint32_t)(i == 0 ? STORE_PW_HISTORY_MAX : i));
		ck_assert_int_eq(store_account_add(t, &a), 0);
		store_account_clear(&a);
	}
	th_person(&p, "P-1");
	ck_assert_int_eq(store_person_put(t, &p), 0);
	store_person_clear(&p);
	ck_assert_int_eq(store_audit_append(t, NOW, "kagid", "user.add",
	    "user0", "ok", "{}", NULL), 0);
	ck_assert_int_eq(store_txn_commit(t), 0);

	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	th_account(&a, "user0", STORE_PW_HISTORY_MAX);
	ck_assert_int_eq(store_account_get(t, "user0", &g), 0);
	ck_assert(th_account_eq(&a, &g));
	ck_assert_uint_eq(g.pw_history_n, STORE_PW_HISTORY_MAX);
	store_account_clear(&g);
	store_account_clear(&a);
	ck_assert_int_eq(store_account_get(t, "nobody", &g), KAGI_ERR_NOT_FOUND);
	n = 0;
	ck_assert_int_eq(store_account_iter(t, count_acct, &n), 0);
	ck_assert_int_eq(n, 5);
	n = 0;
	ck_assert_int_eq(store_account_iter(t, stop_at_two, &n), 0);
	ck_assert_int_eq(n, 2);
	n = 0;
	ck_assert_int_eq(store_person_iter(t, count_person, &n), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(store_stats_get(t, &st), 0);
	ck_assert_uint_eq(st.accounts, 5);
	ck_assert_uint_eq(st.persons, 1);
	ck_assert_uint_eq(st.audit_records, 1);
	/* Writes in a read transaction are refused. */
	th_account(&a, "user9", 0);
	ck_assert_int_eq(store_account_put(t, &a), KAGI_ERR_INVALID);
	ck_assert_int_eq(store_audit_append(t, NOW, "kagid", "x", "", "ok",
	    "", NULL), KAGI_ERR_INVALID);
	store_account_clear(&a);
	store_txn_abort(t);
	store_close(s);
	th_tmpdir_rm(dir);
}
END_TEST

START_TEST(unaudited_commit_refused)
{
	char *dir = th_tmpdir();
	struct store *s = open_rw(dir);
	struct store_txn *t;
	struct store_account a, g;

	th_account(&a, "hanako", 1);
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	ck_assert_int_eq(store_account_put(t, &a), 0);
	ck_assert_int_eq(store_txn_commit(t), KAGI_ERR_INTERNAL);
	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	ck_assert_int_eq(store_account_get(t, "hanako", &g), KAGI_ERR_NOT_FOUND);
	store_txn_abort(t);
	/* A delete is a change too. */
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	ck_assert_int_eq(store_account_put(t, &a), 0);
	ck_assert_int_eq(store_audit_append(t, NOW, "kagid", "user.add",
	    "hanako", "ok", "", NULL), 0);
	ck_assert_int_eq(store_txn_commit(t), 0);
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	ck_assert_int_eq(store_account_del(t, "hanako"), 0);
	ck_assert_int_eq(store_txn_commit(t), KAGI_ERR_INTERNAL);
	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	ck_assert_int_eq(store_account_get(t, "hanako", &g), 0);
	store_account_clear(&g);
	store_txn_abort(t);
	/* A write transaction that changed nothing commits without audit. */
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	ck_assert_int_eq(store_account_add(t, &a), KAGI_ERR_EXISTS);
	ck_assert_int_eq(store_txn_commit(t), 0);
	store_account_clear(&a);
	store_close(s);
	th_tmpdir_rm(dir);
}
END_TEST

START_TEST(junk_record)
{
	char *dir = th_tmpdir();
	struct store *s = open_rw(dir);
	struct store_txn *t;
	struct store_account a, g;
	struct kbuf *b = kbuf_new(STORE_VALUE_MAX);
	static const uint8_t junk[] = { 1, 0, 0, 0, 9, 'x' };
	int n = 0;

	/* A valid account record filed under another login. */
	th_account(&a, "hanako", 0);
	ck_assert_int_eq(store_account_encode(&a, b), 0);
	ck_assert_int_eq(store_test_raw_put(s, "accounts", "taro", 4,
	    kbuf_ptr(b), kbuf_len(b)), 0);
	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	ck_assert_int_eq(store_account_get(t, "taro", &g), KAGI_ERR_CORRUPT);
	ck_assert_int_eq(store_account_iter(t, count_acct, &n), KAGI_ERR_CORRUPT);
	store_txn_abort(t);
	/* Bytes that do not decode. */
	ck_assert_int_eq(store_test_raw_put(s, "accounts", "taro", 4, junk,
	    sizeof(junk)), 0);
	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	ck_assert_int_eq(store_account_get(t, "taro", &g), KAGI_ERR_CORRUPT);
	store_txn_abort(t);
	store_account_clear(&a);
	kbuf_free(b);
	store_close(s);
	th_tmpdir_rm(dir);
}
END_TEST

struct chain_walk {
	uint64_t n, first;
	uint8_t prev[STORE_HASH_LEN];
};

static int
walk_cb(const struct store_audit *rec, const uint8_t hash[STORE_HASH_LEN],
    void *arg)
{
	struct chain_walk *w = arg;

	if (w->n == 0)
		w->first = rec->seq;
	else if (memcmp(rec->prev, w->prev, STORE_HASH_LEN) != 0)
		return -100;
	memcpy(w->prev, hash, STORE_HASH_LEN);
	w->n++;
	return 0;
}

START_TEST(audit_chain)
{
	char *dir = th_tmpdir();
	struct store *s = open_rw(dir);
	struct store_txn *t;
	struct store_audit a;
	struct chain_walk w;
	uint8_t zero[STORE_HASH_LEN], h[STORE_HASH_LEN];
	uint64_t n, bad, seq, i;

	memset(zero, 0, sizeof(zero));
	ck_assert_int_eq(verify(s, &n, &bad), 0);
	ck_assert_uint_eq(n, 0);
	append_n(s, 20);
	/* 80 more, 40 per transaction. */
	for (i = 0; i < 2; i++) {
		int j;

		ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
		for (j = 0; j < 40; j++)
			ck_assert_int_eq(store_audit_append(t, NOW, "kagid",
			    "bulk", "", "ok", NULL, &seq), 0);
		ck_assert_int_eq(store_txn_commit(t), 0);
	}
	ck_assert_uint_eq(seq, 100);
	ck_assert_int_eq(verify(s, &n, &bad), 0);
	ck_assert_uint_eq(n, 100);

	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	ck_assert_int_eq(store_audit_get(t, 1, &a), 0);
	ck_assert_uint_eq(a.seq, 1);
	ck_assert(memcmp(a.prev, zero, STORE_HASH_LEN) == 0);
	ck_assert_str_eq(a.detail, "{\"m\":\"MARK-00001\"}");
	store_audit_clear(&a);
	ck_assert_int_eq(store_audit_get(t, 21, &a), 0);
	ck_assert_str_eq(a.action, "bulk");
	ck_assert_str_eq(a.detail, "");
	store_audit_clear(&a);
	ck_assert_int_eq(store_audit_get(t, 101, &a), KAGI_ERR_NOT_FOUND);
	ck_assert_int_eq(store_audit_head(t, &seq, h), 0);
	ck_assert_uint_eq(seq, 100);
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(store_audit_iter(t, 0, walk_cb, &w), 0);
	ck_assert_uint_eq(w.n, 100);
	ck_assert(memcmp(w.prev, h, STORE_HASH_LEN) == 0);
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(store_audit_iter(t, 51, walk_cb, &w), 0);
	ck_assert_uint_eq(w.n, 50);
	ck_assert_uint_eq(w.first, 51);
	store_txn_abort(t);
	/* Refused strings leave the chain as it was. */
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	ck_assert_int_eq(store_audit_append(t, NOW, "", "x", "", "ok", "",
	    &seq), KAGI_ERR_INVALID);
	ck_assert_uint_eq(seq, 0);
	store_txn_abort(t);
	ck_assert_int_eq(verify(s, &n, &bad), 0);
	ck_assert_uint_eq(n, 100);
	store_close(s);
	th_tmpdir_rm(dir);
}
END_TEST

/*
 * Tamper with the file itself: flip one byte inside the detail marker of
 * record k (every copy LMDB left in the file), reopen, and verify must name
 * k.  Done for the first, a middle and the last record.
 */
START_TEST(flip_one_byte_names_seq)
{
	static const uint64_t ks[] = { 1, 5, 10 };
	uint64_t k = ks[_i], n, bad;
	char *dir = th_tmpdir(), *file = data_file(dir), marker[32];
	struct store *s = open_rw(dir);

	append_n(s, 10);
	store_close(s);
	snprintf(marker, sizeof(marker), "MARK-%05llu", (unsigned long long)k);
	ck_assert_uint_ge(th_patch_all(file, marker, strlen(marker), 0, 0x01),
	    1);
	s = open_rw(dir);
	ck_assert_int_eq(verify(s, &n, &bad), KAGI_ERR_CORRUPT);
	ck_assert_uint_eq(bad, k);
	store_close(s);
	free(file);
	th_tmpdir_rm(dir);
}
END_TEST

/* Flip a byte in record k's prev field (found as the hash of k-1). */
START_TEST(prev_field_flipped_names_seq)
{
	static const uint64_t ks[] = { 2, 5, 10 };
	uint64_t k = ks[_i], n, bad;
	char *dir = th_tmpdir(), *file = data_file(dir);
	struct store *s = open_rw(dir);
	struct store_txn *t;
	struct store_audit a;
	uint8_t prev[STORE_HASH_LEN];

	append_n(s, 10);
	/* Record k's prev is H(k-1); find those 32 bytes in the file. */
	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	ck_assert_int_eq(store_audit_get(t, k, &a), 0);
	memcpy(prev, a.prev, STORE_HASH_LEN);
	store_audit_clear(&a);
	store_txn_abort(t);
	store_close(s);
	ck_assert_uint_ge(th_patch_all(file, prev, STORE_HASH_LEN, 7, 0x80),
	    1);
	s = open_rw(dir);
	ck_assert_int_eq(verify(s, &n, &bad), KAGI_ERR_CORRUPT);
	ck_assert_uint_eq(bad, k);
	store_close(s);
	free(file);
	th_tmpdir_rm(dir);
}
END_TEST

START_TEST(deleted_record_detected)
{
	static const uint64_t ks[] = { 1, 4, 9 };
	uint64_t k = ks[_i], n, bad;
	char *dir = th_tmpdir();
	struct store *s = open_rw(dir);
	struct store_txn *t;

	append_n(s, 10);
	ck_assert_int_eq(store_test_audit_del(s, k), 0);
	ck_assert_int_eq(verify(s, &n, &bad), KAGI_ERR_CORRUPT);
	ck_assert_uint_eq(bad, k);
	ck_assert_uint_eq(n, k - 1);
	/* Appending onto a damaged chain still works, but verify still fails. */
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	ck_assert_int_eq(store_audit_append(t, NOW, "kagid", "x", "", "ok", "",
	    NULL), 0);
	ck_assert_int_eq(store_txn_commit(t), 0);
	ck_assert_int_eq(verify(s, &n, &bad), KAGI_ERR_CORRUPT);
	ck_assert_uint_eq(bad, k);
	store_close(s);
	th_tmpdir_rm(dir);
}
END_TEST

START_TEST(deleted_last_record_detected)
{
	uint64_t n, bad;
	char *dir = th_tmpdir();
	struct store *s = open_rw(dir);

	append_n(s, 10);
	ck_assert_int_eq(store_test_audit_del(s, 10), 0);
	ck_assert_int_eq(verify(s, &n, &bad), KAGI_ERR_CORRUPT);
	ck_assert_uint_eq(bad, 10);
	ck_assert_uint_eq(n, 9);
	/* The only record deleted: seq 1 is missing. */
	store_close(s);
	th_tmpdir_rm(dir);
	dir = th_tmpdir();
	s = open_rw(dir);
	append_n(s, 1);
	ck_assert_int_eq(store_test_audit_del(s, 1), 0);
	ck_assert_int_eq(verify(s, &n, &bad), KAGI_ERR_CORRUPT);
	ck_assert_uint_eq(bad, 1);
	store_close(s);
	th_tmpdir_rm(dir);
}
END_TEST

/* A forged record appended past the head, and a head rolled back. */
START_TEST(head_mismatch_detected)
{
	uint64_t n, bad;
	char *dir = th_tmpdir();
	struct store *s = open_rw(dir);
	struct store_txn *t;
	struct store_audit a;
	struct kbuf *b = kbuf_new(STORE_VALUE_MAX);
	uint8_t key[8] = { 0, 0, 0, 0, 0, 0, 0, 6 };

	append_n(s, 5);
	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	th_audit(&a, 6);
	ck_assert_int_eq(store_audit_head(t, &n, a.prev), 0);
	store_txn_abort(t);
	ck_assert_int_eq(store_audit_encode(&a, b), 0);
	ck_assert_int_eq(store_test_raw_put(s, "audit", key, 8, kbuf_ptr(b),
	    kbuf_len(b)), 0);
	ck_assert_int_eq(verify(s, &n, &bad), KAGI_ERR_CORRUPT);
	ck_assert_uint_eq(bad, 6);
	/* Appending refuses to overwrite what is past the head. */
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	ck_assert_int_eq(store_audit_append(t, NOW, "kagid", "x", "", "ok", "",
	    NULL), KAGI_ERR_CORRUPT);
	store_txn_abort(t);
	store_audit_clear(&a);
	kbuf_free(b);
	store_close(s);
	th_tmpdir_rm(dir);
}
END_TEST

START_TEST(backup_copy)
{
	char *dir = th_tmpdir(), *bk = th_tmpdir(), *sub;
	struct store *s = open_rw(dir), *c;
	struct store_txn *t;
	struct store_account a, g;
	uint64_t n, bad;
	FILE *f;

	th_account(&a, "hanako", 2);
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	ck_assert_int_eq(store_account_put(t, &a), 0);
	ck_assert_int_eq(store_audit_append(t, NOW, "kagid", "user.add",
	    "hanako", "ok", "", NULL), 0);
	ck_assert_int_eq(store_txn_commit(t), 0);
	append_n(s, 5);
	ck_assert_int_ge(asprintf(&sub, "%s/copy", bk), 0);
	ck_assert_int_eq(store_backup(s, sub), 0);
	/* Not into a non-empty directory. */
	ck_assert_int_eq(store_backup(s, sub), KAGI_ERR_EXISTS);
	c = open_rw(sub);
	ck_assert_int_eq(verify(c, &n, &bad), 0);
	ck_assert_uint_eq(n, 6);
	ck_assert_int_eq(store_txn_begin(c, 0, &t), 0);
	ck_assert_int_eq(store_account_get(t, "hanako", &g), 0);
	ck_assert(th_account_eq(&a, &g));
	store_account_clear(&g);
	store_txn_abort(t);
	store_close(c);
	free(sub);
	ck_assert_int_ge(asprintf(&sub, "%s/other", bk), 0);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	free(sub);
	ck_assert_int_ge(asprintf(&sub, "%s/other/x", bk), 0);
	f = fopen(sub, "w");
	fclose(f);
	free(sub);
	ck_assert_int_ge(asprintf(&sub, "%s/other", bk), 0);
	ck_assert_int_eq(store_backup(s, sub), KAGI_ERR_EXISTS);
	free(sub);
	store_account_clear(&a);
	store_close(s);
	th_tmpdir_rm(dir);
	th_tmpdir_rm(bk);
}
END_TEST

START_TEST(map_full_limit)
{
	char *dir = th_tmpdir();
	struct store *s = NULL;
	struct store_opts o = { 256 * 1024, 0 };
	struct store_txn *t;
	struct store_account a;
	char login[32];
	int i, r = 0;

	ck_assert_int_eq(store_open(dir, &o, &s), 0);
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	for (i = 0; i < 100000 && r == 0; i++) {
		snprintf(login, sizeof(login), "u%06d", i);
		th_account(&a, login, STORE_PW_HISTORY_MAX);
		r = store_account_put(t, &a);
		store_account_clear(&a);
	}
	ck_assert_int_eq(r, KAGI_ERR_LIMIT);
	store_txn_abort(t);
	/* The store still works after the failed transaction. */
	append_n(s, 1);
	store_close(s);
	th_tmpdir_rm(dir);
}
END_TEST

static Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("env");
	TCase *ta = tcase_create("audit");

	tcase_add_test(tc, open_creates_dir);
	tcase_add_test(tc, read_only_never_creates);
	tcase_add_test(tc, schema_newer_refused);
	tcase_add_test(tc, junk_schema_refused);
	tcase_add_test(tc, person_put_get);
	tcase_add_test(tc, account_put_get);
	tcase_add_test(tc, unaudited_commit_refused);
	tcase_add_test(tc, junk_record);
	tcase_add_test(tc, backup_copy);
	tcase_add_test(tc, map_full_limit);
	suite_add_tcase(s, tc);
	tcase_add_test(ta, audit_chain);
	tcase_add_loop_test(ta, flip_one_byte_names_seq, 0, 3);
	tcase_add_loop_test(ta, prev_field_flipped_names_seq, 0, 3);
	tcase_add_loop_test(ta, deleted_record_detected, 0, 3);
	tcase_add_test(ta, deleted_last_record_detected);
	tcase_add_test(ta, head_mismatch_detected);
	suite_add_tcase(s, ta);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(store_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
