/* fault_test.c — the redis:// backend when things go wrong in ways only
 * Redis has: a server that restarts empty, connections it closes while
 * idle, passwords and ACL users, databases, bad URIs, a full backlog,
 * garbage-speaking servers — and mutual exclusion with redis-py's Lock on
 * the same key. (A stopped server, lost replies and a term asked for
 * again are every backend's: the seam suite's.) */
#include "redis_kit.h"
#include "redis.h"
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const baton_backend *B = &baton_backend_redis;

/* Check that `call` returned `code` after about `ms` (and not much later). */
#define CHECK_BY_DEADLINE(call, code, ms)                 \
  do {                                                    \
    int64_t start_ = kit_now_ms();                        \
    CHECK_EQ((call), (code));                             \
    int64_t took_ = kit_ms_since(start_);                     \
    CHECK_GE(took_, (ms)-1);                              \
    CHECK_LT(took_, (ms) + TEST_SLACK_MS);                          \
  } while (0)

/* Open and close a session, bounded by `ms`; returns what open did. */
static int try_open_by(const char *uri, const baton_options *o, int ms, baton_error *err) {
  kit_session x;
  int rc = kit_open(&x, B, uri, o, ms, err);
  if (rc == 0) kit_close(&x);
  return rc;
}

static int try_open(const char *uri, const baton_options *o, baton_error *err) {
  return try_open_by(uri, o, 5000, err);
}

/* The TTL of the restart cases: each first term after a restart waits
 * about this long. */
#define RESTART_TTL_MS 2000

static void *release_after_100ms(void *arg) {
  void **a = arg;
  kit_sleep_ms(100);
  baton_error err;
  B->release(a[0], a[1], kit_deadline(2000), &err);
  return NULL;
}

/* ---- server restart and idle connections --------------------------------- */

/* Redis restarts without persistence: every key and the counter are gone.
 * The backend reconnects by itself (no failed first call), re-sends its
 * scripts, and tokens keep growing (seeded from the server's clock). The
 * first term after the restart waits until the server's start + TTL
 * (restart_waits_out_the_old_term checks when). */
static void server_restart_keeps_tokens_growing(void) {
  test_cluster *c = kit_fresh_redis(NULL);
  REQUIRE(c != NULL);
  baton_error err = {0};
  kit_session a, o;
  REQUIRE_OK(kit_open_as(&a, B, c->uri, "alice", RESTART_TTL_MS, &err), &err);
  REQUIRE_OK(kit_open_as(&o, B, c->uri, "watcher", 0, &err), &err);
  baton_candidate k = kit_cand(&a, "r"), h = kit_cand(&a, "held"), w = kit_cand(&o, "r");
  uint64_t last = 0;
  for (int i = 0; i < 50; i++) {
    REQUIRE_OK(B->acquire(a.s, &k, NULL, kit_deadline(2000), &err), &err);
    CHECK_GT(k.token, last);
    last = k.token;
    REQUIRE_OK(B->release(a.s, &k, kit_deadline(2000), &err), &err);
  }
  REQUIRE_OK(B->acquire(a.s, &h, NULL, kit_deadline(2000), &err), &err);
  baton_candidate *held[] = {&h};
  bool gone[1] = {true};
  REQUIRE_OK(B->renew(a.s, held, 1, gone, kit_deadline(2000), &err), &err);
  CHECK(!gone[0]);
  baton_leader none = {0};
  REQUIRE_OK(B->wait(o.s, &w, &none, kit_deadline(2000), -1, &err), &err); /* subscribes */

  REQUIRE_EQ(test_server_restart(&c->member[0]), 0);

  int waited = 0;
  CHECK_OK(kit_redis_campaign(&a, &k, RESTART_TTL_MS + 2000, &waited, &err), &err);
  CHECK_GE(waited, 1);
  CHECK_GT(k.token, last);
  CHECK_OK(B->renew(a.s, held, 1, gone, kit_deadline(2000), &err), &err);
  CHECK(gone[0]); /* the server lost it: reported, not hidden */
  baton_leader who;
  CHECK_OK(B->leader(o.s, "r", &who, kit_deadline(2000), &err), &err);
  CHECK_EQ(who.token, k.token);
  /* The observer's subscriber died with the server: its wait says "look
   * again" at once, the next one subscribes anew, and the one after that
   * is woken by a release again. */
  int64_t start = kit_now_ms();
  CHECK_OK(B->wait(o.s, &w, &who, kit_deadline(5000), -1, &err), &err);
  CHECK_LT(kit_ms_since(start), TEST_SLACK_MS);
  CHECK_OK(B->wait(o.s, &w, &who, kit_deadline(2000), -1, &err), &err);
  void *args[] = {a.s, &k};
  pthread_t t;
  bool releasing = pthread_create(&t, NULL, release_after_100ms, args) == 0;
  CHECK(releasing);
  start = kit_now_ms();
  CHECK_OK(B->wait(o.s, &w, &who, kit_deadline(5000), -1, &err), &err);
  int64_t took = kit_ms_since(start);
  if (releasing) pthread_join(t, NULL);
  CHECK_GE(took, 90);
  CHECK_LT(took, 100 + TEST_SLACK_MS);
  CHECK_EQ(B->leader(o.s, "r", &who, kit_deadline(2000), &err), BATON_ENOLEADER);
  B->forget(a.s, &k);
  B->forget(a.s, &h);
  B->forget(o.s, &w);
  kit_close(&a);
  kit_close(&o);
}

/* The server closes our connections while they sit idle (CLIENT KILL here;
 * in life a restart, or its `timeout` setting): the next requests notice
 * before sending, connect again and succeed, none fails. */
