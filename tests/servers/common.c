/* common.c — what every server starter shares: ports, folders, spawning,
 * bounded readiness waits, and stopping by PID. */
#include "servers.h"

#include "clock.h" /* the kit's clock, a header: this library needs nothing else of the kit */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* How often a readiness probe asks, and how long a server gets to leave
 * after SIGTERM before SIGKILL. */
#define PROBE_EVERY_MS 20
#define STOP_GRACE_MS 5000

/* A port the kernel calls free now (bound once and released): -1 if none. */
static int kernel_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = -1;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

/* The ports handed out lately: a port released is free again at once, so
 * the kernel may name it twice in a row (a seam case once got one port
 * for two of its three "nothing listens" addresses). */
#define RECENT_PORTS 64

int test_free_port(void) {
  static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  static int recent[RECENT_PORTS];
  static size_t next;
  pthread_mutex_lock(&mu);
  int port = -1;
  for (int tries = 0; tries < 32; tries++) { /* bounded: a repeat is rare */
    port = kernel_free_port();
    bool seen = false;
    for (size_t i = 0; i < RECENT_PORTS && !seen; i++) seen = recent[i] == port;
    if (port < 0 || !seen) break;
  }
  if (port > 0) recent[next++ % RECENT_PORTS] = port;
  pthread_mutex_unlock(&mu);
  return port;
}

int test_make_dir(char *out, size_t size, const char *tag) {
  const char *tmp = getenv("TMPDIR");
  snprintf(out, size, "%s/baton-%s-XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp", tag);
  if (mkdtemp(out) == NULL) {
    fprintf(stderr, "servers: mkdtemp %s: %s\n", out, strerror(errno));
    return -1;
  }
  return 0;
}

int test_write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (f == NULL) {
    fprintf(stderr, "servers: %s: %s\n", path, strerror(errno));
    return -1;
  }
  fputs(text, f);
  return fclose(f) == 0 ? 0 : -1;
}

int test_tcp_ask(int port, const char *cmd, size_t cmd_len, char *buf, size_t size,
                 int timeout_ms) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int64_t end = kit_now_ms() + timeout_ms;
  size_t got = 0;
  int rc = -1;
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) goto out;
  struct pollfd p = {.fd = fd, .events = POLLOUT};
  if (poll(&p, 1, timeout_ms) != 1 || (p.revents & (POLLERR | POLLHUP))) goto out;
  if (send(fd, cmd, cmd_len, MSG_NOSIGNAL) != (ssize_t)cmd_len) goto out;
  p.events = POLLIN;
  while (got + 1 < size) {
    int left = kit_ms_left(end);
    if (left == 0 || poll(&p, 1, left) != 1) break;
    ssize_t n = recv(fd, buf + got, size - 1 - got, 0);
    if (n <= 0) break;
    got += (size_t)n;
    rc = 0;
  }
out:
  if (size > 0) buf[got] = '\0';
  close(fd);
  return rc;
}

static void free_args(test_server *s) {
  free(s->arg_storage);
  s->arg_storage = NULL;
  memset(s->argv, 0, sizeof s->argv);
  memset(s->env, 0, sizeof s->env);
}

/* Copy argv and env into one allocation owned by s. */
static int keep_args(test_server *s, const char *const *argv, const char *const *env) {
  size_t total = 0, na = 0, ne = 0;
  for (; argv[na] != NULL; na++) total += strlen(argv[na]) + 1;
  for (; env != NULL && env[ne] != NULL; ne++) total += strlen(env[ne]) + 1;
  if (na >= sizeof s->argv / sizeof s->argv[0] || ne >= sizeof s->env / sizeof s->env[0])
    return -1;
  char *store = malloc(total), *w = store;
  if (store == NULL) return -1;
  free_args(s);
  s->arg_storage = store;
  for (size_t i = 0; i < na; i++) w = stpcpy(s->argv[i] = w, argv[i]) + 1;
  for (size_t i = 0; i < ne; i++) w = stpcpy(s->env[i] = w, env[i]) + 1;
  return 0;
}

