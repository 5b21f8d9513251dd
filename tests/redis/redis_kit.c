/* redis_kit.c — raw server access for the redis:// tests, and the server
 * as the seam suite sees it. */
#include "redis_kit.h"

#include "test.h"

#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

test_cluster *kit_redis_session(kit_session *k, const char *identity) {
  test_cluster *c = kit_fresh_redis(NULL);
  baton_error err = {0};
  if (c != NULL && kit_open_as(k, &baton_backend_redis, c->uri, identity, 0, &err) != 0) {
    TEST_FAIL_("a session on %s: %s", c->uri, err.message);
    return NULL; /* the server goes with the case */
  }
  return c;
}

redisContext *kit_redis_raw(int port, const char *user, const char *password) {
  struct timeval tv = {5, 0};
  redisContext *r = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (r == NULL || r->err != 0) {
    fprintf(stderr, "raw connect to %d: %s\n", port, r ? r->errstr : "out of memory");
    if (r != NULL) redisFree(r);
    return NULL;
  }
  redisSetTimeout(r, tv);
  if (password != NULL) {
    redisReply *a = user != NULL ? redisCommand(r, "AUTH %s %s", user, password)
                                 : redisCommand(r, "AUTH %s", password);
    if (a == NULL || a->type == REDIS_REPLY_ERROR) {
      fprintf(stderr, "raw AUTH failed\n");
      if (a != NULL) freeReplyObject(a);
      redisFree(r);
      return NULL;
    }
    freeReplyObject(a);
  }
  return r;
}

static redisReply *command(redisContext *r, const char *fmt, va_list ap) {
  if (r == NULL) return NULL;
  redisReply *reply = redisvCommand(r, fmt, ap);
  if (reply == NULL) fprintf(stderr, "raw '%s': %s\n", fmt, r->errstr);
  return reply;
}

redisReply *kit_redis_cmd(redisContext *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  redisReply *reply = command(r, fmt, ap);
  va_end(ap);
  return reply;
}

const char *kit_redis_str(redisContext *r, char *buf, size_t size, const char *fmt, ...) {
  buf[0] = '\0';
  va_list ap;
  va_start(ap, fmt);
  redisReply *reply = command(r, fmt, ap);
  va_end(ap);
  if (reply != NULL && (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS ||
                        reply->type == REDIS_REPLY_ERROR))
    snprintf(buf, size, "%.*s", (int)reply->len, reply->str);
  else if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
    snprintf(buf, size, "%lld", reply->integer);
  if (reply != NULL) freeReplyObject(reply);
  return buf;
}

long long kit_redis_info(redisContext *r, const char *section, const char *field) {
  redisReply *reply = kit_redis_cmd(r, "INFO %s", section);
  long long v = 0;
  if (reply != NULL && reply->type == REDIS_REPLY_STRING) {
    const char *p = strstr(reply->str, field);
    if (p != NULL) v = strtoll(p + strlen(field), NULL, 10);
  }
  if (reply != NULL) freeReplyObject(reply);
  return v;
}

long long kit_redis_calls(redisContext *r, const char *command_name) {
  char field[80];
  snprintf(field, sizeof field, "cmdstat_%s:calls=", command_name);
  return kit_redis_info(r, "commandstats", field);
}

long long kit_redis_total(redisContext *r) {
  return kit_redis_info(r, "stats", "total_commands_processed:");
}

/* ---- the seam suite's view ------------------------------------------------- */

/* A value is "<token> <nonce> <identity>"; another program's is taken
 * whole as the identity, with no token. */
