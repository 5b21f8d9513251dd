/* instance.c — what the redis:// and redlock:// backends share above the
 * connection: one Redis server's fields, the URI's database, our stored
 * values, a candidate's nonces, and the layout of a renewal. */
#include "redis.h"

#include <ctype.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

int baton__redis_instance_init(baton_redis_session *s, const char *scheme, const char *host,
                               int port, long db, const baton_config *cfg) {
  pthread_mutex_init(&s->cmd.mu, NULL);
  pthread_mutex_init(&s->renewer.mu, NULL);
  pthread_mutex_init(&s->state_mu, NULL);
  s->base.cfg = cfg;
  if (baton__redis_hub_init(s) != 0) return BATON_ENOMEM;
  s->port = port;
  s->db = db;
  s->host = baton__strdup(host);
  if (cfg->username != NULL) s->user = baton__strdup(cfg->username);
  if (cfg->password != NULL) s->password = baton__strdup(cfg->password);
  if (s->host == NULL || (cfg->username != NULL && s->user == NULL) ||
      (cfg->password != NULL && s->password == NULL))
    return BATON_ENOMEM;
  snprintf(s->label, sizeof s->label, strchr(host, ':') ? "%s://[%.200s]:%d" : "%s://%.200s:%d",
           scheme, host, port);
  return 0;
}

void baton__redis_instance_fini(baton_redis_session *s) {
  baton__redis_hub_fini(s);
  if (s->cmd.ctx != NULL) redisFree(s->cmd.ctx);
  if (s->renewer.ctx != NULL) redisFree(s->renewer.ctx);
  pthread_mutex_destroy(&s->cmd.mu);
  pthread_mutex_destroy(&s->renewer.mu);
  pthread_mutex_destroy(&s->state_mu);
  if (s->password != NULL) explicit_bzero(s->password, strlen(s->password));
  baton__free(s->password);
  baton__free(s->user);
  baton__free(s->host);
}

int baton__redis_parse_db(long *out, const char *path, const char *scheme, baton_error *err) {
  *out = 0;
  if (path[0] == '\0' || strcmp(path, "/") == 0) return 0;
  const char *p = path + 1;
  long v = 0;
  for (; *p != '\0' && v <= 100000000; p++) {
    if (!isdigit((unsigned char)*p)) break;
    v = v * 10 + (*p - '0');
  }
  if (*p != '\0' || v > 100000000)
    return baton__error(err, BATON_EINVAL,
                        "%s://: the path '%.64s' is not a database number (expected /0, "
                        "/1, ...)",
                        scheme, path);
  *out = v;
  return 0;
}

static void copy_identity(baton_leader *out, const char *s, size_t len) {
  if (len > BATON_IDENTITY_MAX) len = BATON_IDENTITY_MAX;
  memcpy(out->identity, s, len);
  out->identity[len] = '\0';
}

/* redis-py's Lock stores a random hex string: such a value is another
 * program's, shown whole, with no token we could know. */
bool baton__redis_parse_value(baton_leader *out, const char *v, size_t len) {
  memset(out, 0, sizeof *out);
  uint64_t token = 0;
  size_t i = 0;
  for (; i < len && isdigit((unsigned char)v[i]); i++) {
    unsigned d = (unsigned)(v[i] - '0');
    if (token > (UINT64_MAX - d) / 10) break;
    token = token * 10 + d;
  }
  size_t j = i + 1;
  while (j < len && isxdigit((unsigned char)v[j])) j++;
  bool ours = i > 0 && token > 0 && i < len && v[i] == ' ' && j - i - 1 == BATON_REDIS_NONCE_LEN &&
              j < len && v[j] == ' ';
  if (!ours) {
    copy_identity(out, v, len);
    return false;
  }
  out->token = token;
  copy_identity(out, v + j + 1, len - j - 1);
  return true;
}

/* After a lost reply the same nonce goes again, so the script can tell
 * that the lost attempt won. After a won term a fresh one, and the old one
 * becomes `prev`: a key that still holds it belongs to a term the caller
 * has ended, and the script may replace it. */
