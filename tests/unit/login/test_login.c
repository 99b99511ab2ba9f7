/*
 * Terminal login decisions (server/login.c) with the clock and every
 * verification outcome injected: the decision table (each refusal and the
 * success paths per zone), the challenge rule, the signed-data hash, the
 * finish body parser and the challenge/session records (store/challenges.c).
 * Requirements: R-MFA-1..3, R-LOGIN-1..4, R-PW-6, R-PRIV-7, R-ID-7,
 * R-TERM-1, R-ZONE-4.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "kagi/err.h"
#include "kagi/kbuf.h"
#include "kagi/policy.h"
#include "kagi/store.h"
#include "login.h"

#define NOW 1800000000LL
#define HOUR 3600
#define A LOGIN_ABSENT

/* mynumber: card, fido (2 categories); lgwan: card, fido, password
 * (1 category, privileged 2); mn2 allows passwords in a My Number zone so
 * the category floor is what refuses a password alone. */
static const char policy_text[] =
    "[general]\nmynumber_zone = mynumber\n"
    "[zone.mynumber]\nfactors = card, fido\nmin_categories = 2\n"
    "fido_uv = required\n"
    "[zone.lgwan]\nfactors = card, fido, password\nmin_categories = 1\n"
    "min_categories.privileged = 2\nfido_uv = preferred\n"
    "[password]\nhash_cost = 1\n[password.privileged]\nhash_cost = 1\n"
    "[lockout]\nthreshold = 3\nwindow = 15m\nduration = 30m\n";

static const char policy_mn2[] =
    "[general]\nmynumber_zone = mn2\n"
    "[zone.mn2]\npolicy_oid = 1.2.3.4\nfactors = card, fido, password\n"
    "min_categories = 2\n";

static struct policy *
pol(const char *text)
{
	struct policy *p = NULL;
	char err[512];
	int r = policy_parse(text, strlen(text), "t.ini", &p, err,
	    sizeof(err));

	ck_assert_msg(r == 0, "policy refused: %s", err);
	return p;
}

static void
mk_acct(struct store_account *a, const char *login,
    enum store_account_kind kind)
{
	memset(a, 0, sizeof(*a));
	a->login = strdup(login);
	a->staff_no = strdup("1001");
	a->pw_hash = strdup("");
	a->kind = (uint8_t)kind;
	a->state = STORE_ACCT_ACTIVE;
	a->pw_changed = NOW - 10 * 86400;
	a->last_login = NOW - 86400;
	a->last_login_terminal = strdup("t-old");
	a->last_logout = NOW - 80000;
	a->failed_since_login = 2;
	a->created = NOW - 100 * 86400;
	ck_assert_ptr_nonnull(a->login);
}

/* ---- the decision table ---- */

enum fix {
	F_NONE = 0,
	F_DISABLED,
	F_ENDED,          /* end_date passed */
	F_LOCKED,
	F_TEMP,           /* temporary password, still valid */
	F_TEMP_EXPIRED,
	F_LOCKED_PAST,    /* a lock that ran out: login clears it */
};

struct row {
	const char *name;
	const char *zone;
	enum store_account_kind kind;
	enum fix fix;
	int card, fido, fido_uv, password;
	const char *member;
	int member_listed;
	int member_state;    /* -1: no member account */
	int priv_rc;
	int64_t priv_end;
	int want;
	const char *why;
	int counted;
	unsigned cats;
};

#define KP STORE_KIND_PERSONAL
#define KS STORE_KIND_SHARED
#define KV STORE_KIND_PRIVILEGED
#define CK POLICY_CAT_KNOWLEDGE
#define CP POLICY_CAT_POSSESSION

