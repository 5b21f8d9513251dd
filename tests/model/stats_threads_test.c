/* stats_threads_test.c — stats read from many threads while terms change,
 * on the real clock and real threads, with no server: three clients in
 * candidate mode on one name hand it round while reader threads read
 * stats and Prometheus text all along. Also first campaigns racing to
 * open the session of their TTL. Built for ThreadSanitizer by
 * `scripts/test.sh --tsan`, for ASan by --sanitize; in every build the
 * counters must add up at the end.
 *
 * The backend is a small in-process one ("locked://"), with one lock
 * around everything, so that every race a sanitizer reports is the
 * core's: a key per name with its own TTL, as on Redis. It comes twice:
 * with watch (candidate mode runs on the client's looking thread, woken
 * by its subscriptions) and without (a thread per election blocks in
 * wait). */
#include "backend.h"
#include "internal.h"
#include "kit.h"
#include "test.h"

#include <poll.h>
#include <stdatomic.h>
#include <string.h>

#define CLIENTS 3
#define READERS 4
#define TTL_MS 300
#define RUN_MS 1500        /* how long terms change hands */
#define MAX_ROUNDS 1000    /* the driver's bound, whatever the clock does */
#define MAX_READS 10000000 /* a reader's bound */
#define WAIT_SLICE_NS (5 * BATON_NS_PER_MS) /* a wait looks at cancel_fd this often */

/* ---- the locked backend ------------------------------------------------------ */

static struct {
  pthread_mutex_t mu;
  pthread_cond_t changed;
  char name[BATON_NAME_MAX + 1];     /* the one name the test uses */
  const baton_candidate *owner;      /* NULL: free */
  char identity[BATON_IDENTITY_MAX + 1];
  uint64_t token, revision;
  int64_t expires;
  uint64_t generation;               /* raised at every change */
} srv = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* The looker's armed subscriptions (watch), woken at the next change.
 * Guarded by srv.mu: a wake runs under it, so unwatch, which takes it,
 * returns with none running. */
#define MAX_WATCHES 16
static struct {
  const baton_candidate *c;
  baton_wake_fn wake;
  void *ctx;
} armed[MAX_WATCHES];

/* The state changed: blocked waits and armed watches wake. Needs srv.mu. */
static void changed(void) {
  srv.generation++;
  pthread_cond_broadcast(&srv.changed);
  for (int i = 0; i < MAX_WATCHES; i++)
    if (armed[i].c != NULL) {
      armed[i].c = NULL;
      armed[i].wake(armed[i].ctx);
    }
}

/* Needs srv.mu. An expiry is a change nobody announces: a watch looks
 * again at the holder's expiry by itself (recheck_at). */
static bool live(int64_t now) {
  if (srv.owner != NULL && now >= srv.expires) {
    srv.owner = NULL;
    srv.generation++;
    pthread_cond_broadcast(&srv.changed);
  }
  return srv.owner != NULL;
}

/* Sessions opened and closed, and whether an open takes a while (so that
 * callers racing to open one overlap). */
static atomic_int opens, closes;
static atomic_bool slow_open;

static int l_open(baton_session **out, const baton_uri *uri, const baton_config *cfg,
                  int64_t deadline, baton_error *err) {
  (void)uri;
  (void)deadline;
  if (atomic_load(&slow_open)) kit_sleep_ms(50);
  atomic_fetch_add(&opens, 1);
  baton_session *s = baton__calloc(1, sizeof *s);
  if (s == NULL) return baton__error(err, BATON_ENOMEM, "locked: out of memory");
  s->cfg = cfg;
  *out = s;
  return 0;
}

static void l_close(baton_session *s) {
  atomic_fetch_add(&closes, 1);
  baton__free(s);
}

static void holder_of(baton_leader *out) {
  if (out == NULL) return;
  memset(out, 0, sizeof *out);
  out->token = srv.token;
  snprintf(out->identity, sizeof out->identity, "%s", srv.identity);
}

