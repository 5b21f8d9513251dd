/* test.h — checks that print both sides, and the runner every suite
 * declares its cases to: a NULL-ended test_case table given to test_main.
 * A failed check prints file:line and the values, and fails the test.
 * The rest of the kit (clock, names, processes, servers) is kit/kit.h. */
#ifndef BATON_TEST_H
#define BATON_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int test_failures;
extern const char *test_current;

#define TEST_FAIL_(...)                                          \
  do {                                                           \
    fprintf(stderr, "  FAIL %s (%s:%d): ", test_current, __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__);                                \
    fputc('\n', stderr);                                         \
    __atomic_fetch_add(&test_failures, 1, __ATOMIC_RELAXED); /* threads check too */ \
  } while (0)

/* CHECK* record a failure and go on; REQUIRE* also return from the test. */
#define CHECK(cond) \
  do { if (!(cond)) TEST_FAIL_("%s", #cond); } while (0)
#define REQUIRE(cond) \
  do { if (!(cond)) { TEST_FAIL_("%s", #cond); return; } } while (0)
#define CHECK_INT_(a, op, b, onfail)                                          \
  do {                                                                       \
    long long a_ = (long long)(a), b_ = (long long)(b);                      \
    if (!(a_ op b_)) {                                                       \
      TEST_FAIL_("%s %s %s: %lld vs %lld", #a, #op, #b, a_, b_);             \
      onfail;                                                                \
    }                                                                        \
  } while (0)
#define CHECK_EQ(a, b) CHECK_INT_(a, ==, b, (void)0)
#define CHECK_NE(a, b) CHECK_INT_(a, !=, b, (void)0)
#define CHECK_LT(a, b) CHECK_INT_(a, <, b, (void)0)
#define CHECK_LE(a, b) CHECK_INT_(a, <=, b, (void)0)
#define CHECK_GT(a, b) CHECK_INT_(a, >, b, (void)0)
#define CHECK_GE(a, b) CHECK_INT_(a, >=, b, (void)0)
#define REQUIRE_EQ(a, b) CHECK_INT_(a, ==, b, return)
#define REQUIRE_GT(a, b) CHECK_INT_(a, >, b, return)
#define CHECK_STR(a, b)                                                      \
  do {                                                                       \
    const char *a_ = (a), *b_ = (b);                                         \
    if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                     \
      TEST_FAIL_("%s == %s: \"%s\" vs \"%s\"", #a, #b, a_ ? a_ : "(null)",   \
                 b_ ? b_ : "(null)");                                        \
  } while (0)
#define CHECK_CONTAINS(hay, needle)                                          \
  do {                                                                       \
    const char *h_ = (hay), *n_ = (needle);                                  \
    if (h_ == NULL || strstr(h_, n_) == NULL)                                \
      TEST_FAIL_("%s contains \"%s\": \"%s\"", #hay, n_, h_ ? h_ : "(null)"); \
  } while (0)
/* A baton call expected to succeed: prints the error's message if not. */
#define CHECK_OK(call, errp)                                                 \
  do {                                                                       \
    int rc_ = (call);                                                        \
    if (rc_ != 0) TEST_FAIL_("%s -> %d (%s)", #call, rc_, (errp)->message);   \
  } while (0)
#define REQUIRE_OK(call, errp)                                               \
  do {                                                                       \
    int rc_ = (call);                                                        \
    if (rc_ != 0) {                                                          \
      TEST_FAIL_("%s -> %d (%s)", #call, rc_, (errp)->message);              \
      return;                                                                \
    }                                                                        \
  } while (0)

/* How late a thread may run on a loaded two-core machine: timing bounds
 * are "what must happen" plus this, and stay far below what a wrong
 * implementation (polling, a missed wake-up, a missed deadline) costs. */
#define TEST_SLACK_MS 250

typedef struct test_case {
  const char *name;
  void (*fn)(void);
} test_case;

/* Run the cases whose name contains argv[1] (all without it); exit status
 * is 0 only if every check passed and at least one case ran. */
int test_main(int argc, char **argv, const test_case *cases);

#define TEST_DEFINE_GLOBALS      \
  int test_failures;             \
  const char *test_current = "";

#endif /* BATON_TEST_H */
