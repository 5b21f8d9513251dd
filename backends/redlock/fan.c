/* fan.c — one request fanned out to every Redlock instance at once: the
 * writes go out first, then the replies are read, so that the instances
 * work in parallel and the slowest costs at most its own bound. */
#include "redlock.h"

#include <string.h>

/* With o->k->mu held: a connection (made here if needed), then the write. */
static void *connect_and_send(void *arg) {
  baton_redlock_op *o = arg;
  o->rc = baton__redis_conn_ready(o->s, o->k, o->deadline, &o->err);
  if (o->rc == 0)
    o->rc = baton__redis_send(o->k->ctx, o->s, o->cmds, o->ncmds, o->deadline, o->what, &o->err);
  return NULL;
}

void baton__redlock_fan(baton_redlock_op *ops, size_t n) {
  pthread_t threads[BATON_REDLOCK_FAN_MAX];
  bool on_thread[BATON_REDLOCK_FAN_MAX] = {false};
  if (n > BATON_REDLOCK_FAN_MAX) n = BATON_REDLOCK_FAN_MAX;
  for (size_t i = 0; i < n; i++) {
    pthread_mutex_lock(&ops[i].k->mu);
    ops[i].rc = 0;
    ops[i].err.code = 0;
    ops[i].err.message[0] = '\0';
    for (size_t j = 0; j < ops[i].ncmds; j++) ops[i].out[j] = NULL;
  }
  /* A connection to make may take up to its bound (a paused server accepts
   * and never answers the log-in): on a thread, while the others send. */
  for (size_t i = 0; i < n; i++)
    if (ops[i].k->ctx == NULL)
      on_thread[i] = pthread_create(&threads[i], NULL, connect_and_send, &ops[i]) == 0;
  for (size_t i = 0; i < n; i++)
    if (!on_thread[i]) connect_and_send(&ops[i]);
  for (size_t i = 0; i < n; i++)
    if (on_thread[i]) pthread_join(threads[i], NULL);
  /* Every request is out: reading them one after the other costs no more
   * than reading them at once, as every bound is an instant fixed before. */
  for (size_t i = 0; i < n; i++) {
    baton_redlock_op *o = &ops[i];
    for (size_t j = 0; o->rc == 0 && j < o->ncmds; j++)
      o->rc = baton__redis_recv(o->k->ctx, o->s, &o->out[j], o->deadline, o->what, &o->err);
    __atomic_fetch_add(o->rc == 0 ? &o->s->answered : &o->s->failed, 1, __ATOMIC_RELAXED);
    if (o->rc != 0) {
      for (size_t j = 0; j < o->ncmds; j++) {
        if (o->out[j] != NULL) freeReplyObject(o->out[j]);
        o->out[j] = NULL;
      }
      baton__redis_conn_failed(o->s, o->k, &o->err);
    }
    o->k->used = baton__now();
    pthread_mutex_unlock(&o->k->mu);
  }
}
