/* etcd.c — the etcd:// and etcds:// backend table: one lease per session,
 * candidates as keys of etcd's own election layout, one transaction to
 * enqueue and read-only ranges to look again. */
#include "etcd.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- Shared helpers -------------------------------------------------------- */

void baton__etcd_name_prefix(baton_etcd_str *s, const baton_etcd_session *es, const char *name) {
  baton__etcd_str_cat(s, es->prefix);
  baton__etcd_str_cat(s, name);
  baton__etcd_str_cat(s, "/");
}

int64_t baton__etcd_lease(baton_etcd_session *es, uint64_t *gen) {
  pthread_mutex_lock(&es->mu);
  int64_t lease = es->lease;
  if (gen != NULL) *gen = es->lease_gen;
  pthread_mutex_unlock(&es->mu);
  return lease;
}

int64_t baton__etcd_session_lease(baton_session *s) {
  return baton__etcd_lease((baton_etcd_session *)s, NULL);
}

void baton__etcd_session_stats(baton_session *s, baton_etcd_stats *out) {
  baton__etcd_http_stats(((baton_etcd_session *)s)->http, out);
}

static int oom(baton_error *err) { return baton__error(err, BATON_ENOMEM, "etcd: out of memory"); }

int baton__etcd_call(baton_etcd_session *es, const char *path, const baton_etcd_str *body,
                     baton_etcd_decode decode, void *out, int64_t deadline, int cancel_fd,
                     baton_error *err) {
  if (body->oom) return oom(err);
  baton_etcd_conn *conn = baton__etcd_conn_get(es->http);
  if (conn == NULL) return oom(err);
  int rc = baton__etcd_http_call(es->http, conn, path, body->p, BATON_ETCD_IDEMPOTENT, decode,
                                 out, deadline, cancel_fd, err);
  baton__etcd_conn_put(es->http, conn);
  return rc;
}

/* ---- Decoders: a reply's payload into what a call needs ------------------ */

typedef struct range_out {
  int64_t *revision;
  baton_etcd_kv *kvs;
  size_t max;
  size_t *n;
} range_out;

static int decode_range(const cJSON *p, void *out, baton_error *err) {
  range_out *r = out;
  return baton__etcd_gw_range(p, r->revision, r->kvs, r->max, r->n, err);
}

typedef struct lease_out {
  int64_t id;   /* keepalive: the lease asked about, checked */
  int64_t ttl;
} lease_out;

static int decode_grant(const cJSON *p, void *out, baton_error *err) {
  lease_out *l = out;
  return baton__etcd_gw_grant(p, &l->id, &l->ttl, err);
}

/* The keepalive reply of an expired lease has no TTL at all (zero is
 * omitted): that, not an error, is how the gateway says "gone". */
static int decode_keepalive(const cJSON *p, void *out, baton_error *err) {
  lease_out *l = out;
  int64_t id = 0;
  int rc = baton__etcd_gw_keepalive(p, &id, &l->ttl, err);
  if (rc == 0 && id != l->id)
    return baton__error(err, BATON_EPROTO, "keepalive for lease %llx answered for lease %llx",
                        (unsigned long long)l->id, (unsigned long long)id);
  if (rc == 0 && l->ttl == 0)
    return baton__error(err, BATON_ESESSION, "lease %llx expired or was revoked",
                        (unsigned long long)l->id);
  return rc;
}

int baton__etcd_decode_txn(const cJSON *p, void *out, baton_error *err) {
  return baton__etcd_gw_txn_acquire(p, out, err);
}

int baton__etcd_decode_succeeded(const cJSON *p, void *out, baton_error *err) {
  return baton__etcd_gw_txn_succeeded(p, out, err);
}

static int decode_deleterange(const cJSON *p, void *out, baton_error *err) {
  return baton__etcd_gw_deleterange(p, out, err);
}

int baton__etcd_range(baton_etcd_session *es, const char *name, baton_etcd_range_req *r,
                      baton_etcd_kv *kvs, size_t max, size_t *n, int64_t *revision,
                      int64_t deadline, int cancel_fd, baton_error *err) {
  *n = 0;
  baton_etcd_str prefix = {0}, body = {0};
  baton__etcd_name_prefix(&prefix, es, name);
  r->key = prefix.p;
  r->key_len = prefix.len;
  r->prefix = true;
  if (!prefix.oom) baton__etcd_req_range(&body, r);
  body.oom |= prefix.oom;
  range_out out = {revision, kvs, max, n};
  int rc =
      baton__etcd_call(es, "/v3/kv/range", &body, decode_range, &out, deadline, cancel_fd, err);
  baton__etcd_str_free(&prefix);
  baton__etcd_str_free(&body);
  return rc;
}

