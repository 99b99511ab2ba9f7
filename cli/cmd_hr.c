/*
 * kagi hr plan FEED.csv [--out PLAN] | kagi hr apply PLAN (R-ID-1, R-ID-5,
 * R-ID-12, R-CARD-7; docs/HR-FEED.md).
 *
 * plan: the CSV bytes go to kagid as they are (base64 in JSON, so that
 * kagid, not this tool, finds invalid UTF-8 and names its line); kagid
 * validates every line, computes and signs the plan, and keeps it for
 * GET /v1/hr/plans/<id>, which is fetched raw (plans can be large) and
 * written to --out.  apply: the plan file goes back unchanged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kagi/client.h"
#include "kagi/conf.h"
#include "kagi/err.h"
#include "kagi/file.h"
#include "kagi/i18n.h"
#include "kagi/secmem.h"

#include "verbs.h"

#define HR_FILE_MAX (32u * 1024u * 1024u)
#define HR_PLAN_FILE_MAX (48u * 1024u * 1024u)
#define HR_SHOW_MAX 20 /* entries shown per list; the plan file has all */

const struct cli_verb cli_hr_verbs[] = {
	{ "plan", N_("FEED.csv [--out PLAN] [--all]"),
	  N_("check an HR feed and show what applying it would change"),
	  N_("kagid checks every line of the feed (docs/HR-FEED.md); any "
	     "fault refuses the\nwhole feed, and each fault is shown with "
	     "its line and column.  Otherwise the\nplan is shown: persons to "
	     "add or update, accounts to disable, suspend or\nre-enable, "
	     "certificates to revoke, FIDO credentials to delete, cards to "
	     "collect,\nprivileged windows to end, shared IDs to rotate, and "
	     "people missing from the\nfeed.\n\n"
	     "Options:\n"
	     "  -o, --out PLAN  write the signed plan to PLAN (mode 0600) for "
	     "'kagi hr apply'\n"
	     "  --all           list every entry (default: the first 20 of "
	     "each list)\n"),
	  cmd_hr_plan, NULL },
	{ "apply", N_("PLAN"),
	  N_("apply a plan made by 'kagi hr plan'"),
	  N_("The plan is applied whole in one transaction, or not at all.  "
	     "kagid refuses\na plan that was edited, and a plan made before "
	     "the store changed (make a\nnew one).  Applying the same plan "
	     "again changes nothing.\n"),
	  cmd_hr_apply, NULL },
	{ NULL, NULL, NULL, NULL, NULL, NULL },
};

static char *
b64_encode(const uint8_t *p, size_t n)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *o = malloc((n + 2) / 3 * 4 + 1), *w = o;
	size_t i;

	if (o == NULL)
		return NULL;
	for (i = 0; i + 2 < n; i += 3) {
		*w++ = al[p[i] >> 2];
		*w++ = al[(p[i] & 3) << 4 | p[i + 1] >> 4];
		*w++ = al[(p[i + 1] & 15) << 2 | p[i + 2] >> 6];
		*w++ = al[p[i + 2] & 63];
	}
	if (i < n) {
		*w++ = al[p[i] >> 2];
		if (i + 1 < n) {
			*w++ = al[(p[i] & 3) << 4 | p[i + 1] >> 4];
			*w++ = al[(p[i + 1] & 15) << 2];
		} else {
			*w++ = al[(p[i] & 3) << 4];
			*w++ = '=';
		}
		*w++ = '=';
	}
	*w = '\0';
	return o;
}

