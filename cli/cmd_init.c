/*
 * kagi init --dir DIR [--port N] [--http-port N]
 *
 * Writes DIR/kagi.conf (relative paths, so the directory can be moved) and
 * runs `kagid --config DIR/kagi.conf --init`, which creates everything else
 * (policy.ini, the store, the SoftHSM2 token, the TLS identities).  The CLI
 * holds no business logic: it only writes the configuration that names the
 * layout.  A directory that already has kagi.conf is refused and left
 * unchanged; if kagid --init fails, the kagi.conf written here is removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "kagi/err.h"
#include "kagi/file.h"
#include "kagi/i18n.h"
#include "kagi/json.h"
#include "kagi/log.h"
#include "kagi/util.h"

#include "verbs.h"

#define INIT_DEFAULT_PORT 7443
#define INIT_DEFAULT_HTTP_PORT 7480
#define INIT_KAGID_OUT_MAX (1024u * 1024u)

static int
parse_port(const char *s, long *out)
{
	char *end = NULL;
	long n;

	*out = 0;
	if (s == NULL || s[0] < '0' || s[0] > '9')
		return KAGI_ERR_INVALID;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || end == NULL || *end != '\0' || n < 1 || n > 65535)
		return KAGI_ERR_INVALID;
	*out = n;
	return 0;
}

static char *
conf_text(long port, long http_port, const char *ca_key)
{
	char *s = NULL;
	char when[64];

	if (kagi_time_format_utc(kagi_now(), when, sizeof(when)) != 0)
		snprintf(when, sizeof(when), "unknown time");
	if (asprintf(&s,
	    "; kagi deployment, written by `kagi init` at %s.\n"
	    "; Relative paths are relative to this file's directory.\n"
	    "; See kagi(1) and kagid(8).\n"
	    "\n"
	    "[kagid]\n"
	    "data_dir = data\n"
	    "policy = policy.ini\n"
	    "listen = 127.0.0.1:%ld\n"
	    "http_listen = 127.0.0.1:%ld\n"
	    "socket = run/kagid.sock\n"
	    "pid_file = run/kagid.pid\n"
	    "tls_cert = tls/kagid.crt\n"
	    "tls_key = tls/kagid.key\n"
	    "tls_client_ca = tls/ca.crt\n"
	    "log = stderr\n"
	    "\n"
	    "[hsm]\n"
	    "module = /usr/lib/softhsm/libsofthsm2.so\n"
	    "token_label = kagi\n"
	    "pin_file = hsm/pin\n"
	    "softhsm2_conf = hsm/softhsm2.conf\n"
	    "\n"
	    "[client]\n"
	    "socket = run/kagid.sock\n"
	    "url = https://127.0.0.1:%ld\n"
	    "cert = tls/admin.crt\n"
	    "key = tls/admin.key\n"
	    "ca = tls/ca.crt\n"
	    "\n"
	    "[ca]\n"
	    "; CA and OCSP signer keys made in the HSM by kagid --init\n"
	    "key_type = %s\n", when, port, http_port, port, ca_key) < 0)
		return NULL;
	return s;
}

/* $KAGID, else kagid next to this program, else "kagid" from PATH. */
static char *
find_kagid(void)
{
	const char *env = getenv("KAGID");
	char self[PATH_MAX];
	char *dir = NULL, *p = NULL;
	ssize_t n;

	if (env != NULL && env[0] != '\0')
		return strdup(env);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		if ((dir = kagi_path_dirname(self)) != NULL &&
		    (p = kagi_path_join(dir, "kagid")) != NULL &&
		    access(p, X_OK) == 0) {
			free(dir);
			return p;
		}
		free(p);
		free(dir);
	}
	return strdup("kagid");
}

/*
 * Run kagid --config CONF --init [--json].  Its stdout is captured when
 * capture is set (JSON mode), else inherited.  *status is its exit code
 * (127 when it could not be started, 128+N after signal N).
 */
