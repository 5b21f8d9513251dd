/* consumer.c — a program outside baton's tree, built against the installed
 * package (CMake find_package or pkg-config), to prove the install works. */
#include <baton.h>

#include <stdio.h>
#include <string.h>

int main(void) {
  baton_client *c = NULL;
  baton_error err = {0};
  int rc = baton_client_open(&c, "nosuch://127.0.0.1:1", NULL, &err);
  if (rc != BATON_EINVAL || c != NULL || strstr(err.message, "scheme") == NULL) {
    fprintf(stderr, "consumer: unexpected %d (%s)\n", rc, err.message);
    return 1;
  }
  printf("baton %s linked; error path ok: %s\n", baton_version(), err.message);
  return 0;
}
