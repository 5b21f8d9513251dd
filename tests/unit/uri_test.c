/* uri_test.c — URI parsing, names and option checks, with no server. */
#include "internal.h"
#include "test.h"

static void parses_a_full_uri(void) {
  baton_uri u;
  baton_error err = {0};
  REQUIRE_OK(baton__uri_parse(&u, "ZK://al%40ice:p%3Ass@h1:2181,[::1]:2182,h3/app/x%2Fy?session_timeout=4000&flag", &err), &err);
  CHECK_STR(u.scheme, "zk");
  CHECK_STR(u.user, "al@ice");
  CHECK_STR(u.password, "p:ss");
  CHECK_EQ(u.nhosts, 3);
  CHECK_STR(u.hosts[0].host, "h1");
  CHECK_EQ(u.hosts[0].port, 2181);
  CHECK_STR(u.hosts[1].host, "::1");
  CHECK_EQ(u.hosts[1].port, 2182);
  CHECK_STR(u.hosts[2].host, "h3");
  CHECK_EQ(u.hosts[2].port, 0);
  CHECK_STR(u.path, "/app/x/y");
  CHECK_STR(baton__uri_param(&u, "session_timeout"), "4000");
  CHECK_STR(baton__uri_param(&u, "flag"), "");
  CHECK(baton__uri_param(&u, "missing") == NULL);
  int64_t ms = 0;
  CHECK_OK(baton__uri_param_ms(&u, "session_timeout", 1, 100000, &ms, &err), &err);
  CHECK_EQ(ms, 4000);
  static const char *const allowed[] = {"session_timeout", NULL};
  CHECK_EQ(baton__uri_check_params(&u, allowed, &err), BATON_EINVAL);
  CHECK_CONTAINS(err.message, "flag");
  baton__uri_free(&u);
}

static void parses_minimal_uris(void) {
  baton_uri u;
  baton_error err = {0};
  REQUIRE_OK(baton__uri_parse(&u, "redis://127.0.0.1:6379", &err), &err);
  CHECK_STR(u.path, "");
  CHECK(u.user == NULL && u.password == NULL);
  CHECK_EQ(u.nparams, 0);
  baton__uri_free(&u);
  REQUIRE_OK(baton__uri_parse(&u, "redis://:secret@localhost/3", &err), &err);
  CHECK(u.user == NULL);
  CHECK_STR(u.password, "secret");
  CHECK_STR(u.path, "/3");
  baton__uri_free(&u);
}

