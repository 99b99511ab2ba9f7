/*
 * The counter messages of the cardd protocol (issue 6: CARD_INFO,
 * ENROL_KEYGEN, ENROL_WRITE, PIN_UNBLOCK, CARD, CSR; docs/PROTOCOL-cardd.md
 * "The counter"): round trips, a mutation loop (flip every bit, truncate at
 * every length: never a crash; whatever parses re-encodes to the same
 * bytes), and the faults named: wait_over_max, key_id_not_hex,
 * key_id_odd_length, empty_cert, oversize_cert, too_many_certs,
 * unknown_caps_bits, empty_serial; and a whole request over a Unix socket
 * with cardd_conn_counter (a CARD before the RESULT lands in *data; a
 * second data message is a protocol error).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <check.h>

#include "kagi/cardd.h"
#include "kagi/kbuf.h"

static uint8_t cert_a[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
static uint8_t cert_b[] = { 0x30, 0x82, 0x00, 0x01, 0x05, 0x00, 0x42 };
static uint8_t *certs2[] = { cert_a, cert_b };
static size_t lens2[] = { sizeof(cert_a), sizeof(cert_b) };

static void
sample(uint8_t type, struct cardd_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	switch (type) {
	case CARDD_MSG_CARD_INFO:
		m->wait = 30;
		break;
	case CARDD_MSG_ENROL_KEYGEN:
		m->serial = "29d834f15b54adc5";
		m->old_pw = "111111";
		m->new_pw = "246810";
		break;
	case CARDD_MSG_ENROL_WRITE:
		m->serial = "29d834f15b54adc5";
		m->old_pw = "246810";
		m->key_id = "183a108452e4183eb236a42ec404a9e7";
		m->der = cert_b;
		m->der_len = sizeof(cert_b);
		break;
	case CARDD_MSG_PIN_UNBLOCK:
		m->serial = "29d834f15b54adc5";
		m->old_pw = "so-246810";
		m->new_pw = "975310";
		break;
	case CARDD_MSG_CARD:
		m->serial = "29d834f15b54adc5";
		m->atr = "3b9f958131fe9f006a";
		m->label = "\xe8\x81\xb7\xe5\x93\xa1\xe8\xa8\xbc card-bob";
		m->manufacturer = "SoftHSM project";
		m->model = "SoftHSM v2";
		m->caps = CARDD_CAP_KEYGEN_EC | CARDD_CAP_WRITABLE |
		    CARDD_CAP_PIN_SET;
		m->pin_min = 4;
		m->pin_max = 255;
		m->ncerts = 2;
		m->certs = certs2;
		m->cert_lens = lens2;
		break;
	case CARDD_MSG_CSR:
		m->csr = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n"
		    "-----END CERTIFICATE REQUEST-----\n";
		m->key_id = "00ff";
		m->key_type = "p256";
		break;
	}
}

static const uint8_t types[] = { CARDD_MSG_CARD_INFO, CARDD_MSG_ENROL_KEYGEN,
	CARDD_MSG_ENROL_WRITE, CARDD_MSG_PIN_UNBLOCK, CARDD_MSG_CARD,
	CARDD_MSG_CSR };
#define NTYPES (sizeof(types) / sizeof(types[0]))

static struct kbuf *
emit(const struct cardd_msg *m)
{
	struct kbuf *b = kbuf_new(CARDD_FRAME_MAX + 4);

	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(cardd_msg_emit(m, b), 0);
	return b;
}

static int
streq(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

START_TEST(round_trip)
{
	struct cardd_msg m, p;
	struct kbuf *b;
	size_t i, j;

	for (i = 0; i < NTYPES; i++) {
		sample(types[i], &m);
		b = emit(&m);
		ck_assert_int_eq(cardd_msg_parse(kbuf_ptr(b) + 4,
		    kbuf_len(b) - 4, &p), 0);
		ck_assert_uint_eq(p.type, m.type);
		ck_assert_uint_eq(p.wait, m.wait);
		ck_assert(streq(p.serial, m.serial));
		ck_assert(streq(p.old_pw, m.old_pw));
		ck_assert(streq(p.new_pw, m.new_pw));
		ck_assert(streq(p.atr, m.atr));
		ck_assert(streq(p.label, m.label));
		ck_assert(streq(p.manufacturer, m.manufacturer));
		ck_assert(streq(p.model, m.model));
		ck_assert(streq(p.key_id, m.key_id));
		ck_assert(streq(p.key_type, m.key_type));
		ck_assert(streq(p.csr, m.csr));
		ck_assert_uint_eq(p.caps, m.caps);
		ck_assert_uint_eq(p.pin_min, m.pin_min);
		ck_assert_uint_eq(p.pin_max, m.pin_max);
		ck_assert_uint_eq(p.ncerts, m.ncerts);
		for (j = 0; j < m.ncerts; j++) {
			ck_assert_uint_eq(p.cert_lens[j], m.cert_lens[j]);
			ck_assert_mem_eq(p.certs[j], m.certs[j],
			    m.cert_lens[j]);
		}
		ck_assert_uint_eq(p.der_len, m.der_len);
		if (m.der_len > 0)
			ck_assert_mem_eq(p.der, m.der, m.der_len);
		/* the requests are the client's to send, the data cardd's */
		ck_assert_int_eq(cardd_msg_from_client(p.type),
		    p.type != CARDD_MSG_CARD && p.type != CARDD_MSG_CSR);
		cardd_msg_clear(&p);
		ck_assert_ptr_null(p.serial);
		ck_assert_ptr_null(p.certs);
		kbuf_free(b);
	}
}
END_TEST

