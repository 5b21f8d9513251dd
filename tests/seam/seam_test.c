/* seam_test.c — what lib/backend.h promises of a backend table, tested
 * once and run for every backend: `seam KIND [FILTER]` (redis, etcd, zk, redlock)
 * starts a real server of KIND and drives the table the way the core
 * does, through the kit's sessions (kit/session.h). What only a backend's
 * protocol says (scripts, the gateway's JSON, znode names, interop with
 * other clients, auth, TLS, clusters) stays in that backend's folder.
 *
 * Where backends differ by what they declare, a case says so: BATON_CAP_*
 * (a term with its own TTL; a queue served in order), and the kit's view
 * of each server (kit_seam_<name>: how it counts requests, whether renew
 * reads the keys). */
#include "kit.h"
#include "proxy.h"
#include "seam.h"
#include "session.h"
#include "test.h"
#include "wakes.h"

#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* Each built backend's view, from the one backend list. */
#define X_DECL(name) extern const kit_seam kit_seam_##name;
BATON_BACKENDS_BUILT(X_DECL)
#undef X_DECL
#define X_ENTRY(name) &kit_seam_##name,
static const kit_seam *const seams[] = {BATON_BACKENDS_BUILT(X_ENTRY) NULL};
#undef X_ENTRY

#define SETTLE_MS 50   /* a wait that lasts this long has blocked for real */
#define BLOCKED_MS 200 /* how long a waiter must stay blocked while nothing happens */
#define LOST_MS 200    /* the deadline of a call whose reply does not come */
#define WAKE_MS 2000   /* a waiter woken by an event returns within this */
#define CANCEL_MS (50 + TEST_SLACK_MS / 4) /* a cancel: a poll's wake-up, no request */

static const kit_seam *S;    /* the backend under test */
static const baton_backend *B;
static test_cluster *server;

/* ---- helpers ------------------------------------------------------------- */

static bool term_ttl(void) { return (B->caps & BATON_CAP_TERM_TTL) != 0; }

static bool queues(void) { return (B->caps & BATON_CAP_QUEUE) != 0; }

/* The server's URI with member i at ports[i] instead (a proxy, or a port
 * where nothing listens): every member moves, as a quorum of them serves
 * a backend that votes. */
static void uri_at(char *uri, size_t size, const int *ports) {
  kit_uri_at(uri, size, server->uri, ports, server->n);
}

/* A proxy in front of every member, and the URI through them. */
typedef struct proxies {
  proxy *px[TEST_MAX_MEMBERS];
  char uri[512];
} proxies;

static void proxies_stop(proxies *g) {
  for (int i = 0; i < server->n; i++) proxy_stop(g->px[i]);
}

/* 0, or -1 (reported) with none left running. */
static int proxies_start(proxies *g) {
  int ports[TEST_MAX_MEMBERS];
  memset(g, 0, sizeof *g);
  for (int i = 0; i < server->n; i++) {
    if (proxy_start(&g->px[i], server->member[i].port) != 0) {
      proxies_stop(g);
      TEST_FAIL_("cannot start a proxy");
      return -1;
    }
    ports[i] = proxy_port(g->px[i]);
  }
  uri_at(g->uri, sizeof g->uri, ports);
  return 0;
}

static void proxies_mode(proxies *g, proxy_mode mode) {
  for (int i = 0; i < server->n; i++) proxy_set_mode(g->px[i], mode, 0);
}

static int open_as(kit_session *k, const char *identity, uint32_t ttl_ms, baton_error *err) {
  return kit_open_as(k, B, server->uri, identity, ttl_ms, err);
}

/* Two sessions, each with a candidate on one fresh name: what most cases
 * set against each other. */
typedef struct pair {
  kit_session a, b;
  baton_candidate ca, cb;
  char name[BATON_NAME_MAX + 1];
} pair;

/* Open a pair (identities ida and idb; a on uri_a, NULL: the server's).
 * false, reported, with nothing left open. */
static bool pair_open_at(pair *p, const char *tag, const char *uri_a, const char *ida,
                         const char *idb) {
  baton_error err = {0};
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", kit_name(tag));
  int rc = kit_open_as(&p->a, B, uri_a != NULL ? uri_a : server->uri, ida, 0, &err);
  if (rc == 0 && (rc = open_as(&p->b, idb, 0, &err)) != 0) kit_close(&p->a);
  if (rc != 0) TEST_FAIL_("open: %s", err.message);
  p->ca = kit_cand(&p->a, p->name);
  p->cb = kit_cand(&p->b, p->name);
  return rc == 0;
}

static bool pair_open(pair *p, const char *tag, const char *ida, const char *idb) {
  return pair_open_at(p, tag, NULL, ida, idb);
}

/* Release and forget both candidates, close both sessions (a session a
 * case closed already is left alone). */
static void pair_close(pair *p) {
  if (p->a.s != NULL) kit_drop(&p->a, &p->ca);
  if (p->b.s != NULL) kit_drop(&p->b, &p->cb);
  kit_close(&p->a);
  kit_close(&p->b);
}

/* The server's view of name (zeroed, and reported, when it cannot say). */
static kit_peek peek(const char *name) {
  kit_peek p;
  if (S->peek(server, name, &p) != 0) TEST_FAIL_("cannot look at %s on the server", name);
  return p;
}

/* Wait until name has `keys` keys on the server, at most ms: no event
 * says a request that a stopped server received has run. */
static bool keys_become(const char *name, int keys, int ms) {
  for (int64_t end = kit_now_ms() + ms;; kit_sleep_ms(10)) {
    kit_peek p;
    if (S->peek(server, name, &p) == 0 && p.keys == keys) return true;
    if (kit_ms_left(end) == 0) return false;
  }
}

static void pause_server(void) {
  for (int i = 0; i < server->n; i++) test_server_pause(&server->member[i]);
}

static void resume_server(void) {
  for (int i = 0; i < server->n; i++) test_server_resume(&server->member[i]);
}

/* Bring c (seen NULL: a candidate that queued; else an observer that saw
 * `seen`) to where a wait blocks: a wait may return at once the first
 * times (a subscription made, a watch set), which the contract allows. */
static bool settle(kit_session *k, baton_candidate *c, const baton_leader *seen) {
  baton_error err = {0};
  for (int64_t end = kit_now_ms() + KIT_CALL_MS; kit_ms_left(end) > 0;) {
    if (seen == NULL && kit_acquire(k, c, NULL, &err) != BATON_EHELD) break;
    int rc = kit_wait(k, c, seen, SETTLE_MS, &err);
    if (rc == BATON_ETIMEDOUT) return true;
    if (rc != 0) break;
  }
  TEST_FAIL_("%s never blocked in wait: %s", c->name, err.message);
  return false;
}

/* Start c's wait (seen as for settle) on a thread once it blocks, and see
 * that it does not return for blocked_ms (no event says it blocks now):
 * true, or false (reported) with no thread left. */
static bool wait_blocked(kit_waiter *w, kit_session *k, baton_candidate *c,
                         const baton_leader *seen, int blocked_ms) {
  if (!settle(k, c, seen)) return false;
  if (kit_waiter_start(w, k, c, seen, 6 * KIT_CALL_MS) != 0) {
    TEST_FAIL_("no thread for the wait of %s", c->name);
    return false;
  }
  CHECK_EQ(kit_waiters_done(w, 1, 1, blocked_ms), 0);
  return true;
}

/* A pair where a leads and b's candidate waits on a thread, blocked for
 * blocked_ms: true, or false (reported) with nothing left open. */