static int
run_kagid_init(const char *kagid, const char *conf, int json, int capture,
    char **out, int *status)
{
	int r = KAGI_ERR_INTERNAL;
	int fds[2] = { -1, -1 };
	pid_t pid = -1;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;
	int ws = 0;
	char *args[6];
	size_t na = 0;

	*out = NULL;
	*status = 127;
	args[na++] = (char *)kagid;
	args[na++] = (char *)"--config";
	args[na++] = (char *)conf;
	args[na++] = (char *)"--init";
	if (json)
		args[na++] = (char *)"--json";
	args[na] = NULL;
	if (capture && pipe2(fds, O_CLOEXEC) != 0) {
		kagi_log_err("pipe2: %s", strerror(errno));
		return KAGI_ERR_SYSTEM;
	}
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) < 0) {
		kagi_log_err("fork: %s", strerror(errno));
		r = KAGI_ERR_SYSTEM;
		goto out;
	}
	if (pid == 0) {
		if (capture && dup2(fds[1], STDOUT_FILENO) < 0)
			_exit(127);
		if (strchr(kagid, '/') != NULL)
			execv(kagid, args);
		else
			execvp(kagid, args);
		_exit(127);
	}
	if (capture) {
		close(fds[1]);
		fds[1] = -1;
		for (;;) {
			if (cap - len < 4096) {
				char *nb;
				if (cap >= INIT_KAGID_OUT_MAX)
					break; /* ignore the rest */
				cap = cap ? cap * 2 : 8192;
				if ((nb = realloc(buf, cap + 1)) == NULL) {
					r = KAGI_ERR_NOMEM;
					goto out;
				}
				buf = nb;
			}
			n = read(fds[0], buf + len, cap - len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			len += (size_t)n;
		}
		if (buf != NULL)
			buf[len] = '\0';
	}
	while (waitpid(pid, &ws, 0) < 0) {
		if (errno != EINTR) {
			kagi_log_err("waitpid: %s", strerror(errno));
			r = KAGI_ERR_SYSTEM;
			goto out;
		}
	}
	pid = -1;
	if (WIFEXITED(ws))
		*status = WEXITSTATUS(ws);
	else if (WIFSIGNALED(ws))
		*status = 128 + WTERMSIG(ws);
	*out = buf;
	buf = NULL;
	r = 0;
out:
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	free(buf);
	return r;
}