/* Fill a baton_leader from the leader's key. */
static void leader_from(baton_leader *out, const baton_etcd_kv *kv) {
  size_t n = kv->value_len < BATON_IDENTITY_MAX ? kv->value_len : BATON_IDENTITY_MAX;
  memcpy(out->identity, kv->value, n);
  out->identity[n] = '\0';
  out->token = (uint64_t)kv->create_revision;
  out->version = baton__etcd_value_version(kv);
}

/* The key beside the election that keeps a proclaimed term's identity:
 * <prefix><name>#id/<the candidate key's last part>. '#' is no name
 * character, so it is under no election's prefix. */
static int identity_key(baton_etcd_str *s, const baton_etcd_session *es, const char *name,
                        const char *key, size_t key_len) {
  size_t plen = strlen(es->prefix) + strlen(name) + 1;
  if (key_len < plen) return BATON_EINVAL;
  baton__etcd_str_cat(s, es->prefix);
  baton__etcd_str_cat(s, name);
  baton__etcd_str_cat(s, "#id/");
  baton__etcd_str_add(s, key + plen, key_len - plen);
  return s->oom ? BATON_ENOMEM : 0;
}

int baton__etcd_held_by(baton_leader *holder, const baton_etcd_kv *low, baton_error *err) {
  if (holder != NULL) leader_from(holder, low);
  return baton__error(err, BATON_EHELD, "held by '%.64s' (token %lld)", low->value,
                      (long long)low->create_revision);
}

static bool same_bytes(const char *a, size_t alen, const char *b, size_t blen) {
  return alen == blen && memcmp(a, b, alen) == 0;
}

/* Whether kv's value is what our term may have left there: the identity
 * it was created with, or, once this term proclaimed, a written value
 * (only a write, never the creation, raises mod_revision above
 * create_revision). */
static bool own_value(const baton_etcd_cand *ec, const char *identity, const baton_etcd_kv *kv) {
  return (ec->proclaimed && kv->mod_revision != kv->create_revision) ||
         same_bytes(kv->value, kv->value_len, identity, strlen(identity));
}

bool baton__etcd_is_own(const baton_etcd_cand *ec, const char *identity, const baton_etcd_kv *kv) {
  return ec->key != NULL && same_bytes(kv->key, kv->key_len, ec->key, ec->key_len) &&
         kv->lease == ec->lease && kv->create_revision == ec->create_revision &&
         own_value(ec, identity, kv);
}

/* ---- Lease --------------------------------------------------------------------- */

int baton__etcd_grant(baton_etcd_session *es, baton_etcd_conn *conn, int64_t ttl_s, int64_t *id,
                      int64_t *granted, int64_t deadline, baton_error *err) {
  char body[64];
  snprintf(body, sizeof body, "{\"TTL\":\"%lld\"}", (long long)ttl_s);
  baton_etcd_conn *c = conn != NULL ? conn : baton__etcd_conn_get(es->http);
  if (c == NULL) return oom(err);
  lease_out l = {0, 0};
  int rc = baton__etcd_http_call(es->http, c, "/v3/lease/grant", body, BATON_ETCD_ONCE,
                                 decode_grant, &l, deadline, -1, err);
  if (conn == NULL) baton__etcd_conn_put(es->http, c);
  if (rc != 0) return rc;
  *id = l.id;
  if (granted != NULL) *granted = l.ttl;
  return 0;
}

void baton__etcd_revoke(baton_etcd_session *es, baton_etcd_conn *conn, int64_t lease,
                        int64_t deadline) {
  if (lease == 0) return;
  char body[64];
  snprintf(body, sizeof body, "{\"ID\":\"%lld\"}", (long long)lease);
  baton_etcd_conn *c = conn != NULL ? conn : baton__etcd_conn_get(es->http);
  if (c == NULL) return;
  baton_error ignored;
  baton__etcd_http_call(es->http, c, "/v3/lease/revoke", body, BATON_ETCD_IDEMPOTENT, NULL, NULL,
                        deadline, -1, &ignored);
  if (conn == NULL) baton__etcd_conn_put(es->http, c);
}

