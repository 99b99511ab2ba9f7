/*
 * kagi card ...: the smart-card lifecycle at the counter (docs/CARDS.md,
 * docs/API.md "Cards"; R-CARD-4..7, R-CARD-9, R-PRIV-8).  list, show,
 * lost, found, return, destroy and approve (a PIN-unblock approval).  The
 * enrolment verbs (kagi enrol, card replace, card pin-unblock) are in
 * cmd_enrol.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kagi/i18n.h"
#include "kagi/util.h"
#include "verbs.h"

const struct cli_verb cli_card_verbs[] = {
	{ "list", N_("[--holder STAFF_NUMBER] [--state STATE]"),
	  N_("list cards"),
	  N_("STATE is pending, active, lost, replaced, returned or "
	     "destroyed.\n"),
	  cmd_card_list, NULL },
	{ "show", N_("SERIAL"), N_("show one card and its history"), NULL,
	  cmd_card_show, NULL },
	{ "lost", N_("SERIAL [--note TEXT]"),
	  N_("report a card lost: its certificates are put on hold at once"),
	  N_("Logins with the card are refused on every terminal from now on "
	     "(CRL and\nOCSP say certificateHold, R-CARD-4).  'kagi card found' "
	     "releases the hold.\n"),
	  cmd_card_lost, NULL },
	{ "found", N_("SERIAL"),
	  N_("a lost card was found: release the hold on its certificates"),
	  NULL, cmd_card_found, NULL },
	{ "jpki-bind", N_("STAFF_NUMBER --login ACCOUNT --cert FILE "
	  "[--chain FILE]"),
	  N_("bind a My Number card's authentication certificate to a person"),
	  N_("FILE is the card's user-authentication certificate (PEM), read "
	     "at the counter.\nThe signature certificate is refused.  The card "
	     "is then listed as jpki:...\nand 'kagi card lost|found|return' "
	     "apply to it (R-JPKI-1).\n"),
	  cmd_card_jpki_bind, NULL },
	{ "return", N_("SERIAL [--note TEXT]"),
	  N_("the card was handed back: revoke its certificates, close the "
	     "case"),
	  N_("Closes the case of a replaced or lost card (R-CARD-5, "
	     "R-CARD-7).\n"),
	  cmd_card_return, NULL },
	{ "destroy", N_("SERIAL --method METHOD [--note TEXT]"),
	  N_("record that a card was destroyed (date, operator, method)"),
	  N_("Options:\n"
	     "  --method METHOD  how it was destroyed, e.g. shredder, "
	     "punched (required)\n"
	     "  --note TEXT      anything else to record\n\n"
	     "Certificates still valid are revoked (R-CARD-6).\n"),
	  cmd_card_destroy, NULL },
	{ "approve", N_("SERIAL"),
	  N_("approve one PIN unblock of a card (second operator, R-PRIV-8)"),
	  N_("Prints the approval id.  Another operator then unblocks the PIN "
	     "with it\nwithin 10 minutes; the approval can be used once.\n"),
	  cmd_card_approve, NULL },
	/* cmd_enrol.c */
	{ "replace", N_("OLD_SERIAL [OPTIONS]"),
	  N_("replace a card: enrol a new one, revoke the old one's "
	     "certificates"),
	  N_("The case stays open until the old card is returned or recorded "
	     "as destroyed\n(R-CARD-5).  See 'kagi help enrol' for the "
	     "options.\n"),
	  cmd_card_replace, NULL },
	{ "pin-unblock", N_("SERIAL [--approval ID]"),
	  N_("set a new PIN with the card's PUK (second operator's approval)"),
	  NULL, cmd_card_pin_unblock, NULL },
	{ NULL, NULL, NULL, NULL, NULL, NULL },
};

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
		if (r == KAGI_ERR_DENIED && json_is_object(*resp) &&
		    json_object_get(*resp, "needs") != NULL)
			code = cli_id_error(cli, client, r, *resp);
		else
			code = cli_ca_api_error(cli, client, r, *resp);
		json_decref(*resp);
		*resp = NULL;
	}
	kagi_client_free(client);
	kagi_conf_free(conf);
	return code;
}

static int
serial_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
		    *s == '.' || *s == ':'))
			return 0;
	return 1;
}

static const char *
state_text(const char *s)
{
	if (s == NULL)
		return "?";
	if (strcmp(s, "pending") == 0)
		return _("pending");
	if (strcmp(s, "active") == 0)
		return _("active");
	if (strcmp(s, "lost") == 0)
		return _("lost");
	if (strcmp(s, "replaced") == 0)
		return _("replaced");
	if (strcmp(s, "returned") == 0)
		return _("returned");
	if (strcmp(s, "destroyed") == 0)
		return _("destroyed");
	return s;
}

