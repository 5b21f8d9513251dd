/* faults_check.c — reads what one deployment's run left in its folder
 * (faults.h) and checks the safety model against it:
 *   - successive terms (by the time their holder learned it was elected)
 *     carry strictly increasing tokens;
 *   - no two terms overlap on CLOCK_MONOTONIC, a term being its holder's
 *     belief from "elected" to "lost"/"resigned" (or its baton's death);
 *     when the earlier one is a paused holder's, one whose key a Redis
 *     without persistence lost, or one etcd#15247 revoked, the overlap is
 *     outside the model and counted apart;
 *   - a write carrying a token older than the newest term at the moment
 *     the store handled it is refused; the store's own rule holds; every
 *     write a writer was told was accepted is in the store's log;
 *   - after each fault a leader exists again within ttl + bound;
 *   - nothing is left at the end: no process, no key, znode or lease;
 *   - candidates exit only when told to (and cleanly then). */
#include "faults.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TERMS 100000
#define MAX_FAULTS 10000
#define SHOWN 5 /* examples printed per kind of violation */

typedef struct term {
  int slot, pid;
  uint64_t token;
  int64_t start, end; /* end: INT64_MAX until known */
  char end_reason[24];/* the end line's reason= (or what) */
  const char *excuse; /* why an overlap with it is outside the model, or NULL */
  int64_t excuse_from;/* a later term that starts before this is not excused */
  int64_t gap_end;    /* where it stops counting as "a leader exists" */
} term;

typedef struct fault {
  int id;
  fault_kind kind;
  int holder;         /* slot, -1 if none */
  uint64_t token;     /* the holder's at injection */
  bool excuse;        /* its holder's term is outside the model */
  bool stale_leader;  /* SIGSTOP of an etcd cluster's Raft leader */
  int64_t inject, heal;
} fault;

typedef struct check {
  FILE *out;
  faults_result *res;
  int64_t t0;
  int ttl_ms, bound_ms, members;
  char backend[16], label[32];
  term *terms;
  int nterms;
  fault *faults;
  int nfaults;
  int64_t end_ns;     /* "end": the fault phase is over */
  int shown[16];      /* per violation kind, how many were printed */
} check;

enum { V_TOKENS, V_OVERLAP, V_STORE_RULE, V_STALE, V_LOST_WRITE, V_GAP, V_NOLEADER, V_ORPHAN,
       V_EXIT, V_BROKEN, V_UNKNOWN_TOKEN };

static void violation(check *k, int kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void violation(check *k, int kind, const char *fmt, ...) {
  k->res->violations++;
  if (k->shown[kind]++ >= SHOWN) {
    if (k->shown[kind] == SHOWN + 1) fprintf(k->out, "    FAIL %s: (more of this kind)\n", k->label);
    return;
  }
  fprintf(k->out, "    FAIL %s: ", k->label);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(k->out, fmt, ap);
  va_end(ap);
  fputc('\n', k->out);
}

static double rel(const check *k, int64_t ns) { return (double)(ns - k->t0) / 1e9; }

static long long field_ll(const char *line, const char *key, long long dflt) {
  uint64_t v;
  return faults_field(line, key, &v) ? (long long)v : dflt;
}

static bool field_str(const char *line, const char *key, char *out, size_t size) {
  size_t klen = strlen(key);
  for (const char *p = strstr(line, key); p != NULL; p = strstr(p + 1, key)) {
    if ((p == line || p[-1] == ' ') && p[klen] == '=') {
      const char *v = p + klen + 1;
      size_t n = strcspn(v, " \n");
      snprintf(out, size, "%.*s", (int)n, v);
      return true;
    }
  }
  return false;
}

static FILE *open_in(const char *dir, const char *name) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return fopen(path, "re");
}

static fault *fault_by_id(check *k, int id) {
  for (int i = 0; i < k->nfaults; i++)
    if (k->faults[i].id == id) return &k->faults[i];
  return NULL;
}

/* ---- faults.log, first pass: the configuration and the faults ----------- */

