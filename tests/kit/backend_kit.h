/* backend_kit.h — what the backends' own tests share: a session opened on
 * a backend table the way the core opens one, candidates, time in ms,
 * wait() on a thread of its own, child processes spoken to in lines, and a
 * loopback listener. Every call that waits is bounded in time. */
#ifndef BATON_TEST_BACKEND_KIT_H
#define BATON_TEST_BACKEND_KIT_H

#include "backend.h"
#include "internal.h"
#include "servers.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* Nanoseconds in a millisecond (baton__now() counts nanoseconds). */
#define KIT_MS_NS 1000000LL

/* ---- sessions ------------------------------------------------------------- */

/* A backend session with the URI and config it points into: the struct
 * must not move while the session is open. */
typedef struct kit_session {
  const baton_backend *b;                /* the table it was opened on */
  baton_uri uri;                         /* the parsed URI */
  baton_config cfg;                      /* the resolved options */
  char identity[BATON_IDENTITY_MAX + 1]; /* cfg.identity's storage */
  baton_session *s;                      /* the open session, or NULL */
} kit_session;

/* Parse `uri`, resolve `o` (may be NULL), open on `b` with a deadline
 * timeout_ms from now, and set s->backend and s->cfg as the core does.
 * Returns 0, or the error (err says why) with nothing left open. */
int kit_open(kit_session *k, const baton_backend *b, const char *uri,
             const baton_options *o, int timeout_ms, baton_error *err);
/* Close the session if it is open and free the URI; a second call does
 * nothing. */
void kit_close(kit_session *k);
/* A candidate on `name` (which must outlive it) with k's identity. */
baton_candidate kit_cand(const kit_session *k, const char *name);
/* forget() on k's backend. */
void kit_forget(kit_session *k, baton_candidate *c);
/* Release (best effort, within 5 s), then forget. */
void kit_drop(kit_session *k, baton_candidate *c);

/* "127.0.0.1:<port>" of member i, as host lists and endpoints want it. */
const char *kit_member_addr(const test_cluster *c, int i, char *buf, size_t size);

/* ---- time ------------------------------------------------------------------- */

/* The absolute deadline `ms` from now (baton__now() clock). */
int64_t kit_deadline(int ms);
/* Whole milliseconds from t0 to now, and from t0 to t1. */
int64_t kit_ms_since(int64_t t0);
int64_t kit_ms_between(int64_t t0, int64_t t1);
/* Pacing only (a retry's back-off, letting a thread block): never a
 * substitute for an event that can be waited on. */
void kit_sleep_ms(int ms);
/* The time `ms` from now on CLOCK_REALTIME, as pthread_cond_timedwait()
 * takes it. */
struct timespec kit_cond_deadline(int ms);

/* Repeat `call` while it fails with a retryable code, as the core would,
 * pausing 50 ms between tries, until timeout_ms have passed; rc gets the
 * last result. */
#define KIT_RETRY(rc, timeout_ms, call)                                         \
  do {                                                                          \
    int64_t kit_end_ = kit_deadline(timeout_ms);                                \
    for (int kit_i_ = 0; kit_i_ < 1000; kit_i_++) {                             \
      (rc) = (call);                                                            \
      if ((rc) == 0 || !baton__retryable(rc) || baton__now() >= kit_end_) break; \
      kit_sleep_ms(50);                                                         \
    }                                                                           \
  } while (0)

/* ---- wait() on a thread ----------------------------------------------------- */

/* One wait() running on its own thread, cancellable through its own pipe.
 * rc, woke_at and done are written under a lock the kit holds: read them
 * through kit_waiters_done() while it runs, directly once joined. */
typedef struct kit_waiter {
  kit_session *k;       /* its session */
  baton_candidate *c;   /* the candidate (or observer) that waits */
  baton_leader seen;    /* what the observer saw, when has_seen */
  bool has_seen;        /* false: wait() gets NULL for `seen` */
  int64_t deadline;     /* wait()'s deadline */
  int cancel[2];        /* a pipe; its read end is wait()'s cancel_fd */
  pthread_t thread;     /* the thread that waits */
  int rc;               /* what wait() returned */
  int64_t woke_at;      /* baton__now() when wait() returned */
  bool done;            /* wait() has returned */
  baton_error err;      /* wait()'s error */
} kit_waiter;

/* Start wait(k, c, seen, now + timeout_ms) on a new thread; `seen` may be
 * NULL (a candidate) and is copied. Returns 0 or -1. */
int kit_waiter_start(kit_waiter *w, kit_session *k, baton_candidate *c,
                     const baton_leader *seen, int timeout_ms);
/* Wait until `count` of ws[0..n) have returned or `ms` pass; returns how
 * many have returned. */
int kit_waiters_done(kit_waiter *ws, int n, int count, int ms);
/* Make the cancel fd readable: 0, or -1 if the write failed. */
int kit_waiter_cancel(kit_waiter *w);
/* Join the thread and close the pipe. */
void kit_waiter_join(kit_waiter *w);

/* ---- child processes -------------------------------------------------------- */

/* A child process with a pipe on its stdin and one on its stdout+stderr. */
typedef struct kit_proc {
  pid_t pid;       /* 0 once reaped */
  int in;          /* its stdin (we write), -1 once closed */
  int out;         /* its stdout and stderr (we read), -1 once closed */
  char buf[4096];  /* output read but not yet consumed */
  size_t len;      /* bytes in buf */
} kit_proc;

/* Start argv (argv[0] looked up in PATH unless it holds a '/'). Returns 0
 * or -1. */
int kit_proc_start(kit_proc *p, const char *const *argv);
/* Write `line` and a newline to its stdin: 0 or -1. */
int kit_proc_send(kit_proc *p, const char *line);
/* Consume output lines until one starts with `prefix` (copied into line
 * when line is not NULL): 0, or -1 when `ms` pass or the output ends
 * first. The lines skipped go to stderr. */
int kit_proc_expect(kit_proc *p, const char *prefix, int ms, char *line, size_t size);
/* Send `sig` (0: none), close its stdin, and give it `ms` to exit while
 * its output is read away; SIGKILL after that. Reaps it and closes the
 * pipes. Returns its exit status, or -1 (a signal ended it, or it never
 * started). */
int kit_proc_stop(kit_proc *p, int sig, int ms);
/* Run argv with its stdin at end-of-file to completion within `ms`, its
 * output into out (cut to size). Returns the exit status, or -1. */
int kit_run(const char *const *argv, char *out, size_t size, int ms);

/* ---- sockets ---------------------------------------------------------------- */

/* A TCP socket listening on a free 127.0.0.1 port, which goes to *port.
 * Returns the socket or -1. */
int kit_listen(int backlog, int *port);

#endif
