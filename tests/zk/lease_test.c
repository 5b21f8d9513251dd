/* lease_test.c — fixed leases on zk:// (backends/zk/lease.c) through the
 * backend table, against real ZooKeeper servers: a lease is the holder of
 * its election for leader, contenders, other leases and campaigns; it is
 * not renewed and ends at its TTL, by the server's reaper or by the
 * server's clock when no reaper has come yet ("zk-noreap"), and waiters
 * behind it do not wait for the reaper either; extend keeps its TTL or
 * refuses another; a lost create leaves nothing; an ensemble behaves as
 * one server; a server without TTL nodes ("zk-plain") refuses with what
 * to enable. Every test works below the chroot /baton-lease; the last one
 * checks that nothing was left behind.
 *
 * Some cases sleep past a lease's TTL: there the passing time is what is
 * tested, and no event would tell it sooner. */
#include "servers.h"
#include "test.h"
#include "zk.h"
#include "zk_kit.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define ZK baton_backend_zk
#define MS BATON_NS_PER_MS

static test_cluster *server; /* the suite's (kit_server) */
static char uri[1200];   /* zk://127.0.0.1:P/baton-lease on the suite's server */
static char hosts[1024]; /* 127.0.0.1:P */

/* The table's lease calls, each bounded by KIT_CALL_MS. */
static int acquire(kit_session *k, const char *name, int64_t ttl_ms, uint64_t *token,
                   baton_leader *holder, baton_error *err) {
  return ZK.lease_acquire(k->s, name, k->cfg.identity, ttl_ms * MS, token, holder,
                          kit_deadline(KIT_CALL_MS), err);
}

static int extend(kit_session *k, const char *name, uint64_t token, int64_t ttl_ms,
                  baton_error *err) {
  return ZK.lease_extend(k->s, name, token, ttl_ms * MS, kit_deadline(KIT_CALL_MS), err);
}

static int release(kit_session *k, const char *name, uint64_t token, baton_error *err) {
  return ZK.lease_release(k->s, name, token, kit_deadline(KIT_CALL_MS), err);
}

/* Children of /baton-lease/<name> on a raw handle to `at`. */
static int children(const char *at, const char *name, char *names, size_t size) {
  zhandle_t *raw = kit_zk_raw(at, NULL);
  if (raw == NULL) return -1000;
  char path[300];
  snprintf(path, sizeof path, "/baton-lease/%s", name);
  int n = kit_zk_children(raw, path, names, size);
  zookeeper_close(raw);
  return n;
}

/* A server of `kind` for this case only: its URI with the chroot into u,
 * its address into at. NULL (reported) when it does not start. */
static test_cluster *fresh(const char *kind, char u[1200], char at[1024]) {
  test_cluster *c = kit_fresh_server(kind);
  if (c == NULL) return NULL;
  snprintf(u, 1200, "%s/baton-lease", c->uri);
  kit_member_addr(c, 0, at, 1024);
  return c;
}

/* Children watches fired (kids.mu): what await_children waits on. */
static kit_cond kids;
static int kid_events;

static void kids_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx) {
  (void)zh, (void)type, (void)state, (void)path, (void)ctx;
  kit_cond_add(&kids, &kid_events, 1);
}

/* Wait up to ms until /baton-lease/<name> on `at` has `want` children
 * after at least `changes` creates and deletes of children (its
 * cversion), woken by a children watch: whether it came to that. */
static bool await_children(const char *at, const char *name, int want, int changes, int ms) {
  zhandle_t *raw = kit_zk_raw(at, NULL);
  if (raw == NULL) return false;
  char path[300];
  snprintf(path, sizeof path, "/baton-lease/%s", name);
  int64_t end = kit_now_ms() + ms;
  bool done = false;
  /* Bounded: each pass waits for a watch or the end. */
  for (int pass = 0; pass < 1000 && !done && kit_ms_left(end) > 0; pass++) {
    pthread_mutex_lock(&kids.mu);
    int seen = kid_events;
    pthread_mutex_unlock(&kids.mu);
    struct String_vector v = {0, NULL};
    struct Stat st = {0};
    int rc = zoo_wget_children2(raw, path, kids_watcher, NULL, &v, &st);
    done = rc == ZOK && v.count == want && st.cversion >= changes;
    deallocate_String_vector(&v);
    if (!done) kit_await_count(&kids, &kid_events, seen + 1, (int)kit_ms_left(end));
  }
  zookeeper_close(raw);
  return done;
}

