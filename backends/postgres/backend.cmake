# The postgres:// backend: libpq (Debian's libpq-dev).
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
list(APPEND BATON_SOURCES backends/postgres/postgres.c backends/postgres/conn.c)
list(APPEND BATON_DEPS PkgConfig::LIBPQ)
list(APPEND BATON_PC_REQUIRES libpq)
string(APPEND BATON_FIND_DEPS "pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)\n")