static int l_acquire(baton_session *s, baton_candidate *c, baton_leader *holder, int64_t deadline,
                     baton_error *err) {
  (void)deadline;
  pthread_mutex_lock(&srv.mu);
  int64_t now = baton__now();
  int rc = 0;
  if (live(now) && srv.owner != c) {
    holder_of(holder);
    rc = baton__error(err, BATON_EHELD, "locked: held");
  } else {
    srv.owner = c;
    srv.token = c->token = ++srv.revision;
    snprintf(srv.identity, sizeof srv.identity, "%s", c->identity);
    srv.expires = now + s->cfg->ttl_ns;
    changed();
  }
  pthread_mutex_unlock(&srv.mu);
  return rc;
}

static int l_wait(baton_session *s, baton_candidate *c, const baton_leader *seen, int64_t deadline,
                  int cancel_fd, baton_error *err) {
  (void)s;
  (void)c;
  (void)seen;
  pthread_mutex_lock(&srv.mu);
  uint64_t from = srv.generation;
  int rc = 0;
  for (;;) {
    struct pollfd p = {.fd = cancel_fd, .events = POLLIN};
    int64_t now = baton__now();
    live(now);
    if (srv.generation != from) break;
    if (cancel_fd >= 0 && poll(&p, 1, 0) == 1) {
      rc = baton__error(err, BATON_ECANCELED, "locked: cancelled");
      break;
    }
    if (now >= deadline) {
      rc = baton__error(err, BATON_ETIMEDOUT, "locked: timed out");
      break;
    }
    int64_t until = now + WAIT_SLICE_NS;
    if (srv.owner != NULL && srv.expires < until) until = srv.expires;
    if (deadline < until) until = deadline;
    baton__cond_wait_until(&srv.changed, &srv.mu, until);
  }
  pthread_mutex_unlock(&srv.mu);
  return rc;
}

static int l_release(baton_session *s, baton_candidate *c, int64_t deadline, baton_error *err) {
  (void)s;
  (void)deadline;
  (void)err;
  pthread_mutex_lock(&srv.mu);
  if (live(baton__now()) && srv.owner == c && srv.token == c->token) {
    srv.owner = NULL;
    changed();
  }
  pthread_mutex_unlock(&srv.mu);
  return 0;
}

static int l_renew(baton_session *s, baton_candidate *const *held, size_t n, bool *gone,
                   int64_t deadline, baton_error *err) {
  (void)deadline;
  (void)err;
  pthread_mutex_lock(&srv.mu);
  int64_t now = baton__now();
  for (size_t i = 0; i < n; i++) {
    gone[i] = !(live(now) && srv.owner == held[i] && srv.token == held[i]->token);
    if (!gone[i]) srv.expires = now + s->cfg->ttl_ns;
  }
  pthread_mutex_unlock(&srv.mu);
  return 0;
}

static int l_leader(baton_session *s, const char *name, baton_leader *out, int64_t deadline,
                    baton_error *err) {
  (void)s;
  (void)name;
  (void)deadline;
  pthread_mutex_lock(&srv.mu);
  int rc = live(baton__now()) ? 0 : baton__error(err, BATON_ENOLEADER, "locked: no leader");
  if (rc == 0) holder_of(out);
  pthread_mutex_unlock(&srv.mu);
  return rc;
}

static void l_unwatch(baton_session *s, baton_candidate *c) {
  (void)s;
  pthread_mutex_lock(&srv.mu);
  for (int i = 0; i < MAX_WATCHES; i++)
    if (armed[i].c == c) armed[i].c = NULL;
  pthread_mutex_unlock(&srv.mu);
}

static int l_watch(baton_session *s, baton_candidate *c, const baton_leader *seen,
                   baton_wake_fn wake, void *ctx, int64_t *recheck_at, int64_t deadline,
                   baton_error *err) {
  (void)s;
  (void)deadline;
  pthread_mutex_lock(&srv.mu);
  int64_t now = baton__now();
  uint64_t token = live(now) ? srv.token : 0;
  *recheck_at = srv.owner != NULL ? srv.expires : INT64_MAX;
  int rc = 0;
  if (token != (seen != NULL ? seen->token : 0)) {
    wake(ctx); /* what it saw is out of date: look again at once */
  } else {
    int i = 0;
    while (i < MAX_WATCHES && armed[i].c != NULL) i++;
    if (i < MAX_WATCHES)
      armed[i] = (__typeof__(armed[0])){c, wake, ctx};
    else
      rc = baton__error(err, BATON_ENOMEM, "locked: too many watches");
  }
  pthread_mutex_unlock(&srv.mu);
  return rc;
}