static void
check_canonical(const uint8_t *body, size_t len)
{
	struct cardd_msg p;
	struct kbuf *b;

	if (cardd_msg_parse(body, len, &p) != 0) {
		ck_assert_ptr_null(p.serial);
		ck_assert_ptr_null(p.certs);
		ck_assert_ptr_null(p.der);
		return;
	}
	b = kbuf_new(CARDD_FRAME_MAX + 4);
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(cardd_msg_emit(&p, b), 0);
	ck_assert_uint_eq(kbuf_len(b) - 4, len);
	ck_assert_mem_eq(kbuf_ptr(b) + 4, body, len);
	kbuf_free(b);
	cardd_msg_clear(&p);
}

START_TEST(mutations)
{
	struct cardd_msg m, p;
	struct kbuf *b;
	uint8_t *body;
	size_t i, len, pos;
	int bit;

	for (i = 0; i < NTYPES; i++) {
		sample(types[i], &m);
		b = emit(&m);
		len = kbuf_len(b) - 4;
		body = malloc(len);
		ck_assert_ptr_nonnull(body);
		for (pos = 0; pos < len; pos++)
			for (bit = 0; bit < 8; bit++) {
				memcpy(body, kbuf_ptr(b) + 4, len);
				body[pos] ^= (uint8_t)(1u << bit);
				check_canonical(body, len);
			}
		memcpy(body, kbuf_ptr(b) + 4, len);
		for (pos = 0; pos < len; pos++) {
			/* truncated_frame */
			ck_assert_int_ne(cardd_msg_parse(body, pos, &p), 0);
			ck_assert_ptr_null(p.serial);
		}
		free(body);
		kbuf_free(b);
	}
}
END_TEST

/* Emit m (checks off) by hand-building the body: for the parse faults. */
static int
parse_of(const struct cardd_msg *m)
{
	struct cardd_msg p;
	struct kbuf *b = emit(m);
	int r;

	r = cardd_msg_parse(kbuf_ptr(b) + 4, kbuf_len(b) - 4, &p);
	cardd_msg_clear(&p);
	kbuf_free(b);
	return r;
}

