/* cluster_test.c — the etcd backend against a real 3-member cluster: the
 * member a client uses dies; requests, renewals and watches move on, and
 * no wake-up is lost. */
#include "etcd_kit.h"
#include "test.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#define B baton_backend_etcd

static test_cluster *cluster; /* the suite's (kit_server), started in main */

/* Bring member 0 back and wait until it serves linearizable reads, so the
 * next case starts with every member caught up. */
static void restart_first_member(void) {
  CHECK_EQ(test_server_restart(&cluster->member[0]), 0);
  char ep[64], uri[100];
  snprintf(uri, sizeof uri, "etcd://%s", kit_member_addr(cluster, 0, ep, sizeof ep));
  kit_session k;
  baton_error err = {0};
  int rc;
  KIT_RETRY(rc, 15000, kit_open(&k, &B, uri, NULL, 2000, &err));
  REQUIRE_OK(rc, &err);
  baton_leader who;
  KIT_RETRY(rc, 15000, B.leader(k.s, "t.ready", &who, kit_deadline(2000), &err));
  CHECK_EQ(rc, BATON_ENOLEADER);
  kit_close(&k);
}

/* After a hand-over from a to b: b takes the name with a greater token,
 * leaves, and both sessions close. */
static void finish_hand_over(kit_session *a, baton_candidate *ca, kit_session *b,
                             baton_candidate *cb) {
  baton_error err = {0};
  int rc;
  KIT_RETRY(rc, 15000, B.acquire(b->s, cb, NULL, kit_deadline(2000), &err));
  CHECK_OK(rc, &err);
  CHECK_GT(cb->token, ca->token);
  baton_leader who;
  KIT_RETRY(rc, 15000, B.leader(a->s, cb->name, &who, kit_deadline(2000), &err));
  CHECK_OK(rc, &err);
  CHECK_STR(who.identity, "b");
  KIT_RETRY(rc, 15000, B.release(b->s, cb, kit_deadline(2000), &err));
  CHECK_OK(rc, &err);
  kit_forget(a, ca);
  kit_forget(b, cb);
  kit_close(a);
  kit_close(b);
}

/* The client's member is killed: renewals and requests carry on through
 * another member, the waiter's watch reconnects and still gets its
 * wake-up, and the next token is greater. */
static void member_in_use_is_killed(void) {
  kit_session a, b;
  baton_error err = {0};
  baton_options oa = {.identity = "a"}, ob = {.identity = "b"};
  kit_log log;
  kit_log_attach(&log, &oa);
  REQUIRE_OK(kit_open(&a, &B, cluster->uri, &oa, 10000, &err), &err);
  REQUIRE_OK(kit_open(&b, &B, cluster->uri, &ob, 10000, &err), &err);
  baton_candidate ca = kit_cand(&a, "t.failover"), cb = kit_cand(&b, "t.failover");
  CHECK_OK(B.acquire(a.s, &ca, NULL, kit_deadline(3000), &err), &err);
  CHECK_EQ(B.acquire(b.s, &cb, NULL, kit_deadline(3000), &err), BATON_EHELD);
  /* Both clients talk to the first member listed: that is the one to kill. */

  kit_waiter w;
  REQUIRE_EQ(kit_waiter_start(&w, &b, &cb, NULL, 30000), 0);
  CHECK_EQ(kit_waiters_done(&w, 1, 1, 300), 0);
  test_server_kill(&cluster->member[0]);
  int64_t t0 = kit_now_ms();

  int rc;
  KIT_RETRY(rc, 15000, B.renew(a.s, NULL, 0, NULL, kit_deadline(2000), &err));
  CHECK_OK(rc, &err);
  KIT_RETRY(rc, 15000, B.renew(b.s, NULL, 0, NULL, kit_deadline(2000), &err));
  CHECK_OK(rc, &err);
  printf("  renewals through another member after %lld ms\n", (long long)kit_ms_since(t0));
  /* The operator is told which member was left, and why. */
  char killed[64], line[96];
  snprintf(line, sizeof line, "etcd: left member %s (",
           kit_member_addr(cluster, 0, killed, sizeof killed));
  const char *heard = kit_log_wait(&log, line, 0);
  CHECK(heard != NULL);
  if (heard != NULL) printf("  logged: %s\n", heard);
  CHECK_EQ(kit_waiters_done(&w, 1, 1, 0), 0); /* renewals are no reason to wake */
  KIT_RETRY(rc, 15000, B.release(a.s, &ca, kit_deadline(2000), &err));
  CHECK_OK(rc, &err);
  kit_waiter_join(&w);
  CHECK_OK(w.rc, &w.err);
  finish_hand_over(&a, &ca, &b, &cb);
  kit_log_destroy(&log);
  restart_first_member();
}

