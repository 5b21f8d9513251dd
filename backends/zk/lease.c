/* lease.c — fixed leases on zk://: TTL nodes in the election's queue.
 *
 * A lease on NAME is a contender of the election NAME like any other,
 * made PERSISTENT_SEQUENTIAL_WITH_TTL instead of ephemeral, so that it
 * outlives the session: its name "ttl<ms>-<32 hex>__lock__<sequence>"
 * carries its TTL (names.c: no client can read a TTL node's TTL from the
 * server), its data the identity, its czxid the token. Leader, contenders
 * and every wait see it as a term; campaigns queue behind it and their
 * predecessor watch wakes them when it goes. A lease is only ever granted
 * as the lowest contender, and nothing is queued ahead of it later, so the
 * lease of a token is the name's lowest contender or gone.
 *
 * Clocks. The server counts a TTL node's life from its last modification
 * (mtime), and deletes it only when its container reaper passes
 * (znode.container.checkIntervalMs, 60 s by default): an ended lease may
 * stand for up to that long. Baton does not wait for the reaper where a
 * write of its own tells the server's clock: the ctime of the node an
 * acquire makes, the mtime an extend's or release's setData stamps. A
 * lease whose mtime + TTL lies before that instant has ended, and is
 * deleted if unchanged (its version). The holder's local end (lib/lease.c)
 * comes before that instant, since the holder sent its request before the
 * server stamped mtime. The stamps are the ZooKeeper leader's wall clock:
 * a new leader whose clock is ahead ends leases early, as it makes the
 * reaper do.
 *
 * Waiters do not wait for the reaper either (zk.c's wait): the watch on a
 * lease node hears its extend (a data change) and its release; without
 * either, it has surely ended one TTL after the wait read it (its mtime
 * was no later), stretched by the clock drift and a margin
 * (baton__zk_lease_end). A queued campaign then deletes it if unchanged,
 * as the reaper would; an observer looks again.
 *
 * Requests: acquire = create + get children (+ a get of each lease ahead,
 * a delete of each that ended, a delete of ours when refused); extend =
 * get children + get + set; release = the same + delete. */
#include "zk.h"

#include <stdio.h>
#include <string.h>

/* The server takes a TTL in whole ms. */
static int64_t ttl_ms_of(int64_t ttl_ns) {
  int64_t ms = (ttl_ns + BATON_NS_PER_MS - 1) / BATON_NS_PER_MS;
  return ms > 0 ? ms : 1;
}

/* Whether a lease node (its name's TTL, its stat) had ended at the
 * server's `now_ms`: the reaper's rule (now - mtime > ttl). A node another
 * session owns is an election's, whatever its name. */
static bool ended(int64_t ttl_ms, const struct Stat *st, int64_t now_ms) {
  return ttl_ms > 0 && st->ephemeralOwner == 0 && st->mtime + ttl_ms < now_ms;
}

int64_t baton__zk_lease_end(const baton_zk_session *s, const char *child, const struct Stat *st) {
  int64_t ttl_ns = baton__zk_name_ttl(child) * BATON_NS_PER_MS;
  if (ttl_ns == 0 || st->ephemeralOwner != 0) return 0;
  return baton__now() + ttl_ns + ttl_ns / 1000000 * (int64_t)s->base.cfg->drift_ppm + ttl_ns / 20;
}

/* ---- acquire --------------------------------------------------------------- */

/* Make our node, and the parents on first use. A create whose reply was
 * lost may have made it: its prefix is swept in the background (and the
 * node expires at its TTL at the latest). */
