/*
 * hsm: loading a PKCS#11 module, CKR mapping, tokens and sessions.
 *
 * The module is dlopen()ed only from the absolute path the operator
 * configured (STYLE.md 8), after checking that the file is a regular file
 * owned by root or by us and not writable by group or others: loading it runs
 * its code in our process.  PINs are passed to the module and never logged.
 * Nothing here is thread-safe: one session per thread (docs/HSM.md).
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hsm_int.h"
#include "kagi/log.h"

/* Names of the return codes a module commonly gives (PKCS#11 v2.40 §11.1). */
static const struct {
	CK_RV rv;
	const char *name;
} ckr_names[] = {
#define N(x) { x, #x }
	N(CKR_OK),
	N(CKR_CANCEL),
	N(CKR_HOST_MEMORY),
	N(CKR_SLOT_ID_INVALID),
	N(CKR_GENERAL_ERROR),
	N(CKR_FUNCTION_FAILED),
	N(CKR_ARGUMENTS_BAD),
	N(CKR_NO_EVENT),
	N(CKR_NEED_TO_CREATE_THREADS),
	N(CKR_CANT_LOCK),
	N(CKR_ATTRIBUTE_READ_ONLY),
	N(CKR_ATTRIBUTE_SENSITIVE),
	N(CKR_ATTRIBUTE_TYPE_INVALID),
	N(CKR_ATTRIBUTE_VALUE_INVALID),
	N(CKR_DATA_INVALID),
	N(CKR_DATA_LEN_RANGE),
	N(CKR_DEVICE_ERROR),
	N(CKR_DEVICE_MEMORY),
	N(CKR_DEVICE_REMOVED),
	N(CKR_FUNCTION_CANCELED),
	N(CKR_FUNCTION_NOT_PARALLEL),
	N(CKR_FUNCTION_NOT_SUPPORTED),
	N(CKR_KEY_HANDLE_INVALID),
	N(CKR_KEY_SIZE_RANGE),
	N(CKR_KEY_TYPE_INCONSISTENT),
	N(CKR_KEY_FUNCTION_NOT_PERMITTED),
	N(CKR_KEY_UNEXTRACTABLE),
	N(CKR_MECHANISM_INVALID),
	N(CKR_MECHANISM_PARAM_INVALID),
	N(CKR_OBJECT_HANDLE_INVALID),
	N(CKR_OPERATION_ACTIVE),
	N(CKR_OPERATION_NOT_INITIALIZED),
	N(CKR_PIN_INCORRECT),
	N(CKR_PIN_INVALID),
	N(CKR_PIN_LEN_RANGE),
	N(CKR_PIN_EXPIRED),
	N(CKR_PIN_LOCKED),
	N(CKR_SESSION_CLOSED),
	N(CKR_SESSION_COUNT),
	N(CKR_SESSION_HANDLE_INVALID),
	N(CKR_SESSION_PARALLEL_NOT_SUPPORTED),
	N(CKR_SESSION_READ_ONLY),
	N(CKR_SESSION_EXISTS),
	N(CKR_SESSION_READ_ONLY_EXISTS),
	N(CKR_SESSION_READ_WRITE_SO_EXISTS),
	N(CKR_SIGNATURE_INVALID),
	N(CKR_SIGNATURE_LEN_RANGE),
	N(CKR_TEMPLATE_INCOMPLETE),
	N(CKR_TEMPLATE_INCONSISTENT),
	N(CKR_TOKEN_NOT_PRESENT),
	N(CKR_TOKEN_NOT_RECOGNIZED),
	N(CKR_TOKEN_WRITE_PROTECTED),
	N(CKR_USER_ALREADY_LOGGED_IN),
	N(CKR_USER_NOT_LOGGED_IN),
	N(CKR_USER_PIN_NOT_INITIALIZED),
	N(CKR_USER_TYPE_INVALID),
	N(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
	N(CKR_USER_TOO_MANY_TYPES),
	N(CKR_DOMAIN_PARAMS_INVALID),
	N(CKR_CURVE_NOT_SUPPORTED),
	N(CKR_BUFFER_TOO_SMALL),
	N(CKR_RANDOM_NO_RNG),
	N(CKR_CRYPTOKI_NOT_INITIALIZED),
	N(CKR_CRYPTOKI_ALREADY_INITIALIZED),
	N(CKR_MUTEX_BAD),
	N(CKR_MUTEX_NOT_LOCKED),
#undef N
};

const char *
hsm_ckr_name(CK_RV rv, char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(ckr_names) / sizeof(ckr_names[0]); i++)
		if (ckr_names[i].rv == rv)
			return ckr_names[i].name;
	snprintf(buf, len, "CKR_0x%lx", (unsigned long)rv);
	return buf;
}

