/*
 * kagi-cardd's watcher (R-CARD-2, R-LOGIN-3): when the card of a logged-in
 * session leaves its reader, run [cardd] lock_command; when a privileged
 * window's end (session_end from kagid's login finish) is reached, run
 * [cardd] priv_end_command.  Each action runs at once in its own thread
 * (fork/execve of an argv split here, no shell, with a timeout; the exit
 * status is logged), then kagid is told (POST /v1/login/event) so that it
 * audits it; the action never waits for kagid.
 *
 * One thread with its own SCARDCONTEXT watches every reader plus
 * "\\?PnP?\Notification" (readers plugged or unplugged) with
 * SCardGetStatusChange, at most CARDD_WATCH_POLL_MS per call;
 * cardd_watch_stop cancels the call.  A login's PKCS#11 slot is tied to its
 * reader by the slot's slotDescription, which OpenSC sets to the PC/SC
 * reader name.  A session is forgotten when login.c forgets it
 * (SESSION_CLOSE).  If pcscd goes away nothing is done (the card state is
 * unknown, logged); when it is back every watched session is checked
 * again, so a card pulled meanwhile still locks its session.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include <PCSC/winscard.h>
#include <PCSC/wintypes.h>
#include <p11-kit/pkcs11.h>

#include "cardd_int.h"
#include "kagi/log.h"
#include "kagi/util.h"

#define WATCH_READERS_MAX 16
#define WATCH_DUE_MAX 16
#define CMD_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define PNP_READER "\\\\?PnP?\\Notification"

/* ---- the table ---- */

