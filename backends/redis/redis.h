/* redis.h — what the files of the redis:// backend share: the session, a
 * connection, a candidate's state, and the functions each file offers.
 * Internal to backends/redis/.
 *
 * Layout on the server for a name NAME (names never contain '/', so no two
 * names share a key or a channel):
 *   NAME           the lock: "<token> <nonce> <identity>", PX = the TTL
 *                  (the same key redis-py's Lock and `SET NX PX` use)
 *   NAME/token     the fencing counter, never expires
 *   NAME/wait      present while a new term of NAME must wait after the
 *                  server (re)started; expires when it may begin
 *   NAME/value     the proclaimed value: "<token> <version> <value>",
 *                  shown only while NAME holds that token (proclaim.c)
 *   baton:fresh    the fresh-server marker: holds the server's run_id when
 *                  no holder existed in this server life (script.c)
 *   NAME/released  channel: published to by release
 *   NAME/elected   channel: published to by a winning acquire
 */
#ifndef BATON_REDIS_H
#define BATON_REDIS_H

#include "backend.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define BATON_REDIS_NONCE_LEN 32 /* hex digits of a candidate's nonce */
#define BATON_REDIS_LABEL_MAX 300
/* Names one renewal script takes at the most. A script holds the server
 * while it runs (2-4 us per name here): 10,000 names in one call stalled
 * every other client of that Redis for 30-40 ms, 500 do for about 2 ms. */
#define BATON_REDIS_RENEW_CHUNK 500

/* How long after the holder's expiry a waiter looks again. The server drops
 * an expired key at the latest when it is next read, and our look reads it,
 * so this only covers the reply's travel time. */
#define BATON_REDIS_RECHECK_SLACK_NS (10 * BATON_NS_PER_MS)

/* One connection, used by one thread at a time. */
typedef struct baton_redis_conn {
  pthread_mutex_t mu; /* held for a whole request */
  redisContext *ctx;  /* NULL until connected and after a failed request */
  int64_t used;       /* baton__now() when the last request ended */
  bool lost;          /* dropped after it worked: its reconnect is logged */
} baton_redis_conn;

typedef struct baton_redis_hub baton_redis_hub; /* sub.c */

/* What the hubs of one deployment of several servers share (redlock://,
 * over its instances' hubs): the releases heard, by name and attempt,
 * and on how many instances. A release frees the name on a quorum only
 * once a quorum of instances have run it, so candidates are woken by its
 * quorum-th copy: woken by the first, one would vote while the others
 * still hold the old key, fail, release in turn and wake the next, on and
 * on (conformance saw 1,400 attempts for one release). A slot per hash of
 * the name keeps its last few releases; a name that takes another's slot
 * costs at most a wake more. */
#define BATON_REDIS_SERVED_SLOTS 1024
#define BATON_REDIS_SERVED_KEEP 8
typedef struct baton_redis_served {
  pthread_mutex_t mu; /* taken under a hub's lock, never the other way */
  unsigned quorum;    /* copies of a release that wake a candidate */
  struct {
    uint64_t name;                             /* hash; 0 = empty */
    uint64_t value[BATON_REDIS_SERVED_KEEP];   /* hashes of its last releases */
    unsigned copies[BATON_REDIS_SERVED_KEEP];  /* instances that published each */
    unsigned next;                             /* the one to replace next */
  } slot[BATON_REDIS_SERVED_SLOTS];
} baton_redis_served;

typedef struct baton_redis_session {
  baton_session base;        /* first: the core's view */
  char *host;                /* owned */
  int port;                  /* 1..65535 */
  long db;                   /* SELECTed after connecting when not 0 */
  char *user;                /* owned, NULL when none */
  char *password;            /* owned, NULL when none; wiped on close */
  char label[BATON_REDIS_LABEL_MAX]; /* "redis://host:port" for messages */
  baton_redis_conn cmd;      /* the callers' requests */
  baton_redis_conn renewer;  /* renew only, so a slow caller never delays it */
  pthread_mutex_t state_mu;  /* guards every candidate's baton_redis_cand fields
                                except `sub`, which only wait/acquire/forget
                                touch (never concurrently, says the core) */
  baton_redis_hub *hub;      /* owned: the one subscriber connection every
                                wait of this session shares (sub.c) */
  /* NULL, or where the server is now, asked at every connect instead of
   * host/port: redis-sentinel:// moves the session to a new master. */
  void (*locate)(const struct baton_redis_session *s, char *host, size_t size, int *port);
  /* Requests fanned out to this instance by redlock:// (fan.c), answered
   * or not by their bound: what baton_client_read_servers reports.
   * Atomic. */
  uint64_t answered, failed;
} baton_redis_session;

