/* watch_test.c — the etcd backend's subscriptions (watch, unwatch; hub.c)
 * against a real member: one prefix watch stream per session, demultiplexed
 * by name. Who wakes on what, a change between a watch's range and its arm
 * (the ring rule), a herd, 10,000 names on one stream and one thread, and a
 * stream cut by a proxy: resumed without a miss, or past a compaction with
 * everyone woken. What every backend's watch promises is the seam suite's. */
#include "etcd.h"
#include "etcd_kit.h"
#include "proxy.h"
#include "test.h"
#include "wakes.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define B baton_backend_etcd
#define QUIET_MS 200   /* a watch that should not wake stays quiet this long */
#define WAKE_MS 2000   /* a watch that should wake does within this */
#define RESUME_MS 6000 /* a cut stream resumes (back-off up to 1 s) within this */

static test_cluster *etcd; /* the suite's (kit_server), started in main */

/* ---- Wake-ups ---------------------------------------------------------------- */

static int arm(kit_session *k, baton_candidate *c, const baton_leader *seen, kit_wakes *w,
               baton_error *err) {
  int64_t recheck_at = 0;
  int rc = B.watch(k->s, c, seen, kit_on_wake, w, &recheck_at, kit_deadline(KIT_CALL_MS), err);
  if (rc == 0) CHECK_GT(recheck_at, baton__now());
  return rc;
}

/* ---- The session and the server ------------------------------------------------ */

/* op_ms: the op timeout (0: the default), which bounds how long a cut
 * stream leaves its watches armed. */
static int open_with(kit_session *k, const char *uri, const char *identity, uint32_t op_ms,
                     baton_error *err) {
  baton_options o = {.identity = identity, .op_timeout_ms = op_ms};
  return kit_open(k, &B, uri, &o, KIT_CALL_MS, err);
}

static int open_as(kit_session *k, const char *uri, const char *identity, baton_error *err) {
  return open_with(k, uri, identity, 0, err);
}

static baton_etcd_hub_stats hub(kit_session *k) {
  baton_etcd_hub_stats st;
  baton__etcd_hub_stats(k->s, &st);
  return st;
}

/* Until k's hub has a stream up (want) or none (!want), at most ms. */
static bool hub_up_becomes(kit_session *k, bool want, int ms) {
  for (int64_t end = kit_now_ms() + ms;; kit_sleep_ms(10)) {
    if (hub(k).up == want) return true;
    if (kit_ms_left(end) == 0) return false;
  }
}

/* Until k's hub has delivered events up to `rev`, at most ms. */
static bool hub_delivers(kit_session *k, int64_t rev, int ms) {
  for (int64_t end = kit_now_ms() + ms;; kit_sleep_ms(5)) {
    if (hub(k).delivered >= rev) return true;
    if (kit_ms_left(end) == 0) return false;
  }
}

/* POST to member 0 behind the backend's back: the reply's header revision,
 * or -1. */
static int64_t post(const char *path, const char *body) {
  char *reply = NULL;
  int64_t rev = -1;
  if (kit_etcd_http(etcd, path, body, &reply) == 200) {
    const char *at = strstr(reply, "\"revision\":\"");
    if (at != NULL) rev = strtoll(at + 12, NULL, 10);
  }
  free(reply);
  return rev;
}

/* Put `n` keys (at most 128: --max-txn-ops) under "<name>/" in one txn,
 * one revision: its revision, or -1. */
static int64_t put_many(const char *name, int n, int first) {
  baton_etcd_str b = {0};
  baton__etcd_str_cat(&b, "{\"success\":[");
  for (int i = 0; i < n; i++) {
    char key[128];
    int len = snprintf(key, sizeof key, "%s/k%d", name, first + i);
    baton__etcd_str_cat(&b, i == 0 ? "{\"request_put\":{\"key\":" : ",{\"request_put\":{\"key\":");
    baton__etcd_str_b64(&b, key, (size_t)len);
    baton__etcd_str_cat(&b, ",\"value\":\"eA==\"}}");
  }
  baton__etcd_str_cat(&b, "]}");
  int64_t rev = b.oom ? -1 : post("/v3/kv/txn", b.p);
  baton__etcd_str_free(&b);
  return rev;
}

/* Delete every key under "<name>/". */
static void delete_all(const char *name) {
  baton_etcd_str b = {0};
  baton__etcd_str_cat(&b, "{");
  char prefix[128];
  int len = snprintf(prefix, sizeof prefix, "%s/", name);
  baton__etcd_req_key(&b, prefix, (size_t)len, true);
  baton__etcd_str_cat(&b, "}");
  if (!b.oom) post("/v3/kv/deleterange", b.p);
  baton__etcd_str_free(&b);
}

