/* deadline_test.c — the safety rule with an injected clock: a term ends at
 * t_sent + ttl * (1 - drift) - margin, counted from the SEND time of the
 * last successful renewal, never from its reply. */
#include "internal.h"
#include "test.h"

#define MS BATON_NS_PER_MS /* the library counts ns */

static baton_config config(int64_t ttl_ms, uint32_t drift_ppm, int64_t margin_ms) {
  baton_config c = {0};
  c.ttl_ns = ttl_ms * MS;
  c.renew_ns = ttl_ms * MS / 3;
  c.drift_ppm = drift_ppm;
  c.margin_ns = margin_ms * MS;
  c.retry_base_ns = 50 * MS;
  c.retry_max_ns = 1000 * MS;
  return c;
}

static void lifetime_is_ttl_less_drift_and_margin(void) {
  baton_config c = config(10000, 10000, 500);
  CHECK_EQ(baton__lifetime(&c, 0), (10000 - 100 - 500) * MS);
  /* A server that grants less than asked shortens the term. */
  CHECK_EQ(baton__lifetime(&c, 4000 * MS), (4000 - 40 - 500) * MS);
  /* A server that grants more changes nothing: we asked for less. */
  CHECK_EQ(baton__lifetime(&c, 60000 * MS), (10000 - 100 - 500) * MS);
  /* Long TTLs do not overflow. */
  baton_config big = config(1000LL * 3600 * 24 * 30, 100000, 0);
  CHECK_EQ(baton__lifetime(&big, 0), big.ttl_ns / 10 * 9);
}

static void deadline_counts_from_the_send_time(void) {
  baton_config c = config(3000, 10000, 100);
  int64_t life = baton__lifetime(&c, 0);
  baton_local_lease l;
  int64_t t0 = 1000 * MS;          /* injected clock: request sent */
  int64_t reply = t0 + 2000 * MS;  /* a slow reply */
  baton__lease_start(&l, t0, life);
  CHECK_EQ(baton__lease_deadline(&l), t0 + (3000 - 30 - 100) * MS);
  /* The slow reply does not buy time: the deadline is from t0. */
  CHECK(baton__lease_live(&l, reply));
  CHECK_EQ(baton__lease_remaining(&l, reply), (3000 - 30 - 100 - 2000) * MS);
  CHECK(baton__lease_live(&l, baton__lease_deadline(&l) - 1));
  CHECK(!baton__lease_live(&l, baton__lease_deadline(&l)));
  CHECK_EQ(baton__lease_remaining(&l, baton__lease_deadline(&l) + 5), 0);
}

static void late_reply_never_moves_the_deadline_back(void) {
  baton_config c = config(3000, 10000, 100);
  baton_local_lease l;
  baton__lease_start(&l, 0, baton__lifetime(&c, 0));
  baton__lease_renewed(&l, 2000 * MS);
  int64_t d = baton__lease_deadline(&l);
  baton__lease_renewed(&l, 1000 * MS); /* reply to an older request */
  CHECK_EQ(baton__lease_deadline(&l), d);
  baton__lease_renewed(&l, 2500 * MS);
  CHECK_EQ(baton__lease_deadline(&l), d + 500 * MS);
}

static void never_started_lease_is_dead(void) {
  baton_local_lease l;
  baton__lease_start(&l, INT64_MIN, 5 * MS);
  CHECK(!baton__lease_live(&l, INT64_MIN + 1));
  CHECK(!baton__lease_live(&l, 0));
  CHECK_EQ(baton__lease_remaining(&l, 0), 0);
}

static void server_deadline_always_comes_later(void) {
  /* Whatever the clocks do within the drift bound, the server (which starts
   * counting when it receives the request, at or after t_sent) expires the
   * key after the local deadline. */
  baton_config c = config(2000, 10000, 50);
  for (int64_t sent = 0; sent < 10000 * MS; sent += 777 * MS) {
    baton_local_lease l;
    baton__lease_start(&l, sent, baton__lifetime(&c, 0));
    int64_t server_receives = sent + 3 * MS;
    /* The server's clock runs fast by the drift bound: it counts the TTL
     * out in local time ttl * (1 - drift). */
    int64_t server_expiry = server_receives + c.ttl_ns - c.ttl_ns / 100;
    CHECK_LT(baton__lease_deadline(&l), server_expiry);
  }
}

static void renew_schedule_backs_off_after_failures(void) {
  baton_config c = config(3000, 10000, 100);
  int64_t now = 10000 * MS;
  CHECK_EQ(baton__next_renew(&c, c.renew_ns, now - 100 * MS, 0, now), now - 100 * MS + c.renew_ns);
  for (unsigned f = 1; f < 20; f++) {
    int64_t t = baton__next_renew(&c, c.renew_ns, now - 5000 * MS, f, now);
    CHECK_GE(t, now);
    CHECK_LE(t, now + c.retry_max_ns);
    CHECK_LE(t, now + c.renew_ns);
  }
  CHECK_LE(baton__next_renew(&c, c.renew_ns, 0, 1, now), now + c.retry_base_ns);
}