/* Sessions "alpha" into a and "beta" into b on `u`: 0, or the error with
 * neither open. */
static int open_two(const char *u, kit_session *a, kit_session *b, baton_error *err) {
  int rc = kit_open_as(a, &ZK, u, "alpha", 0, err);
  if (rc == 0 && (rc = kit_open_as(b, &ZK, u, "beta", 0, err)) != 0) kit_close(a);
  return rc;
}

/* A lease node's name says its TTL; no other name does. */
static void test_lease_names(void) {
  char guid[BATON_ZK_GUID_MAX], name[BATON_ZK_GUID_MAX + 20];
  baton__zk_lease_guid(guid, 604800000);
  snprintf(name, sizeof name, "%s__lock__0000000007", guid);
  CHECK_EQ(baton__zk_name_ttl(name), 604800000);
  CHECK(baton__zk_name_has_guid(name, guid));
  CHECK_EQ(baton__zk_name_seq(name), 7);
  static const char *const not_leases[] = {
      "0123456789abcdef0123456789abcdef__lock__0000000001",
      "ttl1500-0123456789abcdef0123456789abcdef",
      "ttl-0123456789abcdef0123456789abcdef__lock__0000000001",
      "ttl15x-0123456789abcdef0123456789abcdef__lock__0000000001",
      "ttl9999999999999999-0123456789abcdef__lock__0000000001",
  };
  for (size_t i = 0; i < sizeof not_leases / sizeof not_leases[0]; i++)
    CHECK_EQ(baton__zk_name_ttl(not_leases[i]), 0);
}

/* A lease is the name's holder for everyone: leader and contenders show
 * it, another lease is refused with it as the holder and leaves nothing,
 * a campaign queues behind it and is woken by its release. */
static void test_lease_holds_the_name(void) {
  kit_session a, b;
  baton_error err = {0};
  REQUIRE_OK(open_two(uri, &a, &b, &err), &err);
  uint64_t token = 0, other = 0;
  CHECK_OK(acquire(&a, "job-42", 60000, &token, NULL, &err), &err);
  CHECK_GT(token, 0);
  char names[512];
  CHECK_EQ(children(hosts, "job-42", names, sizeof names), 1);
  CHECK(strncmp(names, "ttl60000-", 9) == 0);

  baton_leader who;
  CHECK_OK(kit_leader(&b, "job-42", &who, &err), &err);
  CHECK_EQ(who.token, token);
  CHECK_STR(who.identity, "alpha");
  baton_contender list[4];
  size_t n = 0;
  CHECK_OK(ZK.contenders(b.s, "job-42", list, 4, &n, kit_deadline(KIT_CALL_MS), &err), &err);
  CHECK_EQ(n, 1);
  CHECK_EQ(list[0].token, token);

  /* An extend rewrites the node's data, raising its version: no value
   * change. The leader shows version 0, no value and its identity. */
  CHECK_OK(extend(&a, "job-42", token, 60000, &err), &err);
  CHECK_OK(extend(&a, "job-42", token, 60000, &err), &err);
  char value[64];
  size_t len = 1;
  CHECK_OK(ZK.leader_value(b.s, "job-42", &who, value, sizeof value, &len,
                           kit_deadline(KIT_CALL_MS), &err),
           &err);
  CHECK_EQ(who.token, token);
  CHECK_EQ(who.version, 0);
  CHECK_STR(value, "");
  CHECK_EQ(len, 0);
  CHECK_STR(who.identity, "alpha");

  baton_leader holder;
  CHECK_EQ(acquire(&b, "job-42", 60000, &other, &holder, &err), BATON_EHELD);
  CHECK_EQ(holder.token, token);
  CHECK_STR(holder.identity, "alpha");
  CHECK_CONTAINS(err.message, "alpha");
  CHECK_EQ(children(hosts, "job-42", NULL, 0), 1); /* the refused one left nothing */

  /* A campaign queues behind the lease and is woken by its release. */
  baton_candidate c = kit_cand(&b, "job-42");
  CHECK_EQ(kit_acquire(&b, &c, NULL, &err), BATON_EHELD);
  kit_waiter w;
  REQUIRE_EQ(kit_waiter_start(&w, &b, &c, NULL, 10000), 0);
  int64_t t0 = kit_now_ms();
  CHECK_OK(release(&a, "job-42", token, &err), &err);
  CHECK_EQ(kit_waiters_done(&w, 1, 1, 5000), 1);
  kit_waiter_join(&w);
  CHECK_OK(w.rc, &w.err);
  CHECK_LT(w.woke_at - t0, 1000);
  CHECK_OK(kit_acquire(&b, &c, NULL, &err), &err);
  CHECK_GT(c.token, token);
  CHECK_EQ(release(&a, "job-42", token, &err), BATON_ENOTHOLDER);

  /* And a term makes a lease acquire answer EHELD with the term's holder. */
  CHECK_EQ(acquire(&a, "job-42", 60000, &other, &holder, &err), BATON_EHELD);
  CHECK_EQ(holder.token, c.token);
  CHECK_STR(holder.identity, "beta");
  kit_drop(&b, &c);
  kit_close(&b);
  kit_close(&a);
}

