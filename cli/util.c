/*
 * Helpers shared by the verbs: option parsing with the global options,
 * help and usage text, error reporting (human or JSON), connecting to kagid.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "kagi/client.h"
#include "kagi/conf.h"
#include "kagi/err.h"
#include "kagi/file.h"
#include "kagi/i18n.h"
#include "kagi/log.h"
#include "kagi/secmem.h"
#include "kagi/util.h"

#include "verbs.h"

#define CLI_MAX_OPTS 32

enum {
	OPT_CONFIG = 0x100,
	OPT_JSON,
	OPT_HELP,
	OPT_QUIET,
	OPT_VERBOSE,
	OPT_VERB_BASE = 0x200,
};

static void
print_synopsis(const struct cli_verb *v, const char *parent, FILE *f)
{
	fprintf(f, _("Usage: kagi [GLOBAL OPTIONS] %s%s%s %s\n"),
	    parent ? parent : "", parent ? " " : "", v->name,
	    v->args && v->args[0] ? _(v->args) : "");
}

void
cli_print_help(const struct cli_verb *v, const char *parent, FILE *f)
{
	const struct cli_verb *s;

	if (v == NULL) {
		fputs(_("Usage: kagi [GLOBAL OPTIONS] COMMAND [ARGUMENTS]\n"), f);
		fputs(_("kagi is the operator's tool for the kagi PKI and "
		    "credential service.\n"), f);
		fputs(_("\nCommands:\n"), f);
		for (s = cli_verbs; s->name != NULL; s++)
			fprintf(f, "  %-10s %s\n", s->name, _(s->summary));
		fputs(_("\nGlobal options:\n"
		    "  --config FILE  configuration file (else $KAGI_CONFIG, "
		    "else /etc/kagi/kagi.conf)\n"
		    "  --json         machine-readable output on stdout\n"
		    "  -q, --quiet    print only results and errors\n"
		    "  -v, --verbose  also print diagnostic log lines\n"
		    "  -h, --help     show this help\n"
		    "  --version      show the version\n"), f);
		fputs(_("\nRun 'kagi help COMMAND' for the options of a "
		    "command.  Exit codes are listed in kagi(1).\n"), f);
		return;
	}
	print_synopsis(v, parent, f);
	fprintf(f, "%s\n", _(v->summary));
	if (v->sub != NULL) {
		fputs(_("\nSubcommands:\n"), f);
		for (s = v->sub; s->name != NULL; s++)
			fprintf(f, "  %-10s %s\n", s->name, _(s->summary));
	}
	if (v->help != NULL)
		fprintf(f, "\n%s", _(v->help));
	fputs(_("\nGlobal options (--config, --json, -q, -v) are accepted "
	    "here too.\n"), f);
}

json_t *
cli_help_json(const struct cli_verb *v, const char *parent)
{
	const struct cli_verb *s, *list;
	json_t *o = NULL, *a = NULL, *e;
	char name[128];

	if ((o = json_object()) == NULL || (a = json_array()) == NULL)
		goto fail;
	if (v != NULL) {
		snprintf(name, sizeof(name), "%s%s%s", parent ? parent : "",
		    parent ? " " : "", v->name);
		json_object_set_new(o, "command", json_string(name));
		json_object_set_new(o, "arguments",
		    json_string(v->args && v->args[0] ? _(v->args) : ""));
		json_object_set_new(o, "summary", json_string(_(v->summary)));
		if (v->help != NULL)
			json_object_set_new(o, "help", json_string(_(v->help)));
	}
	list = v == NULL ? cli_verbs : v->sub;
	for (s = list; s != NULL && s->name != NULL; s++) {
		if ((e = json_pack("{s:s, s:s}", "name", s->name, "summary",
		    _(s->summary))) == NULL || json_array_append_new(a, e) != 0)
			goto fail;
	}
	json_object_set_new(o, v == NULL ? "commands" : "subcommands", a);
	return o;
fail:
	json_decref(a);
	json_decref(o);
	return NULL;
}

int
cli_print_json(struct cli *cli, const json_t *v)
{
	(void)cli;
	if (v == NULL || json_dumpf(v, stdout, JSON_INDENT(2) |
	    JSON_PRESERVE_ORDER) != 0 || fputc('\n', stdout) == EOF ||
	    fflush(stdout) != 0)
		return kagi_err_exit_code(KAGI_ERR_SYSTEM);
	return 0;
}

static int cli_verror(struct cli *cli, int err, const json_t *extra,
    const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

static int
cli_verror(struct cli *cli, int err, const json_t *extra, const char *fmt,
    va_list ap)
{
	char msg[1024];
	json_t *o = NULL;
	const char *k;
	json_t *val;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (cli->json) {
		o = json_object();
		if (o != NULL) {
			json_object_set_new(o, "error",
			    json_string(kagi_err_name(err)));
			json_object_set_new(o, "message", json_string(msg));
			if (json_is_object(extra)) {
				json_object_foreach((json_t *)extra, k, val) {
					if (strcmp(k, "error") != 0 &&
					    strcmp(k, "message") != 0)
						json_object_set(o, k, val);
				}
			}
			(void)cli_print_json(cli, o);
			json_decref(o);
		}
	} else {
		fprintf(stderr, "kagi: %s\n", msg);
	}
	return kagi_err_exit_code(err);
}

int
cli_error(struct cli *cli, int err, const json_t *extra, const char *fmt, ...)
{
	va_list ap;
	int code;

	va_start(ap, fmt);
	code = cli_verror(cli, err, extra, fmt, ap);
	va_end(ap);
	return code;
}

int
cli_usage_error(struct cli *cli, const struct cli_verb *v, const char *fmt,
    ...)
{
	va_list ap;
	int save = cli->json;
	char msg[512];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	(void)cli_error(cli, KAGI_ERR_USAGE, NULL, "%s", msg);
	if (save)
		fprintf(stderr, "kagi: %s\n", msg);
	if (v != NULL) {
		print_synopsis(v, cli->parent, stderr);
		fprintf(stderr, _("Run 'kagi help %s%s%s' for more.\n"),
		    cli->parent ? cli->parent : "", cli->parent ? " " : "",
		    v->name);
	} else {
		fputs(_("Usage: kagi [GLOBAL OPTIONS] COMMAND [ARGUMENTS]\n"),
		    stderr);
		fputs(_("Run 'kagi help' for the list of commands.\n"), stderr);
	}
	return kagi_err_exit_code(KAGI_ERR_USAGE);
}

int
cli_parse(struct cli *cli, const struct cli_verb *v, int argc, char **argv,
    const struct cli_opt *opts, int *first_arg)
{
	struct option lo[CLI_MAX_OPTS + 8];
	char shortopts[2 * CLI_MAX_OPTS + 8];
	size_t n = 0, ns = 0, i;
	int c, help = 0;

	*first_arg = argc;
	memset(lo, 0, sizeof(lo));
	lo[n++] = (struct option){ "config", required_argument, NULL,
	    OPT_CONFIG };
	lo[n++] = (struct option){ "json", no_argument, NULL, OPT_JSON };
	lo[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	lo[n++] = (struct option){ "quiet", no_argument, NULL, 'q' };
	lo[n++] = (struct option){ "verbose", no_argument, NULL, 'v' };
	/* '+': stop at the first operand, which names the (sub)verb. */
	if (v == NULL || v->sub != NULL)
		shortopts[ns++] = '+';
	shortopts[ns++] = ':';
	shortopts[ns++] = 'h';
	shortopts[ns++] = 'q';
	shortopts[ns++] = 'v';
	for (i = 0; opts != NULL && opts[i].name != NULL; i++) {
		if (i >= CLI_MAX_OPTS)
			return cli_error(cli, KAGI_ERR_INTERNAL, NULL,
			    "too many options");
		lo[n++] = (struct option){ opts[i].name, opts[i].has_arg,
		    NULL, OPT_VERB_BASE + (int)i };
		if (opts[i].short_name != 0) {
			shortopts[ns++] = (char)opts[i].short_name;
			if (opts[i].has_arg == required_argument)
				shortopts[ns++] = ':';
		}
	}
	shortopts[ns] = '\0';
	opterr = 0;
	optind = 0; /* full re-initialisation of GNU getopt */
	while ((c = getopt_long(argc, argv, shortopts, lo, NULL)) != -1) {
		switch (c) {
		case OPT_CONFIG:
			cli->config = optarg;
			break;
		case OPT_JSON:
			cli->json = 1;
			break;
		case 'h':
			help = 1;
			break;
		case 'q':
			cli->quiet = 1;
			break;
		case 'v':
			cli->verbose = 1;
			break;
		case ':':
			return cli_usage_error(cli, v,
			    _("option %s needs an argument"),
			    argv[optind - 1]);
		case '?':
			return cli_usage_error(cli, v, _("unknown option %s"),
			    argv[optind - 1]);
		default:
			for (i = 0; opts != NULL && opts[i].name != NULL; i++) {
				if (c == OPT_VERB_BASE + (int)i ||
				    (opts[i].short_name != 0 &&
				    c == opts[i].short_name))
					break;
			}
			if (opts == NULL || opts[i].name == NULL)
				return cli_usage_error(cli, v,
				    _("unknown option %s"), argv[optind - 1]);
			if (opts[i].value != NULL)
				*opts[i].value = optarg;
			if (opts[i].flag != NULL)
				*opts[i].flag = 1;
			break;
		}
	}
	kagi_log_set_level(cli->verbose ? KAGI_LOG_DEBUG :
	    cli->quiet ? KAGI_LOG_ERR : KAGI_LOG_WARN);
	if (help) {
		if (cli->json) {
			json_t *o = cli_help_json(v, cli->parent);
			int code = cli_print_json(cli, o);
			json_decref(o);
			return code;
		}
		cli_print_help(v, cli->parent, stdout);
		return 0;
	}
	*first_arg = optind;
	return CLI_DONE;
}

