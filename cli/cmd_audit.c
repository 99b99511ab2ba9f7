/*
 * kagi audit verify | export (R-LOG-1..5).
 *
 * verify: POST /v1/audit/verify.  kagid recomputes the hash chain; an intact
 * chain answers {"ok": true, "records", "head_seq"}, a broken one the error
 * "corrupt" with "bad_seq", the first sequence that does not match (exit 7).
 *
 * export: GET /v1/audit/export?since=SEQ&format=jsonl|syslog.  The body goes
 * to stdout, or to --output FILE replaced atomically with mode 0600.  With
 * --json and no --output the records are wrapped in one JSON document.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kagi/client.h"
#include "kagi/conf.h"
#include "kagi/err.h"
#include "kagi/file.h"
#include "kagi/i18n.h"
#include "kagi/json.h"

#include "verbs.h"

int
cmd_audit_verify(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	struct kagi_conf *conf = NULL;
	struct kagi_client *client = NULL;
	json_t *resp = NULL, *bad;
	long http = 0;
	int first, code, r;
	json_int_t records = -1, head = -1;

	if ((code = cli_parse(cli, v, argc, argv, NULL, &first)) != CLI_DONE)
		return code;
	if (first < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first]);
	if ((code = cli_connect(cli, &conf, &client)) != 0)
		goto out;
	r = kagi_client_call(client, "POST", "/v1/audit/verify", NULL, &resp,
	    &http);
	if (r == KAGI_ERR_CORRUPT) {
		bad = json_object_get(resp, "bad_seq");
		if (json_is_integer(bad))
			code = cli_error(cli, r, resp,
			    _("audit chain broken at record %lld"),
			    (long long)json_integer_value(bad));
		else
			code = cli_api_error(cli, client, r, resp);
		if (!cli->json && json_is_string(json_object_get(resp,
		    "message")))
			fprintf(stderr, "kagi: %s\n", json_string_value(
			    json_object_get(resp, "message")));
		goto out;
	}
	if (r != 0) {
		code = cli_api_error(cli, client, r, resp);
		goto out;
	}
	/* Only an explicit "ok": true counts as verified (fail closed). */
	if (!json_is_true(json_object_get(resp, "ok"))) {
		code = cli_error(cli, KAGI_ERR_CORRUPT, resp,
		    _("kagid did not confirm that the audit chain is intact"));
		goto out;
	}
	if (json_is_integer(json_object_get(resp, "records")))
		records = json_integer_value(json_object_get(resp, "records"));
	if (json_is_integer(json_object_get(resp, "head_seq")))
		head = json_integer_value(json_object_get(resp, "head_seq"));
	if (cli->json) {
		code = cli_print_json(cli, resp);
		goto out;
	}
	printf(_("audit chain intact: %lld records (head sequence %lld)\n"),
	    (long long)records, (long long)head);
	code = 0;
out:
	json_decref(resp);
	kagi_client_free(client);
	kagi_conf_free(conf);
	return code;
}

/* A decimal sequence number (no sign, no spaces). */
static int
parse_seq(const char *s, unsigned long long *out)
{
	char *end = NULL;
	unsigned long long n;

	*out = 0;
	if (s == NULL || s[0] < '0' || s[0] > '9')
		return KAGI_ERR_INVALID;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno != 0 || end == NULL || *end != '\0' ||
	    n > (unsigned long long)INT64_MAX)
		return KAGI_ERR_INVALID;
	*out = n;
	return 0;
}

static size_t
count_lines(const char *p, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		if (p[i] == '\n')
			n++;
	if (len > 0 && p[len - 1] != '\n')
		n++;
	return n;
}

/* The export as one JSON document: jsonl lines parsed, syslog lines as
 * strings. */
