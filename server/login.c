/*
 * Terminal login, the pure parts (login.h): the signed-data hash, the
 * finish body parser, the challenge rule and the decision.  Requirements:
 * R-MFA-1..3, R-LOGIN-1..4, R-PW-6, R-PRIV-7, R-ID-7, R-TERM-1, R-ZONE-4.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "kagi/json.h"
#include "kagi/kfido.h"
#include "kagi/secmem.h"
#include "login.h"

int
login_tbs_hash(const uint8_t challenge[STORE_CHALLENGE_LEN], const char *login,
    uint8_t out[LOGIN_TBS_LEN])
{
	static const uint8_t zero = 0;
	EVP_MD_CTX *ctx = NULL;
	unsigned int n = 0;
	int r = KAGI_ERR_INTERNAL;

	if (challenge == NULL || login == NULL || out == NULL)
		return KAGI_ERR_INVALID;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return KAGI_ERR_NOMEM;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, LOGIN_TBS_LABEL,
	    sizeof(LOGIN_TBS_LABEL) - 1) != 1 ||
	    EVP_DigestUpdate(ctx, &zero, 1) != 1 ||
	    EVP_DigestUpdate(ctx, challenge, STORE_CHALLENGE_LEN) != 1 ||
	    EVP_DigestUpdate(ctx, &zero, 1) != 1 ||
	    EVP_DigestUpdate(ctx, login, strlen(login)) != 1 ||
	    EVP_DigestFinal_ex(ctx, out, &n) != 1 || n != LOGIN_TBS_LEN)
		goto out;
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	return r;
}

/* ---- base64 ---- */

static int
b64_char(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= '0' && ch <= '9') || ch == '+' || ch == '/';
}

int
login_b64_decode(const char *s, size_t max, uint8_t **out, size_t *outlen)
{
	size_t n, pad = 0, dec;
	uint8_t *buf = NULL;
	int got;

	if (out != NULL)
		*out = NULL;
	if (outlen != NULL)
		*outlen = 0;
	if (s == NULL || out == NULL || outlen == NULL)
		return KAGI_ERR_INVALID;
	n = strlen(s);
	if (n == 0 || n % 4 != 0)
		return KAGI_ERR_FORMAT;
	if (n / 4 * 3 > max + 2)
		return KAGI_ERR_LIMIT;
	if (s[n - 1] == '=')
		pad++;
	if (s[n - 2] == '=')
		pad++;
	for (size_t i = 0; i < n - pad; i++)
		if (!b64_char(s[i]))
			return KAGI_ERR_FORMAT;
	dec = n / 4 * 3 - pad;
	if (dec == 0)
		return KAGI_ERR_FORMAT;
	if (dec > max)
		return KAGI_ERR_LIMIT;
	if ((buf = malloc(n / 4 * 3)) == NULL)
		return KAGI_ERR_NOMEM;
	got = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)n);
	if (got < 0 || (size_t)got != n / 4 * 3) {
		free(buf);
		return KAGI_ERR_FORMAT;
	}
	/* canonical: the bits the padding hides must be zero */
	{
		char last = s[n - pad - 1];
		const char *al = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789+/";
		int v = (int)(strchr(al, last) - al);
		if ((pad == 1 && (v & 0x3) != 0) || (pad == 2 && (v & 0xf) != 0)) {
			free(buf);
			return KAGI_ERR_FORMAT;
		}
	}
	*out = buf;
	*outlen = dec;
	return 0;
}

