# The redlock:// backend: N independent Redis masters, built on the
# redis:// backend's files for one server (hiredis).
include(${PROJECT_SOURCE_DIR}/backends/redis/hiredis.cmake)
list(APPEND BATON_SOURCES backends/redlock/redlock.c backends/redlock/fan.c)