static int seam_peek(const test_cluster *c, const char *name, kit_peek *out) {
  memset(out, 0, sizeof *out);
  redisContext *r = kit_redis_raw(c->member[0].port, NULL, NULL);
  if (r == NULL) return -1;
  char value[600], ttl[32];
  kit_redis_str(r, value, sizeof value, "GET %s", name);
  kit_redis_str(r, ttl, sizeof ttl, "PTTL %s", name);
  redisFree(r);
  out->keys = value[0] != '\0';
  out->ttl_ms = out->keys ? strtoll(ttl, NULL, 10) : -1;
  char *end;
  unsigned long long token = strtoull(value, &end, 10);
  const char *identity = end != value && *end == ' ' ? strchr(end + 1, ' ') : NULL;
  if (identity != NULL) out->token = token;
  snprintf(out->identity, sizeof out->identity, "%.*s", (int)sizeof out->identity - 1,
           identity != NULL ? identity + 1 : value);
  return 0;
}

int kit_redis_command_all(const test_cluster *c, const char *fmt, const char *name) {
  int rc = 0;
  for (int i = 0; i < c->n; i++) {
    if (c->member[i].pid <= 0) continue;
    redisContext *r = kit_redis_raw(c->member[i].port, NULL, NULL);
    redisReply *reply = kit_redis_cmd(r, fmt, name);
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) rc = -1;
    if (reply != NULL) freeReplyObject(reply);
    if (r != NULL) redisFree(r);
  }
  return rc;
}

long kit_redis_scripts(const test_cluster *c, void (*fn)(void *), void *arg) {
  redisContext *r = kit_redis_raw(c->member[0].port, NULL, NULL);
  if (r == NULL) return -1;
  long long before = kit_redis_calls(r, "evalsha") + kit_redis_calls(r, "eval");
  fn(arg);
  long long after = kit_redis_calls(r, "evalsha") + kit_redis_calls(r, "eval");
  redisFree(r);
  return (long)(after - before);
}

int kit_redis_seam_steal(const test_cluster *c, const char *name) {
  return kit_redis_command_all(c, "SET %s thief KEEPTTL", name);
}

int kit_redis_seam_remove(const test_cluster *c, const char *name) {
  return kit_redis_command_all(c, "DEL %s", name);
}

/* Every request the backend makes of acquire, release and renew is one
 * script (EVALSHA, or EVAL once the server lost it). */
long kit_redis_seam_requests(const test_cluster *c, kit_session *k, void (*fn)(void *),
                             void *arg) {
  (void)k;
  return kit_redis_scripts(c, fn, arg);
}

#define seam_steal kit_redis_seam_steal
#define seam_remove kit_redis_seam_remove
#define seam_requests kit_redis_seam_requests
KIT_SEAM(redis, 2, true, "deadline passed");

int kit_redis_campaign(kit_session *k, baton_candidate *c, int ms, int *waited, baton_error *err) {
  int64_t end = kit_now_ms() + ms;
  int rc = BATON_EHELD;
  if (waited != NULL) *waited = 0;
  /* Each round is an acquire and a wait of at most the time left: the
   * first wait only subscribes, later ones return by the re-check time. */
  for (int round = 0; round < 100; round++) {
    rc = kit_acquire(k, c, NULL, err);
    if (rc != BATON_EHELD || kit_ms_left(end) == 0) break;
    if (waited != NULL && strstr(err->message, " waits ") != NULL) ++*waited;
    baton_error werr = {0};
    int wrc = kit_wait(k, c, NULL, kit_ms_left(end), &werr);
    if (wrc != 0 && wrc != BATON_ETIMEDOUT) {
      *err = werr;
      return wrc;
    }
  }
  return rc;
}

int kit_redis_mark_fresh(redisContext *r, const char *run_id) {
  redisReply *x =
      run_id != NULL
          ? kit_redis_cmd(r, "SET baton:fresh %s", run_id)
          : kit_redis_cmd(r, "EVAL %s 1 baton:fresh", test_redis_mark_fresh_lua);
  int rc = x != NULL && x->type == REDIS_REPLY_STATUS ? 0 : -1;
  if (x != NULL) freeReplyObject(x);
  return rc;
}