/* Entries of a /proc/self folder (threads, descriptors), or -1. */
static int entries(const char *path) {
  DIR *d = opendir(path);
  if (d == NULL) return -1;
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

/* Two sessions (a holds, b waits or observes), each with a candidate on
 * one fresh name. */
typedef struct pair {
  kit_session a, b;
  baton_candidate ca, cb;
  char name[BATON_NAME_MAX + 1];
  kit_cond kc;
  proxy *px;       /* b's way to the server, or NULL: direct */
} pair;

/* Open a pair; with `proxied` b goes through a proxy of its own (p->px)
 * with an op timeout of op_ms (0: the default); with a `prefix` (NULL:
 * none) both use it as their URI's path. */
static bool pair_open_at(pair *p, const char *tag, bool proxied, uint32_t op_ms,
                         const char *prefix) {
  baton_error err = {0};
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", kit_name(tag));
  char uri_a[1400], uri_b[1400], base[1024];
  snprintf(base, sizeof base, "%s", etcd->uri);
  if (proxied) {
    if (proxy_start(&p->px, etcd->member[0].port) != 0) {
      TEST_FAIL_("cannot start a proxy");
      return false;
    }
    int port = proxy_port(p->px);
    kit_uri_at(base, sizeof base, etcd->uri, &port, 1);
  }
  snprintf(uri_a, sizeof uri_a, "%s/%s", etcd->uri, prefix != NULL ? prefix : "");
  snprintf(uri_b, sizeof uri_b, "%s/%s", base, prefix != NULL ? prefix : "");
  if (open_as(&p->a, uri_a, "alice", &err) != 0 ||
      open_with(&p->b, uri_b, "bob", op_ms, &err) != 0) {
    TEST_FAIL_("cannot open: %s", err.message);
    kit_close(&p->a);
    proxy_stop(p->px);
    return false;
  }
  p->ca = kit_cand(&p->a, p->name);
  p->cb = kit_cand(&p->b, p->name);
  kit_cond_init(&p->kc);
  return true;
}

static bool pair_open(pair *p, const char *tag) { return pair_open_at(p, tag, false, 0, NULL); }

/* The op timeout of the cut cases: their breaks are shorter, so they
 * resume without the wake-up of a long break. */
#define CUT_OP_MS 3000

static void pair_close(pair *p) {
  B.unwatch(p->b.s, &p->cb);
  kit_drop(&p->a, &p->ca);
  kit_drop(&p->b, &p->cb);
  kit_close(&p->a);
  kit_close(&p->b);
  kit_cond_destroy(&p->kc);
  proxy_stop(p->px);
}

/* Cut b's stream (the proxy drops every connection and refuses new
 * ones): true once b's hub says it is down. */
static bool cut(pair *p) {
  proxy_set_mode(p->px, PROXY_DROP, 0);
  return hub_up_becomes(&p->b, false, WAKE_MS);
}

/* Compact the server's history before `rev`: the reply's revision. */
static int64_t compact(int64_t rev) {
  char body[96];
  snprintf(body, sizeof body, "{\"revision\":\"%lld\",\"physical\":true}", (long long)rev);
  return post("/v3/kv/compaction", body);
}

/* a leads, b's candidate queues behind it and arms its watch. */
static bool queue_and_arm(pair *p, kit_wakes *w) {
  baton_error err = {0};
  baton_leader holder = {0};
  if (kit_acquire(&p->a, &p->ca, NULL, &err) != 0 ||
      kit_acquire(&p->b, &p->cb, &holder, &err) != BATON_EHELD ||
      arm(&p->b, &p->cb, &holder, w, &err) != 0) {
    TEST_FAIL_("cannot queue and arm: %s", err.message);
    return false;
  }
  return true;
}

/* ---- Cases ------------------------------------------------------------------------ */

/* A queued candidate's watch stays quiet while the holder holds, wakes on
 * another thread soon after the release, and its wake-up proves the
 * election: the acquire after it sends nothing. */
static void queued_watch_wakes_on_the_release_with_a_proof(void) {
  pair p;
  REQUIRE(pair_open(&p, "w.queued"));
  kit_wakes w = {.c = &p.kc};
  baton_error err = {0};
  if (queue_and_arm(&p, &w)) {
    kit_sleep_ms(QUIET_MS); /* nothing says a wrong wake-up would have come by now */
    CHECK_EQ(kit_wakes_reach(&w, 1, 1, 0), 0);
    int64_t t0 = kit_now_ms();
    CHECK_OK(kit_release(&p.a, &p.ca, &err), &err);
    CHECK_EQ(kit_wakes_reach(&w, 1, 1, WAKE_MS), 1);
    CHECK(!pthread_equal(w.by, pthread_self()));
    printf("  hand-over: woken %lld ms after the release\n", (long long)(w.at - t0));
    uint64_t before = kit_etcd_requests(&p.b);
    CHECK_OK(kit_acquire(&p.b, &p.cb, NULL, &err), &err);
    CHECK_EQ(kit_etcd_requests(&p.b) - before, 0);
    CHECK_GT(p.cb.token, p.ca.token);
    CHECK_EQ(hub(&p.b).streams, 1);
  }
  pair_close(&p);
}

/* An observer wakes when a leader is elected, proclaims and leaves, and
 * not for what does not change the leader: another name's election, a
 * candidate queueing behind the leader. */
static void observer_wakes_on_leader_changes_only(void) {
  pair p; /* b observes with cb, which never acquires */
  REQUIRE(pair_open(&p, "w.obs"));
  kit_wakes w = {.c = &p.kc};
  baton_error err = {0};
  baton_leader none = {0}, seen = {0};
  baton_candidate other = kit_cand(&p.a, kit_name("w.other"));
  baton_candidate second = kit_cand(&p.a, p.name);
  second.slot = 1;
  CHECK_OK(arm(&p.b, &p.cb, &none, &w, &err), &err);
  CHECK_OK(kit_acquire(&p.a, &other, NULL, &err), &err);
  kit_sleep_ms(QUIET_MS);
  CHECK_EQ(kit_wakes_reach(&w, 1, 1, 0), 0);
  CHECK_OK(kit_acquire(&p.a, &p.ca, NULL, &err), &err); /* elected */
  CHECK_EQ(kit_wakes_reach(&w, 1, 1, WAKE_MS), 1);
  CHECK_OK(kit_leader(&p.b, p.name, &seen, &err), &err);
  CHECK_OK(arm(&p.b, &p.cb, &seen, &w, &err), &err);
  CHECK_EQ(kit_acquire(&p.a, &second, NULL, &err), BATON_EHELD); /* queues */
  kit_sleep_ms(QUIET_MS);
  CHECK_EQ(kit_wakes_reach(&w, 1, 2, 0), 1);
  CHECK_OK(B.proclaim(p.a.s, &p.ca, "v1", kit_deadline(KIT_CALL_MS), &err), &err);
  CHECK_EQ(kit_wakes_reach(&w, 1, 2, WAKE_MS), 2);
  CHECK_OK(kit_leader(&p.b, p.name, &seen, &err), &err);
  CHECK_OK(arm(&p.b, &p.cb, &seen, &w, &err), &err);
  kit_sleep_ms(QUIET_MS);
  CHECK_EQ(kit_wakes_reach(&w, 1, 3, 0), 2);
  CHECK_OK(kit_release(&p.a, &p.ca, &err), &err); /* leaves */
  CHECK_EQ(kit_wakes_reach(&w, 1, 3, WAKE_MS), 3);
  kit_drop(&p.a, &second);
  kit_drop(&p.a, &other);
  pair_close(&p);
}

/* After unwatch a release kit_wakes nothing; an observer armed beside it is
 * the positive control that the release was seen. */
static void unwatch_silences_a_watch(void) {
  pair p;
  REQUIRE(pair_open(&p, "w.unwatch"));
  kit_wakes w[2] = {{.c = &p.kc}, {.c = &p.kc}};
  baton_error err = {0};
  baton_candidate obs = kit_cand(&p.b, p.name);
  obs.slot = 5;
  if (queue_and_arm(&p, &w[0])) {
    baton_leader holder = {0};
    CHECK_OK(kit_leader(&p.b, p.name, &holder, &err), &err);
    CHECK_OK(arm(&p.b, &obs, &holder, &w[1], &err), &err);
    B.unwatch(p.b.s, &p.cb);
    CHECK_OK(kit_release(&p.a, &p.ca, &err), &err);
    CHECK_EQ(kit_wakes_reach(&w[1], 1, 1, WAKE_MS), 1);
    kit_sleep_ms(QUIET_MS); /* its wake-up would have come with the observer's */
    CHECK_EQ(kit_wakes_reach(&w[0], 1, 1, 0), 0);
  }
  kit_forget(&p.b, &obs);
  pair_close(&p);
}

/* 1,000 candidates of one session queue on one name: one release kit_wakes
 * exactly one, the next in line, whose acquire then sends nothing; its
 * release wakes exactly the next. */
static void herd_one_release_wakes_one(void) {
  enum { HERD = 1000 };
  pair p;
  REQUIRE(pair_open(&p, "w.herd"));
  baton_candidate *cs = calloc(HERD, sizeof *cs);
  kit_wakes *ws = calloc(HERD, sizeof *ws);
  baton_error err = {0};
  REQUIRE(cs != NULL && ws != NULL);
  CHECK_OK(kit_acquire(&p.a, &p.ca, NULL, &err), &err);
  int64_t t_arm = kit_now_ms();
  int armed = 0;
  for (int i = 0; i < HERD; i++) {
    cs[i] = kit_cand(&p.b, p.name);
    cs[i].slot = (unsigned)i + 1;
    ws[i].c = &p.kc;
    baton_leader holder;
    if (kit_acquire(&p.b, &cs[i], &holder, &err) != BATON_EHELD ||
        arm(&p.b, &cs[i], &holder, &ws[i], &err) != 0)
      break;
    armed++;
  }
  CHECK_EQ(armed, HERD);
  printf("  %d queued and armed in %lld ms\n", armed, (long long)kit_ms_since(t_arm));
  kit_sleep_ms(QUIET_MS);
  CHECK_EQ(kit_wakes_reach(ws, HERD, 1, 0), 0);
  if (armed == HERD) {
    CHECK_OK(kit_release(&p.a, &p.ca, &err), &err);
    CHECK_EQ(kit_wakes_reach(ws, HERD, 1, WAKE_MS), 1);
    kit_sleep_ms(500); /* a herd would wake the others within milliseconds */
    CHECK_EQ(kit_wakes_reach(ws, HERD, 2, 0), 1);
    CHECK_EQ(ws[0].n, 1);
    uint64_t before = kit_etcd_requests(&p.b);
    CHECK_OK(kit_acquire(&p.b, &cs[0], NULL, &err), &err);
    CHECK_EQ(kit_etcd_requests(&p.b) - before, 0);
    CHECK_OK(kit_release(&p.b, &cs[0], &err), &err);
    CHECK_EQ(kit_wakes_reach(ws, HERD, 2, WAKE_MS), 2);
    CHECK_EQ(ws[1].n, 1);
    baton_etcd_hub_stats st = hub(&p.b);
    CHECK_EQ(st.streams, 1);
    CHECK_EQ(st.armed, HERD - 2);
  }
  for (int i = 0; i < HERD; i++) B.unwatch(p.b.s, &cs[i]);
  for (int i = 0; i < HERD; i++) kit_drop(&p.b, &cs[i]);
  free(cs);
  free(ws);
  pair_close(&p);
}

/* One revision that deletes the holder's keys of many names (a lease
 * ending does) wakes each name's queued watch once, with its proof, and
 * no watch of a name it does not touch. */
static void one_revision_of_many_names_wakes_each_name_once(void) {
  enum { NAMES = 8 };
  pair p;
  REQUIRE(pair_open(&p, "w.rev"));
  char names[NAMES + 1][BATON_NAME_MAX + 1];
  baton_candidate ca[NAMES + 1], cb[NAMES + 1];
  kit_wakes ws[NAMES + 1];
  memset(ws, 0, sizeof ws);
  baton_error err = {0};
  int armed = 0;
  for (int i = 0; i <= NAMES; i++) {
    snprintf(names[i], sizeof names[i], "%.100s-%d", p.name, i);
    ca[i] = kit_cand(&p.a, names[i]);
    cb[i] = kit_cand(&p.b, names[i]);
    ws[i].c = &p.kc;
    baton_leader holder = {0};
    if (kit_acquire(&p.a, &ca[i], NULL, &err) != 0 ||
        kit_acquire(&p.b, &cb[i], &holder, &err) != BATON_EHELD ||
        arm(&p.b, &cb[i], &holder, &ws[i], &err) != 0)
      break;
    armed++;
  }
  CHECK_EQ(armed, NAMES + 1);
  if (armed == NAMES + 1) {
    baton_etcd_str b = {0};
    baton__etcd_str_cat(&b, "{\"success\":[");
    for (int i = 0; i < NAMES; i++) { /* not the last name's */
      const baton_etcd_cand *ec = ca[i].priv;
      baton__etcd_str_cat(&b, i == 0 ? "{\"request_delete_range\":{\"key\":"
                                     : ",{\"request_delete_range\":{\"key\":");
      baton__etcd_str_b64(&b, ec->key, ec->key_len);
      baton__etcd_str_cat(&b, "}}");
    }
    baton__etcd_str_cat(&b, "]}");
    CHECK_GT(b.oom ? -1 : post("/v3/kv/txn", b.p), 0);
    baton__etcd_str_free(&b);
    CHECK_EQ(kit_wakes_reach(ws, NAMES, NAMES, WAKE_MS), NAMES);
    kit_sleep_ms(QUIET_MS); /* nothing says a wrong wake-up would have come by now */
    for (int i = 0; i < NAMES; i++) CHECK_EQ(ws[i].n, 1);
    CHECK_EQ(ws[NAMES].n, 0);
    uint64_t before = kit_etcd_requests(&p.b);
    for (int i = 0; i < NAMES; i++) CHECK_OK(kit_acquire(&p.b, &cb[i], NULL, &err), &err);
    CHECK_EQ(kit_etcd_requests(&p.b) - before, 0); /* every wake-up proved its election */
  }
  for (int i = 0; i < armed; i++) {
    B.unwatch(p.b.s, &cb[i]);
    kit_drop(&p.a, &ca[i]);
    kit_drop(&p.b, &cb[i]);
  }
  pair_close(&p);
}

/* ---- The ring rule: a change between a watch's range and its arm ----- */

typedef struct between {
  pair *p;
  int what;           /* 0 release the holder, 1 flood another name, 2 one put there */
  char flood[BATON_NAME_MAX + 1];
  bool ok;
} between;

/* Runs inside watch, after its range: make the change and wait until the
 * watcher's stream has delivered it, so the arm finds it behind H. */
static void make_change(void *arg) {
  between *bt = arg;
  baton_error err = {0};
  int64_t rev = -1;
  if (bt->what == 0) {
    bt->ok = kit_release(&bt->p->a, &bt->p->ca, &err) == 0;
    rev = post("/v3/kv/range", "{\"key\":\"AA==\",\"count_only\":true}");
  } else {
    /* More events than the ring keeps, in revisions of 128 (or one). */
    int n = bt->what == 1 ? 4096 / 128 + 1 : 1;
    for (int i = 0; i < n; i++) rev = put_many(bt->flood, bt->what == 1 ? 128 : 1, i * 128);
  }
  bt->ok = rev > 0 && hub_delivers(&bt->p->b, rev, WAKE_MS);
}

/* A ring case: a leads, b's candidate is queued behind it, and b's
 * stream runs (an observer of a quiet name started it), so that a change
 * made inside the next arm of cb can be behind the stream. */
typedef struct ring_case {
  pair p;
  baton_candidate starter; /* the quiet observer */
  kit_wakes ws, w;             /* its wake-ups, cb's */
  baton_leader holder;     /* what cb's acquire named */
} ring_case;

static bool ring_case_open(ring_case *r, const char *tag) {
  baton_error err = {0};
  baton_leader none = {0};
  if (!pair_open(&r->p, tag)) return false;
  r->starter = kit_cand(&r->p.b, kit_name("w.start"));
  r->ws = (kit_wakes){.c = &r->p.kc};
  r->w = (kit_wakes){.c = &r->p.kc};
  if (kit_acquire(&r->p.a, &r->p.ca, NULL, &err) != 0 ||
      kit_acquire(&r->p.b, &r->p.cb, &r->holder, &err) != BATON_EHELD ||
      arm(&r->p.b, &r->starter, &none, &r->ws, &err) != 0 ||
      !hub_up_becomes(&r->p.b, true, WAKE_MS)) {
    TEST_FAIL_("cannot set the case up: %s", err.message);
    kit_forget(&r->p.b, &r->starter);
    pair_close(&r->p);
    return false;
  }
  return true;
}

static void ring_case_close(ring_case *r) {
  baton__etcd_hub_test_between(NULL, NULL);
  CHECK_EQ(r->ws.n, 0);
  kit_forget(&r->p.b, &r->starter);
  pair_close(&r->p);
}

/* cb's watch, with bt's change made between its range and its arm. */
static int arm_across(ring_case *r, between *bt, baton_error *err) {
  baton__etcd_hub_test_between(make_change, bt);
  int rc = arm(&r->p.b, &r->p.cb, &r->holder, &r->w, err);
  baton__etcd_hub_test_between(NULL, NULL);
  CHECK(bt->ok);
  return rc;
}

/* A release between the range and the arm: the ring has it, so the watch
 * wakes at once, with the proof (the acquire sends nothing). */
static void change_before_the_arm_wakes_at_once(void) {
  ring_case r;
  REQUIRE(ring_case_open(&r, "w.ring"));
  baton_error err = {0};
  between bt = {.p = &r.p, .what = 0};
  int64_t t0 = kit_now_ms();
  CHECK_OK(arm_across(&r, &bt, &err), &err);
  CHECK_EQ(kit_wakes_reach(&r.w, 1, 1, TEST_SLACK_MS), 1);
  printf("  woken %lld ms after the arm began (the release came before it)\n",
         (long long)(r.w.at - t0));
  uint64_t before = kit_etcd_requests(&r.p.b);
  CHECK_OK(kit_acquire(&r.p.b, &r.p.cb, NULL, &err), &err);
  CHECK_EQ(kit_etcd_requests(&r.p.b) - before, 0);
  ring_case_close(&r);
}

/* Changes to another name between the range and the arm: one that the
 * ring keeps wakes nothing; more than the ring keeps wakes at once (it
 * cannot tell), and the look after finds the holder still there. */
static void ring_overrun_wakes_at_once(void) {
  ring_case r;
  REQUIRE(ring_case_open(&r, "w.overrun"));
  baton_error err = {0};
  between bt = {.p = &r.p, .what = 2};
  snprintf(bt.flood, sizeof bt.flood, "%s", kit_name("w.flood"));
  CHECK_OK(arm_across(&r, &bt, &err), &err);
  kit_sleep_ms(QUIET_MS);
  CHECK_EQ(kit_wakes_reach(&r.w, 1, 1, 0), 0);
  bt.what = 1;
  CHECK_OK(arm_across(&r, &bt, &err), &err);
  CHECK_EQ(kit_wakes_reach(&r.w, 1, 1, TEST_SLACK_MS), 1);
  CHECK_EQ(kit_acquire(&r.p.b, &r.p.cb, NULL, &err), BATON_EHELD);
  delete_all(bt.flood);
  ring_case_close(&r);
}

/* ---- Scale ------------------------------------------------------------------------- */

enum { MANY = 10000, ARMERS = 4 };

typedef struct armer {
  kit_session *k;
  baton_candidate *cs;
  kit_wakes *ws;
  int from, to;
  int failed;
  baton_error err;
} armer;

static void *arm_range(void *arg) {
  armer *a = arg;
  baton_leader none = {0};
  for (int i = a->from; i < a->to; i++) {
    int64_t recheck_at;
    if (B.watch(a->k->s, &a->cs[i], &none, kit_on_wake, &a->ws[i], &recheck_at,
                kit_deadline(KIT_CALL_MS), &a->err) != 0)
      a->failed++;
  }
  return NULL;
}

/* Arm cs[from..to) on ARMERS threads; returns the failures. */
static int arm_many(kit_session *k, baton_candidate *cs, kit_wakes *ws, int from, int to) {
  armer a[ARMERS];
  pthread_t t[ARMERS];
  bool started[ARMERS];
  int per = (to - from + ARMERS - 1) / ARMERS, failed = 0;
  for (int i = 0; i < ARMERS; i++) {
    int lo = from + i * per, hi = lo + per < to ? lo + per : to;
    a[i] = (armer){k, cs, ws, lo, hi, 0, {0}};
    started[i] = pthread_create(&t[i], NULL, arm_range, &a[i]) == 0;
    if (!started[i]) arm_range(&a[i]);
  }
  for (int i = 0; i < ARMERS; i++) {
    if (started[i]) pthread_join(t[i], NULL);
    if (a[i].failed > 0) TEST_FAIL_("%d watches failed: %s", a[i].failed, a[i].err.message);
    failed += a[i].failed;
  }
  return failed;
}

/* 10,000 observers on 10,000 names: one stream, one thread, and as few
 * descriptors with 10,000 armed as with 200 (a conn each for the hub and
 * the pooled arming threads, none per name); one election among them
 * wakes exactly its observer. */
static void ten_thousand_names_one_stream(void) {
  kit_session b, a;
  baton_error err = {0};
  REQUIRE_OK(open_as(&b, etcd->uri, "watcher", &err), &err);
  REQUIRE_OK(open_as(&a, etcd->uri, "alice", &err), &err);
  baton_candidate *cs = calloc(MANY, sizeof *cs);
  kit_wakes *ws = calloc(MANY, sizeof *ws);
  char(*names)[48] = calloc(MANY, sizeof *names);
  kit_cond kc;
  kit_cond_init(&kc);
  REQUIRE(cs != NULL && ws != NULL && names != NULL);
  const char *base = kit_name("w.many");
  for (int i = 0; i < MANY; i++) {
    snprintf(names[i], sizeof names[i], "%s-%d", base, i);
    cs[i] = kit_cand(&b, names[i]);
    ws[i].c = &kc;
  }
  /* Threads come and go once first: ThreadSanitizer starts a thread of
   * its own with the first one. */
  CHECK_EQ(arm_many(&b, cs, ws, 0, 0), 0);
  int threads0 = entries("/proc/self/task"), fds0 = entries("/proc/self/fd");
  CHECK_EQ(arm_many(&b, cs, ws, 0, 200), 0);
  int threads1 = entries("/proc/self/task"), fds1 = entries("/proc/self/fd");
  int64_t t0 = kit_now_ms();
  CHECK_EQ(arm_many(&b, cs, ws, 200, MANY), 0);
  int64_t ms = kit_ms_since(t0);
  int threads2 = entries("/proc/self/task"), fds2 = entries("/proc/self/fd");
  baton_etcd_hub_stats st = hub(&b);
  printf("  %d observer watches: %d more armed in %lld ms; threads %d -> %d -> %d, "
         "descriptors %d -> %d -> %d (none, 200, %d armed); %llu stream(s)\n",
         MANY, MANY - 200, (long long)ms, threads0, threads1, threads2, fds0, fds1, fds2, MANY,
         (unsigned long long)st.streams);
  CHECK_EQ(st.armed, MANY);
  CHECK_EQ(st.streams, 1);
  /* The hub's one thread; descriptors: the hub's conn and the pooled
   * conns of the arming threads (how many of those the pool keeps
   * depends on how the threads met), and none added per name. */
  CHECK_EQ(threads1, threads0 + 1);
  CHECK_EQ(threads2, threads1);
  CHECK_LE(fds1 - fds0, 3 * (ARMERS + 1));
  CHECK_LE(fds2 - fds0, 3 * (ARMERS + 1));
  CHECK_EQ(kit_wakes_reach(ws, MANY, 1, 0), 0);
  baton_candidate c = kit_cand(&a, names[7777]);
  CHECK_OK(kit_acquire(&a, &c, NULL, &err), &err);
  CHECK_EQ(kit_wakes_reach(ws, MANY, 1, WAKE_MS), 1);
  kit_sleep_ms(QUIET_MS);
  CHECK_EQ(kit_wakes_reach(ws, MANY, 2, 0), 1);
  CHECK_EQ(ws[7777].n, 1);
  for (int i = 0; i < MANY; i++) kit_forget(&b, &cs[i]);
  CHECK_EQ(hub(&b).armed, 0);
  kit_drop(&a, &c);
  kit_close(&a);
  kit_close(&b);
  kit_cond_destroy(&kc);
  free(cs);
  free(ws);
  free(names);
}

/* ---- Breaks ------------------------------------------------------------------------- */

/* b behind a proxy: its stream is cut while the holder releases, and the
 * resume from the last revision it saw still delivers the release: the
 * watch wakes, with the proof, once the proxy lets it through. */
static void cut_stream_resumes_without_a_miss(void) {
  pair p;
  REQUIRE(pair_open_at(&p, "w.cut", true, CUT_OP_MS, NULL));
  kit_wakes w = {.c = &p.kc};
  baton_error err = {0};
  if (queue_and_arm(&p, &w) && hub_up_becomes(&p.b, true, WAKE_MS)) {
    CHECK(cut(&p));
    CHECK_OK(kit_release(&p.a, &p.ca, &err), &err);
    kit_sleep_ms(QUIET_MS);
    CHECK_EQ(kit_wakes_reach(&w, 1, 1, 0), 0); /* nothing reached b yet */
    int64_t t0 = kit_now_ms();
    proxy_set_mode(p.px, PROXY_PASS, 0);
    CHECK_EQ(kit_wakes_reach(&w, 1, 1, RESUME_MS), 1);
    printf("  woken %lld ms after the proxy let the stream through again\n",
           (long long)(w.at - t0));
    baton_etcd_hub_stats st = hub(&p.b);
    CHECK_GE(st.streams, 2);
    CHECK_EQ(st.compactions, 0);
    uint64_t before = kit_etcd_requests(&p.b);
    CHECK_OK(kit_acquire(&p.b, &p.cb, NULL, &err), &err);
    CHECK_EQ(kit_etcd_requests(&p.b) - before, 0);
  }
  pair_close(&p);
}

/* A session on a prefix of its own sees none of the events around it; the
 * progress notifications it asked for (every second here: the kit's
 * etcd) still move its stream's revision on, so a resume after a
 * compaction of revisions it never needed kit_wakes nobody; and a change on
 * its prefix still wakes its watch after that. */
static void progress_keeps_a_quiet_stream_current(void) {
  pair p; /* b observes */
  char prefix[BATON_NAME_MAX + 2];
  snprintf(prefix, sizeof prefix, "%s/", kit_name("w.pfx"));
  REQUIRE(pair_open_at(&p, "quiet", true, CUT_OP_MS, prefix));
  kit_wakes w = {.c = &p.kc};
  baton_error err = {0};
  baton_leader none = {0};
  const char *noise = kit_name("w.noise"); /* outside the prefix */
  CHECK_OK(arm(&p.b, &p.cb, &none, &w, &err), &err);
  CHECK(hub_up_becomes(&p.b, true, WAKE_MS));
  put_many(noise, 1, 0);
  int64_t rev = put_many(noise, 1, 1); /* two revisions past b's range */
  CHECK(hub_delivers(&p.b, rev, 4000)); /* by a progress notification alone */
  CHECK(cut(&p));
  CHECK_GT(compact(rev), 0);
  proxy_set_mode(p.px, PROXY_PASS, 0);
  CHECK(hub_up_becomes(&p.b, true, RESUME_MS));
  kit_sleep_ms(QUIET_MS);
  CHECK_EQ(hub(&p.b).compactions, 0);
  CHECK_EQ(kit_wakes_reach(&w, 1, 1, 0), 0);
  CHECK_OK(kit_acquire(&p.a, &p.ca, NULL, &err), &err);
  CHECK_EQ(kit_wakes_reach(&w, 1, 1, WAKE_MS), 1);
  delete_all(noise);
  pair_close(&p);
}

/* A stream that stays cut for an op timeout wakes its watches, once,
 * although nothing happened: the core looks again rather than wait blind.
 * Watches armed later are told to look again within an op timeout. */
static void long_break_wakes_once(void) {
  pair p;
  REQUIRE(pair_open_at(&p, "w.long", true, 500, NULL));
  kit_wakes w[2] = {{.c = &p.kc}, {.c = &p.kc}};
  baton_error err = {0};
  baton_leader none = {0};
  baton_candidate obs = kit_cand(&p.b, kit_name("w.quiet"));
  if (queue_and_arm(&p, &w[0]) && arm(&p.b, &obs, &none, &w[1], &err) == 0 &&
      hub_up_becomes(&p.b, true, WAKE_MS)) {
    kit_sleep_ms(QUIET_MS);
    CHECK_EQ(kit_wakes_reach(w, 2, 1, 0), 0);
    int64_t t0 = kit_now_ms();
    CHECK(cut(&p));
    CHECK_EQ(kit_wakes_reach(w, 2, 2, 500 + WAKE_MS), 2);
    printf("  woken %lld ms after the cut (op timeout 500 ms)\n", (long long)(kit_now_ms() - t0));
    CHECK_EQ(w[0].n, 1);
    CHECK_EQ(w[1].n, 1);
    CHECK(!hub(&p.b).up);
    proxy_set_mode(p.px, PROXY_PASS, 0);
  } else {
    TEST_FAIL_("cannot arm: %s", err.message);
  }
  kit_forget(&p.b, &obs);
  pair_close(&p);
}

/* The revisions a cut stream missed are compacted before it resumes: it
 * cannot know what it missed, so every armed watch wakes (here a queued
 * candidate and an observer of a name where nothing happened). */
static void compaction_while_cut_wakes_everyone(void) {
  pair p;
  REQUIRE(pair_open_at(&p, "w.compact", true, CUT_OP_MS, NULL));
  kit_wakes w[2] = {{.c = &p.kc}, {.c = &p.kc}};
  baton_error err = {0};
  baton_leader none = {0};
  baton_candidate obs = kit_cand(&p.b, kit_name("w.quiet"));
  const char *noise = kit_name("w.noise");
  if (queue_and_arm(&p, &w[0]) && arm(&p.b, &obs, &none, &w[1], &err) == 0 &&
      hub_up_becomes(&p.b, true, WAKE_MS)) {
    CHECK(cut(&p));
    put_many(noise, 1, 0);
    CHECK_GT(compact(put_many(noise, 1, 1)), 0);
    proxy_set_mode(p.px, PROXY_PASS, 0);
    CHECK_EQ(kit_wakes_reach(w, 2, 2, RESUME_MS), 2);
    CHECK_EQ(w[0].n, 1);
    CHECK_EQ(w[1].n, 1);
    CHECK_EQ(hub(&p.b).compactions, 1);
  } else {
    TEST_FAIL_("cannot arm: %s", err.message);
  }
  delete_all(noise);
  kit_forget(&p.b, &obs);
  pair_close(&p);
}

/* With auth on (a member of its own: it changes the server), the stream
 * carries the session's token; a resume after the token went stale (auth
 * disabled and enabled again drops every token, as a restart or the
 * token's TTL would) logs in again, and the watch still wakes. */
static void resume_logs_in_again(void) {
  test_cluster *sec = kit_fresh_server("etcd"); /* stopped after the case */
  REQUIRE(sec != NULL);
  char uri[300];
  CHECK_EQ(kit_etcd_auth(sec, true), 0);
  proxy *px = NULL;
  REQUIRE(proxy_start(&px, sec->member[0].port) == 0);
  snprintf(uri, sizeof uri, "etcd://" KIT_ETCD_ROOT "@127.0.0.1:%d", proxy_port(px));
  kit_session k = {0};
  baton_error err = {0};
  kit_cond kc;
  kit_cond_init(&kc);
  kit_wakes w = {.c = &kc};
  baton_leader none = {0};
  if (open_as(&k, uri, "authed", &err) == 0) {
    baton_candidate obs = kit_cand(&k, "w.auth"), c = kit_cand(&k, "w.auth");
    c.slot = 1;
    CHECK_OK(arm(&k, &obs, &none, &w, &err), &err);
    CHECK(hub_up_becomes(&k, true, WAKE_MS));
    CHECK_EQ(kit_etcd_drop_tokens(sec), 0);
    proxy_set_mode(px, PROXY_DROP, 0);
    CHECK(hub_up_becomes(&k, false, WAKE_MS));
    proxy_set_mode(px, PROXY_PASS, 0);
    CHECK(hub_up_becomes(&k, true, RESUME_MS));
    CHECK_EQ(kit_wakes_reach(&w, 1, 1, 0), 0);
    CHECK_OK(kit_acquire(&k, &c, NULL, &err), &err); /* logs in again itself */
    CHECK_EQ(kit_wakes_reach(&w, 1, 1, WAKE_MS), 1);
    CHECK_GE(hub(&k).streams, 2);
    kit_forget(&k, &obs);
    kit_drop(&k, &c);
  } else {
    TEST_FAIL_("open with the right password: %s", err.message);
  }
  kit_close(&k);
  kit_cond_destroy(&kc);
  proxy_stop(px);
}

/* On a 3-member cluster, the member b's stream reads from is stopped
 * (SIGSTOP: its connections stay open and say nothing). b's next request
 * (a renew, as the client's thread makes) moves the transport on; the
 * stream follows it, resumes at H + 1 on another member and delivers the
 * release made meanwhile, with the proof. */
static void stream_follows_the_transport_to_another_member(void) {
  test_cluster *cl = kit_fresh_server("etcd3"); /* stopped after the case */
  REQUIRE(cl != NULL);
  kit_session a = {0}, b = {0};
  baton_error err = {0};
  kit_cond kc;
  kit_cond_init(&kc);
  kit_wakes w = {.c = &kc};
  const char *name = kit_name("w.member");
  baton_candidate ca = {0}, cb = {0};
  baton_leader holder = {0};
  /* a talks to members 1 and 2 only: its release is not held up. */
  char uri_a[1024];
  int ports[2] = {cl->member[1].port, cl->member[2].port};
  kit_uri_at(uri_a, sizeof uri_a, cl->uri, ports, 2);
  if (open_as(&a, uri_a, "alice", &err) != 0 || open_with(&b, cl->uri, "bob", 1000, &err) != 0) {
    TEST_FAIL_("cannot open: %s", err.message);
  } else {
    ca = kit_cand(&a, name);
    cb = kit_cand(&b, name);
    CHECK_OK(kit_acquire(&a, &ca, NULL, &err), &err);
    CHECK_EQ(kit_acquire(&b, &cb, &holder, &err), BATON_EHELD);
    CHECK_OK(arm(&b, &cb, &holder, &w, &err), &err);
    CHECK(hub_up_becomes(&b, true, WAKE_MS));
    test_server_pause(&cl->member[0]); /* every session starts on member 0 */
    int64_t t0 = kit_now_ms();
    int rc;
    /* A proposal forwarded to a stopped Raft leader waits out its
     * request's bound: try again, each try bounded, until a new leader. */
    KIT_RETRY(rc, 4 * KIT_CALL_MS, B.release(a.s, &ca, kit_deadline(2000), &err));
    CHECK_OK(rc, &err);
    kit_sleep_ms(QUIET_MS);
    CHECK_EQ(kit_wakes_reach(&w, 1, 1, 0), 0); /* the stream still reads member 0 */
    /* A renew bounded as the client's are: the first times out on member
     * 0 and moves the transport on. */
    KIT_RETRY(rc, KIT_CALL_MS, B.renew(b.s, NULL, 0, NULL, kit_deadline(1000), &err));
    CHECK_OK(rc, &err);
    CHECK_EQ(kit_wakes_reach(&w, 1, 1, RESUME_MS), 1);
    printf("  woken %lld ms after member 0 stopped\n", (long long)(w.at - t0));
    CHECK_GE(hub(&b).streams, 2);
    uint64_t before = kit_etcd_requests(&b);
    CHECK_OK(kit_acquire(&b, &cb, NULL, &err), &err);
    CHECK_EQ(kit_etcd_requests(&b) - before, 0);
    test_server_resume(&cl->member[0]);
  }
  kit_drop(&b, &cb);
  kit_drop(&a, &ca);
  kit_close(&a);
  kit_close(&b);
  kit_cond_destroy(&kc);
}

int main(int argc, char **argv) {
  static const test_case cases[] = {
      {"queued_watch_wakes_on_the_release_with_a_proof",
       queued_watch_wakes_on_the_release_with_a_proof},
      {"observer_wakes_on_leader_changes_only", observer_wakes_on_leader_changes_only},
      {"unwatch_silences_a_watch", unwatch_silences_a_watch},
      {"herd_one_release_wakes_one", herd_one_release_wakes_one},
      {"one_revision_of_many_names_wakes_each_name_once",
       one_revision_of_many_names_wakes_each_name_once},
      {"change_before_the_arm_wakes_at_once", change_before_the_arm_wakes_at_once},
      {"ring_overrun_wakes_at_once", ring_overrun_wakes_at_once},
      {"ten_thousand_names_one_stream", ten_thousand_names_one_stream},
      {"cut_stream_resumes_without_a_miss", cut_stream_resumes_without_a_miss},
      {"progress_keeps_a_quiet_stream_current", progress_keeps_a_quiet_stream_current},
      {"compaction_while_cut_wakes_everyone", compaction_while_cut_wakes_everyone},
      {"long_break_wakes_once", long_break_wakes_once},
      {"resume_logs_in_again", resume_logs_in_again},
      {"stream_follows_the_transport_to_another_member",
       stream_follows_the_transport_to_another_member},
      {NULL, NULL},
  };
  if ((etcd = kit_server("etcd")) == NULL) return 1; /* a missing server fails */
  return test_main(argc, argv, cases);
}