/* Grant the session's lease on the renew conn. */
static int grant(baton_etcd_session *es, int64_t *id, int64_t deadline, baton_error *err) {
  int64_t ttl = 0;
  int rc = baton__etcd_grant(es, baton__etcd_conn_renew(es->http), es->ttl_s, id, &ttl, deadline,
                             err);
  if (rc != 0) return rc;
  /* Written only here, under the lock, by open or by the renew thread. */
  pthread_mutex_lock(&es->mu);
  es->base.server_ttl_ns = ttl * BATON_NS_PER_S;
  pthread_mutex_unlock(&es->mu);
  return 0;
}

/* Revoke the session's lease (its keys go with it), bounded by the op
 * timeout. */
static void revoke(baton_etcd_session *es, int64_t lease) {
  baton__etcd_revoke(es, baton__etcd_conn_renew(es->http), lease,
                     baton__now() + es->base.cfg->op_timeout_ns);
}

/* ---- The table ------------------------------------------------------------------ */

static void etcd_close(baton_session *s) {
  baton_etcd_session *es = (baton_etcd_session *)s;
  if (es == NULL) return;
  baton__etcd_hub_close(es);
  if (es->http != NULL) revoke(es, es->lease);
  baton__etcd_http_close(es->http);
  pthread_mutex_destroy(&es->mu);
  baton__free(es->prefix);
  baton__free(es);
}

static int etcd_open(baton_session **out, const baton_uri *uri, const baton_config *cfg,
                     int64_t deadline, baton_error *err) {
  if (out == NULL || uri == NULL || cfg == NULL)
    return baton__error(err, BATON_EINVAL, "etcd: open needs out, uri and cfg");
  *out = NULL;
  baton_etcd_session *es = baton__calloc(1, sizeof *es);
  if (es == NULL) return oom(err);
  pthread_mutex_init(&es->mu, NULL);
  es->base.cfg = cfg;
  /* etcd://h/app/ is the prefix "app/": etcdctl's NAME maps to "NAME/"
   * with no prefix, so only the URI's leading '/' is dropped. */
  es->prefix = baton__strdup(uri->path[0] == '/' ? uri->path + 1 : uri->path);
  es->ttl_s = (cfg->ttl_ns + BATON_NS_PER_S - 1) / BATON_NS_PER_S;
  if (es->ttl_s < 1) es->ttl_s = 1;
  int rc = es->prefix == NULL ? oom(err) : baton__etcd_http_open(&es->http, uri, cfg, err);
  if (rc == 0)
    rc = baton__etcd_http_login(es->http, baton__etcd_conn_renew(es->http), deadline, err);
  /* A read-only client only ranges and watches: no lease to grant, keep
   * alive and revoke (etcdctl elect -l takes none either). */
  if (rc == 0 && !cfg->read_only) rc = grant(es, &es->lease, deadline, err);
  if (rc != 0) {
    etcd_close(&es->base);
    return rc;
  }
  es->lease_gen = 1;
  *out = &es->base;
  return 0;
}

static int etcd_renew(baton_session *s, baton_candidate *const *held, size_t n, bool *gone,
                      int64_t deadline, baton_error *err) {
  (void)held;
  baton_etcd_session *es = (baton_etcd_session *)s;
  if (es == NULL) return baton__error(err, BATON_EINVAL, "etcd: renew without a session");
  for (size_t i = 0; gone != NULL && i < n; i++) gone[i] = false;
  int64_t lease = baton__etcd_lease(es, NULL), id = 0;
  if (lease == 0) {
    /* The old lease expired: this renew starts the new session, and
     * every blocked wait is told so its candidate enqueues again. */
    int rc = grant(es, &id, deadline, err);
    if (rc != 0) return rc;
    pthread_mutex_lock(&es->mu);
    es->lease = id;
    es->lease_gen++;
    for (baton_etcd_waiter *w = es->waiters; w != NULL; w = w->next)
      baton__etcd_conn_wake(w->conn);
    pthread_mutex_unlock(&es->mu);
    baton__etcd_hub_wake_all(es); /* armed watches too: their keys went */
    baton__log(s->cfg, BATON_LOG_INFO, "etcd: new lease 0x%llx granted after the last one expired",
               (unsigned long long)id);
    return 0;
  }
  /* One keepalive per POST: the gateway ignores any after the first in a
   * body (etcd issue 8237). */
  char body[64];
  snprintf(body, sizeof body, "{\"ID\":\"%lld\"}", (long long)lease);
  lease_out l = {lease, 0};
  int rc = baton__etcd_http_call(es->http, baton__etcd_conn_renew(es->http), "/v3/lease/keepalive",
                                 body, BATON_ETCD_IDEMPOTENT, decode_keepalive, &l, deadline, -1,
                                 err);
  if (rc == BATON_ESESSION) {
    pthread_mutex_lock(&es->mu);
    if (es->lease == lease) es->lease = 0;
    pthread_mutex_unlock(&es->mu);
  }
  return rc;
}

