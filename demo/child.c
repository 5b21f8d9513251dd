/* child.c — the command `baton run` supervises: started in its own process
 * group with a parent-death signal, signalled as a group, reaped without
 * ever leaving a zombie or a reused process-group id behind. */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Descriptors baton inherited (beyond 0-2), sorted: they pass on to CMD
 * (socket activation, say). Every other one is the library's (backend
 * sockets) and is closed at exec. */
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

/* In the child: mark every descriptor from 3 up that baton did not
 * inherit close-on-exec, with one system call per gap. */
static void cloexec_own_fds(void) {
  if (inherited_overflow) return;
  unsigned first = 3;
  for (size_t i = 0; i < ninherited; i++) {
    unsigned fd = (unsigned)inherited[i];
    if (fd > first) close_range(first, fd - 1, CLOSE_RANGE_CLOEXEC);
    first = fd + 1;
  }
  close_range(first, UINT_MAX, CLOSE_RANGE_CLOEXEC);
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

/* In the child, between fork and exec: async-signal-safe calls only. */
static void exec_child(const char *path, char *const argv[], char **env, int report_fd,
                       pid_t parent, const sigset_t *mask, const struct sigaction *pipe_action) {
  setpgid(0, 0);
  /* SIGKILL when the forking thread (baton's main thread) dies; if baton
   * died before this line, the signal would never come, so look. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(127);
  cloexec_own_fds();
  sigaction(SIGPIPE, pipe_action, NULL);
  sigprocmask(SIG_SETMASK, mask, NULL);
  execve(path, argv, env);
  int e = errno;
  ssize_t n = write(report_fd, &e, sizeof e);
  (void)n;
  _exit(e == ENOENT ? 127 : 126);
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
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) exec_child(path, argv, env, report[1], parent, mask, pipe_action);
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
