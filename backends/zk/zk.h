/* zk.h — what the files of the zk:// backend share: the session and its
 * ZooKeeper handles, candidates, bounded requests and kazoo's node names.
 * Internal to backends/zk/.
 *
 * Threading. The ZooKeeper C client runs two threads per handle: an I/O
 * thread and a completion thread that calls every completion and watcher.
 * Completions and watchers here only copy results and signal, under the
 * session mutex, and never block; signalling includes the core's wake of
 * an armed watch, which only queues work (lib/backend.h). The session
 * watcher also calls the
 * user's log callback (after the mutex), which must not block either. The
 * session mutex is never held across zookeeper_close(), which joins the
 * completion thread. */
#ifndef BATON_ZK_H
#define BATON_ZK_H

#include "backend.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <zookeeper.h>

/* A request that ran past the caller's deadline: the outcome is unknown.
 * Positive, so it never clashes with a ZooKeeper error code. */
#define BATON_ZK_DEADLINE 1
/* Out of memory while copying a reply. */
#define BATON_ZK_NOMEM 2
/* An inner result: the node looked at went away meanwhile (look again). */
#define BATON_ZK_LOST 1

typedef struct baton_zk_session baton_zk_session;
typedef struct baton_zk_call baton_zk_call;
typedef struct baton_zk_sweep baton_zk_sweep;

/* One ZooKeeper handle, i.e. one ZooKeeper session. It is replaced only by
 * renew, after the server expired it; users hold a reference while they
 * use the handle, and the last one closes it. */
typedef struct baton_zk_conn {
  baton_zk_session *s;    /* owner */
  zhandle_t *zh;          /* the C client's handle */
  uint64_t gen;           /* 1 for the session's first handle, 2 for the next... */
  int refs;               /* users, plus one while it is s->conn (s->mu) */
  int state;              /* last ZOO_*_STATE the global watcher saw (s->mu) */
  bool expired;           /* the server expired this session (s->mu) */
  bool was_connected;     /* it has been connected once (s->mu): a later
                             connect is a reconnect, worth a log line */
  baton_zk_call *calls;   /* requests whose completion has not run yet (s->mu) */
  baton_zk_sweep *sweeps; /* forgotten candidates' nodes still to delete (s->mu) */
} baton_zk_conn;

/* What the backend keeps per candidate in c->priv. Every field but the
 * fixed id and guid is guarded by s->mu: renew reads `node` while release
 * may clear it, and watchers look up `efd`. */
typedef struct baton_zk_cand {
  struct baton_zk_cand *next, *prev; /* the session's list of candidates */
  struct baton_zk_cand *hnext;       /* its chain in s->index */
  uint64_t id;          /* watcher context: looked up, so a late watch on a
                           forgotten candidate finds nothing */
  int efd;              /* eventfd that watchers and renew signal; -1 until
                           the first wait */
  char guid[33];        /* 32 hex digits that start our node names */
  uint64_t gen;         /* handle generation of `node` and `pending` */
  char *node;           /* own child name, NULL when none */
  bool pending;         /* a create's outcome is unknown: find it by guid */
  uint64_t czxid;       /* own node's czxid (the token), 0 when unknown */
  uint64_t watched_gen; /* handle generation on which `node` has an exists
                           watch (baton__zk_held_watcher); 0: none yet */
  bool node_gone;       /* that watch saw `node` deleted */
  uint64_t watch_spent; /* times a change other than the deletion spent the
                           watch: a renewal that set one marks it only if
                           this did not move meanwhile */
  size_t watch_bytes;   /* its watched path's share of s->watch_bytes */
  char *pred;           /* predecessor's child name while queued */
  int version;          /* own node's data version as proclaim last wrote
                           it (0: as created) */
  bool proclaimed;      /* own node's identity node was made (proclaim) */
  baton_wake_fn wake;   /* the armed subscription's wake-up (watch), NULL
                           when none is armed: whoever calls it clears it
                           first, so it runs at most once per arming */
  void *wake_ctx;       /* its argument */
  char *lease_pred;     /* a fixed lease queued ahead that a watch saw,
                           NULL when none */
  int lease_version;    /* its data version then: unchanged means its
                           mtime is unchanged too */
  int64_t lease_end;    /* when it has surely ended, from the first look
                           at that version (baton__zk_lease_end) */
} baton_zk_cand;

