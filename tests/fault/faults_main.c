/* faults_main.c — `baton-faults`: the fault-injection suite's command.
 *
 *   baton-faults [--backend redis|etcd|zk|redlock|postgres|sentinel|all]... [--short | --duration D]
 *                [--seed N] [--ttl D] [--candidates N] [--out DIR] [--keep] [-v]
 *   baton-faults --check DIR...
 *
 * For each backend it runs its deployments (Redis without and with
 * persistence; etcd and ZooKeeper as one server and as three; Redlock on
 * three instances without and with persistence; Sentinel: a master, 2
 * replicas and 3 Sentinels, its restart a fail-over), each with N
 * `baton run` candidates, injects faults drawn from the seed, then checks
 * the safety model on what was recorded and prints one table per backend.
 * Exit 0 when every invariant holds, 1 when one is broken, 2 on bad usage.
 * The seed fixes the plan (kinds, order, targets, durations), not the
 * timing of the processes: a run repeats the same faults, not the same
 * interleaving. */
#include "faults.h"
#include "kit.h"
#include "servers.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef BATON_EXE
#define BATON_EXE "baton"
#endif
#ifndef FENCED_STORE_EXE
#define FENCED_STORE_EXE "fenced-store"
#endif
#ifndef FAULTS_WRITER_EXE
#define FAULTS_WRITER_EXE "faults-writer"
#endif

static const deployment all_deployments[] = {
    {"redis", "redis", 1, false}, {"redis-aof", "redis", 1, true},
    {"etcd", "etcd", 1, false},   {"etcd3", "etcd", 3, false},
    {"zk", "zk", 1, false},       {"zk3", "zk", 3, false},
    {"redlock3", "redlock", 3, false}, {"redlock3-aof", "redlock", 3, true},
    {"postgres", "postgres", 1, false},
    {"sentinel", "sentinel", 3, false}, /* a master and 2 replicas (and 3 Sentinels) */
};
#define NDEPLOY (sizeof all_deployments / sizeof all_deployments[0])

static const char usage_text[] =
    "usage: baton-faults [--backend redis|etcd|zk|redlock|postgres|sentinel|all]...\n"
    "                    [--short | --duration D]\n"
    "                    [--seed N] [--ttl D] [--candidates N] [--out DIR] [--keep] [-v]\n"
    "       baton-faults --check DIR...\n"
    "\n"
    "Runs N `baton run` candidates per deployment (Redis with and without\n"
    "persistence, etcd and ZooKeeper as one server and as three, Redlock on\n"
    "three instances without and with persistence, one PostgreSQL, Redis\n"
    "Sentinel: a master, 2 replicas and 3 Sentinels), injects faults at\n"
    "random from the seed (holder SIGKILL and SIGSTOP, server restart and\n"
    "SIGSTOP, network cuts: drop, stall, slow), then checks that\n"
    "tokens increase, terms never overlap, stale writes are refused, a leader\n"
    "comes back within ttl + bound, and nothing is left behind.\n"
    "\n"
    "  --short          every fault kind once per backend (CI)\n"
    "  --duration D     faults for D in total (e.g. 30m), split over deployments\n"
    "  --seed N         the plan's seed (default: random, printed)\n"
    "  --ttl D          the candidates' ttl (default 2s)\n"
    "  --candidates N   candidates per deployment (default 3, at most 8)\n"
    "  --bound D        a leader within ttl + D after a fault on one server\n"
    "                   (default 2s; clusters: --cluster-bound, default 5s)\n"
    "  --out DIR        keep the records in DIR (default: a temporary folder,\n"
    "                   removed when every invariant holds unless --keep)\n"
    "  --check DIR...   only check deployment folders of an earlier run\n"
    "Exit: 0 all invariants hold, 1 one is broken, 2 bad usage.\n";

static void on_signal(int sig) {
  (void)sig;
  faults_interrupted = 1;
}

static int usage(const char *why) {
  fprintf(stderr, "baton-faults: %s (see --help)\n", why);
  return 2;
}

/* "500ms", "2s", "10m", "1h" in milliseconds; -1 if malformed. */
static int64_t duration_ms(const char *s) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || v < 0) return -1;
  if (strcmp(end, "ms") == 0) return (int64_t)v;
  if (strcmp(end, "s") == 0) return (int64_t)(v * 1000);
  if (strcmp(end, "m") == 0) return (int64_t)(v * 60000);
  if (strcmp(end, "h") == 0) return (int64_t)(v * 3600000);
  return -1;
}

static uint64_t seed_for(uint64_t seed, const char *label) {
  faults_rng r = {seed};
  for (const char *p = label; *p; p++) r.s ^= (uint64_t)(unsigned char)*p << ((p - label) % 8 * 8);
  return faults_rand(&r);
}

