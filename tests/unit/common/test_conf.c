/* conf.c: kagi.conf parsing and validation (R-TERM-6 for the file check). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kagi/conf.h"
#include "kagi/file.h"

static char dir[] = "/tmp/kagi-test-conf-XXXXXX";

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	unsetenv("LANGUAGE");
	unsetenv("LC_ALL");
	unsetenv("LANG");
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static char *
write_conf(const char *name, const char *text, size_t len, mode_t mode)
{
	char *p = kagi_path_join(dir, name);
	FILE *f = fopen(p, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	fclose(f);
	ck_assert_int_eq(chmod(p, mode), 0);
	return p;
}

static const char good_conf[] =
    "; kagi test configuration\n"
    "[kagid]\n"
    "data_dir = data\n"
    "policy = /etc/kagi/policy.ini\n"
    "listen = 127.0.0.1:0\n"
    "  http_listen = [::1]:8080   ; indented and commented\n"
    "socket = run/kagid.sock\n"
    "socket_mode = 0600\n"
    "pid_file = run/kagid.pid\n"
    "tls_cert = tls/server.pem\n"
    "tls_key = tls/server.key\n"
    "tls_client_ca = tls/ca.pem\n"
    "log = syslog\n"
    "log_level = debug\n"
    "\n"
    "# HSM\n"
    "[hsm]\n"
    "module = /usr/lib/softhsm/libsofthsm2.so\n"
    "token_label = kagi-ca\n"
    "pin_file = hsm.pin\n"
    "softhsm2_conf = softhsm2.conf\n"
    "[client]\n"
    "socket = /run/kagi/kagid.sock\n"
    "url = https://kagi.example.lg.jp:8443\n"
    "cert = client.pem\n"
    "key = client.key\n"
    "ca = ca.pem\n";

START_TEST(good_file)
{
	char *p = write_conf("kagi.conf", good_conf, strlen(good_conf), 0644);
	struct kagi_conf *c = NULL;
	char err[512] = "";
	char want[512];

	ck_assert_msg(kagi_conf_load(p, &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(c->path, p);
	ck_assert_str_eq(c->dir, dir);
	snprintf(want, sizeof(want), "%s/data", dir);
	ck_assert_str_eq(c->data_dir, want);
	ck_assert_str_eq(c->policy, "/etc/kagi/policy.ini");
	ck_assert_str_eq(c->listen, "127.0.0.1:0");
	ck_assert_str_eq(c->http_listen, "[::1]:8080");
	snprintf(want, sizeof(want), "%s/run/kagid.sock", dir);
	ck_assert_str_eq(c->socket, want);
	ck_assert_uint_eq(c->socket_mode, 0600);
	snprintf(want, sizeof(want), "%s/tls/server.key", dir);
	ck_assert_str_eq(c->tls_key, want);
	ck_assert_str_eq(c->log, "syslog");
	ck_assert_str_eq(c->log_level, "debug");
	ck_assert_str_eq(c->hsm_token_label, "kagi-ca");
	snprintf(want, sizeof(want), "%s/hsm.pin", dir);
	ck_assert_str_eq(c->hsm_pin_file, want);
	ck_assert_str_eq(c->client_socket, "/run/kagi/kagid.sock");
	ck_assert_str_eq(c->client_url, "https://kagi.example.lg.jp:8443");
	snprintf(want, sizeof(want), "%s/ca.pem", dir);
	ck_assert_str_eq(c->client_ca, want);
	kagi_conf_free(c);
	kagi_conf_free(NULL);
	free(p);
}
END_TEST

START_TEST(defaults)
{
	static const char text[] = "[kagid]\ndata_dir = /var/lib/kagi\n";
	char *p = write_conf("kagi.conf", text, strlen(text), 0600);
	struct kagi_conf *c = NULL;
	char err[512];

	ck_assert_msg(kagi_conf_load(p, &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(c->socket_mode, 0660);
	ck_assert_str_eq(c->log, "stderr");
	ck_assert_str_eq(c->log_level, "info");
	ck_assert_str_eq(c->hsm_module, "/usr/lib/softhsm/libsofthsm2.so");
	ck_assert_str_eq(c->hsm_token_label, "kagi");
	ck_assert_ptr_null(c->listen);
	ck_assert_ptr_null(c->socket);
	ck_assert_ptr_null(c->client_url);
	kagi_conf_free(c);
	free(p);
}
END_TEST

START_TEST(relative_config_path_resolved)
{
	static const char text[] = "[hsm]\npin_file = ../pin\n";
	char *p = write_conf("kagi.conf", text, strlen(text), 0644);
	struct kagi_conf *c = NULL;
	char err[512], want[512];

	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_msg(kagi_conf_load("kagi.conf", &c, err, sizeof(err)) == 0,
	    "%s", err);
	ck_assert_str_eq(c->path, p);
	snprintf(want, sizeof(want), "%s/../pin", dir);
	ck_assert_str_eq(c->hsm_pin_file, want);
	kagi_conf_free(c);
	free(p);
}
END_TEST

static const struct {
	const char *name;
	const char *text;
	const char *want; /* substring of the error after "kagi.conf" */
} bad[] = {
	{ "unknown_section", "[kagid]\nlog = stderr\n[bogus]\nx = 1\n",
	  "kagi.conf:3: [bogus]: unknown section" },
	{ "empty_unknown_section", "[kagid]\n[ hsmm ]\n",
	  "kagi.conf:2: [hsmm]: unknown section" },
	{ "unknown_key", "[kagid]\nbogus = 1\n",
	  "kagi.conf:2: [kagid] bogus: unknown key" },
	{ "key_in_wrong_section", "[hsm]\ndata_dir = /x\n",
	  "kagi.conf:2: [hsm] data_dir: unknown key" },
	{ "dup_key", "[kagid]\nlog = stderr\nlog = syslog\n",
	  "kagi.conf:3: [kagid] log: duplicate key" },
	{ "dup_key_reopened_section",
	  "[kagid]\nlog = stderr\n[hsm]\nmodule = /m.so\n[kagid]\nlog = stderr\n",
	  "kagi.conf:6: [kagid] log: duplicate key" },
	{ "bad_port", "[kagid]\nlisten = 127.0.0.1:65536\n",
	  "kagi.conf:2: [kagid] listen: expected host:port" },
	{ "missing_port", "[kagid]\nhttp_listen = 127.0.0.1\n",
	  "kagi.conf:2: [kagid] http_listen: expected host:port" },
	{ "empty_host", "[kagid]\nlisten = :8443\n",
	  "kagi.conf:2: [kagid] listen: expected host:port" },
	{ "bare_ipv6", "[kagid]\nlisten = ::1:8443\n",
	  "kagi.conf:2: [kagid] listen: expected host:port" },
	{ "port_not_number", "[kagid]\nlisten = localhost:https\n",
	  "kagi.conf:2: [kagid] listen: expected host:port" },
	{ "bad_socket_mode", "[kagid]\nsocket_mode = 0999\n",
	  "kagi.conf:2: [kagid] socket_mode: expected an octal mode" },
	{ "setuid_socket_mode", "[kagid]\nsocket_mode = 4755\n",
	  "kagi.conf:2: [kagid] socket_mode: expected an octal mode" },
	{ "bad_log", "[kagid]\nlog = /var/log/kagi.log\n",
	  "kagi.conf:2: [kagid] log: expected stderr or syslog" },
	{ "bad_log_level", "[kagid]\nlog_level = verbose\n",
	  "kagi.conf:2: [kagid] log_level: expected error, warn, info or debug" },
	{ "missing_equals", "[kagid]\ndata_dir\n",
	  "kagi.conf:2: expected [section] or key = value" },
	{ "unterminated_section", "[kagid\ndata_dir = x\n",
	  "kagi.conf:1: expected [section] or key = value" },
	{ "empty_value", "[kagid]\n\ndata_dir =\n",
	  "kagi.conf:3: [kagid] data_dir: empty value" },
	{ "key_outside_section", "data_dir = /x\n",
	  "kagi.conf:1: data_dir: key outside of a section" },
	{ "continuation_line", "[kagid]\ndata_dir = /x\n    more\n",
	  "kagi.conf:3: expected [section] or key = value" },
	{ "long_token_label",
	  "[hsm]\ntoken_label = 0123456789012345678901234567890123\n",
	  "kagi.conf:2: [hsm] token_label: token label is longer" },
	{ "bad_url", "[client]\nurl = ftp://kagi.example\n",
	  "kagi.conf:2: [client] url: expected an http:// or https:// URL" },
	{ "invalid_utf8", "[kagid]\n; \xff\xfe\n",
	  "kagi.conf:2: not valid UTF-8 text" },
	{ "line_too_long",
	  "[kagid]\n\n\ndata_dir = /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	  "kagi.conf:4: line is too long" },
	{ "first_error_wins", "[kagid]\nlog = x\nbogus = 1\n",
	  "kagi.conf:2: [kagid] log:" },
	{ "syntax_before_key_error", "[kagid]\njunk\nbogus = 1\n",
	  "kagi.conf:2: expected" },
};

START_TEST(bad_conf_refused)
{
	char *p = write_conf("kagi.conf", bad[_i].text, strlen(bad[_i].text),
	    0644);
	struct kagi_conf *c = (struct kagi_conf *)1;
	char err[512] = "";

	ck_assert_msg(kagi_conf_load(p, &c, err, sizeof(err)) != 0,
	    "%s accepted", bad[_i].name);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(err, bad[_i].want) != NULL,
	    "%s: got \"%s\", want \"%s\"", bad[_i].name, err, bad[_i].want);
	free(p);
}
END_TEST

