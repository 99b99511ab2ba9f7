/*
 * kagi: the operator's tool.  main() reads the global options, finds the verb
 * in the table and runs it.  Verbs live one group per file (cmd_*.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kagi/err.h"
#include "kagi/i18n.h"
#include "kagi/log.h"

#include "verbs.h"

static cli_run_fn cli_dispatch;

const struct cli_verb cli_audit_verbs[] = {
	{ "verify", "",
	  N_("recompute the audit hash chain and name the first bad record"),
	  N_("kagid recomputes the SHA-256 chain over every audit record.\n"
	     "Exit status 0 when the chain is intact, 7 when a record does "
	     "not match\n(its sequence number is printed).\n"),
	  cmd_audit_verify, NULL },
	{ "export", N_("[--since SEQ] [--format jsonl|syslog] [--output FILE]"),
	  N_("write audit records for a SIEM"),
	  N_("Options:\n"
	     "  --since SEQ      only records with a sequence number >= SEQ "
	     "(default 1)\n"
	     "  --format FORMAT  jsonl (one JSON object per line, default) or "
	     "syslog\n"
	     "  -o, --output FILE  write to FILE (replaced atomically, mode "
	     "0600)\n"
	     "                   instead of standard output\n"),
	  cmd_audit_export, NULL },
	{ NULL, NULL, NULL, NULL, NULL, NULL },
};

const struct cli_verb cli_verbs[] = {
	{ "init", N_("--dir DIR [--port N] [--http-port N]"),
	  N_("create a new self-contained deployment in a directory"),
	  N_("Writes DIR/kagi.conf and runs 'kagid --init', which creates the "
	     "policy,\nthe store, a SoftHSM2 token and the TLS identities "
	     "under DIR.\n\n"
	     "Options:\n"
	     "  --dir DIR        the deployment directory (created mode 0750 "
	     "if absent)\n"
	     "  --port N         HTTPS API port on 127.0.0.1 (default 7443)\n"
	     "  --http-port N    plain HTTP port for OCSP/CRL on 127.0.0.1 "
	     "(default 7480)\n\n"
	     "A directory that already holds kagi.conf is refused and left "
	     "unchanged.\n"),
	  cmd_init, NULL },
	{ "status", "",
	  N_("show whether kagid answers and what it holds"),
	  N_("Asks kagid for /v1/health and /v1/status over the local socket "
	     "or mTLS.\n"),
	  cmd_status, NULL },
	{ "audit", N_("verify | export [OPTIONS]"),
	  N_("verify or export the audit log"), NULL,
	  cli_dispatch, cli_audit_verbs },
	{ "version", "", N_("show the version of kagi"), NULL,
	  cmd_version, NULL },
	{ "help", N_("[COMMAND [SUBCOMMAND]]"), N_("show help for a command"),
	  NULL, cmd_help, NULL },
	{ NULL, NULL, NULL, NULL, NULL, NULL },
};

static const struct cli_verb *
find_verb(const struct cli_verb *table, const char *name)
{
	const struct cli_verb *v;

	for (v = table; v != NULL && v->name != NULL; v++)
		if (strcmp(v->name, name) == 0)
			return v;
	return NULL;
}

/* A verb with subverbs: "kagi audit verify ...". */
static int
cli_dispatch(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	const struct cli_verb *s;
	int first, code;

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE)
		return code;
	if (first >= argc)
		return cli_usage_error(cli, v, _("'%s' needs a subcommand"),
		    v->name);
	if ((s = find_verb(v->sub, argv[first])) == NULL)
		return cli_usage_error(cli, v, _("unknown subcommand '%s %s'"),
		    v->name, argv[first]);
	cli->parent = v->name;
	return s->run(cli, s, argc - first, argv + first);
}

int
cmd_version(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	json_t *o;
	int first, code;

	if (argv != NULL) {
		if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) !=
		    CLI_DONE)
			return code;
		if (first < argc)
			return cli_usage_error(cli, v,
			    _("unexpected argument '%s'"), argv[first]);
	}
	if (cli->json) {
		o = json_pack("{s:s, s:s}", "program", "kagi", "version",
		    KAGI_VERSION);
		code = cli_print_json(cli, o);
		json_decref(o);
		return code;
	}
	printf("kagi %s\n", KAGI_VERSION);
	return 0;
}

int
cmd_help(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	const struct cli_verb *t = NULL, *s = NULL;
	json_t *o;
	int first, code;

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE)
		return code;
	if (first < argc && (t = find_verb(cli_verbs, argv[first])) == NULL)
		return cli_usage_error(cli, v, _("unknown command '%s'"),
		    argv[first]);
	if (t != NULL && first + 1 < argc) {
		if ((s = find_verb(t->sub, argv[first + 1])) == NULL)
			return cli_usage_error(cli, v,
			    _("unknown subcommand '%s %s'"), t->name,
			    argv[first + 1]);
		if (first + 2 < argc)
			return cli_usage_error(cli, v,
			    _("unexpected argument '%s'"), argv[first + 2]);
	}
	if (cli->json) {
		o = s != NULL ? cli_help_json(s, t->name) : cli_help_json(t,
		    NULL);
		code = cli_print_json(cli, o);
		json_decref(o);
		return code;
	}
	if (s != NULL)
		cli_print_help(s, t->name, stdout);
	else
		cli_print_help(t, NULL, stdout);
	return 0;
}

int
main(int argc, char **argv)
{
	struct cli cli;
	const struct cli_verb *v;
	int version = 0, first, code;
	const struct cli_opt opts[] = {
		{ "version", 0, no_argument, NULL, &version },
		{ NULL, 0, 0, NULL, NULL },
	};

	kagi_i18n_init();
	memset(&cli, 0, sizeof(cli));
	kagi_log_set_level(KAGI_LOG_WARN);
	if ((code = cli_parse(&cli, NULL, argc, argv, opts, &first)) !=
	    CLI_DONE)
		return code;
	if (version)
		return cmd_version(&cli, NULL, 0, NULL);
	if (first >= argc)
		return cli_usage_error(&cli, NULL, _("no command given"));
	if ((v = find_verb(cli_verbs, argv[first])) == NULL)
		return cli_usage_error(&cli, NULL, _("unknown command '%s'"),
		    argv[first]);
	return v->run(&cli, v, argc - first, argv + first);
}
