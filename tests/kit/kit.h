/* kit.h — the test kit every suite uses (with test.h's checks and runner):
 * the clock (clock.h), fresh names, conditions to wait on with a
 * deadline, child processes spoken to in lines, and the servers a suite
 * or a single case runs against. Every call that waits is bounded by a
 * deadline. What a suite starts through the kit ends with the case (or
 * the suite) however the case returns: test_main calls kit_case_end()
 * after each case and kit_suite_end() at the end. Sessions on a backend
 * table are in session.h. */
#ifndef BATON_TEST_KIT_H
#define BATON_TEST_KIT_H

#include "clock.h"
#include "servers.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- names -------------------------------------------------------------- */

/* "<tag>-<pid>-<n>": a name no other case, run or process used, valid as
 * an election name. Kept in one of 8 rotating buffers: copy it to keep it
 * past 7 more calls. Not thread-safe. */
const char *kit_name(const char *tag);

/* ---- waiting on a condition ---------------------------------------------- */

/* A mutex and a condition variable on CLOCK_MONOTONIC: what threads that
 * change a state signal, and what a test waits on until a deadline. */
typedef struct kit_cond {
  pthread_mutex_t mu;
  pthread_cond_t cond;
} kit_cond;

void kit_cond_init(kit_cond *c);
void kit_cond_destroy(kit_cond *c);
/* With c->mu held: wait for a broadcast or until end_ms (kit_now_ms()
 * time); false, without waiting, once end_ms has passed. A loop
 * `while (!done && kit_cond_wait(c, end))` ends by the deadline. */
bool kit_cond_wait(kit_cond *c, int64_t end_ms);
/* Lock, broadcast, unlock: after changing what waiters look at. */
void kit_cond_broadcast(kit_cond *c);
/* Under c->mu, *v += add, then broadcast: what a thread does to a count
 * (or a done flag) others wait on. What it wrote before is visible to a
 * waiter that sees the new count. */
void kit_cond_add(kit_cond *c, int *v, int add);
/* Wait until *v >= target, at most ms; *v is read under c->mu, and whoever
 * raises it does so under c->mu and broadcasts. */
bool kit_await_count(kit_cond *c, const int *v, int target, int ms);

/* One line from fd (a socket, a pipe) into buf without its '\n', read
 * byte by byte so nothing after it is consumed: true, or false when
 * end_ms passes or the stream ends first (buf holds what came). */
bool kit_read_line(int fd, char *buf, size_t size, int64_t end_ms);

/* ---- sockets and members ------------------------------------------------ */

/* A TCP socket listening on a free 127.0.0.1 port, which goes to *port:
 * the socket, or -1. */
int kit_listen(int backlog, int *port);
/* "127.0.0.1:<port>" of member i, as host lists and endpoints want it. */
const char *kit_member_addr(const test_cluster *c, int i, char *buf, size_t size);
/* `uri` with its host list replaced by 127.0.0.1:ports[0..n) (proxies, or
 * ports where nothing listens), its scheme, userinfo, path and query kept
 * (PostgreSQL's credentials and database travel in the URI, never in the
 * environment). */
void kit_uri_at(char *out, size_t size, const char *uri, const int *ports, int n);

/* ---- child processes -------------------------------------------------------- */

/* Where a child's stderr goes. */
typedef enum kit_stderr {
  KIT_STDERR_PIPE,      /* its own pipe, read into ebuf */
  KIT_STDERR_MERGED,    /* into the stdout pipe, read as lines with it */
  KIT_STDERR_INHERITED, /* the test's own stderr */
} kit_stderr;

/* How a child starts; zeroed (or NULL) is: stdin, stdout and stderr on
 * pipes, every other descriptor as exec leaves it. */
typedef struct kit_proc_opts {
  const char *const *env; /* "K=V" added to its environment (replacing the
                             same K), NULL-terminated */
  bool env_only;          /* its environment is env alone, as given (a name
                             twice stays twice) */
  kit_stderr err;
  bool only_std_fds;      /* nothing but 0-2 (and stdin_at) passes on, even what
                             the test opened without close-on-exec */
  int stdin_at;           /* > 2: its stdin at this descriptor too */
  bool close_0_and_2;     /* started with stdin and stderr closed */
} kit_proc_opts;

#define KIT_OUT_MAX 32768 /* output kept per stream, from its head; more is read and dropped */

/* A child with pipes on its stdin, stdout (and stderr), and a pidfd that
 * says when it ends. The kit reads its output into obuf/ebuf whenever it
 * waits on it, so that a chatty child never blocks on a full pipe. */
