/* gateway.c — builds request text and decodes the etcd gRPC gateway's JSON
 * replies; pure functions only, so the fuzzer reaches all of it. */
#include "gateway.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Growable string -------------------------------------------------- */

#define BATON_ETCD_STR_FIRST 256 /* a string's first size: most requests fit */

static bool str_reserve(baton_etcd_str *s, size_t extra) {
  if (s->oom) return false;
  if (s->len + extra + 1 <= s->cap) return true;
  size_t cap = s->cap ? s->cap : BATON_ETCD_STR_FIRST;
  while (cap < s->len + extra + 1) {
    if (cap > SIZE_MAX / 2) {
      s->oom = true;
      return false;
    }
    cap *= 2;
  }
  char *p = baton__realloc(s->p, cap);
  if (p == NULL) {
    s->oom = true;
    return false;
  }
  s->p = p;
  s->cap = cap;
  return true;
}

void baton__etcd_str_add(baton_etcd_str *s, const char *text, size_t n) {
  if (!str_reserve(s, n)) return;
  memcpy(s->p + s->len, text, n);
  s->len += n;
  s->p[s->len] = '\0';
}

void baton__etcd_str_cat(baton_etcd_str *s, const char *text) {
  baton__etcd_str_add(s, text, strlen(text));
}

void baton__etcd_str_printf(baton_etcd_str *s, const char *fmt, ...) {
  char small[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) {
    s->oom = true;
    return;
  }
  if ((size_t)n < sizeof small) {
    baton__etcd_str_add(s, small, (size_t)n);
    return;
  }
  if (!str_reserve(s, (size_t)n)) return;
  va_start(ap, fmt);
  vsnprintf(s->p + s->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  s->len += (size_t)n;
}

void baton__etcd_str_b64(baton_etcd_str *s, const void *bytes, size_t n) {
  size_t need = baton__etcd_b64_encoded_size(n);
  if (!str_reserve(s, need + 2)) return;
  s->p[s->len++] = '"';
  s->len += baton__etcd_b64_encode(s->p + s->len, bytes, n);
  s->p[s->len++] = '"';
  s->p[s->len] = '\0';
}

void baton__etcd_str_json(baton_etcd_str *s, const char *text) {
  baton__etcd_str_cat(s, "\"");
  for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
    if (*p == '"' || *p == '\\') {
      char esc[2] = {'\\', (char)*p};
      baton__etcd_str_add(s, esc, 2);
    } else if (*p < 0x20) {
      baton__etcd_str_printf(s, "\\u%04x", *p);
    } else {
      baton__etcd_str_add(s, (const char *)p, 1);
    }
  }
  baton__etcd_str_cat(s, "\"");
}

void baton__etcd_str_free(baton_etcd_str *s) {
  baton__free(s->p);
  memset(s, 0, sizeof *s);
}

/* ---- base64 ------------------------------------------------------------- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t baton__etcd_b64_encoded_size(size_t n) { return (n + 2) / 3 * 4 + 1; }

size_t baton__etcd_b64_encode(char *out, const void *in, size_t n) {
  const unsigned char *b = in;
  size_t o = 0, i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)b[i] << 16 | (uint32_t)b[i + 1] << 8 | b[i + 2];
    out[o++] = b64_alphabet[v >> 18];
    out[o++] = b64_alphabet[(v >> 12) & 63];
    out[o++] = b64_alphabet[(v >> 6) & 63];
    out[o++] = b64_alphabet[v & 63];
  }
  if (i < n) {
    uint32_t v = (uint32_t)b[i] << 16 | (i + 1 < n ? (uint32_t)b[i + 1] << 8 : 0);
    out[o++] = b64_alphabet[v >> 18];
    out[o++] = b64_alphabet[(v >> 12) & 63];
    out[o++] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  out[o] = '\0';
  return o;
}

static int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

int baton__etcd_b64_decode(char *out, size_t *out_len, const char *in, size_t n) {
  /* Padding may only end the text: strip it, then every character left
   * must be in the alphabet. */
  size_t pad = 0;
  while (n > 0 && in[n - 1] == '=' && pad < 2) {
    n--;
    pad++;
  }
  if (n % 4 == 1) return -1;
  if (pad > 0 && (n + pad) % 4 != 0) return -1;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64_value(in[i]);
    if (v < 0) return -1;
    acc = (acc << 6 | (uint32_t)v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (char)((acc >> bits) & 0xff);
    }
  }
  out[o] = '\0';
  *out_len = o;
  return 0;
}