/* Not renewed: past its TTL the next acquirer gets the name with a higher
 * token, and the old lease cannot be extended or released. Extended
 * before its end, a lease outlives its first TTL with the same token; an
 * extend by another TTL is refused, since the server fixed it. */
static void test_expires_unless_extended(void) {
  kit_session a, b;
  baton_error err = {0};
  REQUIRE_OK(open_two(uri, &a, &b, &err), &err);
  uint64_t first = 0, second = 0, third = 0;
  CHECK_OK(acquire(&a, "expiring", 600, &first, NULL, &err), &err);
  kit_sleep_ms(900);
  CHECK_OK(acquire(&b, "expiring", 1000, &second, NULL, &err), &err);
  CHECK_GT(second, first);
  CHECK_EQ(extend(&a, "expiring", first, 600, &err), BATON_ENOTHOLDER);
  CHECK_EQ(release(&a, "expiring", first, &err), BATON_ENOTHOLDER);

  CHECK_EQ(extend(&b, "expiring", second, 2000, &err), BATON_ENOTSUP);
  CHECK_CONTAINS(err.message, "1000 ms");
  kit_sleep_ms(600);
  CHECK_OK(extend(&b, "expiring", second, 1000, &err), &err);
  kit_sleep_ms(600); /* 1200 ms after the acquire, 600 after the extend */
  baton_leader holder;
  CHECK_EQ(acquire(&a, "expiring", 1000, &third, &holder, &err), BATON_EHELD);
  CHECK_EQ(holder.token, second);
  CHECK_OK(release(&b, "expiring", second, &err), &err);
  CHECK_EQ(children(hosts, "expiring", NULL, 0), 0);
  kit_close(&b);
  kit_close(&a);
}

/* With no reaper, an ended lease stands on the server; the server's own
 * clock (the stamp of a write) still ends it: extend refuses and deletes
 * it, and the next acquire deletes it and takes the name. */
static void test_server_clock_without_reaper(void) {
  char u[1200], at[1024];
  REQUIRE(fresh("zk-noreap", u, at) != NULL);
  kit_session a, b;
  baton_error err = {0};
  REQUIRE_OK(open_two(u, &a, &b, &err), &err);
  uint64_t first = 0, second = 0, third = 0;
  CHECK_OK(acquire(&a, "lazy", 300, &first, NULL, &err), &err);
  kit_sleep_ms(500);
  CHECK_EQ(children(at, "lazy", NULL, 0), 1); /* still there: nobody reaps */
  CHECK_EQ(extend(&a, "lazy", first, 300, &err), BATON_ENOTHOLDER);
  CHECK_CONTAINS(err.message, "expired");
  CHECK_EQ(children(at, "lazy", NULL, 0), 0);

  CHECK_OK(acquire(&a, "lazy", 300, &second, NULL, &err), &err);
  kit_sleep_ms(500);
  CHECK_OK(acquire(&b, "lazy", 60000, &third, NULL, &err), &err);
  CHECK_GT(third, second);
  CHECK_GT(second, first);
  CHECK_EQ(children(at, "lazy", NULL, 0), 1);
  CHECK_EQ(release(&a, "lazy", second, &err), BATON_ENOTHOLDER);
  CHECK_OK(release(&b, "lazy", third, &err), &err);
  kit_close(&b);
  kit_close(&a);
}

