/* redlock.c — the redlock:// backend: one lease per name on a quorum of N
 * independent Redis masters, with a fencing token kept as a quorum
 * register. The table the core calls.
 *
 * Every operation sends the same script to every instance in one write
 * each (baton__redlock_fan), then reads the replies, each instance within
 * its own short bound (vote_ns), so a dead or paused instance costs at
 * most that bound, never the TTL. The core counts a term's lifetime from
 * the moment it sent the acquire, so the time spent voting shrinks the
 * term, as Redlock's "validity time" asks.
 *
 * The fencing token: a quorum register.
 *
 * Phase 1 (vote): each instance's script, if the name is free there (or
 * holds our own previous or lost attempt), raises that instance's counter
 * NAME/token to max(counter + 1, server TIME in us), sets the key and
 * returns the counter. With a quorum of yes votes, T = the largest value
 * returned. Phase 2 (fence): every instance sets counter = max(counter, T)
 * (and our key's value takes T); the term is ELECTED once a quorum has
 * acknowledged. Otherwise every instance that may hold our key is released
 * at once and the attempt fails.
 *
 * Why tokens strictly increase. Let term A be ELECTED with token T_A, and
 * term B begin its acquire after that. A's phase 2 left counter >= T_A on
 * a quorum Q_A; B's election needs yes votes from a quorum Q_B. Two
 * quorums of the same N instances intersect, so some instance i is in
 * both, and B's vote on i ran after A's fence on i: its script saw
 * counter >= T_A and returned counter + 1 > T_A (a vote always raises the
 * counter, also when it adopts our own lost attempt). So T_B, the largest
 * of B's votes, is > T_A. This holds for any failure of the others,
 * including instances that lost their data, as long as i kept its counter.
 * An instance restarted without persistence forgets its counter and seeds
 * it from its clock in microseconds: tokens still rise provided the issued
 * tokens stay behind that clock (fewer than one term per microsecond, and
 * the servers' clocks not set back), the same caveat as redis://.
 *
 * Mutual exclusion is Redlock's: it rests on the keys' TTLs and on bounded
 * clock drift and pauses; the token is what makes a violation harmless.
 *
 * Restart-safe votes. An instance restarted without persistence forgot the
 * keys of the terms it voted for, so its yes could complete a rival's
 * quorum while an earlier holder still believes. Its vote script sees the
 * counter missing and, when the instance started less than a TTL ago,
 * answers "yes, but only after start + TTL" (script.c, the "delayed
 * restart" of Redlock's author, done by the client). A quorum that needs
 * such votes is counted at the latest of the times it needs: until then
 * our keys stay (the attempt pending), and the look at that time votes
 * again with the same nonce. By then every holder from before the restart
 * has passed its local deadline. The token proof above is unchanged: a
 * delayed vote raises its counter as any vote does, and the look after the
 * wait votes (and raises it) again. */
#include "redlock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BATON_REDLOCK_PORT 6379
/* An instance's bound: a tenth of the TTL (Redlock's advice is a small
 * fraction of it), at least this, at most the request timeout. */
#define BATON_REDLOCK_VOTE_MIN_NS (50 * BATON_NS_PER_MS)
/* How long after the holder's expiry a waiter looks again (as redis://). */
#define BATON_REDLOCK_RECHECK_SLACK_NS (10 * BATON_NS_PER_MS)
/* A holder that is not baton publishes nothing: look again at least this
 * often (as redis:// does at the most). */
#define BATON_REDLOCK_FOREIGN_POLL_NS (250 * BATON_NS_PER_MS)

static baton_redlock_session *session_of(baton_session *bs) { return (baton_redlock_session *)bs; }

/* ---- answers from many instances ----------------------------------------- */

/* An operation's bound for each instance: min(deadline, now + vote_ns * f). */
static int64_t vote_deadline(const baton_redlock_session *s, int64_t deadline, int factor) {
  int64_t d = baton__now() + s->vote_ns * factor;
  return d < deadline ? d : deadline;
}

/* The error of an operation that fewer than a quorum answered: how many
 * did, which failed and why. The code is the most telling failure's: a
 * refused log-in or a server's error before a connection's. */
static int quorum_error(const baton_redlock_session *s, const baton_redlock_op *ops,
                        size_t answered, const char *what, const char *name, baton_error *err) {
  int code = 0;
  char why[sizeof err->message];
  size_t len = 0;
  why[0] = '\0';
  for (size_t i = 0; i < s->n; i++) {
    if (ops[i].rc == 0) continue;
    int rc = ops[i].rc;
    if (code == 0 || rc == BATON_EAUTH || (code != BATON_EAUTH && rc == BATON_EREFUSED))
      code = rc;
    if (len < sizeof why - 1) {
      int w = snprintf(why + len, sizeof why - len, "; %s", ops[i].err.message);
      len += w > 0 ? (size_t)w : 0;
    }
  }
  if (code == 0) code = BATON_EPROTO;
  return baton__error(err, code, "%s: %s%s%s: %zu of %zu instances answered, %zu needed%s",
                      s->label, what, name != NULL ? " " : "", name != NULL ? name : "", answered,
                      s->n, s->quorum, why);
}

static void free_outs(baton_redlock_op *ops, size_t n) {
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < ops[i].ncmds; j++) {
      if (ops[i].out[j] != NULL) freeReplyObject(ops[i].out[j]);
      ops[i].out[j] = NULL;
    }
}

/* An operation on the instances: which to ask (`skip` bit i: not
 * instance i), on which connection, by when. */
typedef struct fan_plan {
  bool renewer;     /* each instance's renew connection, else its cmd one */
  int64_t deadline; /* the caller's */
  int factor;       /* each round trip's bound: vote_ns * factor */
  unsigned skip;    /* instances left out (they failed a moment ago) */
  const char *what; /* for messages */
} fan_plan;

/* One script, `per` calls per instance (calls + i * per, argv filled but
 * for [0..3)), fanned out; then per instance the NOSCRIPT fallback (a
 * round trip with a bound of its own) and the error replies. Returns how
 * many instances answered (out set exactly for those). */
static size_t eval_all(baton_redlock_session *s, const fan_plan *f, baton_redis_script script,
                       baton_redis_call *calls, size_t per, baton_redis_cmd *cmds,
                       redisReply **out, baton_redlock_op *ops) {
  int64_t bound = vote_deadline(s, f->deadline, f->factor);
  baton_redlock_op asked[BATON_URI_MAX_HOSTS];
  size_t m = 0, at[BATON_URI_MAX_HOSTS];
  for (size_t i = 0; i < s->n; i++) {
    baton__redis_eval_cmds(script, calls + i * per, per, cmds + i * per);
    baton_redis_session *in = &s->inst[i];
    ops[i] = (baton_redlock_op){.s = in, .k = f->renewer ? &in->renewer : &in->cmd,
                                .cmds = cmds + i * per, .ncmds = per, .out = out + i * per,
                                .deadline = bound, .what = f->what};
    if (f->skip & (1u << i)) {
      ops[i].rc = baton__error(&ops[i].err, BATON_ECONNECT, "%s: %s: not asked (it failed the "
                               "step before)", in->label, f->what);
      for (size_t j = 0; j < per; j++) ops[i].out[j] = NULL;
    } else {
      at[m] = i;
      asked[m++] = ops[i];
    }
  }
  baton__redlock_fan(asked, m);
  for (size_t j = 0; j < m; j++) ops[at[j]] = asked[j];
  size_t answered = 0;
  for (size_t i = 0; i < s->n; i++) {
    baton_redlock_op *o = &ops[i];
    if (o->rc == 0)
      o->rc = baton__redis_eval_finish(o->s, o->k, script, calls + i * per, per, o->out,
                                       vote_deadline(s, f->deadline, f->factor), f->what, &o->err);
    answered += o->rc == 0;
  }
  return answered;
}

