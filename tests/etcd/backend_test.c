/* backend_test.c — the etcd backend table against one real etcd member:
 * elections, queueing and wake-ups, leases, etcdctl interop, deadlines
 * and auth. */
#include "etcd.h"
#include "etcd_kit.h"
#include "test.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define B baton_backend_etcd

static test_cluster etcd; /* started once in main */

static const char *endpoint(void) {
  static char buf[64];
  return kit_member_addr(&etcd, 0, buf, sizeof buf);
}

/* Run etcdctl against the shared member; returns its exit status. */
static int etcdctl(char *out, size_t size, const char *a1, const char *a2, const char *a3,
                   const char *a4) {
  const char *args[] = {a1, a2, a3, a4, NULL};
  return kit_etcd_ctl(endpoint(), out, size, args);
}

static int open_named(kit_session *k, const char *identity, baton_error *err) {
  baton_options o = {.identity = identity};
  return kit_open(k, &B, etcd.uri, &o, 5000, err);
}

static uint64_t requests(kit_session *k) { return kit_etcd_requests(k); }

static uint64_t connects(kit_session *k) { return kit_etcd_connects(k); }

/* The member's WAL syncs so far, from its /metrics; -1 if unreadable. A
 * write through Raft costs one, a read none. */
static long long wal_syncs(void) {
  static const char name[] = "\netcd_disk_wal_fsync_duration_seconds_count ";
  char *metrics = NULL;
  long long n = -1;
  if (kit_etcd_http(&etcd, "/metrics", NULL, &metrics) == 200) {
    const char *at = strstr(metrics, name);
    if (at != NULL) n = strtoll(at + sizeof name - 1, NULL, 10);
  }
  free(metrics);
  return n;
}

/* The candidate's own key, as the backend made it. */
static const char *own_key(const baton_candidate *c) {
  const baton_etcd_cand *ec = c->priv;
  return ec != NULL && ec->key != NULL ? ec->key : "(none)";
}

/* ---- URIs and bad arguments ---------------------------------------------- */

static void rejects_bad_uris_and_arguments(void) {
  static const struct {
    const char *uri, *says;
    int code;
  } bad[] = {
      {"etcd://127.0.0.1:2379?timeout=5", "unknown parameter 'timeout'", BATON_EINVAL},
      {"etcd://127.0.0.1:2379?cacert=/etc/hostname", "use etcds://", BATON_EINVAL},
      {"etcds://127.0.0.1:2379?cert=/etc/hostname", "needs its key", BATON_EINVAL},
      {"etcds://127.0.0.1:2379?cacert=/nonexistent/ca.pem", "not readable", BATON_EINVAL},
      {"etcd://127.0.0.1:1", "127.0.0.1:1", BATON_ECONNECT},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    kit_session k;
    baton_error err = {0};
    int64_t t0 = kit_now_ms();
    CHECK_EQ(kit_open(&k, &B, bad[i].uri, NULL, 2000, &err), bad[i].code);
    CHECK_CONTAINS(err.message, bad[i].says);
    CHECK_LT(kit_ms_since(t0), 2500);
  }
  baton_error err = {0};
  CHECK_EQ(B.open(NULL, NULL, NULL, kit_deadline(100), &err), BATON_EINVAL);
  CHECK_EQ(B.acquire(NULL, NULL, NULL, kit_deadline(100), &err), BATON_EINVAL);
  CHECK_EQ(B.release(NULL, NULL, kit_deadline(100), &err), BATON_EINVAL);
  CHECK_EQ(B.leader(NULL, "x", NULL, kit_deadline(100), &err), BATON_EINVAL);
  CHECK_EQ(B.wait(NULL, NULL, NULL, kit_deadline(100), -1, &err), BATON_EINVAL);
  CHECK_EQ(B.renew(NULL, NULL, 0, NULL, kit_deadline(100), &err), BATON_EINVAL);
  B.close(NULL);
  B.forget(NULL, NULL);
}

/* ---- One candidate -------------------------------------------------------- */

static void acquire_leader_release(void) {
  kit_session k;
  baton_error err = {0};
  REQUIRE_OK(open_named(&k, "solo", &err), &err);
  CHECK_EQ(k.s->server_ttl_ns, 10 * 1000 * BATON_NS_PER_MS); /* default ttl 10 s */
  baton_candidate c = kit_cand(&k, "t.solo");
  baton_leader who;
  CHECK_EQ(B.leader(k.s, "t.solo", &who, kit_deadline(2000), &err), BATON_ENOLEADER);

  uint64_t before = requests(&k);
  CHECK_OK(B.acquire(k.s, &c, NULL, kit_deadline(2000), &err), &err);
  CHECK_GT(c.token, 0);
  CHECK_OK(B.release(k.s, &c, kit_deadline(2000), &err), &err);
  /* The brief: an uncontended acquire + release is exactly 2 requests. */
  CHECK_EQ(requests(&k) - before, 2);

  CHECK_OK(B.acquire(k.s, &c, NULL, kit_deadline(2000), &err), &err);
  uint64_t token = c.token;
  CHECK_OK(B.acquire(k.s, &c, NULL, kit_deadline(2000), &err), &err); /* again: same term */
  CHECK_EQ(c.token, token);
  CHECK_OK(B.leader(k.s, "t.solo", &who, kit_deadline(2000), &err), &err);
  CHECK_STR(who.identity, "solo");
  CHECK_EQ(who.token, token);

  /* The key is etcd's election layout: NAME/<lease in hex> = identity. */
  char out[512], key[128];
  snprintf(key, sizeof key, "t.solo/%" PRIx64, (uint64_t)baton__etcd_session_lease(k.s));
  CHECK_EQ(etcdctl(out, sizeof out, "get", "--prefix", "t.solo/", NULL), 0);
  CHECK_CONTAINS(out, key);
  CHECK_CONTAINS(out, "\nsolo");

  CHECK_OK(B.release(k.s, &c, kit_deadline(2000), &err), &err);
  uint64_t r = requests(&k);
  CHECK_OK(B.release(k.s, &c, kit_deadline(2000), &err), &err); /* idempotent */
  CHECK_EQ(requests(&k), r);
  CHECK_EQ(B.leader(k.s, "t.solo", &who, kit_deadline(2000), &err), BATON_ENOLEADER);
  CHECK_CONTAINS(err.message, "no leader");
  kit_forget(&k, &c);
  kit_close(&k);
}

