/* backend_test.c — what only the etcd backend's protocol says, against
 * one real etcd member: etcd's election layout and prefixes, the lease's
 * whole seconds, kept-alive connections, what a re-check and a hand-over
 * cost the server (requests, WAL syncs), keys deleted or altered by hand
 * while queued, etcdctl interop, auth. What every backend promises
 * (lib/backend.h) is the seam suite's (tests/seam). */
#include "etcd.h"
#include "etcd_kit.h"
#include "test.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define B baton_backend_etcd

static test_cluster *etcd; /* the suite's (kit_server), started in main */

static const char *endpoint(void) {
  static char buf[64];
  return kit_member_addr(etcd, 0, buf, sizeof buf);
}

/* Run etcdctl against the shared member; returns its exit status. */
static int etcdctl(char *out, size_t size, const char *a1, const char *a2, const char *a3,
                   const char *a4) {
  const char *args[] = {a1, a2, a3, a4, NULL};
  return kit_etcd_ctl(endpoint(), out, size, args);
}

static int open_named(kit_session *k, const char *identity, baton_error *err) {
  baton_options o = {.identity = identity};
  return kit_open(k, &B, etcd->uri, &o, 5000, err);
}

static uint64_t requests(kit_session *k) { return kit_etcd_requests(k); }

static uint64_t connects(kit_session *k) { return kit_etcd_connects(k); }

/* The member's WAL syncs so far, from its /metrics; -1 if unreadable. A
 * write through Raft costs one, a read none. */
