/*
 * kagi-cardd's watcher (cardd/watch.c; R-CARD-2, R-LOGIN-3): the session
 * table (a removal acts once per removal, only on the session's own reader,
 * re-armed when a card is back; window ends act once), the splitting of
 * action commands without a shell (faults: cmd_empty, cmd_unterminated_quote,
 * cmd_bad_percent, cmd_too_many_words, cmd_relative_path, cmd_control_char;
 * a substituted value never becomes more than one word or shell code), the
 * runner (exit status, cmd_timeout kills, cmd_not_found, no descriptors
 * leak into the child), and the watcher thread itself: a privileged
 * window's end runs priv_end_command within 2 s, a closed session's end
 * runs nothing, and stopping returns promptly with no pcscd (pcsc_absent).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>

#include "cardd_int.h"
#include "kagi/util.h"

#define ID1 "0123456789abcdef0123456789abcdef"
#define ID2 "fedcba9876543210fedcba9876543210"
#define ID3 "00000000000000000000000000000003"

static char tmpdir[64];

static void
mk_tmp(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/kagi-watch-test.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
rm_tmp(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static struct cardd_wentry
entry(const char *id, const char *reader, int watched, int64_t end)
{
	struct cardd_wentry e;

	memset(&e, 0, sizeof(e));
	snprintf(e.id, sizeof(e.id), "%s", id);
	snprintf(e.user, sizeof(e.user), "alice");
	snprintf(e.reader, sizeof(e.reader), "%s", reader);
	e.watched = watched;
	e.end = end;
	return e;
}

/* ---- the table ---- */

START_TEST(table_removal_once_per_removal)
{
	static struct cardd_wtable t;
	struct cardd_wentry e, due[4];

	memset(&t, 0, sizeof(t));
	e = entry(ID1, "kagi-vpcd 00 00", 1, 0);
	ck_assert_int_eq(cardd_wtable_add(&t, &e), 0);
	e = entry(ID2, "Other Reader 01 00", 1, 0);
	ck_assert_int_eq(cardd_wtable_add(&t, &e), 0);
	/* card present: nothing */
	ck_assert_uint_eq(cardd_wtable_reader(&t, "kagi-vpcd 00 00", 1, due,
	    4), 0);
	/* removed: only the session on that reader, once */
	ck_assert_uint_eq(cardd_wtable_reader(&t, "kagi-vpcd 00 00", 0, due,
	    4), 1);
	ck_assert_str_eq(due[0].id, ID1);
	ck_assert_uint_eq(cardd_wtable_reader(&t, "kagi-vpcd 00 00", 0, due,
	    4), 0);
	/* a card back re-arms; the next removal acts again */
	ck_assert_uint_eq(cardd_wtable_reader(&t, "kagi-vpcd 00 00", 1, due,
	    4), 0);
	ck_assert_uint_eq(cardd_wtable_reader(&t, "kagi-vpcd 00 00", 0, due,
	    4), 1);
	ck_assert_str_eq(due[0].id, ID1);
	/* the other reader's session was never touched */
	ck_assert_int_eq(cardd_wtable_get(&t, ID2)->card_gone, 0);
}
END_TEST

START_TEST(table_unwatched_never_acts)
{
	static struct cardd_wtable t;
	struct cardd_wentry e, due[4];

	memset(&t, 0, sizeof(t));
	/* a slot that is not a PC/SC reader (SoftHSM2): not watched */
	e = entry(ID1, "SoftHSM slot ID 0x1", 0, 0);
	ck_assert_int_eq(cardd_wtable_add(&t, &e), 0);
	ck_assert_uint_eq(cardd_wtable_reader(&t, "SoftHSM slot ID 0x1", 0,
	    due, 4), 0);
	ck_assert_uint_eq(cardd_wtable_reader(&t, "", 0, due, 4), 0);
}
END_TEST

