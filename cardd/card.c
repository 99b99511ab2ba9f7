/*
 * The card layer of kagi-cardd: find the staff card among the PKCS#11
 * module's tokens, keep its certificates in a small cache keyed by the
 * card's identity (serial, label, manufacturer, model), verify the PIN with
 * C_Login and sign kagid's challenge with the card's key.
 *
 * The module is loaded once by the daemon (a per-login load of OpenSC costs
 * seconds).  One mutex serialises card access: readers are slow, and one
 * person logs in at a terminal at a time.  The PIN is passed to the module
 * and never copied, logged or kept; the caller wipes it.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cardd_int.h"
#include "kagi/log.h"

/* A token without a staff certificate is looked at again after this. */
#define NEGATIVE_TTL_S 10

struct cache_entry {
	int used;
	int no_cert;    /* negative entry: not a staff card (until expires) */
	time_t expires;
	char ident[128];
	struct cardd_card card; /* slot_id refreshed at every find */
};

struct cardd_cards {
	struct hsm *h;
	pthread_mutex_t lock;
	struct cache_entry cache[CARDD_CACHE_MAX];
	unsigned next;          /* round-robin replacement */
	unsigned long reads;
};

void
cardd_card_clear(struct cardd_card *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < CARDD_CHAIN_MAX; i++)
		free(c->certs[i]);
	free(c->key_id);
	memset(c, 0, sizeof(*c));
}

static int
card_copy(const struct cardd_card *src, struct cardd_card *dst)
{
	size_t i;

	memset(dst, 0, sizeof(*dst));
	dst->slot_id = src->slot_id;
	memcpy(dst->serial, src->serial, sizeof(dst->serial));
	memcpy(dst->label, src->label, sizeof(dst->label));
	for (i = 0; i < src->ncerts; i++) {
		if ((dst->certs[i] = malloc(src->cert_lens[i])) == NULL)
			goto fail;
		memcpy(dst->certs[i], src->certs[i], src->cert_lens[i]);
		dst->cert_lens[i] = src->cert_lens[i];
		dst->ncerts = i + 1;
	}
	if ((dst->key_id = malloc(src->key_id_len)) == NULL)
		goto fail;
	memcpy(dst->key_id, src->key_id, src->key_id_len);
	dst->key_id_len = src->key_id_len;
	return 0;
fail:
	cardd_card_clear(dst);
	return KAGI_ERR_NOMEM;
}

int
cardd_cards_new(struct hsm *h, struct cardd_cards **out)
{
	struct cardd_cards *cc;

	if (out == NULL)
		return KAGI_ERR_INVALID;
	*out = NULL;
	if (h == NULL)
		return KAGI_ERR_INVALID;
	if ((cc = calloc(1, sizeof(*cc))) == NULL)
		return KAGI_ERR_NOMEM;
	if (pthread_mutex_init(&cc->lock, NULL) != 0) {
		free(cc);
		return KAGI_ERR_SYSTEM;
	}
	cc->h = h;
	*out = cc;
	return 0;
}

void
cardd_cards_free(struct cardd_cards *cc)
{
	size_t i;

	if (cc == NULL)
		return;
	for (i = 0; i < CARDD_CACHE_MAX; i++)
		cardd_card_clear(&cc->cache[i].card);
	pthread_mutex_destroy(&cc->lock);
	free(cc);
}

unsigned long
cardd_cards_reads(struct cardd_cards *cc)
{
	unsigned long n;

	if (cc == NULL)
		return 0;
	pthread_mutex_lock(&cc->lock);
	n = cc->reads;
	pthread_mutex_unlock(&cc->lock);
	return n;
}

static void
token_ident(const struct hsm_token_info *t, char *buf, size_t len)
{
	snprintf(buf, len, "%s|%s|%s|%s", t->serial, t->label,
	    t->manufacturer, t->model);
}

/* A staff logon certificate: an end entity usable for signatures. */
static int
is_leaf(X509 *x)
{
	uint32_t ku;

	if (X509_check_ca(x) != 0)
		return 0;
	ku = X509_get_key_usage(x);
	return ku == UINT32_MAX || (ku & KU_DIGITAL_SIGNATURE) != 0;
}

/*
 * Read the certificates of the card in slot t->slot_id (no PIN needed:
 * certificates are public objects) and pick the leaf with a CKA_ID and the
 * CA certificates that came with it.
 */
static int
card_read(struct cardd_cards *cc, const struct hsm_token_info *t,
    struct cardd_card *out)
{
	struct hsm_session *s = NULL;
	struct hsm_cert *certs = NULL;
	size_t n = 0, i, leaf = SIZE_MAX;
	char sel[48];
	int r = KAGI_ERR_INTERNAL;

