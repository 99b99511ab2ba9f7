/*
 * The cardd wire protocol (include/kagi/cardd.h, docs/PROTOCOL-cardd.md):
 * emit and parse of every message, side by side, and frame I/O.  Every byte
 * read from the socket is read through a kbuf; a parse reads the version and
 * type first, then the fields of that type in order, then requires the end.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include "kagi/cardd.h"
#include "kagi/kbuf.h"
#include "kagi/secmem.h"

void
cardd_msg_clear(struct cardd_msg *m)
{
	size_t i;

	if (m == NULL)
		return;
	free(m->user);
	free(m->service);
	free(m->tty);
	free(m->rhost);
	free(m->session_id);
	free(m->logind);
	kagi_secure_strfree(m->response);
	kagi_secure_strfree(m->old_pw);
	kagi_secure_strfree(m->new_pw);
	free(m->text);
	free(m->last_terminal);
	for (i = 0; m->rules != NULL && i < m->nrules; i++) {
		free(m->rules[i].rule);
		free(m->rules[i].message);
	}
	free(m->rules);
	free(m->serial);
	free(m->atr);
	free(m->label);
	free(m->manufacturer);
	free(m->model);
	for (i = 0; m->certs != NULL && i < m->ncerts; i++)
		free(m->certs[i]);
	free(m->certs);
	free(m->cert_lens);
	free(m->key_id);
	free(m->key_type);
	free(m->csr);
	free(m->der);
	memset(m, 0, sizeof(*m));
}

int
cardd_msg_from_client(uint8_t type)
{
	return type >= CARDD_MSG_AUTH && type <= CARDD_MSG_PIN_UNBLOCK;
}

static int
known_type(uint8_t t)
{
	return cardd_msg_from_client(t) || t == CARDD_MSG_PROMPT ||
	    t == CARDD_MSG_RESULT || t == CARDD_MSG_CARD || t == CARDD_MSG_CSR;
}

static int
str_ok(const char *s, size_t max)
{
	return s == NULL || strlen(s) <= max;
}

static int
put_str(struct kbuf *b, const char *s, size_t max)
{
	if (!str_ok(s, max))
		return KAGI_ERR_INVALID;
	return kbuf_put_string(b, s);
}

/* The counter messages (issue 6): docs/PROTOCOL-cardd.md "The counter". */
static int
emit_counter(const struct cardd_msg *m, struct kbuf *b)
{
	int r;
	size_t i;

	switch (m->type) {
	case CARDD_MSG_CARD_INFO:
		if (m->wait > CARDD_WAIT_MAX)
			return KAGI_ERR_INVALID;
		return kbuf_put_u32(b, m->wait);
	case CARDD_MSG_ENROL_KEYGEN:
	case CARDD_MSG_PIN_UNBLOCK:
		if ((r = put_str(b, m->serial, CARDD_NAME_MAX)) != 0 ||
		    (r = put_str(b, m->old_pw, CARDD_SECRET_MAX)) != 0 ||
		    (r = put_str(b, m->new_pw, CARDD_SECRET_MAX)) != 0)
			return r;
		return 0;
	case CARDD_MSG_ENROL_WRITE:
		if (m->der == NULL || m->der_len == 0 ||
		    m->der_len > CARDD_CERT_MAX)
			return KAGI_ERR_INVALID;
		if ((r = put_str(b, m->serial, CARDD_NAME_MAX)) != 0 ||
		    (r = put_str(b, m->old_pw, CARDD_SECRET_MAX)) != 0 ||
		    (r = put_str(b, m->key_id, CARDD_NAME_MAX)) != 0 ||
		    (r = kbuf_put_blob(b, m->der, m->der_len)) != 0)
			return r;
		return 0;
	case CARDD_MSG_CARD:
		if ((m->caps & ~CARDD_CAPS_ALL) != 0 ||
		    m->ncerts > CARDD_CARD_CERTS_MAX ||
		    (m->ncerts > 0 && (m->certs == NULL ||
		    m->cert_lens == NULL)))
			return KAGI_ERR_INVALID;
		if ((r = put_str(b, m->serial, CARDD_NAME_MAX)) != 0 ||
		    (r = put_str(b, m->atr, CARDD_NAME_MAX)) != 0 ||
		    (r = put_str(b, m->label, CARDD_NAME_MAX)) != 0 ||
		    (r = put_str(b, m->manufacturer, CARDD_NAME_MAX)) != 0 ||
		    (r = put_str(b, m->model, CARDD_NAME_MAX)) != 0 ||
		    (r = kbuf_put_u8(b, m->caps)) != 0 ||
		    (r = kbuf_put_u16(b, m->pin_min)) != 0 ||
		    (r = kbuf_put_u16(b, m->pin_max)) != 0 ||
		    (r = kbuf_put_u16(b, (uint16_t)m->ncerts)) != 0)
			return r;
		for (i = 0; i < m->ncerts; i++) {
			if (m->cert_lens[i] == 0 ||
			    m->cert_lens[i] > CARDD_CERT_MAX)
				return KAGI_ERR_INVALID;
			if ((r = kbuf_put_blob(b, m->certs[i],
			    m->cert_lens[i])) != 0)
				return r;
		}
		return 0;
	case CARDD_MSG_CSR:
		if ((r = put_str(b, m->csr, CARDD_TEXT_MAX)) != 0 ||
		    (r = put_str(b, m->key_id, CARDD_NAME_MAX)) != 0 ||
		    (r = put_str(b, m->key_type, CARDD_NAME_MAX)) != 0)
			return r;
		return 0;
	default:
		return KAGI_ERR_INVALID;
	}
}

