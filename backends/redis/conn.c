/* conn.c — one connection to Redis: connecting and logging in within a
 * bound, and pipelined requests whose every byte goes out and comes back by
 * a deadline.
 *
 * hiredis formats commands and parses replies; the socket is made here
 * (close-on-exec, see dial) and its I/O is done here with poll() on a
 * non-blocking socket, for two reasons. A socket timeout (redisSetTimeout)
 * bounds each read, not the request, so a server that trickles bytes could
 * hold a caller past its deadline. And hiredis 0.14 writes with write(2),
 * which raises SIGPIPE in the caller's process when the server has gone;
 * send() with MSG_NOSIGNAL does not. */
#include "redis.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* How long a connection may sit unused before a request checks that the
 * server has not closed it. A restart cannot happen within this bound (the
 * new server takes longer to start), so after one the check always runs;
 * and it costs at most one poll() per bound on a connection in steady use. */
#define BATON_REDIS_IDLE_CHECK_NS BATON_NS_PER_MS

/* Wait until fd is ready for `events` or the deadline passes. What is ready
 * already counts even at the deadline: poll() with a zero timeout says so. */
static int wait_fd(int fd, short events, int64_t deadline) {
  for (;;) {
    struct pollfd p = {.fd = fd, .events = events};
    int n = poll(&p, 1, baton__ms_until(deadline));
    if (n > 0) return 0;
    if (n < 0 && errno != EINTR) return BATON_ECONNECT;
    if (baton__now() >= deadline) return BATON_ETIMEDOUT;
  }
}

static int io_error(const baton_redis_session *s, int code, const char *what, const char *detail,
                    baton_error *err) {
  if (code == BATON_ETIMEDOUT)
    return baton__error(err, code, "%s: %s: no reply by the deadline", s->label, what);
  return baton__error(err, code, "%s: %s: %s", s->label, what, detail);
}

/* Format the commands into one buffer (owned by the caller). */
static int format(char **out, size_t *out_len, const baton_redis_cmd *cmds, size_t n) {
  char *buf = NULL;
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    char *one = NULL;
    int l = redisFormatCommandArgv(&one, cmds[i].argc, cmds[i].argv, NULL);
    if (l < 0) {
      baton__free(buf);
      return BATON_ENOMEM;
    }
    char *grown = baton__realloc(buf, len + (size_t)l);
    if (grown == NULL) {
      redisFreeCommand(one);
      baton__free(buf);
      return BATON_ENOMEM;
    }
    buf = grown;
    memcpy(buf + len, one, (size_t)l);
    len += (size_t)l;
    redisFreeCommand(one);
  }
  *out = buf;
  *out_len = len;
  return 0;
}

