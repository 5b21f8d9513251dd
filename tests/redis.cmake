# The redis:// backend's own tests, at the backend-table level, against
# real redis-server processes started by tests/servers.

# Its part of the kit: raw server access, and the server as the seam
# suite sees it.
add_library(baton_test_kit_redis STATIC redis/redis_kit.c)
target_include_directories(baton_test_kit_redis PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/redis
  ${PROJECT_SOURCE_DIR}/backends/redis)
target_link_libraries(baton_test_kit_redis PUBLIC baton_test_session)

foreach(_t backend fault io)
  baton_test(redis_${_t} SOURCES redis/${_t}_test.c LABELS redis TIMEOUT 180)
  target_link_libraries(redis_${_t} PRIVATE baton_test_kit_redis)
endforeach()
# io_test defines send(), recv() and poll() to note the backend's calls,
# and finds the C library's with dlsym().
target_link_libraries(redis_io PRIVATE ${CMAKE_DL_LIBS})
