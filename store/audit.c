/*
 * The hash-chained audit log (R-LOG-1..5).
 *
 * audit DB: key = seq as u64 big-endian (so LMDB's byte order is seq order
 * and MDB_APPEND applies), value = the encoded record (codec.c), whose
 * prev field is the SHA-256 of the previous record's exact encoded value
 * (32 zero bytes for seq 1).  meta "audit_head" = u8 version, u64 seq,
 * hash[32]: the last seq and the SHA-256 of its encoded value, so a deleted
 * or replaced tail is detected too.
 */
#include <stdlib.h>
#include <string.h>

#include "kagi/kbuf.h"
#include "kagi/log.h"
#include "kagi/secmem.h"
#include "kagi/store.h"
#include "store_lmdb.h"

static const char meta_head_key[] = "audit_head";

static void
seq_key(uint64_t seq, uint8_t k[8])
{
	int i;

	for (i = 7; i >= 0; i--) {
		k[i] = (uint8_t)(seq & 0xff);
		seq >>= 8;
	}
}

static uint64_t
key_seq(const uint8_t k[8])
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | k[i];
	return v;
}

/* Head absent: seq 0 and a zero hash (an empty chain). */
static int
head_read(struct store_txn *t, uint64_t *seq, uint8_t hash[STORE_HASH_LEN])
{
	struct kbuf *b = NULL;
	MDB_val k, v;
	uint8_t ver = 0;
	int r = KAGI_ERR_INTERNAL, rc;

	*seq = 0;
	memset(hash, 0, STORE_HASH_LEN);
	k.mv_data = (void *)meta_head_key;
	k.mv_size = strlen(meta_head_key);
	rc = mdb_get(t->txn, t->s->dbi[STORE_DB_META], &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_lmdb_err(rc, "get audit head");
	if ((b = kbuf_from(v.mv_data, v.mv_size)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = kbuf_get_u8(b, &ver)) != 0 || ver != STORE_REC_VERSION ||
	    (r = kbuf_get_u64(b, seq)) != 0 ||
	    (r = kbuf_get_bytes(b, hash, STORE_HASH_LEN)) != 0 ||
	    (r = kbuf_expect_end(b)) != 0) {
		kagi_log_err("store: meta audit_head malformed");
		*seq = 0;
		memset(hash, 0, STORE_HASH_LEN);
		r = KAGI_ERR_CORRUPT;
		goto out;
	}
	r = 0;
out:
	kbuf_free(b);
	return r;
}

static int
head_write(struct store_txn *t, uint64_t seq,
    const uint8_t hash[STORE_HASH_LEN])
{
	uint8_t buf[1 + 8 + STORE_HASH_LEN];
	MDB_val k, v;
	int rc;

	buf[0] = STORE_REC_VERSION;
	seq_key(seq, buf + 1);
	memcpy(buf + 9, hash, STORE_HASH_LEN);
	k.mv_data = (void *)meta_head_key;
	k.mv_size = strlen(meta_head_key);
	v.mv_data = buf;
	v.mv_size = sizeof(buf);
	if ((rc = mdb_put(t->txn, t->s->dbi[STORE_DB_META], &k, &v, 0)) != 0)
		return store_lmdb_err(rc, "put audit head");
	return 0;
}

int
store_audit_head(struct store_txn *t, uint64_t *seq,
    uint8_t hash[STORE_HASH_LEN])
{
	uint64_t s = 0;
	uint8_t h[STORE_HASH_LEN];
	int r;

	if (seq != NULL)
		*seq = 0;
	if (hash != NULL)
		memset(hash, 0, STORE_HASH_LEN);
	if (t == NULL || seq == NULL || hash == NULL)
		return KAGI_ERR_INVALID;
	if ((r = head_read(t, &s, h)) != 0)
		return r;
	*seq = s;
	memcpy(hash, h, STORE_HASH_LEN);
	return 0;
}

int
store_audit_append(struct store_txn *t, int64_t now, const char *actor,
    const char *action, const char *object, const char *outcome,
    const char *detail, uint64_t *seq_out)
{
	struct store_audit a;
	struct kbuf *b = NULL;
	uint8_t key[8], hash[STORE_HASH_LEN];
	uint64_t head = 0;
	MDB_val k, v;
	int r = KAGI_ERR_INTERNAL, rc;

	if (seq_out != NULL)
		*seq_out = 0;
	if (t == NULL)
		return KAGI_ERR_INVALID;
	if (!t->write) {
		kagi_log_err("store: audit append in a read transaction");
		return KAGI_ERR_INVALID;
	}
	memset(&a, 0, sizeof(a));
	if ((r = head_read(t, &head, a.prev)) != 0)
		return r;
	if (head == UINT64_MAX)
		return KAGI_ERR_LIMIT;
	/* The strings are borrowed, never freed here. */
	a.seq = head + 1;
	a.time = now;
	a.actor = (char *)actor;
	a.action = (char *)action;
	a.object = (char *)(object != NULL ? object : "");
	a.outcome = (char *)outcome;
	a.detail = (char *)(detail != NULL ? detail : "");
	if ((b = kbuf_new(STORE_VALUE_MAX)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = store_audit_encode(&a, b)) != 0) {
		kagi_log_err("store: audit record refused (%s)",
		    kagi_err_name(r));
		goto out;
	}
	if ((r = store_audit_hash(kbuf_ptr(b), kbuf_len(b), hash)) != 0)
		goto out;
	seq_key(a.seq, key);
	k.mv_data = key;
	k.mv_size = sizeof(key);
	v.mv_data = (void *)kbuf_ptr(b);
	v.mv_size = kbuf_len(b);
	rc = mdb_put(t->txn, t->s->dbi[STORE_DB_AUDIT], &k, &v, MDB_APPEND);
	if (rc == MDB_KEYEXIST) {
		/* A record at or past head+1 exists: head and log disagree. */
		kagi_log_err("store: audit seq %llu already present; the "
		    "head in meta is behind the log",
		    (unsigned long long)a.seq);
		r = KAGI_ERR_CORRUPT;
		goto out;
	}
	if (rc != 0) {
		r = store_lmdb_err(rc, "append audit record");
		goto out;
	}
	if ((r = head_write(t, a.seq, hash)) != 0)
		goto out;
	t->audited = 1;
	if (seq_out != NULL)
		*seq_out = a.seq;
	r = 0;
out:
	kbuf_free(b);
	return r;
}

int
store_audit_get(struct store_txn *t, uint64_t seq, struct store_audit *out)
{
	struct store_audit a;
	uint8_t key[8];
	MDB_val k, v;
	int r = KAGI_ERR_INTERNAL, rc;

	memset(&a, 0, sizeof(a));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (t == NULL || out == NULL || seq == 0)
		return KAGI_ERR_INVALID;
	seq_key(seq, key);
	k.mv_data = key;
	k.mv_size = sizeof(key);
	if ((rc = mdb_get(t->txn, t->s->dbi[STORE_DB_AUDIT], &k, &v)) != 0)
		return store_lmdb_err(rc, "get audit record");
	if ((r = store_audit_decode(v.mv_data, v.mv_size, &a)) != 0) {
		kagi_log_err("store: audit record %llu does not decode (%s)",
		    (unsigned long long)seq, kagi_err_name(r));
		r = r == KAGI_ERR_VERSION ? r : KAGI_ERR_CORRUPT;
		goto out;
	}
	if (a.seq != seq) {
		kagi_log_err("store: audit record under key %llu names seq "
		    "%llu", (unsigned long long)seq,
		    (unsigned long long)a.seq);
		r = KAGI_ERR_CORRUPT;
		goto out;
	}
	*out = a;
	memset(&a, 0, sizeof(a));
	r = 0;
out:
	store_audit_clear(&a);
	return r;
}

int
store_audit_iter(struct store_txn *t, uint64_t since, store_audit_cb *cb,
    void *arg)
{
	struct store_audit a;
	uint8_t key[8], hash[STORE_HASH_LEN];
	MDB_cursor *c = NULL;
	MDB_val k, v;
	uint64_t seq;
	int r = KAGI_ERR_INTERNAL, rc;

	memset(&a, 0, sizeof(a));
	if (t == NULL || cb == NULL)
		return KAGI_ERR_INVALID;
	if (since == 0)
		since = 1;
	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[STORE_DB_AUDIT], &c)) != 0)
		return store_lmdb_err(rc, "audit cursor");
	seq_key(since, key);
	k.mv_data = key;
	k.mv_size = sizeof(key);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8) {
			kagi_log_err("store: audit key of %zu bytes",
			    k.mv_size);
			r = KAGI_ERR_CORRUPT;
			goto out;
		}
		seq = key_seq(k.mv_data);
		if ((r = store_audit_decode(v.mv_data, v.mv_size, &a)) != 0 ||
		    a.seq != seq) {
			kagi_log_err("event=audit.corrupt seq=%llu",
			    (unsigned long long)seq);
			r = KAGI_ERR_CORRUPT;
			goto out;
		}
		if ((r = store_audit_hash(v.mv_data, v.mv_size, hash)) != 0)
			goto out;
		r = cb(&a, hash, arg);
		store_audit_clear(&a);
		if (r != 0) {
			r = r < 0 ? r : 0;
			goto out;
		}
	}
	if (rc != MDB_NOTFOUND) {
		r = store_lmdb_err(rc, "audit cursor");
		goto out;
	}
	r = 0;
