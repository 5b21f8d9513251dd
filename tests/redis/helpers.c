/* helpers.c — sessions on the redis table and raw server access for the
 * redis tests. */
#include "helpers.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rs_open(kit_session *k, const char *uri, const baton_options *o, baton_error *err) {
  return kit_open(k, &baton_backend_redis, uri, o, 5000, err);
}

int rs_open_as(kit_session *k, const test_cluster *c, const char *identity, uint32_t ttl_ms,
               baton_error *err) {
  baton_options o = {.identity = identity, .ttl_ms = ttl_ms};
  return rs_open(k, c->uri, &o, err);
}

redisContext *raw_open(int port, const char *user, const char *password) {
  struct timeval tv = {5, 0};
  redisContext *r = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (r == NULL || r->err != 0) {
    fprintf(stderr, "raw connect to %d: %s\n", port, r ? r->errstr : "out of memory");
    if (r != NULL) redisFree(r);
    return NULL;
  }
  redisSetTimeout(r, tv);
  if (password != NULL) {
    redisReply *a = user != NULL ? redisCommand(r, "AUTH %s %s", user, password)
                                 : redisCommand(r, "AUTH %s", password);
    if (a == NULL || a->type == REDIS_REPLY_ERROR) {
      fprintf(stderr, "raw AUTH failed\n");
      if (a != NULL) freeReplyObject(a);
      redisFree(r);
      return NULL;
    }
    freeReplyObject(a);
  }
  return r;
}

redisReply *raw(redisContext *r, const char *fmt, ...) {
  if (r == NULL) return NULL;
  va_list ap;
  va_start(ap, fmt);
  redisReply *reply = redisvCommand(r, fmt, ap);
  va_end(ap);
  if (reply == NULL) fprintf(stderr, "raw '%s': %s\n", fmt, r->errstr);
  return reply;
}

const char *raw_str(redisContext *r, char *buf, size_t size, const char *fmt, ...) {
  buf[0] = '\0';
  if (r == NULL) return buf;
  va_list ap;
  va_start(ap, fmt);
  redisReply *reply = redisvCommand(r, fmt, ap);
  va_end(ap);
  if (reply != NULL && (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS ||
                        reply->type == REDIS_REPLY_ERROR))
    snprintf(buf, size, "%.*s", (int)reply->len, reply->str);
  else if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
    snprintf(buf, size, "%lld", reply->integer);
  if (reply != NULL) freeReplyObject(reply);
  return buf;
}

long long raw_info(redisContext *r, const char *section, const char *field) {
  redisReply *reply = raw(r, "INFO %s", section);
  long long v = 0;
  if (reply != NULL && reply->type == REDIS_REPLY_STRING) {
    const char *p = strstr(reply->str, field);
    if (p != NULL) v = strtoll(p + strlen(field), NULL, 10);
  }
  if (reply != NULL) freeReplyObject(reply);
  return v;
}

long long raw_calls(redisContext *r, const char *command) {
  char field[80];
  snprintf(field, sizeof field, "cmdstat_%s:calls=", command);
  return raw_info(r, "commandstats", field);
}

long long raw_total(redisContext *r) {
  return raw_info(r, "stats", "total_commands_processed:");
}
