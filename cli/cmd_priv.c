/*
 * kagi priv request | approve | deny | revoke | list: privileged windows
 * (R-PRIV-1, R-PRIV-2, R-PRIV-7, R-ID-3).  Every decision is kagid's
 * (server/api_priv.c); this file only talks to the API and prints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kagi/client.h"
#include "kagi/conf.h"
#include "kagi/err.h"
#include "kagi/i18n.h"
#include "kagi/util.h"

#include "verbs.h"

const struct cli_verb cli_priv_verbs[] = {
	{ "request", N_("ACCOUNT --for DURATION --reason TEXT [--start TIME] "
	  "[--delegate]"),
	  N_("ask for a time window on a privileged account"),
	  N_("Options:\n"
	     "  --for DURATION  length of the window: 90s, 30m, 2h, 1d "
	     "(at most the policy's\n"
	     "                  [privileged] max_window, max_window_delegate "
	     "for delegates)\n"
	     "  --reason TEXT   why the window is needed (recorded in the "
	     "audit log)\n"
	     "  --start TIME    when it opens (RFC 3339 or YYYY-MM-DD; "
	     "default: now)\n"
	     "  --delegate      a window for a delegate (代行者): the CISO "
	     "must approve it\n\n"
	     "Another operator approves it with 'kagi priv approve ID'; "
	     "nobody may approve\ntheir own request.\n"),
	  cmd_priv_request, NULL },
	{ "approve", N_("ID"), N_("approve a requested window"),
	  N_("The approver must not be the requester (R-ID-3); a delegate "
	     "window needs\nthe CISO role (R-PRIV-2).  Refusals are "
	     "recorded in the audit log.\n"),
	  cmd_priv_approve, NULL },
	{ "deny", N_("ID"), N_("deny a requested window"), NULL,
	  cmd_priv_deny, NULL },
	{ "revoke", N_("ID"), N_("end a requested or approved window now"),
	  NULL, cmd_priv_revoke, NULL },
	{ "list", N_("[--account LOGIN] [--state STATE]"),
	  N_("list windows"),
	  N_("STATE is requested, approved, denied, revoked or ended.\n"),
	  cmd_priv_list, NULL },
	{ NULL, NULL, NULL, NULL, NULL, NULL },
};

static const char *
state_text(const char *s)
{
	if (s == NULL)
		return "?";
	if (strcmp(s, "requested") == 0)
		return _("requested");
	if (strcmp(s, "approved") == 0)
		return _("approved");
	if (strcmp(s, "denied") == 0)
		return _("denied");
	if (strcmp(s, "revoked") == 0)
		return _("revoked");
	if (strcmp(s, "ended") == 0)
		return _("ended");
	return s;
}

/* Why kagid refused a decision, for a person. */
static const char *
refusal_text(const char *why)
{
	if (why == NULL)
		return NULL;
	if (strcmp(why, "self_approval") == 0)
		return _("you cannot approve your own request; another "
		    "approver must do it (R-ID-3)");
	if (strcmp(why, "delegate_needs_ciso") == 0)
		return _("a delegate window must be approved by the CISO "
		    "(R-PRIV-2)");
	if (strcmp(why, "too_long") == 0)
		return _("the window is longer than the policy allows");
	if (strcmp(why, "window_over") == 0)
		return _("the window has already ended");
	if (strcmp(why, "not_requested") == 0)
		return _("the window is not waiting for a decision");
	if (strcmp(why, "not_open") == 0)
		return _("the window is already closed");
	return NULL;
}

static void
print_grant(const json_t *g)
{
	char s[64], e[64];
	const char *acct = json_string_value(json_object_get(g, "account"));

	if (cli_format_time(json_object_get(g, "start"), s, sizeof(s)) != 0)
		snprintf(s, sizeof(s), "-");
	if (cli_format_time(json_object_get(g, "end"), e, sizeof(e)) != 0)
		snprintf(e, sizeof(e), "-");
	printf(_("window %s: %s, account %s, %s to %s%s\n"),
	    json_string_value(json_object_get(g, "id")),
	    state_text(json_string_value(json_object_get(g, "state"))),
	    acct != NULL ? acct : "?", s, e,
	    json_is_true(json_object_get(g, "delegate")) ?
	    _(" (delegate)") : "");
}

static int
call(struct cli *cli, const char *method, const char *path,
    const json_t *body, json_t **resp)
{
	struct kagi_conf *conf = NULL;
	struct kagi_client *client = NULL;
	long http = 0;
	int code, r;

	*resp = NULL;
	if ((code = cli_connect(cli, &conf, &client)) != 0)
		return code;
	r = kagi_client_call(client, method, path, body, resp, &http);
	if (r != 0) {
		const char *why = refusal_text(json_string_value(
		    json_object_get(*resp, "reason")));
		if (why != NULL)
			code = cli_error(cli, r, *resp, "%s", why);
		else
			code = cli_api_error(cli, client, r, *resp);
		json_decref(*resp);
		*resp = NULL;
	}
	kagi_client_free(client);
	kagi_conf_free(conf);
	return code;
}

