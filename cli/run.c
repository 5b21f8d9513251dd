/* run.c — `baton run`: the supervisor that runs CMD only while this process
 * leads, and stops it before anyone else can lead.
 *
 * Timing. With ttl T, grace G (--grace, default min(T/10, 2s)) and a slack
 * S = clamp(T/20, 10ms, 1s) for scheduling, the client is opened with
 * margin = G + S (and the library's default drift, 1%), so the library's
 * local deadline is
 *     D = t_sent + 0.99 T - G - S
 * where t_sent is when the last successful renewal was sent; the server
 * cannot expire the term before t_sent + T, whatever its clock rate within
 * the drift bound. The supervisor does not wait for D to begin the stop:
 *   - at D - G (is_leader's remaining time <= G: renewals have failed for
 *     most of the term), or at once when the LOST event says the backend
 *     ended the term, CMD's process group gets SIGTERM;
 *   - at min(start of the stop + G, D) it gets SIGKILL.
 * So CMD is dead at D at the latest, G + S before the server's expiry;
 * the library keeps the lost term's key until that expiry could have
 * come, so no successor is elected before it. The check is driven by
 * is_leader()'s remaining time in the poll timeout, so a late callback
 * cannot delay it; the LOST event only makes the stop earlier. Anything
 * CMD left in its process group is killed when CMD exits.
 *
 * With --events FILE each transition is appended to FILE as one line with
 * its CLOCK_MONOTONIC time, so that a test can lay the terms of several
 * candidates on one clock (see cli/README.md).
 *
 * With --metrics-file PATH the client's Prometheus text is written to
 * PATH.tmp and renamed onto PATH (node_exporter's textfile collector
 * reads whole files only) when a turn of the main loop changed the text
 * (not for every notify datagram), at most every 100 ms, and at least
 * every 10 s. With --metrics-listen ADDR the
 * same text is served at http://ADDR/metrics (serve.c) while run holds,
 * waits and stops, until it exits.
 *
 * CMD gets $NOTIFY_SOCKET, a datagram socket of ours (notify.c), and may
 * speak systemd's notify protocol to it: WATCHDOG=1 touches the term
 * (with --watchdog D the library stops renewing a term whose CMD sent
 * none for D, so a hung CMD loses its term and is stopped as for any
 * loss), STATUS=TEXT proclaims TEXT as the term's value (baton status
 * shows it; a backend without proclaim says so once), READY=1 is recorded
 * (--events, -v), and both are passed on to baton's own $NOTIFY_SOCKET
 * when baton runs under systemd. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_TTL_MS 10000
#define METRICS_EVERY_MS 10000 /* --metrics-file: the longest between writes */
#define METRICS_MIN_MS 100     /* ... and the shortest, for a changed text */

typedef enum phase { CAMPAIGNING, LEADING, STOPPING } phase;

typedef struct supervisor {
  const cli_args *args;
  char path[PATH_MAX];         /* CMD, resolved */
  char backend_env[4200];      /* "BATON_BACKEND=<URI without userinfo>" */
  cli_session ss;              /* signals, relay, client, election */
  baton_election *e;           /* ss.election */
  cli_relay *relay;            /* &ss.relay */
  int64_t grace_ms;
  phase phase;
  uint64_t token;              /* the current term's */
  int64_t deadline_ms;         /* its local deadline, as last seen */
  cli_child child;
  bool killed;                 /* STOPPING: SIGKILL was sent */
  int64_t kill_at_ms;          /* STOPPING: when SIGKILL is due */
  bool signalled;              /* a stop signal came: exit 0 when stopped */
  int short_terms;             /* consecutive terms too short to start CMD */
  int events_fd;               /* --events FILE, -1 for none */
  char metrics_tmp[PATH_MAX + 8]; /* --metrics-file PATH: "PATH.tmp" */
  int64_t metrics_due_ms;      /* the next write at the latest */
  int64_t metrics_last_ms;     /* the last write */
  bool metrics_failing;        /* the last write failed (said once) */
  cli_server server;           /* --metrics-listen */
  cli_notify notify;           /* CMD's $NOTIFY_SOCKET */
  char own_notify[108];        /* baton's own $NOTIFY_SOCKET, "" when none */
  char notify_env[128];        /* "NOTIFY_SOCKET=<notify.path>" */
  char watchdog_env[48];       /* "WATCHDOG_USEC=<us>" with --watchdog */
  bool watchdog_late;          /* the library said a touch came too late */
  bool ready;                  /* CMD sent READY=1 in this term */
  bool ready_forwarded;        /* baton's READY=1 went to its own systemd */
  bool forward_failing;        /* the last send to it failed (said once) */
  bool status_cut_said;        /* a STATUS= was cut (said once) */
  bool foreign_said;           /* a datagram from outside CMD's group was
                                  ignored (said once) */
  int64_t own_watchdog_ms;     /* WATCHDOG=1 to baton's own systemd this
                                  often (half its WATCHDOG_USEC); 0: none */
  int64_t own_watchdog_due_ms; /* the next one */
  char status_line[sizeof "STATUS=" + CLI_NOTIFY_STATUS_MAX]; /* a batch's
                                  last STATUS=, to pass on and proclaim; ""
                                  for none */
  bool term_open;              /* the term's end is not logged yet */
  bool done;
  int code;                    /* exit code once done */
} supervisor;

