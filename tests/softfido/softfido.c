/*
 * softfido: a software CTAP2.0 authenticator behind libfido2's io hooks.
 * Test code only; see softfido.h and docs/FIDO.md.  Every request byte is
 * treated as hostile: frames are checked against CTAPHID (FIDO CTAP 2.0
 * §8.1), CBOR is checked for well-formedness (kagi_fido_cbor_check) before
 * libcbor decodes it, and every malformed request gets an error answer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <cbor.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "kagi/file.h"
#include "kagi/kbuf.h"
#include "kagi/kfido.h"
#include "kagi/log.h"
#include "kagi/secmem.h"
#include "softfido.h"

/* CTAPHID (CTAP 2.0 §8.1.9) */
#define HID_RPT 64
#define HID_INIT_DATA (HID_RPT - 7)
#define HID_CONT_DATA (HID_RPT - 5)
#define HID_MAXMSG (HID_INIT_DATA + 128 * HID_CONT_DATA) /* 7609 */
#define CID_BROADCAST 0xffffffffu
#define HID_PING 0x01
#define HID_MSG 0x03
#define HID_INIT 0x06
#define HID_WINK 0x08
#define HID_CBOR 0x10
#define HID_CANCEL 0x11
#define HID_ERROR 0x3f
#define HID_CAP_WINK 0x01
#define HID_CAP_CBOR 0x04
#define HID_CAP_NMSG 0x08
#define ERR_INVALID_CMD 0x01
#define ERR_INVALID_LEN 0x03
#define ERR_INVALID_SEQ 0x04
#define ERR_CHANNEL_BUSY 0x06
#define ERR_INVALID_CHANNEL 0x0b
#define ERR_OTHER 0x7f

/* CTAP2 commands and status codes (CTAP 2.0 §5, §6.3) */
#define CMD_MAKECRED 0x01
#define CMD_GETASSERT 0x02
#define CMD_GETINFO 0x04
#define CMD_CLIENTPIN 0x06
#define CMD_RESET 0x07
#define CMD_GETNEXT 0x08
#define ST_OK 0x00
#define ST_INVALID_COMMAND 0x01
#define ST_INVALID_PARAMETER 0x02
#define ST_INVALID_LENGTH 0x03
#define ST_CBOR_UNEXPECTED_TYPE 0x11
#define ST_INVALID_CBOR 0x12
#define ST_MISSING_PARAMETER 0x14
#define ST_CREDENTIAL_EXCLUDED 0x19
#define ST_UNSUPPORTED_ALGORITHM 0x26
#define ST_OPERATION_DENIED 0x27
#define ST_KEY_STORE_FULL 0x28
#define ST_UNSUPPORTED_OPTION 0x2b
#define ST_INVALID_OPTION 0x2c
#define ST_NO_CREDENTIALS 0x2e
#define ST_NOT_ALLOWED 0x30
#define ST_PIN_INVALID 0x31
#define ST_PIN_BLOCKED 0x32
#define ST_PIN_AUTH_INVALID 0x33
#define ST_PIN_NOT_SET 0x35
#define ST_PIN_REQUIRED 0x36
#define ST_PIN_POLICY_VIOLATION 0x37
#define ST_INVALID_SUBCOMMAND 0x3e
#define ST_OTHER 0x7f

#define FLAG_UP 0x01
#define FLAG_UV 0x04
#define FLAG_AT 0x40
#define MAX_CREDS 256
#define MAX_PARAM 16
#define STATE_MAGIC 0x4b534644u /* "KSFD" */
#define STATE_VERSION 1
#define STATE_MAX (4u * 1024u * 1024u)
#define REGISTRY 32

struct cred {
	uint8_t *id;
	size_t id_len;
	uint8_t rp_hash[32];
	EVP_PKEY *key;
};

struct softfido {
	/* persistent state (the state file) */
	uint8_t aaguid[16];
	uint8_t attestation;
	uint8_t builtin_uv;
	uint8_t up;         /* knob: the person touches the key */
	uint8_t uv;         /* knob: built-in user verification succeeds */
	uint8_t mode;       /* enum softfido_counter_mode */
	uint32_t counter;
	uint8_t pin_set;
	uint8_t pin_hash[16]; /* LEFT(SHA-256(pin), 16) */
	uint8_t retries;
	EVP_PKEY *att_key;
	uint8_t *att_cert;
	size_t att_cert_len;
	struct cred creds[MAX_CREDS];
	size_t ncreds;
	/* power-up state (never saved) */
	EVP_PKEY *ka_key;       /* ClientPIN key agreement key */
	uint8_t pin_token[32];
	uint32_t next_cid;
	char *state_path;
	int lockfd;
	int slot;
	char path[32];
};

static struct softfido *registry[REGISTRY];

/* --- small helpers ------------------------------------------------------ */

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* A CBOR writer over a fixed buffer; err sticks. */
struct ob {
	uint8_t *p;
	size_t len, cap;
	int err;
};

static void
ob_raw(struct ob *o, const void *d, size_t n)
{
	if (o->err || n > o->cap - o->len) {
		o->err = 1;
		return;
	}
	memcpy(o->p + o->len, d, n);
	o->len += n;
}

static void
ob_head(struct ob *o, uint8_t major, uint64_t v)
{
	uint8_t b[9];
	size_t n;

	major = (uint8_t)(major << 5);
	if (v < 24) {
		b[0] = (uint8_t)(major | v);
		n = 1;
	} else if (v <= 0xff) {
		b[0] = (uint8_t)(major | 24);
		b[1] = (uint8_t)v;
		n = 2;
	} else if (v <= 0xffff) {
		b[0] = (uint8_t)(major | 25);
		b[1] = (uint8_t)(v >> 8);
		b[2] = (uint8_t)v;
		n = 3;
	} else if (v <= 0xffffffffu) {
		b[0] = (uint8_t)(major | 26);
		put_be32(b + 1, (uint32_t)v);
		n = 5;
	} else {
		b[0] = (uint8_t)(major | 27);
		put_be32(b + 1, (uint32_t)(v >> 32));
		put_be32(b + 5, (uint32_t)v);
		n = 9;
	}
	ob_raw(o, b, n);
}

static void
ob_int(struct ob *o, int64_t v)
{
	if (v >= 0)
		ob_head(o, 0, (uint64_t)v);
	else
		ob_head(o, 1, (uint64_t)(-1 - v));
}

static void
ob_bytes(struct ob *o, const void *d, size_t n)
{
	ob_head(o, 2, n);
	ob_raw(o, d, n);
}

static void
ob_text(struct ob *o, const char *s)
{
	ob_head(o, 3, strlen(s));
	ob_raw(o, s, strlen(s));
}

static void
ob_bool(struct ob *o, int v)
{
	uint8_t b = v ? 0xf5 : 0xf4;

	ob_raw(o, &b, 1);
}

/* --- CBOR reading helpers (libcbor items, after kagi_fido_cbor_check) --- */

static int
is_text(const cbor_item_t *it, const char *s)
{
	size_t n = strlen(s);

	return cbor_isa_string(it) && cbor_string_is_definite(it) &&
	    cbor_string_length(it) == n &&
	    memcmp(cbor_string_handle(it), s, n) == 0;
}

static int
get_bytes(const cbor_item_t *it, const uint8_t **p, size_t *n)
{
	if (it == NULL || !cbor_isa_bytestring(it) ||
	    !cbor_bytestring_is_definite(it))
		return -1;
	*p = cbor_bytestring_handle(it);
	*n = cbor_bytestring_length(it);
	return 0;
}

static int
get_int(const cbor_item_t *it, int64_t *v)
{
	uint64_t u;

	if (it == NULL)
		return -1;
	if (cbor_isa_uint(it)) {
		u = cbor_get_int(it);
		if (u > INT64_MAX)
			return -1;
		*v = (int64_t)u;
		return 0;
	}
	if (cbor_isa_negint(it)) {
		u = cbor_get_int(it);
		if (u > INT64_MAX)
			return -1;
		*v = -1 - (int64_t)u;
		return 0;
	}
	return -1;
}

static int
is_map(const cbor_item_t *it)
{
	return it != NULL && cbor_isa_map(it) && cbor_map_is_definite(it);
}

