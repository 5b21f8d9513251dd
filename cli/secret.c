/* secret.c — keeping credentials out of what baton shows and passes on.
 *
 * The URI's userinfo (user:password@) is taken out before the library sees
 * the URI: the user and the password go in through baton_options, so no
 * message built from the URI text can carry them, and `baton run` hands
 * its child the same URI without them. It is also taken out of argv and of
 * the environment block, which /proc shows for as long as baton runs; the
 * rest of baton's memory is kept from other processes by making baton not
 * dumpable (baton.c), and the guard of `baton run` wipes what is here. The
 * password may come from a file or $BATON_PASSWORD instead of the command
 * line, where `ps` shows it. And every line baton prints is redacted of
 * every secret it knows, as a second line of defence. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern char **environ;

#define URI_MAX 4096   /* the library's limit too */
#define SECRET_MIN 3   /* shorter ones would blank out ordinary words */

static char public_uri[URI_MAX + 1]; /* the URI without its userinfo */
static char user[URI_MAX + 1], uri_password[URI_MAX + 1], given_password[URI_MAX + 2];
static bool env_password;            /* given_password came from $BATON_PASSWORD */
static bool env_password_long;       /* $BATON_PASSWORD was too long to keep */
static char *env_backend;            /* $BATON_BACKEND as it was given */
static char *arg_backend;            /* the last --backend as it was given */
/* The secrets to redact, each once, on the heap: every --backend adds its
 * own (however many there are), and none may be dropped for want of room. */
static char **secret_store;
static size_t nsecrets, secrets_room;

/* Out of memory, baton cannot keep track of a secret: it stops here,
 * quoting nothing. */
static void no_memory(void) {
  fputs("baton: out of memory\n", stderr);
  exit(CLI_EXIT_BACKEND);
}

static void remember(const char *s, size_t len) {
  if (len < SECRET_MIN) return;
  for (size_t i = 0; i < nsecrets; i++)
    if (strncmp(secret_store[i], s, len) == 0 && secret_store[i][len] == '\0') return;
  if (nsecrets == secrets_room) {
    size_t room = secrets_room == 0 ? 8 : 2 * secrets_room;
    char **grown = realloc(secret_store, room * sizeof *grown);
    if (grown == NULL) no_memory();
    secret_store = grown;
    secrets_room = room;
  }
  if ((secret_store[nsecrets] = strndup(s, len)) == NULL) no_memory();
  nsecrets++;
}

static int hexval(char c) {
  return c >= '0' && c <= '9' ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

/* Percent-decode s[0..len) into out (which has room for len + 1) as the
 * library does: -1 on a bad escape or an encoded NUL. */
static int decode(char *out, const char *s, size_t len) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++, o++) {
    out[o] = s[i];
    if (s[i] != '%') continue;
    int hi = i + 2 < len ? hexval(s[i + 1]) : -1, lo = i + 2 < len ? hexval(s[i + 2]) : -1;
    if (hi < 0 || lo < 0 || hi + lo == 0) return -1;
    out[o] = (char)(hi * 16 + lo);
    i += 2;
  }
  out[o] = '\0';
  return 0;
}

/* Where the userinfo of `uri` is. The authority begins after "://" and
 * ends at '/', '?' or '#' (RFC 3986); the userinfo is what comes before
 * its last '@'. Returns that '@', or NULL when there is none; *info
 * receives the userinfo's start and *colon its first ':' (NULL when there
 * is no password).
 *
 * A URI without "://" before its last '@' (a typo in the scheme:
 * redis:/u:pw@h), or with an '@' after the authority (a '/', '?' or '#' in
 * the password ends the authority early: redis://u:12/pw@h), is set
 * *stray: then the userinfo runs from the authority's start (the URI's
 * start when there is no "://" before the '@') to the URI's last '@', to
 * cover all that could be a password. cli_credentials refuses such a URI:
 * the library would take the password for the host or the path, and its
 * messages quote those. */
static const char *userinfo(const char *uri, const char **info, const char **colon,
                            bool *stray) {
  const char *sep = strstr(uri, "://"), *at = strrchr(uri, '@');
  const char *start = sep != NULL && (at == NULL || at > sep) ? sep + 3 : uri;
  *stray = at != NULL && (start == uri || at >= start + strcspn(start, "/?#"));
  *info = start;
  *colon = at != NULL ? memchr(start, ':', (size_t)(at - start)) : NULL;
  return at;
}

/* Remember the secrets of a URI before anything can quote it. A user name
 * alone is not one: messages may name the user, and a name such as
 * "redis" would turn "redis://" into "***://". */