void baton__redis_start_attempt(pthread_mutex_t *mu, baton_redis_cand *p, char *nonce,
                                char *prev) {
  pthread_mutex_lock(mu);
  if (!p->pending) {
    if (p->won) memcpy(p->prev, p->nonce, sizeof p->prev);
    p->won = false;
    baton__redis_nonce(p->nonce);
    p->pending = true;
  }
  memcpy(nonce, p->nonce, BATON_REDIS_NONCE_LEN + 1);
  memcpy(prev, p->prev, BATON_REDIS_NONCE_LEN + 1);
  pthread_mutex_unlock(mu);
}

/* ---- renewals ------------------------------------------------------------ */

void baton__redis_renewal_free(baton_redis_renewal *w) {
  for (size_t i = 0; w->replies != NULL && i < w->chunks; i++)
    if (w->replies[i] != NULL) freeReplyObject(w->replies[i]);
  baton__free(w->replies);
  baton__free(w->calls);
  baton__free(w->argv);
  baton__free(w->nonces);
}

/* How many argv entries w's calls take in all. */
static size_t argv_len(size_t chunks, size_t n) { return 4 * chunks + 2 * n; }

void baton__redis_renewal_copy(const baton_redis_renewal *w, baton_redis_call *calls,
                               const char **argv) {
  memcpy(argv, w->argv, argv_len(w->chunks, w->n) * sizeof *argv);
  for (size_t ch = 0; ch < w->chunks; ch++) {
    calls[ch] = w->calls[ch];
    calls[ch].argv = argv + (w->calls[ch].argv - w->argv);
  }
}

/* KEYS are a chunk's names, ARGV the TTL and then their nonces (fixed
 * during a term; a candidate without one, "", is simply reported gone by
 * the script). */
int baton__redis_renewal_init(baton_redis_renewal *w, pthread_mutex_t *mu, const baton_config *cfg,
                              baton_candidate *const *held, size_t n) {
  memset(w, 0, sizeof *w);
  w->n = n;
  w->chunks = (n + BATON_REDIS_RENEW_CHUNK - 1) / BATON_REDIS_RENEW_CHUNK;
  snprintf(w->ttl, sizeof w->ttl, "%lld", (long long)(cfg->ttl_ns / BATON_NS_PER_MS));
  w->calls = baton__calloc(w->chunks, sizeof *w->calls);
  w->argv = baton__calloc(argv_len(w->chunks, n), sizeof *w->argv);
  w->nonces = baton__calloc(n, BATON_REDIS_NONCE_LEN + 1);
  w->replies = baton__calloc(w->chunks, sizeof *w->replies);
  if (w->calls == NULL || w->argv == NULL || w->nonces == NULL || w->replies == NULL)
    return BATON_ENOMEM;
  pthread_mutex_lock(mu);
  for (size_t i = 0; i < n; i++) {
    const baton_redis_cand *p = held[i]->priv;
    if (p != NULL)
      memcpy(w->nonces + i * (BATON_REDIS_NONCE_LEN + 1), p->nonce, BATON_REDIS_NONCE_LEN + 1);
  }
  pthread_mutex_unlock(mu);
  const char **argv = w->argv;
  for (size_t ch = 0; ch < w->chunks; ch++) {
    size_t first = ch * BATON_REDIS_RENEW_CHUNK, m = n - first;
    if (m > BATON_REDIS_RENEW_CHUNK) m = BATON_REDIS_RENEW_CHUNK;
    w->calls[ch] = (baton_redis_call){.argv = argv, .argc = 4 + 2 * (int)m, .nkeys = (int)m};
    argv[3 + m] = w->ttl;
    for (size_t j = 0; j < m; j++) {
      argv[3 + j] = held[first + j]->name;
      argv[4 + m + j] = w->nonces + (first + j) * (BATON_REDIS_NONCE_LEN + 1);
    }
    argv += 4 + 2 * m;
  }
  return 0;
}

bool baton__redis_renewal_read(const baton_redis_renewal *w, redisReply *const *replies,
                               bool *still) {
  for (size_t ch = 0; ch < w->chunks; ch++) {
    const redisReply *r = replies[ch];
    size_t first = ch * BATON_REDIS_RENEW_CHUNK, m = (size_t)w->calls[ch].nkeys;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != m) return false;
    for (size_t j = 0; j < m; j++) {
      if (r->element[j]->type != REDIS_REPLY_INTEGER) return false;
      still[first + j] = r->element[j]->integer == 1;
    }
  }
  return true;
}