static void rejects_malformed_uris(void) {
  static const struct {
    const char *uri, *says;
  } bad[] = {
      {"", "empty"},
      {"127.0.0.1:6379", "no scheme"},
      {"://h:1", "no scheme"},
      {"redis://", "no host"},
      {"redis://user@", "no host"},
      {"redis://h:0", "out of range"},
      {"redis://h:65536", "out of range"},
      {"redis://h:12x", "bad port"},
      {"redis://h:", "empty port"},
      {"redis://h,,j", "empty host"},
      {"redis://h o", "0x20"},
      {"redis://h\n", "0x0a"},
      {"redis://h/%zz", "escape"},
      {"redis://h/%00", "%00"},
      {"redis://h/%4", "escape"},
      {"redis://[::1", "without ']'"},
      {"redis://[::1]x", "junk"},
      {"redis://h?=v", "without a name"},
      {"redis://h$x", "not allowed"},
      {"re dis://h", "0x20"},
      {"1redis://h", "bad scheme"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    baton_uri u;
    baton_error err = {0};
    CHECK_EQ(baton__uri_parse(&u, bad[i].uri, &err), BATON_EINVAL);
    CHECK_EQ(err.code, BATON_EINVAL);
    CHECK_CONTAINS(err.message, bad[i].says);
    CHECK(u.buf == NULL);
  }
  baton_error err = {0};
  CHECK_EQ(baton__uri_parse(NULL, "redis://h", &err), BATON_EINVAL);
  baton_uri u;
  CHECK_EQ(baton__uri_parse(&u, NULL, &err), BATON_EINVAL);
  char longuri[5000];
  memset(longuri, 'a', sizeof longuri - 1);
  longuri[sizeof longuri - 1] = '\0';
  memcpy(longuri, "redis://", 8);
  CHECK_EQ(baton__uri_parse(&u, longuri, &err), BATON_EINVAL);
  CHECK_CONTAINS(err.message, "longer");
}

static void password_never_appears_in_messages(void) {
  baton_uri u;
  baton_error err = {0};
  CHECK_EQ(baton__uri_parse(&u, "redis://u:hunter2@h:99999", &err), BATON_EINVAL);
  CHECK(strstr(err.message, "hunter2") == NULL);
}

static void checks_names(void) {
  baton_error err = {0};
  CHECK_OK(baton__name_check("svc-1.leader:eu@prod_x", &err), &err);
  CHECK_EQ(baton__name_check(NULL, &err), BATON_EINVAL);
  CHECK_EQ(baton__name_check("", &err), BATON_EINVAL);
  CHECK_CONTAINS(err.message, "empty");
  CHECK_EQ(baton__name_check("a/b", &err), BATON_EINVAL);
  CHECK_CONTAINS(err.message, "'/'");
  CHECK_EQ(baton__name_check("a b", &err), BATON_EINVAL);
  CHECK_EQ(baton__name_check("tab\there", &err), BATON_EINVAL);
  CHECK_CONTAINS(err.message, "0x09");
  CHECK_EQ(baton__name_check("caf\xc3\xa9", &err), BATON_EINVAL);
  CHECK_EQ(baton__name_check("..", &err), BATON_EINVAL);
  char name[BATON_NAME_MAX + 2];
  memset(name, 'n', sizeof name - 1);
  name[sizeof name - 1] = '\0';
  CHECK_EQ(baton__name_check(name, &err), BATON_EINVAL);
  CHECK_CONTAINS(err.message, "longer");
  name[BATON_NAME_MAX] = '\0';
  CHECK_OK(baton__name_check(name, &err), &err);
}

static void resolves_defaults(void) {
  baton_config cfg;
  char id[BATON_IDENTITY_MAX + 1];
  baton_error err = {0};
  REQUIRE_OK(baton__config_resolve(&cfg, id, NULL, NULL, &err), &err);
  CHECK_EQ(cfg.ttl_ns, 10000000000LL);
  CHECK_EQ(cfg.renew_ns, 3333000000LL);
  CHECK_EQ(cfg.drift_ppm, 10000);
  CHECK_EQ(cfg.margin_ns, 500000000LL);
  CHECK_EQ(cfg.op_timeout_ns, 2000000000LL);
  CHECK(strchr(cfg.identity, ':') != NULL);
  baton_options o = {.ttl_ms = 1000, .identity = "me"};
  REQUIRE_OK(baton__config_resolve(&cfg, id, &o, NULL, &err), &err);
  CHECK_EQ(cfg.renew_ns, 333000000LL);
  CHECK_EQ(cfg.op_timeout_ns, 333000000LL);
  CHECK_STR(cfg.identity, "me");
}

static void rejects_bad_options(void) {
  baton_config cfg;
  char id[BATON_IDENTITY_MAX + 1];
  baton_error err = {0};
  baton_options o = {.ttl_ms = 50};
  CHECK_EQ(baton__config_resolve(&cfg, id, &o, NULL, &err), BATON_EINVAL);
  o = (baton_options){.ttl_ms = 1000, .renew_interval_ms = 1000};
  CHECK_EQ(baton__config_resolve(&cfg, id, &o, NULL, &err), BATON_EINVAL);
  o = (baton_options){.ttl_ms = 1000, .renew_interval_ms = 900, .margin_ms = 200};
  CHECK_EQ(baton__config_resolve(&cfg, id, &o, NULL, &err), BATON_EINVAL);
  CHECK_CONTAINS(err.message, "renew_interval_ms");
  o = (baton_options){.identity = "bad\nidentity"};
  CHECK_EQ(baton__config_resolve(&cfg, id, &o, NULL, &err), BATON_EINVAL);
  CHECK_CONTAINS(err.message, "identity");
  char longid[BATON_IDENTITY_MAX + 2];
  memset(longid, 'i', sizeof longid - 1);
  longid[sizeof longid - 1] = '\0';
  o = (baton_options){.identity = longid};
  CHECK_EQ(baton__config_resolve(&cfg, id, &o, NULL, &err), BATON_EINVAL);
}

static void every_code_has_text(void) {
#define X(name, num, text) CHECK_STR(baton_strerror(num), text);
  BATON_ERROR_CODES(X)
#undef X
  CHECK_STR(baton_strerror(12345), "unknown error");
  CHECK_STR(baton_version(), "0.1.0");
}

static void allocation_failure_is_an_error(void) {
  baton_uri u;
  baton_error err = {0};
  baton__alloc_fail_after(1);
  CHECK_EQ(baton__uri_parse(&u, "redis://h:1", &err), BATON_ENOMEM);
  baton__alloc_fail_after(0);
  CHECK_OK(baton__uri_parse(&u, "redis://h:1", &err), &err);
  baton__uri_free(&u);
}

/* A URI without "://" may still hold a password before an '@' (a typo in
 * the scheme): the message quotes none of it. */
static void no_scheme_quotes_nothing(void) {
  static const char *const uris[] = {"redis:/u:hunter2pw@127.0.0.1:1",
                                     "redis//u:hunter2pw@h:1", "u:hunter2pw@127.0.0.1:1",
                                     "hunter2pw@h", "://u:hunter2pw@h:1"};
  for (size_t i = 0; i < sizeof uris / sizeof uris[0]; i++) {
    baton_uri u;
    baton_error err = {0};
    CHECK_EQ(baton__uri_parse(&u, uris[i], &err), BATON_EINVAL);
    CHECK_CONTAINS(err.message, "no scheme");
    if (strstr(err.message, "hunter2pw") != NULL) TEST_FAIL_("%s: %s", uris[i], err.message);
  }
}

int main(int argc, char **argv) {
  static const test_case cases[] = {
      {"parses_a_full_uri", parses_a_full_uri},
      {"parses_minimal_uris", parses_minimal_uris},
      {"rejects_malformed_uris", rejects_malformed_uris},
      {"password_never_appears_in_messages", password_never_appears_in_messages},
      {"checks_names", checks_names},
      {"resolves_defaults", resolves_defaults},
      {"rejects_bad_options", rejects_bad_options},
      {"every_code_has_text", every_code_has_text},
      {"allocation_failure_is_an_error", allocation_failure_is_an_error},
      {"no_scheme_quotes_nothing", no_scheme_quotes_nothing},
      {NULL, NULL},
  };
  return test_main(argc, argv, cases);
}
