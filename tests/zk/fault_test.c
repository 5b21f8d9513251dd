/* fault_test.c — the zk:// backend under server faults: a server paused
 * (SIGSTOP) past the session timeout, and a 3-server ensemble that loses
 * its leader. Each test starts its own servers. */
#include "proxy.h"
#include "servers.h"
#include "test.h"
#include "zk_kit.h"

#include <stdio.h>
#include <string.h>

#define ZK baton_backend_zk

/* Whether the server's "dump" (ephemerals per session) mentions text. */
static bool server_dump_has(int port, const char *text) {
  char reply[16384];
  return test_tcp_ask(port, "dump", 4, reply, sizeof reply, 2000) == 0 &&
         strstr(reply, text) != NULL;
}

/* The server is paused past the session timeout. On SIGCONT, ZooKeeper
 * 3.8 lets the first packet of a session "touch" it back to life if that
 * packet is read before its expirer thread runs, and the reconnects the
 * client queued up during the pause always are. So the client's traffic
 * is held back by a proxy (a partition) from the moment of the pause
 * until the server has expired the session, as it would be when the
 * client's side of the network is what failed. */
static void test_pause_past_session_timeout(void) {
  proxy *px = NULL;
  test_cluster *zk = kit_fresh_server("zk"); /* stopped after the case */
  REQUIRE(zk != NULL);
  REQUIRE(proxy_start(&px, zk->member[0].port) == 0);
  int port = zk->member[0].port;
  char u[256];
  snprintf(u, sizeof u, "zk://127.0.0.1:%d/baton-fault?session_timeout=2000", proxy_port(px));
  kit_session a;
  baton_error err = {0};
  baton_options o = {.identity = "paused"};
  kit_log log;
  kit_log_attach(&log, &o);
  int rc = kit_open(&a, &ZK, u, &o, KIT_CALL_MS, &err);
  CHECK_OK(rc, &err);
  if (rc != 0) goto out;
  CHECK_EQ(a.s->server_ttl_ns, 2000000000LL); /* negotiated, not the 10 s ttl */
  baton_candidate ca = kit_cand(&a, "expiry"), cb = kit_cand(&a, "expiry");
  baton_candidate *held[1] = {&ca};
  bool gone[1];
  CHECK_OK(ZK.acquire(a.s, &ca, NULL, kit_deadline(5000), &err), &err);
  uint64_t first = ca.token;
  CHECK_EQ(ZK.acquire(a.s, &cb, NULL, kit_deadline(5000), &err), BATON_EHELD);
  kit_waiter w;
  REQUIRE_EQ(kit_waiter_start(&w, &a, &cb, NULL, 60000), 0);
  CHECK_EQ(kit_waiters_done(&w, 1, 1, 200), 0); /* blocked on its predecessor */
  CHECK(server_dump_has(port, "/baton-fault/expiry/"));

  /* Paused: every renewal fails, each by its own deadline. */
  proxy_set_mode(px, PROXY_STALL, 0); /* holds bytes back, keeps connections */
  kit_sleep_ms(100); /* let the server read what was already on its way */
  test_server_pause(&zk->member[0]);
  int64_t paused = kit_now_ms();
  int failures = 0;
  while (kit_ms_since(paused) < 3000) {
    int64_t t0 = kit_now_ms();
    rc = ZK.renew(a.s, held, 1, gone, kit_deadline(500), &err);
    CHECK_NE(rc, 0);
    CHECK_LT(kit_ms_since(t0), 500 + TEST_SLACK_MS);
    failures += rc != 0;
    if (rc != 0 && kit_ms_since(t0) < 100) kit_sleep_ms(100);
  }
  CHECK_GT(failures, 3);
  printf("  paused: %d renewals failed, last: %s\n", failures, err.message);
  test_server_resume(&zk->member[0]);
  /* The server says nothing when it expires a session: it is asked. */
  bool expired = false;
  for (int64_t end = kit_now_ms() + 10000; !expired && kit_ms_left(end) > 0;) {
    expired = !server_dump_has(port, "/baton-fault/expiry/");
    if (!expired) kit_sleep_ms(100);
  }
  CHECK(expired);
  /* The partition ends: the connections it held are dead, new ones pass. */
  proxy_set_mode(px, PROXY_DROP, 0);
  proxy_set_mode(px, PROXY_PASS, 0);

  /* The client learns it on reconnecting: ESESSION. */
  rc = -1;
  for (int64_t end = kit_now_ms() + 10000; rc != BATON_ESESSION && kit_ms_left(end) > 0;) {
    rc = ZK.renew(a.s, held, 1, gone, kit_deadline(1000), &err);
    CHECK_NE(rc, 0);
    if (rc != BATON_ESESSION) kit_sleep_ms(100);
  }
  CHECK_EQ(rc, BATON_ESESSION);
  printf("  after resume: %s\n", err.message);
  CHECK_EQ(ZK.acquire(a.s, &ca, NULL, kit_deadline(2000), &err), BATON_ESESSION);
  CHECK_EQ(kit_waiters_done(&w, 1, 1, 100), 0); /* blocked until a new session */

  /* The next renew opens a fresh session; blocked waits return. */
  CHECK_OK(ZK.renew(a.s, held, 1, gone, kit_deadline(5000), &err), &err);
  CHECK(gone[0]);
  /* The operator heard each step: the lost connection, the expiry, the
   * new session. */
  static const char *const steps[] = {"connection lost; reconnecting", "expired",
                                      "new session 0x"};
  for (int i = 0; i < 3; i++) {
    const char *heard = kit_log_wait(&log, steps[i], 0);
    CHECK(heard != NULL);
    if (heard != NULL) printf("  logged: %s\n", heard);
  }
  CHECK_EQ(kit_waiters_done(&w, 1, 1, 1000), 1);
  kit_waiter_join(&w);
  CHECK_EQ(w.rc, 0);
  CHECK_OK(ZK.acquire(a.s, &ca, NULL, kit_deadline(5000), &err), &err);
  CHECK_GT(ca.token, first);
  CHECK_EQ(ZK.acquire(a.s, &cb, NULL, kit_deadline(5000), &err), BATON_EHELD);
  CHECK_OK(ZK.renew(a.s, held, 1, gone, kit_deadline(5000), &err), &err);
  CHECK(!gone[0]);
  kit_drop(&a, &ca);
  kit_drop(&a, &cb);
  CHECK(!server_dump_has(port, "/baton-fault/expiry/"));
  kit_close(&a);
out:
  kit_log_destroy(&log);
  proxy_stop(px);
}

