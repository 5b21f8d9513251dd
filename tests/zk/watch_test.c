/* watch_test.c — the zk:// backend's subscriptions (watch, unwatch)
 * against a real ZooKeeper server: a queued candidate is woken by its
 * predecessor's going and by nothing else, an observer by every change
 * of the leader, nothing after unwatch or forget (also when the
 * ZooKeeper watch fires later), one release of 1,000 queued candidates
 * wakes one, a lost connection and an expired session wake every armed
 * watch, and a fixed lease ahead is looked at again, and deleted, once it
 * has surely ended. Each case uses names of its own below the chroot
 * /baton-watch. */
#include "proxy.h"
#include "servers.h"
#include "test.h"
#include "wakes.h"
#include "zk.h"
#include "zk_kit.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZK baton_backend_zk

/* How long an armed watch must stay quiet while nothing changes, and how
 * soon after a change it must have woken. */
#define QUIET_MS 200
#define WAKE_MS 2000

static test_cluster *server; /* the suite's (kit_server) */
static char uri[1200];       /* zk://127.0.0.1:P/baton-watch */

/* Queue c behind the holder and arm its watch: true, or false (reported).
 * An election node has no expiry: nothing asks for a look without a wake. */
static bool queue_and_arm(kit_session *k, baton_candidate *c, kit_wakes *w) {
  baton_error err = {0};
  baton_leader holder = {0};
  int rc = kit_acquire(k, c, &holder, &err);
  CHECK_EQ(rc, BATON_EHELD);
  if (rc != BATON_EHELD) return false;
  int64_t recheck_at = 0;
  rc = kit_watch(k, c, &holder, w, &recheck_at, &err);
  CHECK_OK(rc, &err);
  CHECK_EQ(recheck_at, INT64_MAX);
  return rc == 0;
}

/* Arm an observer that saw `seen`: true, or false (reported). */
static bool observe(kit_session *k, baton_candidate *c, const baton_leader *seen, kit_wakes *w) {
  baton_error err = {0};
  int rc = kit_watch(k, c, seen, w, NULL, &err);
  CHECK_OK(rc, &err);
  return rc == 0;
}

/* A queued candidate's watch stays quiet while the holder holds, and wakes
 * on a ZooKeeper thread soon after the release; looking again wins. */
static void test_candidate_wakes_on_release(void) {
  kit_watch_pair p;
  REQUIRE(kit_watch_pair_open(&p, &ZK, uri, uri, "wcand", "alice", "bob"));
  baton_error err = {0};
  kit_wakes w = {.c = &p.kc};
  baton_candidate ca = kit_cand(&p.a, p.name), cb = kit_cand(&p.b, p.name);
  CHECK_OK(kit_acquire(&p.a, &ca, NULL, &err), &err);
  if (queue_and_arm(&p.b, &cb, &w)) {
    CHECK_EQ(kit_wakes_reach(&w, 1, 1, QUIET_MS), 0);
    int64_t t0 = kit_now_ms();
    CHECK_OK(kit_release(&p.a, &ca, &err), &err);
    CHECK_EQ(kit_wakes_reach(&w, 1, 1, WAKE_MS), 1);
    CHECK_LT(w.at - t0, WAKE_MS);
    CHECK(!pthread_equal(w.by, pthread_self()));
    printf("  woken %lld ms after the release\n", (long long)(w.at - t0));
    CHECK_OK(kit_acquire(&p.b, &cb, NULL, &err), &err);
    CHECK_GT(cb.token, ca.token);
  }
  kit_drop(&p.b, &cb);
  kit_drop(&p.a, &ca);
  kit_watch_pair_close(&p);
}

/* An observer's watch wakes when a leader is elected, when it proclaims,
 * and when it leaves; quiet in between. */