void kit_redis_restart_case(kit_session *a, kit_session *b, const char *name, int ttl_ms,
                            int (*lose)(void *), void *arg) {
  baton_candidate ka = kit_cand(a, name), kb = kit_cand(b, name);
  baton_error err = {0};
  REQUIRE_OK(kit_acquire(a, &ka, NULL, &err), &err);
  baton_candidate *held[] = {&ka}, *bheld[] = {&kb};
  bool gone[1] = {true};
  int64_t renew_sent = baton__now();
  CHECK_OK(kit_renew(a, held, 1, gone, &err), &err);
  CHECK(!gone[0]);
  int64_t a_deadline_at_most = renew_sent + (int64_t)ttl_ms * BATON_NS_PER_MS;
  if (lose(arg) == 0) {
    int64_t lost = baton__now();
    int waited = 0;
    CHECK_OK(kit_redis_campaign(b, &kb, ttl_ms + 3000, &waited, &err), &err);
    int64_t elected = baton__now();
    CHECK_GE(waited, 1);
    CHECK_GE(elected, a_deadline_at_most);
    CHECK_LT(elected - lost, (int64_t)(ttl_ms + 1000 + TEST_SLACK_MS) * BATON_NS_PER_MS);
    CHECK_GT(kb.token, ka.token);
    printf("  elected %lld ms after the restart (A's deadline was at most %lld ms after it)\n",
           (long long)((elected - lost) / BATON_NS_PER_MS),
           (long long)((a_deadline_at_most - lost) / BATON_NS_PER_MS));
    CHECK_OK(kit_renew(a, held, 1, gone, &err), &err);
    CHECK(gone[0]);
    CHECK_OK(kit_renew(b, bheld, 1, gone, &err), &err);
    CHECK(!gone[0]);
  }
  kit_drop(a, &ka);
  kit_drop(b, &kb);
}

/* ---- the herd: many waiters of one client, one subscriber --------------- */

/* The sockets this process has open (readlink of /proc/self/fd). */
static int open_sockets(void) {
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    char path[300], target[64];
    snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    ssize_t len = readlink(path, target, sizeof target - 1);
    if (len > 0) {
      target[len] = '\0';
      n += strncmp(target, "socket:", 7) == 0;
    }
  }
  closedir(d);
  return n;
}

/* Pub/sub connections on member i (CLIENT LIST TYPE pubsub), or -1. */
static int pubsub_clients(const test_cluster *c, int i) {
  redisContext *r = kit_redis_raw(c->member[i].port, NULL, NULL);
  redisReply *reply = kit_redis_cmd(r, "CLIENT LIST TYPE pubsub");
  int n = -1;
  if (reply != NULL && reply->type == REDIS_REPLY_STRING) {
    n = 0;
    for (size_t k = 0; k < reply->len; k++) n += reply->str[k] == '\n';
  }
  if (reply != NULL) freeReplyObject(reply);
  if (r != NULL) redisFree(r);
  return n;
}

/* Channels with a subscriber on member i (PUBSUB CHANNELS), or -1. */
static int channels_on(const test_cluster *c, int i) {
  redisContext *r = kit_redis_raw(c->member[i].port, NULL, NULL);
  redisReply *reply = kit_redis_cmd(r, "PUBSUB CHANNELS herd*");
  int n = reply != NULL && reply->type == REDIS_REPLY_ARRAY ? (int)reply->elements : -1;
  if (reply != NULL) freeReplyObject(reply);
  if (r != NULL) redisFree(r);
  return n;
}

/* Until every member has at least `want` channels subscribed, within ms: the server
 * offers no event for a SUBSCRIBE of another client, so it is looked at,
 * boundedly. 0 or -1. */
static int await_channels(const test_cluster *c, int want, int ms) {
  int64_t end = kit_now_ms() + ms;
  for (int round = 0; kit_now_ms() < end && round < 100000; round++) {
    int ok = 1;
    for (int i = 0; i < c->n; i++) ok &= channels_on(c, i) >= want;
    if (ok) return 0;
    kit_sleep_ms(20);
  }
  return -1;
}

