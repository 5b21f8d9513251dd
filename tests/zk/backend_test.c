/* backend_test.c — what only the zk:// backend's protocol says, against
 * one real ZooKeeper server: URIs and the C client's connect retries,
 * tokens (czxid) across a recreated parent, the sweep of unconfirmed
 * creates, a close with a request in flight, a crashed holder's session
 * expiry, digest auth, kazoo interop, wrapped sequence numbers. Every test
 * works below the chroot /baton-test; the last one checks that nothing
 * was left behind. What every backend promises (lib/backend.h) is the
 * seam suite's (tests/seam). */
#include "servers.h"
#include "test.h"
#include "zk_kit.h"
#include "zk.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define ZK baton_backend_zk

static test_cluster *server; /* the suite's (kit_server) */
static char uri[1200];    /* zk://127.0.0.1:P/baton-test */
static char hosts[1024];  /* 127.0.0.1:P */

static int open_as(kit_session *t, const char *u, const char *identity, baton_error *err) {
  baton_options o = {.identity = identity};
  return kit_open(t, &ZK, u, &o, KIT_CALL_MS, err);
}

/* ---- bad input -------------------------------------------------------------- */

static void test_bad_uris(void) {
  static const char *const bad[] = {
      "zk://127.0.0.1:1/x?session_timeout=abc", "zk://127.0.0.1:1/x?session_timeout=0",
      "zk://127.0.0.1:1/x?session_timeout=-5",  "zk://127.0.0.1:1/x?bogus=1",
      "zk://127.0.0.1:1/a//b",                  "zk://127.0.0.1:1/a/../b",
      "zk://user@127.0.0.1:1/x",                "zk://:pw@127.0.0.1:1/x",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    kit_session t;
    baton_error err = {0};
    int rc = kit_open(&t, &ZK, bad[i], NULL, KIT_CALL_MS, &err);
    CHECK_EQ(rc, BATON_EINVAL);
    CHECK(err.message[0] != '\0');
    if (rc == 0) kit_close(&t);
  }
  kit_session t;
  baton_error err = {0};
  CHECK_EQ(kit_open(&t, &ZK, "zk://127.0.0.1:1/x?bogus=1", NULL, KIT_CALL_MS, &err), BATON_EINVAL);
  CHECK_CONTAINS(err.message, "bogus");
  CHECK_EQ(kit_open(&t, &ZK, "zk://127.0.0.1:1/x?session_timeout=abc", NULL, KIT_CALL_MS, &err), BATON_EINVAL);
  CHECK_CONTAINS(err.message, "session_timeout");
}

/* The C client keeps trying a host that refuses until the connect
 * timeout, not failing at the first refusal. */
static void test_unreachable(void) {
  int port = test_free_port();
  char u[128], want[32];
  snprintf(u, sizeof u, "zk://127.0.0.1:%d/x", port);
  snprintf(want, sizeof want, "127.0.0.1:%d", port);
  baton_options o = {.connect_timeout_ms = 700};
  kit_session t;
  baton_error err = {0};
  int64_t t0 = kit_now_ms();
  int rc = kit_open(&t, &ZK, u, &o, KIT_CALL_MS, &err);
  int64_t ms = kit_ms_since(t0);
  CHECK_EQ(rc, BATON_ECONNECT);
  CHECK_GE(ms, 650);
  CHECK_LT(ms, 1500);
  CHECK_CONTAINS(err.message, want);
  printf("  unreachable: %s (%lld ms)\n", err.message, (long long)ms);
  if (rc == 0) kit_close(&t);
}

/* ---- tokens, lost creates, closes -------------------------------------------- */

/* The suffix of a node name under path, or "" (one child expected). */
static void only_child(zhandle_t *zh, const char *path, char *name, size_t size) {
  name[0] = '\0';
  CHECK_EQ(kit_zk_children(zh, path, name, size), 1);
}

