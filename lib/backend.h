/* backend.h — the table a backend fills in, and what the core hands it.
 * Internal: not installed.
 *
 * A backend speaks one protocol. It never decides when a term ends: it
 * reports what the server said, and lib/ does all the timing (deadlines,
 * renew scheduling, retries, callbacks). Every call takes an absolute
 * deadline on the library's clock (nanoseconds, see baton__now()) and
 * returns by then with BATON_ETIMEDOUT; the core relies on that to step
 * down on time.
 *
 * What a backend may include of lib/: this header only. It brings the
 * utilities (util.h: clock, errors, back-off, allocation), URI parsing
 * (uri.h) and close-on-exec marking (fds.h).
 *
 * Concurrency. One session is used by many threads at once: the client's
 * background thread (renew) and the callers' threads (acquire, wait, release,
 * leader). A backend locks what it shares. For one candidate, the core never
 * runs acquire, wait, release or forget at the same time. renew may run
 * while any of acquire, wait and release runs on the same candidate (a term
 * resigned while its renewal is in flight, and a new campaign at once): it
 * must only read fields that stay fixed during a term (name, identity,
 * token, and whatever the backend documents in its priv) and lock the rest.
 */
#ifndef BATON_BACKEND_H
#define BATON_BACKEND_H

#include "baton.h"
#include "fds.h"
#include "uri.h"
#include "util.h"

#include <pthread.h>
#include <stdint.h>

/* Resolved client options: every default applied, durations in ns. */
typedef struct baton_config {
  int64_t ttl_ns;              /* lease time to live asked of the server */
  int64_t renew_ns;            /* renew interval */
  int64_t margin_ns;           /* safety margin of the deadline rule */
  uint32_t drift_ppm;          /* clock-rate drift bound */
  int64_t connect_timeout_ns;  /* bound on establishing a connection */
  int64_t op_timeout_ns;       /* bound on one request */
  int64_t retry_base_ns;       /* first retry delay */
  int64_t retry_max_ns;        /* largest retry delay */
  const char *identity;        /* value stored for our candidates */
  const char *username;        /* NULL when none (URI's or the option's) */
  const char *password;        /* NULL when none */
  const char *tls_ca_file;     /* NULL when none (option or URI param) */
  const char *tls_cert_file;   /* NULL when none */
  const char *tls_key_file;    /* NULL when none */
} baton_config;

/* The back-off before retry `attempt` under cfg's retry options. */
static inline int64_t baton__config_backoff(const baton_config *cfg, unsigned attempt) {
  return baton__backoff(cfg->retry_base_ns, cfg->retry_max_ns, attempt);
}

/* The base every backend session embeds first. */
typedef struct baton_session {
  const struct baton_backend *backend; /* set by the core after open */
  const baton_config *cfg;             /* set by the backend in open */
  int64_t server_ttl_ns;  /* the TTL the server really applies (granted
                             lease TTL, negotiated session timeout); set by
                             the backend, 0 = cfg->ttl_ns. The core uses the
                             smaller of the two. */
} baton_session;

/* One election (or one observer) as the backend sees it. */
typedef struct baton_candidate {
  const char *name;      /* validated: 1..BATON_NAME_MAX of [A-Za-z0-9._:@-] */
  const char *identity;  /* the value to store; points at cfg->identity */
  unsigned slot;         /* 0 for the first open election of this name in
                            the client, then 1, 2...: a backend whose key
                            for a name is per session (etcd) makes it part
                            of the key, so that two elections of one client
                            are two candidates, never one */
  uint64_t token;        /* set by acquire when it returns 0 */
  void *priv;            /* the backend's own state; freed by forget */
} baton_candidate;

/* Capability bits: what a backend guarantees, readable by code. */
enum {
  BATON_CAP_LINEARIZABLE = 1u << 0, /* consensus store: one holder even
                                       across server failures */
  BATON_CAP_TERM_TTL = 1u << 1,     /* each term has its own TTL, set by
                                       acquire and extended by renew; without
                                       it a term lives as long as the session */
  BATON_CAP_QUEUE = 1u << 2,        /* waiters are served in arrival order */
};

typedef struct baton_backend {
  const char *const *schemes; /* URI schemes, NULL-terminated */
  unsigned caps;              /* BATON_CAP_* */

  /* Connect and open the session (etcd lease, ZooKeeper session). Must. */
  int (*open)(baton_session **out, const baton_uri *uri,
              const baton_config *cfg, int64_t deadline, baton_error *err);

  /* End the session (revoke the lease, close the ZooKeeper session) and
   * free it, bounded by cfg->op_timeout_ns. Every candidate was forgotten
   * before. Must. */
  void (*close)(baton_session *s);

  /* One attempt at leadership; never waits for the holder. Returns 0 when c
   * leads (c->token set; the backend has established, by this call or by
   * the wait that just returned, that at some instant since the campaign
   * began its own key was the lowest and it and the lease or session
   * existed), BATON_EHELD when another leads (`holder`,
   * may be NULL, filled when known; queueing backends keep c queued), or an
   * error. A request whose outcome is unknown (lost reply) is resolved
   * before the backend does anything else for c. Must. */
  int (*acquire)(baton_session *s, baton_candidate *c, baton_leader *holder,
                 int64_t deadline, baton_error *err);

  /* Block until the outcome of acquire may have changed for c: the queue
   * predecessor went away, a release was announced, the holder's TTL ran
   * out. For a candidate that never acquired (an observer), until the
   * leader may differ from `seen` (token 0 = none). Returns 0 to say "look
   * again" (spurious wake-ups allowed, e.g. right after subscribing),
   * BATON_ETIMEDOUT at the deadline, BATON_ECANCELED as soon as cancel_fd
   * is readable (poll it; do not read it), or an error. Must. */
  int (*wait)(baton_session *s, baton_candidate *c, const baton_leader *seen,
              int64_t deadline, int cancel_fd, baton_error *err);

  /* Leave: delete c's own key or znode if it has one (only if it is still
   * ours) and wake the next waiter. Idempotent: 0 when there is nothing to
   * delete. Keeps c->priv. Must. */
  int (*release)(baton_session *s, baton_candidate *c, int64_t deadline,
                 baton_error *err);

  /* Renew the session and every held term in ONE round trip (pipelined or
   * one request). Sets gone[i] when the server no longer has held[i]'s key
   * as ours. Returns 0; BATON_ESESSION when the lease or session expired
   * (every term is gone); or an error, meaning nothing is known. n may be
   * 0. The core records the send time before the call. Must.
   * Sessions: only renew (and open) makes one. After BATON_ESESSION, the
   * next renew opens a fresh session and returns 0 once it has; until then
   * acquire returns BATON_ESESSION, and once it has, every blocked wait
   * returns 0 so that its candidate enqueues again. */
  int (*renew)(baton_session *s, baton_candidate *const *held, size_t n,
               bool *gone, int64_t deadline, baton_error *err);

  /* Who leads `name` now: 0 with *out filled, or BATON_ENOLEADER. Must. */
  int (*leader)(baton_session *s, const char *name, baton_leader *out,
                int64_t deadline, baton_error *err);

  /* Free c->priv (subscriptions, watches). c is no longer used. Must. */
  void (*forget)(baton_session *s, baton_candidate *c);
} baton_backend;

/* The registered backends, one line each in lib/registry.c. */
extern const baton_backend baton_backend_redis;
extern const baton_backend baton_backend_etcd;
extern const baton_backend baton_backend_zk;

#endif /* BATON_BACKEND_H */
