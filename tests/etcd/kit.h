/* kit.h — helpers shared by the etcd backend's tests: sessions on the
 * backend table, candidates, waits on a thread, and subprocesses (etcdctl)
 * with bounded reads. */
#ifndef BATON_TEST_ETCD_KIT_H
#define BATON_TEST_ETCD_KIT_H

#include "etcd.h"
#include "internal.h"
#include "servers.h"
#include "test.h"

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#define MS_NS 1000000LL

/* How late past its deadline a call may return in a test: scheduling on a
 * loaded 2-core machine, not the backend, decides most of it. */
#define KIT_SLACK_MS 200

/* A session opened the way the core opens one. */
typedef struct kit_session {
  baton_uri uri;
  baton_config cfg;
  char identity[BATON_IDENTITY_MAX + 1];
  baton_session *s;
} kit_session;

/* Parse, resolve and open within timeout_ms. On failure nothing is left
 * open and err says why. */
int kit_open(kit_session *k, const char *uri, const baton_options *o, int timeout_ms,
             baton_error *err);
void kit_close(kit_session *k);

/* A candidate of k on `name` (the name must outlive it). */
void kit_cand(baton_candidate *c, kit_session *k, const char *name);
void kit_forget(kit_session *k, baton_candidate *c);

int64_t kit_deadline(int ms);
int64_t kit_ms_since(int64_t t0);

/* Repeat a call while it fails with a retryable code, as the core does,
 * until timeout_ms. */
#define KIT_RETRY(rc, timeout_ms, call)                                       \
  do {                                                                        \
    int64_t kit_end_ = kit_deadline(timeout_ms);                              \
    for (int kit_i_ = 0; kit_i_ < 1000; kit_i_++) {                           \
      (rc) = (call);                                                          \
      if ((rc) == 0 || !baton__retryable(rc) || baton__now() >= kit_end_) break; \
      kit_sleep_ms(50);                                                       \
    }                                                                         \
  } while (0)

void kit_sleep_ms(int ms);

/* wait() on its own thread. */
typedef struct kit_waiter {
  kit_session *k;
  baton_candidate *c;
  const baton_leader *seen;
  int64_t deadline;
  int cancel_fd;
  int rc;
  int64_t woke_at;  /* baton__now() when wait returned */
  baton_error err;
  pthread_t thread;
} kit_waiter;

void kit_wait_start(kit_waiter *w, kit_session *k, baton_candidate *c, int timeout_ms);
void kit_wait_join(kit_waiter *w);

/* Run argv to completion (bounded), stdout+stderr into out; returns the
 * exit status, or -1. */
int kit_run(const char *const *argv, char *out, size_t size, int timeout_ms);

/* Start argv with stdout+stderr on a pipe (*fd); returns the pid or -1. */
pid_t kit_spawn(const char *const *argv, int *fd);
/* Read fd into buf until it contains `needle` or timeout_ms passes. */
bool kit_read_until(int fd, char *buf, size_t size, const char *needle, int timeout_ms);
/* Signal pid and reap it within a bound (SIGKILL after it). */
void kit_stop(pid_t pid, int sig);

/* "host:port" of member i for etcdctl --endpoints. */
const char *kit_endpoint(const test_cluster *c, int i, char *buf, size_t size);

#endif
