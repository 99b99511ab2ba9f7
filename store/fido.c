/*
 * fido: FIDO2 credentials, keyed by the hex SHA-256 of the credential id
 * (any id length fits LMDB's key limit; the record holds the full id and
 * must hash to its key).  Format: docs/STORE-FORMAT.md "fido".
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "kagi/kbuf.h"
#include "kagi/log.h"
#include "kagi/store.h"
#include "kagi/util.h"
#include "store_lmdb.h"

#define FIDO_KEY_LEN (2 * STORE_HASH_LEN)

void
store_fido_clear(struct store_fido *f)
{
	if (f == NULL)
		return;
	free(f->cred_id);
	free(f->account);
	free(f->cose_key);
	memset(f, 0, sizeof(*f));
}

static int
fido_check(const struct store_fido *f)
{
	if (f == NULL || f->cred_id == NULL || f->cred_id_len == 0 ||
	    f->cred_id_len > STORE_FIDO_CRED_ID_MAX ||
	    f->cose_key == NULL || f->cose_key_len == 0 ||
	    f->cose_key_len > STORE_FIDO_COSE_MAX ||
	    !store_login_valid(f->account) ||
	    f->state >= STORE_FIDO_STATE_COUNT)
		return KAGI_ERR_INVALID;
	return 0;
}

int
store_fido_key(const uint8_t *cred_id, size_t len, char out[FIDO_KEY_LEN + 1])
{
	uint8_t h[EVP_MAX_MD_SIZE];
	unsigned int hl = 0;

	if (out != NULL)
		out[0] = '\0';
	if (out == NULL || cred_id == NULL || len == 0 ||
	    len > STORE_FIDO_CRED_ID_MAX)
		return KAGI_ERR_INVALID;
	if (EVP_Digest(cred_id, len, h, &hl, EVP_sha256(), NULL) != 1 ||
	    hl != STORE_HASH_LEN)
		return KAGI_ERR_INTERNAL;
	kagi_hex_encode(h, STORE_HASH_LEN, out);
	return 0;
}

int
store_fido_encode(const struct store_fido *f, struct kbuf *out)
{
	struct kbuf *b = NULL;
	int r = KAGI_ERR_INTERNAL;

	if (out == NULL)
		return KAGI_ERR_INVALID;
	if ((r = fido_check(f)) != 0)
		return r;
	if ((b = kbuf_new(STORE_VALUE_MAX)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = kbuf_put_u8(b, STORE_REC_VERSION)) != 0 ||
	    (r = kbuf_put_blob(b, f->cred_id, f->cred_id_len)) != 0 ||
	    (r = kbuf_put_string(b, f->account)) != 0 ||
	    (r = kbuf_put_blob(b, f->cose_key, f->cose_key_len)) != 0 ||
	    (r = kbuf_put_u32(b, f->sign_count)) != 0 ||
	    (r = kbuf_put(b, f->aaguid, STORE_FIDO_AAGUID_LEN)) != 0 ||
	    (r = kbuf_put_u8(b, f->state)) != 0 ||
	    (r = kbuf_put_i64(b, f->created)) != 0)
		goto out;
	r = kbuf_put(out, kbuf_ptr(b), kbuf_len(b));
out:
	kbuf_free(b);
	return r;
}

int
store_fido_decode(const uint8_t *p, size_t len, struct store_fido *out)
{
	struct store_fido f;
	struct kbuf *b = NULL;
	uint8_t v = 0;
	int r = KAGI_ERR_INTERNAL;

	memset(&f, 0, sizeof(f));
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
	if ((r = kbuf_get_blob(b, &f.cred_id, &f.cred_id_len,
	    STORE_FIDO_CRED_ID_MAX)) != 0 ||
	    (r = kbuf_get_string(b, &f.account, STORE_KEY_MAX)) != 0 ||
	    (r = kbuf_get_blob(b, &f.cose_key, &f.cose_key_len,
	    STORE_FIDO_COSE_MAX)) != 0 ||
	    (r = kbuf_get_u32(b, &f.sign_count)) != 0 ||
	    (r = kbuf_get_bytes(b, f.aaguid, STORE_FIDO_AAGUID_LEN)) != 0 ||
	    (r = kbuf_get_u8(b, &f.state)) != 0 ||
	    (r = kbuf_get_i64(b, &f.created)) != 0 ||
	    (r = kbuf_expect_end(b)) != 0)
		goto out;
	if (fido_check(&f) != 0) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	*out = f;
	memset(&f, 0, sizeof(f));
	r = 0;
out:
	store_fido_clear(&f);
	kbuf_free(b);
	return r;
}

static int
stored_err(int r)
{
	if (r == KAGI_ERR_VERSION || r == KAGI_ERR_NOMEM)
		return r;
	kagi_log_err("store: fido record does not decode (%s)",
	    kagi_err_name(r));
	return KAGI_ERR_CORRUPT;
}

/* The record must hash to the key it is stored under. */
static int
key_check(const MDB_val *k, const struct store_fido *f)
{
	char key[FIDO_KEY_LEN + 1];

	if (store_fido_key(f->cred_id, f->cred_id_len, key) != 0 ||
	    k->mv_size != FIDO_KEY_LEN ||
	    memcmp(k->mv_data, key, FIDO_KEY_LEN) != 0) {
		kagi_log_err("store: fido record does not match its key");
		return KAGI_ERR_CORRUPT;
	}
	return 0;
}