/* With no reaper, a campaign queued behind a lease that ends unextended
 * is not left waiting for one: its wait ends once the lease's TTL has
 * surely passed, and deletes the node; an observer's wait ends too. */
static void test_waiters_behind_ended_lease(void) {
  char u[1200], at[1024];
  REQUIRE(fresh("zk-noreap", u, at) != NULL);
  kit_session a, b;
  baton_error err = {0};
  REQUIRE_OK(open_two(u, &a, &b, &err), &err);
  uint64_t token = 0;
  CHECK_OK(acquire(&a, "ending", 400, &token, NULL, &err), &err);
  baton_candidate c = kit_cand(&b, "ending"), o = kit_cand(&b, "ending");
  CHECK_EQ(kit_acquire(&b, &c, NULL, &err), BATON_EHELD);
  baton_leader seen;
  CHECK_OK(kit_leader(&b, "ending", &seen, &err), &err);
  CHECK_EQ(seen.token, token);
  int64_t t0 = kit_now_ms();
  kit_waiter w[2];
  REQUIRE_EQ(kit_waiter_start(&w[0], &b, &c, NULL, 10000), 0);
  REQUIRE_EQ(kit_waiter_start(&w[1], &b, &o, &seen, 10000), 0);
  CHECK_EQ(kit_waiters_done(w, 2, 2, 8000), 2);
  for (int i = 0; i < 2; i++) {
    kit_waiter_join(&w[i]);
    CHECK_OK(w[i].rc, &w[i].err);
    CHECK_GE(w[i].woke_at - t0, 350); /* never before the lease's end */
    CHECK_LT(w[i].woke_at - t0, 2000);
  }
  CHECK_OK(kit_acquire(&b, &c, NULL, &err), &err);
  CHECK_GT(c.token, token);
  CHECK_EQ(children(at, "ending", NULL, 0), 1);
  CHECK_EQ(extend(&a, "ending", token, 400, &err), BATON_ENOTHOLDER);
  kit_forget(&b, &o);
  kit_drop(&b, &c);
  kit_close(&b);
  kit_close(&a);
}

/* A create whose reply never came (the server paused while it was in
 * flight) leaves no lease once the server resumes: its name prefix is
 * swept. The parent's cversion tells that the create did land (the
 * acquire and release before it made 2 changes, the lost create and its
 * sweep 2 more). */
static void test_unknown_create_is_swept(void) {
  kit_session a;
  baton_error err = {0};
  REQUIRE_OK(kit_open_as(&a, &ZK, uri, "alpha", 0, &err), &err);
  uint64_t token = 0;
  CHECK_OK(acquire(&a, "lost", 60000, &token, NULL, &err), &err); /* makes the parent */
  CHECK_OK(release(&a, "lost", token, &err), &err);
  test_server_pause(&server->member[0]);
  int rc = ZK.lease_acquire(a.s, "lost", "alpha", 60000 * MS, &token, NULL, kit_deadline(300),
                            &err);
  test_server_resume(&server->member[0]);
  CHECK_EQ(rc, BATON_ETIMEDOUT);
  CHECK(await_children(hosts, "lost", 0, 4, 5000));
  kit_close(&a);
}

/* Through the public API: a lease acquire that may wait is not left
 * waiting for the reaper behind an ended lease. */
