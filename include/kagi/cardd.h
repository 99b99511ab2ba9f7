/*
 * cardd: the protocol between kagi-cardd (the terminal daemon) and its
 * local clients (pam_kagi.so, kagi), and the client side of it
 * (library kagi_cardd_client).  Wire format: docs/PROTOCOL-cardd.md.
 *
 * A frame is a u32 big-endian length (1 .. CARDD_FRAME_MAX) followed by
 * that many bytes: u8 version (CARDD_PROTO_VERSION), u8 message type, then
 * the fields of that type in order (kbuf encoding: big-endian integers,
 * strings as u32 length + UTF-8 bytes), and nothing after them.  A frame
 * that is oversize, malformed, of another version or of a type the receiver
 * does not expect ends the connection.
 *
 * cardd drives the conversation: the client sends one request (AUTH, ACCT,
 * CHPW, SESSION_OPEN, SESSION_CLOSE); cardd answers with any number of
 * PROMPTs and finally one RESULT.  A PROMPT with style ECHO_OFF or ECHO_ON
 * needs exactly one ANSWER; INFO and ERROR prompts need none.  Prompts carry
 * a message id, not text, so the client translates them in the user's
 * locale; banner and rule texts come from kagid verbatim.
 */
#ifndef KAGI_CARDD_H
#define KAGI_CARDD_H

#include <stddef.h>
#include <stdint.h>

#include "kagi/err.h"

struct kbuf;

#define CARDD_PROTO_VERSION 1
#define CARDD_FRAME_MAX (64u * 1024u) /* body bytes after the length */
#define CARDD_NAME_MAX 256u           /* user, service, tty, rhost */
#define CARDD_SECRET_MAX 1024u        /* an answer, a password */
#define CARDD_TEXT_MAX 4096u          /* banner, rule message */
#define CARDD_RULES_MAX 32u
#define CARDD_SOCKET_DEFAULT "/run/kagi/cardd.sock"

enum cardd_msg_type {
	/* client -> cardd */
	CARDD_MSG_AUTH = 0x01,          /* user, service, tty, rhost */
	CARDD_MSG_ANSWER = 0x02,        /* answered (u8), response (secret) */
	CARDD_MSG_ACCT = 0x03,          /* user, service */
	CARDD_MSG_CHPW = 0x04,          /* user, service, old, new (secrets) */
	CARDD_MSG_SESSION_OPEN = 0x05,  /* user, service, tty, session_id,
	                                 * logind */
	CARDD_MSG_SESSION_CLOSE = 0x06, /* the same */
	/* client -> cardd, the counter (issue 6; root or counter_group) */
	CARDD_MSG_CARD_INFO = 0x07,     /* u32 wait (seconds) */
	CARDD_MSG_ENROL_KEYGEN = 0x08,  /* serial, pin, new_pin (secrets) */
	CARDD_MSG_ENROL_WRITE = 0x09,   /* serial, pin (secret), key_id, der */
	CARDD_MSG_PIN_UNBLOCK = 0x0a,   /* serial, so_pin, new_pin (secrets) */
	/* cardd -> client */
	CARDD_MSG_PROMPT = 0x81,        /* style, prompt id, arg text */
	CARDD_MSG_RESULT = 0x82,        /* see struct cardd_msg */
	CARDD_MSG_CARD = 0x83,          /* before RESULT: the card (CARD_INFO) */
	CARDD_MSG_CSR = 0x84,           /* before RESULT: csr, key_id, key_type */
};

/* CARD caps bits: what the card can do for enrolment. */
#define CARDD_CAP_KEYGEN_EC 0x01   /* generates P-256 key pairs */
#define CARDD_CAP_KEYGEN_RSA 0x02  /* generates RSA-2048 key pairs */
#define CARDD_CAP_WRITABLE 0x04    /* not CKF_WRITE_PROTECTED */
#define CARDD_CAP_PIN_SET 0x08     /* CKF_USER_PIN_INITIALIZED */
#define CARDD_CAP_PIN_CHANGE 0x10  /* CKF_USER_PIN_TO_BE_CHANGED */
#define CARDD_CAPS_ALL 0x1f
#define CARDD_CARD_CERTS_MAX 8u    /* certificates listed in CARD */
#define CARDD_CERT_MAX (8u * 1024u) /* one certificate (DER) */
#define CARDD_WAIT_MAX 600u        /* CARD_INFO wait, seconds */

