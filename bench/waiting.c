/* waiting.c — candidate mode on many names with two clients contending: A
 * leads N names, B waits on the same N in candidate mode; what B's waiting
 * costs (threads, descriptors, memory per name), the server's requests per
 * renew interval while all wait, and the hand-over latency from A's stop to
 * B's ELECTED, name after name, while the others still wait. */
#include "kit.h"

#include <baton.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What the callbacks see. They run on each client's own thread while main
 * reads the counters, so everything they write is atomic; a name's t1 is
 * stored before the count that tells main about it. */
static long names;                       /* N */
static atomic_long a_elected, a_lost_other, b_elected, b_events, b_early, b_lost;
static atomic_long b_lost_by[BATON_LOST_REASONS]; /* B's LOST events by reason */
static _Atomic int64_t *t0s, *t1s;       /* per name: A's stop call, B's ELECTED */

static void on_a(const baton_event *ev, void *udata) {
  (void)udata;
  if (ev->type == BATON_EVENT_ELECTED) atomic_fetch_add(&a_elected, 1);
  if (ev->type == BATON_EVENT_LOST && ev->reason != BATON_LOST_RESIGNED)
    atomic_fetch_add(&a_lost_other, 1);
}

static void on_b(const baton_event *ev, void *udata) {
  long i = (long)(intptr_t)udata;
  if (ev->type == BATON_EVENT_LOST) {
    atomic_fetch_add(&b_lost, 1);
    if ((unsigned)ev->reason < BATON_LOST_REASONS) atomic_fetch_add(&b_lost_by[ev->reason], 1);
  }
  if (ev->type != BATON_EVENT_ELECTED || i < 0 || i >= names) return;
  /* Elected before A let go: A lost the name some other way. */
  if (atomic_load(&t0s[i]) == 0) atomic_fetch_add(&b_early, 1);
  atomic_fetch_add(&b_events, 1);
  /* Names, not events: a name won, lost and won again counts once, at
   * its first ELECTED. */
  int64_t none = 0;
  if (atomic_compare_exchange_strong(&t1s[i], &none, kit_now())) atomic_fetch_add(&b_elected, 1);
}

/* Closing 2N elections can take long where each one ends a thread blocked
 * in a request (thread per name): a thread of its own does it, and main
 * waits a bounded time so that the record is written either way. */
static baton_client *closing[2];
static atomic_bool closed;

static void *close_both(void *arg) {
  (void)arg;
  baton_client_close(closing[0]);
  baton_client_close(closing[1]); /* resigns every name B won */
  atomic_store(&closed, true);
  return NULL;
}

static baton_client_stats client_stats(baton_client *c) {
  baton_client_stats s;
  if (baton_client_read_stats(c, &s, NULL) != 0) memset(&s, 0, sizeof s);
  return s;
}