START_TEST(faults)
{
	struct cardd_msg m;
	struct kbuf *b = kbuf_new(CARDD_FRAME_MAX + 4);
	uint8_t big[CARDD_CERT_MAX + 1];
	uint8_t *many[CARDD_CARD_CERTS_MAX + 1];
	size_t manyl[CARDD_CARD_CERTS_MAX + 1], i;
	uint8_t body[32];

	ck_assert_ptr_nonnull(b);
	/* wait_over_max: refused on both sides */
	sample(CARDD_MSG_CARD_INFO, &m);
	m.wait = CARDD_WAIT_MAX + 1;
	ck_assert_int_eq(cardd_msg_emit(&m, b), KAGI_ERR_INVALID);
	memcpy(body, "\x01\x07\x00\x00\x02\x59", 6); /* 601 s */
	ck_assert_int_eq(cardd_msg_parse(body, 6, &m), KAGI_ERR_FORMAT);
	/* key_id_not_hex, key_id_odd_length, uppercase */
	sample(CARDD_MSG_ENROL_WRITE, &m);
	m.key_id = "zz";
	ck_assert_int_eq(parse_of(&m), KAGI_ERR_FORMAT);
	m.key_id = "abc";
	ck_assert_int_eq(parse_of(&m), KAGI_ERR_FORMAT);
	m.key_id = "AB";
	ck_assert_int_eq(parse_of(&m), KAGI_ERR_FORMAT);
	/* empty_cert, oversize_cert */
	sample(CARDD_MSG_ENROL_WRITE, &m);
	m.der_len = 0;
	ck_assert_int_eq(cardd_msg_emit(&m, b), KAGI_ERR_INVALID);
	memset(big, 0x30, sizeof(big));
	m.der = big;
	m.der_len = sizeof(big);
	ck_assert_int_eq(cardd_msg_emit(&m, b), KAGI_ERR_INVALID);
	/* too_many_certs */
	sample(CARDD_MSG_CARD, &m);
	for (i = 0; i <= CARDD_CARD_CERTS_MAX; i++) {
		many[i] = cert_a;
		manyl[i] = sizeof(cert_a);
	}
	m.certs = many;
	m.cert_lens = manyl;
	m.ncerts = CARDD_CARD_CERTS_MAX + 1;
	ck_assert_int_eq(cardd_msg_emit(&m, b), KAGI_ERR_INVALID);
	/* unknown_caps_bits */
	sample(CARDD_MSG_CARD, &m);
	m.caps = 0x80;
	ck_assert_int_eq(cardd_msg_emit(&m, b), KAGI_ERR_INVALID);
	/* empty_serial: a request names its card */
	sample(CARDD_MSG_PIN_UNBLOCK, &m);
	m.serial = "";
	ck_assert_int_eq(parse_of(&m), KAGI_ERR_FORMAT);
	/* secrets_in_secure_memory: a request's PINs parse into secrets */
	sample(CARDD_MSG_PIN_UNBLOCK, &m);
	ck_assert_int_eq(parse_of(&m), 0);
	kbuf_free(b);
}
END_TEST

/* cardd's side of one request: a CARD (twice if extra), then RESULT. */
static void
fake_cardd(int fd, int extra)
{
	struct cardd_msg req, m;

	if (cardd_msg_recv(fd, &req, 2000) != 0 ||
	    req.type != CARDD_MSG_CARD_INFO)
		_exit(2);
	cardd_msg_clear(&req);
	sample(CARDD_MSG_CARD, &m);
	if (cardd_msg_send(fd, &m, 2000) != 0)
		_exit(3);
	if (extra && cardd_msg_send(fd, &m, 2000) != 0)
		_exit(3);
	memset(&m, 0, sizeof(m));
	m.type = CARDD_MSG_RESULT;
	if (cardd_msg_send(fd, &m, 2000) != 0)
		_exit(4);
	_exit(0);
}

static int
no_conv(uint8_t style, uint16_t prompt, const char *arg, char **answer,
    void *ctx)
{
	(void)style;
	(void)prompt;
	(void)arg;
	(void)ctx;
	*answer = NULL;
	return 1;
}

