/* handover.c — graceful hand-over latency between two processes: the holder
 * takes t0 on CLOCK_MONOTONIC and resigns; the waiter, blocked in
 * baton_election_campaign, takes t1 when it returns elected. The two swap
 * roles every sample, so each sample starts from a warm waiter. */
#include "kit.h"

#include <baton.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MSG_STARTED = 1, MSG_T0, MSG_SAMPLE, MSG_FAIL, MSG_GO };

typedef struct msg {
  int type;
  int64_t t;       /* MSG_T0: t0; MSG_SAMPLE: t1 - t0 */
  int64_t extra;   /* MSG_T0, MSG_SAMPLE: how long the resign call took */
} msg;

typedef struct side {
  int in, out;            /* pipes to and from the peer */
  bool parent;
  double *samples, *resigns;
  size_t n;               /* samples collected (the parent: all) */
} side;

static int timeout_ms;

static int send_msg(side *s, int type, int64_t t, int64_t extra) {
  msg m = {.type = type, .t = t, .extra = extra};
  return kit_write_full(s->out, &m, sizeof m);
}

/* The next message of `want` type; samples sent by the child are collected
 * on the way (parent only). */
static int recv_msg(side *s, int want, msg *out) {
  for (int i = 0; i < 1000000; i++) {
    if (kit_read_full(s->in, out, sizeof *out, timeout_ms) != 0) return -1;
    if (out->type == MSG_FAIL) return -1;
    if (out->type == MSG_SAMPLE && s->parent) {
      s->samples[s->n] = (double)out->t / 1e6;
      s->resigns[s->n++] = (double)out->extra / 1e6;
      continue;
    }
    if (out->type == want) return 0;
  }
  return -1;
}

static int hold_then_resign(side *s, baton_election *e, int settle_ms) {
  msg m;
  if (recv_msg(s, MSG_STARTED, &m) != 0) return -1;
  /* Give the waiter time to make its attempt and block in wait: the
   * sample must measure a wake-up, not a first attempt. */
  kit_sleep_ms(settle_ms);
  baton_error err;
  int64_t t0 = kit_now();
  int rc = baton_election_resign(e, &err);
  int64_t took = kit_now() - t0;
  if (rc != 0) {
    fprintf(stderr, "handover: resign: %s\n", err.message);
    return -1;
  }
  return send_msg(s, MSG_T0, t0, took);
}

/* Campaign once the peer leads (MSG_GO), so that this side's campaign
 * always meets a holder and blocks; say MSG_GO in turn once elected, unless
 * this was the last sample (the peer may be gone). */
static int wait_then_lead(side *s, baton_election *e, bool last) {
  baton_error err;
  msg m;
  if (recv_msg(s, MSG_GO, &m) != 0 || send_msg(s, MSG_STARTED, 0, 0) != 0) return -1;
  int rc = baton_election_campaign(e, timeout_ms, NULL, &err);
  int64_t t1 = kit_now();
  if (rc != 0) {
    fprintf(stderr, "handover: campaign: %s\n", err.message);
    return -1;
  }
  if (recv_msg(s, MSG_T0, &m) != 0) return -1;
  if (!s->parent && send_msg(s, MSG_SAMPLE, t1 - m.t, m.extra) != 0) return -1;
  if (s->parent) {
    s->samples[s->n] = (double)(t1 - m.t) / 1e6;
    s->resigns[s->n++] = (double)m.extra / 1e6;
  }
  return last ? 0 : send_msg(s, MSG_GO, 0, 0);
}

