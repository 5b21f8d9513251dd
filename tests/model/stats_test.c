/* stats_test.c — the stats the core counts, and the timing of elections
 * with TTLs of their own (session batches), checked against scenarios
 * whose figures are known in advance: manual clients (no background
 * thread) on the in-memory backend (mem.c) and an injected clock, so that
 * every duration is exact. The core's other exact timing rules on the
 * same footing: the watchdog, and fixed leases' local end (lib/lease.c). Also the Prometheus text of those scenarios,
 * linted by `promtool check metrics` (Debian's prometheus package; a
 * missing promtool fails the test). */
#include "core.h" /* the client's resolved options: the renew interval */
#include "kit.h"
#include "mem.h"
#include "test.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define MS BATON_NS_PER_MS
#define TTL_MS 2000
#define CLIENTS 3
#define T0 (1000 * 1000 * MS) /* the clock's start: far from zero */
/* Passes of the clock in one wait: far more than any scenario needs. */
#define IDLE_MAX_PASSES 10000

static struct {
  int64_t now;
  baton_client *clients[CLIENTS];
  bool busy[CLIENTS];
  int64_t wake[CLIENTS];
  bool fail_renew; /* renewals do not get through (ECONNECT) */
  int fail_renews;  /* ... nor do this many more */
  int stall_renews; /* this many more renewals get no answer before their
                       deadline (BATON_ETIMEDOUT then) */
  int lose_renews;  /* this many more renewals (and lease extends) are done
                       on the server and lose their reply */
  int swap_acquires; /* this many more memq acquires see their session
                        expire and be replaced while they travel */
  int64_t act_at;   /* when idle runs `act` once (0: never): what another
                       thread would do while a call waits */
  void (*act)(void);
} S;

/* ---- the clock and the backend's hooks ------------------------------------ */

static void run_client(int i) {
  if (S.clients[i] == NULL || S.busy[i]) return;
  S.busy[i] = true;
  S.wake[i] = baton__client_run(S.clients[i], false);
  S.busy[i] = false;
}

/* Time passes to `until`, stopping at each client's wake-up to run its
 * background work, as its thread would. */
static void idle(void *ctx, int64_t until) {
  (void)ctx;
  for (int c = 0; c < CLIENTS; c++) run_client(c); /* what the last call queued */
  for (int pass = 0; S.now < until && pass < IDLE_MAX_PASSES; pass++) {
    int64_t next = until;
    for (int c = 0; c < CLIENTS; c++)
      if (S.clients[c] != NULL && !S.busy[c] && S.wake[c] > S.now && S.wake[c] < next)
        next = S.wake[c];
    if (S.act_at > S.now && S.act_at < next) next = S.act_at;
    S.now = next;
    if (S.act_at != 0 && S.now >= S.act_at) {
      S.act_at = 0;
      S.act();
    }
    for (int c = 0; c < CLIENTS; c++) run_client(c);
  }
  if (S.now < until) {
    TEST_FAIL_("the clients woke %d times in one wait: spinning", IDLE_MAX_PASSES);
    S.now = until;
  }
}

static int64_t clock_now(void *ctx) {
  (void)ctx;
  return S.now;
}

static bool clock_sleep(void *ctx, int64_t until, int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  if (fd >= 0 && poll(&p, 1, 0) == 1) return true;
  idle(ctx, until);
  return false;
}

/* Back-off jitter: always the same draw, so retries come at known times. */
static uint64_t fixed_random(void *ctx) {
  (void)ctx;
  return 1ull << 40;
}

static mem_fault fault(void *ctx, mem_op op) {
  (void)ctx;
  if (op == MEM_ACQUIRE && S.swap_acquires > 0) {
    S.swap_acquires--;
    return MEM_SWAP;
  }
  if (op != MEM_RENEW) return MEM_OK;
  if (S.stall_renews > 0) {
    S.stall_renews--;
    return MEM_STALL;
  }
  if (S.lose_renews > 0) {
    S.lose_renews--;
    return MEM_LOST_REPLY;
  }
  if (S.fail_renews > 0) {
    S.fail_renews--;
    return MEM_FAIL;
  }
  return S.fail_renew ? MEM_FAIL : MEM_OK;
}

static void backend_run(void *ctx, const baton_session *s) {
  (void)ctx;
  for (int c = 0; c < CLIENTS; c++)
    if (S.clients[c] != NULL && baton__client_has_session(S.clients[c], s)) run_client(c);
}

/* What the log callback heard, when a case gives the clients one. */
static struct {
  bool on;                 /* the next setup's clients log here */
  uint32_t level;          /* their log_level option */
  char lines[64][512];
  int n;
} L;

static void log_line(baton_log_level level, const char *message, void *udata) {
  CHECK(udata == &L);
  if (L.n < 64) snprintf(L.lines[L.n++], sizeof L.lines[0], "%d %s", (int)level, message);
}

/* The line heard that contains `needle`, or NULL. */
static const char *heard(const char *needle) {
  for (int i = 0; i < L.n; i++)
    if (strstr(L.lines[i], needle) != NULL) return L.lines[i];
  return NULL;
}

static const baton_clock test_clock = {clock_now, clock_sleep, fixed_random, NULL};
static const mem_hooks hooks = {fault, idle, backend_run, fixed_random, NULL};

/* ---- set-up ------------------------------------------------------------------ */

/* The local lifetime of a renewal with a TTL of `ttl_ms` (an election's
 * timing defaults as the client's do). */
static int64_t lifetime_of(uint32_t ttl_ms) {
  baton_options o = {.ttl_ms = ttl_ms};
  int64_t ms = 0;
  baton_options_lifetime(&o, &ms, NULL);
  return ms * MS;
}

static int64_t lifetime_ns(void) { return lifetime_of(TTL_MS); }

/* `n` clients on the flavour `queue` (memq) or not (memttl), one
 * election on "a" each, in `e`. */
static void setup(bool queue, int n, baton_election **e) {
  memset(&S, 0, sizeof S);
  S.now = T0;
  baton__clock_set(&test_clock);
  mem_reset(&hooks, lifetime_ns());
  baton__backend_register_test(queue ? &mem_backend_queue : &mem_backend_ttl);
  for (int c = 0; c < n; c++) {
    char identity[32];
    snprintf(identity, sizeof identity, "client-%d", c);
    baton_options o = {.ttl_ms = TTL_MS, .identity = identity};
    if (L.on) {
      o.log = log_line;
      o.log_udata = &L;
      o.log_level = L.level;
    }
    baton_error err;
    if (baton__client_open_manual(&S.clients[c], queue ? "memq://stats" : "memttl://stats", &o,
                                  &err) != 0)
      TEST_FAIL_("client_open: %s", err.message);
    S.wake[c] = INT64_MAX;
    if (S.clients[c] != NULL && baton_election_open(&e[c], S.clients[c], "a", NULL, NULL, &err))
      TEST_FAIL_("election_open: %s", err.message);
  }
}

static void teardown(void) {
  for (int c = 0; c < CLIENTS; c++) {
    if (S.clients[c] == NULL) continue;
    baton_client *client = S.clients[c];
    baton_client_close(client);
    S.clients[c] = NULL;
  }
  baton__backend_register_test(NULL);
  baton__clock_set(NULL);
}

static baton_stats stats_of(baton_election *e) {
  baton_election_stats s;
  memset(&s, 0, sizeof s);
  baton_error err;
  CHECK_OK(baton_election_read_stats(e, &s, &err), &err);
  return s.stats;
}

static unsigned bucket_of(int64_t ns) {
  unsigned i = 0;
  while (ns > baton_histogram_bound_ns(i)) i++;
  return i;
}