static void print_header(void) {
  printf("  %-12s |", "");
  for (int k = 0; k < F_NKINDS; k++) printf(" %*s", k == F_RESTART ? 7 : 6, k ? "" : "faults");
  printf(" | %5s %6s | %7s %8s | %8s %9s | %8s %-11s %7s | %s\n", "", "", "stale", "stale",
         "", "excused", "worst", "gap", "ttl +", "");
  printf("  %-12s |", "deployment");
  for (int k = 0; k < F_NKINDS; k++) printf(" %*s", k == F_RESTART ? 7 : 6, fault_names[k]);
  printf(" | %5s %6s | %7s %8s | %8s %9s | %8s %-11s %7s | %s\n", "terms", "writes",
         "refused", "accepted", "overlaps", "ovl/stale", "gap", "(after)", "bound", "result");
}

static void print_row(const char *label, const faults_result *r, bool ran) {
  printf("  %-12s |", label);
  for (int k = 0; k < F_NKINDS; k++) printf(" %*d", k == F_RESTART ? 7 : 6, r->faults[k]);
  char excused[32], gap[32], which[32], bound[32];
  snprintf(excused, sizeof excused, "%d/%ld", r->overlaps_excused, r->stale_excused);
  snprintf(gap, sizeof gap, "%.2fs", (double)r->worst_gap_ns / 1e9);
  if (r->worst_gap_fault >= 0)
    snprintf(which, sizeof which, "#%d %s", r->worst_gap_fault, fault_names[r->worst_gap_kind]);
  else
    snprintf(which, sizeof which, "-");
  snprintf(bound, sizeof bound, "%.2fs", (double)r->bound_ns / 1e9);
  printf(" | %5d %6ld | %7ld %8ld | %8d %9s | %8s %-11s %7s | %s\n", r->terms, r->writes,
         r->stale_refused, r->stale_accepted, r->overlaps, excused, gap, which, bound,
         !ran ? "NOT RUN" : r->violations ? "FAIL" : "ok");
}

static int check_only(int argc, char **argv, int first) {
  int bad = 0;
  print_header();
  for (int i = first; i < argc; i++) {
    faults_result r;
    bad += faults_check(argv[i], stdout, &r) != 0;
    print_row(strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i], &r, true);
  }
  return bad ? 1 : 0;
}