out:
	store_audit_clear(&a);
	mdb_cursor_close(c);
	return r;
}

/*
 * Verify the chain from seq 1 and, on failure, name the record to blame.
 *
 * Each record k carries prev = H(k-1), the SHA-256 of record k-1's stored
 * bytes (zeros for k = 1); the meta head carries (last seq, H(last)) and
 * acts as the link after the last record.  Call "link k" the check
 * prev(k) == H(k-1).  Changing the bytes of one record N changes H(N), so
 * link N+1 breaks; if the change touched N's own prev field, link N breaks
 * as well.  Hence, at the first broken link k (k > 1):
 *   - if link k+1 holds, record k is as written (k+1 still vouches for its
 *     hash), so it is record k-1 that changed: blame k-1;
 *   - if link k+1 is broken too (or cannot be checked: k+1 missing or
 *     undecodable), record k's bytes changed (its prev field at least):
 *     blame k.
 * A broken link 1 (non-zero prev in the first record) blames 1.  For the
 * last record the "next link" is the meta head.  A record that does not
 * decode, whose seq differs from its key, or whose key is malformed is
 * blamed itself.  A missing record (gap) names the first missing seq.  A
 * head whose seq is beyond the last record names the first missing seq
 * (last + 1); a head behind the log names the first seq past the head
 * (head + 1); a head with the right seq but the wrong hash names the last
 * record.  One altered or deleted record is always named exactly; when
 * several were altered, the sequence named is within one of the first
 * damaged record (the chain alone cannot always tell which of two
 * neighbours changed).
 */
