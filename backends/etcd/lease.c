/* lease.c — the etcd backend's fixed leases (lib/backend.h, "Fixed
 * leases"): a key in the election's layout on an etcd lease of its own
 * that nobody keeps alive.
 *
 * The key is `<prefix><name>/<its first lease's id in hex>.fixed`, its
 * value the identity, so that every reader of the election (leader,
 * contenders, waits, Go's Election, `etcdctl elect -l`) sees it as a term
 * and its create_revision is its token. The suffix keeps it apart from
 * any election key (etcd.h), so extend and release never touch a term's
 * key, and the lease they revoke held this key alone.
 *
 * TTLs. etcd's are whole seconds, and it raises a TTL below its minimum
 * (1.5 x the election timeout, rounded up: 2 s by default): the lease is
 * granted for ceil(ttl) seconds or more. The server's expiry only comes
 * later than asked, and the core's local end counts from the TTL asked,
 * so safety holds; only a holder that crashed is replaced later, and
 * etcd's lessor looks for expired leases every 500 ms on top.
 *
 * Extend cannot change a lease's TTL (a keepalive restores the granted
 * one): it moves the key to a new lease of the new TTL, in a transaction
 * that checks the key's create revision, and revokes the old lease. */
#include "etcd.h"

#include <inttypes.h>
#include <string.h>

/* Whole seconds of a TTL, rounded up, at least 1. */
static int64_t ttl_seconds(int64_t ttl_ns) {
  int64_t s = (ttl_ns + BATON_NS_PER_S - 1) / BATON_NS_PER_S;
  return s < 1 ? 1 : s;
}

static int not_holder(const char *name, uint64_t token, baton_error *err) {
  return baton__error(err, BATON_ENOTHOLDER, "etcd: '%s' has no fixed lease with token %llu", name,
                      (unsigned long long)token);
}

/* The fixed lease `token` of `name`: its key, read into *kv (the caller
 * frees it), or BATON_ENOTHOLDER when the name has no key of that create
 * revision or it is a term's. `what` names the call. */
static int find(baton_etcd_session *es, const char *what, const char *name, uint64_t token,
                baton_etcd_kv *kv, int64_t deadline, baton_error *err) {
  if (es == NULL || name == NULL)
    return baton__error(err, BATON_EINVAL, "etcd: %s needs a session and a name", what);
  if (token == 0 || token > INT64_MAX) return not_holder(name, token, err);
  baton_etcd_range_req r = {.sort = -1, .limit = 1, .max_create_revision = (int64_t)token};
  size_t n = 0;
  int64_t rev;
  int rc = baton__etcd_range(es, name, &r, kv, 1, &n, &rev, deadline, -1, err);
  if (rc != 0) return rc;
  if (n == 1 && (uint64_t)kv->create_revision == token && baton__etcd_is_fixed(kv)) return 0;
  if (n == 1) baton__etcd_kv_free(kv);
  return not_holder(name, token, err);
}

/* The start of a txn whose compare holds while kv's key is still the one
 * made at its create revision (the token), up to `"success":[`. */
static void compare_token(baton_etcd_str *b, const baton_etcd_kv *kv) {
  baton__etcd_str_cat(b, "{\"compare\":[{\"key\":");
  baton__etcd_str_b64(b, kv->key, kv->key_len);
  baton__etcd_str_printf(b,
                         ",\"target\":\"CREATE\",\"result\":\"EQUAL\",\"create_revision\":"
                         "\"%lld\"}],\"success\":[",
                         (long long)kv->create_revision);
}

/* One txn: if the name has no key at all (a compare over its whole
 * prefix: create_revision 0 holds for an empty range only), put ours and
 * read the lowest; else read ours and the lowest. The acquire txn's shape
 * (etcd.c), so its parser serves, and so a retry after a lost reply lands
 * in the failure branch with our key found: the first try made it. */
static void acquire_body(baton_etcd_str *b, const baton_etcd_str *prefix, const baton_etcd_str *key,
                         const char *identity, int64_t lease) {
  baton_etcd_range_req lowest = {prefix->p, prefix->len, true, 1, 0, 1, 0};
  baton_etcd_range_req own = {key->p, key->len, false, 0, 0, 0, 0};
  baton__etcd_str_cat(b, "{\"compare\":[{");
  baton__etcd_req_key(b, prefix->p, prefix->len, true);
  baton__etcd_str_cat(b, ",\"target\":\"CREATE\",\"result\":\"EQUAL\",\"create_revision\":\"0\"}],"
                         "\"success\":[{\"request_put\":{\"key\":");
  baton__etcd_str_b64(b, key->p, key->len);
  baton__etcd_str_cat(b, ",\"value\":");
  baton__etcd_str_b64(b, identity, strlen(identity));
  baton__etcd_str_printf(b, ",\"lease\":\"%lld\"}},{\"request_range\":", (long long)lease);
  baton__etcd_req_range(b, &lowest);
  baton__etcd_str_cat(b, "}],\"failure\":[{\"request_range\":");
  baton__etcd_req_range(b, &own);
  baton__etcd_str_cat(b, "},{\"request_range\":");
  baton__etcd_req_range(b, &lowest);
  baton__etcd_str_cat(b, "}]}");
}

/* The token from the txn's reply: the put's revision, or our key's
 * create revision when a retry found it made; else who holds the name. */
