/*
 * Safe file I/O: no symlinks (O_NOFOLLOW), close-on-exec, size caps, mode and
 * owner checks, atomic replace (temp file, fsync, rename, fsync dir).
 */
#ifndef KAGI_FILE_H
#define KAGI_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kagi/err.h"

/* Flags for kagi_file_read / kagi_file_check. */
#define KAGI_FILE_SECRET 0x1u  /* owner = euid, no group/other access at all */
#define KAGI_FILE_CONFIG 0x2u  /* owner root or euid, not group/other writable */

/*
 * Read a whole regular file of at most max bytes.  With KAGI_FILE_SECRET the
 * result is in secure memory (free with kagi_secure_free(p, len + 1)); else
 * free().  The buffer is always NUL-terminated (not counted in *len).
 * Errors: KAGI_ERR_NOT_FOUND, KAGI_ERR_PERM (mode/owner/symlink/not regular),
 * KAGI_ERR_LIMIT (too large), KAGI_ERR_SYSTEM.
 */
int kagi_file_read(const char *path, size_t max, unsigned flags,
    uint8_t **out, size_t *len) KAGI_WUR;
/* Check mode and owner of an existing file as kagi_file_read would. */
int kagi_file_check(const char *path, unsigned flags) KAGI_WUR;
/* Replace path atomically with data, created with mode. */
int kagi_file_write_atomic(const char *path, const void *data, size_t len,
    mode_t mode) KAGI_WUR;
/* Create a new file (O_EXCL) with mode; KAGI_ERR_EXISTS if present. */
int kagi_file_write_new(const char *path, const void *data, size_t len,
    mode_t mode) KAGI_WUR;
/* mkdir -p with mode for created components; existing dirs are kept. */
int kagi_mkdir_p(const char *path, mode_t mode) KAGI_WUR;
/* Join dir and a relative path (an absolute path is returned as is). */
char *kagi_path_join(const char *dir, const char *path);
/* Directory part of path (new string). */
char *kagi_path_dirname(const char *path);

#endif