static bool duel_start(pair *p, const char *tag, const char *ida, const char *idb,
                       kit_waiter *w, int blocked_ms) {
  baton_error err = {0};
  if (!pair_open(p, tag, ida, idb)) return false;
  int rc = kit_acquire(&p->a, &p->ca, NULL, &err);
  CHECK_OK(rc, &err);
  if (rc == 0 && wait_blocked(w, &p->b, &p->cb, NULL, blocked_ms)) return true;
  pair_close(p);
  return false;
}

/* Join a waiter that an event at t0 (kit_now_ms) woke: it said "look
 * again" (0) within the slack. */
static void woken_by(kit_waiter *w, int64_t t0) {
  kit_waiter_join(w);
  CHECK_OK(w->rc, &w->err);
  CHECK_LT(w->woke_at - t0, TEST_SLACK_MS);
}

/* ---- open and close ------------------------------------------------------ */

/* Open makes a session (and says the TTL the server applies: 0 for the
 * one asked); nothing listening is BATON_ECONNECT naming the address,
 * within the connect timeout; close is bounded. */
static void open_and_close(void) {
  kit_session k;
  baton_error err = {0};
  REQUIRE_OK(open_as(&k, "opener", 0, &err), &err);
  CHECK(k.s->server_ttl_ns == 0 || k.s->server_ttl_ns == k.cfg.ttl_ns);
  int64_t t0 = kit_now_ms();
  kit_close(&k);
  CHECK_LT(kit_ms_since(t0), k.cfg.op_timeout_ns / BATON_NS_PER_MS + TEST_SLACK_MS);

  enum { CONNECT_MS = 700 };
  int ports[TEST_MAX_MEMBERS];
  for (int i = 0; i < server->n; i++) ports[i] = test_free_port();
  char uri[512], where[32];
  uri_at(uri, sizeof uri, ports);
  snprintf(where, sizeof where, "127.0.0.1:%d", ports[0]);
  baton_options o = {.connect_timeout_ms = CONNECT_MS};
  t0 = kit_now_ms();
  int rc = kit_open(&k, B, uri, &o, KIT_CALL_MS, &err);
  int64_t took = kit_ms_since(t0);
  printf("  nothing listens: %d after %lld ms: %s\n", rc, (long long)took, err.message);
  CHECK_EQ(rc, BATON_ECONNECT);
  CHECK_CONTAINS(err.message, where);
  CHECK_LT(took, CONNECT_MS + TEST_SLACK_MS);
  if (rc == 0) kit_close(&k);
}

/* ---- acquire and leader ------------------------------------------------------- */

/* acquire returns 0 with a token, or BATON_EHELD with the holder (and a
 * message that names it); leader says who leads from any session; a
 * second election of one session on a name is a candidate of its own;
 * forget frees what the backend kept. */
static void acquire_leads_or_names_the_holder(void) {
  pair p;
  REQUIRE(pair_open(&p, "acquire", "alice", "bob"));
  baton_candidate twice = kit_cand(&p.a, p.name);
  twice.slot = 1;
  baton_error err = {0};
  baton_leader who = {0};
  CHECK_EQ(kit_leader(&p.b, p.name, &who, &err), BATON_ENOLEADER);
  CHECK_CONTAINS(err.message, p.name);

  CHECK_OK(kit_acquire(&p.a, &p.ca, NULL, &err), &err);
  CHECK_GT(p.ca.token, 0);
  kit_peek view = peek(p.name);
  CHECK_EQ(view.keys, 1);
  CHECK_EQ(view.token, p.ca.token);
  CHECK_STR(view.identity, "alice");
  CHECK_OK(kit_leader(&p.b, p.name, &who, &err), &err);
  CHECK_STR(who.identity, "alice");
  CHECK_EQ(who.token, p.ca.token);

  memset(&who, 0, sizeof who);
  CHECK_EQ(kit_acquire(&p.b, &p.cb, &who, &err), BATON_EHELD);
  CHECK_STR(who.identity, "alice");
  CHECK_EQ(who.token, p.ca.token);
  CHECK_CONTAINS(err.message, "alice");
  CHECK_EQ(kit_acquire(&p.b, &p.cb, NULL, &err), BATON_EHELD); /* holder may be NULL */
  memset(&who, 0, sizeof who);
  CHECK_EQ(kit_acquire(&p.a, &twice, &who, &err), BATON_EHELD);
  CHECK_EQ(who.token, p.ca.token);

  /* Asked again while it leads: on a backend whose terms have their own
   * TTL, a new term (the caller ended the last one, at its deadline say);
   * else the same term. */
  uint64_t first = p.ca.token;
  CHECK_OK(kit_acquire(&p.a, &p.ca, NULL, &err), &err);
  if (term_ttl()) CHECK_GT(p.ca.token, first);
  else CHECK_EQ(p.ca.token, first);
  baton_candidate *held[] = {&p.ca};
  bool gone[1] = {true};
  CHECK_OK(kit_renew(&p.a, held, 1, gone, &err), &err);
  CHECK(!gone[0]);

  CHECK_OK(kit_release(&p.a, &twice, &err), &err);
  CHECK_OK(kit_release(&p.a, &p.ca, &err), &err);
  CHECK_OK(kit_acquire(&p.b, &p.cb, NULL, &err), &err);
  CHECK_GT(p.cb.token, p.ca.token);
  CHECK_OK(kit_leader(&p.a, p.name, &who, &err), &err);
  CHECK_STR(who.identity, "bob");
  CHECK_OK(kit_release(&p.b, &p.cb, &err), &err);
  CHECK_EQ(kit_leader(&p.a, p.name, &who, &err), BATON_ENOLEADER);
  CHECK_EQ(kit_leader(&p.a, kit_name("never-used"), &who, &err), BATON_ENOLEADER);
  kit_forget(&p.a, &twice);
  CHECK(twice.priv == NULL);
  pair_close(&p);
  CHECK(p.ca.priv == NULL && p.cb.priv == NULL);
}

/* Every term's token is above every earlier one's, and is what the
 * server says. */
static void tokens_increase_across_terms(void) {
  enum { TERMS = 50 };
  kit_session a;
  baton_error err = {0};
  REQUIRE_OK(open_as(&a, "alice", 0, &err), &err);
  const char *name = kit_name("tokens");
  baton_candidate x = kit_cand(&a, name), y = kit_cand(&a, name);
  y.slot = 1;
  uint64_t last = 0;
  for (int i = 0; i < TERMS; i++) {
    baton_candidate *k = i % 2 ? &x : &y;
    int rc = kit_acquire(&a, k, NULL, &err);
    CHECK_OK(rc, &err);
    if (rc != 0) break;
    CHECK_GT(k->token, last);
    last = k->token;
    CHECK_OK(kit_release(&a, k, &err), &err);
  }
  CHECK_OK(kit_acquire(&a, &x, NULL, &err), &err);
  CHECK_GT(x.token, last);
  CHECK_EQ(peek(name).token, x.token);
  kit_drop(&a, &x);
  kit_forget(&a, &y);
  kit_close(&a);
}

/* ---- lost replies ------------------------------------------------------------ */

/* An acquire whose request runs and whose reply is lost (a proxy holds
 * the server's answers back): it gives up at its deadline, the outcome
 * unknown to it, once the server shows `keys` keys for name; then the
 * connection is reset, the reply with it. false (reported) otherwise. */
static bool lose_an_acquire(proxies *px, kit_session *k, baton_candidate *c, int keys) {
  baton_error err = {0};
  proxies_mode(px, PROXY_MUTE);
  int rc = B->acquire(k->s, c, NULL, kit_deadline(LOST_MS), &err);
  CHECK_EQ(rc, BATON_ETIMEDOUT);
  bool ran = keys_become(c->name, keys, KIT_CALL_MS);
  CHECK(ran);
  /* Where keys end with their session, a reset would end them too: the
   * reply comes late instead, on the same connection. */
  if (!S->keys_end_with_the_session) proxies_mode(px, PROXY_DROP);
  proxies_mode(px, PROXY_PASS);
  return rc == BATON_ETIMEDOUT && ran;
}