/* Keep-alive: many requests, one connection per lane. */
static void reuses_connections(void) {
  kit_session k;
  baton_error err = {0};
  REQUIRE_OK(open_named(&k, "reuse", &err), &err);
  baton_candidate c = kit_cand(&k, "t.reuse");
  CHECK_OK(B.acquire(k.s, &c, NULL, kit_deadline(2000), &err), &err);
  uint64_t conns = connects(&k);
  for (int i = 0; i < 20; i++) {
    CHECK_OK(B.release(k.s, &c, kit_deadline(2000), &err), &err);
    CHECK_OK(B.acquire(k.s, &c, NULL, kit_deadline(2000), &err), &err);
    CHECK_OK(B.renew(k.s, NULL, 0, NULL, kit_deadline(2000), &err), &err);
  }
  CHECK_EQ(connects(&k), conns + 0);
  CHECK_OK(B.release(k.s, &c, kit_deadline(2000), &err), &err);
  kit_forget(&k, &c);
  kit_close(&k);
}

static void prefix_comes_from_the_path(void) {
  char uri[1100];
  snprintf(uri, sizeof uri, "%s/app/", etcd.uri);
  kit_session k;
  baton_error err = {0};
  baton_options o = {.identity = "prefixed"};
  REQUIRE_OK(kit_open(&k, &B, uri, &o, 5000, &err), &err);
  baton_candidate c = kit_cand(&k, "t.pfx");
  CHECK_OK(B.acquire(k.s, &c, NULL, kit_deadline(2000), &err), &err);
  char out[512], key[128];
  snprintf(key, sizeof key, "app/t.pfx/%" PRIx64, (uint64_t)baton__etcd_session_lease(k.s));
  CHECK_EQ(etcdctl(out, sizeof out, "get", "--prefix", "--keys-only", "app/"), 0);
  CHECK_CONTAINS(out, key);
  CHECK_OK(B.release(k.s, &c, kit_deadline(2000), &err), &err);
  kit_forget(&k, &c);
  kit_close(&k);
}

/* ---- Queue --------------------------------------------------------------------- */

static void second_candidate_queues_and_is_woken(void) {
  kit_session a, b;
  baton_error err = {0};
  REQUIRE_OK(open_named(&a, "alpha", &err), &err);
  REQUIRE_OK(open_named(&b, "bravo", &err), &err);
  baton_candidate ca = kit_cand(&a, "t.queue");
  baton_candidate cb = kit_cand(&b, "t.queue");
  baton_candidate cb2 = kit_cand(&b, "t.queue.other");
  CHECK_OK(B.acquire(a.s, &ca, NULL, kit_deadline(2000), &err), &err);
  baton_leader holder = {0};
  CHECK_EQ(B.acquire(b.s, &cb, &holder, kit_deadline(2000), &err), BATON_EHELD);
  CHECK_STR(holder.identity, "alpha");
  CHECK_EQ(holder.token, ca.token);
  CHECK_CONTAINS(err.message, "alpha");

  kit_waiter w;
  REQUIRE_EQ(kit_waiter_start(&w, &b, &cb, NULL, 10000), 0);
  /* Let the waiter reach its watch (no event says it has); it must not
   * return meanwhile. */
  CHECK_EQ(kit_waiters_done(&w, 1, 1, 300), 0);
  int64_t t0 = kit_now_ms();
  CHECK_OK(B.release(a.s, &ca, kit_deadline(2000), &err), &err);
  kit_waiter_join(&w);
  CHECK_OK(w.rc, &w.err);
  int64_t woke_ms = (w.woke_at - t0);
  printf("  hand-over wake-up: %lld ms after the release was sent\n", (long long)woke_ms);
  CHECK_LT(woke_ms, TEST_SLACK_MS);
  CHECK_OK(B.acquire(b.s, &cb, NULL, kit_deadline(2000), &err), &err);
  CHECK_GT(cb.token, ca.token);

  /* A queued candidate's release deletes only its own key. */
  CHECK_EQ(B.acquire(a.s, &ca, NULL, kit_deadline(2000), &err), BATON_EHELD);
  CHECK_OK(B.release(a.s, &ca, kit_deadline(2000), &err), &err);
  baton_leader who;
  CHECK_OK(B.leader(a.s, "t.queue", &who, kit_deadline(2000), &err), &err);
  CHECK_STR(who.identity, "bravo");
  CHECK_EQ(who.token, cb.token);
  /* Two elections share the session's one lease. */
  CHECK_OK(B.acquire(b.s, &cb2, NULL, kit_deadline(2000), &err), &err);
  CHECK_OK(B.release(b.s, &cb2, kit_deadline(2000), &err), &err);
  CHECK_OK(B.release(b.s, &cb, kit_deadline(2000), &err), &err);
  kit_forget(&a, &ca);
  kit_forget(&b, &cb);
  kit_forget(&b, &cb2);
  kit_close(&a);
  kit_close(&b);
}

