/* tls_test.c — etcds:// against a real etcd serving TLS with client
 * certificate auth, its CA and certificates made here with openssl. */
#include "etcd.h"
#include "etcd_kit.h"
#include "test.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#define B baton_backend_etcd

static test_cluster tls;   /* one member, started in main */
static char dir[256];      /* certificates */

static const char *path_of(const char *file) {
  static char buf[4][320];
  static int next;
  char *p = buf[next++ % 4];
  snprintf(p, sizeof buf[0], "%s/%s", dir, file);
  return p;
}

static size_t discard(char *p, size_t size, size_t n, void *udata) {
  (void)p;
  (void)udata;
  return size * n;
}

/* Ready: GET /health over TLS with the client certificate answers 200. */
static bool tls_ready(const test_server *s) {
  char url[64];
  snprintf(url, sizeof url, "https://127.0.0.1:%d/health", s->port);
  CURL *e = curl_easy_init();
  if (e == NULL) return false;
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_CAINFO, path_of("ca.pem"));
  curl_easy_setopt(e, CURLOPT_SSLCERT, path_of("client.pem"));
  curl_easy_setopt(e, CURLOPT_SSLKEY, path_of("client.key"));
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 500L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
  long status = 0;
  bool ok = curl_easy_perform(e) == CURLE_OK &&
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200;
  curl_easy_cleanup(e);
  return ok;
}

static int openssl(const char *const *argv) {
  char out[2048];
  int rc = kit_run_output(argv, out, sizeof out, 20000);
  if (rc != 0) fprintf(stderr, "openssl failed (%d): %s\n", rc, out);
  return rc;
}

/* A CA, a server certificate for 127.0.0.1 and a client certificate. */
static int make_certs(void) {
  static const char ec[] = "ec_paramgen_curve:prime256v1";
  if (test_write_file(path_of("server.ext"),
                      "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n") != 0 ||
      test_write_file(path_of("client.ext"), "extendedKeyUsage=clientAuth\n") != 0)
    return -1;
  const char *ca[] = {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", ec, "-nodes",
                      "-keyout", path_of("ca.key"), "-out", path_of("ca.pem"),
                      "-subj", "/CN=baton-test-ca", "-days", "2", NULL};
  if (openssl(ca) != 0) return -1;
  static const char *const who[] = {"server", "client"};
  for (int i = 0; i < 2; i++) {
    char key[32], csr[32], pem[32], ext[32], subj[32];
    snprintf(key, sizeof key, "%s.key", who[i]);
    snprintf(csr, sizeof csr, "%s.csr", who[i]);
    snprintf(pem, sizeof pem, "%s.pem", who[i]);
    snprintf(ext, sizeof ext, "%s.ext", who[i]);
    snprintf(subj, sizeof subj, "/CN=%s", i == 0 ? "127.0.0.1" : "baton-client");
    char kp[320], cp[320];
    snprintf(kp, sizeof kp, "%s", path_of(key));
    snprintf(cp, sizeof cp, "%s", path_of(csr));
    const char *req[] = {"openssl", "req", "-newkey", "ec", "-pkeyopt", ec, "-nodes", "-keyout",
                         kp, "-out", cp, "-subj", subj, NULL};
    if (openssl(req) != 0) return -1;
    char pp[320], ep[320], cap[320], cak[320];
    snprintf(pp, sizeof pp, "%s", path_of(pem));
    snprintf(ep, sizeof ep, "%s", path_of(ext));
    snprintf(cap, sizeof cap, "%s", path_of("ca.pem"));
    snprintf(cak, sizeof cak, "%s", path_of("ca.key"));
    const char *sign[] = {"openssl", "x509", "-req", "-in", cp, "-CA", cap, "-CAkey", cak,
                          "-CAcreateserial", "-out", pp, "-days", "2", "-extfile", ep, NULL};
    if (openssl(sign) != 0) return -1;
  }
  return 0;
}

/* The harness starts plain-HTTP etcd only; this starter serves TLS and
 * requires a client certificate signed by our CA. */
static int start_tls_etcd(void) {
  memset(&tls, 0, sizeof tls);
  test_server *s = &tls.member[0];
  s->kind = "etcd";
  s->ready = tls_ready;
  s->port = test_free_port();
  s->peer_port = test_free_port();
  if (s->port < 0 || s->peer_port < 0 || test_make_dir(s->dir, sizeof s->dir, "etcd-tls") != 0)
    return -1;
  tls.n = 1;
  snprintf(dir, sizeof dir, "%s", s->dir);
  if (make_certs() != 0) return -1;
  char data[300], client[64], peer[64], initial[100];
  snprintf(data, sizeof data, "%s/data", s->dir);
  snprintf(client, sizeof client, "https://127.0.0.1:%d", s->port);
  snprintf(peer, sizeof peer, "http://127.0.0.1:%d", s->peer_port);
  snprintf(initial, sizeof initial, "e0=%s", peer);
  char cert[320], key[320], ca[320];
  snprintf(cert, sizeof cert, "%s", path_of("server.pem"));
  snprintf(key, sizeof key, "%s", path_of("server.key"));
  snprintf(ca, sizeof ca, "%s", path_of("ca.pem"));
  const char *argv[] = {"/usr/bin/etcd", "--name", "e0", "--data-dir", data,
                        "--listen-client-urls", client, "--advertise-client-urls", client,
                        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                        "--initial-cluster", initial, "--cert-file", cert, "--key-file", key,
                        "--trusted-ca-file", ca, "--client-cert-auth", "--log-level", "warn",
                        NULL};
  if (test_server_spawn(s, argv, NULL, 30000) != 0) return -1;
  snprintf(tls.uri, sizeof tls.uri, "etcds://127.0.0.1:%d", s->port);
  return 0;
}

