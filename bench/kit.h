/* kit.h — what every benchmark program shares: the clock, bounded argument
 * parsing, statistics, one-line JSON output, /proc readings, and the server
 * counters (Redis INFO and MONITOR, ZooKeeper mntr, etcd /metrics) read over
 * plain sockets so that no client library's behaviour is measured twice. */
#ifndef BATON_BENCH_KIT_H
#define BATON_BENCH_KIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- time -------------------------------------------------------------- */

/* CLOCK_MONOTONIC in nanoseconds; system-wide, so comparable across the
 * processes of one benchmark. */
int64_t kit_now(void);
void kit_sleep_ms(int ms);

/* ---- arguments: "--key value" pairs after the fixed ones ---------------- */

/* The value after `--key`, or `def` when absent. */
const char *kit_arg(int argc, char **argv, const char *key, const char *def);
long kit_arg_long(int argc, char **argv, const char *key, long def);
double kit_arg_double(int argc, char **argv, const char *key, double def);

/* Exit with a message on stderr (for setup failures; measurements never
 * call it mid-run). */
void kit_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ---- statistics -------------------------------------------------------- */

/* The q-quantile of v (0..1, nearest rank; 0 the least, 1 the most); v
 * is left as it is. */
double kit_quantile(const double *v, size_t n, double q);
double kit_mean(const double *v, size_t n);
double kit_stddev(const double *v, size_t n);

/* ---- one JSON object per program run, on stdout ----------------------- */

typedef struct kit_json {
  FILE *f;
  bool first;
} kit_json;

void kit_json_begin(kit_json *j, FILE *f);
/* Begins a program's record on stdout: {"bench":bench,"backend":<scheme>. */
void kit_json_record(kit_json *j, const char *bench, const char *uri);
void kit_json_str(kit_json *j, const char *key, const char *val);
void kit_json_num(kit_json *j, const char *key, double val);
void kit_json_int(kit_json *j, const char *key, long long val);
void kit_json_bool(kit_json *j, const char *key, bool val);
/* An array of numbers. */
void kit_json_nums(kit_json *j, const char *key, const double *v, size_t n);
/* A raw, already valid JSON value. */
void kit_json_raw(kit_json *j, const char *key, const char *json);
void kit_json_end(kit_json *j);

/* ---- this process ------------------------------------------------------ */

/* A field of /proc/self/status in its unit (VmRSS in KiB, Threads). */
long kit_proc_status(const char *field);
/* CPU time (user + system, every thread) in seconds: of this process, or
 * of process `pid` (from /proc/PID/stat, in clock ticks: 10 ms steps);
 * -1 when unknown. */
double kit_cpu_self(void);
double kit_cpu_pid(int pid);
/* Open file descriptors of this process. */
long kit_open_fds(void);
/* Raise the soft RLIMIT_NOFILE to the hard limit; returns the new limit. */
long kit_raise_nofile(void);

/* This process's resident memory (KiB), threads and open descriptors at
 * one instant, and that snapshot as {"rss_kib","threads","fds"} under `key`. */
typedef struct kit_snap {
  long rss_kib, threads, fds;
} kit_snap;
kit_snap kit_snap_take(void);
void kit_json_snap(kit_json *j, const char *key, kit_snap s);

/* ---- processes --------------------------------------------------------- */

/* Read exactly `len` bytes from fd within timeout_ms: 0, or -1 on EOF,
 * error or time-out. */
int kit_read_full(int fd, void *buf, size_t len, int timeout_ms);
/* Write all of buf: 0 or -1. */
int kit_write_full(int fd, const void *buf, size_t len);
/* Wait for child `pid` up to timeout_ms, then SIGKILL and reap it. Returns
 * its wait status, or -1. */
int kit_reap(int pid, int timeout_ms);
/* Every program calls it first: SIGPIPE is ignored (a peer that died must
 * not kill the one that reports), and the process ends (SIGALRM) after
 * `secs` whatever happens, so every run is bounded even if a call hangs. */
void kit_setup(int secs);

/* ---- servers ----------------------------------------------------------- */

/* "redis://127.0.0.1:6379/..." -> kind "redis", host, port (first member). */
int kit_uri_split(const char *uri, char *kind, size_t kind_size, char *host, size_t host_size,
                  int *port);

#define KIT_STATS_MAX 512

/* Named server counters at one instant. */
typedef struct kit_stats {
  int n;
  struct {
    char key[96];
    double val;
  } s[KIT_STATS_MAX];
} kit_stats;

