/* proxy.c — the fault-injecting TCP proxy: one poll() thread, a pair of
 * sockets per connection, one buffer per direction. */
#include "proxy.h"

#include "kit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 128
#define BUF_SIZE 65536

/* One direction of a connection: bytes read from `from`, due to be written
 * to the other side at `due_ms`. */
typedef struct pipe_buf {
  char data[BUF_SIZE];
  size_t len, off;
  int64_t due_ms;
} pipe_buf;

typedef struct conn {
  int client, server;   /* -1 when closed */
  pipe_buf up, down;    /* client->server, server->client */
} conn;

struct proxy {
  int listen_fd, control_fd, port, target;
  pthread_t thread;
  kit_cond ev;          /* ev.mu is the mu below; broadcast when `applied` moves */
  proxy_mode mode;      /* guarded by mu */
  unsigned long gen;    /* guarded by mu: bumped by each proxy_set_mode */
  unsigned long applied; /* guarded by mu: the last gen the thread works in */
  int delay_ms;         /* guarded by mu */
  bool stop;            /* guarded by mu */
  long long bytes;      /* guarded by mu */
  conn conns[MAX_CONNS];
};

/* Close with RST, as a cut network or a crashed peer would look. */
static void reset_close(int fd) {
  if (fd < 0) return;
  struct linger l = {.l_onoff = 1, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

static void conn_close(conn *c) {
  reset_close(c->client);
  reset_close(c->server);
  c->client = c->server = -1;
  c->up.len = c->up.off = c->down.len = c->down.off = 0;
}

static int connect_target(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void accept_one(proxy *p, proxy_mode mode) {
  int fd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (fd < 0) return;
  if (mode == PROXY_DROP) {
    reset_close(fd);
    return;
  }
  for (int i = 0; i < MAX_CONNS; i++) {
    conn *c = &p->conns[i];
    if (c->client >= 0) continue;
    int s = connect_target(p->target);
    if (s < 0) break;
    c->client = fd;
    c->server = s;
    return;
  }
  reset_close(fd);
}

/* Move bytes along one direction. Returns false when the connection ends. */
static bool pump(proxy *p, pipe_buf *b, int from, int to, short from_ev, short to_ev,
                 proxy_mode mode, int delay_ms, int64_t now) {
  if (b->len == 0 && (from_ev & (POLLIN | POLLHUP | POLLERR))) {
    ssize_t n = read(from, b->data, sizeof b->data);
    if (n <= 0) return false;
    b->len = (size_t)n;
    b->off = 0;
    b->due_ms = now + (mode == PROXY_SLOW ? delay_ms : 0);
  }
  if (b->len > b->off && b->due_ms <= now && (to_ev & POLLOUT)) {
    ssize_t n = send(to, b->data + b->off, b->len - b->off, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN) return false;
    if (n > 0) {
      b->off += (size_t)n;
      pthread_mutex_lock(&p->ev.mu);
      p->bytes += n;
      pthread_mutex_unlock(&p->ev.mu);
    }
    if (b->off == b->len) b->len = b->off = 0;
  }
  return true;
}

static void *run(void *arg) {
  proxy *p = arg;
  struct pollfd fds[2 + 2 * MAX_CONNS];
  /* Until proxy_stop says stop (it wakes the poll below). */
  for (;;) {
    pthread_mutex_lock(&p->ev.mu);
    proxy_mode mode = p->mode;
    int delay = p->delay_ms;
    bool stop = p->stop;
    unsigned long gen = p->gen;
    pthread_mutex_unlock(&p->ev.mu);
    if (stop) break;
    int64_t now = kit_now_ms();
    int timeout = 1000;
    fds[0] = (struct pollfd){.fd = p->control_fd, .events = POLLIN};
    fds[1] = (struct pollfd){.fd = p->listen_fd, .events = POLLIN};
    for (int i = 0; i < MAX_CONNS; i++) {
      conn *c = &p->conns[i];
      if (c->client >= 0 && mode == PROXY_DROP) conn_close(c);
      bool live = c->client >= 0 && mode != PROXY_STALL;
      bool down = live && mode != PROXY_MUTE; /* server to client */
      /* Read a side only when its buffer is empty; write it only when due. */
      short cev = 0, sev = 0;
      if (live) {
        if (c->up.len == 0) cev |= POLLIN;
        if (down && c->down.len == 0) sev |= POLLIN;
        if (down && c->down.len > c->down.off) {
          if (c->down.due_ms <= now) cev |= POLLOUT;
          else if (c->down.due_ms - now < timeout) timeout = (int)(c->down.due_ms - now);
        }
        if (c->up.len > c->up.off) {
          if (c->up.due_ms <= now) sev |= POLLOUT;
          else if (c->up.due_ms - now < timeout) timeout = (int)(c->up.due_ms - now);
        }
      }
      fds[2 + 2 * i] = (struct pollfd){.fd = live ? c->client : -1, .events = cev};
      fds[3 + 2 * i] = (struct pollfd){.fd = live ? c->server : -1, .events = sev};
    }
    /* The mode is in force now (in PROXY_DROP every connection is reset):
     * proxy_set_mode may return. */
    pthread_mutex_lock(&p->ev.mu);
    p->applied = gen;
    pthread_cond_broadcast(&p->ev.cond);
    pthread_mutex_unlock(&p->ev.mu);
    if (poll(fds, 2 + 2 * MAX_CONNS, timeout) < 0 && errno != EINTR) break;
    if (fds[0].revents & POLLIN) {
      uint64_t v;
      if (read(p->control_fd, &v, sizeof v) < 0) {
      }
    }
    if (fds[1].revents & POLLIN) accept_one(p, mode);
    now = kit_now_ms();
    for (int i = 0; i < MAX_CONNS; i++) {
      conn *c = &p->conns[i];
      if (c->client < 0 || mode == PROXY_STALL) continue;
      short ce = fds[2 + 2 * i].revents, se = fds[3 + 2 * i].revents;
      if (!pump(p, &c->up, c->client, c->server, ce, se, mode, delay, now) ||
          (mode != PROXY_MUTE && !pump(p, &c->down, c->server, c->client, se, ce, mode, delay, now)))
        conn_close(c);
    }
  }
  return NULL;
}

/* Proxies running now: a case that returns early (REQUIRE) leaves its
 * own here, and they are stopped when it ends (a kit hook). */
#define LIVE_MAX 64 /* the fault suite: 8 candidates, a proxy per member each */
static proxy *live[LIVE_MAX];
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;

static void stop_leftovers(void) {
  for (int i = 0; i < LIVE_MAX; i++) {
    pthread_mutex_lock(&live_mu);
    proxy *p = live[i];
    pthread_mutex_unlock(&live_mu);
    proxy_stop(p);
  }
}

static bool track(proxy *p, proxy *was) {
  pthread_mutex_lock(&live_mu);
  bool done = false;
  for (int i = 0; i < LIVE_MAX && !done; i++)
    if (live[i] == was) {
      live[i] = p;
      done = true;
    }
  pthread_mutex_unlock(&live_mu);
  return done;
}

int proxy_start(proxy **out, int target_port) {
  proxy *p = calloc(1, sizeof *p);
  if (p == NULL) return -1;
  for (int i = 0; i < MAX_CONNS; i++) p->conns[i].client = p->conns[i].server = -1;
  p->target = target_port;
  kit_cond_init(&p->ev);
  p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  p->control_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int one = 1;
  if (p->listen_fd < 0 || p->control_fd < 0 ||
      setsockopt(p->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(p->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(p->listen_fd, 64) != 0 ||
      getsockname(p->listen_fd, (struct sockaddr *)&a, &len) != 0 ||
      pthread_create(&p->thread, NULL, run, p) != 0) {
    if (p->listen_fd >= 0) close(p->listen_fd);
    if (p->control_fd >= 0) close(p->control_fd);
    kit_cond_destroy(&p->ev);
    free(p);
    return -1;
  }
  p->port = ntohs(a.sin_port);
  if (!track(p, NULL)) {
    proxy_stop(p);
    return -1; /* more running than a case should need */
  }
  kit_on_case_end(stop_leftovers);
  *out = p;
  return 0;
}

int proxy_port(const proxy *p) { return p->port; }

static void wake(proxy *p) {
  uint64_t one = 1;
  if (write(p->control_fd, &one, sizeof one) < 0) {
  }
}

void proxy_set_mode(proxy *p, proxy_mode mode, int delay_ms) {
  pthread_mutex_lock(&p->ev.mu);
  p->mode = mode;
  p->delay_ms = delay_ms;
  unsigned long gen = ++p->gen;
  pthread_mutex_unlock(&p->ev.mu);
  wake(p);
  /* Wait (bounded) until the thread works in the new mode, so that a
   * PROXY_DROP followed at once by PROXY_PASS still resets every earlier
   * connection. */
  int64_t end = kit_now_ms() + 5000;
  pthread_mutex_lock(&p->ev.mu);
  while (p->applied < gen && kit_cond_wait(&p->ev, end)) {
  }
  pthread_mutex_unlock(&p->ev.mu);
}

long long proxy_bytes(proxy *p) {
  pthread_mutex_lock(&p->ev.mu);
  long long n = p->bytes;
  pthread_mutex_unlock(&p->ev.mu);
  return n;
}

void proxy_stop(proxy *p) {
  if (p == NULL) return;
  track(NULL, p);
  pthread_mutex_lock(&p->ev.mu);
  p->stop = true;
  pthread_mutex_unlock(&p->ev.mu);
  wake(p);
  pthread_join(p->thread, NULL);
  for (int i = 0; i < MAX_CONNS; i++) conn_close(&p->conns[i]);
  close(p->listen_fd);
  close(p->control_fd);
  kit_cond_destroy(&p->ev);
  free(p);
}