/* ---- Key ranges ----------------------------------------------------------- */

size_t baton__etcd_prefix_end(char *out, const char *prefix, size_t n) {
  memcpy(out, prefix, n);
  for (size_t i = n; i-- > 0;) {
    if ((unsigned char)out[i] < 0xff) {
      out[i] = (char)((unsigned char)out[i] + 1);
      return i + 1;
    }
  }
  return 0;
}

/* ---- Requests -------------------------------------------------------------- */

void baton__etcd_req_key(baton_etcd_str *s, const char *key, size_t n, bool prefix) {
  baton__etcd_str_cat(s, "\"key\":");
  baton__etcd_str_b64(s, key, n);
  if (!prefix || n == 0) return;
  char *end = baton__calloc(1, n);
  if (end == NULL) {
    s->oom = true;
    return;
  }
  size_t m = baton__etcd_prefix_end(end, key, n);
  baton__etcd_str_cat(s, ",\"range_end\":");
  /* No byte can be raised: "\0" means "to the end of the key space". */
  baton__etcd_str_b64(s, m > 0 ? end : "", m > 0 ? m : 1);
  baton__free(end);
}

void baton__etcd_req_range(baton_etcd_str *s, const baton_etcd_range_req *r) {
  baton__etcd_str_cat(s, "{");
  baton__etcd_req_key(s, r->key, r->key_len, r->prefix);
  if (r->sort != 0)
    baton__etcd_str_printf(s, ",\"sort_order\":\"%s\",\"sort_target\":\"CREATE\"",
                           r->sort > 0 ? "ASCEND" : "DESCEND");
  if (r->max_create_revision > 0)
    baton__etcd_str_printf(s, ",\"max_create_revision\":\"%lld\"",
                           (long long)r->max_create_revision);
  if (r->limit > 0) baton__etcd_str_printf(s, ",\"limit\":\"%lld\"", (long long)r->limit);
  if (r->revision > 0)
    baton__etcd_str_printf(s, ",\"revision\":\"%lld\"", (long long)r->revision);
  baton__etcd_str_cat(s, "}");
}

void baton__etcd_req_watch(baton_etcd_str *s, const char *key, size_t key_len, bool prefix,
                           int64_t start_revision, bool deletes_only) {
  baton__etcd_str_cat(s, "{\"create_request\":{");
  baton__etcd_req_key(s, key, key_len, prefix);
  if (start_revision > 0)
    baton__etcd_str_printf(s, ",\"start_revision\":\"%lld\"", (long long)start_revision);
  if (deletes_only) baton__etcd_str_cat(s, ",\"filters\":[\"NOPUT\"]");
  baton__etcd_str_cat(s, "}}");
}

/* ---- Field access --------------------------------------------------------
 * Every accessor treats an absent field as the zero value (the gateway
 * omits zeros) and anything of the wrong type as BATON_EPROTO. */

static int proto_error(baton_error *err, const char *field, const char *what) {
  return baton__error(err, BATON_EPROTO, "malformed reply: field \"%s\" %s", field, what);
}

static int get_i64(const cJSON *o, const char *name, int64_t *out, baton_error *err) {
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);
  *out = 0;
  if (f == NULL) return 0;
  if (!cJSON_IsString(f)) return proto_error(err, name, "is not a 64-bit integer string");
  const char *s = f->valuestring, *digits = s[0] == '-' ? s + 1 : s;
  if (*digits == '\0' || strlen(digits) > 19)
    return proto_error(err, name, "is not a 64-bit integer string");
  for (const char *p = digits; *p != '\0'; p++)
    if (!isdigit((unsigned char)*p))
      return proto_error(err, name, "is not a 64-bit integer string");
  errno = 0;
  long long v = strtoll(s, NULL, 10);
  if (errno != 0) return proto_error(err, name, "is out of the 64-bit range");
  *out = v;
  return 0;
}

static int get_bool(const cJSON *o, const char *name, bool *out, baton_error *err) {
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);
  *out = false;
  if (f == NULL) return 0;
  if (!cJSON_IsBool(f)) return proto_error(err, name, "is not a boolean");
  *out = cJSON_IsTrue(f);
  return 0;
}

