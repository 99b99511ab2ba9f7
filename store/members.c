/*
 * members: who may use a shared ID (R-ID-7).  One record per (shared,
 * member) pair under the key "SHARED/MEMBER" ('/' is not in the login
 * syntax, so the key splits one way only and the members of one shared ID
 * are contiguous in key order).  Format: docs/STORE-FORMAT.md "members".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kagi/kbuf.h"
#include "kagi/log.h"
#include "kagi/store.h"
#include "store_lmdb.h"

#define MEMBER_KEY_MAX (2 * STORE_KEY_MAX + 2)

void
store_member_clear(struct store_member *m)
{
	if (m == NULL)
		return;
	free(m->shared);
	free(m->member);
	memset(m, 0, sizeof(*m));
}

static int
member_check(const struct store_member *m)
{
	if (m == NULL || !store_login_valid(m->shared) ||
	    !store_login_valid(m->member) || strcmp(m->shared, m->member) == 0)
		return KAGI_ERR_INVALID;
	return 0;
}

int
store_member_encode(const struct store_member *m, struct kbuf *out)
{
	struct kbuf *b = NULL;
	int r = KAGI_ERR_INTERNAL;

	if (out == NULL)
		return KAGI_ERR_INVALID;
	if ((r = member_check(m)) != 0)
		return r;
	/* encode into a scratch buffer so a refusal appends nothing */
	if ((b = kbuf_new(STORE_VALUE_MAX)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = kbuf_put_u8(b, STORE_REC_VERSION)) != 0 ||
	    (r = kbuf_put_string(b, m->shared)) != 0 ||
	    (r = kbuf_put_string(b, m->member)) != 0 ||
	    (r = kbuf_put_i64(b, m->added)) != 0)
		goto out;
	r = kbuf_put(out, kbuf_ptr(b), kbuf_len(b));
out:
	kbuf_free(b);
	return r;
}

int
store_member_decode(const uint8_t *p, size_t len, struct store_member *out)
{
	struct store_member m;
	struct kbuf *b = NULL;
	uint8_t v = 0;
	int r = KAGI_ERR_INTERNAL;

	memset(&m, 0, sizeof(m));
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
	if ((r = kbuf_get_string(b, &m.shared, STORE_KEY_MAX)) != 0 ||
	    (r = kbuf_get_string(b, &m.member, STORE_KEY_MAX)) != 0 ||
	    (r = kbuf_get_i64(b, &m.added)) != 0 ||
	    (r = kbuf_expect_end(b)) != 0)
		goto out;
	if (member_check(&m) != 0) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	*out = m;
	memset(&m, 0, sizeof(m));
	r = 0;
out:
	store_member_clear(&m);
	kbuf_free(b);
	return r;
}

static int
member_key(const char *shared, const char *member, char *key, size_t len)
{
	if (!store_login_valid(shared) || (member != NULL &&
	    !store_login_valid(member)))
		return KAGI_ERR_INVALID;
	snprintf(key, len, "%s/%s", shared, member != NULL ? member : "");
	return 0;
}

int
store_member_add(struct store_txn *t, const struct store_member *m)
{
	char key[MEMBER_KEY_MAX];
	struct kbuf *b = NULL;
	MDB_val k, v;
	int r = KAGI_ERR_INTERNAL, rc;

	if (t == NULL || m == NULL)
		return KAGI_ERR_INVALID;
	if (!t->write) {
		kagi_log_err("store: write in a read transaction");
		return KAGI_ERR_INVALID;
	}
	if ((r = member_check(m)) != 0 ||
	    (r = member_key(m->shared, m->member, key, sizeof(key))) != 0)
		return r;
	if ((b = kbuf_new(STORE_VALUE_MAX)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = store_member_encode(m, b)) != 0)
		goto out;
	k.mv_data = key;
	k.mv_size = strlen(key);
	v.mv_data = (void *)kbuf_ptr(b);
	v.mv_size = kbuf_len(b);
	rc = mdb_put(t->txn, t->s->dbi[STORE_DB_MEMBERS], &k, &v,
	    MDB_NOOVERWRITE);
	if (rc != MDB_KEYEXIST)
		t->dirty = 1;
	r = rc == 0 ? 0 : store_lmdb_err(rc, "members");
out:
	kbuf_free(b);
	return r;
}

