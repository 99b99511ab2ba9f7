/*
 * policy: policy.ini parsing and validation (R-MFA-2, R-PRIV-5, R-PW-2,
 * R-PW-4, R-PW-9, R-LOGIN-1, R-LOGIN-2) and the pure decisions, with an
 * injected `now`.
 */
#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kagi/err.h"
#include "kagi/policy.h"

#define BAD_DIR KAGI_SOURCE_DIR "/tests/unit/policy/bad"

static struct policy *
parse_ok(const char *text)
{
	struct policy *p = NULL;
	char err[512];
	int r = policy_parse(text, strlen(text), "t.ini", &p, err, sizeof(err));

	ck_assert_msg(r == 0, "policy refused: %s\n--- text ---\n%s", err, text);
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(err, "");
	return p;
}

/* Parse and expect refusal; returns the message in err. */
static int
parse_bad(const char *text, char *err, size_t errlen)
{
	struct policy *p = (struct policy *)1;
	int r = policy_parse(text, strlen(text), "t.ini", &p, err, errlen);

	ck_assert_msg(r != 0, "policy accepted:\n%s", text);
	ck_assert_ptr_null(p);
	return r;
}

static char *
read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_ge(n, 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* ---- the default policy ---- */

START_TEST(default_policy_parses_with_documented_values)
{
	struct policy *p = parse_ok(policy_default_text());
	const struct policy_zone *z;
	const struct policy_password *pw;
	const struct policy_lockout *l;

	ck_assert_uint_eq(policy_zone_count(p), 3);
	z = policy_zone_find(p, "mynumber");
	ck_assert_ptr_nonnull(z);
	ck_assert_int_eq(z->is_mynumber, 1);
	ck_assert_str_eq(z->policy_oid,
	    "2.25.129079384302528601037273543698822391623");
	ck_assert_uint_eq(z->factors, POLICY_FACTOR_CARD | POLICY_FACTOR_FIDO);
	for (int k = 0; k < STORE_KIND_COUNT; k++)
		ck_assert_uint_eq(z->min_categories[k], 2);
	ck_assert_int_eq(z->offline_login, 0);
	ck_assert_int_eq(z->bundle_max_age, 8 * 3600);
	/* Three banner lines joined by newlines (R-LOGIN-1). */
	ck_assert_ptr_nonnull(strstr(z->banner, "マイナンバー利用事務系端末です。"));
	ck_assert_ptr_null(strstr(z->banner, "\n "));
	ck_assert_ptr_nonnull(strstr(z->banner, "\nICカードとPIN"));
	ck_assert_ptr_nonnull(strstr(z->banner, "\nMy Number zone:"));

	z = policy_zone_find(p, "lgwan");
	ck_assert_ptr_nonnull(z);
	ck_assert_int_eq(z->is_mynumber, 0);
	ck_assert_str_eq(z->policy_oid,
	    "2.25.171650042320339141054201421213188112496");
	ck_assert_uint_eq(z->factors, POLICY_FACTOR_CARD | POLICY_FACTOR_FIDO |
	    POLICY_FACTOR_PASSWORD);
	ck_assert_uint_eq(z->min_categories[STORE_KIND_PERSONAL], 1);
	ck_assert_uint_eq(z->min_categories[STORE_KIND_SERVICE], 1);
	ck_assert_uint_eq(z->min_categories[STORE_KIND_PRIVILEGED], 2);
	z = policy_zone_find(p, "internet");
	ck_assert_ptr_nonnull(z);
	ck_assert_str_eq(z->policy_oid,
	    "2.25.84259514978504391155551880982103941456");
	ck_assert_ptr_null(policy_zone_find(p, "nowhere"));
	ck_assert_ptr_null(policy_zone_at(p, 3));
	ck_assert_str_eq(policy_zone_at(p, 0)->name, "mynumber");

	pw = policy_password(p, POLICY_TIER_ORDINARY);
	ck_assert_uint_eq(pw->min_length, 12);
	ck_assert_uint_eq(pw->min_classes, 3);
	ck_assert_uint_eq(pw->history, 5);
	ck_assert_uint_eq(pw->max_age_days, 0);
	ck_assert_uint_eq(pw->max_logins, 0);
	ck_assert_uint_eq(pw->temp_length, 12);
	ck_assert_uint_eq(pw->temp_hours, 72);
	ck_assert_uint_eq(pw->hash_cost, 5);
	ck_assert(pw->reject_login_name && pw->reject_person_name &&
	    pw->reject_common);
	pw = policy_password(p, POLICY_TIER_PRIVILEGED);
	ck_assert_uint_eq(pw->min_length, 16);
	ck_assert_uint_eq(pw->history, 10);
	ck_assert_uint_eq(pw->max_age_days, 90);
	ck_assert_uint_eq(pw->temp_length, 16);
	ck_assert_uint_eq(pw->temp_hours, 24);
	pw = policy_password(p, POLICY_TIER_SHARED);
	ck_assert_uint_eq(pw->max_age_days, 90);
	ck_assert_uint_eq(pw->history, 5);
	ck_assert_uint_eq(pw->min_length, 12); /* taken from [password] */

	l = policy_lockout(p, POLICY_TIER_ORDINARY);
	ck_assert_uint_eq(l->threshold, 5);
	ck_assert_int_eq(l->window, 15 * 60);
	ck_assert_int_eq(l->duration, 30 * 60);
	l = policy_lockout(p, POLICY_TIER_PRIVILEGED);
	ck_assert_uint_eq(l->threshold, 3);
	ck_assert_int_eq(l->window, 3600);
	ck_assert_int_eq(l->duration, 0);
	l = policy_lockout(p, POLICY_TIER_SHARED);
	ck_assert_uint_eq(l->threshold, 5);
	ck_assert_int_eq(l->duration, 30 * 60);

	ck_assert_int_eq(policy_privileged(p)->max_window, 4 * 3600);
	ck_assert_int_eq(policy_privileged(p)->max_window_delegate, 2 * 3600);
	ck_assert_int_eq(policy_privileged(p)->session_idle, 600);
	ck_assert_int_eq(policy_sweep(p)->interval, 3600);
	ck_assert_uint_eq(policy_sweep(p)->dormant_days, 90);
	policy_free(p);
}
END_TEST

/* Settings left out take the same values as the shipped file. */
START_TEST(omitted_settings_match_default_file)
{
	struct policy *d = parse_ok(policy_default_text());
	struct policy *m = parse_ok("[zone.mynumber]\n");

	for (int t = 0; t < POLICY_TIER_COUNT; t++) {
		ck_assert_mem_eq(policy_password(d, t), policy_password(m, t),
		    sizeof(struct policy_password));
		ck_assert_mem_eq(policy_lockout(d, t), policy_lockout(m, t),
		    sizeof(struct policy_lockout));
	}
	ck_assert_mem_eq(policy_privileged(d), policy_privileged(m),
	    sizeof(struct policy_privileged));
	ck_assert_mem_eq(policy_sweep(d), policy_sweep(m),
	    sizeof(struct policy_sweep));
	ck_assert_str_eq(policy_zone_at(m, 0)->policy_oid,
	    policy_zone_at(d, 0)->policy_oid);
	ck_assert_int_eq(policy_zone_at(m, 0)->is_mynumber, 1);
	ck_assert_uint_eq(policy_zone_at(m, 0)->min_categories[0], 2);
	policy_free(d);
	policy_free(m);
}
END_TEST

/* Every setting in the shipped file is documented in docs/POLICY.md. */
START_TEST(default_settings_documented)
{
	size_t dlen = 0;
	char *doc = read_all(KAGI_SOURCE_DIR "/docs/POLICY.md", &dlen);
	const char *s = policy_default_text();
	unsigned n = 0;

	while (*s != '\0') {
		const char *e = strchr(s, '\n');
		size_t len = e != NULL ? (size_t)(e - s) : strlen(s);
		const char *eq = memchr(s, '=', len);
		char key[64], needle[80];

		ck_assert_msg(len <= 197, "default line too long: %.*s",
		    (int)len, s);
		if (len > 0 && s[0] != ';' && s[0] != ' ' && s[0] != '[' &&
		    eq != NULL) {
			size_t k = (size_t)(eq - s);
			while (k > 0 && s[k - 1] == ' ')
				k--;
			ck_assert_uint_lt(k, sizeof(key));
			memcpy(key, s, k);
			key[k] = '\0';
			snprintf(needle, sizeof(needle), "`%s`", key);
			ck_assert_msg(strstr(doc, needle) != NULL,
			    "%s not documented in docs/POLICY.md", key);
			n++;
		}
		s += len + (e != NULL ? 1 : 0);
	}
	ck_assert_uint_gt(n, 30);
	free(doc);
}
END_TEST

/* ---- bad files: one fault each, named after it ---- */

static const struct bad {
	const char *file;
	unsigned line;
	const char *substr;
} bad[] = {
	{ "mynumber_one_category.ini", 4, "[zone.mynumber] min_categories: the My Number zone must require at least two factor categories" },
	{ "mynumber_kind_one_category.ini", 3, "min_categories.contractor: the My Number zone" },
	{ "mynumber_renamed_one_category.ini", 7, "[zone.kojin] min_categories: the My Number zone must require at least two factor categories for every account kind (R-MFA-2)" },
	{ "privileged_shorter_password.ini", 4, "[password.privileged] min_length: weaker than [password] (10 here, 12 there)" },
	{ "privileged_lockout_more_attempts.ini", 5, "[lockout.privileged] threshold: weaker than [lockout] (6 here, 5 there)" },
	{ "privileged_max_age_off.ini", 3, "[password.privileged] max_age: privileged passwords must be changed periodically" },
	{ "privileged_max_age_longer.ini", 3, "[password.privileged] max_age: weaker than [password] (90d here, 60d there)" },
	{ "privileged_lockout_shorter_window.ini", 4, "[lockout.privileged] window: weaker than [lockout] (5m here, 15m there)" },
	{ "privileged_lockout_timed.ini", 6, "[lockout.privileged] duration: weaker than [lockout] (1h here, 0 there)" },
	{ "privileged_history_shorter.ini", 4, "[password.privileged] history: weaker than [password] (10 here, 12 there)" },
	{ "privileged_one_category.ini", 4, "[zone.lgwan] min_categories.privileged: privileged IDs always require at least two factor categories (R-PRIV-1)" },
	{ "privileged_no_stricter.ini", 5, "[password.privileged]: the privileged tier must be stricter than the ordinary tier on at least one setting (R-PRIV-5)" },
	{ "dup_key.ini", 4, "[password] min_length: duplicate setting (first set on line 3)" },
	{ "dup_section.ini", 5, "[password]: duplicate section (first on line 2)" },
	{ "dup_zone.ini", 4, "[zone.mynumber]: duplicate section (first on line 1)" },
	{ "unknown_section.ini", 2, "[passwords]: unknown section" },
	{ "unknown_key.ini", 3, "[password] min_lenght: unknown setting" },
	{ "bad_duration.ini", 3, "[lockout] window: not a duration" },
	{ "bad_oid.ini", 2, "[zone.mynumber] policy_oid: not a valid object identifier" },
	{ "oid_bad_first_arc.ini", 2, "policy_oid: not a valid object identifier" },
	{ "dup_oid.ini", 4, "[zone.lgwan] policy_oid: the same OID as [zone.mynumber]" },
	{ "unknown_factor.ini", 2, "[zone.mynumber] factors: unknown factor 'sms'" },
	{ "dup_factor.ini", 2, "factors: factor 'card' is listed twice" },
	{ "banner_invalid_utf8.ini", 2, "[zone.mynumber] banner: not valid UTF-8" },
	{ "banner_too_long.ini", 12, "[zone.mynumber] banner: longer than 1023 bytes" },
	{ "missing_mynumber_zone.ini", 2, "[general] mynumber_zone: there is no section [zone.kojin]" },
	{ "no_zone.ini", 2, "no [zone.NAME] section" },
	{ "syntax_no_equals.ini", 3, "expected 'key = value'" },
	{ "syntax_section_unclosed.ini", 2, "a section header must end with ']'" },
	{ "syntax_text_after_section.ini", 2, "unexpected text after the section header" },
	{ "key_outside_section.ini", 2, "min_length: setting outside any [section]" },
	{ "empty_value.ini", 3, "[password] min_length: empty value" },
	{ "int_out_of_range.ini", 3, "[password] history: out of range (0 to 24)" },
	{ "int_not_number.ini", 3, "[password] min_length: not a whole number" },
	{ "min_length_too_short.ini", 3, "min_length: out of range (8 to 256)" },
	{ "bad_bool.ini", 2, "[zone.mynumber] offline_login: not yes or no" },
	{ "min_categories_zero.ini", 3, "[zone.lgwan] min_categories: out of range (1 to 3)" },
	{ "min_categories_four.ini", 2, "min_categories: out of range (1 to 3)" },
	{ "unknown_kind.ini", 2, "[zone.mynumber] min_categories.admin: unknown account kind 'admin'" },
	{ "factors_cannot_reach.ini", 4, "[zone.lgwan] min_categories: the allowed factors can reach only 1 of the 2 categories required for personal IDs" },
	{ "temp_length_short.ini", 3, "[password] temp_length: out of range (8 to 64)" },
	{ "hash_cost_high.ini", 3, "[password.privileged] hash_cost: out of range (1 to 11)" },
	{ "too_many_zones.ini", 16, "[zone.z8]: too many zones (at most 8)" },
	{ "bad_zone_name.ini", 2, "a zone name is 1 to 31 characters" },
	{ "custom_zone_no_oid.ini", 3, "[zone.kojin] policy_oid: required for a zone other than" },
	{ "continuation_not_banner.ini", 4, "[password] min_length: an indented line continues the previous value" },
	{ "max_age_not_days.ini", 3, "[password] max_age: must be a whole number of days" },
	{ "shared_max_age_off.ini", 3, "[password.shared] max_age: shared IDs' passwords must be changed periodically" },
	{ "delegate_longer.ini", 4, "[privileged] max_window_delegate: longer than max_window" },
	{ "line_too_long.ini", 2, "line longer than" },
	{ "nul_byte.ini", 2, "NUL byte" },
};
#define NBAD (sizeof(bad) / sizeof(bad[0]))

START_TEST(bad_policy_refused)
{
	const struct bad *b = &bad[_i];
	char path[512], err[1024], prefix[128];
	struct policy *p = (struct policy *)1;
	size_t len = 0;
	char *text;
	int r;

	snprintf(path, sizeof(path), "%s/%s", BAD_DIR, b->file);
	text = read_all(path, &len);
	r = policy_parse(text, len, b->file, &p, err, sizeof(err));
	ck_assert_msg(r < 0, "%s accepted", b->file);
	ck_assert_ptr_null(p);
	snprintf(prefix, sizeof(prefix), "%s:%u: ", b->file, b->line);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
	    "%s: expected prefix '%s', got '%s'", b->file, prefix, err);
	ck_assert_msg(strstr(err, b->substr) != NULL,
	    "%s: expected '%s' in '%s'", b->file, b->substr, err);
	free(text);
}
END_TEST