static void l_forget(baton_session *s, baton_candidate *c) { l_unwatch(s, c); }

static const char *const locked_schemes[] = {"locked", NULL};
#define LOCKED_TABLE                                                                       \
  .schemes = locked_schemes, .caps = BATON_CAP_TERM_TTL, .open = l_open, .close = l_close, \
  .acquire = l_acquire, .wait = l_wait, .release = l_release, .renew = l_renew,           \
  .leader = l_leader, .forget = l_forget
static const baton_backend locked_backend = {LOCKED_TABLE};
static const baton_backend locked_watching_backend = {LOCKED_TABLE, .watch = l_watch,
                                                      .unwatch = l_unwatch};

/* ---- readers ------------------------------------------------------------------- */

static baton_client *clients[CLIENTS];
static baton_election *elections[CLIENTS];
static atomic_bool stop_reading;

typedef struct reader {
  pthread_t thread;
  bool started;
  long reads;
  bool failed;
} reader;

static void *reader_main(void *arg) {
  reader *r = arg;
  static _Thread_local char text[65536];
  for (long i = 0; i < MAX_READS && !atomic_load(&stop_reading); i++) {
    int k = (int)(i % CLIENTS);
    baton_election_stats es;
    baton_client_stats cs;
    size_t len = 0;
    if (baton_election_read_stats(elections[k], &es, NULL) != 0 ||
        baton_client_read_stats(clients[k], &cs, NULL) != 0 ||
        baton_client_metrics(clients[k], text, sizeof text, &len, NULL) != 0 ||
        len >= sizeof text || (es.leader && es.token == 0)) {
      r->failed = true;
      break;
    }
    r->reads++;
  }
  return NULL;
}

/* ---- the case -------------------------------------------------------------------- */

static void readers_race_hand_overs_on(const baton_backend *table) {
  baton__backend_register_test(table);
  baton__cond_init(&srv.changed);
  baton_error err;
  for (int i = 0; i < CLIENTS; i++) {
    char identity[32];
    snprintf(identity, sizeof identity, "threads-%d", i);
    baton_options o = {.ttl_ms = TTL_MS, .identity = identity};
    REQUIRE_OK(baton_client_open(&clients[i], "locked://x", &o, &err), &err);
    REQUIRE_OK(baton_election_open(&elections[i], clients[i], "a", NULL, NULL, &err), &err);
    REQUIRE_OK(baton_election_start(elections[i], &err), &err);
  }
  atomic_store(&stop_reading, false);
  reader readers[READERS];
  memset(readers, 0, sizeof readers);
  for (int i = 0; i < READERS; i++)
    readers[i].started = pthread_create(&readers[i].thread, NULL, reader_main, &readers[i]) == 0;

  /* Hand the name round: whoever holds it resigns, and starts again. */
  int64_t end = kit_now_ms() + RUN_MS;
  int resigned = 0;
  for (int round = 0; round < MAX_ROUNDS && kit_now_ms() < end; round++) {
    kit_sleep_ms(10); /* pacing: terms last a while */
    for (int i = 0; i < CLIENTS; i++) {
      if (!baton_election_is_leader(elections[i], NULL, NULL)) continue;
      if (baton_election_resign(elections[i], &err) == 0) resigned++;
      CHECK_OK(baton_election_start(elections[i], &err), &err);
    }
  }
  for (int i = 0; i < CLIENTS; i++) baton_election_stop(elections[i]);
  atomic_store(&stop_reading, true);
  for (int i = 0; i < READERS; i++) {
    if (readers[i].started) pthread_join(readers[i].thread, NULL);
    CHECK(!readers[i].failed);
    CHECK_GT(readers[i].reads, 0);
  }

  uint64_t won = 0, lost = 0, contended = 0;
  for (int i = 0; i < CLIENTS; i++) {
    baton_election_stats es;
    baton_client_stats cs;
    CHECK_OK(baton_election_read_stats(elections[i], &es, &err), &err);
    CHECK_OK(baton_client_read_stats(clients[i], &cs, &err), &err);
    CHECK(!es.leader);
    uint64_t ended = 0;
    for (int r = 0; r < BATON_LOST_REASONS; r++) ended += es.stats.terms_lost[r];
    CHECK_EQ(ended, es.stats.terms_won); /* stopped: every term ended */
    CHECK_EQ(es.stats.hold.count, ended);
    CHECK_EQ(es.stats.acquire.count, es.stats.terms_won);
    CHECK_EQ(cs.totals.terms_won, es.stats.terms_won); /* one election each */
    CHECK_EQ(cs.totals.contended, es.stats.contended);
    won += es.stats.terms_won;
    lost += ended;
    contended += es.stats.contended;
  }
  printf("    %d resigns, %llu terms, %llu contended attempts, %ld + %ld + %ld + %ld reads\n",
         resigned, (unsigned long long)won, (unsigned long long)contended, readers[0].reads,
         readers[1].reads, readers[2].reads, readers[3].reads);
  CHECK_GE(won, 2);
  CHECK_EQ(won, lost);
  CHECK_GE(won, (uint64_t)resigned);
  CHECK_GT(contended, 0);
  for (int i = 0; i < CLIENTS; i++) {
    baton_election_close(elections[i]);
    baton_client_close(clients[i]);
  }
  baton__backend_register_test(NULL);
}

