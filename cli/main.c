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
#include "kagi/json.h"
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

const struct cli_verb cli_ca_verbs[] = {
	{ "show", "", N_("show the root and issuing CA, the CRLs and OCSP"),
	  N_("Prints the subject, serial, SHA-256 fingerprint and validity of "
	     "the root CA,\nthe issuing CA and the OCSP signer, and the CRL "
	     "numbers and URLs.\n"),
	  cmd_ca_show, NULL },
	{ "issue", N_("--profile P --csr FILE (--for ACCOUNT | --for-device ID "
	  "| --dns NAME... --ip ADDR...) [--out FILE]"),
	  N_("issue a certificate from a CSR"),
	  N_("Profiles: staff-logon (--for ACCOUNT), terminal (--for-device "
	     "ID), server\n(--dns NAME and/or --ip ADDR, repeatable), ocsp.  "
	     "The subject and SANs come\nfrom kagid's store (the account's "
	     "person, the terminal record), never from\nthe CSR.  The CSR's "
	     "signature and key (RSA >= 2048, P-256, P-384) are checked.\n\n"
	     "Options:\n"
	     "  -p, --profile P   staff-logon, terminal, server or ocsp\n"
	     "  --csr FILE        the PKCS#10 request (PEM or DER)\n"
	     "  -o, --out FILE    write the certificate (PEM) to FILE instead "
	     "of stdout\n"),
	  cmd_ca_issue, NULL },
	{ "revoke", N_("SERIAL --reason REASON"),
	  N_("revoke a certificate, or put it on hold"),
	  N_("REASON is an RFC 5280 name: unspecified, keyCompromise, "
	     "affiliationChanged,\nsuperseded, cessationOfOperation, "
	     "privilegeWithdrawn, or certificateHold\n(a lost card: on hold "
	     "at once, released with 'kagi ca unhold').  A new CRL\nis "
	     "published and OCSP answers revoked immediately.\n"),
	  cmd_ca_revoke, NULL },
	{ "unhold", N_("SERIAL"), N_("release a certificate from hold"), NULL,
	  cmd_ca_unhold, NULL },
	{ "list", N_("[--holder X] [--state active|hold|revoked] [--profile P]"),
	  N_("list certificates"), NULL, cmd_ca_list, NULL },
	{ "crl", N_("[--root] [--out FILE]"),
	  N_("show the current CRL, or save it (DER)"), NULL, cmd_ca_crl,
	  NULL },
	{ NULL, NULL, NULL, NULL, NULL, NULL },
};

const struct cli_verb cli_terminal_verbs[] = {
	{ "add", N_("ID --zone ZONE [--dns NAME]..."),
	  N_("register a terminal (device id, zone, DNS names)"),
	  N_("The zone must be one of policy.ini's zones; a terminal "
	     "certificate carries\nthat zone's policy OID.\n"),
	  cmd_terminal_add, NULL },
	{ "list", "", N_("list terminals"), NULL, cmd_terminal_list, NULL },
	{ "show", N_("ID"), N_("show one terminal"), NULL, cmd_terminal_show,
	  NULL },
	{ NULL, NULL, NULL, NULL, NULL, NULL },
};