baton_etcd_cand *baton__etcd_cand(baton_candidate *c) {
  if (c->priv == NULL) c->priv = baton__calloc(1, sizeof(baton_etcd_cand));
  return c->priv;
}

/* Point the candidate at its key for `lease`: etcd's own layout,
 * <prefix><name>/<lease in hex>, and for a second election of the client
 * on the same name "-<slot>" after it, so that the two are two candidates
 * (Go's Election and etcdctl order keys by revision, not by their names). */
static int set_key(baton_etcd_session *es, baton_candidate *c, baton_etcd_cand *ec, int64_t lease) {
  if (ec->key != NULL && ec->lease == lease) return 0;
  baton_etcd_str key = {0};
  baton__etcd_name_prefix(&key, es, c->name);
  baton__etcd_str_printf(&key, "%" PRIx64, (uint64_t)lease);
  if (c->slot != 0) baton__etcd_str_printf(&key, "-%u", c->slot);
  if (key.oom) {
    baton__etcd_str_free(&key);
    return BATON_ENOMEM;
  }
  baton__free(ec->key);
  ec->key = key.p;
  ec->key_len = key.len;
  ec->lease = lease;
  ec->create_revision = 0;
  ec->won_revision = 0;
  ec->proclaimed = false; /* an identity key of the old lease goes with it */
  return 0;
}

/* The acquire txn: create the own key if absent, and read the lowest key;
 * if it existed, read it instead. One round trip either way, and a retry
 * after a lost reply lands in the failure branch, which resolves it. */
static void acquire_body(baton_etcd_str *b, baton_etcd_session *es, baton_candidate *c,
                         const baton_etcd_cand *ec) {
  baton_etcd_str prefix = {0};
  baton__etcd_name_prefix(&prefix, es, c->name);
  baton_etcd_range_req lowest = {prefix.p, prefix.len, true, 1, 0, 1, 0};
  baton_etcd_range_req own = {ec->key, ec->key_len, false, 0, 0, 0, 0};
  baton__etcd_str_cat(b, "{\"compare\":[{\"key\":");
  baton__etcd_str_b64(b, ec->key, ec->key_len);
  baton__etcd_str_cat(b, ",\"target\":\"CREATE\",\"result\":\"EQUAL\",\"create_revision\":\"0\"}],"
                         "\"success\":[{\"request_put\":{\"key\":");
  baton__etcd_str_b64(b, ec->key, ec->key_len);
  baton__etcd_str_cat(b, ",\"value\":");
  baton__etcd_str_b64(b, c->identity, strlen(c->identity));
  baton__etcd_str_printf(b, ",\"lease\":\"%lld\"}},{\"request_range\":", (long long)ec->lease);
  if (!prefix.oom) baton__etcd_req_range(b, &lowest);
  baton__etcd_str_cat(b, "}],\"failure\":[{\"request_range\":");
  baton__etcd_req_range(b, &own);
  baton__etcd_str_cat(b, "},{\"request_range\":");
  if (!prefix.oom) baton__etcd_req_range(b, &lowest);
  baton__etcd_str_cat(b, "}]}");
  b->oom |= prefix.oom;
  baton__etcd_str_free(&prefix);
}

/* Decide from the txn reply. Elected only when the lowest key is ours AND
 * carries our lease and identity: a key of ours from a lease that is gone
 * must not count (etcd issue 11456). */