int
store_audit_verify(struct store_txn *t, uint64_t *count, uint64_t *bad_seq)
{
	struct store_audit a;
	uint8_t prev_hash[STORE_HASH_LEN], hash[STORE_HASH_LEN];
	uint8_t head_hash[STORE_HASH_LEN];
	MDB_cursor *c = NULL;
	MDB_val k, v;
	uint64_t expected = 1, seq, n = 0, suspect = 0, head = 0, last;
	uint64_t bad = 0;
	int r = KAGI_ERR_INTERNAL, rc, link_ok;

	memset(&a, 0, sizeof(a));
	memset(prev_hash, 0, sizeof(prev_hash));
	if (count != NULL)
		*count = 0;
	if (bad_seq != NULL)
		*bad_seq = 0;
	if (t == NULL || count == NULL || bad_seq == NULL)
		return KAGI_ERR_INVALID;
	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[STORE_DB_AUDIT], &c)) != 0)
		return store_lmdb_err(rc, "audit cursor");
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8) {
			bad = suspect != 0 ? suspect : expected;
			goto corrupt;
		}
		seq = key_seq(k.mv_data);
		if (seq != expected) {
			/* A gap names the first missing seq. */
			if (suspect != 0)
				bad = suspect;
			else
				bad = seq > expected ? expected : seq;
			goto corrupt;
		}
		if (store_audit_decode(v.mv_data, v.mv_size, &a) != 0 ||
		    a.seq != seq) {
			bad = suspect != 0 ? suspect : seq;
			goto corrupt;
		}
		if ((r = store_audit_hash(v.mv_data, v.mv_size, hash)) != 0)
			goto out;
		link_ok = kagi_memeq_ct(a.prev, prev_hash, STORE_HASH_LEN);
		store_audit_clear(&a);
		if (suspect != 0) {
			/* Link suspect was broken; this is link suspect+1. */
			bad = link_ok ? suspect - 1 : suspect;
			goto corrupt;
		}
		if (!link_ok) {
			if (seq == 1) {
				bad = 1;
				goto corrupt;
			}
			suspect = seq;
		}
		memcpy(prev_hash, hash, STORE_HASH_LEN);
		expected++;
		n++;
	}
	if (rc != MDB_NOTFOUND) {
		r = store_lmdb_err(rc, "audit cursor");
		goto out;
	}
	last = expected - 1;
	if (head_read(t, &head, head_hash) != 0) {
		bad = last == 0 ? 1 : last;
		goto corrupt;
	}
	if (suspect != 0) {
		/* suspect == last: the head is the next link. */
		link_ok = head == last &&
		    kagi_memeq_ct(head_hash, prev_hash, STORE_HASH_LEN);
		bad = link_ok ? suspect - 1 : suspect;
		goto corrupt;
	}
	if (head > last) {
		bad = last + 1;
		goto corrupt;
	}
	if (head < last) {
		bad = head + 1;
		goto corrupt;
	}
	if (last != 0 && !kagi_memeq_ct(head_hash, prev_hash, STORE_HASH_LEN)) {
		bad = last;
		goto corrupt;
	}
	*count = n;
	r = 0;
	goto out;
corrupt:
	kagi_log_err("event=audit.corrupt seq=%llu checked=%llu",
	    (unsigned long long)bad, (unsigned long long)n);
	*count = n;
	*bad_seq = bad;
	r = KAGI_ERR_CORRUPT;
out:
	store_audit_clear(&a);
	mdb_cursor_close(c);
	return r;
}

int
store_test_audit_del(struct store *s, uint64_t seq)
{
	MDB_txn *txn = NULL;
	uint8_t key[8];
	MDB_val k;
	int rc;

	if (s == NULL || s->read_only)
		return KAGI_ERR_INVALID;
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
		return store_lmdb_err(rc, "begin");
	seq_key(seq, key);
	k.mv_data = key;
	k.mv_size = sizeof(key);
	if ((rc = mdb_del(txn, s->dbi[STORE_DB_AUDIT], &k, NULL)) != 0) {
		mdb_txn_abort(txn);
		return store_lmdb_err(rc, "delete audit record");
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return store_lmdb_err(rc, "commit");
	return 0;
}
