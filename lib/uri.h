/* uri.h — parsing of backend URIs: scheme://[user[:password]@]host[:port]
 * [,host[:port]...][/path][?key=value&...]. Internal. */
#ifndef BATON_URI_H
#define BATON_URI_H

#include "baton.h"

#include <stddef.h>

#define BATON_URI_MAX_HOSTS 16
#define BATON_URI_MAX_PARAMS 16

typedef struct baton_uri_host {
  const char *host; /* name or address; IPv6 without its brackets */
  int port;         /* 1..65535, or 0 when the URI gave none */
} baton_uri_host;

typedef struct baton_uri_param {
  const char *key;   /* percent-decoded */
  const char *value; /* percent-decoded, "" when the URI gave `key` alone */
} baton_uri_param;

/* Every string points into `buf`, which the URI owns. */
typedef struct baton_uri {
  char *buf;                                   /* owned storage */
  const char *scheme;                          /* lower case, e.g. "redis" */
  const char *user;                            /* NULL when absent */
  const char *password;                        /* NULL when absent */
  baton_uri_host hosts[BATON_URI_MAX_HOSTS];   /* at least one */
  size_t nhosts;                               /* 1..BATON_URI_MAX_HOSTS */
  const char *path;                            /* "" or "/..." decoded */
  baton_uri_param params[BATON_URI_MAX_PARAMS]; /* in URI order */
  size_t nparams;                              /* 0..BATON_URI_MAX_PARAMS */
} baton_uri;

/* Parse `text`. Returns 0 or BATON_EINVAL with a message that names the
 * offending part (never the password). `*out` needs baton__uri_free(). */
int baton__uri_parse(baton_uri *out, const char *text, baton_error *err);
void baton__uri_free(baton_uri *uri);

/* The value of parameter `key`, or NULL when absent. */
const char *baton__uri_param(const baton_uri *uri, const char *key);

/* BATON_EINVAL naming the first parameter not in `allowed` (NULL-ended). */
int baton__uri_check_params(const baton_uri *uri, const char *const *allowed,
                            baton_error *err);

/* Parse a parameter as a whole number of milliseconds in [min, max];
 * `*out` keeps its value when the parameter is absent. */
int baton__uri_param_ms(const baton_uri *uri, const char *key, int64_t min,
                        int64_t max, int64_t *out, baton_error *err);

#endif /* BATON_URI_H */