static void test_tokens_after_parent_recreated(void) {
  kit_session a;
  baton_error err = {0};
  REQUIRE_OK(open_as(&a, uri, "alpha", &err), &err);
  zhandle_t *raw = kit_zk_raw(hosts, NULL);
  REQUIRE(raw != NULL);
  baton_candidate c = kit_cand(&a, "reparent");
  uint64_t last = 0;
  char name[256];
  for (int i = 0; i < 2; i++) {
    CHECK_OK(ZK.acquire(a.s, &c, NULL, kit_deadline(5000), &err), &err);
    CHECK_GT(c.token, last);
    last = c.token;
    CHECK_OK(ZK.release(a.s, &c, kit_deadline(5000), &err), &err);
  }
  CHECK_EQ(kit_zk_delete_tree(raw, "/baton-test/reparent"), ZOK);
  CHECK_OK(ZK.acquire(a.s, &c, NULL, kit_deadline(5000), &err), &err);
  only_child(raw, "/baton-test/reparent", name, sizeof name);
  /* The sequence restarted with the parent; the czxid did not. */
  CHECK(strlen(name) > 10 && strcmp(name + strlen(name) - 10, "0000000000") == 0);
  CHECK_GT(c.token, last);
  kit_drop(&a, &c);
  zookeeper_close(raw);
  kit_close(&a);
}

/* A create whose reply never came in time (the server paused while it was
 * in flight) and the candidate forgotten without a release: the node its
 * create leaves once the server resumes must not stay in the queue as a
 * zombie contender. */
static void test_forget_sweeps_unknown_create(void) {
  kit_session a;
  baton_error err = {0};
  REQUIRE_OK(open_as(&a, uri, "alpha", &err), &err);
  zhandle_t *raw = kit_zk_raw(hosts, NULL);
  REQUIRE(raw != NULL);
  baton_candidate c = kit_cand(&a, "swept"), next = kit_cand(&a, "swept");
  CHECK_OK(ZK.acquire(a.s, &c, NULL, kit_deadline(5000), &err), &err); /* makes the parent */
  CHECK_OK(ZK.release(a.s, &c, kit_deadline(5000), &err), &err);
  test_server_pause(&server->member[0]);
  int rc = ZK.acquire(a.s, &c, NULL, kit_deadline(300), &err);
  ZK.forget(a.s, &c);
  test_server_resume(&server->member[0]);
  CHECK_EQ(rc, BATON_ETIMEDOUT);
  /* next's create queues behind the lost create: it may see the zombie,
   * but the sweep deletes it, so next is woken and elected. */
  rc = ZK.acquire(a.s, &next, NULL, kit_deadline(5000), &err);
  if (rc == BATON_EHELD) {
    CHECK_OK(ZK.wait(a.s, &next, NULL, kit_deadline(5000), -1, &err), &err);
    rc = ZK.acquire(a.s, &next, NULL, kit_deadline(5000), &err);
  }
  CHECK_OK(rc, &err);
  CHECK_EQ(kit_zk_children(raw, "/baton-test/swept", NULL, 0), 1);
  kit_drop(&a, &next);
  CHECK_EQ(kit_zk_children(raw, "/baton-test/swept", NULL, 0), 0);
  zookeeper_close(raw);
  kit_close(&a);
}

/* Close while a request is still in flight and the server stays paused:
 * close is bounded, the call is settled by the backend (baton__zk_calls_abandon)
 * rather than leaked, and nothing is left behind on the server. */
static void test_close_with_request_in_flight(void) {
  kit_session a;
  baton_error err = {0};
  REQUIRE_OK(open_as(&a, uri, "alpha", &err), &err);
  baton_candidate c = kit_cand(&a, "inflight");
  CHECK_OK(ZK.acquire(a.s, &c, NULL, kit_deadline(5000), &err), &err);
  CHECK_OK(ZK.release(a.s, &c, kit_deadline(5000), &err), &err);
  test_server_pause(&server->member[0]);
  CHECK_EQ(ZK.acquire(a.s, &c, NULL, kit_deadline(200), &err), BATON_ETIMEDOUT);
  ZK.forget(a.s, &c);
  int64_t t0 = kit_now_ms();
  kit_close(&a); /* the C client waits up to 1.5 s for the close's reply */
  int64_t ms = kit_ms_since(t0);
  CHECK_EQ(baton__zk_calls_live(), 0); /* settled although no reply ever came */
  test_server_resume(&server->member[0]);
  CHECK_LT(ms, 2500);
  zhandle_t *raw = kit_zk_raw(hosts, NULL);
  REQUIRE(raw != NULL);
  int n = -1;
  /* The closed session's create may still land; the close then ends it. */
  for (int64_t end = kit_now_ms() + KIT_CALL_MS; n != 0 && kit_ms_left(end) > 0; kit_sleep_ms(10))
    n = kit_zk_children(raw, "/baton-test/inflight", NULL, 0);
  CHECK_EQ(n, 0);
  zookeeper_close(raw);
}

