/*
 * store private: the LMDB-facing state.  Included only by the store/ sources (the one
 * place in kagi that includes <lmdb.h>).
 */
#ifndef KAGI_STORE_LMDB_H
#define KAGI_STORE_LMDB_H

#include <lmdb.h>

#include "store_int.h"

enum store_db {
	STORE_DB_PERSONS = 0,
	STORE_DB_ACCOUNTS,
	STORE_DB_MEMBERS,
	STORE_DB_CARDS,
	STORE_DB_CERTS,
	STORE_DB_FIDO,
	STORE_DB_GRANTS,
	STORE_DB_TERMINALS,
	STORE_DB_CHALLENGES,
	STORE_DB_AUDIT,
	STORE_DB_META,
	STORE_DB_CERTS_BY_HOLDER, /* holder \0 serial -> "" (store/certs.c) */
	STORE_DB_COUNT
};

struct store {
	MDB_env *env;
	MDB_dbi dbi[STORE_DB_COUNT];
	uint32_t schema;
	int read_only;
	/* group commit (store_batch_*): the pending batch, its open member */
	MDB_txn *batch;
	struct store_txn *batch_member;
	size_t batch_n;       /* members committed into the batch */
	int batch_failed;     /* a member's commit failed: abort the batch */
	store_batch_cb *batch_cb;
	void *batch_arg;
};

struct store_txn {
	struct store *s;
	MDB_txn *txn;
	int write;
	int dirty;    /* a record was put or deleted */
	int audited;  /* at least one audit record was appended */
	int member;   /* a nested transaction inside the pending batch */
};

/* LMDB return code -> KAGI_ERR_*; logs everything but MDB_NOTFOUND. */
int store_lmdb_err(int rc, const char *what);
/* Names of the named databases, indexed by enum store_db. */
extern const char *const store_db_names[STORE_DB_COUNT];

#endif
