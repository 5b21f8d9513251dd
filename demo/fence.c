/* fence.c — addresses and the client side of the fenced store's protocol. */
#include "fence.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int fence_addr_parse(fence_addr *a, const char *text, char *why, size_t why_size) {
  memset(a, 0, sizeof *a);
  snprintf(a->text, sizeof a->text, "%s", text);
  const char *path = strncmp(text, "unix:", 5) == 0 ? text + 5 : strchr(text, '/') ? text : NULL;
  if (path != NULL) {
    struct sockaddr_un *un = (struct sockaddr_un *)&a->sa;
    if (*path == '\0' || strlen(path) >= sizeof un->sun_path) {
      snprintf(why, why_size, "'%s': a socket path of 1..%zu bytes is needed", text,
               sizeof un->sun_path - 1);
      return -1;
    }
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, strlen(path) + 1);
    snprintf(a->path, sizeof a->path, "%s", path);
    a->len = sizeof *un;
    return 0;
  }
  const char *colon = strrchr(text, ':');
  if (colon == NULL || colon == text || colon[1] == '\0') {
    snprintf(why, why_size, "'%s' is not an address (unix:/path or host:port)", text);
    return -1;
  }
  char host[256];
  snprintf(host, sizeof host, "%.*s", (int)(colon - text), text);
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end != '\0' || port < 0 || port > 65535) {
    snprintf(why, why_size, "'%s': bad port", text);
    return -1;
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_NUMERICSERV};
  struct addrinfo *res = NULL;
  int rc = getaddrinfo(host, colon + 1, &hints, &res);
  if (rc != 0 || res == NULL) {
    snprintf(why, why_size, "'%s': %s", text, gai_strerror(rc));
    return -1;
  }
  memcpy(&a->sa, res->ai_addr, res->ai_addrlen);
  a->len = res->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}

bool fence_writer_ok(const char *w) {
  size_t n = strlen(w);
  if (n == 0 || n > FENCE_WRITER_MAX) return false;
  for (const char *p = w; *p != '\0'; p++)
    if (*p <= ' ' || *p >= 0x7f) return false;
  return true;
}

/* Wait for `events` on fd until `end`; 0 when ready. */
static int wait_fd(int fd, short events, int64_t end) {
  struct pollfd p = {.fd = fd, .events = events};
  for (int i = 0; i < 1000; i++) {
    int64_t left = end - now_ms();
    if (left <= 0) return -1;
    int n = poll(&p, 1, (int)left);
    if (n > 0) return 0;
    if (n < 0 && errno != EINTR) return -1;
  }
  return -1;
}

int fence_request(const fence_addr *a, const char *request, char *reply, size_t reply_size,
                  int timeout_ms, char *why, size_t why_size) {
  int64_t end = now_ms() + timeout_ms;
  int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(why, why_size, "socket: %s", strerror(errno));
    return -1;
  }
  int rc = -1;
  size_t got = 0, len = strlen(request), sent = 0;
  if (connect(fd, (const struct sockaddr *)&a->sa, a->len) != 0 && errno != EINPROGRESS) {
    snprintf(why, why_size, "%s: connect: %s", a->text, strerror(errno));
    goto out;
  }
  int soerr = 0;
  socklen_t sl = sizeof soerr;
  if (wait_fd(fd, POLLOUT, end) != 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 ||
      soerr != 0) {
    snprintf(why, why_size, "%s: connect: %s", a->text,
             soerr != 0 ? strerror(soerr) : "timed out");
    goto out;
  }
  for (int i = 0; i < 1000 && sent < len; i++) {
    ssize_t n = send(fd, request + sent, len - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += (size_t)n;
    } else if (n < 0 && errno == EAGAIN) {
      if (wait_fd(fd, POLLOUT, end) != 0) break;
    } else if (n < 0 && errno != EINTR) {
      break;
    }
  }
  if (sent < len) {
    snprintf(why, why_size, "%s: send failed or timed out", a->text);
    goto out;
  }
  for (int i = 0; i < 1000 && got + 1 < reply_size; i++) {
    if (wait_fd(fd, POLLIN, end) != 0) break;
    ssize_t n = recv(fd, reply + got, reply_size - 1 - got, 0);
    if (n <= 0 && !(n < 0 && (errno == EINTR || errno == EAGAIN))) break;
    if (n > 0) got += (size_t)n;
    reply[got] = '\0';
    char *nl = strchr(reply, '\n');
    if (nl != NULL) {
      *nl = '\0';
      rc = 0;
      break;
    }
  }
  if (rc != 0) snprintf(why, why_size, "%s: no reply line in time", a->text);
