/* gateway_test.c — the etcd backend's pure layer with no server: base64,
 * request bodies, reply parsing with the gateway's traps (string integers,
 * omitted zeros, two error shapes, stream framing), and every allocation
 * failing in turn. Replies below were captured from etcd 3.4.23. */
#include "gateway.h"
#include "internal.h"
#include "test.h"

#include <stdio.h>
#include <string.h>

static const char TXN_WON[] =
    "{\"header\":{\"cluster_id\":\"15118495548433857066\",\"member_id\":\"13668033151171901709\","
    "\"revision\":\"2\",\"raft_term\":\"2\"},\"succeeded\":true,\"responses\":[{\"response_put\":"
    "{\"header\":{\"revision\":\"2\"}}},{\"response_range\":{\"header\":{\"revision\":\"2\"},"
    "\"kvs\":[{\"key\":\"bjEvMzkwZGEyMmM1ZTI5ZjAwZA==\",\"create_revision\":\"2\","
    "\"mod_revision\":\"2\",\"version\":\"1\",\"value\":\"bWU=\",\"lease\":\"4111120346301198349\"}],"
    "\"count\":\"1\"}}]}";

static const char TXN_AGAIN[] =
    "{\"header\":{\"revision\":\"2\"},\"responses\":[{\"response_range\":{\"header\":{\"revision\":"
    "\"2\"},\"kvs\":[{\"key\":\"bjEvMzkwZGEyMmM1ZTI5ZjAwZA==\",\"create_revision\":\"2\","
    "\"mod_revision\":\"2\",\"version\":\"1\",\"value\":\"bWU=\",\"lease\":\"4111120346301198349\"}],"
    "\"count\":\"1\"}},{\"response_range\":{\"header\":{\"revision\":\"2\"},\"kvs\":[{\"key\":"
    "\"bjEvMzkwZGEyMmM1ZTI5ZjAwZA==\",\"create_revision\":\"2\",\"mod_revision\":\"2\",\"version\":"
    "\"1\",\"value\":\"bWU=\",\"lease\":\"4111120346301198349\"}],\"count\":\"1\"}}]}";

/* Three keys, newest first (sort DESCEND by CREATE, limit 3). */
static const char RANGE_THREE[] =
    "{\"header\":{\"cluster_id\":\"13275177551780602330\",\"member_id\":\"9158884384202398343\","
    "\"revision\":\"10\",\"raft_term\":\"2\"},\"kvs\":[{\"key\":\"cS9j\",\"create_revision\":"
    "\"10\",\"mod_revision\":\"10\",\"version\":\"1\",\"value\":\"dmM=\"},{\"key\":\"cS9i\","
    "\"create_revision\":\"9\",\"mod_revision\":\"9\",\"version\":\"1\",\"value\":\"dmI=\"},"
    "{\"key\":\"cS9h\",\"create_revision\":\"8\",\"mod_revision\":\"8\",\"version\":\"1\","
    "\"value\":\"dmE=\"}],\"count\":\"3\"}";

static const char WATCH_STREAM[] =
    "{\"result\":{\"header\":{\"revision\":\"2\"},\"created\":true}}\n"
    "{\"result\":{\"header\":{\"revision\":\"2\"},\"events\":[{\"kv\":{\"key\":"
    "\"bjEvMzkwZGEyMmM1ZTI5ZjAwZA==\",\"create_revision\":\"2\",\"mod_revision\":\"2\","
    "\"version\":\"1\",\"value\":\"bWU=\",\"lease\":\"4111120346301198349\"}}]}}\n"
    "{\"result\":{\"header\":{\"revision\":\"3\"},\"events\":[{\"type\":\"DELETE\",\"kv\":{\"key\":"
    "\"bjEvMzkwZGEyMmM1ZTI5ZjAwZA==\",\"mod_revision\":\"3\"}}]}}\n"
    "{\"result\":{\"header\":{\"raft_term\":\"2\"},\"canceled\":true,\"compact_revision\":\"4\"}}\n";