/* A reply that never came is resolved by the next call for the candidate
 * (the next that gets through: the first may find the connection gone,
 * which the core retries): an acquire adopts the key its lost request
 * made (one key, the same token, a full TTL again), a release deletes it,
 * and one made while another held the name stays not ours. */
static void lost_reply_is_resolved(void) {
  proxies px;
  REQUIRE_EQ(proxies_start(&px), 0);
  pair p;
  if (!pair_open_at(&p, "lost", px.uri, "alice", "bob")) {
    proxies_stop(&px);
    return;
  }
  baton_error err = {0};
  CHECK_OK(kit_acquire(&p.a, &p.ca, NULL, &err), &err); /* parents, scripts: made once */
  CHECK_OK(kit_release(&p.a, &p.ca, &err), &err);

  /* The next acquire adopts what the lost one made. */
  int rc;
  if (lose_an_acquire(&px, &p.a, &p.ca, 1)) {
    kit_sleep_ms(50); /* a TTL of its own runs down measurably */
    kit_peek before = peek(p.name);
    KIT_RETRY(rc, KIT_CALL_MS, kit_acquire(&p.a, &p.ca, NULL, &err));
    CHECK_OK(rc, &err);
    kit_peek after = peek(p.name);
    CHECK_EQ(after.keys, 1); /* adopted, not made again */
    /* A backend that votes raises the counter on every yes, adopting too
     * (its token proof needs it: backends/redlock/redlock.c). */
    if (server->n > 1 && term_ttl())
      CHECK_GE(p.ca.token, before.token);
    else
      CHECK_EQ(p.ca.token, before.token);
    CHECK_EQ(after.token, p.ca.token);
    CHECK_STR(after.identity, "alice");
    if (before.ttl_ms >= 0) CHECK_GT(after.ttl_ms, before.ttl_ms);
    CHECK_OK(kit_release(&p.a, &p.ca, &err), &err);
    CHECK_EQ(peek(p.name).keys, 0);
  }

  /* A release after a lost acquire deletes what it made: no orphan holds
   * the name. */
  uint64_t last = p.ca.token;
  if (lose_an_acquire(&px, &p.a, &p.ca, 1)) {
    KIT_RETRY(rc, KIT_CALL_MS, kit_release(&p.a, &p.ca, &err));
    CHECK_OK(rc, &err);
    CHECK_EQ(peek(p.name).keys, 0);
    CHECK_OK(kit_acquire(&p.b, &p.cb, NULL, &err), &err);
    CHECK_GT(p.cb.token, last);
    CHECK_OK(kit_release(&p.b, &p.cb, &err), &err);
  }

  /* A lost acquire while another holds the name stays not ours (on a
   * queue it made a queued key, which the release deletes). */
  CHECK_OK(kit_acquire(&p.b, &p.cb, NULL, &err), &err);
  if (lose_an_acquire(&px, &p.a, &p.ca, queues() ? 2 : 1)) {
    baton_leader holder = {0};
    KIT_RETRY(rc, KIT_CALL_MS, kit_acquire(&p.a, &p.ca, &holder, &err));
    CHECK_EQ(rc, BATON_EHELD);
    CHECK_STR(holder.identity, "bob");
    CHECK_OK(kit_release(&p.a, &p.ca, &err), &err);
    kit_peek view = peek(p.name);
    CHECK_EQ(view.keys, 1);
    CHECK_STR(view.identity, "bob");
  }
  pair_close(&p);
  proxies_stop(&px);
}

/* ---- release ------------------------------------------------------------------- */

typedef struct cycle {
  kit_session *k;
  baton_candidate *c;
} cycle;

static void acquire_release(void *arg) {
  cycle *x = arg;
  baton_error err = {0};
  CHECK_OK(kit_acquire(x->k, x->c, NULL, &err), &err);
  CHECK_OK(kit_release(x->k, x->c, &err), &err);
}

static void release_only(void *arg) {
  cycle *x = arg;
  baton_error err = {0};
  CHECK_OK(kit_release(x->k, x->c, &err), &err);
}

/* An uncontended acquire + release costs what the backend documents; a
 * second release has nothing to delete and sends nothing; a release never
 * deletes a key that is not (or no longer) its own: not the holder's
 * after a failed acquire, not a thief's, not the queue's. */
static void release_is_idempotent_and_only_deletes_our_own(void) {
  pair p;
  REQUIRE(pair_open(&p, "release", "alice", "bob"));
  baton_error err = {0};
  cycle both = {&p.a, &p.ca};
  acquire_release(&both); /* parents, scripts: made once */
  CHECK_EQ(S->requests(server, &p.a, acquire_release, &both), S->acquire_release_requests);
  CHECK_EQ(S->requests(server, &p.a, release_only, &both), 0);

  CHECK_OK(kit_acquire(&p.a, &p.ca, NULL, &err), &err);
  CHECK_EQ(kit_acquire(&p.b, &p.cb, NULL, &err), BATON_EHELD);
  CHECK_OK(kit_release(&p.b, &p.cb, &err), &err);
  kit_peek view = peek(p.name);
  CHECK_EQ(view.keys, 1);
  CHECK_STR(view.identity, "alice");

  /* The key changes hands behind alice's back: her release leaves it. */
  REQUIRE_EQ(S->steal(server, p.name), 0);
  CHECK_OK(kit_release(&p.a, &p.ca, &err), &err);
  CHECK_STR(peek(p.name).identity, "thief");
  baton_leader who;
  CHECK_OK(kit_leader(&p.b, p.name, &who, &err), &err);
  CHECK_STR(who.identity, "thief");
  CHECK_EQ(S->remove(server, p.name), 0);

  /* A queued candidate's release deletes its own key alone. */
  if (queues()) {
    CHECK_OK(kit_acquire(&p.a, &p.ca, NULL, &err), &err);
    CHECK_EQ(kit_acquire(&p.b, &p.cb, NULL, &err), BATON_EHELD);
    CHECK_EQ(peek(p.name).keys, 2);
    CHECK_OK(kit_release(&p.b, &p.cb, &err), &err);
    view = peek(p.name);
    CHECK_EQ(view.keys, 1);
    CHECK_STR(view.identity, "alice");
  }
  pair_close(&p);
}

/* ---- renew --------------------------------------------------------------------- */

enum { MANY = 100 };

typedef struct held_names {
  kit_session *k;
  baton_candidate c[MANY];
  baton_candidate *held[MANY];
  bool gone[MANY];
  char names[MANY][BATON_NAME_MAX + 1];
} held_names;

static void renew_all(void *arg) {
  held_names *h = arg;
  baton_error err = {0};
  CHECK_OK(kit_renew(h->k, h->held, MANY, h->gone, &err), &err);
}

/* Renewing every held name is one request, whatever their number, and
 * names the keys the server no longer has as ours (on a backend whose
 * renew reads them); renewing none is fine. */
