/* baton.h — the public API of baton: leader election and leases with fencing
 * tokens over etcd, ZooKeeper and Redis. This header is the specification.
 *
 * Safety model. A term (one continuous holding of a name) carries a fencing
 * token strictly greater than the token of every earlier term of that name on
 * the same deployment. The holder treats its term as over at
 *     t_sent + ttl * (1 - drift) - margin
 * where t_sent is the time at which the last successful renewal request was
 * sent, on CLOCK_BOOTTIME: a clock that counts a host's suspend, so that a
 * resumed laptop or VM never believes in a term whose server side ran out
 * while it slept. From that instant baton_election_is_leader() answers
 * false and the LOST event fires, with no word from the server needed; the
 * server's own expiry comes later. A term that ended so keeps its key on
 * the server until that expiry could have come (t_sent + the server's TTL):
 * nothing the library does, on any path, deletes or replaces it sooner. A
 * protected resource should remember the highest token it has seen and
 * refuse lower ones.
 *
 * Term lifecycle, per election:
 *   idle --campaign wins--> held --resign/close--------------------> idle
 *                            |  --key gone, session expired--------> idle
 *                            |  --local deadline passed--> lost, key kept
 *                            |        until the server's expiry --> idle
 * Every term gets exactly one ELECTED and then exactly one LOST event.
 *
 * Threading. Every function is thread-safe. Each client owns one background
 * thread that renews every term of the client and runs every callback, one
 * at a time, in the order the events happened. Callbacks must not block and
 * must not close the client or an election. A blocking call (campaign,
 * lock acquire) can be cancelled from any other thread.
 *
 * Errors. Every fallible call returns 0 or a negative BATON_E* code. The
 * detail goes to a caller-owned baton_error (which may be NULL); there is no
 * global or per-handle "last error". A call that returns 0 leaves the error
 * cleared (code 0, empty message). When a call that takes a callback fails,
 * the callback is never called for that call.
 *
 * Logging. The library prints nothing. A log callback in the options
 * receives what would otherwise go unseen: failed renewals and their
 * retries, campaign retries, terms ended unasked, expired sessions, keys
 * of lost terms deleted late.
 *
 * Growth. baton_options and baton_leader end in reserved space that later
 * versions turn into fields, so their size never changes: zero it (the
 * library refuses options whose reserved space is not zero). baton_event
 * may grow at its end; callbacks must ignore event types and lost reasons
 * they do not know.
 *
 * Ownership. What a call returns through an `out` pointer belongs to the
 * caller. Every _open has a _close that accepts NULL.
 */
#ifndef BATON_H
#define BATON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(BATON_STATIC)
#define BATON_API
#elif defined(__GNUC__)
#define BATON_API __attribute__((visibility("default")))
#else
#define BATON_API
#endif

#define BATON_VERSION_MAJOR 0
#define BATON_VERSION_MINOR 1
#define BATON_VERSION_PATCH 0

/* ---- Errors ------------------------------------------------------------ */

/* X(name, number, text): the codes callers branch on. Numbers are fixed. */
#define BATON_ERROR_CODES(X)                                                \
  X(OK, 0, "success")                                                       \
  X(EINVAL, -1, "invalid argument")                                         \
  X(ETIMEDOUT, -2, "timed out")                                             \
  X(ECANCELED, -3, "cancelled")                                             \
  X(EHELD, -4, "held by another holder")                                    \
  X(ENOTHOLDER, -5, "not the holder")                                       \
  X(ECONNECT, -6, "cannot connect to the backend")                          \
  X(EAUTH, -7, "authentication failed")                                     \
  X(EPROTO, -8, "malformed reply from the backend")                         \
  X(EREFUSED, -9, "the backend refused the request")                        \
  X(ENOTBUILT, -10, "backend not built in")                                 \
  X(ENOMEM, -11, "out of memory")                                           \
  X(ESESSION, -12, "the backend session expired")                           \
  X(ENOLEADER, -13, "no leader")                                            \
  X(ECLOSED, -14, "closed")                                                 \
  X(ENOTSUP, -15, "not supported by this backend")

typedef enum baton_code {
#define BATON_X_ENUM(name, num, text) BATON_##name = num,
  BATON_ERROR_CODES(BATON_X_ENUM)
#undef BATON_X_ENUM
} baton_code;

#define BATON_ERROR_MESSAGE_MAX 256

/* The detail of a failed call: the code it returned and one line of text,
 * such as "redis://127.0.0.1:1: connect: Connection refused". */
typedef struct baton_error {
  int code;                               /* a BATON_E* value, 0 on success */
  char message[BATON_ERROR_MESSAGE_MAX];  /* NUL-terminated, never NULL */
} baton_error;

/* The fixed text of a code ("timed out"); "unknown error" for others. */
BATON_API const char *baton_strerror(int code);

/* The library's version as "major.minor.patch". */
BATON_API const char *baton_version(void);

/* ---- Client ------------------------------------------------------------ */

/* Waiting durations: a number of milliseconds, or BATON_FOREVER to wait
 * without limit. Any other negative duration is BATON_EINVAL. */
