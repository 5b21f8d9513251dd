# The zk:// backend: libzookeeper_mt (no .pc file; cmake/FindZooKeeperMT).
find_package(ZooKeeperMT REQUIRED)
list(APPEND BATON_SOURCES backends/zk/zk.c backends/zk/conn.c backends/zk/call.c
  backends/zk/names.c backends/zk/log.c backends/zk/sweep.c backends/zk/cloexec.c backends/zk/lease.c)
list(APPEND BATON_DEPS ZooKeeper::zookeeper_mt)
list(APPEND BATON_PC_LIBS -lzookeeper_mt)
string(APPEND BATON_FIND_DEPS "find_dependency(ZooKeeperMT)\n")
