/* commands.c — `baton leader`, `baton status`, `baton observe` and `baton campaign`: short
 * programs over the public API, each with one poll loop over the signal fd
 * and the relay. */
#include "cli.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

static baton_options options_for(const cli_args *a) {
  baton_options o = {0};
  o.ttl_ms = a->ttl_ms;
  o.identity = a->identity;
  return o;
}

/* leader, status and observe only look: no lease, no renewals. */
static baton_options read_only_options(const cli_args *a) {
  baton_options o = options_for(a);
  o.flags = BATON_CLIENT_READ_ONLY;
  return o;
}

/* Wait for the signal fd or the relay; returns the signal taken (0 if
 * none) and sets *woken when the relay poked. */
static int wait_events(int sig_fd, cli_relay *r, int timeout_ms, bool *woken) {
  struct pollfd p[2] = {{.fd = sig_fd, .events = POLLIN}, {.fd = r->wake_fd, .events = POLLIN}};
  *woken = false;
  int n = poll(p, 2, timeout_ms);
  if (n <= 0) return 0;
  if (p[1].revents & POLLIN) {
    cli_relay_drain(r);
    *woken = true;
  }
  return (p[0].revents & POLLIN) ? cli_signal_next(sig_fd) : 0;
}

static bool stop_signal(int sig) { return sig == SIGINT || sig == SIGTERM || sig == SIGHUP; }

/* ---- leader ------------------------------------------------------------- */

int cli_cmd_leader(const cli_args *a) {
  baton_options o = read_only_options(a);
  baton_client *client;
  baton_election *e;
  int rc = cli_open(a, &o, NULL, &client, &e);
  if (rc != 0) return rc;
  baton_leader leader;
  baton_error err = {0};
  static char value[BATON_VALUE_MAX + 1];
  rc = baton_election_leader_value(e, &leader, value, sizeof value, NULL, &err);
  int code;
  if (rc == 0 || rc == BATON_ENOLEADER) {
    code = rc == 0 ? CLI_EXIT_OK : CLI_EXIT_NO_LEADER;
    if (cli_print_leader(stdout, a->name, rc == 0 ? &leader : NULL, value, a->json) != 0)
      code = cli_fail(CLI_EXIT_BACKEND, "leader", "cannot write to stdout: %s", strerror(errno));
  } else {
    code = cli_fail(cli_exit_for(rc), "leader", "%s", err.message);
  }
  baton_election_close(e);
  baton_client_close(client);
  return code;
}

/* ---- status ------------------------------------------------------------- */

#define STATUS_MAX 1024 /* contenders shown */

/* The queue, holder first, from one library call; a backend that cannot
 * list its queue gives its holder alone, with its TTL unknown. */
static int read_queue(baton_election *e, baton_contender *list, size_t *n, baton_error *err) {
  int rc = baton_election_contenders(e, list, STATUS_MAX, n, err);
  if (rc != BATON_ENOTSUP) return rc;
  baton_leader leader;
  rc = baton_election_leader(e, &leader, err);
  *n = 0;
  if (rc == BATON_ENOLEADER) return 0;
  if (rc != 0) return rc;
  memset(&list[0], 0, sizeof list[0]);
  list[0].token = leader.token;
  memcpy(list[0].identity, leader.identity, sizeof list[0].identity);
  list[0].ttl_remaining_ms = -1;
  *n = 1;
  return 0;
}

/* The value the holder's term proclaimed: one more request. A term that
 * changed in between shows no value rather than another term's. */
static int holder_value(baton_election *e, const baton_contender *holder, char *value, size_t size,
                        baton_error *err) {
  baton_leader now;
  value[0] = '\0';
  int rc = baton_election_leader_value(e, &now, value, size, NULL, err);
  if (rc == BATON_ENOLEADER || (rc == 0 && now.token != holder->token)) {
    value[0] = '\0';
    rc = 0;
  }
  return rc;
}

int cli_cmd_status(const cli_args *a) {
  baton_options o = read_only_options(a);
  baton_contender *list = calloc(STATUS_MAX, sizeof *list);
  if (list == NULL) return cli_fail(CLI_EXIT_BACKEND, "status", "out of memory");
  baton_client *client;
  baton_election *e;
  int code = cli_open(a, &o, NULL, &client, &e);
  if (code != 0) {
    free(list);
    return code;
  }
  size_t n = 0;
  baton_error err = {0};
  static char value[BATON_VALUE_MAX + 1];
  int rc = read_queue(e, list, &n, &err);
  if (rc == 0 && n > 0) rc = holder_value(e, &list[0], value, sizeof value, &err);
  if (rc != 0) {
    code = cli_fail(cli_exit_for(rc), "status", "%s", err.message);
  } else {
    code = n > 0 ? CLI_EXIT_OK : CLI_EXIT_NO_LEADER;
    if (cli_print_status(stdout, a->name, baton_client_backend(client), list, n, value,
                         a->json) != 0)
      code = cli_fail(CLI_EXIT_BACKEND, "status", "cannot write to stdout: %s", strerror(errno));
  }
  baton_election_close(e);
  baton_client_close(client);
  free(list);
  return code;
}

