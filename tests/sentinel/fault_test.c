/* fault_test.c — redis-sentinel:// through the public API, on a master, 2
 * replicas and 3 Sentinels (tests/servers/sentinel.c): discovery and its
 * errors, ?replicas=K, and the master killed under a holder: Sentinel
 * promotes a replica, the client follows (the log says "Sentinel switch"),
 * a leader is back within the bound below, and tokens keep growing. */
#include "baton.h"
#include "kit.h"
#include "sentinel_kit.h"
#include "test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TTL_MS 2000
#define WIN_MS 5000
/* A new leader after the master is killed: Sentinel's down-after (1 s)
 * and its fail-over (a vote and a promotion: about 1-2 s here, bounded by
 * failover-timeout, 3 s), then the old holder's key, replicated before
 * the kill, runs out on the new master (at most one TTL), then the
 * waiter's back-off (at most retry_max, 1 s). */
#define DOWN_AFTER_MS 1000
#define FAILOVER_TIMEOUT_MS 3000
#define RETRY_MAX_MS 1000
#define COMEBACK_MS (DOWN_AFTER_MS + FAILOVER_TIMEOUT_MS + TTL_MS + RETRY_MAX_MS)

/* What a client's log callback saw. */
typedef struct log_seen {
  pthread_mutex_t mu;
  int switches; /* lines that report a Sentinel switch */
  char last[300];
} log_seen;

static void on_log(baton_log_level level, const char *message, void *udata) {
  (void)level;
  log_seen *l = udata;
  pthread_mutex_lock(&l->mu);
  if (strstr(message, "Sentinel switch") != NULL) {
    l->switches++;
    snprintf(l->last, sizeof l->last, "%s", message);
  }
  pthread_mutex_unlock(&l->mu);
}

static int switches_seen(log_seen *l) {
  pthread_mutex_lock(&l->mu);
  int n = l->switches;
  pthread_mutex_unlock(&l->mu);
  return n;
}

/* A client and one election on name: 0, or reported with nothing open. */
typedef struct contender {
  baton_client *c;
  baton_election *e;
} contender;

static int contender_open(contender *k, const char *uri, const char *name, const char *identity,
                          log_seen *log) {
  baton_options o = {.ttl_ms = TTL_MS, .identity = identity, .retry_max_ms = RETRY_MAX_MS};
  if (log != NULL) {
    o.log = on_log;
    o.log_udata = log;
    o.log_level = BATON_LOG_WARN;
  }
  baton_error err = {0};
  memset(k, 0, sizeof *k);
  int rc = baton_client_open(&k->c, uri, &o, &err);
  if (rc == 0) rc = baton_election_open(&k->e, k->c, name, NULL, NULL, &err);
  if (rc != 0) {
    TEST_FAIL_("open %s as %s: %s", uri, identity, err.message);
    baton_client_close(k->c);
    k->c = NULL;
  }
  return rc;
}

static void contender_close(contender *k) {
  if (k->e != NULL) baton_election_close(k->e);
  if (k->c != NULL) baton_client_close(k->c);
  memset(k, 0, sizeof *k);
}

/* A campaign on a thread of its own. */
typedef struct campaign_call {
  baton_election *e;
  int64_t timeout_ms;
  pthread_t thread;
  int rc;
  uint64_t token;
  int64_t returned_ms;
  baton_error err;
} campaign_call;

static void *campaign_main(void *arg) {
  campaign_call *c = arg;
  c->rc = baton_election_campaign(c->e, c->timeout_ms, &c->token, &c->err);
  c->returned_ms = kit_now_ms();
  return NULL;
}

/* ---- discovery ------------------------------------------------------------ */

/* A Sentinel that is down is skipped; a master no Sentinel knows is an
 * error that gives each Sentinel's answer; a URI that names no master is
 * refused with what to write. */
