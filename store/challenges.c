/*
 * challenges: single-use login challenges ("c:" + id) and login sessions
 * ("s:" + id) in the "challenges" database.  Format: docs/STORE-FORMAT.md
 * "challenges".  Every value starts with the version byte and is decoded
 * through a kbuf; the id inside must match the key it is stored under.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kagi/kbuf.h"
#include "kagi/log.h"
#include "kagi/store.h"
#include "store_lmdb.h"

#define KEY_PREFIX_LEN 2u
#define KEY_LEN (KEY_PREFIX_LEN + STORE_LOGIN_ID_LEN)
#define DEVICE_MAX 64u
#define ZONE_MAX 31u

int
store_login_id_valid(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n != STORE_LOGIN_ID_LEN)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' &&
		    s[i] <= 'f')))
			return 0;
	return 1;
}

static int
zone_ok(const char *z)
{
	size_t n = z != NULL ? strlen(z) : 0;

	return n > 0 && n <= ZONE_MAX;
}

static void
make_key(char prefix, const char *id, char out[KEY_LEN + 1])
{
	out[0] = prefix;
	out[1] = ':';
	memcpy(out + KEY_PREFIX_LEN, id, STORE_LOGIN_ID_LEN);
	out[KEY_LEN] = '\0';
}

/* ---- challenges ---- */

void
store_challenge_clear(struct store_challenge *c)
{
	if (c == NULL)
		return;
	free(c->login);
	free(c->terminal);
	free(c->zone);
	memset(c, 0, sizeof(*c));
}

static int
challenge_check(const struct store_challenge *c)
{
	if (c == NULL || !store_login_id_valid(c->id) ||
	    !store_login_valid(c->login) ||
	    !store_device_id_valid(c->terminal) || !zone_ok(c->zone) ||
	    c->used > 1 || c->expires < c->created)
		return KAGI_ERR_INVALID;
	return 0;
}

int
store_challenge_encode(const struct store_challenge *c, struct kbuf *out)
{
	struct kbuf *b = NULL;
	int r = KAGI_ERR_INTERNAL;

	if (out == NULL)
		return KAGI_ERR_INVALID;
	if ((r = challenge_check(c)) != 0)
		return r;
	if ((b = kbuf_new(STORE_VALUE_MAX)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = kbuf_put_u8(b, STORE_REC_VERSION)) != 0 ||
	    (r = kbuf_put_string(b, c->id)) != 0 ||
	    (r = kbuf_put(b, c->challenge, STORE_CHALLENGE_LEN)) != 0 ||
	    (r = kbuf_put_string(b, c->login)) != 0 ||
	    (r = kbuf_put_string(b, c->terminal)) != 0 ||
	    (r = kbuf_put_string(b, c->zone)) != 0 ||
	    (r = kbuf_put_i64(b, c->created)) != 0 ||
	    (r = kbuf_put_i64(b, c->expires)) != 0 ||
	    (r = kbuf_put_u8(b, c->used)) != 0)
		goto out;
	r = kbuf_put(out, kbuf_ptr(b), kbuf_len(b));
out:
	kbuf_free(b);
	return r;
}

/* A fixed-size id string out of the kbuf. */
static int
get_id(struct kbuf *b, char out[STORE_LOGIN_ID_LEN + 1])
{
	char *s = NULL;
	int r;

	if ((r = kbuf_get_string(b, &s, STORE_LOGIN_ID_LEN)) != 0)
		return r;
	if (!store_login_id_valid(s)) {
		free(s);
		return KAGI_ERR_FORMAT;
	}
	memcpy(out, s, STORE_LOGIN_ID_LEN + 1);
	free(s);
	return 0;
}

int
store_challenge_decode(const uint8_t *p, size_t len,
    struct store_challenge *out)
{
	struct store_challenge c;
	struct kbuf *b = NULL;
	uint8_t v = 0;
	int r = KAGI_ERR_INTERNAL;

	memset(&c, 0, sizeof(c));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (out == NULL || (p == NULL && len > 0))
		return KAGI_ERR_INVALID;
	if ((b = kbuf_from(p, len)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = kbuf_get_u8(b, &v)) != 0)
		goto out;
	if (v != STORE_REC_VERSION) {
		r = v == 0 ? KAGI_ERR_FORMAT : KAGI_ERR_VERSION;
		goto out;
	}
	if ((r = get_id(b, c.id)) != 0 ||
	    (r = kbuf_get_bytes(b, c.challenge, STORE_CHALLENGE_LEN)) != 0 ||
	    (r = kbuf_get_string(b, &c.login, STORE_KEY_MAX)) != 0 ||
	    (r = kbuf_get_string(b, &c.terminal, DEVICE_MAX)) != 0 ||
	    (r = kbuf_get_string(b, &c.zone, ZONE_MAX)) != 0 ||
	    (r = kbuf_get_i64(b, &c.created)) != 0 ||
	    (r = kbuf_get_i64(b, &c.expires)) != 0 ||
	    (r = kbuf_get_u8(b, &c.used)) != 0 ||
	    (r = kbuf_expect_end(b)) != 0)
		goto out;
	if (challenge_check(&c) != 0) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	*out = c;
	memset(&c, 0, sizeof(c));
	r = 0;
out:
	store_challenge_clear(&c);
	kbuf_free(b);
	return r;
}

