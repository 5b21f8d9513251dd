/* postgres.h — what the files of the postgres:// backend share: the
 * session, a candidate's state, the SQL, and the deadline-bounded libpq
 * calls of conn.c. Internal to backends/postgres/.
 *
 * Layout on the server for a name NAME:
 *   the advisory lock  pg_try_advisory_lock(KEY), session level, where
 *                      KEY = ('x' || left(md5(NAME), 16))::bit(64)::bigint
 *                      (the first 64 bits of NAME's MD5, big-endian, signed)
 *   the token row      baton_token(name, token, identity, value, updated,
 *                      ..., fixed_until), found through the session's
 *                      search_path; a fixed lease is the row alone
 *                      (fixed_until in the future), held by no session
 *   the channel        "baton_" || md5(NAME): NOTIFY on release and on
 *                      election, LISTENed to by the client's one listener
 *                      connection while an election of NAME waits
 */
#ifndef BATON_POSTGRES_H
#define BATON_POSTGRES_H

#include "backend.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define BATON_PG_LABEL_MAX 300

/* A connection and what the backend knows of its state. */
typedef struct baton_pg_conn {
  PGconn *pg;      /* NULL when none */
  bool busy;       /* a request timed out (maybe half sent) with its
                      results still to come: the next request sends its
                      rest and reads them away first */
  bool watch_cancel; /* waits on it also end when cancel_fd is readable */
  int cancel_fd;     /* (BATON_ECANCELED): a waiter's wait's descriptor */
} baton_pg_conn;

typedef struct baton_pg_session {
  baton_session base;         /* first: the core's view */
  char **keys;                /* libpq connection keywords, NULL-ended (owned) */
  char **values;              /* their values (owned; the password wiped on close) */
  size_t nkeys;               /* entries in keys/values */
  const char *password;       /* the password among values (wiped on close), or NULL */
  char label[BATON_PG_LABEL_MAX]; /* "postgres://host:port/db" for messages */
  pthread_mutex_t mu;         /* held for a whole request on `conn`, and
                                 guards gen, dead, reported and every
                                 candidate's lock state */
  baton_pg_conn conn;         /* the session: holds every advisory lock */
  pthread_mutex_t rmu;        /* held for a whole request on `reader` */
  baton_pg_conn reader;       /* leader looks, off the session connection
                                 (not a read-only client's: its session) */
  uint64_t gen;               /* raised with every new session connection */
  bool dead;                  /* the session connection broke: its locks are
                                 gone or going, it cannot be resumed */
  bool reported;              /* renew said ESESSION for the dead one */
  int64_t heard;              /* when the last request that succeeded on the
                                 session was sent: the server ends a dead
                                 session by heard + TTL */
  char started[64];           /* the session's backend_start, as the server
                                 wrote it: with its pid, it names the session
                                 in baton_token and baton_session */
  struct baton_pg_cand *cands; /* every candidate with state, for the
                                  same-name check */
  pthread_mutex_t liomu;      /* held for a whole request on `listener`
                                 (connect, LISTEN, UNLISTEN, a probe) and
                                 while reading it; taken before lmu */
  baton_pg_conn listener;     /* LISTENs for every waiting candidate of
                                 the client: one connection, all channels;
                                 replaced under liomu and lmu */
  int64_t lheard;             /* when the listener last answered (liomu) */
  int64_t lprobe_at;          /* when a probe (SELECT 1) whose reply has not
                                 come was sent on it, 0 none (liomu) */
  pthread_mutex_t lmu;        /* guards the listener's state below and each
                                 candidate's listening state; never held
                                 across a request */
  int lfd;                    /* the listener's socket, -1 when none */
  uint64_t lgen;              /* raised with every new listener connection */
  bool lbroken;               /* the listener broke: waiters look again and
                                 the next wait opens a new one */
  struct baton_pg_cand *listening; /* candidates subscribed on the listener
                                      (walked only when it breaks) */
  struct baton_pg_name **nidx;  /* the names of the session's candidates,
                                   by name: nbuckets chains (lmu) */
  struct baton_pg_name **cidx;  /* the same by channel, once known (lmu) */
  size_t nbuckets;              /* of each index, a power of two, 0: none */
  size_t nnames;                /* entries in nidx (lmu) */
  struct baton_pg_cand *lreader;   /* the one blocked wait that polls the
                                      listener's socket, or NULL; none
                                      while the listener thread runs */
  int larmed;                 /* armed watches (lmu) */
  uint64_t lseq;              /* watches armed so far: their order (lmu) */
  bool lthread_on;            /* the listener thread runs (lmu) */
  bool lstop;                 /* close asked it to end (lmu) */
  pthread_t lthread;          /* reads the listener for the watches: one per
                                 session, started by the first watch */
  int lctl;                   /* eventfd that makes it look again (a new
                                 listener, a request done, close); -1 none */
  unsigned long requests;     /* requests sent on any of the session's
                                 connections (atomic; tests count them) */
} baton_pg_session;

