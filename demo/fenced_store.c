/* fenced_store.c — `fenced-store`, an example (not installed): a tiny
 * resource protected by fencing tokens. The server (one thread, one poll
 * loop) remembers the highest token it has seen and refuses writes that
 * carry a lower one, logging every write; the client mode sends one write
 * and says whether it was accepted.
 *
 *   fenced-store serve   --addr ADDR [--idle-timeout D] [--state FILE]
 *   fenced-store write   --addr ADDR [--token T] [--writer W] DATA
 *   fenced-store highest --addr ADDR
 *
 * ADDR is unix:/path (or any path with a '/') or host:port. `write` takes
 * the token from $BATON_TOKEN and the writer from $BATON_IDENTITY when the
 * flags are absent, so `baton run -- fenced-store write ...` just works.
 * Exit: 0 ok/accepted, 1 connection or server error, 2 usage, 4 refused.
 *
 * The server treats its clients alike: each turn of the loop reads at most
 * one buffer from a client and answers at most one of its requests, so a
 * client that pipelines many cannot starve the others; a reply that does
 * not fit the socket waits, and the client's requests wait behind it. A
 * client is dropped when it sends no request for the idle timeout, or
 * when one request, from its first byte to the last byte of its reply,
 * takes longer: so that neither idle connections nor ones that trickle a
 * byte at a time can use up the slots.
 *
 * With --state FILE the highest token outlives the process: a write that
 * raises it is acknowledged only once FILE holds the new token on disk, so
 * a store that restarts (or crashes right after the answer) still refuses
 * every older term. One store at a time keeps FILE: it holds a lock on
 * FILE.lock while it runs, and a second one is refused at start. */
#include "example.h"
#include "fence.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 64
#define DEFAULT_IDLE_MS 30000
#define LOG_MAX (256 * 1024) /* log bytes held while stdout does not keep up */
#define LOG_DRAIN_MS 1000    /* how long the log may take to drain at the stop */

static const char usage_text[] =
    "usage: fenced-store serve   --addr ADDR [--idle-timeout D] [--state FILE]\n"
    "       fenced-store write   --addr ADDR [--token T] [--writer W] DATA\n"
    "       fenced-store highest --addr ADDR\n"
    "\n"
    "An example that comes with baton (not installed): a store that refuses\n"
    "writes whose fencing token is below the highest it has seen.\n"
    "ADDR: unix:/path or host:port. `serve` prints \"listening ADDR\", then one\n"
    "line per write: time, token, writer, accepted/refused, the highest token,\n"
    "CLOCK_MONOTONIC ns and the data. It answers one request of each client\n"
    "in turn, and drops a client that sends no request for D, or whose request\n"
    "takes longer than D from its first byte to its reply's last\n"
    "(--idle-timeout, default 30s; e.g. 500ms, 2s, 1m). With --state FILE the\n"
    "highest token is kept in FILE, on disk before a write that raises it is\n"
    "acknowledged, and read back at start; one store at a time keeps FILE\n"
    "(it locks FILE.lock). The log never blocks the store: lines that stdout\n"
    "cannot take in time (256 KiB behind) are dropped and counted on stderr.\n"
    "It also keeps a workflow's checkpoint: STEP requests (demo/workflow) are\n"
    "accepted when they carry the next step and a token no older than the\n"
    "highest; their data is logged as step=K checkpoint=C [why=...]. A\n"
    "CHECKPOINT request reads it and raises the highest token to its own.\n"
    "`write` defaults --token to $BATON_TOKEN and --writer to $BATON_IDENTITY.\n"
    "Exit: 0 ok/accepted, 1 error, 2 usage, 4 refused.\n";

/* ---- server ------------------------------------------------------------- */

typedef struct client {
  int fd;                        /* -1 when the slot is free */
  bool eof;                      /* it has sent all it will send */
  int64_t since_ms;              /* the current request's first byte, or when the
                                    wait for one began (the accept, the last reply
                                    sent): the idle timeout counts from here */
  size_t used;                   /* bytes of requests in `in` */
  char in[FENCE_LINE_MAX + 2];
  size_t out_len, out_sent;      /* the reply being sent */
  char out[128];
} client;

