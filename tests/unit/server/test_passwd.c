/*
 * kagid passwords and password logins (server/passwd.c), with the clock
 * passed in: R-PW-2, R-PW-4, R-PW-6, R-PW-7, R-PW-9, R-PW-11, R-LOGIN-2,
 * R-LOGIN-4, R-PRIV-5.  Also the [roles] section (policy/roles.c) and the
 * members codec (store/members.c) that the ID API relies on.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kagi/err.h"
#include "kagi/kbuf.h"
#include "kagi/policy.h"
#include "kagi/secmem.h"
#include "kagi/store.h"
#include "passwd.h"

#define T0 1700000000LL
#define MIN 60
#define HOUR 3600
#define DAY 86400

static const char base_policy[] =
    "[zone.mynumber]\n"
    "[password]\nhash_cost = 1\n"
    "[password.privileged]\nhash_cost = 1\n";

static struct policy *
pol(const char *extra)
{
	char text[32768], err[512];
	struct policy *p = NULL;
	int r;

	/* the whole text: a truncated policy would test something else */
	r = snprintf(text, sizeof(text), "%s%s", extra != NULL ? extra : "",
	    extra != NULL ? "" : base_policy);
	ck_assert(r > 0 && (size_t)r < sizeof(text));
	r = policy_parse(text, strlen(text), "t.ini", &p, err, sizeof(err));
	ck_assert_msg(r == 0, "policy refused: %s", err);
	return p;
}

static char *
hash_of(const char *pw)
{
	char *h = NULL;

	ck_assert_int_eq(kagid_pw_hash(pw, 1, &h), 0);
	return h;
}

/* An account with password `pw` set at T0 (temporary or not). */
static void
acct(struct store_account *a, enum store_account_kind kind, const char *pw,
    int temp)
{
	memset(a, 0, sizeof(*a));
	a->login = strdup("yamada");
	a->staff_no = strdup("1001");
	a->kind = (uint8_t)kind;
	a->state = STORE_ACCT_ACTIVE;
	a->pw_hash = hash_of(pw);
	a->pw_temp = temp ? 1 : 0;
	a->pw_temp_expires = temp ? T0 + 72 * HOUR : 0;
	a->pw_changed = T0;
	a->last_login_terminal = strdup("");
	ck_assert_ptr_nonnull(a->login);
}

/* One login attempt at `now` with the right or a wrong password. */
static int
attempt(const struct policy *p, struct store_account *a, int right,
    int64_t now, struct kagid_login_info *info)
{
	int changed = 0, r;

	r = kagid_login_precheck(a, now);
	if (r != 0)
		return r;
	r = kagid_login_record(p, a, right, "pc-01", now, info, &changed);
	ck_assert_int_eq(changed, r == KAGI_ERR_EXPIRED ? 0 : 1);
	return r;
}

/* ---- hashing ---- */

START_TEST(yescrypt_roundtrip)
{
	char *h = hash_of("Kaede-Leaf-2031"), *h2 = hash_of("Kaede-Leaf-2031");

	ck_assert_str_eq(strncmp(h, "$y$", 3) == 0 ? "y" : h, "y");
	ck_assert_str_ne(h, h2); /* salted */
	ck_assert_int_eq(kagid_pw_verify("Kaede-Leaf-2031", h), 0);
	ck_assert_int_eq(kagid_pw_verify("kaede-Leaf-2031", h), KAGI_ERR_AUTH);
	ck_assert_int_eq(kagid_pw_verify("", h), KAGI_ERR_AUTH);
	free(h);
	free(h2);
}
END_TEST

START_TEST(junk_hash_never_matches)
{
	ck_assert_int_eq(kagid_pw_verify("x", ""), KAGI_ERR_AUTH);
	ck_assert_int_eq(kagid_pw_verify("x", "x"), KAGI_ERR_AUTH);
	ck_assert_int_eq(kagid_pw_verify("x", "$1$abc$def"), KAGI_ERR_AUTH);
	ck_assert_int_eq(kagid_pw_verify("x", "$y$"), KAGI_ERR_AUTH);
	ck_assert_int_eq(kagid_pw_verify(NULL, "$y$"), KAGI_ERR_AUTH);
}
END_TEST