/* The client's Prometheus text, NUL-terminated, in `buf`. */
static void metrics(baton_client *c, char *buf, size_t size) {
  size_t len = 0;
  baton_error err;
  CHECK_OK(baton_client_metrics(c, buf, size, &len, &err), &err);
  CHECK_LT(len, size);
}

static int promtool_check(const char *text) { return kit_promtool_check(text, strlen(text)); }

/* ---- cases ------------------------------------------------------------------- */

/* Three candidates try for one name at once: one wins, two are told it is
 * held; after the winner resigns, one of them wins on its next try. */
static void contention_race(void) {
  baton_election *e[CLIENTS] = {0};
  setup(false, CLIENTS, e);
  baton_error err;
  baton_leader holder;
  CHECK_OK(baton_election_try_campaign(e[0], NULL, &holder, &err), &err);
  CHECK_EQ(baton_election_try_campaign(e[1], NULL, &holder, &err), BATON_EHELD);
  CHECK_EQ(baton_election_try_campaign(e[2], NULL, &holder, &err), BATON_EHELD);
  for (int i = 0; i < CLIENTS; i++) {
    baton_stats s = stats_of(e[i]);
    CHECK_EQ(s.campaigns, 1);
    CHECK_EQ(s.attempts, 1);
    CHECK_EQ(s.contended, i == 0 ? 0 : 1);
    CHECK_EQ(s.terms_won, i == 0 ? 1 : 0);
    CHECK_EQ(s.acquire.count, i == 0 ? 1 : 0);
    CHECK_EQ(s.retries, 0);
  }
  /* An uncontended try on an injected clock takes no time: bucket 0. */
  CHECK_EQ(stats_of(e[0]).acquire.buckets[0], 1);
  CHECK_EQ(stats_of(e[0]).acquire.sum_ns, 0);

  CHECK_OK(baton_election_resign(e[0], &err), &err);
  CHECK_OK(baton_election_try_campaign(e[1], NULL, &holder, &err), &err);
  baton_stats s1 = stats_of(e[1]);
  CHECK_EQ(s1.attempts, 2);
  CHECK_EQ(s1.contended, 1);
  CHECK_EQ(s1.terms_won, 1);
  CHECK_EQ(stats_of(e[0]).terms_lost[BATON_LOST_RESIGNED], 1);

  baton_client_stats cs;
  CHECK_OK(baton_client_read_stats(S.clients[1], &cs, &err), &err);
  CHECK_EQ(cs.totals.contended, 1);
  CHECK_EQ(cs.totals.terms_won, 1);
  CHECK_EQ(cs.elections, 1);
  CHECK_EQ(cs.terms_held, 1);

  static char text[32768];
  metrics(S.clients[2], text, sizeof text);
  CHECK_CONTAINS(text, "# TYPE baton_contended_total counter\n");
  CHECK_CONTAINS(text, "baton_contended_total{backend=\"memttl\",name=\"a\"} 1\n");
  CHECK_CONTAINS(text, "baton_leader{backend=\"memttl\",name=\"a\"} 0\n");
  metrics(S.clients[1], text, sizeof text);
  CHECK_CONTAINS(text, "baton_leader{backend=\"memttl\",name=\"a\"} 1\n");
  CHECK_CONTAINS(text,
                 "baton_acquire_seconds_bucket{backend=\"memttl\",name=\"a\",le=\"0.001\"} 1\n");
  CHECK_EQ(promtool_check(text), 0);
  teardown();
}

/* A term held 1.5 s and resigned: one hold of exactly 1.5 s, and the two
 * renewals on the way (one renew interval apart) each with the lifetime
 * less the interval left. */
static void hold_and_headroom(void) {
  baton_election *e[1] = {0};
  setup(false, 1, e);
  baton_error err;
  uint64_t token = 0;
  CHECK_OK(baton_election_try_campaign(e[0], &token, NULL, &err), &err);
  int64_t interval = baton__renew_interval(&S.clients[0]->cfg, 0);
  idle(NULL, T0 + 1500 * MS);
  baton_election_stats now;
  CHECK_OK(baton_election_read_stats(e[0], &now, &err), &err);
  CHECK(now.leader);
  CHECK_EQ(now.token, token);
  CHECK_EQ(now.term_age_ns, 1500 * MS);
  CHECK_EQ(now.remaining_ns, 2 * interval + lifetime_ns() - 1500 * MS);
  CHECK_OK(baton_election_resign(e[0], &err), &err);

  baton_stats s = stats_of(e[0]);
  CHECK_EQ(s.hold.count, 1);
  CHECK_EQ(s.hold.sum_ns, 1500 * MS);
  CHECK_EQ(s.hold.buckets[bucket_of(1500 * MS)], 1);
  CHECK_EQ(s.terms_lost[BATON_LOST_RESIGNED], 1);
  CHECK_EQ(s.renewals_ok, 2);
  CHECK_EQ(s.renewals_failed, 0);
  CHECK_EQ(s.headroom.count, 2);
  CHECK_EQ(s.headroom_min_ns, lifetime_ns() - interval);
  CHECK_EQ(s.headroom.sum_ns, 2 * (lifetime_ns() - interval));
  CHECK_EQ(s.headroom.buckets[bucket_of(lifetime_ns() - interval)], 2);
  CHECK_EQ(s.late_releases, 0);

  baton_client_stats cs;
  CHECK_OK(baton_client_read_stats(S.clients[0], &cs, &err), &err);
  CHECK_EQ(cs.renewal_requests_ok, 2);
  CHECK_EQ(cs.renewal.count, 2);
  CHECK_EQ(cs.renewal.sum_ns, 0); /* the in-memory server answers at once */
  CHECK_EQ(cs.totals.hold.sum_ns, 1500 * MS);
  teardown();
}

/* One client wins "a"; its first renewal is healthy, the second fails
 * and its first retry too, and time runs until the next retry has got
 * through. Returns the two back-offs (the jitter is a fixed draw: the
 * delays are known). */
static int64_t renewal_fails_twice(baton_election **e) {
  setup(false, 1, e);
  baton_error err;
  CHECK_OK(baton_election_try_campaign(e[0], NULL, NULL, &err), &err);
  const baton_config *cfg = &S.clients[0]->cfg;
  int64_t interval = baton__renew_interval(cfg, 0);
  int64_t late = baton__config_backoff(cfg, 0) + baton__config_backoff(cfg, 1);
  idle(NULL, T0 + interval);
  S.fail_renews = 2;
  idle(NULL, T0 + 2 * interval + late);
  CHECK_EQ(S.fail_renews, 0);
  CHECK(baton_election_is_leader(e[0], NULL, NULL));
  return late;
}

/* The retry that gets through after two failures has their back-off less
 * to spare than a healthy renewal; the failures and the retries are
 * counted. */
static void headroom_shrinks(void) {
  baton_election *e[1] = {0};
  int64_t late = renewal_fails_twice(e);
  int64_t interval = baton__renew_interval(&S.clients[0]->cfg, 0);
  baton_error err;

  baton_stats s = stats_of(e[0]);
  baton_client_stats cs;
  CHECK_OK(baton_client_read_stats(S.clients[0], &cs, &err), &err);
  CHECK_EQ(s.renewals_failed, 2);
  CHECK_EQ(cs.renewal_requests_failed, 2);
  CHECK_EQ(cs.renewal_retries, 2);
  CHECK_EQ(s.renewals_ok, 2);
  CHECK_EQ(s.headroom.count, 2);
  CHECK_GT(late, 0);
  CHECK_EQ(s.headroom_min_ns, lifetime_ns() - interval - late);
  CHECK_EQ(s.headroom.sum_ns, 2 * (lifetime_ns() - interval) - late);
  CHECK_EQ(s.terms_lost[BATON_LOST_CONNECTION] + s.terms_lost[BATON_LOST_DEADLINE], 0);

  static char text[32768];
  metrics(S.clients[0], text, sizeof text);
  CHECK_CONTAINS(text, "# TYPE baton_headroom_seconds histogram\n");
  char want[128];
  int64_t min = lifetime_ns() - interval - late;
  snprintf(want, sizeof want,
           "baton_headroom_min_seconds{backend=\"memttl\",name=\"a\"} %lld.%09lld\n",
           (long long)(min / BATON_NS_PER_S), (long long)(min % BATON_NS_PER_S));
  CHECK_CONTAINS(text, want);
  CHECK_CONTAINS(text, "baton_renewals_total{backend=\"memttl\",name=\"a\",result=\"failed\"} 2\n");
  CHECK_EQ(promtool_check(text), 0);
  teardown();
}

