/*
 * kagi-cardd at the counter (issue 6): the card operations of enrolment and
 * PIN unblock, asked by `kagi enrol` / `kagi card pin-unblock` on the
 * counter PC.  Messages CARD_INFO, ENROL_KEYGEN, ENROL_WRITE, PIN_UNBLOCK
 * (include/kagi/cardd.h, docs/PROTOCOL-cardd.md "The counter").
 *
 * Only root may send them: they change what is on a card.  The key pair is
 * generated on the card (C_GenerateKeyPair, CKA_SENSITIVE, not extractable);
 * the CSR is signed by the card key through hsm_key_sign; kagid's
 * certificate is written back only when its public key is that key's.  PINs
 * arrive as secrets (secure memory), go to the module and are wiped with
 * the message; they are never logged.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cardd_int.h"
#include "kagi/log.h"
#include "kagi/util.h"

#define KEY_ID_HEX_MAX 128
/* CKA_LABEL of every object enrolment makes (keys, certificate). */
#define KAGI_OBJ_PREFIX "kagi-staff-"

/* ---- dispatch: is this connection a counter request? ---- */

int
cardd_counter_peek(int fd, int timeout_ms)
{
	uint8_t hdr[6];
	struct timespec ts;
	struct pollfd p;
	int64_t deadline, now;
	ssize_t n;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	deadline = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
	    timeout_ms;
	for (;;) {
		p.fd = fd;
		p.events = POLLIN;
		p.revents = 0;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
		/* No request in time: ours to answer (cardd_counter_serve
		 * sees less than a header and reports the timeout), so the
		 * client does not wait the request timeout twice. */
		if (now >= deadline)
			return 1;
		rc = poll(&p, 1, (int)(deadline - now));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0)
			return 1;
		if (rc < 0 || (p.revents & POLLIN) == 0)
			return 0; /* cardd_serve reports the error */
		n = recv(fd, hdr, sizeof(hdr), MSG_PEEK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		if (n == (ssize_t)sizeof(hdr))
			break;
		/* A length that cannot hold a type, or another version: not
		 * ours, cardd_serve names the fault. */
		if (n >= 4 && ((uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
		    (uint32_t)hdr[2] << 8 | hdr[3]) < 2)
			return 0;
		if (n >= 5 && hdr[4] != CARDD_PROTO_VERSION)
			return 0;
		/* Part of the header: wait a little for the rest. */
		usleep(5000);
	}
	/* u32 length, u8 version, u8 type */
	return hdr[4] == CARDD_PROTO_VERSION &&
	    hdr[5] >= CARDD_MSG_CARD_INFO && hdr[5] <= CARDD_MSG_PIN_UNBLOCK;
}

/* ---- replies ---- */

static int
send_result(struct cardd_peer *p, int code)
{
	struct cardd_msg res;

	memset(&res, 0, sizeof(res));
	res.type = CARDD_MSG_RESULT;
	res.code = code > 0 || code < KAGI_ERR_MIN ? KAGI_ERR_INTERNAL : code;
	return cardd_msg_send(p->fd, &res, CARDD_ANSWER_TIMEOUT_MS);
}

static int
send_info(struct cardd_peer *p, uint16_t prompt, const char *arg)
{
	struct cardd_msg m;

	memset(&m, 0, sizeof(m));
	m.type = CARDD_MSG_PROMPT;
	m.style = CARDD_STYLE_INFO;
	m.prompt = prompt;
	m.text = (char *)(uintptr_t)arg;
	return cardd_msg_send(p->fd, &m, CARDD_ANSWER_TIMEOUT_MS);
}

/* ---- the card in the reader ---- */

/* The first present, initialised token; NOT_FOUND if none. */
static int
first_token(struct hsm *h, struct hsm_token_info *out)
{
	struct hsm_token_info *toks = NULL;
	size_t n = 0, i;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = hsm_token_list(h, &toks, &n)) != 0)
		return r;
	r = KAGI_ERR_NOT_FOUND;
	for (i = 0; i < n; i++)
		if (toks[i].initialized && toks[i].serial[0] != '\0') {
			*out = toks[i];
			r = 0;
			break;
		}
	free(toks);
	return r;
}

