/* child.c — the command `baton run` supervises: started in a process group
 * of its own under a small guard process that kills the group if baton
 * dies, with a parent-death signal itself; signalled as a group; reaped
 * without ever leaving a zombie or a reused process-group id behind. */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Descriptors baton inherited (beyond 0-2), sorted: they pass on to CMD
 * (socket activation, say). Every other one is the library's (backend
 * sockets) or ours, and the guard closes it. */
#define MAX_INHERITED 256
static int inherited[MAX_INHERITED];
static size_t ninherited;
static bool inherited_overflow; /* too many to track: close nothing */

static int by_value(const void *a, const void *b) {
  return *(const int *)a - *(const int *)b;
}

void cli_child_note_inherited_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL) {
    inherited_overflow = true;
    return;
  }
  int own = dirfd(d);
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    char *end;
    long fd = strtol(de->d_name, &end, 10);
    if (*end != '\0' || end == de->d_name || fd < 3 || fd == own) continue;
    if (ninherited == MAX_INHERITED) {
      inherited_overflow = true;
      break;
    }
    inherited[ninherited++] = (int)fd;
  }
  closedir(d);
  qsort(inherited, ninherited, sizeof inherited[0], by_value);
}

/* Close [lo, hi] except `keep`. */
static void close_gap(unsigned lo, unsigned hi, int keep) {
  if (lo > hi) return;
  if (keep >= 0 && (unsigned)keep >= lo && (unsigned)keep <= hi) {
    if ((unsigned)keep > lo) close_range(lo, (unsigned)keep - 1, 0);
    if ((unsigned)keep < hi) close_range((unsigned)keep + 1, hi, 0);
  } else {
    close_range(lo, hi, 0);
  }
}

/* In the guard: close every descriptor from 3 up that baton did not
 * inherit (backend sockets, eventfds), except `keep`: the guard must not
 * hold baton's connections open, nor hand them to CMD. */
static void close_own_fds(int keep) {
  if (inherited_overflow) return;
  unsigned first = 3;
  for (size_t i = 0; i < ninherited; i++) {
    unsigned fd = (unsigned)inherited[i];
    if (fd > first) close_gap(first, fd - 1, keep);
    first = fd + 1;
  }
  close_gap(first, UINT_MAX, keep);
}

static bool executable(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int cli_child_resolve(const char *file, char *path, size_t size, char *why, size_t why_size) {
  if (*file == '\0') {
    snprintf(why, why_size, "the command is empty");
    return -1;
  }
  if (strchr(file, '/') != NULL) {
    if (!executable(file)) {
      snprintf(why, why_size, "'%s' is not an executable file", file);
      return -1;
    }
    snprintf(path, size, "%s", file);
    return 0;
  }
  const char *dirs = getenv("PATH");
  if (dirs == NULL || *dirs == '\0') dirs = "/usr/local/bin:/usr/bin:/bin";
  for (const char *d = dirs;;) {
    const char *colon = strchr(d, ':');
    size_t len = colon != NULL ? (size_t)(colon - d) : strlen(d);
    int n = len == 0 ? snprintf(path, size, "./%s", file)
                     : snprintf(path, size, "%.*s/%s", (int)len, d, file);
    if (n > 0 && (size_t)n < size && executable(path)) return 0;
    if (colon == NULL) break;
    d = colon + 1;
  }
  snprintf(why, why_size, "'%s': command not found in PATH", file);
  return -1;
}

/* The environment for the child: ours without the keys of extra_env, then
 * extra_env. Built before fork: the child may not allocate. */
static char **child_env(char *const extra[]) {
  size_t n = 0, k = 0;
  while (environ[n] != NULL) n++;
  while (extra[k] != NULL) k++;
  char **env = calloc(n + k + 1, sizeof *env);
  if (env == NULL) return NULL;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    bool replaced = false;
    for (size_t j = 0; j < k && !replaced; j++) {
      size_t klen = strcspn(extra[j], "=") + 1;
      replaced = strncmp(environ[i], extra[j], klen) == 0;
    }
    if (!replaced) env[o++] = environ[i];
  }
  for (size_t j = 0; j < k; j++) env[o++] = extra[j];
  return env;
}

/* What the guard and CMD need, prepared before the first fork: after it,
 * in a copy of a threaded process, only async-signal-safe calls are made. */
typedef struct spawn {
  const char *path;
  char *const *argv;
  char **env;
  int report_fd;                      /* exec's errno goes here */
  const sigset_t *mask;               /* CMD's signal mask */
  const struct sigaction *pipe_action; /* CMD's SIGPIPE disposition */
} spawn;

static void report(int fd, int e) {
  ssize_t n = write(fd, &e, sizeof e);
  (void)n;
}

/* CMD, child of the guard: SIGKILL when the guard dies (the parent-death
 * signal; if the guard died before it was set, getppid() says so). */
static void exec_cmd(const spawn *sp, pid_t guard) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != guard) _exit(127);
  sigaction(SIGPIPE, sp->pipe_action, NULL);
  sigprocmask(SIG_SETMASK, sp->mask, NULL);
  execve(sp->path, sp->argv, sp->env);
  int e = errno;
  report(sp->report_fd, e);
  _exit(e == ENOENT ? 127 : 126);
}

