/*
 * certs: serial -> certificate record, the holder index certs_by_holder
 * (key: holder bytes, one NUL, serial bytes; value empty) kept in step by
 * put/add, and the meta u64 counters (CRL numbers).  Formats:
 * docs/STORE-FORMAT.md "certs", "certs_by_holder", "meta counters".
 * Values read from LMDB are untrusted: decoded through a kbuf, key checked.
 */
#include <stdlib.h>
#include <string.h>

#include "kagi/kbuf.h"
#include "kagi/log.h"
#include "kagi/store.h"
#include "store_lmdb.h"

#define CERT_PROFILE_MAX 32u
#define CERT_SUBJECT_MAX 1024u
#define META_NAME_MAX 32u

/* ---- codec ---- */

void
store_cert_clear(struct store_cert *c)
{
	if (c == NULL)
		return;
	free(c->profile);
	free(c->holder);
	free(c->subject);
	free(c->der);
	memset(c, 0, sizeof(*c));
}

static int
str_ok(const char *s, size_t max, int nonempty)
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

/* A positive INTEGER's octets: 1..20, no superfluous leading zero. */
static int
serial_ok(const uint8_t *s, size_t n)
{
	if (s == NULL || n == 0 || n > STORE_SERIAL_MAX)
		return 0;
	if (n > 1 && s[0] == 0 && (s[1] & 0x80) == 0)
		return 0;
	return (s[0] & 0x80) == 0; /* negative */
}

static int
holder_ok(const char *h)
{
	size_t n = h == NULL ? 0 : strlen(h);

	return n <= STORE_HOLDER_MAX && (n == 0 || kagi_utf8_valid(h, n));
}

int
store_cert_encode(const struct store_cert *c, struct kbuf *out)
{
	struct kbuf *b = NULL;
	int r = KAGI_ERR_INTERNAL;

	if (c == NULL || out == NULL)
		return KAGI_ERR_INVALID;
	if (!serial_ok(c->serial, c->serial_len) ||
	    c->state >= STORE_CERT_STATE_COUNT || c->reason > 10 ||
	    c->reason == 7 || !holder_ok(c->holder))
		return KAGI_ERR_INVALID;
	if ((r = str_ok(c->profile, CERT_PROFILE_MAX, 1)) != 0 ||
	    (r = str_ok(c->subject, CERT_SUBJECT_MAX, 0)) != 0)
		return r;
	if (c->der == NULL || c->der_len == 0)
		return KAGI_ERR_INVALID;
	if (c->der_len > STORE_CERT_DER_MAX)
		return KAGI_ERR_LIMIT;
	if ((b = kbuf_new(STORE_VALUE_MAX)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = kbuf_put_u8(b, STORE_REC_VERSION)) != 0 ||
	    (r = kbuf_put_blob(b, c->serial, c->serial_len)) != 0 ||
	    (r = kbuf_put_string(b, c->profile)) != 0 ||
	    (r = kbuf_put_string(b, c->holder)) != 0 ||
	    (r = kbuf_put_string(b, c->subject)) != 0 ||
	    (r = kbuf_put_u8(b, c->state)) != 0 ||
	    (r = kbuf_put_u8(b, c->reason)) != 0 ||
	    (r = kbuf_put_i64(b, c->revoked_at)) != 0 ||
	    (r = kbuf_put_i64(b, c->not_before)) != 0 ||
	    (r = kbuf_put_i64(b, c->not_after)) != 0 ||
	    (r = kbuf_put_i64(b, c->issued_at)) != 0 ||
	    (r = kbuf_put_blob(b, c->der, c->der_len)) != 0)
		goto out;
	r = kbuf_put(out, kbuf_ptr(b), kbuf_len(b));
out:
	kbuf_free(b);
	return r;
}

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