static int
emit_body(const struct cardd_msg *m, struct kbuf *b)
{
	int r;
	size_t i;

	if ((r = kbuf_put_u8(b, CARDD_PROTO_VERSION)) != 0 ||
	    (r = kbuf_put_u8(b, m->type)) != 0)
		return r;
	switch (m->type) {
	case CARDD_MSG_AUTH:
		if ((r = put_str(b, m->user, CARDD_NAME_MAX)) != 0 ||
		    (r = put_str(b, m->service, CARDD_NAME_MAX)) != 0 ||
		    (r = put_str(b, m->tty, CARDD_NAME_MAX)) != 0 ||
		    (r = put_str(b, m->rhost, CARDD_NAME_MAX)) != 0)
			return r;
		return 0;
	case CARDD_MSG_ANSWER:
		if (m->answered > 1)
			return KAGI_ERR_INVALID;
		if ((r = kbuf_put_u8(b, m->answered)) != 0 ||
		    (r = put_str(b, m->response, CARDD_SECRET_MAX)) != 0)
			return r;
		return 0;
	case CARDD_MSG_ACCT:
		if ((r = put_str(b, m->user, CARDD_NAME_MAX)) != 0 ||
		    (r = put_str(b, m->service, CARDD_NAME_MAX)) != 0)
			return r;
		return 0;
	case CARDD_MSG_CHPW:
		if ((r = put_str(b, m->user, CARDD_NAME_MAX)) != 0 ||
		    (r = put_str(b, m->service, CARDD_NAME_MAX)) != 0 ||
		    (r = put_str(b, m->old_pw, CARDD_SECRET_MAX)) != 0 ||
		    (r = put_str(b, m->new_pw, CARDD_SECRET_MAX)) != 0)
			return r;
		return 0;
	case CARDD_MSG_SESSION_OPEN:
	case CARDD_MSG_SESSION_CLOSE:
		if ((r = put_str(b, m->user, CARDD_NAME_MAX)) != 0 ||
		    (r = put_str(b, m->service, CARDD_NAME_MAX)) != 0 ||
		    (r = put_str(b, m->tty, CARDD_NAME_MAX)) != 0 ||
		    (r = put_str(b, m->session_id, CARDD_NAME_MAX)) != 0 ||
		    (r = put_str(b, m->logind, CARDD_NAME_MAX)) != 0)
			return r;
		return 0;
	case CARDD_MSG_PROMPT:
		if (m->style < CARDD_STYLE_ECHO_OFF ||
		    m->style > CARDD_STYLE_ERROR || m->prompt > CARDD_P_MAX)
			return KAGI_ERR_INVALID;
		if ((r = kbuf_put_u8(b, m->style)) != 0 ||
		    (r = kbuf_put_u16(b, m->prompt)) != 0 ||
		    (r = put_str(b, m->text, CARDD_TEXT_MAX)) != 0)
			return r;
		return 0;
	case CARDD_MSG_RESULT:
		if (m->code > 0 || m->code < KAGI_ERR_MIN || m->must_change > 1 ||
		    m->nrules > CARDD_RULES_MAX ||
		    (m->nrules > 0 && m->rules == NULL))
			return KAGI_ERR_INVALID;
		if ((r = kbuf_put_i64(b, m->code)) != 0 ||
		    (r = kbuf_put_u8(b, m->must_change)) != 0 ||
		    (r = put_str(b, m->session_id, CARDD_NAME_MAX)) != 0 ||
		    (r = kbuf_put_i64(b, m->session_end)) != 0 ||
		    (r = kbuf_put_i64(b, m->last_login)) != 0 ||
		    (r = put_str(b, m->last_terminal, CARDD_NAME_MAX)) != 0 ||
		    (r = kbuf_put_i64(b, m->last_logout)) != 0 ||
		    (r = kbuf_put_u32(b, m->failed_since)) != 0 ||
		    (r = kbuf_put_u16(b, (uint16_t)m->nrules)) != 0)
			return r;
		for (i = 0; i < m->nrules; i++)
			if ((r = put_str(b, m->rules[i].rule,
			    CARDD_NAME_MAX)) != 0 ||
			    (r = put_str(b, m->rules[i].message,
			    CARDD_TEXT_MAX)) != 0)
				return r;
		return 0;
	default:
		return emit_counter(m, b);
	}
}