/* ---- candidates ------------------------------------------------------------ */

/* c's state after checking c: 0, or the error. */
static int cand_state(baton_redlock_cand **out, baton_session *bs, baton_candidate *c,
                      const char *what, baton_error *err) {
  int rc = baton__redis_check_candidate(bs, c, "redlock", what, err);
  if (rc == 0)
    rc = baton__redis_cand_alloc(
        c, sizeof(baton_redlock_cand) + session_of(bs)->n * sizeof(baton_redis_sub), "redlock",
        err);
  *out = c->priv;
  return rc;
}

/* Before a look: the messages that came are answered by it. Returns how
 * many instances p is subscribed on. */
static size_t look_subs(baton_redlock_session *s, baton_redlock_cand *p) {
  size_t live = 0;
  for (size_t i = 0; i < s->n; i++) live += baton__redis_sub_look(&p->subs[i], &s->inst[i]);
  return live;
}

/* ---- open and close ------------------------------------------------------ */

static void session_free(baton_redlock_session *s) {
  if (s == NULL) return;
  for (size_t i = 0; s->inst != NULL && i < s->n; i++) baton__redis_instance_fini(&s->inst[i]);
  baton__free(s->inst);
  pthread_mutex_destroy(&s->state_mu);
  pthread_mutex_destroy(&s->served.mu);
  baton__free(s);
}

static void make_label(baton_redlock_session *s) {
  size_t len = (size_t)snprintf(s->label, sizeof s->label, "redlock://");
  for (size_t i = 0; i < s->n && len < sizeof s->label; i++) {
    const baton_redis_session *in = &s->inst[i];
    int w = snprintf(s->label + len, sizeof s->label - len,
                     strchr(in->host, ':') ? "%s[%.100s]:%d" : "%s%.100s:%d", i ? "," : "",
                     in->host, in->port);
    len += w > 0 ? (size_t)w : 0;
  }
}

static int session_open(baton_session **out, const baton_uri *uri, const baton_config *cfg,
                        int64_t deadline, baton_error *err) {
  if (out == NULL || uri == NULL || cfg == NULL)
    return baton__error(err, BATON_EINVAL, "redlock: open: NULL argument");
  *out = NULL;
  static const char *const no_params[] = {NULL};
  int rc = baton__uri_check_params(uri, no_params, err);
  if (rc != 0) return rc;
  if (uri->nhosts < 3)
    return baton__error(err, BATON_EINVAL,
                        "redlock:// takes at least 3 independent Redis masters (an odd number "
                        "is best), the URI names %zu",
                        uri->nhosts);
  /* One server named twice would vote twice: a quorum of one. */
  for (size_t i = 0; i < uri->nhosts; i++)
    for (size_t j = 0; j < i; j++) {
      int pi = uri->hosts[i].port != 0 ? uri->hosts[i].port : BATON_REDLOCK_PORT;
      int pj = uri->hosts[j].port != 0 ? uri->hosts[j].port : BATON_REDLOCK_PORT;
      if (pi == pj && strcasecmp(uri->hosts[i].host, uri->hosts[j].host) == 0)
        return baton__error(err, BATON_EINVAL,
                            "redlock:// names %.64s:%d twice: each master once, or one "
                            "server votes twice",
                            uri->hosts[i].host, pi);
    }
  long db;
  if ((rc = baton__redis_parse_db(&db, uri->path, "redlock", err)) != 0) return rc;
  if (cfg->username != NULL && cfg->password == NULL)
    return baton__error(err, BATON_EINVAL, "redlock://: user '%.64s' is given without a password",
                        cfg->username);
  baton_redlock_session *s = baton__calloc(1, sizeof *s);
  if (s != NULL) s->inst = baton__calloc(uri->nhosts, sizeof *s->inst);
  if (s == NULL || s->inst == NULL) {
    baton__free(s);
    return baton__error(err, BATON_ENOMEM, "redlock: out of memory");
  }
  pthread_mutex_init(&s->state_mu, NULL);
  pthread_mutex_init(&s->served.mu, NULL);
  s->base.cfg = cfg;
  s->n = uri->nhosts;
  s->quorum = s->n / 2 + 1;
  s->vote_ns = cfg->ttl_ns / 10;
  if (s->vote_ns < BATON_REDLOCK_VOTE_MIN_NS) s->vote_ns = BATON_REDLOCK_VOTE_MIN_NS;
  if (s->vote_ns > cfg->op_timeout_ns) s->vote_ns = cfg->op_timeout_ns;
  for (size_t i = 0; i < s->n; i++) {
    int port = uri->hosts[i].port != 0 ? uri->hosts[i].port : BATON_REDLOCK_PORT;
    if (baton__redis_instance_init(&s->inst[i], "redis", uri->hosts[i].host, port, db, cfg) != 0) {
      s->n = i + 1;
      session_free(s);
      return baton__error(err, BATON_ENOMEM, "redlock: out of memory");
    }
  }
  make_label(s);
  /* Every instance's reader thread from the start, so that waiting on
   * any number of names later starts no thread. */
  s->served.quorum = (unsigned)s->quorum;
  for (size_t i = 0; i < s->n; i++) baton__redis_hub_share(&s->inst[i], &s->served);
  for (size_t i = 0; i < s->n; i++)
    if (baton__redis_hub_start(&s->inst[i]) != 0) {
      session_free(s);
      return baton__error(err, BATON_ENOMEM, "redlock: no reader thread");
    }
  /* Connect now (a PING each, in parallel), so that a wrong address or
   * password shows at open; a quorum must answer. The renew connections
   * too (unless the client only reads): made later, by a term's first
   * renewal, each would cost that renewal a connect and a thread. */
  const char *ping[] = {"PING"};
  baton_redis_cmd cmd = {1, ping};
  baton_redlock_op ops[BATON_REDLOCK_FAN_MAX];
  redisReply *replies[BATON_REDLOCK_FAN_MAX];
  int64_t bound = baton__now() + cfg->connect_timeout_ns;
  size_t nops = cfg->read_only ? s->n : 2 * s->n;
  for (size_t i = 0; i < nops; i++) {
    baton_redis_session *in = &s->inst[i % s->n];
    ops[i] = (baton_redlock_op){.s = in, .k = i < s->n ? &in->cmd : &in->renewer, .cmds = &cmd,
                                .ncmds = 1, .out = &replies[i],
                                .deadline = bound < deadline ? bound : deadline,
                                .what = "connect"};
  }
  baton__redlock_fan(ops, nops);
  size_t answered = 0;
  for (size_t i = 0; i < s->n; i++) answered += ops[i].rc == 0;
  free_outs(ops, nops);
  if (answered < s->quorum) {
    rc = quorum_error(s, ops, answered, "open", NULL, err);
    session_free(s);
    return rc;
  }
  *out = &s->base;
  return 0;
}