static void verbose(const supervisor *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void verbose(const supervisor *s, const char *fmt, ...) {
  if (!s->args->verbose) return;
  char line[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  cli_note(NULL, "%s", line);
}

static void finish(supervisor *s, int code) {
  s->done = true;
  s->code = code;
}

/* ---- the transition log (--events) -------------------------------------- */

/* Append "<ns> <what> token=<T>[ <extra>]": one write() per line, so lines
 * of several processes appending to one file never interleave. */
static void event(const supervisor *s, int64_t ns, const char *what, uint64_t token,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void event(const supervisor *s, int64_t ns, const char *what, uint64_t token,
                  const char *fmt, ...) {
  if (s->events_fd < 0) return;
  char line[256];
  int n = snprintf(line, sizeof line, "%lld %s token=%llu", (long long)ns, what,
                   (unsigned long long)token);
  if (fmt != NULL && n > 0 && (size_t)n < sizeof line - 2) {
    line[n++] = ' ';
    va_list ap;
    va_start(ap, fmt);
    int more = vsnprintf(line + n, sizeof line - 1 - (size_t)n, fmt, ap);
    va_end(ap);
    if (more > 0) n += more;
  }
  if (n < 0 || (size_t)n > sizeof line - 2) n = (int)sizeof line - 2;
  line[n++] = '\n';
  ssize_t w = write(s->events_fd, line, (size_t)n);
  (void)w; /* a full disk or a closed reader must not stop the supervisor */
}

static const char *reason_name(baton_lost_reason r) {
  switch (r) {
    case BATON_LOST_RESIGNED: return "resigned";
    case BATON_LOST_DEADLINE: return "deadline";
    case BATON_LOST_KEY_GONE: return "key-gone";
    case BATON_LOST_SESSION_EXPIRED: return "session-expired";
    case BATON_LOST_CONNECTION: return "connection";
    case BATON_LOST_WATCHDOG: return "watchdog";
  }
  return "unknown";
}

/* The current term's end, logged once: by whichever of the library's LOST
 * event, is_leader() turning false, or our own resign is seen first. */
static void term_ended(supervisor *s, int64_t ns, const char *what, const char *reason) {
  if (!s->term_open) return;
  s->term_open = false;
  if (reason != NULL)
    event(s, ns, what, s->token, "reason=%s", reason);
  else
    event(s, ns, what, s->token, NULL);
}

/* ---- the metrics file (--metrics-file) ------------------------------------ */

/* Write all of `len` bytes to `path`, made or truncated: 0 or an errno. */
static int write_file(const char *path, const char *text, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  int e = 0;
  for (size_t done = 0; done < len && e == 0;) {
    ssize_t n = write(fd, text + done, len - done);
    if (n > 0)
      done += (size_t)n;
    else if (n < 0 && errno != EINTR)
      e = errno;
    else if (n == 0)
      e = EIO;
  }
  if (close(fd) != 0 && e == 0) e = errno;
  return e;
}

/* Replace the metrics file with the client's text now. A failure is said
 * once (and its end too) but does not stop the supervisor. */
static void metrics_write(supervisor *s, bool now_or_never) {
  if (s->args->metrics_file == NULL) return;
  static char text[1 << 16]; /* one election's text is a few kB */
  static char written[sizeof text];
  static size_t written_len;
  size_t len = 0;
  int e = 0;
  if (baton_client_metrics(s->ss.client, text, sizeof text, &len, NULL) != 0 || len >= sizeof text)
    e = EMSGSIZE;
  int64_t at = cli_now_ms();
  bool same = e == 0 && len == written_len && memcmp(text, written, len) == 0;
  if (!now_or_never && !s->metrics_failing && at < s->metrics_due_ms &&
      (same || at < s->metrics_last_ms + METRICS_MIN_MS)) {
    /* A change too soon after the last write is written at the minimum. */
    if (!same && s->metrics_last_ms + METRICS_MIN_MS < s->metrics_due_ms)
      s->metrics_due_ms = s->metrics_last_ms + METRICS_MIN_MS;
    return;
  }
  if (e == 0) {
    memcpy(written, text, len);
    written_len = len;
  }
  if (e == 0) e = write_file(s->metrics_tmp, text, len);
  if (e == 0 && rename(s->metrics_tmp, s->args->metrics_file) != 0) e = errno;
  if (e != 0 && !s->metrics_failing)
    cli_note("run", "--metrics-file %s: %s", s->args->metrics_file, strerror(e));
  else if (e == 0 && s->metrics_failing)
    cli_note(NULL, "--metrics-file %s: written again", s->args->metrics_file);
  s->metrics_failing = e != 0;
  s->metrics_last_ms = at;
  s->metrics_due_ms = at + METRICS_EVERY_MS;
}

/* The poll timeout `timeout` (-1: none), shortened to the next metrics
 * write. */
static int metrics_timeout(const supervisor *s, int timeout) {
  if (s->args->metrics_file == NULL) return timeout;
  int64_t left = s->metrics_due_ms - cli_now_ms();
  int until = left < 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
  return timeout < 0 || until < timeout ? until : timeout;
}

/* ---- timing ------------------------------------------------------------- */

/* Fill the client options; CLI_CONTINUE or a usage error. The library
 * says how long a renewal keeps a term (baton_options_lifetime); the
 * margin is grace + slack on top of that. */
static int timing(const cli_args *a, baton_options *o, int64_t *grace_out) {
  int64_t ttl = a->ttl_ms != 0 ? a->ttl_ms : DEFAULT_TTL_MS;
  int64_t grace = a->grace_set ? a->grace_ms : (ttl / 10 < 2000 ? ttl / 10 : 2000);
  int64_t slack = ttl / 20 < 10 ? 10 : ttl / 20 > 1000 ? 1000 : ttl / 20;
  int64_t renew = ttl / 3;
  o->ttl_ms = (uint32_t)ttl;
  o->renew_interval_ms = (uint32_t)renew;
  o->margin_ms = (uint32_t)slack;
  o->identity = a->identity;
  int64_t bare = 0; /* the lifetime before the grace joins the margin */
  if (baton_options_lifetime(o, &bare, NULL) != 0) bare = 0;
  /* With the grace in the margin the term lives bare - grace after a
   * renewal, and the stop begins a grace before that: a renewal must have
   * time to succeed before then, or every term would end at once. */
  int64_t most = (bare - renew - slack) / 2;
  if (most < 0)
    return cli_fail(CLI_EXIT_USAGE, "run", "--ttl %lldms is too short to supervise a command",
                    (long long)ttl);
  if (grace > most)
    return cli_fail(CLI_EXIT_USAGE, "run",
                    "--grace %lldms is too long for --ttl %lldms (at most %lldms) "
                    "(see 'baton run --help')",
                    (long long)grace, (long long)ttl, (long long)most);
  o->margin_ms = (uint32_t)(grace + slack);
  *grace_out = grace;
  return CLI_CONTINUE;
}

/* ---- stopping CMD ------------------------------------------------------- */

static const char *describe(int sig) { return sig == SIGKILL ? "SIGKILL" : "SIGTERM"; }

/* Begin stopping CMD: SIGTERM now, SIGKILL at the earlier of now + grace
 * and the term's deadline (at once when that has passed). */
static void begin_stop(supervisor *s, bool loss, const char *why) {
  int64_t now = cli_now_ms();
  s->phase = STOPPING;
  s->kill_at_ms = now + s->grace_ms < s->deadline_ms ? now + s->grace_ms : s->deadline_ms;
  s->killed = now >= s->kill_at_ms;
  int sig = s->killed ? SIGKILL : SIGTERM;
  cli_child_signal(&s->child, sig);
  if (!s->killed) cli_child_signal(&s->child, SIGCONT); /* a stopped CMD can obey */
  if (loss)
    cli_note(NULL, "term %llu of '%s' ends: %s; %s to process group %d%s", (unsigned long long)s->token,
             s->args->name, why, describe(sig), (int)s->child.pid,
             s->killed ? "" : ", SIGKILL at the deadline or after the grace period");
  else
    verbose(s, "%s; %s to process group %d", why, describe(sig), (int)s->child.pid);
}

static void kill_now(supervisor *s, const char *why) {
  if (s->killed) return;
  s->killed = true;
  cli_child_signal(&s->child, SIGKILL);
  cli_note(NULL, "process group %d %s: SIGKILL", (int)s->child.pid, why);
}

/* Resign if the term is still held; a term that already ended is fine. */
static void resign(supervisor *s) {
  baton_error err = {0};
  /* Stamped before the call: the term ends inside it, before the server
   * is told, and nobody else can be elected before the server is told. */
  int64_t at = cli_now_ns();
  int rc = baton_election_resign(s->e, &err);
  if (rc == BATON_ENOTHOLDER)
    term_ended(s, at, "lost", "ended");
  else
    term_ended(s, at, "resigned", NULL);
  if (rc != 0 && rc != BATON_ENOTHOLDER) cli_note("run", "%s", err.message);
  else if (rc == 0) verbose(s, "resigned term %llu", (unsigned long long)s->token);
}

/* ---- transitions -------------------------------------------------------- */

static void forward(supervisor *s, const char *text);

static void campaign(supervisor *s) {
  s->phase = CAMPAIGNING;
  s->token = 0;
  /* For a Type=notify unit, baton is up once it campaigns: a standby
   * never runs CMD, so waiting for CMD's READY=1 would time the start job
   * out. CMD's own READY=1 is then only recorded. */
  char line[BATON_NAME_MAX + 64];
  snprintf(line, sizeof line, "%sSTATUS=standby: campaigning for '%s'",
           s->ready_forwarded ? "" : "READY=1\n", s->args->name);
  forward(s, line);
  s->ready_forwarded = true;
  if (cli_campaign_start(s->relay, s->e) != 0)
    finish(s, cli_fail(CLI_EXIT_BACKEND, "run", "cannot start a thread"));
}

/* A term ended and CMD is stopped: campaign again, or exit with --once. */
static void after_loss(supervisor *s) {
  resign(s);
  if (s->signalled) {
    finish(s, CLI_EXIT_OK);
  } else if (s->args->once) {
    cli_note(NULL, "--once: not campaigning again");
    finish(s, CLI_EXIT_BACKEND);
  } else {
    verbose(s, "campaigning again for '%s'", s->args->name);
    campaign(s);
  }
}

static void on_elected(supervisor *s, uint64_t token) {
  int64_t remaining = 0;
  uint64_t held = 0;
  bool live = baton_election_is_leader(s->e, &held, &remaining);
  if (!live || held != token || remaining <= s->grace_ms) {
    cli_note(NULL, "elected with token %llu, but the term ends in %lld ms: not starting",
             (unsigned long long)token, (long long)remaining);
    /* A server that grants far less than the ttl asked for would make this
     * a loop of elections: give up after a few. */
    if (++s->short_terms >= 3) {
      resign(s);
      finish(s, cli_fail(CLI_EXIT_BACKEND, "run",
                         "%d terms in a row were too short for --grace %lldms; is the "
                         "server's ttl below --ttl?",
                         s->short_terms, (long long)s->grace_ms));
      return;
    }
    after_loss(s);
    return;
  }
  s->short_terms = 0;
  s->deadline_ms = cli_now_ms() + remaining;
  char tok[32], name[BATON_NAME_MAX + 16], identity[BATON_IDENTITY_MAX + 32];
  snprintf(tok, sizeof tok, "BATON_TOKEN=%llu", (unsigned long long)token);
  snprintf(name, sizeof name, "BATON_NAME=%s", s->args->name);
  snprintf(identity, sizeof identity, "BATON_IDENTITY=%s", baton_client_identity(s->ss.client));
  char *env[] = {tok, name, identity, s->backend_env, s->notify_env,
                 s->watchdog_env[0] != '\0' ? s->watchdog_env : NULL, NULL};
  /* What an earlier CMD left queued is not this one's word. */
  cli_notify_message stale;
  pid_t from = 0;
  for (int k = 0; k < 1024 && cli_notify_receive(&s->notify, &stale, &from) > 0; k++) continue;
  if (cli_child_start(&s->child, s->path, s->args->cmd, env, &s->ss.child_mask,
                      &s->ss.child_pipe) != 0) {
    cli_note("run", "cannot start %s: %s", s->path, strerror(errno));
    resign(s);
    finish(s, CLI_EXIT_BACKEND);
    return;
  }
  s->phase = LEADING;
  /* The first watchdog interval counts from CMD's start, not from the
   * election: the fork and exec are not CMD's time. */
  baton_error err = {0};
  s->watchdog_late = baton_election_touch(s->e, &err) == BATON_ETIMEDOUT;
  s->ready = false;
  event(s, cli_now_ns(), "started", token, "pid=%d", (int)s->child.pid);
  verbose(s, "elected on '%s' with token %llu; started %s (process group %d)", s->args->name,
          (unsigned long long)token, s->args->cmd[0], (int)s->child.pid);
}

static void on_campaign_done(supervisor *s, int rc, uint64_t token, int64_t done_ns,
                             const baton_error *err) {
  if (rc != 0) {
    if (rc == BATON_ECANCELED && s->signalled)
      finish(s, CLI_EXIT_OK);
    else
      finish(s, cli_fail(cli_exit_for(rc), "run", "%s", err->message));
    return;
  }
  s->token = token;
  s->term_open = true;
  event(s, done_ns, "elected", token, NULL);
  if (s->signalled) { /* elected just as we were told to stop */
    resign(s);
    finish(s, CLI_EXIT_OK);
    return;
  }
  on_elected(s, token);
}

static void on_child_exit(supervisor *s) {
  event(s, cli_now_ns(), "stopped", s->token, "pid=%d status=%d", (int)s->child.pid,
        s->child.status);
  if (s->phase == LEADING) {
    verbose(s, "%s exited with status %d; resigning", s->args->cmd[0], s->child.status);
    resign(s);
    finish(s, s->child.status);
    return;
  }
  verbose(s, "%s stopped (status %d)", s->args->cmd[0], s->child.status);
  after_loss(s);
}

static void on_stop_signal(supervisor *s, int sig) {
  switch (s->phase) {
    case CAMPAIGNING:
      s->signalled = true;
      baton_election_cancel(s->e);
      break;
    case LEADING:
      s->signalled = true;
      begin_stop(s, false, sig == SIGINT ? "SIGINT" : sig == SIGHUP ? "SIGHUP" : "SIGTERM");
      break;
    case STOPPING:
      if (s->signalled) kill_now(s, "still running at a second signal");
      s->signalled = true;
      break;
  }
}

/* Time-driven checks; returns the poll timeout in ms (-1: none). */
static int tick(supervisor *s) {
  int64_t now = cli_now_ms();
  if (s->phase == CAMPAIGNING) {
    if (!s->signalled) return -1;
    baton_election_cancel(s->e);
    return CLI_CANCEL_RETRY_MS;
  }
  if (s->phase == LEADING) {
    int64_t remaining = 0;
    uint64_t held = 0;
    bool live = baton_election_is_leader(s->e, &held, &remaining);
    if (!live || held != s->token) {
      term_ended(s, cli_now_ns(), "lost", "not-leader");
      begin_stop(s, true, "local deadline passed");
    } else {
      s->deadline_ms = now + remaining;
      if (remaining > s->grace_ms) {
        int64_t wait = remaining - s->grace_ms;
        return wait > INT_MAX ? INT_MAX : (int)wait;
      }
      char failure[BATON_ERROR_MESSAGE_MAX], why[BATON_ERROR_MESSAGE_MAX + 64];
      cli_relay_take_renew_failure(s->relay, failure, sizeof failure);
      /* The library stops renewing a term whose watchdog fired without
       * reporting failures for it: no failure heard with --watchdog set
       * means the watchdog, as does a touch it called late. */
      if (s->args->watchdog_ms != 0 && (s->watchdog_late || failure[0] == '\0'))
        snprintf(why, sizeof why,
                 "the command sent no WATCHDOG=1 within --watchdog %lums, so the term is no "
                 "longer renewed; %lld ms to the local deadline",
                 (unsigned long)s->args->watchdog_ms, (long long)remaining);
      else
        snprintf(why, sizeof why, "%lld ms to the local deadline, renewals failing%s%s",
                 (long long)remaining, failure[0] ? ": " : "", failure);
      begin_stop(s, true, why);
    }
  }
  /* STOPPING */
  if (s->killed) return -1;
  if (now >= s->kill_at_ms) {
    kill_now(s, "did not stop in time");
    return -1;
  }
  return (int)(s->kill_at_ms - now);
}

static void on_wake(supervisor *s) {
  int rc;
  uint64_t token;
  baton_error err;
  if (s->phase == CAMPAIGNING && cli_campaign_finished(s->relay, &rc, &token, &err))
    on_campaign_done(s, rc, token, s->relay->campaign_done_ns, &err);
  char msg[BATON_ERROR_MESSAGE_MAX];
  baton_lost_reason reason;
  int64_t lost_ns = 0;
  uint64_t lost = cli_relay_take_lost(s->relay, &reason, &lost_ns, msg, sizeof msg);
  if (lost == s->token && reason != BATON_LOST_RESIGNED)
    term_ended(s, lost_ns, "lost", reason_name(reason));
  if (!s->done && s->phase == LEADING && lost == s->token && reason != BATON_LOST_RESIGNED)
    begin_stop(s, true, msg);
}

/* ---- CMD's notifications ---------------------------------------------------- */

/* Pass `text` on to baton's own systemd, if baton runs under one. Never
 * blocks (a full queue drops it); a failure is said once, until a send
 * gets through again. */
static void forward(supervisor *s, const char *text) {
  if (s->own_notify[0] == '\0') return;
  int e = cli_notify_send(s->own_notify, text) != 0 ? errno : 0;
  if (e != 0 && !s->forward_failing)
    cli_note("run", "NOTIFY_SOCKET %s: %s (dropped; said once)", s->own_notify, strerror(e));
  s->forward_failing = e != 0;
}

/* baton's own WATCHDOG=1, when its systemd asks for them (WatchdogSec=):
 * from the main loop, so a stuck loop is what systemd notices. Returns
 * the poll timeout `timeout` shortened to the next one. */
static int own_watchdog(supervisor *s, int timeout) {
  if (s->own_watchdog_ms == 0) return timeout;
  int64_t now = cli_now_ms();
  if (now >= s->own_watchdog_due_ms) {
    forward(s, "WATCHDOG=1");
    s->own_watchdog_due_ms = now + s->own_watchdog_ms;
  }
  int64_t left = s->own_watchdog_due_ms - now;
  int until = left > INT_MAX ? INT_MAX : (int)left;
  return timeout < 0 || until < timeout ? until : timeout;
}

static void on_notification(supervisor *s, const cli_notify_message *m) {
  if (s->phase != LEADING) return; /* a stopping CMD's word changes nothing */
  if (m->watchdog) {
    baton_error err = {0};
    int rc = baton_election_touch(s->e, &err);
    if (rc == BATON_ETIMEDOUT) s->watchdog_late = true;
    if (rc != 0 && rc != BATON_ENOTHOLDER) verbose(s, "WATCHDOG=1 too late: %s", err.message);
  }
  if (m->ready && !s->ready) {
    s->ready = true;
    event(s, cli_now_ns(), "ready", s->token, NULL);
    verbose(s, "%s is ready (READY=1)", s->args->cmd[0]);
  }
  if (m->status) {
    if (m->status_cut && !s->status_cut_said)
      cli_note("run", "STATUS= longer than %d bytes: the rest is cut (said once)",
               CLI_NOTIFY_STATUS_MAX);
    s->status_cut_said |= m->status_cut;
    event(s, cli_now_ns(), "status", s->token, "text=%s", m->status_text);
    verbose(s, "%s: STATUS=%s", s->args->cmd[0], m->status_text);
    /* Passed on and proclaimed after the batch: only the last one matters. */
    snprintf(s->status_line, sizeof s->status_line, "STATUS=%s", m->status_text);
  }
}

/* Read what CMD sent; a bounded batch per turn, the rest on the next. */
static void on_notify_readable(supervisor *s) {
  cli_notify_message m;
  s->status_line[0] = '\0';
  for (int k = 0; k < 64; k++) {
    pid_t from = 0;
    int got = cli_notify_receive(&s->notify, &m, &from);
    if (got < 0) cli_note("run", "NOTIFY_SOCKET %s: %s", s->notify.path, strerror(errno));
    if (got <= 0) break;
    /* Only CMD's process group is heard (checked now, while a sender that
     * waits for its barrier, as systemd-notify does, still lives): not a
     * helper that escaped an earlier term, nor another process of ours. */
    if (s->child.pid <= 0 || from <= 0 || getpgid(from) != s->child.pid) {
      if (!s->foreign_said)
        cli_note("run", "NOTIFY_SOCKET: ignoring a datagram from PID %d, not in %s's "
                 "process group (said once)", (int)from, s->args->cmd[0]);
      s->foreign_said = true;
      continue;
    }
    on_notification(s, &m);
  }
  if (s->status_line[0] == '\0') return;
  forward(s, s->status_line);
  /* The term's value for `baton status`: written by a thread of the
   * relay, never on this loop, which must stay free to stop CMD. */
  int rc = cli_proclaim_post(s->relay, s->e, s->token, s->status_line + strlen("STATUS="));
  if (rc != 0) cli_note("run", "STATUS= not proclaimed: %s", strerror(rc));
}

static void loop(supervisor *s) {
  for (long i = 0; !s->done; i++) {
    metrics_write(s, false); /* after every turn: whatever changed, it shows */
    int timeout = own_watchdog(s, metrics_timeout(s, tick(s)));
    /* The exec report last: it is watched only until CMD has exec'd. */
    struct pollfd p[4] = {{.fd = s->ss.sig_fd, .events = POLLIN},
                          {.fd = s->relay->wake_fd, .events = POLLIN},
                          {.fd = s->notify.fd, .events = POLLIN},
                          {.fd = s->child.exec_fd, .events = POLLIN}};
    int n = poll(p, s->child.exec_fd >= 0 && !s->child.exited ? 4 : 3, timeout);
    if (n < 0 && errno != EINTR) {
      finish(s, cli_fail(CLI_EXIT_BACKEND, "run", "poll: %s", strerror(errno)));
      break;
    }
    if (n <= 0) continue;
    if (p[3].revents != 0 && s->child.exec_fd >= 0) {
      int e = cli_child_exec_result(&s->child);
      if (e != 0) cli_note("run", "cannot execute %s: %s", s->path, strerror(e));
    }
    if (p[0].revents & POLLIN) {
      for (int k = 0, sig; k < 64 && (sig = cli_signal_next(s->ss.sig_fd)) != 0; k++) {
        if (sig == SIGCHLD) {
          if (cli_child_check(&s->child)) on_child_exit(s);
        } else if (!s->done) {
          on_stop_signal(s, sig);
        }
        if (s->done) break;
      }
    }
    if (!s->done && (p[1].revents & POLLIN)) {
      cli_relay_drain(s->relay);
      on_wake(s);
    }
    if (!s->done && (p[2].revents & POLLIN)) on_notify_readable(s);
  }
}

int cli_cmd_run(const cli_args *a) {
  static supervisor s; /* large (PATH_MAX, the relay); one per process */
  memset(&s, 0, sizeof s);
  s.args = a;
  s.child.exec_fd = -1;
  s.events_fd = -1;
  char why[PATH_MAX + 64];
  if (cli_child_resolve(a->cmd[0], s.path, sizeof s.path, why, sizeof why) != 0)
    return cli_fail(CLI_EXIT_USAGE, "run", "%s", why);
  /* CMD may run `baton` itself: it gets the backend, never the credentials
   * (cli_credentials took them out of the URI and the environment). */
  snprintf(s.backend_env, sizeof s.backend_env, "BATON_BACKEND=%s", a->backend);
  baton_options o = {0};
  int rc = timing(a, &o, &s.grace_ms);
  if (rc != CLI_CONTINUE) return rc;

  if (a->metrics_file != NULL) {
    /* Found unwritable now, before any election: a usage error. */
    snprintf(s.metrics_tmp, sizeof s.metrics_tmp, "%s.tmp", a->metrics_file);
    int e = strlen(a->metrics_file) >= PATH_MAX ? ENAMETOOLONG : write_file(s.metrics_tmp, "", 0);
    if (e != 0)
      return cli_fail(CLI_EXIT_USAGE, "run", "--metrics-file %s: %s", a->metrics_file,
                      strerror(e));
    unlink(s.metrics_tmp);
  }

  /* baton's own notify variables are for baton: CMD gets ours. */
  const char *own = getenv("NOTIFY_SOCKET");
  if (own != NULL && cli_notify_check(own) != 0)
    return cli_fail(CLI_EXIT_USAGE, "run",
                    "NOTIFY_SOCKET %s: not a socket path or @name baton can send to", own);
  if (own != NULL) snprintf(s.own_notify, sizeof s.own_notify, "%s", own);
  /* WatchdogSec= on baton's unit: ping at half the interval, as
   * sd_watchdog_enabled() advises, when the pings are asked of us. */
  const char *usec = getenv("WATCHDOG_USEC"), *wpid = getenv("WATCHDOG_PID");
  char *end = NULL;
  unsigned long long us = usec != NULL ? strtoull(usec, &end, 10) : 0;
  if (own != NULL && us > 0 && end != NULL && *end == '\0' &&
      (wpid == NULL || strtol(wpid, NULL, 10) == (long)getpid()))
    s.own_watchdog_ms = us / 2000 > 0 ? (int64_t)(us / 2000) : 1;
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
  if (a->watchdog_ms != 0)
    snprintf(s.watchdog_env, sizeof s.watchdog_env, "WATCHDOG_USEC=%llu",
             (unsigned long long)a->watchdog_ms * 1000);

  cli_child_note_inherited_fds();
  s.server.fd = -1;
  s.notify.fd = -1;
  /* A taken port is found before the backend is opened. */
  if (a->metrics_listen != NULL &&
      cli_serve_bind(&s.server, a->metrics_listen, why, sizeof why) != 0)
    return cli_fail(CLI_EXIT_USAGE, "run", "--metrics-listen %s: %s", a->metrics_listen, why);
  /* Opened after the inherited descriptors were noted: CMD does not get it. */
  if (a->events != NULL) {
    s.events_fd = open(a->events, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (s.events_fd < 0) {
      int e = errno;
      cli_serve_stop(&s.server);
      return cli_fail(CLI_EXIT_USAGE, "run", "--events %s: %s", a->events, strerror(e));
    }
  }
  int code = CLI_CONTINUE;
  /* An unusable $TMPDIR (and /tmp) is the environment's fault, like a
   * --metrics-file folder: a usage error, found before the backend. */
  if (cli_notify_open(&s.notify, why, sizeof why) != 0)
    code = cli_fail(CLI_EXIT_USAGE, "run", "%s", why);
  snprintf(s.notify_env, sizeof s.notify_env, "NOTIFY_SOCKET=%s", s.notify.path);
  if (code == CLI_CONTINUE) code = cli_session_open(&s.ss, a, &o);
  baton_error err = {0};
  if (code == 0 && baton_election_watchdog(s.ss.election, a->watchdog_ms, &err) != 0) {
    cli_session_close(&s.ss);
    code = cli_fail(CLI_EXIT_USAGE, "run", "--watchdog: %s", err.message);
  }
  if (code == 0 && a->metrics_listen != NULL &&
      cli_serve_start(&s.server, s.ss.client, why, sizeof why) != 0) {
    cli_session_close(&s.ss);
    code = cli_fail(CLI_EXIT_BACKEND, "run", "--metrics-listen %s: %s", a->metrics_listen, why);
  }
  if (code != 0) {
    cli_serve_stop(&s.server);
    cli_notify_close(&s.notify);
    if (s.events_fd >= 0) close(s.events_fd);
    return code;
  }
  s.e = s.ss.election;
  s.relay = &s.ss.relay;
  campaign(&s);
  loop(&s);
  /* Every path ends with no child; the session close ends the campaign. */
  cli_child_kill_now(&s.child);
  metrics_write(&s, true); /* the last word: how the terms ended */
  cli_serve_stop(&s.server); /* it reads the client: stopped first */
  cli_session_close(&s.ss);
  term_ended(&s, cli_now_ns(), "resigned", "closed"); /* closing resigned it */
  cli_notify_close(&s.notify);
  if (s.events_fd >= 0) close(s.events_fd);
  return s.code;
}
