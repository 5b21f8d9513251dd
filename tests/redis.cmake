# The redis:// backend's own tests, at the backend-table level, against
# real redis-server processes started by tests/servers.
foreach(_t backend fault io)
  baton_test(redis_${_t} SOURCES redis/${_t}_test.c redis/helpers.c LABELS redis TIMEOUT 180)
  target_include_directories(redis_${_t} PRIVATE ${PROJECT_SOURCE_DIR}/backends/redis)
  target_link_libraries(redis_${_t} PRIVATE baton_test_session)
endforeach()
# io_test defines send(), recv() and poll() to note the backend's calls,
# and finds the C library's with dlsym().
target_link_libraries(redis_io PRIVATE ${CMAKE_DL_LIBS})
