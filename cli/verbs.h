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
cli_run_fn cmd_ca_show;
cli_run_fn cmd_ca_issue;
cli_run_fn cmd_ca_revoke;
cli_run_fn cmd_ca_unhold;
cli_run_fn cmd_ca_list;
cli_run_fn cmd_ca_crl;
cli_run_fn cmd_terminal_add;
cli_run_fn cmd_terminal_list;
cli_run_fn cmd_terminal_show;
extern const struct cli_verb cli_ca_verbs[];
extern const struct cli_verb cli_terminal_verbs[];
/* cmd_card.c: the card lifecycle (docs/CARDS.md); replace and pin-unblock
 * are in cmd_enrol.c. */
extern const struct cli_verb cli_card_verbs[];
cli_run_fn cmd_card_list;
cli_run_fn cmd_card_show;
cli_run_fn cmd_card_lost;
cli_run_fn cmd_card_found;
cli_run_fn cmd_card_return;
cli_run_fn cmd_card_destroy;
cli_run_fn cmd_card_approve;
cli_run_fn cmd_card_replace;
cli_run_fn cmd_card_pin_unblock;
cli_run_fn cmd_card_jpki_bind; /* cmd_jpki.c (R-JPKI-1) */
/* cmd_ca.c: an API error with kagid's "detail" (translated if known). */
int cli_ca_api_error(struct cli *cli, const struct kagi_client *c, int err,
    const json_t *resp);
/* Values of a repeatable option --NAME X / --NAME=X (count; first max kept). */
size_t cli_multi(int argc, char **argv, const char *name, const char **out,
    size_t max);
/* cmd_enrol.c: enrolment at the counter (issue 6). */
cli_run_fn cmd_enrol;
/*
 * A secret (PIN, password): one line from pinf (a --pin-fd stream) when not
 * NULL, else from /dev/tty after prompt, without echo.  *out: secure
 * memory (kagi_secure_strfree).
 */
int cli_read_secret(FILE *pinf, const char *prompt, char **out);
/* cmd_login.c: kagi login / logout, an operator's card session (issue 6) */
cli_run_fn cmd_login;
cli_run_fn cmd_logout;
/* The operator session file (kagi login), or NULL if none can be named. */
const char *cli_operator_session_file(char *buf, size_t len);
void cli_attach_operator_session(struct kagi_client *c);
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

/* cmd_priv.c, cmd_hr.c, cmd_sweep.c: windows, HR feed, sweeps. */
extern const struct cli_verb cli_priv_verbs[];
extern const struct cli_verb cli_hr_verbs[];
cli_run_fn cmd_priv_request;
cli_run_fn cmd_priv_approve;
cli_run_fn cmd_priv_deny;
cli_run_fn cmd_priv_revoke;
cli_run_fn cmd_priv_list;
cli_run_fn cmd_hr_plan;
cli_run_fn cmd_hr_apply;
cli_run_fn cmd_sweep;

/* cmd_person.c, cmd_user.c, cmd_operator.c: the ID verbs. */
extern const struct cli_verb cli_person_verbs[];
extern const struct cli_verb cli_user_verbs[];
extern const struct cli_verb cli_operator_verbs[];
/* Percent-encode a path segment (login, staff number). */
void cli_id_seg(const char *s, char *out, size_t len);
/* Connect, call and report an error (role refusals name the roles needed);
 * 0 and *resp set, or the exit code. */
int cli_id_call(struct cli *cli, const char *method, const char *path,
    const json_t *body, json_t **resp);
int cli_id_error(struct cli *cli, const struct kagi_client *c, int err,
    const json_t *resp);
/* A string member or "" ; a time member in local time or "-". */
const char *cli_id_str(const json_t *o, const char *key);
void cli_id_time(const json_t *o, const char *key, char *buf, size_t len);
/* Exactly one operand (what: for the message): CLI_DONE or an exit code. */
int cli_id_one_arg(struct cli *cli, const struct cli_verb *v, int argc,
    char **argv, int first, const char *what);

#endif
