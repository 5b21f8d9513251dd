/* core.h — the client and election objects, shared by client.c (session,
 * renew thread, events) and election.c (campaign, resign, observe).
 * Internal. */
#ifndef BATON_CORE_H
#define BATON_CORE_H

#include "internal.h"

#include <pthread.h>

/* One queued callback invocation. */
typedef struct baton_event_node {
  struct baton_event_node *next;
  baton_election *election;              /* whose callback runs */
  baton_event event;                     /* pointers below point into it */
  baton_leader leader;                   /* event.leader's storage */
  char message[BATON_ERROR_MESSAGE_MAX]; /* event.message's storage */
} baton_event_node;

struct baton_client {
  baton_config cfg;                       /* resolved options */
  char identity[BATON_IDENTITY_MAX + 1];  /* cfg.identity's storage */
  char *owned[7];                         /* copies cfg's strings point to */
  baton_uri uri;                          /* parsed from the caller's URI */
  const baton_backend *backend;
  baton_session *session;
  pthread_t thread;                       /* renews and runs callbacks */

  pthread_mutex_t mu;      /* guards everything below and election state */
  pthread_cond_t wake;     /* the background thread sleeps here */
  pthread_cond_t changed;  /* waiters for terms, pins and callbacks */
  bool closing;            /* the background thread is to exit */
  bool ending;             /* baton_client_close() is under way */
  int64_t background_sleeps_until; /* INT64_MIN while it is awake */
  baton_lease session_lease; /* queueing backends: the session's own */
  int64_t last_renew_sent;   /* send time of the last successful renewal */
  int64_t next_renew;        /* when to renew next */
  unsigned renew_failures;   /* consecutive failed renewals */
  int last_renew_error;      /* code of the last failed renewal, or 0 */
  baton_election *elections; /* every open election, doubly linked */
  baton_event_node *events, *events_tail; /* callbacks waiting to run */
  baton_election *in_callback; /* whose callback runs now, or NULL */

  /* The renewal's scratch arrays, grown as the number of held terms does. */
  size_t renew_cap;
  baton_election **renew_elections;
  baton_candidate **renew_candidates;
  uint64_t *renew_generations;
  bool *renew_gone;
};

struct baton_election {
  baton_client *client;
  baton_election *prev, *next;       /* in client->elections */
  char name[BATON_NAME_MAX + 1];
  baton_candidate candidate;         /* what the backend sees */
  baton_event_cb on_event;
  void *udata;
  int cancel_fd;                     /* eventfd that wakes a blocked
                                        campaign; -1 unless one blocks */
  pthread_mutex_t op;                /* one backend call on `candidate` at
                                        a time (campaign, resign, close) */

  /* Guarded by client->mu. */
  bool held;                  /* a term is on (until lost or resigned) */
  uint64_t token;             /* the term's fencing token */
  uint64_t generation;        /* raised at every new term */
  baton_lease lease;          /* per-term lease (BATON_CAP_TERM_TTL) */
  baton_lost_reason lost_reason; /* why the last term ended */
  bool needs_release;         /* a key of a lost term may remain */
  int64_t release_retry_at;   /* when the background thread tries again */
  int pins;                   /* background calls using `candidate` */
  int campaigning;            /* campaigns under way (callers waiting) */
  bool cancel_requested;      /* and was asked to stop */
  bool closing;

  /* Observer: its own candidate so its waits never mix with campaigns. */
  bool observing;
  pthread_t observer;
  baton_candidate watch;
  int observe_cancel_fd;             /* -1 unless observing */

  /* Candidate mode. */
  bool running;
  bool stop_requested;
  pthread_t runner;
};

/* ---- client.c, for election.c ------------------------------------------ */

/* The local deadline of e's current term. Needs client->mu. */
int64_t baton__term_deadline(const baton_election *e);

/* Queue an event for e's callback and wake the background thread. Needs
 * client->mu. `leader` and `message` are copied; either may be NULL. */
void baton__event_queue(baton_election *e, baton_event_type type,
                        baton_lost_reason reason, int error,
                        const baton_leader *leader, const char *message);

/* Start a term for e, whose acquire was sent at `sent` and succeeded:
 * BATON_ESESSION (and a renewal at once) if the session's renewals are
 * failing or its local deadline passed. Queues ELECTED. Needs client->mu. */
int baton__term_start(baton_election *e, int64_t sent, baton_error *err);

/* Unlink e from its client and wait until the background thread no
 * longer uses it. Takes client->mu. */
void baton__client_detach(baton_client *c, baton_election *e);

/* End e's term locally: LOST with `reason`. Whoever ends it decides what
 * happens to the key. Needs client->mu. */
void baton__term_lose(baton_election *e, baton_lost_reason reason,
                      const char *message);

/* End e's term if its local deadline has passed. Needs client->mu. */
void baton__term_expire(baton_election *e, int64_t now);

/* Ask the background thread to renew at once (e.g. to open a new session
 * after the backend reported one expired). Needs client->mu. */
void baton__renew_soon(baton_client *c);

/* Wait on client->changed until `deadline` (INT64_MAX: no limit). */
void baton__wait_changed(baton_client *c, int64_t deadline);

/* A deadline `ns` from now, saturating. */
int64_t baton__after(int64_t ns);

/* Sleep up to `ns` or until `fd` is readable (fd < 0: just sleep).
 * Returns true when woken by fd. */
bool baton__sleep_or_fd(int64_t ns, int fd);

#endif /* BATON_CORE_H */
