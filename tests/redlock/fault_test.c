/* fault_test.c — redlock:// when instances fail: one of 3 down, two of 5
 * down, a paused instance, instances restarted empty between terms. The
 * tokens strictly increase throughout, and an error says how many
 * instances answered and why the others did not. Each case on servers of
 * its own (kit_fresh_server), at the backend table. */
#include "redlock_kit.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TTL_MS 2000
#define VOTE_MS (TTL_MS / 10) /* an instance's bound (backends/redlock) */

/* A session on c as `identity`: 0, or reported. */
static int open_on(kit_session *k, const test_cluster *c, const char *identity) {
  baton_error err = {0};
  int rc = kit_open_as(k, &baton_backend_redlock, c->uri, identity, TTL_MS, &err);
  if (rc != 0) TEST_FAIL_("open %s: %s", c->uri, err.message);
  return rc;
}

/* Two sessions on c, alice and bob: 0, or -1 (reported, none left open). */
static int open_two(kit_session *a, kit_session *b, const test_cluster *c) {
  if (open_on(a, c, "alice") != 0) return -1;
  if (open_on(b, c, "bob") == 0) return 0;
  kit_close(a);
  return -1;
}

/* One term of k on name: its token (0, reported, on failure). */
static uint64_t one_term(kit_session *k, const char *name) {
  baton_candidate c = kit_cand(k, name);
  baton_error err = {0};
  int rc;
  /* A term after an empty restart may wait for that instance's start +
   * TTL (restart-safe votes): a campaign, as the core's. */
  KIT_RETRY(rc, KIT_CALL_MS, kit_redis_campaign(k, &c, TTL_MS + 3000, NULL, &err));
  CHECK_OK(rc, &err);
  uint64_t token = rc == 0 ? c.token : 0;
  if (rc == 0) CHECK_OK(kit_release(k, &c, &err), &err);
  kit_forget(k, &c);
  return token;
}

/* How many members have the counter of name at `token` or above. */
static int counters_at_least(const test_cluster *c, const char *name, uint64_t token) {
  int n = 0;
  for (int i = 0; i < c->n; i++) {
    char buf[32];
    kit_redlock_counter(c, i, name, buf, sizeof buf);
    n += buf[0] != '\0' && strtoull(buf, NULL, 10) >= token;
  }
  return n;
}

/* One of 3 down: a quorum still elects, renews, releases, and a dead
 * instance costs no wait (it refuses at once). With two down, every call
 * fails, saying 1 of 3 answered and why the others did not. */
static void one_of_three_down(void) {
  test_cluster *c = kit_fresh_server("redlock3");
  REQUIRE(c != NULL);
  test_server_kill(&c->member[2]);
  kit_session a, b;
  REQUIRE_EQ(open_on(&a, c, "alice"), 0);
  if (open_on(&b, c, "bob") != 0) {
    kit_close(&a);
    return;
  }
  const char *name = kit_name("one-down");
  baton_candidate ca = kit_cand(&a, name), cb = kit_cand(&b, name);
  baton_error err = {0};
  int64_t t0 = kit_now_ms();
  CHECK_OK(kit_acquire(&a, &ca, NULL, &err), &err);
  CHECK_LT(kit_ms_since(t0), VOTE_MS);
  CHECK_GT(ca.token, 0);
  CHECK_EQ(counters_at_least(c, name, ca.token), 2);
  baton_leader holder = {0};
  CHECK_EQ(kit_acquire(&b, &cb, &holder, &err), BATON_EHELD);
  CHECK_STR(holder.identity, "alice");
  CHECK_CONTAINS(err.message, "0 of 3 instances voted for us, 2 needed");
  baton_leader l;
  CHECK_OK(kit_leader(&b, name, &l, &err), &err);
  CHECK_EQ(l.token, ca.token);
  baton_candidate *held[] = {&ca};
  bool gone[1] = {true};
  CHECK_OK(kit_renew(&a, held, 1, gone, &err), &err);
  CHECK(!gone[0]);
  CHECK_OK(kit_release(&a, &ca, &err), &err);
  CHECK_OK(kit_acquire(&b, &cb, NULL, &err), &err);
  CHECK_GT(cb.token, ca.token);
  CHECK_OK(kit_release(&b, &cb, &err), &err);

  /* Two of 3 down: no quorum, and the message tells the story. */
  test_server_kill(&c->member[1]);
  char dead1[32], dead2[32];
  snprintf(dead1, sizeof dead1, "127.0.0.1:%d", c->member[1].port);
  snprintf(dead2, sizeof dead2, "127.0.0.1:%d", c->member[2].port);
  int rc = kit_acquire(&a, &ca, NULL, &err);
  printf("  two of 3 down: %d: %s\n", rc, err.message);
  CHECK_EQ(rc, BATON_ECONNECT);
  CHECK_CONTAINS(err.message, "1 of 3 instances answered, 2 needed");
  CHECK_CONTAINS(err.message, dead1);
  CHECK_CONTAINS(err.message, dead2);
  CHECK_CONTAINS(err.message, "refused");
  CHECK_EQ(kit_renew(&b, held, 1, gone, &err), BATON_ECONNECT);
  CHECK_CONTAINS(err.message, "renew: 1 of 3 instances answered");
  kit_forget(&a, &ca);
  kit_forget(&b, &cb);
  kit_close(&a);
  kit_close(&b);
}

