/* uri.c — splits a backend URI into scheme, credentials, hosts, path and
 * parameters. Everything is decoded into one owned buffer. */
#include "uri.h"

#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BATON_URI_MAX_LEN 4096

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = (char)tolower((unsigned char)c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* Percent-decode s[0..len) in place (dst may equal s; it never outruns s)
 * and NUL-terminate. Rejects a bad escape and an encoded NUL. */
static int decode(char *dst, const char *s, size_t len, const char *what,
                  baton_error *err) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] != '%') {
      dst[o++] = s[i];
      continue;
    }
    int hi = i + 2 < len ? hexval(s[i + 1]) : -1;
    int lo = i + 2 < len ? hexval(s[i + 2]) : -1;
    if (hi < 0 || lo < 0)
      return baton__error(err, BATON_EINVAL, "URI: bad %%-escape in the %s", what);
    if (hi == 0 && lo == 0)
      return baton__error(err, BATON_EINVAL, "URI: %%00 in the %s", what);
    dst[o++] = (char)(hi * 16 + lo);
    i += 2;
  }
  dst[o] = '\0';
  return 0;
}

/* Copy s[0..n) to *w as a NUL-terminated string and advance *w. */
static char *put(char **w, const char *s, size_t n) {
  char *start = *w;
  memcpy(start, s, n);
  start[n] = '\0';
  *w += n + 1;
  return start;
}