START_TEST(embedded_nul_refused)
{
	static const char text[] = "[kagid]\nlog = stderr\0junk\n";
	char *p = write_conf("kagi.conf", text, sizeof(text) - 1, 0644);
	struct kagi_conf *c = NULL;
	char err[512] = "";

	ck_assert_int_eq(kagi_conf_load(p, &c, err, sizeof(err)),
	    KAGI_ERR_FORMAT);
	ck_assert_ptr_nonnull(strstr(err, "kagi.conf:2: not valid UTF-8"));
	free(p);
}
END_TEST

START_TEST(group_writable_conf_refused)
{
	char *p = write_conf("kagi.conf", "[kagid]\n", 8, 0664);
	struct kagi_conf *c = NULL;
	char err[512] = "";

	ck_assert_int_eq(kagi_conf_load(p, &c, err, sizeof(err)),
	    KAGI_ERR_PERM);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(strstr(err, "unsafe configuration file"));
	free(p);
}
END_TEST

START_TEST(missing_and_too_large_conf)
{
	char *p = kagi_path_join(dir, "none.conf");
	char *big = malloc(70000);
	struct kagi_conf *c = NULL;
	char err[512] = "";
	char *q;

	ck_assert_int_eq(kagi_conf_load(p, &c, err, sizeof(err)),
	    KAGI_ERR_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(err, "configuration file not found"));
	memset(big, '\n', 70000);
	q = write_conf("big.conf", big, 70000, 0644);
	ck_assert_int_eq(kagi_conf_load(q, &c, err, sizeof(err)),
	    KAGI_ERR_LIMIT);
	ck_assert_ptr_nonnull(strstr(err, "too large"));
	free(big);
	free(p);
	free(q);
}
END_TEST

