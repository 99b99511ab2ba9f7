#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

static void
die(const char *what)
{
	perror(what);
	abort();
}

static char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		die("strdup");
	return p;
}

char *
th_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *t;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	if (asprintf(&t, "%s/kagi-store-XXXXXX", base) < 0)
		die("asprintf");
	if (mkdtemp(t) == NULL)
		die("mkdtemp");
	return t;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void
th_tmpdir_rm(char *dir)
{
	if (dir == NULL)
		return;
	(void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

void
th_person(struct store_person *p, const char *staff_no)
{
	memset(p, 0, sizeof(*p));
	p->staff_no = xstrdup(staff_no);
	p->name = xstrdup("山田 花子");
	p->kana = xstrdup("ヤマダ ハナコ");
	p->section = xstrdup("総務部 情報政策課");
	p->employment = xstrdup("fiscal-year");
	p->hr_status = xstrdup("active");
	p->start_date = 1711929600;
	p->end_date = 1743465599;
	p->created = 1700000000;
	p->updated = -1; /* negative times must survive too */
}

void
th_account(struct store_account *a, const char *login, uint32_t hist)
{
	uint32_t i;
	char buf[64];

	memset(a, 0, sizeof(*a));
	a->login = xstrdup(login);
	a->staff_no = xstrdup("A-10234");
	a->kind = STORE_KIND_PRIVILEGED;
	a->state = STORE_ACCT_SUSPENDED;
	a->roles = 0x80000005u;
	a->pw_hash = xstrdup("$y$j9T$abcdefghijklmnop$0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef");
	a->pw_temp = 1;
	a->pw_temp_expires = 1700086400;
	a->pw_changed = 1690000000;
	a->pw_logins = 7;
	a->pw_history_n = hist;
	for (i = 0; i < hist; i++) {
		snprintf(buf, sizeof(buf), "$y$j9T$old%02u$hash%02u", i, i);
		a->pw_history[i] = xstrdup(buf);
	}
	a->pw_rotate = 1;
	a->failed_count = 3;
	a->failed_first = 1700001000;
	a->locked_until = INT64_MAX;
	a->failed_since_login = 2;
	a->last_login = 1699990000;
	a->last_login_terminal = xstrdup("term-0042.ward.local");
	a->last_logout = 1699999999;
	a->end_date = INT64_MIN;
	a->created = 1600000000;
	a->updated = 1700002000;
}

void
th_audit(struct store_audit *a, uint64_t seq)
{
	size_t i;

	memset(a, 0, sizeof(*a));
	a->seq = seq;
	a->time = 1700000000 + (int64_t)seq;
	a->actor = xstrdup("uid:1000(alice)");
	a->action = xstrdup("user.add");
	a->object = xstrdup("hanako");
	a->outcome = xstrdup("ok");
	a->detail = xstrdup("{\"kind\":\"personal\",\"note\":\"窓口\"}");
	for (i = 0; i < STORE_HASH_LEN; i++)
		a->prev[i] = (uint8_t)(0xa0 + i);
}

int
th_str_eq(const char *a, const char *b)
{
	if (a == NULL)
		a = "";
	if (b == NULL)
		b = "";
	return strcmp(a, b) == 0;
}

int
th_person_eq(const struct store_person *a, const struct store_person *b)
{
	return th_str_eq(a->staff_no, b->staff_no) &&
	    th_str_eq(a->name, b->name) && th_str_eq(a->kana, b->kana) &&
	    th_str_eq(a->section, b->section) &&
	    th_str_eq(a->employment, b->employment) &&
	    th_str_eq(a->hr_status, b->hr_status) &&
	    a->start_date == b->start_date && a->end_date == b->end_date &&
	    a->created == b->created && a->updated == b->updated;
}

int
th_account_eq(const struct store_account *a, const struct store_account *b)
{
	uint32_t i;

	if (a->pw_history_n != b->pw_history_n)
		return 0;
	for (i = 0; i < a->pw_history_n; i++)
		if (!th_str_eq(a->pw_history[i], b->pw_history[i]))
			return 0;
	return th_str_eq(a->login, b->login) &&
	    th_str_eq(a->staff_no, b->staff_no) && a->kind == b->kind &&
	    a->state == b->state && a->roles == b->roles &&
	    th_str_eq(a->pw_hash, b->pw_hash) && a->pw_temp == b->pw_temp &&
	    a->pw_temp_expires == b->pw_temp_expires &&
	    a->pw_changed == b->pw_changed && a->pw_logins == b->pw_logins &&
	    a->pw_rotate == b->pw_rotate &&
	    a->failed_count == b->failed_count &&
	    a->failed_first == b->failed_first &&
	    a->locked_until == b->locked_until &&
	    a->failed_since_login == b->failed_since_login &&
	    a->last_login == b->last_login &&
	    th_str_eq(a->last_login_terminal, b->last_login_terminal) &&
	    a->last_logout == b->last_logout && a->end_date == b->end_date &&
	    a->created == b->created && a->updated == b->updated;
}

int
th_audit_eq(const struct store_audit *a, const struct store_audit *b)
{
	return a->seq == b->seq && a->time == b->time &&
	    th_str_eq(a->actor, b->actor) && th_str_eq(a->action, b->action) &&
	    th_str_eq(a->object, b->object) &&
	    th_str_eq(a->outcome, b->outcome) &&
	    th_str_eq(a->detail, b->detail) &&
	    memcmp(a->prev, b->prev, STORE_HASH_LEN) == 0;
}

uint8_t *
th_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p;
	long n = 0;

	if (f == NULL)
		die(path);
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0)
		die("seek");
	if ((p = malloc((size_t)n + 1)) == NULL)
		die("malloc");
	if (fread(p, 1, (size_t)n, f) != (size_t)n)
		die("fread");
	fclose(f);
	*len = (size_t)n;
	return p;
}

void
th_write_file(const char *path, const uint8_t *p, size_t len)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0)
		die(path);
	if (pwrite(fd, p, len, 0) != (ssize_t)len)
		die("pwrite");
	if (fsync(fd) != 0)
		die("fsync");
	close(fd);
}

size_t
th_patch_all(const char *path, const void *needle, size_t nlen, size_t off,
    uint8_t mask)
{
	size_t len, i, n = 0;
	uint8_t *p = th_read_file(path, &len);

	for (i = 0; nlen <= len && i <= len - nlen; i++) {
		if (memcmp(p + i, needle, nlen) == 0) {
			p[i + off] ^= mask;
			n++;
			i += nlen - 1;
		}
	}
	if (n > 0)
		th_write_file(path, p, len);
	free(p);
	return n;
}