START_TEST(bad_cost_refused)
{
	char *h = (char *)1;

	ck_assert_int_eq(kagid_pw_hash("x", 0, &h), KAGI_ERR_INVALID);
	ck_assert_ptr_null(h);
	ck_assert_int_eq(kagid_pw_hash("x", 12, &h), KAGI_ERR_INVALID);
}
END_TEST

START_TEST(oversize_password_refused)
{
	char big[KAGID_PW_MAX_BYTES + 2], *h = NULL;

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(kagid_pw_hash(big, 1, &h), KAGI_ERR_LIMIT);
	ck_assert_int_eq(kagid_pw_verify(big, "$y$j9T$x$y"), KAGI_ERR_AUTH);
}
END_TEST

START_TEST(temp_password_readable_alphabet)
{
	for (int i = 0; i < 300; i++) {
		char *t = NULL;
		unsigned cls = 0;
		ck_assert_int_eq(kagid_pw_temp_new(12, &t), 0);
		ck_assert_uint_eq(strlen(t), 12);
		for (const char *c = t; *c; c++) {
			ck_assert_msg(strchr(KAGID_PW_TEMP_ALPHABET, *c) != NULL,
			    "char %c", *c);
			ck_assert_msg(strchr("0O1lI", *c) == NULL, "char %c", *c);
			cls |= (*c >= 'a' && *c <= 'z') ? 1u :
			    (*c >= 'A' && *c <= 'Z') ? 2u : 4u;
		}
		ck_assert_uint_eq(cls, 7);
		kagi_secure_strfree(t);
	}
	{
		char *t = (char *)1;
		ck_assert_int_eq(kagid_pw_temp_new(7, &t), KAGI_ERR_INVALID);
		ck_assert_ptr_null(t);
	}
}
END_TEST

/* ---- rules (R-PW-2, R-PW-4, R-PW-6) ---- */

static struct {
	const char *password;
	const char *rules; /* broken rules, space separated, in order */
} rule_table[] = {
	{ "Kaede-Leaf-2031", "" },
	{ "Ab1!x", "min_length" },
	{ "abcdefghijkmnpq", "min_classes" },
	{ "Xyamada-2031!!", "login_name" },
	{ "Taro-Kaede-2031", "person_name" },
	{ "Qwertyuiop123!", "common" },
	{ "Sakura2024!!!!", "common" },
	{ "!!Doraemon-1234", "common" },
	{ "password", "min_length min_classes common" },
	{ "yamada", "min_length min_classes login_name common" },
	{ "\xff\xfe-Kaede-2031", "utf8" },
	{ "Temp-Given-2031", "temporary" },
	{ "Older-Pass-2030", "history" },
};

static void
rules_of(json_t *faults, char *buf, size_t len)
{
	size_t i, off = 0;
	json_t *v;

	buf[0] = '\0';
	json_array_foreach(faults, i, v) {
		const char *m = json_string_value(json_object_get(v, "message"));
		ck_assert_msg(m != NULL && m[0] != '\0', "fault without text");
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
		    off ? " " : "", json_string_value(json_object_get(v,
		    "rule")));
	}
}

START_TEST(each_rule_reported)
{
	struct policy *p = pol(NULL);
	struct store_account a;
	struct kagid_pw_rules c;
	json_t *faults = NULL;
	char got[256];
	int r;

	acct(&a, STORE_KIND_PERSONAL, "Temp-Given-2031", 1);
	/* an earlier password in the history */
	a.pw_history[0] = hash_of("Older-Pass-2030");
	a.pw_history_n = 1;
	memset(&c, 0, sizeof(c));
	c.pw = policy_password(p, POLICY_TIER_ORDINARY);
	c.login = "yamada";
	c.person_name = "Suzuki Taro";
	c.a = &a;
	c.history = 5;
	c.current = "Temp-Given-2031";
	c.current_is_temp = 1;
	r = kagid_pw_check_new(&c, rule_table[_i].password, &faults);
	rules_of(faults, got, sizeof(got));
	ck_assert_msg(strcmp(got, rule_table[_i].rules) == 0,
	    "%s: got [%s] want [%s]", rule_table[_i].password, got,
	    rule_table[_i].rules);
	ck_assert_int_eq(r, rule_table[_i].rules[0] ? KAGI_ERR_INVALID : 0);
	if (r == 0)
		ck_assert_ptr_null(faults);
	json_decref(faults);
	store_account_clear(&a);
	policy_free(p);
}
END_TEST