	memset(out, 0, sizeof(*out));
	snprintf(sel, sizeof(sel), "pkcs11:slot-id=%lu", t->slot_id);
	if ((r = hsm_session_open_public(cc->h, sel, 0, &s)) != 0)
		goto out;
	if ((r = hsm_cert_list(s, &certs, &n)) != 0)
		goto out;
	cc->reads++;
	for (i = 0; i < n && leaf == SIZE_MAX; i++) {
		const unsigned char *p = certs[i].der;
		X509 *x = d2i_X509(NULL, &p, (long)certs[i].der_len);

		if (x != NULL && certs[i].id != NULL && is_leaf(x))
			leaf = i;
		X509_free(x);
	}
	if (leaf == SIZE_MAX) {
		r = KAGI_ERR_NOT_FOUND;
		goto out;
	}
	out->slot_id = t->slot_id;
	memcpy(out->serial, t->serial, sizeof(out->serial));
	memcpy(out->label, t->label, sizeof(out->label));
	out->certs[0] = certs[leaf].der;
	out->cert_lens[0] = certs[leaf].der_len;
	certs[leaf].der = NULL;
	out->key_id = certs[leaf].id;
	out->key_id_len = certs[leaf].id_len;
	certs[leaf].id = NULL;
	out->ncerts = 1;
	for (i = 0; i < n && out->ncerts < CARDD_CHAIN_MAX; i++) {
		const unsigned char *p;
		X509 *x;
		int ca;

		if (i == leaf)
			continue;
		p = certs[i].der;
		x = d2i_X509(NULL, &p, (long)certs[i].der_len);
		ca = x != NULL && X509_check_ca(x) != 0;
		X509_free(x);
		if (!ca)
			continue;
		out->certs[out->ncerts] = certs[i].der;
		out->cert_lens[out->ncerts] = certs[i].der_len;
		certs[i].der = NULL;
		out->ncerts++;
	}
	r = 0;
out:
	if (r != 0)
		cardd_card_clear(out);
	hsm_cert_list_free(certs, n);
	hsm_session_close(s);
	return r;
}

static int
find_locked(struct cardd_cards *cc, struct cardd_card *out)
{
	struct hsm_token_info *toks = NULL;
	size_t nt = 0, i, j;
	struct cardd_card fresh;
	char ident[128];
	int r = KAGI_ERR_INTERNAL;

	memset(&fresh, 0, sizeof(fresh));
	if ((r = hsm_token_list(cc->h, &toks, &nt)) != 0)
		goto out;
	r = KAGI_ERR_NOT_FOUND;
	for (i = 0; i < nt; i++) {
		if (!toks[i].initialized)
			continue;
		token_ident(&toks[i], ident, sizeof(ident));
		for (j = 0; j < CARDD_CACHE_MAX; j++) {
			struct cache_entry *e = &cc->cache[j];

			if (!e->used || strcmp(e->ident, ident) != 0)
				continue;
			if (e->no_cert && time(NULL) >= e->expires) {
				memset(e, 0, sizeof(*e));
				continue;
			}
			break;
		}
		if (j < CARDD_CACHE_MAX && cc->cache[j].no_cert)
			continue;
		if (j < CARDD_CACHE_MAX) {
			struct cache_entry *e = &cc->cache[j];

			e->card.slot_id = toks[i].slot_id;
			kagi_log_debug("card \"%s\": certificates from the "
			    "cache", toks[i].label);
			r = card_copy(&e->card, out);
			goto out;
		}
		r = card_read(cc, &toks[i], &fresh);
		if (r != 0 && r != KAGI_ERR_NOT_FOUND)
			goto out;
		j = cc->next++ % CARDD_CACHE_MAX;
		cardd_card_clear(&cc->cache[j].card);
		memset(&cc->cache[j], 0, sizeof(cc->cache[j]));
		if (r == KAGI_ERR_NOT_FOUND) {
			/* a token without a staff certificate */
			cc->cache[j].used = 1;
			cc->cache[j].no_cert = 1;
			cc->cache[j].expires = time(NULL) + NEGATIVE_TTL_S;
			memcpy(cc->cache[j].ident, ident, sizeof(ident));
			continue;
		}
		cc->cache[j].card = fresh;
		memset(&fresh, 0, sizeof(fresh));
		cc->cache[j].used = 1;
		memcpy(cc->cache[j].ident, ident, sizeof(ident));
		kagi_log_info("event=card_read label=\"%s\" serial=%s certs=%zu",
		    toks[i].label, toks[i].serial, cc->cache[j].card.ncerts);
		r = card_copy(&cc->cache[j].card, out);
		goto out;
	}
out:
	cardd_card_clear(&fresh);
	free(toks);
	return r;
}

int
cardd_cards_find(struct cardd_cards *cc, struct cardd_card *out)
{
	int r;

	if (out == NULL)
		return KAGI_ERR_INVALID;
	memset(out, 0, sizeof(*out));
	if (cc == NULL)
		return KAGI_ERR_INVALID;
	pthread_mutex_lock(&cc->lock);
	r = find_locked(cc, out);
	pthread_mutex_unlock(&cc->lock);
	return r;
}

int
cardd_cards_wait(struct cardd_cards *cc, int seconds, struct cardd_card *out)
{
	struct timespec ts = { 0, 500 * 1000 * 1000 };
	int i, r = KAGI_ERR_INTERNAL;

	for (i = 0; i <= seconds * 2; i++) {
		r = cardd_cards_find(cc, out);
		if (r != KAGI_ERR_NOT_FOUND)
			return r;
		if (i < seconds * 2)
			nanosleep(&ts, NULL);
	}
	return KAGI_ERR_TIMEOUT;
}

