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

int baton__redis_sub_wait(redisContext *sub, int64_t until, int cancel_fd) {
  /* What came already (maybe read along with an earlier reply) counts. */
  int got = baton__redis_sub_drain(sub);
  if (got != 0) return got < 0 ? got : 1;
  for (;;) { /* until `until` */
    struct pollfd p[2] = {{.fd = sub->fd, .events = POLLIN}, {.fd = cancel_fd, .events = POLLIN}};
    int n = poll(p, cancel_fd >= 0 ? 2 : 1, baton__ms_until(until));
    if (n < 0 && errno != EINTR) return BATON_ECONNECT;
    if (n > 0 && cancel_fd >= 0 && p[1].revents != 0) return BATON_ECANCELED;
    if (n > 0 && p[0].revents != 0) {
      got = baton__redis_sub_drain(sub);
      if (got != 0) return got < 0 ? got : 1;
    }
    if (baton__now() >= until) return 0;
  }
}
