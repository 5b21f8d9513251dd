/* kit.c — the test kit: names, conditions, child processes and the
 * servers of a suite or a case, each wait bounded by a deadline. */
#include "kit.h"

#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* A test never dies of SIGPIPE: a peer that went away is an error its
 * write returns, which the case reports. Before main, so that servers
 * started there are covered too; children get the default back. */
__attribute__((constructor)) static void ignore_sigpipe(void) { signal(SIGPIPE, SIG_IGN); }

/* ---- names -------------------------------------------------------------- */

const char *kit_name(const char *tag) {
  static char names[8][96];
  static unsigned seq;
  char *n = names[seq % 8];
  snprintf(n, sizeof names[0], "%s-%d-%u", tag, (int)getpid(), ++seq);
  return n;
}

/* ---- waiting on a condition ---------------------------------------------- */

void kit_cond_init(kit_cond *c) {
  pthread_mutex_init(&c->mu, NULL);
  pthread_condattr_t a;
  pthread_condattr_init(&a);
  pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
  pthread_cond_init(&c->cond, &a);
  pthread_condattr_destroy(&a);
}

void kit_cond_destroy(kit_cond *c) {
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cond);
}

bool kit_cond_wait(kit_cond *c, int64_t end_ms) {
  if (kit_ms_left(end_ms) == 0) return false;
  struct timespec ts = {(time_t)(end_ms / 1000), (long)(end_ms % 1000) * 1000000L};
  pthread_cond_timedwait(&c->cond, &c->mu, &ts);
  return true;
}

void kit_cond_broadcast(kit_cond *c) {
  pthread_mutex_lock(&c->mu);
  pthread_cond_broadcast(&c->cond);
  pthread_mutex_unlock(&c->mu);
}

void kit_cond_add(kit_cond *c, int *v, int add) {
  pthread_mutex_lock(&c->mu);
  *v += add;
  pthread_cond_broadcast(&c->cond);
  pthread_mutex_unlock(&c->mu);
}

bool kit_await_count(kit_cond *c, const int *v, int target, int ms) {
  int64_t end = kit_now_ms() + ms;
  pthread_mutex_lock(&c->mu);
  while (*v < target && kit_cond_wait(c, end)) {
  }
  bool reached = *v >= target;
  pthread_mutex_unlock(&c->mu);
  return reached;
}

bool kit_read_line(int fd, char *buf, size_t size, int64_t end_ms) {
  size_t got = 0;
  while (got + 1 < size) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int left = kit_ms_left(end_ms);
    if (left == 0 || poll(&p, 1, left) != 1 || read(fd, buf + got, 1) != 1) break;
    if (buf[got] == '\n') {
      buf[got] = '\0';
      return true;
    }
    got++;
  }
  buf[got] = '\0';
  return false;
}

/* ---- sockets and members ------------------------------------------------ */

int kit_listen(int backlog, int *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, backlog) != 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  *port = ntohs(sa.sin_port);
  return fd;
}

const char *kit_member_addr(const test_cluster *c, int i, char *buf, size_t size) {
  snprintf(buf, size, "127.0.0.1:%d", c->member[i].port);
  return buf;
}

void kit_uri_at(char *out, size_t size, const char *uri, const int *ports, int n) {
  const char *hosts = strstr(uri, "://");
  hosts = hosts != NULL ? hosts + 3 : uri;
  const char *rest = hosts + strcspn(hosts, "/?");
  const char *at = NULL;
  for (const char *p = hosts; p < rest; p++)
    if (*p == '@') at = p;
  if (at != NULL) hosts = at + 1;
  size_t len = (size_t)snprintf(out, size, "%.*s", (int)(hosts - uri), uri);
  for (int i = 0; i < n && len < size; i++)
    len += (size_t)snprintf(out + len, size - len, "%s127.0.0.1:%d", i ? "," : "", ports[i]);
  if (len < size) snprintf(out + len, size - len, "%s", rest);
}

/* ---- child processes -------------------------------------------------------- */

#define KIT_PROCS 16 /* processes a case may have running at once */

static kit_proc pool[KIT_PROCS];
static bool pool_used[KIT_PROCS];

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