static void note_uri(const char *uri) {
  bool stray;
  const char *info, *colon, *at = userinfo(uri, &info, &colon, &stray);
  if (at == NULL) return;
  if (colon != NULL || stray) remember(info, (size_t)(at - info));
  if (colon == NULL) return;
  size_t len = (size_t)(at - colon - 1);
  remember(colon + 1, len);
  char *decoded = malloc(len + 1);
  if (decoded == NULL) no_memory();
  if (decode(decoded, colon + 1, len) == 0) remember(decoded, strlen(decoded));
  explicit_bzero(decoded, len + 1);
  free(decoded);
}

/* A copy of `s` on the heap. */
static char *keep(const char *s) {
  char *copy = strdup(s);
  if (copy == NULL) no_memory();
  return copy;
}

/* Take the userinfo out of `uri` in place: what follows it moves up and
 * the bytes freed at the end become NULs. `uri` is a string of argv or of
 * the environment block, which /proc/PID/cmdline and /proc/PID/environ
 * show to anyone who may read them, for as long as the process lives. */
static void scrub(char *uri) {
  bool stray;
  const char *info, *colon, *at = userinfo(uri, &info, &colon, &stray);
  if (at == NULL) return;
  size_t len = strlen(uri), cut = (size_t)(at + 1 - info);
  memmove(uri + (info - uri), at + 1, strlen(at + 1) + 1);
  explicit_bzero(uri + len - cut, cut); /* the string's end moved up by cut */
}

void cli_secrets_begin(void) {
  /* $BATON_PASSWORD is kept, then every BATON_PASSWORD= of the
   * environment block (execve allows several; getenv takes the first) is
   * wiped there (/proc/PID/environ shows the block) and taken out of the
   * environment (unsetenv takes them all), so that no child can inherit
   * one. Each value is remembered as a secret. */
  char *env = getenv("BATON_PASSWORD");
  if (env != NULL && *env != '\0') {
    env_password_long = strlen(env) > URI_MAX;
    env_password = !env_password_long;
    if (env_password) snprintf(given_password, sizeof given_password, "%s", env);
  }
  for (char **e = environ; e != NULL && *e != NULL; e++) {
    if (strncmp(*e, "BATON_PASSWORD=", 15) != 0) continue;
    remember(*e + 15, strlen(*e + 15));
    explicit_bzero(*e + 15, strlen(*e + 15));
  }
  unsetenv("BATON_PASSWORD");
  /* $BATON_BACKEND is kept, and every BATON_BACKEND= of the environment
   * block loses its userinfo: the child gets the URI without it anyway. */
  const char *backend = getenv("BATON_BACKEND");
  if (backend != NULL) {
    env_backend = keep(backend);
    note_uri(env_backend);
  }
  for (char **e = environ; e != NULL && *e != NULL; e++)
    if (strncmp(*e, "BATON_BACKEND=", 14) == 0) scrub(*e + 14);
}

const char *cli_secrets_env_backend(void) { return env_backend; }

const char *cli_secrets_take_backend(char *arg) {
  note_uri(arg);
  char *copy = keep(arg);
  scrub(arg); /* as mysql does with -p */
  if (arg_backend != NULL) {
    explicit_bzero(arg_backend, strlen(arg_backend));
    free(arg_backend);
  }
  arg_backend = copy;
  return copy;
}

void cli_secrets_wipe(void) {
  explicit_bzero(user, sizeof user);
  explicit_bzero(uri_password, sizeof uri_password);
  explicit_bzero(given_password, sizeof given_password);
  for (size_t i = 0; i < nsecrets; i++) explicit_bzero(secret_store[i], strlen(secret_store[i]));
  if (env_backend != NULL) explicit_bzero(env_backend, strlen(env_backend));
  if (arg_backend != NULL) explicit_bzero(arg_backend, strlen(arg_backend));
}

/* The first line of `path`, without its line end, into given_password. */
static int read_password_file(const cli_args *a, const char *path) {
  FILE *f = fopen(path, "re");
  const char *why = NULL;
  if (f == NULL) {
    why = strerror(errno);
  } else {
    if (fgets(given_password, sizeof given_password, f) == NULL) given_password[0] = '\0';
    if (ferror(f)) why = strerror(errno);
    fclose(f);
  }
  size_t n = strcspn(given_password, "\n");
  if (n > URI_MAX) why = "the first line is too long";
  if (n > 0 && given_password[n - 1] == '\r') n--; /* a file written on Windows */
  given_password[n] = '\0';
  if (why == NULL && n == 0) why = "the first line is empty";
  if (why == NULL) return CLI_CONTINUE;
  explicit_bzero(given_password, sizeof given_password);
  return cli_fail(CLI_EXIT_USAGE, a->command_name, "--password-file %.200s: %s", path, why);
}