int
hsm_ckr_err(CK_RV rv, const char *what)
{
	char buf[32];
	int r;

	switch (rv) {
	case CKR_OK:
		return 0;
	case CKR_HOST_MEMORY:
		r = KAGI_ERR_NOMEM;
		break;
	case CKR_PIN_INCORRECT:
		r = KAGI_ERR_PIN;
		break;
	case CKR_PIN_LOCKED:
		r = KAGI_ERR_LOCKED;
		break;
	case CKR_PIN_EXPIRED:
		r = KAGI_ERR_EXPIRED;
		break;
	case CKR_PIN_INVALID:
	case CKR_PIN_LEN_RANGE:
	case CKR_ARGUMENTS_BAD:
	case CKR_ATTRIBUTE_VALUE_INVALID:
	case CKR_KEY_SIZE_RANGE:
	case CKR_KEY_TYPE_INCONSISTENT:
	case CKR_MECHANISM_INVALID:
	case CKR_CURVE_NOT_SUPPORTED:
	case CKR_DATA_LEN_RANGE:
		r = KAGI_ERR_INVALID;
		break;
	case CKR_SLOT_ID_INVALID:
	case CKR_KEY_HANDLE_INVALID:
	case CKR_OBJECT_HANDLE_INVALID:
		r = KAGI_ERR_NOT_FOUND;
		break;
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_DEVICE_REMOVED:
	case CKR_SESSION_CLOSED:
	case CKR_SESSION_HANDLE_INVALID:
		r = KAGI_ERR_UNAVAILABLE;
		break;
	case CKR_USER_NOT_LOGGED_IN:
	case CKR_USER_PIN_NOT_INITIALIZED:
		r = KAGI_ERR_AUTH;
		break;
	case CKR_KEY_FUNCTION_NOT_PERMITTED:
	case CKR_TOKEN_WRITE_PROTECTED:
		r = KAGI_ERR_DENIED;
		break;
	default:
		r = KAGI_ERR_HSM;
		break;
	}
	kagi_log_err("%s: %s", what, hsm_ckr_name(rv, buf, sizeof(buf)));
	return r;
}

/*
 * The module file runs in our process: it must be a regular file (after
 * following the configured path's symlinks, as distributions install them)
 * owned by root or the effective user and not writable by group or others.
 */
static int
check_module_file(const char *path)
{
	char *real = NULL;
	struct stat st;
	int r = KAGI_ERR_INTERNAL;

	if ((real = realpath(path, NULL)) == NULL) {
		if (errno == ENOENT || errno == ENOTDIR) {
			kagi_log_err("PKCS#11 module %s: no such file", path);
			r = KAGI_ERR_NOT_FOUND;
		} else {
			kagi_log_err("PKCS#11 module %s: %s", path,
			    strerror(errno));
			r = errno == EACCES ? KAGI_ERR_PERM : KAGI_ERR_SYSTEM;
		}
		goto out;
	}
	if (stat(real, &st) != 0) {
		kagi_log_err("PKCS#11 module %s: %s", real, strerror(errno));
		r = KAGI_ERR_SYSTEM;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		kagi_log_err("PKCS#11 module %s: not a regular file", real);
		r = KAGI_ERR_PERM;
		goto out;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		kagi_log_err("PKCS#11 module %s: owned by uid %lu, need root "
		    "or uid %lu", real, (unsigned long)st.st_uid,
		    (unsigned long)geteuid());
		r = KAGI_ERR_PERM;
		goto out;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		kagi_log_err("PKCS#11 module %s: mode %04o is writable by "
		    "group or others", real, (unsigned)(st.st_mode & 07777));
		r = KAGI_ERR_PERM;
		goto out;
	}
	r = 0;
out:
	free(real);
	return r;
}