static void session_close(baton_session *bs) { session_free(session_of(bs)); }

/* ---- acquire ------------------------------------------------------------- */

/* The per-instance arguments of one script call on the name: argv[3..). */
typedef struct name_call {
  baton_redis_call calls[BATON_URI_MAX_HOSTS];
  const char *argv[BATON_URI_MAX_HOSTS][12]; /* 3 + at most 9 arguments (a lease's vote) */
  baton_redis_cmd cmds[BATON_URI_MAX_HOSTS];
  redisReply *out[BATON_URI_MAX_HOSTS];
  baton_redlock_op ops[BATON_URI_MAX_HOSTS];
} name_call;

/* Every instance gets argv[3..3+nargs) = args, nkeys of them keys. */
static size_t call_name(baton_redlock_session *s, name_call *nc, baton_redis_script script,
                        const char *const *args, int nargs, int nkeys, const fan_plan *f) {
  for (size_t i = 0; i < s->n; i++) {
    for (int a = 0; a < nargs; a++) nc->argv[i][3 + a] = args[a];
    nc->calls[i] = (baton_redis_call){.argv = nc->argv[i], .argc = 3 + nargs, .nkeys = nkeys};
  }
  return eval_all(s, f, script, nc->calls, 1, nc->cmds, nc->out, nc->ops);
}

/* Release our attempt `nonce` on every instance (compare-and-DEL, and the
 * PUBLISH that wakes the waiters). Returns how many answered. */
static size_t release_all(baton_redlock_session *s, const char *name, const char *nonce,
                          const char *prev, unsigned skip, int64_t deadline) {
  name_call nc;
  const char *args[] = {name, nonce, prev};
  fan_plan f = {.deadline = deadline, .factor = 1, .skip = skip, .what = "release"};
  size_t answered = call_name(s, &nc, BATON_REDIS_SCRIPT_RELEASE, args, 3, 1, &f);
  free_outs(nc.ops, s->n);
  return answered;
}

/* Make our attempt's keys (`nonce`) live px_ms from now on every instance
 * not in `skip`: the renew script, which touches only a key of ours. Best
 * effort: a key that still expires is voted for again at the next look. */
static void extend_votes(baton_redlock_session *s, const char *name, const char *nonce,
                         int64_t px_ms, unsigned skip, int64_t deadline) {
  char px[24];
  snprintf(px, sizeof px, "%lld", (long long)px_ms);
  name_call nc;
  const char *args[] = {name, px, nonce};
  fan_plan f = {.deadline = deadline, .factor = 1, .skip = skip, .what = "acquire"};
  call_name(s, &nc, BATON_REDIS_SCRIPT_RENEW, args, 3, 1, &f);
  free_outs(nc.ops, s->n);
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* The time by which a quorum of the instances' times (ms, sorted in
 * place) have come. */
static int64_t quorum_th(const baton_redlock_session *s, int64_t *ms) {
  qsort(ms, s->n, sizeof *ms, cmp_i64);
  return ms[s->quorum - 1];
}

/* When a quorum of instances could be free: the quorum-th smallest of
 * their PTTLs (0 for free ones, the TTL for those that did not answer or
 * whose key has no expiry), in ns from now. */
static int64_t quorum_free_after(const baton_redlock_session *s, int64_t *pttl_ms) {
  int64_t ttl_ms = s->base.cfg->ttl_ns / BATON_NS_PER_MS;
  for (size_t i = 0; i < s->n; i++)
    if (pttl_ms[i] < 0 || pttl_ms[i] > ttl_ms) pttl_ms[i] = ttl_ms;
  return quorum_th(s, pttl_ms) * BATON_NS_PER_MS + BATON_REDLOCK_RECHECK_SLACK_NS;
}

/* Phase 2: counter = max(counter, T) on a quorum, our value taking T. */
static int fence(baton_redlock_session *s, const char *name, const char *identity,
                 const char *nonce, uint64_t token, unsigned skip, int64_t deadline,
                 baton_error *err) {
  char counter[BATON_NAME_MAX + 16], t[24];
  snprintf(counter, sizeof counter, "%s/token", name);
  snprintf(t, sizeof t, "%llu", (unsigned long long)token);
  name_call nc;
  const char *args[] = {name, counter, t, nonce, identity};
  fan_plan f = {.deadline = deadline, .factor = 1, .skip = skip, .what = "fence"};
  size_t acks = call_name(s, &nc, BATON_REDIS_SCRIPT_REDLOCK_FENCE, args, 5, 2, &f);
  size_t keys = 0; /* instances that still held our key and took T (1) */
  for (size_t i = 0; i < s->n; i++) {
    if (nc.ops[i].rc != 0) continue;
    if (nc.out[i]->type != REDIS_REPLY_INTEGER) {
      nc.ops[i].rc = baton__redis_bad_reply(&s->inst[i], "fence", &nc.ops[i].err);
      acks--;
    } else {
      keys += nc.out[i]->integer == 1;
    }
  }
  free_outs(nc.ops, s->n);
  /* Every answer wrote the counter; a term needs our key on a quorum too
   * (one lost between the phases, by a restart say, does not count). */
  if (acks >= s->quorum && keys >= s->quorum) return 0;
  if (acks >= s->quorum)
    return baton__error(err, BATON_EHELD,
                        "%s: fence '%s': our key is on %zu of %zu instances, %zu needed",
                        s->label, name, keys, s->n, s->quorum);
  return quorum_error(s, nc.ops, acks, "fence", name, err);
}

/* What the instances' votes (phase 1) say. */
typedef struct vote_tally {
  size_t answered, yes, no;
  uint64_t token;                      /* the largest yes's counter */
  int64_t pttl[BATON_URI_MAX_HOSTS];   /* 0 for a yes, the holder's PTTL for a
                                          no, -1 when it did not answer */
  int64_t counts_after[BATON_URI_MAX_HOSTS]; /* a yes's restart-safe wait in
                                                ms (0 for most), else
                                                INT64_MAX */
  baton_leader who;                    /* the first no's holder */
  bool who_ours;                       /* its value is in our format */
  unsigned failed, said_no, yes_now;   /* bit i: instance i failed, said
                                          no, voted yes at once */
} vote_tally;

/* Vote with `args` (the vote script's 8 or 9) on every instance and read
 * the votes into *v. A yes carries the instance's raised counter, and
 * counts after the instance's restart-safe wait (0 for most). */