/* ---- crashes ---------------------------------------------------------------- */

/* The child of test_crash_takeover: hold NAME, say so, wait to be killed. */
static int child_hold(const char *u, const char *name) {
  kit_session t;
  baton_error err = {0};
  if (open_as(&t, u, "crashed-child", &err) != 0) {
    fprintf(stderr, "child: %s\n", err.message);
    return 1;
  }
  baton_candidate c = kit_cand(&t, name);
  if (ZK.acquire(t.s, &c, NULL, kit_deadline(5000), &err) != 0) {
    fprintf(stderr, "child: %s\n", err.message);
    return 1;
  }
  printf("held %llu\n", (unsigned long long)c.token);
  fflush(stdout);
  char line[64] = "";
  while (fgets(line, sizeof line, stdin) != NULL) {
  }
  return 0;
}

static void test_crash_takeover(void) {
  kit_session b;
  baton_error err = {0};
  REQUIRE_OK(open_as(&b, uri, "survivor", &err), &err);
  char child_uri[1300], line[128] = "";
  snprintf(child_uri, sizeof child_uri, "%s?session_timeout=2000", uri);
  const char *argv[] = {"/proc/self/exe", "--child-hold", child_uri, "crash", NULL};
  kit_proc_opts o = {.err = KIT_STDERR_INHERITED};
  kit_proc *p = kit_spawn(argv, &o);
  REQUIRE(p != NULL);
  CHECK_EQ(kit_proc_expect(p, "held ", 15000, line, sizeof line), 0);
  uint64_t child_token = strtoull(line + 5, NULL, 10);
  baton_candidate c = kit_cand(&b, "crash");
  baton_leader h;
  CHECK_EQ(ZK.acquire(b.s, &c, &h, kit_deadline(5000), &err), BATON_EHELD);
  CHECK_STR(h.identity, "crashed-child");
  CHECK_EQ(h.token, child_token);
  kit_waiter w;
  REQUIRE_EQ(kit_waiter_start(&w, &b, &c, NULL, 15000), 0);
  int64_t t0 = kit_now_ms();
  kit_proc_stop(p, SIGKILL, 5000); /* no close, no release: the session must expire */
  CHECK_EQ(kit_waiters_done(&w, 1, 1, 10000), 1);
  kit_waiter_join(&w);
  CHECK_EQ(w.rc, 0);
  int64_t ms = (w.woke_at - t0);
  CHECK_GT(ms, 500); /* it took the session expiry, not a release */
  printf("  crashed holder replaced after %lld ms (session timeout 2000)\n", (long long)ms);
  CHECK_OK(ZK.acquire(b.s, &c, NULL, kit_deadline(5000), &err), &err);
  CHECK_GT(c.token, child_token);
  kit_drop(&b, &c);
  kit_close(&b);
}

/* ---- kazoo -------------------------------------------------------------------- */

/* The kazoo helper on path as ident, once it says it is ready; NULL
 * (reported) if it does not. Its tracebacks come with its lines. */
static kit_proc *kazoo_start(const char *path, const char *ident) {
  const char *argv[] = {"/usr/bin/python3", KAZOO_CONTENDER, hosts, path, ident, NULL};
  kit_proc_opts o = {.err = KIT_STDERR_MERGED};
  kit_proc *p = kit_spawn(argv, &o);
  if (p != NULL && kit_proc_expect(p, "ready", 20000, NULL, 0) != 0) {
    TEST_FAIL_("the kazoo helper did not start");
    kit_proc_stop(p, SIGKILL, 5000);
    return NULL;
  }
  return p;
}

