# The zk:// backend's tests: real ZooKeeper servers from tests/servers, a
# kazoo contender for interop (Debian's python3-kazoo, /usr/bin/python3).

# Its part of the kit: a raw handle, the server's counters, and the server
# as the seam suite sees it.
add_library(baton_test_kit_zk STATIC zk/zk_kit.c)
target_include_directories(baton_test_kit_zk PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/zk
  ${PROJECT_SOURCE_DIR}/backends/zk)
target_link_libraries(baton_test_kit_zk PUBLIC baton_test_session)

set(_zk_kazoo ${CMAKE_CURRENT_SOURCE_DIR}/zk/kazoo_contender.py)
baton_test(zk_backend SOURCES zk/backend_test.c LABELS zk TIMEOUT 180)
target_compile_definitions(zk_backend PRIVATE KAZOO_CONTENDER="${_zk_kazoo}")
target_link_libraries(zk_backend PRIVATE baton_test_kit_zk)
baton_test(zk_backend SOURCES zk/backend_test.c LABELS zk TIMEOUT 60
  ARGS close_with_request_in_flight)
# Fixed leases (TTL nodes): the suite's server, plus a server without TTL
# nodes and one without a reaper, each started for its one case.
baton_test(zk_lease SOURCES zk/lease_test.c LABELS zk TIMEOUT 120)
target_link_libraries(zk_lease PRIVATE baton_test_kit_zk)
# Subscriptions (watch, unwatch); a proxy cuts one session's connection.
baton_test(zk_watch SOURCES zk/watch_test.c LABELS zk TIMEOUT 120)
target_link_libraries(zk_watch PRIVATE baton_test_kit_zk baton_test_proxy)
# A partition is the fault proxy's PROXY_STALL, healed by PROXY_DROP, PASS.
baton_test(zk_fault SOURCES zk/fault_test.c LABELS zk fault TIMEOUT 180)
target_link_libraries(zk_fault PRIVATE baton_test_kit_zk baton_test_proxy)

# LeakSanitizer: the one test that closes a session with a request in
# flight on purpose needs a wider suppression (see the file); every other
# test uses tests/lsan.supp, set for all in tests/CMakeLists.txt.
if(BATON_SANITIZE)
  set_tests_properties(zk_backend.close_with_request_in_flight PROPERTIES ENVIRONMENT
    "ASAN_OPTIONS=${BATON_ASAN_OPTIONS_ZK};UBSAN_OPTIONS=${BATON_UBSAN_OPTIONS};LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/zk/lsan-in-flight.supp")
endif()
