/*
 * PIN files: the only way a PIN reaches kagid or a tool without a person
 * typing it.  Mode 0600 owned by the effective user, no symlink, one line of
 * at most 64 bytes (HSM_PIN_MAX).  The PIN is kept in secure memory.
 */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hsm_int.h"
#include "kagi/file.h"
#include "kagi/log.h"
#include "kagi/secmem.h"

#define HSM_PIN_MAX 64

/* Say in the log why kagi_file_read refused the file (mode, owner, type). */
static void
log_perm(const char *path)
{
	struct stat st;

	if (lstat(path, &st) != 0) {
		kagi_log_err("PIN file %s: refused (unsafe file)", path);
		return;
	}
	if (S_ISLNK(st.st_mode))
		kagi_log_err("PIN file %s: is a symbolic link; refused", path);
	else if (!S_ISREG(st.st_mode))
		kagi_log_err("PIN file %s: not a regular file; refused", path);
	else
		kagi_log_err("PIN file %s: mode %04o owner uid %lu; need mode "
		    "0600 (no group/other bits) owned by uid %lu", path,
		    (unsigned)(st.st_mode & 07777), (unsigned long)st.st_uid,
		    (unsigned long)geteuid());
}

int
hsm_pin_read(const char *path, char **pin)
{
	uint8_t *buf = NULL;
	size_t len = 0, n, i;
	char *p = NULL;
	int r = KAGI_ERR_INTERNAL;

	if (pin == NULL)
		return KAGI_ERR_INVALID;
	*pin = NULL;
	if (path == NULL)
		return KAGI_ERR_INVALID;
	/* 64 bytes of PIN plus one newline. */
	r = kagi_file_read(path, HSM_PIN_MAX + 1, KAGI_FILE_SECRET, &buf, &len);
	if (r != 0) {
		if (r == KAGI_ERR_PERM)
			log_perm(path);
		else if (r == KAGI_ERR_LIMIT)
			kagi_log_err("PIN file %s: longer than %d bytes", path,
			    HSM_PIN_MAX);
		else if (r == KAGI_ERR_NOT_FOUND)
			kagi_log_err("PIN file %s: no such file", path);
		buf = NULL; /* not ours on failure */
		len = 0;
		goto out;
	}
	n = len;
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n == 0) {
		kagi_log_err("PIN file %s: empty", path);
		r = KAGI_ERR_INVALID;
		goto out;
	}
	if (n > HSM_PIN_MAX) {
		kagi_log_err("PIN file %s: longer than %d bytes", path,
		    HSM_PIN_MAX);
		r = KAGI_ERR_LIMIT;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (buf[i] == '\0' || buf[i] == '\n' || buf[i] == '\r') {
			kagi_log_err("PIN file %s: more than one line or a NUL "
			    "byte", path);
			r = KAGI_ERR_FORMAT;
			goto out;
		}
	}
	buf[n] = '\0';
	if ((p = kagi_secure_strdup((const char *)buf)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	*pin = p;
	r = 0;
out:
	if (buf != NULL)
		kagi_secure_free(buf, len + 1);
	return r;
}