/* A term whose renewals never get through ends at its deadline: a hold of
 * exactly its lifetime, lost for the connection. On a queueing backend
 * its key is deleted once the server's expiry could have come: a late
 * release; a key with its own TTL just expires. */
/* e wins a term at T0, and its renewals fail until it ends at its
 * deadline. */
static void win_then_lose_at_deadline(baton_election *e) {
  baton_error err;
  CHECK_OK(baton_election_try_campaign(e, NULL, NULL, &err), &err);
  S.fail_renew = true;
  idle(NULL, T0 + lifetime_ns() + 1);
  CHECK(!baton_election_is_leader(e, NULL, NULL));
  S.fail_renew = false;
}

static void lost_at_deadline(bool queue) {
  baton_election *e[1] = {0};
  setup(queue, 1, e);
  win_then_lose_at_deadline(e[0]);
  idle(NULL, T0 + 2 * TTL_MS * MS);

  baton_stats s = stats_of(e[0]);
  CHECK_EQ(s.hold.count, 1);
  CHECK_EQ(s.hold.sum_ns, lifetime_ns());
  CHECK_EQ(s.terms_lost[BATON_LOST_CONNECTION], 1);
  CHECK_EQ(s.late_releases, queue ? 1 : 0);
  CHECK_EQ(s.headroom.count, 0);
  CHECK_EQ(s.headroom_min_ns, INT64_MAX);

  static char text[32768];
  const char *backend = queue ? "memq" : "memttl";
  char want[128];
  metrics(S.clients[0], text, sizeof text);
  snprintf(want, sizeof want,
           "baton_terms_lost_total{backend=\"%s\",name=\"a\",reason=\"connection\"} 1\n", backend);
  CHECK_CONTAINS(text, want);
  snprintf(want, sizeof want, "baton_late_releases_total{backend=\"%s\",name=\"a\"} %d\n", backend,
           queue ? 1 : 0);
  CHECK_CONTAINS(text, want);
  CHECK(strstr(text, "baton_headroom_min_seconds{") == NULL); /* none seen yet */
  CHECK_EQ(promtool_check(text), 0);
  teardown();
}

/* When the LOST callback of a term ran, on the test's clock. */
static void note_lost(const baton_event *ev, void *udata) {
  if (ev->type == BATON_EVENT_LOST) *(int64_t *)udata = S.now;
}

/* memq: the background thread wakes late (a suspended host, a thread not
 * scheduled), past the deadline of a term and the time of its renewal,
 * and renewals get no answer. The LOST is heard at once: not after that
 * renewal, which no held term bounds any more and which stalls for a
 * whole request time-out. */
static void lost_heard_before_the_next_renewal(void) {
  baton_election *e[1] = {0};
  setup(true, 1, e);
  baton_error err;
  int64_t lost_at = 0;
  baton_election *b = NULL;
  REQUIRE_OK(baton_election_open(&b, S.clients[0], "b", note_lost, &lost_at, &err), &err);
  CHECK_OK(baton_election_try_campaign(b, NULL, NULL, &err), &err);
  S.stall_renews = 1000;
  S.now = T0 + lifetime_ns() + MS; /* no background work ran meanwhile */
  idle(NULL, S.now + 3 * TTL_MS * MS);
  CHECK_EQ(lost_at, T0 + lifetime_ns() + MS);
  CHECK_EQ(stats_of(b).terms_lost[BATON_LOST_DEADLINE], 1); /* timed out, not refused */
  S.stall_renews = 0;
  baton_election_close(b);
  teardown();
}

/* While the client closes (baton_client_close on another thread), a
 * campaign whose lost term's key may go at last begins no term: the
 * delete is left to the session's end then, so the backend would find
 * the old key still ours and hand its token out again. */
static void no_term_while_the_client_closes(void) {
  baton_election *e[1] = {0};
  setup(true, 1, e);
  win_then_lose_at_deadline(e[0]);
  baton_client *c = S.clients[0];
  pthread_mutex_lock(&c->mu);
  c->ending = true; /* what baton_client_close sets first */
  pthread_mutex_unlock(&c->mu);
  S.now = T0 + 2 * TTL_MS * MS; /* the key may go; no background work ran */
  uint64_t again = 0;
  baton_error err;
  CHECK_EQ(baton_election_try_campaign(e[0], &again, NULL, &err), BATON_ECANCELED);
  CHECK_EQ(again, 0);
  CHECK(!baton_election_is_leader(e[0], NULL, NULL));
  teardown();
}

static void lost_at_deadline_ttl(void) { lost_at_deadline(false); }
static void lost_at_deadline_queue(void) { lost_at_deadline(true); }

/* ---- the watchdog ------------------------------------------------------------ */

#define WATCHDOG_MS 500

/* A waiter `w` is refused until the server's `expiry` of the term
 * `token`, the key still naming it; then elected with a greater token. */
static void refused_until(baton_election *w, uint64_t token, int64_t expiry) {
  baton_error err;
  idle(NULL, expiry - 10 * MS);
  baton_leader holder;
  CHECK_EQ(baton_election_try_campaign(w, NULL, &holder, &err), BATON_EHELD);
  CHECK_EQ(holder.token, token);
  idle(NULL, expiry + 10 * MS);
  uint64_t next = 0;
  CHECK_OK(baton_election_try_campaign(w, &next, NULL, &err), &err);
  CHECK_GT(next, token);
}

/* Client 0 holds "a" with a watchdog and "b" without; its holder touches
 * "a" twice, then hangs. The first renewal sent after the interval ran
 * out leaves "a" behind, so "a" ends exactly at the deadline the last
 * renewal before gave it, lost to the watchdog, while "b" renews on. A
 * waiter on client 1 is refused until the server's expiry of that
 * renewal (on memq, the late release then), and its token is greater. */
