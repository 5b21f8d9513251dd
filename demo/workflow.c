/* workflow.c — an example of a long workflow that survives fail-over: N
 * steps, run by whichever replica leads, each accepted exactly once.
 *
 *   workflow --backend URI --name NAME --store ADDR [--steps N]
 *            [--step-time D] [--ttl D] [--identity ID] [--give-up D]
 *
 * A replica campaigns; once elected it reads the checkpoint from the store
 * (a fenced-store) with its token, which fences every older term, and runs
 * the steps after it. Before each step it asks baton_election_is_leader()
 * (no I/O) and touches the watchdog (a step hung for --step-time plus
 * three store time-outs loses the term); the work takes --step-time; its
 * result goes to the store as a STEP carrying the term's token. The store
 * accepts it only as the next step after its checkpoint, from a term no
 * older than the newest it has seen: so a step is never accepted twice,
 * and a replica that paused mid-step (after its check, as any process can)
 * finds its late step refused and campaigns again. Every replica exits 0
 * once the checkpoint reaches N.
 *
 * Output, one line per event on stdout: "elected", "step K/N accepted",
 * "step K/N REFUSED", "term over", "done". Exit: 0 done, 1 error (a
 * campaign error no retry mends, or the store failing 20 times in a row),
 * 2 usage, 3 gave up (--give-up passed, default 10m), 130/143 stopped by
 * a signal. */
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
#define MAX_STORE_ERRORS 20   /* store failures in a row before a replica gives up */

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
    else if (strcmp(arg, "--ttl") == 0) {
      if (duration(arg, v, &s->ttl_ms)) return 2;
      if (s->ttl_ms > UINT32_MAX)
        return example_fail(EXAMPLE_EXIT_USAGE, NULL, "--ttl: '%s' is too long", v);
    }
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

typedef enum outcome { TERM_OVER, WORKFLOW_DONE, STOPPED, STORE_UNREACHABLE } outcome;

/* One term: the steps after the store's checkpoint, while it lasts. */
static outcome lead(baton_election *e, const settings *s, const fence_addr *store,
                    const char *me, uint64_t token, const sigset_t *stop, int *sig) {
  unsigned long long n = s->steps, tok = token;
  uint64_t checkpoint = 0, highest = 0;
  char why[400];
  /* Reading the checkpoint with the token fences every older term: from
   * now on the store refuses their late steps. */
  if (fence_checkpoint(store, token, me, &checkpoint, &highest, why, sizeof why) != 0) {
    say(me, "store error: %s", why);
    return STORE_UNREACHABLE;
  }
  if (highest > token) {
    say(me, "elected with token %llu, but the store has seen %llu: a newer term ran", tok,
        (unsigned long long)highest);
    return TERM_OVER;
  }
  say(me, "elected with token %llu; checkpoint %llu/%llu", tok, (unsigned long long)checkpoint, n);
  for (uint64_t k = checkpoint + 1; k <= s->steps; k++) {
    /* The check before each step: no I/O, true until the local deadline.
     * What happens between it and the write is the store's to judge. */
    uint64_t now_token = 0;
    if (!baton_election_is_leader(e, &now_token, NULL) || now_token != token) {
      say(me, "term over before step %llu", (unsigned long long)k);
      return TERM_OVER;
    }
    /* Proof of life for the watchdog: a step that hangs stops the renewals
     * and the term ends at its deadline (BATON_LOST_WATCHDOG). Too late a
     * touch means that has begun. */
    if (baton_election_touch(e, NULL) != 0) {
      say(me, "the watchdog fired before step %llu", (unsigned long long)k);
      return TERM_OVER;
    }
    /* The work. */
    if ((*sig = example_wait_until(stop, example_now_ms() + (int64_t)s->step_ms)) != 0)
      return STOPPED;
    char data[64];
    snprintf(data, sizeof data, "result-of-step-%llu", (unsigned long long)k);
    int rc = fence_step(store, token, me, k, data, &checkpoint, &highest, why, sizeof why);
    if (rc < 0) {
      /* The step's outcome is unknown: the next term reads the checkpoint. */
      say(me, "store error: %s", why);
      return STORE_UNREACHABLE;
    }
    if (rc == 0 && highest == token) {
      /* Still the newest term: the step was ours already (a reply lost on
       * the way); go on after the store's checkpoint. */
      k = checkpoint;
      continue;
    }
    if (rc == 0) {
      say(me, "step %llu/%llu REFUSED (token %llu; the store has checkpoint %llu, token %llu)",
          (unsigned long long)k, n, tok, (unsigned long long)checkpoint,
          (unsigned long long)highest);
      return TERM_OVER;
    }
    say(me, "step %llu/%llu accepted (token %llu)", (unsigned long long)k, n, tok);
  }
  say(me, "done: checkpoint %llu/%llu", n, n);
  return WORKFLOW_DONE;
}