typedef struct store {
  uint64_t highest;
  uint64_t checkpoint;           /* the last STEP accepted (0: none; not kept in
                                    --state: the workflow demo's store is new) */
  unsigned long accepted, refused;
  int64_t idle_ms;
  const char *state;             /* --state FILE, NULL for none */
  int state_dir;                 /* FILE's folder, fsync'ed after the rename */
  int state_lock;                /* FILE.lock, flock'ed while the store runs */
  mode_t umask;                  /* the process's, for the temporary file */
  client clients[MAX_CLIENTS];
  char log[LOG_MAX];             /* log lines not written to stdout yet */
  size_t log_len;
  bool log_socket;               /* stdout is a socket: send(MSG_DONTWAIT) */
  bool log_gone;                 /* stdout failed (its reader went): no more lines */
  unsigned long log_dropped;     /* lines that did not fit in `log` */
  bool log_dropping;             /* the last line did not fit */
} store;

static bool printable(const char *s) {
  for (; *s != '\0'; s++)
    if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f) return false;
  return true;
}

/* Parse "<token> <writer> <data>" (a WRITE or STEP after its verb); 0 or
 * -1 with the reason. */
static int parse_write(char *p, uint64_t *token, char **writer, char **data, const char **why) {
  char *end;
  if (*p < '0' || *p > '9') {
    *why = "token is not a number";
    return -1;
  }
  errno = 0;
  unsigned long long t = strtoull(p, &end, 10);
  if (errno != 0 || *end != ' ') {
    *why = errno != 0 ? "token out of range" : "missing writer";
    return -1;
  }
  *token = t;
  *writer = end + 1;
  char *sp = strchr(*writer, ' ');
  *data = sp != NULL ? sp + 1 : *writer + strlen(*writer);
  if (sp != NULL) *sp = '\0';
  if (!fence_writer_ok(*writer) || !printable(*data)) {
    *why = "writer or data not printable";
    return -1;
  }
  return 0;
}

/* ---- the log ------------------------------------------------------------ */

/* The log goes to stdout, which a slow or stopped reader must not turn
 * into a stop of the store (a blocking write would hold every client),
 * nor a reader that goes away into its end (SIGPIPE is ignored). So lines
 * wait in a buffer of LOG_MAX bytes, and the poll loop writes them when
 * stdout can take them: at most PIPE_BUF bytes at a time, which a pipe
 * that polls writable always takes without blocking (a socket gets
 * MSG_DONTWAIT; a regular file does not block). A line that does not fit
 * is dropped and counted, with one note on stderr each time lines begin
 * to be dropped; when stdout fails (EPIPE: its reader went), the log is
 * switched off with one note. */
static void log_line(store *s, const char *line, size_t len) {
  if (s->log_gone) return;
  if (s->log_len + len > sizeof s->log) {
    if (!s->log_dropping)
      fprintf(stderr, "fenced-store: stdout does not keep up: dropping log lines\n");
    s->log_dropping = true;
    s->log_dropped++;
    return;
  }
  s->log_dropping = false;
  memcpy(s->log + s->log_len, line, len);
  s->log_len += len;
}