static void read_faults(check *k, FILE *f) {
  char line[2048];
  while (fgets(line, sizeof line, f) != NULL) {
    long long ns;
    char what[32];
    if (sscanf(line, "%lld %31s", &ns, what) != 2) continue;
    if (strcmp(what, "config") == 0) {
      k->t0 = ns;
      k->ttl_ms = (int)field_ll(line, "ttl_ms", 0);
      k->bound_ms = (int)field_ll(line, "bound_ms", 0);
      k->members = (int)field_ll(line, "members", 1);
      field_str(line, "backend", k->backend, sizeof k->backend);
      field_str(line, "deployment", k->label, sizeof k->label);
    } else if (strcmp(what, "inject") == 0 && k->nfaults < MAX_FAULTS) {
      fault *x = &k->faults[k->nfaults++];
      char kind[16] = "";
      field_str(line, "kind", kind, sizeof kind);
      x->kind = F_NKINDS;
      for (int i = 0; i < F_NKINDS; i++)
        if (strcmp(kind, fault_names[i]) == 0) x->kind = (fault_kind)i;
      x->id = (int)field_ll(line, "id", -1);
      x->holder = (int)field_ll(line, "holder", -1);
      uint64_t tok = 0;
      faults_field(line, "token", &tok);
      x->token = tok;
      /* Outside the safety model: a paused holder (only the token saves
       * the resource), and a Sentinel fail-over's data loss (the runner
       * marks the master's faults). A Redis restarted without its data is
       * inside it (restart-safe terms), so a restart excuses nothing. */
      x->excuse = x->kind == F_PAUSE || (strcmp(k->backend, "sentinel") == 0 &&
                                         field_ll(line, "excuse", 0) != 0);
      x->stale_leader = x->kind == F_SPAUSE && k->members > 1 &&
                        strcmp(k->backend, "etcd") == 0 && field_ll(line, "leader", 0) == 1;
      x->inject = x->heal = ns;
      if (x->kind < F_NKINDS) k->res->faults[x->kind]++;
    } else if (strcmp(what, "heal") == 0) {
      fault *x = fault_by_id(k, (int)field_ll(line, "id", -1));
      if (x != NULL) x->heal = ns;
    } else if (strcmp(what, "end") == 0) {
      k->end_ns = ns;
    }
  }
}

/* ---- events.log: the terms ----------------------------------------------- */

static term *find_term(check *k, int pid, uint64_t token) {
  for (int i = k->nterms - 1; i >= 0; i--)
    if (k->terms[i].pid == pid && k->terms[i].token == token) return &k->terms[i];
  return NULL;
}

static void read_events(check *k, FILE *f) {
  char line[2048];
  while (fgets(line, sizeof line, f) != NULL) {
    int slot, pid;
    long long ns;
    char what[32];
    uint64_t token = 0;
    if (sscanf(line, "cand-%d %d %lld %31s", &slot, &pid, &ns, what) != 4 ||
        !faults_field(line, "token", &token))
      continue;
    if (strcmp(what, "elected") == 0 && k->nterms < MAX_TERMS) {
      k->terms[k->nterms++] =
          (term){.slot = slot, .pid = pid, .token = token, .start = ns, .end = INT64_MAX};
    } else if (strcmp(what, "resigned") == 0 || strcmp(what, "lost") == 0) {
      term *t = find_term(k, pid, token);
      if (t != NULL && ns < t->end) {
        t->end = ns;
        if (!field_str(line, "reason", t->end_reason, sizeof t->end_reason))
          snprintf(t->end_reason, sizeof t->end_reason, "%.23s", what);
      }
    }
  }
}

/* ---- faults.log, second pass: exits, recoveries, orphans ----------------- */