/* ---- sessions ---- */

void
store_session_clear(struct store_session *s)
{
	if (s == NULL)
		return;
	free(s->login);
	free(s->member);
	free(s->terminal);
	free(s->zone);
	memset(s, 0, sizeof(*s));
}

static int
session_check(const struct store_session *s)
{
	if (s == NULL || !store_login_id_valid(s->id) ||
	    !store_login_valid(s->login) || s->member == NULL ||
	    (s->member[0] != '\0' && !store_login_valid(s->member)) ||
	    !store_device_id_valid(s->terminal) || !zone_ok(s->zone) ||
	    s->start <= 0 || s->end < 0 || s->closed < 0)
		return KAGI_ERR_INVALID;
	return 0;
}

int
store_session_encode(const struct store_session *s, struct kbuf *out)
{
	struct kbuf *b = NULL;
	int r = KAGI_ERR_INTERNAL;

	if (out == NULL)
		return KAGI_ERR_INVALID;
	if ((r = session_check(s)) != 0)
		return r;
	if ((b = kbuf_new(STORE_VALUE_MAX)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = kbuf_put_u8(b, STORE_REC_VERSION)) != 0 ||
	    (r = kbuf_put_string(b, s->id)) != 0 ||
	    (r = kbuf_put_string(b, s->login)) != 0 ||
	    (r = kbuf_put_string(b, s->member)) != 0 ||
	    (r = kbuf_put_string(b, s->terminal)) != 0 ||
	    (r = kbuf_put_string(b, s->zone)) != 0 ||
	    (r = kbuf_put_i64(b, s->start)) != 0 ||
	    (r = kbuf_put_i64(b, s->end)) != 0 ||
	    (r = kbuf_put_i64(b, s->closed)) != 0)
		goto out;
	r = kbuf_put(out, kbuf_ptr(b), kbuf_len(b));
out:
	kbuf_free(b);
	return r;
}