#define BATON_FOREVER (-1)

#define BATON_NAME_MAX 128      /* bytes in an election name */
#define BATON_IDENTITY_MAX 255  /* bytes in an identity */

/* How much a log line matters; a callback gets the lines of its level
 * and more urgent ones (a smaller number). */
typedef enum baton_log_level {
  BATON_LOG_ERROR = 1,  /* something failed for good */
  BATON_LOG_WARN,       /* a failure the library works around: a renewal
                           or delete failed, a term ended unasked */
  BATON_LOG_INFO,       /* a step worth knowing: elected, resigned, a retry
                           that worked, a late key deleted */
  BATON_LOG_DEBUG,      /* the rest */
} baton_log_level;

/* Receives one line (no newline; valid during the call) from any thread
 * of the library, possibly while it holds its locks: it must not block
 * and must not call baton functions. */
typedef void (*baton_log_cb)(baton_log_level level, const char *message, void *udata);

/* Options of a client. Zero in any field means the default, so
 * `baton_options o = {0};` is a valid configuration. */
typedef struct baton_options {
  uint32_t ttl_ms;             /* lease time to live; default 10000 */
  uint32_t renew_interval_ms;  /* default ttl_ms / 3 */
  uint32_t drift_ppm;          /* clock-rate drift bound; default 10000 (1%) */
  uint32_t margin_ms;          /* safety margin; default ttl_ms / 20 */
  const char *identity;        /* shown as the leader; default "host:pid" */
  uint32_t connect_timeout_ms; /* default min(2000, renew interval) */
  uint32_t op_timeout_ms;      /* per request; default min(2000, renew interval) */
  uint32_t retry_base_ms;      /* first retry delay (full jitter); default 50 */
  uint32_t retry_max_ms;       /* largest retry delay; default 1000 */
  const char *username;        /* overrides the URI's user */
  const char *password;        /* overrides the URI's password */
  const char *tls_ca_file;     /* etcds://: CA bundle; overrides ?cacert= */
  const char *tls_cert_file;   /* etcds://: client certificate; ?cert= */
  const char *tls_key_file;    /* etcds://: client key; ?key= */
  baton_log_cb log;            /* optional; NULL: the library prints and
                                  logs nothing */
  void *log_udata;             /* the log callback's last argument */
  uint32_t log_level;          /* most verbose level passed to `log`;
                                  default BATON_LOG_INFO */
  uint64_t flags;              /* BATON_CLIENT_* bits; default 0 */
  uint64_t reserved[12];       /* zero: room for later options (the
                                  struct's size stays 208 bytes) */
} baton_options;

/* baton_options.flags. */
#define BATON_CLIENT_READ_ONLY 1u /* a client that only asks who leads and
                                     who waits (leader, contenders,
                                     observe): it opens no lease (etcd: no
                                     lease is granted, reads are plain
                                     ranges), sends no renewals, and its
                                     campaigns, try_campaign, start and
                                     lock acquires fail with BATON_EINVAL.
                                     ZooKeeper still opens a session, which
                                     reads need; close ends it at once. */

typedef struct baton_client baton_client;

/* Open a client on the backend named by `uri`:
 *   redis://[user:password@]host:port[/db]
 *   etcd://host:port[,host:port...][/prefix]    etcds://... for TLS
 *   zk://[user:password@]host:port[,host:port...][/chroot][?session_timeout=ms]
 * It connects, opens the backend session (etcd lease, ZooKeeper session;
 * with BATON_CLIENT_READ_ONLY no etcd lease) and starts the client's
 * background thread. `opts` may be NULL.
 * Returns 0, BATON_EINVAL (bad URI or option), BATON_ENOTBUILT, BATON_ECONNECT,
 * BATON_EAUTH, BATON_ETIMEDOUT or BATON_EPROTO. */
BATON_API int baton_client_open(baton_client **out, const char *uri,
                                const baton_options *opts, baton_error *err);

/* Close every election of the client as baton_election_close() does (a
 * blocked campaign returns BATON_ECANCELED first; a held term resigns), end
 * the backend session and free the client. A term lost at its local
 * deadline keeps its key until the server's expiry could have come, so
 * close may wait that long (drift and margin, 6 % of the TTL by default;
 * more where the server applies a longer TTL than asked) before it ends
 * the session. No callback runs after it returns.
 * Thread: not from a callback. */
BATON_API void baton_client_close(baton_client *client);

/* The name of the client's backend ("etcd", "zk", "redis"...): the first
 * URI scheme of its table, the `backend` label of the metrics. Static
 * storage; NULL for a NULL client. */
BATON_API const char *baton_client_backend(const baton_client *client);

/* The identity this client campaigns with. Valid until the client closes. */
BATON_API const char *baton_client_identity(const baton_client *client);

/* ---- Elections --------------------------------------------------------- */

typedef struct baton_election baton_election;

