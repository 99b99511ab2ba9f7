/*
 * kagi person add | show | list: the people accounts belong to (R-ID-11).
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "kagi/err.h"
#include "kagi/i18n.h"

#include "verbs.h"

static void
print_person(const json_t *p)
{
	char t[64];
	const json_t *a, *v;
	size_t i;

	printf(_("Person %s\n"), cli_id_str(p, "staff_no"));
	printf("  %s: %s\n", _("name"), cli_id_str(p, "name"));
	if (cli_id_str(p, "kana")[0])
		printf("  %s: %s\n", _("kana"), cli_id_str(p, "kana"));
	if (cli_id_str(p, "section")[0])
		printf("  %s: %s\n", _("section"), cli_id_str(p, "section"));
	printf("  %s: %s\n", _("employment"), cli_id_str(p, "employment"));
	printf("  %s: %s\n", _("HR status"), cli_id_str(p, "hr_status"));
	cli_id_time(p, "start", t, sizeof(t));
	if (strcmp(t, "-") != 0)
		printf("  %s: %s\n", _("start"), t);
	cli_id_time(p, "end", t, sizeof(t));
	if (strcmp(t, "-") != 0)
		printf("  %s: %s\n", _("end"), t);
	a = json_object_get(p, "accounts");
	if (json_is_array(a)) {
		printf("  %s:", _("accounts"));
		if (json_array_size(a) == 0)
			printf(" %s", _("(none)"));
		json_array_foreach(a, i, v)
			printf("%s%s (%s, %s)", i ? ", " : " ",
			    cli_id_str(v, "login"), cli_id_str(v, "kind"),
			    cli_id_str(v, "state"));
		printf("\n");
	}
}

static int
person_add(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	const char *name = NULL, *kana = NULL, *section = NULL,
	    *employment = NULL, *start = NULL, *end = NULL;
	const struct cli_opt opts[] = {
		{ "name", 0, required_argument, &name, NULL },
		{ "kana", 0, required_argument, &kana, NULL },
		{ "section", 0, required_argument, &section, NULL },
		{ "employment", 0, required_argument, &employment, NULL },
		{ "start", 0, required_argument, &start, NULL },
		{ "end", 0, required_argument, &end, NULL },
		{ NULL, 0, 0, NULL, NULL },
	};
	json_t *body, *resp = NULL;
	int first, code;

	if ((code = cli_parse(cli, v, argc, argv, opts, &first)) != CLI_DONE ||
	    (code = cli_id_one_arg(cli, v, argc, argv, first,
	    _("a staff number"))) != CLI_DONE)
		return code;
	if (name == NULL || employment == NULL)
		return cli_usage_error(cli, v, _("--name and --employment are "
		    "required"));
	body = json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:s?, s:s?}",
	    "staff_no", argv[first], "name", name, "kana", kana, "section",
	    section, "employment", employment, "start", start, "end", end);
	if (body == NULL)
		return cli_error(cli, KAGI_ERR_INVALID, NULL, "%s",
		    _("the arguments are not valid UTF-8 text"));
	code = cli_id_call(cli, "POST", "/v1/persons", body, &resp);
	json_decref(body);
	if (code != 0)
		return code;
	if (cli->json)
		code = cli_print_json(cli, resp);
	else
		printf(_("Added the person %s (%s).\n"), argv[first], name);
	json_decref(resp);
	return code;
}

static int
person_show(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	json_t *resp = NULL;
	char seg[128], path[200];
	int first, code;

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE ||
	    (code = cli_id_one_arg(cli, v, argc, argv, first,
	    _("a staff number"))) != CLI_DONE)
		return code;
	cli_id_seg(argv[first], seg, sizeof(seg));
	snprintf(path, sizeof(path), "/v1/persons/%s", seg);
	if ((code = cli_id_call(cli, "GET", path, NULL, &resp)) != 0)
		return code;
	if (cli->json)
		code = cli_print_json(cli, resp);
	else
		print_person(json_object_get(resp, "person"));
	json_decref(resp);
	return code;
}

static int
person_list(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	json_t *resp = NULL;
	const json_t *a, *p;
	size_t i;
	int first, code;

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE)
		return code;
	if (first < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first]);
	if ((code = cli_id_call(cli, "GET", "/v1/persons", NULL, &resp)) != 0)
		return code;
	if (cli->json) {
		code = cli_print_json(cli, resp);
		json_decref(resp);
		return code;
	}
	a = json_object_get(resp, "persons");
	if (json_array_size(a) == 0)
		printf(_("No persons.\n"));
	else
		printf("%-12s %-12s %-10s %s / %s\n", _("STAFF NO"),
		    _("EMPLOYMENT"), _("STATUS"), _("NAME"), _("SECTION"));
	json_array_foreach(a, i, p)
		printf("%-12s %-12s %-10s %s / %s\n", cli_id_str(p, "staff_no"),
		    cli_id_str(p, "employment"), cli_id_str(p, "hr_status"),
		    cli_id_str(p, "name"), cli_id_str(p, "section")[0] ?
		    cli_id_str(p, "section") : "-");
	json_decref(resp);
	return 0;
}

const struct cli_verb cli_person_verbs[] = {
	{ "add", N_("STAFF_NO --name NAME --employment TYPE [OPTIONS]"),
	  N_("register a person (staff member, contractor, council member...)"),
	  N_("Options:\n"
	     "  --name NAME        full name (required)\n"
	     "  --kana KANA        reading of the name\n"
	     "  --section SECTION  section (所属)\n"
	     "  --employment TYPE  regular, fiscal-year, temporary, part-time,\n"
	     "                     dispatched, contractor, council, other "
	     "(required)\n"
	     "  --start DATE       first day, YYYY-MM-DD\n"
	     "  --end DATE         last day, YYYY-MM-DD (required for "
	     "contractor and\n"
	     "                     dispatched staff, R-ID-11)\n"
	     "\nThe staff number is 1 to 32 characters: digits, letters, "
	     "'-'.\n"),
	  person_add, NULL },
	{ "show", N_("STAFF_NO"), N_("show a person and their accounts"), NULL,
	  person_show, NULL },
	{ "list", "", N_("list persons"), NULL, person_list, NULL },
	{ NULL, NULL, NULL, NULL, NULL, NULL },
};