/* In the child, between fork and exec. */
static void child_exec(const char *const argv[], const char *const envp[], const kit_proc_opts *o,
                       pid_t parent, const int in[2], const int out[2], const int err[2]) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(127);
  dup2(in[0], 0);
  dup2(out[1], 1);
  if (o->err == KIT_STDERR_PIPE) dup2(err[1], 2);
  if (o->err == KIT_STDERR_MERGED) dup2(out[1], 2);
  if (o->only_std_fds) close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
  if (o->stdin_at > 2) dup2(0, o->stdin_at); /* dup2 clears close-on-exec */
  if (o->close_0_and_2) {
    close(0);
    close(2);
  }
  /* A signal the test ignores (SIGPIPE) must not stay ignored in it. */
  signal(SIGPIPE, SIG_DFL);
  execvpe(argv[0], (char *const *)(uintptr_t)argv, (char *const *)(uintptr_t)envp);
  static const char failed[] = "kit: exec failed\n";
  if (write(o->close_0_and_2 ? 1 : 2, failed, sizeof failed - 1) < 0) {
    /* nowhere left to say it */
  }
  _exit(127);
}

/* The child's environment, made before the fork (the child of a threaded
 * test may call only async-signal-safe functions): o->env alone, or ours
 * with o->env's names replaced. NULL when out of memory; free() it. */
static const char **child_env(const kit_proc_opts *o) {
  extern char **environ;
  size_t ours = 0, extra = 0;
  for (; !o->env_only && environ[ours] != NULL; ours++) continue;
  for (; o->env != NULL && o->env[extra] != NULL; extra++) continue;
  const char **envp = calloc(ours + extra + 1, sizeof *envp);
  if (envp == NULL) return NULL;
  size_t n = 0;
  for (size_t i = 0; i < ours; i++) {
    size_t name = strcspn(environ[i], "=");
    bool replaced = false;
    for (size_t j = 0; j < extra && !replaced; j++)
      replaced = strncmp(o->env[j], environ[i], name + 1) == 0;
    if (!replaced) envp[n++] = environ[i];
  }
  for (size_t j = 0; j < extra; j++) envp[n++] = o->env[j];
  envp[n] = NULL;
  return envp;
}

static int proc_open(kit_proc *p, const char *const argv[], const kit_proc_opts *o) {
  static const kit_proc_opts plain;
  if (o == NULL) o = &plain;
  memset(p, 0, sizeof *p);
  p->pidfd = p->in = p->out = p->err = -1;
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 ||
      (o->err == KIT_STDERR_PIPE && pipe2(err, O_CLOEXEC) != 0)) {
    int *all[] = {&in[0], &in[1], &out[0], &out[1]};
    for (size_t i = 0; i < 4; i++) close_fd(all[i]);
    return -1;
  }
  const char **envp = child_env(o);
  pid_t parent = getpid();
  pid_t pid = envp != NULL ? fork() : -1;
  if (pid == 0) child_exec(argv, envp, o, parent, in, out, err);
  free(envp);
  close_fd(&in[0]);
  close_fd(&out[1]);
  close_fd(&err[1]);
  p->in = in[1];
  p->out = out[0];
  p->err = err[0];
  if (pid < 0) {
    close_fd(&p->in);
    close_fd(&p->out);
    close_fd(&p->err);
    return -1;
  }
  p->pid = pid;
  fcntl(p->in, F_SETFL, O_NONBLOCK); /* a child that does not read never blocks us */
  fcntl(p->out, F_SETFL, O_NONBLOCK);
  if (p->err >= 0) fcntl(p->err, F_SETFL, O_NONBLOCK);
  p->pidfd = pidfd_open(pid, 0);
  if (p->pidfd >= 0) return 0;
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  p->pid = 0;
  close_fd(&p->in);
  close_fd(&p->out);
  close_fd(&p->err);
  return -1;
}

/* Read what fd holds into buf (at most a bounded number of reads: a child
 * that writes without pause must not keep us here); EOF closes fd. Once
 * buf is full, what comes after is read and dropped: the head is kept. */
static void slurp(int *fd, char *buf, size_t *len) {
  char spill[4096];
  for (int reads = 0; reads < 64 && *fd >= 0; reads++) {
    bool full = *len + 1 >= KIT_OUT_MAX;
    ssize_t n = full ? read(*fd, spill, sizeof spill) : read(*fd, buf + *len, KIT_OUT_MAX - 1 - *len);
    if (n > 0) {
      if (!full) *len += (size_t)n;
      buf[*len] = '\0';
      continue;
    }
    if (n == 0) close_fd(fd);
    return;
  }
}