/* Two of 5 down: 3 is a quorum, terms go on with rising tokens; a third
 * down stops them. */
static void two_of_five_down(void) {
  test_cluster *c = kit_fresh_server("redlock5");
  REQUIRE(c != NULL);
  kit_session a;
  REQUIRE_EQ(open_on(&a, c, "alice"), 0);
  const char *name = kit_name("two-down");
  uint64_t t1 = one_term(&a, name);
  test_server_kill(&c->member[0]);
  test_server_kill(&c->member[3]);
  uint64_t t2 = one_term(&a, name), t3 = one_term(&a, name);
  CHECK_GT(t2, t1);
  CHECK_GT(t3, t2);
  test_server_kill(&c->member[4]);
  baton_candidate ca = kit_cand(&a, name);
  baton_error err = {0};
  CHECK_EQ(kit_acquire(&a, &ca, NULL, &err), BATON_ECONNECT);
  CHECK_CONTAINS(err.message, "2 of 5 instances answered, 3 needed");
  kit_forget(&a, &ca);
  kit_close(&a);
}

/* A paused instance (SIGSTOP) costs each call at most its bound, not the
 * TTL: acquire, renew, leader, wait and release go on with the other two. */
static void paused_instance_costs_at_most_its_bound(void) {
  test_cluster *c = kit_fresh_server("redlock3");
  REQUIRE(c != NULL);
  kit_session a;
  REQUIRE_EQ(open_on(&a, c, "alice"), 0);
  const char *name = kit_name("paused");
  uint64_t before = one_term(&a, name);
  test_server_pause(&c->member[1]);
  baton_candidate ca = kit_cand(&a, name);
  baton_error err = {0};
  int64_t t0 = kit_now_ms();
  CHECK_OK(kit_acquire(&a, &ca, NULL, &err), &err);
  int64_t took = kit_ms_since(t0);
  printf("  acquire with one of 3 paused: %lld ms (bound %d ms)\n", (long long)took, VOTE_MS);
  CHECK_GT(ca.token, before);
  /* A vote and a fence, each at most one bound. */
  CHECK_LT(took, 2 * VOTE_MS + TEST_SLACK_MS);
  baton_candidate *held[] = {&ca};
  bool gone[1] = {true};
  t0 = kit_now_ms();
  CHECK_OK(kit_renew(&a, held, 1, gone, &err), &err);
  CHECK(!gone[0]);
  CHECK_LT(kit_ms_since(t0), 2 * VOTE_MS + TEST_SLACK_MS);
  baton_leader l;
  CHECK_OK(kit_leader(&a, name, &l, &err), &err);
  CHECK_EQ(l.token, ca.token);
  /* A waiter subscribes on the two that answer (the paused one costs its
   * bound once) and is woken by the release through them. */
  kit_session b;
  baton_candidate cb = kit_cand(&a, name);
  if (open_on(&b, c, "bob") == 0) {
    cb = kit_cand(&b, name);
    CHECK_EQ(kit_acquire(&b, &cb, NULL, &err), BATON_EHELD);
    t0 = kit_now_ms();
    CHECK_OK(kit_wait(&b, &cb, NULL, KIT_CALL_MS, &err), &err); /* subscribes */
    CHECK_LT(kit_ms_since(t0), VOTE_MS + TEST_SLACK_MS);
    kit_waiter w;
    if (kit_waiter_start(&w, &b, &cb, NULL, KIT_CALL_MS) == 0) {
      CHECK_EQ(kit_waiters_done(&w, 1, 1, 100), 0); /* blocked */
      t0 = kit_now_ms();
      CHECK_OK(kit_release(&a, &ca, &err), &err);
      kit_waiter_join(&w);
      CHECK_OK(w.rc, &w.err);
      printf("  waiter woken %lld ms after the release\n", (long long)(w.woke_at - t0));
      CHECK_LT(w.woke_at - t0, 2 * VOTE_MS);
    }
    kit_forget(&b, &cb);
    kit_close(&b);
  }
  CHECK_OK(kit_release(&a, &ca, &err), &err);
  test_server_resume(&c->member[1]);
  kit_forget(&a, &ca);
  /* Back: the next term has all three. */
  CHECK_GT(one_term(&a, name), ca.token);
  kit_close(&a);
}

