/* floor_etcd.c — the raw etcd floor: a correct acquire+release through the
 * v3 gRPC gateway with bare libcurl on one keep-alive connection:
 *   txn:  if the candidate key is absent, put it on the session's lease, and
 *         in the same round trip read the name's lowest key by
 *         create_revision (are we the leader?);
 *   deleterange of the candidate key.
 * The lease is granted once, before the loop, for an hour (amortised, as
 * baton's keep-alives are), and revoked at the end. */
#include "kit.h"
#include "pairloop.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct efloor {
  CURL *curl;
  char base[128];
  char *reply;
  size_t reply_len, reply_cap;
  char txn_url[160], del_url[160];
  char *txn_body, *del_body;
  char key[400];
} efloor;

static size_t on_data(char *p, size_t size, size_t n, void *ctx) {
  efloor *f = ctx;
  size_t len = size * n;
  if (f->reply_len + len + 1 > f->reply_cap) {
    size_t cap = (f->reply_len + len + 1) * 2;
    char *r = realloc(f->reply, cap);
    if (r == NULL) return 0;
    f->reply = r;
    f->reply_cap = cap;
  }
  memcpy(f->reply + f->reply_len, p, len);
  f->reply_len += len;
  f->reply[f->reply_len] = '\0';
  return len;
}

/* POST body to url; the parsed reply (caller frees) or NULL. */
static cJSON *post(efloor *f, const char *url, const char *body) {
  f->reply_len = 0;
  curl_easy_setopt(f->curl, CURLOPT_URL, url);
  curl_easy_setopt(f->curl, CURLOPT_POSTFIELDS, body);
  CURLcode rc = curl_easy_perform(f->curl);
  long status = 0;
  curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &status);
  if (rc != CURLE_OK || status != 200) {
    fprintf(stderr, "floor_etcd: %s: %s (HTTP %ld) %.200s\n", url, curl_easy_strerror(rc), status,
            f->reply ? f->reply : "");
    return NULL;
  }
  return cJSON_Parse(f->reply);
}

static void b64(const char *in, char *out) {
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t n = strlen(in), o = 0;
  const unsigned char *s = (const unsigned char *)in;
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) |
                 (i + 2 < n ? s[i + 2] : 0);
    out[o++] = t[v >> 18 & 63];
    out[o++] = t[v >> 12 & 63];
    out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
    out[o++] = i + 2 < n ? t[v & 63] : '=';
  }
  out[o] = '\0';
}

