/* lazy_curl.h — libcurl as the etcd backend uses it: loaded at the first
 * session's open (lib/dlib.h), so that a process that never opens an
 * etcd:// session never maps libcurl and its TLS stack. Included after
 * <curl/curl.h>, in http.c only: the names below become calls through
 * the table, which is filled only once baton__dlib_load succeeded. */
#ifndef BATON_ETCD_LAZY_CURL_H
#define BATON_ETCD_LAZY_CURL_H

/* curl.h maps these onto type-checking or argument-counting macros; the
 * names must reach the table instead. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt

#include "dlib.h"

#define BATON_CURL_SYMS(X)                                                                 \
  X(curl_global_init) X(curl_easy_strerror) X(curl_easy_init) X(curl_easy_cleanup)         \
  X(curl_easy_setopt) X(curl_easy_getinfo) X(curl_slist_append) X(curl_slist_free_all)     \
  X(curl_multi_init) X(curl_multi_cleanup) X(curl_multi_setopt) X(curl_multi_add_handle)   \
  X(curl_multi_remove_handle) X(curl_multi_perform) X(curl_multi_poll)                     \
  X(curl_multi_wakeup) X(curl_multi_info_read)

BATON_DLIB_DECLARE(baton__curl, BATON_CURL_SYMS)

#define curl_global_init (baton__curl.curl_global_init)
#define curl_easy_strerror (baton__curl.curl_easy_strerror)
#define curl_easy_init (baton__curl.curl_easy_init)
#define curl_easy_cleanup (baton__curl.curl_easy_cleanup)
#define curl_easy_setopt (baton__curl.curl_easy_setopt)
#define curl_easy_getinfo (baton__curl.curl_easy_getinfo)
#define curl_slist_append (baton__curl.curl_slist_append)
#define curl_slist_free_all (baton__curl.curl_slist_free_all)
#define curl_multi_init (baton__curl.curl_multi_init)
#define curl_multi_cleanup (baton__curl.curl_multi_cleanup)
#define curl_multi_setopt (baton__curl.curl_multi_setopt)
#define curl_multi_add_handle (baton__curl.curl_multi_add_handle)
#define curl_multi_remove_handle (baton__curl.curl_multi_remove_handle)
#define curl_multi_perform (baton__curl.curl_multi_perform)
#define curl_multi_poll (baton__curl.curl_multi_poll)
#define curl_multi_wakeup (baton__curl.curl_multi_wakeup)
#define curl_multi_info_read (baton__curl.curl_multi_info_read)

#endif /* BATON_ETCD_LAZY_CURL_H */
