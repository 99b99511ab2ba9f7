/*
 * The cardd protocol (include/kagi/cardd.h, docs/PROTOCOL-cardd.md): round
 * trips of every message type, a mutation loop (flip each bit of each byte,
 * truncate at every length: never a crash, and whatever parses re-encodes
 * to exactly the mutated bytes, so nothing is accepted loosely), and the
 * faults named: wrong_version, trailing_bytes, oversize_frame, zero_frame,
 * unknown_type, control_chars_in_name, oversize_string, bad_result_code,
 * too_many_rules; frame I/O over a socketpair.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <check.h>

#include "kagi/cardd.h"
#include "kagi/conf.h"
#include "kagi/kbuf.h"
#include "kagi/secmem.h"

static struct cardd_rule rules2[] = {
	{ "min_length", "at least 12 characters" },
	{ "history", "used before" },
};

/* One filled message of each type. */
static void
sample(uint8_t type, struct cardd_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	switch (type) {
	case CARDD_MSG_AUTH:
		m->user = "alice";
		m->service = "login";
		m->tty = "tty1";
		m->rhost = "";
		break;
	case CARDD_MSG_ANSWER:
		m->answered = 1;
		m->response = "123456";
		break;
	case CARDD_MSG_ACCT:
		m->user = "alice";
		m->service = "sshd";
		break;
	case CARDD_MSG_CHPW:
		m->user = "alice";
		m->service = "passwd";
		m->old_pw = "Temp-0ld!";
		m->new_pw = "n3w-Passw0rd-long";
		break;
	case CARDD_MSG_SESSION_OPEN:
	case CARDD_MSG_SESSION_CLOSE:
		m->user = "alice";
		m->service = "login";
		m->tty = "pts/0";
		m->session_id = "0123456789abcdef0123456789abcdef";
		break;
	case CARDD_MSG_PROMPT:
		m->style = CARDD_STYLE_INFO;
		m->prompt = CARDD_P_TEXT;
		m->text = "\xe8\xad\xa6\xe5\x91\x8a: authorised use only";
		break;
	case CARDD_MSG_RESULT:
		m->code = KAGI_ERR_INVALID;
		m->must_change = 1;
		m->session_id = "0123456789abcdef0123456789abcdef";
		m->session_end = 1790000000;
		m->last_login = 1780000000;
		m->last_terminal = "term-0042";
		m->last_logout = 1780003600;
		m->failed_since = 3;
		m->nrules = 2;
		m->rules = rules2;
		break;
	}
}

static const uint8_t types[] = { CARDD_MSG_AUTH, CARDD_MSG_ANSWER,
	CARDD_MSG_ACCT, CARDD_MSG_CHPW, CARDD_MSG_SESSION_OPEN,
	CARDD_MSG_SESSION_CLOSE, CARDD_MSG_PROMPT, CARDD_MSG_RESULT };
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
	size_t i;

	for (i = 0; i < NTYPES; i++) {
		sample(types[i], &m);
		b = emit(&m);
		ck_assert_uint_gt(kbuf_len(b), 6);
		/* skip the u32 length; it must equal what follows */
		ck_assert_uint_eq(((size_t)kbuf_ptr(b)[2] << 8 |
		    kbuf_ptr(b)[3]), kbuf_len(b) - 4);
		ck_assert_int_eq(cardd_msg_parse(kbuf_ptr(b) + 4,
		    kbuf_len(b) - 4, &p), 0);
		ck_assert_uint_eq(p.type, m.type);
		ck_assert(streq(p.user, m.user));
		ck_assert(streq(p.service, m.service));
		ck_assert(streq(p.tty, m.tty));
		ck_assert(streq(p.rhost, m.rhost));
		ck_assert(streq(p.session_id, m.session_id));
		ck_assert(streq(p.response, m.response));
		ck_assert(streq(p.old_pw, m.old_pw));
		ck_assert(streq(p.new_pw, m.new_pw));
		ck_assert(streq(p.text, m.text));
		ck_assert(streq(p.last_terminal, m.last_terminal));
		ck_assert_int_eq(p.code, m.code);
		ck_assert_uint_eq(p.must_change, m.must_change);
		ck_assert_int_eq(p.session_end, m.session_end);
		ck_assert_int_eq(p.last_login, m.last_login);
		ck_assert_int_eq(p.last_logout, m.last_logout);
		ck_assert_uint_eq(p.failed_since, m.failed_since);
		ck_assert_uint_eq(p.nrules, m.nrules);
		if (m.nrules > 0) {
			ck_assert_str_eq(p.rules[1].rule, "history");
			ck_assert_str_eq(p.rules[0].message,
			    "at least 12 characters");
		}
		cardd_msg_clear(&p);
		ck_assert_ptr_null(p.user);
		kbuf_free(b);
	}
}
END_TEST