static void renew_of_many_is_one_request_and_reports_gone_keys(void) {
  static held_names h;
  kit_session a;
  baton_error err = {0};
  REQUIRE_OK(open_as(&a, "alice", 0, &err), &err);
  h.k = &a;
  int acquired = 0;
  for (int i = 0; i < MANY; i++) {
    snprintf(h.names[i], sizeof h.names[i], "%s", kit_name("many"));
    h.c[i] = kit_cand(&a, h.names[i]);
    h.held[i] = &h.c[i];
    acquired += kit_acquire(&a, &h.c[i], NULL, &err) == 0;
  }
  CHECK_EQ(acquired, MANY);
  renew_all(&h); /* caches what a first renewal sets up */
  CHECK_EQ(S->requests(server, &a, renew_all, &h), 1);
  int kept = 0;
  for (int i = 0; i < MANY; i++) kept += !h.gone[i];
  CHECK_EQ(kept, MANY);
  CHECK_OK(kit_renew(&a, NULL, 0, NULL, &err), &err);

  /* Two keys go behind our back: one deleted, one taken. */
  enum { DELETED = 3, TAKEN = 70 };
  if (S->keys_end_with_the_session) {
    /* Only by ending the session: then renew says so, for all of them. */
    CHECK_EQ(S->remove(server, h.names[DELETED]), 0);
    int rc = kit_renew(&a, h.held, MANY, h.gone, &err);
    printf("  %s\n", err.message);
    CHECK_EQ(rc, BATON_ESESSION);
    for (int i = 0; i < MANY; i++) kit_drop(&a, &h.c[i]);
    kit_close(&a);
    return;
  }
  CHECK_EQ(S->remove(server, h.names[DELETED]), 0);
  CHECK_EQ(S->steal(server, h.names[TAKEN]), 0);
  for (int i = 0; i < MANY; i++) h.gone[i] = !h.gone[i];
  CHECK_OK(kit_renew(&a, h.held, MANY, h.gone, &err), &err);
  int lost = 0;
  for (int i = 0; i < MANY; i++) lost += h.gone[i];
  if (S->renew_sees_keys) {
    CHECK_EQ(lost, 2);
    CHECK(h.gone[DELETED] && h.gone[TAKEN]);
  } else {
    CHECK_EQ(lost, 0); /* the session lives: so do its keys, for renew */
  }
  CHECK_OK(kit_release(&a, &h.c[TAKEN], &err), &err);
  CHECK_STR(peek(h.names[TAKEN]).identity, "thief");
  CHECK_EQ(S->remove(server, h.names[TAKEN]), 0);
  for (int i = 0; i < MANY; i++) kit_drop(&a, &h.c[i]);
  kit_close(&a);
}

/* A client cut off (a proxy forwards nothing) past its TTL, until the
 * server has forgotten its session (a lease, a ZooKeeper session expired)
 * and its keys: then the next renew says BATON_ESESSION, acquire says so
 * until a renew has opened a fresh session, and by then every blocked
 * wait has returned (0, or an error the core retries) so that its
 * candidate queues again; a new term has a greater token. A backend whose
 * terms have their own TTL has no session to lose: renew reports the
 * expired keys gone, and goes on. */
static void renew_after_the_server_forgot_the_session(void) {
  enum { TTL_MS = 1000 }; /* the shortest the servers take (ZooKeeper's minimum here) */
  proxies px;
  REQUIRE_EQ(proxies_start(&px), 0);
  kit_session a, h;
  baton_error err = {0};
  if (kit_open_as(&a, B, px.uri, "forgotten", TTL_MS, &err) != 0 ||
      open_as(&h, "holder", 0, &err) != 0) {
    if (a.s != NULL) kit_close(&a);
    proxies_stop(&px);
    REQUIRE_OK(-1, &err);
  }
  const char *name = kit_name("forgot"), *queue = kit_name("forgot-q");
  baton_candidate c = kit_cand(&a, name), cq = kit_cand(&a, queue), ch = kit_cand(&h, queue);
  CHECK_OK(kit_acquire(&a, &c, NULL, &err), &err);
  uint64_t first = c.token;
  CHECK_OK(kit_acquire(&h, &ch, NULL, &err), &err);
  kit_waiter w;
  bool waiting = wait_blocked(&w, &a, &cq, NULL, 0);
  baton_candidate *held[] = {&c};
  bool gone[1] = {false};

  /* Cut off until the server has let go of its key (no event says so). */
  proxies_mode(&px, PROXY_STALL);
  int64_t t0 = kit_now_ms();
  bool forgotten = keys_become(name, 0, 4 * KIT_CALL_MS);
  CHECK(forgotten);
  printf("  the server forgot the session %lld ms after the cut\n", (long long)kit_ms_since(t0));
  proxies_mode(&px, PROXY_DROP); /* the connections it held are dead */
  proxies_mode(&px, PROXY_PASS);

  if (term_ttl()) {
    int rc;
    KIT_RETRY(rc, KIT_CALL_MS, kit_renew(&a, held, 1, gone, &err));
    CHECK_OK(rc, &err);
    CHECK(gone[0]); /* expired: reported, not hidden */
    CHECK(!waiting || kit_waiters_done(&w, 1, 1, WAKE_MS) == 1);
  } else {
    /* Until it hears, it may fail otherwise (a connection), never succeed. */
    int rc = -1;
    for (int64_t end = kit_now_ms() + KIT_CALL_MS; rc != BATON_ESESSION && kit_ms_left(end);) {
      rc = kit_renew(&a, held, 1, gone, &err);
      CHECK_NE(rc, 0);
      if (rc != BATON_ESESSION) kit_sleep_ms(50);
    }
    CHECK_EQ(rc, BATON_ESESSION);
    printf("  %s\n", err.message);
    CHECK(!gone[0]);
    CHECK_EQ(kit_acquire(&a, &c, NULL, &err), BATON_ESESSION);
    CHECK_OK(kit_renew(&a, held, 1, gone, &err), &err); /* opens a fresh one */
    CHECK_EQ(gone[0], S->renew_sees_keys);
    CHECK(!waiting || kit_waiters_done(&w, 1, 1, WAKE_MS) == 1);
  }
  if (waiting) {
    kit_waiter_join(&w);
    if (w.rc != 0 && !baton__retryable(w.rc)) TEST_FAIL_("the wait: %d %s", w.rc, w.err.message);
    int rc;
    KIT_RETRY(rc, KIT_CALL_MS, kit_acquire(&a, &cq, NULL, &err));
    CHECK_EQ(rc, BATON_EHELD); /* queued again behind the holder */
  }
  CHECK_OK(kit_acquire(&a, &c, NULL, &err), &err);
  CHECK_GT(c.token, first);
  CHECK_OK(kit_renew(&a, held, 1, gone, &err), &err);
  CHECK(!gone[0]);
  kit_drop(&a, &c);
  kit_drop(&a, &cq);
  kit_drop(&h, &ch);
  kit_close(&a);
  kit_close(&h);
  proxies_stop(&px);
}

/* Renewals keep a term past its TTL (by half of it); without them it
 * would be over. */
static void renew_keeps_the_term_past_its_ttl(void) {
  kit_session a, o;
  baton_error err = {0};
  REQUIRE_OK(open_as(&a, "renewer", 1000, &err), &err);
  REQUIRE_OK(open_as(&o, "other", 0, &err), &err);
  int64_t ttl_ms = (a.s->server_ttl_ns ? a.s->server_ttl_ns : a.cfg.ttl_ns) / BATON_NS_PER_MS;
  const char *name = kit_name("renewed");
  baton_candidate c = kit_cand(&a, name);
  baton_candidate *held[] = {&c};
  bool gone[1];
  CHECK_OK(kit_acquire(&a, &c, NULL, &err), &err);
  for (int64_t end = kit_now_ms() + ttl_ms * 3 / 2; kit_ms_left(end) > 0;) {
    kit_sleep_ms((int)ttl_ms / 3); /* the renew interval */
    CHECK_OK(kit_renew(&a, held, 1, gone, &err), &err);
    CHECK(!gone[0]);
  }
  baton_leader who;
  CHECK_OK(kit_leader(&o, name, &who, &err), &err);
  CHECK_STR(who.identity, "renewer");
  CHECK_EQ(who.token, c.token);
  kit_drop(&a, &c);
  kit_close(&a);
  kit_close(&o);
}

