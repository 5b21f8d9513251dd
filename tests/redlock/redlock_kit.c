/* redlock_kit.c — the instances of a redlock:// deployment as the seam
 * suite sees them: a name leads where a quorum of instances holds one
 * term's value. */
#include "redlock_kit.h"

#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A raw connection to member i, quietly NULL when it is down or paused. */
static redisContext *raw(const test_cluster *c, int i) {
  if (c->member[i].pid <= 0) return NULL;
  struct timeval tv = {0, 300000};
  redisContext *r = redisConnectWithTimeout("127.0.0.1", c->member[i].port, tv);
  if (r == NULL || r->err != 0) {
    if (r != NULL) redisFree(r);
    return NULL;
  }
  redisSetTimeout(r, tv);
  return r;
}

const char *kit_redlock_counter(const test_cluster *c, int i, const char *name, char *buf,
                                size_t size) {
  buf[0] = '\0';
  redisContext *r = raw(c, i);
  if (r != NULL) kit_redis_str(r, buf, size, "GET %s/token", name);
  if (r != NULL) redisFree(r);
  return buf;
}

/* One member's value (after its token: "<nonce> <identity>", or the whole
 * value when it is not ours) and PTTL. */
typedef struct seen {
  char value[600];
  const char *group; /* into value; NULL: no key */
  long long ttl_ms;
} seen;

static int seam_peek(const test_cluster *c, const char *name, kit_peek *out) {
  memset(out, 0, sizeof *out);
  out->ttl_ms = -1;
  seen v[TEST_MAX_MEMBERS];
  int answered = 0;
  for (int i = 0; i < c->n; i++) {
    v[i].group = NULL;
    redisContext *r = raw(c, i);
    if (r == NULL) continue;
    char ttl[32];
    kit_redis_str(r, v[i].value, sizeof v[i].value, "GET %s", name);
    kit_redis_str(r, ttl, sizeof ttl, "PTTL %s", name);
    redisFree(r);
    answered++;
    if (v[i].value[0] == '\0') continue;
    v[i].ttl_ms = strtoll(ttl, NULL, 10);
    /* A term's keys: the same nonce and identity (after the token) on a
     * quorum, fenced or not; a value not ours is grouped whole. */
    char *end;
    strtoull(v[i].value, &end, 10);
    v[i].group = end != v[i].value && *end == ' ' ? end : v[i].value;
  }
  int quorum = c->n / 2 + 1;
  if (answered < quorum) {
    fprintf(stderr, "peek %s: %d of %d instances answered\n", name, answered, c->n);
    return -1;
  }
  for (int i = 0; i < c->n; i++) {
    if (v[i].group == NULL) continue;
    int votes = 0;
    for (int j = 0; j < c->n; j++) votes += v[j].group != NULL && strcmp(v[j].group, v[i].group) == 0;
    if (votes < quorum) continue;
    out->keys = 1;
    for (int j = 0; j < c->n; j++) {
      if (v[j].group == NULL || strcmp(v[j].group, v[i].group) != 0) continue;
      if (out->ttl_ms < 0 || (v[j].ttl_ms >= 0 && v[j].ttl_ms < out->ttl_ms))
        out->ttl_ms = v[j].ttl_ms;
    }
    /* Its token only once fenced: the same whole value on a quorum (a
     * phase-1 token left on one instance is no term's). */
    int same = 0;
    for (int j = 0; j < c->n; j++) same += v[j].group != NULL && strcmp(v[j].value, v[i].value) == 0;
    bool ours = v[i].group != v[i].value;
    out->token = ours && same >= quorum ? strtoull(v[i].value, NULL, 10) : 0;
    const char *identity = ours ? strchr(v[i].group + 1, ' ') : NULL;
    snprintf(out->identity, sizeof out->identity, "%.*s", (int)sizeof out->identity - 1,
             identity != NULL ? identity + 1 : v[i].value);
    break;
  }
  return 0;
}

/* Steal, remove and requests as on one Redis: on every running member,
 * and member 0's scripts (an acquire is a vote and a fence there, a
 * release one script, a renewal one). */
const kit_seam kit_seam_redlock = {
    .kind = "redlock",
    .table = &baton_backend_redlock,
    .peek = seam_peek,
    .steal = kit_redis_seam_steal,
    .remove = kit_redis_seam_remove,
    .requests = kit_redis_seam_requests,
    .acquire_release_requests = 3,
    .renew_sees_keys = true,
    .wait_deadline_says = "deadline passed",
};
