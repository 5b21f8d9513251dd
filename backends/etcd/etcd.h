/* etcd.h — what the etcd backend's files share: the session (one lease per
 * client), a candidate's state and the key layout. Internal.
 *
 * Layout, the one of etcd's own election (Go concurrency.Election,
 * `etcdctl elect`): a candidate's key is `<prefix><name>/<lease id in
 * lower-case hex>`, its value the identity; the leader is the key under
 * `<prefix><name>/` with the lowest create_revision, which is also the
 * term's fencing token. The URI's path is the prefix, less its leading
 * '/'. */
#ifndef BATON_ETCD_H
#define BATON_ETCD_H

#include "backend.h"
#include "gateway.h"
#include "http.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* A blocked wait, woken when renew grants a new lease. */
typedef struct baton_etcd_waiter {
  baton_etcd_conn *conn;           /* the conn it blocks on */
  struct baton_etcd_waiter *next;
} baton_etcd_waiter;

typedef struct baton_etcd_hub baton_etcd_hub;

typedef struct baton_etcd_session {
  baton_session base;              /* first, as the core expects */
  baton_etcd_http *http;           /* transport */
  char *prefix;                    /* key prefix, "" for none */
  int64_t ttl_s;                   /* TTL asked of the server, seconds */
  pthread_mutex_t mu;              /* guards lease, lease_gen, waiters */
  int64_t lease;                   /* the session's lease; 0 after it
                                      expired, until renew grants one */
  uint64_t lease_gen;              /* bumped at each grant */
  baton_etcd_waiter *waiters;      /* waits blocked now */
  baton_etcd_hub *hub;             /* the watch stream of watch(), made at
                                      the first (under mu), or NULL */
} baton_etcd_session;

/* What a subscription (baton_backend.watch) waits for. */
typedef enum {
  BATON_ETCD_SUB_OBSERVER, /* the leader's key changes, or a first key comes */
  BATON_ETCD_SUB_QUEUED,   /* the predecessor's DELETE, or any change to our key */
  BATON_ETCD_SUB_LEASE,    /* a new session lease (renew wakes every watch) */
} baton_etcd_sub_kind;

/* A candidate's subscription, inside its priv. Every field but `state`'s
 * IDLE value is the hub's, under its lock, while armed or pending; the
 * keys are copies, so a candidate's release never touches what the
 * reader compares. */
typedef struct baton_etcd_sub {
  int state;                       /* 0 idle, 1 armed (in the table),
                                      2 pending (to be woken at once) */
  baton_etcd_sub_kind kind;        /* what it waits for */
  char *scope;                     /* "<prefix><name>/" */
  size_t scope_len;                /* bytes of scope */
  uint32_t hash;                   /* of scope */
  char *own;                       /* queued: our key */
  size_t own_len;                  /* bytes of own */
  char *other;                     /* queued: the predecessor's key;
                                      observer: the leader's, NULL for none */
  size_t other_len;                /* bytes of other */
  bool other_fixed;                /* observer: the leader is a fixed lease */
  bool next_in_line;               /* queued: the predecessor is the only
                                      older key (its DELETE proves the win) */
  int64_t r0;                      /* the revision of the range it was
                                      armed after: only later events count */
  int64_t won;                     /* >0: woken by a proof of the win at this
                                      revision (acquire takes it) */
  baton_wake_fn wake;              /* the core's wake-up */
  void *ctx;                       /* its argument */
  struct baton_etcd_sub *prev;     /* the hub's chain or pending list */
  struct baton_etcd_sub *next;
} baton_etcd_sub;

/* A candidate's state (baton_candidate.priv). Only acquire, wait, watch,
 * release and forget touch it, never at the same time for one candidate;
 * `sub` is the hub's while armed (hub.c, under the hub's lock). */
typedef struct baton_etcd_cand {
  char *key;                       /* own key while it may exist, or NULL */
  size_t key_len;                  /* bytes of key */
  int64_t lease;                   /* the lease the key was made with */
  int64_t create_revision;         /* own key's; 0 while unknown (the next
                                      acquire sends the put-if-absent txn) */
  int64_t won_revision;            /* >0: wait saw, at this revision, our key
                                      lead as we made it; the next acquire
                                      reports it without a request */
  bool proclaimed;                 /* the key's term wrote its identity key
                                      beside the election (release deletes
                                      it too) */
  baton_etcd_sub sub;              /* its watch (hub.c) */
} baton_etcd_cand;

