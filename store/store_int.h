/*
 * store internals: shared between the store/ sources and the store unit
 * tests.  Not a public contract: only store/ and tests/unit/store/ include it.
 * It does not include <lmdb.h> (see store_lmdb.h for that).
 */
#ifndef KAGI_STORE_INT_H
#define KAGI_STORE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "kagi/store.h"

/* Version byte at the start of every value this release writes. */
#define STORE_REC_VERSION 1u

/* Field caps (bytes), see docs/STORE-FORMAT.md. */
#define STORE_KEY_MAX 32u         /* staff_no, login */
#define STORE_NAME_MAX 256u       /* person name, kana, section */
#define STORE_SHORT_MAX 64u       /* employment, hr_status */
#define STORE_PWHASH_MAX 256u     /* pw_hash and each pw_history entry */
#define STORE_TERMINAL_MAX 128u   /* last_login_terminal */
#define STORE_AUDIT_FIELD_MAX 256u /* actor, action, object, outcome */
#define STORE_AUDIT_DETAIL_MAX 4096u
/* Cap on one encoded value (write buffer size). */
#define STORE_VALUE_MAX (64u * 1024u)

/* Key syntax (docs/STORE-FORMAT.md): 1 if s is an acceptable key. */
int store_staff_no_valid(const char *s);
int store_login_valid(const char *s);

/* The SHA-256 of an encoded audit value. */
int store_audit_hash(const uint8_t *p, size_t len,
    uint8_t out[STORE_HASH_LEN]);

/* ---- test hooks (tests/unit/store only; never used by kagid) ---- */
/* Overwrite meta "schema" with v (a raw write, no audit). */
int store_test_set_schema(struct store *s, uint32_t v);
/* Delete audit record seq with a raw write, leaving the head as it is. */
int store_test_audit_del(struct store *s, uint64_t seq);

/* Put raw bytes under key in the named database db (no codec, no audit). */
int store_test_raw_put(struct store *s, const char *db, const void *key,
    size_t klen, const void *val, size_t vlen);

#endif
