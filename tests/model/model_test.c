/* model_test.c — the core's term state machine under thousands of seeded
 * random schedules, with no server and no real time: three manual clients
 * (no background thread; baton__client_run() does its work) on the
 * in-memory backend (mem.c) and an injected clock. A schedule mixes
 * campaign, try, resign, close, cancel, start and stop with renewals that
 * succeed, fail or succeed late, lost replies, stalls, sessions replaced
 * while an acquire is in flight, clock jumps (a suspend), and on memttl a
 * watchdog that the time steps touch now and then. After every
 * step it checks:
 *   - no two elections believe they hold a name, and one that believes
 *     holds the key the server calls the leader;
 *   - tokens strictly increase (a term's token is new and above every
 *     token of earlier steps);
 *   - a key whose term ended at its local deadline is never deleted or
 *     replaced by its owner before the server's expiry could have come;
 *   - each term gets exactly one ELECTED and then one LOST, the LOST at the
 *     latest when its election closes;
 *   - is_leader never answers true again for a term it answered false for;
 *   - no callback runs after close.
 * A failing seed is printed; `unit_model --seed N [--trace]` replays it
 * exactly. `unit_model [--seeds N] [--steps N]` sets the run's size. The
 * runs are the cases of test.h's runner (one for each backend flavour). */
#include "core.h" /* the test reads a term's state without driving it */
#include "mem.h"
#include "test.h"

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS BATON_NS_PER_MS /* the injected clock counts ns, as the library's does */
#define TTL_MS 2000
#define TICK_NS (TTL_MS * MS / 10)
#define CLIENTS 3
#define PER_CLIENT 3 /* two elections on "a", one on "b" */
#define SLOTS (CLIENTS * PER_CLIENT)
#define MAX_TOKENS 4096
#define MAX_RECORDS 4096
/* Wake-ups of the clients within one wait of the library: a library that
 * asks for more is spinning (each pass moves the clock forward). */
#define IDLE_MAX_PASSES 100000
#define SEEDS 3000 /* schedules per run, shared by the two flavours */
#define STEPS 80   /* steps per schedule */

static const char *const names[2] = {"a", "b"};

/* What one opened election's callback saw: a record per open, never
 * reused, so a callback after close has an open record to run into. */
typedef struct record {
  int slot;
  bool open;               /* its callback may run */
  uint64_t elected;        /* token of the term between ELECTED and LOST */
  uint64_t resigning;      /* a term the model resigned (or stopped, closed)
                              while it was held: the only one whose LOST may
                              say "resigned" */
} record;

/* One election of the model. */
typedef struct slot {
  int client;
  int name;                /* index into names */
  baton_election *e;       /* NULL while closed */
  record *rec;             /* its current open's */
  uint64_t believed;       /* token is_leader last answered true for */
  uint64_t disbelieved;    /* token is_leader answered false for after */
  bool started;            /* in candidate mode, as far as the model knows */
} slot;

typedef struct lost_term {
  uint64_t token;
  baton_lost_reason reason;
} lost_term;

static struct model {
  uint64_t rng;            /* the schedule's choices and the backend's */
  uint64_t jitter;         /* the library's back-off */
  int64_t now;
  bool queue;              /* memq, else memttl */
  unsigned fault_permille; /* how often a backend call goes wrong */
  uint32_t margin_ms, op_timeout_ms; /* the clients' options (0: default) */
  int64_t watchdog_ms;     /* every election's watchdog (0: none). memttl
                              only: on memq a term the watchdog left keeps
                              riding on the session's renewals, which the
                              removal oracle (mem.c) would count for it */
  bool resumed;            /* a suspend just ended; nothing has run yet */
  bool trace;
  int step;
  char failure[600];       /* the first broken invariant */
  baton_client *clients[CLIENTS];
  bool busy[CLIENTS];      /* its background work runs now (no nesting) */
  int64_t wake[CLIENTS];   /* when its background work is due next */
  slot slots[SLOTS];
  record records[MAX_RECORDS];
  size_t nrecords;
  uint64_t max_before[2];  /* per name: highest token elected in earlier steps */
  uint64_t max_now[2];     /* ... and in this step */
  uint64_t tokens[MAX_TOKENS]; /* every token ever elected */
  size_t ntokens;
  lost_term lost[MAX_TOKENS];
  size_t nlost;
  size_t removals_checked;
} M;

/* ---- randomness and failure --------------------------------------------- */

