/* util.c — the zk:// tests' helpers: backend sessions, a raw ZooKeeper
 * handle, waiter threads and child processes, all bounded in time. */
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

pthread_mutex_t tz_mu = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t tz_cond = PTHREAD_COND_INITIALIZER;

int64_t tz_in(int64_t ms) { return baton__now() + ms * 1000000; }

double tz_ms_since(int64_t start) { return (double)(baton__now() - start) / 1e6; }

int tz_open(tz_client *t, const char *uri, const baton_options *o, baton_error *err) {
  memset(t, 0, sizeof *t);
  int rc = baton__uri_parse(&t->uri, uri, err);
  if (rc == 0) rc = baton__config_resolve(&t->cfg, t->ident, o, &t->uri, err);
  if (rc == 0) rc = baton_backend_zk.open(&t->s, &t->uri, &t->cfg, tz_in(10000), err);
  if (rc == 0) t->s->backend = &baton_backend_zk;
  if (rc != 0) baton__uri_free(&t->uri);
  return rc;
}

void tz_close(tz_client *t) {
  if (t->s != NULL) baton_backend_zk.close(t->s);
  t->s = NULL;
  baton__uri_free(&t->uri);
}

baton_candidate tz_cand(const tz_client *t, const char *name) {
  baton_candidate c = {.name = name, .identity = t->cfg.identity};
  return c;
}

void tz_drop(tz_client *t, baton_candidate *c) {
  baton_error err;
  baton_backend_zk.release(t->s, c, tz_in(5000), &err);
  baton_backend_zk.forget(t->s, c);
}

int tz_start(test_cluster *c, int servers) {
  if (test_zk_start(c, servers) == 0) return 0;
  /* Free ports are found by bind-and-release, so a process started at the
   * same moment may take one: one more try with fresh ports. */
  fprintf(stderr, "zk tests: ZooKeeper (%d) did not start; once more\n", servers);
  return test_zk_start(c, servers);
}

void tz_pause(test_server *s) {
  test_server_pause(s);
  /* SIGSTOP takes effect asynchronously: a busy JVM can still answer a
   * request or two. The server is our child, so waitpid reports the moment
   * the whole process has stopped. */
  int status;
  if (s->pid > 0) waitpid(s->pid, &status, WUNTRACED);
}

/* ---- raw handle ------------------------------------------------------------ */

static void quiet(const char *message) { (void)message; }

static void raw_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx) {
  (void)zh;
  (void)type;
  (void)state;
  (void)path;
  (void)ctx;
  pthread_mutex_lock(&tz_mu);
  pthread_cond_broadcast(&tz_cond);
  pthread_mutex_unlock(&tz_mu);
}

void tz_hosts(char *out, size_t size, const char *uri) {
  const char *h = strstr(uri, "://");
  h = h != NULL ? h + 3 : uri;
  const char *at = strchr(h, '@');
  if (at != NULL) h = at + 1;
  size_t len = strcspn(h, "/?");
  snprintf(out, size, "%.*s", (int)len, h);
}

