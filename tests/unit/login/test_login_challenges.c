/*
 * The outstanding login challenges kept in kagid's memory
 * (login_challenges_*, server/login.c) and the bounded session sweep
 * (store_login_sweep with max > 0, store/challenges.c): single use, bound to
 * terminal and login, expiry, the size cap, two finishes racing for one
 * challenge, and a sweep whose cost does not grow with the database.
 */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kagi/err.h"
#include "kagi/store.h"
#include "login.h"

#define NOW 1800000000LL

static void
chal(struct store_challenge *c, const char *id, const char *login,
    const char *terminal, int64_t created, int64_t lifetime)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%s", id);
	memset(c->challenge, 0x5a, sizeof(c->challenge));
	c->login = strdup(login);
	c->terminal = strdup(terminal);
	c->zone = strdup("mynumber");
	c->created = created;
	c->expires = created + lifetime;
}

static const char ID1[] = "0123456789abcdef0123456789abcdef";
static const char ID2[] = "fedcba9876543210fedcba9876543210";

START_TEST(replayed_challenge_refused)
{
	struct login_challenges *t = NULL;
	struct store_challenge c, out;
	const char *why = NULL;

	ck_assert_int_eq(login_challenges_new(16, &t), 0);
	chal(&c, ID1, "yamada", "t-01", NOW, 120);
	ck_assert_int_eq(login_challenges_add(t, &c, NOW), 0);
	ck_assert_int_eq(login_challenges_take(t, ID1, "t-01", "yamada",
	    NOW + 5, &out, &why), 0);
	ck_assert_ptr_null(why);
	ck_assert_int_eq(memcmp(out.challenge, c.challenge, 32), 0);
	ck_assert_str_eq(out.login, "yamada");
	ck_assert_str_eq(out.zone, "mynumber");
	ck_assert_int_eq(out.used, 1);
	store_challenge_clear(&out);
	/* the second finish with the same challenge */
	ck_assert_int_eq(login_challenges_take(t, ID1, "t-01", "yamada",
	    NOW + 6, &out, &why), KAGI_ERR_EXPIRED);
	ck_assert_str_eq(why, "challenge_replayed");
	ck_assert_ptr_null(out.login);
	store_challenge_clear(&c);
	login_challenges_free(t);
}
END_TEST

START_TEST(other_terminal_or_login_refused_unspent)
{
	struct login_challenges *t = NULL;
	struct store_challenge c, out;
	const char *why = NULL;

	ck_assert_int_eq(login_challenges_new(16, &t), 0);
	chal(&c, ID1, "yamada", "t-01", NOW, 120);
	ck_assert_int_eq(login_challenges_add(t, &c, NOW), 0);
	ck_assert_int_eq(login_challenges_take(t, ID1, "t-02", "yamada",
	    NOW + 1, &out, &why), KAGI_ERR_DENIED);
	ck_assert_str_eq(why, "challenge_other_terminal");
	ck_assert_int_eq(login_challenges_take(t, ID1, "t-01", "suzuki",
	    NOW + 1, &out, &why), KAGI_ERR_DENIED);
	ck_assert_str_eq(why, "challenge_other_login");
	/* neither spent it: its own terminal and login still may */
	ck_assert_int_eq(login_challenges_take(t, ID1, "t-01", "yamada",
	    NOW + 2, &out, &why), 0);
	store_challenge_clear(&out);
	store_challenge_clear(&c);
	login_challenges_free(t);
}
END_TEST

