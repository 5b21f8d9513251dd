# FindZooKeeperMT — the multi-threaded ZooKeeper C client, which ships no
# pkg-config file. Defines ZooKeeperMT_FOUND and ZooKeeper::zookeeper_mt.
find_path(ZooKeeperMT_INCLUDE_DIR zookeeper.h PATH_SUFFIXES zookeeper)
find_library(ZooKeeperMT_LIBRARY NAMES zookeeper_mt)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(ZooKeeperMT
  REQUIRED_VARS ZooKeeperMT_LIBRARY ZooKeeperMT_INCLUDE_DIR)
if(ZooKeeperMT_FOUND AND NOT TARGET ZooKeeper::zookeeper_mt)
  add_library(ZooKeeper::zookeeper_mt UNKNOWN IMPORTED)
  set_target_properties(ZooKeeper::zookeeper_mt PROPERTIES
    IMPORTED_LOCATION ${ZooKeeperMT_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES ${ZooKeeperMT_INCLUDE_DIR}
    INTERFACE_COMPILE_DEFINITIONS THREADED)
endif()
mark_as_advanced(ZooKeeperMT_INCLUDE_DIR ZooKeeperMT_LIBRARY)
