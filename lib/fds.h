/* fds.h — close-on-exec for descriptors that a client library makes
 * without it and gives us no way to make otherwise: they are found in the
 * process's descriptor table (/proc/self/fd) right after the library call
 * that made them, and marked. For backends (etcd, zk); internal.
 *
 * Marking after the fact leaves a window: a program that another thread
 * forks and execs between the library's call and the marking inherits the
 * descriptor. Each user says how long its window is. Without /proc (a
 * chroot without it) nothing is found, and nothing is marked. */
#ifndef BATON_FDS_H
#define BATON_FDS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* An open descriptor and what it refers to: a number closed and opened
 * again in between refers to another file. */
typedef struct baton_fd {
  int fd;    /* the number */
  dev_t dev; /* st_dev of its file */
  ino_t ino; /* st_ino of its file */
} baton_fd;

/* The descriptors open at one time, by number. */
typedef struct baton_fds {
  baton_fd *fd; /* owned (baton__fds_free); NULL when none */
  size_t n;     /* entries in fd */
  bool read;    /* the table could be read: false without /proc */
} baton_fds;

/* The descriptors open now into *out. Returns 0 (also when the table
 * cannot be read: out->read is false) or BATON_ENOMEM. */
int baton__fds_list(baton_fds *out);
void baton__fds_free(baton_fds *f);

/* Whether fd (open, without FD_CLOEXEC) is one to mark. */
typedef bool (*baton_fd_pick)(int fd, const void *arg);

/* Set FD_CLOEXEC on the open descriptors that lack it, are not in
 * `before` as the same file (NULL: any; a table that was not read: none)
 * and that pick accepts; with `expect` > 0, only when exactly that many
 * qualify (an application thread that opened a descriptor of the same
 * kind meanwhile makes the match ambiguous: then none is marked, rather
 * than one of the application's). At most 8 are marked. Returns how many
 * were. Thread: any, but a descriptor another thread closes and opens
 * again meanwhile may be judged by what it was. */
int baton__fds_cloexec(const baton_fds *before, baton_fd_pick pick, const void *arg,
                       size_t expect);

#endif /* BATON_FDS_H */
