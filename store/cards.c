/*
 * cards: smart-card records, their holder index and PIN-unblock approvals,
 * all in the "cards" database told apart by the key prefix (R-CARD-1..9,
 * R-PRIV-8).  Format: docs/STORE-FORMAT.md "cards".  Values read from LMDB
 * are untrusted: decoded through a kbuf, refused whole when malformed.
 */
#include <stdlib.h>
#include <string.h>

#include "kagi/kbuf.h"
#include "kagi/log.h"
#include "kagi/store.h"
#include "store_lmdb.h"

#define CARD_ACTOR_MAX 300u
#define KEY_MAX (2 + STORE_KEY_MAX + 1 + STORE_CARD_SERIAL_MAX)

static const char *const state_names[STORE_CARD_STATE_COUNT] = {
	"pending", "active", "lost", "replaced", "returned", "destroyed",
};

static const char *const cat_names[STORE_CARD_CAT_COUNT] = {
	"staff", "contractor", "temporary", "visitor",
};

const char *
store_card_state_name(unsigned state)
{
	return state < STORE_CARD_STATE_COUNT ? state_names[state] : NULL;
}

int
store_card_state_parse(const char *s, uint8_t *out)
{
	if (out != NULL)
		*out = 0;
	if (s == NULL || out == NULL)
		return KAGI_ERR_INVALID;
	for (unsigned i = 0; i < STORE_CARD_STATE_COUNT; i++)
		if (strcmp(s, state_names[i]) == 0) {
			*out = (uint8_t)i;
			return 0;
		}
	return KAGI_ERR_INVALID;
}

const char *
store_card_category_name(unsigned cat)
{
	return cat < STORE_CARD_CAT_COUNT ? cat_names[cat] : NULL;
}

int
store_card_serial_valid(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > STORE_CARD_SERIAL_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
		    (c >= 'a' && c <= 'z') || c == '.' || c == '_' ||
		    c == ':' || c == '-'))
			return 0;
	}
	return 1;
}

static int
opt_serial_ok(const char *s)
{
	return s == NULL || s[0] == '\0' || store_card_serial_valid(s);
}

static int
atr_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n % 2 != 0 || n > 2 * STORE_CARD_ATR_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static int
text_ok(const char *s, size_t max)
{
	return s == NULL || strlen(s) <= max;
}

static int
empty(const char *s)
{
	return s == NULL || s[0] == '\0';
}

static int
cert_serial_ok(const uint8_t *s, size_t n)
{
	if (n == 0 || n > STORE_SERIAL_MAX)
		return 0;
	if (n > 1 && s[0] == 0 && (s[1] & 0x80) == 0)
		return 0;
	return (s[0] & 0x80) == 0;
}

void
store_card_clear(struct store_card *c)
{
	if (c == NULL)
		return;
	free(c->serial);
	free(c->atr);
	free(c->label);
	free(c->manufacturer);
	free(c->model);
	free(c->holder);
	free(c->login);
	free(c->replaces);
	free(c->replaced_by);
	free(c->disposal_operator);
	free(c->disposal_method);
	free(c->disposal_note);
	memset(c, 0, sizeof(*c));
}