/* The time a vote takes comes off the term: the core counts the term from
 * the moment the acquire was sent (Redlock's "validity time"), so with an
 * instance paused (the vote waits its bound) the new leader has that much
 * less left. Through the public API. */
static void acquiring_time_shrinks_the_term(void) {
  test_cluster *c = kit_fresh_server("redlock3");
  REQUIRE(c != NULL);
  baton_options o = {.ttl_ms = TTL_MS, .identity = "validity"};
  int64_t lifetime = 0;
  baton_client *cl = NULL;
  baton_election *e = NULL;
  baton_error err = {0};
  REQUIRE_OK(baton_options_lifetime(&o, &lifetime, &err), &err);
  REQUIRE_OK(baton_client_open(&cl, c->uri, &o, &err), &err);
  if (baton_election_open(&e, cl, kit_name("validity"), NULL, NULL, &err) != 0) {
    baton_client_close(cl);
    REQUIRE_OK(-1, &err);
  }
  test_server_pause(&c->member[2]);
  int64_t t0 = kit_now_ms();
  uint64_t token = 0;
  CHECK_OK(baton_election_campaign(e, KIT_CALL_MS, &token, &err), &err);
  int64_t took = kit_ms_since(t0), remaining = 0;
  CHECK(baton_election_is_leader(e, NULL, &remaining));
  printf("  acquire took %lld ms; %lld of %lld ms left\n", (long long)took, (long long)remaining,
         (long long)lifetime);
  CHECK_GE(took, VOTE_MS - 10);
  CHECK_LE(remaining, lifetime - took + 5);
  test_server_resume(&c->member[2]);
  baton_election_close(e);
  baton_client_close(cl);
}

/* Instances restarted empty between terms: each term's token is greater
 * than the last. The first member's counter is set far ahead of every
 * clock, so only the quorum register can carry it on: phase 2 wrote it to
 * a quorum, and after member 0 forgot it, the next vote meets a member
 * that kept it. */
