/* faults_run.c — one deployment of the fault suite: start its servers, the
 * fenced store, one proxy per candidate and server, N `baton run`
 * candidates whose command writes to the store; inject faults drawn from a
 * seeded generator, one at a time, each followed by a wait for a leader;
 * then stop everything by the PIDs it started and look for what was left
 * behind (processes, keys, znodes). Everything it learns goes to files in
 * the deployment's folder (faults.h) for the checker. */
#include "faults.h"
#include "kit.h"
#include "proxy.h"
#include "servers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000LL
#define PIPE_BYTES (1 << 20) /* room for the store's lines while we block */
#define DRAIN_READS 1000     /* reads of one pipe per look at it */
#define STORE_START_MS 10000 /* the fenced store's "listening" line */
#define STOP_GRACE_MS 5000   /* the store's time to leave after SIGTERM */

const char *const fault_names[F_NKINDS] = {"kill", "pause", "restart", "drop",
                                           "stall", "slow", "spause"};

volatile int faults_interrupted;

uint64_t faults_rand(faults_rng *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

int64_t faults_between(faults_rng *r, int64_t lo, int64_t hi) {
  if (hi <= lo) return lo;
  return lo + (int64_t)(faults_rand(r) % (uint64_t)(hi - lo + 1));
}

/* ---- state --------------------------------------------------------------- */

/* Bytes read from a pipe, cut into lines. */
typedef struct lines {
  char buf[16384];
  size_t len;
} lines;

typedef struct cand {
  int slot;
  pid_t pid;           /* baton; 0 once reaped */
  int pidfd, ev_fd;    /* -1 when closed */
  lines ev;
  bool holding;        /* its last event: elected */
  uint64_t token;      /* of its last term */
  int64_t elected_ns;
  pid_t cmd_group;     /* CMD's process group while it runs, else 0 */
  proxy *px[TEST_MAX_MEMBERS];
  char uri[1024];      /* through its proxies */
  char identity[32];
} cand;

typedef struct run {
  const faults_config *cfg;
  const deployment *d;
  const char *dir;
  faults_rng rng;
  test_cluster cl;
  cand c[FAULTS_MAX_CAND];
  int n;
  pid_t store_pid;
  int store_fd;
  lines st;
  char store_addr[PATH_MAX];
  FILE *flog, *elog, *slog;
  int next_id;
  int64_t t0;
  /* The pause: wait for a write of this writer and token after resume. */
  char watch_writer[32];
  uint64_t watch_token;
  int64_t watch_after;
  bool watch_seen;
} run;

/* ---- records ------------------------------------------------------------- */

/* One line in faults.log, stamped now. */
static void rec(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rec(run *r, const char *fmt, ...) {
  fprintf(r->flog, "%" PRId64 " ", kit_now_ns());
  va_list ap;
  va_start(ap, fmt);
  vfprintf(r->flog, fmt, ap);
  va_end(ap);
  fputc('\n', r->flog);
  fflush(r->flog);
}

/* One line for the person watching. */
static void say(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(run *r, const char *fmt, ...) {
  printf("  [%-9s %6.1fs] ", r->d->label, (double)(kit_now_ns() - r->t0) / 1e9);
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

bool faults_field(const char *line, const char *key, uint64_t *out) {
  size_t klen = strlen(key);
  for (const char *p = strstr(line, key); p != NULL; p = strstr(p + 1, key)) {
    if ((p == line || p[-1] == ' ') && p[klen] == '=') {
      char *end;
      *out = strtoull(p + klen + 1, &end, 10);
      return end != p + klen + 1;
    }
  }
  return false;
}

/* ---- reading the pipes --------------------------------------------------- */

static void on_event_line(run *r, cand *c, char *line) {
  fprintf(r->elog, "cand-%d %d %s\n", c->slot, (int)c->pid, line);
  fflush(r->elog);
  long long ns;
  char what[32];
  uint64_t token = 0, pid = 0;
  if (sscanf(line, "%lld %31s", &ns, what) != 2 || !faults_field(line, "token", &token)) return;
  if (strcmp(what, "elected") == 0) {
    c->holding = true;
    c->token = token;
    c->elected_ns = ns;
    if (r->cfg->verbose) say(r, "%s elected, token %" PRIu64, c->identity, token);
  } else if (strcmp(what, "started") == 0 && faults_field(line, "pid", &pid)) {
    c->cmd_group = (pid_t)pid;
  } else if (strcmp(what, "stopped") == 0) {
    c->cmd_group = 0;
  } else if ((strcmp(what, "resigned") == 0 || strcmp(what, "lost") == 0) && token == c->token) {
    c->holding = false;
  }
}

static void on_store_line(run *r, char *line) {
  fprintf(r->slog, "%s\n", line);
  fflush(r->slog);
  uint64_t token = 0, mono = 0;
  const char *w = strstr(line, " writer=");
  if (r->watch_writer[0] == '\0' || w == NULL || !faults_field(line, "token", &token) ||
      !faults_field(line, "mono", &mono))
    return;
  size_t wl = strlen(r->watch_writer);
  if (token == r->watch_token && (int64_t)mono >= r->watch_after &&
      strncmp(w + 8, r->watch_writer, wl) == 0 && w[8 + wl] == ' ')
    r->watch_seen = true;
}

/* Read what is there and handle each complete line: a candidate's events
 * when c is given, else the store's log. Returns false at EOF or on an
 * error. */
static bool drain(run *r, int fd, lines *l, cand *c) {
  /* A bounded number of reads: a writer that never pauses must not keep
   * the runner here. */
  for (int reads = 0; reads < DRAIN_READS; reads++) {
    ssize_t n = read(fd, l->buf + l->len, sizeof l->buf - 1 - l->len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return true;
    if (n <= 0) return false;
    l->len += (size_t)n;
    l->buf[l->len] = '\0';
    char *start = l->buf;
    for (char *nl; (nl = strchr(start, '\n')) != NULL; start = nl + 1) {
      *nl = '\0';
      if (c != NULL)
        on_event_line(r, c, start);
      else
        on_store_line(r, start);
    }
    l->len -= (size_t)(start - l->buf);
    memmove(l->buf, start, l->len);
    if (l->len == sizeof l->buf - 1) l->len = 0; /* a line too long: drop it */
  }
  return true;
}

static const char *describe_status(int status, char *buf, size_t size) {
  if (WIFEXITED(status))
    snprintf(buf, size, "exit=%d", WEXITSTATUS(status));
  else if (WIFSIGNALED(status))
    snprintf(buf, size, "signal=%d", WTERMSIG(status));
  else
    snprintf(buf, size, "status=%d", status);
  return buf;
}

/* The candidate's baton was reaped with `status`: read its last lines,
 * record its end, forget its pid. */
static void cand_exited(run *r, cand *c, int status) {
  if (c->ev_fd >= 0) {
    drain(r, c->ev_fd, &c->ev, c); /* its last lines are in the pipe */
    close(c->ev_fd);
    c->ev_fd = -1;
  }
  if (c->pidfd >= 0) close(c->pidfd);
  c->pidfd = -1;
  char st[32];
  rec(r, "exit slot=%d pid=%d %s", c->slot, (int)c->pid, describe_status(status, st, sizeof st));
  c->pid = 0;
  c->holding = false;
  c->cmd_group = 0;
}

/* The candidate's baton may have exited (pidfd readable): reap it. */
static void reap_cand(run *r, cand *c, bool block) {
  int status = 0;
  if (c->pid > 0 && waitpid(c->pid, &status, block ? 0 : WNOHANG) == c->pid)
    cand_exited(r, c, status);
}

/* Wait up to timeout_ms for something to read or a process to end, and
 * handle it. */
static void pump(run *r, int timeout_ms) {
  struct pollfd p[2 * FAULTS_MAX_CAND + 1];
  cand *who[2 * FAULTS_MAX_CAND + 1];
  bool is_pidfd[2 * FAULTS_MAX_CAND + 1];
  nfds_t n = 0;
  for (int i = 0; i < r->n; i++) {
    cand *c = &r->c[i];
    if (c->ev_fd >= 0) {
      who[n] = c;
      is_pidfd[n] = false;
      p[n++] = (struct pollfd){.fd = c->ev_fd, .events = POLLIN};
    }
    if (c->pidfd >= 0) {
      who[n] = c;
      is_pidfd[n] = true;
      p[n++] = (struct pollfd){.fd = c->pidfd, .events = POLLIN};
    }
  }
  if (r->store_fd >= 0) {
    who[n] = NULL;
    is_pidfd[n] = false;
    p[n++] = (struct pollfd){.fd = r->store_fd, .events = POLLIN};
  }
  if (poll(p, n, timeout_ms < 0 ? 0 : timeout_ms) <= 0) return;
  for (nfds_t i = 0; i < n; i++) {
    if (p[i].revents == 0) continue;
    cand *c = who[i];
    if (c == NULL) {
      if (!drain(r, r->store_fd, &r->st, NULL)) {
        close(r->store_fd);
        r->store_fd = -1;
      }
    } else if (is_pidfd[i]) {
      if (c->pidfd >= 0) reap_cand(r, c, false);
    } else if (c->ev_fd >= 0 && !drain(r, c->ev_fd, &c->ev, c)) {
      close(c->ev_fd); /* every writer closed it; the pidfd says when baton ends */
      c->ev_fd = -1;
    }
  }
}

typedef bool (*pred_fn)(run *r, const void *arg);

/* Pump until pred holds or timeout_ms passed; returns pred's last answer.
 * pred is asked again after each event, and every step_ms when what it
 * looks at sends no event (a server's state); step_ms 0: events only. */
static bool wait_every(run *r, pred_fn pred, const void *arg, int64_t timeout_ms,
                       int64_t step_ms) {
  int64_t end = kit_now_ms() + timeout_ms;
  for (;;) {
    if (pred != NULL && pred(r, arg)) return true;
    int left = kit_ms_left(end);
    if (left == 0 || faults_interrupted) break;
    pump(r, step_ms > 0 && left > step_ms ? (int)step_ms : left);
  }
  return pred != NULL && pred(r, arg);
}

static bool wait_until(run *r, pred_fn pred, const void *arg, int64_t timeout_ms) {
  return wait_every(r, pred, arg, timeout_ms, 0);
}

/* Let the workload run for ms (handling events meanwhile). */
static void pass(run *r, int64_t ms) { wait_until(r, NULL, NULL, ms); }

/* ---- who leads ----------------------------------------------------------- */

/* The slot that believes it leads (the latest elected if several), or -1. */
static int holder(const run *r) {
  int h = -1;
  for (int i = 0; i < r->n; i++) {
    const cand *c = &r->c[i];
    if (c->pid > 0 && c->holding && (h < 0 || c->elected_ns > r->c[h].elected_ns)) h = i;
  }
  return h;
}

static bool has_leader(run *r, const void *arg) {
  (void)arg;
  return holder(r) >= 0;
}

/* A leader elected after *since. */
static bool new_leader(run *r, const void *arg) {
  int h = holder(r);
  return h >= 0 && r->c[h].elected_ns > *(const int64_t *)arg;
}

/* A leader other than slot *arg. */
static bool other_leader(run *r, const void *arg) {
  int h = holder(r);
  return h >= 0 && h != *(const int *)arg;
}

/* A Sentinel deployment (master, replicas, Sentinels): its candidates
 * reach the master the Sentinels name, which no proxy can stand before,
 * so it has no cut faults; its restart is a fail-over (fault_failover). */
static bool sentinel(const run *r) { return strcmp(r->d->backend, "sentinel") == 0; }

/* The Sentinels' master has both replicas again. */
static bool sentinel_healthy(run *r, const void *arg) {
  (void)arg;
  return test_sentinel_healthy(&r->cl);
}

/* The Sentinels name a master other than member *arg. */
static bool master_moved(run *r, const void *arg) {
  int m = test_sentinel_master(&r->cl);
  return m >= 0 && m != *(const int *)arg;
}

static bool watch_seen(run *r, const void *arg) {
  (void)arg;
  return r->watch_seen;
}

typedef struct term_ref {
  int slot;
  uint64_t token;
} term_ref;

/* The term is over for its holder (its end logged, or its baton gone). */
static bool term_over(run *r, const void *arg) {
  const term_ref *t = arg;
  const cand *c = &r->c[t->slot];
  return c->pid == 0 || !c->holding || c->token != t->token;
}

static bool cand_gone(run *r, const void *arg) { return r->c[*(const int *)arg].pid == 0; }

static bool all_gone(run *r, const void *arg) {
  (void)arg;
  for (int i = 0; i < r->n; i++)
    if (r->c[i].pid > 0) return false;
  return true;
}

/* ---- processes ----------------------------------------------------------- */

/* Fork and exec argv with stdout to out_fd (or /dev/null), stderr appended
 * to err_path, fd 3 = fd3 (or none); in its own process group, killed when
 * we die. Strings are ready before the fork: the child only makes
 * async-signal-safe calls. */
static pid_t start_process(char *const argv[], int out_fd, int fd3, const char *err_path) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid != 0) return pid;
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(127);
  setpgid(0, 0); /* a terminal's ^C reaches us, and we stop them */
  struct sigaction dfl = {.sa_handler = SIG_DFL}; /* we ignore SIGPIPE; they must not */
  sigaction(SIGPIPE, &dfl, NULL);
  int null = open("/dev/null", O_RDWR);
  int err = open(err_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (null < 0 || err < 0) _exit(127);
  if (fd3 >= 0 && fd3 != 3 && dup2(fd3, 3) != 3) _exit(127);
  if (fd3 == 3) fcntl(3, F_SETFD, 0);
  dup2(null, 0);
  dup2(out_fd >= 0 ? out_fd : null, 1);
  dup2(err, 2);
  close_range(fd3 >= 0 ? 4 : 3, ~0U, 0);
  execv(argv[0], argv);
  _exit(127);
}

/* A pipe whose read end is ours (non-blocking, large) and whose write end
 * goes to a child. */
static int make_pipe(int p[2]) {
  if (pipe2(p, O_CLOEXEC) != 0) return -1;
  fcntl(p[0], F_SETFL, O_NONBLOCK);
  fcntl(p[0], F_SETPIPE_SZ, PIPE_BYTES);
  return 0;
}

static int spawn_cand(run *r, cand *c) {
  char ttl[32], every[32], writer_log[PATH_MAX], err_path[PATH_MAX], baton[PATH_MAX],
      writer[PATH_MAX];
  snprintf(baton, sizeof baton, "%s", r->cfg->baton_exe);
  snprintf(writer, sizeof writer, "%s", r->cfg->writer_exe);
  snprintf(ttl, sizeof ttl, "%dms", r->cfg->ttl_ms);
  snprintf(every, sizeof every, "%d", r->cfg->every_ms);
  snprintf(writer_log, sizeof writer_log, "%s/writer-%d.log", r->dir, c->slot);
  snprintf(err_path, sizeof err_path, "%s/cand-%d.err", r->dir, c->slot);
  char *argv[] = {baton, "run", "--backend", c->uri, "--name", FAULTS_NAME,
                  "--ttl", ttl, "--identity", c->identity, "--events", "/dev/fd/3", "--",
                  writer, r->store_addr, writer_log, every, NULL};
  int p[2];
  if (make_pipe(p) != 0) return -1;
  pid_t pid = start_process(argv, -1, p[1], err_path);
  close(p[1]);
  if (pid < 0) {
    close(p[0]);
    return -1;
  }
  c->pid = pid;
  c->pidfd = (int)pidfd_open(pid, 0);
  c->ev_fd = p[0];
  c->ev.len = 0;
  c->holding = false;
  c->cmd_group = 0;
  rec(r, "spawn slot=%d pid=%d", c->slot, (int)pid);
  return c->pidfd >= 0 ? 0 : -1;
}

static int start_store(run *r) {
  snprintf(r->store_addr, sizeof r->store_addr, "unix:%s/store.sock", r->dir);
  char err_path[PATH_MAX], exe[PATH_MAX];
  snprintf(err_path, sizeof err_path, "%s/store.err", r->dir);
  snprintf(exe, sizeof exe, "%s", r->cfg->store_exe);
  char *argv[] = {exe, "serve", "--addr", r->store_addr, NULL};
  int p[2];
  if (make_pipe(p) != 0) return -1;
  r->store_pid = start_process(argv, p[1], -1, err_path);
  close(p[1]);
  if (r->store_pid < 0) {
    close(p[0]);
    r->store_pid = 0;
    return -1;
  }
  r->store_fd = p[0];
  /* Its first line says it listens; every later line is a write. */
  char line[512];
  kit_read_line(r->store_fd, line, sizeof line, kit_now_ms() + STORE_START_MS);
  if (strncmp(line, "listening ", 10) != 0) {
    fprintf(stderr, "faults: the fenced store did not start (see %s)\n", err_path);
    return -1;
  }
  return 0;
}

/* SIGTERM (after SIGCONT), then SIGKILL after a bound; reaped. */
static void stop_store(run *r) {
  if (r->store_pid <= 0) return;
  kill(r->store_pid, SIGCONT);
  kill(r->store_pid, SIGTERM);
  /* Its log is read meanwhile: a store blocked on a full pipe never ends. */
  for (int64_t end = kit_now_ms() + STOP_GRACE_MS; kit_ms_left(end) > 0;) {
    if (waitpid(r->store_pid, NULL, WNOHANG) == r->store_pid) {
      r->store_pid = 0;
      break;
    }
    pump(r, 10);
  }
  if (r->store_pid > 0) {
    kill(r->store_pid, SIGKILL);
    waitpid(r->store_pid, NULL, 0);
    r->store_pid = 0;
  }
  /* Its last lines, up to EOF (it is gone: EOF comes at once). */
  for (int64_t end = kit_now_ms() + STOP_GRACE_MS;
       r->store_fd >= 0 && drain(r, r->store_fd, &r->st, NULL) && kit_ms_left(end) > 0;) {
    struct pollfd pf = {.fd = r->store_fd, .events = POLLIN};
    if (poll(&pf, 1, kit_ms_left(end)) <= 0) break;
  }
  if (r->store_fd >= 0) close(r->store_fd);
  r->store_fd = -1;
}

/* ---- the servers --------------------------------------------------------- */

static void append_b64(char *out, size_t size, const char *in) {
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t n = strlen(in), o = strlen(out);
  for (size_t i = 0; i < n && o + 5 < size; i += 3) {
    unsigned v = (unsigned char)in[i] << 16;
    if (i + 1 < n) v |= (unsigned char)in[i + 1] << 8;
    if (i + 2 < n) v |= (unsigned char)in[i + 2];
    out[o++] = t[(v >> 18) & 63];
    out[o++] = t[(v >> 12) & 63];
    out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < n ? t[v & 63] : '=';
  }
  out[o] = '\0';
}

/* POST a JSON body to an etcd member's gateway; the reply in buf. */
static int etcd_post(int port, const char *path, const char *body, char *buf, size_t size) {
  char req[1024];
  int n = snprintf(req, sizeof req,
                   "POST %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                   "Content-Length: %zu\r\n\r\n%s",
                   path, strlen(body), body);
  return test_tcp_ask(port, req, (size_t)n, buf, size, 2000);
}

/* The member that leads the cluster now (srvr for ZooKeeper, the status of
 * each member for etcd), or -1. */
static int leader_member(run *r) {
  if (sentinel(r)) return test_sentinel_master(&r->cl);
  for (int i = 0; i < r->cl.n; i++) {
    test_server *s = &r->cl.member[i];
    if (s->pid <= 0) continue;
    char reply[2048];
    if (strcmp(r->d->backend, "zk") == 0) {
      if (test_tcp_ask(s->port, "srvr", 4, reply, sizeof reply, 1000) == 0 &&
          (strstr(reply, "Mode: leader") != NULL || strstr(reply, "Mode: standalone") != NULL))
        return i;
    } else if (strcmp(r->d->backend, "etcd") == 0) {
      uint64_t self = 0, leader = 0;
      if (etcd_post(s->port, "/v3/maintenance/status", "{}", reply, sizeof reply) != 0) continue;
      const char *m = strstr(reply, "\"member_id\":\""), *l = strstr(reply, "\"leader\":\"");
      if (m != NULL && l != NULL) {
        self = strtoull(m + 13, NULL, 10);
        leader = strtoull(l + 10, NULL, 10);
        if (self != 0 && self == leader) return i;
      }
    } else {
      /* One Redis leads itself; Redlock's instances have no leader. */
      return r->cl.n == 1 ? 0 : -1;
    }
  }
  return -1;
}

/* What is left of the election on the server: keys, znodes, leases.
 * Returns how many, or -1 when no server answered; `detail` says what. */
static int leftovers(run *r, char *detail, size_t size) {
  char reply[16384];
  detail[0] = '\0';
  if (strcmp(r->d->backend, "redis") == 0 || strcmp(r->d->backend, "redlock") == 0 ||
      sentinel(r)) {
    /* The key on every instance (one for redis://; the master of a
     * Sentinel deployment, whose replicas hold copies). */
    static const char q[] = "EXISTS " FAULTS_NAME "\r\nQUIT\r\n";
    int n = 0, first = sentinel(r) ? leader_member(r) : 0;
    int last = sentinel(r) ? first : r->cl.n - 1;
    for (int i = first; i <= last; i++) {
      if (i < 0 ||
          test_tcp_ask(r->cl.member[i].port, q, sizeof q - 1, reply, sizeof reply, 2000) != 0 ||
          reply[0] != ':')
        return -1;
      n += atoi(reply + 1);
    }
    snprintf(detail, size, "key '%s' on %d of %d", FAULTS_NAME, n, last - first + 1);
    return n;
  }
  if (strcmp(r->d->backend, "etcd") == 0) {
    char from[64] = "", to[64] = "", body[256];
    append_b64(from, sizeof from, FAULTS_NAME "/");
    append_b64(to, sizeof to, FAULTS_NAME "0");
    snprintf(body, sizeof body, "{\"key\":\"%s\",\"range_end\":\"%s\",\"count_only\":true}", from,
             to);
    for (int i = 0; i < r->cl.n; i++) {
      int port = r->cl.member[i].port;
      if (r->cl.member[i].pid <= 0 || etcd_post(port, "/v3/kv/range", body, reply, sizeof reply) != 0 ||
          strstr(reply, "\"header\"") == NULL)
        continue;
      const char *cnt = strstr(reply, "\"count\":\"");
      int keys = cnt != NULL ? atoi(cnt + 9) : 0;
      int leases = 0;
      if (etcd_post(port, "/v3/lease/leases", "{}", reply, sizeof reply) == 0)
        for (const char *p = strstr(reply, "\"ID\""); p != NULL; p = strstr(p + 1, "\"ID\""))
          leases++;
      snprintf(detail, size, "%d keys under '%s/', %d leases", keys, FAULTS_NAME, leases);
      return keys + leases;
    }
    return -1;
  }
  if (strcmp(r->d->backend, "postgres") == 0) {
    /* The advisory locks of the name, held by any session (psql: the
     * suite needs no client library). */
    /* The password goes in psql's environment alone: in its argv, every
     * process of the machine could read it (ps, /proc). The URI's
     * userinfo is user:password (the kit's, not percent-encoded). */
    char uri[sizeof r->cl.uri], pw[sizeof r->cl.uri + 16] = "PGPASSWORD=";
    const char *scheme = strstr(r->cl.uri, "://"), *at = strchr(r->cl.uri, '@');
    const char *colon = scheme != NULL && at != NULL && at > scheme
                            ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3))
                            : NULL;
    if (colon != NULL) {
      snprintf(uri, sizeof uri, "%.*s%s", (int)(colon - r->cl.uri), r->cl.uri, at);
      snprintf(pw + 11, sizeof pw - 11, "%.*s", (int)(at - colon - 1), colon + 1);
    } else {
      snprintf(uri, sizeof uri, "%s", r->cl.uri);
    }
    const char *env[] = {colon != NULL ? pw : NULL, NULL};
    const char *argv[] = {"/usr/lib/postgresql/15/bin/psql", uri, "-X", "-A", "-t", "-c",
                          "SELECT count(*) FROM pg_locks l WHERE l.locktype = 'advisory' AND "
                          "l.objsubid = 1 AND l.classid::int8 = (('x' || left(md5('" FAULTS_NAME
                          "'), 16))::bit(64)::bigint >> 32) & 4294967295 AND l.objid::int8 = ('x' "
                          "|| left(md5('" FAULTS_NAME "'), 16))::bit(64)::bigint & 4294967295",
                          NULL};
    static kit_proc psql; /* 64 KiB: not on a thread's stack */
    kit_proc_opts o = {.env = env, .err = KIT_STDERR_MERGED};
    int code = kit_run(&psql, argv, &o, 5000);
    explicit_bzero(pw, sizeof pw);
    if (code != 0) return -1;
    int n = atoi(psql.obuf);
    snprintf(detail, size, "%d advisory locks of '%s'", n, FAULTS_NAME);
    return n;
  }
  /* ZooKeeper: `dump` on the leader lists every session's ephemeral nodes. */
  int m = leader_member(r);
  if (m < 0 || test_tcp_ask(r->cl.member[m].port, "dump", 4, reply, sizeof reply, 2000) != 0)
    return -1;
  int nodes = 0;
  for (const char *p = strstr(reply, "/" FAULTS_NAME "/"); p != NULL;
       p = strstr(p + 1, "/" FAULTS_NAME "/"))
    nodes++;
  snprintf(detail, size, "%d ephemeral znodes under /%s", nodes, FAULTS_NAME);
  return nodes;
}

static int start_servers(run *r) {
  bool redlock = strcmp(r->d->backend, "redlock") == 0;
  if (strcmp(r->d->backend, "redis") == 0 || (redlock && r->d->persistent)) {
    test_redis_opts o = {.persistent = r->d->persistent};
    /* Fresh ports on a failed start, as test_cluster_start does. */
    for (int i = 0; i < 3; i++) {
      int rc = redlock ? test_redlock_start(&r->cl, r->d->members, &o) : test_redis_start(&r->cl, &o);
      if (rc == 0) return 0;
    }
    return -1;
  }
  char kind[16];
  snprintf(kind, sizeof kind, "%s%s", r->d->backend,
           r->d->members > 1 && !sentinel(r) ? "3" : "");
  return test_cluster_start(&r->cl, kind);
}

/* ---- the faults ---------------------------------------------------------- */

typedef struct fault {
  int id;
  fault_kind kind;
  int64_t inject_ns;
} fault;

static int wait_for_holder(run *r) {
  wait_until(r, has_leader, NULL, 10000 + 3LL * r->cfg->ttl_ms);
  return holder(r);
}

/* "inject" with the holder at that moment: the checker needs its term. */
static void inject(run *r, fault *f, fault_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void inject(run *r, fault *f, fault_kind kind, const char *fmt, ...) {
  char what[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  f->id = ++r->next_id;
  f->kind = kind;
  int h = holder(r);
  f->inject_ns = kit_now_ns();
  fprintf(r->flog, "%" PRId64 " inject id=%d kind=%s holder=%d token=%" PRIu64 " %s\n",
          f->inject_ns, f->id, fault_names[kind], h, h >= 0 ? r->c[h].token : 0, what);
  fflush(r->flog);
  say(r, "#%d %s: %s", f->id, fault_names[kind], what);
}

static void heal(run *r, const fault *f, const char *what) {
  rec(r, "heal id=%d %s", f->id, what);
  if (r->cfg->verbose) say(r, "#%d healed: %s", f->id, what);
}

/* After a fault: a leader (one elected after the fault when need_new). */
static void recover(run *r, const fault *f, bool need_new) {
  int64_t bound = r->cfg->ttl_ms + 10000 + (r->d->members > 1 ? r->cfg->cluster_bound_ms
                                                                : r->cfg->bound_ms);
  bool ok = need_new ? wait_until(r, new_leader, &f->inject_ns, bound)
                     : wait_until(r, has_leader, NULL, bound);
  int h = holder(r);
  if (ok) {
    rec(r, "recovered id=%d slot=%d token=%" PRIu64, f->id, h, r->c[h].token);
    if (need_new)
      say(r, "#%d new leader: %s, token %" PRIu64 ", %.2f s after the fault", f->id,
          r->c[h].identity, r->c[h].token, (double)(kit_now_ns() - f->inject_ns) / 1e9);
    else
      say(r, "#%d leader: %s, token %" PRIu64, f->id, r->c[h].identity, r->c[h].token);
  } else {
    rec(r, "noleader id=%d", f->id);
    say(r, "#%d NO LEADER within %.1f s", f->id, (double)bound / 1e3);
  }
}

/* Live (not zombie) processes in process group `group`, from /proc. */
static int live_in_group(pid_t group) {
  DIR *d = opendir("/proc");
  if (d == NULL) return -1;
  int live = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    char path[64], buf[512];
    if (de->d_name[0] < '0' || de->d_name[0] > '9') continue;
    snprintf(path, sizeof path, "/proc/%.20s/stat", de->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) continue;
    buf[n] = '\0';
    /* "pid (comm) state ppid pgrp ...": comm may hold spaces and parens. */
    const char *close_paren = strrchr(buf, ')');
    char state;
    int ppid, pgrp;
    if (close_paren != NULL && sscanf(close_paren + 1, " %c %d %d", &state, &ppid, &pgrp) == 3 &&
        pgrp == group && state != 'Z' && state != 'X')
      live++;
  }
  closedir(d);
  return live;
}

/* A SIGKILLed baton's command must die with it: its guard SIGKILLs the
 * group when baton dies. Bounded: the guard's pidfd says when it is gone;
 * then no live process may be left in the group (zombies are dead: this
 * machine's init reaps orphans lazily). */
static void group_gone(run *r, const fault *f, pid_t group, int guard_fd) {
  int64_t start = kit_now_ns();
  struct pollfd p = {.fd = guard_fd, .events = POLLIN};
  poll(&p, 1, 2000);
  /* SIGKILL is delivered asynchronously, and no event says a group is
   * empty: it is looked at until a second has passed. */
  int live = live_in_group(group);
  for (int64_t end = kit_now_ms() + 1000; live > 0 && kit_ms_left(end) > 0;) {
    kit_sleep_ms(10);
    live = live_in_group(group);
  }
  if (live == 0)
    rec(r, "group-gone id=%d group=%d after_ms=%.1f", f->id, (int)group,
        (double)(kit_now_ns() - start) / MS);
  else
    rec(r, "orphans what=group id=%d count=%d group=%d", f->id, live, (int)group);
}

static void fault_kill(run *r) {
  int h = wait_for_holder(r);
  if (h < 0) return;
  cand *c = &r->c[h];
  pid_t group = c->cmd_group;
  /* The guard leads CMD's group: a pidfd says when it is gone, taken
   * before the kill so that its number cannot be reused meanwhile. */
  int guard_fd = group > 0 ? (int)pidfd_open(group, 0) : -1;
  fault f;
  inject(r, &f, F_KILL, "SIGKILL %s (baton pid %d, token %" PRIu64 ")", c->identity, (int)c->pid,
         c->token);
  kill(c->pid, SIGKILL);
  wait_until(r, cand_gone, &h, 10000);
  if (guard_fd >= 0) {
    group_gone(r, &f, group, guard_fd);
    close(guard_fd);
  }
  heal(r, &f, "respawned");
  /* Another candidate may still hold a term (one won on another master
   * during a Sentinel fail-over, counted apart): no new term is due. */
  bool other = has_leader(r, NULL);
  spawn_cand(r, c);
  recover(r, &f, !other);
}

static void fault_pause(run *r) {
  int h = wait_for_holder(r);
  if (h < 0) return;
  cand *c = &r->c[h];
  pid_t group = c->cmd_group;
  term_ref t = {h, c->token};
  fault f;
  inject(r, &f, F_PAUSE, "SIGSTOP %s (baton pid %d and its command's group %d, token %" PRIu64
         ")", c->identity, (int)c->pid, (int)group, c->token);
  kill(c->pid, SIGSTOP);
  int status;
  if (waitpid(c->pid, &status, WUNTRACED) == c->pid && !WIFSTOPPED(status))
    cand_exited(r, c, status); /* it ended before the stop landed */
  if (group > 0) kill(-group, SIGSTOP);
  /* Past the TTL, and until another candidate leads: then the paused
   * holder's command, resumed first, acts on a term that is over. */
  int64_t hold_ms = faults_between(&r->rng, r->cfg->ttl_ms * 6 / 5, r->cfg->ttl_ms * 9 / 5);
  pass(r, hold_ms);
  wait_until(r, other_leader, &h, 4LL * r->cfg->ttl_ms);
  if (group > 0) {
    snprintf(r->watch_writer, sizeof r->watch_writer, "%s", c->identity);
    r->watch_token = t.token;
    r->watch_after = kit_now_ns();
    r->watch_seen = false;
    kill(-group, SIGCONT);
    rec(r, "resume-command id=%d group=%d", f.id, (int)group);
    wait_until(r, watch_seen, NULL, 1000 + 2LL * r->cfg->every_ms);
    r->watch_writer[0] = '\0';
  }
  if (c->pid > 0) kill(c->pid, SIGCONT);
  if (c->pid == 0) spawn_cand(r, c); /* it ended on its own: reported, replaced */
  heal(r, &f, r->watch_seen ? "SIGCONT; its command wrote on the old token first"
                            : "SIGCONT");
  /* The paused term must be over before the next fault. */
  wait_until(r, term_over, &t, 4LL * r->cfg->ttl_ms);
  recover(r, &f, false);
}

/* A member to hit: the leader in a short run or half of the time, else any. */
/* A member to hit: the cluster's leader when asked or half of the time,
 * else any. *is_leader says whether it leads (one question, so the record
 * and the choice agree). */
static int pick_member(run *r, bool leader_first, bool *is_leader) {
  *is_leader = false;
  if (r->cl.n == 1) return 0;
  bool want_leader = leader_first || faults_rand(&r->rng) % 2 == 0;
  int any = (int)faults_between(&r->rng, 0, r->cl.n - 1);
  int leader = leader_member(r);
  int m = want_leader && leader >= 0 ? leader : any;
  *is_leader = m == leader;
  return m;
}

static void fault_restart(run *r) {
  wait_for_holder(r);
  bool was_leader;
  int m = pick_member(r, r->cfg->short_run, &was_leader);
  /* A Redis (or a Redlock instance) restarted without persistence has
   * lost the key; restart-safe terms keep the next term waiting until the
   * server's start + TTL, so no overlap is excused. */
  bool redis = strcmp(r->d->backend, "redis") == 0 || strcmp(r->d->backend, "redlock") == 0;
  bool loses_data = redis && !r->d->persistent;
  fault f;
  inject(r, &f, F_RESTART, "member=%d leader=%d restart %s member %d%s%s", m, was_leader,
         r->d->backend, m, was_leader ? " (the leader)" : "",
         loses_data ? " (no persistence: its data is lost)" : "");
  int rc = test_server_restart(&r->cl.member[m]);
  heal(r, &f, rc == 0 ? "ready" : "DID NOT RESTART");
  if (rc != 0) rec(r, "broken what=restart member=%d", m);
  recover(r, &f, false);
}

/* Sentinel's restart: the master killed (no persistence); Sentinel
 * promotes a replica; the old master starts again once another is named,
 * and Sentinel makes it a replica. Replication is asynchronous, so the
 * holder's last writes may be lost with the master: its term is excused
 * (counted apart), and stays fenced by the token. */
static void fault_failover(run *r) {
  wait_for_holder(r);
  int m = leader_member(r);
  fault f;
  inject(r, &f, F_RESTART, "member=%d leader=1 excuse=1 kill the Sentinel master (member %d), "
         "restart it once Sentinel names another", m, m);
  if (m < 0) {
    rec(r, "broken what=restart member=-1");
    return;
  }
  test_server_kill(&r->cl.member[m]);
  bool moved = wait_until(r, master_moved, &m, 30000);
  int rc = test_server_restart(&r->cl.member[m]);
  /* One fault at a time: the next finds two replicas to fail over to
   * (Sentinel makes the old master one 8 s or more after it is back). */
  if (rc == 0) wait_until(r, sentinel_healthy, NULL, 60000);
  heal(r, &f, !moved ? "NO FAIL-OVER" : rc == 0 ? "failed over; old master back" : "DID NOT RESTART");
  if (!moved || rc != 0) rec(r, "broken what=restart member=%d", m);
  recover(r, &f, false);
}

static void fault_spause(run *r) {
  wait_for_holder(r);
  bool was_leader;
  int m = pick_member(r, false, &was_leader);
  int64_t hold_ms = faults_between(&r->rng, r->cfg->ttl_ms * 6 / 5, r->cfg->ttl_ms * 2);
  fault f;
  /* A Sentinel master paused past down-after is failed over: what did
   * not reach a replica is lost, as in fault_failover. */
  inject(r, &f, F_SPAUSE, "member=%d leader=%d excuse=%d SIGSTOP %s member %d%s for %lld ms", m,
         was_leader, sentinel(r) && was_leader, r->d->backend, m,
         was_leader ? " (the leader)" : "", (long long)hold_ms);
  test_server_pause(&r->cl.member[m]);
  pass(r, hold_ms);
  test_server_resume(&r->cl.member[m]);
  if (sentinel(r)) wait_until(r, sentinel_healthy, NULL, 60000); /* as fault_failover */
  heal(r, &f, "SIGCONT");
  recover(r, &f, false);
}

static void fault_cut(run *r, fault_kind kind) {
  int h = wait_for_holder(r);
  /* The holder two times out of three: that is where safety is at stake. */
  int s = h;
  if (h < 0 || faults_rand(&r->rng) % 3 == 0) s = (int)faults_between(&r->rng, 0, r->n - 1);
  cand *c = &r->c[s];
  proxy_mode mode = kind == F_DROP ? PROXY_DROP : kind == F_STALL ? PROXY_STALL : PROXY_SLOW;
  int delay = kind == F_SLOW ? (int)faults_between(&r->rng, 50, 400) : 0;
  int64_t hold_ms = kind == F_SLOW
                        ? faults_between(&r->rng, r->cfg->ttl_ms * 3 / 2, r->cfg->ttl_ms * 3)
                        : faults_between(&r->rng, r->cfg->ttl_ms * 6 / 5, r->cfg->ttl_ms * 5 / 2);
  char how[48] = "";
  if (kind == F_SLOW) snprintf(how, sizeof how, ", %d ms per chunk", delay);
  fault f;
  inject(r, &f, kind, "target=%d cut %s%s from its servers (%s%s) for %lld ms", s, c->identity,
         s == h ? " (the holder)" : "", fault_names[kind], how, (long long)hold_ms);
  for (int m = 0; m < r->cl.n; m++) proxy_set_mode(c->px[m], mode, delay);
  pass(r, hold_ms);
  for (int m = 0; m < r->cl.n; m++) proxy_set_mode(c->px[m], PROXY_PASS, 0);
  heal(r, &f, "proxies pass");
  recover(r, &f, false);
}

static void inject_one(run *r, fault_kind k) {
  switch (k) {
    case F_KILL: fault_kill(r); break;
    case F_PAUSE: fault_pause(r); break;
    case F_RESTART: sentinel(r) ? fault_failover(r) : fault_restart(r); break;
    case F_DROP:
    case F_STALL:
    case F_SLOW: fault_cut(r, k); break;
    case F_SPAUSE: fault_spause(r); break;
    case F_NKINDS: break;
  }
}

/* What a short run injects here, once each: everything on a single node;
 * on a cluster the member faults (the leader first) and a holder's death;
 * on Redis with persistence the restart that must keep the term. */
static int short_plan(const deployment *d, fault_kind *out) {
  int n = 0;
  if (strcmp(d->backend, "sentinel") == 0) {
    out[n++] = F_RESTART;
    out[n++] = F_SPAUSE;
    out[n++] = F_KILL;
    out[n++] = F_PAUSE;
  } else if (d->members > 1) {
    out[n++] = F_RESTART;
    out[n++] = F_SPAUSE;
    out[n++] = F_KILL;
  } else if (d->persistent) {
    out[n++] = F_RESTART;
    out[n++] = F_KILL;
  } else {
    for (int k = 0; k < F_NKINDS; k++) out[n++] = (fault_kind)k;
  }
  return n;
}

/* ---- teardown ------------------------------------------------------------ */

/* Whether a command line (NULs turned to spaces) runs `exe`. */
static bool runs(const char *cmd, const char *exe) {
  size_t n = strlen(exe);
  return strncmp(cmd, exe, n) == 0 && cmd[n] == ' ';
}

/* Whether `pid`'s command line runs one of our executables (a
 * candidate's baton or its guard, a writer, the store) on our folder. */
static bool ours(run *r, long pid) {
  char path[64], cmd[4096];
  snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, cmd, sizeof cmd - 1);
  close(fd);
  if (n <= 0) return false;
  for (ssize_t k = 0; k < n; k++)
    if (cmd[k] == '\0') cmd[k] = ' ';
  cmd[n] = '\0';
  return strstr(cmd, r->dir) != NULL &&
         (runs(cmd, r->cfg->baton_exe) || runs(cmd, r->cfg->writer_exe) ||
          runs(cmd, r->cfg->store_exe));
}

/* Processes of ours still running after every candidate was stopped.
 * This process is a child subreaper (faults_run), so whatever a killed
 * candidate left behind is our child now: found among our children, not
 * by a scan of every process, killed and reaped by PID. A killed guard's
 * own child comes to us next, so the search goes on for a few rounds. */
static int orphan_processes(run *r, char *list, size_t size) {
  list[0] = '\0';
  int found = 0;
  for (int round = 0; round < 4; round++) {
    int this_round = 0;
    DIR *tasks = opendir("/proc/self/task");
    if (tasks == NULL) return -1;
    struct dirent *t;
    while ((t = readdir(tasks)) != NULL) {
      if (t->d_name[0] == '.') continue;
      char path[300], children[4096];
      snprintf(path, sizeof path, "/proc/self/task/%s/children", t->d_name);
      int fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      ssize_t n = read(fd, children, sizeof children - 1);
      close(fd);
      children[n > 0 ? n : 0] = '\0';
      for (char *p = children, *end; *p != '\0'; p = end) {
        long pid = strtol(p, &end, 10);
        if (end == p) break;
        if (pid <= 0 || !ours(r, pid)) continue;
        this_round++;
        size_t len = strlen(list);
        snprintf(list + len, size - len, "%s%ld", len ? "," : "", pid);
        kill((pid_t)pid, SIGKILL);
        waitpid((pid_t)pid, NULL, 0);
      }
    }
    closedir(tasks);
    found += this_round;
    if (this_round == 0) break;
  }
  return found;
}

static bool no_leftovers(run *r, const void *arg) {
  char detail[256];
  (void)arg;
  return leftovers(r, detail, sizeof detail) == 0;
}

static void teardown(run *r) {
  rec(r, "end");
  for (int i = 0; i < r->n; i++)
    if (r->c[i].pid > 0) {
      kill(r->c[i].pid, SIGCONT);
      kill(r->c[i].pid, SIGTERM);
    }
  if (!wait_until(r, all_gone, NULL, 20000)) {
    for (int i = 0; i < r->n; i++)
      if (r->c[i].pid > 0) {
        rec(r, "broken what=stop slot=%d pid=%d", i, (int)r->c[i].pid);
        kill(r->c[i].pid, SIGKILL);
        reap_cand(r, &r->c[i], true);
      }
  }
  /* Keys of a killed candidate live until the server expires them: one TTL
   * from its last renewal, plus the bound. */
  int64_t start = kit_now_ns();
  char detail[256] = "";
  if (r->cl.n > 0) wait_every(r, no_leftovers, NULL, 2LL * r->cfg->ttl_ms + 5000, 200);
  int keys = r->cl.n > 0 ? leftovers(r, detail, sizeof detail) : -1;
  rec(r, "orphans what=keys count=%d after_ms=%lld %s", keys,
      (long long)((kit_now_ns() - start) / MS), detail);
  stop_store(r);
  char pids[1024];
  int procs = orphan_processes(r, pids, sizeof pids);
  rec(r, "orphans what=processes count=%d pids=%s", procs, pids[0] ? pids : "-");
  say(r, "stopped: leftovers on the servers: %s; orphan processes: %d", detail[0] ? detail : "?",
      procs);
}

/* ---- one deployment ------------------------------------------------------ */

static FILE *open_log(const char *dir, const char *name) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return fopen(path, "we");
}

int faults_run(const faults_config *cfg, const deployment *d, uint64_t seed, const char *dir) {
  static run r; /* large; one deployment at a time */
  memset(&r, 0, sizeof r);
  /* What a killed candidate leaves running becomes our child: see
   * orphan_processes. */
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return -1;
  r.cfg = cfg;
  r.d = d;
  r.dir = dir;
  r.rng.s = seed;
  r.store_fd = -1;
  r.n = cfg->candidates;
  r.t0 = kit_now_ns();
  for (int i = 0; i < FAULTS_MAX_CAND; i++) {
    r.c[i].slot = i;
    r.c[i].pidfd = r.c[i].ev_fd = -1;
    snprintf(r.c[i].identity, sizeof r.c[i].identity, "cand-%d", i);
  }
  r.flog = open_log(dir, "faults.log");
  r.elog = open_log(dir, "events.log");
  r.slog = open_log(dir, "store.log");
  int rc = -1;
  if (r.flog == NULL || r.elog == NULL || r.slog == NULL) {
    fprintf(stderr, "faults: cannot write in %s\n", dir);
    goto out;
  }
  rec(&r, "config deployment=%s backend=%s members=%d persistent=%d ttl_ms=%d candidates=%d "
      "bound_ms=%d seed=%" PRIu64, d->label, d->backend, d->members, d->persistent, cfg->ttl_ms,
      cfg->candidates, d->members > 1 ? cfg->cluster_bound_ms : cfg->bound_ms, seed);
  say(&r, "starting %s (%d member%s)%s, seed %" PRIu64, d->backend, d->members,
      d->members > 1 ? "s" : "", d->persistent ? " with persistence" : "", seed);
  if (start_servers(&r) != 0) {
    rec(&r, "broken what=servers");
    goto out;
  }
  if (start_store(&r) != 0) {
    rec(&r, "broken what=store");
    goto out;
  }
  for (int i = 0; i < r.n; i++) {
    cand *c = &r.c[i];
    int ports[TEST_MAX_MEMBERS];
    for (int m = 0; m < r.cl.n && !sentinel(&r); m++) {
      if (proxy_start(&c->px[m], r.cl.member[m].port) != 0) {
        rec(&r, "broken what=proxy");
        goto out;
      }
      ports[m] = proxy_port(c->px[m]);
    }
    if (sentinel(&r))
      snprintf(c->uri, sizeof c->uri, "%s", r.cl.uri);
    else
      kit_uri_at(c->uri, sizeof c->uri, r.cl.uri, ports, r.cl.n);
    if (spawn_cand(&r, c) != 0) {
      rec(&r, "broken what=spawn slot=%d", i);
      goto out;
    }
  }
  if (!wait_until(&r, has_leader, NULL, 30000)) {
    rec(&r, "noleader id=0");
    say(&r, "nobody was elected within 30 s");
    goto out;
  }
  rec(&r, "first-leader slot=%d", holder(&r));
  pass(&r, 500);
  fault_kind plan[F_NKINDS];
  int planned = cfg->short_run ? short_plan(d, plan) : 0;
  for (int i = planned - 1; i > 0; i--) { /* Fisher-Yates with the seed */
    int j = (int)faults_between(&r.rng, 0, i);
    fault_kind t = plan[i];
    plan[i] = plan[j];
    plan[j] = t;
  }
  /* A short run ends after its plan, a long one at its duration. */
  int64_t end = kit_now_ms() + cfg->duration_ms;
  for (int i = 0; !faults_interrupted; i++) {
    if (cfg->short_run ? i >= planned : kit_ms_left(end) == 0) break;
    fault_kind k = cfg->short_run ? plan[i] : (fault_kind)faults_between(&r.rng, 0, F_NKINDS - 1);
    if (!cfg->short_run && sentinel(&r) && (k == F_DROP || k == F_STALL || k == F_SLOW))
      k = F_RESTART; /* no cut faults there: a fail-over instead */
    inject_one(&r, k);
    /* The workload runs a while between faults. */
    pass(&r, faults_between(&r.rng, 300, cfg->short_run ? 800 : 2000));
  }
  rc = 0;
out:
  if (faults_interrupted) rec(&r, "broken what=interrupted");
  if (r.flog != NULL) teardown(&r);
  for (int i = 0; i < r.n; i++)
    for (int m = 0; m < TEST_MAX_MEMBERS; m++) proxy_stop(r.c[i].px[m]);
  stop_store(&r);
  test_cluster_stop(&r.cl);
  if (r.flog != NULL) fclose(r.flog);
  if (r.elog != NULL) fclose(r.elog);
  if (r.slog != NULL) fclose(r.slog);
  return rc;
}
