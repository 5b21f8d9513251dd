/* util.c — the clock and waiting on it, jittered back-off and the one
 * allocation point. */
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the clock ----------------------------------------------------------- */

static int64_t clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (int64_t)ts.tv_sec * BATON_NS_PER_S + ts.tv_nsec;
}

/* Tests may replace the clock; everything else reads CLOCK_BOOTTIME, which
 * counts a suspend: a host that slept past a term's deadline finds it over
 * at once when it resumes (CLOCK_MONOTONIC stands still while suspended). */
static _Atomic(const baton_clock *) injected;

void baton__clock_set(const baton_clock *clock) { atomic_store(&injected, clock); }

int64_t baton__now(void) {
  const baton_clock *c = atomic_load_explicit(&injected, memory_order_relaxed);
  return c != NULL ? c->now(c->ctx) : clock_ns(CLOCK_BOOTTIME);
}

int64_t baton__add_sat(int64_t a, int64_t b) {
  if (b > 0 && a > INT64_MAX - b) return INT64_MAX;
  return a + b;
}

int64_t baton__after(int64_t ns) { return baton__add_sat(baton__now(), ns); }

bool baton__sleep_until(int64_t until, int fd) {
  const baton_clock *c = atomic_load(&injected);
  if (c != NULL) return c->sleep_until(c->ctx, until, fd);
  struct pollfd p = {.fd = fd, .events = POLLIN};
  for (;;) { /* until `until`: a signal only shortens one poll */
    int ms = baton__ms_until(until);
    if (ms == 0) return false;
    int n = poll(&p, fd >= 0 ? 1 : 0, ms);
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

int baton__cond_init(pthread_cond_t *cond) {
  pthread_condattr_t attr;
  if (pthread_condattr_init(&attr) != 0) return -1;
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  int rc = pthread_cond_init(cond, &attr);
  pthread_condattr_destroy(&attr);
  return rc;
}

/* A condition variable can only time out on CLOCK_MONOTONIC (or the wall
 * clock): the wait is the time left on our clock, counted on that one. If
 * the host suspends meanwhile the wait ends late; callers look at our
 * clock again when it does. */
void baton__cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *mu, int64_t deadline) {
  if (deadline == INT64_MAX) {
    pthread_cond_wait(cond, mu);
    return;
  }
  int64_t left = deadline - baton__now();
  if (left <= 0) return;
  int64_t at = baton__add_sat(clock_ns(CLOCK_MONOTONIC), left);
  struct timespec ts = {.tv_sec = at / BATON_NS_PER_S, .tv_nsec = at % BATON_NS_PER_S};
  pthread_cond_timedwait(cond, mu, &ts);
}

/* ---- back-off and allocation ----------------------------------------- */

int baton__ms_until(int64_t deadline) {
  int64_t left = deadline - baton__now();
  if (left <= 0) return 0;
  int64_t ms = (left + BATON_NS_PER_MS - 1) / BATON_NS_PER_MS;
  return ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

/* splitmix64 over a per-thread state seeded from the clock and the thread:
 * jitter only needs to differ between processes and threads. */
static uint64_t random_u64(void) {
  const baton_clock *c = atomic_load_explicit(&injected, memory_order_relaxed);
  if (c != NULL && c->random != NULL) return c->random(c->ctx);
  static _Thread_local uint64_t state;
  if (state == 0)
    state = (uint64_t)baton__now() ^ ((uint64_t)(uintptr_t)&state << 16) ^
            (uint64_t)pthread_self();
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

int64_t baton__backoff(int64_t base_ns, int64_t max_ns, unsigned attempt) {
  int64_t cap = base_ns;
  for (unsigned i = 0; i < attempt && cap < max_ns; i++) cap *= 2;
  if (cap > max_ns) cap = max_ns;
  if (cap <= 0) return 0;
  return (int64_t)(random_u64() % (uint64_t)(cap + 1));
}

/* Allocation failure injection: when the countdown is positive, the
 * allocation that brings it to zero fails. Tests only. */
static atomic_long alloc_countdown;

long baton__alloc_fail_after(long n) { return atomic_exchange(&alloc_countdown, n); }

static bool alloc_should_fail(void) {
  if (atomic_load_explicit(&alloc_countdown, memory_order_relaxed) <= 0) return false;
  return atomic_fetch_sub(&alloc_countdown, 1) == 1;
}

void *baton__calloc(size_t n, size_t size) {
  return alloc_should_fail() ? NULL : calloc(n, size);
}

void *baton__realloc(void *p, size_t size) {
  return alloc_should_fail() ? NULL : realloc(p, size);
}

char *baton__strndup(const char *s, size_t n) {
  size_t len = strnlen(s, n);
  char *copy = baton__calloc(1, len + 1);
  if (copy != NULL) memcpy(copy, s, len);
  return copy;
}

char *baton__strdup(const char *s) { return baton__strndup(s, strlen(s)); }

void baton__free(void *p) { free(p); }