/* "pkcs11:serial=..." with every byte but [A-Za-z0-9] percent-encoded. */
static int
serial_uri(const char *serial, char *out, size_t len)
{
	size_t i, o;
	int n;

	n = snprintf(out, len, "pkcs11:serial=");
	if (n < 0 || (size_t)n >= len)
		return KAGI_ERR_LIMIT;
	o = (size_t)n;
	for (i = 0; serial[i] != '\0'; i++) {
		unsigned char c = (unsigned char)serial[i];

		if (o + 4 >= len)
			return KAGI_ERR_LIMIT;
		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z'))
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, len - o, "%%%02X", c);
	}
	out[o] = '\0';
	return 0;
}

/* A session on the card with this serial (the one CARD_INFO reported). */
static int
open_card(struct cardd *d, const char *serial, int rw, struct hsm_session **s)
{
	char uri[128];
	int r;

	*s = NULL;
	if (serial == NULL || strlen(serial) > 16)
		return KAGI_ERR_INVALID;
	if ((r = serial_uri(serial, uri, sizeof(uri))) != 0)
		return r;
	r = hsm_session_open_public(d->hsm, uri, rw, s);
	if (r == KAGI_ERR_NOT_FOUND)
		kagi_log_warn("event=counter_card_gone serial=%s", serial);
	return r;
}

static uint8_t
caps_bits(const struct hsm_token_caps *c)
{
	uint8_t b = 0;

	if (c->keygen_ec)
		b |= CARDD_CAP_KEYGEN_EC;
	if (c->keygen_rsa)
		b |= CARDD_CAP_KEYGEN_RSA;
	if (!c->write_protected)
		b |= CARDD_CAP_WRITABLE;
	if (c->user_pin_initialized)
		b |= CARDD_CAP_PIN_SET;
	if (c->pin_to_be_changed)
		b |= CARDD_CAP_PIN_CHANGE;
	return b;
}

/* Can this card hold a staff key made on it? */
static int
caps_enrol_ok(const struct hsm_token_caps *c)
{
	return !c->write_protected && (c->keygen_ec || c->keygen_rsa);
}