static void idle_connections_the_server_closed_are_replaced(void) {
  kit_session a;
  test_cluster *c = kit_redis_session(&a, "alice");
  REQUIRE(c != NULL);
  baton_error err = {0};
  redisContext *r = kit_redis_raw(c->member[0].port, NULL, NULL);
  baton_candidate k = kit_cand(&a, "killed");
  REQUIRE_OK(B->acquire(a.s, &k, NULL, kit_deadline(2000), &err), &err);
  baton_candidate *held[] = {&k};
  bool gone[1] = {true};
  REQUIRE_OK(B->renew(a.s, held, 1, gone, kit_deadline(2000), &err), &err); /* its connection */
  long long connections = kit_redis_info(r, "stats", "total_connections_received:");
  redisReply *killed = kit_redis_cmd(r, "CLIENT KILL TYPE normal"); /* every client but r */
  CHECK(killed != NULL && killed->type == REDIS_REPLY_INTEGER && killed->integer == 2);
  if (killed != NULL) freeReplyObject(killed);
  kit_sleep_ms(5); /* past the idle bound: a connection used moments ago is not checked */
  CHECK_OK(B->renew(a.s, held, 1, gone, kit_deadline(2000), &err), &err);
  CHECK(!gone[0]);
  CHECK_OK(B->release(a.s, &k, kit_deadline(2000), &err), &err);
  CHECK_EQ(kit_redis_info(r, "stats", "total_connections_received:"), connections + 2);
  B->forget(a.s, &k);
  redisFree(r);
  kit_close(&a);
}

/* An operator hears of a connection lost and replaced: a request that
 * failed on a killed connection (WARN), an idle one found closed (INFO),
 * and each reconnect (INFO). */
static void lost_connections_are_logged(void) {
  test_cluster *c = kit_fresh_redis(NULL);
  REQUIRE(c != NULL);
  baton_options o = {.identity = "logged", .ttl_ms = 2000};
  kit_log log;
  kit_log_attach(&log, &o);
  kit_session a;
  baton_error err = {0};
  REQUIRE_OK(kit_open(&a, B, c->uri, &o, KIT_CALL_MS, &err), &err);
  redisContext *r = kit_redis_raw(c->member[0].port, NULL, NULL);
  REQUIRE(r != NULL);
  baton_candidate k = kit_cand(&a, "logged");
  baton_leader who;
  REQUIRE_EQ(B->leader(a.s, "logged", &who, kit_deadline(2000), &err), BATON_ENOLEADER);
  redisReply *killed = kit_redis_cmd(r, "CLIENT KILL TYPE normal"); /* every client but r */
  if (killed != NULL) freeReplyObject(killed);
  /* Used a moment ago, the connection is not checked first: the request
   * fails on it, and the next one reconnects. */
  CHECK(B->leader(a.s, "logged", &who, kit_deadline(2000), &err) != BATON_ENOLEADER);
  const char *dropped = kit_log_wait(&log, "connection dropped", 0);
  CHECK(dropped != NULL);
  if (dropped != NULL) printf("  heard: %s\n", dropped);
  CHECK_EQ(B->leader(a.s, "logged", &who, kit_deadline(2000), &err), BATON_ENOLEADER);
  CHECK(kit_log_wait(&log, "reconnected", 0) != NULL);
  /* Idle past the check's bound, a closed connection is found before use. */
  killed = kit_redis_cmd(r, "CLIENT KILL TYPE normal");
  if (killed != NULL) freeReplyObject(killed);
  kit_sleep_ms(5); /* past the idle bound (1 ms, conn.c): idleness is the case */
  CHECK_EQ(B->leader(a.s, "logged", &who, kit_deadline(2000), &err), BATON_ENOLEADER);
  CHECK(kit_log_wait(&log, "closed by the server", 0) != NULL);
  B->forget(a.s, &k);
  redisFree(r);
  kit_close(&a);
  kit_log_destroy(&log);
}

/* Redis restarted without persistence while A holds: B's term begins
 * only once A's local deadline has passed (A's last renewal was sent
 * before the restart, so its deadline is before that + TTL), and by the
 * server's start + TTL + 1 s at the latest. */
static int restart_member0(void *arg) {
  return test_server_restart(&((test_cluster *)arg)->member[0]) == 0 ? 0 : -1;
}

static void restart_waits_out_the_old_term(void) {
  test_cluster *c = kit_fresh_redis(NULL);
  REQUIRE(c != NULL);
  baton_error err = {0};
  kit_session a, b;
  REQUIRE_OK(kit_open_as(&a, B, c->uri, "alice", RESTART_TTL_MS, &err), &err);
  REQUIRE_OK(kit_open_as(&b, B, c->uri, "bob", RESTART_TTL_MS, &err), &err);
  kit_redis_restart_case(&a, &b, "old", RESTART_TTL_MS, restart_member0, c);
  kit_close(&a);
  kit_close(&b);
}

/* A server nobody marked: the first term of a name waits until its start
 * + TTL (a first use looks like a lost counter), and so does a rival that
 * looks meanwhile (it sees our key). A marker that holds another server
 * life's run_id skips nothing; the right one skips the wait. */
static void fresh_server_and_its_marker(void) {
  test_redis_opts unmarked = {.unmarked = true};
  test_cluster *c = kit_fresh_redis(&unmarked);
  REQUIRE(c != NULL);
  int64_t ready = baton__now();
  baton_error err = {0};
  kit_session a, b;
  REQUIRE_OK(kit_open_as(&a, B, c->uri, "alice", RESTART_TTL_MS, &err), &err);
  REQUIRE_OK(kit_open_as(&b, B, c->uri, "bob", RESTART_TTL_MS, &err), &err);
  redisContext *r = kit_redis_raw(c->member[0].port, NULL, NULL);
  REQUIRE(r != NULL);
  CHECK_EQ(kit_redis_mark_fresh(r, "0123456789abcdef0123456789abcdef01234567"), 0);
  baton_candidate ka = kit_cand(&a, "first"), kb = kit_cand(&b, "first");
  CHECK_EQ(kit_acquire(&a, &ka, NULL, &err), BATON_EHELD);
  CHECK_CONTAINS(err.message, "started less than a TTL ago");
  baton_leader seen = {0};
  CHECK_EQ(kit_acquire(&b, &kb, &seen, &err), BATON_EHELD);
  CHECK_STR(seen.identity, "alice"); /* a rival is told who waits */
  CHECK_GT(seen.token, 0);
  char buf[256];
  CHECK(kit_redis_str(r, buf, sizeof buf, "PTTL first/wait")[0] != '-');
  /* A term that waits has no leader yet. */
  baton_leader who;
  CHECK_EQ(kit_leader(&b, "first", &who, &err), BATON_ENOLEADER);
  int waited = 0;
  CHECK_OK(kit_redis_campaign(&a, &ka, RESTART_TTL_MS + 3000, &waited, &err), &err);
  int64_t elected = baton__now();
  CHECK_LT(elected - ready, (RESTART_TTL_MS + 1000 + TEST_SLACK_MS) * BATON_NS_PER_MS);
  CHECK_STR(kit_redis_str(r, buf, sizeof buf, "EXISTS first/wait"), "0");
  CHECK_OK(kit_leader(&b, "first", &who, &err), &err);
  CHECK_EQ(who.token, ka.token);
  /* The right marker: a new name's first term is at once. */
  CHECK_EQ(kit_redis_mark_fresh(r, NULL), 0);
  baton_candidate kn = kit_cand(&b, "second");
  CHECK_OK(kit_acquire(&b, &kn, NULL, &err), &err);
  redisFree(r);
  kit_drop(&a, &ka);
  kit_drop(&b, &kb);
  kit_drop(&b, &kn);
  kit_close(&a);
  kit_close(&b);
}