int
store_cert_decode(const uint8_t *p, size_t len, struct store_cert *out)
{
	struct store_cert c;
	struct kbuf *b = NULL;
	uint8_t ver = 0, *ser = NULL;
	size_t sl = 0;
	int r = KAGI_ERR_INTERNAL;

	memset(&c, 0, sizeof(c));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (p == NULL || out == NULL)
		return KAGI_ERR_INVALID;
	if ((b = kbuf_from(p, len)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = kbuf_get_u8(b, &ver)) != 0)
		goto out;
	if (ver != STORE_REC_VERSION) {
		r = ver == 0 ? KAGI_ERR_FORMAT : KAGI_ERR_VERSION;
		goto out;
	}
	if ((r = kbuf_get_blob(b, &ser, &sl, STORE_SERIAL_MAX)) != 0)
		goto out;
	if (!serial_ok(ser, sl)) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	memcpy(c.serial, ser, sl);
	c.serial_len = sl;
	if ((r = get_str(b, &c.profile, CERT_PROFILE_MAX)) != 0 ||
	    (r = get_str(b, &c.holder, STORE_HOLDER_MAX)) != 0 ||
	    (r = get_str(b, &c.subject, CERT_SUBJECT_MAX)) != 0 ||
	    (r = kbuf_get_u8(b, &c.state)) != 0 ||
	    (r = kbuf_get_u8(b, &c.reason)) != 0 ||
	    (r = kbuf_get_i64(b, &c.revoked_at)) != 0 ||
	    (r = kbuf_get_i64(b, &c.not_before)) != 0 ||
	    (r = kbuf_get_i64(b, &c.not_after)) != 0 ||
	    (r = kbuf_get_i64(b, &c.issued_at)) != 0 ||
	    (r = kbuf_get_blob(b, &c.der, &c.der_len,
	    STORE_CERT_DER_MAX)) != 0 ||
	    (r = kbuf_expect_end(b)) != 0)
		goto out;
	if (c.profile[0] == '\0' || c.state >= STORE_CERT_STATE_COUNT ||
	    c.reason > 10 || c.reason == 7 || c.der == NULL) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	*out = c;
	memset(&c, 0, sizeof(c));
	r = 0;
out:
	free(ser);
	store_cert_clear(&c);
	kbuf_free(b);
	return r;
}

/* ---- LMDB ---- */

static int
decode_err(int r)
{
	if (r == KAGI_ERR_VERSION) {
		kagi_log_err("store: certs record has a newer version");
		return r;
	}
	if (r == KAGI_ERR_NOMEM)
		return r;
	kagi_log_err("store: certs record does not decode (%s)",
	    kagi_err_name(r));
	return KAGI_ERR_CORRUPT;
}

/* Decode v stored under key k (the serial) into out. */
static int
cert_from(const MDB_val *k, const MDB_val *v, struct store_cert *out)
{
	int r;

	if ((r = store_cert_decode(v->mv_data, v->mv_size, out)) != 0)
		return decode_err(r);
	if (k->mv_size != out->serial_len ||
	    memcmp(k->mv_data, out->serial, out->serial_len) != 0) {
		kagi_log_err("store: certs key does not match its record");
		store_cert_clear(out);
		return KAGI_ERR_CORRUPT;
	}
	return 0;
}

int
store_cert_get(struct store_txn *t, const uint8_t *serial, size_t serial_len,
    struct store_cert *out)
{
	MDB_val k, v;
	int rc;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (t == NULL || out == NULL || !serial_ok(serial, serial_len))
		return KAGI_ERR_INVALID;
	k.mv_data = (void *)serial;
	k.mv_size = serial_len;
	if ((rc = mdb_get(t->txn, t->s->dbi[STORE_DB_CERTS], &k, &v)) != 0)
		return store_lmdb_err(rc, "certs");
	return cert_from(&k, &v, out);
}

/* holder \0 serial */
static int
index_key(const char *holder, const uint8_t *serial, size_t sl,
    uint8_t *buf, size_t buflen, size_t *klen)
{
	size_t hl = holder != NULL ? strlen(holder) : 0;

	if (hl + 1 + sl > buflen)
		return KAGI_ERR_LIMIT;
	if (hl > 0)
		memcpy(buf, holder, hl);
	buf[hl] = '\0';
	memcpy(buf + hl + 1, serial, sl);
	*klen = hl + 1 + sl;
	return 0;
}