static void three_candidates_in_order(void) {
  kit_session k[3];
  baton_candidate c[3];
  baton_error err = {0};
  const char *ids[3] = {"first", "second", "third"};
  for (int i = 0; i < 3; i++) {
    REQUIRE_OK(open_named(&k[i], ids[i], &err), &err);
    c[i] = kit_cand(&k[i], "t.fifo");
  }
  CHECK_OK(B.acquire(k[0].s, &c[0], NULL, kit_deadline(2000), &err), &err);
  CHECK_EQ(B.acquire(k[1].s, &c[1], NULL, kit_deadline(2000), &err), BATON_EHELD);
  CHECK_EQ(B.acquire(k[2].s, &c[2], NULL, kit_deadline(2000), &err), BATON_EHELD);
  kit_waiter w1, w2;
  REQUIRE_EQ(kit_waiter_start(&w2, &k[2], &c[2], NULL, 10000), 0);
  REQUIRE_EQ(kit_waiter_start(&w1, &k[1], &c[1], NULL, 10000), 0);
  CHECK_EQ(kit_waiters_done(&w2, 1, 1, 200), 0);
  CHECK_EQ(kit_waiters_done(&w1, 1, 1, 0), 0);
  CHECK_OK(B.release(k[0].s, &c[0], kit_deadline(2000), &err), &err);
  kit_waiter_join(&w1);
  CHECK_OK(w1.rc, &w1.err);
  CHECK_OK(B.acquire(k[1].s, &c[1], NULL, kit_deadline(2000), &err), &err);
  /* The third watches the second, so the first's leaving did not wake it. */
  CHECK_EQ(kit_waiters_done(&w2, 1, 1, 200), 0);
  CHECK_OK(B.release(k[1].s, &c[1], kit_deadline(2000), &err), &err);
  kit_waiter_join(&w2);
  CHECK_OK(w2.rc, &w2.err);
  CHECK_OK(B.acquire(k[2].s, &c[2], NULL, kit_deadline(2000), &err), &err);
  CHECK_LT(c[0].token, c[1].token);
  CHECK_LT(c[1].token, c[2].token);
  CHECK_OK(B.release(k[2].s, &c[2], kit_deadline(2000), &err), &err);
  for (int i = 0; i < 3; i++) {
    kit_forget(&k[i], &c[i]);
    kit_close(&k[i]);
  }
}

/* ---- Re-checks and hand-over: what they cost, and what never elects ------------ */

static const char *const queue_ids[3] = {"alpha", "bravo", "charlie"};

/* n (<= 3) sessions named from queue_ids, each with a candidate on
 * `name`: the first leads, the others queue in order. 0, or -1 with
 * nothing left open. */
static int queue_up(kit_session k[], baton_candidate c[], int n, const char *name) {
  baton_error err = {0};
  for (int i = 0; i < n; i++) {
    if (open_named(&k[i], queue_ids[i], &err) != 0) {
      TEST_FAIL_("open %s: %s", queue_ids[i], err.message);
      while (i-- > 0) kit_close(&k[i]);
      return -1;
    }
    c[i] = kit_cand(&k[i], name);
    CHECK_EQ(B.acquire(k[i].s, &c[i], NULL, kit_deadline(2000), &err), i == 0 ? 0 : BATON_EHELD);
  }
  return 0;
}

/* Release (if still ours) and forget every candidate; close every session. */
static void queue_done(kit_session k[], baton_candidate c[], int n) {
  for (int i = 0; i < n; i++) kit_drop(&k[i], &c[i]);
  for (int i = 0; i < n; i++) kit_close(&k[i]);
}

/* Start a waiter for each queued candidate (c[1..n)) into w[0..n-1), and
 * let them reach their watches. */
static void queue_wait(kit_session k[], baton_candidate c[], int n, kit_waiter w[]) {
  for (int i = 1; i < n; i++) CHECK_EQ(kit_waiter_start(&w[i - 1], &k[i], &c[i], NULL, 10000), 0);
  CHECK_EQ(kit_waiters_done(w, n - 1, 1, 300), 0);
}

/* The token of a candidate's own key as the backend made it. */
static uint64_t own_revision(const baton_candidate *c) {
  return (uint64_t)((const baton_etcd_cand *)c->priv)->create_revision;
}

/* A queued candidate looks again with a read, not the put-if-absent txn
 * (which costs a WAL sync even when its compare fails); so does a holder. */
