/*
 * Record codecs.  Every value is a version byte (STORE_REC_VERSION) followed
 * by the fields in a fixed order, written and read through a kbuf: integers
 * big-endian, strings as u32 length + UTF-8 bytes (no NUL).  Decoders read
 * like the schema, check every cap, enum and flag, and require that nothing
 * is left (kbuf_expect_end).  The encoding is canonical: a value that
 * decodes re-encodes to the same bytes, so a changed byte can never decode
 * to the original record.  Formats: docs/STORE-FORMAT.md.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "kagi/kbuf.h"
#include "kagi/log.h"
#include "kagi/secmem.h"
#include "kagi/store.h"
#include "store_int.h"

int
store_staff_no_valid(const char *s)
{
	size_t i, n;

	if (s == NULL)
		return 0;
	n = strlen(s);
	if (n == 0 || n > STORE_KEY_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
		    (c >= 'a' && c <= 'z') || c == '-'))
			return 0;
	}
	return 1;
}

int
store_login_valid(const char *s)
{
	size_t i, n;

	if (s == NULL)
		return 0;
	n = strlen(s);
	if (n == 0 || n > STORE_KEY_MAX || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
		    (c >= 'a' && c <= 'z') || c == '-' || c == '_' ||
		    c == '.' || c == '@'))
			return 0;
	}
	return 1;
}

static void
free_str(char **s, int wipe)
{
	if (*s == NULL)
		return;
	if (wipe)
		kagi_wipe(*s, strlen(*s));
	free(*s);
	*s = NULL;
}

/* A string field an encoder may write: NULL counts as "". */
static int
str_check(const char *s, size_t max, int nonempty)
{
	size_t n = s == NULL ? 0 : strlen(s);

	if (n > max)
		return KAGI_ERR_LIMIT;
	if (nonempty && n == 0)
		return KAGI_ERR_INVALID;
	if (n > 0 && !kagi_utf8_valid(s, n))
		return KAGI_ERR_INVALID;
	return 0;
}

/* Read a string field; decoded strings are never NULL. */
static int
get_str(struct kbuf *b, char **out, size_t max)
{
	int r;

	if ((r = kbuf_get_string(b, out, max)) != 0)
		return r;
	if (*out == NULL && (*out = strdup("")) == NULL)
		return KAGI_ERR_NOMEM;
	return 0;
}

static int
get_version(struct kbuf *b)
{
	uint8_t v = 0;
	int r;

	if ((r = kbuf_get_u8(b, &v)) != 0)
		return r;
	if (v == STORE_REC_VERSION)
		return 0;
	return v == 0 ? KAGI_ERR_FORMAT : KAGI_ERR_VERSION;
}

static int
get_flag(struct kbuf *b, uint8_t *v)
{
	int r;

	if ((r = kbuf_get_u8(b, v)) != 0)
		return r;
	return *v <= 1 ? 0 : KAGI_ERR_FORMAT;
}

/* Append the finished temporary encoding to out in one step (no partial). */
static int
finish(struct kbuf *tmp, struct kbuf *out)
{
	return kbuf_put(out, kbuf_ptr(tmp), kbuf_len(tmp));
}

/* ---- person ---- */

void
store_person_clear(struct store_person *p)
{
	if (p == NULL)
		return;
	free_str(&p->staff_no, 0);
	free_str(&p->name, 0);
	free_str(&p->kana, 0);
	free_str(&p->section, 0);
	free_str(&p->employment, 0);
	free_str(&p->hr_status, 0);
	memset(p, 0, sizeof(*p));
}

static int
person_check(const struct store_person *p)
{
	int r;

	if (!store_staff_no_valid(p->staff_no))
		return KAGI_ERR_INVALID;
	if ((r = str_check(p->name, STORE_NAME_MAX, 0)) != 0 ||
	    (r = str_check(p->kana, STORE_NAME_MAX, 0)) != 0 ||
	    (r = str_check(p->section, STORE_NAME_MAX, 0)) != 0 ||
	    (r = str_check(p->employment, STORE_SHORT_MAX, 0)) != 0 ||
	    (r = str_check(p->hr_status, STORE_SHORT_MAX, 0)) != 0)
		return r;
	return 0;
}

