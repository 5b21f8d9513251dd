/* gateway.h — the pure half of the etcd backend: request bodies, base64 and
 * the parsing of the gRPC gateway's JSON replies, with no I/O so that a
 * fuzzer can drive every parser directly. Internal.
 *
 * The gateway's traps, handled here once: 64-bit integers arrive as JSON
 * strings; fields whose value is zero are omitted (a PUT event has no
 * "type", an expired lease's keepalive reply has no "TTL"); keys and values
 * are base64; errors arrive as {"error":"..","code":N,"message":".."} on a
 * unary call and as {"error":{"grpc_code":N,"message":".."}} inside a 200
 * stream; stream messages are wrapped in {"result":{...}}. Anything of the
 * wrong type is BATON_EPROTO, never a guess. */
#ifndef BATON_ETCD_GATEWAY_H
#define BATON_ETCD_GATEWAY_H

#include "backend.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest reply body (or unread stream data) accepted. */
#define BATON_ETCD_MAX_REPLY ((size_t)4 << 20)

/* gRPC status codes the backend branches on. */
enum {
  BATON_ETCD_GRPC_NOT_FOUND = 5,         /* "requested lease not found" */
  BATON_ETCD_GRPC_INVALID_ARGUMENT = 3,  /* also: wrong user or password */
  BATON_ETCD_GRPC_FAILED_PRECONDITION = 9, /* also: auth not enabled */
  BATON_ETCD_GRPC_OUT_OF_RANGE = 11,     /* revision compacted */
  BATON_ETCD_GRPC_UNAVAILABLE = 14,      /* no leader, member stopping */
  BATON_ETCD_GRPC_UNAUTHENTICATED = 16,  /* invalid or expired auth token */
};

/* ---- A growable string ---------------------------------------------------
 * Appends never fail visibly: an allocation failure sets `oom` and later
 * appends do nothing, so a builder checks once at the end. */
typedef struct baton_etcd_str {
  char *p;     /* NUL-terminated text, NULL until the first append */
  size_t len;  /* bytes before the NUL */
  size_t cap;  /* allocated bytes */
  bool oom;    /* an append failed */
} baton_etcd_str;

