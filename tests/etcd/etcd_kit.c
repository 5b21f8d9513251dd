/* etcd_kit.c — etcdctl, the gateway's API, a session's counters and the
 * seam suite's view of an etcd member, each bounded in time. */
#include "etcd_kit.h"

#include "etcd.h"
#include "gateway.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_MS 5000 /* one request of the kit's own to the gateway */

int kit_etcd_ctl(const char *endpoints, char *out, size_t size, const char *const args[]) {
  const char *argv[16] = {"etcdctl", "--endpoints", endpoints};
  int n = 3;
  for (int i = 0; args[i] != NULL; i++) {
    if (n == 15) {
      snprintf(out, size, "kit_etcd_ctl: more than 12 arguments");
      return -1;
    }
    argv[n++] = args[i];
  }
  return kit_run_output(argv, out, size, KIT_ETCDCTL_MS);
}

typedef struct text {
  char *p;
  size_t len;
} text;

static size_t collect(char *p, size_t size, size_t n, void *udata) {
  text *t = udata;
  char *q = realloc(t->p, t->len + size * n + 1);
  if (q == NULL) return 0;
  memcpy(q + t->len, p, size * n);
  t->p = q;
  t->len += size * n;
  t->p[t->len] = '\0';
  return size * n;
}

int kit_etcd_auth(const test_cluster *c, bool on) {
  char ep[64], out[4096];
  kit_member_addr(c, 0, ep, sizeof ep);
  const char *add[] = {"user", "add", KIT_ETCD_ROOT, NULL};
  const char *enable[] = {"auth", "enable", NULL};
  const char *disable[] = {"--user", KIT_ETCD_ROOT, "auth", "disable", NULL};
  if (!on) return kit_etcd_ctl(ep, out, sizeof out, disable) == 0 ? 0 : -1;
  kit_etcd_ctl(ep, out, sizeof out, add); /* fails when the user exists */
  return kit_etcd_ctl(ep, out, sizeof out, enable) == 0 && strstr(out, "Enabled") != NULL ? 0
                                                                                          : -1;
}

int kit_etcd_drop_tokens(const test_cluster *c) {
  return kit_etcd_auth(c, false) == 0 && kit_etcd_auth(c, true) == 0 ? 0 : -1;
}

long kit_etcd_http(const test_cluster *c, const char *path, const char *body, char **reply) {
  char url[200];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", c->member[0].port, path);
  text t = {NULL, 0};
  CURL *e = curl_easy_init();
  if (e == NULL) return -1;
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)HTTP_MS);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
  if (body != NULL) curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
  long status = -1;
  if (curl_easy_perform(e) != CURLE_OK ||
      curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
    status = -1;
  curl_easy_cleanup(e);
  if (status < 0 || reply == NULL) free(t.p);
  else *reply = t.p != NULL ? t.p : calloc(1, 1);
  return status;
}

static baton_etcd_stats stats_of(kit_session *k) {
  baton_etcd_stats st;
  baton__etcd_session_stats(k->s, &st);
  return st;
}

uint64_t kit_etcd_requests(kit_session *k) { return stats_of(k).requests; }

uint64_t kit_etcd_connects(kit_session *k) { return stats_of(k).connects; }

/* ---- the seam suite's view ------------------------------------------------- */

#define PEEK_KEYS 16 /* keys of one name the seam suite makes at most */

/* A POST whose reply must be a 200: 0 or -1 (reported). */
static int post(const test_cluster *c, const char *path, const baton_etcd_str *body,
                char **reply) {
  char *r = NULL;
  long status = body->oom ? -1 : kit_etcd_http(c, path, body->p, &r);
  if (status != 200) fprintf(stderr, "etcd %s: %ld %s\n", path, status, r != NULL ? r : "");
  if (status == 200 && reply != NULL) *reply = r;
  else free(r);
  return status == 200 ? 0 : -1;
}

/* The keys of name (etcd's election layout: "<name>/<lease>"), oldest
 * first, into kvs[0..*n). */