/* A feed fault, for a person. */
static const char *
reason_text(const char *r)
{
	static const struct { const char *code, *text; } t[] = {
		{ "bad_date", N_("not a date YYYY-MM-DD") },
		{ "unknown_status", N_("unknown status (active, transferred, "
		  "seconded, on-leave, retired, deceased, contract-ended)") },
		{ "dup_staff_no", N_("staff number appears twice") },
		{ "wrong_column_count", N_("wrong number of columns") },
		{ "invalid_utf8", N_("not valid UTF-8") },
		{ "missing_header", N_("header row missing or with an unknown "
		  "column name") },
		{ "missing_column", N_("header row lacks this column") },
		{ "duplicate_column", N_("column named twice in the header") },
		{ "oversize_field", N_("field too long") },
		{ "oversize_feed", N_("feed too large") },
		{ "bad_quote", N_("misplaced or unclosed quote") },
		{ "control_char", N_("control character in a field") },
		{ "bad_staff_no", N_("staff number may only have letters, "
		  "digits and '-' (at most 32)") },
		{ "bad_employment", N_("unknown employment type (regular, "
		  "fiscal-year, temporary, part-time, dispatched, contractor, "
		  "council, other)") },
		{ "empty_field", N_("field must not be empty") },
		{ "too_many_rows", N_("too many rows") },
	};

	for (size_t i = 0; r != NULL && i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(t[i].code, r) == 0)
			return _(t[i].text);
	return r != NULL ? r : "?";
}

static void
print_feed_errors(const json_t *resp)
{
	const json_t *e;
	size_t i;
	json_int_t total = json_integer_value(json_object_get(resp,
	    "error_count"));

	fprintf(stderr, _("kagi: the HR feed was refused (%lld fault(s)); "
	    "nothing was changed\n"), (long long)total);
	json_array_foreach(json_object_get(resp, "errors"), i, e) {
		const char *field = json_string_value(json_object_get(e,
		    "field"));
		json_int_t first = json_integer_value(json_object_get(e,
		    "first_line"));

		fprintf(stderr, _("  line %lld, column %lld%s%s%s: %s"),
		    (long long)json_integer_value(json_object_get(e, "line")),
		    (long long)json_integer_value(json_object_get(e,
		    "column")), field && field[0] ? " (" : "",
		    field && field[0] ? field : "",
		    field && field[0] ? ")" : "",
		    reason_text(json_string_value(json_object_get(e,
		    "reason"))));
		if (first > 0)
			fprintf(stderr, _(" (first on line %lld)"),
			    (long long)first);
		fputc('\n', stderr);
	}
	if ((size_t)total > json_array_size(json_object_get(resp, "errors")))
		fprintf(stderr, _("  ... and %lld more\n"), (long long)(total -
		    (json_int_t)json_array_size(json_object_get(resp,
		    "errors"))));
}

static const char *
list_title(const char *name)
{
	if (strcmp(name, "persons_add") == 0)
		return _("persons to add");
	if (strcmp(name, "persons_update") == 0)
		return _("persons to update");
	if (strcmp(name, "accounts_disable") == 0)
		return _("accounts to disable");
	if (strcmp(name, "accounts_suspend") == 0)
		return _("accounts to suspend");
	if (strcmp(name, "accounts_enable") == 0)
		return _("accounts to re-enable");
	if (strcmp(name, "certs_revoke") == 0)
		return _("certificates to revoke");
	if (strcmp(name, "fido_delete") == 0)
		return _("FIDO credentials to delete");
	if (strcmp(name, "cards_collect") == 0)
		return _("cards to collect");
	if (strcmp(name, "windows_end") == 0)
		return _("privileged windows to end");
	if (strcmp(name, "shared_rotate") == 0)
		return _("shared IDs to rotate");
	if (strcmp(name, "missing_from_feed") == 0)
		return _("people in the store but missing from the feed "
		    "(reported only)");
	return name;
}

static const char *const lists[] = {
	"persons_add", "persons_update", "accounts_disable",
	"accounts_suspend", "accounts_enable", "certs_revoke", "fido_delete",
	"cards_collect", "windows_end", "shared_rotate", "missing_from_feed",
};

static const char *
js(const json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v != NULL ? v : "";
}