static void queued_candidate_rechecks_with_a_read(void) {
  kit_session k[2];
  baton_candidate c[2];
  baton_error err = {0};
  REQUIRE_EQ(queue_up(k, c, 2, "t.recheck"), 0);
  uint64_t r = requests(&k[1]);
  long long w = wal_syncs();
  REQUIRE(w >= 0);
  baton_leader holder = {0};
  CHECK_EQ(B.acquire(k[1].s, &c[1], &holder, kit_deadline(2000), &err), BATON_EHELD);
  CHECK_STR(holder.identity, "alpha");
  CHECK_EQ(holder.token, c[0].token);
  CHECK_EQ(requests(&k[1]) - r, 1);
  CHECK_EQ(wal_syncs() - w, 0);

  uint64_t token = c[0].token;
  r = requests(&k[0]);
  w = wal_syncs();
  CHECK_OK(B.acquire(k[0].s, &c[0], NULL, kit_deadline(2000), &err), &err); /* the holder again */
  CHECK_EQ(c[0].token, token);
  CHECK_EQ(requests(&k[0]) - r, 1);
  CHECK_EQ(wal_syncs() - w, 0);

  /* The holder leaves; the queued one, asking again without waiting, is
   * elected by the read alone, with the key it queued with. */
  CHECK_OK(B.release(k[0].s, &c[0], kit_deadline(2000), &err), &err);
  r = requests(&k[1]);
  w = wal_syncs();
  CHECK_OK(B.acquire(k[1].s, &c[1], NULL, kit_deadline(2000), &err), &err);
  CHECK_EQ(requests(&k[1]) - r, 1);
  CHECK_EQ(wal_syncs() - w, 0);
  CHECK_EQ(c[1].token, own_revision(&c[1]));
  CHECK_GT(c[1].token, token);
  queue_done(k, c, 2);
}

/* Next in line, the watch's DELETE of the one older key proves the
 * election: from the release to the new term the server sees the release
 * alone (its one WAL sync), and the woken acquire sends nothing. */
static void hand_over_costs_the_release_alone(void) {
  kit_session k[2];
  baton_candidate c[2];
  kit_waiter w[1];
  baton_error err = {0};
  REQUIRE_EQ(queue_up(k, c, 2, "t.handover"), 0);
  queue_wait(k, c, 2, w);
  uint64_t before = requests(&k[0]) + requests(&k[1]);
  long long syncs = wal_syncs();
  REQUIRE(syncs >= 0);
  CHECK_OK(B.release(k[0].s, &c[0], kit_deadline(2000), &err), &err);
  kit_waiter_join(&w[0]);
  CHECK_OK(w[0].rc, &w[0].err);
  CHECK_OK(B.acquire(k[1].s, &c[1], NULL, kit_deadline(2000), &err), &err);
  CHECK_EQ(requests(&k[0]) + requests(&k[1]) - before, 1);
  CHECK_EQ(wal_syncs() - syncs, 1);
  CHECK_EQ(c[1].token, own_revision(&c[1]));
  CHECK_GT(c[1].token, c[0].token);
  baton_leader who;
  CHECK_OK(B.leader(k[0].s, "t.handover", &who, kit_deadline(2000), &err), &err);
  CHECK_STR(who.identity, "bravo");
  CHECK_EQ(who.token, c[1].token);

  /* The proof is used once: the next acquire asks the server again. */
  uint64_t r = requests(&k[1]);
  CHECK_OK(B.acquire(k[1].s, &c[1], NULL, kit_deadline(2000), &err), &err);
  CHECK_EQ(requests(&k[1]) - r, 1);
  queue_done(k, c, 2);
}

/* The end of a three-queue case in which bravo's key was lost: both
 * waiters return, bravo is not elected, charlie (now the oldest) is. */
static void charlie_leads_not_bravo(kit_session k[3], baton_candidate c[3], kit_waiter w[2]) {
  baton_error err = {0};
  for (int i = 0; i < 2; i++) {
    kit_waiter_join(&w[i]);
    CHECK_OK(w[i].rc, &w[i].err);
  }
  baton_leader holder = {0};
  CHECK_EQ(B.acquire(k[1].s, &c[1], &holder, kit_deadline(2000), &err), BATON_EHELD);
  CHECK_STR(holder.identity, "charlie");
  CHECK_OK(B.acquire(k[2].s, &c[2], NULL, kit_deadline(2000), &err), &err);
  CHECK_EQ(c[2].token, holder.token);
  queue_done(k, c, 3);
}

/* bravo's key is deleted by hand while it waits next in line, then alpha
 * leaves: bravo's wake-up elects nothing, and charlie, now the oldest,
 * leads. */
static void key_deleted_by_hand_is_not_elected(void) {
  kit_session k[3];
  baton_candidate c[3];
  kit_waiter w[2];
  baton_error err = {0};
  REQUIRE_EQ(queue_up(k, c, 3, "t.deleted"), 0);
  queue_wait(k, c, 3, w);
  char out[256];
  CHECK_EQ(etcdctl(out, sizeof out, "del", own_key(&c[1]), NULL, NULL), 0);
  CHECK_CONTAINS(out, "1");
  /* charlie watched bravo's key: it wakes, looks, and waits for alpha. */
  kit_waiter_join(&w[1]);
  CHECK_OK(w[1].rc, &w[1].err);
  CHECK_EQ(B.acquire(k[2].s, &c[2], NULL, kit_deadline(2000), &err), BATON_EHELD);
  CHECK_EQ(kit_waiter_start(&w[1], &k[2], &c[2], NULL, 10000), 0);
  /* bravo still waits for alpha: a change to its own key wakes no one. */
  CHECK_EQ(kit_waiters_done(w, 2, 1, 300), 0);

  CHECK_OK(B.release(k[0].s, &c[0], kit_deadline(2000), &err), &err);
  charlie_leads_not_bravo(k, c, w);
}

