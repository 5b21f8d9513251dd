# The etcd backend's tests: the pure gateway layer (no server), the backend
# table against a real member and a real 3-member cluster, garbage from a
# fake HTTP server, TLS, and (clang, BATON_FUZZ=ON) a libFuzzer target.

set(_etcd_inc ${PROJECT_SOURCE_DIR}/backends/etcd)

function(etcd_test name source timeout)
  baton_test(${name} SOURCES ${source} etcd/kit.c LABELS etcd ${ARGN} TIMEOUT ${timeout})
  target_include_directories(${name} PRIVATE ${_etcd_inc} ${CMAKE_CURRENT_SOURCE_DIR}/etcd)
  target_link_libraries(${name} PRIVATE Threads::Threads)
endfunction()

etcd_test(etcd_backend etcd/backend_test.c 120)
etcd_test(etcd_cluster etcd/cluster_test.c 120)
etcd_test(etcd_faults etcd/fault_test.c 60)