static int create_lease(baton_zk_session *s, baton_zk_conn *conn, const char *name,
                        const char *parent, const char *guid, const char *identity,
                        int64_t ttl_ms, int64_t deadline, baton_zk_reply *own, baton_error *err) {
  char child[BATON_ZK_GUID_MAX + 16];
  snprintf(child, sizeof child, "%s__lock__", guid);
  char *prefix = baton__zk_path(s, name, child);
  if (prefix == NULL) return baton__error(err, BATON_ENOMEM, "%s: out of memory", s->label);
  int rc = 0;
  for (int tries = 0; tries < 2; tries++) {
    baton__zk_create_ttl(conn, prefix, identity != NULL ? identity : "",
                         ZOO_PERSISTENT_SEQUENTIAL_WITH_TTL, ttl_ms, deadline, own);
    if (own->rc == ZOK && own->data != NULL && strrchr(own->data, '/') != NULL) break;
    int zrc = own->rc == ZOK ? BATON_ZK_NOMEM : own->rc;
    baton__zk_reply_free(own);
    if (zrc == ZNONODE && tries == 0) {
      rc = baton__zk_make_parents(s, conn, parent, deadline, err);
      if (rc == 0) continue;
      break;
    }
    if (zrc == ZUNIMPLEMENTED) {
      rc = baton__error(err, BATON_ENOTSUP,
                        "%s: the server refuses TTL nodes, which fixed leases are: start "
                        "ZooKeeper (3.5.3 or later) with -Dzookeeper.extendedTypesEnabled=true",
                        s->label);
      break;
    }
    if (baton__zk_unknown(zrc) || zrc == BATON_ZK_NOMEM) baton__zk_sweep_add(conn, parent, guid);
    rc = baton__zk_error(err, conn, zrc, "create", prefix);
    break;
  }
  baton__free(prefix);
  return rc;
}

/* Look at a lease `kid` ahead of ours, whose creation (`now_ms`) is a
 * moment of the server's clock: 0 when it is gone (or has just been
 * deleted, having ended), 1 when it stands, or an error. */
static int lease_ahead(baton_zk_session *s, baton_zk_conn *conn, const char *name,
                       const char *kid, int64_t now_ms, int64_t deadline, baton_error *err) {
  char *path = baton__zk_path(s, name, kid);
  if (path == NULL) return baton__error(err, BATON_ENOMEM, "%s: out of memory", s->label);
  baton_zk_reply r;
  baton__zk_get(conn, path, 0, deadline, &r);
  int rc = r.rc == ZNONODE ? 0 : r.rc == ZOK ? 1 : baton__zk_error(err, conn, r.rc, "get", path);
  if (rc == 1 && ended(baton__zk_name_ttl(kid), &r.stat, now_ms)) {
    /* Only if unchanged: an extend that landed meanwhile keeps it. One
     * that another user's ACL keeps from us stands until the reaper. */
    int version = r.stat.version;
    baton__zk_reply_free(&r);
    baton__zk_delete_version(conn, path, version, deadline, &r);
    if (r.rc == ZOK || r.rc == ZNONODE) rc = 0;
    else if (r.rc != ZBADVERSION && r.rc != ZNOAUTH)
      rc = baton__zk_error(err, conn, r.rc, "delete", path);
  }
  baton__zk_reply_free(&r);
  baton__free(path);
  return rc;
}

/* Our node `own` (made at the server's `now_ms`) leads once nothing
 * stands ahead of it: an election's node always stands; a lease ahead
 * that ended by the server's clock is deleted. Only what is ahead of the
 * lowest election node is looked at: behind it nothing matters. 0, EHELD
 * with the holder, or an error. */
static int settle(baton_zk_session *s, baton_zk_conn *conn, const char *name, const char *parent,
                  const char *own, int64_t now_ms, baton_leader *holder, int64_t deadline,
                  baton_error *err) {
  baton_zk_reply r;
  baton__zk_children(conn, parent, 0, deadline, &r);
  const char *pred = NULL, *wrapped = NULL;
  bool found = false;
  int rc = r.rc == ZOK ? 0 : baton__zk_error(err, conn, r.rc, "get children of", parent);
  if (rc == 0) baton__zk_lowest(&r, own, &pred, &found, &wrapped);
  if (rc == 0 && wrapped != NULL) rc = baton__zk_wrapped_error(s, parent, wrapped, err);
  else if (rc == 0 && !found)
    rc = baton__error(err, BATON_EREFUSED, "%s: our new lease node %s/%s vanished", s->label,
                      parent, own);
  const char *first = NULL; /* the lowest node ahead that stands */
  for (int i = 0; rc == 0 && pred != NULL && i < r.nkids; i++) {
    const char *kid = r.kids[i];
    if (baton__zk_name_seq(kid) < 0 || baton__zk_name_ttl(kid) != 0) continue;
    if (baton__zk_name_cmp(kid, own) < 0 && (first == NULL || baton__zk_name_cmp(kid, first) < 0))
      first = kid;
  }
  for (int i = 0; rc == 0 && pred != NULL && i < r.nkids; i++) {
    const char *kid = r.kids[i];
    if (baton__zk_name_seq(kid) < 0 || baton__zk_name_ttl(kid) == 0 ||
        baton__zk_name_cmp(kid, own) >= 0 || (first != NULL && baton__zk_name_cmp(kid, first) > 0))
      continue;
    int stands = lease_ahead(s, conn, name, kid, now_ms, deadline, err);
    if (stands < 0) rc = stands;
    else if (stands == 1 && (first == NULL || baton__zk_name_cmp(kid, first) < 0)) first = kid;
  }
  if (rc == 0 && first != NULL) {
    baton_leader who = {0};
    if (baton__zk_read_leader(s, conn, name, first, &who, NULL, 0, NULL, deadline, err) != 0)
      memset(&who, 0, sizeof who); /* it went meanwhile: the core looks again */
    if (holder != NULL) *holder = who;
    rc = baton__error(err, BATON_EHELD, "%s: %s is held by %s (token %llu)", s->label, name,
                      who.identity[0] ? who.identity : "another contender",
                      (unsigned long long)who.token);
  }
  baton__zk_reply_free(&r);
  return rc;
}