static int
hex32(const char *s)
{
	size_t i;

	if (s == NULL || strlen(s) != 32)
		return 0;
	for (i = 0; i < 32; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

int
cardd_wtable_add(struct cardd_wtable *t, const struct cardd_wentry *e)
{
	size_t i, slot = CARDD_SESSIONS_MAX;

	if (t == NULL || e == NULL || !hex32(e->id))
		return KAGI_ERR_INVALID;
	for (i = 0; i < CARDD_SESSIONS_MAX; i++) {
		if (t->e[i].used && strcmp(t->e[i].id, e->id) == 0) {
			slot = i;
			break;
		}
		if (!t->e[i].used && slot == CARDD_SESSIONS_MAX)
			slot = i;
	}
	if (slot == CARDD_SESSIONS_MAX)
		return KAGI_ERR_LIMIT;
	t->e[slot] = *e;
	t->e[slot].used = 1;
	return 0;
}

void
cardd_wtable_remove(struct cardd_wtable *t, const char *id)
{
	size_t i;

	if (t == NULL || id == NULL)
		return;
	for (i = 0; i < CARDD_SESSIONS_MAX; i++)
		if (t->e[i].used && strcmp(t->e[i].id, id) == 0)
			memset(&t->e[i], 0, sizeof(t->e[i]));
}

const struct cardd_wentry *
cardd_wtable_get(const struct cardd_wtable *t, const char *id)
{
	size_t i;

	if (t == NULL || id == NULL)
		return NULL;
	for (i = 0; i < CARDD_SESSIONS_MAX; i++)
		if (t->e[i].used && strcmp(t->e[i].id, id) == 0)
			return &t->e[i];
	return NULL;
}

size_t
cardd_wtable_reader(struct cardd_wtable *t, const char *reader, int present,
    struct cardd_wentry *due, size_t max)
{
	size_t i, n = 0;

	if (t == NULL || reader == NULL || reader[0] == '\0')
		return 0;
	for (i = 0; i < CARDD_SESSIONS_MAX; i++) {
		struct cardd_wentry *e = &t->e[i];

		if (!e->used || !e->watched || e->reader[0] == '\0' ||
		    strcmp(e->reader, reader) != 0)
			continue;
		if (present) {
			e->card_gone = 0;
			continue;
		}
		if (e->card_gone || n >= max)
			continue; /* over max: due again at the next look */
		e->card_gone = 1;
		due[n++] = *e;
	}
	return n;
}

size_t
cardd_wtable_ends(struct cardd_wtable *t, int64_t now,
    struct cardd_wentry *due, size_t max, int64_t *next)
{
	size_t i, n = 0;

	if (next != NULL)
		*next = 0;
	if (t == NULL)
		return 0;
	for (i = 0; i < CARDD_SESSIONS_MAX; i++) {
		struct cardd_wentry *e = &t->e[i];

		if (!e->used || e->end == 0 || e->end_done)
			continue;
		if (e->end > now || n >= max) {
			if (next != NULL && (*next == 0 || e->end < *next))
				*next = e->end > now ? e->end : now;
			continue;
		}
		e->end_done = 1;
		due[n++] = *e;
	}
	return n;
}

/* ---- commands ---- */

void
cardd_cmd_free(char **argv)
{
	size_t i;

	if (argv == NULL)
		return;
	for (i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

/* Append n bytes to a growing word. */
static int
word_add(char **w, size_t *len, const char *p, size_t n)
{
	char *q;

	if (*len + n + 1 > 4096)
		return KAGI_ERR_INVALID;
	if ((q = realloc(*w, *len + n + 1)) == NULL)
		return KAGI_ERR_NOMEM;
	memcpy(q + *len, p, n);
	*len += n;
	q[*len] = '\0';
	*w = q;
	return 0;
}

int
cardd_cmd_split(const char *cmd, const char *id, const char *user,
    const char *tty, const char *logind, char ***out)
{
	char **argv = NULL, *w = NULL;
	size_t argc = 0, wlen = 0;
	const char *p;
	char quote = 0;
	int inword = 0, r = KAGI_ERR_INVALID;

	if (out != NULL)
		*out = NULL;
	if (cmd == NULL || out == NULL)
		return KAGI_ERR_INVALID;
	if ((argv = calloc(CARDD_CMD_ARGV_MAX + 1, sizeof(*argv))) == NULL)
		return KAGI_ERR_NOMEM;
	for (p = cmd;; p++) {
		char c = *p;

		if (c == '\0' || (!quote && (c == ' ' || c == '\t'))) {
			if (c == '\0' && quote) {
				r = KAGI_ERR_INVALID; /* unterminated quote */
				goto out;
			}
			if (inword) {
				if (argc >= CARDD_CMD_ARGV_MAX) {
					r = KAGI_ERR_INVALID;
					goto out;
				}
				if (w == NULL && (w = strdup("")) == NULL) {
					r = KAGI_ERR_NOMEM;
					goto out;
				}
				argv[argc++] = w;
				w = NULL;
				wlen = 0;
				inword = 0;
			}
			if (c == '\0')
				break;
			continue;
		}
		if ((unsigned char)c < 0x20 || c == 0x7f) {
			r = KAGI_ERR_INVALID;
			goto out;
		}
		inword = 1;
		if (quote && c == quote) {
			quote = 0;
			continue;
		}
		if (!quote && (c == '\'' || c == '"')) {
			quote = c;
			continue;
		}
		if (c == '%') {
			const char *v;

			switch (p[1]) {
			case 's': v = id; break;
			case 'u': v = user; break;
			case 't': v = tty; break;
			case 'l': v = logind; break;
			case '%': v = "%"; break;
			default:
				r = KAGI_ERR_INVALID;
				goto out;
			}
			if (v == NULL)
				v = "";
			if ((r = word_add(&w, &wlen, v, strlen(v))) != 0)
				goto out;
			p++;
			continue;
		}
		if ((r = word_add(&w, &wlen, p, 1)) != 0)
			goto out;
	}
	r = KAGI_ERR_INVALID;
	if (argc == 0 || argv[0][0] == '\0')
		goto out;
	/* "/usr/bin/x" or "x" (looked up in CMD_PATH), never "bin/x" */
	if (argv[0][0] != '/' && strchr(argv[0], '/') != NULL)
		goto out;
	*out = argv;
	argv = NULL;
	r = 0;
out:
	free(w);
	cardd_cmd_free(argv);
	return r;
}

/* The program to execve: absolute as given, else found in CMD_PATH. */
static int
cmd_resolve(const char *prog, char *path, size_t len)
{
	const char *d = CMD_PATH, *e;

	if (prog[0] == '/') {
		if ((size_t)snprintf(path, len, "%s", prog) >= len)
			return KAGI_ERR_LIMIT;
		return access(path, X_OK) == 0 ? 0 : KAGI_ERR_NOT_FOUND;
	}
	while (*d != '\0') {
		e = strchr(d, ':');
		if (e == NULL)
			e = d + strlen(d);
		if ((size_t)snprintf(path, len, "%.*s/%s", (int)(e - d), d,
		    prog) < len && access(path, X_OK) == 0)
			return 0;
		d = *e == ':' ? e + 1 : e;
	}
	return KAGI_ERR_NOT_FOUND;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
cardd_cmd_run(char *const *argv, int timeout_ms, int *status)
{
	static char *const envp[] = { (char *)(uintptr_t)("PATH=" CMD_PATH),
		(char *)(uintptr_t)"LC_ALL=C", NULL };
	char path[4096];
	int64_t deadline;
	sigset_t all, old;
	pid_t pid, w;
	int st = 0, r, devnull;

	if (status != NULL)
		*status = 0;
	if (argv == NULL || argv[0] == NULL || status == NULL)
		return KAGI_ERR_INVALID;
	if ((r = cmd_resolve(argv[0], path, sizeof(path))) != 0)
		return r;
	if ((devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
		return KAGI_ERR_SYSTEM;
	/* no signal handler of ours may run in the child before execve */
	sigfillset(&all);
	(void)pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0) {
		struct sigaction sa;
		int s;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		for (s = 1; s < NSIG; s++)
			(void)sigaction(s, &sa, NULL);
		(void)dup2(devnull, 0);
		(void)dup2(devnull, 1);
		(void)dup2(devnull, 2);
		(void)close_range(3, ~0U, 0);
		sigemptyset(&all);
		(void)sigprocmask(SIG_SETMASK, &all, NULL);
		execve(path, argv, envp);
		_exit(127);
	}
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(devnull);
	if (pid < 0) {
		kagi_log_err("fork: %s", strerror(errno));
		return KAGI_ERR_SYSTEM;
	}
	deadline = mono_ms() + timeout_ms;
	for (;;) {
		w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return KAGI_ERR_SYSTEM;
		if (mono_ms() >= deadline) {
			(void)kill(pid, SIGKILL);
			while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
				;
			*status = st;
			return KAGI_ERR_TIMEOUT;
		}
		usleep(10 * 1000);
	}
	*status = st;
	return 0;
}

/* ---- the watcher ---- */

static int64_t
real_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct reader {
	char name[CARDD_READER_MAX];
	DWORD state;   /* what pcscd told us last (SCARD_STATE_UNAWARE: new) */
	int known;     /* state read at least once */
};

struct cardd_watch {
	struct cardd *d;
	pthread_t thread;
	int started;
	pthread_mutex_t lock;         /* everything below */
	pthread_cond_t idle;          /* nactions reached 0 */
	struct cardd_wtable table;
	struct reader readers[WATCH_READERS_MAX];
	size_t nreaders;
	int listed;                   /* readers listed since (re)connect */
	SCARDCONTEXT ctx;
	int have_ctx;
	volatile int stop;
	int nactions;
	CK_FUNCTION_LIST *p11;        /* cardd's module, for slotDescription */
};

enum watch_event { EV_CARD_REMOVED, EV_WINDOW_END };

struct action {
	struct cardd_watch *w;
	enum watch_event ev;
	struct cardd_wentry e;
};

/* Tell kagid what was done (best effort). */
static void
action_report(struct cardd *d, const struct action *a, int ok)
{
	json_t *body = NULL, *resp = NULL;
	int r;

	if (d->kagid == NULL)
		return;
	body = json_pack("{s:s, s:s, s:s, s:s}", "session_id", a->e.id,
	    "event", a->ev == EV_CARD_REMOVED ? "card_removed" : "window_end",
	    "action", a->ev == EV_CARD_REMOVED && !a->e.counter ? "lock" :
	    "end",
	    "result", ok ? "ok" : "failed");
	if (body == NULL)
		return;
	r = kagi_client_call(d->kagid, "POST", "/v1/login/event", body, &resp,
	    NULL);
	if (r != 0)
		kagi_log_warn("event=login_event_unreported session=%s "
		    "error=%s", a->e.id, kagi_err_name(r));
	json_decref(body);
	json_decref(resp);
}

static void *
action_thread(void *arg)
{
	struct action *a = arg;
	struct cardd_watch *w = a->w;
	struct cardd *d = w->d;
	const char *cmd, *what;
	char **argv = NULL;
	int64_t t0 = mono_ms();
	int r, st = 0, ok = 0;

	if (a->ev == EV_CARD_REMOVED && a->e.counter) {
		/* the operator took their card: kagid ends the session */
		kagi_log_info("event=card_removed session=%s user=%s "
		    "action=end counter=1", a->e.id, a->e.user);
		action_report(d, a, 1);
		goto done;
	}
	if (a->ev == EV_CARD_REMOVED) {
		cmd = d->lock_command != NULL ? d->lock_command :
		    CARDD_LOCK_DEFAULT;
		what = "lock";
	} else {
		cmd = d->priv_end_command != NULL ? d->priv_end_command :
		    CARDD_PRIV_END_DEFAULT;
		what = "end";
	}
	r = cardd_cmd_split(cmd, a->e.id, a->e.user, a->e.tty,
	    a->e.logind, &argv);
	if (r == 0)
		r = cardd_cmd_run(argv, CARDD_CMD_TIMEOUT_MS, &st);
	ok = r == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	if (ok)
		kagi_log_info("event=%s session=%s user=%s tty=%s action=%s "
		    "program=%s exit=0 ms=%lld", a->ev == EV_CARD_REMOVED ?
		    "card_removed" : "window_end", a->e.id, a->e.user,
		    a->e.tty, what, argv[0], (long long)(mono_ms() - t0));
	else
		kagi_log_err("event=%s session=%s user=%s tty=%s action=%s "
		    "program=%s error=%s exit=%d signal=%d ms=%lld",
		    a->ev == EV_CARD_REMOVED ? "card_removed" : "window_end",
		    a->e.id, a->e.user, a->e.tty, what,
		    argv != NULL ? argv[0] : "-", r != 0 ? kagi_err_name(r) :
		    "status", r == 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1,
		    r == 0 && WIFSIGNALED(st) ? WTERMSIG(st) : 0,
		    (long long)(mono_ms() - t0));
	cardd_cmd_free(argv);
	action_report(d, a, ok);
done:
	free(a);
	pthread_mutex_lock(&w->lock);
	if (--w->nactions == 0)
		pthread_cond_broadcast(&w->idle);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Start the action for e now.  Called with w->lock held. */
static void
action_start(struct cardd_watch *w, enum watch_event ev,
    const struct cardd_wentry *e)
{
	struct action *a;
	pthread_attr_t attr;
	pthread_t t;

	kagi_log_info("event=%s session=%s user=%s reader=\"%s\" card=%s",
	    ev == EV_CARD_REMOVED ? "card_removal_seen" : "window_end_reached",
	    e->id, e->user, e->reader, e->card_serial);
	if ((a = calloc(1, sizeof(*a))) == NULL)
		goto fail;
	a->w = w;
	a->ev = ev;
	a->e = *e;
	if (pthread_attr_init(&attr) != 0)
		goto fail;
	(void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	w->nactions++;
	if (pthread_create(&t, &attr, action_thread, a) != 0) {
		w->nactions--;
		pthread_attr_destroy(&attr);
		goto fail;
	}
	pthread_attr_destroy(&attr);
	return;
fail:
	free(a);
	kagi_log_err("event=watch_action_failed session=%s error=%s", e->id,
	    kagi_err_name(KAGI_ERR_NOMEM));
}

static struct reader *
reader_find(struct cardd_watch *w, const char *name)
{
	size_t i;

	for (i = 0; i < w->nreaders; i++)
		if (strcmp(w->readers[i].name, name) == 0)
			return &w->readers[i];
	return NULL;
}

static int
reader_present(const struct reader *rd)
{
	return rd != NULL && rd->known &&
	    (rd->state & SCARD_STATE_PRESENT) != 0;
}

/*
 * Forget sessions login.c forgot (SESSION_CLOSE), then act on every
 * watched session whose reader is gone or empty, and on every window end.
 * Called with w->lock held; takes d->sess_lock inside it (login.c never
 * takes w->lock while holding sess_lock).
 */
static void
evaluate(struct cardd_watch *w, int64_t *next_end)
{
	struct cardd *d = w->d;
	struct cardd_wentry due[WATCH_DUE_MAX];
	size_t i, j, n;

	pthread_mutex_lock(&d->sess_lock);
	for (i = 0; i < CARDD_SESSIONS_MAX; i++) {
		struct cardd_wentry *e = &w->table.e[i];
		int open = 0;

		if (!e->used)
			continue;
		for (j = 0; j < CARDD_SESSIONS_MAX && !open; j++)
			open = d->sessions[j].used &&
			    strcmp(d->sessions[j].id, e->id) == 0;
		if (!open) {
			kagi_log_debug("event=watch_forget session=%s", e->id);
			memset(e, 0, sizeof(*e));
		}
	}
	pthread_mutex_unlock(&d->sess_lock);
	if (w->have_ctx && w->listed) {
		for (i = 0; i < CARDD_SESSIONS_MAX; i++) {
			struct cardd_wentry *e = &w->table.e[i];
			struct reader *rd;

			if (!e->used || !e->watched)
				continue;
			rd = reader_find(w, e->reader);
			if (rd != NULL && !rd->known)
				continue; /* not read yet */
			n = cardd_wtable_reader(&w->table, e->reader,
			    reader_present(rd), due, WATCH_DUE_MAX);
			for (j = 0; j < n; j++)
				action_start(w, EV_CARD_REMOVED, &due[j]);
		}
	}
	n = cardd_wtable_ends(&w->table, kagi_now(), due, WATCH_DUE_MAX,
	    next_end);
	for (j = 0; j < n; j++)
		action_start(w, EV_WINDOW_END, &due[j]);
}

/* (Re)list the readers, keeping the states of those still there. */
static LONG
readers_list(struct cardd_watch *w)
{
	struct reader old[WATCH_READERS_MAX];
	size_t nold = w->nreaders, i;
	DWORD len = 0;
	char *buf = NULL, *p;
	LONG rv;

	memcpy(old, w->readers, sizeof(old));
	w->nreaders = 0;
	rv = SCardListReaders(w->ctx, NULL, NULL, &len);
	if (rv == (LONG)SCARD_E_NO_READERS_AVAILABLE) {
		w->listed = 1;
		return SCARD_S_SUCCESS;
	}
	if (rv != SCARD_S_SUCCESS)
		return rv;
	if (len == 0 || len > 64u * 1024u)
		return (LONG)SCARD_F_INTERNAL_ERROR;
	if ((buf = calloc(1, len + 1)) == NULL)
		return (LONG)SCARD_E_NO_MEMORY;
	rv = SCardListReaders(w->ctx, NULL, buf, &len);
	if (rv == (LONG)SCARD_E_NO_READERS_AVAILABLE) {
		free(buf);
		w->listed = 1;
		return SCARD_S_SUCCESS;
	}
	if (rv != SCARD_S_SUCCESS) {
		free(buf);
		return rv;
	}
	for (p = buf; *p != '\0' && p < buf + len; p += strlen(p) + 1) {
		struct reader *rd;

		if (w->nreaders >= WATCH_READERS_MAX) {
			kagi_log_warn("event=watch_too_many_readers max=%d",
			    WATCH_READERS_MAX);
			break;
		}
		if (strlen(p) >= CARDD_READER_MAX)
			continue;
		rd = &w->readers[w->nreaders++];
		memset(rd, 0, sizeof(*rd));
		snprintf(rd->name, sizeof(rd->name), "%s", p);
		rd->state = SCARD_STATE_UNAWARE;
		for (i = 0; i < nold; i++)
			if (strcmp(old[i].name, p) == 0) {
				*rd = old[i];
				break;
			}
	}
	free(buf);
	w->listed = 1;
	return SCARD_S_SUCCESS;
}

static void
ctx_drop(struct cardd_watch *w)
{
	if (w->have_ctx)
		(void)SCardReleaseContext(w->ctx);
	w->have_ctx = 0;
	w->listed = 0;
	w->nreaders = 0;
}

/* Sleep up to ms, waking early on stop. */
static void
nap(struct cardd_watch *w, int ms)
{
	for (; ms > 0 && !w->stop; ms -= 100)
		usleep((useconds_t)(ms < 100 ? ms : 100) * 1000);
}

/* Milliseconds to wait: CARDD_WATCH_POLL_MS, less when a window ends. */
static int
until_end(int64_t next_end)
{
	int64_t left;

	if (next_end == 0)
		return CARDD_WATCH_POLL_MS;
	left = next_end * 1000 - real_ms();
	if (left < 0)
		return 0;
	return left < CARDD_WATCH_POLL_MS ? (int)left + 1 :
	    CARDD_WATCH_POLL_MS;
}

static void *
watch_thread(void *arg)
{
	struct cardd_watch *w = arg;
	SCARD_READERSTATE st[WATCH_READERS_MAX + 1];
	DWORD pnp_state = SCARD_STATE_UNAWARE, timeout;
	int64_t next_end = 0, now;
	size_t i, n;
	LONG rv;
	int warned = 0, relist = 1;

	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		if (!w->have_ctx) {
			SCARDCONTEXT c = 0;

			pthread_mutex_unlock(&w->lock);
			rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL,
			    NULL, &c);
			pthread_mutex_lock(&w->lock);
			if (rv != SCARD_S_SUCCESS) {
				if (!warned)
					kagi_log_warn("event=watch_no_pcscd "
					    "error=\"%s\"",
					    pcsc_stringify_error(rv));
				warned = 1;
				evaluate(w, &next_end); /* window ends */
				pthread_mutex_unlock(&w->lock);
				nap(w, until_end(next_end));
				pthread_mutex_lock(&w->lock);
				continue;
			}
			w->ctx = c;
			w->have_ctx = 1;
			pnp_state = SCARD_STATE_UNAWARE;
			relist = 1;
			if (warned)
				kagi_log_info("event=watch_pcscd_back");
			warned = 0;
		}
		if (relist) {
			LONG lr = readers_list(w);

			if (lr != SCARD_S_SUCCESS) {
				kagi_log_warn("event=watch_list_failed "
				    "error=\"%s\"", pcsc_stringify_error(lr));
				ctx_drop(w);
				pthread_mutex_unlock(&w->lock);
				nap(w, 1000);
				pthread_mutex_lock(&w->lock);
				continue;
			}
			relist = 0;
		}
		evaluate(w, &next_end);
		memset(st, 0, sizeof(st));
		for (i = 0; i < w->nreaders; i++) {
			st[i].szReader = w->readers[i].name;
			st[i].dwCurrentState = w->readers[i].state;
		}
		st[i].szReader = PNP_READER;
		st[i].dwCurrentState = pnp_state;
		n = w->nreaders + 1;
		/* wake at a window's end, to the millisecond */
		timeout = CARDD_WATCH_POLL_MS;
		now = real_ms();
		if (next_end != 0 && next_end * 1000 - now < (int64_t)timeout)
			timeout = next_end * 1000 > now ?
			    (DWORD)(next_end * 1000 - now) : 0;
		pthread_mutex_unlock(&w->lock);

		rv = SCardGetStatusChange(w->ctx, timeout, st, (DWORD)n);

		pthread_mutex_lock(&w->lock);
		if (w->stop)
			break;
		if (rv == SCARD_S_SUCCESS) {
			for (i = 0; i < n - 1; i++) {
				DWORD ev = st[i].dwEventState;

				if ((ev & SCARD_STATE_CHANGED) == 0)
					continue;
				if (ev & (SCARD_STATE_UNKNOWN |
				    SCARD_STATE_IGNORE | SCARD_STATE_UNAVAILABLE))
					relist = 1;
				w->readers[i].state = ev &
				    ~(DWORD)SCARD_STATE_CHANGED;
				w->readers[i].known = 1;
				kagi_log_debug("event=watch_reader reader=\"%s\" "
				    "present=%d", w->readers[i].name,
				    (ev & SCARD_STATE_PRESENT) != 0);
			}
			if (st[n - 1].dwEventState & SCARD_STATE_CHANGED)
				relist = 1; /* a reader came or went */
			pnp_state = st[n - 1].dwEventState &
			    ~(DWORD)SCARD_STATE_CHANGED;
		} else if (rv == (LONG)SCARD_E_TIMEOUT ||
		    rv == (LONG)SCARD_E_CANCELLED) {
			/* nothing changed, or stop */
		} else if (rv == (LONG)SCARD_E_UNKNOWN_READER) {
			relist = 1;
		} else {
			kagi_log_warn("event=watch_pcscd_lost error=\"%s\"",
			    pcsc_stringify_error(rv));
			ctx_drop(w);
			warned = 1;
			pthread_mutex_unlock(&w->lock);
			nap(w, 1000);
			pthread_mutex_lock(&w->lock);
			continue;
		}
		/* a reader gone (UNKNOWN, no PRESENT) acts at once */
		evaluate(w, &next_end);
	}
	ctx_drop(w);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* cardd's loaded module, for C_GetSlotInfo (RTLD_NOLOAD: the same one). */
static CK_FUNCTION_LIST *
p11_functions(const char *module)
{
	CK_C_GetFunctionList getfl = NULL;
	CK_FUNCTION_LIST *f = NULL;
	void *dl;

	if (module == NULL ||
	    (dl = dlopen(module, RTLD_NOW | RTLD_NOLOAD)) == NULL)
		return NULL;
	*(void **)(&getfl) = dlsym(dl, "C_GetFunctionList");
	if (getfl == NULL || getfl(&f) != CKR_OK)
		f = NULL;
	/* the module stays loaded by hsm_open; our reference goes */
	(void)dlclose(dl);
	return f;
}

int
cardd_watch_start(struct cardd *d, const char *module,
    struct cardd_watch **out)
{
	struct cardd_watch *w = NULL;
	char **argv = NULL;
	int r = KAGI_ERR_INTERNAL;

	*out = NULL;
	/* refuse a command that cannot be split now, not at a removal */
	if (cardd_cmd_split(d->lock_command != NULL ? d->lock_command :
	    CARDD_LOCK_DEFAULT, "0", "u", "t", "c1", &argv) != 0) {
		kagi_log_err("[cardd] lock_command: not a valid command");
		return KAGI_ERR_INVALID;
	}
	cardd_cmd_free(argv);
	if (cardd_cmd_split(d->priv_end_command != NULL ?
	    d->priv_end_command : CARDD_PRIV_END_DEFAULT, "0", "u", "t",
	    "c1", &argv) != 0) {
		kagi_log_err("[cardd] priv_end_command: not a valid command");
		return KAGI_ERR_INVALID;
	}
	cardd_cmd_free(argv);
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return KAGI_ERR_NOMEM;
	w->d = d;
	w->p11 = p11_functions(module);
	if (pthread_mutex_init(&w->lock, NULL) != 0) {
		free(w);
		return KAGI_ERR_INTERNAL;
	}
	if (pthread_cond_init(&w->idle, NULL) != 0) {
		pthread_mutex_destroy(&w->lock);
		free(w);
		return KAGI_ERR_INTERNAL;
	}
	if (pthread_create(&w->thread, NULL, watch_thread, w) != 0) {
		pthread_cond_destroy(&w->idle);
		pthread_mutex_destroy(&w->lock);
		free(w);
		return r;
	}
	w->started = 1;
	*out = w;
	return 0;
}

int
cardd_watch_stop(struct cardd_watch *w)
{
	struct timespec ts;
	int busy;

	if (w == NULL)
		return 0;
	pthread_mutex_lock(&w->lock);
	w->stop = 1;
	if (w->have_ctx)
		(void)SCardCancel(w->ctx);
	pthread_mutex_unlock(&w->lock);
	if (w->started)
		(void)pthread_join(w->thread, NULL);
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 3;
	pthread_mutex_lock(&w->lock);
	while (w->nactions > 0)
		if (pthread_cond_timedwait(&w->idle, &w->lock, &ts) != 0)
			break;
	busy = w->nactions > 0;
	pthread_mutex_unlock(&w->lock);
	if (busy) {
		kagi_log_warn("event=watch_stop_busy actions=%d", w->nactions);
		return KAGI_ERR_TIMEOUT;
	}
	pthread_cond_destroy(&w->idle);
	pthread_mutex_destroy(&w->lock);
	free(w);
	return 0;
}

/* The PC/SC reader of a PKCS#11 slot: its slotDescription, trimmed. */
static int
slot_reader(CK_FUNCTION_LIST *f, unsigned long slot, char *out, size_t len)
{
	CK_SLOT_INFO si;
	size_t n;

	out[0] = '\0';
	if (f == NULL || f->C_GetSlotInfo(slot, &si) != CKR_OK)
		return KAGI_ERR_NOT_FOUND;
	n = sizeof(si.slotDescription);
	while (n > 0 && (si.slotDescription[n - 1] == ' ' ||
	    si.slotDescription[n - 1] == '\0'))
		n--;
	if (n == 0 || n >= len)
		return KAGI_ERR_NOT_FOUND;
	memcpy(out, si.slotDescription, n);
	out[n] = '\0';
	return 0;
}

void
cardd_watch_login(struct cardd *d, const char *session_id, const char *user,
    const char *tty, int64_t end, const struct cardd_card *card)
{
	struct cardd_watch *w;
	struct cardd_wentry e;
	struct reader *rd = NULL;
	size_t i, dl;
	int r;

	if (d == NULL || (w = d->watch) == NULL || !hex32(session_id))
		return;
	memset(&e, 0, sizeof(e));
	memcpy(e.id, session_id, 33);
	snprintf(e.user, sizeof(e.user), "%s", user != NULL ? user : "");
	snprintf(e.tty, sizeof(e.tty), "%s", tty != NULL ? tty : "");
	e.end = end > 0 ? end : 0;
	if (card != NULL) {
		snprintf(e.card_serial, sizeof(e.card_serial), "%s",
		    card->serial);
		snprintf(e.card_label, sizeof(e.card_label), "%s",
		    card->label);
		(void)slot_reader(w->p11, card->slot_id, e.reader,
		    sizeof(e.reader));
	}
	if (e.reader[0] == '\0' && e.end == 0)
		return; /* nothing to watch */
	pthread_mutex_lock(&w->lock);
	if (e.reader[0] != '\0') {
		rd = reader_find(w, e.reader);
		/* slotDescription holds 64 bytes: a longer reader name is cut */
		dl = strlen(e.reader);
		for (i = 0; rd == NULL && dl == 64 && i < w->nreaders; i++)
			if (strncmp(w->readers[i].name, e.reader, dl) == 0) {
				rd = &w->readers[i];
				snprintf(e.reader, sizeof(e.reader), "%s",
				    rd->name);
			}
		e.watched = rd != NULL;
	}
	r = cardd_wtable_add(&w->table, &e);
	pthread_mutex_unlock(&w->lock);
	if (r != 0)
		kagi_log_err("event=watch_session_unwatched session=%s user=%s "
		    "error=%s", e.id, e.user, kagi_err_name(r));
	else if (card != NULL && !e.watched)
		kagi_log_info("event=watch_session session=%s user=%s "
		    "reader=none card=%s end=%lld (the slot is not a PC/SC "
		    "reader: removal not watched)", e.id, e.user,
		    e.card_serial, (long long)e.end);
	else
		kagi_log_info("event=watch_session session=%s user=%s "
		    "reader=\"%s\" card=%s end=%lld", e.id, e.user, e.reader,
		    e.card_serial, (long long)e.end);
}

void
cardd_watch_counter(struct cardd *d, const char *session_id)
{
	struct cardd_watch *w;

	if (d == NULL || (w = d->watch) == NULL || !hex32(session_id))
		return;
	pthread_mutex_lock(&w->lock);
	for (size_t i = 0; i < CARDD_SESSIONS_MAX; i++) {
		struct cardd_wentry *e = &w->table.e[i];
		if (e->used && strcmp(e->id, session_id) == 0)
			e->counter = 1;
	}
	pthread_mutex_unlock(&w->lock);
}

void
cardd_watch_session_open(struct cardd *d, const char *session_id,
    const char *logind)
{
	struct cardd_watch *w;

	if (d == NULL || (w = d->watch) == NULL || !hex32(session_id) ||
	    logind == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	for (size_t i = 0; i < CARDD_SESSIONS_MAX; i++) {
		struct cardd_wentry *e = &w->table.e[i];
		if (e->used && strcmp(e->id, session_id) == 0)
			snprintf(e->logind, sizeof(e->logind), "%s", logind);
	}
	pthread_mutex_unlock(&w->lock);
}
