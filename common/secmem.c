/*
 * Secure memory for secrets (STYLE.md 7): page-backed, mlock'ed (failure is
 * tolerated: RLIMIT_MEMLOCK may be small for ordinary users), excluded from
 * core dumps, wiped on free.  A small header in front of each allocation
 * records the mapping size, so kagi_secure_free cannot unmap the wrong range.
 */
#include <malloc.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>


#include "kagi/err.h"
#include "kagi/log.h"
#include "kagi/secmem.h"

#define SECMEM_MAGIC 0x6b616769u /* "kagi" */
#define SECMEM_HDR 32u           /* keeps the user pointer 16-aligned */

struct secmem_hdr {
	size_t maplen;
	uint32_t magic;
	uint32_t locked;
};

void
kagi_wipe(void *p, size_t n)
{
	if (p != NULL && n != 0)
		explicit_bzero(p, n);
}

int
kagi_memeq_ct(const void *a, const void *b, size_t n)
{
	if (n == 0)
		return 1;
	if (a == NULL || b == NULL)
		return 0;
	{
		/* every byte looked at, whatever differs: no early exit */
		const volatile unsigned char *x = a, *y = b;
		unsigned char d = 0;

		for (size_t i = 0; i < n; i++)
			d |= (unsigned char)(x[i] ^ y[i]);
		return d == 0;
	}
}

void *
kagi_secure_alloc(size_t n)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t page = pg > 0 ? (size_t)pg : 4096u;
	size_t maplen;
	struct secmem_hdr *h;
	void *m;

	if (n > SIZE_MAX - SECMEM_HDR - page)
		return NULL;
	maplen = (n + SECMEM_HDR + page - 1) / page * page;
	m = mmap(NULL, maplen, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	h = m;
	h->maplen = maplen;
	h->magic = SECMEM_MAGIC;
	h->locked = 0;
	if (mlock(m, maplen) == 0)
		h->locked = 1;
	else
		kagi_log_debug("secure memory: mlock of %zu bytes failed: %s",
		    maplen, strerror(errno));
	if (madvise(m, maplen, MADV_DONTDUMP) != 0)
		kagi_log_debug("secure memory: MADV_DONTDUMP failed: %s",
		    strerror(errno));
	return (uint8_t *)m + SECMEM_HDR;
}

void
kagi_secure_free(void *p, size_t n)
{
	struct secmem_hdr *h;
	size_t maplen;
	int locked;

	if (p == NULL)
		return;
	h = (struct secmem_hdr *)(void *)((uint8_t *)p - SECMEM_HDR);
	if (h->magic != SECMEM_MAGIC || n > h->maplen - SECMEM_HDR) {
		kagi_log_err("secure memory: bad free (size %zu)", n);
		abort();
	}
	maplen = h->maplen;
	locked = h->locked != 0;
	kagi_wipe(h, maplen);
	if (locked)
		(void)munlock(h, maplen);
	(void)munmap(h, maplen);
}

char *
kagi_secure_strdup(const char *s)
{
	size_t n;
	char *d;

	if (s == NULL)
		return NULL;
	n = strlen(s);
	if ((d = kagi_secure_alloc(n + 1)) == NULL)
		return NULL;
	memcpy(d, s, n + 1);
	return d;
}

void
kagi_secure_strfree(char *s)
{
	/* The header knows the real size; strlen may have shrunk. */
	kagi_secure_free(s, 0);
}

int
kagi_process_harden(void)
{
	struct rlimit rl = { 0, 0 };
	int r = KAGI_ERR_SYSTEM;

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		kagi_log_err("prctl(PR_SET_DUMPABLE): %s", strerror(errno));
		goto out;
	}
	if (setrlimit(RLIMIT_CORE, &rl) != 0) {
		kagi_log_err("setrlimit(RLIMIT_CORE): %s", strerror(errno));
		goto out;
	}
	r = 0;
out:
	return r;
}

void
kagi_free_wipe(void *p)
{
	if (p == NULL)
		return;
	explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

void *
kagi_realloc_wipe(void *p, size_t n)
{
	size_t old;
	void *q;

	if (p == NULL)
		return malloc(n);
	if (n == 0) {
		kagi_free_wipe(p);
		return NULL;
	}
	if ((old = malloc_usable_size(p)) >= n)
		return p;
	if ((q = malloc(n)) == NULL)
		return NULL;
	memcpy(q, p, old);
	kagi_free_wipe(p);
	return q;
}
