/* proxy.h — a fault-injecting TCP proxy on loopback: it forwards a listen
 * port to a server port and, on command, drops, stalls, slows or mutes the
 * traffic, to cut one client off from its servers (or lose its replies)
 * and heal it again. */
#ifndef BATON_TEST_PROXY_H
#define BATON_TEST_PROXY_H

typedef enum proxy_mode {
  PROXY_PASS,  /* forward everything */
  PROXY_DROP,  /* reset every connection and refuse new ones */
  PROXY_STALL, /* keep connections open but forward nothing (a black hole) */
  PROXY_SLOW,  /* forward each chunk after a delay */
  PROXY_MUTE,  /* forward what clients send, hold back what servers answer:
                  requests run, their replies are lost */
} proxy_mode;

typedef struct proxy proxy;

/* Listen on a free 127.0.0.1 port and forward to 127.0.0.1:target_port.
 * Runs on its own thread. Returns 0 or -1. */
int proxy_start(proxy **out, int target_port);

/* The port clients should connect to. */
int proxy_port(const proxy *p);

/* Change the mode; `delay_ms` is used by PROXY_SLOW. Returns once the
 * proxy's thread works in the new mode (in PROXY_DROP: every connection
 * reset), within a bound of 5 s; so PROXY_DROP then PROXY_PASS cuts every
 * earlier connection and forwards new ones. */
void proxy_set_mode(proxy *p, proxy_mode mode, int delay_ms);

/* Bytes forwarded so far in both directions (to see traffic flows). */
long long proxy_bytes(proxy *p);

/* Stop the thread, close every socket, free. NULL is fine. */
void proxy_stop(proxy *p);

#endif