/* What the encoder refuses: KAGI_ERR_LIMIT for length, else INVALID. */
static int
card_check(const struct store_card *c)
{
	if (c->n_certs > STORE_CARD_CERTS_MAX ||
	    !text_ok(c->label, STORE_CARD_TEXT_MAX) ||
	    !text_ok(c->manufacturer, STORE_CARD_TEXT_MAX) ||
	    !text_ok(c->model, STORE_CARD_TEXT_MAX) ||
	    !text_ok(c->disposal_operator, CARD_ACTOR_MAX) ||
	    !text_ok(c->disposal_method, STORE_CARD_TEXT_MAX) ||
	    !text_ok(c->disposal_note, STORE_CARD_NOTE_MAX) ||
	    (c->atr != NULL && strlen(c->atr) > 2 * STORE_CARD_ATR_MAX))
		return KAGI_ERR_LIMIT;
	if (!store_card_serial_valid(c->serial) || !atr_ok(c->atr) ||
	    !store_staff_no_valid(c->holder) || !store_login_valid(c->login) ||
	    c->holder_category >= STORE_CARD_CAT_COUNT ||
	    c->state >= STORE_CARD_STATE_COUNT || c->case_open > 1 ||
	    !opt_serial_ok(c->replaces) || !opt_serial_ok(c->replaced_by))
		return KAGI_ERR_INVALID;
	if (c->disposal_time == 0 && (!empty(c->disposal_operator) ||
	    !empty(c->disposal_method) || !empty(c->disposal_note)))
		return KAGI_ERR_INVALID;
	for (uint32_t i = 0; i < c->n_certs; i++)
		if (!cert_serial_ok(c->certs[i], c->cert_len[i]))
			return KAGI_ERR_INVALID;
	return 0;
}

int
store_card_encode(const struct store_card *c, struct kbuf *out)
{
	struct kbuf *b = NULL;
	int r = KAGI_ERR_INTERNAL;

	if (c == NULL || out == NULL)
		return KAGI_ERR_INVALID;
	if ((r = card_check(c)) != 0)
		return r;
	if ((b = kbuf_new(STORE_VALUE_MAX)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = kbuf_put_u8(b, STORE_REC_VERSION)) != 0 ||
	    (r = kbuf_put_string(b, c->serial)) != 0 ||
	    (r = kbuf_put_string(b, c->atr)) != 0 ||
	    (r = kbuf_put_string(b, c->label)) != 0 ||
	    (r = kbuf_put_string(b, c->manufacturer)) != 0 ||
	    (r = kbuf_put_string(b, c->model)) != 0 ||
	    (r = kbuf_put_string(b, c->holder)) != 0 ||
	    (r = kbuf_put_string(b, c->login)) != 0 ||
	    (r = kbuf_put_u8(b, c->holder_category)) != 0 ||
	    (r = kbuf_put_u8(b, c->state)) != 0 ||
	    (r = kbuf_put_u32(b, c->n_certs)) != 0)
		goto out;
	for (uint32_t i = 0; i < c->n_certs; i++)
		if ((r = kbuf_put_blob(b, c->certs[i], c->cert_len[i])) != 0)
			goto out;
	if ((r = kbuf_put_string(b, c->replaces)) != 0 ||
	    (r = kbuf_put_string(b, c->replaced_by)) != 0 ||
	    (r = kbuf_put_u8(b, c->case_open)) != 0 ||
	    (r = kbuf_put_i64(b, c->disposal_time)) != 0 ||
	    (r = kbuf_put_string(b, c->disposal_operator)) != 0 ||
	    (r = kbuf_put_string(b, c->disposal_method)) != 0 ||
	    (r = kbuf_put_string(b, c->disposal_note)) != 0 ||
	    (r = kbuf_put_i64(b, c->created)) != 0 ||
	    (r = kbuf_put_i64(b, c->updated)) != 0)
		goto out;
	r = kbuf_put(out, kbuf_ptr(b), kbuf_len(b));
out:
	kbuf_free(b);
	return r;
}

