/* core.h — the client, election and term objects, and what the core's
 * files offer each other. Internal.
 *
 * Layers, each calling only those below it:
 *   client.c    the client's lifecycle and its background thread: renewal
 *               I/O, deadlines, callbacks, deleting lost terms' keys
 *   election.c  the public election and lock calls: campaign I/O, resign,
 *               observe, candidate mode
 *   term.c      the term state machine and the event queue: no I/O, every
 *               function takes `now`, every function needs client->mu
 *   stats.c     what the term state machine counts, and reading it: stats
 *               and the Prometheus text; no I/O
 *   deadline.c  the safety arithmetic: pure functions
 */
#ifndef BATON_CORE_H
#define BATON_CORE_H

#include "internal.h"

#include <pthread.h>

/* One queued callback invocation. A LEADER_CHANGED node carries a
 * baton_leader right after it (event.leader points there), and its value
 * after that (event.value); the nodes
 * reserved for terms do not, which halves what each election keeps. */
typedef struct baton_event_node {
  struct baton_event_node *next;
  baton_election *election;              /* whose callback runs */
  baton_event event;                     /* its pointers point into the node */
  char message[BATON_ERROR_MESSAGE_MAX]; /* event.message's storage */
} baton_event_node;

/* A term and the key it leaves behind (term.c). Guarded by client->mu. */
typedef struct baton_term {
  bool held;                  /* a term is on: until lost or resigned */
  uint64_t token;             /* the current or last term's fencing token */
  uint64_t generation;        /* raised at every new term */
  baton_local_lease lease;    /* BATON_CAP_TERM_TTL: the term's own lease;
                                 otherwise the session's is used */
  baton_lost_reason lost_reason; /* why the last term ended */
  int64_t began;              /* when the current or last term began */
  int64_t touched;            /* the watchdog's last touch (or the term's
                                 start, or the watchdog's setting) */
  bool watchdog_fired;        /* a touch was missed: the term's renewals
                                 stopped; on the session, `lease` holds
                                 the session's lease as it was then */
  int64_t fired_interval_ns;  /* the interval in force when it fired */
  /* A key of ours that may still be on the server with no term on it: a
   * term lost at its local deadline, a resign whose delete failed, an
   * attempt whose outcome is unknown. */
  bool leftover;
  bool leftover_delete;       /* it must be deleted; otherwise it expires
                                 by itself (per-term TTL) */
  bool leftover_late;         /* it is a term's lost at its deadline (its
                                 delete is a late release) */
  int64_t leftover_until;     /* nothing deletes or replaces it before */
  int64_t leftover_retry_at;  /* the background thread's next delete */
  unsigned leftover_failures; /* failed deletes in a row (back-off) */
} baton_term;

/* The background campaign of candidate mode. */
typedef enum baton_runner_state {
  BATON_RUNNER_IDLE = 0, /* no thread */
  BATON_RUNNER_RUNNING,  /* a thread campaigns */
  BATON_RUNNER_ENDED,    /* its thread returned on its own; to be joined */
  BATON_RUNNER_JOINING,  /* someone joins it now */
} baton_runner_state;

/* A session batch: the elections of one client with one timing (TTL,
 * renew interval, margin), and the backend session their terms live on,
 * renewed in one round trip for all of them. The client's own timing is
 * batches[0], opened with the client; another opens at the first campaign
 * of an election that uses it. Batches last until the client closes.
 * Guarded by client->mu, except `cfg` and `client` (fixed at creation). */
typedef struct baton_batch {
  baton_client *client;
  baton_config cfg;            /* the client's, with this batch's timing;
                                  the backend session reads its TTL here */
  baton_session *session;      /* NULL until opened; then fixed until the
                                  client closes */
  baton_local_lease session_lease; /* queueing backends: the session's own */
  int64_t server_ttl_ns;       /* the session's server_ttl_ns, copied under
                                  mu after open and each renewal (the backend
                                  writes it in renew, on the background
                                  thread) */
  size_t nheld;                /* its elections holding a term */
  uint64_t session_generation; /* raised when the backend reports the
                                  session expired */
  int64_t next_renew;          /* when to renew next */
  int64_t last_renew_sent;     /* send time of the last successful renewal */
  unsigned renew_failures;     /* consecutive failed renewals */
  int last_renew_error;        /* code of the last failed renewal, or 0 */
} baton_batch;

