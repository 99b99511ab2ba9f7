/*
 * kagi-cardd: the terminal daemon (docs/man/kagi-cardd.8).
 *
 *   kagi-cardd [--config FILE] [--foreground] [--socket PATH]
 *
 * Reads [cardd] from kagi.conf, loads the PKCS#11 module once, opens the
 * terminal's mTLS client to kagid, and serves the local socket: one thread
 * per connection (at most CARDD_MAX_CONNS), each identified by SO_PEERCRED.
 * The process is not dumpable and has no core files: it handles PINs.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "cardd_int.h"
#include "kagi/file.h"
#include "kagi/i18n.h"
#include "kagi/json.h"
#include "kagi/log.h"
#include "kagi/secmem.h"

#define OPENSC_DEFAULT "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"

static volatile sig_atomic_t stop_flag;

static void
on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void
usage(void)
{
	fprintf(stderr, "%s", _("usage: kagi-cardd [--config FILE] "
	    "[--foreground] [--socket PATH]\n"));
}

static int
listen_unix(const char *path)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd = -1;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		kagi_log_err("socket path too long: %s", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* Replace a stale socket, never another kind of file. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			kagi_log_err("%s exists and is not a socket", path);
			return -1;
		}
		(void)unlink(path);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		kagi_log_err("socket: %s", strerror(errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    chmod(path, 0666) != 0 || listen(fd, 16) != 0) {
		/* Anyone may connect; SO_PEERCRED decides what they may ask. */
		kagi_log_err("cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Close after our last frame so that the peer reads it: unread input at
 * close() would make the kernel reset the connection and drop the RESULT.
 * Drain at most 64 KiB for at most 200 ms.
 */
static void
linger_close(int fd)
{
	struct pollfd pfd;
	char buf[4096];
	size_t total = 0;
	ssize_t n;

	(void)shutdown(fd, SHUT_WR);
	while (total < 64u * 1024u) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, 200) <= 0)
			break;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n <= 0)
			break;
		total += (size_t)n;
	}
	close(fd);
}

static void *
conn_thread(void *arg)
{
	struct cardd_peer *p = arg;
	struct cardd *d = p->d;

	if (cardd_counter_peek(p->fd, CARDD_REQUEST_TIMEOUT_MS))
		cardd_counter_serve(p); /* enrol.c: the counter's requests */
	else
		cardd_serve(p);
	linger_close(p->fd);
	free(p);
	pthread_mutex_lock(&d->conn_lock);
	d->nconns--;
	pthread_mutex_unlock(&d->conn_lock);
	return NULL;
}

static void
accept_one(struct cardd *d)
{
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	struct cardd_peer *p = NULL;
	pthread_attr_t attr;
	pthread_t t;
	int fd, busy;

	fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 ||
	    cl != sizeof(cred)) {
		kagi_log_err("SO_PEERCRED: %s", strerror(errno));
		close(fd);
		return;
	}
	pthread_mutex_lock(&d->conn_lock);
	busy = d->nconns >= CARDD_MAX_CONNS;
	if (!busy)
		d->nconns++;
	pthread_mutex_unlock(&d->conn_lock);
	if (busy) {
		kagi_log_warn("event=cardd_busy uid=%ld pid=%ld",
		    (long)cred.uid, (long)cred.pid);
		close(fd);
		return;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL)
		goto fail;
	p->d = d;
	p->fd = fd;
	p->uid = cred.uid;
	p->pid = cred.pid;
	if (pthread_attr_init(&attr) != 0)
		goto fail;
	(void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, conn_thread, p) != 0) {
		pthread_attr_destroy(&attr);
		goto fail;
	}
	pthread_attr_destroy(&attr);
	return;
fail:
	free(p);
	close(fd);
	pthread_mutex_lock(&d->conn_lock);
	d->nconns--;
	pthread_mutex_unlock(&d->conn_lock);
}

