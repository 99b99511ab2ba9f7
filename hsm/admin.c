/*
 * hsm card administration at the counter (kagi-cardd, issue 6): what a token
 * can do for enrolment (key generation mechanisms, write protection, PIN
 * lengths), the security officer's login, C_InitPIN (PIN unblock) and
 * C_SetPIN.  PINs go to the module only; they are never logged.
 */
#include <string.h>

#include "hsm_int.h"
#include "kagi/log.h"

/* Does the token generate key pairs with mech at this size (bits)? */
static int
mech_can_generate(struct hsm_session *s, CK_MECHANISM_TYPE mech,
    CK_ULONG bits)
{
	CK_MECHANISM_INFO mi;
	CK_RV rv;

	memset(&mi, 0, sizeof(mi));
	rv = s->h->f->C_GetMechanismInfo(s->slot, mech, &mi);
	if (rv != CKR_OK)
		return 0; /* CKR_MECHANISM_INVALID: not supported */
	if ((mi.flags & CKF_GENERATE_KEY_PAIR) == 0)
		return 0;
	/* Sizes of 0 mean "not reported": trust the flag. */
	if (mi.ulMaxKeySize != 0 && (bits < mi.ulMinKeySize ||
	    bits > mi.ulMaxKeySize))
		return 0;
	return 1;
}

int
hsm_session_caps(struct hsm_session *s, struct hsm_token_caps *out)
{
	CK_TOKEN_INFO ti;
	CK_RV rv;

	if (out == NULL)
		return KAGI_ERR_INVALID;
	memset(out, 0, sizeof(*out));
	if (s == NULL)
		return KAGI_ERR_INVALID;
	memset(&ti, 0, sizeof(ti));
	if ((rv = s->h->f->C_GetTokenInfo(s->slot, &ti)) != CKR_OK)
		return hsm_ckr_err(rv, "C_GetTokenInfo");
	out->write_protected = (ti.flags & CKF_WRITE_PROTECTED) != 0;
	out->user_pin_initialized = (ti.flags & CKF_USER_PIN_INITIALIZED) != 0;
	out->pin_to_be_changed = (ti.flags & CKF_USER_PIN_TO_BE_CHANGED) != 0;
	out->pin_min = (unsigned long)ti.ulMinPinLen;
	out->pin_max = (unsigned long)ti.ulMaxPinLen;
	/* P-256 is 256 bits for CKM_EC_KEY_PAIR_GEN (PKCS#11 v2.40 §2.3). */
	out->keygen_ec = mech_can_generate(s, CKM_EC_KEY_PAIR_GEN, 256);
	out->keygen_rsa = mech_can_generate(s, CKM_RSA_PKCS_KEY_PAIR_GEN,
	    2048);
	return 0;
}

/* CKR codes a person can act on: a wrong or blocked PIN, a PIN too short. */
static int
pin_rv(struct hsm_session *s, CK_RV rv, const char *what)
{
	switch (rv) {
	case CKR_OK:
		return 0;
	case CKR_PIN_INCORRECT:
		(void)hsm_ckr_err(rv, what);
		kagi_log_warn("event=hsm_login_failed token=\"%s\" op=%s",
		    s->label, what);
		return KAGI_ERR_PIN;
	case CKR_PIN_LOCKED:
		(void)hsm_ckr_err(rv, what);
		kagi_log_warn("event=hsm_pin_locked token=\"%s\" op=%s",
		    s->label, what);
		return KAGI_ERR_LOCKED;
	case CKR_PIN_LEN_RANGE:
	case CKR_PIN_INVALID:
		(void)hsm_ckr_err(rv, what);
		return KAGI_ERR_INVALID;
	default:
		return hsm_ckr_err(rv, what);
	}
}

int
hsm_session_login_so(struct hsm_session *s, const char *so_pin)
{
	CK_RV rv;

	if (s == NULL || so_pin == NULL)
		return KAGI_ERR_INVALID;
	rv = s->h->f->C_Login(s->sh, CKU_SO, (CK_UTF8CHAR_PTR)so_pin,
	    (CK_ULONG)strlen(so_pin));
	if (rv == CKR_USER_ALREADY_LOGGED_IN)
		return 0;
	/* A wrong SO PIN is a wrong PIN (not an invalid new one). */
	if (rv == CKR_PIN_LEN_RANGE || rv == CKR_PIN_INVALID)
		rv = CKR_PIN_INCORRECT;
	return pin_rv(s, rv, "C_Login(SO)");
}

