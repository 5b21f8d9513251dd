/* cli_test.c — end-to-end tests of the `baton` command, `fenced-store` and
 * the scheduler example, run as processes the way users run them.
 * `cli KIND [FILTER]`: KIND "usage" needs no server; "redis", "etcd", "zk" or
 * "redlock"
 * starts a real server of that kind and runs every case against it.
 * Waits are on events (output lines, pidfds); every wait is bounded. */
#include "backend_list.h"
#include "cli.h"
#include "kit.h"
#include "test.h"

#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/inotify.h>
#include <netinet/in.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define RUN_TTL_MS 4000  /* the stop-before-expiry case's ttl (see there) */

static const char *kind;
static test_cluster *server; /* NULL for "usage" */
static char workdir[256];

/* What a case names: "cli-<tag>-..." (kit_name). */
static const char *fresh(const char *tag) {
  char full[64];
  snprintf(full, sizeof full, "cli-%s", tag);
  return kit_name(full);
}

/* Whether this build has `backend` (backend_list.h). */
static bool built(const char *backend) {
#define IS_IT(b) || strcmp(backend, #b) == 0
  return false BATON_BACKENDS_BUILT(IS_IT);
#undef IS_IT
}

/* ---- processes ---------------------------------------------------------- */

/* What the programs under test get beyond 0-2: nothing (whatever ran this
 * test), or the extra descriptors a case sets up. */
static enum { FDS_PLAIN, FDS_PASS_7, FDS_CLOSE_0_2 } fds_mode;

static kit_proc_opts opts(const char *const env[]) {
  kit_proc_opts o = {.env = env, .only_std_fds = true};
  if (fds_mode == FDS_PASS_7) o.stdin_at = 7;
  if (fds_mode == FDS_CLOSE_0_2) o.close_0_and_2 = true;
  return o;
}

/* Start a process that runs on while the case goes on; NULL on failure.
 * The kit kills it after the case if the case did not. */
static kit_proc *spawn(const char *const argv[], const char *const env[]) {
  kit_proc_opts o = opts(env);
  return kit_spawn(argv, &o);
}

/* Run to completion within timeout_ms; the exit code or -1. */
static int run(kit_proc *p, const char *const argv[], const char *const env[], int timeout_ms) {
  kit_proc_opts o = opts(env);
  return kit_run(p, argv, &o, timeout_ms);
}

/* Done with a process started by spawn(): killed if it still runs. */
static void done(kit_proc *p) { kit_proc_stop(p, SIGKILL, 5000); }

static size_t count_lines(const char *s) {
  size_t n = 0;
  for (; *s != '\0'; s++) n += *s == '\n';
  return n;
}

/* ---- running the programs ----------------------------------------------- */

/* `baton ARGS...` with --backend added after the subcommand (both words
 * of `lease VERB`) when `uri` is not NULL. argv holds at most 24 entries. */
static void baton_argv(const char *argv[32], const char *uri, const char *const args[]) {
  int n = 0;
  argv[n++] = BATON_EXE;
  if (args[0] == NULL) {
    argv[n] = NULL;
    return;
  }
  argv[n++] = args[0];
  if (strcmp(args[0], "lease") == 0 && args[1] != NULL) argv[n++] = *++args;
  if (uri != NULL) {
    argv[n++] = "--backend";
    argv[n++] = uri;
  }
  for (int i = 1; args[i] != NULL && n < 31; i++) argv[n++] = args[i];
  argv[n] = NULL;
}

static int baton(kit_proc *p, const char *const args[], int timeout_ms) {
  const char *argv[32];
  baton_argv(argv, server != NULL ? server->uri : NULL, args);
  return run(p, argv, NULL, timeout_ms);
}

static kit_proc *baton_start(const char *const args[]) {
  const char *argv[32];
  baton_argv(argv, server->uri, args);
  return spawn(argv, NULL);
}

/* Validate a JSON line with Python and take its fields apart. */
static int json_fields(const char *line, char *name, char *identity, unsigned long long *token) {
  static const char script[] =
      "import json,sys\n"
      "d=json.loads(sys.argv[1])\n"
      "assert sorted(d)==['identity','name','token','value'], d\n"
      "assert (d['value'] is None)==(d['identity'] is None), d\n"
      "assert isinstance(d['token'],int) and not isinstance(d['token'],bool)\n"
      "print(d['name']); print('<null>' if d['identity'] is None else d['identity'])\n"
      "print(d['token'])\n";
  const char *argv[] = {"/usr/bin/python3", "-c", script, line, NULL};
  kit_proc p;
  int code = run(&p, argv, NULL, 20000);
  if (code != 0) {
    TEST_FAIL_("python3 rejects '%s' (exit %d): %s", line, code, p.ebuf);
    return -1;
  }
  char *a = p.obuf, *b = strchr(a, '\n'), *c = b ? strchr(b + 1, '\n') : NULL;
  if (b == NULL || c == NULL) {
    TEST_FAIL_("python3 printed fewer than 3 lines for '%s': %s", line, p.obuf);
    return -1;
  }
  *b = *c = '\0';
  snprintf(name, 200, "%.199s", a);
  snprintf(identity, 300, "%.299s", b + 1);
  *token = strtoull(c + 1, NULL, 10);
  return 0;
}

/* Expect: exit `want`, nothing on stdout, exactly one "baton: ..." line on
 * stderr, and `secret` (if not NULL) nowhere in it. */
static void expect_one_line(const char *const args[], const char *const env[], int want,
                            const char *secret, const char *what) {
  const char *argv[32];
  baton_argv(argv, NULL, args);
  kit_proc p;
  int code = run(&p, argv, env, 20000);
  if (code != want || count_lines(p.ebuf) != 1 || strncmp(p.ebuf, "baton: ", 7) != 0 ||
      p.olen != 0 || (secret != NULL && strstr(p.ebuf, secret) != NULL))
    TEST_FAIL_("%s: exit %d, stdout '%s', stderr '%s'", what, code, p.obuf, p.ebuf);
}

/* Expect: exit 2, nothing on stdout, exactly one "baton: ..." line on stderr. */
static void expect_usage(const char *const args[], const char *const env[], const char *what) {
  expect_one_line(args, env, 2, NULL, what);
}

/* ---- cases without a server --------------------------------------------- */

static void usage_errors(void) {
  static const char *const unknown[] = {"frobnicate", "--name", "x", NULL};
  static const char *const none[] = {NULL};
  static const char *const no_name[] = {"leader", "--backend", "redis://127.0.0.1:1", NULL};
  static const char *const no_backend[] = {"leader", "--name", "x", NULL};
  static const char *const bad_ttl[] = {"campaign", "--backend", "redis://127.0.0.1:1",
                                        "--name", "x", "--ttl", "5q", NULL};
  static const char *const bare_ttl[] = {"campaign", "--backend", "redis://127.0.0.1:1",
                                         "--name", "x", "--ttl", "5", NULL};
  static const char *const tiny_ttl[] = {"campaign", "--backend", "redis://127.0.0.1:1",
                                         "--name", "x", "--ttl", "1ms", NULL};
  static const char *const bad_scheme[] = {"leader", "--backend", "bogus://x", "--name", "x",
                                           NULL};
  static const char *const bad_port[] = {"leader", "--backend", "redis://127.0.0.1:99999",
                                         "--name", "x", NULL};
  static const char *const bad_option[] = {"leader", "--backend", "redis://127.0.0.1:1",
                                           "--name", "x", "--once", NULL};
  static const char *const no_cmd[] = {"run", "--backend", "redis://127.0.0.1:1", "--name", "x",
                                       NULL};
  static const char *const missing_cmd[] = {"run", "--backend", "redis://127.0.0.1:1", "--name",
                                            "x", "--", "/nonexistent/cmd", NULL};
  static const char *const long_grace[] = {"run", "--backend", "redis://127.0.0.1:1", "--name",
                                           "x", "--ttl", "1s", "--grace", "900ms", "--", "true",
                                           NULL};
  static const char *const extra[] = {"observe", "--backend", "redis://127.0.0.1:1", "--name",
                                      "x", "surplus", NULL};
  static const char *const bad_metrics[] = {"run", "--backend", "redis://127.0.0.1:1", "--name",
                                            "x", "--metrics-file", "/nonexistent/m.prom", "--",
                                            "true", NULL};
  expect_usage(unknown, NULL, "unknown subcommand");
  expect_usage(none, NULL, "no subcommand");
  expect_usage(no_name, NULL, "missing --name");
  expect_usage(no_backend, NULL, "missing --backend");
  expect_usage(bad_ttl, NULL, "bad duration unit");
  expect_usage(bare_ttl, NULL, "duration without unit");
  expect_usage(tiny_ttl, NULL, "ttl below the minimum");
  expect_usage(bad_scheme, NULL, "unknown URI scheme");
  expect_usage(bad_port, NULL, "bad port in URI");
  expect_usage(bad_option, NULL, "option of another subcommand");
  expect_usage(no_cmd, NULL, "run without a command");
  expect_usage(missing_cmd, NULL, "run with a missing command");
  expect_usage(long_grace, NULL, "grace too long for the ttl");
  expect_usage(extra, NULL, "surplus argument");
  expect_usage(bad_metrics, NULL, "--metrics-file in a missing folder");
  static const char *const no_watchdog[] = {"run", "--backend", "redis://127.0.0.1:1", "--name",
                                            "x", "--watchdog", "0ms", "--", "true", NULL};
  static const char *const campaign_watchdog[] = {"campaign", "--backend", "redis://127.0.0.1:1",
                                                  "--name", "x", "--watchdog", "1s", NULL};
  expect_usage(no_watchdog, NULL, "--watchdog 0ms");
  static const char *const tiny_watchdog[] = {"run", "--backend", "redis://127.0.0.1:1", "--name",
                                              "x", "--watchdog", "9ms", "--", "true", NULL};
  expect_usage(tiny_watchdog, NULL, "--watchdog below 10ms");
  static const char *const plain_run[] = {"run", "--backend", "redis://127.0.0.1:1", "--name",
                                          "x", "--", "true", NULL};
  static const char *const vsock[] = {"NOTIFY_SOCKET=vsock:2:999", NULL};
  expect_usage(plain_run, vsock, "a vsock: NOTIFY_SOCKET");
  static char long_path[160] = "NOTIFY_SOCKET=/";
  memset(long_path + 15, 'x', sizeof long_path - 16);
  static const char *const too_long[] = {long_path, NULL};
  expect_usage(plain_run, too_long, "a NOTIFY_SOCKET longer than a socket address");
  expect_usage(campaign_watchdog, NULL, "--watchdog for campaign");
  /* The environment names the backend when the flag is absent. */
  static const char *const env_only[] = {"leader", "--name", "x", NULL};
  static const char *const env[] = {"BATON_BACKEND=bogus://x", NULL};
  expect_usage(env_only, env, "bad URI from BATON_BACKEND");
  static const char *const lease_bare[] = {"lease", NULL};
  static const char *const lease_verb[] = {"lease", "grab", "--name", "x", NULL};
  static const char *const lease_no_ttl[] = {"lease", "acquire", "--backend",
                                             "redis://127.0.0.1:1", "--name", "x", NULL};
  static const char *const lease_long_ttl[] = {"lease", "acquire", "--backend",
                                               "redis://127.0.0.1:1", "--name", "x", "--ttl",
                                               "10081m", NULL};
  static const char *const lease_no_token[] = {"lease", "release", "--backend",
                                               "redis://127.0.0.1:1", "--name", "x", NULL};
  static const char *const lease_bad_token[] = {"lease", "extend", "--backend",
                                                "redis://127.0.0.1:1", "--name", "x", "--ttl",
                                                "1s", "--token", "12x", NULL};
  static const char *const lease_option[] = {"lease", "release", "--backend",
                                             "redis://127.0.0.1:1", "--name", "x", "--token",
                                             "5", "--ttl", "1s", NULL};
  expect_usage(lease_bare, NULL, "lease without its command");
  expect_usage(lease_verb, NULL, "an unknown lease command");
  expect_usage(lease_no_ttl, NULL, "lease acquire without --ttl");
  expect_usage(lease_long_ttl, NULL, "lease acquire --ttl over a week");
  expect_usage(lease_no_token, NULL, "lease release without --token");
  expect_usage(lease_bad_token, NULL, "lease extend with a bad --token");
  expect_usage(lease_option, NULL, "lease release --ttl");
}

/* A notify datagram is parsed as systemd does: newline-separated
 * assignments, the ones baton acts on found among others, a STATUS= made
 * one printable line, a truncated or empty datagram saying nothing. */
static void notify_messages_parse(void) {
  cli_notify_message m;
  const char several[] = "MAINPID=4\nWATCHDOG=1\nSTATUS=step\t3/30\nREADY=1\nBARRIER=1";
  cli_notify_parse(several, sizeof several - 1, &m);
  CHECK(m.watchdog);
  CHECK(m.ready);
  CHECK(m.status);
  CHECK_STR(m.status_text, "step 3/30");
  const char others[] = "WATCHDOG=trigger\nREADY=0\nSTATUS\nREADY=1x\n\n";
  cli_notify_parse(others, sizeof others - 1, &m);
  CHECK(!m.watchdog && !m.ready && !m.status);
  cli_notify_parse("STATUS=", 7, &m);
  CHECK(m.status);
  CHECK_STR(m.status_text, "");
  static char longer[CLI_NOTIFY_STATUS_MAX + 100] = "STATUS=";
  memset(longer + 7, 'x', sizeof longer - 8);
  cli_notify_parse(longer, sizeof longer - 1, &m);
  CHECK_EQ(strlen(m.status_text), CLI_NOTIFY_STATUS_MAX);
  CHECK(m.status_cut);
  cli_notify_parse(longer, 7 + CLI_NOTIFY_STATUS_MAX, &m); /* exactly the limit: whole */
  CHECK_EQ(strlen(m.status_text), CLI_NOTIFY_STATUS_MAX);
  CHECK(!m.status_cut);
  cli_notify_parse("WATCHDOG=1", 0, &m);
  CHECK(!m.watchdog);
  /* "\r" ends a line too, and the first STATUS= counts, as in systemd. */
  const char cr[] = "STATUS=first\rWATCHDOG=1\r\nSTATUS=second";
  cli_notify_parse(cr, sizeof cr - 1, &m);
  CHECK(m.watchdog);
  CHECK_STR(m.status_text, "first");
  /* A cut falls before a character, not inside one: "é" is 2 bytes. */
  static char accents[8 + CLI_NOTIFY_STATUS_MAX + 3] = "STATUS=a";
  for (size_t i = 8; i + 1 < sizeof accents - 1; i += 2) memcpy(accents + i, "\xc3\xa9", 2);
  cli_notify_parse(accents, strlen(accents), &m);
  CHECK_EQ(strlen(m.status_text), CLI_NOTIFY_STATUS_MAX - 1);
  CHECK(m.status_cut);
  CHECK((unsigned char)m.status_text[strlen(m.status_text) - 1] == 0xa9);
}

/* CMD's socket: a datagram comes with its sender's PID; one longer than
 * systemd reads (4096 bytes) is dropped whole, not read in part. */
static void notify_socket_receives(void) {
  cli_notify n;
  char why[256];
  REQUIRE(cli_notify_open(&n, why, sizeof why) == 0);
  cli_notify_message m;
  pid_t from = 0;
  CHECK_EQ(cli_notify_receive(&n, &m, &from), 0);
  CHECK_EQ(cli_notify_send(n.path, "WATCHDOG=1\nSTATUS=hi"), 0);
  CHECK_EQ(cli_notify_receive(&n, &m, &from), 1);
  CHECK(m.watchdog);
  CHECK_STR(m.status_text, "hi");
  CHECK_EQ(from, getpid());
  static char big[5000];
  memset(big, 'x', sizeof big - 1);
  memcpy(big, "WATCHDOG=1\nREADY=1\n", 19);
  CHECK_EQ(cli_notify_send(n.path, big), 0);
  CHECK_EQ(cli_notify_receive(&n, &m, &from), 1);
  CHECK(!m.watchdog && !m.ready && !m.status);
  char path[sizeof n.path];
  snprintf(path, sizeof path, "%s", n.path);
  cli_notify_close(&n);
  CHECK_EQ(access(path, F_OK), -1);
}

/* A password in the URI shows in no message, whatever the mistake; a bad
 * --password-file is one line and exit 2. The secret is longer than the
 * 64 bytes of a URI the library quotes, and its start is looked for, so a
 * secret cut short shows too. */
