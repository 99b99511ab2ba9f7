/*
 * The FIDO2 layer of kagi-cardd: one getAssertion through libfido2 with
 * clientDataHash = kagid's tbs_hash and the credential ids kagid allowed.
 * User presence is always requested.  User verification: built-in UV when
 * the authenticator has it, else the authenticator's PIN (clientPIN), asked
 * through the conversation; the PIN is wiped after the call.
 *
 * Tests plug a software authenticator in with insecure_fido_test_io_module:
 * a shared object exporting kagi_fido_test_io(device, fido_dev_io_t *, path)
 * whose io functions libfido2 then drives (HID reports, CTAPHID framing).
 * That option is logged as insecure at start-up.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include <fido.h>

#include "cardd_int.h"
#include "kagi/log.h"
#include "kagi/secmem.h"

struct cardd_fido {
	char *device;       /* "auto" or a path */
	void *mod;          /* test io module */
	fido_dev_io_t io;
	const char *io_path;
	int have_io;
};

void
cardd_fido_resp_clear(struct cardd_fido_resp *r)
{
	if (r == NULL)
		return;
	free(r->cred_id);
	free(r->authdata);
	free(r->sig);
	memset(r, 0, sizeof(*r));
}

int
cardd_fido_new(const char *device, const char *io_module,
    struct cardd_fido **out)
{
	struct cardd_fido *f = NULL;
	kagi_fido_test_io_fn *fn;
	int r = KAGI_ERR_INTERNAL;

