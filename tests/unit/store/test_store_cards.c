/*
 * cards (store/cards.c): card records, the holder index and PIN-unblock
 * approvals.  Round trips, mutation loops (never a crash, never the
 * original back), refusals named after the fault (junk_card_record,
 * trailing_bytes, unknown_version, bad_serial, ...), the holder index kept
 * in step by put (R-CARD-1 looks cards up by person).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "kagi/kbuf.h"
#include "kagi/store.h"
#include "store_int.h"

static void
mk_card(struct store_card *c, const char *serial, const char *holder)
{
	memset(c, 0, sizeof(*c));
	c->serial = strdup(serial);
	c->atr = strdup("3bfd1300008131fe158073c021c057597562694b657940");
	c->label = strdup("山田 花子");
	c->manufacturer = strdup("Yubico");
	c->model = strdup("PIV");
	c->holder = strdup(holder);
	c->login = strdup("hanako.y");
	c->holder_category = STORE_CARD_CAT_CONTRACTOR;
	c->state = STORE_CARD_ACTIVE;
	c->n_certs = 2;
	c->cert_len[0] = 3;
	c->certs[0][0] = 0x01;
	c->certs[0][1] = 0x02;
	c->certs[0][2] = 0x03;
	c->cert_len[1] = 16;
	for (size_t i = 0; i < 16; i++)
		c->certs[1][i] = (uint8_t)(0x41 + i);
	c->replaces = strdup("OLD-0001");
	c->replaced_by = strdup("");
	c->case_open = 1;
	c->disposal_time = 1750000000;
	c->disposal_operator = strdup("cert:CN=alice (alice)");
	c->disposal_method = strdup("shredder");
	c->disposal_note = strdup("窓口で裁断");
	c->created = 1700000000;
	c->updated = 1700000100;
}

static int
card_eq(const struct store_card *a, const struct store_card *b)
{
	if (strcmp(a->serial, b->serial) != 0 || strcmp(a->atr, b->atr) != 0 ||
	    strcmp(a->label, b->label) != 0 ||
	    strcmp(a->manufacturer, b->manufacturer) != 0 ||
	    strcmp(a->model, b->model) != 0 ||
	    strcmp(a->holder, b->holder) != 0 ||
	    strcmp(a->login, b->login) != 0 ||
	    a->holder_category != b->holder_category ||
	    a->state != b->state || a->n_certs != b->n_certs ||
	    strcmp(a->replaces, b->replaces) != 0 ||
	    strcmp(a->replaced_by, b->replaced_by) != 0 ||
	    a->case_open != b->case_open ||
	    a->disposal_time != b->disposal_time ||
	    strcmp(a->disposal_operator, b->disposal_operator) != 0 ||
	    strcmp(a->disposal_method, b->disposal_method) != 0 ||
	    strcmp(a->disposal_note, b->disposal_note) != 0 ||
	    a->created != b->created || a->updated != b->updated)
		return 0;
	for (uint32_t i = 0; i < a->n_certs; i++)
		if (a->cert_len[i] != b->cert_len[i] ||
		    memcmp(a->certs[i], b->certs[i], a->cert_len[i]) != 0)
			return 0;
	return 1;
}

START_TEST(card_round_trip_and_mutations)
{
	struct store_card c, d;
	struct kbuf *b = kbuf_new(STORE_VALUE_MAX);
	uint8_t *v;
	size_t n;

	mk_card(&c, "0123456789ABCDEF", "1001");
	ck_assert_int_eq(store_card_encode(&c, b), 0);
	n = kbuf_len(b);
	v = malloc(n + 1);
	memcpy(v, kbuf_ptr(b), n);
	ck_assert_int_eq(store_card_decode(v, n, &d), 0);
	ck_assert(card_eq(&c, &d));
	store_card_clear(&d);
	for (size_t i = 0; i < n; i++) {
		for (int bit = 0; bit < 8; bit++) {
			v[i] ^= (uint8_t)(1u << bit);
			if (store_card_decode(v, n, &d) == 0) {
				ck_assert(!card_eq(&c, &d));
				store_card_clear(&d);
			} else {
				ck_assert_ptr_null(d.serial);
				ck_assert_ptr_null(d.holder);
			}
			v[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* truncated_record */
	for (size_t i = 0; i < n; i++)
		ck_assert_int_ne(store_card_decode(v, i, &d), 0);
	/* trailing_bytes */
	v[n] = 0;
	ck_assert_int_eq(store_card_decode(v, n + 1, &d), KAGI_ERR_TRAILING);
	ck_assert_ptr_null(d.serial);
	/* unknown_version */
	v[0] = 2;
	ck_assert_int_eq(store_card_decode(v, n, &d), KAGI_ERR_VERSION);
	v[0] = 0;
	ck_assert_int_eq(store_card_decode(v, n, &d), KAGI_ERR_FORMAT);
	free(v);
	kbuf_free(b);
	store_card_clear(&c);
}
END_TEST