/* A candidate's one-shot subscription (the table's watch), shared by its
 * places on every hub it listens on (one for redis://, one per instance
 * for redlock://). Whoever turns `armed` from 1 to 0 owns the one wake:
 * a hub's reader (then it calls wake under that hub's lock), or unwatch. */
typedef struct baton_redis_watch {
  baton_wake_fn wake; /* what to call; written only while disarmed */
  void *ctx;          /* its argument */
  bool candidate;     /* a candidate (a release wakes one of them per hub),
                         not an observer (always woken); fixed once set */
  int armed;          /* atomic: 1 while armed */
} baton_redis_watch;

/* A watch's place in the list of armed watches of one channel (sub.c,
 * under the hub's lock). */
typedef struct baton_redis_arm {
  baton_redis_watch *w;               /* NULL: not listed */
  struct baton_redis_arm *prev, *next;
} baton_redis_arm;

/* A candidate's interest in the channels of its name, on a session's
 * shared subscriber (sub.c). Zero: none. */
typedef struct baton_redis_sub {
  struct baton_redis_chan *chan[2]; /* NAME/released, and for an observer
                                       NAME/elected; counted references */
  uint64_t epoch;                   /* the subscriber's epoch it was confirmed
                                       on; 0 = not subscribed (or found gone) */
  uint64_t seen;                    /* messages of its channels at the last
                                       look: more mean "look again" */
  baton_redis_arm arm[2];           /* its places among chan[i]'s armed
                                       watches (hub's lock) */
  bool owes;                        /* a release woke this candidate alone:
                                       leaving before it looks, it passes the
                                       wake on to the next (hub's lock) */
} baton_redis_sub;

/* A candidate's state, the first member of every Redis-family
 * baton_candidate.priv (baton_redis_one, baton_redlock_cand): renewals
 * and proclaims read it there. */
typedef struct baton_redis_cand {
  char nonce[BATON_REDIS_NONCE_LEN + 1]; /* this attempt's nonce; while we lead,
                                            the key holds it. Fixed during a term:
                                            renew reads it. */
  char prev[BATON_REDIS_NONCE_LEN + 1];  /* nonce of our last won term that may
                                            still be on the server, or "" */
  bool pending;          /* an acquire with `nonce` went out and its outcome
                            is unknown (lost reply) */
  bool won;              /* `nonce` won a term (it may have ended since) */
  bool acquired;         /* acquire ran once: a candidate, not an observer */
  int64_t recheck_at;    /* when wait looks again: the holder's expiry as the
                            last acquire saw it (at most a TTL away), plus
                            slack; 0 = unknown */
  int64_t foreign_poll_ns; /* the next look's delay while a program that is
                              not baton holds the name (it publishes nothing
                              on release); 0 = the holder is ours or none */
  baton_redis_watch watch; /* its one-shot subscription (watch) */
  uint64_t value_token;  /* the term whose proclaims value_version counts */
  uint64_t value_version; /* proclaims of that term so far (proclaim.c) */
} baton_redis_cand;

/* A redis:// candidate's state (baton_candidate.priv): the shared part,
 * and its channels on the session's one subscriber (redlock:// keeps one
 * per instance instead; redis-sentinel:// extends this). */
typedef struct baton_redis_one {
  baton_redis_cand r;   /* first: renewals and proclaims read it */
  baton_redis_sub sub;  /* none until the first wait or watch */
} baton_redis_one;
_Static_assert(offsetof(baton_redis_one, r) == 0, "priv is read as a baton_redis_cand");

/* One command of a pipeline: argv[0..argc), NUL-terminated strings. */
typedef struct baton_redis_cmd {
  int argc;
  const char **argv;
} baton_redis_cmd;

/* ---- conn.c ------------------------------------------------------------ */

