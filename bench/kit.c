/* kit.c — the shared benchmark kit: clock, arguments, statistics, JSON,
 * /proc readings and server counters over plain sockets. */
#include "kit.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- time -------------------------------------------------------------- */

int64_t kit_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void kit_sleep_ms(int ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
  for (int i = 0; i < 100 && nanosleep(&ts, &ts) != 0 && errno == EINTR; i++) {
  }
}

/* ---- arguments --------------------------------------------------------- */

const char *kit_arg(int argc, char **argv, const char *key, const char *def) {
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], key) == 0) return argv[i + 1];
  return def;
}

long kit_arg_long(int argc, char **argv, const char *key, long def) {
  const char *v = kit_arg(argc, argv, key, NULL);
  if (v == NULL) return def;
  char *end;
  long n = strtol(v, &end, 10);
  if (*v == '\0' || *end != '\0') kit_die("%s: not a number: %s", key, v);
  return n;
}

double kit_arg_double(int argc, char **argv, const char *key, double def) {
  const char *v = kit_arg(argc, argv, key, NULL);
  if (v == NULL) return def;
  char *end;
  double d = strtod(v, &end);
  if (*v == '\0' || *end != '\0') kit_die("%s: not a number: %s", key, v);
  return d;
}

void kit_die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("bench: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

/* ---- statistics -------------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double kit_quantile(const double *v, size_t n, double q) {
  double *sorted = n > 0 ? malloc(n * sizeof *sorted) : NULL;
  if (sorted == NULL) return NAN;
  memcpy(sorted, v, n * sizeof *sorted);
  qsort(sorted, n, sizeof *sorted, cmp_double);
  size_t rank = (size_t)ceil(q * (double)n);
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  double x = sorted[rank - 1];
  free(sorted);
  return x;
}

double kit_mean(const double *v, size_t n) {
  if (n == 0) return NAN;
  double s = 0;
  for (size_t i = 0; i < n; i++) s += v[i];
  return s / (double)n;
}

double kit_stddev(const double *v, size_t n) {
  if (n == 0) return NAN;
  double m = kit_mean(v, n), s = 0;
  for (size_t i = 0; i < n; i++) s += (v[i] - m) * (v[i] - m);
  return sqrt(s / (double)n);
}

/* ---- JSON -------------------------------------------------------------- */

static void json_key(kit_json *j, const char *key) {
  fprintf(j->f, "%s\"%s\":", j->first ? "" : ",", key);
  j->first = false;
}

void kit_json_begin(kit_json *j, FILE *f) {
  j->f = f;
  j->first = true;
  fputc('{', f);
}

void kit_json_record(kit_json *j, const char *bench, const char *uri) {
  char kind[16] = "?", host[64];
  int port;
  kit_uri_split(uri, kind, sizeof kind, host, sizeof host, &port);
  kit_json_begin(j, stdout);
  kit_json_str(j, "bench", bench);
  kit_json_str(j, "backend", strcmp(kind, "etcds") == 0 ? "etcd" : kind);
}

void kit_json_str(kit_json *j, const char *key, const char *val) {
  json_key(j, key);
  fputc('"', j->f);
  for (const char *p = val; *p != '\0'; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(j->f, "\\%c", *p);
    else if ((unsigned char)*p < 0x20)
      fprintf(j->f, "\\u%04x", (unsigned char)*p);
    else
      fputc(*p, j->f);
  }
  fputc('"', j->f);
}

static void json_double(FILE *f, double v) {
  if (isfinite(v))
    fprintf(f, "%.6g", v);
  else
    fputs("null", f);
}

void kit_json_num(kit_json *j, const char *key, double val) {
  json_key(j, key);
  json_double(j->f, val);
}

void kit_json_int(kit_json *j, const char *key, long long val) {
  json_key(j, key);
  fprintf(j->f, "%lld", val);
}

void kit_json_bool(kit_json *j, const char *key, bool val) {
  json_key(j, key);
  fputs(val ? "true" : "false", j->f);
}

void kit_json_nums(kit_json *j, const char *key, const double *v, size_t n) {
  json_key(j, key);
  fputc('[', j->f);
  for (size_t i = 0; i < n; i++) {
    if (i) fputc(',', j->f);
    json_double(j->f, v[i]);
  }
  fputc(']', j->f);
}

void kit_json_raw(kit_json *j, const char *key, const char *json) {
  json_key(j, key);
  fputs(json, j->f);
}

void kit_json_end(kit_json *j) {
  fputs("}\n", j->f);
  fflush(j->f);
}

/* ---- this process ------------------------------------------------------ */

long kit_proc_status(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  if (f == NULL) return -1;
  char line[256];
  size_t len = strlen(field);
  long v = -1;
  while (fgets(line, sizeof line, f) != NULL)
    if (strncmp(line, field, len) == 0 && line[len] == ':') {
      v = strtol(line + len + 1, NULL, 10);
      break;
    }
  fclose(f);
  return v;
}

double kit_cpu_self(void) {
  struct rusage u;
  if (getrusage(RUSAGE_SELF, &u) != 0) return -1;
  return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double kit_cpu_pid(int pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (f == NULL) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  /* Fields after the command name (which may hold spaces): state is the
   * 3rd, utime the 14th, stime the 15th. */
  char *p = strrchr(buf, ')');
  unsigned long long ut, st;
  if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                          &st) != 2)
    return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

long kit_open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL) return -1;
  long n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - 1; /* the directory's own descriptor */
}

