/*
 * Token selection: a plain token label, or an RFC 7512 "pkcs11:" URI.
 *
 * Supported path attributes (RFC 7512 §2.3): token, manufacturer, serial,
 * model, slot-id.  Anything else (object, id, type, library-*, slot-*) is
 * refused, so a URI never silently selects more than it says.  Query
 * attributes are refused as a whole: pin-value and pin-source would put a PIN
 * in configuration, and module-name/module-path would load code from a place
 * other than the configured module path.  The URI itself is never logged
 * (it could carry a PIN); only attribute names are.
 */
#include <string.h>

#include "hsm_int.h"
#include "kagi/log.h"

#define URI_SCHEME "pkcs11:"
#define URI_MAX 1024

int
hsm_padded_eq(const CK_UTF8CHAR *field, size_t n, const char *s)
{
	size_t sl = strlen(s);
	size_t i;

	if (sl > n)
		return 0;
	if (memcmp(field, s, sl) != 0)
		return 0;
	for (i = sl; i < n; i++)
		if (field[i] != ' ')
			return 0;
	return 1;
}

void
hsm_padded_set(CK_UTF8CHAR *field, size_t n, const char *s)
{
	size_t sl = strlen(s);

	if (sl > n)
		sl = n;
	memset(field, ' ', n);
	memcpy(field, s, sl);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decode value[0..len) into out (cap bytes incl. NUL).  Refuses %00,
 * malformed escapes and results longer than cap - 1.
 */
static int
pct_decode(const char *name, const char *v, size_t len, char *out, size_t cap)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		int c = (unsigned char)v[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len) {
				kagi_log_err("pkcs11 URI: attribute %s: truncated "
				    "percent escape", name);
				return KAGI_ERR_FORMAT;
			}
			hi = hexval(v[i + 1]);
			lo = hexval(v[i + 2]);
			if (hi < 0 || lo < 0) {
				kagi_log_err("pkcs11 URI: attribute %s: bad "
				    "percent escape", name);
				return KAGI_ERR_FORMAT;
			}
			c = hi * 16 + lo;
			i += 2;
			if (c == 0) {
				kagi_log_err("pkcs11 URI: attribute %s: NUL "
				    "byte", name);
				return KAGI_ERR_FORMAT;
			}
		}
		if (o + 1 >= cap) {
			kagi_log_err("pkcs11 URI: attribute %s: value longer "
			    "than %zu bytes", name, cap - 1);
			return KAGI_ERR_LIMIT;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

static int
parse_slot_id(const char *s, CK_SLOT_ID *out)
{
	CK_SLOT_ID v = 0;
	const char *p;

	if (*s == '\0')
		return KAGI_ERR_FORMAT;
	for (p = s; *p != '\0'; p++) {
		CK_SLOT_ID d;

		if (*p < '0' || *p > '9')
			return KAGI_ERR_FORMAT;
		d = (CK_SLOT_ID)(*p - '0');
		if (v > (((CK_SLOT_ID)-1) - d) / 10)
			return KAGI_ERR_LIMIT;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* One "name=value" path attribute. */
static int
parse_attr(const char *a, size_t alen, struct hsm_token_match *m)
{
	const char *eq = memchr(a, '=', alen);
	char name[24];
	size_t nlen, vlen;
	const char *v;
	int *has = NULL;
	char *dst = NULL;
	size_t cap = 0;
	char idbuf[32];
	int r;

	if (eq == NULL || eq == a) {
		kagi_log_err("pkcs11 URI: path attribute without name=value");
		return KAGI_ERR_FORMAT;
	}
	nlen = (size_t)(eq - a);
	v = eq + 1;
	vlen = alen - nlen - 1;
	if (nlen >= sizeof(name)) {
		kagi_log_err("pkcs11 URI: unknown attribute (name too long)");
		return KAGI_ERR_INVALID;
	}
	memcpy(name, a, nlen);
	name[nlen] = '\0';

	if (strcmp(name, "token") == 0) {
		has = &m->has_token;
		dst = m->token;
		cap = sizeof(m->token);
	} else if (strcmp(name, "manufacturer") == 0) {
		has = &m->has_manufacturer;
		dst = m->manufacturer;
		cap = sizeof(m->manufacturer);
	} else if (strcmp(name, "serial") == 0) {
		has = &m->has_serial;
		dst = m->serial;
		cap = sizeof(m->serial);
	} else if (strcmp(name, "model") == 0) {
		has = &m->has_model;
		dst = m->model;
		cap = sizeof(m->model);
	} else if (strcmp(name, "slot-id") == 0) {
		has = &m->has_slot_id;
		dst = idbuf;
		cap = sizeof(idbuf);
	} else {
		/* Only printable names are echoed; the log escapes the rest. */
		kagi_log_err("pkcs11 URI: unsupported path attribute \"%s\" "
		    "(supported: token, manufacturer, serial, model, slot-id)",
		    name);
		return KAGI_ERR_INVALID;
	}
	if (*has) {
		kagi_log_err("pkcs11 URI: attribute %s given twice", name);
		return KAGI_ERR_FORMAT;
	}
	if ((r = pct_decode(name, v, vlen, dst, cap)) != 0)
		return r;
	if (has == &m->has_slot_id) {
		if ((r = parse_slot_id(idbuf, &m->slot_id)) != 0) {
			kagi_log_err("pkcs11 URI: slot-id is not a decimal "
			    "number");
			return r;
		}
	} else if (dst[0] == '\0') {
		kagi_log_err("pkcs11 URI: attribute %s is empty", name);
		return KAGI_ERR_FORMAT;
	}
	*has = 1;
	return 0;
}

int
hsm_token_match_parse(const char *token, struct hsm_token_match *m)
{
	size_t len, i, start;
	const char *p;

	memset(m, 0, sizeof(*m));
	if (token == NULL || *token == '\0') {
		kagi_log_err("token: empty label");
		return KAGI_ERR_INVALID;
	}
	len = strlen(token);
	if (strncmp(token, URI_SCHEME, strlen(URI_SCHEME)) != 0) {
		/* A plain label: at most 32 bytes, compared blank-padded. */
		if (len > HSM_LABEL_LEN) {
			kagi_log_err("token: label longer than %d bytes",
			    HSM_LABEL_LEN);
			return KAGI_ERR_LIMIT;
		}
		memcpy(m->token, token, len + 1);
		m->has_token = 1;
		return 0;
	}
	if (len > URI_MAX) {
		kagi_log_err("pkcs11 URI: longer than %d bytes", URI_MAX);
		return KAGI_ERR_LIMIT;
	}
	p = token + strlen(URI_SCHEME);
	len = strlen(p);
	if (memchr(p, '?', len) != NULL) {
		/* Do not log the query: it may hold pin-value. */
		if (strstr(p, "pin-value") != NULL ||
		    strstr(p, "pin-source") != NULL)
			kagi_log_err("pkcs11 URI: PINs are not accepted in "
			    "URIs; use a PIN file");
		else
			kagi_log_err("pkcs11 URI: query attributes are not "
			    "supported");
		memset(m, 0, sizeof(*m));
		return KAGI_ERR_INVALID;
	}
	if (memchr(p, '#', len) != NULL) {
		kagi_log_err("pkcs11 URI: fragment not allowed");
		return KAGI_ERR_FORMAT;
	}
	start = 0;
	for (i = 0; i <= len; i++) {
		int r;

		if (i < len && p[i] != ';')
			continue;
		if (i == start) {
			/* "pkcs11:" alone or an empty ";;" component. */
			if (len == 0)
				break;
			kagi_log_err("pkcs11 URI: empty path attribute");
			memset(m, 0, sizeof(*m));
			return KAGI_ERR_FORMAT;
		}
		if ((r = parse_attr(p + start, i - start, m)) != 0) {
			memset(m, 0, sizeof(*m));
			return r;
		}
		start = i + 1;
	}
	return 0;
}

int
hsm_token_match_check(const struct hsm_token_match *m, CK_SLOT_ID slot,
    const CK_TOKEN_INFO *ti)
{
	if (m->has_slot_id && m->slot_id != slot)
		return 0;
	if (m->has_token && !hsm_padded_eq(ti->label, sizeof(ti->label),
	    m->token))
		return 0;
	if (m->has_manufacturer && !hsm_padded_eq(ti->manufacturerID,
	    sizeof(ti->manufacturerID), m->manufacturer))
		return 0;
	if (m->has_serial && !hsm_padded_eq(ti->serialNumber,
	    sizeof(ti->serialNumber), m->serial))
		return 0;
	if (m->has_model && !hsm_padded_eq(ti->model, sizeof(ti->model),
	    m->model))
		return 0;
	return 1;
}