static void watchdog_stops_renewals(bool queue) {
  baton_election *e[2] = {0};
  setup(queue, 2, e);
  baton_error err;
  baton_election *b = NULL;
  CHECK_OK(baton_election_open(&b, S.clients[0], "b", NULL, NULL, &err), &err);
  uint64_t token = 0;
  CHECK_OK(baton_election_try_campaign(e[0], &token, NULL, &err), &err);
  CHECK_OK(baton_election_try_campaign(b, NULL, NULL, &err), &err);
  CHECK_OK(baton_election_watchdog(e[0], WATCHDOG_MS, &err), &err);
  int64_t interval = baton__renew_interval(&S.clients[0]->cfg, 0);
  REQUIRE(2 * interval > 800 * MS + WATCHDOG_MS * MS); /* the schedule below */
  idle(NULL, T0 + 400 * MS);
  CHECK_OK(baton_election_touch(e[0], &err), &err);
  idle(NULL, T0 + 800 * MS);
  CHECK_OK(baton_election_touch(e[0], &err), &err);
  /* The renewal at 1 interval counted; the one at 2 was sent after 1.3 s. */
  int64_t deadline = T0 + interval + lifetime_ns();
  idle(NULL, T0 + 2 * interval + 1);
  int64_t left = 0;
  CHECK(baton_election_is_leader(e[0], NULL, &left));
  CHECK_EQ(left, (deadline - S.now) / MS);
  CHECK_EQ(baton_election_touch(e[0], &err), BATON_ETIMEDOUT);
  CHECK_CONTAINS(err.message, "missed its watchdog interval");
  idle(NULL, deadline - 1);
  CHECK(baton_election_is_leader(e[0], NULL, NULL));
  idle(NULL, deadline);
  CHECK(!baton_election_is_leader(e[0], NULL, NULL));
  CHECK(baton_election_is_leader(b, NULL, NULL));
  CHECK_EQ(baton_election_touch(e[0], &err), BATON_ENOTHOLDER);

  baton_stats s = stats_of(e[0]);
  CHECK_EQ(s.terms_lost[BATON_LOST_WATCHDOG], 1);
  CHECK_EQ(s.hold.sum_ns, interval + lifetime_ns());
  CHECK_EQ(s.renewals_ok, 1);

  /* The server's expiry of the last renewal: sent + TTL. */
  refused_until(e[1], token, T0 + interval + TTL_MS * MS);
  CHECK_EQ(stats_of(e[0]).late_releases, queue ? 1 : 0);
  CHECK(baton_election_is_leader(b, NULL, NULL));

  static char text[32768];
  char want[128];
  metrics(S.clients[0], text, sizeof text);
  snprintf(want, sizeof want,
           "baton_terms_lost_total{backend=\"%s\",name=\"a\",reason=\"watchdog\"} 1\n",
           queue ? "memq" : "memttl");
  CHECK_CONTAINS(text, want);
  CHECK_EQ(promtool_check(text), 0);
  baton_election_close(b);
  teardown();
}

static void watchdog_stops_renewals_ttl(void) { watchdog_stops_renewals(false); }
static void watchdog_stops_renewals_queue(void) { watchdog_stops_renewals(true); }

/* A renewal must end by every held term's deadline, a watchdog-fired
 * one's too (its LOST comes on time). One that gets no answer is cut
 * short at "a"'s frozen deadline: that is not a failure of "b", which is
 * renewed again at once, with no RENEW_FAILED counted. */
static void watchdog_cut_short_renewal(bool queue) {
  baton_election *e[1] = {0};
  setup(queue, 1, e);
  baton_error err;
  baton_election *b = NULL;
  CHECK_OK(baton_election_open(&b, S.clients[0], "b", NULL, NULL, &err), &err);
  CHECK_OK(baton_election_try_campaign(e[0], NULL, NULL, &err), &err);
  CHECK_OK(baton_election_try_campaign(b, NULL, NULL, &err), &err);
  CHECK_OK(baton_election_watchdog(e[0], WATCHDOG_MS, &err), &err);
  int64_t interval = baton__renew_interval(&S.clients[0]->cfg, 0);
  /* Fired by the first renewal (no touch at all), so "a" keeps what its
   * acquire gave it; the renewal at 2 intervals comes before that. */
  REQUIRE(interval > WATCHDOG_MS * MS && 2 * interval < lifetime_ns());
  int64_t deadline = T0 + lifetime_ns();
  idle(NULL, T0 + interval + 1);
  CHECK_EQ(baton_election_touch(e[0], &err), BATON_ETIMEDOUT);
  S.stall_renews = 1;
  idle(NULL, deadline + 1);
  CHECK(!baton_election_is_leader(e[0], NULL, NULL));
  CHECK(baton_election_is_leader(b, NULL, NULL));
  CHECK_EQ(stats_of(e[0]).terms_lost[BATON_LOST_WATCHDOG], 1);
  CHECK_EQ(stats_of(e[0]).hold.sum_ns, lifetime_ns());
  baton_stats sb = stats_of(b);
  CHECK_EQ(sb.renewals_failed, 0);
  CHECK_EQ(sb.renewals_ok, 2); /* at 1 interval, and again at the cut */
  CHECK_EQ(S.stall_renews, 0);
  baton_election_close(b);
  teardown();
}

/* A holder whose watchdog fired resigns: the term ends now, but its key
 * stays until the server's expiry (the hung worker cannot vouch that it
 * stopped), so a waiter is refused until then; a resign in time deletes
 * the key at once, as ever. */
static void watchdog_fired_resign_keeps_the_key(bool queue) {
  baton_election *e[2] = {0};
  setup(queue, 2, e);
  baton_error err;
  CHECK_OK(baton_election_watchdog(e[0], WATCHDOG_MS, &err), &err);
  uint64_t token = 0;
  CHECK_OK(baton_election_try_campaign(e[0], &token, NULL, &err), &err);
  idle(NULL, T0 + 2 * WATCHDOG_MS * MS);
  CHECK_OK(baton_election_resign(e[0], &err), &err);
  CHECK(!baton_election_is_leader(e[0], NULL, NULL));
  /* No renewal counted: the acquire's send time + TTL. */
  refused_until(e[1], token, T0 + TTL_MS * MS);
  CHECK_EQ(stats_of(e[0]).terms_lost[BATON_LOST_RESIGNED], 1);

  /* A term touched in time: its resign hands over at once. */
  CHECK_OK(baton_election_watchdog(e[1], WATCHDOG_MS, &err), &err);
  CHECK_OK(baton_election_resign(e[1], &err), &err);
  CHECK_OK(baton_election_try_campaign(e[0], NULL, NULL, &err), &err);
  teardown();
}

static void watchdog_fired_resign_ttl(void) { watchdog_fired_resign_keeps_the_key(false); }
static void watchdog_fired_resign_queue(void) { watchdog_fired_resign_keeps_the_key(true); }

static void watchdog_cut_short_renewal_ttl(void) { watchdog_cut_short_renewal(false); }
static void watchdog_cut_short_renewal_queue(void) { watchdog_cut_short_renewal(true); }

/* A holder that touches in time keeps its term across many intervals and
 * TTLs; a watchdog turned off asks for nothing. A late touch fires the
 * watchdog by itself, though no renewal was sent in the missed interval.
 * Bad arguments are refused with a message. */