static void tokens_increase_across_empty_restarts(void) {
  test_cluster *c = kit_fresh_server("redlock3");
  REQUIRE(c != NULL);
  kit_session a, b;
  REQUIRE_EQ(open_two(&a, &b, c), 0);
  const char *name = kit_name("restart");
  uint64_t last = one_term(&a, name);
  redisContext *r = kit_redis_raw(c->member[0].port, NULL, NULL);
  redisReply *set = kit_redis_cmd(r, "SET %s/token 9000000000000000000", name);
  CHECK(set != NULL && set->type != REDIS_REPLY_ERROR);
  if (set != NULL) freeReplyObject(set);
  if (r != NULL) redisFree(r);
  uint64_t high = one_term(&b, name);
  CHECK_GT(high, 9000000000000000000ull);
  CHECK_GE(counters_at_least(c, name, high), 2);
  last = high;
  for (int round = 0; round < 6; round++) {
    /* One member, or two at once on odd rounds (then the third carries). */
    CHECK_EQ(test_server_restart(&c->member[round % 3]), 0);
    if (round % 2 == 1) CHECK_EQ(test_server_restart(&c->member[(round + 1) % 3]), 0);
    uint64_t t = one_term(round % 2 ? &a : &b, name);
    CHECK_GT(t, last);
    CHECK_GE(counters_at_least(c, name, t), 2);
    last = t;
  }
  kit_close(&a);
  kit_close(&b);
}

/* What the next case loses: A's key on member 2 (as by an early expiry,
 * so that A holds a bare quorum), then member 0's data (a restart without
 * persistence). */
typedef struct loss {
  test_cluster *c;
  const char *name;
} loss;

static int lose_bare_quorum(void *arg) {
  const loss *l = arg;
  redisContext *r = kit_redis_raw(l->c->member[2].port, NULL, NULL);
  char buf[64];
  CHECK_STR(kit_redis_str(r, buf, sizeof buf, "DEL %s", l->name), "1");
  if (r != NULL) redisFree(r);
  return test_server_restart(&l->c->member[0]) == 0 ? 0 : -1;
}

/* An instance restarted empty whose vote a rival needs: B's quorum is
 * member 2 and the fresh member 0, whose vote counts only after its start
 * + TTL. */
static void fresh_vote_counts_after_its_start_plus_ttl(void) {
  test_cluster *c = kit_fresh_server("redlock3");
  REQUIRE(c != NULL);
  kit_session a, b;
  REQUIRE_EQ(open_two(&a, &b, c), 0);
  loss l = {c, kit_name("fresh")};
  kit_redis_restart_case(&a, &b, l.name, TTL_MS, lose_bare_quorum, &l);
  kit_close(&a);
  kit_close(&b);
}

/* A term that waits out a restart is no leader, even when its phase-1
 * values happen to be the same on a quorum: leader() leaves out every
 * instance whose NAME/wait lives. The same value with no wait is the
 * leader. */
static void waiting_term_is_no_leader(void) {
  test_cluster *c = kit_fresh_server("redlock3");
  REQUIRE(c != NULL);
  kit_session a;
  REQUIRE_EQ(open_on(&a, c, "alice"), 0);
  const char *name = kit_name("waiting");
  char buf[64];
  for (int i = 0; i < 3; i++) {
    redisContext *r = kit_redis_raw(c->member[i].port, NULL, NULL);
    REQUIRE(r != NULL);
    CHECK_STR(kit_redis_str(r, buf, sizeof buf,
                            "SET %s %s PX 10000", name,
                            "42 0123456789abcdef0123456789abcdef alice"),
              "OK");
    if (i < 2) CHECK_STR(kit_redis_str(r, buf, sizeof buf, "SET %s/wait 1 PX 10000", name), "OK");
    redisFree(r);
  }
  baton_error err = {0};
  baton_leader who;
  CHECK_EQ(kit_leader(&a, name, &who, &err), BATON_ENOLEADER);
  redisContext *r = kit_redis_raw(c->member[0].port, NULL, NULL);
  REQUIRE(r != NULL);
  CHECK_STR(kit_redis_str(r, buf, sizeof buf, "DEL %s/wait", name), "1");
  redisFree(r);
  CHECK_OK(kit_leader(&a, name, &who, &err), &err);
  CHECK_EQ(who.token, 42);
  CHECK_STR(who.identity, "alice");
  kit_close(&a);
}