/* Write what stdout takes now; after poll said it is writable. */
static void log_flush(store *s) {
  size_t n = s->log_len < PIPE_BUF ? s->log_len : PIPE_BUF;
  ssize_t w = s->log_socket ? send(STDOUT_FILENO, s->log, n, MSG_DONTWAIT | MSG_NOSIGNAL)
                            : write(STDOUT_FILENO, s->log, n);
  if (w < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (w < 0) {
    fprintf(stderr, "fenced-store: stdout: %s: no more log lines\n", strerror(errno));
    s->log_gone = true;
    s->log_len = 0;
    return;
  }
  memmove(s->log, s->log + w, s->log_len - (size_t)w);
  s->log_len -= (size_t)w;
}

/* At the stop: what is left, for LOG_DRAIN_MS at most. */
static void log_drain(store *s) {
  int64_t end = example_now_ms() + LOG_DRAIN_MS;
  for (int64_t now = example_now_ms(); s->log_len > 0 && !s->log_gone && now < end;
       now = example_now_ms()) {
    struct pollfd p = {.fd = STDOUT_FILENO, .events = POLLOUT};
    if (poll(&p, 1, (int)(end - now)) > 0) log_flush(s);
  }
}

static void log_write(store *s, uint64_t token, const char *writer, bool ok, const char *data) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  char line[FENCE_LINE_MAX + 256];
  /* mono= lets a test put the write on one clock with the terms of the
   * writers (`baton run --events`): CLOCK_MONOTONIC is machine-wide. */
  int n = snprintf(line, sizeof line,
                   "%lld.%03ld token=%llu writer=%s %s highest=%llu mono=%lld data=%s\n",
                   (long long)ts.tv_sec, ts.tv_nsec / 1000000, (unsigned long long)token, writer,
                   ok ? "accepted" : "refused", (unsigned long long)s->highest,
                   (long long)example_now_ns(), data);
  if (n > 0) log_line(s, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* ---- the state file ----------------------------------------------------- */

/* Keep `token` in the state file for good: written to a new temporary
 * file in FILE's folder (mkstemp: a fresh name, never one that is there
 * already, such as a symlink), fsync'ed, renamed over FILE and the folder
 * fsync'ed, so that FILE holds the old token or the new one whatever
 * happens, and the new one once this returns 0. -1 with errno set, and no
 * temporary file left. */
static int state_save(store *s, uint64_t token) {
  char text[32], tmp[PATH_MAX];
  int len = snprintf(text, sizeof text, "%llu\n", (unsigned long long)token);
  if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", s->state) >= (int)sizeof tmp) {
    errno = ENAMETOOLONG;
    return -1;
  }
  int fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0) return -1;
  bool ok = fchmod(fd, 0644 & ~s->umask) == 0 && write(fd, text, (size_t)len) == len &&
            fsync(fd) == 0;
  int e = errno;
  close(fd);
  if (ok && rename(tmp, s->state) == 0) return fsync(s->state_dir);
  if (ok) e = errno;
  unlink(tmp);
  errno = e;
  return -1;
}

/* The token FILE holds into s->highest (no FILE yet: 0). Anything else in
 * it is an error: starting from 0 would accept every stale term, so no
 * message advises removing FILE; each says to write the highest token the
 * store may have accepted into it. 0, or -1 after saying why. */
static int state_read(store *s, const char *path) {
  static const char fix[] = "write the highest token the store may have accepted into it "
                            "(echo N > FILE)";
  FILE *f = fopen(path, "re");
  if (f == NULL)
    return errno == ENOENT ? 0 : example_fail(-1, "serve", "--state %s: %s", path, strerror(errno));
  char text[33]; /* a token and its line end take 21 bytes at most */
  size_t n = fread(text, 1, sizeof text - 1, f);
  int e = ferror(f) ? errno : 0;
  fclose(f);
  text[n] = '\0';
  if (e != 0) return example_fail(-1, "serve", "--state %s: cannot read it: %s", path, strerror(e));
  if (n == 0) return example_fail(-1, "serve", "--state %s is empty: %s", path, fix);
  if (n == sizeof text - 1)
    return example_fail(-1, "serve", "--state %s is longer than a token (%zu bytes or more): %s",
                        path, n, fix);
  char *end;
  errno = 0;
  unsigned long long token = strtoull(text, &end, 10);
  if (text[0] < '0' || text[0] > '9' || errno != 0 || (*end != '\0' && strcmp(end, "\n") != 0))
    return example_fail(-1, "serve", "--state %s holds no token ('%.*s'): %s", path,
                        (int)strcspn(text, "\n"), text, fix);
  s->highest = token;
  return 0;
}

/* Take FILE as the state: lock FILE.lock for as long as the store runs
 * (two stores on one FILE would each accept what the other refused, and
 * the highest token is only as good as its one keeper), read the token
 * back, and write it once, so that a FILE that cannot be kept fails now
 * rather than at the first write. 0, or -1 after saying why. */
static int state_open(store *s, const char *path) {
  s->state = path;
  s->umask = umask(0);
  umask(s->umask);
  char dir[PATH_MAX], lock[PATH_MAX];
  const char *slash = strrchr(path, '/');
  if (slash == NULL)
    snprintf(dir, sizeof dir, ".");
  else
    snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
  s->state_dir = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (s->state_dir < 0)
    return example_fail(-1, "serve", "--state %s: %s: %s", path, dir, strerror(errno));
  snprintf(lock, sizeof lock, "%s.lock", path);
  s->state_lock = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  int rc = 0;
  if (s->state_lock < 0)
    rc = example_fail(-1, "serve", "--state %s: %s: %s", path, lock, strerror(errno));
  else if (flock(s->state_lock, LOCK_EX | LOCK_NB) != 0)
    rc = errno == EWOULDBLOCK
             ? example_fail(-1, "serve",
                            "--state %s: another fenced-store keeps it (it holds %s); one "
                            "store per state file",
                            path, lock)
             : example_fail(-1, "serve", "--state %s: %s: %s", path, lock, strerror(errno));
  if (rc == 0) rc = state_read(s, path);
  if (rc == 0 && state_save(s, s->highest) != 0)
    rc = example_fail(-1, "serve", "--state %s: %s", path, strerror(errno));
  if (rc != 0) {
    close(s->state_dir);
    if (s->state_lock >= 0) close(s->state_lock);
  }
  return rc;
}