static void secrets_redacted(void) {
#define SECRET "hunter2-0123456789-0123456789-0123456789-0123456789-0123456789"
#define PART "hunter2" /* a secret cut short shows no more than its start */
  static const struct {
    const char *uri;
    int code;
  } uris[] = {
      {"cli:" SECRET "@localhost:6379", 2},                /* no scheme */
      {SECRET "@localhost:6379", 2},                       /* a bare password, no scheme */
      {"bogus://cli:" SECRET "@127.0.0.1:1", 2},           /* unknown scheme */
      {"redis://cli:" SECRET "@127.0.0.1:99999", 2},       /* bad port */
      {"redis://:" SECRET "@", 2},                         /* no host */
      {"redis://cli:" SECRET "%zz@127.0.0.1:1", 2},        /* bad escape */
      {"redis://cli:" SECRET "@127.0.0.1:1", 1},           /* nothing listens */
      {"zk://cli:" SECRET "@127.0.0.1:1/a?bogus=1", 2},    /* unknown parameter */
      {"redis:/cli:" SECRET "@127.0.0.1:1", 2},            /* a typo in the scheme */
      {"redis//cli:" SECRET "@127.0.0.1:1", 2},            /* another */
      {"cli:" SECRET "@127.0.0.1:1", 2},                   /* no scheme at all */
      {"redis://default:12/" SECRET "@127.0.0.1:1", 2},    /* '/' in the password */
      {"zk://root:12/" SECRET "@127.0.0.1:1", 2},          /* the same for zk:// */
      {"etcd://root:12?" SECRET "@127.0.0.1:1", 2},        /* '?' in the password */
      {"redis://default:12#" SECRET "@127.0.0.1:1", 2},    /* '#' in the password */
  };
  for (size_t i = 0; i < sizeof uris / sizeof uris[0]; i++) {
    const char *const flag[] = {"leader", "--backend", uris[i].uri, "--name", "x", NULL};
    expect_one_line(flag, NULL, uris[i].code, PART, uris[i].uri);
    char var[300];
    snprintf(var, sizeof var, "BATON_BACKEND=%s", uris[i].uri);
    const char *const env[] = {var, NULL};
    const char *const no_flag[] = {"campaign", "--name", "x", NULL};
    expect_one_line(no_flag, env, uris[i].code, PART, var);
  }
  /* A mistyped option quotes the argument: the URI in it is redacted. */
  const char *const typo[] = {"leader", "--backnd=redis://cli:" SECRET "@h:1", "--name", "x",
                              NULL};
  expect_one_line(typo, NULL, 2, PART, "mistyped --backend");
  const char *const operand[] = {"leader", "--name", "x", "redis://cli:" SECRET "@h:1", NULL};
  expect_one_line(operand, NULL, 2, PART, "the URI as an operand");
  const char *const command[] = {"redis://cli:" SECRET "@h:1", NULL};
  expect_one_line(command, NULL, 2, PART, "the URI as the command");
  /* The password from the environment or a file is redacted too. */
  const char *const env_pw[] = {"BATON_PASSWORD=" SECRET, NULL};
  const char *const echo[] = {"leader", "--backend", "redis://127.0.0.1:1", "--name", "x",
                              SECRET, NULL};
  expect_one_line(echo, env_pw, 2, PART, "the password as a surplus argument");
#undef PART
#undef SECRET

  char path[300];
  snprintf(path, sizeof path, "%s/empty-password", workdir);
  REQUIRE(test_write_file(path, "\nsecond line\n") == 0);
  const char *const files[] = {"/nonexistent/password", workdir, path};
  for (size_t i = 0; i < 3; i++) {
    const char *const args[] = {"leader", "--backend", "redis://127.0.0.1:1", "--name", "x",
                                "--password-file", files[i], NULL};
    expect_usage(args, NULL, files[i]);
    kit_proc p;
    const char *argv[32];
    baton_argv(argv, NULL, args);
    run(&p, argv, NULL, 20000);
    CHECK_CONTAINS(p.ebuf, files[i]);
  }
}

/* Durations: a number, an optional fraction, one of ms/s/m; nothing else. */
static void durations(void) {
  static const struct {
    const char *text;
    long long ms; /* -1: rejected */
  } cases[] = {
      {"250ms", 250}, {"2s", 2000},  {"1.5s", 1500}, {"0.25s", 250}, {"1m", 60000},
      {".5s", 500},   {"0ms", 0},    {"1.0005s", -1}, {"0.5ms", -1}, {"5", -1},
      {"5q", -1},     {"", -1},      {"s", -1},      {"-1s", -1},    {"1h", -1},
      {" 1s", -1},    {"1s ", -1},   {"1e3ms", -1},  {"1..5s", -1},  {"9999999999999s", -1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint64_t ms = 0;
    char why[200] = "";
    int rc = cli_duration_ms(cases[i].text, &ms, why, sizeof why);
    if (cases[i].ms < 0) {
      if (rc == 0 || why[0] == '\0')
        TEST_FAIL_("'%s' accepted as %llu ms", cases[i].text, (unsigned long long)ms);
    } else if (rc != 0 || (long long)ms != cases[i].ms) {
      TEST_FAIL_("'%s' -> rc %d, %llu ms (%s)", cases[i].text, rc, (unsigned long long)ms, why);
    }
  }
}

/* Each command's options, as a user reads them in the manual. */
static const struct {
  const char *command;
  const char *options[16];
  const char *exit_codes; /* the codes its help must explain, in order */
} command_options[] = {
    {"run",
     {"--backend", "--name", "--ttl", "--identity", "--grace", "--once", "-v", "--verbose",
      "--events", "--metrics-file", "--metrics-listen", "--watchdog", "--password-file", "--help",
      NULL},
     "CMD's status 0 1 2"},
    {"campaign", {"--backend", "--name", "--ttl", "--identity", "--password-file", "--help", NULL},
     "0 1 2"},
    {"leader", {"--backend", "--name", "--json", "--password-file", "--help", NULL}, "0 1 2 3"},
    {"observe", {"--backend", "--name", "--json", "--password-file", "--help", NULL}, "0 1 2"},
    {"status", {"--backend", "--name", "--json", "--password-file", "--help", NULL}, "0 1 2 3"},
    {"lease acquire",
     {"--backend", "--name", "--ttl", "--identity", "--timeout", "--json", "--password-file",
      "--help", NULL},
     "0 1 2 3"},
    {"lease extend",
     {"--backend", "--name", "--ttl", "--token", "--password-file", "--help", NULL},
     "0 1 2"},
    {"lease release", {"--backend", "--name", "--token", "--password-file", "--help", NULL},
     "0 1 2"},
};
#define NCOMMAND_OPTIONS (sizeof command_options / sizeof command_options[0])

/* `baton ARGS...` without a backend: exit 0, stdout returned in `out`. */
static void help_output(const char *const args[], char *out, size_t size) {
  kit_proc p;
  CHECK_EQ(baton(&p, args, 20000), 0);
  CHECK_EQ(p.elen, 0);
  snprintf(out, size, "%s", p.obuf);
}

/* The line of a help `text`'s options that lists option `opt`
 * ("  -v, --verbose  ..."), or NULL. */
static const char *option_line(const char *text, const char *opt, char *line, size_t size) {
  size_t n = strlen(opt);
  const char *options = strstr(text, "\nOptions:\n");
  for (const char *l = options != NULL ? options + 10 : ""; *l != '\0' && *l != '\n';) {
    size_t len = strcspn(l, "\n");
    const char *at = l + strspn(l, " ");
    if (at[0] == '-' && at[1] != '-' && strncmp(at + 2, ", ", 2) == 0 && strlen(opt) > 2)
      at += 4; /* "-v, --verbose": the long form */
    if (at < l + len && strncmp(at, opt, n) == 0 && (at[n] == ' ' || at[n] == ',')) {
      snprintf(line, size, "%.*s", (int)len, l);
      return line;
    }
    l += len + (l[len] == '\n');
  }
  return NULL;
}

/* Every command's help: the same from --help, -h and `baton help CMD`;
 * every option the command takes on a line of its own with a text; only
 * options the command takes (each listed one is not "unknown"); the
 * environment; each exit code it can end with. The main help names every
 * command; --version and -V print the library's version. */
static void help_and_version(void) {
  static char help[32768], again[32768];
  char line[256], expect[64];
  for (size_t c = 0; c < NCOMMAND_OPTIONS; c++) {
    const char *cmd = command_options[c].command;
    /* `lease VERB` is two words. */
    const char *verb = strncmp(cmd, "lease ", 6) == 0 ? cmd + 6 : NULL;
    const char *first = verb != NULL ? "lease" : cmd;
    const char *long_form[] = {first, "--help", NULL, NULL};
    const char *short_form[] = {first, "-h", NULL, NULL};
    const char *const help_form[] = {"help", first, verb, NULL};
    if (verb != NULL) {
      long_form[1] = short_form[1] = verb;
      long_form[2] = "--help";
      short_form[2] = "-h";
    }
    help_output(long_form, help, sizeof help);
    snprintf(expect, sizeof expect, "usage: baton %s --backend URI --name NAME", cmd);
    CHECK(strncmp(help, expect, strlen(expect)) == 0);
    help_output(short_form, again, sizeof again);
    CHECK_STR(again, help);
    help_output(help_form, again, sizeof again);
    CHECK_STR(again, help);
    size_t listed = 0;
    for (const char *const *o = command_options[c].options; *o != NULL; o++) {
      if (option_line(help, *o, line, sizeof line) == NULL) {
        TEST_FAIL_("baton %s --help does not list %s:\n%s", cmd, *o, help);
        continue;
      }
      /* After the option (", --long" of a short one) and its value's
       * name in capitals, a gap and a text of a few words. */
      const char *text = strstr(line, *o) + strlen(*o);
      if (strncmp(text, ", --", 4) == 0) text += 2 + strcspn(text + 2, " ");
      if (text[0] == ' ' && text[1] >= 'A' && text[1] <= 'Z') text += 1 + strcspn(text + 1, " ");
      if (strncmp(text, "  ", 2) != 0 || strlen(text + strspn(text, " ")) < 10)
        TEST_FAIL_("baton %s --help: no text for %s: '%s'", cmd, *o, line);
      listed++;
    }
    /* No other option: count the option lines ("  -x, --y" or "      --y"). */
    size_t lines = 0;
    for (const char *l = strstr(help, "\nOptions:\n"); l != NULL && (l = strchr(l + 1, '\n'));) {
      if (strncmp(l + 1, "  -", 3) == 0 || strncmp(l + 1, "      --", 8) == 0) lines++;
      if (l[1] == '\n') break;
    }
    CHECK_EQ(lines, listed - (strcmp(cmd, "run") == 0)); /* -v and --verbose share one */
    CHECK_CONTAINS(help, "BATON_BACKEND");
    CHECK_CONTAINS(help, "BATON_PASSWORD");
    const char *exits = strstr(help, "Exit status:");
    CHECK(exits != NULL);
    char codes[64];
    snprintf(codes, sizeof codes, "%s", command_options[c].exit_codes);
    char *save = NULL;
    for (char *code = strtok_r(codes, " ", &save); exits != NULL && code != NULL;
         code = strtok_r(NULL, " ", &save)) {
      const char *at = strstr(exits, code);
      if (at == NULL) TEST_FAIL_("baton %s --help: exit %s not explained: %s", cmd, code, exits);
      else exits = at;
    }
  }
  static const char *const top[] = {"--help", NULL};
  static const char *const top_help[] = {"help", NULL};
  static const char *const top_h[] = {"-h", NULL};
  help_output(top, help, sizeof help);
  help_output(top_help, again, sizeof again);
  CHECK_STR(again, help);
  help_output(top_h, again, sizeof again);
  CHECK_STR(again, help);
  CHECK(strncmp(help, "usage: baton COMMAND", 20) == 0);
  for (size_t c = 0; c < NCOMMAND_OPTIONS; c++) {
    snprintf(expect, sizeof expect, "\n  %s ", command_options[c].command);
    CHECK_CONTAINS(help, expect);
  }
  CHECK_CONTAINS(help, "--version");
  CHECK_CONTAINS(help, "BATON_PASSWORD");
  CHECK_CONTAINS(help, "3 no leader");
  static const char *const version[] = {"--version", NULL};
  static const char *const v[] = {"-V", NULL};
  snprintf(expect, sizeof expect, "baton %s\n", baton_version());
  help_output(version, help, sizeof help);
  CHECK_STR(help, expect);
  help_output(v, help, sizeof help);
  CHECK_STR(help, expect);
}

/* Read a whole (small) file into buf; 0 or -1. */
static int read_text(const char *path, char *buf, size_t size) {
  FILE *f = fopen(path, "r");
  if (f == NULL) return -1;
  size_t n = fread(buf, 1, size - 1, f);
  buf[n] = '\0';
  fclose(f);
  return n > 0 && n < size - 1 ? 0 : -1;
}

/* The manual page: groff renders it without a warning; it has the usual
 * sections and every option of every command (as roff writes "--",
 * "\-\-"); `cmake --install` puts it where man(1) finds it. */
static void man_page(void) {
  static char page[65536];
  REQUIRE(read_text(BATON_MAN_PAGE, page, sizeof page) == 0);
  const char *const groff[] = {"/usr/bin/groff", "-man", "-Tascii", "-ww", "-z", BATON_MAN_PAGE,
                               NULL};
  kit_proc p;
  CHECK_EQ(run(&p, groff, NULL, 20000), 0);
  CHECK_STR(p.ebuf, "");
  static const char *const sections[] = {
      ".SH NAME\n",        ".SH SYNOPSIS\n",    ".SH DESCRIPTION\n",  ".SH OPTIONS\n",
      ".SH ENVIRONMENT\n", ".SH EXIT STATUS\n", ".B BATON_BACKEND\n", ".B BATON_PASSWORD\n"};
  for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
    CHECK_CONTAINS(page, sections[i]);
  for (size_t c = 0; c < NCOMMAND_OPTIONS; c++) {
    char roff[64], run_line[64];
    snprintf(run_line, sizeof run_line, ".B %s\n", command_options[c].command);
    CHECK_CONTAINS(page, run_line);
    for (const char *const *o = command_options[c].options; *o != NULL; o++) {
      /* "-v" is "\-v"; "--name" is "\-\-name" and "-" inside a name "\-". */
      size_t n = 0;
      for (const char *q = *o; *q != '\0' && n + 3 < sizeof roff; q++) {
        if (*q == '-') roff[n++] = '\\';
        roff[n++] = *q;
      }
      roff[n] = '\0';
      if (strstr(page, roff) == NULL) TEST_FAIL_("the man page has no %s (%s)", *o, roff);
    }
  }

  char prefix[300], mandir[340];
  snprintf(prefix, sizeof prefix, "%s/prefix", workdir);
  const char *const install[] = {CMAKE_EXE, "--install", BATON_BUILD_DIR, "--prefix", prefix,
                                 NULL};
  CHECK_EQ(run(&p, install, NULL, 120000), 0);
  snprintf(mandir, sizeof mandir, "%s/share/man", prefix);
  const char *const man[] = {"/usr/bin/man", "-M", mandir, "-P", "cat", "baton", NULL};
  const char *const env[] = {"MANWIDTH=80", "LC_ALL=C", NULL};
  CHECK_EQ(run(&p, man, env, 20000), 0);
  CHECK_CONTAINS(p.obuf, "--password-file");
  CHECK_CONTAINS(p.obuf, "EXIT STATUS");
}

/* The fenced store alone: the highest token wins, lower ones are refused. */
static void fenced_store_rules(void) {
  char addr[320];
  snprintf(addr, sizeof addr, "unix:%s/store.sock", workdir);
  const char *serve[] = {FENCED_STORE_EXE, "serve", "--addr", addr, NULL};
  kit_proc *s = spawn(serve, NULL);
  REQUIRE(s != NULL);
  char line[512];
  REQUIRE(kit_proc_line(s, line, sizeof line, 10000) == 0);
  CHECK(strncmp(line, "listening ", 10) == 0);
  struct {
    const char *token, *writer;
    int code;
  } writes[] = {{"5", "a", 0}, {"5", "a", 0}, {"4", "b", 4}, {"9", "c", 0}, {"5", "a", 4}};
  for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
    const char *w[] = {FENCED_STORE_EXE, "write", "--addr", addr, "--token", writes[i].token,
                       "--writer", writes[i].writer, "some data", NULL};
    kit_proc p;
    CHECK_EQ(run(&p, w, NULL, 10000), writes[i].code);
    REQUIRE(kit_proc_line(s, line, sizeof line, 10000) == 0);
    CHECK_CONTAINS(line, writes[i].code == 0 ? " accepted" : " refused");
  }
  const char *from_env[] = {FENCED_STORE_EXE, "write", "--addr", addr, "x", NULL};
  const char *env[] = {"BATON_TOKEN=3", "BATON_IDENTITY=old", NULL};
  kit_proc p;
  CHECK_EQ(run(&p, from_env, env, 10000), 4);
  const char *bad[] = {FENCED_STORE_EXE, "write", "--addr", addr, "--token", "x1", "--writer",
                       "a", "d", NULL};
  CHECK_EQ(run(&p, bad, NULL, 10000), 2);
  const char *help[] = {FENCED_STORE_EXE, "--help", NULL};
  CHECK_EQ(run(&p, help, NULL, 10000), 0);
  CHECK_CONTAINS(p.obuf, "example");
  kill(s->pid, SIGTERM);
  CHECK_EQ(kit_proc_wait(s, 10000), 0);
  done(s);
}

/* Start `fenced-store serve` on unix:<workdir>/<tag>.sock with the
 * `extra` arguments (may be NULL); its address goes to `addr`. NULL when
 * it did not say it listens. */
static kit_proc *store_start(const char *tag, const char *const extra[], char *addr, size_t size) {
  snprintf(addr, size, "unix:%s/%s.sock", workdir, tag);
  const char *argv[16] = {FENCED_STORE_EXE, "serve", "--addr", addr};
  int n = 4;
  for (int i = 0; extra != NULL && extra[i] != NULL && n < 15; i++) argv[n++] = extra[i];
  argv[n] = NULL;
  kit_proc *s = spawn(argv, NULL);
  char line[512];
  if (s != NULL && (kit_proc_line(s, line, sizeof line, 10000) != 0 ||
                    strncmp(line, "listening ", 10) != 0)) {
    TEST_FAIL_("fenced-store did not start: '%s' %s", line, s->ebuf);
    done(s);
    return NULL;
  }
  return s;
}