static void shorter_server_ttl_shortens_the_interval(void) {
  baton_config c = config(10000, 10000, 500);
  CHECK_EQ(baton__renew_interval(&c, 0), c.renew_ns);
  CHECK_EQ(baton__renew_interval(&c, 4000 * MS), 4000 * MS / 3);
  CHECK_EQ(baton__renew_interval(&c, 60000 * MS), c.renew_ns);
}

static void lost_key_waits_for_the_server_expiry(void) {
  /* A key of a term lost at its deadline may go only once the server's own
   * expiry could have come: the same send time, the server's TTL. */
  baton_config c = config(2000, 10000, 100);
  int64_t sent = 5000 * MS;
  baton_local_lease l;
  baton__lease_start(&l, sent, baton__lifetime(&c, 0));
  CHECK_EQ(baton__server_expiry(&c, 0, sent), sent + 2000 * MS);
  CHECK_GT(baton__server_expiry(&c, 0, sent), baton__lease_deadline(&l));
  /* A server that applies a longer TTL (etcd rounds up to seconds) keeps
   * the key longer; a shorter one shortens both. */
  CHECK_EQ(baton__server_expiry(&c, 3000 * MS, sent), sent + 3000 * MS);
  CHECK_EQ(baton__server_expiry(&c, 1000 * MS, sent), sent + 1000 * MS);
  CHECK_EQ(baton__server_expiry(&c, 0, INT64_MIN), INT64_MIN);
  CHECK_EQ(baton__server_expiry(&c, 0, INT64_MAX - 1), INT64_MAX);
}

static void requests_end_by_the_first_deadline(void) {
  baton_config c = config(3000, 10000, 100);
  c.op_timeout_ns = 1000 * MS;
  int64_t now = 100 * MS;
  CHECK_EQ(baton__request_deadline(&c, now, INT64_MAX), now + 1000 * MS);
  CHECK_EQ(baton__request_deadline(&c, now, now + 300 * MS), now + 300 * MS);
  CHECK_EQ(baton__request_deadline(&c, INT64_MAX - 5, INT64_MAX), INT64_MAX);
  CHECK_EQ(baton__add_sat(INT64_MAX - 1, 10), INT64_MAX);
  CHECK_EQ(baton__add_sat(-5, 10), 5);
}

static void the_public_lifetime_is_the_rule(void) {
  baton_options o = {.ttl_ms = 2000, .margin_ms = 300};
  int64_t ms = 0;
  baton_error err = {.code = BATON_EPROTO, .message = "stale"};
  CHECK_EQ(baton_options_lifetime(&o, &ms, &err), 0);
  CHECK_EQ(err.message[0], '\0');
  CHECK_EQ(ms, 2000 - 20 - 300);
  CHECK_EQ(err.code, 0);
  o.margin_ms = 1900; /* leaves no room for a renewal */
  CHECK_EQ(baton_options_lifetime(&o, &ms, &err), BATON_EINVAL);
  CHECK_CONTAINS(err.message, "renew_interval_ms");
  CHECK_EQ(baton_options_lifetime(NULL, &ms, &err), 0);
  CHECK_EQ(ms, 10000 - 100 - 500);
  CHECK_EQ(baton_options_lifetime(NULL, NULL, &err), BATON_EINVAL);
  baton_options later = {0};
  later.reserved[3] = 1; /* an option this version does not know */
  CHECK_EQ(baton_options_lifetime(&later, &ms, &err), BATON_EINVAL);
  CHECK_CONTAINS(err.message, "reserved");
}

int main(int argc, char **argv) {
  static const test_case cases[] = {
      {"lifetime_is_ttl_less_drift_and_margin", lifetime_is_ttl_less_drift_and_margin},
      {"deadline_counts_from_the_send_time", deadline_counts_from_the_send_time},
      {"late_reply_never_moves_the_deadline_back", late_reply_never_moves_the_deadline_back},
      {"never_started_lease_is_dead", never_started_lease_is_dead},
      {"server_deadline_always_comes_later", server_deadline_always_comes_later},
      {"renew_schedule_backs_off_after_failures", renew_schedule_backs_off_after_failures},
      {"shorter_server_ttl_shortens_the_interval", shorter_server_ttl_shortens_the_interval},
      {"lost_key_waits_for_the_server_expiry", lost_key_waits_for_the_server_expiry},
      {"requests_end_by_the_first_deadline", requests_end_by_the_first_deadline},
      {"the_public_lifetime_is_the_rule", the_public_lifetime_is_the_rule},
      {NULL, NULL},
  };
  return test_main(argc, argv, cases);
}