static int run(side *s, const char *uri, const char *name, uint32_t ttl, long samples,
               int settle_ms) {
  baton_options o = {.ttl_ms = ttl};
  baton_client *c;
  baton_election *e;
  baton_error err;
  if (baton_client_open(&c, uri, &o, &err) != 0 ||
      baton_election_open(&e, c, name, NULL, NULL, &err) != 0) {
    fprintf(stderr, "handover: %s\n", err.message);
    send_msg(s, MSG_FAIL, 0, 0);
    return -1;
  }
  int rc = 0;
  bool holder = s->parent;
  /* The parent leads first; the child starts once it does. */
  if (holder && baton_election_campaign(e, timeout_ms, NULL, &err) != 0) {
    fprintf(stderr, "handover: first campaign: %s\n", err.message);
    rc = -1;
  }
  if (rc == 0 && holder) rc = send_msg(s, MSG_GO, 0, 0);
  for (long i = 0; rc == 0 && i < samples; i++, holder = !holder)
    rc = holder ? hold_then_resign(s, e, settle_ms) : wait_then_lead(s, e, i == samples - 1);
  if (rc != 0) send_msg(s, MSG_FAIL, 0, 0);
  baton_election_close(e);
  baton_client_close(c);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) kit_die("usage: handover URI [--samples N] [--ttl ms] [--settle ms] [--name N]");
  const char *uri = argv[1];
  long samples = kit_arg_long(argc, argv, "--samples", 200);
  uint32_t ttl = (uint32_t)kit_arg_long(argc, argv, "--ttl", 10000);
  int settle = (int)kit_arg_long(argc, argv, "--settle", 20);
  const char *name = kit_arg(argc, argv, "--name", "bench-handover");
  timeout_ms = (int)kit_arg_long(argc, argv, "--timeout", 15000);
  if (samples < 1 || samples > 100000) kit_die("--samples out of range");
  kit_setup((int)kit_arg_long(argc, argv, "--watchdog", 600));

  int p2c[2], c2p[2];
  if (pipe(p2c) != 0 || pipe(c2p) != 0) kit_die("pipe: %s", strerror(errno));
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) kit_die("fork: %s", strerror(errno));
  if (pid == 0) {
    side s = {.in = p2c[0], .out = c2p[1]};
    close(p2c[1]);
    close(c2p[0]);
    _exit(run(&s, uri, name, ttl, samples, settle) == 0 ? 0 : 1);
  }
  close(p2c[0]);
  close(c2p[1]);
  side s = {.in = c2p[0], .out = p2c[1], .parent = true};
  s.samples = calloc((size_t)samples + 1, sizeof *s.samples);
  s.resigns = calloc((size_t)samples + 1, sizeof *s.resigns);
  /* The server's view of the whole series: requests per hand-over cycle
   * (the waiter's attempt and wait, the resign, the winning attempt). */
  static kit_probe probe;
  bool probed = kit_probe_begin(&probe, uri, false) == 0;
  int rc = run(&s, uri, name, ttl, samples, settle);
  probed = probed && kit_probe_end(&probe) == 0;
  /* The child's last sample may still be in the pipe: collect until EOF. */
  msg m;
  close(s.out);
  if (rc == 0) recv_msg(&s, 0, &m);
  int status = kit_reap(pid, 30000);
  if (status != 0) rc = -1;

  kit_json j;
  kit_json_record(&j, "handover", uri);
  kit_json_int(&j, "samples", (long long)s.n);
  kit_json_int(&j, "settle_ms", settle);
  if (rc != 0) kit_json_str(&j, "error", "a campaign or resign failed (see stderr)");
  if (s.n > 0) {
    double *v = s.samples;
    kit_json_num(&j, "mean_ms", kit_mean(v, s.n));
    kit_json_num(&j, "p50_ms", kit_quantile(v, s.n, 0.50));
    kit_json_num(&j, "p90_ms", kit_quantile(v, s.n, 0.90));
    kit_json_num(&j, "p99_ms", kit_quantile(v, s.n, 0.99));
    kit_json_num(&j, "min_ms", kit_quantile(v, s.n, 0));
    kit_json_num(&j, "max_ms", kit_quantile(v, s.n, 1));
    kit_json_num(&j, "resign_call_p50_ms", kit_quantile(s.resigns, s.n, 0.50));
  }
  if (probed && s.n > 0) {
    double k = (double)s.n;
    if (strcmp(probe.kind, "redis") == 0) {
      kit_json_stats(&j, "commandstats_per_handover", &probe.delta, "cmd.", k);
    } else if (strcmp(probe.kind, "etcd") == 0) {
      kit_json_num(&j, "requests_per_handover", probe.requests / k);
      kit_json_stats(&j, "grpc_per_handover", &probe.delta, "grpc.", k);
      kit_json_num(&j, "wal_fsyncs_per_handover", kit_stats_get(&probe.delta, "wal_fsyncs") / k);
    } else {
      kit_json_num(&j, "requests_per_handover", probe.requests / k);
      kit_json_num(&j, "fsyncs_per_handover", kit_stats_get(&probe.delta, "fsyncs") / k);
    }
  }
  kit_json_end(&j);
  free(s.samples);
  free(s.resigns);
  return rc == 0 ? 0 : 1;
}
