/*
 * Server-side FIDO2 verification (docs/FIDO.md).  libfido2 parses and
 * verifies; this file bounds and pre-checks every untrusted byte before
 * libfido2 sees it, applies kagi's policy (UP always, UV on request, packed
 * ES256 only, AAGUID allowlist) and maps the outcome onto KAGI_ERR_*.
 */
#include <stdlib.h>
#include <string.h>

#include <fido.h>
#include <fido/es256.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "kagi/err.h"
#include "kagi/kbuf.h"
#include "kagi/kfido.h"
#include "kagi/log.h"

#define CBOR_MAX_DEPTH 8

/* --- CBOR well-formedness (RFC 8949 §3) ------------------------------- */

static int
cbor_item(const uint8_t *p, size_t len, size_t *pos, unsigned depth,
    unsigned max_depth)
{
	uint8_t ib, major, ai;
	uint64_t v = 0;
	int r;

	if (*pos >= len)
		return KAGI_ERR_FORMAT;
	ib = p[(*pos)++];
	major = (uint8_t)(ib >> 5);
	ai = (uint8_t)(ib & 0x1f);
	if (ai < 24) {
		v = ai;
	} else if (ai <= 27) {
		size_t n = (size_t)1 << (ai - 24);

		if (len - *pos < n)
			return KAGI_ERR_FORMAT;
		for (size_t i = 0; i < n; i++)
			v = (v << 8) | p[(*pos)++];
	} else {
		/* 28..30 reserved; 31 indefinite length: refused. */
		return KAGI_ERR_FORMAT;
	}
	switch (major) {
	case 0: /* unsigned */
	case 1: /* negative */
		return 0;
	case 2: /* byte string */
	case 3: /* text string */
		if (v > len - *pos)
			return KAGI_ERR_FORMAT;
		*pos += (size_t)v;
		return 0;
	case 4: /* array: every element takes at least one byte */
	case 5: /* map: every pair takes at least two */
		if (depth >= max_depth)
			return KAGI_ERR_LIMIT;
		if (major == 5) {
			if (v > (len - *pos) / 2)
				return KAGI_ERR_FORMAT;
			v *= 2;
		} else if (v > len - *pos) {
			return KAGI_ERR_FORMAT;
		}
		for (uint64_t i = 0; i < v; i++)
			if ((r = cbor_item(p, len, pos, depth + 1,
			    max_depth)) != 0)
				return r;
		return 0;
	case 6: /* tags: not used by CTAP2 */
		return KAGI_ERR_FORMAT;
	default: /* 7: simple values and floats */
		return 0;
	}
}

int
kagi_fido_cbor_check(const uint8_t *p, size_t len, unsigned max_depth)
{
	size_t pos = 0;
	int r;

	if (p == NULL || len == 0)
		return KAGI_ERR_FORMAT;
	if ((r = cbor_item(p, len, &pos, 0, max_depth)) != 0)
		return r;
	return pos == len ? 0 : KAGI_ERR_TRAILING;
}

/* One well-formed CBOR item of the given major type. */
static int
cbor_expect(const uint8_t *p, size_t len, uint8_t major, const char *what)
{
	int r;

	if ((r = kagi_fido_cbor_check(p, len, CBOR_MAX_DEPTH)) != 0) {
		kagi_log_warn("fido: %s is not well-formed CBOR (%zu bytes)",
		    what, len);
		return r == KAGI_ERR_LIMIT ? KAGI_ERR_FORMAT : r;
	}
	if ((p[0] >> 5) != major) {
		kagi_log_warn("fido: %s has CBOR major type %u, want %u", what,
		    (unsigned)(p[0] >> 5), (unsigned)major);
		return KAGI_ERR_FORMAT;
	}
	return 0;
}

/*
 * The payload of a CBOR byte string already checked by cbor_expect (major
 * type 2, definite length, spanning the whole input).
 */