/* The predecessor leaves while the waiter's member is frozen: when that
 * member dies, the watch resumes on another member from the last revision
 * it saw, and the deletion it missed is delivered from history. With
 * `compact`, that history is compacted away first: the resumed watch is
 * cancelled, the waiter ranges again and finds its predecessor gone. */
static void resume_after_member_death(bool compact) {
  char only1[64], uri1[100];
  snprintf(uri1, sizeof uri1, "etcd://%s", kit_member_addr(cluster, 1, only1, sizeof only1));
  kit_session a, b;
  baton_error err = {0};
  baton_options oa = {.identity = "a"}, ob = {.identity = "b"};
  REQUIRE_OK(kit_open(&a, &B, uri1, &oa, 10000, &err), &err);
  REQUIRE_OK(kit_open(&b, &B, cluster->uri, &ob, 10000, &err), &err);
  const char *name = compact ? "t.compact" : "t.resume";
  baton_candidate ca = kit_cand(&a, name);
  baton_candidate cb = kit_cand(&b, name);
  baton_candidate marker = kit_cand(&a, "t.marker");
  int rc;
  KIT_RETRY(rc, 10000, B.acquire(a.s, &ca, NULL, kit_deadline(3000), &err));
  CHECK_OK(rc, &err);
  KIT_RETRY(rc, 10000, B.acquire(b.s, &cb, NULL, kit_deadline(3000), &err));
  CHECK_EQ(rc, BATON_EHELD);
  kit_waiter w;
  REQUIRE_EQ(kit_waiter_start(&w, &b, &cb, NULL, 30000), 0);
  CHECK_EQ(kit_waiters_done(&w, 1, 1, 300), 0);
  test_server_pause(&cluster->member[0]);
  KIT_RETRY(rc, 10000, B.release(a.s, &ca, kit_deadline(3000), &err));
  CHECK_OK(rc, &err);
  if (compact) {
    /* A new key's create_revision is the newest revision: compact to it. */
    KIT_RETRY(rc, 10000, B.acquire(a.s, &marker, NULL, kit_deadline(3000), &err));
    CHECK_OK(rc, &err);
    char rev[32], out[512];
    snprintf(rev, sizeof rev, "%llu", (unsigned long long)marker.token);
    const char *args[] = {"compaction", rev, NULL};
    CHECK_EQ(kit_etcd_ctl(only1, out, sizeof out, args), 0);
    CHECK_CONTAINS(out, "compacted revision");
  }
  CHECK_EQ(kit_waiters_done(&w, 1, 1, 300), 0); /* its member is frozen: nothing came yet */
  int64_t t0 = kit_now_ms();
  test_server_kill(&cluster->member[0]);
  kit_waiter_join(&w);
  CHECK_OK(w.rc, &w.err);
  printf("  waiter woke %lld ms after its member died\n", (long long)(w.woke_at - t0));
  CHECK_LT((w.woke_at - t0), 5000);
  KIT_RETRY(rc, 10000, B.release(a.s, &marker, kit_deadline(3000), &err));
  CHECK_OK(rc, &err);
  kit_forget(&a, &marker);
  finish_hand_over(&a, &ca, &b, &cb);
  restart_first_member();
}

static void watch_resumes_from_the_last_revision(void) { resume_after_member_death(false); }

static void compacted_resume_point_ranges_again(void) { resume_after_member_death(true); }

int main(int argc, char **argv) {
  static const test_case cases[] = {
      {"member_in_use_is_killed", member_in_use_is_killed},
      {"watch_resumes_from_the_last_revision", watch_resumes_from_the_last_revision},
      {"compacted_resume_point_ranges_again", compacted_resume_point_ranges_again},
      {NULL, NULL},
  };
  if ((cluster = kit_server("etcd3")) == NULL) return 1; /* a missing server fails */
  int rc = test_main(argc, argv, cases);
  return rc;
}