int
cmd_init(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	const char *dir_s = NULL, *port_s = NULL, *http_s = NULL;
	const char *cakey_s = "p256";
	const struct cli_opt opts[] = {
		{ "dir", 0, required_argument, &dir_s, NULL },
		{ "port", 0, required_argument, &port_s, NULL },
		{ "http-port", 0, required_argument, &http_s, NULL },
		{ "ca-key", 0, required_argument, &cakey_s, NULL },
		{ NULL, 0, 0, NULL, NULL },
	};
	long port = INIT_DEFAULT_PORT, http_port = INIT_DEFAULT_HTTP_PORT;
	char *dir = NULL, *conf = NULL, *text = NULL, *kagid = NULL;
	char *kout = NULL;
	json_t *o = NULL, *kj = NULL;
	char perr[160];
	struct stat st;
	int first, code, r, status = 0, created = 0;

	if ((code = cli_parse(cli, v, argc, argv, opts, &first)) != CLI_DONE)
		return code;
	if (first < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first]);
	if (dir_s == NULL || dir_s[0] == '\0')
		return cli_usage_error(cli, v, _("--dir DIR is required"));
	if (port_s != NULL && parse_port(port_s, &port) != 0)
		return cli_usage_error(cli, v,
		    _("--port needs a port number (1-65535), not '%s'"), port_s);
	if (http_s != NULL && parse_port(http_s, &http_port) != 0)
		return cli_usage_error(cli, v,
		    _("--http-port needs a port number (1-65535), not '%s'"),
		    http_s);
	if (strcmp(cakey_s, "p256") != 0 && strcmp(cakey_s, "p384") != 0 &&
	    strcmp(cakey_s, "rsa3072") != 0)
		return cli_usage_error(cli, v,
		    _("--ca-key must be p256, p384 or rsa3072, not '%s'"),
		    cakey_s);
	if (port == http_port)
		return cli_usage_error(cli, v,
		    _("--port and --http-port must differ"));

	/* Refuse an existing deployment before touching anything. */
	if ((conf = kagi_path_join(dir_s, "kagi.conf")) == NULL) {
		code = cli_error(cli, KAGI_ERR_NOMEM, NULL, "%s",
		    kagi_strerror(KAGI_ERR_NOMEM));
		goto out;
	}
	if (lstat(conf, &st) == 0) {
		code = cli_error(cli, KAGI_ERR_EXISTS, NULL,
		    _("%s already exists; nothing was changed (choose another "
		    "directory)"), conf);
		goto out;
	}
	if (errno != ENOENT) {
		code = cli_error(cli, KAGI_ERR_SYSTEM, NULL,
		    _("cannot use %s: %s"), conf, strerror(errno));
		goto out;
	}
	if ((r = kagi_mkdir_p(dir_s, 0750)) != 0) {
		code = cli_error(cli, r, NULL, _("cannot create %s: %s"),
		    dir_s, kagi_strerror(r));
		goto out;
	}
	if ((dir = realpath(dir_s, NULL)) == NULL) {
		code = cli_error(cli, KAGI_ERR_SYSTEM, NULL,
		    _("cannot resolve %s: %s"), dir_s, strerror(errno));
		goto out;
	}
	free(conf);
	if ((conf = kagi_path_join(dir, "kagi.conf")) == NULL ||
	    (text = conf_text(port, http_port, cakey_s)) == NULL) {
		code = cli_error(cli, KAGI_ERR_NOMEM, NULL, "%s",
		    kagi_strerror(KAGI_ERR_NOMEM));
		goto out;
	}
	if ((r = kagi_file_write_new(conf, text, strlen(text), 0640)) != 0) {
		code = cli_error(cli, r, NULL, _("cannot write %s: %s"), conf,
		    kagi_strerror(r));
		goto out;
	}
	created = 1;
	if (!cli->quiet && !cli->json)
		printf(_("Wrote %s.\nRunning kagid --init to create the "
		    "deployment...\n"), conf);
	if ((kagid = find_kagid()) == NULL) {
		code = cli_error(cli, KAGI_ERR_NOMEM, NULL, "%s",
		    kagi_strerror(KAGI_ERR_NOMEM));
		goto out;
	}
	if ((r = run_kagid_init(kagid, conf, cli->json, cli->json, &kout,
	    &status)) != 0) {
		code = cli_error(cli, r, NULL, _("cannot run %s: %s"), kagid,
		    kagi_strerror(r));
		goto out;
	}
	if (kout != NULL && kagi_json_parse_object(kout, strlen(kout), &kj,
	    perr, sizeof(perr)) != 0)
		kj = kout[0] ? json_string(kout) : NULL;
	if (status != 0) {
		json_t *extra = json_pack("{s:s, s:i, s:O?}", "kagid", kagid,
		    "kagid_status", status, "kagid_output", kj);
		if (status == 127)
			code = cli_error(cli, KAGI_ERR_NOT_FOUND, extra,
			    _("cannot run %s (set KAGID to its path); %s was "
			    "removed"), kagid, conf);
		else
			code = cli_error(cli, KAGI_ERR_INTERNAL, extra,
			    _("kagid --init failed (exit status %d); %s was "
			    "removed"), status, conf);
		json_decref(extra);
		/* kagid's own exit code says why (e.g. 9: unsafe mode). */
		if (status > 1 && status < 126)
			code = status;
		goto out;
	}
	created = 0; /* the deployment is complete: keep it */
	if (cli->json) {
		char *a = NULL, *b = NULL;
		if (asprintf(&a, "kagid --config %s --foreground", conf) >= 0 &&
		    asprintf(&b, "kagi --config %s status", conf) >= 0)
			o = json_pack("{s:s, s:s, s:O?, s:[s, s]}", "dir", dir,
			    "config", conf, "kagid", kj, "next", a, b);
		free(a);
		free(b);
		code = cli_print_json(cli, o);
		goto out;
	}
	if (!cli->quiet) {
		printf(_("\nThe deployment in %s is ready.\nNext steps:\n"),
		    dir);
		printf(_("  start kagid:       kagid --config %s --foreground\n"),
		    conf);
		printf(_("  check that it answers:  kagi --config %s status\n"),
		    conf);
		printf(_("  (or export KAGI_CONFIG=%s once)\n"), conf);
	}
	code = 0;
out:
	if (created && conf != NULL && unlink(conf) != 0)
		kagi_log_err("cannot remove %s: %s", conf, strerror(errno));
	json_decref(o);
	json_decref(kj);
	free(kout);
	free(kagid);
	free(text);
	free(conf);
	free(dir);
	return code;
}