START_TEST(max_length_reported)
{
	struct policy *p = pol(NULL);
	struct kagid_pw_rules c;
	char big[KAGID_PW_MAX_BYTES + 10], got[128];
	json_t *faults = NULL;

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memset(&c, 0, sizeof(c));
	c.pw = policy_password(p, POLICY_TIER_ORDINARY);
	ck_assert_int_eq(kagid_pw_check_new(&c, big, &faults),
	    KAGI_ERR_INVALID);
	rules_of(faults, got, sizeof(got));
	ck_assert_str_eq(got, "max_length");
	json_decref(faults);
	policy_free(p);
}
END_TEST

START_TEST(deployment_list_refuses)
{
	struct policy *p = pol(NULL);
	struct kagid_pw_rules c;
	static const char extra[] = "# ward words\nkasumigaseki\r\nsetagaya\n";
	json_t *faults = NULL;
	char got[128];

	memset(&c, 0, sizeof(c));
	c.pw = policy_password(p, POLICY_TIER_ORDINARY);
	ck_assert_int_eq(kagid_pw_check_new(&c, "Kasumigaseki-2031", &faults),
	    0);
	c.extra_common = extra;
	c.extra_common_len = strlen(extra);
	ck_assert_int_eq(kagid_pw_check_new(&c, "Kasumigaseki-2031", &faults),
	    KAGI_ERR_INVALID);
	rules_of(faults, got, sizeof(got));
	ck_assert_str_eq(got, "common");
	json_decref(faults);
	ck_assert_int_eq(kagid_pw_is_common("# ward words", extra,
	    strlen(extra)), 0);
	policy_free(p);
}
END_TEST

/* history = N refuses the current and the last N; the N+1st is allowed */
START_TEST(history_reuse_refused)
{
	struct policy *p = pol(NULL);
	struct store_account a;
	struct kagid_pw_rules c;
	json_t *faults = NULL;
	const char *pws[] = { "Pass-Number-01a", "Pass-Number-02a",
	    "Pass-Number-03a", "Pass-Number-04a" };

	acct(&a, STORE_KIND_PERSONAL, pws[0], 0);
	for (int i = 1; i < 4; i++)
		ck_assert_int_eq(kagid_pw_set(&a, hash_of(pws[i]), 2, 0, 0,
		    T0 + i), 0);
	/* current = 04, history = [03, 02] (kept to 2) */
	ck_assert_uint_eq(a.pw_history_n, 2);
	memset(&c, 0, sizeof(c));
	c.pw = policy_password(p, POLICY_TIER_ORDINARY);
	c.a = &a;
	c.history = 2;
	for (int i = 1; i < 4; i++) {
		ck_assert_int_eq(kagid_pw_check_new(&c, pws[i], &faults),
		    KAGI_ERR_INVALID);
		json_decref(faults);
	}
	ck_assert_int_eq(kagid_pw_check_new(&c, pws[0], &faults), 0);
	store_account_clear(&a);
	policy_free(p);
}
END_TEST

START_TEST(temp_never_in_history)
{
	struct store_account a;

	acct(&a, STORE_KIND_PERSONAL, "Temp-Given-2031", 1);
	ck_assert_int_eq(kagid_pw_set(&a, hash_of("Kaede-Leaf-2031"), 5, 0, 0,
	    T0 + 10), 0);
	ck_assert_uint_eq(a.pw_history_n, 0);
	ck_assert_uint_eq(a.pw_temp, 0);
	ck_assert_int_eq(a.pw_changed, T0 + 10);
	/* a reset pushes the real password, then the temp is not kept */
	ck_assert_int_eq(kagid_pw_set(&a, hash_of("Temp-Again-2031"), 5, 1,
	    T0 + 72 * HOUR, T0 + 20), 0);
	ck_assert_uint_eq(a.pw_history_n, 1);
	ck_assert_int_eq(kagid_pw_verify("Kaede-Leaf-2031", a.pw_history[0]),
	    0);
	ck_assert_int_eq(kagid_pw_set(&a, hash_of("Kaede-Leaf-2032"), 5, 0, 0,
	    T0 + 30), 0);
	ck_assert_uint_eq(a.pw_history_n, 1);
	store_account_clear(&a);
}
END_TEST

