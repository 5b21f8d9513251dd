/* stats.c — what the core counts as terms change, reading it back, and
 * the Prometheus text exposition of a client. Counting happens where
 * term.c, election.c and client.c already hold client->mu: a handful of
 * additions and a bucket search, no allocation and no I/O, so the hot
 * path (renewal, campaign) pays next to nothing and readers see one
 * consistent snapshot. */
#include "core.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* ---- histograms ----------------------------------------------------------- */

/* The upper bounds of the finite buckets, in ns, and as Prometheus prints
 * them (`le`). One set for every histogram: from a fast renewal's round
 * trip (1 ms) to an hour-long term. */
static const int64_t bounds_ns[BATON_HISTOGRAM_BUCKETS - 1] = {
    1000000LL,    2500000LL,    5000000LL,     10000000LL,     25000000LL,     50000000LL,
    100000000LL,  250000000LL,  500000000LL,   1000000000LL,   2500000000LL,   5000000000LL,
    10000000000LL, 30000000000LL, 60000000000LL, 300000000000LL, 1800000000000LL,
    3600000000000LL};
static const char *const bounds_le[BATON_HISTOGRAM_BUCKETS] = {
    "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
    "2.5",   "5",      "10",    "30",   "60",    "300",  "1800", "3600", "+Inf"};

int64_t baton_histogram_bound_ns(unsigned i) {
  return i < BATON_HISTOGRAM_BUCKETS - 1 ? bounds_ns[i] : INT64_MAX;
}

void baton__histogram_add(baton_histogram *h, int64_t ns) {
  if (ns < 0) ns = 0;
  unsigned i = 0;
  while (i < BATON_HISTOGRAM_BUCKETS - 1 && ns > bounds_ns[i]) i++;
  h->buckets[i]++;
  h->count++;
  h->sum_ns += (uint64_t)ns;
}

/* ---- counting ------------------------------------------------------------- */

void baton__stats_init(baton_stats *s) {
  memset(s, 0, sizeof *s);
  s->headroom_min_ns = INT64_MAX;
}

static const baton_term_stats no_terms = {.headroom_min_ns = INT64_MAX};

int baton__stats_reserve(baton_election *e) {
  if (e->term_stats != NULL) return 0;
  e->term_stats = baton__calloc(1, sizeof *e->term_stats);
  if (e->term_stats == NULL) return BATON_ENOMEM;
  *e->term_stats = no_terms;
  return 0;
}

void baton__stats_free(baton_election *e) {
  baton__free(e->term_stats);
  e->term_stats = NULL;
}

/* e's histograms: its own, or none yet (a term's are reserved before it
 * begins, so a term's figures always have a place). */
static const baton_term_stats *terms_of(const baton_election *e) {
  return e->term_stats != NULL ? e->term_stats : &no_terms;
}

void baton__stats_acquired(baton_election *e, int64_t ns) {
  if (e->term_stats != NULL) baton__histogram_add(&e->term_stats->acquire, ns);
  baton__histogram_add(&e->client->stats.totals.acquire, ns);
}

void baton__stats_ended(baton_election *e, baton_lost_reason reason, int64_t held_ns) {
  unsigned r = (unsigned)reason < BATON_LOST_REASONS ? (unsigned)reason : 0;
  BATON__COUNT(e, terms_lost[r]);
  if (e->term_stats != NULL) baton__histogram_add(&e->term_stats->hold, held_ns);
  baton__histogram_add(&e->client->stats.totals.hold, held_ns);
}

static void headroom(baton_histogram *h, int64_t *min_ns, int64_t ns) {
  baton__histogram_add(h, ns);
  if (ns < *min_ns) *min_ns = ns;
}

void baton__stats_renewed(baton_election *e, int64_t headroom_ns) {
  BATON__COUNT(e, renewals_ok);
  if (e->term_stats != NULL)
    headroom(&e->term_stats->headroom, &e->term_stats->headroom_min_ns, headroom_ns);
  baton_stats *t = &e->client->stats.totals;
  headroom(&t->headroom, &t->headroom_min_ns, headroom_ns);
}

/* e's counters and histograms as the public struct has them. */
static void stats_of(const baton_election *e, baton_stats *out) {
  baton__stats_init(out);
  const baton_counts *n = &e->stats;
  out->campaigns = n->campaigns;
  out->attempts = n->attempts;
  out->contended = n->contended;
  out->retries = n->retries;
  out->terms_won = n->terms_won;
  memcpy(out->terms_lost, n->terms_lost, sizeof out->terms_lost);
  out->renewals_ok = n->renewals_ok;
  out->renewals_failed = n->renewals_failed;
  out->late_releases = n->late_releases;
  const baton_term_stats *h = terms_of(e);
  out->acquire = h->acquire;
  out->hold = h->hold;
  out->headroom = h->headroom;
  out->headroom_min_ns = h->headroom_min_ns;
}