/* The one child of `parent` (a held name's node) as a full path. */
static bool held_node(zhandle_t *raw, const char *parent, char *path, size_t size) {
  char kid[256] = "";
  if (kit_zk_children(raw, parent, kid, sizeof kid) != 1) return false;
  snprintf(path, size, "%s/%s", parent, kid);
  return true;
}

/* Renewal learns of a held node's deletion by its watch (issue 16): the
 * watch outlives a lost connection (the C client sets it again on the
 * reconnect, and the server reports the deletion it missed), and a change
 * of the node's data, which spends the watch, leads to a new one. */
static void test_held_node_watch_survives_reconnect_and_data_change(void) {
  proxy *px = NULL;
  test_cluster *zk = kit_fresh_server("zk"); /* stopped after the case */
  REQUIRE(zk != NULL);
  REQUIRE(proxy_start(&px, zk->member[0].port) == 0);
  char u[256], hosts[64];
  snprintf(u, sizeof u, "zk://127.0.0.1:%d/baton-watch?session_timeout=6000", proxy_port(px));
  snprintf(hosts, sizeof hosts, "127.0.0.1:%d", zk->member[0].port);
  zhandle_t *raw = kit_zk_raw(hosts, NULL);
  REQUIRE(raw != NULL);
  kit_session a;
  baton_error err = {0};
  baton_options o = {.identity = "watched"};
  kit_log log;
  kit_log_attach(&log, &o);
  int rc = kit_open(&a, &ZK, u, &o, KIT_CALL_MS, &err);
  CHECK_OK(rc, &err);
  if (rc != 0) goto out;
  baton_candidate c = kit_cand(&a, "cut"), d = kit_cand(&a, "changed");
  baton_candidate *held[2] = {&c, &d};
  bool gone[2] = {true, true};
  CHECK_OK(ZK.acquire(a.s, &c, NULL, kit_deadline(5000), &err), &err);
  CHECK_OK(ZK.acquire(a.s, &d, NULL, kit_deadline(5000), &err), &err);
  CHECK_OK(ZK.renew(a.s, held, 2, gone, kit_deadline(5000), &err), &err); /* sets the watches */
  CHECK(!gone[0] && !gone[1]);
  char cut[320], changed[320];
  REQUIRE(held_node(raw, "/baton-watch/cut", cut, sizeof cut));
  REQUIRE(held_node(raw, "/baton-watch/changed", changed, sizeof changed));

  /* Cut off; the node goes meanwhile; the connection comes back within
   * the session timeout. */
  proxy_set_mode(px, PROXY_STALL, 0);
  CHECK_EQ(zoo_delete(raw, cut, -1), ZOK);
  proxy_set_mode(px, PROXY_DROP, 0); /* the client reconnects through the proxy */
  proxy_set_mode(px, PROXY_PASS, 0);
  KIT_RETRY(rc, 10000, ZK.renew(a.s, held, 2, gone, kit_deadline(2000), &err));
  CHECK_OK(rc, &err);
  CHECK(gone[0]);  /* heard on the reconnect */
  CHECK(!gone[1]);
  CHECK(kit_log_wait(&log, "reconnected; session 0x", 0) != NULL);

  /* Someone writes the other node's data: its watch is spent, and the
   * next renewal sets a new one, which then tells of its deletion. */
  CHECK_EQ(zoo_set(raw, changed, "x", 1, -1), ZOK);
  CHECK_OK(ZK.renew(a.s, held + 1, 1, gone + 1, kit_deadline(5000), &err), &err);
  CHECK(!gone[1]);
  CHECK_EQ(zoo_delete(raw, changed, -1), ZOK);
  CHECK_OK(ZK.renew(a.s, held + 1, 1, gone + 1, kit_deadline(5000), &err), &err);
  CHECK(gone[1]);
  kit_drop(&a, &c);
  kit_drop(&a, &d);
  kit_close(&a);
  /* Nothing of ours is watched any more at the server. */
  char wchs[2048] = "";
  CHECK_EQ(test_tcp_ask(zk->member[0].port, "wchs", 4, wchs, sizeof wchs, 2000), 0);
  CHECK_CONTAINS(wchs, "Total watches:0");
out:
  kit_log_destroy(&log);
  zookeeper_close(raw);
  proxy_stop(px);
}