void baton__etcd_str_add(baton_etcd_str *s, const char *text, size_t n);
void baton__etcd_str_cat(baton_etcd_str *s, const char *text);
void baton__etcd_str_printf(baton_etcd_str *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Append `n` bytes as base64 between double quotes. */
void baton__etcd_str_b64(baton_etcd_str *s, const void *bytes, size_t n);
/* Append a NUL-terminated text as a JSON string literal, escaped. */
void baton__etcd_str_json(baton_etcd_str *s, const char *text);
void baton__etcd_str_free(baton_etcd_str *s);

/* ---- base64 (RFC 4648, standard alphabet, padded) -------------------------- */

/* Bytes needed to encode n bytes, NUL included. */
size_t baton__etcd_b64_encoded_size(size_t n);
/* Encode into `out` (baton__etcd_b64_encoded_size(n) bytes); returns the
 * length without the NUL. */
size_t baton__etcd_b64_encode(char *out, const void *in, size_t n);
/* Decode `n` characters into `out` (n / 4 * 3 + 3 bytes, NUL added).
 * Accepts missing padding; rejects any other character. Returns 0 and the
 * decoded length, or -1. */
int baton__etcd_b64_decode(char *out, size_t *out_len, const char *in, size_t n);

/* ---- Key ranges ------------------------------------------------------------ */

/* The range_end that selects every key starting with `prefix` (n >= 1
 * bytes): the prefix with its last byte below 0xff raised by one. Writes
 * into `out` (n bytes) and returns its length; 0 means "no end" ("\0"). */
size_t baton__etcd_prefix_end(char *out, const char *prefix, size_t n);

/* ---- Requests -------------------------------------------------------------- */

/* A range request: one key, or every key under a prefix. */
typedef struct baton_etcd_range_req {
  const char *key;              /* the key or the prefix */
  size_t key_len;               /* bytes of key */
  bool prefix;                  /* every key starting with key */
  int sort;                     /* 0 none, 1 by create_revision ascending,
                                   -1 descending */
  int64_t max_create_revision;  /* 0: no bound */
  int64_t limit;                /* 0: no limit */
  int64_t revision;             /* read as of this revision; 0: the newest */
} baton_etcd_range_req;

/* Append `"key":..` for `key`, and `,"range_end":..` for every key under
 * it when `prefix`: the key fields of a range, a watch or a compare. */
void baton__etcd_req_key(baton_etcd_str *s, const char *key, size_t n, bool prefix);

/* Append the range request's JSON object. */
void baton__etcd_req_range(baton_etcd_str *s, const baton_etcd_range_req *r);

/* Append a watch create request from `start_revision`; `deletes_only`
 * filters out PUT events. */
void baton__etcd_req_watch(baton_etcd_str *s, const char *key, size_t key_len, bool prefix,
                           int64_t start_revision, bool deletes_only);

/* ---- Replies --------------------------------------------------------------- */

/* One key-value pair of a range reply or a watch event; strings owned. */
typedef struct baton_etcd_kv {
  char *key;                /* decoded, NUL-terminated */
  size_t key_len;           /* bytes of key */
  char *value;              /* decoded, NUL-terminated */
  size_t value_len;         /* bytes of value */
  int64_t create_revision;  /* 0 when omitted (a deleted key's event) */
  int64_t mod_revision;     /* revision of the change */
  int64_t version;          /* writes since creation */
  int64_t lease;            /* attached lease, 0 for none */
} baton_etcd_kv;

void baton__etcd_kv_free(baton_etcd_kv *kv);

/* Parse a whole reply body: one JSON object and nothing but white space
 * after it. `status` is the HTTP status (200 for a stream message). On 0,
 * *root is the document (free with cJSON_Delete) and *payload the reply
 * itself: the object, or the "result" inside a stream message. An error
 * reply returns its BATON_E* code with the server's message in err, and
 * its gRPC code in *grpc (0 when none or unknown). */
int baton__etcd_gw_parse(cJSON **root, const cJSON **payload, const char *body,
                         size_t len, long status, int *grpc, baton_error *err);

/* The BATON_E* code for a gRPC status code and the server's message. */
int baton__etcd_gw_code(int grpc, const char *message);

/* The decoders below read a payload from baton__etcd_gw_parse(). Each
 * returns 0, BATON_EPROTO (with the field named in err) or BATON_ENOMEM;
 * outputs are untouched or freed on error. */

/* lease/grant: the lease's ID and granted TTL (both must be > 0). */
int baton__etcd_gw_grant(const cJSON *p, int64_t *id, int64_t *ttl, baton_error *err);

/* lease/keepalive: the ID and TTL; *ttl = 0 (field omitted) means the
 * lease no longer exists. */
int baton__etcd_gw_keepalive(const cJSON *p, int64_t *id, int64_t *ttl,
                             baton_error *err);

/* kv/range: the header revision and the first `max` kvs into kvs[0..*n)
 * (each owned by the caller). */
int baton__etcd_gw_range(const cJSON *p, int64_t *revision, baton_etcd_kv *kvs, size_t max,
                         size_t *n, baton_error *err);

/* lease/timetolive: the ID and the seconds left; *ttl = -1 when the lease
 * expired or never existed, 0 (omitted) when it is about to. */
int baton__etcd_gw_timetolive(const cJSON *p, int64_t *id, int64_t *ttl, baton_error *err);

/* kv/deleterange: how many keys were deleted. */
int baton__etcd_gw_deleterange(const cJSON *p, int64_t *deleted, baton_error *err);

/* The reply to the acquire transaction: on success [put, range lowest],
 * on failure [range own, range lowest]. */
typedef struct baton_etcd_txn_reply {
  bool succeeded;          /* the own key was created by this txn */
  int64_t revision;        /* header revision (the put's, on success) */
  bool own_found;          /* failure branch: the own key exists */
  baton_etcd_kv own;       /* failure branch: the own key */
  bool lowest_found;       /* some key exists under the name */
  baton_etcd_kv lowest;    /* the key with the lowest create_revision */
} baton_etcd_txn_reply;

int baton__etcd_gw_txn_acquire(const cJSON *p, baton_etcd_txn_reply *out,
                               baton_error *err);
void baton__etcd_txn_reply_free(baton_etcd_txn_reply *r);

/* Any txn: whether its compares held (the proclaim txn's answer). */
int baton__etcd_gw_txn_succeeded(const cJSON *p, bool *succeeded, baton_error *err);

/* auth/authenticate: the token, checked to be printable and free of
 * spaces (it goes into a header), copied into out (size bytes). */
int baton__etcd_gw_auth(const cJSON *p, char *out, size_t size, baton_error *err);

/* One watch stream message. */
typedef struct baton_etcd_event {
  bool is_delete;          /* DELETE; a PUT has no "type" at all */
  baton_etcd_kv kv;        /* the key after the change */
} baton_etcd_event;

typedef struct baton_etcd_watch_msg {
  int64_t revision;          /* header revision */
  bool created;              /* the watch was created */
  bool canceled;             /* the server cancelled the watch */
  int64_t compact_revision;  /* >0: cancelled because start was compacted */
  char cancel_reason[160];   /* sanitised, "" when none */
  size_t nevents;            /* entries in events */
  baton_etcd_event *events;  /* owned */
} baton_etcd_watch_msg;

int baton__etcd_gw_watch(const cJSON *p, baton_etcd_watch_msg *out, baton_error *err);
void baton__etcd_watch_msg_free(baton_etcd_watch_msg *m);

/* ---- Streams ----------------------------------------------------------------
 * A stream delivers JSON objects back to back (etcd puts a newline between
 * them, which is not relied on). The length of the first complete object
 * in buf[0..len), leading white space included; 0 when it is incomplete;
 * -1 when the data does not start with an object. */
long baton__etcd_gw_split(const char *buf, size_t len);

#endif /* BATON_ETCD_GATEWAY_H */