/* The guard: leads CMD's process group and outlives nothing. It watches
 * baton through a pidfd: if baton dies — even by SIGKILL, which it cannot
 * handle — the guard SIGKILLs the whole group, itself included, so no
 * process of the term runs on. A parent-death signal alone would only
 * reach CMD, not what CMD started. Otherwise it relays CMD's exit as its
 * own (128 + N for a signal N). It blocks every signal: what baton sends
 * the group is for CMD; only SIGKILL also ends the guard. */
static void guard(const spawn *sp, pid_t baton) {
  cli_secrets_wipe(); /* the guard needs none: its memory is a copy of baton's */
  setpgid(0, 0);
  close_own_fds(sp->report_fd);
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  int baton_fd = pidfd_open(baton, 0);
  if (baton_fd < 0 || getppid() != baton) _exit(127); /* baton is already gone */
  pid_t self = getpid();
  pid_t cmd = fork();
  if (cmd == 0) {
    close(baton_fd);
    exec_cmd(sp, self);
  }
  if (cmd < 0) {
    report(sp->report_fd, errno);
    _exit(126);
  }
  close(sp->report_fd); /* baton sees EOF once CMD has exec'd */
  int cmd_fd = pidfd_open(cmd, 0);
  for (;;) {
    struct pollfd p[2] = {{.fd = baton_fd, .events = POLLIN}, {.fd = cmd_fd, .events = POLLIN}};
    if (poll(p, cmd_fd >= 0 ? 2 : 1, cmd_fd >= 0 ? -1 : 100) < 0 && errno != EINTR) break;
    if (p[0].revents != 0) break;
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)cmd, &si, WEXITED | WNOHANG) == 0 && si.si_pid == cmd)
      _exit(si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status);
  }
  kill(0, SIGKILL); /* baton died: the whole group, the guard too */
  _exit(137);
}

int cli_child_start(cli_child *c, const char *path, char *const argv[], char *const extra_env[],
                    const sigset_t *mask, const struct sigaction *pipe_action) {
  memset(c, 0, sizeof *c);
  c->exec_fd = -1;
  char **env = child_env(extra_env);
  if (env == NULL) return -1;
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    free(env);
    return -1;
  }
  spawn sp = {.path = path, .argv = argv, .env = env, .report_fd = report[1],
              .mask = mask, .pipe_action = pipe_action};
  pid_t baton = getpid();
  pid_t pid = fork();
  if (pid == 0) guard(&sp, baton);
  int saved = errno;
  free(env);
  close(report[1]);
  if (pid < 0) {
    close(report[0]);
    errno = saved;
    return -1;
  }
  /* Also here, so that the group exists before we might signal it. */
  setpgid(pid, pid);
  fcntl(report[0], F_SETFL, O_NONBLOCK);
  c->pid = pid;
  c->exec_fd = report[0];
  return 0;
}

void cli_child_signal(cli_child *c, int sig) {
  /* Only while the group leader is unreaped: its pid (the group id) cannot
   * be reused by then, so the signal cannot hit a stranger's group. */
  if (c->pid > 0 && !c->exited) kill(-c->pid, sig);
}

static int decode_status(const siginfo_t *si) {
  if (si->si_code == CLD_EXITED) return si->si_status;
  return 128 + si->si_status; /* CLD_KILLED, CLD_DUMPED */
}

bool cli_child_check(cli_child *c) {
  if (c->pid <= 0 || c->exited) return false;
  siginfo_t si;
  memset(&si, 0, sizeof si);
  /* Peek without reaping: the group's leftovers are killed first, while the
   * group id is still ours. */
  if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid == 0)
    return false;
  kill(-c->pid, SIGKILL);
  for (int i = 0; i < 1000 && waitpid(c->pid, NULL, 0) < 0 && errno == EINTR; i++) {
  }
  c->status = decode_status(&si);
  c->exited = true;
  if (c->exec_fd >= 0) {
    close(c->exec_fd);
    c->exec_fd = -1;
  }
  return true;
}

int cli_child_exec_result(cli_child *c) {
  int e = 0;
  ssize_t n = read(c->exec_fd, &e, sizeof e);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0; /* not yet: poll again */
  close(c->exec_fd);
  c->exec_fd = -1;
  return n == (ssize_t)sizeof e ? e : 0;
}

void cli_child_kill_now(cli_child *c) {
  if (c->pid <= 0 || c->exited) return;
  kill(-c->pid, SIGKILL);
  siginfo_t si;
  memset(&si, 0, sizeof si);
  for (int i = 0; i < 1000; i++) {
    if (waitid(P_PID, (id_t)c->pid, &si, WEXITED) == 0 || errno != EINTR) break;
  }
  c->status = decode_status(&si);
  c->exited = true;
  if (c->exec_fd >= 0) {
    close(c->exec_fd);
    c->exec_fd = -1;
  }
}