typedef struct kit_proc {
  pid_t pid;                /* 0 when none */
  int pidfd, in, out, err;  /* our ends; -1 when closed */
  char obuf[KIT_OUT_MAX];   /* stdout not yet consumed as lines, NUL-ended */
  char ebuf[KIT_OUT_MAX];   /* stderr so far, NUL-ended */
  size_t olen, elen;
  bool exited;              /* reaped: code and exited_ms are set */
  int code;                 /* exit status, or 128 + the signal that ended it */
  int64_t exited_ms;        /* kit_now_ms() when its end was seen */
} kit_proc;

/* Start argv (argv[0] looked up in PATH unless it holds a '/'); o may be
 * NULL. The process lives in a slot of the kit until kit_proc_stop(),
 * and is killed after the case at the latest, also when a REQUIRE
 * returned early; if the test dies it is killed too (parent-death
 * signal: start it from the thread that runs the cases). NULL, reported,
 * when it cannot start or every slot is taken. */
kit_proc *kit_spawn(const char *const argv[], const kit_proc_opts *o);
/* Run argv to its end within ms, into *p (caller's storage; p->obuf and
 * p->ebuf hold what it wrote): its code, or -1 when it did not start or
 * was killed at the deadline. */
int kit_run(kit_proc *p, const char *const argv[], const kit_proc_opts *o, int ms);

/* The same with its stdout and stderr merged into out (cut to size). */
int kit_run_output(const char *const argv[], char *out, size_t size, int ms);

/* Wait up to ms for output or the end, and take what came. */
void kit_proc_pump(kit_proc *p, int ms);
/* The next stdout line into line (without its '\n'): 0, or -1 when ms
 * pass or the output ends first. */
int kit_proc_line(kit_proc *p, char *line, size_t size, int ms);
/* Consume stdout lines until one starts with prefix (copied into line if
 * not NULL): 0, or -1 as kit_proc_line. The lines skipped go to stderr. */
int kit_proc_expect(kit_proc *p, const char *prefix, int ms, char *line, size_t size);
/* Write line and a newline to its stdin: 0 or -1. */
int kit_proc_send(kit_proc *p, const char *line);
/* Its code once it has ended, waiting up to ms; -1 while it runs. */
int kit_proc_wait(kit_proc *p, int ms);
/* Send sig (0: none; SIGCONT comes first, so a stopped child gets it),
 * close its stdin, give it ms to end while its output is read, SIGKILL it
 * after that; reap it, close the pipes and free its slot. Its code, or -1
 * when the kit had to kill it (or it never ran). */
int kit_proc_stop(kit_proc *p, int sig, int ms);

/* Wait up to ms for a process (not necessarily a child: a grandchild) to
 * end: the kit_now_ms() time it was seen gone, or -1. By a pidfd opened
 * while it surely lived (its pid cannot be reused meanwhile), or by pid. */
int64_t kit_pidfd_gone(int pidfd, int ms);
int64_t kit_pid_gone(pid_t pid, int ms);

/* ---- Prometheus ----------------------------------------------------------------- */

/* Lint `len` bytes of Prometheus text with `promtool check metrics`
 * (Debian's prometheus package): its exit status, 0 when the text passes;
 * 127 when promtool is missing, -1 when it cannot be run. promtool's
 * complaints go to the test's output. */
int kit_promtool_check(const char *text, size_t len);

/* ---- servers -------------------------------------------------------------------- */

/* The suite's server of `kind` (test_cluster_start's kinds): started by
 * the first call, resumed after every case (a case that paused it and
 * returned early leaves no stopped server to the next), stopped at the
 * end of test_main. NULL, reported, when it does not start: a missing
 * server fails. */
test_cluster *kit_server(const char *kind);
/* A server for the running case only (kind as above, or a Redis with
 * options): stopped after the case however it returns, so that no state
 * leaks into the next. NULL, reported, when it does not start. */
test_cluster *kit_fresh_server(const char *kind);
test_cluster *kit_fresh_redis(const test_redis_opts *o);

/* What test_main calls: after each case, and once after the last. */
void kit_case_end(void);
/* fn runs first in every kit_case_end(): a suite (or a part of the kit
 * such as the proxy) closes there what a case that returned early
 * (REQUIRE) left open. Up to 4 hooks; one added twice runs once. */
void kit_on_case_end(void (*fn)(void));
void kit_suite_end(void);

#endif