START_TEST(table_replace_remove_full)
{
	static struct cardd_wtable t;
	struct cardd_wentry e;
	char id[33];
	size_t i;

	memset(&t, 0, sizeof(t));
	e = entry(ID1, "r", 1, 0);
	ck_assert_int_eq(cardd_wtable_add(&t, &e), 0);
	e = entry(ID1, "r2", 1, 0);
	ck_assert_int_eq(cardd_wtable_add(&t, &e), 0); /* replaced */
	ck_assert_str_eq(cardd_wtable_get(&t, ID1)->reader, "r2");
	cardd_wtable_remove(&t, ID1);
	ck_assert_ptr_null(cardd_wtable_get(&t, ID1));
	/* bad_session_id */
	e = entry("not-hex", "r", 1, 0);
	ck_assert_int_eq(cardd_wtable_add(&t, &e), KAGI_ERR_INVALID);
	e = entry("0123456789ABCDEF0123456789ABCDEF", "r", 1, 0);
	ck_assert_int_eq(cardd_wtable_add(&t, &e), KAGI_ERR_INVALID);
	/* table_full: refused, never an old session silently dropped */
	for (i = 0; i < CARDD_SESSIONS_MAX; i++) {
		snprintf(id, sizeof(id), "%032zx", i);
		e = entry(id, "r", 1, 0);
		ck_assert_int_eq(cardd_wtable_add(&t, &e), 0);
	}
	e = entry(ID2, "r", 1, 0);
	ck_assert_int_eq(cardd_wtable_add(&t, &e), KAGI_ERR_LIMIT);
	snprintf(id, sizeof(id), "%032zx", (size_t)0);
	ck_assert_ptr_nonnull(cardd_wtable_get(&t, id));
}
END_TEST

START_TEST(table_window_end_once)
{
	static struct cardd_wtable t;
	struct cardd_wentry e, due[4];
	int64_t next = -1;

	memset(&t, 0, sizeof(t));
	e = entry(ID1, "", 0, 1000);
	ck_assert_int_eq(cardd_wtable_add(&t, &e), 0);
	e = entry(ID2, "", 0, 2000);
	ck_assert_int_eq(cardd_wtable_add(&t, &e), 0);
	e = entry(ID3, "", 0, 0); /* no window */
	ck_assert_int_eq(cardd_wtable_add(&t, &e), 0);
	ck_assert_uint_eq(cardd_wtable_ends(&t, 999, due, 4, &next), 0);
	ck_assert_int_eq(next, 1000);
	ck_assert_uint_eq(cardd_wtable_ends(&t, 1000, due, 4, &next), 1);
	ck_assert_str_eq(due[0].id, ID1);
	ck_assert_int_eq(next, 2000);
	ck_assert_uint_eq(cardd_wtable_ends(&t, 1500, due, 4, &next), 0);
	ck_assert_uint_eq(cardd_wtable_ends(&t, 5000, due, 4, &next), 1);
	ck_assert_str_eq(due[0].id, ID2);
	ck_assert_int_eq(next, 0);
	ck_assert_uint_eq(cardd_wtable_ends(&t, 9000, due, 4, &next), 0);
}
END_TEST

/* ---- command splitting ---- */

static size_t
argc_of(char **argv)
{
	size_t n = 0;

	while (argv[n] != NULL)
		n++;
	return n;
}

START_TEST(cmd_split_default)
{
	char **argv = NULL;

	/* the default locks systemd-logind's session (%l), not kagid's id */
	ck_assert_int_eq(cardd_cmd_split(CARDD_LOCK_DEFAULT, ID1, "alice",
	    "pts/3", "c7", &argv), 0);
	ck_assert_uint_eq(argc_of(argv), 3);
	ck_assert_str_eq(argv[0], "loginctl");
	ck_assert_str_eq(argv[1], "lock-session");
	ck_assert_str_eq(argv[2], "c7");
	cardd_cmd_free(argv);
	ck_assert_int_eq(cardd_cmd_split(CARDD_PRIV_END_DEFAULT, ID1, "alice",
	    "pts/3", "c7", &argv), 0);
	ck_assert_str_eq(argv[1], "terminate-session");
	ck_assert_str_eq(argv[2], "c7");
	cardd_cmd_free(argv);
}
END_TEST

