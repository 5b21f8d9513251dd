/* fault_test.c — the etcd backend against a fake HTTP server that answers
 * garbage (not a mock of etcd: it replays fixed bytes per path): malformed,
 * truncated, oversized and wrong-typed replies, error objects inside a 200
 * stream, stalls and trickles. Each must give a clear code and message by
 * the deadline, with no crash and no leak. */
#include "etcd.h"
#include "etcd_kit.h"
#include "test.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define B baton_backend_etcd

/* ---- The fake server ----------------------------------------------------- */

typedef enum {
  SEND,     /* status + Content-Length + body, connection kept */
  STALL,    /* read the request, never answer */
  TRICKLE,  /* headers, then one body byte every TRICKLE_MS */
  CUT,      /* Content-Length larger than the body, then close */
  RAW,      /* the body bytes alone, no HTTP at all, then close */
} fake_mode;

typedef struct fake_route {
  const char *path;    /* request path, e.g. "/v3/kv/range" */
  fake_mode mode;
  const char *status;  /* e.g. "200 OK" */
  const char *body;    /* NULL: the big body */
} fake_route;

#define MAX_CLIENTS 16
#define TRICKLE_MS 50 /* between two bytes of a trickled body */

typedef struct fake_client {
  int fd;                 /* -1 when free */
  char req[8192];
  size_t len;
  const char *trickle;    /* TRICKLE: bytes still to send */
  int64_t next_byte;      /* when to send the next one (kit_now_ms) */
} fake_client;

typedef struct fake_server {
  int port;
  int listen_fd;
  int stop[2];
  pthread_t thread;
  const fake_route *routes;
  fake_client clients[MAX_CLIENTS];
  char *big;              /* a body over the backend's limit */
  size_t big_len;
  atomic_int requests;
} fake_server;

static const char GRANT_OK[] = "{\"header\":{\"revision\":\"1\"},\"ID\":\"4660\",\"TTL\":\"10\"}";

static void send_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

static void drop(fake_client *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  c->len = 0;
  c->trickle = NULL;
}

