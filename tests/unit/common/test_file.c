/* file.c: symlinks, modes, owners, size caps, atomic replace (STYLE.md 10). */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kagi/file.h"
#include "kagi/secmem.h"

static char dir[] = "/tmp/kagi-test-file-XXXXXX";

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static char *
mkfile(const char *name, const char *content, mode_t mode)
{
	char *p = kagi_path_join(dir, name);
	FILE *f;

	ck_assert_ptr_nonnull(p);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(content, f);
	fclose(f);
	ck_assert_int_eq(chmod(p, mode), 0);
	return p;
}

START_TEST(secret_0600_read)
{
	char *p = mkfile("pin", "123456\n", 0600);
	uint8_t *d = NULL;
	size_t n = 0;

	ck_assert_int_eq(kagi_file_read(p, 100, KAGI_FILE_SECRET, &d, &n), 0);
	ck_assert_uint_eq(n, 7);
	ck_assert_str_eq((char *)d, "123456\n");
	kagi_secure_free(d, n + 1);
	free(p);
}
END_TEST

START_TEST(symlink_refused)
{
	char *p = mkfile("pin", "123456", 0600);
	char *l = kagi_path_join(dir, "link");
	uint8_t *d = (uint8_t *)1;
	size_t n = 1;

	ck_assert_int_eq(symlink(p, l), 0);
	ck_assert_int_eq(kagi_file_read(l, 100, KAGI_FILE_SECRET, &d, &n),
	    KAGI_ERR_PERM);
	ck_assert_ptr_null(d);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(kagi_file_read(l, 100, 0, &d, &n), KAGI_ERR_PERM);
	ck_assert_int_eq(kagi_file_check(l, KAGI_FILE_CONFIG), KAGI_ERR_PERM);
	free(p);
	free(l);
}
END_TEST

START_TEST(secret_mode_0644_refused)
{
	char *p = mkfile("pin", "123456", 0644);
	uint8_t *d = NULL;
	size_t n;

	ck_assert_int_eq(kagi_file_read(p, 100, KAGI_FILE_SECRET, &d, &n),
	    KAGI_ERR_PERM);
	ck_assert_int_eq(chmod(p, 0640), 0);
	ck_assert_int_eq(kagi_file_check(p, KAGI_FILE_SECRET), KAGI_ERR_PERM);
	ck_assert_int_eq(chmod(p, 0400), 0);
	ck_assert_int_eq(kagi_file_check(p, KAGI_FILE_SECRET), 0);
	free(p);
}
END_TEST

START_TEST(config_group_writable_refused)
{
	char *p = mkfile("kagi.conf", "[kagid]\n", 0664);

	ck_assert_int_eq(kagi_file_check(p, KAGI_FILE_CONFIG), KAGI_ERR_PERM);
	ck_assert_int_eq(chmod(p, 0646), 0);
	ck_assert_int_eq(kagi_file_check(p, KAGI_FILE_CONFIG), KAGI_ERR_PERM);
	ck_assert_int_eq(chmod(p, 0644), 0);
	ck_assert_int_eq(kagi_file_check(p, KAGI_FILE_CONFIG), 0);
	free(p);
}
END_TEST

START_TEST(config_foreign_owner_refused)
{
	char *p = mkfile("kagi.conf", "[kagid]\n", 0644);

	if (geteuid() == 0) {
		/* root may give the file away; then it is not ours */
		ck_assert_int_eq(chmod(dir, 0755), 0);
		ck_assert_int_eq(chown(p, 4242, 4242), 0);
		ck_assert_int_eq(seteuid(4242), 0);
		ck_assert_int_eq(kagi_file_check(p, KAGI_FILE_CONFIG), 0);
		ck_assert_int_eq(seteuid(0), 0);
		ck_assert_int_eq(chown(p, 4343, 4343), 0);
		ck_assert_int_eq(seteuid(4242), 0);
		ck_assert_int_eq(kagi_file_check(p, KAGI_FILE_CONFIG),
		    KAGI_ERR_PERM);
		ck_assert_int_eq(kagi_file_check(p, KAGI_FILE_SECRET),
		    KAGI_ERR_PERM);
		ck_assert_int_eq(seteuid(0), 0);
	}
	free(p);
}
END_TEST

START_TEST(too_large)
{
	char *p = mkfile("big", "0123456789abcdef", 0644);
	uint8_t *d = NULL;
	size_t n;

	ck_assert_int_eq(kagi_file_read(p, 15, 0, &d, &n), KAGI_ERR_LIMIT);
	ck_assert_ptr_null(d);
	ck_assert_int_eq(kagi_file_read(p, 16, 0, &d, &n), 0);
	ck_assert_uint_eq(n, 16);
	free(d);
	free(p);
}
END_TEST