static struct timespec in_ms(int ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

zhandle_t *tz_raw(const char *hosts, const char *auth) {
  zhandle_t *zh = zookeeper_init2(hosts, raw_watcher, 10000, NULL, NULL, ZOO_NO_LOG_CLIENTENV, quiet);
  if (zh == NULL) return NULL;
  int64_t end = tz_in(10000);
  pthread_mutex_lock(&tz_mu);
  while (zoo_state(zh) != ZOO_CONNECTED_STATE && baton__now() < end) {
    struct timespec ts = in_ms(100);
    pthread_cond_timedwait(&tz_cond, &tz_mu, &ts);
  }
  pthread_mutex_unlock(&tz_mu);
  if (zoo_state(zh) != ZOO_CONNECTED_STATE) {
    zookeeper_close(zh);
    return NULL;
  }
  if (auth != NULL) zoo_add_auth(zh, "digest", auth, (int)strlen(auth), NULL, NULL);
  return zh;
}

int tz_children(zhandle_t *zh, const char *path, char *names, size_t size) {
  struct String_vector v = {0, NULL};
  int rc = zoo_get_children(zh, path, 0, &v);
  if (rc != ZOK) return rc < 0 ? rc : -rc;
  if (names != NULL && size > 0) {
    names[0] = '\0';
    size_t len = 0;
    for (int i = 0; i < v.count; i++)
      len += (size_t)snprintf(names + len, len < size ? size - len : 0, "%s%s", i ? "," : "",
                              v.data[i]);
  }
  int n = v.count;
  deallocate_String_vector(&v);
  return n;
}

int tz_delete_tree(zhandle_t *zh, const char *path) {
  struct String_vector v = {0, NULL};
  int rc = zoo_get_children(zh, path, 0, &v);
  if (rc == ZNONODE) return ZOK;
  for (int i = 0; rc == ZOK && i < v.count; i++) {
    char child[1024];
    snprintf(child, sizeof child, "%s/%s", path, v.data[i]);
    rc = tz_delete_tree(zh, child);
  }
  deallocate_String_vector(&v);
  if (rc == ZOK) rc = zoo_delete(zh, path, -1);
  return rc == ZNONODE ? ZOK : rc;
}

/* ---- waiters ----------------------------------------------------------------- */

static void *waiter_main(void *arg) {
  tz_waiter *w = arg;
  int rc = baton_backend_zk.wait(w->t->s, w->c, &w->seen, w->deadline, w->cancel[0], &w->err);
  pthread_mutex_lock(&tz_mu);
  w->rc = rc;
  w->returned_at = baton__now();
  w->done = true;
  pthread_cond_broadcast(&tz_cond);
  pthread_mutex_unlock(&tz_mu);
  return NULL;
}

int tz_waiter_start(tz_waiter *w, tz_client *t, baton_candidate *c, int64_t deadline) {
  baton_leader seen = w->seen;
  memset(w, 0, sizeof *w);
  w->seen = seen;
  w->t = t;
  w->c = c;
  w->deadline = deadline;
  if (pipe2(w->cancel, O_CLOEXEC) != 0) return -1;
  return pthread_create(&w->thread, NULL, waiter_main, w) == 0 ? 0 : -1;
}

int tz_waiters_done(tz_waiter *ws, int n, int count, int ms) {
  int64_t end = tz_in(ms);
  int done = 0;
  pthread_mutex_lock(&tz_mu);
  for (;;) {
    done = 0;
    for (int i = 0; i < n; i++) done += ws[i].done;
    if (done >= count || baton__now() >= end) break;
    struct timespec ts = in_ms(20);
    pthread_cond_timedwait(&tz_cond, &tz_mu, &ts);
  }
  pthread_mutex_unlock(&tz_mu);
  return done;
}

void tz_waiter_cancel(tz_waiter *w) {
  if (write(w->cancel[1], "x", 1) < 0) {
    /* the pipe is ours and empty: cannot fail */
  }
}

void tz_waiter_join(tz_waiter *w) {
  pthread_join(w->thread, NULL);
  close(w->cancel[0]);
  close(w->cancel[1]);
}

/* ---- child processes --------------------------------------------------------- */

int tz_proc_start(tz_proc *p, char *const argv[]) {
  memset(p, 0, sizeof *p);
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0) return -1;
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    return -1;
  }
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    execv(argv[0], argv);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  p->pid = pid;
  p->in = in[1];
  p->out = out[0];
  return 0;
}

int tz_proc_send(tz_proc *p, const char *line) {
  size_t len = strlen(line);
  return write(p->in, line, len) == (ssize_t)len && write(p->in, "\n", 1) == 1 ? 0 : -1;
}

int tz_proc_expect(tz_proc *p, const char *prefix, int ms, char *line, size_t size) {
  int64_t end = tz_in(ms);
  for (;;) {
    char *nl;
    while ((nl = memchr(p->buf, '\n', p->len)) != NULL) {
      *nl = '\0';
      bool match = strncmp(p->buf, prefix, strlen(prefix)) == 0;
      if (match && line != NULL) snprintf(line, size, "%s", p->buf);
      size_t used = (size_t)(nl - p->buf) + 1;
      memmove(p->buf, nl + 1, p->len - used);
      p->len -= used;
      if (match) return 0;
    }
    int left = baton__ms_until(end);
    struct pollfd pfd = {.fd = p->out, .events = POLLIN};
    if (left <= 0 || p->len == sizeof p->buf || poll(&pfd, 1, left) <= 0) return -1;
    ssize_t n = read(p->out, p->buf + p->len, sizeof p->buf - p->len);
    if (n <= 0) return -1;
    p->len += (size_t)n;
  }
}

void tz_proc_kill(tz_proc *p) {
  if (p->pid > 0) {
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
  }
  p->pid = 0;
  if (p->in > 0) close(p->in);
  if (p->out > 0) close(p->out);
  p->in = p->out = -1;
}

void tz_proc_stop(tz_proc *p, int ms) {
  if (p->pid <= 0) return;
  /* Its stdout reaching end-of-file says it exited; kill what is left. */
  tz_proc_send(p, "quit");
  int64_t end = tz_in(ms);
  for (int left; (left = baton__ms_until(end)) > 0;) {
    struct pollfd pfd = {.fd = p->out, .events = POLLIN};
    if (poll(&pfd, 1, left) <= 0) break;
    char sink[512];
    if (read(p->out, sink, sizeof sink) <= 0) break;
  }
  tz_proc_kill(p);
}

/* ---- proxy -------------------------------------------------------------------- */

static int connect_local(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    fd = -1;
  }
  return fd;
}

static void close_pair(int *pair) {
  for (int j = 0; j < 2; j++)
    if (pair[j] >= 0) close(pair[j]);
  pair[0] = pair[1] = -1;
}