/* ---- reading -------------------------------------------------------------- */

/* e's stats and state at `now`. Needs client->mu. */
static void election_read(baton_election *e, int64_t now, baton_election_stats *out) {
  memset(out, 0, sizeof *out);
  /* As is_leader: a term whose deadline passed is over, here too. */
  baton__term_expire(e, now);
  stats_of(e, &out->stats);
  out->leader = e->term.held;
  out->token = e->term.token;
  if (e->term.held) {
    out->term_age_ns = now - e->term.began;
    int64_t left = baton__term_deadline(e) - now;
    out->remaining_ns = left > 0 ? left : 0;
  }
}

int baton_election_read_stats(baton_election *e, baton_election_stats *out, baton_error *err) {
  if (e == NULL || out == NULL)
    return baton__error(err, BATON_EINVAL, "read_stats: %s is NULL",
                        e == NULL ? "election" : "out");
  pthread_mutex_lock(&e->client->mu);
  election_read(e, baton__now(), out);
  pthread_mutex_unlock(&e->client->mu);
  return baton__ok(err);
}

/* Needs client->mu. */
/* The servers' figures summed over c's opened sessions into
 * out[0..*n) (at most cap), and the attempts without a quorum. Needs
 * client->mu and c->backend->servers. */
static void servers_read(baton_client *c, baton_server_stats *out, size_t cap, size_t *n,
                         uint64_t *no_quorum) {
  *n = 0;
  *no_quorum = 0;
  if (cap > 0) memset(out, 0, cap * sizeof *out);
  for (unsigned b = 0; b < c->nbatches; b++) {
    baton_session *s = c->batches[b].session;
    size_t got = 0;
    if (s != NULL) c->backend->servers(s, out, cap, &got, no_quorum);
    if (got > *n) *n = got;
  }
}

static void client_read(baton_client *c, baton_client_stats *out) {
  *out = c->stats;
  if (c->backend->servers != NULL) {
    baton_server_stats none[1];
    size_t n;
    servers_read(c, none, 0, &n, &out->attempts_no_quorum);
  }
  uint32_t n = 0;
  for (const baton_election *e = c->elections; e != NULL; e = e->next)
    if (!e->closing) n++;
  out->elections = n;
  size_t held = 0;
  for (unsigned i = 0; i < c->nbatches; i++) held += c->batches[i].nheld;
  out->terms_held = (uint32_t)held;
}

int baton_client_read_stats(baton_client *c, baton_client_stats *out, baton_error *err) {
  if (c == NULL || out == NULL)
    return baton__error(err, BATON_EINVAL, "read_stats: %s is NULL", c == NULL ? "client" : "out");
  pthread_mutex_lock(&c->mu);
  client_read(c, out);
  pthread_mutex_unlock(&c->mu);
  return baton__ok(err);
}

int baton_client_read_servers(baton_client *c, baton_server_stats *out, size_t cap, size_t *count,
                              baton_error *err) {
  if (count != NULL) *count = 0;
  if (c == NULL || count == NULL || (out == NULL && cap > 0))
    return baton__error(err, BATON_EINVAL, "read_servers: %s is NULL",
                        c == NULL ? "client" : count == NULL ? "count" : "out");
  if (c->backend->servers == NULL)
    return baton__error(err, BATON_ENOTSUP, "read_servers: the %s backend asks one server",
                        c->backend->schemes[0]);
  uint64_t no_quorum;
  pthread_mutex_lock(&c->mu);
  servers_read(c, out, cap, count, &no_quorum);
  pthread_mutex_unlock(&c->mu);
  if (*count > cap) *count = cap;
  return baton__ok(err);
}

/* ---- Prometheus text ------------------------------------------------------ */

/* snprintf into a caller's buffer that keeps counting past its end. */
typedef struct text {
  char *buf;
  size_t size;
  size_t len; /* of the whole text, even past size */
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *at = t->len < t->size ? t->buf + t->len : NULL;
  size_t room = t->len < t->size ? t->size - t->len : 0;
  int n = vsnprintf(at, room, fmt, ap);
  va_end(ap);
  if (n > 0) t->len += (size_t)n;
}

