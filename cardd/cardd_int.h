/*
 * kagi-cardd internals (not a contract): the card layer with its cache, the
 * FIDO layer, the login flows and the daemon state.  Only cardd/ sources and
 * the cardd unit tests include this.
 */
#ifndef KAGI_CARDD_INT_H
#define KAGI_CARDD_INT_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kagi/cardd.h"
#include "kagi/client.h"
#include "kagi/conf.h"
#include "kagi/hsm.h"

#define CARDD_CACHE_MAX 8
#define CARDD_CHAIN_MAX 4       /* leaf + intermediates sent to kagid */
#define CARDD_SIG_MAX 1024
#define CARDD_TBS_LEN 32
#define CARDD_ANSWER_TIMEOUT_MS (120 * 1000)
#define CARDD_REQUEST_TIMEOUT_MS (10 * 1000)
#define CARDD_MAX_CONNS 32
#define CARDD_SESSIONS_MAX 256

/* ---- card layer (card.c) ---- */

/* What a login needs from one card, copied out of the cache. */
struct cardd_card {
	unsigned long slot_id;
	char serial[17];
	char label[33];
	size_t ncerts;                      /* leaf first */
	uint8_t *certs[CARDD_CHAIN_MAX];    /* DER */
	size_t cert_lens[CARDD_CHAIN_MAX];
	uint8_t *key_id;                    /* the leaf's CKA_ID */
	size_t key_id_len;
};

struct cardd_cards;

/* The module stays loaded; h is borrowed and must outlive the cards. */
int cardd_cards_new(struct hsm *h, struct cardd_cards **out) KAGI_WUR;
void cardd_cards_free(struct cardd_cards *cc);
/*
 * The first present card that holds a staff certificate.  Certificates come
 * from the cache when this card (serial + label + manufacturer + model) was
 * read before.  KAGI_ERR_NOT_FOUND: no card.  *out: cardd_card_clear it.
 */
int cardd_cards_find(struct cardd_cards *cc, struct cardd_card *out) KAGI_WUR;
/* Wait up to seconds for a card (polls twice a second). */
int cardd_cards_wait(struct cardd_cards *cc, int seconds,
    struct cardd_card *out) KAGI_WUR;
/*
 * C_Login with the PIN, sign the SHA-256 digest with the leaf's key, log
 * out.  KAGI_ERR_PIN (wrong PIN; *pin_state "low"/"final"/""),
 * KAGI_ERR_LOCKED (blocked), KAGI_ERR_UNAVAILABLE (card removed).
 */
int cardd_cards_sign(struct cardd_cards *cc, const struct cardd_card *card,
    const char *pin, const uint8_t digest[CARDD_TBS_LEN], uint8_t *sig,
    size_t *siglen, const char **pin_state) KAGI_WUR;
/* Drop a card's cache entry (after a failed login with it). */
void cardd_cards_forget(struct cardd_cards *cc, const struct cardd_card *card);
/* How many times certificates were read from a card (for the cache test). */
unsigned long cardd_cards_reads(struct cardd_cards *cc);
void cardd_card_clear(struct cardd_card *c);

/* ---- FIDO layer (fido.c) ---- */

struct cardd_fido;

struct cardd_fido_req {
	const char *rp_id;
	int uv;                   /* 0 discouraged, 1 preferred, 2 required */
	size_t ncreds;
	uint8_t **creds;          /* credential ids from /v1/login/begin */
	size_t *cred_lens;
	uint8_t cdh[CARDD_TBS_LEN];
};

struct cardd_fido_resp {
	uint8_t *cred_id;
	size_t cred_id_len;
	uint8_t *authdata;        /* CBOR byte string, as libfido2 gives it */
	size_t authdata_len;
	uint8_t *sig;
	size_t sig_len;
	int uv_done;              /* UV flag asked and obtained */
};

/* Asks the person something during the FIDO step (PIN, touch notice). */
typedef int cardd_fido_ask_fn(uint16_t prompt, char **pin, void *ctx);