/* An election's counters (stats.c): baton_stats's, by the same names. */
typedef struct baton_counts {
  uint64_t campaigns, attempts, contended, retries, terms_won;
  uint64_t terms_lost[BATON_LOST_REASONS];
  uint64_t renewals_ok, renewals_failed, late_releases;
} baton_counts;

/* An election's histograms of its terms, allocated with its first term's
 * reserve: a name that only waits has none, which halves what it costs. */
typedef struct baton_term_stats {
  baton_histogram acquire, hold, headroom;
  int64_t headroom_min_ns;
} baton_term_stats;

/* One name's turn on the client's looking thread (looker.c): candidate
 * mode's or an observer's. */
typedef struct baton_look {
  baton_election *election;
  bool observer;              /* the observer's (its own candidate), else
                                 candidate mode's (e->candidate) */
  /* Guarded by the looker's mu. */
  bool active;                /* served: from look_start to look_end */
  bool due;                   /* in the due list */
  bool armed;                 /* its watch may be armed: not woken since
                                 the step that armed it (a look that comes
                                 by its time unwatches first; one that a
                                 wake brings must not, or the backend would
                                 pass that wake on to the next waiter) */
  struct baton_look *prev_due, *next_due;
  int64_t at;                 /* look again then with no wake; INT64_MAX: not */
  size_t slot;                /* its place in the timer heap; SIZE_MAX: none */
  bool stepping;              /* a thread runs its step now (`stepper`) */
  bool again;                 /* woken during that step: due after it */
  pthread_t stepper;
  /* The looking thread's own. */
  unsigned failures;          /* failed steps in a row (back-off) */
} baton_look;

/* The client's looking threads, started at the first look. */
#define BATON_LOOKERS 3
typedef struct baton_looker {
  pthread_mutex_t mu;         /* after client->mu, never before */
  pthread_cond_t cond;        /* a look came due, a step ended, or stop */
  bool stopping;
  pthread_t threads[BATON_LOOKERS];
  unsigned nthreads;
  baton_look *due_head, *due_tail; /* woken looks, in wake order */
  baton_look **heap;          /* looks with a time, earliest first */
  size_t nheap, heap_cap;
} baton_looker;

/* An observer (baton_election_observe): its own candidate so its waits
 * never mix with campaigns, and what it last reported. Only the thread or
 * step that observes touches the rest. */
typedef struct baton_observer {
  baton_candidate watch;
  baton_look look;           /* with the looker */
  pthread_t thread;          /* without it: a thread that waits */
  int cancel_fd;             /* ... and wakes from its wait by this; -1 */
  baton_leader seen;         /* the leader last reported */
  uint64_t value_hash;       /* its proclaimed value's (FNV-1a) */
  bool reported;             /* something was reported */
} baton_observer;

/* The client's batches: its own timing and BATON_ELECTION_TTLS_MAX more. */
#define BATON_BATCHES (1 + BATON_ELECTION_TTLS_MAX)

struct baton_client {
  baton_config cfg;                       /* resolved options */
  char identity[BATON_IDENTITY_MAX + 1];  /* cfg.identity's storage */
  char *owned[5];                         /* copies cfg's strings point to */
  baton_uri uri;                          /* parsed from the caller's URI */
  const baton_backend *backend;
  baton_batch batches[BATON_BATCHES]; /* [0]: the client's own timing */
  unsigned nbatches;       /* in use; guarded by mu */
  pthread_mutex_t opening; /* one batch session opens at a time */
  bool manual;             /* tests: no background thread; the caller runs
                              baton__client_run() on its own clock */
  pthread_t thread;        /* renews and runs callbacks (not manual) */

  int wake_fd;             /* eventfd: other threads wake the background
                              thread with it while it sleeps */
  int timer_fd;            /* timerfd on CLOCK_BOOTTIME: its wake-up time */
  int64_t timer_armed;     /* the time timer_fd is set for (background
                              thread only) */

