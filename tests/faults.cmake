# The fault-injection suite (issue 6): `baton-faults` starts real servers,
# N `baton run` candidates behind fault-injecting proxies, injects faults
# from a seed and checks the safety model on what happened. A short run of
# every enabled backend is a ctest entry (label fault); a long run is
# scripts/faults.sh --duration D.
if(NOT TARGET baton OR NOT TARGET fenced-store OR NOT TARGET baton_fence)
  return()
endif()

# The command `baton run` supervises: writes to the fenced store.
add_executable(faults-writer fault/writer.c)
target_include_directories(faults-writer PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/kit) # clock.h
target_link_libraries(faults-writer PRIVATE baton_fence)

add_executable(baton-faults fault/faults_main.c fault/faults_run.c fault/faults_check.c)
target_link_libraries(baton-faults PRIVATE baton_test_kit baton_test_proxy)
target_compile_definitions(baton-faults PRIVATE
  BATON_EXE="$<TARGET_FILE:baton>"
  FENCED_STORE_EXE="$<TARGET_FILE:fenced-store>"
  FAULTS_WRITER_EXE="$<TARGET_FILE:faults-writer>")
add_dependencies(baton-faults baton fenced-store faults-writer)

# The backends built that the suite has deployments for (all_deployments
# in fault/faults_main.c, with their views of a server in faults_run.c): a
# new backend joins the suite by adding both, and its name here.
set(_faults_known redis etcd zk redlock postgres sentinel)
set(_faults_args --short)
set(_faults_backends "")
foreach(_b ${BATON_BACKENDS})
  if(_b IN_LIST _faults_known)
    list(APPEND _faults_args --backend ${_b})
    list(APPEND _faults_backends ${_b})
  endif()
endforeach()
add_test(NAME faults.short COMMAND baton-faults ${_faults_args})
# Labelled with every backend it runs (zk: the sanitizer's slow unwinder).
set_tests_properties(faults.short PROPERTIES LABELS "fault;${_faults_backends}" TIMEOUT 600)

# The checker on fixed logs: a paused holder excuses an overlap with a term
# elected after the pause began (pause_before_next), not with one elected
# while it still ran (pause_after_next, which must fail).
add_test(NAME faults.check.pause_before_next
         COMMAND baton-faults --check ${CMAKE_CURRENT_SOURCE_DIR}/fault/fixtures/pause_before_next)
add_test(NAME faults.check.pause_after_next
         COMMAND baton-faults --check ${CMAKE_CURRENT_SOURCE_DIR}/fault/fixtures/pause_after_next)
set_tests_properties(faults.check.pause_before_next faults.check.pause_after_next
                     PROPERTIES LABELS "unit;fault" TIMEOUT 30)
set_tests_properties(faults.check.pause_after_next PROPERTIES WILL_FAIL TRUE)
