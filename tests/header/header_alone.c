/* header_alone.c — the public header compiles alone, pedantic, as C and C++. */
#include <baton.h>

int baton_header_alone(void);
int baton_header_alone(void) { return BATON_OK; }
