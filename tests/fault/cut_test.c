/* cut_test.c — a holder cut off from its server by a fault-injecting proxy
 * (black hole, reset, slow link) steps down at its local deadline, before
 * the server could expire its term; a rival takes over; after the cut
 * heals, the holder's client campaigns again with a greater token. A slow
 * link keeps the term, and the stats show it: longer renewal round trips
 * and less headroom at each renewal.
 * `fault_cut KIND [FILTER]`, KIND one of redis, etcd, zk, redlock. */
#include "baton.h"
#include "kit.h"
#include "proxy.h"
#include "test.h"

#include <pthread.h>
#include <signal.h>

#define TTL_MS 2000
#define MARGIN_MS 400
#define WIN_MS 5000       /* an uncontended campaign */
#define COMEBACK_MS 20000 /* the cut client's campaign once the cut heals */

static test_cluster *server;

typedef struct losses {
  pthread_mutex_t mu;
  int lost, elected;
  int64_t lost_at;
  baton_lost_reason reason;
} losses;

static void on_event(const baton_event *ev, void *udata) {
  losses *l = udata;
  pthread_mutex_lock(&l->mu);
  if (ev->type == BATON_EVENT_LOST) {
    l->lost++;
    l->lost_at = kit_now_ms();
    l->reason = ev->reason;
  }
  if (ev->type == BATON_EVENT_ELECTED) l->elected++;
  pthread_mutex_unlock(&l->mu);
}

static int lost_count(losses *l) {
  pthread_mutex_lock(&l->mu);
  int n = l->lost;
  pthread_mutex_unlock(&l->mu);
  return n;
}

/* A proxy in front of every member (a backend that votes reaches a
 * quorum of them: cutting one would cut nothing), and the server's URI
 * through them. */
typedef struct proxies {
  proxy *px[TEST_MAX_MEMBERS];
  char uri[512];
} proxies;

static int proxies_start(proxies *g) {
  memset(g, 0, sizeof *g);
  int ports[TEST_MAX_MEMBERS];
  for (int i = 0; i < server->n; i++) {
    if (proxy_start(&g->px[i], server->member[i].port) != 0) return -1;
    ports[i] = proxy_port(g->px[i]);
  }
  kit_uri_at(g->uri, sizeof g->uri, server->uri, ports, server->n);
  return 0;
}

static void proxies_mode(proxies *g, proxy_mode mode, int delay_ms) {
  for (int i = 0; i < server->n; i++) proxy_set_mode(g->px[i], mode, delay_ms);
}

static void proxies_stop(proxies *g) {
  for (int i = 0; i < server->n; i++) proxy_stop(g->px[i]);
}

typedef struct cut_case {
  proxy_mode mode;
  int delay_ms;
  bool expect_loss;
} cut_case;

