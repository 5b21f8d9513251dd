/* relay.c — signals as a file descriptor, and the relay that carries the
 * library's callbacks and the campaign thread's result to the main loop.
 * Everything that runs on another thread here only copies and pokes. */
#include "cli.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* ---- signals ------------------------------------------------------------ */

int cli_signals_open(sigset_t *saved_mask, struct sigaction *saved_pipe) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGCHLD);
  /* Blocked here, before the library starts its threads, so that no
   * thread takes these signals: the main loop reads them from the fd. */
  if (pthread_sigmask(SIG_BLOCK, &set, saved_mask) != 0) return -1;
  /* A server closing a socket, or a reader closing our stdout, must give
   * an error return, not kill the supervisor (and with it, the child). */
  struct sigaction ign = {.sa_handler = SIG_IGN};
  sigemptyset(&ign.sa_mask);
  if (sigaction(SIGPIPE, &ign, saved_pipe) != 0) return -1;
  return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int cli_signal_next(int fd) {
  struct signalfd_siginfo si;
  for (int i = 0; i < 100; i++) {
    ssize_t n = read(fd, &si, sizeof si);
    if (n == (ssize_t)sizeof si) return (int)si.ssi_signo;
    if (n < 0 && errno == EINTR) continue;
    return 0;
  }
  return 0;
}

/* ---- the relay ---------------------------------------------------------- */

static void poke(cli_relay *r) {
  uint64_t one = 1;
  ssize_t n = write(r->wake_fd, &one, sizeof one);
  (void)n; /* a saturated counter still wakes the loop */
}

int cli_relay_init(cli_relay *r) {
  memset(r, 0, sizeof *r);
  r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (r->wake_fd < 0) return -1;
  if (pthread_mutex_init(&r->mu, NULL) != 0) {
    close(r->wake_fd);
    return -1;
  }
  if (pthread_cond_init(&r->proclaim_cond, NULL) != 0) {
    pthread_mutex_destroy(&r->mu);
    close(r->wake_fd);
    return -1;
  }
  return 0;
}

void cli_relay_destroy(cli_relay *r) {
  if (r->campaign_running) pthread_join(r->campaign_thread, NULL);
  cli_proclaim_stop(r);
  for (unsigned i = 0; i < CLI_RELAY_RING; i++) free(r->ring_value[i]);
  pthread_cond_destroy(&r->proclaim_cond);
  pthread_mutex_destroy(&r->mu);
  close(r->wake_fd);
}

void cli_relay_drain(cli_relay *r) {
  uint64_t v;
  ssize_t n = read(r->wake_fd, &v, sizeof v);
  (void)n;
}

void cli_relay_on_event(const baton_event *ev, void *udata) {
  cli_relay *r = udata;
  pthread_mutex_lock(&r->mu);
  switch (ev->type) {
    case BATON_EVENT_LOST:
      r->lost_token = ev->token != 0 ? ev->token : UINT64_MAX;
      r->lost_reason = ev->reason;
      r->lost_ns = cli_now_ns();
      snprintf(r->lost_message, sizeof r->lost_message, "%s",
               ev->message != NULL ? ev->message : "");
      break;
    case BATON_EVENT_RENEW_FAILED:
      snprintf(r->renew_message, sizeof r->renew_message, "%s",
               ev->message != NULL ? ev->message : baton_strerror(ev->error));
      break;
    case BATON_EVENT_LEADER_CHANGED: {
      unsigned slot;
      if (r->ring_count < CLI_RELAY_RING) {
        slot = (r->ring_head + r->ring_count++) % CLI_RELAY_RING;
      } else {
        slot = (r->ring_head + CLI_RELAY_RING - 1) % CLI_RELAY_RING;
      }
      r->ring_none[slot] = ev->leader == NULL;
      free(r->ring_value[slot]);
      r->ring_value[slot] = ev->leader != NULL && ev->value != NULL && ev->value[0] != '\0'
                                ? strdup(ev->value)
                                : NULL;
      if (ev->leader != NULL)
        r->ring[slot] = *ev->leader;
      else
        memset(&r->ring[slot], 0, sizeof r->ring[slot]);
      break;
    }
    case BATON_EVENT_ELECTED:
      r->renew_message[0] = '\0';
      break;
  }
  pthread_mutex_unlock(&r->mu);
  poke(r);
}

uint64_t cli_relay_take_lost(cli_relay *r, baton_lost_reason *reason, int64_t *when_ns,
                             char *msg, size_t size) {
  pthread_mutex_lock(&r->mu);
  uint64_t token = r->lost_token;
  if (token != 0) {
    if (reason != NULL) *reason = r->lost_reason;
    if (when_ns != NULL) *when_ns = r->lost_ns;
    if (msg != NULL) snprintf(msg, size, "%s", r->lost_message);
    r->lost_token = 0;
  }
  pthread_mutex_unlock(&r->mu);
  return token;
}

void cli_relay_take_renew_failure(cli_relay *r, char *msg, size_t size) {
  pthread_mutex_lock(&r->mu);
  snprintf(msg, size, "%s", r->renew_message);
  r->renew_message[0] = '\0';
  pthread_mutex_unlock(&r->mu);
}

bool cli_relay_take_change(cli_relay *r, baton_leader *out, char **value, bool *none) {
  pthread_mutex_lock(&r->mu);
  bool got = r->ring_count > 0;
  *value = NULL;
  if (got) {
    *out = r->ring[r->ring_head];
    *none = r->ring_none[r->ring_head];
    *value = r->ring_value[r->ring_head];
    r->ring_value[r->ring_head] = NULL;
    r->ring_head = (r->ring_head + 1) % CLI_RELAY_RING;
    r->ring_count--;
  }
  pthread_mutex_unlock(&r->mu);
  return got;
}