static int
do_card_info(struct cardd_peer *p, const struct cardd_msg *req)
{
	struct cardd *d = p->d;
	struct hsm_token_info ti;
	struct hsm_token_caps caps;
	struct hsm_session *s = NULL;
	struct hsm_cert *certs = NULL;
	struct cardd_msg m;
	char secs[16];
	size_t ncerts = 0, i, total = 0;
	unsigned waited = 0;
	int r = KAGI_ERR_INTERNAL;

	memset(&m, 0, sizeof(m));
	while ((r = first_token(d->hsm, &ti)) == KAGI_ERR_NOT_FOUND &&
	    waited < req->wait * 2) {
		if (waited == 0) {
			snprintf(secs, sizeof(secs), "%u", req->wait);
			if ((r = send_info(p, CARDD_P_INSERT_CARD, secs)) != 0)
				goto out;
		}
		usleep(500 * 1000);
		waited++;
	}
	if (r != 0) {
		if (r == KAGI_ERR_NOT_FOUND)
			kagi_log_info("event=counter_no_card wait=%u",
			    req->wait);
		goto reply;
	}
	if ((r = open_card(d, ti.serial, 0, &s)) != 0 ||
	    (r = hsm_session_caps(s, &caps)) != 0)
		goto reply;
	if ((r = hsm_cert_list(s, &certs, &ncerts)) != 0)
		goto reply;
	m.type = CARDD_MSG_CARD;
	if ((m.serial = strdup(ti.serial)) == NULL ||
	    (m.atr = strdup("")) == NULL || /* PKCS#11 does not give the ATR */
	    (m.label = strdup(ti.label)) == NULL ||
	    (m.manufacturer = strdup(ti.manufacturer)) == NULL ||
	    (m.model = strdup(ti.model)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto reply;
	}
	m.caps = caps_bits(&caps);
	m.pin_min = (uint16_t)(caps.pin_min > 0xffff ? 0xffff : caps.pin_min);
	m.pin_max = (uint16_t)(caps.pin_max > 0xffff ? 0xffff : caps.pin_max);
	if (ncerts > 0 && ((m.certs = calloc(ncerts, sizeof(*m.certs))) ==
	    NULL || (m.cert_lens = calloc(ncerts, sizeof(*m.cert_lens))) ==
	    NULL)) {
		r = KAGI_ERR_NOMEM;
		goto reply;
	}
	/* The frame holds 64 KiB: list what fits, in order. */
	for (i = 0; i < ncerts && m.ncerts < CARDD_CARD_CERTS_MAX; i++) {
		if (certs[i].der_len > CARDD_CERT_MAX ||
		    total + certs[i].der_len > CARDD_FRAME_MAX / 2)
			continue;
		if ((m.certs[m.ncerts] = malloc(certs[i].der_len)) == NULL) {
			r = KAGI_ERR_NOMEM;
			goto reply;
		}
		memcpy(m.certs[m.ncerts], certs[i].der, certs[i].der_len);
		m.cert_lens[m.ncerts++] = certs[i].der_len;
		total += certs[i].der_len;
	}
	kagi_log_info("event=counter_card serial=%s label=\"%s\" keygen=%s "
	    "writable=%d certs=%zu uid=%ld", ti.serial, ti.label,
	    caps.keygen_ec ? "p256" : caps.keygen_rsa ? "rsa2048" : "none",
	    !caps.write_protected, ncerts, (long)p->uid);
	if ((r = cardd_msg_send(p->fd, &m, CARDD_ANSWER_TIMEOUT_MS)) != 0)
		goto out;
	r = 0;
reply:
	(void)send_result(p, r);
out:
	cardd_msg_clear(&m);
	hsm_cert_list_free(certs, ncerts);
	hsm_session_close(s);
	return r;
}

/* ---- ENROL_KEYGEN: key pair on the card, CSR signed by it ---- */

/*
 * A PKCS#10 request for pub, signed by the card key k with SHA-256.  The
 * subject is CN=<card serial>: kagid takes the real subject from its store.
 */
static int
csr_build(struct hsm_key *k, const char *serial, char **pem)
{
	X509_REQ *req = NULL;
	X509_NAME *name = NULL;
	EVP_PKEY *pub = NULL;
	EVP_MD_CTX *md = NULL;
	const X509_ALGOR *calg = NULL;
	const ASN1_BIT_STRING *csig = NULL;
	unsigned char *tbs = NULL;
	uint8_t digest[32], sig[1024];
	unsigned int dlen = 0;
	size_t siglen = sizeof(sig);
	BIO *bio = NULL;
	BUF_MEM *bm = NULL;
	int tbslen, nid, r = KAGI_ERR_INTERNAL;

	*pem = NULL;
	if ((r = hsm_key_public(k, &pub)) != 0)
		goto out;
	nid = hsm_key_type(k) == HSM_KEY_EC_P256 ||
	    hsm_key_type(k) == HSM_KEY_EC_P384 ? NID_ecdsa_with_SHA256 :
	    NID_sha256WithRSAEncryption;
	r = KAGI_ERR_NOMEM;
	if ((req = X509_REQ_new()) == NULL || (name = X509_NAME_new()) == NULL)
		goto out;
	if (X509_REQ_set_version(req, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)serial, -1, -1, 0) != 1 ||
	    X509_REQ_set_subject_name(req, name) != 1 ||
	    X509_REQ_set_pubkey(req, pub) != 1)
		goto out;
	/* The signature covers CertificationRequestInfo (RFC 2986 §4.2). */
	if ((tbslen = i2d_re_X509_REQ_tbs(req, &tbs)) <= 0)
		goto out;
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, tbs, (size_t)tbslen) != 1 ||
	    EVP_DigestFinal_ex(md, digest, &dlen) != 1)
		goto out;
	if ((r = hsm_key_sign(k, EVP_sha256(), digest, dlen, sig,
	    &siglen)) != 0)
		goto out;
	r = KAGI_ERR_INTERNAL;
	X509_REQ_get0_signature(req, &csig, &calg);
	if (X509_ALGOR_set0((X509_ALGOR *)(uintptr_t)calg,
	    OBJ_nid2obj(nid), nid == NID_ecdsa_with_SHA256 ? V_ASN1_UNDEF :
	    V_ASN1_NULL, NULL) != 1 ||
	    ASN1_BIT_STRING_set((ASN1_BIT_STRING *)(uintptr_t)csig, sig,
	    (int)siglen) != 1)
		goto out;
	((ASN1_BIT_STRING *)(uintptr_t)csig)->flags &= ~0x07L;
	((ASN1_BIT_STRING *)(uintptr_t)csig)->flags |=
	    ASN1_STRING_FLAG_BITS_LEFT;
	/* Check our own work before it leaves: the card key really signed. */
	if (X509_REQ_verify(req, pub) != 1) {
		kagi_log_err("the CSR signed by the card does not verify");
		r = KAGI_ERR_SIG;
		goto out;
	}
	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_X509_REQ(bio, req) != 1) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	BIO_get_mem_ptr(bio, &bm);
	if (bm == NULL || bm->length == 0 || bm->length > CARDD_TEXT_MAX ||
	    (*pem = strndup(bm->data, bm->length)) == NULL) {
		r = KAGI_ERR_LIMIT;
		goto out;
	}
	r = 0;
