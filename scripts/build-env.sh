# build-env.sh — sourced by test.sh and faults.sh: installs what is missing,
# then picks the build folder and CMake flags into $build and $flags; with
# --sanitize as the first argument, the ASan+UBSan build (build-asan/), with
# the sanitizer options of tests/CMakeLists.txt exported for programs run
# directly, and $sanitize=1 so the caller drops that argument; with --tsan,
# the ThreadSanitizer build (build-tsan/), $sanitize=1 and $tsan=1.
scripts/deps.sh
build=build
flags=()
sanitize=0
tsan=0
if [ "${1:-}" = "--tsan" ]; then
  sanitize=1
  tsan=1
  build=build-tsan
  flags=(-DBATON_TSAN=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo)
  export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
fi
if [ "${1:-}" = "--sanitize" ]; then
  sanitize=1
  build=build-asan
  flags=(-DBATON_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp
fi
