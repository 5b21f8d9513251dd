/* proclaim.c — a term's proclaimed value on Redis, for the redis:// and
 * redlock:// backends: the script that writes it, and reading it back.
 *
 * Where it lives: NAME/value, beside NAME/token, holds
 * "<token> <version> <value>". The lock key NAME keeps exactly what it
 * held before ("<token> <nonce> <identity>", or redis-py's own string), so
 * redis-py's Lock and `SET NX PX` users see no change.
 *
 * Why a key apart and no expiry on it. The value must last as long as the
 * term, and the term lives on by renewals of NAME alone: a NAME/value with
 * the lock's PTTL at the proclaim would vanish one TTL after the last
 * proclaim while the term goes on, and extending it would cost every
 * renewal a command per name, proclaimed or not. So NAME/value carries
 * the token of its term instead, and a reader shows it only while the
 * lock's token is that token: a later term (a higher token) never shows
 * an earlier term's value, and an ended term has no leader to show. It
 * is deleted by the release of its term, and replaced by the next term's
 * first proclaim; a crashed holder's value stays until then, as NAME/token
 * always does.
 *
 * The version is the client's: one more per proclaim of a term (a lost
 * reply still counts one). Redlock needs it so: a value is shown when the
 * same "<token> <version> <value>" is on a quorum, and an instance that
 * missed one proclaim must agree again at the next. */
#include "redis.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* KEYS: NAME, NAME/value. ARGV: our nonce, token, version, value. Writes
 * NAME/value only while NAME holds our nonce (compared as renew does), and
 * wakes the observers on NAME/elected (they read the leader again; a
 * candidate waiting for the name is not woken: nothing changed for it).
 * Returns 1 when written, 0 when the key is not ours. */
const char baton__redis_proclaim_lua[] =
    "local v = redis.pcall('GET', KEYS[1])\n"
    "if type(v) ~= 'string' or string.match(v, '^%d+ (%x+) ') ~= ARGV[1] then return 0 end\n"
    "redis.call('SET', KEYS[2], ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. ARGV[4])\n"
    "redis.call('PUBLISH', KEYS[1] .. '/elected', v)\n"
    "return 1\n";

void baton__redis_value_key(char *out, size_t size, const char *name) {
  snprintf(out, size, "%s/value", name);
}

int baton__redis_proclaim_args(baton_redis_proclaim *out, const void *s, pthread_mutex_t *mu,
                               const baton_candidate *c, const char *value, const char *scheme,
                               const char *label, baton_error *err) {
  int rc = baton__redis_check_candidate(s, c, scheme, "proclaim", err);
  if (rc != 0) return rc;
  baton_redis_cand *p = c->priv;
  if (p == NULL || value == NULL)
    return baton__error(err, BATON_ENOTHOLDER, "%s: proclaim: '%s' was never won", label,
                        c->name);
  baton__redis_value_key(out->key, sizeof out->key, c->name);
  pthread_mutex_lock(mu);
  if (p->value_token != c->token) {
    p->value_token = c->token;
    p->value_version = 0;
  }
  unsigned long long version = ++p->value_version;
  memcpy(out->nonce, p->nonce, sizeof out->nonce);
  pthread_mutex_unlock(mu);
  snprintf(out->token, sizeof out->token, "%llu", (unsigned long long)c->token);
  snprintf(out->version, sizeof out->version, "%llu", version);
  out->args[0] = c->name;
  out->args[1] = out->key;
  out->args[2] = out->nonce;
  out->args[3] = out->token;
  out->args[4] = out->version;
  out->args[5] = value;
  return 0;
}

int baton__redis_proclaim_read(const redisReply *r) {
  if (r == NULL || r->type != REDIS_REPLY_INTEGER || (r->integer != 0 && r->integer != 1))
    return -1;
  return (int)r->integer;
}

/* A decimal of at most 19 digits, no leading zero, then a space: its value
 * and where the space is; false otherwise. */
static bool read_number(uint64_t *out, const char *s, size_t len, size_t *at) {
  uint64_t n = 0;
  size_t i = 0;
  for (; i < len && i < 19 && isdigit((unsigned char)s[i]); i++) n = n * 10 + (uint64_t)(s[i] - '0');
  if (i == 0 || i >= len || s[i] != ' ' || (s[0] == '0' && i > 1)) return false;
  *out = n;
  *at = i;
  return true;
}

bool baton__redis_value_read(const redisReply *r, uint64_t token, uint64_t *version,
                             const char **value, size_t *len) {
  *version = 0;
  *value = "";
  *len = 0;
  if (r == NULL || r->type != REDIS_REPLY_STRING || token == 0) return false;
  uint64_t t, v;
  size_t a, b;
  if (!read_number(&t, r->str, r->len, &a) || t != token) return false;
  if (!read_number(&v, r->str + a + 1, r->len - a - 1, &b) || v == 0) return false;
  size_t at = a + 1 + b + 1;
  *version = v;
  *value = r->str + at;
  *len = r->len - at;
  return true;
}