/* One CARD_INFO request to a forked fake cardd on a Unix socket. */
static int
request_over_pair(int extra, struct cardd_msg *data, struct cardd_msg *res)
{
	int r, st = 0, lfd, cfd;
	pid_t pid;
	struct cardd_msg req;
	char path[64];
	struct cardd_conn *c = NULL;

	/* a real listening socket, as cardd has */
	snprintf(path, sizeof(path), "/tmp/kagi-counter-test.%ld", (long)getpid());
	unlink(path);
	{
		struct sockaddr_un sa;

		memset(&sa, 0, sizeof(sa));
		sa.sun_family = AF_UNIX;
		memcpy(sa.sun_path, path, strlen(path) + 1);
		lfd = socket(AF_UNIX, SOCK_STREAM, 0);
		ck_assert_int_ge(lfd, 0);
		ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa,
		    sizeof(sa)), 0);
		ck_assert_int_eq(listen(lfd, 1), 0);
	}
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		cfd = accept(lfd, NULL, NULL);
		if (cfd < 0)
			_exit(1);
		fake_cardd(cfd, extra);
	}
	close(lfd);
	ck_assert_int_eq(cardd_conn_open(path, &c), 0);
	memset(&req, 0, sizeof(req));
	req.type = CARDD_MSG_CARD_INFO;
	req.wait = 1;
	r = cardd_conn_counter(c, &req, no_conv, NULL, 2000, data, res);
	cardd_conn_close(c);
	waitpid(pid, &st, 0);
	unlink(path);
	return r;
}

START_TEST(conn_counter_card_then_result)
{
	struct cardd_msg data, res;

	ck_assert_int_eq(request_over_pair(0, &data, &res), 0);
	ck_assert_uint_eq(data.type, CARDD_MSG_CARD);
	ck_assert_str_eq(data.serial, "29d834f15b54adc5");
	ck_assert_uint_eq(data.ncerts, 2);
	ck_assert_uint_eq(res.type, CARDD_MSG_RESULT);
	ck_assert_int_eq(res.code, 0);
	cardd_msg_clear(&data);
	cardd_msg_clear(&res);
}
END_TEST

START_TEST(conn_counter_two_data_refused)
{
	struct cardd_msg data, res;

	ck_assert_int_eq(request_over_pair(1, &data, &res), KAGI_ERR_FORMAT);
	ck_assert_uint_eq(data.type, 0);
	ck_assert_ptr_null(data.serial);
	ck_assert_uint_eq(res.type, 0);
}
END_TEST

START_TEST(conn_counter_login_request_refused)
{
	struct cardd_msg req, data, res;
	struct cardd_conn *c = NULL;
	struct sockaddr_un sa;
	char path[64], buf[8];
	int lfd, afd;

	/* only the counter requests go through cardd_conn_counter */
	snprintf(path, sizeof(path), "/tmp/kagi-counter-auth.%ld",
	    (long)getpid());
	unlink(path);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);
	ck_assert_int_eq(cardd_conn_open(path, &c), 0);
	memset(&req, 0, sizeof(req));
	req.type = CARDD_MSG_AUTH;
	req.user = "alice";
	req.service = "login";
	ck_assert_int_eq(cardd_conn_counter(c, &req, no_conv, NULL, 100, &data,
	    &res), KAGI_ERR_INVALID);
	/* and nothing went out */
	afd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(afd, 0);
	ck_assert_int_lt(recv(afd, buf, sizeof(buf), MSG_DONTWAIT), 0);
	close(afd);
	cardd_conn_close(c);
	close(lfd);
	unlink(path);
}
END_TEST

static Suite *
counter_suite(void)
{
	Suite *s = suite_create("cardd_counter");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, mutations);
	tcase_add_test(tc, faults);
	tcase_add_test(tc, conn_counter_card_then_result);
	tcase_add_test(tc, conn_counter_two_data_refused);
	tcase_add_test(tc, conn_counter_login_request_refused);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(counter_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
