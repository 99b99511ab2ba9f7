/*
 * kagi error vocabulary.  Every fallible function returns 0 on success or one
 * of the negative KAGI_ERR_* codes below.  A caller can act on the code; the
 * details go to the log.  One table (common/err.c) maps each code to a stable
 * name (JSON "error" field), an HTTP status and a CLI exit code; the PAM module
 * keeps its own single switch (pam/) because only it may include PAM headers.
 */
#ifndef KAGI_ERR_H
#define KAGI_ERR_H

#define KAGI_WUR __attribute__((warn_unused_result))

enum kagi_err {
	KAGI_OK = 0,
	KAGI_ERR_INTERNAL = -1,    /* a bug or an impossible state */
	KAGI_ERR_NOMEM = -2,       /* allocation failed */
	KAGI_ERR_SYSTEM = -3,      /* a system call failed (see the log) */
	KAGI_ERR_FORMAT = -4,      /* malformed input */
	KAGI_ERR_TRAILING = -5,    /* input has bytes after the end */
	KAGI_ERR_LIMIT = -6,       /* input or state over a size limit */
	KAGI_ERR_INVALID = -7,     /* a value is not acceptable */
	KAGI_ERR_NOT_FOUND = -8,   /* no such object */
	KAGI_ERR_EXISTS = -9,      /* object already exists */
	KAGI_ERR_DENIED = -10,     /* not allowed (policy, role, peer) */
	KAGI_ERR_AUTH = -11,       /* authentication failed */
	KAGI_ERR_LOCKED = -12,     /* account or object locked */
	KAGI_ERR_EXPIRED = -13,    /* past its validity */
	KAGI_ERR_REVOKED = -14,    /* revoked or on hold */
	KAGI_ERR_SIG = -15,        /* signature did not verify */
	KAGI_ERR_PERM = -16,       /* unsafe file mode or owner */
	KAGI_ERR_VERSION = -17,    /* unsupported (newer) version */
	KAGI_ERR_CORRUPT = -18,    /* integrity check failed */
	KAGI_ERR_CONFLICT = -19,   /* state changed since it was read */
	KAGI_ERR_UNAVAILABLE = -20,/* peer, device or service unreachable */
	KAGI_ERR_TIMEOUT = -21,    /* gave up waiting */
	KAGI_ERR_HSM = -22,        /* the PKCS#11 module reported an error */
	KAGI_ERR_PIN = -23,        /* wrong PIN */
	KAGI_ERR_MUST_CHANGE = -24,/* password must be changed first */
	KAGI_ERR_USAGE = -25,      /* command-line usage error */
};
#define KAGI_ERR_MIN KAGI_ERR_USAGE

/* Translated, human-readable text for an error code (never NULL). */
const char *kagi_strerror(int err);
/* Stable machine name ("format", "not_found", ...) used in JSON and logs. */
const char *kagi_err_name(int err);
/* The code for a stable name, or KAGI_ERR_INTERNAL if unknown. */
int kagi_err_from_name(const char *name);
/* HTTP status for an API error response. */
int kagi_err_http_status(int err);
/* Process exit code for the CLI (documented in kagi(1)). */
int kagi_err_exit_code(int err);

#endif