/* Connect to the session's server and log in (AUTH, SELECT, PING in one
 * round trip). TCP connect and log-in end by the earlier of `deadline`
 * (then BATON_ETIMEDOUT) and the connect timeout (then BATON_ECONNECT). */
int baton__redis_connect(redisContext **out, const baton_redis_session *s, int64_t deadline,
                         baton_error *err);

/* Send the commands in one write and read `nreplies` replies, all by
 * `deadline`. Error replies are returned as replies, not as errors. On an
 * error nothing is returned and the connection must be dropped: its state
 * is unknown. `what` names the operation in messages. */
int baton__redis_call(redisContext *ctx, const baton_redis_session *s, const baton_redis_cmd *cmds,
                      size_t ncmds, redisReply **replies, size_t nreplies,
                      int64_t deadline, const char *what, baton_error *err);

/* Read one reply by `deadline` (a pub/sub message, say). As _call. */
int baton__redis_recv(redisContext *ctx, const baton_redis_session *s, redisReply **out,
                      int64_t deadline, const char *what, baton_error *err);

/* Read whatever has arrived without blocking. Returns 0, or BATON_ECONNECT
 * when the server closed the connection or it broke (no message: callers
 * only need to know that it is gone). */
int baton__redis_read_ready(redisContext *ctx);

/* With k->mu held: make k's connection fit for a request (drop one that
 * the server closed while it was idle, connect when there is none). */
int baton__redis_conn_ready(baton_redis_session *s, baton_redis_conn *k, int64_t deadline,
                            baton_error *err);
/* With k->mu held: drop k's connection (its state is unknown). */
void baton__redis_conn_drop(baton_redis_conn *k);
/* With k->mu held: a request on k failed with `why` (may be NULL): the
 * connection is dropped, and a connection that was up is logged (WARN),
 * as its reconnect will be (INFO). */
void baton__redis_conn_failed(const baton_redis_session *s, baton_redis_conn *k,
                              const baton_error *why);

/* Send the commands in one write by `deadline`, reading nothing. */
int baton__redis_send(redisContext *ctx, const baton_redis_session *s, const baton_redis_cmd *cmds,
                      size_t ncmds, int64_t deadline, const char *what, baton_error *err);

/* One request on a shared connection: connect first when needed (also when
 * a connection unused for over a millisecond shows the server went away),
 * then _call. A failed request drops the connection, so the next one
 * reconnects. */
int baton__redis_request(baton_redis_session *s, baton_redis_conn *k, const baton_redis_cmd *cmds,
                         size_t ncmds, redisReply **replies, int64_t deadline,
                         const char *what, baton_error *err);

/* The error for a Redis error reply: BATON_EAUTH (NOAUTH, WRONGPASS,
 * NOPERM), BATON_ECONNECT (the server is loading or busy), otherwise
 * BATON_EREFUSED; the message quotes the reply. */
int baton__redis_reply_error(const baton_redis_session *s, const redisReply *r, const char *what,
                             baton_error *err);

/* BATON_EPROTO for a reply of an unexpected shape. */
int baton__redis_bad_reply(const baton_redis_session *s, const char *what, baton_error *err);

/* ---- script.c ---------------------------------------------------------- */

typedef enum baton_redis_script {
  BATON_REDIS_SCRIPT_ACQUIRE,
  BATON_REDIS_SCRIPT_RENEW,
  BATON_REDIS_SCRIPT_RELEASE,
  BATON_REDIS_SCRIPT_REDLOCK_VOTE,  /* redlock:// phase 1 */
  BATON_REDIS_SCRIPT_REDLOCK_FENCE, /* redlock:// phase 2 */
  BATON_REDIS_SCRIPT_PROCLAIM,      /* proclaim.c */
  BATON_REDIS_SCRIPT_LEASE_EXTEND,  /* lease.c */
  BATON_REDIS_SCRIPT_LEASE_RELEASE, /* lease.c */
  BATON_REDIS_SCRIPT_COUNT
} baton_redis_script;

/* One call of a script. baton__redis_eval fills argv[0..3) (command,
 * script, number of keys); the caller puts the keys, then the arguments, in
 * argv[3..argc). */
