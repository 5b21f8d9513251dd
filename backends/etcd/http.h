/* http.h — the etcd backend's transport: POSTs to the gRPC gateway over
 * HTTP/1.1 with libcurl, on keep-alive connections, failing over between
 * the cluster's members, with the auth token kept fresh. Internal.
 *
 * Connections. A `conn` is one libcurl easy handle driven through its own
 * multi handle, so every request can also watch a cancel fd and be woken
 * from another thread. Callers borrow conns from a small pool (threads do
 * not serialise on one handle); the renew lane has a conn of its own so a
 * caller's slow request never delays a keepalive. A conn keeps its TCP
 * connection between requests.
 *
 * Members. Requests go to the current member; when one cannot be reached
 * (connect refused, connection dropped, "no leader") the next is tried
 * within the same deadline, and the next request starts there too. */
#ifndef BATON_ETCD_HTTP_H
#define BATON_ETCD_HTTP_H

#include "backend.h"
#include "gateway.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct baton_etcd_http baton_etcd_http;
typedef struct baton_etcd_conn baton_etcd_conn;

/* Counters for tests and benchmarks. */
typedef struct baton_etcd_stats {
  uint64_t requests;  /* HTTP requests sent (unary and stream) */
  uint64_t connects;  /* TCP (or TLS) connections opened */
} baton_etcd_stats;

/* Check the URI (hosts, parameters, TLS files) and set up the transport.
 * No I/O. Returns 0, BATON_EINVAL or BATON_ENOMEM. */
int baton__etcd_http_open(baton_etcd_http **out, const baton_uri *uri, const baton_config *cfg,
                          baton_error *err);
void baton__etcd_http_close(baton_etcd_http *h);
void baton__etcd_http_stats(baton_etcd_http *h, baton_etcd_stats *out);

/* Borrow a conn from the pool (NULL when out of memory) and give it back.
 * The renew conn is owned by h and never goes to the pool. */
baton_etcd_conn *baton__etcd_conn_get(baton_etcd_http *h);
baton_etcd_conn *baton__etcd_conn_renew(baton_etcd_http *h);
void baton__etcd_conn_put(baton_etcd_http *h, baton_etcd_conn *c);

/* Whether a request may be sent twice: a non-idempotent one (lease grant)
 * is retried on another member only when it was never sent. */
typedef enum { BATON_ETCD_IDEMPOTENT = 1, BATON_ETCD_ONCE = 0 } baton_etcd_retry;

/* Reads a reply's payload into `out`: 0, or a BATON_E* code with err. */
typedef int (*baton_etcd_decode)(const cJSON *payload, void *out, baton_error *err);

/* POST `body` to `path` (e.g. "/v3/kv/txn") on conn `c`, parse the reply
 * and hand its payload to `decode` (may be NULL) with `out`. Returns 0 or a
 * BATON_E* code whose message names the member and the call. An invalid
 * auth token is refreshed and the call made once more. `cancel_fd` (or -1)
 * ends the call with BATON_ECANCELED. */
int baton__etcd_http_call(baton_etcd_http *h, baton_etcd_conn *c, const char *path,
                          const char *body, baton_etcd_retry retry, baton_etcd_decode decode,
                          void *out, int64_t deadline, int cancel_fd, baton_error *err);

/* Prefix err with the member and the call of c's last request; returns rc. */
int baton__etcd_conn_blame(const baton_etcd_conn *c, int rc, baton_error *err);

/* Get a token when credentials are configured and none is held. */
int baton__etcd_http_login(baton_etcd_http *h, baton_etcd_conn *c, int64_t deadline,
                           baton_error *err);

/* ---- Streams (watch) --------------------------------------------------------
 * A stream is a POST whose reply stays open and carries one JSON object per
 * message. It runs on a borrowed conn. */

/* Start the stream on the current member (no waiting). */
int baton__etcd_stream_start(baton_etcd_conn *c, const char *path, const char *body,
                             int64_t deadline, baton_error *err);

/* The next message: 0 with *root and *payload (an {"error":..} message returns
 * its mapped code, with *grpc set); BATON_ECONNECT when the stream ended
 * or could not connect (the caller moves on with
 * baton__etcd_http_next_member and restarts); BATON_ETIMEDOUT;
 * BATON_ECANCELED; or 1 when woken by baton__etcd_conn_wake (or
 * spuriously) with no message, so the caller can look at its state. */
int baton__etcd_stream_next(baton_etcd_conn *c, cJSON **root, const cJSON **payload, int *grpc,
                            int64_t deadline, int cancel_fd, baton_error *err);

/* Abort the stream (its connection closes) and keep the conn usable. */
void baton__etcd_stream_stop(baton_etcd_conn *c);

/* Sleep until the deadline, cancel_fd or a wake-up, with no transfer:
 * returns 1 (woken or time), BATON_ETIMEDOUT or BATON_ECANCELED. */
int baton__etcd_conn_idle(baton_etcd_conn *c, int64_t until, int64_t deadline, int cancel_fd);

/* Wake a thread blocked on c (stream_next or idle). Thread-safe. */
void baton__etcd_conn_wake(baton_etcd_conn *c);

/* The member the conn's last request went to, as "host:port". */
const char *baton__etcd_conn_member(const baton_etcd_conn *c);

/* Whether requests now go to another member than c's last one (a failure
 * elsewhere moved them on): a long stream follows them. */
bool baton__etcd_conn_stale(const baton_etcd_conn *c);

/* How many members the URI names. */
size_t baton__etcd_http_members(const baton_etcd_http *h);

/* Move the current member on from the conn's member (if still current),
 * and log why (the error that made us leave it; NULL: no answer). */
void baton__etcd_http_next_member(baton_etcd_http *h, baton_etcd_conn *c,
                                  const baton_error *why);

/* Drop the token held when the conn's last request was made and get a
 * new one, unless another thread already did. */
int baton__etcd_http_relogin(baton_etcd_http *h, baton_etcd_conn *c, int64_t deadline,
                             baton_error *err);

#endif /* BATON_ETCD_HTTP_H */