static int pair(void *ctx) {
  efloor *f = ctx;
  cJSON *r = post(f, f->txn_url, f->txn_body);
  cJSON *ok = cJSON_GetObjectItem(r, "succeeded");
  cJSON *resps = cJSON_GetObjectItem(r, "responses");
  cJSON *range = cJSON_GetObjectItem(cJSON_GetArrayItem(resps, 1), "response_range");
  cJSON *low = cJSON_GetArrayItem(cJSON_GetObjectItem(range, "kvs"), 0);
  cJSON *low_key = cJSON_GetObjectItem(low, "key");
  bool leader = cJSON_IsTrue(ok) && cJSON_IsString(low_key) &&
                strcmp(low_key->valuestring, f->key) == 0 &&
                cJSON_IsString(cJSON_GetObjectItem(low, "create_revision"));
  cJSON_Delete(r);
  if (!leader) {
    fprintf(stderr, "floor_etcd: txn did not make us the leader: %.300s\n", f->reply);
    return -1;
  }
  r = post(f, f->del_url, f->del_body);
  cJSON *deleted = cJSON_GetObjectItem(r, "deleted");
  bool gone = cJSON_IsString(deleted) && strcmp(deleted->valuestring, "1") == 0;
  cJSON_Delete(r);
  if (!gone) {
    fprintf(stderr, "floor_etcd: deleterange deleted nothing: %.300s\n", f->reply);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) kit_die("usage: floor_etcd URI [--secs S] ...");
  kit_setup((int)kit_arg_long(argc, argv, "--watchdog", 300));
  char kind[16], host[64];
  int port;
  if (kit_uri_split(argv[1], kind, sizeof kind, host, sizeof host, &port) != 0)
    kit_die("bad URI %s", argv[1]);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  static efloor f;
  f.curl = curl_easy_init();
  if (f.curl == NULL) kit_die("curl_easy_init failed");
  struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
  curl_easy_setopt(f.curl, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt(f.curl, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(f.curl, CURLOPT_WRITEDATA, &f);
  curl_easy_setopt(f.curl, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(f.curl, CURLOPT_NOSIGNAL, 1L);
  snprintf(f.base, sizeof f.base, "http://%s:%d/v3", host, port);

  char url[160], body[4096];
  snprintf(url, sizeof url, "%s/lease/grant", f.base);
  /* Long enough for any run without keep-alives (baton's are amortised:
   * one per renew interval, next to hundreds of pairs). */
  snprintf(body, sizeof body, "{\"TTL\":%ld}", kit_arg_long(argc, argv, "--lease-ttl", 3600));
  cJSON *r = post(&f, url, body);
  cJSON *id = cJSON_GetObjectItem(r, "ID");
  if (!cJSON_IsString(id)) kit_die("lease grant failed: %s", f.reply ? f.reply : "");
  long long lease = strtoll(id->valuestring, NULL, 10);

  /* etcd's election layout: <prefix><name>/<lease id in hex>. */
  const char *name = kit_arg(argc, argv, "--name", "bench-floor");
  char prefix[160], prefix_end[160], key[200], value[64];
  snprintf(prefix, sizeof prefix, "baton/%s/", name);
  snprintf(prefix_end, sizeof prefix_end, "%s", prefix);
  prefix_end[strlen(prefix_end) - 1]++; /* '/' + 1: the end of the prefix range */
  snprintf(key, sizeof key, "%s%llx", prefix, lease);
  snprintf(value, sizeof value, "floor:%d", (int)getpid());
  char k64[300], p64[240], e64[240], v64[100];
  b64(key, k64);
  b64(prefix, p64);
  b64(prefix_end, e64);
  b64(value, v64);
  snprintf(f.key, sizeof f.key, "%s", k64);
  char lowest[600];
  snprintf(lowest, sizeof lowest,
           "{\"request_range\":{\"key\":\"%s\",\"range_end\":\"%s\",\"sort_order\":\"ASCEND\","
           "\"sort_target\":\"CREATE\",\"limit\":\"1\"}}",
           p64, e64);
  snprintf(body, sizeof body,
           "{\"compare\":[{\"key\":\"%s\",\"target\":\"CREATE\",\"result\":\"EQUAL\","
           "\"create_revision\":\"0\"}],"
           "\"success\":[{\"request_put\":{\"key\":\"%s\",\"value\":\"%s\",\"lease\":\"%lld\"}},%s],"
           "\"failure\":[{\"request_range\":{\"key\":\"%s\"}},%s]}",
           k64, k64, v64, lease, lowest, k64, lowest);
  f.txn_body = strdup(body);
  snprintf(body, sizeof body, "{\"key\":\"%s\"}", k64);
  f.del_body = strdup(body);
  snprintf(f.txn_url, sizeof f.txn_url, "%s/kv/txn", f.base);
  snprintf(f.del_url, sizeof f.del_url, "%s/kv/deleterange", f.base);
  cJSON_Delete(r);

  int rc = pairloop_run("floor", "txn+deleterange", argv[1], pair, &f, argc, argv);
  snprintf(url, sizeof url, "%s/lease/revoke", f.base);
  snprintf(body, sizeof body, "{\"ID\":\"%lld\"}", lease);
  cJSON_Delete(post(&f, url, body));
  curl_slist_free_all(hdr);
  curl_easy_cleanup(f.curl);
  free(f.txn_body);
  free(f.del_body);
  free(f.reply);
  curl_global_cleanup();
  return rc;
}
