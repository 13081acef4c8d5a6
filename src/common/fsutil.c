/*
 * fsutil.c — see fsutil.h. Must never create anything readable by others,
 * or replace a key file that exists.
 */
#include "common/fsutil.h"

#include <openssl/crypto.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errbuf.h"

bool make_parent_dirs(const char *path)
{
    char dir[PATH_MAX];
    size_t len = strlen(path);
    if (len >= sizeof dir)
        return false;
    memcpy(dir, path, len + 1);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return true; /* the current directory, or "/" */
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return false;
        *p = '/';
    }
    return mkdir(dir, 0700) == 0 || errno == EEXIST;
}

/* fsync the directory holding `path`, so that a new name in it survives a
 * crash (best effort). */
static void fsync_parent(const char *path)
{
    char dir[PATH_MAX];
    size_t len = strlen(path);
    if (len >= sizeof dir)
        return;
    memcpy(dir, path, len + 1);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int create_private_file(const char *path, const void *data, size_t len, char *err, size_t errlen)
{
    if (!make_parent_dirs(path)) {
        set_err(err, errlen, "cannot create the directory of key file '%s': %s", path,
                strerror(errno));
        return -1;
    }
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= sizeof tmp) {
        set_err(err, errlen, "key file path '%s' is too long", path);
        return -1;
    }
    int fd = mkstemp(tmp); /* mode 0600 */
    if (fd < 0) {
        set_err(err, errlen, "cannot create key file '%s': %s", path, strerror(errno));
        return -1;
    }
    const char *bytes = data;
    bool ok = fchmod(fd, 0600) == 0;
    size_t done = 0;
    while (ok && done < len) {
        ssize_t n = write(fd, bytes + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            ok = false;
        else
            done += (size_t)n;
    }
    ok = ok && fsync(fd) == 0;
    int e = errno;
    ok = (close(fd) == 0) && ok;
    if (!ok) {
        unlink(tmp);
        set_err(err, errlen, "cannot write key file '%s': %s", path, strerror(e));
        return -1;
    }
    /* link() fails with EEXIST instead of replacing a file another process
     * created meanwhile; rename() is the fallback where hard links are not
     * supported. */
    int rc = 1;
    if (link(tmp, path) != 0) {
        e = errno;
        if (e == EEXIST) {
            rc = 0;
        } else if ((e == EPERM || e == ENOTSUP || e == ENOSYS) && access(path, F_OK) != 0 &&
                   rename(tmp, path) == 0) {
            fsync_parent(path);
            return 1;
        } else {
            set_err(err, errlen, "cannot create key file '%s': %s", path, strerror(e));
            rc = -1;
        }
    }
    unlink(tmp);
    if (rc == 1)
        fsync_parent(path);
    return rc;
}

unsigned char *read_whole_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;
    int e = 0;
    for (;;) {
        if (n == cap) {
            /* One byte past max tells "over max" from "exactly max". */
            size_t ncap = cap ? cap * 2 : (size_t)1 << 16;
            if (ncap > max + 1)
                ncap = max + 1;
            if (ncap <= cap) {
                e = EFBIG;
                break;
            }
            unsigned char *nb = malloc(ncap);
            if (nb == NULL) {
                e = ENOMEM;
                break;
            }
            if (buf != NULL) {
                memcpy(nb, buf, n);
                OPENSSL_cleanse(buf, cap);
                free(buf);
            }
            buf = nb;
            cap = ncap;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    if (e == 0 && ferror(f))
        e = EIO;
    if (e == 0 && n > max)
        e = EFBIG;
    fclose(f);
    if (e != 0) {
        if (buf != NULL)
            OPENSSL_cleanse(buf, cap);
        free(buf);
        errno = e;
        return NULL;
    }
    *len = n;
    return buf;
}
