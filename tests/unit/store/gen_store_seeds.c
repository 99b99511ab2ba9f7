/*
 * Writes the seed corpus for fuzz/fuzz_store_records.c: one file per valid
 * sample record, first byte = the decoder selector (0 person, 1 account,
 * 2 audit), then the encoded value.  Usage: gen_store_seeds OUTDIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "kagi/kbuf.h"
#include "kagi/store.h"
#include "store_int.h"

static int
save(const char *dir, const char *name, uint8_t sel, struct kbuf *b)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL)
		return -1;
	if (fwrite(&sel, 1, 1, f) != 1 ||
	    fwrite(kbuf_ptr(b), 1, kbuf_len(b), f) != kbuf_len(b)) {
		fclose(f);
		return -1;
	}
	kbuf_reset(b);
	return fclose(f);
}

int
main(int argc, char **argv)
{
	struct kbuf *b = kbuf_new(STORE_VALUE_MAX);
	struct store_person p;
	struct store_account a;
	struct store_audit u;
	int r = 0;

	if (argc != 2 || b == NULL) {
		fprintf(stderr, "usage: gen_store_seeds OUTDIR\n");
		return 2;
	}
	th_person(&p, "A-10234");
	r |= store_person_encode(&p, b) || save(argv[1], "person", 0, b);
	store_person_clear(&p);
	th_account(&a, "hanako.y", STORE_PW_HISTORY_MAX);
	r |= store_account_encode(&a, b) || save(argv[1], "account-full", 1, b);
	store_account_clear(&a);
	th_account(&a, "svc_backup", 0);
	free(a.staff_no);
	a.staff_no = NULL;
	r |= store_account_encode(&a, b) || save(argv[1], "account-service", 1, b);
	store_account_clear(&a);
	th_audit(&u, 1);
	memset(u.prev, 0, sizeof(u.prev));
	r |= store_audit_encode(&u, b) || save(argv[1], "audit-first", 2, b);
	store_audit_clear(&u);
	th_audit(&u, 987654321);
	r |= store_audit_encode(&u, b) || save(argv[1], "audit", 2, b);
	store_audit_clear(&u);
	kbuf_free(b);
	return r ? 1 : 0;
}