static void discovery_asks_each_sentinel(void) {
  test_cluster *c = kit_server("sentinel");
  REQUIRE(c != NULL);
  int dead = test_free_port();
  char uri[1200];
  snprintf(uri, sizeof uri, "redis-sentinel://127.0.0.1:%d,%s", dead,
           strstr(c->uri, "://") + 3);
  contender k;
  REQUIRE_EQ(contender_open(&k, uri, kit_name("skip"), "alice", NULL), 0);
  baton_error err = {0};
  uint64_t token = 0;
  CHECK_OK(baton_election_campaign(k.e, WIN_MS, &token, &err), &err);
  CHECK_GT(token, 0);
  contender_close(&k);

  snprintf(uri, sizeof uri, "%.*s/nosuch", (int)(strrchr(c->uri, '/') - c->uri), c->uri);
  baton_client *bad = NULL;
  CHECK_EQ(baton_client_open(&bad, uri, NULL, &err), BATON_ECONNECT);
  CHECK_CONTAINS(err.message, "does not know master 'nosuch'");
  char port[32];
  for (int i = 3; i < c->n; i++) { /* every Sentinel's answer */
    snprintf(port, sizeof port, ":%d", c->member[i].port);
    CHECK_CONTAINS(err.message, port);
  }
  printf("  %s\n", err.message);

  static const struct {
    const char *suffix, *says;
  } refused[] = {
      {"", "must name the master"},
      {"/baton?replicas=x", "replicas=x"},
      {"/baton?sentinel_auth=maybe", "sentinel_auth=maybe"},
      {"/baton?db=1", "db"},
  };
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    snprintf(uri, sizeof uri, "%.*s%s", (int)(strrchr(c->uri, '/') - c->uri), c->uri,
             refused[i].suffix);
    CHECK_EQ(baton_client_open(&bad, uri, NULL, &err), BATON_EINVAL);
    CHECK_CONTAINS(err.message, refused[i].says);
  }
  CHECK(bad == NULL);
}

/* ---- ?replicas=K ---------------------------------------------------------- */

/* Both replicas of the master m have `name` holding `token`, read at once
 * (no wait for replication). */
static void on_replicas(test_cluster *c, int m, const char *name, uint64_t token) {
  char want[32], value[600];
  snprintf(want, sizeof want, "%llu ", (unsigned long long)token);
  for (int i = 0; i <= 2; i++) {
    if (i == m) continue;
    redisContext *r = kit_redis_raw(c->member[i].port, NULL, NULL);
    kit_redis_str(r, value, sizeof value, "GET %s", name);
    if (r != NULL) redisFree(r);
    CHECK_EQ(strncmp(value, want, strlen(want)), 0);
  }
}

/* With ?replicas=2 the key is on both replicas when ELECTED is reported
 * (and when a fixed lease is granted);
 * with more replicas than there are, no term starts, no lease is granted
 * and no key is left, and a lease's extend is not trusted. */
static void replicas_have_the_key_when_elected(void) {
  test_cluster *c = kit_server("sentinel");
  REQUIRE(c != NULL);
  int m = test_sentinel_master(c);
  REQUIRE(m >= 0);
  char uri[1200];
  snprintf(uri, sizeof uri, "%s?replicas=2", c->uri);
  const char *name = kit_name("replicated");
  contender k;
  REQUIRE_EQ(contender_open(&k, uri, name, "alice", NULL), 0);
  baton_error err = {0};
  uint64_t token = 0;
  CHECK_OK(baton_election_campaign(k.e, WIN_MS, &token, &err), &err);
  on_replicas(c, m, name, token);
  CHECK_OK(baton_election_resign(k.e, &err), &err);
  /* A fixed lease the same. */
  baton_lease *l = NULL;
  CHECK_OK(baton_lease_acquire(&l, k.c, name, 5000, 0, &token, &err), &err);
  on_replicas(c, m, name, token);
  CHECK_OK(baton_lease_release(l, &err), &err);
  baton_lease_close(l);
  contender_close(&k);

  snprintf(uri, sizeof uri, "%s?replicas=3", c->uri);
  name = kit_name("unreplicated");
  REQUIRE_EQ(contender_open(&k, uri, name, "bob", NULL), 0);
  CHECK_EQ(baton_election_campaign(k.e, 1500, &token, &err), BATON_ETIMEDOUT);
  printf("  %s\n", err.message);
  kit_peek p;
  CHECK_EQ(kit_seam_sentinel.peek(c, name, &p), 0);
  CHECK_EQ(p.keys, 0);
  /* A fixed lease the same: not granted, and no key left. */
  l = NULL;
  CHECK_NE(baton_lease_acquire(&l, k.c, name, 5000, 0, &token, &err), 0);
  CHECK_CONTAINS(err.message, "replicas acknowledged");
  CHECK(l == NULL);
  CHECK_EQ(kit_seam_sentinel.peek(c, name, &p), 0);
  CHECK_EQ(p.keys, 0);
  /* An extend the same: a lease taken without ?replicas and extended
   * through this client is not trusted (the extend could be lost in a
   * fail-over), and the handle does not count it. */
  contender q;
  REQUIRE_EQ(contender_open(&q, c->uri, name, "carol", NULL), 0);
  CHECK_OK(baton_lease_acquire(&l, q.c, name, 5000, 0, &token, &err), &err);
  baton_lease *x = NULL;
  CHECK_OK(baton_lease_attach(&x, k.c, name, token, &err), &err);
  int64_t t0 = kit_now_ms();
  CHECK_NE(baton_lease_extend(x, 5000, &err), 0);
  printf("  extend: %s (%lld ms)\n", err.message, (long long)kit_ms_since(t0));
  CHECK_CONTAINS(err.message, "replicas acknowledged");
  CHECK(!baton_lease_held(x, NULL, NULL));
  baton_lease_close(x);
  CHECK_OK(baton_lease_release(l, &err), &err);
  baton_lease_close(l);
  contender_close(&q);
  contender_close(&k);
}