static const struct row rows[] = {
	/* success paths per zone */
	{ "card_pin_mynumber", "mynumber", KP, F_NONE, 0, A, 0, A, NULL, 0, -1,
	  0, 0, 0, "ok", 0, CK | CP },
	{ "fido_uv_mynumber", "mynumber", KP, F_NONE, A, 0, 1, A, NULL, 0, -1,
	  0, 0, 0, "ok", 0, CK | CP },
	{ "password_fido_lgwan", "lgwan", KP, F_NONE, A, 0, 0, 0, NULL, 0, -1,
	  0, 0, 0, "ok", 0, CK | CP },
	{ "password_card_lgwan", "lgwan", KP, F_NONE, 0, A, 0, 0, NULL, 0, -1,
	  0, 0, 0, "ok", 0, CK | CP },
	{ "password_alone_lgwan", "lgwan", KP, F_NONE, A, A, 0, 0, NULL, 0, -1,
	  0, 0, 0, "ok", 0, CK },
	{ "privileged_inside_window", "lgwan", KV, F_NONE, 0, A, 0, A, NULL, 0,
	  -1, 0, NOW + HOUR, 0, "ok", 0, CK | CP },
	{ "shared_with_member_card", "lgwan", KS, F_NONE, 0, A, 0, A, "suzuki",
	  1, STORE_ACCT_ACTIVE, 0, 0, 0, "ok", 0, CK | CP },
	{ "expired_lock_cleared", "mynumber", KP, F_LOCKED_PAST, 0, A, 0, A,
	  NULL, 0, -1, 0, 0, 0, "ok", 0, CK | CP },
	{ "temp_password_must_change", "lgwan", KP, F_TEMP, A, A, 0, 0, NULL,
	  0, -1, 0, 0, KAGI_ERR_MUST_CHANGE, "temporary", 0, CK },
	{ "temp_password_card_only_ok", "mynumber", KP, F_TEMP, 0, A, 0, A,
	  NULL, 0, -1, 0, 0, 0, "ok", 0, CK | CP },
	/* refusals: account */
	{ "disabled_account", "mynumber", KP, F_DISABLED, 0, A, 0, A, NULL, 0,
	  -1, 0, 0, KAGI_ERR_DENIED, "account_disabled", 0, 0 },
	{ "account_end_date_passed", "mynumber", KP, F_ENDED, 0, A, 0, A, NULL,
	  0, -1, 0, 0, KAGI_ERR_EXPIRED, "account_expired", 0, 0 },
	{ "locked_account", "mynumber", KP, F_LOCKED, 0, A, 0, A, NULL, 0, -1,
	  0, 0, KAGI_ERR_LOCKED, "account_locked", 0, 0 },
	{ "locked_account_bad_password_not_counted", "lgwan", KP, F_LOCKED, A,
	  A, 0, KAGI_ERR_AUTH, NULL, 0, -1, 0, 0, KAGI_ERR_LOCKED,
	  "account_locked", 0, 0 },
	{ "temp_password_expired", "lgwan", KP, F_TEMP_EXPIRED, A, A, 0, 0,
	  NULL, 0, -1, 0, 0, KAGI_ERR_EXPIRED, "temp_password_expired", 0, CK },
	/* refusals: factors */
	{ "no_factor", "mynumber", KP, F_NONE, A, A, 0, A, NULL, 0, -1, 0, 0,
	  KAGI_ERR_DENIED, "no_factor", 0, 0 },
	{ "password_alone_mynumber", "mynumber", KP, F_NONE, A, A, 0, 0, NULL,
	  0, -1, 0, 0, KAGI_ERR_DENIED, "not_enough_factors", 0, CK },
	{ "fido_without_uv_mynumber", "mynumber", KP, F_NONE, A, 0, 0, A, NULL,
	  0, -1, 0, 0, KAGI_ERR_DENIED, "not_enough_factors", 0, CP },
	{ "wrong_card_signature", "mynumber", KP, F_NONE, KAGI_ERR_AUTH, A, 0,
	  A, NULL, 0, -1, 0, 0, KAGI_ERR_AUTH, "card_signature", 1, 0 },
	{ "card_revoked", "mynumber", KP, F_NONE, KAGI_ERR_REVOKED, A, 0, A,
	  NULL, 0, -1, 0, 0, KAGI_ERR_REVOKED, "card_cert_revoked", 0, 0 },
	{ "card_on_hold", "mynumber", KP, F_NONE, KAGI_ERR_REVOKED, A, 0, A,
	  NULL, 0, -1, 0, 0, KAGI_ERR_REVOKED, "card_cert_hold", 0, 0 },
	{ "card_other_ca", "mynumber", KP, F_NONE, KAGI_ERR_AUTH, A, 0, A,
	  NULL, 0, -1, 0, 0, KAGI_ERR_AUTH, "card_cert_other_ca", 1, 0 },
	{ "card_other_account", "mynumber", KP, F_NONE, KAGI_ERR_AUTH, A, 0, A,
	  NULL, 0, -1, 0, 0, KAGI_ERR_AUTH, "card_cert_other_account", 1, 0 },
	{ "fido_counter_not_increased", "mynumber", KP, F_NONE, A,
	  KAGI_ERR_SIG, 0, A, NULL, 0, -1, 0, 0, KAGI_ERR_SIG,
	  "fido_clone_suspected", 0, 0 },
	{ "fido_without_up", "mynumber", KP, F_NONE, A, KAGI_ERR_DENIED, 0, A,
	  NULL, 0, -1, 0, 0, KAGI_ERR_DENIED, "fido_flags", 0, 0 },
	{ "wrong_password_with_good_card", "lgwan", KP, F_NONE, 0, A, 0,
	  KAGI_ERR_AUTH, NULL, 0, -1, 0, 0, KAGI_ERR_AUTH, "password_wrong", 1,
	  0 },
	{ "unknown_factor_error_is_auth", "mynumber", KP, F_NONE,
	  KAGI_ERR_FORMAT, A, 0, A, NULL, 0, -1, 0, 0, KAGI_ERR_AUTH,
	  "card_malformed", 1, 0 },
	/* refusals: privileged, shared */
	{ "privileged_outside_window", "lgwan", KV, F_NONE, 0, A, 0, A, NULL,
	  0, -1, KAGI_ERR_DENIED, 0, KAGI_ERR_DENIED, "outside_window", 0,
	  CK | CP },
	{ "privileged_window_ended", "lgwan", KV, F_NONE, 0, A, 0, A, NULL, 0,
	  -1, 0, NOW, KAGI_ERR_DENIED, "outside_window", 0, CK | CP },
	{ "privileged_password_alone", "lgwan", KV, F_NONE, A, A, 0, 0, NULL,
	  0, -1, 0, NOW + HOUR, KAGI_ERR_DENIED, "not_enough_factors", 0, CK },
	{ "shared_without_member", "lgwan", KS, F_NONE, 0, A, 0, A, NULL, 0,
	  -1, 0, 0, KAGI_ERR_DENIED, "shared_without_member", 0, CK | CP },
	{ "shared_not_a_member", "lgwan", KS, F_NONE, 0, A, 0, A, "suzuki", 0,
	  STORE_ACCT_ACTIVE, 0, 0, KAGI_ERR_DENIED, "not_a_member", 0,
	  CK | CP },
	{ "shared_member_disabled", "lgwan", KS, F_NONE, 0, A, 0, A, "suzuki",
	  1, STORE_ACCT_DISABLED, 0, 0, KAGI_ERR_DENIED, "member_disabled", 0,
	  CK | CP },
	{ "shared_password_only", "lgwan", KS, F_NONE, A, A, 0, 0, "suzuki", 1,
	  STORE_ACCT_ACTIVE, 0, 0, KAGI_ERR_DENIED,
	  "shared_needs_member_factor", 0, CK },
	{ "member_on_personal_id", "lgwan", KP, F_NONE, 0, A, 0, A, "suzuki",
	  1, STORE_ACCT_ACTIVE, 0, 0, KAGI_ERR_DENIED, "member_not_shared", 0,
	  CK | CP },
};

