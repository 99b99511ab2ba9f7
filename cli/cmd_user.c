/*
 * kagi user ...: accounts (docs/ACCOUNTS.md, docs/API.md).  Also the small
 * helpers the ID verbs share (cli_id_*, declared in verbs.h).
 *
 * The temporary password of `user add` and `user reset-password` is printed
 * once, here, and never again (R-PW-10); kagid keeps only its hash.
 */
#include <stdint.h>
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

/* ---- shared helpers ---- */

void
cli_id_seg(const char *s, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; s != NULL && *s != '\0' && o + 4 < len; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '@') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}

int
cli_id_error(struct cli *cli, const struct kagi_client *c, int err,
    const json_t *resp)
{
	const char *msg = NULL, *action = NULL;
	const json_t *needs, *v;
	char list[256];
	size_t i, off = 0;

	if (err == KAGI_ERR_UNAVAILABLE || err == KAGI_ERR_TIMEOUT ||
	    !json_is_object(resp))
		return cli_api_error(cli, c, err, resp);
	msg = json_string_value(json_object_get(resp, "message"));
	action = json_string_value(json_object_get(resp, "action"));
	needs = json_object_get(resp, "needs");
	if (err == KAGI_ERR_DENIED && action != NULL && json_is_array(needs)) {
		list[0] = '\0';
		json_array_foreach(needs, i, v) {
			if (json_is_string(v) && off < sizeof(list))
				off += (size_t)snprintf(list + off,
				    sizeof(list) - off, "%s%s", off ? ", " : "",
				    json_string_value(v));
		}
		return cli_error(cli, err, resp, _("not allowed: '%s' needs "
		    "one of the roles: %s"), action, list[0] ? list :
		    _("(local administrator only)"));
	}
	if (msg != NULL && msg[0] != '\0' && strcmp(msg, kagi_strerror(err)))
		return cli_error(cli, err, resp, "%s: %s", kagi_strerror(err),
		    msg);
	return cli_api_error(cli, c, err, resp);
}

int
cli_id_call(struct cli *cli, const char *method, const char *path,
    const json_t *body, json_t **resp)
{
	struct kagi_conf *conf = NULL;
	struct kagi_client *client = NULL;
	long http = 0;
	int code, r;

	*resp = NULL;
	if ((code = cli_connect(cli, &conf, &client)) != 0)
		return code;
	if ((r = kagi_client_call(client, method, path, body, resp,
	    &http)) != 0) {
		code = cli_id_error(cli, client, r, *resp);
		json_decref(*resp);
		*resp = NULL;
	}
	kagi_client_free(client);
	kagi_conf_free(conf);
	return code;
}

const char *
cli_id_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

void
cli_id_time(const json_t *o, const char *key, char *buf, size_t len)
{
	const json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v) || cli_format_time(v, buf, len) != 0)
		snprintf(buf, len, "-");
}

/* One operand and no more. */
int
cli_id_one_arg(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv, int first, const char *what)
{
	if (first >= argc)
		return cli_usage_error(cli, v, _("'%s' needs %s"), v->name,
		    what);
	if (first + 1 < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first + 1]);
	return CLI_DONE;
}

/* ---- printing ---- */

static void
print_user(const json_t *u)
{
	char t[64];
	const json_t *a, *v;
	size_t i;

	printf(_("Account %s\n"), cli_id_str(u, "login"));
	printf("  %s: %s\n", _("kind"), cli_id_str(u, "kind"));
	printf("  %s: %s\n", _("state"), cli_id_str(u, "state"));
	if (json_is_string(json_object_get(u, "person")))
		printf("  %s: %s\n", _("person"), cli_id_str(u, "person"));
	a = json_object_get(u, "roles");
	if (json_array_size(a) > 0) {
		printf("  %s:", _("roles"));
		json_array_foreach(a, i, v)
			printf("%s%s", i ? ", " : " ", json_string_value(v));
		printf("\n");
	}
	if (json_is_true(json_object_get(u, "temporary_password"))) {
		cli_id_time(u, "temporary_password_expires", t, sizeof(t));
		printf("  %s: %s\n", _("temporary password expires"), t);
	}
	cli_id_time(u, "password_changed", t, sizeof(t));
	printf("  %s: %s\n", _("password changed"), t);
	if (json_is_true(json_object_get(u, "password_rotate")))
		printf("  %s\n", _("the shared password must be changed "
		    "(a member left)"));
	if (json_is_true(json_object_get(u, "locked"))) {
		cli_id_time(u, "locked_until", t, sizeof(t));
		printf("  %s: %s\n", _("locked until"), strcmp(t, "-") ? t :
		    _("an operator unlocks it"));
	}
	printf("  %s: %lld\n", _("failed logins since the last login"),
	    (long long)json_integer_value(json_object_get(u,
	    "failed_since_login")));
	cli_id_time(u, "last_login", t, sizeof(t));
	printf("  %s: %s", _("last login"), t);
	if (json_is_string(json_object_get(u, "last_login_terminal")))
		printf(" (%s)", cli_id_str(u, "last_login_terminal"));
	printf("\n");
	cli_id_time(u, "end", t, sizeof(t));
	if (strcmp(t, "-") != 0)
		printf("  %s: %s\n", _("end date"), t);
	a = json_object_get(u, "members");
	if (json_is_array(a)) {
		printf("  %s:", _("members"));
		if (json_array_size(a) == 0)
			printf(" %s", _("(none)"));
		json_array_foreach(a, i, v)
			printf("%s%s", i ? ", " : " ", cli_id_str(v, "member"));
		printf("\n");
	}
	a = json_object_get(u, "member_of");
	if (json_array_size(a) > 0) {
		printf("  %s:", _("member of"));
		json_array_foreach(a, i, v)
			printf("%s%s", i ? ", " : " ", json_string_value(v));
		printf("\n");
	}
}