/* ---- the master killed ---------------------------------------------------- */

/* A holds; B waits; the master is killed. Sentinel promotes a replica and
 * both clients follow it. A's term ends by its local deadline (or goes on
 * on the new master if its renewal gets there in time); B leads within
 * COMEBACK_MS of the kill, with a greater token, and then A again, with a
 * greater one still. */
static void master_killed_leader_comes_back(void) {
  test_cluster *c = kit_fresh_server("sentinel");
  REQUIRE(c != NULL);
  const char *name = kit_name("failover");
  static log_seen la = {.mu = PTHREAD_MUTEX_INITIALIZER}, lb = {.mu = PTHREAD_MUTEX_INITIALIZER};
  contender a, b;
  REQUIRE_EQ(contender_open(&a, c->uri, name, "alice", &la), 0);
  if (contender_open(&b, c->uri, name, "bob", &lb) != 0) {
    contender_close(&a);
    return;
  }
  baton_error err = {0};
  uint64_t t1 = 0, t3 = 0;
  CHECK_OK(baton_election_campaign(a.e, WIN_MS, &t1, &err), &err);
  campaign_call cb = {.e = b.e, .timeout_ms = 4 * COMEBACK_MS};
  REQUIRE_EQ(pthread_create(&cb.thread, NULL, campaign_main, &cb), 0);

  int old = test_sentinel_master(c);
  CHECK_EQ(old, 0);
  int64_t killed_at = kit_now_ms();
  test_server_kill(&c->member[old >= 0 ? old : 0]);
  pthread_join(cb.thread, NULL);
  CHECK_OK(cb.rc, &cb.err);
  int64_t took = cb.returned_ms - killed_at;
  int now = test_sentinel_master(c);
  printf("  master %d killed; Sentinel names member %d; bob leads %lld ms after the kill "
         "(bound %d ms), tokens %llu -> %llu\n",
         old, now, (long long)took, COMEBACK_MS, (unsigned long long)t1,
         (unsigned long long)cb.token);
  CHECK_NE(now, old);
  CHECK_LE(took, COMEBACK_MS);
  CHECK_GT(cb.token, t1);
  CHECK(!baton_election_is_leader(a.e, NULL, NULL));
  CHECK_GE(switches_seen(&lb), 1);
  printf("  bob's log: %s\n", lb.last);

  CHECK_OK(baton_election_resign(b.e, &err), &err);
  CHECK_OK(baton_election_campaign(a.e, WIN_MS, &t3, &err), &err);
  CHECK_GT(t3, cb.token);
  CHECK_GE(switches_seen(&la), 1);
  contender_close(&b);
  contender_close(&a);
}

/* watch (issue 16) on the master the Sentinels name: a release wakes an
 * armed candidate (not before), and a killed subscriber wakes every
 * watch, which then subscribes again (the redis kit's cases). */