/* A blocking connection to the store at "unix:PATH"; -1 on failure. */
static int store_connect(const char *addr) {
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  /* Checked, not truncated: -O2's format-truncation check sees that the
   * address could be longer than sun_path. */
  size_t len = strlen(addr + 5);
  if (len >= sizeof un.sun_path) return -1;
  memcpy(un.sun_path, addr + 5, len + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&un, sizeof un) != 0) {
    close(fd);
    fd = -1;
  }
  return fd;
}

/* Ask the store one request on `fd`: the reply line, or "" after
 * timeout_ms or when the store closed the connection. */
static const char *store_ask(int fd, const char *request, char *reply, size_t size,
                             int timeout_ms) {
  size_t got = 0;
  reply[0] = '\0';
  if (send(fd, request, strlen(request), MSG_NOSIGNAL) != (ssize_t)strlen(request)) return reply;
  int64_t end = kit_now_ms() + timeout_ms;
  while (got + 1 < size && memchr(reply, '\n', got) == NULL) {
    struct pollfd f = {.fd = fd, .events = POLLIN};
    int left = kit_ms_left(end);
    if (left == 0 || poll(&f, 1, left) <= 0) break;
    ssize_t n = recv(fd, reply + got, size - 1 - got, 0);
    if (n <= 0) break;
    got += (size_t)n;
    reply[got] = '\0';
  }
  char *nl = memchr(reply, '\n', got);
  if (nl != NULL) *nl = '\0';
  else reply[0] = '\0';
  return reply;
}

/* Whether the store closed `fd` (EOF or error) within `ms`. */
static bool store_closed(int fd, int ms) {
  struct pollfd f = {.fd = fd, .events = POLLIN};
  char byte;
  return poll(&f, 1, ms) > 0 && recv(fd, &byte, 1, MSG_DONTWAIT) <= 0;
}

/* A client dropped (`dropped`, -1 if never) between min_ms and max_ms
 * after `from`. */
static void check_dropped(const char *who, int64_t from, int64_t dropped, int min_ms, int max_ms) {
  CHECK(dropped >= 0);
  if (dropped < 0) return;
  printf("  %s dropped %lld ms after it began\n", who, (long long)(dropped - from));
  CHECK_GE(dropped - from, min_ms);
  CHECK_LT(dropped - from, max_ms);
}

/* A client that neither sends nor reads is dropped once the idle timeout
 * has passed, not before; one that keeps asking meanwhile stays. */
static void store_drops_idle_clients(void) {
  char addr[320], reply[128];
  const char *const extra[] = {"--idle-timeout", "400ms", NULL};
  kit_proc *s = store_start("idle", extra, addr, sizeof addr);
  REQUIRE(s != NULL);
  int64_t connected = kit_now_ms();
  int idle = store_connect(addr), busy = store_connect(addr);
  REQUIRE(idle >= 0 && busy >= 0);
  int64_t dropped = -1;
  /* The busy client asks every 100 ms (the wait for the idle one's end). */
  for (int64_t end = connected + 10000; dropped < 0 && kit_ms_left(end) > 0;) {
    CHECK_STR(store_ask(busy, "HIGHEST\n", reply, sizeof reply, 5000), "HIGHEST 0");
    if (store_closed(idle, 100)) dropped = kit_now_ms();
  }
  check_dropped("idle client", connected, dropped, 400, 400 + 2000);
  CHECK_STR(store_ask(busy, "HIGHEST\n", reply, sizeof reply, 5000), "HIGHEST 0");
  close(idle);
  close(busy);
  kill(s->pid, SIGTERM);
  CHECK_EQ(kit_proc_wait(s, 10000), 0);
}

/* Two clients pipeline N writes each while the store is stopped, so that
 * both are waiting in full when it resumes: it must take them in turn (a
 * run of one client's writes at most a few long), not one client's
 * backlog, or a buffer's worth of it, before the other's. */
static void store_is_fair(void) {
  enum { N = 100 };
  char addr[320], line[512];
  kit_proc *s = store_start("fair", NULL, addr, sizeof addr);
  REQUIRE(s != NULL);
  static char batch[N * 32];
  int fd[2] = {-1, -1}, replies[2] = {0, 0};
  kill(s->pid, SIGSTOP);
  for (int k = 0; k < 2; k++) {
    fd[k] = store_connect(addr); /* the kernel queues it while the store is stopped */
    size_t len = 0;
    for (int i = 0; i < N; i++)
      len += (size_t)snprintf(batch + len, sizeof batch - len, "WRITE 1 %c %c-%d\n", "pq"[k],
                              "pq"[k], i);
    CHECK(fd[k] >= 0 && send(fd[k], batch, len, MSG_NOSIGNAL) == (ssize_t)len);
  }
  kill(s->pid, SIGCONT);
  int64_t end = kit_now_ms() + 20000;
  while ((replies[0] < N || replies[1] < N) && kit_ms_left(end) > 0) {
    struct pollfd f[2] = {{.fd = fd[0], .events = POLLIN}, {.fd = fd[1], .events = POLLIN}};
    if (poll(f, 2, 1000) < 0) break;
    for (int k = 0; k < 2; k++) {
      char buf[4096];
      ssize_t n = f[k].revents ? recv(fd[k], buf, sizeof buf, MSG_DONTWAIT) : -1;
      for (ssize_t j = 0; j < n; j++) replies[k] += buf[j] == '\n';
    }
    kit_proc_pump(s, 0); /* the store's log must not fill its pipe */
  }
  CHECK_EQ(replies[0], N);
  CHECK_EQ(replies[1], N);
  /* Who wrote, in the order the store took the writes. */
  char order[2 * N + 1];
  int n = 0;
  for (; n < 2 * N && kit_proc_line(s, line, sizeof line, 10000) == 0; n++) {
    const char *w = strstr(line, " writer=");
    order[n] = w != NULL ? w[8] : '?';
  }
  order[n] = '\0';
  CHECK_EQ(n, 2 * N);
  /* The longest run of one writer while both still had writes waiting. */
  int both = (int)(strrchr(order, 'p') < strrchr(order, 'q') ? strrchr(order, 'p') - order
                                                              : strrchr(order, 'q') - order);
  int longest = 0;
  for (int i = 0, run_len = 0; i <= both && n == 2 * N; i++) {
    run_len = i > 0 && order[i] == order[i - 1] ? run_len + 1 : 1;
    if (run_len > longest) longest = run_len;
  }
  printf("  order: %.60s...\n", order);
  CHECK_LE(longest, 3);
  close(fd[0]);
  close(fd[1]);
  kill(s->pid, SIGTERM);
  CHECK_EQ(kit_proc_wait(s, 10000), 0);
}

/* `fenced-store write --token TOKEN` to the store at addr: its exit code. */
static int store_write(const char *addr, const char *token) {
  const char *const argv[] = {FENCED_STORE_EXE, "write", "--addr", addr, "--token", token,
                              "--writer", "w", "data", NULL};
  kit_proc p;
  return run(&p, argv, NULL, 10000);
}

/* With --state, the highest token survives the store: a write is answered
 * only once the token is on disk (the store is SIGKILLed right after the
 * answer), and the restarted store refuses a lower token. A state file
 * that holds no token, or cannot be written, stops the store at start. */
static void store_state_survives_restart(void) {
  char addr[320], state[320], text[64], reply[128];
  snprintf(state, sizeof state, "%s/store.state", workdir);
  const char *const extra[] = {"--state", state, NULL};
  kit_proc *s = store_start("state", extra, addr, sizeof addr);
  REQUIRE(s != NULL);
  CHECK_EQ(store_write(addr, "7"), 0);
  kill(s->pid, SIGKILL);
  CHECK_EQ(kit_proc_wait(s, 10000), 128 + SIGKILL);
  done(s);
  CHECK(read_text(state, text, sizeof text) == 0);
  CHECK_STR(text, "7\n");

  s = store_start("state", extra, addr, sizeof addr);
  REQUIRE(s != NULL);
  int fd = store_connect(addr);
  CHECK_STR(store_ask(fd, "HIGHEST\n", reply, sizeof reply, 5000), "HIGHEST 7");
  close(fd);
  CHECK_EQ(store_write(addr, "5"), 4); /* refused: an older term */
  CHECK_EQ(store_write(addr, "7"), 0);
  CHECK_EQ(store_write(addr, "9"), 0);
  kill(s->pid, SIGTERM);
  CHECK_EQ(kit_proc_wait(s, 10000), 0);
  done(s);
  CHECK(read_text(state, text, sizeof text) == 0);
  CHECK_STR(text, "9\n");

  char bad_dir[340];
  snprintf(bad_dir, sizeof bad_dir, "%s/no-such-folder/store.state", workdir);
  const char *const bad[] = {"garbage\n", "12x\n", "", NULL};
  for (size_t i = 0; i < 4; i++) {
    const char *file = bad[i] != NULL ? state : bad_dir;
    if (bad[i] != NULL) REQUIRE(test_write_file(state, bad[i]) == 0);
    const char *const argv[] = {FENCED_STORE_EXE, "serve", "--addr", addr, "--state", file, NULL};
    kit_proc p;
    CHECK_EQ(run(&p, argv, NULL, 10000), 1);
    CHECK_EQ(count_lines(p.ebuf), 1);
    CHECK_CONTAINS(p.ebuf, file);
    CHECK_EQ(p.olen, 0); /* it never listened */
  }
}

/* ---- cases against a server --------------------------------------------- */

/* CMD sees its term: BATON_TOKEN/NAME/IDENTITY match `baton leader` (plain
 * and JSON); CMD's exit status comes back; the term is resigned. */
static void env_leader_exit_status(void) {
  const char *name = fresh("env");
  const char *const args[] = {
      "run", "--name", name, "--identity", "cli-env-id", "--ttl", "3s", "--",
      "/bin/sh", "-c",
      "printf 'env %s %s %s\\n' \"$BATON_TOKEN\" \"$BATON_NAME\" \"$BATON_IDENTITY\"; "
      "read go; exit 7",
      NULL};
  kit_proc *r = baton_start(args);
  REQUIRE(r != NULL);
  char line[512], n[200], id[300];
  REQUIRE(kit_proc_line(r, line, sizeof line, 20000) == 0);
  unsigned long long token = 0;
  CHECK_EQ(sscanf(line, "env %llu %199s %299s", &token, n, id), 3);
  CHECK_GT(token, 0);
  CHECK_STR(n, name);
  CHECK_STR(id, "cli-env-id");

  const char *const leader_json[] = {"leader", "--name", name, "--json", NULL};
  kit_proc l;
  CHECK_EQ(baton(&l, leader_json, 20000), 0);
  unsigned long long jtoken = 0;
  char jname[200], jid[300];
  char *nl = strchr(l.obuf, '\n');
  CHECK(nl != NULL && nl[1] == '\0'); /* one object, one line */
  if (nl != NULL) *nl = '\0';
  if (json_fields(l.obuf, jname, jid, &jtoken) == 0) {
    CHECK_STR(jname, name);
    CHECK_STR(jid, "cli-env-id");
    CHECK_EQ(jtoken, token);
  }
  const char *const leader_plain[] = {"leader", "--name", name, NULL};
  CHECK_EQ(baton(&l, leader_plain, 20000), 0);
  char expect[128];
  snprintf(expect, sizeof expect, "token=%llu identity=cli-env-id\n", token);
  CHECK_STR(l.obuf, expect);

  CHECK_EQ(write(r->in, "go\n", 3), 3);
  CHECK_EQ(kit_proc_wait(r, 20000), 7);
  done(r);
  /* Resigned on exit: nobody leads now, at once. */
  CHECK_EQ(baton(&l, leader_plain, 20000), 3);
  CHECK_STR(l.obuf, "no leader\n");
}

/* Death by a signal comes back as 128 + N. */
static void signal_status(void) {
  const char *const args[] = {"run", "--name", fresh("sig"), "--",
                              "/bin/sh", "-c", "kill -KILL $$", NULL};
  kit_proc p;
  CHECK_EQ(baton(&p, args, 20000), 128 + SIGKILL);
}

/* SIGTERM to baton: CMD gets SIGTERM, baton resigns and exits 0. */
static void sigterm_stops_child(void) {
  const char *name = fresh("term");
  const char *const args[] = {
      "run", "--name", name, "--", "/bin/sh", "-c",
      "trap 'echo got-term; exit 0' TERM; echo up; while :; do sleep 0.05; done", NULL};
  kit_proc *r = baton_start(args);
  REQUIRE(r != NULL);
  char line[256];
  REQUIRE(kit_proc_line(r, line, sizeof line, 20000) == 0);
  CHECK_STR(line, "up");
  kill(r->pid, SIGTERM);
  CHECK(kit_proc_line(r, line, sizeof line, 10000) == 0);
  CHECK_STR(line, "got-term");
  CHECK_EQ(kit_proc_wait(r, 20000), 0);
  done(r);
  const char *const leader[] = {"leader", "--name", name, NULL};
  kit_proc l;
  CHECK_EQ(baton(&l, leader, 20000), 3);
}

/* The server's URI scheme ("redis"), as the metrics' backend label. */
static const char *server_scheme(char *buf, size_t size) {
  const char *end = strstr(server->uri, "://");
  snprintf(buf, size, "%.*s", end != NULL ? (int)(end - server->uri) : 0, server->uri);
  return buf;
}

/* `baton run --name NAME OPTION VALUE -- CMD`, CMD saying "up" and then
 * running until stopped; with `wait_up`, once CMD has said it (so the term
 * is held). NULL on failure. */
static kit_proc *run_metrics(const char *name, const char *option, const char *value,
                             bool wait_up) {
  const char *const args[] = {"run", "--name", name, option, value, "--", "/bin/sh",
                              "-c", "echo up; while :; do sleep 0.05; done", NULL};
  kit_proc *r = baton_start(args);
  char line[256];
  if (r != NULL && wait_up && kit_proc_line(r, line, sizeof line, 20000) != 0) {
    TEST_FAIL_("baton run %s %s: CMD did not start", option, value);
    done(r);
    return NULL;
  }
  return r;
}

/* Wait until the file at `path` (in `dir`) holds `needle`, at most ms:
 * woken by inotify when a file is renamed into the folder or closed after
 * writing. The text goes to `buf`. */
static bool await_file_text(const char *dir, const char *path, const char *needle, char *buf,
                            size_t size, int ms) {
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0 || inotify_add_watch(fd, dir, IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
    if (fd >= 0) close(fd);
    return false;
  }
  int64_t end = kit_now_ms() + ms;
  bool found = false;
  for (;;) {
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f != NULL) {
      size_t n = fread(buf, 1, size - 1, f);
      buf[n] = '\0';
      fclose(f);
    }
    if ((found = strstr(buf, needle) != NULL) || kit_ms_left(end) == 0) break;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, kit_ms_left(end)) > 0) {
      char events[4096];
      while (read(fd, events, sizeof events) > 0) {
      }
    }
  }
  close(fd);
  return found;
}

/* --metrics-file: the textfile collector's file shows the term while CMD
 * runs, passes promtool, and says how the term ended once baton exits;
 * no PATH.tmp is left behind. */
static void metrics_file_follows_the_term(void) {
  const char *name = fresh("metrics");
  char path[300], tmp[310], want[256];
  snprintf(path, sizeof path, "%s/%s.prom", workdir, name);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  kit_proc *r = run_metrics(name, "--metrics-file", path, true);
  REQUIRE(r != NULL);
  static char text[65536];
  char scheme[16];
  server_scheme(scheme, sizeof scheme);
  snprintf(want, sizeof want, "baton_leader{backend=\"%s\",name=\"%s\"} 1\n", scheme, name);
  CHECK(await_file_text(workdir, path, want, text, sizeof text, 10000));
  CHECK_CONTAINS(text, "# TYPE baton_terms_won_total counter\n");
  CHECK_EQ(kit_promtool_check(text, strlen(text)), 0);
  kill(r->pid, SIGTERM);
  CHECK_EQ(kit_proc_wait(r, 20000), 0);
  done(r);
  snprintf(want, sizeof want,
           "baton_terms_lost_total{backend=\"%s\",name=\"%s\",reason=\"resigned\"} 1\n", scheme,
           name);
  CHECK(await_file_text(workdir, path, want, text, sizeof text, 1000));
  CHECK_EQ(access(tmp, F_OK), -1);
  unlink(path);
}

/* A burst of notify datagrams (each a turn of baton's main loop; from the
 * test, so ignored) changes no metric: the file is not rewritten for
 * them, where it was once per turn. */