/* Open and start names [0, n) on client c; the count started. */
static long start_all(baton_client *c, baton_election **e, long n, const char *prefix,
                      baton_event_cb cb, kit_json *j, const char *who) {
  baton_error err;
  for (long i = 0; i < n; i++) {
    char name[BATON_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s-%ld", prefix, i);
    int rc = baton_election_open(&e[i], c, name, cb, (void *)(intptr_t)i, &err);
    if (rc == 0) rc = baton_election_start(e[i], &err);
    if (rc != 0) {
      baton_election_close(e[i]);
      e[i] = NULL;
      char key[32];
      snprintf(key, sizeof key, "error_%s", who);
      kit_json_str(j, key, err.message);
      fprintf(stderr, "waiting: %s: name %ld: %s\n", who, i, err.message);
      return i;
    }
  }
  return n;
}

int main(int argc, char **argv) {
  if (argc < 2) kit_die("usage: waiting URI [--names N] [--ttl ms] [--window s] [--name prefix] "
                    "[--counters URI]");
  const char *uri = argv[1];
  long want = kit_arg_long(argc, argv, "--names", 10000);
  uint32_t ttl = (uint32_t)kit_arg_long(argc, argv, "--ttl", 3000);
  double window = kit_arg_double(argc, argv, "--window", 3);
  int server_pid = (int)kit_arg_long(argc, argv, "--server-pid", 0);
  const char *prefix = kit_arg(argc, argv, "--name", "bench-waiting");
  /* Where the server's counters are read: a Sentinel URI names the
   * Sentinels, run.py passes the master's. */
  const char *counters = kit_arg(argc, argv, "--counters", uri);
  if (want < 1 || want > 1000000) kit_die("--names out of range");
  /* Bounds of each phase, in seconds: 120, and 2 ms more a name, since a
   * phase acquires or hands over every name (etcd: about 1 ms each). The
   * watchdog bounds the whole: three phases and the window. */
  long phase_s = kit_arg_long(argc, argv, "--phase-s", 120 + want / 500);
  int64_t phase_ns = (int64_t)phase_s * 1000000000;
  kit_setup((int)kit_arg_long(argc, argv, "--watchdog", 4 * phase_s + 60));
  long nofile = kit_raise_nofile();
  double interval = ttl / 3.0 / 1000; /* baton's default renew interval */

  /* Everything the run writes later is allocated and touched now, so that
   * no snapshot counts it. */
  names = want;
  baton_election **ea = calloc((size_t)want, sizeof *ea);
  baton_election **eb = calloc((size_t)want, sizeof *eb);
  t0s = calloc((size_t)want, sizeof *t0s);
  t1s = calloc((size_t)want, sizeof *t1s);
  double *lat = calloc((size_t)want, sizeof *lat), *stops = calloc((size_t)want, sizeof *stops);
  if (!ea || !eb || !t0s || !t1s || !lat || !stops) kit_die("out of memory");
  memset(ea, 0, (size_t)want * sizeof *ea);
  memset(eb, 0, (size_t)want * sizeof *eb);
  memset(lat, 0, (size_t)want * sizeof *lat);
  memset(stops, 0, (size_t)want * sizeof *stops);
  for (long i = 0; i < want; i++) {
    atomic_init(&t0s[i], 0);
    atomic_init(&t1s[i], 0);
  }
  /* A few descriptors in reserve: if the names exhaust the limit, the
   * server's counters must still be readable. Both snapshots count them. */
  int reserve[32];
  for (size_t i = 0; i < sizeof reserve / sizeof reserve[0]; i++) {
    reserve[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
  }

  kit_json j;
  kit_json_record(&j, "waiting", uri);
  kit_json_int(&j, "names_wanted", want);
  kit_json_int(&j, "ttl_ms", ttl);
  kit_json_int(&j, "rlimit_nofile", nofile);
  kit_snap s0 = kit_snap_take();
  kit_json_snap(&j, "before_clients", s0);

  baton_options o = {.ttl_ms = ttl};
  baton_client *a, *b;
  baton_error err;
  if (baton_client_open(&a, uri, &o, &err) != 0) kit_die("client_open A: %s", err.message);

  /* A leads every name. */
  int64_t t = kit_now();
  long n = start_all(a, ea, want, prefix, on_a, &j, "a");
  while (atomic_load(&a_elected) < n && kit_now() - t < phase_ns) kit_sleep_ms(10);
  kit_json_int(&j, "a_elected", atomic_load(&a_elected));
  kit_json_num(&j, "a_elect_s", (double)(kit_now() - t) / 1e9);
  kit_snap sa = kit_snap_take();
  kit_json_snap(&j, "a_leading", sa);

  /* B waits on every name. */
  if (baton_client_open(&b, uri, &o, &err) != 0) kit_die("client_open B: %s", err.message);
  t = kit_now();
  long nb = start_all(b, eb, n, prefix, on_b, &j, "b");
  kit_json_int(&j, "b_started", nb);
  baton_client_stats bs = client_stats(b);
  int64_t attempted_at = 0;
  while (kit_now() - t < phase_ns) {
    bs = client_stats(b);
    if ((long)bs.totals.contended >= nb) break;
    /* A backend that queues a candidate may answer its first attempt
     * otherwise than "held": every attempt sent and a second to settle. */
    if ((long)bs.totals.attempts >= nb && attempted_at == 0) attempted_at = kit_now();
    if (attempted_at != 0 && kit_now() - attempted_at > 1000000000) break;
    kit_sleep_ms(10);
  }
  kit_json_num(&j, "b_tried_s", (double)(kit_now() - t) / 1e9);
  kit_json_int(&j, "b_attempts", (long long)bs.totals.attempts);
  kit_json_int(&j, "b_contended", (long long)bs.totals.contended);
  /* Let the waits begin (a thread per name blocks after its attempt). */
  kit_sleep_ms(250);
  kit_snap sb = kit_snap_take();
  kit_json_snap(&j, "b_waiting", sb);
  for (size_t i = 0; i < sizeof reserve / sizeof reserve[0]; i++)
    if (reserve[i] >= 0) close(reserve[i]);
  kit_json_int(&j, "b_threads", sb.threads - sa.threads);
  kit_json_int(&j, "b_fds", sb.fds - sa.fds);
  if (nb > 0) {
    kit_json_num(&j, "b_bytes_per_name", (double)(sb.rss_kib - sa.rss_kib) * 1024 / (double)nb);
    kit_json_num(&j, "total_bytes_per_election",
                 (double)(sb.rss_kib - s0.rss_kib) * 1024 / (double)(n + nb));
  }
  kit_json_int(&j, "total_threads", sb.threads);
  kit_json_int(&j, "total_fds", sb.fds);
  fprintf(stderr, "waiting: %ld names: B +%ld threads +%ld fds %+ld KiB\n", nb,
          sb.threads - sa.threads, sb.fds - sa.fds, sb.rss_kib - sa.rss_kib);

  /* Idle: A renews N terms while B waits on N names. */
  kit_sleep_ms((int)(interval * 1000));
  baton_client_stats bw0 = client_stats(b);
  if (kit_renew_window(&j, "renew_idle", counters, window, interval, server_pid) != 0)
    fprintf(stderr, "waiting: reading the server's counters failed\n");
  baton_client_stats bw1 = client_stats(b), aw = client_stats(a);
  kit_json_int(&j, "b_attempts_in_window", (long long)(bw1.totals.attempts - bw0.totals.attempts));
  kit_json_int(&j, "a_held_after_window", aw.terms_held);
  kit_json_int(&j, "a_lost_other", atomic_load(&a_lost_other));
  kit_json_int(&j, "b_elected_early", atomic_load(&b_early));

  /* Hand-over: A stops each name in turn; B's callback takes t1. */
  long threads_max = sb.threads, stopped = 0;
  long elected0 = atomic_load(&b_elected);
  t = kit_now();
  for (; stopped < nb && kit_now() - t < phase_ns; stopped++) {
    int64_t t0 = kit_now();
    atomic_store(&t0s[stopped], t0);
    baton_election_stop(ea[stopped]);
    stops[stopped] = (double)(kit_now() - t0) / 1e6;
    if (stopped % 16 == 0) {
      long th = kit_proc_status("Threads");
      if (th > threads_max) threads_max = th;
    }
  }
  int64_t stopped_at = kit_now();
  while (atomic_load(&b_elected) - elected0 < stopped && kit_now() - stopped_at < phase_ns) {
    long th = kit_proc_status("Threads");
    if (th > threads_max) threads_max = th;
    kit_sleep_ms(5);
  }
  int64_t last = 0;
  size_t nlat = 0;
  for (long i = 0; i < stopped; i++) {
    int64_t t1 = atomic_load(&t1s[i]), t0 = atomic_load(&t0s[i]);
    if (t1 == 0 || t1 < t0) continue;
    lat[nlat++] = (double)(t1 - t0) / 1e6;
    if (t1 > last) last = t1;
  }
  kit_json_int(&j, "handover_stopped", stopped);
  kit_json_int(&j, "handover_elected", (long long)nlat);
  kit_json_num(&j, "handover_stop_s", (double)(stopped_at - t) / 1e9);
  kit_json_num(&j, "handover_total_s", last > 0 ? (double)(last - t) / 1e9 : -1);
  if (nlat > 0) {
    kit_json_num(&j, "handover_p50_ms", kit_quantile(lat, nlat, 0.5));
    kit_json_num(&j, "handover_p99_ms", kit_quantile(lat, nlat, 0.99));
    kit_json_num(&j, "handover_max_ms", kit_quantile(lat, nlat, 1));
    /* The first hundred hand over while almost every name still waits. */
    size_t first = nlat < 100 ? nlat : 100;
    kit_json_num(&j, "handover_first100_p50_ms", kit_quantile(lat, first, 0.5));
  }
  if (stopped > 0) {
    kit_json_num(&j, "stop_call_p50_ms", kit_quantile(stops, (size_t)stopped, 0.5));
    kit_json_num(&j, "stop_call_max_ms", kit_quantile(stops, (size_t)stopped, 1));
  }
  kit_json_int(&j, "threads_max_handover", threads_max);
  baton_client_stats bh = client_stats(b);
  kit_json_int(&j, "b_held_after_handover", bh.terms_held);
  kit_json_int(&j, "b_elected_events", atomic_load(&b_events));
  kit_json_int(&j, "b_lost", atomic_load(&b_lost));
  double by[BATON_LOST_REASONS];
  for (int r = 0; r < BATON_LOST_REASONS; r++) by[r] = (double)atomic_load(&b_lost_by[r]);
  kit_json_nums(&j, "b_lost_by_reason", by, BATON_LOST_REASONS);

  t = kit_now();
  closing[0] = a;
  closing[1] = b;
  pthread_t closer;
  bool joinable = pthread_create(&closer, NULL, close_both, NULL) == 0;
  if (!joinable) close_both(NULL);
  int64_t close_ns = (int64_t)kit_arg_long(argc, argv, "--close-s", 60) * 1000000000;
  while (!atomic_load(&closed) && kit_now() - t < close_ns) kit_sleep_ms(10);
  bool done = atomic_load(&closed);
  kit_json_num(&j, "close_s", done ? (double)(kit_now() - t) / 1e9 : -1);
  kit_json_end(&j);
  fflush(stdout);
  if (!done) _exit(1); /* the clients are still closing: leave them */
  if (joinable) pthread_join(closer, NULL);
  free(ea);
  free(eb);
  free(t0s);
  free(t1s);
  free(lat);
  free(stops);
  return n == want && nb == n && (long)nlat == n ? 0 : 1;
}