static int acquire_result(baton_etcd_cand *ec, baton_candidate *c, baton_etcd_txn_reply *r,
                          baton_leader *holder, baton_error *err) {
  if (r->succeeded) {
    ec->create_revision = r->revision;
    ec->proclaimed = false; /* a new key: this term wrote no identity yet */
  } else {
    if (!r->own_found)
      return baton__error(err, BATON_EPROTO, "etcd: txn says key %s exists but did not return it",
                          ec->key);
    if (r->own.lease != ec->lease || !own_value(ec, c->identity, &r->own))
      return baton__error(err, BATON_EREFUSED,
                          "etcd: key %s exists but is not ours (lease %llx, value of %zu bytes)",
                          ec->key, (unsigned long long)r->own.lease, r->own.value_len);
    ec->create_revision = r->own.create_revision;
  }
  if (!r->lowest_found || ec->create_revision <= 0)
    return baton__error(err, BATON_EPROTO, "etcd: txn reply lacks the name's keys");
  const baton_etcd_kv *low = &r->lowest;
  if (!same_bytes(low->key, low->key_len, ec->key, ec->key_len))
    return baton__etcd_held_by(holder, low, err);
  if (!baton__etcd_is_own(ec, c->identity, low))
    return baton__error(err, BATON_EREFUSED,
                        "etcd: key %s leads but is not ours (lease %llx, revision %lld)", ec->key,
                        (unsigned long long)low->lease, (long long)low->create_revision);
  c->token = (uint64_t)ec->create_revision;
  return 0;
}

/* recheck's answer when only the txn can tell: our key is not where wait
 * and the last acquire left it. */
#define BATON_ETCD_RECHECK_TXN 1

/* A candidate already queued looks again with one read-only range of the
 * lowest key: the put-if-absent txn goes through Raft and a WAL sync even
 * when its compare fails (its success branch holds a put), a range does
 * not. Elected only when the lowest key is ours as we made it; EHELD when
 * an older key leads (if ours vanished meanwhile, wait finds out and
 * clears create_revision); BATON_ETCD_RECHECK_TXN when nothing older leads but ours
 * is not the lowest as we made it, i.e. it is gone or altered. */
static int recheck(baton_etcd_session *es, baton_candidate *c, baton_etcd_cand *ec,
                   baton_leader *holder, int64_t deadline, baton_error *err) {
  baton_etcd_range_req r = {.sort = 1, .limit = 1};
  baton_etcd_kv low;
  size_t n = 0;
  int64_t rev;
  int rc = baton__etcd_range(es, c->name, &r, &low, 1, &n, &rev, deadline, -1, err);
  if (rc != 0 || n == 0) return rc != 0 ? rc : BATON_ETCD_RECHECK_TXN;
  if (baton__etcd_is_own(ec, c->identity, &low)) {
    c->token = (uint64_t)ec->create_revision;
    rc = 0;
  } else if (low.create_revision < ec->create_revision) {
    rc = baton__etcd_held_by(holder, &low, err);
  } else {
    rc = BATON_ETCD_RECHECK_TXN;
  }
  baton__etcd_kv_free(&low);
  return rc;
}

static int etcd_acquire(baton_session *s, baton_candidate *c, baton_leader *holder,
                        int64_t deadline, baton_error *err) {
  baton_etcd_session *es = (baton_etcd_session *)s;
  if (es == NULL || c == NULL || c->name == NULL || c->identity == NULL)
    return baton__error(err, BATON_EINVAL, "etcd: acquire needs a session and a candidate");
  int64_t lease = baton__etcd_lease(es, NULL);
  if (lease == 0)
    return baton__error(err, BATON_ESESSION, "etcd: the lease expired; no new one yet");
  baton_etcd_cand *ec = baton__etcd_cand(c);
  if (ec == NULL) return oom(err);
  baton__etcd_hub_take_won(es, ec); /* a watch's wake-up may carry a proof */
  if (set_key(es, c, ec, lease) != 0) return oom(err);
  /* The wait or watch that just returned proved from its watch that our
   * key led (watch.c and hub.c say how): the campaign's linearization point is that
   * revision, and nothing needs asking. Used once. */
  int64_t won = ec->won_revision;
  ec->won_revision = 0;
  if (won > 0 && ec->create_revision > 0) {
    c->token = (uint64_t)ec->create_revision;
    return 0;
  }
  if (ec->create_revision > 0) {
    int rc = recheck(es, c, ec, holder, deadline, err);
    if (rc != BATON_ETCD_RECHECK_TXN) return rc;
  }
  baton_etcd_str body = {0};
  acquire_body(&body, es, c, ec);
  baton_etcd_txn_reply r;
  int rc =
      baton__etcd_call(es, "/v3/kv/txn", &body, baton__etcd_decode_txn, &r, deadline, -1, err);
  baton__etcd_str_free(&body);
  if (rc != 0) return rc;
  rc = acquire_result(ec, c, &r, holder, err);
  baton__etcd_txn_reply_free(&r);
  return rc;
}