int
hsm_session_init_pin(struct hsm_session *s, const char *new_pin)
{
	CK_RV rv;
	int r;

	if (s == NULL || new_pin == NULL || *new_pin == '\0')
		return KAGI_ERR_INVALID;
	rv = s->h->f->C_InitPIN(s->sh, (CK_UTF8CHAR_PTR)new_pin,
	    (CK_ULONG)strlen(new_pin));
	if ((r = pin_rv(s, rv, "C_InitPIN")) == 0)
		kagi_log_info("event=hsm_pin_init token=\"%s\"", s->label);
	return r;
}

int
hsm_session_set_pin(struct hsm_session *s, const char *old_pin,
    const char *new_pin)
{
	CK_RV rv;
	int r;

	if (s == NULL || old_pin == NULL || new_pin == NULL ||
	    *new_pin == '\0')
		return KAGI_ERR_INVALID;
	rv = s->h->f->C_SetPIN(s->sh, (CK_UTF8CHAR_PTR)old_pin,
	    (CK_ULONG)strlen(old_pin), (CK_UTF8CHAR_PTR)new_pin,
	    (CK_ULONG)strlen(new_pin));
	/* The old PIN is checked first: its failure is a wrong PIN. */
	if ((r = pin_rv(s, rv, "C_SetPIN")) == 0)
		kagi_log_info("event=hsm_pin_set token=\"%s\"", s->label);
	return r;
}

/* CKA_LABEL / CKA_ID of an object into buf (len in/out); 0 or an error. */
static int
attr_small(struct hsm_session *s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
    uint8_t *buf, size_t *len)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	CK_RV rv;

	rv = s->h->f->C_GetAttributeValue(s->sh, o, &a, 1);
	if (rv != CKR_OK || a.ulValueLen == CK_UNAVAILABLE_INFORMATION ||
	    a.ulValueLen > *len) {
		*len = 0;
		return rv == CKR_OK ? KAGI_ERR_LIMIT : hsm_ckr_err(rv,
		    "C_GetAttributeValue");
	}
	a.pValue = buf;
	if ((rv = s->h->f->C_GetAttributeValue(s->sh, o, &a, 1)) != CKR_OK) {
		*len = 0;
		return hsm_ckr_err(rv, "C_GetAttributeValue");
	}
	*len = (size_t)a.ulValueLen;
	return 0;
}

#define PRUNE_MAX 64

int
hsm_card_prune(struct hsm_session *s, const char *label_prefix,
    const uint8_t *keep_id, size_t keep_len, size_t *removed)
{
	static const CK_OBJECT_CLASS classes[] = { CKO_CERTIFICATE,
	    CKO_PRIVATE_KEY, CKO_PUBLIC_KEY };
	CK_OBJECT_HANDLE found[PRUNE_MAX];
	CK_OBJECT_CLASS cls;
	CK_ATTRIBUTE t = { CKA_CLASS, &cls, sizeof(cls) };
	CK_ULONG n = 0, i;
	uint8_t label[256], id[256];
	size_t llen, ilen, plen, c, gone = 0;
	CK_RV rv;
	int r;

	if (removed != NULL)
		*removed = 0;
	if (s == NULL || label_prefix == NULL || keep_id == NULL ||
	    keep_len == 0)
		return KAGI_ERR_INVALID;
	plen = strlen(label_prefix);
	for (c = 0; c < sizeof(classes) / sizeof(classes[0]); c++) {
		cls = classes[c];
		if ((rv = s->h->f->C_FindObjectsInit(s->sh, &t, 1)) != CKR_OK)
			return hsm_ckr_err(rv, "C_FindObjectsInit");
		rv = s->h->f->C_FindObjects(s->sh, found, PRUNE_MAX, &n);
		(void)s->h->f->C_FindObjectsFinal(s->sh);
		if (rv != CKR_OK)
			return hsm_ckr_err(rv, "C_FindObjects");
		for (i = 0; i < n; i++) {
			llen = sizeof(label);
			ilen = sizeof(id);
			/* Only objects kagi made (by label), never others. */
			if (attr_small(s, found[i], CKA_LABEL, label,
			    &llen) != 0 || llen < plen ||
			    memcmp(label, label_prefix, plen) != 0)
				continue;
			if ((r = attr_small(s, found[i], CKA_ID, id,
			    &ilen)) != 0)
				continue;
			if (ilen == keep_len && memcmp(id, keep_id,
			    keep_len) == 0)
				continue;
			rv = s->h->f->C_DestroyObject(s->sh, found[i]);
			if (rv != CKR_OK)
				return hsm_ckr_err(rv, "C_DestroyObject");
			gone++;
		}
	}
	if (removed != NULL)
		*removed = gone;
	if (gone > 0)
		kagi_log_info("event=hsm_card_prune token=\"%s\" removed=%zu",
		    s->label, gone);
	return 0;
}