int
cli_api_error(struct cli *cli, const struct kagi_client *c, int err,
    const json_t *resp)
{
	const char *smsg = NULL;
	json_t *extra = NULL;
	int code;

	if (err == KAGI_ERR_UNAVAILABLE || err == KAGI_ERR_TIMEOUT) {
		extra = json_pack("{s:s}", "endpoint", kagi_client_endpoint(c));
		if (err == KAGI_ERR_TIMEOUT)
			code = cli_error(cli, err, extra,
			    _("kagid at %s did not answer in time"),
			    kagi_client_endpoint(c));
		else
			code = cli_error(cli, err, extra,
			    _("cannot reach kagid at %s (is kagid running? "
			    "Start it with: kagid --config FILE)"),
			    kagi_client_endpoint(c));
		json_decref(extra);
		return code;
	}
	if (json_is_object(resp))
		smsg = json_string_value(json_object_get(resp, "message"));
	if (smsg != NULL && smsg[0] != '\0')
		return cli_error(cli, err, resp, "%s (%s)", kagi_strerror(err),
		    smsg);
	return cli_error(cli, err, resp, "%s", kagi_strerror(err));
}

int
cli_connect(struct cli *cli, struct kagi_conf **conf,
    struct kagi_client **client)
{
	const char *path = kagi_conf_locate(cli->config);
	char errbuf[512];
	int r;