/* Every file in bad/ has an expectation in the table, and vice versa. */
START_TEST(bad_dir_matches_table)
{
	DIR *d = opendir(BAD_DIR);
	struct dirent *de;
	size_t n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		size_t i;
		if (de->d_name[0] == '.')
			continue;
		for (i = 0; i < NBAD; i++)
			if (strcmp(bad[i].file, de->d_name) == 0)
				break;
		ck_assert_msg(i < NBAD, "%s has no row in the table",
		    de->d_name);
		n++;
	}
	closedir(d);
	ck_assert_uint_eq(n, NBAD);
	ck_assert_uint_ge(NBAD, 25);
}
END_TEST

START_TEST(load_names_the_path)
{
	struct policy *p = (struct policy *)1;
	char err[1024], prefix[600];
	const char *path = BAD_DIR "/dup_key.ini";

	ck_assert_int_lt(policy_load(path, &p, err, sizeof(err)), 0);
	ck_assert_ptr_null(p);
	snprintf(prefix, sizeof(prefix), "%s:4: [password] min_length:", path);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "%s", err);
}
END_TEST

START_TEST(load_missing_file)
{
	struct policy *p = (struct policy *)1;
	char err[256];

	ck_assert_int_eq(policy_load(BAD_DIR "/no_such_file.ini", &p, err,
	    sizeof(err)), KAGI_ERR_NOT_FOUND);
	ck_assert_ptr_null(p);
	ck_assert_ptr_nonnull(strstr(err, "no_such_file.ini"));
}
END_TEST