/* Campaign errors that another try cannot mend. */
static bool permanent(int rc) {
  return rc == BATON_EAUTH || rc == BATON_EINVAL || rc == BATON_ENOTBUILT ||
         rc == BATON_ECLOSED || rc == BATON_EREFUSED;
}

int main(int argc, char **argv) {
  example_program = "workflow";
  settings s;
  int rc = parse(&s, argc, argv);
  if (rc != CONTINUE) return rc;
  fence_addr store;
  sigset_t stop;
  baton_options o = {.ttl_ms = (uint32_t)s.ttl_ms, .identity = s.identity};
  baton_client *client;
  baton_election *e;
  rc = example_start_fenced(&store, &stop, s.store, &client, &e, s.backend, s.name, &o);
  if (rc != 0) return rc;
  baton_error err = {0};
  const char *me = baton_client_identity(client);
  /* A step takes --step-time and one store request (up to 2 s); a step
   * that takes much longer is hung. */
  if ((rc = baton_election_watchdog(e, s.step_ms + 3 * FENCE_TIMEOUT_MS, &err)) != 0) {
    baton_election_close(e);
    baton_client_close(client);
    return example_fail(EXAMPLE_EXIT_USAGE, NULL, "watchdog: %s", err.message);
  }
  int exit_code = EXIT_GAVE_UP, sig = 0, store_errors = 0;
  int64_t give_up = example_now_ms() + (int64_t)s.give_up_ms;
  while (example_now_ms() < give_up) {
    uint64_t token = 0;
    rc = baton_election_campaign(e, CAMPAIGN_SLICE_MS, &token, &err);
    if ((sig = example_wait_until(&stop, 0)) != 0) break;
    if (rc == BATON_ETIMEDOUT) continue;
    if (rc != 0 && permanent(rc)) {
      exit_code = example_fail(EXAMPLE_EXIT_ERROR, NULL, "campaign: %s", err.message);
      break;
    }
    if (rc != 0) {
      say(me, "campaign: %s; trying again", err.message);
      if ((sig = example_wait_until(&stop, example_now_ms() + CAMPAIGN_SLICE_MS)) != 0) break;
      continue;
    }
    outcome out = lead(e, &s, &store, me, token, &stop, &sig);
    /* Done or not, the term ends here: the next replica takes over (and,
     * when the workflow is done, finds nothing left and ends too). */
    baton_election_resign(e, NULL);
    if (out == WORKFLOW_DONE || out == STOPPED) {
      exit_code = out == WORKFLOW_DONE ? 0 : EXAMPLE_EXIT_ERROR;
      break;
    }
    /* A store that does not answer: let another replica try, for a while. */
    store_errors = out == STORE_UNREACHABLE ? store_errors + 1 : 0;
    if (store_errors >= MAX_STORE_ERRORS) {
      exit_code = example_fail(EXAMPLE_EXIT_ERROR, NULL, "the store failed %d times in a row",
                               store_errors);
      break;
    }
    if (out == STORE_UNREACHABLE &&
        (sig = example_wait_until(&stop, example_now_ms() + CAMPAIGN_SLICE_MS)) != 0)
      break;
  }
  if (sig != 0) exit_code = 128 + sig;
  if (exit_code == EXIT_GAVE_UP) say(me, "gave up after %llu ms", (unsigned long long)s.give_up_ms);
  baton_election_close(e);
  baton_client_close(client);
  return exit_code;
}
