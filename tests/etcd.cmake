# The etcd backend's tests: the pure gateway layer (no server), the backend
# table against a real member and a real 3-member cluster, garbage from a
# fake HTTP server, TLS, and (clang, BATON_FUZZ=ON) a libFuzzer target.

set(_etcd_inc ${PROJECT_SOURCE_DIR}/backends/etcd)

# Its part of the kit: etcdctl, the gateway's API, a session's counters,
# and the server as the seam suite sees it.
add_library(baton_test_kit_etcd STATIC etcd/etcd_kit.c)
target_include_directories(baton_test_kit_etcd PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/etcd ${_etcd_inc})
# It calls libcurl itself (the backend only loads it at open).
target_link_libraries(baton_test_kit_etcd PUBLIC baton_test_session PkgConfig::CURL)

function(etcd_test name source timeout)
  baton_test(${name} SOURCES ${source} LABELS etcd ${ARGN} TIMEOUT ${timeout})
  target_link_libraries(${name} PRIVATE baton_test_kit_etcd)
endfunction()

baton_test(etcd_gateway SOURCES etcd/gateway_test.c LABELS unit etcd TIMEOUT 30)
target_include_directories(etcd_gateway PRIVATE ${_etcd_inc})

# The conformance suite (tests/CMakeLists.txt runs it on one member) also
# against a 3-member cluster: every member is paused, restarted.
baton_test(conformance SOURCES conformance/suite.c LABELS etcd conformance
           ARGS etcd3 TIMEOUT 400)

etcd_test(etcd_backend etcd/backend_test.c 120)
etcd_test(etcd_cluster etcd/cluster_test.c 120)
etcd_test(etcd_faults etcd/fault_test.c 60)
etcd_test(etcd_tls etcd/tls_test.c 60)
# watch and unwatch (hub.c): one stream per session; a proxy cuts it.
etcd_test(etcd_watch etcd/watch_test.c 180)
target_link_libraries(etcd_watch PRIVATE baton_test_proxy)

# A libFuzzer target over the reply parsing (clang only): a short run is a
# ctest entry labelled fuzz; new inputs go to the build folder, the seeds
# stay in tests/etcd/fuzz_corpus.
option(BATON_FUZZ "Build the etcd gateway fuzzer (needs clang)" OFF)
if(BATON_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "BATON_FUZZ=ON needs clang as the C compiler (CC=clang)")
  endif()
  add_executable(etcd_fuzz_gateway etcd/fuzz_gateway.c ${_etcd_inc}/gateway.c)
  target_include_directories(etcd_fuzz_gateway PRIVATE ${_etcd_inc} ${PROJECT_SOURCE_DIR}/lib)
  target_compile_options(etcd_fuzz_gateway PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(etcd_fuzz_gateway PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(etcd_fuzz_gateway PRIVATE baton_internal)
  set(_work ${CMAKE_CURRENT_BINARY_DIR}/etcd_fuzz_corpus)
  file(MAKE_DIRECTORY ${_work})
  add_test(NAME etcd_fuzz_gateway
    COMMAND etcd_fuzz_gateway -max_total_time=20 -rss_limit_mb=1024 ${_work}
            ${CMAKE_CURRENT_SOURCE_DIR}/etcd/fuzz_corpus)
  set_tests_properties(etcd_fuzz_gateway PROPERTIES LABELS "fuzz;etcd" TIMEOUT 120)
endif()