/* Who leads a name. */
typedef struct baton_leader {
  uint64_t token;                          /* the term's fencing token */
  char identity[BATON_IDENTITY_MAX + 1];   /* the holder's identity */
  uint64_t version;                        /* how many times the term's
                                              value was changed (proclaim);
                                              0 when never: a change of
                                              value with the same token
                                              raises it */
  uint64_t reserved[7];                    /* room for later fields */
} baton_leader;

typedef enum baton_event_type {
  BATON_EVENT_ELECTED = 1,     /* this election won a term */
  BATON_EVENT_LOST,            /* the term ended; see `reason` */
  BATON_EVENT_RENEW_FAILED,    /* a renewal failed; the term lasts until its
                                  deadline unless a retry succeeds */
  BATON_EVENT_LEADER_CHANGED,  /* observed: another term began or ended */
} baton_event_type;

typedef enum baton_lost_reason {
  BATON_LOST_RESIGNED = 1,     /* resign, release or close was called */
  BATON_LOST_DEADLINE,         /* local deadline passed with no renewal */
  BATON_LOST_KEY_GONE,         /* the backend says the key is gone */
  BATON_LOST_SESSION_EXPIRED,  /* the lease or session expired */
  BATON_LOST_CONNECTION,       /* deadline passed while the backend was
                                  unreachable */
  BATON_LOST_WATCHDOG,         /* the holder missed a watchdog touch: its
                                  renewals stopped and the local deadline
                                  passed (baton_election_watchdog) */
} baton_lost_reason;

/* What a callback receives. Pointers are valid during the call only. Later
 * versions may add fields at the end, event types and lost reasons: a
 * callback ignores what it does not know. */
typedef struct baton_event {
  baton_event_type type;       /* what happened */
  const char *name;            /* the election's name */
  uint64_t token;              /* ELECTED, LOST, RENEW_FAILED: own token */
  baton_lost_reason reason;    /* LOST only */
  int error;                   /* RENEW_FAILED: the BATON_E* code */
  const char *message;         /* RENEW_FAILED, LOST: human text */
  const baton_leader *leader;  /* LEADER_CHANGED: the new leader, or NULL
                                  when the name has none */
  const char *value;           /* LEADER_CHANGED: the value the leader's
                                  term proclaimed ("" when none; NULL with
                                  no leader). A proclaim by the current
                                  leader is a LEADER_CHANGED of its own,
                                  with the same token and a higher
                                  leader->version */
} baton_event;

typedef void (*baton_event_cb)(const baton_event *event, void *udata);

/* 0 if `name` is a valid election name (1..BATON_NAME_MAX bytes of
 * [A-Za-z0-9._:@-]), else BATON_EINVAL with the reason. No I/O. */
BATON_API int baton_election_name_check(const char *name, baton_error *err);

/* Open an election on `name` (1..BATON_NAME_MAX bytes of [A-Za-z0-9._:@-]).
 * `on_event` (may be NULL) receives this election's events on the client's
 * background thread. Opening does no I/O and does not campaign. */
BATON_API int baton_election_open(baton_election **out, baton_client *client,
                                  const char *name, baton_event_cb on_event,
                                  void *udata, baton_error *err);

/* Per-election timing. Zero in any field means the default, so
 * `baton_election_options o = {0};` gives the client's own timing. The
 * fields are checked as baton_options' are (ttl_ms at least 100; the
 * lifetime, ttl less drift and margin, above the renew interval). */
typedef struct baton_election_options {
  uint32_t ttl_ms;             /* this election's lease time to live;
                                  default: the client's ttl_ms */
  uint32_t renew_interval_ms;  /* default ttl_ms / 3 when ttl_ms is set,
                                  else the client's */
  uint32_t margin_ms;          /* safety margin; default ttl_ms / 20 when
                                  ttl_ms is set, else the client's */
  uint32_t flags;              /* zero: no flags yet */
  uint64_t reserved[6];        /* zero: room for later options (the
                                  struct's size stays 64 bytes) */
} baton_election_options;

/* Distinct timings (ttl_ms, renew_interval_ms, margin_ms, as resolved)
 * one client's elections may use besides the client's own, over the
 * client's life: a timing, once used, keeps its session until the client
 * closes. */
#define BATON_ELECTION_TTLS_MAX 16

/* baton_election_open() with this election's own TTL (`opts` may be NULL:
 * the client's). Elections of one client with equal timing share one
 * backend session, renewed in one round trip per interval however many
 * names it holds; the client's own timing uses the session opened by
 * baton_client_open(). The first campaign (or try) of an election with a
 * timing no open session has opens one more backend session for it (an
 * etcd lease, a ZooKeeper session, a Redis or PostgreSQL connection), on
 * the caller's thread within the connect and op timeouts and the
 * campaign's own (a cancel does not cut it short); its errors are that
 * campaign's. The session lives until the client closes. The election's
 * local deadline, the server expiry its lost keys wait for, its requests'
 * time-outs and its renewals follow its own timing. Opening does no I/O.
 * Contenders of one name should share one TTL: a backend that waits out
 * the previous holder after a restart that lost its data (Redis and
 * Redlock without persistence) waits the acquirer's TTL, which protects
 * no holder whose TTL was longer (README.md, "What each backend
 * guarantees").
 * Returns 0, BATON_EINVAL (bad name or options, non-zero reserved or
 * flags, more than BATON_ELECTION_TTLS_MAX timings) or BATON_ENOMEM. */