START_TEST(load_default_file)
{
	char dir[] = "/tmp/kagi-policy-XXXXXX", path[64];
	struct policy *p = NULL;
	char err[256];
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/policy.ini", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(policy_default_text(), f);
	fclose(f);
	ck_assert_int_eq(policy_load(path, &p, err, sizeof(err)), 0);
	ck_assert_uint_eq(policy_zone_count(p), 3);
	policy_free(p);
	unlink(path);
	rmdir(dir);
}
END_TEST

/* ---- R-MFA-2: the My Number floor, for every kind ---- */

static const char *const kinds[STORE_KIND_COUNT] = {
	"personal", "shared", "privileged", "development", "contractor",
	"service"
};

START_TEST(mfa_floor_per_kind)
{
	char text[256], err[512];

	for (int k = 0; k < STORE_KIND_COUNT; k++) {
		struct policy *p;

		/* One category for this kind in the My Number zone: refused. */
		snprintf(text, sizeof(text), "[zone.mynumber]\n"
		    "min_categories.%s = 1\n", kinds[k]);
		parse_bad(text, err, sizeof(err));
		ck_assert_msg(strstr(err, "t.ini:2: [zone.mynumber] "
		    "min_categories.") != NULL && strstr(err, "(R-MFA-2)") !=
		    NULL, "%s: %s", kinds[k], err);
		/* Two: accepted. */
		snprintf(text, sizeof(text), "[zone.mynumber]\n"
		    "min_categories.%s = 2\n", kinds[k]);
		p = parse_ok(text);
		ck_assert_uint_eq(policy_zone_at(p, 0)->min_categories[k], 2);
		policy_free(p);
		/* Outside the My Number zone one category is allowed. */
		if (k != STORE_KIND_PRIVILEGED) {
			snprintf(text, sizeof(text), "[zone.mynumber]\n"
			    "[zone.lgwan]\nmin_categories.%s = 1\n", kinds[k]);
			p = parse_ok(text);
			ck_assert_uint_eq(policy_zone_find(p, "lgwan")->
			    min_categories[k], 1);
			policy_free(p);
		}
	}
}
END_TEST