static void reap(kit_proc *p, bool block) {
  int status;
  if (p->exited || p->pid <= 0 || waitpid(p->pid, &status, block ? 0 : WNOHANG) != p->pid)
    return;
  p->exited = true;
  p->exited_ms = kit_now_ms();
  p->code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void kit_proc_pump(kit_proc *p, int ms) {
  struct pollfd f[3] = {{.fd = p->out, .events = POLLIN},
                        {.fd = p->err, .events = POLLIN},
                        {.fd = p->exited ? -1 : p->pidfd, .events = POLLIN}};
  if (poll(f, 3, ms < 0 ? 0 : ms) <= 0) return;
  slurp(&p->out, p->obuf, &p->olen);
  slurp(&p->err, p->ebuf, &p->elen);
  if (f[2].revents & POLLIN) reap(p, false);
}

int kit_proc_line(kit_proc *p, char *line, size_t size, int ms) {
  int64_t end = kit_now_ms() + ms;
  for (;;) {
    char *nl = memchr(p->obuf, '\n', p->olen);
    if (nl != NULL) {
      size_t n = (size_t)(nl - p->obuf);
      snprintf(line, size, "%.*s", (int)n, p->obuf);
      memmove(p->obuf, nl + 1, p->olen - n - 1);
      p->olen -= n + 1;
      p->obuf[p->olen] = '\0';
      return 0;
    }
    int left = kit_ms_left(end);
    if (left == 0 || (p->out < 0 && p->exited)) break;
    kit_proc_pump(p, left);
  }
  line[0] = '\0';
  return -1;
}

int kit_proc_expect(kit_proc *p, const char *prefix, int ms, char *line, size_t size) {
  int64_t end = kit_now_ms() + ms;
  char got[1024];
  while (kit_proc_line(p, got, sizeof got, kit_ms_left(end)) == 0) {
    if (strncmp(got, prefix, strlen(prefix)) == 0) {
      if (line != NULL) snprintf(line, size, "%s", got);
      return 0;
    }
    /* Show what is skipped, tracebacks and warnings included. */
    fprintf(stderr, "  child: %s\n", got);
  }
  return -1;
}

/* A child that does not read its stdin must not block the test: a write
 * that does not fit in the pipe within this bound fails. */
#define KIT_SEND_MS 5000

int kit_proc_send(kit_proc *p, const char *line) {
  size_t len = strlen(line);
  char text[4096];
  if (p->in < 0 || len + 1 > sizeof text) return -1;
  memcpy(text, line, len);
  text[len++] = '\n';
  int64_t end = kit_now_ms() + KIT_SEND_MS;
  for (size_t sent = 0; sent < len;) {
    struct pollfd f = {.fd = p->in, .events = POLLOUT};
    if (poll(&f, 1, kit_ms_left(end)) <= 0) return -1;
    ssize_t n = write(p->in, text + sent, len - sent);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) return -1;
    sent += (size_t)n;
  }
  return 0;
}

int kit_proc_wait(kit_proc *p, int ms) {
  int64_t end = kit_now_ms() + ms;
  while (!p->exited && p->pid > 0) {
    int left = kit_ms_left(end);
    if (left == 0) break;
    kit_proc_pump(p, left);
  }
  if (!p->exited) return -1;
  /* What is still in the pipes (a grandchild may hold them open: no wait). */
  slurp(&p->out, p->obuf, &p->olen);
  slurp(&p->err, p->ebuf, &p->elen);
  return p->code;
}

int kit_proc_stop(kit_proc *p, int sig, int ms) {
  bool killed = false;
  if (p->pid > 0 && !p->exited) {
    if (sig != 0) {
      kill(p->pid, sig);
      kill(p->pid, SIGCONT);
    }
    close_fd(&p->in);
    if (kit_proc_wait(p, ms) < 0) {
      kill(p->pid, SIGKILL);
      reap(p, true);
      killed = true;
    }
  }
  int *fds[] = {&p->pidfd, &p->in, &p->out, &p->err};
  for (size_t i = 0; i < 4; i++) close_fd(fds[i]);
  if (p >= pool && p < pool + KIT_PROCS) pool_used[p - pool] = false;
  return p->exited && !killed ? p->code : -1;
}

kit_proc *kit_spawn(const char *const argv[], const kit_proc_opts *o) {
  for (int i = 0; i < KIT_PROCS; i++) {
    if (pool_used[i]) continue;
    if (proc_open(&pool[i], argv, o) != 0) {
      TEST_FAIL_("cannot start %s: %s", argv[0], strerror(errno));
      return NULL;
    }
    pool_used[i] = true;
    return &pool[i];
  }
  TEST_FAIL_("cannot start %s: %d processes run already", argv[0], KIT_PROCS);
  return NULL;
}

int kit_run(kit_proc *p, const char *const argv[], const kit_proc_opts *o, int ms) {
  if (proc_open(p, argv, o) != 0) return -1;
  close_fd(&p->in);
  int code = kit_proc_wait(p, ms);
  kit_proc_stop(p, SIGKILL, 0);
  return code;
}

int kit_run_output(const char *const argv[], char *out, size_t size, int ms) {
  static kit_proc p; /* 64 KiB: not on a thread's stack */
  kit_proc_opts o = {.err = KIT_STDERR_MERGED};
  int code = kit_run(&p, argv, &o, ms);
  snprintf(out, size, "%s", p.obuf);
  return code;
}