/* A fixed lease on a server nobody marked: a name's first lease waits as
 * the client's terms do (start + the client's TTL, not the lease's), and
 * is never kept waiting on the server: refused (EHELD, the reason said),
 * its key gone and NAME/wait kept; one that waits gets the name in time. */
static void lease_on_a_fresh_server_waits_as_terms_do(void) {
  test_redis_opts unmarked = {.unmarked = true};
  test_cluster *c = kit_fresh_redis(&unmarked);
  REQUIRE(c != NULL);
  int64_t ready = baton__now();
  baton_error err = {0};
  kit_session a;
  REQUIRE_OK(kit_open_as(&a, B, c->uri, "alice", RESTART_TTL_MS, &err), &err);
  redisContext *r = kit_redis_raw(c->member[0].port, NULL, NULL);
  REQUIRE(r != NULL);
  uint64_t token = 0;
  baton_leader holder = {0};
  CHECK_EQ(B->lease_acquire(a.s, "job", "alice", 60000 * BATON_NS_PER_MS, &token, &holder,
                            kit_deadline(2000), &err),
           BATON_EHELD);
  CHECK_CONTAINS(err.message, "started less than a TTL ago");
  CHECK_EQ(holder.token, 0);
  char buf[256];
  CHECK_STR(kit_redis_str(r, buf, sizeof buf, "EXISTS job"), "0");
  long long wait_ms = atoll(kit_redis_str(r, buf, sizeof buf, "PTTL job/wait"));
  CHECK_GT(wait_ms, 0);
  CHECK_LE(wait_ms, RESTART_TTL_MS + 1000);
  kit_close(&a);
  baton_client *cl = NULL;
  baton_options o = {.ttl_ms = RESTART_TTL_MS, .identity = "alice"};
  REQUIRE_OK(baton_client_open(&cl, c->uri, &o, &err), &err);
  baton_lease *l = NULL;
  CHECK_OK(baton_lease_acquire(&l, cl, "job", 60000, RESTART_TTL_MS + 3000, &token, &err), &err);
  CHECK_LT(baton__now() - ready, (RESTART_TTL_MS + 1000 + 500) * BATON_NS_PER_MS);
  CHECK_GT(token, 0);
  /* The wait is over: no time left on NAME/wait (PTTL 0 in the millisecond
   * it expires in, when Redis still has the key; -2 after). */
  CHECK_LE(atoll(kit_redis_str(r, buf, sizeof buf, "PTTL job/wait")), 0);
  CHECK_OK(baton_lease_release(l, &err), &err);
  baton_lease_close(l);
  baton_client_close(cl);
  redisFree(r);
}

/* Through the public API, on a server nobody marked: a try during the
 * wait is EHELD with the backend's reason (not a phantom holder), it is
 * not counted as contention, and nobody leads. The try ends the attempt
 * (as a cancelled or closed campaign does): its key goes, NAME/wait
 * stays, so a rival is told to wait too, and only for the remainder. */
static void try_campaign_during_the_wait(void) {
  test_redis_opts unmarked = {.unmarked = true};
  test_cluster *c = kit_fresh_redis(&unmarked);
  REQUIRE(c != NULL);
  int64_t ready = baton__now();
  baton_error err = {0};
  baton_options oa = {.identity = "alice", .ttl_ms = RESTART_TTL_MS};
  baton_options ob = {.identity = "bob", .ttl_ms = RESTART_TTL_MS};
  baton_client *ca = NULL, *cb = NULL;
  baton_election *ea = NULL, *eb = NULL;
  REQUIRE_OK(baton_client_open(&ca, c->uri, &oa, &err), &err);
  REQUIRE_OK(baton_client_open(&cb, c->uri, &ob, &err), &err);
  REQUIRE_OK(baton_election_open(&ea, ca, "w", NULL, NULL, &err), &err);
  REQUIRE_OK(baton_election_open(&eb, cb, "w", NULL, NULL, &err), &err);
  baton_leader who = {.token = 7};
  uint64_t token = 0;
  CHECK_EQ(baton_election_try_campaign(ea, &token, &who, &err), BATON_EHELD);
  CHECK_CONTAINS(err.message, " waits ");
  CHECK_CONTAINS(err.message, "started less than a TTL ago");
  CHECK_EQ(who.token, 0);
  CHECK_STR(who.identity, "");
  baton_election_stats st;
  CHECK_OK(baton_election_read_stats(ea, &st, &err), &err);
  CHECK_EQ(st.stats.contended, 0);
  CHECK_EQ(baton_election_leader(eb, &who, &err), BATON_ENOLEADER);
  redisContext *r = kit_redis_raw(c->member[0].port, NULL, NULL);
  REQUIRE(r != NULL);
  char buf[64];
  CHECK_STR(kit_redis_str(r, buf, sizeof buf, "EXISTS w"), "0");
  int64_t looked = baton__now();
  long long left = strtoll(kit_redis_str(r, buf, sizeof buf, "PTTL w/wait"), NULL, 10);
  CHECK_GT(left, 0);
  baton_election_close(ea);
  CHECK_EQ(baton_election_try_campaign(eb, &token, &who, &err), BATON_EHELD);
  CHECK_CONTAINS(err.message, " waits ");
  CHECK_STR(who.identity, "");
  CHECK_OK(baton_election_campaign(eb, RESTART_TTL_MS + 3000, &token, &err), &err);
  int64_t elected = baton__now();
  CHECK_GT(token, 0);
  CHECK_GE(elected - looked, (int64_t)left * BATON_NS_PER_MS);
  CHECK_LT(elected - ready, (RESTART_TTL_MS + 1000 + TEST_SLACK_MS) * BATON_NS_PER_MS);
  redisFree(r);
  baton_election_close(eb);
  baton_client_close(ca);
  baton_client_close(cb);
}