typedef struct herd_waiter {
  kit_cond *cond; /* the herd's: a campaign returned */
  int *done;      /* campaigns returned, under cond->mu */
  baton_election *e;
  bool over;      /* its campaign returned: rc, at over_ms */
  int rc;
  int64_t over_ms;
  baton_error err;
} herd_waiter;

static void *herd_campaign(void *arg) {
  herd_waiter *w = arg;
  int rc = baton_election_campaign(w->e, 60000, NULL, &w->err);
  pthread_mutex_lock(&w->cond->mu);
  w->rc = rc;
  w->over = true;
  w->over_ms = kit_now_ms();
  (*w->done)++;
  pthread_cond_broadcast(&w->cond->cond);
  pthread_mutex_unlock(&w->cond->mu);
  return NULL;
}

/* Until w's campaign returned, within ms: true, or false. */
static bool await_over(herd_waiter *w, int ms) {
  int64_t end = kit_now_ms() + ms;
  pthread_mutex_lock(&w->cond->mu);
  while (!w->over && kit_cond_wait(w->cond, end)) {
  }
  bool over = w->over;
  pthread_mutex_unlock(&w->cond->mu);
  return over;
}

/* Resign `held` and check that w, and no other, is elected promptly: then
 * `done` campaigns have returned in all. */
static void release_wakes(baton_election *held, herd_waiter *w, int done, int prompt_ms) {
  baton_error err = {0};
  int64_t resigned = kit_now_ms();
  CHECK_OK(baton_election_resign(held, &err), &err);
  REQUIRE(await_over(w, 5000));
  CHECK_OK(w->rc, &w->err);
  CHECK_LT(w->over_ms - resigned, prompt_ms);
  CHECK(!kit_await_count(w->cond, w->done, done + 1, 0));
}

void kit_redis_herd_case(const test_cluster *c, int n) {
  enum { RELEASES = 5, HOLD_TTL_MS = 20000, PROMPT_MS = 1000 };
  baton_error err = {0};
  baton_options ho = {.identity = "holder", .ttl_ms = HOLD_TTL_MS};
  baton_options wo = {.identity = "waiter"};
  baton_client *hc = NULL, *wc = NULL;
  REQUIRE_OK(baton_client_open(&hc, c->uri, &ho, &err), &err);
  REQUIRE_OK(baton_client_open(&wc, c->uri, &wo, &err), &err);
  baton_election **held = calloc((size_t)n, sizeof *held);
  herd_waiter *ws = calloc((size_t)n, sizeof *ws);
  pthread_t *threads = calloc((size_t)n, sizeof *threads);
  REQUIRE(held != NULL && ws != NULL && threads != NULL);
  kit_cond cond;
  kit_cond_init(&cond);
  int done = 0;
  char name[32];
  for (int i = 0; i < n; i++) {
    snprintf(name, sizeof name, "herd%d", i);
    REQUIRE_OK(baton_election_open(&held[i], hc, name, NULL, NULL, &err), &err);
    REQUIRE_OK(baton_election_campaign(held[i], 5000, NULL, &err), &err);
    ws[i] = (herd_waiter){.cond = &cond, .done = &done};
    REQUIRE_OK(baton_election_open(&ws[i].e, wc, name, NULL, NULL, &err), &err);
  }
  int before = open_sockets(), started = 0;
  for (int i = 0; i < n; i++)
    started += pthread_create(&threads[i], NULL, herd_campaign, &ws[i]) == 0;
  REQUIRE_EQ(started, n);
  /* (1) Every waiter subscribed, on one connection per server. */
  CHECK_EQ(await_channels(c, n, 20000), 0);
  int during = open_sockets();
  printf("  %d waiters: %d sockets open before the waits, %d during (%d servers)\n", n, before,
         during, c->n);
  CHECK_LE(during - before, 2 * c->n);
  for (int i = 0; i < c->n; i++) {
    int pubsub = pubsub_clients(c, i);
    printf("  server %d: %d pub/sub connection(s)\n", i, pubsub);
    CHECK_EQ(pubsub, 1);
  }
  CHECK(!kit_await_count(&cond, &done, 1, 0));
  /* (2) A release wakes its own name's waiter, promptly (the holder's TTL
   * is far), and no other. */
  for (int k = 0; k < RELEASES; k++) {
    int i = k * (n / RELEASES);
    release_wakes(held[i], &ws[i], k + 1, PROMPT_MS);
  }
  /* (3) Subscribers killed on the server: every waiter looks again and
   * subscribes anew; a later release still wakes its waiter. */
  CHECK_EQ(kit_redis_command_all(c, "CLIENT KILL TYPE %s", "pubsub"), 0);
  CHECK_EQ(await_channels(c, n - RELEASES, 20000), 0);
  for (int i = 0; i < c->n; i++) CHECK_EQ(pubsub_clients(c, i), 1);
  release_wakes(held[n - 2], &ws[n - 2], RELEASES + 1, PROMPT_MS);
  /* (4) A cancel ends a blocked wait at once. */
  int64_t cancelled = kit_now_ms();
  baton_election_cancel(ws[n - 1].e);
  REQUIRE(await_over(&ws[n - 1], 2000));
  CHECK_EQ(ws[n - 1].rc, BATON_ECANCELED);
  CHECK_LT(ws[n - 1].over_ms - cancelled, TEST_SLACK_MS);
  /* The rest are cancelled. */
  for (int i = 0; i < n; i++) baton_election_cancel(ws[i].e);
  for (int i = 0; i < n; i++) pthread_join(threads[i], NULL);
  for (int i = 0; i < n; i++) {
    baton_election_close(ws[i].e);
    baton_election_close(held[i]);
  }
  baton_client_close(wc);
  baton_client_close(hc);
  kit_cond_destroy(&cond);
  free(held);
  free(ws);
  free(threads);
}