struct baton_zk_session {
  baton_session base;          /* first, as the core expects */
  pthread_mutex_t mu;          /* guards everything below that changes */
  pthread_cond_t cond;         /* completions and state changes (monotonic) */
  baton_zk_conn *conn;         /* the current handle */
  bool expiry_reported;        /* renew already returned ESESSION for conn */
  uint64_t gens;               /* handles made so far */
  uint64_t next_id;            /* candidate ids handed out */
  baton_zk_cand *cands;        /* every candidate that has priv */
  size_t ncands;               /* how many */
  baton_zk_cand **index;       /* the same by id: index_size chains (hnext),
                                  so that a watcher finds its candidate
                                  without walking 10,000 under the lock;
                                  NULL (out of memory): the list is walked */
  size_t index_size;           /* a power of two, 0 while index is NULL */
  char *hosts;                 /* "host:port,..." for zookeeper_init */
  char *chroot;                /* "" or "/a/b": prefix of every path */
  char *auth;                  /* "user:password" for digest auth, or NULL */
  struct ACL_vector *acl;      /* creator-only with auth, open without */
  int timeout_ms;              /* session timeout asked of the server */
  size_t watch_bytes;          /* bytes of the held nodes' watched paths: the
                                  C client sends them all in one packet when
                                  it reconnects, which must stay under the
                                  server's 1 MiB (BATON_ZK_WATCH_BYTES_MAX) */
  char label[200];             /* "zk://hosts/chroot" for messages */
};

/* The result of one request. Strings are owned: baton__zk_reply_free(). */
typedef struct baton_zk_reply {
  int rc;              /* ZOK, a ZooKeeper error, or BATON_ZK_DEADLINE */
  struct Stat stat;    /* create2, get, exists */
  char *data;          /* created path or node data, NUL-terminated */
  int len;             /* bytes in data, -1 for a NULL value */
  char **kids;         /* get_children: child names */
  int nkids;           /* entries in kids */
} baton_zk_reply;

void baton__zk_reply_free(baton_zk_reply *r);

/* ---- Handles (conn.c) ---------------------------------------------------- */

/* Start a handle on s->hosts, add digest auth, and wait for the session
 * until `deadline` or the connect timeout. 0 with *out (one reference), or
 * ECONNECT / ETIMEDOUT / EAUTH / ESESSION / ENOMEM naming the hosts. */
int baton__zk_conn_open(baton_zk_conn **out, baton_zk_session *s, int64_t deadline,
                        baton_error *err);
/* The current handle with a reference, or NULL (session closed). */
baton_zk_conn *baton__zk_conn_get(baton_zk_session *s);
/* Drop a reference; the last one closes the handle (may block ~1.5 s when
 * the server does not answer the close). Never with s->mu held. */
void baton__zk_conn_put(baton_zk_conn *conn);

/* ---- Close-on-exec (cloexec.c) -------------------------------------------- */

/* zookeeper_init2() on s->hosts with s's timeout and baton__zk_log, its pipe made
 * close-on-exec. NULL with errno as zookeeper_init2() leaves it (ENOMEM
 * also when the descriptor table could not be copied). */
zhandle_t *baton__zk_init(baton_zk_session *s, watcher_fn watcher, void *ctx);
/* Make the connected socket of zh close-on-exec (see cloexec.c for what
 * else is marked); call on each CONNECTED state. Thread: any. */
void baton__zk_cloexec_socket(zhandle_t *zh);

/* ---- Bounded requests (call.c) ------------------------------------------ */

/* Each issues one asynchronous request on conn and waits for its reply
 * until `deadline`; the reply goes to *out (rc BATON_ZK_DEADLINE when the time
 * ran out; the request may still run on the server). watch_id != 0 sets a
 * watch that signals that candidate (baton__zk_watcher). */
void baton__zk_create(baton_zk_conn *conn, const char *path, const char *value, int mode,
                      int64_t deadline, baton_zk_reply *out);
/* The same for a ZOO_*_WITH_TTL mode, with its TTL in ms (> 0). */
void baton__zk_create_ttl(baton_zk_conn *conn, const char *path, const char *value, int mode,
                          int64_t ttl_ms, int64_t deadline, baton_zk_reply *out);
void baton__zk_delete(baton_zk_conn *conn, const char *path, int64_t deadline, baton_zk_reply *out);
/* Delete only if the node's data version is `version`. */
void baton__zk_delete_version(baton_zk_conn *conn, const char *path, int version, int64_t deadline,
                              baton_zk_reply *out);
void baton__zk_exists(baton_zk_conn *conn, const char *path, uint64_t watch_id, int64_t deadline,
                      baton_zk_reply *out);
void baton__zk_get(baton_zk_conn *conn, const char *path, uint64_t watch_id, int64_t deadline,
                   baton_zk_reply *out);
void baton__zk_children(baton_zk_conn *conn, const char *path, uint64_t watch_id, int64_t deadline,
                        baton_zk_reply *out);
/* set_data of a C string if the node's data version is `version` (-1:
 * any); stat is the node's after the write. */
void baton__zk_set(baton_zk_conn *conn, const char *path, const char *value, int version,
                   int64_t deadline, baton_zk_reply *out);
