/* http.c — the etcd backend's HTTP transport over libcurl: pooled
 * keep-alive conns, member fail-over, auth tokens, deadlines, streams. */
#include "http.h"
#include "lazy_curl.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATON_ETCD_POOL_MAX 8          /* idle caller conns kept */
#define BATON_ETCD_TOKEN_MAX 512       /* bytes of an auth token */
#define BATON_ETCD_BUF_KEEP (1u << 20) /* a conn keeps a reply buffer up to this size */
#define BATON_ETCD_BUF_FIRST 16384     /* a reply buffer's first size: most replies fit */
#define BATON_ETCD_PORT 2379           /* when the URI names none: etcd's client port */

typedef struct member {
  char *base; /* "http://127.0.0.1:2379" */
  char *name; /* "127.0.0.1:2379", for messages */
} member;

struct baton_etcd_http {
  const baton_config *cfg;
  bool tls;
  member members[BATON_URI_MAX_HOSTS];
  size_t nmembers;
  atomic_size_t current;     /* index of the member requests go to */
  pthread_mutex_t mu;        /* guards idle, nidle, token, token_gen */
  baton_etcd_conn *idle;     /* pooled conns, linked by next */
  size_t nidle;
  baton_etcd_conn *renew;    /* the renew lane's own conn */
  char token[BATON_ETCD_TOKEN_MAX];     /* "" when none */
  uint64_t token_gen;        /* bumped on every new token */
  atomic_uint_fast64_t requests;
  atomic_uint_fast64_t connects;
};

struct baton_etcd_conn {
  baton_etcd_http *h;
  CURL *easy;
  CURLM *multi;
  struct curl_slist *headers;  /* of the request under way */
  char *buf;                   /* reply bytes not yet consumed */
  size_t len, cap;
  bool overflow;               /* the reply outgrew BATON_ETCD_MAX_REPLY */
  bool added;                  /* easy is in multi */
  bool done;                   /* the transfer ended; see result */
  CURLcode result;
  size_t member;               /* member of the last request */
  uint64_t token_gen;          /* token_gen sent with the last request */
  const char *path;            /* of the last request, for messages */
  char errbuf[CURL_ERROR_SIZE];
  baton_etcd_conn *next;
};

/* ---- Global set-up ------------------------------------------------------- */

BATON_DLIB_DEFINE(baton__curl, BATON_CURL_SYMS, "libcurl.so.4", "etcd:// needs libcurl")

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* ---- Descriptors ---------------------------------------------------------
 * None may outlive an exec: a program that the application forks and
 * execs would inherit connections that carry our auth token. libcurl 7.88
 * makes three kinds of descriptor:
 *   - its connections: made here, close-on-exec from the start
 *     (CURLOPT_OPENSOCKETFUNCTION; libcurl's default close() ends them);
 *   - each multi handle's wake-up socketpair, made in curl_multi_init()
 *     without SOCK_CLOEXEC and out of our reach: found and marked right
 *     after (multi_new), when exactly those two ends are new (another
 *     of our conns made meanwhile waits: see baton__fds_begin; an
 *     application thread making sockets of the same kind meanwhile leaves
 *     both unmarked rather than mark one of its). A program forked and
 *     exec'd by another thread within those microseconds, once per conn,
 *     inherits the pair;
 *   - the threaded resolver's socketpair, open while a host name (not an
 *     IP address, not "localhost") resolves, across the calls that wait
 *     for the answer: not marked. It carries no secret. libcurl caches an
 *     answer for a minute per multi handle. */