int
store_person_encode(const struct store_person *p, struct kbuf *out)
{
	struct kbuf *b = NULL;
	int r = KAGI_ERR_INTERNAL;

	if (p == NULL || out == NULL)
		return KAGI_ERR_INVALID;
	if ((r = person_check(p)) != 0)
		goto out;
	if ((b = kbuf_new(STORE_VALUE_MAX)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if ((r = kbuf_put_u8(b, STORE_REC_VERSION)) != 0 ||
	    (r = kbuf_put_string(b, p->staff_no)) != 0 ||
	    (r = kbuf_put_string(b, p->name)) != 0 ||
	    (r = kbuf_put_string(b, p->kana)) != 0 ||
	    (r = kbuf_put_string(b, p->section)) != 0 ||
	    (r = kbuf_put_string(b, p->employment)) != 0 ||
	    (r = kbuf_put_string(b, p->hr_status)) != 0 ||
	    (r = kbuf_put_i64(b, p->start_date)) != 0 ||
	    (r = kbuf_put_i64(b, p->end_date)) != 0 ||
	    (r = kbuf_put_i64(b, p->created)) != 0 ||
	    (r = kbuf_put_i64(b, p->updated)) != 0)
		goto out;
	r = finish(b, out);
out:
	kbuf_free(b);
	return r;
}

int
store_person_decode(const uint8_t *d, size_t len, struct store_person *out)
{
	struct store_person p;
	struct kbuf *b = NULL;
	int r = KAGI_ERR_INTERNAL;

	memset(&p, 0, sizeof(p));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (out == NULL || (d == NULL && len != 0))
		return KAGI_ERR_INVALID;
	if ((b = kbuf_from(d, len)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if ((r = get_version(b)) != 0 ||
	    (r = get_str(b, &p.staff_no, STORE_KEY_MAX)) != 0 ||
	    (r = get_str(b, &p.name, STORE_NAME_MAX)) != 0 ||
	    (r = get_str(b, &p.kana, STORE_NAME_MAX)) != 0 ||
	    (r = get_str(b, &p.section, STORE_NAME_MAX)) != 0 ||
	    (r = get_str(b, &p.employment, STORE_SHORT_MAX)) != 0 ||
	    (r = get_str(b, &p.hr_status, STORE_SHORT_MAX)) != 0 ||
	    (r = kbuf_get_i64(b, &p.start_date)) != 0 ||
	    (r = kbuf_get_i64(b, &p.end_date)) != 0 ||
	    (r = kbuf_get_i64(b, &p.created)) != 0 ||
	    (r = kbuf_get_i64(b, &p.updated)) != 0 ||
	    (r = kbuf_expect_end(b)) != 0)
		goto out;
	if (!store_staff_no_valid(p.staff_no)) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	*out = p;
	memset(&p, 0, sizeof(p));
	r = 0;
out:
	store_person_clear(&p);
	kbuf_free(b);
	return r;
}

/* ---- account ---- */

void
store_account_clear(struct store_account *a)
{
	size_t i;

	if (a == NULL)
		return;
	free_str(&a->login, 0);
	free_str(&a->staff_no, 0);
	free_str(&a->pw_hash, 1);
	for (i = 0; i < STORE_PW_HISTORY_MAX; i++)
		free_str(&a->pw_history[i], 1);
	free_str(&a->last_login_terminal, 0);
	kagi_wipe(a, sizeof(*a));
}

static int
account_check(const struct store_account *a)
{
	uint32_t i;
	int r;

	if (!store_login_valid(a->login))
		return KAGI_ERR_INVALID;
	if (a->staff_no != NULL && a->staff_no[0] != '\0' &&
	    !store_staff_no_valid(a->staff_no))
		return KAGI_ERR_INVALID;
	if (a->kind >= STORE_KIND_COUNT || a->state >= STORE_ACCT_STATE_COUNT ||
	    a->pw_temp > 1 || a->pw_rotate > 1)
		return KAGI_ERR_INVALID;
	if (a->pw_history_n > STORE_PW_HISTORY_MAX)
		return KAGI_ERR_LIMIT;
	if ((r = str_check(a->pw_hash, STORE_PWHASH_MAX, 0)) != 0 ||
	    (r = str_check(a->last_login_terminal, STORE_TERMINAL_MAX,
	    0)) != 0)
		return r;
	for (i = 0; i < a->pw_history_n; i++)
		if ((r = str_check(a->pw_history[i], STORE_PWHASH_MAX, 0)) != 0)
			return r;
	return 0;
}

int
store_account_encode(const struct store_account *a, struct kbuf *out)
{
	struct kbuf *b = NULL;
	uint32_t i;
	int r = KAGI_ERR_INTERNAL;

	if (a == NULL || out == NULL)
		return KAGI_ERR_INVALID;
	if ((r = account_check(a)) != 0)
		goto out;
	if ((b = kbuf_new(STORE_VALUE_MAX)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if ((r = kbuf_put_u8(b, STORE_REC_VERSION)) != 0 ||
	    (r = kbuf_put_string(b, a->login)) != 0 ||
	    (r = kbuf_put_string(b, a->staff_no)) != 0 ||
	    (r = kbuf_put_u8(b, a->kind)) != 0 ||
	    (r = kbuf_put_u8(b, a->state)) != 0 ||
	    (r = kbuf_put_u32(b, a->roles)) != 0 ||
	    (r = kbuf_put_string(b, a->pw_hash)) != 0 ||
	    (r = kbuf_put_u8(b, a->pw_temp)) != 0 ||
	    (r = kbuf_put_i64(b, a->pw_temp_expires)) != 0 ||
	    (r = kbuf_put_i64(b, a->pw_changed)) != 0 ||
	    (r = kbuf_put_u32(b, a->pw_logins)) != 0 ||
	    (r = kbuf_put_u32(b, a->pw_history_n)) != 0)
		goto out;
	for (i = 0; i < a->pw_history_n; i++)
		if ((r = kbuf_put_string(b, a->pw_history[i])) != 0)
			goto out;
	if ((r = kbuf_put_u8(b, a->pw_rotate)) != 0 ||
	    (r = kbuf_put_u32(b, a->failed_count)) != 0 ||
	    (r = kbuf_put_i64(b, a->failed_first)) != 0 ||
	    (r = kbuf_put_i64(b, a->locked_until)) != 0 ||
	    (r = kbuf_put_u32(b, a->failed_since_login)) != 0 ||
	    (r = kbuf_put_i64(b, a->last_login)) != 0 ||
	    (r = kbuf_put_string(b, a->last_login_terminal)) != 0 ||
	    (r = kbuf_put_i64(b, a->last_logout)) != 0 ||
	    (r = kbuf_put_i64(b, a->end_date)) != 0 ||
	    (r = kbuf_put_i64(b, a->created)) != 0 ||
	    (r = kbuf_put_i64(b, a->updated)) != 0)
		goto out;
	r = finish(b, out);
out:
	kbuf_free(b);
	return r;
}

int
store_account_decode(const uint8_t *d, size_t len, struct store_account *out)
{
	struct store_account a;
	struct kbuf *b = NULL;
	uint32_t i;
	int r = KAGI_ERR_INTERNAL;

	memset(&a, 0, sizeof(a));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (out == NULL || (d == NULL && len != 0))
		return KAGI_ERR_INVALID;
	if ((b = kbuf_from(d, len)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if ((r = get_version(b)) != 0 ||
	    (r = get_str(b, &a.login, STORE_KEY_MAX)) != 0 ||
	    (r = get_str(b, &a.staff_no, STORE_KEY_MAX)) != 0 ||
	    (r = kbuf_get_u8(b, &a.kind)) != 0 ||
	    (r = kbuf_get_u8(b, &a.state)) != 0 ||
	    (r = kbuf_get_u32(b, &a.roles)) != 0 ||
	    (r = get_str(b, &a.pw_hash, STORE_PWHASH_MAX)) != 0 ||
	    (r = get_flag(b, &a.pw_temp)) != 0 ||
	    (r = kbuf_get_i64(b, &a.pw_temp_expires)) != 0 ||
	    (r = kbuf_get_i64(b, &a.pw_changed)) != 0 ||
	    (r = kbuf_get_u32(b, &a.pw_logins)) != 0 ||
	    (r = kbuf_get_u32(b, &a.pw_history_n)) != 0)
		goto out;
	if (a.kind >= STORE_KIND_COUNT || a.state >= STORE_ACCT_STATE_COUNT) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	if (a.pw_history_n > STORE_PW_HISTORY_MAX) {
		/* Zero it so the clear below frees only what was read. */
		a.pw_history_n = 0;
		r = KAGI_ERR_LIMIT;
		goto out;
	}
	for (i = 0; i < a.pw_history_n; i++)
		if ((r = get_str(b, &a.pw_history[i], STORE_PWHASH_MAX)) != 0)
			goto out;
	if ((r = get_flag(b, &a.pw_rotate)) != 0 ||
	    (r = kbuf_get_u32(b, &a.failed_count)) != 0 ||
	    (r = kbuf_get_i64(b, &a.failed_first)) != 0 ||
	    (r = kbuf_get_i64(b, &a.locked_until)) != 0 ||
	    (r = kbuf_get_u32(b, &a.failed_since_login)) != 0 ||
	    (r = kbuf_get_i64(b, &a.last_login)) != 0 ||
	    (r = get_str(b, &a.last_login_terminal, STORE_TERMINAL_MAX)) != 0 ||
	    (r = kbuf_get_i64(b, &a.last_logout)) != 0 ||
	    (r = kbuf_get_i64(b, &a.end_date)) != 0 ||
	    (r = kbuf_get_i64(b, &a.created)) != 0 ||
	    (r = kbuf_get_i64(b, &a.updated)) != 0 ||
	    (r = kbuf_expect_end(b)) != 0)
		goto out;
	if (!store_login_valid(a.login) ||
	    (a.staff_no[0] != '\0' && !store_staff_no_valid(a.staff_no))) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	*out = a;
	memset(&a, 0, sizeof(a));
	r = 0;
out:
	store_account_clear(&a);
	kbuf_free(b);
	return r;
}

/* ---- audit record ---- */

void
store_audit_clear(struct store_audit *a)
{
	if (a == NULL)
		return;
	free_str(&a->actor, 0);
	free_str(&a->action, 0);
	free_str(&a->object, 0);
	free_str(&a->outcome, 0);
	free_str(&a->detail, 0);
	memset(a, 0, sizeof(*a));
}

static int
audit_check(const struct store_audit *a)
{
	int r;

	if (a->seq == 0)
		return KAGI_ERR_INVALID;
	if ((r = str_check(a->actor, STORE_AUDIT_FIELD_MAX, 1)) != 0 ||
	    (r = str_check(a->action, STORE_AUDIT_FIELD_MAX, 1)) != 0 ||
	    (r = str_check(a->object, STORE_AUDIT_FIELD_MAX, 0)) != 0 ||
	    (r = str_check(a->outcome, STORE_AUDIT_FIELD_MAX, 1)) != 0 ||
	    (r = str_check(a->detail, STORE_AUDIT_DETAIL_MAX, 0)) != 0)
		return r;
	return 0;
}

int
store_audit_encode(const struct store_audit *a, struct kbuf *out)
{
	struct kbuf *b = NULL;
	int r = KAGI_ERR_INTERNAL;

	if (a == NULL || out == NULL)
		return KAGI_ERR_INVALID;
	if ((r = audit_check(a)) != 0)
		goto out;
	if ((b = kbuf_new(STORE_VALUE_MAX)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if ((r = kbuf_put_u8(b, STORE_REC_VERSION)) != 0 ||
	    (r = kbuf_put_u64(b, a->seq)) != 0 ||
	    (r = kbuf_put_i64(b, a->time)) != 0 ||
	    (r = kbuf_put_string(b, a->actor)) != 0 ||
	    (r = kbuf_put_string(b, a->action)) != 0 ||
	    (r = kbuf_put_string(b, a->object)) != 0 ||
	    (r = kbuf_put_string(b, a->outcome)) != 0 ||
	    (r = kbuf_put_string(b, a->detail)) != 0 ||
	    (r = kbuf_put(b, a->prev, STORE_HASH_LEN)) != 0)
		goto out;
	r = finish(b, out);
out:
	kbuf_free(b);
	return r;
}

int
store_audit_decode(const uint8_t *d, size_t len, struct store_audit *out)
{
	struct store_audit a;
	struct kbuf *b = NULL;
	int r = KAGI_ERR_INTERNAL;

	memset(&a, 0, sizeof(a));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (out == NULL || (d == NULL && len != 0))
		return KAGI_ERR_INVALID;
	if ((b = kbuf_from(d, len)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if ((r = get_version(b)) != 0 ||
	    (r = kbuf_get_u64(b, &a.seq)) != 0 ||
	    (r = kbuf_get_i64(b, &a.time)) != 0 ||
	    (r = get_str(b, &a.actor, STORE_AUDIT_FIELD_MAX)) != 0 ||
	    (r = get_str(b, &a.action, STORE_AUDIT_FIELD_MAX)) != 0 ||
	    (r = get_str(b, &a.object, STORE_AUDIT_FIELD_MAX)) != 0 ||
	    (r = get_str(b, &a.outcome, STORE_AUDIT_FIELD_MAX)) != 0 ||
	    (r = get_str(b, &a.detail, STORE_AUDIT_DETAIL_MAX)) != 0 ||
	    (r = kbuf_get_bytes(b, a.prev, STORE_HASH_LEN)) != 0 ||
	    (r = kbuf_expect_end(b)) != 0)
		goto out;
	if (a.seq == 0 || a.actor[0] == '\0' || a.action[0] == '\0' ||
	    a.outcome[0] == '\0') {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	*out = a;
	memset(&a, 0, sizeof(a));
	r = 0;
out:
	store_audit_clear(&a);
	kbuf_free(b);
	return r;
}

int
store_audit_hash(const uint8_t *p, size_t len, uint8_t out[STORE_HASH_LEN])
{
	unsigned int n = 0;

	if (EVP_Digest(p, len, out, &n, EVP_sha256(), NULL) != 1 ||
	    n != STORE_HASH_LEN) {
		kagi_log_err("store: SHA-256 failed");
		memset(out, 0, STORE_HASH_LEN);
		return KAGI_ERR_INTERNAL;
	}
	return 0;
}