static const char *
why_for(int outcome, const char *want)
{
	/* the handler names the reason of a failed factor; the table reuses
	 * the expected one */
	return outcome != A && outcome != 0 ? want : NULL;
}

START_TEST(decision_table)
{
	const struct row *w = &rows[_i];
	struct policy *p = pol(policy_text);
	struct store_account a, m;
	struct login_facts f;
	struct login_result res;
	int rc;

	mk_acct(&a, "yamada", w->kind);
	mk_acct(&m, "suzuki", KP);
	switch (w->fix) {
	case F_DISABLED:
		a.state = STORE_ACCT_DISABLED;
		break;
	case F_ENDED:
		a.end_date = NOW - 1;
		break;
	case F_LOCKED:
		a.locked_until = NOW + 60;
		break;
	case F_LOCKED_PAST:
		a.locked_until = NOW - 60;
		a.failed_count = 3;
		break;
	case F_TEMP:
		a.pw_temp = 1;
		a.pw_temp_expires = NOW + HOUR;
		break;
	case F_TEMP_EXPIRED:
		a.pw_temp = 1;
		a.pw_temp_expires = NOW - 1;
		break;
	default:
		break;
	}
	if (w->member_state >= 0)
		m.state = (uint8_t)w->member_state;
	memset(&f, 0, sizeof(f));
	f.policy = p;
	f.zone = w->zone;
	f.terminal = "t-01";
	f.now = NOW;
	f.card = w->card;
	f.fido = w->fido;
	f.fido_uv = w->fido_uv;
	f.password = w->password;
	f.card_why = why_for(w->card, w->why);
	f.fido_why = why_for(w->fido, w->why);
	f.password_why = why_for(w->password, w->why);
	f.member = w->member;
	f.member_listed = w->member_listed;
	f.priv_rc = w->priv_rc;
	f.priv_end = w->priv_end;
	rc = login_decide(&f, &a, w->member_state >= 0 ? &m : NULL, &res);
	ck_assert_msg(rc == w->want, "%s: rc %s, want %s (%s)", w->name,
	    kagi_err_name(rc), kagi_err_name(w->want), res.reason);
	ck_assert_int_eq(res.rc, rc);
	ck_assert_msg(res.reason != NULL && strcmp(res.reason, w->why) == 0,
	    "%s: reason %s, want %s", w->name, res.reason, w->why);
	ck_assert_msg(res.counted == w->counted, "%s: counted %d", w->name,
	    res.counted);
	ck_assert_msg(res.categories == w->cats, "%s: categories %#x, want "
	    "%#x", w->name, res.categories, w->cats);
	if (rc == 0 || rc == KAGI_ERR_MUST_CHANGE) {
		/* R-LOGIN-4: the previous login is answered, then replaced */
		ck_assert_int_eq(res.info.last_login, NOW - 86400);
		ck_assert_str_eq(res.info.last_login_terminal, "t-old");
		ck_assert_int_eq(res.info.last_logout, NOW - 80000);
		ck_assert_uint_eq(res.info.failed_since, 2);
		ck_assert_int_eq(res.account_changed, 1);
		ck_assert_int_eq(a.last_login, NOW);
		ck_assert_str_eq(a.last_login_terminal, "t-01");
		ck_assert_uint_eq(a.failed_since_login, 0);
		ck_assert_uint_eq(a.failed_count, 0);
		ck_assert_int_eq(a.locked_until, 0);
		ck_assert_int_eq(res.session_end, w->kind == KV ? w->priv_end :
		    0);
	} else {
		/* a refusal never records a login */
		ck_assert_int_eq(a.last_login, NOW - 86400);
		ck_assert_str_eq(a.last_login_terminal, "t-old");
	}
	if (w->counted) {
		ck_assert_int_eq(res.account_changed, 1);
		ck_assert_uint_eq(a.failed_count, 1);
		ck_assert_uint_eq(a.failed_since_login, 3);
	} else if (rc != 0 && rc != KAGI_ERR_MUST_CHANGE) {
		ck_assert_int_eq(res.account_changed, 0);
		ck_assert_uint_eq(a.failed_count, w->fix == F_LOCKED_PAST ? 3 :
		    0);
	}
	store_account_clear(&a);
	store_account_clear(&m);
	policy_free(p);
}
END_TEST