static void read_outcomes(check *k, FILE *f) {
  char line[2048];
  int expect_kill[FAULTS_MAX_CAND] = {0}; /* a kill fault's SIGKILL is due */
  rewind(f);
  while (fgets(line, sizeof line, f) != NULL) {
    long long ns;
    char what[32];
    if (sscanf(line, "%lld %31s", &ns, what) != 2) continue;
    line[strcspn(line, "\n")] = '\0';
    if (strcmp(what, "inject") == 0 && strstr(line, "kind=kill ") != NULL) {
      long long h = field_ll(line, "holder", -1);
      if (h >= 0 && h < FAULTS_MAX_CAND) expect_kill[h]++;
    } else if (strcmp(what, "exit") == 0) {
      int slot = (int)field_ll(line, "slot", -1), pid = (int)field_ll(line, "pid", -1);
      /* A baton that died holds nothing from then on. */
      for (int i = 0; i < k->nterms; i++)
        if (k->terms[i].pid == pid && k->terms[i].end > ns) k->terms[i].end = ns;
      bool killed = field_ll(line, "signal", 0) == 9;
      bool clean = field_ll(line, "exit", -1) == 0;
      if (slot >= 0 && slot < FAULTS_MAX_CAND && killed && expect_kill[slot] > 0)
        expect_kill[slot]--;
      else if (k->end_ns == 0 || ns < k->end_ns || !clean)
        violation(k, V_EXIT, "cand-%d (pid %d) ended %s at +%.2fs, %s", slot, pid,
                  strstr(line, "exit=") ? strstr(line, "exit=") : strstr(line, "signal="),
                  rel(k, ns), k->end_ns == 0 || ns < k->end_ns ? "unasked" : "after SIGTERM");
    } else if (strcmp(what, "noleader") == 0) {
      violation(k, V_NOLEADER, "no leader after fault #%lld (runner gave up at +%.2fs)",
                field_ll(line, "id", -1), rel(k, ns));
    } else if (strcmp(what, "orphans") == 0) {
      long long n = field_ll(line, "count", -1);
      if (n != 0)
        violation(k, V_ORPHAN, "left behind at the end: %s", strstr(line, "what="));
    } else if (strcmp(what, "broken") == 0) {
      violation(k, V_BROKEN, "the run could not proceed: %s", strstr(line, "what="));
    }
  }
}

/* ---- the terms' order and overlaps -------------------------------------- */

static int by_start(const void *a, const void *b) {
  const term *x = a, *y = b;
  return x->start < y->start ? -1 : x->start > y->start;
}

