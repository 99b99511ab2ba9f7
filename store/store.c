/*
 * store: the LMDB environment, its named databases, the schema version in
 * meta, transactions and the LMDB error mapping.  Durability is LMDB's
 * default (no MDB_NOSYNC / MDB_NOMETASYNC): a commit that returned 0 is on
 * disk.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "kagi/kbuf.h"
#include "kagi/log.h"
#include "kagi/store.h"
#include "store_lmdb.h"

#define STORE_DEFAULT_MAPSIZE ((size_t)1 << 30) /* 1 GiB */
#define STORE_MAXDBS 16

const char *const store_db_names[STORE_DB_COUNT] = {
	[STORE_DB_PERSONS] = "persons",
	[STORE_DB_ACCOUNTS] = "accounts",
	[STORE_DB_MEMBERS] = "members",
	[STORE_DB_CARDS] = "cards",
	[STORE_DB_CERTS] = "certs",
	[STORE_DB_FIDO] = "fido",
	[STORE_DB_GRANTS] = "grants",
	[STORE_DB_TERMINALS] = "terminals",
	[STORE_DB_CHALLENGES] = "challenges",
	[STORE_DB_AUDIT] = "audit",
	[STORE_DB_META] = "meta",
	[STORE_DB_CERTS_BY_HOLDER] = "certs_by_holder",
};

static const char meta_schema_key[] = "schema";

int
store_lmdb_err(int rc, const char *what)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return KAGI_ERR_NOT_FOUND;
	case MDB_KEYEXIST:
		return KAGI_ERR_EXISTS;
	case MDB_MAP_FULL:
		kagi_log_err("store: %s: %s (raise the map size)", what,
		    mdb_strerror(rc));
		return KAGI_ERR_LIMIT;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
		kagi_log_err("store: %s: %s", what, mdb_strerror(rc));
		return KAGI_ERR_CORRUPT;
	case ENOMEM:
		kagi_log_err("store: %s: %s", what, mdb_strerror(rc));
		return KAGI_ERR_NOMEM;
	default:
		kagi_log_err("store: %s: %s", what, mdb_strerror(rc));
		return KAGI_ERR_SYSTEM;
	}
}