BATON_API int baton_election_open_with(baton_election **out, baton_client *client,
                                       const char *name,
                                       const baton_election_options *opts,
                                       baton_event_cb on_event, void *udata,
                                       baton_error *err);

/* Stop candidate mode and observing, make a campaign blocked in another
 * thread return BATON_ECANCELED and wait for it, resign a held term (its
 * LOST event is delivered before close returns), and free. A term lost at
 * its local deadline keeps its key until the server's expiry could have
 * come: close waits for that moment (drift and margin after the loss, more
 * where the server applies a longer TTL than asked) before it deletes the
 * key; a key with a TTL of its own (Redis) is left to expire. A key the
 * server cannot be told to delete is retried by the background thread. No
 * callback of this election runs after close returns. Thread: not from a
 * callback. */
BATON_API void baton_election_close(baton_election *election);

/* Block until elected, `timeout_ms` passes (BATON_FOREVER: no limit; any
 * other negative value is BATON_EINVAL; 0 makes one attempt) or
 * baton_election_cancel() or close is called. On success `*token` (may be NULL) is the new term's
 * fencing token and the ELECTED event is queued. Returns 0 (also when
 * already leader), BATON_ETIMEDOUT, BATON_ECANCELED, BATON_ECLOSED, or a
 * connection, auth or protocol error when retries ran out of time. A timed
 * out or cancelled campaign leaves nothing behind on the server. A term of
 * this election lost at its local deadline keeps its key until the
 * server's expiry could have come: the campaign waits for that moment. Two
 * elections on one name in one client are two candidates. */
BATON_API int baton_election_campaign(baton_election *election,
                                      int64_t timeout_ms, uint64_t *token,
                                      baton_error *err);

/* One attempt that never waits for the holder: 0 when elected, BATON_EHELD
 * when another holds the name (then `*holder`, may be NULL, says who), also
 * when the key of this election's own lost term still waits for the
 * server's expiry (then `*holder` is that term). */
BATON_API int baton_election_try_campaign(baton_election *election,
                                          uint64_t *token, baton_leader *holder,
                                          baton_error *err);

/* Cancel this election's campaign from another thread: a running one
 * returns BATON_ECANCELED promptly; if none is running, the next campaign
 * returns BATON_ECANCELED at once (so a cancel racing a campaign's start is
 * never lost). The cancel is consumed by the campaign(s) it ends. Never
 * blocks. */
BATON_API void baton_election_cancel(baton_election *election);

/* End the term (the LOST event with BATON_LOST_RESIGNED follows) and wake
 * the next candidate. Ends candidate mode too. Returns 0, BATON_ENOTHOLDER
 * when not leader (a term already lost keeps its key until the server's
 * expiry; resign does not touch it), or the backend's error when the
 * server could not be told: the term has ended here all the same, and the
 * background thread deletes the key when it can. */
BATON_API int baton_election_resign(baton_election *election, baton_error *err);

/* Whether this election holds a live term, with no I/O: true until the
 * local deadline, and never again for that term once it answered false.
 * `token` and `remaining_ms` (time to the local deadline) may be NULL. Call
 * it before every action that needs leadership. */
BATON_API bool baton_election_is_leader(baton_election *election,
                                        uint64_t *token, int64_t *remaining_ms);

/* The watchdog: a hung worker does not stay leader because the background
 * thread keeps renewing for it. With an interval set, the holder must call
 * baton_election_touch() at least once every `interval_ms` (counted from
 * the term's start, or from this call during a term). Once an interval
 * passes without a touch, the renewals of that term stop (the client's
 * other terms are renewed as before) and the term ends at its local
 * deadline, with no word from the holder needed: LOST with
 * BATON_LOST_WATCHDOG, at most interval + lifetime after the last touch.
 * Its key is not deleted early: a hung holder cannot be trusted to have
 * stopped, so the next leader comes in after the server's expiry (a key on
 * the session, as on etcd and ZooKeeper, is deleted then, as for any term
 * lost at its deadline). The same holds when the holder resigns or closes
 * a term whose watchdog has fired: the term ends at once, the key stays
 * until the server's expiry. `interval_ms`: 0 turns the watchdog off; else
 * 1..BATON_WATCHDOG_MAX_MS. Any value works with any renew interval (a
 * missed touch is noticed by the next renewal or the late touch itself);
 * an interval shorter than the renew interval only asks for more touches.
 * The setting stays for the election's later terms; a term whose watchdog
 * fired ends at its deadline whatever is set after. Returns 0 or
 * BATON_EINVAL. No I/O. */
#define BATON_WATCHDOG_MAX_MS 86400000 /* one day */
BATON_API int baton_election_watchdog(baton_election *election, int64_t interval_ms,
                                      baton_error *err);

