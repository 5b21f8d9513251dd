# The postgres:// backend: libpq (Debian's libpq-dev for the headers). libpq
# is loaded when the first session opens (lazy_pq.h): consumers of baton do
# not link it.
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
list(APPEND BATON_SOURCES backends/postgres/postgres.c backends/postgres/conn.c)
list(APPEND BATON_HEADER_DEPS PkgConfig::LIBPQ)
