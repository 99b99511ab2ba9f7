/*
 * kagid start-up, daemon plumbing and shutdown.
 *
 * Start-up is all-or-nothing (R-TERM-6): the configuration file, the policy
 * and the TLS key are checked before anything is bound; a refusal prints one
 * clear message and exits non-zero.  Without --foreground the process
 * detaches, and the parent waits until the child is listening (or failed)
 * so that its exit status tells the truth.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>

#include "kagi/conf.h"
#include "kagi/file.h"
#include "kagi/i18n.h"
#include "kagi/log.h"
#include "kagi/policy.h"
#include "kagi/store.h"
#include "kagi/util.h"
#include "server_int.h"

char *
kagid_conf_path(const struct kagi_conf *c, const char *p)
{
	if (p == NULL || p[0] == '\0')
		return NULL;
	return kagi_path_join(c->dir, p);
}

static void
setup_log(const struct kagi_conf *c)
{
	int lvl;

	if (c->log != NULL && strcmp(c->log, "syslog") == 0) {
		openlog("kagid", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		kagi_log_set_handler(kagi_log_syslog_handler, NULL);
	} else {
		kagi_log_set_handler(kagi_log_stderr_handler, NULL);
	}
	if (c->log_level != NULL && kagi_log_level_parse(c->log_level,
	    &lvl) == 0)
		kagi_log_set_level(lvl);
}

/* Print a start-up refusal for a person, and log it for the operator. */
static void refuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void
refuse(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kagid: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

/* Load kagi.conf: mode/owner first (R-TERM-6), then syntax. */
int
kagid_conf_open(const char *explicit_path, struct kagi_conf **out)
{
	const char *path = kagi_conf_locate(explicit_path);
	char err[512];
	int r;

	*out = NULL;
	if ((r = kagi_file_check(path, KAGI_FILE_CONFIG)) != 0) {
		if (r == KAGI_ERR_NOT_FOUND)
			refuse(_("%s: configuration file not found"), path);
		else if (r == KAGI_ERR_PERM)
			refuse(_("%s: unsafe mode or owner: the configuration "
			    "must be owned by root or this user and not "
			    "writable by group or others"), path);
		else
			refuse(_("%s: %s"), path, kagi_strerror(r));
		return r;
	}
	err[0] = '\0';
	if ((r = kagi_conf_load(path, out, err, sizeof(err))) != 0) {
		refuse(_("configuration refused: %s"), err[0] ? err :
		    kagi_strerror(r));
		return r;
	}
	return 0;
}

static int
resolve_paths(struct kagid *k)
{
	const struct kagi_conf *c = k->conf;
	char *d = NULL;

	if (c->data_dir == NULL || c->policy == NULL) {
		refuse(_("%s: [kagid] data_dir and policy must be set"),
		    c->path);
		return KAGI_ERR_INVALID;
	}
	if ((k->data_dir = kagid_conf_path(c, c->data_dir)) == NULL ||
	    (k->policy_path = kagid_conf_path(c, c->policy)) == NULL)
		return KAGI_ERR_NOMEM;
	if (c->socket != NULL &&
	    (k->socket_path = kagid_conf_path(c, c->socket)) == NULL)
		return KAGI_ERR_NOMEM;
	if (c->pid_file != NULL &&
	    (k->pid_path = kagid_conf_path(c, c->pid_file)) == NULL)
		return KAGI_ERR_NOMEM;
	if (c->tls_cert != NULL &&
	    (k->tls_cert = kagid_conf_path(c, c->tls_cert)) == NULL)
		return KAGI_ERR_NOMEM;
	if (c->tls_key != NULL &&
	    (k->tls_key = kagid_conf_path(c, c->tls_key)) == NULL)
		return KAGI_ERR_NOMEM;
	if (c->tls_client_ca != NULL &&
	    (k->tls_client_ca = kagid_conf_path(c, c->tls_client_ca)) == NULL)
		return KAGI_ERR_NOMEM;
	d = k->pid_path != NULL ? kagi_path_dirname(k->pid_path) :
	    strdup(k->data_dir);
	if (d == NULL)
		return KAGI_ERR_NOMEM;
	k->addr_path = kagi_path_join(d, "kagid.addr");
	free(d);
	return k->addr_path != NULL ? 0 : KAGI_ERR_NOMEM;
}

static int
load_policy(const char *path, struct policy **out)
{
	char err[512];
	int r;

	*out = NULL;
	if ((r = kagi_file_check(path, KAGI_FILE_CONFIG)) != 0) {
		if (r == KAGI_ERR_PERM)
			refuse(_("%s: unsafe mode or owner: the policy must "
			    "not be writable by group or others"), path);
		else
			refuse(_("%s: %s"), path, kagi_strerror(r));
		return r;
	}
	err[0] = '\0';
	if ((r = policy_load(path, out, err, sizeof(err))) != 0) {
		refuse(_("policy refused: %s"), err[0] ? err :
		    kagi_strerror(r));
		return r;
	}
	return 0;
}

static int
check_tls(struct kagid *k)
{
	int r;

	if (k->conf->listen == NULL)
		return 0;
	if (k->tls_cert == NULL || k->tls_key == NULL ||
	    k->tls_client_ca == NULL) {
		refuse(_("%s: [kagid] listen needs tls_cert, tls_key and "
		    "tls_client_ca"), k->conf->path);
		return KAGI_ERR_INVALID;
	}
	if ((r = kagi_file_check(k->tls_key, KAGI_FILE_SECRET)) != 0) {
		if (r == KAGI_ERR_PERM)
			refuse(_("%s: unsafe mode or owner: a private key must "
			    "be owned by this user with mode 0600"),
			    k->tls_key);
		else
			refuse(_("%s: %s"), k->tls_key, kagi_strerror(r));
		return r;
	}
	if ((r = kagi_file_check(k->tls_cert, KAGI_FILE_CONFIG)) != 0) {
		refuse(_("%s: %s"), k->tls_cert, kagi_strerror(r));
		return r;
	}
	if ((r = kagi_file_check(k->tls_client_ca, KAGI_FILE_CONFIG)) != 0) {
		refuse(_("%s: %s"), k->tls_client_ca, kagi_strerror(r));
		return r;
	}
	if ((r = kagid_tls_ctx_new(k->tls_cert, k->tls_key, k->tls_client_ca,
	    &k->ssl_ctx)) != 0) {
		refuse(_("%s: cannot load the TLS certificate, key or client "
		    "CA (see the log)"), k->tls_cert);
		return r;
	}
	return 0;
}

/* ---- pid file: a lock held for our lifetime ---- */

static int
pidfile_open(struct kagid *k)
{
	int fd;
	char buf[32];
	ssize_t n;

	if (k->pid_path == NULL)
		return 0;
	fd = open(k->pid_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		refuse(_("%s: cannot open the pid file: %s"), k->pid_path,
		    strerror(errno));
		return KAGI_ERR_SYSTEM;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		refuse(_("another kagid (pid %s) is running with pid file %s"),
		    buf, k->pid_path);
		close(fd);
		return KAGI_ERR_EXISTS;
	}
	/* the lock is ours: any content is stale */
	if (ftruncate(fd, 0) != 0 || dprintf(fd, "%ld\n", (long)getpid()) < 0 ||
	    fsync(fd) != 0) {
		refuse(_("%s: cannot write the pid file: %s"), k->pid_path,
		    strerror(errno));
		close(fd);
		(void)unlink(k->pid_path);
		return KAGI_ERR_SYSTEM;
	}
	k->pid_fd = fd;
	return 0;
}

static void
pidfile_close(struct kagid *k)
{
	if (k->pid_fd < 0)
		return;
	(void)unlink(k->pid_path);
	close(k->pid_fd);
	k->pid_fd = -1;
}

static int
addr_write(struct kagid *k)
{
	char buf[256];
	int n;

	n = snprintf(buf, sizeof(buf), "%s%s%s%s%s%s",
	    k->https_addr[0] ? "https=" : "", k->https_addr,
	    k->https_addr[0] ? "\n" : "",
	    k->http_addr[0] ? "http=" : "", k->http_addr,
	    k->http_addr[0] ? "\n" : "");
	if (n < 0 || (size_t)n >= sizeof(buf))
		return KAGI_ERR_INTERNAL;
	return kagi_file_write_atomic(k->addr_path, buf, (size_t)n, 0644);
}

/* ---- daemon ---- */

static int
daemonize(struct kagid *k)
{
	int p[2];
	pid_t pid;
	char c = 1;
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) != 0)
		return KAGI_ERR_SYSTEM;
	if ((pid = fork()) < 0)
		return KAGI_ERR_SYSTEM;
	if (pid > 0) {
		/* parent: succeed only once the daemon says it is listening */
		close(p[1]);
		do {
			n = read(p[0], &c, 1);
		} while (n < 0 && errno == EINTR);
		_exit(n == 1 && c == 0 ? 0 : 1);
	}
	close(p[0]);
	if (setsid() < 0)
		_exit(1);
	if ((pid = fork()) < 0)
		_exit(1);
	if (pid > 0)
		_exit(0); /* the session leader goes; no controlling tty again */
	if (chdir("/") != 0)
		_exit(1);
	k->ready_fd = p[1];
	return 0;
}

