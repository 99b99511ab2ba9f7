/*
 * Secrets (PINs, passwords, temporary passwords, key material) live in memory
 * that is locked (mlock), excluded from core dumps (MADV_DONTDUMP) and wiped
 * on free.  Comparisons of secrets are constant time.
 */
#ifndef KAGI_SECMEM_H
#define KAGI_SECMEM_H

#include <stddef.h>

/* Zeroed, locked, no-dump allocation of n bytes; NULL on failure. */
void *kagi_secure_alloc(size_t n);
/* Wipe, unlock and release; NULL-safe.  n must be the size allocated. */
void kagi_secure_free(void *p, size_t n);
/* A secure copy of a NUL-terminated secret; free with kagi_secure_strfree. */
char *kagi_secure_strdup(const char *s);
void kagi_secure_strfree(char *s);
/* Wipe memory in a way the compiler cannot drop. */
void kagi_wipe(void *p, size_t n);
/*
 * malloc-heap blocks that are wiped when freed or moved: for libraries that
 * copy request bytes into buffers of their own (jansson, libevent), whose
 * allocator hooks take these.  Not locked: the process is not dumpable.
 */
void kagi_free_wipe(void *p);
void *kagi_realloc_wipe(void *p, size_t n);
/* Constant-time equality: 1 if equal, 0 if not. */
int kagi_memeq_ct(const void *a, const void *b, size_t n);
/* For daemons and tools holding secrets: no core dumps, not ptrace-able. */
int kagi_process_harden(void);

#endif