/* sync: the server the session talks to catches up with its leader's
 * commits (not a quorum operation). It fails on a session the server has
 * expired, and its reply comes after the watch events of every change
 * that server had applied when it answered. */
void baton__zk_sync(baton_zk_conn *conn, const char *path, int64_t deadline, baton_zk_reply *out);
/* The most bytes of held nodes' paths a session watches (each path
 * counted with its 4-byte length): the C client re-sends every watched
 * path in one SetWatches packet on reconnect, and the server refuses a
 * packet over jute.maxbuffer (1 MiB by default) by closing the connection;
 * the rest of the packet is left to the waiters' watches. Held nodes
 * beyond it are read at each renewal. */
#define BATON_ZK_WATCH_BYTES_MAX (768 * 1024)

/* Gets pipelined (one round trip, out[i] per path); each with ids[i] != 0
 * sets a held node's watch for candidate ids[i] (baton__zk_held_watcher)
 * when the node exists. */
void baton__zk_watch_held(baton_zk_conn *conn, const char *const *paths, int n,
                          const uint64_t *ids, int64_t deadline, baton_zk_reply *out);
/* Digest credentials "user:password" for this and every reconnection. */
void baton__zk_add_auth(baton_zk_conn *conn, const char *cred, int64_t deadline,
                        baton_zk_reply *out);
/* What a request nobody waits for hands its reply to, on the completion
 * thread (it must not block; it may send further requests). */
typedef void (*baton_zk_then)(baton_zk_conn *conn, baton_zk_reply *r, void *arg);
/* get_children whose reply goes to then(); false when it was not sent. */
bool baton__zk_children_then(baton_zk_conn *conn, const char *path, baton_zk_then then, void *arg);
/* Fire and forget: a delete nobody waits for (cleanup of a stray node). */
void baton__zk_delete_async(baton_zk_conn *conn, const char *path);
/* Wait until no request of conn is in flight, or the deadline. */
void baton__zk_calls_drain(baton_zk_conn *conn, int64_t deadline);
/* Complete every request of a closed handle whose completion never ran. */
void baton__zk_calls_abandon(baton_zk_conn *conn);
/* Calls not yet freed in the whole process (tests: 0 once all is closed). */
long baton__zk_calls_live(void);

/* The watcher given with watch_id: wakes that candidate's wait. */
void baton__zk_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx);
/* The watch on a held node (baton__zk_exists_many's held_ids). */
void baton__zk_held_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx);
/* The candidate whose id a watch carries, or NULL (forgotten); with s->mu
 * held. */
baton_zk_cand *baton__zk_cand_find_locked(baton_zk_session *s, uint64_t id);
/* Wake k's wait (its eventfd) and its armed watch, which that disarms;
 * with s->mu held. */
void baton__zk_cand_signal(baton_zk_cand *k);
/* Wake every armed watch of s (a session event); with s->mu held. */
void baton__zk_wake_all_locked(baton_zk_session *s);

/* Map a ZooKeeper result to a BATON_E* code with a message naming the
 * operation and path. Marks conn expired on ZSESSIONEXPIRED. */
int baton__zk_error(baton_error *err, baton_zk_conn *conn, int rc, const char *op,
                    const char *path);

/* ---- Sweeps (sweep.c) ------------------------------------------------------
 * A forgotten candidate may leave a node behind: its create's reply was
 * lost and the release that would have found it failed. Its guid is swept
 * in the background: list the parent, delete that guid's children, list
 * again until none is left; retried on every reconnection of the handle. */

void baton__zk_sweep_add(baton_zk_conn *conn, const char *parent, const char *guid);
/* Start every sweep that is not running (the handle just connected). */
void baton__zk_sweep_kick(baton_zk_conn *conn);
/* Free the sweeps of a closed handle (its nodes died with the session). */
void baton__zk_sweep_free_all(baton_zk_conn *conn);

/* ---- The C client's log (log.c) ------------------------------------------ */

/* The per-handle log callback: quiet unless BATON_ZK_LOG=error|warn|info|debug,
 * and it keeps the latest errors for baton__zk_log_why(). */
void baton__zk_log(const char *message);
/* Why connecting to `hosts` failed, as the C client last logged it, e.g.
 * "Connection refused"; "" when it logged nothing about those ports. */
void baton__zk_log_why(char *out, size_t size, const char *hosts);

/* ---- Node names (names.c) ---------------------------------------------- */

/* A contender's name ends in "__lock__" and its sequence: the parent's
 * child counter, a signed 32-bit number, as ZooKeeper writes it ("%010d").
 * kazoo orders contenders by that text; once the counter wraps past
 * INT32_MAX the text turns negative ("-2147483648") and sorts first,
 * though it was made last. */