  pthread_mutex_t mu;      /* guards everything below and election state */
  pthread_cond_t changed;  /* waiters for terms, pins and callbacks */
  bool closing;            /* the background thread is to exit */
  bool ending;             /* baton_client_close() is under way */
  int64_t background_sleeps_until; /* INT64_MIN while it is awake (and
                                      always for a manual client) */
  baton_election *elections; /* every open election, doubly linked */
  baton_event_node *events, *events_tail; /* callbacks waiting to run */
  baton_election *in_callback; /* whose callback runs now, or NULL */
  unsigned lost_queued;        /* LOST events in `events` */

  /* The background thread walks every election only when something may
   * be due: these are lower bounds, lowered by whatever sets an earlier
   * time (baton__deadline_by, baton__release_by) and exact after a walk. */
  int64_t earliest;     /* no held term ends before this */
  int64_t next_release; /* no leftover key may be deleted before this */
  unsigned orphans;     /* closed elections still listed (orphan set) */

  /* Open elections by name, so that two on one name get distinct slots. */
  baton_election **by_name;
  size_t by_name_cap;        /* buckets, a power of two */
  size_t nelections;

  /* The renewal's scratch arrays, grown as the number of held terms does. */
  size_t renew_cap;
  baton_election **renew_elections;
  baton_candidate **renew_candidates;
  uint64_t *renew_generations;
  bool *renew_gone;

  /* Counted under mu (stats.c); `totals` includes closed elections'. */
  baton_client_stats stats;

  baton_looker looker; /* candidate mode and observe, with watch */
};

struct baton_election {
  baton_client *client;
  baton_batch *batch;                /* whose session its terms live on */
  baton_election *prev, *next;       /* in client->elections */
  baton_election *same_bucket;       /* in client->by_name */
  baton_candidate candidate;         /* what the backend sees */
  baton_event_cb on_event;
  void *udata;
  pthread_mutex_t op;                /* one backend call on `candidate` at
                                        a time (campaign, resign, close) */

  /* Guarded by client->mu. */
  baton_term term;
  int64_t watchdog_ns;        /* touch interval; 0: no watchdog */
  baton_counts stats;         /* what this election counted (stats.c) */
  baton_term_stats *term_stats; /* its terms' histograms; NULL before the
                                 first term's reserve */
  baton_event_node *spare;    /* event storage reserved for terms */
  unsigned nspare;
  unsigned queued;            /* events of this election in the queue */
  int pins;                   /* background calls using `candidate` */
  int campaigning;            /* campaigns under way (callers waiting) */
  bool cancel_requested;      /* and was asked to stop */
  int cancel_fd;              /* eventfd that wakes a blocked campaign;
                                 -1 unless one blocks */
  bool closing;
  bool indexed;               /* in client->by_name, with a slot: from its
                                 first campaign (observing takes none) */
  bool orphan;                /* closed, but its key could not be deleted:
                                 the background thread keeps trying, and
                                 it holds its slot until it is freed (at
                                 the next election_open or client close) */

  /* Observing: its state, allocated while it observes (most elections
   * never do: each name costs its memory). Set and cleared under mu. */
  struct baton_observer *observer;

  /* Candidate mode. */
  baton_runner_state runner;
  bool stop_requested;
  pthread_t runner_thread;           /* without the looker (no watch) */
  baton_look runner_look;
  int64_t runner_since;              /* when its search for a term began
                                        (the looker's); 0: none under way */
  char name[];                       /* at its length: a name is mostly far
                                        shorter than BATON_NAME_MAX */
};

/* ---- term.c: the term state machine ------------------------------------ *
 * Every function needs client->mu and does no I/O. */

/* Whether the backend gives each term its own TTL (else terms live on the
 * session). */
bool baton__term_ttl(const baton_client *c);

/* The local deadline of e's current term; INT64_MIN when none is held. */
int64_t baton__term_deadline(const baton_election *e);

/* Reserve the storage of one term's ELECTED and LOST events, so that they
 * are never lost to a failed allocation. 0 or BATON_ENOMEM. */
int baton__term_reserve(baton_election *e);

/* Start a term for e, whose acquire was sent at `sent` on its batch's
 * session of generation `session_generation`, and queue ELECTED. BATON_ESESSION when
 * the session was replaced since, or its renewals are failing, or it is
 * past its local deadline (then a renewal is asked for at once);
 * BATON_ETIMEDOUT when the term would be over at `now` already. */