static void test_observer_wakes_on_every_change(void) {
  kit_watch_pair p;
  REQUIRE(kit_watch_pair_open(&p, &ZK, uri, uri, "wobs", "alice", "watcher"));
  baton_error err = {0};
  kit_wakes w = {.c = &p.kc};
  baton_candidate ca = kit_cand(&p.a, p.name), obs = kit_cand(&p.b, p.name);
  baton_leader seen = {0};
  static const char *const steps[] = {"elected", "proclaimed", "released"};
  for (int step = 0; step < 3; step++) {
    kit_wakes_reset(&w);
    if (!observe(&p.b, &obs, &seen, &w)) break;
    CHECK_EQ(kit_wakes_reach(&w, 1, 1, QUIET_MS), 0);
    int64_t t0 = kit_now_ms();
    if (step == 0) CHECK_OK(kit_acquire(&p.a, &ca, NULL, &err), &err);
    if (step == 1)
      CHECK_OK(ZK.proclaim(p.a.s, &ca, "v1", kit_deadline(KIT_CALL_MS), &err), &err);
    if (step == 2) CHECK_OK(kit_release(&p.a, &ca, &err), &err);
    CHECK_EQ(kit_wakes_reach(&w, 1, 1, WAKE_MS), 1);
    printf("  %s: woken %lld ms later\n", steps[step], (long long)(w.at - t0));
    if (step < 2) CHECK_OK(kit_leader(&p.b, p.name, &seen, &err), &err);
  }
  ZK.unwatch(p.b.s, &obs);
  kit_forget(&p.b, &obs);
  kit_drop(&p.a, &ca);
  kit_watch_pair_close(&p);
}

/* After unwatch no wake comes, and none after forget, even when the
 * ZooKeeper watch the forgotten candidate set fires later (ASan would see
 * a wake through freed memory). Observers armed beside them prove that
 * each release was heard. */
static void test_unwatch_and_forget_disarm(void) {
  kit_watch_pair p;
  REQUIRE(kit_watch_pair_open(&p, &ZK, uri, uri, "wun", "alice", "bob"));
  baton_error err = {0};
  kit_wakes w[3] = {{.c = &p.kc}, {.c = &p.kc}, {.c = &p.kc}}; /* cb, cc, obs */
  baton_candidate ca = kit_cand(&p.a, p.name), cb = kit_cand(&p.b, p.name);
  baton_candidate cc = kit_cand(&p.b, p.name), obs = kit_cand(&p.b, p.name);
  cc.slot = 1;
  obs.slot = 2;
  baton_leader holder = {0};
  CHECK_OK(kit_acquire(&p.a, &ca, NULL, &err), &err);
  CHECK_OK(kit_leader(&p.b, p.name, &holder, &err), &err);
  /* cb waits for ca, cc for cb; cc is forgotten at once, cb unwatched. */
  REQUIRE(queue_and_arm(&p.b, &cb, &w[0]) && queue_and_arm(&p.b, &cc, &w[1]));
  kit_forget(&p.b, &cc);
  ZK.unwatch(p.b.s, &cb);
  ZK.unwatch(p.b.s, &cb); /* idempotent */
  /* Forget right after watch, many times over: each forgotten node's
   * sweep fires the watch of the one queued behind it, forgotten too. */
  enum { GONE = 50 };
  kit_wakes gone[GONE];
  kit_forget_after_watch(&p.b, p.name, &p.kc, gone, GONE, 1);
  REQUIRE(observe(&p.b, &obs, &holder, &w[2]));
  CHECK_OK(kit_release(&p.a, &ca, &err), &err); /* fires cb's ZooKeeper watch */
  CHECK_EQ(kit_wakes_reach(&w[2], 1, 1, WAKE_MS), 1);
  kit_sleep_ms(QUIET_MS); /* a wake of cb would have come with the observer's */
  CHECK_EQ(kit_wakes_of(&w[0]), 0);
  /* cc's watch on cb's node fires now, cc long forgotten. */
  CHECK_OK(kit_leader(&p.b, p.name, &holder, &err), &err);
  kit_wakes_reset(&w[2]);
  REQUIRE(observe(&p.b, &obs, &holder, &w[2]));
  CHECK_OK(kit_release(&p.b, &cb, &err), &err);
  CHECK_EQ(kit_wakes_reach(&w[2], 1, 1, WAKE_MS), 1);
  kit_sleep_ms(QUIET_MS);
  CHECK_EQ(kit_wakes_of(&w[0]), 0);
  CHECK_EQ(kit_wakes_of(&w[1]), 0);
  CHECK_EQ(kit_wakes_reach(gone, GONE, 1, 0), 0);
  ZK.unwatch(p.b.s, &obs);
  kit_forget(&p.b, &obs);
  kit_drop(&p.b, &cb);
  kit_drop(&p.a, &ca);
  kit_watch_pair_close(&p);
}

/* 1,000 candidates of one session queued on one name, each watching its
 * predecessor: the holder's release wakes exactly one, the first in line,
 * and its release the next. No thread per watch. */