/* How a prompt is shown (maps onto the PAM conversation styles). */
enum cardd_style {
	CARDD_STYLE_ECHO_OFF = 1, /* needs an ANSWER */
	CARDD_STYLE_ECHO_ON = 2,  /* needs an ANSWER */
	CARDD_STYLE_INFO = 3,
	CARDD_STYLE_ERROR = 4,
};

/* What a prompt says; the client holds the (translated) text. */
enum cardd_prompt_id {
	CARDD_P_TEXT = 0,         /* arg verbatim (the banner from kagid) */
	CARDD_P_INSERT_CARD = 1,  /* arg: seconds to wait */
	CARDD_P_PIN = 2,          /* card PIN, echo off */
	CARDD_P_WRONG_PIN = 3,    /* arg: "", "low" (few tries) or "final" */
	CARDD_P_PIN_BLOCKED = 4,
	CARDD_P_TOUCH_KEY = 5,
	CARDD_P_FIDO_PIN = 6,     /* security key PIN, echo off */
	CARDD_P_PASSWORD = 7,     /* account password, echo off */
	CARDD_P_NO_CARD = 8,      /* no card within the wait */
	CARDD_P_CARD_READ = 9,    /* arg: the card's label */
	CARDD_P_MEMBER = 10,      /* shared ID: the member's personal login,
	                           * echo on; arg: the shared account */
	CARDD_P_MAX = 10,
};

struct cardd_rule {
	char *rule;    /* stable rule name from kagid ("min_length", ...) */
	char *message; /* kagid's text */
};

/*
 * One decoded message.  Only the fields of its type are set; the rest are
 * NULL / 0.  Secrets (response, old_pw, new_pw) are in secure memory.
 * Free the contents with cardd_msg_clear.
 */
struct cardd_msg {
	uint8_t type;
	/* AUTH, ACCT, CHPW, SESSION_* */
	char *user;
	char *service;
	char *tty;         /* AUTH, SESSION_* */
	char *rhost;       /* AUTH */
	char *session_id;  /* SESSION_*; RESULT */
	char *logind;      /* SESSION_*: systemd-logind's id (XDG_SESSION_ID
	                    * from pam_systemd), "" if none */
	/* ANSWER */
	uint8_t answered;  /* 0: the user cancelled / the conversation failed */
	char *response;    /* secret */
	/* CHPW */
	char *old_pw;      /* secret */
	char *new_pw;      /* secret */
	/* PROMPT */
	uint8_t style;     /* enum cardd_style */
	uint16_t prompt;   /* enum cardd_prompt_id */
	char *text;        /* PROMPT arg */
	/* RESULT */
	int code;                 /* 0 or KAGI_ERR_* */
	uint8_t must_change;      /* the password must be changed now */
	int64_t session_end;      /* 0: none */
	int64_t last_login;       /* 0: never / unknown */
	char *last_terminal;
	int64_t last_logout;      /* 0: unknown */
	uint32_t failed_since;
	size_t nrules;
	struct cardd_rule *rules; /* broken password rules (CHPW) */
	/*
	 * The counter (issue 6).  ENROL_KEYGEN: old_pw = the card's user PIN,
	 * new_pw = the PIN the holder chose ("" = keep).  ENROL_WRITE: old_pw =
	 * user PIN.  PIN_UNBLOCK: old_pw = SO PIN (PUK), new_pw = new user PIN.
	 */
	uint32_t wait;            /* CARD_INFO: seconds to wait for a card */
	char *serial;             /* ENROL_*, PIN_UNBLOCK, CARD: token serial */
	char *atr;                /* CARD: hex, "" when unknown */
	char *label;              /* CARD */
	char *manufacturer;       /* CARD */
	char *model;              /* CARD */
	uint8_t caps;             /* CARD: CARDD_CAP_* */
	uint16_t pin_min, pin_max; /* CARD: the token's PIN lengths */
	size_t ncerts;            /* CARD */
	uint8_t **certs;          /* CARD: DER certificates on the card */
	size_t *cert_lens;
	char *key_id;             /* CSR, ENROL_WRITE: CKA_ID, lowercase hex */
	char *key_type;           /* CSR: "p256" or "rsa2048" */
	char *csr;                /* CSR: PKCS#10 PEM signed by the card key */
	uint8_t *der;             /* ENROL_WRITE: the certificate (DER) */
	size_t der_len;
};