static int send_all(redisContext *ctx, const baton_redis_session *s, const char *buf, size_t len,
                    int64_t deadline, const char *what, baton_error *err) {
  size_t off = 0;
  while (off < len) {
    ssize_t n = send(ctx->fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      off += (size_t)n;
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      return io_error(s, BATON_ECONNECT, what, strerror(errno), err);
    int rc = wait_fd(ctx->fd, POLLOUT, deadline);
    if (rc != 0) return io_error(s, rc, what, "poll failed", err);
  }
  return 0;
}

#define BATON_REDIS_FEED_MAX 16384 /* bytes one read takes at the most */

/* Feed the reader with what the socket holds now. > 0: the bytes read; 0:
 * none yet; < 0: the connection is gone (errno tells why, 0 for end of
 * file). */
static ssize_t feed(redisContext *ctx) {
  char buf[BATON_REDIS_FEED_MAX];
  for (;;) {
    ssize_t n = recv(ctx->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) return redisReaderFeed(ctx->reader, buf, (size_t)n) == REDIS_OK ? n : -1;
    if (n == 0) {
      errno = 0;
      return -1;
    }
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
  }
}

/* Reads one read_ready takes at the most (1 MiB): a subscriber flooded
 * with messages still returns to its caller. */
#define BATON_REDIS_READY_READS 64

int baton__redis_read_ready(redisContext *ctx) {
  for (int i = 0; i < BATON_REDIS_READY_READS; i++) {
    ssize_t got = feed(ctx);
    if (got < 0) return BATON_ECONNECT;
    if (got == 0) return 0;
  }
  return 0; /* plenty for now; the rest stays readable */
}

int baton__redis_recv(redisContext *ctx, const baton_redis_session *s, redisReply **out,
                      int64_t deadline, const char *what, baton_error *err) {
  *out = NULL;
  /* A reply is a round trip away, so a read before waiting would mostly
   * find nothing: wait first, except after a read that filled the buffer,
   * when more is likely there already. Past the deadline one more read
   * takes what the socket holds (a reply that came in time but was read
   * late counts), and then the wait is over. */
  bool more = false, late = false;
  for (;;) {
    void *reply = NULL;
    if (redisReaderGetReply(ctx->reader, &reply) != REDIS_OK)
      return baton__error(err, BATON_EPROTO, "%s: %s: malformed reply (%s)", s->label, what,
                          ctx->reader->errstr);
    if (reply != NULL) {
      *out = reply;
      return 0;
    }
    if (late) return io_error(s, BATON_ETIMEDOUT, what, "", err);
    if (!more) {
      int rc = wait_fd(ctx->fd, POLLIN, deadline);
      if (rc != 0) return io_error(s, rc, what, "poll failed", err);
    }
    late = baton__now() >= deadline;
    ssize_t got = feed(ctx);
    if (got < 0)
      return io_error(s, BATON_ECONNECT, what,
                      errno != 0 ? strerror(errno) : "the server closed the connection", err);
    more = got == BATON_REDIS_FEED_MAX;
  }
}

int baton__redis_send(redisContext *ctx, const baton_redis_session *s, const baton_redis_cmd *cmds,
                      size_t ncmds, int64_t deadline, const char *what, baton_error *err) {
  if (baton__now() >= deadline) return io_error(s, BATON_ETIMEDOUT, what, "", err);
  char *buf;
  size_t len;
  if (format(&buf, &len, cmds, ncmds) != 0)
    return baton__error(err, BATON_ENOMEM, "%s: %s: out of memory", s->label, what);
  int rc = send_all(ctx, s, buf, len, deadline, what, err);
  baton__free(buf);
  return rc;
}

int baton__redis_call(redisContext *ctx, const baton_redis_session *s, const baton_redis_cmd *cmds,
                      size_t ncmds, redisReply **replies, size_t nreplies,
                      int64_t deadline, const char *what, baton_error *err) {
  for (size_t i = 0; i < nreplies; i++) replies[i] = NULL;
  int rc = baton__redis_send(ctx, s, cmds, ncmds, deadline, what, err);
  for (size_t i = 0; rc == 0 && i < nreplies; i++)
    rc = baton__redis_recv(ctx, s, &replies[i], deadline, what, err);
  if (rc != 0)
    for (size_t i = 0; i < nreplies; i++) {
      if (replies[i] != NULL) freeReplyObject(replies[i]);
      replies[i] = NULL;
    }
  return rc;
}

static bool has_prefix(const redisReply *r, const char *prefix) {
  return r->str != NULL && strncmp(r->str, prefix, strlen(prefix)) == 0;
}

/* Bytes of a server's error text a message quotes. */
#define BATON_REDIS_QUOTE_MAX 160

int baton__redis_reply_error(const baton_redis_session *s, const redisReply *r, const char *what,
                             baton_error *err) {
  int code = BATON_EREFUSED;
  if (has_prefix(r, "NOAUTH") || has_prefix(r, "WRONGPASS") || has_prefix(r, "NOPERM"))
    code = BATON_EAUTH;
  else if (has_prefix(r, "LOADING") || has_prefix(r, "BUSY") || has_prefix(r, "MASTERDOWN") ||
           has_prefix(r, "TRYAGAIN"))
    code = BATON_ECONNECT; /* the server cannot serve yet: worth a retry */
  return baton__error(err, code, "%s: %s: %.*s", s->label, what,
                      (int)(r->len < BATON_REDIS_QUOTE_MAX ? r->len : BATON_REDIS_QUOTE_MAX),
                      r->str != NULL ? r->str : "");
}

int baton__redis_bad_reply(const baton_redis_session *s, const char *what, baton_error *err) {
  return baton__error(err, BATON_EPROTO, "%s: %s: unexpected reply", s->label, what);
}

/* The error for a failed log-in step; the message never shows the password. */
static int log_in_error(const baton_redis_session *s, const char *cmd, const redisReply *r,
                        baton_error *err) {
  int len = (int)(r->len < BATON_REDIS_QUOTE_MAX ? r->len : BATON_REDIS_QUOTE_MAX);
  const char *text = r->str != NULL ? r->str : "";
  if (strcmp(cmd, "AUTH") == 0)
    return baton__error(err, BATON_EAUTH, "%s: AUTH%s%.64s%s failed: %.*s", s->label,
                        s->user ? " as user '" : "", s->user ? s->user : "",
                        s->user ? "'" : "", len, text);
  if (strcmp(cmd, "SELECT") == 0)
    return baton__error(err, BATON_EINVAL, "%s: SELECT %ld (the URI's database): %.*s",
                        s->label, s->db, len, text);
  if (strncmp(text, "NOAUTH", 6) == 0)
    return baton__error(err, BATON_EAUTH,
                        "%s: the server requires a password (give it in the URI or the "
                        "options)", s->label);
  return baton__redis_reply_error(s, r, cmd, err);
}

/* AUTH, SELECT and PING in one round trip. The replies are checked in
 * order, so the first failure (a wrong password, most often) is reported. */
static int log_in(redisContext *ctx, const baton_redis_session *s, int64_t bound, bool by_deadline,
                  baton_error *err) {
  char db[24];
  snprintf(db, sizeof db, "%ld", s->db);
  const char *auth_user[] = {"AUTH", s->user, s->password};
  const char *auth[] = {"AUTH", s->password};
  const char *sel[] = {"SELECT", db};
  const char *ping[] = {"PING"};
  baton_redis_cmd cmds[3];
  size_t n = 0;
  if (s->password != NULL)
    cmds[n++] = s->user != NULL ? (baton_redis_cmd){3, auth_user} : (baton_redis_cmd){2, auth};
  if (s->db != 0) cmds[n++] = (baton_redis_cmd){2, sel};
  cmds[n++] = (baton_redis_cmd){1, ping};
  redisReply *r[3];
  int rc = baton__redis_call(ctx, s, cmds, n, r, n, bound, "log in", err);
  if (rc == BATON_ETIMEDOUT && !by_deadline)
    return baton__error(err, BATON_ECONNECT,
                        "%s: connected, but no answer to log in within the connect timeout",
                        s->label);
  if (rc != 0) return rc;
  for (size_t i = 0; i < n && rc == 0; i++) {
    const char *cmd = cmds[i].argv[0];
    if (r[i]->type == REDIS_REPLY_ERROR)
      rc = log_in_error(s, cmd, r[i], err);
    else if (strcmp(cmd, "PING") == 0 &&
             !(r[i]->type == REDIS_REPLY_STATUS && r[i]->str != NULL &&
               strcmp(r[i]->str, "PONG") == 0))
      rc = baton__error(err, BATON_EPROTO, "%s: PING: unexpected reply (is this Redis?)",
                        s->label);
  }
  for (size_t i = 0; i < n; i++) freeReplyObject(r[i]);
  return rc;
}

/* Connect to one address by `bound`: the socket, or -1 with *why set to
 * the errno that says why (ETIMEDOUT when the bound passed first). */
static int connect_one(const struct addrinfo *a, int64_t bound, int *why) {
  int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
  if (fd < 0) {
    *why = errno;
    return -1;
  }
  int e = connect(fd, a->ai_addr, a->ai_addrlen) == 0 ? 0 : errno;
  if (e == EINPROGRESS) {
    socklen_t len = sizeof e;
    int rc = wait_fd(fd, POLLOUT, bound);
    if (rc != 0) e = rc == BATON_ETIMEDOUT ? ETIMEDOUT : EIO;
    else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0) e = errno;
  }
  if (e != 0) {
    close(fd);
    *why = e;
    return -1;
  }
  int one = 1;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* as hiredis does */
  return fd;
}