int
store_session_decode(const uint8_t *p, size_t len, struct store_session *out)
{
	struct store_session s;
	struct kbuf *b = NULL;
	uint8_t v = 0;
	int r = KAGI_ERR_INTERNAL;

	memset(&s, 0, sizeof(s));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (out == NULL || (p == NULL && len > 0))
		return KAGI_ERR_INVALID;
	if ((b = kbuf_from(p, len)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = kbuf_get_u8(b, &v)) != 0)
		goto out;
	if (v != STORE_REC_VERSION) {
		r = v == 0 ? KAGI_ERR_FORMAT : KAGI_ERR_VERSION;
		goto out;
	}
	if ((r = get_id(b, s.id)) != 0 ||
	    (r = kbuf_get_string(b, &s.login, STORE_KEY_MAX)) != 0 ||
	    (r = kbuf_get_string(b, &s.member, STORE_KEY_MAX)) != 0 ||
	    (r = kbuf_get_string(b, &s.terminal, DEVICE_MAX)) != 0 ||
	    (r = kbuf_get_string(b, &s.zone, ZONE_MAX)) != 0 ||
	    (r = kbuf_get_i64(b, &s.start)) != 0 ||
	    (r = kbuf_get_i64(b, &s.end)) != 0 ||
	    (r = kbuf_get_i64(b, &s.closed)) != 0 ||
	    (r = kbuf_expect_end(b)) != 0)
		goto out;
	/* kbuf_get_string gives NULL for ""; the record wants "" */
	if (s.member == NULL && (s.member = strdup("")) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if (session_check(&s) != 0) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	*out = s;
	memset(&s, 0, sizeof(s));
	r = 0;
out:
	store_session_clear(&s);
	kbuf_free(b);
	return r;
}

/* ---- LMDB access ---- */

static int
stored_err(int r, const char *what)
{
	if (r == KAGI_ERR_VERSION || r == KAGI_ERR_NOMEM)
		return r;
	kagi_log_err("store: %s record does not decode (%s)", what,
	    kagi_err_name(r));
	return KAGI_ERR_CORRUPT;
}

static int
raw_get(struct store_txn *t, char prefix, const char *id, MDB_val *v)
{
	char key[KEY_LEN + 1];
	MDB_val k;
	int rc;

	if (t == NULL || !store_login_id_valid(id))
		return KAGI_ERR_INVALID;
	make_key(prefix, id, key);
	k.mv_data = key;
	k.mv_size = KEY_LEN;
	if ((rc = mdb_get(t->txn, t->s->dbi[STORE_DB_CHALLENGES], &k, v)) != 0)
		return store_lmdb_err(rc, "challenges");
	return 0;
}

static int
raw_put(struct store_txn *t, char prefix, const char *id, struct kbuf *b,
    unsigned int flags)
{
	char key[KEY_LEN + 1];
	MDB_val k, v;
	int rc;

	if (!t->write) {
		kagi_log_err("store: write in a read transaction");
		return KAGI_ERR_INVALID;
	}
	make_key(prefix, id, key);
	k.mv_data = key;
	k.mv_size = KEY_LEN;
	v.mv_data = (void *)kbuf_ptr(b);
	v.mv_size = kbuf_len(b);
	rc = mdb_put(t->txn, t->s->dbi[STORE_DB_CHALLENGES], &k, &v, flags);
	if (rc != MDB_KEYEXIST)
		t->dirty = 1;
	return rc == 0 ? 0 : store_lmdb_err(rc, "challenges");
}

int
store_challenge_get(struct store_txn *t, const char *id,
    struct store_challenge *out)
{
	MDB_val v;
	int r;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (out == NULL)
		return KAGI_ERR_INVALID;
	if ((r = raw_get(t, 'c', id, &v)) != 0)
		return r;
	if ((r = store_challenge_decode(v.mv_data, v.mv_size, out)) != 0)
		return stored_err(r, "challenge");
	if (strcmp(out->id, id) != 0) {
		store_challenge_clear(out);
		kagi_log_err("store: challenge record does not match its key");
		return KAGI_ERR_CORRUPT;
	}
	return 0;
}

static int
challenge_write(struct store_txn *t, const struct store_challenge *c,
    unsigned int flags)
{
	struct kbuf *b = NULL;
	int r;

	if (t == NULL || c == NULL)
		return KAGI_ERR_INVALID;
	if ((b = kbuf_new(STORE_VALUE_MAX)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = store_challenge_encode(c, b)) == 0)
		r = raw_put(t, 'c', c->id, b, flags);
	kbuf_free(b);
	return r;
}

int
store_challenge_add(struct store_txn *t, const struct store_challenge *c)
{
	return challenge_write(t, c, MDB_NOOVERWRITE);
}

int
store_challenge_put(struct store_txn *t, const struct store_challenge *c)
{
	return challenge_write(t, c, 0);
}

int
store_challenge_del(struct store_txn *t, const char *id)
{
	char key[KEY_LEN + 1];
	MDB_val k;
	int rc;

	if (t == NULL || !store_login_id_valid(id))
		return KAGI_ERR_INVALID;
	if (!t->write) {
		kagi_log_err("store: delete in a read transaction");
		return KAGI_ERR_INVALID;
	}
	make_key('c', id, key);
	k.mv_data = key;
	k.mv_size = KEY_LEN;
	rc = mdb_del(t->txn, t->s->dbi[STORE_DB_CHALLENGES], &k, NULL);
	if (rc != MDB_NOTFOUND)
		t->dirty = 1;
	return rc == 0 ? 0 : store_lmdb_err(rc, "challenges");
}

int
store_session_get(struct store_txn *t, const char *id,
    struct store_session *out)
{
	MDB_val v;
	int r;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (out == NULL)
		return KAGI_ERR_INVALID;
	if ((r = raw_get(t, 's', id, &v)) != 0)
		return r;
	if ((r = store_session_decode(v.mv_data, v.mv_size, out)) != 0)
		return stored_err(r, "session");
	if (strcmp(out->id, id) != 0) {
		store_session_clear(out);
		kagi_log_err("store: session record does not match its key");
		return KAGI_ERR_CORRUPT;
	}
	return 0;
}

static int
session_write(struct store_txn *t, const struct store_session *s,
    unsigned int flags)
{
	struct kbuf *b = NULL;
	int r;

	if (t == NULL || s == NULL)
		return KAGI_ERR_INVALID;
	if ((b = kbuf_new(STORE_VALUE_MAX)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = store_session_encode(s, b)) == 0)
		r = raw_put(t, 's', s->id, b, flags);
	kbuf_free(b);
	return r;
}

int
store_session_add(struct store_txn *t, const struct store_session *s)
{
	return session_write(t, s, MDB_NOOVERWRITE);
}

int
store_session_put(struct store_txn *t, const struct store_session *s)
{
	return session_write(t, s, 0);
}

/* Is the record under key k due for deletion at now?  1 yes, 0 no. */
static int
sweep_due(const MDB_val *k, const MDB_val *v, int64_t now, int *err)
{
	const char *key = k->mv_data;
	int r;

	*err = 0;
	if (k->mv_size != KEY_LEN || key[1] != ':') {
		kagi_log_err("store: challenges: unexpected key");
		*err = KAGI_ERR_CORRUPT;
		return 0;
	}
	if (key[0] == 'c') {
		struct store_challenge c;
		if ((r = store_challenge_decode(v->mv_data, v->mv_size,
		    &c)) != 0) {
			*err = stored_err(r, "challenge");
			return 0;
		}
		r = c.expires <= now;
		store_challenge_clear(&c);
		return r;
	}
	if (key[0] == 's') {
		struct store_session s;
		int64_t last;
		if ((r = store_session_decode(v->mv_data, v->mv_size,
		    &s)) != 0) {
			*err = stored_err(r, "session");
			return 0;
		}
		last = s.closed != 0 ? s.closed : s.end != 0 ? s.end : s.start;
		store_session_clear(&s);
		return last <= now - STORE_SESSION_KEEP;
	}
	kagi_log_err("store: challenges: unexpected key prefix");
	*err = KAGI_ERR_CORRUPT;
	return 0;
}

/*
 * A bounded sweep (max > 0) looks at no more than SWEEP_LOOK_FACTOR * max
 * records, starting at the record where the previous bounded sweep
 * stopped (wrapping at the end), so that a sweep run on every login
 * costs the same with 30 days of sessions in the database as with none.
 * The place is only a hint (process-wide; a record deleted meanwhile or
 * another environment just moves the start): every record is visited
 * again within a full round.
 */
#define SWEEP_LOOK_FACTOR 4u
static pthread_mutex_t sweep_mu = PTHREAD_MUTEX_INITIALIZER;
static char sweep_last[KEY_LEN];
static int sweep_have_last;

/* Position c at the first record a bounded sweep should look at: the
 * one the previous bounded sweep stopped at, or the next key after it. */
static int
sweep_start(MDB_cursor *c, MDB_val *k, MDB_val *v)
{
	char last[KEY_LEN];
	int have, rc;

	pthread_mutex_lock(&sweep_mu);
	have = sweep_have_last;
	memcpy(last, sweep_last, sizeof(last));
	pthread_mutex_unlock(&sweep_mu);
	if (!have)
		return mdb_cursor_get(c, k, v, MDB_FIRST);
	k->mv_data = last;
	k->mv_size = sizeof(last);
	rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
	if (rc == MDB_NOTFOUND) /* past the end: a new round */
		rc = mdb_cursor_get(c, k, v, MDB_FIRST);
	return rc;
}

static void
sweep_remember(const MDB_val *k)
{
	pthread_mutex_lock(&sweep_mu);
	if (k != NULL && k->mv_size == KEY_LEN) {
		memcpy(sweep_last, k->mv_data, KEY_LEN);
		sweep_have_last = 1;
	} else {
		sweep_have_last = 0;
	}
	pthread_mutex_unlock(&sweep_mu);
}

int
store_login_sweep(struct store_txn *t, int64_t now, size_t max,
    size_t *removed)
{
	MDB_cursor *c = NULL;
	MDB_val k, v;
	size_t n = 0, looked = 0;
	int r = KAGI_ERR_INTERNAL, rc, err;

	if (removed != NULL)
		*removed = 0;
	if (t == NULL)
		return KAGI_ERR_INVALID;
	if (!t->write) {
		kagi_log_err("store: delete in a read transaction");
		return KAGI_ERR_INVALID;
	}
	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[STORE_DB_CHALLENGES],
	    &c)) != 0)
		return store_lmdb_err(rc, "challenges cursor");
	for (rc = max != 0 ? sweep_start(c, &k, &v) :
	    mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (max != 0 && (n >= max ||
		    looked >= SWEEP_LOOK_FACTOR * max)) {
			sweep_remember(&k); /* the next sweep starts here */
			break;
		}
		looked++;
		if (!sweep_due(&k, &v, now, &err)) {
			if (err != 0) {
				r = err;
				goto out;
			}
			continue;
		}
		if ((rc = mdb_cursor_del(c, 0)) != 0) {
			r = store_lmdb_err(rc, "challenges delete");
			goto out;
		}
		t->dirty = 1;
		n++;
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		r = store_lmdb_err(rc, "challenges cursor");
		goto out;
	}
	if (max != 0 && rc == MDB_NOTFOUND)
		sweep_remember(NULL); /* reached the end: the next starts over */
	if (removed != NULL)
		*removed = n;
	r = 0;
out:
	mdb_cursor_close(c);
	return r;
}