START_TEST(card_encode_refusals)
{
	struct store_card c;
	struct kbuf *b = kbuf_new(STORE_VALUE_MAX);

	mk_card(&c, "SER-1", "1001");
	/* bad_serial: a space, a slash (it is a URL path segment), empty */
	free(c.serial);
	c.serial = strdup("SER 1");
	ck_assert_int_eq(store_card_encode(&c, b), KAGI_ERR_INVALID);
	free(c.serial);
	c.serial = strdup("a/b");
	ck_assert_int_eq(store_card_encode(&c, b), KAGI_ERR_INVALID);
	free(c.serial);
	c.serial = strdup("");
	ck_assert_int_eq(store_card_encode(&c, b), KAGI_ERR_INVALID);
	free(c.serial);
	c.serial = strdup("SER-1");
	/* bad_atr: odd length, upper case */
	free(c.atr);
	c.atr = strdup("3bf");
	ck_assert_int_eq(store_card_encode(&c, b), KAGI_ERR_INVALID);
	free(c.atr);
	c.atr = strdup("3BFF");
	ck_assert_int_eq(store_card_encode(&c, b), KAGI_ERR_INVALID);
	free(c.atr);
	c.atr = strdup("");
	/* bad_enum */
	c.state = STORE_CARD_STATE_COUNT;
	ck_assert_int_eq(store_card_encode(&c, b), KAGI_ERR_INVALID);
	c.state = STORE_CARD_LOST;
	c.holder_category = STORE_CARD_CAT_COUNT;
	ck_assert_int_eq(store_card_encode(&c, b), KAGI_ERR_INVALID);
	c.holder_category = 0;
	/* bad_flag */
	c.case_open = 2;
	ck_assert_int_eq(store_card_encode(&c, b), KAGI_ERR_INVALID);
	c.case_open = 0;
	/* too_many_certs, bad cert serial */
	c.n_certs = STORE_CARD_CERTS_MAX + 1;
	ck_assert_int_eq(store_card_encode(&c, b), KAGI_ERR_LIMIT);
	c.n_certs = 1;
	c.certs[0][0] = 0x80;
	ck_assert_int_eq(store_card_encode(&c, b), KAGI_ERR_INVALID);
	c.certs[0][0] = 0x01;
	/* disposal text without a disposal time */
	c.disposal_time = 0;
	ck_assert_int_eq(store_card_encode(&c, b), KAGI_ERR_INVALID);
	c.disposal_time = 1;
	/* oversize_note */
	free(c.disposal_note);
	c.disposal_note = malloc(STORE_CARD_NOTE_MAX + 2);
	memset(c.disposal_note, 'x', STORE_CARD_NOTE_MAX + 1);
	c.disposal_note[STORE_CARD_NOTE_MAX + 1] = '\0';
	ck_assert_int_eq(store_card_encode(&c, b), KAGI_ERR_LIMIT);
	/* bad holder staff number */
	c.disposal_note[0] = '\0';
	free(c.holder);
	c.holder = strdup("10 01");
	ck_assert_int_eq(store_card_encode(&c, b), KAGI_ERR_INVALID);
	ck_assert_uint_eq(kbuf_len(b), 0); /* nothing appended */
	store_card_clear(&c);
	kbuf_free(b);
}
END_TEST

struct collect {
	int n;
	char serials[8][STORE_CARD_SERIAL_MAX + 1];
};

static int
collect_cb(const struct store_card *c, void *arg)
{
	struct collect *x = arg;

	if (x->n < 8)
		snprintf(x->serials[x->n], sizeof(x->serials[0]), "%s",
		    c->serial);
	x->n++;
	return 0;
}