START_TEST(expired_or_unknown_challenge_refused)
{
	struct login_challenges *t = NULL;
	struct store_challenge c, out;
	const char *why = NULL;

	ck_assert_int_eq(login_challenges_new(16, &t), 0);
	chal(&c, ID1, "yamada", "t-01", NOW, 120);
	ck_assert_int_eq(login_challenges_add(t, &c, NOW), 0);
	ck_assert_int_eq(login_challenges_take(t, ID1, "t-01", "yamada",
	    NOW + 120, &out, &why), KAGI_ERR_EXPIRED);
	ck_assert_str_eq(why, "challenge_expired");
	/* a clock that went back is not trusted either */
	ck_assert_int_eq(login_challenges_take(t, ID1, "t-01", "yamada",
	    NOW - 1, &out, &why), KAGI_ERR_EXPIRED);
	ck_assert_int_eq(login_challenges_take(t, ID2, "t-01", "yamada",
	    NOW + 1, &out, &why), KAGI_ERR_NOT_FOUND);
	ck_assert_str_eq(why, "challenge_unknown");
	ck_assert_int_eq(login_challenges_take(t, "not-an-id", "t-01",
	    "yamada", NOW + 1, &out, &why), KAGI_ERR_NOT_FOUND);
	/* a fresh table (kagid restarted) knows no challenge */
	login_challenges_free(t);
	t = NULL;
	ck_assert_int_eq(login_challenges_new(16, &t), 0);
	ck_assert_int_eq(login_challenges_take(t, ID1, "t-01", "yamada",
	    NOW + 1, &out, &why), KAGI_ERR_NOT_FOUND);
	store_challenge_clear(&c);
	login_challenges_free(t);
}
END_TEST

START_TEST(duplicate_or_malformed_challenge_refused)
{
	struct login_challenges *t = NULL;
	struct store_challenge c;

	ck_assert_int_eq(login_challenges_new(16, &t), 0);
	chal(&c, ID1, "yamada", "t-01", NOW, 120);
	ck_assert_int_eq(login_challenges_add(t, &c, NOW), 0);
	ck_assert_int_eq(login_challenges_add(t, &c, NOW), KAGI_ERR_CONFLICT);
	ck_assert_uint_eq(login_challenges_count(t), 1);
	c.used = 1;
	ck_assert_int_eq(login_challenges_add(t, &c, NOW), KAGI_ERR_INVALID);
	c.used = 0;
	memcpy(c.id, "0123456789ABCDEF0123456789abcdef", 33);
	ck_assert_int_eq(login_challenges_add(t, &c, NOW), KAGI_ERR_INVALID);
	ck_assert_int_eq(login_challenges_add(NULL, &c, NOW),
	    KAGI_ERR_INVALID);
	ck_assert_int_eq(login_challenges_new(0, NULL), KAGI_ERR_INVALID);
	store_challenge_clear(&c);
	login_challenges_free(t);
	login_challenges_free(NULL);
}
END_TEST

/* At the cap a begin is refused until held challenges expire. */
START_TEST(full_table_refused_until_expiry)
{
	struct login_challenges *t = NULL;
	struct store_challenge c;
	char id[40];
	int i;

	ck_assert_int_eq(login_challenges_new(100, &t), 0);
	for (i = 0; i < 100; i++) {
		snprintf(id, sizeof(id), "%08x%024x", (unsigned)i * 2654435761u,
		    (unsigned)i);
		chal(&c, id, "yamada", "t-01", NOW, 120);
		ck_assert_int_eq(login_challenges_add(t, &c, NOW + i % 3), 0);
		store_challenge_clear(&c);
	}
	chal(&c, ID2, "yamada", "t-01", NOW + 3, 120);
	ck_assert_int_eq(login_challenges_add(t, &c, NOW + 3), KAGI_ERR_LIMIT);
	ck_assert_uint_eq(login_challenges_count(t), 100);
	/* all of them expired: the full sweep makes room */
	store_challenge_clear(&c);
	chal(&c, ID2, "yamada", "t-01", NOW + 120, 120);
	ck_assert_int_eq(login_challenges_add(t, &c, NOW + 120), 0);
	ck_assert_uint_eq(login_challenges_count(t), 1);
	store_challenge_clear(&c);
	login_challenges_free(t);
}
END_TEST

struct race {
	struct login_challenges *t;
	pthread_barrier_t *go;
	int rc;
};

static void *
racer(void *arg)
{
	struct race *r = arg;
	struct store_challenge out;
	const char *why;

	pthread_barrier_wait(r->go);
	r->rc = login_challenges_take(r->t, ID1, "t-01", "yamada", NOW + 1,
	    &out, &why);
	store_challenge_clear(&out);
	return NULL;
}