START_TEST(cmd_split_quotes_and_fields)
{
	char **argv = NULL;

	ck_assert_int_eq(cardd_cmd_split("/usr/local/bin/lock  'a b'\t"
	    "\"%u on %t\" id=%s 100%% ''", ID1, "alice", "pts/3", "c7", &argv),
	    0);
	ck_assert_uint_eq(argc_of(argv), 6);
	ck_assert_str_eq(argv[0], "/usr/local/bin/lock");
	ck_assert_str_eq(argv[1], "a b");
	ck_assert_str_eq(argv[2], "alice on pts/3");
	ck_assert_str_eq(argv[3], "id=" ID1);
	ck_assert_str_eq(argv[4], "100%");
	ck_assert_str_eq(argv[5], "");
	cardd_cmd_free(argv);
}
END_TEST

START_TEST(cmd_value_stays_one_word)
{
	char **argv = NULL;

	/* a user or tty with blanks, quotes or shell code is one argument */
	ck_assert_int_eq(cardd_cmd_split("x %u %t", ID1, "a b; rm -rf /",
	    "'$(touch /tmp/x)'", "", &argv), 0);
	ck_assert_uint_eq(argc_of(argv), 3);
	ck_assert_str_eq(argv[1], "a b; rm -rf /");
	ck_assert_str_eq(argv[2], "'$(touch /tmp/x)'");
	cardd_cmd_free(argv);
}
END_TEST

START_TEST(cmd_bad_commands)
{
	static const char *const bad[] = {
		"",                        /* cmd_empty */
		"   \t ",                  /* cmd_empty (blanks) */
		"''",                      /* cmd_empty program */
		"lock 'unterminated",      /* cmd_unterminated_quote */
		"lock \"unterminated",     /* cmd_unterminated_quote */
		"lock %d",                 /* cmd_bad_percent */
		"lock %n%n%n",             /* cmd_bad_percent */
		"lock %",                  /* cmd_bad_percent (trailing) */
		"bin/lock %s",             /* cmd_relative_path */
		"./lock %s",               /* cmd_relative_path */
		"lock\x01 %s",             /* cmd_control_char */
		"lock\n%s",                /* cmd_control_char */
		NULL,
	};
	char **argv = (char **)(uintptr_t)1;
	char many[CARDD_CMD_ARGV_MAX * 2 + 8];
	size_t i;

	for (i = 0; bad[i] != NULL; i++) {
		argv = (char **)(uintptr_t)1;
		ck_assert_msg(cardd_cmd_split(bad[i], ID1, "u", "t", "c1", &argv) ==
		    KAGI_ERR_INVALID, "accepted bad command #%zu", i);
		ck_assert_ptr_null(argv);
	}
	/* cmd_too_many_words */
	many[0] = '\0';
	for (i = 0; i < CARDD_CMD_ARGV_MAX + 1; i++)
		strcat(many, "a ");
	ck_assert_int_eq(cardd_cmd_split(many, ID1, "u", "t", "c1", &argv),
	    KAGI_ERR_INVALID);
	many[strlen(many) - 2] = '\0'; /* exactly the maximum */
	ck_assert_int_eq(cardd_cmd_split(many, ID1, "u", "t", "c1", &argv), 0);
	ck_assert_uint_eq(argc_of(argv), CARDD_CMD_ARGV_MAX);
	cardd_cmd_free(argv);
	ck_assert_int_eq(cardd_cmd_split(NULL, ID1, "u", "t", "c1", &argv),
	    KAGI_ERR_INVALID);
}
END_TEST

/* ---- running ---- */

START_TEST(cmd_run_status)
{
	char **argv = NULL;
	int st = -1;

	ck_assert_int_eq(cardd_cmd_split("true", ID1, "u", "t", "c1", &argv), 0);
	ck_assert_int_eq(cardd_cmd_run(argv, 5000, &st), 0);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	cardd_cmd_free(argv);
	ck_assert_int_eq(cardd_cmd_split("/bin/sh -c 'exit 3'", ID1, "u", "t",
	    "c1", &argv), 0);
	ck_assert_int_eq(cardd_cmd_run(argv, 5000, &st), 0);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 3);
	cardd_cmd_free(argv);
}
END_TEST