static uint64_t splitmix(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint64_t pick(uint64_t n) { return splitmix(&M.rng) % n; }

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...) {
  if (M.failure[0] != '\0') return;
  int n = snprintf(M.failure, sizeof M.failure, "step %d, t=%lld ms: ", M.step,
                   (long long)(M.now / MS));
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(M.failure + n, sizeof M.failure - (size_t)n, fmt, ap);
  va_end(ap);
}

static void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void trace(const char *fmt, ...) {
  if (!M.trace) return;
  printf("  [%5d %8lld ms] ", M.step, (long long)(M.now / MS));
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
}

/* ---- the clock and the backend's hooks ---------------------------------- */

static int client_of(const baton_session *s) {
  for (int i = 0; i < CLIENTS; i++)
    if (M.clients[i] != NULL && baton__client_session(M.clients[i]) == s) return i;
  return -1;
}

/* A client's background work, never nested in its own, then (at the top
 * level) one try of candidate mode and the work that queued. */
static void run_client(int i, bool candidates) {
  for (int round = 0; round < (candidates ? 2 : 1); round++) {
    if (M.clients[i] == NULL || M.busy[i]) return;
    M.busy[i] = true;
    M.wake[i] = baton__client_run(M.clients[i], false);
    M.busy[i] = false;
    if (candidates && round == 0) baton__candidates_step(M.clients[i]);
  }
}

static void check_believers(bool ask);

/* Time passes in ticks, and to each client's next wake-up: its background
 * work runs when due, as its thread would. */
static void idle(void *ctx, int64_t until) {
  (void)ctx;
  if (until - M.now > 600LL * 1000 * MS) {
    fail("a wait of %lld s: the library slept past every deadline",
         (long long)((until - M.now) / (1000 * MS)));
    until = M.now + 600LL * 1000 * MS;
  }
  /* Each pass moves the injected clock forward: the wait ends at until. */
  for (int pass = 0; M.now < until; pass++) {
    if (pass == IDLE_MAX_PASSES) {
      fail("the clients woke %d times in one wait: spinning", pass);
      M.now = until;
      break;
    }
    int64_t next = M.now + TICK_NS < until ? M.now + TICK_NS : until;
    for (int c = 0; c < CLIENTS; c++)
      if (M.clients[c] != NULL && !M.busy[c] && M.wake[c] > M.now && M.wake[c] < next)
        next = M.wake[c];
    M.now = next;
    for (int c = 0; c < CLIENTS; c++) run_client(c, false);
    check_believers(false);
  }
}

static void run_all(void) {
  for (int c = 0; c < CLIENTS; c++) run_client(c, true);
}

static int64_t clock_now(void *ctx) {
  (void)ctx;
  return M.now;
}

static bool clock_sleep(void *ctx, int64_t until, int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  if (fd >= 0 && poll(&p, 1, 0) == 1) return true;
  idle(ctx, until);
  return false;
}

static uint64_t clock_random(void *ctx) {
  (void)ctx;
  return splitmix(&M.jitter);
}

static uint64_t backend_random(void *ctx) {
  (void)ctx;
  return splitmix(&M.rng);
}

static mem_fault backend_fault(void *ctx, mem_op op) {
  (void)ctx;
  if (pick(1000) >= M.fault_permille) return MEM_OK;
  static const mem_fault kinds[] = {MEM_FAIL, MEM_LOST_REPLY, MEM_STALL, MEM_LATE, MEM_SWAP};
  mem_fault f = kinds[pick(op == MEM_ACQUIRE ? 5 : 4)];
  trace("backend call %d: fault %d", (int)op, (int)f);
  return f;
}

static void backend_run(void *ctx, const baton_session *s) {
  (void)ctx;
  int c = client_of(s);
  if (c >= 0) run_client(c, false);
}

static const baton_clock model_clock = {clock_now, clock_sleep, clock_random, NULL};
static const mem_hooks model_hooks = {backend_fault, idle, backend_run, backend_random, NULL};

/* ---- events ---------------------------------------------------------------- */

static bool seen_token(uint64_t t) {
  for (size_t i = 0; i < M.ntokens; i++)
    if (M.tokens[i] == t) return true;
  return false;
}