START_TEST(unknown_account_is_auth)
{
	struct policy *p = pol(policy_text);
	struct login_facts f;
	struct login_result res;

	memset(&f, 0, sizeof(f));
	f.policy = p;
	f.zone = "mynumber";
	f.now = NOW;
	f.card = f.fido = f.password = A;
	ck_assert_int_eq(login_decide(&f, NULL, NULL, &res), KAGI_ERR_AUTH);
	ck_assert_str_eq(res.reason, "unknown_account");
	ck_assert_int_eq(res.counted, 0);
	policy_free(p);
}
END_TEST

/* R-MFA-2: password alone never passes a My Number zone, even one that
 * allows passwords as a factor. */
START_TEST(password_alone_refused_by_category_floor)
{
	struct policy *p = pol(policy_mn2);
	struct store_account a;
	struct login_facts f;
	struct login_result res;

	mk_acct(&a, "yamada", KP);
	memset(&f, 0, sizeof(f));
	f.policy = p;
	f.zone = "mn2";
	f.now = NOW;
	f.card = f.fido = A;
	f.password = 0;
	ck_assert_int_eq(login_decide(&f, &a, NULL, &res), KAGI_ERR_DENIED);
	ck_assert_str_eq(res.reason, "not_enough_factors");
	/* with the card it passes */
	f.card = 0;
	ck_assert_int_eq(login_decide(&f, &a, NULL, &res), 0);
	store_account_clear(&a);
	policy_free(p);
}
END_TEST

/* R-LOGIN-2: failures of the person's own factors lock the account. */
START_TEST(bad_signatures_lock_the_account)
{
	struct policy *p = pol(policy_text);
	struct store_account a;
	struct login_facts f;
	struct login_result res;

	mk_acct(&a, "yamada", KP);
	memset(&f, 0, sizeof(f));
	f.policy = p;
	f.zone = "mynumber";
	f.now = NOW;
	f.card = KAGI_ERR_AUTH;
	f.fido = f.password = A;
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(login_decide(&f, &a, NULL, &res),
		    KAGI_ERR_AUTH);
		ck_assert_int_eq(res.info.locked_now, 0);
	}
	ck_assert_int_eq(login_decide(&f, &a, NULL, &res), KAGI_ERR_AUTH);
	ck_assert_int_eq(res.info.locked_now, 1);
	ck_assert_int_eq(a.locked_until, NOW + 30 * 60);
	/* now even a good card is refused, and not counted */
	f.card = 0;
	f.now = NOW + 60;
	ck_assert_int_eq(login_decide(&f, &a, NULL, &res), KAGI_ERR_LOCKED);
	ck_assert_int_eq(res.counted, 0);
	ck_assert_uint_eq(a.failed_count, 3);
	/* after the lock, the failures since are shown once */
	f.now = NOW + 31 * 60;
	ck_assert_int_eq(login_decide(&f, &a, NULL, &res), 0);
	ck_assert_uint_eq(res.info.failed_since, 5);
	ck_assert_uint_eq(a.failed_since_login, 0);
	store_account_clear(&a);
	policy_free(p);
}
END_TEST

/* ---- the challenge rule ---- */

static void
challenge(struct store_challenge *c)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->id, "0123456789abcdef0123456789abcdef", 33);
	memset(c->challenge, 0x5a, sizeof(c->challenge));
	c->login = strdup("yamada");
	c->terminal = strdup("t-01");
	c->zone = strdup("mynumber");
	c->created = NOW;
	c->expires = NOW + 120;
}

START_TEST(challenge_rules)
{
	struct store_challenge c;
	const char *why = NULL;

	challenge(&c);
	ck_assert_int_eq(login_challenge_check(&c, "t-01", "yamada", NOW + 119,
	    &why), 0);
	ck_assert_ptr_null(why);
	ck_assert_int_eq(login_challenge_check(&c, "t-01", "yamada", NOW + 120,
	    &why), KAGI_ERR_EXPIRED);
	ck_assert_str_eq(why, "challenge_expired");
	ck_assert_int_eq(login_challenge_check(&c, "t-02", "yamada", NOW,
	    &why), KAGI_ERR_DENIED);
	ck_assert_str_eq(why, "challenge_other_terminal");
	ck_assert_int_eq(login_challenge_check(&c, "t-01", "suzuki", NOW,
	    &why), KAGI_ERR_DENIED);
	ck_assert_str_eq(why, "challenge_other_login");
	ck_assert_int_eq(login_challenge_check(&c, "t-01", "yamada", NOW - 1,
	    &why), KAGI_ERR_EXPIRED);
	c.used = 1;
	ck_assert_int_eq(login_challenge_check(&c, "t-01", "yamada", NOW,
	    &why), KAGI_ERR_EXPIRED);
	ck_assert_str_eq(why, "challenge_replayed");
	ck_assert_int_eq(login_challenge_check(NULL, "t-01", "yamada", NOW,
	    &why), KAGI_ERR_INVALID);
	store_challenge_clear(&c);
}
END_TEST