/* Tell the watchdog the holder is alive: the next interval starts now.
 * Returns 0 (also with the watchdog off), BATON_ENOTHOLDER when no term is
 * held, or BATON_ETIMEDOUT when the watchdog has fired already: this touch
 * came after its interval, the term's renewals have stopped and it ends at
 * its local deadline all the same (is_leader answers true until then).
 * No I/O: cheap enough for every unit of work. */
BATON_API int baton_election_touch(baton_election *election, baton_error *err);

/* Ask the backend who leads the name now. Returns 0 with `*out` filled, or
 * BATON_ENOLEADER when nobody does. */
BATON_API int baton_election_leader(baton_election *election, baton_leader *out,
                                    baton_error *err);

/* Proclaim. The leader publishes a value without ending its term
 * (etcd's Proclaim): progress, a checkpoint id, an address. A value is
 * UTF-8 text: at most BATON_VALUE_MAX bytes, without NUL (a C string);
 * other bytes are refused (BATON_EINVAL) on every backend. Readers
 * see it through baton_election_leader_value() and the LEADER_CHANGED
 * event's `value`. Where it lives, per backend:
 *   etcd        the holder's key's value, as Proclaim writes it, so that
 *               `etcdctl elect -l` shows it; the identity moves to a key
 *               beside the election, <prefix><name>#id/<key's last part>,
 *               on the same lease, written in the same transaction
 *   ZooKeeper   the holder's znode's data (kazoo's contenders() shows it);
 *               the identity moves to <name>#id/<node> beside it
 *   PostgreSQL  the token table's `value` column of the term's row
 *   Redis, Redlock, Redis Sentinel  NAME/value beside the lock key NAME,
 *               which keeps what redis-py reads: "<token> <version>
 *               <value>", shown only while NAME holds that token; on
 *               Redlock, on a quorum
 * A backend without proclaim would answer BATON_ENOTSUP. */
#define BATON_VALUE_MAX 4096 /* bytes in a proclaimed value, NUL excluded */

/* Publish `value` as the current term's value. The write is conditional
 * on the server: it lands only on this term's own key while it is ours
 * (etcd: create revision and lease compared in one transaction;
 * ZooKeeper: the node's version; PostgreSQL: name and token; Redis: the
 * lock key's nonce, in a script; Redlock: that on a quorum). Returns 0,
 * BATON_ENOTHOLDER when no term is held (at once, even while a campaign
 * of this election waits), it ended before the write was known to land (a
 * write in flight may still become visible: the server's key can outlive
 * the local deadline), or the server found the key not ours (the message
 * says so; is_leader may stay true until the next renewal ends the term),
 * BATON_EINVAL (NULL, not UTF-8, or longer than BATON_VALUE_MAX),
 * BATON_ENOTSUP, or a connection or protocol error. A term's value ends
 * with the term; a new term starts with none. One request (two for the
 * first proclaim of a ZooKeeper term). */
BATON_API int baton_election_proclaim(baton_election *election, const char *value,
                                      baton_error *err);

/* As baton_election_leader(), and the leader's proclaimed value into
 * `value` (`size` bytes, NUL-terminated, may be NULL when size is 0) as
 * snprintf does: `*len` (may be NULL) receives its whole length, so a
 * buffer of BATON_VALUE_MAX + 1 bytes always holds it. "" when the term
 * proclaimed nothing, or the backend cannot proclaim. Requests: etcd
 * one, two once the term has proclaimed (the identity key); ZooKeeper two
 * (the children, the node), three once proclaimed; one elsewhere. */
BATON_API int baton_election_leader_value(baton_election *election, baton_leader *out,
                                          char *value, size_t size, size_t *len,
                                          baton_error *err);

/* One entry of a name's queue (baton_election_contenders). */
typedef struct baton_contender {
  uint64_t token;                          /* its fencing token if it led
                                              (etcd create_revision,
                                              ZooKeeper czxid, Redis term
                                              token), which also orders
                                              the queue */
  char identity[BATON_IDENTITY_MAX + 1];   /* its identity */
  int64_t ttl_remaining_ms;                /* the holder (entry 0): its
                                              key's server-side time to
                                              live left (etcd: the lease's,
                                              in whole seconds; Redis:
                                              PTTL); -1 when the backend
                                              cannot tell (ZooKeeper: the
                                              node lives as long as its
                                              owner's session, whose
                                              timeout others cannot read)
                                              and for every other entry */
  uint64_t reserved[6];                    /* zero: room for later fields */
} baton_contender;

/* Ask the backend for the queue of the election's name, in order, the
 * holder first: etcd, the keys under the name's prefix by create
 * revision; ZooKeeper, the contender znodes by sequence; Redis, which
 * keeps no queue, the holder only. Fills out[0..*count) with at most `cap`
 * entries (a longer queue is cut at cap); *count = 0 when nobody holds or
 * waits. Returns 0, BATON_ENOTSUP when the backend cannot list its queue,
 * or a connection, auth or protocol error. One request (etcd: two, the
 * second reads the holder's lease). */
BATON_API int baton_election_contenders(baton_election *election, baton_contender *out,
                                        size_t cap, size_t *count, baton_error *err);