static void vote_all(baton_redlock_session *s, name_call *nc, const char *const *args, int nargs,
                     int64_t deadline, const char *what, vote_tally *v) {
  fan_plan f = {.deadline = deadline, .factor = 1, .what = what};
  memset(v, 0, sizeof *v);
  v->answered = call_name(s, nc, BATON_REDIS_SCRIPT_REDLOCK_VOTE, args, nargs, 3, &f);
  for (size_t i = 0; i < s->n; i++) {
    v->pttl[i] = -1;
    v->counts_after[i] = INT64_MAX;
    if (nc->ops[i].rc != 0) v->failed |= 1u << i;
    if (nc->ops[i].rc != 0) continue;
    baton_redis_vote one;
    if (!baton__redis_vote_read(&one, nc->out[i])) {
      nc->ops[i].rc = baton__redis_bad_reply(&s->inst[i], what, &nc->ops[i].err);
      v->failed |= 1u << i;
      v->answered--;
      continue;
    }
    if (one.answer != BATON_REDIS_HELD) {
      v->yes++;
      v->pttl[i] = 0;
      v->counts_after[i] = one.answer == BATON_REDIS_WAIT ? one.ms : 0;
      if (one.answer == BATON_REDIS_WON) v->yes_now |= 1u << i;
      if (one.who.token > v->token) v->token = one.who.token;
    } else {
      v->no++;
      v->said_no |= 1u << i;
      v->pttl[i] = one.ms;
      if (v->who.identity[0] == '\0' && v->who.token == 0) {
        v->who = one.who;
        v->who_ours = one.ours;
      }
    }
  }
  free_outs(nc->ops, s->n);
}

static int acquire(baton_session *bs, baton_candidate *c, baton_leader *holder, int64_t deadline,
                   baton_error *err) {
  baton_redlock_session *s = session_of(bs);
  baton_redlock_cand *p = NULL;
  int rc = cand_state(&p, bs, c, "acquire", err);
  if (rc != 0) return rc;
  p->r.acquired = true;
  look_subs(s, p); /* messages so far are answered by this look */

  char nonce[BATON_REDIS_NONCE_LEN + 1], prev[BATON_REDIS_NONCE_LEN + 1];
  baton__redis_start_attempt(&s->state_mu, &p->r, nonce, prev);
  baton_redis_keys keys;
  baton__redis_keys(&keys, c->name);
  char ttl[24];
  snprintf(ttl, sizeof ttl, "%lld", (long long)(s->base.cfg->ttl_ns / BATON_NS_PER_MS));
  const char *args[] = {c->name, keys.counter, keys.wait, nonce,
                        prev,    c->identity,  ttl,       BATON_REDIS_FRESH_KEY};
  name_call nc;
  vote_tally vs;
  vote_all(s, &nc, args, 8, deadline, "acquire", &vs);
  size_t answered = vs.answered, yes = vs.yes, no = vs.no;
  uint64_t token = vs.token;
  int64_t *pttl = vs.pttl, *counts_after = vs.counts_after;
  baton_leader who = vs.who;
  bool who_ours = vs.who_ours;
  unsigned failed = vs.failed, said_no = vs.said_no, yes_now = vs.yes_now;
  /* A quorum of yes votes, but some count only later: the quorum-th
   * soonest time. Keep every key of ours (the attempt stays pending, so
   * the look then votes with the same nonce), and look again at that
   * time; a vote from a fresh instance is only ever counted after it. */
  if (yes >= s->quorum) {
    int64_t wait_ms = quorum_th(s, counts_after);
    if (wait_ms > 0) {
      p->splits = 0;
      /* A yes that counts at once set its key for a TTL, and the wait can
       * be TTL + 1 s: make it last the wait and a TTL, as a waiting
       * instance's key does, so that it is still ours at that look. */
      if (yes_now != 0)
        extend_votes(s, c->name, nonce, s->base.cfg->ttl_ns / BATON_NS_PER_MS + wait_ms,
                     ~yes_now, deadline);
      return baton__redis_wait_term(&s->state_mu, &p->r, baton__now(), wait_ms, s->label,
                                    c->name,
                                    "the quorum needs the vote of an instance that started",
                                    holder, err);
    }
  }
  /* Phase 2 leaves out the instances that just failed: each would cost
   * its bound again, and a quorum of acknowledgements is all it needs. */
  if (yes >= s->quorum) {
    rc = fence(s, c->name, c->identity, nonce, token, failed, deadline, err);
    if (rc == 0) {
      baton__redis_settle(&s->state_mu, &p->r, true, false);
      c->token = token;
      p->r.recheck_at = 0;
      p->splits = 0;
      return 0;
    }
  }
  /* No term: the instances that said yes let go at once. Those whose
   * answer was lost are not asked again now (each would cost its bound):
   * the attempt stays pending, so the next acquire (same nonce) or
   * release settles them, and meanwhile a key of ours there expires. */
  size_t released = yes > 0 ? release_all(s, c->name, nonce, "", failed | said_no, deadline) : 0;
  baton__redis_settle(&s->state_mu, &p->r, false, released < yes || failed != 0);
  if (yes >= s->quorum) return rc; /* the fence failed: its error */
  if (no == 0 || yes > 0) __atomic_fetch_add(&s->no_quorum, 1, __ATOMIC_RELAXED);
  if (no == 0)
    return quorum_error(s, nc.ops, answered, "acquire", c->name, err);
  int64_t now = baton__now();
  int64_t after = quorum_free_after(s, pttl);
  if (!who_ours && after > BATON_REDLOCK_FOREIGN_POLL_NS) after = BATON_REDLOCK_FOREIGN_POLL_NS;
  if (yes > 0) {
    /* A split vote: the contenders released and published. The next look
     * comes after a jittered back-off that grows with the splits in a
     * row, and messages do not cut it short (deaf): each contender's
     * release would wake every other at once, and they would split
     * again. */
    int64_t jitter = baton__config_backoff(s->base.cfg, p->splits < 16 ? p->splits++ : 16);
    if (jitter < after) after = jitter;
    p->deaf = true;
  } else {
    p->splits = 0;
  }
  p->r.recheck_at = now + after;
  if (holder != NULL) *holder = who;
  return baton__error(err, BATON_EHELD,
                      "%s: '%s' is held by '%.64s' (token %llu): %zu of %zu instances voted "
                      "for us, %zu needed",
                      s->label, c->name, who.identity, (unsigned long long)who.token, yes, s->n,
                      s->quorum);
}

/* ---- renew and release --------------------------------------------------- */

/* Every held name in one pipelined batch per instance (a script call per
 * BATON_REDIS_RENEW_CHUNK names), all instances at once; a name is still
 * ours where a quorum renewed it. */
