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
  const char *tried[2] = {NULL, NULL};
  int errs[2] = {0, 0};
  for (int pass = 0; pass < 2 && n->dir[0] == '\0'; pass++) {
    const char *base = pass == 0 && tmp != NULL && tmp[0] == '/' ? tmp : "/tmp";
    if (pass == 1 && strcmp(base, tried[0]) == 0) break; /* /tmp failed already */
    tried[pass] = base;
    int len = snprintf(n->dir, sizeof n->dir, "%s/baton-notify.XXXXXX", base);
    errs[pass] = len < 0 || (size_t)len >= sizeof n->dir ? ENAMETOOLONG : 0;
    if (errs[pass] == 0 && mkdtemp(n->dir) == NULL) errs[pass] = errno;
    if (errs[pass] != 0) n->dir[0] = '\0';
  }
  if (n->dir[0] == '\0') {
    /* Both folders named: the user fixes $TMPDIR or /tmp. */
    snprintf(why, why_size, "cannot make NOTIFY_SOCKET's directory in %s (%s)%s%s%s%s%s",
             tried[0], strerror(errs[0]), tried[1] != NULL ? " nor in " : "",
             tried[1] != NULL ? tried[1] : "", tried[1] != NULL ? " (" : "",
             tried[1] != NULL ? strerror(errs[1]) : "", tried[1] != NULL ? ")" : "");
    return -1;
  }
  snprintf(n->path, sizeof n->path, "%s/notify", n->dir);
  socklen_t len = 0;
  n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  /* SO_PASSCRED: every datagram comes with its sender's PID, so that only
   * CMD's process group is heard (cli_notify_receive). */
  int on = 1;
  if (n->fd < 0 || setsockopt(n->fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0 ||
      notify_address(n->path, &sa, &len) != 0 || bind(n->fd, (struct sockaddr *)&sa, len) != 0) {
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
    /* Lines end at "\n" or "\r", as systemd splits them (NEWLINE). */
    size_t n = 0;
    while (n < len - at && line[n] != '\n' && line[n] != '\r') n++;
    at += n + 1;
    if (n == sizeof "WATCHDOG=1" - 1 && memcmp(line, "WATCHDOG=1", n) == 0) {
      msg->watchdog = true;
    } else if (n == sizeof "READY=1" - 1 && memcmp(line, "READY=1", n) == 0) {
      msg->ready = true;
    } else if (!msg->status && n >= sizeof "STATUS=" - 1 &&
               memcmp(line, "STATUS=", sizeof "STATUS=" - 1) == 0) {
      /* The first STATUS= of a datagram counts, as for systemd. */
      size_t k = n - (sizeof "STATUS=" - 1);
      if (k > CLI_NOTIFY_STATUS_MAX) {
        k = CLI_NOTIFY_STATUS_MAX;
        msg->status_cut = true;
        /* Cut before a UTF-8 continuation byte, not inside a character. */
        while (k > 0 && ((unsigned char)line[sizeof "STATUS=" - 1 + k] & 0xc0) == 0x80) k--;
      }
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

int cli_notify_receive(cli_notify *n, cli_notify_message *msg, pid_t *sender) {
  char buf[NOTIFY_DATAGRAM_MAX];
  /* Room for the credentials alone: descriptors sent along (BARRIER=1's,
   * FDSTORE=1's) do not fit and are closed by the kernel (MSG_CTRUNC),
   * which is what the sender of a barrier waits for; CLOEXEC in case. */
  union {
    char space[CMSG_SPACE(sizeof(struct ucred))];
    struct cmsghdr align;
  } control;
  struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.space,
                      .msg_controllen = sizeof control.space};
  ssize_t got = recvmsg(n->fd, &mh, MSG_TRUNC | MSG_CMSG_CLOEXEC);
  if (got < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
  *sender = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
        c->cmsg_len == CMSG_LEN(sizeof(struct ucred))) {
      struct ucred u;
      memcpy(&u, CMSG_DATA(c), sizeof u);
      *sender = u.pid;
    } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      /* Not expected with a buffer this small; closed all the same. */
      size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < k; i++) {
        int fd;
        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        close(fd);
      }
    }
  }
  if ((size_t)got > sizeof buf) got = 0; /* too long: dropped whole */
  cli_notify_parse(buf, (size_t)got, msg);
  return 1;
}

int cli_notify_check(const char *address) {
  struct sockaddr_un sa;
  socklen_t len = 0;
  return notify_address(address, &sa, &len);
}

int cli_notify_send(const char *address, const char *text) {
  struct sockaddr_un sa;
  socklen_t len = 0;
  if (notify_address(address, &sa, &len) != 0) {
    errno = EAFNOSUPPORT;
    return -1;
  }
  /* Never blocks: a receiver whose queue is full must not hold up the
   * supervisor's loop, which SIGKILLs CMD before the server's expiry. The
   * datagram is dropped then (EAGAIN), as systemd's own clients do. */
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  ssize_t sent =
      sendto(fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa, len);
  int e = errno;
  close(fd);
  errno = e;
  return sent < 0 ? -1 : 0;
}