/* ---- lockout (R-LOGIN-2) ---- */

/* ordinary tier: 5 failures in 15 min lock for 30 min */
START_TEST(lockout_edges)
{
	struct policy *p = pol(NULL);
	struct store_account a;
	struct kagid_login_info info;
	int64_t t = T0;

	acct(&a, STORE_KIND_PERSONAL, "Kaede-Leaf-2031", 0);
	for (int i = 1; i <= 4; i++) {
		ck_assert_int_eq(attempt(p, &a, 0, t + i, &info), KAGI_ERR_AUTH);
		ck_assert_int_eq(info.locked_now, 0);
	}
	/* N-1 failures: the right password still works and shows 4 */
	{
		struct store_account b;
		acct(&b, STORE_KIND_PERSONAL, "Kaede-Leaf-2031", 0);
		for (int i = 1; i <= 4; i++)
			ck_assert_int_eq(attempt(p, &b, 0, t + i, &info),
			    KAGI_ERR_AUTH);
		ck_assert_int_eq(attempt(p, &b, 1, t + 5, &info), 0);
		ck_assert_uint_eq(info.failed_since, 4);
		ck_assert_uint_eq(b.failed_count, 0);
		store_account_clear(&b);
	}
	/* N: locks */
	ck_assert_int_eq(attempt(p, &a, 0, t + 5, &info), KAGI_ERR_AUTH);
	ck_assert_int_eq(info.locked_now, 1);
	ck_assert_int_eq(a.locked_until, t + 5 + 30 * MIN);
	/* N+1: refused even with the right password */
	ck_assert_int_eq(attempt(p, &a, 1, t + 6, &info), KAGI_ERR_LOCKED);
	ck_assert_int_eq(attempt(p, &a, 1, t + 5 + 30 * MIN - 1, &info),
	    KAGI_ERR_LOCKED);
	/* the lock ends; the count since the last login is shown (R-LOGIN-4) */
	ck_assert_int_eq(attempt(p, &a, 1, t + 5 + 30 * MIN, &info), 0);
	ck_assert_uint_eq(info.failed_since, 5);
	ck_assert_int_eq(a.locked_until, 0);
	ck_assert_int_eq(attempt(p, &a, 1, t + 5 + 31 * MIN, &info), 0);
	ck_assert_uint_eq(info.failed_since, 0);
	ck_assert_int_eq(info.last_login, t + 5 + 30 * MIN);
	ck_assert_str_eq(info.last_login_terminal, "pc-01");
	store_account_clear(&a);
	policy_free(p);
}
END_TEST