/* A STEP's data: "<step>[ <rest>]", the step a decimal number above 0. */
static int parse_step(const char *data, uint64_t *step, const char **rest) {
  char *end;
  errno = 0;
  unsigned long long k = strtoull(data, &end, 10);
  if (*data < '1' || *data > '9' || errno != 0 || (*end != '\0' && *end != ' ')) return -1;
  *step = k;
  *rest = *end == ' ' ? end + 1 : end;
  return 0;
}

/* Accept or refuse a write of `token`; `ok` says whether the request's own
 * rule (a STEP's checkpoint) allows it. 0, or -1 with an ERR reply. */
static int decide(store *s, uint64_t token, bool *ok, char *reply, size_t size) {
  /* The fencing rule: the same term may write again; an older one never. */
  *ok = *ok && token >= s->highest;
  if (*ok && token > s->highest && s->state != NULL && state_save(s, token) != 0) {
    /* Not kept, not accepted: after a restart it would be forgotten. */
    snprintf(reply, size, "ERR cannot keep the token in %.60s: %s\n", s->state, strerror(errno));
    fprintf(stderr, "fenced-store: %s", reply + 4);
    return -1;
  }
  if (*ok) {
    s->highest = token;
    s->accepted++;
  } else {
    s->refused++;
  }
  return 0;
}

/* Answer one request line into `reply`. */
static void handle_line(store *s, char *line, char *reply, size_t size) {
  if (strcmp(line, "HIGHEST") == 0) {
    snprintf(reply, size, "HIGHEST %llu\n", (unsigned long long)s->highest);
    return;
  }
  bool is_step = strncmp(line, "STEP ", 5) == 0;
  bool is_checkpoint = strncmp(line, "CHECKPOINT ", 11) == 0;
  if (!is_step && !is_checkpoint && strncmp(line, "WRITE ", 6) != 0) {
    snprintf(reply, size, "ERR unknown request\n");
    return;
  }
  uint64_t token, step = 0;
  char *writer, *data;
  const char *why, *rest = "";
  if (parse_write(line + (is_step ? 5 : is_checkpoint ? 11 : 6), &token, &writer, &data, &why) !=
      0) {
    snprintf(reply, size, "ERR %s\n", why);
    return;
  }
  if (is_checkpoint) {
    /* A new term reads where to resume, and fences every older term: from
     * here their late steps are refused, even before its own first step. */
    bool ok = true;
    if (decide(s, token, &ok, reply, size) != 0) return;
    char logged[64];
    snprintf(logged, sizeof logged, "checkpoint-read checkpoint=%llu",
             (unsigned long long)s->checkpoint);
    log_write(s, token, writer, ok, logged);
    snprintf(reply, size, "CHECKPOINT %llu %llu\n", (unsigned long long)s->checkpoint,
             (unsigned long long)s->highest);
    return;
  }
  if (is_step && parse_step(data, &step, &rest) != 0) {
    snprintf(reply, size, "ERR the step is not a number above 0\n");
    return;
  }
  /* A step is a compare-and-set: the next one after the checkpoint, by a
   * term no older than the newest that wrote. */
  uint64_t checkpoint = s->checkpoint;
  bool stale = token < s->highest;
  bool ok = !is_step || step == checkpoint + 1;
  if (decide(s, token, &ok, reply, size) != 0) return;
  if (!is_step) {
    log_write(s, token, writer, ok, data);
    snprintf(reply, size, "%s %llu\n", ok ? "OK" : "REFUSED", (unsigned long long)s->highest);
    return;
  }
  if (ok) s->checkpoint = step;
  char logged[FENCE_LINE_MAX + 64];
  snprintf(logged, sizeof logged, "step=%llu checkpoint=%llu%s %s", (unsigned long long)step,
           (unsigned long long)checkpoint,
           ok ? "" : stale ? " why=stale-token" : " why=not-the-next-step", rest);
  log_write(s, token, writer, ok, logged);
  snprintf(reply, size, "%s %llu %llu\n", ok ? "OK" : "REFUSED",
           (unsigned long long)s->checkpoint, (unsigned long long)s->highest);
}