long kit_raise_nofile(void) {
  struct rlimit r;
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return -1;
  r.rlim_cur = r.rlim_max;
  setrlimit(RLIMIT_NOFILE, &r);
  getrlimit(RLIMIT_NOFILE, &r);
  return (long)r.rlim_cur;
}

kit_snap kit_snap_take(void) {
  return (kit_snap){kit_proc_status("VmRSS"), kit_proc_status("Threads"), kit_open_fds()};
}

void kit_json_snap(kit_json *j, const char *key, kit_snap s) {
  char buf[128];
  snprintf(buf, sizeof buf, "{\"rss_kib\":%ld,\"threads\":%ld,\"fds\":%ld}", s.rss_kib, s.threads,
           s.fds);
  kit_json_raw(j, key, buf);
}

/* ---- processes --------------------------------------------------------- */

int kit_read_full(int fd, void *buf, size_t len, int timeout_ms) {
  int64_t end = kit_now() + (int64_t)timeout_ms * 1000000;
  size_t got = 0;
  for (int i = 0; i < 100000 && got < len; i++) {
    int left = (int)((end - kit_now()) / 1000000);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = left > 0 ? poll(&p, 1, left) : 0;
    if (n < 0 && errno == EINTR) continue;
    if (n != 1) return -1;
    ssize_t r = read(fd, (char *)buf + got, len - got);
    if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) return -1;
    if (r > 0) got += (size_t)r;
  }
  return got == len ? 0 : -1;
}

int kit_write_full(int fd, const void *buf, size_t len) {
  size_t done = 0;
  for (int i = 0; i < 100000 && done < len; i++) {
    ssize_t w = write(fd, (const char *)buf + done, len - done);
    if (w < 0 && errno != EINTR && errno != EAGAIN) return -1;
    if (w > 0) done += (size_t)w;
  }
  return done == len ? 0 : -1;
}

int kit_reap(int pid, int timeout_ms) {
  int status;
  for (int waited = 0; waited <= timeout_ms; waited += 10) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return -1;
    kit_sleep_ms(10);
  }
  kill(pid, SIGKILL);
  return waitpid(pid, &status, 0) == pid ? status : -1;
}

void kit_setup(int secs) {
  signal(SIGPIPE, SIG_IGN);
  signal(SIGALRM, SIG_DFL);
  alarm((unsigned)secs);
}

/* ---- sockets ----------------------------------------------------------- */

int kit_uri_split(const char *uri, char *kind, size_t kind_size, char *host, size_t host_size,
                  int *port) {
  const char *sep = strstr(uri, "://");
  if (sep == NULL || (size_t)(sep - uri) >= kind_size) return -1;
  memcpy(kind, uri, (size_t)(sep - uri));
  kind[sep - uri] = '\0';
  const char *h = sep + 3;
  const char *at = strchr(h, '@');
  const char *slash = strchr(h, '/');
  if (at != NULL && (slash == NULL || at < slash)) h = at + 1;
  const char *colon = strchr(h, ':');
  if (colon == NULL || (size_t)(colon - h) >= host_size) return -1;
  memcpy(host, h, (size_t)(colon - h));
  host[colon - h] = '\0';
  *port = atoi(colon + 1);
  return *port > 0 ? 0 : -1;
}