/* alpha's key and bravo's go in one transaction, one revision: the DELETE
 * that would elect bravo comes with the deletion of its own key. */
static void deletion_in_the_same_revision_proves_nothing(void) {
  kit_session k[3];
  baton_candidate c[3];
  kit_waiter w[2];
  baton_error err = {0};
  REQUIRE_EQ(queue_up(k, c, 3, "t.samerev"), 0);
  queue_wait(k, c, 3, w);
  baton_etcd_str body = {0};
  baton__etcd_str_cat(&body, "{\"success\":[");
  for (int i = 0; i < 2; i++) {
    const char *key = own_key(&c[i]);
    baton__etcd_str_cat(&body, i == 0 ? "{" : ",{");
    baton__etcd_str_cat(&body, "\"request_delete_range\":{\"key\":");
    baton__etcd_str_b64(&body, key, strlen(key));
    baton__etcd_str_cat(&body, "}}");
  }
  baton__etcd_str_cat(&body, "]}");
  baton_etcd_session *es = (baton_etcd_session *)k[0].s;
  baton_etcd_conn *conn = baton__etcd_conn_get(es->http);
  CHECK(!body.oom && conn != NULL);
  if (!body.oom && conn != NULL)
    CHECK_OK(baton__etcd_http_call(es->http, conn, "/v3/kv/txn", body.p, BATON_ETCD_IDEMPOTENT,
                                   NULL, NULL, kit_deadline(2000), -1, &err),
             &err);
  baton__etcd_conn_put(es->http, conn);
  baton__etcd_str_free(&body);

  charlie_leads_not_bravo(k, c, w);
}

/* bravo's key is overwritten by hand (no lease, another value) while it
 * waits next in line: when alpha leaves, the key leads but is not bravo's
 * as it made it, and bravo is refused, not elected. */
static void altered_key_is_not_elected(void) {
  kit_session k[2];
  baton_candidate c[2];
  kit_waiter w[1];
  baton_error err = {0};
  REQUIRE_EQ(queue_up(k, c, 2, "t.altered"), 0);
  queue_wait(k, c, 2, w);
  char out[256];
  CHECK_EQ(etcdctl(out, sizeof out, "put", own_key(&c[1]), "intruder", NULL), 0);
  CHECK_EQ(kit_waiters_done(w, 1, 1, 200), 0);
  CHECK_OK(B.release(k[0].s, &c[0], kit_deadline(2000), &err), &err);
  kit_waiter_join(&w[0]);
  CHECK_OK(w[0].rc, &w[0].err);
  CHECK_EQ(B.acquire(k[1].s, &c[1], NULL, kit_deadline(2000), &err), BATON_EREFUSED);
  CHECK_CONTAINS(err.message, "not ours");
  baton_leader who;
  CHECK_OK(B.leader(k[0].s, "t.altered", &who, kit_deadline(2000), &err), &err);
  CHECK_STR(who.identity, "intruder");
  CHECK_EQ(etcdctl(out, sizeof out, "del", own_key(&c[1]), NULL, NULL), 0);
  queue_done(k, c, 2);
}

/* A waiter's predecessor crashes (its lease is revoked) instead of leaving:
 * the deletion wakes the waiter all the same. */
static void observer_and_cancel_and_deadline(void) {
  kit_session a, o;
  baton_error err = {0};
  REQUIRE_OK(open_named(&a, "held", &err), &err);
  REQUIRE_OK(open_named(&o, "watcher", &err), &err);
  baton_candidate ca = kit_cand(&a, "t.obs"), co = kit_cand(&o, "t.obs");

  /* An observer that saw "no leader" wakes when a first candidate comes. */
  baton_leader none = {0};
  kit_waiter w;
  REQUIRE_EQ(kit_waiter_start(&w, &o, &co, &none, 10000), 0);
  CHECK_EQ(kit_waiters_done(&w, 1, 1, 200), 0);
  CHECK_OK(B.acquire(a.s, &ca, NULL, kit_deadline(2000), &err), &err);
  kit_waiter_join(&w);
  CHECK_OK(w.rc, &w.err);

  /* A stale `seen` returns at once; the current one blocks until the
   * leader leaves. */
  baton_leader seen;
  CHECK_OK(B.leader(o.s, "t.obs", &seen, kit_deadline(2000), &err), &err);
  CHECK_OK(B.wait(o.s, &co, &none, kit_deadline(2000), -1, &err), &err);
  REQUIRE_EQ(kit_waiter_start(&w, &o, &co, &seen, 10000), 0);
  CHECK_EQ(kit_waiters_done(&w, 1, 1, 200), 0);
  CHECK_OK(B.release(a.s, &ca, kit_deadline(2000), &err), &err);
  kit_waiter_join(&w);
  CHECK_OK(w.rc, &w.err);

  /* Cancellation is prompt; the deadline is kept. */
  CHECK_OK(B.acquire(a.s, &ca, NULL, kit_deadline(2000), &err), &err);
  CHECK_OK(B.leader(o.s, "t.obs", &seen, kit_deadline(2000), &err), &err);
  REQUIRE_EQ(kit_waiter_start(&w, &o, &co, &seen, 10000), 0);
  CHECK_EQ(kit_waiters_done(&w, 1, 1, 200), 0);
  int64_t t0 = kit_now_ms();
  CHECK_EQ(kit_waiter_cancel(&w), 0);
  kit_waiter_join(&w);
  CHECK_EQ(w.rc, BATON_ECANCELED);
  CHECK_LT((w.woke_at - t0), 50 + TEST_SLACK_MS / 4);

  t0 = kit_now_ms();
  CHECK_EQ(B.wait(o.s, &co, &seen, kit_deadline(300), -1, &err), BATON_ETIMEDOUT);
  int64_t took = kit_ms_since(t0);
  CHECK_GE(took, 290);
  CHECK_LT(took, 300 + TEST_SLACK_MS);
  CHECK_OK(B.release(a.s, &ca, kit_deadline(2000), &err), &err);
  kit_forget(&a, &ca);
  kit_forget(&o, &co);
  kit_close(&a);
  kit_close(&o);
}

