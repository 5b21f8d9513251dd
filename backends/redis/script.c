/* script.c — the Lua scripts that make each operation one atomic request,
 * and running them by SHA-1 with a fallback for an emptied script cache.
 *
 * Values are "<token> <nonce> <identity>"; a script tells our own value by
 * its nonce (32 hex digits, unique per attempt). Tokens are handled as
 * strings end to end: Lua numbers are doubles and tostring() prints 14
 * digits, so a token never passes through a Lua number. */
#include "redis.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* KEYS: NAME, NAME/token, NAME/wait. ARGV: nonce, previous nonce or "",
 * identity, TTL ms, the fresh-server marker's name, and optionally the TTL
 * of the holders a restart-safe wait must outlast when it is not this
 * term's own (a fixed lease, lease.c, waits as the client's terms do). The marker is not a
 * KEY: every acquire would then need the right to it (a Redis 7 ACL user
 * limited to its application's keys could not campaign at all), and it
 * is read only on the rare branch below, where a failed read is safe.
 * Returns {1, value, ttl} when we lead, {0, holder's value, its PTTL} when
 * another does, {2, our value, ms} when the key is ours but the term may
 * begin only that many ms later (restart-safe terms, below).
 * - The key holds our nonce: an earlier attempt whose reply was lost won,
 *   or one that had to wait (restart-safe terms, below) and now may not.
 *   That term goes on: its TTL is reset, as the caller's local lease starts
 *   with this request, and the win is published (again, after a lost
 *   reply: observers see the same leader and pass over it).
 * - The key is free, or holds our previous term's nonce (that term is over
 *   for the caller, or it would not campaign): a new term. Its token is
 *   max(counter + 1, server TIME in microseconds): the clock stands in for
 *   a missing counter, and lifts a counter that went back with lost data
 *   or a stale snapshot past every token already issued (which needs fewer
 *   than one term per microsecond). The comparison is on decimal strings
 *   (length, then bytes), exact at any size.
 * - Only a counter ahead of the clock is raised by one, on its digits:
 *   INCR would return a Lua number (a double, 53 bits) and need a GET
 *   after it. That counter must be a positive decimal without leading
 *   zeros of at most 19 digits, so the token (at most 10^19) fits in 64
 *   bits; one behind the clock is replaced whatever it holds, as before.
 * - The server's commands are most of a script's cost (4,000 to 11,000
 *   instructions each here; string.format alone 4,000): a new term runs
 *   GET, TIME, GET, PTTL, SET, SET and PUBLISH, and pads the microseconds with
 *   string.rep.
 * - replicate_commands makes TIME before a write legal on Redis < 5. */
#define LUA_REPLICATE "if redis.replicate_commands then redis.replicate_commands() end\n"

/* Restart-safe terms. A missing counter is evidence that the server lost
 * its data (a restart without persistence) or of a first use. A holder
 * from before such a restart may still believe in its term until its last
 * renewal + TTL, and that renewal was answered before the server started:
 * so when the server started less than a TTL ago, no term begins before
 * start + TTL. INFO gives the uptime in whole seconds, floored on both
 * ends, hence the extra second. The time is kept as NAME/wait, a key that
 * expires when the wait is over, so that every later look (ours after the
 * wait, a rival's, a look woken early) sees it; a second restart loses it
 * with the counter and is caught again. The marker key (the kit's, or an
 * operator's on a brand-new deployment) holding the server's run_id says
 * that no holder existed in this server life: a restart changes the run_id,
 * so a marker never skips the wait after one. Sets `w`, the ms left to
 * wait (<= 0: none); `c` is the counter as read. Costs a PTTL per new
 * term, and INFO only when the counter was missing; the marker is read
 * only when a wait would begin. Whatever cannot be read counts against
 * skipping, never for it: INFO denied (ACL) or renamed is an uptime of 0,
 * a full TTL + 1 s wait, and no run_id to match; an uptime below 0 (the
 * clock set back since the start) is 0; a marker the user may not read,
 * or that is missing, is no marker. A wait of 0 or less (`left`, within
 * the start + TTL + 1 s bound) sets nothing: SET PX takes only > 0. */
#define LUA_RESTART_WAIT                                                                      \
  "local w = redis.call('PTTL', KEYS[3])\n"                                                   \
  "if not c then\n"                                                                           \
  "  local i = redis.pcall('INFO', 'server')\n"                                               \
  "  local up, id = 0, nil\n"                                                                 \
  "  if type(i) == 'string' then\n"                                                           \
  "    up = tonumber(string.match(i, 'uptime_in_seconds:(-?%d+)')) or 0\n"                     \
  "    if up < 0 then up = 0 end\n"                                                           \
  "    id = string.match(i, 'run_id:(%x+)')\n"                                                \
  "  end\n"                                                                                   \
  "  local left = (1 - up) * 1000 + tonumber(ARGV[6] or ARGV[4])\n"                          \
  "    - math.floor(tonumber(t[2]) / 1000)\n"                                                 \
  "  if left > 0 and left > w then\n"                                                         \
  "    local f = id and redis.pcall('GET', ARGV[5])\n"                                        \
  "    if not (type(f) == 'string' and f == id) then\n"                                       \
  "      redis.call('SET', KEYS[3], '1', 'PX', left)\n"                                       \
  "      w = left\n"                                                                          \
  "    end\n"                                                                                 \
  "  end\n"                                                                                   \
  "end\n"

/* A new term on this server: the token `tok` from the counter and the
 * clock as said above, the counter set to it, and the key set to our value
 * `nv` (XX when `v`, the key's value, was read, else NX). While the term
 * must wait (w > 0) the key lives for the wait and a TTL, so that it is
 * still ours when we look again. */
#define LUA_NEW_TERM                                                                          \
  "local t = redis.call('TIME')\n"                                                             \
  "local tok = t[1] .. string.rep('0', 6 - #t[2]) .. t[2]\n"                                   \
  "local c = redis.call('GET', KEYS[2])\n"                                                     \
  "if c and (#c > #tok or (#c == #tok and c >= tok)) then\n"                                   \
  "  if #c > 19 or not string.find(c, '^[1-9]%d*$') then\n"                                    \
  "    return redis.error_reply('ERR ' .. KEYS[2] .. ' is not a fencing counter')\n"           \
  "  end\n"                                                                                    \
  "  local i = #c\n"                                                                           \
  "  while i > 0 and string.byte(c, i) == 57 do i = i - 1 end\n"                               \
  "  tok = (i > 0 and string.sub(c, 1, i - 1) .. string.char(string.byte(c, i) + 1) or '1')\n" \
  "    .. string.rep('0', #c - i)\n"                                                           \
  "end\n"                                                                                      \
  LUA_RESTART_WAIT                                                                            \
  "redis.call('SET', KEYS[2], tok)\n"                                                          \
  "local nv = tok .. ' ' .. ARGV[1] .. ' ' .. ARGV[3]\n"                                       \
  "local px = w > 0 and tonumber(ARGV[4]) + w or tonumber(ARGV[4])\n"                          \
  "redis.call('SET', KEYS[1], nv, 'PX', px, v and 'XX' or 'NX')\n"                             \
  "if w > 0 then return {2, nv, w} end\n"

static const char acquire_lua[] =
    LUA_REPLICATE
    "local v = redis.call('GET', KEYS[1])\n"
    "if v then\n"
    "  local n = string.match(v, '^%d+ (%x+) ')\n"
    "  if n == ARGV[1] then\n"
    "    local w = redis.call('PTTL', KEYS[3])\n"
    "    if w > 0 then\n"
    "      redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]) + w)\n"
    "      return {2, v, w}\n"
    "    end\n"
    "    redis.call('PEXPIRE', KEYS[1], ARGV[4])\n"
    "    redis.call('PUBLISH', KEYS[1] .. '/elected', v)\n"
    "    return {1, v, tonumber(ARGV[4])}\n"
    "  end\n"
    "  if n ~= ARGV[2] then\n"
    "    return {0, v, redis.call('PTTL', KEYS[1])}\n"
    "  end\n"
    "end\n"
    LUA_NEW_TERM
    "redis.call('PUBLISH', KEYS[1] .. '/elected', nv)\n"
    "return {1, nv, tonumber(ARGV[4])}\n";

/* redlock:// phase 1, one instance's vote. KEYS and ARGV as acquire's.
 * Returns {1, value, ttl} when this instance votes for us, {0, holder's
 * value, its PTTL} when another holds it here, {2, value, ms} when it
 * votes for us but its vote counts only that many ms later (it started
 * less than a TTL ago: restart-safe terms, above). Unlike acquire, a key that
 * holds our nonce already (a lost reply) starts a new term too: every yes
 * raises the counter and returns it, which the quorum register's proof
 * needs (backends/redlock/redlock.c). Publishes nothing: the term is not
 * won until phase 2. */
static const char redlock_vote_lua[] =
    LUA_REPLICATE
    "local v = redis.call('GET', KEYS[1])\n"
    "if v then\n"
    "  local n = string.match(v, '^%d+ (%x+) ')\n"
    "  if n ~= ARGV[1] and n ~= ARGV[2] then\n"
    "    return {0, v, redis.call('PTTL', KEYS[1])}\n"
    "  end\n"
    "end\n"
    LUA_NEW_TERM
    "return {1, nv, tonumber(ARGV[4])}\n";

/* redlock:// phase 2. KEYS: NAME, NAME/token. ARGV: the token T, nonce,
 * identity. Sets the counter to max(counter, T) whatever the key holds
 * (compared as decimal strings); when the key holds our nonce, its value
 * takes T (its TTL kept) and the win is published. Returns 1 when the key
 * was ours, 0 otherwise: either way the counter is written. */
static const char redlock_fence_lua[] =
    "local c = redis.call('GET', KEYS[2])\n"
    "if not c or #c < #ARGV[1] or (#c == #ARGV[1] and c < ARGV[1]) then\n"
    "  redis.call('SET', KEYS[2], ARGV[1])\n"
    "end\n"
    "local v = redis.pcall('GET', KEYS[1])\n"
    "if type(v) == 'string' and string.match(v, '^%d+ (%x+) ') == ARGV[2] then\n"
    "  local nv = ARGV[1] .. ' ' .. ARGV[2] .. ' ' .. ARGV[3]\n"
    "  redis.call('SET', KEYS[1], nv, 'KEEPTTL')\n"
    "  redis.call('PUBLISH', KEYS[1] .. '/elected', nv)\n"
    "  return 1\n"
    "end\n"
    "return 0\n";

/* KEYS: held names (BATON_REDIS_RENEW_CHUNK at the most). ARGV: TTL ms, then the
 * nonce of each key in order.
 * Returns one 0/1 per key: 1 = still ours, TTL reset. pcall: a key of
 * another type is simply not ours, and must not fail the other renewals. */
static const char renew_lua[] =
    "local r = {}\n"
    "for i, k in ipairs(KEYS) do\n"
    "  local v = redis.pcall('GET', k)\n"
    "  if type(v) == 'string' and string.match(v, '^%d+ (%x+) ') == ARGV[i + 1] then\n"
    "    redis.call('PEXPIRE', k, ARGV[1])\n"
    "    r[i] = 1\n"
    "  else\n"
    "    r[i] = 0\n"
    "  end\n"
    "end\n"
    "return r\n";

/* KEYS: NAME. ARGV: our current and previous nonces ("" when none). Deletes
 * the key only if it holds one of them, with the term's proclaimed value
 * NAME/value (proclaim.c; pcall: a user whose rights stop at NAME still
 * releases), and wakes the waiters. Returns 1 when it deleted, 0
 * otherwise. */
#define LUA_DELETE_TERM                                                                       \
  "  redis.call('DEL', KEYS[1])\n"                                                              \
  "  redis.pcall('DEL', KEYS[1] .. '/value')\n"                                                 \
  "  redis.call('PUBLISH', KEYS[1] .. '/released', v)\n"                                        \
  "  return 1\n"

static const char release_lua[] =
    "local v = redis.pcall('GET', KEYS[1])\n"
    "if type(v) ~= 'string' then return 0 end\n"
    "local n = string.match(v, '^%d+ (%x+) ')\n"
    "if n and (n == ARGV[1] or n == ARGV[2]) then\n"
    LUA_DELETE_TERM
    "end\n"
    "return 0\n";

/* Fixed leases (lease.c) are known by their token, not a nonce: a handle
 * attached in another process has only the name and the token. The key is
 * the lease's while its value starts with that token and its nonce carries
 * the lease mark (redis.h, BATON_REDIS_LEASE_MARK). The token alone is not
 * enough: a term's value has the same shape, and a handle attached with a
 * live term's token would otherwise cut that term's PTTL or delete its key
 * (two leaders). Tokens are never issued twice for a name, and no term's
 * nonce has the mark, so no other value matches. KEYS: NAME. */
#define LUA_IF_LEASE                                                                          \
  "local v = redis.pcall('GET', KEYS[1])\n"                                                   \
  "if type(v) == 'string' and string.match(v, '^(%d+) " BATON_REDIS_LEASE_MARK "%x+ ') == "    \
  "ARGV[1] then\n"

/* ARGV: the token, the TTL in ms. Returns 1 when the lease lives the TTL
 * from now, 0 when the key is not the lease's. */
static const char lease_extend_lua[] =
    LUA_IF_LEASE
    "  redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "  return 1\n"
    "end\n"
    "return 0\n";

/* ARGV: the token. Deletes the lease as release deletes a term (its value
 * too, and the waiters woken): 1, or 0 when the key is not the lease's. */
static const char lease_release_lua[] =
    LUA_IF_LEASE
    LUA_DELETE_TERM
    "end\n"
    "return 0\n";

static const char *const scripts[BATON_REDIS_SCRIPT_COUNT] = {
    acquire_lua, renew_lua, release_lua, redlock_vote_lua, redlock_fence_lua,
    baton__redis_proclaim_lua, lease_extend_lua, lease_release_lua};
static char shas[BATON_REDIS_SCRIPT_COUNT][41];
static pthread_once_t shas_once = PTHREAD_ONCE_INIT;

static void compute_shas(void) {
  for (int i = 0; i < BATON_REDIS_SCRIPT_COUNT; i++)
    baton__redis_sha1_hex(shas[i], scripts[i], strlen(scripts[i]));
}

static bool is_noscript(const redisReply *r) {
  return r->type == REDIS_REPLY_ERROR && r->str != NULL && strncmp(r->str, "NOSCRIPT", 8) == 0;
}

/* The error a set of replies stands for: the first error reply's. */
static int replies_error(const baton_redis_session *s, redisReply **r, size_t n, const char *what,
                         baton_error *err) {
  for (size_t i = 0; i < n; i++) {
    if (is_noscript(r[i]))
      return baton__error(err, BATON_EPROTO, "%s: %s: NOSCRIPT after EVAL", s->label, what);
    if (r[i]->type == REDIS_REPLY_ERROR) return baton__redis_reply_error(s, r[i], what, err);
  }
  return 0;
}

/* Commands for n calls: on the stack for one call (acquire, release, a
 * renewal of few names), allocated for more. */
typedef struct batch {
  baton_redis_cmd one_cmd;
  redisReply *one_reply;
  baton_redis_cmd *cmds; /* n commands */
  redisReply **replies;  /* n replies */
} batch;

static int batch_init(batch *b, size_t n) {
  b->cmds = n == 1 ? &b->one_cmd : baton__calloc(n, sizeof *b->cmds);
  b->replies = n == 1 ? &b->one_reply : baton__calloc(n, sizeof *b->replies);
  return b->cmds != NULL && b->replies != NULL ? 0 : BATON_ENOMEM;
}

static void batch_free(batch *b) {
  if (b->cmds != &b->one_cmd) baton__free(b->cmds);
  if (b->replies != &b->one_reply) baton__free(b->replies);
}

void baton__redis_eval_cmds(baton_redis_script script, baton_redis_call *calls, size_t n,
                            baton_redis_cmd *cmds) {
  pthread_once(&shas_once, compute_shas);
  for (size_t i = 0; i < n; i++) {
    baton_redis_call *c = &calls[i];
    snprintf(c->numkeys, sizeof c->numkeys, "%d", c->nkeys);
    c->argv[0] = "EVALSHA";
    c->argv[1] = shas[script];
    c->argv[2] = c->numkeys;
    cmds[i] = (baton_redis_cmd){c->argc, c->argv};
  }
}

static void free_replies(redisReply **out, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (out[i] != NULL) freeReplyObject(out[i]);
    out[i] = NULL;
  }
}