int
hsm_open(const char *module_path, struct hsm **out)
{
	struct hsm *h = NULL;
	CK_C_GetFunctionList getfl = NULL;
	CK_C_INITIALIZE_ARGS args;
	const char *dlerr;
	CK_RV rv;
	int r = KAGI_ERR_INTERNAL;

	if (out == NULL)
		return KAGI_ERR_INVALID;
	*out = NULL;
	if (module_path == NULL || module_path[0] != '/') {
		kagi_log_err("PKCS#11 module path must be absolute");
		return KAGI_ERR_INVALID;
	}
	if ((r = check_module_file(module_path)) != 0)
		return r;
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->path = strdup(module_path)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	(void)dlerror();
	if ((h->dl = dlopen(module_path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		dlerr = dlerror();
		kagi_log_err("PKCS#11 module %s: cannot load: %s", module_path,
		    dlerr != NULL ? dlerr : "unknown error");
		r = KAGI_ERR_INVALID;
		goto out;
	}
	/* POSIX: a data pointer converted from dlsym's result. */
	*(void **)(&getfl) = dlsym(h->dl, "C_GetFunctionList");
	if (getfl == NULL) {
		kagi_log_err("PKCS#11 module %s: no C_GetFunctionList; not a "
		    "PKCS#11 module", module_path);
		r = KAGI_ERR_INVALID;
		goto out;
	}
	if ((rv = getfl(&h->f)) != CKR_OK || h->f == NULL) {
		r = rv != CKR_OK ? hsm_ckr_err(rv, "C_GetFunctionList") :
		    KAGI_ERR_HSM;
		goto out;
	}
	if (h->f->version.major != 2) {
		kagi_log_err("PKCS#11 module %s: unsupported interface "
		    "version %u.%u", module_path, h->f->version.major,
		    h->f->version.minor);
		r = KAGI_ERR_VERSION;
		goto out;
	}
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	rv = h->f->C_Initialize(&args);
	if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		/* Someone else in this process owns the module's lifetime. */
		kagi_log_debug("PKCS#11 module %s: already initialised",
		    module_path);
		h->finalize = 0;
	} else if (rv != CKR_OK) {
		r = hsm_ckr_err(rv, "C_Initialize");
		goto out;
	} else {
		h->finalize = 1;
	}
	kagi_log_debug("PKCS#11 module %s loaded (cryptoki %u.%u)",
	    module_path, h->f->version.major, h->f->version.minor);
	*out = h;
	h = NULL;
	r = 0;
out:
	hsm_close(h);
	return r;
}

void
hsm_close(struct hsm *h)
{
	if (h == NULL)
		return;
	if (h->f != NULL && h->finalize)
		(void)h->f->C_Finalize(NULL);
	if (h->dl != NULL)
		(void)dlclose(h->dl);
	free(h->path);
	free(h);
}

/* Slots with a token present; *slots is malloc()ed. */
static int
list_slots(struct hsm *h, CK_SLOT_ID **slots, CK_ULONG *n)
{
	CK_SLOT_ID *list = NULL;
	CK_ULONG count = 0;
	CK_RV rv;
	int tries, r = KAGI_ERR_INTERNAL;

	*slots = NULL;
	*n = 0;
	/* The count may change between the two calls (card inserted). */
	for (tries = 0; tries < 3; tries++) {
		free(list);
		list = NULL;
		if ((rv = h->f->C_GetSlotList(CK_TRUE, NULL, &count)) !=
		    CKR_OK) {
			r = hsm_ckr_err(rv, "C_GetSlotList");
			goto out;
		}
		if (count > 4096) {
			kagi_log_err("C_GetSlotList: %lu slots", count);
			r = KAGI_ERR_LIMIT;
			goto out;
		}
		if (count == 0)
			break;
		if ((list = calloc(count, sizeof(*list))) == NULL) {
			r = KAGI_ERR_NOMEM;
			goto out;
		}
		rv = h->f->C_GetSlotList(CK_TRUE, list, &count);
		if (rv == CKR_BUFFER_TOO_SMALL)
			continue;
		if (rv != CKR_OK) {
			r = hsm_ckr_err(rv, "C_GetSlotList");
			goto out;
		}
		break;
	}
	if (tries == 3) {
		r = KAGI_ERR_CONFLICT;
		goto out;
	}
	*slots = list;
	*n = count;
	list = NULL;
	r = 0;
out:
	free(list);
	return r;
}

/*
 * Find the one initialised token matching m.  KAGI_ERR_NOT_FOUND if none,
 * KAGI_ERR_CONFLICT if several match (the configuration must say which).
 */
static int
find_token(struct hsm *h, const struct hsm_token_match *m, CK_SLOT_ID *slot,
    CK_TOKEN_INFO *info)
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0, i;
	CK_TOKEN_INFO ti;
	int found = 0, r = KAGI_ERR_INTERNAL;
	CK_RV rv;

	if ((r = list_slots(h, &slots, &n)) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		memset(&ti, 0, sizeof(ti));
		if ((rv = h->f->C_GetTokenInfo(slots[i], &ti)) != CKR_OK) {
			/* A reader whose card went away: skip it. */
			char b[32];

			kagi_log_debug("C_GetTokenInfo(slot %lu): %s",
			    slots[i], hsm_ckr_name(rv, b, sizeof(b)));
			continue;
		}
		if ((ti.flags & CKF_TOKEN_INITIALIZED) == 0)
			continue;
		if (!hsm_token_match_check(m, slots[i], &ti))
			continue;
		if (found++ == 0) {
			*slot = slots[i];
			if (info != NULL)
				*info = ti;
		}
	}
	if (found == 0) {
		r = KAGI_ERR_NOT_FOUND;
		goto out;
	}
	if (found > 1) {
		kagi_log_err("token selection matches %d tokens; name one by "
		    "serial= or slot-id=", found);
		r = KAGI_ERR_CONFLICT;
		goto out;
	}
	r = 0;
out:
	free(slots);
	return r;
}