/* ---- Leases ------------------------------------------------------------------- */

static void revoke_lease(kit_session *k) {
  char hex[32], out[256];
  snprintf(hex, sizeof hex, "%" PRIx64, (uint64_t)baton__etcd_session_lease(k->s));
  CHECK_EQ(etcdctl(out, sizeof out, "lease", "revoke", hex, NULL), 0);
  CHECK_CONTAINS(out, "revoked");
}

static void lease_revoked_out_of_band(void) {
  kit_session k, h;
  baton_error err = {0};
  REQUIRE_OK(open_named(&k, "revoked", &err), &err);
  REQUIRE_OK(open_named(&h, "holder", &err), &err);
  baton_candidate c = kit_cand(&k, "t.revoke");
  baton_candidate ch = kit_cand(&h, "t.revoke.q");
  baton_candidate cq = kit_cand(&k, "t.revoke.q");
  CHECK_OK(B.acquire(k.s, &c, NULL, kit_deadline(2000), &err), &err);
  uint64_t first = c.token;
  int64_t lease = baton__etcd_session_lease(k.s);
  /* A second election of the session is queued behind another client. */
  CHECK_OK(B.acquire(h.s, &ch, NULL, kit_deadline(2000), &err), &err);
  CHECK_EQ(B.acquire(k.s, &cq, NULL, kit_deadline(2000), &err), BATON_EHELD);
  kit_waiter w;
  REQUIRE_EQ(kit_waiter_start(&w, &k, &cq, NULL, 10000), 0);

  revoke_lease(&k);
  baton_candidate *held[] = {&c};
  bool gone[1] = {true};
  CHECK_EQ(B.renew(k.s, held, 1, gone, kit_deadline(2000), &err), BATON_ESESSION);
  CHECK_CONTAINS(err.message, "expired or was revoked");
  CHECK(!gone[0]);
  CHECK_EQ(B.acquire(k.s, &c, NULL, kit_deadline(2000), &err), BATON_ESESSION);
  CHECK_EQ(kit_waiters_done(&w, 1, 1, 100), 0); /* no new lease yet */

  CHECK_OK(B.renew(k.s, held, 1, gone, kit_deadline(2000), &err), &err);
  CHECK_NE(baton__etcd_session_lease(k.s), 0);
  CHECK_NE(baton__etcd_session_lease(k.s), lease);
  kit_waiter_join(&w); /* the blocked wait returns so its candidate re-enqueues */
  CHECK_OK(w.rc, &w.err);
  CHECK_EQ(B.acquire(k.s, &cq, NULL, kit_deadline(2000), &err), BATON_EHELD);
  CHECK_OK(B.acquire(k.s, &c, NULL, kit_deadline(2000), &err), &err);
  CHECK_GT(c.token, first);
  CHECK_OK(B.renew(k.s, held, 1, gone, kit_deadline(2000), &err), &err);
  CHECK_OK(B.release(k.s, &c, kit_deadline(2000), &err), &err);
  CHECK_OK(B.release(k.s, &cq, kit_deadline(2000), &err), &err);
  CHECK_OK(B.release(h.s, &ch, kit_deadline(2000), &err), &err);
  kit_forget(&k, &c);
  kit_forget(&k, &cq);
  kit_forget(&h, &ch);
  kit_close(&k);
  kit_close(&h);
}

/* The lease lives as long as renew keeps it alive, longer than its TTL;
 * close revokes it, so the key goes at once. */
static void renew_keeps_the_lease(void) {
  kit_session k, o;
  baton_error err = {0};
  baton_options opt = {.identity = "renewer", .ttl_ms = 1500};
  REQUIRE_OK(kit_open(&k, &B, etcd.uri, &opt, 5000, &err), &err);
  REQUIRE_OK(open_named(&o, "other", &err), &err);
  CHECK_EQ(k.s->server_ttl_ns, 2000 * BATON_NS_PER_MS); /* ceil(1.5 s) */
  baton_candidate c = kit_cand(&k, "t.renew");
  CHECK_OK(B.acquire(k.s, &c, NULL, kit_deadline(2000), &err), &err);
  for (int i = 0; i < 6; i++) {
    kit_sleep_ms(500);
    CHECK_OK(B.renew(k.s, NULL, 0, NULL, kit_deadline(1000), &err), &err);
  }
  baton_leader who;
  CHECK_OK(B.leader(o.s, "t.renew", &who, kit_deadline(2000), &err), &err);
  CHECK_STR(who.identity, "renewer");
  kit_forget(&k, &c);
  kit_close(&k);
  CHECK_EQ(B.leader(o.s, "t.renew", &who, kit_deadline(2000), &err), BATON_ENOLEADER);
  kit_close(&o);
}

/* ---- etcdctl interop -------------------------------------------------------------- */

