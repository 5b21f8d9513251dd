/* fuzz_gateway.c — libFuzzer target over the etcd gateway reply parsing:
 * the input is a reply body (unary, or a stream of messages) and every
 * decoder runs on whatever parses. The first byte picks the HTTP status so
 * both error shapes and the non-200 paths are reached. */
#include "gateway.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void decode_all(const cJSON *p) {
  baton_error err;
  int64_t a, b;
  char token[128];
  baton_etcd_kv kvs[3];
  baton_etcd_txn_reply r;
  baton_etcd_watch_msg m;
  (void)baton__etcd_gw_grant(p, &a, &b, &err);
  (void)baton__etcd_gw_keepalive(p, &a, &b, &err);
  (void)baton__etcd_gw_deleterange(p, &a, &err);
  (void)baton__etcd_gw_auth(p, token, sizeof token, &err);
  size_t n = 0;
  if (baton__etcd_gw_range(p, &a, kvs, 3, &n, &err) == 0)
    while (n > 0) baton__etcd_kv_free(&kvs[--n]);
  if (baton__etcd_gw_txn_acquire(p, &r, &err) == 0) baton__etcd_txn_reply_free(&r);
  if (baton__etcd_gw_watch(p, &m, &err) == 0) baton__etcd_watch_msg_free(&m);
}

static void parse_and_decode(const char *body, size_t len, long status) {
  cJSON *root;
  const cJSON *payload;
  int grpc;
  baton_error err;
  if (baton__etcd_gw_parse(&root, &payload, body, len, status, &grpc, &err) == 0) {
    decode_all(payload);
    cJSON_Delete(root);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const long statuses[] = {200, 200, 200, 400, 401, 404, 412, 500, 503};
  if (size == 0) return 0;
  long status = statuses[data[0] % (sizeof statuses / sizeof statuses[0])];
  /* The transport always hands the parser a NUL-terminated buffer. */
  char *body = malloc(size);
  if (body == NULL) return 0;
  memcpy(body, data + 1, size - 1);
  body[size - 1] = '\0';
  size_t len = size - 1;

  parse_and_decode(body, len, status); /* as one unary reply */

  /* As a stream: split off messages the way the watch reader does. */
  size_t off = 0;
  while (off < len) { /* each pass takes at least a byte */
    long n = baton__etcd_gw_split(body + off, len - off);
    if (n <= 0) break;
    parse_and_decode(body + off, (size_t)n, 200);
    off += (size_t)n;
  }

  /* The raw bytes as base64 text. */
  char *dec = malloc(len / 4 * 3 + 4);
  size_t dlen;
  if (dec != NULL) (void)baton__etcd_b64_decode(dec, &dlen, body, len);
  free(dec);
  free(body);
  return 0;
}