static void metrics_file_not_rewritten_per_datagram(void) {
  const char *name = fresh("metricsq");
  char path[300], want[256];
  snprintf(path, sizeof path, "%s/%s.prom", workdir, name);
  const char *const args[] = {"run", "--name", name, "--metrics-file", path, "--", "/bin/sh",
                              "-c", "echo \"$NOTIFY_SOCKET\"; exec sleep 600", NULL};
  kit_proc *r = baton_start(args);
  REQUIRE(r != NULL);
  char sock[200] = "";
  CHECK_EQ(kit_proc_line(r, sock, sizeof sock, 20000), 0);
  static char text[65536];
  char scheme[16];
  server_scheme(scheme, sizeof scheme);
  snprintf(want, sizeof want, "baton_leader{backend=\"%s\",name=\"%s\"} 1\n", scheme, name);
  CHECK(await_file_text(workdir, path, want, text, sizeof text, 10000));
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  REQUIRE(fd >= 0);
  /* With IN_CLOSE_WRITE (of PATH.tmp) between them, no two renames are
   * the same event in a row, which inotify would merge into one. */
  CHECK(inotify_add_watch(fd, workdir, IN_MOVED_TO | IN_CLOSE_WRITE) >= 0);
  /* Ten at a time: the socket's queue holds no more. */
  int sent = 0;
  for (int64_t end = kit_now_ms() + 5000; sent < 200 && kit_ms_left(end) > 0;) {
    if (cli_notify_send(sock, "STATUS=busy") == 0)
      sent++;
    else
      kit_proc_pump(r, 2);
  }
  /* What baton does with them is done once it says it ignored the first. */
  for (int64_t end = kit_now_ms() + 5000;
       strstr(r->ebuf, "ignoring a datagram") == NULL && kit_ms_left(end) > 0;)
    kit_proc_pump(r, 50);
  kit_proc_pump(r, 300);
  int renames = 0;
  char events[8192];
  for (ssize_t n; (n = read(fd, events, sizeof events)) > 0;)
    for (char *at = events; at < events + n;) {
      struct inotify_event *ev = (struct inotify_event *)(void *)at;
      renames += (ev->mask & IN_MOVED_TO) && ev->len > 0 && strstr(path, ev->name) != NULL;
      at += sizeof *ev + ev->len;
    }
  close(fd);
  printf("    %d datagrams, %d rewrites of the metrics file\n", sent, renames);
  CHECK_GE(sent, 100);
  CHECK_LE(renames, 5); /* a renewal or two may change the text meanwhile */
  kill(r->pid, SIGTERM);
  CHECK_EQ(kit_proc_wait(r, 20000), 0);
  done(r);
  unlink(path);
}

/* A free loopback port: bound by the kit, then let go for baton to take. */
static int free_port(void) {
  int port = 0;
  int fd = kit_listen(1, &port);
  if (fd < 0) return 0;
  close(fd);
  return port;
}

/* GET http://127.0.0.1:port/path over HTTP/1.0: the status (-1 when the
 * connection is refused, 0 when no reply came within ms), the whole reply
 * (headers and body) in buf. */
static int http_get(int port, const char *path, char *buf, size_t size, int ms) {
  buf[0] = '\0';
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  char request[256];
  int n = snprintf(request, sizeof request, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
  size_t len = 0;
  if (write(fd, request, (size_t)n) == n) {
    int64_t end = kit_now_ms() + ms;
    for (;;) {
      struct pollfd p = {.fd = fd, .events = POLLIN};
      if (poll(&p, 1, kit_ms_left(end)) <= 0) break;
      ssize_t got = read(fd, buf + len, size - 1 - len);
      if (got <= 0) break;
      len += (size_t)got;
      if (len == size - 1) break;
    }
  }
  buf[len] = '\0';
  close(fd);
  int status = 0;
  if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) status = 0;
  return status;
}

/* http_get once the port listens: a process just started binds it soon,
 * with nothing to say so (as a server is waited for: bounded, paced). */
static int http_get_when_up(int port, const char *path, char *buf, size_t size, int ms) {
  int64_t end = kit_now_ms() + ms;
  int status = http_get(port, path, buf, size, ms);
  while (status == -1 && kit_ms_left(end) > 0) {
    kit_sleep_ms(10);
    status = http_get(port, path, buf, size, kit_ms_left(end));
  }
  return status;
}

/* --metrics-listen: served while run holds and while it waits, 404 off
 * /metrics, a port in use refused with a clear line (exit 2), and gone
 * when run stops. */
static void metrics_listen_serves_and_stops(void) {
  const char *name = fresh("listen");
  char scheme[16], want[256], addr_a[32], addr_b[32];
  server_scheme(scheme, sizeof scheme);
  int pa = free_port(), pb = free_port();
  REQUIRE(pa > 0 && pb > 0);
  snprintf(addr_a, sizeof addr_a, "127.0.0.1:%d", pa);
  snprintf(addr_b, sizeof addr_b, "%d", pb); /* a port alone: loopback */
  kit_proc *a = run_metrics(name, "--metrics-listen", addr_a, true);
  REQUIRE(a != NULL);
  char line[256];
  static char reply[65536];
  CHECK_EQ(http_get(pa, "/metrics", reply, sizeof reply, 10000), 200);
  CHECK_CONTAINS(reply, "Content-Type: text/plain; version=0.0.4");
  snprintf(want, sizeof want, "baton_leader{backend=\"%s\",name=\"%s\"} 1\n", scheme, name);
  CHECK_CONTAINS(reply, want);
  const char *body = strstr(reply, "\r\n\r\n");
  CHECK(body != NULL);
  if (body != NULL) CHECK_EQ(kit_promtool_check(body + 4, strlen(body + 4)), 0);
  CHECK_EQ(http_get(pa, "/", reply, sizeof reply, 10000), 404);

  /* B waits for the name, and is served meanwhile. */
  kit_proc *b = run_metrics(name, "--metrics-listen", addr_b, false);
  if (b != NULL) {
    CHECK_EQ(http_get_when_up(pb, "/metrics", reply, sizeof reply, 10000), 200);
    snprintf(want, sizeof want, "baton_terms_held{backend=\"%s\"} 0\n", scheme);
    CHECK_CONTAINS(reply, want);
  }

  /* A second server on A's port is refused, before any election. */
  const char *const c_args[] = {"run", "--name", name, "--metrics-listen", addr_a, "--", "true",
                                NULL};
  kit_proc c;
  CHECK_EQ(baton(&c, c_args, 20000), 2);
  CHECK_CONTAINS(c.ebuf, "--metrics-listen");
  CHECK_CONTAINS(c.ebuf, "Address already in use");
  CHECK_EQ(count_lines(c.ebuf), 1);

  kill(a->pid, SIGTERM);
  CHECK_EQ(kit_proc_wait(a, 20000), 0);
  done(a);
  CHECK_EQ(http_get(pa, "/metrics", reply, sizeof reply, 1000), -1);
  if (b != NULL) {
    CHECK(kit_proc_line(b, line, sizeof line, 20000) == 0); /* B leads now */
    CHECK_EQ(http_get(pb, "/metrics", reply, sizeof reply, 10000), 200);
    snprintf(want, sizeof want, "baton_leader{backend=\"%s\",name=\"%s\"} 1\n", scheme, name);
    CHECK_CONTAINS(reply, want);
    kill(b->pid, SIGTERM);
    CHECK_EQ(kit_proc_wait(b, 20000), 0);
    done(b);
  }
}

/* Wait until `pid` is gone (within 2 s) or kill it; true when it went. */
static bool gone_or_kill(int pid) {
  bool gone = kit_pid_gone(pid, 2000) >= 0;
  if (!gone) kill(pid, SIGKILL); /* do not leave it to the machine */
  return gone;
}

/* A SIGKILLed baton leaves nothing of its term behind: CMD (parent-death
 * signal) and what CMD started in its group (the guard kills the group). */
static void no_orphan_after_sigkill(void) {
  const char *const args[] = {"run", "--name", fresh("orphan"), "--",
                              "/bin/sh", "-c", "sleep 600 & echo \"pid $$ $!\"; wait", NULL};
  kit_proc *r = baton_start(args);
  REQUIRE(r != NULL);
  char line[256];
  int child = 0, grandchild = 0;
  REQUIRE(kit_proc_line(r, line, sizeof line, 20000) == 0);
  REQUIRE(sscanf(line, "pid %d %d", &child, &grandchild) == 2);
  int fd = pidfd_open(child, 0);
  REQUIRE(fd >= 0);
  kill(r->pid, SIGKILL);
  int64_t killed = kit_now_ms();
  CHECK_EQ(kit_proc_wait(r, 10000), 128 + SIGKILL);
  int64_t gone = kit_pidfd_gone(fd, 2000);
  close(fd);
  CHECK(gone >= 0);
  if (gone < 0) kill(child, SIGKILL);
  else printf("  CMD gone %lld ms after baton's SIGKILL\n", (long long)(gone - killed));
  CHECK(gone_or_kill(grandchild));
}

/* CMD exits: what it left in its group is killed before the resign. */
static void leftovers_killed(void) {
  const char *const args[] = {"run", "--name", fresh("left"), "--", "/bin/sh", "-c",
                              "sleep 600 & echo \"pid $!\"; exit 3", NULL};
  kit_proc *r = baton_start(args);
  REQUIRE(r != NULL);
  char line[256];
  int grandchild = 0;
  REQUIRE(kit_proc_line(r, line, sizeof line, 20000) == 0);
  REQUIRE(sscanf(line, "pid %d", &grandchild) == 1);
  CHECK_EQ(kit_proc_wait(r, 20000), 3);
  CHECK(gone_or_kill(grandchild));
}

/* Run `baton args` with descriptors set up as `mode` says: it must exit 0
 * after CMD printed `expect`. */
static void run_with_fds(const char *const args[], int mode, const char *expect) {
  fds_mode = mode;
  kit_proc r;
  int code = baton(&r, args, 20000);
  fds_mode = FDS_PLAIN;
  CHECK_EQ(code, 0);
  CHECK_STR(r.obuf, expect);
}

/* CMD gets the descriptors baton inherited (fd 7 here), none of baton's
 * own (backend sockets, eventfds). ls holds 3 for reading the folder. */
static void only_inherited_fds(void) {
  const char *const args[] = {"run", "--name", fresh("fds"), "--", "/bin/ls", "/proc/self/fd",
                              NULL};
  run_with_fds(args, FDS_PASS_7, "0\n1\n2\n3\n7\n");
}

/* Started with stdin and stderr closed, baton puts /dev/null there before
 * it opens anything: else its signalfd or a backend socket would take
 * those numbers, and CMD would get them as stdin and stderr. -v makes
 * baton write to its stderr meanwhile. */
static void closed_standard_fds(void) {
  const char *const args[] = {"run", "-v", "--name", fresh("std"), "--", "/bin/sh", "-c",
                              "readlink /proc/self/fd/0 /proc/self/fd/2; echo to-stderr >&2",
                              NULL};
  run_with_fds(args, FDS_CLOSE_0_2, "/dev/null\n/dev/null\n");
}

/* The server stops answering: the term is lost locally and CMD — which
 * ignores SIGTERM — must be dead before the server could expire the term.
 * The server cannot expire it before last-renewal-send + TTL, and every
 * request baton sends is sent after we launched it, so launch + TTL is a
 * lower bound of the server's expiry that needs no trust in baton. TTL is
 * 4 s so that start-up (sanitizer builds) fits in the slack.
 * Alongside: `campaign` prints "lost" and exits 1, and a `run` without
 * --once campaigns again once the server is back, with a higher token. */
static void stops_before_expiry(void) {
  const char *once_name = fresh("stop"), *again_name = fresh("again");
  const char *const stubborn[] = {
      "run", "--once", "--name", once_name, "--ttl", "4s", "--", "/bin/sh", "-c",
      "trap '' TERM; echo \"pid $$\"; while :; do sleep 0.05; done", NULL};
  const char *const camp[] = {"campaign", "--name", fresh("camp"), "--ttl", "2s", NULL};
  const char *const again[] = {"run", "--name", again_name, "--ttl", "2s", "--",
                               "/bin/sh", "-c",
                               "echo \"pid $$ token $BATON_TOKEN\"; exec sleep 600", NULL};
  kit_proc *c, *a, *r;
  char line[256];
  c = baton_start(camp);
  REQUIRE(c != NULL);
  REQUIRE(kit_proc_line(c, line, sizeof line, 20000) == 0);
  CHECK(strncmp(line, "elected token=", 14) == 0);
  a = baton_start(again);
  REQUIRE(a != NULL);
  int again_pid = 0;
  unsigned long long again_token = 0;
  REQUIRE(kit_proc_line(a, line, sizeof line, 20000) == 0);
  REQUIRE(sscanf(line, "pid %d token %llu", &again_pid, &again_token) == 2);

  int64_t launched = kit_now_ms();
  r = baton_start(stubborn);
  REQUIRE(r != NULL);
  int child = 0;
  REQUIRE(kit_proc_line(r, line, sizeof line, 20000) == 0);
  REQUIRE(sscanf(line, "pid %d", &child) == 1);
  int fd = pidfd_open(child, 0);
  REQUIRE(fd >= 0);
  for (int i = 0; i < server->n; i++) test_server_pause(&server->member[i]);
  int64_t paused = kit_now_ms();

  int64_t dead = kit_pidfd_gone(fd, 3 * RUN_TTL_MS);
  close(fd);
  CHECK(dead >= 0);
  if (dead >= 0) {
    printf("  started %lld ms after launch; dead %lld ms after the pause, %lld ms before "
           "launch + ttl\n",
           (long long)(paused - launched), (long long)(dead - paused),
           (long long)(launched + RUN_TTL_MS - dead));
    CHECK_LT(dead, launched + RUN_TTL_MS);
  }
  CHECK_EQ(kit_proc_wait(r, 20000), 1); /* --once */
  CHECK_CONTAINS(r->ebuf, "SIGKILL");

  CHECK(kit_proc_line(c, line, sizeof line, 10000) == 0);
  CHECK_STR(line, "lost");
  CHECK_EQ(kit_proc_wait(c, 20000), 1);

  /* The second supervisor stopped its CMD too, and is back once the
   * server is: a new CMD with a newer token. */
  int again_fd = pidfd_open(again_pid, 0);
  CHECK(again_fd < 0 || kit_pidfd_gone(again_fd, 10000) >= 0);
  if (again_fd >= 0) close(again_fd);
  for (int i = 0; i < server->n; i++) test_server_resume(&server->member[i]);
  int again_pid2 = 0;
  unsigned long long again_token2 = 0;
  CHECK(kit_proc_line(a, line, sizeof line, 30000) == 0);
  CHECK_EQ(sscanf(line, "pid %d token %llu", &again_pid2, &again_token2), 2);
  CHECK_GT(again_token2, again_token);
  kill(a->pid, SIGTERM);
  CHECK_EQ(kit_proc_wait(a, 20000), 0);
  done(a);
  done(c);
  done(r);
}

/* A term lost at its local deadline keeps its key until the server could
 * expire it, also when baton exits on the loss. `args` (which names
 * `name`, and makes its first line "elected token=T") is started, stopped
 * as soon as it holds, and resumed between its local deadline and the
 * server's earliest expiry; a `baton campaign` queued meanwhile must not
 * be elected before that expiry; `lost_line` (if not NULL) is what the
 * process prints on the loss. Every request the process sends comes after
 * `launched`, so launched + ttl is no later than the server's expiry; with
 * no renewal after read_at (it is stopped then, well before its first
 * renewal), read_at + lifetime is no earlier than its local deadline. */
static void loss_keeps_the_key(const char *const args[], const char *name, int64_t ttl_ms,
                               int64_t margin_ms, const char *lost_line) {
  char line[256];
  unsigned long long token = 0, next = 0;
  int64_t launched = kit_now_ms();
  kit_proc *p = baton_start(args);
  REQUIRE(p != NULL);
  REQUIRE(kit_proc_line(p, line, sizeof line, 20000) == 0);
  int64_t read_at = kit_now_ms();
  kill(p->pid, SIGSTOP);
  REQUIRE(sscanf(line, "elected token=%llu", &token) == 1);
  int64_t deadline = read_at + ttl_ms - ttl_ms / 100 - margin_ms; /* at the latest */
  int64_t expiry = launched + ttl_ms;                             /* at the earliest */
  printf("  held %lld ms after launch; %lld ms between the local deadline and the expiry\n",
         (long long)(read_at - launched), (long long)(expiry - deadline));
  REQUIRE(expiry - deadline >= 60); /* else the start-up took too long to tell */
  const char *const successor[] = {"campaign", "--name", name, "--ttl", "2s", NULL};
  kit_proc *s = baton_start(successor);
  REQUIRE(s != NULL);
  int64_t resume_at = deadline + (expiry - deadline) / 2;
  kit_sleep_ms(kit_ms_left(resume_at)); /* the time between the two is under test */
  kill(p->pid, SIGCONT);
  if (lost_line != NULL) {
    CHECK(kit_proc_line(p, line, sizeof line, 20000) == 0);
    CHECK_STR(line, lost_line);
  }
  CHECK_EQ(kit_proc_wait(p, 20000), 1);
  CHECK(kit_proc_line(s, line, sizeof line, 20000) == 0);
  int64_t elected = kit_now_ms();
  CHECK_EQ(sscanf(line, "elected token=%llu", &next), 1);
  CHECK_GT(next, token);
  printf("  successor elected %+lld ms from the earliest server expiry\n",
         (long long)(elected - expiry));
  CHECK_GE(elected, expiry);
  kill(s->pid, SIGTERM);
  CHECK_EQ(kit_proc_wait(s, 20000), 0);
  done(s);
  done(p);
}

/* `baton campaign` prints "lost" and exits 1: the key stays till expiry.
 * The ttl is 5 s so that drift + margin (6 % of it) leave room for the
 * start-up. */
static void campaign_loss_keeps_the_key(void) {
  const char *name = fresh("camp-lost");
  const char *const args[] = {"campaign", "--name", name, "--ttl", "5s", NULL};
  loss_keeps_the_key(args, name, 5000, 5000 / 20, "lost");
}

/* `baton run --once` exits 1 after a loss: the key stays till expiry.
 * The grace widens the margin to grace + ttl/20. */
static void run_once_loss_keeps_the_key(void) {
  const char *name = fresh("run-lost");
  const char *const args[] = {"run", "--once", "--name", name, "--ttl", "2s", "--grace",
                              "500ms", "--", "/bin/sh", "-c",
                              "echo \"elected token=$BATON_TOKEN\"; exec sleep 600", NULL};
  loss_keeps_the_key(args, name, 2000, 500 + 2000 / 20, NULL);
}

