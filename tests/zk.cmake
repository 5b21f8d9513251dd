# The zk:// backend's tests: real ZooKeeper servers from tests/servers, a
# kazoo contender for interop (Debian's python3-kazoo, /usr/bin/python3).
set(_zk_kazoo ${CMAKE_CURRENT_SOURCE_DIR}/zk/kazoo_contender.py)
baton_test(zk_backend SOURCES zk/backend_test.c zk/util.c LABELS zk TIMEOUT 180)
target_compile_definitions(zk_backend PRIVATE TZ_KAZOO_SCRIPT="${_zk_kazoo}")