START_TEST(cmd_timeout)
{
	char **argv = NULL;
	struct timespec a, b;
	int st = 0;
	long ms;

	ck_assert_int_eq(cardd_cmd_split("sleep 30", ID1, "u", "t", "c1", &argv),
	    0);
	clock_gettime(CLOCK_MONOTONIC, &a);
	ck_assert_int_eq(cardd_cmd_run(argv, 300, &st), KAGI_ERR_TIMEOUT);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	ck_assert_msg(ms < 2000, "timeout took %ld ms", ms);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	cardd_cmd_free(argv);
}
END_TEST

START_TEST(cmd_not_found)
{
	char **argv = NULL;
	int st = 0;

	ck_assert_int_eq(cardd_cmd_split("kagi-no-such-program-here %s", ID1,
	    "u", "t", "c1", &argv), 0);
	ck_assert_int_eq(cardd_cmd_run(argv, 1000, &st), KAGI_ERR_NOT_FOUND);
	cardd_cmd_free(argv);
	ck_assert_int_eq(cardd_cmd_split("/nonexistent/lock %s", ID1, "u", "t",
	    "c1", &argv), 0);
	ck_assert_int_eq(cardd_cmd_run(argv, 1000, &st), KAGI_ERR_NOT_FOUND);
	cardd_cmd_free(argv);
}
END_TEST

static char *
slurp(const char *path)
{
	static char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return buf;
}

/* No shell: "$(...)" reaches the program as text; fds 0-2 only. */
START_TEST(cmd_no_shell_no_fds)
{
	char cmd[1024], out[128], marker[128], **argv = NULL;
	const char *s;
	int st = 0, leak;

	mk_tmp();
	leak = open("/dev/null", O_RDONLY); /* not O_CLOEXEC */
	ck_assert_int_ge(leak, 3);
	snprintf(out, sizeof(out), "%s/out", tmpdir);
	snprintf(marker, sizeof(marker), "%s/marker", tmpdir);
	snprintf(cmd, sizeof(cmd), "/bin/sh -c 'printf \"%%%%s|\" \"$@\" >%s; "
	    "ls /proc/self/fd >>%s' sh %%s \"$(touch %s)\"", out, out, marker);
	ck_assert_int_eq(cardd_cmd_split(cmd, ID1, "u", "t", "c1", &argv), 0);
	ck_assert_int_eq(cardd_cmd_run(argv, 5000, &st), 0);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	cardd_cmd_free(argv);
	close(leak);
	ck_assert_ptr_nonnull(s = slurp(out));
	ck_assert_msg(strncmp(s, ID1 "|$(touch ", strlen(ID1 "|$(touch ")) ==
	    0, "args: %s", s);
	ck_assert_int_ne(access(marker, F_OK), 0);
	/* ls's own directory fd is 3; nothing of ours above it */
	ck_assert_msg(strstr(s, "\n4\n") == NULL, "fds leaked: %s", s);
	rm_tmp();
}
END_TEST

/* ---- the watcher thread, without pcscd ---- */

static struct cardd *
daemon_new(const char *end_cmd)
{
	struct cardd *d = calloc(1, sizeof(*d));

	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(pthread_mutex_init(&d->sess_lock, NULL), 0);
	d->lock_command = "true";
	d->priv_end_command = end_cmd;
	return d;
}

static void
session_add(struct cardd *d, size_t i, const char *id, int64_t end)
{
	snprintf(d->sessions[i].id, sizeof(d->sessions[i].id), "%s", id);
	snprintf(d->sessions[i].user, sizeof(d->sessions[i].user), "adm1");
	d->sessions[i].end = end;
	d->sessions[i].used = 1;
}

static int
wait_file(const char *path, int ms)
{
	for (; ms > 0; ms -= 50) {
		const char *s = slurp(path);

		if (s != NULL && strchr(s, '\n') != NULL)
			return 1;
		usleep(50 * 1000);
	}
	return 0;
}