/* ---- the calls' common steps ----------------------------------------------- */

int baton__redis_check_candidate(const void *s, const baton_candidate *c, const char *scheme,
                                 const char *what, baton_error *err) {
  if (s == NULL || c == NULL || c->name == NULL || c->identity == NULL)
    return baton__error(err, BATON_EINVAL, "%s: %s: NULL session or candidate", scheme, what);
  int rc = baton_election_name_check(c->name, err);
  /* The prefix of baton's own keys (BATON_REDIS_FRESH_KEY): an election
   * named so would share its key. */
  if (rc == 0 && strncmp(c->name, "baton:", 6) == 0)
    rc = baton__error(err, BATON_EINVAL,
                      "%s: %s: names that begin with 'baton:' are reserved on Redis ('%s')",
                      scheme, what, c->name);
  return rc;
}

int baton__redis_cand_alloc(baton_candidate *c, size_t size, const char *scheme, baton_error *err) {
  if (c->priv == NULL) c->priv = baton__calloc(1, size);
  if (c->priv == NULL) return baton__error(err, BATON_ENOMEM, "%s: out of memory", scheme);
  return 0;
}

int baton__redis_check_held(const void *s, baton_candidate *const *held, size_t n,
                            const bool *gone, const char *scheme, baton_error *err) {
  if (s == NULL || (n > 0 && (held == NULL || gone == NULL)))
    return baton__error(err, BATON_EINVAL, "%s: renew: NULL argument", scheme);
  if (n > INT_MAX / 4) return baton__error(err, BATON_EINVAL, "%s: renew: too many names", scheme);
  for (size_t i = 0; i < n; i++)
    if (held[i] == NULL || held[i]->name == NULL)
      return baton__error(err, BATON_EINVAL, "%s: renew: NULL candidate", scheme);
  return 0;
}

bool baton__redis_release_nonces(pthread_mutex_t *mu, const baton_redis_cand *p, char *cur,
                                 char *prev) {
  cur[0] = '\0';
  pthread_mutex_lock(mu);
  if (p->won || p->pending) memcpy(cur, p->nonce, BATON_REDIS_NONCE_LEN + 1);
  memcpy(prev, p->prev, BATON_REDIS_NONCE_LEN + 1);
  pthread_mutex_unlock(mu);
  return cur[0] != '\0' || prev[0] != '\0';
}

void baton__redis_settle(pthread_mutex_t *mu, baton_redis_cand *p, bool won, bool pending) {
  pthread_mutex_lock(mu);
  p->pending = pending;
  p->won = won;
  if (!pending) p->prev[0] = '\0';
  pthread_mutex_unlock(mu);
}

void baton__redis_keys(baton_redis_keys *out, const char *name) {
  snprintf(out->counter, sizeof out->counter, "%s/token", name);
  snprintf(out->wait, sizeof out->wait, "%s/wait", name);
}

bool baton__redis_vote_read(baton_redis_vote *out, const redisReply *r) {
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
      r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_STRING ||
      r->element[2]->type != REDIS_REPLY_INTEGER)
    return false;
  long long answer = r->element[0]->integer;
  out->ours = baton__redis_parse_value(&out->who, r->element[1]->str, r->element[1]->len);
  out->ms = r->element[2]->integer;
  out->answer = answer == 1 ? BATON_REDIS_WON : answer == 2 ? BATON_REDIS_WAIT : BATON_REDIS_HELD;
  return (answer == 0 || out->ours) && answer >= 0 && answer <= 2;
}

int baton__redis_wait_term(pthread_mutex_t *mu, baton_redis_cand *p, int64_t now, int64_t ms,
                           const char *label, const char *name, const char *whose,
                           baton_leader *holder, baton_error *err) {
  baton__redis_settle(mu, p, false, true);
  p->recheck_at = now + ms * BATON_NS_PER_MS + BATON_REDIS_RECHECK_SLACK_NS;
  p->foreign_poll_ns = 0;
  if (holder != NULL) memset(holder, 0, sizeof *holder);
  return baton__error(err, BATON_EHELD,
                      "%s: '%s' waits %lld ms: %s less than a TTL ago (a restart that lost "
                      "the data, or a first use), and a holder from before may still believe "
                      "until then",
                      label, name, (long long)ms, whose);
}