#define BATON_ZK_SEQ_NONE (-1)    /* not a contender: a foreign child, ignored */
#define BATON_ZK_SEQ_WRAPPED (-2) /* negative or above INT32_MAX: the counter
                                           wrapped, and no order can be trusted */
/* The sequence of child (0 .. INT32_MAX), or one of the two above. */
int64_t baton__zk_name_seq(const char *child);
/* Negative, 0, positive as a sorts before, with or after b (contenders),
 * by sequence number; a wrapped one sorts after every valid one. */
int baton__zk_name_cmp(const char *a, const char *b);
/* Whether child is a contender created with this guid (a candidate's
 * 32 hex digits, or a lease's whole prefix, baton__zk_lease_guid). */
bool baton__zk_name_has_guid(const char *child, const char *guid);
/* 32 random hex digits and a NUL. */
void baton__zk_guid(char out[33]);
/* A fixed lease's node is a contender whose name says its TTL, since the
 * server shows a TTL node's TTL to no client: "ttl<ms>-<32 hex>" before
 * "__lock__<sequence>" (kazoo reads only the suffix). The name prefix for
 * a new lease of ttl_ms, random. */
#define BATON_ZK_GUID_MAX 64
void baton__zk_lease_guid(char out[BATON_ZK_GUID_MAX], int64_t ttl_ms);
/* The TTL in ms a lease node's name carries, or 0: not a lease's name. */
int64_t baton__zk_name_ttl(const char *child);
/* "<chroot>/<name>[/<child>]", or NULL when out of memory. */
char *baton__zk_path(const baton_zk_session *s, const char *name, const char *child);

/* ---- What the election (zk.c) lends to fixed leases (lease.c) ------------ */

/* The outcome of a create is unknown when its reply was lost. */
static inline bool baton__zk_unknown(int zrc) {
  return zrc == ZCONNECTIONLOSS || zrc == ZOPERATIONTIMEOUT || zrc == BATON_ZK_DEADLINE;
}
/* The current handle (a reference) and name's path, for a call on `name`
 * that needs no candidate: 0, or ECLOSED / ESESSION / ENOMEM with nothing
 * held. baton__zk_name_end gives both back. */
int baton__zk_name_begin(baton_zk_session *s, const char *name, baton_zk_conn **conn,
                         char **parent, baton_error *err);
void baton__zk_name_end(baton_zk_conn **conn, char **parent);
/* Create the persistent nodes of `parent` and above that are missing. */
int baton__zk_make_parents(baton_zk_session *s, baton_zk_conn *conn, const char *parent,
                           int64_t deadline, baton_error *err);
/* The lowest contender among r's children, and the highest one below
 * `own` into *pred (own, pred and found may be NULL); *wrapped is the
 * first contender with a wrapped sequence (NULL if none), which makes the
 * rest meaningless. */
const char *baton__zk_lowest(const baton_zk_reply *r, const char *own, const char **pred,
                             bool *found, const char **wrapped);
/* The refusal when contender `kid` of parent carries a wrapped sequence. */
int baton__zk_wrapped_error(const baton_zk_session *s, const char *parent, const char *kid,
                            baton_error *err);
/* Read contender `child` of `name` as a leader: identity (the node's
 * data, or beside it once the term proclaimed: data version > 0, the data
 * then being its value, into value[0..size), *len its length; value may
 * be NULL) and token (its czxid). BATON_ZK_LOST when the node went away
 * meanwhile. */
int baton__zk_read_leader(baton_zk_session *s, baton_zk_conn *conn, const char *name,
                          const char *child, baton_leader *out, char *value, size_t size,
                          size_t *len, int64_t deadline, baton_error *err);

/* ---- Fixed leases (lease.c): the table's three lease ops -------------------- */

int baton__zk_lease_acquire(baton_session *s, const char *name, const char *identity,
                            int64_t ttl_ns, uint64_t *token, baton_leader *holder,
                            int64_t deadline, baton_error *err);
int baton__zk_lease_extend(baton_session *s, const char *name, uint64_t token, int64_t ttl_ns,
                           int64_t deadline, baton_error *err);
int baton__zk_lease_release(baton_session *s, const char *name, uint64_t token, int64_t deadline,
                            baton_error *err);
/* For a wait that has just read contender `child` (its stat) with a
 * watch: the baton__now() time by which it has surely ended if it is a
 * fixed lease and nothing changes it meanwhile (a change fires the watch):
 * its mtime is no later than now, so its TTL from now, stretched by the
 * clock drift and the margin's share of the TTL. 0 when it is no lease. */
int64_t baton__zk_lease_end(const baton_zk_session *s, const char *child, const struct Stat *st);

#endif /* BATON_ZK_H */
