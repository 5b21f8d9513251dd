/* config.c — turns baton_options plus the URI into a baton_config with every
 * default applied, and checks names and identities. */
#include "internal.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* What a zero field of baton_options means (baton.h documents each). */
#define BATON_DEFAULT_TTL_MS 10000       /* a crashed holder's name frees up
                                            within about 10 s */
#define BATON_DEFAULT_RENEW_PARTS 3      /* renew every TTL / 3: a renewal that
                                            fails leaves time for retries */
#define BATON_DEFAULT_DRIFT_PPM 10000    /* 1 %: far above the rate error of
                                            a host's clock */
#define BATON_DEFAULT_MARGIN_PARTS 20    /* margin TTL / 20: with the drift, a
                                            term ends 6 % of the TTL before
                                            the server's expiry */
#define BATON_DEFAULT_OP_MS 2000         /* a request's and a connect's bound,
                                            never above the renew interval, so
                                            that no request outlasts one */
#define BATON_DEFAULT_RETRY_BASE_MS 50   /* first retry delay (full jitter) */
#define BATON_DEFAULT_RETRY_MAX_MS 1000  /* the back-off's cap */

/* The options' limits. */
#define BATON_MIN_TTL_MS 100             /* below it the renew interval would
                                            be a few ms */
#define BATON_DRIFT_PPM_LIMIT 500000     /* 50 %: a term would live less than
                                            half its TTL */

static int check_text(const char *what, const char *s, size_t max, baton_error *err) {
  size_t len = strnlen(s, max + 1);
  if (len == 0) return baton__error(err, BATON_EINVAL, "%s is empty", what);
  if (len > max)
    return baton__error(err, BATON_EINVAL, "%s is longer than %zu bytes", what, max);
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
      return baton__error(err, BATON_EINVAL,
                          "%s: byte 0x%02x at offset %zu is not printable ASCII", what,
                          (unsigned char)s[i], i);
  return 0;
}

int baton__name_check(const char *name, baton_error *err) {
  if (name == NULL) return baton__error(err, BATON_EINVAL, "name is NULL");
  int rc = check_text("name", name, BATON_NAME_MAX, err);
  if (rc != 0) return rc;
  for (const char *p = name; *p != '\0'; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          strchr("._:@-", *p) != NULL))
      return baton__error(err, BATON_EINVAL,
                          "name '%s': '%c' is not allowed (use A-Z a-z 0-9 . _ : @ -)", name,
                          *p);
  if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return baton__error(err, BATON_EINVAL, "name '%s' is reserved", name);
  return 0;
}

/* Set cfg's timing from the values asked for (ms, ppm; defaults applied)
 * once they make sense together: the client's options and an election's
 * go through here alike. */
static int set_timing(baton_config *cfg, int64_t ttl, int64_t renew, uint32_t drift,
                      int64_t margin, baton_error *err) {
  if (ttl < BATON_MIN_TTL_MS)
    return baton__error(err, BATON_EINVAL, "ttl_ms %lld is below the minimum of %d",
                        (long long)ttl, BATON_MIN_TTL_MS);
  if (renew >= ttl)
    return baton__error(err, BATON_EINVAL, "renew_interval_ms %lld is not below ttl_ms %lld",
                        (long long)renew, (long long)ttl);
  if (drift >= BATON_DRIFT_PPM_LIMIT)
    return baton__error(err, BATON_EINVAL, "drift_ppm %u is not below %d", drift,
                        BATON_DRIFT_PPM_LIMIT);
  cfg->ttl_ns = ttl * BATON_NS_PER_MS;
  cfg->drift_ppm = drift;
  cfg->margin_ns = margin * BATON_NS_PER_MS;
  cfg->renew_ns = renew * BATON_NS_PER_MS;
  /* The term must outlive at least one renewal, or it ends before the first
   * renewal can extend it. */
  int64_t life = baton__lifetime(cfg, 0) / BATON_NS_PER_MS;
  if (life <= renew)
    return baton__error(err, BATON_EINVAL,
                        "ttl_ms %lld minus drift and margin_ms %lld leaves %lld ms, not "
                        "more than renew_interval_ms %lld",
                        (long long)ttl, (long long)margin, (long long)life, (long long)renew);
  return 0;
}

