/* session.h — the kit's part for tests that drive a backend table
 * directly (the seam suite, each backend's own suites): a session opened
 * the way the core opens one, candidates, calls bounded by a deadline on
 * the library's clock, and wait() on a thread of its own. */
#ifndef BATON_TEST_KIT_SESSION_H
#define BATON_TEST_KIT_SESSION_H

#include "backend.h"
#include "internal.h"
#include "kit.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How long one backend call may take here: a request or two on loopback,
 * on a loaded two-core machine under the sanitizers. */
#define KIT_CALL_MS 5000

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
/* The same with only an identity and a TTL (0: the default). */
int kit_open_as(kit_session *k, const baton_backend *b, const char *uri, const char *identity,
                uint32_t ttl_ms, baton_error *err);
/* Close the session if it is open and free the URI; a second call does
 * nothing. */
void kit_close(kit_session *k);
/* A candidate on `name` (which must outlive it) with k's identity. */
baton_candidate kit_cand(const kit_session *k, const char *name);
/* forget() on k's backend. */
void kit_forget(kit_session *k, baton_candidate *c);
/* Release (best effort, within KIT_CALL_MS), then forget. */
void kit_drop(kit_session *k, baton_candidate *c);

/* ---- calls ------------------------------------------------------------------ */

/* A backend call's deadline, ms from now on the library's clock
 * (baton__now(): every backend deadline is on it, not on kit_now_ms()). */
int64_t kit_deadline(int ms);

/* The table's calls on k, each with a deadline KIT_CALL_MS from now. */
int kit_acquire(kit_session *k, baton_candidate *c, baton_leader *holder, baton_error *err);
int kit_release(kit_session *k, baton_candidate *c, baton_error *err);
int kit_leader(kit_session *k, const char *name, baton_leader *out, baton_error *err);
int kit_renew(kit_session *k, baton_candidate *const *held, size_t n, bool *gone,
              baton_error *err);
/* wait() with no cancel descriptor, ms at most. */
int kit_wait(kit_session *k, baton_candidate *c, const baton_leader *seen, int ms,
             baton_error *err);

/* Repeat `call` while it fails with a retryable code, as the core would,
 * pausing 50 ms between tries, until timeout_ms have passed; rc gets the
 * last result. */
#define KIT_RETRY(rc, timeout_ms, call)                                       \
  do {                                                                        \
    int64_t kit_end_ = kit_now_ms() + (timeout_ms);                           \
    for (;;) {                                                                \
      (rc) = (call);                                                          \
      if ((rc) == 0 || !baton__retryable(rc) || kit_ms_left(kit_end_) == 0)   \
        break;                                                                \
      kit_sleep_ms(50);                                                       \
    }                                                                         \
  } while (0)

/* ---- wait() on a thread ----------------------------------------------------- */

/* One wait() running on its own thread, cancellable through its own pipe.
 * Once kit_waiters_done() has seen it done (or it is joined), rc, err and
 * woke_at are set. */
typedef struct kit_waiter {
  kit_session *k;       /* its session */
  baton_candidate *c;   /* the candidate (or observer) that waits */
  baton_leader seen;    /* what the observer saw, when has_seen */
  bool has_seen;        /* false: wait() gets NULL for `seen` */
  int64_t deadline;     /* wait()'s deadline (library clock) */
  int cancel[2];        /* a pipe; its read end is wait()'s cancel_fd */
  pthread_t thread;     /* the thread that waits */
  int rc;               /* what wait() returned */
  int64_t woke_at;      /* kit_now_ms() when wait() returned */
  int done;             /* 1 once wait() has returned */
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

/* ---- what a client logs ---------------------------------------------------- */

/* The lines a client's log callback heard (the first KIT_LOG_LINES kept),
 * for a case that checks what an operator would be told. */
#define KIT_LOG_LINES 64
typedef struct kit_log {
  kit_cond c;
  char lines[KIT_LOG_LINES][528]; /* "<level> <message>" (baton__log's lines are < 512) */
  int n;                          /* lines kept (c.mu) */
  int dropped;                    /* lines heard after the first KIT_LOG_LINES (c.mu) */
} kit_log;

/* Initialise l and make o's client log to it, at every level. */
void kit_log_attach(kit_log *l, baton_options *o);
/* Wait until a line heard contains `needle`, at most ms: that line (valid
 * until kit_log_destroy), or NULL. A case that may have lost lines past
 * the first KIT_LOG_LINES fails here rather than miss one. */
const char *kit_log_wait(kit_log *l, const char *needle, int ms);
/* After the client is closed. */
void kit_log_destroy(kit_log *l);

#endif