static void proxy_accept(tz_proxy *p) {
  int c = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0) return;
  int srv = connect_local(p->target);
  for (int i = 0; srv >= 0 && i < TZ_PROXY_MAX; i++)
    if (p->pair[i][0] < 0) {
      p->pair[i][0] = c;
      p->pair[i][1] = srv;
      return;
    }
  close(c);
  if (srv >= 0) close(srv);
}

/* Copy what fd has to its partner; false when the connection is over. */
static bool shuttle(int from, int to) {
  char buf[16384];
  ssize_t n = read(from, buf, sizeof buf);
  if (n <= 0) return false;
  for (ssize_t off = 0; off < n;) {
    ssize_t w = write(to, buf + off, (size_t)(n - off));
    if (w <= 0) return false;
    off += w;
  }
  return true;
}

static void *proxy_main(void *arg) {
  tz_proxy *p = arg;
  bool was_held = false;
  for (;;) {
    pthread_mutex_lock(&p->mu);
    bool hold = p->hold, stop = p->stop;
    pthread_mutex_unlock(&p->mu);
    if (stop) break;
    if (was_held && !hold) /* the partition ends: its connections are dead */
      for (int i = 0; i < TZ_PROXY_MAX; i++) close_pair(p->pair[i]);
    was_held = hold;
    struct pollfd fds[2 + 2 * TZ_PROXY_MAX];
    int n = 0;
    fds[n++] = (struct pollfd){.fd = p->ctl[0], .events = POLLIN};
    if (!hold) {
      fds[n++] = (struct pollfd){.fd = p->listen_fd, .events = POLLIN};
      for (int i = 0; i < TZ_PROXY_MAX; i++)
        for (int j = 0; j < 2; j++)
          fds[n++] = (struct pollfd){.fd = p->pair[i][j], .events = POLLIN};
    }
    if (poll(fds, (nfds_t)n, -1) <= 0) continue;
    if (fds[0].revents != 0) {
      char sink[64];
      if (read(p->ctl[0], sink, sizeof sink) < 0) {
        /* nothing to drain */
      }
      continue;
    }
    if (fds[1].revents != 0) proxy_accept(p);
    for (int i = 0; i < TZ_PROXY_MAX; i++)
      for (int j = 0; j < 2; j++)
        if (fds[2 + 2 * i + j].revents != 0 && !shuttle(p->pair[i][j], p->pair[i][1 - j]))
          close_pair(p->pair[i]);
  }
  for (int i = 0; i < TZ_PROXY_MAX; i++) close_pair(p->pair[i]);
  return NULL;
}

int tz_proxy_start(tz_proxy *p, int target_port) {
  memset(p, 0, sizeof *p);
  for (int i = 0; i < TZ_PROXY_MAX; i++) p->pair[i][0] = p->pair[i][1] = -1;
  p->target = target_port;
  p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (p->listen_fd < 0 || bind(p->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      listen(p->listen_fd, 64) != 0 || getsockname(p->listen_fd, (struct sockaddr *)&a, &len) != 0 ||
      pipe2(p->ctl, O_CLOEXEC | O_NONBLOCK) != 0)
    return -1;
  p->port = ntohs(a.sin_port);
  pthread_mutex_init(&p->mu, NULL);
  return pthread_create(&p->thread, NULL, proxy_main, p) == 0 ? 0 : -1;
}

static void proxy_set(tz_proxy *p, bool hold, bool stop) {
  pthread_mutex_lock(&p->mu);
  p->hold = hold;
  p->stop = stop;
  pthread_mutex_unlock(&p->mu);
  if (write(p->ctl[1], "x", 1) < 0) {
    /* the pipe is full: the thread is awake anyway */
  }
}

void tz_proxy_hold(tz_proxy *p) { proxy_set(p, true, false); }
void tz_proxy_forward(tz_proxy *p) { proxy_set(p, false, false); }

void tz_proxy_stop(tz_proxy *p) {
  proxy_set(p, false, true);
  pthread_join(p->thread, NULL);
  close(p->listen_fd);
  close(p->ctl[0]);
  close(p->ctl[1]);
  pthread_mutex_destroy(&p->mu);
}

long tz_server_received(int port) {
  char reply[2048];
  if (test_tcp_ask(port, "srvr", 4, reply, sizeof reply, 2000) != 0) return -1;
  /* The server counts this "srvr" as a received packet too. */
  const char *r = strstr(reply, "Received: ");
  return r != NULL ? strtol(r + 10, NULL, 10) - 1 : -1;
}

long tz_count_requests(int port, void (*fn)(void *), void *arg) {
  long best = LONG_MAX;
  for (int i = 0; i < 3; i++) {
    char reply[256];
    if (test_tcp_ask(port, "srst", 4, reply, sizeof reply, 2000) != 0) return -1;
    fn(arg);
    long n = tz_server_received(port);
    if (n >= 0 && n < best) best = n;
  }
  return best == LONG_MAX ? -1 : best;
}
