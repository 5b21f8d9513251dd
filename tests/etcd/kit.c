/* kit.c — the etcd tests' helpers: sessions, waits on threads, and
 * bounded subprocess runs. */
#include "kit.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int kit_open(kit_session *k, const char *uri, const baton_options *o, int timeout_ms,
             baton_error *err) {
  memset(k, 0, sizeof *k);
  int rc = baton__uri_parse(&k->uri, uri, err);
  if (rc != 0) return rc;
  rc = baton__config_resolve(&k->cfg, k->identity, o, &k->uri, err);
  if (rc == 0) rc = baton_backend_etcd.open(&k->s, &k->uri, &k->cfg, kit_deadline(timeout_ms), err);
  if (rc == 0) {
    k->s->backend = &baton_backend_etcd;
    return 0;
  }
  baton__uri_free(&k->uri);
  k->s = NULL;
  return rc;
}

void kit_close(kit_session *k) {
  if (k->s != NULL) baton_backend_etcd.close(k->s);
  k->s = NULL;
  baton__uri_free(&k->uri);
}

void kit_cand(baton_candidate *c, kit_session *k, const char *name) {
  memset(c, 0, sizeof *c);
  c->name = name;
  c->identity = k->cfg.identity;
}

void kit_forget(kit_session *k, baton_candidate *c) { baton_backend_etcd.forget(k->s, c); }

int64_t kit_deadline(int ms) { return baton__now() + (int64_t)ms * MS_NS; }

int64_t kit_ms_since(int64_t t0) { return (baton__now() - t0) / MS_NS; }

void kit_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void *waiter_main(void *arg) {
  kit_waiter *w = arg;
  w->rc = baton_backend_etcd.wait(w->k->s, w->c, w->seen, w->deadline, w->cancel_fd, &w->err);
  w->woke_at = baton__now();
  return NULL;
}

void kit_wait_start(kit_waiter *w, kit_session *k, baton_candidate *c, int timeout_ms) {
  const baton_leader *seen = w->seen;
  int fd = w->cancel_fd;
  memset(w, 0, sizeof *w);
  w->k = k;
  w->c = c;
  w->seen = seen;
  w->cancel_fd = fd;
  w->deadline = kit_deadline(timeout_ms);
  pthread_create(&w->thread, NULL, waiter_main, w);
}

void kit_wait_join(kit_waiter *w) { pthread_join(w->thread, NULL); }

pid_t kit_spawn(const char *const *argv, int *fd) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    return -1;
  }
  if (pid == 0) {
    dup2(p[1], 1);
    dup2(p[1], 2);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    /* execvp wants char *const[]: copy the pointers, not the strings. */
    char *args[32] = {0};
    for (size_t i = 0; i < 31 && argv[i] != NULL; i++) memcpy(&args[i], &argv[i], sizeof args[i]);
    execvp(args[0], args);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(p[1]);
  *fd = p[0];
  return pid;
}

bool kit_read_until(int fd, char *buf, size_t size, const char *needle, int timeout_ms) {
  size_t len = strlen(buf);
  int64_t end = kit_deadline(timeout_ms);
  for (int i = 0; i < 100000 && strstr(buf, needle) == NULL; i++) {
    int ms = baton__ms_until(end);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (ms == 0 || poll(&p, 1, ms) != 1) return false;
    ssize_t n = read(fd, buf + len, size - 1 - len);
    if (n <= 0) return strstr(buf, needle) != NULL;
    len += (size_t)n;
    buf[len] = '\0';
    if (len + 1 >= size) break;
  }
  return strstr(buf, needle) != NULL;
}

void kit_stop(pid_t pid, int sig) {
  if (pid <= 0) return;
  kill(pid, sig);
  for (int i = 0; i < 250; i++) {
    if (waitpid(pid, NULL, WNOHANG) == pid) return;
    kit_sleep_ms(20);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

int kit_run(const char *const *argv, char *out, size_t size, int timeout_ms) {
  int fd;
  out[0] = '\0';
  pid_t pid = kit_spawn(argv, &fd);
  if (pid < 0) return -1;
  size_t len = 0;
  int64_t end = kit_deadline(timeout_ms);
  for (int i = 0; i < 100000; i++) {
    int ms = baton__ms_until(end);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (ms == 0 || poll(&p, 1, ms) != 1) break;
    char scratch[512];
    bool room = len + 1 < size;
    ssize_t n = read(fd, room ? out + len : scratch, room ? size - 1 - len : sizeof scratch);
    if (n <= 0) break;
    if (room) len += (size_t)n;
    out[len] = '\0';
  }
  close(fd);
  int status = -1;
  for (int i = 0; i < 250; i++) {
    if (waitpid(pid, &status, WNOHANG) == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    kit_sleep_ms(20);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return -1;
}

const char *kit_endpoint(const test_cluster *c, int i, char *buf, size_t size) {
  snprintf(buf, size, "127.0.0.1:%d", c->member[i].port);
  return buf;
}
