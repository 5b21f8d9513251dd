/* test_main.c — the runner behind test.h. */
#include "test.h"

#include <time.h>

TEST_DEFINE_GLOBALS

int test_main(int argc, char **argv, const test_case *cases) {
  const char *filter = argc > 1 ? argv[1] : "";
  int ran = 0;
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (const test_case *c = cases; c->name != NULL; c++) {
    if (strstr(c->name, filter) == NULL) continue;
    struct timespec a, b;
    int before = test_failures;
    test_current = c->name;
    clock_gettime(CLOCK_MONOTONIC, &a);
    c->fn();
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    printf("%s %s (%.0f ms)\n", test_failures == before ? "ok  " : "FAIL", c->name, ms);
    ran++;
  }
  if (ran == 0) {
    fprintf(stderr, "no test matches '%s'\n", filter);
    return 1;
  }
  printf("%d case(s), %d failed check(s)\n", ran, test_failures);
  return test_failures == 0 ? 0 : 1;
}
