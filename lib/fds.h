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

/* What a window's call makes: windows of one kind never overlap; of
 * two kinds they may, as neither's pick takes the other's descriptors. */
typedef enum baton_fds_kind {
  BATON_FDS_CURL_MULTI, /* curl_multi_init(): a Unix socketpair */
  BATON_FDS_ZK_HANDLE,  /* zookeeper_init2(): a pipe */
  BATON_FDS_KINDS
} baton_fds_kind;

/* The descriptors open at one time, by number. */
typedef struct baton_fds {
  baton_fd *fd;        /* owned (baton__fds_end frees it); NULL when none */
  size_t n;            /* entries in fd */
  bool read;           /* the table could be read: false without /proc */
  baton_fds_kind kind; /* the window whose lock is held */
} baton_fds;

/* Whether fd (open, without FD_CLOEXEC) is one to mark. */
typedef bool (*baton_fd_pick)(int fd, const void *arg);

/* A window around one library call that makes descriptors without
 * FD_CLOEXEC: baton__fds_begin() lists what is open, the call is made,
 * and baton__fds_end() marks what it made. The process's windows of one
 * kind never overlap (a lock per kind, held from begin to end): two of
 * our clients making the same kind at once (an etcd conn on each of two
 * threads) would otherwise each find the other's too, and mark neither.
 * A lock is held across the call, so a ZooKeeper handle's (which
 * resolves its host names) delays only another ZooKeeper handle. A child
 * forked meanwhile finds the locks free (pthread_atfork). */

/* Takes kind's lock and lists the descriptors open now into *before.
 * Returns 0 (also when the table cannot be read: before->read is false)
 * or BATON_ENOMEM, without the lock. */
int baton__fds_begin(baton_fds *before, baton_fds_kind kind);

/* Marks the descriptors new since `before` that pick accepts (NULL: the
 * call failed, and made none), only when exactly `expect` (> 0) qualify
 * (an application thread that opened one of the same kind meanwhile
 * makes the match ambiguous: then none is marked, rather than one of the
 * application's); frees before and releases the lock. Returns how many
 * were marked. */
int baton__fds_end(baton_fds *before, baton_fd_pick pick, const void *arg, size_t expect);

/* Set FD_CLOEXEC on every open descriptor that lacks it and that pick
 * accepts, at most 8. Returns how many were marked. For descriptors that
 * can be told apart by what they are (a socket by its peer), not by
 * being new. Thread: any, but a descriptor another thread closes and
 * opens again meanwhile may be judged by what it was. */
int baton__fds_cloexec(baton_fd_pick pick, const void *arg);

#endif /* BATON_FDS_H */
