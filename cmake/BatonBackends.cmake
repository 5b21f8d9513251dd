# BatonBackends.cmake — baton_backend(), the form of one line of the backend
# list in the top-level CMakeLists.txt, and baton_backend_list(), which
# writes the C view of that list.
#
# baton_backend(NAME SCHEMES scheme... USES "what it is built on") makes the
# option BATON_WITH_<NAME> (on by default) and adds NAME to
# BATON_ALL_BACKENDS; when the option is on, it includes
# backends/NAME/backend.cmake (which appends to BATON_SOURCES, BATON_DEPS
# and the package lists) and adds NAME to BATON_BACKENDS, the backends
# built, which the tests loop over. A macro, not a function, so that
# backend.cmake appends to the caller's lists.
macro(baton_backend _bb_name)
  cmake_parse_arguments(_bb "" "USES" "SCHEMES" ${ARGN})
  string(TOUPPER ${_bb_name} _bb_upper)
  list(TRANSFORM _bb_SCHEMES APPEND "://" OUTPUT_VARIABLE _bb_urls)
  string(REPLACE ";" " and " _bb_urls "${_bb_urls}")
  option(BATON_WITH_${_bb_upper} "Build the ${_bb_urls} backend (${_bb_USES})" ON)
  list(APPEND BATON_ALL_BACKENDS ${_bb_name})
  set(BATON_SCHEMES_${_bb_name} ${_bb_SCHEMES})
  if(BATON_WITH_${_bb_upper})
    include(${PROJECT_SOURCE_DIR}/backends/${_bb_name}/backend.cmake)
    list(APPEND BATON_BACKENDS ${_bb_name})
  endif()
endmacro()

# baton_use_headers(TARGET IMPORTED...): compile TARGET with the include
# directories and flags of pkg-config's IMPORTED targets, without linking
# them: for a library that lib/dlib.h loads at first use.
function(baton_use_headers target)
  foreach(_d ${ARGN})
    target_include_directories(${target} SYSTEM PRIVATE
      $<TARGET_PROPERTY:${_d},INTERFACE_INCLUDE_DIRECTORIES>)
    target_compile_options(${target} PRIVATE $<TARGET_PROPERTY:${_d},INTERFACE_COMPILE_OPTIONS>)
  endforeach()
endfunction()

# baton_backend_list(FILE): write FILE, the list as the registry and the
# backends' tables read it (from cmake/backend_list.h.in).
function(baton_backend_list file)
  set(scheme_defines "")
  set(known "")
  set(built "")
  set(urls "")
  foreach(_b ${BATON_ALL_BACKENDS})
    set(quoted "")
    foreach(_s ${BATON_SCHEMES_${_b}})
      list(APPEND quoted "\"${_s}\"")
      list(APPEND urls "${_s}://")
    endforeach()
    string(REPLACE ";" ", " quoted "${quoted}")
    string(APPEND scheme_defines "#define BATON_SCHEMES_${_b} ${quoted}\n")
    string(APPEND known " X(${_b})")
  endforeach()
  foreach(_b ${BATON_BACKENDS})
    string(APPEND built " X(${_b})")
  endforeach()
  # "a://, b:// or c://", for the message about an unknown scheme.
  list(POP_BACK urls last)
  string(REPLACE ";" ", " expected "${urls}")
  if(expected)
    set(expected "${expected} or ${last}")
  else()
    set(expected "${last}")
  endif()
  configure_file(${PROJECT_SOURCE_DIR}/cmake/backend_list.h.in ${file} @ONLY)
endfunction()
