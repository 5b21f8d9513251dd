/* watch_test.c — the postgres:// backend's subscriptions (watch, unwatch)
 * against a real PostgreSQL server: a refused candidate is woken by the
 * holder's NOTIFY and by nothing else, an observer by every change, one
 * release wakes one of 1,000 armed candidates of a session (and passes on
 * when that one leaves without looking), nothing wakes after unwatch or
 * forget, a holder that is not baton is looked at again soon, and a
 * terminated listener wakes every armed watch. All of it on one listener
 * thread per session. */
#include "postgres.h"
#include "postgres_kit.h"
#include "test.h"
#include "wakes.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG baton_backend_postgres

/* How long an armed watch must stay quiet while nothing changes, and how
 * soon after a change it must have woken. */
#define QUIET_MS 200
#define WAKE_MS 2000

static test_cluster *server; /* the suite's (kit_server) */

/* Look as the core does (a candidate: acquire, refused; an observer:
 * leader, into *seen) and arm c's watch, until it stays quiet for
 * QUIET_MS: the first watch of a candidate wakes at once (its look came
 * before its LISTEN). true, or false (reported); *recheck_at as the last
 * watch said (may be NULL). */
static bool arm_quiet(kit_session *k, baton_candidate *c, bool candidate, baton_leader *seen,
                      kit_wakes *w, int64_t *recheck_at) {
  baton_error err = {0};
  for (int round = 0; round < 5; round++) {
    kit_wakes_reset(w);
    baton_leader now = {0};
    int rc = candidate ? kit_acquire(k, c, &now, &err) : kit_leader(k, c->name, &now, &err);
    if (rc != (candidate ? BATON_EHELD : 0) && !(rc == BATON_ENOLEADER && !candidate)) {
      TEST_FAIL_("%s: look before the watch: %s", c->name, err.message);
      return false;
    }
    if (seen != NULL) *seen = now;
    rc = kit_watch(k, c, &now, w, recheck_at, &err);
    if (rc != 0) {
      TEST_FAIL_("%s: watch: %s", c->name, err.message);
      return false;
    }
    if (kit_wakes_reach(w, 1, 1, QUIET_MS) == 0) return true;
  }
  TEST_FAIL_("the watch of %s never stopped waking", c->name);
  return false;
}

/* A refused candidate's watch stays quiet while the holder holds; the
 * release's NOTIFY wakes it on the listener thread; looking again wins.
 * Its recheck_at is the holder's expiry, a TTL away at most. */