/* ---- the signed data ---- */

START_TEST(tbs_hash_matches_contract)
{
	uint8_t ch[32], got[32], want[32], buf[128];
	unsigned int n = 0;
	size_t len = 0;

	for (int i = 0; i < 32; i++)
		ch[i] = (uint8_t)i;
	memcpy(buf, "kagi-login-v1", 13);
	len = 13;
	buf[len++] = 0;
	memcpy(buf + len, ch, 32);
	len += 32;
	buf[len++] = 0;
	memcpy(buf + len, "yamada", 6);
	len += 6;
	ck_assert_int_eq(EVP_Digest(buf, len, want, &n, EVP_sha256(), NULL), 1);
	ck_assert_int_eq(login_tbs_hash(ch, "yamada", got), 0);
	ck_assert_mem_eq(got, want, 32);
	/* another login signs something else */
	ck_assert_int_eq(login_tbs_hash(ch, "yamad", got), 0);
	ck_assert_int_ne(memcmp(got, want, 32), 0);
}
END_TEST

START_TEST(base64_strict)
{
	uint8_t *p = NULL;
	size_t n = 0;
	char *e;

	ck_assert_int_eq(login_b64_decode("AAEC", 16, &p, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(p[2], 2);
	free(p);
	ck_assert_int_eq(login_b64_decode("AAE=", 16, &p, &n), 0);
	ck_assert_uint_eq(n, 2);
	free(p);
	/* faults, named */
	ck_assert_int_eq(login_b64_decode("AAE", 16, &p, &n), KAGI_ERR_FORMAT);
	ck_assert_int_eq(login_b64_decode("AA=E", 16, &p, &n),
	    KAGI_ERR_FORMAT);
	ck_assert_int_eq(login_b64_decode("AA-_", 16, &p, &n),
	    KAGI_ERR_FORMAT);
	ck_assert_int_eq(login_b64_decode("AAF=", 16, &p, &n),
	    KAGI_ERR_FORMAT); /* non-canonical padding bits */
	ck_assert_int_eq(login_b64_decode("AA E", 16, &p, &n),
	    KAGI_ERR_FORMAT);
	ck_assert_int_eq(login_b64_decode("", 16, &p, &n), KAGI_ERR_FORMAT);
	ck_assert_int_eq(login_b64_decode("AAECAwQF", 5, &p, &n),
	    KAGI_ERR_LIMIT);
	ck_assert_ptr_null(p);
	e = login_b64_encode((const uint8_t *)"\x00\x01\x02", 3);
	ck_assert_str_eq(e, "AAEC");
	free(e);
}
END_TEST

START_TEST(fido_authdata_raw_and_wrapped)
{
	uint8_t raw[37], *w = NULL, *w2 = NULL;
	size_t n = 0, n2 = 0;

	memset(raw, 0x11, sizeof(raw));
	ck_assert_int_eq(login_fido_authdata_cbor(raw, sizeof(raw), &w, &n), 0);
	ck_assert_uint_eq(n, 39);
	ck_assert_int_eq(w[0], 0x58);
	ck_assert_int_eq(w[1], 37);
	/* the wrapped form passes through unchanged */
	ck_assert_int_eq(login_fido_authdata_cbor(w, n, &w2, &n2), 0);
	ck_assert_uint_eq(n2, n);
	ck_assert_mem_eq(w2, w, n);
	free(w);
	free(w2);
}
END_TEST

/* ---- the finish body ---- */

#define CID "0123456789abcdef0123456789abcdef"

static int
parse(const char *body, const char **field)
{
	struct login_finish f;
	int rc = login_finish_parse(body, strlen(body), &f, field);

	if (rc == 0)
		login_finish_clear(&f);
	else
		ck_assert_ptr_null(f.login);
	return rc;
}

START_TEST(finish_body_good)
{
	struct login_finish f;
	const char *body = "{\"challenge_id\":\"" CID "\",\"login\":\"yamada\","
	    "\"card\":{\"certs\":[\"PEM1\",\"PEM2\"],\"signature\":\"AAEC\"},"
	    "\"fido\":{\"credential_id\":\"AQ==\",\"authdata\":\"AAEC\","
	    "\"signature\":\"AAEC\"},\"password\":\"pw\",\"member\":\"suzuki\"}";

	ck_assert_int_eq(login_finish_parse(body, strlen(body), &f, NULL), 0);
	ck_assert_str_eq(f.challenge_id, CID);
	ck_assert_str_eq(f.login, "yamada");
	ck_assert_str_eq(f.member, "suzuki");
	ck_assert_str_eq(f.password, "pw");
	ck_assert_int_eq(f.has_card, 1);
	ck_assert_uint_eq(f.n_certs, 2);
	ck_assert_uint_eq(f.card_sig_len, 3);
	ck_assert_int_eq(f.has_fido, 1);
	ck_assert_uint_eq(f.fido_cred_id_len, 1);
	login_finish_clear(&f);
	login_finish_clear(NULL);
}
END_TEST

static const struct bad_body {
	const char *name;
	const char *body;
	int rc;
	const char *field;
} bad_bodies[] = {
	{ "not_json", "{", KAGI_ERR_FORMAT, "(body)" },
	{ "unknown_member", "{\"challenge_id\":\"" CID "\",\"login\":\"a\","
	  "\"pin\":\"1234\"}", KAGI_ERR_INVALID, "(body)" },
	{ "missing_challenge", "{\"login\":\"a\"}", KAGI_ERR_INVALID,
	  "challenge_id" },
	{ "short_challenge_id", "{\"challenge_id\":\"abc\",\"login\":\"a\"}",
	  KAGI_ERR_FORMAT, "challenge_id" },
	{ "upper_case_challenge_id", "{\"challenge_id\":"
	  "\"0123456789ABCDEF0123456789abcdef\",\"login\":\"a\"}",
	  KAGI_ERR_FORMAT, "challenge_id" },
	{ "missing_login", "{\"challenge_id\":\"" CID "\"}", KAGI_ERR_INVALID,
	  "login" },
	{ "login_not_string", "{\"challenge_id\":\"" CID "\",\"login\":7}",
	  KAGI_ERR_FORMAT, "login" },
	{ "oversize_login", "{\"challenge_id\":\"" CID "\",\"login\":"
	  "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
	  KAGI_ERR_LIMIT, "login" },
	{ "empty_password", "{\"challenge_id\":\"" CID "\",\"login\":\"a\","
	  "\"password\":\"\"}", KAGI_ERR_FORMAT, "password" },
	{ "card_not_object", "{\"challenge_id\":\"" CID "\",\"login\":\"a\","
	  "\"card\":[]}", KAGI_ERR_FORMAT, "card" },
	{ "card_unknown_member", "{\"challenge_id\":\"" CID "\",\"login\":\"a\","
	  "\"card\":{\"certs\":[\"x\"],\"signature\":\"AAEC\",\"pin\":\"1\"}}",
	  KAGI_ERR_INVALID, "card" },
	{ "card_no_certs", "{\"challenge_id\":\"" CID "\",\"login\":\"a\","
	  "\"card\":{\"certs\":[],\"signature\":\"AAEC\"}}", KAGI_ERR_FORMAT,
	  "card.certs" },
	{ "card_too_many_certs", "{\"challenge_id\":\"" CID "\",\"login\":\"a\","
	  "\"card\":{\"certs\":[\"a\",\"b\",\"c\",\"d\",\"e\"],"
	  "\"signature\":\"AAEC\"}}", KAGI_ERR_LIMIT, "card.certs" },
	{ "card_bad_base64", "{\"challenge_id\":\"" CID "\",\"login\":\"a\","
	  "\"card\":{\"certs\":[\"a\"],\"signature\":\"A*EC\"}}",
	  KAGI_ERR_FORMAT, "card.signature" },
	{ "card_missing_signature", "{\"challenge_id\":\"" CID "\","
	  "\"login\":\"a\",\"card\":{\"certs\":[\"a\"]}}", KAGI_ERR_INVALID,
	  "card.signature" },
	{ "fido_missing_authdata", "{\"challenge_id\":\"" CID "\","
	  "\"login\":\"a\",\"fido\":{\"credential_id\":\"AQ==\","
	  "\"signature\":\"AQ==\"}}", KAGI_ERR_INVALID, "fido.authdata" },
	{ "fido_oversize_signature", "{\"challenge_id\":\"" CID "\","
	  "\"login\":\"a\",\"fido\":{\"credential_id\":\"AQ==\","
	  "\"authdata\":\"AQ==\",\"signature\":\""
	  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}}", KAGI_ERR_LIMIT,
	  "fido.signature" },
	{ "duplicate_key", "{\"challenge_id\":\"" CID "\",\"login\":\"a\","
	  "\"login\":\"b\"}", KAGI_ERR_FORMAT, "(body)" },
};