typedef struct baton_redis_call {
  const char **argv; /* argc strings */
  int argc;          /* 3 + keys + arguments */
  int nkeys;         /* keys from argv[3] on */
  char numkeys[12];  /* argv[2]'s text */
} baton_redis_call;

/* Run n calls of one script in one round trip: an EVALSHA each, all in one
 * write. The calls answered NOSCRIPT (the server's script cache is empty
 * after a restart or SCRIPT FLUSH) go again as EVAL, which caches the
 * script, in one more round trip. Returns 0 with out[0..n) (non-error
 * replies, each to free), or an error (the first error reply's, or the
 * connection's) with nothing in out. */
int baton__redis_eval(baton_redis_session *s, baton_redis_conn *k, baton_redis_script script,
                      baton_redis_call *calls, size_t n, redisReply **out, int64_t deadline,
                      const char *what, baton_error *err);

/* The parts of _eval, for a caller that sends to several servers at once:
 * _eval_cmds fills argv[0..3) of each call as EVALSHA and cmds[i] (the
 * commands to send); _eval_finish takes the EVALSHA round's replies in
 * out[0..n) and goes on as _eval does (EVAL for NOSCRIPT on k, error
 * replies checked). */
void baton__redis_eval_cmds(baton_redis_script script, baton_redis_call *calls, size_t n,
                            baton_redis_cmd *cmds);
int baton__redis_eval_finish(baton_redis_session *s, baton_redis_conn *k, baton_redis_script script,
                             baton_redis_call *calls, size_t n, redisReply **out, int64_t deadline,
                             const char *what, baton_error *err);

/* SHA-1 of data as 40 lower-case hex digits and a NUL (what EVALSHA takes). */
void baton__redis_sha1_hex(char out[41], const void *data, size_t len);

/* ---- nonce.c ----------------------------------------------------------- */

/* A fresh nonce: BATON_REDIS_NONCE_LEN lower-case hex digits and a NUL, unique
 * across processes (forked ones too), threads and time. No system call
 * after the first. Thread: any. */
void baton__redis_nonce(char out[BATON_REDIS_NONCE_LEN + 1]);

/* A fixed lease's nonce: a fresh nonce whose first digit is
 * BATON_REDIS_LEASE_MARK, an upper-case hex digit that baton__redis_nonce
 * never writes. A lease's value "<token> <nonce> <identity>" has the shape
 * of a term's, but only a lease's carries the mark, so the lease scripts
 * (script.c, LUA_IF_LEASE) never take a live term for a lease. The second
 * half is left whole: it alone differs for every nonce of a process. */
#define BATON_REDIS_LEASE_MARK "F"
void baton__redis_lease_nonce(char out[BATON_REDIS_NONCE_LEN + 1]);

/* ---- sub.c ------------------------------------------------------------- */

/* The session's hub: made by baton__redis_instance_init (no thread, no
 * descriptor yet), freed by _fini (every candidate forgotten before). */
int baton__redis_hub_init(baton_redis_session *s);
void baton__redis_hub_fini(baton_redis_session *s);

/* Subscribe `sub` for `name` on s's subscriber: NAME/released, and for an
 * observer also NAME/elected. Opens the subscriber at the first call (and
 * after it broke, then with every channel that has interest), starts the
 * session's reader thread at the first call, and returns once the server
 * confirmed sub's channels; messages so far count as seen. On an error the
 * interest stays (sub_close drops it), except after the server refused the
 * SUBSCRIBE (BATON_EREFUSED, BATON_EAUTH). */
int baton__redis_sub_open(baton_redis_sub *sub, baton_redis_session *s, const char *name,
                          bool observer, int64_t deadline, baton_error *err);

/* sub_open in two halves, so that one thread subscribes on several
 * servers at once (redlock://): _send does all but the wait for the
 * confirmation (the connect included) and names the subscriber's epoch
 * it went out on; _confirm waits for it. Errors as sub_open's. */
int baton__redis_sub_send(baton_redis_sub *sub, baton_redis_session *s, const char *name,
                          bool observer, uint64_t *epoch, int64_t deadline, baton_error *err);
int baton__redis_sub_confirm(baton_redis_sub *sub, baton_redis_session *s, uint64_t epoch,
                             int64_t deadline, baton_error *err);

