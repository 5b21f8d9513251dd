/* dlib_test.c — loading an optional library at first use (lib/dlib.h):
 * a table filled from a real library, a missing library or function
 * reported (and remembered) with dlerror's words, and a process that
 * opens no etcd or PostgreSQL session mapping neither libcurl nor libpq. */
#include "dlib.h"
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MATH_SYMS(X) X(cos) X(sqrt)
BATON_DLIB_DECLARE(math_fns, MATH_SYMS)
BATON_DLIB_DEFINE(math_fns, MATH_SYMS, "libm.so.6", "the test needs libm")

#define GONE_SYMS(X) X(cos)
BATON_DLIB_DECLARE(gone_fns, GONE_SYMS)
BATON_DLIB_DEFINE(gone_fns, GONE_SYMS, "libbaton-test-missing.so.0", "x:// needs libmissing")

/* Declared for its type only: no library defines it. */
void baton_test_absent(int);
#define ABSENT_SYMS(X) X(sqrt) X(baton_test_absent)
BATON_DLIB_DECLARE(absent_fns, ABSENT_SYMS)
BATON_DLIB_DEFINE(absent_fns, ABSENT_SYMS, "libm.so.6", "y:// needs libm")

static void fills_the_table(void) {
  baton_error err = {0};
  REQUIRE_OK(baton__dlib_load(&math_fns_lib, &err), &err);
  CHECK(math_fns.cos(0.0) == 1.0);
  CHECK(math_fns.sqrt(16.0) == 4.0);
  CHECK_OK(baton__dlib_load(&math_fns_lib, &err), &err);
}

static void a_missing_library_is_not_built(void) {
  for (int i = 0; i < 2; i++) {
    baton_error err = {0};
    CHECK_EQ(baton__dlib_load(&gone_fns_lib, &err), BATON_ENOTBUILT);
    CHECK_EQ(err.code, BATON_ENOTBUILT);
    CHECK_CONTAINS(err.message, "x:// needs libmissing (libbaton-test-missing.so.0): ");
    CHECK_CONTAINS(err.message, "No such file");
  }
}

static void a_missing_function_is_named(void) {
  baton_error err = {0};
  CHECK_EQ(baton__dlib_load(&absent_fns_lib, &err), BATON_ENOTBUILT);
  CHECK_CONTAINS(err.message, "y:// needs libm (libm.so.6): ");
  CHECK_CONTAINS(err.message, "baton_test_absent");
}

/* The library is linked into this program whole: its start must not
 * have mapped what etcd, PostgreSQL and the metrics server load later. */
static void start_up_maps_no_optional_library(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  REQUIRE(f != NULL);
  char line[4096];
  while (fgets(line, sizeof line, f) != NULL) {
    CHECK(strstr(line, "libcurl") == NULL);
    CHECK(strstr(line, "libpq") == NULL);
    CHECK(strstr(line, "libmicrohttpd") == NULL);
  }
  fclose(f);
}

int main(int argc, char **argv) {
  static const test_case cases[] = {
      {"start_up_maps_no_optional_library", start_up_maps_no_optional_library},
      {"fills_the_table", fills_the_table},
      {"a_missing_library_is_not_built", a_missing_library_is_not_built},
      {"a_missing_function_is_named", a_missing_function_is_named},
      {NULL, NULL},
  };
  return test_main(argc, argv, cases);
}