int baton__redis_eval_finish(baton_redis_session *s, baton_redis_conn *k, baton_redis_script script,
                             baton_redis_call *calls, size_t n, redisReply **out, int64_t deadline,
                             const char *what, baton_error *err) {
  /* What did not run for want of the script goes again as EVAL. */
  size_t lost = 0;
  for (size_t i = 0; i < n; i++) lost += is_noscript(out[i]);
  int rc = 0;
  if (lost > 0) {
    batch b;
    rc = batch_init(&b, lost);
    if (rc != 0) rc = baton__error(err, rc, "%s: %s: out of memory", s->label, what);
    for (size_t i = 0, j = 0; rc == 0 && i < n; i++) {
      if (!is_noscript(out[i])) continue;
      freeReplyObject(out[i]);
      out[i] = NULL;
      calls[i].argv[0] = "EVAL";
      calls[i].argv[1] = scripts[script];
      b.cmds[j++] = (baton_redis_cmd){calls[i].argc, calls[i].argv};
    }
    if (rc == 0) rc = baton__redis_request(s, k, b.cmds, lost, b.replies, deadline, what, err);
    for (size_t i = 0, j = 0; rc == 0 && i < n; i++)
      if (out[i] == NULL) out[i] = b.replies[j++];
    batch_free(&b);
  }
  if (rc == 0) rc = replies_error(s, out, n, what, err);
  if (rc != 0) free_replies(out, n);
  return rc;
}