int baton__term_begin(baton_election *e, int64_t sent, uint64_t session_generation,
                      int64_t now, baton_error *err);

/* End e's term if its local deadline has passed: LOST (deadline, or
 * connection when the backend was unreachable); its key stays until the
 * server's own expiry could have come. */
void baton__term_expire(baton_election *e, int64_t now);

/* End e's term now with `reason`: RESIGNED leaves a key to delete at once;
 * KEY_GONE and SESSION_EXPIRED leave none. Queues LOST. */
void baton__term_end(baton_election *e, baton_lost_reason reason, const char *message,
                     int64_t now);

/* A renewal sent at `sent` succeeded at `now` for a term of generation
 * `generation`: `gone` ends it (KEY_GONE), otherwise its lease is extended,
 * but only if it was still alive at `now`: a late success never brings a
 * term back. */
void baton__term_renewed(baton_election *e, uint64_t generation, bool gone, int64_t sent,
                         int64_t now);

/* Whether e's held term has missed its watchdog touch by `now`: an
 * interval passed since the last touch. The first time, the term's
 * renewals stop (term.c freezes its lease; client.c leaves a term with its
 * own TTL out of the batch) and it will end at its deadline with
 * BATON_LOST_WATCHDOG. */
bool baton__term_watchdog_fired(baton_election *e, int64_t now);

/* A touch at `now`: 0, or BATON_ETIMEDOUT when the watchdog has fired
 * (the term still ends at its deadline). The term must be held. */
int baton__term_touch(baton_election *e, int64_t now);

/* Set e's watchdog interval (0: off); a held term's next interval starts
 * at `now`. */
void baton__term_watchdog_set(baton_election *e, int64_t interval_ns, int64_t now);

/* Batch b's renewal sent at `sent` succeeded at `now`: its terms already
 * past their deadline end first, then its session's lease is extended. */
void baton__session_renewed(baton_batch *b, int64_t sent, int64_t now);

/* The backend says b's session expired: every term of b ends
 * (SESSION_EXPIRED), with its keys, and acquires begun on it before are
 * void. Other batches' terms go on. */
void baton__session_expired(baton_batch *b, const char *message, int64_t now);

/* Ask the background thread to renew b at once. */
void baton__renew_soon(baton_batch *b, int64_t now);

/* Wake the background thread if it sleeps past `at` (INT64_MIN: now). */
void baton__wake_by(baton_client *c, int64_t at);

/* A term may end at `at`: the background thread's walk must not skip it
 * (the caller wakes the thread as it needs). */
void baton__deadline_by(baton_client *c, int64_t at);

/* A leftover key may be deleted from `at` on by the background thread:
 * its walk must not skip it, and it wakes by then. */
void baton__release_by(baton_client *c, int64_t at);

/* Until when a leftover key of e must stay untouched: 0 when none does
 * (a leftover that expires by itself is cleared once its time is up). */
int64_t baton__leftover_blocks(baton_election *e, int64_t now);

/* Whether a leftover key of e may be deleted at `now`. */
bool baton__leftover_due(const baton_election *e, int64_t now);

/* When the background thread tries to delete e's leftover key next;
 * INT64_MAX when there is none to delete. */
int64_t baton__leftover_retry_at(const baton_election *e);

/* The outcome of deleting e's key (rc from the backend's release): gone,
 * or kept for the background thread to try again with back-off (also a
 * key a campaign could not clean up behind itself). */
void baton__leftover_released(baton_election *e, int rc, int64_t now);

/* The background thread tries no sooner than `until` (someone else holds
 * the candidate and deals with the key). */
void baton__leftover_postpone(baton_election *e, int64_t until);

/* Queue an event for e's callback (if it has one) and wake the background
 * thread. `leader`, its `value` (LEADER_CHANGED only) and `message` are
 * copied; any may be NULL. Events
 * other than a term's ELECTED and LOST may be dropped when memory runs
 * out. */
void baton__event_queue(baton_election *e, baton_event_type type, baton_lost_reason reason,
                        int error, const baton_leader *leader, const char *value,
                        const char *message);

/* Take the next queued event, or NULL. */
baton_event_node *baton__event_take(baton_client *c);

