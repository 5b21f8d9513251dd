/* sweep.c — background deletion of the nodes a forgotten candidate may
 * have left behind (a create whose reply was lost, then a failed release),
 * so that no zombie contender blocks a name until the session ends. */
#include "zk.h"

#include <stdio.h>
#include <string.h>

/* Rounds of list-then-delete before giving up (e.g. an ACL changed). */
#define BATON_ZK_SWEEP_ROUNDS 5

struct baton_zk_sweep {
  baton_zk_sweep *next;         /* conn->sweeps */
  bool busy;                    /* a list request is in flight */
  int rounds;                   /* lists that still found a node */
  char guid[BATON_ZK_GUID_MAX]; /* a forgotten candidate's guid, or a lease's prefix */
  char parent[];                /* <chroot>/<name> */
};

static void unlink_sweep(baton_zk_conn *conn, baton_zk_sweep *w) {
  for (baton_zk_sweep **p = &conn->sweeps; *p != NULL; p = &(*p)->next)
    if (*p == w) {
      *p = w->next;
      return;
    }
}

static bool start(baton_zk_conn *conn, baton_zk_sweep *w);

/* On the completion thread: delete what carries the guid, then look again
 * (the list queues behind the deletes, so it sees their outcome). */
static void swept(baton_zk_conn *conn, baton_zk_reply *r, void *arg) {
  baton_zk_sweep *w = arg;
  baton_zk_session *s = conn->s;
  bool found = false;
  for (int i = 0; r->rc == ZOK && i < r->nkids; i++) {
    if (!baton__zk_name_has_guid(r->kids[i], w->guid)) continue;
    size_t n = strlen(w->parent) + strlen(r->kids[i]) + 2;
    char *path = baton__calloc(1, n);
    if (path != NULL) {
      memcpy(path, w->parent, strlen(w->parent));
      path[strlen(w->parent)] = '/';
      memcpy(path + strlen(w->parent) + 1, r->kids[i], strlen(r->kids[i]));
      baton__zk_delete_async(conn, path);
    }
    baton__free(path);
    found = true;
  }
  /* A connection problem: the next (re)connection kicks it again. */
  bool retry = r->rc == ZCONNECTIONLOSS || r->rc == ZOPERATIONTIMEOUT || r->rc == BATON_ZK_NOMEM;
  pthread_mutex_lock(&s->mu);
  w->busy = false;
  bool again = found && ++w->rounds < BATON_ZK_SWEEP_ROUNDS;
  if (!retry && !again) {
    unlink_sweep(conn, w);
    baton__free(w);
    w = NULL;
  } else if (again) {
    w->busy = true;
  }
  pthread_mutex_unlock(&s->mu);
  if (w != NULL && again && !start(conn, w)) {
    pthread_mutex_lock(&s->mu);
    w->busy = false;
    pthread_mutex_unlock(&s->mu);
  }
}

static bool start(baton_zk_conn *conn, baton_zk_sweep *w) {
  return baton__zk_children_then(conn, w->parent, swept, w);
}

void baton__zk_sweep_add(baton_zk_conn *conn, const char *parent, const char *guid) {
  size_t n = strlen(parent) + 1;
  baton_zk_sweep *w = baton__calloc(1, sizeof *w + n);
  if (w == NULL) return; /* the node ends with the session at the latest */
  memcpy(w->parent, parent, n);
  snprintf(w->guid, sizeof w->guid, "%s", guid);
  pthread_mutex_lock(&conn->s->mu);
  w->next = conn->sweeps;
  conn->sweeps = w;
  pthread_mutex_unlock(&conn->s->mu);
  baton__zk_sweep_kick(conn);
}

void baton__zk_sweep_kick(baton_zk_conn *conn) {
  baton_zk_session *s = conn->s;
  /* Take one idle sweep at a time: requests are never sent under s->mu.
   * At most as many as there are now: one that ends at once and must be
   * tried again waits for the next connection, as the comment in swept()
   * says, and a sweep added meanwhile kicks itself. */
  pthread_mutex_lock(&s->mu);
  size_t n = 0;
  for (baton_zk_sweep *w = conn->sweeps; w != NULL; w = w->next) n++;
  pthread_mutex_unlock(&s->mu);
  for (; n > 0; n--) {
    pthread_mutex_lock(&s->mu);
    baton_zk_sweep *w = conn->sweeps;
    while (w != NULL && w->busy) w = w->next;
    if (w != NULL) w->busy = true;
    pthread_mutex_unlock(&s->mu);
    if (w == NULL) return;
    if (!start(conn, w)) { /* not sent: leave it to the next connection */
      pthread_mutex_lock(&s->mu);
      w->busy = false;
      pthread_mutex_unlock(&s->mu);
      return;
    }
  }
}

void baton__zk_sweep_free_all(baton_zk_conn *conn) {
  pthread_mutex_lock(&conn->s->mu);
  while (conn->sweeps != NULL) {
    baton_zk_sweep *w = conn->sweeps;
    conn->sweeps = w->next;
    baton__free(w);
  }
  pthread_mutex_unlock(&conn->s->mu);
}
