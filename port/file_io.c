/*
 * file_io.c - POSIX helpers (file_io.h).
 */
#include "file_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int lsq_pwrite_all(int fd, const void *p, size_t n, off_t off)
{
    const unsigned char *b = p;

    while (n > 0) {
        ssize_t w = pwrite(fd, b, n, off);

        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        b += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

int lsq_io_error(lsq_error *err, const char *what, const char *path)
{
    lsq_error_set(err, LSQ_E_IOERR, "%s %s: %s", what, path, strerror(errno));
    return -1;
}

char *lsq_suffixed(const char *path, const char *suffix)
{
    size_t n = strlen(path), k = strlen(suffix);
    char *z = malloc(n + k + 1);

    if (z == NULL) return NULL;
    memcpy(z, path, n);
    memcpy(z + n, suffix, k + 1);
    return z;
}

int lsq_sync_dir(const char *path, lsq_error *err)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);
    char *dir = malloc(n + 2);
    int fd, rc;

    if (dir == NULL) {
        lsq_error_set(err, LSQ_E_NOMEM, "out of memory");
        return -1;
    }
    if (slash == NULL) strcpy(dir, ".");
    else {
        memcpy(dir, path, n);
        dir[n] = 0;
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    rc = fd < 0 || fsync(fd) != 0 ? lsq_io_error(err, "sync of directory", dir) : 0;
    if (fd >= 0) (void)close(fd);
    free(dir);
    return rc;
}

uint32_t lsq_get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void lsq_put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}