static void
ready(struct kagid *k)
{
	char c = 0;
	int fd;

	if (k->ready_fd < 0)
		return;
	if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0) {
		(void)dup2(fd, 0);
		(void)dup2(fd, 1);
		(void)dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	if (write(k->ready_fd, &c, 1) != 1)
		kagi_log_warn("cannot signal readiness to the parent");
	close(k->ready_fd);
	k->ready_fd = -1;
}

/* ---- signals ---- */

static void
on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct kagid *k = arg;

	(void)what;
	kagi_log_info("event=shutdown signal=%d", (int)sig);
	event_base_loopexit(k->base, NULL);
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct kagid *k = arg;
	struct policy *p = NULL;
	char err[512];
	int r;

	(void)sig;
	(void)what;
	err[0] = '\0';
	r = kagi_file_check(k->policy_path, KAGI_FILE_CONFIG);
	if (r == 0)
		r = policy_load(k->policy_path, &p, err, sizeof(err));
	if (r != 0) {
		kagi_log_err("event=policy_reload_failed keeping=old error=%s",
		    err[0] ? err : kagi_err_name(r));
		return;
	}
	policy_free(k->policy);
	k->policy = p;
	kagi_log_info("event=policy_reloaded path=%s", k->policy_path);
}

static int
signals_add(struct kagid *k)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		k->ev_sig[i] = evsignal_new(k->base, sigs[i],
		    sigs[i] == SIGHUP ? on_hup : on_stop, k);
		if (k->ev_sig[i] == NULL || evsignal_add(k->ev_sig[i],
		    NULL) != 0)
			return KAGI_ERR_SYSTEM;
	}
	return 0;
}

