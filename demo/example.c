/* example.c — the examples' diagnostics, clock and durations (example.h). */
#include "example.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

int example_duration_ms(const char *text, uint64_t *ms) {
  static const struct {
    const char *unit;
    uint64_t ms;
  } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}};
  char *end;
  if (*text < '0' || *text > '9') return -1;
  unsigned long long n = strtoull(text, &end, 10);
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
    if (strcmp(end, units[i].unit) == 0 && n <= UINT64_MAX / 60000) {
      *ms = n * units[i].ms;
      return 0;
    }
  return -1;
}