/* libcurl's sockets for its connections. */
static curl_socket_t open_socket(void *udata, curlsocktype purpose, struct curl_sockaddr *a) {
  (void)udata;
  (void)purpose;
  return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* Whether fd is a non-blocking Unix stream socket, as the wake-up pair's
 * two ends are. */
static bool wakeup_end(int fd, const void *arg) {
  (void)arg;
  int domain = 0, type = 0, fl = fcntl(fd, F_GETFL);
  socklen_t len = sizeof domain;
  if (fl < 0 || (fl & O_NONBLOCK) == 0) return false;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain != AF_UNIX) return false;
  len = sizeof type;
  return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

/* A multi handle whose wake-up pair is close-on-exec; NULL when out of
 * memory. */
static CURLM *multi_new(void) {
  baton_fds before;
  if (baton__fds_begin(&before, BATON_FDS_CURL_MULTI) != 0) return NULL;
  CURLM *m = curl_multi_init();
  baton__fds_end(&before, m != NULL ? wakeup_end : NULL, NULL, 2);
  return m;
}

/* ---- Conns ---------------------------------------------------------------- */

static size_t on_data(char *p, size_t size, size_t n, void *udata) {
  baton_etcd_conn *c = udata;
  size_t bytes = size * n;
  if (bytes > BATON_ETCD_MAX_REPLY - c->len) {
    c->overflow = true;
    return 0; /* libcurl ends the transfer with CURLE_WRITE_ERROR */
  }
  if (c->len + bytes + 1 > c->cap) {
    size_t cap = c->cap ? c->cap : BATON_ETCD_BUF_FIRST;
    while (cap < c->len + bytes + 1) cap *= 2;
    char *nb = baton__realloc(c->buf, cap);
    if (nb == NULL) return 0;
    c->buf = nb;
    c->cap = cap;
  }
  memcpy(c->buf + c->len, p, bytes);
  c->len += bytes;
  c->buf[c->len] = '\0';
  return bytes;
}

static void conn_free(baton_etcd_conn *c) {
  if (c == NULL) return;
  if (c->added) curl_multi_remove_handle(c->multi, c->easy);
  if (c->easy != NULL) curl_easy_cleanup(c->easy);
  if (c->multi != NULL) curl_multi_cleanup(c->multi);
  curl_slist_free_all(c->headers);
  baton__free(c->buf);
  baton__free(c);
}

static baton_etcd_conn *conn_new(baton_etcd_http *h) {
  baton_etcd_conn *c = baton__calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  c->h = h;
  c->easy = curl_easy_init();
  c->multi = multi_new();
  if (c->easy == NULL || c->multi == NULL) {
    conn_free(c);
    return NULL;
  }
  CURL *e = c->easy;
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  const baton_config *cfg = h->cfg;
  if (h->tls) {
    if (cfg->tls_ca_file != NULL) curl_easy_setopt(e, CURLOPT_CAINFO, cfg->tls_ca_file);
    if (cfg->tls_cert_file != NULL) curl_easy_setopt(e, CURLOPT_SSLCERT, cfg->tls_cert_file);
    if (cfg->tls_key_file != NULL) curl_easy_setopt(e, CURLOPT_SSLKEY, cfg->tls_key_file);
  }
  /* The multi handle keeps the connection cache; one connection is all a
   * conn ever needs. */
  curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, 1L);
  return c;
}

baton_etcd_conn *baton__etcd_conn_get(baton_etcd_http *h) {
  pthread_mutex_lock(&h->mu);
  baton_etcd_conn *c = h->idle;
  if (c != NULL) {
    h->idle = c->next;
    h->nidle--;
  }
  pthread_mutex_unlock(&h->mu);
  return c != NULL ? c : conn_new(h);
}

baton_etcd_conn *baton__etcd_conn_renew(baton_etcd_http *h) { return h->renew; }

void baton__etcd_conn_put(baton_etcd_http *h, baton_etcd_conn *c) {
  if (c == NULL || c == h->renew) return;
  baton__etcd_stream_stop(c);
  pthread_mutex_lock(&h->mu);
  bool keep = h->nidle < BATON_ETCD_POOL_MAX;
  if (keep) {
    c->next = h->idle;
    h->idle = c;
    h->nidle++;
  }
  pthread_mutex_unlock(&h->mu);
  if (!keep) conn_free(c);
}

size_t baton__etcd_http_members(const baton_etcd_http *h) { return h->nmembers; }

bool baton__etcd_conn_stale(const baton_etcd_conn *c) {
  return atomic_load(&c->h->current) % c->h->nmembers != c->member;
}

const char *baton__etcd_conn_member(const baton_etcd_conn *c) {
  return c->h->members[c->member].name;
}

void baton__etcd_conn_wake(baton_etcd_conn *c) { curl_multi_wakeup(c->multi); }

