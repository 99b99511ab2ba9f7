/*
 * grants: privileged windows (R-PRIV-1, R-PRIV-2, R-PRIV-7, R-ID-3), keyed
 * by a 16-hex-digit id.  Format: docs/STORE-FORMAT.md "grants".  Also the
 * state digest used by HR plans (store_digest).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "kagi/kbuf.h"
#include "kagi/log.h"
#include "kagi/store.h"
#include "store_lmdb.h"

static const char *const grant_state_names[STORE_GRANT_STATE_COUNT] = {
	[STORE_GRANT_REQUESTED] = "requested",
	[STORE_GRANT_APPROVED] = "approved",
	[STORE_GRANT_DENIED] = "denied",
	[STORE_GRANT_REVOKED] = "revoked",
	[STORE_GRANT_ENDED] = "ended",
};

const char *
store_grant_state_name(unsigned state)
{
	return state < STORE_GRANT_STATE_COUNT ? grant_state_names[state] :
	    "unknown";
}

void
store_grant_clear(struct store_grant *g)
{
	if (g == NULL)
		return;
	free(g->id);
	free(g->account);
	free(g->requester);
	free(g->approver);
	free(g->reason);
	memset(g, 0, sizeof(*g));
}

static int
grant_id_valid(const char *s)
{
	size_t i;

	if (s == NULL || strlen(s) != STORE_GRANT_ID_LEN)
		return 0;
	for (i = 0; i < STORE_GRANT_ID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static int
str_ok(const char *s, size_t max)
{
	size_t n = s == NULL ? 0 : strlen(s);

	if (n > max)
		return KAGI_ERR_LIMIT;
	if (n > 0 && !kagi_utf8_valid(s, n))
		return KAGI_ERR_INVALID;
	return 0;
}

static int
grant_check(const struct store_grant *g)
{
	int r;

	if (g == NULL || !grant_id_valid(g->id) ||
	    !store_login_valid(g->account) || g->delegate > 1 ||
	    g->state >= STORE_GRANT_STATE_COUNT || g->end < g->start)
		return KAGI_ERR_INVALID;
	if ((r = str_ok(g->requester, STORE_AUDIT_FIELD_MAX)) != 0 ||
	    (r = str_ok(g->approver, STORE_AUDIT_FIELD_MAX)) != 0 ||
	    (r = str_ok(g->reason, STORE_GRANT_REASON_MAX)) != 0)
		return r;
	if (g->requester == NULL || g->requester[0] == '\0')
		return KAGI_ERR_INVALID;
	return 0;
}

int
store_grant_encode(const struct store_grant *g, struct kbuf *out)
{
	struct kbuf *b = NULL;
	int r = KAGI_ERR_INTERNAL;

	if (out == NULL)
		return KAGI_ERR_INVALID;
	if ((r = grant_check(g)) != 0)
		return r;
	if ((b = kbuf_new(STORE_VALUE_MAX)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = kbuf_put_u8(b, STORE_REC_VERSION)) != 0 ||
	    (r = kbuf_put_string(b, g->id)) != 0 ||
	    (r = kbuf_put_string(b, g->account)) != 0 ||
	    (r = kbuf_put_string(b, g->requester)) != 0 ||
	    (r = kbuf_put_string(b, g->approver)) != 0 ||
	    (r = kbuf_put_u8(b, g->delegate)) != 0 ||
	    (r = kbuf_put_u8(b, g->state)) != 0 ||
	    (r = kbuf_put_i64(b, g->start)) != 0 ||
	    (r = kbuf_put_i64(b, g->end)) != 0 ||
	    (r = kbuf_put_string(b, g->reason)) != 0 ||
	    (r = kbuf_put_i64(b, g->created)) != 0 ||
	    (r = kbuf_put_i64(b, g->decided)) != 0 ||
	    (r = kbuf_put_i64(b, g->updated)) != 0)
		goto out;
	r = kbuf_put(out, kbuf_ptr(b), kbuf_len(b));
out:
	kbuf_free(b);
	return r;
}

static int
get_str(struct kbuf *b, char **out, size_t max)
{
	int r;

	if ((r = kbuf_get_string(b, out, max)) != 0)
		return r;
	if (*out == NULL && (*out = strdup("")) == NULL)
		return KAGI_ERR_NOMEM;
	return 0;
}

int
store_grant_decode(const uint8_t *p, size_t len, struct store_grant *out)
{
	struct store_grant g;
	struct kbuf *b = NULL;
	uint8_t v = 0;
	int r = KAGI_ERR_INTERNAL;

	memset(&g, 0, sizeof(g));
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
	if ((r = get_str(b, &g.id, STORE_GRANT_ID_LEN)) != 0 ||
	    (r = get_str(b, &g.account, STORE_KEY_MAX)) != 0 ||
	    (r = get_str(b, &g.requester, STORE_AUDIT_FIELD_MAX)) != 0 ||
	    (r = get_str(b, &g.approver, STORE_AUDIT_FIELD_MAX)) != 0 ||
	    (r = kbuf_get_u8(b, &g.delegate)) != 0 ||
	    (r = kbuf_get_u8(b, &g.state)) != 0 ||
	    (r = kbuf_get_i64(b, &g.start)) != 0 ||
	    (r = kbuf_get_i64(b, &g.end)) != 0 ||
	    (r = get_str(b, &g.reason, STORE_GRANT_REASON_MAX)) != 0 ||
	    (r = kbuf_get_i64(b, &g.created)) != 0 ||
	    (r = kbuf_get_i64(b, &g.decided)) != 0 ||
	    (r = kbuf_get_i64(b, &g.updated)) != 0 ||
	    (r = kbuf_expect_end(b)) != 0)
		goto out;
	if (grant_check(&g) != 0) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	*out = g;
	memset(&g, 0, sizeof(g));
	r = 0;
out:
	store_grant_clear(&g);
	kbuf_free(b);
	return r;
}

static int
stored_err(int r)
{
	if (r == KAGI_ERR_VERSION || r == KAGI_ERR_NOMEM)
		return r;
	kagi_log_err("store: grants record does not decode (%s)",
	    kagi_err_name(r));
	return KAGI_ERR_CORRUPT;
}

int
store_grant_get(struct store_txn *t, const char *id, struct store_grant *out)
{
	struct store_grant g;
	MDB_val k, v;
	int r = KAGI_ERR_INTERNAL, rc;

	memset(&g, 0, sizeof(g));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (t == NULL || out == NULL || !grant_id_valid(id))
		return KAGI_ERR_INVALID;
	k.mv_data = (void *)id;
	k.mv_size = strlen(id);
	if ((rc = mdb_get(t->txn, t->s->dbi[STORE_DB_GRANTS], &k, &v)) != 0)
		return store_lmdb_err(rc, "grants");
	if ((r = store_grant_decode(v.mv_data, v.mv_size, &g)) != 0)
		return stored_err(r);
	if (strcmp(g.id, id) != 0) {
		kagi_log_err("store: grants record under key %s names %s", id,
		    g.id);
		store_grant_clear(&g);
		return KAGI_ERR_CORRUPT;
	}
	*out = g;
	return 0;
}

static int
grant_write(struct store_txn *t, const struct store_grant *g,
    unsigned int flags)
{
	struct kbuf *b = NULL;
	MDB_val k, v;
	int r = KAGI_ERR_INTERNAL, rc;

	if (t == NULL || g == NULL)
		return KAGI_ERR_INVALID;
	if (!t->write) {
		kagi_log_err("store: write in a read transaction");
		return KAGI_ERR_INVALID;
	}
	if ((b = kbuf_new(STORE_VALUE_MAX)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = store_grant_encode(g, b)) != 0)
		goto out;
	k.mv_data = g->id;
	k.mv_size = strlen(g->id);
	v.mv_data = (void *)kbuf_ptr(b);
	v.mv_size = kbuf_len(b);
	rc = mdb_put(t->txn, t->s->dbi[STORE_DB_GRANTS], &k, &v, flags);
	if (rc != MDB_KEYEXIST)
		t->dirty = 1;
	r = rc == 0 ? 0 : store_lmdb_err(rc, "grants");
out:
	kbuf_free(b);
	return r;
}

int
store_grant_put(struct store_txn *t, const struct store_grant *g)
{
	return grant_write(t, g, 0);
}

int
store_grant_add(struct store_txn *t, const struct store_grant *g)
{
	return grant_write(t, g, MDB_NOOVERWRITE);
}

int
store_grant_iter(struct store_txn *t, const char *account,
    store_grant_cb *cb, void *arg)
{
	struct store_grant g;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	int r = KAGI_ERR_INTERNAL, rc;

	memset(&g, 0, sizeof(g));
	if (t == NULL || cb == NULL)
		return KAGI_ERR_INVALID;
	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[STORE_DB_GRANTS],
	    &c)) != 0)
		return store_lmdb_err(rc, "grants cursor");
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if ((r = store_grant_decode(v.mv_data, v.mv_size, &g)) != 0) {
			r = stored_err(r);
			goto out;
		}
		if (k.mv_size != strlen(g.id) ||
		    memcmp(k.mv_data, g.id, k.mv_size) != 0) {
			kagi_log_err("store: grants key does not match %s",
			    g.id);
			r = KAGI_ERR_CORRUPT;
			goto out;
		}
		if (account == NULL || strcmp(account, g.account) == 0) {
			r = cb(&g, arg);
			if (r != 0) {
				r = r < 0 ? r : 0;
				goto out;
			}
		}
		store_grant_clear(&g);
	}
	if (rc != MDB_NOTFOUND) {
		r = store_lmdb_err(rc, "grants cursor");
		goto out;
	}
	r = 0;
out:
	store_grant_clear(&g);
	mdb_cursor_close(c);
	return r;
}

/* ---- state digest ---- */

