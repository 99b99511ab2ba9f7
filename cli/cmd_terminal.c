/*
 * kagi terminal add | list | show: terminal records (R-TERM-1) that
 * `kagi ca issue --profile terminal --for-device ID` certifies.
 * docs/API.md "Terminals".
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

#define TERM_DNS_MAX 8

static const char *
jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

static const char *
tstate(const char *s)
{
	return strcmp(s, "active") == 0 ? _("active") :
	    strcmp(s, "revoked") == 0 ? _("revoked") : s;
}

static void
print_term(const json_t *t, int one)
{
	json_t *d;
	size_t i;
	char dns[600], created[80];

	dns[0] = '\0';
	json_array_foreach(json_object_get(t, "dns"), i, d) {
		size_t o = strlen(dns);
		snprintf(dns + o, sizeof(dns) - o, "%s%s", o ? "," : "",
		    json_string_value(d) ? json_string_value(d) : "");
	}
	if (cli_format_time(json_object_get(t, "created"), created,
	    sizeof(created)) != 0)
		created[0] = '\0';
	if (!one) {
		printf("%-24s %-10s %-8s %s %s\n", jstr(t, "device"),
		    jstr(t, "zone"), tstate(jstr(t, "state")),
		    jstr(t, "cert_serial")[0] ? jstr(t, "cert_serial") : "-",
		    dns);
		return;
	}
	printf("  %-22s %s\n", _("device"), jstr(t, "device"));
	printf("  %-22s %s\n", _("zone"), jstr(t, "zone"));
	printf("  %-22s %s\n", _("state"), tstate(jstr(t, "state")));
	if (dns[0])
		printf("  %-22s %s\n", _("DNS names"), dns);
	if (jstr(t, "cert_serial")[0])
		printf("  %-22s %s\n", _("certificate"), jstr(t, "cert_serial"));
	if (created[0])
		printf("  %-22s %s\n", _("created"), created);
}

int
cmd_terminal_add(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	const char *zone = NULL, *d1 = NULL;
	const struct cli_opt opts[] = {
		{ "zone", 'z', required_argument, &zone, NULL },
		{ "dns", 0, required_argument, &d1, NULL },
		{ NULL, 0, 0, NULL, NULL },
	};
	const char *dns[TERM_DNS_MAX];
	struct kagi_conf *conf = NULL;
	struct kagi_client *client = NULL;
	json_t *body = NULL, *resp = NULL, *a;
	long http = 0;
	size_t nd;
	int first, code, r;

	if ((code = cli_parse(cli, v, argc, argv, opts, &first)) != CLI_DONE)
		return code;
	if (first >= argc)
		return cli_usage_error(cli, v, _("ID is required"));
	if (first + 1 < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first + 1]);
	if (zone == NULL)
		return cli_usage_error(cli, v, _("--zone is required"));
	if ((nd = cli_multi(argc, argv, "dns", dns, TERM_DNS_MAX)) >
	    TERM_DNS_MAX)
		return cli_usage_error(cli, v, _("at most 8 --dns values"));
	body = json_pack("{s:s, s:s}", "device", argv[first], "zone", zone);
	if (body == NULL)
		return cli_error(cli, KAGI_ERR_INVALID, NULL, "%s",
		    kagi_strerror(KAGI_ERR_INVALID));
	if (nd > 0) {
		a = json_array();
		for (size_t i = 0; i < nd; i++)
			json_array_append_new(a, json_string(dns[i]));
		json_object_set_new(body, "dns", a);
	}
	if ((code = cli_connect(cli, &conf, &client)) != 0)
		goto out;
	if ((r = kagi_client_call(client, "POST", "/v1/terminals", body,
	    &resp, &http)) != 0) {
		code = cli_ca_api_error(cli, client, r, resp);
		goto out;
	}
	if (cli->json) {
		code = cli_print_json(cli, resp);
		goto out;
	}
	if (!cli->quiet)
		printf(_("Added terminal %s in zone %s.\n"),
		    jstr(resp, "device"), jstr(resp, "zone"));
	code = 0;
out:
	json_decref(body);
	json_decref(resp);
	kagi_client_free(client);
	kagi_conf_free(conf);
	return code;
}

static int
term_get(struct cli *cli, const char *path, int one)
{
	struct kagi_conf *conf = NULL;
	struct kagi_client *client = NULL;
	json_t *resp = NULL, *t;
	long http = 0;
	size_t i;
	int code, r;

	if ((code = cli_connect(cli, &conf, &client)) != 0)
		goto out;
	if ((r = kagi_client_call(client, "GET", path, NULL, &resp,
	    &http)) != 0) {
		code = cli_ca_api_error(cli, client, r, resp);
		goto out;
	}
	if (cli->json) {
		code = cli_print_json(cli, resp);
		goto out;
	}
	if (one)
		print_term(resp, 1);
	else {
		if (json_array_size(json_object_get(resp, "terminals")) == 0 &&
		    !cli->quiet)
			printf("%s\n", _("No terminals."));
		json_array_foreach(json_object_get(resp, "terminals"), i, t)
			print_term(t, 0);
	}
	code = 0;
out:
	json_decref(resp);
	kagi_client_free(client);
	kagi_conf_free(conf);
	return code;
}

int
cmd_terminal_list(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	int first, code;

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE)
		return code;
	if (first < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first]);
	return term_get(cli, "/v1/terminals", 0);
}

int
cmd_terminal_show(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	char path[128];
	int first, code;

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE)
		return code;
	if (first >= argc)
		return cli_usage_error(cli, v, _("ID is required"));
	if (first + 1 < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first + 1]);
	/* device ids are [A-Za-z0-9._-]; anything else cannot exist */
	if (strlen(argv[first]) > 64 || strspn(argv[first],
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
	    != strlen(argv[first]))
		return cli_error(cli, KAGI_ERR_NOT_FOUND, NULL,
		    _("unknown device '%s'"), argv[first]);
	snprintf(path, sizeof(path), "/v1/terminals/%s", argv[first]);
	return term_get(cli, path, 1);
}