int
store_card_decode(const uint8_t *p, size_t len, struct store_card *out)
{
	struct store_card c;
	struct kbuf *b = NULL;
	uint8_t ver = 0, *ser = NULL;
	size_t sl = 0;
	uint32_t n = 0;
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
	if ((r = kbuf_get_string(b, &c.serial, STORE_CARD_SERIAL_MAX)) != 0 ||
	    (r = kbuf_get_string(b, &c.atr, 2 * STORE_CARD_ATR_MAX)) != 0 ||
	    (r = kbuf_get_string(b, &c.label, STORE_CARD_TEXT_MAX)) != 0 ||
	    (r = kbuf_get_string(b, &c.manufacturer,
	    STORE_CARD_TEXT_MAX)) != 0 ||
	    (r = kbuf_get_string(b, &c.model, STORE_CARD_TEXT_MAX)) != 0 ||
	    (r = kbuf_get_string(b, &c.holder, STORE_KEY_MAX)) != 0 ||
	    (r = kbuf_get_string(b, &c.login, STORE_KEY_MAX)) != 0 ||
	    (r = kbuf_get_u8(b, &c.holder_category)) != 0 ||
	    (r = kbuf_get_u8(b, &c.state)) != 0 ||
	    (r = kbuf_get_u32(b, &n)) != 0)
		goto out;
	if (n > STORE_CARD_CERTS_MAX) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		if ((r = kbuf_get_blob(b, &ser, &sl, STORE_SERIAL_MAX)) != 0)
			goto out;
		if (!cert_serial_ok(ser, sl)) {
			r = KAGI_ERR_FORMAT;
			goto out;
		}
		memcpy(c.certs[i], ser, sl);
		c.cert_len[i] = sl;
		c.n_certs = i + 1;
		free(ser);
		ser = NULL;
	}
	if ((r = kbuf_get_string(b, &c.replaces, STORE_CARD_SERIAL_MAX)) != 0 ||
	    (r = kbuf_get_string(b, &c.replaced_by,
	    STORE_CARD_SERIAL_MAX)) != 0 ||
	    (r = kbuf_get_u8(b, &c.case_open)) != 0 ||
	    (r = kbuf_get_i64(b, &c.disposal_time)) != 0 ||
	    (r = kbuf_get_string(b, &c.disposal_operator,
	    CARD_ACTOR_MAX)) != 0 ||
	    (r = kbuf_get_string(b, &c.disposal_method,
	    STORE_CARD_TEXT_MAX)) != 0 ||
	    (r = kbuf_get_string(b, &c.disposal_note,
	    STORE_CARD_NOTE_MAX)) != 0 ||
	    (r = kbuf_get_i64(b, &c.created)) != 0 ||
	    (r = kbuf_get_i64(b, &c.updated)) != 0 ||
	    (r = kbuf_expect_end(b)) != 0)
		goto out;
	if (card_check(&c) != 0) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	*out = c;
	memset(&c, 0, sizeof(c));
	r = 0;
out:
	free(ser);
	store_card_clear(&c);
	kbuf_free(b);
	return r;
}

/* ---- keys ---- */

static size_t
card_key(char *k, const char *serial)
{
	size_t n = strlen(serial);

	k[0] = 'c';
	k[1] = ':';
	memcpy(k + 2, serial, n);
	return n + 2;
}

static size_t
holder_key(char *k, const char *holder, const char *serial)
{
	size_t h = strlen(holder), n = serial != NULL ? strlen(serial) : 0;

	k[0] = 'h';
	k[1] = ':';
	memcpy(k + 2, holder, h);
	k[2 + h] = '\0';
	if (n > 0)
		memcpy(k + 3 + h, serial, n);
	return 3 + h + n;
}

static int
card_from(const MDB_val *k, const MDB_val *v, struct store_card *out)
{
	int r;

	if ((r = store_card_decode(v->mv_data, v->mv_size, out)) != 0) {
		if (r == KAGI_ERR_VERSION || r == KAGI_ERR_NOMEM)
			return r;
		kagi_log_err("store: cards record does not decode (%s)",
		    kagi_err_name(r));
		return KAGI_ERR_CORRUPT;
	}
	if (k->mv_size != strlen(out->serial) + 2 ||
	    memcmp((const char *)k->mv_data + 2, out->serial,
	    k->mv_size - 2) != 0) {
		kagi_log_err("store: cards key does not match its record");
		store_card_clear(out);
		return KAGI_ERR_CORRUPT;
	}
	return 0;
}

