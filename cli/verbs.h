/*
 * kagi (the operator's tool): the verb table and the helpers every verb
 * uses.  A verb holds no business logic: it parses its arguments, calls
 * kagid's API through kagi_client, and prints the answer for a person or,
 * with --json, as one JSON document on stdout.  A verb returns the process
 * exit code (kagi_err_exit_code of the error, 0 on success).
 */
#ifndef KAGI_CLI_VERBS_H
#define KAGI_CLI_VERBS_H

#include <getopt.h>
#include <stdio.h>

#include <jansson.h>

#include "kagi/client.h"
#include "kagi/conf.h"
#include "kagi/err.h"

/* Global options, valid before the verb and after it. */
struct cli {
	const char *config; /* --config FILE; NULL: $KAGI_CONFIG or default */
	int json;           /* --json */
	int quiet;          /* -q: only results and errors */
	int verbose;        /* -v: show debug log lines */
	const char *parent; /* "audit" while running a subverb, else NULL */
};

struct cli_verb;
typedef int cli_run_fn(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv);

struct cli_verb {
	const char *name;
	const char *args;    /* N_(): synopsis after the verb name */
	const char *summary; /* N_(): one line */
	const char *help;    /* N_(): options and details, or NULL */
	cli_run_fn *run;     /* NULL when the verb only has subverbs */
	const struct cli_verb *sub; /* subverbs (name NULL ends), or NULL */
};

/* A verb option: a long name (and optional short letter). */
struct cli_opt {
	const char *name;
	int short_name;      /* 0 if none */
	int has_arg;         /* no_argument / required_argument */
	const char **value;  /* set to the argument (has_arg) */
	int *flag;           /* set to 1 (no argument) */
};

/* The tables (main.c, cmd_*.c). */
extern const struct cli_verb cli_verbs[];
extern const struct cli_verb cli_audit_verbs[];

cli_run_fn cmd_init;
cli_run_fn cmd_status;
cli_run_fn cmd_audit_verify;
cli_run_fn cmd_audit_export;
cli_run_fn cmd_version;
cli_run_fn cmd_help;

#define CLI_DONE (-1) /* cli_parse: go on with the verb */

/*
 * Parse the global options and the verb's opts (array ending with a NULL
 * name).  Returns CLI_DONE with *first_arg set to the first operand, or an
 * exit code to return at once (0 after --help, 2 after a usage error, whose
 * message has been printed).
 */
int cli_parse(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv, const struct cli_opt *opts, int *first_arg);

/* Print a usage error for v (NULL: the tool) and return the exit code 2. */
int cli_usage_error(struct cli *cli, const struct cli_verb *v,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Full help for v (NULL: the tool) to f. */
void cli_print_help(const struct cli_verb *v, const char *parent, FILE *f);
/* Help for v as a JSON object (new reference). */
json_t *cli_help_json(const struct cli_verb *v, const char *parent);

/*
 * Report an error: "kagi: MESSAGE" on stderr, or with --json
 * {"error": name, "message": MESSAGE, ...extra} on stdout.  extra (may be
 * NULL) is borrowed.  Returns kagi_err_exit_code(err).
 */
int cli_error(struct cli *cli, int err, const json_t *extra,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/*
 * Report a failed API call: unreachable kagid names the endpoint; an API
 * error shows the translated text of its "error" name and the server's
 * message; resp (may be NULL) is the error object.
 */
int cli_api_error(struct cli *cli, const struct kagi_client *c, int err,
    const json_t *resp);
/* Load the configuration and open a client; on failure prints the error
 * and returns the exit code, else 0. */
int cli_connect(struct cli *cli, struct kagi_conf **conf,
    struct kagi_client **client);
/* Print a JSON value on stdout (indented, one document). 0 or exit code. */
int cli_print_json(struct cli *cli, const json_t *v);
/* An RFC 3339 time (string) or epoch seconds (integer) in local time. */
int cli_format_time(const json_t *v, char *buf, size_t len);

#endif