static const char *
category_text(const char *s)
{
	if (s == NULL)
		return "?";
	if (strcmp(s, "staff") == 0)
		return _("staff");
	if (strcmp(s, "contractor") == 0)
		return _("contractor");
	if (strcmp(s, "temporary") == 0)
		return _("temporary");
	if (strcmp(s, "visitor") == 0)
		return _("visitor");
	return s;
}

static const char *
jstr(const json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v != NULL ? v : "";
}

static void
print_card(const json_t *c)
{
	const json_t *certs = json_object_get(c, "certs"), *v, *d;
	char t[64];
	size_t i;

	printf(_("card %s: %s\n"), jstr(c, "serial"),
	    state_text(json_string_value(json_object_get(c, "state"))));
	printf(_("  holder:        %s (%s), account %s\n"), jstr(c, "holder"),
	    category_text(json_string_value(json_object_get(c,
	    "holder_category"))), jstr(c, "login"));
	printf(_("  token:         %s  %s %s\n"), jstr(c, "label"),
	    jstr(c, "manufacturer"), jstr(c, "model"));
	if (json_is_string(json_object_get(c, "atr")))
		printf(_("  ATR:           %s\n"), jstr(c, "atr"));
	printf(_("  certificates:  "));
	json_array_foreach(certs, i, v)
		printf("%s%s", i ? ", " : "", json_string_value(v));
	printf("%s\n", json_array_size(certs) == 0 ? "-" : "");
	if (cli_format_time(json_object_get(c, "created"), t, sizeof(t)) == 0)
		printf(_("  enrolled:      %s\n"), t);
	if (cli_format_time(json_object_get(c, "updated"), t, sizeof(t)) == 0)
		printf(_("  last change:   %s\n"), t);
	if (json_is_string(json_object_get(c, "replaces")))
		printf(_("  replaces:      %s\n"), jstr(c, "replaces"));
	if (json_is_string(json_object_get(c, "replaced_by")))
		printf(_("  replaced by:   %s\n"), jstr(c, "replaced_by"));
	d = json_object_get(c, "disposal");
	if (json_is_object(d)) {
		if (cli_format_time(json_object_get(d, "time"), t,
		    sizeof(t)) != 0)
			snprintf(t, sizeof(t), "-");
		printf(_("  disposal:      %s, %s, by %s%s%s\n"), t,
		    strcmp(jstr(d, "method"), "return") == 0 ? _("returned") :
		    jstr(d, "method"), jstr(d, "operator"),
		    jstr(d, "note")[0] ? ": " : "", jstr(d, "note"));
	}
	if (json_is_true(json_object_get(c, "case_open")))
		printf(_("  case open: the card must be returned or recorded as "
		    "destroyed\n"));
}

static int
one_serial(struct cli *cli, const struct cli_verb *v, int argc, char **argv,
    int first)
{
	if (first >= argc)
		return cli_usage_error(cli, v, _("the card serial is missing"));
	if (first + 1 < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first + 1]);
	if (!serial_ok(argv[first]))
		return cli_usage_error(cli, v, _("'%s' is not a card serial "
		    "(letters, digits, . _ : -)"), argv[first]);
	return CLI_DONE;
}

int
cmd_card_list(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	const char *holder = NULL, *state = NULL;
	char path[256], t[64];
	json_t *resp = NULL, *c;
	size_t i;
	int first, code;
	const struct cli_opt opts[] = {
		{ "holder", 0, required_argument, &holder, NULL },
		{ "state", 0, required_argument, &state, NULL },
		{ NULL, 0, 0, NULL, NULL },
	};

	if ((code = cli_parse(cli, v, argc, argv, opts, &first)) != CLI_DONE)
		return code;
	if (first < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first]);
	if ((holder != NULL && (!serial_ok(holder) || strlen(holder) > 32)) ||
	    (state != NULL && !serial_ok(state)))
		return cli_usage_error(cli, v, _("invalid --holder or --state "
		    "value"));
	snprintf(path, sizeof(path), "/v1/cards%s%s%s%s%s%s",
	    holder || state ? "?" : "", holder ? "holder=" : "",
	    holder ? holder : "", holder && state ? "&" : "",
	    state ? "state=" : "", state ? state : "");
	if ((code = call(cli, "GET", path, NULL, &resp)) != 0)
		return code;
	if (cli->json) {
		code = cli_print_json(cli, resp);
		json_decref(resp);
		return code;
	}
	if (json_array_size(json_object_get(resp, "cards")) == 0)
		printf(_("no cards\n"));
	else
		printf("%-20s  %-10s  %-12s  %-16s  %-10s  %s\n", _("SERIAL"),
		    _("STATE"), _("HOLDER"), _("ACCOUNT"), _("CATEGORY"),
		    _("LAST CHANGE"));
	json_array_foreach(json_object_get(resp, "cards"), i, c) {
		if (cli_format_time(json_object_get(c, "updated"), t,
		    sizeof(t)) != 0)
			snprintf(t, sizeof(t), "-");
		printf("%-20s  %-10s  %-12s  %-16s  %-10s  %s%s\n",
		    jstr(c, "serial"), state_text(json_string_value(
		    json_object_get(c, "state"))), jstr(c, "holder"),
		    jstr(c, "login"), category_text(json_string_value(
		    json_object_get(c, "holder_category"))), t,
		    json_is_true(json_object_get(c, "case_open")) ?
		    _("  (case open)") : "");
	}
	json_decref(resp);
	return 0;
}