/* Label rules for tokens and keys we create: 1..max printable bytes. */
static int
label_ok(const char *label, size_t max)
{
	size_t i, n;

	if (label == NULL || (n = strlen(label)) == 0 || n > max)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)label[i];

		if (c < 0x20 || c == 0x7f)
			return 0;
	}
	/* Trailing blanks would vanish in the padded field. */
	return label[n - 1] != ' ';
}

int
hsm_token_init(struct hsm *h, const char *label, const char *so_pin,
    const char *user_pin)
{
	struct hsm_token_match m;
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0, i;
	CK_SLOT_ID slot = 0, newslot = 0;
	CK_SESSION_HANDLE sh = CK_INVALID_HANDLE;
	CK_UTF8CHAR plabel[HSM_LABEL_LEN];
	CK_TOKEN_INFO ti;
	int found = 0, logged_in = 0, r = KAGI_ERR_INTERNAL;
	CK_RV rv;

	if (h == NULL || so_pin == NULL || user_pin == NULL ||
	    *so_pin == '\0' || *user_pin == '\0')
		return KAGI_ERR_INVALID;
	if (!label_ok(label, HSM_LABEL_LEN)) {
		kagi_log_err("token label must be 1..%d printable bytes",
		    HSM_LABEL_LEN);
		return KAGI_ERR_INVALID;
	}
	memset(&m, 0, sizeof(m));
	memcpy(m.token, label, strlen(label) + 1);
	m.has_token = 1;
	r = find_token(h, &m, &slot, NULL);
	if (r == 0 || r == KAGI_ERR_CONFLICT) {
		kagi_log_err("token \"%s\" exists already", label);
		r = KAGI_ERR_EXISTS;
		goto out;
	}
	if (r != KAGI_ERR_NOT_FOUND)
		goto out;

	/* The first slot whose token is present but not initialised. */
	if ((r = list_slots(h, &slots, &n)) != 0)
		goto out;
	for (i = 0; i < n && !found; i++) {
		memset(&ti, 0, sizeof(ti));
		if (h->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if ((ti.flags & CKF_TOKEN_INITIALIZED) == 0) {
			slot = slots[i];
			found = 1;
		}
	}
	if (!found) {
		kagi_log_err("no slot with an uninitialised token");
		r = KAGI_ERR_NOT_FOUND;
		goto out;
	}
	hsm_padded_set(plabel, sizeof(plabel), label);
	rv = h->f->C_InitToken(slot, (CK_UTF8CHAR_PTR)so_pin,
	    (CK_ULONG)strlen(so_pin), plabel);
	if (rv != CKR_OK) {
		r = hsm_ckr_err(rv, "C_InitToken");
		goto out;
	}
	/*
	 * SoftHSM2 moves a freshly initialised token to a new slot id, so
	 * look it up again by label.
	 */
	if ((r = find_token(h, &m, &newslot, NULL)) != 0) {
		kagi_log_err("token \"%s\" not found after C_InitToken", label);
		goto out;
	}
	rv = h->f->C_OpenSession(newslot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &sh);
	if (rv != CKR_OK) {
		r = hsm_ckr_err(rv, "C_OpenSession");
		goto out;
	}
	if ((rv = h->f->C_Login(sh, CKU_SO, (CK_UTF8CHAR_PTR)so_pin,
	    (CK_ULONG)strlen(so_pin))) != CKR_OK) {
		r = hsm_ckr_err(rv, "C_Login(SO)");
		goto out;
	}
	logged_in = 1;
	if ((rv = h->f->C_InitPIN(sh, (CK_UTF8CHAR_PTR)user_pin,
	    (CK_ULONG)strlen(user_pin))) != CKR_OK) {
		r = hsm_ckr_err(rv, "C_InitPIN");
		goto out;
	}
	kagi_log_info("event=hsm_token_init token=\"%s\" slot=%lu", label,
	    newslot);
	r = 0;
out:
	if (logged_in)
		(void)h->f->C_Logout(sh);
	if (sh != CK_INVALID_HANDLE)
		(void)h->f->C_CloseSession(sh);
	free(slots);
	return r;
}

static void
token_info_fill(CK_SLOT_ID slot, const CK_TOKEN_INFO *ti,
    struct hsm_token_info *o)
{
	size_t n;

	memset(o, 0, sizeof(*o));
	o->slot_id = (unsigned long)slot;
#define COPY(dst, src) do { \
	memcpy(dst, src, sizeof(src)); \
	dst[sizeof(src)] = '\0'; \
	for (n = sizeof(src); n > 0 && (dst[n - 1] == ' ' || \
	    dst[n - 1] == '\0'); n--) \
		dst[n - 1] = '\0'; \
	for (n = 0; dst[n] != '\0'; n++) \
		if ((unsigned char)dst[n] < 0x20 || dst[n] == 0x7f) \
			dst[n] = '?'; \
	} while (0)
	COPY(o->label, ti->label);
	COPY(o->serial, ti->serialNumber);
	COPY(o->manufacturer, ti->manufacturerID);
	COPY(o->model, ti->model);
#undef COPY
	o->initialized = (ti->flags & CKF_TOKEN_INITIALIZED) != 0;
	o->pin_count_low = (ti->flags & CKF_USER_PIN_COUNT_LOW) != 0;
	o->pin_final_try = (ti->flags & CKF_USER_PIN_FINAL_TRY) != 0;
	o->pin_locked = (ti->flags & CKF_USER_PIN_LOCKED) != 0;
}