static void on_event(const baton_event *ev, void *udata) {
  record *r = udata;
  int i = r->slot;
  if (!r->open) fail("a callback of slot %d ran after its close", i);
  if (ev->type == BATON_EVENT_ELECTED) {
    trace("slot %d ELECTED %llu", i, (unsigned long long)ev->token);
    int name = M.slots[i].name;
    if (r->elected != 0)
      fail("slot %d: ELECTED %llu while term %llu had no LOST", i,
           (unsigned long long)ev->token, (unsigned long long)r->elected);
    if (seen_token(ev->token) || ev->token <= M.max_before[name])
      fail("slot %d: token %llu is not above every earlier term's (%llu)", i,
           (unsigned long long)ev->token, (unsigned long long)M.max_before[name]);
    if (M.ntokens < MAX_TOKENS) M.tokens[M.ntokens++] = ev->token;
    if (ev->token > M.max_now[name]) M.max_now[name] = ev->token;
    r->elected = ev->token;
  } else if (ev->type == BATON_EVENT_LOST) {
    trace("slot %d LOST %llu reason %d", i, (unsigned long long)ev->token, (int)ev->reason);
    if (r->elected == 0 || ev->token != r->elected)
      fail("slot %d: LOST %llu without its ELECTED (open term %llu)", i,
           (unsigned long long)ev->token, (unsigned long long)r->elected);
    /* A term the model did not end, or ended after the library had said it
     * was over, must not pass for resigned (its key may then go early). */
    if (ev->reason == BATON_LOST_RESIGNED && r->resigning != ev->token)
      fail("slot %d: LOST %llu says resigned; nobody resigned it while it was held", i,
           (unsigned long long)ev->token);
    if (M.nlost < MAX_TOKENS) M.lost[M.nlost++] = (lost_term){ev->token, ev->reason};
    r->elected = 0;
  }
}

/* ---- opening and closing ------------------------------------------------- */

static void open_slot(int i) {
  slot *s = &M.slots[i];
  if (M.nrecords == MAX_RECORDS) abort(); /* a schedule opens far fewer */
  s->rec = &M.records[M.nrecords++];
  *s->rec = (record){.slot = i, .open = true};
  s->started = false;
  s->believed = s->disbelieved = 0;
  baton_error err;
  if (baton_election_open(&s->e, M.clients[s->client], names[s->name], on_event, s->rec, &err) !=
      0)
    fail("election_open: %s", err.message);
  else if (baton_election_watchdog(s->e, M.watchdog_ms, &err) != 0)
    fail("watchdog: %s", err.message);
}

/* The model is about to end slot i's term (resign, stop, close): the LOST
 * that follows may say "resigned" if the term was still alive by the
 * clock (read without ending it: the call must see for itself). */
static void resigning(slot *s) {
  if (s->e == NULL) return;
  pthread_mutex_lock(&s->e->client->mu);
  if (s->e->term.held && M.now < baton__term_deadline(s->e)) s->rec->resigning = s->e->term.token;
  pthread_mutex_unlock(&s->e->client->mu);
}

/* The model stops looking at an election when its close begins. */
static baton_election *closing_slot(slot *s) {
  resigning(s);
  baton_election *e = s->e;
  s->e = NULL;
  return e;
}

static void closed_slot(slot *s) {
  s->rec->open = false;
  if (s->rec->elected != 0)
    fail("slot %d: term %llu got no LOST before close returned", (int)(s - M.slots),
         (unsigned long long)s->rec->elected);
}

/* The options of every client of a schedule: the defaults, or a wide
 * margin, or a request timeout longer than a term's lifetime (so that an
 * acquire can answer after the term it would start is over). */
static baton_options schedule_options(void) {
  baton_options o = {.ttl_ms = TTL_MS};
  o.margin_ms = M.margin_ms;
  o.op_timeout_ms = M.op_timeout_ms;
  return o;
}

static void open_client(int c) {
  baton_options o = schedule_options();
  char identity[16];
  snprintf(identity, sizeof identity, "client-%d", c);
  o.identity = identity;
  baton_error err;
  if (baton__client_open_manual(&M.clients[c], M.queue ? "memq://model" : "memttl://model", &o,
                                &err) != 0)
    fail("client_open: %s", err.message);
  M.wake[c] = INT64_MAX;
  for (int i = c * PER_CLIENT; i < (c + 1) * PER_CLIENT; i++) open_slot(i);
}