static int renew(baton_session *bs, baton_candidate *const *held, size_t n, bool *gone,
                 int64_t deadline, baton_error *err) {
  baton_redlock_session *s = session_of(bs);
  int rc = baton__redis_check_held(s, held, n, gone, "redlock", err);
  if (rc != 0 || n == 0) return rc;
  baton_redis_renewal w;
  rc = baton__redis_renewal_init(&w, &s->state_mu, s->base.cfg, held, n);
  size_t per = w.chunks, argc = 4 * w.chunks + 2 * n;
  baton_redis_call *calls = NULL;
  const char **argv = NULL;
  baton_redis_cmd *cmds = NULL;
  redisReply **out = NULL;
  bool *still = NULL;
  uint8_t *votes = NULL;
  if (rc == 0) {
    calls = baton__calloc(s->n * per, sizeof *calls);
    argv = baton__calloc(s->n * argc, sizeof *argv);
    cmds = baton__calloc(s->n * per, sizeof *cmds);
    out = baton__calloc(s->n * per, sizeof *out);
    still = baton__calloc(n, sizeof *still);
    votes = baton__calloc(n, sizeof *votes);
    if (!calls || !argv || !cmds || !out || !still || !votes) rc = BATON_ENOMEM;
  }
  if (rc != 0) {
    rc = baton__error(err, rc, "redlock: renew: out of memory");
  } else {
    for (size_t i = 0; i < s->n; i++)
      baton__redis_renewal_copy(&w, calls + i * per, argv + i * argc);
    baton_redlock_op ops[BATON_URI_MAX_HOSTS];
    /* A batch of many names takes the servers longer: twice the bound. */
    fan_plan f = {.renewer = true, .deadline = deadline, .factor = 2, .what = "renew"};
    size_t answered = eval_all(s, &f, BATON_REDIS_SCRIPT_RENEW, calls, per, cmds, out, ops);
    for (size_t i = 0; i < s->n; i++) {
      if (ops[i].rc != 0) continue;
      if (!baton__redis_renewal_read(&w, out + i * per, still)) {
        ops[i].rc = baton__redis_bad_reply(&s->inst[i], "renew", &ops[i].err);
        answered--;
        continue;
      }
      for (size_t j = 0; j < n; j++) votes[j] += still[j];
    }
    if (answered < s->quorum) rc = quorum_error(s, ops, answered, "renew", NULL, err);
    for (size_t j = 0; rc == 0 && j < n; j++) gone[j] = votes[j] < s->quorum;
    free_outs(ops, s->n);
  }
  baton__free(votes);
  baton__free(still);
  baton__free(out);
  baton__free(cmds);
  baton__free(argv);
  baton__free(calls);
  baton__redis_renewal_free(&w);
  return rc;
}

static int release(baton_session *bs, baton_candidate *c, int64_t deadline, baton_error *err) {
  baton_redlock_session *s = session_of(bs);
  int rc = baton__redis_check_candidate(bs, c, "redlock", "release", err);
  if (rc != 0) return rc;
  baton_redlock_cand *p = c->priv;
  char cur[BATON_REDIS_NONCE_LEN + 1], prev[BATON_REDIS_NONCE_LEN + 1];
  if (p == NULL || !baton__redis_release_nonces(&s->state_mu, &p->r, cur, prev))
    return 0; /* nothing of ours can be there */
  name_call nc;
  const char *args[] = {c->name, cur, prev};
  fan_plan f = {.deadline = deadline, .factor = 1, .what = "release"};
  size_t answered = call_name(s, &nc, BATON_REDIS_SCRIPT_RELEASE, args, 3, 1, &f);
  free_outs(nc.ops, s->n);
  /* Where it did not get through, our key expires by its TTL; the attempt
   * is settled once every instance answered, or at least a quorum (then
   * no one could believe in it any more). */
  if (answered < s->quorum) return quorum_error(s, nc.ops, answered, "release", c->name, err);
  baton__redis_settle(&s->state_mu, &p->r, false, false);
  return 0;
}

/* ---- leader and wait ----------------------------------------------------- */

/* read_holder's reply with NAME/value, each instance's (after GET and
 * PTTL of NAME, and PTTL of NAME/wait). */
#define VALUE_REPLY 3

/* The value of the holder whose lock value is `lock`: the same NAME/value
 * on a quorum of the instances whose lock value counted (group[i], as
 * read_holder has it) and is `lock`, of the holder's term (its token);
 * else version 0 and "". */
static void holder_value(const baton_redlock_session *s, redisReply *(*r)[VALUE_REPLY + 1],
                         const char *const *group, const char *lock, baton_leader *out,
                         char *value, size_t size, size_t *len) {
  for (size_t i = 0; i < s->n; i++) {
    const redisReply *v = r[i][VALUE_REPLY];
    if (group[i] == NULL || strcmp(group[i], lock) != 0 || v->type != REDIS_REPLY_STRING) continue;
    size_t votes = 0;
    for (size_t j = 0; j < s->n; j++) {
      const redisReply *w = r[j][VALUE_REPLY];
      votes += group[j] != NULL && strcmp(group[j], lock) == 0 && w->type == REDIS_REPLY_STRING &&
               w->len == v->len && memcmp(w->str, v->str, v->len) == 0;
    }
    const char *from;
    size_t n;
    if (votes >= s->quorum && baton__redis_value_read(v, out->token, &out->version, &from, &n)) {
      baton__value_copy(value, size, len, from, n);
      return;
    }
  }
}

/* Who holds `name` on a quorum now: 1 with *out and the smallest PTTL of
 * its keys (-1: no expiry), 0 when nobody does, or an error. GET and PTTL
 * to every instance, in parallel. Only the same whole value on a quorum
 * counts: a term's keys carry their instance's own token until the fence
 * writes T to a quorum, so a term is shown once fenced, with T (never a
 * greater phase-1 token left on one instance). An instance whose NAME/wait
 * lives (PTTL pipelined too) is left out: its key belongs to a term that
 * waits out its restart (script.c) and may not count yet, and identical
 * phase-1 values on a quorum would otherwise show that unfenced term.
 * NAME/value comes in the same pipeline: the term's version in out and
 * its value into value[0..size) (may be NULL), *len its length (may be
 * NULL), when a quorum of those instances holds the same (holder_value). */
