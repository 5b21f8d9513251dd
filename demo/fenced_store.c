/* fenced_store.c — `fenced-store`: a tiny resource protected by fencing
 * tokens. The server (one thread, one poll loop) remembers the highest token
 * it has seen and refuses writes that carry a lower one, logging every
 * write; the client mode sends one write and says whether it was accepted.
 *
 *   fenced-store serve   --addr ADDR
 *   fenced-store write   --addr ADDR [--token T] [--writer W] DATA
 *   fenced-store highest --addr ADDR
 *
 * ADDR is unix:/path (or any path with a '/') or host:port. `write` takes
 * the token from $BATON_TOKEN and the writer from $BATON_IDENTITY when the
 * flags are absent, so `baton run -- fenced-store write ...` just works.
 * Exit: 0 ok/accepted, 1 connection or server error, 2 usage, 4 refused. */
#include "example.h"
#include "fence.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 64

static const char usage_text[] =
    "usage: fenced-store serve   --addr ADDR\n"
    "       fenced-store write   --addr ADDR [--token T] [--writer W] DATA\n"
    "       fenced-store highest --addr ADDR\n"
    "\n"
    "A store that refuses writes whose fencing token is below the highest it\n"
    "has seen. ADDR: unix:/path or host:port. `serve` prints \"listening ADDR\",\n"
    "then one line per write: time, token, writer, accepted/refused, the\n"
    "highest token, CLOCK_MONOTONIC ns and the data.\n"
    "`write` defaults --token to $BATON_TOKEN and --writer to $BATON_IDENTITY.\n"
    "Exit: 0 ok/accepted, 1 error, 2 usage, 4 refused.\n";

/* ---- server ------------------------------------------------------------- */

typedef struct client {
  int fd; /* -1 when the slot is free */
  size_t used;
  char buf[FENCE_LINE_MAX + 2];
} client;

typedef struct store {
  uint64_t highest;
  unsigned long accepted, refused;
  client clients[MAX_CLIENTS];
} store;

static bool printable(const char *s) {
  for (; *s != '\0'; s++)
    if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f) return false;
  return true;
}

/* Parse "WRITE <token> <writer> <data>"; 0 or -1 with the reason. */
static int parse_write(char *line, uint64_t *token, char **writer, char **data,
                       const char **why) {
  char *p = line + 6, *end;
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

static void log_write(const store *s, uint64_t token, const char *writer, bool ok,
                      const char *data) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  /* mono= lets a test put the write on one clock with the terms of the
   * writers (`baton run --events`): CLOCK_MONOTONIC is machine-wide. */
  printf("%lld.%03ld token=%llu writer=%s %s highest=%llu mono=%lld data=%s\n",
         (long long)ts.tv_sec, ts.tv_nsec / 1000000, (unsigned long long)token, writer,
         ok ? "accepted" : "refused", (unsigned long long)s->highest, (long long)example_now_ns(),
         data);
  fflush(stdout);
}

/* Answer one request line into `reply`. */
static void handle_line(store *s, char *line, char *reply, size_t size) {
  if (strcmp(line, "HIGHEST") == 0) {
    snprintf(reply, size, "HIGHEST %llu\n", (unsigned long long)s->highest);
    return;
  }
  if (strncmp(line, "WRITE ", 6) != 0) {
    snprintf(reply, size, "ERR unknown request\n");
    return;
  }
  uint64_t token;
  char *writer, *data;
  const char *why;
  if (parse_write(line, &token, &writer, &data, &why) != 0) {
    snprintf(reply, size, "ERR %s\n", why);
    return;
  }
  /* The fencing rule: the same term may write again; an older one never. */
  bool ok = token >= s->highest;
  if (ok) {
    s->highest = token;
    s->accepted++;
  } else {
    s->refused++;
  }
  log_write(s, token, writer, ok, data);
  snprintf(reply, size, "%s %llu\n", ok ? "OK" : "REFUSED", (unsigned long long)s->highest);
}