int
store_card_get(struct store_txn *t, const char *serial, struct store_card *out)
{
	char kb[KEY_MAX];
	MDB_val k, v;
	int rc;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (t == NULL || out == NULL || !store_card_serial_valid(serial))
		return KAGI_ERR_INVALID;
	k.mv_data = kb;
	k.mv_size = card_key(kb, serial);
	if ((rc = mdb_get(t->txn, t->s->dbi[STORE_DB_CARDS], &k, &v)) != 0)
		return store_lmdb_err(rc, "cards");
	return card_from(&k, &v, out);
}

static int
card_write(struct store_txn *t, const struct store_card *c, unsigned flags)
{
	struct store_card old;
	struct kbuf *b = NULL;
	char kb[KEY_MAX], hb[KEY_MAX];
	MDB_val k, v, hk, hv;
	MDB_dbi db;
	int r = KAGI_ERR_INTERNAL, rc;

	memset(&old, 0, sizeof(old));
	if (t == NULL || c == NULL)
		return KAGI_ERR_INVALID;
	if (!t->write) {
		kagi_log_err("store: write in a read transaction");
		return KAGI_ERR_INVALID;
	}
	db = t->s->dbi[STORE_DB_CARDS];
	if ((b = kbuf_new(STORE_VALUE_MAX)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = store_card_encode(c, b)) != 0)
		goto out;
	/* the old record's holder index entry goes if the holder changed */
	r = store_card_get(t, c->serial, &old);
	if (r == 0 && (flags & MDB_NOOVERWRITE)) {
		r = KAGI_ERR_EXISTS;
		goto out;
	}
	if (r != 0 && r != KAGI_ERR_NOT_FOUND)
		goto out;
	if (r == 0 && strcmp(old.holder, c->holder) != 0) {
		hk.mv_data = hb;
		hk.mv_size = holder_key(hb, old.holder, old.serial);
		rc = mdb_del(t->txn, db, &hk, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND) {
			r = store_lmdb_err(rc, "cards holder index");
			goto out;
		}
		t->dirty = 1;
	}
	k.mv_data = kb;
	k.mv_size = card_key(kb, c->serial);
	v.mv_data = (void *)kbuf_ptr(b);
	v.mv_size = kbuf_len(b);
	if ((rc = mdb_put(t->txn, db, &k, &v, 0)) != 0) {
		r = store_lmdb_err(rc, "cards");
		goto out;
	}
	t->dirty = 1;
	hk.mv_data = hb;
	hk.mv_size = holder_key(hb, c->holder, c->serial);
	hv.mv_data = (void *)"";
	hv.mv_size = 0;
	if ((rc = mdb_put(t->txn, db, &hk, &hv, 0)) != 0) {
		r = store_lmdb_err(rc, "cards holder index");
		goto out;
	}
	r = 0;
out:
	store_card_clear(&old);
	kbuf_free(b);
	return r;
}

int
store_card_put(struct store_txn *t, const struct store_card *c)
{
	return card_write(t, c, 0);
}

int
store_card_add(struct store_txn *t, const struct store_card *c)
{
	return card_write(t, c, MDB_NOOVERWRITE);
}

/* Walk keys starting with prefix (plen bytes); for "h:" keys the serial
 * after the prefix names the card. */
