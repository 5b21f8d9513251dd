/* pairs.c — baton's uncontended acquire+release rate: one client, one name,
 * baton_lock_acquire then baton_lock_release, timed and counted by the same
 * loop as the raw floors. */
#include "kit.h"
#include "pairloop.h"

#include <baton.h>
#include <stdlib.h>

static int pair(void *ctx) {
  baton_lock *lock = ctx;
  baton_error err;
  uint64_t token = 0;
  if (baton_lock_acquire(lock, 5000, &token, &err) != 0) {
    fprintf(stderr, "pairs: acquire: %s\n", err.message);
    return -1;
  }
  if (baton_lock_release(lock, &err) != 0) {
    fprintf(stderr, "pairs: release: %s\n", err.message);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) kit_die("usage: pairs URI [--name N] [--ttl ms] [--secs S] ...");
  kit_setup((int)kit_arg_long(argc, argv, "--watchdog", 300));
  baton_options o = {.ttl_ms = (uint32_t)kit_arg_long(argc, argv, "--ttl", 10000)};
  baton_client *c;
  baton_lock *lock;
  baton_error err;
  if (baton_client_open(&c, argv[1], &o, &err) != 0) kit_die("client_open: %s", err.message);
  if (baton_lock_open(&lock, c, kit_arg(argc, argv, "--name", "bench-pairs"), NULL, NULL, &err) !=
      0)
    kit_die("lock_open: %s", err.message);
  int rc = pairloop_run("baton", "lock_acquire+lock_release", argv[1], pair, lock, argc, argv);
  baton_lock_close(lock);
  baton_client_close(c);
  return rc;
}
