/* backend_kit.c — the backend tests' shared kit: sessions, waiter threads,
 * child processes and a listener, each bounded in time. */
#include "backend_kit.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- sessions ------------------------------------------------------------- */

int kit_open(kit_session *k, const baton_backend *b, const char *uri,
             const baton_options *o, int timeout_ms, baton_error *err) {
  memset(k, 0, sizeof *k);
  k->b = b;
  int rc = baton__uri_parse(&k->uri, uri, err);
  if (rc == 0) rc = baton__config_resolve(&k->cfg, k->identity, o, &k->uri, err);
  if (rc == 0) rc = b->open(&k->s, &k->uri, &k->cfg, kit_deadline(timeout_ms), err);
  if (rc != 0) {
    k->s = NULL;
    baton__uri_free(&k->uri);
    return rc;
  }
  k->s->backend = b;
  k->s->cfg = &k->cfg;
  return 0;
}

void kit_close(kit_session *k) {
  if (k->s != NULL) k->b->close(k->s);
  k->s = NULL;
  baton__uri_free(&k->uri);
}

baton_candidate kit_cand(const kit_session *k, const char *name) {
  baton_candidate c = {.name = name, .identity = k->cfg.identity};
  return c;
}

void kit_forget(kit_session *k, baton_candidate *c) { k->b->forget(k->s, c); }

void kit_drop(kit_session *k, baton_candidate *c) {
  baton_error err;
  k->b->release(k->s, c, kit_deadline(5000), &err);
  k->b->forget(k->s, c);
}

const char *kit_member_addr(const test_cluster *c, int i, char *buf, size_t size) {
  snprintf(buf, size, "127.0.0.1:%d", c->member[i].port);
  return buf;
}

/* ---- time ------------------------------------------------------------------- */

int64_t kit_deadline(int ms) { return baton__now() + (int64_t)ms * KIT_MS_NS; }

int64_t kit_ms_since(int64_t t0) { return (baton__now() - t0) / KIT_MS_NS; }

int64_t kit_ms_between(int64_t t0, int64_t t1) { return (t1 - t0) / KIT_MS_NS; }

void kit_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

struct timespec kit_cond_deadline(int ms) {
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

/* ---- wait() on a thread ----------------------------------------------------- */

/* One lock and one condition for every waiter, so that a test can wait for
 * "any `count` of these" without polling. */
static pthread_mutex_t waiters_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t waiters_cond = PTHREAD_COND_INITIALIZER;

static void *waiter_main(void *arg) {
  kit_waiter *w = arg;
  baton_error err = {0};
  int rc = w->k->b->wait(w->k->s, w->c, w->has_seen ? &w->seen : NULL, w->deadline,
                         w->cancel[0], &err);
  pthread_mutex_lock(&waiters_mu);
  w->rc = rc;
  w->err = err;
  w->woke_at = baton__now();
  w->done = true;
  pthread_cond_broadcast(&waiters_cond);
  pthread_mutex_unlock(&waiters_mu);
  return NULL;
}

int kit_waiter_start(kit_waiter *w, kit_session *k, baton_candidate *c,
                     const baton_leader *seen, int timeout_ms) {
  memset(w, 0, sizeof *w);
  w->k = k;
  w->c = c;
  w->has_seen = seen != NULL;
  if (seen != NULL) w->seen = *seen;
  w->deadline = kit_deadline(timeout_ms);
  if (pipe2(w->cancel, O_CLOEXEC) != 0) return -1;
  if (pthread_create(&w->thread, NULL, waiter_main, w) == 0) return 0;
  close(w->cancel[0]);
  close(w->cancel[1]);
  return -1;
}

int kit_waiters_done(kit_waiter *ws, int n, int count, int ms) {
  int64_t end = kit_deadline(ms);
  int done = 0;
  pthread_mutex_lock(&waiters_mu);
  for (int round = 0; round < 100000; round++) {
    done = 0;
    for (int i = 0; i < n; i++) done += ws[i].done;
    if (done >= count || baton__now() >= end) break;
    /* Short steps: a wall-clock jump must not stretch the bound. */
    struct timespec ts = kit_cond_deadline(20);
    pthread_cond_timedwait(&waiters_cond, &waiters_mu, &ts);
  }
  pthread_mutex_unlock(&waiters_mu);
  return done;
}

int kit_waiter_cancel(kit_waiter *w) { return write(w->cancel[1], "x", 1) == 1 ? 0 : -1; }

void kit_waiter_join(kit_waiter *w) {
  pthread_join(w->thread, NULL);
  close(w->cancel[0]);
  close(w->cancel[1]);
}

/* ---- child processes -------------------------------------------------------- */

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

int kit_proc_start(kit_proc *p, const char *const *argv) {
  memset(p, 0, sizeof *p);
  p->in = p->out = -1;
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0) return -1;
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    return -1;
  }
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(out[1], 2);
    /* execvp wants char *const[]: copy the pointers, not the strings. */
    char *args[32] = {0};
    for (size_t i = 0; i < 31 && argv[i] != NULL; i++) memcpy(&args[i], &argv[i], sizeof args[i]);
    execvp(args[0], args);
    static const char failed[] = "kit_proc_start: exec failed\n";
    if (write(2, failed, sizeof failed - 1) < 0) {
      /* nowhere left to say it */
    }
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  if (pid < 0) {
    close(in[1]);
    close(out[0]);
    return -1;
  }
  p->pid = pid;
  p->in = in[1];
  p->out = out[0];
  return 0;
}

