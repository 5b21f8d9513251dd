# The etcd:// and etcds:// backend: libcurl + cJSON over the gRPC gateway.
# libcurl is loaded when the first session opens (lazy_curl.h): only its
# headers are used here, and consumers of baton do not link it.
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
pkg_check_modules(CJSON REQUIRED IMPORTED_TARGET libcjson)
list(APPEND BATON_SOURCES backends/etcd/etcd.c backends/etcd/gateway.c
  backends/etcd/http.c backends/etcd/lease.c backends/etcd/watch.c
  backends/etcd/hub.c)
list(APPEND BATON_DEPS PkgConfig::CJSON)
list(APPEND BATON_HEADER_DEPS PkgConfig::CURL)
list(APPEND BATON_PC_REQUIRES libcjson)
string(APPEND BATON_FIND_DEPS "pkg_check_modules(CJSON REQUIRED IMPORTED_TARGET libcjson)\n")