/* The TCP connection to the session's server, made here rather than by
 * hiredis so that the socket is close-on-exec from its creation on:
 * hiredis 0.14 makes it without SOCK_CLOEXEC, and a program that another
 * thread forks and execs meanwhile would inherit the logged-in connection.
 * Addresses in hiredis's order (IPv4, then IPv6 when the name has no IPv4
 * address); the next one is tried while time is left. Returns the
 * non-blocking socket, or -1 with `why` (the text hiredis would give). */
static int dial(const baton_redis_session *s, int64_t bound, char *why, size_t size) {
  char port[8], moved[256];
  const char *host = s->host;
  int portn = s->port;
  if (s->locate != NULL) {
    s->locate(s, moved, sizeof moved, &portn);
    host = moved;
  }
  snprintf(port, sizeof port, "%d", portn);
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *list = NULL;
  int rc = getaddrinfo(host, port, &hints, &list);
  if (rc != 0) {
    hints.ai_family = AF_INET6;
    rc = getaddrinfo(host, port, &hints, &list);
  }
  if (rc != 0) {
    snprintf(why, size, "%s", rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    return -1;
  }
  int fd = -1, e = EHOSTUNREACH;
  for (const struct addrinfo *a = list; a != NULL && fd < 0; a = a->ai_next)
    if (a == list || baton__now() < bound) fd = connect_one(a, bound, &e);
  freeaddrinfo(list);
  if (fd < 0) snprintf(why, size, "%s", strerror(e));
  return fd;
}

int baton__redis_connect(redisContext **out, const baton_redis_session *s, int64_t deadline,
                         baton_error *err) {
  *out = NULL;
  int64_t now = baton__now();
  int64_t bound = now + s->base.cfg->connect_timeout_ns;
  bool by_deadline = deadline <= bound;
  if (by_deadline) bound = deadline;
  if (bound <= now)
    return baton__error(err, BATON_ETIMEDOUT, "%s: connect: no time left before the deadline",
                        s->label);
  char why[128];
  int fd = dial(s, bound, why, sizeof why);
  if (fd < 0) {
    int code = by_deadline && baton__now() >= bound ? BATON_ETIMEDOUT : BATON_ECONNECT;
    return baton__error(err, code, "%s: connect: %s", s->label, why);
  }
  redisContext *ctx = redisConnectFd(fd);
  if (ctx == NULL) {
    close(fd);
    return baton__error(err, BATON_ENOMEM, "%s: connect: out of memory", s->label);
  }
  /* Notices a peer that vanished without a word (a subscriber may stay
   * idle for long); failure only loses that early notice. */
  (void)redisEnableKeepAlive(ctx);
  int rc = log_in(ctx, s, bound, by_deadline, err);
  if (rc != 0) {
    redisFree(ctx);
    return rc;
  }
  *out = ctx;
  return 0;
}

/* Whether an idle connection is still fit: Redis sends nothing unasked on a
 * command connection, so anything readable is the end of file (the server
 * restarted) or an error. Checking first spares the caller a failed
 * request after a restart. */
static bool idle_fit(redisContext *ctx) {
  struct pollfd p = {.fd = ctx->fd, .events = POLLIN};
  return poll(&p, 1, 0) == 0;
}

void baton__redis_conn_drop(baton_redis_conn *k) {
  if (k->ctx != NULL) {
    redisFree(k->ctx);
    k->lost = true;
  }
  k->ctx = NULL;
}

void baton__redis_conn_failed(const baton_redis_session *s, baton_redis_conn *k,
                              const baton_error *why) {
  /* The error's message names the server already. */
  if (k->ctx != NULL && why != NULL && why->message[0] != '\0')
    baton__log(s->base.cfg, BATON_LOG_WARN, "%s; connection dropped", why->message);
  else if (k->ctx != NULL)
    baton__log(s->base.cfg, BATON_LOG_WARN, "%s: connection dropped", s->label);
  baton__redis_conn_drop(k);
}

int baton__redis_conn_ready(baton_redis_session *s, baton_redis_conn *k, int64_t deadline,
                            baton_error *err) {
  if (k->ctx != NULL && baton__now() - k->used > BATON_REDIS_IDLE_CHECK_NS && !idle_fit(k->ctx)) {
    baton__log(s->base.cfg, BATON_LOG_INFO,
               "%s: an idle connection was closed by the server (a restart?)", s->label);
    baton__redis_conn_drop(k);
  }
  if (k->ctx != NULL) return 0;
  int rc = baton__redis_connect(&k->ctx, s, deadline, err);
  if (rc == 0 && k->lost) {
    baton__log(s->base.cfg, BATON_LOG_INFO, "%s: reconnected", s->label);
    k->lost = false;
  }
  return rc;
}

int baton__redis_request(baton_redis_session *s, baton_redis_conn *k, const baton_redis_cmd *cmds,
                         size_t ncmds, redisReply **replies, int64_t deadline,
                         const char *what, baton_error *err) {
  /* Nothing was sent: the connection stays as good as it was. */
  if (baton__now() >= deadline) return io_error(s, BATON_ETIMEDOUT, what, "", err);
  pthread_mutex_lock(&k->mu);
  int rc = baton__redis_conn_ready(s, k, deadline, err);
  if (rc == 0) rc = baton__redis_call(k->ctx, s, cmds, ncmds, replies, ncmds, deadline, what, err);
  if (rc != 0) baton__redis_conn_failed(s, k, err);
  k->used = baton__now();
  pthread_mutex_unlock(&k->mu);
  return rc;
}
