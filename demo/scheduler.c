/* scheduler.c — an example of the library API: a job that fires every
 * period on whichever replica leads, and only there. Run several copies:
 *
 *   scheduler --backend URI --name NAME --every D --store ADDR
 *             [--ttl D] [--identity ID] [--runs N]
 *
 * Each replica campaigns in the background (candidate mode: it campaigns
 * again after a lost term). At every tick it asks baton_election_is_leader()
 * — no I/O — and runs the job only while that says yes, handing the term's
 * fencing token to the resource it writes (a fenced-store), which refuses
 * the write if a newer term has written meanwhile. The check and the token
 * together are what make "exactly one replica runs the job" hold even when
 * a replica pauses between the check and the write. */
#include "baton.h"
#include "example.h"
#include "example_election.h"
#include "fence.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONTINUE (-1) /* parse: go on and run */

typedef struct settings {
  const char *backend, *name, *store, *identity;
  uint64_t every_ms, ttl_ms;
  long runs; /* 0: until SIGINT/SIGTERM */
} settings;

static int parse(settings *s, int argc, char **argv) {
  memset(s, 0, sizeof *s);
  s->backend = getenv("BATON_BACKEND");
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      puts("usage: scheduler --backend URI --name NAME --every D --store ADDR\n"
           "                 [--ttl D] [--identity ID] [--runs N]");
      return 0;
    }
    if (v == NULL) return example_fail(EXAMPLE_EXIT_USAGE, NULL, "%s needs a value", arg);
    i++;
    if (strcmp(arg, "--backend") == 0) s->backend = v;
    else if (strcmp(arg, "--name") == 0) s->name = v;
    else if (strcmp(arg, "--store") == 0) s->store = v;
    else if (strcmp(arg, "--identity") == 0) s->identity = v;
    else if (strcmp(arg, "--runs") == 0) s->runs = strtol(v, NULL, 10);
    else if (strcmp(arg, "--every") == 0 || strcmp(arg, "--ttl") == 0) {
      uint64_t *out = arg[2] == 'e' ? &s->every_ms : &s->ttl_ms;
      if (example_duration_ms(v, out) != 0 || *out == 0)
        return example_fail(EXAMPLE_EXIT_USAGE, NULL, "%s: '%s' is not a duration above 0 "
                            "(e.g. 500ms, 2s, 1m)", arg, v);
    } else {
      return example_fail(EXAMPLE_EXIT_USAGE, NULL, "unknown option '%.80s'", arg);
    }
  }
  if (s->backend == NULL || s->name == NULL || s->store == NULL || s->every_ms == 0)
    return example_fail(EXAMPLE_EXIT_USAGE, NULL, "--backend, --name, --every and --store are needed");
  return CONTINUE;
}

/* One run of the job: a fenced write carrying the term's token. */
static void run_job(const fence_addr *store, const char *identity, long n, uint64_t token,
                    int64_t remaining_ms) {
  char data[64], why[400];
  snprintf(data, sizeof data, "run-%ld", n);
  uint64_t highest = 0;
  int rc = fence_write(store, token, identity, data, &highest, why, sizeof why);
  if (rc < 0)
    printf("run %ld: token %llu: store error: %s\n", n, (unsigned long long)token, why);
  else
    printf("run %ld: token %llu (%lld ms of term left): %s (highest %llu)\n", n,
           (unsigned long long)token, (long long)remaining_ms, rc ? "accepted" : "REFUSED",
           (unsigned long long)highest);
  fflush(stdout);
}

int main(int argc, char **argv) {
  example_program = "scheduler";
  settings s;
  int rc = parse(&s, argc, argv);
  if (rc != CONTINUE) return rc;
  fence_addr store;
  sigset_t set;
  baton_options o = {.ttl_ms = (uint32_t)s.ttl_ms, .identity = s.identity};
  baton_client *client;
  baton_election *e;
  rc = example_start_fenced(&store, &set, s.store, &client, &e, s.backend, s.name, &o);
  if (rc != 0) return rc;
  baton_error err = {0};
  if (baton_election_start(e, &err) != 0) { /* campaign in the background */
    baton_election_close(e);
    baton_client_close(client);
    return example_fail(EXAMPLE_EXIT_ERROR, NULL, "%s", err.message);
  }
  const char *identity = baton_client_identity(client);
  printf("scheduler %s: every %llu ms on '%s'\n", identity, (unsigned long long)s.every_ms,
         s.name);
  fflush(stdout);

  bool was_leader = false;
  int64_t next = example_now_ms() + (int64_t)s.every_ms;
  for (long n = 1; s.runs == 0 || n <= s.runs; n++, next += (int64_t)s.every_ms) {
    if (example_wait_until(&set, next) != 0) break;
    uint64_t token = 0;
    int64_t remaining = 0;
    /* The check before every run: no I/O, true until the local deadline. */
    bool leader = baton_election_is_leader(e, &token, &remaining);
    if (leader)
      run_job(&store, identity, n, token, remaining);
    else if (was_leader || n == 1)
      printf("run %ld: not the leader; standing by\n", n), fflush(stdout);
    was_leader = leader;
  }
  baton_election_close(e); /* stops campaigning and resigns */
  baton_client_close(client);
  return 0;
}