/* ---- the campaign thread ------------------------------------------------ */

static void *campaign_main(void *arg) {
  cli_relay *r = arg;
  baton_error err = {0};
  uint64_t token = 0;
  int rc = baton_election_campaign(r->campaign_election, BATON_FOREVER, &token, &err);
  int64_t done_ns = cli_now_ns(); /* before the lock: the term began by now */
  pthread_mutex_lock(&r->mu);
  r->campaign_done_ns = done_ns;
  r->campaign_rc = rc;
  r->campaign_token = token;
  r->campaign_err = err;
  r->campaign_done = true;
  pthread_mutex_unlock(&r->mu);
  poke(r);
  return NULL;
}

int cli_campaign_start(cli_relay *r, baton_election *e) {
  pthread_mutex_lock(&r->mu);
  r->campaign_election = e;
  r->campaign_done = false;
  pthread_mutex_unlock(&r->mu);
  if (pthread_create(&r->campaign_thread, NULL, campaign_main, r) != 0) return -1;
  r->campaign_running = true;
  return 0;
}

bool cli_campaign_finished(cli_relay *r, int *rc, uint64_t *token, baton_error *err) {
  if (!r->campaign_running) return false;
  pthread_mutex_lock(&r->mu);
  bool done = r->campaign_done;
  pthread_mutex_unlock(&r->mu);
  if (!done) return false;
  pthread_join(r->campaign_thread, NULL);
  r->campaign_running = false;
  *rc = r->campaign_rc;
  *token = r->campaign_token;
  *err = r->campaign_err;
  return true;
}

void cli_campaign_stop(cli_relay *r, baton_election *e) {
  int rc;
  uint64_t token;
  baton_error err;
  /* Bounded: a cancel issued before the thread entered the campaign is
   * lost, so it is repeated; then the join waits for what is left. */
  for (int i = 0; i < 200 && r->campaign_running; i++) {
    baton_election_cancel(e);
    struct pollfd p = {.fd = r->wake_fd, .events = POLLIN};
    if (poll(&p, 1, 50) > 0) cli_relay_drain(r);
    if (cli_campaign_finished(r, &rc, &token, &err)) return;
  }
  if (r->campaign_running) {
    pthread_join(r->campaign_thread, NULL);
    r->campaign_running = false;
  }
}

/* ---- the proclaim thread -------------------------------------------------- */

static void *proclaim_main(void *arg) {
  cli_relay *r = arg;
  pthread_mutex_lock(&r->mu);
  for (;;) {
    /* Ends when asked to: cli_proclaim_stop signals under the mutex. */
    while (r->proclaim_next == NULL && !r->proclaim_quit)
      pthread_cond_wait(&r->proclaim_cond, &r->mu);
    if (r->proclaim_quit) break;
    char *text = r->proclaim_next;
    uint64_t token = r->proclaim_token, now_token = 0;
    r->proclaim_next = NULL;
    /* The same text again in the same term: already the value. */
    bool same = r->proclaim_last != NULL && r->proclaim_last_token == token &&
                strcmp(r->proclaim_last, text) == 0;
    pthread_mutex_unlock(&r->mu);
    baton_error err = {0};
    /* A text of an earlier term is not the value of the next one. */
    int rc = same ? 0
             : baton_election_is_leader(r->proclaim_election, &now_token, NULL) &&
                     now_token == token
                 ? baton_election_proclaim(r->proclaim_election, text, &err)
                 : BATON_ENOTHOLDER;
    pthread_mutex_lock(&r->mu);
    if (rc == 0 && !same) {
      free(r->proclaim_last);
      r->proclaim_last = text;
      r->proclaim_last_token = token;
      text = NULL;
    }
    free(text);
    /* Said with the mutex released: cli_relay_on_event takes it on the
     * library's thread, which a blocked stderr must not stall. */
    bool refused = rc == BATON_ENOTSUP && !r->proclaim_refused_said;
    bool failed = rc != 0 && rc != BATON_ENOTSUP && rc != BATON_ENOTHOLDER;
    r->proclaim_refused_said |= rc == BATON_ENOTSUP;
    if (refused || failed) {
      pthread_mutex_unlock(&r->mu);
      if (refused) cli_note("run", "STATUS= is not shown by status: %s", err.message);
      else cli_note("run", "STATUS= not proclaimed: %s", err.message);
      pthread_mutex_lock(&r->mu);
    }
  }
  pthread_mutex_unlock(&r->mu);
  return NULL;
}

int cli_proclaim_post(cli_relay *r, baton_election *e, uint64_t token, const char *text) {
  char *copy = strdup(text);
  if (copy == NULL) return ENOMEM;
  pthread_mutex_lock(&r->mu);
  free(r->proclaim_next);
  r->proclaim_next = copy;
  r->proclaim_token = token;
  r->proclaim_election = e;
  pthread_cond_signal(&r->proclaim_cond);
  pthread_mutex_unlock(&r->mu);
  if (r->proclaim_running) return 0;
  int rc = pthread_create(&r->proclaim_thread, NULL, proclaim_main, r);
  if (rc != 0) return rc;
  r->proclaim_running = true;
  return 0;
}

void cli_proclaim_stop(cli_relay *r) {
  if (!r->proclaim_running) return;
  pthread_mutex_lock(&r->mu);
  r->proclaim_quit = true;
  pthread_cond_signal(&r->proclaim_cond);
  pthread_mutex_unlock(&r->mu);
  pthread_join(r->proclaim_thread, NULL);
  r->proclaim_running = false;
  free(r->proclaim_next);
  r->proclaim_next = NULL;
  free(r->proclaim_last);
  r->proclaim_last = NULL;
}