static void close_client(int c) {
  trace("client %d closes", c);
  for (int i = c * PER_CLIENT; i < (c + 1) * PER_CLIENT; i++) closing_slot(&M.slots[i]);
  baton_client_close(M.clients[c]);
  M.clients[c] = NULL;
  for (int i = c * PER_CLIENT; i < (c + 1) * PER_CLIENT; i++) closed_slot(&M.slots[i]);
}

/* ---- invariants -------------------------------------------------------- */

static bool lost_at_deadline(uint64_t token) {
  for (size_t i = 0; i < M.nlost; i++)
    if (M.lost[i].token == token)
      return M.lost[i].reason == BATON_LOST_DEADLINE || M.lost[i].reason == BATON_LOST_CONNECTION ||
             M.lost[i].reason == BATON_LOST_WATCHDOG;
  return false;
}

/* What a term's state says now, read without driving it: only the
 * background work (or a call of the application) ends a term. */
static bool holds(slot *s, uint64_t *token) {
  pthread_mutex_lock(&s->e->client->mu);
  bool held = s->e->term.held;
  *token = s->e->term.token;
  pthread_mutex_unlock(&s->e->client->mu);
  return held;
}

/* What the elections believe: at most one per name, holding the key the
 * server calls the leader, and never a term again that it once said was
 * over. `ask`: as an application asks, through is_leader (which ends a
 * term past its deadline); otherwise the term's state as the background
 * work left it, which must have ended it on time by itself. */
static void check_believers(bool ask) {
  for (int n = 0; n < 2; n++) {
    int believers = 0;
    uint64_t server = 0;
    bool has = mem_holder(names[n], TTL_MS * MS, &server);
    for (int i = 0; i < SLOTS; i++) {
      slot *s = &M.slots[i];
      if (s->name != n || s->e == NULL) continue;
      uint64_t token = 0;
      bool live = ask ? baton_election_is_leader(s->e, &token, NULL) : holds(s, &token);
      if (live) {
        believers++;
        if (token == s->disbelieved)
          fail("slot %d: is_leader true again for term %llu after it answered false", i,
               (unsigned long long)token);
        if (!has || server != token)
          fail("slot %d believes in term %llu of '%s'; the server's holder is %llu", i,
               (unsigned long long)token, names[n], (unsigned long long)server);
        if (ask) s->believed = token;
      } else if (ask && s->believed != 0) {
        s->disbelieved = s->believed;
        s->believed = 0;
      }
    }
    if (believers > 1) fail("%d elections believe they hold '%s'", believers, names[n]);
  }
}

/* `resumed`: the host just resumed from a suspend and nothing has run
 * since: terms may still be held past their deadline, and the next step
 * (a close, a resign, a campaign) must end them itself, so nothing looks
 * at them now. */
static void check(bool resumed) {
  if (resumed) return;
  check_believers(false);
  check_believers(true);
  /* Early removals by an owner are fine for resigned terms and for keys
   * no term stood on, never for a term that ended at its deadline. Its LOST
   * may be delivered after the removal, so every one is looked at again. */
  size_t n;
  const mem_removal *r = mem_removals(&n);
  for (size_t i = 0; i < n; i++)
    if (r[i].by_owner && r[i].at < r[i].safe_from && lost_at_deadline(r[i].token))
      fail("the key of term %llu of '%s', lost at its deadline, went %lld ms before the "
           "server's expiry could come",
           (unsigned long long)r[i].token, r[i].name,
           (long long)((r[i].safe_from - r[i].at) / MS));
}

/* ---- the schedule ---------------------------------------------------------- */

static slot *any_open_slot(void) {
  for (int tries = 0; tries < 4 * SLOTS; tries++) {
    slot *s = &M.slots[pick(SLOTS)];
    if (s->e != NULL) return s;
  }
  return NULL;
}

static void expect_leader_after_win(slot *s, uint64_t token, const char *what) {
  uint64_t held = 0;
  if (!baton_election_is_leader(s->e, &held, NULL) || held != token)
    fail("slot %d: %s returned token %llu, is_leader says %llu", (int)(s - M.slots), what,
         (unsigned long long)token, (unsigned long long)held);
}

/* A touch: refused when no term is held, late (the term ends at its
 * deadline all the same) or in time; never for another term. */
static void touch(slot *s) {
  baton_error err;
  int rc = baton_election_touch(s->e, &err);
  if (rc != 0 && rc != BATON_ENOTHOLDER && rc != BATON_ETIMEDOUT)
    fail("slot %d: touch -> %d %s", (int)(s - M.slots), rc, err.message);
  if (rc == BATON_ETIMEDOUT && !baton_election_is_leader(s->e, NULL, NULL))
    fail("slot %d: a late touch ended the term before its deadline", (int)(s - M.slots));
}

