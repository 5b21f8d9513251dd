/* clock.h — the tests' clock: CLOCK_MONOTONIC in ns and ms, comparable
 * across processes (the fault suite's writers and logs), and the time
 * left until a deadline on it. Header-only, so that tests/servers (the
 * library behind baton-test-servers, which scripts run outside any test)
 * and the fault suite's writer use it without linking the kit. Deadlines
 * are absolute kit_now_ms() values; a backend call's deadline is on the
 * library's clock instead (kit_deadline() in session.h). */
#ifndef BATON_TEST_KIT_CLOCK_H
#define BATON_TEST_KIT_CLOCK_H

#include <errno.h>
#include <stdint.h>
#include <time.h>

#define KIT_NS_PER_MS 1000000LL
#define KIT_NS_PER_S 1000000000LL

/* Now, on CLOCK_MONOTONIC. */
static inline int64_t kit_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * KIT_NS_PER_S + ts.tv_nsec;
}

static inline int64_t kit_now_ms(void) { return kit_now_ns() / KIT_NS_PER_MS; }

/* Whole milliseconds since t0_ms (a kit_now_ms() value). */
static inline int64_t kit_ms_since(int64_t t0_ms) { return kit_now_ms() - t0_ms; }

/* Milliseconds from now to end_ms, for poll() and friends: 0 when past. */
static inline int kit_ms_left(int64_t end_ms) {
  int64_t left = end_ms - kit_now_ms();
  return left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

/* Pacing only (a retry's pause, letting time pass that is itself under
 * test): never a substitute for an event that can be waited on. */
static inline void kit_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    /* a signal came: sleep the rest */
  }
}

#endif