START_TEST(locate_order)
{
	unsetenv("KAGI_CONFIG");
	ck_assert_str_eq(kagi_conf_locate(NULL), KAGI_CONF_DEFAULT);
	ck_assert_str_eq(kagi_conf_locate(""), KAGI_CONF_DEFAULT);
	setenv("KAGI_CONFIG", "/tmp/env.conf", 1);
	ck_assert_str_eq(kagi_conf_locate(NULL), "/tmp/env.conf");
	ck_assert_str_eq(kagi_conf_locate("/x.conf"), "/x.conf");
}
END_TEST

START_TEST(parse_from_memory)
{
	static const char text[] = "\xef\xbb\xbf[client]\r\nurl = http://h:1\r\n";
	struct kagi_conf *c = NULL;
	char err[256];

	ck_assert_msg(kagi_conf_parse(text, sizeof(text) - 1, "mem.conf", "/d",
	    &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(c->client_url, "http://h:1");
	ck_assert_str_eq(c->path, "mem.conf");
	kagi_conf_free(c);
	ck_assert_int_eq(kagi_conf_parse("[x]\n", 4, "mem.conf", "/d", &c, err,
	    sizeof(err)), KAGI_ERR_INVALID);
	ck_assert_str_eq(err, "mem.conf:1: [x]: unknown section");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("common_conf");
	TCase *tc = tcase_create("conf");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, good_file);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, relative_config_path_resolved);
	tcase_add_loop_test(tc, bad_conf_refused, 0,
	    (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, embedded_nul_refused);
	tcase_add_test(tc, group_writable_conf_refused);
	tcase_add_test(tc, missing_and_too_large_conf);
	tcase_add_test(tc, locate_order);
	tcase_add_test(tc, parse_from_memory);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