int
cardd_msg_emit(const struct cardd_msg *m, struct kbuf *out)
{
	struct kbuf *b = NULL;
	int r = KAGI_ERR_INTERNAL;

	if (m == NULL || out == NULL)
		return KAGI_ERR_INVALID;
	/* The body is built apart so that its length is known up front. */
	if ((b = kbuf_new(CARDD_FRAME_MAX)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = emit_body(m, b)) != 0)
		goto out;
	if ((r = kbuf_put_u32(out, (uint32_t)kbuf_len(b))) != 0 ||
	    (r = kbuf_put(out, kbuf_ptr(b), kbuf_len(b))) != 0)
		goto out;
	r = 0;
out:
	kbuf_free(b); /* wipes: the body may hold a secret */
	return r;
}

/* A name: non-empty unless allow_empty, no control characters. */
static int
get_name(struct kbuf *b, char **out, int allow_empty)
{
	char *s = NULL;
	size_t i;
	int r;

	if ((r = kbuf_get_string(b, &s, CARDD_NAME_MAX)) != 0)
		return r;
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			free(s);
			return KAGI_ERR_FORMAT;
		}
	if (!allow_empty && i == 0) {
		free(s);
		return KAGI_ERR_FORMAT;
	}
	*out = s;
	return 0;
}

static int
get_text(struct kbuf *b, char **out, size_t max)
{
	return kbuf_get_string(b, out, max);
}

/* A secret moves straight into secure memory; the heap copy is wiped. */
static int
get_secret(struct kbuf *b, char **out)
{
	char *s = NULL;
	int r;

	if ((r = kbuf_get_string(b, &s, CARDD_SECRET_MAX)) != 0)
		return r;
	*out = kagi_secure_strdup(s);
	kagi_wipe(s, strlen(s));
	free(s);
	return *out != NULL ? 0 : KAGI_ERR_NOMEM;
}

/* A lowercase hex string (CKA_ID), 2..128 digits, even. */
static int
get_hex(struct kbuf *b, char **out)
{
	char *s = NULL;
	size_t i;
	int r;

	if ((r = kbuf_get_string(b, &s, 128)) != 0)
		return r;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f'))) {
			free(s);
			return KAGI_ERR_FORMAT;
		}
	if (i < 2 || i % 2 != 0) {
		free(s);
		return KAGI_ERR_FORMAT;
	}
	*out = s;
	return 0;
}

