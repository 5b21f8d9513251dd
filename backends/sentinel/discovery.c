/* discovery.c — where the master is: the newest of the Sentinels'
 * answers to SENTINEL MASTER (by configuration epoch), checked with ROLE
 * on the server it names, and the move of the session to a new master. */
#include "sentinel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rounds over the Sentinels while the master they name is not one yet (a
 * fail-over under way) or cannot be reached: a promotion takes Sentinel a
 * few seconds at most, so a few rounds with back-off cover it, and the
 * caller's deadline bounds them all. */
#define BATON_SENTINEL_ROUNDS 6
/* The least time one Sentinel gets to answer (a loopback round trip is
 * a fraction of a millisecond). */
#define BATON_SENTINEL_TURN_MIN_NS (50 * BATON_NS_PER_MS)

uint64_t baton__sentinel_generation(baton_sentinel_session *s) {
  pthread_mutex_lock(&s->addr_mu);
  uint64_t g = s->generation;
  pthread_mutex_unlock(&s->addr_mu);
  return g;
}

bool baton__sentinel_move(baton_sentinel_session *s, const char *host, int port,
                          long long epoch, const char *why) {
  char old[BATON_SENTINEL_HOST_MAX];
  pthread_mutex_lock(&s->addr_mu);
  bool changed = port != s->port || strcmp(host, s->host) != 0;
  int old_port = s->port;
  if (epoch > s->epoch) s->epoch = epoch;
  snprintf(old, sizeof old, "%s", s->host);
  if (changed) {
    snprintf(s->host, sizeof s->host, "%s", host);
    s->port = port;
    s->generation++;
  }
  uint64_t generation = s->generation;
  pthread_mutex_unlock(&s->addr_mu);
  if (!changed) return false;
  const baton_config *cfg = s->master.base.cfg;
  if (old_port == 0) {
    baton__log(cfg, BATON_LOG_INFO, "%s: the master is at %.200s:%d", s->master.label, host, port);
    return true;
  }
  baton__log(cfg, BATON_LOG_WARN,
             "%s: Sentinel switch: the master moved from %.200s:%d to %.200s:%d (%s)",
             s->master.label, old, old_port, host, port, why);
  /* Requests from now on go to the new master; one in flight to the old
   * one ends by its deadline first (it holds the connection's lock). Held
   * terms are renewed there, or reported gone when their key did not
   * reach it before the fail-over. */
  baton_redis_conn *conns[] = {&s->master.cmd, &s->master.renewer};
  for (size_t i = 0; i < 2; i++) {
    pthread_mutex_lock(&conns[i]->mu);
    baton__redis_conn_drop(conns[i]);
    pthread_mutex_unlock(&conns[i]->mu);
  }
  /* The shared subscriber too: an old master that lives on (demoted, or
   * cut off) publishes nothing of the new one's releases. Dropping it
   * wakes every blocked wait and armed watch, which look again and
   * subscribe on the new master; armed watches have no thread that would
   * notice the move otherwise. */
  baton__redis_sub_follow(&s->master, generation);
  return true;
}

/* One Sentinel's view of the master: where, and the configuration epoch
 * of that view (raised by every fail-over). */
typedef struct master_view {
  char host[BATON_SENTINEL_HOST_MAX];
  int port;
  long long epoch;
} master_view;

/* The value after `field` in a flat reply of field/value pairs, or NULL. */
static const redisReply *field(const redisReply *r, const char *name) {
  for (size_t i = 0; i + 1 < r->elements; i += 2)
    if (r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, name) == 0 &&
        r->element[i + 1]->type == REDIS_REPLY_STRING)
      return r->element[i + 1];
  return NULL;
}

/* What one Sentinel says (SENTINEL MASTER: its address and epoch): 1 with
 * *out, 0 when it does not know the master (why says so), or an error. */
static int ask(baton_sentinel_session *s, baton_redis_session *sen, master_view *out,
               int64_t deadline, char *why, size_t why_size, baton_error *err) {
  const char *argv[] = {"SENTINEL", "MASTER", s->master_name};
  baton_redis_cmd cmd = {3, argv};
  redisReply *r = NULL;
  int rc = baton__redis_request(sen, &sen->cmd, &cmd, 1, &r, deadline, "SENTINEL MASTER", err);
  if (rc != 0) return rc;
  const redisReply *ip = NULL, *port = NULL, *epoch = NULL;
  if (r->type == REDIS_REPLY_ARRAY) {
    ip = field(r, "ip");
    port = field(r, "port");
    epoch = field(r, "config-epoch");
  }
  if (r->type == REDIS_REPLY_ERROR && r->str != NULL && strstr(r->str, "No such master") != NULL) {
    snprintf(why, why_size, "%.100s: does not know master '%.64s'", sen->label, s->master_name);
    rc = 0;
  } else if (r->type == REDIS_REPLY_ERROR) {
    rc = baton__redis_reply_error(sen, r, "SENTINEL MASTER", err);
  } else if (ip != NULL && port != NULL && ip->len < sizeof out->host) {
    snprintf(out->host, sizeof out->host, "%s", ip->str);
    out->port = atoi(port->str);
    out->epoch = epoch != NULL ? atoll(epoch->str) : 0;
    rc = out->port > 0 && out->port < 65536 ? 1
                                            : baton__redis_bad_reply(sen, "SENTINEL MASTER", err);
  } else {
    rc = baton__redis_bad_reply(sen, "SENTINEL MASTER", err);
  }
  freeReplyObject(r);
  return rc;
}

/* Whether host:port is a master, by its own word (ROLE), asked with the
 * URI's credentials on a connection of its own: 1 master, 0 replica (or
 * a Sentinel), or an error. */
