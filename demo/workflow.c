/* workflow.c — an example of a long workflow that survives fail-over: N
 * steps, run by whichever replica leads, each accepted exactly once.
 *
 *   workflow --backend URI --name NAME --store ADDR [--steps N]
 *            [--step-time D] [--ttl D] [--identity ID] [--give-up D]
 *
 * A replica campaigns; once elected it reads the checkpoint from the store
 * (a fenced-store) and runs the steps after it. Before each step it asks
 * baton_election_is_leader() (no I/O) and touches the watchdog (a step
 * that hangs for five times --step-time loses the term); the work takes
 * --step-time; its result goes to the store as a STEP carrying the term's token. The
 * store accepts it only as the next step after its checkpoint, from a term
 * no older than the newest that wrote: so a step is never accepted twice,
 * and a replica that paused mid-step (after its check, as any process can)
 * finds its late step refused and campaigns again. Every replica exits 0
 * once the checkpoint reaches N.
 *
 * Output, one line per event on stdout: "elected", "step K/N accepted",
 * "step K/N REFUSED", "term over", "done". Exit: 0 done, 1 error, 2 usage,
 * 3 gave up (--give-up passed, default 10m), 130/143 stopped by a signal. */
#include "baton.h"
#include "example.h"
#include "example_election.h"
#include "fence.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONTINUE (-1)       /* parse: go on and run */
#define EXIT_GAVE_UP 3      /* --give-up passed before the workflow was done */
#define CAMPAIGN_SLICE_MS 500 /* a campaign waits this long between signal checks */

typedef struct settings {
  const char *backend, *name, *store, *identity;
  uint64_t steps, step_ms, ttl_ms, give_up_ms;
} settings;

static int duration(const char *arg, const char *v, uint64_t *out) {
  if (example_duration_ms(v, out) != 0 || *out == 0)
    return example_fail(EXAMPLE_EXIT_USAGE, NULL,
                        "%s: '%s' is not a duration above 0 (e.g. 200ms, 2s, 1m)", arg, v);
  return 0;
}

static int parse(settings *s, int argc, char **argv) {
  *s = (settings){.backend = getenv("BATON_BACKEND"), .steps = 30, .step_ms = 200,
                  .give_up_ms = 600000};
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      puts("usage: workflow --backend URI --name NAME --store ADDR [--steps N]\n"
           "                [--step-time D] [--ttl D] [--identity ID] [--give-up D]");
      return 0;
    }
    if (v == NULL) return example_fail(EXAMPLE_EXIT_USAGE, NULL, "%s needs a value", arg);
    i++;
    char *end;
    if (strcmp(arg, "--backend") == 0) s->backend = v;
    else if (strcmp(arg, "--name") == 0) s->name = v;
    else if (strcmp(arg, "--store") == 0) s->store = v;
    else if (strcmp(arg, "--identity") == 0) s->identity = v;
    else if (strcmp(arg, "--step-time") == 0) { if (duration(arg, v, &s->step_ms)) return 2; }
    else if (strcmp(arg, "--ttl") == 0) { if (duration(arg, v, &s->ttl_ms)) return 2; }
    else if (strcmp(arg, "--give-up") == 0) { if (duration(arg, v, &s->give_up_ms)) return 2; }
    else if (strcmp(arg, "--steps") == 0) {
      s->steps = strtoull(v, &end, 10);
      if (*v < '1' || *v > '9' || *end != '\0' || s->steps > 100000)
        return example_fail(EXAMPLE_EXIT_USAGE, NULL, "--steps: '%s' is not 1..100000", v);
    } else {
      return example_fail(EXAMPLE_EXIT_USAGE, NULL, "unknown option '%.80s'", arg);
    }
  }
  if (s->backend == NULL || s->name == NULL || s->store == NULL)
    return example_fail(EXAMPLE_EXIT_USAGE, NULL, "--backend, --name and --store are needed");
  return CONTINUE;
}

static void say(const char *identity, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const char *identity, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  printf("%s: %s\n", identity, line);
  fflush(stdout);
}

typedef enum outcome { TERM_OVER, WORKFLOW_DONE, STOPPED, STORE_ERROR } outcome;