/* ---- watch: the table's one-shot subscriptions --------------------------- */

int kit_watch_arm(kit_session *k, baton_candidate *c, bool observer, baton_leader *seen,
                  kit_wakes *w, int64_t *recheck_at, baton_error *err) {
  for (int round = 0; round < 4; round++) {
    int before = kit_wakes_of(w), rc;
    if (observer) {
      baton_leader who;
      rc = kit_leader(k, c->name, &who, err);
      if (rc != 0 && rc != BATON_ENOLEADER) return rc;
      if (rc == 0)
        *seen = who;
      else
        memset(seen, 0, sizeof *seen);
    } else if ((rc = kit_acquire(k, c, NULL, err)) != BATON_EHELD) {
      if (rc == 0) TEST_FAIL_("'%s' was won: a watch needs a held name", c->name);
      return rc != 0 ? rc : -1;
    }
    if ((rc = kit_watch(k, c, observer ? seen : NULL, w, recheck_at, err)) != 0) return rc;
    if (kit_wakes_of(w) == before) return 0;
  }
  TEST_FAIL_("the watch on '%s' woke at once, every time", c->name);
  return -1;
}

/* Whether w's last wake came on the calling thread. */
static bool woke_here(kit_wakes *w) {
  pthread_mutex_lock(&w->c->mu);
  bool here = pthread_equal(w->by, pthread_self()) != 0;
  pthread_mutex_unlock(&w->c->mu);
  return here;
}

/* The watch cases' two sessions: alice holds, bob watches. */
static bool pair_open(kit_watch_pair *p, const baton_backend *b, const char *uri) {
  return kit_watch_pair_open(p, b, uri, uri, "watched", "alice", "bob");
}