/* The terminal's client: [cardd] kagid_url, terminal_cert/key, ca. */
static int
open_kagid(struct cardd *d)
{
	struct kagi_conf cc;

	if (d->conf->cardd_kagid_url == NULL ||
	    d->conf->cardd_terminal_cert == NULL ||
	    d->conf->cardd_terminal_key == NULL || d->conf->cardd_ca == NULL) {
		kagi_log_err("[cardd] needs kagid_url, terminal_cert, "
		    "terminal_key and ca");
		return KAGI_ERR_INVALID;
	}
	memset(&cc, 0, sizeof(cc));
	cc.client_url = d->conf->cardd_kagid_url;
	cc.client_cert = d->conf->cardd_terminal_cert;
	cc.client_key = d->conf->cardd_terminal_key;
	cc.client_ca = d->conf->cardd_ca;
	return kagi_client_open(&cc, &d->kagid);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cardd d;
	struct sigaction sa;
	struct pollfd pfd;
	const char *config = NULL, *sock_override = NULL, *module;
	char errbuf[512];
	int c, foreground = 0, level = KAGI_LOG_INFO, i, rc = 1;

	kagi_i18n_init();
	kagi_json_wipe_on_free(); /* JSON may carry passwords */
	memset(&d, 0, sizeof(d));
	d.listen_fd = -1;
	while ((c = getopt_long(argc, argv, "c:fs:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		case 's':
			sock_override = optarg;
			break;
		default:
			usage();
			return c == 'h' ? 0 : 2;
		}
	}
	if (optind != argc) {
		usage();
		return 2;
	}
	if (kagi_process_harden() != 0)
		return 1;
	if (kagi_conf_load(kagi_conf_locate(config), &d.conf, errbuf,
	    sizeof(errbuf)) != 0) {
		fprintf(stderr, "kagi-cardd: %s\n", errbuf);
		return 1;
	}
	if (!foreground || strcmp(d.conf->log, "syslog") == 0) {
		openlog("kagi-cardd", LOG_PID, LOG_AUTHPRIV);
		kagi_log_set_handler(kagi_log_syslog_handler, NULL);
	}
	if (kagi_log_level_parse(d.conf->log_level, &level) == 0)
		kagi_log_set_level(level);
	d.socket_path = sock_override != NULL ? sock_override :
	    d.conf->cardd_socket != NULL ? d.conf->cardd_socket :
	    CARDD_SOCKET_DEFAULT;
	d.card_wait = d.conf->cardd_card_wait != NULL ?
	    atoi(d.conf->cardd_card_wait) : 30;
	d.fido_on = d.conf->cardd_fido == NULL ||
	    strcmp(d.conf->cardd_fido, "on") == 0;
	d.lock_command = d.conf->cardd_lock_command != NULL ?
	    d.conf->cardd_lock_command : CARDD_LOCK_DEFAULT;
	d.priv_end_command = d.conf->cardd_priv_end_command != NULL ?
	    d.conf->cardd_priv_end_command : CARDD_PRIV_END_DEFAULT;
	if (pthread_mutex_init(&d.fido_lock, NULL) != 0 ||
	    pthread_mutex_init(&d.sess_lock, NULL) != 0 ||
	    pthread_mutex_init(&d.conn_lock, NULL) != 0)
		goto out;

	module = d.conf->cardd_pkcs11_module != NULL ?
	    d.conf->cardd_pkcs11_module : OPENSC_DEFAULT;
	/* Loaded once: OpenSC's start-up costs seconds per load. */
	if (hsm_open(module, &d.hsm) != 0) {
		kagi_log_err("cannot load the PKCS#11 module %s", module);
		goto out;
	}
	if (cardd_cards_new(d.hsm, &d.cards) != 0)
		goto out;
	if (d.fido_on && cardd_fido_new(d.conf->cardd_fido_device,
	    d.conf->cardd_insecure_fido_test_io_module, &d.fido) != 0)
		goto out;
	if (open_kagid(&d) != 0)
		goto out;
	/* card removal and window ends (R-CARD-2, R-LOGIN-3) */
	if (cardd_watch_start(&d, module, &d.watch) != 0)
		goto out;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);

	if ((d.listen_fd = listen_unix(d.socket_path)) < 0)
		goto out;
	kagi_log_info("event=cardd_start socket=%s module=%s kagid=%s "
	    "fido=%s card_wait=%d", d.socket_path, module,
	    kagi_client_endpoint(d.kagid), d.fido != NULL ? "on" : "off",
	    d.card_wait);
	while (!stop_flag) {
		pfd.fd = d.listen_fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, 500) > 0 && (pfd.revents & POLLIN) != 0)
			accept_one(&d);
	}
	kagi_log_info("event=cardd_stop");
	rc = 0;
out:
	if (d.listen_fd >= 0) {
		close(d.listen_fd);
		(void)unlink(d.socket_path);
	}
	/* Let running logins finish (they hold the module) for up to 5 s. */
	for (i = 0; i < 50; i++) {
		int n;

		pthread_mutex_lock(&d.conn_lock);
		n = d.nconns;
		pthread_mutex_unlock(&d.conn_lock);
		if (n == 0)
			break;
		usleep(100 * 1000);
	}
	/* the watcher after the logins: their hook may still add a session */
	if (cardd_watch_stop(d.watch) != 0)
		i = 50; /* an action still runs: keep what it uses */
	if (i < 50) {
		kagi_client_free(d.kagid);
		cardd_fido_free(d.fido);
		cardd_cards_free(d.cards);
		hsm_close(d.hsm);
		kagi_conf_free(d.conf);
	}
	return rc;
}