static void base64(void) {
  static const struct {
    const char *raw, *enc;
  } v[] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="},
           {"n1/390da22c5e29f00d", "bjEvMzkwZGEyMmM1ZTI5ZjAwZA=="}};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    char enc[64], dec[64];
    size_t n = baton__etcd_b64_encode(enc, v[i].raw, strlen(v[i].raw));
    CHECK_STR(enc, v[i].enc);
    CHECK_EQ(n, strlen(v[i].enc));
    CHECK_EQ(baton__etcd_b64_decode(dec, &n, v[i].enc, strlen(v[i].enc)), 0);
    CHECK_STR(dec, v[i].raw);
  }
  unsigned char all[256], back[260];
  for (int i = 0; i < 256; i++) all[i] = (unsigned char)i;
  for (size_t len = 0; len <= 256; len += 17) {
    char enc[400];
    size_t n = baton__etcd_b64_encode(enc, all, len), m;
    CHECK_EQ(n + 1, baton__etcd_b64_encoded_size(len));
    CHECK_EQ(baton__etcd_b64_decode((char *)back, &m, enc, n), 0);
    CHECK_EQ(m, len);
    CHECK(memcmp(back, all, len) == 0);
  }
  char out[16];
  size_t n;
  CHECK_EQ(baton__etcd_b64_decode(out, &n, "Zg", 2), 0); /* padding may be missing */
  CHECK_STR(out, "f");
  static const char *const bad[] = {"Z", "Zg=", "Zg==Zg==", "Zm9v\n", "Zm-v", "Z===", "====="};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_EQ(baton__etcd_b64_decode(out, &n, bad[i], strlen(bad[i])), -1);
}

static void request_bodies(void) {
  char end[8];
  CHECK_EQ(baton__etcd_prefix_end(end, "a/", 2), 2);
  CHECK(memcmp(end, "a0", 2) == 0);
  CHECK_EQ(baton__etcd_prefix_end(end, "a\xff", 2), 1);
  CHECK_EQ(end[0], 'b');
  CHECK_EQ(baton__etcd_prefix_end(end, "\xff\xff", 2), 0);

  baton_etcd_str s = {0};
  baton_etcd_range_req r = {"n/", 2, true, -1, 41, 1, 0};
  baton__etcd_req_range(&s, &r);
  CHECK_STR(s.p, "{\"key\":\"bi8=\",\"range_end\":\"bjA=\",\"sort_order\":\"DESCEND\","
                 "\"sort_target\":\"CREATE\",\"max_create_revision\":\"41\",\"limit\":\"1\"}");
  baton__etcd_str_free(&s);
  baton_etcd_range_req all = {"\xff", 1, true, 0, 0, 0, 0};
  baton__etcd_req_range(&s, &all);
  CHECK_STR(s.p, "{\"key\":\"/w==\",\"range_end\":\"AA==\"}");
  baton__etcd_str_free(&s);
  baton_etcd_range_req at = {.key = "n#id/1", .key_len = 6, .revision = 9};
  baton__etcd_req_range(&s, &at);
  CHECK_STR(s.p, "{\"key\":\"biNpZC8x\",\"revision\":\"9\"}");
  baton__etcd_str_free(&s);
  baton__etcd_req_watch(&s, "n/1", 3, false, 7, true);
  CHECK_STR(s.p, "{\"create_request\":{\"key\":\"bi8x\",\"start_revision\":\"7\","
                 "\"filters\":[\"NOPUT\"]}}");
  baton__etcd_str_free(&s);
  baton__etcd_str_json(&s, "a\"b\\c\n");
  CHECK_STR(s.p, "\"a\\\"b\\\\c\\u000a\"");
  baton__etcd_str_free(&s);
}

/* Parse `body` and return the code; *p and *root as baton__etcd_gw_parse. */
static int parse(const char *body, long status, int *grpc, cJSON **root, const cJSON **p,
                 baton_error *err) {
  return baton__etcd_gw_parse(root, p, body, strlen(body), status, grpc, err);
}

