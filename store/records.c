/*
 * persons and accounts: get/put/add/del/iter over the named databases.
 * Every value read from LMDB is untrusted (the file can be damaged): it is
 * decoded through the codec, and its key field must equal the LMDB key.
 */
#include <stdlib.h>
#include <string.h>

#include "kagi/kbuf.h"
#include "kagi/log.h"
#include "kagi/store.h"
#include "store_lmdb.h"

/* A stored value that does not decode is corruption, unless it is newer. */
static int
stored_decode_err(int r, const char *db)
{
	if (r == KAGI_ERR_VERSION) {
		kagi_log_err("store: %s record has a newer version", db);
		return r;
	}
	if (r == KAGI_ERR_NOMEM)
		return r;
	kagi_log_err("store: %s record does not decode (%s)", db,
	    kagi_err_name(r));
	return KAGI_ERR_CORRUPT;
}

static int
key_matches(const MDB_val *k, const char *field)
{
	size_t n = strlen(field);

	return k->mv_size == n && memcmp(k->mv_data, field, n) == 0;
}

static int
rec_put(struct store_txn *t, enum store_db db, const char *key,
    struct kbuf *val, unsigned int flags)
{
	MDB_val k, v;
	int rc;

	if (!t->write) {
		kagi_log_err("store: write in a read transaction");
		return KAGI_ERR_INVALID;
	}
	k.mv_data = (void *)key;
	k.mv_size = strlen(key);
	v.mv_data = (void *)kbuf_ptr(val);
	v.mv_size = kbuf_len(val);
	rc = mdb_put(t->txn, t->s->dbi[db], &k, &v, flags);
	/* A refused add changed nothing; anything else may have. */
	if (rc != MDB_KEYEXIST)
		t->dirty = 1;
	return rc == 0 ? 0 : store_lmdb_err(rc, store_db_names[db]);
}

static int
rec_del(struct store_txn *t, enum store_db db, const char *key)
{
	MDB_val k;
	int rc;

	if (!t->write) {
		kagi_log_err("store: delete in a read transaction");
		return KAGI_ERR_INVALID;
	}
	k.mv_data = (void *)key;
	k.mv_size = strlen(key);
	rc = mdb_del(t->txn, t->s->dbi[db], &k, NULL);
	if (rc != MDB_NOTFOUND)
		t->dirty = 1;
	return rc == 0 ? 0 : store_lmdb_err(rc, store_db_names[db]);
}

static int
rec_get(struct store_txn *t, enum store_db db, const char *key, MDB_val *v)
{
	MDB_val k;
	int rc;

	k.mv_data = (void *)key;
	k.mv_size = strlen(key);
	rc = mdb_get(t->txn, t->s->dbi[db], &k, v);
	return rc == 0 ? 0 : store_lmdb_err(rc, store_db_names[db]);
}

/* ---- persons ---- */

int
store_person_get(struct store_txn *t, const char *staff_no,
    struct store_person *out)
{
	struct store_person p;
	MDB_val v;
	int r = KAGI_ERR_INTERNAL;

	memset(&p, 0, sizeof(p));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (t == NULL || out == NULL)
		return KAGI_ERR_INVALID;
	if (!store_staff_no_valid(staff_no))
		return KAGI_ERR_INVALID;
	if ((r = rec_get(t, STORE_DB_PERSONS, staff_no, &v)) != 0)
		goto out;
	if ((r = store_person_decode(v.mv_data, v.mv_size, &p)) != 0) {
		r = stored_decode_err(r, "persons");
		goto out;
	}
	if (strcmp(p.staff_no, staff_no) != 0) {
		kagi_log_err("store: persons record under key %s names %s",
		    staff_no, p.staff_no);
		r = KAGI_ERR_CORRUPT;
		goto out;
	}
	*out = p;
	memset(&p, 0, sizeof(p));
	r = 0;
out:
	store_person_clear(&p);
	return r;
}

static int
person_write(struct store_txn *t, const struct store_person *p,
    unsigned int flags)
{
	struct kbuf *b = NULL;
	int r = KAGI_ERR_INTERNAL;

	if (t == NULL || p == NULL)
		return KAGI_ERR_INVALID;
	if ((b = kbuf_new(STORE_VALUE_MAX)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = store_person_encode(p, b)) != 0)
		goto out;
	r = rec_put(t, STORE_DB_PERSONS, p->staff_no, b, flags);
out:
	kbuf_free(b);
	return r;
}

int
store_person_put(struct store_txn *t, const struct store_person *p)
{
	return person_write(t, p, 0);
}

int
store_person_add(struct store_txn *t, const struct store_person *p)
{
	return person_write(t, p, MDB_NOOVERWRITE);
}