/* A campaign cancelled while its term waits: the library logs the wait
 * at INFO (the event this test waits for), the cancel deletes our key but
 * NAME/wait stays, so the next candidate waits only the remainder. */
static void log_to_pipe(baton_log_level level, const char *message, void *udata) {
  if (level == BATON_LOG_INFO && strstr(message, " waits ") != NULL)
    (void)!write(*(int *)udata, "w", 1);
}

typedef struct campaign_arg {
  baton_election *e;
  int rc;
  baton_error err;
} campaign_arg;

static void *campaign_thread(void *arg) {
  campaign_arg *a = arg;
  a->rc = baton_election_campaign(a->e, 30000, NULL, &a->err);
  return NULL;
}

static void campaign_cancelled_during_the_wait(void) {
  test_redis_opts unmarked = {.unmarked = true};
  test_cluster *c = kit_fresh_redis(&unmarked);
  REQUIRE(c != NULL);
  int64_t ready = baton__now();
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  baton_error err = {0};
  baton_options oa = {.identity = "alice", .ttl_ms = RESTART_TTL_MS, .log = log_to_pipe,
                      .log_udata = &fds[1], .log_level = BATON_LOG_INFO};
  baton_options ob = {.identity = "bob", .ttl_ms = RESTART_TTL_MS};
  baton_client *ca = NULL, *cb = NULL;
  baton_election *eb = NULL;
  campaign_arg a = {0};
  REQUIRE_OK(baton_client_open(&ca, c->uri, &oa, &err), &err);
  REQUIRE_OK(baton_client_open(&cb, c->uri, &ob, &err), &err);
  REQUIRE_OK(baton_election_open(&a.e, ca, "cw", NULL, NULL, &err), &err);
  REQUIRE_OK(baton_election_open(&eb, cb, "cw", NULL, NULL, &err), &err);
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, campaign_thread, &a) == 0);
  struct pollfd pf = {.fd = fds[0], .events = POLLIN};
  CHECK_EQ(poll(&pf, 1, 5000), 1); /* the wait was logged */
  redisContext *r = kit_redis_raw(c->member[0].port, NULL, NULL);
  REQUIRE(r != NULL);
  char buf[64];
  CHECK_STR(kit_redis_str(r, buf, sizeof buf, "EXISTS cw"), "1");
  baton_election_cancel(a.e);
  pthread_join(t, NULL);
  CHECK_EQ(a.rc, BATON_ECANCELED);
  CHECK_STR(kit_redis_str(r, buf, sizeof buf, "EXISTS cw"), "0");
  int64_t looked = baton__now();
  long long left = strtoll(kit_redis_str(r, buf, sizeof buf, "PTTL cw/wait"), NULL, 10);
  CHECK_GT(left, 0);
  uint64_t token = 0;
  CHECK_OK(baton_election_campaign(eb, RESTART_TTL_MS + 3000, &token, &err), &err);
  int64_t elected = baton__now();
  CHECK_GE(elected - looked, (int64_t)left * BATON_NS_PER_MS);
  CHECK_LT(elected - ready, (RESTART_TTL_MS + 1000 + TEST_SLACK_MS) * BATON_NS_PER_MS);
  redisFree(r);
  baton_election_close(a.e);
  baton_election_close(eb);
  baton_client_close(ca);
  baton_client_close(cb);
  close(fds[0]);
  close(fds[1]);
}

/* ---- credentials, databases, URIs ---------------------------------------- */

static const test_redis_opts requirepass = {.password = "s3cret"};
static const test_redis_opts acl_user = {.password = "pa55", .acl_user = "alice"};

/* "redis://<auth>127.0.0.1:<port>" */
static const char *uri_with(char *buf, size_t size, const test_cluster *c, const char *auth) {
  snprintf(buf, size, "redis://%s127.0.0.1:%d", auth, c->member[0].port);
  return buf;
}


static void auth_with_requirepass(void) {
  test_cluster *c = kit_fresh_redis(&requirepass);
  REQUIRE(c != NULL);
  baton_error err = {0};
  char uri[256];
  CHECK_EQ(try_open(uri_with(uri, sizeof uri, c, ""), NULL, &err), BATON_EAUTH);
  CHECK_CONTAINS(err.message, "requires a password");
  CHECK_EQ(try_open(uri_with(uri, sizeof uri, c, ":wrong@"), NULL, &err), BATON_EAUTH);
  CHECK_CONTAINS(err.message, "AUTH failed");
  CHECK(strstr(err.message, "wrong") == NULL);
  /* The option wins over the URI's password. */
  baton_options o = {.password = "s3cret"};
  CHECK_OK(try_open(uri_with(uri, sizeof uri, c, ":wrong@"), &o, &err), &err);
  kit_session a;
  REQUIRE_OK(kit_open(&a, B, uri_with(uri, sizeof uri, c, ":s3cret@"), NULL, KIT_CALL_MS, &err), &err);
  baton_candidate k = kit_cand(&a, "auth"), w = kit_cand(&a, "auth");
  CHECK_OK(B->acquire(a.s, &k, NULL, kit_deadline(2000), &err), &err);
  baton_candidate *held[] = {&k};
  bool gone[1] = {true};
  CHECK_OK(B->renew(a.s, held, 1, gone, kit_deadline(2000), &err), &err); /* its own connection */
  CHECK(!gone[0]);
  CHECK_OK(B->wait(a.s, &w, NULL, kit_deadline(2000), -1, &err), &err);   /* the subscriber's */
  CHECK_OK(B->release(a.s, &k, kit_deadline(2000), &err), &err);
  B->forget(a.s, &k);
  B->forget(a.s, &w);
  kit_close(&a);
}