static void drop(client *c) {
  close(c->fd);
  c->fd = -1;
  c->used = 0;
}

/* Read what a client sent and answer each complete line. */
static void serve_client(store *s, client *c) {
  ssize_t n = recv(c->fd, c->buf + c->used, sizeof c->buf - 1 - c->used, 0);
  if (n <= 0) {
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) drop(c);
    return;
  }
  c->used += (size_t)n;
  c->buf[c->used] = '\0';
  for (int i = 0; i < 64; i++) {
    char *nl = strchr(c->buf, '\n');
    if (nl == NULL) break;
    *nl = '\0';
    char reply[128];
    handle_line(s, c->buf, reply, sizeof reply);
    /* Replies are small; a client that cannot take one is dropped. */
    if (send(c->fd, reply, strlen(reply), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
      drop(c);
      return;
    }
    size_t rest = c->used - (size_t)(nl + 1 - c->buf);
    memmove(c->buf, nl + 1, rest + 1);
    c->used = rest;
  }
  if (c->used >= sizeof c->buf - 1) {
    const char *msg = "ERR line too long\n";
    ssize_t w = send(c->fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)w;
    drop(c);
  }
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

static int serve(fence_addr *a) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  sigprocmask(SIG_BLOCK, &set, NULL);
  int sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
  int lfd = listen_on(a);
  if (sig_fd < 0 || lfd < 0)
    return example_fail(EXAMPLE_EXIT_ERROR, "serve", "%s: %s", a->text, strerror(errno));
  static store s;
  for (int i = 0; i < MAX_CLIENTS; i++) s.clients[i].fd = -1;
  printf("listening %s\n", a->text);
  fflush(stdout);
  for (;;) {
    struct pollfd p[MAX_CLIENTS + 2];
    int slot[MAX_CLIENTS + 2];
    nfds_t n = 0;
    p[n++] = (struct pollfd){.fd = sig_fd, .events = POLLIN};
    p[n++] = (struct pollfd){.fd = lfd, .events = POLLIN};
    for (int i = 0; i < MAX_CLIENTS; i++)
      if (s.clients[i].fd >= 0) {
        slot[n] = i;
        p[n++] = (struct pollfd){.fd = s.clients[i].fd, .events = POLLIN};
      }
    if (poll(p, n, -1) < 0 && errno != EINTR) break;
    if (p[0].revents & POLLIN) break;
    if (p[1].revents & POLLIN) {
      int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      int free_slot = -1;
      for (int i = 0; i < MAX_CLIENTS && free_slot < 0 && cfd >= 0; i++)
        if (s.clients[i].fd < 0) free_slot = i;
      if (free_slot >= 0)
        s.clients[free_slot].fd = cfd;
      else if (cfd >= 0)
        close(cfd); /* full: the client sees a closed connection */
    }
    for (nfds_t i = 2; i < n; i++)
      if (p[i].revents != 0) serve_client(&s, &s.clients[slot[i]]);
  }
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (s.clients[i].fd >= 0) drop(&s.clients[i]);
  close(lfd);
  close(sig_fd);
  if (a->path[0] != '\0') unlink(a->path);
  fprintf(stderr, "fenced-store: stopped: %lu accepted, %lu refused, highest token %llu\n",
          s.accepted, s.refused, (unsigned long long)s.highest);
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
  if (fence_request(a, "HIGHEST\n", reply, sizeof reply, 2000, why, sizeof why) != 0)
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
  const char *addr = NULL, *token = NULL, *writer = NULL, *data = NULL;
  for (int i = 2; i < argc; i++) {
    const char *arg = argv[i];
    const char **slot = strcmp(arg, "--addr") == 0                 ? &addr
                        : is_write && strcmp(arg, "--token") == 0  ? &token
                        : is_write && strcmp(arg, "--writer") == 0 ? &writer
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
  if (is_serve) return serve(&a);
  if (is_write) return write_one(&a, token, writer, data != NULL ? data : "");
  return highest(&a);
}