static void candidate_wakes_on_release(void) {
  kit_watch_pair p;
  REQUIRE(kit_watch_pair_open(&p, &PG, server->uri, server->uri, "wcand", "alice", "bob"));
  baton_error err = {0};
  kit_wakes w = {.c = &p.kc};
  baton_candidate ca = kit_cand(&p.a, p.name), cb = kit_cand(&p.b, p.name);
  CHECK_OK(kit_acquire(&p.a, &ca, NULL, &err), &err);
  int threads = kit_threads();
  int64_t recheck_at = 0;
  if (arm_quiet(&p.b, &cb, true, NULL, &w, &recheck_at)) {
    CHECK_GT(recheck_at, baton__now());
    CHECK_LE(recheck_at, baton__now() + p.b.cfg.ttl_ns + 100 * BATON_NS_PER_MS);
    CHECK_EQ(kit_threads(), threads + 1); /* the session's listener thread */
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
  CHECK_EQ(kit_threads(), threads); /* close stopped it */
}

/* An observer's watch wakes when a leader is elected, proclaims, and
 * leaves; quiet in between. */
static void observer_wakes_on_every_change(void) {
  kit_watch_pair p;
  REQUIRE(kit_watch_pair_open(&p, &PG, server->uri, server->uri, "wobs", "alice", "watcher"));
  baton_error err = {0};
  kit_wakes w = {.c = &p.kc};
  baton_candidate ca = kit_cand(&p.a, p.name), obs = kit_cand(&p.b, p.name);
  static const char *const steps[] = {"elected", "proclaimed", "released"};
  for (int step = 0; step < 3; step++) {
    if (!arm_quiet(&p.b, &obs, false, NULL, &w, NULL)) break;
    int64_t t0 = kit_now_ms();
    if (step == 0) CHECK_OK(kit_acquire(&p.a, &ca, NULL, &err), &err);
    if (step == 1)
      CHECK_OK(PG.proclaim(p.a.s, &ca, "v1", kit_deadline(KIT_CALL_MS), &err), &err);
    if (step == 2) CHECK_OK(kit_release(&p.a, &ca, &err), &err);
    CHECK_EQ(kit_wakes_reach(&w, 1, 1, WAKE_MS), 1);
    printf("  %s: woken %lld ms later\n", steps[step], (long long)(w.at - t0));
  }
  PG.unwatch(p.b.s, &obs);
  kit_forget(&p.b, &obs);
  kit_drop(&p.a, &ca);
  kit_watch_pair_close(&p);
}

/* After unwatch no wake comes, nor after a forget right after a watch;
 * an observer armed beside them proves that the release was heard. */
static void unwatch_and_forget_disarm(void) {
  kit_watch_pair p;
  REQUIRE(kit_watch_pair_open(&p, &PG, server->uri, server->uri, "wun", "alice", "bob"));
  baton_error err = {0};
  kit_wakes w[2] = {{.c = &p.kc}, {.c = &p.kc}}; /* cb, obs */
  baton_candidate ca = kit_cand(&p.a, p.name), cb = kit_cand(&p.b, p.name);
  baton_candidate obs = kit_cand(&p.b, p.name);
  obs.slot = 1;
  CHECK_OK(kit_acquire(&p.a, &ca, NULL, &err), &err);
  REQUIRE(arm_quiet(&p.b, &cb, true, NULL, &w[0], NULL));
  REQUIRE(arm_quiet(&p.b, &obs, false, NULL, &w[1], NULL));
  PG.unwatch(p.b.s, &cb);
  PG.unwatch(p.b.s, &cb); /* idempotent */
  /* Forget right after a watch, many times over (each armed after its
   * first watch, which wakes at once, and a look). */
  enum { GONE = 50 };
  kit_wakes gone[GONE];
  kit_forget_after_watch(&p.b, p.name, &p.kc, gone, GONE, 2);
  CHECK_OK(kit_release(&p.a, &ca, &err), &err);
  CHECK_EQ(kit_wakes_reach(&w[1], 1, 1, WAKE_MS), 1);
  kit_sleep_ms(QUIET_MS); /* a wake of cb would have come with the observer's */
  CHECK_EQ(kit_wakes_of(&w[0]), 0);
  CHECK_EQ(kit_wakes_reach(gone, GONE, 1, 0), 0);
  PG.unwatch(p.b.s, &obs);
  kit_forget(&p.b, &obs);
  kit_drop(&p.b, &cb);
  kit_drop(&p.a, &ca);
  kit_watch_pair_close(&p);
}

/* 1,000 candidates of one session armed on one name held by another
 * session: the release wakes exactly one, the first armed. When that one
 * leaves without looking (unwatch, then forget), the wake passes on at
 * once. The session runs one thread for all of them, and LISTENs to the
 * name's channel once: a candidate whose name is listened to already
 * subscribes with no request. Forgotten, they leave nothing in the name
 * index. */
static void herd_one_release_wakes_one(void) {
  enum { HERD = 1000 };
  kit_herd herd;
  REQUIRE(kit_herd_open(&herd, &PG, server->uri, "wherd", HERD));
  kit_session *b = &herd.p.b;
  baton_candidate *cs = herd.cs;
  kit_wakes *ws = herd.ws;
  baton_error err = {0};
  int threads = kit_threads();
  int64_t t_arm = kit_now_ms();
  int armed = 0;
  baton_pg_session *sb = (baton_pg_session *)b->s;
  unsigned long watch_requests = 0; /* of every watch but the first */
  /* Each first watch wakes at once (see arm_quiet); armed again after a
   * look, it stays quiet. */
  for (int i = 0; i < HERD; i++) {
    baton_leader h = {0};
    if (kit_acquire(b, &cs[i], &h, &err) != BATON_EHELD) break;
    unsigned long before = __atomic_load_n(&sb->requests, __ATOMIC_RELAXED);
    if (kit_watch(b, &cs[i], &h, &ws[i], NULL, &err) != 0) break;
    if (i > 0) watch_requests += __atomic_load_n(&sb->requests, __ATOMIC_RELAXED) - before;
    armed++;
  }
  herd.armed = armed;
  CHECK_EQ(armed, HERD);
  /* One LISTEN for the name; the listener thread may probe meanwhile. */
  CHECK_LT(watch_requests, 10);
  CHECK_EQ(kit_wakes_reach(ws, armed, armed, WAKE_MS), armed);
  for (int i = 0; i < armed; i++) {
    kit_wakes_reset(&ws[i]);
    baton_leader h = {0};
    CHECK_EQ(kit_acquire(b, &cs[i], &h, &err), BATON_EHELD);
    CHECK_OK(kit_watch(b, &cs[i], &h, &ws[i], NULL, &err), &err);
  }
  printf("  %d watches armed in %lld ms; threads %d before, %d after\n", armed,
         (long long)kit_ms_since(t_arm), threads, kit_threads());
  CHECK_EQ(kit_threads(), threads + 1);
  if (armed == HERD) {
    CHECK_EQ(kit_wakes_reach(ws, HERD, 1, QUIET_MS), 0);
    CHECK_OK(kit_release(&herd.p.a, &herd.ca, &err), &err);
    CHECK_EQ(kit_wakes_exactly_one(ws, HERD, WAKE_MS, 500), 0); /* the first armed */
    /* The woken one leaves without looking: the next armed wakes before
     * unwatch (or forget) returns, with no margin waited out. */
    PG.unwatch(b->s, &cs[0]);
    CHECK_EQ(kit_wakes_reach(ws, HERD, 2, 0), 2);
    CHECK_EQ(kit_wakes_of(&ws[1]), 1);
    kit_forget(b, &cs[1]);
    CHECK_EQ(kit_wakes_reach(ws, HERD, 3, 0), 3);
    CHECK_EQ(kit_wakes_of(&ws[2]), 1);
    kit_sleep_ms(QUIET_MS);
    CHECK_EQ(kit_wakes_reach(ws, HERD, 4, 0), 3);
  }
  kit_herd_drop(&herd);
  pthread_mutex_lock(&sb->lmu);
  CHECK_EQ(sb->nnames, 0);
  pthread_mutex_unlock(&sb->lmu);
  kit_herd_close(&herd);
}

/* A holder that is not baton (a plain SQL advisory lock) says nothing when
 * it lets go: the watch asks to be looked at again soon (at most 250 ms),
 * the interval growing from look to look (baton__next_look). */
static void plain_sql_holder_is_looked_at_soon(void) {
  const char *name = kit_name("wplain");
  PGconn *raw = kit_pg_raw(server);
  REQUIRE(raw != NULL);
  kit_session b;
  baton_error err = {0};
  int rc = kit_open_as(&b, &PG, server->uri, "bob", 0, &err);
  CHECK_OK(rc, &err);
  if (rc != 0) {
    PQfinish(raw);
    return;
  }
  kit_cond kc;
  kit_cond_init(&kc);
  kit_wakes w = {.c = &kc};
  char got[32];
  CHECK_EQ(kit_pg_str(raw, got, sizeof got,
                      "SELECT pg_advisory_lock(" KIT_PG_KEY("$1::text") ")::text", name, NULL),
           0);
  baton_candidate cb = kit_cand(&b, name);
  int64_t first = 0, last = 0;
  /* The first watch subscribes and wakes at once: no recheck_at then. */
  for (int look = 0; look < 5; look++) {
    baton_leader h = {0};
    CHECK_EQ(kit_acquire(&b, &cb, &h, &err), BATON_EHELD);
    int64_t t = baton__now(), recheck_at = 0;
    CHECK_OK(kit_watch(&b, &cb, &h, &w, &recheck_at, &err), &err);
    int64_t in = recheck_at - t;
    if (look == 0) {
      CHECK_EQ(kit_wakes_reach(&w, 1, 1, WAKE_MS), 1);
      PG.unwatch(b.s, &cb);
      continue;
    }
    CHECK_GT(in, 0);
    CHECK_LE(in, 250 * BATON_NS_PER_MS);
    if (look == 1) first = in;
    last = in;
    PG.unwatch(b.s, &cb);
  }
  printf("  looked at again in %lld ms, then at last %lld ms\n",
         (long long)(first / BATON_NS_PER_MS), (long long)(last / BATON_NS_PER_MS));
  CHECK_GT(last, first);
  kit_drop(&b, &cb);
  kit_close(&b);
  PQfinish(raw);
  kit_cond_destroy(&kc);
}

/* The listener connection is terminated by the server: every armed watch
 * wakes, candidates' and observers'; armed again (on a new listener), a
 * release wakes the first candidate and every observer. */
static void terminated_listener_wakes_every_watch(void) {
  enum { CANDS = 3, OBSERVERS = 2, ALL = CANDS + OBSERVERS };
  PGconn *raw = kit_pg_raw(server);
  REQUIRE(raw != NULL);
  kit_watch_pair p;
  if (!kit_watch_pair_open(&p, &PG, server->uri, server->uri, "wcut", "alice", "cut")) {
    PQfinish(raw);
    return;
  }
  baton_error err = {0};
  kit_wakes ws[ALL];
  baton_candidate cs[ALL];
  baton_candidate ca = kit_cand(&p.a, p.name);
  CHECK_OK(kit_acquire(&p.a, &ca, NULL, &err), &err);
  bool armed = true;
  for (int i = 0; i < ALL; i++) {
    ws[i] = (kit_wakes){.c = &p.kc};
    cs[i] = kit_cand(&p.b, p.name);
    cs[i].slot = (unsigned)i;
    armed = armed && arm_quiet(&p.b, &cs[i], i < CANDS, NULL, &ws[i], NULL);
  }
  if (armed) {
    /* The listener's last statement was a LISTEN of this test's: nothing
     * else of the server's clients listens. */
    char n[16];
    int64_t t0 = kit_now_ms();
    CHECK_EQ(kit_pg_str(raw, n, sizeof n,
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                        "strpos(query, 'LISTEN %I') > 0 AND pid <> pg_backend_pid()",
                        NULL),
             0);
    CHECK_STR(n, "1");
    CHECK_EQ(kit_wakes_reach(ws, ALL, ALL, WAKE_MS), ALL);
    for (int i = 0; i < ALL; i++) CHECK_GE(kit_wakes_of(&ws[i]), 1);
    printf("  the termination woke %d of %d watches within %lld ms\n",
           kit_wakes_reach(ws, ALL, ALL, 0), ALL, (long long)kit_ms_since(t0));
    for (int i = 0; i < ALL; i++)
      armed = armed && arm_quiet(&p.b, &cs[i], i < CANDS, NULL, &ws[i], NULL);
  }
  if (armed) {
    CHECK_OK(kit_release(&p.a, &ca, &err), &err);
    CHECK_EQ(kit_wakes_reach(ws, ALL, 1 + OBSERVERS, WAKE_MS), 1 + OBSERVERS);
    kit_sleep_ms(QUIET_MS);
    CHECK_EQ(kit_wakes_reach(ws, CANDS, CANDS, 0), 1);
    for (int i = CANDS; i < ALL; i++) CHECK_EQ(kit_wakes_of(&ws[i]), 1);
  }
  for (int i = 0; i < ALL; i++) PG.unwatch(p.b.s, &cs[i]);
  for (int i = 0; i < ALL; i++) kit_drop(&p.b, &cs[i]);
  kit_drop(&p.a, &ca);
  kit_watch_pair_close(&p);
  PQfinish(raw);
}

int main(int argc, char **argv) {
  if ((server = kit_server("postgres")) == NULL) return 1; /* a missing server fails */
  static const test_case cases[] = {
      {"candidate_wakes_on_release", candidate_wakes_on_release},
      {"observer_wakes_on_every_change", observer_wakes_on_every_change},
      {"unwatch_and_forget_disarm", unwatch_and_forget_disarm},
      {"herd_one_release_wakes_one", herd_one_release_wakes_one},
      {"plain_sql_holder_is_looked_at_soon", plain_sql_holder_is_looked_at_soon},
      {"terminated_listener_wakes_every_watch", terminated_listener_wakes_every_watch},
      {NULL, NULL},
  };
  return test_main(argc, argv, cases);
}