/* The candidate's state, made on first use; NULL when out of memory. */
baton_etcd_cand *baton__etcd_cand(baton_candidate *c);

/* `<prefix><name>/` into s. */
void baton__etcd_name_prefix(baton_etcd_str *s, const baton_etcd_session *es, const char *name);

/* The session's lease and its generation, read together. */
int64_t baton__etcd_lease(baton_etcd_session *es, uint64_t *gen);

/* Range the name's keys as `r` says (key and prefix filled in here) on a
 * pooled conn: the first `max` into kvs[0..*n) (owned by the caller) and
 * the header's revision. */
int baton__etcd_range(baton_etcd_session *es, const char *name, baton_etcd_range_req *r,
                      baton_etcd_kv *kvs, size_t max, size_t *n, int64_t *revision,
                      int64_t deadline, int cancel_fd, baton_error *err);

/* Whether `kv` is the candidate's key as it made it: same key, lease,
 * create_revision and identity (or, once this term proclaimed, a value
 * written since). Only such a key may count as leading: a key of ours
 * from a lease that is gone must not (etcd issue 11456). */
bool baton__etcd_is_own(const baton_etcd_cand *ec, const char *identity, const baton_etcd_kv *kv);

/* A fixed lease's key (lease.c) ends with this after its first lease's
 * id in hex: no election key does (Go's is the bare hex, ours adds
 * "-<slot>"), so the lease calls never touch a term's key and the readers
 * know that its value is never proclaimed. */
#define BATON_ETCD_FIXED_SUFFIX ".fixed"

static inline bool baton__etcd_is_fixed(const baton_etcd_kv *kv) {
  size_t n = sizeof BATON_ETCD_FIXED_SUFFIX - 1;
  return kv->key_len > n && memcmp(kv->key + kv->key_len - n, BATON_ETCD_FIXED_SUFFIX, n) == 0;
}

/* Whether the key's value was changed since it was made: a proclaim (ours,
 * or Go's Proclaim) replaced the identity it was created with. A fixed
 * lease's key is written again only to move it to a new lease (extend),
 * its value untouched. */
static inline bool baton__etcd_proclaimed(const baton_etcd_kv *kv) {
  return kv->mod_revision != kv->create_revision && !baton__etcd_is_fixed(kv);
}

/* baton_leader.version from a key: the writes to its value since its
 * creation (a key is made at version 1); none for a fixed lease's key. */
static inline uint64_t baton__etcd_value_version(const baton_etcd_kv *kv) {
  return kv->version > 1 && !baton__etcd_is_fixed(kv) ? (uint64_t)(kv->version - 1) : 0;
}

/* POST `body` on a pooled conn (idempotent: retried on another member). */
int baton__etcd_call(baton_etcd_session *es, const char *path, const baton_etcd_str *body,
                     baton_etcd_decode decode, void *out, int64_t deadline, int cancel_fd,
                     baton_error *err);

/* Decoders for baton__etcd_call: the acquire txn's reply (out: a
 * baton_etcd_txn_reply) and any txn's "succeeded" (out: a bool). */
int baton__etcd_decode_txn(const cJSON *p, void *out, baton_error *err);
int baton__etcd_decode_succeeded(const cJSON *p, void *out, baton_error *err);

/* Grant a lease of ttl_s seconds on `conn` (NULL: a pooled one): its id,
 * and the TTL the server granted into *granted (may be NULL). A grant is
 * not idempotent (a retry after a lost reply would leak a lease until its
 * TTL), so it goes to another member only when it was never sent. */
int baton__etcd_grant(baton_etcd_session *es, baton_etcd_conn *conn, int64_t ttl_s, int64_t *id,
                      int64_t *granted, int64_t deadline, baton_error *err);

/* Revoke `lease` (0: nothing) on `conn` (NULL: a pooled one), best effort:
 * every key attached to it goes with it. */
void baton__etcd_revoke(baton_etcd_session *es, baton_etcd_conn *conn, int64_t lease,
                        int64_t deadline);

