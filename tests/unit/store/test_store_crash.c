/*
 * Crash safety: a writer process commits transactions (an account and its
 * audit record each) in a loop and is killed with SIGKILL at a random
 * moment; the store must then open, the audit chain must verify, every
 * account must have its audit record (a change and its audit are one
 * transaction), and every commit the writer reported must be there
 * (durability).  Repeated CRASH_ROUNDS times on the same store.
 * Reproduce a run with KAGI_CRASH_SEED=<seed printed on failure>.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "kagi/store.h"

#define CRASH_ROUNDS 60
#define READY UINT32_MAX /* the writer has opened the store */

/* Child: commit forever, reporting each committed index on fd. */
static void __attribute__((noreturn))
writer(const char *dir, int round, int fd)
{
	struct store *s = NULL;
	struct store_txn *t = NULL;
	struct store_account a;
	char login[32];
	uint32_t i;

	if (store_open(dir, NULL, &s) != 0)
		_exit(2);
	i = READY;
	if (write(fd, &i, sizeof(i)) != (ssize_t)sizeof(i))
		_exit(4);
	for (i = 0;; i++) {
		snprintf(login, sizeof(login), "r%02d-%06u", round, i);
		th_account(&a, login, i % (STORE_PW_HISTORY_MAX + 1));
		if (store_txn_begin(s, 1, &t) != 0 ||
		    store_account_put(t, &a) != 0 ||
		    store_audit_append(t, (int64_t)i, "test", "account.put",
		    login, "ok", "", NULL) != 0 ||
		    store_txn_commit(t) != 0)
			_exit(3);
		store_account_clear(&a);
		if (write(fd, &i, sizeof(i)) != (ssize_t)sizeof(i))
			_exit(4);
	}
}

struct objs {
	char **v;
	size_t n, cap;
};

static int
collect_obj(const struct store_audit *rec, const uint8_t hash[STORE_HASH_LEN],
    void *arg)
{
	struct objs *o = arg;

	(void)hash;
	if (strcmp(rec->action, "account.put") != 0)
		return 0;
	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 256;
		o->v = realloc(o->v, o->cap * sizeof(*o->v));
		ck_assert_ptr_nonnull(o->v);
	}
	o->v[o->n++] = strdup(rec->object);
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct acct_check {
	struct objs *audited;
	size_t accounts;
	int missing;
};

static int
check_acct(const struct store_account *a, void *arg)
{
	struct acct_check *c = arg;
	const char *key = a->login;

	c->accounts++;
	if (c->audited->n == 0 || bsearch(&key, c->audited->v, c->audited->n, sizeof(char *),
	    cmp_str) == NULL) {
		fprintf(stderr, "account %s has no audit record\n", a->login);
		c->missing++;
	}
	return 0;
}

START_TEST(crash_loop)
{
	char *dir = th_tmpdir();
	struct store *s = NULL;
	const char *env = getenv("KAGI_CRASH_SEED");
	unsigned int seed = env ? (unsigned int)strtoul(env, NULL, 10) :
	    (unsigned int)time(NULL) ^ (unsigned int)getpid();
	int round, fds[2], status;
	size_t total_reported = 0;

	fprintf(stderr, "crash_loop: KAGI_CRASH_SEED=%u\n", seed);
	srand(seed);
	ck_assert_int_eq(store_open(dir, NULL, &s), 0);
	store_close(s);
	for (round = 0; round < CRASH_ROUNDS; round++) {
		struct store_txn *t;
		struct objs o = { NULL, 0, 0 };
		struct acct_check c = { &o, 0, 0 };
		struct store_account a;
		uint64_t n, bad;
		uint32_t idx, last = 0;
		int got = 0;
		char login[32];
		pid_t pid;
		size_t i;

		ck_assert_int_eq(pipe(fds), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(fds[0]);
			writer(dir, round, fds[1]);
		}
		close(fds[1]);
		if (round % 10 == 9) {
			/* Now and then, a kill while the writer opens. */
			usleep((useconds_t)(rand() % 20000));
		} else {
			/*
			 * Otherwise wait until it has opened the store (the
			 * open costs several fsyncs), then 0..80 ms: several
			 * commits, killed mostly in the middle of one.
			 */
			struct pollfd pfd = { fds[0], POLLIN, 0 };

			ck_assert_msg(poll(&pfd, 1, 20000) == 1,
			    "round %d: writer never opened the store", round);
			ck_assert_int_eq(read(fds[0], &idx, sizeof(idx)),
			    sizeof(idx));
			ck_assert_uint_eq(idx, READY);
			usleep((useconds_t)(rand() % 80000));
		}
		ck_assert_int_eq(kill(pid, SIGKILL), 0);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFSIGNALED(status),
		    "round %d: writer exited early (status %d)", round,
		    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		while (read(fds[0], &idx, sizeof(idx)) == (ssize_t)sizeof(idx)) {
			if (idx == READY)
				continue;
			last = idx;
			got++;
		}
		close(fds[0]);
		total_reported += (size_t)got;

		ck_assert_int_eq(store_open(dir, NULL, &s), 0);
		ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
		ck_assert_msg(store_audit_verify(t, &n, &bad) == 0,
		    "round %d: audit chain broken at %llu (seed %u)", round,
		    (unsigned long long)bad, seed);
		ck_assert_int_eq(store_audit_iter(t, 1, collect_obj, &o), 0);
		ck_assert_uint_eq(o.n, n);
		if (o.n > 0)
			qsort(o.v, o.n, sizeof(char *), cmp_str);
		ck_assert_int_eq(store_account_iter(t, check_acct, &c), 0);
		ck_assert_msg(c.missing == 0, "round %d: %d accounts without "
		    "audit (seed %u)", round, c.missing, seed);
		/* One account per audit record, and no audit without one. */
		ck_assert_uint_eq(c.accounts, o.n);
		if (got > 0) {
			snprintf(login, sizeof(login), "r%02d-%06u", round,
			    last);
			ck_assert_msg(store_account_get(t, login, &a) == 0,
			    "round %d: reported commit %s lost (seed %u)",
			    round, login, seed);
			store_account_clear(&a);
		}
		store_txn_abort(t);
		store_close(s);
		for (i = 0; i < o.n; i++)
			free(o.v[i]);
		free(o.v);
	}
	fprintf(stderr, "crash_loop: %d rounds, %zu commits reported\n",
	    CRASH_ROUNDS, total_reported);
	ck_assert_uint_gt(total_reported, 0);
	th_tmpdir_rm(dir);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("store_crash");
	TCase *tc = tcase_create("crash");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, crash_loop);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