/* Give a delivered (or dropped) event's storage back. */
void baton__event_done(baton_election *e, baton_event_node *n);

/* Run the next queued callback; client->mu is dropped while it runs. */
void baton__event_deliver_one(baton_client *c);

/* Drop e's queued events. */
void baton__events_drop(baton_client *c, baton_election *e);

/* Free e's reserved event storage. */
void baton__events_free(baton_election *e);

/* ---- stats.c: counting ---------------------------------------------------- *
 * Every function needs client->mu. Each adds to the election's stats and
 * to its client's totals: a few additions, no allocation. */

/* Initial values: nothing counted (the minimum headroom is INT64_MAX). */
void baton__stats_init(baton_stats *s);

/* e's histograms, allocated at its first term's reserve: 0 or
 * BATON_ENOMEM. Freed by baton__stats_free. */
int baton__stats_reserve(baton_election *e);
void baton__stats_free(baton_election *e);

/* Count one of the baton_stats counters named `field` for e. */
#define BATON__COUNT(e, field) ((e)->stats.field++, (e)->client->stats.totals.field++)

/* Add one observation of `ns` (negative counts as 0) to a histogram. */
void baton__histogram_add(baton_histogram *h, int64_t ns);

/* A term of e began `ns` after its campaign was called. */
void baton__stats_acquired(baton_election *e, int64_t ns);

/* A term of e ended with `reason`, after `held_ns`. */
void baton__stats_ended(baton_election *e, baton_lost_reason reason, int64_t held_ns);

/* A renewal of e's term succeeded with `headroom_ns` left to its local
 * deadline. */
void baton__stats_renewed(baton_election *e, int64_t headroom_ns);

/* ---- election.c, for client.c ------------------------------------------ */

/* Manual clients (tests): one step of candidate mode for every running
 * election, in place of its thread. Takes client->mu. */
void baton__candidates_step(baton_client *c);

/* Whether the background thread deletes e's leftover key: an open
 * election's, or an orphan's. */
bool baton__election_releasable(const baton_election *e);

/* The looker's step for look k: look (acquire, or read the leader), arm
 * the backend's watch, and say when to look again (baton__look_at). */
void baton__look_step(baton_look *k);

/* ---- looker.c: the client's looking thread -------------------------------- */

/* Initialise (no thread yet): 0 or -1. */
int baton__looker_init(baton_looker *l);
/* Stop and join the thread (every look ended before) and free. */
void baton__looker_destroy(baton_looker *l);
/* k serves e, as an observer or candidate mode; not active. */
void baton__look_init(baton_look *k, baton_election *e, bool observer);
/* Serve k, due at once; starts the thread at the first. 0 or BATON_ENOMEM. */
int baton__look_start(baton_look *k);
/* The backend's wake (baton_wake_fn): k is due, if still served. Takes
 * only the looker's mu. */
void baton__look_wake(void *ctx);
/* Look at k again at `at` (INT64_MAX: only when woken). */
void baton__look_at(baton_look *k, int64_t at);
/* Before a step arms k's watch: it may be armed until a wake comes. */
void baton__look_arming(baton_look *k);
/* At a step's start: whether k's watch may still be armed (it came by its
 * time, not by a wake), which the step then unwatches. */
bool baton__look_armed(baton_look *k);
/* Serve k no more; once it returns, no step of k runs (unless called by
 * the step itself). Call without client->mu. */
void baton__look_end(baton_look *k);

/* ---- client.c, for election.c ------------------------------------------ */
/* Otherwise election.c calls term.c, and under client->mu reads the
 * client's fields and keeps its election list and name index. */

/* The batch of c for the timing of `cfg` (baton__config_election's): the
 * one with equal TTL, renew interval and margin, or a new one, not opened
 * yet. BATON_EINVAL beyond BATON_ELECTION_TTLS_MAX. No I/O; needs c->mu. */
int baton__batch_find(baton_client *c, const baton_config *cfg, baton_batch **out,
                      baton_error *err);

/* Open b's backend session unless it is open: on the caller's thread,
 * once however many callers ask at a time, by the connect and op timeouts
 * and by `limit` (a campaign's deadline). Takes client->mu. */
int baton__batch_open(baton_batch *b, int64_t limit, baton_error *err);

#endif /* BATON_CORE_H */