int
hsm_token_list(struct hsm *h, struct hsm_token_info **out, size_t *n)
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG ns = 0, i;
	CK_TOKEN_INFO ti;
	struct hsm_token_info *list = NULL;
	size_t k = 0;
	int r = KAGI_ERR_INTERNAL;

	if (out == NULL || n == NULL)
		return KAGI_ERR_INVALID;
	*out = NULL;
	*n = 0;
	if (h == NULL)
		return KAGI_ERR_INVALID;
	if ((r = list_slots(h, &slots, &ns)) != 0)
		goto out;
	if ((list = calloc(ns + 1, sizeof(*list))) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < ns; i++) {
		memset(&ti, 0, sizeof(ti));
		if (h->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue; /* the card went away */
		token_info_fill(slots[i], &ti, &list[k++]);
	}
	*out = list;
	*n = k;
	list = NULL;
	r = 0;
out:
	free(list);
	free(slots);
	return r;
}

int
hsm_session_token_info(struct hsm_session *s, struct hsm_token_info *out)
{
	CK_TOKEN_INFO ti;
	CK_RV rv;

	if (out == NULL)
		return KAGI_ERR_INVALID;
	memset(out, 0, sizeof(*out));
	if (s == NULL)
		return KAGI_ERR_INVALID;
	memset(&ti, 0, sizeof(ti));
	if ((rv = s->h->f->C_GetTokenInfo(s->slot, &ti)) != CKR_OK)
		return hsm_ckr_err(rv, "C_GetTokenInfo");
	token_info_fill(s->slot, &ti, out);
	return 0;
}

