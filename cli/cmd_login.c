/*
 * kagi login / kagi logout: an operator at the counter logs in once with
 * their own staff card (issue 6; docs/CARDS.md "Operators at the counter").
 *
 * login runs a card login through the counter PC's kagi-cardd, as the PAM
 * module does (service "kagi-counter", the caller's own account unless
 * root names one), and keeps kagid's session id in a file only the
 * operator can read (cli_operator_session_file).  Every later kagi call
 * from this PC then sends it (Kagi-Operator-Session) over mTLS with the
 * counter terminal's certificate ([client] cert); kagid takes the operator
 * from that session, bound to that terminal (server/authz.c).  No
 * operator password exists.  logout closes the session at kagid.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "kagi/cardd.h"
#include "kagi/client.h"
#include "kagi/conf.h"
#include "kagi/err.h"
#include "kagi/file.h"
#include "kagi/i18n.h"
#include "kagi/secmem.h"

#include "verbs.h"

#define LOGIN_TIMEOUT_MS (180 * 1000)

struct login_ctx {
	struct cli *cli;
	FILE *pinf;
};

static int
login_conv(uint8_t style, uint16_t prompt, const char *arg, char **answer,
    void *ctx)
{
	struct login_ctx *lc = ctx;
	const char *text;
	char buf[512];

	*answer = NULL;
	if ((text = cardd_prompt_text(prompt, arg, buf, sizeof(buf))) == NULL)
		return 1;
	if (style == CARDD_STYLE_ECHO_OFF || style == CARDD_STYLE_ECHO_ON)
		return cli_read_secret(lc->pinf, text, answer) != 0;
	if (!lc->cli->quiet || style == CARDD_STYLE_ERROR)
		fprintf(style == CARDD_STYLE_ERROR || lc->cli->json ? stderr :
		    stdout, "%s\n", text);
	fflush(stdout);
	return 0;
}

static const char *
whoami(char *buf, size_t len)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];

	if (getpwuid_r(getuid(), &pw, tmp, sizeof(tmp), &res) != 0 ||
	    res == NULL || (size_t)snprintf(buf, len, "%s", pw.pw_name) >= len)
		return NULL;
	return buf;
}

int
cmd_login(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	const char *sock = NULL, *pinfd = NULL, *as = NULL;
	const struct cli_opt opts[] = {
		{ "cardd-socket", 0, required_argument, &sock, NULL },
		{ "pin-fd", 0, required_argument, &pinfd, NULL },
		{ "user", 0, required_argument, &as, NULL },
		{ NULL, 0, 0, NULL, NULL },
	};
	struct kagi_conf *conf = NULL;
	struct cardd_conn *cc = NULL;
	struct cardd_msg req, res;
	struct login_ctx lc;
	char me[CARDD_NAME_MAX + 1], path[512], errbuf[256];
	const char *cpath = kagi_conf_locate(cli->config);
	int first, code, r;

	memset(&req, 0, sizeof(req));
	memset(&res, 0, sizeof(res));
	memset(&lc, 0, sizeof(lc));
	lc.cli = cli;
	if ((code = cli_parse(cli, v, argc, argv, opts, &first)) != CLI_DONE)
		return code;
	if (first < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first]);
	if (as == NULL && (as = whoami(me, sizeof(me))) == NULL)
		return cli_error(cli, KAGI_ERR_NOT_FOUND, NULL, "%s",
		    _("cannot tell who is logged in on this PC; use --user"));
	if (pinfd != NULL) {
		char *end = NULL;
		long fd = strtol(pinfd, &end, 10);
		if (end == pinfd || *end != '\0' || fd < 0 || fd > 1023 ||
		    (lc.pinf = fdopen((int)fd, "r")) == NULL)
			return cli_usage_error(cli, v,
			    _("--pin-fd needs an open file descriptor"));
	}
	if (cli_operator_session_file(path, sizeof(path)) == NULL) {
		code = cli_error(cli, KAGI_ERR_LIMIT, NULL, "%s",
		    _("the operator session file name is too long"));
		goto out;
	}
	errbuf[0] = '\0';
	if (sock == NULL && kagi_conf_load(cpath, &conf, errbuf,
	    sizeof(errbuf)) == 0 && conf->cardd_socket != NULL)
		sock = conf->cardd_socket;
	if ((r = cardd_conn_open(sock, &cc)) != 0) {
		code = cli_error(cli, r, NULL,
		    _("kagi-cardd is not reachable on this PC (%s): %s"),
		    sock != NULL ? sock : CARDD_SOCKET_DEFAULT,
		    kagi_strerror(r));
		goto out;
	}
	req.type = CARDD_MSG_AUTH;
	req.user = (char *)(uintptr_t)as;
	req.service = (char *)(uintptr_t)"kagi-counter";
	req.tty = (char *)(uintptr_t)"";
	req.rhost = (char *)(uintptr_t)"";
	if ((r = cardd_conn_request(cc, &req, login_conv, &lc,
	    LOGIN_TIMEOUT_MS, &res)) != 0) {
		code = cli_error(cli, r, NULL, _("the card login failed: %s"),
		    kagi_strerror(r));
		goto out;
	}
	if (res.code != 0) {
		code = cli_error(cli, res.code, NULL,
		    _("the card login was refused: %s"),
		    kagi_strerror(res.code));
		goto out;
	}
	if (res.must_change) {
		code = cli_error(cli, KAGI_ERR_DENIED, NULL, "%s",
		    _("your password must be changed first (log in at a "
		    "terminal)"));
		goto out;
	}
	if (res.session_id == NULL || strlen(res.session_id) != 32 ||
	    (r = kagi_file_write_atomic(path, res.session_id,
	    strlen(res.session_id), 0600)) != 0) {
		code = cli_error(cli, KAGI_ERR_SYSTEM, NULL,
		    _("cannot keep the session in %s"), path);
		goto out;
	}
	if (cli->json) {
		json_t *o = json_pack("{s:s, s:s, s:b}", "operator", as,
		    "session_file", path, "session_end", res.session_end != 0);
		code = cli_print_json(cli, o);
		json_decref(o);
		goto out;
	}
	if (!cli->quiet)
		printf(_("Logged in as %s with your staff card. kagi commands "
		    "on this PC now act as you until 'kagi logout' (at most 8 "
		    "hours).\n"), as);
	code = 0;
out:
	cardd_msg_clear(&res);
	cardd_conn_close(cc);
	kagi_conf_free(conf);
	if (lc.pinf != NULL)
		fclose(lc.pinf);
	return code;
}

int
cmd_logout(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	const struct cli_opt opts[] = { { NULL, 0, 0, NULL, NULL } };
	struct kagi_conf *conf = NULL;
	struct kagi_client *client = NULL;
	char path[512];
	uint8_t *id = NULL;
	size_t n = 0, len = 0;
	json_t *body = NULL, *resp = NULL;
	long http = 0;
	int first, code, r;

	if ((code = cli_parse(cli, v, argc, argv, opts, &first)) != CLI_DONE)
		return code;
	if (first < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first]);
	if (cli_operator_session_file(path, sizeof(path)) == NULL ||
	    kagi_file_read(path, 256, KAGI_FILE_SECRET, &id, &n) != 0)
		return cli_error(cli, KAGI_ERR_NOT_FOUND, NULL, "%s",
		    _("no operator is logged in on this PC"));
	len = n;
	while (n > 0 && (id[n - 1] == '\n' || id[n - 1] == '\r'))
		id[--n] = '\0';
	body = json_pack("{s:s}", "session_id", (char *)id);
	/* the file goes first: a failed close leaves no usable session here */
	(void)unlink(path);
	if ((code = cli_connect(cli, &conf, &client)) != 0)
		goto out;
	if (body == NULL || (r = kagi_client_call(client, "POST",
	    "/v1/login/close", body, &resp, &http)) != 0) {
		code = cli_error(cli, body == NULL ? KAGI_ERR_NOMEM : r, NULL,
		    _("the session could not be closed at kagid: %s"),
		    kagi_strerror(body == NULL ? KAGI_ERR_NOMEM : r));
		goto out;
	}
	if (!cli->quiet && !cli->json)
		printf("%s\n", _("Logged out."));
	code = cli->json ? cli_print_json(cli, resp) : 0;
out:
	kagi_secure_free(id, len + 1);
	json_decref(body);
	json_decref(resp);
	kagi_client_free(client);
	kagi_conf_free(conf);
	return code;
}
