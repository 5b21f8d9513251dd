# The postgres:// backend's own tests, against real PostgreSQL servers
# started by tests/servers (servers/postgres.c).
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)

# Its part of the kit: raw SQL access, and the server as the seam suite
# sees it.
add_library(baton_test_kit_postgres STATIC postgres/postgres_kit.c)
target_include_directories(baton_test_kit_postgres PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/postgres
  ${PROJECT_SOURCE_DIR}/backends/postgres)
target_link_libraries(baton_test_kit_postgres PUBLIC baton_test_session PkgConfig::LIBPQ)

baton_test(postgres_backend SOURCES postgres/backend_test.c LABELS postgres TIMEOUT 180)
target_link_libraries(postgres_backend PRIVATE baton_test_kit_postgres baton_test_proxy)
target_compile_definitions(postgres_backend PRIVATE BATON_SOURCE_DIR="${PROJECT_SOURCE_DIR}")

# Subscriptions (watch, unwatch) driven on the table: the herd, pass-on, a
# terminated listener.
baton_test(postgres_watch SOURCES postgres/watch_test.c LABELS postgres TIMEOUT 120)
target_link_libraries(postgres_watch PRIVATE baton_test_kit_postgres)