static int is_master(baton_sentinel_session *s, const char *host, int port, int64_t deadline,
                     baton_error *err) {
  baton_redis_session probe;
  memset(&probe, 0, sizeof probe);
  int rc = baton__redis_instance_init(&probe, "redis", host, port, s->master.db,
                                      s->master.base.cfg);
  if (rc != 0) {
    baton__redis_instance_fini(&probe);
    return baton__error(err, BATON_ENOMEM, "%s: out of memory", s->master.label);
  }
  const char *argv[] = {"ROLE"};
  baton_redis_cmd cmd = {1, argv};
  redisReply *r = NULL;
  rc = baton__redis_request(&probe, &probe.cmd, &cmd, 1, &r, deadline, "ROLE", err);
  if (rc == 0) {
    if (r->type == REDIS_REPLY_ERROR)
      rc = baton__redis_reply_error(&probe, r, "ROLE", err);
    else if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
             r->element[0]->type == REDIS_REPLY_STRING)
      rc = strcmp(r->element[0]->str, "master") == 0;
    else
      rc = baton__redis_bad_reply(&probe, "ROLE", err);
    freeReplyObject(r);
  }
  baton__redis_instance_fini(&probe);
  return rc;
}

/* Append "; text" to the answers, as far as they fit. */
static void note(char *answers, size_t size, const char *text) {
  size_t len = strlen(answers);
  if (len + 3 >= size) return;
  strncat(answers, "; ", size - len - 1);
  strncat(answers, text, size - len - 3);
}

/* The most telling code of a round: a refused log-in first. */
static int worse(int code, int rc) {
  if (code == BATON_EAUTH || rc == BATON_EAUTH) return BATON_EAUTH;
  return rc != 0 ? rc : code;
}

int baton__sentinel_discover(baton_sentinel_session *s, int64_t deadline, baton_error *err) {
  const baton_config *cfg = s->master.base.cfg;
  char answers[sizeof err->message];
  int code = 0;
  /* Each Sentinel's turn gets its share of the connect timeout, so that a
   * list of unreachable ones fails within that timeout, as one server
   * would. */
  int64_t turn = cfg->connect_timeout_ns / (int64_t)s->n;
  if (turn < BATON_SENTINEL_TURN_MIN_NS) turn = BATON_SENTINEL_TURN_MIN_NS;
  for (unsigned round = 0; round < BATON_SENTINEL_ROUNDS; round++) {
    answers[0] = '\0';
    code = 0;
    /* Every Sentinel is asked, and the newest view wins: one that has not
     * yet heard of a fail-over names the old master, which, back from a
     * pause or a partition, still says it is a master (ROLE) until
     * Sentinel demotes it, seconds later. */
    master_view best = {.epoch = -1}, v;
    size_t best_i = 0;
    for (size_t k = 0; k < s->n; k++) {
      size_t i = (s->next + k) % s->n;
      baton_redis_session *sen = &s->sent[i];
      int64_t bound = baton__now() + turn;
      if (bound > deadline) bound = deadline;
      char why[200];
      baton_error e = {0};
      int rc = ask(s, sen, &v, bound, why, sizeof why, &e);
      if (rc < 0) {
        code = worse(code, rc);
        note(answers, sizeof answers, e.message);
      } else if (rc == 0) {
        note(answers, sizeof answers, why);
      } else if (v.epoch > best.epoch) {
        best = v;
        best_i = i;
      }
    }
    if (best.epoch < 0) break; /* nobody named one: asking again will not help */
    pthread_mutex_lock(&s->addr_mu);
    long long known = s->epoch;
    pthread_mutex_unlock(&s->addr_mu);
    char why[200];
    baton_error e = {0};
    int rc = best.epoch < known ? 0 : is_master(s, best.host, best.port, deadline, &e);
    /* A fail-over may have ended while ROLE was asked: an old master
     * restarted meanwhile says it is one (with no data) until Sentinel
     * demotes it. The Sentinel that knew best must still say the same. */
    if (rc == 1 && ask(s, &s->sent[best_i], &v, deadline, why, sizeof why, &e) == 1 &&
        (v.epoch != best.epoch || v.port != best.port || strcmp(v.host, best.host) != 0)) {
      note(answers, sizeof answers, "the Sentinels' answer changed while it was checked");
      continue;
    }
    if (rc == 1) {
      s->next = best_i; /* it knew best: asked first next time */
      baton__sentinel_move(s, best.host, best.port, best.epoch, "named by the Sentinels");
      return 0;
    }
    if (best.epoch < known)
      snprintf(why, sizeof why, "the Sentinels name %.64s:%d of epoch %lld, older than %lld",
               best.host, best.port, best.epoch, known);
    else if (rc == 0)
      snprintf(why, sizeof why, "the Sentinels name %.64s:%d, which is not a master (a "
               "fail-over under way?)", best.host, best.port);
    else
      snprintf(why, sizeof why, "the Sentinels name %.64s:%d: %.80s", best.host, best.port,
               e.message);
    code = worse(code, rc < 0 ? rc : BATON_ECONNECT);
    note(answers, sizeof answers, why);
    if (baton__now() >= deadline) break;
    int64_t until = baton__after(baton__config_backoff(cfg, round));
    if (baton__sleep_until(until < deadline ? until : deadline, s->wake_fd)) break;
  }
  if (code == 0 || code == BATON_ETIMEDOUT) code = BATON_ECONNECT;
  if (baton__now() >= deadline) code = BATON_ETIMEDOUT;
  return baton__error(err, code, "%s: no master found%s", s->master.label, answers);
}