static void
bstr_payload(const uint8_t *p, size_t len, const uint8_t **in, size_t *inlen)
{
	uint8_t ai = (uint8_t)(p[0] & 0x1f);
	size_t hdr = ai < 24 ? 1 : 1 + ((size_t)1 << (ai - 24));

	*in = p + hdr;
	*inlen = len - hdr;
}

/* One CBOR item at the front of b, consumed whole (bounded, not decoded). */
static int
kbuf_cbor_item(struct kbuf *b)
{
	const uint8_t *v;
	size_t pos = 0;
	int r;

	if ((r = cbor_item(kbuf_ptr(b), kbuf_len(b), &pos, 0,
	    CBOR_MAX_DEPTH)) != 0)
		return KAGI_ERR_FORMAT;
	return kbuf_get_view(b, pos, &v);
}

/*
 * Authenticator data (WebAuthn §6.1): rpIdHash(32) flags(1) signCount(4)
 * [AT: aaguid(16) credIdLen(2) credId credentialPublicKey(CBOR)]
 * [ED: extensions(CBOR map)], nothing after.  libfido2 hands the embedded
 * CBOR to libcbor, which allocates for declared counts, so every embedded
 * item is checked here first.  want_at: the AT flag must be (1) or must
 * not be (0) set.
 */
static int
authdata_precheck(const uint8_t *cbor, size_t cbor_len, int want_at)
{
	struct kbuf *b = NULL;
	const uint8_t *raw, *v;
	size_t raw_len;
	uint8_t flags;
	uint16_t idlen;
	uint32_t cnt;
	int r;

	bstr_payload(cbor, cbor_len, &raw, &raw_len);
	if ((b = kbuf_from(raw, raw_len)) == NULL)
		return KAGI_ERR_NOMEM;
	if ((r = kbuf_get_view(b, 32, &v)) != 0 ||
	    (r = kbuf_get_u8(b, &flags)) != 0 ||
	    (r = kbuf_get_u32(b, &cnt)) != 0)
		goto out;
	if (((flags & KAGI_FIDO_FLAG_AT) != 0) != (want_at != 0)) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	if (flags & KAGI_FIDO_FLAG_AT) {
		if ((r = kbuf_get_view(b, KAGI_FIDO_AAGUID_LEN, &v)) != 0 ||
		    (r = kbuf_get_u16(b, &idlen)) != 0)
			goto out;
		if (idlen == 0 || idlen > KAGI_FIDO_CRED_ID_MAX) {
			r = KAGI_ERR_FORMAT;
			goto out;
		}
		if ((r = kbuf_get_view(b, idlen, &v)) != 0 ||
		    (r = kbuf_cbor_item(b)) != 0)
			goto out;
	}
	if ((flags & KAGI_FIDO_FLAG_ED) && (r = kbuf_cbor_item(b)) != 0)
		goto out;
	r = kbuf_expect_end(b);
out:
	if (r != 0)
		kagi_log_warn("fido: authenticator data malformed (%zu bytes)",
		    raw_len);
	kbuf_free(b);
	return r == KAGI_ERR_TRAILING ? KAGI_ERR_FORMAT : r;
}

/* --- COSE_Key ES256 (RFC 9053 §7.1.1), canonical form ----------------- */

static const uint8_t cose_prefix[] = {
	0xa5,       /* map(5) */
	0x01, 0x02, /* kty: EC2 */
	0x03, 0x26, /* alg: -7 (ES256) */
	0x20, 0x01, /* crv (-1): P-256 */
	0x21, 0x58, 0x20, /* x (-2): bstr(32) */
};
static const uint8_t cose_mid[] = { 0x22, 0x58, 0x20 }; /* y (-3): bstr(32) */