/*
 * device: "auto" or a path; io_module: NULL, or the insecure test module
 * (a .so exporting kagi_fido_test_io, see tests/integration/login).
 */
int cardd_fido_new(const char *device, const char *io_module,
    struct cardd_fido **out) KAGI_WUR;
void cardd_fido_free(struct cardd_fido *f);
/* Is an authenticator attached now? */
int cardd_fido_present(struct cardd_fido *f);
int cardd_fido_assert(struct cardd_fido *f, const struct cardd_fido_req *req,
    cardd_fido_ask_fn *ask, void *ctx, struct cardd_fido_resp *out) KAGI_WUR;
void cardd_fido_resp_clear(struct cardd_fido_resp *r);

/* The io functions a test module fills in (test-only, insecure). */
typedef int kagi_fido_test_io_fn(const char *device, void *io_out,
    const char **path_out);
#define CARDD_FIDO_TEST_IO_SYMBOL "kagi_fido_test_io"

/* ---- the daemon (cardd.c, login.c) ---- */

struct cardd_session {
	char id[33];
	char user[CARDD_NAME_MAX + 1];
	int64_t end;
	int used;
};

struct cardd {
	struct kagi_conf *conf;
	const char *socket_path;
	int card_wait;
	int fido_on;
	const char *lock_command;
	const char *priv_end_command;
	struct cardd_watch *watch;    /* NULL: no card watcher */
	struct hsm *hsm;
	struct cardd_cards *cards;
	struct cardd_fido *fido;       /* NULL when fido = off */
	pthread_mutex_t fido_lock;
	struct kagi_client *kagid;
	pthread_mutex_t sess_lock;
	struct cardd_session sessions[CARDD_SESSIONS_MAX];
	pthread_mutex_t conn_lock;
	int nconns;
	volatile sig_atomic_t stop;
	int listen_fd;
};

/* One client connection and who is on the other end (SO_PEERCRED). */
struct cardd_peer {
	struct cardd *d;
	int fd;
	uid_t uid;
	pid_t pid;
};

/* ---- card removal and the privileged window's end (watch.c) ---- */

#define CARDD_READER_MAX 128         /* a PC/SC reader name with its NUL */
#define CARDD_CMD_ARGV_MAX 32        /* words of an action command */
#define CARDD_CMD_TIMEOUT_MS (10 * 1000)
#define CARDD_WATCH_POLL_MS 1000     /* longest SCardGetStatusChange wait */
#define CARDD_LOCK_DEFAULT "loginctl lock-session %l"
#define CARDD_PRIV_END_DEFAULT "loginctl terminate-session %l"

/* One logged-in session kagi-cardd watches. */
struct cardd_wentry {
	char id[33];                    /* kagid's session id */
	char user[CARDD_NAME_MAX + 1];
	char tty[CARDD_NAME_MAX + 1];   /* PAM_TTY at login */
	char logind[CARDD_NAME_MAX + 1]; /* XDG_SESSION_ID at session open */
	char reader[CARDD_READER_MAX];  /* PC/SC reader of the login's card */
	char card_serial[17];
	char card_label[33];
	int64_t end;                    /* privileged window end; 0: none */
	int watched;                    /* the reader was there at login */
	int card_gone;                  /* removal acted on; re-armed on insert */
	int end_done;
	int counter;                    /* an operator's counter session
	                                 * (kagi login): removal ends it */
	int used;
};

/* The table (one lock outside it); fixed size, no allocation. */
struct cardd_wtable {
	struct cardd_wentry e[CARDD_SESSIONS_MAX];
};

/*
 * Add or replace (same id) an entry.  KAGI_ERR_INVALID for an id that is
 * not 32 lowercase hex; KAGI_ERR_LIMIT when the table is full (the session
 * is then not watched: logged by the caller).
 */
int cardd_wtable_add(struct cardd_wtable *t, const struct cardd_wentry *e)
    KAGI_WUR;
void cardd_wtable_remove(struct cardd_wtable *t, const char *id);
const struct cardd_wentry *cardd_wtable_get(const struct cardd_wtable *t,
    const char *id);