static void
kagid_cleanup(struct kagid *k)
{
	/* answers waiting for a group commit go out while evhttp lives */
	kagid_gc_stop(k);
	kagid_listen_close(k);
	kagid_sweep_timer_stop(k);
	kagid_ca_close(k);
	kagid_jpki_close(k);
	for (size_t i = 0; i < sizeof(k->ev_sig) / sizeof(k->ev_sig[0]); i++)
		if (k->ev_sig[i] != NULL)
			event_free(k->ev_sig[i]);
	if (k->base != NULL)
		event_base_free(k->base);
	store_close(k->store);
	policy_free(k->policy);
	SSL_CTX_free(k->ssl_ctx);
	if (k->addr_path != NULL && k->pid_fd >= 0)
		(void)unlink(k->addr_path);
	pidfile_close(k);
	if (k->ready_fd >= 0)
		close(k->ready_fd);
	free(k->data_dir);
	free(k->policy_path);
	free(k->socket_path);
	free(k->pid_path);
	free(k->addr_path);
	free(k->tls_cert);
	free(k->tls_key);
	free(k->tls_client_ca);
	kagi_conf_free(k->conf);
	memset(k, 0, sizeof(*k));
}

static struct event_base *
base_new(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *b = NULL;

	if (cfg == NULL)
		return NULL;
	if (event_config_set_flag(cfg,
	    EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) == 0)
		b = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return b;
}