void
kagi_fido_cose_es256_encode(const uint8_t xy[64],
    uint8_t out[KAGI_FIDO_COSE_ES256_LEN])
{
	size_t o = 0;

	memcpy(out + o, cose_prefix, sizeof(cose_prefix));
	o += sizeof(cose_prefix);
	memcpy(out + o, xy, 32);
	o += 32;
	memcpy(out + o, cose_mid, sizeof(cose_mid));
	o += sizeof(cose_mid);
	memcpy(out + o, xy + 32, 32);
}

int
kagi_fido_cose_es256_parse(const uint8_t *cose, size_t len, uint8_t xy[64])
{
	const size_t ypos = sizeof(cose_prefix) + 32;

	if (xy != NULL)
		memset(xy, 0, 64);
	if (cose == NULL || xy == NULL)
		return KAGI_ERR_INVALID;
	if (len != KAGI_FIDO_COSE_ES256_LEN ||
	    memcmp(cose, cose_prefix, sizeof(cose_prefix)) != 0 ||
	    memcmp(cose + ypos, cose_mid, sizeof(cose_mid)) != 0)
		return KAGI_ERR_FORMAT;
	memcpy(xy, cose + sizeof(cose_prefix), 32);
	memcpy(xy + 32, cose + ypos + sizeof(cose_mid), 32);
	return 0;
}

/* --- registration ----------------------------------------------------- */

void
kagi_fido_reg_clear(struct kagi_fido_reg *r)
{
	if (r == NULL)
		return;
	free(r->cred_id);
	memset(r, 0, sizeof(*r));
}

static int
aaguid_allowed(const struct kagi_fido_reg_policy *pol, const uint8_t *aaguid)
{
	if (pol->insecure_any_aaguid) {
		kagi_log_warn("fido: insecure_any_aaguid: AAGUID not checked");
		return 1;
	}
	if (pol->aaguids == NULL)
		return 0;
	for (size_t i = 0; i < pol->n_aaguids; i++)
		if (memcmp(pol->aaguids + i * KAGI_FIDO_AAGUID_LEN, aaguid,
		    KAGI_FIDO_AAGUID_LEN) == 0)
			return 1;
	return 0;
}

static int
rp_hash_ok(const char *rp_id, const uint8_t *hash)
{
	uint8_t want[SHA256_DIGEST_LENGTH];

	SHA256((const uint8_t *)rp_id, strlen(rp_id), want);
	return CRYPTO_memcmp(want, hash, sizeof(want)) == 0;
}

/* libfido2's verify result in our vocabulary. */
static int
map_verify(int rc)
{
	switch (rc) {
	case FIDO_OK:
		return 0;
	case FIDO_ERR_INVALID_SIG:
		return KAGI_ERR_SIG;
	case FIDO_ERR_INVALID_PARAM:
		return KAGI_ERR_DENIED;
	default:
		return KAGI_ERR_FORMAT;
	}
}