/* A quorum that waits for fresh instances (members 0 and 1 unmarked):
 * member 2's yes counts at once, and its key is made to last the wait
 * and a TTL (not only the TTL it was set for), so it is still ours when
 * the wait ends. */
static void immediate_vote_outlasts_the_wait(void) {
  test_cluster *c = kit_fresh_server("redlock3");
  REQUIRE(c != NULL);
  char buf[64];
  for (int i = 0; i < 2; i++) {
    redisContext *r = kit_redis_raw(c->member[i].port, NULL, NULL);
    REQUIRE(r != NULL);
    CHECK_STR(kit_redis_str(r, buf, sizeof buf, "DEL baton:fresh"), "1");
    redisFree(r);
  }
  /* A TTL the servers' uptime stays under, so that 0 and 1 wait. */
  enum { LONG_TTL_MS = 10000 };
  kit_session a;
  baton_error err = {0};
  REQUIRE_OK(kit_open_as(&a, &baton_backend_redlock, c->uri, "alice", LONG_TTL_MS, &err), &err);
  const char *name = kit_name("outlast");
  baton_candidate k = kit_cand(&a, name);
  CHECK_EQ(kit_acquire(&a, &k, NULL, &err), BATON_EHELD);
  CHECK_CONTAINS(err.message, " waits ");
  redisContext *r = kit_redis_raw(c->member[2].port, NULL, NULL);
  REQUIRE(r != NULL);
  long long left = strtoll(kit_redis_str(r, buf, sizeof buf, "PTTL %s", name), NULL, 10);
  CHECK_GT(left, LONG_TTL_MS);
  redisFree(r);
  kit_drop(&a, &k);
  kit_close(&a);
}

/* A password goes to every instance; a wrong one is BATON_EAUTH, said
 * of each instance (the message never shows it). */
static void password_on_every_instance(void) {
  static test_cluster c;
  test_redis_opts o = {.password = "redlock-secret"};
  REQUIRE_EQ(test_redlock_start(&c, 3, &o), 0);
  char good[1200], bad[1200];
  const char *hosts = strstr(c.uri, "://") + 3;
  snprintf(good, sizeof good, "redlock://:redlock-secret@%s", hosts);
  snprintf(bad, sizeof bad, "redlock://:not-the-secret@%s", hosts);
  kit_session k;
  baton_error err = {0};
  CHECK_EQ(kit_open_as(&k, &baton_backend_redlock, bad, "alice", TTL_MS, &err), BATON_EAUTH);
  CHECK_CONTAINS(err.message, "0 of 3 instances answered");
  CHECK(strstr(err.message, "not-the-secret") == NULL);
  if (kit_open_as(&k, &baton_backend_redlock, good, "alice", TTL_MS, &err) == 0) {
    CHECK_GT(one_term(&k, kit_name("auth")), 0);
    kit_close(&k);
  } else {
    TEST_FAIL_("open with the password: %s", err.message);
  }
  test_cluster_stop(&c);
}

/* The URI: no fewer than 3 distinct masters, a database number, no parameters;
 * each refused with a message that says what to write instead. */
