/* helpers.h — what the redis backend's tests share: a backend session made
 * from a URI the way the core makes one, a raw hiredis connection to look at
 * the server behind the backend's back, and time measured in ms. */
#ifndef BATON_TEST_REDIS_HELPERS_H
#define BATON_TEST_REDIS_HELPERS_H

#include "internal.h"
#include "servers.h"

#include <hiredis/hiredis.h>

#define MS 1000000LL

/* SERVER_TEST(name) { ... } defines a test whose body gets `c`, its own
 * fresh redis-server, which is stopped however the body returns (REQUIRE
 * included), so no state leaks between tests and no server outlives one. */
#define SERVER_TEST_OPTS(name, opts)                        \
  static void name##_body(test_cluster *c);                 \
  static void name(void) {                                  \
    test_cluster cluster;                                   \
    if (test_redis_start(&cluster, opts) != 0) {            \
      TEST_FAIL_("redis-server did not start");             \
      return;                                               \
    }                                                       \
    name##_body(&cluster);                                  \
    test_cluster_stop(&cluster);                            \
  }                                                         \
  static void name##_body(test_cluster *c)
#define SERVER_TEST(name) SERVER_TEST_OPTS(name, NULL)

/* A backend session with the URI and config it needs (they must outlive
 * it, so the struct must not move while open). */
typedef struct rsess {
  baton_uri uri;
  baton_config cfg;
  char identity[BATON_IDENTITY_MAX + 1];
  baton_session *s;
} rsess;

/* Parse, resolve (o may be NULL) and open, bounded by `deadline`. */
int rs_open_by(rsess *r, const char *uri, const baton_options *o, int64_t deadline,
               baton_error *err);
/* The same, bounded by 5 s. */
int rs_open(rsess *r, const char *uri, const baton_options *o, baton_error *err);
/* Open with ttl_ms and identity set, on a started cluster's URI. */
int rs_open_as(rsess *r, const test_cluster *c, const char *identity, uint32_t ttl_ms,
               baton_error *err);
void rs_close(rsess *r);
/* A candidate for `name` campaigning with r's identity. */
baton_candidate rs_cand(const rsess *r, const char *name);

int64_t after_ms(int64_t ms);      /* a deadline ms from now */
int64_t ms_since(int64_t start);   /* ms from start to now */

/* A raw connection to 127.0.0.1:port (user and password may be NULL). */
redisContext *raw_open(int port, const char *user, const char *password);
/* A command on it; prints the error and returns NULL on failure. */
redisReply *raw(redisContext *r, const char *fmt, ...);
/* A raw command's string reply copied into buf ("" for nil). */
const char *raw_str(redisContext *r, char *buf, size_t size, const char *fmt, ...);
/* `calls` of one command in INFO commandstats (0 when never called). */
long long raw_calls(redisContext *r, const char *command);
/* total_commands_processed in INFO stats. */
long long raw_total(redisContext *r);

#endif