static int tcp_connect(const char *host, int port, int timeout_ms) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) return -1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  struct pollfd p = {.fd = fd, .events = POLLOUT};
  int err = 0;
  socklen_t len = sizeof err;
  if (poll(&p, 1, timeout_ms) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
      err != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int send_all(int fd, const char *buf, size_t len, int64_t end) {
  size_t sent = 0;
  for (int i = 0; i < 100000 && sent < len; i++) {
    ssize_t n = send(fd, buf + sent, len - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += (size_t)n;
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return -1;
    int left = (int)((end - kit_now()) / 1000000);
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    if (left <= 0 || poll(&p, 1, left) != 1) return -1;
  }
  return sent == len ? 0 : -1;
}

/* Read into buf until the peer closes, buf fills, `done` answers or `end`. */
static long recv_until(int fd, char *buf, size_t size, size_t got, int64_t end,
                       bool (*done)(const char *buf, size_t len)) {
  for (int i = 0; i < 1000000 && got + 1 < size; i++) {
    buf[got] = '\0';
    if (done != NULL && done(buf, got)) break;
    int left = (int)((end - kit_now()) / 1000000);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (left <= 0 || poll(&p, 1, left) != 1) return -1;
    ssize_t n = recv(fd, buf + got, size - 1 - got, 0);
    if (n == 0) break;
    if (n < 0 && errno != EAGAIN && errno != EINTR) return -1;
    if (n > 0) got += (size_t)n;
  }
  buf[got] = '\0';
  return (long)got;
}

long kit_tcp_ask(const char *host, int port, const char *req, size_t req_len, char *buf,
                 size_t size, int timeout_ms, bool (*done)(const char *buf, size_t len)) {
  int64_t end = kit_now() + (int64_t)timeout_ms * 1000000;
  int fd = tcp_connect(host, port, timeout_ms);
  if (fd < 0) return -1;
  long got = send_all(fd, req, req_len, end) == 0 ? recv_until(fd, buf, size, 0, end, done) : -1;
  close(fd);
  return got;
}

/* ---- server counters --------------------------------------------------- */

static void stats_set(kit_stats *s, const char *key, double val) {
  for (int i = 0; i < s->n; i++)
    if (strcmp(s->s[i].key, key) == 0) {
      s->s[i].val = val;
      return;
    }
  if (s->n == KIT_STATS_MAX) return;
  snprintf(s->s[s->n].key, sizeof s->s[s->n].key, "%s", key);
  s->s[s->n++].val = val;
}

double kit_stats_get(const kit_stats *s, const char *key) {
  for (int i = 0; i < s->n; i++)
    if (strcmp(s->s[i].key, key) == 0) return s->s[i].val;
  return 0;
}

void kit_stats_delta(kit_stats *out, const kit_stats *after, const kit_stats *before,
                     const kit_stats *overhead) {
  out->n = 0;
  for (int i = 0; i < after->n; i++) {
    const char *k = after->s[i].key;
    double d = after->s[i].val - kit_stats_get(before, k);
    if (overhead != NULL) d -= kit_stats_get(overhead, k);
    stats_set(out, k, d);
  }
}

int kit_stats_calibrate(kit_stats *overhead, const char *kind, const char *host, int port) {
  static kit_stats a, b;
  if (kit_stats_read(&a, kind, host, port) != 0 || kit_stats_read(&b, kind, host, port) != 0)
    return -1;
  kit_stats_delta(overhead, &b, &a, NULL);
  return 0;
}

void kit_json_stats(kit_json *j, const char *name, const kit_stats *delta, const char *prefix,
                    double div) {
  json_key(j, name);
  fputc('{', j->f);
  size_t plen = strlen(prefix);
  bool first = true;
  for (int i = 0; i < delta->n; i++) {
    if (strncmp(delta->s[i].key, prefix, plen) != 0 || delta->s[i].val == 0) continue;
    fprintf(j->f, "%s\"%s\":", first ? "" : ",", delta->s[i].key + plen);
    json_double(j->f, delta->s[i].val / div);
    first = false;
  }
  fputc('}', j->f);
}

/* A RESP bulk reply ("$<len>\r\n<len bytes>\r\n") is whole. */
static bool resp_bulk_done(const char *buf, size_t len) {
  if (len < 1) return false;
  if (buf[0] != '$') return memchr(buf, '\n', len) != NULL;
  const char *nl = memchr(buf, '\n', len);
  if (nl == NULL) return false;
  long body = strtol(buf + 1, NULL, 10);
  return body < 0 || (size_t)(nl + 1 - buf) + (size_t)body + 2 <= len;
}

enum { STATS_BUF = 1 << 20 };

static int redis_stats(kit_stats *out, char *buf, const char *host, int port) {
  const char req[] = "INFO all\r\n";
  if (kit_tcp_ask(host, port, req, sizeof req - 1, buf, STATS_BUF, 3000, resp_bulk_done) <= 0)
    return -1;
  char *save = NULL;
  for (char *line = strtok_r(buf, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
    char key[96];
    if (strncmp(line, "cmdstat_", 8) == 0) {
      char *colon = strchr(line, ':');
      char *calls = colon ? strstr(colon, "calls=") : NULL;
      char *usec = colon ? strstr(colon, "usec=") : NULL;
      if (calls == NULL || usec == NULL || colon - line - 8 >= 80) continue;
      if (strncmp(line + 8, "info:", 5) == 0) continue;
      snprintf(key, sizeof key, "cmd.%.*s", (int)(colon - line - 8), line + 8);
      stats_set(out, key, strtod(calls + 6, NULL));
      snprintf(key, sizeof key, "usec.%.*s", (int)(colon - line - 8), line + 8);
      stats_set(out, key, strtod(usec + 5, NULL));
    } else if (strncmp(line, "total_reads_processed:", 22) == 0) {
      stats_set(out, "reads", strtod(line + 22, NULL));
    } else if (strncmp(line, "total_commands_processed:", 25) == 0) {
      stats_set(out, "commands", strtod(line + 25, NULL));
    } else if (strncmp(line, "total_net_input_bytes:", 22) == 0) {
      stats_set(out, "input_bytes", strtod(line + 22, NULL));
    }
  }
  return 0;
}

static int zk_stats(kit_stats *out, char *buf, const char *host, int port) {
  if (kit_tcp_ask(host, port, "mntr", 4, buf, STATS_BUF, 3000, NULL) <= 0) return -1;
  char *save = NULL;
  for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *tab = strchr(line, '\t');
    if (tab == NULL) continue;
    *tab = '\0';
    double v = strtod(tab + 1, NULL);
    if (strcmp(line, "zk_packets_received") == 0)
      stats_set(out, "packets_received", v);
    else if (strcmp(line, "zk_packets_sent") == 0)
      stats_set(out, "packets_sent", v);
    else if (strcmp(line, "zk_ephemerals_count") == 0)
      stats_set(out, "ephemerals", v);
    else if (strcmp(line, "zk_watch_count") == 0)
      stats_set(out, "watches", v);
    else if (strcmp(line, "zk_cnt_fsynctime") == 0)
      stats_set(out, "fsyncs", v);
    else if (strcmp(line, "zk_sum_fsynctime") == 0)
      stats_set(out, "fsync_ms", v);
  }
  return 0;
}

static int etcd_stats(kit_stats *out, char *buf, const char *host, int port) {
  char req[256];
  int len = snprintf(req, sizeof req,
                     "GET /metrics HTTP/1.0\r\nHost: %s:%d\r\n\r\n", host,
                     port);
  if (kit_tcp_ask(host, port, req, (size_t)len, buf, STATS_BUF, 3000, NULL) <= 0) return -1;
  const char prefix[] = "grpc_server_msg_received_total{grpc_method=\"";
  double total = 0;
  char *save = NULL;
  for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    if (strncmp(line, "etcd_disk_wal_fsync_duration_seconds_", 37) == 0) {
      const char *rest = line + 37, *space = strrchr(line, ' ');
      if (space == NULL) continue;
      if (strncmp(rest, "count ", 6) == 0) stats_set(out, "wal_fsyncs", strtod(space + 1, NULL));
      if (strncmp(rest, "sum ", 4) == 0) stats_set(out, "wal_fsync_ms", 1e3 * strtod(space + 1, NULL));
      continue;
    }
    if (strncmp(line, prefix, sizeof prefix - 1) != 0) continue;
    char *method = line + sizeof prefix - 1;
    char *quote = strchr(method, '"');
    char *space = strrchr(line, ' ');
    if (quote == NULL || space == NULL || quote - method > 80) continue;
    char key[96];
    snprintf(key, sizeof key, "grpc.%.*s", (int)(quote - method), method);
    double v = strtod(space + 1, NULL);
    stats_set(out, key, kit_stats_get(out, key) + v);
    total += v;
  }
  stats_set(out, "grpc", total);
  return 0;
}

int kit_stats_read(kit_stats *out, const char *kind, const char *host, int port) {
  out->n = 0;
  char *buf = malloc(STATS_BUF);
  if (buf == NULL) return -1;
  int rc = -1;
  if (strcmp(kind, "redis") == 0)
    rc = redis_stats(out, buf, host, port);
  else if (strcmp(kind, "zk") == 0)
    rc = zk_stats(out, buf, host, port);
  else if (strcmp(kind, "etcd") == 0)
    rc = etcd_stats(out, buf, host, port);
  free(buf);
  return rc;
}

/* ---- Redis MONITOR ----------------------------------------------------- */

#define MONITOR_MARKER "baton-bench-monitor-end"

int kit_monitor_start(kit_monitor *m, const char *host, int port) {
  snprintf(m->host, sizeof m->host, "%s", host);
  m->port = port;
  m->fd = tcp_connect(host, port, 3000);
  if (m->fd < 0) return -1;
  int64_t end = kit_now() + 3000000000LL;
  char ok[64];
  const char req[] = "MONITOR\r\n";
  if (send_all(m->fd, req, sizeof req - 1, end) != 0 ||
      recv_until(m->fd, ok, sizeof ok, 0, end, resp_bulk_done) < 3 || strncmp(ok, "+OK", 3) != 0) {
    close(m->fd);
    m->fd = -1;
    return -1;
  }
  return 0;
}

/* MONITOR lines can be megabytes long (a script call with 10,000 keys);
 * their head says all we need: "+<time> [<db> <client or lua>] "<cmd>" ...". */
typedef struct monitor_line {
  char head[256];
  size_t len;
} monitor_line;

static void monitor_classify(const char *line, long *top, long *lua, bool *seen_marker) {
  const char *br = strchr(line, '[');
  const char *close_br = br != NULL ? strchr(br, ']') : NULL;
  if (line[0] != '+' || close_br == NULL) return;
  if (strstr(line, MONITOR_MARKER) != NULL)
    *seen_marker = true;
  else if (strncasecmp(close_br, "] \"info\"", 8) == 0)
    return; /* our own counter readings */
  else if (memmem(br, (size_t)(close_br - br), "lua", 3) != NULL)
    (*lua)++;
  else
    (*top)++;
}

static void monitor_feed(monitor_line *l, const char *buf, size_t len, long *top, long *lua,
                         bool *seen_marker) {
  for (size_t i = 0; i < len; i++) {
    if (buf[i] == '\n') {
      l->head[l->len] = '\0';
      monitor_classify(l->head, top, lua, seen_marker);
      l->len = 0;
    } else if (l->len + 1 < sizeof l->head) {
      l->head[l->len++] = buf[i];
    }
  }
}

int kit_monitor_stop(kit_monitor *m, long *top_level, long *in_scripts, int timeout_ms) {
  *top_level = *in_scripts = 0;
  if (m->fd < 0) return -1;
  char reply[64];
  const char marker[] = "ECHO " MONITOR_MARKER "\r\n";
  int rc = kit_tcp_ask(m->host, m->port, marker, sizeof marker - 1, reply, sizeof reply, 3000,
                       resp_bulk_done) > 0
               ? 0
               : -1;
  int64_t end = kit_now() + (int64_t)timeout_ms * 1000000;
  static char buf[1 << 16];
  static monitor_line line;
  line.len = 0;
  bool seen = false;
  for (long i = 0; rc == 0 && !seen && i < 100000000; i++) {
    int left = (int)((end - kit_now()) / 1000000);
    struct pollfd p = {.fd = m->fd, .events = POLLIN};
    if (left <= 0 || poll(&p, 1, left) != 1) {
      rc = -1;
      break;
    }
    ssize_t n = recv(m->fd, buf, sizeof buf, 0);
    if (n <= 0) {
      rc = -1;
      break;
    }
    monitor_feed(&line, buf, (size_t)n, top_level, in_scripts, &seen);
  }
  close(m->fd);
  m->fd = -1;
  return rc;
}

/* ---- probes ------------------------------------------------------------ */

int kit_probe_begin(kit_probe *p, const char *uri, bool monitor) {
  memset(p, 0, sizeof *p);
  p->mon.fd = -1;
  if (kit_uri_split(uri, p->kind, sizeof p->kind, p->host, sizeof p->host, &p->port) != 0)
    return -1;
  if (strcmp(p->kind, "etcds") == 0) snprintf(p->kind, sizeof p->kind, "etcd");
  /* Redlock: what its first instance sees (every instance sees the same). */
  if (strcmp(p->kind, "redlock") == 0) snprintf(p->kind, sizeof p->kind, "redis");
  if (monitor && strcmp(p->kind, "redis") == 0 &&
      kit_monitor_start(&p->mon, p->host, p->port) != 0)
    return -1;
  static kit_stats first;
  if (kit_stats_read(&first, p->kind, p->host, p->port) != 0 ||
      kit_stats_read(&p->start, p->kind, p->host, p->port) != 0)
    return -1;
  kit_stats_delta(&p->overhead, &p->start, &first, NULL);
  return 0;
}

int kit_probe_end(kit_probe *p) {
  static kit_stats end;
  if (kit_stats_read(&end, p->kind, p->host, p->port) != 0) return -1;
  kit_stats_delta(&p->delta, &end, &p->start, &p->overhead);
  if (strcmp(p->kind, "redis") == 0) {
    long top = 0, lua = 0;
    if (p->mon.fd >= 0 && kit_monitor_stop(&p->mon, &top, &lua, 20000) != 0) return -1;
    p->requests = (double)top;
    p->in_scripts = (double)lua;
  } else {
    p->requests = kit_stats_get(&p->delta, strcmp(p->kind, "zk") == 0 ? "packets_received" : "grpc");
  }
  return 0;
}

/* ---- idle renewal window ---------------------------------------------- */

/* Redis takes a second window under MONITOR to count the clients'
 * requests: MONITOR slows the server, so its time counters are read in the
 * first window, without it. */
int kit_renew_window(kit_json *j, const char *key, const char *uri, double secs,
                     double interval_s, int server_pid) {
  static kit_probe p;
  if (kit_probe_begin(&p, uri, false) != 0) return -1;
  double cpu0 = kit_cpu_self(), scpu0 = server_pid > 0 ? kit_cpu_pid(server_pid) : 0;
  int64_t t0 = kit_now();
  kit_sleep_ms((int)(secs * 1000));
  double took = (double)(kit_now() - t0) / 1e9;
  double cpu = kit_cpu_self() - cpu0;
  double scpu = server_pid > 0 ? kit_cpu_pid(server_pid) - scpu0 : NAN;
  if (kit_probe_end(&p) != 0) return -1;
  char extra[512] = "";
  double requests = p.requests;
  if (strcmp(p.kind, "redis") == 0) {
    double calls = kit_stats_get(&p.delta, "cmd.evalsha");
    snprintf(extra, sizeof extra,
             ",\"reads_per_s\":%.6g,\"input_bytes_per_s\":%.6g,\"evalsha_ms_per_call\":%.6g",
             kit_stats_get(&p.delta, "reads") / took, kit_stats_get(&p.delta, "input_bytes") / took,
             calls > 0 ? kit_stats_get(&p.delta, "usec.evalsha") / calls / 1000 : 0.0);
    static kit_probe m;
    if (kit_probe_begin(&m, uri, true) != 0) return -1;
    t0 = kit_now();
    kit_sleep_ms((int)(secs * 1000));
    double took_m = (double)(kit_now() - t0) / 1e9;
    if (kit_probe_end(&m) != 0) return -1;
    requests = m.requests * took / took_m;
    size_t len = strlen(extra);
    snprintf(extra + len, sizeof extra - len, ",\"script_commands_per_s\":%.6g",
             m.in_scripts / took_m);
  } else if (strcmp(p.kind, "etcd") == 0) {
    snprintf(extra, sizeof extra, ",\"keepalives_per_s\":%.6g,\"wal_fsyncs_per_s\":%.6g",
             kit_stats_get(&p.delta, "grpc.LeaseKeepAlive") / took,
             kit_stats_get(&p.delta, "wal_fsyncs") / took);
  } else {
    snprintf(extra, sizeof extra, ",\"fsyncs_per_s\":%.6g,\"packets_sent_per_s\":%.6g",
             kit_stats_get(&p.delta, "fsyncs") / took,
             kit_stats_get(&p.delta, "packets_sent") / took);
  }
  char buf[1024];
  snprintf(buf, sizeof buf,
           "{\"window_s\":%.6g,\"renew_interval_ms\":%.6g,\"requests_per_s\":%.6g,"
           "\"requests_per_interval\":%.6g,\"client_cpu_ms_per_s\":%.6g,"
           "\"server_cpu_ms_per_s\":%.6g%s}",
           took, interval_s * 1e3, requests / took, requests / took * interval_s,
           cpu / took * 1e3, scpu / took * 1e3, extra);
  kit_json_raw(j, key, buf);
  return 0;
}