/* The floor follows [general] mynumber_zone, not the name "mynumber". */
START_TEST(mfa_floor_follows_renamed_zone)
{
	char err[512];
	struct policy *p;

	parse_bad("[general]\nmynumber_zone = lgwan\n[zone.mynumber]\n"
	    "min_categories = 1\n[zone.lgwan]\nmin_categories = 1\n", err,
	    sizeof(err));
	ck_assert_msg(strncmp(err, "t.ini:6: [zone.lgwan] min_categories:",
	    strlen("t.ini:6: [zone.lgwan] min_categories:")) == 0 &&
	    strstr(err, "R-MFA-2") != NULL, "%s", err);
	p = parse_ok("[general]\nmynumber_zone = lgwan\n[zone.mynumber]\n"
	    "min_categories = 1\n[zone.lgwan]\n");
	ck_assert_int_eq(policy_zone_find(p, "mynumber")->is_mynumber, 0);
	ck_assert_int_eq(policy_zone_find(p, "lgwan")->is_mynumber, 1);
	policy_free(p);
}
END_TEST

/* ---- R-PRIV-5: the privileged tier at least as strict everywhere ---- */

static const struct tier_case {
	const char *ordinary;   /* lines added to [password]/[lockout] text */
	const char *section;    /* privileged section */
	const char *setting;    /* "key = value" in it */
	int ok;
} tier_cases[] = {
	{ "", "password.privileged", "min_length = 11", 0 },
	{ "", "password.privileged", "min_length = 12", 1 },
	{ "", "password.privileged", "min_length = 30", 1 },
	{ "", "password.privileged", "min_classes = 2", 0 },
	{ "", "password.privileged", "min_classes = 4", 1 },
	{ "", "password.privileged", "history = 4", 0 },
	{ "", "password.privileged", "history = 5", 1 },
	{ "[password]\nmax_age = 30d\n", "password.privileged", "max_age = 31d", 0 },
	{ "[password]\nmax_age = 30d\n", "password.privileged", "max_age = 30d", 1 },
	{ "[password]\nmax_age = 30d\n", "password.privileged", "max_age = 7d", 1 },
	{ "[password]\nmax_logins = 100\n", "password.privileged", "max_logins = off", 0 },
	{ "[password]\nmax_logins = 100\n", "password.privileged", "max_logins = 101", 0 },
	{ "[password]\nmax_logins = 100\n", "password.privileged", "max_logins = 100", 1 },
	{ "", "password.privileged", "max_logins = 500", 1 },
	{ "", "password.privileged", "temp_length = 11", 0 },
	{ "", "password.privileged", "temp_lifetime = 73h", 0 },
	{ "", "password.privileged", "temp_lifetime = 72h", 1 },
	{ "", "password.privileged", "hash_cost = 4", 0 },
	{ "", "password.privileged", "hash_cost = 11", 1 },
	{ "", "password.privileged", "reject_common = no", 0 },
	{ "", "password.privileged", "reject_login_name = no", 0 },
	{ "", "password.privileged", "reject_person_name = off", 0 },
	{ "", "lockout.privileged", "threshold = 6", 0 },
	{ "", "lockout.privileged", "threshold = 5", 1 },
	{ "", "lockout.privileged", "window = 14m", 0 },
	{ "", "lockout.privileged", "window = 15m", 1 },
	{ "", "lockout.privileged", "duration = 29m", 0 },
	{ "", "lockout.privileged", "duration = 31m", 1 },
	{ "[lockout]\nduration = 0\n", "lockout.privileged", "duration = 1d", 0 },
	{ "[lockout]\nduration = 0\n", "lockout.privileged", "duration = 0", 1 },
	{ "[lockout]\nthreshold = 2\n", "lockout.privileged", "window = 1h", 0 },
	{ "[password]\nmin_length = 20\n", "password.privileged", "history = 10", 0 },
};