/*
 * A watched reader's state now (present: a card is in it).  Copies into
 * due (at most max) the entries whose removal action is due now, once per
 * removal; a card present again re-arms them.  Returns how many.
 */
size_t cardd_wtable_reader(struct cardd_wtable *t, const char *reader,
    int present, struct cardd_wentry *due, size_t max);
/*
 * Entries whose window end is reached (end <= now), once each.  *next: the
 * nearest end still ahead (0: none).
 */
size_t cardd_wtable_ends(struct cardd_wtable *t, int64_t now,
    struct cardd_wentry *due, size_t max, int64_t *next);

/*
 * Split an action command into argv without a shell: words separated by
 * blanks, '...' or "..." group a word (no escapes), %s -> session id,
 * %u -> user, %t -> tty, %l -> the systemd-logind session id (PAM's
 * XDG_SESSION_ID, set by pam_systemd), %% -> %; any other % is
 * KAGI_ERR_INVALID, as are
 * an empty command, an unterminated quote, more than CARDD_CMD_ARGV_MAX
 * words and a relative program path with a slash ("bin/x").  A program
 * without a slash is looked up in a fixed PATH when run.  *argv: NULL
 * terminated, cardd_cmd_free it.
 */
int cardd_cmd_split(const char *cmd, const char *id, const char *user,
    const char *tty, const char *logind, char ***argv) KAGI_WUR;
void cardd_cmd_free(char **argv);
/*
 * fork/execve argv (stdin /dev/null, other descriptors closed, a fixed
 * environment) and wait at most timeout_ms; then SIGKILL.  *status: the
 * wait status.  KAGI_ERR_NOT_FOUND: no such program; KAGI_ERR_TIMEOUT.
 */
int cardd_cmd_run(char *const *argv, int timeout_ms, int *status) KAGI_WUR;

struct cardd_watch;
/*
 * Start the watcher thread (its own SCARDCONTEXT; retries while pcscd is
 * away).  module: the PKCS#11 module cardd loaded, for slotDescription.
 */
int cardd_watch_start(struct cardd *d, const char *module,
    struct cardd_watch **out) KAGI_WUR;
/*
 * Stop it (SCardCancel, join) and wait up to 3 s for running actions.
 * 0: freed; KAGI_ERR_TIMEOUT: an action still runs (w is left allocated,
 * d must stay alive).  NULL-safe.
 */
int cardd_watch_stop(struct cardd_watch *w);
/*
 * login.c's hook after a successful login: watch this session (card: the
 * card used, or NULL).  No-op without a watcher.
 */
void cardd_watch_login(struct cardd *d, const char *session_id,
    const char *user, const char *tty, int64_t end,
    const struct cardd_card *card);
/* login.c's hook for an operator's card session at the counter (service
 * "kagi-counter"): pulling the card out ends the session at kagid instead
 * of running lock_command. */
void cardd_watch_counter(struct cardd *d, const char *session_id);
/* SESSION_OPEN's hook: the logind session id of a watched session (%l). */
void cardd_watch_session_open(struct cardd *d, const char *session_id,
    const char *logind);

/* Serve one connection: one request, its prompts, one RESULT. */
void cardd_serve(struct cardd_peer *p);
/* ---- the counter (enrol.c) ---- */

/* 1 if the waiting request is a counter one (peeked, not read), or none
 * came within timeout_ms (cardd_counter_serve answers "timeout"). */
int cardd_counter_peek(int fd, int timeout_ms);
/* Serve CARD_INFO, ENROL_KEYGEN, ENROL_WRITE, PIN_UNBLOCK (root only). */
void cardd_counter_serve(struct cardd_peer *p);
/* tbs_hash = SHA-256("kagi-login-v1" 0x00 challenge 0x00 login) */
int cardd_tbs_hash(const uint8_t *challenge, size_t clen, const char *login,
    uint8_t out[CARDD_TBS_LEN]) KAGI_WUR;

#endif