static void interop_with_etcdctl_elect(void) {
  kit_session k;
  baton_error err = {0};
  REQUIRE_OK(open_named(&k, "baton-side", &err), &err);
  baton_candidate c = kit_cand(&k, "t.interop");

  /* etcdctl first: it leads, baton queues and takes over when it resigns. */
  const char *elect[] = {"etcdctl", "--endpoints", endpoint(), "elect", "t.interop",
                         "etcdctl-side", NULL};
  kit_proc_opts merged = {.err = KIT_STDERR_MERGED};
  kit_proc *p = kit_spawn(elect, &merged);
  REQUIRE(p != NULL);
  /* It prints the key it made, then the value. */
  CHECK_EQ(kit_proc_expect(p, "t.interop/", 10000, NULL, 0), 0);
  CHECK_EQ(kit_proc_expect(p, "etcdctl-side", 10000, NULL, 0), 0);
  baton_leader holder = {0};
  CHECK_EQ(B.acquire(k.s, &c, &holder, kit_deadline(2000), &err), BATON_EHELD);
  CHECK_STR(holder.identity, "etcdctl-side");
  kit_waiter w;
  REQUIRE_EQ(kit_waiter_start(&w, &k, &c, NULL, 10000), 0);
  CHECK_EQ(kit_waiters_done(&w, 1, 1, 200), 0);
  kit_proc_stop(p, SIGINT, 5000); /* etcdctl resigns on SIGINT */
  kit_waiter_join(&w);
  CHECK_OK(w.rc, &w.err);
  CHECK_OK(B.acquire(k.s, &c, NULL, kit_deadline(2000), &err), &err);
  CHECK_GT(c.token, holder.token);

  /* baton first: etcdctl sees baton's identity and waits its turn. */
  const char *observe[] = {"etcdctl", "--endpoints", endpoint(), "elect", "-l", "t.interop", NULL};
  p = kit_spawn(observe, &merged);
  REQUIRE(p != NULL);
  CHECK_EQ(kit_proc_expect(p, "baton-side", 10000, NULL, 0), 0);
  kit_proc_stop(p, SIGINT, 5000);
  p = kit_spawn(elect, &merged);
  REQUIRE(p != NULL);
  CHECK(kit_proc_expect(p, "etcdctl-side", 500, NULL, 0) != 0);
  CHECK_OK(B.release(k.s, &c, kit_deadline(2000), &err), &err);
  CHECK_EQ(kit_proc_expect(p, "etcdctl-side", 5000, NULL, 0), 0);
  baton_leader who;
  CHECK_OK(B.leader(k.s, "t.interop", &who, kit_deadline(2000), &err), &err);
  CHECK_STR(who.identity, "etcdctl-side");
  CHECK_GT(who.token, c.token);
  kit_proc_stop(p, SIGINT, 5000);
  kit_forget(&k, &c);
  kit_close(&k);
}

/* ---- A paused member: every call returns by its deadline ------------------------- */

static void paused_member_times_out(void) {
  kit_session k;
  baton_error err = {0};
  REQUIRE_OK(open_named(&k, "paused", &err), &err);
  baton_candidate c = kit_cand(&k, "t.paused");
  CHECK_OK(B.acquire(k.s, &c, NULL, kit_deadline(2000), &err), &err);
  baton_leader seen;
  CHECK_OK(B.leader(k.s, "t.paused", &seen, kit_deadline(2000), &err), &err);
  baton_candidate obs = kit_cand(&k, "t.paused");
  test_server_pause(&etcd.member[0]);
  int rcs[5];
  int64_t took[5];
  for (int i = 0; i < 5; i++) {
    int64_t t0 = kit_now_ms(), d = kit_deadline(300);
    switch (i) {
      case 0: rcs[i] = B.renew(k.s, NULL, 0, NULL, d, &err); break;
      case 1: rcs[i] = B.acquire(k.s, &c, NULL, d, &err); break;
      case 2: rcs[i] = B.leader(k.s, "t.paused", &seen, d, &err); break;
      case 3: rcs[i] = B.wait(k.s, &obs, &seen, d, -1, &err); break;
      default: rcs[i] = B.release(k.s, &c, d, &err); break;
    }
    took[i] = kit_ms_since(t0);
    CHECK_CONTAINS(err.message, endpoint());
  }
  test_server_resume(&etcd.member[0]);
  for (int i = 0; i < 5; i++) {
    printf("  call %d on a paused member: rc %d after %lld ms\n", i, rcs[i], (long long)took[i]);
    CHECK_EQ(rcs[i], BATON_ETIMEDOUT);
    CHECK_GE(took[i], 290);
    CHECK_LT(took[i], 300 + TEST_SLACK_MS);
  }
  int rc;
  KIT_RETRY(rc, 5000, B.release(k.s, &c, kit_deadline(1000), &err));
  CHECK_OK(rc, &err);
  kit_forget(&k, &c);
  kit_forget(&k, &obs);
  kit_close(&k);
}

/* ---- Auth (on a member of its own: it changes the server) ------------------------ */