START_TEST(privileged_tier_rule)
{
	const struct tier_case *t = &tier_cases[_i];
	char text[512], err[512], key[32];
	size_t k = strcspn(t->setting, " ");

	snprintf(text, sizeof(text), "[zone.mynumber]\n%s[%s]\n%s\n",
	    t->ordinary, t->section, t->setting);
	if (t->ok) {
		policy_free(parse_ok(text));
		return;
	}
	parse_bad(text, err, sizeof(err));
	ck_assert_ptr_nonnull(strstr(err, "R-PRIV-5"));
	/* Names the privileged section; the line of the setting if it was
	 * set there, else the privileged section's line. */
	memcpy(key, t->setting, k);
	key[k] = '\0';
	if (strncmp(t->ordinary, "[lockout]\nthreshold", 19) == 0 ||
	    strncmp(t->ordinary, "[password]\nmin_length", 21) == 0) {
		/* The weaker setting is a defaulted one: section line. */
		char want[128];
		snprintf(want, sizeof(want), "t.ini:4: [%s] ", t->section);
		ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
	} else {
		char want[128];
		unsigned line = t->ordinary[0] != '\0' ? 5 : 3;
		snprintf(want, sizeof(want), "t.ini:%u: [%s] %s: ", line,
		    t->section, key);
		ck_assert_msg(strncmp(err, want, strlen(want)) == 0,
		    "want '%s', got '%s'", want, err);
	}
}
END_TEST

/* ---- decisions ---- */

START_TEST(categories_counted_not_credentials)
{
	ck_assert_uint_eq(policy_categories(POLICY_FACTOR_PASSWORD, 0),
	    POLICY_CAT_KNOWLEDGE);
	ck_assert_uint_eq(policy_categories(POLICY_FACTOR_CARD, 0),
	    POLICY_CAT_KNOWLEDGE | POLICY_CAT_POSSESSION);
	ck_assert_uint_eq(policy_categories(POLICY_FACTOR_FIDO, 0),
	    POLICY_CAT_POSSESSION);
	ck_assert_uint_eq(policy_category_count(policy_categories(
	    POLICY_FACTOR_FIDO, 1)), 2);
	/* Card PIN and password are both knowledge: still two. */
	ck_assert_uint_eq(policy_category_count(policy_categories(
	    POLICY_FACTOR_CARD | POLICY_FACTOR_PASSWORD, 0)), 2);
	/* FIDO with UV and a password: UV is counted as knowledge. */
	ck_assert_uint_eq(policy_category_count(policy_categories(
	    POLICY_FACTOR_FIDO | POLICY_FACTOR_PASSWORD, 1)), 2);
	ck_assert_uint_eq(policy_category_count(0), 0);
	ck_assert_uint_eq(policy_category_count(0x7), 3);
	ck_assert_uint_eq(policy_category_count(0xf0), 0);
}
END_TEST