/* An absent object reads as NULL (empty); *out is set either way. */
static int get_object(const cJSON *o, const char *name, const cJSON **out, baton_error *err) {
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);
  *out = NULL;
  if (f == NULL) return 0;
  if (!cJSON_IsObject(f)) return proto_error(err, name, "is not an object");
  *out = f;
  return 0;
}

static int get_array(const cJSON *o, const char *name, const cJSON **out, baton_error *err) {
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);
  *out = NULL;
  if (f == NULL) return 0;
  if (!cJSON_IsArray(f)) return proto_error(err, name, "is not an array");
  *out = f;
  return 0;
}

/* A base64 field, decoded into a new NUL-terminated buffer ("" if absent). */
static int get_bytes(const cJSON *o, const char *name, char **out, size_t *len,
                     baton_error *err) {
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);
  const char *text = "";
  if (f != NULL) {
    if (!cJSON_IsString(f)) return proto_error(err, name, "is not a base64 string");
    text = f->valuestring;
  }
  size_t n = strlen(text);
  char *buf = baton__calloc(1, n / 4 * 3 + 4);
  if (buf == NULL) return baton__error(err, BATON_ENOMEM, "out of memory decoding \"%s\"", name);
  if (baton__etcd_b64_decode(buf, len, text, n) != 0) {
    baton__free(buf);
    return proto_error(err, name, "is not valid base64");
  }
  *out = buf;
  return 0;
}

static int header_revision(const cJSON *p, int64_t *rev, baton_error *err) {
  const cJSON *h;
  int rc = get_object(p, "header", &h, err);
  if (rc == 0 && h != NULL) rc = get_i64(h, "revision", rev, err);
  else *rev = 0;
  return rc;
}