static void auth_with_acl_user(void) {
  test_cluster *c = kit_fresh_redis(&acl_user);
  REQUIRE(c != NULL);
  baton_error err = {0};
  char uri[256];
  CHECK_OK(try_open(uri_with(uri, sizeof uri, c, "alice:pa55@"), NULL, &err), &err);
  CHECK_EQ(try_open(uri_with(uri, sizeof uri, c, "alice:nope@"), NULL, &err), BATON_EAUTH);
  CHECK_CONTAINS(err.message, "user 'alice'");
  CHECK(strstr(err.message, "nope") == NULL);
  /* The default user is off: a password alone is not enough. */
  CHECK_EQ(try_open(uri_with(uri, sizeof uri, c, ":pa55@"), NULL, &err), BATON_EAUTH);
  baton_options o = {.username = "alice", .password = "pa55"};
  CHECK_OK(try_open(uri_with(uri, sizeof uri, c, ""), &o, &err), &err);
  CHECK_EQ(try_open(uri_with(uri, sizeof uri, c, "alice@"), NULL, &err), BATON_EINVAL);
  CHECK_CONTAINS(err.message, "without a password");
}

/* A Redis 7 ACL user limited to its application's keys campaigns: the
 * scripts declare only the name's keys. Reading baton:fresh is needed only
 * to skip the first wait (%R~baton:fresh); without INFO every first term
 * waits a full TTL + 1 s (the uptime is taken as 0). baton:* names are
 * reserved. */
static void acl_user_limited_to_a_prefix(void) {
  test_cluster *c = kit_fresh_redis(NULL);
  REQUIRE(c != NULL);
  redisContext *r = kit_redis_raw(c->member[0].port, NULL, NULL);
  REQUIRE(r != NULL);
  char buf[256], uri[256];
  CHECK_STR(kit_redis_str(r, buf, sizeof buf,
                          "ACL SETUSER app on >pw resetkeys ~prefix:* resetchannels &prefix:* "
                          "+@all"),
            "OK");
  CHECK_STR(kit_redis_str(r, buf, sizeof buf,
                          "ACL SETUSER appf on >pw resetkeys ~prefix:* %%R~baton:fresh "
                          "resetchannels &prefix:* +@all"),
            "OK");
  CHECK_STR(kit_redis_str(r, buf, sizeof buf,
                          "ACL SETUSER noinfo on >pw resetkeys ~prefix:* %%R~baton:fresh "
                          "resetchannels &prefix:* +@all -info"),
            "OK");
  baton_error err = {0};
  kit_session f, a, n;
  REQUIRE_OK(kit_open_as(&f, B, uri_with(uri, sizeof uri, c, "appf:pw@"), "f", RESTART_TTL_MS,
                         &err),
             &err);
  REQUIRE_OK(kit_open_as(&a, B, uri_with(uri, sizeof uri, c, "app:pw@"), "a", RESTART_TTL_MS,
                         &err),
             &err);
  REQUIRE_OK(kit_open_as(&n, B, uri_with(uri, sizeof uri, c, "noinfo:pw@"), "n", RESTART_TTL_MS,
                         &err),
             &err);
  baton_candidate kf = kit_cand(&f, "prefix:f"), ka = kit_cand(&a, "prefix:a"),
                  kn = kit_cand(&n, "prefix:n"), kr = kit_cand(&f, "baton:fresh");
  /* The marker is readable and right: at once. */
  CHECK_OK(kit_acquire(&f, &kf, NULL, &err), &err);
  baton_leader who;
  CHECK_OK(kit_leader(&a, "prefix:f", &who, &err), &err);
  CHECK_EQ(who.token, kf.token);
  /* Not readable: no error, at most a wait until the start + TTL + 1 s. */
  CHECK_OK(kit_redis_campaign(&a, &ka, RESTART_TTL_MS + 3000, NULL, &err), &err);
  /* No INFO: a full wait, then the term. */
  int64_t sent = baton__now();
  int waited = 0;
  CHECK_OK(kit_redis_campaign(&n, &kn, RESTART_TTL_MS + 3000, &waited, &err), &err);
  int64_t took = baton__now() - sent;
  CHECK_GE(waited, 1);
  CHECK_GE(took, (int64_t)RESTART_TTL_MS * BATON_NS_PER_MS);
  CHECK_LT(took, (int64_t)(RESTART_TTL_MS + 1000 + TEST_SLACK_MS) * BATON_NS_PER_MS);
  CHECK_EQ(kit_acquire(&f, &kr, NULL, &err), BATON_EINVAL);
  CHECK_CONTAINS(err.message, "reserved");
  CHECK_STR(kit_redis_str(r, buf, sizeof buf, "TYPE baton:fresh"), "string");
  redisFree(r);
  kit_drop(&f, &kf);
  kit_drop(&a, &ka);
  kit_drop(&n, &kn);
  kit_forget(&f, &kr);
  kit_close(&f);
  kit_close(&a);
  kit_close(&n);
}

static void database_from_the_path(void) {
  test_cluster *c = kit_fresh_redis(NULL);
  REQUIRE(c != NULL);
  baton_error err = {0};
  char uri[sizeof c->uri + 8];
  snprintf(uri, sizeof uri, "%s/3", c->uri);
  kit_session a;
  REQUIRE_OK(kit_open(&a, B, uri, NULL, KIT_CALL_MS, &err), &err);
  baton_candidate k = kit_cand(&a, "in3");
  redisContext *r = kit_redis_raw(c->member[0].port, NULL, NULL);
  char buf[512];
  /* The kit marks database 0 fresh; the marker is per database. */
  kit_redis_str(r, buf, sizeof buf, "SELECT 3");
  CHECK_EQ(kit_redis_mark_fresh(r, NULL), 0);
  kit_redis_str(r, buf, sizeof buf, "SELECT 0");
  REQUIRE_OK(B->acquire(a.s, &k, NULL, kit_deadline(2000), &err), &err);
  CHECK_STR(kit_redis_str(r, buf, sizeof buf, "GET in3"), "");
  kit_redis_str(r, buf, sizeof buf, "SELECT 3");
  CHECK(kit_redis_str(r, buf, sizeof buf, "GET in3")[0] != '\0');
  CHECK_OK(B->release(a.s, &k, kit_deadline(2000), &err), &err);
  CHECK_STR(kit_redis_str(r, buf, sizeof buf, "GET in3"), "");
  B->forget(a.s, &k);
  kit_close(&a);
  redisFree(r);
  snprintf(uri, sizeof uri, "%s/99", c->uri);
  CHECK_EQ(try_open(uri, NULL, &err), BATON_EINVAL);
  CHECK_CONTAINS(err.message, "SELECT 99");
}

