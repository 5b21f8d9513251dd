/* cli.h — what the files of the `baton` command share: exit codes, parsed
 * arguments, output helpers, the relay that carries library callbacks to
 * the main loop, and the supervised child process. */
#ifndef BATON_CLI_H
#define BATON_CLI_H

#include "baton.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* ---- exit codes (the command-line contract) ----------------------------- */

#define CLI_EXIT_OK 0
#define CLI_EXIT_BACKEND 1   /* the backend failed, or the term was lost */
#define CLI_EXIT_USAGE 2     /* bad usage or input: one line on stderr */
#define CLI_EXIT_NO_LEADER 3 /* `leader`, `status`: nobody leads the name;
                                `lease acquire`: another holds it */
#define CLI_CONTINUE (-1)    /* cli_parse: go on and run the command */

/* ---- arguments (args.c) -------------------------------------------------- */

typedef enum cli_command {
  CLI_RUN = 1 << 0,
  CLI_CAMPAIGN = 1 << 1,
  CLI_LEADER = 1 << 2,
  CLI_OBSERVE = 1 << 3,
  CLI_STATUS = 1 << 4,
  CLI_LEASE_ACQUIRE = 1 << 5, /* `baton lease acquire` */
  CLI_LEASE_EXTEND = 1 << 6,
  CLI_LEASE_RELEASE = 1 << 7,
} cli_command;

#define CLI_LEASE (CLI_LEASE_ACQUIRE | CLI_LEASE_EXTEND | CLI_LEASE_RELEASE)

typedef struct cli_args {
  cli_command command;
  const char *command_name; /* "run", "campaign", "lease acquire", ... for
                               messages */
  const char *backend;      /* --backend, else $BATON_BACKEND; without its
                               userinfo once cli_parse returns */
  const char *username;     /* the URI's user, NULL if none */
  const char *password;     /* --password-file, else $BATON_PASSWORD, else the
                               URI's; NULL if none */
  const char *password_file;/* --password-file PATH */
  const char *name;         /* --name */
  const char *identity;     /* --identity, NULL for the library's default */
  uint32_t ttl_ms;          /* --ttl, 0 for the library's default (a
                               fixed lease's TTL for lease acquire and
                               extend, where it must be given) */
  uint32_t timeout_ms;      /* lease acquire: --timeout, 0 = one attempt */
  uint64_t token;           /* lease extend, release: --token, 0 = none */
  uint32_t grace_ms;        /* run: --grace (see grace_set) */
  bool grace_set;           /* --grace was given */
  bool once;                /* run: --once */
  bool json;                /* leader, observe, status, lease acquire:
                               --json */
  bool verbose;             /* run: -v, --verbose */
  const char *events;       /* run: --events FILE, NULL for none */
  const char *metrics_file; /* run: --metrics-file PATH, NULL for none */
  const char *metrics_listen; /* run: --metrics-listen HOST:PORT, NULL for none */
  uint32_t watchdog_ms;     /* run: --watchdog, 0 for none */
  char **cmd;               /* run: CMD [ARG...], NULL-terminated */
} cli_args;

/* Parse argv. Returns CLI_CONTINUE with *out filled, or an exit code after
 * printing help (0) or one usage line on stderr (CLI_EXIT_USAGE). */
int cli_parse(cli_args *out, int argc, char **argv);

/* Parse a duration: a decimal number with a unit, "250ms", "1.5s", "2m".
 * Returns 0 with *ms set, or -1 with a reason in `why`. */
int cli_duration_ms(const char *text, uint64_t *ms, char *why, size_t why_size);

/* ---- credentials (secret.c) --------------------------------------------- */

/* Before anything is printed (cli_parse calls it first): take
 * $BATON_PASSWORD out of the environment, and remember it and the
 * userinfo of $BATON_BACKEND as secrets for cli_redact(); keep a copy of
 * $BATON_BACKEND and take the userinfo out of the environment block. */
void cli_secrets_begin(void);