void
cardd_cards_forget(struct cardd_cards *cc, const struct cardd_card *card)
{
	size_t j;

	if (cc == NULL || card == NULL)
		return;
	pthread_mutex_lock(&cc->lock);
	for (j = 0; j < CARDD_CACHE_MAX; j++) {
		struct cache_entry *e = &cc->cache[j];

		if (e->used && strcmp(e->card.serial, card->serial) == 0 &&
		    strcmp(e->card.label, card->label) == 0) {
			cardd_card_clear(&e->card);
			memset(e, 0, sizeof(*e));
		}
	}
	pthread_mutex_unlock(&cc->lock);
}

/*
 * C_Login failed with CKR_GENERAL_ERROR and the token's retry flags did not
 * change (hsm.c).  OpenSC answers so for cards that refuse VERIFY without a
 * retry counter (the CAC: SW 6985).  If the same card still answers in the
 * slot, the card refused the PIN: a wrong PIN to the user.  A card that
 * went away is KAGI_ERR_UNAVAILABLE.  Either way the login fails.
 */
static int
login_general_error(struct hsm_session *s, const struct cardd_card *card)
{
	struct hsm_token_info ti;

	if (hsm_session_token_info(s, &ti) != 0 ||
	    strcmp(ti.serial, card->serial) != 0 ||
	    strcmp(ti.label, card->label) != 0) {
		kagi_log_warn("event=card_removed slot=%lu during=login",
		    card->slot_id);
		return KAGI_ERR_UNAVAILABLE;
	}
	kagi_log_info("card \"%s\": C_Login refused without a retry counter: "
	    "a wrong PIN", card->label);
	return KAGI_ERR_PIN;
}

static int
sign_locked(struct cardd_cards *cc, const struct cardd_card *card,
    const char *pin, const uint8_t *digest, uint8_t *sig, size_t *siglen,
    const char **pin_state)
{
	struct hsm_session *s = NULL;
	struct hsm_key *k = NULL;
	struct hsm_token_info ti;
	char sel[48];
	int logged_in = 0, r = KAGI_ERR_INTERNAL;

	snprintf(sel, sizeof(sel), "pkcs11:slot-id=%lu", card->slot_id);
	if ((r = hsm_session_open_public(cc->h, sel, 0, &s)) != 0) {
		if (r == KAGI_ERR_NOT_FOUND)
			r = KAGI_ERR_UNAVAILABLE; /* the card went away */
		goto out;
	}
	/* The same card as the one whose certificates we send? */
	if ((r = hsm_session_token_info(s, &ti)) != 0)
		goto out;
	if (strcmp(ti.serial, card->serial) != 0 ||
	    strcmp(ti.label, card->label) != 0) {
		kagi_log_warn("event=card_changed slot=%lu", card->slot_id);
		r = KAGI_ERR_UNAVAILABLE;
		goto out;
	}
	r = hsm_session_login(s, pin);
	if (r == KAGI_ERR_HSM)
		r = login_general_error(s, card);
	if (r == KAGI_ERR_PIN) {
		if (hsm_session_token_info(s, &ti) == 0)
			*pin_state = ti.pin_final_try ? "final" :
			    ti.pin_count_low ? "low" : "";
		kagi_log_warn("event=card_pin_wrong label=\"%s\" serial=%s",
		    card->label, card->serial);
		goto out;
	}
	if (r == KAGI_ERR_LOCKED) {
		kagi_log_warn("event=card_pin_blocked label=\"%s\" serial=%s",
		    card->label, card->serial);
		goto out;
	}
	if (r != 0)
		goto out;
	logged_in = 1;
	if ((r = hsm_key_find_id(s, card->key_id, card->key_id_len,
	    &k)) != 0) {
		kagi_log_err("card \"%s\": no private key for its certificate",
		    card->label);
		goto out;
	}
	r = hsm_key_sign(k, EVP_sha256(), digest, CARDD_TBS_LEN, sig, siglen);
out:
	hsm_key_free(k);
	if (logged_in)
		hsm_session_logout(s);
	hsm_session_close(s);
	return r;
}

int
cardd_cards_sign(struct cardd_cards *cc, const struct cardd_card *card,
    const char *pin, const uint8_t digest[CARDD_TBS_LEN], uint8_t *sig,
    size_t *siglen, const char **pin_state)
{
	int r;

	if (pin_state != NULL)
		*pin_state = "";
	if (cc == NULL || card == NULL || pin == NULL || digest == NULL ||
	    sig == NULL || siglen == NULL || pin_state == NULL ||
	    card->key_id == NULL)
		return KAGI_ERR_INVALID;
	pthread_mutex_lock(&cc->lock);
	r = sign_locked(cc, card, pin, digest, sig, siglen, pin_state);
	pthread_mutex_unlock(&cc->lock);
	return r;
}