static int
is_array(const cbor_item_t *it)
{
	return it != NULL && cbor_isa_array(it) && cbor_array_is_definite(it);
}

/* Value of a text key in a map, NULL if absent; *dup set on a repeat. */
static const cbor_item_t *
map_text(const cbor_item_t *map, const char *key, int *dup)
{
	const struct cbor_pair *pairs = cbor_map_handle(map);
	const cbor_item_t *v = NULL;

	for (size_t i = 0; i < cbor_map_size(map); i++)
		if (is_text(pairs[i].key, key)) {
			if (v != NULL)
				*dup = 1;
			v = pairs[i].value;
		}
	return v;
}

/* Top-level parameters (unsigned keys) into v[0..MAX_PARAM). */
static uint8_t
parse_params(const cbor_item_t *root, const cbor_item_t *v[MAX_PARAM])
{
	const struct cbor_pair *pairs;
	uint64_t k;

	memset(v, 0, sizeof(*v) * MAX_PARAM);
	if (root == NULL)
		return ST_OK;
	if (!is_map(root))
		return ST_CBOR_UNEXPECTED_TYPE;
	pairs = cbor_map_handle(root);
	for (size_t i = 0; i < cbor_map_size(root); i++) {
		if (!cbor_isa_uint(pairs[i].key))
			return ST_CBOR_UNEXPECTED_TYPE;
		k = cbor_get_int(pairs[i].key);
		if (k >= MAX_PARAM)
			continue; /* unknown parameters are ignored */
		if (v[k] != NULL)
			return ST_INVALID_CBOR;
		v[k] = pairs[i].value;
	}
	return ST_OK;
}

/* --- crypto ------------------------------------------------------------- */

static int
pub_xy(EVP_PKEY *k, uint8_t xy[64])
{
	uint8_t pt[65];
	size_t n = 0;

	if (EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pt,
	    sizeof(pt), &n) != 1 || n != 65 || pt[0] != 0x04)
		return -1;
	memcpy(xy, pt + 1, 64);
	return 0;
}

