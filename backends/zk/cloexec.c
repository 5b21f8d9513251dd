/* cloexec.c — the ZooKeeper C client's descriptors made close-on-exec, so
 * that a program the application forks and execs inherits no session.
 *
 * libzookeeper_mt 3.8.0 as Debian builds it (without SOCK_CLOEXEC_ENABLED)
 * makes two kinds of descriptor without FD_CLOEXEC, inside a handle we
 * cannot look into:
 *   - the pipe that wakes its I/O thread, made in zookeeper_init2(): its
 *     two ends are found right after that returns, as the two non-blocking
 *     pipe ends that were not open before (baton__zk_init; if the application
 *     made another such pipe meanwhile, neither is marked);
 *   - the socket to a server, made by the I/O thread for each connection
 *     attempt: found when the handle reports CONNECTED, before the global
 *     watcher passes that on, as the sockets without FD_CLOEXEC whose peer
 *     is the connected server (baton__zk_cloexec_socket).
 * What is left: a program forked and exec'd by another thread inherits
 *   - the pipe, between its creation and zookeeper_init2()'s return (two
 *     thread starts);
 *   - a socket, between its creation and the CONNECTED notice (the TCP
 *     connect and the session handshake, a round trip or two, at each
 *     reconnection), or for the whole of an attempt that fails.
 * A socket of another ZooKeeper handle of the process (not baton's) to the
 * same server is marked too: no program can use a session's socket after
 * an exec, so that loses nothing.
 * Not done: a pthread_atfork() child handler that would mark them in the
 * child. glibc's posix_spawn(), system() and popen() (and vfork-based
 * spawners) run no atfork handlers, so it would close the windows for
 * some callers only, at the price of a descriptor scan in every child any
 * thread of the application forks. */
#include "zk.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

static bool nonblocking_pipe(int fd, const void *arg) {
  (void)arg;
  struct stat st;
  int fl = fcntl(fd, F_GETFL);
  return fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && fl >= 0 && (fl & O_NONBLOCK) != 0;
}

zhandle_t *baton__zk_init(baton_zk_session *s, watcher_fn watcher, void *ctx) {
  baton_fds before;
  if (baton__fds_begin(&before, BATON_FDS_ZK_HANDLE) != 0) {
    errno = ENOMEM;
    return NULL;
  }
  zhandle_t *zh = zookeeper_init2(s->hosts, watcher, s->timeout_ms, NULL, ctx,
                                  ZOO_NO_LOG_CLIENTENV, baton__zk_log);
  int e = errno;
  baton__fds_end(&before, zh != NULL ? nonblocking_pipe : NULL, NULL, 2);
  errno = e;
  return zh;
}

static bool connected_to(int fd, const void *arg) {
  const struct sockaddr_storage *want = arg;
  struct sockaddr_storage got;
  socklen_t len = sizeof got;
  if (getpeername(fd, (struct sockaddr *)&got, &len) != 0 || got.ss_family != want->ss_family)
    return false;
  if (got.ss_family == AF_INET) {
    const struct sockaddr_in *a = (const void *)&got, *b = (const void *)want;
    return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
  }
  const struct sockaddr_in6 *a = (const void *)&got, *b = (const void *)want;
  return got.ss_family == AF_INET6 && a->sin6_port == b->sin6_port &&
         memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0;
}

void baton__zk_cloexec_socket(zhandle_t *zh) {
  struct sockaddr_storage peer;
  socklen_t len = sizeof peer;
  if (zookeeper_get_connected_host(zh, (struct sockaddr *)&peer, &len) != NULL)
    baton__fds_cloexec(connected_to, &peer);
}