void baton__etcd_http_next_member(baton_etcd_http *h, baton_etcd_conn *c,
                                  const baton_error *why) {
  size_t was = c->member, next = (c->member + 1) % h->nmembers;
  if (!atomic_compare_exchange_strong(&h->current, &was, next) || next == c->member) return;
  /* The error names the member already ("etcd HOST:PORT /path: ..."). */
  const char *left = h->members[c->member].name, *what = "it failed";
  if (why != NULL && why->message[0] != '\0') {
    what = why->message;
    size_t n = strlen(left);
    if (strncmp(what, "etcd ", 5) == 0 && strncmp(what + 5, left, n) == 0 && what[5 + n] == ' ')
      what += 6 + n;
  }
  baton__log(h->cfg, BATON_LOG_WARN, "etcd: left member %s (%s); requests go to %s now", left,
             what, h->members[next].name);
}

/* ---- Open and close -------------------------------------------------------- */

static int check_file(const char *what, const char *path, baton_error *err) {
  if (path == NULL) return 0;
  if (access(path, R_OK) != 0)
    return baton__error(err, BATON_EINVAL, "etcds: %s file '%.100s' is not readable", what,
                        path);
  return 0;
}

static int check_tls(const baton_uri *uri, const baton_config *cfg, bool tls, baton_error *err) {
  static const char *const allowed[] = {"cacert", "cert", "key", NULL};
  int rc = baton__uri_check_params(uri, allowed, err);
  if (rc != 0) return rc;
  bool any = cfg->tls_ca_file != NULL || cfg->tls_cert_file != NULL || cfg->tls_key_file != NULL;
  if (!tls && any)
    return baton__error(err, BATON_EINVAL,
                        "etcd://: cacert, cert and key are TLS settings; use etcds://");
  if ((cfg->tls_cert_file != NULL) != (cfg->tls_key_file != NULL))
    return baton__error(err, BATON_EINVAL, "etcds: a client cert needs its key and vice versa");
  rc = check_file("cacert", cfg->tls_ca_file, err);
  if (rc == 0) rc = check_file("cert", cfg->tls_cert_file, err);
  if (rc == 0) rc = check_file("key", cfg->tls_key_file, err);
  return rc;
}

int baton__etcd_http_open(baton_etcd_http **out, const baton_uri *uri, const baton_config *cfg,
                          baton_error *err) {
  *out = NULL;
  bool tls = strcmp(uri->scheme, "etcds") == 0;
  int rc = check_tls(uri, cfg, tls, err);
  if (rc != 0) return rc;
  rc = baton__dlib_load(&baton__curl_lib, err);
  if (rc != 0) return rc;
  pthread_once(&curl_once, curl_init);
  if (curl_init_rc != CURLE_OK)
    return baton__error(err, BATON_ECONNECT, "libcurl initialisation failed: %s",
                        curl_easy_strerror(curl_init_rc));
  baton_etcd_http *h = baton__calloc(1, sizeof *h);
  if (h == NULL) return baton__error(err, BATON_ENOMEM, "etcd: out of memory");
  h->cfg = cfg;
  h->tls = tls;
  pthread_mutex_init(&h->mu, NULL);
  for (size_t i = 0; i < uri->nhosts; i++) {
    const baton_uri_host *hp = &uri->hosts[i];
    bool v6 = strchr(hp->host, ':') != NULL;
    char name[300], base[320];
    snprintf(name, sizeof name, "%s%s%s:%d", v6 ? "[" : "", hp->host, v6 ? "]" : "",
             hp->port != 0 ? hp->port : BATON_ETCD_PORT);
    snprintf(base, sizeof base, "%s://%s", tls ? "https" : "http", name);
    member *m = &h->members[h->nmembers++];
    m->name = baton__strdup(name);
    m->base = baton__strdup(base);
    if (m->name == NULL || m->base == NULL) {
      baton__etcd_http_close(h);
      return baton__error(err, BATON_ENOMEM, "etcd: out of memory");
    }
  }
  h->renew = conn_new(h);
  if (h->renew == NULL) {
    baton__etcd_http_close(h);
    return baton__error(err, BATON_ENOMEM, "etcd: cannot create a libcurl handle");
  }
  *out = h;
  return 0;
}