static int
sign_es256(EVP_PKEY *k, const uint8_t *a, size_t alen, const uint8_t *b,
    size_t blen, uint8_t *sig, size_t *siglen)
{
	EVP_MD_CTX *ctx = NULL;
	int ok = -1;

	if ((ctx = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k) == 1 &&
	    EVP_DigestSignUpdate(ctx, a, alen) == 1 &&
	    EVP_DigestSignUpdate(ctx, b, blen) == 1 &&
	    EVP_DigestSignFinal(ctx, sig, siglen) == 1)
		ok = 0;
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* Shared secret of PIN protocol 1: SHA-256(ECDH x-coordinate). */
static int
ecdh_shared(EVP_PKEY *mine, const uint8_t *x, const uint8_t *y,
    uint8_t shared[32])
{
	uint8_t pt[65], z[32];
	size_t zlen = sizeof(z);
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *pctx = NULL, *dctx = NULL;
	EVP_PKEY *peer = NULL;
	char group[] = "P-256";
	int ok = -1;

	pt[0] = 0x04;
	memcpy(pt + 1, x, 32);
	memcpy(pt + 33, y, 32);
	params[0] = OSSL_PARAM_construct_utf8_string(
	    OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
	    pt, sizeof(pt));
	params[2] = OSSL_PARAM_construct_end();
	/* fromdata decodes the point and refuses one not on the curve */
	if ((pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(pctx) != 1 ||
	    EVP_PKEY_fromdata(pctx, &peer, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	if ((dctx = EVP_PKEY_CTX_new(mine, NULL)) == NULL ||
	    EVP_PKEY_derive_init(dctx) != 1 ||
	    EVP_PKEY_derive_set_peer(dctx, peer) != 1 ||
	    EVP_PKEY_derive(dctx, z, &zlen) != 1 || zlen != sizeof(z))
		goto out;
	SHA256(z, sizeof(z), shared);
	ok = 0;
out:
	OPENSSL_cleanse(z, sizeof(z));
	EVP_PKEY_CTX_free(pctx);
	EVP_PKEY_CTX_free(dctx);
	EVP_PKEY_free(peer);
	return ok;
}

/* AES-256-CBC, IV 0, no padding (PIN protocol 1). */
static int
aes_cbc(int enc, const uint8_t key[32], const uint8_t *in, size_t n,
    uint8_t *out)
{
	static const uint8_t iv[16];
	EVP_CIPHER_CTX *ctx = NULL;
	int l1 = 0, l2 = 0, ok = -1;

	if (n == 0 || n % 16 != 0 || n > 1024)
		return -1;
	if ((ctx = EVP_CIPHER_CTX_new()) != NULL &&
	    EVP_CipherInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, iv, enc) ==
	    1 && EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
	    EVP_CipherUpdate(ctx, out, &l1, in, (int)n) == 1 &&
	    EVP_CipherFinal_ex(ctx, out + l1, &l2) == 1 &&
	    (size_t)(l1 + l2) == n)
		ok = 0;
	EVP_CIPHER_CTX_free(ctx);
	return ok;
}

/* LEFT(HMAC-SHA-256(key, a || b), 16) == mac, in constant time. */
static int
hmac16_ok(const uint8_t *key, size_t klen, const uint8_t *a, size_t alen,
    const uint8_t *b, size_t blen, const uint8_t *mac, size_t maclen)
{
	uint8_t md[32];
	EVP_MAC *m = NULL;
	EVP_MAC_CTX *c = NULL;
	OSSL_PARAM params[2];
	char digest[] = "SHA256";
	size_t outl = 0;
	int ok = 0;

	if (maclen != 16)
		return 0;
	params[0] = OSSL_PARAM_construct_utf8_string("digest", digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((m = EVP_MAC_fetch(NULL, "HMAC", NULL)) != NULL &&
	    (c = EVP_MAC_CTX_new(m)) != NULL &&
	    EVP_MAC_init(c, key, klen, params) == 1 &&
	    EVP_MAC_update(c, a, alen) == 1 &&
	    (blen == 0 || EVP_MAC_update(c, b, blen) == 1) &&
	    EVP_MAC_final(c, md, &outl, sizeof(md)) == 1 && outl == 32)
		ok = CRYPTO_memcmp(md, mac, 16) == 0;
	EVP_MAC_CTX_free(c);
	EVP_MAC_free(m);
	OPENSSL_cleanse(md, sizeof(md));
	return ok;
}

static EVP_PKEY *
gen_key(void)
{
	return EVP_EC_gen("P-256");
}

static int
make_att_cert(struct softfido *sf)
{
	X509 *x = NULL;
	X509_NAME *name;
	unsigned char *der = NULL;
	int n, ok = -1;

	if ((sf->att_key = gen_key()) == NULL || (x = X509_new()) == NULL)
		goto out;
	name = X509_get_subject_name(x);
	if (X509_set_version(x, 2) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 3650L * 86400L) == NULL ||
	    X509_set_pubkey(x, sf->att_key) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC,
	    (const unsigned char *)"JP", -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
	    (const unsigned char *)"kagi test", -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC,
	    (const unsigned char *)"Authenticator Attestation", -1, -1, 0) !=
	    1 || X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"kagi softfido", -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, name) != 1 ||
	    X509_sign(x, sf->att_key, EVP_sha256()) <= 0)
		goto out;
	if ((n = i2d_X509(x, &der)) <= 0 ||
	    (sf->att_cert = malloc((size_t)n)) == NULL)
		goto out;
	memcpy(sf->att_cert, der, (size_t)n);
	sf->att_cert_len = (size_t)n;
	ok = 0;
out:
	OPENSSL_free(der);
	X509_free(x);
	return ok;
}

/* --- state ---------------------------------------------------------------- */

static void
creds_clear(struct softfido *sf)
{
	for (size_t i = 0; i < sf->ncreds; i++) {
		free(sf->creds[i].id);
		EVP_PKEY_free(sf->creds[i].key);
	}
	memset(sf->creds, 0, sizeof(sf->creds));
	sf->ncreds = 0;
}

static int
put_key(struct kbuf *b, EVP_PKEY *k)
{
	unsigned char *der = NULL;
	int n, r;

	if (k == NULL)
		return kbuf_put_blob(b, NULL, 0);
	if ((n = i2d_PrivateKey(k, &der)) <= 0)
		return KAGI_ERR_INTERNAL;
	r = kbuf_put_blob(b, der, (size_t)n);
	OPENSSL_clear_free(der, (size_t)n);
	return r;
}

static int
get_key(struct kbuf *b, EVP_PKEY **k)
{
	uint8_t *der = NULL;
	const unsigned char *p;
	size_t n = 0;
	int r;

	*k = NULL;
	if ((r = kbuf_get_blob(b, &der, &n, 4096)) != 0)
		return r;
	if (der == NULL)
		return 0;
	p = der;
	if ((*k = d2i_AutoPrivateKey(NULL, &p, (long)n)) == NULL ||
	    p != der + n) {
		EVP_PKEY_free(*k);
		*k = NULL;
		r = KAGI_ERR_FORMAT;
	}
	OPENSSL_clear_free(der, n);
	return r;
}

static int
state_emit(struct softfido *sf, struct kbuf *b)
{
	int r;

	if ((r = kbuf_put_u32(b, STATE_MAGIC)) != 0 ||
	    (r = kbuf_put_u8(b, STATE_VERSION)) != 0 ||
	    (r = kbuf_put(b, sf->aaguid, 16)) != 0 ||
	    (r = kbuf_put_u8(b, sf->attestation)) != 0 ||
	    (r = kbuf_put_u8(b, sf->builtin_uv)) != 0 ||
	    (r = kbuf_put_u8(b, sf->up)) != 0 ||
	    (r = kbuf_put_u8(b, sf->uv)) != 0 ||
	    (r = kbuf_put_u8(b, sf->mode)) != 0 ||
	    (r = kbuf_put_u32(b, sf->counter)) != 0 ||
	    (r = kbuf_put_u8(b, sf->pin_set)) != 0 ||
	    (r = kbuf_put(b, sf->pin_hash, 16)) != 0 ||
	    (r = kbuf_put_u8(b, sf->retries)) != 0 ||
	    (r = put_key(b, sf->att_key)) != 0 ||
	    (r = kbuf_put_blob(b, sf->att_cert, sf->att_cert_len)) != 0 ||
	    (r = kbuf_put_u32(b, (uint32_t)sf->ncreds)) != 0)
		return r;
	for (size_t i = 0; i < sf->ncreds; i++)
		if ((r = kbuf_put_blob(b, sf->creds[i].id,
		    sf->creds[i].id_len)) != 0 ||
		    (r = kbuf_put(b, sf->creds[i].rp_hash, 32)) != 0 ||
		    (r = put_key(b, sf->creds[i].key)) != 0)
			return r;
	return 0;
}

/* Parse into a fresh struct, then move it over sf: no partial state. */
static int
state_parse(struct softfido *sf, const uint8_t *data, size_t len)
{
	struct softfido *t = NULL;
	struct kbuf *b = NULL;
	uint32_t magic, n;
	uint8_t ver;
	int r = KAGI_ERR_INTERNAL;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return KAGI_ERR_NOMEM;
	if ((b = kbuf_from(data, len)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if ((r = kbuf_get_u32(b, &magic)) != 0 ||
	    (r = kbuf_get_u8(b, &ver)) != 0)
		goto out;
	if (magic != STATE_MAGIC) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	if (ver != STATE_VERSION) {
		r = KAGI_ERR_VERSION;
		goto out;
	}
	if ((r = kbuf_get_bytes(b, t->aaguid, 16)) != 0 ||
	    (r = kbuf_get_u8(b, &t->attestation)) != 0 ||
	    (r = kbuf_get_u8(b, &t->builtin_uv)) != 0 ||
	    (r = kbuf_get_u8(b, &t->up)) != 0 ||
	    (r = kbuf_get_u8(b, &t->uv)) != 0 ||
	    (r = kbuf_get_u8(b, &t->mode)) != 0 ||
	    (r = kbuf_get_u32(b, &t->counter)) != 0 ||
	    (r = kbuf_get_u8(b, &t->pin_set)) != 0 ||
	    (r = kbuf_get_bytes(b, t->pin_hash, 16)) != 0 ||
	    (r = kbuf_get_u8(b, &t->retries)) != 0 ||
	    (r = get_key(b, &t->att_key)) != 0 ||
	    (r = kbuf_get_blob(b, &t->att_cert, &t->att_cert_len, 4096)) != 0 ||
	    (r = kbuf_get_u32(b, &n)) != 0)
		goto out;
	if (n > MAX_CREDS || t->mode > SOFTFIDO_COUNTER_ZERO ||
	    t->attestation > SOFTFIDO_ATT_X5C ||
	    t->retries > SOFTFIDO_MAX_RETRIES ||
	    (t->attestation == SOFTFIDO_ATT_X5C &&
	    (t->att_key == NULL || t->att_cert == NULL))) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct cred *c = &t->creds[i];

		t->ncreds = i + 1;
		if ((r = kbuf_get_blob(b, &c->id, &c->id_len, 1024)) != 0 ||
		    (r = kbuf_get_bytes(b, c->rp_hash, 32)) != 0 ||
		    (r = get_key(b, &c->key)) != 0)
			goto out;
		if (c->id == NULL || c->key == NULL) {
			r = KAGI_ERR_FORMAT;
			goto out;
		}
	}
	if ((r = kbuf_expect_end(b)) != 0)
		goto out;

	/* commit: replace the persistent part of sf */
	creds_clear(sf);
	EVP_PKEY_free(sf->att_key);
	free(sf->att_cert);
	memcpy(sf->aaguid, t->aaguid, 16);
	sf->attestation = t->attestation;
	sf->builtin_uv = t->builtin_uv;
	sf->up = t->up;
	sf->uv = t->uv;
	sf->mode = t->mode;
	sf->counter = t->counter;
	sf->pin_set = t->pin_set;
	memcpy(sf->pin_hash, t->pin_hash, 16);
	sf->retries = t->retries;
	sf->att_key = t->att_key;
	sf->att_cert = t->att_cert;
	sf->att_cert_len = t->att_cert_len;
	memcpy(sf->creds, t->creds, sizeof(sf->creds));
	sf->ncreds = t->ncreds;
	t->att_key = NULL;
	t->att_cert = NULL;
	t->ncreds = 0;
	r = 0;
out:
	if (t != NULL) {
		creds_clear(t);
		EVP_PKEY_free(t->att_key);
		free(t->att_cert);
		kagi_wipe(t, sizeof(*t));
		free(t);
	}
	kbuf_free(b);
	return r;
}

int
softfido_save(struct softfido *sf, const char *path)
{
	struct kbuf *b = NULL;
	int r;

	if (sf == NULL || path == NULL)
		return KAGI_ERR_INVALID;
	if ((b = kbuf_new(STATE_MAX)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = state_emit(sf, b)) == 0)
		r = kagi_file_write_atomic(path, kbuf_ptr(b), kbuf_len(b),
		    0600);
	kbuf_free(b);
	return r;
}

int
softfido_load(struct softfido *sf, const char *path)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int r;

	if (sf == NULL || path == NULL)
		return KAGI_ERR_INVALID;
	if ((r = kagi_file_read(path, STATE_MAX, KAGI_FILE_SECRET, &data,
	    &len)) != 0)
		return r;
	r = state_parse(sf, data, len);
	kagi_secure_free(data, len + 1);
	return r;
}

/* Around every command and knob: lock, re-read, (work), write, unlock. */
static int
shared_begin(struct softfido *sf)
{
	int r;

	if (sf->state_path == NULL)
		return 0;
	if (flock(sf->lockfd, LOCK_EX) != 0)
		return KAGI_ERR_SYSTEM;
	r = softfido_load(sf, sf->state_path);
	if (r == KAGI_ERR_NOT_FOUND)
		r = 0;
	if (r != 0)
		(void)flock(sf->lockfd, LOCK_UN);
	return r;
}

static int
shared_end(struct softfido *sf, int changed)
{
	int r = 0;

	if (sf->state_path == NULL)
		return 0;
	if (changed)
		r = softfido_save(sf, sf->state_path);
	(void)flock(sf->lockfd, LOCK_UN);
	return r;
}

/* --- CTAP2 ---------------------------------------------------------------- */

static uint32_t
counter_next(struct softfido *sf)
{
	switch (sf->mode) {
	case SOFTFIDO_COUNTER_FROZEN:
		break;
	case SOFTFIDO_COUNTER_REWIND:
		if (sf->counter > 0)
			sf->counter--;
		break;
	case SOFTFIDO_COUNTER_ZERO:
		sf->counter = 0;
		break;
	default:
		sf->counter++;
		break;
	}
	return sf->counter;
}

static void
cose_key(struct ob *o, const uint8_t xy[64], int64_t alg)
{
	ob_head(o, 5, 5);
	ob_int(o, 1);
	ob_int(o, 2); /* kty EC2 */
	ob_int(o, 3);
	ob_int(o, alg);
	ob_int(o, -1);
	ob_int(o, 1); /* crv P-256 */
	ob_int(o, -2);
	ob_bytes(o, xy, 32);
	ob_int(o, -3);
	ob_bytes(o, xy + 32, 32);
}

static uint8_t
cmd_getinfo(struct softfido *sf, struct ob *o)
{
	ob_head(o, 5, 5);
	ob_int(o, 1);
	ob_head(o, 4, 1);
	ob_text(o, "FIDO_2_0");
	ob_int(o, 3);
	ob_bytes(o, sf->aaguid, 16);
	ob_int(o, 4);
	ob_head(o, 5, sf->builtin_uv ? 5 : 4);
	ob_text(o, "rk");
	ob_bool(o, 0);
	ob_text(o, "up");
	ob_bool(o, 1);
	if (sf->builtin_uv) {
		ob_text(o, "uv");
		ob_bool(o, 1);
	}
	ob_text(o, "plat");
	ob_bool(o, 0);
	ob_text(o, "clientPin");
	ob_bool(o, sf->pin_set);
	ob_int(o, 5);
	ob_int(o, HID_MAXMSG);
	ob_int(o, 6);
	ob_head(o, 4, 1);
	ob_int(o, 1);
	return ST_OK;
}

/*
 * options {rk, up, uv}: *up and *uv hold the requested values (-1 absent).
 */
static uint8_t
parse_options(const cbor_item_t *it, int *up, int *uv, int *rk)
{
	const struct cbor_pair *pairs;

	*up = *uv = *rk = -1;
	if (it == NULL)
		return ST_OK;
	if (!is_map(it))
		return ST_CBOR_UNEXPECTED_TYPE;
	pairs = cbor_map_handle(it);
	for (size_t i = 0; i < cbor_map_size(it); i++) {
		int *dst = NULL;

		if (!cbor_isa_string(pairs[i].key))
			return ST_CBOR_UNEXPECTED_TYPE;
		if (is_text(pairs[i].key, "up"))
			dst = up;
		else if (is_text(pairs[i].key, "uv"))
			dst = uv;
		else if (is_text(pairs[i].key, "rk"))
			dst = rk;
		if (dst == NULL)
			continue;
		if (!cbor_is_bool(pairs[i].value))
			return ST_CBOR_UNEXPECTED_TYPE;
		if (*dst != -1)
			return ST_INVALID_CBOR;
		*dst = cbor_get_bool(pairs[i].value) ? 1 : 0;
	}
	return ST_OK;
}

/*
 * User verification for makeCredential/getAssertion: pinAuth over the
 * clientDataHash with the pinToken, or the built-in method.
 */
static uint8_t
check_uv(struct softfido *sf, const cbor_item_t *pin_auth,
    const cbor_item_t *pin_proto, int uv_opt, const uint8_t *cdh,
    int *verified)
{
	const uint8_t *pa;
	size_t pa_len;
	int64_t proto;

	*verified = 0;
	if (pin_auth != NULL) {
		if (get_bytes(pin_auth, &pa, &pa_len) != 0)
			return ST_CBOR_UNEXPECTED_TYPE;
		if (pa_len == 0) {
			/* libfido2's touch probe: answer after a touch */
			if (!sf->up)
				return ST_OPERATION_DENIED;
			return sf->pin_set ? ST_PIN_INVALID : ST_PIN_NOT_SET;
		}
		if (pin_proto == NULL)
			return ST_MISSING_PARAMETER;
		if (get_int(pin_proto, &proto) != 0)
			return ST_CBOR_UNEXPECTED_TYPE;
		if (proto != 1)
			return ST_PIN_AUTH_INVALID;
		if (!sf->pin_set)
			return ST_PIN_NOT_SET;
		if (!hmac16_ok(sf->pin_token, sizeof(sf->pin_token), cdh, 32,
		    NULL, 0, pa, pa_len))
			return ST_PIN_AUTH_INVALID;
		*verified = 1;
		return ST_OK;
	}
	if (uv_opt == 1) {
		if (!sf->builtin_uv)
			return ST_UNSUPPORTED_OPTION;
		if (!sf->uv)
			return ST_OPERATION_DENIED;
		*verified = 1;
	}
	return ST_OK;
}

static struct cred *
find_cred(struct softfido *sf, const uint8_t *rp_hash, const uint8_t *id,
    size_t id_len)
{
	for (size_t i = 0; i < sf->ncreds; i++) {
		struct cred *c = &sf->creds[i];

		if (c->id_len == id_len && memcmp(c->id, id, id_len) == 0 &&
		    memcmp(c->rp_hash, rp_hash, 32) == 0)
			return c;
	}
	return NULL;
}

/* One {type: "public-key", id: bstr} descriptor. */
static uint8_t
parse_descriptor(const cbor_item_t *d, const uint8_t **id, size_t *id_len,
    int *public_key)
{
	const cbor_item_t *idv, *type;
	int dup = 0;

	if (!is_map(d))
		return ST_CBOR_UNEXPECTED_TYPE;
	idv = map_text(d, "id", &dup);
	type = map_text(d, "type", &dup);
	if (dup)
		return ST_INVALID_CBOR;
	if (idv == NULL || type == NULL)
		return ST_MISSING_PARAMETER;
	if (get_bytes(idv, id, id_len) != 0 || !cbor_isa_string(type))
		return ST_CBOR_UNEXPECTED_TYPE;
	*public_key = is_text(type, "public-key");
	return ST_OK;
}

static uint8_t
cmd_makecred(struct softfido *sf, const cbor_item_t *root, struct ob *o)
{
	const cbor_item_t *v[MAX_PARAM], *rpid, *uid;
	const uint8_t *cdh, *p;
	size_t cdh_len, n;
	uint8_t st, rp_hash[32], ad[512], sig[80], xy[64];
	size_t adl = 0, siglen = sizeof(sig);
	int up, uv, rk, verified, dup = 0, es256 = 0;
	uint32_t cnt;
	struct cred *c;
	EVP_PKEY *key = NULL;
	uint8_t *id = NULL;
	uint32_t rnd;
	size_t id_len;

	if ((st = parse_params(root, v)) != ST_OK)
		return st;
	if (v[1] == NULL || v[2] == NULL || v[3] == NULL || v[4] == NULL)
		return ST_MISSING_PARAMETER;
	if (get_bytes(v[1], &cdh, &cdh_len) != 0 || !is_map(v[2]) ||
	    !is_map(v[3]) || !is_array(v[4]))
		return ST_CBOR_UNEXPECTED_TYPE;
	if (cdh_len != 32)
		return ST_INVALID_LENGTH;
	rpid = map_text(v[2], "id", &dup);
	uid = map_text(v[3], "id", &dup);
	if (dup)
		return ST_INVALID_CBOR;
	if (rpid == NULL || uid == NULL)
		return ST_MISSING_PARAMETER;
	if (!cbor_isa_string(rpid) || !cbor_string_is_definite(rpid) ||
	    get_bytes(uid, &p, &n) != 0)
		return ST_CBOR_UNEXPECTED_TYPE;
	if (n > 64)
		return ST_INVALID_LENGTH;
	/* pubKeyCredParams: need {alg: -7, type: "public-key"} */
	for (size_t i = 0; i < cbor_array_size(v[4]); i++) {
		const cbor_item_t *prm = cbor_array_handle(v[4])[i], *alg, *type;
		int64_t a;

		if (!is_map(prm))
			return ST_CBOR_UNEXPECTED_TYPE;
		alg = map_text(prm, "alg", &dup);
		type = map_text(prm, "type", &dup);
		if (dup)
			return ST_INVALID_CBOR;
		if (alg == NULL || type == NULL)
			return ST_MISSING_PARAMETER;
		if (get_int(alg, &a) != 0 || !cbor_isa_string(type))
			return ST_CBOR_UNEXPECTED_TYPE;
		if (a == -7 && is_text(type, "public-key"))
			es256 = 1;
	}
	if (!es256)
		return ST_UNSUPPORTED_ALGORITHM;
	if (v[5] != NULL && !is_array(v[5]))
		return ST_CBOR_UNEXPECTED_TYPE;
	if (v[6] != NULL && !is_map(v[6]))
		return ST_CBOR_UNEXPECTED_TYPE;
	if ((st = parse_options(v[7], &up, &uv, &rk)) != ST_OK)
		return st;
	if (rk == 1)
		return ST_UNSUPPORTED_OPTION; /* no discoverable credentials */
	if (up != -1)
		return ST_INVALID_OPTION; /* "up" is not a makeCredential option */
	if ((st = check_uv(sf, v[8], v[9], uv, cdh, &verified)) != ST_OK)
		return st;
	if (sf->pin_set && !verified)
		return ST_PIN_REQUIRED; /* CTAP 2.0 §5.1 step 6 */

	SHA256(cbor_string_handle(rpid), cbor_string_length(rpid), rp_hash);
	if (v[5] != NULL)
		for (size_t i = 0; i < cbor_array_size(v[5]); i++) {
			int pk;

			if ((st = parse_descriptor(cbor_array_handle(v[5])[i],
			    &p, &n, &pk)) != ST_OK)
				return st;
			if (pk && find_cred(sf, rp_hash, p, n) != NULL) {
				if (!sf->up)
					return ST_OPERATION_DENIED;
				return ST_CREDENTIAL_EXCLUDED;
			}
		}
	if (!sf->up)
		return ST_OPERATION_DENIED; /* nobody touched the key */
	if (sf->ncreds >= MAX_CREDS)
		return ST_KEY_STORE_FULL;

	/* a new key and a random credential id of 32..64 bytes */
	if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
		return ST_OTHER;
	id_len = 32 + rnd % 33;
	if ((key = gen_key()) == NULL || pub_xy(key, xy) != 0 ||
	    (id = malloc(id_len)) == NULL ||
	    RAND_bytes(id, (int)id_len) != 1) {
		st = ST_OTHER;
		goto out;
	}
	cnt = counter_next(sf);
	memcpy(ad, rp_hash, 32);
	ad[32] = (uint8_t)(FLAG_UP | FLAG_AT | (verified ? FLAG_UV : 0));
	put_be32(ad + 33, cnt);
	memcpy(ad + 37, sf->aaguid, 16);
	ad[53] = (uint8_t)(id_len >> 8);
	ad[54] = (uint8_t)id_len;
	memcpy(ad + 55, id, id_len);
	adl = 55 + id_len;
	{
		struct ob k = { ad + adl, 0, sizeof(ad) - adl, 0 };

		cose_key(&k, xy, -7);
		if (k.err) {
			st = ST_OTHER;
			goto out;
		}
		adl += k.len;
	}
	if (sign_es256(sf->attestation == SOFTFIDO_ATT_X5C ? sf->att_key :
	    key, ad, adl, cdh, cdh_len, sig, &siglen) != 0) {
		st = ST_OTHER;
		goto out;
	}
	ob_head(o, 5, 3);
	ob_int(o, 1);
	ob_text(o, "packed");
	ob_int(o, 2);
	ob_bytes(o, ad, adl);
	ob_int(o, 3);
	ob_head(o, 5, sf->attestation == SOFTFIDO_ATT_X5C ? 3 : 2);
	ob_text(o, "alg");
	ob_int(o, -7);
	ob_text(o, "sig");
	ob_bytes(o, sig, siglen);
	if (sf->attestation == SOFTFIDO_ATT_X5C) {
		ob_text(o, "x5c");
		ob_head(o, 4, 1);
		ob_bytes(o, sf->att_cert, sf->att_cert_len);
	}
	if (o->err) {
		st = ST_OTHER;
		goto out;
	}
	c = &sf->creds[sf->ncreds++];
	c->id = id;
	c->id_len = id_len;
	memcpy(c->rp_hash, rp_hash, 32);
	c->key = key;
	id = NULL;
	key = NULL;
	st = ST_OK;
out:
	free(id);
	EVP_PKEY_free(key);
	return st;
}

static uint8_t
cmd_getassert(struct softfido *sf, const cbor_item_t *root, struct ob *o)
{
	const cbor_item_t *v[MAX_PARAM];
	const uint8_t *cdh, *p;
	size_t cdh_len, n;
	uint8_t st, rp_hash[32], ad[37], sig[80];
	size_t siglen = sizeof(sig);
	int up, uv, rk, verified, pk;
	struct cred *c = NULL;

	if ((st = parse_params(root, v)) != ST_OK)
		return st;
	if (v[1] == NULL || v[2] == NULL)
		return ST_MISSING_PARAMETER;
	if (!cbor_isa_string(v[1]) || !cbor_string_is_definite(v[1]) ||
	    get_bytes(v[2], &cdh, &cdh_len) != 0)
		return ST_CBOR_UNEXPECTED_TYPE;
	if (cdh_len != 32)
		return ST_INVALID_LENGTH;
	if (v[3] != NULL && !is_array(v[3]))
		return ST_CBOR_UNEXPECTED_TYPE;
	if (v[4] != NULL && !is_map(v[4]))
		return ST_CBOR_UNEXPECTED_TYPE;
	if ((st = parse_options(v[5], &up, &uv, &rk)) != ST_OK)
		return st;
	if (rk != -1)
		return ST_INVALID_OPTION;
	if ((st = check_uv(sf, v[6], v[7], uv, cdh, &verified)) != ST_OK)
		return st;
	SHA256(cbor_string_handle(v[1]), cbor_string_length(v[1]), rp_hash);
	if (v[3] != NULL)
		for (size_t i = 0; i < cbor_array_size(v[3]); i++) {
			if ((st = parse_descriptor(cbor_array_handle(v[3])[i],
			    &p, &n, &pk)) != ST_OK)
				return st;
			if (c == NULL && pk)
				c = find_cred(sf, rp_hash, p, n);
		}
	if (c == NULL)
		return ST_NO_CREDENTIALS;
	if (up != 0 && !sf->up)
		return ST_OPERATION_DENIED;

	memcpy(ad, rp_hash, 32);
	ad[32] = (uint8_t)((up != 0 ? FLAG_UP : 0) | (verified ? FLAG_UV : 0));
	put_be32(ad + 33, counter_next(sf));
	if (sign_es256(c->key, ad, sizeof(ad), cdh, cdh_len, sig, &siglen) != 0)
		return ST_OTHER;
	ob_head(o, 5, 3);
	ob_int(o, 1);
	ob_head(o, 5, 2);
	ob_text(o, "id");
	ob_bytes(o, c->id, c->id_len);
	ob_text(o, "type");
	ob_text(o, "public-key");
	ob_int(o, 2);
	ob_bytes(o, ad, sizeof(ad));
	ob_int(o, 3);
	ob_bytes(o, sig, siglen);
	return o->err ? ST_OTHER : ST_OK;
}

/* The platform's key agreement COSE key → shared secret. */
static uint8_t
pin_shared(struct softfido *sf, const cbor_item_t *ka, uint8_t shared[32])
{
	const struct cbor_pair *pairs;
	const uint8_t *x = NULL, *y = NULL;
	size_t xl = 0, yl = 0;
	int64_t k, kty = 0, crv = 0;

	if (ka == NULL)
		return ST_MISSING_PARAMETER;
	if (!is_map(ka))
		return ST_CBOR_UNEXPECTED_TYPE;
	pairs = cbor_map_handle(ka);
	for (size_t i = 0; i < cbor_map_size(ka); i++) {
		if (get_int(pairs[i].key, &k) != 0)
			return ST_CBOR_UNEXPECTED_TYPE;
		if ((k == 1 && get_int(pairs[i].value, &kty) != 0) ||
		    (k == -1 && get_int(pairs[i].value, &crv) != 0) ||
		    (k == -2 && get_bytes(pairs[i].value, &x, &xl) != 0) ||
		    (k == -3 && get_bytes(pairs[i].value, &y, &yl) != 0))
			return ST_CBOR_UNEXPECTED_TYPE;
	}
	if (kty != 2 || crv != 1 || x == NULL || y == NULL || xl != 32 ||
	    yl != 32)
		return ST_INVALID_PARAMETER;
	if (ecdh_shared(sf->ka_key, x, y, shared) != 0)
		return ST_INVALID_PARAMETER;
	return ST_OK;
}

/* A wrong PIN: one retry less and a new key agreement key (CTAP 2.0 §5.5.8). */
static uint8_t
pin_mismatch(struct softfido *sf)
{
	EVP_PKEY *k = gen_key();

	if (k != NULL) {
		EVP_PKEY_free(sf->ka_key);
		sf->ka_key = k;
	}
	return sf->retries == 0 ? ST_PIN_BLOCKED : ST_PIN_INVALID;
}

static uint8_t
cmd_clientpin(struct softfido *sf, const cbor_item_t *root, struct ob *o)
{
	const cbor_item_t *v[MAX_PARAM];
	uint8_t st, shared[32], buf[256], hash[32], tok[32];
	const uint8_t *pa = NULL, *npe = NULL, *phe = NULL;
	size_t pal = 0, npel = 0, phel = 0, pinlen;
	int64_t proto, sub;
	uint8_t xy[64];

	if ((st = parse_params(root, v)) != ST_OK)
		return st;
	if (v[1] == NULL || v[2] == NULL)
		return ST_MISSING_PARAMETER;
	if (get_int(v[1], &proto) != 0 || get_int(v[2], &sub) != 0)
		return ST_CBOR_UNEXPECTED_TYPE;
	if (proto != 1)
		return ST_INVALID_PARAMETER;
	switch (sub) {
	case 1: /* getRetries */
		ob_head(o, 5, 1);
		ob_int(o, 3);
		ob_int(o, sf->retries);
		return o->err ? ST_OTHER : ST_OK;
	case 2: /* getKeyAgreement */
		if (pub_xy(sf->ka_key, xy) != 0)
			return ST_OTHER;
		ob_head(o, 5, 1);
		ob_int(o, 1);
		cose_key(o, xy, -25); /* ECDH-ES + HKDF-256 */
		return o->err ? ST_OTHER : ST_OK;
	case 3: /* setPIN */
	case 4: /* changePIN */
		if (sub == 3 && sf->pin_set)
			return ST_NOT_ALLOWED;
		if (sub == 4 && !sf->pin_set)
			return ST_PIN_NOT_SET;
		if (sub == 4 && sf->retries == 0)
			return ST_PIN_BLOCKED;
		if (v[4] == NULL || v[5] == NULL || (sub == 4 && v[6] == NULL))
			return ST_MISSING_PARAMETER;
		if (get_bytes(v[4], &pa, &pal) != 0 ||
		    get_bytes(v[5], &npe, &npel) != 0 ||
		    (sub == 4 && get_bytes(v[6], &phe, &phel) != 0))
			return ST_CBOR_UNEXPECTED_TYPE;
		if ((st = pin_shared(sf, v[3], shared)) != ST_OK)
			return st;
		if (npel < 64 || npel % 16 != 0 || npel > sizeof(buf))
			return ST_PIN_POLICY_VIOLATION;
		if (!hmac16_ok(shared, 32, npe, npel, sub == 4 ? phe : NULL,
		    sub == 4 ? phel : 0, pa, pal)) {
			st = ST_PIN_AUTH_INVALID;
			goto out;
		}
		if (sub == 4) {
			if (phel != 16 || aes_cbc(0, shared, phe, 16, buf) != 0) {
				st = ST_INVALID_PARAMETER;
				goto out;
			}
			sf->retries--;
			if (CRYPTO_memcmp(buf, sf->pin_hash, 16) != 0) {
				st = pin_mismatch(sf);
				goto out;
			}
			sf->retries = SOFTFIDO_MAX_RETRIES;
		}
		if (aes_cbc(0, shared, npe, npel, buf) != 0) {
			st = ST_INVALID_PARAMETER;
			goto out;
		}
		for (pinlen = 0; pinlen < npel && buf[pinlen] != 0; pinlen++)
			;
		if (pinlen < 4 || pinlen > 63) {
			st = ST_PIN_POLICY_VIOLATION;
			goto out;
		}
		SHA256(buf, pinlen, hash);
		memcpy(sf->pin_hash, hash, 16);
		sf->pin_set = 1;
		sf->retries = SOFTFIDO_MAX_RETRIES;
		st = ST_OK;
		goto out;
	case 5: /* getPINToken */
		if (!sf->pin_set)
			return ST_PIN_NOT_SET;
		if (sf->retries == 0)
			return ST_PIN_BLOCKED;
		if (v[6] == NULL)
			return ST_MISSING_PARAMETER;
		if (get_bytes(v[6], &phe, &phel) != 0)
			return ST_CBOR_UNEXPECTED_TYPE;
		if ((st = pin_shared(sf, v[3], shared)) != ST_OK)
			return st;
		if (phel != 16 || aes_cbc(0, shared, phe, 16, buf) != 0) {
			st = ST_INVALID_PARAMETER;
			goto out;
		}
		sf->retries--;
		if (CRYPTO_memcmp(buf, sf->pin_hash, 16) != 0) {
			st = pin_mismatch(sf);
			goto out;
		}
		sf->retries = SOFTFIDO_MAX_RETRIES;
		if (aes_cbc(1, shared, sf->pin_token, 32, tok) != 0) {
			st = ST_OTHER;
			goto out;
		}
		ob_head(o, 5, 1);
		ob_int(o, 2);
		ob_bytes(o, tok, 32);
		st = o->err ? ST_OTHER : ST_OK;
		goto out;
	default:
		return ST_INVALID_SUBCOMMAND;
	}
out:
	OPENSSL_cleanse(shared, sizeof(shared));
	OPENSSL_cleanse(buf, sizeof(buf));
	OPENSSL_cleanse(hash, sizeof(hash));
	return st;
}

static uint8_t
cmd_reset(struct softfido *sf)
{
	if (!sf->up)
		return ST_OPERATION_DENIED;
	creds_clear(sf);
	sf->pin_set = 0;
	memset(sf->pin_hash, 0, sizeof(sf->pin_hash));
	sf->retries = SOFTFIDO_MAX_RETRIES;
	return ST_OK;
}

/* req = command byte + CBOR; resp = status byte + CBOR.  Returns length. */
static size_t
ctap_cbor(struct softfido *sf, const uint8_t *req, size_t len, uint8_t *resp,
    size_t cap)
{
	struct ob o = { resp + 1, 0, cap - 1, 0 };
	struct cbor_load_result res;
	cbor_item_t *root = NULL;
	uint8_t st;
	int changed = 0;

	if (len == 0) {
		resp[0] = ST_INVALID_LENGTH;
		return 1;
	}
	if (len > 1) {
		if (kagi_fido_cbor_check(req + 1, len - 1, 8) != 0) {
			resp[0] = ST_INVALID_CBOR;
			return 1;
		}
		memset(&res, 0, sizeof(res));
		root = cbor_load(req + 1, len - 1, &res);
		if (root == NULL || res.error.code != CBOR_ERR_NONE ||
		    res.read != len - 1) {
			if (root != NULL)
				cbor_decref(&root);
			resp[0] = ST_INVALID_CBOR;
			return 1;
		}
	}
	if (shared_begin(sf) != 0) {
		if (root != NULL)
			cbor_decref(&root);
		resp[0] = ST_OTHER;
		return 1;
	}
	switch (req[0]) {
	case CMD_GETINFO:
		st = root != NULL ? ST_INVALID_LENGTH : cmd_getinfo(sf, &o);
		break;
	case CMD_MAKECRED:
		st = cmd_makecred(sf, root, &o);
		changed = 1;
		break;
	case CMD_GETASSERT:
		st = cmd_getassert(sf, root, &o);
		changed = 1;
		break;
	case CMD_CLIENTPIN:
		st = cmd_clientpin(sf, root, &o);
		changed = 1;
		break;
	case CMD_RESET:
		st = cmd_reset(sf);
		changed = 1;
		break;
	case CMD_GETNEXT:
		st = ST_NOT_ALLOWED;
		break;
	default:
		st = ST_INVALID_COMMAND;
		break;
	}
	if (shared_end(sf, changed) != 0 && st == ST_OK)
		st = ST_OTHER;
	if (root != NULL)
		cbor_decref(&root);
	if (st != ST_OK || o.err) {
		resp[0] = o.err && st == ST_OK ? ST_OTHER : st;
		return 1;
	}
	resp[0] = ST_OK;
	return 1 + o.len;
}

int
softfido_cbor(struct softfido *sf, const uint8_t *req, size_t req_len,
    uint8_t *resp, size_t cap, size_t *resp_len)
{
	if (resp_len != NULL)
		*resp_len = 0;
	if (sf == NULL || (req == NULL && req_len > 0) || resp == NULL ||
	    cap < 2 || resp_len == NULL)
		return KAGI_ERR_INVALID;
	*resp_len = ctap_cbor(sf, req, req_len, resp, cap);
	return 0;
}

/* --- CTAPHID over libfido2's io hooks ---------------------------------- */

struct sf_io {
	struct softfido *sf;
	int busy;
	uint32_t cid;
	uint8_t cmd;
	uint8_t seq;
	size_t need, have;
	uint8_t msg[HID_MAXMSG];
	uint8_t *out; /* queued reports, HID_RPT bytes each */
	size_t out_len, out_pos;
};

static void
queue_msg(struct sf_io *io, uint32_t cid, uint8_t cmd, const uint8_t *data,
    size_t n)
{
	size_t frames = 1, off, chunk;
	uint8_t *q, *f;

	if (n > HID_INIT_DATA)
		frames += (n - HID_INIT_DATA + HID_CONT_DATA - 1) /
		    HID_CONT_DATA;
	if (io->out_pos == io->out_len) {
		io->out_pos = io->out_len = 0;
	}
	if ((q = realloc(io->out, io->out_len + frames * HID_RPT)) == NULL)
		return;
	io->out = q;
	f = q + io->out_len;
	memset(f, 0, frames * HID_RPT);
	io->out_len += frames * HID_RPT;
	put_be32(f, cid);
	f[4] = (uint8_t)(0x80 | cmd);
	f[5] = (uint8_t)(n >> 8);
	f[6] = (uint8_t)n;
	chunk = n < HID_INIT_DATA ? n : HID_INIT_DATA;
	if (chunk > 0)
		memcpy(f + 7, data, chunk);
	off = chunk;
	for (uint8_t seq = 0; off < n; seq++) {
		f += HID_RPT;
		put_be32(f, cid);
		f[4] = seq;
		chunk = n - off < HID_CONT_DATA ? n - off : HID_CONT_DATA;
		memcpy(f + 5, data + off, chunk);
		off += chunk;
	}
}

static void
queue_err(struct sf_io *io, uint32_t cid, uint8_t code)
{
	queue_msg(io, cid, HID_ERROR, &code, 1);
}

static int
cid_valid(const struct sf_io *io, uint32_t cid)
{
	return cid != 0 && cid != CID_BROADCAST && cid < io->sf->next_cid;
}

static void
hid_dispatch(struct sf_io *io)
{
	uint8_t resp[HID_MAXMSG];
	size_t n;

	switch (io->cmd) {
	case HID_PING:
		queue_msg(io, io->cid, HID_PING, io->msg, io->need);
		break;
	case HID_WINK:
		queue_msg(io, io->cid, HID_WINK, NULL, 0);
		break;
	case HID_CANCEL:
		break; /* nothing is pending: no answer (CTAP 2.0 §8.1.9.1.5) */
	case HID_CBOR:
		if (io->need == 0) {
			queue_err(io, io->cid, ERR_INVALID_LEN);
			break;
		}
		n = ctap_cbor(io->sf, io->msg, io->need, resp, sizeof(resp));
		queue_msg(io, io->cid, HID_CBOR, resp, n);
		OPENSSL_cleanse(resp, n);
		break;
	default: /* MSG (no U2F), LOCK and anything else */
		queue_err(io, io->cid, ERR_INVALID_CMD);
		break;
	}
}

static void
hid_init(struct sf_io *io, uint32_t cid, const uint8_t *f, size_t bcnt)
{
	uint8_t resp[17];
	uint32_t newcid;

	if (bcnt != 8) {
		queue_err(io, cid, ERR_INVALID_LEN);
		return;
	}
	if (cid == 0 || (cid != CID_BROADCAST && !cid_valid(io, cid))) {
		queue_err(io, cid, ERR_INVALID_CHANNEL);
		return;
	}
	if (io->busy && io->cid == cid)
		io->busy = 0; /* resynchronise: abandon the transaction */
	if (cid == CID_BROADCAST) {
		if (io->sf->next_cid >= 0xfffffff0u) {
			queue_err(io, cid, ERR_OTHER);
			return;
		}
		newcid = io->sf->next_cid++;
	} else {
		newcid = cid;
	}
	memcpy(resp, f + 7, 8); /* the nonce */
	put_be32(resp + 8, newcid);
	resp[12] = 2; /* CTAPHID protocol version */
	resp[13] = 1; /* device version 1.0.0 */
	resp[14] = 0;
	resp[15] = 0;
	resp[16] = HID_CAP_WINK | HID_CAP_CBOR | HID_CAP_NMSG;
	queue_msg(io, cid, HID_INIT, resp, sizeof(resp));
}

static void
hid_frame(struct sf_io *io, const uint8_t *f)
{
	uint32_t cid = get_be32(f);
	size_t bcnt, chunk;

	if (f[4] & 0x80) {
		uint8_t cmd = (uint8_t)(f[4] & 0x7f);

		bcnt = (size_t)f[5] << 8 | f[6];
		if (cmd == HID_INIT) {
			hid_init(io, cid, f, bcnt);
			return;
		}
		if (!cid_valid(io, cid)) {
			queue_err(io, cid, ERR_INVALID_CHANNEL);
			return;
		}
		if (io->busy) {
			if (io->cid != cid) {
				queue_err(io, cid, ERR_CHANNEL_BUSY);
			} else {
				io->busy = 0;
				queue_err(io, cid, ERR_INVALID_SEQ);
			}
			return;
		}
		if (bcnt > HID_MAXMSG) {
			queue_err(io, cid, ERR_INVALID_LEN);
			return;
		}
		io->busy = 1;
		io->cid = cid;
		io->cmd = cmd;
		io->seq = 0;
		io->need = bcnt;
		io->have = bcnt < HID_INIT_DATA ? bcnt : HID_INIT_DATA;
		memcpy(io->msg, f + 7, io->have);
	} else {
		if (!io->busy) {
			/* a continuation without a start */
			if (cid_valid(io, cid))
				queue_err(io, cid, ERR_INVALID_SEQ);
			return;
		}
		if (io->cid != cid) {
			if (cid_valid(io, cid))
				queue_err(io, cid, ERR_CHANNEL_BUSY);
			return;
		}
		if (f[4] != io->seq) {
			io->busy = 0;
			queue_err(io, cid, ERR_INVALID_SEQ);
			return;
		}
		io->seq++;
		chunk = io->need - io->have;
		if (chunk > HID_CONT_DATA)
			chunk = HID_CONT_DATA;
		memcpy(io->msg + io->have, f + 5, chunk);
		io->have += chunk;
	}
	if (io->busy && io->have == io->need) {
		io->busy = 0;
		hid_dispatch(io);
	}
}

static void *
io_open(const char *path)
{
	struct sf_io *io;
	unsigned slot;
	char tail;

	if (path == NULL || sscanf(path, "softfido:%u%c", &slot, &tail) != 1 ||
	    slot >= REGISTRY || registry[slot] == NULL)
		return NULL;
	if ((io = calloc(1, sizeof(*io))) == NULL)
		return NULL;
	io->sf = registry[slot];
	return io;
}

static void
io_close(void *h)
{
	struct sf_io *io = h;

	if (io == NULL)
		return;
	free(io->out);
	kagi_wipe(io, sizeof(*io));
	free(io);
}

/* libfido2 writes report id 0 + one 64-byte report. */
static int
io_write(void *h, const unsigned char *buf, size_t len)
{
	struct sf_io *io = h;

	if (io == NULL || buf == NULL || len != HID_RPT + 1 || buf[0] != 0)
		return -1;
	hid_frame(io, buf + 1);
	return (int)len;
}

static int
io_read(void *h, unsigned char *buf, size_t len, int ms)
{
	struct sf_io *io = h;

	(void)ms;
	if (io == NULL || buf == NULL || len != HID_RPT ||
	    io->out_pos >= io->out_len)
		return -1; /* nothing to say: a timeout */
	memcpy(buf, io->out + io->out_pos, HID_RPT);
	io->out_pos += HID_RPT;
	return HID_RPT;
}

static const fido_dev_io_t sf_io_funcs = {
	io_open, io_close, io_read, io_write,
};

const fido_dev_io_t *
softfido_io(void)
{
	return &sf_io_funcs;
}

int
softfido_attach(struct softfido *sf, fido_dev_t *dev)
{
	if (sf == NULL || dev == NULL)
		return KAGI_ERR_INVALID;
	return fido_dev_set_io_functions(dev, &sf_io_funcs) == FIDO_OK ? 0 :
	    KAGI_ERR_INVALID;
}

const char *
softfido_path(const struct softfido *sf)
{
	return sf != NULL ? sf->path : NULL;
}

int
softfido_open(struct softfido *sf, fido_dev_t *dev)
{
	int r;

	if ((r = softfido_attach(sf, dev)) != 0)
		return r;
	return fido_dev_open(dev, sf->path) == FIDO_OK ? 0 :
	    KAGI_ERR_UNAVAILABLE;
}

/* --- life cycle and knobs --------------------------------------------- */

struct softfido *
softfido_new(const struct softfido_opts *opts)
{
	struct softfido *sf = NULL;
	int slot = -1, r;

	for (int i = 0; i < REGISTRY; i++)
		if (registry[i] == NULL) {
			slot = i;
			break;
		}
	if (slot < 0 || (sf = calloc(1, sizeof(*sf))) == NULL)
		return NULL;
	sf->lockfd = -1;
	sf->slot = slot;
	sf->next_cid = 1;
	sf->up = 1;
	sf->uv = 1;
	sf->retries = SOFTFIDO_MAX_RETRIES;
	memcpy(sf->aaguid, opts != NULL && opts->aaguid != NULL ?
	    opts->aaguid : (const uint8_t *)SOFTFIDO_DEFAULT_AAGUID, 16);
	if (opts != NULL) {
		sf->attestation = opts->attestation == SOFTFIDO_ATT_X5C ?
		    SOFTFIDO_ATT_X5C : SOFTFIDO_ATT_SELF;
		sf->builtin_uv = opts->builtin_uv ? 1 : 0;
	}
	if ((sf->ka_key = gen_key()) == NULL ||
	    RAND_bytes(sf->pin_token, sizeof(sf->pin_token)) != 1)
		goto fail;
	if (sf->attestation == SOFTFIDO_ATT_X5C && make_att_cert(sf) != 0)
		goto fail;
	if (opts != NULL && opts->state_path != NULL) {
		char *lock = NULL;

		if ((sf->state_path = strdup(opts->state_path)) == NULL ||
		    asprintf(&lock, "%s.lock", opts->state_path) < 0)
			goto fail;
		sf->lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC |
		    O_NOFOLLOW, 0600);
		free(lock);
		if (sf->lockfd < 0)
			goto fail;
		/* an existing file wins; else this instance creates it */
		if (flock(sf->lockfd, LOCK_EX) != 0)
			goto fail;
		r = softfido_load(sf, sf->state_path);
		if (r == KAGI_ERR_NOT_FOUND)
			r = softfido_save(sf, sf->state_path);
		(void)flock(sf->lockfd, LOCK_UN);
		if (r != 0) {
			kagi_log_err("softfido: state file: %s",
			    kagi_strerror(r));
			goto fail;
		}
	}
	snprintf(sf->path, sizeof(sf->path), "softfido:%d", slot);
	registry[slot] = sf;
	return sf;
fail:
	sf->slot = -1;
	softfido_free(sf);
	return NULL;
}