static void drop(client *c) {
  close(c->fd);
  c->fd = -1;
}

/* A whole request line is waiting in the client's buffer. */
static bool has_request(const client *c) { return memchr(c->in, '\n', c->used) != NULL; }

/* Send what is left of the reply; false when the client is gone. Only a
 * reply sent in full ends the request: a client that takes its reply a
 * byte at a time does not hold its slot for longer. */
static bool flush_reply(client *c, int64_t now) {
  while (c->out_sent < c->out_len) {
    ssize_t n = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    c->out_sent += (size_t)n;
    if (c->out_sent == c->out_len) c->since_ms = now;
  }
  return true;
}

/* Read one buffer's worth at most (the room left in `in`); false when the
 * client is gone or broke the protocol. The first byte of a request starts
 * its clock; later bytes do not restart it, so a client that trickles a
 * byte at a time does not hold its slot for longer. */
static bool read_some(client *c, int64_t now) {
  ssize_t n = recv(c->fd, c->in + c->used, sizeof c->in - 1 - c->used, MSG_DONTWAIT);
  if (n == 0) c->eof = true;
  if (n < 0) return errno == EAGAIN || errno == EINTR;
  if (n > 0) {
    if (c->used == 0) c->since_ms = now;
    c->used += (size_t)n;
  }
  if (c->used == sizeof c->in - 1 && !has_request(c)) {
    const char *msg = "ERR line too long\n";
    ssize_t w = send(c->fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)w;
    return false;
  }
  return true;
}

/* Answer the first request in the client's buffer and start its reply. */
static void answer_one(store *s, client *c) {
  char *nl = memchr(c->in, '\n', c->used);
  *nl = '\0';
  handle_line(s, c->in, c->out, sizeof c->out);
  c->out_len = strlen(c->out);
  c->out_sent = 0;
  c->used -= (size_t)(nl + 1 - c->in);
  memmove(c->in, nl + 1, c->used);
}

/* One turn for one client: send, read, answer one request. False when it
 * is to be dropped. */
static bool serve_client(store *s, client *c, short revents, int64_t now) {
  if (!flush_reply(c, now)) return false;
  bool waiting = c->out_sent < c->out_len;
  if (!waiting && !has_request(c) && !c->eof && (revents & (POLLIN | POLLHUP | POLLERR)) &&
      !read_some(c, now))
    return false;
  if (!waiting && has_request(c)) {
    answer_one(s, c);
    if (!flush_reply(c, now)) return false;
    waiting = c->out_sent < c->out_len;
  }
  if (c->eof && !waiting && !has_request(c)) return false; /* all answered */
  return now - c->since_ms < s->idle_ms;
}

/* What a client waits for, and whether it has a request ready now. */
static short interest(const client *c, bool *ready) {
  if (c->out_sent < c->out_len) return POLLOUT;
  if (has_request(c)) {
    *ready = true;
    return 0;
  }
  return c->eof ? 0 : POLLIN;
}

static void accept_clients(store *s, int lfd, int64_t now) {
  for (int i = 0; i < MAX_CLIENTS; i++) {
    if (s->clients[i].fd >= 0) continue;
    int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) return;
    s->clients[i] = (client){.fd = cfd, .since_ms = now};
  }
  /* Full: one more waiting is told so by a closed connection. */
  int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (cfd >= 0) close(cfd);
}

