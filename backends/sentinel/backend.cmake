# The redis-sentinel:// backend: one Redis master found and followed
# through Sentinel, built on the redis:// backend's files (hiredis) and
# its table, which it calls (built here even when redis:// is left out).
include(${PROJECT_SOURCE_DIR}/backends/redis/hiredis.cmake)
list(APPEND BATON_SOURCES backends/redis/redis.c backends/sentinel/sentinel.c
  backends/sentinel/discovery.c backends/sentinel/watch.c)
list(REMOVE_DUPLICATES BATON_SOURCES)
