/*
 * terminals: device id -> terminal record (R-TERM-1).  Format:
 * docs/STORE-FORMAT.md "terminals".  Values read from LMDB are untrusted.
 */
#include <stdlib.h>
#include <string.h>

#include "kagi/kbuf.h"
#include "kagi/log.h"
#include "kagi/store.h"
#include "store_lmdb.h"

#define TERM_ID_MAX 64u
#define TERM_ZONE_MAX 32u
#define TERM_DNS_NAME_MAX 253u

int
store_device_id_valid(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > TERM_ID_MAX || s[0] == '-' || s[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
		    (c >= 'a' && c <= 'z') || c == '-' || c == '_' ||
		    c == '.'))
			return 0;
	}
	return 1;
}

static int
zone_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > TERM_ZONE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

/* LDH labels separated by dots; no wildcard. */
static int
dns_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0, lab = 0;

	if (n == 0 || n > TERM_DNS_NAME_MAX || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '.') {
			if (lab == 0 || s[i - 1] == '-')
				return 0;
			lab = 0;
			continue;
		}
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || c == '-'))
			return 0;
		if (c == '-' && lab == 0)
			return 0;
		if (++lab > 63)
			return 0;
	}
	return s[n - 1] != '-';
}

void
store_terminal_clear(struct store_terminal *d)
{
	if (d == NULL)
		return;
	free(d->device_id);
	free(d->zone);
	for (size_t i = 0; i < STORE_TERM_DNS_MAX; i++)
		free(d->dns[i]);
	memset(d, 0, sizeof(*d));
}

static int
serial_ok(const uint8_t *s, size_t n)
{
	if (n == 0)
		return 1; /* none */
	if (n > STORE_SERIAL_MAX)
		return 0;
	if (n > 1 && s[0] == 0 && (s[1] & 0x80) == 0)
		return 0;
	return (s[0] & 0x80) == 0;
}

int
store_terminal_encode(const struct store_terminal *d, struct kbuf *out)
{
	struct kbuf *b = NULL;
	int r = KAGI_ERR_INTERNAL;

	if (d == NULL || out == NULL)
		return KAGI_ERR_INVALID;
	if (d->n_dns > STORE_TERM_DNS_MAX)
		return KAGI_ERR_LIMIT;
	if (!store_device_id_valid(d->device_id) || !zone_ok(d->zone) ||
	    d->state >= STORE_TERM_STATE_COUNT ||
	    !serial_ok(d->cert_serial, d->cert_serial_len))
		return KAGI_ERR_INVALID;
	for (uint32_t i = 0; i < d->n_dns; i++)
		if (!dns_ok(d->dns[i]))
			return KAGI_ERR_INVALID;
	if ((b = kbuf_new(STORE_VALUE_MAX)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = kbuf_put_u8(b, STORE_REC_VERSION)) != 0 ||
	    (r = kbuf_put_string(b, d->device_id)) != 0 ||
	    (r = kbuf_put_string(b, d->zone)) != 0 ||
	    (r = kbuf_put_u32(b, d->n_dns)) != 0)
		goto out;
	for (uint32_t i = 0; i < d->n_dns; i++)
		if ((r = kbuf_put_string(b, d->dns[i])) != 0)
			goto out;
	if ((r = kbuf_put_u8(b, d->state)) != 0 ||
	    (r = kbuf_put_blob(b, d->cert_serial, d->cert_serial_len)) != 0 ||
	    (r = kbuf_put_i64(b, d->created)) != 0 ||
	    (r = kbuf_put_i64(b, d->updated)) != 0)
		goto out;
	r = kbuf_put(out, kbuf_ptr(b), kbuf_len(b));
out:
	kbuf_free(b);
	return r;
}

int
store_terminal_decode(const uint8_t *p, size_t len, struct store_terminal *out)
{
	struct store_terminal d;
	struct kbuf *b = NULL;
	uint8_t ver = 0, *ser = NULL;
	size_t sl = 0;
	uint32_t n = 0;
	int r = KAGI_ERR_INTERNAL;

	memset(&d, 0, sizeof(d));
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
	if ((r = kbuf_get_string(b, &d.device_id, TERM_ID_MAX)) != 0 ||
	    (r = kbuf_get_string(b, &d.zone, TERM_ZONE_MAX)) != 0 ||
	    (r = kbuf_get_u32(b, &n)) != 0)
		goto out;
	if (!store_device_id_valid(d.device_id) || !zone_ok(d.zone) ||
	    n > STORE_TERM_DNS_MAX) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		if ((r = kbuf_get_string(b, &d.dns[i], TERM_DNS_NAME_MAX)) != 0)
			goto out;
		d.n_dns = i + 1;
		if (!dns_ok(d.dns[i])) {
			r = KAGI_ERR_FORMAT;
			goto out;
		}
	}
	if ((r = kbuf_get_u8(b, &d.state)) != 0 ||
	    (r = kbuf_get_blob(b, &ser, &sl, STORE_SERIAL_MAX)) != 0 ||
	    (r = kbuf_get_i64(b, &d.created)) != 0 ||
	    (r = kbuf_get_i64(b, &d.updated)) != 0 ||
	    (r = kbuf_expect_end(b)) != 0)
		goto out;
	if (d.state >= STORE_TERM_STATE_COUNT || !serial_ok(ser, sl)) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	if (sl > 0)
		memcpy(d.cert_serial, ser, sl);
	d.cert_serial_len = sl;
	*out = d;
	memset(&d, 0, sizeof(d));
	r = 0;