static const struct factor_case {
	const char *zone;
	enum store_account_kind kind;
	unsigned factors;
	int uv;
	int ok;
} factor_cases[] = {
	{ "mynumber", STORE_KIND_PERSONAL, POLICY_FACTOR_CARD, 0, 1 },
	{ "mynumber", STORE_KIND_PRIVILEGED, POLICY_FACTOR_CARD, 0, 1 },
	/* Password alone is one category. */
	{ "mynumber", STORE_KIND_PERSONAL, POLICY_FACTOR_PASSWORD, 0, 0 },
	/* Two passwords are still one category (the mask cannot hold two). */
	{ "mynumber", STORE_KIND_PERSONAL, POLICY_FACTOR_PASSWORD |
	    POLICY_FACTOR_PASSWORD, 0, 0 },
	/* FIDO without UV is possession only. */
	{ "mynumber", STORE_KIND_PERSONAL, POLICY_FACTOR_FIDO, 0, 0 },
	{ "mynumber", STORE_KIND_PERSONAL, POLICY_FACTOR_FIDO |
	    POLICY_FACTOR_CARD, 0, 1 },
	{ "mynumber", STORE_KIND_PERSONAL, POLICY_FACTOR_FIDO, 1, 1 },
	/* Password not allowed in the My Number zone of the default file. */
	{ "mynumber", STORE_KIND_PERSONAL, POLICY_FACTOR_FIDO |
	    POLICY_FACTOR_PASSWORD, 0, 0 },
	{ "mynumber", STORE_KIND_PERSONAL, 0, 0, 0 },
	{ "mynumber", STORE_KIND_PERSONAL, 0x8, 1, 0 },
	{ "mynumber", STORE_KIND_COUNT, POLICY_FACTOR_CARD, 0, 0 },
	{ "lgwan", STORE_KIND_PERSONAL, POLICY_FACTOR_PASSWORD, 0, 1 },
	{ "lgwan", STORE_KIND_SHARED, POLICY_FACTOR_PASSWORD, 0, 1 },
	{ "lgwan", STORE_KIND_PRIVILEGED, POLICY_FACTOR_PASSWORD, 0, 0 },
	{ "lgwan", STORE_KIND_PRIVILEGED, POLICY_FACTOR_FIDO |
	    POLICY_FACTOR_PASSWORD, 0, 1 },
	{ "nowhere", STORE_KIND_PERSONAL, POLICY_FACTOR_CARD, 0, 0 },
};

START_TEST(check_factors_table)
{
	const struct factor_case *c = &factor_cases[_i];
	struct policy *p = parse_ok(policy_default_text());
	int r = policy_check_factors(p, c->zone, c->kind, c->factors, c->uv);

	if (c->ok)
		ck_assert_msg(r == 0, "case %d refused", _i);
	else
		ck_assert_msg(r == KAGI_ERR_DENIED, "case %d: %d", _i, r);
	policy_free(p);
}
END_TEST

START_TEST(check_factors_null)
{
	ck_assert_int_eq(policy_check_factors(NULL, "mynumber",
	    STORE_KIND_PERSONAL, POLICY_FACTOR_CARD, 0), KAGI_ERR_DENIED);
}
END_TEST

static const struct policy_lockout lk5 = { 5, 900, 1800 };
static const struct policy_lockout lk3_forever = { 3, 900, 0 };
#define T0 ((int64_t)1800000000)

START_TEST(lockout_threshold_edges)
{
	uint32_t count = 0;
	int64_t first = 0, until = 0;

	/* N-1 failures: not locked. */
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(policy_lockout_fail(&lk5, &count, &first,
		    &until, T0 + i), 0);
	ck_assert_uint_eq(count, 4);
	ck_assert_int_eq(first, T0);
	ck_assert_int_eq(until, 0);
	ck_assert_int_eq(policy_check_locked(until, T0 + 4), 0);
	/* N-th: locked for duration from that failure. */
	ck_assert_int_eq(policy_lockout_fail(&lk5, &count, &first, &until,
	    T0 + 4), 1);
	ck_assert_int_eq(until, T0 + 4 + 1800);
	ck_assert_int_eq(policy_check_locked(until, T0 + 5), KAGI_ERR_LOCKED);
	/* N+1-th within the window: still locked, not shortened. */
	ck_assert_int_eq(policy_lockout_fail(&lk5, &count, &first, &until,
	    T0 + 10), 1);
	ck_assert_int_ge(until, T0 + 4 + 1800);
	/* Boundary second: locked one second before, open at locked_until. */
	ck_assert_int_eq(policy_check_locked(until, until - 1), KAGI_ERR_LOCKED);
	ck_assert_int_eq(policy_check_locked(until, until), 0);
	ck_assert_int_eq(policy_check_locked(0, T0), 0);
}
END_TEST