int
cmd_priv_request(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	const char *dur = NULL, *reason = NULL, *start = NULL;
	int delegate = 0, first, code;
	int64_t secs = 0, t0 = 0;
	char ts[64];
	json_t *body = NULL, *resp = NULL;
	const struct cli_opt opts[] = {
		{ "for", 0, required_argument, &dur, NULL },
		{ "reason", 0, required_argument, &reason, NULL },
		{ "start", 0, required_argument, &start, NULL },
		{ "delegate", 0, no_argument, NULL, &delegate },
		{ NULL, 0, 0, NULL, NULL },
	};

	if ((code = cli_parse(cli, v, argc, argv, opts, &first)) != CLI_DONE)
		return code;
	if (first >= argc)
		return cli_usage_error(cli, v, _("the account is missing"));
	if (first + 1 < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first + 1]);
	if (dur == NULL || reason == NULL)
		return cli_usage_error(cli, v,
		    _("--for and --reason are required"));
	if (kagi_duration_parse(dur, &secs) != 0 || secs <= 0)
		return cli_usage_error(cli, v,
		    _("--for: '%s' is not a duration like 30m or 2h"), dur);
	if (start != NULL && (kagi_time_parse(start, &t0) != 0 ||
	    kagi_time_format_utc(t0, ts, sizeof(ts)) != 0))
		return cli_usage_error(cli, v,
		    _("--start: '%s' is not a time (RFC 3339 or YYYY-MM-DD)"),
		    start);
	body = json_pack("{s:s, s:I, s:s, s:b}", "account", argv[first],
	    "duration", (json_int_t)secs, "reason", reason, "delegate",
	    delegate);
	if (body != NULL && start != NULL)
		json_object_set_new(body, "start", json_string(ts));
	if (body == NULL)
		return cli_error(cli, KAGI_ERR_NOMEM, NULL, "%s",
		    kagi_strerror(KAGI_ERR_NOMEM));
	code = call(cli, "POST", "/v1/priv/request", body, &resp);
	json_decref(body);
	if (code != 0)
		return code;
	if (cli->json) {
		code = cli_print_json(cli, resp);
	} else {
		print_grant(resp);
		printf(_("Another operator approves it with: kagi priv "
		    "approve %s\n"), json_string_value(json_object_get(resp,
		    "id")));
	}
	json_decref(resp);
	return code;
}

static int
decide(struct cli *cli, const struct cli_verb *v, int argc, char **argv,
    const char *path)
{
	json_t *body = NULL, *resp = NULL;
	int first, code;

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE)
		return code;
	if (first >= argc)
		return cli_usage_error(cli, v, _("the window id is missing"));
	if (first + 1 < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first + 1]);
	if ((body = json_pack("{s:s}", "id", argv[first])) == NULL)
		return cli_error(cli, KAGI_ERR_NOMEM, NULL, "%s",
		    kagi_strerror(KAGI_ERR_NOMEM));
	code = call(cli, "POST", path, body, &resp);
	json_decref(body);
	if (code != 0)
		return code;
	if (cli->json)
		code = cli_print_json(cli, resp);
	else
		print_grant(resp);
	json_decref(resp);
	return code;
}

int
cmd_priv_approve(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	return decide(cli, v, argc, argv, "/v1/priv/approve");
}

int
cmd_priv_deny(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	return decide(cli, v, argc, argv, "/v1/priv/deny");
}

int
cmd_priv_revoke(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	return decide(cli, v, argc, argv, "/v1/priv/revoke");
}

/* Query values here are logins and state names: no escaping needed, but
 * anything else is refused rather than sent. */
static int
query_safe(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
		    *s == '.' || *s == '@'))
			return 0;
	return 1;
}

int
cmd_priv_list(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	const char *account = NULL, *state = NULL;
	char path[256], s[64], e[64];
	json_t *resp = NULL, *g;
	size_t i;
	int first, code;
	const struct cli_opt opts[] = {
		{ "account", 0, required_argument, &account, NULL },
		{ "state", 0, required_argument, &state, NULL },
		{ NULL, 0, 0, NULL, NULL },
	};

	if ((code = cli_parse(cli, v, argc, argv, opts, &first)) != CLI_DONE)
		return code;
	if (first < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first]);
	if ((account != NULL && (!query_safe(account) ||
	    strlen(account) > 32)) || (state != NULL && !query_safe(state)))
		return cli_usage_error(cli, v, _("invalid --account or "
		    "--state value"));
	snprintf(path, sizeof(path), "/v1/priv/list%s%s%s%s%s",
	    account || state ? "?" : "", account ? "account=" : "",
	    account ? account : "", account && state ? "&" : "",
	    state ? "state=" : "");
	if (state != NULL)
		strncat(path, state, sizeof(path) - strlen(path) - 1);
	if ((code = call(cli, "GET", path, NULL, &resp)) != 0)
		return code;
	if (cli->json) {
		code = cli_print_json(cli, resp);
		json_decref(resp);
		return code;
	}
	if (json_array_size(json_object_get(resp, "grants")) == 0)
		printf(_("no windows\n"));
	else
		printf("%-16s  %-16s  %-9s  %-25s  %-25s  %s\n", _("ID"),
		    _("ACCOUNT"), _("STATE"), _("START"), _("END"),
		    _("REQUESTER / APPROVER"));
	json_array_foreach(json_object_get(resp, "grants"), i, g) {
		const char *ap = json_string_value(json_object_get(g,
		    "approver"));
		if (cli_format_time(json_object_get(g, "start"), s,
		    sizeof(s)) != 0)
			snprintf(s, sizeof(s), "-");
		if (cli_format_time(json_object_get(g, "end"), e,
		    sizeof(e)) != 0)
			snprintf(e, sizeof(e), "-");
		printf("%-16s  %-16s  %-9s  %-25s  %-25s  %s / %s%s\n",
		    json_string_value(json_object_get(g, "id")),
		    json_string_value(json_object_get(g, "account")),
		    state_text(json_string_value(json_object_get(g,
		    "state"))), s, e,
		    json_string_value(json_object_get(g, "requester")),
		    ap != NULL && ap[0] ? ap : "-",
		    json_is_true(json_object_get(g, "delegate")) ?
		    _(" (delegate)") : "");
	}
	json_decref(resp);
	return 0;
}