static int listen_on(fence_addr *a) {
  if (a->path[0] != '\0') {
    struct stat st;
    if (lstat(a->path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(a->path); /* a stale one */
  }
  int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  if (a->path[0] == '\0') setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&a->sa, a->len) != 0 || listen(fd, 64) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  if (a->path[0] == '\0') { /* port 0: report the one we got */
    a->len = sizeof a->sa;
    getsockname(fd, (struct sockaddr *)&a->sa, &a->len);
    char host[64] = "?";
    int port = 0;
    if (a->sa.ss_family == AF_INET) {
      struct sockaddr_in *in = (struct sockaddr_in *)&a->sa;
      inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
      port = ntohs(in->sin_port);
      snprintf(a->text, sizeof a->text, "%s:%d", host, port);
    } else if (a->sa.ss_family == AF_INET6) {
      struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->sa;
      inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
      port = ntohs(in6->sin6_port);
      snprintf(a->text, sizeof a->text, "[%s]:%d", host, port);
    }
  }
  return fd;
}

static int serve(fence_addr *a, int64_t idle_ms, const char *state) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  sigprocmask(SIG_BLOCK, &set, NULL);
  int sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
  if (sig_fd < 0) return example_fail(EXAMPLE_EXIT_ERROR, "serve", "signalfd: %s", strerror(errno));
  static store s;
  s.idle_ms = idle_ms;
  /* The state first: a store refused for it must not take over the
   * address (listen_on removes a socket file found there). */
  if (state != NULL && state_open(&s, state) != 0) {
    close(sig_fd);
    return EXAMPLE_EXIT_ERROR;
  }
  int lfd = listen_on(a);
  if (lfd < 0) {
    int e = errno;
    if (state != NULL) {
      close(s.state_dir);
      close(s.state_lock);
    }
    close(sig_fd);
    return example_fail(EXAMPLE_EXIT_ERROR, "serve", "%s: %s", a->text, strerror(e));
  }
  for (int i = 0; i < MAX_CLIENTS; i++) s.clients[i].fd = -1;
  signal(SIGPIPE, SIG_IGN); /* see log_line() */
  struct stat out;
  s.log_socket = fstat(STDOUT_FILENO, &out) == 0 && S_ISSOCK(out.st_mode);
  printf("listening %s\n", a->text);
  fflush(stdout);
  for (;;) {
    struct pollfd p[MAX_CLIENTS + 3];
    int slot[MAX_CLIENTS + 3];
    nfds_t n = 0;
    bool ready = false; /* a request is buffered: do not wait */
    int64_t now = example_now_ms(), wake = INT64_MAX;
    p[n++] = (struct pollfd){.fd = sig_fd, .events = POLLIN};
    p[n++] = (struct pollfd){.fd = lfd, .events = POLLIN};
    p[n++] = (struct pollfd){.fd = s.log_len > 0 ? STDOUT_FILENO : -1, .events = POLLOUT};
    for (int i = 0; i < MAX_CLIENTS; i++) {
      client *c = &s.clients[i];
      if (c->fd < 0) continue;
      slot[n] = i;
      p[n++] = (struct pollfd){.fd = c->fd, .events = interest(c, &ready)};
      if (c->since_ms + idle_ms < wake) wake = c->since_ms + idle_ms;
    }
    int timeout = ready ? 0 : wake == INT64_MAX ? -1 : wake <= now ? 0 : (int)(wake - now);
    if (poll(p, n, timeout) < 0 && errno != EINTR) break;
    if (p[0].revents & POLLIN) break;
    now = example_now_ms();
    if (p[2].revents != 0) log_flush(&s);
    for (nfds_t i = 3; i < n; i++)
      if (!serve_client(&s, &s.clients[slot[i]], p[i].revents, now)) drop(&s.clients[slot[i]]);
    if (p[1].revents & POLLIN) accept_clients(&s, lfd, now);
  }
  log_drain(&s);
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (s.clients[i].fd >= 0) drop(&s.clients[i]);
  close(lfd);
  close(sig_fd);
  if (s.state != NULL) {
    close(s.state_dir);
    close(s.state_lock); /* the lock goes with it */
  }
  if (a->path[0] != '\0') unlink(a->path);
  fprintf(stderr,
          "fenced-store: stopped: %lu accepted, %lu refused, highest token %llu; %lu log "
          "lines dropped%s\n",
          s.accepted, s.refused, (unsigned long long)s.highest, s.log_dropped,
          s.log_gone ? ", then stdout failed" : s.log_len > 0 ? ", and the rest not drained" : "");
  return 0;
}

/* ---- client ------------------------------------------------------------- */

