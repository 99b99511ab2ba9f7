/*
 * bench_u2f_shim.so: LD_PRELOAD shim for the terminal login benchmark
 * (bench/bench_login.sh, docs/BENCHMARKS.md "Terminal login").
 *
 * pam_u2f finds authenticators with fido_dev_info_manifest() and opens them
 * with fido_dev_open(dev, path) on a fresh fido_dev_t: it has no io hooks of
 * its own.  This shim makes both calls reach the same software authenticator
 * (tests/softfido, state file $BENCH_SOFTFIDO_STATE) that kagi-cardd reaches
 * through its insecure_fido_test_io_module:
 *   fido_dev_info_manifest  lists exactly one device, "softfido:N";
 *   fido_dev_open           on that path installs softfido's io functions
 *                           (fido_dev_set_io_functions) and then calls
 *                           libfido2's own fido_dev_open.
 * Everything else (CTAPHID framing, CBOR, assertion verification) is
 * libfido2 and pam_u2f unmodified.  Benchmark use only: the state file
 * holds private keys.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include <fido.h>

#include "softfido.h"

__attribute__((visibility("default"))) int
fido_dev_info_manifest(fido_dev_info_t *devlist, size_t ilen, size_t *olen);
__attribute__((visibility("default"))) int
fido_dev_open(fido_dev_t *dev, const char *path);

static struct softfido *sf;

static struct softfido *
shim_sf(void)
{
	struct softfido_opts o;
	const char *state = getenv("BENCH_SOFTFIDO_STATE");

	if (sf == NULL && state != NULL) {
		memset(&o, 0, sizeof(o));
		o.state_path = state;
		sf = softfido_new(&o);
	}
	return sf;
}

int
fido_dev_info_manifest(fido_dev_info_t *devlist, size_t ilen, size_t *olen)
{
	struct softfido *s = shim_sf();

	if (olen == NULL)
		return FIDO_ERR_INVALID_ARGUMENT;
	*olen = 0;
	if (s == NULL || ilen == 0)
		return FIDO_OK;
	if (fido_dev_info_set(devlist, 0, softfido_path(s), "kagi",
	    "softfido", softfido_io(), NULL) != FIDO_OK)
		return FIDO_ERR_INTERNAL;
	*olen = 1;
	return FIDO_OK;
}

int
fido_dev_open(fido_dev_t *dev, const char *path)
{
	int (*real_open)(fido_dev_t *, const char *);
	struct softfido *s = shim_sf();
	void *sym = dlsym(RTLD_NEXT, "fido_dev_open");

	if (sym == NULL)
		return FIDO_ERR_INTERNAL;
	memcpy(&real_open, &sym, sizeof(real_open));
	if (s != NULL && path != NULL && strcmp(path, softfido_path(s)) == 0 &&
	    softfido_attach(s, dev) != 0)
		return FIDO_ERR_INTERNAL;
	return real_open(dev, path);
}
