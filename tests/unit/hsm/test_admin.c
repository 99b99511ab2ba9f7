/*
 * hsm card administration (hsm/admin.c, issue 6) against a real SoftHSM2,
 * each test with its own token directory: capabilities, C_SetPIN (wrong
 * old PIN, new PIN works and the old one no longer), SO login + C_InitPIN
 * (wrong SO PIN, new PIN works), pruning of kagi's objects by label and
 * CKA_ID (other objects stay), and no PIN in the log.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>

#include "hsm_int.h"
#include "kagi/err.h"
#include "kagi/hsm.h"
#include "kagi/log.h"
#include "kagi/secmem.h"

#define SO_PIN "so-pin-1234"
#define USER_PIN "user-pin-5678"

/*
 * basedir is made by main() and removed after the run: a failed assertion
 * ends a forked test with _exit(), before its teardown removes tmpdir.
 */
static char basedir[128];
static char tmpdir[256];
static char module[1024];

/* Log capture: to prove a PIN never reaches the log. */
static char logbuf[16384];
static size_t loglen;

static void
capture(int level, const char *file, int line, const char *func,
    const char *msg, void *arg)
{
	size_t n = strlen(msg);

	(void)level; (void)file; (void)line; (void)func; (void)arg;
	if (loglen + n + 2 < sizeof(logbuf)) {
		memcpy(logbuf + loglen, msg, n);
		loglen += n;
		logbuf[loglen++] = '\n';
		logbuf[loglen] = '\0';
	}
}

static void
write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	ck_assert_int_eq(close(fd), 0);
}

static void
setup(void)
{
	char path[512], conf[1024];
	const char *m = getenv("KAGI_TEST_PKCS11_MODULE");
	int n;

	snprintf(module, sizeof(module), "%s",
	    m != NULL ? m : "/usr/lib/softhsm/libsofthsm2.so");
	snprintf(tmpdir, sizeof(tmpdir), "%s/t-XXXXXX", basedir);
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/tokens", tmpdir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	n = snprintf(conf, sizeof(conf),
	    "directories.tokendir = %s/tokens\n"
	    "objectstore.backend = file\n"
	    "log.level = ERROR\n", tmpdir);
	snprintf(path, sizeof(path), "%s/softhsm2.conf", tmpdir);
	write_file(path, conf, (size_t)n, 0600);
	ck_assert_int_eq(setenv("SOFTHSM2_CONF", path, 1), 0);
	loglen = 0;
	logbuf[0] = '\0';
	kagi_log_set_level(KAGI_LOG_DEBUG);
	kagi_log_set_handler(capture, NULL);
}

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st; (void)flag; (void)f;
	return remove(p);
}

static void
teardown(void)
{
	kagi_log_set_handler(NULL, NULL);
	if (tmpdir[0] != '\0')
		(void)nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	tmpdir[0] = '\0';
}

/* Open the module, make token `label`, log in. */
static void
open_token(const char *label, struct hsm **h, struct hsm_session **s)
{
	ck_assert_int_eq(hsm_open(module, h), 0);
	ck_assert_int_eq(hsm_token_init(*h, label, SO_PIN, USER_PIN), 0);
	ck_assert_int_eq(hsm_session_open(*h, label, USER_PIN, s), 0);
}


START_TEST(caps_softhsm)
{
	struct hsm *h = NULL;
	struct hsm_session *s = NULL;
	struct hsm_token_caps c;

	open_token("card", &h, &s);
	ck_assert_int_eq(hsm_session_caps(s, &c), 0);
	ck_assert_int_eq(c.keygen_ec, 1);
	ck_assert_int_eq(c.keygen_rsa, 1);
	ck_assert_int_eq(c.write_protected, 0);
	ck_assert_int_eq(c.user_pin_initialized, 1);
	ck_assert_uint_gt(c.pin_min, 0);
	ck_assert_uint_ge(c.pin_max, c.pin_min);
	ck_assert_int_eq(hsm_session_caps(NULL, &c), KAGI_ERR_INVALID);
	ck_assert_int_eq(c.keygen_ec, 0); /* cleared on error */
	hsm_session_close(s);
	hsm_close(h);
}
END_TEST