/* BATON_EHELD for the leader's key `low`: into holder (may be NULL) and
 * err. */
int baton__etcd_held_by(baton_leader *holder, const baton_etcd_kv *low, baton_error *err);

/* The backend's fixed leases (lease.c). */
int baton__etcd_lease_acquire(baton_session *s, const char *name, const char *identity,
                              int64_t ttl_ns, uint64_t *token, baton_leader *holder,
                              int64_t deadline, baton_error *err);
int baton__etcd_lease_extend(baton_session *s, const char *name, uint64_t token, int64_t ttl_ns,
                             int64_t deadline, baton_error *err);
int baton__etcd_lease_release(baton_session *s, const char *name, uint64_t token,
                              int64_t deadline, baton_error *err);

/* The backend's wait (watch.c). */
int baton__etcd_wait(baton_session *s, baton_candidate *c, const baton_leader *seen,
                     int64_t deadline, int cancel_fd, baton_error *err);

/* Where a queued candidate stands (baton__etcd_queue_look). */
typedef enum {
  BATON_ETCD_GONE,   /* our key is gone or altered: acquire makes it again */
  BATON_ETCD_LEADS,  /* nothing older: we lead at `revision` (won_revision set) */
  BATON_ETCD_NEXT,   /* exactly one older key, kvs[1]: next in line */
  BATON_ETCD_BEHIND, /* several older keys; kvs[1] is the nearest */
} baton_etcd_place;

typedef struct baton_etcd_queue_look {
  baton_etcd_place place;
  int64_t revision;          /* the range's revision */
  baton_etcd_kv kvs[3];      /* our key, then the older ones, newest first */
  size_t n;                  /* entries of kvs */
} baton_etcd_queue_look;

/* One range of a queued candidate's key and the two keys just older
 * (watch.c): where it stands. Free q with baton__etcd_queue_look_free. */
int baton__etcd_queue_look(baton_etcd_session *es, baton_candidate *c, baton_etcd_cand *ec,
                           baton_etcd_queue_look *q, int64_t deadline, int cancel_fd,
                           baton_error *err);
void baton__etcd_queue_look_free(baton_etcd_queue_look *q);

/* Whether the name's leader key `lead` (NULL: none) is the term an
 * observer saw (`seen`, may be NULL: none), its value included. */
bool baton__etcd_seen_is(const baton_etcd_kv *lead, const baton_leader *seen);

/* The backend's subscriptions (hub.c): watch, unwatch; wake every armed
 * watch (a new lease); move a proof of the win that woke c into
 * ec->won_revision; stop the hub's thread and free it (close). */
int baton__etcd_watch(baton_session *s, baton_candidate *c, const baton_leader *seen,
                      baton_wake_fn wake, void *ctx, int64_t *recheck_at, int64_t deadline,
                      baton_error *err);
void baton__etcd_unwatch(baton_session *s, baton_candidate *c);
void baton__etcd_hub_wake_all(baton_etcd_session *es);
void baton__etcd_hub_take_won(baton_etcd_session *es, baton_etcd_cand *ec);
void baton__etcd_hub_close(baton_etcd_session *es);

/* For tests: the hub's figures. */
typedef struct baton_etcd_hub_stats {
  uint64_t streams;      /* watch streams started (the first and each resume) */
  uint64_t compactions;  /* resumes refused as compacted (every watch woken) */
  uint64_t wakes;        /* wake-ups delivered */
  size_t armed;          /* watches armed now */
  bool up;               /* a stream is open and created now */
  int64_t delivered;     /* the revision events are delivered up to (H) */
} baton_etcd_hub_stats;
void baton__etcd_hub_stats(baton_session *s, baton_etcd_hub_stats *out);
/* For tests: fn(arg) runs in every watch between its range and its arm
 * (NULL: nothing). Not thread-safe: set it while no watch runs. */
void baton__etcd_hub_test_between(void (*fn)(void *), void *arg);

/* For tests: the session's lease (0 when expired) and transport counters. */
int64_t baton__etcd_session_lease(baton_session *s);
void baton__etcd_session_stats(baton_session *s, baton_etcd_stats *out);

#endif /* BATON_ETCD_H */