static void test_herd_one_release_wakes_one(void) {
  enum { HERD = 1000 };
  kit_herd herd;
  REQUIRE(kit_herd_open(&herd, &ZK, uri, "wherd", HERD));
  kit_session *b = &herd.p.b;
  kit_wakes *ws = herd.ws;
  baton_error err = {0};
  int threads = kit_threads();
  int64_t t_arm = kit_now_ms();
  int armed = 0;
  for (int i = 0; i < HERD; i++) {
    if (!queue_and_arm(b, &herd.cs[i], &ws[i])) break;
    armed++;
  }
  herd.armed = armed;
  printf("  %d watches armed in %lld ms; threads %d before, %d after\n", armed,
         (long long)kit_ms_since(t_arm), threads, kit_threads());
  CHECK_EQ(armed, HERD);
  CHECK_EQ(kit_threads(), threads);
  if (armed == HERD) {
    CHECK_EQ(kit_wakes_reach(ws, HERD, 1, QUIET_MS), 0);
    CHECK_OK(kit_release(&herd.p.a, &herd.ca, &err), &err);
    CHECK_EQ(kit_wakes_exactly_one(ws, HERD, WAKE_MS, 500), 0); /* the first in line */
    /* The first in line leaves without looking: the next one wakes. */
    CHECK_OK(kit_release(b, &herd.cs[0], &err), &err);
    CHECK_EQ(kit_wakes_reach(ws, HERD, 2, WAKE_MS), 2);
    kit_sleep_ms(QUIET_MS);
    CHECK_EQ(kit_wakes_reach(ws, HERD, 3, 0), 2);
    CHECK_EQ(kit_wakes_of(&ws[1]), 1);
  }
  kit_herd_close(&herd);
}

/* a holds the name (ca); b queues cs[0..queued) behind it and observes
 * it with cs[queued..n), each watch armed (counted in ws) and quiet for
 * QUIET_MS; *holder is the leader as a saw it. true, or false (reported).
 * drop_all undoes it, armed or not. */
static bool hold_and_arm(kit_watch_pair *p, baton_candidate *ca, baton_candidate *cs,
                         kit_wakes *ws, int n, int queued, baton_leader *holder) {
  baton_error err = {0};
  *ca = kit_cand(&p->a, p->name);
  CHECK_OK(kit_acquire(&p->a, ca, NULL, &err), &err);
  CHECK_OK(kit_leader(&p->a, p->name, holder, &err), &err);
  bool armed = true;
  for (int i = 0; i < n; i++) {
    ws[i] = (kit_wakes){.c = &p->kc};
    cs[i] = kit_cand(&p->b, p->name);
    cs[i].slot = (unsigned)i;
    armed = armed && (i < queued ? queue_and_arm(&p->b, &cs[i], &ws[i])
                                 : observe(&p->b, &cs[i], holder, &ws[i]));
  }
  if (armed) CHECK_EQ(kit_wakes_reach(ws, n, 1, QUIET_MS), 0);
  return armed && kit_wakes_reach(ws, n, 1, 0) == 0;
}

static void drop_all(kit_watch_pair *p, baton_candidate *ca, baton_candidate *cs, int n) {
  for (int i = 0; i < n; i++) ZK.unwatch(p->b.s, &cs[i]);
  for (int i = 0; i < n; i++) kit_drop(&p->b, &cs[i]);
  kit_drop(&p->a, ca);
}

/* The connection of a session that has armed watches is cut (the proxy
 * resets it): every armed watch, candidates' and observers', wakes. The
 * session survives the cut, and armed again the watches work as before. */