static void respond(fake_server *f, fake_client *c, const char *path) {
  const fake_route *r = f->routes;
  while (r->path != NULL && strcmp(r->path, path) != 0) r++;
  if (r->path == NULL) {
    static const char nf[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\nNot Found\n";
    send_all(c->fd, nf, sizeof nf - 1);
    return;
  }
  const char *body = r->body != NULL ? r->body : f->big;
  size_t blen = r->body != NULL ? strlen(r->body) : f->big_len;
  char head[256];
  int hl = snprintf(head, sizeof head,
                    "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                    r->status, r->mode == CUT ? blen + 100 : blen);
  switch (r->mode) {
    case STALL:
      return;
    case RAW:
      send_all(c->fd, body, blen);
      drop(c);
      return;
    case TRICKLE:
      send_all(c->fd, head, (size_t)hl);
      c->trickle = body;
      c->next_byte = kit_now_ms();
      return;
    case CUT:
      send_all(c->fd, head, (size_t)hl);
      send_all(c->fd, body, blen);
      drop(c);
      return;
    case SEND: {
      /* One write: head and body split in two would meet Nagle and a
       * delayed ACK, a 40 ms stall that is the fake's, not the client's. */
      char *all = malloc((size_t)hl + blen);
      if (all == NULL) return;
      memcpy(all, head, (size_t)hl);
      memcpy(all + hl, body, blen);
      send_all(c->fd, all, (size_t)hl + blen);
      free(all);
      return;
    }
  }
}

/* Serve every complete request in c's buffer. */
static void serve(fake_server *f, fake_client *c) {
  while (c->fd >= 0) { /* each pass answers a request and removes it, or returns */
    c->req[c->len] = '\0';
    char *end = strstr(c->req, "\r\n\r\n");
    if (end == NULL) return;
    size_t body = 0;
    for (char *h = strstr(c->req, "\r\n"); h != NULL && h < end; h = strstr(h + 2, "\r\n"))
      if (strncasecmp(h + 2, "Content-Length:", 15) == 0) body = strtoul(h + 17, NULL, 10);
    size_t total = (size_t)(end + 4 - c->req) + body;
    if (c->len < total) return;
    char path[128] = "";
    sscanf(c->req, "POST %127s", path);
    atomic_fetch_add(&f->requests, 1);
    memmove(c->req, c->req + total, c->len - total);
    c->len -= total;
    respond(f, c, path);
  }
}

static void *fake_main(void *arg) {
  fake_server *f = arg;
  /* Until fake_stop writes to the stop pipe. */
  for (;;) {
    struct pollfd p[MAX_CLIENTS + 2];
    int n = 0, timeout = 1000;
    p[n++] = (struct pollfd){.fd = f->stop[0], .events = POLLIN};
    p[n++] = (struct pollfd){.fd = f->listen_fd, .events = POLLIN};
    for (int i = 0; i < MAX_CLIENTS; i++) {
      p[n++] = (struct pollfd){.fd = f->clients[i].fd, .events = POLLIN};
      if (f->clients[i].trickle != NULL) timeout = 10;
    }
    poll(p, (nfds_t)n, timeout);
    if (p[0].revents) break;
    if (p[1].revents & POLLIN) {
      int fd = accept(f->listen_fd, NULL, NULL);
      int i = 0;
      while (i < MAX_CLIENTS && f->clients[i].fd >= 0) i++;
      int one = 1;
      if (fd >= 0) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (fd >= 0 && i < MAX_CLIENTS) f->clients[i].fd = fd;
      else if (fd >= 0) close(fd);
    }
    for (int i = 0; i < MAX_CLIENTS; i++) {
      fake_client *c = &f->clients[i];
      if (c->fd < 0) continue;
      if (p[i + 2].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t r = recv(c->fd, c->req + c->len, sizeof c->req - 1 - c->len, 0);
        if (r <= 0) {
          drop(c);
          continue;
        }
        c->len += (size_t)r;
        serve(f, c);
      }
      if (c->fd >= 0 && c->trickle != NULL && *c->trickle != '\0' && kit_now_ms() >= c->next_byte) {
        send_all(c->fd, c->trickle++, 1);
        c->next_byte = kit_now_ms() + TRICKLE_MS;
      }
    }
  }
  return NULL;
}

static int fake_start(fake_server *f, const fake_route *routes) {
  memset(f, 0, sizeof *f);
  f->routes = routes;
  for (int i = 0; i < MAX_CLIENTS; i++) f->clients[i].fd = -1;
  /* Over the 4 MiB limit, and valid JSON, so only the size can be blamed. */
  f->big_len = (5u << 20);
  f->big = malloc(f->big_len + 1);
  if (f->big == NULL) return -1;
  memset(f->big, 'x', f->big_len);
  memcpy(f->big, "{\"a\":\"", 6);
  memcpy(f->big + f->big_len - 2, "\"}", 2);
  f->big[f->big_len] = '\0';
  f->listen_fd = kit_listen(16, &f->port);
  if (f->listen_fd < 0 || pipe(f->stop) != 0) {
    if (f->listen_fd >= 0) close(f->listen_fd);
    free(f->big);
    return -1;
  }
  return pthread_create(&f->thread, NULL, fake_main, f) == 0 ? 0 : -1;
}

static void fake_stop(fake_server *f) {
  if (write(f->stop[1], "x", 1) != 1) return;
  pthread_join(f->thread, NULL);
  for (int i = 0; i < MAX_CLIENTS; i++) drop(&f->clients[i]);
  close(f->listen_fd);
  close(f->stop[0]);
  close(f->stop[1]);
  free(f->big);
}

/* ---- Cases --------------------------------------------------------------------- */

/* Open against the fake server; the outcome must come by the deadline. */
static int open_fake(kit_session *k, fake_server *f, int timeout_ms, baton_error *err) {
  char uri[64];
  snprintf(uri, sizeof uri, "etcd://127.0.0.1:%d", f->port);
  baton_options o = {.identity = "faulty", .connect_timeout_ms = 500};
  return kit_open(k, &B, uri, &o, timeout_ms, err);
}

/* Start a fake server with `routes` and open a session on it; false
 * (reported) when either fails, with nothing left running. */
static bool fake_session(fake_server *f, const fake_route *routes, kit_session *k) {
  baton_error err = {0};
  if (fake_start(f, routes) != 0) {
    TEST_FAIL_("cannot start the fake server");
    return false;
  }
  if (open_fake(k, f, 2000, &err) != 0) {
    TEST_FAIL_("open: %s", err.message);
    fake_stop(f);
    return false;
  }
  return true;
}

/* A lease grant answered with `route`: open fails with `code` saying `says`. */
static void grant_fails(fake_mode mode, const char *status, const char *body, int code,
                        const char *says, int timeout_ms) {
  const fake_route routes[] = {{"/v3/lease/grant", mode, status, body}, {NULL, SEND, NULL, NULL}};
  fake_server f;
  REQUIRE(fake_start(&f, routes) == 0);
  kit_session k;
  baton_error err = {0};
  int64_t t0 = kit_now_ms();
  int rc = open_fake(&k, &f, timeout_ms, &err);
  int64_t took = kit_ms_since(t0);
  printf("  %-40.40s -> %d in %lld ms: %s\n", body != NULL ? body : "(5 MiB body)", rc,
         (long long)took, err.message);
  CHECK_EQ(rc, code);
  CHECK_CONTAINS(err.message, says);
  CHECK_CONTAINS(err.message, "/v3/lease/grant");
  CHECK_LT(took, timeout_ms + TEST_SLACK_MS);
  if (code == BATON_ETIMEDOUT) CHECK_GE(took, timeout_ms - 10);
  if (rc == 0) kit_close(&k);
  fake_stop(&f);
}

static void garbage_grant_replies(void) {
  grant_fails(SEND, "200 OK", "{\"header\":", BATON_EPROTO, "not a JSON object", 2000);
  grant_fails(SEND, "200 OK", "[1,2,3]", BATON_EPROTO, "not a JSON object", 2000);
  grant_fails(SEND, "200 OK", "{\"ID\":\"1\",\"TTL\":\"5\"} trailing", BATON_EPROTO, "junk after", 2000);
  grant_fails(CUT, "200 OK", GRANT_OK, BATON_EPROTO, "truncated reply", 2000);
  grant_fails(SEND, "200 OK", NULL, BATON_EPROTO, "larger than", 3000);
  grant_fails(SEND, "200 OK", "{\"ID\":5,\"TTL\":\"5\"}", BATON_EPROTO,
              "\"ID\" is not a 64-bit integer string", 2000);
  grant_fails(SEND, "200 OK", "{\"ID\":\"12x\",\"TTL\":\"5\"}", BATON_EPROTO, "\"ID\"", 2000);
  grant_fails(SEND, "200 OK", "{\"ID\":\"99999999999999999999\",\"TTL\":\"5\"}", BATON_EPROTO,
              "\"ID\"", 2000);
  grant_fails(SEND, "200 OK", "{\"ID\":\"7\"}", BATON_EPROTO, "\"TTL\" is missing", 2000);
  grant_fails(SEND, "200 OK", "{\"header\":[],\"ID\":\"7\",\"TTL\":\"5\",\"result\":3}", BATON_EPROTO,
              "\"result\" is not an object", 2000);
  grant_fails(SEND, "503 Service Unavailable",
              "{\"error\":\"etcdserver: no leader\",\"code\":14,\"message\":\"etcdserver: no leader\"}",
              BATON_ECONNECT, "no leader", 2000);
  grant_fails(SEND, "400 Bad Request", "{\"error\":\"x\",\"code\":\"3\"}", BATON_EPROTO,
              "\"code\"", 2000);
  grant_fails(SEND, "404 Not Found", "404 page not found", BATON_EPROTO, "HTTP 404", 2000);
  grant_fails(RAW, NULL, "SSH-2.0-OpenSSH_9.2\r\n", BATON_EPROTO, "not an HTTP reply", 2000);
  grant_fails(STALL, "200 OK", GRANT_OK, BATON_ETIMEDOUT, "no reply in time", 400);
  grant_fails(TRICKLE, "200 OK", GRANT_OK, BATON_ETIMEDOUT, "no reply in time", 400);
}

/* A good grant, then `extra` (1 or 2 routes) for the call under test. */
static void after_good_grant(const fake_route *extra, size_t nextra,
                             int (*call)(kit_session *, baton_error *), int code, const char *says,
                             int timeout_ms) {
  fake_route routes[5] = {
      {"/v3/lease/grant", SEND, "200 OK", GRANT_OK},
      {"/v3/lease/revoke", SEND, "200 OK", "{}"},
  };
  for (size_t i = 0; i < nextra && i < 2; i++) routes[2 + i] = extra[i];
  fake_server f;
  kit_session k;
  baton_error err = {0};
  if (!fake_session(&f, routes, &k)) return;
  const fake_route *last = &extra[nextra - 1];
  int64_t t0 = kit_now_ms();
  int rc = call(&k, &err);
  int64_t took = kit_ms_since(t0);
  printf("  %-14s %-30.30s -> %d in %lld ms: %s\n", last->path,
         last->body != NULL ? last->body : "(5 MiB body)", rc, (long long)took, err.message);
  CHECK_EQ(rc, code);
  CHECK_CONTAINS(err.message, says);
  CHECK_LT(took, timeout_ms + TEST_SLACK_MS);
  kit_close(&k);
  fake_stop(&f);
}

#define CALL_MS 400

static int call_leader(kit_session *k, baton_error *err) {
  baton_leader who;
  return B.leader(k->s, "t.fault", &who, kit_deadline(CALL_MS), err);
}

static int call_acquire(kit_session *k, baton_error *err) {
  baton_candidate c = kit_cand(k, "t.fault");
  int rc = B.acquire(k->s, &c, NULL, kit_deadline(CALL_MS), err);
  B.forget(k->s, &c);
  return rc;
}

static int call_renew(kit_session *k, baton_error *err) {
  return B.renew(k->s, NULL, 0, NULL, kit_deadline(CALL_MS), err);
}

static int call_wait(kit_session *k, baton_error *err) {
  baton_candidate c = kit_cand(k, "t.fault");
  baton_leader none = {0};
  int rc = B.wait(k->s, &c, &none, kit_deadline(CALL_MS), -1, err);
  B.forget(k->s, &c);
  return rc;
}

static uint64_t lease_token; /* call_lease_acquire's token */

static int call_lease_acquire(kit_session *k, baton_error *err) {
  lease_token = 0;
  return B.lease_acquire(k->s, "t.fault", "job", 5 * BATON_NS_PER_S, &lease_token, NULL,
                         kit_deadline(CALL_MS), err);
}

static const char EMPTY_RANGE[] = "{\"header\":{\"revision\":\"7\"}}";

static void garbage_after_open(void) {
  const fake_route kvs_object = {"/v3/kv/range", SEND, "200 OK", "{\"header\":{\"revision\":\"7\"},\"kvs\":{}}"};
  after_good_grant(&kvs_object, 1, call_leader, BATON_EPROTO, "\"kvs\" is not an array", CALL_MS);
  const fake_route kv_bad64 = {"/v3/kv/range", SEND, "200 OK",
                               "{\"kvs\":[{\"key\":\"!!!\",\"create_revision\":\"3\"}]}"};
  after_good_grant(&kv_bad64, 1, call_leader, BATON_EPROTO, "not valid base64", CALL_MS);
  const fake_route kv_rev = {"/v3/kv/range", SEND, "200 OK",
                             "{\"kvs\":[{\"key\":\"YQ==\",\"create_revision\":3}]}"};
  after_good_grant(&kv_rev, 1, call_leader, BATON_EPROTO, "\"create_revision\"", CALL_MS);
  const fake_route trickle = {"/v3/kv/range", TRICKLE, "200 OK", EMPTY_RANGE};
  after_good_grant(&trickle, 1, call_leader, BATON_ETIMEDOUT, "no reply in time", CALL_MS);
  const fake_route big = {"/v3/kv/range", SEND, "200 OK", NULL};
  after_good_grant(&big, 1, call_leader, BATON_EPROTO, "larger than", 3000);

  const fake_route txn_bool = {"/v3/kv/txn", SEND, "200 OK",
                               "{\"header\":{\"revision\":\"5\"},\"succeeded\":\"yes\"}"};
  after_good_grant(&txn_bool, 1, call_acquire, BATON_EPROTO, "\"succeeded\" is not a boolean", CALL_MS);
  const fake_route txn_short = {"/v3/kv/txn", SEND, "200 OK",
                                "{\"header\":{\"revision\":\"5\"},\"succeeded\":true,\"responses\":[{}]}"};
  after_good_grant(&txn_short, 1, call_acquire, BATON_EPROTO, "\"responses\"", CALL_MS);
  const fake_route txn_stall = {"/v3/kv/txn", STALL, "200 OK", "{}"};
  after_good_grant(&txn_stall, 1, call_acquire, BATON_ETIMEDOUT, "no reply in time", CALL_MS);

  const fake_route ka_error = {
      "/v3/lease/keepalive", SEND, "200 OK",
      "{\"error\":{\"grpc_code\":5,\"http_code\":404,\"message\":\"etcdserver: requested lease not found\"}}"};
  after_good_grant(&ka_error, 1, call_renew, BATON_ESESSION, "requested lease not found", CALL_MS);
  const fake_route ka_ttl = {"/v3/lease/keepalive", SEND, "200 OK",
                             "{\"result\":{\"ID\":\"4660\",\"TTL\":5}}"};
  after_good_grant(&ka_ttl, 1, call_renew, BATON_EPROTO, "\"TTL\"", CALL_MS);
  const fake_route ka_other = {"/v3/lease/keepalive", SEND, "200 OK",
                               "{\"result\":{\"ID\":\"99\",\"TTL\":\"5\"}}"};
  after_good_grant(&ka_other, 1, call_renew, BATON_EPROTO, "answered for", CALL_MS);
}

/* The fixed lease key t.fault/1234.fixed on the fake's lease 4660 (0x1234). */
#define LEASE_KV                                                                                   \
  "{\"key\":\"dC5mYXVsdC8xMjM0LmZpeGVk\",\"create_revision\":\"5\",\"mod_revision\":\"5\","        \
  "\"lease\":\"4660\",\"value\":\"am9i\"}"

/* A fixed lease's txn answered wrongly or not at all: a clear error by
 * the deadline (the revoke that follows included), never a token. */
static void garbage_around_a_fixed_lease(void) {
  const fake_route stall = {"/v3/kv/txn", STALL, "200 OK", "{}"};
  after_good_grant(&stall, 1, call_lease_acquire, BATON_ETIMEDOUT, "no reply in time", CALL_MS);
  const fake_route other_leads = {
      "/v3/kv/txn", SEND, "200 OK",
      "{\"header\":{\"revision\":\"5\"},\"succeeded\":true,\"responses\":[{\"response_put\":{}},"
      "{\"response_range\":{\"kvs\":[{\"key\":\"YQ==\",\"create_revision\":\"3\"}]}}]}"};
  after_good_grant(&other_leads, 1, call_lease_acquire, BATON_EPROTO, "does not lead", CALL_MS);
  const fake_route failed_empty = {"/v3/kv/txn", SEND, "200 OK",
                                   "{\"header\":{\"revision\":\"5\"},\"responses\":["
                                   "{\"response_range\":{}},{\"response_range\":{}}]}"};
  after_good_grant(&failed_empty, 1, call_lease_acquire, BATON_EPROTO, "the name has no key",
                   CALL_MS);
  /* What a retry after a lost reply sees: the compare failed on the key
   * the first try made with our lease (0x1234), which leads. */
  const fake_route made_before = {
      "/v3/kv/txn", SEND, "200 OK",
      "{\"header\":{\"revision\":\"6\"},\"responses\":[{\"response_range\":{\"kvs\":[" LEASE_KV "]}},"
      "{\"response_range\":{\"kvs\":[" LEASE_KV "]}}]}"};
  after_good_grant(&made_before, 1, call_lease_acquire, 0, "", CALL_MS);
  CHECK_EQ(lease_token, 5u);
}

/* The watch stream: an {"error":..} object inside a 200 reply, garbage
 * between messages, a stream that stalls. */
static void garbage_in_the_watch_stream(void) {
  const fake_route range = {"/v3/kv/range", SEND, "200 OK", EMPTY_RANGE};
  struct {
    const char *body;
    fake_mode mode;
    int code;
    const char *says;
  } cases[] = {
      {"{\"result\":{\"created\":true}}\n{\"error\":{\"grpc_code\":13,\"http_code\":500,"
       "\"message\":\"boom in the stream\",\"http_status\":\"Internal Server Error\"}}\n",
       SEND, BATON_EREFUSED, "boom in the stream"},
      {"{\"result\":{\"created\":true}}\n{\"error\":{\"grpc_code\":\"x\"}}\n", SEND, BATON_EPROTO,
       "\"code\""},
      {"{\"result\":{\"created\":true}}\nnot json at all\n", SEND, BATON_EPROTO, "not JSON"},
      {"{\"result\":{\"events\":[{\"type\":\"EXPLODE\",\"kv\":{\"key\":\"YQ==\"}}]}}\n", SEND,
       BATON_EPROTO, "\"type\""},
      {"{\"result\":{\"events\":{}}}\n", SEND, BATON_EPROTO, "\"events\" is not an array"},
      /* The stream's read or the watch's deadline check says it first:
       * "no event in time" or "no matching event in time". */
      {"{\"result\":{\"created\":true}}\n", STALL, BATON_ETIMEDOUT, "event in time"},
      {"{\"result\":{\"created\":true}}\n{\"result\":{\"created\":true}}\n", TRICKLE,
       BATON_ETIMEDOUT, "event in time"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    /* STALL answers nothing at all; a stream that stalls after its first
     * message is TRICKLE. */
    const fake_route routes[] = {range, {"/v3/watch", cases[i].mode, "200 OK", cases[i].body}};
    after_good_grant(routes, 2, call_wait, cases[i].code, cases[i].says, CALL_MS);
  }
}

/* A stream that keeps ending is retried with back-off and reported, by the
 * deadline, with the last member's error. */
static void watch_that_keeps_ending(void) {
  const fake_route routes[] = {
      {"/v3/lease/grant", SEND, "200 OK", GRANT_OK},
      {"/v3/lease/revoke", SEND, "200 OK", "{}"},
      {"/v3/kv/range", SEND, "200 OK", EMPTY_RANGE},
      {"/v3/watch", CUT, "200 OK", "{\"result\":{\"created\":true}}\n"},
      {NULL, SEND, NULL, NULL},
  };
  fake_server f;
  kit_session k;
  baton_error err = {0};
  if (!fake_session(&f, routes, &k)) return;
  int before = atomic_load(&f.requests);
  int64_t t0 = kit_now_ms();
  int rc = call_wait(&k, &err);
  int64_t took = kit_ms_since(t0);
  int streams = atomic_load(&f.requests) - before - 1;
  printf("  -> %d in %lld ms after %d streams: %s\n", rc, (long long)took, streams, err.message);
  CHECK_EQ(rc, BATON_ETIMEDOUT);
  CHECK_CONTAINS(err.message, "/v3/watch"); /* the last stream's fate, cut or timed out */
  CHECK_LT(took, CALL_MS + TEST_SLACK_MS);
  CHECK_GE(streams, 2);
  CHECK_LT(streams, 40); /* backed off, not spinning */
  kit_close(&k);
  fake_stop(&f);
}

int main(int argc, char **argv) {
  static const test_case cases[] = {
      {"garbage_grant_replies", garbage_grant_replies},
      {"garbage_after_open", garbage_after_open},
      {"garbage_around_a_fixed_lease", garbage_around_a_fixed_lease},
      {"garbage_in_the_watch_stream", garbage_in_the_watch_stream},
      {"watch_that_keeps_ending", watch_that_keeps_ending},
      {NULL, NULL},
  };
  return test_main(argc, argv, cases);
}