/* Copy printable ASCII of `s` into out, so server text is safe to show. */
static void sanitize(char *out, size_t size, const char *s) {
  size_t o = 0;
  for (; s != NULL && *s != '\0' && o + 1 < size; s++)
    out[o++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
  out[o] = '\0';
}

/* ---- Errors ----------------------------------------------------------------- */

int baton__etcd_gw_code(int grpc, const char *message) {
  const char *m = message != NULL ? message : "";
  switch (grpc) {
    case 1: /* CANCELED: the member dropped the call */
    case BATON_ETCD_GRPC_UNAVAILABLE:
      return BATON_ECONNECT;
    case 4: /* DEADLINE_EXCEEDED */
      return BATON_ETIMEDOUT;
    case BATON_ETCD_GRPC_INVALID_ARGUMENT:
      if (strstr(m, "authentication failed") != NULL || strstr(m, "user name is empty") != NULL ||
          strstr(m, "password") != NULL)
        return BATON_EAUTH;
      return BATON_EREFUSED;
    case BATON_ETCD_GRPC_NOT_FOUND:
      return strstr(m, "lease not found") != NULL ? BATON_ESESSION : BATON_EREFUSED;
    case 7: /* PERMISSION_DENIED */
    case BATON_ETCD_GRPC_UNAUTHENTICATED:
      return BATON_EAUTH;
    case 0:
      return BATON_EPROTO;
    default:
      return BATON_EREFUSED;
  }
}

/* {"error":"..","code":N,"message":".."} (unary) or
 * {"error":{"grpc_code":N,"http_code":N,"message":".."}} (stream). */
static int error_reply(const cJSON *root, const cJSON *e, long status, int *grpc,
                       baton_error *err) {
  const cJSON *code, *msg;
  if (cJSON_IsObject(e)) {
    code = cJSON_GetObjectItemCaseSensitive(e, "grpc_code");
    msg = cJSON_GetObjectItemCaseSensitive(e, "message");
  } else {
    code = cJSON_GetObjectItemCaseSensitive(root, "code");
    msg = cJSON_GetObjectItemCaseSensitive(root, "message");
    if (!cJSON_IsString(msg)) msg = e;
  }
  if (code != NULL && !cJSON_IsNumber(code))
    return proto_error(err, "code", "of an error reply is not a number");
  if (msg != NULL && !cJSON_IsString(msg))
    return proto_error(err, "message", "of an error reply is not a string");
  double d = code != NULL ? code->valuedouble : 0;
  int g = (d >= 0 && d <= 64 && d == (int)d) ? (int)d : 0;
  char text[180];
  sanitize(text, sizeof text, msg != NULL ? msg->valuestring : "(no message)");
  *grpc = g;
  if (g == 0 && (status == 401 || status == 403))
    return baton__error(err, BATON_EAUTH, "server said: %s (HTTP %ld)", text, status);
  return baton__error(err, baton__etcd_gw_code(g, text), "server said: %s (gRPC code %d)", text,
                      g);
}

/* A reply that is not JSON: name the status and show the start of it. */
static int not_json(const char *body, size_t len, long status, baton_error *err) {
  char start[48];
  size_t n = len < sizeof start - 1 ? len : sizeof start - 1;
  char raw[48];
  memcpy(raw, body, n);
  raw[n] = '\0';
  sanitize(start, sizeof start, raw);
  int code = status == 401 || status == 403 ? BATON_EAUTH
             : status >= 500 && status <= 599 ? BATON_ECONNECT
                                             : BATON_EPROTO;
  if (len == 0)
    return baton__error(err, code, "empty reply (HTTP %ld)", status);
  return baton__error(err, code, "reply is not a JSON object (HTTP %ld): \"%s%s\"", status, start,
                      len > n ? "..." : "");
}

int baton__etcd_gw_parse(cJSON **root, const cJSON **payload, const char *body, size_t len,
                         long status, int *grpc, baton_error *err) {
  *root = NULL;
  *payload = NULL;
  *grpc = 0;
  if (len > BATON_ETCD_MAX_REPLY)
    return baton__error(err, BATON_EPROTO, "reply larger than %zu bytes", BATON_ETCD_MAX_REPLY);
  const char *end = NULL;
  cJSON *doc = cJSON_ParseWithLengthOpts(body, len, &end, false);
  if (doc == NULL || !cJSON_IsObject(doc)) {
    cJSON_Delete(doc);
    return not_json(body, len, status, err);
  }
  for (const char *p = end; p != NULL && p < body + len; p++)
    if (!isspace((unsigned char)*p)) {
      cJSON_Delete(doc);
      return baton__error(err, BATON_EPROTO, "malformed reply: junk after the JSON object");
    }
  int rc = 0;
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "error");
  const cJSON *result = cJSON_GetObjectItemCaseSensitive(doc, "result");
  if (e != NULL) {
    rc = error_reply(doc, e, status, grpc, err);
    if (rc == 0) rc = baton__error(err, BATON_EPROTO, "malformed error reply");
  } else if (status != 200) {
    rc = baton__error(err, status == 401 || status == 403 ? BATON_EAUTH : BATON_EPROTO,
                      "unexpected HTTP status %ld without an error object", status);
  } else if (result != NULL && !cJSON_IsObject(result)) {
    rc = proto_error(err, "result", "is not an object");
  }
  if (rc != 0) {
    cJSON_Delete(doc);
    return rc;
  }
  *root = doc;
  *payload = result != NULL ? result : doc;
  return 0;
}

/* ---- Decoders ------------------------------------------------------------- */

void baton__etcd_kv_free(baton_etcd_kv *kv) {
  if (kv == NULL) return;
  baton__free(kv->key);
  baton__free(kv->value);
  memset(kv, 0, sizeof *kv);
}

static int decode_kv(const cJSON *o, baton_etcd_kv *kv, baton_error *err) {
  memset(kv, 0, sizeof *kv);
  if (!cJSON_IsObject(o)) return proto_error(err, "kv", "is not an object");
  int rc = get_bytes(o, "key", &kv->key, &kv->key_len, err);
  if (rc == 0) rc = get_bytes(o, "value", &kv->value, &kv->value_len, err);
  if (rc == 0) rc = get_i64(o, "create_revision", &kv->create_revision, err);
  if (rc == 0) rc = get_i64(o, "mod_revision", &kv->mod_revision, err);
  if (rc == 0) rc = get_i64(o, "version", &kv->version, err);
  if (rc == 0) rc = get_i64(o, "lease", &kv->lease, err);
  if (rc == 0 && kv->key_len == 0) rc = proto_error(err, "key", "is empty");
  if (rc != 0) baton__etcd_kv_free(kv);
  return rc;
}

