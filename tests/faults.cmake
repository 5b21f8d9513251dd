# The fault-injection suite (issue 6): `baton-faults` starts real servers,
# N `baton run` candidates behind fault-injecting proxies, injects faults
# from a seed and checks the safety model on what happened. A short run of
# every enabled backend is a ctest entry (label fault); a long run is
# scripts/faults.sh --duration D.
if(NOT TARGET baton OR NOT TARGET fenced-store)
  return()
endif()

# The command `baton run` supervises: writes to the fenced store.
add_executable(faults-writer fault/writer.c ${PROJECT_SOURCE_DIR}/demo/fence.c)
target_include_directories(faults-writer PRIVATE ${PROJECT_SOURCE_DIR}/demo)

add_executable(baton-faults fault/faults_main.c fault/faults_run.c fault/faults_check.c)
target_link_libraries(baton-faults PRIVATE baton_test_servers baton_test_proxy)
target_compile_definitions(baton-faults PRIVATE
  BATON_EXE="$<TARGET_FILE:baton>"
  FENCED_STORE_EXE="$<TARGET_FILE:fenced-store>"
  FAULTS_WRITER_EXE="$<TARGET_FILE:faults-writer>")
add_dependencies(baton-faults baton fenced-store faults-writer)

set(_faults_args --short)
foreach(_b redis etcd zk)
  string(TOUPPER ${_b} _B)
  if(BATON_WITH_${_B})
    list(APPEND _faults_args --backend ${_b})
  endif()
endforeach()
add_test(NAME faults.short COMMAND baton-faults ${_faults_args})
set_tests_properties(faults.short PROPERTIES LABELS "fault" TIMEOUT 600)
# Under sanitizers, the candidates' ZooKeeper client may close a handle
# with a request in flight (a server just paused); that library's own
# leaks are suppressed, as for the zk tests (tests/zk/lsan.supp).
if(BATON_SANITIZE)
  set_tests_properties(faults.short PROPERTIES ENVIRONMENT
    "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0;LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/zk/lsan.supp:print_suppressions=1")
endif()