void
softfido_free(struct softfido *sf)
{
	if (sf == NULL)
		return;
	if (sf->slot >= 0 && sf->slot < REGISTRY && registry[sf->slot] == sf)
		registry[sf->slot] = NULL;
	creds_clear(sf);
	EVP_PKEY_free(sf->att_key);
	EVP_PKEY_free(sf->ka_key);
	free(sf->att_cert);
	free(sf->state_path);
	if (sf->lockfd >= 0)
		close(sf->lockfd);
	kagi_wipe(sf, sizeof(*sf));
	free(sf);
}

/* Apply one change to the (shared) state. */
#define KNOB(sf, stmt)                                          \
	do {                                                    \
		int r_;                                         \
		if ((sf) == NULL)                               \
			return KAGI_ERR_INVALID;                \
		if ((r_ = shared_begin(sf)) != 0)               \
			return r_;                              \
		stmt;                                           \
		return shared_end((sf), 1);                     \
	} while (0)

int
softfido_set_up(struct softfido *sf, int touched)
{
	KNOB(sf, sf->up = touched ? 1 : 0);
}

int
softfido_set_uv(struct softfido *sf, int verified)
{
	KNOB(sf, sf->uv = verified ? 1 : 0);
}

int
softfido_set_counter_mode(struct softfido *sf,
    enum softfido_counter_mode mode)
{
	if (mode > SOFTFIDO_COUNTER_ZERO)
		return KAGI_ERR_INVALID;
	KNOB(sf, sf->mode = (uint8_t)mode);
}