static int acquire_result(const baton_etcd_txn_reply *r, const baton_etcd_str *key, int64_t lease,
                          uint64_t *token, baton_leader *holder, baton_error *err) {
  const baton_etcd_kv *low = &r->lowest;
  int64_t made = r->succeeded ? r->revision : r->own_found ? r->own.create_revision : 0;
  if (made == 0)
    return r->lowest_found ? baton__etcd_held_by(holder, low, err)
                           : baton__error(err, BATON_EPROTO,
                                          "etcd: fixed lease txn failed but the name has no key");
  if (!r->lowest_found || low->key_len != key->len || memcmp(low->key, key->p, key->len) != 0 ||
      low->create_revision != made || low->lease != lease)
    return baton__error(err, BATON_EPROTO, "etcd: fixed lease key %s made at %lld does not lead",
                        key->p, (long long)made);
  *token = (uint64_t)made;
  return 0;
}

int baton__etcd_lease_acquire(baton_session *s, const char *name, const char *identity,
                              int64_t ttl_ns, uint64_t *token, baton_leader *holder,
                              int64_t deadline, baton_error *err) {
  baton_etcd_session *es = (baton_etcd_session *)s;
  if (es == NULL || name == NULL || identity == NULL || token == NULL)
    return baton__error(err, BATON_EINVAL, "etcd: lease_acquire needs a session, name, identity");
  int64_t lease = 0;
  int rc = baton__etcd_grant(es, NULL, ttl_seconds(ttl_ns), &lease, NULL, deadline, err);
  if (rc != 0) return rc;
  baton_etcd_str prefix = {0}, key = {0}, body = {0};
  baton__etcd_name_prefix(&prefix, es, name);
  baton__etcd_name_prefix(&key, es, name);
  baton__etcd_str_printf(&key, "%" PRIx64 "%s", (uint64_t)lease, BATON_ETCD_FIXED_SUFFIX);
  if (!prefix.oom && !key.oom) acquire_body(&body, &prefix, &key, identity, lease);
  body.oom |= prefix.oom || key.oom;
  baton_etcd_txn_reply r;
  rc = baton__etcd_call(es, "/v3/kv/txn", &body, baton__etcd_decode_txn, &r, deadline, -1, err);
  if (rc == 0) {
    rc = acquire_result(&r, &key, lease, token, holder, err);
    baton__etcd_txn_reply_free(&r);
  }
  /* Refused, or the outcome unknown: the lease goes, and with it the key
   * if the txn made one, so nothing is left. The revoke has a bound of its
   * own, as the other undo paths: the caller's may be what ran out (a lost
   * reply), and a revoke never sent leaves a lease nobody knows the token
   * of holding the name for its whole TTL. Should the revoke fail too,
   * both expire at the TTL. */
  if (rc != 0) baton__etcd_revoke(es, NULL, lease, baton__now() + es->base.cfg->op_timeout_ns);
  baton__etcd_str_free(&prefix);
  baton__etcd_str_free(&key);
  baton__etcd_str_free(&body);
  return rc;
}

int baton__etcd_lease_extend(baton_session *s, const char *name, uint64_t token, int64_t ttl_ns,
                             int64_t deadline, baton_error *err) {
  baton_etcd_session *es = (baton_etcd_session *)s;
  baton_etcd_kv kv;
  int rc = find(es, "lease_extend", name, token, &kv, deadline, err);
  if (rc != 0) return rc;
  int64_t lease = 0;
  rc = baton__etcd_grant(es, NULL, ttl_seconds(ttl_ns), &lease, NULL, deadline, err);
  baton_etcd_str body = {0};
  if (rc == 0) {
    compare_token(&body, &kv);
    baton__etcd_str_cat(&body, "{\"request_put\":{\"key\":");
    baton__etcd_str_b64(&body, kv.key, kv.key_len);
    baton__etcd_str_printf(&body, ",\"ignore_value\":true,\"lease\":\"%lld\"}}]}",
                           (long long)lease);
    bool moved = false;
    rc = baton__etcd_call(es, "/v3/kv/txn", &body, baton__etcd_decode_succeeded, &moved,
                          deadline, -1, err);
    /* Outcome unknown: revoking either lease could end the key, so
     * neither is; the new one expires at its TTL, with the key or not. */
    if (rc == 0 && !moved) {
      baton__etcd_revoke(es, NULL, lease, deadline);
      rc = not_holder(name, token, err);
    } else if (rc == 0) {
      /* The old lease held this key alone (the suffix says it is a fixed
       * lease's, granted for it): nothing else goes with it. If another
       * extend moved the key meanwhile, a lease with no key is left to
       * expire. */
      baton__etcd_revoke(es, NULL, kv.lease, deadline);
    }
  }
  baton__etcd_str_free(&body);
  baton__etcd_kv_free(&kv);
  return rc;
}

int baton__etcd_lease_release(baton_session *s, const char *name, uint64_t token,
                              int64_t deadline, baton_error *err) {
  baton_etcd_session *es = (baton_etcd_session *)s;
  baton_etcd_kv kv;
  int rc = find(es, "lease_release", name, token, &kv, deadline, err);
  if (rc != 0) return rc;
  /* Deleted only if it is still the same key: its deletion is what wakes
   * the name's waiters. A fixed lease never proclaims, so it has no
   * identity key beside it. */
  baton_etcd_str body = {0};
  compare_token(&body, &kv);
  baton__etcd_str_cat(&body, "{\"request_delete_range\":{\"key\":");
  baton__etcd_str_b64(&body, kv.key, kv.key_len);
  baton__etcd_str_cat(&body, "}}]}");
  bool deleted = false;
  rc = baton__etcd_call(es, "/v3/kv/txn", &body, baton__etcd_decode_succeeded, &deleted,
                        deadline, -1, err);
  if (rc == 0 && !deleted) rc = not_holder(name, token, err);
  /* The lease has nothing left on it: revoked now rather than left to
   * expire (best effort). */
  if (rc == 0) baton__etcd_revoke(es, NULL, kv.lease, deadline);
  baton__etcd_str_free(&body);
  baton__etcd_kv_free(&kv);
  return rc;
}