/* $BATON_BACKEND as it was before cli_secrets_begin() took the userinfo
 * out of the environment, or NULL when it is not set. */
const char *cli_secrets_env_backend(void);

/* A --backend URI, as it is parsed: remember its userinfo as a secret,
 * take it out of `arg` (a string of argv, which /proc/PID/cmdline shows)
 * and return a copy of the URI as it was, valid until the next call. */
const char *cli_secrets_take_backend(char *arg);

/* Overwrite every copy of a credential secret.c holds. For a process that
 * does not use them (the guard of `baton run`, right after its fork). */
void cli_secrets_wipe(void);

/* Take the credentials out of a->backend (cli_parse calls it last): the
 * URI loses its userinfo; a->username and a->password receive what the
 * library is to use: the URI's user, and the first of --password-file,
 * $BATON_PASSWORD and the URI's password. Returns CLI_CONTINUE, or
 * CLI_EXIT_USAGE after one line. */
int cli_credentials(cli_args *a);

/* A copy of `text` that shows no secret: the userinfo of any URI in it
 * (the user:password before the host's '@') and each secret remembered
 * become "***". The whole text is redacted: cut it short afterwards, or a
 * userinfo cut before its '@' would show. On the heap, for the caller to
 * free; NULL when out of memory. */
char *cli_redacted(const char *text);

/* ---- output (output.c) -------------------------------------------------- */

/* The program name that prefixes diagnostics; "baton" unless changed. */
extern const char *cli_program;

/* Print "baton: [CMD: ]MESSAGE" as one line on stderr (newlines and other
 * control bytes in the message become spaces, secrets are redacted) and
 * return `code`. */
