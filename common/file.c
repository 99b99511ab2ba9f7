/*
 * Safe file I/O (STYLE.md 10): no symlinks in the last component, close on
 * exec, regular files only, size caps, owner and mode checks, atomic replace.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kagi/file.h"
#include "kagi/log.h"
#include "kagi/secmem.h"

static int
errno_to_err(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		return KAGI_ERR_NOT_FOUND;
	case ELOOP:
		return KAGI_ERR_PERM;
	case EACCES:
	case EPERM:
		return KAGI_ERR_DENIED;
	case EEXIST:
		return KAGI_ERR_EXISTS;
	case ENOMEM:
		return KAGI_ERR_NOMEM;
	default:
		return KAGI_ERR_SYSTEM;
	}
}

/* Owner and mode rules of flags for an open file. */
static int
check_stat(const char *path, const struct stat *st, unsigned flags)
{
	uid_t euid = geteuid();
	unsigned mode = (unsigned)(st->st_mode & 07777);

	if (!S_ISREG(st->st_mode)) {
		kagi_log_err("%s: not a regular file", path);
		return KAGI_ERR_PERM;
	}
	if ((flags & KAGI_FILE_SECRET) != 0 &&
	    (st->st_uid != euid || (mode & 077) != 0)) {
		kagi_log_err("%s: unsafe secret file: owner uid %ld, mode %04o "
		    "(must be owned by uid %ld with no group or other access)",
		    path, (long)st->st_uid, mode, (long)euid);
		return KAGI_ERR_PERM;
	}
	if ((flags & KAGI_FILE_CONFIG) != 0 &&
	    ((st->st_uid != 0 && st->st_uid != euid) || (mode & 022) != 0)) {
		kagi_log_err("%s: unsafe configuration file: owner uid %ld, "
		    "mode %04o (must be owned by root or uid %ld and not group "
		    "or world writable)", path, (long)st->st_uid, mode,
		    (long)euid);
		return KAGI_ERR_PERM;
	}
	return 0;
}

static int
open_checked(const char *path, unsigned flags, int *fdp, struct stat *st)
{
	int fd, r, e;

	*fdp = -1;
	if (path == NULL)
		return KAGI_ERR_INTERNAL;
	/* O_NONBLOCK: a FIFO planted at path must not hang us. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		e = errno;
		if (e == ELOOP)
			kagi_log_err("%s: refusing to follow a symbolic link",
			    path);
		else
			kagi_log_debug("%s: open: %s", path, strerror(e));
		return errno_to_err(e);
	}
	if (fstat(fd, st) != 0) {
		kagi_log_err("%s: fstat: %s", path, strerror(errno));
		close(fd);
		return KAGI_ERR_SYSTEM;
	}
	if ((r = check_stat(path, st, flags)) != 0) {
		close(fd);
		return r;
	}
	*fdp = fd;
	return 0;
}

int
kagi_file_check(const char *path, unsigned flags)
{
	struct stat st;
	int fd = -1, r;

	r = open_checked(path, flags, &fd, &st);
	if (fd >= 0)
		close(fd);
	return r;
}

int
kagi_file_read(const char *path, size_t max, unsigned flags, uint8_t **out,
    size_t *len)
{
	struct stat st;
	int fd = -1, r = KAGI_ERR_INTERNAL;
	int secret = (flags & KAGI_FILE_SECRET) != 0;
	uint8_t *buf = NULL;
	size_t size, got = 0;
	ssize_t n;
	uint8_t extra;

	if (out == NULL || len == NULL)
		return KAGI_ERR_INTERNAL;
	*out = NULL;
	*len = 0;
	if ((r = open_checked(path, flags, &fd, &st)) != 0)
		goto out;
	if (st.st_size < 0 || (uintmax_t)st.st_size > (uintmax_t)max ||
	    max >= SIZE_MAX) {
		kagi_log_err("%s: file too large (%jd bytes, limit %zu)", path,
		    (intmax_t)st.st_size, max);
		r = KAGI_ERR_LIMIT;
		goto out;
	}
	size = (size_t)st.st_size;
	buf = secret ? kagi_secure_alloc(size + 1) : malloc(size + 1);
	if (buf == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	while (got < size) {
		n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			kagi_log_err("%s: read: %s", path, strerror(errno));
			r = KAGI_ERR_SYSTEM;
			goto out;
		}
		if (n == 0)
			break; /* shrank while reading: take what is there */
		got += (size_t)n;
	}
	/* Grew while reading: refuse rather than return a torn read. */
	do
		n = read(fd, &extra, 1);
	while (n < 0 && errno == EINTR);
	if (n != 0) {
		kagi_log_err("%s: file changed while reading", path);
		r = n > 0 ? KAGI_ERR_LIMIT : KAGI_ERR_SYSTEM;
		goto out;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
	r = 0;
out:
	if (buf != NULL) {
		if (secret)
			kagi_secure_free(buf, size + 1);
		else
			free(buf);
	}
	if (fd >= 0)
		close(fd);
	return r;
}