static int
digest_u64(EVP_MD_CTX *md, uint64_t n)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(n >> (56 - 8 * i));
	return EVP_DigestUpdate(md, b, sizeof(b)) == 1 ? 0 : KAGI_ERR_INTERNAL;
}

int
store_digest(struct store_txn *t, const char *const *dbs, size_t n,
    uint8_t out[STORE_HASH_LEN])
{
	EVP_MD_CTX *md = NULL;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	unsigned int len = 0;
	uint8_t h[EVP_MAX_MD_SIZE];
	int r = KAGI_ERR_INTERNAL, rc, db;

	if (out != NULL)
		memset(out, 0, STORE_HASH_LEN);
	if (t == NULL || out == NULL || (dbs == NULL && n > 0))
		return KAGI_ERR_INVALID;
	if ((md = EVP_MD_CTX_new()) == NULL)
		return KAGI_ERR_NOMEM;
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		goto out;
	for (size_t i = 0; i < n; i++) {
		for (db = 0; db < STORE_DB_COUNT; db++)
			if (dbs[i] != NULL &&
			    strcmp(store_db_names[db], dbs[i]) == 0)
				break;
		if (db == STORE_DB_COUNT) {
			r = KAGI_ERR_INVALID;
			goto out;
		}
		if ((r = digest_u64(md, strlen(dbs[i]))) != 0 ||
		    EVP_DigestUpdate(md, dbs[i], strlen(dbs[i])) != 1)
			goto out;
		if ((rc = mdb_cursor_open(t->txn, t->s->dbi[db], &c)) != 0) {
			r = store_lmdb_err(rc, "digest cursor");
			goto out;
		}
		for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
		    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			if ((r = digest_u64(md, k.mv_size)) != 0 ||
			    EVP_DigestUpdate(md, k.mv_data, k.mv_size) != 1 ||
			    (r = digest_u64(md, v.mv_size)) != 0 ||
			    EVP_DigestUpdate(md, v.mv_data, v.mv_size) != 1) {
				r = KAGI_ERR_INTERNAL;
				goto out;
			}
		}
		if (rc != MDB_NOTFOUND) {
			r = store_lmdb_err(rc, "digest cursor");
			goto out;
		}
		mdb_cursor_close(c);
		c = NULL;
		/* end-of-database marker: records cannot shift between dbs */
		if ((r = digest_u64(md, UINT64_MAX)) != 0)
			goto out;
	}
	if (EVP_DigestFinal_ex(md, h, &len) != 1 || len != STORE_HASH_LEN) {
		r = KAGI_ERR_INTERNAL;
		goto out;
	}
	memcpy(out, h, STORE_HASH_LEN);
	r = 0;
out:
	if (c != NULL)
		mdb_cursor_close(c);
	EVP_MD_CTX_free(md);
	return r;
}
