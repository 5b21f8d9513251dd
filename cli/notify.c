/* notify.c — systemd's notify protocol, both ways, for `baton run`: the
 * datagram socket CMD finds in $NOTIFY_SOCKET and its messages
 * (newline-separated VAR=VALUE assignments, as sd_notify() sends them),
 * and the one datagram baton sends to its own $NOTIFY_SOCKET when it runs
 * under systemd. No libsystemd: a few socket calls. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* systemd reads at most this much of a notify datagram (NOTIFY_BUFFER_MAX,
 * PIPE_BUF); a longer one is dropped whole, as it does. */
#define NOTIFY_DATAGRAM_MAX 4096

/* A socket address for a $NOTIFY_SOCKET value: a path, or "@name" for
 * Linux's abstract namespace. -1 for anything else (vsock, too long). */
static int notify_address(const char *text, struct sockaddr_un *sa, socklen_t *len) {
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  size_t n = strlen(text);
  if (n < 2 || n >= sizeof sa->sun_path || (text[0] != '/' && text[0] != '@')) return -1;
  memcpy(sa->sun_path, text, n);
  if (text[0] == '@') sa->sun_path[0] = '\0';
  *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (text[0] == '/'));
  return 0;
}

int cli_notify_open(cli_notify *n, char *why, size_t why_size) {
  n->fd = -1;
  n->dir[0] = n->path[0] = '\0';
  /* A private directory (0700): only this user (and root) can reach the
   * socket, as only the service may reach systemd's. */
  const char *tmp = getenv("TMPDIR");
  struct sockaddr_un sa;
  for (int pass = 0; pass < 2 && n->dir[0] == '\0'; pass++) {
    const char *base = pass == 0 && tmp != NULL && tmp[0] == '/' ? tmp : "/tmp";
    int len = snprintf(n->dir, sizeof n->dir, "%s/baton-notify.XXXXXX", base);
    if (len < 0 || (size_t)len >= sizeof n->dir || mkdtemp(n->dir) == NULL)
      n->dir[0] = '\0';
  }
  if (n->dir[0] == '\0') {
    snprintf(why, why_size, "cannot make a directory for NOTIFY_SOCKET: %s", strerror(errno));
    return -1;
  }
  snprintf(n->path, sizeof n->path, "%s/notify", n->dir);
  socklen_t len = 0;
  n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (n->fd < 0 || notify_address(n->path, &sa, &len) != 0 ||
      bind(n->fd, (struct sockaddr *)&sa, len) != 0) {
    snprintf(why, why_size, "NOTIFY_SOCKET %s: %s", n->path, strerror(errno));
    cli_notify_close(n);
    return -1;
  }
  return 0;
}

void cli_notify_close(cli_notify *n) {
  if (n->fd >= 0) close(n->fd);
  n->fd = -1;
  if (n->path[0] != '\0') unlink(n->path);
  if (n->dir[0] != '\0') rmdir(n->dir);
  n->dir[0] = n->path[0] = '\0';
}

void cli_notify_parse(const char *data, size_t len, cli_notify_message *msg) {
  memset(msg, 0, sizeof *msg);
  for (size_t at = 0; at < len;) {
    const char *line = data + at;
    const char *nl = memchr(line, '\n', len - at);
    size_t n = nl != NULL ? (size_t)(nl - line) : len - at;
    at += n + 1;
    if (n == sizeof "WATCHDOG=1" - 1 && memcmp(line, "WATCHDOG=1", n) == 0) {
      msg->watchdog = true;
    } else if (n == sizeof "READY=1" - 1 && memcmp(line, "READY=1", n) == 0) {
      msg->ready = true;
    } else if (n >= sizeof "STATUS=" - 1 && memcmp(line, "STATUS=", sizeof "STATUS=" - 1) == 0) {
      size_t k = n - (sizeof "STATUS=" - 1);
      if (k >= sizeof msg->status_text) k = sizeof msg->status_text - 1;
      memcpy(msg->status_text, line + sizeof "STATUS=" - 1, k);
      msg->status_text[k] = '\0';
      /* Text for one line of a log: control bytes (and a NUL) become spaces. */
      for (size_t i = 0; i < k; i++)
        if ((unsigned char)msg->status_text[i] < 0x20 || msg->status_text[i] == 0x7f)
          msg->status_text[i] = ' ';
      msg->status = true;
    }
    /* Anything else (MAINPID=, BARRIER=1, ERRNO=...) is not ours to act on. */
  }
}

int cli_notify_receive(cli_notify *n, cli_notify_message *msg) {
  char buf[NOTIFY_DATAGRAM_MAX];
  /* recv() takes no ancillary data: descriptors sent along (BARRIER=1's,
   * FDSTORE=1's) are closed by the kernel, which is what the sender of a
   * barrier waits for. */
  ssize_t got = recv(n->fd, buf, sizeof buf, MSG_TRUNC);
  if (got < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
  if ((size_t)got > sizeof buf) got = 0; /* too long: dropped whole */
  cli_notify_parse(buf, (size_t)got, msg);
  return 1;
}

int cli_notify_send(const char *address, const char *text) {
  struct sockaddr_un sa;
  socklen_t len = 0;
  if (notify_address(address, &sa, &len) != 0) {
    errno = EAFNOSUPPORT;
    return -1;
  }
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  ssize_t sent = sendto(fd, text, strlen(text), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
  int e = errno;
  close(fd);
  errno = e;
  return sent < 0 ? -1 : 0;
}