void kit_redis_watch_release_case(const baton_backend *b, const char *uri,
                                  const test_cluster *servers) {
  kit_watch_pair p;
  REQUIRE(pair_open(&p, b, uri));
  baton_error err = {0};
  baton_candidate ka = kit_cand(&p.a, p.name), kb = kit_cand(&p.b, p.name);
  kit_wakes w = {.c = &p.kc};
  int64_t ttl = p.b.cfg.ttl_ns, before = baton__now(), recheck = 0;
  CHECK_OK(kit_acquire(&p.a, &ka, NULL, &err), &err);
  CHECK_OK(kit_watch_arm(&p.b, &kb, false, NULL, &w, &recheck, &err), &err);
  /* A baton holder publishes its release: the look again is its expiry. */
  CHECK_GT(recheck, before + ttl / 2);
  CHECK_LE(recheck, baton__now() + ttl + 100 * BATON_NS_PER_MS);
  int armed = kit_wakes_of(&w);
  CHECK_EQ(kit_wakes_reach(&w, 1, armed + 1, 200), armed); /* not woken while held */
  int64_t released = kit_now_ms();
  CHECK_OK(kit_release(&p.a, &ka, &err), &err);
  CHECK_EQ(kit_wakes_reach(&w, 1, armed + 1, 2000), armed + 1);
  printf("  woken %lld ms after the release\n", (long long)kit_ms_since(released));
  CHECK(!woke_here(&w)); /* the backend's thread, not the caller's */
  CHECK_OK(kit_acquire(&p.b, &kb, NULL, &err), &err);

  /* A holder that is not baton publishes nothing: the look again comes
   * no later than its key's expiry (sooner: the back-off of polls). */
  char foreign[64];
  snprintf(foreign, sizeof foreign, "%s", kit_name("foreign"));
  baton_candidate kf = kit_cand(&p.b, foreign);
  kit_wakes wf = {.c = &p.kc};
  int64_t set_at = baton__now();
  CHECK_EQ(kit_redis_command_all(servers, "SET %s x PX 800", foreign), 0);
  CHECK_OK(kit_watch_arm(&p.b, &kf, false, NULL, &wf, &recheck, &err), &err);
  CHECK_GT(recheck, set_at);
  CHECK_LE(recheck, set_at + 800 * BATON_NS_PER_MS);
  b->unwatch(p.b.s, &kf);
  kit_forget(&p.b, &kf);
  kit_drop(&p.b, &kb);
  kit_drop(&p.a, &ka);
  kit_watch_pair_close(&p);
}

void kit_redis_watch_observer_case(const baton_backend *b, const char *uri) {
  kit_watch_pair p;
  REQUIRE(pair_open(&p, b, uri));
  baton_error err = {0};
  baton_candidate ka = kit_cand(&p.a, p.name), ko = kit_cand(&p.b, p.name);
  kit_wakes w = {.c = &p.kc};
  baton_leader seen;
  int64_t recheck = 0;
  static const char *const events[] = {"an election", "a proclaim", "a release"};
  for (int e = 0; e < 3; e++) {
    CHECK_OK(kit_watch_arm(&p.b, &ko, true, &seen, &w, &recheck, &err), &err);
    int armed = kit_wakes_of(&w);
    int64_t t0 = kit_now_ms();
    if (e == 0) CHECK_OK(kit_acquire(&p.a, &ka, NULL, &err), &err);
    if (e == 1) CHECK_OK(b->proclaim(p.a.s, &ka, "said", kit_deadline(KIT_CALL_MS), &err), &err);
    if (e == 2) CHECK_OK(kit_release(&p.a, &ka, &err), &err);
    if (kit_wakes_reach(&w, 1, armed + 1, 2000) <= armed)
      TEST_FAIL_("the observer was not woken by %s", events[e]);
    printf("  observer woken %lld ms after %s\n", (long long)kit_ms_since(t0), events[e]);
  }
  b->unwatch(p.b.s, &ko);
  kit_forget(&p.b, &ko);
  kit_drop(&p.a, &ka);
  kit_watch_pair_close(&p);
}

