/*
 * The insecure FIDO test io module for kagi-cardd
 * ([cardd] insecure_fido_test_io_module, tests only): the software
 * authenticator of tests/softfido behind libfido2's io hooks, its state in
 * the file named by [cardd] fido_device, shared with the test that drives
 * it (knobs: touched, UV, counter).  Exports only kagi_fido_test_io.
 */
#include <string.h>

#include <fido.h>

#include "softfido.h"

__attribute__((visibility("default"))) int
kagi_fido_test_io(const char *device, void *io_out, const char **path_out);

static struct softfido *sf;

int
kagi_fido_test_io(const char *device, void *io_out, const char **path_out)
{
	struct softfido_opts o;

	if (device == NULL || io_out == NULL || path_out == NULL)
		return -1;
	if (sf == NULL) {
		memset(&o, 0, sizeof(o));
		o.state_path = device;
		if ((sf = softfido_new(&o)) == NULL)
			return -1;
	}
	memcpy(io_out, softfido_io(), sizeof(fido_dev_io_t));
	*path_out = softfido_path(sf);
	return 0;
}
