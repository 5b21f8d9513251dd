# The redis-sentinel:// backend's own tests, against a master, 2 replicas
# and 3 Sentinels started by tests/servers (kind sentinel). The
# conformance suite runs on it from tests/CMakeLists.txt's loop.

# Its part of the kit: the master the Sentinels name, on the redis kit's
# raw connections (so the redis:// tests' kit is built too).
add_library(baton_test_kit_sentinel STATIC sentinel/sentinel_kit.c)
target_include_directories(baton_test_kit_sentinel PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/sentinel
  ${CMAKE_CURRENT_SOURCE_DIR}/redis ${PROJECT_SOURCE_DIR}/backends/redis)
target_link_libraries(baton_test_kit_sentinel PUBLIC baton_test_kit_redis)

baton_test(sentinel_faults SOURCES sentinel/fault_test.c LABELS sentinel fault TIMEOUT 300)
target_link_libraries(sentinel_faults PRIVATE baton_test_kit_sentinel)