static int
session_open(struct hsm *h, const char *token, int rw,
    struct hsm_session **out, CK_TOKEN_INFO *tinfo)
{
	struct hsm_session *s = NULL;
	struct hsm_token_match m;
	CK_TOKEN_INFO ti;
	CK_FLAGS fl = CKF_SERIAL_SESSION;
	size_t n;
	CK_RV rv;
	int r = KAGI_ERR_INTERNAL;

	*out = NULL;
	if ((r = hsm_token_match_parse(token, &m)) != 0)
		goto out;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	s->h = h;
	s->sh = CK_INVALID_HANDLE;
	if ((r = find_token(h, &m, &s->slot, &ti)) != 0) {
		if (r == KAGI_ERR_NOT_FOUND)
			kagi_log_err("no initialised token matches the "
			    "configured selection");
		goto out;
	}
	memcpy(s->label, ti.label, HSM_LABEL_LEN);
	s->label[HSM_LABEL_LEN] = '\0';
	for (n = HSM_LABEL_LEN; n > 0 && s->label[n - 1] == ' '; n--)
		s->label[n - 1] = '\0';
	if (rw)
		fl |= CKF_RW_SESSION;
	rv = h->f->C_OpenSession(s->slot, fl, NULL, NULL, &s->sh);
	if (rv != CKR_OK) {
		s->sh = CK_INVALID_HANDLE;
		r = hsm_ckr_err(rv, "C_OpenSession");
		goto out;
	}
	if (tinfo != NULL)
		*tinfo = ti;
	*out = s;
	s = NULL;
	r = 0;
out:
	hsm_session_close(s);
	return r;
}

int
hsm_session_open_public(struct hsm *h, const char *token, int rw,
    struct hsm_session **out)
{
	if (out == NULL)
		return KAGI_ERR_INVALID;
	*out = NULL;
	if (h == NULL)
		return KAGI_ERR_INVALID;
	return session_open(h, token, rw, out, NULL);
}

/*
 * C_Login with the token's flags from before the attempt (ti), so that a
 * CKR_GENERAL_ERROR can be judged by what changed.
 */
