# What the redis:// and redlock:// backends share: hiredis, and the files
# for one Redis server (connections, scripts, subscribers, nonces). Each
# backend's backend.cmake includes it; listed once however many do.
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
list(APPEND BATON_SOURCES
  backends/redis/conn.c backends/redis/script.c backends/redis/sub.c
  backends/redis/nonce.c backends/redis/instance.c backends/redis/proclaim.c
  backends/redis/lease.c)
list(REMOVE_DUPLICATES BATON_SOURCES)
list(APPEND BATON_DEPS PkgConfig::HIREDIS)
list(REMOVE_DUPLICATES BATON_DEPS)
list(APPEND BATON_PC_REQUIRES hiredis)
list(REMOVE_DUPLICATES BATON_PC_REQUIRES)
if(NOT BATON_FIND_DEPS MATCHES "HIREDIS")
  string(APPEND BATON_FIND_DEPS "pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)\n")
endif()