int
store_card_iter(struct store_txn *t, const char *holder, store_card_cb *cb,
    void *arg)
{
	struct store_card c;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	char pb[KEY_MAX];
	size_t plen;
	int r = KAGI_ERR_INTERNAL, rc;

	memset(&c, 0, sizeof(c));
	if (t == NULL || cb == NULL)
		return KAGI_ERR_INVALID;
	if (holder != NULL) {
		if (!store_staff_no_valid(holder))
			return KAGI_ERR_INVALID;
		plen = holder_key(pb, holder, NULL);
	} else {
		pb[0] = 'c';
		pb[1] = ':';
		plen = 2;
	}
	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[STORE_DB_CARDS],
	    &cur)) != 0)
		return store_lmdb_err(rc, "cards cursor");
	k.mv_data = pb;
	k.mv_size = plen;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen || memcmp(k.mv_data, pb, plen) != 0)
			break;
		if (holder != NULL) {
			char sn[STORE_CARD_SERIAL_MAX + 1];
			size_t sl = k.mv_size - plen;
			if (sl == 0 || sl > STORE_CARD_SERIAL_MAX ||
			    v.mv_size != 0) {
				kagi_log_err("store: cards holder index entry "
				    "malformed");
				r = KAGI_ERR_CORRUPT;
				goto out;
			}
			memcpy(sn, (const char *)k.mv_data + plen, sl);
			sn[sl] = '\0';
			if ((r = store_card_get(t, sn, &c)) != 0 ||
			    strcmp(c.holder, holder) != 0) {
				kagi_log_err("store: cards holder index names "
				    "a missing or other holder's card");
				r = r == 0 || r == KAGI_ERR_NOT_FOUND ||
				    r == KAGI_ERR_INVALID ? KAGI_ERR_CORRUPT :
				    r;
				goto out;
			}
		} else if ((r = card_from(&k, &v, &c)) != 0) {
			goto out;
		}
		r = cb(&c, arg);
		store_card_clear(&c);
		if (r != 0) {
			r = r < 0 ? r : 0;
			goto out;
		}
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		r = store_lmdb_err(rc, "cards cursor");
		goto out;
	}
	r = 0;
out:
	store_card_clear(&c);
	mdb_cursor_close(cur);
	return r;
}

/* ---- PIN-unblock approvals ---- */

void
store_card_approval_clear(struct store_card_approval *a)
{
	if (a == NULL)
		return;
	free(a->serial);
	free(a->approver);
	free(a->used_by);
	memset(a, 0, sizeof(*a));
}

static int
approval_check(const struct store_card_approval *a)
{
	if (!text_ok(a->approver, CARD_ACTOR_MAX) ||
	    !text_ok(a->used_by, CARD_ACTOR_MAX))
		return KAGI_ERR_LIMIT;
	if (!store_login_id_valid(a->id) ||
	    !store_card_serial_valid(a->serial) || empty(a->approver) ||
	    a->expires < a->created || a->used > 1 ||
	    (a->used == 0 && !empty(a->used_by)))
		return KAGI_ERR_INVALID;
	return 0;
}

int
store_card_approval_encode(const struct store_card_approval *a,
    struct kbuf *out)
{
	struct kbuf *b = NULL;
	int r;

	if (a == NULL || out == NULL)
		return KAGI_ERR_INVALID;
	if ((r = approval_check(a)) != 0)
		return r;
	if ((b = kbuf_new(STORE_VALUE_MAX)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = kbuf_put_u8(b, STORE_REC_VERSION)) != 0 ||
	    (r = kbuf_put_string(b, a->id)) != 0 ||
	    (r = kbuf_put_string(b, a->serial)) != 0 ||
	    (r = kbuf_put_string(b, a->approver)) != 0 ||
	    (r = kbuf_put_i64(b, a->created)) != 0 ||
	    (r = kbuf_put_i64(b, a->expires)) != 0 ||
	    (r = kbuf_put_u8(b, a->used)) != 0 ||
	    (r = kbuf_put_string(b, a->used_by)) != 0)
		goto out;
	r = kbuf_put(out, kbuf_ptr(b), kbuf_len(b));
out:
	kbuf_free(b);
	return r;
}

int
store_card_approval_decode(const uint8_t *p, size_t len,
    struct store_card_approval *out)
{
	struct store_card_approval a;
	struct kbuf *b = NULL;
	uint8_t ver = 0;
	char *id = NULL;
	int r;