	if (out == NULL)
		return KAGI_ERR_INVALID;
	*out = NULL;
	fido_init(FIDO_DISABLE_U2F_FALLBACK);
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return KAGI_ERR_NOMEM;
	if ((f->device = strdup(device != NULL ? device : "auto")) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if (io_module != NULL) {
		kagi_log_warn("event=insecure_option option="
		    "insecure_fido_test_io_module module=%s: FIDO devices are "
		    "simulated; never use this on a real terminal", io_module);
		if ((f->mod = dlopen(io_module, RTLD_NOW | RTLD_LOCAL)) ==
		    NULL) {
			kagi_log_err("cannot load %s: %s", io_module,
			    dlerror());
			r = KAGI_ERR_NOT_FOUND;
			goto out;
		}
		*(void **)(&fn) = dlsym(f->mod, CARDD_FIDO_TEST_IO_SYMBOL);
		if (fn == NULL) {
			kagi_log_err("%s: no symbol %s", io_module,
			    CARDD_FIDO_TEST_IO_SYMBOL);
			r = KAGI_ERR_NOT_FOUND;
			goto out;
		}
		if (fn(f->device, &f->io, &f->io_path) != 0 ||
		    f->io_path == NULL) {
			kagi_log_err("%s: cannot attach to %s", io_module,
			    f->device);
			r = KAGI_ERR_UNAVAILABLE;
			goto out;
		}
		f->have_io = 1;
	}
	*out = f;
	f = NULL;
	r = 0;
out:
	cardd_fido_free(f);
	return r;
}

void
cardd_fido_free(struct cardd_fido *f)
{
	if (f == NULL)
		return;
	/* The test module stays loaded: libfido2 may hold its functions. */
	free(f->device);
	free(f);
}

/* Open the configured authenticator; NULL if there is none. */
static fido_dev_t *
dev_open(struct cardd_fido *f)
{
	fido_dev_t *dev = NULL;
	fido_dev_info_t *di = NULL;
	char *path = NULL;
	size_t found = 0;
	int rc;

	if ((dev = fido_dev_new()) == NULL)
		return NULL;
	if (f->have_io) {
		if (fido_dev_set_io_functions(dev, &f->io) != FIDO_OK)
			goto fail;
		if ((path = strdup(f->io_path)) == NULL)
			goto fail;
	} else if (strcmp(f->device, "auto") == 0) {
		if ((di = fido_dev_info_new(1)) == NULL)
			goto fail;
		if (fido_dev_info_manifest(di, 1, &found) != FIDO_OK ||
		    found == 0)
			goto fail;
		if ((path = strdup(fido_dev_info_path(
		    fido_dev_info_ptr(di, 0)))) == NULL)
			goto fail;
	} else if ((path = strdup(f->device)) == NULL)
		goto fail;
	if ((rc = fido_dev_open(dev, path)) != FIDO_OK) {
		kagi_log_debug("fido_dev_open: %s", fido_strerr(rc));
		goto fail;
	}
	free(path);
	fido_dev_info_free(&di, 1);
	return dev;
fail:
	free(path);
	fido_dev_info_free(&di, 1);
	fido_dev_free(&dev);
	return NULL;
}

int
cardd_fido_present(struct cardd_fido *f)
{
	fido_dev_t *dev;

	if (f == NULL || (dev = dev_open(f)) == NULL)
		return 0;
	(void)fido_dev_close(dev);
	fido_dev_free(&dev);
	return 1;
}

static int
dup_bytes(const unsigned char *p, size_t n, uint8_t **out, size_t *outlen)
{
	*out = NULL;
	*outlen = 0;
	if (p == NULL || n == 0)
		return KAGI_ERR_FORMAT;
	if ((*out = malloc(n)) == NULL)
		return KAGI_ERR_NOMEM;
	memcpy(*out, p, n);
	*outlen = n;
	return 0;
}

static int
fido_err(int rc)
{
	switch (rc) {
	case FIDO_ERR_PIN_INVALID:
		return KAGI_ERR_PIN;
	case FIDO_ERR_PIN_BLOCKED:
	case FIDO_ERR_PIN_AUTH_BLOCKED:
		return KAGI_ERR_LOCKED;
	case FIDO_ERR_NO_CREDENTIALS:
		return KAGI_ERR_NOT_FOUND;
	case FIDO_ERR_ACTION_TIMEOUT:
	case FIDO_ERR_USER_ACTION_TIMEOUT:
	case FIDO_ERR_RX:
		return KAGI_ERR_TIMEOUT;
	case FIDO_ERR_OPERATION_DENIED:
	case FIDO_ERR_UP_REQUIRED:
	case FIDO_ERR_PIN_REQUIRED:
		return KAGI_ERR_DENIED;
	case FIDO_ERR_TX:
	case FIDO_ERR_INVALID_PARAM:
		return KAGI_ERR_UNAVAILABLE;
	default:
		return KAGI_ERR_AUTH;
	}
}

int
cardd_fido_assert(struct cardd_fido *f, const struct cardd_fido_req *req,
    cardd_fido_ask_fn *ask, void *ctx, struct cardd_fido_resp *out)
{
	fido_dev_t *dev = NULL;
	fido_assert_t *a = NULL;
	char *pin = NULL;
	size_t i;
	int rc, want_uv = 0, r = KAGI_ERR_INTERNAL;

	if (out == NULL)
		return KAGI_ERR_INVALID;
	memset(out, 0, sizeof(*out));
	if (f == NULL || req == NULL || ask == NULL || req->rp_id == NULL ||
	    req->ncreds == 0)
		return KAGI_ERR_INVALID;
	if ((dev = dev_open(f)) == NULL) {
		r = KAGI_ERR_UNAVAILABLE;
		goto out;
	}
	if ((a = fido_assert_new()) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if (fido_assert_set_clientdata_hash(a, req->cdh, CARDD_TBS_LEN) !=
	    FIDO_OK || fido_assert_set_rp(a, req->rp_id) != FIDO_OK ||
	    fido_assert_set_up(a, FIDO_OPT_TRUE) != FIDO_OK) {
		r = KAGI_ERR_INVALID;
		goto out;
	}
	for (i = 0; i < req->ncreds; i++)
		if (fido_assert_allow_cred(a, req->creds[i],
		    req->cred_lens[i]) != FIDO_OK) {
			r = KAGI_ERR_INVALID;
			goto out;
		}
	if (req->uv == 2 || (req->uv == 1 && fido_dev_has_uv(dev))) {
		want_uv = 1;
		if (fido_dev_has_uv(dev)) {
			/* Built-in UV (biometrics): the uv option, no PIN. */
			if (fido_assert_set_uv(a, FIDO_OPT_TRUE) != FIDO_OK) {
				r = KAGI_ERR_INVALID;
				goto out;
			}
		} else if (fido_dev_has_pin(dev)) {
			/* clientPIN: the PIN token is the UV (CTAP2 §5.5.8). */
			if ((r = ask(CARDD_P_FIDO_PIN, &pin, ctx)) != 0)
				goto out;
			if (pin == NULL) {
				r = KAGI_ERR_AUTH;
				goto out;
			}
		} else {
			kagi_log_warn("event=fido_uv_unavailable: the "
			    "authenticator has neither UV nor a PIN");
			r = KAGI_ERR_DENIED;
			goto out;
		}
	}
	(void)ask(CARDD_P_TOUCH_KEY, NULL, ctx);
	rc = fido_dev_get_assert(dev, a, pin);
	kagi_secure_strfree(pin);
	pin = NULL;
	if (rc != FIDO_OK) {
		kagi_log_warn("event=fido_assert_failed error=%s",
		    fido_strerr(rc));
		r = fido_err(rc);
		goto out;
	}
	if (fido_assert_count(a) != 1) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	/* CTAP2 may leave the credential out when the allowList had one. */
	if (fido_assert_id_len(a, 0) > 0)
		r = dup_bytes(fido_assert_id_ptr(a, 0),
		    fido_assert_id_len(a, 0), &out->cred_id,
		    &out->cred_id_len);
	else if (req->ncreds == 1)
		r = dup_bytes(req->creds[0], req->cred_lens[0], &out->cred_id,
		    &out->cred_id_len);
	else
		r = KAGI_ERR_FORMAT;
	if (r != 0 ||
	    (r = dup_bytes(fido_assert_authdata_ptr(a, 0),
	    fido_assert_authdata_len(a, 0), &out->authdata,
	    &out->authdata_len)) != 0 ||
	    (r = dup_bytes(fido_assert_sig_ptr(a, 0), fido_assert_sig_len(a,
	    0), &out->sig, &out->sig_len)) != 0)
		goto out;
	out->uv_done = want_uv;
	r = 0;
out:
	if (r != 0)
		cardd_fido_resp_clear(out);
	kagi_secure_strfree(pin);
	fido_assert_free(&a);
	if (dev != NULL)
		(void)fido_dev_close(dev);
	fido_dev_free(&dev);
	return r;
}