static int launch(test_server *s) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    setpgid(0, 0); /* a terminal's ^C goes to the test, which stops us */
    /* A test killed by ctest's timeout must not leave its servers behind.
     * (The signal follows the forking thread: servers are started from a
     * test's main thread.) */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) _exit(127);
    for (int i = 0; s->env[i] != NULL; i++) putenv(s->env[i]);
    execvp(s->argv[0], s->argv);
    fprintf(stderr, "exec %s: %s\n", s->argv[0], strerror(errno));
    _exit(127);
  }
  s->pid = pid;
  s->paused = false;
  return 0;
}

int test_server_wait_ready(test_server *s, int timeout_ms) {
  /* A server says nothing when it is ready: it is asked, until the end. */
  int64_t end = kit_now_ms() + timeout_ms;
  for (;;) {
    int status;
    if (s->pid <= 0 || waitpid(s->pid, &status, WNOHANG) == s->pid) {
      s->pid = 0;
      fprintf(stderr, "servers: %s exited during start-up; see %s\n", s->kind, s->log);
      return -1;
    }
    if (s->ready(s)) return 0;
    if (kit_ms_left(end) == 0) break;
    kit_sleep_ms(PROBE_EVERY_MS);
  }
  fprintf(stderr, "servers: %s on port %d not ready within %d ms; see %s\n", s->kind, s->port,
          timeout_ms, s->log);
  test_server_kill(s);
  return -1;
}

int test_server_spawn(test_server *s, const char *const *argv, const char *const *env,
                      int timeout_ms) {
  if (keep_args(s, argv, env) != 0) return -1;
  snprintf(s->log, sizeof s->log, "%s/server.log", s->dir);
  if (access(argv[0], X_OK) != 0 && strchr(argv[0], '/') != NULL) {
    fprintf(stderr, "servers: %s is missing (install the Debian package)\n", argv[0]);
    return -1;
  }
  if (launch(s) != 0) return -1;
  return timeout_ms > 0 ? test_server_wait_ready(s, timeout_ms) : 0;
}

/* The children of a server (s->tree) by their PIDs, from
 * /proc/PID/task/PID/children: at most `max`. */
static int children_of(const test_server *s, pid_t *out, int max) {
  if (!s->tree || s->pid <= 0) return 0;
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)s->pid, (int)s->pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  int k = 0;
  for (char *p = buf, *end; k < max; p = end) {
    long v = strtol(p, &end, 10);
    if (end == p) break;
    out[k++] = (pid_t)v;
  }
  return k;
}

static void signal_children(const pid_t *kids, int n, int sig) {
  for (int i = 0; i < n; i++) kill(kids[i], sig);
}

void test_server_kill(test_server *s) {
  if (s->pid <= 0) return;
  pid_t kids[512];
  int nkids = children_of(s, kids, 512);
  kill(s->pid, SIGCONT);
  kill(s->pid, SIGKILL);
  signal_children(kids, nkids, SIGCONT);
  signal_children(kids, nkids, SIGKILL);
  waitpid(s->pid, NULL, 0);
  s->pid = 0;
}

void test_server_pause(test_server *s) {
  if (s->pid <= 0 || s->paused) return; /* a stopped child reports its stop once */
  pid_t kids[512];
  kill(s->pid, SIGSTOP);
  signal_children(kids, children_of(s, kids, 512), SIGSTOP);
  /* SIGSTOP lands asynchronously: wait until the server really stopped, so
   * a test's "paused from now on" is true. */
  int status;
  if (waitpid(s->pid, &status, WUNTRACED) == s->pid && !WIFSTOPPED(status))
    s->pid = 0; /* it had exited: reaped now, its PID may be reused */
  else
    s->paused = true;
}

void test_server_resume(test_server *s) {
  pid_t kids[512];
  if (s->pid > 0) signal_children(kids, children_of(s, kids, 512), SIGCONT);
  if (s->pid > 0) kill(s->pid, SIGCONT);
  s->paused = false;
}