static void test_public_acquire_waits_for_ended_lease(void) {
  char u[1200], at[1024];
  REQUIRE(fresh("zk-noreap", u, at) != NULL);
  kit_session a;
  baton_error err = {0};
  REQUIRE_OK(kit_open_as(&a, &ZK, u, "alpha", 0, &err), &err);
  uint64_t first = 0, token = 0;
  CHECK_OK(acquire(&a, "public", 400, &first, NULL, &err), &err);
  baton_client *client = NULL;
  baton_options o = {.identity = "gamma"};
  REQUIRE_OK(baton_client_open(&client, u, &o, &err), &err);
  baton_lease *lease = NULL;
  int64_t t0 = kit_now_ms();
  CHECK_OK(baton_lease_acquire(&lease, client, "public", 1000, 5000, &token, &err), &err);
  int64_t waited = kit_ms_since(t0);
  CHECK_LT(waited, 2000);
  CHECK_GT(token, first);
  CHECK(baton_lease_held(lease, NULL, NULL));
  CHECK_OK(baton_lease_release(lease, &err), &err);
  CHECK(!baton_lease_held(lease, NULL, NULL));
  CHECK_EQ(children(at, "public", NULL, 0), 0);
  printf("  waited %lld ms behind a 400 ms lease\n", (long long)waited);
  baton_lease_close(lease);
  baton_client_close(client);
  kit_close(&a);
}

/* An ensemble makes TTL nodes too (its servers have ids below 255, which
 * TTL nodes need): a lease holds, extends and ends there as on one
 * server. */
static void test_ensemble(void) {
  char u[1200], at[1024];
  REQUIRE(fresh("zk3", u, at) != NULL);
  kit_session a, b;
  baton_error err = {0};
  REQUIRE_OK(open_two(u, &a, &b, &err), &err);
  uint64_t token = 0, other = 0;
  baton_leader holder;
  CHECK_OK(acquire(&a, "quorum", 5000, &token, NULL, &err), &err);
  CHECK_EQ(acquire(&b, "quorum", 5000, &other, &holder, &err), BATON_EHELD);
  CHECK_EQ(holder.token, token);
  CHECK_OK(extend(&a, "quorum", token, 5000, &err), &err);
  CHECK_OK(release(&a, "quorum", token, &err), &err);
  CHECK_OK(acquire(&b, "quorum", 5000, &other, NULL, &err), &err);
  CHECK_GT(other, token);
  CHECK_OK(release(&b, "quorum", other, &err), &err);
  kit_close(&b);
  kit_close(&a);
}

/* A server without TTL nodes: the acquire says what to enable, and
 * leaves nothing. */
static void test_plain_server_refuses(void) {
  char u[1200], at[1024];
  REQUIRE(fresh("zk-plain", u, at) != NULL);
  kit_session a;
  baton_error err = {0};
  REQUIRE_OK(kit_open_as(&a, &ZK, u, "alpha", 0, &err), &err);
  uint64_t token = 0;
  CHECK_EQ(acquire(&a, "plain", 1000, &token, NULL, &err), BATON_ENOTSUP);
  CHECK_CONTAINS(err.message, "zookeeper.extendedTypesEnabled=true");
  int left = children(at, "plain", NULL, 0);
  CHECK(left == 0 || left == ZNONODE); /* the server refuses before it looks for the parent */
  printf("  %s\n", err.message);
  kit_close(&a);
}

/* Last: every name below the chroot is empty again. */
static void test_no_orphans(void) {
  zhandle_t *raw = kit_zk_raw(hosts, NULL);
  REQUIRE(raw != NULL);
  char left[2048];
  if (kit_zk_leftovers(raw, "/baton-lease", left, sizeof left) != 0)
    TEST_FAIL_("left behind: %s", left);
  zookeeper_close(raw);
}

int main(int argc, char **argv) {
  static const test_case cases[] = {
      {"lease_names", test_lease_names},
      {"lease_holds_the_name", test_lease_holds_the_name},
      {"expires_unless_extended", test_expires_unless_extended},
      {"server_clock_without_reaper", test_server_clock_without_reaper},
      {"waiters_behind_ended_lease", test_waiters_behind_ended_lease},
      {"unknown_create_is_swept", test_unknown_create_is_swept},
      {"public_acquire_waits_for_ended_lease", test_public_acquire_waits_for_ended_lease},
      {"ensemble", test_ensemble},
      {"plain_server_refuses", test_plain_server_refuses},
      {"no_orphans", test_no_orphans},
      {NULL, NULL},
  };
  kit_cond_init(&kids);
  if ((server = kit_server("zk")) == NULL) return 1; /* a missing server fails */
  snprintf(uri, sizeof uri, "%s/baton-lease", server->uri);
  kit_member_addr(server, 0, hosts, sizeof hosts);
  return test_main(argc, argv, cases);
}