int
kagid_run(const struct kagid_opts *o)
{
	struct kagid k;
	int r = KAGI_ERR_INTERNAL;
	char *mdb = NULL;
	struct stat st;

	memset(&k, 0, sizeof(k));
	k.pid_fd = -1;
	k.ready_fd = -1;
	k.socket_fd = -1;
	if ((r = kagid_conf_open(o->config, &k.conf)) != 0)
		goto out;
	setup_log(k.conf);
	if ((r = resolve_paths(&k)) != 0)
		goto out;
	if ((r = load_policy(k.policy_path, &k.policy)) != 0)
		goto out;
	if ((r = check_tls(&k)) != 0)
		goto out;
	if ((mdb = kagi_path_join(k.data_dir, "data.mdb")) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if (stat(mdb, &st) != 0) {
		refuse(_("%s: no store here; run 'kagid --init' first"),
		    k.data_dir);
		r = KAGI_ERR_NOT_FOUND;
		goto out;
	}
	/* everything checked: detach (the parent waits for ready()) */
	if (!o->foreground && (r = daemonize(&k)) != 0) {
		refuse(_("cannot detach: %s"), strerror(errno));
		goto out;
	}
	if ((r = pidfile_open(&k)) != 0)
		goto out;
	if ((r = store_open(k.data_dir, NULL, &k.store)) != 0) {
		refuse(_("%s: cannot open the store: %s"), k.data_dir,
		    kagi_strerror(r));
		goto out;
	}
	/* the epoll changelist saves an epoll_ctl per event change (about a
	 * fifth of an OCSP answer's cost without it; docs/BENCHMARKS.md) */
	if ((k.base = base_new()) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	/* the CA: PIN file, token, keys, certificates, CRLs (ca_service.c) */
	if ((r = kagid_ca_open(&k)) != 0)
		goto out;
	/* issuances share durable commits (group_commit.c) */
	if ((r = kagid_gc_start(&k, k.conf->ca_group_commit_ms != NULL ?
	    (unsigned)strtoul(k.conf->ca_group_commit_ms, NULL, 10) : 0)) != 0)
		goto out;
	/* terminals present certificates from our own CA (R-TERM-1) */
	if ((r = kagid_tls_trust_ca(&k)) != 0)
		goto out;
	/* My Number cards: the JPKI authentication CA, if configured */
	if ((r = kagid_jpki_open(&k)) != 0)
		goto out;
	if ((r = signals_add(&k)) != 0)
		goto out;
	if ((r = kagid_listen_all(&k)) != 0) {
		refuse(_("cannot listen: %s (see the log)"),
		    kagi_strerror(r));
		goto out;
	}
	if ((k.https_addr[0] || k.http_addr[0]) && addr_write(&k) != 0)
		kagi_log_warn("cannot write %s", k.addr_path);
	/* sweeps every [sweep] interval (sweep.c) */
	if ((r = kagid_sweep_timer_start(&k)) != 0)
		goto out;
	k.started = kagi_now();
	kagi_log_info("event=started version=%s pid=%ld config=%s",
	    KAGI_VERSION, (long)getpid(), k.conf->path);
	ready(&k);
	if (event_base_dispatch(k.base) < 0) {
		kagi_log_err("event loop failed");
		r = KAGI_ERR_SYSTEM;
		goto out;
	}
	kagi_log_info("event=stopped");
	r = 0;
out:
	free(mdb);
	kagid_cleanup(&k);
	return r;
}