/* ---- systemd's notify protocol ------------------------------------------ */

/* A child that speaks it through Debian's systemd-notify (nothing linked):
 * WATCHDOG=1 every 100 ms (a tenth of the interval: room for a busy
 * host's fork and exec) for 1.5 TTLs, which keeps the term (without them
 * it would end within a TTL), then silence. baton stops it about a
 * watchdog interval plus a term's lifetime later, says why, and with
 * --once exits 1; the name is free again. */
static void run_watchdog_stops_a_silent_child(void) {
  const char *name = fresh("watchdog");
  const char *const args[] = {
      "run", "--once", "--name", name, "--ttl", "2s", "--watchdog", "1s", "--", "/bin/sh",
      "-c",
      "echo \"usec=$WATCHDOG_USEC\"; i=0; while [ $i -lt 30 ]; do systemd-notify WATCHDOG=1 "
      "|| exit 9; sleep 0.1; i=$((i+1)); done; echo silent; exec sleep 600",
      NULL};
  kit_proc *r = baton_start(args);
  REQUIRE(r != NULL);
  char line[256] = "";
  CHECK_EQ(kit_proc_line(r, line, sizeof line, 20000), 0);
  CHECK_STR(line, "usec=1000000");
  CHECK_EQ(kit_proc_line(r, line, sizeof line, 20000), 0);
  CHECK_STR(line, "silent");
  int64_t silent = kit_now_ms();
  CHECK_EQ(kit_proc_wait(r, 20000), 1);
  int64_t took = r->exited_ms - silent;
  /* The run's lifetime: 0.99 TTL less grace (200 ms) and slack (100 ms).
   * The last renewal that counts was sent at most a renew interval (a
   * third of the TTL) before the interval ran out, and CMD is stopped a
   * grace period before the deadline it gave. The resign after it keeps
   * the key until the server's expiry (the renewal's send + TTL), which
   * baton waits for on exit where the key lives on its session. */
  printf("    exited %lld ms after the last WATCHDOG=1\n", (long long)took);
  CHECK_GE(took, 1000 - 2000 / 3 + 1680 - 200 - 50);
  CHECK_LE(took, 1000 + 2000 + TEST_SLACK_MS);
  CHECK_CONTAINS(r->ebuf, "sent no WATCHDOG=1 within --watchdog 1000ms");
  CHECK_CONTAINS(r->ebuf, "--once: not campaigning again");
  done(r);
  /* The name is free by the server's expiry. */
  const char *const leader[] = {"leader", "--name", name, NULL};
  int code = -1;
  for (int64_t end = silent + 1000 + 2000 + TEST_SLACK_MS; code != 3 && kit_ms_left(end) > 0;) {
    kit_proc l;
    code = baton(&l, leader, 5000);
    if (code != 3) poll(NULL, 0, 50); /* pacing the polls of the server */
  }
  CHECK_EQ(code, 3);
}

/* A datagram socket standing in for systemd's notify socket, at `path`
 * (a file, or "@name" in the abstract namespace); -1 on failure. */
static int fake_systemd(const char *path) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  size_t n = strlen(path);
  if (n >= sizeof sa.sun_path) return -1;
  memcpy(sa.sun_path, path, n);
  if (path[0] == '@') sa.sun_path[0] = '\0';
  socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] != '@'));
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, len) != 0) {
    close(fd);
    fd = -1;
  }
  return fd;
}

/* `baton ARGS...` with NOTIFY_SOCKET=addr (fake_systemd's, `fd`) and
 * WATCHDOG_USEC=usec in its environment; on failure NULL, `fd` closed. */
static kit_proc *run_under_systemd(int fd, const char *addr, const char *usec,
                                   const char *const args[]) {
  char notify[320], watchdog[48];
  snprintf(notify, sizeof notify, "NOTIFY_SOCKET=%s", addr);
  snprintf(watchdog, sizeof watchdog, "WATCHDOG_USEC=%s", usec);
  const char *const env[] = {notify, watchdog, NULL};
  const char *argv[32];
  baton_argv(argv, server->uri, args);
  kit_proc *r = spawn(argv, env);
  if (r == NULL) close(fd);
  return r;
}

/* The lines of one datagram equal to `want`. */
static int count_in(const char *datagram, const char *want) {
  int n = 0;
  size_t k = strlen(want);
  for (const char *at = datagram; at != NULL && *at != '\0';) {
    const char *nl = strchr(at, '\n');
    size_t len = nl != NULL ? (size_t)(nl - at) : strlen(at);
    n += len == k && strncmp(at, want, k) == 0;
    at = nl != NULL ? nl + 1 : NULL;
  }
  return n;
}

/* STATUS= from the child proclaims its text as the term's value: `baton
 * status --json` shows it as valid JSON, quotes, backslash and UTF-8
 * included, and `baton leader` shows it too, on every backend. */
static void run_status_is_proclaimed(void) {
  static const char want[] = "step \"2\"/5 \\ caf\xc3\xa9";
  const char *name = fresh("proclaim");
  const char *const args[] = {
      "run", "--name", name, "--", "/bin/sh", "-c",
      "systemd-notify --status='step \"2\"/5 \\ caf\xc3\xa9' || exit 9; echo sent; exec sleep 600",
      NULL};
  kit_proc *r = baton_start(args);
  REQUIRE(r != NULL);
  char line[400] = "";
  CHECK_EQ(kit_proc_line(r, line, sizeof line, 20000), 0);
  CHECK_STR(line, "sent");
  const char *const status[] = {"status", "--json", "--name", name, NULL};
  kit_proc l;
  /* The datagram reaches baton's loop a moment after the child sent it:
   * look again, boundedly (each look is a process run). */
  int code = -1;
  for (int64_t end = kit_now_ms() + 10000; kit_now_ms() < end;) {
    code = baton(&l, status, 20000);
    if (code != 0 || strstr(l.obuf, "\"value\":\"step") != NULL) break;
  }
  CHECK_EQ(code, 0);
  static const char script[] = "import json,sys\n"
                               "d=json.loads(sys.argv[1])\n"
                               "assert d['value']==sys.argv[2], (d['value'], sys.argv[2])\n";
  const char *argv[] = {"/usr/bin/python3", "-c", script, l.obuf, want, NULL};
  kit_proc py;
  CHECK_EQ(run(&py, argv, NULL, 20000), 0);
  if (py.elen > 0) printf("    python3: %s\n", py.ebuf);
  const char *const leader[] = {"leader", "--name", name, NULL};
  CHECK_EQ(baton(&l, leader, 20000), 0);
  CHECK_CONTAINS(l.obuf, " value=step\\x20\"2\"/5\\x20\\x5c\\x20caf\\xc3\\xa9\n");
  kill(r->pid, SIGTERM);
  CHECK_EQ(kit_proc_wait(r, 20000), 0);
  done(r);
}

/* Under a systemd of the test's own (a datagram socket in $NOTIFY_SOCKET,
 * with WatchdogSec='s WATCHDOG_USEC), `baton run` says READY=1 once it
 * campaigns (a standby must be "up" too) and never again (not for CMD's
 * own), passes its child's STATUS= on, records both in --events, pings
 * its own watchdog, and gives the child its own socket and none of
 * systemd's watchdog variables. */
static void run_forwards_ready_and_status(void) {
  char sock_path[300], events[300];
  snprintf(sock_path, sizeof sock_path, "%s/systemd-notify.sock", workdir);
  snprintf(events, sizeof events, "%s/notify-events", workdir);
  unlink(sock_path);
  int fd = fake_systemd(sock_path);
  REQUIRE(fd >= 0);
  const char *const args[] = {
      "run", "--name", fresh("notify"), "--events", events, "--", "/bin/sh", "-c",
      "echo \"sock=$NOTIFY_SOCKET usec=${WATCHDOG_USEC-none} pid=${WATCHDOG_PID-none}\"; "
      "systemd-notify --ready --status='step 3/30' || exit 9; echo sent; exec sleep 600",
      NULL};
  kit_proc *r = run_under_systemd(fd, sock_path, "400000", args);
  REQUIRE(r != NULL);
  char line[400] = "";
  CHECK_EQ(kit_proc_line(r, line, sizeof line, 20000), 0);
  CHECK(strncmp(line, "sock=/", 6) == 0);
  CHECK(strstr(line, sock_path) == NULL);
  CHECK_CONTAINS(line, " usec=none pid=none");
  CHECK_EQ(kit_proc_line(r, line, sizeof line, 20000), 0);
  CHECK_STR(line, "sent");
  /* What reached "systemd": READY=1 with the standby status, CMD's status,
   * and baton's own watchdog pings (every 200 ms). */
  int ready = 0, standby = 0, status = 0, pings = 0;
  for (int64_t end = kit_now_ms() + 10000; !(status && pings >= 3) && kit_ms_left(end) > 0;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, kit_ms_left(end)) != 1) break;
    char got[512];
    ssize_t n = recv(fd, got, sizeof got - 1, 0);
    if (n < 0) break;
    got[n] = '\0';
    ready += count_in(got, "READY=1");
    standby += strstr(got, "STATUS=standby: campaigning for") != NULL;
    status += count_in(got, "STATUS=step 3/30");
    pings += count_in(got, "WATCHDOG=1");
  }
  CHECK_EQ(ready, 1);
  CHECK_EQ(standby, 1);
  CHECK_EQ(status, 1);
  CHECK_GE(pings, 3);
  char text[4096];
  CHECK(await_file_text(workdir, events, "text=step 3/30", text, sizeof text, 5000));
  CHECK_CONTAINS(text, " ready token=");
  kill(r->pid, SIGTERM);
  CHECK_EQ(kit_proc_wait(r, 20000), 0);
  /* Nothing queued since says READY=1 again. */
  for (int k = 0; k < 1000; k++) {
    char got[512];
    ssize_t n = recv(fd, got, sizeof got - 1, MSG_DONTWAIT);
    if (n < 0) break;
    got[n] = '\0';
    ready += count_in(got, "READY=1");
  }
  CHECK_EQ(ready, 1);
  done(r);
  close(fd);
  unlink(sock_path);
}

/* Only CMD's process group is heard: WATCHDOG=1 every 100 ms from the
 * test (another process of the same user, as an escaped helper of an
 * earlier term would be) does not keep a silent CMD's term, which ends as
 * for any silence (interval + lifetime), said once. */
static void run_notify_ignores_other_senders(void) {
  const char *const args[] = {"run", "--once", "--name", fresh("foreign"), "--ttl", "2s",
                              "--watchdog", "1s", "--", "/bin/sh", "-c",
                              "echo \"$NOTIFY_SOCKET\"; exec sleep 600", NULL};
  kit_proc *r = baton_start(args);
  REQUIRE(r != NULL);
  char path[200] = "";
  CHECK_EQ(kit_proc_line(r, path, sizeof path, 20000), 0);
  int64_t started = kit_now_ms();
  int sent = 0;
  for (int64_t end = started + 8000; !r->exited && kit_ms_left(end) > 0;) {
    if (cli_notify_send(path, "WATCHDOG=1") == 0) sent++;
    kit_proc_pump(r, 100);
    if (kit_proc_wait(r, 0) >= 0) break;
  }
  CHECK_GE(sent, 5);
  CHECK_EQ(kit_proc_wait(r, 10000), 1);
  printf("    stopped %lld ms after CMD started, %d foreign WATCHDOG=1 sent\n",
         (long long)(r->exited_ms - started), sent);
  CHECK_LE(r->exited_ms - started, 1000 + 1680 + TEST_SLACK_MS);
  CHECK_CONTAINS(r->ebuf, "not in /bin/sh's process group (said once)");
  CHECK_CONTAINS(r->ebuf, "sent no WATCHDOG=1 within --watchdog 1000ms");
  done(r);
}

/* A systemd that reads nothing (an abstract socket here, whose queue
 * fills after a few of baton's watchdog pings, every 10 ms) does not stop
 * baton: the datagrams are dropped, said once, and baton still answers
 * SIGTERM at once. A blocking send would hang its loop. */
static void run_full_notify_queue_does_not_block(void) {
  char abstract[64];
  snprintf(abstract, sizeof abstract, "@baton-test-notify-%d", (int)getpid());
  int fd = fake_systemd(abstract);
  REQUIRE(fd >= 0);
  const char *const args[] = {"run", "--name", fresh("fullq"), "--", "/bin/sh", "-c",
                              "echo started; exec sleep 600", NULL};
  kit_proc *r = run_under_systemd(fd, abstract, "20000", args);
  REQUIRE(r != NULL);
  char line[64] = "";
  CHECK_EQ(kit_proc_line(r, line, sizeof line, 20000), 0);
  CHECK_STR(line, "started");
  for (int64_t end = kit_now_ms() + 10000;
       strstr(r->ebuf, "dropped") == NULL && kit_ms_left(end) > 0;)
    kit_proc_pump(r, 50);
  CHECK_CONTAINS(r->ebuf, "Resource temporarily unavailable (dropped; said once)");
  /* Nothing is read before baton exits: one read would free a blocked
   * sender. */
  int64_t asked = kit_now_ms();
  kill(r->pid, SIGTERM);
  CHECK_EQ(kit_proc_wait(r, 10000), 0);
  CHECK_LE(r->exited_ms - asked, 5000);
  const char *first = strstr(r->ebuf, "dropped");
  CHECK(first != NULL && strstr(first + 1, "dropped") == NULL);
  /* It reached the socket: the first datagram is baton's READY=1. */
  char got[512];
  ssize_t n = recv(fd, got, sizeof got - 1, MSG_DONTWAIT);
  CHECK_GT(n, 0);
  if (n > 0) {
    got[n] = '\0';
    CHECK_EQ(count_in(got, "READY=1"), 1);
  }
  done(r);
  close(fd);
}

/* observe --json: a line per change, valid JSON, escaped identity; and
 * leader --json agrees while the term is held. */
static void observe_and_leader_json(void) {
  const char *name = fresh("obs");
  const char *identity = "id \"q\" \\ x";
  const char *const obs[] = {"observe", "--json", "--name", name, NULL};
  const char *const camp[] = {"campaign", "--name", name, "--identity", identity, NULL};
  kit_proc *o, *c;
  char line[512], jname[200], jid[300];
  unsigned long long token = 0, jtoken = 0;
  o = baton_start(obs);
  REQUIRE(o != NULL);
  REQUIRE(kit_proc_line(o, line, sizeof line, 20000) == 0);
  if (json_fields(line, jname, jid, &jtoken) == 0) {
    CHECK_STR(jname, name);
    CHECK_STR(jid, "<null>");
    CHECK_EQ(jtoken, 0);
  }
  c = baton_start(camp);
  REQUIRE(c != NULL);
  REQUIRE(kit_proc_line(c, line, sizeof line, 20000) == 0);
  CHECK_EQ(sscanf(line, "elected token=%llu", &token), 1);
  CHECK(kit_proc_line(o, line, sizeof line, 20000) == 0);
  if (json_fields(line, jname, jid, &jtoken) == 0) {
    CHECK_STR(jid, identity);
    CHECK_EQ(jtoken, token);
  }
  const char *const leader[] = {"leader", "--json", "--name", name, NULL};
  kit_proc l;
  CHECK_EQ(baton(&l, leader, 20000), 0);
  char *nl = strchr(l.obuf, '\n');
  if (nl != NULL) *nl = '\0';
  if (json_fields(l.obuf, jname, jid, &jtoken) == 0) {
    CHECK_STR(jid, identity);
    CHECK_EQ(jtoken, token);
  }
  kill(c->pid, SIGINT);
  CHECK_EQ(kit_proc_wait(c, 20000), 0);
  CHECK(kit_proc_line(o, line, sizeof line, 20000) == 0);
  if (json_fields(line, jname, jid, &jtoken) == 0) {
    CHECK_STR(jid, "<null>");
    CHECK_EQ(jtoken, 0);
  }
  kill(o->pid, SIGTERM);
  CHECK_EQ(kit_proc_wait(o, 20000), 0);
  CHECK_EQ(o->elen, 0);
  done(c);
  done(o);
}

/* `baton lease`: acquire prints the token and leaves the lease, which
 * `baton leader` shows; a second acquire exits 3 naming the holder; a
 * release ends it (a second one exits 1); a waiting acquire gets the name
 * at the next lease's expiry with a higher token, and an extend of the
 * expired one then exits 1; extend and release of the live one exit 0. A backend without fixed leases says so
 * (exit 1); the conformance suite checks which ones must have them. */
