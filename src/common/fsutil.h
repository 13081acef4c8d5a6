/*
 * fsutil.h — small file-system helpers shared by the stores and the key file.
 * Thread-safe (they touch only the paths they are given).
 */
#ifndef SHIMING_COMMON_FSUTIL_H
#define SHIMING_COMMON_FSUTIL_H

#include <stdbool.h>

/* mkdir -p of the directory holding `path`; new directories get mode 0700
 * (they hold keys and identity stores). True if it exists afterwards. */
bool make_parent_dirs(const char *path);

#endif