static void bad_uris_are_refused(void) {
  static const struct {
    const char *uri, *says;
  } bad[] = {
      {"redis://127.0.0.1:1,127.0.0.1:2", "exactly one host"},
      {"redis://127.0.0.1:1/x", "not a database number"},
      {"redis://127.0.0.1:1/1/2", "not a database number"},
      {"redis://127.0.0.1:1/-1", "not a database number"},
      {"redis://127.0.0.1:1/99999999999", "not a database number"},
      {"redis://127.0.0.1:1?timeout=5", "unknown parameter 'timeout'"},
      {"redis://127.0.0.1:1?cacert=/x", "unknown parameter 'cacert'"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    baton_error err = {0};
    CHECK_EQ(try_open(bad[i].uri, NULL, &err), BATON_EINVAL);
    CHECK_CONTAINS(err.message, bad[i].says);
  }
  baton_error err = {0};
  CHECK_EQ(B->open(NULL, NULL, NULL, kit_deadline(100), &err), BATON_EINVAL);
}

/* ---- unreachable and garbage-speaking servers ----------------------------- */

/* A listener whose backlog is full drops the handshake: the connect times
 * out after the connect timeout, as with a host that is down (nothing
 * listening at all is every backend's: the seam suite's). */
static void full_backlog_times_out_the_connect(void) {
  baton_error err = {0};
  char uri[128];
  int port;
  int fd = kit_listen(0, &port), fill[4];
  REQUIRE(fd >= 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < 4; i++) {
    fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    (void)connect(fill[i], (struct sockaddr *)&sa, sizeof sa);
  }
  kit_sleep_ms(50);
  snprintf(uri, sizeof uri, "redis://127.0.0.1:%d", port);
  baton_options o = {.connect_timeout_ms = 300};
  int64_t start = kit_now_ms();
  CHECK_EQ(try_open(uri, &o, &err), BATON_ECONNECT);
  int64_t took = kit_ms_since(start);
  CHECK_GE(took, 299);
  CHECK_LT(took, 300 + TEST_SLACK_MS);
  CHECK_CONTAINS(err.message, "connect");
  /* The call's deadline, when earlier, bounds it instead. */
  CHECK_BY_DEADLINE(try_open_by(uri, NULL, 200, &err), BATON_ETIMEDOUT, 200);
  for (int i = 0; i < 4; i++) close(fill[i]);
  close(fd);
}

/* A fake server: answers each command of each read with `reply`. */
typedef struct fake {
  int fd;
  const char *reply;
  pthread_t thread;
} fake;

#define FAKE_SERVE_MS 10000 /* the fake's whole life, whatever its client does */

/* Whether fd is readable before end (a kit_now_ms() time). */
static bool readable_by(int fd, int64_t end) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  return poll(&p, 1, kit_ms_left(end)) > 0;
}

static void *fake_serve(void *arg) {
  fake *f = arg;
  int64_t end = kit_now_ms() + FAKE_SERVE_MS;
  int conn = readable_by(f->fd, end) ? accept(f->fd, NULL, NULL) : -1;
  char buf[65536];
  for (int i = 0; conn >= 0 && i < 100 && readable_by(conn, end); i++) {
    ssize_t n = recv(conn, buf, sizeof buf, 0);
    if (n <= 0) break;
    /* Every command starts with '*' at a line start. */
    for (ssize_t j = 0; j < n; j++)
      if (buf[j] == '*' && (j == 0 || buf[j - 1] == '\n'))
        if (send(conn, f->reply, strlen(f->reply), MSG_NOSIGNAL) < 0) break;
  }
  if (conn >= 0) close(conn);
  return NULL;
}

static void garbage_replies_give_eproto(void) {
  baton_error err = {0};
  char uri[128];
  int port;
  /* Not Redis at all. */
  fake f = {.fd = kit_listen(4, &port), .reply = "HTTP/1.1 400 Bad Request\r\n\r\n"};
  REQUIRE(f.fd >= 0);
  REQUIRE(pthread_create(&f.thread, NULL, fake_serve, &f) == 0);
  snprintf(uri, sizeof uri, "redis://127.0.0.1:%d", port);
  CHECK_EQ(try_open(uri, NULL, &err), BATON_EPROTO);
  CHECK_CONTAINS(err.message, "malformed reply");
  pthread_join(f.thread, NULL);
  close(f.fd);

  /* Well-formed replies of the wrong shape: "+PONG" to everything. */
  f = (fake){.fd = kit_listen(4, &port), .reply = "+PONG\r\n"};
  REQUIRE(f.fd >= 0);
  REQUIRE(pthread_create(&f.thread, NULL, fake_serve, &f) == 0);
  snprintf(uri, sizeof uri, "redis://127.0.0.1:%d", port);
  kit_session a;
  if (kit_open(&a, B, uri, NULL, KIT_CALL_MS, &err) == 0) {
    baton_candidate k = kit_cand(&a, "g");
    baton_leader who;
    CHECK_EQ(B->acquire(a.s, &k, NULL, kit_deadline(1000), &err), BATON_EPROTO);
    CHECK_CONTAINS(err.message, "unexpected reply");
    CHECK_EQ(B->leader(a.s, "g", &who, kit_deadline(1000), &err), BATON_EPROTO);
    CHECK_EQ(B->release(a.s, &k, kit_deadline(1000), &err), BATON_EPROTO); /* pending: tries */
    B->forget(a.s, &k);
    kit_close(&a);
  } else {
    TEST_FAIL_("open on the fake: %s", err.message);
  }
  pthread_join(f.thread, NULL);
  close(f.fd);
}