/* BATON_EINVAL unless every reserved word is zero. */
static int check_reserved(const char *what, const uint64_t *reserved, size_t n,
                          baton_error *err) {
  for (size_t i = 0; i < n; i++)
    if (reserved[i] != 0)
      return baton__error(err, BATON_EINVAL,
                          "%s: reserved[%zu] is not zero (options of a later baton?)", what, i);
  return 0;
}

int baton__config_resolve(baton_config *cfg, char *identity_buf, const baton_options *o,
                          const baton_uri *uri, baton_error *err) {
  static const baton_options zero;
  if (o == NULL) o = &zero;
  memset(cfg, 0, sizeof *cfg);
  int64_t ttl = o->ttl_ms != 0 ? o->ttl_ms : BATON_DEFAULT_TTL_MS;
  int64_t renew =
      o->renew_interval_ms != 0 ? o->renew_interval_ms : ttl / BATON_DEFAULT_RENEW_PARTS;
  uint32_t drift = o->drift_ppm != 0 ? o->drift_ppm : BATON_DEFAULT_DRIFT_PPM;
  int64_t margin = o->margin_ms != 0 ? o->margin_ms : ttl / BATON_DEFAULT_MARGIN_PARTS;
  int rc = set_timing(cfg, ttl, renew, drift, margin, err);
  if (rc == 0)
    rc = check_reserved("options", o->reserved, sizeof o->reserved / sizeof o->reserved[0], err);
  if (rc != 0) return rc;
  int64_t op_default = renew < BATON_DEFAULT_OP_MS ? renew : BATON_DEFAULT_OP_MS;
  cfg->connect_timeout_ns =
      (o->connect_timeout_ms != 0 ? o->connect_timeout_ms : op_default) * BATON_NS_PER_MS;
  cfg->op_timeout_ns = (o->op_timeout_ms != 0 ? o->op_timeout_ms : op_default) * BATON_NS_PER_MS;
  cfg->retry_base_ns =
      (o->retry_base_ms != 0 ? o->retry_base_ms : BATON_DEFAULT_RETRY_BASE_MS) * BATON_NS_PER_MS;
  cfg->retry_max_ns =
      (o->retry_max_ms != 0 ? o->retry_max_ms : BATON_DEFAULT_RETRY_MAX_MS) * BATON_NS_PER_MS;
  if (cfg->retry_max_ns < cfg->retry_base_ns) cfg->retry_max_ns = cfg->retry_base_ns;

  if (o->identity != NULL) {
    rc = check_text("identity", o->identity, BATON_IDENTITY_MAX, err);
    if (rc != 0) return rc;
    snprintf(identity_buf, BATON_IDENTITY_MAX + 1, "%s", o->identity);
  } else {
    char host[200] = "localhost";
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    snprintf(identity_buf, BATON_IDENTITY_MAX + 1, "%s:%ld", host, (long)getpid());
  }
  cfg->identity = identity_buf;
  if (o->log_level > BATON_LOG_DEBUG)
    return baton__error(err, BATON_EINVAL, "log_level %u is not a baton_log_level",
                        (unsigned)o->log_level);
  if ((o->flags & ~(uint64_t)BATON_CLIENT_READ_ONLY) != 0)
    return baton__error(err, BATON_EINVAL, "flags 0x%llx has bits this baton does not know",
                        (unsigned long long)o->flags);
  cfg->read_only = (o->flags & BATON_CLIENT_READ_ONLY) != 0;
  cfg->log = o->log;
  cfg->log_udata = o->log_udata;
  cfg->log_level = o->log_level != 0 ? (baton_log_level)o->log_level : BATON_LOG_INFO;
  cfg->username = o->username != NULL ? o->username : uri != NULL ? uri->user : NULL;
  cfg->password = o->password != NULL ? o->password : uri != NULL ? uri->password : NULL;
  cfg->tls_ca_file = o->tls_ca_file != NULL ? o->tls_ca_file
                     : uri != NULL      ? baton__uri_param(uri, "cacert")
                                        : NULL;
  cfg->tls_cert_file = o->tls_cert_file != NULL ? o->tls_cert_file
                       : uri != NULL        ? baton__uri_param(uri, "cert")
                                            : NULL;
  cfg->tls_key_file = o->tls_key_file != NULL ? o->tls_key_file
                      : uri != NULL       ? baton__uri_param(uri, "key")
                                          : NULL;
  return 0;
}