int baton__redis_eval(baton_redis_session *s, baton_redis_conn *k, baton_redis_script script,
                      baton_redis_call *calls, size_t n, redisReply **out, int64_t deadline,
                      const char *what, baton_error *err) {
  for (size_t i = 0; i < n; i++) out[i] = NULL;
  if (n == 0) return 0;
  batch b;
  int rc = batch_init(&b, n);
  if (rc != 0) {
    batch_free(&b);
    return baton__error(err, rc, "%s: %s: out of memory", s->label, what);
  }
  baton__redis_eval_cmds(script, calls, n, b.cmds);
  rc = baton__redis_request(s, k, b.cmds, n, out, deadline, what, err);
  batch_free(&b);
  if (rc != 0) return rc;
  return baton__redis_eval_finish(s, k, script, calls, n, out, deadline, what, err);
}

/* ---- SHA-1 (FIPS 180-4), only to name scripts for EVALSHA ---------------- */

static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1_block(uint32_t h[5], const unsigned char *p) {
  uint32_t w[80];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
           (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
  for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
  for (int i = 0; i < 80; i++) {
    uint32_t f, k;
    if (i < 20) {
      f = (b & c) | (~b & d);
      k = 0x5a827999;
    } else if (i < 40) {
      f = b ^ c ^ d;
      k = 0x6ed9eba1;
    } else if (i < 60) {
      f = (b & c) | (b & d) | (c & d);
      k = 0x8f1bbcdc;
    } else {
      f = b ^ c ^ d;
      k = 0xca62c1d6;
    }
    uint32_t t = rol(a, 5) + f + e + k + w[i];
    e = d;
    d = c;
    c = rol(b, 30);
    b = a;
    a = t;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
}

void baton__redis_sha1_hex(char out[41], const void *data, size_t len) {
  uint32_t h[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
  const unsigned char *p = data;
  size_t full = len / 64 * 64;
  for (size_t off = 0; off < full; off += 64) sha1_block(h, p + off);
  /* The tail, a 0x80 byte, zeros, and the length in bits (big-endian). */
  unsigned char tail[128] = {0};
  size_t rest = len - full;
  memcpy(tail, p + full, rest);
  tail[rest] = 0x80;
  size_t tail_len = rest + 1 + 8 <= 64 ? 64 : 128;
  uint64_t bits = (uint64_t)len * 8;
  for (int i = 0; i < 8; i++) tail[tail_len - 1 - (size_t)i] = (unsigned char)(bits >> (8 * i));
  for (size_t off = 0; off < tail_len; off += 64) sha1_block(h, tail + off);
  for (int i = 0; i < 5; i++) snprintf(out + 8 * i, 9, "%08x", (unsigned)h[i]);
}
