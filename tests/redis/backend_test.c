/* backend_test.c — what only the redis:// backend's protocol says, against
 * a real redis-server of each case's own: the key and the fencing counter
 * (exact past 2^53, raised past the clock), keys of another type, the
 * scripts (chunks, EVALSHA, NOSCRIPT), waits on a TTL. What every backend
 * promises (lib/backend.h) is the seam suite's (tests/seam). */
#include "redis_kit.h"
#include "redis.h"
#include "test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static const baton_backend *B = &baton_backend_redis;


static void sha1_matches_known_vectors(void) {
  char hex[41];
  baton__redis_sha1_hex(hex, "", 0);
  CHECK_STR(hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  baton__redis_sha1_hex(hex, "abc", 3);
  CHECK_STR(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
  const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  baton__redis_sha1_hex(hex, two_blocks, strlen(two_blocks));
  CHECK_STR(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}

static void *make_nonces(void *arg) {
  char(*out)[BATON_REDIS_NONCE_LEN + 1] = arg;
  for (int i = 0; i < 2000; i++) baton__redis_nonce(out[i]);
  return NULL;
}

static int by_text(const void *a, const void *b) { return strcmp(a, b); }

/* Nonces are 32 hex digits and never repeat: not across threads, and not
 * between a parent and the child it forks (which inherits the state the
 * nonces are made from). */
static void nonces_are_unique_across_threads_and_fork(void) {
  enum { T = 4, K = 2000 };
  static char n[T * K][BATON_REDIS_NONCE_LEN + 1];
  pthread_t t[T];
  for (int i = 0; i < T; i++) REQUIRE_EQ(pthread_create(&t[i], NULL, make_nonces, n[i * K]), 0);
  for (int i = 0; i < T; i++) pthread_join(t[i], NULL);
  int bad = 0, repeats = 0;
  for (int i = 0; i < T * K; i++)
    bad += strlen(n[i]) != BATON_REDIS_NONCE_LEN ||
           strspn(n[i], "0123456789abcdef") != BATON_REDIS_NONCE_LEN;
  qsort(n, T * K, sizeof n[0], by_text);
  for (int i = 1; i < T * K; i++) repeats += strcmp(n[i - 1], n[i]) == 0;
  CHECK_EQ(bad, 0);
  CHECK_EQ(repeats, 0);

  /* Two nonces each from parent and child after the fork: all four differ
   * (without a fresh seed in the child, the first two would be equal). */
  int fd[2];
  REQUIRE_EQ(pipe(fd), 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    char x[2][BATON_REDIS_NONCE_LEN + 1];
    baton__redis_nonce(x[0]);
    baton__redis_nonce(x[1]);
    _exit(write(fd[1], x, sizeof x) == (ssize_t)sizeof x ? 0 : 1);
  }
  close(fd[1]);
  char parent[2][BATON_REDIS_NONCE_LEN + 1], child[2][BATON_REDIS_NONCE_LEN + 1] = {{0}};
  baton__redis_nonce(parent[0]);
  baton__redis_nonce(parent[1]);
  ssize_t got = read(fd[0], child, sizeof child);
  close(fd[0]);
  int status = -1;
  waitpid(pid, &status, 0);
  CHECK_EQ(got, (ssize_t)sizeof child);
  CHECK_EQ(status, 0);
  const char *four[] = {parent[0], parent[1], child[0], child[1]};
  for (int i = 0; i < 4; i++)
    for (int j = i + 1; j < 4; j++) CHECK(strcmp(four[i], four[j]) != 0);
}

/* The key is the bare name with PX = the TTL (as SET NX PX makes it);
 * tokens are seeded from the server's clock, exact past 2^53 (where a Lua
 * number would round), and are what the key and the counter say. */
static void tokens_increase_and_are_exact(void) {
  kit_session a;
  test_cluster *c = kit_redis_session(&a, "alice");
  REQUIRE(c != NULL);
  baton_error err = {0};
  redisContext *r = kit_redis_raw(c->member[0].port, NULL, NULL);
  baton_candidate x = kit_cand(&a, "t"), y = kit_cand(&a, "t");
  char buf[512];
  REQUIRE_OK(B->acquire(a.s, &y, NULL, kit_deadline(2000), &err), &err);
  redisReply *pttl = kit_redis_cmd(r, "PTTL t");
  CHECK(pttl != NULL && pttl->integer > 9000 && pttl->integer <= 10000);
  if (pttl != NULL) freeReplyObject(pttl);
  CHECK_OK(B->release(a.s, &y, kit_deadline(2000), &err), &err);
  uint64_t last = y.token;
  /* Seeded from TIME in microseconds: close to now, not 1, 2, 3. */
  CHECK_GT(last, 1600000000000000ull);
  CHECK_EQ(strtoull(kit_redis_str(r, buf, sizeof buf, "GET t/token"), NULL, 10), last);

  kit_redis_str(r, buf, sizeof buf, "SET t/token 18014398509481985"); /* 2^54 + 1 */
  REQUIRE_OK(B->acquire(a.s, &x, NULL, kit_deadline(2000), &err), &err);
  CHECK(x.token == 18014398509481986ull);
  CHECK_STR(kit_redis_str(r, buf, sizeof buf, "GET t/token"), "18014398509481986");
  char want[512];
  snprintf(want, sizeof want, "18014398509481986 ");
  CHECK(strncmp(kit_redis_str(r, buf, sizeof buf, "GET t"), want, strlen(want)) == 0);
  CHECK(strstr(buf, " alice") != NULL);
  baton_leader who;
  CHECK_OK(B->leader(a.s, "t", &who, kit_deadline(2000), &err), &err);
  CHECK(who.token == 18014398509481986ull);
  CHECK_OK(B->release(a.s, &x, kit_deadline(2000), &err), &err);

  /* A counter behind the clock (a stale snapshot restored) is lifted. */
  kit_redis_str(r, buf, sizeof buf, "SET t/token 5");
  REQUIRE_OK(B->acquire(a.s, &y, NULL, kit_deadline(2000), &err), &err);
  CHECK_GT(y.token, 1600000000000000ull);
  CHECK_OK(B->release(a.s, &y, kit_deadline(2000), &err), &err);
  B->forget(a.s, &x);
  B->forget(a.s, &y);
  redisFree(r);
  kit_close(&a);
}

/* A counter ahead of the clock goes up by one on its digits, a carry
 * through all of them included; one that is not a decimal counter is
 * refused, the key and the counter left as they were. */
static void counter_ahead_of_the_clock_is_raised_exactly(void) {
  kit_session a;
  test_cluster *c = kit_redis_session(&a, "alice");
  REQUIRE(c != NULL);
  baton_error err = {0};
  redisContext *r = kit_redis_raw(c->member[0].port, NULL, NULL);
  baton_candidate k = kit_cand(&a, "e");
  char buf[512];
  static const struct {
    const char *counter, *token;
  } raised[] = {
      {"99999999999999999", "100000000000000000"},
      {"123456789012345678", "123456789012345679"},
      {"9999999999999999999", "10000000000000000000"}, /* 20 digits still fit */
  };
  for (size_t i = 0; i < sizeof raised / sizeof raised[0]; i++) {
    kit_redis_str(r, buf, sizeof buf, "SET e/token %s", raised[i].counter);
    int rc = B->acquire(a.s, &k, NULL, kit_deadline(2000), &err);
    CHECK_OK(rc, &err);
    if (rc != 0) continue;
    CHECK_EQ(k.token, strtoull(raised[i].token, NULL, 10));
    CHECK_STR(kit_redis_str(r, buf, sizeof buf, "GET e/token"), raised[i].token);
    CHECK_OK(B->release(a.s, &k, kit_deadline(2000), &err), &err);
  }
  static const char *const refused[] = {"10000000000000000000", "99999999999999999x",
                                        "0999999999999999999", "zzzzzzzzzzzzzzzzzz"};
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    kit_redis_str(r, buf, sizeof buf, "SET e/token %s", refused[i]);
    CHECK_EQ(B->acquire(a.s, &k, NULL, kit_deadline(2000), &err), BATON_EREFUSED);
    CHECK_CONTAINS(err.message, "is not a fencing counter");
    CHECK_STR(kit_redis_str(r, buf, sizeof buf, "GET e/token"), refused[i]);
    CHECK_STR(kit_redis_str(r, buf, sizeof buf, "GET e"), "");
  }
  /* One of another type: Redis's own WRONGTYPE, and left alone. */
  kit_redis_str(r, buf, sizeof buf, "DEL e/token");
  kit_redis_str(r, buf, sizeof buf, "HSET e/token f v");
  CHECK_EQ(B->acquire(a.s, &k, NULL, kit_deadline(2000), &err), BATON_EREFUSED);
  CHECK_CONTAINS(err.message, "WRONGTYPE");
  CHECK_STR(kit_redis_str(r, buf, sizeof buf, "TYPE e/token"), "hash");
  CHECK_STR(kit_redis_str(r, buf, sizeof buf, "GET e"), "");
  /* Garbage behind the clock is replaced by the clock, as before. */
  kit_redis_str(r, buf, sizeof buf, "DEL e/token");
  kit_redis_str(r, buf, sizeof buf, "SET e/token garbage");
  CHECK_OK(B->acquire(a.s, &k, NULL, kit_deadline(2000), &err), &err);
  CHECK_GT(k.token, 1600000000000000ull);
  CHECK_OK(B->release(a.s, &k, kit_deadline(2000), &err), &err);
  B->forget(a.s, &k);
  redisFree(r);
  kit_close(&a);
}

/* A key of another type under the name is not ours either: renew reports
 * it gone, the rest of the renewal goes on, and acquire refuses it with
 * Redis's own WRONGTYPE. */
static void key_of_another_type_is_not_ours(void) {
  kit_session a;
  test_cluster *c = kit_redis_session(&a, "alice");
  REQUIRE(c != NULL);
  baton_error err = {0};
  redisContext *r = kit_redis_raw(c->member[0].port, NULL, NULL);
  char buf[512];
  baton_candidate a1 = kit_cand(&a, "n1"), a2 = kit_cand(&a, "n2");
  REQUIRE_OK(B->acquire(a.s, &a1, NULL, kit_deadline(2000), &err), &err);
  REQUIRE_OK(B->acquire(a.s, &a2, NULL, kit_deadline(2000), &err), &err);
  kit_redis_str(r, buf, sizeof buf, "DEL n2");
  kit_redis_str(r, buf, sizeof buf, "HSET n2 f v");
  baton_candidate *held[] = {&a1, &a2};
  bool gone[2] = {true, false};
  CHECK_OK(B->renew(a.s, held, 2, gone, kit_deadline(2000), &err), &err);
  CHECK(!gone[0] && gone[1]);
  CHECK_EQ(B->acquire(a.s, &a2, NULL, kit_deadline(2000), &err), BATON_EREFUSED);
  CHECK_CONTAINS(err.message, "WRONGTYPE");
  CHECK_OK(B->release(a.s, &a2, kit_deadline(2000), &err), &err);
  CHECK_STR(kit_redis_str(r, buf, sizeof buf, "TYPE n2"), "hash");
  CHECK_OK(B->release(a.s, &a1, kit_deadline(2000), &err), &err);
  B->forget(a.s, &a1);
  B->forget(a.s, &a2);
  redisFree(r);
  kit_close(&a);
}

/* Renewing 1,200 names is one script call per 500 (so that none holds the
 * server for long), pipelined (io_test checks the one round trip), and a
 * name lost in the middle chunk is reported as the one gone; renewing none
 * sends nothing; an uncontended acquire + release is two requests. */
static void renew_of_many_is_one_round_trip(void) {
  kit_session a;
  test_cluster *c = kit_redis_session(&a, "alice");
  REQUIRE(c != NULL);
  baton_error err = {0};
  redisContext *r = kit_redis_raw(c->member[0].port, NULL, NULL);
  enum { N = 1200, CHUNKS = (N + BATON_REDIS_RENEW_CHUNK - 1) / BATON_REDIS_RENEW_CHUNK };
  static baton_candidate cand[N];
  static baton_candidate *held[N];
  static char names[N][16];
  static bool gone[N];
  CHECK_EQ(CHUNKS, 3);
  for (int i = 0; i < N; i++) {
    snprintf(names[i], sizeof names[i], "name-%d", i);
    cand[i] = kit_cand(&a, names[i]);
    held[i] = &cand[i];
    int rc = B->acquire(a.s, &cand[i], NULL, kit_deadline(2000), &err);
    CHECK_EQ(rc, 0);
    if (rc != 0) goto out;
  }
  CHECK_OK(B->renew(a.s, held, N, gone, kit_deadline(5000), &err), &err); /* warms the script */
  /* Commands inside a script count in INFO too (GET and PEXPIRE per key
   * here), so a round trip shows as one EVALSHA per chunk and nothing else
   * from the client; INFO does not count itself, so the total moves by one
   * INFO plus what ran in between. */
  long long evalsha = kit_redis_calls(r, "evalsha"), eval = kit_redis_calls(r, "eval");
  long long total = kit_redis_total(r);
  for (int i = 0; i < N; i++) gone[i] = true;
  CHECK_OK(B->renew(a.s, held, N, gone, kit_deadline(5000), &err), &err);
  CHECK_EQ(kit_redis_total(r), total + 1 + CHUNKS + 2 * N);
  CHECK_EQ(kit_redis_calls(r, "evalsha"), evalsha + CHUNKS);
  CHECK_EQ(kit_redis_calls(r, "eval"), eval);
  int kept = 0;
  for (int i = 0; i < N; i++) kept += !gone[i];
  CHECK_EQ(kept, N);

  /* The first name of the middle chunk changes hands: it alone is gone (a
   * chunk read off by one would name a neighbour). */
  char buf[64];
  const int stolen = BATON_REDIS_RENEW_CHUNK;
  kit_redis_str(r, buf, sizeof buf, "SET %s stolen", names[stolen]);
  CHECK_OK(B->renew(a.s, held, N, gone, kit_deadline(5000), &err), &err);
  int lost = 0;
  for (int i = 0; i < N; i++) lost += gone[i];
  CHECK_EQ(lost, 1);
  CHECK(gone[stolen]);

  /* After SCRIPT FLUSH every chunk goes again as EVAL, and all is renewed
   * that was. */
  kit_redis_str(r, buf, sizeof buf, "SCRIPT FLUSH");
  eval = kit_redis_calls(r, "eval");
  CHECK_OK(B->renew(a.s, held, N, gone, kit_deadline(5000), &err), &err);
  CHECK_EQ(kit_redis_calls(r, "eval"), eval + CHUNKS);
  lost = 0;
  for (int i = 0; i < N; i++) lost += gone[i];
  CHECK_EQ(lost, 1);
  CHECK(gone[stolen]);

  total = kit_redis_total(r);
  CHECK_OK(B->renew(a.s, held, 0, gone, kit_deadline(2000), &err), &err);
  CHECK_EQ(kit_redis_total(r), total + 1);

  baton_candidate one = kit_cand(&a, "solo");
  CHECK_OK(B->acquire(a.s, &one, NULL, kit_deadline(2000), &err), &err);
  CHECK_OK(B->release(a.s, &one, kit_deadline(2000), &err), &err); /* caches the script */
  evalsha = kit_redis_calls(r, "evalsha");
  eval = kit_redis_calls(r, "eval");
  CHECK_OK(B->acquire(a.s, &one, NULL, kit_deadline(2000), &err), &err);
  CHECK_OK(B->release(a.s, &one, kit_deadline(2000), &err), &err);
  CHECK_EQ(kit_redis_calls(r, "evalsha"), evalsha + 2);
  CHECK_EQ(kit_redis_calls(r, "eval"), eval);
  /* A second release has nothing of ours to delete: no request. */
  total = kit_redis_total(r);
  CHECK_OK(B->release(a.s, &one, kit_deadline(2000), &err), &err);
  CHECK_EQ(kit_redis_total(r), total + 1);
  /* leader: GET and PTTL of the key, PTTL of NAME/wait and GET of
   * NAME/value (the term's proclaimed value and version), pipelined. */
  baton_leader who;
  long long get = kit_redis_calls(r, "get"), pttl = kit_redis_calls(r, "pttl");
  total = kit_redis_total(r);
  CHECK_EQ(B->leader(a.s, "solo", &who, kit_deadline(2000), &err), BATON_ENOLEADER);
  CHECK_EQ(kit_redis_total(r), total + 5);
  CHECK_EQ(kit_redis_calls(r, "get"), get + 2);
  CHECK_EQ(kit_redis_calls(r, "pttl"), pttl + 2);
  B->forget(a.s, &one);
out:
  for (int i = 0; i < N; i++) B->forget(a.s, &cand[i]);
  redisFree(r);
  kit_close(&a);
}

/* After SCRIPT FLUSH (as after a restart) EVALSHA fails with NOSCRIPT and
 * the backend runs EVAL once, which caches the script again. */
static void noscript_falls_back_to_eval(void) {
  kit_session a;
  test_cluster *c = kit_redis_session(&a, "alice");
  REQUIRE(c != NULL);
  baton_error err = {0};
  redisContext *r = kit_redis_raw(c->member[0].port, NULL, NULL);
  char buf[64];
  baton_candidate k = kit_cand(&a, "s");
  REQUIRE_OK(B->acquire(a.s, &k, NULL, kit_deadline(2000), &err), &err);
  CHECK_OK(B->release(a.s, &k, kit_deadline(2000), &err), &err);
  kit_redis_str(r, buf, sizeof buf, "SCRIPT FLUSH");
  long long eval = kit_redis_calls(r, "eval");
  CHECK_OK(B->acquire(a.s, &k, NULL, kit_deadline(2000), &err), &err);
  CHECK_EQ(kit_redis_calls(r, "eval"), eval + 1);
  CHECK_OK(B->release(a.s, &k, kit_deadline(2000), &err), &err);
  CHECK_EQ(kit_redis_calls(r, "eval"), eval + 2);
  CHECK_OK(B->acquire(a.s, &k, NULL, kit_deadline(2000), &err), &err);
  CHECK_EQ(kit_redis_calls(r, "eval"), eval + 2);
  CHECK_OK(B->release(a.s, &k, kit_deadline(2000), &err), &err);
  B->forget(a.s, &k);
  redisFree(r);
  kit_close(&a);
}

/* ---- waits ---------------------------------------------------------------- */

/* alice holds a name with a given TTL (0: 10 s); bob's candidate is ready
 * to block in wait: his acquire failed, his first wait subscribed, and
 * acquire failed again (which told him the holder's PTTL). */
typedef struct duel {
  kit_session a, b;
  baton_candidate ka, kb;
} duel;

static int duel_start(duel *d, test_cluster *c, uint32_t holder_ttl_ms, baton_error *err) {
  memset(d, 0, sizeof *d);
  int rc = kit_open_as(&d->a, B, c->uri, "alice", holder_ttl_ms, err);
  if (rc == 0) rc = kit_open_as(&d->b, B, c->uri, "bob", 0, err);
  if (rc != 0) return rc;
  d->ka = kit_cand(&d->a, "duel");
  d->kb = kit_cand(&d->b, "duel");
  if ((rc = B->acquire(d->a.s, &d->ka, NULL, kit_deadline(2000), err)) != 0) return rc;
  if (B->acquire(d->b.s, &d->kb, NULL, kit_deadline(2000), err) != BATON_EHELD) return -1;
  if ((rc = B->wait(d->b.s, &d->kb, NULL, kit_deadline(2000), -1, err)) != 0) return rc;
  return B->acquire(d->b.s, &d->kb, NULL, kit_deadline(2000), err) == BATON_EHELD ? 0 : -1;
}

static void duel_end(duel *d) {
  B->forget(d->a.s, &d->ka);
  B->forget(d->b.s, &d->kb);
  kit_close(&d->a);
  kit_close(&d->b);
}

/* A holder that vanishes without releasing (SIGKILL) is noticed when its key
 * expires: the waiter looks again at the holder's PTTL, sending nothing
 * meanwhile. */
static void expiry_wakes_a_waiter_without_polling(void) {
  test_cluster *c = kit_fresh_redis(NULL);
  REQUIRE(c != NULL);
  baton_error err = {0};
  duel d;
  int64_t acquired = kit_now_ms();
  REQUIRE_OK(duel_start(&d, c, 400, &err), &err);
  redisContext *r = kit_redis_raw(c->member[0].port, NULL, NULL);
  long long total = kit_redis_total(r);
  int rc = B->wait(d.b.s, &d.kb, NULL, kit_deadline(5000), -1, &err);
  int64_t took = kit_ms_since(acquired);
  CHECK_EQ(rc, 0);
  CHECK_GE(took, 380);
  CHECK_LT(took, 400 + TEST_SLACK_MS);
  CHECK_EQ(kit_redis_total(r), total + 1); /* only our INFO: the wait sent nothing */
  CHECK_OK(B->acquire(d.b.s, &d.kb, NULL, kit_deadline(2000), &err), &err);
  CHECK_GT(d.kb.token, d.ka.token);
  CHECK_OK(B->release(d.b.s, &d.kb, kit_deadline(2000), &err), &err);
  redisFree(r);
  duel_end(&d);
}

/* CPU time this process has used, in ms. */
static int64_t cpu_ms(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (int64_t)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000 +
         (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1000;
}

/* Another program's key with a TTL of centuries: its PTTL in nanoseconds
 * is past INT64_MAX. The look again must stay a time to wait for; when it
 * wrapped negative, every wait returned at once and a campaign and an
 * observer spun through the whole second, one round trip after another
 * (thousands of commands). A foreign holder is looked at on a backed-off
 * delay (25 ms doubling to 250 ms): 7 looks in the second, a few
 * commands each. */
static void huge_foreign_ttl_is_waited_for_not_spun(void) {
  test_cluster *c = kit_fresh_redis(NULL);
  REQUIRE(c != NULL);
  redisContext *r = kit_redis_raw(c->member[0].port, NULL, NULL);
  REQUIRE(r != NULL);
  redisReply *set = kit_redis_cmd(r, "SET huge foreign PX 9000000000000000");
  CHECK(set != NULL && set->type == REDIS_REPLY_STATUS);
  if (set != NULL) freeReplyObject(set);
  baton_options o = {.identity = "patient"}; /* TTL 10 s: no look again is due */
  baton_client *cl = NULL;
  baton_election *e = NULL, *w = NULL;
  baton_error err = {0};
  REQUIRE_OK(baton_client_open(&cl, c->uri, &o, &err), &err);
  REQUIRE_OK(baton_election_open(&e, cl, "huge", NULL, NULL, &err), &err);
  REQUIRE_OK(baton_election_open(&w, cl, "huge", NULL, NULL, &err), &err);
  long long calls = kit_redis_total(r);
  int64_t cpu = cpu_ms(), t0 = kit_now_ms();
  CHECK_EQ(baton_election_campaign(e, 1000, NULL, &err), BATON_ETIMEDOUT);
  CHECK_GE(kit_ms_since(t0), 990);
  long long campaign_calls = kit_redis_total(r) - calls - 1; /* less our INFO */
  int64_t campaign_cpu = cpu_ms() - cpu;
  CHECK_OK(baton_election_observe(w, &err), &err);
  kit_sleep_ms(1000); /* what must not happen meanwhile is the point */
  baton_election_observe_stop(w);
  long long observe_calls = kit_redis_total(r) - calls - campaign_calls - 2;
  int64_t observe_cpu = cpu_ms() - cpu - campaign_cpu;
  printf("  1 s campaign: %lld commands, %lld ms CPU; 1 s observing: %lld commands, %lld ms CPU\n",
         campaign_calls, (long long)campaign_cpu, observe_calls, (long long)observe_cpu);
  CHECK_LT(campaign_calls, 40);
  CHECK_LT(campaign_cpu, 150);
  CHECK_LT(observe_calls, 80); /* a look is 4 commands (GET, PTTL, PTTL of NAME/wait, GET of
                                  NAME/value) */
  CHECK_LT(observe_cpu, 150);
  baton_election_close(w);
  baton_election_close(e);
  baton_client_close(cl);
  redisFree(r);
}

/* Proclaim keeps the lock key as it was and stores
 * "<token> <version> <value>" in NAME/value (proclaim.c); the version
 * counts the term's proclaims. A value left by a term that ended without
 * a release (its key expired: a crash) is never shown for the next
 * term, which starts with none, and the release of a term deletes its
 * value. */
static void proclaim_lives_beside_the_key_and_ends_with_the_term(void) {
  kit_session a, b;
  test_cluster *c = kit_redis_session(&a, "alice");
  REQUIRE(c != NULL);
  baton_error err = {0};
  REQUIRE_OK(kit_open_as(&b, B, c->uri, "bob", 0, &err), &err);
  redisContext *r = kit_redis_raw(c->member[0].port, NULL, NULL);
  REQUIRE(r != NULL);
  char lock[512], buf[512], want[128], value[64];
  size_t len = 0;
  baton_leader who;
  baton_candidate ka = kit_cand(&a, "said"), kb = kit_cand(&b, "said");
  REQUIRE_OK(B->acquire(a.s, &ka, NULL, kit_deadline(2000), &err), &err);
  kit_redis_str(r, lock, sizeof lock, "GET said");
  CHECK_OK(B->proclaim(a.s, &ka, "step 1/3", kit_deadline(2000), &err), &err);
  CHECK_OK(B->proclaim(a.s, &ka, "step 2/3", kit_deadline(2000), &err), &err);
  CHECK_STR(kit_redis_str(r, buf, sizeof buf, "GET said"), lock);
  snprintf(want, sizeof want, "%llu 2 step 2/3", (unsigned long long)ka.token);
  CHECK_STR(kit_redis_str(r, buf, sizeof buf, "GET said/value"), want);
  CHECK_OK(B->leader_value(b.s, "said", &who, value, sizeof value, &len, kit_deadline(2000), &err),
           &err);
  CHECK_EQ(who.token, ka.token);
  CHECK_EQ(who.version, 2);
  CHECK_STR(value, "step 2/3");
  CHECK_STR(who.identity, "alice");
  /* alice crashes: her key expires, her value stays. bob's term shows
   * none of it. */
  CHECK_STR(kit_redis_str(r, buf, sizeof buf, "DEL said"), "1");
  REQUIRE_OK(B->acquire(b.s, &kb, NULL, kit_deadline(2000), &err), &err);
  CHECK_GT(kb.token, ka.token);
  CHECK_OK(B->leader_value(a.s, "said", &who, value, sizeof value, &len, kit_deadline(2000), &err),
           &err);
  CHECK_EQ(who.token, kb.token);
  CHECK_EQ(who.version, 0);
  CHECK_STR(value, "");
  CHECK_EQ(len, 0);
  CHECK_EQ(B->proclaim(a.s, &ka, "late", kit_deadline(2000), &err), BATON_ENOTHOLDER);
  CHECK_STR(kit_redis_str(r, buf, sizeof buf, "GET said/value"), want);
  CHECK_OK(B->proclaim(b.s, &kb, "bob's", kit_deadline(2000), &err), &err);
  CHECK_OK(B->leader_value(a.s, "said", &who, value, sizeof value, &len, kit_deadline(2000), &err),
           &err);
  CHECK_EQ(who.version, 1);
  CHECK_STR(value, "bob's");
  /* A buffer too small: cut, NUL-terminated, the whole length said. */
  CHECK_OK(B->leader_value(a.s, "said", &who, value, 3, &len, kit_deadline(2000), &err), &err);
  CHECK_STR(value, "bo");
  CHECK_EQ(len, 5);
  CHECK_OK(B->release(b.s, &kb, kit_deadline(2000), &err), &err);
  CHECK_STR(kit_redis_str(r, buf, sizeof buf, "EXISTS said/value"), "0");
  B->forget(a.s, &ka);
  B->forget(b.s, &kb);
  redisFree(r);
  kit_close(&b);
  kit_close(&a);
}

/* 200 waiting elections of one client share one subscriber connection
 * (kit_redis_herd_case). */
static void waiters_share_one_subscriber(void) {
  test_cluster *c = kit_fresh_redis(NULL);
  REQUIRE(c != NULL);
  kit_redis_herd_case(c, 200);
}

/* ---- watch (issue 16) ------------------------------------------------------ */

static void watch_wakes_on_release_not_before(void) {
  test_cluster *c = kit_fresh_redis(NULL);
  REQUIRE(c != NULL);
  kit_redis_watch_release_case(B, c->uri, c);
}

static void watch_of_an_observer_wakes_on_each_change(void) {
  test_cluster *c = kit_fresh_redis(NULL);
  REQUIRE(c != NULL);
  kit_redis_watch_observer_case(B, c->uri);
}

static void unwatched_is_not_woken(void) {
  test_cluster *c = kit_fresh_redis(NULL);
  REQUIRE(c != NULL);
  kit_redis_watch_unwatch_case(B, c->uri);
}

static void killed_subscriber_wakes_every_watch(void) {
  test_cluster *c = kit_fresh_redis(NULL);
  REQUIRE(c != NULL);
  kit_redis_watch_kill_case(B, c->uri, c);
}

/* 1,000 candidates of one session armed on one held name: a release
 * wakes one, and costs one acquire, not 1,000 (kit_redis_watch_herd_case):
 * the release's script and the acquire's. */
static void release_wakes_one_armed_candidate_of_a_thousand(void) {
  test_cluster *c = kit_fresh_redis(NULL);
  REQUIRE(c != NULL);
  CHECK_EQ(kit_redis_watch_herd_case(B, c, 1000), 2);
}

int main(int argc, char **argv) {
  static const test_case cases[] = {
      {"sha1_matches_known_vectors", sha1_matches_known_vectors},
      {"nonces_are_unique_across_threads_and_fork", nonces_are_unique_across_threads_and_fork},
      {"tokens_increase_and_are_exact", tokens_increase_and_are_exact},
      {"counter_ahead_of_the_clock_is_raised_exactly",
       counter_ahead_of_the_clock_is_raised_exactly},
      {"key_of_another_type_is_not_ours", key_of_another_type_is_not_ours},
      {"renew_of_many_is_one_round_trip", renew_of_many_is_one_round_trip},
      {"noscript_falls_back_to_eval", noscript_falls_back_to_eval},
      {"expiry_wakes_a_waiter_without_polling", expiry_wakes_a_waiter_without_polling},
      {"huge_foreign_ttl_is_waited_for_not_spun", huge_foreign_ttl_is_waited_for_not_spun},
      {"proclaim_lives_beside_the_key_and_ends_with_the_term",
       proclaim_lives_beside_the_key_and_ends_with_the_term},
      {"waiters_share_one_subscriber", waiters_share_one_subscriber},
      {"watch_wakes_on_release_not_before", watch_wakes_on_release_not_before},
      {"watch_of_an_observer_wakes_on_each_change", watch_of_an_observer_wakes_on_each_change},
      {"unwatched_is_not_woken", unwatched_is_not_woken},
      {"killed_subscriber_wakes_every_watch", killed_subscriber_wakes_every_watch},
      {"release_wakes_one_armed_candidate_of_a_thousand",
       release_wakes_one_armed_candidate_of_a_thousand},
      {NULL, NULL},
  };
  return test_main(argc, argv, cases);
}