/* The candidates of one name in the session, found by the name (the
 * same-name check of acquire, a subscription) and, once a subscription
 * told it, by the channel (a notification): what a look or a notification
 * costs does not grow with the number of other names that wait. Made by
 * the name's first candidate, freed with its last; under the session's
 * lmu. */
typedef struct baton_pg_name {
  struct baton_pg_name *nnext;   /* in its chain of the name index */
  struct baton_pg_name *cnext;   /* in its chain of the channel index */
  struct baton_pg_cand *members; /* its candidates (mnext) */
  bool indexed;                  /* in the channel index: channel is set */
  char channel[64];              /* "baton_" + md5 of the name, as the server said */
  char name[];                   /* the name, NUL-ended */
} baton_pg_name;

/* A candidate's state (baton_candidate.priv). */
typedef struct baton_pg_cand {
  struct baton_pg_cand *next, *prev; /* in the session's list */
  const char *name;      /* the candidate's name (it outlives the state) */
  bool locked;           /* the session holds (or may hold, after a lost
                            reply) the lock for this candidate */
  bool won;              /* the lock was won as a term, token in `token` */
  uint64_t token;        /* the term's token while won */
  uint64_t gen;          /* session generation the lock was taken in */
  bool acquired;         /* acquire ran once: a candidate, not an observer */
  int64_t recheck_at;    /* when wait looks again without a notification;
                            0 = after a TTL */
  int64_t foreign_poll_ns; /* the next delay between looks at a holder
                              that is not baton (0: the first) */
  /* Under the session's lmu: */
  struct baton_pg_cand *lnext, *lprev; /* in the session's listening list */
  struct baton_pg_name *ent;             /* its name's entry, from the first use */
  struct baton_pg_cand *mnext, *mprev;   /* among the candidates of its name */
  bool listening;        /* its channel is LISTENed on listener `lgen` */
  uint64_t lgen;         /* the listener generation it subscribed on */
  bool woken;            /* a notification on its channel came since it
                            last looked */
  bool waiting;          /* its wait is blocked (a reader candidate) */
  int wake_fd;           /* eventfd written when woken is set, so that a
                            blocked wait returns (-1 until the first wait) */
  char channel[64];      /* "baton_" + md5 of the name, as the server said */
  baton_wake_fn wfn;     /* the armed watch's wake-up, NULL when none */
  void *wctx;            /* its argument */
  uint64_t wseq;         /* when it was armed (s->lseq): first armed, first
                            woken among the candidates of a name */
  bool owes;             /* it took a release's one wake and has not looked
                            nor armed again: if it leaves instead (unwatch,
                            release, forget), the next armed candidate of
                            the name gets the wake */
} baton_pg_cand;

/* ---- conn.c ------------------------------------------------------------ */

/* Connect with the session's parameters; bounded by the earlier of
 * `deadline` (BATON_ETIMEDOUT) and the connect timeout (BATON_ECONNECT),
 * and ended by cancel_fd when readable (BATON_ECANCELED; < 0: none).
 * A refused password is BATON_EAUTH. The connection is non-blocking and
 * its notices are dropped. */
int baton__pg_connect(PGconn **out, const baton_pg_session *s, int64_t deadline, int cancel_fd,
                      baton_error *err);
/* The same with libpq keywords of its own (NULL-ended `keys`, `values`)
 * before the session's, which win where both name one. */
int baton__pg_connect_with(PGconn **out, const baton_pg_session *s, const char *const *keys,
                           const char *const *values, int64_t deadline, int cancel_fd,
                           baton_error *err);

/* One statement (with parameters when nparams > 0, else the simple
 * protocol, which takes several statements) and its last result, by
 * `deadline`. A server error is returned as its code with the server's
 * message (BATON_EAUTH for privileges, BATON_ESESSION when the server says
 * it ended the session, BATON_EREFUSED otherwise); a broken
 * connection is BATON_ECONNECT and sets *broken. On a time-out (or
 * BATON_ECANCELED, when the connection watches a cancel descriptor) the
 * connection is marked busy. `what` names the request in messages. */
int baton__pg_exec(baton_pg_conn *k, baton_pg_session *s, const char *sql, int nparams,
                   const char *const *params, PGresult **out, int64_t deadline, const char *what,
                   bool *broken, baton_error *err);

/* The same for a statement the session prepared (sql.h), by its name. */
int baton__pg_exec_prepared(baton_pg_conn *k, baton_pg_session *s, const char *name, int nparams,
                            const char *const *params, PGresult **out, int64_t deadline,
                            const char *what, bool *broken, baton_error *err);

/* Close a connection (NULL is fine) and forget it. */
void baton__pg_drop(baton_pg_conn *k);

/* BATON_EPROTO for a result of an unexpected shape. */
int baton__pg_bad_reply(const baton_pg_session *s, const char *what, baton_error *err);

#endif /* BATON_POSTGRES_H */
