/* args.c — the command line of `baton`: subcommands, options, durations and
 * the help, made from the same tables as the parser. Every mistake ends in
 * one line on stderr and exit 2. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ALL (CLI_RUN | CLI_CAMPAIGN | CLI_LEADER | CLI_OBSERVE | CLI_STATUS | CLI_LEASE)
#define TTL_MIN_MS 100ULL          /* the library's minimum */
#define TTL_MAX_MS (24ULL * 3600000) /* a day: longer is a configuration slip */

typedef enum opt_id {
  OPT_BACKEND,
  OPT_NAME,
  OPT_TTL,
  OPT_IDENTITY,
  OPT_GRACE,
  OPT_ONCE,
  OPT_JSON,
  OPT_VERBOSE,
  OPT_EVENTS,
  OPT_METRICS_FILE,
  OPT_METRICS_LISTEN,
  OPT_WATCHDOG,
  OPT_PASSWORD_FILE,
  OPT_TIMEOUT,
  OPT_TOKEN,
  OPT_HELP,
} opt_id;

typedef struct opt_spec {
  opt_id id;
  const char *name;   /* long name without "--" */
  char short_name;    /* 0 if none */
  const char *value;  /* the value's name in help ("URI"), NULL for a flag */
  unsigned commands;  /* where it is allowed */
  const char *help;   /* one line or more for --help; '\n' starts another */
} opt_spec;

/* The options of every command: parsing and each command's --help come
 * from this one table, so that help lists every option there is. */
static const opt_spec options[] = {
    {OPT_BACKEND, "backend", 0, "URI", ALL,
     "the backend's URI (see 'baton --help' for each\n"
     "kind); default $BATON_BACKEND"},
    {OPT_NAME, "name", 0, "NAME", ALL, "the election's name"},
    {OPT_TTL, "ttl", 0, "D", CLI_RUN | CLI_CAMPAIGN | CLI_LEASE_ACQUIRE | CLI_LEASE_EXTEND,
     "lease time to live (default 10s; a fixed\n"
     "lease's: required, 1ms..7d); D is e.g.\n"
     "500ms, 2s, 1m"},
    {OPT_IDENTITY, "identity", 0, "ID", CLI_RUN | CLI_CAMPAIGN | CLI_LEASE_ACQUIRE,
     "shown as the leader (default host:pid)"},
    {OPT_TIMEOUT, "timeout", 0, "D", CLI_LEASE_ACQUIRE,
     "wait up to D for the holder to go (default\n"
     "0: one attempt)"},
    {OPT_TOKEN, "token", 0, "T", CLI_LEASE_EXTEND | CLI_LEASE_RELEASE,
     "the lease's fencing token, as lease acquire\n"
     "printed it"},
    {OPT_GRACE, "grace", 0, "D", CLI_RUN, "SIGTERM to SIGKILL (default min(ttl/10, 2s))"},
    {OPT_ONCE, "once", 0, NULL, CLI_RUN,
     "exit 1 after the first lost term instead of\n"
     "campaigning again"},
    {OPT_JSON, "json", 0, NULL, CLI_LEADER | CLI_OBSERVE | CLI_STATUS | CLI_LEASE_ACQUIRE,
     "one JSON object a line:\n"
     "{\"name\":..,\"identity\":..,\"token\":..,\"value\":..}\n"
     "(status: more fields, see below; lease acquire:\n"
     "{\"name\":..,\"token\":..,\"ttl_ms\":..})"},
    {OPT_VERBOSE, "verbose", 'v', NULL, CLI_RUN, "report elections and exits on stderr"},
    {OPT_EVENTS, "events", 0, "FILE", CLI_RUN,
     "append a line per transition to FILE:\n"
     "\"<ns> elected|started|stopped|resigned|lost\n"
     "token=<T> ...\", <ns> CLOCK_MONOTONIC nanoseconds"},
    {OPT_METRICS_FILE, "metrics-file", 0, "PATH", CLI_RUN,
     "keep PATH a Prometheus text file of the\n"
     "election's metrics (node_exporter's textfile\n"
     "collector): written to PATH.tmp and renamed\n"
     "into place at every change and every 10s"},
    {OPT_METRICS_LISTEN, "metrics-listen", 0, "ADDR", CLI_RUN,
     "serve the metrics at http://ADDR/metrics;\n"
     "ADDR is HOST:PORT, or PORT for 127.0.0.1"},
    {OPT_WATCHDOG, "watchdog", 0, "D", CLI_RUN,
     "CMD must send WATCHDOG=1 to $NOTIFY_SOCKET at\n"
     "least every D (10ms..24h; it gets WATCHDOG_USEC);\n"
     "a missed one stops the term's renewals: CMD is\n"
     "stopped and the term ends at its local deadline"},
    {OPT_PASSWORD_FILE, "password-file", 0, "PATH", ALL,
     "the backend's password: the first line of PATH\n"
     "(wins over $BATON_PASSWORD and the URI's)"},
    {OPT_HELP, "help", 'h', NULL, ALL, "print this help and exit"},
};