int64_t kit_pidfd_gone(int pidfd, int ms) {
  int64_t end = kit_now_ms() + ms;
  struct pollfd f = {.fd = pidfd, .events = POLLIN};
  for (int left = ms; left > 0; left = kit_ms_left(end)) {
    int n = poll(&f, 1, left);
    if (n > 0) return kit_now_ms();
    if (n < 0 && errno != EINTR) break;
  }
  return -1;
}

int64_t kit_pid_gone(pid_t pid, int ms) {
  int fd = pidfd_open(pid, 0);
  if (fd < 0) return errno == ESRCH ? kit_now_ms() : -1;
  int64_t gone = kit_pidfd_gone(fd, ms);
  close(fd);
  return gone;
}

/* ---- servers -------------------------------------------------------------------- */

#define KIT_FRESH_MAX 4 /* servers of its own a case may start */

static test_cluster suite;
static bool suite_started;
static test_cluster fresh[KIT_FRESH_MAX];
static bool fresh_used[KIT_FRESH_MAX];

test_cluster *kit_server(const char *kind) {
  static char started_kind[32];
  if (suite_started && strcmp(started_kind, kind) == 0) return &suite;
  if (suite_started) {
    TEST_FAIL_("the suite's server is %s, not %s: one per suite", started_kind, kind);
    return NULL;
  }
  if (test_cluster_start(&suite, kind) != 0) {
    TEST_FAIL_("cannot start %s (a missing server is a failure)", kind);
    return NULL;
  }
  snprintf(started_kind, sizeof started_kind, "%s", kind);
  suite_started = true;
  return &suite;
}

static test_cluster *fresh_start(const char *kind, const test_redis_opts *o) {
  for (int i = 0; i < KIT_FRESH_MAX; i++) {
    if (fresh_used[i]) continue;
    int rc = kind != NULL ? test_cluster_start(&fresh[i], kind) : test_redis_start(&fresh[i], o);
    if (rc != 0) {
      TEST_FAIL_("%s did not start", kind != NULL ? kind : "redis-server");
      return NULL;
    }
    fresh_used[i] = true;
    return &fresh[i];
  }
  TEST_FAIL_("more than %d servers in one case", KIT_FRESH_MAX);
  return NULL;
}

test_cluster *kit_fresh_server(const char *kind) { return fresh_start(kind, NULL); }

test_cluster *kit_fresh_redis(const test_redis_opts *o) { return fresh_start(NULL, o); }

#define KIT_HOOKS 4
static void (*case_end_hooks[KIT_HOOKS])(void);

void kit_on_case_end(void (*fn)(void)) {
  for (int i = 0; i < KIT_HOOKS; i++) {
    if (case_end_hooks[i] == fn) return;
    if (case_end_hooks[i] == NULL) {
      case_end_hooks[i] = fn;
      return;
    }
  }
  TEST_FAIL_("more than %d case-end hooks", KIT_HOOKS);
}

/* What a case left: the suite's hook, processes, servers of its own. */
static void case_leftovers(void) {
  for (int i = 0; i < KIT_HOOKS && case_end_hooks[i] != NULL; i++) case_end_hooks[i]();
  for (int i = 0; i < KIT_PROCS; i++)
    if (pool_used[i]) kit_proc_stop(&pool[i], SIGKILL, 5000);
  for (int i = 0; i < KIT_FRESH_MAX; i++)
    if (fresh_used[i]) {
      test_cluster_stop(&fresh[i]);
      fresh_used[i] = false;
    }
}

void kit_case_end(void) {
  case_leftovers();
  /* The next case finds the suite's server whole: resumed, and a member a
   * case killed started again. */
  for (int i = 0; suite_started && i < suite.n; i++) {
    test_server_resume(&suite.member[i]);
    if (suite.member[i].pid <= 0 && test_server_restart(&suite.member[i]) != 0)
      TEST_FAIL_("the suite's %s member %d did not start again", suite.member[i].kind, i);
  }
}

void kit_suite_end(void) {
  case_leftovers();
  if (suite_started) test_cluster_stop(&suite);
  suite_started = false;
}

/* ---- Prometheus ---------------------------------------------------------------- */

int kit_promtool_check(const char *text, size_t len) {
  char path[] = "/tmp/baton-metrics-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return -1;
  bool written = write(fd, text, len) == (ssize_t)len;
  close(fd);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "promtool check metrics < %s", path);
  int rc = written ? system(cmd) : -1;
  unlink(path);
  return rc == -1 || !WIFEXITED(rc) ? -1 : WEXITSTATUS(rc);
}