/* A label value as the format wants it: backslash, double quote and line
 * feed escaped. Names are checked ([A-Za-z0-9._:@-]) and need none today;
 * escaping keeps the output valid whatever later versions allow. */
static void put_escaped(text *t, const char *s) {
  for (; *s != '\0'; s++) {
    if (*s == '\\')
      put(t, "\\\\");
    else if (*s == '"')
      put(t, "\\\"");
    else if (*s == '\n')
      put(t, "\\n");
    else
      put(t, "%c", *s);
  }
}

/* ns as seconds, exactly: "1.250000000". */
static void put_seconds(text *t, int64_t ns) {
  const char *sign = ns < 0 ? "-" : "";
  uint64_t u = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
  put(t, "%s%llu.%09llu", sign, (unsigned long long)(u / BATON_NS_PER_S),
      (unsigned long long)(u % BATON_NS_PER_S));
}

typedef enum kind { COUNTER, GAUGE, HISTOGRAM } kind;

static void family(text *t, const char *name, kind k, const char *help) {
  static const char *const types[] = {"counter", "gauge", "histogram"};
  put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, types[k]);
}

/* The labels of one series: the backend, the election's name when there
 * is one, `slot` for a second election on one name in the client (which
 * the library tells apart by it), and `extra` (already formatted, or
 * NULL). */
static void put_labels(text *t, const baton_client *c, const baton_election *e, const char *extra) {
  put(t, "{backend=\"");
  put_escaped(t, c->backend->schemes[0]);
  put(t, "\"");
  if (e != NULL) {
    put(t, ",name=\"");
    put_escaped(t, e->name);
    put(t, "\"");
    if (e->candidate.slot > 0) put(t, ",slot=\"%u\"", e->candidate.slot);
  }
  if (extra != NULL) put(t, ",%s", extra);
  put(t, "}");
}

static void put_histogram(text *t, const char *name, const baton_client *c,
                          const baton_election *e, const baton_histogram *h) {
  uint64_t cumulative = 0;
  char le[32];
  for (unsigned i = 0; i < BATON_HISTOGRAM_BUCKETS; i++) {
    cumulative += h->buckets[i];
    snprintf(le, sizeof le, "le=\"%s\"", bounds_le[i]);
    put(t, "%s_bucket", name);
    put_labels(t, c, e, le);
    put(t, " %llu\n", (unsigned long long)cumulative);
  }
  put(t, "%s_sum", name);
  put_labels(t, c, e, NULL);
  put(t, " ");
  put_seconds(t, (int64_t)h->sum_ns);
  put(t, "\n%s_count", name);
  put_labels(t, c, e, NULL);
  put(t, " %llu\n", (unsigned long long)h->count);
}

/* The elections a scrape shows: open ones that have campaigned (so that
 * each has its own slot, and no two series carry the same labels). */
static bool shown(const baton_election *e) { return !e->closing && e->indexed; }

/* One counter family of the elections, read from baton_stats at `offset`. */
static void election_counter(text *t, baton_client *c, const char *name, const char *help,
                             size_t offset) {
  family(t, name, COUNTER, help);
  for (const baton_election *e = c->elections; e != NULL; e = e->next) {
    if (!shown(e)) continue;
    uint64_t v;
    memcpy(&v, (const char *)&e->stats + offset, sizeof v); /* a baton_counts field */
    put(t, "%s", name);
    put_labels(t, c, e, NULL);
    put(t, " %llu\n", (unsigned long long)v);
  }
}

/* One histogram family of the elections, at `offset` in baton_stats. */
static void election_histogram(text *t, baton_client *c, const char *name, const char *help,
                               size_t offset) {
  family(t, name, HISTOGRAM, help);
  for (const baton_election *e = c->elections; e != NULL; e = e->next) {
    if (!shown(e)) continue;
    const void *h = (const char *)terms_of(e) + offset;
    put_histogram(t, name, c, e, h);
  }
}

static const char *const reason_names[BATON_LOST_REASONS] = {
    NULL, "resigned", "deadline", "key_gone", "session_expired", "connection", "watchdog", NULL};
/* A reason past the table would be counted and never shown. */
_Static_assert(BATON_LOST_WATCHDOG < BATON_LOST_REASONS, "terms_lost has no slot for a reason");

#define COUNTER_OF(field) offsetof(baton_counts, field)
#define HISTOGRAM_OF(field) offsetof(baton_term_stats, field)