void baton__etcd_http_close(baton_etcd_http *h) {
  if (h == NULL) return;
  while (h->idle != NULL) {
    baton_etcd_conn *c = h->idle;
    h->idle = c->next;
    conn_free(c);
  }
  conn_free(h->renew);
  for (size_t i = 0; i < h->nmembers; i++) {
    baton__free(h->members[i].base);
    baton__free(h->members[i].name);
  }
  pthread_mutex_destroy(&h->mu);
  memset(h->token, 0, sizeof h->token);
  baton__free(h);
}

void baton__etcd_http_stats(baton_etcd_http *h, baton_etcd_stats *out) {
  out->requests = atomic_load(&h->requests);
  out->connects = atomic_load(&h->connects);
}

/* ---- One transfer ------------------------------------------------------------ */

/* Time left for libcurl in ms: at least 1, since 0 would mean "no limit". */
static long ms_left(int64_t deadline) {
  int ms = baton__ms_until(deadline);
  return ms > 0 ? ms : 1;
}

static bool add_header(baton_etcd_conn *c, const char *line) {
  struct curl_slist *l = curl_slist_append(c->headers, line);
  if (l == NULL) return false;
  c->headers = l;
  return true;
}

/* Start a POST on the current member. `auth` sends the token held now. */
static int begin(baton_etcd_conn *c, const char *path, const char *body, bool auth, bool stream,
                 int64_t deadline, baton_error *err) {
  baton_etcd_http *h = c->h;
  baton__etcd_stream_stop(c);
  c->member = atomic_load(&h->current) % h->nmembers;
  c->path = path;
  c->len = 0;
  c->overflow = false;
  c->done = false;
  c->result = CURLE_OK;
  c->errbuf[0] = '\0';
  if (c->cap > BATON_ETCD_BUF_KEEP) {
    baton__free(c->buf);
    c->buf = NULL;
    c->cap = 0;
  }
  char url[400], authz[BATON_ETCD_TOKEN_MAX + 32] = "";
  snprintf(url, sizeof url, "%s%s", h->members[c->member].base, path);
  pthread_mutex_lock(&h->mu);
  c->token_gen = h->token_gen;
  if (auth && h->token[0] != '\0') snprintf(authz, sizeof authz, "Authorization: %s", h->token);
  pthread_mutex_unlock(&h->mu);
  /* Empty "Expect:" stops libcurl from waiting for 100-continue. */
  bool ok = add_header(c, "Content-Type: application/json") && add_header(c, "Expect:") &&
            (authz[0] == '\0' || add_header(c, authz)) &&
            (!stream || add_header(c, "Grpc-Metadata-hasleader: true"));
  memset(authz, 0, sizeof authz);
  if (!ok) return baton__error(err, BATON_ENOMEM, "etcd: out of memory for headers");
  CURL *e = c->easy;
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
  /* A stream outlives the caller's body text: let libcurl copy it. */
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
  curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms_left(deadline));
  int64_t connect = h->cfg->connect_timeout_ns / BATON_NS_PER_MS;
  long left = ms_left(deadline);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                   connect > 0 && connect < left ? (long)connect : left);
  if (curl_multi_add_handle(c->multi, e) != CURLM_OK)
    return baton__error(err, BATON_ENOMEM, "etcd: cannot start a request");
  c->added = true;
  atomic_fetch_add(&h->requests, 1);
  return 0;
}

static void collect(baton_etcd_conn *c) {
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(c->multi, &left)) != NULL)
    if (m->msg == CURLMSG_DONE && m->easy_handle == c->easy) {
      c->done = true;
      c->result = m->data.result;
      long n = 0;
      if (curl_easy_getinfo(c->easy, CURLINFO_NUM_CONNECTS, &n) == CURLE_OK && n > 0)
        atomic_fetch_add(&c->h->connects, (uint_fast64_t)n);
    }
}

/* Wait on the multi handle (and cancel_fd) for at most `ms`. */
static int poll_once(baton_etcd_conn *c, int ms, int cancel_fd) {
  struct curl_waitfd w = {.fd = cancel_fd, .events = CURL_WAIT_POLLIN, .revents = 0};
  curl_multi_poll(c->multi, cancel_fd >= 0 ? &w : NULL, cancel_fd >= 0 ? 1 : 0, ms, NULL);
  return w.revents != 0 ? BATON_ECANCELED : 0;
}