static void watchdog_touched_and_late(bool queue) {
  baton_election *e[1] = {0};
  setup(queue, 1, e);
  baton_error err;
  CHECK_EQ(baton_election_touch(e[0], &err), BATON_ENOTHOLDER);
  CHECK_CONTAINS(err.message, "not the leader");
  CHECK_EQ(baton_election_watchdog(NULL, 100, &err), BATON_EINVAL);
  CHECK_EQ(baton_election_touch(NULL, &err), BATON_EINVAL);
  CHECK_EQ(baton_election_watchdog(e[0], -1, &err), BATON_EINVAL);
  CHECK_CONTAINS(err.message, "out of range");
  CHECK_EQ(baton_election_watchdog(e[0], BATON_WATCHDOG_MAX_MS + 1LL, &err), BATON_EINVAL);
  CHECK_OK(baton_election_watchdog(e[0], WATCHDOG_MS, &err), &err);

  CHECK_OK(baton_election_try_campaign(e[0], NULL, NULL, &err), &err);
  for (int i = 1; i <= 30; i++) { /* 12 s: 6 TTLs */
    idle(NULL, T0 + i * 400 * MS);
    CHECK_OK(baton_election_touch(e[0], &err), &err);
  }
  CHECK_OK(baton_election_watchdog(e[0], 0, &err), &err);
  idle(NULL, S.now + 3 * TTL_MS * MS);
  CHECK(baton_election_is_leader(e[0], NULL, NULL));
  CHECK_OK(baton_election_resign(e[0], &err), &err);

  /* A new term: 100 ms asked, touched at 50 ms, next at 300 ms: late. */
  int64_t began = S.now;
  CHECK_OK(baton_election_watchdog(e[0], 100, &err), &err);
  CHECK_OK(baton_election_try_campaign(e[0], NULL, NULL, &err), &err);
  idle(NULL, began + 50 * MS);
  CHECK_OK(baton_election_touch(e[0], &err), &err);
  idle(NULL, began + 300 * MS);
  CHECK_EQ(baton_election_touch(e[0], &err), BATON_ETIMEDOUT);
  /* No renewal was sent since the term began: its acquire's is the last. */
  idle(NULL, began + lifetime_ns() + 1);
  CHECK(!baton_election_is_leader(e[0], NULL, NULL));
  baton_stats s = stats_of(e[0]);
  CHECK_EQ(s.terms_lost[BATON_LOST_WATCHDOG], 1);
  CHECK_EQ(s.terms_lost[BATON_LOST_RESIGNED], 1);

  /* A third term, after the key's expiry: its 100 ms run out untouched and
   * nothing noticed yet; turning the watchdog off then does not revive it,
   * and a touch still names the interval that was missed. */
  idle(NULL, began + TTL_MS * MS + 100 * MS);
  CHECK_OK(baton_election_try_campaign(e[0], NULL, NULL, &err), &err);
  began = S.now;
  idle(NULL, began + 300 * MS);
  CHECK_OK(baton_election_watchdog(e[0], 0, &err), &err);
  CHECK_EQ(baton_election_touch(e[0], &err), BATON_ETIMEDOUT);
  CHECK_CONTAINS(err.message, "(100 ms)");
  int64_t left = 0;
  CHECK(baton_election_is_leader(e[0], NULL, &left));
  int64_t deadline = S.now + left * MS; /* within 1 ms below the real one */
  idle(NULL, deadline - 1);
  CHECK(baton_election_is_leader(e[0], NULL, NULL));
  idle(NULL, deadline + MS);
  CHECK(!baton_election_is_leader(e[0], NULL, NULL));
  CHECK_EQ(stats_of(e[0]).terms_lost[BATON_LOST_WATCHDOG], 2);
  teardown();
}

static void watchdog_touched_and_late_ttl(void) { watchdog_touched_and_late(false); }
static void watchdog_touched_and_late_queue(void) { watchdog_touched_and_late(true); }

/* Two elections on one name in one client are told apart by `slot`; a
 * buffer too small gets the length of the whole text; NULLs are refused. */
static void exposition_edges(void) {
  baton_election *e[1] = {0};
  setup(true, 1, e);
  baton_error err;
  baton_election *second = NULL;
  CHECK_OK(baton_election_open(&second, S.clients[0], "a", NULL, NULL, &err), &err);
  CHECK_OK(baton_election_try_campaign(e[0], NULL, NULL, &err), &err);
  CHECK_EQ(baton_election_try_campaign(second, NULL, NULL, &err), BATON_EHELD);

  static char text[65536];
  size_t len = 0;
  CHECK_OK(baton_client_metrics(S.clients[0], text, sizeof text, &len, &err), &err);
  CHECK_CONTAINS(text, "baton_contended_total{backend=\"memq\",name=\"a\",slot=\"1\"} 1\n");
  CHECK_EQ(strlen(text), len);
  CHECK_EQ(promtool_check(text), 0);

  char small[64];
  size_t cut = 0;
  CHECK_OK(baton_client_metrics(S.clients[0], small, sizeof small, &cut, &err), &err);
  CHECK_EQ(cut, len);
  CHECK_EQ(strlen(small), sizeof small - 1);
  CHECK_OK(baton_client_metrics(S.clients[0], NULL, 0, &cut, &err), &err);
  CHECK_EQ(cut, len);
  CHECK_EQ(baton_client_metrics(S.clients[0], NULL, 10, &cut, &err), BATON_EINVAL);
  CHECK_EQ(baton_client_metrics(NULL, text, sizeof text, &cut, &err), BATON_EINVAL);
  CHECK_EQ(baton_election_read_stats(NULL, NULL, &err), BATON_EINVAL);
  CHECK_EQ(baton_client_read_stats(S.clients[0], NULL, &err), BATON_EINVAL);
  CHECK_EQ(baton_histogram_bound_ns(0), MS);
  CHECK_EQ(baton_histogram_bound_ns(BATON_HISTOGRAM_BUCKETS - 1), INT64_MAX);
  baton_election_close(second);
  teardown();
}

/* The log callback hears the failed renewals and the retry that worked,
 * at their levels, and nothing above the level asked for. */
static void log_callback_hears_renewals(void) {
  for (int pass = 0; pass < 2; pass++) {
    memset(&L, 0, sizeof L);
    L.on = true;
    L.level = pass == 0 ? 0 : BATON_LOG_WARN; /* 0: the default, INFO */
    baton_election *e[1] = {0};
    renewal_fails_twice(e);
    baton_error err;
    CHECK_OK(baton_election_resign(e[0], &err), &err);
    CHECK(heard("2 renewal of 1 term(s) failed (1 in a row): ") != NULL);
    CHECK(heard("2 renewal of 1 term(s) failed (2 in a row): ") != NULL);
    if (pass == 0) {
      CHECK(heard("3 renewal succeeded after 2 failed") != NULL);
      CHECK(heard("3 'a': elected, token ") != NULL);
      CHECK(heard("3 'a': term ") != NULL);
    } else {
      for (int i = 0; i < L.n; i++) CHECK_EQ(L.lines[i][0], '2');
    }
    teardown();
  }
  memset(&L, 0, sizeof L);
  baton_options o = {.log_level = BATON_LOG_DEBUG + 1};
  baton_error err;
  int64_t ms = 0;
  CHECK_EQ(baton_options_lifetime(&o, &ms, &err), BATON_EINVAL);
  CHECK_CONTAINS(err.message, "log_level");
}

/* ---- per-election TTL --------------------------------------------------------- */

#define SHORT_TTL_MS 1000
#define LONG_TTL_MS 3000

/* When a callback heard its election's LOST, on the injected clock. */
typedef struct lost_at {
  int64_t at;
  baton_lost_reason reason;
} lost_at;

static void record_lost(const baton_event *ev, void *udata) {
  lost_at *l = udata;
  if (ev->type != BATON_EVENT_LOST) return;
  l->at = S.now;
  l->reason = ev->reason;
}

static baton_election *open_ttl(baton_client *c, const char *name, uint32_t ttl_ms, lost_at *l) {
  baton_election_options o = {.ttl_ms = ttl_ms};
  baton_election *e = NULL;
  baton_error err;
  CHECK_OK(baton_election_open_with(&e, c, name, ttl_ms != 0 ? &o : NULL,
                                    l != NULL ? record_lost : NULL, l, &err),
           &err);
  return e;
}

/* One client holds "s" with a TTL of 1 s, "m" with the client's 2 s and
 * "l" with 3 s, and no renewal gets through: each term lives exactly the
 * lifetime of its own TTL and is lost then, in that order. On memttl a
 * waiter on another client gets each name only at its own server expiry
 * (a memq waiter's session could not be renewed either). */