static void lease_commands(void) {
  const char *name = fresh("lease");
  /* A timeout: a fresh server makes a name's first term wait (restart-safe
   * terms) and the lease acquire waits it out. */
  const char *const acquire[] = {"lease", "acquire", "--name", name, "--ttl", "20s",
                                 "--identity", "lease-cli", "--timeout", "30s", NULL};
  kit_proc p;
  unsigned long long t1 = 0, t2 = 0, t3 = 0, ttl = 0;
  int code = baton(&p, acquire, 20000);
  if (code == 1 && strstr(p.ebuf, "no fixed leases") != NULL) {
    printf("    %s has no fixed leases: %s", kind, p.ebuf);
    return;
  }
  CHECK_EQ(code, 0);
  CHECK_EQ(sscanf(p.obuf, "token=%llu\n", &t1), 1);
  CHECK_EQ(p.elen, 0);
  const char *const leader[] = {"leader", "--name", name, NULL};
  CHECK_EQ(baton(&p, leader, 20000), 0);
  char want[128];
  snprintf(want, sizeof want, "token=%llu identity=lease-cli\n", t1);
  CHECK_STR(p.obuf, want);
  const char *const again[] = {"lease", "acquire", "--name", name, "--ttl", "1s", NULL};
  CHECK_EQ(baton(&p, again, 20000), 3);
  CHECK_EQ(count_lines(p.ebuf), 1);
  CHECK_CONTAINS(p.ebuf, "lease-cli");
  CHECK_EQ(p.olen, 0);
  char tok[24];
  snprintf(tok, sizeof tok, "%llu", t1);
  const char *const release[] = {"lease", "release", "--name", name, "--token", tok, NULL};
  CHECK_EQ(baton(&p, release, 20000), 0);
  CHECK_EQ(p.olen + p.elen, 0);
  CHECK_EQ(baton(&p, release, 20000), 1);
  CHECK_EQ(count_lines(p.ebuf), 1);
  CHECK_CONTAINS(p.ebuf, "lease release");
  CHECK_EQ(baton(&p, leader, 20000), 3);

  /* A short lease as JSON; the next acquire waits for its expiry. */
  const char *const json[] = {"lease", "acquire", "--name", name, "--ttl", "700ms", "--json",
                              NULL};
  CHECK_EQ(baton(&p, json, 20000), 0);
  snprintf(want, sizeof want, "{\"name\":\"%s\",\"token\":", name);
  size_t head = strlen(want);
  CHECK(strncmp(p.obuf, want, head) == 0);
  if (strncmp(p.obuf, want, head) == 0)
    CHECK_EQ(sscanf(p.obuf + head, "%llu,\"ttl_ms\":%llu}\n", &t2, &ttl), 2);
  CHECK_GT(t2, t1);
  CHECK_EQ(ttl, 700);
  const char *const wait[] = {"lease", "acquire", "--name", name, "--ttl", "20s", "--timeout",
                              "10s", NULL};
  int64_t t0 = kit_now_ms();
  CHECK_EQ(baton(&p, wait, 20000), 0);
  CHECK_EQ(sscanf(p.obuf, "token=%llu\n", &t3), 1);
  CHECK_GT(t3, t2);
  CHECK_LT(kit_now_ms() - t0, 700 + 5000);
  snprintf(tok, sizeof tok, "%llu", t2);
  /* Each extend asks for the lease's own TTL: ZooKeeper fixes a TTL
   * node's at creation. */
  const char *const late[] = {"lease", "extend", "--name", name, "--token", tok, "--ttl", "700ms",
                              NULL};
  CHECK_EQ(baton(&p, late, 20000), 1);
  CHECK_EQ(count_lines(p.ebuf), 1);
  CHECK_CONTAINS(p.ebuf, "lease extend");
  snprintf(tok, sizeof tok, "%llu", t3);
  const char *const extend[] = {"lease", "extend", "--name", name, "--token", tok, "--ttl", "20s",
                                NULL};
  CHECK_EQ(baton(&p, extend, 20000), 0);
  const char *const end[] = {"lease", "release", "--name", name, "--token", tok, NULL};
  CHECK_EQ(baton(&p, end, 20000), 0);
}

/* What `status --json` says, checked and taken apart by Python. */
typedef struct status_json {
  char identity[300];   /* "<null>" when nobody leads */
  unsigned long long token;
  long long ttl_ms;     /* -1 for null */
  char backend[32];
  char contenders[600]; /* "id:token,id:token..." */
  int count;
} status_json;

static int status_fields(const char *line, const char *name, status_json *out) {
  static const char script[] =
      "import json,sys\n"
      "d=json.loads(sys.argv[1])\n"
      "assert sorted(d)==['backend','contenders','identity','name','token',"
      "'ttl_remaining_ms','value'], d\n"
      "assert d['name']==sys.argv[2], d\n"
      "assert (d['value'] is None)==(d['identity'] is None), d\n"
      "t=d['ttl_remaining_ms']\n"
      "assert t is None or (isinstance(t,int) and t>=0), d\n"
      "assert isinstance(d['token'],int) and not isinstance(d['token'],bool)\n"
      "for c in d['contenders']:\n"
      "  assert sorted(c)==['identity','token'] and isinstance(c['token'],int), c\n"
      "q=d['contenders']\n"
      "assert (d['identity'] is None)==(not q), d\n"
      "assert not q or (q[0]['identity'],q[0]['token'])==(d['identity'],d['token']), d\n"
      "print('<null>' if d['identity'] is None else d['identity']); print(d['token'])\n"
      "print(-1 if t is None else t); print(d['backend']); print(len(q))\n"
      "print(','.join('%s:%d'%(c['identity'],c['token']) for c in q))\n";
  const char *argv[] = {"/usr/bin/python3", "-c", script, line, name, NULL};
  kit_proc p;
  int code = run(&p, argv, NULL, 20000);
  if (code != 0) {
    TEST_FAIL_("python3 rejects '%s' (exit %d): %s", line, code, p.ebuf);
    return -1;
  }
  memset(out, 0, sizeof *out);
  if (sscanf(p.obuf, "%299[^\n]\n%llu\n%lld\n%31s\n%d\n%599[^\n]", out->identity, &out->token,
             &out->ttl_ms, out->backend, &out->count, out->contenders) < 5) {
    TEST_FAIL_("python3 printed '%s' for '%s'", p.obuf, line);
    return -1;
  }
  return 0;
}

/* `baton status --json --name name`: its exit code, *out filled. */
static int status_of(const char *name, status_json *out) {
  const char *const args[] = {"status", "--json", "--name", name, NULL};
  kit_proc l;
  int code = baton(&l, args, 20000);
  char *nl = strchr(l.obuf, '\n');
  CHECK(nl != NULL && nl[1] == '\0'); /* one object, one line */
  if (nl != NULL) *nl = '\0';
  if (status_fields(l.obuf, name, out) != 0) out->count = -1;
  return code;
}

/* `baton campaign` as `identity` on name: the started process, its token. */
static kit_proc *campaigner(const char *name, const char *identity) {
  const char *const args[] = {"campaign", "--name", name, "--identity", identity, "--ttl", "5s",
                              NULL};
  return baton_start(args);
}

/* Start a waiter and wait, boundedly, until status shows `want` entries. */
static kit_proc *queue_up(const char *name, const char *identity, int want, status_json *st) {
  kit_proc *p = campaigner(name, identity);
  int64_t end = kit_now_ms() + 20000;
  for (int i = 0; i < 2000 && kit_now_ms() < end; i++) /* each look is a process run */
    if (status_of(name, st) == 0 && st->count >= want) break;
  return p;
}

/* status --json on every backend: nobody (exit 3), then a holder and two
 * waiters in arrival order (Redis, Redlock, PostgreSQL: the holder alone), the holder's TTL
 * where the backend tells it, and the plain form. */
static void status_json_lists_the_queue(void) {
  const char *name = fresh("status");
  status_json st;
  CHECK_EQ(status_of(name, &st), 3);
  CHECK_STR(st.identity, "<null>");
  CHECK_EQ(st.token, 0);
  CHECK_EQ(st.ttl_ms, -1);
  CHECK_EQ(st.count, 0);
  char backend[32]; /* the URI's scheme: etcd3 is etcd, sentinel redis-sentinel */
  CHECK_STR(st.backend, server_scheme(backend, sizeof backend));
  kit_proc *h = campaigner(name, "st-1");
  REQUIRE(h != NULL);
  char line[256];
  unsigned long long token = 0;
  REQUIRE(kit_proc_line(h, line, sizeof line, 20000) == 0);
  CHECK_EQ(sscanf(line, "elected token=%llu", &token), 1);
  bool queue = strcmp(backend, "etcd") == 0 || strcmp(backend, "zk") == 0;
  kit_proc *w1 = queue_up(name, "st-2", queue ? 2 : 1, &st);
  kit_proc *w2 = queue_up(name, "st-3", queue ? 3 : 1, &st);
  CHECK_EQ(status_of(name, &st), 0);
  CHECK_STR(st.identity, "st-1");
  CHECK_EQ(st.token, token);
  if (strcmp(backend, "zk") == 0 || strcmp(backend, "postgres") == 0) {
    CHECK_EQ(st.ttl_ms, -1); /* the holder's session's, not readable */
  } else {
    CHECK_GT(st.ttl_ms, 0);
    CHECK_LE(st.ttl_ms, 5000);
  }
  char prefix[64];
  snprintf(prefix, sizeof prefix, "st-1:%llu", token);
  CHECK_EQ(st.count, queue ? 3 : 1);
  CHECK(strncmp(st.contenders, prefix, strlen(prefix)) == 0);
  if (queue) {
    const char *two = strstr(st.contenders, ",st-2:"), *three = strstr(st.contenders, ",st-3:");
    CHECK(two != NULL && three != NULL && two < three);
  }
  const char *const plain[] = {"status", "--name", name, NULL};
  kit_proc l;
  CHECK_EQ(baton(&l, plain, 20000), 0);
  char expect[300];
  snprintf(expect, sizeof expect, "name=%s backend=%s\nleader token=%llu identity=st-1 ", name,
           st.backend, token);
  CHECK(strncmp(l.obuf, expect, strlen(expect)) == 0);
  CHECK_EQ(count_lines(l.obuf), queue ? 4u : 2u);
  if (queue) CHECK_CONTAINS(l.obuf, "\ncontender 3 token=");
  kit_proc *procs[] = {w2, w1, h};
  for (size_t i = 0; i < 3; i++) {
    if (procs[i] == NULL) continue;
    kill(procs[i]->pid, SIGINT);
    CHECK_EQ(kit_proc_wait(procs[i], 20000), 0);
    done(procs[i]);
  }
  CHECK_EQ(status_of(name, &st), 3);
}

/* What the server under test counts: etcd, leases granted (its /metrics);
 * Redis, calls per command ("get=3,pttl=3,..." from INFO commandstats).
 * Empty for ZooKeeper. */
static void server_counts(char *out, size_t size) {
  static char buf[1 << 20];
  out[0] = '\0';
  int port = server->member[0].port;
  if (strcmp(kind, "etcd") == 0) {
    static const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    CHECK_EQ(test_tcp_ask(port, req, sizeof req - 1, buf, sizeof buf, 5000), 0);
    const char *m = strstr(buf, "\netcd_debugging_lease_granted_total ");
    CHECK(m != NULL);
    if (m != NULL) snprintf(out, size, "granted=%lld", atoll(m + 36));
  } else if (strcmp(kind, "redis") == 0) {
    static const char req[] = "INFO commandstats\r\nQUIT\r\n";
    CHECK_EQ(test_tcp_ask(port, req, sizeof req - 1, buf, sizeof buf, 5000), 0);
    size_t n = 0;
    for (const char *l = strstr(buf, "cmdstat_"); l != NULL; l = strstr(l + 1, "cmdstat_")) {
      int calls = 0;
      char cmd[64];
      if (sscanf(l, "cmdstat_%63[^:]:calls=%d", cmd, &calls) == 2 && strcmp(cmd, "info") != 0 &&
          n < size)
        n += (size_t)snprintf(out + n, size - n, "%s=%d,", cmd, calls);
    }
  }
}

/* leader and status only read: on etcd they grant no lease (plain
 * ranges); on Redis they send nothing but GET and PTTL. */
static void leader_and_status_are_read_only(void) {
  const char *name = fresh("ro");
  kit_proc *h = campaigner(name, "ro-1");
  REQUIRE(h != NULL);
  char line[256];
  REQUIRE(kit_proc_line(h, line, sizeof line, 20000) == 0);
  char before[2048], after[2048];
  server_counts(before, sizeof before);
  const char *const leader[] = {"leader", "--name", name, NULL};
  const char *const status[] = {"status", "--json", "--name", name, NULL};
  kit_proc l;
  CHECK_EQ(baton(&l, leader, 20000), 0);
  CHECK_EQ(baton(&l, status, 20000), 0);
  server_counts(after, sizeof after);
  if (strcmp(kind, "redis") == 0) {
    /* Every command whose count moved reads: GET and PTTL (both did),
     * the connection check's PING, and our own INFO's QUIT. */
    static const char *const reads[] = {"get=", "pttl=", "ping=", "quit="};
    int moved = 0;
    for (char *save = NULL, *t = strtok_r(after, ",", &save); t != NULL;
         t = strtok_r(NULL, ",", &save)) {
      char was[80];
      snprintf(was, sizeof was, "%s,", t);
      if (strstr(before, was) != NULL) continue;
      size_t i = 0;
      while (i < 4 && strncmp(t, reads[i], strlen(reads[i])) != 0) i++;
      if (i == 4) TEST_FAIL_("baton leader/status sent %s", t);
      moved += i < 2;
    }
    CHECK_EQ(moved, 2);
  } else {
    CHECK_STR(after, before);
  }
  kill(h->pid, SIGINT);
  CHECK_EQ(kit_proc_wait(h, 20000), 0);
  done(h);
}

/* The flag wins over BATON_BACKEND; the variable alone works. */
static void backend_from_env(void) {
  const char *const args[] = {BATON_EXE, "leader", "--name", fresh("env"), "--backend",
                              server->uri, NULL};
  const char *const env_bad[] = {"BATON_BACKEND=bogus://x", NULL};
  kit_proc p;
  CHECK_EQ(run(&p, args, env_bad, 20000), 3);
  char var[1100];
  snprintf(var, sizeof var, "BATON_BACKEND=%s", server->uri);
  const char *const env_good[] = {var, NULL};
  const char *const no_flag[] = {BATON_EXE, "leader", "--name", fresh("env"), NULL};
  CHECK_EQ(run(&p, no_flag, env_good, 20000), 3);
  CHECK_STR(p.obuf, "no leader\n");
}

/* Nothing listens: exit 1 and one line that names the address. */
static void unreachable_backend(void) {
  char uri[128], scheme[32];
  int port = test_free_port();
  server_scheme(scheme, sizeof scheme);
  snprintf(uri, sizeof uri, "%s://127.0.0.1:%d", scheme, port);
  if (strcmp(kind, "redlock") == 0) /* it takes no fewer than 3 */
    snprintf(uri, sizeof uri, "%s://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", kind, port, port + 1,
             port + 2);
  if (strcmp(kind, "sentinel") == 0) /* it needs the master's name */
    snprintf(uri, sizeof uri, "%s://127.0.0.1:%d/x", scheme, port);
  const char *const args[] = {BATON_EXE, "leader", "--backend", uri, "--name", "x", NULL};
  kit_proc p;
  int64_t start = kit_now_ms();
  CHECK_EQ(run(&p, args, NULL, 30000), 1);
  CHECK_EQ(count_lines(p.ebuf), 1);
  CHECK(strncmp(p.ebuf, "baton: ", 7) == 0);
  char port_text[16];
  snprintf(port_text, sizeof port_text, "%d", port);
  CHECK_CONTAINS(p.ebuf, port_text);
  CHECK_LT(kit_now_ms() - start, 15000);
}

/* Bad URIs of this scheme: exit 2, one line, before any connection. */
static void bad_uri_for_backend(void) {
  char uri[64], scheme[32];
  server_scheme(scheme, sizeof scheme);
  snprintf(uri, sizeof uri, "%s://127.0.0.1:99999", scheme);
  const char *const args[] = {"leader", "--backend", uri, "--name", "x", NULL};
  expect_usage(args, NULL, "port out of range");
  snprintf(uri, sizeof uri, "%s://", scheme);
  expect_usage(args, NULL, "no host");
  const char *const bad_name[] = {"leader", "--backend", server->uri, "--name", "a/b", NULL};
  expect_usage(bad_name, NULL, "bad name");
}