/* Ask the kazoo helper to quit, and stop it. */
static void kazoo_stop(kit_proc *p) {
  kit_proc_send(p, "quit");
  kit_proc_stop(p, 0, 5000);
}

static void test_kazoo_holds(void) {
  kit_session b;
  baton_error err = {0};
  REQUIRE_OK(open_as(&b, uri, "baton-b", &err), &err);
  kit_proc *k = kazoo_start("/baton-test/interop1", "kazoo-holder");
  if (k == NULL) {
    kit_close(&b);
    return;
  }
  char line[512] = "", node[128];
  unsigned long long czxid = 0;
  kit_proc_send(k, "acquire");
  CHECK_EQ(kit_proc_expect(k, "acquired ", 10000, line, sizeof line), 0);
  CHECK_EQ(sscanf(line, "acquired %127s %llu", node, &czxid), 2);
  /* kazoo's layout is ours: <32 hex>__lock__<10 digits>. */
  CHECK(strlen(node) == 50 && strncmp(node + 32, "__lock__", 8) == 0);

  baton_candidate c = kit_cand(&b, "interop1");
  baton_leader h, l;
  CHECK_EQ(ZK.acquire(b.s, &c, &h, kit_deadline(5000), &err), BATON_EHELD);
  CHECK_STR(h.identity, "kazoo-holder");
  CHECK_EQ(h.token, czxid);
  CHECK_OK(ZK.leader(b.s, "interop1", &l, kit_deadline(5000), &err), &err);
  CHECK_STR(l.identity, "kazoo-holder");
  kit_waiter w;
  REQUIRE_EQ(kit_waiter_start(&w, &b, &c, NULL, 10000), 0);
  CHECK_EQ(kit_waiters_done(&w, 1, 1, 200), 0);
  kit_proc_send(k, "release");
  CHECK_EQ(kit_proc_expect(k, "released", 5000, NULL, 0), 0);
  CHECK_EQ(kit_waiters_done(&w, 1, 1, 3000), 1);
  kit_waiter_join(&w);
  CHECK_EQ(w.rc, 0);
  CHECK_OK(ZK.acquire(b.s, &c, NULL, kit_deadline(5000), &err), &err);
  CHECK_GT(c.token, czxid);
  kit_drop(&b, &c);
  kazoo_stop(k);
  kit_close(&b);
}

static void test_kazoo_waits(void) {
  kit_session b;
  baton_error err = {0};
  REQUIRE_OK(open_as(&b, uri, "baton-b", &err), &err);
  baton_candidate c = kit_cand(&b, "interop2");
  CHECK_OK(ZK.acquire(b.s, &c, NULL, kit_deadline(5000), &err), &err);
  kit_proc *k = kazoo_start("/baton-test/interop2", "kazoo-waiter");
  if (k == NULL) {
    kit_drop(&b, &c);
    kit_close(&b);
    return;
  }
  char line[512] = "", node[128];
  unsigned long long czxid = 0;
  kit_proc_send(k, "acquire");
  CHECK(kit_proc_expect(k, "acquired ", 500, NULL, 0) != 0); /* it must wait */
  kit_proc_send(k, "contenders");
  CHECK_EQ(kit_proc_expect(k, "contenders ", 5000, line, sizeof line), 0);
  CHECK_STR(line, "contenders baton-b,kazoo-waiter");
  /* Ours agree with kazoo's contenders(): same order, same identities. */
  baton_contender q[4] = {{0}};
  size_t n = 0;
  CHECK_OK(ZK.contenders(b.s, "interop2", q, 4, &n, kit_deadline(5000), &err), &err);
  CHECK_EQ(n, 2u);
  char ours[600];
  snprintf(ours, sizeof ours, "contenders %s,%s", q[0].identity, q[1].identity);
  CHECK_STR(ours, line);
  CHECK_EQ(q[0].token, c.token);
  CHECK_GT(q[1].token, q[0].token);
  CHECK_OK(ZK.release(b.s, &c, kit_deadline(5000), &err), &err);
  CHECK_EQ(kit_proc_expect(k, "acquired ", 5000, line, sizeof line), 0);
  CHECK_EQ(sscanf(line, "acquired %127s %llu", node, &czxid), 2);
  baton_leader l;
  CHECK_OK(ZK.leader(b.s, "interop2", &l, kit_deadline(5000), &err), &err);
  CHECK_STR(l.identity, "kazoo-waiter");
  CHECK_EQ(l.token, czxid);
  CHECK_EQ(ZK.acquire(b.s, &c, NULL, kit_deadline(5000), &err), BATON_EHELD);
  kit_proc_send(k, "release");
  CHECK_EQ(kit_proc_expect(k, "released", 5000, NULL, 0), 0);
  CHECK_OK(ZK.acquire(b.s, &c, NULL, kit_deadline(5000), &err), &err);
  CHECK_GT(c.token, czxid);
  kit_drop(&b, &c);
  kazoo_stop(k);
  kit_close(&b);
}