int
store_fido_get(struct store_txn *t, const uint8_t *cred_id, size_t len,
    struct store_fido *out)
{
	struct store_fido f;
	char key[FIDO_KEY_LEN + 1];
	MDB_val k, v;
	int r = KAGI_ERR_INTERNAL, rc;

	memset(&f, 0, sizeof(f));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (t == NULL || out == NULL)
		return KAGI_ERR_INVALID;
	if ((r = store_fido_key(cred_id, len, key)) != 0)
		return r;
	k.mv_data = key;
	k.mv_size = FIDO_KEY_LEN;
	if ((rc = mdb_get(t->txn, t->s->dbi[STORE_DB_FIDO], &k, &v)) != 0)
		return store_lmdb_err(rc, "fido");
	if ((r = store_fido_decode(v.mv_data, v.mv_size, &f)) != 0)
		return stored_err(r);
	if ((r = key_check(&k, &f)) != 0) {
		store_fido_clear(&f);
		return r;
	}
	*out = f;
	return 0;
}

static int
fido_write(struct store_txn *t, const struct store_fido *f,
    unsigned int flags)
{
	struct kbuf *b = NULL;
	char key[FIDO_KEY_LEN + 1];
	MDB_val k, v;
	int r = KAGI_ERR_INTERNAL, rc;

	if (t == NULL || f == NULL)
		return KAGI_ERR_INVALID;
	if (!t->write) {
		kagi_log_err("store: write in a read transaction");
		return KAGI_ERR_INVALID;
	}
	if ((b = kbuf_new(STORE_VALUE_MAX)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = store_fido_encode(f, b)) != 0 ||
	    (r = store_fido_key(f->cred_id, f->cred_id_len, key)) != 0)
		goto out;
	k.mv_data = key;
	k.mv_size = FIDO_KEY_LEN;
	v.mv_data = (void *)kbuf_ptr(b);
	v.mv_size = kbuf_len(b);
	rc = mdb_put(t->txn, t->s->dbi[STORE_DB_FIDO], &k, &v, flags);
	if (rc != MDB_KEYEXIST)
		t->dirty = 1;
	r = rc == 0 ? 0 : store_lmdb_err(rc, "fido");
out:
	kbuf_free(b);
	return r;
}

int
store_fido_put(struct store_txn *t, const struct store_fido *f)
{
	return fido_write(t, f, 0);
}

int
store_fido_add(struct store_txn *t, const struct store_fido *f)
{
	return fido_write(t, f, MDB_NOOVERWRITE);
}

int
store_fido_del(struct store_txn *t, const uint8_t *cred_id, size_t len)
{
	char key[FIDO_KEY_LEN + 1];
	MDB_val k;
	int r, rc;

	if (t == NULL)
		return KAGI_ERR_INVALID;
	if (!t->write) {
		kagi_log_err("store: delete in a read transaction");
		return KAGI_ERR_INVALID;
	}
	if ((r = store_fido_key(cred_id, len, key)) != 0)
		return r;
	k.mv_data = key;
	k.mv_size = FIDO_KEY_LEN;
	rc = mdb_del(t->txn, t->s->dbi[STORE_DB_FIDO], &k, NULL);
	if (rc != MDB_NOTFOUND)
		t->dirty = 1;
	return rc == 0 ? 0 : store_lmdb_err(rc, "fido");
}

int
store_fido_iter(struct store_txn *t, const char *account, store_fido_cb *cb,
    void *arg)
{
	struct store_fido f;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	int r = KAGI_ERR_INTERNAL, rc;

	memset(&f, 0, sizeof(f));
	if (t == NULL || cb == NULL)
		return KAGI_ERR_INVALID;
	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[STORE_DB_FIDO], &c)) != 0)
		return store_lmdb_err(rc, "fido cursor");
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if ((r = store_fido_decode(v.mv_data, v.mv_size, &f)) != 0) {
			r = stored_err(r);
			goto out;
		}
		if ((r = key_check(&k, &f)) != 0)
			goto out;
		if (account == NULL || strcmp(account, f.account) == 0) {
			r = cb(&f, arg);
			if (r != 0) {
				r = r < 0 ? r : 0;
				goto out;
			}
		}
		store_fido_clear(&f);
	}
	if (rc != MDB_NOTFOUND) {
		r = store_lmdb_err(rc, "fido cursor");
		goto out;
	}
	r = 0;
out:
	store_fido_clear(&f);
	mdb_cursor_close(c);
	return r;
}