static int
parse_counter(struct kbuf *b, struct cardd_msg *m)
{
	uint16_t n16 = 0;
	size_t i;
	int r;

	switch (m->type) {
	case CARDD_MSG_CARD_INFO:
		if ((r = kbuf_get_u32(b, &m->wait)) != 0)
			return r;
		if (m->wait > CARDD_WAIT_MAX)
			return KAGI_ERR_FORMAT;
		return 0;
	case CARDD_MSG_ENROL_KEYGEN:
	case CARDD_MSG_PIN_UNBLOCK:
		if ((r = get_name(b, &m->serial, 0)) != 0 ||
		    (r = get_secret(b, &m->old_pw)) != 0 ||
		    (r = get_secret(b, &m->new_pw)) != 0)
			return r;
		return 0;
	case CARDD_MSG_ENROL_WRITE:
		if ((r = get_name(b, &m->serial, 0)) != 0 ||
		    (r = get_secret(b, &m->old_pw)) != 0 ||
		    (r = get_hex(b, &m->key_id)) != 0 ||
		    (r = kbuf_get_blob(b, &m->der, &m->der_len,
		    CARDD_CERT_MAX)) != 0)
			return r;
		if (m->der_len == 0)
			return KAGI_ERR_FORMAT;
		return 0;
	case CARDD_MSG_CARD:
		if ((r = get_name(b, &m->serial, 0)) != 0 ||
		    (r = get_name(b, &m->atr, 1)) != 0 ||
		    (r = get_name(b, &m->label, 1)) != 0 ||
		    (r = get_name(b, &m->manufacturer, 1)) != 0 ||
		    (r = get_name(b, &m->model, 1)) != 0 ||
		    (r = kbuf_get_u8(b, &m->caps)) != 0 ||
		    (r = kbuf_get_u16(b, &m->pin_min)) != 0 ||
		    (r = kbuf_get_u16(b, &m->pin_max)) != 0 ||
		    (r = kbuf_get_u16(b, &n16)) != 0)
			return r;
		if ((m->caps & ~CARDD_CAPS_ALL) != 0)
			return KAGI_ERR_FORMAT;
		if (n16 > CARDD_CARD_CERTS_MAX)
			return KAGI_ERR_LIMIT;
		if (n16 > 0 && ((m->certs = calloc(n16,
		    sizeof(*m->certs))) == NULL || (m->cert_lens = calloc(n16,
		    sizeof(*m->cert_lens))) == NULL))
			return KAGI_ERR_NOMEM;
		for (i = 0; i < n16; i++) {
			m->ncerts = i + 1;
			if ((r = kbuf_get_blob(b, &m->certs[i],
			    &m->cert_lens[i], CARDD_CERT_MAX)) != 0)
				return r;
			if (m->cert_lens[i] == 0)
				return KAGI_ERR_FORMAT;
		}
		return 0;
	case CARDD_MSG_CSR:
		if ((r = get_text(b, &m->csr, CARDD_TEXT_MAX)) != 0 ||
		    (r = get_hex(b, &m->key_id)) != 0 ||
		    (r = get_name(b, &m->key_type, 0)) != 0)
			return r;
		return 0;
	default:
		return KAGI_ERR_FORMAT;
	}
}