/* Read the counters of a "redis", "zk" or "etcd" server:
 *   redis: "cmd.<command>" = calls (INFO commandstats; script-internal calls
 *          included), "usec.<command>" = server time spent in it (a
 *          script's time includes its inner calls'), "reads" =
 *          total_reads_processed (socket reads, about
 *          one per request batch), "commands" = total_commands_processed;
 *   zk:    "packets_received", "packets_sent" (mntr; pings and session
 *          handshakes included), "ephemerals", "watches", "fsyncs" and
 *          "fsync_ms" (transaction log syncs);
 *   etcd:  "grpc.<Method>" = grpc_server_msg_received_total (one per unary
 *          call, one per stream message; the gateway turns every HTTP
 *          request into one), "grpc" = their sum, "wal_fsyncs" and
 *          "wal_fsync_ms" (write-ahead log syncs).
 * A reading adds to some counters itself (an INFO's reads, a mntr packet):
 * kit_stats_calibrate() measures that overhead, kit_stats_delta() removes
 * it. "cmd.info" is never reported. Returns 0 or -1. */
int kit_stats_read(kit_stats *out, const char *kind, const char *host, int port);
double kit_stats_get(const kit_stats *s, const char *key);
/* out = after - before - overhead (may be NULL), key by key; keys missing
 * from before or overhead count as 0. */
void kit_stats_delta(kit_stats *out, const kit_stats *after, const kit_stats *before,
                     const kit_stats *overhead);
/* The counters' change caused by one reading: two readings back to back,
 * taken while nothing else talks to the server. */
int kit_stats_calibrate(kit_stats *overhead, const char *kind, const char *host, int port);
/* Writes {"key":per,...} of delta/div for keys with the prefix (non-zero). */
void kit_json_stats(kit_json *j, const char *name, const kit_stats *delta, const char *prefix,
                    double div);

/* Redis MONITOR: counts the requests clients send (top level) apart from
 * the commands scripts run inside the server ("[0 lua]" lines). */
typedef struct kit_monitor {
  int fd;              /* the MONITOR connection */
  char host[64];
  int port;
} kit_monitor;

int kit_monitor_start(kit_monitor *m, const char *host, int port);
/* Ends with a marker request, reads everything up to it (bounded by
 * timeout_ms) and returns the counts; -1 on failure. */
int kit_monitor_stop(kit_monitor *m, long *top_level, long *in_scripts, int timeout_ms);

/* What the server saw between kit_probe_begin and kit_probe_end, with
 * nothing else talking to it. "requests" counts what clients sent: Redis
 * top-level commands (MONITOR; commands run inside scripts apart), ZooKeeper
 * packets received, etcd gRPC messages received. */
typedef struct kit_probe {
  char kind[16], host[64];
  int port;
  kit_monitor mon;          /* Redis only */
  kit_stats start, overhead;
  kit_stats delta;          /* after kit_probe_end: every counter's change */
  double requests;          /* after kit_probe_end */
  double in_scripts;        /* Redis: commands run by scripts */
} kit_probe;

/* kind: "redis", "zk" or "etcd" (an etcds URI's kind is "etcd"). With
 * `monitor` false, Redis is not MONITORed (MONITOR slows the server, so
 * its time counters are read without it) and "requests" stays 0. */
int kit_probe_begin(kit_probe *p, const char *uri, bool monitor);
int kit_probe_end(kit_probe *p);

/* `secs` of idle holding, seen from the server, written as `key`: {window_s,
 * renew_interval_ms, requests_per_s, requests_per_interval, client and
 * server CPU ms per second (server_pid <= 0: not read), and per kind Redis
 * socket reads, input bytes, EVALSHA time per call and script commands;
 * etcd keep-alives and WAL syncs; ZooKeeper fsyncs and packets sent}.
 * 0, or -1 when the server's counters could not be read. */
int kit_renew_window(kit_json *j, const char *key, const char *uri, double secs,
                     double interval_s, int server_pid);

/* Send `req` to host:port and read the reply until the peer closes, `size`
 * fills, or `done` (may be NULL) says the reply is whole. Returns the bytes
 * read or -1. */
long kit_tcp_ask(const char *host, int port, const char *req, size_t req_len, char *buf,
                 size_t size, int timeout_ms, bool (*done)(const char *buf, size_t len));

#endif
