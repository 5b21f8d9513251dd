# The baton command's tests: the programs in demo/ run as processes.
# cli.usage needs no server; cli.<backend> starts a real server of that kind.
add_executable(cli cli/cli_test.c)
target_link_libraries(cli PRIVATE baton_cli_kit baton_test_kit baton_test_servers)
target_include_directories(cli PRIVATE ${PROJECT_SOURCE_DIR}/demo)
target_compile_definitions(cli PRIVATE
  BATON_EXE="$<TARGET_FILE:baton>"
  FENCED_STORE_EXE="$<TARGET_FILE:fenced-store>"
  SCHEDULER_EXE="$<TARGET_FILE:scheduler>")
add_dependencies(cli baton fenced-store scheduler)

baton_test(cli ARGS usage LABELS cli unit TIMEOUT 120)
foreach(_b redis etcd zk)
  string(TOUPPER ${_b} _B)
  if(BATON_WITH_${_B})
    baton_test(cli ARGS ${_b} LABELS cli ${_b} TIMEOUT 300)
  endif()
endforeach()

# LeakSanitizer: `baton run --once` may exit while a ZooKeeper server is
# paused (stops_before_expiry), closing a handle with a request in flight;
# the ZooKeeper C client then leaks its own state of it. Suppress that
# library's leaks only, as zk.cmake does (see tests/zk/lsan.supp).
if(BATON_SANITIZE AND TEST cli.zk)
  set_tests_properties(cli.zk PROPERTIES ENVIRONMENT
    "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0;LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/zk/lsan.supp:print_suppressions=1")
endif()