START_TEST(not_found_and_not_regular)
{
	char *p = kagi_path_join(dir, "missing");
	uint8_t *d = NULL;
	size_t n;

	ck_assert_int_eq(kagi_file_read(p, 10, 0, &d, &n), KAGI_ERR_NOT_FOUND);
	ck_assert_int_eq(kagi_file_read(dir, 10, 0, &d, &n), KAGI_ERR_PERM);
	ck_assert_int_eq(mkfifo(p, 0600), 0);
	ck_assert_int_eq(kagi_file_read(p, 10, 0, &d, &n), KAGI_ERR_PERM);
	free(p);
}
END_TEST

static int
count_entries(void)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(dp);
	while ((e = readdir(dp)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(dp);
	return n;
}

START_TEST(atomic_replace_leaves_no_temp_file)
{
	char *p = kagi_path_join(dir, "state.json");
	uint8_t *d = NULL;
	size_t n;
	struct stat st;

	ck_assert_int_eq(kagi_file_write_atomic(p, "first", 5, 0600), 0);
	ck_assert_int_eq(kagi_file_write_atomic(p, "second!", 7, 0640), 0);
	ck_assert_int_eq(kagi_file_read(p, 100, 0, &d, &n), 0);
	ck_assert_str_eq((char *)d, "second!");
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0640);
	ck_assert_int_eq(count_entries(), 1);
	free(d);
	free(p);
}
END_TEST

START_TEST(atomic_replace_missing_dir_fails_clean)
{
	char *p = kagi_path_join(dir, "nodir/state.json");

	ck_assert_int_eq(kagi_file_write_atomic(p, "x", 1, 0600),
	    KAGI_ERR_NOT_FOUND);
	ck_assert_int_eq(count_entries(), 0);
	free(p);
}
END_TEST

START_TEST(write_new_exists)
{
	char *p = kagi_path_join(dir, "key.pem");
	uint8_t *d = NULL;
	size_t n;
	struct stat st;

	ck_assert_int_eq(kagi_file_write_new(p, "one", 3, 0600), 0);
	ck_assert_int_eq(kagi_file_write_new(p, "two", 3, 0600),
	    KAGI_ERR_EXISTS);
	ck_assert_int_eq(kagi_file_read(p, 100, KAGI_FILE_SECRET, &d, &n), 0);
	ck_assert_str_eq((char *)d, "one");
	kagi_secure_free(d, n + 1);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	free(p);
}
END_TEST

START_TEST(mkdir_p_nested_and_file_in_way)
{
	char *p = kagi_path_join(dir, "a/b//c/");
	char *f = mkfile("file", "x", 0600);
	char *under = kagi_path_join(dir, "file/sub");
	struct stat st;

	ck_assert_int_eq(kagi_mkdir_p(p, 0700), 0);
	ck_assert_int_eq(kagi_mkdir_p(p, 0700), 0);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(kagi_mkdir_p(f, 0700), KAGI_ERR_EXISTS);
	ck_assert_int_ne(kagi_mkdir_p(under, 0700), 0);
	ck_assert_int_eq(kagi_mkdir_p("", 0700), KAGI_ERR_INVALID);
	free(p);
	free(f);
	free(under);
}
END_TEST

START_TEST(path_join_and_dirname)
{
	static const struct { const char *d, *p, *want; } j[] = {
		{ "/etc/kagi", "policy.ini", "/etc/kagi/policy.ini" },
		{ "/etc/kagi/", "policy.ini", "/etc/kagi/policy.ini" },
		{ "/etc/kagi", "/var/lib/kagi", "/var/lib/kagi" },
		{ "/", "x", "/x" },
		{ "", "x", "x" },
		{ "rel", "x/y", "rel/x/y" },
	};
	static const struct { const char *p, *want; } dn[] = {
		{ "/etc/kagi/kagi.conf", "/etc/kagi" },
		{ "kagi.conf", "." },
		{ "/kagi.conf", "/" },
	};
	size_t i;
	char *s;

	for (i = 0; i < sizeof(j) / sizeof(j[0]); i++) {
		s = kagi_path_join(j[i].d, j[i].p);
		ck_assert_str_eq(s, j[i].want);
		free(s);
	}
	for (i = 0; i < sizeof(dn) / sizeof(dn[0]); i++) {
		s = kagi_path_dirname(dn[i].p);
		ck_assert_str_eq(s, dn[i].want);
		free(s);
	}
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("common_file");
	TCase *tc = tcase_create("file");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, secret_0600_read);
	tcase_add_test(tc, symlink_refused);
	tcase_add_test(tc, secret_mode_0644_refused);
	tcase_add_test(tc, config_group_writable_refused);
	tcase_add_test(tc, config_foreign_owner_refused);
	tcase_add_test(tc, too_large);
	tcase_add_test(tc, not_found_and_not_regular);
	tcase_add_test(tc, atomic_replace_leaves_no_temp_file);
	tcase_add_test(tc, atomic_replace_missing_dir_fails_clean);
	tcase_add_test(tc, write_new_exists);
	tcase_add_test(tc, mkdir_p_nested_and_file_in_way);
	tcase_add_test(tc, path_join_and_dirname);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