/* Every family of the elections. Needs client->mu. */
static void elections_text(text *t, baton_client *c, int64_t now) {
  /* Gauges say what is true now: terms past their deadline end first. */
  for (baton_election *e = c->elections; e != NULL; e = e->next)
    if (shown(e)) baton__term_expire(e, now);

  election_counter(t, c, "baton_campaigns_total",
                   "Campaign calls (campaign, try_campaign, candidate mode).",
                   COUNTER_OF(campaigns));
  election_counter(t, c, "baton_attempts_total", "Acquire requests sent.", COUNTER_OF(attempts));
  election_counter(t, c, "baton_contended_total",
                   "Acquire requests answered: held by another.", COUNTER_OF(contended));
  election_counter(t, c, "baton_retries_total",
                   "Acquire requests repeated after a transient error.", COUNTER_OF(retries));
  election_counter(t, c, "baton_terms_won_total", "Terms begun.", COUNTER_OF(terms_won));

  family(t, "baton_terms_lost_total", COUNTER, "Terms ended, by reason.");
  for (const baton_election *e = c->elections; e != NULL; e = e->next) {
    if (!shown(e)) continue;
    for (unsigned r = 1; r < BATON_LOST_REASONS; r++) {
      if (reason_names[r] == NULL) continue;
      char extra[48];
      snprintf(extra, sizeof extra, "reason=\"%s\"", reason_names[r]);
      put(t, "baton_terms_lost_total");
      put_labels(t, c, e, extra);
      put(t, " %llu\n", (unsigned long long)e->stats.terms_lost[r]);
    }
  }

  family(t, "baton_renewals_total", COUNTER, "Renewals of a held term, by result.");
  for (const baton_election *e = c->elections; e != NULL; e = e->next) {
    if (!shown(e)) continue;
    put(t, "baton_renewals_total");
    put_labels(t, c, e, "result=\"ok\"");
    put(t, " %llu\nbaton_renewals_total", (unsigned long long)e->stats.renewals_ok);
    put_labels(t, c, e, "result=\"failed\"");
    put(t, " %llu\n", (unsigned long long)e->stats.renewals_failed);
  }

  election_counter(t, c, "baton_late_releases_total",
                   "Keys of terms lost at their deadline, deleted after the server's expiry "
                   "could have come.",
                   COUNTER_OF(late_releases));
  election_histogram(t, c, "baton_acquire_seconds", "From the campaign call to ELECTED.",
                     HISTOGRAM_OF(acquire));
  election_histogram(t, c, "baton_hold_seconds", "How long ended terms were held.",
                     HISTOGRAM_OF(hold));
  election_histogram(t, c, "baton_headroom_seconds",
                     "Time left to the local deadline when a renewal succeeded.",
                     HISTOGRAM_OF(headroom));

  family(t, "baton_headroom_min_seconds", GAUGE,
         "The least headroom seen at a successful renewal.");
  for (const baton_election *e = c->elections; e != NULL; e = e->next) {
    if (!shown(e) || terms_of(e)->headroom.count == 0) continue;
    put(t, "baton_headroom_min_seconds");
    put_labels(t, c, e, NULL);
    put(t, " ");
    put_seconds(t, terms_of(e)->headroom_min_ns);
    put(t, "\n");
  }

  family(t, "baton_leader", GAUGE, "1 while this election holds a live term, else 0.");
  for (const baton_election *e = c->elections; e != NULL; e = e->next) {
    if (!shown(e)) continue;
    put(t, "baton_leader");
    put_labels(t, c, e, NULL);
    put(t, " %d\n", e->term.held ? 1 : 0);
  }
  family(t, "baton_term_age_seconds", GAUGE,
         "How long the current term has been held; 0 when none.");
  for (const baton_election *e = c->elections; e != NULL; e = e->next) {
    if (!shown(e)) continue;
    put(t, "baton_term_age_seconds");
    put_labels(t, c, e, NULL);
    put(t, " ");
    put_seconds(t, e->term.held ? now - e->term.began : 0);
    put(t, "\n");
  }
  family(t, "baton_term_remaining_seconds", GAUGE,
         "Time to the current term's local deadline; 0 when none.");
  for (const baton_election *e = c->elections; e != NULL; e = e->next) {
    if (!shown(e)) continue;
    int64_t left = e->term.held ? baton__term_deadline(e) - now : 0;
    put(t, "baton_term_remaining_seconds");
    put_labels(t, c, e, NULL);
    put(t, " ");
    put_seconds(t, left > 0 ? left : 0);
    put(t, "\n");
  }
  family(t, "baton_token", GAUGE,
         "Fencing token of the current term, or of the last one; 0 before the first.");
  for (const baton_election *e = c->elections; e != NULL; e = e->next) {
    if (!shown(e)) continue;
    put(t, "baton_token");
    put_labels(t, c, e, NULL);
    put(t, " %llu\n", (unsigned long long)e->term.token);
  }
}