static void
print_entry(const char *list, const json_t *e)
{
	if (strncmp(list, "persons_", 8) == 0 ||
	    strcmp(list, "missing_from_feed") == 0) {
		printf("    %s  %s  %s  %s\n", js(e, "staff_no"), js(e, "name"),
		    js(e, "section"), js(e, "status"));
	} else if (strncmp(list, "accounts_", 9) == 0) {
		printf("    %s  (%s, %s %s)\n", js(e, "login"), js(e, "kind"),
		    js(e, "staff_no"), js(e, "status"));
	} else if (strcmp(list, "certs_revoke") == 0) {
		printf("    %s  %s  %s  %s\n", js(e, "serial"), js(e, "holder"),
		    js(e, "profile"), js(e, "reason"));
	} else if (strcmp(list, "fido_delete") == 0) {
		printf("    %.16s...  %s\n", js(e, "credential_id"),
		    js(e, "account"));
	} else if (strcmp(list, "windows_end") == 0) {
		printf("    %s  %s  %s\n", js(e, "id"), js(e, "account"),
		    js(e, "state"));
	} else if (strcmp(list, "cards_collect") == 0) {
		printf("    %s  %s  %s  %s\n", js(e, "serial"), js(e, "staff_no"),
		    js(e, "login"), js(e, "state"));
	} else if (strcmp(list, "shared_rotate") == 0) {
		printf("    %s\n", js(e, "login"));
	}
}

static void
print_plan(const json_t *plan, int all)
{
	const json_t *e;
	size_t i;

	printf(_("HR plan %s (%lld rows in the feed)\n"), js(plan, "plan_id"),
	    (long long)json_integer_value(json_object_get(json_object_get(
	    plan, "feed"), "rows")));
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		const json_t *a = json_object_get(plan, lists[l]);
		size_t n = json_array_size(a);

		printf("  %s: %zu\n", list_title(lists[l]), n);
		json_array_foreach(a, i, e) {
			if (!all && i >= HR_SHOW_MAX) {
				printf(_("    ... and %zu more (see the plan "
				    "file or use --all)\n"), n - i);
				break;
			}
			print_entry(lists[l], e);
		}
	}
}

int
cmd_hr_plan(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	struct kagi_conf *conf = NULL;
	struct kagi_client *client = NULL;
	const char *out = NULL;
	uint8_t *csv = NULL;
	size_t csvlen = 0, rawlen = 0;
	char *b64 = NULL, *raw = NULL, path[128];
	json_t *body = NULL, *resp = NULL, *plan = NULL;
	json_error_t je;
	long http = 0;
	int all = 0, first, code, r;
	const struct cli_opt opts[] = {
		{ "out", 'o', required_argument, &out, NULL },
		{ "all", 0, no_argument, NULL, &all },
		{ NULL, 0, 0, NULL, NULL },
	};

	if ((code = cli_parse(cli, v, argc, argv, opts, &first)) != CLI_DONE)
		return code;
	if (first >= argc)
		return cli_usage_error(cli, v, _("the feed file is missing"));
	if (first + 1 < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first + 1]);
	if ((r = kagi_file_read(argv[first], HR_FILE_MAX, 0, &csv,
	    &csvlen)) != 0)
		return cli_error(cli, r, NULL, _("cannot read %s: %s"),
		    argv[first], kagi_strerror(r));
	if ((b64 = b64_encode(csv, csvlen)) == NULL ||
	    (body = json_pack("{s:s}", "feed_b64", b64)) == NULL) {
		code = cli_error(cli, KAGI_ERR_NOMEM, NULL, "%s",
		    kagi_strerror(KAGI_ERR_NOMEM));
		goto out;
	}
	free(b64);
	b64 = NULL;
	if ((code = cli_connect(cli, &conf, &client)) != 0)
		goto out;
	r = kagi_client_call(client, "POST", "/v1/hr/plan", body, &resp,
	    &http);
	if (r != 0) {
		if (json_is_array(json_object_get(resp, "errors"))) {
			if (!cli->json)
				print_feed_errors(resp);
			code = cli_error(cli, r, resp, _("the HR feed %s was "
			    "refused"), argv[first]);
		} else {
			code = cli_api_error(cli, client, r, resp);
		}
		goto out;
	}
	snprintf(path, sizeof(path), "/v1/hr/plans/%.32s", js(resp,
	    "plan_id"));
	if ((r = kagi_client_call_raw(client, "GET", path, &raw, &rawlen,
	    &http)) != 0) {
		code = cli_api_error(cli, client, r, NULL);
		goto out;
	}
	if ((plan = json_loadb(raw, rawlen, JSON_REJECT_DUPLICATES,
	    &je)) == NULL || !json_is_object(plan)) {
		code = cli_error(cli, KAGI_ERR_FORMAT, NULL,
		    _("kagid sent a plan that is not JSON"));
		goto out;
	}
	if (out != NULL && (r = kagi_file_write_atomic(out, raw, rawlen,
	    0600)) != 0) {
		code = cli_error(cli, r, NULL, _("cannot write %s: %s"), out,
		    kagi_strerror(r));
		goto out;
	}
	if (cli->json) {
		code = cli_print_json(cli, plan);
		goto out;
	}
	print_plan(plan, all);
	if (out != NULL)
		printf(_("Plan written to %s; apply it with: kagi hr apply "
		    "%s\n"), out, out);
	else
		printf(_("Nothing was changed.  Use --out PLAN to save the "
		    "plan for 'kagi hr apply'.\n"));
	code = 0;