int
softfido_set_counter(struct softfido *sf, uint32_t value)
{
	KNOB(sf, sf->counter = value);
}

int
softfido_set_pin(struct softfido *sf, const char *pin)
{
	uint8_t hash[32];
	int r;

	if (sf == NULL ||
	    (pin != NULL && (strlen(pin) < 4 || strlen(pin) > 63)))
		return KAGI_ERR_INVALID;
	memset(hash, 0, sizeof(hash));
	if (pin != NULL)
		SHA256((const uint8_t *)pin, strlen(pin), hash);
	if ((r = shared_begin(sf)) == 0) {
		memcpy(sf->pin_hash, hash, 16);
		sf->pin_set = pin != NULL;
		sf->retries = SOFTFIDO_MAX_RETRIES;
		r = shared_end(sf, 1);
	}
	OPENSSL_cleanse(hash, sizeof(hash));
	return r;
}

uint32_t
softfido_counter(struct softfido *sf)
{
	if (sf == NULL || shared_begin(sf) != 0)
		return 0;
	(void)shared_end(sf, 0);
	return sf->counter;
}

int
softfido_pin_retries(struct softfido *sf)
{
	if (sf == NULL || shared_begin(sf) != 0)
		return -1;
	(void)shared_end(sf, 0);
	return sf->retries;
}

size_t
softfido_cred_count(struct softfido *sf)
{
	if (sf == NULL || shared_begin(sf) != 0)
		return 0;
	(void)shared_end(sf, 0);
	return sf->ncreds;
}

int
softfido_attestation_cert(struct softfido *sf, const uint8_t **der,
    size_t *len)
{
	if (der != NULL)
		*der = NULL;
	if (len != NULL)
		*len = 0;
	if (sf == NULL || der == NULL || len == NULL)
		return KAGI_ERR_INVALID;
	if (sf->att_cert == NULL)
		return KAGI_ERR_NOT_FOUND;
	*der = sf->att_cert;
	*len = sf->att_cert_len;
	return 0;
}