/* A parse that succeeds must re-encode to the very same bytes. */
static void
check_canonical(const uint8_t *body, size_t len)
{
	struct cardd_msg p;
	struct kbuf *b;

	if (cardd_msg_parse(body, len, &p) != 0) {
		ck_assert_ptr_null(p.user);
		ck_assert_ptr_null(p.rules);
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
	struct cardd_msg m;
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
			struct cardd_msg p;

			/* truncated_frame: every strict prefix is refused */
			ck_assert_int_ne(cardd_msg_parse(body, pos, &p), 0);
			ck_assert_ptr_null(p.user);
		}
		free(body);
		kbuf_free(b);
	}
}
END_TEST

START_TEST(wrong_version)
{
	struct cardd_msg m, p;
	struct kbuf *b;
	uint8_t *body;
	size_t len;

	sample(CARDD_MSG_AUTH, &m);
	b = emit(&m);
	len = kbuf_len(b) - 4;
	body = malloc(len);
	memcpy(body, kbuf_ptr(b) + 4, len);
	body[0] = CARDD_PROTO_VERSION + 1;
	ck_assert_int_eq(cardd_msg_parse(body, len, &p), KAGI_ERR_VERSION);
	body[0] = 0;
	ck_assert_int_eq(cardd_msg_parse(body, len, &p), KAGI_ERR_VERSION);
	free(body);
	kbuf_free(b);
}
END_TEST

START_TEST(trailing_bytes)
{
	struct cardd_msg m, p;
	struct kbuf *b;
	uint8_t body[1024];
	size_t len;

	sample(CARDD_MSG_ACCT, &m);
	b = emit(&m);
	len = kbuf_len(b) - 4;
	memcpy(body, kbuf_ptr(b) + 4, len);
	body[len] = 0;
	ck_assert_int_eq(cardd_msg_parse(body, len + 1, &p), KAGI_ERR_TRAILING);
	ck_assert_ptr_null(p.user);
	kbuf_free(b);
}
END_TEST

START_TEST(unknown_type)
{
	uint8_t body[] = { CARDD_PROTO_VERSION, 0x7f };
	uint8_t empty_ok[] = { CARDD_PROTO_VERSION, 0x00 };
	struct cardd_msg p;

	ck_assert_int_eq(cardd_msg_parse(body, sizeof(body), &p),
	    KAGI_ERR_FORMAT);
	ck_assert_int_eq(cardd_msg_parse(empty_ok, sizeof(empty_ok), &p),
	    KAGI_ERR_FORMAT);
	ck_assert_int_ne(cardd_msg_parse(body, 0, &p), 0);
	ck_assert_int_ne(cardd_msg_parse(NULL, 5, &p), 0);
}
END_TEST