/* Deliver BATON_EVENT_LEADER_CHANGED to this election's callback each time
 * the leader of the name changes, starting with the current one, until
 * baton_election_observe_stop() or close. Uses one watcher thread. */
BATON_API int baton_election_observe(baton_election *election, baton_error *err);
BATON_API void baton_election_observe_stop(baton_election *election);

/* Candidate mode: campaign in the background, and campaign again after
 * every lost term, until baton_election_resign(), baton_election_stop() or
 * close. ELECTED and LOST arrive through the callback. Starting again after
 * a resign or a stop campaigns again; starting while running does nothing.
 * Uses one thread. */
BATON_API int baton_election_start(baton_election *election, baton_error *err);
/* Leave candidate mode: cancel its campaign, resign a term it holds (LOST
 * with BATON_LOST_RESIGNED follows) and return once its thread has ended.
 * Does nothing when not running. Thread: not from a callback. */
BATON_API void baton_election_stop(baton_election *election);

/* ---- Timing ------------------------------------------------------------ */

/* How long after the send time of a successful renewal a term of a client
 * opened with `opts` (may be NULL) lives locally: ttl * (1 - drift) -
 * margin, with the defaults applied, in `*lifetime_ms`. A server that
 * grants less than the TTL asked for shortens it at run time. Returns 0 or
 * BATON_EINVAL for options baton_client_open() would refuse. No I/O. */
BATON_API int baton_options_lifetime(const baton_options *opts, int64_t *lifetime_ms,
                                     baton_error *err);

/* ---- Diagnostics -------------------------------------------------------- */

/* Stats are counted by the core as terms change, under the lock that
 * guards the terms: reading them does no I/O, never allocates and is
 * consistent (one snapshot). Durations are in nanoseconds.
 *
 * Histograms have fixed buckets, the same for every histogram:
 * baton_histogram_bound_ns(i) is the upper bound (inclusive) of bucket i,
 * INT64_MAX for the last one (+Inf). Bounds, in seconds: 0.001 0.0025
 * 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 30 60 300 1800 3600 +Inf. */
#define BATON_HISTOGRAM_BUCKETS 19

typedef struct baton_histogram {
  uint64_t count;                             /* observations */
  uint64_t sum_ns;                            /* their sum */
  uint64_t buckets[BATON_HISTOGRAM_BUCKETS];  /* per bucket, not cumulative:
                                                 bucket i counts values above
                                                 bound i-1, up to bound i */
} baton_histogram;

/* The upper bound of histogram bucket `i` in ns; INT64_MAX for the last
 * bucket and for i out of range. */
BATON_API int64_t baton_histogram_bound_ns(unsigned i);

/* Index for baton_stats.terms_lost: one slot per baton_lost_reason value
 * (slot 0 unused), room for reasons to come. */
#define BATON_LOST_REASONS 8

/* What elections count: one election's, or a client's total over all its
 * elections (closed ones included). Counters only grow. */
typedef struct baton_stats {
  uint64_t campaigns;        /* campaign and try_campaign calls, candidate
                                mode's included */
  uint64_t attempts;         /* acquire requests sent */
  uint64_t contended;        /* attempts answered "held by another" */
  uint64_t retries;          /* attempts repeated after a transient error */
  uint64_t terms_won;        /* terms begun (ELECTED events) */
  uint64_t terms_lost[BATON_LOST_REASONS]; /* terms ended, by reason */
  uint64_t renewals_ok;      /* renewals of a held term that succeeded */
  uint64_t renewals_failed;  /* ... that failed */
  uint64_t late_releases;    /* keys of terms lost at their deadline,
                                deleted once the server's expiry could
                                have come */
  baton_histogram acquire;   /* campaign call to ELECTED */
  baton_histogram hold;      /* duration of ended terms (to the deadline
                                for one lost there) */
  baton_histogram headroom;  /* time left to the local deadline when a
                                renewal succeeded */
  int64_t headroom_min_ns;   /* the least of those; INT64_MAX before the
                                first */
  uint64_t reserved[16];     /* zero: room for later counters */
} baton_stats;

/* One election's stats and its state now. */
typedef struct baton_election_stats {
  baton_stats stats;         /* this election's counters since it opened */
  bool leader;               /* holds a live term now */
  uint64_t token;            /* the current term's token; the last term's
                                when none is held; 0 before the first */
  int64_t term_age_ns;       /* how long the current term has been held */
  int64_t remaining_ns;      /* time to the current term's local deadline */
  uint64_t reserved[16];     /* zero: room for later fields */
} baton_election_stats;

/* A client's stats: its elections' totals, and its renewals, which are
 * one round trip per backend session for its held terms (and the session),
 * summed over the client's sessions (one per election TTL). */
