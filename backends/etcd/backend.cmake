# The etcd:// and etcds:// backend: libcurl + cJSON over the gRPC gateway.
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
pkg_check_modules(CJSON REQUIRED IMPORTED_TARGET libcjson)
list(APPEND BATON_SOURCES backends/etcd/etcd.c backends/etcd/gateway.c
  backends/etcd/http.c backends/etcd/lease.c backends/etcd/watch.c)
list(APPEND BATON_DEPS PkgConfig::CURL PkgConfig::CJSON)
list(APPEND BATON_PC_REQUIRES libcurl libcjson)
string(APPEND BATON_FIND_DEPS "pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)\npkg_check_modules(CJSON REQUIRED IMPORTED_TARGET libcjson)\n")