START_TEST(control_chars_in_name)
{
	struct cardd_msg m, p;
	struct kbuf *b;

	sample(CARDD_MSG_AUTH, &m);
	m.user = "alice\nevent=forged";
	b = emit(&m); /* the sender does not judge; the receiver does */
	ck_assert_int_eq(cardd_msg_parse(kbuf_ptr(b) + 4, kbuf_len(b) - 4,
	    &p), KAGI_ERR_FORMAT);
	kbuf_free(b);
	sample(CARDD_MSG_AUTH, &m);
	m.user = ""; /* empty_user */
	b = emit(&m);
	ck_assert_int_eq(cardd_msg_parse(kbuf_ptr(b) + 4, kbuf_len(b) - 4,
	    &p), KAGI_ERR_FORMAT);
	kbuf_free(b);
}
END_TEST

START_TEST(oversize_string)
{
	struct cardd_msg m;
	struct kbuf *b = kbuf_new(CARDD_FRAME_MAX + 4);
	char *big = malloc(CARDD_NAME_MAX + 2);
	uint8_t raw[64];
	struct kbuf *w = kbuf_new(sizeof(raw));
	struct cardd_msg p;

	memset(big, 'a', CARDD_NAME_MAX + 1);
	big[CARDD_NAME_MAX + 1] = '\0';
	sample(CARDD_MSG_AUTH, &m);
	m.user = big;
	ck_assert_int_eq(cardd_msg_emit(&m, b), KAGI_ERR_INVALID);
	/* a length prefix claiming more than the cap: refused, no alloc */
	ck_assert_int_eq(kbuf_put_u8(w, CARDD_PROTO_VERSION), 0);
	ck_assert_int_eq(kbuf_put_u8(w, CARDD_MSG_AUTH), 0);
	ck_assert_int_eq(kbuf_put_u32(w, 0xfffffff0u), 0);
	ck_assert_int_eq(kbuf_put(w, "abc", 3), 0);
	ck_assert_int_ne(cardd_msg_parse(kbuf_ptr(w), kbuf_len(w), &p), 0);
	free(big);
	kbuf_free(b);
	kbuf_free(w);
}
END_TEST

START_TEST(bad_result_code)
{
	struct cardd_msg m;
	struct kbuf *b = kbuf_new(CARDD_FRAME_MAX + 4);

	sample(CARDD_MSG_RESULT, &m);
	m.code = 1; /* positive: never valid */
	ck_assert_int_eq(cardd_msg_emit(&m, b), KAGI_ERR_INVALID);
	m.code = KAGI_ERR_MIN - 1;
	ck_assert_int_eq(cardd_msg_emit(&m, b), KAGI_ERR_INVALID);
	kbuf_free(b);
}
END_TEST

START_TEST(too_many_rules)
{
	struct kbuf *w = kbuf_new(4096);
	struct cardd_msg p;

	ck_assert_int_eq(kbuf_put_u8(w, CARDD_PROTO_VERSION), 0);
	ck_assert_int_eq(kbuf_put_u8(w, CARDD_MSG_RESULT), 0);
	ck_assert_int_eq(kbuf_put_i64(w, 0), 0);
	ck_assert_int_eq(kbuf_put_u8(w, 0), 0);
	ck_assert_int_eq(kbuf_put_string(w, ""), 0);
	ck_assert_int_eq(kbuf_put_i64(w, 0), 0);
	ck_assert_int_eq(kbuf_put_i64(w, 0), 0);
	ck_assert_int_eq(kbuf_put_string(w, ""), 0);
	ck_assert_int_eq(kbuf_put_i64(w, 0), 0);
	ck_assert_int_eq(kbuf_put_u32(w, 0), 0);
	ck_assert_int_eq(kbuf_put_u16(w, CARDD_RULES_MAX + 1), 0);
	ck_assert_int_eq(cardd_msg_parse(kbuf_ptr(w), kbuf_len(w), &p),
	    KAGI_ERR_LIMIT);
	kbuf_free(w);
}
END_TEST