static int
session_login(struct hsm_session *s, const char *pin, const CK_TOKEN_INFO *ti)
{
	CK_TOKEN_INFO after;
	CK_RV rv;

	if ((ti->flags & CKF_USER_PIN_LOCKED) != 0) {
		kagi_log_err("token \"%s\": user PIN is locked", s->label);
		return KAGI_ERR_LOCKED;
	}
	rv = s->h->f->C_Login(s->sh, CKU_USER, (CK_UTF8CHAR_PTR)pin,
	    (CK_ULONG)strlen(pin));
	switch (rv) {
	case CKR_OK:
	case CKR_USER_ALREADY_LOGGED_IN:
		return 0;
	case CKR_PIN_INCORRECT:
	case CKR_PIN_LEN_RANGE:
	case CKR_PIN_INVALID:
		/* A PIN of the wrong length is a wrong PIN to the user. */
		(void)hsm_ckr_err(rv, "C_Login");
		kagi_log_warn("event=hsm_login_failed token=\"%s\"", s->label);
		return KAGI_ERR_PIN;
	case CKR_PIN_LOCKED:
		(void)hsm_ckr_err(rv, "C_Login");
		kagi_log_warn("event=hsm_pin_locked token=\"%s\"", s->label);
		return KAGI_ERR_LOCKED;
	case CKR_GENERAL_ERROR:
		/*
		 * OpenSC returns this for some cards' wrong-PIN status words.
		 * Only the token's own flags can tell a wrong PIN from a
		 * broken card: a newly blocked PIN, or retry flags that
		 * appeared or changed with this attempt.
		 */
		(void)hsm_ckr_err(rv, "C_Login");
		memset(&after, 0, sizeof(after));
		if (s->h->f->C_GetTokenInfo(s->slot, &after) != CKR_OK)
			return KAGI_ERR_HSM;
		if ((after.flags & CKF_USER_PIN_LOCKED) != 0) {
			kagi_log_warn("event=hsm_pin_locked token=\"%s\"",
			    s->label);
			return KAGI_ERR_LOCKED;
		}
		if ((after.flags & (CKF_USER_PIN_COUNT_LOW |
		    CKF_USER_PIN_FINAL_TRY)) != (ti->flags &
		    (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY))) {
			kagi_log_warn("event=hsm_login_failed token=\"%s\"",
			    s->label);
			return KAGI_ERR_PIN;
		}
		return KAGI_ERR_HSM;
	default:
		return hsm_ckr_err(rv, "C_Login");
	}
}

int
hsm_session_login(struct hsm_session *s, const char *pin)
{
	CK_TOKEN_INFO ti;
	CK_RV rv;

	if (s == NULL || pin == NULL)
		return KAGI_ERR_INVALID;
	memset(&ti, 0, sizeof(ti));
	if ((rv = s->h->f->C_GetTokenInfo(s->slot, &ti)) != CKR_OK)
		return hsm_ckr_err(rv, "C_GetTokenInfo");
	return session_login(s, pin, &ti);
}

void
hsm_session_logout(struct hsm_session *s)
{
	if (s == NULL || s->sh == CK_INVALID_HANDLE)
		return;
	(void)s->h->f->C_Logout(s->sh);
}

int
hsm_session_open(struct hsm *h, const char *token, const char *pin,
    struct hsm_session **out)
{
	struct hsm_session *s = NULL;
	CK_TOKEN_INFO ti;
	int r = KAGI_ERR_INTERNAL;

	if (out == NULL)
		return KAGI_ERR_INVALID;
	*out = NULL;
	if (h == NULL || pin == NULL)
		return KAGI_ERR_INVALID;
	memset(&ti, 0, sizeof(ti));
	if ((r = session_open(h, token, 1, &s, &ti)) != 0)
		goto out;
	if ((r = session_login(s, pin, &ti)) != 0)
		goto out;
	kagi_log_debug("session open on token \"%s\" (slot %lu)", s->label,
	    s->slot);
	*out = s;
	s = NULL;
	r = 0;
out:
	hsm_session_close(s);
	return r;
}

void
hsm_session_close(struct hsm_session *s)
{
	if (s == NULL)
		return;
	/*
	 * No C_Logout: login state is per token and application, shared by
	 * all our sessions; it ends when the last session closes.
	 */
	if (s->sh != CK_INVALID_HANDLE)
		(void)s->h->f->C_CloseSession(s->sh);
	free(s);
}