out:
	BIO_free(bio);
	OPENSSL_free(tbs);
	EVP_MD_CTX_free(md);
	X509_NAME_free(name);
	X509_REQ_free(req);
	EVP_PKEY_free(pub);
	return r;
}

static int
do_keygen(struct cardd_peer *p, const struct cardd_msg *req)
{
	struct cardd *d = p->d;
	struct hsm_session *s = NULL;
	struct hsm_token_caps caps;
	struct hsm_key *k = NULL;
	struct cardd_msg m;
	enum hsm_key_type type;
	uint8_t rnd[6], *id = NULL;
	size_t idlen = 0;
	char label[32], hex[13];
	const char *pin;
	int r = KAGI_ERR_INTERNAL, logged_in = 0;

	memset(&m, 0, sizeof(m));
	if (req->old_pw == NULL || req->old_pw[0] == '\0') {
		r = KAGI_ERR_INVALID;
		goto reply;
	}
	if ((r = open_card(d, req->serial, 1, &s)) != 0 ||
	    (r = hsm_session_caps(s, &caps)) != 0)
		goto reply;
	if (!caps_enrol_ok(&caps)) {
		kagi_log_warn("event=counter_card_cannot_generate serial=%s "
		    "write_protected=%d", req->serial, caps.write_protected);
		r = KAGI_ERR_DENIED;
		goto reply;
	}
	pin = req->old_pw;
	if ((r = hsm_session_login(s, pin)) != 0)
		goto reply;
	logged_in = 1;
	/* The holder's own PIN replaces the issuing PIN. */
	if (req->new_pw != NULL && req->new_pw[0] != '\0' &&
	    strcmp(req->new_pw, req->old_pw) != 0) {
		if ((r = hsm_session_set_pin(s, req->old_pw,
		    req->new_pw)) != 0)
			goto reply;
		kagi_log_info("event=counter_pin_set serial=%s", req->serial);
	}
	type = caps.keygen_ec ? HSM_KEY_EC_P256 : HSM_KEY_RSA_2048;
	/* A fresh label (and CKA_ID, made by hsm_key_generate) per attempt:
	 * a retry after an interruption never collides with the last one. */
	if ((r = kagi_random_bytes(rnd, sizeof(rnd))) != 0)
		goto reply;
	kagi_hex_encode(rnd, sizeof(rnd), hex);
	snprintf(label, sizeof(label), KAGI_OBJ_PREFIX "%s", hex);
	if ((r = hsm_key_generate(s, label, type, &k)) != 0)
		goto reply;
	if ((r = csr_build(k, req->serial, &m.csr)) != 0)
		goto reply;
	if ((r = hsm_key_id(k, &id, &idlen)) != 0)
		goto reply;
	if (idlen * 2 > KEY_ID_HEX_MAX) {
		r = KAGI_ERR_LIMIT;
		goto reply;
	}
	m.type = CARDD_MSG_CSR;
	if ((m.key_id = malloc(idlen * 2 + 1)) == NULL ||
	    (m.key_type = strdup(type == HSM_KEY_EC_P256 ? "p256" :
	    "rsa2048")) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto reply;
	}
	kagi_hex_encode(id, idlen, m.key_id);
	kagi_log_info("event=counter_keygen serial=%s key_id=%s type=%s "
	    "uid=%ld", req->serial, m.key_id, m.key_type, (long)p->uid);
	if ((r = cardd_msg_send(p->fd, &m, CARDD_ANSWER_TIMEOUT_MS)) != 0)
		goto out;
	r = 0;
reply:
	(void)send_result(p, r);
out:
	if (r != 0 && r != KAGI_ERR_UNAVAILABLE)
		kagi_log_warn("event=counter_keygen_failed serial=%s error=%s",
		    req->serial != NULL ? req->serial : "-",
		    kagi_err_name(r));
	free(id);
	hsm_key_free(k);
	if (logged_in)
		hsm_session_logout(s);
	hsm_session_close(s);
	cardd_msg_clear(&m);
	return r;
}

/* ---- ENROL_WRITE: kagid's certificate next to its key ---- */