/* ---- redis-py ------------------------------------------------------------- */

/* Run redis-py's Lock(name).acquire(blocking=False) with a 10 s timeout in
 * /usr/bin/python3 (Debian's python3-redis); returns its printed verdict
 * (its first line: a traceback shows instead). */
static const char *redis_py_try(const test_cluster *c, const char *name, char *out, size_t size) {
  char script[512];
  snprintf(script, sizeof script,
           "import redis; r = redis.Redis(port=%d); l = r.lock('%s', timeout=10)\n"
           "print('acquired' if l.acquire(blocking=False) else 'busy')\n",
           c->member[0].port, name);
  const char *const argv[] = {"/usr/bin/python3", "-c", script, NULL};
  kit_run_output(argv, out, size, 20000);
  out[strcspn(out, "\n")] = '\0';
  return out;
}

static void mutual_exclusion_with_redis_py_lock(void) {
  kit_session a;
  test_cluster *c = kit_redis_session(&a, "alice");
  REQUIRE(c != NULL);
  baton_error err = {0};
  redisContext *r = kit_redis_raw(c->member[0].port, NULL, NULL);
  char verdict[256], buf[512];
  baton_candidate k = kit_cand(&a, "shared");
  REQUIRE_OK(B->acquire(a.s, &k, NULL, kit_deadline(2000), &err), &err);
  CHECK_STR(redis_py_try(c, "shared", verdict, sizeof verdict), "busy");
  CHECK(strstr(kit_redis_str(r, buf, sizeof buf, "GET shared"), " alice") != NULL);
  CHECK_OK(B->release(a.s, &k, kit_deadline(2000), &err), &err);

  CHECK_STR(redis_py_try(c, "shared", verdict, sizeof verdict), "acquired");
  baton_leader who;
  CHECK_EQ(B->acquire(a.s, &k, &who, kit_deadline(2000), &err), BATON_EHELD);
  kit_redis_str(r, buf, sizeof buf, "GET shared");
  CHECK_STR(who.identity, buf); /* redis-py's token, shown as the holder */
  CHECK_EQ(who.token, 0);
  CHECK_OK(B->leader(a.s, "shared", &who, kit_deadline(2000), &err), &err);
  CHECK_STR(who.identity, buf);
  /* Our release leaves redis-py's lock alone. */
  CHECK_OK(B->release(a.s, &k, kit_deadline(2000), &err), &err);
  CHECK_STR(kit_redis_str(r, verdict, sizeof verdict, "GET shared"), buf);
  B->forget(a.s, &k);
  redisFree(r);
  kit_close(&a);
}

/* A fixed lease is the same lock key to redis-py: busy while it lasts,
 * free after its release. A lock of redis-py's keeps a lease off the name
 * (named as the holder, token 0), and no lease op touches its key. */
static void fixed_lease_and_redis_py_lock(void) {
  kit_session a;
  test_cluster *c = kit_redis_session(&a, "alice");
  REQUIRE(c != NULL);
  baton_error err = {0};
  redisContext *r = kit_redis_raw(c->member[0].port, NULL, NULL);
  char verdict[256], buf[512];
  uint64_t token = 0;
  baton_leader who = {0};
  int64_t ttl = 10000 * BATON_NS_PER_MS;
  REQUIRE_OK(B->lease_acquire(a.s, "leased", "alice", ttl, &token, &who, kit_deadline(2000), &err),
             &err);
  CHECK_STR(redis_py_try(c, "leased", verdict, sizeof verdict), "busy");
  CHECK_OK(B->lease_release(a.s, "leased", token, kit_deadline(2000), &err), &err);
  CHECK_STR(redis_py_try(c, "leased", verdict, sizeof verdict), "acquired");
  kit_redis_str(r, buf, sizeof buf, "GET leased");
  CHECK_EQ(B->lease_acquire(a.s, "leased", "alice", ttl, &token, &who, kit_deadline(2000), &err),
           BATON_EHELD);
  CHECK_STR(who.identity, buf);
  CHECK_EQ(who.token, 0);
  CHECK_EQ(B->lease_extend(a.s, "leased", token, ttl, kit_deadline(2000), &err),
           BATON_ENOTHOLDER);
  CHECK_EQ(B->lease_release(a.s, "leased", token, kit_deadline(2000), &err), BATON_ENOTHOLDER);
  CHECK_STR(kit_redis_str(r, verdict, sizeof verdict, "GET leased"), buf);
  redisFree(r);
  kit_close(&a);
}

/* A term's value has a lease's shape: a handle attached with a live
 * term's token must neither extend (cut its PTTL) nor release (delete its
 * key and wake the waiters) that term. */
static void lease_ops_leave_a_live_term_alone(void) {
  kit_session a;
  test_cluster *c = kit_redis_session(&a, "alice");
  REQUIRE(c != NULL);
  baton_error err = {0};
  redisContext *r = kit_redis_raw(c->member[0].port, NULL, NULL);
  REQUIRE(r != NULL);
  char before[512], after[512], pttl[32];
  baton_candidate k = kit_cand(&a, "term");
  REQUIRE_OK(B->acquire(a.s, &k, NULL, kit_deadline(2000), &err), &err);
  kit_redis_str(r, before, sizeof before, "GET term");
  CHECK_EQ(B->lease_extend(a.s, "term", k.token, BATON_NS_PER_MS, kit_deadline(2000), &err),
           BATON_ENOTHOLDER);
  CHECK_EQ(B->lease_release(a.s, "term", k.token, kit_deadline(2000), &err), BATON_ENOTHOLDER);
  CHECK_STR(kit_redis_str(r, after, sizeof after, "GET term"), before);
  CHECK_GT(strtoll(kit_redis_str(r, pttl, sizeof pttl, "PTTL term"), NULL, 10), 1000);
  CHECK_OK(B->release(a.s, &k, kit_deadline(2000), &err), &err);
  B->forget(a.s, &k);
  redisFree(r);
  kit_close(&a);
}

/* A proclaim leaves redis-py's view of the lock key alone: it still finds
 * the name busy, the key holds what it held. After our release redis-py
 * takes the name, and its holder shows no value (our term's is gone with
 * it, and would not be shown for another holder anyway). */
