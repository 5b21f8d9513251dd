/* deadline.c — the safety rule, written once: a term ends locally at
 * t_sent + ttl * (1 - drift) - margin. Pure functions; the clock is an
 * argument so tests can inject it. */
#include "internal.h"

#define BATON_PPM 1000000 /* drift_ppm's unit: parts per million */

int64_t baton__lifetime(const baton_config *cfg, int64_t server_ttl_ns) {
  int64_t ttl = cfg->ttl_ns;
  if (server_ttl_ns > 0 && server_ttl_ns < ttl) ttl = server_ttl_ns;
  /* ttl * drift_ppm fits: ttl < 2^43 ns (~2.4 h) keeps it below 2^63 with a
   * 2^20 ppm bound; longer TTLs are scaled in two steps. */
  int64_t drift = ttl / BATON_PPM * cfg->drift_ppm + ttl % BATON_PPM * cfg->drift_ppm / BATON_PPM;
  return ttl - drift - cfg->margin_ns;
}

int64_t baton__renew_interval(const baton_config *cfg, int64_t server_ttl_ns) {
  if (server_ttl_ns > 0 && server_ttl_ns < cfg->ttl_ns && server_ttl_ns / 3 < cfg->renew_ns)
    return server_ttl_ns / 3;
  return cfg->renew_ns;
}

void baton__lease_start(baton_local_lease *l, int64_t sent, int64_t lifetime) {
  l->sent = sent;
  l->lifetime = lifetime;
}

void baton__lease_renewed(baton_local_lease *l, int64_t sent) {
  if (sent > l->sent) l->sent = sent;
}

int64_t baton__lease_deadline(const baton_local_lease *l) {
  if (l->sent == INT64_MIN) return INT64_MIN;
  return baton__add_sat(l->sent, l->lifetime);
}

bool baton__lease_live(const baton_local_lease *l, int64_t now) {
  return now < baton__lease_deadline(l);
}

int64_t baton__lease_remaining(const baton_local_lease *l, int64_t now) {
  int64_t d = baton__lease_deadline(l);
  return now < d ? d - now : 0;
}

int64_t baton__next_renew(const baton_config *cfg, int64_t interval, int64_t last_success_sent,
                          unsigned failures, int64_t now) {
  int64_t regular = last_success_sent + interval;
  if (failures == 0) return regular;
  /* After a failure, retry soon (the term is running out), but never wait
   * longer than a regular interval would. */
  int64_t retry = now + baton__config_backoff(cfg, failures - 1);
  return retry < now + interval ? retry : now + interval;
}

int64_t baton__server_expiry(const baton_config *cfg, int64_t server_ttl_ns, int64_t sent) {
  if (sent == INT64_MIN) return INT64_MIN;
  return baton__add_sat(sent, server_ttl_ns > 0 ? server_ttl_ns : cfg->ttl_ns);
}

int64_t baton__request_deadline(const baton_config *cfg, int64_t now, int64_t limit) {
  int64_t d = baton__add_sat(now, cfg->op_timeout_ns);
  return d < limit ? d : limit;
}