/* The temporary password, once (R-PW-10). */
static void
print_temp(const json_t *resp)
{
	char t[64];

	cli_id_time(resp, "temporary_password_expires", t, sizeof(t));
	printf(_("Temporary password: %s\n"), cli_id_str(resp,
	    "temporary_password"));
	printf(_("  It is shown only this once and cannot be displayed "
	    "again.\n"
	    "  Hand it to the person directly (never by e-mail or a note on "
	    "the terminal).\n"
	    "  It must be changed at the first login and expires at %s.\n"),
	    t);
}

/* ---- verbs ---- */

static int
user_add(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	const char *kind = NULL, *person = NULL, *end = NULL;
	const struct cli_opt opts[] = {
		{ "kind", 0, required_argument, &kind, NULL },
		{ "person", 0, required_argument, &person, NULL },
		{ "end", 0, required_argument, &end, NULL },
		{ NULL, 0, 0, NULL, NULL },
	};
	json_t *body = NULL, *resp = NULL;
	int first, code;

	if ((code = cli_parse(cli, v, argc, argv, opts, &first)) != CLI_DONE ||
	    (code = cli_id_one_arg(cli, v, argc, argv, first,
	    _("a login name"))) != CLI_DONE)
		return code;
	if (kind == NULL)
		return cli_usage_error(cli, v, _("--kind is required "
		    "(personal, shared, privileged, development, contractor, "
		    "service)"));
	body = json_pack("{s:s, s:s, s:s?, s:s?}", "login", argv[first],
	    "kind", kind, "person", person, "end", end);
	if (body == NULL)
		return cli_error(cli, KAGI_ERR_NOMEM, NULL, "%s",
		    kagi_strerror(KAGI_ERR_NOMEM));
	code = cli_id_call(cli, "POST", "/v1/users", body, &resp);
	json_decref(body);
	if (code != 0)
		return code;
	if (cli->json) {
		code = cli_print_json(cli, resp);
	} else {
		const json_t *u = json_object_get(resp, "user");
		printf(_("Created the account %s (%s).\n"), cli_id_str(u,
		    "login"), cli_id_str(u, "kind"));
		if (json_is_string(json_object_get(resp, "temporary_password")))
			print_temp(resp);
		else
			printf(_("A service account has no password.\n"));
		code = fflush(stdout) == 0 ? 0 :
		    kagi_err_exit_code(KAGI_ERR_SYSTEM);
	}
	json_decref(resp);
	return code;
}

static int
user_show(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	json_t *resp = NULL;
	char seg[128], path[200];
	int first, code;

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE ||
	    (code = cli_id_one_arg(cli, v, argc, argv, first,
	    _("a login name"))) != CLI_DONE)
		return code;
	cli_id_seg(argv[first], seg, sizeof(seg));
	snprintf(path, sizeof(path), "/v1/users/%s", seg);
	if ((code = cli_id_call(cli, "GET", path, NULL, &resp)) != 0)
		return code;
	if (cli->json)
		code = cli_print_json(cli, resp);
	else
		print_user(json_object_get(resp, "user"));
	json_decref(resp);
	return code;
}

