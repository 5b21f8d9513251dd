/* output.c — what `baton` prints: one-line diagnostics on stderr, leaders as
 * plain lines or JSON objects on stdout, and the JSON string escaping. */
#include "cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t cli_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cli_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

const char *cli_program = "baton";

#define SHOWN_MAX 1000 /* bytes of a message shown, then "..." */

/* Format "baton: [cmd: ]message" into one line: control bytes (a newline
 * in a server's error text, say) become spaces. Every line is redacted,
 * whole, before it is cut short: a message may quote a URI or an
 * argument, and a userinfo cut before its '@' would escape redaction. */
static void vline(const char *cmd, const char *fmt, va_list ap) {
  va_list again;
  va_copy(again, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  char *msg = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (msg != NULL) vsnprintf(msg, (size_t)n + 1, fmt, again);
  va_end(again);
  char *shown = msg != NULL ? cli_redacted(msg) : NULL;
  if (msg != NULL) explicit_bzero(msg, (size_t)n);
  free(msg);
  const char *text = shown != NULL ? shown : "(message not shown: out of memory)";
  for (char *p = shown; p != NULL && *p != '\0'; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
  const char *more = strlen(text) > SHOWN_MAX ? "..." : "";
  if (cmd != NULL)
    fprintf(stderr, "%s: %s: %.*s%s\n", cli_program, cmd, SHOWN_MAX, text, more);
  else
    fprintf(stderr, "%s: %.*s%s\n", cli_program, SHOWN_MAX, text, more);
  fflush(stderr);
  free(shown);
}

int cli_fail(int code, const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vline(cmd, fmt, ap);
  va_end(ap);
  return code;
}

void cli_note(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vline(cmd, fmt, ap);
  va_end(ap);
}

int cli_exit_for(int code) {
  return code == BATON_EINVAL || code == BATON_ENOTBUILT ? CLI_EXIT_USAGE
                                                                     : CLI_EXIT_BACKEND;
}

/* The length of the valid UTF-8 sequence at s (1..4), or 0 if invalid:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const unsigned char *s) {
  unsigned char c = s[0];
  size_t n;
  uint32_t cp;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0; /* also stops at the NUL */
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
      (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
    return 0;
  return n;
}

void cli_json_string(FILE *f, const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  fputc('"', f);
  while (*p != '\0') {
    unsigned char c = *p;
    if (c == '"' || c == '\\') {
      fputc('\\', f);
      fputc(c, f);
      p++;
    } else if (c < 0x20 || c == 0x7f) {
      switch (c) {
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default: fprintf(f, "\\u%04x", c); break;
      }
      p++;
    } else {
      size_t n = utf8_len(p);
      if (n == 0) {
        fputs("\\ufffd", f);
        p++;
      } else {
        fwrite(p, 1, n, f);
        p += n;
      }
    }
  }
  fputc('"', f);
}

/* Plain output keeps one line per leader and one field per word: bytes
 * that are not printable ASCII, the backslash and the space are shown as
 * \xNN, so no name, identity or value can make up a field. */
static void plain_string(FILE *f, const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
    if (*p <= 0x20 || *p >= 0x7f || *p == '\\')
      fprintf(f, "\\x%02x", *p);
    else
      fputc(*p, f);
  }
}

/* `{"name":..,"identity":..,"token":N` (identity null when NULL), the
 * object left open. */
static void json_head(FILE *f, const char *name, const char *identity, uint64_t token) {
  fputs("{\"name\":", f);
  cli_json_string(f, name);
  fputs(",\"identity\":", f);
  if (identity != NULL)
    cli_json_string(f, identity);
  else
    fputs("null", f);
  fprintf(f, ",\"token\":%llu", (unsigned long long)token);
}

/* `,"value":..`: the string, or null when nobody leads. */
static void json_value(FILE *f, const char *value) {
  fputs(",\"value\":", f);
  if (value != NULL)
    cli_json_string(f, value);
  else
    fputs("null", f);
}

/* ` value=..` in plain output, only for a value proclaimed. */
static void plain_value(FILE *f, const char *value) {
  if (value == NULL || value[0] == '\0') return;
  fputs(" value=", f);
  plain_string(f, value);
}

int cli_print_leader(FILE *f, const char *name, const baton_leader *leader, const char *value,
                     bool json) {
  if (json) {
    json_head(f, name, leader != NULL ? leader->identity : NULL,
              leader != NULL ? leader->token : 0);
    json_value(f, leader != NULL ? (value != NULL ? value : "") : NULL);
    fputs("}\n", f);
  } else if (leader != NULL) {
    fprintf(f, "token=%llu identity=", (unsigned long long)leader->token);
    plain_string(f, leader->identity);
    plain_value(f, value);
    fputc('\n', f);
  } else {
    fputs("no leader\n", f);
  }
  return fflush(f) == 0 && !ferror(f) ? 0 : -1;
}

static void json_contender(FILE *f, const baton_contender *k) {
  fputs("{\"identity\":", f);
  cli_json_string(f, k->identity);
  fprintf(f, ",\"token\":%llu}", (unsigned long long)k->token);
}

int cli_print_status(FILE *f, const char *name, const char *backend, const baton_contender *list,
                     size_t n, const char *value, bool json) {
  const baton_contender *holder = n > 0 ? &list[0] : NULL;
  bool ttl = holder != NULL && holder->ttl_remaining_ms >= 0;
  if (json) {
    json_head(f, name, holder != NULL ? holder->identity : NULL,
              holder != NULL ? holder->token : 0);
    json_value(f, holder != NULL ? (value != NULL ? value : "") : NULL);
    fputs(",\"ttl_remaining_ms\":", f);
    if (ttl)
      fprintf(f, "%lld", (long long)holder->ttl_remaining_ms);
    else
      fputs("null", f);
    fputs(",\"backend\":", f);
    cli_json_string(f, backend);
    fputs(",\"contenders\":[", f);
    for (size_t i = 0; i < n; i++) {
      if (i > 0) fputc(',', f);
      json_contender(f, &list[i]);
    }
    fputs("]}\n", f);
  } else {
    fputs("name=", f);
    plain_string(f, name);
    fputs(" backend=", f);
    plain_string(f, backend);
    fputc('\n', f);
    if (holder == NULL) fputs("no leader\n", f);
    for (size_t i = 0; i < n; i++) {
      if (i == 0)
        fprintf(f, "leader token=%llu identity=", (unsigned long long)list[i].token);
      else
        fprintf(f, "contender %zu token=%llu identity=", i + 1, (unsigned long long)list[i].token);
      plain_string(f, list[i].identity);
      if (i == 0) plain_value(f, value);
      if (i == 0 && ttl) fprintf(f, " ttl_remaining_ms=%lld", (long long)holder->ttl_remaining_ms);
      if (i == 0 && !ttl) fputs(" ttl_remaining_ms=unknown", f);
      fputc('\n', f);
    }
  }
  return fflush(f) == 0 && !ferror(f) ? 0 : -1;
}
