/* contend.c — contention: P processes campaign on one name for S seconds;
 * each term is resigned at once. Reports hand-overs per second, how evenly
 * terms spread over the processes, the gap between one term's resign and
 * the next term's start, and whether any two terms overlapped in time. */
#include "kit.h"

#include <baton.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PROCS 64
#define MAX_TERMS 200000

typedef struct term {
  int64_t start, end; /* campaign returned; resign called */
  int proc;
} term;

static const char *uri, *name;
static uint32_t ttl;

static int child(int in, int out, int me) {
  baton_options o = {.ttl_ms = ttl};
  baton_client *c;
  baton_election *e;
  baton_error err;
  int64_t deadline = 0;
  if (baton_client_open(&c, uri, &o, &err) != 0 ||
      baton_election_open(&e, c, name, NULL, NULL, &err) != 0) {
    fprintf(stderr, "contend: %s\n", err.message);
    return 1;
  }
  int ready = me;
  if (kit_write_full(out, &ready, sizeof ready) != 0 ||
      kit_read_full(in, &deadline, sizeof deadline, 60000) != 0)
    return 1;
  long errors = 0;
  for (long i = 0; i < MAX_TERMS; i++) {
    int64_t left = (deadline - kit_now()) / 1000000;
    if (left <= 0) break;
    term t = {.proc = me};
    int rc = baton_election_campaign(e, left, NULL, &err);
    t.start = kit_now();
    if (rc == BATON_ETIMEDOUT) break;
    if (rc != 0) {
      if (errors++ < 3) fprintf(stderr, "contend[%d]: campaign: %s\n", me, err.message);
      continue;
    }
    t.end = kit_now();
    rc = baton_election_resign(e, &err);
    if (rc != 0 && errors++ < 3) fprintf(stderr, "contend[%d]: resign: %s\n", me, err.message);
    if (kit_write_full(out, &t, sizeof t) != 0) break;
  }
  term last = {.proc = -1, .start = errors};
  kit_write_full(out, &last, sizeof last);
  baton_election_close(e);
  baton_client_close(c);
  return 0;
}

static int by_start(const void *a, const void *b) {
  const term *x = a, *y = b;
  return x->start < y->start ? -1 : x->start > y->start;
}

int main(int argc, char **argv) {
  if (argc < 2) kit_die("usage: contend URI [--procs P] [--secs S] [--ttl ms] [--name N]");
  uri = argv[1];
  int procs = (int)kit_arg_long(argc, argv, "--procs", 8);
  double secs = kit_arg_double(argc, argv, "--secs", 10);
  ttl = (uint32_t)kit_arg_long(argc, argv, "--ttl", 10000);
  name = kit_arg(argc, argv, "--name", "bench-contend");
  if (procs < 2 || procs > MAX_PROCS || secs <= 0 || secs > 600) kit_die("bad --procs/--secs");
  kit_setup((int)secs + 120);

  pid_t pid[MAX_PROCS];
  int to[MAX_PROCS], from[MAX_PROCS];
  for (int i = 0; i < procs; i++) {
    int a[2], b[2];
    if (pipe(a) != 0 || pipe(b) != 0) kit_die("pipe: %s", strerror(errno));
    fflush(NULL);
    pid[i] = fork();
    if (pid[i] < 0) kit_die("fork: %s", strerror(errno));
    if (pid[i] == 0) {
      close(a[1]);
      close(b[0]);
      _exit(child(a[0], b[1], i));
    }
    close(a[0]);
    close(b[1]);
    to[i] = a[1];
    from[i] = b[0];
  }
  int rc = 0;
  for (int i = 0; i < procs; i++) {
    int ready;
    if (kit_read_full(from[i], &ready, sizeof ready, 30000) != 0) rc = -1;
  }
  int64_t start = kit_now(), deadline = start + (int64_t)(secs * 1e9);
  for (int i = 0; i < procs && rc == 0; i++)
    kit_write_full(to[i], &deadline, sizeof deadline);
  for (int i = 0; i < procs; i++) close(to[i]);

  /* Collect every child's terms as they come (pipes must not fill). */
  term *terms = calloc(MAX_TERMS, sizeof *terms);
  size_t n = 0;
  long per[MAX_PROCS] = {0}, errors = 0;
  bool open_[MAX_PROCS];
  int alive = procs;
  for (int i = 0; i < procs; i++) open_[i] = rc == 0;
  if (rc != 0) alive = 0;
  int64_t give_up = deadline + 60000000000LL;
  while (alive > 0 && kit_now() < give_up) {
    struct pollfd p[MAX_PROCS];
    for (int i = 0; i < procs; i++) p[i] = (struct pollfd){.fd = open_[i] ? from[i] : -1, .events = POLLIN};
    if (poll(p, (nfds_t)procs, 1000) < 0 && errno != EINTR) break;
    for (int i = 0; i < procs; i++) {
      if (!open_[i] || !(p[i].revents & (POLLIN | POLLHUP))) continue;
      term t;
      bool got = kit_read_full(from[i], &t, sizeof t, 5000) == 0;
      if (!got || t.proc < 0) {
        if (got) errors += (long)t.start; /* the last record: the error count */
        open_[i] = false;
        alive--;
        continue;
      }
      if (n < MAX_TERMS) terms[n++] = t;
      per[t.proc]++;
    }
  }
  for (int i = 0; i < procs; i++) {
    if (kit_reap(pid[i], 20000) != 0) rc = -1;
    close(from[i]);
  }
  double elapsed = secs;
  qsort(terms, n, sizeof *terms, by_start);
  double *gaps = calloc(n + 1, sizeof *gaps), counts[MAX_PROCS];
  size_t ng = 0;
  long overlaps = 0;
  for (size_t i = 1; i < n; i++) {
    if (terms[i].start < terms[i - 1].end) overlaps++;
    gaps[ng++] = (double)(terms[i].start - terms[i - 1].end) / 1e6;
  }
  double lo = 1e18, hi = 0;
  for (int i = 0; i < procs; i++) {
    counts[i] = (double)per[i];
    if (counts[i] < lo) lo = counts[i];
    if (counts[i] > hi) hi = counts[i];
  }
  double sum = 0, sq = 0;
  for (int i = 0; i < procs; i++) sum += counts[i], sq += counts[i] * counts[i];

  kit_json j;
  kit_json_record(&j, "contend", uri);
  kit_json_int(&j, "procs", procs);
  kit_json_num(&j, "secs", elapsed);
  kit_json_int(&j, "terms", (long long)n);
  kit_json_num(&j, "handovers_per_s", n > 1 ? (double)(n - 1) / elapsed : 0);
  kit_json_nums(&j, "terms_per_proc", counts, (size_t)procs);
  kit_json_num(&j, "min", lo);
  kit_json_num(&j, "max", hi);
  kit_json_num(&j, "stddev", kit_stddev(counts, (size_t)procs));
  kit_json_num(&j, "jain_fairness", sq > 0 ? sum * sum / ((double)procs * sq) : NAN);
  if (ng > 0) {
    kit_json_num(&j, "gap_p50_ms", kit_quantile(gaps, ng, 0.5));
    kit_json_num(&j, "gap_p99_ms", kit_quantile(gaps, ng, 0.99));
  }
  kit_json_int(&j, "overlaps", overlaps);
  kit_json_int(&j, "errors", errors);
  if (rc != 0) kit_json_str(&j, "error", "a process failed (see stderr)");
  kit_json_end(&j);
  free(terms);
  free(gaps);
  return rc == 0 ? 0 : 1;
}