typedef struct baton_client_stats {
  baton_stats totals;        /* sum over every election, closed included */
  uint64_t renewal_requests_ok;     /* renewal round trips that succeeded */
  uint64_t renewal_requests_failed; /* ... that failed */
  uint64_t renewal_retries;  /* renewals sent after a failed one */
  uint64_t sessions_expired; /* times the backend said a session ended */
  baton_histogram renewal;   /* a successful renewal's round trip */
  uint32_t elections;        /* open elections */
  uint32_t terms_held;       /* terms held now */
  uint64_t attempts_no_quorum; /* Redlock: acquire attempts (campaigns'
                                  and fixed leases') that won no quorum of
                                  votes while no quorum said another holds
                                  the name: too few instances answered, or
                                  the votes split between contenders */
  uint64_t reserved[15];     /* zero: room for later fields */
} baton_client_stats;

/* Copy the stats of an election into `*out`. No I/O, no allocation; like
 * is_leader, it ends a term whose local deadline has passed. 0 or
 * BATON_EINVAL. */
BATON_API int baton_election_read_stats(baton_election *election, baton_election_stats *out,
                                        baton_error *err);

/* Copy the stats of a client into `*out`. No I/O, no allocation. 0 or
 * BATON_EINVAL. */
BATON_API int baton_client_read_stats(baton_client *client, baton_client_stats *out,
                                      baton_error *err);

/* What a client's requests to one server of a backend over several
 * servers (Redlock) came to, summed over the client's sessions. */
#define BATON_SERVER_ADDRESS_MAX 263 /* bytes in "host:port" */
typedef struct baton_server_stats {
  char address[BATON_SERVER_ADDRESS_MAX + 1]; /* "host:port", as in the URI */
  uint64_t answered;         /* requests it answered (any reply) */
  uint64_t failed;           /* requests it did not answer by their bound:
                                down, paused, cut off */
  uint64_t reserved[6];      /* zero: room for later fields */
} baton_server_stats;

/* Copy the figures of each server into out[0..*count) (at most `cap`, in
 * the URI's order). No I/O, no allocation. 0, BATON_EINVAL, or
 * BATON_ENOTSUP for a backend that does not ask several servers (its one
 * server's failures show as failed renewals and retries). */
BATON_API int baton_client_read_servers(baton_client *client, baton_server_stats *out, size_t cap,
                                        size_t *count, baton_error *err);

/* Write the metrics of the client and of every open election in
 * Prometheus's text exposition format (0.0.4) into `buf` (`size` bytes,
 * NUL-terminated, may be NULL when size is 0), as snprintf does: `*len`
 * receives the length of the whole text, so a result with *len >= size
 * was cut and a buffer of *len + 1 bytes holds it all. Names and labels
 * are in README.md ("Metrics"): `baton_*`, labels `name` and `backend`,
 * seconds and `_total`. No I/O; it holds the client's lock while it
 * formats. 0 or BATON_EINVAL. */
BATON_API int baton_client_metrics(baton_client *client, char *buf, size_t size, size_t *len,
                                   baton_error *err);

/* ---- Locks ------------------------------------------------------------- */

/* A lock is an election used as a mutex: the same machinery, lock names. */
typedef struct baton_lock baton_lock;

BATON_API int baton_lock_open(baton_lock **out, baton_client *client,
                              const char *name, baton_event_cb on_event,
                              void *udata, baton_error *err);
/* baton_lock_open() with the lock's own TTL, as baton_election_open_with(). */
BATON_API int baton_lock_open_with(baton_lock **out, baton_client *client,
                                   const char *name, const baton_election_options *opts,
                                   baton_event_cb on_event, void *udata,
                                   baton_error *err);
BATON_API void baton_lock_close(baton_lock *lock);

/* Acquire within `timeout_ms` (BATON_FOREVER: no limit); `*token` is the
 * fencing token to present to the protected resource. */
BATON_API int baton_lock_acquire(baton_lock *lock, int64_t timeout_ms,
                                 uint64_t *token, baton_error *err);
/* One attempt: 0 or BATON_EHELD. */
BATON_API int baton_lock_try_acquire(baton_lock *lock, uint64_t *token,
                                     baton_error *err);
/* Release: 0, or BATON_ENOTHOLDER when not held. */
BATON_API int baton_lock_release(baton_lock *lock, baton_error *err);
/* Whether the lock is still held (no I/O), as baton_election_is_leader. */
BATON_API bool baton_lock_held(baton_lock *lock, uint64_t *token,
                               int64_t *remaining_ms);
BATON_API void baton_lock_cancel(baton_lock *lock);

/* ---- Fixed leases ------------------------------------------------------- */