/* Start the session's reader thread now rather than at the first
 * subscribe: 0 or BATON_ENOMEM. */
int baton__redis_hub_start(baton_redis_session *s);

/* Share `served` (initialised by the caller, quorum set, outliving the
 * hub) with s's hub: a copy of a release wakes a candidate only when it
 * is the quorum-th the sharing hubs read; observers hear every copy. */
void baton__redis_hub_share(baton_redis_session *s, baton_redis_served *served);

/* Before a look: the messages so far are answered by it, and so is a wake
 * this candidate owed the next (no pass-on); its watch leaves the hub's
 * lists until it arms again (a message meanwhile shows in what it
 * heard, and the arm wakes it at once). Returns whether
 * sub is subscribed on s's current subscriber; one whose subscriber is
 * gone is marked not subscribed (epoch 0), so the next wait subscribes. */
bool baton__redis_sub_look(baton_redis_sub *sub, baton_redis_session *s);

/* Drop sub's interest (its watch there disarmed first, as by _unwatch):
 * a channel nobody else wants is UNSUBSCRIBEd. */
void baton__redis_sub_close(baton_redis_sub *sub, baton_redis_session *s);

/* Arm w (wake, ctx; `candidate` as baton_redis_watch says) on subs[0..n),
 * each on its session ss[i]'s hub (entries not subscribed skipped): the
 * first message on one of its channels calls wake(ctx) once, on that
 * hub's reader thread. A message since the last look (sub_look), or a
 * subscriber found gone (that entry is marked not subscribed), wakes at
 * once, before this returns. A release wakes only the first armed
 * candidate of its name per hub, in the order they armed; observers are
 * all woken; a broken subscriber wakes all. */
void baton__redis_arm(baton_redis_watch *w, baton_redis_sub *subs, baton_redis_session *ss,
                      size_t n, bool candidate, baton_wake_fn wake, void *ctx);

/* A watch that must have its caller look again at once (the first one
 * after subscribing, a subscriber gone, a leader that differs already):
 * wake now, and the look again without a wake a TTL away (the wake makes
 * it moot; it must only lie ahead). */
static inline void baton__redis_watch_now(baton_wake_fn wake, void *ctx, int64_t *recheck_at,
                                    const baton_config *cfg) {
  *recheck_at = baton__now() + cfg->ttl_ns;
  wake(ctx);
}

/* Disarm w on subs[0..n): once this returns, no wake of w runs or will.
 * A candidate that a release woke alone passes the wake on to the next
 * armed candidate of its name at once: the core unwatches a woken
 * candidate only when it leaves instead of looking (one that looks by
 * the clock just as a release wakes it costs one wake more, never a lost
 * one). Takes each hub's lock, never waits for I/O. */
void baton__redis_unwatch(baton_redis_watch *w, baton_redis_sub *subs, baton_redis_session *ss,
                          size_t n);

/* s now connects elsewhere (generation raised, redis-sentinel://): a
 * subscriber made for another generation is dropped, waking every wait. */
void baton__redis_sub_follow(baton_redis_session *s, uint64_t generation);

/* Block until a message arrives for any of subs[0..n) on its session
 * ss[i] (1; entries not subscribed skipped, at most BATON_URI_MAX_HOSTS),
 * `until` passes (0), cancel_fd (may be -1) is readable (BATON_ECANCELED)
 * or a subscriber is gone (BATON_ECONNECT; that entry is marked not
 * subscribed). Messages since the last look count: they return at once. */
int baton__redis_sub_wait(baton_redis_sub *subs, baton_redis_session *ss, size_t n,
                          int64_t until, int cancel_fd);

/* ---- instance.c --------------------------------------------------------- */

/* Fill the fields of an instance at host:port (database db) for cfg: the
 * strings copied, the mutexes made, `label` "<scheme>://host:port" for
 * messages. Nothing is connected. Returns 0 or BATON_ENOMEM (then call
 * _fini). The redlock:// backend keeps one per Redis it votes on. */
int baton__redis_instance_init(baton_redis_session *s, const char *scheme, const char *host,
                               int port, long db, const baton_config *cfg);
/* Close its connections and free what _init made (not s itself). */
void baton__redis_instance_fini(baton_redis_session *s);