void test_server_stop(test_server *s) {
  if (s->pid <= 0) return;
  kill(s->pid, SIGCONT);
  kill(s->pid, SIGTERM);
  /* Its pidfd turns readable when it has exited. */
  int fd = pidfd_open(s->pid, 0);
  struct pollfd p = {.fd = fd, .events = POLLIN};
  bool exited = fd >= 0 && poll(&p, 1, STOP_GRACE_MS) == 1;
  if (fd >= 0) close(fd);
  if (exited && waitpid(s->pid, NULL, 0) == s->pid) {
    s->pid = 0;
    return;
  }
  test_server_kill(s);
}

int test_server_restart(test_server *s) {
  test_server_kill(s);
  if (launch(s) != 0) return -1;
  return test_server_wait_ready(s, 30000);
}

void test_remove_dir(const char *dir) {
  if (dir[0] == '\0' || strstr(dir, "/baton-") == NULL) return; /* ours only */
  pid_t pid = fork();
  if (pid == 0) {
    execlp("rm", "rm", "-rf", dir, (char *)NULL);
    _exit(127);
  }
  if (pid > 0) waitpid(pid, NULL, 0);
}

int test_cluster_ready(test_cluster *c, const char *scheme, int ms) {
  for (int i = 0; i < c->n; i++)
    if (test_server_wait_ready(&c->member[i], ms) != 0) {
      test_cluster_stop(c);
      return -1;
    }
  int len = snprintf(c->uri, sizeof c->uri, "%s://", scheme);
  for (int i = 0; i < c->n && len > 0 && (size_t)len < sizeof c->uri; i++)
    len += snprintf(c->uri + len, sizeof c->uri - (size_t)len, "%s127.0.0.1:%d", i ? "," : "",
                    c->member[i].port);
  return 0;
}

void test_cluster_stop(test_cluster *c) {
  /* SIGKILL: a throwaway server's state goes with its folder, so nothing
   * needs a graceful stop, and an etcd leader stopped gracefully with its
   * followers gone spends the whole grace trying to hand its leadership
   * over. */
  for (int i = 0; i < c->n; i++) test_server_kill(&c->member[i]);
  for (int i = 0; i < c->n; i++) {
    if (getenv("BATON_KEEP_SERVER_DIRS") == NULL) test_remove_dir(c->member[i].dir);
    free_args(&c->member[i]);
  }
  c->n = 0;
}

void test_print_kinds(FILE *f) {
  const char *sep = "";
#define PRINT_KINDS(b)                              \
  fprintf(f, "%s%s", sep, test_##b##_kinds);        \
  sep = ", ";
  TEST_SERVER_KINDS(PRINT_KINDS)
#undef PRINT_KINDS
}

static int start_kind(test_cluster *c, const char *kind) {
  memset(c, 0, sizeof *c);
  int rc = TEST_NOT_MY_KIND;
#define TRY_KIND(b) \
  if (rc == TEST_NOT_MY_KIND) rc = test_##b##_start_kind(c, kind);
  TEST_SERVER_KINDS(TRY_KIND)
#undef TRY_KIND
  if (rc == TEST_NOT_MY_KIND) {
    fprintf(stderr, "servers: unknown kind '%s' (", kind);
    test_print_kinds(stderr);
    fprintf(stderr, ")\n");
  }
  return rc;
}

int test_cluster_start(test_cluster *c, const char *kind) {
  /* A free port is found by binding and releasing it, so another process
   * can take it before the server binds: a failed start is tried again
   * with fresh ports, a bounded number of times. */
  int rc = -1;
  for (int attempt = 0; attempt < 3; attempt++) {
    rc = start_kind(c, kind);
    if (rc != -1) break;
    fprintf(stderr, "servers: %s did not start; trying again with fresh ports\n", kind);
  }
  return rc == 0 ? 0 : -1;
}