static void uri_is_checked(void) {
  static const struct {
    const char *uri, *says;
  } bad[] = {
      {"redlock://127.0.0.1:1,127.0.0.1:2", "at least 3 independent Redis masters"},
      {"redlock://127.0.0.1:1,127.0.0.1:2,127.0.0.1:3/x", "not a database number"},
      {"redlock://127.0.0.1:1,127.0.0.1:2,127.0.0.1:3?replicas=1", "replicas"},
      /* One server twice would give two votes: a quorum of one. */
      {"redlock://127.0.0.1:1,127.0.0.1:1,127.0.0.1:2", "127.0.0.1:1 twice"},
      {"redlock://LOCALHOST:7,localhost:7,h:2", "twice"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    kit_session k;
    baton_error err = {0};
    CHECK_EQ(kit_open_as(&k, &baton_backend_redlock, bad[i].uri, "alice", TTL_MS, &err),
             BATON_EINVAL);
    CHECK_CONTAINS(err.message, bad[i].says);
  }
}

/* The leader of name and its value, as k reads them. */
static void leader_value_of(kit_session *k, const char *name, baton_leader *who, char *value,
                            size_t size) {
  baton_error err = {0};
  size_t len = 0;
  CHECK_OK(k->b->leader_value(k->s, name, who, value, size, &len, kit_deadline(KIT_CALL_MS), &err),
           &err);
  CHECK_EQ(len, strlen(value));
}

/* A proclaimed value on a quorum: it lands where the key is still ours,
 * succeeds on a quorum (one of 3 lost its key: still a proclaim), is
 * BATON_ENOTHOLDER once a quorum is out of reach, and leader shows only
 * the value a quorum holds the same: one instance's odd value is passed
 * over, none on a quorum is "". */
static void proclaim_needs_a_quorum(void) {
  test_cluster *c = kit_fresh_server("redlock3");
  REQUIRE(c != NULL);
  kit_session a, b;
  if (open_two(&a, &b, c) != 0) return;
  const char *name = kit_name("proclaim-quorum");
  baton_candidate ca = kit_cand(&a, name);
  baton_error err = {0};
  REQUIRE_OK(kit_acquire(&a, &ca, NULL, &err), &err);
  redisContext *r[3];
  for (int i = 0; i < 3; i++) r[i] = kit_redis_raw(c->member[i].port, NULL, NULL);
  REQUIRE(r[0] != NULL && r[1] != NULL && r[2] != NULL);
  char buf[256], want[128], value[64];
  baton_leader who;
  CHECK_OK(a.b->proclaim(a.s, &ca, "one", kit_deadline(KIT_CALL_MS), &err), &err);
  snprintf(want, sizeof want, "%llu 1 one", (unsigned long long)ca.token);
  for (int i = 0; i < 3; i++)
    CHECK_STR(kit_redis_str(r[i], buf, sizeof buf, "GET %s/value", name), want);
  /* One instance's odd value is not the term's. */
  redisReply *x = kit_redis_cmd(r[0], "SET %s/value %llu 7 odd", name, (unsigned long long)ca.token);
  if (x != NULL) freeReplyObject(x);
  leader_value_of(&b, name, &who, value, sizeof value);
  CHECK_EQ(who.token, ca.token);
  CHECK_EQ(who.version, 1);
  CHECK_STR(value, "one");
  /* Instance 0 lost our key: 2 of 3 still take the value. */
  x = kit_redis_cmd(r[0], "DEL %s", name);
  if (x != NULL) freeReplyObject(x);
  CHECK_OK(a.b->proclaim(a.s, &ca, "two", kit_deadline(KIT_CALL_MS), &err), &err);
  leader_value_of(&b, name, &who, value, sizeof value);
  CHECK_EQ(who.version, 2);
  CHECK_STR(value, "two");
  /* The same value on no quorum: none. */
  x = kit_redis_cmd(r[1], "DEL %s/value", name);
  if (x != NULL) freeReplyObject(x);
  leader_value_of(&b, name, &who, value, sizeof value);
  CHECK_EQ(who.token, ca.token);
  CHECK_EQ(who.version, 0);
  CHECK_STR(value, "");
  /* Instance 1 lost it too: no quorum can take a value of this term. */
  x = kit_redis_cmd(r[1], "DEL %s", name);
  if (x != NULL) freeReplyObject(x);
  CHECK_EQ(a.b->proclaim(a.s, &ca, "three", kit_deadline(KIT_CALL_MS), &err), BATON_ENOTHOLDER);
  CHECK_CONTAINS(err.message, "ours on 1 of 3 instances, 2 needed");
  CHECK_OK(kit_release(&a, &ca, &err), &err);
  CHECK_STR(kit_redis_str(r[2], buf, sizeof buf, "EXISTS %s/value", name), "0");
  for (int i = 0; i < 3; i++) redisFree(r[i]);
  kit_forget(&a, &ca);
  kit_close(&a);
  kit_close(&b);
}

/* The figures an operator watches on Redlock: each instance's answered and
 * failed requests, and the attempts without a quorum, through the public
 * API and the Prometheus text (which promtool accepts). */
static void servers_are_counted(void) {
  test_cluster *c = kit_fresh_server("redlock3");
  REQUIRE(c != NULL);
  baton_options o = {.ttl_ms = TTL_MS, .identity = "counted"};
  baton_client *cl = NULL;
  baton_election *e = NULL;
  baton_error err = {0};
  REQUIRE_OK(baton_client_open(&cl, c->uri, &o, &err), &err);
  REQUIRE_OK(baton_election_open(&e, cl, kit_name("counted"), NULL, NULL, &err), &err);
  REQUIRE_OK(baton_election_campaign(e, 5000, NULL, &err), &err);
  baton_server_stats sv[4];
  size_t n = 0;
  CHECK_OK(baton_client_read_servers(cl, sv, 4, &n, &err), &err);
  CHECK_EQ(n, 3);
  char dead[32];
  snprintf(dead, sizeof dead, "127.0.0.1:%d", c->member[2].port);
  CHECK_STR(sv[2].address, dead);
  for (size_t i = 0; i < n; i++) {
    CHECK_GT(sv[i].answered, 0);
    CHECK_EQ(sv[i].failed, 0);
  }
  /* One down: its requests fail, the others' are answered. */
  test_server_kill(&c->member[2]);
  CHECK_OK(baton_election_resign(e, &err), &err);
  CHECK_OK(baton_election_campaign(e, 5000, NULL, &err), &err);
  CHECK_OK(baton_client_read_servers(cl, sv, 4, &n, &err), &err);
  CHECK_GT(sv[2].failed, 0);
  CHECK_EQ(sv[0].failed, 0);
  baton_client_stats st;
  CHECK_OK(baton_client_read_stats(cl, &st, &err), &err);
  CHECK_EQ(st.attempts_no_quorum, 0);
  /* Two down: an attempt without a quorum. */
  CHECK_OK(baton_election_resign(e, &err), &err);
  test_server_kill(&c->member[1]);
  CHECK(baton_election_try_campaign(e, NULL, NULL, &err) != 0);
  CHECK_OK(baton_client_read_stats(cl, &st, &err), &err);
  CHECK_GE(st.attempts_no_quorum, 1);
  char text[16384];
  size_t len = 0;
  CHECK_OK(baton_client_metrics(cl, text, sizeof text, &len, &err), &err);
  REQUIRE(len < sizeof text);
  char series[128];
  snprintf(series, sizeof series,
           "baton_server_requests_total{backend=\"redlock\",server=\"%s\",result=\"failed\"}",
           dead);
  CHECK_CONTAINS(text, series);
  CHECK_CONTAINS(text, "baton_attempts_no_quorum_total{backend=\"redlock\"} ");
  CHECK_EQ(kit_promtool_check(text, len), 0);
  /* A backend over one server has nothing to report here. */
  baton_client *one = NULL;
  char uri[64];
  snprintf(uri, sizeof uri, "redis://127.0.0.1:%d", c->member[0].port);
  REQUIRE_OK(baton_client_open(&one, uri, &o, &err), &err);
  CHECK_EQ(baton_client_read_servers(one, sv, 4, &n, &err), BATON_ENOTSUP);
  CHECK_EQ(n, 0);
  baton_client_close(one);
  baton_election_close(e);
  baton_client_close(cl);
}

/* 200 waiting elections of one client share one subscriber connection
 * per instance (kit_redis_herd_case). */
static void waiters_share_one_subscriber_per_instance(void) {
  test_cluster *c = kit_fresh_server("redlock3");
  REQUIRE(c != NULL);
  kit_redis_herd_case(c, 200);
}

/* A term's value has a lease's shape: a handle attached with a live
 * term's token must neither extend (cut its PTTL) nor release (delete its
 * keys) that term on any instance. */
static void lease_ops_leave_a_live_term_alone(void) {
  test_cluster *c = kit_fresh_server("redlock3");
  REQUIRE(c != NULL);
  kit_session a;
  REQUIRE_EQ(open_on(&a, c, "alice"), 0);
  const char *name = kit_name("term");
  baton_candidate ca = kit_cand(&a, name);
  baton_error err = {0};
  int rc;
  KIT_RETRY(rc, KIT_CALL_MS, kit_redis_campaign(&a, &ca, TTL_MS + 3000, NULL, &err));
  REQUIRE_OK(rc, &err);
  char before[3][512], after[512], pttl[32];
  redisContext *r[3] = {NULL, NULL, NULL};
  for (int i = 0; i < 3; i++) {
    r[i] = kit_redis_raw(c->member[i].port, NULL, NULL);
    if (r[i] != NULL) kit_redis_str(r[i], before[i], sizeof before[i], "GET %s", name);
  }
  const baton_backend *B = &baton_backend_redlock;
  CHECK_EQ(B->lease_extend(a.s, name, ca.token, BATON_NS_PER_MS, kit_deadline(2000), &err),
           BATON_ENOTHOLDER);
  CHECK_EQ(B->lease_release(a.s, name, ca.token, kit_deadline(2000), &err), BATON_ENOTHOLDER);
  for (int i = 0; i < 3; i++) {
    CHECK(r[i] != NULL);
    if (r[i] == NULL) continue;
    CHECK_STR(kit_redis_str(r[i], after, sizeof after, "GET %s", name), before[i]);
    CHECK_GT(strtoll(kit_redis_str(r[i], pttl, sizeof pttl, "PTTL %s", name), NULL, 10), 500);
    redisFree(r[i]);
  }
  CHECK_OK(kit_release(&a, &ca, &err), &err);
  kit_forget(&a, &ca);
  kit_close(&a);
}

/* watch (issue 16) on every instance's subscriber: a release wakes an
 * armed candidate and none after unwatch, killed subscribers wake every
 * watch (the kit's cases), and a release, published on all 3 instances,
 * wakes one of 50 armed candidates of a session, not one per instance;
 * the pass-on too. From the release to the new term, server 0 runs 3
 * scripts: the release, the vote and the fence. */
static void watch_wakes_one_candidate_per_release(void) {
  test_cluster *c = kit_fresh_server("redlock3");
  REQUIRE(c != NULL);
  kit_redis_watch_release_case(&baton_backend_redlock, c->uri, c);
  kit_redis_watch_unwatch_case(&baton_backend_redlock, c->uri);
  kit_redis_watch_kill_case(&baton_backend_redlock, c->uri, c);
  CHECK_EQ(kit_redis_watch_herd_case(&baton_backend_redlock, c, 50), 3);
}

int main(int argc, char **argv) {
  static const test_case cases[] = {
      {"one_of_three_down", one_of_three_down},
      {"two_of_five_down", two_of_five_down},
      {"paused_instance_costs_at_most_its_bound", paused_instance_costs_at_most_its_bound},
      {"tokens_increase_across_empty_restarts", tokens_increase_across_empty_restarts},
      {"fresh_vote_counts_after_its_start_plus_ttl", fresh_vote_counts_after_its_start_plus_ttl},
      {"waiting_term_is_no_leader", waiting_term_is_no_leader},
      {"immediate_vote_outlasts_the_wait", immediate_vote_outlasts_the_wait},
      {"password_on_every_instance", password_on_every_instance},
      {"uri_is_checked", uri_is_checked},
      {"acquiring_time_shrinks_the_term", acquiring_time_shrinks_the_term},
      {"proclaim_needs_a_quorum", proclaim_needs_a_quorum},
      {"servers_are_counted", servers_are_counted},
      {"waiters_share_one_subscriber_per_instance", waiters_share_one_subscriber_per_instance},
      {"lease_ops_leave_a_live_term_alone", lease_ops_leave_a_live_term_alone},
      {"watch_wakes_one_candidate_per_release", watch_wakes_one_candidate_per_release},
      {NULL, NULL},
  };
  return test_main(argc, argv, cases);
}