static int write_one(const fence_addr *a, const char *token_text, const char *writer,
                     const char *data) {
  if (token_text == NULL) token_text = getenv("BATON_TOKEN");
  if (writer == NULL) writer = getenv("BATON_IDENTITY");
  if (token_text == NULL)
    return example_fail(EXAMPLE_EXIT_USAGE, "write", "missing --token (or $BATON_TOKEN)");
  if (writer == NULL || !fence_writer_ok(writer))
    return example_fail(EXAMPLE_EXIT_USAGE, "write",
                    "--writer (or $BATON_IDENTITY) must be 1..%d printable bytes without spaces",
                    FENCE_WRITER_MAX);
  char *end;
  errno = 0;
  unsigned long long token = strtoull(token_text, &end, 10);
  if (errno != 0 || *token_text < '0' || *token_text > '9' || *end != '\0')
    return example_fail(EXAMPLE_EXIT_USAGE, "write", "token '%s' is not a number", token_text);
  if (!printable(data))
    return example_fail(EXAMPLE_EXIT_USAGE, "write", "DATA must be printable ASCII on one line");
  uint64_t highest = 0;
  char why[400];
  int rc = fence_write(a, token, writer, data, &highest, why, sizeof why);
  if (rc < 0) return example_fail(EXAMPLE_EXIT_ERROR, "write", "%s", why);
  printf("%s token=%llu highest=%llu\n", rc == 1 ? "accepted" : "refused", token,
         (unsigned long long)highest);
  return rc == 1 ? 0 : FENCE_EXIT_REFUSED;
}

static int highest(const fence_addr *a) {
  char reply[128], why[400];
  unsigned long long h;
  if (fence_request(a, "HIGHEST\n", reply, sizeof reply, FENCE_TIMEOUT_MS, why, sizeof why) != 0)
    return example_fail(EXAMPLE_EXIT_ERROR, "highest", "%s", why);
  if (sscanf(reply, "HIGHEST %llu", &h) != 1)
    return example_fail(EXAMPLE_EXIT_ERROR, "highest", "unexpected reply '%.100s'", reply);
  printf("%llu\n", h);
  return 0;
}

int main(int argc, char **argv) {
  example_program = "fenced-store";
  if (argc < 2) return example_fail(EXAMPLE_EXIT_USAGE, NULL, "missing a mode: serve, write or highest");
  const char *mode = argv[1];
  if (strcmp(mode, "--help") == 0 || strcmp(mode, "-h") == 0) {
    fputs(usage_text, stdout);
    return 0;
  }
  bool is_serve = strcmp(mode, "serve") == 0, is_write = strcmp(mode, "write") == 0;
  if (!is_serve && !is_write && strcmp(mode, "highest") != 0)
    return example_fail(EXAMPLE_EXIT_USAGE, NULL, "unknown mode '%.64s' (serve, write, highest)", mode);
  const char *addr = NULL, *token = NULL, *writer = NULL, *data = NULL, *idle = NULL,
             *state = NULL;
  for (int i = 2; i < argc; i++) {
    const char *arg = argv[i];
    const char **slot = strcmp(arg, "--addr") == 0                       ? &addr
                        : is_write && strcmp(arg, "--token") == 0        ? &token
                        : is_write && strcmp(arg, "--writer") == 0       ? &writer
                        : is_serve && strcmp(arg, "--idle-timeout") == 0 ? &idle
                        : is_serve && strcmp(arg, "--state") == 0        ? &state
                                                                         : NULL;
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      fputs(usage_text, stdout);
      return 0;
    }
    if (slot != NULL) {
      if (i + 1 >= argc) return example_fail(EXAMPLE_EXIT_USAGE, mode, "%s needs a value", arg);
      *slot = argv[++i];
    } else if (is_write && data == NULL && (arg[0] != '-' || strcmp(arg, "-") == 0)) {
      data = arg;
    } else {
      return example_fail(EXAMPLE_EXIT_USAGE, mode, "unexpected argument '%.80s'", arg);
    }
  }
  if (addr == NULL) return example_fail(EXAMPLE_EXIT_USAGE, mode, "missing --addr ADDR");
  fence_addr a;
  char why[400];
  if (fence_addr_parse(&a, addr, why, sizeof why) != 0)
    return example_fail(EXAMPLE_EXIT_USAGE, mode, "%s", why);
  uint64_t idle_ms = DEFAULT_IDLE_MS;
  if (idle != NULL && (example_duration_ms(idle, &idle_ms) != 0 || idle_ms == 0 ||
                       idle_ms > INT32_MAX))
    return example_fail(EXAMPLE_EXIT_USAGE, mode, "--idle-timeout '%s' is not a duration "
                        "above 0 (e.g. 500ms, 2s, 1m)", idle);
  if (is_serve) return serve(&a, (int64_t)idle_ms, state);
  if (is_write) return write_one(&a, token, writer, data != NULL ? data : "");
  return highest(&a);
}