/* Drive the transfer until it is done, or (stream) until new bytes came or
 * a poll returned: 0 (done or data), 1 (nothing yet), ETIMEDOUT, ECANCELED.
 * Each pass that finds nothing polls until the deadline at the most. */
static int drive(baton_etcd_conn *c, bool stream, int64_t deadline, int cancel_fd) {
  for (bool first = true;; first = false) {
    size_t before = c->len;
    int running = 0;
    if (curl_multi_perform(c->multi, &running) != CURLM_OK) {
      c->done = true;
      c->result = CURLE_OUT_OF_MEMORY;
    }
    collect(c);
    if (c->done || (stream && c->len > before)) return 0;
    if (stream && !first) return 1; /* polled once already: let the caller look */
    int ms = baton__ms_until(deadline);
    if (ms == 0) return BATON_ETIMEDOUT;
    if (poll_once(c, ms, cancel_fd) != 0) return BATON_ECANCELED;
  }
}

void baton__etcd_stream_stop(baton_etcd_conn *c) {
  if (c->added) curl_multi_remove_handle(c->multi, c->easy);
  c->added = false;
  curl_slist_free_all(c->headers);
  c->headers = NULL;
}

/* What a failed transfer means, and whether it is worth another member. */
static int transfer_error(baton_etcd_conn *c, bool *other_member, bool *sent,
                          baton_error *err) {
  const char *detail = c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(c->result);
  *other_member = true;
  *sent = true;
  switch (c->result) {
    case CURLE_WRITE_ERROR:
      *other_member = false;
      if (c->overflow)
        return baton__error(err, BATON_EPROTO, "reply larger than %zu bytes",
                            BATON_ETCD_MAX_REPLY);
      return baton__error(err, BATON_ENOMEM, "out of memory for the reply");
    case CURLE_OPERATION_TIMEDOUT:
      return baton__error(err, BATON_ETIMEDOUT, "no reply in time (%s)", detail);
    case CURLE_PARTIAL_FILE:
      *other_member = false;
      return baton__error(err, BATON_EPROTO, "truncated reply (%s)", detail);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
      *sent = false;
      return baton__error(err, BATON_ECONNECT, "connect: %s", detail);
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_UNSUPPORTED_PROTOCOL:
      *other_member = false;
      return baton__error(err, BATON_EPROTO, "not an HTTP reply (%s)", detail);
    default:
      return baton__error(err, BATON_ECONNECT, "%s", detail);
  }
}

/* Prefix the message with the member and the call. */
static int where(const baton_etcd_conn *c, int rc, baton_error *err) {
  if (rc == 0 || err == NULL) return rc;
  char what[360];
  snprintf(what, sizeof what, "etcd %s %s", baton__etcd_conn_member(c), c->path);
  baton__error_prefix(err, what);
  return rc;
}

int baton__etcd_conn_blame(const baton_etcd_conn *c, int rc, baton_error *err) {
  return where(c, rc, err);
}

/* One request on the current member; *retry says whether another member
 * may do better. */
static int attempt(baton_etcd_conn *c, const char *path, const char *body, bool auth,
                   baton_etcd_retry retry, cJSON **root, const cJSON **payload, int *grpc,
                   bool *other_member, int64_t deadline, int cancel_fd, baton_error *err) {
  *other_member = false;
  *grpc = 0;
  int rc = begin(c, path, body, auth, false, deadline, err);
  if (rc != 0) return rc;
  rc = drive(c, false, deadline, cancel_fd);
  baton__etcd_stream_stop(c);
  if (rc == BATON_ETIMEDOUT) {
    /* A member that does not answer in time may be paused or cut off:
     * the next request tries another. */
    rc = where(c, baton__error(err, BATON_ETIMEDOUT, "no reply in time"), err);
    baton__etcd_http_next_member(c->h, c, err);
    return rc;
  }
  if (rc == BATON_ECANCELED) return baton__error(err, rc, "cancelled");
  if (c->result != CURLE_OK) {
    bool sent;
    rc = transfer_error(c, other_member, &sent, err);
    if (sent && retry == BATON_ETCD_ONCE) *other_member = false;
    rc = where(c, rc, err);
    if (rc == BATON_ETIMEDOUT) baton__etcd_http_next_member(c->h, c, err);
    return rc;
  }
  long status = 0;
  curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
  rc = baton__etcd_gw_parse(root, payload, c->buf != NULL ? c->buf : "", c->len, status, grpc,
                            err);
  *other_member = *grpc == BATON_ETCD_GRPC_UNAVAILABLE && retry == BATON_ETCD_IDEMPOTENT;
  return where(c, rc, err);
}

