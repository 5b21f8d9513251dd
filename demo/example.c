/* example.c — the examples' diagnostics, clock and durations (example.h). */
#include "example.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

const char *example_program = "example";

int example_fail(int code, const char *what, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (what != NULL)
    fprintf(stderr, "%s: %s: %s\n", example_program, what, msg);
  else
    fprintf(stderr, "%s: %s\n", example_program, msg);
  return code;
}

int64_t example_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t example_now_ms(void) { return example_now_ns() / 1000000; }

/* The language of the baton command's durations (cli_duration_ms in
 * cli/args.c), written again so that an example stands alone: up to 12
 * digits, an optional fraction of up to 6, and a unit; whole milliseconds
 * only. */
int example_duration_ms(const char *text, uint64_t *ms) {
  static const struct {
    const char *unit;
    uint64_t us;
  } units[] = {{"ms", 1000}, {"s", 1000000}, {"m", 60000000}};
  uint64_t whole = 0, frac = 0, scale = 1;
  int digits = 0, fraction = 0;
  const char *p = text;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (++digits > 12) return -1;
    whole = whole * 10 + (uint64_t)(*p - '0');
  }
  if (*p == '.')
    for (p++; *p >= '0' && *p <= '9'; p++) {
      if (++fraction > 6) return -1;
      frac = frac * 10 + (uint64_t)(*p - '0');
      scale *= 10;
    }
  if (digits + fraction == 0) return -1;
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcmp(p, units[i].unit) != 0) continue;
    /* whole < 10^12 and us <= 6 * 10^7: no overflow. */
    uint64_t us = whole * units[i].us + frac * units[i].us / scale;
    if (frac * units[i].us % scale != 0 || us % 1000 != 0) return -1;
    *ms = us / 1000;
    return 0;
  }
  return -1;
}

void example_block_stop_signals(sigset_t *stop) {
  sigemptyset(stop);
  sigaddset(stop, SIGINT);
  sigaddset(stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, stop, NULL);
}

int example_wait_until(const sigset_t *stop, int64_t until_ms) {
  for (int i = 0; i < 1000; i++) {
    int64_t left = until_ms - example_now_ms();
    if (left < 0) left = 0;
    struct timespec ts = {left / 1000, (long)(left % 1000) * 1000000L};
    int sig = sigtimedwait(stop, NULL, &ts);
    if (sig > 0) return sig;
    if (left == 0 || (sig < 0 && errno == EAGAIN)) return 0;
  }
  return 0;
}