START_TEST(card_store_and_holder_index)
{
	char *dir = th_tmpdir();
	struct store *s = NULL;
	struct store_txn *t = NULL;
	struct store_card c[3], g;
	struct collect x;

	ck_assert_int_eq(store_open(dir, NULL, &s), 0);
	mk_card(&c[0], "CARD-A", "1001");
	mk_card(&c[1], "CARD-B", "10011");
	mk_card(&c[2], "CARD-C", "1001");
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(store_card_add(t, &c[i]), 0);
	/* dup_serial: add refuses */
	ck_assert_int_eq(store_card_add(t, &c[0]), KAGI_ERR_EXISTS);
	ck_assert_int_eq(store_audit_append(t, 1, "test", "card.enrol", "",
	    "ok", "", NULL), 0);
	ck_assert_int_eq(store_txn_commit(t), 0);

	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	ck_assert_int_eq(store_card_get(t, "CARD-B", &g), 0);
	ck_assert(card_eq(&g, &c[1]));
	store_card_clear(&g);
	/* unknown_serial, bad_serial */
	ck_assert_int_eq(store_card_get(t, "CARD-Z", &g), KAGI_ERR_NOT_FOUND);
	ck_assert_int_eq(store_card_get(t, "../x", &g), KAGI_ERR_INVALID);
	memset(&x, 0, sizeof(x));
	ck_assert_int_eq(store_card_iter(t, NULL, collect_cb, &x), 0);
	ck_assert_int_eq(x.n, 3);
	/* a prefix of a staff number is not that person */
	memset(&x, 0, sizeof(x));
	ck_assert_int_eq(store_card_iter(t, "1001", collect_cb, &x), 0);
	ck_assert_int_eq(x.n, 2);
	ck_assert_str_eq(x.serials[0], "CARD-A");
	ck_assert_str_eq(x.serials[1], "CARD-C");
	store_txn_abort(t);

	/* put with a new holder moves the index entry */
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	free(c[2].holder);
	c[2].holder = strdup("10011");
	c[2].state = STORE_CARD_RETURNED;
	ck_assert_int_eq(store_card_put(t, &c[2]), 0);
	ck_assert_int_eq(store_audit_append(t, 2, "test", "card.return", "",
	    "ok", "", NULL), 0);
	ck_assert_int_eq(store_txn_commit(t), 0);
	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	memset(&x, 0, sizeof(x));
	ck_assert_int_eq(store_card_iter(t, "1001", collect_cb, &x), 0);
	ck_assert_int_eq(x.n, 1);
	memset(&x, 0, sizeof(x));
	ck_assert_int_eq(store_card_iter(t, "10011", collect_cb, &x), 0);
	ck_assert_int_eq(x.n, 2);
	ck_assert_int_eq(store_card_get(t, "CARD-C", &g), 0);
	ck_assert_int_eq(g.state, STORE_CARD_RETURNED);
	store_card_clear(&g);
	store_txn_abort(t);

	/* junk_card_record: a damaged stored value is corruption */
	ck_assert_int_eq(store_test_raw_put(s, "cards", "c:CARD-A", 8,
	    "\x01junk", 5), 0);
	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	ck_assert_int_eq(store_card_get(t, "CARD-A", &g), KAGI_ERR_CORRUPT);
	memset(&x, 0, sizeof(x));
	ck_assert_int_eq(store_card_iter(t, NULL, collect_cb, &x),
	    KAGI_ERR_CORRUPT);
	memset(&x, 0, sizeof(x));
	ck_assert_int_eq(store_card_iter(t, "1001", collect_cb, &x),
	    KAGI_ERR_CORRUPT);
	store_txn_abort(t);
	/* misfiled_card_record: a valid record under another serial's key */
	{
		struct kbuf *b = kbuf_new(STORE_VALUE_MAX);
		ck_assert_int_eq(store_card_encode(&c[1], b), 0);
		ck_assert_int_eq(store_test_raw_put(s, "cards", "c:CARD-A", 8,
		    kbuf_ptr(b), kbuf_len(b)), 0);
		kbuf_free(b);
	}
	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	ck_assert_int_eq(store_card_get(t, "CARD-A", &g), KAGI_ERR_CORRUPT);
	store_txn_abort(t);
	for (int i = 0; i < 3; i++)
		store_card_clear(&c[i]);
	store_close(s);
	th_tmpdir_rm(dir);
}
END_TEST

