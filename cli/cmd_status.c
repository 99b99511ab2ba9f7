/*
 * kagi status: GET /v1/health and /v1/status and a readable summary.
 * With --json: {"endpoint", "health", "status"}.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "kagi/client.h"
#include "kagi/conf.h"
#include "kagi/err.h"
#include "kagi/i18n.h"

#include "verbs.h"

/* A scalar as text for display ("" for absent or structured values). */
static const char *
scalar(const json_t *v, char *buf, size_t len)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		return buf;
	}
	if (json_is_true(v))
		return _("yes");
	if (json_is_false(v))
		return _("no");
	return NULL;
}

static void
line(const char *label, const char *value)
{
	if (value != NULL && value[0] != '\0')
		printf("  %s: %s\n", label, value);
}

static void
line_json(const char *label, const json_t *obj, const char *key)
{
	char buf[64];

	line(label, scalar(json_object_get(obj, key), buf, sizeof(buf)));
}

static void
format_uptime(int64_t s, char *buf, size_t len)
{
	long long d = (long long)(s / 86400);
	long long h = (long long)((s % 86400) / 3600);
	long long m = (long long)((s % 3600) / 60);
	long long sec = (long long)(s % 60);

	if (d > 0)
		snprintf(buf, len, _("%lld days %lld h %lld min"), d, h, m);
	else if (h > 0)
		snprintf(buf, len, _("%lld h %lld min %lld s"), h, m, sec);
	else
		snprintf(buf, len, _("%lld min %lld s"), m, sec);
}

static void
print_status(const char *endpoint, const json_t *health, const json_t *st)
{
	const json_t *audit, *policy, *listen, *hsm, *zones, *z, *v;
	char buf[256], buf2[64];
	char list[1024];
	size_t i, off;

	printf(_("kagid at %s is answering.\n"), endpoint);
	line_json(_("health"), health, "status");
	line_json(_("version"), st, "version");
	if (cli_format_time(json_object_get(st, "started"), buf,
	    sizeof(buf)) == 0)
		line(_("started"), buf);
	v = json_object_get(st, "uptime_s");
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		format_uptime((int64_t)json_integer_value(v), buf, sizeof(buf));
		line(_("uptime"), buf);
	}
	if (cli_format_time(json_object_get(health, "time"), buf,
	    sizeof(buf)) == 0)
		line(_("server time"), buf);
	line_json(_("store schema version"), st, "schema");
	line_json(_("persons"), st, "persons");
	line_json(_("accounts"), st, "accounts");
	audit = json_object_get(st, "audit");
	if (json_is_object(audit)) {
		line_json(_("audit records"), audit, "records");
		line_json(_("audit head sequence"), audit, "head_seq");
		line_json(_("audit head hash"), audit, "head_hash");
	}
	policy = json_object_get(st, "policy");
	if (json_is_object(policy)) {
		line_json(_("policy file"), policy, "path");
		zones = json_object_get(policy, "zones");
		list[0] = '\0';
		off = 0;
		json_array_foreach(zones, i, z) {
			const char *name = scalar(z, buf2, sizeof(buf2));
			if (name == NULL && json_is_object(z))
				name = json_string_value(json_object_get(z,
				    "name"));
			if (name == NULL)
				continue;
			off += (size_t)snprintf(list + off, sizeof(list) - off,
			    "%s%s", off ? ", " : "", name);
			if (off >= sizeof(list))
				break;
		}
		line(_("zones"), list);
		line_json(_("My Number zone"), policy, "mynumber_zone");
	}
	listen = json_object_get(st, "listen");
	if (json_is_object(listen)) {
		line_json(_("HTTPS API (mTLS)"), listen, "https");
		line_json(_("HTTP (OCSP, CRL)"), listen, "http");
		line_json(_("local socket"), listen, "socket");
	}
	hsm = json_object_get(st, "hsm");
	if (json_is_object(hsm)) {
		line_json(_("HSM module"), hsm, "module");
		line_json(_("HSM token"), hsm, "token");
	}
}

int
cmd_status(struct cli *cli, const struct cli_verb *v, int argc, char **argv)
{
	struct kagi_conf *conf = NULL;
	struct kagi_client *client = NULL;
	json_t *health = NULL, *st = NULL, *all = NULL;
	long http = 0;
	int first, code, r;

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE)
		return code;
	if (first < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first]);
	if ((code = cli_connect(cli, &conf, &client)) != 0)
		goto out;
	if ((r = kagi_client_call(client, "GET", "/v1/health", NULL, &health,
	    &http)) != 0) {
		code = cli_api_error(cli, client, r, health);
		goto out;
	}
	if ((r = kagi_client_call(client, "GET", "/v1/status", NULL, &st,
	    &http)) != 0) {
		code = cli_api_error(cli, client, r, st);
		goto out;
	}
	if (cli->json) {
		all = json_pack("{s:s, s:O, s:O}", "endpoint",
		    kagi_client_endpoint(client), "health", health, "status",
		    st);
		code = cli_print_json(cli, all);
		goto out;
	}
	print_status(kagi_client_endpoint(client), health, st);
	code = fflush(stdout) == 0 ? 0 : kagi_err_exit_code(KAGI_ERR_SYSTEM);
out:
	json_decref(all);
	json_decref(health);
	json_decref(st);
	kagi_client_free(client);
	kagi_conf_free(conf);
	return code;
}