#define NOPTIONS (sizeof options / sizeof options[0])

static const struct {
  const char *name;
  cli_command command;
  const char *synopsis; /* after "baton NAME " */
  const char *summary;  /* one line, for 'baton --help' */
  const char *text;     /* what it does */
  const char *exit;     /* its exit status */
} commands[] = {
    {"run", CLI_RUN, "--backend URI --name NAME [OPTION...] -- CMD [ARG...]",
     "run a command while this process leads NAME",
     "Campaign for NAME; once elected, start CMD in its own process group with\n"
     "BATON_TOKEN (the term's fencing token), BATON_NAME, BATON_IDENTITY and\n"
     "BATON_BACKEND (the URI without user:password@) in its environment. If\n"
     "baton dies, even by SIGKILL, the whole process group is killed (a guard\n"
     "process leads it; CMD also has a parent-death signal).\n"
     "\n"
     "When the term is ending (renewals failed until --grace before the local\n"
     "deadline, or the backend reports it lost), CMD's process group gets\n"
     "SIGTERM, then SIGKILL after the grace period or at the local deadline,\n"
     "whichever comes first; the client's safety margin is set to grace +\n"
     "slack, so both land before the server can expire the term. Then baton\n"
     "campaigns again (exits 1 with --once).\n"
     "\n"
     "CMD gets NOTIFY_SOCKET and speaks systemd's notify protocol to baton:\n"
     "WATCHDOG=1 touches the term (see --watchdog), READY=1 and STATUS=TEXT\n"
     "are recorded (--events, -v), STATUS= is passed on to baton's own\n"
     "$NOTIFY_SOCKET when baton runs under systemd; other assignments are\n"
     "ignored. Under systemd baton says READY=1 itself once it campaigns, and\n"
     "answers its own WatchdogSec= (WATCHDOG_USEC) from its main loop.\n"
     "\n"
     "When CMD exits on its own, what is left of its process group is killed,\n"
     "the term is resigned and baton exits with CMD's status. On SIGINT,\n"
     "SIGTERM or SIGHUP baton stops CMD the same way (a second signal sends\n"
     "SIGKILL at once), resigns and exits 0.\n",
     "CMD's status (128 + N if signal N killed it); 0 after SIGINT,\n"
     "SIGTERM or SIGHUP; 1 a backend error, or a lost term with --once;\n"
     "2 bad usage.\n"},
    {"campaign", CLI_CAMPAIGN, "--backend URI --name NAME [OPTION...]",
     "hold leadership of NAME until interrupted",
     "Block until elected, print \"elected token=<T>\", and hold the term until\n"
     "SIGINT/SIGTERM/SIGHUP (resign, exit 0) or until it is lost (print\n"
     "\"lost\", exit 1).\n",
     "0 resigned after a signal; 1 a backend error or a lost term;\n"
     "2 bad usage.\n"},
    {"leader", CLI_LEADER, "--backend URI --name NAME [OPTION...]",
     "print the current leader of NAME",
     "Print the current leader of NAME: \"token=<T> identity=<ID>\" and\n"
     "\" value=<V>\" when its term proclaimed one, or with --json\n"
     "{\"name\":..,\"identity\":..,\"token\":..,\"value\":..}; \"no leader\" (JSON:\n"
     "identity null, token 0, value null) when nobody leads.\n",
     "0 there is a leader; 1 a backend error; 2 bad usage; 3 no leader.\n"},
    {"observe", CLI_OBSERVE, "--backend URI --name NAME [OPTION...]",
     "print each change of leader of NAME",
     "Print the leader of NAME, then one line (or JSON object) each time it\n"
     "changes, until SIGINT/SIGTERM/SIGHUP. Lines are as for `baton leader`.\n",
     "0 after a signal; 1 a backend error; 2 bad usage.\n"},
    {"status", CLI_STATUS, "--backend URI --name NAME [OPTION...]",
     "print the leader of NAME, its TTL left and the queue",
     "Print, from one query, the leader of NAME, the server-side time to live\n"
     "left on its key, and the contenders in queue order, the holder first:\n"
     "  name=NAME backend=BACKEND\n"
     "  leader token=T identity=ID [value=V] ttl_remaining_ms=MS  (or \"no leader\")\n"
     "  contender 2 token=T identity=ID                 (one per waiter)\n"
     "With --json, one object:\n"
     "  name              NAME\n"
     "  identity, token   the leader, as `baton leader --json` (null, 0: none)\n"
     "  value             what the leader's term proclaimed (STATUS= under\n"
     "                    baton run): \"\" when nothing, null when nobody leads\n"
     "  ttl_remaining_ms  the leader's key's server-side TTL left: etcd, its\n"
     "                    lease's (whole seconds); redis, PTTL; null when the\n"
     "                    backend cannot tell (zk: a znode lives as long as\n"
     "                    its owner's session) or nobody leads\n"
     "  backend           etcd, zk, redis\n"
     "  contenders        [{identity, token}...] in queue order, holder\n"
     "                    first (redis keeps no queue: the holder alone;\n"
     "                    the first 1024)\n"
     "Read-only: it takes no lease and creates nothing on the server.\n",
     "0 there is a leader; 1 a backend error; 2 bad usage; 3 no leader.\n"},
    {"lease acquire", CLI_LEASE_ACQUIRE, "--backend URI --name NAME --ttl D [OPTION...]",
     "take a fixed lease on NAME for D, and exit",
     "Take a fixed lease on NAME: a term of the election NAME that nobody\n"
     "renews (\"claim job 42 for 10 minutes, even if I crash\"). Print its\n"
     "fencing token, \"token=<T>\" (with --json {\"name\":..,\"token\":..,\n"
     "\"ttl_ms\":..}), and exit, leaving the lease on the server until its TTL\n"
     "runs out, `baton lease extend` moves its end, or `baton lease release`\n"
     "ends it. While it lasts it is NAME's leader (`baton leader` shows it)\n"
     "and campaigns wait for it. When another holds NAME, wait up to\n"
     "--timeout for it to go. Fence every write with the token, and stop\n"
     "acting before the TTL (less drift and a margin of ttl/20) has passed\n"
     "since this command started.\n",
     "0 acquired; 1 a backend error (also: this backend has no fixed\n"
     "leases); 2 bad usage; 3 another holds NAME (said on stderr).\n"},
    {"lease extend", CLI_LEASE_EXTEND, "--backend URI --name NAME --token T --ttl D",
     "make the fixed lease T on NAME live D from now",
     "Make the fixed lease of token T on NAME live D from now, if it has not\n"
     "ended (expired, released, or NAME is another's).\n",
     "0 extended; 1 not the holder (said on stderr) or a backend error;\n"
     "2 bad usage.\n"},
    {"lease release", CLI_LEASE_RELEASE, "--backend URI --name NAME --token T",
     "end the fixed lease T on NAME",
     "End the fixed lease of token T on NAME and wake NAME's waiters.\n",
     "0 released; 1 not the holder (it had ended already: said on stderr)\n"
     "or a backend error; 2 bad usage.\n"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const char environment_help[] =
    "Environment:\n"
    "  BATON_BACKEND   the URI when --backend is not given\n"
    "  BATON_PASSWORD  the backend's password when --password-file is not\n"
    "                  given (before the URI's); never passed on to CMD\n";

static const char uri_help[] =
    "URIs:\n"
    "  redis://[user:password@]host:port[/db]\n"
    "  etcd://[user:password@]host:port[,host:port...][/prefix]  (etcds:// TLS)\n"
    "  zk://[user:password@]host:port[,host:port...][/chroot]\n"
    "  redlock://[user:password@]host:port,host:port,host:port[/db]\n"
    "                  (N >= 3 independent Redis masters, quorum N/2+1)\n"
    "  redis-sentinel://[user:password@]host:port[,host:port...]/MASTER\n"
    "                  [?replicas=K][&sentinel_auth=same]  (the Sentinels;\n"
    "                  the credentials are the master's)\n"
    "  postgres://[user:password@]host[:port][,...][/dbname][?libpq params]\n"
    "                  (postgresql:// too; PostgreSQL 14 or later)\n"
    "A password in the URI shows in ps(1): prefer --password-file or\n"
    "BATON_PASSWORD. Messages never show it.\n";

/* Print `text` with every line but the first indented by `indent`. */
static void print_indented(FILE *f, const char *text, int indent) {
  for (const char *line = text; *line != '\0';) {
    size_t len = strcspn(line, "\n");
    fprintf(f, "%*s%.*s\n", line == text ? 0 : indent, "", (int)len, line);
    line += len + (line[len] == '\n');
  }
}

/* "  -v, --verbose" or "      --name NAME", padded to the help column. */
static void print_option(FILE *f, const opt_spec *o) {
  char head[64], shortname[8] = "";
  if (o->short_name != 0) snprintf(shortname, sizeof shortname, "-%c,", o->short_name);
  snprintf(head, sizeof head, "%-4s--%s%s%s", shortname, o->name, o->value != NULL ? " " : "",
           o->value != NULL ? o->value : "");
  fprintf(f, "  %-28s", head);
  print_indented(f, o->help, 30);
}

static void print_command_help(FILE *f, size_t c) {
  fprintf(f, "usage: baton %s %s\n\n%s\nOptions:\n", commands[c].name, commands[c].synopsis,
          commands[c].text);
  for (size_t i = 0; i < NOPTIONS; i++)
    if (options[i].commands & (unsigned)commands[c].command) print_option(f, &options[i]);
  fprintf(f, "\n%s\nExit status:\n  ", environment_help);
  print_indented(f, commands[c].exit, 2);
}

static void print_main_help(FILE *f) {
  fputs("usage: baton COMMAND --backend URI --name NAME [OPTION...]\n"
        "       baton COMMAND --help | baton help [COMMAND] | baton --version\n"
        "\n"
        "Leader election with fencing tokens over etcd, ZooKeeper, Redis,\n"
        "Redlock and PostgreSQL.\n"
        "\n"
        "Commands:\n",
        f);
  for (size_t c = 0; c < NCOMMANDS; c++)
    fprintf(f, "  %-15s%s\n", commands[c].name, commands[c].summary);
  fprintf(f,
          "\n"
          "Durations (--ttl, --grace, --timeout) take a unit: 500ms, 1.5s, 2m.\n"
          "\n%s\n%s\n"
          "Exit status: 0 ok; 1 a backend error (or a lost term); 2 bad usage or\n"
          "input, said in one line on stderr; 3 no leader (leader, status), or\n"
          "NAME held by another (lease acquire). Each\n"
          "command's --help says which it uses; baton(1) has the details.\n",
          uri_help, environment_help);
}

/* After help or the version: exit 0 only if stdout took it all (a full
 * disk, /dev/full, would otherwise lose it without a word). */
static int stdout_done(void) {
  if (fflush(stdout) == 0 && !ferror(stdout)) return CLI_EXIT_OK;
  return cli_fail(CLI_EXIT_BACKEND, NULL, "cannot write to stdout: %s", strerror(errno));
}

/* ---- durations ---------------------------------------------------------- */

int cli_duration_ms(const char *text, uint64_t *ms, char *why, size_t why_size) {
  const char *p = text;
  uint64_t whole = 0, frac = 0, frac_scale = 1;
  int digits = 0;
  if (*p == '\0') {
    snprintf(why, why_size, "empty duration (e.g. 500ms, 2s, 1m)");
    return -1;
  }
  for (; *p >= '0' && *p <= '9'; p++, digits++) {
    if (digits >= 12) {
      snprintf(why, why_size, "'%s' is too large", text);
      return -1;
    }
    whole = whole * 10 + (uint64_t)(*p - '0');
  }
  if (*p == '.') {
    p++;
    int fdigits = 0;
    for (; *p >= '0' && *p <= '9'; p++, fdigits++) {
      if (fdigits >= 6) {
        snprintf(why, why_size, "'%s' has too many decimals", text);
        return -1;
      }
      frac = frac * 10 + (uint64_t)(*p - '0');
      frac_scale *= 10;
    }
    digits += fdigits;
  }
  if (digits == 0) {
    snprintf(why, why_size, "'%s' is not a duration (e.g. 500ms, 2s, 1m)", text);
    return -1;
  }
  uint64_t unit_us;
  if (strcmp(p, "ms") == 0)
    unit_us = 1000;
  else if (strcmp(p, "s") == 0)
    unit_us = 1000000;
  else if (strcmp(p, "m") == 0)
    unit_us = 60000000;
  else {
    if (*p == '\0')
      snprintf(why, why_size, "'%s' needs a unit: ms, s or m (e.g. %ss)", text, text);
    else
      snprintf(why, why_size, "'%s': unknown unit '%s' (use ms, s or m)", text, p);
    return -1;
  }
  /* whole < 10^12 and unit_us <= 6 * 10^7: the product stays below 2^63. */
  uint64_t us = whole * unit_us + frac * unit_us / frac_scale;
  if (frac * unit_us % frac_scale != 0 || us % 1000 != 0) {
    snprintf(why, why_size, "'%s' is finer than a millisecond", text);
    return -1;
  }
  *ms = us / 1000;
  return 0;
}

/* ---- parsing ------------------------------------------------------------ */

/* One usage line: "baton: CMD: what (see 'baton CMD --help')". */
static int usage(const char *cmd, const char *what) {
  if (cmd != NULL)
    return cli_fail(CLI_EXIT_USAGE, cmd, "%s (see 'baton %s --help')", what, cmd);
  return cli_fail(CLI_EXIT_USAGE, NULL, "%s (see 'baton --help')", what);
}

/* An argument as a message may quote it: redacted whole, then cut short
 * (a userinfo cut before its '@' would escape redaction). */
static const char *quoted(const char *arg, char *buf, size_t size) {
  char *full = cli_redacted(arg);
  if (full == NULL) {
    snprintf(buf, size, "(not shown: out of memory)");
    return buf;
  }
  /* Before an '@' there may be a password in a URI with a typo
   * ("redis:/u:pw@h", "u:pw@h") that the redaction cannot tell from other
   * text: it becomes "***" too, back to an option's '='. */
  const char *at = strrchr(full, '@'), *from = full, *rest = full;
  for (const char *p = full; at != NULL && p < at; p++)
    if (*p == '=') from = p + 1;
  bool mask = at != NULL && !(at - from >= 3 && strncmp(at - 3, "***", 3) == 0);
  if (mask) rest = at;
  int keep = mask ? (int)(from - full) : 0; /* the text before the mask */
  size_t shown = (size_t)keep + (mask ? 3 : 0) + strlen(rest);
  /* At most 80 bytes, then "...". */
  char line[81];
  snprintf(line, sizeof line, "%.*s%s%s", keep, full, mask ? "***" : "", rest);
  snprintf(buf, size, "%s%s", line, shown > 80 ? "..." : "");
  free(full);
  return buf;
}

static const opt_spec *find_long(const char *name, size_t len) {
  for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
    if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0)
      return &options[i];
  return NULL;
}

static const opt_spec *find_short(char c) {
  for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
    if (options[i].short_name != 0 && options[i].short_name == c) return &options[i];
  return NULL;
}

static int duration_option(const char *cmd, const char *opt, const char *value, uint64_t min,
                           uint64_t max, uint32_t *out) {
  char why[200], line[300];
  uint64_t ms = 0;
  if (cli_duration_ms(value, &ms, why, sizeof why) != 0) {
    snprintf(line, sizeof line, "--%s: %s", opt, why);
    return usage(cmd, line);
  }
  if (ms < min || ms > max) {
    snprintf(line, sizeof line, "--%s %s is out of range [%llums, %llus]", opt, value,
             (unsigned long long)min, (unsigned long long)(max / 1000));
    return usage(cmd, line);
  }
  *out = (uint32_t)ms;
  return CLI_CONTINUE;
}

/* --token: a decimal fencing token, 1..2^64-1. */
static int token_option(cli_args *a, const char *value) {
  char line[300], shown[100];
  char *end = NULL;
  errno = 0;
  unsigned long long t = value[0] >= '0' && value[0] <= '9' ? strtoull(value, &end, 10) : 0;
  if (end == NULL || *end != '\0' || errno != 0 || t == 0) {
    snprintf(line, sizeof line, "--token '%s' is not a token (a decimal number, 1 or more)",
             quoted(value, shown, sizeof shown));
    return usage(a->command_name, line);
  }
  a->token = t;
  return CLI_CONTINUE;
}

static int apply(cli_args *a, const opt_spec *o, char *value) {
  const char *cmd = a->command_name;
  switch (o->id) {
    case OPT_BACKEND:
      a->backend = cli_secrets_take_backend(value);
      break;
    case OPT_NAME:
      a->name = value;
      break;
    case OPT_IDENTITY:
      a->identity = value;
      break;
    case OPT_TTL:
      if (a->command & CLI_LEASE)
        return duration_option(cmd, "ttl", value, 1, BATON_LEASE_TTL_MAX_MS, &a->ttl_ms);
      return duration_option(cmd, "ttl", value, TTL_MIN_MS, TTL_MAX_MS, &a->ttl_ms);
    case OPT_TIMEOUT:
      return duration_option(cmd, "timeout", value, 0, BATON_LEASE_TTL_MAX_MS, &a->timeout_ms);
    case OPT_TOKEN:
      return token_option(a, value);
    case OPT_GRACE:
      a->grace_set = true;
      return duration_option(cmd, "grace", value, 0, TTL_MAX_MS, &a->grace_ms);
    case OPT_ONCE:
      a->once = true;
      break;
    case OPT_JSON:
      a->json = true;
      break;
    case OPT_VERBOSE:
      a->verbose = true;
      break;
    case OPT_EVENTS:
      a->events = value;
      break;
    case OPT_METRICS_FILE:
      a->metrics_file = value;
      break;
    case OPT_METRICS_LISTEN:
      a->metrics_listen = value;
      break;
    case OPT_WATCHDOG:
      /* 10 ms at least: each WATCHDOG=1 is a datagram, a process's send
       * and a turn of the main loop; less cannot be kept reliably. */
      return duration_option(cmd, "watchdog", value, 10, BATON_WATCHDOG_MAX_MS, &a->watchdog_ms);
    case OPT_PASSWORD_FILE:
      a->password_file = value;
      break;
    case OPT_HELP:
      break; /* handled by the caller */
  }
  return CLI_CONTINUE;
}

/* Parse the options after the subcommand. Returns CLI_CONTINUE, 0 after
 * help, or CLI_EXIT_USAGE. */
static int parse_options(cli_args *a, int argc, char **argv, int first, size_t command) {
  const char *cmd = a->command_name;
  char line[300], shown[100];
  int i = first;
  for (; i < argc; i++) {
    char *arg = argv[i];
    if (strcmp(arg, "--") == 0) {
      i++;
      break;
    }
    if (arg[0] != '-' || arg[1] == '\0') break; /* the first operand */
    const opt_spec *o = NULL;
    char *value = NULL;
    if (arg[1] == '-') {
      char *eq = strchr(arg + 2, '=');
      size_t len = eq != NULL ? (size_t)(eq - arg - 2) : strlen(arg + 2);
      o = find_long(arg + 2, len);
      if (eq != NULL) value = eq + 1;
    } else if (arg[2] == '\0') {
      o = find_short(arg[1]);
    }
    if (o == NULL || (o->commands & (unsigned)a->command) == 0) {
      snprintf(line, sizeof line, "unknown option '%s'", quoted(arg, shown, sizeof shown));
      return usage(cmd, line);
    }
    if (o->id == OPT_HELP) {
      print_command_help(stdout, command);
      return stdout_done();
    }
    if (o->value != NULL && value == NULL) {
      if (i + 1 >= argc) {
        snprintf(line, sizeof line, "--%s needs a value", o->name);
        return usage(cmd, line);
      }
      value = argv[++i];
    } else if (o->value == NULL && value != NULL) {
      snprintf(line, sizeof line, "--%s takes no value", o->name);
      return usage(cmd, line);
    }
    int rc = apply(a, o, value);
    if (rc != CLI_CONTINUE) return rc;
  }
  if (a->command == CLI_RUN) {
    if (i >= argc) return usage(cmd, "missing the command to run (-- CMD [ARG...])");
    a->cmd = &argv[i];
  } else if (i < argc) {
    snprintf(line, sizeof line, "unexpected argument '%s'", quoted(argv[i], shown, sizeof shown));
    return usage(cmd, line);
  }
  return CLI_CONTINUE;
}

#define COMMAND_LIST "run, campaign, leader, observe, status or lease"

/* The help of `baton lease`: its three commands'. */
static int lease_help(void) {
  for (size_t c = 0; c < NCOMMANDS; c++)
    if (commands[c].command & CLI_LEASE) {
      print_command_help(stdout, c);
      fputc('\n', stdout);
    }
  return stdout_done();
}

int cli_parse(cli_args *a, int argc, char **argv) {
  memset(a, 0, sizeof *a);
  cli_secrets_begin();
  if (argc < 2) return usage(NULL, "missing the command: " COMMAND_LIST);
  const char *sub = argv[1];
  bool help = strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0;
  bool help_of = strcmp(sub, "help") == 0 && argc > 2;
  if (help_of) sub = argv[2]; /* baton help COMMAND */
  else if (help) {
    print_main_help(stdout);
    return stdout_done();
  }
  /* `baton lease VERB` (and `baton help lease VERB`): two words name the
   * command, the options follow them. */
  char lease_sub[32];
  int first = 2;
  bool lease = strcmp(sub, "lease") == 0;
  if (lease) {
    int verb = help_of ? 3 : 2;
    bool asked = verb < argc && (strcmp(argv[verb], "--help") == 0 || strcmp(argv[verb], "-h") == 0);
    if (asked || (verb >= argc && help_of)) return lease_help();
    if (verb >= argc) return usage(NULL, "missing the lease command: acquire, extend or release");
    snprintf(lease_sub, sizeof lease_sub, "lease %.20s", argv[verb]);
    sub = lease_sub;
    first = verb + 1;
  }
  if (strcmp(sub, "--version") == 0 || strcmp(sub, "-V") == 0) {
    printf("baton %s\n", baton_version());
    return stdout_done();
  }
  size_t command = NCOMMANDS;
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strcmp(sub, commands[i].name) == 0) command = i;
  if (command < NCOMMANDS && help) {
    print_command_help(stdout, command);
    return stdout_done();
  }
  if (command == NCOMMANDS) {
    char line[200], shown[100];
    snprintf(line, sizeof line,
             lease ? "unknown command '%s'; use lease acquire, lease extend or lease release"
                   : "unknown command '%s'; use " COMMAND_LIST,
             quoted(sub, shown, sizeof shown));
    return usage(NULL, line);
  }
  a->command = commands[command].command;
  a->command_name = commands[command].name;
  int rc = parse_options(a, argc, argv, first, command);
  if (rc != CLI_CONTINUE) return rc;

  /* --backend wins over the environment; an empty variable is unset. */
  if (a->backend == NULL) {
    const char *env = cli_secrets_env_backend();
    if (env != NULL && *env != '\0') a->backend = env;
  }
  if (a->backend == NULL || *a->backend == '\0')
    return usage(a->command_name, "missing --backend URI (or set BATON_BACKEND)");
  if (a->name == NULL || *a->name == '\0') return usage(a->command_name, "missing --name NAME");
  if (a->identity != NULL && *a->identity == '\0')
    return usage(a->command_name, "--identity is empty");
  if ((a->command & (CLI_LEASE_ACQUIRE | CLI_LEASE_EXTEND)) && a->ttl_ms == 0)
    return usage(a->command_name, "missing --ttl D (the lease's time to live)");
  if ((a->command & (CLI_LEASE_EXTEND | CLI_LEASE_RELEASE)) && a->token == 0)
    return usage(a->command_name, "missing --token T (as lease acquire printed it)");
  return cli_credentials(a);
}