/* The URI's path as a database: "" or "/" for 0, "/N" otherwise. */
int baton__redis_parse_db(long *out, const char *path, const char *scheme, baton_error *err);

/* Read a stored value "<token> <nonce> <identity>" into *out. A value
 * another program wrote is shown whole as the identity, with token 0.
 * Returns whether the value is in our format. */
bool baton__redis_parse_value(baton_leader *out, const char *v, size_t len);

/* Pick the nonce for an attempt (under mu, which guards p): after a lost
 * reply the same one again, else a fresh one, the last won becoming
 * `prev`. Copies both out. */
void baton__redis_start_attempt(pthread_mutex_t *mu, baton_redis_cand *p, char *nonce,
                                char *prev);

/* The buffers of one renewal of n held names (each candidate's priv starts
 * with a baton_redis_cand): its script calls, a BATON_REDIS_RENEW_CHUNK of
 * names each, their arguments, the nonces they point at (read under mu),
 * and the replies. */
typedef struct baton_redis_renewal {
  size_t n, chunks;
  baton_redis_call *calls; /* one per BATON_REDIS_RENEW_CHUNK names */
  const char **argv;       /* every call's arguments, one after the other */
  char *nonces;            /* n nonces of BATON_REDIS_NONCE_LEN + 1 */
  char ttl[24];            /* the TTL in ms, the calls' first argument */
  redisReply **replies;    /* one per call */
} baton_redis_renewal;

int baton__redis_renewal_init(baton_redis_renewal *w, pthread_mutex_t *mu, const baton_config *cfg,
                              baton_candidate *const *held, size_t n);
/* Lay out another copy of w's calls in calls/argv (sized as w's), for a
 * second connection: a call's first arguments are its own. */
void baton__redis_renewal_copy(const baton_redis_renewal *w, baton_redis_call *calls,
                               const char **argv);
/* Read one 0/1 per name from replies (w->chunks of them): still[i] set
 * when the name is still ours. false for a reply of another shape. */
bool baton__redis_renewal_read(const baton_redis_renewal *w, redisReply *const *replies,
                               bool *still);
void baton__redis_renewal_free(baton_redis_renewal *w);

/* The steps every call of both backends starts or ends with. `scheme`
 * and `label` name the backend and the deployment in messages. */
int baton__redis_check_candidate(const void *s, const baton_candidate *c, const char *scheme,
                                 const char *what, baton_error *err);
/* c->priv, zeroed, of `size` bytes, made on the first call. */
int baton__redis_cand_alloc(baton_candidate *c, size_t size, const char *scheme, baton_error *err);
/* renew's arguments. */
int baton__redis_check_held(const void *s, baton_candidate *const *held, size_t n,
                            const bool *gone, const char *scheme, baton_error *err);
/* The nonces a release deletes (cur "" when no attempt of ours can be on
 * the server): false when there is none. */
bool baton__redis_release_nonces(pthread_mutex_t *mu, const baton_redis_cand *p, char *cur,
                                 char *prev);
/* An attempt's outcome known: won or not, still pending (an answer lost
 * somewhere) or not; `prev` is off the servers once nothing is pending. */
void baton__redis_settle(pthread_mutex_t *mu, baton_redis_cand *p, bool won, bool pending);
/* The marker key that tells a fresh server (redis.h's layout). */
#define BATON_REDIS_FRESH_KEY "baton:fresh"

/* The other keys of a name's acquire or vote (redis.h's layout). */
typedef struct baton_redis_keys {
  char counter[BATON_NAME_MAX + 16]; /* NAME/token */
  char wait[BATON_NAME_MAX + 16];    /* NAME/wait */
} baton_redis_keys;
void baton__redis_keys(baton_redis_keys *out, const char *name);

/* What an acquire or vote reply {answer, value, ms} says. */
typedef enum baton_redis_answer {
  BATON_REDIS_HELD = 0, /* another holds the key: ms = its PTTL */
  BATON_REDIS_WON = 1,  /* ours, a term */
  BATON_REDIS_WAIT = 2, /* ours, but a term only ms later (restart-safe) */
} baton_redis_answer;
typedef struct baton_redis_vote {
  baton_redis_answer answer;
  bool ours;        /* the value is in our format */
  baton_leader who; /* the value read */
  int64_t ms;       /* as the answer says */
} baton_redis_vote;
/* Read a reply; false when it is not of that shape (or says ours of a
 * value not in our format). */