/* A backend over several servers: each one's requests, and the attempts
 * without a quorum. Needs client->mu. */
static void servers_text(text *t, baton_client *c) {
  baton_server_stats servers[BATON_URI_MAX_HOSTS];
  size_t n;
  uint64_t no_quorum;
  servers_read(c, servers, BATON_URI_MAX_HOSTS, &n, &no_quorum);
  if (n > BATON_URI_MAX_HOSTS) n = BATON_URI_MAX_HOSTS;
  family(t, "baton_server_requests_total", COUNTER,
         "Requests to each server of the backend, by result (answered, or not by their bound).");
  for (size_t i = 0; i < n; i++) {
    char extra[BATON_SERVER_ADDRESS_MAX + 32];
    for (int failed = 0; failed < 2; failed++) {
      /* The address goes through the escaping as every label value does. */
      text label = {extra, sizeof extra, 0};
      put(&label, "server=\"");
      put_escaped(&label, servers[i].address);
      put(&label, "\",result=\"%s\"", failed ? "failed" : "answered");
      put(t, "baton_server_requests_total");
      put_labels(t, c, NULL, extra);
      put(t, " %llu\n",
          (unsigned long long)(failed ? servers[i].failed : servers[i].answered));
    }
  }
  family(t, "baton_attempts_no_quorum_total", COUNTER,
         "Acquire attempts that won no quorum while no quorum named another holder.");
  put(t, "baton_attempts_no_quorum_total");
  put_labels(t, c, NULL, NULL);
  put(t, " %llu\n", (unsigned long long)no_quorum);
}

/* The client's own families: its renewals and session. Needs client->mu. */
static void client_text(text *t, baton_client *c) {
  baton_client_stats s;
  client_read(c, &s);
  family(t, "baton_renewal_requests_total", COUNTER,
         "Renewal round trips (each session with its held terms at once), by result.");
  put(t, "baton_renewal_requests_total");
  put_labels(t, c, NULL, "result=\"ok\"");
  put(t, " %llu\nbaton_renewal_requests_total", (unsigned long long)s.renewal_requests_ok);
  put_labels(t, c, NULL, "result=\"failed\"");
  put(t, " %llu\n", (unsigned long long)s.renewal_requests_failed);
  family(t, "baton_renewal_retries_total", COUNTER, "Renewals sent after a failed one.");
  put(t, "baton_renewal_retries_total");
  put_labels(t, c, NULL, NULL);
  put(t, " %llu\n", (unsigned long long)s.renewal_retries);
  family(t, "baton_sessions_expired_total", COUNTER,
         "Times the backend said a session of the client had ended.");
  put(t, "baton_sessions_expired_total");
  put_labels(t, c, NULL, NULL);
  put(t, " %llu\n", (unsigned long long)s.sessions_expired);
  family(t, "baton_renewal_seconds", HISTOGRAM, "Round trip of a successful renewal.");
  put_histogram(t, "baton_renewal_seconds", c, NULL, &s.renewal);
  family(t, "baton_elections", GAUGE, "Open elections of the client.");
  put(t, "baton_elections");
  put_labels(t, c, NULL, NULL);
  put(t, " %u\n", s.elections);
  family(t, "baton_terms_held", GAUGE, "Terms the client holds now.");
  put(t, "baton_terms_held");
  put_labels(t, c, NULL, NULL);
  put(t, " %u\n", s.terms_held);
  if (c->backend->servers != NULL) servers_text(t, c);
}

int baton_client_metrics(baton_client *c, char *buf, size_t size, size_t *len, baton_error *err) {
  if (len != NULL) *len = 0;
  if (c == NULL || len == NULL || (buf == NULL && size != 0))
    return baton__error(err, BATON_EINVAL, "metrics: %s",
                        c == NULL     ? "client is NULL"
                        : len == NULL ? "len is NULL"
                                      : "buf is NULL with a size");
  text t = {buf, size, 0};
  if (size > 0) buf[0] = '\0';
  pthread_mutex_lock(&c->mu);
  elections_text(&t, c, baton__now());
  client_text(&t, c);
  pthread_mutex_unlock(&c->mu);
  *len = t.len;
  return baton__ok(err);
}