static void proclaim_keeps_redis_py_interop(void) {
  kit_session a;
  test_cluster *c = kit_redis_session(&a, "alice");
  REQUIRE(c != NULL);
  baton_error err = {0};
  redisContext *r = kit_redis_raw(c->member[0].port, NULL, NULL);
  REQUIRE(r != NULL);
  char verdict[256], lock[512], buf[512], value[64];
  baton_candidate k = kit_cand(&a, "told");
  REQUIRE_OK(B->acquire(a.s, &k, NULL, kit_deadline(2000), &err), &err);
  kit_redis_str(r, lock, sizeof lock, "GET told");
  CHECK_OK(B->proclaim(a.s, &k, "serving at 10.0.0.7:8080", kit_deadline(2000), &err), &err);
  CHECK_STR(redis_py_try(c, "told", verdict, sizeof verdict), "busy");
  CHECK_STR(kit_redis_str(r, buf, sizeof buf, "GET told"), lock);
  CHECK_OK(B->release(a.s, &k, kit_deadline(2000), &err), &err);
  CHECK_STR(redis_py_try(c, "told", verdict, sizeof verdict), "acquired");
  baton_leader who;
  size_t len = 1;
  CHECK_OK(B->leader_value(a.s, "told", &who, value, sizeof value, &len, kit_deadline(2000), &err),
           &err);
  CHECK_STR(who.identity, kit_redis_str(r, buf, sizeof buf, "GET told"));
  CHECK_EQ(who.token, 0);
  CHECK_EQ(who.version, 0);
  CHECK_STR(value, "");
  CHECK_EQ(len, 0);
  B->forget(a.s, &k);
  redisFree(r);
  kit_close(&a);
}

/* A holder that is not baton lets go and publishes nothing: redis-py's
 * Lock with a 30 s timeout released after 0.6 s, or a plain SET with no
 * TTL deleted. The waiting campaign is elected within a second of it, not
 * at the key's expiry (30 s, or never). The holder's times are
 * CLOCK_MONOTONIC, as ours. */
static void foreign_release_noticed(const char *how) {
  test_cluster *c = kit_fresh_redis(NULL);
  REQUIRE(c != NULL);
  char script[768];
  snprintf(script, sizeof script,
           "import redis, sys, time\n"
           "r = redis.Redis(port=%d)\n"
           "l = r.lock('foreign', timeout=30)\n"
           "ok = l.acquire(blocking=False) if '%s' == 'lock' else r.set('foreign', 'x')\n"
           "print('held' if ok else 'busy', flush=True)\n"
           "time.sleep(0.6)\n"
           "l.release() if '%s' == 'lock' else r.delete('foreign')\n"
           "print('released %%d' %% int(time.monotonic() * 1000), flush=True)\n"
           "sys.stdin.readline()\n",
           c->member[0].port, how, how);
  const char *const argv[] = {"/usr/bin/python3", "-c", script, NULL};
  kit_proc *py = kit_spawn(argv, NULL);
  REQUIRE(py != NULL);
  char line[128];
  REQUIRE(kit_proc_line(py, line, sizeof line, 10000) == 0);
  REQUIRE(strcmp(line, "held") == 0);
  baton_options o = {.identity = "waiter"};
  baton_client *cl = NULL;
  baton_election *e = NULL;
  baton_error err = {0};
  REQUIRE_OK(baton_client_open(&cl, c->uri, &o, &err), &err);
  CHECK_OK(baton_election_open(&e, cl, "foreign", NULL, NULL, &err), &err);
  int rc = e != NULL ? baton_election_campaign(e, 5000, NULL, &err) : -1;
  int64_t elected = kit_now_ms();
  CHECK_OK(rc, &err);
  long long released = -1;
  if (kit_proc_expect(py, "released ", 5000, line, sizeof line) == 0)
    released = strtoll(line + 9, NULL, 10);
  CHECK_GE(released, 0);
  printf("  %s: elected %lld ms after the release\n", how, (long long)(elected - released));
  CHECK_GE(elected, released);
  CHECK_LT(elected - released, 1000);
  baton_election_close(e);
  baton_client_close(cl);
  kit_proc_stop(py, 0, 5000);
}

static void redis_py_release_noticed(void) { foreign_release_noticed("lock"); }
static void plain_key_without_ttl_deleted_noticed(void) { foreign_release_noticed("set"); }

int main(int argc, char **argv) {
  static const test_case cases[] = {
      {"server_restart_keeps_tokens_growing", server_restart_keeps_tokens_growing},
      {"restart_waits_out_the_old_term", restart_waits_out_the_old_term},
      {"fresh_server_and_its_marker", fresh_server_and_its_marker},
      {"try_campaign_during_the_wait", try_campaign_during_the_wait},
      {"lease_on_a_fresh_server_waits_as_terms_do", lease_on_a_fresh_server_waits_as_terms_do},
      {"campaign_cancelled_during_the_wait", campaign_cancelled_during_the_wait},
      {"idle_connections_the_server_closed_are_replaced",
       idle_connections_the_server_closed_are_replaced},
      {"lost_connections_are_logged", lost_connections_are_logged},
      {"auth_with_requirepass", auth_with_requirepass},
      {"auth_with_acl_user", auth_with_acl_user},
      {"acl_user_limited_to_a_prefix", acl_user_limited_to_a_prefix},
      {"database_from_the_path", database_from_the_path},
      {"bad_uris_are_refused", bad_uris_are_refused},
      {"full_backlog_times_out_the_connect", full_backlog_times_out_the_connect},
      {"garbage_replies_give_eproto", garbage_replies_give_eproto},
      {"mutual_exclusion_with_redis_py_lock", mutual_exclusion_with_redis_py_lock},
      {"proclaim_keeps_redis_py_interop", proclaim_keeps_redis_py_interop},
      {"fixed_lease_and_redis_py_lock", fixed_lease_and_redis_py_lock},
      {"lease_ops_leave_a_live_term_alone", lease_ops_leave_a_live_term_alone},
      {"redis_py_release_noticed", redis_py_release_noticed},
      {"plain_key_without_ttl_deleted_noticed", plain_key_without_ttl_deleted_noticed},
      {NULL, NULL},
  };
  return test_main(argc, argv, cases);
}