/* Delete the identity key a proclaimed term wrote (it would go with the
 * lease anyway: a failure only leaves it until then). */
static void forget_identity(baton_etcd_session *es, baton_candidate *c, baton_etcd_cand *ec,
                            int64_t deadline) {
  baton_etcd_str id = {0}, body = {0};
  if (identity_key(&id, es, c->name, ec->key, ec->key_len) == 0) {
    baton__etcd_str_cat(&body, "{\"key\":");
    baton__etcd_str_b64(&body, id.p, id.len);
    baton__etcd_str_cat(&body, "}");
    int64_t deleted = 0;
    if (baton__etcd_call(es, "/v3/kv/deleterange", &body, decode_deleterange, &deleted, deadline,
                         -1, NULL) == 0)
      ec->proclaimed = false;
  }
  baton__etcd_str_free(&id);
  baton__etcd_str_free(&body);
}

static int etcd_release(baton_session *s, baton_candidate *c, int64_t deadline,
                        baton_error *err) {
  baton_etcd_session *es = (baton_etcd_session *)s;
  if (es == NULL || c == NULL)
    return baton__error(err, BATON_EINVAL, "etcd: release needs a session and a candidate");
  baton_etcd_cand *ec = c->priv;
  if (ec != NULL) { /* whatever happens below, no term starts from it, nor a watch's proof */
    baton__etcd_hub_take_won(es, ec);
    ec->won_revision = 0;
  }
  if (ec == NULL || ec->key == NULL) return 0;
  /* The key embeds our lease id, so deleting it by its exact name can
   * only delete our own key. */
  baton_etcd_str body = {0}, id = {0};
  int rc = 0;
  if (ec->proclaimed && identity_key(&id, es, c->name, ec->key, ec->key_len) == 0) {
    /* The key and the identity beside it go in one transaction: no reader
     * sees the proclaimed value without its identity. */
    baton__etcd_str_cat(&body, "{\"success\":[{\"request_delete_range\":{\"key\":");
    baton__etcd_str_b64(&body, ec->key, ec->key_len);
    baton__etcd_str_cat(&body, "}},{\"request_delete_range\":{\"key\":");
    baton__etcd_str_b64(&body, id.p, id.len);
    baton__etcd_str_cat(&body, "}}]}");
    bool ok = false;
    rc = baton__etcd_call(es, "/v3/kv/txn", &body, baton__etcd_decode_succeeded, &ok, deadline, -1,
                          err);
    if (rc == 0) ec->proclaimed = false;
  } else {
    baton__etcd_str_cat(&body, "{\"key\":");
    baton__etcd_str_b64(&body, ec->key, ec->key_len);
    baton__etcd_str_cat(&body, "}");
    int64_t deleted = 0;
    rc = baton__etcd_call(es, "/v3/kv/deleterange", &body, decode_deleterange, &deleted, deadline,
                          -1, err);
  }
  baton__etcd_str_free(&body);
  baton__etcd_str_free(&id);
  if (rc != 0) return rc;
  if (ec->proclaimed) forget_identity(es, c, ec, deadline);
  baton__free(ec->key);
  ec->key = NULL;
  ec->key_len = 0;
  ec->create_revision = 0;
  return 0;
}

/* Fill `out` from a candidate key `kv` of `name`, read at revision `rev`:
 * its identity is the value, unless the term proclaimed: then it is in
 * the identity key (one more request, read at the same revision, so a
 * release between the two reads cannot pass the proclaimed text off as
 * the identity). A key changed by another writer (Go's Proclaim, a put by
 * hand) has none: its value stands for its identity, as before. */