/* The request loop: fail over between members within the deadline. */
static int call(baton_etcd_http *h, baton_etcd_conn *c, const char *path, const char *body,
                bool auth, baton_etcd_retry retry, cJSON **root, const cJSON **payload,
                int *grpc_out, int64_t deadline, int cancel_fd, baton_error *err) {
  bool relogged = false;
  *grpc_out = 0;
  int rc = BATON_ETIMEDOUT;
  size_t failures = 0;
  for (int i = 0; i < (int)h->nmembers + 2; i++) {
    if (baton__now() >= deadline)
      return i == 0 ? baton__error(err, BATON_ETIMEDOUT, "etcd %s: deadline already passed", path)
                    : rc;
    int grpc;
    bool other;
    rc = attempt(c, path, body, auth, retry, root, payload, &grpc, &other, deadline, cancel_fd,
                 err);
    *grpc_out = grpc;
    if (rc == 0) return 0;
    if (auth && grpc == BATON_ETCD_GRPC_UNAUTHENTICATED && h->cfg->username != NULL &&
        !relogged) {
      relogged = true;
      int lrc = baton__etcd_http_relogin(h, c, deadline, err);
      if (lrc != 0) return lrc;
      continue;
    }
    if (!other || ++failures >= h->nmembers) break;
    baton__etcd_http_next_member(h, c, err);
  }
  if (rc == BATON_EAUTH && h->cfg->username == NULL && err != NULL)
    baton__error_prefix(err, "the server wants credentials (etcd://user:password@...)");
  return rc;
}

int baton__etcd_http_call(baton_etcd_http *h, baton_etcd_conn *c, const char *path,
                          const char *body, baton_etcd_retry retry, baton_etcd_decode decode,
                          void *out, int64_t deadline, int cancel_fd, baton_error *err) {
  int grpc;
  cJSON *root = NULL;
  const cJSON *payload = NULL;
  int rc = call(h, c, path, body, true, retry, &root, &payload, &grpc, deadline, cancel_fd, err);
  if (rc == 0 && decode != NULL) rc = where(c, decode(payload, out, err), err);
  cJSON_Delete(root);
  return rc;
}

/* ---- Auth ---------------------------------------------------------------------- */

static int authenticate(baton_etcd_http *h, baton_etcd_conn *c, int64_t deadline,
                        baton_error *err) {
  const baton_config *cfg = h->cfg;
  baton_etcd_str body = {0};
  baton__etcd_str_cat(&body, "{\"name\":");
  baton__etcd_str_json(&body, cfg->username);
  baton__etcd_str_cat(&body, ",\"password\":");
  baton__etcd_str_json(&body, cfg->password != NULL ? cfg->password : "");
  baton__etcd_str_cat(&body, "}");
  if (body.oom) {
    baton__etcd_str_free(&body);
    return baton__error(err, BATON_ENOMEM, "etcd: out of memory");
  }
  cJSON *root = NULL;
  const cJSON *p;
  int grpc;
  int rc = call(h, c, "/v3/auth/authenticate", body.p, false, BATON_ETCD_IDEMPOTENT, &root, &p,
                &grpc, deadline, -1, err);
  memset(body.p, 0, body.len); /* the password */
  baton__etcd_str_free(&body);
  char token[BATON_ETCD_TOKEN_MAX] = "";
  if (rc == 0) {
    rc = where(c, baton__etcd_gw_auth(p, token, sizeof token, err), err);
  } else if (grpc == BATON_ETCD_GRPC_FAILED_PRECONDITION) {
    rc = 0; /* as etcd's own client: credentials are not needed then */
  } else if (rc == BATON_EAUTH && err != NULL) {
    char what[200];
    snprintf(what, sizeof what, "authentication as user '%.64s' failed", cfg->username);
    baton__error_prefix(err, what);
  }
  cJSON_Delete(root);
  if (rc != 0) return rc;
  pthread_mutex_lock(&h->mu);
  memcpy(h->token, token, sizeof token);
  h->token_gen++;
  pthread_mutex_unlock(&h->mu);
  memset(token, 0, sizeof token);
  return 0;
}

