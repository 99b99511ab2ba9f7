/*
 * bench_store: audit append throughput (1 and 100 records per transaction)
 * against a peer, a raw LMDB put loop with the same durability (default
 * sync, one value of the same size per transaction), so the ratio shows
 * what the store layer (codec, SHA-256 chain, head update) costs on top of
 * LMDB; and single-account lookup latency (p50/p99 over 100k lookups in a
 * store of 10k accounts), against raw mdb_get of the same bytes.
 * Usage: bench_store [DIR]   (DIR must be empty or absent; default: a
 * temporary directory under $TMPDIR, removed at the end).  Times depend on
 * the disk: a commit waits for fsync (LMDB default durability).
 */
#include <ftw.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "kagi/kbuf.h"
#include "kagi/log.h"
#include "kagi/store.h"

#define N_APPEND_1 1000
#define N_APPEND_100 100000
#define N_ACCOUNTS 10000
#define N_LOOKUPS 100000

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what, int r)
{
	fprintf(stderr, "bench_store: %s failed (%d)\n", what, r);
	exit(1);
}

static char *
subdir(const char *base, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", base, name) < 0)
		die("asprintf", -1);
	return p;
}

static const char detail[] = "{\"kind\":\"personal\",\"terminal\":\"t-0042\"}";

/* Audit appends, per_txn records per transaction; returns records/s. */
static double
bench_append(const char *dir, int total, int per_txn)
{
	struct store *s = NULL;
	struct store_txn *t = NULL;
	double t0, t1;
	int i, j, r;

	if ((r = store_open(dir, NULL, &s)) != 0)
		die("store_open", r);
	t0 = now_s();
	for (i = 0; i < total; i += per_txn) {
		if ((r = store_txn_begin(s, 1, &t)) != 0)
			die("begin", r);
		for (j = 0; j < per_txn; j++)
			if ((r = store_audit_append(t, 1700000000 + i + j,
			    "uid:1000(alice)", "user.login", "hanako", "ok",
			    detail, NULL)) != 0)
				die("append", r);
		if ((r = store_txn_commit(t)) != 0)
			die("commit", r);
	}
	t1 = now_s();
	store_close(s);
	return (double)total / (t1 - t0);
}

/* The peer: raw LMDB, one put of a same-size value per transaction. */
static double
bench_raw_put(const char *dir, int total, int per_txn, size_t vlen)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k, v;
	uint8_t key[8], *val = calloc(1, vlen);
	double t0, t1;
	int i, j, b, rc;

	if ((rc = mdb_env_create(&env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(env, 16)) != 0 ||
	    (rc = mdb_env_set_mapsize(env, (size_t)1 << 30)) != 0 ||
	    (rc = mdb_env_open(env, dir, MDB_NOTLS, 0600)) != 0)
		die("mdb_env_open", rc);
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, "audit", MDB_CREATE, &dbi)) != 0 ||
	    (rc = mdb_txn_commit(txn)) != 0)
		die("mdb_dbi_open", rc);
	t0 = now_s();
	for (i = 0; i < total; i += per_txn) {
		if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
			die("mdb_txn_begin", rc);
		for (j = 0; j < per_txn; j++) {
			uint64_t seq = (uint64_t)(i + j + 1);

			for (b = 7; b >= 0; b--) {
				key[b] = (uint8_t)seq;
				seq >>= 8;
			}
			k.mv_data = key;
			k.mv_size = sizeof(key);
			v.mv_data = val;
			v.mv_size = vlen;
			if ((rc = mdb_put(txn, dbi, &k, &v, MDB_APPEND)) != 0)
				die("mdb_put", rc);
		}
		if ((rc = mdb_txn_commit(txn)) != 0)
			die("mdb_txn_commit", rc);
	}
	t1 = now_s();
	mdb_env_close(env);
	free(val);
	return (double)total / (t1 - t0);
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
fill_account(struct store_account *a, char *login, char **hist)
{
	int i;

	memset(a, 0, sizeof(*a));
	a->login = login;
	a->staff_no = (char *)"A-10234";
	a->kind = STORE_KIND_PERSONAL;
	a->pw_hash = (char *)"$y$j9T$abcdefghijklmnop$0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef";
	a->pw_history_n = 5;
	for (i = 0; i < 5; i++)
		a->pw_history[i] = hist[i];
	a->last_login_terminal = (char *)"term-0042.ward.local";
	a->created = 1700000000;
}

struct lat {
	double p50, p99;
};

static struct lat
percentiles(double *v, int n)
{
	struct lat l;

	qsort(v, (size_t)n, sizeof(double), cmp_d);
	l.p50 = v[n / 2];
	l.p99 = v[(n * 99) / 100];
	return l;
}