int baton__config_election(baton_config *cfg, const baton_config *client,
                           const baton_election_options *o, baton_error *err) {
  *cfg = *client;
  if (o == NULL) return 0;
  int rc = check_reserved("election options", o->reserved,
                          sizeof o->reserved / sizeof o->reserved[0], err);
  if (rc != 0) return rc;
  if (o->flags != 0)
    return baton__error(err, BATON_EINVAL, "election options: flags 0x%x has bits this baton "
                        "does not know", (unsigned)o->flags);
  /* An election's TTL brings its own defaults, as a client's does. */
  bool own = o->ttl_ms != 0;
  int64_t ttl = own ? o->ttl_ms : client->ttl_ns / BATON_NS_PER_MS;
  int64_t renew = o->renew_interval_ms != 0 ? o->renew_interval_ms
                  : own                     ? ttl / BATON_DEFAULT_RENEW_PARTS
                                            : client->renew_ns / BATON_NS_PER_MS;
  int64_t margin = o->margin_ms != 0 ? o->margin_ms
                   : own             ? ttl / BATON_DEFAULT_MARGIN_PARTS
                                     : client->margin_ns / BATON_NS_PER_MS;
  rc = set_timing(cfg, ttl, renew, client->drift_ppm, margin, err);
  if (rc != 0) return rc;
  /* No request outlasts a renew interval, as with the client's defaults. */
  if (cfg->op_timeout_ns > cfg->renew_ns) cfg->op_timeout_ns = cfg->renew_ns;
  if (cfg->connect_timeout_ns > cfg->renew_ns) cfg->connect_timeout_ns = cfg->renew_ns;
  return 0;
}

int baton_options_lifetime(const baton_options *o, int64_t *lifetime_ms, baton_error *err) {
  if (lifetime_ms == NULL) return baton__error(err, BATON_EINVAL, "lifetime: lifetime_ms is NULL");
  baton_config cfg;
  char identity[BATON_IDENTITY_MAX + 1];
  int rc = baton__config_resolve(&cfg, identity, o, NULL, err);
  if (rc != 0) return rc;
  *lifetime_ms = baton__lifetime(&cfg, 0) / BATON_NS_PER_MS;
  return baton__ok(err);
}

/* The options keep their size as they grow (the header's promise), on
 * the 64-bit targets baton is built for. */
_Static_assert(sizeof(void *) != 8 || sizeof(baton_options) == 208,
               "baton_options changed size: take new fields from reserved[]");
_Static_assert(sizeof(baton_election_options) == 64,
               "baton_election_options changed size: take new fields from reserved[]");
/* So does baton_leader, which callers allocate, and its fields keep
 * their places. */
_Static_assert(sizeof(void *) != 8 || sizeof(baton_leader) == 328,
               "baton_leader changed size: take new fields from reserved[]");
_Static_assert(sizeof(void *) != 8 || offsetof(baton_leader, version) == 264,
               "baton_leader's version moved");

void baton__log(const baton_config *cfg, baton_log_level level, const char *fmt, ...) {
  if (cfg == NULL || cfg->log == NULL || level > cfg->log_level) return;
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  cfg->log(level, line, cfg->log_udata);
}