/* Two finishes racing for one challenge: exactly one gets it. */
START_TEST(racing_finishes_one_wins)
{
	struct login_challenges *t = NULL;
	struct store_challenge c;
	pthread_barrier_t go;
	pthread_t th[8];
	struct race r[8];
	int i, won, round;

	for (round = 0; round < 50; round++) {
		ck_assert_int_eq(login_challenges_new(16, &t), 0);
		chal(&c, ID1, "yamada", "t-01", NOW, 120);
		ck_assert_int_eq(login_challenges_add(t, &c, NOW), 0);
		store_challenge_clear(&c);
		ck_assert_int_eq(pthread_barrier_init(&go, NULL, 8), 0);
		for (i = 0; i < 8; i++) {
			r[i].t = t;
			r[i].go = &go;
			r[i].rc = 1;
			ck_assert_int_eq(pthread_create(&th[i], NULL, racer,
			    &r[i]), 0);
		}
		for (won = 0, i = 0; i < 8; i++) {
			pthread_join(th[i], NULL);
			if (r[i].rc == 0)
				won++;
			else
				ck_assert_int_eq(r[i].rc, KAGI_ERR_EXPIRED);
		}
		ck_assert_int_eq(won, 1);
		pthread_barrier_destroy(&go);
		login_challenges_free(t);
		t = NULL;
	}
}
END_TEST

/* A bounded sweep looks at a few records per call, goes on where the last
 * one stopped and, call after call, removes every old session. */
START_TEST(bounded_sweep_visits_every_record)
{
	char dir[] = "/tmp/kagi-chal-XXXXXX", cmd[64];
	struct store *st = NULL;
	struct store_txn *t = NULL;
	struct store_session s;
	size_t removed = 0, total = 0;
	int64_t now = NOW + STORE_SESSION_KEEP + 10;
	int i, calls;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(store_open(dir, NULL, &st), 0);
	ck_assert_int_eq(store_txn_begin(st, 1, &t), 0);
	for (i = 0; i < 120; i++) {
		memset(&s, 0, sizeof(s));
		snprintf(s.id, sizeof(s.id), "%08x%024x",
		    (unsigned)i * 2654435761u, (unsigned)i);
		s.login = strdup("yamada");
		s.member = strdup("");
		s.terminal = strdup("t-01");
		s.zone = strdup("mynumber");
		/* one in four is recent and must stay */
		s.start = i % 4 == 0 ? now - 60 : NOW;
		ck_assert_int_eq(store_session_add(t, &s), 0);
		store_session_clear(&s);
	}
	for (calls = 0; calls < 200 && total < 90; calls++) {
		ck_assert_int_eq(store_login_sweep(t, now, 4, &removed), 0);
		ck_assert_uint_le(removed, 4);
		total += removed;
	}
	ck_assert_uint_eq(total, 90);
	/* 120 records, at most 16 looked at per call: a few rounds at most */
	ck_assert_int_le(calls, 40);
	/* nothing more is due; the recent ones are still there */
	ck_assert_int_eq(store_login_sweep(t, now, 0, &removed), 0);
	ck_assert_uint_eq(removed, 0);
	ck_assert_int_eq(store_login_sweep(t, now + STORE_SESSION_KEEP, 0,
	    &removed), 0);
	ck_assert_uint_eq(removed, 30);
	store_txn_abort(t);
	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("login_challenges");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, replayed_challenge_refused);
	tcase_add_test(tc, other_terminal_or_login_refused_unspent);
	tcase_add_test(tc, expired_or_unknown_challenge_refused);
	tcase_add_test(tc, duplicate_or_malformed_challenge_refused);
	tcase_add_test(tc, full_table_refused_until_expiry);
	tcase_add_test(tc, racing_finishes_one_wins);
	tcase_add_test(tc, bounded_sweep_visits_every_record);
	suite_add_tcase(s, tc);
	return s;
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
