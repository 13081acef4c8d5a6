/*
 * fsutil.h — small file-system helpers shared by the stores and the key file.
 * Thread-safe (they touch only the paths they are given).
 */
#ifndef SHIMING_COMMON_FSUTIL_H
#define SHIMING_COMMON_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>

/* mkdir -p of the directory holding `path`; new directories get mode 0700
 * (they hold keys and identity stores). True if it exists afterwards. */
bool make_parent_dirs(const char *path);

/* Create key file `path` (mode 0600, parent directories 0700) holding
 * data[0..len), atomically and never over an existing file: the bytes go
 * to a temporary file beside it, are fsynced, then linked into place (a
 * rename where hard links are not supported), and the directory is
 * fsynced. 1 created; 0 a file was there already (another process won the
 * race; nothing written); -1 error, with a message naming the key file in
 * err. */
int create_private_file(const char *path, const void *data, size_t len, char *err, size_t errlen);

/* The whole of file `path` (an image, say), malloc'ed, its size in *len;
 * the caller zeroes and frees it. NULL with errno set: the open's error,
 * EFBIG over `max` bytes, ENOMEM, EIO. Buffers given up while growing are
 * zeroed (the content may be identity data). */
unsigned char *read_whole_file(const char *path, size_t max, size_t *len);

#endif