static int
hex_decode(const char *hex, uint8_t **out, size_t *len)
{
	size_t n = strlen(hex), i;
	uint8_t *b;
	unsigned v;

	*out = NULL;
	*len = 0;
	if (n < 2 || n % 2 != 0 || n > KEY_ID_HEX_MAX)
		return KAGI_ERR_FORMAT;
	if ((b = malloc(n / 2)) == NULL)
		return KAGI_ERR_NOMEM;
	for (i = 0; i < n / 2; i++) {
		if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
			free(b);
			return KAGI_ERR_FORMAT;
		}
		b[i] = (uint8_t)v;
	}
	*out = b;
	*len = n / 2;
	return 0;
}

static int
do_write(struct cardd_peer *p, const struct cardd_msg *req)
{
	struct cardd *d = p->d;
	struct hsm_session *s = NULL;
	struct hsm_key *k = NULL;
	struct hsm_cert *certs = NULL;
	EVP_PKEY *pub = NULL;
	X509 *x = NULL;
	const uint8_t *q;
	uint8_t *id = NULL;
	size_t idlen = 0, ncerts = 0, i, pruned = 0;
	int r = KAGI_ERR_INTERNAL, logged_in = 0, present = 0;

	if (req->old_pw == NULL || req->old_pw[0] == '\0' ||
	    req->key_id == NULL || req->der == NULL) {
		r = KAGI_ERR_INVALID;
		goto reply;
	}
	/* Untrusted bytes: exactly one certificate, nothing after it. */
	q = req->der;
	if ((x = d2i_X509(NULL, &q, (long)req->der_len)) == NULL ||
	    q != req->der + req->der_len) {
		r = KAGI_ERR_FORMAT;
		goto reply;
	}
	if ((r = hex_decode(req->key_id, &id, &idlen)) != 0)
		goto reply;
	if ((r = open_card(d, req->serial, 1, &s)) != 0 ||
	    (r = hsm_session_login(s, req->old_pw)) != 0)
		goto reply;
	logged_in = 1;
	if ((r = hsm_key_find_id(s, id, idlen, &k)) != 0 ||
	    (r = hsm_key_public(k, &pub)) != 0)
		goto reply;
	if (EVP_PKEY_eq(pub, X509_get0_pubkey(x)) != 1) {
		kagi_log_warn("event=counter_cert_wrong_key serial=%s "
		    "key_id=%s", req->serial, req->key_id);
		r = KAGI_ERR_INVALID;
		goto reply;
	}
	/* A retry after a lost answer: the same certificate is there. */
	if ((r = hsm_cert_list(s, &certs, &ncerts)) != 0)
		goto reply;
	for (i = 0; i < ncerts; i++)
		if (certs[i].der_len == req->der_len &&
		    memcmp(certs[i].der, req->der, req->der_len) == 0)
			present = 1;
	if (!present && (r = hsm_cert_write(s, KAGI_OBJ_PREFIX "logon", id,
	    idlen, req->der, req->der_len)) != 0)
		goto reply;
	/*
	 * What an interrupted or earlier enrolment left (its key, its now
	 * superseded certificate) goes: one staff key and certificate remain,
	 * so a login never picks a revoked one.  Only objects kagi made.
	 */
	if ((r = hsm_card_prune(s, KAGI_OBJ_PREFIX, id, idlen, &pruned)) != 0)
		goto reply;
	kagi_log_info("event=counter_cert_written serial=%s key_id=%s%s "
	    "pruned=%zu uid=%ld", req->serial, req->key_id, present ?
	    " again=1" : "", pruned, (long)p->uid);
	r = 0;
reply:
	(void)send_result(p, r);
	if (r != 0 && r != KAGI_ERR_UNAVAILABLE)
		kagi_log_warn("event=counter_write_failed serial=%s error=%s",
		    req->serial != NULL ? req->serial : "-",
		    kagi_err_name(r));
	hsm_cert_list_free(certs, ncerts);
	EVP_PKEY_free(pub);
	hsm_key_free(k);
	if (logged_in)
		hsm_session_logout(s);
	hsm_session_close(s);
	X509_free(x);
	free(id);
	return r;
}

/* ---- PIN_UNBLOCK: SO login, C_InitPIN ---- */