static void uri_with(char *out, size_t size, bool ca, bool client) {
  int n = snprintf(out, size, "%s?", tls.uri);
  if (ca) n += snprintf(out + n, size - (size_t)n, "cacert=%s&", path_of("ca.pem"));
  if (client)
    snprintf(out + n, size - (size_t)n, "cert=%s&key=%s", path_of("client.pem"),
             path_of("client.key"));
}

static void elections_over_tls(void) {
  char uri[1200];
  uri_with(uri, sizeof uri, true, true);
  kit_session a, b;
  baton_error err = {0};
  baton_options oa = {.identity = "tls-a"}, ob = {.identity = "tls-b"};
  REQUIRE_OK(kit_open(&a, &B, uri, &oa, 5000, &err), &err);
  REQUIRE_OK(kit_open(&b, &B, uri, &ob, 5000, &err), &err);
  baton_candidate ca = kit_cand(&a, "t.tls"), cb = kit_cand(&b, "t.tls");
  CHECK_OK(B.acquire(a.s, &ca, NULL, kit_deadline(2000), &err), &err);
  CHECK_EQ(B.acquire(b.s, &cb, NULL, kit_deadline(2000), &err), BATON_EHELD);
  kit_waiter w;
  REQUIRE_EQ(kit_waiter_start(&w, &b, &cb, NULL, 10000), 0);
  CHECK_EQ(kit_waiters_done(&w, 1, 1, 200), 0);
  CHECK_OK(B.release(a.s, &ca, kit_deadline(2000), &err), &err);
  kit_waiter_join(&w);
  CHECK_OK(w.rc, &w.err);
  CHECK_OK(B.acquire(b.s, &cb, NULL, kit_deadline(2000), &err), &err);
  CHECK_GT(cb.token, ca.token);
  CHECK_OK(B.renew(b.s, NULL, 0, NULL, kit_deadline(2000), &err), &err);
  CHECK_OK(B.release(b.s, &cb, kit_deadline(2000), &err), &err);
  kit_forget(&a, &ca);
  kit_forget(&b, &cb);
  kit_close(&a);
  kit_close(&b);
}

/* The options override the URI's parameters. */
static void tls_files_from_options(void) {
  kit_session k;
  baton_error err = {0};
  baton_options o = {.tls_ca_file = path_of("ca.pem"), .tls_cert_file = path_of("client.pem"),
                     .tls_key_file = path_of("client.key")};
  REQUIRE_OK(kit_open(&k, &B, tls.uri, &o, 5000, &err), &err);
  kit_close(&k);
}

static void tls_refusals(void) {
  struct {
    bool ca, client;
    const char *uri_scheme;
    int code;
  } cases[] = {
      {false, true, "etcds", BATON_ECONNECT},  /* our CA is not in the system's bundle */
      {true, false, "etcds", BATON_ECONNECT},  /* the server wants a client certificate */
      {false, false, "etcd", BATON_ECONNECT},  /* plain HTTP to a TLS port */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char uri[1200];
    uri_with(uri, sizeof uri, cases[i].ca, cases[i].client);
    if (strcmp(cases[i].uri_scheme, "etcd") == 0) memmove(uri + 4, uri + 5, strlen(uri + 5) + 1);
    kit_session k;
    baton_error err = {0};
    int64_t t0 = kit_now_ms();
    int rc = kit_open(&k, &B, uri, NULL, 2000, &err);
    printf("  case %zu -> %d in %lld ms: %s\n", i, rc, (long long)kit_ms_since(t0), err.message);
    CHECK_EQ(rc, cases[i].code);
    CHECK_CONTAINS(err.message, "/v3/lease/grant");
    if (rc == 0) kit_close(&k);
  }
}

int main(int argc, char **argv) {
  static const test_case cases[] = {
      {"elections_over_tls", elections_over_tls},
      {"tls_files_from_options", tls_files_from_options},
      {"tls_refusals", tls_refusals},
      {NULL, NULL},
  };
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int rc = 1;
  if (start_tls_etcd() != 0)
    fprintf(stderr, "FAIL: cannot start a TLS etcd\n");
  else
    rc = test_main(argc, argv, cases);
  test_cluster_stop(&tls);
  curl_global_cleanup();
  return rc;
}