START_TEST(finish_body_refused)
{
	const struct bad_body *b = &bad_bodies[_i];
	const char *field = NULL;
	int rc = parse(b->body, &field);

	ck_assert_msg(rc == b->rc, "%s: %s, want %s", b->name,
	    kagi_err_name(rc), kagi_err_name(b->rc));
	ck_assert_msg(field != NULL && strcmp(field, b->field) == 0,
	    "%s: field %s, want %s", b->name, field, b->field);
}
END_TEST

/* Flipped and truncated good bodies: never a crash, never a partial. */
START_TEST(finish_body_mutations)
{
	const char *good = "{\"challenge_id\":\"" CID "\",\"login\":\"yamada\","
	    "\"card\":{\"certs\":[\"PEM1\"],\"signature\":\"AAEC\"},"
	    "\"fido\":{\"credential_id\":\"AQ==\",\"authdata\":\"AAEC\","
	    "\"signature\":\"AAEC\"},\"password\":\"pw\"}";
	size_t n = strlen(good);
	char *buf = malloc(n + 1);
	unsigned seed = 7;

	ck_assert_ptr_nonnull(buf);
	for (int i = 0; i < 4000; i++) {
		struct login_finish f;
		size_t len = n;
		memcpy(buf, good, n + 1);
		seed = seed * 1103515245u + 12345u;
		if (i % 3 == 0)
			len = (seed >> 8) % n;
		else
			buf[(seed >> 8) % n] ^= (char)(1u << ((seed >> 4) & 7));
		if (login_finish_parse(buf, len, &f, NULL) == 0)
			login_finish_clear(&f);
		else
			ck_assert_ptr_null(f.login);
	}
	free(buf);
}
END_TEST

