/*
 * The error table: one row per KAGI_ERR_* code drives kagi_strerror,
 * kagi_err_name, kagi_err_from_name, kagi_err_http_status and
 * kagi_err_exit_code (STYLE.md 3).
 *
 * CLI exit codes (kagi(1) copies this table):
 *
 *   0   success
 *   1   internal error, out of memory, system error, HSM error
 *       (internal, nomem, system, hsm)
 *   2   command-line usage error (usage)
 *   3   no such object (not_found)
 *   4   refused: not allowed, authentication failed, locked, expired,
 *       revoked, bad signature, wrong PIN, password must be changed
 *       (denied, auth, locked, expired, revoked, sig, pin, must_change)
 *   5   bad input: malformed, trailing bytes, over a limit, invalid value
 *       (format, trailing, limit, invalid)
 *   6   service unreachable or timed out (unavailable, timeout)
 *   7   integrity check failed (corrupt)
 *   8   already exists or changed concurrently (exists, conflict)
 *   9   unsafe file mode or owner (perm)
 *   10  unsupported (newer) version (version)
 *
 * HTTP statuses for API error responses:
 *
 *   400  format, trailing, limit, invalid, usage   (the request is bad)
 *   401  auth, sig, pin                            (credential did not verify)
 *   403  denied, perm, locked, expired, revoked, must_change
 *                                                  (known caller, refused)
 *   404  not_found
 *   409  exists, conflict, version                (clashes with stored state;
 *                                                   version: record or request
 *                                                   format newer than this
 *                                                   server understands)
 *   500  internal, nomem, system, corrupt
 *   503  unavailable, hsm                          (retry later)
 *   504  timeout
 */
#include <stddef.h>
#include <string.h>

#include "kagi/err.h"
#include "kagi/i18n.h"

struct err_row {
	int code;
	const char *name;
	const char *text; /* English msgid; translated on use */
	int http;
	int exit_code;
};

static const struct err_row err_table[] = {
	{ KAGI_OK, "ok", N_("Success"), 200, 0 },
	{ KAGI_ERR_INTERNAL, "internal", N_("Internal error"), 500, 1 },
	{ KAGI_ERR_NOMEM, "nomem", N_("Out of memory"), 500, 1 },
	{ KAGI_ERR_SYSTEM, "system", N_("System error"), 500, 1 },
	{ KAGI_ERR_FORMAT, "format", N_("Malformed input"), 400, 5 },
	{ KAGI_ERR_TRAILING, "trailing", N_("Unexpected data after the end of the input"), 400, 5 },
	{ KAGI_ERR_LIMIT, "limit", N_("Size limit exceeded"), 400, 5 },
	{ KAGI_ERR_INVALID, "invalid", N_("Invalid value"), 400, 5 },
	{ KAGI_ERR_NOT_FOUND, "not_found", N_("Not found"), 404, 3 },
	{ KAGI_ERR_EXISTS, "exists", N_("Already exists"), 409, 8 },
	{ KAGI_ERR_DENIED, "denied", N_("Not allowed"), 403, 4 },
	{ KAGI_ERR_AUTH, "auth", N_("Authentication failed"), 401, 4 },
	{ KAGI_ERR_LOCKED, "locked", N_("Locked"), 403, 4 },
	{ KAGI_ERR_EXPIRED, "expired", N_("Expired"), 403, 4 },
	{ KAGI_ERR_REVOKED, "revoked", N_("Revoked or on hold"), 403, 4 },
	{ KAGI_ERR_SIG, "sig", N_("Signature verification failed"), 401, 4 },
	{ KAGI_ERR_PERM, "perm", N_("Unsafe file permissions or owner"), 403, 9 },
	{ KAGI_ERR_VERSION, "version", N_("Unsupported version"), 409, 10 },
	{ KAGI_ERR_CORRUPT, "corrupt", N_("Data is corrupted"), 500, 7 },
	{ KAGI_ERR_CONFLICT, "conflict", N_("Changed by someone else; try again"), 409, 8 },
	{ KAGI_ERR_UNAVAILABLE, "unavailable", N_("Service or device unavailable"), 503, 6 },
	{ KAGI_ERR_TIMEOUT, "timeout", N_("Timed out"), 504, 6 },
	{ KAGI_ERR_HSM, "hsm", N_("Security module (HSM) error"), 503, 1 },
	{ KAGI_ERR_PIN, "pin", N_("Wrong PIN"), 401, 4 },
	{ KAGI_ERR_MUST_CHANGE, "must_change", N_("Password must be changed"), 403, 4 },
	{ KAGI_ERR_USAGE, "usage", N_("Usage error"), 400, 2 },
};

#define ERR_ROWS (sizeof(err_table) / sizeof(err_table[0]))

/* Unknown codes are treated as internal errors (fail closed). */
static const struct err_row *
err_row(int err)
{
	size_t i;

	for (i = 0; i < ERR_ROWS; i++)
		if (err_table[i].code == err)
			return &err_table[i];
	return &err_table[1]; /* internal */
}

const char *
kagi_strerror(int err)
{
	return _(err_row(err)->text);
}

const char *
kagi_err_name(int err)
{
	return err_row(err)->name;
}

int
kagi_err_from_name(const char *name)
{
	size_t i;

	if (name == NULL)
		return KAGI_ERR_INTERNAL;
	for (i = 0; i < ERR_ROWS; i++)
		if (strcmp(err_table[i].name, name) == 0)
			return err_table[i].code;
	return KAGI_ERR_INTERNAL;
}

int
kagi_err_http_status(int err)
{
	return err_row(err)->http;
}

int
kagi_err_exit_code(int err)
{
	return err_row(err)->exit_code;
}