START_TEST(lockout_failures_spread_beyond_window)
{
	uint32_t count = 0;
	int64_t first = 0, until = 0;

	/* Four failures, then one at exactly first + window: a new count. */
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(policy_lockout_fail(&lk5, &count, &first,
		    &until, T0 + i * 60), 0);
	ck_assert_int_eq(policy_lockout_fail(&lk5, &count, &first, &until,
	    T0 + 900), 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_int_eq(first, T0 + 900);
	/* One second inside the window still counts. */
	count = 4;
	first = T0;
	until = 0;
	ck_assert_int_eq(policy_lockout_fail(&lk5, &count, &first, &until,
	    T0 + 899), 1);
	/* A clock that went back starts a new count. */
	count = 4;
	first = T0;
	until = 0;
	ck_assert_int_eq(policy_lockout_fail(&lk5, &count, &first, &until,
	    T0 - 10), 0);
	ck_assert_uint_eq(count, 1);
}
END_TEST

START_TEST(lockout_duration_zero_until_unlock)
{
	uint32_t count = 0;
	int64_t first = 0, until = 0;

	ck_assert_int_eq(policy_lockout_fail(&lk3_forever, &count, &first,
	    &until, T0), 0);
	ck_assert_int_eq(policy_lockout_fail(&lk3_forever, &count, &first,
	    &until, T0 + 1), 0);
	ck_assert_int_eq(policy_lockout_fail(&lk3_forever, &count, &first,
	    &until, T0 + 2), 1);
	ck_assert_int_eq(until, INT64_MAX);
	ck_assert_int_eq(policy_check_locked(until, INT64_MAX), KAGI_ERR_LOCKED);
	ck_assert_int_eq(policy_check_locked(until, T0 + 10 * 365 * 86400LL),
	    KAGI_ERR_LOCKED);
	/* Later failures never turn it into a timed lock. */
	ck_assert_int_eq(policy_lockout_fail(&lk3_forever, &count, &first,
	    &until, T0 + 5000), 0);
	ck_assert_int_eq(until, INT64_MAX);
}
END_TEST

START_TEST(lockout_after_expired_lock_restarts)
{
	uint32_t count = 5;
	int64_t first = T0, until = T0 + 100;
	const struct policy_lockout shortlock = { 5, 900, 100 };

	/* The lock ended at T0+100; a failure at T0+200 (inside the old
	 * window) counts 1, not 6. */
	ck_assert_int_eq(policy_check_locked(until, T0 + 200), 0);
	ck_assert_int_eq(policy_lockout_fail(&shortlock, &count, &first,
	    &until, T0 + 200), 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_int_eq(until, 0);
	ck_assert_int_eq(policy_lockout_fail(NULL, &count, &first, &until,
	    T0), 0);
}
END_TEST

START_TEST(password_age)
{
	struct policy_password pw = { 0 };

	ck_assert_int_eq(policy_check_password_age(&pw, T0, 1000000,
	    T0 + 3650 * 86400LL), 0);
	pw.max_age_days = 90;
	ck_assert_int_eq(policy_check_password_age(&pw, T0, 0,
	    T0 + 90 * 86400LL - 1), 0);
	ck_assert_int_eq(policy_check_password_age(&pw, T0, 0,
	    T0 + 90 * 86400LL), KAGI_ERR_EXPIRED);
	pw.max_logins = 10;
	ck_assert_int_eq(policy_check_password_age(&pw, T0, 9, T0), 0);
	ck_assert_int_eq(policy_check_password_age(&pw, T0, 10, T0),
	    KAGI_ERR_EXPIRED);
	ck_assert_int_eq(policy_check_password_age(NULL, T0, 0, T0),
	    KAGI_ERR_EXPIRED);
}
END_TEST

START_TEST(password_quality)
{
	struct policy *p = parse_ok(policy_default_text());
	const struct policy_password *pw = policy_password(p,
	    POLICY_TIER_ORDINARY);
	const char *why = NULL;

	ck_assert_int_eq(policy_check_password(pw, "Kx7-fern-Lamp-q", "tanaka",
	    "Tanaka Hanako", &why), 0);
	ck_assert_ptr_null(why);
	ck_assert_int_eq(policy_check_password(pw, "Kx7-fern", "tanaka",
	    NULL, &why), KAGI_ERR_INVALID); /* too short */
	ck_assert_ptr_nonnull(why);
	ck_assert_int_eq(policy_check_password(pw, "kxsevenfernlamp", "t",
	    NULL, &why), KAGI_ERR_INVALID); /* one class */
	ck_assert_int_eq(policy_check_password(pw, "Tanaka-2026-xyz", "tanaka",
	    NULL, &why), KAGI_ERR_INVALID); /* login name */
	ck_assert_int_eq(policy_check_password(pw, "xyHanako-2026!", "suzuki",
	    "Tanaka Hanako", &why), KAGI_ERR_INVALID); /* person name */
	ck_assert_int_eq(policy_check_password(pw, "Password123456", "x",
	    NULL, &why), KAGI_ERR_INVALID); /* common, digits appended */
	ck_assert_int_eq(policy_check_password(pw, "\xff\xfe" "Abcdefgh1234",
	    "x", NULL, &why), KAGI_ERR_INVALID);
	/* Twelve characters, not twelve bytes. */
	ck_assert_int_eq(policy_check_password(pw, "パスワード1Aa", "x", NULL,
	    &why), KAGI_ERR_INVALID);
	ck_assert_int_eq(policy_check_password(pw, "パスワードはとても長い1Aa", "x",
	    NULL, &why), 0);
	policy_free(p);
}
END_TEST

START_TEST(dormant)
{
	struct policy_sweep s = { 3600, 90 };

	ck_assert_int_eq(policy_is_dormant(&s, T0, T0 + 90 * 86400LL - 1), 0);
	ck_assert_int_eq(policy_is_dormant(&s, T0, T0 + 90 * 86400LL), 1);
	s.dormant_days = 0;
	ck_assert_int_eq(policy_is_dormant(&s, 0, T0), 0);
}
END_TEST

START_TEST(tier_for_kind)
{
	ck_assert_int_eq(policy_tier_for_kind(STORE_KIND_PRIVILEGED),
	    POLICY_TIER_PRIVILEGED);
	ck_assert_int_eq(policy_tier_for_kind(STORE_KIND_SHARED),
	    POLICY_TIER_SHARED);
	ck_assert_int_eq(policy_tier_for_kind(STORE_KIND_PERSONAL),
	    POLICY_TIER_ORDINARY);
	ck_assert_int_eq(policy_tier_for_kind(STORE_KIND_CONTRACTOR),
	    POLICY_TIER_ORDINARY);
}
END_TEST

/* ---- parser details ---- */

START_TEST(syntax_details)
{
	struct policy *p = parse_ok("\xef\xbb\xbf; BOM and CRLF\r\n"
	    "[zone.mynumber]\r\n"
	    "banner = Line one ; a comment\r\n"
	    "\r\n"
	    "   line two\r\n"
	    "[password]\r\n"
	    "min_length: 14\r\n"
	    "reject_common = TRUE\r\n");

	ck_assert_str_eq(policy_zone_at(p, 0)->banner, "Line one\nline two");
	ck_assert_uint_eq(policy_password(p, POLICY_TIER_ORDINARY)->min_length,
	    14);
	policy_free(p);
}
END_TEST

START_TEST(errbuf_small_and_null)
{
	struct policy *p = (struct policy *)1;
	char err[8];

	memset(err, 'x', sizeof(err));
	ck_assert_int_lt(policy_parse("[nope]\n", 7, "t.ini", &p, err,
	    sizeof(err)), 0);
	ck_assert_ptr_null(p);
	ck_assert_uint_eq(strlen(err), 7);
	ck_assert_int_lt(policy_parse("[nope]\n", 7, "t.ini", &p, NULL, 0), 0);
	ck_assert_int_lt(policy_parse("", 0, NULL, &p, NULL, 0), 0);
	ck_assert_int_eq(policy_parse("x", 1, "t", NULL, NULL, 0),
	    KAGI_ERR_INVALID);
	policy_free(NULL);
	ck_assert_ptr_null(policy_password(NULL, POLICY_TIER_ORDINARY));
	ck_assert_uint_eq(policy_zone_count(NULL), 0);
}
END_TEST

/* Flipped and truncated defaults: never a crash, never a partial result. */
START_TEST(mutation_never_crashes)
{
	const char *d = policy_default_text();
	size_t n = strlen(d);
	char *buf = malloc(n + 1), err[512];
	unsigned seed = 12345, ok = 0;

	ck_assert_ptr_nonnull(buf);
	for (int i = 0; i < 3000; i++) {
		struct policy *p = (struct policy *)1;
		size_t len = n;
		int r;

		memcpy(buf, d, n + 1);
		seed = seed * 1103515245u + 12345u;
		if (i % 3 == 0)
			len = (seed >> 8) % n;
		else
			buf[(seed >> 8) % n] ^= (char)(1u << ((seed >> 4) & 7));
		r = policy_parse(buf, len, "m.ini", &p, err, sizeof(err));
		if (r == 0) {
			ck_assert_ptr_nonnull(p);
			ok++;
			policy_free(p);
		} else {
			ck_assert_ptr_null(p);
			ck_assert_msg(strncmp(err, "m.ini:", 6) == 0, "%s", err);
		}
	}
	ck_assert_uint_gt(ok, 0);
	free(buf);
}
END_TEST

static Suite *
policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, default_policy_parses_with_documented_values);
	tcase_add_test(tc, omitted_settings_match_default_file);
	tcase_add_test(tc, default_settings_documented);
	tcase_add_loop_test(tc, bad_policy_refused, 0, (int)NBAD);
	tcase_add_test(tc, bad_dir_matches_table);
	tcase_add_test(tc, load_names_the_path);
	tcase_add_test(tc, load_missing_file);
	tcase_add_test(tc, load_default_file);
	tcase_add_test(tc, syntax_details);
	tcase_add_test(tc, errbuf_small_and_null);
	tcase_add_test(tc, mutation_never_crashes);
	suite_add_tcase(s, tc);

	tc = tcase_create("rules");
	tcase_add_test(tc, mfa_floor_per_kind);
	tcase_add_test(tc, mfa_floor_follows_renamed_zone);
	tcase_add_loop_test(tc, privileged_tier_rule, 0,
	    (int)(sizeof(tier_cases) / sizeof(tier_cases[0])));
	suite_add_tcase(s, tc);

	tc = tcase_create("decide");
	tcase_add_test(tc, categories_counted_not_credentials);
	tcase_add_loop_test(tc, check_factors_table, 0,
	    (int)(sizeof(factor_cases) / sizeof(factor_cases[0])));
	tcase_add_test(tc, check_factors_null);
	tcase_add_test(tc, lockout_threshold_edges);
	tcase_add_test(tc, lockout_failures_spread_beyond_window);
	tcase_add_test(tc, lockout_duration_zero_until_unlock);
	tcase_add_test(tc, lockout_after_expired_lock_restarts);
	tcase_add_test(tc, password_age);
	tcase_add_test(tc, password_quality);
	tcase_add_test(tc, dormant);
	tcase_add_test(tc, tier_for_kind);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(policy_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
