/*
 * Helpers for bench/bench_hr.sh:
 *   bench_hr fido DATA_DIR PREFIX N   add one FIDO credential to each of the
 *       accounts PREFIX00000..PREFIX(N-1) in one audited transaction (no API
 *       registers FIDO credentials yet; kagid must be stopped)
 *   bench_hr pwhash COST N            N yescrypt hashes at COST through
 *       libxcrypt, as kagid makes them; prints ms per hash and the setting
 */
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kagi/store.h"
#include "kagi/util.h"

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
fido(const char *dir, const char *prefix, int n)
{
	struct store *s = NULL;
	struct store_txn *t = NULL;
	uint8_t id[32], cose[77];
	char login[64];

	memset(cose, 0xa5, sizeof(cose));
	if (store_open(dir, NULL, &s) != 0 || store_txn_begin(s, 1, &t) != 0)
		return 1;
	for (int i = 0; i < n; i++) {
		struct store_fido f;

		snprintf(login, sizeof(login), "%s%05d", prefix, i);
		if (kagi_random_bytes(id, sizeof(id)) != 0)
			return 1;
		memset(&f, 0, sizeof(f));
		f.cred_id = id;
		f.cred_id_len = sizeof(id);
		f.account = login;
		f.cose_key = cose;
		f.cose_key_len = sizeof(cose);
		f.created = kagi_now();
		if (store_fido_add(t, &f) != 0)
			return 1;
	}
	if (store_audit_append(t, kagi_now(), "bench", "bench.fido.seed", "",
	    "ok", "", NULL) != 0 || store_txn_commit(t) != 0)
		return 1;
	store_close(s);
	printf("added %d FIDO credentials\n", n);
	return 0;
}

static int
pwhash(unsigned long cost, int n)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data cd;
	double t0, t1;

	if (crypt_gensalt_rn("$y$", cost, NULL, 0, setting,
	    sizeof(setting)) == NULL)
		return 1;
	t0 = now_ms();
	for (int i = 0; i < n; i++) {
		memset(&cd, 0, sizeof(cd));
		if (crypt_rn("correct horse battery staple", setting, &cd,
		    sizeof(cd)) == NULL || cd.output[0] == '*')
			return 1;
	}
	t1 = now_ms();
	printf("yescrypt cost %lu: %.1f ms per hash (%d hashes); setting %s\n",
	    cost, (t1 - t0) / n, n, setting);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "fido") == 0)
		return fido(argv[2], argv[3], atoi(argv[4]));
	if (argc == 4 && strcmp(argv[1], "pwhash") == 0)
		return pwhash(strtoul(argv[2], NULL, 10), atoi(argv[3]));
	if (argc == 1) /* scripts/bench runs every bench_*: the default cost */
		return pwhash(5, 20);
	fprintf(stderr, "usage: bench_hr fido DIR PREFIX N | pwhash COST N\n");
	return 2;
}