	memset(&a, 0, sizeof(a));
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
	if ((r = kbuf_get_string(b, &id, STORE_LOGIN_ID_LEN)) != 0)
		goto out;
	if (!store_login_id_valid(id)) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	memcpy(a.id, id, STORE_LOGIN_ID_LEN + 1);
	if ((r = kbuf_get_string(b, &a.serial, STORE_CARD_SERIAL_MAX)) != 0 ||
	    (r = kbuf_get_string(b, &a.approver, CARD_ACTOR_MAX)) != 0 ||
	    (r = kbuf_get_i64(b, &a.created)) != 0 ||
	    (r = kbuf_get_i64(b, &a.expires)) != 0 ||
	    (r = kbuf_get_u8(b, &a.used)) != 0 ||
	    (r = kbuf_get_string(b, &a.used_by, CARD_ACTOR_MAX)) != 0 ||
	    (r = kbuf_expect_end(b)) != 0)
		goto out;
	if (approval_check(&a) != 0) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	*out = a;
	memset(&a, 0, sizeof(a));
	r = 0;
out:
	free(id);
	store_card_approval_clear(&a);
	kbuf_free(b);
	return r;
}

int
store_card_approval_get(struct store_txn *t, const char *id,
    struct store_card_approval *out)
{
	char kb[2 + STORE_LOGIN_ID_LEN];
	MDB_val k, v;
	int r, rc;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (t == NULL || out == NULL || !store_login_id_valid(id))
		return KAGI_ERR_INVALID;
	kb[0] = 'a';
	kb[1] = ':';
	memcpy(kb + 2, id, STORE_LOGIN_ID_LEN);
	k.mv_data = kb;
	k.mv_size = sizeof(kb);
	if ((rc = mdb_get(t->txn, t->s->dbi[STORE_DB_CARDS], &k, &v)) != 0)
		return store_lmdb_err(rc, "cards approval");
	if ((r = store_card_approval_decode(v.mv_data, v.mv_size, out)) != 0) {
		if (r == KAGI_ERR_VERSION || r == KAGI_ERR_NOMEM)
			return r;
		kagi_log_err("store: card approval does not decode (%s)",
		    kagi_err_name(r));
		return KAGI_ERR_CORRUPT;
	}
	if (strcmp(out->id, id) != 0) {
		kagi_log_err("store: card approval key does not match");
		store_card_approval_clear(out);
		return KAGI_ERR_CORRUPT;
	}
	return 0;
}

static int
approval_write(struct store_txn *t, const struct store_card_approval *a,
    unsigned flags)
{
	struct kbuf *b = NULL;
	char kb[2 + STORE_LOGIN_ID_LEN];
	MDB_val k, v;
	int r, rc;

	if (t == NULL || a == NULL)
		return KAGI_ERR_INVALID;
	if (!t->write) {
		kagi_log_err("store: write in a read transaction");
		return KAGI_ERR_INVALID;
	}
	if ((b = kbuf_new(STORE_VALUE_MAX)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = store_card_approval_encode(a, b)) != 0)
		goto out;
	kb[0] = 'a';
	kb[1] = ':';
	memcpy(kb + 2, a->id, STORE_LOGIN_ID_LEN);
	k.mv_data = kb;
	k.mv_size = sizeof(kb);
	v.mv_data = (void *)kbuf_ptr(b);
	v.mv_size = kbuf_len(b);
	rc = mdb_put(t->txn, t->s->dbi[STORE_DB_CARDS], &k, &v, flags);
	if (rc != MDB_KEYEXIST)
		t->dirty = 1;
	r = rc == 0 ? 0 : store_lmdb_err(rc, "cards approval");
out:
	kbuf_free(b);
	return r;
}

int
store_card_approval_add(struct store_txn *t,
    const struct store_card_approval *a)
{
	return approval_write(t, a, MDB_NOOVERWRITE);
}

int
store_card_approval_put(struct store_txn *t,
    const struct store_card_approval *a)
{
	return approval_write(t, a, 0);
}