static int
do_unblock(struct cardd_peer *p, const struct cardd_msg *req)
{
	struct cardd *d = p->d;
	struct hsm_session *s = NULL;
	int r = KAGI_ERR_INTERNAL, logged_in = 0;

	if (req->old_pw == NULL || req->old_pw[0] == '\0' ||
	    req->new_pw == NULL || req->new_pw[0] == '\0') {
		r = KAGI_ERR_INVALID;
		goto reply;
	}
	if ((r = open_card(d, req->serial, 1, &s)) != 0 ||
	    (r = hsm_session_login_so(s, req->old_pw)) != 0)
		goto reply;
	logged_in = 1;
	if ((r = hsm_session_init_pin(s, req->new_pw)) != 0)
		goto reply;
	kagi_log_info("event=counter_pin_unblock serial=%s uid=%ld",
	    req->serial, (long)p->uid);
	r = 0;
reply:
	(void)send_result(p, r);
	if (r != 0 && r != KAGI_ERR_UNAVAILABLE)
		kagi_log_warn("event=counter_pin_unblock_failed serial=%s "
		    "error=%s", req->serial != NULL ? req->serial : "-",
		    kagi_err_name(r));
	if (logged_in)
		hsm_session_logout(s);
	hsm_session_close(s);
	return r;
}

/* Is the peer root, or in [cardd] counter_group (primary or member)? */
static int
counter_peer_ok(const struct cardd_peer *p)
{
	const char *name = p->d->conf != NULL ?
	    p->d->conf->cardd_counter_group : NULL;
	struct group gr, *g = NULL;
	struct passwd pw, *u = NULL;
	char gbuf[8192], pbuf[4096];
	size_t i;

	if (p->uid == 0)
		return 1;
	if (name == NULL || name[0] == '\0')
		return 0;
	if (getgrnam_r(name, &gr, gbuf, sizeof(gbuf), &g) != 0 || g == NULL ||
	    getpwuid_r(p->uid, &pw, pbuf, sizeof(pbuf), &u) != 0 || u == NULL)
		return 0;
	if (u->pw_gid == g->gr_gid)
		return 1;
	for (i = 0; g->gr_mem != NULL && g->gr_mem[i] != NULL; i++)
		if (strcmp(g->gr_mem[i], u->pw_name) == 0)
			return 1;
	return 0;
}

void
cardd_counter_serve(struct cardd_peer *p)
{
	struct cardd_msg req;
	uint8_t hdr[6];
	ssize_t n;
	int r;

	memset(&req, 0, sizeof(req));
	/* cardd_counter_peek gave up waiting: less than a header is there */
	n = recv(p->fd, hdr, sizeof(hdr), MSG_PEEK | MSG_DONTWAIT);
	if (n < (ssize_t)sizeof(hdr)) {
		kagi_log_warn("event=cardd_proto_error pid=%ld uid=%ld "
		    "error=%s", (long)p->pid, (long)p->uid,
		    kagi_err_name(KAGI_ERR_TIMEOUT));
		(void)send_result(p, KAGI_ERR_TIMEOUT);
		return;
	}
	r = cardd_msg_recv(p->fd, &req, CARDD_REQUEST_TIMEOUT_MS);
	if (r == 0 && (req.type < CARDD_MSG_CARD_INFO ||
	    req.type > CARDD_MSG_PIN_UNBLOCK))
		r = KAGI_ERR_FORMAT;
	if (r != 0) {
		kagi_log_warn("event=cardd_proto_error pid=%ld uid=%ld "
		    "error=%s", (long)p->pid, (long)p->uid, kagi_err_name(r));
		if (r != KAGI_ERR_UNAVAILABLE)
			(void)send_result(p, r);
		cardd_msg_clear(&req);
		return;
	}
	/*
	 * They change what is on a card: root, or a member of [cardd]
	 * counter_group (the counter operator's account).
	 */
	if (!counter_peer_ok(p)) {
		kagi_log_warn("event=peer_denied uid=%ld pid=%ld op=counter",
		    (long)p->uid, (long)p->pid);
		(void)send_result(p, KAGI_ERR_DENIED);
		cardd_msg_clear(&req);
		return;
	}
	switch (req.type) {
	case CARDD_MSG_CARD_INFO:
		(void)do_card_info(p, &req);
		break;
	case CARDD_MSG_ENROL_KEYGEN:
		(void)do_keygen(p, &req);
		break;
	case CARDD_MSG_ENROL_WRITE:
		(void)do_write(p, &req);
		break;
	case CARDD_MSG_PIN_UNBLOCK:
		(void)do_unblock(p, &req);
		break;
	default:
		(void)send_result(p, KAGI_ERR_FORMAT);
		break;
	}
	cardd_msg_clear(&req); /* wipes the PINs */
}