static int
cert_write(struct store_txn *t, const struct store_cert *c, int add)
{
	struct kbuf *b = NULL;
	struct store_cert old;
	uint8_t ik[STORE_HOLDER_MAX + 1 + STORE_SERIAL_MAX];
	size_t ikl = 0;
	MDB_val k, v, ov;
	int r = KAGI_ERR_INTERNAL, rc, had = 0;

	memset(&old, 0, sizeof(old));
	if (t == NULL || c == NULL)
		return KAGI_ERR_INVALID;
	if (!t->write) {
		kagi_log_err("store: write in a read transaction");
		return KAGI_ERR_INVALID;
	}
	if ((b = kbuf_new(STORE_VALUE_MAX)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = store_cert_encode(c, b)) != 0)
		goto out;
	k.mv_data = (void *)c->serial;
	k.mv_size = c->serial_len;
	rc = mdb_get(t->txn, t->s->dbi[STORE_DB_CERTS], &k, &ov);
	if (rc == 0) {
		if (add) {
			r = KAGI_ERR_EXISTS;
			goto out;
		}
		if ((r = cert_from(&k, &ov, &old)) != 0)
			goto out;
		had = 1;
	} else if (rc != MDB_NOTFOUND) {
		r = store_lmdb_err(rc, "certs");
		goto out;
	}
	v.mv_data = (void *)kbuf_ptr(b);
	v.mv_size = kbuf_len(b);
	t->dirty = 1;
	if ((rc = mdb_put(t->txn, t->s->dbi[STORE_DB_CERTS], &k, &v, 0)) != 0) {
		r = store_lmdb_err(rc, "certs");
		goto out;
	}
	if (had && strcmp(old.holder, c->holder != NULL ? c->holder : "") !=
	    0) {
		if ((r = index_key(old.holder, old.serial, old.serial_len, ik,
		    sizeof(ik), &ikl)) != 0)
			goto out;
		k.mv_data = ik;
		k.mv_size = ikl;
		rc = mdb_del(t->txn, t->s->dbi[STORE_DB_CERTS_BY_HOLDER], &k,
		    NULL);
		if (rc != 0 && rc != MDB_NOTFOUND) {
			r = store_lmdb_err(rc, "certs_by_holder");
			goto out;
		}
	}
	if ((r = index_key(c->holder, c->serial, c->serial_len, ik, sizeof(ik),
	    &ikl)) != 0)
		goto out;
	k.mv_data = ik;
	k.mv_size = ikl;
	v.mv_data = (void *)"";
	v.mv_size = 0;
	if ((rc = mdb_put(t->txn, t->s->dbi[STORE_DB_CERTS_BY_HOLDER], &k, &v,
	    0)) != 0) {
		r = store_lmdb_err(rc, "certs_by_holder");
		goto out;
	}
	r = 0;
out:
	store_cert_clear(&old);
	kbuf_free(b);
	return r;
}

int
store_cert_put(struct store_txn *t, const struct store_cert *c)
{
	return cert_write(t, c, 0);
}

int
store_cert_add(struct store_txn *t, const struct store_cert *c)
{
	return cert_write(t, c, 1);
}

int
store_cert_iter(struct store_txn *t, store_cert_cb *cb, void *arg)
{
	struct store_cert c;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int r = KAGI_ERR_INTERNAL, rc;

	memset(&c, 0, sizeof(c));
	if (t == NULL || cb == NULL)
		return KAGI_ERR_INVALID;
	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[STORE_DB_CERTS],
	    &cur)) != 0)
		return store_lmdb_err(rc, "certs cursor");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if ((r = cert_from(&k, &v, &c)) != 0)
			goto out;
		r = cb(&c, arg);
		store_cert_clear(&c);
		if (r != 0) {
			r = r < 0 ? r : 0;
			goto out;
		}
	}
	if (rc != MDB_NOTFOUND) {
		r = store_lmdb_err(rc, "certs cursor");
		goto out;
	}
	r = 0;
out:
	store_cert_clear(&c);
	mdb_cursor_close(cur);
	return r;
}

