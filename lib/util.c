/* util.c — the clock, jittered back-off and the one allocation point. */
#include "backend.h"
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t baton__now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int baton__ms_until(int64_t deadline) {
  int64_t left = deadline - baton__now();
  if (left <= 0) return 0;
  int64_t ms = (left + 999999) / 1000000;
  return ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

/* splitmix64 over a per-thread state seeded from the clock and the thread:
 * jitter only needs to differ between processes and threads. */
static uint64_t random_u64(void) {
  static _Thread_local uint64_t state;
  if (state == 0)
    state = (uint64_t)baton__now() ^ ((uint64_t)(uintptr_t)&state << 16) ^
            (uint64_t)pthread_self();
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

int64_t baton__backoff(const baton_config *cfg, unsigned attempt) {
  int64_t cap = cfg->retry_base_ns;
  for (unsigned i = 0; i < attempt && cap < cfg->retry_max_ns; i++) cap *= 2;
  if (cap > cfg->retry_max_ns) cap = cfg->retry_max_ns;
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