int main(int argc, char **argv) {
  faults_config cfg = {.ttl_ms = 2000, .candidates = 3, .every_ms = 50, .bound_ms = 2000,
                       .cluster_bound_ms = 5000, .duration_ms = 0,
                       .baton_exe = BATON_EXE, .store_exe = FENCED_STORE_EXE,
                       .writer_exe = FAULTS_WRITER_EXE};
  enum { NBACKENDS = 6 };
  static const char *const backends[NBACKENDS] = {"redis", "etcd", "zk", "redlock",
                                                   "postgres", "sentinel"};
  bool want[NBACKENDS] = {false}, keep = false, seeded = false;
  uint64_t seed = 0;
  const char *out = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage_text, stdout);
      return 0;
    } else if (strcmp(a, "--check") == 0) {
      if (v == NULL) return usage("--check needs a folder");
      return check_only(argc, argv, i + 1);
    } else if (strcmp(a, "--short") == 0) {
      cfg.short_run = true;
    } else if (strcmp(a, "--keep") == 0) {
      keep = true;
    } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
      cfg.verbose = true;
    } else if (v == NULL) {
      return usage(strncmp(a, "--", 2) == 0 ? "an option needs a value" : "unexpected argument");
    } else if (strcmp(a, "--backend") == 0) {
      i++;
      bool any = false;
      for (int b = 0; b < NBACKENDS; b++)
        if (strcmp(v, backends[b]) == 0 || strcmp(v, "all") == 0) want[b] = any = true;
      if (!any) return usage("--backend is redis, etcd, zk, redlock, postgres, sentinel or all");
    } else if (strcmp(a, "--duration") == 0) {
      i++;
      if ((cfg.duration_ms = duration_ms(v)) <= 0) return usage("--duration: e.g. 90s, 30m");
    } else if (strcmp(a, "--ttl") == 0) {
      i++;
      int64_t t = duration_ms(v);
      if (t < 500 || t > 60000) return usage("--ttl: 500ms..60s");
      cfg.ttl_ms = (int)t;
    } else if (strcmp(a, "--bound") == 0 || strcmp(a, "--cluster-bound") == 0) {
      i++;
      int64_t t = duration_ms(v);
      if (t < 0 || t > 600000) return usage("--bound: a duration up to 10m");
      *(strcmp(a, "--bound") == 0 ? &cfg.bound_ms : &cfg.cluster_bound_ms) = (int)t;
    } else if (strcmp(a, "--candidates") == 0) {
      i++;
      cfg.candidates = atoi(v);
      if (cfg.candidates < 2 || cfg.candidates > FAULTS_MAX_CAND)
        return usage("--candidates: 2..8");
    } else if (strcmp(a, "--seed") == 0) {
      i++;
      char *end;
      errno = 0;
      seed = strtoull(v, &end, 10);
      if (errno != 0 || *end != '\0') return usage("--seed: a number");
      seeded = true;
    } else if (strcmp(a, "--out") == 0) {
      i++;
      out = v;
    } else {
      return usage("unknown option");
    }
  }
  if (!cfg.short_run && cfg.duration_ms == 0) return usage("say --short or --duration D");
  if (cfg.short_run && cfg.duration_ms != 0) return usage("--short or --duration, not both");
  int wanted = 0;
  for (int b = 0; b < NBACKENDS; b++) wanted += want[b];
  for (int b = 0; b < NBACKENDS && wanted == 0; b++) want[b] = true;
  if (!seeded) {
    const char *env = getenv("BATON_FAULTS_SEED");
    if (env != NULL && *env != '\0')
      seed = strtoull(env, NULL, 10);
    else if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
      seed = (uint64_t)kit_now_ns();
    seed %= 1000000000ull; /* short enough to retype */
  }
  int chosen = 0;
  for (size_t d = 0; d < NDEPLOY; d++)
    for (int b = 0; b < NBACKENDS; b++)
      if (want[b] && strcmp(all_deployments[d].backend, backends[b]) == 0) chosen++;
  if (cfg.duration_ms > 0) cfg.duration_ms /= chosen;

  char dir[PATH_MAX];
  if (out != NULL) {
    snprintf(dir, sizeof dir, "%s", out);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
      fprintf(stderr, "baton-faults: %s: %s\n", dir, strerror(errno));
      return 2;
    }
  } else if (test_make_dir(dir, sizeof dir, "faults") != 0) {
    return 2;
  }
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  printf("baton-faults: seed %" PRIu64 ", ttl %d ms, %d candidates, %s; records in %s\n", seed,
         cfg.ttl_ms, cfg.candidates, cfg.short_run ? "short run" : "long run", dir);
  printf("repeat with: baton-faults --seed %" PRIu64 "%s", seed, cfg.short_run ? " --short" : "");
  if (cfg.duration_ms > 0) printf(" --duration %llds", (long long)(cfg.duration_ms * chosen / 1000));
  for (int b = 0; b < NBACKENDS; b++)
    if (want[b] && wanted > 0 && wanted < NBACKENDS) printf(" --backend %s", backends[b]);
  printf("\n");
  fflush(stdout);

  static faults_result results[NDEPLOY];
  bool ran[NDEPLOY] = {false};
  int bad = 0;
  for (size_t d = 0; d < NDEPLOY && !faults_interrupted; d++) {
    const deployment *dp = &all_deployments[d];
    bool use = false;
    for (int b = 0; b < NBACKENDS; b++) use |= want[b] && strcmp(dp->backend, backends[b]) == 0;
    if (!use) continue;
    char sub[PATH_MAX + 32];
    snprintf(sub, sizeof sub, "%s/%s", dir, dp->label);
    if (mkdir(sub, 0755) != 0 && errno != EEXIST) {
      fprintf(stderr, "baton-faults: %s: %s\n", sub, strerror(errno));
      if (out == NULL) test_remove_dir(dir);
      return 2;
    }
    faults_run(&cfg, dp, seed_for(seed, dp->label), sub);
    ran[d] = true;
    bad += faults_check(sub, stdout, &results[d]) != 0;
  }
  for (int b = 0; b < NBACKENDS; b++) {
    if (!want[b]) continue;
    printf("\n%s (seed %" PRIu64 ", ttl %d ms, %d candidates, bound ttl + %.1f s on one server, "
           "ttl + %.1f s on three)\n", backends[b], seed, cfg.ttl_ms, cfg.candidates,
           cfg.bound_ms / 1e3, cfg.cluster_bound_ms / 1e3);
    print_header();
    for (size_t d = 0; d < NDEPLOY; d++)
      if (strcmp(all_deployments[d].backend, backends[b]) == 0)
        print_row(all_deployments[d].label, &results[d], ran[d]);
  }
  if (faults_interrupted) bad++;
  printf("\n%s (seed %" PRIu64 ")\n", bad ? "FAILED: an invariant is broken" : "all invariants hold",
         seed);
  if (bad || keep || out != NULL)
    printf("records kept in %s\n", dir);
  else
    test_remove_dir(dir);
  return bad ? 1 : 0;
}