/* A proclaim sets the holder's node data, so kazoo's contenders() shows
 * the value; leader still names the holder (its identity node beside the
 * election), and leader_value reads the value and its version. */
static void test_kazoo_sees_proclaim(void) {
  kit_session b;
  baton_error err = {0};
  REQUIRE_OK(open_as(&b, uri, "baton-b", &err), &err);
  baton_candidate c = kit_cand(&b, "interop3");
  CHECK_OK(ZK.acquire(b.s, &c, NULL, kit_deadline(5000), &err), &err);
  CHECK_OK(ZK.proclaim(b.s, &c, "checkpoint 6", kit_deadline(5000), &err), &err);
  CHECK_OK(ZK.proclaim(b.s, &c, "checkpoint 7", kit_deadline(5000), &err), &err);
  kit_proc *k = kazoo_start("/baton-test/interop3", "kazoo-waiter");
  if (k == NULL) {
    kit_drop(&b, &c);
    kit_close(&b);
    return;
  }
  char line[512] = "";
  kit_proc_send(k, "acquire");
  CHECK(kit_proc_expect(k, "acquired ", 500, NULL, 0) != 0); /* it must wait */
  kit_proc_send(k, "contenders");
  CHECK_EQ(kit_proc_expect(k, "contenders ", 5000, line, sizeof line), 0);
  CHECK_STR(line, "contenders checkpoint 7,kazoo-waiter");
  baton_leader l;
  char value[64];
  size_t len = 0;
  CHECK_OK(ZK.leader_value(b.s, "interop3", &l, value, sizeof value, &len, kit_deadline(5000),
                           &err),
           &err);
  CHECK_STR(l.identity, "baton-b");
  CHECK_EQ(l.token, c.token);
  CHECK_EQ(l.version, 2u);
  CHECK_STR(value, "checkpoint 7");
  CHECK_EQ(len, 12u);
  baton_contender q[4] = {{0}};
  size_t n = 0;
  CHECK_OK(ZK.contenders(b.s, "interop3", q, 4, &n, kit_deadline(5000), &err), &err);
  CHECK_EQ(n, 2u);
  CHECK_STR(q[0].identity, "baton-b");
  CHECK_STR(q[1].identity, "kazoo-waiter");
  /* The identity node is beside the election, not among its children. */
  zhandle_t *raw = kit_zk_raw(hosts, NULL);
  REQUIRE(raw != NULL);
  char kids[512] = "";
  CHECK_EQ(kit_zk_children(raw, "/baton-test/interop3#id", NULL, 0), 1);
  CHECK_EQ(kit_zk_children(raw, "/baton-test/interop3", kids, sizeof kids), 2);
  CHECK(strchr(kids, '#') == NULL);
  CHECK_OK(ZK.release(b.s, &c, kit_deadline(5000), &err), &err);
  CHECK_EQ(kit_proc_expect(k, "acquired ", 5000, NULL, 0), 0);
  /* Our node is gone: a proclaim now writes nothing. */
  CHECK_EQ(ZK.proclaim(b.s, &c, "late", kit_deadline(5000), &err), BATON_ENOTHOLDER);
  CHECK_OK(ZK.leader_value(b.s, "interop3", &l, value, sizeof value, &len, kit_deadline(5000),
                           &err),
           &err);
  CHECK_STR(l.identity, "kazoo-waiter");
  CHECK_STR(value, "");
  /* Release deleted the identity node too: its delete went before this
   * read on the same connection, which ZooKeeper answers in order. */
  CHECK_EQ(kit_zk_children(raw, "/baton-test/interop3#id", NULL, 0), 0);
  zookeeper_close(raw);
  kit_proc_send(k, "release");
  CHECK_EQ(kit_proc_expect(k, "released", 5000, NULL, 0), 0);
  kit_drop(&b, &c);
  kazoo_stop(k);
  kit_close(&b);
}

