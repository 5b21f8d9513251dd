/* watch.c — the session's thread that follows fail-overs: subscribed to
 * +switch-master on one Sentinel (the next one when that one goes away),
 * it asks the Sentinels for the new master the moment one announces a
 * switch, and also when a request failed as if the master had moved. */
#include "sentinel.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* What the thread should do now (under addr_mu): stop, ask, or listen. */
typedef enum { WATCH_LISTEN, WATCH_ASK, WATCH_STOP } watch_step;

static watch_step next_step(baton_sentinel_session *s) {
  uint64_t v;
  while (read(s->wake_fd, &v, sizeof v) < 0 && errno == EINTR) {
  }
  pthread_mutex_lock(&s->addr_mu);
  watch_step w = s->stop ? WATCH_STOP : s->kicked ? WATCH_ASK : WATCH_LISTEN;
  s->kicked = false;
  pthread_mutex_unlock(&s->addr_mu);
  return w;
}

static void wake(baton_sentinel_session *s) {
  uint64_t one = 1;
  while (write(s->wake_fd, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

void baton__sentinel_kick(baton_sentinel_session *s) {
  pthread_mutex_lock(&s->addr_mu);
  s->kicked = true;
  pthread_mutex_unlock(&s->addr_mu);
  wake(s);
}

/* Subscribe to +switch-master on Sentinel i: the subscriber, or NULL. */
static redisContext *subscribe(baton_sentinel_session *s, size_t i) {
  baton_redis_session *sen = &s->sent[i];
  int64_t deadline = baton__now() + s->master.base.cfg->op_timeout_ns;
  const char *argv[] = {"SUBSCRIBE", "+switch-master"};
  baton_redis_cmd cmd = {2, argv};
  redisContext *ctx = NULL;
  redisReply *r = NULL;
  baton_error err = {0};
  int rc = baton__redis_connect(&ctx, sen, deadline, &err);
  if (rc == 0) rc = baton__redis_call(ctx, sen, &cmd, 1, &r, 1, deadline, "subscribe", &err);
  if (rc == 0 && !(r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
                   r->element[0]->type == REDIS_REPLY_STRING &&
                   strcmp(r->element[0]->str, "subscribe") == 0))
    rc = r->type == REDIS_REPLY_ERROR ? baton__redis_reply_error(sen, r, "subscribe", &err)
                                      : baton__redis_bad_reply(sen, "subscribe", &err);
  if (r != NULL) freeReplyObject(r);
  if (rc != 0) {
    baton__log(s->master.base.cfg, BATON_LOG_WARN, "%s: cannot follow fail-overs there: %s",
               sen->label, err.message);
    if (ctx != NULL) redisFree(ctx);
    return NULL;
  }
  return ctx;
}

/* Whether a +switch-master message ("<master> <old ip> <old port> <new
 * ip> <new port>") names our master. */
static bool names_ours(baton_sentinel_session *s, const char *text) {
  size_t len = strlen(s->master_name);
  return strncmp(text, s->master_name, len) == 0 && text[len] == ' ';
}

/* Take every message that has arrived on sub: 1 when one announced a
 * switch of our master, 0 when none did, -1 when the Sentinel is gone. */
static int drain(baton_sentinel_session *s, redisContext *sub) {
  if (baton__redis_read_ready(sub) != 0) return -1;
  int switched = 0;
  for (;;) { /* what was read is finite: each reply consumes some of it */
    void *reply = NULL;
    if (redisReaderGetReply(sub->reader, &reply) != REDIS_OK) return -1;
    if (reply == NULL) return switched;
    redisReply *r = reply;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
        r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "message") == 0 &&
        r->element[2]->type == REDIS_REPLY_STRING && names_ours(s, r->element[2]->str))
      switched = 1;
    freeReplyObject(r);
  }
}

/* Ask the Sentinels where the master is, within one request's bound; a
 * failure only waits for the next announcement. */
static void ask(baton_sentinel_session *s) {
  baton_error err = {0};
  if (baton__sentinel_discover(s, baton__now() + s->master.base.cfg->op_timeout_ns, &err) != 0)
    baton__log(s->master.base.cfg, BATON_LOG_WARN, "%s", err.message);
}

/* Publish the subscriber's socket for _news_pending (-1: none). */
static void set_news_fd(baton_sentinel_session *s, int fd) {
  pthread_mutex_lock(&s->addr_mu);
  s->news_fd = fd;
  pthread_mutex_unlock(&s->addr_mu);
}

/* Set while messages are read and acted on: once read, they no longer
 * show on the socket, and the move they may bring has not come yet. */
static void set_news_read(baton_sentinel_session *s, bool reading) {
  pthread_mutex_lock(&s->addr_mu);
  s->news_read = reading;
  pthread_mutex_unlock(&s->addr_mu);
}

bool baton__sentinel_news_pending(baton_sentinel_session *s) {
  pthread_mutex_lock(&s->addr_mu); /* held: the watcher closes it only after clearing it */
  struct pollfd p = {.fd = s->news_fd, .events = POLLIN};
  bool pending = s->news_read || (s->news_fd >= 0 && poll(&p, 1, 0) > 0);
  pthread_mutex_unlock(&s->addr_mu);
  return pending;
}

static void *watch_main(void *arg) {
  baton_sentinel_session *s = arg;
  const baton_config *cfg = s->master.base.cfg;
  unsigned failures = 0;
  for (;;) {
    size_t i = s->next;
    redisContext *sub = subscribe(s, i);
    if (sub == NULL) {
      s->next = (i + 1) % s->n;
      int64_t until = baton__after(baton__config_backoff(cfg, failures++));
      baton__sleep_until(until, s->wake_fd);
      if (next_step(s) == WATCH_STOP) return NULL;
      continue;
    }
    failures = 0;
    set_news_fd(s, sub->fd);
    /* A switch while no one listened would go unnoticed: look once. */
    ask(s);
    watch_step step = WATCH_LISTEN;
    while (step != WATCH_STOP) {
      struct pollfd p[2] = {{.fd = sub->fd, .events = POLLIN}, {.fd = s->wake_fd, .events = POLLIN}};
      int n = poll(p, 2, -1);
      if (n < 0 && errno != EINTR) break;
      bool news = n > 0 && p[0].revents != 0;
      if (news) set_news_read(s, true);
      int got = news ? drain(s, sub) : 0;
      /* A +switch-master may come from a Sentinel that learns of a
       * fail-over late, naming a master that has since failed over
       * again: the newest view is asked for instead of taken from it. */
      if (got > 0) ask(s);
      if (news) set_news_read(s, false);
      if (got < 0) break; /* that Sentinel is gone */
      if (n > 0 && p[1].revents != 0 && (step = next_step(s)) == WATCH_ASK) ask(s);
    }
    set_news_fd(s, -1);
    redisFree(sub);
    if (step == WATCH_STOP) return NULL;
    s->next = (i + 1) % s->n;
  }
}

int baton__sentinel_watch_start(baton_sentinel_session *s, baton_error *err) {
  if (pthread_create(&s->watcher, NULL, watch_main, s) != 0)
    return baton__error(err, BATON_ENOMEM, "%s: cannot start the fail-over watcher",
                        s->master.label);
  s->watching = true;
  return 0;
}

void baton__sentinel_watch_stop(baton_sentinel_session *s) {
  if (!s->watching) return;
  pthread_mutex_lock(&s->addr_mu);
  s->stop = true;
  pthread_mutex_unlock(&s->addr_mu);
  wake(s);
  pthread_join(s->watcher, NULL);
  s->watching = false;
}