static void check_terms(check *k) {
  qsort(k->terms, (size_t)k->nterms, sizeof *k->terms, by_start);
  for (int i = 0; i < k->nterms; i++) {
    term *t = &k->terms[i];
    if (t->end == INT64_MAX) t->end = k->end_ns; /* cannot happen: teardown ends all */
    t->gap_end = t->end;
    for (int j = 0; j < k->nfaults; j++) {
      const fault *x = &k->faults[j];
      /* etcd before the fix of etcd#15247 (PR #16822; 3.4 backport
       * #17465): a Raft leader that was stopped still revokes, when it
       * resumes, the leases that expired in its stale view, and the
       * revoke is committed, although their holders kept them alive
       * through the new leader. The server ends the term early; the
       * holder hears it at its next keepalive. The revoke can land until
       * the resumed leader hears of the new Raft term (a heartbeat, well
       * within etcd's 1 s election timeout), so it also ends terms that
       * the new leader granted just after the SIGCONT. The holder learns
       * it at its next keepalive (session-expired) or, when its renewals
       * fail meanwhile (another fault: a restart of the member it talks
       * to), by stepping down before its deadline: either way within a
       * TTL and a second of the SIGCONT. */
      const int64_t stale_reign_ns = 1000000000;
      if (x->stale_leader && t->start < x->heal + stale_reign_ns && t->end >= x->heal &&
          t->end <= x->heal + (int64_t)k->ttl_ms * 1000000 + 1000000000) {
        t->excuse = "the etcd leader resumed from SIGSTOP revoked the lease (etcd#15247)";
        t->excuse_from = INT64_MIN;
        continue;
      }
      /* Sentinel: a term begun while the master's fault was under way (a
       * TTL after it healed at most) may have been won on the old master,
       * which serves its clients until Sentinel demotes it, seconds after
       * it is back; the fail-over's data loss, as the holder's term is. */
      if (x->excuse && x->kind != F_PAUSE && strcmp(k->backend, "sentinel") == 0 &&
          t->start >= x->inject && t->start <= x->heal + (int64_t)k->ttl_ms * 1000000) {
        t->excuse = "begun during a Sentinel fail-over (a stale master may have served it)";
        t->excuse_from = INT64_MIN;
        continue;
      }
      if (!x->excuse || x->holder != t->slot || x->token != t->token) continue;
      /* Only a term that began after the (first) fault: one before it
       * overlapped a holder that was running. */
      if (t->excuse == NULL || x->inject < t->excuse_from) t->excuse_from = x->inject;
      t->excuse = x->kind == F_PAUSE
                      ? "its holder was paused (SIGSTOP) past its deadline"
                      : "a Sentinel fail-over may lose the key (asynchronous replication)";
      /* A stopped holder does no leader's work: no leader while paused. */
      if (x->kind == F_PAUSE && x->inject < t->gap_end) t->gap_end = x->inject;
    }
  }
  k->res->terms = k->nterms;
  for (int i = 1; i < k->nterms; i++) {
    const term *a = &k->terms[i - 1], *b = &k->terms[i];
    if (b->token <= a->token)
      violation(k, V_TOKENS,
                "tokens do not increase: cand-%d's term %" PRIu64 " (elected +%.3fs) follows "
                "cand-%d's term %" PRIu64 " (elected +%.3fs)",
                b->slot, b->token, rel(k, b->start), a->slot, a->token, rel(k, a->start));
  }
  /* Terms are in order of start, so a is the earlier one. Every excuse
   * says why its holder believed too long, never why a later term began
   * early: only the earlier term's excuse can explain an overlap. Two
   * terms of one process overlapping would be a bug of baton's too. */
  for (int i = 0; i < k->nterms; i++)
    for (int j = i + 1; j < k->nterms && k->terms[j].start < k->terms[i].end; j++) {
      const term *a = &k->terms[i], *b = &k->terms[j];
      if (a->excuse != NULL && b->start >= a->excuse_from) {
        k->res->overlaps_excused++;
        fprintf(k->out, "    note %s: overlap of %.3f ms counted apart: cand-%d token %" PRIu64
                " and cand-%d token %" PRIu64 ": %s\n", k->label,
                (double)((a->end < b->end ? a->end : b->end) - b->start) / 1e6, a->slot,
                a->token, b->slot, b->token, a->excuse);
        continue;
      }
      k->res->overlaps++;
      violation(k, V_OVERLAP,
                "terms overlap for %.3f ms: cand-%d token %" PRIu64 " [+%.3fs, +%.3fs] and "
                "cand-%d token %" PRIu64 " [+%.3fs, +%.3fs]",
                (double)((a->end < b->end ? a->end : b->end) - b->start) / 1e6, a->slot,
                a->token, rel(k, a->start), rel(k, a->end), b->slot, b->token,
                rel(k, b->start), rel(k, b->end));
    }
}

/* ---- the store ------------------------------------------------------------ */

typedef struct wkey {
  char key[96]; /* "writer data token" */
  bool accepted;
  bool used;
} wkey;

typedef struct wtable {
  wkey *slot;
  size_t cap;
} wtable;