out:
	free(ser);
	store_terminal_clear(&d);
	kbuf_free(b);
	return r;
}

static int
term_from(const MDB_val *k, const MDB_val *v, struct store_terminal *out)
{
	int r;

	if ((r = store_terminal_decode(v->mv_data, v->mv_size, out)) != 0) {
		if (r == KAGI_ERR_VERSION || r == KAGI_ERR_NOMEM)
			return r;
		kagi_log_err("store: terminals record does not decode (%s)",
		    kagi_err_name(r));
		return KAGI_ERR_CORRUPT;
	}
	if (k->mv_size != strlen(out->device_id) ||
	    memcmp(k->mv_data, out->device_id, k->mv_size) != 0) {
		kagi_log_err("store: terminals key does not match its record");
		store_terminal_clear(out);
		return KAGI_ERR_CORRUPT;
	}
	return 0;
}

int
store_terminal_get(struct store_txn *t, const char *device_id,
    struct store_terminal *out)
{
	MDB_val k, v;
	int rc;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (t == NULL || out == NULL || !store_device_id_valid(device_id))
		return KAGI_ERR_INVALID;
	k.mv_data = (void *)device_id;
	k.mv_size = strlen(device_id);
	if ((rc = mdb_get(t->txn, t->s->dbi[STORE_DB_TERMINALS], &k, &v)) != 0)
		return store_lmdb_err(rc, "terminals");
	return term_from(&k, &v, out);
}

static int
term_write(struct store_txn *t, const struct store_terminal *d,
    unsigned flags)
{
	struct kbuf *b = NULL;
	MDB_val k, v;
	int r = KAGI_ERR_INTERNAL, rc;

	if (t == NULL || d == NULL)
		return KAGI_ERR_INVALID;
	if (!t->write) {
		kagi_log_err("store: write in a read transaction");
		return KAGI_ERR_INVALID;
	}
	if ((b = kbuf_new(STORE_VALUE_MAX)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = store_terminal_encode(d, b)) != 0)
		goto out;
	k.mv_data = d->device_id;
	k.mv_size = strlen(d->device_id);
	v.mv_data = (void *)kbuf_ptr(b);
	v.mv_size = kbuf_len(b);
	rc = mdb_put(t->txn, t->s->dbi[STORE_DB_TERMINALS], &k, &v, flags);
	if (rc != MDB_KEYEXIST)
		t->dirty = 1;
	r = rc == 0 ? 0 : store_lmdb_err(rc, "terminals");
out:
	kbuf_free(b);
	return r;
}

int
store_terminal_put(struct store_txn *t, const struct store_terminal *d)
{
	return term_write(t, d, 0);
}

int
store_terminal_add(struct store_txn *t, const struct store_terminal *d)
{
	return term_write(t, d, MDB_NOOVERWRITE);
}

int
store_terminal_iter(struct store_txn *t, store_terminal_cb *cb, void *arg)
{
	struct store_terminal d;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int r = KAGI_ERR_INTERNAL, rc;

	memset(&d, 0, sizeof(d));
	if (t == NULL || cb == NULL)
		return KAGI_ERR_INVALID;
	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[STORE_DB_TERMINALS],
	    &cur)) != 0)
		return store_lmdb_err(rc, "terminals cursor");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if ((r = term_from(&k, &v, &d)) != 0)
			goto out;
		r = cb(&d, arg);
		store_terminal_clear(&d);
		if (r != 0) {
			r = r < 0 ? r : 0;
			goto out;
		}
	}
	if (rc != MDB_NOTFOUND) {
		r = store_lmdb_err(rc, "terminals cursor");
		goto out;
	}
	r = 0;
out:
	store_terminal_clear(&d);
	mdb_cursor_close(cur);
	return r;
}
