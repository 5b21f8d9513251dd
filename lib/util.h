/* util.h — the utilities every file of the library and every backend
 * uses: the clock and waiting on it, errors, jittered back-off and the one
 * allocation point. Internal: not installed. Backends get it through
 * backend.h; it knows nothing of backends or of the core. */
#ifndef BATON_UTIL_H
#define BATON_UTIL_H

#include "baton.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BATON_NS_PER_MS 1000000LL   /* the library counts time in ns */
#define BATON_NS_PER_S 1000000000LL

/* ---- The clock (util.c) -------------------------------------------------- */

/* The library's clock in nanoseconds: CLOCK_BOOTTIME, which counts a
 * host's suspend (tests may inject another, see baton__clock_set). */
int64_t baton__now(void);

/* a + b for a time and a duration, saturating at INT64_MAX. */
int64_t baton__add_sat(int64_t a, int64_t b);

/* A deadline `ns` from now, saturating. */
int64_t baton__after(int64_t ns);

/* Sleep until `until` on the library's clock, or until `fd` is readable
 * (fd < 0: just sleep). Returns true when woken by fd. */
bool baton__sleep_until(int64_t until, int fd);

/* A condition variable whose timed waits baton__cond_wait_until can do. */
int baton__cond_init(pthread_cond_t *cond);

/* Wait on `cond` (made by baton__cond_init) until `deadline` on the
 * library's clock (INT64_MAX: no limit). Spurious wake-ups happen. */
void baton__cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *mu, int64_t deadline);

/* Milliseconds from now to `deadline` for poll() and friends: 0 when past,
 * rounded up so a wait never ends before the deadline. */
int baton__ms_until(int64_t deadline);

/* A uniform random delay in [0, min(max_ns, base_ns * 2^attempt)] (full
 * jitter); the client's options give base and max (retry_base_ns,
 * retry_max_ns). */
int64_t baton__backoff(int64_t base_ns, int64_t max_ns, unsigned attempt);

/* ---- Errors (error.c) ---------------------------------------------------- */

/* Fill `err` (may be NULL) with `code` and a formatted message; returns
 * `code`. Never allocates. */
int baton__error(baton_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Clear `err` (may be NULL): what a call that succeeds leaves. Returns 0. */
int baton__ok(baton_error *err);

/* Prefix an existing message: "what: <old message>". Returns err->code. */
int baton__error_prefix(baton_error *err, const char *what);

/* Whether `code` is worth retrying (connection trouble, timeouts, a
 * backend that lost its session), as opposed to a caller's mistake. */
bool baton__retryable(int code);

/* ---- Allocation (util.c) ------------------------------------------------- */

/* Allocation goes through here so tests can fail it on every path. */
void *baton__calloc(size_t n, size_t size);
void *baton__realloc(void *p, size_t size);
char *baton__strdup(const char *s);
char *baton__strndup(const char *s, size_t n);
void baton__free(void *p);

/* ---- Test hooks (util.c) ------------------------------------------------- */

/* Make the n-th allocation from now fail (n >= 1); 0 turns it off.
 * Returns the previous countdown: 0 once the failure has happened, > 0
 * while it is still to come. */
long baton__alloc_fail_after(long n);

/* A clock for the whole library in place of CLOCK_BOOTTIME: now() and a
 * sleep until a time on it that ends early when `fd` (may be -1) is
 * readable, returning true then; and the source of back-off jitter (NULL:
 * the library's own), so that a test replays exactly. NULL restores the
 * system clock. Set it before any client opens. */
typedef struct baton_clock {
  int64_t (*now)(void *ctx);                             /* the time, ns */
  bool (*sleep_until)(void *ctx, int64_t until, int fd); /* true: fd woke it */
  uint64_t (*random)(void *ctx);                         /* jitter, or NULL */
  void *ctx;                                             /* their argument */
} baton_clock;
void baton__clock_set(const baton_clock *clock);

#endif /* BATON_UTIL_H */