/* ---- wait ------------------------------------------------------------------------ */

/* A release wakes the next in line only, on a backend that queues (each
 * waiter watches its predecessor: no herd), and the hand-over goes on in
 * queue order; without a queue it wakes every waiter, and one of them
 * leads. */
static void a_release_wakes_the_next_in_line(void) {
  enum { N = 5 };
  pair p; /* a holds, b's N candidates wait */
  REQUIRE(pair_open(&p, "herd", "holder", "waiters"));
  baton_candidate cw[N];
  kit_waiter ws[N];
  baton_error err = {0};
  CHECK_OK(kit_acquire(&p.a, &p.ca, NULL, &err), &err);
  int started = 0;
  for (int i = 0; i < N && started == i; i++) {
    cw[i] = kit_cand(&p.b, p.name);
    cw[i].slot = (unsigned)i + 1;
    started += wait_blocked(&ws[i], &p.b, &cw[i], NULL, i + 1 < N ? 0 : BLOCKED_MS);
  }
  if (started == N) {
    CHECK_OK(kit_release(&p.a, &p.ca, &err), &err);
    if (queues()) {
      CHECK_EQ(kit_waiters_done(ws, N, 1, WAKE_MS), 1);
      /* A herd would wake the others within milliseconds; give it 500. */
      CHECK_EQ(kit_waiters_done(ws, N, 2, 500), 1);
      CHECK_EQ(kit_waiters_done(&ws[0], 1, 1, 0), 1); /* the first in line, and only it */
      for (int i = 1; i < N; i++) kit_waiter_cancel(&ws[i]);
    } else {
      CHECK_EQ(kit_waiters_done(ws, N, N, WAKE_MS), N);
    }
  } else {
    for (int i = 0; i < started; i++) kit_waiter_cancel(&ws[i]);
  }
  int canceled = 0, leads = 0;
  for (int i = 0; i < started; i++) {
    kit_waiter_join(&ws[i]);
    canceled += ws[i].rc == BATON_ECANCELED;
  }
  if (started == N) {
    for (int i = 0; i < N; i++) leads += kit_acquire(&p.b, &cw[i], NULL, &err) == 0;
    CHECK_EQ(leads, 1);
    if (queues()) {
      CHECK_EQ(ws[0].rc, 0);
      CHECK_EQ(canceled, N - 1);
      baton_leader who;
      CHECK_OK(kit_leader(&p.a, p.name, &who, &err), &err);
      CHECK_EQ(who.token, cw[0].token); /* the first in line leads */
    }
    printf("  one release woke %d of %d waiters\n", N - canceled, N);
  }
  for (int i = 0; i < started + (started < N); i++) kit_drop(&p.b, &cw[i]);
  pair_close(&p);
}

/* wait returns BATON_ECANCELED as soon as its cancel descriptor is
 * readable (and again at once while it stays so: wait must not read it),
 * BATON_ETIMEDOUT at its deadline, not before, saying so; and 0 at once
 * when the holder releases: a hand-over costs one message, not a re-check
 * interval. */
static void wait_returns_on_release_cancel_or_deadline(void) {
  pair p;
  kit_waiter w;
  REQUIRE(duel_start(&p, "wait", "alice", "bob", &w, BLOCKED_MS));
  baton_error err = {0};
  int64_t t0 = kit_now_ms();
  CHECK_EQ(kit_waiter_cancel(&w), 0);
  kit_waiter_join(&w);
  CHECK_EQ(w.rc, BATON_ECANCELED);
  CHECK_LT(w.woke_at - t0, CANCEL_MS);
  int efd = eventfd(1, EFD_CLOEXEC); /* readable from the start */
  REQUIRE(efd >= 0);
  for (int i = 0; i < 2; i++) {
    t0 = kit_now_ms();
    CHECK_EQ(B->wait(p.b.s, &p.cb, NULL, kit_deadline(KIT_CALL_MS), efd, &err), BATON_ECANCELED);
    CHECK_LT(kit_ms_since(t0), CANCEL_MS);
  }
  close(efd);

  enum { DEADLINE_MS = 300 };
  t0 = kit_now_ms();
  CHECK_EQ(kit_wait(&p.b, &p.cb, NULL, DEADLINE_MS, &err), BATON_ETIMEDOUT);
  int64_t took = kit_ms_since(t0);
  CHECK_GE(took, DEADLINE_MS - 1);
  CHECK_LT(took, DEADLINE_MS + TEST_SLACK_MS);
  CHECK_CONTAINS(err.message, S->wait_deadline_says);

  if (wait_blocked(&w, &p.b, &p.cb, NULL, BLOCKED_MS)) {
    t0 = kit_now_ms();
    CHECK_OK(kit_release(&p.a, &p.ca, &err), &err);
    woken_by(&w, t0);
    printf("  hand-over: woken %lld ms after the release\n", (long long)(w.woke_at - t0));
    CHECK_OK(kit_acquire(&p.b, &p.cb, NULL, &err), &err);
    CHECK_GT(p.cb.token, p.ca.token);
  }
  pair_close(&p);
}

/* An observer (it never acquires) wakes when a leader is elected and when
 * it leaves, at once when the leader already differs from what it saw,
 * and only at its deadline when nothing happens. */
static void observer_wakes_on_election_and_release(void) {
  pair p; /* b observes */
  REQUIRE(pair_open(&p, "observed", "alice", "watcher"));
  baton_error err = {0};
  baton_leader none = {0}, seen = {0}, stale = {.token = 12345};
  kit_waiter w;
  if (wait_blocked(&w, &p.b, &p.cb, &none, BLOCKED_MS)) {
    int64_t t0 = kit_now_ms();
    CHECK_OK(kit_acquire(&p.a, &p.ca, NULL, &err), &err);
    woken_by(&w, t0);
  }
  /* What it saw is out of date: back at once. */
  for (int i = 0; i < 2; i++) {
    int64_t t0 = kit_now_ms();
    CHECK_OK(kit_wait(&p.b, &p.cb, i == 0 ? &none : &stale, KIT_CALL_MS, &err), &err);
    CHECK_LT(kit_ms_since(t0), TEST_SLACK_MS);
  }
  CHECK_OK(kit_leader(&p.b, p.name, &seen, &err), &err);
  CHECK_EQ(seen.token, p.ca.token);
  if (wait_blocked(&w, &p.b, &p.cb, &seen, BLOCKED_MS)) {
    int64_t t0 = kit_now_ms();
    CHECK_OK(kit_release(&p.a, &p.ca, &err), &err);
    woken_by(&w, t0);
  }
  enum { DEADLINE_MS = 200 };
  int64_t t0 = kit_now_ms();
  CHECK_EQ(kit_wait(&p.b, &p.cb, &none, DEADLINE_MS, &err), BATON_ETIMEDOUT);
  CHECK_GE(kit_ms_since(t0), DEADLINE_MS - 1);
  pair_close(&p);
}

/* ---- watch: the one-shot subscription ---------------------------------------- */

/* Arm c's watch (seen NULL: c is a candidate, which acquires first and
 * watches what acquire named): 0, or the error. *recheck_at is checked
 * to lie ahead. */