static void watch_wakes_on_release_and_killed_subscriber(void) {
  test_cluster *c = kit_server("sentinel");
  REQUIRE(c != NULL);
  test_cluster view;
  REQUIRE(kit_sentinel_master_view(c, &view) == 0);
  kit_redis_watch_release_case(&baton_backend_sentinel, c->uri, &view);
  kit_redis_watch_kill_case(&baton_backend_sentinel, c->uri, &view);
}

/* A Sentinel switch (SENTINEL FAILOVER: the old master lives on,
 * demoted) wakes an armed watch, which then arms on the new master, and
 * a release there wakes it: an armed watch has no thread of its own that
 * would notice the move. */
static void switch_wakes_an_armed_watch(void) {
  test_cluster *c = kit_fresh_server("sentinel");
  REQUIRE(c != NULL);
  kit_watch_pair p;
  REQUIRE(kit_watch_pair_open(&p, &baton_backend_sentinel, c->uri, c->uri, "switch", "alice",
                              "bob"));
  baton_error err = {0};
  baton_candidate ka = kit_cand(&p.a, p.name), kb = kit_cand(&p.b, p.name);
  kit_wakes w = {.c = &p.kc};
  int64_t recheck = 0;
  /* A fresh deployment: a first term waits out the restart-safe rule. */
  CHECK_OK(kit_redis_campaign(&p.a, &ka, 15000, NULL, &err), &err);
  CHECK_OK(kit_watch_arm(&p.b, &kb, false, NULL, &w, &recheck, &err), &err);
  kit_wakes_reset(&w);
  redisContext *r = kit_redis_raw(c->member[3].port, NULL, NULL); /* a Sentinel */
  char said[128];
  kit_redis_str(r, said, sizeof said, "SENTINEL FAILOVER %s", strrchr(c->uri, '/') + 1);
  CHECK_STR(said, "OK");
  int64_t t0 = kit_now_ms();
  /* The switch is seen in 1-3 s here; the old master's own end of the
   * subscriber (Sentinel reconfiguring it) came 11 s after the command
   * when the move did not drop it. */
  CHECK_EQ(kit_wakes_reach(&w, 1, 1, 8000), 1);
  printf("  armed watch woken %lld ms after SENTINEL FAILOVER\n", (long long)kit_ms_since(t0));
  /* On the new master, bob's watches subscribe there: a release of
   * another name wakes him. */
  const char *after = kit_name("after");
  baton_candidate ka2 = kit_cand(&p.a, after), kb2 = kit_cand(&p.b, after);
  kit_wakes w2 = {.c = &p.kc};
  int rc;
  KIT_RETRY(rc, 15000, kit_redis_campaign(&p.a, &ka2, 15000, NULL, &err));
  CHECK_OK(rc, &err);
  KIT_RETRY(rc, 10000, kit_watch_arm(&p.b, &kb2, false, NULL, &w2, &recheck, &err));
  CHECK_OK(rc, &err);
  int armed = kit_wakes_of(&w2);
  CHECK_OK(kit_release(&p.a, &ka2, &err), &err);
  CHECK_EQ(kit_wakes_reach(&w2, 1, armed + 1, 2000), armed + 1);
  if (r != NULL) redisFree(r);
  p.b.b->unwatch(p.b.s, &kb);
  p.b.b->unwatch(p.b.s, &kb2);
  kit_forget(&p.b, &kb);
  kit_forget(&p.b, &kb2);
  kit_forget(&p.a, &ka);
  kit_forget(&p.a, &ka2);
  kit_watch_pair_close(&p);
}

int main(int argc, char **argv) {
  static const test_case cases[] = {
      {"discovery_asks_each_sentinel", discovery_asks_each_sentinel},
      {"replicas_have_the_key_when_elected", replicas_have_the_key_when_elected},
      {"master_killed_leader_comes_back", master_killed_leader_comes_back},
      {"watch_wakes_on_release_and_killed_subscriber",
       watch_wakes_on_release_and_killed_subscriber},
      {"switch_wakes_an_armed_watch", switch_wakes_an_armed_watch},
      {NULL, NULL},
  };
  return test_main(argc, argv, cases);
}
