/* test_main.c — the runner behind test.h: each case, then the kit's
 * clean-up of what the case left running (kit.h). */
#include "kit.h"
#include "test.h"

TEST_DEFINE_GLOBALS

int test_main(int argc, char **argv, const test_case *cases) {
  const char *filter = argc > 1 ? argv[1] : "";
  int ran = 0;
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (const test_case *c = cases; c->name != NULL; c++) {
    if (strstr(c->name, filter) == NULL) continue;
    int before = test_failures;
    test_current = c->name;
    int64_t t0 = kit_now_ns();
    c->fn();
    double ms = (double)(kit_now_ns() - t0) / KIT_NS_PER_MS;
    kit_case_end();
    printf("%s %s (%.0f ms)\n", test_failures == before ? "ok  " : "FAIL", c->name, ms);
    ran++;
  }
  kit_suite_end();
  if (ran == 0) {
    fprintf(stderr, "no test matches '%s'\n", filter);
    return 1;
  }
  printf("%d case(s), %d failed check(s)\n", ran, test_failures);
  return test_failures == 0 ? 0 : 1;
}