/* ---- digest auth ---------------------------------------------------------------- */

static void test_digest_auth(void) {
  char good[1300], wrong[1300], anon[1300];
  snprintf(good, sizeof good, "zk://user:secret@%s/baton-auth", hosts);
  snprintf(wrong, sizeof wrong, "zk://user:wrong@%s/baton-auth", hosts);
  snprintf(anon, sizeof anon, "zk://%s/baton-auth", hosts);
  kit_session a;
  baton_error err = {0};
  REQUIRE_OK(open_as(&a, good, "owner", &err), &err);
  baton_candidate c = kit_cand(&a, "locked");
  CHECK_OK(ZK.acquire(a.s, &c, NULL, kit_deadline(5000), &err), &err);
  zhandle_t *owner = kit_zk_raw(hosts, "user:secret"), *stranger = kit_zk_raw(hosts, NULL);
  if (owner == NULL || stranger == NULL) {
    CHECK(!"raw handles");
  } else {
    char name[256], path[512];
    only_child(owner, "/baton-auth/locked", name, sizeof name);
    snprintf(path, sizeof path, "/baton-auth/locked/%s", name);
    struct ACL_vector acl = {0, NULL};
    struct Stat st;
    CHECK_EQ(zoo_get_acl(owner, path, &acl, &st), ZOK);
    CHECK_EQ(acl.count, 1);
    if (acl.count == 1) {
      CHECK_STR(acl.data[0].id.scheme, "digest");
      CHECK(strncmp(acl.data[0].id.id, "user:", 5) == 0);
      CHECK_EQ(acl.data[0].perms, ZOO_PERM_ALL);
    }
    deallocate_ACL_vector(&acl);
    CHECK_EQ(zoo_delete(stranger, path, -1), ZNOAUTH);
    CHECK_EQ(kit_zk_children(stranger, "/baton-auth/locked", NULL, 0), ZNOAUTH);
  }

  const char *const others[] = {wrong, anon};
  for (int i = 0; i < 2; i++) {
    kit_session b;
    REQUIRE_OK(open_as(&b, others[i], "intruder", &err), &err);
    baton_candidate cb = kit_cand(&b, "locked");
    baton_leader l;
    CHECK_EQ(ZK.acquire(b.s, &cb, NULL, kit_deadline(5000), &err), BATON_EAUTH);
    CHECK_CONTAINS(err.message, "wrong user or password");
    CHECK(strstr(err.message, "secret") == NULL && strstr(err.message, "wrong:") == NULL);
    CHECK_EQ(ZK.leader(b.s, "locked", &l, kit_deadline(5000), &err), BATON_EAUTH);
    kit_drop(&b, &cb);
    kit_close(&b);
  }
  kit_drop(&a, &c);
  kit_close(&a);
  if (owner != NULL) {
    CHECK_EQ(kit_zk_delete_tree(owner, "/baton-auth"), ZOK);
    zookeeper_close(owner);
  }
  if (stranger != NULL) zookeeper_close(stranger);
}

/* ---- wrapped sequence numbers ------------------------------------------------------ */

/* ZooKeeper names a sequential node with "%010d" of the parent's signed
 * 32-bit child counter: after 2^31 changes it turns negative
 * ("-2147483648", later "-000000005"), and as text '-' sorts before every
 * digit, so the newest contender would look first in line. */