/* A fixed lease is a term that nobody renews: "claim job 42 for 10
 * minutes, even if I crash" (Redis's SET NX PX). It lives on the server
 * until its TTL runs out, an explicit extend moves its end, or a release
 * ends it; no background thread keeps it alive, so a process that dies
 * holding one leaves it to expire. It carries a fencing token like any
 * term, and it shares the name space of elections and locks: a fixed
 * lease on NAME is the holder of the election NAME (baton_election_leader
 * and `baton leader` show it; campaigns wait for it), and a held term of
 * NAME makes a lease acquire answer BATON_EHELD. Where it lives, per
 * backend:
 *   etcd        a key under the election's prefix on a lease of its own,
 *               granted for the TTL and never kept alive; extend moves the
 *               key to a new lease of the new TTL in one transaction that
 *               checks the key's create revision (the token). etcd's TTLs
 *               are whole seconds, at least its minimum (2 s by default):
 *               the server may end a lease later than asked, never sooner
 *   ZooKeeper   a TTL node (ZooKeeper 3.5.3+ with
 *               zookeeper.extendedTypesEnabled=true; otherwise
 *               BATON_ENOTSUP says so) in the election's queue, its TTL in
 *               its name; the server fixes a TTL node's TTL at creation,
 *               so extend renews it for that TTL and refuses another one
 *               (BATON_ENOTSUP). The server deletes an ended lease only
 *               when its reaper passes (znode.container.checkIntervalMs,
 *               60 s by default): until then leader shows it, while
 *               acquires, extends, releases and waits treat it as ended
 *               (by the server's clock, or one TTL after a wait read it)
 *   Redis, Sentinel  the lock key NAME, SET NX PX as redis-py writes it,
 *               its token from the name's counter; Redlock: the same on a
 *               quorum, the lease's life counted from before the first
 *               request. After a restart that lost the data (no
 *               persistence) a name is given again once the acquiring
 *               client's TTL has passed since the server's start: a lease
 *               longer than that TTL is protected across such a restart
 *               only by its fencing token, not by held(); run Redis with
 *               appendonly yes and appendfsync always for longer leases
 *   PostgreSQL  the name's token row (baton_token.fixed_until, on the
 *               server's clock), its token from the row's counter; no
 *               session or lock holds it, so it outlives its client
 * A backend that has none answers BATON_ENOTSUP.
 *
 * Safety. The local end of a lease follows the deadline rule with the
 * lease's TTL: send time + ttl * (1 - drift) - ttl / 20 (the margin,
 * scaled to the lease). baton_lease_held() answers from it with no I/O;
 * act on the token only while it answers true, and fence every write
 * with the token. A handle is used by one thread at a time; held() may
 * be called from any. */
typedef struct baton_lease baton_lease;

#define BATON_LEASE_TTL_MAX_MS 604800000 /* one week */

/* Acquire a fixed lease on `name` (an election name) for `ttl_ms`
 * (1..BATON_LEASE_TTL_MAX_MS, counted by the server from when it got the
 * request). When another holds the name, wait up to `timeout_ms` for it
 * to end (0: one attempt; BATON_FOREVER: no limit), woken as a campaign
 * is. Returns 0 with `*out` and `*token` (may be NULL) set, BATON_EHELD
 * (timeout 0: the message names the holder), BATON_ETIMEDOUT, BATON_EINVAL
 * (NULL, bad name or TTL, a read-only client), BATON_ENOTSUP, or a
 * connection, auth or protocol error. A request whose reply was lost may
 * leave a lease nobody knows the token of: it expires at its TTL. The
 * last attempt may end up to one op timeout after `timeout_ms`. */
BATON_API int baton_lease_acquire(baton_lease **out, baton_client *client, const char *name,
                                  int64_t ttl_ms, int64_t timeout_ms, uint64_t *token,
                                  baton_error *err);

/* A handle on a lease acquired elsewhere (another process, an earlier run
 * of this one), known by its name and token, so that it can be extended
 * or released: no I/O, and held() answers false until an extend
 * succeeds. 0 or BATON_EINVAL. */
BATON_API int baton_lease_attach(baton_lease **out, baton_client *client, const char *name,
                                 uint64_t token, baton_error *err);

/* Make the lease live `ttl_ms` (1..BATON_LEASE_TTL_MAX_MS) from now if it
 * has not ended: 0, BATON_ENOTHOLDER when it expired (on the server, or
 * locally: its local end passed, and an extend never revives it; one the
 * server took after that end is released at once), was released or is
 * another's, BATON_EINVAL, BATON_ENOTSUP (ZooKeeper: a TTL other than the
 * lease's own), or a connection or protocol error: then it is unknown
 * whether the server took it, and the lease ends when it would have, or
 * sooner when the extend asked for less. */
BATON_API int baton_lease_extend(baton_lease *lease, int64_t ttl_ms, baton_error *err);

/* End the lease on the server and wake the name's waiters: 0, or
 * BATON_ENOTHOLDER when it was not there any more (expired, released,
 * another's); held() answers false after either. After a connection or
 * protocol error the lease may still be there: it stays held until its
 * end, and release may be called again. */
BATON_API int baton_lease_release(baton_lease *lease, baton_error *err);

/* Whether the lease is live by its local end, with no I/O; `token` and
 * `remaining_ms` (to the local end) may be NULL. */
BATON_API bool baton_lease_held(baton_lease *lease, uint64_t *token, int64_t *remaining_ms);

/* Free the handle. The lease itself stays until its TTL runs out or it
 * is released: closing is not releasing. Accepts NULL. Close every lease
 * before its client. */
BATON_API void baton_lease_close(baton_lease *lease);

#ifdef __cplusplus
}
#endif
#endif /* BATON_H */