static int
user_list(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	json_t *resp = NULL;
	const json_t *a, *u;
	char t[64], flags[160];
	size_t i;
	int first, code;

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE)
		return code;
	if (first < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first]);
	if ((code = cli_id_call(cli, "GET", "/v1/users", NULL, &resp)) != 0)
		return code;
	if (cli->json) {
		code = cli_print_json(cli, resp);
		json_decref(resp);
		return code;
	}
	a = json_object_get(resp, "users");
	if (json_array_size(a) == 0)
		printf(_("No accounts.\n"));
	else
		printf("%-20s %-12s %-10s %-12s %-18s %s\n", _("LOGIN"),
		    _("KIND"), _("STATE"), _("PERSON"), _("FLAGS"),
		    _("LAST LOGIN"));
	json_array_foreach(a, i, u) {
		snprintf(flags, sizeof(flags), "%s%s%s",
		    json_is_true(json_object_get(u, "temporary_password")) ?
		    _("temp ") : "",
		    json_is_true(json_object_get(u, "locked")) ?
		    _("locked ") : "",
		    json_is_true(json_object_get(u, "password_rotate")) ?
		    _("rotate ") : "");
		cli_id_time(u, "last_login", t, sizeof(t));
		printf("%-20s %-12s %-10s %-12s %-18s %s\n",
		    cli_id_str(u, "login"), cli_id_str(u, "kind"),
		    cli_id_str(u, "state"), json_is_string(json_object_get(u,
		    "person")) ? cli_id_str(u, "person") : "-",
		    flags[0] ? flags : "-", t);
	}
	json_decref(resp);
	return 0;
}

/* disable, enable, delete, unlock, reset-password: POST/DELETE on one login */
static int
user_action(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	json_t *resp = NULL;
	const json_t *u;
	char seg[128], path[200];
	const char *method = "POST";
	int first, code;

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE ||
	    (code = cli_id_one_arg(cli, v, argc, argv, first,
	    _("a login name"))) != CLI_DONE)
		return code;
	cli_id_seg(argv[first], seg, sizeof(seg));
	if (strcmp(v->name, "delete") == 0) {
		method = "DELETE";
		snprintf(path, sizeof(path), "/v1/users/%s", seg);
	} else {
		snprintf(path, sizeof(path), "/v1/users/%s/%s", v->name, seg);
	}
	if ((code = cli_id_call(cli, method, path, NULL, &resp)) != 0)
		return code;
	if (cli->json) {
		code = cli_print_json(cli, resp);
		json_decref(resp);
		return code;
	}
	u = json_object_get(resp, "user");
	if (strcmp(v->name, "disable") == 0)
		printf(_("Disabled the account %s.\n"), cli_id_str(u, "login"));
	else if (strcmp(v->name, "enable") == 0)
		printf(_("Enabled the account %s.\n"), cli_id_str(u, "login"));
	else if (strcmp(v->name, "delete") == 0)
		printf(_("Deleted the account %s (its record and history are "
		    "kept).\n"), cli_id_str(u, "login"));
	else if (strcmp(v->name, "unlock") == 0)
		printf(_("Unlocked the account %s.\n"), cli_id_str(u, "login"));
	else {
		printf(_("Reset the password of %s.\n"), cli_id_str(u,
		    "login"));
		print_temp(resp);
	}
	json_decref(resp);
	return fflush(stdout) == 0 ? 0 : kagi_err_exit_code(KAGI_ERR_SYSTEM);
}

static int
member_add_remove(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	json_t *resp = NULL, *body = NULL;
	char seg[128], mseg[128], path[300];
	int first, code, add = strcmp(v->name, "add") == 0;

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE)
		return code;
	if (first + 2 != argc)
		return cli_usage_error(cli, v, _("give the shared account and "
		    "the member's login"));
	cli_id_seg(argv[first], seg, sizeof(seg));
	cli_id_seg(argv[first + 1], mseg, sizeof(mseg));
	if (add) {
		snprintf(path, sizeof(path), "/v1/members/%s", seg);
		if ((body = json_pack("{s:s}", "member", argv[first + 1])) ==
		    NULL)
			return cli_error(cli, KAGI_ERR_NOMEM, NULL, "%s",
			    kagi_strerror(KAGI_ERR_NOMEM));
		code = cli_id_call(cli, "POST", path, body, &resp);
	} else {
		snprintf(path, sizeof(path), "/v1/members/%s?member=%s", seg,
		    mseg);
		code = cli_id_call(cli, "DELETE", path, NULL, &resp);
	}
	json_decref(body);
	if (code != 0)
		return code;
	if (cli->json) {
		code = cli_print_json(cli, resp);
	} else if (add) {
		printf(_("%s is now a member of the shared account %s.\n"),
		    argv[first + 1], argv[first]);
	} else {
		printf(_("%s is no longer a member of the shared account %s.\n"
		    "The shared password must now be changed (R-PW-9): reset "
		    "it with\n  kagi user reset-password %s\n"),
		    argv[first + 1], argv[first], argv[first]);
	}
	json_decref(resp);
	return code;
}