int baton__zk_lease_acquire(baton_session *bs, const char *name, const char *identity,
                            int64_t ttl_ns, uint64_t *token, baton_leader *holder,
                            int64_t deadline, baton_error *err) {
  baton_zk_session *s = (baton_zk_session *)bs;
  if (holder != NULL) memset(holder, 0, sizeof *holder);
  baton_zk_conn *conn;
  char *parent;
  int rc = baton__zk_name_begin(s, name, &conn, &parent, err);
  if (rc != 0) return rc;
  char guid[BATON_ZK_GUID_MAX];
  baton__zk_lease_guid(guid, ttl_ms_of(ttl_ns));
  baton_zk_reply own = {0};
  rc = create_lease(s, conn, name, parent, guid, identity, ttl_ms_of(ttl_ns), deadline, &own, err);
  if (rc == 0) {
    rc = settle(s, conn, name, parent, strrchr(own.data, '/') + 1, own.stat.ctime, holder,
                deadline, err);
    if (rc == 0) *token = (uint64_t)own.stat.czxid;
  }
  if (rc != 0 && own.data != NULL) {
    /* Refused or unsettled: nothing of ours stays in the queue. */
    baton_zk_reply d;
    baton__zk_delete(conn, own.data, deadline, &d);
    if (d.rc != ZOK && d.rc != ZNONODE) baton__zk_sweep_add(conn, parent, guid);
    baton__zk_reply_free(&d);
  }
  baton__zk_reply_free(&own);
  baton__zk_name_end(&conn, &parent);
  return rc;
}

/* ---- extend, release ------------------------------------------------------- */

/* The lease `token` of `name`: its path, stat and data (free with
 * baton__zk_reply_free and baton__free(*path)), or ENOTHOLDER. */
static int find_lease(baton_zk_session *s, baton_zk_conn *conn, const char *name,
                      const char *parent, uint64_t token, char **path, baton_zk_reply *node,
                      int64_t *ttl_ms, int64_t deadline, baton_error *err) {
  *path = NULL;
  memset(node, 0, sizeof *node);
  baton_zk_reply r;
  baton__zk_children(conn, parent, 0, deadline, &r);
  const char *wrapped = NULL, *low = r.rc == ZOK ? baton__zk_lowest(&r, NULL, NULL, NULL, &wrapped)
                                                 : NULL;
  int rc = r.rc == ZOK || r.rc == ZNONODE
               ? 0
               : baton__zk_error(err, conn, r.rc, "get children of", parent);
  if (rc == 0 && wrapped != NULL) rc = baton__zk_wrapped_error(s, parent, wrapped, err);
  if (rc == 0 && low != NULL && (*path = baton__zk_path(s, name, low)) == NULL)
    rc = baton__error(err, BATON_ENOMEM, "%s: out of memory", s->label);
  if (rc == 0 && low != NULL) {
    baton__zk_get(conn, *path, 0, deadline, node);
    if (node->rc != ZOK && node->rc != ZNONODE)
      rc = baton__zk_error(err, conn, node->rc, "get", *path);
  }
  *ttl_ms = low != NULL ? baton__zk_name_ttl(low) : 0;
  if (rc == 0 && (low == NULL || node->rc != ZOK || (uint64_t)node->stat.czxid != token ||
                  *ttl_ms == 0 || node->stat.ephemeralOwner != 0))
    rc = baton__error(err, BATON_ENOTHOLDER,
                      "%s: the lease on %s with token %llu is not there (expired, released, "
                      "or the name is another's)",
                      s->label, name, (unsigned long long)token);
  baton__zk_reply_free(&r);
  if (rc != 0) {
    baton__zk_reply_free(node);
    baton__free(*path);
    *path = NULL;
  }
  return rc;
}