out:
  close(fd);
  return rc;
}

/* Send a WRITE or STEP line and read its verdict: "OK|REFUSED" and `nums`
 * numbers (1 or 2) into out[]. 1 accepted, 0 refused, -1 with `why`. */
static int verdict(const fence_addr *a, const char *request, int n, int nums,
                   unsigned long long out[2], char *why, size_t why_size) {
  if (n < 0 || n >= FENCE_LINE_MAX + 1) {
    snprintf(why, why_size, "the request is longer than %d bytes", FENCE_LINE_MAX);
    return -1;
  }
  char reply[256], word[16];
  if (fence_request(a, request, reply, sizeof reply, FENCE_TIMEOUT_MS, why, why_size) != 0) return -1;
  if (sscanf(reply, "%15s %llu %llu", word, &out[0], &out[1]) == 1 + nums &&
      (strcmp(word, "OK") == 0 || strcmp(word, "REFUSED") == 0))
    return strcmp(word, "OK") == 0 ? 1 : 0;
  snprintf(why, why_size, "%s: unexpected reply '%.100s'", a->text, reply);
  return -1;
}

int fence_write(const fence_addr *a, uint64_t token, const char *writer, const char *data,
                uint64_t *highest, char *why, size_t why_size) {
  char request[FENCE_LINE_MAX + 1];
  int n = snprintf(request, sizeof request, "WRITE %llu %s %s\n", (unsigned long long)token,
                   writer, data);
  unsigned long long got[2] = {0, 0};
  int rc = verdict(a, request, n, 1, got, why, why_size);
  if (rc >= 0) *highest = got[0];
  return rc;
}

int fence_step(const fence_addr *a, uint64_t token, const char *writer, uint64_t step,
               const char *data, uint64_t *checkpoint, uint64_t *highest, char *why,
               size_t why_size) {
  char request[FENCE_LINE_MAX + 1];
  int n = snprintf(request, sizeof request, "STEP %llu %s %llu %s\n", (unsigned long long)token,
                   writer, (unsigned long long)step, data);
  unsigned long long got[2] = {0, 0};
  int rc = verdict(a, request, n, 2, got, why, why_size);
  if (rc >= 0) *checkpoint = got[0], *highest = got[1];
  return rc;
}

int fence_checkpoint(const fence_addr *a, uint64_t token, const char *writer,
                     uint64_t *checkpoint, uint64_t *highest, char *why, size_t why_size) {
  char request[FENCE_LINE_MAX + 1], reply[256];
  unsigned long long c, h;
  int n = snprintf(request, sizeof request, "CHECKPOINT %llu %s\n", (unsigned long long)token,
                   writer);
  if (n < 0 || n >= (int)sizeof request) {
    snprintf(why, why_size, "the request is longer than %d bytes", FENCE_LINE_MAX);
    return -1;
  }
  if (fence_request(a, request, reply, sizeof reply, FENCE_TIMEOUT_MS, why, why_size) != 0) return -1;
  if (sscanf(reply, "CHECKPOINT %llu %llu", &c, &h) != 2) {
    snprintf(why, why_size, "%s: unexpected reply '%.100s'", a->text, reply);
    return -1;
  }
  *checkpoint = c;
  *highest = h;
  return 0;
}