/* meta "schema" value: u8 version (1), u32 schema. */
static int
schema_encode(uint32_t v, struct kbuf **out)
{
	struct kbuf *b = NULL;
	int r = KAGI_ERR_INTERNAL;

	*out = NULL;
	if ((b = kbuf_new(16)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if ((r = kbuf_put_u8(b, STORE_REC_VERSION)) != 0 ||
	    (r = kbuf_put_u32(b, v)) != 0)
		goto out;
	*out = b;
	b = NULL;
	r = 0;
out:
	kbuf_free(b);
	return r;
}

static int
schema_decode(const MDB_val *v, uint32_t *schema)
{
	struct kbuf *b = NULL;
	uint8_t ver = 0;
	uint32_t s = 0;
	int r = KAGI_ERR_INTERNAL;

	*schema = 0;
	if ((b = kbuf_from(v->mv_data, v->mv_size)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if ((r = kbuf_get_u8(b, &ver)) != 0)
		goto out;
	if (ver != STORE_REC_VERSION) {
		r = ver == 0 ? KAGI_ERR_FORMAT : KAGI_ERR_VERSION;
		goto out;
	}
	if ((r = kbuf_get_u32(b, &s)) != 0 || (r = kbuf_expect_end(b)) != 0)
		goto out;
	*schema = s;
	r = 0;
out:
	kbuf_free(b);
	return r;
}

static int
put_schema(MDB_txn *txn, MDB_dbi meta, uint32_t v)
{
	struct kbuf *b = NULL;
	MDB_val k, d;
	int r = KAGI_ERR_INTERNAL, rc;

	if ((r = schema_encode(v, &b)) != 0)
		goto out;
	k.mv_data = (void *)meta_schema_key;
	k.mv_size = strlen(meta_schema_key);
	d.mv_data = (void *)kbuf_ptr(b);
	d.mv_size = kbuf_len(b);
	if ((rc = mdb_put(txn, meta, &k, &d, 0)) != 0) {
		r = store_lmdb_err(rc, "put schema");
		goto out;
	}
	r = 0;
out:
	kbuf_free(b);
	return r;
}

static int
ensure_dir(const char *dir, int create)
{
	struct stat st;

	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			kagi_log_err("store: %s is not a directory", dir);
			return KAGI_ERR_INVALID;
		}
		return 0;
	}
	if (errno != ENOENT || !create) {
		kagi_log_err("store: %s: %s", dir, strerror(errno));
		return errno == ENOENT ? KAGI_ERR_NOT_FOUND : KAGI_ERR_SYSTEM;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		kagi_log_err("store: mkdir %s: %s", dir, strerror(errno));
		return KAGI_ERR_SYSTEM;
	}
	return 0;
}

/*
 * Open the named databases and check the schema inside one transaction:
 * a write transaction that creates everything on a new environment, or a
 * read transaction that creates nothing.
 */
static int
open_dbs(struct store *s)
{
	MDB_txn *txn = NULL;
	MDB_val k, v;
	unsigned int flags = s->read_only ? 0 : MDB_CREATE;
	uint32_t schema = 0;
	int r = KAGI_ERR_INTERNAL, rc, i;

	if ((rc = mdb_txn_begin(s->env, NULL, s->read_only ? MDB_RDONLY : 0,
	    &txn)) != 0) {
		r = store_lmdb_err(rc, "begin open transaction");
		goto out;
	}
	for (i = 0; i < STORE_DB_COUNT; i++) {
		if ((rc = mdb_dbi_open(txn, store_db_names[i], flags,
		    &s->dbi[i])) != 0) {
			if (rc == MDB_NOTFOUND) {
				kagi_log_err("store: database %s missing "
				    "(store not initialised)",
				    store_db_names[i]);
				r = KAGI_ERR_NOT_FOUND;
			} else
				r = store_lmdb_err(rc, "open database");
			goto out;
		}
	}
	k.mv_data = (void *)meta_schema_key;
	k.mv_size = strlen(meta_schema_key);
	rc = mdb_get(txn, s->dbi[STORE_DB_META], &k, &v);
	if (rc == MDB_NOTFOUND) {
		MDB_stat st;

		if (s->read_only) {
			kagi_log_err("store: no schema version in meta "
			    "(store not initialised)");
			r = KAGI_ERR_NOT_FOUND;
			goto out;
		}
		/* Only a brand-new environment may lack the schema. */
		if ((rc = mdb_stat(txn, s->dbi[STORE_DB_AUDIT], &st)) != 0) {
			r = store_lmdb_err(rc, "stat audit");
			goto out;
		}
		if (st.ms_entries != 0) {
			kagi_log_err("store: audit records present but no "
			    "schema version in meta");
			r = KAGI_ERR_CORRUPT;
			goto out;
		}
		if ((r = put_schema(txn, s->dbi[STORE_DB_META],
		    STORE_SCHEMA_VERSION)) != 0)
			goto out;
		schema = STORE_SCHEMA_VERSION;
	} else if (rc != 0) {
		r = store_lmdb_err(rc, "get schema");
		goto out;
	} else {
		if ((r = schema_decode(&v, &schema)) != 0) {
			kagi_log_err("store: meta schema value malformed (%s)",
			    kagi_err_name(r));
			r = KAGI_ERR_CORRUPT;
			goto out;
		}
		if (schema > STORE_SCHEMA_VERSION) {
			kagi_log_err("store: schema version %u is newer than "
			    "supported version %u; refusing to open",
			    (unsigned)schema, (unsigned)STORE_SCHEMA_VERSION);
			r = KAGI_ERR_VERSION;
			goto out;
		}
		if (schema == 0) {
			kagi_log_err("store: schema version 0 is invalid");
			r = KAGI_ERR_CORRUPT;
			goto out;
		}
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0) {
		r = store_lmdb_err(rc, "commit open transaction");
		goto out;
	}
	s->schema = schema;
	r = 0;
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	return r;
}

int
store_open(const char *dir, const struct store_opts *opts, struct store **out)
{
	struct store *s = NULL;
	size_t map_size = STORE_DEFAULT_MAPSIZE;
	unsigned int flags = MDB_NOTLS;
	int r = KAGI_ERR_INTERNAL, rc;

	if (out != NULL)
		*out = NULL;
	if (dir == NULL || out == NULL)
		return KAGI_ERR_INVALID;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return KAGI_ERR_NOMEM;
	if (opts != NULL) {
		s->read_only = opts->read_only != 0;
		if (opts->map_size != 0)
			map_size = opts->map_size;
	}
	if (s->read_only)
		flags |= MDB_RDONLY;
	if ((r = ensure_dir(dir, !s->read_only)) != 0)
		goto out;
	if ((rc = mdb_env_create(&s->env)) != 0) {
		s->env = NULL;
		r = store_lmdb_err(rc, "create environment");
		goto out;
	}
	if ((rc = mdb_env_set_maxdbs(s->env, STORE_MAXDBS)) != 0 ||
	    (rc = mdb_env_set_mapsize(s->env, map_size)) != 0) {
		r = store_lmdb_err(rc, "configure environment");
		goto out;
	}
	if ((rc = mdb_env_open(s->env, dir, flags, 0600)) != 0) {
		if (rc == ENOENT) {
			kagi_log_err("store: no environment in %s", dir);
			r = KAGI_ERR_NOT_FOUND;
		} else {
			kagi_log_err("store: open %s failed", dir);
			r = store_lmdb_err(rc, "open environment");
		}
		goto out;
	}
	if ((r = open_dbs(s)) != 0)
		goto out;
	*out = s;
	s = NULL;
	r = 0;
out:
	store_close(s);
	return r;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	if (s->batch_member != NULL) {
		/* the caller still holds it: leave it unusable, not dangling */
		s->batch_member->txn = NULL;
		s->batch_member = NULL;
	}
	if (s->batch != NULL) {
		/* never committed, so nothing in it was answered */
		kagi_log_warn("store: closing with a pending batch of %zu; "
		    "aborted", s->batch_n);
		mdb_txn_abort(s->batch);
		s->batch = NULL;
	}
	if (s->env != NULL)
		mdb_env_close(s->env);
	free(s);
}

uint32_t
store_schema_version(const struct store *s)
{
	return s == NULL ? 0 : s->schema;
}

/* ---- group commit (store.h "group commit") ---- */

void
store_batch_set_cb(struct store *s, store_batch_cb *cb, void *arg)
{
	if (s == NULL)
		return;
	s->batch_cb = cb;
	s->batch_arg = arg;
}

size_t
store_batch_pending(const struct store *s)
{
	return s == NULL || s->batch == NULL ? 0 : s->batch_n;
}

int
store_batch_commit(struct store *s)
{
	size_t n;
	int r = KAGI_ERR_INTERNAL, rc;

	if (s == NULL)
		return KAGI_ERR_INVALID;
	if (s->batch == NULL)
		return 0;
	if (s->batch_member != NULL) {
		kagi_log_err("store: batch commit while a member is open");
		return KAGI_ERR_INTERNAL;
	}
	n = s->batch_n;
	if (s->batch_failed) {
		kagi_log_err("store: a batch member failed to merge; batch of "
		    "%zu aborted", n);
		mdb_txn_abort(s->batch);
		r = KAGI_ERR_INTERNAL;
	} else {
		/* durable (LMDB's default sync) before anyone is answered */
		rc = mdb_txn_commit(s->batch);
		r = rc == 0 ? 0 : store_lmdb_err(rc, "batch commit");
	}
	s->batch = NULL;
	s->batch_n = 0;
	s->batch_failed = 0;
	if (s->batch_cb != NULL)
		s->batch_cb(r, n, s->batch_arg);
	return r;
}

/*
 * Before any other writer: commit the pending batch (its callback answers
 * its requests), so LMDB's single writer lock is free again.  Its result
 * belongs to the batch's requests, not to this writer.
 */
static int
batch_flush_for_writer(struct store *s, const char *what)
{
	if (s->batch_member != NULL) {
		kagi_log_err("store: %s while a batch member is open (would "
		    "deadlock); refused", what);
		return KAGI_ERR_INTERNAL;
	}
	if (s->batch != NULL && store_batch_commit(s) != 0)
		kagi_log_warn("store: pending batch failed before %s", what);
	return 0;
}

int
store_batch_join(struct store *s, struct store_txn **out)
{
	struct store_txn *t = NULL;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (s == NULL || out == NULL)
		return KAGI_ERR_INVALID;
	if (s->read_only) {
		kagi_log_err("store: batch on a read-only store");
		return KAGI_ERR_INVALID;
	}
	if (s->batch_member != NULL) {
		kagi_log_err("store: a batch member is already open");
		return KAGI_ERR_INTERNAL;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return KAGI_ERR_NOMEM;
	if (s->batch == NULL) {
		if ((rc = mdb_txn_begin(s->env, NULL, 0, &s->batch)) != 0) {
			s->batch = NULL;
			free(t);
			return store_lmdb_err(rc, "begin batch");
		}
		s->batch_n = 0;
		s->batch_failed = 0;
	}
	if ((rc = mdb_txn_begin(s->env, s->batch, 0, &t->txn)) != 0) {
		free(t);
		return store_lmdb_err(rc, "begin batch member");
	}
	t->s = s;
	t->write = 1;
	t->member = 1;
	s->batch_member = t;
	*out = t;
	return 0;
}

static int
dir_is_empty(const char *dir)
{
	DIR *d = NULL;
	struct dirent *e;
	int r = KAGI_ERR_INTERNAL;

	if ((d = opendir(dir)) == NULL) {
		kagi_log_err("store: backup: opendir %s: %s", dir,
		    strerror(errno));
		return KAGI_ERR_SYSTEM;
	}
	r = 0;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		kagi_log_err("store: backup: target %s is not empty", dir);
		r = KAGI_ERR_EXISTS;
		break;
	}
	closedir(d);
	return r;
}

int
store_backup(struct store *s, const char *dir)
{
	int r = KAGI_ERR_INTERNAL, rc;

	if (s == NULL || dir == NULL)
		return KAGI_ERR_INVALID;
	if ((r = ensure_dir(dir, 1)) != 0)
		return r;
	if ((r = batch_flush_for_writer(s, "backup")) != 0)
		return r;
	if ((r = dir_is_empty(dir)) != 0)
		return r;
	if ((rc = mdb_env_copy2(s->env, dir, MDB_CP_COMPACT)) != 0) {
		kagi_log_err("store: backup to %s failed", dir);
		return store_lmdb_err(rc, "copy environment");
	}
	kagi_log_info("event=store.backup dir=%s", dir);
	return 0;
}

int
store_txn_begin(struct store *s, int write, struct store_txn **out)
{
	struct store_txn *t = NULL;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (s == NULL || out == NULL)
		return KAGI_ERR_INVALID;
	if (write && s->read_only) {
		kagi_log_err("store: write transaction on a read-only store");
		return KAGI_ERR_INVALID;
	}
	if (write) {
		int r = batch_flush_for_writer(s, "write transaction");
		if (r != 0)
			return r;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return KAGI_ERR_NOMEM;
	t->s = s;
	t->write = write != 0;
	if ((rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY,
	    &t->txn)) != 0) {
		free(t);
		return store_lmdb_err(rc, "begin transaction");
	}
	*out = t;
	return 0;
}

int
store_txn_commit(struct store_txn *t)
{
	int rc;

	if (t == NULL)
		return KAGI_ERR_INVALID;
	/* The audit invariant (store.h): no unaudited state change. */
	if (t->dirty && !t->audited) {
		kagi_log_err("store: refusing to commit a transaction that "
		    "changed records without an audit record; aborted");
		store_txn_abort(t);
		return KAGI_ERR_INTERNAL;
	}
	if (t->txn == NULL) {           /* its store was closed under it */
		free(t);
		return KAGI_ERR_INTERNAL;
	}
	rc = mdb_txn_commit(t->txn);
	t->txn = NULL;
	if (t->member) {
		/* merged into the batch: durable only at store_batch_commit */
		t->s->batch_member = NULL;
		if (rc != 0)
			t->s->batch_failed = 1;
		else if (t->dirty)
			t->s->batch_n++;
	}
	free(t);
	if (rc != 0)
		return store_lmdb_err(rc, "commit");
	return 0;
}

void
store_txn_abort(struct store_txn *t)
{
	if (t == NULL)
		return;
	if (t->txn != NULL)
		mdb_txn_abort(t->txn);
	if (t->member && t->txn != NULL)
		t->s->batch_member = NULL;
	free(t);
}

int
store_stats_get(struct store_txn *t, struct store_stats *out)
{
	struct store_stats st;
	MDB_stat ms;
	MDB_envinfo ei;
	int rc;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (t == NULL || out == NULL)
		return KAGI_ERR_INVALID;
	memset(&st, 0, sizeof(st));
	st.schema = t->s->schema;
	if ((rc = mdb_stat(t->txn, t->s->dbi[STORE_DB_PERSONS], &ms)) != 0)
		return store_lmdb_err(rc, "stat persons");
	st.persons = ms.ms_entries;
	if ((rc = mdb_stat(t->txn, t->s->dbi[STORE_DB_ACCOUNTS], &ms)) != 0)
		return store_lmdb_err(rc, "stat accounts");
	st.accounts = ms.ms_entries;
	if ((rc = mdb_stat(t->txn, t->s->dbi[STORE_DB_AUDIT], &ms)) != 0)
		return store_lmdb_err(rc, "stat audit");
	st.audit_records = ms.ms_entries;
	if ((rc = mdb_env_info(t->s->env, &ei)) != 0 ||
	    (rc = mdb_env_stat(t->s->env, &ms)) != 0)
		return store_lmdb_err(rc, "environment info");
	st.map_size = ei.me_mapsize;
	st.map_used = (size_t)(ei.me_last_pgno + 1) * ms.ms_psize;
	*out = st;
	return 0;
}

/* ---- test hooks ---- */

int
store_test_set_schema(struct store *s, uint32_t v)
{
	MDB_txn *txn = NULL;
	int r, rc;

	if (s == NULL || s->read_only)
		return KAGI_ERR_INVALID;
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
		return store_lmdb_err(rc, "begin");
	if ((r = put_schema(txn, s->dbi[STORE_DB_META], v)) != 0) {
		mdb_txn_abort(txn);
		return r;
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return store_lmdb_err(rc, "commit");
	return 0;
}

int
store_test_raw_put(struct store *s, const char *db, const void *key,
    size_t klen, const void *val, size_t vlen)
{
	MDB_txn *txn = NULL;
	MDB_val k, v;
	int i, rc;

	if (s == NULL || s->read_only || db == NULL)
		return KAGI_ERR_INVALID;
	for (i = 0; i < STORE_DB_COUNT; i++)
		if (strcmp(store_db_names[i], db) == 0)
			break;
	if (i == STORE_DB_COUNT)
		return KAGI_ERR_INVALID;
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
		return store_lmdb_err(rc, "begin");
	k.mv_data = (void *)key;
	k.mv_size = klen;
	v.mv_data = (void *)val;
	v.mv_size = vlen;
	if ((rc = mdb_put(txn, s->dbi[i], &k, &v, 0)) != 0) {
		mdb_txn_abort(txn);
		return store_lmdb_err(rc, "raw put");
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return store_lmdb_err(rc, "commit");
	return 0;
}