int
store_member_get(struct store_txn *t, const char *shared, const char *member,
    struct store_member *out)
{
	char key[MEMBER_KEY_MAX];
	struct store_member m;
	MDB_val k, v;
	int r = KAGI_ERR_INTERNAL, rc;

	memset(&m, 0, sizeof(m));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (t == NULL || out == NULL || member == NULL)
		return KAGI_ERR_INVALID;
	if ((r = member_key(shared, member, key, sizeof(key))) != 0)
		return r;
	k.mv_data = key;
	k.mv_size = strlen(key);
	if ((rc = mdb_get(t->txn, t->s->dbi[STORE_DB_MEMBERS], &k, &v)) != 0)
		return store_lmdb_err(rc, "members");
	if ((r = store_member_decode(v.mv_data, v.mv_size, &m)) != 0) {
		kagi_log_err("store: members record does not decode (%s)",
		    kagi_err_name(r));
		r = r == KAGI_ERR_VERSION || r == KAGI_ERR_NOMEM ? r :
		    KAGI_ERR_CORRUPT;
		goto out;
	}
	if (strcmp(m.shared, shared) != 0 || strcmp(m.member, member) != 0) {
		kagi_log_err("store: members record under key %s names %s/%s",
		    key, m.shared, m.member);
		r = KAGI_ERR_CORRUPT;
		goto out;
	}
	*out = m;
	memset(&m, 0, sizeof(m));
	r = 0;
out:
	store_member_clear(&m);
	return r;
}

int
store_member_del(struct store_txn *t, const char *shared, const char *member)
{
	char key[MEMBER_KEY_MAX];
	MDB_val k;
	int r, rc;

	if (t == NULL || member == NULL)
		return KAGI_ERR_INVALID;
	if (!t->write) {
		kagi_log_err("store: delete in a read transaction");
		return KAGI_ERR_INVALID;
	}
	if ((r = member_key(shared, member, key, sizeof(key))) != 0)
		return r;
	k.mv_data = key;
	k.mv_size = strlen(key);
	rc = mdb_del(t->txn, t->s->dbi[STORE_DB_MEMBERS], &k, NULL);
	if (rc != MDB_NOTFOUND)
		t->dirty = 1;
	return rc == 0 ? 0 : store_lmdb_err(rc, "members");
}

/* The callback's non-zero return stops the walk (negative: passed back). */
int
store_member_iter(struct store_txn *t, const char *shared,
    store_member_cb *cb, void *arg)
{
	char prefix[MEMBER_KEY_MAX], key[MEMBER_KEY_MAX];
	struct store_member m;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	size_t plen = 0;
	int r = KAGI_ERR_INTERNAL, rc;

	memset(&m, 0, sizeof(m));
	if (t == NULL || cb == NULL)
		return KAGI_ERR_INVALID;
	if (shared != NULL) {
		if ((r = member_key(shared, NULL, prefix, sizeof(prefix))) != 0)
			return r;
		plen = strlen(prefix);
	}
	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[STORE_DB_MEMBERS],
	    &c)) != 0)
		return store_lmdb_err(rc, "members cursor");
	if (shared != NULL) {
		k.mv_data = prefix;
		k.mv_size = plen;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	} else {
		rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	}
	for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (shared != NULL && (k.mv_size < plen ||
		    memcmp(k.mv_data, prefix, plen) != 0))
			break;
		if ((r = store_member_decode(v.mv_data, v.mv_size, &m)) != 0) {
			kagi_log_err("store: members record does not decode "
			    "(%s)", kagi_err_name(r));
			r = r == KAGI_ERR_VERSION || r == KAGI_ERR_NOMEM ? r :
			    KAGI_ERR_CORRUPT;
			goto out;
		}
		snprintf(key, sizeof(key), "%s/%s", m.shared, m.member);
		if (k.mv_size != strlen(key) ||
		    memcmp(k.mv_data, key, k.mv_size) != 0) {
			kagi_log_err("store: members key does not match record "
			    "%s", key);
			r = KAGI_ERR_CORRUPT;
			goto out;
		}
		r = cb(&m, arg);
		store_member_clear(&m);
		if (r != 0) {
			r = r < 0 ? r : 0;
			goto out;
		}
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		r = store_lmdb_err(rc, "members cursor");
		goto out;
	}
	r = 0;
out:
	store_member_clear(&m);
	mdb_cursor_close(c);
	return r;
}