/* A proclaim that succeeds was made during the term it checked: that term
 * is still on right after (the core checks before and after the write);
 * one that fails says why, and leaves is_leader as it was. */
static void proclaim(slot *s) {
  uint64_t before = 0, after = 0;
  bool led = baton_election_is_leader(s->e, &before, NULL);
  baton_error err;
  int rc = baton_election_proclaim(s->e, "progress", &err);
  trace("slot %d proclaim -> %d %s", (int)(s - M.slots), rc, rc != 0 ? err.message : "");
  bool leads = baton_election_is_leader(s->e, &after, NULL);
  if (rc == 0 && (!led || !leads || before != after))
    fail("slot %d: proclaim succeeded outside a term (led %d token %llu, leads %d token %llu)",
         (int)(s - M.slots), led, (unsigned long long)before, leads,
         (unsigned long long)after);
  if (rc == BATON_ENOTHOLDER && err.code != BATON_ENOTHOLDER)
    fail("slot %d: proclaim -> ENOTHOLDER with error %d", (int)(s - M.slots), err.code);
  if (!led && rc != BATON_ENOTHOLDER)
    fail("slot %d: proclaim without a term -> %d, not ENOTHOLDER", (int)(s - M.slots), rc);
}

static void step(void) {
  slot *s = any_open_slot();
  uint64_t op = pick(100);
  baton_error err;
  uint64_t token = 0;
  int rc;
  if (s == NULL) return;
  int i = (int)(s - M.slots);
  /* Sometimes an allocation fails during a campaign, a resign or the
   * background work: calls may fail, a term's events may not go missing. */
  bool starve = M.fault_permille > 0 && (op < 42 || op >= 66) && pick(8) == 0;
  if (starve) baton__alloc_fail_after((long)(1 + pick(6)));
  if (op < 16) {
    rc = baton_election_try_campaign(s->e, &token, NULL, &err);
    trace("slot %d try -> %d %s", i, rc, rc != 0 ? err.message : "");
    if (rc == 0) expect_leader_after_win(s, token, "try");
  } else if (op < 30) {
    int64_t timeout = (int64_t)pick(2 * TTL_MS);
    rc = baton_election_campaign(s->e, timeout, &token, &err);
    trace("slot %d campaign(%lld ms) -> %d %s", i, (long long)timeout, rc,
          rc != 0 ? err.message : "");
    if (rc == 0) expect_leader_after_win(s, token, "campaign");
    if (rc == 0 && (err.code != 0 || err.message[0] != '\0'))
      fail("slot %d: campaign returned 0 with error %d '%s'", i, err.code, err.message);
  } else if (op < 42) {
    resigning(s);
    rc = baton_election_resign(s->e, &err);
    trace("slot %d resign -> %d", i, rc);
    /* A resign of a held term ends candidate mode, also when the server
     * could not be told. */
    if (rc != BATON_ENOTHOLDER) s->started = false;
    if (baton_election_is_leader(s->e, NULL, NULL)) fail("slot %d leads after resign", i);
  } else if (op < 47) {
    trace("slot %d closes", i);
    baton_election_close(closing_slot(s));
    closed_slot(s);
    open_slot(i);
  } else if (op < 52) {
    bool held = baton_election_is_leader(s->e, NULL, NULL);
    baton_election_cancel(s->e);
    rc = baton_election_campaign(s->e, TTL_MS, NULL, &err);
    trace("slot %d cancel + campaign -> %d", i, rc);
    if (!held && rc != BATON_ECANCELED)
      fail("slot %d: a campaign after cancel returned %d, not ECANCELED", i, rc);
  } else if (op < 58) {
    rc = baton_election_start(s->e, &err);
    trace("slot %d start -> %d", i, rc);
    if (rc != 0) fail("slot %d: start -> %d %s", i, rc, err.message);
    s->started = true;
  } else if (op < 62) {
    trace("slot %d stop", i);
    resigning(s);
    baton_election_stop(s->e);
    if (s->started && baton_election_is_leader(s->e, NULL, NULL))
      fail("slot %d leads after stop", i);
    s->started = false;
  } else if (op < 64) {
    close_client(s->client);
    open_client(s->client);
  } else if (op < 66) {
    int64_t jump = (int64_t)(1 + pick(4)) * TTL_MS * MS;
    trace("suspend for %lld ms", (long long)(jump / MS));
    /* Nothing runs while the host sleeps, and on resume the application
     * may act (the next step) before the background work does. */
    M.now += jump;
    M.resumed = true;
    if (starve) baton__alloc_fail_after(0);
    return;
  } else if (op < 70) {
    proclaim(s);
  } else {
    int64_t until = M.now + (int64_t)(1 + pick(TTL_MS / 2)) * MS;
    while (M.now < until) { /* at most TTL_MS / 2 ms in half ticks */
      M.now = M.now + TICK_NS / 2 < until ? M.now + TICK_NS / 2 : until;
      /* Holders mostly touch in time; now and then one misses. */
      for (int k = 0; k < SLOTS && M.watchdog_ms != 0; k++)
        if (M.slots[k].e != NULL && pick(8) != 0) touch(&M.slots[k]);
      run_all();
    }
  }
  M.resumed = false;
  run_all();
  if (starve) baton__alloc_fail_after(0);
}