START_TEST(watch_window_end_runs_end_command)
{
	struct cardd *d;
	char cmd[1024], out[128];
	struct timespec a, b;
	const char *s;
	long ms;
	int64_t end;

	mk_tmp();
	/* pcsc_absent: a socket that does not exist; the watcher retries */
	ck_assert_int_eq(setenv("PCSCLITE_CSOCK_NAME", "/nonexistent/pcscd.comm",
	    1), 0);
	snprintf(out, sizeof(out), "%s/ends", tmpdir);
	snprintf(cmd, sizeof(cmd), "/bin/sh -c 'echo \"$1 $2 $3\" >>%s' sh "
	    "%%s %%u %%t", out);
	d = daemon_new(cmd);
	end = kagi_now() + 1;
	session_add(d, 0, ID1, end);
	session_add(d, 1, ID2, end);
	ck_assert_int_eq(cardd_watch_start(d, NULL, &d->watch), 0);
	cardd_watch_login(d, ID1, "adm1", "pts/7", end, NULL);
	cardd_watch_login(d, ID2, "adm1", "pts/8", end, NULL);
	/* the second session is closed (SESSION_CLOSE) before its end */
	pthread_mutex_lock(&d->sess_lock);
	memset(&d->sessions[1], 0, sizeof(d->sessions[1]));
	pthread_mutex_unlock(&d->sess_lock);
	clock_gettime(CLOCK_MONOTONIC, &a);
	ck_assert_msg(wait_file(out, 4000), "priv_end_command did not run");
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	/* the end is at most 1 s ahead (whole seconds) + 2 s */
	ck_assert_msg(ms <= 3000, "window end acted after %ld ms", ms);
	ck_assert_msg(kagi_now() >= end, "acted before the end");
	usleep(1500 * 1000); /* nothing more arrives */
	ck_assert_ptr_nonnull(s = slurp(out));
	ck_assert_str_eq(s, ID1 " adm1 pts/7\n");
	clock_gettime(CLOCK_MONOTONIC, &a);
	ck_assert_int_eq(cardd_watch_stop(d->watch), 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	ck_assert_msg(ms < 2000, "stop took %ld ms", ms);
	pthread_mutex_destroy(&d->sess_lock);
	free(d);
	rm_tmp();
}
END_TEST

START_TEST(watch_bad_command_refused_at_start)
{
	struct cardd *d = daemon_new("lock 'unterminated");
	struct cardd_watch *w = (struct cardd_watch *)(uintptr_t)1;

	ck_assert_int_eq(cardd_watch_start(d, NULL, &w), KAGI_ERR_INVALID);
	ck_assert_ptr_null(w);
	d->priv_end_command = NULL;
	d->lock_command = "lock %x";
	ck_assert_int_eq(cardd_watch_start(d, NULL, &w), KAGI_ERR_INVALID);
	ck_assert_int_eq(cardd_watch_stop(NULL), 0);
	pthread_mutex_destroy(&d->sess_lock);
	free(d);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("cardd_watch");
	TCase *t = tcase_create("table");

	tcase_add_test(t, table_removal_once_per_removal);
	tcase_add_test(t, table_unwatched_never_acts);
	tcase_add_test(t, table_replace_remove_full);
	tcase_add_test(t, table_window_end_once);
	suite_add_tcase(s, t);
	t = tcase_create("command");
	tcase_add_test(t, cmd_split_default);
	tcase_add_test(t, cmd_split_quotes_and_fields);
	tcase_add_test(t, cmd_value_stays_one_word);
	tcase_add_test(t, cmd_bad_commands);
	tcase_add_test(t, cmd_run_status);
	tcase_add_test(t, cmd_timeout);
	tcase_add_test(t, cmd_not_found);
	tcase_add_test(t, cmd_no_shell_no_fds);
	suite_add_tcase(s, t);
	t = tcase_create("watcher");
	tcase_set_timeout(t, 30);
	tcase_add_test(t, watch_window_end_runs_end_command);
	tcase_add_test(t, watch_bad_command_refused_at_start);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	SRunner *r = srunner_create(suite());
	int failed;

	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