/* ---- observe ------------------------------------------------------------ */

int cli_cmd_observe(const cli_args *a) {
  baton_options o = read_only_options(a);
  cli_session ss;
  int code = cli_session_open(&ss, a, &o);
  if (code != 0) return code;
  baton_error err = {0};
  int rc = baton_election_observe(ss.election, &err);
  if (rc != 0) code = cli_fail(cli_exit_for(rc), "observe", "%s", err.message);
  for (bool running = code == 0; running;) {
    bool woken;
    int sig = wait_events(ss.sig_fd, &ss.relay, -1, &woken);
    if (stop_signal(sig)) break;
    baton_leader leader;
    bool none;
    char *value;
    for (int i = 0; i < CLI_RELAY_RING && cli_relay_take_change(&ss.relay, &leader, &value, &none);
         i++) {
      int printed = cli_print_leader(stdout, a->name, none ? NULL : &leader, value, a->json);
      free(value);
      if (printed != 0) {
        /* The reader went away (a closed pipe): nothing left to do. */
        code = errno == EPIPE ? CLI_EXIT_BACKEND
                              : cli_fail(CLI_EXIT_BACKEND, "observe", "cannot write to stdout: %s",
                                         strerror(errno));
        running = false;
        break;
      }
    }
  }
  cli_session_close(&ss);
  return code;
}

/* ---- campaign ----------------------------------------------------------- */

typedef struct campaign_state {
  const cli_args *args;
  baton_election *e;
  cli_relay *relay;
  uint64_t token;    /* the held term's, 0 while campaigning */
  bool cancelling;   /* a signal came while campaigning */
} campaign_state;

/* The term is over: say so and exit 1. */
static int report_lost(campaign_state *s, const char *why) {
  printf("lost\n");
  fflush(stdout);
  return cli_fail(CLI_EXIT_BACKEND, "campaign", "term %llu of '%s' lost: %s",
                  (unsigned long long)s->token, s->args->name, why);
}

/* The campaign thread returned: CLI_CONTINUE while holding, else an exit code. */
static int campaign_result(campaign_state *s, int rc, uint64_t token, const baton_error *err) {
  if (rc != 0) {
    if (rc == BATON_ECANCELED && s->cancelling) return CLI_EXIT_OK;
    return cli_fail(cli_exit_for(rc), "campaign", "%s", err->message);
  }
  s->token = token;
  if (s->cancelling) { /* elected just as we were told to stop */
    baton_election_resign(s->e, NULL);
    return CLI_EXIT_OK;
  }
  printf("elected token=%llu\n", (unsigned long long)token);
  fflush(stdout);
  return CLI_CONTINUE;
}

/* A stop signal while holding: resign and exit 0. */
static int campaign_resign(campaign_state *s) {
  baton_error err = {0};
  int rc = baton_election_resign(s->e, &err);
  if (rc == BATON_ENOTHOLDER) return report_lost(s, err.message);
  if (rc != 0) return cli_fail(CLI_EXIT_BACKEND, "campaign", "%s", err.message);
  return CLI_EXIT_OK;
}

static int campaign_loop(campaign_state *s, int sig_fd) {
  for (int timeout = -1;;) {
    bool woken;
    int sig = wait_events(sig_fd, s->relay, timeout, &woken);
    if (stop_signal(sig)) {
      if (s->token != 0) return campaign_resign(s);
      s->cancelling = true;
    }
    int rc;
    uint64_t token;
    baton_error err;
    if (s->token == 0 && cli_campaign_finished(s->relay, &rc, &token, &err)) {
      int code = campaign_result(s, rc, token, &err);
      if (code != CLI_CONTINUE) return code;
    }
    if (s->token == 0) {
      if (s->cancelling) baton_election_cancel(s->e);
      timeout = s->cancelling ? CLI_CANCEL_RETRY_MS : -1;
      continue;
    }
    char msg[BATON_ERROR_MESSAGE_MAX];
    baton_lost_reason reason;
    uint64_t lost = cli_relay_take_lost(s->relay, &reason, NULL, msg, sizeof msg);
    if (lost == s->token) return report_lost(s, msg);
    /* The library's deadline check is the event; this one only guards
     * against an event that comes late. */
    int64_t remaining = 0;
    uint64_t held = 0;
    if (!baton_election_is_leader(s->e, &held, &remaining) || held != s->token)
      return report_lost(s, "local deadline passed");
    timeout = remaining >= INT32_MAX ? INT32_MAX : (int)remaining + 1;
  }
}

int cli_cmd_campaign(const cli_args *a) {
  baton_options o = options_for(a);
  cli_session ss;
  int code = cli_session_open(&ss, a, &o);
  if (code != 0) return code;
  campaign_state s = {.args = a, .e = ss.election, .relay = &ss.relay};
  if (cli_campaign_start(&ss.relay, ss.election) != 0)
    code = cli_fail(CLI_EXIT_BACKEND, "campaign", "cannot start a thread");
  else
    code = campaign_loop(&s, ss.sig_fd);
  cli_session_close(&ss);
  return code;
}