bool baton__redis_vote_read(baton_redis_vote *out, const redisReply *r);
/* An attempt that holds the key (on a quorum) but whose term may begin
 * only `ms` after `now` (restart-safe terms, script.c): it stays pending,
 * so the look then (the same nonce) takes the term, and the core makes
 * that look at p->recheck_at, as for any holder. Returns BATON_EHELD,
 * the message saying why: `whose` "started less than a TTL ago". */
int baton__redis_wait_term(pthread_mutex_t *mu, baton_redis_cand *p, int64_t now, int64_t ms,
                           const char *label, const char *name, const char *whose,
                           baton_leader *holder, baton_error *err);
/* baton__redis_sub_wait's answer as baton__wait_end (backend.h) takes
 * it: a subscriber gone (a restart, say) is "look again" (1) as a message
 * is; the next wait subscribes anew. */
static inline int baton__redis_woken(int rc) { return rc == BATON_ECONNECT ? 1 : rc; }

/* ---- lease.c ------------------------------------------------------------ */

/* A lease acquire's KEYS and ARGV for the acquire script (or a Redlock
 * vote): NAME, NAME/token, NAME/wait, a fresh nonce, no previous one, the
 * identity, the lease's TTL, the fresh-server marker, and the client's
 * TTL, which a restart-safe wait outlasts (as the client's terms do: the
 * lease's own TTL says nothing of the holders before a restart). */
typedef struct baton_redis_lease_args {
  char nonce[BATON_REDIS_NONCE_LEN + 1];
  baton_redis_keys keys;
  char ttl[24], terms_ttl[24];
  const char *args[9]; /* 3 keys, 6 arguments */
} baton_redis_lease_args;
void baton__redis_lease_args(baton_redis_lease_args *a, const baton_config *cfg, const char *name,
                             const char *identity, int64_t ttl_ns);

/* The fixed-lease ops of the table (backend.h), for redis:// and the
 * backends built on its session. */
int baton__redis_lease_acquire(baton_session *bs, const char *name, const char *identity,
                               int64_t ttl_ns, uint64_t *token, baton_leader *holder,
                               int64_t deadline, baton_error *err);
int baton__redis_lease_extend(baton_session *bs, const char *name, uint64_t token, int64_t ttl_ns,
                              int64_t deadline, baton_error *err);
int baton__redis_lease_release(baton_session *bs, const char *name, uint64_t token,
                               int64_t deadline, baton_error *err);

/* ---- proclaim.c --------------------------------------------------------- */

/* The proclaim script's text (script.c runs it as any other). */
extern const char baton__redis_proclaim_lua[];

/* NAME/value into out[0..size). */
void baton__redis_value_key(char *out, size_t size, const char *name);

/* One proclaim's KEYS and ARGV (args[0..6), 2 keys): the key, our nonce
 * and token, the term's next version (counted in c's state, which starts
 * with a baton_redis_cand, under mu) and the value. After checking c:
 * BATON_ENOTHOLDER for a candidate that never acquired. `scheme` and
 * `label` name the backend and the deployment in messages. */
typedef struct baton_redis_proclaim {
  char key[BATON_NAME_MAX + 16];
  char nonce[BATON_REDIS_NONCE_LEN + 1];
  char token[24];
  char version[24];
  const char *args[6];
} baton_redis_proclaim;
int baton__redis_proclaim_args(baton_redis_proclaim *out, const void *s, pthread_mutex_t *mu,
                               const baton_candidate *c, const char *value, const char *scheme,
                               const char *label, baton_error *err);
/* The script's reply: 1 written, 0 not ours, -1 of another shape. */
int baton__redis_proclaim_read(const redisReply *r);
/* A GET of NAME/value: true with the version and the value (pointing
 * into r) when it belongs to the term of `token`; else version 0, "". */
bool baton__redis_value_read(const redisReply *r, uint64_t token, uint64_t *version,
                             const char **value, size_t *len);

#endif /* BATON_REDIS_H */
