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

/* Serve one connection: one request, its prompts, one RESULT. */
void cardd_serve(struct cardd_peer *p);
/* tbs_hash = SHA-256("kagi-login-v1" 0x00 challenge 0x00 login) */
int cardd_tbs_hash(const uint8_t *challenge, size_t clen, const char *login,
    uint8_t out[CARDD_TBS_LEN]) KAGI_WUR;

#endif