/* ---- the records (store/challenges.c) ---- */

START_TEST(challenge_record_round_trip)
{
	struct store_challenge c, d;
	struct kbuf *b = kbuf_new(4096);

	challenge(&c);
	c.used = 1;
	ck_assert_int_eq(store_challenge_encode(&c, b), 0);
	ck_assert_int_eq(store_challenge_decode(kbuf_ptr(b), kbuf_len(b), &d),
	    0);
	ck_assert_str_eq(d.id, c.id);
	ck_assert_mem_eq(d.challenge, c.challenge, 32);
	ck_assert_str_eq(d.login, "yamada");
	ck_assert_str_eq(d.terminal, "t-01");
	ck_assert_int_eq(d.expires, NOW + 120);
	ck_assert_int_eq(d.used, 1);
	store_challenge_clear(&d);
	/* trailing byte, truncation, every flip: refused or decoded whole */
	{
		size_t n = kbuf_len(b);
		uint8_t *v = malloc(n + 1);
		memcpy(v, kbuf_ptr(b), n);
		v[n] = 0;
		ck_assert_int_eq(store_challenge_decode(v, n + 1, &d),
		    KAGI_ERR_TRAILING);
		for (size_t i = 0; i < n; i++)
			ck_assert_int_ne(store_challenge_decode(v, i, &d), 0);
		for (size_t i = 0; i < n * 8; i++) {
			v[i / 8] ^= (uint8_t)(1u << (i % 8));
			if (store_challenge_decode(v, n, &d) == 0)
				store_challenge_clear(&d);
			v[i / 8] ^= (uint8_t)(1u << (i % 8));
		}
		free(v);
	}
	/* an id that is not ours is refused at encode */
	c.id[0] = 'X';
	kbuf_reset(b);
	ck_assert_int_eq(store_challenge_encode(&c, b), KAGI_ERR_INVALID);
	store_challenge_clear(&c);
	kbuf_free(b);
}
END_TEST

START_TEST(session_record_round_trip)
{
	struct store_session s, d;
	struct kbuf *b = kbuf_new(4096);

	memset(&s, 0, sizeof(s));
	memcpy(s.id, CID, 33);
	s.login = strdup("shared-1");
	s.member = strdup("");
	s.terminal = strdup("t-01");
	s.zone = strdup("lgwan");
	s.start = NOW;
	s.end = NOW + HOUR;
	ck_assert_int_eq(store_session_encode(&s, b), 0);
	ck_assert_int_eq(store_session_decode(kbuf_ptr(b), kbuf_len(b), &d), 0);
	ck_assert_str_eq(d.member, "");
	ck_assert_int_eq(d.end, NOW + HOUR);
	ck_assert_int_eq(d.closed, 0);
	store_session_clear(&d);
	store_session_clear(&s);
	kbuf_free(b);
}
END_TEST

