/* redis_kit.c — raw server access for the redis:// tests. */
#include "redis_kit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

redisContext *kit_redis_raw(int port, const char *user, const char *password) {
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

static redisReply *command(redisContext *r, const char *fmt, va_list ap) {
  if (r == NULL) return NULL;
  redisReply *reply = redisvCommand(r, fmt, ap);
  if (reply == NULL) fprintf(stderr, "raw '%s': %s\n", fmt, r->errstr);
  return reply;
}

redisReply *kit_redis_cmd(redisContext *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  redisReply *reply = command(r, fmt, ap);
  va_end(ap);
  return reply;
}

const char *kit_redis_str(redisContext *r, char *buf, size_t size, const char *fmt, ...) {
  buf[0] = '\0';
  va_list ap;
  va_start(ap, fmt);
  redisReply *reply = command(r, fmt, ap);
  va_end(ap);
  if (reply != NULL && (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS ||
                        reply->type == REDIS_REPLY_ERROR))
    snprintf(buf, size, "%.*s", (int)reply->len, reply->str);
  else if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
    snprintf(buf, size, "%lld", reply->integer);
  if (reply != NULL) freeReplyObject(reply);
  return buf;
}

long long kit_redis_info(redisContext *r, const char *section, const char *field) {
  redisReply *reply = kit_redis_cmd(r, "INFO %s", section);
  long long v = 0;
  if (reply != NULL && reply->type == REDIS_REPLY_STRING) {
    const char *p = strstr(reply->str, field);
    if (p != NULL) v = strtoll(p + strlen(field), NULL, 10);
  }
  if (reply != NULL) freeReplyObject(reply);
  return v;
}

long long kit_redis_calls(redisContext *r, const char *command_name) {
  char field[80];
  snprintf(field, sizeof field, "cmdstat_%s:calls=", command_name);
  return kit_redis_info(r, "commandstats", field);
}

long long kit_redis_total(redisContext *r) {
  return kit_redis_info(r, "stats", "total_commands_processed:");
}