START_TEST(set_pin_wrong_old_then_right)
{
	struct hsm *h = NULL;
	struct hsm_session *s = NULL, *s2 = NULL;

	open_token("card", &h, &s);
	ck_assert_int_eq(hsm_session_set_pin(s, "wrong-old-pin", "new-pin-2468"),
	    KAGI_ERR_PIN);
	ck_assert_int_eq(hsm_session_set_pin(s, USER_PIN, "new-pin-2468"), 0);
	hsm_session_logout(s);
	hsm_session_close(s);
	ck_assert_int_eq(hsm_session_open(h, "card", USER_PIN, &s2),
	    KAGI_ERR_PIN);
	ck_assert_int_eq(hsm_session_open(h, "card", "new-pin-2468", &s2), 0);
	hsm_session_close(s2);
	ck_assert_ptr_null(strstr(logbuf, "new-pin-2468"));
	ck_assert_ptr_null(strstr(logbuf, USER_PIN));
	hsm_close(h);
}
END_TEST

START_TEST(so_login_init_pin)
{
	struct hsm *h = NULL;
	struct hsm_session *s = NULL;

	ck_assert_int_eq(hsm_open(module, &h), 0);
	ck_assert_int_eq(hsm_token_init(h, "card", SO_PIN, USER_PIN), 0);
	ck_assert_int_eq(hsm_session_open_public(h, "card", 1, &s), 0);
	/* wrong_so_pin */
	ck_assert_int_eq(hsm_session_login_so(s, "not-the-puk"), KAGI_ERR_PIN);
	ck_assert_int_eq(hsm_session_login_so(s, SO_PIN), 0);
	ck_assert_int_eq(hsm_session_init_pin(s, ""), KAGI_ERR_INVALID);
	ck_assert_int_eq(hsm_session_init_pin(s, "unblocked-975310"), 0);
	hsm_session_logout(s);
	hsm_session_close(s);
	s = NULL;
	ck_assert_int_eq(hsm_session_open(h, "card", USER_PIN, &s),
	    KAGI_ERR_PIN);
	ck_assert_int_eq(hsm_session_open(h, "card", "unblocked-975310", &s),
	    0);
	hsm_session_close(s);
	ck_assert_ptr_null(strstr(logbuf, SO_PIN));
	ck_assert_ptr_null(strstr(logbuf, "unblocked-975310"));
	hsm_close(h);
}
END_TEST

START_TEST(prune_keeps_other_objects)
{
	struct hsm *h = NULL;
	struct hsm_session *s = NULL;
	struct hsm_key *a = NULL, *b = NULL, *o = NULL, *k = NULL;
	uint8_t *ida = NULL;
	size_t idlen = 0, removed = 99;

	open_token("card", &h, &s);
	ck_assert_int_eq(hsm_key_generate(s, "kagi-staff-aaaa", HSM_KEY_EC_P256,
	    &a), 0);
	ck_assert_int_eq(hsm_key_generate(s, "kagi-staff-bbbb", HSM_KEY_EC_P256,
	    &b), 0);
	ck_assert_int_eq(hsm_key_generate(s, "jpki-auth", HSM_KEY_EC_P256,
	    &o), 0);
	ck_assert_int_eq(hsm_key_id(a, &ida, &idlen), 0);
	hsm_key_free(a);
	hsm_key_free(b);
	hsm_key_free(o);
	ck_assert_int_eq(hsm_card_prune(s, "kagi-staff-", ida, idlen,
	    &removed), 0);
	ck_assert_uint_eq(removed, 2); /* bbbb's private and public key */
	ck_assert_int_eq(hsm_key_find(s, "kagi-staff-bbbb", &k),
	    KAGI_ERR_NOT_FOUND);
	ck_assert_int_eq(hsm_key_find(s, "kagi-staff-aaaa", &k), 0);
	hsm_key_free(k);
	ck_assert_int_eq(hsm_key_find(s, "jpki-auth", &k), 0);
	hsm_key_free(k);
	/* again: nothing more to remove */
	ck_assert_int_eq(hsm_card_prune(s, "kagi-staff-", ida, idlen,
	    &removed), 0);
	ck_assert_uint_eq(removed, 0);
	ck_assert_int_eq(hsm_card_prune(s, "kagi-staff-", NULL, 0, &removed),
	    KAGI_ERR_INVALID);
	free(ida);
	hsm_session_close(s);
	hsm_close(h);
}
END_TEST

static Suite *
admin_suite(void)
{
	Suite *su = suite_create("hsm_admin");
	TCase *tc = tcase_create("admin");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, caps_softhsm);
	tcase_add_test(tc, set_pin_wrong_old_then_right);
	tcase_add_test(tc, so_login_init_pin);
	tcase_add_test(tc, prune_keeps_other_objects);
	suite_add_tcase(su, tc);
	return su;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	snprintf(basedir, sizeof(basedir), "/tmp/kagi-hsmadm-XXXXXX");
	if (mkdtemp(basedir) == NULL) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	sr = srunner_create(admin_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	(void)nftw(basedir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