static int who_is(baton_etcd_session *es, const char *name, const baton_etcd_kv *kv, int64_t rev,
                  baton_leader *out, int64_t deadline, baton_error *err) {
  leader_from(out, kv);
  if (!baton__etcd_proclaimed(kv)) return 0;
  baton_etcd_str key = {0}, body = {0};
  int rc = identity_key(&key, es, name, kv->key, kv->key_len);
  if (rc == 0) {
    baton_etcd_range_req r = {key.p, key.len, false, 0, 0, 0, rev};
    baton__etcd_req_range(&body, &r);
    baton_etcd_kv id;
    size_t n = 0;
    int64_t at;
    range_out ro = {&at, &id, 1, &n};
    rc = baton__etcd_call(es, "/v3/kv/range", &body, decode_range, &ro, deadline, -1, err);
    if (rc == 0 && n == 1) {
      size_t k = id.value_len < BATON_IDENTITY_MAX ? id.value_len : BATON_IDENTITY_MAX;
      memcpy(out->identity, id.value, k);
      out->identity[k] = '\0';
    }
    if (rc == 0 && n == 1) baton__etcd_kv_free(&id);
  } else {
    rc = baton__error(err, rc, "etcd: cannot name the identity key of %.*s", (int)kv->key_len,
                      kv->key);
  }
  baton__etcd_str_free(&key);
  baton__etcd_str_free(&body);
  return rc;
}

static int etcd_leader_value(baton_session *s, const char *name, baton_leader *out, char *value,
                             size_t size, size_t *len, int64_t deadline, baton_error *err) {
  baton_etcd_session *es = (baton_etcd_session *)s;
  if (es == NULL || name == NULL || out == NULL)
    return baton__error(err, BATON_EINVAL, "etcd: leader needs a session, a name and out");
  baton_etcd_range_req r = {.sort = 1, .limit = 1};
  baton_etcd_kv kv;
  size_t n = 0;
  int64_t rev;
  int rc = baton__etcd_range(es, name, &r, &kv, 1, &n, &rev, deadline, -1, err);
  if (rc != 0) return rc;
  if (n == 0) return baton__error(err, BATON_ENOLEADER, "'%s' has no leader", name);
  rc = who_is(es, name, &kv, rev, out, deadline, err);
  baton__value_copy(value, size, len, "", 0);
  if (rc == 0 && baton__etcd_proclaimed(&kv))
    baton__value_copy(value, size, len, kv.value, kv.value_len);
  baton__etcd_kv_free(&kv);
  return rc;
}

static int etcd_leader(baton_session *s, const char *name, baton_leader *out, int64_t deadline,
                       baton_error *err) {
  return etcd_leader_value(s, name, out, NULL, 0, NULL, deadline, err);
}

/* etcd's Proclaim: put the value on our key only if it is still the one
 * we made (create_revision) on our lease, and the identity beside it in
 * the same txn, on the same lease. */
static int etcd_proclaim(baton_session *s, baton_candidate *c, const char *value,
                         int64_t deadline, baton_error *err) {
  baton_etcd_session *es = (baton_etcd_session *)s;
  baton_etcd_cand *ec = c != NULL ? c->priv : NULL;
  if (es == NULL || ec == NULL || ec->key == NULL || ec->create_revision <= 0)
    return baton__error(err, BATON_ENOTHOLDER, "etcd: proclaim: no key of ours");
  baton_etcd_str id = {0}, b = {0};
  if (identity_key(&id, es, c->name, ec->key, ec->key_len) != 0) {
    baton__etcd_str_free(&id);
    return oom(err);
  }
  baton__etcd_str_cat(&b, "{\"compare\":[{\"key\":");
  baton__etcd_str_b64(&b, ec->key, ec->key_len);
  baton__etcd_str_printf(&b,
                         ",\"target\":\"CREATE\",\"result\":\"EQUAL\",\"create_revision\":\"%lld\"},"
                         "{\"key\":",
                         (long long)ec->create_revision);
  baton__etcd_str_b64(&b, ec->key, ec->key_len);
  baton__etcd_str_printf(&b,
                         ",\"target\":\"LEASE\",\"result\":\"EQUAL\",\"lease\":\"%lld\"}],"
                         "\"success\":[{\"request_put\":{\"key\":",
                         (long long)ec->lease);
  baton__etcd_str_b64(&b, ec->key, ec->key_len);
  baton__etcd_str_cat(&b, ",\"value\":");
  baton__etcd_str_b64(&b, value, strlen(value));
  baton__etcd_str_printf(&b, ",\"lease\":\"%lld\"}},{\"request_put\":{\"key\":",
                         (long long)ec->lease);
  baton__etcd_str_b64(&b, id.p, id.len);
  baton__etcd_str_cat(&b, ",\"value\":");
  baton__etcd_str_b64(&b, c->identity, strlen(c->identity));
  baton__etcd_str_printf(&b, ",\"lease\":\"%lld\"}}]}", (long long)ec->lease);
  bool ok = false;
  ec->proclaimed = true; /* even when the reply is lost: release deletes it */
  int rc =
      baton__etcd_call(es, "/v3/kv/txn", &b, baton__etcd_decode_succeeded, &ok, deadline, -1, err);
  baton__etcd_str_free(&b);
  baton__etcd_str_free(&id);
  if (rc == 0 && !ok)
    return baton__error(err, BATON_ENOTHOLDER,
                        "etcd: proclaim: key %s is no longer ours (revision %lld, lease %llx)",
                        ec->key, (long long)ec->create_revision, (unsigned long long)ec->lease);
  return rc;
}