static void own_deadlines(bool queue) {
  baton_election *e[2] = {0};
  setup(queue, 2, e);
  static const char *const names_[3] = {"s", "m", "l"};
  static const uint32_t ttls[3] = {SHORT_TTL_MS, 0, LONG_TTL_MS};
  lost_at lost[3];
  memset(lost, 0, sizeof lost);
  baton_election *held[3], *waiter[3];
  uint64_t token[3] = {0};
  baton_error err;
  for (int i = 0; i < 3; i++) {
    held[i] = open_ttl(S.clients[0], names_[i], ttls[i], &lost[i]);
    waiter[i] = open_ttl(S.clients[1], names_[i], 0, NULL);
    CHECK_OK(baton_election_try_campaign(held[i], &token[i], NULL, &err), &err);
  }
  S.fail_renew = true;
  for (int i = 0; i < 3; i++) {
    baton_election_stats st;
    CHECK_OK(baton_election_read_stats(held[i], &st, &err), &err);
    CHECK_EQ(st.remaining_ns, lifetime_of(ttls[i] != 0 ? ttls[i] : TTL_MS));
  }
  for (int i = 0; i < 3; i++) {
    int64_t life = lifetime_of(ttls[i] != 0 ? ttls[i] : TTL_MS);
    if (!queue) refused_until(waiter[i], token[i], T0 + (ttls[i] != 0 ? ttls[i] : TTL_MS) * MS);
    idle(NULL, T0 + life + 1);
    CHECK_EQ(lost[i].at, T0 + life);
    CHECK_EQ(lost[i].reason, BATON_LOST_CONNECTION);
    CHECK_EQ(stats_of(held[i]).hold.sum_ns, life);
  }
  CHECK_LT(lost[0].at, lost[1].at);
  CHECK_LT(lost[1].at, lost[2].at);
  teardown();
}

static void own_deadlines_ttl(void) { own_deadlines(false); }
static void own_deadlines_queue(void) { own_deadlines(true); }

/* Elections whose options resolve to one timing share a batch: one
 * renewal round trip covers them. A timing of its own opens its session
 * at the first campaign, not at open; the client's own timing asked for
 * explicitly is the client's batch. */
static void equal_ttls_share(void) {
  baton_election *e[1] = {0};
  setup(false, 1, e);
  baton_client *c = S.clients[0];
  baton_error err;
  baton_election_options by_ttl = {.ttl_ms = SHORT_TTL_MS};
  baton_election_options spelled = {.ttl_ms = SHORT_TTL_MS, .renew_interval_ms = SHORT_TTL_MS / 3,
                                    .margin_ms = SHORT_TTL_MS / 20};
  baton_election_options client_own = {.ttl_ms = TTL_MS};
  baton_election *x = NULL, *y = NULL, *z = NULL;
  CHECK_OK(baton_election_open_with(&x, c, "x", &by_ttl, NULL, NULL, &err), &err);
  CHECK_OK(baton_election_open_with(&y, c, "y", &spelled, NULL, NULL, &err), &err);
  CHECK_OK(baton_lock_open_with((baton_lock **)(void *)&z, c, "z", &client_own, NULL, NULL, &err),
           &err);
  REQUIRE(x != NULL && y != NULL && z != NULL);
  CHECK(x->batch == y->batch);
  CHECK(z->batch == &c->batches[0]);
  CHECK(e[0]->batch == &c->batches[0]);
  CHECK_EQ(c->nbatches, 2);
  CHECK(x->batch->session == NULL); /* opening does no I/O */
  CHECK_OK(baton_election_try_campaign(x, NULL, NULL, &err), &err);
  baton_session *opened = x->batch->session;
  CHECK(opened != NULL && opened != c->batches[0].session);
  CHECK_OK(baton_election_try_campaign(y, NULL, NULL, &err), &err);
  CHECK(x->batch->session == opened);
  CHECK_OK(baton_election_try_campaign(e[0], NULL, NULL, &err), &err);
  /* 1 s: the short batch renews at 1/3, 2/3 and 3/3 of it, once for both
   * of its terms; the client's batch once, at a third of 2 s. */
  idle(NULL, T0 + SHORT_TTL_MS * MS);
  baton_client_stats cs;
  CHECK_OK(baton_client_read_stats(c, &cs, &err), &err);
  CHECK_EQ(cs.renewal_requests_ok, 3 + 1);
  CHECK_EQ(cs.terms_held, 3);
  CHECK_EQ(stats_of(x).renewals_ok, 3);
  CHECK_EQ(stats_of(y).renewals_ok, 3);
  CHECK_EQ(stats_of(e[0]).renewals_ok, 1);
  teardown();
}

/* memq: the session of one TTL expires (its renewals cut off while an
 * acquire on it travels) and is replaced: the campaign wins on the new
 * session, while the term on the client's own session lives on, renewed
 * all along with no failure. */
static void session_expiry_stays_in_its_batch(void) {
  baton_election *e[1] = {0};
  setup(true, 1, e);
  baton_error err;
  CHECK_OK(baton_election_try_campaign(e[0], NULL, NULL, &err), &err);
  baton_election *s = open_ttl(S.clients[0], "s", SHORT_TTL_MS, NULL);
  S.swap_acquires = 1;
  CHECK_OK(baton_election_campaign(s, 10 * SHORT_TTL_MS, NULL, &err), &err);
  CHECK_EQ(S.swap_acquires, 0);
  CHECK_GE(S.now, T0 + SHORT_TTL_MS * MS); /* the short session's TTL ran out */
  baton_client_stats cs;
  CHECK_OK(baton_client_read_stats(S.clients[0], &cs, &err), &err);
  CHECK_EQ(cs.sessions_expired, 1);
  CHECK_EQ(cs.terms_held, 2);
  CHECK(baton_election_is_leader(e[0], NULL, NULL));
  baton_stats held = stats_of(e[0]);
  CHECK_EQ(held.renewals_failed, 0);
  CHECK_EQ(held.terms_won, 1);
  CHECK_EQ(held.terms_lost[BATON_LOST_SESSION_EXPIRED], 0);
  teardown();
}

/* Options are checked as the client's are, and a client takes at most
 * BATON_ELECTION_TTLS_MAX timings besides its own. */
static void election_options_checked(void) {
  baton_election *e[1] = {0};
  setup(false, 1, e);
  baton_client *c = S.clients[0];
  baton_error err;
  static const baton_election_options bad[] = {
      {.reserved = {[5] = 1}},
      {.flags = 1},
      {.ttl_ms = 50},
      {.ttl_ms = 1000, .renew_interval_ms = 1000},
      {.ttl_ms = 1000, .margin_ms = 700},
      {.renew_interval_ms = TTL_MS},
  };
  static const char *const why[] = {"reserved[5]", "flags", "ttl_ms 50",
                                    "renew_interval_ms 1000", "margin_ms 700",
                                    "renew_interval_ms 2000"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    baton_election *x = NULL;
    CHECK_EQ(baton_election_open_with(&x, c, "x", &bad[i], NULL, NULL, &err), BATON_EINVAL);
    CHECK(x == NULL);
    CHECK_CONTAINS(err.message, why[i]);
  }
  CHECK_EQ(c->nbatches, 1);
  baton_election *x[BATON_ELECTION_TTLS_MAX + 1] = {0};
  for (unsigned i = 0; i <= BATON_ELECTION_TTLS_MAX; i++) {
    baton_election_options o = {.ttl_ms = 3000 + 100 * i};
    int rc = baton_election_open_with(&x[i], c, "x", &o, NULL, NULL, &err);
    CHECK_EQ(rc, i < BATON_ELECTION_TTLS_MAX ? 0 : BATON_EINVAL);
  }
  CHECK_CONTAINS(err.message, "BATON_ELECTION_TTLS_MAX");
  /* A timing the client has already is still welcome. */
  baton_election_options again = {.ttl_ms = 3000};
  baton_election *y = NULL;
  CHECK_OK(baton_election_open_with(&y, c, "y", &again, NULL, NULL, &err), &err);
  CHECK(y != NULL && y->batch == x[0]->batch);
  teardown();
}

/* ---- fixed leases (lib/lease.c) ---------------------------------------------- */

/* The local end of a lease of ttl_ms sent at `sent`: the deadline rule with
 * the client's drift and a margin of ttl / 20. */
static int64_t lease_end(int64_t sent, int64_t ttl_ms) {
  int64_t ttl = ttl_ms * MS;
  uint32_t drift = S.clients[0]->cfg.drift_ppm;
  return sent + ttl - (ttl / 1000000 * drift + ttl % 1000000 * drift / 1000000) - ttl / 20;
}