static int
member_list(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	json_t *resp = NULL;
	const json_t *a, *m;
	char seg[128], path[200], t[64];
	size_t i;
	int first, code;

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE ||
	    (code = cli_id_one_arg(cli, v, argc, argv, first,
	    _("a shared account"))) != CLI_DONE)
		return code;
	cli_id_seg(argv[first], seg, sizeof(seg));
	snprintf(path, sizeof(path), "/v1/members/%s", seg);
	if ((code = cli_id_call(cli, "GET", path, NULL, &resp)) != 0)
		return code;
	if (cli->json) {
		code = cli_print_json(cli, resp);
		json_decref(resp);
		return code;
	}
	a = json_object_get(resp, "members");
	printf(_("Members of %s:\n"), argv[first]);
	if (json_array_size(a) == 0)
		printf("  %s\n", _("(none)"));
	json_array_foreach(a, i, m) {
		cli_id_time(m, "added", t, sizeof(t));
		printf(_("  %s (added %s)\n"), cli_id_str(m, "member"), t);
	}
	if (json_is_true(json_object_get(resp, "password_rotate")))
		printf(_("The shared password must be changed: a member "
		    "left.\n"));
	json_decref(resp);
	return 0;
}

static int
member_dispatch(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	const struct cli_verb *s;
	int first, code;

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE)
		return code;
	if (first >= argc)
		return cli_usage_error(cli, v, _("'%s' needs a subcommand"),
		    v->name);
	for (s = v->sub; s->name != NULL; s++)
		if (strcmp(s->name, argv[first]) == 0)
			break;
	if (s->name == NULL)
		return cli_usage_error(cli, v, _("unknown subcommand '%s %s'"),
		    v->name, argv[first]);
	cli->parent = "user member";
	return s->run(cli, s, argc - first, argv + first);
}

static const struct cli_verb member_verbs[] = {
	{ "add", N_("SHARED LOGIN"),
	  N_("let a person's own account use a shared account"),
	  N_("The member must be an active personal account.  Members log in "
	     "to the\nshared account with their own password as well "
	     "(R-ID-7).\n"),
	  member_add_remove, NULL },
	{ "remove", N_("SHARED LOGIN"),
	  N_("end a membership; the shared password must then change"),
	  N_("Flags the shared password for rotation (R-PW-9): its next "
	     "login only\nallows a change.\n"),
	  member_add_remove, NULL },
	{ "list", N_("SHARED"), N_("show the members of a shared account"),
	  NULL, member_list, NULL },
	{ NULL, NULL, NULL, NULL, NULL, NULL },
};

const struct cli_verb cli_user_verbs[] = {
	{ "add", N_("LOGIN --kind KIND [--person STAFF_NO] [--end DATE]"),
	  N_("create an account and print its temporary password once"),
	  N_("Options:\n"
	     "  --kind KIND      personal, shared, privileged, development, "
	     "contractor,\n"
	     "                   service\n"
	     "  --person NO      the staff number of its person (every kind "
	     "but service)\n"
	     "  --end DATE       last day of use, YYYY-MM-DD (required for "
	     "development\n"
	     "                   and contractor accounts: R-DEV-1, R-CONTR-1)\n"
	     "\nA person has at most one personal account.  The temporary "
	     "password is\nprinted once and must be changed at the first "
	     "login (R-PW-6, R-PW-10).\n"),
	  user_add, NULL },
	{ "show", N_("LOGIN"), N_("show an account"), NULL, user_show, NULL },
	{ "list", "", N_("list accounts"), NULL, user_list, NULL },
	{ "disable", N_("LOGIN"), N_("disable an account (no logins)"), NULL,
	  user_action, NULL },
	{ "enable", N_("LOGIN"), N_("enable a disabled account"), NULL,
	  user_action, NULL },
	{ "delete", N_("LOGIN"),
	  N_("delete an account (the record and its history are kept)"),
	  NULL, user_action, NULL },
	{ "unlock", N_("LOGIN"),
	  N_("unlock an account locked after failed logins"), NULL,
	  user_action, NULL },
	{ "reset-password", N_("LOGIN"),
	  N_("issue a new temporary password and print it once"),
	  N_("The old password stops working at once; the new temporary one "
	     "must be\nchanged at the first login.  An expired lock is "
	     "cleared too.\n"),
	  user_action, NULL },
	{ "member", N_("add | remove | list ..."),
	  N_("members of shared accounts"), NULL, member_dispatch,
	  member_verbs },
	{ NULL, NULL, NULL, NULL, NULL, NULL },
};