static int find_leader(const test_cluster *c) {
  for (int i = 0; i < c->n; i++) {
    char reply[2048];
    if (c->member[i].pid > 0 &&
        test_tcp_ask(c->member[i].port, "srvr", 4, reply, sizeof reply, 2000) == 0 &&
        strstr(reply, "Mode: leader") != NULL)
      return i;
  }
  return -1;
}

static void test_ensemble_leader_killed(void) {
  test_cluster *zk = kit_fresh_server("zk3"); /* stopped after the case */
  REQUIRE(zk != NULL);
  char u[1200];
  snprintf(u, sizeof u, "%s/baton-ens?session_timeout=8000", zk->uri);
  kit_session a;
  baton_error err = {0};
  baton_options o = {.identity = "ensemble"};
  REQUIRE_OK(kit_open(&a, &ZK, u, &o, KIT_CALL_MS, &err), &err);
  baton_candidate c = kit_cand(&a, "ens");
  baton_candidate *held[1] = {&c};
  bool gone[1];
  CHECK_OK(ZK.acquire(a.s, &c, NULL, kit_deadline(5000), &err), &err);
  uint64_t first = c.token;
  int leader = find_leader(zk);
  CHECK_GE(leader, 0);
  if (leader >= 0) test_server_kill(&zk->member[leader]);
  int64_t t0 = kit_now_ms();

  /* The session survives the leader's death; renewals may fail meanwhile. */
  int rc = -1, failures = 0;
  while (rc != 0 && kit_ms_since(t0) < 20000) {
    rc = ZK.renew(a.s, held, 1, gone, kit_deadline(2000), &err);
    CHECK_NE(rc, BATON_ESESSION);
    if (rc != 0) {
      failures++;
      kit_sleep_ms(100);
    }
  }
  CHECK_EQ(rc, 0);
  CHECK(!gone[0]);
  printf("  renewed %lld ms after the leader died (%d failed renewals)\n",
         (long long)kit_ms_since(t0), failures);
  CHECK_GE(find_leader(zk), 0);
  CHECK_OK(ZK.release(a.s, &c, kit_deadline(5000), &err), &err);
  CHECK_OK(ZK.acquire(a.s, &c, NULL, kit_deadline(5000), &err), &err);
  CHECK_GT(c.token, first);
  baton_leader l;
  CHECK_OK(ZK.leader(a.s, "ens", &l, kit_deadline(5000), &err), &err);
  CHECK_EQ(l.token, c.token);
  kit_drop(&a, &c);
  kit_close(&a);
}

int main(int argc, char **argv) {
  static const test_case cases[] = {
      {"pause_past_session_timeout", test_pause_past_session_timeout},
      {"ensemble_leader_killed", test_ensemble_leader_killed},
      {"held_node_watch_survives_reconnect_and_data_change",
       test_held_node_watch_survives_reconnect_and_data_change},
      {NULL, NULL},
  };
  return test_main(argc, argv, cases);
}