static int arm(kit_session *k, baton_candidate *c, const baton_leader *seen, kit_wakes *w,
               baton_error *err) {
  baton_leader holder = {0};
  if (seen == NULL) {
    int rc = kit_acquire(k, c, &holder, err);
    if (rc != BATON_EHELD) return rc == 0 ? BATON_EINVAL : rc;
  }
  int64_t recheck_at = 0;
  int rc = B->watch(k->s, c, seen != NULL ? seen : &holder, kit_on_wake, w, &recheck_at,
                    kit_deadline(KIT_CALL_MS), err);
  if (rc == 0) CHECK_GT(recheck_at, baton__now());
  return rc;
}

/* Arm each of ws[0..n) (cs[i] with seen) until none wakes for SETTLE_MS:
 * a watch may wake at once the first times (spurious wake-ups, which the
 * contract allows). Then every count is 0. true, or false (reported). */
static bool arm_quiet(kit_session *k, baton_candidate *cs, const baton_leader *seen,
                      kit_wakes *ws, int n) {
  baton_error err = {0};
  for (int i = 0; i < n; i++)
    if (arm(k, &cs[i], seen, &ws[i], &err) != 0) {
      TEST_FAIL_("cannot arm the watch of %s (%d): %s", cs[i].name, i, err.message);
      return false;
    }
  for (int round = 0; round < 5; round++) {
    kit_sleep_ms(SETTLE_MS); /* nothing says a spurious wake-up will not come */
    int woken = 0;
    for (int i = 0; i < n; i++) {
      if (kit_wakes_of(&ws[i]) == 0) continue;
      woken++;
      kit_wakes_reset(&ws[i]);
      if (arm(k, &cs[i], seen, &ws[i], &err) != 0) {
        TEST_FAIL_("cannot arm again: %s", err.message);
        return false;
      }
    }
    if (woken == 0) return true;
  }
  TEST_FAIL_("the watches of %s never stopped waking", cs[0].name);
  return false;
}

/* A queued or refused candidate's watch stays quiet while the holder
 * holds and wakes once, on a thread of the backend's, soon after the
 * release; after a wake, looking again (acquire) gets the term. */
static void watch_wakes_a_candidate_on_release(void) {
  REQUIRE(B->watch != NULL && B->unwatch != NULL);
  pair p;
  REQUIRE(pair_open(&p, "watch", "alice", "bob"));
  baton_error err = {0};
  kit_cond kc;
  kit_cond_init(&kc);
  kit_wakes w = {.c = &kc};
  CHECK_OK(kit_acquire(&p.a, &p.ca, NULL, &err), &err);
  if (arm_quiet(&p.b, &p.cb, NULL, &w, 1)) {
    CHECK_EQ(kit_wakes_reach(&w, 1, 1, BLOCKED_MS), 0);
    int64_t t0 = kit_now_ms();
    CHECK_OK(kit_release(&p.a, &p.ca, &err), &err);
    CHECK_EQ(kit_wakes_reach(&w, 1, 1, WAKE_MS), 1);
    CHECK_LT(w.at - t0, TEST_SLACK_MS);
    CHECK(!pthread_equal(w.by, pthread_self()));
    printf("  hand-over: woken %lld ms after the release\n", (long long)(w.at - t0));
    CHECK_OK(kit_acquire(&p.b, &p.cb, NULL, &err), &err);
    CHECK_GT(p.cb.token, p.ca.token);
  }
  pair_close(&p);
  kit_cond_destroy(&kc);
}

/* An observer's watch wakes when a leader is elected, proclaims, and
 * leaves, and at once when what it saw is out of date. */
static void watch_wakes_an_observer_on_every_change(void) {
  REQUIRE(B->watch != NULL && B->unwatch != NULL);
  pair p; /* b observes */
  REQUIRE(pair_open(&p, "wobs", "alice", "watcher"));
  baton_error err = {0};
  kit_cond kc;
  kit_cond_init(&kc);
  kit_wakes w = {.c = &kc};
  baton_leader none = {0}, seen = {0}, stale = {.token = 12345};
  if (arm_quiet(&p.b, &p.cb, &none, &w, 1)) {
    int64_t t0 = kit_now_ms();
    CHECK_OK(kit_acquire(&p.a, &p.ca, NULL, &err), &err);
    CHECK_EQ(kit_wakes_reach(&w, 1, 1, WAKE_MS), 1);
    CHECK_LT(w.at - t0, TEST_SLACK_MS);
  }
  CHECK_OK(kit_leader(&p.b, p.name, &seen, &err), &err);
  w.n = 0; /* no watch is armed: nothing else writes it */
  CHECK_OK(arm(&p.b, &p.cb, &stale, &w, &err), &err);
  CHECK_EQ(kit_wakes_reach(&w, 1, 1, TEST_SLACK_MS), 1);
  w.n = 0;
  if (B->proclaim != NULL && arm_quiet(&p.b, &p.cb, &seen, &w, 1)) {
    CHECK_OK(B->proclaim(p.a.s, &p.ca, "v1", kit_deadline(KIT_CALL_MS), &err), &err);
    CHECK_EQ(kit_wakes_reach(&w, 1, 1, WAKE_MS), 1);
    CHECK_OK(kit_leader(&p.b, p.name, &seen, &err), &err);
    w.n = 0;
  }
  if (arm_quiet(&p.b, &p.cb, &seen, &w, 1)) {
    int64_t t0 = kit_now_ms();
    CHECK_OK(kit_release(&p.a, &p.ca, &err), &err);
    CHECK_EQ(kit_wakes_reach(&w, 1, 1, WAKE_MS), 1);
    CHECK_LT(w.at - t0, TEST_SLACK_MS);
  }
  pair_close(&p);
  kit_cond_destroy(&kc);
}

/* After unwatch, nothing wakes: an observer armed beside it (observers
 * always wake) is the proof that the release was heard. forget right
 * after a watch leaves nothing that wakes later. */
static void unwatch_and_forget_disarm(void) {
  REQUIRE(B->watch != NULL && B->unwatch != NULL);
  pair p;
  REQUIRE(pair_open(&p, "unwatch", "alice", "bob"));
  baton_error err = {0};
  kit_cond kc;
  kit_cond_init(&kc);
  kit_wakes w[3] = {{.c = &kc}, {.c = &kc}, {.c = &kc}};
  baton_candidate obs = kit_cand(&p.b, p.name), gone = kit_cand(&p.b, p.name);
  obs.slot = 7;
  gone.slot = 8;
  baton_leader holder = {0};
  CHECK_OK(kit_acquire(&p.a, &p.ca, NULL, &err), &err);
  CHECK_OK(kit_leader(&p.b, p.name, &holder, &err), &err);
  if (arm_quiet(&p.b, &p.cb, NULL, &w[0], 1) && arm_quiet(&p.b, &obs, &holder, &w[1], 1)) {
    CHECK_OK(arm(&p.b, &gone, &holder, &w[2], &err), &err);
    kit_forget(&p.b, &gone);
    B->unwatch(p.b.s, &p.cb);
    B->unwatch(p.b.s, &p.cb); /* idempotent */
    CHECK_OK(kit_release(&p.a, &p.ca, &err), &err);
    CHECK_EQ(kit_wakes_reach(&w[1], 1, 1, WAKE_MS), 1);
    kit_sleep_ms(SETTLE_MS); /* a wake-up of the others would come with the observer's */
    CHECK_EQ(kit_wakes_of(&w[0]), 0);
    CHECK_EQ(kit_wakes_of(&w[2]), 0);
    B->unwatch(p.b.s, &obs);
  }
  kit_drop(&p.b, &obs);
  pair_close(&p);
  kit_cond_destroy(&kc);
}

/* A herd: HERD candidates of one session armed on one held name. One
 * release wakes one of them, not all: the next in line where the backend
 * queues, the first armed otherwise, and if that one is unwatched before
 * it looks, the wake passes on. */