/* The records in a real LMDB: single use and the sweep. */
START_TEST(challenge_store_and_sweep)
{
	char dir[] = "/tmp/kagi-login-XXXXXX", cmd[64];
	struct store *st = NULL;
	struct store_txn *t = NULL;
	struct store_challenge c, d;
	size_t removed = 0;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(store_open(dir, NULL, &st), 0);
	challenge(&c);
	ck_assert_int_eq(store_txn_begin(st, 1, &t), 0);
	ck_assert_int_eq(store_challenge_add(t, &c), 0);
	ck_assert_int_eq(store_challenge_add(t, &c), KAGI_ERR_EXISTS);
	ck_assert_int_eq(store_audit_append(t, NOW, "test", "login.begin",
	    "yamada", "ok", "", NULL), 0);
	ck_assert_int_eq(store_txn_commit(t), 0);
	ck_assert_int_eq(store_txn_begin(st, 1, &t), 0);
	ck_assert_int_eq(store_challenge_get(t, c.id, &d), 0);
	ck_assert_int_eq(d.used, 0);
	store_challenge_clear(&d);
	/* not yet expired: kept */
	ck_assert_int_eq(store_login_sweep(t, NOW + 119, 0, &removed), 0);
	ck_assert_uint_eq(removed, 0);
	ck_assert_int_eq(store_login_sweep(t, NOW + 120, 0, &removed), 0);
	ck_assert_uint_eq(removed, 1);
	ck_assert_int_eq(store_challenge_get(t, c.id, &d), KAGI_ERR_NOT_FOUND);
	ck_assert_int_eq(store_challenge_get(t, "nothex", &d),
	    KAGI_ERR_INVALID);
	store_txn_abort(t);
	store_challenge_clear(&c);
	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- the policy settings this API reads ([login], [fido], fido_uv) ---- */

START_TEST(policy_login_fido_settings)
{
	struct policy *d = pol(policy_default_text());
	struct policy *p = pol("[zone.mynumber]\nfido_uv = discouraged\n"
	    "[login]\nchallenge_lifetime = 1s\n"
	    "[fido]\nrp_id = kagi.example.lg.jp\n"
	    "aaguids = 6b6167692d736f66746669646f2d3031, "
	    "cb69481e-8ff7-4039-93ec-0a2729a154a8\n"
	    "self_attestation = yes\n");

	ck_assert_int_eq(policy_login(d)->challenge_lifetime, 120);
	ck_assert_str_eq(policy_fido(d)->rp_id, "kagi.local");
	ck_assert_uint_eq(policy_fido(d)->n_aaguids, 0);
	ck_assert_int_eq(policy_fido(d)->insecure_any_aaguid, 0);
	ck_assert_int_eq(policy_zone_find(d, "mynumber")->fido_uv,
	    POLICY_UV_REQUIRED);
	ck_assert_int_eq(policy_zone_find(d, "lgwan")->fido_uv,
	    POLICY_UV_PREFERRED);
	ck_assert_ptr_eq(policy_zone_by_oid(d,
	    "2.25.171650042320339141054201421213188112496"),
	    policy_zone_find(d, "lgwan"));
	ck_assert_ptr_null(policy_zone_by_oid(d, "1.2.3"));
	ck_assert_int_eq(policy_login(p)->challenge_lifetime, 1);
	ck_assert_str_eq(policy_fido(p)->rp_id, "kagi.example.lg.jp");
	ck_assert_uint_eq(policy_fido(p)->n_aaguids, 2);
	ck_assert_mem_eq(policy_fido(p)->aaguids, "kagi-softfido-01", 16);
	ck_assert_int_eq(policy_fido(p)->aaguids[16], 0xcb);
	ck_assert_int_eq(policy_fido(p)->self_attestation, 1);
	ck_assert_int_eq(policy_zone_at(p, 0)->fido_uv, POLICY_UV_DISCOURAGED);
	policy_free(d);
	policy_free(p);
}
END_TEST

static const struct bad_pol {
	const char *name;
	const char *text;
	const char *where;
} bad_pols[] = {
	{ "rp_id_upper_case", "[zone.mynumber]\n[fido]\nrp_id = Kagi.local\n",
	  "[fido] rp_id" },
	{ "rp_id_empty_label", "[zone.mynumber]\n[fido]\nrp_id = kagi..local\n",
	  "[fido] rp_id" },
	{ "aaguid_short", "[zone.mynumber]\n[fido]\naaguids = 6b6167\n",
	  "[fido] aaguids" },
	{ "aaguid_twice", "[zone.mynumber]\n[fido]\naaguids = "
	  "6b6167692d736f66746669646f2d3031,6b6167692d736f66746669646f2d3031\n",
	  "[fido] aaguids" },
	{ "aaguid_not_hex", "[zone.mynumber]\n[fido]\naaguids = "
	  "zz6167692d736f66746669646f2d3031\n", "[fido] aaguids" },
	{ "fido_uv_unknown", "[zone.mynumber]\nfido_uv = sometimes\n",
	  "[zone.mynumber] fido_uv" },
	{ "challenge_lifetime_zero", "[zone.mynumber]\n[login]\n"
	  "challenge_lifetime = 0s\n", "[login] challenge_lifetime" },
	{ "challenge_lifetime_too_long", "[zone.mynumber]\n[login]\n"
	  "challenge_lifetime = 2h\n", "[login] challenge_lifetime" },
	{ "login_unknown_key", "[zone.mynumber]\n[login]\nlifetime = 5s\n",
	  "[login] lifetime" },
};

START_TEST(policy_login_fido_refused)
{
	const struct bad_pol *b = &bad_pols[_i];
	struct policy *p = NULL;
	char err[512];

	ck_assert_int_ne(policy_parse(b->text, strlen(b->text), "t.ini", &p,
	    err, sizeof(err)), 0);
	ck_assert_ptr_null(p);
	ck_assert_msg(strstr(err, b->where) != NULL, "%s: %s", b->name, err);
}
END_TEST

static Suite *
login_suite(void)
{
	Suite *s = suite_create("login");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, decision_table, 0,
	    (int)(sizeof(rows) / sizeof(rows[0])));
	tcase_add_test(tc, unknown_account_is_auth);
	tcase_add_test(tc, password_alone_refused_by_category_floor);
	tcase_add_test(tc, bad_signatures_lock_the_account);
	tcase_add_test(tc, challenge_rules);
	tcase_add_test(tc, tbs_hash_matches_contract);
	tcase_add_test(tc, base64_strict);
	tcase_add_test(tc, fido_authdata_raw_and_wrapped);
	tcase_add_test(tc, finish_body_good);
	tcase_add_loop_test(tc, finish_body_refused, 0,
	    (int)(sizeof(bad_bodies) / sizeof(bad_bodies[0])));
	tcase_add_test(tc, finish_body_mutations);
	tcase_add_test(tc, challenge_record_round_trip);
	tcase_add_test(tc, session_record_round_trip);
	tcase_add_test(tc, challenge_store_and_sweep);
	tcase_add_test(tc, policy_login_fido_settings);
	tcase_add_loop_test(tc, policy_login_fido_refused, 0,
	    (int)(sizeof(bad_pols) / sizeof(bad_pols[0])));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(login_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