int
store_person_del(struct store_txn *t, const char *staff_no)
{
	if (t == NULL || !store_staff_no_valid(staff_no))
		return KAGI_ERR_INVALID;
	return rec_del(t, STORE_DB_PERSONS, staff_no);
}

/*
 * Iterators: the callback's non-zero return stops the walk; a negative
 * return is passed back to the caller, a positive one gives 0.
 */
int
store_person_iter(struct store_txn *t, store_person_cb *cb, void *arg)
{
	struct store_person p;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	int r = KAGI_ERR_INTERNAL, rc;

	memset(&p, 0, sizeof(p));
	if (t == NULL || cb == NULL)
		return KAGI_ERR_INVALID;
	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[STORE_DB_PERSONS],
	    &c)) != 0)
		return store_lmdb_err(rc, "persons cursor");
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if ((r = store_person_decode(v.mv_data, v.mv_size, &p)) != 0) {
			r = stored_decode_err(r, "persons");
			goto out;
		}
		if (!key_matches(&k, p.staff_no)) {
			kagi_log_err("store: persons key does not match "
			    "record %s", p.staff_no);
			r = KAGI_ERR_CORRUPT;
			goto out;
		}
		r = cb(&p, arg);
		store_person_clear(&p);
		if (r != 0) {
			r = r < 0 ? r : 0;
			goto out;
		}
	}
	if (rc != MDB_NOTFOUND) {
		r = store_lmdb_err(rc, "persons cursor");
		goto out;
	}
	r = 0;
out:
	store_person_clear(&p);
	mdb_cursor_close(c);
	return r;
}

/* ---- accounts ---- */

int
store_account_get(struct store_txn *t, const char *login,
    struct store_account *out)
{
	struct store_account a;
	MDB_val v;
	int r = KAGI_ERR_INTERNAL;

	memset(&a, 0, sizeof(a));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (t == NULL || out == NULL)
		return KAGI_ERR_INVALID;
	if (!store_login_valid(login))
		return KAGI_ERR_INVALID;
	if ((r = rec_get(t, STORE_DB_ACCOUNTS, login, &v)) != 0)
		goto out;
	if ((r = store_account_decode(v.mv_data, v.mv_size, &a)) != 0) {
		r = stored_decode_err(r, "accounts");
		goto out;
	}
	if (strcmp(a.login, login) != 0) {
		kagi_log_err("store: accounts record under key %s names %s",
		    login, a.login);
		r = KAGI_ERR_CORRUPT;
		goto out;
	}
	*out = a;
	memset(&a, 0, sizeof(a));
	r = 0;
out:
	store_account_clear(&a);
	return r;
}

static int
account_write(struct store_txn *t, const struct store_account *a,
    unsigned int flags)
{
	struct kbuf *b = NULL;
	int r = KAGI_ERR_INTERNAL;

	if (t == NULL || a == NULL)
		return KAGI_ERR_INVALID;
	if ((b = kbuf_new(STORE_VALUE_MAX)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = store_account_encode(a, b)) != 0)
		goto out;
	r = rec_put(t, STORE_DB_ACCOUNTS, a->login, b, flags);
out:
	kbuf_free(b);
	return r;
}

int
store_account_put(struct store_txn *t, const struct store_account *a)
{
	return account_write(t, a, 0);
}

int
store_account_add(struct store_txn *t, const struct store_account *a)
{
	return account_write(t, a, MDB_NOOVERWRITE);
}

int
store_account_del(struct store_txn *t, const char *login)
{
	if (t == NULL || !store_login_valid(login))
		return KAGI_ERR_INVALID;
	return rec_del(t, STORE_DB_ACCOUNTS, login);
}

int
store_account_iter(struct store_txn *t, store_account_cb *cb, void *arg)
{
	struct store_account a;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	int r = KAGI_ERR_INTERNAL, rc;

	memset(&a, 0, sizeof(a));
	if (t == NULL || cb == NULL)
		return KAGI_ERR_INVALID;
	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[STORE_DB_ACCOUNTS],
	    &c)) != 0)
		return store_lmdb_err(rc, "accounts cursor");
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if ((r = store_account_decode(v.mv_data, v.mv_size, &a)) != 0) {
			r = stored_decode_err(r, "accounts");
			goto out;
		}
		if (!key_matches(&k, a.login)) {
			kagi_log_err("store: accounts key does not match "
			    "record %s", a.login);
			r = KAGI_ERR_CORRUPT;
			goto out;
		}
		r = cb(&a, arg);
		store_account_clear(&a);
		if (r != 0) {
			r = r < 0 ? r : 0;
			goto out;
		}
	}
	if (rc != MDB_NOTFOUND) {
		r = store_lmdb_err(rc, "accounts cursor");
		goto out;
	}
	r = 0;
out:
	store_account_clear(&a);
	mdb_cursor_close(c);
	return r;
}