static void one_release_wakes_one_watch(void) {
  REQUIRE(B->watch != NULL && B->unwatch != NULL);
  enum { HERD = 1000 };
  pair p;
  REQUIRE(pair_open(&p, "whole", "holder", "herd"));
  baton_error err = {0};
  kit_cond kc;
  kit_cond_init(&kc);
  baton_candidate *cs = calloc(HERD, sizeof *cs);
  kit_wakes *ws = calloc(HERD, sizeof *ws);
  REQUIRE(cs != NULL && ws != NULL);
  for (int i = 0; i < HERD; i++) {
    cs[i] = kit_cand(&p.b, p.name);
    cs[i].slot = (unsigned)i + 1;
    ws[i].c = &kc;
  }
  CHECK_OK(kit_acquire(&p.a, &p.ca, NULL, &err), &err);
  int64_t t_arm = kit_now_ms();
  bool armed = arm_quiet(&p.b, cs, NULL, ws, HERD);
  printf("  %d watches armed in %lld ms\n", HERD, (long long)kit_ms_since(t_arm));
  if (armed) {
    int64_t t0 = kit_now_ms();
    CHECK_OK(kit_release(&p.a, &p.ca, &err), &err);
    CHECK_EQ(kit_wakes_reach(ws, HERD, 1, WAKE_MS), 1);
    int64_t woke = kit_ms_since(t0);
    kit_sleep_ms(500); /* a herd would wake the others within milliseconds */
    CHECK_EQ(kit_wakes_reach(ws, HERD, 2, 0), 1);
    int first = -1;
    for (int i = 0; i < HERD && first < 0; i++)
      if (kit_wakes_of(&ws[i]) == 1) first = i;
    printf("  one release woke 1 of %d watches (#%d) after %lld ms\n", HERD, first,
           (long long)woke);
    if (queues()) CHECK_EQ(first, 0);
    /* The woken one stops instead of looking: its wake passes on (on a
     * queue, its release does). */
    if (first >= 0) {
      B->unwatch(p.b.s, &cs[first]);
      if (queues()) CHECK_OK(kit_release(&p.b, &cs[first], &err), &err);
      CHECK_EQ(kit_wakes_reach(ws, HERD, 2, WAKE_MS), 2);
    }
  }
  for (int i = 0; i < HERD; i++) B->unwatch(p.b.s, &cs[i]);
  for (int i = 0; i < HERD; i++) kit_drop(&p.b, &cs[i]);
  free(cs);
  free(ws);
  pair_close(&p);
  kit_cond_destroy(&kc);
}

/* ---- proclaim ------------------------------------------------------------------ */

typedef struct proclaim_call {
  kit_session *k;
  baton_candidate *c;
  const char *value;
} proclaim_call;

static void proclaim_once(void *arg) {
  proclaim_call *x = arg;
  baton_error err = {0};
  CHECK_OK(x->k->b->proclaim(x->k->s, x->c, x->value, kit_deadline(KIT_CALL_MS), &err), &err);
}

/* Proclaim (optional in the table): the holder's value changes, the
 * leader is still named by its identity, an observer that saw the term
 * before wakes, and after the first proclaim of a term (ZooKeeper makes
 * the identity node then) each costs one request. A leader_value comes
 * with it. A backend without proclaim has neither. */
static void proclaim_wakes_observers(void) {
  if (B->proclaim == NULL) {
    CHECK(B->leader_value == NULL);
    printf("    %s: no proclaim in this backend yet\n", S->kind);
    return;
  }
  REQUIRE(B->leader_value != NULL);
  pair p; /* b observes */
  REQUIRE(pair_open(&p, "proclaim", "alice", "watcher"));
  baton_error err = {0};
  CHECK_OK(kit_acquire(&p.a, &p.ca, NULL, &err), &err);
  proclaim_call first = {&p.a, &p.ca, "first"}, second = {&p.a, &p.ca, "second"};
  proclaim_once(&first);
  CHECK_EQ(S->requests(server, &p.a, proclaim_once, &second), 1);
  baton_leader seen = {0};
  char value[32];
  size_t len = 0;
  CHECK_OK(B->leader_value(p.b.s, p.name, &seen, value, sizeof value, &len,
                           kit_deadline(KIT_CALL_MS), &err),
           &err);
  CHECK_STR(seen.identity, "alice");
  CHECK_EQ(seen.token, p.ca.token);
  CHECK_GT(seen.version, 0u);
  CHECK_STR(value, "second");
  CHECK_EQ(len, 6u);
  kit_waiter w;
  if (wait_blocked(&w, &p.b, &p.cb, &seen, BLOCKED_MS)) {
    int64_t t0 = kit_now_ms();
    proclaim_call third = {&p.a, &p.ca, "third"};
    proclaim_once(&third);
    woken_by(&w, t0);
  }
  /* What it saw is out of date now: back at once. */
  int64_t t0 = kit_now_ms();
  CHECK_OK(kit_wait(&p.b, &p.cb, &seen, KIT_CALL_MS, &err), &err);
  CHECK_LT(kit_ms_since(t0), TEST_SLACK_MS);
  CHECK_OK(kit_release(&p.a, &p.ca, &err), &err);
  CHECK_EQ(B->proclaim(p.a.s, &p.ca, "late", kit_deadline(KIT_CALL_MS), &err), BATON_ENOTHOLDER);
  pair_close(&p);
}

/* ---- a server that stops answering, a session that ends ------------------------ */

/* Every call returns BATON_ETIMEDOUT by its deadline while the server is
 * stopped, with a message that names it, and works again once it runs. */
static void stopped_server_every_call_returns_by_its_deadline(void) {
  kit_session a;
  baton_error err = {0};
  REQUIRE_OK(open_as(&a, "paused", 0, &err), &err);
  const char *name = kit_name("paused");
  baton_candidate c = kit_cand(&a, name), c2 = kit_cand(&a, kit_name("paused-2")),
                  obs = kit_cand(&a, name);
  baton_candidate *held[] = {&c};
  bool gone[1];
  baton_leader seen;
  REQUIRE_OK(kit_acquire(&a, &c, NULL, &err), &err);
  REQUIRE_OK(kit_leader(&a, name, &seen, &err), &err);
  char where[32];
  kit_member_addr(server, 0, where, sizeof where);
  static const char *const calls[] = {"renew", "acquire", "leader", "wait", "release", "open"};
  enum { CALLS = sizeof calls / sizeof calls[0] };
  int rcs[CALLS];
  int64_t took[CALLS];
  char messages[CALLS][sizeof err.message];
  pause_server();
  for (int i = 0; i < CALLS; i++) {
    int64_t t0 = kit_now_ms(), d = kit_deadline(LOST_MS);
    kit_session other;
    err.message[0] = '\0';
    switch (i) {
      case 0: rcs[i] = B->renew(a.s, held, 1, gone, d, &err); break;
      case 1: rcs[i] = B->acquire(a.s, &c2, NULL, d, &err); break;
      case 2: rcs[i] = B->leader(a.s, name, &seen, d, &err); break;
      case 3: rcs[i] = B->wait(a.s, &obs, &seen, d, -1, &err); break;
      case 4: rcs[i] = B->release(a.s, &c, d, &err); break;
      default:
        rcs[i] = kit_open(&other, B, server->uri, NULL, LOST_MS, &err);
        if (rcs[i] == 0) kit_close(&other);
        break;
    }
    took[i] = kit_ms_since(t0);
    snprintf(messages[i], sizeof messages[i], "%s", err.message);
  }
  resume_server();
  for (int i = 0; i < CALLS; i++) {
    printf("  %s on a stopped server: %d after %lld ms: %s\n", calls[i], rcs[i],
           (long long)took[i], messages[i]);
    CHECK_EQ(rcs[i], BATON_ETIMEDOUT);
    CHECK_GE(took[i], LOST_MS - 10);
    CHECK_LT(took[i], LOST_MS + TEST_SLACK_MS);
    CHECK_CONTAINS(messages[i], where);
  }
  int rc;
  KIT_RETRY(rc, KIT_CALL_MS, kit_renew(&a, held, 1, gone, &err));
  CHECK_OK(rc, &err);
  KIT_RETRY(rc, KIT_CALL_MS, kit_release(&a, &c, &err));
  CHECK_OK(rc, &err);
  CHECK_EQ(kit_leader(&a, name, &seen, &err), BATON_ENOLEADER);
  CHECK_OK(kit_acquire(&a, &c2, NULL, &err), &err);
  kit_drop(&a, &c2);
  kit_forget(&a, &c);
  kit_forget(&a, &obs);
  kit_close(&a);
}