void kit_redis_watch_unwatch_case(const baton_backend *b, const char *uri) {
  kit_watch_pair p;
  REQUIRE(pair_open(&p, b, uri));
  baton_error err = {0};
  baton_candidate ka = kit_cand(&p.a, p.name), kb = kit_cand(&p.b, p.name),
                  ko = kit_cand(&p.b, p.name);
  kit_wakes wb = {.c = &p.kc}, wo = {.c = &p.kc};
  baton_leader seen;
  int64_t recheck = 0;
  CHECK_OK(kit_acquire(&p.a, &ka, NULL, &err), &err);
  CHECK_OK(kit_watch_arm(&p.b, &kb, false, NULL, &wb, &recheck, &err), &err);
  CHECK_OK(kit_watch_arm(&p.b, &ko, true, &seen, &wo, &recheck, &err), &err);
  int nb = kit_wakes_of(&wb), no = kit_wakes_of(&wo);
  b->unwatch(p.b.s, &kb);
  b->unwatch(p.b.s, &kb); /* idempotent */
  CHECK_OK(kit_release(&p.a, &ka, &err), &err);
  /* The control: the observer hears the same release on the same
   * session's subscriber, after which the candidate's turn has passed. */
  CHECK_EQ(kit_wakes_reach(&wo, 1, no + 1, 2000), no + 1);
  CHECK_EQ(kit_wakes_reach(&wb, 1, nb + 1, 300), nb);
  b->unwatch(p.b.s, &ko);
  kit_forget(&p.b, &ko);
  kit_forget(&p.b, &kb);
  kit_drop(&p.a, &ka);
  kit_watch_pair_close(&p);
}

void kit_redis_watch_kill_case(const baton_backend *b, const char *uri,
                               const test_cluster *servers) {
  enum { CANDIDATES = 3 };
  kit_watch_pair p;
  REQUIRE(pair_open(&p, b, uri));
  baton_error err = {0};
  baton_candidate ka = kit_cand(&p.a, p.name), kc[CANDIDATES + 1];
  kit_wakes w[CANDIDATES + 1];
  baton_leader seen;
  int64_t recheck = 0;
  CHECK_OK(kit_acquire(&p.a, &ka, NULL, &err), &err);
  for (int i = 0; i <= CANDIDATES; i++) { /* the last one observes */
    kc[i] = kit_cand(&p.b, p.name);
    w[i] = (kit_wakes){.c = &p.kc};
    CHECK_OK(kit_watch_arm(&p.b, &kc[i], i == CANDIDATES, &seen, &w[i], &recheck, &err), &err);
    kit_wakes_reset(&w[i]);
  }
  int64_t t0 = kit_now_ms();
  CHECK_EQ(kit_redis_command_all(servers, "CLIENT KILL TYPE %s", "pubsub"), 0);
  CHECK_EQ(kit_wakes_reach(w, CANDIDATES + 1, CANDIDATES + 1, 2000), CANDIDATES + 1);
  printf("  %d armed watches woken %lld ms after the kill\n", CANDIDATES + 1,
         (long long)kit_ms_since(t0));
  for (int i = 0; i <= CANDIDATES; i++) CHECK_EQ(kit_wakes_of(&w[i]), 1);
  /* Armed again (a new subscriber), a release still wakes. */
  CHECK_OK(kit_watch_arm(&p.b, &kc[0], false, NULL, &w[0], &recheck, &err), &err);
  int n0 = kit_wakes_of(&w[0]);
  CHECK_OK(kit_release(&p.a, &ka, &err), &err);
  CHECK_EQ(kit_wakes_reach(&w[0], 1, n0 + 1, 2000), n0 + 1);
  for (int i = 0; i <= CANDIDATES; i++) {
    b->unwatch(p.b.s, &kc[i]);
    kit_forget(&p.b, &kc[i]);
  }
  kit_drop(&p.a, &ka);
  kit_watch_pair_close(&p);
}