START_TEST(lockout_window_expiry)
{
	struct policy *p = pol(NULL);
	struct store_account a;
	struct kagid_login_info info;

	acct(&a, STORE_KIND_PERSONAL, "Kaede-Leaf-2031", 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(attempt(p, &a, 0, T0 + i, &info),
		    KAGI_ERR_AUTH);
	/* the 5th failure falls outside the 15-minute window: a new count */
	ck_assert_int_eq(attempt(p, &a, 0, T0 + 15 * MIN, &info),
	    KAGI_ERR_AUTH);
	ck_assert_int_eq(info.locked_now, 0);
	ck_assert_uint_eq(a.failed_count, 1);
	ck_assert_uint_eq(a.failed_since_login, 5);
	ck_assert_int_eq(kagid_login_precheck(&a, T0 + 15 * MIN), 0);
	store_account_clear(&a);
	policy_free(p);
}
END_TEST

/* privileged tier: 3 failures lock until an operator unlocks (R-PRIV-5) */
START_TEST(privileged_tier_stricter)
{
	struct policy *p = pol(NULL);
	struct store_account a, o;
	struct kagid_login_info info;

	acct(&a, STORE_KIND_PRIVILEGED, "Kaede-Leaf-2031-Adm", 0);
	acct(&o, STORE_KIND_PERSONAL, "Kaede-Leaf-2031-Adm", 0);
	for (int i = 1; i <= 3; i++) {
		ck_assert_int_eq(attempt(p, &a, 0, T0 + i, &info),
		    KAGI_ERR_AUTH);
		ck_assert_int_eq(attempt(p, &o, 0, T0 + i, &info),
		    KAGI_ERR_AUTH);
	}
	ck_assert_int_eq(a.locked_until, INT64_MAX);
	ck_assert_int_eq(o.locked_until, 0);
	ck_assert_int_eq(attempt(p, &a, 1, T0 + 365 * DAY, &info),
	    KAGI_ERR_LOCKED);
	/* kagi user unlock clears the counters and the lock */
	a.failed_count = 0;
	a.failed_first = 0;
	a.locked_until = 0;
	ck_assert_int_eq(attempt(p, &a, 1, T0 + 2 * HOUR, &info), 0);
	ck_assert_uint_eq(info.failed_since, 3);
	store_account_clear(&a);
	store_account_clear(&o);
	policy_free(p);
}
END_TEST

/* ---- temporary passwords and forced changes (R-PW-6, R-PW-7, R-PW-4) ---- */

START_TEST(temp_password_forces_change_then_expires)
{
	struct policy *p = pol(NULL);
	struct store_account a;
	struct kagid_login_info info;

	acct(&a, STORE_KIND_PERSONAL, "Temp-Given-2031", 1);
	ck_assert_int_eq(attempt(p, &a, 1, T0 + 72 * HOUR - 1, &info),
	    KAGI_ERR_MUST_CHANGE);
	ck_assert_str_eq(info.must_change, "temporary");
	ck_assert_uint_eq(a.pw_logins, 0);
	ck_assert_int_eq(attempt(p, &a, 1, T0 + 72 * HOUR, &info),
	    KAGI_ERR_EXPIRED);
	/* a wrong password is still a failure after expiry */
	ck_assert_int_eq(attempt(p, &a, 0, T0 + 73 * HOUR, &info),
	    KAGI_ERR_AUTH);
	store_account_clear(&a);
	policy_free(p);
}
END_TEST

START_TEST(max_age_forces_change)
{
	struct policy *p = pol(NULL);
	struct store_account a;
	struct kagid_login_info info;

	/* privileged: max_age 90d by default */
	acct(&a, STORE_KIND_PRIVILEGED, "Kaede-Leaf-2031-Adm", 0);
	ck_assert_int_eq(attempt(p, &a, 1, T0 + 90 * DAY - 1, &info), 0);
	ck_assert_int_eq(attempt(p, &a, 1, T0 + 90 * DAY, &info),
	    KAGI_ERR_MUST_CHANGE);
	ck_assert_str_eq(info.must_change, "expired");
	store_account_clear(&a);
	policy_free(p);
}
END_TEST

START_TEST(max_logins_forces_change)
{
	struct policy *p = pol("[zone.mynumber]\n[password]\nhash_cost = 1\n"
	    "max_logins = 3\n[password.privileged]\nhash_cost = 1\n"
	    "max_logins = 3\n");
	struct store_account a;
	struct kagid_login_info info;

	acct(&a, STORE_KIND_PERSONAL, "Kaede-Leaf-2031", 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(attempt(p, &a, 1, T0 + i, &info), 0);
	ck_assert_int_eq(attempt(p, &a, 1, T0 + 3, &info),
	    KAGI_ERR_MUST_CHANGE);
	ck_assert_str_eq(info.must_change, "expired");
	store_account_clear(&a);
	policy_free(p);
}
END_TEST

START_TEST(shared_rotation_forces_change)
{
	struct policy *p = pol(NULL);
	struct store_account a;
	struct kagid_login_info info;

	acct(&a, STORE_KIND_SHARED, "Kaede-Leaf-2031", 0);
	a.pw_rotate = 1;
	ck_assert_int_eq(attempt(p, &a, 1, T0, &info), KAGI_ERR_MUST_CHANGE);
	ck_assert_str_eq(info.must_change, "rotate");
	ck_assert_int_eq(kagid_pw_set(&a, hash_of("Kaede-Leaf-2032"), 5, 0, 0,
	    T0 + 1), 0);
	ck_assert_uint_eq(a.pw_rotate, 0);
	ck_assert_int_eq(attempt(p, &a, 1, T0 + 2, &info), 0);
	store_account_clear(&a);
	policy_free(p);
}
END_TEST

START_TEST(disabled_and_ended_refused)
{
	struct policy *p = pol(NULL);
	struct store_account a;
	struct kagid_login_info info;

	acct(&a, STORE_KIND_DEVELOPMENT, "Kaede-Leaf-2031", 0);
	a.end_date = T0 + DAY;
	ck_assert_int_eq(attempt(p, &a, 1, T0 + DAY - 1, &info), 0);
	ck_assert_int_eq(attempt(p, &a, 1, T0 + DAY, &info), KAGI_ERR_EXPIRED);
	a.end_date = 0;
	a.state = STORE_ACCT_DISABLED;
	ck_assert_int_eq(attempt(p, &a, 1, T0, &info), KAGI_ERR_DENIED);
	a.state = STORE_ACCT_DELETED;
	ck_assert_int_eq(kagid_login_precheck(&a, T0), KAGI_ERR_DENIED);
	store_account_clear(&a);
	policy_free(p);
}
END_TEST

/* ---- [roles] ---- */

START_TEST(roles_defaults_and_override)
{
	struct policy *p = pol(NULL), *q;
	uint32_t roles = 0;

	ck_assert_int_eq(policy_action_roles(p, "user.add", &roles), 0);
	ck_assert_uint_eq(roles, POLICY_ROLE_OPERATOR);
	ck_assert_int_eq(policy_action_roles(p, "user.reset-password", &roles),
	    0);
	ck_assert_uint_eq(roles, POLICY_ROLE_HELPDESK | POLICY_ROLE_OPERATOR);
	ck_assert_int_eq(policy_action_roles(p, "priv.approve-delegate",
	    &roles), 0);
	ck_assert_uint_eq(roles, POLICY_ROLE_CISO);
	ck_assert_int_eq(policy_action_roles(p, "no.such", &roles),
	    KAGI_ERR_NOT_FOUND);
	q = pol("[zone.mynumber]\n[password]\nhash_cost = 1\n"
	    "[password.privileged]\nhash_cost = 1\n[roles]\n"
	    "user.add = HR, ciso\nuser.delete = none\n");
	ck_assert_int_eq(policy_action_roles(q, "user.add", &roles), 0);
	ck_assert_uint_eq(roles, POLICY_ROLE_HR | POLICY_ROLE_CISO);
	ck_assert_int_eq(policy_action_roles(q, "user.delete", &roles), 0);
	ck_assert_uint_eq(roles, 0);
	policy_free(p);
	policy_free(q);
	/* the shipped policy.ini sets every action to its default */
	p = pol(policy_default_text());
	q = pol(NULL);
	for (size_t i = 0; policy_action_at(i) != NULL; i++) {
		uint32_t a = 0, b = 0;
		ck_assert_int_eq(policy_action_roles(p, policy_action_at(i),
		    &a), 0);
		ck_assert_int_eq(policy_action_roles(q, policy_action_at(i),
		    &b), 0);
		ck_assert_msg(a == b, "%s differs", policy_action_at(i));
	}
	policy_free(p);
	policy_free(q);
}
END_TEST

static const struct {
	const char *text;
	const char *msg;
} bad_roles[] = {
	{ "[roles]\nuser.ad = operator\n", "t.ini:2: [roles] user.ad:" },
	{ "[roles]\nuser.add = boss\n", "t.ini:2: [roles] user.add:" },
	{ "[roles]\nuser.add = operator,\n", "t.ini:2: [roles] user.add:" },
	{ "[roles]\nuser.add = operator, operator\n",
	  "t.ini:2: [roles] user.add:" },
	{ "[roles]\nuser.add = none, ciso\n", "t.ini:2: [roles] user.add:" },
	{ "[roles]\nuser.add = ciso\n\nuser.add = hr\n",
	  "t.ini:4: [roles] user.add:" },
	{ "[general]\ncommon_list = relative.txt\n",
	  "t.ini:2: [general] common_list:" },
};

START_TEST(bad_roles_refused_with_line)
{
	char text[512], err[512];
	struct policy *p = (struct policy *)1;

	snprintf(text, sizeof(text), "%s[zone.mynumber]\n", bad_roles[_i].text);
	ck_assert_int_ne(policy_parse(text, strlen(text), "t.ini", &p, err,
	    sizeof(err)), 0);
	ck_assert_ptr_null(p);
	ck_assert_msg(strncmp(err, bad_roles[_i].msg,
	    strlen(bad_roles[_i].msg)) == 0, "got: %s", err);
}
END_TEST

START_TEST(common_list_setting)
{
	struct policy *p = pol(NULL);

	ck_assert_ptr_null(policy_common_list(p));
	policy_free(p);
	p = pol("[general]\ncommon_list = /srv/kagi/common.txt\n"
	    "[zone.mynumber]\n[password]\nhash_cost = 1\n"
	    "[password.privileged]\nhash_cost = 1\n");
	ck_assert_str_eq(policy_common_list(p), "/srv/kagi/common.txt");
	policy_free(p);
}
END_TEST

/* ---- members codec ---- */

START_TEST(member_roundtrip_and_junk)
{
	struct store_member m = { (char *)"kyoyu", (char *)"yamada", T0 }, d;
	struct kbuf *b = kbuf_new(1024);
	const uint8_t *p;
	size_t n;

	ck_assert_int_eq(store_member_encode(&m, b), 0);
	p = kbuf_ptr(b);
	n = kbuf_len(b);
	ck_assert_int_eq(store_member_decode(p, n, &d), 0);
	ck_assert_str_eq(d.shared, "kyoyu");
	ck_assert_str_eq(d.member, "yamada");
	ck_assert_int_eq(d.added, T0);
	store_member_clear(&d);
	/* truncated, trailing, flipped: never a different member */
	for (size_t i = 0; i < n; i++)
		ck_assert_int_ne(store_member_decode(p, i, &d), 0);
	{
		uint8_t buf[256];
		memcpy(buf, p, n);
		buf[n] = 0;
		ck_assert_int_eq(store_member_decode(buf, n + 1, &d),
		    KAGI_ERR_TRAILING);
		buf[0] = 2;
		ck_assert_int_eq(store_member_decode(buf, n, &d),
		    KAGI_ERR_VERSION);
	}
	m.member = (char *)"kyoyu"; /* a shared ID is not its own member */
	ck_assert_int_eq(store_member_encode(&m, b), KAGI_ERR_INVALID);
	m.member = (char *)"bad/name";
	ck_assert_int_eq(store_member_encode(&m, b), KAGI_ERR_INVALID);
	kbuf_free(b);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("id_passwd");
	TCase *tc = tcase_create("all");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, yescrypt_roundtrip);
	tcase_add_test(tc, junk_hash_never_matches);
	tcase_add_test(tc, bad_cost_refused);
	tcase_add_test(tc, oversize_password_refused);
	tcase_add_test(tc, temp_password_readable_alphabet);
	tcase_add_loop_test(tc, each_rule_reported, 0,
	    (int)(sizeof(rule_table) / sizeof(rule_table[0])));
	tcase_add_test(tc, max_length_reported);
	tcase_add_test(tc, deployment_list_refuses);
	tcase_add_test(tc, history_reuse_refused);
	tcase_add_test(tc, temp_never_in_history);
	tcase_add_test(tc, lockout_edges);
	tcase_add_test(tc, lockout_window_expiry);
	tcase_add_test(tc, privileged_tier_stricter);
	tcase_add_test(tc, temp_password_forces_change_then_expires);
	tcase_add_test(tc, max_age_forces_change);
	tcase_add_test(tc, max_logins_forces_change);
	tcase_add_test(tc, shared_rotation_forces_change);
	tcase_add_test(tc, disabled_and_ended_refused);
	tcase_add_test(tc, roles_defaults_and_override);
	tcase_add_loop_test(tc, bad_roles_refused_with_line, 0,
	    (int)(sizeof(bad_roles) / sizeof(bad_roles[0])));
	tcase_add_test(tc, common_list_setting);
	tcase_add_test(tc, member_roundtrip_and_junk);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