static int range(const test_cluster *c, const char *name, baton_etcd_kv *kvs, size_t *n) {
  char prefix[300];
  snprintf(prefix, sizeof prefix, "%s/", name);
  baton_etcd_str body = {0};
  baton_etcd_range_req req = {.key = prefix, .key_len = strlen(prefix), .prefix = true, .sort = 1};
  baton__etcd_req_range(&body, &req);
  char *reply = NULL;
  int rc = post(c, "/v3/kv/range", &body, &reply);
  baton__etcd_str_free(&body);
  *n = 0;
  if (rc != 0) return -1;
  cJSON *root = NULL;
  const cJSON *payload;
  int grpc = 0;
  int64_t revision;
  baton_error err = {0};
  if (baton__etcd_gw_parse(&root, &payload, reply, strlen(reply), 200, &grpc, &err) != 0 ||
      baton__etcd_gw_range(payload, &revision, kvs, PEEK_KEYS, n, &err) != 0) {
    fprintf(stderr, "etcd range of %s: %s\n", name, err.message);
    rc = -1;
  }
  cJSON_Delete(root);
  free(reply);
  return rc;
}

static void kvs_free(baton_etcd_kv *kvs, size_t n) {
  for (size_t i = 0; i < n; i++) baton__etcd_kv_free(&kvs[i]);
}

static int seam_peek(const test_cluster *c, const char *name, kit_peek *out) {
  memset(out, 0, sizeof *out);
  out->ttl_ms = -1;
  baton_etcd_kv kvs[PEEK_KEYS];
  size_t n = 0;
  if (range(c, name, kvs, &n) != 0) return -1;
  out->keys = (int)n;
  if (n > 0) {
    out->token = (uint64_t)kvs[0].create_revision;
    snprintf(out->identity, sizeof out->identity, "%s", kvs[0].value);
  }
  kvs_free(kvs, n);
  return 0;
}

/* The leader's key goes, and "<name>/thief" (no lease) comes: the
 * oldest key, so the leader, when no one else queued. */
static int seam_steal(const test_cluster *c, const char *name) {
  baton_etcd_kv kvs[PEEK_KEYS];
  size_t n = 0;
  int rc = range(c, name, kvs, &n);
  baton_etcd_str body = {0};
  if (rc == 0 && n > 0) {
    baton__etcd_str_cat(&body, "{\"key\":");
    baton__etcd_str_b64(&body, kvs[0].key, kvs[0].key_len);
    baton__etcd_str_cat(&body, "}");
    rc = post(c, "/v3/kv/deleterange", &body, NULL);
    baton__etcd_str_free(&body);
  }
  kvs_free(kvs, n);
  char key[300];
  snprintf(key, sizeof key, "%s/thief", name);
  baton__etcd_str_cat(&body, "{\"key\":");
  baton__etcd_str_b64(&body, key, strlen(key));
  baton__etcd_str_cat(&body, ",\"value\":");
  baton__etcd_str_b64(&body, "thief", 5);
  baton__etcd_str_cat(&body, "}");
  if (rc == 0) rc = post(c, "/v3/kv/put", &body, NULL);
  baton__etcd_str_free(&body);
  return rc;
}

static int seam_remove(const test_cluster *c, const char *name) {
  char prefix[300], end[300];
  snprintf(prefix, sizeof prefix, "%s/", name);
  size_t end_len = baton__etcd_prefix_end(end, prefix, strlen(prefix));
  baton_etcd_str body = {0};
  baton__etcd_str_cat(&body, "{\"key\":");
  baton__etcd_str_b64(&body, prefix, strlen(prefix));
  baton__etcd_str_cat(&body, ",\"range_end\":");
  baton__etcd_str_b64(&body, end, end_len);
  baton__etcd_str_cat(&body, "}");
  int rc = post(c, "/v3/kv/deleterange", &body, NULL);
  baton__etcd_str_free(&body);
  return rc;
}

/* The session's own count: every request it sent. */
static long seam_requests(const test_cluster *c, kit_session *k, void (*fn)(void *), void *arg) {
  (void)c;
  uint64_t before = kit_etcd_requests(k);
  fn(arg);
  return (long)(kit_etcd_requests(k) - before);
}

/* One keepalive renews the lease, which every key shares: a key
 * deleted by hand is found by the waiters' watch and the next
 * acquire, not by renew. */
KIT_SEAM(etcd, 2, false, "event in time"); /* "no event", "no matching event" */