int cli_fail(int code, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The same line, for warnings and progress; returns nothing. */
void cli_note(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The exit code for a failed library call: 2 for bad input (invalid
 * argument, backend not built in), 1 for everything else. */
int cli_exit_for(int code);

/* Write `s` as a JSON string literal: quotes, escapes, and U+FFFD for
 * bytes that are not UTF-8, so the output always parses. */
void cli_json_string(FILE *f, const char *s);

/* One line for a leader of `name` (NULL: nobody leads) and its term's
 * proclaimed `value` (NULL or "": none): plain "token=T identity=ID
 * [value=V]" / "no leader", or the JSON object
 * {"name":..,"identity":..,"token":..,"value":..} with null / 0 / null
 * when nobody leads ("" when the leader proclaimed nothing). Flushes.
 * Returns 0, or -1 when stdout fails. */
int cli_print_leader(FILE *f, const char *name, const baton_leader *leader, const char *value,
                     bool json);

/* What `baton status` shows of `name`: the queue list[0..n), holder
 * first (n = 0: nobody leads), on `backend`, and the holder's proclaimed
 * `value` (NULL or "": none). Plain: "name=N backend=B", then "leader
 * token=T identity=ID [value=V] ttl_remaining_ms=MS|unknown" or "no
 * leader", then one "contender I token=T identity=ID" line per entry
 * after the holder. JSON: one object, fields as in baton(1). Flushes.
 * Returns 0, or -1 when stdout fails. */
int cli_print_status(FILE *f, const char *name, const char *backend, const baton_contender *list,
                     size_t n, const char *value, bool json);

/* CLOCK_MONOTONIC in milliseconds, and in nanoseconds. */
int64_t cli_now_ms(void);
int64_t cli_now_ns(void);

/* ---- signals and the relay (relay.c) ------------------------------------ */

/* Block SIGINT, SIGTERM, SIGHUP and SIGCHLD in this thread (before any
 * other thread exists, so that every thread inherits the mask), ignore
 * SIGPIPE, and return a signalfd that reports them; -1 on failure.
 * `*saved_mask` and `*saved_pipe` receive what a child should get back. */
int cli_signals_open(sigset_t *saved_mask, struct sigaction *saved_pipe);

/* The next pending signal on the signalfd, or 0 when none. */
int cli_signal_next(int fd);

#define CLI_RELAY_RING 256 /* leader changes kept while stdout is slow */

/* Carries what happens on the library's threads (callbacks, the campaign
 * thread) to the main loop: state under a mutex plus an eventfd to poll.
 * Callbacks only copy and poke; they never block. */
typedef struct cli_relay {
  pthread_mutex_t mu;
  int wake_fd;                /* eventfd the main loop polls */
  /* LOST of a term: the latest, picked up with cli_relay_take_lost(). */
  uint64_t lost_token;        /* 0 when none is pending */
  baton_lost_reason lost_reason;
  int64_t lost_ns;            /* when the callback ran (cli_now_ns) */
  char lost_message[BATON_ERROR_MESSAGE_MAX];
  char renew_message[BATON_ERROR_MESSAGE_MAX]; /* the last RENEW_FAILED */
  /* LEADER_CHANGED, oldest first; when the ring is full the newest entry
   * is overwritten, so the latest state always gets through. */
  baton_leader ring[CLI_RELAY_RING];
  char *ring_value[CLI_RELAY_RING]; /* its value, owned; NULL: none or
                                       no memory */
  bool ring_none[CLI_RELAY_RING]; /* the change was "nobody leads" */
  unsigned ring_head, ring_count;
  /* The campaign thread's result. */
  pthread_t campaign_thread;
  bool campaign_running;      /* a campaign thread exists (not joined) */
  bool campaign_done;         /* and it has returned */
  int campaign_rc;
  uint64_t campaign_token;
  int64_t campaign_done_ns;   /* when the campaign call returned */
  baton_error campaign_err;
  baton_election *campaign_election;
  /* The proclaim thread: a backend write, kept off the main loop so that
   * a slow server cannot delay a stop before the deadline. */
  pthread_t proclaim_thread;
  bool proclaim_running;      /* it exists (not joined) */
  bool proclaim_quit;         /* it is asked to end */
  pthread_cond_t proclaim_cond;
  char *proclaim_next;        /* the text to proclaim next (owned), or NULL */
  uint64_t proclaim_token;    /* the term it is for */
  baton_election *proclaim_election;
  bool proclaim_refused_said; /* the backend cannot proclaim (said once) */
  char *proclaim_last;        /* the text last proclaimed (owned), or NULL */
  uint64_t proclaim_last_token; /* the term it was proclaimed in */
} cli_relay;

int cli_relay_init(cli_relay *r);
void cli_relay_destroy(cli_relay *r);

/* The baton_event_cb to pass to baton_election_open with the relay. */
void cli_relay_on_event(const baton_event *event, void *udata);

/* Consume the wake-up counter (after poll said wake_fd is readable). */
void cli_relay_drain(cli_relay *r);

/* Take the pending LOST, if any: returns its token (0: none). `when_ns`
 * (may be NULL) receives when the callback ran. */
uint64_t cli_relay_take_lost(cli_relay *r, baton_lost_reason *reason, int64_t *when_ns,
                             char *msg, size_t size);

/* The text of the last failed renewal ("" if none), then forget it. */
void cli_relay_take_renew_failure(cli_relay *r, char *msg, size_t size);

/* Take the oldest leader change: true with *out (*none: nobody leads)
 * and its value in *value (the caller frees it; NULL when none). */
bool cli_relay_take_change(cli_relay *r, baton_leader *out, char **value, bool *none);

/* Start baton_election_campaign(BATON_FOREVER) on a thread of ours; its end
 * pokes wake_fd. Returns 0 or -1. */
int cli_campaign_start(cli_relay *r, baton_election *e);

/* If the campaign thread has returned: join it, fill rc/token/err, return
 * true (campaign_done_ns then says when the call returned). Otherwise
 * false. */
bool cli_campaign_finished(cli_relay *r, int *rc, uint64_t *token, baton_error *err);

/* Cancel a campaign thread and join it (before the election is closed:
 * the thread uses it). A term it may have won is left to the caller. */
void cli_campaign_stop(cli_relay *r, baton_election *e);

/* Proclaim `text` for the term of `token` on a thread of ours (started at
 * the first call); a text posted while an earlier one is being written
 * replaces any not yet sent: only the latest matters, and only while that
 * term lasts; the text the term already has is not written again.
 * Failures are said on stderr (a backend that cannot proclaim, once). 0,
 * or an errno value (ENOMEM, or pthread_create's) when it cannot. */
int cli_proclaim_post(cli_relay *r, baton_election *e, uint64_t token, const char *text);

/* End the proclaim thread and join it (before the election is closed);
 * a write in flight ends within the library's operation time-out. */
void cli_proclaim_stop(cli_relay *r);

/* Re-issue a cancel this often while a cancelled campaign has not returned:
 * baton_election_cancel() does nothing if it comes before the campaign
 * thread has entered baton_election_campaign(). */
#define CLI_CANCEL_RETRY_MS 50

/* ---- opening the backend (session.c) ------------------------------------ */

/* Open the client alone (for commands that need no election). Returns 0,
 * or an exit code after printing why. */
int cli_open_client(const cli_args *args, const baton_options *opts, baton_client **client);

/* Open the client and one election on args->name with the relay as the
 * callback. Returns 0, or an exit code after printing why. */
int cli_open(const cli_args *args, const baton_options *opts, cli_relay *relay,
             baton_client **client, baton_election **election);

/* What a long-running subcommand holds: signals, relay, client, election. */
typedef struct cli_session {
  int sig_fd;                  /* cli_signals_open() */
  cli_relay relay;
  baton_client *client;
  baton_election *election;
  sigset_t child_mask;         /* what a child gets back: the original mask */
  struct sigaction child_pipe; /* and SIGPIPE disposition */
} cli_session;

/* Open all of it (signals first, so the library's threads inherit the
 * mask). Returns 0, or an exit code after printing why, with nothing left
 * open. */
int cli_session_open(cli_session *s, const cli_args *args, const baton_options *opts);

/* Stop a campaign thread, close the election (resigning a held term), the
 * client, the relay and the signal fd. */
void cli_session_close(cli_session *s);

/* ---- the supervised child (child.c) ------------------------------------- */

typedef struct cli_child {
  pid_t pid;      /* also its process group; 0 when there is none */
  int exec_fd;    /* readable once exec succeeded or failed; -1 after */
  int status;     /* when exited: exit code, or 128 + signal number */
  bool exited;    /* it exited and was reaped */
} cli_child;

/* Record the descriptors baton inherited, before the library opens any:
 * only those pass on to CMD. */
void cli_child_note_inherited_fds(void);

/* Find CMD like execvp would, before anything is started: 0 with the path
 * in `path`, or -1 with a reason in `why`. */
int cli_child_resolve(const char *file, char *path, size_t size, char *why, size_t why_size);

/* Fork and exec `path` with `argv` in a new process group, with `extra_env`
 * (NULL-terminated "KEY=VALUE" strings) replacing those keys in the
 * environment, the signal mask and SIGPIPE disposition restored, and
 * SIGKILL as its parent-death signal. Returns 0 or -1 (errno set).
 * Thread: call from the main thread, which lives as long as the child must
 * (the parent-death signal follows the thread that forked). */
int cli_child_start(cli_child *c, const char *path, char *const argv[],
                    char *const extra_env[], const sigset_t *mask,
                    const struct sigaction *pipe_action);

/* Signal the child's whole process group (no-op once it was reaped). */
void cli_child_signal(cli_child *c, int sig);

/* After SIGCHLD: if the child has exited, SIGKILL what is left of its
 * process group, reap it, set status and return true. */
bool cli_child_check(cli_child *c);

/* After exec_fd became readable: 0 when exec succeeded, else the errno of
 * the failed exec (the child then exits 126 or 127). Closes exec_fd. */
int cli_child_exec_result(cli_child *c);

/* Stop the child for good (SIGKILL to the group, then reap). For error
 * paths; never leaves a zombie. */
void cli_child_kill_now(cli_child *c);

/* ---- systemd's notify protocol (notify.c) -------------------------------- */

#define CLI_NOTIFY_STATUS_MAX 1024 /* STATUS= bytes kept; longer is cut
                                      (before a UTF-8 character) */

/* The datagram socket CMD sends its notifications to. */
typedef struct cli_notify {
  int fd;            /* non-blocking, close-on-exec; -1 when closed */
  char dir[100];     /* its private directory (mode 0700); with
                        "/notify" it fits a socket address */
  char path[108];    /* the socket: CMD's $NOTIFY_SOCKET */
} cli_notify;

/* What one datagram said; assignments it does not know are ignored. */
typedef struct cli_notify_message {
  bool watchdog;     /* WATCHDOG=1 */
  bool ready;        /* READY=1 */
  bool status;       /* STATUS= came: the text below (the first one) */
  char status_text[CLI_NOTIFY_STATUS_MAX + 1]; /* control bytes made spaces */
  bool status_cut;   /* the text was longer than CLI_NOTIFY_STATUS_MAX */
} cli_notify_message;

/* Make the socket in a new directory under $TMPDIR (or /tmp). 0, or -1
 * with a reason in `why`. */
int cli_notify_open(cli_notify *n, char *why, size_t why_size);

/* Close the socket and remove it and its directory. Accepts a closed one. */
void cli_notify_close(cli_notify *n);

/* Read one datagram: 1 with *msg filled (a datagram too long for systemd
 * fills it empty) and *sender the sending process (0 if unknown), 0 when
 * none is waiting, -1 on an error (errno). */
int cli_notify_receive(cli_notify *n, cli_notify_message *msg, pid_t *sender);

/* Parse `len` bytes of newline-separated VAR=VALUE assignments. */
void cli_notify_parse(const char *data, size_t len, cli_notify_message *msg);

/* Whether baton can send to a $NOTIFY_SOCKET address: 0 for a path or
 * "@name" that fits a socket address, -1 otherwise (vsock:, too long). */
int cli_notify_check(const char *address);

/* Send `text` as one datagram to a $NOTIFY_SOCKET address (a path, or
 * "@name" in the abstract namespace), without blocking. 0, or -1 with
 * errno (EAGAIN: the receiver's queue is full, the datagram dropped). */
int cli_notify_send(const char *address, const char *text);

/* ---- the metrics server (serve.c) ----------------------------------------- */

struct MHD_Daemon;

typedef struct cli_server {
  int fd;                    /* the listening socket, -1 when none */
  struct MHD_Daemon *daemon; /* serving, NULL before start */
  baton_client *client;      /* whose metrics */
} cli_server;

/* Bind and listen on `address` (HOST:PORT, [V6]:PORT, or :PORT and PORT
 * for 127.0.0.1), close-on-exec. 0, or -1 with a reason in `why` (a taken
 * port: "Address already in use"). */
int cli_serve_bind(cli_server *sv, const char *address, char *why, size_t why_size);

/* Serve GET /metrics (the client's Prometheus text) on a thread of its
 * own. 0, or -1 with a reason. */
int cli_serve_start(cli_server *sv, baton_client *client, char *why, size_t why_size);

/* Stop serving and close the socket; before the client closes. Accepts a
 * server that was never bound or started. */
void cli_serve_stop(cli_server *sv);

/* ---- the subcommands ---------------------------------------------------- */

int cli_cmd_leader(const cli_args *args);
int cli_cmd_status(const cli_args *args);
int cli_cmd_observe(const cli_args *args);
int cli_cmd_campaign(const cli_args *args);
int cli_cmd_run(const cli_args *args);
int cli_cmd_lease(const cli_args *args); /* lease acquire, extend, release */

#endif /* BATON_CLI_H */