static int read_holder(baton_redlock_session *s, const char *name, baton_leader *out,
                       int64_t *pttl_ms, char *value, size_t size, size_t *len, int64_t deadline,
                       baton_error *err) {
  baton_redis_keys keys;
  baton__redis_keys(&keys, name);
  char value_key[BATON_NAME_MAX + 16];
  baton__redis_value_key(value_key, sizeof value_key, name);
  const char *get[] = {"GET", name}, *pttl[] = {"PTTL", name}, *wait[] = {"PTTL", keys.wait},
             *get_value[] = {"GET", value_key};
  baton_redis_cmd cmds[VALUE_REPLY + 1] = {{2, get}, {2, pttl}, {2, wait}, {2, get_value}};
  redisReply *r[BATON_URI_MAX_HOSTS][VALUE_REPLY + 1];
  baton__value_copy(value, size, len, "", 0);
  baton_redlock_op ops[BATON_URI_MAX_HOSTS];
  int64_t bound = vote_deadline(s, deadline, 1);
  for (size_t i = 0; i < s->n; i++)
    ops[i] = (baton_redlock_op){.s = &s->inst[i], .k = &s->inst[i].cmd, .cmds = cmds,
                                .ncmds = VALUE_REPLY + 1, .out = r[i], .deadline = bound,
                                .what = "leader"};
  baton__redlock_fan(ops, s->n);
  size_t answered = 0;
  const char *group[BATON_URI_MAX_HOSTS] = {NULL};
  for (size_t i = 0; i < s->n; i++) {
    if (ops[i].rc != 0) continue;
    if (r[i][0]->type == REDIS_REPLY_ERROR) {
      ops[i].rc = baton__redis_reply_error(&s->inst[i], r[i][0], "leader", &ops[i].err);
      continue;
    }
    answered++;
    if (r[i][0]->type != REDIS_REPLY_STRING || r[i][1]->type != REDIS_REPLY_INTEGER) continue;
    if (r[i][2]->type != REDIS_REPLY_INTEGER || r[i][2]->integer > 0) continue;
    group[i] = r[i][0]->str;
  }
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < s->n; i++) {
    if (group[i] == NULL) continue;
    size_t votes = 0;
    for (size_t j = 0; j < s->n; j++) votes += group[j] != NULL && strcmp(group[j], group[i]) == 0;
    if (votes < s->quorum) continue;
    memset(out, 0, sizeof *out);
    *pttl_ms = -1;
    for (size_t j = 0; j < s->n; j++) {
      if (group[j] == NULL || strcmp(group[j], group[i]) != 0) continue;
      baton__redis_parse_value(out, r[j][0]->str, r[j][0]->len);
      int64_t left = r[j][1]->integer;
      if (left >= 0 && (*pttl_ms < 0 || left < *pttl_ms)) *pttl_ms = left;
    }
    holder_value(s, r, group, group[i], out, value, size, len);
    rc = 1;
  }
  free_outs(ops, s->n);
  if (rc == 0 && answered < s->quorum)
    return quorum_error(s, ops, answered, "leader", name, err);
  return rc;
}

/* leader and leader_value. */
static int read_leader(baton_session *bs, const char *name, baton_leader *out, char *value,
                       size_t size, size_t *len, int64_t deadline, baton_error *err) {
  baton_redlock_session *s = session_of(bs);
  if (s == NULL || out == NULL)
    return baton__error(err, BATON_EINVAL, "redlock: leader: NULL argument");
  int rc = baton_election_name_check(name, err);
  if (rc != 0) return rc;
  baton_leader who;
  int64_t pttl;
  rc = read_holder(s, name, &who, &pttl, value, size, len, deadline, err);
  if (rc < 0) return rc;
  if (rc == 0)
    return baton__error(err, BATON_ENOLEADER, "%s: '%s' has no leader on a quorum", s->label,
                        name);
  *out = who;
  return 0;
}

static int leader(baton_session *bs, const char *name, baton_leader *out, int64_t deadline,
                  baton_error *err) {
  return read_leader(bs, name, out, NULL, 0, NULL, deadline, err);
}

static int leader_value(baton_session *bs, const char *name, baton_leader *out, char *value,
                        size_t size, size_t *len, int64_t deadline, baton_error *err) {
  return read_leader(bs, name, out, value, size, len, deadline, err);
}

/* ---- proclaim -------------------------------------------------------------- */

/* The proclaim script (backends/redis/proclaim.c) on every instance, with
 * the same "<token> <version> <value>" everywhere: it lands where the key
 * still holds our nonce, and the proclaim succeeds when a quorum wrote it
 * (leader shows a value only from a quorum). A quorum of "not ours" out of
 * reach is BATON_ENOTHOLDER. One round trip, fanned out. */
static int proclaim(baton_session *bs, baton_candidate *c, const char *value, int64_t deadline,
                    baton_error *err) {
  baton_redlock_session *s = session_of(bs);
  baton_redis_proclaim a;
  int rc = baton__redis_proclaim_args(&a, bs, &s->state_mu, c, value, "redlock", s->label, err);
  if (rc != 0) return rc;
  name_call nc;
  fan_plan f = {.deadline = deadline, .factor = 1, .what = "proclaim"};
  size_t answered = call_name(s, &nc, BATON_REDIS_SCRIPT_PROCLAIM, a.args, 6, 2, &f);
  size_t wrote = 0, refused = 0;
  for (size_t i = 0; i < s->n; i++) {
    if (nc.ops[i].rc != 0) continue;
    int said = baton__redis_proclaim_read(nc.out[i]);
    if (said < 0) {
      nc.ops[i].rc = baton__redis_bad_reply(&s->inst[i], "proclaim", &nc.ops[i].err);
      answered--;
    }
    wrote += said == 1;
    refused += said == 0;
  }
  free_outs(nc.ops, s->n);
  if (wrote >= s->quorum) return 0;
  if (refused > s->n - s->quorum)
    return baton__error(err, BATON_ENOTHOLDER,
                        "%s: proclaim: '%s' is ours on %zu of %zu instances, %zu needed",
                        s->label, c->name, wrote, s->n, s->quorum);
  return quorum_error(s, nc.ops, answered, "proclaim", c->name, err);
}

/* No queue on Redis masters: the holder a quorum agrees on, with the
 * least PTTL of that quorum. */
static int contenders(baton_session *bs, const char *name, baton_contender *out, size_t cap,
                      size_t *n, int64_t deadline, baton_error *err) {
  baton_leader who;
  int64_t pttl = -1;
  *n = 0;
  int rc = read_holder(session_of(bs), name, &who, &pttl, NULL, 0, NULL, deadline, err);
  return rc < 0 ? rc : baton__contenders_holder(rc, &who, pttl, out, cap, n);
}

/* Subscribe on every instance without one, each within its bound: the
 * SUBSCRIBEs all go out before any confirmation is awaited, so the
 * instances answer in parallel on one thread (the client's thread count
 * stays flat however many names subscribe); only a connect, the first
 * time or after a subscriber broke, is made one instance after the other
 * (a paused instance costs its bound). One is enough to be woken (a
 * release publishes on every instance it reaches); none is an error. */
static int subscribe_all(baton_redlock_session *s, baton_candidate *c, baton_redlock_cand *p,
                         int64_t deadline, baton_error *err) {
  baton_redlock_op ops[BATON_URI_MAX_HOSTS];
  uint64_t epochs[BATON_URI_MAX_HOSTS] = {0};
  bool todo[BATON_URI_MAX_HOSTS] = {false};
  int64_t bound = vote_deadline(s, deadline, 1);
  for (size_t i = 0; i < s->n; i++) {
    ops[i] = (baton_redlock_op){.rc = 0};
    todo[i] = p->subs[i].epoch == 0;
    if (todo[i])
      ops[i].rc = baton__redis_sub_send(&p->subs[i], &s->inst[i], c->name, !p->r.acquired,
                                        &epochs[i], bound, &ops[i].err);
  }
  size_t live = 0;
  for (size_t i = 0; i < s->n; i++) {
    if (todo[i] && ops[i].rc == 0)
      ops[i].rc = baton__redis_sub_confirm(&p->subs[i], &s->inst[i], epochs[i], bound,
                                           &ops[i].err);
    live += p->subs[i].epoch != 0;
  }
  if (live == 0) return quorum_error(s, ops, 0, "subscribe", c->name, err);
  return 0;
}