/* Write the lease's data again if unchanged: the server stamps mtime with
 * its clock, which starts the TTL again. A lease that had ended before
 * that stamp is deleted instead: ENOTHOLDER, as when it was gone or
 * changed. */
static int touch(baton_zk_session *s, baton_zk_conn *conn, const char *name, const char *path,
                 const baton_zk_reply *node, int64_t ttl_ms, int64_t deadline, baton_error *err) {
  baton_zk_reply r;
  baton__zk_set(conn, path, node->data != NULL ? node->data : "", node->stat.version, deadline,
                &r);
  int rc = r.rc == ZOK ? 0
           : r.rc == ZNONODE || r.rc == ZBADVERSION
               ? baton__error(err, BATON_ENOTHOLDER,
                              "%s: the lease on %s went or changed meanwhile", s->label, name)
               : baton__zk_error(err, conn, r.rc, "set", path);
  if (rc == 0 && ended(ttl_ms, &node->stat, r.stat.mtime)) {
    int version = r.stat.version;
    int64_t late = r.stat.mtime - node->stat.mtime - ttl_ms;
    baton__zk_reply_free(&r);
    baton__zk_delete_version(conn, path, version, deadline, &r); /* best effort: else the reaper */
    rc = baton__error(err, BATON_ENOTHOLDER,
                      "%s: the lease on %s had expired (%lld ms ago by the server's clock)",
                      s->label, name, (long long)late);
  }
  baton__zk_reply_free(&r);
  return rc;
}

/* Find the lease `token` of `name` and touch it (extend: it must have
 * ttl_ns), then delete it (release). */
static int lease_op(baton_session *bs, const char *name, uint64_t token, int64_t ttl_ns,
                    bool release, int64_t deadline, baton_error *err) {
  baton_zk_session *s = (baton_zk_session *)bs;
  baton_zk_conn *conn;
  char *parent, *path = NULL;
  int rc = baton__zk_name_begin(s, name, &conn, &parent, err);
  if (rc != 0) return rc;
  baton_zk_reply node;
  int64_t ttl_ms = 0;
  rc = find_lease(s, conn, name, parent, token, &path, &node, &ttl_ms, deadline, err);
  if (rc == 0 && !release && ttl_ms != ttl_ms_of(ttl_ns))
    rc = baton__error(err, BATON_ENOTSUP,
                      "%s: ZooKeeper fixes a TTL node's TTL when it is made: the lease on %s "
                      "can only be extended by its own %lld ms, not %lld ms",
                      s->label, name, (long long)ttl_ms, (long long)ttl_ms_of(ttl_ns));
  if (rc == 0) rc = touch(s, conn, name, path, &node, ttl_ms, deadline, err);
  if (rc == 0 && release) {
    /* A sequential path is never made twice: this one is the lease's. */
    baton_zk_reply r;
    baton__zk_delete(conn, path, deadline, &r);
    rc = r.rc == ZOK       ? 0
         : r.rc == ZNONODE ? baton__error(err, BATON_ENOTHOLDER,
                                          "%s: the lease on %s went meanwhile", s->label, name)
                           : baton__zk_error(err, conn, r.rc, "delete", path);
    baton__zk_reply_free(&r);
  }
  if (path != NULL) baton__zk_reply_free(&node);
  baton__free(path);
  baton__zk_name_end(&conn, &parent);
  return rc;
}

int baton__zk_lease_extend(baton_session *bs, const char *name, uint64_t token, int64_t ttl_ns,
                           int64_t deadline, baton_error *err) {
  return lease_op(bs, name, token, ttl_ns, false, deadline, err);
}

/* The touch first tells whether the lease had ended; a lease never
 * proclaims (it has no candidate), so it has no identity node beside. */
int baton__zk_lease_release(baton_session *bs, const char *name, uint64_t token, int64_t deadline,
                            baton_error *err) {
  return lease_op(bs, name, token, 0, true, deadline, err);
}
