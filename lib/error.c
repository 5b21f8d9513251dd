/* error.c — error codes, their texts, and filling a caller's baton_error. */
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *baton_strerror(int code) {
  switch (code) {
#define BATON_X_CASE(name, num, text) \
  case num:                           \
    return text;
    BATON_ERROR_CODES(BATON_X_CASE)
#undef BATON_X_CASE
  }
  return "unknown error";
}

const char *baton_version(void) {
#define BATON_STR2(x) #x
#define BATON_STR(x) BATON_STR2(x)
  return BATON_STR(BATON_VERSION_MAJOR) "." BATON_STR(
      BATON_VERSION_MINOR) "." BATON_STR(BATON_VERSION_PATCH);
}

int baton__error(baton_error *err, int code, const char *fmt, ...) {
  if (err == NULL) return code;
  err->code = code;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
  if (n < 0) snprintf(err->message, sizeof err->message, "%s", baton_strerror(code));
  return code;
}

int baton__ok(baton_error *err) {
  if (err != NULL) {
    err->code = 0;
    err->message[0] = '\0';
  }
  return 0;
}

int baton__error_prefix(baton_error *err, const char *what) {
  if (err == NULL) return BATON_EINVAL;
  char *msg = err->message;
  size_t cap = sizeof err->message - 1;
  size_t wlen = strnlen(what, cap - 2);
  size_t old = strnlen(msg, cap);
  if (old > cap - wlen - 2) old = cap - wlen - 2;
  memmove(msg + wlen + 2, msg, old);
  memcpy(msg, what, wlen);
  memcpy(msg + wlen, ": ", 2);
  msg[wlen + 2 + old] = '\0';
  return err->code;
}

bool baton__retryable(int code) {
  return code == BATON_ECONNECT || code == BATON_ETIMEDOUT ||
         code == BATON_ESESSION || code == BATON_EPROTO;
}
