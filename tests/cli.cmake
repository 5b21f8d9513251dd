# The baton command's tests (cli/) and the examples' (demo/): the programs
# run as processes.
# cli.usage needs no server; cli.<backend> starts a real server of that kind.
add_executable(cli cli/cli_test.c)
target_link_libraries(cli PRIVATE baton_cli_kit baton_test_kit baton_test_servers)
target_include_directories(cli PRIVATE ${BATON_GENERATED}) # backend_list.h: built or not
target_compile_definitions(cli PRIVATE
  BATON_EXE="$<TARGET_FILE:baton>"
  FENCED_STORE_EXE="$<TARGET_FILE:fenced-store>"
  SCHEDULER_EXE="$<TARGET_FILE:scheduler>"
  BATON_MAN_PAGE="${PROJECT_SOURCE_DIR}/cli/baton.1"
  BATON_BUILD_DIR="${PROJECT_BINARY_DIR}"
  CMAKE_EXE="${CMAKE_COMMAND}")
add_dependencies(cli baton fenced-store scheduler)

baton_test(cli ARGS usage LABELS cli unit TIMEOUT 120)
foreach(_b ${BATON_BACKENDS})
  baton_test(cli ARGS ${_b} LABELS cli ${_b} TIMEOUT 300)
endforeach()

# The workflow demo in its short form, on every backend built: its checker
# fails the test unless every step was accepted exactly once, through a
# SIGKILL and a SIGSTOP of the leader.
add_test(NAME demo.workflow
  COMMAND ${CMAKE_COMMAND} -E env BATON_DEMO_BUILD=${PROJECT_BINARY_DIR}
          ${PROJECT_SOURCE_DIR}/scripts/workflow.sh --short ${BATON_BACKENDS})
set_tests_properties(demo.workflow PROPERTIES LABELS demo TIMEOUT 600)
