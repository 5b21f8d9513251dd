/* redlock.h — what the files of the redlock:// backend share: the session
 * over N independent Redis masters, a candidate's state, and one request
 * fanned out to every instance at once. Internal to backends/redlock/.
 *
 * Each instance is a baton_redis_session of the redis:// backend (its
 * connections, scripts and subscribers are that backend's), and the keys
 * on each are laid out as redis.h says. */
#ifndef BATON_REDLOCK_H
#define BATON_REDLOCK_H

#include "../redis/redis.h"

typedef struct baton_redlock_session {
  baton_session base;         /* first: the core's view */
  size_t n;                   /* instances, 3..BATON_URI_MAX_HOSTS */
  size_t quorum;              /* n / 2 + 1 */
  int64_t vote_ns;            /* the bound on one instance's answer: a dead
                                 or paused instance costs at most this */
  char label[BATON_REDIS_LABEL_MAX]; /* "redlock://h:p,h:p,..." for messages */
  pthread_mutex_t state_mu;   /* guards the candidates' baton_redis_cand fields */
  baton_redis_session *inst;  /* n instances, owned */
  uint64_t no_quorum;         /* acquire attempts without a quorum (atomic) */
  baton_redis_served served;  /* shared by the instances' hubs: one release,
                                 published on every instance, wakes one
                                 armed candidate of this session */
} baton_redlock_session;

/* A candidate's state (baton_candidate.priv): the redis:// backend's, and
 * its channels on each instance's subscriber. One allocation (cand_state
 * in redlock.c) with room for the session's n subscriptions, not for
 * BATON_URI_MAX_HOSTS: 16 of 120 bytes each made most of a waiting
 * name's memory on 3 instances. */
typedef struct baton_redlock_cand {
  baton_redis_cand r; /* first: renewals read it */
  unsigned splits;    /* split votes in a row: the back-off grows with them */
  bool deaf;          /* after a split vote: the next wait sleeps out its
                         back-off whatever is published (every contender's
                         release publishes; waking on it skips the jitter) */
  baton_redis_sub subs[]; /* the session's n: its channels on each
                             instance's shared subscriber; the hubs keep
                             pointers to them, so they never move */
} baton_redlock_cand;

/* One instance's part of a fanned-out request. */
typedef struct baton_redlock_op {
  baton_redis_session *s;        /* the instance */
  baton_redis_conn *k;           /* its connection for this operation */
  const baton_redis_cmd *cmds;   /* what to send, in one write */
  size_t ncmds;
  redisReply **out;              /* ncmds replies, each to free, when rc is 0 */
  int64_t deadline;              /* this instance's bound */
  const char *what;              /* the operation, for messages */
  int rc;                        /* 0, or this instance's error */
  baton_error err;               /* its message when rc is not 0 */
} baton_redlock_op;

/* Send every op's commands to its instance, then read every reply: each
 * instance by its own deadline, all in parallel (instances without a
 * connection connect on threads of their own, so a hung connect delays no
 * other). Sets each op's rc and out. Holds every op's k->mu meanwhile,
 * taken in array order. At most BATON_REDLOCK_FAN_MAX ops (two
 * connections of each instance: open makes both). */
#define BATON_REDLOCK_FAN_MAX (2 * BATON_URI_MAX_HOSTS)
void baton__redlock_fan(baton_redlock_op *ops, size_t n);

#endif /* BATON_REDLOCK_H */
