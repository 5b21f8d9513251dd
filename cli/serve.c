/* serve.c — `baton run --metrics-listen HOST:PORT`: the client's Prometheus
 * text at GET /metrics, served by libmicrohttpd on a thread of its own.
 * The socket is bound before the backend is opened, so that a taken port
 * is a usage error before anything else happens; the server starts once
 * the client exists and stops before it closes. */
#include "cli.h"
#include "dlib.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_BACKLOG 16
#define CONNECTION_LIMIT 16       /* scrapers, not the public */
#define CONNECTION_TIMEOUT_S 10   /* a client that stops talking */

/* libmicrohttpd is loaded when --metrics-listen is used (lib/dlib.h): the
 * other commands, `baton leader` above all, never map it. */
#define MHD_SYMS(X)                                                                        \
  X(MHD_start_daemon) X(MHD_stop_daemon) X(MHD_create_response_from_buffer)                \
  X(MHD_add_response_header) X(MHD_queue_response) X(MHD_destroy_response)
BATON_DLIB_DECLARE(cli__mhd, MHD_SYMS)
BATON_DLIB_DEFINE(cli__mhd, MHD_SYMS, "libmicrohttpd.so.12", "the metrics server needs libmicrohttpd")
#define MHD_start_daemon (cli__mhd.MHD_start_daemon)
#define MHD_stop_daemon (cli__mhd.MHD_stop_daemon)
#define MHD_create_response_from_buffer (cli__mhd.MHD_create_response_from_buffer)
#define MHD_add_response_header (cli__mhd.MHD_add_response_header)
#define MHD_queue_response (cli__mhd.MHD_queue_response)
#define MHD_destroy_response (cli__mhd.MHD_destroy_response)

/* Split "HOST:PORT", "[V6]:PORT", ":PORT" or "PORT" into host (NULL:
 * loopback) and port. 0, or -1 with a reason. */
static int split(const char *text, char *host, size_t size, const char **port, char *why,
                 size_t why_size) {
  const char *colon = strrchr(text, ':');
  const char *h = text;
  size_t hlen = colon != NULL ? (size_t)(colon - text) : 0;
  *port = colon != NULL ? colon + 1 : text;
  if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
    h++;
    hlen -= 2;
  }
  if (hlen >= size) {
    snprintf(why, why_size, "the host is too long");
    return -1;
  }
  memcpy(host, h, hlen);
  host[hlen] = '\0';
  char *end = NULL;
  long p = strtol(*port, &end, 10);
  if (**port == '\0' || *end != '\0' || p < 1 || p > 65535) {
    snprintf(why, why_size, "expected HOST:PORT with a port in 1..65535");
    return -1;
  }
  return 0;
}

int cli_serve_bind(cli_server *sv, const char *address, char *why, size_t why_size) {
  memset(sv, 0, sizeof *sv);
  sv->fd = -1;
  char host[256];
  const char *port;
  if (split(address, host, sizeof host, &port, why, why_size) != 0) return -1;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  struct addrinfo *list = NULL;
  int rc = getaddrinfo(host[0] != '\0' ? host : "127.0.0.1", port, &hints, &list);
  if (rc != 0) {
    snprintf(why, why_size, "%s", gai_strerror(rc));
    return -1;
  }
  int e = 0;
  for (struct addrinfo *ai = list; ai != NULL && sv->fd < 0; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    ai->ai_protocol);
    if (fd < 0) {
      e = errno;
      continue;
    }
    /* Restarting on a port in TIME_WAIT is fine; sharing a listening
     * port is not: without SO_REUSEPORT a second bind fails. */
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, LISTEN_BACKLOG) == 0) {
      sv->fd = fd;
    } else {
      e = errno;
      close(fd);
    }
  }
  freeaddrinfo(list);
  if (sv->fd < 0) {
    snprintf(why, why_size, "%s", strerror(e != 0 ? e : EADDRNOTAVAIL));
    return -1;
  }
  return 0;
}

/* GET /metrics: the client's text now; anything else is 404 or 405. */
static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state) {
  (void)version;
  (void)upload;
  (void)upload_size;
  (void)state;
  cli_server *sv = cls;
  unsigned status = MHD_HTTP_OK;
  char *body = NULL;
  size_t len = 0;
  const char *type = "text/plain; version=0.0.4; charset=utf-8";
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    status = MHD_HTTP_METHOD_NOT_ALLOWED;
  } else if (strcmp(url, "/metrics") != 0) {
    status = MHD_HTTP_NOT_FOUND;
  } else {
    /* Sized by a first call, then written, with room to spare: between
     * the two calls figures change and may take more digits. */
    size_t need = 0;
    size_t cap = 0;
    if (baton_client_metrics(sv->client, NULL, 0, &need, NULL) == 0 &&
        (body = malloc(cap = need + need / 2 + 1024)) != NULL &&
        baton_client_metrics(sv->client, body, cap, &len, NULL) == 0 && len < cap) {
    } else {
      free(body);
      body = NULL;
      len = 0;
      status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
  }
  if (body == NULL) {
    static const char *const texts[] = {"not found: try /metrics\n", "method not allowed\n",
                                        "out of memory\n"};
    const char *t = status == MHD_HTTP_NOT_FOUND        ? texts[0]
                    : status == MHD_HTTP_METHOD_NOT_ALLOWED ? texts[1]
                                                        : texts[2];
    len = strlen(t);
    body = strdup(t);
    type = "text/plain; charset=utf-8";
    if (body == NULL) len = 0;
  }
  struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
  if (r == NULL) {
    free(body);
    return MHD_NO;
  }
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  enum MHD_Result ok = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return ok;
}

int cli_serve_start(cli_server *sv, baton_client *client, char *why, size_t why_size) {
  sv->client = client;
  baton_error err;
  if (baton__dlib_load(&cli__mhd_lib, &err) != 0) {
    snprintf(why, why_size, "%s", err.message);
    return -1;
  }
  sv->daemon = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC, 0, NULL, NULL, answer, sv,
      MHD_OPTION_LISTEN_SOCKET, (MHD_socket)sv->fd, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned)CONNECTION_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
      MHD_OPTION_END);
  if (sv->daemon == NULL) {
    snprintf(why, why_size, "cannot start the HTTP server");
    return -1;
  }
  return 0;
}

void cli_serve_stop(cli_server *sv) {
  if (sv->daemon != NULL) {
    /* It closes the listening socket it was given. */
    MHD_stop_daemon(sv->daemon);
    sv->daemon = NULL;
    sv->fd = -1;
  }
  if (sv->fd >= 0) close(sv->fd);
  sv->fd = -1;
}
