/* etcd_kit.c — etcdctl, the gateway's API and a session's counters, each
 * bounded in time. */
#include "etcd_kit.h"

#include "etcd.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_MS 5000 /* one request of the kit's own to the gateway */

int kit_etcd_ctl(const char *endpoints, char *out, size_t size, const char *const args[]) {
  const char *argv[16] = {"etcdctl", "--endpoints", endpoints};
  for (int i = 0; args[i] != NULL && i < 12; i++) argv[i + 3] = args[i];
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
