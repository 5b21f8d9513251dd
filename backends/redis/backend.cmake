# The redis:// backend: hiredis.
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
list(APPEND BATON_SOURCES
  backends/redis/redis.c backends/redis/conn.c backends/redis/script.c backends/redis/sub.c
  backends/redis/nonce.c)
list(APPEND BATON_DEPS PkgConfig::HIREDIS)
list(APPEND BATON_PC_REQUIRES hiredis)
string(APPEND BATON_FIND_DEPS "pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)\n")