	*conf = NULL;
	*client = NULL;
	errbuf[0] = '\0';
	if ((r = kagi_conf_load(path, conf, errbuf, sizeof(errbuf))) != 0) {
		*conf = NULL;
		if (errbuf[0] != '\0')
			return cli_error(cli, r, NULL,
			    _("cannot use the configuration: %s"), errbuf);
		return cli_error(cli, r, NULL,
		    _("cannot use the configuration %s: %s"), path,
		    kagi_strerror(r));
	}
	if ((r = kagi_client_open(*conf, client)) != 0) {
		*client = NULL;
		kagi_conf_free(*conf);
		*conf = NULL;
		return cli_error(cli, r, NULL,
		    _("cannot set up the connection to kagid from %s: %s"),
		    path, kagi_strerror(r));
	}
	cli_attach_operator_session(*client);
	return 0;
}

const char *
cli_operator_session_file(char *buf, size_t len)
{
	const char *e = getenv("KAGI_OPERATOR_SESSION_FILE");
	const char *run = getenv("XDG_RUNTIME_DIR");
	int n;

	if (e != NULL && e[0] == '/')
		n = snprintf(buf, len, "%s", e);
	else if (run != NULL && run[0] == '/')
		n = snprintf(buf, len, "%s/kagi-operator-session", run);
	else
		n = snprintf(buf, len, "/run/user/%lu/kagi-operator-session",
		    (unsigned long)getuid());
	return n > 0 && (size_t)n < len ? buf : NULL;
}