/* Two schedulers, one store: only the leader runs the job. */
static void scheduler_runs_on_leader_only(void) {
  char addr[320];
  snprintf(addr, sizeof addr, "unix:%s/sched.sock", workdir);
  const char *serve[] = {FENCED_STORE_EXE, "serve", "--addr", addr, NULL};
  kit_proc *s, *a, *b;
  char line[512];
  s = spawn(serve, NULL);
  REQUIRE(s != NULL);
  REQUIRE(kit_proc_line(s, line, sizeof line, 10000) == 0);
  const char *name = fresh("sched");
  const char *sa[] = {SCHEDULER_EXE, "--backend", server->uri, "--name", name, "--every",
                      "100ms", "--store", addr, "--identity", "sched-a", "--runs", "15", NULL};
  const char *sb[] = {SCHEDULER_EXE, "--backend", server->uri, "--name", name, "--every",
                      "100ms", "--store", addr, "--identity", "sched-b", "--runs", "15", NULL};
  a = spawn(sa, NULL);
  REQUIRE(a != NULL);
  b = spawn(sb, NULL);
  REQUIRE(b != NULL);
  CHECK_EQ(kit_proc_wait(a, 30000), 0);
  CHECK_EQ(kit_proc_wait(b, 30000), 0);
  kill(s->pid, SIGTERM);
  CHECK_EQ(kit_proc_wait(s, 10000), 0);
  /* Only the leader wrote: the writer changes at most once (when the
   * first leader is done and resigns), and only with a newer token. */
  int accepted = 0, refused = 0, changes = 0;
  char last[64] = "", *save = NULL;
  unsigned long long last_token = 0;
  for (char *l = strtok_r(s->obuf, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
    char writer[64], verdict[16];
    unsigned long long token;
    if (sscanf(l, "%*s token=%llu writer=%63s %15s", &token, writer, verdict) != 3) continue;
    accepted += strcmp(verdict, "accepted") == 0;
    refused += strcmp(verdict, "refused") == 0;
    if (last[0] != '\0' && strcmp(last, writer) != 0) {
      changes++;
      CHECK_GT(token, last_token);
    }
    snprintf(last, sizeof last, "%s", writer);
    last_token = token;
  }
  CHECK_GE(accepted, 5);
  CHECK_EQ(refused, 0);
  CHECK_LE(changes, 1);
  done(a);
  done(b);
  done(s);
}

/* ---- credentials: a Redis that requires a password ---------------------- */

#define PASSWORD "cli-pw-5b2e8f1d-right"
#define WRONG "cli-pw-0c9d7a3e-wrong"

static char plain_uri[128], right_uri[192], wrong_uri[192];
static char right_file[300], wrong_file[300];

/* A Redis of the case's own with requirepass PASSWORD, the URIs and
 * password files for it. */
static bool start_locked(void) {
  test_redis_opts o = {.password = PASSWORD};
  test_cluster *locked = kit_fresh_redis(&o);
  if (locked == NULL) return false;
  int port = locked->member[0].port;
  snprintf(plain_uri, sizeof plain_uri, "redis://127.0.0.1:%d", port);
  snprintf(right_uri, sizeof right_uri, "redis://:%s@127.0.0.1:%d", PASSWORD, port);
  snprintf(wrong_uri, sizeof wrong_uri, "redis://default:%s@127.0.0.1:%d", WRONG, port);
  snprintf(right_file, sizeof right_file, "%s/right-password", workdir);
  snprintf(wrong_file, sizeof wrong_file, "%s/wrong-password", workdir);
  /* The first line counts, its line end (\r\n too) stripped. */
  return test_write_file(right_file, PASSWORD "\r\nnot this line\n") == 0 &&
         test_write_file(wrong_file, WRONG) == 0;
}

/* `baton leader` on the locked Redis with the password from the URI, a
 * file and/or $BATON_PASSWORD; its exit code. No password may show. */
static int locked_leader(const char *uri, const char *file, const char *env_password) {
  const char *argv[] = {BATON_EXE, "leader", "--backend", uri, "--name", "x",
                        file != NULL ? "--password-file" : NULL, file, NULL};
  char var[128];
  snprintf(var, sizeof var, "BATON_PASSWORD=%s", env_password != NULL ? env_password : "");
  const char *const env[] = {env_password != NULL ? var : NULL, NULL};
  kit_proc p;
  int code = run(&p, argv, env, 20000);
  if (strstr(p.ebuf, PASSWORD) != NULL || strstr(p.ebuf, WRONG) != NULL)
    TEST_FAIL_("a password in a message: %s", p.ebuf);
  if (code == 1) CHECK_CONTAINS(p.ebuf, "127.0.0.1"); /* the failure is told */
  return code;
}

/* Every source of the password works, in the order --password-file, then
 * $BATON_PASSWORD, then the URI's: each pair is tried both ways round. A
 * leader of nobody (3) means the server took the password. */
static void password_sources(void) {
  REQUIRE(start_locked());
  CHECK_EQ(locked_leader(plain_uri, NULL, NULL), 1); /* the server wants one */
  CHECK_EQ(locked_leader(right_uri, NULL, NULL), 3);
  CHECK_EQ(locked_leader(plain_uri, NULL, PASSWORD), 3);
  CHECK_EQ(locked_leader(plain_uri, right_file, NULL), 3);
  CHECK_EQ(locked_leader(wrong_uri, NULL, NULL), 1);
  CHECK_EQ(locked_leader(plain_uri, wrong_file, NULL), 1);
  /* $BATON_PASSWORD over the URI's. */
  CHECK_EQ(locked_leader(wrong_uri, NULL, PASSWORD), 3);
  CHECK_EQ(locked_leader(right_uri, NULL, WRONG), 1);
  /* --password-file over both. */
  CHECK_EQ(locked_leader(wrong_uri, right_file, WRONG), 3);
  CHECK_EQ(locked_leader(right_uri, wrong_file, PASSWORD), 1);
}

/* The value of `key` in the output of env(1), or NULL. */
static const char *env_value(const char *env_output, const char *key, char *out, size_t size) {
  size_t n = strlen(key);
  for (const char *l = env_output; l != NULL && *l != '\0';) {
    const char *nl = strchr(l, '\n');
    if (strncmp(l, key, n) == 0 && l[n] == '=') {
      snprintf(out, size, "%.*s", (int)((nl != NULL ? nl : l + strlen(l)) - l - n - 1), l + n + 1);
      return out;
    }
    l = nl != NULL ? nl + 1 : NULL;
  }
  return NULL;
}

/* What `baton run` hands CMD: BATON_BACKEND without the userinfo, and no
 * password anywhere in its environment, from any of the three sources;
 * nor in baton's own messages (-v). */
static void credentials_not_passed_on(void) {
  REQUIRE(start_locked());
  char backend_var[256], value[256];
  snprintf(backend_var, sizeof backend_var, "BATON_BACKEND=%s", right_uri);
  const char *const from_uri[] = {BATON_EXE, "run", "-v", "--name", fresh("creds"), "--",
                                  "/usr/bin/env", NULL};
  const char *const uri_env[] = {backend_var, NULL};
  const char *const from_file[] = {BATON_EXE, "run", "-v", "--backend", plain_uri,
                                   "--password-file", right_file, "--name", fresh("creds"),
                                   "--", "/usr/bin/env", NULL};
  const char *const password_env[] = {"BATON_PASSWORD=" PASSWORD, NULL};
  const char *const with_env[] = {BATON_EXE, "run", "-v", "--backend", plain_uri, "--name",
                                  fresh("creds"), "--", "/usr/bin/env", NULL};
  const struct {
    const char *const *argv, *const *env;
  } runs[] = {{from_uri, uri_env}, {from_file, password_env}, {with_env, password_env}};
  for (size_t i = 0; i < 3; i++) {
    kit_proc p;
    CHECK_EQ(run(&p, runs[i].argv, runs[i].env, 30000), 0);
    CHECK(env_value(p.obuf, "BATON_TOKEN", value, sizeof value) != NULL); /* CMD ran */
    if (env_value(p.obuf, "BATON_BACKEND", value, sizeof value) != NULL)
      CHECK_STR(value, plain_uri);
    else
      TEST_FAIL_("run %zu: no BATON_BACKEND in CMD's environment: %s", i, p.obuf);
    CHECK(env_value(p.obuf, "BATON_PASSWORD", value, sizeof value) == NULL);
    if (strstr(p.obuf, PASSWORD) != NULL || strstr(p.ebuf, PASSWORD) != NULL)
      TEST_FAIL_("run %zu: the password reached CMD or a message: %s%s", i, p.obuf, p.ebuf);
  }
}

/* A URI with a typo (no "://", or a '/', '?' or '#' in its password) put
 * where baton quotes it (a surplus argument, the command, a mistyped
 * option): the password is not in the message. */
static void typos_redacted_as_arguments(void) {
  static const char *const uris[] = {
      "redis:/cli:hunter2pw@127.0.0.1:1", "redis//cli:hunter2pw@127.0.0.1:1",
      "cli:hunter2pw@127.0.0.1:1",        "hunter2pw@127.0.0.1:1",
      "redis://cli:12/hunter2pw@h:1",     "redis://cli:12?hunter2pw@h:1",
      "redis://cli:12#hunter2pw@h:1",     "cli:hunter2pw@redis://h:1",
  };
  for (size_t i = 0; i < sizeof uris / sizeof uris[0]; i++) {
    char option[128];
    snprintf(option, sizeof option, "--backnd=%s", uris[i]);
    const char *const operand[] = {"leader", "--name", "x", uris[i], NULL};
    const char *const command[] = {uris[i], NULL};
    const char *const typo[] = {"leader", option, "--name", "x", NULL};
    expect_one_line(operand, NULL, 2, "hunter2", uris[i]);
    expect_one_line(command, NULL, 2, "hunter2", uris[i]);
    expect_one_line(typo, NULL, 2, "hunter2", option);
  }
}

/* A userinfo longer than a message's buffer is redacted before the
 * message is cut short, not cut first (which loses its '@'): in a quoted
 * argument, in a --backend's secret quoted back, and in a line that quotes
 * a long text (CMD's path). */
static void long_userinfo_redacted(void) {
  static char uri[2100], operand[2100];
  memset(operand, 'x', sizeof operand);
  snprintf(uri, sizeof uri, "redis://cli:hunter2%.1900s@127.0.0.1:1", operand);
  snprintf(operand, sizeof operand, "%s", uri);
  const char *const surplus[] = {"leader", "--name", "x", uri, NULL};
  expect_one_line(surplus, NULL, 2, "hunter2", "a long URI as an operand");
  const char *const twice[] = {"leader", "--backend", uri, "--name", "x", operand, NULL};
  expect_one_line(twice, NULL, 2, "hunter2", "--backend's long password quoted back");
  const char *const cmd[] = {"run", "--backend", "redis://127.0.0.1:1", "--name", "x", "--",
                             uri, NULL};
  expect_one_line(cmd, NULL, 2, "hunter2", "a long URI as CMD");
}

/* A user name without a password is not a secret: the messages about it
 * show it, and words that match it ("redis" in "redis://") stay. */
static void bare_user_not_a_secret(void) {
  const char *const args[] = {"leader", "--backend", "redis://redis@127.0.0.1:1", "--name",
                              "leader", NULL};
  expect_one_line(args, NULL, 2, "***", "a user without a password");
  const char *argv[32];
  baton_argv(argv, NULL, args);
  kit_proc p;
  run(&p, argv, NULL, 20000);
  CHECK_CONTAINS(p.ebuf, "redis://");
  CHECK_CONTAINS(p.ebuf, "'redis'");
}

/* However many --backend options come (the last one wins), the password
 * of each is remembered and redacted: here the last one's, quoted back as
 * an operand, with no URI around it to give it away. */
static void many_backends_redacted(void) {
  static char uris[6][64];
  const char *args[32] = {"leader"};
  int n = 1;
  for (int i = 0; i < 6; i++) {
    snprintf(uris[i], sizeof uris[i], "redis://cli:hunter2-%c@127.0.0.1:1", 'a' + i);
    args[n++] = "--backend";
    args[n++] = uris[i];
  }
  args[n++] = "--name";
  args[n++] = "x";
  args[n++] = "hunter2-f";
  args[n] = NULL;
  expect_one_line(args, NULL, 2, "hunter2", "the sixth --backend's password as an operand");
}

/* etcd authenticates only with a user name: a password without one, from
 * any source, would go unused, so it is refused (exit 2, one line) before
 * any connection. With a user it goes on (nothing listens: exit 1). */
static void etcd_password_needs_user(void) {
  char file[300];
  snprintf(file, sizeof file, "%s/etcd-password", workdir);
  REQUIRE(test_write_file(file, "etcd-pw-3f9a\n") == 0);
  const char *const from_file[] = {"leader", "--backend", "etcd://127.0.0.1:1", "--name", "x",
                                   "--password-file", file, NULL};
  const char *const tls[] = {"leader", "--backend", "ETCDS://127.0.0.1:1", "--name", "x",
                             "--password-file", file, NULL};
  const char *const in_uri[] = {"leader", "--backend", "etcd://:etcd-pw-3f9a@127.0.0.1:1",
                                "--name", "x", NULL};
  const char *const plain[] = {"leader", "--backend", "etcd://127.0.0.1:1", "--name", "x", NULL};
  const char *const env[] = {"BATON_PASSWORD=etcd-pw-3f9a", NULL};
  const char *const sources[] = {"--password-file", "--password-file", "--backend",
                                 "BATON_PASSWORD"};
  const char *const *args[] = {from_file, tls, in_uri, plain};
  for (size_t i = 0; i < 4; i++) {
    const char *argv[32];
    baton_argv(argv, NULL, args[i]);
    kit_proc p;
    CHECK_EQ(run(&p, argv, i == 3 ? env : NULL, 20000), 2);
    CHECK_EQ(count_lines(p.ebuf), 1);
    CHECK_CONTAINS(p.ebuf, sources[i]);
    CHECK_CONTAINS(p.ebuf, "user");
    if (strstr(p.ebuf, "etcd-pw-3f9a") != NULL) TEST_FAIL_("%s", p.ebuf);
  }
  const char *const with_user[] = {"leader", "--backend", "etcd://root@127.0.0.1:1", "--name",
                                   "x", "--password-file", file, NULL};
  const char *argv[32];
  baton_argv(argv, NULL, with_user);
  kit_proc p;
  int unreachable = built("etcd") ? 1 : 2; /* exit 2: not built */
  CHECK_EQ(run(&p, argv, NULL, 20000), unreachable);
  CHECK_EQ(run(&p, argv, env, 20000), unreachable);
}

/* Every scheme of every backend baton knows: one left out of this build is
 * bad input (exit 2, "not built"); one built is tried (exit 1: nothing
 * listens at port 1), at one host or, for a backend that takes several
 * (Redlock needs 3), at three (with a path: Sentinel's master). CI builds
 * once with backends left out. */
static void schemes_built_or_not(void) {
#define SCHEMES_OF(b) {#b, {BATON_SCHEMES_##b, NULL}},
  static const struct {
    const char *backend;
    const char *schemes[4];
  } known[] = {BATON_BACKENDS_KNOWN(SCHEMES_OF)};
#undef SCHEMES_OF
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
    for (size_t j = 0; known[i].schemes[j] != NULL; j++) {
      bool in = built(known[i].backend);
      int code = -1;
      char uri[96];
      kit_proc p;
      /* One host, three, then three and a path (Sentinel's needs the
       * master's name). */
      for (int form = 0; form < 3 && code != (in ? 1 : 2); form++) {
        snprintf(uri, sizeof uri, "%s://127.0.0.1:1%s%s", known[i].schemes[j],
                 form > 0 ? ",127.0.0.1:2,127.0.0.1:3" : "", form == 2 ? "/x" : "");
        const char *const args[] = {"leader", "--backend", uri, "--name", "x", NULL};
        const char *argv[32];
        baton_argv(argv, NULL, args);
        code = run(&p, argv, NULL, 20000);
      }
      if (code != (in ? 1 : 2) || (strstr(p.ebuf, "not built") != NULL) != !in)
        TEST_FAIL_("%s (%s): exit %d: %s", uri, in ? "built" : "not built", code, p.ebuf);
      /* Every scheme baton knows is documented: in the help, in the man page. */
      char scheme[32], page[65536];
      snprintf(scheme, sizeof scheme, "%s://", known[i].schemes[j]);
      const char *const help[] = {"--help", NULL};
      CHECK_EQ(baton(&p, help, 20000), 0);
      CHECK_CONTAINS(p.obuf, scheme);
      if (read_text(BATON_MAN_PAGE, page, sizeof page) == 0) CHECK_CONTAINS(page, scheme);
    }
  }
}

/* Two stores on one --state FILE would each accept what the other
 * refuses (A takes 10, B takes 5): the second one is refused at start,
 * before it listens. The temporary file is a fresh one each time: a
 * symlink planted at FILE.tmp (a fixed name before) is left alone, and so
 * is what it points to. */
static void store_state_locked(void) {
  char addr[320], state[320], planted[340], victim[320], text[64];
  snprintf(state, sizeof state, "%s/locked.state", workdir);
  snprintf(planted, sizeof planted, "%s.tmp", state);
  snprintf(victim, sizeof victim, "%s/victim", workdir);
  REQUIRE(test_write_file(victim, "victim\n") == 0);
  unlink(planted);
  REQUIRE(symlink(victim, planted) == 0);
  const char *const extra[] = {"--state", state, NULL};
  kit_proc *a = store_start("locked-a", extra, addr, sizeof addr);
  REQUIRE(a != NULL);
  CHECK_EQ(store_write(addr, "10"), 0);

  char other[320];
  snprintf(other, sizeof other, "unix:%s/locked-b.sock", workdir);
  const char *const second[] = {FENCED_STORE_EXE, "serve", "--addr", other, "--state", state,
                                NULL};
  kit_proc b;
  CHECK_EQ(run(&b, second, NULL, 5000), 1);
  CHECK_EQ(count_lines(b.ebuf), 1);
  CHECK_CONTAINS(b.ebuf, state);
  CHECK_CONTAINS(b.ebuf, "another");
  CHECK_EQ(b.olen, 0); /* it never listened */
  CHECK_EQ(store_write(addr, "5"), 4); /* A still refuses the older term */

  CHECK(read_text(victim, text, sizeof text) == 0);
  CHECK_STR(text, "victim\n");
  struct stat st;
  CHECK(lstat(state, &st) == 0 && S_ISREG(st.st_mode));
  CHECK(read_text(state, text, sizeof text) == 0);
  CHECK_STR(text, "10\n");
  kill(a->pid, SIGTERM);
  CHECK_EQ(kit_proc_wait(a, 10000), 0);
  done(a);
}

/* A state file the store cannot take stops it at start with one line that
 * says what is wrong, and never advises removing the file (a store that
 * starts from 0 accepts every stale term): an empty file, one with no
 * token, one longer than any token (not read in part), one that cannot be
 * read (a folder). */