char *
login_b64_encode(const uint8_t *p, size_t n)
{
	char *s;

	if ((p == NULL && n > 0) || n > (1u << 24))
		return NULL;
	if ((s = malloc(4 * ((n + 2) / 3) + 1)) == NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	return s;
}

/* ---- FIDO authenticator data: raw or CBOR byte string ---- */

/* Length of a CBOR byte-string header that covers exactly n bytes, else 0. */
static size_t
cbor_bstr_header(const uint8_t *p, size_t n)
{
	size_t len;

	if (n < 2)
		return 0;
	if (p[0] >= 0x40 && p[0] <= 0x57)
		return (size_t)(p[0] - 0x40) + 1 == n ? 1 : 0;
	if (p[0] == 0x58) {
		len = p[1];
		return len + 2 == n ? 2 : 0;
	}
	if (p[0] == 0x59 && n >= 3) {
		len = ((size_t)p[1] << 8) | p[2];
		return len + 3 == n ? 3 : 0;
	}
	return 0;
}

int
login_fido_authdata_cbor(const uint8_t *p, size_t n, uint8_t **out,
    size_t *outlen)
{
	uint8_t *b;
	size_t h;

	if (out != NULL)
		*out = NULL;
	if (outlen != NULL)
		*outlen = 0;
	if (p == NULL || out == NULL || outlen == NULL || n == 0)
		return KAGI_ERR_INVALID;
	if (n > 65535)
		return KAGI_ERR_LIMIT;
	if (cbor_bstr_header(p, n) != 0) {
		/* already libfido2's form */
		if ((b = malloc(n)) == NULL)
			return KAGI_ERR_NOMEM;
		memcpy(b, p, n);
		*out = b;
		*outlen = n;
		return 0;
	}
	h = n < 24 ? 1 : n < 256 ? 2 : 3;
	if ((b = malloc(n + h)) == NULL)
		return KAGI_ERR_NOMEM;
	if (h == 1) {
		b[0] = (uint8_t)(0x40 + n);
	} else if (h == 2) {
		b[0] = 0x58;
		b[1] = (uint8_t)n;
	} else {
		b[0] = 0x59;
		b[1] = (uint8_t)(n >> 8);
		b[2] = (uint8_t)(n & 0xff);
	}
	memcpy(b + h, p, n);
	*out = b;
	*outlen = n + h;
	return 0;
}

/* ---- the finish body ---- */

void
login_finish_clear(struct login_finish *f)
{
	if (f == NULL)
		return;
	free(f->login);
	free(f->member);
	for (size_t i = 0; i < f->n_certs; i++)
		free(f->certs[i]);
	free(f->card_sig);
	free(f->fido_cred_id);
	free(f->fido_authdata);
	free(f->fido_sig);
	kagi_secure_strfree(f->password);
	memset(f, 0, sizeof(*f));
}

/* 0 if o has no member outside allowed, else KAGI_ERR_INVALID. */
static int
only_keys(const json_t *o, const char *const *allowed)
{
	return kagi_json_unknown_key(o, allowed) == NULL ? 0 :
	    KAGI_ERR_INVALID;
}

/* A string member: required or not, 1..max bytes, no NUL. */
static int
get_str(const json_t *o, const char *key, int required, size_t max,
    const char **out)
{
	const json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL)
		return required ? KAGI_ERR_INVALID : 0;
	if (!json_is_string(v))
		return KAGI_ERR_FORMAT;
	if (json_string_length(v) == 0 ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return KAGI_ERR_FORMAT;
	if (json_string_length(v) > max)
		return KAGI_ERR_LIMIT;
	*out = json_string_value(v);
	return 0;
}

static int
get_b64(const json_t *o, const char *key, size_t max, uint8_t **out,
    size_t *len)
{
	const char *s = NULL;
	int r;

	if ((r = get_str(o, key, 1, 4 * (max / 3 + 2), &s)) != 0)
		return r;
	return login_b64_decode(s, max, out, len);
}

static int
parse_card(const json_t *c, struct login_finish *f, const char **field)
{
	static const char *const keys[] = { "certs", "signature", NULL };
	const json_t *certs, *v;
	size_t i;
	int r;

	*field = "card";
	if (!json_is_object(c))
		return KAGI_ERR_FORMAT;
	if ((r = only_keys(c, keys)) != 0)
		return r;
	*field = "card.certs";
	certs = json_object_get(c, "certs");
	if (certs == NULL)
		return KAGI_ERR_INVALID;
	if (!json_is_array(certs) || json_array_size(certs) == 0)
		return KAGI_ERR_FORMAT;
	if (json_array_size(certs) > LOGIN_MAX_CERTS)
		return KAGI_ERR_LIMIT;
	json_array_foreach(certs, i, v) {
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return KAGI_ERR_FORMAT;
		if (json_string_length(v) > LOGIN_CERT_PEM_MAX)
			return KAGI_ERR_LIMIT;
		if ((f->certs[i] = strdup(json_string_value(v))) == NULL)
			return KAGI_ERR_NOMEM;
		f->n_certs = i + 1;
	}
	*field = "card.signature";
	if ((r = get_b64(c, "signature", LOGIN_CARD_SIG_MAX, &f->card_sig,
	    &f->card_sig_len)) != 0)
		return r;
	f->has_card = 1;
	return 0;
}

static int
parse_fido(const json_t *o, struct login_finish *f, const char **field)
{
	static const char *const keys[] = { "credential_id", "authdata",
	    "signature", NULL };
	int r;

	*field = "fido";
	if (!json_is_object(o))
		return KAGI_ERR_FORMAT;
	if ((r = only_keys(o, keys)) != 0)
		return r;
	*field = "fido.credential_id";
	if ((r = get_b64(o, "credential_id", STORE_FIDO_CRED_ID_MAX,
	    &f->fido_cred_id, &f->fido_cred_id_len)) != 0)
		return r;
	*field = "fido.authdata";
	if ((r = get_b64(o, "authdata", KAGI_FIDO_AUTHDATA_MAX,
	    &f->fido_authdata, &f->fido_authdata_len)) != 0)
		return r;
	*field = "fido.signature";
	if ((r = get_b64(o, "signature", KAGI_FIDO_SIG_MAX, &f->fido_sig,
	    &f->fido_sig_len)) != 0)
		return r;
	f->has_fido = 1;
	return 0;
}

int
login_finish_parse(const char *text, size_t len, struct login_finish *out,
    const char **field)
{
	static const char *const keys[] = { "challenge_id", "login", "card",
	    "fido", "password", "member", NULL };
	struct login_finish f;
	json_t *o = NULL, *v;
	const char *s = NULL, *fld = "(body)";
	char err[128];
	int r = KAGI_ERR_INTERNAL;

	memset(&f, 0, sizeof(f));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (field != NULL)
		*field = NULL;
	if (text == NULL || out == NULL)
		return KAGI_ERR_INVALID;
	if ((r = kagi_json_parse_object(text, len, &o, err, sizeof(err))) != 0)
		goto out;
	if ((r = only_keys(o, keys)) != 0)
		goto out;
	fld = "challenge_id";
	if ((r = get_str(o, "challenge_id", 1, STORE_LOGIN_ID_LEN, &s)) != 0)
		goto out;
	if (!store_login_id_valid(s)) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	memcpy(f.challenge_id, s, STORE_LOGIN_ID_LEN + 1);
	fld = "login";
	if ((r = get_str(o, "login", 1, LOGIN_LOGIN_MAX, &s)) != 0)
		goto out;
	if ((f.login = strdup(s)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	fld = "member";
	if ((r = get_str(o, "member", 0, LOGIN_LOGIN_MAX, &s)) != 0)
		goto out;
	if (s != NULL && (f.member = strdup(s)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	fld = "password";
	if ((r = get_str(o, "password", 0, KAGID_PW_MAX_BYTES, &s)) != 0)
		goto out;
	if (s != NULL && (f.password = kagi_secure_strdup(s)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if ((v = json_object_get(o, "card")) != NULL &&
	    (r = parse_card(v, &f, &fld)) != 0)
		goto out;
	if ((v = json_object_get(o, "fido")) != NULL &&
	    (r = parse_fido(v, &f, &fld)) != 0)
		goto out;
	*out = f;
	memset(&f, 0, sizeof(f));
	fld = NULL;
	r = 0;
out:
	if (field != NULL)
		*field = fld;
	login_finish_clear(&f);
	json_decref(o);
	return r;
}

/* ---- the challenge ---- */

int
login_challenge_check(const struct store_challenge *c, const char *device,
    const char *login, int64_t now, const char **why)
{
	const char *w = "challenge_invalid";
	int r = KAGI_ERR_INVALID;

	if (c == NULL || device == NULL || login == NULL)
		goto out;
	/* the terminal first: another terminal learns nothing about it */
	if (strcmp(c->terminal, device) != 0) {
		w = "challenge_other_terminal";
		r = KAGI_ERR_DENIED;
	} else if (c->used) {
		w = "challenge_replayed";
		r = KAGI_ERR_EXPIRED;
	} else if (now >= c->expires || now < c->created) {
		w = "challenge_expired";
		r = KAGI_ERR_EXPIRED;
	} else if (strcmp(c->login, login) != 0) {
		w = "challenge_other_login";
		r = KAGI_ERR_DENIED;
	} else {
		w = NULL;
		r = 0;
	}
out:
	if (why != NULL)
		*why = w;
	return r;
}

/* ---- outstanding challenges (memory only) ---- */

#define CHAL_BUCKETS 4096u      /* a power of two */
#define CHAL_SWEEP_PER_ADD 8u   /* buckets swept per add: all in 512 adds */

struct chal_node {
	struct store_challenge c;
	struct chal_node *next;
};

struct login_challenges {
	pthread_mutex_t mu;
	struct chal_node *bucket[CHAL_BUCKETS];
	size_t count, max;
	size_t sweep_next;      /* the next bucket the incremental sweep visits */
};

/* The id is 32 random hex digits (random_id): its first 8 spread well. */
static size_t
chal_hash(const char *id)
{
	uint32_t h = 0;

	for (size_t i = 0; i < 8 && id[i] != '\0'; i++) {
		char ch = id[i];
		uint32_t d = ch >= '0' && ch <= '9' ? (uint32_t)(ch - '0') :
		    ch >= 'a' && ch <= 'f' ? (uint32_t)(ch - 'a' + 10) : 0u;
		h = h << 4 | d;
	}
	return (size_t)h & (CHAL_BUCKETS - 1);
}

static void
chal_node_free(struct chal_node *n)
{
	if (n == NULL)
		return;
	kagi_wipe(n->c.challenge, sizeof(n->c.challenge));
	store_challenge_clear(&n->c);
	free(n);
}

/* Drop the expired challenges of bucket b (lock held). */
static void
chal_sweep_bucket(struct login_challenges *t, size_t b, int64_t now)
{
	struct chal_node **pp = &t->bucket[b], *n;

	while ((n = *pp) != NULL) {
		if (n->c.expires <= now) {
			*pp = n->next;
			chal_node_free(n);
			t->count--;
		} else {
			pp = &n->next;
		}
	}
}

int
login_challenges_new(size_t max, struct login_challenges **out)
{
	struct login_challenges *t;

	if (out == NULL)
		return KAGI_ERR_INVALID;
	*out = NULL;
	if (max == 0)
		return KAGI_ERR_INVALID;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return KAGI_ERR_NOMEM;
	if (pthread_mutex_init(&t->mu, NULL) != 0) {
		free(t);
		return KAGI_ERR_SYSTEM;
	}
	t->max = max;
	*out = t;
	return 0;
}

void
login_challenges_free(struct login_challenges *t)
{
	struct chal_node *n, *next;

	if (t == NULL)
		return;
	for (size_t b = 0; b < CHAL_BUCKETS; b++)
		for (n = t->bucket[b]; n != NULL; n = next) {
			next = n->next;
			chal_node_free(n);
		}
	pthread_mutex_destroy(&t->mu);
	free(t);
}

int
login_challenges_add(struct login_challenges *t,
    const struct store_challenge *c, int64_t now)
{
	struct chal_node *n = NULL, *p;
	size_t b, i;
	int r = KAGI_ERR_INTERNAL;

	if (t == NULL || c == NULL || !store_login_id_valid(c->id) ||
	    c->login == NULL || c->terminal == NULL || c->zone == NULL ||
	    c->used != 0 || c->expires < c->created)
		return KAGI_ERR_INVALID;
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return KAGI_ERR_NOMEM;
	memcpy(n->c.id, c->id, sizeof(n->c.id));
	memcpy(n->c.challenge, c->challenge, sizeof(n->c.challenge));
	n->c.login = strdup(c->login);
	n->c.terminal = strdup(c->terminal);
	n->c.zone = strdup(c->zone);
	n->c.created = c->created;
	n->c.expires = c->expires;
	if (n->c.login == NULL || n->c.terminal == NULL || n->c.zone == NULL) {
		chal_node_free(n);
		return KAGI_ERR_NOMEM;
	}
	b = chal_hash(c->id);
	pthread_mutex_lock(&t->mu);
	for (i = 0; i < CHAL_SWEEP_PER_ADD; i++) {
		chal_sweep_bucket(t, t->sweep_next, now);
		t->sweep_next = (t->sweep_next + 1) & (CHAL_BUCKETS - 1);
	}
	if (t->count >= t->max)
		for (i = 0; i < CHAL_BUCKETS; i++)
			chal_sweep_bucket(t, i, now);
	if (t->count >= t->max) {
		r = KAGI_ERR_LIMIT;
		goto out;
	}
	for (p = t->bucket[b]; p != NULL; p = p->next)
		if (strcmp(p->c.id, c->id) == 0) {
			r = KAGI_ERR_CONFLICT;
			goto out;
		}
	n->next = t->bucket[b];
	t->bucket[b] = n;
	t->count++;
	n = NULL;
	r = 0;
out:
	pthread_mutex_unlock(&t->mu);
	chal_node_free(n);
	return r;
}

int
login_challenges_take(struct login_challenges *t, const char *id,
    const char *device, const char *login, int64_t now,
    struct store_challenge *out, const char **why)
{
	struct chal_node *n;
	int r = KAGI_ERR_NOT_FOUND;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (why != NULL)
		*why = NULL;
	if (t == NULL || id == NULL || device == NULL || login == NULL ||
	    out == NULL)
		return KAGI_ERR_INVALID;
	if (why != NULL)
		*why = "challenge_unknown";
	if (!store_login_id_valid(id))
		return KAGI_ERR_NOT_FOUND;
	pthread_mutex_lock(&t->mu);
	for (n = t->bucket[chal_hash(id)]; n != NULL; n = n->next)
		if (strcmp(n->c.id, id) == 0)
			break;
	if (n == NULL)
		goto out;
	if ((r = login_challenge_check(&n->c, device, login, now, why)) != 0)
		goto out;
	/* single use: spent in the same step as the check */
	n->c.used = 1;
	memcpy(out->id, n->c.id, sizeof(out->id));
	memcpy(out->challenge, n->c.challenge, sizeof(out->challenge));
	out->login = strdup(n->c.login);
	out->terminal = strdup(n->c.terminal);
	out->zone = strdup(n->c.zone);
	out->created = n->c.created;
	out->expires = n->c.expires;
	out->used = 1;
	if (out->login == NULL || out->terminal == NULL || out->zone == NULL) {
		/* spent all the same: a retry needs a new begin */
		store_challenge_clear(out);
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	r = 0;
out:
	pthread_mutex_unlock(&t->mu);
	return r;
}

size_t
login_challenges_count(struct login_challenges *t)
{
	size_t n;

	if (t == NULL)
		return 0;
	pthread_mutex_lock(&t->mu);
	n = t->count;
	pthread_mutex_unlock(&t->mu);
	return n;
}

/* ---- the decision ---- */

static const char *
precheck_why(int rc, int member)
{
	switch (rc) {
	case KAGI_ERR_DENIED:
		return member ? "member_disabled" : "account_disabled";
	case KAGI_ERR_EXPIRED:
		return member ? "member_expired" : "account_expired";
	case KAGI_ERR_LOCKED:
		return member ? "member_locked" : "account_locked";
	default:
		return member ? "member_refused" : "account_refused";
	}
}

/* Outcomes a factor check may report; anything else is taken as AUTH. */
static int
factor_err(int rc)
{
	switch (rc) {
	case KAGI_ERR_AUTH:
	case KAGI_ERR_REVOKED:
	case KAGI_ERR_DENIED:
	case KAGI_ERR_SIG:
	case KAGI_ERR_EXPIRED:
		return rc;
	default:
		return KAGI_ERR_AUTH;
	}
}

static void
fill_info(const struct store_account *a, struct kagid_login_info *info)
{
	memset(info, 0, sizeof(*info));
	info->last_login = a->last_login;
	snprintf(info->last_login_terminal, sizeof(info->last_login_terminal),
	    "%s", a->last_login_terminal != NULL ? a->last_login_terminal : "");
	info->last_logout = a->last_logout;
	info->failed_since = a->failed_since_login;
	info->locked_until = a->locked_until;
}

/* Success without a password: kagid_login_record's bookkeeping minus the
 * password's own counters (R-LOGIN-4). */
static int
record_success(struct store_account *a, const char *terminal, int64_t now)
{
	char *term = NULL;

	if (terminal != NULL && (term = strdup(terminal)) == NULL)
		return KAGI_ERR_NOMEM;
	a->failed_count = 0;
	a->failed_first = 0;
	a->failed_since_login = 0;
	if (a->locked_until != INT64_MAX && a->locked_until <= now)
		a->locked_until = 0;
	a->last_login = now;
	if (term != NULL) {
		free(a->last_login_terminal);
		a->last_login_terminal = term;
	}
	a->updated = now;
	return 0;
}

static int
finish_out(struct login_result *out, int rc, const char *why)
{
	out->rc = rc;
	out->reason = why;
	return rc;
}

int
login_decide(const struct login_facts *f, struct store_account *a,
    const struct store_account *m, struct login_result *out)
{
	const int *outcome[3];
	const char *whys[3];
	unsigned factors = 0;
	int uv, rc, changed = 0;

	if (out == NULL)
		return KAGI_ERR_INVALID;
	memset(out, 0, sizeof(*out));
	if (f == NULL || f->policy == NULL || f->zone == NULL)
		return finish_out(out, KAGI_ERR_INVALID, "internal");
	if (a == NULL)
		return finish_out(out, KAGI_ERR_AUTH, "unknown_account");
	fill_info(a, &out->info);
	/* state, end date, lock: refused before any factor counts */
	if ((rc = kagid_login_precheck(a, f->now)) != 0)
		return finish_out(out, rc, precheck_why(rc, 0));

	/* a factor presented and not verified refuses the login */
	outcome[0] = &f->card;
	outcome[1] = &f->fido;
	outcome[2] = &f->password;
	whys[0] = f->card_why != NULL ? f->card_why : "card_failed";
	whys[1] = f->fido_why != NULL ? f->fido_why : "fido_failed";
	whys[2] = f->password_why != NULL ? f->password_why : "password_wrong";
	for (int i = 0; i < 3; i++) {
		if (*outcome[i] == LOGIN_ABSENT || *outcome[i] == 0)
			continue;
		rc = factor_err(*outcome[i]);
		if (rc == KAGI_ERR_AUTH) {
			/* R-LOGIN-2: the person's own factor failed: count it */
			int lr = kagid_login_record(f->policy, a, 0, f->terminal,
			    f->now, &out->info, &changed);
			out->account_changed = changed;
			out->counted = 1;
			if (lr != KAGI_ERR_AUTH)
				return finish_out(out, lr, whys[i]);
		}
		return finish_out(out, rc, whys[i]);
	}
	if (f->card == 0)
		factors |= POLICY_FACTOR_CARD;
	if (f->fido == 0)
		factors |= POLICY_FACTOR_FIDO;
	if (f->password == 0)
		factors |= POLICY_FACTOR_PASSWORD;
	if (factors == 0)
		return finish_out(out, KAGI_ERR_DENIED, "no_factor");
	uv = (factors & POLICY_FACTOR_FIDO) && f->fido_uv;
	out->factors = factors;
	out->categories = policy_categories(factors, uv);

	/* R-ID-7: a shared ID is used by a designated member, who proves
	 * themselves with their own card or FIDO key */
	if (a->kind == STORE_KIND_SHARED) {
		if (f->member == NULL)
			return finish_out(out, KAGI_ERR_DENIED,
			    "shared_without_member");
		if (!f->member_listed || m == NULL)
			return finish_out(out, KAGI_ERR_DENIED, "not_a_member");
		if (m->kind == STORE_KIND_SHARED)
			return finish_out(out, KAGI_ERR_DENIED, "not_a_member");
		if ((rc = kagid_login_precheck(m, f->now)) != 0)
			return finish_out(out, rc, precheck_why(rc, 1));
		if (!(factors & (POLICY_FACTOR_CARD | POLICY_FACTOR_FIDO)))
			return finish_out(out, KAGI_ERR_DENIED,
			    "shared_needs_member_factor");
	} else if (f->member != NULL) {
		return finish_out(out, KAGI_ERR_DENIED, "member_not_shared");
	}

	/* R-MFA-1, R-MFA-2: enough categories for this zone and kind */
	if (policy_check_factors(f->policy, f->zone,
	    (enum store_account_kind)a->kind, factors, uv) != 0)
		return finish_out(out, KAGI_ERR_DENIED, "not_enough_factors");

	/* R-PRIV-1, R-PRIV-7: a privileged ID only inside an open window */
	if (a->kind == STORE_KIND_PRIVILEGED) {
		if (f->priv_rc != 0 || f->priv_end <= f->now)
			return finish_out(out, KAGI_ERR_DENIED,
			    "outside_window");
		out->session_end = f->priv_end;
	}

	if (factors & POLICY_FACTOR_PASSWORD) {
		/* R-PW-6, R-PW-4, R-PW-9: ID-A's bookkeeping decides whether
		 * this login only allows a password change */
		rc = kagid_login_record(f->policy, a, 1, f->terminal, f->now,
		    &out->info, &changed);
		out->account_changed = changed;
		if (rc == 0 || rc == KAGI_ERR_MUST_CHANGE)
			return finish_out(out, rc, rc == 0 ? "ok" :
			    out->info.must_change != NULL ?
			    out->info.must_change : "must_change");
		return finish_out(out, rc, rc == KAGI_ERR_EXPIRED ?
		    "temp_password_expired" : "password_refused");
	}
	if ((rc = record_success(a, f->terminal, f->now)) != 0)
		return finish_out(out, rc, "internal");
	out->account_changed = 1;
	return finish_out(out, 0, "ok");
}

const char *
login_factor_name(unsigned bit)
{
	switch (bit) {
	case POLICY_FACTOR_CARD:
		return "card";
	case POLICY_FACTOR_FIDO:
		return "fido";
	case POLICY_FACTOR_PASSWORD:
		return "password";
	default:
		return NULL;
	}
}

const char *
login_category_name(unsigned bit)
{
	switch (bit) {
	case POLICY_CAT_KNOWLEDGE:
		return "knowledge";
	case POLICY_CAT_POSSESSION:
		return "possession";
	case POLICY_CAT_INHERENCE:
		return "inherence";
	default:
		return NULL;
	}
}
