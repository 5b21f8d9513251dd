# The redlock:// backend's own tests, against N independent redis-server
# processes started by tests/servers (redlock3, redlock5).

# Its part of the kit: the servers as the seam suite sees them, on the
# redis kit's raw connections.
add_library(baton_test_kit_redlock STATIC redlock/redlock_kit.c)
target_include_directories(baton_test_kit_redlock PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/redlock
  ${CMAKE_CURRENT_SOURCE_DIR}/redis ${PROJECT_SOURCE_DIR}/backends/redlock
  ${PROJECT_SOURCE_DIR}/backends/redis)
# It reads the servers through the redis kit's raw connections, which
# needs the redis:// backend built too.
target_link_libraries(baton_test_kit_redlock PUBLIC baton_test_kit_redis)

# The conformance suite (tests/CMakeLists.txt runs it on 3 instances) also
# on 5.
baton_test(conformance SOURCES conformance/suite.c LABELS redlock conformance
           ARGS redlock5 TIMEOUT 400)

baton_test(redlock_faults SOURCES redlock/fault_test.c LABELS redlock fault TIMEOUT 300)
target_link_libraries(redlock_faults PRIVATE baton_test_kit_redlock)