int baton__etcd_gw_grant(const cJSON *p, int64_t *id, int64_t *ttl, baton_error *err) {
  int rc = get_i64(p, "ID", id, err);
  if (rc == 0) rc = get_i64(p, "TTL", ttl, err);
  if (rc != 0) return rc;
  if (*id <= 0) return proto_error(err, "ID", "is missing from the lease grant");
  if (*ttl <= 0) return proto_error(err, "TTL", "is missing from the lease grant");
  return 0;
}

int baton__etcd_gw_keepalive(const cJSON *p, int64_t *id, int64_t *ttl, baton_error *err) {
  int rc = get_i64(p, "ID", id, err);
  if (rc == 0) rc = get_i64(p, "TTL", ttl, err);
  if (rc == 0 && *ttl < 0) rc = proto_error(err, "TTL", "is negative");
  return rc;
}

int baton__etcd_gw_timetolive(const cJSON *p, int64_t *id, int64_t *ttl, baton_error *err) {
  int rc = get_i64(p, "ID", id, err);
  if (rc == 0) rc = get_i64(p, "TTL", ttl, err);
  return rc;
}

/* The "kvs" of a range reply: an array (absent when empty) of kv objects;
 * decodes the first `max` into kvs[0..*n). */
static int range_kvs(const cJSON *p, baton_etcd_kv *kvs, size_t max, size_t *n,
                     baton_error *err) {
  const cJSON *arr;
  *n = 0;
  int rc = get_array(p, "kvs", &arr, err);
  for (const cJSON *o = arr != NULL ? arr->child : NULL; rc == 0 && o != NULL && *n < max;
       o = o->next) {
    rc = decode_kv(o, &kvs[*n], err);
    if (rc == 0) (*n)++;
  }
  if (rc != 0)
    while (*n > 0) baton__etcd_kv_free(&kvs[--*n]);
  return rc;
}

static int range_first(const cJSON *p, baton_etcd_kv *first, bool *found, baton_error *err) {
  size_t n = 0;
  int rc = range_kvs(p, first, 1, &n, err);
  *found = n == 1;
  return rc;
}

int baton__etcd_gw_range(const cJSON *p, int64_t *revision, baton_etcd_kv *kvs, size_t max,
                         size_t *n, baton_error *err) {
  *n = 0;
  int rc = header_revision(p, revision, err);
  if (rc == 0) rc = range_kvs(p, kvs, max, n, err);
  return rc;
}

int baton__etcd_gw_deleterange(const cJSON *p, int64_t *deleted, baton_error *err) {
  return get_i64(p, "deleted", deleted, err);
}

/* responses[i] must be an object holding the member `name` (an object). */
static int txn_response(const cJSON *responses, int i, const char *name, const cJSON **out,
                        baton_error *err) {
  const cJSON *r = cJSON_GetArrayItem(responses, i);
  if (!cJSON_IsObject(r)) return proto_error(err, "responses", "has too few entries");
  int rc = get_object(r, name, out, err);
  if (rc == 0 && *out == NULL) return proto_error(err, name, "is missing from the txn reply");
  return rc;
}

void baton__etcd_txn_reply_free(baton_etcd_txn_reply *r) {
  baton__etcd_kv_free(&r->own);
  baton__etcd_kv_free(&r->lowest);
}

int baton__etcd_gw_txn_acquire(const cJSON *p, baton_etcd_txn_reply *out, baton_error *err) {
  memset(out, 0, sizeof *out);
  const cJSON *responses, *first, *second;
  int rc = header_revision(p, &out->revision, err);
  if (rc == 0) rc = get_bool(p, "succeeded", &out->succeeded, err);
  if (rc == 0) rc = get_array(p, "responses", &responses, err);
  if (rc == 0 && responses == NULL) rc = proto_error(err, "responses", "is missing");
  if (rc == 0 && cJSON_GetArraySize(responses) != 2)
    rc = proto_error(err, "responses", "does not have 2 entries");
  if (rc == 0)
    rc = txn_response(responses, 0, out->succeeded ? "response_put" : "response_range", &first,
                      err);
  if (rc == 0) rc = txn_response(responses, 1, "response_range", &second, err);
  if (rc == 0 && !out->succeeded) rc = range_first(first, &out->own, &out->own_found, err);
  if (rc == 0) rc = range_first(second, &out->lowest, &out->lowest_found, err);
  if (rc == 0 && out->revision <= 0) rc = proto_error(err, "header.revision", "is missing");
  if (rc != 0) baton__etcd_txn_reply_free(out);
  return rc;
}