/* Wipe and free every field; leaves *m zeroed. NULL-safe. */
void cardd_msg_clear(struct cardd_msg *m);
/*
 * Encode one message as a whole frame (length prefix included) appended to
 * out.  KAGI_ERR_INVALID for fields out of range, KAGI_ERR_LIMIT over
 * CARDD_FRAME_MAX.
 */
int cardd_msg_emit(const struct cardd_msg *m, struct kbuf *out) KAGI_WUR;
/*
 * Decode one frame body (without its length prefix).  KAGI_ERR_VERSION for
 * another version, KAGI_ERR_FORMAT / TRAILING / LIMIT for malformed input.
 * On error *m is left zeroed.
 */
int cardd_msg_parse(const uint8_t *body, size_t len, struct cardd_msg *m)
    KAGI_WUR;
/* Is this message type one a client may send (1) or cardd sends (0)? */
int cardd_msg_from_client(uint8_t type);

/*
 * Frame I/O on a stream socket, with a deadline in milliseconds for the
 * whole frame (-1: none).  The read buffer is wiped before it is freed.
 * KAGI_ERR_UNAVAILABLE when the peer closed; KAGI_ERR_TIMEOUT; KAGI_ERR_LIMIT
 * for a length over CARDD_FRAME_MAX or 0; then the errors of
 * cardd_msg_parse.
 */
int cardd_msg_send(int fd, const struct cardd_msg *m, int timeout_ms) KAGI_WUR;
int cardd_msg_recv(int fd, struct cardd_msg *m, int timeout_ms) KAGI_WUR;

/* Secrets for answers: secure memory (mlock, no dump), wiped on free. */
char *cardd_secret_dup(const char *s);
void cardd_secret_free(char *s);

/* The client side: one connection carries one request. */
struct cardd_conn;
/*
 * Connect to cardd's socket (NULL: CARDD_SOCKET_DEFAULT).
 * KAGI_ERR_UNAVAILABLE when cardd is not running.
 */
int cardd_conn_open(const char *socket_path, struct cardd_conn **out)
    KAGI_WUR;
void cardd_conn_close(struct cardd_conn *c);
int cardd_conn_fd(const struct cardd_conn *c);

/*
 * The conversation callback: show a prompt; for ECHO_OFF / ECHO_ON set
 * *answer to a new secure string (cardd_secret_dup) or return nonzero
 * (cancelled).  For INFO / ERROR return 0 and leave *answer NULL.
 */
typedef int cardd_conv_fn(uint8_t style, uint16_t prompt, const char *arg,
    char **answer, void *ctx);

/*
 * Send a request and run the conversation until cardd's RESULT, which is
 * stored in *result (cardd_msg_clear it).  Returns 0 when a RESULT arrived
 * (its code may be an error); else the transport error (UNAVAILABLE,
 * TIMEOUT, FORMAT, ...).  timeout_ms bounds each wait for cardd.
 */
int cardd_conn_request(struct cardd_conn *c, const struct cardd_msg *req,
    cardd_conv_fn *conv, void *ctx, int timeout_ms,
    struct cardd_msg *result) KAGI_WUR;

/*
 * The counter requests (CARD_INFO, ENROL_KEYGEN, ENROL_WRITE, PIN_UNBLOCK):
 * like cardd_conn_request, and a CARD or CSR message that cardd sends before
 * its RESULT is stored in *data (type 0 when none came; cardd_msg_clear it).
 */
int cardd_conn_counter(struct cardd_conn *c, const struct cardd_msg *req,
    cardd_conv_fn *conv, void *ctx, int timeout_ms, struct cardd_msg *data,
    struct cardd_msg *result) KAGI_WUR;

/*
 * The text of a prompt id in the caller's locale (gettext domain "kagi"),
 * with arg filled in; buf holds it when needed.  NULL for an unknown id.
 */
const char *cardd_prompt_text(uint16_t id, const char *arg, char *buf,
    size_t len);

#endif