static void test_names_with_wrapped_sequences(void) {
  static const char guid[] = "0123456789abcdef0123456789abcdef";
  static const struct {
    const char *suffix;
    int64_t seq;
  } names[] = {
      {"__lock__0000000000", 0},
      {"__lock__0000000042", 42},
      {"__lock__2147483647", INT32_MAX},
      {"__lock__2147483648", BATON_ZK_SEQ_WRAPPED},
      {"__lock__9999999999", BATON_ZK_SEQ_WRAPPED},
      {"__lock__-2147483648", BATON_ZK_SEQ_WRAPPED},
      {"__lock__-0000000001", BATON_ZK_SEQ_WRAPPED},
      {"__lock__-000000005", BATON_ZK_SEQ_WRAPPED},
      {"__lock__-00000005", BATON_ZK_SEQ_NONE},
      {"__lock__000000042", BATON_ZK_SEQ_NONE},
      {"__lock__00000000042", BATON_ZK_SEQ_NONE},
      {"__lock__+000000042", BATON_ZK_SEQ_NONE},
      {"__lock__", BATON_ZK_SEQ_NONE},
      {"__rlock__0000000042", BATON_ZK_SEQ_NONE},
  };
  char name[128];
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    snprintf(name, sizeof name, "%s%s", guid, names[i].suffix);
    int64_t seq = baton__zk_name_seq(name);
    if (seq != names[i].seq)
      TEST_FAIL_("baton__zk_name_seq(%s): %lld, not %lld", name, (long long)seq,
                 (long long)names[i].seq);
    if (baton__zk_name_has_guid(name, guid) != (seq != BATON_ZK_SEQ_NONE))
      TEST_FAIL_("baton__zk_name_has_guid(%s) is %d", name, !baton__zk_name_has_guid(name, guid));
  }
  /* Numbers, not text: a wrapped one comes after every valid one. */
  CHECK_LT(baton__zk_name_cmp("a__lock__0000000009", "a__lock__0000000010"), 0);
  CHECK_LT(baton__zk_name_cmp("a__lock__2147483647", "a__lock__-2147483648"), 0);
  CHECK_GT(baton__zk_name_cmp("a__lock__-000000005", "b__lock__0000000001"), 0);
}