static int
parse_body(struct kbuf *b, struct cardd_msg *m)
{
	uint8_t ver = 0;
	uint16_t n16 = 0;
	int64_t code = 0;
	size_t i;
	int r;

	if ((r = kbuf_get_u8(b, &ver)) != 0)
		return r;
	if (ver != CARDD_PROTO_VERSION)
		return KAGI_ERR_VERSION;
	if ((r = kbuf_get_u8(b, &m->type)) != 0)
		return r;
	switch (m->type) {
	case CARDD_MSG_AUTH:
		if ((r = get_name(b, &m->user, 0)) != 0 ||
		    (r = get_name(b, &m->service, 0)) != 0 ||
		    (r = get_name(b, &m->tty, 1)) != 0 ||
		    (r = get_name(b, &m->rhost, 1)) != 0)
			return r;
		break;
	case CARDD_MSG_ANSWER:
		if ((r = kbuf_get_u8(b, &m->answered)) != 0)
			return r;
		if (m->answered > 1)
			return KAGI_ERR_FORMAT;
		if ((r = get_secret(b, &m->response)) != 0)
			return r;
		break;
	case CARDD_MSG_ACCT:
		if ((r = get_name(b, &m->user, 0)) != 0 ||
		    (r = get_name(b, &m->service, 0)) != 0)
			return r;
		break;
	case CARDD_MSG_CHPW:
		if ((r = get_name(b, &m->user, 0)) != 0 ||
		    (r = get_name(b, &m->service, 0)) != 0 ||
		    (r = get_secret(b, &m->old_pw)) != 0 ||
		    (r = get_secret(b, &m->new_pw)) != 0)
			return r;
		break;
	case CARDD_MSG_SESSION_OPEN:
	case CARDD_MSG_SESSION_CLOSE:
		if ((r = get_name(b, &m->user, 0)) != 0 ||
		    (r = get_name(b, &m->service, 0)) != 0 ||
		    (r = get_name(b, &m->tty, 1)) != 0 ||
		    (r = get_name(b, &m->session_id, 1)) != 0 ||
		    (r = get_name(b, &m->logind, 1)) != 0)
			return r;
		break;
	case CARDD_MSG_PROMPT:
		if ((r = kbuf_get_u8(b, &m->style)) != 0 ||
		    (r = kbuf_get_u16(b, &m->prompt)) != 0)
			return r;
		if (m->style < CARDD_STYLE_ECHO_OFF ||
		    m->style > CARDD_STYLE_ERROR || m->prompt > CARDD_P_MAX)
			return KAGI_ERR_FORMAT;
		if ((r = get_text(b, &m->text, CARDD_TEXT_MAX)) != 0)
			return r;
		break;
	case CARDD_MSG_RESULT:
		if ((r = kbuf_get_i64(b, &code)) != 0)
			return r;
		if (code > 0 || code < KAGI_ERR_MIN)
			return KAGI_ERR_FORMAT;
		m->code = (int)code;
		if ((r = kbuf_get_u8(b, &m->must_change)) != 0)
			return r;
		if (m->must_change > 1)
			return KAGI_ERR_FORMAT;
		if ((r = get_name(b, &m->session_id, 1)) != 0 ||
		    (r = kbuf_get_i64(b, &m->session_end)) != 0 ||
		    (r = kbuf_get_i64(b, &m->last_login)) != 0 ||
		    (r = get_name(b, &m->last_terminal, 1)) != 0 ||
		    (r = kbuf_get_i64(b, &m->last_logout)) != 0 ||
		    (r = kbuf_get_u32(b, &m->failed_since)) != 0 ||
		    (r = kbuf_get_u16(b, &n16)) != 0)
			return r;
		if (n16 > CARDD_RULES_MAX)
			return KAGI_ERR_LIMIT;
		if (n16 > 0 && (m->rules = calloc(n16,
		    sizeof(*m->rules))) == NULL)
			return KAGI_ERR_NOMEM;
		for (i = 0; i < n16; i++) {
			m->nrules = i + 1;
			if ((r = get_name(b, &m->rules[i].rule, 0)) != 0 ||
			    (r = get_text(b, &m->rules[i].message,
			    CARDD_TEXT_MAX)) != 0)
				return r;
		}
		break;
	default:
		if ((r = parse_counter(b, m)) != 0)
			return r;
		break;
	}
	return kbuf_expect_end(b);
}

int
cardd_msg_parse(const uint8_t *body, size_t len, struct cardd_msg *m)
{
	struct kbuf *b = NULL;
	int r = KAGI_ERR_INTERNAL;

	if (m == NULL)
		return KAGI_ERR_INVALID;
	memset(m, 0, sizeof(*m));
	if (body == NULL || len == 0)
		return KAGI_ERR_FORMAT;
	if (len > CARDD_FRAME_MAX)
		return KAGI_ERR_LIMIT;
	if ((b = kbuf_from(body, len)) == NULL)
		return KAGI_ERR_NOMEM;
	r = parse_body(b, m);
	kbuf_free(b);
	if (r == 0 && !known_type(m->type))
		r = KAGI_ERR_FORMAT;
	if (r != 0)
		cardd_msg_clear(m);
	return r;
}