static void readers_race_hand_overs(void) { readers_race_hand_overs_on(&locked_backend); }

static void readers_race_hand_overs_on_the_looker(void) {
  readers_race_hand_overs_on(&locked_watching_backend);
}

/* Elections of one client with one TTL of their own campaign for the first
 * time at once, from their own threads: the TTL's session opens once, one
 * of them wins, and client close closes every session it opened. */
#define RACERS 4

static void *first_campaign(void *arg) {
  baton_election *e = arg;
  return (void *)(intptr_t)baton_election_try_campaign(e, NULL, NULL, NULL);
}

static void first_campaigns_open_one_session(void) {
  baton__backend_register_test(&locked_backend);
  baton__cond_init(&srv.changed);
  atomic_store(&opens, 0);
  atomic_store(&closes, 0);
  baton_error err;
  baton_client *c = NULL;
  baton_options o = {.ttl_ms = TTL_MS, .identity = "racers"};
  REQUIRE_OK(baton_client_open(&c, "locked://x", &o, &err), &err);
  int opened = atomic_load(&opens);
  CHECK_EQ(opened, 1);
  baton_election_options own = {.ttl_ms = 2 * TTL_MS};
  baton_election *e[RACERS] = {0};
  pthread_t t[RACERS];
  bool started[RACERS] = {false};
  atomic_store(&slow_open, true);
  for (int i = 0; i < RACERS; i++) {
    CHECK_OK(baton_election_open_with(&e[i], c, "a", &own, NULL, NULL, &err), &err);
    started[i] = e[i] != NULL && pthread_create(&t[i], NULL, first_campaign, e[i]) == 0;
  }
  int won = 0, held = 0;
  for (int i = 0; i < RACERS; i++) {
    void *rc = NULL;
    if (started[i]) pthread_join(t[i], &rc);
    won += (intptr_t)rc == 0;
    held += (intptr_t)rc == BATON_EHELD;
  }
  atomic_store(&slow_open, false);
  opened = atomic_load(&opens);
  CHECK_EQ(opened, 2);
  CHECK_EQ(won, 1);
  CHECK_EQ(held, RACERS - 1);
  for (int i = 0; i < RACERS; i++) baton_election_close(e[i]);
  baton_client_close(c);
  int closed = atomic_load(&closes);
  CHECK_EQ(closed, 2);
  baton__backend_register_test(NULL);
}

int main(int argc, char **argv) {
  static const test_case cases[] = {
      {"readers_race_hand_overs", readers_race_hand_overs},
      {"readers_race_hand_overs_on_the_looker", readers_race_hand_overs_on_the_looker},
      {"first_campaigns_open_one_session", first_campaigns_open_one_session},
      {NULL, NULL},
  };
  return test_main(argc, argv, cases);
}