int baton__etcd_http_login(baton_etcd_http *h, baton_etcd_conn *c, int64_t deadline,
                           baton_error *err) {
  if (h->cfg->username == NULL) return 0;
  return authenticate(h, c, deadline, err);
}

int baton__etcd_http_relogin(baton_etcd_http *h, baton_etcd_conn *c, int64_t deadline,
                             baton_error *err) {
  if (h->cfg->username == NULL) return 0;
  pthread_mutex_lock(&h->mu);
  bool fresh = h->token_gen != c->token_gen;
  pthread_mutex_unlock(&h->mu);
  return fresh ? 0 : authenticate(h, c, deadline, err);
}

/* ---- Streams --------------------------------------------------------------------- */

int baton__etcd_stream_start(baton_etcd_conn *c, const char *path, const char *body,
                             int64_t deadline, baton_error *err) {
  return begin(c, path, body, true, true, deadline, err);
}

/* Take one complete message off the front of the buffer, if there is one. */
static int take_message(baton_etcd_conn *c, cJSON **root, const cJSON **payload, int *grpc,
                        bool *got, baton_error *err) {
  *got = false;
  long n = baton__etcd_gw_split(c->buf != NULL ? c->buf : "", c->len);
  if (n == 0) return 0;
  if (n < 0) return where(c, baton__error(err, BATON_EPROTO, "stream data is not JSON"), err);
  long status = 0;
  curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
  int rc = baton__etcd_gw_parse(root, payload, c->buf, (size_t)n, status, grpc, err);
  memmove(c->buf, c->buf + n, c->len - (size_t)n);
  c->len -= (size_t)n;
  c->buf[c->len] = '\0';
  *got = true;
  return where(c, rc, err);
}

int baton__etcd_stream_next(baton_etcd_conn *c, cJSON **root, const cJSON **payload, int *grpc,
                            int64_t deadline, int cancel_fd, baton_error *err) {
  *root = NULL;
  *grpc = 0;
  bool got;
  int rc = take_message(c, root, payload, grpc, &got, err);
  if (got || rc != 0) return rc;
  if (!c->done) {
    rc = drive(c, true, deadline, cancel_fd);
    if (rc == BATON_ETIMEDOUT) return where(c, baton__error(err, rc, "no event in time"), err);
    if (rc == BATON_ECANCELED) return baton__error(err, rc, "cancelled");
    rc = take_message(c, root, payload, grpc, &got, err);
    if (got || rc != 0) return rc;
    if (!c->done) return 1;
  }
  if (c->result == CURLE_OK) {
    if (c->len > 0)
      return where(c, baton__error(err, BATON_EPROTO, "stream ended inside a message"), err);
    return where(c, baton__error(err, BATON_ECONNECT, "the member ended the stream"), err);
  }
  /* A stream cut short (member killed, connection reset) is a member
   * gone, not garbage: the caller resumes elsewhere. */
  bool other, sent;
  rc = transfer_error(c, &other, &sent, err);
  if (rc == BATON_ETIMEDOUT) return where(c, baton__error(err, rc, "no event in time"), err);
  if (c->result == CURLE_PARTIAL_FILE) {
    other = true;
    rc = baton__error(err, BATON_ECONNECT, "stream cut: %s",
                      c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(c->result));
  }
  if (other && rc != BATON_ETIMEDOUT && err != NULL) err->code = BATON_ECONNECT;
  return where(c, rc == BATON_ETIMEDOUT ? rc : other ? BATON_ECONNECT : rc, err);
}

int baton__etcd_conn_idle(baton_etcd_conn *c, int64_t until, int64_t deadline, int cancel_fd) {
  int64_t end = until < deadline ? until : deadline;
  int ms = baton__ms_until(end);
  if (poll_once(c, ms, cancel_fd) != 0) return BATON_ECANCELED;
  return baton__now() >= deadline ? BATON_ETIMEDOUT : 1;
}