out:
	if (csv != NULL)
		kagi_wipe(csv, csvlen);
	free(csv);
	free(b64);
	free(raw);
	json_decref(plan);
	json_decref(body);
	json_decref(resp);
	kagi_client_free(client);
	kagi_conf_free(conf);
	return code;
}

int
cmd_hr_apply(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	struct kagi_conf *conf = NULL;
	struct kagi_client *client = NULL;
	uint8_t *text = NULL;
	size_t len = 0;
	json_t *plan = NULL, *resp = NULL, *ch;
	json_error_t je;
	long http = 0;
	int first, code, r;

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE)
		return code;
	if (first >= argc)
		return cli_usage_error(cli, v, _("the plan file is missing"));
	if (first + 1 < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first + 1]);
	if ((r = kagi_file_read(argv[first], HR_PLAN_FILE_MAX, 0, &text,
	    &len)) != 0)
		return cli_error(cli, r, NULL, _("cannot read %s: %s"),
		    argv[first], kagi_strerror(r));
	if ((plan = json_loadb((const char *)text, len,
	    JSON_REJECT_DUPLICATES, &je)) == NULL || !json_is_object(plan)) {
		code = cli_error(cli, KAGI_ERR_FORMAT, NULL,
		    _("%s is not a plan file (line %d: %s)"), argv[first],
		    je.line, je.text);
		goto out;
	}
	if ((code = cli_connect(cli, &conf, &client)) != 0)
		goto out;
	r = kagi_client_call(client, "POST", "/v1/hr/apply", plan, &resp,
	    &http);
	if (r == KAGI_ERR_CONFLICT) {
		code = cli_error(cli, r, resp, _("the store changed after the "
		    "plan was made; nothing was applied.  Make a new plan with "
		    "'kagi hr plan'"));
		goto out;
	}
	if (r == KAGI_ERR_SIG) {
		code = cli_error(cli, r, resp, _("the plan file was changed "
		    "after kagid made it, or comes from another kagid; nothing "
		    "was applied"));
		goto out;
	}
	if (r != 0) {
		code = cli_api_error(cli, client, r, resp);
		goto out;
	}
	if (cli->json) {
		code = cli_print_json(cli, resp);
		goto out;
	}
	if (json_is_true(json_object_get(resp, "already_applied"))) {
		printf(_("Plan %s was already applied; nothing was changed.\n"),
		    js(resp, "plan_id"));
		code = 0;
		goto out;
	}
	printf(_("Plan %s applied.\n"), js(resp, "plan_id"));
	ch = json_object_get(resp, "changed");
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		json_int_t n = json_integer_value(json_object_get(ch,
		    lists[l]));
		if (n > 0)
			printf("  %s: %lld\n", list_title(lists[l]),
			    (long long)n);
	}
	code = 0;
out:
	free(text);
	json_decref(plan);
	json_decref(resp);
	kagi_client_free(client);
	kagi_conf_free(conf);
	return code;
}