static size_t hash(const char *s) {
  size_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static void wt_put(wtable *t, const char *key, bool accepted) {
  for (size_t i = hash(key) % t->cap, n = 0; n < t->cap; i = (i + 1) % t->cap, n++) {
    if (!t->slot[i].used) {
      t->slot[i].used = true;
      snprintf(t->slot[i].key, sizeof t->slot[i].key, "%s", key);
      t->slot[i].accepted = accepted;
      return;
    }
  }
}

static const wkey *wt_get(const wtable *t, const char *key) {
  for (size_t i = hash(key) % t->cap, n = 0; n < t->cap; i = (i + 1) % t->cap, n++) {
    if (!t->slot[i].used) return NULL;
    if (strcmp(t->slot[i].key, key) == 0) return &t->slot[i];
  }
  return NULL;
}

static bool excused_token(const check *k, uint64_t token) {
  for (int i = 0; i < k->nterms; i++)
    if (k->terms[i].token == token) return k->terms[i].excuse != NULL;
  return false;
}

static long count_lines(FILE *f) {
  long n = 0;
  int ch;
  while ((ch = fgetc(f)) != EOF) n += ch == '\n';
  rewind(f);
  return n;
}

static void check_store(check *k, const char *dir, wtable *t) {
  FILE *f = open_in(dir, "store.log");
  if (f == NULL) {
    violation(k, V_BROKEN, "no store.log");
    return;
  }
  long lines = count_lines(f);
  t->cap = (size_t)lines * 2 + 16;
  t->slot = calloc(t->cap, sizeof *t->slot);
  if (t->slot == NULL) {
    fclose(f);
    return;
  }
  char line[2048], writer[40], data[48], verdict[16];
  uint64_t highest = 0;
  int newest = -1; /* the latest term elected by the store's time */
  while (fgets(line, sizeof line, f) != NULL) {
    uint64_t token, mono, said_highest;
    if (sscanf(line, "%*s token=%" SCNu64 " writer=%39s %15s", &token, writer, verdict) != 3 ||
        !faults_field(line, "mono", &mono) || !faults_field(line, "highest", &said_highest) ||
        !field_str(line, "data", data, sizeof data))
      continue;
    k->res->writes++;
    bool accepted = strcmp(verdict, "accepted") == 0;
    if (accepted != (token >= highest))
      violation(k, V_STORE_RULE, "the store %s token %" PRIu64 " with highest %" PRIu64,
                verdict, token, highest);
    if (accepted && token > highest) highest = token;
    if (said_highest != highest)
      violation(k, V_STORE_RULE, "the store says its highest token is %" PRIu64 ", its writes "
                "say %" PRIu64, said_highest, highest);
    while (newest + 1 < k->nterms && k->terms[newest + 1].start <= (int64_t)mono) newest++;
    uint64_t current = newest >= 0 ? k->terms[newest].token : 0;
    if (token > current) {
      violation(k, V_UNKNOWN_TOKEN, "write with token %" PRIu64 " by %s at +%.3fs before any "
                "term had that token", token, writer, rel(k, (int64_t)mono));
    } else if (token < current) {
      if (!accepted) {
        k->res->stale_refused++;
      } else if (excused_token(k, token)) {
        k->res->stale_excused++;
      } else {
        k->res->stale_accepted++;
        violation(k, V_STALE, "stale write accepted: token %" PRIu64 " by %s at +%.3fs, "
                  "while cand-%d's term %" PRIu64 " (elected +%.3fs) was the newest",
                  token, writer, rel(k, (int64_t)mono), k->terms[newest].slot, current,
                  rel(k, k->terms[newest].start));
      }
    }
    char key[96];
    snprintf(key, sizeof key, "%s %s %" PRIu64, writer, data, token);
    wt_put(t, key, accepted);
  }
  fclose(f);
}

/* Every write a writer heard about is in the store's log, with that answer. */
static void check_writers(check *k, const char *dir, const wtable *t) {
  for (int slot = 0; slot < FAULTS_MAX_CAND; slot++) {
    char name[32];
    snprintf(name, sizeof name, "writer-%d.log", slot);
    FILE *f = open_in(dir, name);
    if (f == NULL) continue;
    char line[512], data[48], verdict[16];
    while (fgets(line, sizeof line, f) != NULL) {
      uint64_t token;
      if (sscanf(line, "%*s %*s token=%" SCNu64 " data=%47s %15s", &token, data, verdict) != 3 ||
          strcmp(verdict, "error") == 0)
        continue;
      char key[96];
      snprintf(key, sizeof key, "cand-%d %s %" PRIu64, slot, data, token);
      const wkey *w = t->slot != NULL ? wt_get(t, key) : NULL;
      bool said = strcmp(verdict, "accepted") == 0;
      if (w == NULL || w->accepted != said)
        violation(k, V_LOST_WRITE, "cand-%d was told its write %s (token %" PRIu64 ") was %s; "
                  "the store's log says %s", slot, data, token, verdict,
                  w == NULL ? "nothing of it" : w->accepted ? "accepted" : "refused");
    }
    fclose(f);
  }
}

/* ---- leaderless gaps ------------------------------------------------------ */

typedef struct span {
  int64_t a, b;
} span;

static int by_a(const void *x, const void *y) {
  const span *p = x, *q = y;
  return p->a < q->a ? -1 : p->a > q->a;
}

static void check_gaps(check *k) {
  k->res->bound_ns = (int64_t)(k->ttl_ms + k->bound_ms) * 1000000;
  k->res->worst_gap_fault = -1;
  if (k->nterms == 0) return;
  span *led = calloc((size_t)k->nterms, sizeof *led);
  if (led == NULL) return;
  int n = 0;
  for (int i = 0; i < k->nterms; i++)
    if (k->terms[i].gap_end > k->terms[i].start)
      led[n++] = (span){k->terms[i].start, k->terms[i].gap_end};
  qsort(led, (size_t)n, sizeof *led, by_a);
  /* Merge into the times some leader existed. */
  int m = 0;
  for (int i = 0; i < n; i++) {
    if (m > 0 && led[i].a <= led[m - 1].b) {
      if (led[i].b > led[m - 1].b) led[m - 1].b = led[i].b;
    } else {
      led[m++] = led[i];
    }
  }
  for (int i = 0; i < k->nfaults; i++) {
    const fault *x = &k->faults[i];
    /* A lone server that is down serves nobody: count from its return.
     * Anything else the others must survive: count from the fault. */
    bool lone_server = k->members == 1 && (x->kind == F_RESTART || x->kind == F_SPAUSE);
    int64_t ref = lone_server ? x->heal : x->inject;
    int64_t until = i + 1 < k->nfaults ? k->faults[i + 1].inject : k->end_ns;
    int64_t worst = 0;
    /* Leaderless stretches: between spans and after the last (before the
     * first is start-up, not a fault's doing). */
    for (int j = 1; j <= m; j++) {
      int64_t a = led[j - 1].b;
      int64_t b = j == m ? INT64_MAX : led[j].a;
      if (a < ref) a = ref;
      if (b > until) b = until;
      if (b - a > worst) worst = b - a;
    }
    if (worst > k->res->worst_gap_ns) {
      k->res->worst_gap_ns = worst;
      k->res->worst_gap_fault = x->id;
      k->res->worst_gap_kind = x->kind;
    }
    if (worst > k->res->bound_ns)
      violation(k, V_GAP, "no leader for %.3f s after fault #%d (%s, from its %s at +%.3fs): "
                "more than ttl + bound = %.3f s", (double)worst / 1e9, x->id,
                fault_names[x->kind], lone_server ? "heal" : "injection", rel(k, ref),
                (double)k->res->bound_ns / 1e9);
  }
  free(led);
}

int faults_check(const char *dir, FILE *out, faults_result *res) {
  memset(res, 0, sizeof *res);
  static check k;
  memset(&k, 0, sizeof k);
  k.out = out;
  k.res = res;
  snprintf(k.label, sizeof k.label, "%s", dir);
  k.terms = calloc(MAX_TERMS, sizeof *k.terms);
  k.faults = calloc(MAX_FAULTS, sizeof *k.faults);
  FILE *ff = open_in(dir, "faults.log"), *ef = open_in(dir, "events.log");
  wtable wt = {0};
  if (k.terms == NULL || k.faults == NULL || ff == NULL || ef == NULL) {
    violation(&k, V_BROKEN, "cannot read faults.log and events.log in %s", dir);
    goto out;
  }
  read_faults(&k, ff);
  if (k.end_ns == 0) violation(&k, V_BROKEN, "the fault phase never ended (see faults.log)");
  read_events(&k, ef);
  read_outcomes(&k, ff);
  check_terms(&k);
  check_store(&k, dir, &wt);
  check_writers(&k, dir, &wt);
  check_gaps(&k);
out:
  if (ff != NULL) fclose(ff);
  if (ef != NULL) fclose(ef);
  free(wt.slot);
  free(k.terms);
  free(k.faults);
  return res->violations;
}
