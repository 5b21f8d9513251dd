/* sentinel.h — what the files of the redis-sentinel:// backend share: the
 * session (one Redis master found through Sentinels), a candidate's state,
 * discovery and the thread that follows fail-overs. Internal to
 * backends/sentinel/.
 *
 * The master is a redis:// session (backends/redis): its scripts, keys,
 * renewals and waits are that backend's, unchanged. Only where the master
 * is differs: the session's `locate` hook answers the address the
 * Sentinels gave last, and a fail-over drops the connections to the old
 * master so that the next request reconnects to the new one. */
#ifndef BATON_SENTINEL_H
#define BATON_SENTINEL_H

#include "../redis/redis.h"

#define BATON_SENTINEL_HOST_MAX 256 /* bytes of a master's host, NUL included */

typedef struct baton_sentinel_session {
  baton_redis_session master; /* first: the core's view, and the redis://
                                 backend's session on the current master */
  char *master_name;          /* owned: the URI's /MASTER */
  size_t n;                   /* Sentinels, 1..BATON_URI_MAX_HOSTS */
  baton_redis_session *sent;  /* n Sentinels, owned (their cmd connection) */
  baton_config sent_cfg;      /* cfg without credentials, unless
                                 ?sentinel_auth=same */
  long replicas;              /* ?replicas=K: WAIT K after an acquire; 0 none */
  pthread_mutex_t addr_mu;    /* guards host, port, generation */
  char host[BATON_SENTINEL_HOST_MAX]; /* the master now */
  int port;
  uint64_t generation;        /* raised at every change of master */
  long long epoch;            /* the newest configuration epoch the
                                 Sentinels gave: never moved back from */
  size_t next;                /* the Sentinel the watcher asks first */
  pthread_t watcher;          /* follows +switch-master (watch.c) */
  bool watching;              /* the watcher was started */
  int wake_fd;                /* eventfd: stop, or look again at once */
  bool stop;                  /* under addr_mu: the watcher ends */
  bool kicked;                /* under addr_mu: a request failed as if the
                                 master moved; the watcher asks at once */
  int news_fd;                /* under addr_mu: the watcher's subscriber's
                                 socket, -1 while it has none */
  bool news_read;             /* under addr_mu: the watcher is reading
                                 messages and asking what they mean */
} baton_sentinel_session;

/* A candidate's state (baton_candidate.priv): the redis:// backend's
 * first, and the master generation its subscriber was made on. */
typedef struct baton_sentinel_cand {
  baton_redis_one r; /* first: the redis:// backend reads it */
  uint64_t generation;
} baton_sentinel_cand;
_Static_assert(offsetof(baton_sentinel_cand, r) == 0, "priv is read as a baton_redis_one");

/* ---- discovery.c ---------------------------------------------------------- */

/* Ask every Sentinel in turn (each within its share of the connect
 * timeout) where the master is, take the answer of the newest
 * configuration epoch (never one older than the session's), and check
 * with ROLE that it is a master; a replica's address (a fail-over under
 * way) is asked again, a bounded number of times. Sets the session's
 * address (a change raises the generation and drops the old master's
 * connections). Returns 0, or BATON_ECONNECT (or BATON_ETIMEDOUT at the
 * deadline, BATON_EAUTH) with every Sentinel's answer in the message. */
int baton__sentinel_discover(baton_sentinel_session *s, int64_t deadline, baton_error *err);

/* Take master host:port of configuration `epoch` as the current one. A
 * change raises the generation, drops the connections to the old master
 * and logs the switch. Returns whether it changed. */
bool baton__sentinel_move(baton_sentinel_session *s, const char *host, int port,
                          long long epoch, const char *why);

/* The current generation. */
uint64_t baton__sentinel_generation(baton_sentinel_session *s);

/* ---- watch.c ------------------------------------------------------------ */

/* Start and stop the thread that follows +switch-master on one Sentinel's
 * pub/sub (another Sentinel when it goes away). */
int baton__sentinel_watch_start(baton_sentinel_session *s, baton_error *err);
void baton__sentinel_watch_stop(baton_sentinel_session *s);
/* A request failed as if the master had moved: the watcher asks the
 * Sentinels now. Any thread. */
void baton__sentinel_kick(baton_sentinel_session *s);
/* Whether a Sentinel's message waits unread by the watcher (a process
 * resumed from a stop runs its requests before the watcher reads what
 * came meanwhile). Any thread. */
bool baton__sentinel_news_pending(baton_sentinel_session *s);

#endif /* BATON_SENTINEL_H */