static int
write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
fsync_dir(const char *path)
{
	char *dir;
	int fd, r = 0;

	if ((dir = kagi_path_dirname(path)) == NULL)
		return KAGI_ERR_NOMEM;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0) {
		kagi_log_err("%s: fsync of directory: %s", dir,
		    strerror(errno));
		r = KAGI_ERR_SYSTEM;
	}
	if (fd >= 0)
		close(fd);
	free(dir);
	return r;
}

int
kagi_file_write_atomic(const char *path, const void *data, size_t len,
    mode_t mode)
{
	char *dir = NULL, *tmp = NULL;
	char *base_copy = NULL;
	const char *base;
	size_t n;
	int fd = -1, r = KAGI_ERR_INTERNAL;

	if (path == NULL || (data == NULL && len != 0))
		return KAGI_ERR_INTERNAL;
	if ((dir = kagi_path_dirname(path)) == NULL ||
	    (base_copy = strdup(path)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	base = basename(base_copy);
	n = strlen(dir) + strlen(base) + 16;
	if ((tmp = malloc(n)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	snprintf(tmp, n, "%s/.%s.XXXXXX", dir, base);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		r = errno_to_err(errno);
		kagi_log_err("%s: cannot create temporary file: %s", path,
		    strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 ||
	    fsync(fd) != 0) {
		kagi_log_err("%s: write: %s", tmp, strerror(errno));
		r = KAGI_ERR_SYSTEM;
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		kagi_log_err("%s: close: %s", tmp, strerror(errno));
		r = KAGI_ERR_SYSTEM;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		kagi_log_err("%s: rename: %s", path, strerror(errno));
		r = errno_to_err(errno);
		goto out;
	}
	free(tmp);
	tmp = NULL; /* renamed: nothing to clean up */
	r = fsync_dir(path);
out:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL) {
		(void)unlink(tmp);
		free(tmp);
	}
	free(base_copy);
	free(dir);
	return r;
}

int
kagi_file_write_new(const char *path, const void *data, size_t len,
    mode_t mode)
{
	int fd = -1, r = KAGI_ERR_INTERNAL, created = 0;

	if (path == NULL || (data == NULL && len != 0))
		return KAGI_ERR_INTERNAL;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    mode);
	if (fd < 0) {
		r = errno_to_err(errno);
		if (r != KAGI_ERR_EXISTS)
			kagi_log_err("%s: create: %s", path, strerror(errno));
		goto out;
	}
	created = 1;
	if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 ||
	    fsync(fd) != 0) {
		kagi_log_err("%s: write: %s", path, strerror(errno));
		r = KAGI_ERR_SYSTEM;
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		kagi_log_err("%s: close: %s", path, strerror(errno));
		r = KAGI_ERR_SYSTEM;
		goto out;
	}
	fd = -1;
	if ((r = fsync_dir(path)) != 0)
		goto out;
	created = 0;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (created)
		(void)unlink(path);
	return r;
}

int
kagi_mkdir_p(const char *path, mode_t mode)
{
	struct stat st;
	char *p = NULL, *s;
	int r = KAGI_ERR_INTERNAL, last;

	if (path == NULL || *path == '\0')
		return KAGI_ERR_INVALID;
	if ((p = strdup(path)) == NULL)
		return KAGI_ERR_NOMEM;
	s = p;
	for (;;) {
		while (*s == '/')
			s++;
		while (*s != '\0' && *s != '/')
			s++;
		last = *s == '\0';
		*s = '\0';
		if (mkdir(p, mode) != 0) {
			if (errno != EEXIST) {
				kagi_log_err("%s: mkdir: %s", p,
				    strerror(errno));
				r = errno_to_err(errno);
				goto out;
			}
			if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
				kagi_log_err("%s: exists and is not a "
				    "directory", p);
				r = KAGI_ERR_EXISTS;
				goto out;
			}
		}
		if (last)
			break;
		*s = '/';
		while (*s == '/')
			s++;
		if (*s == '\0')
			break;
	}
	r = 0;
out:
	free(p);
	return r;
}

char *
kagi_path_join(const char *dir, const char *path)
{
	size_t dl, pl;
	char *s;

	if (path == NULL)
		return NULL;
	if (path[0] == '/' || dir == NULL || dir[0] == '\0')
		return strdup(path);
	dl = strlen(dir);
	while (dl > 1 && dir[dl - 1] == '/')
		dl--;
	pl = strlen(path);
	if ((s = malloc(dl + pl + 2)) == NULL)
		return NULL;
	memcpy(s, dir, dl);
	if (dir[dl - 1] != '/')
		s[dl++] = '/';
	memcpy(s + dl, path, pl + 1);
	return s;
}

char *
kagi_path_dirname(const char *path)
{
	char *copy, *d, *res;

	if (path == NULL || (copy = strdup(path)) == NULL)
		return NULL;
	d = dirname(copy);
	res = strdup(d);
	free(copy);
	return res;
}