/* store_account_get vs raw mdb_get of the same record (env opened twice). */
static void
bench_lookup(const char *dir, struct lat *ours, struct lat *raw)
{
	struct store *s = NULL;
	struct store_txn *t = NULL;
	struct store_account a;
	char login[32], *hist[5];
	double *lat = malloc(sizeof(double) * N_LOOKUPS), t0;
	int i, r, rc;

	for (i = 0; i < 5; i++)
		hist[i] = (char *)"$y$j9T$oldoldoldoldold$0123456789ABCDEFGHIJKLMNOPQRSTUV";
	if ((r = store_open(dir, NULL, &s)) != 0)
		die("store_open", r);
	if ((r = store_txn_begin(s, 1, &t)) != 0)
		die("begin", r);
	for (i = 0; i < N_ACCOUNTS; i++) {
		snprintf(login, sizeof(login), "user%05d", i);
		fill_account(&a, login, hist);
		if ((r = store_account_add(t, &a)) != 0)
			die("account_add", r);
	}
	if ((r = store_audit_append(t, 1700000000, "bench", "user.add", "",
	    "ok", "", NULL)) != 0 || (r = store_txn_commit(t)) != 0)
		die("commit", r);
	srand(12345);
	for (i = 0; i < N_LOOKUPS; i++) {
		snprintf(login, sizeof(login), "user%05d", rand() % N_ACCOUNTS);
		t0 = now_s();
		if ((r = store_txn_begin(s, 0, &t)) != 0 ||
		    (r = store_account_get(t, login, &a)) != 0)
			die("account_get", r);
		store_txn_abort(t);
		lat[i] = now_s() - t0;
		store_account_clear(&a);
	}
	*ours = percentiles(lat, N_LOOKUPS);
	store_close(s);

	{
		MDB_env *env;
		MDB_txn *txn;
		MDB_dbi dbi;
		MDB_val k, v;

		if ((rc = mdb_env_create(&env)) != 0 ||
		    (rc = mdb_env_set_maxdbs(env, 16)) != 0 ||
		    (rc = mdb_env_open(env, dir, MDB_NOTLS | MDB_RDONLY,
		    0600)) != 0 ||
		    (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0 ||
		    (rc = mdb_dbi_open(txn, "accounts", 0, &dbi)) != 0 ||
		    (rc = mdb_txn_commit(txn)) != 0)
			die("raw open", rc);
		srand(12345);
		for (i = 0; i < N_LOOKUPS; i++) {
			snprintf(login, sizeof(login), "user%05d",
			    rand() % N_ACCOUNTS);
			k.mv_data = login;
			k.mv_size = strlen(login);
			t0 = now_s();
			if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY,
			    &txn)) != 0 ||
			    (rc = mdb_get(txn, dbi, &k, &v)) != 0)
				die("mdb_get", rc);
			mdb_txn_abort(txn);
			lat[i] = now_s() - t0;
		}
		*raw = percentiles(lat, N_LOOKUPS);
		mdb_env_close(env);
	}
	free(lat);
}

int
main(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR");
	char *base, *d1, *d2, *d3, *d4, *d5;
	double a1, a100, p1, p100;
	struct lat ours, raw;
	struct store_audit rec;
	struct kbuf *b;
	size_t vlen;

	kagi_log_set_level(KAGI_LOG_WARN);
	if (argc > 1) {
		base = argv[1];
		(void)mkdir(base, 0700);
	} else {
		if (asprintf(&base, "%s/kagi-bench-XXXXXX",
		    tmp && *tmp ? tmp : "/tmp") < 0 || mkdtemp(base) == NULL)
			die("mkdtemp", -1);
	}
	d1 = subdir(base, "append1");
	d2 = subdir(base, "append100");
	d3 = subdir(base, "raw1");
	d4 = subdir(base, "raw100");
	d5 = subdir(base, "lookup");
	/* Same value size as one encoded audit record. */
	memset(&rec, 0, sizeof(rec));
	rec.seq = 1;
	rec.actor = (char *)"uid:1000(alice)";
	rec.action = (char *)"user.login";
	rec.object = (char *)"hanako";
	rec.outcome = (char *)"ok";
	rec.detail = (char *)detail;
	if ((b = kbuf_new(65536)) == NULL || store_audit_encode(&rec, b) != 0)
		die("encode", -1);
	vlen = kbuf_len(b);
	kbuf_free(b);

	if (mkdir(d3, 0700) != 0 || mkdir(d4, 0700) != 0)
		die("mkdir", -1);
	a1 = bench_append(d1, N_APPEND_1, 1);
	p1 = bench_raw_put(d3, N_APPEND_1, 1, vlen);
	a100 = bench_append(d2, N_APPEND_100, 100);
	p100 = bench_raw_put(d4, N_APPEND_100, 100, vlen);
	bench_lookup(d5, &ours, &raw);

	printf("bench_store (dir %s, record %zu bytes)\n", base, vlen);
	printf("%-34s %14s %14s %8s\n", "", "kagi store", "raw LMDB", "ratio");
	printf("%-34s %12.0f/s %12.0f/s %8.2f\n",
	    "audit append, 1 per txn", a1, p1, p1 / a1);
	printf("%-34s %12.0f/s %12.0f/s %8.2f\n",
	    "audit append, 100 per txn", a100, p100, p100 / a100);
	printf("%-34s %12.2fus %12.2fus %8.2f\n",
	    "account lookup p50 (10k, 100k)", ours.p50 * 1e6, raw.p50 * 1e6,
	    ours.p50 / raw.p50);
	printf("%-34s %12.2fus %12.2fus %8.2f\n",
	    "account lookup p99 (10k, 100k)", ours.p99 * 1e6, raw.p99 * 1e6,
	    ours.p99 / raw.p99);
	printf("ratio: throughput raw/ours, latency ours/raw (1.00 = no "
	    "overhead)\n");
	free(d1);
	free(d2);
	free(d3);
	free(d4);
	free(d5);
	if (argc <= 1) {
		/* Our own temporary directory: remove it. */
		(void)nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		free(base);
	}
	return 0;
}