const struct cli_verb cli_verbs[] = {
	{ "init", N_("--dir DIR [--port N] [--http-port N] "
	  "[--ca-key p256|rsa3072]"),
	  N_("create a new self-contained deployment in a directory"),
	  N_("Writes DIR/kagi.conf and runs 'kagid --init', which creates the "
	     "policy,\nthe store, a SoftHSM2 token and the TLS identities "
	     "under DIR.\n\n"
	     "Options:\n"
	     "  --dir DIR        the deployment directory (created mode 0750 "
	     "if absent)\n"
	     "  --port N         HTTPS API port on 127.0.0.1 (default 7443)\n"
	     "  --http-port N    plain HTTP port for OCSP/CRL on 127.0.0.1 "
	     "(default 7480)\n"
	     "  --ca-key TYPE    CA key type in the HSM: p256 (default), p384 "
	     "or rsa3072\n\n"
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
	{ "ca", N_("show | issue | revoke | unhold | list | crl [OPTIONS]"),
	  N_("the CA: issue and revoke certificates, CRLs"), NULL,
	  cli_dispatch, cli_ca_verbs },
	{ "terminal", N_("add | list | show [OPTIONS]"),
	  N_("terminals and their zones"), NULL, cli_dispatch,
	  cli_terminal_verbs },
	{ "card", N_("list | show | lost | found | return | destroy | approve "
	  "..."),
	  N_("smart cards: lost, found, returned, destroyed; PIN-unblock "
	     "approvals"), NULL, cli_dispatch, cli_card_verbs },
	{ "person", N_("add | show | list [OPTIONS]"),
	  N_("people: staff, contractors, council members..."), NULL,
	  cli_dispatch, cli_person_verbs },
	{ "user", N_("add | show | list | disable | enable | delete | unlock | "
	  "reset-password | member ... | fido ..."),
	  N_("accounts, temporary passwords, shared-account members"), NULL,
	  cli_dispatch, cli_user_verbs },
	{ "operator", N_("grant | revoke | list | cert [OPTIONS]"),
	  N_("operator roles and client certificates"), NULL, cli_dispatch,
	  cli_operator_verbs },
	{ "priv", N_("request | approve | deny | revoke | list [OPTIONS]"),
	  N_("privileged windows: request, approve, end"), NULL,
	  cli_dispatch, cli_priv_verbs },
	{ "hr", N_("plan FEED.csv [--out PLAN] | apply PLAN"),
	  N_("HR feed: plan and apply the clean-up of leavers and movers"),
	  NULL, cli_dispatch, cli_hr_verbs },
	{ "sweep", N_("[--dry-run]"),
	  N_("disable dormant and expired accounts, end past windows"),
	  N_("Runs kagid's sweep now (kagid also runs it every [sweep] "
	     "interval):\ndormant accounts (no login for [sweep] "
	     "dormant_days) and development or\ncontractor accounts past "
	     "their end date are disabled, expired temporary\npasswords are "
	     "cleared (a new reset is needed), and privileged windows past\n"
	     "their end are ended.  Every change is audited.\n\n"
	     "Options:\n"
	     "  -n, --dry-run  show what would change; change nothing\n"),
	  cmd_sweep, NULL },
	{ "login", N_("[--user ACCOUNT] [--cardd-socket PATH] [--pin-fd N]"),
	  N_("log in at the counter with your own staff card"),
	  N_("Runs a card login (card + PIN) through kagi-cardd on this PC and "
	     "keeps the\nsession for later kagi commands, which then act as you "
	     "(no operator\npassword exists).  The session ends with 'kagi "
	     "logout', after 8 hours, or at\nthe end of a privileged window.  "
	     "kagi.conf's [client] cert must be this\ncounter PC's terminal "
	     "certificate.\n\n"
	     "Options:\n"
	     "  --user ACCOUNT      whose card (default: your own user name; "
	     "only root may\n                      choose)\n"
	     "  --cardd-socket PATH kagi-cardd's socket (default [cardd] "
	     "socket)\n"
	     "  --pin-fd N          read the PIN from file descriptor N "
	     "(scripts)\n"),
	  cmd_login, NULL },
	{ "logout", "", N_("end the operator's card session on this PC"), NULL,
	  cmd_logout, NULL },
	{ "enrol", N_("STAFF_NUMBER [--login ACCOUNT] [--temp-password] "
	  "[--fido FILE] [--receipt FILE] [OPTIONS]"),
	  N_("enrol a staff card at the counter (key made on the card)"),
	  N_("Shows the person for the identity check, reads the card through "
	     "kagi-cardd\non this PC, refuses a card bound to another person "
	     "(R-CARD-1), lets the\nholder set the PIN (twice), makes the key "
	     "pair on the card, has kagid\nissue the staff-logon certificate, "
	     "writes it to the card and activates\nthe card.  A retry after an "
	     "interruption is safe.\n\n"
	     "Options:\n"
	     "  --login ACCOUNT     the account (default: the person's one "
	     "personal account)\n"
	     "  --temp-password     also issue a temporary password (shown "
	     "once)\n"
	     "  --fido FILE         also register a security key (fido2-cred "
	     "-M output)\n"
	     "  --receipt FILE      write the receipt to FILE too\n"
	     "  -y, --yes           the identity check was done (scripts)\n"
	     "  --transport-pin     the card has an issuing PIN to replace\n"
	     "  --pin-fd N          read PINs from file descriptor N (tests)\n"
	     "  --card-wait SECONDS wait for a card (default 30)\n"
	     "  --cardd-socket PATH kagi-cardd's socket (default [cardd] "
	     "socket)\n"),
	  cmd_enrol, NULL },
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
	kagi_json_wipe_on_free(); /* JSON may carry passwords */
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