static int decode_timetolive(const cJSON *p, void *out, baton_error *err) {
  lease_out *l = out;
  int64_t id = 0;
  return baton__etcd_gw_timetolive(p, &id, &l->ttl, err);
}

/* The seconds `lease` has left on the server, in ms; -1 when it is gone. */
static int lease_left(baton_etcd_session *es, int64_t lease, int64_t *ms, int64_t deadline,
                      baton_error *err) {
  baton_etcd_str body = {0};
  baton__etcd_str_printf(&body, "{\"ID\":\"%lld\"}", (long long)lease);
  lease_out l = {lease, 0};
  int rc = baton__etcd_call(es, "/v3/lease/timetolive", &body, decode_timetolive, &l, deadline, -1,
                            err);
  baton__etcd_str_free(&body);
  if (rc == 0) *ms = l.ttl < 0 ? -1 : l.ttl * 1000;
  return rc;
}

/* The keys under the name's prefix by create revision (etcdctl elect -l's
 * order), then the holder's lease's time to live. */
static int etcd_contenders(baton_session *s, const char *name, baton_contender *out, size_t cap,
                           size_t *n, int64_t deadline, baton_error *err) {
  baton_etcd_session *es = (baton_etcd_session *)s;
  *n = 0;
  if (cap == 0) return 0;
  baton_etcd_kv *kvs = baton__calloc(cap, sizeof *kvs);
  if (kvs == NULL) return oom(err);
  baton_etcd_range_req r = {.sort = 1, .limit = (int64_t)cap};
  size_t got = 0;
  int64_t rev;
  int rc = baton__etcd_range(es, name, &r, kvs, cap, &got, &rev, deadline, -1, err);
  for (size_t i = 0; rc == 0 && i < got; i++) {
    baton_leader who;
    rc = who_is(es, name, &kvs[i], rev, &who, deadline, err);
    out[i].token = who.token;
    memcpy(out[i].identity, who.identity, sizeof out[i].identity);
  }
  if (rc == 0 && got > 0 && kvs[0].lease != 0)
    rc = lease_left(es, kvs[0].lease, &out[0].ttl_remaining_ms, deadline, err);
  for (size_t i = 0; i < got; i++) baton__etcd_kv_free(&kvs[i]);
  baton__free(kvs);
  if (rc == 0) *n = got;
  return rc;
}

static void etcd_forget(baton_session *s, baton_candidate *c) {
  if (c == NULL || c->priv == NULL) return;
  baton__etcd_unwatch(s, c);
  baton_etcd_cand *ec = c->priv;
  baton__free(ec->sub.scope);
  baton__free(ec->sub.own);
  baton__free(ec->sub.other);
  baton__free(ec->key);
  baton__free(ec);
  c->priv = NULL;
}

static const char *const etcd_schemes[] = {BATON_SCHEMES_etcd, NULL};

const baton_backend baton_backend_etcd = {
    .schemes = etcd_schemes,
    .caps = BATON_CAP_QUEUE,
    .open = etcd_open,
    .close = etcd_close,
    .acquire = etcd_acquire,
    .wait = baton__etcd_wait,
    .release = etcd_release,
    .renew = etcd_renew,
    .leader = etcd_leader,
    .contenders = etcd_contenders,
    .forget = etcd_forget,
    .proclaim = etcd_proclaim,
    .leader_value = etcd_leader_value,
    .lease_acquire = baton__etcd_lease_acquire,
    .lease_extend = baton__etcd_lease_extend,
    .lease_release = baton__etcd_lease_release,
    .watch = baton__etcd_watch,
    .unwatch = baton__etcd_unwatch,
};