/* One schedule. Returns 0, or 1 with M.failure set. */
static int schedule(uint64_t seed, int steps, bool verbose) {
  memset(&M, 0, sizeof M);
  M.trace = verbose;
  M.rng = seed;
  M.jitter = seed ^ 0x5eedull;
  M.now = 1000 * MS;
  M.queue = pick(2) == 0;
  static const unsigned rates[] = {0, 20, 100, 300};
  M.fault_permille = rates[pick(4)];
  static const uint32_t margins[] = {0, 400}, op_timeouts[] = {0, 2500};
  M.margin_ms = margins[pick(2)];
  M.op_timeout_ms = op_timeouts[pick(2)];
  static const int64_t watchdogs[] = {0, TTL_MS / 4, TTL_MS / 2};
  M.watchdog_ms = M.queue ? 0 : watchdogs[pick(3)];
  baton_options o = schedule_options();
  int64_t lifetime_ms = 0;
  baton_options_lifetime(&o, &lifetime_ms, NULL);
  mem_reset(&model_hooks, lifetime_ms * MS);
  baton__backend_register_test(M.queue ? &mem_backend_queue : &mem_backend_ttl);
  for (int i = 0; i < SLOTS; i++) {
    M.slots[i].client = i / PER_CLIENT;
    M.slots[i].name = i % PER_CLIENT == 2 ? 1 : 0;
  }
  for (int c = 0; c < CLIENTS; c++) open_client(c);
  for (M.step = 1; M.step <= steps && M.failure[0] == '\0'; M.step++) {
    step();
    check(M.resumed);
    for (int n = 0; n < 2; n++)
      if (M.max_now[n] > M.max_before[n]) M.max_before[n] = M.max_now[n];
  }
  for (int c = 0; c < CLIENTS; c++) close_client(c);
  check(false);
  return M.failure[0] != '\0';
}

/* The run's size and what to replay, from the command line. */
static long seeds = SEEDS, steps = STEPS, only = -1;
static bool verbose;

/* Every seed's schedule (or the one replayed); the seed picks the flavour. */
static void seeded_schedules(void) {
  long first = only >= 0 ? only : 1, last = only >= 0 ? only : seeds;
  int failed = 0;
  for (long seed = first; seed <= last && failed < 5; seed++) {
    if (schedule((uint64_t)seed, (int)steps, verbose) != 0) {
      TEST_FAIL_("seed %ld (%s): %s\n  replay: unit_model --seed %ld --steps %ld --trace", seed,
                 M.queue ? "memq" : "memttl", M.failure, seed, steps);
      failed++;
    }
  }
  printf("  %ld schedule(s) of %ld steps\n", last - first + 1, steps);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
      only = atol(argv[++i]);
    else if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc)
      seeds = atol(argv[++i]);
    else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc)
      steps = atol(argv[++i]);
    else if (strcmp(argv[i], "--trace") == 0)
      verbose = true;
    else {
      fprintf(stderr, "usage: unit_model [--seed N [--trace]] [--seeds N] [--steps N]\n");
      return 2;
    }
  }
  static const test_case cases[] = {
      {"seeded_schedules", seeded_schedules},
      {NULL, NULL},
  };
  baton__clock_set(&model_clock);
  int rc = test_main(1, argv, cases);
  baton__clock_set(NULL);
  baton__backend_register_test(NULL);
  return rc;
}