static void store_state_messages(void) {
  char addr[320], state[320], folder[320];
  snprintf(addr, sizeof addr, "unix:%s/messages.sock", workdir);
  snprintf(state, sizeof state, "%s/messages.state", workdir);
  snprintf(folder, sizeof folder, "%s/messages.folder", workdir);
  REQUIRE(mkdir(folder, 0755) == 0 || errno == EEXIST);
  static const struct {
    const char *text, *says; /* text NULL: the folder */
  } cases[] = {
      {"", "empty"},
      {"garbage\n", "no token"},
      {"00000000000000000000000000000007" "5\n", "longer"},
      {NULL, "Is a directory"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *file = cases[i].text != NULL ? state : folder;
    if (cases[i].text != NULL) REQUIRE(test_write_file(state, cases[i].text) == 0);
    const char *const argv[] = {FENCED_STORE_EXE, "serve", "--addr", addr, "--state", file, NULL};
    kit_proc p;
    CHECK_EQ(run(&p, argv, NULL, 5000), 1);
    CHECK_EQ(count_lines(p.ebuf), 1);
    CHECK_CONTAINS(p.ebuf, cases[i].says);
    CHECK_CONTAINS(p.ebuf, file);
    if (cases[i].text != NULL) CHECK_CONTAINS(p.ebuf, "highest token");
    if (strstr(p.ebuf, "remove") != NULL) TEST_FAIL_("advises removing the file: %s", p.ebuf);
    CHECK_EQ(p.olen, 0);
  }
}

/* The idle timeout counts from a request's first byte, not from the last
 * byte: a client that trickles a byte every 100 ms never finishes a line
 * and must lose its slot once the timeout (400 ms) has passed. */
static void store_drops_tricklers(void) {
  char addr[320];
  const char *const extra[] = {"--idle-timeout", "400ms", NULL};
  kit_proc *s = store_start("trickle", extra, addr, sizeof addr);
  REQUIRE(s != NULL);
  int fd = store_connect(addr);
  REQUIRE(fd >= 0);
  int64_t first = kit_now_ms(), dropped = -1;
  for (int i = 0; i < 40 && dropped < 0; i++) {
    if (send(fd, "W", 1, MSG_NOSIGNAL) != 1) {
      dropped = kit_now_ms();
      break;
    }
    if (store_closed(fd, 100)) dropped = kit_now_ms();
  }
  check_dropped("trickler", first, dropped, 400, 400 + 1500);
  close(fd);
  kill(s->pid, SIGTERM);
  CHECK_EQ(kit_proc_wait(s, 10000), 0);
  done(s);
}

/* The store's log (stdout) must never stop it: with nobody reading the
 * log, 3000 writes (far more than a pipe holds) are all answered; with the
 * log's reader gone, a write is still answered and the store lives on
 * (no SIGPIPE), and stops cleanly. */
static void store_log_never_blocks(void) {
  char addr[320], request[128], reply[128];
  kit_proc *s = store_start("log", NULL, addr, sizeof addr);
  REQUIRE(s != NULL);
  int fd = store_connect(addr);
  REQUIRE(fd >= 0);
  int answered = 0;
  for (int i = 0; i < 3000; i++, answered++) {
    snprintf(request, sizeof request,
             "WRITE 1 w log-line-%04d-0123456789-0123456789-0123456789-0123456789\n", i);
    if (strcmp(store_ask(fd, request, reply, sizeof reply, 5000), "OK 1") != 0) break;
  }
  CHECK_EQ(answered, 3000);
  close(fd);
  kill(s->pid, SIGTERM);
  CHECK_EQ(kit_proc_wait(s, 10000), 0);
  done(s);

  signal(SIGPIPE, SIG_DFL); /* as a shell starts it: this test ignores SIGPIPE */
  s = store_start("log-gone", NULL, addr, sizeof addr);
  signal(SIGPIPE, SIG_IGN);
  REQUIRE(s != NULL);
  close(s->out); /* the log's reader goes */
  s->out = -1;
  CHECK_EQ(store_write(addr, "2"), 0);
  CHECK_EQ(store_write(addr, "3"), 0);
  kill(s->pid, SIGTERM);
  CHECK_EQ(kit_proc_wait(s, 10000), 0);
  done(s);
}

/* `baton run --help` says when SIGKILL comes as the code sends it (and
 * the man page says it): after the grace period from the SIGTERM, or at
 * the local deadline, whichever comes first; not always at the deadline. */
static void run_help_says_when_sigkill(void) {
  static char help[32768];
  const char *const args[] = {"run", "--help", NULL};
  help_output(args, help, sizeof help);
  for (char *p = help; *p != '\0'; p++)
    if (*p == '\n') *p = ' '; /* sentences run across lines */
  CHECK_CONTAINS(help, "then SIGKILL after the grace period or at the local deadline, "
                       "whichever comes first");
}

/* Help and version that cannot be written (stdout on /dev/full) are a
 * failure: exit 1 and one line on stderr, not exit 0 with nothing shown. */
static void help_write_errors(void) {
  static const char *const runs[][7] = {
      {"--help"}, {"help", "leader"}, {"run", "--help"}, {"--version"}, {"-V"},
      {"leader", "--backend", "redis://127.0.0.1:1", "--name", "x", "--help"},
  };
  for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
    /* The shell gives baton a stdout on /dev/full, then becomes it. */
    const char *argv[40] = {"/bin/sh", "-c", "exec \"$0\" \"$@\" >/dev/full"};
    baton_argv(argv + 3, NULL, runs[i]);
    kit_proc p;
    int code = run(&p, argv, NULL, 20000);
    if (code != 1 || count_lines(p.ebuf) != 1 || strncmp(p.ebuf, "baton: ", 7) != 0)
      TEST_FAIL_("baton %s %s >/dev/full: exit %d, stderr '%s'", runs[i][0],
                 runs[i][1] != NULL ? runs[i][1] : "", code, p.ebuf);
  }
}

/* The scheduler takes the durations `baton` takes (cli_duration_ms), above
 * 0: with a backend where nothing listens, a duration it takes ends in
 * exit 1 (cannot connect), one it refuses in exit 2. */
static void scheduler_durations(void) {
  static const char *const texts[] = {
      "250ms", "2s", "1.5s", "0.25s", "1m", ".5s", "0ms", "1.0005s", "0.5ms", "5", "5q", "",
      "s", "-1s", "1h", " 1s", "1s ", "1e3ms", "1..5s", "9999999999999s", "1.", "2.50s"};
  char backend[64];
  snprintf(backend, sizeof backend, "redis://127.0.0.1:%d", test_free_port());
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    uint64_t ms = 0;
    char why[200];
    bool takes = cli_duration_ms(texts[i], &ms, why, sizeof why) == 0 && ms > 0;
    const char *const every[] = {SCHEDULER_EXE, "--backend", backend, "--name", "n", "--every",
                                 texts[i], "--store", "unix:/nonexistent/store.sock", NULL};
    const char *const ttl[] = {SCHEDULER_EXE, "--backend", backend, "--name", "n", "--every",
                               "1s", "--ttl", texts[i], "--store", "unix:/nonexistent/store.sock",
                               NULL};
    kit_proc p;
    int code = run(&p, every, NULL, 10000);
    if (code != (takes ? 1 : 2))
      TEST_FAIL_("--every '%s': exit %d, want %d: %s", texts[i], code, takes ? 1 : 2, p.ebuf);
    if (takes && ms >= 100 && (code = run(&p, ttl, NULL, 10000)) != 1)
      TEST_FAIL_("--ttl '%s': exit %d, want 1: %s", texts[i], code, p.ebuf);
  }
}

/* ---- credentials in /proc ---------------------------------------------- */

/* argv for `baton ARGS...` as a user who is not root: through setpriv(1)
 * as nobody when the test runs as root (a process's /proc entries are open
 * to root whatever it does); setpriv execs, so the pid is baton's. */
static void unprivileged_argv(const char *argv[40], const char *const args[]) {
  int n = 0;
  if (geteuid() == 0) {
    argv[n++] = "/usr/bin/setpriv";
    argv[n++] = "--reuid=65534";
    argv[n++] = "--regid=65534";
    argv[n++] = "--clear-groups";
  }
  argv[n++] = BATON_EXE;
  for (int i = 0; args[i] != NULL && n < 39; i++) argv[n++] = args[i];
  argv[n] = NULL;
}

/* The whole of /proc/PID/FILE with NULs as spaces into buf ("" if it
 * cannot be read). */
static const char *proc_text(int pid, const char *file, char *buf, size_t size) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", pid, file);
  buf[0] = '\0';
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return buf;
  ssize_t n = read(fd, buf, size - 1);
  close(fd);
  for (ssize_t i = 0; i < n; i++)
    if (buf[i] == '\0') buf[i] = ' ';
  buf[n > 0 ? n : 0] = '\0';
  return buf;
}

/* The password reaches neither baton's command line nor its environment
 * as /proc shows them, from any of the three sources; and baton is not
 * dumpable (its /proc entries are root's), so that CMD, run by the same
 * user, cannot read its parent's (the guard's, a fork of baton) memory,
 * mappings or environment. CMD tries, and says what it could open. */
static void secrets_not_in_proc(void) {
  REQUIRE(start_locked());
  static const char script[] =
      "baton=$(awk '/^PPid:/ {print $2}' /proc/$PPID/status); "
      "for f in /proc/$PPID/environ /proc/$PPID/mem /proc/$PPID/maps /proc/$baton/environ "
      "/proc/$baton/mem; do "
      "if (exec 3<\"$f\") 2>/dev/null; then echo \"open $f\"; else echo \"denied $f\"; fi; done; "
      "tr '\\0' ' ' </proc/$PPID/environ 2>/dev/null; echo; echo ready; read go";
  char backend_var[256];
  snprintf(backend_var, sizeof backend_var, "BATON_BACKEND=%s", right_uri);
  const char *const in_argv[] = {"run", "--backend", right_uri, "--name", fresh("proc"), "--",
                                 "/bin/sh", "-c", script, NULL};
  const char *const in_env[] = {"run", "--name", fresh("proc"), "--", "/bin/sh", "-c", script,
                                NULL};
  const char *const plain[] = {"run", "--backend", plain_uri, "--name", fresh("proc"), "--",
                               "/bin/sh", "-c", script, NULL};
  const char *const backend_env[] = {backend_var, NULL};
  const char *const password_env[] = {"BATON_PASSWORD=" PASSWORD, NULL};
  const struct {
    const char *const *args, *const *env;
  } runs[] = {{in_argv, NULL}, {in_env, backend_env}, {plain, password_env}};
  for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
    const char *argv[40];
    unprivileged_argv(argv, runs[i].args);
    kit_proc *r = spawn(argv, runs[i].env);
    REQUIRE(r != NULL);
    char line[4096], text[65536];
    int lines = 0;
    while (kit_proc_line(r, line, sizeof line, 20000) == 0 && strcmp(line, "ready") != 0) {
      lines++;
      if (strncmp(line, "open ", 5) == 0) {
        TEST_FAIL_("run %zu: CMD could open %s", i, line + 5);
      }
      if (strstr(line, PASSWORD) != NULL) TEST_FAIL_("run %zu: CMD read the password", i);
    }
    CHECK_STR(line, "ready");
    CHECK_GE(lines, 5);
    /* What anyone who may read baton's /proc entries sees. */
    if (strstr(proc_text(r->pid, "cmdline", text, sizeof text), PASSWORD) != NULL)
      TEST_FAIL_("run %zu: the password in /proc/%d/cmdline", i, (int)r->pid);
    if (strstr(proc_text(r->pid, "environ", text, sizeof text), PASSWORD) != NULL)
      TEST_FAIL_("run %zu: the password in /proc/%d/environ", i, (int)r->pid);
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%d/environ", (int)r->pid);
    CHECK_EQ(stat(path, &st), 0);
    CHECK_EQ(st.st_uid, 0); /* not dumpable: it runs as nobody or as us, not as root */
    CHECK_EQ(write(r->in, "go\n", 3), 3);
    CHECK_EQ(kit_proc_wait(r, 20000), 0);
    if (strstr(r->ebuf, PASSWORD) != NULL) TEST_FAIL_("run %zu: %s", i, r->ebuf);
    done(r);
  }
}

/* BATON_PASSWORD twice in the environment block (execve allows it; getenv
 * takes the first): neither value stays in /proc/<baton>/environ, and CMD
 * gets none. */
static void duplicate_passwords_wiped(void) {
  REQUIRE(start_locked());
  const char *name = fresh("dup");
  const char *const argv[] = {BATON_EXE, "run", "--backend", plain_uri, "--name", name, "--",
                              "/bin/sh", "-c", "echo \"pw=${BATON_PASSWORD-none}\"; read go",
                              NULL};
  const char *const env[] = {"PATH=/usr/bin:/bin", "BATON_PASSWORD=" PASSWORD,
                             "BATON_PASSWORD=" WRONG, NULL};
  kit_proc_opts o = {.env = env, .env_only = true};
  kit_proc *p = kit_spawn(argv, &o);
  REQUIRE(p != NULL);
  char line[256] = "";
  kit_proc_line(p, line, sizeof line, 20000);
  CHECK_STR(line, "pw=none"); /* CMD ran (the first password is the right one) */
  char text[65536];
  proc_text(p->pid, "environ", text, sizeof text);
  CHECK(strstr(text, PASSWORD) == NULL);
  CHECK(strstr(text, WRONG) == NULL);
  CHECK_EQ(kit_proc_send(p, "go"), 0);
  CHECK_EQ(kit_proc_wait(p, 20000), 0);
  done(p);
}

/* ---- main ------------------------------------------------------------- */

static const test_case usage_cases[] = {
    {"usage_errors", usage_errors},
    {"notify_messages_parse", notify_messages_parse},
    {"notify_socket_receives", notify_socket_receives},
    {"durations", durations},
    {"secrets_redacted", secrets_redacted},
    {"help_and_version", help_and_version},
    {"man_page", man_page},
    {"fenced_store_rules", fenced_store_rules},
    {"store_drops_idle_clients", store_drops_idle_clients},
    {"store_is_fair", store_is_fair},
    {"store_state_survives_restart", store_state_survives_restart},
    {"typos_redacted_as_arguments", typos_redacted_as_arguments},
    {"long_userinfo_redacted", long_userinfo_redacted},
    {"bare_user_not_a_secret", bare_user_not_a_secret},
    {"many_backends_redacted", many_backends_redacted},
    {"etcd_password_needs_user", etcd_password_needs_user},
    {"schemes_built_or_not", schemes_built_or_not},
    {"store_state_locked", store_state_locked},
    {"store_state_messages", store_state_messages},
    {"store_drops_tricklers", store_drops_tricklers},
    {"store_log_never_blocks", store_log_never_blocks},
    {"run_help_says_when_sigkill", run_help_says_when_sigkill},
    {"help_write_errors", help_write_errors},
    {"scheduler_durations", scheduler_durations},
    {NULL, NULL},
};

static const test_case server_cases[] = {
    {"env_leader_exit_status", env_leader_exit_status},
    {"signal_status", signal_status},
    {"sigterm_stops_child", sigterm_stops_child},
    {"metrics_file_follows_the_term", metrics_file_follows_the_term},
    {"metrics_file_not_rewritten_per_datagram", metrics_file_not_rewritten_per_datagram},
    {"metrics_listen_serves_and_stops", metrics_listen_serves_and_stops},
    {"no_orphan_after_sigkill", no_orphan_after_sigkill},
    {"leftovers_killed", leftovers_killed},
    {"only_inherited_fds", only_inherited_fds},
    {"closed_standard_fds", closed_standard_fds},
    {"observe_and_leader_json", observe_and_leader_json},
    {"status_json_lists_the_queue", status_json_lists_the_queue},
    {"leader_and_status_are_read_only", leader_and_status_are_read_only},
    {"backend_from_env", backend_from_env},
    {"unreachable_backend", unreachable_backend},
    {"bad_uri_for_backend", bad_uri_for_backend},
    {"scheduler_runs_on_leader_only", scheduler_runs_on_leader_only},
    {"stops_before_expiry", stops_before_expiry},
    {"campaign_loss_keeps_the_key", campaign_loss_keeps_the_key},
    {"run_once_loss_keeps_the_key", run_once_loss_keeps_the_key},
    {"run_watchdog_stops_a_silent_child", run_watchdog_stops_a_silent_child},
    {"run_status_is_proclaimed", run_status_is_proclaimed},
    {"run_forwards_ready_and_status", run_forwards_ready_and_status},
    {"run_full_notify_queue_does_not_block", run_full_notify_queue_does_not_block},
    {"run_notify_ignores_other_senders", run_notify_ignores_other_senders},
    {"lease_commands", lease_commands},
    {NULL, NULL},
};

/* Only with kind "redis": these start a Redis of their own, with a password. */
static const test_case redis_cases[] = {
    {"password_sources", password_sources},
    {"credentials_not_passed_on", credentials_not_passed_on},
    {"secrets_not_in_proc", secrets_not_in_proc},
    {"duplicate_passwords_wiped", duplicate_passwords_wiped},
    {NULL, NULL},
};

/* server_cases, then redis_cases when the kind is "redis". */
static test_case all_cases[sizeof server_cases / sizeof server_cases[0] +
                           sizeof redis_cases / sizeof redis_cases[0]];

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: cli usage|redis|etcd|zk [FILTER]\n");
    return 2;
  }
  kind = argv[1];
  unsetenv("BATON_BACKEND");
  unsetenv("BATON_PASSWORD");
  if (test_make_dir(workdir, sizeof workdir, "cli") != 0) return 1;
  const test_case *cases = usage_cases;
  if (strcmp(kind, "usage") != 0) {
    if ((server = kit_server(kind)) == NULL) {
      test_remove_dir(workdir);
      return 1; /* a missing server fails */
    }
    size_t n = 0;
    for (const test_case *c = server_cases; c->name != NULL; c++) all_cases[n++] = *c;
    for (const test_case *c = redis_cases; strcmp(kind, "redis") == 0 && c->name != NULL; c++)
      all_cases[n++] = *c;
    cases = all_cases;
  }
  int rc = test_main(argc - 1, argv + 1, cases);
  test_remove_dir(workdir);
  return rc;
}