static void auth_wrong_right_and_refresh(void) {
  test_cluster sec;
  REQUIRE(test_etcd_start(&sec, 1) == 0);
  char ep[64], out[4096];
  kit_member_addr(&sec, 0, ep, sizeof ep);
  const char *add[] = {"user", "add", "root:s3cret", NULL};
  const char *enable[] = {"auth", "enable", NULL};
  const char *disable[] = {"--user", "root:s3cret", "auth", "disable", NULL};
  CHECK_EQ(kit_etcd_ctl(ep, out, sizeof out, add), 0);
  CHECK_EQ(kit_etcd_ctl(ep, out, sizeof out, enable), 0);
  CHECK_CONTAINS(out, "Enabled");

  char uri[300];
  kit_session k;
  baton_error err = {0};
  /* Without credentials: etcd 3.4 grants a lease to anyone, so the first
   * key-value call is the one refused. */
  baton_candidate anon;
  if (kit_open(&k, &B, sec.uri, NULL, 5000, &err) == 0) {
    anon = kit_cand(&k, "t.auth");
    CHECK_EQ(B.acquire(k.s, &anon, NULL, kit_deadline(2000), &err), BATON_EAUTH);
    printf("  no credentials: %s\n", err.message);
    CHECK_CONTAINS(err.message, "credentials");
    CHECK_CONTAINS(err.message, "user name is empty");
    kit_forget(&k, &anon);
    kit_close(&k);
  } else {
    CHECK_EQ(err.code, BATON_EAUTH);
  }
  snprintf(uri, sizeof uri, "etcd://root:wrong-pw@%s", ep);
  CHECK_EQ(kit_open(&k, &B, uri, NULL, 5000, &err), BATON_EAUTH);
  printf("  wrong password: %s\n", err.message);
  CHECK_CONTAINS(err.message, "authentication as user 'root' failed");
  CHECK_CONTAINS(err.message, "invalid user ID or password");
  CHECK(strstr(err.message, "wrong-pw") == NULL);

  snprintf(uri, sizeof uri, "etcd://root:s3cret@%s", ep);
  baton_options o = {.identity = "authed"};
  if (kit_open(&k, &B, uri, &o, 5000, &err) != 0) {
    TEST_FAIL_("open with the right password: %s", err.message);
    test_cluster_stop(&sec);
    return;
  }
  baton_candidate c = kit_cand(&k, "t.auth");
  CHECK_OK(B.acquire(k.s, &c, NULL, kit_deadline(2000), &err), &err);

  /* Disabling auth drops every token the server issued; enabling it again
   * makes our token invalid, as a restart or the token TTL would. */
  CHECK_EQ(kit_etcd_ctl(ep, out, sizeof out, disable), 0);
  CHECK_EQ(kit_etcd_ctl(ep, out, sizeof out, enable), 0);
  uint64_t before = requests(&k);
  baton_leader who;
  CHECK_OK(B.leader(k.s, "t.auth", &who, kit_deadline(3000), &err), &err);
  CHECK_STR(who.identity, "authed");
  CHECK_EQ(requests(&k) - before, 3); /* refused, authenticate, retried */
  CHECK_OK(B.renew(k.s, NULL, 0, NULL, kit_deadline(2000), &err), &err);

  /* A watch carries the token too, and is refreshed the same way. */
  baton_candidate obs = kit_cand(&k, "t.auth");
  CHECK_EQ(kit_etcd_ctl(ep, out, sizeof out, disable), 0);
  CHECK_EQ(kit_etcd_ctl(ep, out, sizeof out, enable), 0);
  kit_waiter w;
  REQUIRE_EQ(kit_waiter_start(&w, &k, &obs, &who, 10000), 0);
  CHECK_EQ(kit_waiters_done(&w, 1, 1, 300), 0);
  CHECK_OK(B.release(k.s, &c, kit_deadline(2000), &err), &err);
  kit_waiter_join(&w);
  CHECK_OK(w.rc, &w.err);
  kit_forget(&k, &c);
  kit_forget(&k, &obs);
  kit_close(&k);
  test_cluster_stop(&sec);
}

int main(int argc, char **argv) {
  static const test_case cases[] = {
      {"rejects_bad_uris_and_arguments", rejects_bad_uris_and_arguments},
      {"acquire_leader_release", acquire_leader_release},
      {"reuses_connections", reuses_connections},
      {"prefix_comes_from_the_path", prefix_comes_from_the_path},
      {"second_candidate_queues_and_is_woken", second_candidate_queues_and_is_woken},
      {"three_candidates_in_order", three_candidates_in_order},
      {"queued_candidate_rechecks_with_a_read", queued_candidate_rechecks_with_a_read},
      {"hand_over_costs_the_release_alone", hand_over_costs_the_release_alone},
      {"key_deleted_by_hand_is_not_elected", key_deleted_by_hand_is_not_elected},
      {"deletion_in_the_same_revision_proves_nothing",
       deletion_in_the_same_revision_proves_nothing},
      {"altered_key_is_not_elected", altered_key_is_not_elected},
      {"observer_and_cancel_and_deadline", observer_and_cancel_and_deadline},
      {"lease_revoked_out_of_band", lease_revoked_out_of_band},
      {"renew_keeps_the_lease", renew_keeps_the_lease},
      {"interop_with_etcdctl_elect", interop_with_etcdctl_elect},
      {"paused_member_times_out", paused_member_times_out},
      {"auth_wrong_right_and_refresh", auth_wrong_right_and_refresh},
      {NULL, NULL},
  };
  signal(SIGPIPE, SIG_IGN);
  if (test_etcd_start(&etcd, 1) != 0) {
    fprintf(stderr, "FAIL: cannot start etcd\n");
    return 1;
  }
  int rc = test_main(argc, argv, cases);
  test_cluster_stop(&etcd);
  return rc;
}