static long long wal_syncs(void) {
  static const char name[] = "\netcd_disk_wal_fsync_duration_seconds_count ";
  char *metrics = NULL;
  long long n = -1;
  if (kit_etcd_http(etcd, "/metrics", NULL, &metrics) == 200) {
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

/* The token of a candidate's own key as the backend made it. */
static uint64_t own_revision(const baton_candidate *c) {
  return (uint64_t)((const baton_etcd_cand *)c->priv)->create_revision;
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

/* The key is etcd's election layout, NAME/<lease in hex> = identity, so
 * that etcdctl sees it; its revision is the token; the lease's TTL is
 * whole seconds, rounded up. */
static void key_is_etcds_election_layout(void) {
  kit_session k;
  baton_error err = {0};
  baton_options o = {.identity = "solo", .ttl_ms = 1500};
  REQUIRE_OK(kit_open(&k, &B, etcd->uri, &o, KIT_CALL_MS, &err), &err);
  CHECK_EQ(k.s->server_ttl_ns, 2000 * BATON_NS_PER_MS); /* ceil(1.5 s) */
  baton_candidate c = kit_cand(&k, "t.solo");
  CHECK_OK(B.acquire(k.s, &c, NULL, kit_deadline(2000), &err), &err);
  char out[512], key[128];
  snprintf(key, sizeof key, "t.solo/%" PRIx64, (uint64_t)baton__etcd_session_lease(k.s));
  CHECK_EQ(etcdctl(out, sizeof out, "get", "--prefix", "t.solo/", NULL), 0);
  CHECK_CONTAINS(out, key);
  CHECK_CONTAINS(out, "\nsolo");
  CHECK_EQ(c.token, own_revision(&c));
  kit_drop(&k, &c);
  kit_close(&k);
}

/* The lease is revoked behind the session's back: the renewal says the
 * session ended, the next one grants a new lease, and the log says so. */
static void revoked_lease_is_granted_anew_and_logged(void) {
  kit_session k;
  baton_error err = {0};
  baton_options o = {.identity = "revoked"};
  kit_log log;
  kit_log_attach(&log, &o);
  REQUIRE_OK(kit_open(&k, &B, etcd->uri, &o, KIT_CALL_MS, &err), &err);
  int64_t lease = baton__etcd_session_lease(k.s);
  char body[64], *reply = NULL;
  snprintf(body, sizeof body, "{\"ID\":\"%lld\"}", (long long)lease);
  CHECK_EQ(kit_etcd_http(etcd, "/v3/lease/revoke", body, &reply), 200);
  free(reply);
  CHECK_EQ(B.renew(k.s, NULL, 0, NULL, kit_deadline(2000), &err), BATON_ESESSION);
  CHECK_OK(B.renew(k.s, NULL, 0, NULL, kit_deadline(2000), &err), &err);
  int64_t fresh = baton__etcd_session_lease(k.s);
  CHECK(fresh != lease && fresh != 0);
  char line[96];
  snprintf(line, sizeof line, "new lease 0x%llx granted", (unsigned long long)fresh);
  CHECK(kit_log_wait(&log, line, 0) != NULL);
  kit_close(&k);
  kit_log_destroy(&log);
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
  snprintf(uri, sizeof uri, "%s/app/", etcd->uri);
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
  /* The queue: etcdctl's key, then ours; its session's lease is 60 s. */
  baton_contender q[4] = {{0}};
  size_t n = 0;
  CHECK_OK(B.contenders(k.s, "t.interop", q, 4, &n, kit_deadline(2000), &err), &err);
  CHECK_EQ(n, 2u);
  CHECK_STR(q[0].identity, "etcdctl-side");
  CHECK_EQ(q[0].token, holder.token);
  CHECK_GT(q[0].ttl_remaining_ms, 0);
  CHECK_LE(q[0].ttl_remaining_ms, 60000);
  CHECK_STR(q[1].identity, "baton-side");
  CHECK_GT(q[1].token, q[0].token);
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
  /* etcdctl elect -l named the head of the queue; etcdctl waits behind. */
  memset(q, 0, sizeof q);
  CHECK_OK(B.contenders(k.s, "t.interop", q, 4, &n, kit_deadline(2000), &err), &err);
  CHECK_EQ(n, 2u);
  CHECK_STR(q[0].identity, "baton-side");
  CHECK_EQ(q[0].token, c.token);
  CHECK_STR(q[1].identity, "etcdctl-side");
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

/* Proclaim writes the key's value, as etcd's Proclaim does, so that
 * etcdctl elect -l shows it; the identity moves beside the election, on the
 * same lease, and leader still names the holder. One request; release
 * deletes both keys; a key that is no longer ours is not written. */
static void proclaim_shows_in_etcdctl_elect_l(void) {
  kit_session k;
  baton_error err = {0};
  REQUIRE_OK(open_named(&k, "baton-proclaimer", &err), &err);
  baton_candidate c = kit_cand(&k, "t.proclaim");
  REQUIRE_OK(B.acquire(k.s, &c, NULL, kit_deadline(2000), &err), &err);
  uint64_t before = requests(&k);
  CHECK_OK(B.proclaim(k.s, &c, "step 2/5", kit_deadline(2000), &err), &err);
  CHECK_EQ(requests(&k) - before, 1u);
  const char *observe[] = {"etcdctl", "--endpoints", endpoint(), "elect", "-l", "t.proclaim", NULL};
  kit_proc_opts merged = {.err = KIT_STDERR_MERGED};
  kit_proc *p = kit_spawn(observe, &merged);
  REQUIRE(p != NULL);
  CHECK_EQ(kit_proc_expect(p, "step 2/5", 10000, NULL, 0), 0);
  kit_proc_stop(p, SIGINT, 5000);
  char out[4096];
  CHECK_EQ(etcdctl(out, sizeof out, "get", "--prefix", "t.proclaim#id/", NULL), 0);
  CHECK_CONTAINS(out, "baton-proclaimer");
  baton_leader who;
  char value[64];
  size_t len = 0;
  CHECK_OK(B.leader(k.s, "t.proclaim", &who, kit_deadline(2000), &err), &err);
  CHECK_STR(who.identity, "baton-proclaimer");
  CHECK_EQ(who.token, c.token);
  CHECK_OK(B.leader_value(k.s, "t.proclaim", &who, value, sizeof value, &len, kit_deadline(2000),
                          &err),
           &err);
  CHECK_STR(value, "step 2/5");
  CHECK_EQ(len, 8u);
  CHECK_EQ(who.version, 1u);
  CHECK_STR(who.identity, "baton-proclaimer");
  /* The key and its identity go in one transaction: one request, one
   * revision, so no read sees the value without the identity. */
  before = requests(&k);
  CHECK_OK(B.release(k.s, &c, kit_deadline(2000), &err), &err);
  CHECK_EQ(requests(&k) - before, 1u);
  CHECK_EQ(etcdctl(out, sizeof out, "get", "--prefix", "t.proclaim", NULL), 0);
  CHECK_STR(out, "");
  /* A key deleted by hand: the proclaim's compare fails, nothing is made. */
  REQUIRE_OK(B.acquire(k.s, &c, NULL, kit_deadline(2000), &err), &err);
  CHECK_EQ(etcdctl(out, sizeof out, "del", own_key(&c), NULL, NULL), 0);
  CHECK_EQ(B.proclaim(k.s, &c, "stale", kit_deadline(2000), &err), BATON_ENOTHOLDER);
  CHECK_EQ(etcdctl(out, sizeof out, "get", "--prefix", "t.proclaim", NULL), 0);
  CHECK_STR(out, "");
  kit_forget(&k, &c);
  kit_close(&k);
}

/* ---- Fixed leases ------------------------------------------------------------------- */

#define LEASE_NS(ms) ((int64_t)(ms) * BATON_NS_PER_MS)

/* How many leases the member has (/v3/lease/leases), or -1. */
static int lease_count(void) {
  char *reply = NULL;
  int n = -1;
  if (kit_etcd_http(etcd, "/v3/lease/leases", "{}", &reply) == 200) {
    n = 0;
    for (const char *at = strstr(reply, "\"ID\""); at != NULL; at = strstr(at + 4, "\"ID\""))
      n++;
  }
  free(reply);
  return n;
}

/* Open two sessions named `a_id` and `b_id`: 0, or -1 with none open. */
static int open_pair(kit_session *a, const char *a_id, kit_session *b, const char *b_id) {
  baton_error err = {0};
  if (open_named(a, a_id, &err) != 0) {
    TEST_FAIL_("open %s: %s", a_id, err.message);
    return -1;
  }
  if (open_named(b, b_id, &err) != 0) {
    TEST_FAIL_("open %s: %s", b_id, err.message);
    kit_close(a);
    return -1;
  }
  return 0;
}

/* Sessions a and b (identities a_id, b_id), *leases the member's leases
 * then, a lease of ttl_ms on `name` for `job` from a, and b's candidate
 * *c queued behind it: 0, or -1 with nothing left open. */
static int lease_ahead(kit_session *a, const char *a_id, kit_session *b, const char *b_id,
                       const char *name, const char *job, int64_t ttl_ms, int *leases,
                       uint64_t *token, baton_candidate *c) {
  if (open_pair(a, a_id, b, b_id) != 0) return -1;
  *leases = lease_count();
  baton_error err = {0};
  *c = kit_cand(b, name);
  int rc = B.lease_acquire(a->s, name, job, LEASE_NS(ttl_ms), token, NULL, kit_deadline(2000),
                           &err);
  if (rc == 0) rc = B.acquire(b->s, c, NULL, kit_deadline(2000), &err) == BATON_EHELD ? 0 : -1;
  if (rc == 0) return 0;
  TEST_FAIL_("lease %s then queue: %s", name, err.message);
  kit_forget(b, c);
  kit_close(a);
  kit_close(b);
  return -1;
}

/* A fixed lease is a key of the election's layout on a lease of its own:
 * leader, contenders, a campaign, another lease and etcdctl elect -l see
 * it as the holder; its release wakes the queued candidate at once; a
 * second release and an extend find nothing; a term's key is no lease's. */
static void fixed_lease_is_a_term_to_every_reader(void) {
  kit_session a, b;
  baton_error err = {0};
  REQUIRE_EQ(open_pair(&a, "leaser", &b, "other"), 0);
  int leases = lease_count();
  uint64_t token = 0, later = 0;
  baton_leader holder = {0}, who = {0};
  REQUIRE_OK(B.lease_acquire(a.s, "t.fixed", "job-42", LEASE_NS(5000), &token, &holder,
                             kit_deadline(2000), &err),
             &err);
  CHECK_EQ(lease_count(), leases + 1);
  char out[512], value[32];
  CHECK_EQ(etcdctl(out, sizeof out, "get", "--prefix", "t.fixed/", NULL), 0);
  CHECK_CONTAINS(out, BATON_ETCD_FIXED_SUFFIX "\njob-42");
  size_t len = 1;
  CHECK_OK(B.leader_value(b.s, "t.fixed", &who, value, sizeof value, &len, kit_deadline(2000),
                          &err),
           &err);
  CHECK_STR(who.identity, "job-42");
  CHECK_EQ(who.token, token);
  CHECK_EQ(len, 0u);

  /* Another lease is refused, named the holder and left no lease behind. */
  CHECK_EQ(B.lease_acquire(b.s, "t.fixed", "job-43", LEASE_NS(5000), &later, &holder,
                           kit_deadline(2000), &err),
           BATON_EHELD);
  CHECK_STR(holder.identity, "job-42");
  CHECK_EQ(holder.token, token);
  CHECK_EQ(lease_count(), leases + 1);

  /* A campaign queues behind it; the queue shows the lease first, with
   * its TTL left. */
  baton_candidate c = kit_cand(&b, "t.fixed");
  memset(&holder, 0, sizeof holder);
  CHECK_EQ(B.acquire(b.s, &c, &holder, kit_deadline(2000), &err), BATON_EHELD);
  CHECK_EQ(holder.token, token);
  baton_contender q[4] = {{0}};
  size_t n = 0;
  CHECK_OK(B.contenders(b.s, "t.fixed", q, 4, &n, kit_deadline(2000), &err), &err);
  CHECK_EQ(n, 2u);
  CHECK_STR(q[0].identity, "job-42");
  CHECK_EQ(q[0].token, token);
  CHECK_GT(q[0].ttl_remaining_ms, 0);
  CHECK_LE(q[0].ttl_remaining_ms, 5000);
  CHECK_STR(q[1].identity, "other");
  const char *observe[] = {"etcdctl", "--endpoints", endpoint(), "elect", "-l", "t.fixed", NULL};
  kit_proc_opts merged = {.err = KIT_STDERR_MERGED};
  kit_proc *p = kit_spawn(observe, &merged);
  REQUIRE(p != NULL);
  CHECK_EQ(kit_proc_expect(p, "job-42", 10000, NULL, 0), 0);
  kit_proc_stop(p, SIGINT, 5000);
  leases = lease_count(); /* etcdctl's session may keep its lease a while */

  /* The release wakes the queued candidate, which leads next, and
   * revokes the lease. */
  kit_waiter w;
  REQUIRE_EQ(kit_waiter_start(&w, &b, &c, NULL, 10000), 0);
  CHECK_EQ(kit_waiters_done(&w, 1, 1, 300), 0);
  int64_t released = kit_now_ms();
  CHECK_OK(B.lease_release(a.s, "t.fixed", token, kit_deadline(2000), &err), &err);
  kit_waiter_join(&w);
  CHECK_OK(w.rc, &w.err);
  CHECK_LT(w.woke_at - released, 1000);
  CHECK_OK(B.acquire(b.s, &c, NULL, kit_deadline(2000), &err), &err);
  CHECK_GT(c.token, token);
  CHECK_EQ(lease_count(), leases - 1);
  CHECK_EQ(B.lease_release(a.s, "t.fixed", token, kit_deadline(2000), &err), BATON_ENOTHOLDER);
  CHECK_EQ(B.lease_extend(a.s, "t.fixed", token, LEASE_NS(5000), kit_deadline(2000), &err),
           BATON_ENOTHOLDER);

  /* A term's key is no lease: extend and release refuse its token and
   * leave it (and the session's lease) alone; a lease waits for it. */
  CHECK_EQ(B.lease_extend(a.s, "t.fixed", c.token, LEASE_NS(5000), kit_deadline(2000), &err),
           BATON_ENOTHOLDER);
  CHECK_EQ(B.lease_release(a.s, "t.fixed", c.token, kit_deadline(2000), &err), BATON_ENOTHOLDER);
  CHECK_OK(B.leader(a.s, "t.fixed", &who, kit_deadline(2000), &err), &err);
  CHECK_EQ(who.token, c.token);
  CHECK_EQ(B.lease_acquire(a.s, "t.fixed", "job-44", LEASE_NS(5000), &later, &holder,
                           kit_deadline(2000), &err),
           BATON_EHELD);
  CHECK_STR(holder.identity, "other");

  /* After the term, a later lease has a higher token. */
  kit_drop(&b, &c);
  CHECK_OK(B.lease_acquire(a.s, "t.fixed", "job-45", LEASE_NS(5000), &later, NULL,
                           kit_deadline(2000), &err),
           &err);
  CHECK_GT(later, c.token);
  CHECK_OK(B.lease_release(a.s, "t.fixed", later, kit_deadline(2000), &err), &err);
  kit_close(&a);
  kit_close(&b);
}

/* Nobody renews a fixed lease: its key goes at its TTL (etcd's whole
 * seconds and minimum TTL, plus its lessor's 500 ms), the session's own
 * renewals notwithstanding; the queued campaign is elected by the
 * deletion, and an extend or release after it finds nothing. */
static void fixed_lease_expires_unrenewed(void) {
  kit_session a, b;
  baton_error err = {0};
  int leases = 0;
  uint64_t token = 0;
  baton_candidate c;
  int64_t t0 = kit_now_ms();
  REQUIRE_EQ(lease_ahead(&a, "crasher", &b, "successor", "t.expiry", "job-7", 1000, &leases,
                         &token, &c),
             0);
  kit_waiter w;
  REQUIRE_EQ(kit_waiter_start(&w, &b, &c, NULL, 10000), 0);
  CHECK_OK(B.renew(a.s, NULL, 0, NULL, kit_deadline(2000), &err), &err);
  kit_waiter_join(&w);
  CHECK_OK(w.rc, &w.err);
  printf("  a 1 s lease ended after %lld ms\n", (long long)(w.woke_at - t0));
  CHECK_GE(w.woke_at - t0, 1000);
  CHECK_LT(w.woke_at - t0, 2000 + 500 + 1500); /* etcd's minimum TTL, its lessor, slack */
  CHECK_OK(B.acquire(b.s, &c, NULL, kit_deadline(2000), &err), &err);
  CHECK_GT(c.token, token);
  CHECK_EQ(B.lease_extend(a.s, "t.expiry", token, LEASE_NS(5000), kit_deadline(2000), &err),
           BATON_ENOTHOLDER);
  CHECK_EQ(B.lease_release(a.s, "t.expiry", token, kit_deadline(2000), &err), BATON_ENOTHOLDER);
  CHECK_EQ(lease_count(), leases);
  kit_drop(&b, &c);
  kit_close(&a);
  kit_close(&b);
}

/* An extend moves the key to a new lease of the new TTL: the key outlives
 * its first TTL with its token, identity and value, no proclaim shows,
 * observers are not woken, and the old lease is gone. */
static void fixed_lease_extend_moves_its_end(void) {
  kit_session a, b;
  baton_error err = {0};
  int leases = 0;
  uint64_t token = 0;
  baton_candidate c;
  REQUIRE_EQ(lease_ahead(&a, "extender", &b, "patient", "t.extend", "job-9", 1000, &leases,
                         &token, &c),
             0);
  CHECK_OK(B.lease_extend(a.s, "t.extend", token, LEASE_NS(6000), kit_deadline(2000), &err), &err);
  CHECK_EQ(lease_count(), leases + 1);
  /* Past the first lease's end (2 s, etcd's minimum, + 500 ms) the key
   * is still there: a wait for its deletion runs out. */
  CHECK_EQ(kit_wait(&b, &c, NULL, 3500, &err), BATON_ETIMEDOUT);
  baton_leader who = {0};
  char value[32];
  size_t len = 1;
  CHECK_OK(B.leader_value(b.s, "t.extend", &who, value, sizeof value, &len, kit_deadline(2000),
                          &err),
           &err);
  CHECK_EQ(who.token, token);
  CHECK_STR(who.identity, "job-9");
  CHECK_EQ(who.version, 0u);
  CHECK_EQ(len, 0u);
  char out[512];
  CHECK_EQ(etcdctl(out, sizeof out, "get", "--prefix", "t.extend/", NULL), 0);
  CHECK_CONTAINS(out, "\njob-9");
  /* An observer of the lease wakes for its release, not for an extend. */
  baton_candidate obs = kit_cand(&b, "t.extend");
  kit_waiter w;
  REQUIRE_EQ(kit_waiter_start(&w, &b, &obs, &who, 10000), 0);
  CHECK_OK(B.lease_extend(a.s, "t.extend", token, LEASE_NS(6000), kit_deadline(2000), &err), &err);
  CHECK_EQ(kit_waiters_done(&w, 1, 1, 300), 0);
  CHECK_OK(B.lease_release(a.s, "t.extend", token, kit_deadline(2000), &err), &err);
  kit_waiter_join(&w);
  CHECK_OK(w.rc, &w.err);
  kit_forget(&b, &obs);
  CHECK_EQ(lease_count(), leases);
  CHECK_OK(B.acquire(b.s, &c, NULL, kit_deadline(2000), &err), &err);
  kit_drop(&b, &c);
  kit_close(&a);
  kit_close(&b);
}

/* Through the public API, with both clients' background threads renewing
 * their sessions: a campaign blocked behind a lease is elected when it
 * expires, and the lease is over here by then; a handle attached by token
 * in another client extends and releases it; a lease waits for nobody
 * when a term holds the name, and a later one has a higher token. */
static void fixed_lease_through_the_api(void) {
  baton_client *ca = NULL, *cb = NULL;
  baton_election *e = NULL;
  baton_lease *l = NULL, *attached = NULL;
  baton_error err = {0};
  baton_options oa = {.identity = "api-leaser"}, ob = {.identity = "api-campaigner"};
  REQUIRE_OK(baton_client_open(&ca, etcd->uri, &oa, &err), &err);
  if (baton_client_open(&cb, etcd->uri, &ob, &err) != 0) {
    TEST_FAIL_("open: %s", err.message);
    baton_client_close(ca);
    return;
  }
  uint64_t token = 0, t = 0, term = 0;
  int64_t left = 0, t0 = kit_now_ms();
  CHECK_OK(baton_lease_acquire(&l, ca, "t.api", 1500, 0, &token, &err), &err);
  CHECK(baton_lease_held(l, &t, &left));
  CHECK_EQ(t, token);
  CHECK_LE(left, 1500);
  CHECK_OK(baton_election_open(&e, cb, "t.api", NULL, NULL, &err), &err);
  CHECK_OK(baton_election_campaign(e, 10000, &term, &err), &err);
  printf("  a 1.5 s lease gave way to a campaign after %lld ms\n", (long long)kit_ms_since(t0));
  CHECK_GE(kit_ms_since(t0), 1500);
  CHECK_LT(kit_ms_since(t0), 2000 + 500 + 1500); /* ceil(1.5 s), the lessor, slack */
  CHECK_GT(term, token);
  CHECK(!baton_lease_held(l, NULL, NULL));
  CHECK_EQ(baton_lease_extend(l, 5000, &err), BATON_ENOTHOLDER);
  baton_lease_close(l);
  l = NULL;

  /* A term holds the name: a lease is refused at once, naming it. */
  CHECK_EQ(baton_lease_acquire(&l, ca, "t.api", 5000, 0, NULL, &err), BATON_EHELD);
  CHECK_CONTAINS(err.message, "api-campaigner");
  CHECK_OK(baton_election_resign(e, &err), &err);

  /* Another client attaches by token, extends, and releases. */
  CHECK_OK(baton_lease_acquire(&l, ca, "t.api", 5000, 0, &token, &err), &err);
  CHECK_GT(token, term);
  CHECK_OK(baton_lease_attach(&attached, cb, "t.api", token, &err), &err);
  CHECK(!baton_lease_held(attached, NULL, NULL));
  CHECK_OK(baton_lease_extend(attached, 8000, &err), &err);
  CHECK(baton_lease_held(attached, NULL, &left));
  CHECK_GT(left, 5000);
  CHECK_OK(baton_lease_release(attached, &err), &err);
  CHECK_EQ(baton_lease_release(l, &err), BATON_ENOTHOLDER);
  baton_leader who;
  CHECK_EQ(baton_election_leader(e, &who, &err), BATON_ENOLEADER);
  baton_lease_close(attached);
  baton_lease_close(l);
  baton_election_close(e);
  baton_client_close(cb);
  baton_client_close(ca);
}

/* ---- Auth (on a member of its own: it changes the server) ------------------------ */

static void auth_wrong_right_and_refresh(void) {
  test_cluster *sec = kit_fresh_server("etcd"); /* stopped after the case */
  REQUIRE(sec != NULL);
  char ep[64];
  kit_member_addr(sec, 0, ep, sizeof ep);
  CHECK_EQ(kit_etcd_auth(sec, true), 0);

  char uri[300];
  kit_session k;
  baton_error err = {0};
  /* Without credentials: etcd 3.4 grants a lease to anyone, so the first
   * key-value call is the one refused. */
  baton_candidate anon;
  if (kit_open(&k, &B, sec->uri, NULL, 5000, &err) == 0) {
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
    return;
  }
  baton_candidate c = kit_cand(&k, "t.auth");
  CHECK_OK(B.acquire(k.s, &c, NULL, kit_deadline(2000), &err), &err);

  /* Disabling auth drops every token the server issued; enabling it again
   * makes our token invalid, as a restart or the token TTL would. */
  CHECK_EQ(kit_etcd_drop_tokens(sec), 0);
  uint64_t before = requests(&k);
  baton_leader who;
  CHECK_OK(B.leader(k.s, "t.auth", &who, kit_deadline(3000), &err), &err);
  CHECK_STR(who.identity, "authed");
  CHECK_EQ(requests(&k) - before, 3); /* refused, authenticate, retried */
  CHECK_OK(B.renew(k.s, NULL, 0, NULL, kit_deadline(2000), &err), &err);

  /* A watch carries the token too, and is refreshed the same way. */
  baton_candidate obs = kit_cand(&k, "t.auth");
  CHECK_EQ(kit_etcd_drop_tokens(sec), 0);
  kit_waiter w;
  REQUIRE_EQ(kit_waiter_start(&w, &k, &obs, &who, 10000), 0);
  CHECK_EQ(kit_waiters_done(&w, 1, 1, 300), 0);
  CHECK_OK(B.release(k.s, &c, kit_deadline(2000), &err), &err);
  kit_waiter_join(&w);
  CHECK_OK(w.rc, &w.err);
  kit_forget(&k, &c);
  kit_forget(&k, &obs);
  kit_close(&k);
}

int main(int argc, char **argv) {
  static const test_case cases[] = {
      {"rejects_bad_uris_and_arguments", rejects_bad_uris_and_arguments},
      {"key_is_etcds_election_layout", key_is_etcds_election_layout},
      {"reuses_connections", reuses_connections},
      {"revoked_lease_is_granted_anew_and_logged", revoked_lease_is_granted_anew_and_logged},
      {"prefix_comes_from_the_path", prefix_comes_from_the_path},
      {"queued_candidate_rechecks_with_a_read", queued_candidate_rechecks_with_a_read},
      {"hand_over_costs_the_release_alone", hand_over_costs_the_release_alone},
      {"key_deleted_by_hand_is_not_elected", key_deleted_by_hand_is_not_elected},
      {"deletion_in_the_same_revision_proves_nothing",
       deletion_in_the_same_revision_proves_nothing},
      {"altered_key_is_not_elected", altered_key_is_not_elected},
      {"interop_with_etcdctl_elect", interop_with_etcdctl_elect},
      {"proclaim_shows_in_etcdctl_elect_l", proclaim_shows_in_etcdctl_elect_l},
      {"fixed_lease_is_a_term_to_every_reader", fixed_lease_is_a_term_to_every_reader},
      {"fixed_lease_expires_unrenewed", fixed_lease_expires_unrenewed},
      {"fixed_lease_extend_moves_its_end", fixed_lease_extend_moves_its_end},
      {"fixed_lease_through_the_api", fixed_lease_through_the_api},
      {"auth_wrong_right_and_refresh", auth_wrong_right_and_refresh},
      {NULL, NULL},
  };
  if ((etcd = kit_server("etcd")) == NULL) return 1; /* a missing server fails */
  int rc = test_main(argc, argv, cases);
  return rc;
}