static void run_cut(const cut_case *k) {
  /* Clusters of several members (etcd3, zk3) are not run here: only a
   * backend that takes every member's word needs all proxied. */
  static proxies g;
  if (proxies_start(&g) != 0) {
    proxies_stop(&g);
    TEST_FAIL_("cannot start a proxy");
    return;
  }
  const char *uri = g.uri;
  losses l = {.mu = PTHREAD_MUTEX_INITIALIZER};
  baton_options o = {.ttl_ms = TTL_MS, .margin_ms = MARGIN_MS, .identity = "cut-holder"};
  baton_options r = {.ttl_ms = TTL_MS, .identity = "rival"};
  baton_client *held = NULL, *rival = NULL;
  baton_election *eh = NULL, *er = NULL;
  baton_error err = {0};
  const char *name = kit_name("cut");
  uint64_t t1 = 0, t2 = 0, t3 = 0;
  /* From here on a failure goes to `out`: `l` must outlive the election
   * whose events it takes. */
  int rc = baton_client_open(&held, uri, &o, &err);
  if (rc == 0) rc = baton_client_open(&rival, server->uri, &r, &err);
  if (rc == 0) rc = baton_election_open(&eh, held, name, on_event, &l, &err);
  if (rc == 0) rc = baton_election_open(&er, rival, name, NULL, NULL, &err);
  if (rc == 0) rc = baton_election_campaign(eh, WIN_MS, &t1, &err);
  CHECK_OK(rc, &err);
  if (rc != 0) goto out;

  proxies_mode(&g, k->mode, k->delay_ms);
  int64_t remaining = 0, cut_at = kit_now_ms();
  CHECK(baton_election_is_leader(eh, NULL, &remaining));
  int64_t local_deadline = cut_at + remaining;
  /* The rival can only win once the server expired the holder's term. */
  rc = baton_election_campaign(er, k->expect_loss ? TTL_MS * 4 : TTL_MS * 2, &t2, &err);
  int64_t rival_at = kit_now_ms();
  if (k->expect_loss) {
    CHECK_OK(rc, &err);
    CHECK_GT(t2, t1);
    CHECK_EQ(lost_count(&l), 1);
    CHECK(!baton_election_is_leader(eh, NULL, NULL));
    printf("    holder lost at %+lld ms of its deadline, rival elected %lld ms after it\n",
           (long long)(l.lost_at - local_deadline), (long long)(rival_at - l.lost_at));
    CHECK_LE(l.lost_at, local_deadline + TEST_SLACK_MS);
    CHECK_LT(l.lost_at, rival_at); /* never two leaders on this clock */
    CHECK(l.reason == BATON_LOST_DEADLINE || l.reason == BATON_LOST_CONNECTION);
    /* Heal; the cut client comes back and wins a later term. */
    proxies_mode(&g, PROXY_PASS, 0);
    CHECK_OK(baton_election_resign(er, &err), &err);
    CHECK_OK(baton_election_campaign(eh, COMEBACK_MS, &t3, &err), &err);
    CHECK_GT(t3, t2);
  } else {
    /* A slow link: renewals still succeed, the holder keeps its term. */
    CHECK_EQ(rc, BATON_ETIMEDOUT);
    CHECK_EQ(lost_count(&l), 0);
    uint64_t now_token = 0;
    CHECK(baton_election_is_leader(eh, &now_token, NULL));
    CHECK_EQ(now_token, t1);
    proxies_mode(&g, PROXY_PASS, 0);
    /* Every renewal on the slow link came back at least the delay after
     * it was sent, one renew interval after the last: the headroom it
     * left is the lifetime less both, at most. */
    baton_election_stats es;
    baton_client_stats cs;
    int64_t lifetime_ms = 0;
    CHECK_OK(baton_election_read_stats(eh, &es, &err), &err);
    CHECK_OK(baton_client_read_stats(held, &cs, &err), &err);
    CHECK_OK(baton_options_lifetime(&o, &lifetime_ms, &err), &err);
    int64_t healthy_ms = lifetime_ms - TTL_MS / 3;
    int64_t min_ms = es.stats.headroom_min_ns / 1000000;
    int64_t mean_rtt_ms =
        cs.renewal.count > 0 ? (int64_t)(cs.renewal.sum_ns / cs.renewal.count) / 1000000 : 0;
    printf("    slow link (%d ms): %llu renewals, mean round trip %lld ms, least headroom %lld ms "
           "(healthy: %lld ms)\n",
           k->delay_ms, (unsigned long long)es.stats.renewals_ok, (long long)mean_rtt_ms,
           (long long)min_ms, (long long)healthy_ms);
    CHECK_GE(es.stats.renewals_ok, 3);
    CHECK_EQ(es.stats.renewals_failed, 0);
    CHECK_GE(mean_rtt_ms, k->delay_ms);
    CHECK_LE(min_ms, healthy_ms - k->delay_ms);
    CHECK_GT(min_ms, 0);
  }
out:
  baton_election_close(er);
  baton_election_close(eh);
  baton_client_close(rival);
  baton_client_close(held);
  proxies_stop(&g);
}

static void black_hole_ends_the_term_in_time(void) {
  run_cut(&(cut_case){PROXY_STALL, 0, true});
}

static void reset_connections_end_the_term_in_time(void) {
  run_cut(&(cut_case){PROXY_DROP, 0, true});
}

static void slow_link_keeps_the_term(void) {
  run_cut(&(cut_case){PROXY_SLOW, 60, false});
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: fault_cut redis|etcd|zk|redlock [filter]\n");
    return 2;
  }
  if ((server = kit_server(argv[1])) == NULL) return 1;
  static const test_case cases[] = {
      {"black_hole_ends_the_term_in_time", black_hole_ends_the_term_in_time},
      {"reset_connections_end_the_term_in_time", reset_connections_end_the_term_in_time},
      {"slow_link_keeps_the_term", slow_link_keeps_the_term},
      {NULL, NULL},
  };
  return test_main(argc - 1, argv + 1, cases);
}
