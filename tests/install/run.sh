#!/usr/bin/env bash
# run.sh BUILD_DIR [CFLAGS] — install baton from BUILD_DIR into a temporary prefix,
# then build and run a consumer with find_package(baton) (shared and
# static) and with pkg-config. CFLAGS (e.g. the sanitizer flags baton was
# built with) go to every compile and link. Fails on the first error.
set -euo pipefail
build=$1
flags=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/baton-consumer-XXXXXX)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$here" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" >/dev/null
cmake --build "$work/build" >/dev/null
LD_LIBRARY_PATH="$work/prefix/lib" "$work/build/consumer_shared"
"$work/build/consumer_static"
libdir=$(ls -d "$work"/prefix/lib*/pkgconfig | head -1)
export PKG_CONFIG_PATH=$libdir
cc $flags -o "$work/pc_shared" "$here/consumer.c" $(pkg-config --cflags --libs baton)
LD_LIBRARY_PATH="$work/prefix/lib" "$work/pc_shared"
# libbaton.a with its dependencies as shared libraries (Debian ships no
# static libcurl dependencies, so a fully static link is not the test).
cc $flags -o "$work/pc_static" "$here/consumer.c" -DBATON_STATIC $(pkg-config --cflags baton) \
  "$(dirname "$libdir")/libbaton.a" \
  $(pkg-config --libs $(pkg-config --print-requires-private baton)) \
  $(sed -n 's/^Libs.private: //p' "$libdir/baton.pc")
"$work/pc_static"
echo "install: find_package and pkg-config consumers built and ran"
