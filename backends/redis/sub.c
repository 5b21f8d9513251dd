/* sub.c — a candidate's subscriber connection: the pub/sub channels that
 * wake its waits, so waiters sleep on the server's word instead of polling. */
#include "redis.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

int baton__redis_subscribe(redisContext **out, const baton_redis_session *s, const char *name,
                           bool observer, int64_t deadline, baton_error *err) {
  char released[BATON_NAME_MAX + 16], elected[BATON_NAME_MAX + 16];
  snprintf(released, sizeof released, "%s/released", name);
  snprintf(elected, sizeof elected, "%s/elected", name);
  const char *argv[] = {"SUBSCRIBE", released, elected};
  baton_redis_cmd cmd = {observer ? 3 : 2, argv};
  size_t n = observer ? 2 : 1; /* one confirmation per channel */
  redisContext *ctx = NULL;
  int rc = baton__redis_connect(&ctx, s, deadline, err);
  redisReply *r[2] = {NULL, NULL};
  if (rc == 0) rc = baton__redis_call(ctx, s, &cmd, 1, r, n, deadline, "subscribe", err);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    if (r[i]->type == REDIS_REPLY_ERROR)
      rc = baton__redis_reply_error(s, r[i], "subscribe", err);
    else if (r[i]->type != REDIS_REPLY_ARRAY || r[i]->elements != 3 ||
             r[i]->element[0]->type != REDIS_REPLY_STRING ||
             strcmp(r[i]->element[0]->str, "subscribe") != 0)
      rc = baton__redis_bad_reply(s, "subscribe", err);
  }
  for (size_t i = 0; i < n; i++)
    if (r[i] != NULL) freeReplyObject(r[i]);
  if (rc != 0) {
    if (ctx != NULL) redisFree(ctx);
    return rc;
  }
  *out = ctx;
  return 0;
}

static bool is_message(const redisReply *r) {
  return r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
         r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "message") == 0;
}

int baton__redis_sub_drain(redisContext *sub) {
  int rc = baton__redis_read_ready(sub);
  if (rc != 0) return rc;
  int messages = 0;
  for (;;) { /* what was read is finite: each reply consumes some of it */
    void *reply = NULL;
    if (redisReaderGetReply(sub->reader, &reply) != REDIS_OK) return BATON_ECONNECT;
    if (reply == NULL) break;
    if (is_message(reply)) messages++;
    freeReplyObject(reply);
  }
  return messages;
}

/* What subs[i] says now: 1 for a message, 0 for none, BATON_ECONNECT after
 * freeing a subscriber found gone. */
static int drain_one(redisContext **subs, size_t i) {
  int got = baton__redis_sub_drain(subs[i]);
  if (got >= 0) return got > 0;
  redisFree(subs[i]);
  subs[i] = NULL;
  return BATON_ECONNECT;
}

int baton__redis_sub_wait_any(redisContext **subs, size_t n, int64_t until, int cancel_fd) {
  struct pollfd p[BATON_URI_MAX_HOSTS + 1];
  size_t at[BATON_URI_MAX_HOSTS];
  if (n > BATON_URI_MAX_HOSTS) n = BATON_URI_MAX_HOSTS;
  /* What came already (maybe read along with an earlier reply) counts. */
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if (subs[i] == NULL) continue;
    int got = drain_one(subs, i);
    if (got != 0) return got;
    p[m] = (struct pollfd){.fd = subs[i]->fd, .events = POLLIN};
    at[m++] = i;
  }
  if (cancel_fd >= 0) p[m] = (struct pollfd){.fd = cancel_fd, .events = POLLIN};
  for (;;) { /* until `until` */
    int k = poll(p, m + (cancel_fd >= 0), baton__ms_until(until));
    if (k < 0 && errno != EINTR) return BATON_ECONNECT;
    if (k > 0 && cancel_fd >= 0 && p[m].revents != 0) return BATON_ECANCELED;
    for (size_t j = 0; k > 0 && j < m; j++) {
      if (p[j].revents == 0) continue;
      int got = drain_one(subs, at[j]);
      if (got != 0) return got;
    }
    if (baton__now() >= until) return 0;
  }
}