START_TEST(frames_over_socket)
{
	int sv[2];
	struct cardd_msg m, p;
	uint8_t hdr[4];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	sample(CARDD_MSG_CHPW, &m);
	ck_assert_int_eq(cardd_msg_send(sv[0], &m, 1000), 0);
	ck_assert_int_eq(cardd_msg_recv(sv[1], &p, 1000), 0);
	ck_assert_str_eq(p.new_pw, "n3w-Passw0rd-long");
	cardd_msg_clear(&p);

	/* oversize_frame: a length over 64 KiB is refused before reading */
	hdr[0] = 0x00; hdr[1] = 0x01; hdr[2] = 0x00; hdr[3] = 0x01;
	ck_assert_int_eq(write(sv[0], hdr, 4), 4);
	ck_assert_int_eq(cardd_msg_recv(sv[1], &p, 1000), KAGI_ERR_LIMIT);
	/* zero_frame */
	memset(hdr, 0, 4);
	ck_assert_int_eq(write(sv[0], hdr, 4), 4);
	ck_assert_int_eq(cardd_msg_recv(sv[1], &p, 1000), KAGI_ERR_FORMAT);
	/* short_frame: the peer stops mid-frame -> timeout */
	hdr[3] = 10;
	ck_assert_int_eq(write(sv[0], hdr, 4), 4);
	ck_assert_int_eq(write(sv[0], "\x01\x03", 2), 2);
	ck_assert_int_eq(cardd_msg_recv(sv[1], &p, 200), KAGI_ERR_TIMEOUT);
	/* peer_closed */
	close(sv[0]);
	ck_assert_int_eq(cardd_msg_recv(sv[1], &p, 1000),
	    KAGI_ERR_UNAVAILABLE);
	close(sv[1]);
}
END_TEST


/* [cardd] in kagi.conf: keys parsed, bad values named (conf.c). */
START_TEST(conf_cardd_section)
{
	static const char good[] = "[cardd]\nsocket = run/cardd.sock\n"
	    "kagid_url = https://kagid.example:8443\nterminal_cert = t.crt\n"
	    "terminal_key = t.key\nca = ca.crt\ncard_wait = 45\nfido = on\n"
	    "fido_device = auto\nlock_command = loginctl lock-session %s\n";
	static const char *const bad[] = {
		"[cardd]\ncard_wait = 601\n",      /* over the limit */
		"[cardd]\ncard_wait = -1\n",
		"[cardd]\nfido = yes\n",           /* on|off only */
		"[cardd]\nkagid_url = ftp://x\n",
		"[cardd]\nunknown_key = 1\n",
		"[cardd]\nlock_command = a\tb\n",
	};
	struct kagi_conf *c = NULL;
	char err[256];
	size_t i;

	ck_assert_int_eq(kagi_conf_parse(good, sizeof(good) - 1, "t.conf",
	    "/etc/kagi", &c, err, sizeof(err)), 0);
	ck_assert_str_eq(c->cardd_socket, "/etc/kagi/run/cardd.sock");
	ck_assert_str_eq(c->cardd_card_wait, "45");
	ck_assert_str_eq(c->cardd_fido_device, "auto");
	ck_assert_str_eq(c->cardd_terminal_key, "/etc/kagi/t.key");
	kagi_conf_free(c);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = NULL;
		ck_assert_int_ne(kagi_conf_parse(bad[i], strlen(bad[i]),
		    "t.conf", "/etc/kagi", &c, err, sizeof(err)), 0);
		ck_assert_ptr_null(c);
		ck_assert_ptr_nonnull(strstr(err, "[cardd]"));
	}
}
END_TEST

static Suite *
proto_suite(void)
{
	Suite *s = suite_create("cardd_proto");
	TCase *tc = tcase_create("proto");

	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, mutations);
	tcase_add_test(tc, wrong_version);
	tcase_add_test(tc, trailing_bytes);
	tcase_add_test(tc, unknown_type);
	tcase_add_test(tc, control_chars_in_name);
	tcase_add_test(tc, oversize_string);
	tcase_add_test(tc, bad_result_code);
	tcase_add_test(tc, too_many_rules);
	tcase_add_test(tc, frames_over_socket);
	tcase_add_test(tc, conf_cardd_section);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(proto_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