/* A raw persistent node at path holding `data`: ZOK or the error. */
static int raw_node(zhandle_t *raw, const char *path, const char *data) {
  return zoo_create(raw, path, data, (int)strlen(data), &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
}

/* A contender whose name carries a wrapped sequence: neither acquire nor
 * leader may order the queue around it (as text it would come first). */
static void test_wrapped_contender_is_refused(void) {
  kit_session a;
  baton_error err = {0};
  REQUIRE_OK(open_as(&a, uri, "alpha", &err), &err);
  zhandle_t *raw = kit_zk_raw(hosts, NULL);
  REQUIRE(raw != NULL);
  int rc = raw_node(raw, "/baton-test", ""); /* the chroot: an earlier test may have made it */
  CHECK(rc == ZOK || rc == ZNODEEXISTS);
  CHECK_EQ(raw_node(raw, "/baton-test/foreign-seq", ""), ZOK);
  CHECK_EQ(raw_node(raw, "/baton-test/foreign-seq/0123456789abcdef0123456789abcdef"
                         "__lock__-2147483647", "wrapped"), ZOK);
  baton_candidate c = kit_cand(&a, "foreign-seq"), o = kit_cand(&a, "foreign-seq");
  baton_leader h = {0}, l = {0};
  CHECK_EQ(ZK.acquire(a.s, &c, &h, kit_deadline(5000), &err), BATON_EREFUSED);
  CHECK_CONTAINS(err.message, "sequence counter of /baton-test/foreign-seq wrapped");
  CHECK_CONTAINS(err.message, "recreate");
  CHECK_STR(h.identity, "");
  CHECK_EQ(ZK.leader(a.s, "foreign-seq", &l, kit_deadline(5000), &err), BATON_EREFUSED);
  CHECK_CONTAINS(err.message, "counter of /baton-test/foreign-seq wrapped");
  CHECK_STR(l.identity, "");
  CHECK_EQ(ZK.wait(a.s, &o, NULL, kit_deadline(2000), -1, &err), BATON_EREFUSED); /* observer */
  kit_forget(&a, &o);
  kit_drop(&a, &c);
  CHECK_EQ(kit_zk_children(raw, "/baton-test/foreign-seq", NULL, 0), 1); /* only the foreign one */
  CHECK_EQ(kit_zk_delete_tree(raw, "/baton-test/foreign-seq"), ZOK);
  zookeeper_close(raw);
  kit_close(&a);
}

/* Our own node with a wrapped sequence (a create that landed after the
 * counter wrapped, found by its guid) is deleted, never kept in line. */
static void test_own_wrapped_node_is_deleted(void) {
  kit_session a;
  baton_error err = {0};
  REQUIRE_OK(open_as(&a, uri, "alpha", &err), &err);
  zhandle_t *raw = kit_zk_raw(hosts, NULL);
  REQUIRE(raw != NULL);
  baton_candidate c = kit_cand(&a, "own-seq");
  CHECK_OK(ZK.acquire(a.s, &c, NULL, kit_deadline(5000), &err), &err); /* makes the parent */
  CHECK_OK(ZK.release(a.s, &c, kit_deadline(5000), &err), &err);
  baton_zk_session *zs = (baton_zk_session *)a.s;
  baton_zk_cand *k = c.priv;
  char path[256];
  snprintf(path, sizeof path, "/baton-test/own-seq/%s__lock__-2147483646", k->guid);
  CHECK_EQ(raw_node(raw, path, "alpha"), ZOK);
  pthread_mutex_lock(&zs->mu);
  k->pending = true; /* as after a create whose reply was lost */
  pthread_mutex_unlock(&zs->mu);
  CHECK_EQ(ZK.acquire(a.s, &c, NULL, kit_deadline(5000), &err), BATON_EREFUSED);
  CHECK_CONTAINS(err.message, "counter of /baton-test/own-seq wrapped");
  CHECK_EQ(kit_zk_children(raw, "/baton-test/own-seq", NULL, 0), 0);
  kit_drop(&a, &c);
  zookeeper_close(raw);
  kit_close(&a);
}

/* Last: every election below the chroot is empty again. */
static void test_no_orphans(void) {
  zhandle_t *raw = kit_zk_raw(hosts, NULL);
  REQUIRE(raw != NULL);
  char left[2048];
  if (kit_zk_leftovers(raw, "/baton-test", left, sizeof left) != 0)
    TEST_FAIL_("left behind: %s", left);
  CHECK_EQ(kit_zk_children(raw, "/baton-auth", NULL, 0), ZNONODE);
  zookeeper_close(raw);
  CHECK_EQ(baton__zk_calls_live(), 0); /* every session is closed: no call lives on */
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "--child-hold") == 0) return child_hold(argv[2], argv[3]);
  static const test_case cases[] = {
      {"bad_uris", test_bad_uris},
      {"unreachable", test_unreachable},
      {"tokens_after_parent_recreated", test_tokens_after_parent_recreated},
      {"forget_sweeps_unknown_create", test_forget_sweeps_unknown_create},
      {"crash_takeover", test_crash_takeover},
      {"kazoo_holds", test_kazoo_holds},
      {"kazoo_sees_proclaim", test_kazoo_sees_proclaim},
      {"kazoo_waits", test_kazoo_waits},
      {"digest_auth", test_digest_auth},
      {"names_with_wrapped_sequences", test_names_with_wrapped_sequences},
      {"wrapped_contender_is_refused", test_wrapped_contender_is_refused},
      {"own_wrapped_node_is_deleted", test_own_wrapped_node_is_deleted},
      {"no_orphans", test_no_orphans},
      {NULL, NULL},
  };
  /* Closing with a request in flight makes the C client leak its own
   * state of that request: that case runs alone, as its own ctest entry
   * with its own LeakSanitizer suppressions (tests/zk.cmake). */
  static const test_case in_flight[] = {
      {"close_with_request_in_flight", test_close_with_request_in_flight},
      {NULL, NULL},
  };
  const test_case *run = cases;
  if (argc > 1 && strcmp(argv[1], in_flight[0].name) == 0) run = in_flight;
  if ((server = kit_server("zk")) == NULL) return 1; /* a missing server fails */
  snprintf(uri, sizeof uri, "%s/baton-test", server->uri);
  kit_member_addr(server, 0, hosts, sizeof hosts);
  int rc = test_main(argc, argv, run);
  return rc;
}