START_TEST(approval_round_trip_and_store)
{
	char *dir = th_tmpdir();
	struct store *s = NULL;
	struct store_txn *t = NULL;
	struct store_card_approval a, g;
	struct kbuf *b = kbuf_new(STORE_VALUE_MAX);
	uint8_t *v;
	size_t n;

	memset(&a, 0, sizeof(a));
	memcpy(a.id, "0123456789abcdef0123456789abcdef", 33);
	a.serial = strdup("CARD-A");
	a.approver = strdup("cert:CN=bob (bob)");
	a.used_by = strdup("");
	a.created = 1700000000;
	a.expires = 1700000600;
	ck_assert_int_eq(store_card_approval_encode(&a, b), 0);
	n = kbuf_len(b);
	v = malloc(n + 1);
	memcpy(v, kbuf_ptr(b), n);
	ck_assert_int_eq(store_card_approval_decode(v, n, &g), 0);
	ck_assert_str_eq(g.approver, a.approver);
	store_card_approval_clear(&g);
	for (size_t i = 0; i < n; i++)
		for (int bit = 0; bit < 8; bit++) {
			v[i] ^= (uint8_t)(1u << bit);
			if (store_card_approval_decode(v, n, &g) == 0)
				store_card_approval_clear(&g);
			else
				ck_assert_ptr_null(g.serial);
			v[i] ^= (uint8_t)(1u << bit);
		}
	/* trailing_bytes, unknown_version */
	v[n] = 0;
	ck_assert_int_eq(store_card_approval_decode(v, n + 1, &g),
	    KAGI_ERR_TRAILING);
	v[0] = 9;
	ck_assert_int_eq(store_card_approval_decode(v, n, &g),
	    KAGI_ERR_VERSION);
	free(v);
	/* expires_before_created, used_by without used */
	kbuf_reset(b);
	a.expires = a.created - 1;
	ck_assert_int_eq(store_card_approval_encode(&a, b), KAGI_ERR_INVALID);
	a.expires = a.created + 600;
	free(a.used_by);
	a.used_by = strdup("x");
	ck_assert_int_eq(store_card_approval_encode(&a, b), KAGI_ERR_INVALID);
	a.used = 1;

	ck_assert_int_eq(store_open(dir, NULL, &s), 0);
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	ck_assert_int_eq(store_card_approval_add(t, &a), 0);
	ck_assert_int_eq(store_card_approval_add(t, &a), KAGI_ERR_EXISTS);
	ck_assert_int_eq(store_audit_append(t, 1, "test", "card.approve", "",
	    "ok", "", NULL), 0);
	ck_assert_int_eq(store_txn_commit(t), 0);
	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	ck_assert_int_eq(store_card_approval_get(t, a.id, &g), 0);
	ck_assert_int_eq(g.used, 1);
	ck_assert_str_eq(g.used_by, "x");
	store_card_approval_clear(&g);
	ck_assert_int_eq(store_card_approval_get(t,
	    "ffffffffffffffffffffffffffffffff", &g), KAGI_ERR_NOT_FOUND);
	/* approvals never show up as cards */
	{
		struct collect x;
		memset(&x, 0, sizeof(x));
		ck_assert_int_eq(store_card_iter(t, NULL, collect_cb, &x), 0);
		ck_assert_int_eq(x.n, 0);
	}
	store_txn_abort(t);
	/* junk_approval_record */
	{
		char key[2 + STORE_LOGIN_ID_LEN];
		key[0] = 'a';
		key[1] = ':';
		memcpy(key + 2, a.id, STORE_LOGIN_ID_LEN);
		ck_assert_int_eq(store_test_raw_put(s, "cards", key,
		    sizeof(key), "\x01\x00\x00", 3), 0);
	}
	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	ck_assert_int_eq(store_card_approval_get(t, a.id, &g),
	    KAGI_ERR_CORRUPT);
	store_txn_abort(t);
	store_close(s);
	store_card_approval_clear(&a);
	kbuf_free(b);
	th_tmpdir_rm(dir);
}
END_TEST

START_TEST(state_names)
{
	uint8_t st = 9;

	ck_assert_str_eq(store_card_state_name(STORE_CARD_LOST), "lost");
	ck_assert_ptr_null(store_card_state_name(STORE_CARD_STATE_COUNT));
	ck_assert_int_eq(store_card_state_parse("destroyed", &st), 0);
	ck_assert_int_eq(st, STORE_CARD_DESTROYED);
	ck_assert_int_eq(store_card_state_parse("Lost", &st), KAGI_ERR_INVALID);
	ck_assert_int_eq(st, 0);
	ck_assert_str_eq(store_card_category_name(STORE_CARD_CAT_VISITOR),
	    "visitor");
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("store_cards");
	TCase *tc = tcase_create("cards");

	tcase_add_test(tc, card_round_trip_and_mutations);
	tcase_add_test(tc, card_encode_refusals);
	tcase_add_test(tc, card_store_and_holder_index);
	tcase_add_test(tc, approval_round_trip_and_store);
	tcase_add_test(tc, state_names);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *r = srunner_create(suite());
	int nf;

	srunner_run_all(r, CK_NORMAL);
	nf = srunner_ntests_failed(r);
	srunner_free(r);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