int
kagi_fido_cred_check(const struct kagi_fido_reg_policy *pol,
    const struct kagi_fido_reg_input *in, struct kagi_fido_reg *out)
{
	fido_cred_t *cred = NULL;
	const uint8_t *raw, *id, *pk, *aaguid;
	size_t raw_len, id_len;
	uint8_t flags;
	uint8_t *idcopy = NULL;
	int attested, rc, r = KAGI_ERR_INTERNAL;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (pol == NULL || in == NULL || out == NULL || pol->rp_id == NULL ||
	    in->cdh == NULL || in->cdh_len != KAGI_FIDO_CDH_LEN ||
	    in->fmt == NULL || in->authdata == NULL || in->attstmt == NULL)
		return KAGI_ERR_INVALID;
	if (in->authdata_len > KAGI_FIDO_AUTHDATA_MAX ||
	    in->attstmt_len > KAGI_FIDO_ATTSTMT_MAX)
		return KAGI_ERR_LIMIT;
	if (strcmp(in->fmt, "packed") != 0) {
		kagi_log_warn("fido: attestation format not accepted");
		return KAGI_ERR_DENIED;
	}
	if ((r = cbor_expect(in->authdata, in->authdata_len, 2,
	    "authdata")) != 0 ||
	    (r = authdata_precheck(in->authdata, in->authdata_len, 1)) != 0 ||
	    (r = cbor_expect(in->attstmt, in->attstmt_len, 5, "attstmt")) != 0)
		return r;

	if ((cred = fido_cred_new()) == NULL)
		return KAGI_ERR_NOMEM;
	if (fido_cred_set_type(cred, COSE_ES256) != FIDO_OK ||
	    fido_cred_set_clientdata_hash(cred, in->cdh, in->cdh_len) !=
	    FIDO_OK || fido_cred_set_rp(cred, pol->rp_id, NULL) != FIDO_OK ||
	    fido_cred_set_fmt(cred, in->fmt) != FIDO_OK) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if (fido_cred_set_authdata(cred, in->authdata, in->authdata_len) !=
	    FIDO_OK || fido_cred_set_attstmt(cred, in->attstmt,
	    in->attstmt_len) != FIDO_OK) {
		kagi_log_warn("fido: registration does not parse");
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	if (pol->require_uv &&
	    fido_cred_set_uv(cred, FIDO_OPT_TRUE) != FIDO_OK)
		goto out;

	/* Our own checks first, for precise reasons in the log. */
	raw = fido_cred_authdata_raw_ptr(cred);
	raw_len = fido_cred_authdata_raw_len(cred);
	if (raw == NULL || raw_len < 37) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	if (!rp_hash_ok(pol->rp_id, raw)) {
		kagi_log_warn("event=fido_reg_refused reason=rp_id");
		r = KAGI_ERR_DENIED;
		goto out;
	}
	flags = fido_cred_flags(cred);
	if (!(flags & KAGI_FIDO_FLAG_UP) || !(flags & KAGI_FIDO_FLAG_AT) ||
	    (pol->require_uv && !(flags & KAGI_FIDO_FLAG_UV))) {
		kagi_log_warn("event=fido_reg_refused reason=flags flags=0x%02x",
		    (unsigned)flags);
		r = KAGI_ERR_DENIED;
		goto out;
	}

	attested = fido_cred_x5c_ptr(cred) != NULL;
	if (attested) {
		rc = fido_cred_verify(cred);
	} else if (pol->allow_self_attestation) {
		rc = fido_cred_verify_self(cred);
	} else {
		kagi_log_warn("event=fido_reg_refused reason=self_attestation");
		r = KAGI_ERR_DENIED;
		goto out;
	}
	if ((r = map_verify(rc)) != 0) {
		kagi_log_warn("event=fido_reg_refused reason=verify (%s)",
		    fido_strerr(rc));
		goto out;
	}

	aaguid = fido_cred_aaguid_ptr(cred);
	if (aaguid == NULL ||
	    fido_cred_aaguid_len(cred) != KAGI_FIDO_AAGUID_LEN) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	if (!aaguid_allowed(pol, aaguid)) {
		kagi_log_warn("event=fido_reg_refused reason=aaguid");
		r = KAGI_ERR_DENIED;
		goto out;
	}
	pk = fido_cred_pubkey_ptr(cred);
	id = fido_cred_id_ptr(cred);
	id_len = fido_cred_id_len(cred);
	if (pk == NULL || fido_cred_pubkey_len(cred) != 64 || id == NULL ||
	    id_len == 0) {
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	if (id_len > KAGI_FIDO_CRED_ID_MAX) {
		r = KAGI_ERR_LIMIT;
		goto out;
	}
	if ((idcopy = malloc(id_len)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	memcpy(idcopy, id, id_len);

	out->cred_id = idcopy;
	idcopy = NULL;
	out->cred_id_len = id_len;
	kagi_fido_cose_es256_encode(pk, out->cose_key);
	memcpy(out->aaguid, aaguid, KAGI_FIDO_AAGUID_LEN);
	out->counter = fido_cred_sigcount(cred);
	out->flags = flags;
	out->attested = attested;
	r = 0;
out:
	free(idcopy);
	fido_cred_free(&cred);
	return r;
}

/* --- assertion -------------------------------------------------------- */

int
kagi_fido_assert_check(const char *rp_id, const uint8_t *cose_key,
    size_t cose_key_len, const struct kagi_fido_assert_input *in,
    int require_uv, struct kagi_fido_assert_result *out)
{
	fido_assert_t *a = NULL;
	es256_pk_t *pk = NULL;
	uint8_t xy[64];
	uint8_t flags;
	int rc, r = KAGI_ERR_INTERNAL;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (rp_id == NULL || cose_key == NULL || in == NULL || out == NULL ||
	    in->cdh == NULL || in->cdh_len != KAGI_FIDO_CDH_LEN ||
	    in->authdata == NULL || in->sig == NULL || in->sig_len == 0)
		return KAGI_ERR_INVALID;
	if (in->authdata_len > KAGI_FIDO_AUTHDATA_MAX ||
	    in->sig_len > KAGI_FIDO_SIG_MAX)
		return KAGI_ERR_LIMIT;
	if ((r = kagi_fido_cose_es256_parse(cose_key, cose_key_len, xy)) != 0)
		return r;
	if ((r = cbor_expect(in->authdata, in->authdata_len, 2,
	    "authdata")) != 0 ||
	    (r = authdata_precheck(in->authdata, in->authdata_len, 0)) != 0)
		return r;

	if ((pk = es256_pk_new()) == NULL || (a = fido_assert_new()) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if (es256_pk_from_ptr(pk, xy, sizeof(xy)) != FIDO_OK) {
		kagi_log_warn("fido: stored key is not a P-256 point");
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	if (fido_assert_set_clientdata_hash(a, in->cdh, in->cdh_len) !=
	    FIDO_OK || fido_assert_set_rp(a, rp_id) != FIDO_OK ||
	    fido_assert_set_count(a, 1) != FIDO_OK ||
	    fido_assert_set_up(a, FIDO_OPT_TRUE) != FIDO_OK ||
	    fido_assert_set_uv(a, require_uv ? FIDO_OPT_TRUE :
	    FIDO_OPT_OMIT) != FIDO_OK) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	if (fido_assert_set_authdata(a, 0, in->authdata, in->authdata_len) !=
	    FIDO_OK || fido_assert_set_sig(a, 0, in->sig, in->sig_len) !=
	    FIDO_OK) {
		kagi_log_warn("fido: assertion does not parse");
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	flags = fido_assert_flags(a, 0);
	if (!(flags & KAGI_FIDO_FLAG_UP)) {
		kagi_log_warn("event=fido_assert_refused reason=no_up");
		r = KAGI_ERR_DENIED;
		goto out;
	}
	if (require_uv && !(flags & KAGI_FIDO_FLAG_UV)) {
		kagi_log_warn("event=fido_assert_refused reason=no_uv");
		r = KAGI_ERR_DENIED;
		goto out;
	}
	/* rpId hash, flags again, extensions and the signature. */
	rc = fido_assert_verify(a, 0, COSE_ES256, pk);
	if ((r = map_verify(rc)) != 0) {
		kagi_log_warn("event=fido_assert_refused reason=verify (%s)",
		    fido_strerr(rc));
		goto out;
	}
	out->counter = fido_assert_sigcount(a, 0);
	out->flags = flags;
	r = 0;
out:
	fido_assert_free(&a);
	es256_pk_free(&pk);
	return r;
}

int
kagi_fido_counter_check(uint32_t stored, uint32_t new_counter)
{
	if (stored == 0 && new_counter == 0)
		return 0; /* the authenticator keeps no counter */
	if (new_counter > stored)
		return 0;
	return KAGI_ERR_SIG;
}
