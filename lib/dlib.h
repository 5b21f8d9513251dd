/* dlib.h — optional client libraries (libcurl, libpq, libmicrohttpd)
 * loaded with dlopen at first use, so that a process that never opens an
 * etcd or PostgreSQL session, nor serves metrics, never maps them and
 * their dependencies (OpenSSL, GnuTLS, Kerberos, LDAP...): a Redis-only
 * `baton leader` starts in a fifth of the time. Internal.
 *
 * One library is one list of the functions it is used through, an X-macro:
 *
 *   #define BATON_CURL_SYMS(X) X(curl_easy_init) X(curl_easy_cleanup)
 *   BATON_DLIB_DECLARE(baton__curl, BATON_CURL_SYMS)    (in a header)
 *   BATON_DLIB_DEFINE(baton__curl, BATON_CURL_SYMS, "libcurl.so.4",
 *                     "etcd:// needs libcurl")           (in one .c file)
 *
 * which makes a table `baton__curl` with one pointer per function, of the
 * function's own type (`__typeof__`), and `baton__curl_lib`, what
 * baton__dlib_load() fills the table from. The callers then call through
 * the table; a private header may map each name onto it
 * (`#define curl_easy_init (baton__curl.curl_easy_init)`) so that call
 * sites read as plain library calls.
 *
 * A library is never closed: its functions may be in use by any thread
 * until the process ends (LeakSanitizer does not count dlopen's memory). */
#ifndef BATON_DLIB_H
#define BATON_DLIB_H

#include "baton.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct baton_dlib {
  const char *soname; /* what dlopen loads: the ABI the headers are of */
  const char *needs;  /* the message's start: "etcd:// needs libcurl" */
  const char *names;  /* the functions' names, each ended by '\0' */
  void *table;        /* one function pointer per name, in that order */
  size_t size;        /* sizeof the table: checked against the names */
  bool tried;         /* baton__dlib_load ran (under dlib.c's lock) */
  int rc;             /* its result: 0 or BATON_ENOTBUILT */
  char why[200];      /* dlerror's message when it failed */
} baton_dlib;

#define BATON_DLIB_FIELD(f) __typeof__(f) *f;
#define BATON_DLIB_NAME(f) #f "\0"

/* The table's type and both objects, for a header. */
#define BATON_DLIB_DECLARE(var, LIST)                                                      \
  struct var##_table {                                                                     \
    LIST(BATON_DLIB_FIELD)                                                                 \
  };                                                                                       \
  extern struct var##_table var;                                                           \
  extern baton_dlib var##_lib;

/* Both objects, in one .c file. */
#define BATON_DLIB_DEFINE(var, LIST, soname, needs)                                        \
  struct var##_table var;                                                                  \
  baton_dlib var##_lib = {soname, needs, LIST(BATON_DLIB_NAME), &var, sizeof var, false, 0, {0}};

/* Load `lib` and fill its table, once per process: 0, or BATON_ENOTBUILT
 * with "<needs> (<soname>): <dlerror>" in err, every time after a failure
 * too. Thread: any; the first call loads, the others wait for it. */
int baton__dlib_load(baton_dlib *lib, baton_error *err);

#endif /* BATON_DLIB_H */