static void errors_in_both_shapes(void) {
  cJSON *root;
  const cJSON *p;
  int grpc;
  baton_error err = {0};
  CHECK_EQ(parse("{\"error\":\"etcdserver: requested lease not found\",\"message\":\"etcdserver: "
                 "requested lease not found\",\"code\":5}",
                 404, &grpc, &root, &p, &err),
           BATON_ESESSION);
  CHECK_EQ(grpc, 5);
  CHECK_CONTAINS(err.message, "requested lease not found");
  CHECK(root == NULL);
  CHECK_EQ(parse("{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"etcdserver: no "
                 "leader\",\"http_status\":\"Service Unavailable\"}}",
                 200, &grpc, &root, &p, &err),
           BATON_ECONNECT);
  CHECK_EQ(grpc, 14);
  CHECK_EQ(parse("{\"error\":\"etcdserver: invalid auth token\",\"code\":16}", 401, &grpc, &root,
                 &p, &err),
           BATON_EAUTH);
  CHECK_EQ(grpc, 16);
  CHECK_EQ(parse("{\"error\":\"x\"}", 401, &grpc, &root, &p, &err), BATON_EAUTH);
  CHECK_EQ(parse("{\"error\":\"\\u0001bad\\nline\",\"code\":13}", 500, &grpc, &root, &p, &err),
           BATON_EREFUSED);
  CHECK_CONTAINS(err.message, "?bad?line"); /* server text made printable */
  CHECK_EQ(parse("{\"a\":1}", 502, &grpc, &root, &p, &err), BATON_EPROTO);
  CHECK_EQ(parse("<html>bad gateway</html>", 502, &grpc, &root, &p, &err), BATON_ECONNECT);
  CHECK_EQ(parse("", 200, &grpc, &root, &p, &err), BATON_EPROTO);
  CHECK_CONTAINS(err.message, "empty reply");

  static const struct {
    int grpc;
    const char *msg;
    int code;
  } map[] = {
      {3, "etcdserver: authentication failed, invalid user ID or password", BATON_EAUTH},
      {3, "etcdserver: user name is empty", BATON_EAUTH},
      {3, "etcdserver: too many operations in txn request", BATON_EREFUSED},
      {4, "context deadline exceeded", BATON_ETIMEDOUT},
      {5, "etcdserver: requested lease not found", BATON_ESESSION},
      {5, "something else", BATON_EREFUSED},
      {7, "etcdserver: permission denied", BATON_EAUTH},
      {9, "etcdserver: authentication is not enabled", BATON_EREFUSED},
      {11, "etcdserver: mvcc: required revision has been compacted", BATON_EREFUSED},
      {14, "etcdserver: leader changed", BATON_ECONNECT},
      {16, "etcdserver: invalid auth token", BATON_EAUTH},
      {0, "", BATON_EPROTO},
  };
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    CHECK_EQ(baton__etcd_gw_code(map[i].grpc, map[i].msg), map[i].code);
}

static void lease_replies(void) {
  cJSON *root;
  const cJSON *p;
  int grpc;
  baton_error err = {0};
  int64_t id, ttl;
  REQUIRE_OK(parse("{\"header\":{\"revision\":\"1\"},\"ID\":\"4111120346301198341\",\"TTL\":\"2\"}",
                   200, &grpc, &root, &p, &err),
             &err);
  CHECK_OK(baton__etcd_gw_grant(p, &id, &ttl, &err), &err);
  CHECK_EQ(id, 4111120346301198341LL);
  CHECK_EQ(ttl, 2);
  cJSON_Delete(root);
  /* An expired lease: the keepalive reply simply has no TTL. */
  REQUIRE_OK(parse("{\"result\":{\"header\":{\"revision\":\"1\"},\"ID\":\"4111120346301198343\"}}\n",
                   200, &grpc, &root, &p, &err),
             &err);
  CHECK_OK(baton__etcd_gw_keepalive(p, &id, &ttl, &err), &err);
  CHECK_EQ(id, 4111120346301198343LL);
  CHECK_EQ(ttl, 0);
  cJSON_Delete(root);
  REQUIRE_OK(parse("{\"ID\":\"-9223372036854775808\",\"TTL\":\"9223372036854775807\"}", 200, &grpc,
                   &root, &p, &err),
             &err);
  CHECK_EQ(baton__etcd_gw_grant(p, &id, &ttl, &err), BATON_EPROTO); /* negative ID */
  CHECK_OK(baton__etcd_gw_keepalive(p, &id, &ttl, &err), &err);
  CHECK_EQ(ttl, INT64_MAX);
  cJSON_Delete(root);
  char token[64];
  REQUIRE_OK(parse("{\"token\":\"cxUMmAtsOAREdtOB.23\"}", 200, &grpc, &root, &p, &err), &err);
  CHECK_OK(baton__etcd_gw_auth(p, token, sizeof token, &err), &err);
  CHECK_STR(token, "cxUMmAtsOAREdtOB.23");
  cJSON_Delete(root);
  REQUIRE_OK(parse("{\"token\":\"a\\r\\nX-Evil: 1\"}", 200, &grpc, &root, &p, &err), &err);
  CHECK_EQ(baton__etcd_gw_auth(p, token, sizeof token, &err), BATON_EPROTO);
  cJSON_Delete(root);
}