int kit_proc_send(kit_proc *p, const char *line) {
  size_t len = strlen(line);
  return write(p->in, line, len) == (ssize_t)len && write(p->in, "\n", 1) == 1 ? 0 : -1;
}

int kit_proc_expect(kit_proc *p, const char *prefix, int ms, char *line, size_t size) {
  int64_t end = kit_deadline(ms);
  for (int round = 0; round < 100000; round++) {
    char *nl;
    while ((nl = memchr(p->buf, '\n', p->len)) != NULL) {
      *nl = '\0';
      bool match = strncmp(p->buf, prefix, strlen(prefix)) == 0;
      if (match && line != NULL) snprintf(line, size, "%s", p->buf);
      /* Its stderr shares the pipe: show what is skipped, tracebacks
       * and warnings included, as an inherited stderr would have. */
      if (!match) fprintf(stderr, "  child: %s\n", p->buf);
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
  return -1;
}

int kit_proc_stop(kit_proc *p, int sig, int ms) {
  int status = -1;
  if (p->pid > 0) {
    /* The signal first: a child that reads its stdin must not see the end
     * of it and leave on its own before a SIGKILL lands. */
    if (sig != 0) kill(p->pid, sig);
    close_fd(&p->in);
    bool reaped = false;
    int64_t end = kit_deadline(ms);
    for (int round = 0; round < 100000 && !reaped; round++) {
      pid_t r = waitpid(p->pid, &status, WNOHANG);
      if (r != 0) {
        reaped = true; /* or waitpid failed: then nothing is left to reap */
        if (r < 0) status = -1;
        break;
      }
      int left = baton__ms_until(end);
      if (left == 0) break;
      int step = left < 20 ? left : 20;
      /* Read its output away: a child blocked on a full pipe never exits. */
      struct pollfd pfd = {.fd = p->out, .events = POLLIN};
      if (p->out >= 0 && poll(&pfd, 1, step) > 0) {
        char sink[512];
        if (read(p->out, sink, sizeof sink) <= 0) close_fd(&p->out);
      } else if (p->out < 0) {
        kit_sleep_ms(step);
      }
    }
    if (!reaped) {
      kill(p->pid, SIGKILL);
      waitpid(p->pid, &status, 0);
    }
    p->pid = 0;
  }
  close_fd(&p->in);
  close_fd(&p->out);
  return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int kit_run(const char *const *argv, char *out, size_t size, int ms) {
  out[0] = '\0';
  kit_proc p;
  if (kit_proc_start(&p, argv) != 0) return -1;
  close_fd(&p.in);
  size_t len = 0;
  bool ended = false;
  int64_t end = kit_deadline(ms);
  for (int round = 0; round < 100000 && !ended; round++) {
    int left = baton__ms_until(end);
    struct pollfd pfd = {.fd = p.out, .events = POLLIN};
    if (left == 0 || poll(&pfd, 1, left) != 1) break;
    char scratch[512];
    bool room = len + 1 < size;
    ssize_t n = read(p.out, room ? out + len : scratch, room ? size - 1 - len : sizeof scratch);
    ended = n <= 0;
    if (room && n > 0) len += (size_t)n;
    out[len] = '\0';
  }
  /* Its output ended: it is exiting. Otherwise its time is up. */
  return kit_proc_stop(&p, ended ? 0 : SIGKILL, 5000);
}

/* ---- sockets ---------------------------------------------------------------- */

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