/* held() at `at`: whether, and the ms left it says. */
static bool held_at(baton_lease *l, int64_t at, int64_t *left) {
  idle(NULL, at);
  return baton_lease_held(l, NULL, left);
}

/* Held until the local end, then not; the server keeps the key until its
 * TTL, but an extend after the local end is refused and never revives the
 * lease. The lease is the name's leader. */
static void lease_held_until_its_local_end(void) {
  baton_election *e[2] = {0};
  setup(false, 2, e);
  baton_error err;
  baton_lease *l = NULL;
  uint64_t token = 0, held = 0;
  int64_t left = 0;
  REQUIRE_OK(baton_lease_acquire(&l, S.clients[0], "a", 1000, 0, &token, &err), &err);
  CHECK(baton_lease_held(l, &held, &left));
  CHECK_EQ(held, token);
  int64_t end = lease_end(T0, 1000);
  CHECK_EQ(left, (end - T0) / MS);
  baton_leader who;
  CHECK_OK(baton_election_leader(e[1], &who, &err), &err);
  CHECK_EQ(who.token, token);
  CHECK_STR(who.identity, "client-0");
  CHECK(held_at(l, end - 1, &left));
  CHECK_EQ(left, 0);
  CHECK(!held_at(l, end, &left));
  CHECK_EQ(left, 0);
  /* The server still has it (its TTL runs to T0 + 1 s), yet it is over. */
  uint64_t on_server = 0;
  CHECK(mem_holder("a", 1000 * MS, &on_server));
  CHECK_EQ(on_server, token);
  CHECK_EQ(baton_lease_extend(l, 5000, &err), BATON_ENOTHOLDER);
  CHECK_CONTAINS(err.message, "has ended");
  CHECK(!baton_lease_held(l, NULL, NULL));
  CHECK_EQ(baton_lease_extend(l, 5000, &err), BATON_ENOTHOLDER);
  /* A release still deletes the key it left (the owner says it is done
   * with it), and only once. */
  CHECK_OK(baton_lease_release(l, &err), &err);
  CHECK(!mem_holder("a", 1000 * MS, &on_server));
  CHECK_EQ(baton_lease_release(l, &err), BATON_ENOTHOLDER);
  baton_lease_close(l);
  teardown();
}

/* An extend before the local end moves it (and the server's expiry); a
 * release ends it at once, and a second release is refused. A handle
 * attached by name and token extends and releases it too. */
static void lease_extend_attach_and_release(void) {
  baton_election *e[1] = {0};
  setup(false, 1, e);
  baton_error err;
  baton_lease *l = NULL, *a = NULL, *wrong = NULL;
  uint64_t token = 0, on_server = 0;
  REQUIRE_OK(baton_lease_acquire(&l, S.clients[0], "a", 1000, 0, &token, &err), &err);
  idle(NULL, T0 + 500 * MS);
  CHECK_OK(baton_lease_extend(l, 2000, &err), &err);
  int64_t end = lease_end(T0 + 500 * MS, 2000);
  CHECK(held_at(l, T0 + 1400 * MS, NULL));
  CHECK(mem_holder("a", 1000 * MS, &on_server));
  CHECK(held_at(l, end - 1, NULL));
  /* Attached: not held until an extend says so. */
  CHECK_OK(baton_lease_attach(&a, S.clients[0], "a", token, &err), &err);
  CHECK(!baton_lease_held(a, NULL, NULL));
  CHECK_OK(baton_lease_extend(a, 3000, &err), &err);
  CHECK(baton_lease_held(a, NULL, NULL));
  CHECK(held_at(a, lease_end(end - 1, 3000) - 1, NULL));
  CHECK_OK(baton_lease_attach(&wrong, S.clients[0], "a", token + 1, &err), &err);
  CHECK_EQ(baton_lease_extend(wrong, 1000, &err), BATON_ENOTHOLDER);
  CHECK_EQ(baton_lease_release(wrong, &err), BATON_ENOTHOLDER);
  CHECK_OK(baton_lease_release(a, &err), &err);
  CHECK(!baton_lease_held(a, NULL, NULL));
  CHECK(!mem_holder("a", 1000 * MS, &on_server));
  CHECK_EQ(baton_lease_release(a, &err), BATON_ENOTHOLDER);
  CHECK_EQ(baton_lease_release(l, &err), BATON_ENOTHOLDER); /* gone on the server */
  CHECK(!baton_lease_held(l, NULL, NULL));
  /* An extend that cannot get through leaves the end where it was. */
  baton_lease *m = NULL;
  REQUIRE_OK(baton_lease_acquire(&m, S.clients[0], "a", 1000, 0, &token, &err), &err);
  int64_t sent = S.now;
  S.fail_renews = 1;
  CHECK_EQ(baton_lease_extend(m, 5000, &err), BATON_ECONNECT);
  CHECK(held_at(m, lease_end(sent, 1000) - 1, NULL));
  CHECK(!held_at(m, lease_end(sent, 1000), NULL));
  /* One whose reply is lost may have been applied: asking for less than
   * is left brings the end forward to what it asked, so that the holder
   * never believes past the server's expiry. */
  baton_lease *n = NULL;
  REQUIRE_OK(baton_lease_acquire(&n, S.clients[0], "b", 60000, 0, &token, &err), &err);
  sent = S.now;
  S.lose_renews = 1;
  CHECK_EQ(baton_lease_extend(n, 1000, &err), BATON_ETIMEDOUT);
  int64_t lost_end = lease_end(sent, 1000);
  CHECK(lost_end - sent < 1000 * MS);
  CHECK(!held_at(n, lost_end, NULL));
  idle(NULL, sent + 1000 * MS + 1);
  CHECK(!mem_holder("b", 1000 * MS, &on_server)); /* the server took it: gone at its TTL */
  baton_lease_close(n);
  baton_lease_close(m);
  baton_lease_close(wrong);
  baton_lease_close(a);
  baton_lease_close(l);
  teardown();
}

static baton_lease *to_release;
static void release_it(void) {
  baton_error err;
  CHECK_OK(baton_lease_release(to_release, &err), &err);
}

/* Another's lease: EHELD at once naming it with timeout 0; a timeout that
 * ends first is ETIMEDOUT; a longer one gets the name at the holder's
 * server expiry, or at its release, with a higher token. */
static void lease_acquire_waits_for_the_holder(bool queue) {
  baton_election *e[2] = {0};
  setup(queue, 2, e);
  baton_error err;
  baton_lease *l = NULL, *m = NULL;
  uint64_t t1 = 0, t2 = 0;
  REQUIRE_OK(baton_lease_acquire(&l, S.clients[0], "a", 1000, 0, &t1, &err), &err);
  CHECK_EQ(baton_lease_acquire(&m, S.clients[1], "a", 1000, 0, &t2, &err), BATON_EHELD);
  CHECK_CONTAINS(err.message, "client-0");
  CHECK(m == NULL);
  CHECK_EQ(baton_lease_acquire(&m, S.clients[1], "a", 1000, 400, &t2, &err), BATON_ETIMEDOUT);
  CHECK_GE(S.now, T0 + 400 * MS);
  CHECK_LT(S.now, T0 + 1000 * MS);
  CHECK_CONTAINS(err.message, "client-0");
  /* Nobody renews it: it is the server's expiry that lets the waiter in. */
  REQUIRE_OK(baton_lease_acquire(&m, S.clients[1], "a", 1000, 5000, &t2, &err), &err);
  CHECK_GE(S.now, T0 + 1000 * MS);
  CHECK_LT(S.now, T0 + 1500 * MS);
  CHECK_GT(t2, t1);
  CHECK(!baton_lease_held(l, NULL, NULL));
  /* A release lets the waiter in at once. */
  baton_lease *n = NULL;
  uint64_t t3 = 0;
  int64_t released = S.now + 300 * MS;
  to_release = m;
  S.act = release_it;
  S.act_at = released;
  REQUIRE_OK(baton_lease_acquire(&n, S.clients[0], "a", 1000, 5000, &t3, &err), &err);
  CHECK_GE(S.now, released);
  CHECK_LT(S.now, released + 500 * MS);
  CHECK_GT(t3, t2);
  baton_lease_close(n);
  baton_lease_close(m);
  baton_lease_close(l);
  teardown();
}