static void txn_replies(void) {
  cJSON *root;
  const cJSON *p;
  int grpc;
  baton_error err = {0};
  baton_etcd_txn_reply r;
  REQUIRE_OK(parse(TXN_WON, 200, &grpc, &root, &p, &err), &err);
  REQUIRE_OK(baton__etcd_gw_txn_acquire(p, &r, &err), &err);
  CHECK(r.succeeded);
  CHECK_EQ(r.revision, 2);
  CHECK(!r.own_found);
  CHECK(r.lowest_found);
  CHECK_STR(r.lowest.key, "n1/390da22c5e29f00d");
  CHECK_STR(r.lowest.value, "me");
  CHECK_EQ(r.lowest.create_revision, 2);
  CHECK_EQ(r.lowest.lease, 4111120346301198349LL);
  baton__etcd_txn_reply_free(&r);
  cJSON_Delete(root);
  /* The failure branch: "succeeded" is false, so it is omitted. */
  REQUIRE_OK(parse(TXN_AGAIN, 200, &grpc, &root, &p, &err), &err);
  REQUIRE_OK(baton__etcd_gw_txn_acquire(p, &r, &err), &err);
  CHECK(!r.succeeded);
  CHECK(r.own_found && r.lowest_found);
  CHECK_EQ(r.own.create_revision, 2);
  baton__etcd_txn_reply_free(&r);
  cJSON_Delete(root);
}

/* A range reply gives up to `max` keys, in the server's order; a bad one
 * anywhere fails the whole reply and keeps none. */
static void range_replies(void) {
  cJSON *root;
  const cJSON *p;
  int grpc;
  baton_error err = {0};
  baton_etcd_kv kvs[3];
  size_t n = 9;
  int64_t rev = 0;
  REQUIRE_OK(parse(RANGE_THREE, 200, &grpc, &root, &p, &err), &err);
  REQUIRE_OK(baton__etcd_gw_range(p, &rev, kvs, 3, &n, &err), &err);
  CHECK_EQ(rev, 10);
  REQUIRE_EQ(n, 3);
  CHECK_STR(kvs[0].key, "q/c");
  CHECK_STR(kvs[1].value, "vb");
  CHECK_EQ(kvs[2].create_revision, 8);
  CHECK_EQ(kvs[2].lease, 0); /* no lease: omitted */
  while (n > 0) baton__etcd_kv_free(&kvs[--n]);
  REQUIRE_OK(baton__etcd_gw_range(p, &rev, kvs, 2, &n, &err), &err);
  CHECK_EQ(n, 2);
  CHECK_EQ(kvs[1].create_revision, 9);
  while (n > 0) baton__etcd_kv_free(&kvs[--n]);
  cJSON_Delete(root);

  REQUIRE_OK(parse("{\"header\":{\"revision\":\"7\"}}", 200, &grpc, &root, &p, &err), &err);
  REQUIRE_OK(baton__etcd_gw_range(p, &rev, kvs, 3, &n, &err), &err);
  CHECK_EQ(n, 0); /* no keys: "kvs" is omitted */
  CHECK_EQ(rev, 7);
  cJSON_Delete(root);

  REQUIRE_OK(parse("{\"kvs\":[{\"key\":\"cS9j\"},{\"key\":\"cS9i\",\"lease\":5}]}", 200, &grpc,
                   &root, &p, &err),
             &err);
  n = 9;
  CHECK_EQ(baton__etcd_gw_range(p, &rev, kvs, 3, &n, &err), BATON_EPROTO);
  CHECK_CONTAINS(err.message, "lease");
  CHECK_EQ(n, 0);
  cJSON_Delete(root);
}