int cli_credentials(cli_args *a) {
  size_t len = strlen(a->backend);
  if (len > URI_MAX)
    return cli_fail(CLI_EXIT_USAGE, a->command_name, "--backend: the URI is longer than %d bytes",
                    URI_MAX);
  if (env_password_long)
    return cli_fail(CLI_EXIT_USAGE, a->command_name, "BATON_PASSWORD is longer than %d bytes",
                    URI_MAX);
  bool stray;
  const char *info, *colon, *at = userinfo(a->backend, &info, &colon, &stray);
  const char *source = a->backend == env_backend ? "BATON_BACKEND" : "--backend";
  if (stray && info == a->backend)
    return cli_fail(CLI_EXIT_USAGE, a->command_name,
                    "%s: no scheme:// before the '@' (expected e.g. redis://host:port, "
                    "with user:password@ before the host)",
                    source);
  if (stray)
    return cli_fail(CLI_EXIT_USAGE, a->command_name,
                    "'@' after the host in %s: percent-encode '/', '?' and '#' in the "
                    "password (%%2F, %%3F, %%23), and '@' in the path (%%40)",
                    source);
  memcpy(public_uri, a->backend, len + 1);
  if (at != NULL) {
    const char *user_end = colon != NULL ? colon : at;
    if (decode(user, info, (size_t)(user_end - info)) != 0 ||
        (colon != NULL && decode(uri_password, colon + 1, (size_t)(at - colon - 1)) != 0))
      return cli_fail(CLI_EXIT_USAGE, a->command_name,
                      "--backend: bad %%-escape in the URI's user name or password");
    if (user_end > info) a->username = user;
    if (colon != NULL) a->password = uri_password;
    memmove(public_uri + (info - a->backend), public_uri + (at + 1 - a->backend),
            len - (size_t)(at - a->backend));
  }
  a->backend = public_uri;
  if (a->password_file != NULL) {
    int rc = read_password_file(a, a->password_file);
    if (rc != CLI_CONTINUE) return rc;
    remember(given_password, strlen(given_password));
  }
  if (a->password_file != NULL || env_password) a->password = given_password;
  /* etcd authenticates only with a user name: without one, the backend
   * would leave the password unused and go on unauthenticated. */
  size_t scheme = strcspn(a->backend, ":");
  bool etcd = (scheme == 4 || scheme == 5) && strncasecmp(a->backend, "etcds", scheme) == 0;
  if (etcd && a->password != NULL && a->username == NULL)
    return cli_fail(CLI_EXIT_USAGE, a->command_name,
                    "%s: a password, but no user in the URI: etcd would not use it (it "
                    "authenticates a user, named as user@ before the host)",
                    a->password_file != NULL ? "--password-file"
                    : env_password           ? "BATON_PASSWORD"
                                             : source);
  return CLI_CONTINUE;
}

/* ---- redaction ---------------------------------------------------------- */

/* Every occurrence of `secret` in msg becomes "***", in place: a secret
 * has at least SECRET_MIN (3) bytes, so the text never grows. */
static void replace_all(char *msg, const char *secret) {
  size_t n = strlen(secret);
  char *w = msg;
  if (n == 0 || strstr(msg, secret) == NULL) return;
  for (const char *r = msg; *r != '\0';) {
    if (strncmp(r, secret, n) == 0) {
      memcpy(w, "***", 3);
      w += 3;
      r += n;
    } else {
      *w++ = *r++;
    }
  }
  *w = '\0';
}

/* Whether `c` ends a URI quoted in a message. */
static bool ends_quote(char c) {
  return (unsigned char)c <= ' ' || c == 0x7f || c == '\'' || c == '"';
}

/* Copy `text` to `out` with the userinfo after any "://" as "***": a
 * URI's credentials, whoever wrote them into the message. It ends at the
 * last '@' before the URI's end (a space, a quote, a control byte), not at
 * the first '/', '?' or '#': a password may hold those, unencoded. Each
 * "://" adds 3 bytes at most (an empty userinfo), so `out` needs room for
 * twice the text. */
static void redact_userinfo(char *out, const char *text) {
  size_t o = 0;
  for (const char *p = text; *p != '\0';) {
    if (strncmp(p, "://", 3) != 0) {
      out[o++] = *p++;
      continue;
    }
    memcpy(out + o, "://", 3);
    o += 3;
    p += 3;
    size_t last_at = 0;
    for (size_t i = 0; p[i] != '\0' && !ends_quote(p[i]); i++)
      if (p[i] == '@') last_at = i + 1;
    if (last_at > 0) {
      memcpy(out + o, "***", 3);
      o += 3;
      p += last_at - 1; /* the '@' is copied next */
    }
  }
  out[o] = '\0';
}

char *cli_redacted(const char *text) {
  char *out = malloc(2 * strlen(text) + 4);
  if (out == NULL) return NULL;
  redact_userinfo(out, text);
  for (size_t i = 0; i < nsecrets; i++) replace_all(out, secret_store[i]);
  return out;
}