int
store_cert_iter_holder(struct store_txn *t, const char *holder,
    store_cert_cb *cb, void *arg)
{
	struct store_cert c;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	uint8_t prefix[STORE_HOLDER_MAX + 1];
	size_t pl;
	int r = KAGI_ERR_INTERNAL, rc;

	memset(&c, 0, sizeof(c));
	if (t == NULL || cb == NULL || holder == NULL || !holder_ok(holder))
		return KAGI_ERR_INVALID;
	pl = strlen(holder);
	memcpy(prefix, holder, pl);
	prefix[pl++] = '\0';
	if ((rc = mdb_cursor_open(t->txn,
	    t->s->dbi[STORE_DB_CERTS_BY_HOLDER], &cur)) != 0)
		return store_lmdb_err(rc, "certs_by_holder cursor");
	k.mv_data = prefix;
	k.mv_size = pl;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const uint8_t *kp = k.mv_data;

		if (k.mv_size <= pl || memcmp(kp, prefix, pl) != 0)
			break;
		if ((r = store_cert_get(t, kp + pl, k.mv_size - pl, &c)) != 0) {
			if (r == KAGI_ERR_NOT_FOUND || r == KAGI_ERR_INVALID) {
				kagi_log_err("store: certs_by_holder names a "
				    "missing certificate");
				r = KAGI_ERR_CORRUPT;
			}
			goto out;
		}
		if (strcmp(c.holder, holder) != 0) {
			kagi_log_err("store: certs_by_holder entry does not "
			    "match its certificate's holder");
			r = KAGI_ERR_CORRUPT;
			goto out;
		}
		r = cb(&c, arg);
		store_cert_clear(&c);
		if (r != 0) {
			r = r < 0 ? r : 0;
			goto out;
		}
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		r = store_lmdb_err(rc, "certs_by_holder cursor");
		goto out;
	}
	r = 0;
out:
	store_cert_clear(&c);
	mdb_cursor_close(cur);
	return r;
}

/* ---- meta counters ---- */

static int
meta_name_ok(const char *n)
{
	size_t l = n != NULL ? strlen(n) : 0;

	if (l == 0 || l > META_NAME_MAX || strcmp(n, "schema") == 0 ||
	    strcmp(n, "audit_head") == 0)
		return 0;
	for (size_t i = 0; i < l; i++) {
		char ch = n[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '.' || ch == '_'))
			return 0;
	}
	return 1;
}

int
store_meta_u64_get(struct store_txn *t, const char *name, uint64_t *out)
{
	struct kbuf *b = NULL;
	MDB_val k, v;
	uint8_t ver = 0;
	uint64_t x = 0;
	int r = KAGI_ERR_INTERNAL, rc;

	if (out != NULL)
		*out = 0;
	if (t == NULL || out == NULL || !meta_name_ok(name))
		return KAGI_ERR_INVALID;
	k.mv_data = (void *)name;
	k.mv_size = strlen(name);
	if ((rc = mdb_get(t->txn, t->s->dbi[STORE_DB_META], &k, &v)) != 0)
		return store_lmdb_err(rc, "meta");
	if ((b = kbuf_from(v.mv_data, v.mv_size)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = kbuf_get_u8(b, &ver)) != 0 || (r = kbuf_get_u64(b, &x)) != 0 ||
	    (r = kbuf_expect_end(b)) != 0 || ver != STORE_REC_VERSION) {
		kagi_log_err("store: meta %s malformed", name);
		r = KAGI_ERR_CORRUPT;
		goto out;
	}
	*out = x;
	r = 0;
out:
	kbuf_free(b);
	return r;
}

int
store_meta_u64_put(struct store_txn *t, const char *name, uint64_t val)
{
	uint8_t buf[9];
	MDB_val k, v;
	int rc;

	if (t == NULL || !meta_name_ok(name))
		return KAGI_ERR_INVALID;
	if (!t->write) {
		kagi_log_err("store: write in a read transaction");
		return KAGI_ERR_INVALID;
	}
	buf[0] = STORE_REC_VERSION;
	for (int i = 0; i < 8; i++)
		buf[1 + i] = (uint8_t)(val >> (56 - 8 * i));
	k.mv_data = (void *)name;
	k.mv_size = strlen(name);
	v.mv_data = buf;
	v.mv_size = sizeof(buf);
	t->dirty = 1;
	if ((rc = mdb_put(t->txn, t->s->dbi[STORE_DB_META], &k, &v, 0)) != 0)
		return store_lmdb_err(rc, "meta");
	return 0;
}