static void watch_stream_framing(void) {
  size_t off = 0, len = strlen(WATCH_STREAM);
  int seen = 0, deletes = 0, puts = 0, created = 0;
  int64_t compact = 0;
  baton_error err = {0};
  for (int i = 0; i < 4; i++) { /* four messages, then only a newline */
    /* Feed byte by byte: no message is complete before its last byte. */
    long n = 0;
    size_t avail = 0;
    while (n == 0 && off + avail < len) n = baton__etcd_gw_split(WATCH_STREAM + off, ++avail);
    REQUIRE_GT(n, 0);
    CHECK_EQ((size_t)n, avail);
    cJSON *root;
    const cJSON *p;
    int grpc;
    REQUIRE_OK(baton__etcd_gw_parse(&root, &p, WATCH_STREAM + off, (size_t)n, 200, &grpc, &err),
               &err);
    baton_etcd_watch_msg m;
    REQUIRE_OK(baton__etcd_gw_watch(p, &m, &err), &err);
    created += m.created;
    for (size_t e = 0; e < m.nevents; e++) {
      deletes += m.events[e].is_delete;
      puts += !m.events[e].is_delete; /* a PUT has no "type" */
    }
    if (m.canceled) compact = m.compact_revision;
    baton__etcd_watch_msg_free(&m);
    cJSON_Delete(root);
    off += (size_t)n;
    seen++;
  }
  CHECK_EQ(seen, 4);
  CHECK_EQ(baton__etcd_gw_split(WATCH_STREAM + off, len - off), 0);
  CHECK_EQ(created, 1);
  CHECK_EQ(puts, 1);
  CHECK_EQ(deletes, 1);
  CHECK_EQ(compact, 4);
  static const char tricky[] = "  {\"a\":\"}{\\\"\"}"; /* braces and a quote inside a string */
  CHECK_EQ(baton__etcd_gw_split(tricky, strlen(tricky)), (long)strlen(tricky));
  CHECK_EQ(baton__etcd_gw_split("{\"a\":[{}", 8), 0);
  CHECK_EQ(baton__etcd_gw_split(" \n", 2), 0);
  CHECK_EQ(baton__etcd_gw_split("x{}", 3), -1);
  CHECK_EQ(baton__etcd_gw_split("}{", 2), -1);
}

/* Every allocation of a decode fails in turn: an error, never a crash or
 * a leak (the ASan build checks the leaks). */
static void allocation_failures(void) {
  baton_error err = {0};
  int failures = 0;
  for (long n = 1; n < 200; n++) {
    cJSON *root;
    const cJSON *p;
    int grpc;
    REQUIRE_OK(baton__etcd_gw_parse(&root, &p, TXN_AGAIN, strlen(TXN_AGAIN), 200, &grpc, &err), &err);
    baton_etcd_txn_reply r;
    baton__alloc_fail_after(n);
    int rc = baton__etcd_gw_txn_acquire(p, &r, &err);
    baton__alloc_fail_after(0);
    cJSON_Delete(root);
    if (rc == 0) {
      baton__etcd_txn_reply_free(&r);
      break;
    }
    CHECK_EQ(rc, BATON_ENOMEM);
    failures++;
  }
  CHECK_GE(failures, 4);
  failures = 0;
  for (long n = 1; n < 200; n++) {
    cJSON *root;
    const cJSON *p;
    int grpc;
    REQUIRE_OK(baton__etcd_gw_parse(&root, &p, RANGE_THREE, strlen(RANGE_THREE), 200, &grpc, &err),
               &err);
    baton_etcd_kv kvs[3];
    size_t got = 9;
    int64_t rev;
    baton__alloc_fail_after(n);
    int rc = baton__etcd_gw_range(p, &rev, kvs, 3, &got, &err);
    baton__alloc_fail_after(0);
    cJSON_Delete(root);
    if (rc == 0) {
      CHECK_EQ(got, 3);
      while (got > 0) baton__etcd_kv_free(&kvs[--got]);
      break;
    }
    CHECK_EQ(rc, BATON_ENOMEM);
    CHECK_EQ(got, 0);
    failures++;
  }
  CHECK_EQ(failures, 6); /* key and value of each of the three */
  baton_etcd_str s = {0};
  baton__alloc_fail_after(1);
  baton__etcd_str_cat(&s, "x");
  baton__alloc_fail_after(0);
  CHECK(s.oom);
  baton__etcd_str_cat(&s, "y");
  CHECK(s.p == NULL);
  baton__etcd_str_free(&s);
}

int main(int argc, char **argv) {
  static const test_case cases[] = {
      {"base64", base64},
      {"request_bodies", request_bodies},
      {"errors_in_both_shapes", errors_in_both_shapes},
      {"lease_replies", lease_replies},
      {"txn_replies", txn_replies},
      {"range_replies", range_replies},
      {"watch_stream_framing", watch_stream_framing},
      {"allocation_failures", allocation_failures},
      {NULL, NULL},
  };
  return test_main(argc, argv, cases);
}