static int
export_json(struct cli *cli, const char *format, const char *body, size_t len,
    json_t **out)
{
	json_t *o = NULL, *a = NULL, *rec = NULL;
	const char *p = body, *end = body + len, *nl;
	char perr[160];
	int r = KAGI_ERR_INTERNAL;
	size_t n;

	(void)cli;
	*out = NULL;
	if ((a = json_array()) == NULL)
		return KAGI_ERR_NOMEM;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		if (n > 0) {
			if (strcmp(format, "jsonl") == 0) {
				if (kagi_json_parse_object(p, n, &rec, perr,
				    sizeof(perr)) != 0) {
					r = KAGI_ERR_FORMAT;
					goto out;
				}
			} else if ((rec = json_stringn(p, n)) == NULL) {
				r = KAGI_ERR_FORMAT;
				goto out;
			}
			if (json_array_append_new(a, rec) != 0) {
				rec = NULL;
				r = KAGI_ERR_NOMEM;
				goto out;
			}
			rec = NULL;
		}
		p += n + (nl != NULL ? 1 : 0);
	}
	if ((o = json_pack("{s:s, s:O}", "format", format, "records", a)) ==
	    NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	*out = o;
	r = 0;
out:
	json_decref(a);
	return r;
}

int
cmd_audit_export(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv)
{
	struct kagi_conf *conf = NULL;
	struct kagi_client *client = NULL;
	const char *since_s = NULL, *format = "jsonl", *output = NULL;
	const struct cli_opt opts[] = {
		{ "since", 0, required_argument, &since_s, NULL },
		{ "format", 0, required_argument, &format, NULL },
		{ "output", 'o', required_argument, &output, NULL },
		{ NULL, 0, 0, NULL, NULL },
	};
	unsigned long long since = 0;
	char path[128];
	char *body = NULL;
	size_t len = 0;
	json_t *err = NULL, *o = NULL;
	char perr[160];
	long http = 0;
	int first, code, r;

	if ((code = cli_parse(cli, v, argc, argv, opts, &first)) != CLI_DONE)
		return code;
	if (first < argc)
		return cli_usage_error(cli, v, _("unexpected argument '%s'"),
		    argv[first]);
	if (since_s != NULL && parse_seq(since_s, &since) != 0)
		return cli_usage_error(cli, v,
		    _("--since needs a sequence number, not '%s'"), since_s);
	if (strcmp(format, "jsonl") != 0 && strcmp(format, "syslog") != 0)
		return cli_usage_error(cli, v,
		    _("--format must be jsonl or syslog, not '%s'"), format);
	if (output != NULL && output[0] == '\0')
		return cli_usage_error(cli, v, _("--output needs a file name"));
	if (since_s != NULL)
		snprintf(path, sizeof(path),
		    "/v1/audit/export?since=%llu&format=%s", since, format);
	else
		snprintf(path, sizeof(path), "/v1/audit/export?format=%s",
		    format);
	if ((code = cli_connect(cli, &conf, &client)) != 0)
		goto out;
	r = kagi_client_call_raw(client, "GET", path, &body, &len, &http);
	if (r != 0) {
		if (body != NULL && kagi_json_parse_object(body, len, &err,
		    perr, sizeof(perr)) != 0)
			err = NULL;
		code = cli_api_error(cli, client, r, err);
		goto out;
	}
	if (output != NULL) {
		if ((r = kagi_file_write_atomic(output, body, len, 0600)) != 0) {
			code = cli_error(cli, r, NULL,
			    _("cannot write %s: %s"), output,
			    kagi_strerror(r));
			goto out;
		}
		if (cli->json) {
			o = json_pack("{s:s, s:s, s:I, s:I}", "output", output,
			    "format", format, "bytes", (json_int_t)len,
			    "records", (json_int_t)count_lines(body, len));
			code = cli_print_json(cli, o);
			goto out;
		}
		if (!cli->quiet)
			fprintf(stderr, _("wrote %zu audit records to %s\n"),
			    count_lines(body, len), output);
		code = 0;
		goto out;
	}
	if (cli->json) {
		if ((r = export_json(cli, format, body, len, &o)) != 0) {
			code = cli_error(cli, r, NULL,
			    _("kagid sent an export that is not valid %s"),
			    format);
			goto out;
		}
		code = cli_print_json(cli, o);
		goto out;
	}
	if ((len > 0 && fwrite(body, 1, len, stdout) != len) ||
	    fflush(stdout) != 0) {
		code = cli_error(cli, KAGI_ERR_SYSTEM, NULL,
		    _("cannot write to standard output"));
		goto out;
	}
	code = 0;
out:
	json_decref(o);
	json_decref(err);
	free(body);
	kagi_client_free(client);
	kagi_conf_free(conf);
	return code;
}
