/*
 * kagi sweep [--dry-run] (R-ID-12, R-DEV-1, R-PW-6, R-PRIV-7): run kagid's
 * sweep now (POST /v1/sweep).  kagid also runs it every [sweep] interval.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kagi/client.h"
#include "kagi/conf.h"
#include "kagi/err.h"
#include "kagi/i18n.h"

#include "verbs.h"

static void
print_list(const json_t *rep, const char *key, const char *title)
{
	const json_t *a = json_object_get(rep, key), *e;
	size_t i;

	printf("  %s: %zu\n", title, json_array_size(a));
	json_array_foreach(a, i, e)
		printf("    %s\n", json_string_value(e));
}

int
cmd_sweep(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	struct kagi_conf *conf = NULL;
	struct kagi_client *client = NULL;
	json_t *body = NULL, *resp = NULL;
	long http = 0;
	int dry = 0, first, code, r;
	const struct cli_opt opts[] = {
		{ "dry-run", 'n', no_argument, NULL, &dry },
		{ NULL, 0, 0, NULL, NULL },
	};

	if ((code = cli_parse(cli, v, argc, argv, opts, &first)) != CLI_DONE)
		return code;
	if (first < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first]);
	if ((body = json_pack("{s:b}", "dry_run", dry)) == NULL)
		return cli_error(cli, KAGI_ERR_NOMEM, NULL, "%s",
		    kagi_strerror(KAGI_ERR_NOMEM));
	if ((code = cli_connect(cli, &conf, &client)) != 0)
		goto out;
	r = kagi_client_call(client, "POST", "/v1/sweep", body, &resp, &http);
	if (r != 0) {
		code = cli_api_error(cli, client, r, resp);
		goto out;
	}
	if (cli->json) {
		code = cli_print_json(cli, resp);
		goto out;
	}
	printf(dry ? _("Sweep (dry run: nothing was changed):\n") :
	    _("Sweep done:\n"));
	print_list(resp, "dormant", _("dormant accounts (disabled)"));
	print_list(resp, "expired", _("expired accounts (disabled)"));
	print_list(resp, "temp_passwords",
	    _("expired temporary passwords (cleared)"));
	print_list(resp, "windows_ended", _("privileged windows past their end (ended)"));
	code = 0;
out:
	json_decref(body);
	json_decref(resp);
	kagi_client_free(client);
	kagi_conf_free(conf);
	return code;
}
