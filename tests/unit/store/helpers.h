/* Helpers shared by the store unit tests. */
#ifndef KAGI_TEST_STORE_HELPERS_H
#define KAGI_TEST_STORE_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include "kagi/store.h"

/* A fresh private directory (mkdtemp); abort on failure. */
char *th_tmpdir(void);
/* rm -rf dir, then free it. */
void th_tmpdir_rm(char *dir);

/* Filled records; strings are malloc'ed (free with store_*_clear). */
void th_person(struct store_person *p, const char *staff_no);
void th_account(struct store_account *a, const char *login, uint32_t hist);
void th_audit(struct store_audit *a, uint64_t seq);

int th_str_eq(const char *a, const char *b);
int th_person_eq(const struct store_person *a, const struct store_person *b);
int th_account_eq(const struct store_account *a,
    const struct store_account *b);
int th_audit_eq(const struct store_audit *a, const struct store_audit *b);

/* Read a whole file (malloc'ed) / write it back in place. */
uint8_t *th_read_file(const char *path, size_t *len);
void th_write_file(const char *path, const uint8_t *p, size_t len);
/* XOR mask into byte off of every occurrence of needle; returns count. */
size_t th_patch_all(const char *path, const void *needle, size_t nlen,
    size_t off, uint8_t mask);

#endif