long kit_redis_watch_herd_case(const baton_backend *b, const test_cluster *c, int n) {
  kit_watch_pair p;
  if (!kit_watch_pair_open(&p, b, c->uri, c->uri, "herd", "alice", "bob")) return -1;
  baton_error err = {0};
  redisContext *r = kit_redis_raw(c->member[0].port, NULL, NULL);
  baton_candidate *cand = calloc((size_t)n, sizeof *cand);
  kit_wakes *ws = calloc((size_t)n, sizeof *ws);
  int next = -1;
  long scripts = -1;
  char name[64];
  snprintf(name, sizeof name, "%s", p.name);
  baton_candidate ka = kit_cand(&p.a, "warm");
  if (r == NULL || cand == NULL || ws == NULL) {
    TEST_FAIL_("out of memory, or no raw connection");
    goto out;
  }
  /* The servers cache the release script first, so that one release is
   * one script. */
  CHECK_OK(kit_acquire(&p.a, &ka, NULL, &err), &err);
  CHECK_OK(kit_release(&p.a, &ka, &err), &err);
  kit_forget(&p.a, &ka);
  ka = kit_cand(&p.a, name);
  CHECK_OK(kit_acquire(&p.a, &ka, NULL, &err), &err);
  int armed = 0;
  for (int i = 0; i < n; i++) {
    cand[i] = kit_cand(&p.b, name);
    ws[i] = (kit_wakes){.c = &p.kc};
    int64_t recheck;
    armed += kit_watch_arm(&p.b, &cand[i], false, NULL, &ws[i], &recheck, &err) == 0;
  }
  CHECK_EQ(armed, n);
  for (int i = 0; i < n; i++) kit_wakes_reset(&ws[i]);
  /* One subscriber serves them all. */
  redisReply *numsub = kit_redis_cmd(r, "PUBSUB NUMSUB %s/released", name);
  CHECK(numsub != NULL && numsub->elements == 2 && numsub->element[1]->integer == 1);
  if (numsub != NULL) freeReplyObject(numsub);
  long long start = kit_redis_calls(r, "evalsha") + kit_redis_calls(r, "eval");

  CHECK_OK(kit_release(&p.a, &ka, &err), &err);
  CHECK_EQ(kit_wakes_reach(ws, n, 1, 2000), 1);
  int first = kit_wakes_of(&ws[0]) == 1 ? 0 : -1; /* the first armed */
  CHECK_EQ(first, 0);
  if (first < 0) goto out;
  /* It looks at once, as the core does (a woken watch is not unwatched):
   * no other wake follows (not the copies of the release on other
   * servers, nor a pass-on), and the term is one acquire. */
  kit_wakes_reset(&ws[first]);
  CHECK_OK(kit_acquire(&p.b, &cand[first], NULL, &err), &err);
  scripts = (long)(kit_redis_calls(r, "evalsha") + kit_redis_calls(r, "eval") - start);
  CHECK_EQ(kit_wakes_reach(ws, n, 1, 600), 0);
  /* Its release wakes the next armed; stopped instead of looking, that
   * one passes the wake on to the one after. */
  CHECK_OK(kit_release(&p.b, &cand[first], &err), &err);
  int second = kit_wakes_exactly_one(ws, n, 2000, 300);
  CHECK_EQ(second, 1);
  if (second < 0) goto out;
  kit_wakes_reset(&ws[second]);
  b->unwatch(p.b.s, &cand[second]);
  /* At once: the next one has woken when unwatch returns. */
  CHECK_EQ(kit_wakes_reach(ws, n, 1, 0), 1);
  next = kit_wakes_exactly_one(ws, n, 2000, 300);
  CHECK_EQ(next, 2);
  if (next >= 0) CHECK_OK(kit_acquire(&p.b, &cand[next], NULL, &err), &err);
  printf("  %d armed: each release and the pass-on woke 1; %ld scripts on server 0 from the "
         "release to the new term; %lld connections there (one pub/sub)\n",
         n, scripts, kit_redis_info(r, "clients", "connected_clients:"));
out:
  for (int i = 0; cand != NULL && i < n; i++) {
    if (cand[i].name == NULL) continue;
    b->unwatch(p.b.s, &cand[i]);
    if (i == next) CHECK_OK(kit_release(&p.b, &cand[i], &err), &err);
    kit_forget(&p.b, &cand[i]);
  }
  kit_forget(&p.a, &ka);
  if (r != NULL) redisFree(r);
  kit_watch_pair_close(&p);
  free(cand);
  free(ws);
  return scripts;
}