static void test_lost_connection_wakes_every_watch(void) {
  enum { QUEUED = 3, OBSERVERS = 2, ALL = QUEUED + OBSERVERS };
  proxy *px = NULL;
  REQUIRE(proxy_start(&px, server->member[0].port) == 0);
  char u[256];
  snprintf(u, sizeof u, "zk://127.0.0.1:%d/baton-watch", proxy_port(px));
  kit_watch_pair p;
  if (!kit_watch_pair_open(&p, &ZK, uri, u, "wcut", "alice", "cut")) {
    proxy_stop(px);
    return;
  }
  baton_error err = {0};
  kit_wakes ws[ALL];
  baton_candidate cs[ALL], ca;
  baton_leader holder = {0};
  if (hold_and_arm(&p, &ca, cs, ws, ALL, QUEUED, &holder)) {
    int64_t t0 = kit_now_ms();
    proxy_set_mode(px, PROXY_DROP, 0);
    proxy_set_mode(px, PROXY_PASS, 0);
    CHECK_EQ(kit_wakes_reach(ws, ALL, ALL, WAKE_MS), ALL);
    for (int i = 0; i < ALL; i++) CHECK_GE(kit_wakes_of(&ws[i]), 1);
    printf("  the cut woke %d of %d watches within %lld ms\n", kit_wakes_reach(ws, ALL, ALL, 0),
           ALL, (long long)kit_ms_since(t0));
    /* Once reconnected (the session kept), the queue works as before. */
    for (int i = 0; i < ALL; i++) {
      baton_leader seen = holder;
      int rc = -1;
      KIT_RETRY(rc, WAKE_MS, i < QUEUED ? kit_acquire(&p.b, &cs[i], &seen, &err)
                                        : kit_leader(&p.b, p.name, &seen, &err));
      CHECK_EQ(rc, i < QUEUED ? BATON_EHELD : 0);
      kit_wakes_reset(&ws[i]);
      CHECK_OK(kit_watch(&p.b, &cs[i], &seen, &ws[i], NULL, &err), &err);
    }
    CHECK_EQ(kit_wakes_reach(ws, ALL, 1, QUIET_MS), 0);
    CHECK_OK(kit_release(&p.a, &ca, &err), &err);
    CHECK_EQ(kit_wakes_reach(ws, ALL, 1 + OBSERVERS, WAKE_MS), 1 + OBSERVERS);
    CHECK_EQ(kit_wakes_of(&ws[0]), 1);
    CHECK_EQ(kit_wakes_of(&ws[1]), 0);
  }
  drop_all(&p, &ca, cs, ALL);
  kit_watch_pair_close(&p);
  proxy_stop(px);
}

/* The server ends the session of b, which has armed watches: every one
 * wakes. Armed again while the session is expired they set nothing on
 * the server, and the new session that renew opens wakes them all. */
static void test_expired_session_wakes_every_watch(void) {
  enum { QUEUED = 2, OBSERVERS = 1, ALL = QUEUED + OBSERVERS };
  kit_watch_pair p;
  REQUIRE(kit_watch_pair_open(&p, &ZK, uri, uri, "wexp", "alice", "expired"));
  baton_error err = {0};
  kit_wakes ws[ALL];
  baton_candidate cs[ALL], ca;
  baton_leader holder = {0};
  if (hold_and_arm(&p, &ca, cs, ws, ALL, QUEUED, &holder)) {
    char hosts[256];
    kit_member_addr(server, 0, hosts, sizeof hosts);
    const baton_zk_session *zs = (const baton_zk_session *)p.b.s;
    CHECK_EQ(kit_zk_expire(hosts, zoo_client_id(zs->conn->zh)), 0);
    CHECK_EQ(kit_wakes_reach(ws, ALL, ALL, 3 * WAKE_MS), ALL);
    for (int i = 0; i < ALL; i++) CHECK_GE(kit_wakes_of(&ws[i]), 1);
    /* Once the client knows (renew says ESESSION), watches armed wait
     * for the new session. The client may win its session back from the
     * other handle before that one's close ends it: then it is ended
     * again. */
    int rc = -1;
    for (int64_t end = kit_now_ms() + 10000; rc != BATON_ESESSION && kit_ms_left(end) > 0;) {
      rc = kit_renew(&p.b, NULL, 0, NULL, &err);
      if (rc == 0) kit_zk_expire(hosts, zoo_client_id(zs->conn->zh));
      if (rc != BATON_ESESSION) kit_sleep_ms(50);
    }
    CHECK_EQ(rc, BATON_ESESSION);
    for (int i = 0; i < ALL; i++) {
      kit_wakes_reset(&ws[i]);
      CHECK_OK(kit_watch(&p.b, &cs[i], &holder, &ws[i], NULL, &err), &err);
    }
    CHECK_EQ(kit_wakes_reach(ws, ALL, 1, QUIET_MS), 0);
    CHECK_OK(kit_renew(&p.b, NULL, 0, NULL, &err), &err); /* a new session */
    CHECK_EQ(kit_wakes_reach(ws, ALL, ALL, WAKE_MS), ALL);
    for (int i = 0; i < ALL; i++) CHECK_EQ(kit_wakes_of(&ws[i]), 1);
  }
  drop_all(&p, &ca, cs, ALL);
  kit_watch_pair_close(&p);
}