/* kagi login's session (issue 6): sent with every request when present. */
void
cli_attach_operator_session(struct kagi_client *c)
{
	char path[512];
	uint8_t *id = NULL;
	size_t n = 0, len;

	if (cli_operator_session_file(path, sizeof(path)) == NULL ||
	    kagi_file_read(path, 256, KAGI_FILE_SECRET, &id, &n) != 0)
		return;
	len = n;
	while (n > 0 && (id[n - 1] == '\n' || id[n - 1] == '\r'))
		id[--n] = '\0';
	if (kagi_client_set_operator_session(c, (char *)id) != 0)
		kagi_log_warn("%s: not an operator session id; ignored", path);
	kagi_secure_free(id, len + 1);
}

int
cli_format_time(const json_t *v, char *buf, size_t len)
{
	int64_t t;

	if (json_is_integer(v)) {
		t = (int64_t)json_integer_value(v);
	} else if (json_is_string(v)) {
		if (kagi_time_parse(json_string_value(v), &t) != 0) {
			snprintf(buf, len, "%s", json_string_value(v));
			return 0;
		}
	} else {
		return KAGI_ERR_FORMAT;
	}
	return kagi_time_format_local(t, buf, len);
}

int
cli_read_secret(FILE *pinf, const char *prompt, char **out)
{
	char buf[128];
	struct termios old, raw;
	FILE *tty = NULL;
	FILE *in;
	size_t n;
	int restore = 0, r = KAGI_ERR_INTERNAL;

	*out = NULL;
	memset(buf, 0, sizeof(buf));
	if (pinf != NULL) {
		in = pinf;
	} else {
		if ((tty = fopen("/dev/tty", "r+")) == NULL) {
			r = KAGI_ERR_UNAVAILABLE;
			goto out;
		}
		in = tty;
		fprintf(tty, "%s", prompt);
		fflush(tty);
		if (tcgetattr(fileno(tty), &old) == 0) {
			raw = old;
			raw.c_lflag &= ~(tcflag_t)ECHO;
			raw.c_lflag |= ECHONL;
			if (tcsetattr(fileno(tty), TCSAFLUSH, &raw) == 0)
				restore = 1;
		}
	}
	if (fgets(buf, sizeof(buf), in) == NULL) {
		r = KAGI_ERR_UNAVAILABLE;
		goto out;
	}
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	else if (n == sizeof(buf) - 1) {
		r = KAGI_ERR_LIMIT;
		goto out;
	}
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	if ((*out = kagi_secure_strdup(buf)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	r = 0;
out:
	kagi_wipe(buf, sizeof(buf));
	if (restore)
		(void)tcsetattr(fileno(tty), TCSAFLUSH, &old);
	if (tty != NULL)
		fclose(tty);
	return r;
}
