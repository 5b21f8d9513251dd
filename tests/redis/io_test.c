/* io_test.c — what the redis:// backend asks of its socket: the send(),
 * recv() and poll() calls of each request, in order. This program defines
 * those three functions itself, so the backend's calls (the static library
 * is linked into it) land here, are noted, and go on to the C library's. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
#include "redis_kit.h"
#include "redis.h"
#include "test.h"

#include <dlfcn.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static const baton_backend *B = &baton_backend_redis;

/* The suite's server (one is enough: nothing here reads its counters). */
static test_cluster *server;

/* A session on it as "alice". */
static int open_alice(kit_session *a, baton_error *err) {
  return kit_open_as(a, B, server->uri, "alice", 0, err);
}

/* ---- the calls, noted per thread ------------------------------------------ */

/* This thread's calls since trace_start(): 's' send, 'r' recv, 'p' poll. */
static _Thread_local char trace[8192];
static _Thread_local size_t traced;

static void note(char call) {
  if (traced < sizeof trace - 1) trace[traced++] = call;
  trace[traced] = '\0';
}

static void trace_start(void) {
  traced = 0;
  trace[0] = '\0';
}

static size_t count(char call) {
  size_t n = 0;
  for (size_t i = 0; i < traced; i++) n += trace[i] == call;
  return n;
}

/* The C library's function behind ours (or the sanitizer's, which calls
 * it). Looked up at the first call: this program runs one thread. */
static void *next_fn(void **cache, const char *name) {
  if (*cache == NULL) *cache = dlsym(RTLD_NEXT, name);
  if (*cache == NULL) {
    fprintf(stderr, "io_test: no %s after this program's\n", name);
    abort();
  }
  return *cache;
}

ssize_t send(int fd, const void *buf, size_t len, int flags) {
  static void *real;
  note('s');
  return ((ssize_t(*)(int, const void *, size_t, int))next_fn(&real, "send"))(fd, buf, len,
                                                                              flags);
}

ssize_t recv(int fd, void *buf, size_t len, int flags) {
  static void *real;
  note('r');
  return ((ssize_t(*)(int, void *, size_t, int))next_fn(&real, "recv"))(fd, buf, len, flags);
}

int poll(struct pollfd *fds, nfds_t n, int timeout) {
  static void *real;
  note('p');
  return ((int (*)(struct pollfd *, nfds_t, int))next_fn(&real, "poll"))(fds, n, timeout);
}

/* ---- tests ------------------------------------------------------------------- */

/* Requests in a row: one send, one poll for the reply, one recv that gets
 * it. No readiness check of a connection used moments ago, and no read
 * tried before the reply can be there. */
static void requests_in_a_row_wait_once_and_read_once(void) {
  kit_session a;
  baton_error err = {0};
  REQUIRE_OK(open_alice(&a, &err), &err);
  baton_candidate k = kit_cand(&a, "busy");
  REQUIRE_OK(B->acquire(a.s, &k, NULL, kit_deadline(2000), &err), &err); /* caches the scripts */
  REQUIRE_OK(B->release(a.s, &k, kit_deadline(2000), &err), &err);
  enum { PAIRS = 200 };
  trace_start();
  for (int i = 0; i < PAIRS; i++) {
    int rc = B->acquire(a.s, &k, NULL, kit_deadline(2000), &err);
    if (rc == 0) rc = B->release(a.s, &k, kit_deadline(2000), &err);
    CHECK_OK(rc, &err);
    if (rc != 0) break;
  }
  CHECK_EQ(count('s'), 2 * PAIRS);
  CHECK_EQ(count('r'), 2 * PAIRS);
  /* A pause of the scheduler between two requests may make one look idle
   * and checked: allow a few, far below one per request. */
  CHECK_GE(count('p'), 2 * PAIRS);
  CHECK_LT(count('p'), 2 * PAIRS + PAIRS / 4);
  B->forget(a.s, &k);
  kit_close(&a);
}

/* A connection that sat unused past the bound is checked (a poll) before
 * the request goes out; one used moments ago is not. */
static void only_an_idle_connection_is_checked_before_sending(void) {
  kit_session a;
  baton_error err = {0};
  REQUIRE_OK(open_alice(&a, &err), &err);
  baton_leader who;
  CHECK_EQ(B->leader(a.s, "idle", &who, kit_deadline(2000), &err), BATON_ENOLEADER);
  kit_sleep_ms(5); /* idleness is the condition under test: time must pass */
  trace_start();
  CHECK_EQ(B->leader(a.s, "idle", &who, kit_deadline(2000), &err), BATON_ENOLEADER);
  CHECK_STR(trace, "pspr");
  /* Right after: no check. (A scheduler pause between the two calls would
   * make the connection idle after all, hence a few tries.) */
  enum { TRIES = 10 };
  bool unchecked = false;
  for (int i = 0; i < TRIES && !unchecked; i++) {
    trace_start();
    CHECK_EQ(B->leader(a.s, "idle", &who, kit_deadline(2000), &err), BATON_ENOLEADER);
    unchecked = strcmp(trace, "spr") == 0;
  }
  CHECK(unchecked);
  if (!unchecked) fprintf(stderr, "calls: %s\n", trace);
  kit_close(&a);
}

/* Renewing more names than one script takes: every script call goes out
 * before any reply is read, so the batch costs one round trip. */
static void renew_in_chunks_is_one_round_trip(void) {
  kit_session a;
  baton_error err = {0};
  REQUIRE_OK(open_alice(&a, &err), &err);
  enum { N = 1200 };
  static baton_candidate cand[N];
  static baton_candidate *held[N];
  static char names[N][16];
  static bool gone[N];
  int acquired = 0;
  for (; acquired < N; acquired++) {
    snprintf(names[acquired], sizeof names[acquired], "rt-%d", acquired);
    cand[acquired] = kit_cand(&a, names[acquired]);
    held[acquired] = &cand[acquired];
    int rc = B->acquire(a.s, &cand[acquired], NULL, kit_deadline(2000), &err);
    CHECK_OK(rc, &err);
    if (rc != 0) break;
  }
  if (acquired == N) {
    CHECK_OK(B->renew(a.s, held, N, gone, kit_deadline(5000), &err), &err); /* connects */
    trace_start();
    CHECK_OK(B->renew(a.s, held, N, gone, kit_deadline(5000), &err), &err);
    const char *first_read = strchr(trace, 'r'), *last_send = strrchr(trace, 's');
    CHECK(last_send != NULL && first_read != NULL && last_send < first_read);
    if (!(last_send < first_read)) fprintf(stderr, "calls: %s\n", trace);
  }
  for (int i = 0; i < N; i++) B->forget(a.s, &cand[i]);
  kit_close(&a);
}

int main(int argc, char **argv) {
  static const test_case cases[] = {
      {"requests_in_a_row_wait_once_and_read_once", requests_in_a_row_wait_once_and_read_once},
      {"only_an_idle_connection_is_checked_before_sending",
       only_an_idle_connection_is_checked_before_sending},
      {"renew_in_chunks_is_one_round_trip", renew_in_chunks_is_one_round_trip},
      {NULL, NULL},
  };
  if ((server = kit_server("redis")) == NULL) return 1;
  return test_main(argc, argv, cases);
}