/* An observer's look: 1 when the leader on a quorum differs from `seen`
 * (NULL or token 0 with no identity = none); 0 when it does not, with
 * *until, when to look again without a message: the leader's expiry (a
 * crashed holder sends nothing), sooner for a foreign holder; or an
 * error. */
static int observer_look(baton_redlock_session *s, baton_candidate *c, const baton_leader *seen,
                         int64_t *until, int64_t deadline, baton_error *err) {
  static const baton_leader none;
  baton_leader cur;
  int64_t pttl = -1;
  int rc = read_holder(s, c->name, &cur, &pttl, NULL, 0, NULL, deadline, err);
  if (rc < 0) return rc;
  if (!baton__same_leader(rc == 1 ? &cur : &none, seen != NULL ? seen : &none)) return 1;
  int64_t ttl = s->base.cfg->ttl_ns, after = ttl;
  if (rc == 1 && pttl >= 0 && pttl < ttl / BATON_NS_PER_MS) after = pttl * BATON_NS_PER_MS;
  if (rc == 1 && cur.token == 0 && after > BATON_REDLOCK_FOREIGN_POLL_NS)
    after = BATON_REDLOCK_FOREIGN_POLL_NS;
  *until = baton__now() + after + BATON_REDLOCK_RECHECK_SLACK_NS;
  return 0;
}

/* An observer's wait: until the leader on a quorum differs from `seen`
 * (NULL or token 0 with no identity = none), looked at when a message
 * comes (a release or an election publishes on every instance, so one
 * change brings up to n messages: those about the same leader are passed
 * over) and at the leader's expiry (a crashed holder sends nothing). */
static int observe(baton_redlock_session *s, baton_candidate *c, baton_redlock_cand *p,
                   const baton_leader *seen, int64_t deadline, int cancel_fd, baton_error *err) {
  int rc = 0;
  int64_t until = deadline;
  for (size_t looks = 0; looks < 2 * s->n + 1; looks++) {
    if (look_subs(s, p) == 0) return 0; /* all gone: subscribe anew */
    if ((rc = observer_look(s, c, seen, &until, deadline, err)) != 0) return rc < 0 ? rc : 0;
    rc = baton__redis_sub_wait(p->subs, s->inst, s->n, until < deadline ? until : deadline,
                               cancel_fd);
    if (rc != 1) break;
  }
  return baton__wait_end(baton__redis_woken(rc), until, deadline, &p->r.recheck_at, s->label, c->name,
                        err);
}

static int wait_change(baton_session *bs, baton_candidate *c, const baton_leader *seen,
                       int64_t deadline, int cancel_fd, baton_error *err) {
  baton_redlock_session *s = session_of(bs);
  baton_redlock_cand *p = NULL;
  int rc = cand_state(&p, bs, c, "wait", err);
  if (rc == 0) rc = baton__wait_begin(s->label, c->name, deadline, cancel_fd, err);
  if (rc != 0) return rc;
  /* The first wait subscribes and returns at once: the caller looks again
   * with the subscriptions in place. So does the first after every
   * subscriber was lost. */
  bool subscribed = false;
  for (size_t i = 0; i < s->n; i++) subscribed |= p->subs[i].epoch != 0;
  if (!subscribed) return subscribe_all(s, c, p, deadline, err);
  if (!p->r.acquired) return observe(s, c, p, seen, deadline, cancel_fd, err);
  int64_t until = p->r.recheck_at != 0 ? p->r.recheck_at : baton__now() + s->base.cfg->ttl_ns;
  if (p->deaf) {
    /* After a split vote: only a cancel ends the back-off early. */
    p->deaf = false;
    rc = baton__wait_for_cancel(cancel_fd, until < deadline ? until : deadline);
  } else {
    rc = baton__redis_sub_wait(p->subs, s->inst, s->n, until < deadline ? until : deadline,
                               cancel_fd);
  }
  return baton__wait_end(baton__redis_woken(rc), until, deadline, &p->r.recheck_at, s->label, c->name,
                        err);
}

/* The table's watch: wait's rules without a thread, on every instance's
 * subscriber. A candidate is woken by the quorum-th copy of a release
 * (the hubs share `served`), an observer by the first copy of a message
 * (the later ones find it woken). A candidate looks again at the
 * time its last acquire named; after a split vote it is not armed at
 * all, so that the back-off runs out whatever is published (as wait's
 * `deaf`). An observer reads the leader on a quorum here, as wait does. */
static int watch(baton_session *bs, baton_candidate *c, const baton_leader *seen,
                 baton_wake_fn wake, void *ctx, int64_t *recheck_at, int64_t deadline,
                 baton_error *err) {
  baton_redlock_session *s = session_of(bs);
  baton_redlock_cand *p = NULL;
  int rc = cand_state(&p, bs, c, "watch", err);
  if (rc == 0 && (wake == NULL || recheck_at == NULL))
    rc = baton__error(err, BATON_EINVAL, "redlock: watch: NULL argument");
  if (rc != 0) return rc;
  bool subscribed = false;
  for (size_t i = 0; i < s->n; i++) subscribed |= p->subs[i].epoch != 0;
  /* As a wait, the first subscribes; then a candidate looks again, while
   * an observer's look is the read below. */
  if (!subscribed && (rc = subscribe_all(s, c, p, deadline, err)) != 0) return rc;
  if (p->r.acquired) {
    *recheck_at = p->r.recheck_at != 0 ? p->r.recheck_at : baton__now() + s->base.cfg->ttl_ns;
    if (!subscribed) {
      baton__redis_watch_now(wake, ctx, recheck_at, s->base.cfg);
      return 0;
    }
    if (p->deaf) {
      p->deaf = false;
      return 0;
    }
  } else {
    if (look_subs(s, p) == 0 || (rc = observer_look(s, c, seen, recheck_at, deadline, err)) == 1) {
      /* gone (subscribe anew), or the leader differs */
      baton__redis_watch_now(wake, ctx, recheck_at, s->base.cfg);
      return 0;
    }
    if (rc != 0) return rc;
  }
  baton__redis_arm(&p->r.watch, p->subs, s->inst, s->n, p->r.acquired, wake, ctx);
  return 0;
}

static void unwatch(baton_session *bs, baton_candidate *c) {
  if (bs == NULL || c == NULL || c->priv == NULL) return;
  baton_redlock_cand *p = c->priv;
  baton__redis_unwatch(&p->r.watch, p->subs, session_of(bs)->inst, session_of(bs)->n);
}

static void forget(baton_session *bs, baton_candidate *c) {
  if (c == NULL || c->priv == NULL) return;
  baton_redlock_cand *p = c->priv;
  unwatch(bs, c);
  for (size_t i = 0; bs != NULL && i < session_of(bs)->n; i++)
    baton__redis_sub_close(&p->subs[i], &session_of(bs)->inst[i]);
  baton__free(c->priv);
  c->priv = NULL;
}