static bool host_char(char c) {
  return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

/* Parse one "host[:port]" or "[v6][:port]" from s[0..len). */
static int parse_host(baton_uri_host *out, char **w, const char *s, size_t len,
                      baton_error *err) {
  const char *end = s + len, *port = NULL;
  if (len == 0) return baton__error(err, BATON_EINVAL, "URI: empty host");
  if (*s == '[') {
    const char *close = memchr(s, ']', len);
    if (close == NULL)
      return baton__error(err, BATON_EINVAL, "URI: '[' without ']' in a host");
    if (close == s + 1) return baton__error(err, BATON_EINVAL, "URI: empty host");
    for (const char *p = s + 1; p < close; p++)
      if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
        return baton__error(err, BATON_EINVAL, "URI: bad IPv6 address");
    if (close + 1 < end && close[1] != ':')
      return baton__error(err, BATON_EINVAL, "URI: junk after ']' in a host");
    out->host = put(w, s + 1, (size_t)(close - s - 1));
    if (close + 1 < end) port = close + 2;
  } else {
    const char *colon = memchr(s, ':', len);
    const char *hend = colon != NULL ? colon : end;
    if (hend == s) return baton__error(err, BATON_EINVAL, "URI: empty host");
    for (const char *p = s; p < hend; p++)
      if (!host_char(*p))
        return baton__error(err, BATON_EINVAL,
                            "URI: byte '%c' is not allowed in a host name", *p);
    out->host = put(w, s, (size_t)(hend - s));
    if (colon != NULL) port = colon + 1;
  }
  out->port = 0;
  if (port == NULL) return 0;
  if (port >= end)
    return baton__error(err, BATON_EINVAL, "URI: empty port after host %s", out->host);
  long v = 0;
  for (const char *p = port; p < end; p++) {
    if (!isdigit((unsigned char)*p) || v > 65535)
      return baton__error(err, BATON_EINVAL, "URI: bad port for host %s", out->host);
    v = v * 10 + (*p - '0');
  }
  if (v < 1 || v > 65535)
    return baton__error(err, BATON_EINVAL, "URI: port %ld of host %s is out of range",
                        v, out->host);
  out->port = (int)v;
  return 0;
}

/* Copy and decode s[0..n) into *w. */
static int put_decoded(const char **out, char **w, const char *s, size_t n,
                       const char *what, baton_error *err) {
  char *copy = put(w, s, n);
  *out = copy;
  return decode(copy, copy, n, what, err);
}

static int parse_query(baton_uri *u, char **w, const char *q, baton_error *err) {
  while (*q != '\0') {
    const char *amp = strchr(q, '&');
    size_t len = amp != NULL ? (size_t)(amp - q) : strlen(q);
    if (len > 0) {
      if (u->nparams == BATON_URI_MAX_PARAMS)
        return baton__error(err, BATON_EINVAL, "URI: more than %d parameters",
                            BATON_URI_MAX_PARAMS);
      const char *eq = memchr(q, '=', len);
      size_t klen = eq != NULL ? (size_t)(eq - q) : len;
      if (klen == 0)
        return baton__error(err, BATON_EINVAL, "URI: parameter without a name");
      baton_uri_param *p = &u->params[u->nparams++];
      int rc = put_decoded(&p->key, w, q, klen, "parameter name", err);
      if (rc == 0)
        rc = put_decoded(&p->value, w, eq != NULL ? eq + 1 : q + len,
                         eq != NULL ? len - klen - 1 : 0, "parameter value", err);
      if (rc != 0) return rc;
    }
    if (amp == NULL) break;
    q = amp + 1;
  }
  return 0;
}

static int parse(baton_uri *u, char *w, const char *text, size_t len,
                 baton_error *err) {
  const char *sep = strstr(text, "://");
  /* Quoted, the text could show a password: "redis:/u:pw@h", "pw@h". */
  if (sep == NULL || sep == text)
    return baton__error(err, BATON_EINVAL,
                        "URI has no scheme:// (expected e.g. redis://host:port)");
  for (const char *p = text; p < sep; p++)
    if (!isalpha((unsigned char)*p) &&
        !(p > text && (isdigit((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')))
      return baton__error(err, BATON_EINVAL, "URI: bad scheme");
  char *scheme = put(&w, text, (size_t)(sep - text));
  for (char *p = scheme; *p != '\0'; p++) *p = (char)tolower((unsigned char)*p);
  u->scheme = scheme;

  const char *auth = sep + 3, *end = text + len;
  const char *query = memchr(auth, '?', (size_t)(end - auth));
  const char *path = memchr(auth, '/', (size_t)((query != NULL ? query : end) - auth));
  const char *auth_end = path != NULL ? path : query != NULL ? query : end;
  int rc;

  u->path = "";
  if (path != NULL) {
    rc = put_decoded(&u->path, &w, path, (size_t)((query != NULL ? query : end) - path),
                     "path", err);
    if (rc != 0) return rc;
  }
  if (query != NULL && (rc = parse_query(u, &w, query + 1, err)) != 0) return rc;

  const char *at = NULL;
  for (const char *p = auth; p < auth_end; p++)
    if (*p == '@') at = p;
  if (at != NULL) {
    const char *colon = memchr(auth, ':', (size_t)(at - auth));
    const char *user_end = colon != NULL ? colon : at;
    if (user_end > auth) {
      rc = put_decoded(&u->user, &w, auth, (size_t)(user_end - auth), "user name", err);
      if (rc != 0) return rc;
    }
    if (colon != NULL) {
      rc = put_decoded(&u->password, &w, colon + 1, (size_t)(at - colon - 1), "password",
                       err);
      if (rc != 0) return rc;
    }
    auth = at + 1;
  }
  if (auth == auth_end)
    return baton__error(err, BATON_EINVAL, "URI '%s://...' names no host", u->scheme);
  for (const char *h = auth;;) {
    const char *comma = memchr(h, ',', (size_t)(auth_end - h));
    const char *hend = comma != NULL ? comma : auth_end;
    if (u->nhosts == BATON_URI_MAX_HOSTS)
      return baton__error(err, BATON_EINVAL, "URI: more than %d hosts", BATON_URI_MAX_HOSTS);
    rc = parse_host(&u->hosts[u->nhosts], &w, h, (size_t)(hend - h), err);
    if (rc != 0) return rc;
    u->nhosts++;
    if (comma == NULL) return 0;
    h = comma + 1;
  }
}

int baton__uri_parse(baton_uri *out, const char *text, baton_error *err) {
  if (out == NULL) return baton__error(err, BATON_EINVAL, "URI: out is NULL");
  memset(out, 0, sizeof *out);
  if (text == NULL) return baton__error(err, BATON_EINVAL, "URI is NULL");
  size_t len = strnlen(text, BATON_URI_MAX_LEN + 1);
  if (len == 0) return baton__error(err, BATON_EINVAL, "URI is empty");
  if (len > BATON_URI_MAX_LEN)
    return baton__error(err, BATON_EINVAL, "URI is longer than %d bytes", BATON_URI_MAX_LEN);
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)text[i] <= 0x20 || (unsigned char)text[i] >= 0x7f)
      return baton__error(err, BATON_EINVAL,
                          "URI: byte 0x%02x at offset %zu is not allowed (encode it as %%XX)",
                          (unsigned char)text[i], i);
  /* Every piece is copied once with its NUL, so twice the length is room. */
  out->buf = baton__calloc(1, 2 * len + 16);
  if (out->buf == NULL) return baton__error(err, BATON_ENOMEM, "URI: out of memory");
  int rc = parse(out, out->buf, text, len, err);
  if (rc != 0) baton__uri_free(out);
  return rc;
}

void baton__uri_free(baton_uri *uri) {
  if (uri == NULL) return;
  baton__free(uri->buf);
  memset(uri, 0, sizeof *uri);
}

const char *baton__uri_param(const baton_uri *uri, const char *key) {
  for (size_t i = uri->nparams; i-- > 0;)
    if (strcmp(uri->params[i].key, key) == 0) return uri->params[i].value;
  return NULL;
}

int baton__uri_check_params(const baton_uri *uri, const char *const *allowed,
                            baton_error *err) {
  for (size_t i = 0; i < uri->nparams; i++) {
    bool known = false;
    for (const char *const *a = allowed; *a != NULL && !known; a++)
      known = strcmp(*a, uri->params[i].key) == 0;
    if (!known)
      return baton__error(err, BATON_EINVAL, "URI: unknown parameter '%.64s' for %s://",
                          uri->params[i].key, uri->scheme);
  }
  return 0;
}

int baton__uri_param_ms(const baton_uri *uri, const char *key, int64_t min,
                        int64_t max, int64_t *out, baton_error *err) {
  const char *v = baton__uri_param(uri, key);
  if (v == NULL) return 0;
  char *end = NULL;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (errno != 0 || end == v || *end != '\0' || n < min || n > max)
    return baton__error(err, BATON_EINVAL,
                        "URI: %s=%.32s is not a whole number of ms in [%lld, %lld]", key,
                        v, (long long)min, (long long)max);
  *out = n;
  return 0;
}