/* One term: the steps after the store's checkpoint, while it lasts. */
static outcome lead(baton_election *e, const settings *s, const fence_addr *store,
                    const char *me, uint64_t token, const sigset_t *stop, int *sig) {
  uint64_t checkpoint = 0, highest = 0;
  char why[400];
  if (fence_checkpoint(store, &checkpoint, &highest, why, sizeof why) != 0) {
    say(me, "store error: %s", why);
    return STORE_ERROR;
  }
  say(me, "elected with token %llu; checkpoint %llu/%llu", (unsigned long long)token,
      (unsigned long long)checkpoint, (unsigned long long)s->steps);
  for (uint64_t k = checkpoint + 1; k <= s->steps; k++) {
    /* The check before each step: no I/O, true until the local deadline.
     * What happens between it and the write is the store's to judge. */
    if (!baton_election_is_leader(e, NULL, NULL)) {
      say(me, "term over before step %llu", (unsigned long long)k);
      return TERM_OVER;
    }
    /* Proof of life for the watchdog: a step that hangs stops the
     * renewals, and the term ends at its deadline (BATON_LOST_WATCHDOG). */
    baton_election_touch(e, NULL);
    if ((*sig = example_wait_until(stop, example_now_ms() + (int64_t)s->step_ms)) != 0) return STOPPED; /* the work */
    char data[64];
    snprintf(data, sizeof data, "result-of-step-%llu", (unsigned long long)k);
    int rc = fence_step(store, token, me, k, data, &checkpoint, &highest, why, sizeof why);
    if (rc < 0) {
      say(me, "store error: %s", why);
      return STORE_ERROR;
    }
    if (rc == 0) {
      say(me, "step %llu/%llu REFUSED (token %llu; the store has checkpoint %llu, token %llu)",
          (unsigned long long)k, (unsigned long long)s->steps, (unsigned long long)token,
          (unsigned long long)checkpoint, (unsigned long long)highest);
      return TERM_OVER;
    }
    say(me, "step %llu/%llu accepted (token %llu)", (unsigned long long)k,
        (unsigned long long)s->steps, (unsigned long long)token);
  }
  say(me, "done: checkpoint %llu/%llu", (unsigned long long)s->steps,
      (unsigned long long)s->steps);
  return WORKFLOW_DONE;
}

int main(int argc, char **argv) {
  example_program = "workflow";
  settings s;
  int rc = parse(&s, argc, argv);
  if (rc != CONTINUE) return rc;
  fence_addr store;
  char why[400];
  if (fence_addr_parse(&store, s.store, why, sizeof why) != 0)
    return example_fail(EXAMPLE_EXIT_USAGE, NULL, "--store: %s", why);

  sigset_t stop;
  example_block_stop_signals(&stop);
  baton_options o = {.ttl_ms = (uint32_t)s.ttl_ms, .identity = s.identity};
  baton_client *client;
  baton_election *e;
  if ((rc = example_open_election(&client, &e, s.backend, s.name, &o)) != 0) return rc;
  baton_error err = {0};
  const char *me = baton_client_identity(client);
  /* A step may take --step-time; one that takes five times that is hung. */
  baton_election_watchdog(e, 5 * s.step_ms, NULL);
  int exit_code = EXIT_GAVE_UP, sig = 0;
  int64_t give_up = example_now_ms() + (int64_t)s.give_up_ms;
  while (example_now_ms() < give_up) {
    uint64_t token = 0;
    rc = baton_election_campaign(e, CAMPAIGN_SLICE_MS, &token, &err);
    if ((sig = example_wait_until(&stop, 0)) != 0) break;
    if (rc == BATON_ETIMEDOUT) continue;
    if (rc != 0) {
      say(me, "campaign: %s; trying again", err.message);
      if ((sig = example_wait_until(&stop, example_now_ms() + CAMPAIGN_SLICE_MS)) != 0) break;
      continue;
    }
    outcome out = lead(e, &s, &store, me, token, &stop, &sig);
    /* Done or not, the term ends here: the next replica takes over (and,
     * when the workflow is done, finds nothing left and ends too). */
    baton_election_resign(e, NULL);
    if (out == WORKFLOW_DONE || out == STORE_ERROR || out == STOPPED) {
      exit_code = out == WORKFLOW_DONE ? 0 : EXAMPLE_EXIT_ERROR;
      break;
    }
  }
  if (sig != 0) exit_code = 128 + sig;
  if (exit_code == EXIT_GAVE_UP) say(me, "gave up after %llu ms", (unsigned long long)s.give_up_ms);
  baton_election_close(e);
  baton_client_close(client);
  return exit_code;
}