int
cmd_card_show(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	char path[128];
	json_t *resp = NULL;
	int first, code;

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE)
		return code;
	if ((code = one_serial(cli, v, argc, argv, first)) != CLI_DONE)
		return code;
	snprintf(path, sizeof(path), "/v1/cards/%s", argv[first]);
	if ((code = call(cli, "GET", path, NULL, &resp)) != 0)
		return code;
	if (cli->json)
		code = cli_print_json(cli, resp);
	else
		print_card(resp);
	json_decref(resp);
	return code;
}

/* POST /v1/cards/SERIAL/op with note/method; prints the card. */
static int
change(struct cli *cli, const struct cli_verb *v, int argc, char **argv,
    const char *op, int takes_note, int needs_method, const char *done)
{
	const char *note = NULL, *method = NULL;
	char path[160];
	json_t *body = NULL, *resp = NULL;
	int first, code;
	const struct cli_opt with_note[] = {
		{ "note", 0, required_argument, &note, NULL },
		{ "method", 0, required_argument, &method, NULL },
		{ NULL, 0, 0, NULL, NULL },
	};
	const struct cli_opt *opts = takes_note || needs_method ? with_note :
	    NULL;

	if ((code = cli_parse(cli, v, argc, argv, opts, &first)) != CLI_DONE)
		return code;
	if (!needs_method && method != NULL)
		return cli_usage_error(cli, v, _("--method is only for 'kagi "
		    "card destroy'"));
	if ((code = one_serial(cli, v, argc, argv, first)) != CLI_DONE)
		return code;
	if (needs_method && (method == NULL || method[0] == '\0'))
		return cli_usage_error(cli, v, _("--method is required (how "
		    "the card was destroyed, e.g. shredder)"));
	if ((body = json_object()) == NULL ||
	    (note != NULL && json_object_set_new(body, "note",
	    json_string(note)) != 0) ||
	    (method != NULL && json_object_set_new(body, "method",
	    json_string(method)) != 0)) {
		json_decref(body);
		return cli_error(cli, KAGI_ERR_NOMEM, NULL, "%s",
		    kagi_strerror(KAGI_ERR_NOMEM));
	}
	snprintf(path, sizeof(path), "/v1/cards/%s/%s", argv[first], op);
	code = call(cli, "POST", path, body, &resp);
	json_decref(body);
	if (code != 0)
		return code;
	if (cli->json) {
		code = cli_print_json(cli, resp);
	} else {
		if (!cli->quiet)
			printf("%s\n", done);
		print_card(resp);
	}
	json_decref(resp);
	return code;
}

int
cmd_card_lost(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	return change(cli, v, argc, argv, "lost", 1, 0,
	    _("Recorded as lost; its certificates are on hold (logins with "
	    "it are refused)."));
}

int
cmd_card_found(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	return change(cli, v, argc, argv, "found", 0, 0,
	    _("Recorded as found; the hold on its certificates is released."));
}

int
cmd_card_return(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	return change(cli, v, argc, argv, "return", 1, 0,
	    _("Recorded as returned; its certificates are revoked."));
}

int
cmd_card_destroy(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	return change(cli, v, argc, argv, "destroy", 1, 1,
	    _("Recorded as destroyed."));
}

int
cmd_card_approve(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	char path[160], t[64];
	json_t *resp = NULL;
	int first, code;

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE)
		return code;
	if ((code = one_serial(cli, v, argc, argv, first)) != CLI_DONE)
		return code;
	snprintf(path, sizeof(path), "/v1/cards/%s/pin-unblock/approve",
	    argv[first]);
	if ((code = call(cli, "POST", path, NULL, &resp)) != 0)
		return code;
	if (cli->json) {
		code = cli_print_json(cli, resp);
	} else {
		if (cli_format_time(json_object_get(resp, "expires"), t,
		    sizeof(t)) != 0)
			snprintf(t, sizeof(t), "-");
		if (cli->quiet)
			printf("%s\n", jstr(resp, "approval_id"));
		else
			printf(_("PIN unblock of card %s approved: %s\n"
			    "Another operator uses it once, before %s.\n"),
			    argv[first], jstr(resp, "approval_id"), t);
	}
	json_decref(resp);
	return code;
}
