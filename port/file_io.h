/*
 * file_io.h - small POSIX helpers for the files the port writes beside
 * SQLite's (hot journals of its own, a replica's sidecar): whole writes,
 * directory fsyncs, big-endian words, and errors that name the file.
 */
#ifndef LSQ_FILE_IO_H
#define LSQ_FILE_IO_H

#include "errors.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Write all of p[0..n) at off. 0 or -1 (errno). */
int lsq_pwrite_all(int fd, const void *p, size_t n, off_t off);

/* fsync the directory holding path, so that a create, rename, link or
 * unlink in it survives a power cut. 0 or -1 with *err. */
int lsq_sync_dir(const char *path, lsq_error *err);

/* An ioerr naming what failed, the path and errno's text. Returns -1. */
int lsq_io_error(lsq_error *err, const char *what, const char *path);

/* path followed by suffix, malloc'd; NULL when out of memory. */
char *lsq_suffixed(const char *path, const char *suffix);

uint32_t lsq_get_be32(const unsigned char *p);
void lsq_put_be32(unsigned char *p, uint32_t v);

#endif