int baton__etcd_gw_txn_succeeded(const cJSON *p, bool *succeeded, baton_error *err) {
  int64_t revision = 0;
  int rc = header_revision(p, &revision, err);
  if (rc == 0) rc = get_bool(p, "succeeded", succeeded, err);
  return rc;
}

int baton__etcd_gw_auth(const cJSON *p, char *out, size_t size, baton_error *err) {
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "token");
  if (!cJSON_IsString(t) || t->valuestring[0] == '\0')
    return proto_error(err, "token", "is missing from the authenticate reply");
  size_t n = strlen(t->valuestring);
  if (n >= size) return proto_error(err, "token", "is too long");
  for (size_t i = 0; i < n; i++)
    if (t->valuestring[i] <= 0x20 || t->valuestring[i] >= 0x7f)
      return proto_error(err, "token", "has a byte not allowed in a header");
  memcpy(out, t->valuestring, n + 1);
  return 0;
}

void baton__etcd_watch_msg_free(baton_etcd_watch_msg *m) {
  for (size_t i = 0; i < m->nevents; i++) baton__etcd_kv_free(&m->events[i].kv);
  baton__free(m->events);
  memset(m, 0, sizeof *m);
}

static int decode_event(const cJSON *e, baton_etcd_event *ev, baton_error *err) {
  if (!cJSON_IsObject(e)) return proto_error(err, "events", "holds a non-object");
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type"), *kv;
  ev->is_delete = false;
  if (type != NULL) {
    if (!cJSON_IsString(type) ||
        (strcmp(type->valuestring, "DELETE") != 0 && strcmp(type->valuestring, "PUT") != 0))
      return proto_error(err, "type", "is neither PUT nor DELETE");
    ev->is_delete = strcmp(type->valuestring, "DELETE") == 0;
  }
  int rc = get_object(e, "kv", &kv, err);
  if (rc == 0 && kv == NULL) rc = proto_error(err, "kv", "is missing from an event");
  if (rc == 0) rc = decode_kv(kv, &ev->kv, err);
  return rc;
}

int baton__etcd_gw_watch(const cJSON *p, baton_etcd_watch_msg *out, baton_error *err) {
  memset(out, 0, sizeof *out);
  const cJSON *events = NULL, *reason = cJSON_GetObjectItemCaseSensitive(p, "cancel_reason");
  int rc = header_revision(p, &out->revision, err);
  if (rc == 0) rc = get_bool(p, "created", &out->created, err);
  if (rc == 0) rc = get_bool(p, "canceled", &out->canceled, err);
  if (rc == 0) rc = get_i64(p, "compact_revision", &out->compact_revision, err);
  if (rc == 0 && reason != NULL && !cJSON_IsString(reason))
    rc = proto_error(err, "cancel_reason", "is not a string");
  if (rc == 0 && reason != NULL)
    sanitize(out->cancel_reason, sizeof out->cancel_reason, reason->valuestring);
  if (rc == 0) rc = get_array(p, "events", &events, err);
  int n = rc == 0 && events != NULL ? cJSON_GetArraySize(events) : 0;
  if (n > 0) {
    out->events = baton__calloc((size_t)n, sizeof *out->events);
    if (out->events == NULL) rc = baton__error(err, BATON_ENOMEM, "out of memory for events");
  }
  const cJSON *e = events != NULL ? events->child : NULL;
  for (; rc == 0 && e != NULL && out->nevents < (size_t)n; e = e->next) {
    rc = decode_event(e, &out->events[out->nevents], err);
    if (rc == 0) out->nevents++;
  }
  if (rc != 0) baton__etcd_watch_msg_free(out);
  return rc;
}

/* ---- Streams ----------------------------------------------------------------- */

long baton__etcd_gw_split(const char *buf, size_t len) {
  size_t i = 0;
  while (i < len && isspace((unsigned char)buf[i])) i++;
  if (i == len) return 0;
  if (buf[i] != '{') return -1;
  long depth = 0;
  bool in_string = false, escaped = false;
  for (; i < len; i++) {
    char c = buf[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      depth++;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return (long)(i + 1);
      if (depth < 0) return -1;
    }
  }
  return 0;
}
