# The redis:// backend: hiredis.
include(${PROJECT_SOURCE_DIR}/backends/redis/hiredis.cmake)
list(APPEND BATON_SOURCES backends/redis/redis.c)