/* Milliseconds left until deadline (a CLOCK_MONOTONIC ms value); -1: none. */
static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
wait_fd(int fd, short ev, int64_t deadline)
{
	struct pollfd p;
	int64_t left;
	int n;

	for (;;) {
		left = deadline < 0 ? -1 : deadline - mono_ms();
		if (deadline >= 0 && left <= 0)
			return KAGI_ERR_TIMEOUT;
		p.fd = fd;
		p.events = ev;
		p.revents = 0;
		n = poll(&p, 1, left > 0x7fffffff ? 0x7fffffff : (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return KAGI_ERR_SYSTEM;
		if (n == 0)
			return KAGI_ERR_TIMEOUT;
		return 0;
	}
}

static int
read_full(int fd, uint8_t *p, size_t n, int64_t deadline)
{
	ssize_t got;
	int r;

	while (n > 0) {
		if ((r = wait_fd(fd, POLLIN, deadline)) != 0)
			return r;
		got = recv(fd, p, n, 0);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got < 0)
			return errno == ECONNRESET ? KAGI_ERR_UNAVAILABLE :
			    KAGI_ERR_SYSTEM;
		if (got == 0)
			return KAGI_ERR_UNAVAILABLE;
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

static int
write_full(int fd, const uint8_t *p, size_t n, int64_t deadline)
{
	ssize_t put;
	int r;

	while (n > 0) {
		if ((r = wait_fd(fd, POLLOUT, deadline)) != 0)
			return r;
		put = send(fd, p, n, MSG_NOSIGNAL);
		if (put < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (put < 0)
			return errno == EPIPE || errno == ECONNRESET ?
			    KAGI_ERR_UNAVAILABLE : KAGI_ERR_SYSTEM;
		p += put;
		n -= (size_t)put;
	}
	return 0;
}

int
cardd_msg_send(int fd, const struct cardd_msg *m, int timeout_ms)
{
	struct kbuf *b = NULL;
	int r = KAGI_ERR_INTERNAL;

	if (fd < 0 || m == NULL)
		return KAGI_ERR_INVALID;
	if ((b = kbuf_new(CARDD_FRAME_MAX + 4)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = cardd_msg_emit(m, b)) != 0)
		goto out;
	r = write_full(fd, kbuf_ptr(b), kbuf_len(b),
	    timeout_ms < 0 ? -1 : mono_ms() + timeout_ms);
out:
	kbuf_free(b);
	return r;
}

int
cardd_msg_recv(int fd, struct cardd_msg *m, int timeout_ms)
{
	uint8_t hdr[4];
	uint8_t *body = NULL;
	struct kbuf *hb = NULL;
	uint32_t len = 0;
	int64_t deadline;
	int r = KAGI_ERR_INTERNAL;

	if (m == NULL)
		return KAGI_ERR_INVALID;
	memset(m, 0, sizeof(*m));
	if (fd < 0)
		return KAGI_ERR_INVALID;
	deadline = timeout_ms < 0 ? -1 : mono_ms() + timeout_ms;
	if ((r = read_full(fd, hdr, sizeof(hdr), deadline)) != 0)
		return r;
	if ((hb = kbuf_from(hdr, sizeof(hdr))) == NULL)
		return KAGI_ERR_NOMEM;
	r = kbuf_get_u32(hb, &len);
	kbuf_free(hb);
	if (r != 0)
		return r;
	if (len == 0)
		return KAGI_ERR_FORMAT;
	if (len > CARDD_FRAME_MAX)
		return KAGI_ERR_LIMIT; /* never allocate for an oversize claim */
	if ((body = malloc(len)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = read_full(fd, body, len, deadline)) != 0)
		goto out;
	r = cardd_msg_parse(body, len, m);
out:
	kagi_wipe(body, len);
	free(body);
	return r;
}