/* Closing a session ends it: its keys go at once and the next in line is
 * woken, on a backend whose terms live with the session; with a TTL of
 * their own, they stay until it runs out. */
static void close_ends_the_session(void) {
  pair p;
  kit_waiter w;
  REQUIRE(duel_start(&p, "closed", "closer", "next", &w, 0));
  baton_error err = {0};
  bool waiting = true;
  uint64_t token = p.ca.token;
  kit_forget(&p.a, &p.ca); /* no release */
  int64_t t0 = kit_now_ms();
  kit_close(&p.a);
  if (term_ttl()) {
    kit_peek view = peek(p.name);
    CHECK_EQ(view.keys, 1);
    CHECK_STR(view.identity, "closer");
    CHECK_GT(view.ttl_ms, 0);
    CHECK(!waiting || kit_waiters_done(&w, 1, 1, BLOCKED_MS) == 0);
    if (waiting) kit_waiter_cancel(&w);
    CHECK_EQ(S->remove(server, p.name), 0);
  } else if (waiting) {
    CHECK_EQ(kit_waiters_done(&w, 1, 1, WAKE_MS), 1);
  }
  if (waiting) {
    kit_waiter_join(&w);
    CHECK_EQ(w.rc, term_ttl() ? BATON_ECANCELED : 0);
    if (!term_ttl()) printf("  woken %lld ms after the close\n", (long long)(w.woke_at - t0));
  }
  CHECK_OK(kit_acquire(&p.b, &p.cb, NULL, &err), &err);
  CHECK_GT(p.cb.token, token);
  pair_close(&p);
}

/* ---- threads ------------------------------------------------------------------------ */

enum { ROUNDS = 30, RENEWED = 10 };

/* A thread's session and names (made before it starts: kit_name is not
 * thread-safe), and what went wrong on it. */
typedef struct worker {
  kit_session *k;
  char names[RENEWED][64];
  int failures;
} worker;

static void *caller_thread(void *arg) {
  worker *w = arg;
  const char *name = w->names[0];
  baton_candidate c = kit_cand(w->k, name);
  baton_leader who;
  baton_error err;
  for (int i = 0; i < ROUNDS; i++) {
    uint64_t before = c.token;
    w->failures += kit_acquire(w->k, &c, NULL, &err) != 0 || c.token <= before;
    w->failures += kit_leader(w->k, name, &who, &err) != 0 || who.token != c.token;
    w->failures += kit_release(w->k, &c, &err) != 0;
  }
  kit_forget(w->k, &c);
  return NULL;
}

static void *renew_thread(void *arg) {
  worker *w = arg;
  baton_candidate c[RENEWED];
  baton_candidate *held[RENEWED];
  bool gone[RENEWED];
  baton_error err;
  for (int i = 0; i < RENEWED; i++) {
    c[i] = kit_cand(w->k, w->names[i]);
    held[i] = &c[i];
    w->failures += kit_acquire(w->k, &c[i], NULL, &err) != 0;
  }
  for (int round = 0; round < ROUNDS; round++) {
    w->failures += kit_renew(w->k, held, RENEWED, gone, &err) != 0;
    for (int i = 0; i < RENEWED; i++) w->failures += gone[i];
  }
  for (int i = 0; i < RENEWED; i++) {
    w->failures += kit_release(w->k, &c[i], &err) != 0;
    kit_forget(w->k, &c[i]);
  }
  return NULL;
}

/* One session serves callers on several threads and the renewing thread
 * at once; nothing is lost or mixed up. */
static void threads_share_one_session(void) {
  enum { T = 5 };
  kit_session a;
  baton_error err = {0};
  REQUIRE_OK(open_as(&a, "alice", 0, &err), &err);
  worker w[T];
  pthread_t t[T];
  bool started[T];
  for (int i = 0; i < T; i++) {
    w[i] = (worker){.k = &a};
    for (int n = 0; n < RENEWED; n++)
      snprintf(w[i].names[n], sizeof w[i].names[n], "%s", kit_name("mt"));
    started[i] = pthread_create(&t[i], NULL, i == 0 ? renew_thread : caller_thread, &w[i]) == 0;
    CHECK(started[i]);
  }
  for (int i = 0; i < T; i++) {
    if (!started[i]) continue;
    pthread_join(t[i], NULL);
    CHECK_EQ(w[i].failures, 0);
  }
  kit_close(&a);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: seam redis|etcd|zk|redlock [filter]\n");
    return 2;
  }
  for (const kit_seam *const *s = seams; *s != NULL; s++)
    if (strcmp((*s)->kind, argv[1]) == 0) S = *s;
  if (S == NULL) {
    fprintf(stderr, "seam: the %s backend is not built\n", argv[1]);
    return 2;
  }
  B = S->table;
  if ((server = kit_server(S->kind)) == NULL) return 1;
  printf("seam on %s\n", server->uri);
  static const test_case cases[] = {
      {"open_and_close", open_and_close},
      {"acquire_leads_or_names_the_holder", acquire_leads_or_names_the_holder},
      {"tokens_increase_across_terms", tokens_increase_across_terms},
      {"release_is_idempotent_and_only_deletes_our_own",
       release_is_idempotent_and_only_deletes_our_own},
      {"lost_reply_is_resolved", lost_reply_is_resolved},
      {"wait_returns_on_release_cancel_or_deadline", wait_returns_on_release_cancel_or_deadline},
      {"a_release_wakes_the_next_in_line", a_release_wakes_the_next_in_line},
      {"observer_wakes_on_election_and_release", observer_wakes_on_election_and_release},
      {"proclaim_wakes_observers", proclaim_wakes_observers},
      {"watch_wakes_a_candidate_on_release", watch_wakes_a_candidate_on_release},
      {"watch_wakes_an_observer_on_every_change", watch_wakes_an_observer_on_every_change},
      {"unwatch_and_forget_disarm", unwatch_and_forget_disarm},
      {"one_release_wakes_one_watch", one_release_wakes_one_watch},
      {"renew_of_many_is_one_request_and_reports_gone_keys",
       renew_of_many_is_one_request_and_reports_gone_keys},
      {"renew_keeps_the_term_past_its_ttl", renew_keeps_the_term_past_its_ttl},
      {"stopped_server_every_call_returns_by_its_deadline",
       stopped_server_every_call_returns_by_its_deadline},
      {"close_ends_the_session", close_ends_the_session},
      {"threads_share_one_session", threads_share_one_session},
      {"renew_after_the_server_forgot_the_session", renew_after_the_server_forgot_the_session},
      {NULL, NULL},
  };
  return test_main(argc - 1, argv + 1, cases);
}
