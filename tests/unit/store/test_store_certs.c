/*
 * certs, certs_by_holder, terminals and meta counters: round trips,
 * mutation loops (bit flips, truncation, extension: never a crash, never
 * the original back), refusals named after the fault, the holder index kept
 * in step by put, and stored-value corruption (junk_cert_record).
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
mk_cert(struct store_cert *c, uint8_t tag, const char *holder)
{
	memset(c, 0, sizeof(*c));
	c->serial_len = 16;
	for (size_t i = 0; i < 16; i++)
		c->serial[i] = (uint8_t)(0x40 + i + tag);
	c->serial[0] = (uint8_t)(0x40 | (tag & 0x3f));
	c->profile = strdup("staff-logon");
	c->holder = strdup(holder);
	c->subject = strdup("CN=山田 花子,OU=情報政策課,O=Kagi Ward");
	c->state = STORE_CERT_ACTIVE;
	c->not_before = 1700000000;
	c->not_after = 1800000000;
	c->issued_at = 1700000060;
	c->der_len = 300;
	c->der = malloc(c->der_len);
	for (size_t i = 0; i < c->der_len; i++)
		c->der[i] = (uint8_t)(i * 7 + tag);
}

static int
cert_eq(const struct store_cert *a, const struct store_cert *b)
{
	return a->serial_len == b->serial_len &&
	    memcmp(a->serial, b->serial, a->serial_len) == 0 &&
	    strcmp(a->profile, b->profile) == 0 &&
	    strcmp(a->holder, b->holder) == 0 &&
	    strcmp(a->subject, b->subject) == 0 && a->state == b->state &&
	    a->reason == b->reason && a->revoked_at == b->revoked_at &&
	    a->not_before == b->not_before && a->not_after == b->not_after &&
	    a->issued_at == b->issued_at && a->der_len == b->der_len &&
	    memcmp(a->der, b->der, a->der_len) == 0;
}

static void
mk_term(struct store_terminal *d, const char *id)
{
	memset(d, 0, sizeof(*d));
	d->device_id = strdup(id);
	d->zone = strdup("lgwan");
	d->dns[0] = strdup("pc-0001.ward.example");
	d->dns[1] = strdup("pc-0001");
	d->n_dns = 2;
	d->state = STORE_TERM_ACTIVE;
	d->cert_serial_len = 3;
	d->cert_serial[0] = 1;
	d->cert_serial[1] = 2;
	d->cert_serial[2] = 3;
	d->created = 1700000000;
	d->updated = 1700000001;
}

static int
term_eq(const struct store_terminal *a, const struct store_terminal *b)
{
	if (strcmp(a->device_id, b->device_id) != 0 ||
	    strcmp(a->zone, b->zone) != 0 || a->n_dns != b->n_dns ||
	    a->state != b->state || a->cert_serial_len != b->cert_serial_len ||
	    memcmp(a->cert_serial, b->cert_serial, a->cert_serial_len) != 0 ||
	    a->created != b->created || a->updated != b->updated)
		return 0;
	for (uint32_t i = 0; i < a->n_dns; i++)
		if (strcmp(a->dns[i], b->dns[i]) != 0)
			return 0;
	return 1;
}

START_TEST(cert_round_trip_and_mutations)
{
	struct store_cert c, d;
	struct kbuf *b = kbuf_new(STORE_VALUE_MAX);
	uint8_t *v;
	size_t n;

	mk_cert(&c, 1, "hanako.y");
	c.state = STORE_CERT_REVOKED;
	c.reason = 1;
	c.revoked_at = 1750000000;
	ck_assert_int_eq(store_cert_encode(&c, b), 0);
	n = kbuf_len(b);
	v = malloc(n + 1);
	memcpy(v, kbuf_ptr(b), n);
	ck_assert_int_eq(store_cert_decode(v, n, &d), 0);
	ck_assert(cert_eq(&c, &d));
	store_cert_clear(&d);
	/* every bit flip: refused or a different record, never a crash */
	for (size_t i = 0; i < n; i++) {
		for (int bit = 0; bit < 8; bit++) {
			v[i] ^= (uint8_t)(1u << bit);
			if (store_cert_decode(v, n, &d) == 0) {
				ck_assert(!cert_eq(&c, &d));
				store_cert_clear(&d);
			} else {
				ck_assert_ptr_null(d.der);
				ck_assert_ptr_null(d.profile);
			}
			v[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* truncated_record */
	for (size_t i = 0; i < n; i++)
		ck_assert_int_ne(store_cert_decode(v, i, &d), 0);
	/* trailing_bytes */
	v[n] = 0;
	ck_assert_int_eq(store_cert_decode(v, n + 1, &d), KAGI_ERR_TRAILING);
	/* bad_version */
	v[0] = 2;
	ck_assert_int_eq(store_cert_decode(v, n, &d), KAGI_ERR_VERSION);
	v[0] = 0;
	ck_assert_int_eq(store_cert_decode(v, n, &d), KAGI_ERR_FORMAT);
	free(v);
	kbuf_free(b);
	store_cert_clear(&c);
}
END_TEST

START_TEST(cert_encode_refusals)
{
	struct store_cert c;
	struct kbuf *b = kbuf_new(STORE_VALUE_MAX);

	/* serial_zero_len, serial_negative, serial_leading_zero */
	mk_cert(&c, 2, "x");
	c.serial_len = 0;
	ck_assert_int_eq(store_cert_encode(&c, b), KAGI_ERR_INVALID);
	c.serial_len = 16;
	c.serial[0] = 0x80;
	ck_assert_int_eq(store_cert_encode(&c, b), KAGI_ERR_INVALID);
	c.serial[0] = 0x00;
	c.serial[1] = 0x10;
	ck_assert_int_eq(store_cert_encode(&c, b), KAGI_ERR_INVALID);
	c.serial[0] = 0x40;
	/* bad_enum (state), reason 7 (unused in RFC 5280) */
	c.state = STORE_CERT_STATE_COUNT;
	ck_assert_int_eq(store_cert_encode(&c, b), KAGI_ERR_INVALID);
	c.state = STORE_CERT_REVOKED;
	c.reason = 7;
	ck_assert_int_eq(store_cert_encode(&c, b), KAGI_ERR_INVALID);
	c.reason = 0;
	/* oversize_der, empty profile */
	c.der_len = STORE_CERT_DER_MAX + 1;
	c.der = realloc(c.der, c.der_len);
	ck_assert_int_eq(store_cert_encode(&c, b), KAGI_ERR_LIMIT);
	c.der_len = 10;
	free(c.profile);
	c.profile = strdup("");
	ck_assert_int_eq(store_cert_encode(&c, b), KAGI_ERR_INVALID);
	ck_assert_uint_eq(kbuf_len(b), 0); /* nothing appended */
	store_cert_clear(&c);
	kbuf_free(b);
}
END_TEST

struct collect {
	int n;
	char holders[16][32];
};

static int
collect_cb(const struct store_cert *c, void *arg)
{
	struct collect *x = arg;

	if (x->n < 16)
		snprintf(x->holders[x->n], sizeof(x->holders[0]), "%s",
		    c->holder);
	x->n++;
	return 0;
}

START_TEST(cert_store_and_holder_index)
{
	char *dir = th_tmpdir();
	struct store *s = NULL;
	struct store_txn *t = NULL;
	struct store_cert c[4], g;
	struct collect x;

	ck_assert_int_eq(store_open(dir, NULL, &s), 0);
	mk_cert(&c[0], 1, "alice");
	mk_cert(&c[1], 2, "bob");
	mk_cert(&c[2], 3, "alice");
	mk_cert(&c[3], 4, "");
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(store_cert_add(t, &c[i]), 0);
	/* dup_serial: add refuses, nothing changed */
	ck_assert_int_eq(store_cert_add(t, &c[0]), KAGI_ERR_EXISTS);
	ck_assert_int_eq(store_audit_append(t, 1, "test", "ca.issue", "", "ok",
	    "", NULL), 0);
	ck_assert_int_eq(store_txn_commit(t), 0);

	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	ck_assert_int_eq(store_cert_get(t, c[1].serial, c[1].serial_len, &g),
	    0);
	ck_assert(cert_eq(&g, &c[1]));
	store_cert_clear(&g);
	memset(&x, 0, sizeof(x));
	ck_assert_int_eq(store_cert_iter_holder(t, "alice", collect_cb, &x), 0);
	ck_assert_int_eq(x.n, 2);
	memset(&x, 0, sizeof(x));
	/* a prefix of a holder is not that holder */
	ck_assert_int_eq(store_cert_iter_holder(t, "ali", collect_cb, &x), 0);
	ck_assert_int_eq(x.n, 0);
	ck_assert_int_eq(store_cert_iter_holder(t, "", collect_cb, &x), 0);
	ck_assert_int_eq(x.n, 1);
	memset(&x, 0, sizeof(x));
	ck_assert_int_eq(store_cert_iter(t, collect_cb, &x), 0);
	ck_assert_int_eq(x.n, 4);
	store_txn_abort(t);

	/* put with a new holder and a revocation moves the index entry */
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	free(c[2].holder);
	c[2].holder = strdup("bob");
	c[2].state = STORE_CERT_HOLD;
	c[2].reason = 6;
	c[2].revoked_at = 1750000000;
	ck_assert_int_eq(store_cert_put(t, &c[2]), 0);
	ck_assert_int_eq(store_audit_append(t, 2, "test", "ca.hold", "", "ok",
	    "", NULL), 0);
	ck_assert_int_eq(store_txn_commit(t), 0);
	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	memset(&x, 0, sizeof(x));
	ck_assert_int_eq(store_cert_iter_holder(t, "alice", collect_cb, &x), 0);
	ck_assert_int_eq(x.n, 1);
	memset(&x, 0, sizeof(x));
	ck_assert_int_eq(store_cert_iter_holder(t, "bob", collect_cb, &x), 0);
	ck_assert_int_eq(x.n, 2);
	ck_assert_int_eq(store_cert_get(t, c[2].serial, c[2].serial_len, &g),
	    0);
	ck_assert_int_eq(g.state, STORE_CERT_HOLD);
	store_cert_clear(&g);
	/* unknown_serial */
	c[3].serial[5] ^= 1;
	ck_assert_int_eq(store_cert_get(t, c[3].serial, c[3].serial_len, &g),
	    KAGI_ERR_NOT_FOUND);
	store_txn_abort(t);

	/* unaudited_change: commit refused, nothing stored */
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	ck_assert_int_eq(store_cert_add(t, &c[3]), 0);
	ck_assert_int_ne(store_txn_commit(t), 0);
	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	ck_assert_int_eq(store_cert_get(t, c[3].serial, c[3].serial_len, &g),
	    KAGI_ERR_NOT_FOUND);
	store_txn_abort(t);

	/* junk_cert_record: a damaged stored value is corruption */
	ck_assert_int_eq(store_test_raw_put(s, "certs", c[0].serial,
	    c[0].serial_len, "\x01junk", 5), 0);
	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	ck_assert_int_eq(store_cert_get(t, c[0].serial, c[0].serial_len, &g),
	    KAGI_ERR_CORRUPT);
	memset(&x, 0, sizeof(x));
	ck_assert_int_eq(store_cert_iter(t, collect_cb, &x), KAGI_ERR_CORRUPT);
	store_txn_abort(t);
	for (int i = 0; i < 4; i++)
		store_cert_clear(&c[i]);
	store_close(s);
	th_tmpdir_rm(dir);
}
END_TEST

START_TEST(terminal_round_trip_and_mutations)
{
	struct store_terminal d, e;
	struct kbuf *b = kbuf_new(STORE_VALUE_MAX);
	uint8_t *v;
	size_t n;

	mk_term(&d, "PC-0001.ward");
	ck_assert_int_eq(store_terminal_encode(&d, b), 0);
	n = kbuf_len(b);
	v = malloc(n + 1);
	memcpy(v, kbuf_ptr(b), n);
	ck_assert_int_eq(store_terminal_decode(v, n, &e), 0);
	ck_assert(term_eq(&d, &e));
	store_terminal_clear(&e);
	for (size_t i = 0; i < n; i++) {
		for (int bit = 0; bit < 8; bit++) {
			v[i] ^= (uint8_t)(1u << bit);
			if (store_terminal_decode(v, n, &e) == 0) {
				ck_assert(!term_eq(&d, &e));
				store_terminal_clear(&e);
			} else {
				ck_assert_ptr_null(e.device_id);
			}
			v[i] ^= (uint8_t)(1u << bit);
		}
	}
	for (size_t i = 0; i < n; i++)
		ck_assert_int_ne(store_terminal_decode(v, i, &e), 0);
	v[n] = 0;
	ck_assert_int_eq(store_terminal_decode(v, n + 1, &e),
	    KAGI_ERR_TRAILING);
	free(v);
	/* bad_device_id, wildcard_dns, too_many_dns */
	kbuf_reset(b);
	free(d.device_id);
	d.device_id = strdup("pc 1");
	ck_assert_int_eq(store_terminal_encode(&d, b), KAGI_ERR_INVALID);
	free(d.device_id);
	d.device_id = strdup("pc1");
	free(d.dns[1]);
	d.dns[1] = strdup("*.ward.example");
	ck_assert_int_eq(store_terminal_encode(&d, b), KAGI_ERR_INVALID);
	d.n_dns = STORE_TERM_DNS_MAX + 1;
	ck_assert_int_eq(store_terminal_encode(&d, b), KAGI_ERR_LIMIT);
	d.n_dns = 2;
	ck_assert_uint_eq(kbuf_len(b), 0);
	store_terminal_clear(&d);
	kbuf_free(b);
}
END_TEST

static int
count_term(const struct store_terminal *d, void *arg)
{
	(void)d;
	(*(int *)arg)++;
	return 0;
}

START_TEST(terminal_store_and_meta)
{
	char *dir = th_tmpdir();
	struct store *s = NULL;
	struct store_txn *t = NULL;
	struct store_terminal d, e;
	uint64_t v = 0;
	int n = 0;

	ck_assert_int_eq(store_open(dir, NULL, &s), 0);
	mk_term(&d, "pc-0001");
	ck_assert_int_eq(store_txn_begin(s, 1, &t), 0);
	ck_assert_int_eq(store_terminal_add(t, &d), 0);
	ck_assert_int_eq(store_terminal_add(t, &d), KAGI_ERR_EXISTS);
	ck_assert_int_eq(store_meta_u64_get(t, "crl_number.issuing", &v),
	    KAGI_ERR_NOT_FOUND);
	ck_assert_int_eq(store_meta_u64_put(t, "crl_number.issuing", 41), 0);
	/* reserved_meta_name: the schema and the audit head are not counters */
	ck_assert_int_eq(store_meta_u64_put(t, "schema", 1), KAGI_ERR_INVALID);
	ck_assert_int_eq(store_meta_u64_put(t, "audit_head", 1),
	    KAGI_ERR_INVALID);
	ck_assert_int_eq(store_audit_append(t, 1, "test", "terminal.add", "",
	    "ok", "", NULL), 0);
	ck_assert_int_eq(store_txn_commit(t), 0);
	ck_assert_int_eq(store_txn_begin(s, 0, &t), 0);
	ck_assert_int_eq(store_terminal_get(t, "pc-0001", &e), 0);
	ck_assert(term_eq(&d, &e));
	store_terminal_clear(&e);
	ck_assert_int_eq(store_terminal_get(t, "pc-0002", &e),
	    KAGI_ERR_NOT_FOUND);
	ck_assert_int_eq(store_terminal_iter(t, count_term, &n), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(store_meta_u64_get(t, "crl_number.issuing", &v), 0);
	ck_assert_uint_eq(v, 41);
	store_txn_abort(t);
	store_terminal_clear(&d);
	store_close(s);
	th_tmpdir_rm(dir);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("store_certs");
	TCase *tc = tcase_create("certs");

	tcase_add_test(tc, cert_round_trip_and_mutations);
	tcase_add_test(tc, cert_encode_refusals);
	tcase_add_test(tc, cert_store_and_holder_index);
	tcase_add_test(tc, terminal_round_trip_and_mutations);
	tcase_add_test(tc, terminal_store_and_meta);
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