/* A candidate queued behind a fixed lease (a TTL node) on a server whose
 * reaper never comes in time: the watch asks to be looked at again when
 * the lease has surely ended, and that look (the core's, at recheck_at)
 * deletes it, as wait does, and wakes at once: the candidate wins. */
static void test_candidate_behind_an_ended_lease(void) {
  test_cluster *zk = kit_fresh_server("zk-noreap"); /* stopped after the case */
  REQUIRE(zk != NULL);
  char u[1200];
  snprintf(u, sizeof u, "%s/baton-watch", zk->uri);
  kit_watch_pair p;
  REQUIRE(kit_watch_pair_open(&p, &ZK, u, u, "wlease", "leaser", "bob"));
  baton_error err = {0};
  kit_wakes w = {.c = &p.kc};
  baton_candidate cb = kit_cand(&p.b, p.name);
  uint64_t token = 0;
  CHECK_OK(ZK.lease_acquire(p.a.s, p.name, "leaser", 1000 * BATON_NS_PER_MS, &token, NULL,
                            kit_deadline(KIT_CALL_MS), &err),
           &err);
  baton_leader holder = {0};
  CHECK_EQ(kit_acquire(&p.b, &cb, &holder, &err), BATON_EHELD);
  int64_t t = baton__now(), recheck_at = 0;
  CHECK_OK(kit_watch(&p.b, &cb, &holder, &w, &recheck_at, &err), &err);
  CHECK_GT(recheck_at, t + 1000 * BATON_NS_PER_MS);
  CHECK_LT(recheck_at, t + 2000 * BATON_NS_PER_MS);
  CHECK_EQ(kit_wakes_reach(&w, 1, 1, QUIET_MS), 0);
  /* The core's timer: nothing wakes it before recheck_at. */
  int64_t left = recheck_at - baton__now();
  if (left > 0) kit_sleep_ms((int)(left / BATON_NS_PER_MS) + 1);
  CHECK_EQ(kit_wakes_of(&w), 0);
  CHECK_EQ(kit_acquire(&p.b, &cb, &holder, &err), BATON_EHELD); /* no reaper came */
  CHECK_OK(kit_watch(&p.b, &cb, &holder, &w, &recheck_at, &err), &err);
  CHECK_EQ(kit_wakes_reach(&w, 1, 1, WAKE_MS), 1);
  CHECK_OK(kit_acquire(&p.b, &cb, NULL, &err), &err);
  CHECK_GT(cb.token, token);
  kit_drop(&p.b, &cb);
  kit_watch_pair_close(&p);
}

/* Last: every name below the chroot is empty again, and no request of a
 * closed session lives on. */
static void test_no_orphans(void) {
  char hosts[256];
  kit_member_addr(server, 0, hosts, sizeof hosts);
  zhandle_t *raw = kit_zk_raw(hosts, NULL);
  REQUIRE(raw != NULL);
  char left[2048];
  if (kit_zk_leftovers(raw, "/baton-watch", left, sizeof left) != 0)
    TEST_FAIL_("left behind: %s", left);
  zookeeper_close(raw);
  CHECK_EQ(baton__zk_calls_live(), 0);
}

int main(int argc, char **argv) {
  static const test_case cases[] = {
      {"candidate_wakes_on_release", test_candidate_wakes_on_release},
      {"observer_wakes_on_every_change", test_observer_wakes_on_every_change},
      {"unwatch_and_forget_disarm", test_unwatch_and_forget_disarm},
      {"herd_one_release_wakes_one", test_herd_one_release_wakes_one},
      {"lost_connection_wakes_every_watch", test_lost_connection_wakes_every_watch},
      {"expired_session_wakes_every_watch", test_expired_session_wakes_every_watch},
      {"candidate_behind_an_ended_lease", test_candidate_behind_an_ended_lease},
      {"no_orphans", test_no_orphans},
      {NULL, NULL},
  };
  if ((server = kit_server("zk")) == NULL) return 1; /* a missing server fails */
  snprintf(uri, sizeof uri, "%s/baton-watch", server->uri);
  return test_main(argc, argv, cases);
}