static void servers(baton_session *bs, baton_server_stats *out, size_t cap, size_t *n,
                    uint64_t *no_quorum) {
  const baton_redlock_session *s = session_of(bs);
  *n = s->n;
  *no_quorum += __atomic_load_n(&s->no_quorum, __ATOMIC_RELAXED);
  for (size_t i = 0; i < s->n && i < cap; i++) {
    const baton_redis_session *in = &s->inst[i];
    snprintf(out[i].address, sizeof out[i].address, "%s:%d", in->host, in->port);
    out[i].answered += __atomic_load_n(&in->answered, __ATOMIC_RELAXED);
    out[i].failed += __atomic_load_n(&in->failed, __ATOMIC_RELAXED);
  }
}

/* ---- fixed leases ------------------------------------------------------------ */

/* A lease is a term on a quorum, taken as acquire takes one (the votes and
 * the fence, so its token is the quorum register's) with a nonce nobody
 * keeps: never waiting, never queued, and every key of ours undone when
 * it is refused. Its life is counted by the core from before the first
 * request. Extend and release go to every instance and know the lease by
 * its token (the fence wrote it into the value); they succeed on a quorum. */
static int lease_acquire(baton_session *bs, const char *name, const char *identity,
                         int64_t ttl_ns, uint64_t *token, baton_leader *holder, int64_t deadline,
                         baton_error *err) {
  baton_redlock_session *s = session_of(bs);
  if (s == NULL || name == NULL)
    return baton__error(err, BATON_EINVAL, "redlock: lease_acquire: NULL argument");
  int rc = baton_election_name_check(name, err);
  if (rc != 0) return rc;
  baton_redis_lease_args a;
  baton__redis_lease_args(&a, s->base.cfg, name, identity, ttl_ns);
  const char *nonce = a.nonce;
  name_call nc;
  vote_tally v;
  vote_all(s, &nc, a.args, 9, deadline, "lease_acquire", &v);
  /* Only votes that count at once make a lease. */
  size_t now_yes = 0;
  for (size_t i = 0; i < s->n; i++) now_yes += (v.yes_now >> i) & 1u;
  if (now_yes >= s->quorum) {
    rc = fence(s, name, identity, nonce, v.token, v.failed, deadline, err);
    if (rc == 0) {
      *token = v.token;
      return 0;
    }
  }
  /* Refused: our keys go at once (where the answer was lost, ours expires
   * at the lease's TTL). */
  if (v.yes > 0) (void)release_all(s, name, nonce, "", v.failed | v.said_no, deadline);
  if (holder != NULL) memset(holder, 0, sizeof *holder);
  if (now_yes >= s->quorum) return rc; /* the fence failed: its error */
  if (v.no == 0 || v.yes > 0) __atomic_fetch_add(&s->no_quorum, 1, __ATOMIC_RELAXED);
  if (v.no == 0 && v.yes < s->quorum)
    return quorum_error(s, nc.ops, v.answered, "lease_acquire", name, err);
  if (v.no == 0)
    return baton__error(err, BATON_EHELD,
                        "%s: '%s' is not free yet: the quorum needs the vote of an instance "
                        "that started less than a TTL ago (a restart that lost the data, or a "
                        "first use), and a holder from before may still believe until then",
                        s->label, name);
  if (holder != NULL) *holder = v.who;
  return baton__error(err, BATON_EHELD,
                      "%s: '%s' is held by '%.64s' (token %llu): %zu of %zu instances voted "
                      "for us, %zu needed",
                      s->label, name, v.who.identity, (unsigned long long)v.who.token, now_yes,
                      s->n, s->quorum);
}

/* A lease script on every instance: 0 when a quorum found the lease
 * theirs, BATON_ENOTHOLDER when a quorum answered but fewer did, else the
 * quorum's error. */
static int lease_call(baton_redlock_session *s, baton_redis_script script, const char *name,
                      uint64_t token, int64_t ttl_ns, int64_t deadline, const char *what,
                      baton_error *err) {
  if (s == NULL || name == NULL)
    return baton__error(err, BATON_EINVAL, "redlock: %s: NULL argument", what);
  int rc = baton_election_name_check(name, err);
  if (rc != 0) return rc;
  char tok[24], ttl[24];
  snprintf(tok, sizeof tok, "%llu", (unsigned long long)token);
  snprintf(ttl, sizeof ttl, "%lld", (long long)(ttl_ns / BATON_NS_PER_MS));
  const char *args[] = {name, tok, ttl};
  name_call nc;
  fan_plan f = {.deadline = deadline, .factor = 1, .what = what};
  size_t answered = call_name(s, &nc, script, args, ttl_ns > 0 ? 3 : 2, 1, &f);
  size_t ours = 0;
  for (size_t i = 0; i < s->n; i++) {
    if (nc.ops[i].rc != 0) continue;
    if (nc.out[i]->type != REDIS_REPLY_INTEGER) {
      nc.ops[i].rc = baton__redis_bad_reply(&s->inst[i], what, &nc.ops[i].err);
      answered--;
    } else {
      ours += nc.out[i]->integer == 1;
    }
  }
  free_outs(nc.ops, s->n);
  if (ours >= s->quorum) return 0;
  if (answered < s->quorum) return quorum_error(s, nc.ops, answered, what, name, err);
  return baton__error(err, BATON_ENOTHOLDER,
                      "%s: %s: the lease of token %llu on '%s' is on %zu of %zu instances, %zu "
                      "needed (it expired, was released, or another holds the name)",
                      s->label, what, (unsigned long long)token, name, ours, s->n, s->quorum);
}

static int lease_extend(baton_session *bs, const char *name, uint64_t token, int64_t ttl_ns,
                        int64_t deadline, baton_error *err) {
  if (ttl_ns < BATON_NS_PER_MS)
    return baton__error(err, BATON_EINVAL, "redlock: lease_extend: a TTL under 1 ms");
  return lease_call(session_of(bs), BATON_REDIS_SCRIPT_LEASE_EXTEND, name, token, ttl_ns,
                    deadline, "lease_extend", err);
}

static int lease_release(baton_session *bs, const char *name, uint64_t token, int64_t deadline,
                         baton_error *err) {
  return lease_call(session_of(bs), BATON_REDIS_SCRIPT_LEASE_RELEASE, name, token, 0, deadline,
                    "lease_release", err);
}

static const char *const schemes[] = {BATON_SCHEMES_redlock, NULL};

const baton_backend baton_backend_redlock = {
    .schemes = schemes,
    .caps = BATON_CAP_TERM_TTL,
    .open = session_open,
    .close = session_close,
    .acquire = acquire,
    .wait = wait_change,
    .release = release,
    .renew = renew,
    .leader = leader,
    .forget = forget,
    .contenders = contenders,
    .proclaim = proclaim,
    .leader_value = leader_value,
    .servers = servers,
    .lease_acquire = lease_acquire,
    .lease_extend = lease_extend,
    .lease_release = lease_release,
    .watch = watch,
    .unwatch = unwatch,
};