static void lease_acquire_waits_ttl(void) { lease_acquire_waits_for_the_holder(false); }
static void lease_acquire_waits_queue(void) { lease_acquire_waits_for_the_holder(true); }

/* A lease holds the name against campaigns, which win after it expires;
 * a held term holds it against leases. */
static void lease_and_terms_share_the_name(bool queue) {
  baton_election *e[2] = {0};
  setup(queue, 2, e);
  baton_error err;
  baton_lease *l = NULL, *m = NULL;
  uint64_t t1 = 0, term = 0;
  baton_leader holder;
  REQUIRE_OK(baton_lease_acquire(&l, S.clients[0], "a", 1000, 0, &t1, &err), &err);
  CHECK_EQ(baton_election_try_campaign(e[1], NULL, &holder, &err), BATON_EHELD);
  CHECK_EQ(holder.token, t1);
  CHECK_OK(baton_election_campaign(e[1], 5000, &term, &err), &err);
  CHECK_GE(S.now, T0 + 1000 * MS);
  CHECK_GT(term, t1);
  CHECK_EQ(baton_lease_acquire(&m, S.clients[0], "a", 1000, 0, NULL, &err), BATON_EHELD);
  CHECK_CONTAINS(err.message, "client-1");
  CHECK(m == NULL);
  CHECK_OK(baton_election_resign(e[1], &err), &err);
  baton_lease_close(l);
  teardown();
}

static void lease_and_terms_ttl(void) { lease_and_terms_share_the_name(false); }
static void lease_and_terms_queue(void) { lease_and_terms_share_the_name(true); }

/* Bad arguments, a read-only client and a backend without fixed leases
 * get clear errors, and no handle. */
static void lease_bad_input(void) {
  baton_election *e[1] = {0};
  setup(false, 1, e);
  baton_client *c = S.clients[0], *ro = NULL, *plain = NULL;
  baton_error err;
  baton_lease *l = NULL;
  CHECK_EQ(baton_lease_acquire(NULL, c, "a", 1000, 0, NULL, &err), BATON_EINVAL);
  CHECK_EQ(baton_lease_acquire(&l, NULL, "a", 1000, 0, NULL, &err), BATON_EINVAL);
  CHECK_EQ(baton_lease_acquire(&l, c, NULL, 1000, 0, NULL, &err), BATON_EINVAL);
  CHECK_EQ(baton_lease_acquire(&l, c, "a/b", 1000, 0, NULL, &err), BATON_EINVAL);
  CHECK_EQ(baton_lease_acquire(&l, c, "a", 0, 0, NULL, &err), BATON_EINVAL);
  CHECK_CONTAINS(err.message, "ttl");
  CHECK_EQ(baton_lease_acquire(&l, c, "a", (int64_t)BATON_LEASE_TTL_MAX_MS + 1, 0, NULL, &err),
           BATON_EINVAL);
  CHECK_EQ(baton_lease_acquire(&l, c, "a", 1000, -5, NULL, &err), BATON_EINVAL);
  CHECK_EQ(baton_lease_attach(&l, c, "a", 0, &err), BATON_EINVAL);
  CHECK(l == NULL);
  CHECK_EQ(baton_lease_extend(NULL, 1000, &err), BATON_EINVAL);
  CHECK_EQ(baton_lease_release(NULL, &err), BATON_EINVAL);
  CHECK(!baton_lease_held(NULL, NULL, NULL));
  baton_lease_close(NULL);
  REQUIRE_OK(baton_lease_attach(&l, c, "a", 7, &err), &err);
  CHECK_EQ(baton_lease_extend(l, 0, &err), BATON_EINVAL);
  baton_lease_close(l);
  l = NULL;
  baton_options o = {.ttl_ms = TTL_MS, .flags = BATON_CLIENT_READ_ONLY};
  CHECK_OK(baton__client_open_manual(&ro, "memttl://ro", &o, &err), &err);
  CHECK_EQ(baton_lease_acquire(&l, ro, "a", 1000, 0, NULL, &err), BATON_EINVAL);
  CHECK_CONTAINS(err.message, "read-only");
  baton_client_close(ro);
  /* The same server through a table without the three ops. */
  static const char *const plain_schemes[] = {"plain", NULL};
  static baton_backend table;
  table = mem_backend_ttl;
  table.schemes = plain_schemes;
  table.lease_acquire = NULL;
  table.lease_extend = NULL;
  table.lease_release = NULL;
  baton__backend_register_test(&table);
  baton_options p = {.ttl_ms = TTL_MS};
  CHECK_OK(baton__client_open_manual(&plain, "plain://x", &p, &err), &err);
  CHECK_EQ(baton_lease_acquire(&l, plain, "a", 1000, 0, NULL, &err), BATON_ENOTSUP);
  CHECK_CONTAINS(err.message, "no fixed leases");
  CHECK_EQ(baton_lease_attach(&l, plain, "a", 7, &err), BATON_ENOTSUP);
  CHECK(l == NULL);
  baton_client_close(plain);
  teardown();
}

int main(int argc, char **argv) {
  static const test_case cases[] = {
      {"contention_race", contention_race},
      {"hold_and_headroom", hold_and_headroom},
      {"headroom_shrinks", headroom_shrinks},
      {"lost_at_deadline_ttl", lost_at_deadline_ttl},
      {"lost_at_deadline_queue", lost_at_deadline_queue},
      {"no_term_while_the_client_closes", no_term_while_the_client_closes},
      {"watchdog_stops_renewals_ttl", watchdog_stops_renewals_ttl},
      {"watchdog_stops_renewals_queue", watchdog_stops_renewals_queue},
      {"watchdog_cut_short_renewal_ttl", watchdog_cut_short_renewal_ttl},
      {"watchdog_fired_resign_ttl", watchdog_fired_resign_ttl},
      {"watchdog_fired_resign_queue", watchdog_fired_resign_queue},
      {"watchdog_cut_short_renewal_queue", watchdog_cut_short_renewal_queue},
      {"watchdog_touched_and_late_ttl", watchdog_touched_and_late_ttl},
      {"watchdog_touched_and_late_queue", watchdog_touched_and_late_queue},
      {"exposition_edges", exposition_edges},
      {"log_callback_hears_renewals", log_callback_hears_renewals},
      {"own_deadlines_ttl", own_deadlines_ttl},
      {"own_deadlines_queue", own_deadlines_queue},
      {"lost_heard_before_the_next_renewal", lost_heard_before_the_next_renewal},
      {"equal_ttls_share", equal_ttls_share},
      {"session_expiry_stays_in_its_batch", session_expiry_stays_in_its_batch},
      {"election_options_checked", election_options_checked},
      {"lease_held_until_its_local_end", lease_held_until_its_local_end},
      {"lease_extend_attach_and_release", lease_extend_attach_and_release},
      {"lease_acquire_waits_ttl", lease_acquire_waits_ttl},
      {"lease_acquire_waits_queue", lease_acquire_waits_queue},
      {"lease_and_terms_ttl", lease_and_terms_ttl},
      {"lease_and_terms_queue", lease_and_terms_queue},
      {"lease_bad_input", lease_bad_input},
      {NULL, NULL},
  };
  return test_main(argc, argv, cases);
}
