/* faults.h — the fault-injection suite (`baton-faults`): what the runner
 * (faults_run.c) and the checker (faults_check.c) share: the plan of one
 * deployment, the fault kinds, the files of a run and the results.
 *
 * A run of one deployment writes, in its own folder:
 *   faults.log   the runner's record, one line each: "<ns> <what> key=value..."
 *                (config, spawn, exit, inject, heal, recovered, end, orphans)
 *   events.log   "cand-<i> <baton pid> <line>" for every line of
 *                `baton run --events` (elected, started, stopped, resigned, lost)
 *   store.log    the fenced store's log (each write, with mono=<ns>)
 *   writer-<i>.log  what each writer was told, per write
 *   cand-<i>.err the candidates' diagnostics
 * Times are CLOCK_MONOTONIC nanoseconds, comparable across processes. */
#ifndef BATON_FAULTS_H
#define BATON_FAULTS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define FAULTS_NAME "faults"  /* the election every candidate runs for */
#define FAULTS_MAX_CAND 8

typedef enum fault_kind {
  F_KILL,     /* SIGKILL of the holder's baton */
  F_PAUSE,    /* SIGSTOP of the holder (baton and CMD) past its TTL */
  F_RESTART,  /* kill -9 and restart of a server (a member, maybe the leader) */
  F_DROP,     /* one candidate's proxies reset and refuse connections */
  F_STALL,    /* one candidate's proxies forward nothing */
  F_SLOW,     /* one candidate's proxies delay every chunk */
  F_SPAUSE,   /* SIGSTOP of a server past the TTL */
  F_NKINDS
} fault_kind;

extern const char *const fault_names[F_NKINDS];

/* One deployment of one backend. */
typedef struct deployment {
  const char *label;   /* "redis", "redis-aof", "etcd3", "redlock3-aof", ... */
  const char *backend; /* "redis", "etcd", "zk" */
  int members;         /* 1 or 3 */
  bool persistent;     /* redis: appendonly + fsync always */
} deployment;

typedef struct faults_config {
  int ttl_ms;          /* every candidate's --ttl */
  int candidates;      /* N */
  int every_ms;        /* the writers' pace */
  int bound_ms;        /* single node: a leader within ttl + this after a fault */
  int cluster_bound_ms;/* 3 members: the same */
  bool short_run;      /* each applicable kind once, in a shuffled order */
  int64_t duration_ms; /* long run: faults for this long, per deployment */
  bool verbose;        /* print each fault as it happens */
  const char *baton_exe, *store_exe, *writer_exe;
} faults_config;

/* What the checker found in one deployment's folder. */
typedef struct faults_result {
  int faults[F_NKINDS];      /* injected, by kind */
  int terms;
  long writes;               /* lines in the store's log */
  long stale_refused;        /* a newer term existed, the store refused */
  long stale_accepted;       /* ... and accepted it: must be 0 */
  long stale_excused;        /* accepted from a paused holder: counted
                                apart */
  int overlaps;              /* must be 0 */
  int overlaps_excused;      /* with a paused holder */
  int64_t worst_gap_ns;      /* longest leaderless stretch after a fault */
  int worst_gap_fault;       /* its fault id, -1 if none */
  fault_kind worst_gap_kind;
  int64_t bound_ns;          /* ttl + bound */
  int violations;            /* broken invariants (each printed) */
} faults_result;

/* A small seeded generator (splitmix64): the plan of a run depends only on
 * the seed. */
typedef struct faults_rng {
  uint64_t s;
} faults_rng;
uint64_t faults_rand(faults_rng *r);
/* Uniform in [lo, hi]. */
int64_t faults_between(faults_rng *r, int64_t lo, int64_t hi);

/* The number after " key=" in a record line: true with *out set. */
bool faults_field(const char *line, const char *key, uint64_t *out);

/* Run one deployment in folder `dir` (created by the caller): servers,
 * store, proxies, candidates, faults, teardown. Returns 0, or -1 when the
 * run itself could not proceed (a server did not start): the checker then
 * has little to read and says so. */
int faults_run(const faults_config *cfg, const deployment *d, uint64_t seed, const char *dir);

/* Read a deployment's folder, print each broken invariant to `out`, fill
 * `res`. Returns the number of broken invariants. */
int faults_check(const char *dir, FILE *out, faults_result *res);

/* Set by SIGINT/SIGTERM: the runner stops injecting and cleans up. */
extern volatile int faults_interrupted;

#endif
