/*
 * policy.ini parsing and validation (docs/POLICY.md).
 *
 * inih does the INI tokenising; we feed it through our own reader so that we
 * know the line number of every setting (inih's handler is not told it) and
 * see section headers as they come (inih reports sections only with their
 * first key).  The reader mirrors inih's line classification exactly, so the
 * section it tracks is the one inih hands to the handler; the handler checks
 * that they agree.  The first error wins and stops the parse; a failed parse
 * returns nothing.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "kagi/file.h"
#include "kagi/i18n.h"
#include "kagi/kbuf.h"
#include "kagi/log.h"
#include "kagi/util.h"
#include "policy_int.h"

#define DAY  86400
#define HOUR 3600
#define MIN  60

/* Built-in OIDs for the three standard zone names (2.25 = UUID arc). */
#define OID_MYNUMBER "2.25.129079384302528601037273543698822391623"
#define OID_LGWAN    "2.25.171650042320339141054201421213188112496"
#define OID_INTERNET "2.25.84259514978504391155551880982103941456"

#define DEFAULT_BANNER \
	"This system is for authorised staff only. All access is recorded.\n" \
	"\xe6\x9c\xac\xe3\x82\xb7\xe3\x82\xb9\xe3\x83\x86\xe3\x83\xa0\xe3\x81\xaf" \
	"\xe8\xa8\xb1\xe5\x8f\xaf\xe3\x81\x95\xe3\x82\x8c\xe3\x81\x9f\xe8\x81\xb7" \
	"\xe5\x93\xa1\xe3\x81\xae\xe3\x81\xbf\xe5\x88\xa9\xe7\x94\xa8\xe3\x81\xa7" \
	"\xe3\x81\x8d\xe3\x81\xbe\xe3\x81\x99\xe3\x80\x82\xe6\x93\x8d\xe4\xbd\x9c" \
	"\xe3\x81\xaf\xe8\xa8\x98\xe9\x8c\xb2\xe3\x81\x95\xe3\x82\x8c\xe3\x81\xbe" \
	"\xe3\x81\x99\xe3\x80\x82"

enum sec {
	SEC_GENERAL = 0,
	SEC_PW_ORD,
	SEC_PW_PRIV,
	SEC_PW_SHARED,
	SEC_LK_ORD,
	SEC_LK_PRIV,
	SEC_LK_SHARED,
	SEC_PRIVILEGED,
	SEC_SWEEP,
	SEC_ROLES,   /* [roles]: keys are action names (policy/roles.c) */
	SEC_LOGIN,
	SEC_FIDO,
	SEC_CARDS,
	SEC_ZONE0,
	SEC_COUNT = SEC_ZONE0 + POLICY_MAX_ZONES
};

enum vtype {
	V_ZONE_NAME, /* [general] mynumber_zone */
	V_UINT,      /* decimal integer in [min, max] */
	V_UINT_OFF,  /* integer or "off" (stored as 0) */
	V_BOOL,
	V_DUR,       /* duration, seconds in [min, max] */
	V_DUR_OFF,   /* duration or "off"/"0" (0) */
	V_DUR_ZERO,  /* duration or "0" (0 = until unlocked) */
	V_DAYS_OFF,  /* whole days or "off" -> uint32 days */
	V_HOURS,     /* whole hours -> uint32 hours */
	V_OID,
	V_FACTORS,
	V_BANNER,
	V_MINCAT,    /* zone min_categories[.kind], kept in the parse context */
	V_PATH,      /* an absolute path (printable, no spaces at the ends) */
	V_RPID,      /* [fido] rp_id: a lower-case DNS-like name */
	V_AAGUIDS,   /* [fido] aaguids: comma list of 16-byte hex AAGUIDs */
	V_UV,        /* zone fido_uv: required, preferred, discouraged */
};

struct keydef {
	const char *name;
	enum vtype type;
	size_t off;
	long long min, max;
};

#define PW(f) offsetof(struct policy_password, f)
static const struct keydef pw_keys[] = {
	{ "min_length", V_UINT, PW(min_length), 8, 256 },
	{ "min_classes", V_UINT, PW(min_classes), 1, 4 },
	{ "history", V_UINT, PW(history), 0, STORE_PW_HISTORY_MAX },
	{ "max_age", V_DAYS_OFF, PW(max_age_days), 1, 3650 },
	{ "max_logins", V_UINT_OFF, PW(max_logins), 1, 1000000 },
	{ "temp_length", V_UINT, PW(temp_length), 8, 64 },
	{ "temp_lifetime", V_HOURS, PW(temp_hours), 1, 720 },
	{ "hash_cost", V_UINT, PW(hash_cost), 1, 11 },
	{ "reject_login_name", V_BOOL, PW(reject_login_name), 0, 1 },
	{ "reject_person_name", V_BOOL, PW(reject_person_name), 0, 1 },
	{ "reject_common", V_BOOL, PW(reject_common), 0, 1 },
	{ NULL, 0, 0, 0, 0 }
};
enum { PK_MIN_LENGTH, PK_MIN_CLASSES, PK_HISTORY, PK_MAX_AGE, PK_MAX_LOGINS,
	PK_TEMP_LENGTH, PK_TEMP_LIFETIME, PK_HASH_COST, PK_REJ_LOGIN,
	PK_REJ_PERSON, PK_REJ_COMMON, PK_COUNT };

#define LK(f) offsetof(struct policy_lockout, f)
static const struct keydef lk_keys[] = {
	{ "threshold", V_UINT, LK(threshold), 1, 100 },
	{ "window", V_DUR, LK(window), 1, 30LL * DAY },
	{ "duration", V_DUR_ZERO, LK(duration), 1, 30LL * DAY },
	{ NULL, 0, 0, 0, 0 }
};
enum { LKK_THRESHOLD, LKK_WINDOW, LKK_DURATION, LKK_COUNT };

#define PR(f) offsetof(struct policy_privileged, f)
static const struct keydef priv_keys[] = {
	{ "max_window", V_DUR, PR(max_window), MIN, 7LL * DAY },
	{ "max_window_delegate", V_DUR, PR(max_window_delegate), MIN, 7LL * DAY },
	{ "session_idle", V_DUR, PR(session_idle), MIN, DAY },
	{ NULL, 0, 0, 0, 0 }
};
enum { PRK_MAX_WINDOW, PRK_DELEGATE, PRK_IDLE };

#define SW(f) offsetof(struct policy_sweep, f)
static const struct keydef sweep_keys[] = {
	{ "interval", V_DUR_OFF, SW(interval), 10, 7LL * DAY },
	{ "dormant_days", V_UINT_OFF, SW(dormant_days), 1, 3650 },
	{ NULL, 0, 0, 0, 0 }
};

static const struct keydef general_keys[] = {
	{ "mynumber_zone", V_ZONE_NAME, 0, 0, 0 },
	{ "common_list", V_PATH, 0, 0, 0 },
	{ NULL, 0, 0, 0, 0 }
};
enum { GK_MYNUMBER, GK_COMMON_LIST };

#define LG(f) offsetof(struct policy_login, f)
static const struct keydef login_keys[] = {
	{ "challenge_lifetime", V_DUR, LG(challenge_lifetime), 1, HOUR },
	{ NULL, 0, 0, 0, 0 }
};

#define FD(f) offsetof(struct policy_fido, f)
static const struct keydef fido_keys[] = {
	{ "rp_id", V_RPID, FD(rp_id), 0, 0 },
	{ "aaguids", V_AAGUIDS, FD(aaguids), 0, 0 },
	{ "self_attestation", V_BOOL, FD(self_attestation), 0, 1 },
	{ "insecure_any_aaguid", V_BOOL, FD(insecure_any_aaguid), 0, 1 },
	{ NULL, 0, 0, 0, 0 }
};

#define CD(f) offsetof(struct policy_cards, f)
static const struct keydef cards_keys[] = {
	{ "pin_unblock_dual_control", V_BOOL, CD(pin_unblock_dual_control),
	  0, 1 },
	{ NULL, 0, 0, 0, 0 }
};

#define ZN(f) offsetof(struct policy_zone, f)
static const struct keydef zone_keys[] = {
	{ "policy_oid", V_OID, ZN(policy_oid), 0, 0 },
	{ "factors", V_FACTORS, ZN(factors), 0, 0 },
	{ "min_categories", V_MINCAT, 0, 1, 3 },
	{ "offline_login", V_BOOL, ZN(offline_login), 0, 1 },
	{ "bundle_max_age", V_DUR, ZN(bundle_max_age), MIN, 30LL * DAY },
	{ "banner", V_BANNER, ZN(banner), 0, 0 },
	{ "fido_uv", V_UV, ZN(fido_uv), 0, 0 },
	{ NULL, 0, 0, 0, 0 }
};
enum { ZK_OID, ZK_FACTORS, ZK_MINCAT, ZK_OFFLINE, ZK_BUNDLE, ZK_BANNER,
	ZK_FIDO_UV, ZK_MINCAT_KIND0 /* + kind */ };

#define NKEYS 16 /* >= ZK_MINCAT_KIND0 + STORE_KIND_COUNT and PK_COUNT */

static const char *const kind_names[STORE_KIND_COUNT] = {
	"personal", "shared", "privileged", "development", "contractor",
	"service"
};

static const char *const sec_names[SEC_ZONE0] = {
	"general", "password", "password.privileged", "password.shared",
	"lockout", "lockout.privileged", "lockout.shared", "privileged", "sweep",
	"roles", "login", "fido", "cards"
};

struct ctx {
	const char *file;
	const char *text;
	size_t len, pos;
	unsigned lineno;
	bool have_prev;     /* inih's prev_name is set (continuation possible) */
	bool cur_cont;      /* the current line continues the previous value */
	int cur_sec;        /* -1 before the first section */
	char cur_sec_name[64];
	int last_key;       /* key index set by the last key line */
	struct policy *p;
	unsigned sect_line[SEC_COUNT];
	unsigned lines[SEC_COUNT][NKEYS];
	char mynumber_zone[32];
	unsigned mincat_all[POLICY_MAX_ZONES];
	unsigned mincat[POLICY_MAX_ZONES][STORE_KIND_COUNT];
	unsigned role_lines[POLICY_ACTION_MAX];
	int err;
	unsigned err_line;
	char *errbuf;
	size_t errlen;
};

/* Echo names from the file in messages only as printable ASCII. */
static void
sanitize(char *dst, size_t n, const char *src)
{
	size_t i = 0;

	for (; src != NULL && *src != '\0' && i + 1 < n && i < 48; src++)
		dst[i++] = (*src >= 0x20 && *src < 0x7f) ? *src : '?';
	dst[i] = '\0';
}

static void fail(struct ctx *c, int code, unsigned line, const char *sec,
    const char *key, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void
fail(struct ctx *c, int code, unsigned line, const char *sec, const char *key,
    const char *fmt, ...)
{
	char reason[512], s[64], k[64];
	va_list ap;

	if (c->err != 0)
		return;
	c->err = code;
	c->err_line = line;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (c->errbuf == NULL || c->errlen == 0)
		return;
	sanitize(s, sizeof(s), sec);
	sanitize(k, sizeof(k), key);
	if (sec != NULL && key != NULL)
		snprintf(c->errbuf, c->errlen, "%s:%u: [%s] %s: %s", c->file,
		    line, s, k, reason);
	else if (sec != NULL)
		snprintf(c->errbuf, c->errlen, "%s:%u: [%s]: %s", c->file,
		    line, s, reason);
	else if (key != NULL)
		snprintf(c->errbuf, c->errlen, "%s:%u: %s: %s", c->file, line,
		    k, reason);
	else
		snprintf(c->errbuf, c->errlen, "%s:%u: %s", c->file, line,
		    reason);
}

static const char *
sec_name(const struct ctx *c, int sec, char *buf, size_t n)
{
	if (sec < SEC_ZONE0)
		return sec_names[sec];
	snprintf(buf, n, "zone.%s", c->p->zones[sec - SEC_ZONE0].name);
	return buf;
}

static void
fmt_dur(int64_t s, char *buf, size_t n)
{
	if (s == 0)
		snprintf(buf, n, "0");
	else if (s % DAY == 0)
		snprintf(buf, n, "%lldd", (long long)(s / DAY));
	else if (s % HOUR == 0)
		snprintf(buf, n, "%lldh", (long long)(s / HOUR));
	else if (s % MIN == 0)
		snprintf(buf, n, "%lldm", (long long)(s / MIN));
	else
		snprintf(buf, n, "%llds", (long long)s);
}

static bool
is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' ||
	    ch == '\v' || ch == '\f';
}

/* inih's find_chars_or_comment: first of chars, or ';' after whitespace. */
static const char *
find_chars_or_comment(const char *s, const char *e, const char *chars)
{
	bool was_space = false;

	for (; s < e; s++) {
		if (chars != NULL && strchr(chars, *s) != NULL)
			break;
		if (was_space && *s == ';')
			break;
		was_space = is_space(*s);
	}
	return s;
}

static bool
zone_name_valid(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n >= sizeof(((struct policy_zone *)0)->name))
		return false;
	for (i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

static void
zone_defaults(struct policy_zone *z, const char *name, size_t n)
{
	memset(z, 0, sizeof(*z));
	if (n >= sizeof(z->name))
		n = sizeof(z->name) - 1;
	memcpy(z->name, name, n);
	name = z->name;
	if (strcmp(name, "mynumber") == 0)
		snprintf(z->policy_oid, sizeof(z->policy_oid), OID_MYNUMBER);
	else if (strcmp(name, "lgwan") == 0)
		snprintf(z->policy_oid, sizeof(z->policy_oid), OID_LGWAN);
	else if (strcmp(name, "internet") == 0)
		snprintf(z->policy_oid, sizeof(z->policy_oid), OID_INTERNET);
	z->factors = POLICY_FACTOR_PASSWORD | POLICY_FACTOR_CARD |
	    POLICY_FACTOR_FIDO;
	z->offline_login = 0;
	z->bundle_max_age = 8 * HOUR;
	z->fido_uv = POLICY_UV_REQUIRED;
	snprintf(z->banner, sizeof(z->banner), "%s", DEFAULT_BANNER);
}

static void
policy_defaults(struct policy *p)
{
	struct policy_password *o = &p->pw[POLICY_TIER_ORDINARY];
	struct policy_password *v = &p->pw[POLICY_TIER_PRIVILEGED];
	struct policy_lockout *lo = &p->lock[POLICY_TIER_ORDINARY];
	struct policy_lockout *lv = &p->lock[POLICY_TIER_PRIVILEGED];

	o->min_length = 12;
	o->min_classes = 3;
	o->history = 5;
	o->max_age_days = 0;
	o->max_logins = 0;
	o->temp_length = 12;
	o->temp_hours = 72;
	o->hash_cost = 5;
	o->reject_login_name = 1;
	o->reject_person_name = 1;
	o->reject_common = 1;

	v->min_length = 16;
	v->min_classes = 3;
	v->history = 10;
	v->max_age_days = 90;
	v->max_logins = 0;
	v->temp_length = 16;
	v->temp_hours = 24;
	v->hash_cost = 5;
	v->reject_login_name = 1;
	v->reject_person_name = 1;
	v->reject_common = 1;

	/* [password.shared] takes unset values from [password] at the end. */
	lo->threshold = 5;
	lo->window = 15 * MIN;
	lo->duration = 30 * MIN;
	lv->threshold = 3;
	lv->window = HOUR;
	lv->duration = 0;

	p->priv.max_window = 4 * HOUR;
	p->priv.max_window_delegate = 2 * HOUR;
	p->priv.session_idle = 10 * MIN;
	p->sweep.interval = HOUR;
	p->sweep.dormant_days = 90;
	p->login.challenge_lifetime = 120;
	snprintf(p->fido.rp_id, sizeof(p->fido.rp_id), "kagi.local");
	p->fido.self_attestation = 0;
	p->fido.insecure_any_aaguid = 0;
	p->cards.pin_unblock_dual_control = 1;
	policy_roles_defaults(p);
}

static const struct keydef *
sec_keys(int sec)
{
	switch (sec) {
	case SEC_GENERAL:
		return general_keys;
	case SEC_PW_ORD:
	case SEC_PW_PRIV:
	case SEC_PW_SHARED:
		return pw_keys;
	case SEC_LK_ORD:
	case SEC_LK_PRIV:
	case SEC_LK_SHARED:
		return lk_keys;
	case SEC_PRIVILEGED:
		return priv_keys;
	case SEC_SWEEP:
		return sweep_keys;
	case SEC_ROLES:
		return general_keys + GK_COMMON_LIST + 1; /* none: see role_set */
	case SEC_LOGIN:
		return login_keys;
	case SEC_FIDO:
		return fido_keys;
	case SEC_CARDS:
		return cards_keys;
	default:
		return zone_keys;
	}
}

static void *
sec_struct(struct ctx *c, int sec)
{
	switch (sec) {
	case SEC_PW_ORD:
		return &c->p->pw[POLICY_TIER_ORDINARY];
	case SEC_PW_PRIV:
		return &c->p->pw[POLICY_TIER_PRIVILEGED];
	case SEC_PW_SHARED:
		return &c->p->pw[POLICY_TIER_SHARED];
	case SEC_LK_ORD:
		return &c->p->lock[POLICY_TIER_ORDINARY];
	case SEC_LK_PRIV:
		return &c->p->lock[POLICY_TIER_PRIVILEGED];
	case SEC_LK_SHARED:
		return &c->p->lock[POLICY_TIER_SHARED];
	case SEC_PRIVILEGED:
		return &c->p->priv;
	case SEC_SWEEP:
		return &c->p->sweep;
	case SEC_LOGIN:
		return &c->p->login;
	case SEC_FIDO:
		return &c->p->fido;
	case SEC_CARDS:
		return &c->p->cards;
	case SEC_GENERAL:
	case SEC_ROLES:
		return NULL;
	default:
		return &c->p->zones[sec - SEC_ZONE0];
	}
}

/* A "[name]" header seen by the reader on the current line. */
static void
section_begin(struct ctx *c, const char *name, size_t n)
{
	char shown[64];
	int sec = -1;
	size_t i;

	snprintf(shown, sizeof(shown), "%.*s", (int)(n < 48 ? n : 48), name);
	for (i = 0; i < SEC_ZONE0; i++) {
		if (strlen(sec_names[i]) == n &&
		    memcmp(sec_names[i], name, n) == 0) {
			sec = (int)i;
			break;
		}
	}
	if (sec < 0 && n > 5 && memcmp(name, "zone.", 5) == 0) {
		const char *zn = name + 5;
		size_t zl = n - 5;
		struct policy *p = c->p;

		if (!zone_name_valid(zn, zl)) {
			fail(c, KAGI_ERR_INVALID, c->lineno, shown, NULL,
			    _("a zone name is 1 to 31 characters of a-z, 0-9, "
			    "'_' and '-'"));
			return;
		}
		for (i = 0; i < p->nzones; i++) {
			if (strlen(p->zones[i].name) == zl &&
			    memcmp(p->zones[i].name, zn, zl) == 0) {
				fail(c, KAGI_ERR_INVALID, c->lineno, shown,
				    NULL, _("duplicate section (first on line "
				    "%u)"), c->sect_line[SEC_ZONE0 + i]);
				return;
			}
		}
		if (p->nzones >= POLICY_MAX_ZONES) {
			fail(c, KAGI_ERR_LIMIT, c->lineno, shown, NULL,
			    _("too many zones (at most %d)"),
			    POLICY_MAX_ZONES);
			return;
		}
		zone_defaults(&p->zones[p->nzones], zn, zl);
		snprintf(shown, sizeof(shown), "%.*s", (int)n, name);
		sec = SEC_ZONE0 + (int)p->nzones;
		p->nzones++;
	} else if (sec < 0) {
		fail(c, KAGI_ERR_INVALID, c->lineno, shown, NULL,
		    _("unknown section"));
		return;
	} else if (c->sect_line[sec] != 0) {
		fail(c, KAGI_ERR_INVALID, c->lineno, shown, NULL,
		    _("duplicate section (first on line %u)"),
		    c->sect_line[sec]);
		return;
	}
	c->sect_line[sec] = c->lineno;
	c->cur_sec = sec;
	snprintf(c->cur_sec_name, sizeof(c->cur_sec_name), "%s", shown);
}

/*
 * Classify one line exactly as inih r55 will (comment, continuation,
 * section, key=value, error) and act on section headers.
 */
static void
classify(struct ctx *c, const char *line, size_t n)
{
	const char *b = line, *e = line + n, *x;

	if (c->lineno == 1 && n >= 3 && memcmp(b, "\xef\xbb\xbf", 3) == 0)
		b += 3;
	while (e > b && is_space(e[-1]))
		e--;
	while (b < e && is_space(*b))
		b++;
	c->cur_cont = false;
	if (b == e || *b == ';' || *b == '#')
		return;
	if (c->have_prev && b > line) {
		c->cur_cont = true;
		return;
	}
	if (*b == '[') {
		x = find_chars_or_comment(b + 1, e, "]");
		if (x == e || *x != ']') {
			fail(c, KAGI_ERR_FORMAT, c->lineno, NULL, NULL,
			    _("a section header must end with ']'"));
			return;
		}
		{
			const char *t = x + 1;
			while (t < e && is_space(*t))
				t++;
			if (t < e && !(*t == ';' && is_space(t[-1]))) {
				fail(c, KAGI_ERR_FORMAT, c->lineno, NULL, NULL,
				    _("unexpected text after the section "
				    "header"));
				return;
			}
		}
		c->have_prev = false;
		section_begin(c, b + 1, (size_t)(x - (b + 1)));
		return;
	}
	x = find_chars_or_comment(b, e, "=:");
	if (x == e || (*x != '=' && *x != ':')) {
		fail(c, KAGI_ERR_FORMAT, c->lineno, NULL, NULL,
		    _("expected 'key = value', a [section] header or a "
		    "comment"));
		return;
	}
	{
		const char *ne = x;
		while (ne > b && is_space(ne[-1]))
			ne--;
		if (ne == b) {
			fail(c, KAGI_ERR_FORMAT, c->lineno, NULL, NULL,
			    _("a setting needs a name before '='"));
			return;
		}
	}
	c->have_prev = true;
}

static char *
reader(char *str, int num, void *stream)
{
	struct ctx *c = stream;
	const char *s, *nl;
	size_t avail, linelen, content;

	if (c->err != 0 || c->pos >= c->len || num < 8)
		return NULL;
	s = c->text + c->pos;
	avail = c->len - c->pos;
	nl = memchr(s, '\n', avail);
	linelen = nl != NULL ? (size_t)(nl - s) + 1 : avail;
	content = nl != NULL ? linelen - 1 : linelen;
	c->lineno++;
	if (memchr(s, '\0', content) != NULL) {
		fail(c, KAGI_ERR_FORMAT, c->lineno, NULL, NULL,
		    _("the line contains a NUL byte"));
		return NULL;
	}
	if (content > (size_t)num - 3) {
		fail(c, KAGI_ERR_LIMIT, c->lineno, NULL, NULL,
		    _("line longer than %d bytes (a banner may continue on "
		    "indented lines)"), num - 3);
		return NULL;
	}
	memcpy(str, s, linelen);
	str[linelen] = '\0';
	c->pos += linelen;
	classify(c, s, content);
	if (c->err != 0)
		return NULL;
	return str;
}

/* ---- value parsers ---- */

static int
parse_u64(const char *v, unsigned long long *out)
{
	unsigned long long x = 0;
	size_t i;

	if (v[0] == '\0')
		return -1;
	for (i = 0; v[i] != '\0'; i++) {
		if (v[i] < '0' || v[i] > '9' || i >= 12)
			return -1;
		x = x * 10 + (unsigned long long)(v[i] - '0');
	}
	*out = x;
	return 0;
}

static int
parse_bool(const char *v, int *out)
{
	if (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0 ||
	    strcasecmp(v, "on") == 0)
		*out = 1;
	else if (strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0 ||
	    strcasecmp(v, "off") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

/* Dotted decimal OID: 0|1|2 . arc ..., no leading zeros, arc 2 < 40 under 0/1. */
static bool
oid_valid(const char *v)
{
	size_t arcs = 0, i = 0, n = strlen(v);
	unsigned long first = 0;

	if (n == 0 || n >= sizeof(((struct policy_zone *)0)->policy_oid))
		return false;
	while (i < n) {
		size_t start = i;
		while (i < n && v[i] >= '0' && v[i] <= '9')
			i++;
		if (i == start || (i - start > 1 && v[start] == '0') ||
		    i - start > 40)
			return false;
		if (arcs == 0) {
			if (i - start != 1 || v[start] > '2')
				return false;
			first = (unsigned long)(v[start] - '0');
		} else if (arcs == 1 && first < 2) {
			if (i - start > 2 || strtoul(v + start, NULL, 10) >= 40)
				return false;
		}
		arcs++;
		if (i == n)
			break;
		if (v[i] != '.' || i + 1 == n)
			return false;
		i++;
	}
	return arcs >= 2;
}

static int
parse_factors(struct ctx *c, const char *sec, const char *key, const char *v,
    unsigned *out)
{
	unsigned f = 0, bit;
	const char *s = v;

	while (1) {
		const char *e = strchr(s, ',');
		const char *b = s, *t;
		size_t n;
		char item[32];

		if (e == NULL)
			e = s + strlen(s);
		t = e;
		while (b < t && is_space(*b))
			b++;
		while (t > b && is_space(t[-1]))
			t--;
		n = (size_t)(t - b);
		if (n == 0) {
			fail(c, KAGI_ERR_INVALID, c->lineno, sec, key,
			    _("empty item in the list"));
			return -1;
		}
		snprintf(item, sizeof(item), "%.*s", (int)(n < 24 ? n : 24), b);
		if (n == 8 && memcmp(b, "password", 8) == 0)
			bit = POLICY_FACTOR_PASSWORD;
		else if (n == 4 && memcmp(b, "card", 4) == 0)
			bit = POLICY_FACTOR_CARD;
		else if (n == 4 && memcmp(b, "fido", 4) == 0)
			bit = POLICY_FACTOR_FIDO;
		else {
			char shown[32];
			sanitize(shown, sizeof(shown), item);
			fail(c, KAGI_ERR_INVALID, c->lineno, sec, key,
			    _("unknown factor '%s' (use card, fido, password)"),
			    shown);
			return -1;
		}
		if (f & bit) {
			fail(c, KAGI_ERR_INVALID, c->lineno, sec, key,
			    _("factor '%s' is listed twice"), item);
			return -1;
		}
		f |= bit;
		if (*e == '\0')
			break;
		s = e + 1;
	}
	*out = f;
	return 0;
}

/* Parse a duration in seconds; "off"/"0" allowed as 0 per type. */
static int
parse_dur(struct ctx *c, const char *sec, const char *key, const char *v,
    const struct keydef *k, int64_t *out)
{
	int64_t s = 0;
	char a[32], b[32];

	if (k->type == V_DUR_OFF && (strcasecmp(v, "off") == 0 ||
	    strcmp(v, "0") == 0)) {
		*out = 0;
		return 0;
	}
	if (k->type == V_DAYS_OFF && strcasecmp(v, "off") == 0) {
		*out = 0;
		return 0;
	}
	if (k->type == V_DUR_ZERO && strcmp(v, "0") == 0) {
		*out = 0;
		return 0;
	}
	if (kagi_duration_parse(v, &s) != 0) {
		if (k->type == V_DUR_OFF || k->type == V_DAYS_OFF)
			fail(c, KAGI_ERR_INVALID, c->lineno, sec, key,
			    _("not a duration (e.g. 15m, 8h, 90d) or off"));
		else if (k->type == V_DUR_ZERO)
			fail(c, KAGI_ERR_INVALID, c->lineno, sec, key,
			    _("not a duration (e.g. 15m, 8h, 30d) or 0"));
		else
			fail(c, KAGI_ERR_INVALID, c->lineno, sec, key,
			    _("not a duration (e.g. 90s, 15m, 8h, 30d)"));
		return -1;
	}
	if (k->type == V_DAYS_OFF || k->type == V_HOURS) {
		int64_t unit = k->type == V_DAYS_OFF ? DAY : HOUR;
		if (s % unit != 0) {
			if (unit == DAY)
				fail(c, KAGI_ERR_INVALID, c->lineno, sec, key,
				    _("must be a whole number of days (e.g. "
				    "90d)"));
			else
				fail(c, KAGI_ERR_INVALID, c->lineno, sec, key,
				    _("must be a whole number of hours (e.g. "
				    "72h)"));
			return -1;
		}
		s /= unit;
		if (s < k->min || s > k->max) {
			fmt_dur(k->min * unit, a, sizeof(a));
			fmt_dur(k->max * unit, b, sizeof(b));
			fail(c, KAGI_ERR_INVALID, c->lineno, sec, key,
			    _("out of range (%s to %s)"), a, b);
			return -1;
		}
		*out = s;
		return 0;
	}
	if (s < k->min || s > k->max) {
		fmt_dur(k->min, a, sizeof(a));
		fmt_dur(k->max, b, sizeof(b));
		fail(c, KAGI_ERR_INVALID, c->lineno, sec, key,
		    _("out of range (%s to %s)"), a, b);
		return -1;
	}
	*out = s;
	return 0;
}

static int
set_banner(struct ctx *c, const char *sec, const char *key,
    struct policy_zone *z, const char *v, bool append)
{
	size_t have = append ? strlen(z->banner) : 0;
	size_t add = strlen(v) + (append ? 1 : 0);

	if (!kagi_utf8_valid(v, strlen(v))) {
		fail(c, KAGI_ERR_INVALID, c->lineno, sec, key,
		    _("not valid UTF-8"));
		return -1;
	}
	if (have + add > sizeof(z->banner) - 1) {
		fail(c, KAGI_ERR_LIMIT, c->lineno, sec, key,
		    _("longer than %d bytes"), (int)sizeof(z->banner) - 1);
		return -1;
	}
	if (append)
		z->banner[have++] = '\n';
	memcpy(z->banner + have, v, strlen(v) + 1);
	return 0;
}

/* [general] common_list: an absolute path of printable characters. */
static int
set_path(struct ctx *c, const char *sec, const char *key, const char *v)
{
	size_t n = strlen(v);

	if (v[0] != '/' || n >= sizeof(c->p->common_list)) {
		fail(c, KAGI_ERR_INVALID, c->lineno, sec, key,
		    _("must be an absolute path of at most %d bytes"),
		    (int)sizeof(c->p->common_list) - 1);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) {
			fail(c, KAGI_ERR_INVALID, c->lineno, sec, key,
			    _("contains a control character"));
			return -1;
		}
	}
	memcpy(c->p->common_list, v, n + 1);
	return 0;
}

/* [fido] rp_id: 1..253 bytes of a-z 0-9 '.' '-', labels not empty. */
static int
set_rpid(struct ctx *c, const char *sec, const char *key, char *dst,
    size_t cap, const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 253 || n >= cap || v[0] == '.' || v[n - 1] == '.' ||
	    strstr(v, "..") != NULL)
		goto bad;
	for (size_t i = 0; i < n; i++) {
		char ch = v[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '.' || ch == '-'))
			goto bad;
	}
	memcpy(dst, v, n + 1);
	return 0;
bad:
	fail(c, KAGI_ERR_INVALID, c->lineno, sec, key,
	    _("not a relying party id (a lower-case DNS name such as "
	    "kagi.example.lg.jp)"));
	return -1;
}

static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* [fido] aaguids: comma list of AAGUIDs, 32 hex digits (dashes allowed). */
static int
set_aaguids(struct ctx *c, const char *sec, const char *key,
    struct policy_fido *f, const char *v)
{
	const char *s = v;
	size_t n = 0;

	while (1) {
		uint8_t one[16];
		size_t nib = 0;
		const char *e = strchr(s, ',');

		if (e == NULL)
			e = s + strlen(s);
		for (const char *q = s; q < e; q++) {
			int h;
			if (is_space(*q) || *q == '-')
				continue;
			if ((h = hexval(*q)) < 0 || nib >= 32)
				goto bad;
			if (nib % 2 == 0)
				one[nib / 2] = (uint8_t)(h << 4);
			else
				one[nib / 2] |= (uint8_t)h;
			nib++;
		}
		if (nib != 32)
			goto bad;
		for (size_t i = 0; i < n; i++) {
			if (memcmp(f->aaguids + 16 * i, one, 16) == 0) {
				fail(c, KAGI_ERR_INVALID, c->lineno, sec, key,
				    _("an AAGUID is listed twice"));
				return -1;
			}
		}
		if (n >= POLICY_FIDO_AAGUID_MAX) {
			fail(c, KAGI_ERR_LIMIT, c->lineno, sec, key,
			    _("too many AAGUIDs (at most %d)"),
			    POLICY_FIDO_AAGUID_MAX);
			return -1;
		}
		memcpy(f->aaguids + 16 * n, one, 16);
		n++;
		if (*e == '\0')
			break;
		s = e + 1;
	}
	f->n_aaguids = n;
	return 0;
bad:
	fail(c, KAGI_ERR_INVALID, c->lineno, sec, key,
	    _("not a list of AAGUIDs (32 hex digits each, separated by "
	    "commas)"));
	return -1;
}

static int
set_uv(struct ctx *c, const char *sec, const char *key, int *out,
    const char *v)
{
	if (strcmp(v, "required") == 0)
		*out = POLICY_UV_REQUIRED;
	else if (strcmp(v, "preferred") == 0)
		*out = POLICY_UV_PREFERRED;
	else if (strcmp(v, "discouraged") == 0)
		*out = POLICY_UV_DISCOURAGED;
	else {
		fail(c, KAGI_ERR_INVALID, c->lineno, sec, key,
		    _("not required, preferred or discouraged"));
		return -1;
	}
	return 0;
}

/* [roles] ACTION = role, role ... (docs/POLICY.md). */
static int
role_set(struct ctx *c, const char *sec, const char *name, const char *value)
{
	int i = policy_action_index(name);
	uint32_t roles = 0;

	if (i < 0) {
		fail(c, KAGI_ERR_INVALID, c->lineno, sec, name,
		    _("unknown action (see docs/POLICY.md for the list)"));
		return 0;
	}
	if (c->role_lines[i] != 0) {
		fail(c, KAGI_ERR_INVALID, c->lineno, sec, name,
		    _("duplicate setting (first set on line %u)"),
		    c->role_lines[i]);
		return 0;
	}
	if (value[0] == '\0') {
		fail(c, KAGI_ERR_INVALID, c->lineno, sec, name,
		    _("empty value"));
		return 0;
	}
	if (policy_roles_parse(value, &roles) != 0) {
		fail(c, KAGI_ERR_INVALID, c->lineno, sec, name,
		    _("not a list of roles (operator, approver, ciso, "
		    "helpdesk, auditor, hr) or none"));
		return 0;
	}
	c->p->action_roles[i] = roles;
	c->role_lines[i] = c->lineno;
	return 1;
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct ctx *c = user;
	const struct keydef *keys, *k = NULL;
	char kb[64];
	const char *sec;
	void *base;
	int idx = -1, sec_id;
	unsigned long long u;

	if (c->err != 0)
		return 0;
	if (c->cur_sec < 0) {
		fail(c, KAGI_ERR_FORMAT, c->lineno, NULL, name,
		    _("setting outside any [section]"));
		return 0;
	}
	sec_id = c->cur_sec;
	sec = c->cur_sec_name;
	if (strcmp(section, sec) != 0) {
		/* Our reader and inih disagree: a bug, not a user error. */
		kagi_log_err("policy: section mismatch at line %u", c->lineno);
		fail(c, KAGI_ERR_INTERNAL, c->lineno, sec, name,
		    _("internal error while reading the file"));
		return 0;
	}
	if (c->cur_cont) {
		if (sec_id >= SEC_ZONE0 && c->last_key == ZK_BANNER) {
			if (set_banner(c, sec, name,
			    &c->p->zones[sec_id - SEC_ZONE0], value, true) != 0)
				return 0;
			return 1;
		}
		fail(c, KAGI_ERR_FORMAT, c->lineno, sec, name,
		    _("an indented line continues the previous value; only "
		    "banner may span several lines (remove the indentation)"));
		return 0;
	}
	if (sec_id == SEC_ROLES)
		return role_set(c, sec, name, value);
	keys = sec_keys(sec_id);
	for (int i = 0; keys[i].name != NULL; i++) {
		if (strcmp(keys[i].name, name) == 0) {
			k = &keys[i];
			idx = i;
			break;
		}
	}
	if (k == NULL && sec_id >= SEC_ZONE0 &&
	    strncmp(name, "min_categories.", 15) == 0) {
		for (int i = 0; i < STORE_KIND_COUNT; i++) {
			if (strcmp(name + 15, kind_names[i]) == 0) {
				k = &zone_keys[ZK_MINCAT];
				idx = ZK_MINCAT_KIND0 + i;
				break;
			}
		}
		if (k == NULL) {
			sanitize(kb, sizeof(kb), name + 15);
			fail(c, KAGI_ERR_INVALID, c->lineno, sec, name,
			    _("unknown account kind '%s' (use personal, shared, "
			    "privileged, development, contractor, service)"),
			    kb);
			return 0;
		}
	}
	if (k == NULL) {
		fail(c, KAGI_ERR_INVALID, c->lineno, sec, name,
		    _("unknown setting"));
		return 0;
	}
	if (c->lines[sec_id][idx] != 0) {
		fail(c, KAGI_ERR_INVALID, c->lineno, sec, name,
		    _("duplicate setting (first set on line %u)"),
		    c->lines[sec_id][idx]);
		return 0;
	}
	if (value[0] == '\0') {
		fail(c, KAGI_ERR_INVALID, c->lineno, sec, name,
		    _("empty value"));
		return 0;
	}
	base = sec_struct(c, sec_id);
	switch (k->type) {
	case V_ZONE_NAME:
		if (!zone_name_valid(value, strlen(value))) {
			fail(c, KAGI_ERR_INVALID, c->lineno, sec, name,
			    _("a zone name is 1 to 31 characters of a-z, 0-9, "
			    "'_' and '-'"));
			return 0;
		}
		snprintf(c->mynumber_zone, sizeof(c->mynumber_zone), "%s",
		    value);
		break;
	case V_UINT:
	case V_UINT_OFF:
	case V_MINCAT:
		if (k->type == V_UINT_OFF && strcasecmp(value, "off") == 0) {
			u = 0;
		} else {
			if (parse_u64(value, &u) != 0) {
				if (k->type == V_UINT_OFF)
					fail(c, KAGI_ERR_INVALID, c->lineno,
					    sec, name, _("not a whole number "
					    "or off"));
				else
					fail(c, KAGI_ERR_INVALID, c->lineno,
					    sec, name, _("not a whole number"));
				return 0;
			}
			if (u < (unsigned long long)k->min ||
			    u > (unsigned long long)k->max) {
				fail(c, KAGI_ERR_INVALID, c->lineno, sec, name,
				    _("out of range (%lld to %lld)"), k->min,
				    k->max);
				return 0;
			}
		}
		if (k->type == V_MINCAT) {
			size_t z = (size_t)(sec_id - SEC_ZONE0);
			if (idx == ZK_MINCAT)
				c->mincat_all[z] = (unsigned)u;
			else
				c->mincat[z][idx - ZK_MINCAT_KIND0] =
				    (unsigned)u;
		} else {
			*(uint32_t *)(void *)((char *)base + k->off) =
			    (uint32_t)u;
		}
		break;
	case V_BOOL: {
		int bv = 0;
		if (parse_bool(value, &bv) != 0) {
			fail(c, KAGI_ERR_INVALID, c->lineno, sec, name,
			    _("not yes or no (also accepted: true/false, "
			    "on/off)"));
			return 0;
		}
		*(int *)(void *)((char *)base + k->off) = bv;
		break;
	}
	case V_DUR:
	case V_DUR_OFF:
	case V_DUR_ZERO: {
		int64_t s = 0;
		if (parse_dur(c, sec, name, value, k, &s) != 0)
			return 0;
		*(int64_t *)(void *)((char *)base + k->off) = s;
		break;
	}
	case V_DAYS_OFF:
	case V_HOURS: {
		int64_t s = 0;
		if (parse_dur(c, sec, name, value, k, &s) != 0)
			return 0;
		*(uint32_t *)(void *)((char *)base + k->off) = (uint32_t)s;
		break;
	}
	case V_OID:
		if (!oid_valid(value)) {
			fail(c, KAGI_ERR_INVALID, c->lineno, sec, name,
			    _("not a valid object identifier (dotted decimal, "
			    "e.g. 2.25.<UUID as an integer>)"));
			return 0;
		}
		snprintf((char *)base + k->off,
		    sizeof(((struct policy_zone *)0)->policy_oid), "%s", value);
		break;
	case V_FACTORS: {
		unsigned f = 0;
		if (parse_factors(c, sec, name, value, &f) != 0)
			return 0;
		*(unsigned *)(void *)((char *)base + k->off) = f;
		break;
	}
	case V_BANNER:
		if (set_banner(c, sec, name, base, value, false) != 0)
			return 0;
		break;
	case V_PATH:
		if (set_path(c, sec, name, value) != 0)
			return 0;
		break;
	case V_RPID:
		if (set_rpid(c, sec, name, (char *)base + k->off,
		    sizeof(((struct policy_fido *)0)->rp_id), value) != 0)
			return 0;
		break;
	case V_AAGUIDS:
		if (set_aaguids(c, sec, name, base, value) != 0)
			return 0;
		break;
	case V_UV:
		if (set_uv(c, sec, name, (int *)(void *)((char *)base + k->off),
		    value) != 0)
			return 0;
		break;
	}
	c->lines[sec_id][idx] = c->lineno;
	c->last_key = idx;
	return 1;
}

/* ---- cross-field rules, after the whole file is read ---- */

static unsigned
eof_line(const struct ctx *c)
{
	return c->lineno > 0 ? c->lineno : 1;
}

/* Line of key k in section a, else a's header, else in b, else EOF. */
static unsigned
line_of(const struct ctx *c, int a, int k, int b)
{
	if (k >= 0 && c->lines[a][k] != 0)
		return c->lines[a][k];
	if (c->sect_line[a] != 0)
		return c->sect_line[a];
	if (b >= 0 && k >= 0 && c->lines[b][k] != 0)
		return c->lines[b][k];
	if (b >= 0 && c->sect_line[b] != 0)
		return c->sect_line[b];
	return eof_line(c);
}

enum cmp { CMP_GE, CMP_LE, CMP_OFF_LE, CMP_ZERO_STRICT, CMP_BOOL };
enum fmt { F_UINT, F_DAYS, F_COUNT_OFF, F_HOURS, F_BOOL, F_DUR };

/* +1 privileged stricter, 0 equal, -1 weaker. */
static int
compare(enum cmp how, int64_t o, int64_t v)
{
	switch (how) {
	case CMP_GE:
	case CMP_BOOL:
		return v > o ? 1 : v == o ? 0 : -1;
	case CMP_LE:
		return v < o ? 1 : v == o ? 0 : -1;
	case CMP_OFF_LE:      /* 0 = off = weakest */
		if (o == v)
			return 0;
		if (v == 0)
			return -1;
		if (o == 0)
			return 1;
		return v < o ? 1 : -1;
	case CMP_ZERO_STRICT: /* 0 = until unlocked = strictest */
		if (o == v)
			return 0;
		if (v == 0)
			return 1;
		if (o == 0)
			return -1;
		return v > o ? 1 : -1;
	}
	return -1;
}

static void
fmt_val(enum fmt f, int64_t x, char *buf, size_t n)
{
	switch (f) {
	case F_UINT:
		snprintf(buf, n, "%lld", (long long)x);
		break;
	case F_DAYS:
		if (x == 0)
			snprintf(buf, n, "off");
		else
			snprintf(buf, n, "%lldd", (long long)x);
		break;
	case F_COUNT_OFF:
		if (x == 0)
			snprintf(buf, n, "off");
		else
			snprintf(buf, n, "%lld", (long long)x);
		break;
	case F_HOURS:
		snprintf(buf, n, "%lldh", (long long)x);
		break;
	case F_BOOL:
		snprintf(buf, n, "%s", x ? "yes" : "no");
		break;
	case F_DUR:
		fmt_dur(x, buf, n);
		break;
	}
}

struct rule {
	int key;
	enum cmp how;
	enum fmt fmt;
};

static const struct rule pw_rules[] = {
	{ PK_MIN_LENGTH, CMP_GE, F_UINT },
	{ PK_MIN_CLASSES, CMP_GE, F_UINT },
	{ PK_HISTORY, CMP_GE, F_UINT },
	{ PK_MAX_AGE, CMP_OFF_LE, F_DAYS },
	{ PK_MAX_LOGINS, CMP_OFF_LE, F_COUNT_OFF },
	{ PK_TEMP_LENGTH, CMP_GE, F_UINT },
	{ PK_TEMP_LIFETIME, CMP_LE, F_HOURS },
	{ PK_HASH_COST, CMP_GE, F_UINT },
	{ PK_REJ_LOGIN, CMP_BOOL, F_BOOL },
	{ PK_REJ_PERSON, CMP_BOOL, F_BOOL },
	{ PK_REJ_COMMON, CMP_BOOL, F_BOOL },
};

static const struct rule lk_rules[] = {
	{ LKK_THRESHOLD, CMP_LE, F_UINT },
	{ LKK_WINDOW, CMP_GE, F_DUR },
	{ LKK_DURATION, CMP_ZERO_STRICT, F_DUR },
};

static int64_t
pw_get(const struct policy_password *w, int key)
{
	switch (key) {
	case PK_MIN_LENGTH: return w->min_length;
	case PK_MIN_CLASSES: return w->min_classes;
	case PK_HISTORY: return w->history;
	case PK_MAX_AGE: return w->max_age_days;
	case PK_MAX_LOGINS: return w->max_logins;
	case PK_TEMP_LENGTH: return w->temp_length;
	case PK_TEMP_LIFETIME: return w->temp_hours;
	case PK_HASH_COST: return w->hash_cost;
	case PK_REJ_LOGIN: return w->reject_login_name != 0;
	case PK_REJ_PERSON: return w->reject_person_name != 0;
	case PK_REJ_COMMON: return w->reject_common != 0;
	}
	return 0;
}

static int64_t
lk_get(const struct policy_lockout *l, int key)
{
	switch (key) {
	case LKK_THRESHOLD: return l->threshold;
	case LKK_WINDOW: return l->window;
	case LKK_DURATION: return l->duration;
	}
	return 0;
}

/* Copy ordinary values into shared-tier settings the file left unset. */
static void
inherit_shared(struct ctx *c)
{
	struct policy *p = c->p;
	struct policy_password *s = &p->pw[POLICY_TIER_SHARED];
	const struct policy_password *o = &p->pw[POLICY_TIER_ORDINARY];
	struct policy_lockout *ls = &p->lock[POLICY_TIER_SHARED];
	const struct policy_lockout *lo = &p->lock[POLICY_TIER_ORDINARY];
	struct policy_password set = *s;
	const unsigned *ln = c->lines[SEC_PW_SHARED];

	*s = *o;
#define KEEP(k, f) do { if (ln[k] != 0) s->f = set.f; } while (0)
	KEEP(PK_MIN_LENGTH, min_length);
	KEEP(PK_MIN_CLASSES, min_classes);
	KEEP(PK_HISTORY, history);
	KEEP(PK_MAX_LOGINS, max_logins);
	KEEP(PK_TEMP_LENGTH, temp_length);
	KEEP(PK_TEMP_LIFETIME, temp_hours);
	KEEP(PK_HASH_COST, hash_cost);
	KEEP(PK_REJ_LOGIN, reject_login_name);
	KEEP(PK_REJ_PERSON, reject_person_name);
	KEEP(PK_REJ_COMMON, reject_common);
#undef KEEP
	/* R-PW-9: shared passwords are changed periodically by default. */
	s->max_age_days = ln[PK_MAX_AGE] != 0 ? set.max_age_days :
	    (o->max_age_days != 0 && o->max_age_days < 90 ?
	    o->max_age_days : 90);

	if (c->lines[SEC_LK_SHARED][LKK_THRESHOLD] == 0)
		ls->threshold = lo->threshold;
	if (c->lines[SEC_LK_SHARED][LKK_WINDOW] == 0)
		ls->window = lo->window;
	if (c->lines[SEC_LK_SHARED][LKK_DURATION] == 0)
		ls->duration = lo->duration;
}

static void
check_zones(struct ctx *c, unsigned *stricter)
{
	struct policy *p = c->p;
	char sb[64], kb[64];

	for (size_t zi = 0; zi < p->nzones && c->err == 0; zi++) {
		struct policy_zone *z = &p->zones[zi];
		int sec = SEC_ZONE0 + (int)zi;
		const unsigned *ln = c->lines[sec];
		unsigned all = c->mincat_all[zi] != 0 ? c->mincat_all[zi] : 2;
		unsigned reach;
		const char *sn = sec_name(c, sec, sb, sizeof(sb));

		for (int k = 0; k < STORE_KIND_COUNT; k++) {
			unsigned v = c->mincat[zi][k];
			if (v == 0)
				v = (k == STORE_KIND_PRIVILEGED && all < 2) ?
				    2 : all;
			z->min_categories[k] = v;
		}
		if (z->policy_oid[0] == '\0') {
			fail(c, KAGI_ERR_INVALID, c->sect_line[sec], sn,
			    "policy_oid", _("required for a zone other than "
			    "mynumber, lgwan and internet"));
			return;
		}
		for (size_t j = 0; j < zi; j++) {
			if (strcmp(p->zones[j].policy_oid, z->policy_oid) == 0) {
				fail(c, KAGI_ERR_INVALID,
				    line_of(c, sec, ZK_OID, -1), sn,
				    "policy_oid", _("the same OID as "
				    "[zone.%s]; each zone needs its own"),
				    p->zones[j].name);
				return;
			}
		}
		reach = policy_category_count(policy_categories(z->factors, 1));
		for (int k = 0; k < STORE_KIND_COUNT; k++) {
			unsigned v = z->min_categories[k];
			int key = ln[ZK_MINCAT_KIND0 + k] != 0 ?
			    ZK_MINCAT_KIND0 + k : ZK_MINCAT;
			unsigned line = line_of(c, sec, key, -1);

			if (key == ZK_MINCAT_KIND0 + k)
				snprintf(kb, sizeof(kb), "min_categories.%s",
				    kind_names[k]);
			else
				snprintf(kb, sizeof(kb), "min_categories");
			if (z->is_mynumber && v < 2) {
				fail(c, KAGI_ERR_DENIED, line, sn, kb,
				    _("the My Number zone must require at least "
				    "two factor categories for every account "
				    "kind (R-MFA-2)"));
				return;
			}
			if (k == STORE_KIND_PRIVILEGED && v < 2) {
				fail(c, KAGI_ERR_DENIED, line, sn, kb,
				    _("privileged IDs always require at least "
				    "two factor categories (R-PRIV-1)"));
				return;
			}
			if (k == STORE_KIND_PRIVILEGED &&
			    v < z->min_categories[STORE_KIND_PERSONAL]) {
				fail(c, KAGI_ERR_DENIED, line, sn, kb,
				    _("lower than for personal IDs (%u); the "
				    "privileged tier must be at least as strict "
				    "(R-PRIV-5)"),
				    z->min_categories[STORE_KIND_PERSONAL]);
				return;
			}
			if (v > reach) {
				if (ln[key] == 0 && ln[ZK_FACTORS] != 0) {
					line = ln[ZK_FACTORS];
					snprintf(kb, sizeof(kb), "factors");
				}
				fail(c, KAGI_ERR_INVALID, line, sn, kb,
				    _("the allowed factors can reach only %u "
				    "of the %u categories required for %s "
				    "IDs"), reach, v, kind_names[k]);
				return;
			}
		}
		if (z->min_categories[STORE_KIND_PRIVILEGED] >
		    z->min_categories[STORE_KIND_PERSONAL])
			(*stricter)++;
	}
}

static void
check_tiers(struct ctx *c, unsigned *stricter)
{
	struct policy *p = c->p;
	const struct policy_password *o = &p->pw[POLICY_TIER_ORDINARY];
	const struct policy_password *v = &p->pw[POLICY_TIER_PRIVILEGED];
	const struct policy_password *s = &p->pw[POLICY_TIER_SHARED];
	char a[32], b[32];
	size_t i;

	/* R-PW-9: shared IDs' passwords change periodically, never reused. */
	if (s->max_age_days == 0 && s->max_logins == 0) {
		fail(c, KAGI_ERR_DENIED,
		    line_of(c, SEC_PW_SHARED, PK_MAX_AGE, -1),
		    "password.shared", "max_age", _("shared IDs' passwords "
		    "must be changed periodically: set max_age (R-PW-9)"));
		return;
	}
	if (s->history == 0) {
		fail(c, KAGI_ERR_DENIED,
		    line_of(c, SEC_PW_SHARED, PK_HISTORY, SEC_PW_ORD),
		    "password.shared", "history", _("shared IDs' passwords "
		    "must not be reused: history must be at least 1 (R-PW-9)"));
		return;
	}
	/* R-PRIV-5 (with R-PW-4): privileged passwords change periodically. */
	if (v->max_age_days == 0 && v->max_logins == 0) {
		fail(c, KAGI_ERR_DENIED,
		    line_of(c, SEC_PW_PRIV, PK_MAX_AGE, -1),
		    "password.privileged", "max_age", _("privileged passwords "
		    "must be changed periodically: set max_age or max_logins "
		    "(R-PRIV-5, R-PW-4)"));
		return;
	}
	for (i = 0; i < sizeof(pw_rules) / sizeof(pw_rules[0]); i++) {
		const struct rule *r = &pw_rules[i];
		int64_t ov = pw_get(o, r->key), vv = pw_get(v, r->key);
		int cmp = compare(r->how, ov, vv);

		if (cmp > 0)
			(*stricter)++;
		if (cmp >= 0)
			continue;
		fmt_val(r->fmt, vv, a, sizeof(a));
		fmt_val(r->fmt, ov, b, sizeof(b));
		fail(c, KAGI_ERR_DENIED,
		    line_of(c, SEC_PW_PRIV, r->key, SEC_PW_ORD),
		    "password.privileged", pw_keys[r->key].name,
		    _("weaker than [%s] (%s here, %s there); the privileged "
		    "tier must be at least as strict on every setting "
		    "(R-PRIV-5)"), "password", a, b);
		return;
	}
	for (i = 0; i < sizeof(lk_rules) / sizeof(lk_rules[0]); i++) {
		const struct rule *r = &lk_rules[i];
		int64_t ov = lk_get(&p->lock[POLICY_TIER_ORDINARY], r->key);
		int64_t vv = lk_get(&p->lock[POLICY_TIER_PRIVILEGED], r->key);
		int cmp = compare(r->how, ov, vv);

		if (cmp > 0)
			(*stricter)++;
		if (cmp >= 0)
			continue;
		fmt_val(r->fmt, vv, a, sizeof(a));
		fmt_val(r->fmt, ov, b, sizeof(b));
		fail(c, KAGI_ERR_DENIED,
		    line_of(c, SEC_LK_PRIV, r->key, SEC_LK_ORD),
		    "lockout.privileged", lk_keys[r->key].name,
		    _("weaker than [%s] (%s here, %s there); the privileged "
		    "tier must be at least as strict on every setting "
		    "(R-PRIV-5)"), "lockout", a, b);
		return;
	}
}

static void
finish(struct ctx *c)
{
	struct policy *p = c->p;
	unsigned stricter = 0;
	size_t i;
	bool found = false;

	if (p->nzones == 0) {
		fail(c, KAGI_ERR_INVALID, eof_line(c), NULL, NULL,
		    _("no [zone.NAME] section: at least one zone is required"));
		return;
	}
	for (i = 0; i < p->nzones; i++) {
		if (strcmp(p->zones[i].name, c->mynumber_zone) == 0) {
			p->zones[i].is_mynumber = 1;
			found = true;
		}
	}
	if (!found) {
		fail(c, KAGI_ERR_INVALID,
		    line_of(c, SEC_GENERAL, GK_MYNUMBER, -1), "general",
		    "mynumber_zone", _("there is no section [zone.%s]"),
		    c->mynumber_zone);
		return;
	}
	inherit_shared(c);
	check_zones(c, &stricter);
	if (c->err != 0)
		return;
	check_tiers(c, &stricter);
	if (c->err != 0)
		return;
	if (stricter == 0) {
		unsigned line = c->sect_line[SEC_PW_PRIV] != 0 ?
		    c->sect_line[SEC_PW_PRIV] : c->sect_line[SEC_LK_PRIV] != 0 ?
		    c->sect_line[SEC_LK_PRIV] : eof_line(c);
		fail(c, KAGI_ERR_DENIED, line, c->sect_line[SEC_PW_PRIV] != 0 ||
		    c->sect_line[SEC_LK_PRIV] == 0 ? "password.privileged" :
		    "lockout.privileged", NULL,
		    _("the privileged tier must be stricter than the ordinary "
		    "tier on at least one setting (R-PRIV-5)"));
		return;
	}
	if (p->priv.max_window_delegate > p->priv.max_window) {
		fail(c, KAGI_ERR_INVALID,
		    line_of(c, SEC_PRIVILEGED, PRK_DELEGATE, -1), "privileged",
		    "max_window_delegate", _("longer than max_window"));
		return;
	}
	if (p->priv.session_idle > p->priv.max_window) {
		fail(c, KAGI_ERR_INVALID,
		    line_of(c, SEC_PRIVILEGED, PRK_IDLE, -1), "privileged",
		    "session_idle", _("longer than max_window"));
		return;
	}
	/* STYLE 9: a weakening setting is named and logged */
	if (p->fido.insecure_any_aaguid)
		kagi_log_warn("event=policy_insecure setting=\"[fido] "
		    "insecure_any_aaguid\" effect=\"FIDO registration accepts "
		    "any authenticator model\"");
}

int
policy_parse(const char *text, size_t len, const char *name,
    struct policy **out, char *errbuf, size_t errlen)
{
	int r = KAGI_ERR_INTERNAL;
	struct ctx *c = NULL;
	struct policy *p = NULL;
	int ret;

	if (out != NULL)
		*out = NULL;
	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (out == NULL || (text == NULL && len > 0))
		return KAGI_ERR_INVALID;
	if (name == NULL)
		name = "policy.ini";
	if (len > POLICY_MAX_FILE) {
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "%s: %s", name,
			    _("the file is too large"));
		return KAGI_ERR_LIMIT;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (p = calloc(1, sizeof(*p))) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	c->file = name;
	c->text = text != NULL ? text : "";
	c->len = len;
	c->cur_sec = -1;
	c->last_key = -1;
	c->p = p;
	c->errbuf = errbuf;
	c->errlen = errlen;
	snprintf(c->mynumber_zone, sizeof(c->mynumber_zone), "mynumber");
	policy_defaults(p);

	ret = ini_parse_stream(reader, c, handler, c);
	if (c->err == 0 && ret > 0)
		fail(c, KAGI_ERR_FORMAT, (unsigned)ret, NULL, NULL,
		    _("expected 'key = value', a [section] header or a "
		    "comment"));
	else if (c->err == 0 && ret < 0)
		fail(c, KAGI_ERR_NOMEM, c->lineno, NULL, NULL,
		    _("out of memory"));
	if (c->err == 0)
		finish(c);
	if (c->err != 0) {
		r = c->err;
		kagi_log_debug("policy: %s refused at line %u", name,
		    c->err_line);
		goto out;
	}
	*out = p;
	p = NULL;
	r = 0;
out:
	free(p);
	free(c);
	return r;
}

int
policy_load(const char *path, struct policy **out, char *errbuf,
    size_t errlen)
{
	int r = KAGI_ERR_INTERNAL;
	uint8_t *buf = NULL;
	size_t len = 0;

	if (out != NULL)
		*out = NULL;
	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (path == NULL || out == NULL)
		return KAGI_ERR_INVALID;
	r = kagi_file_read(path, POLICY_MAX_FILE, KAGI_FILE_CONFIG, &buf,
	    &len);
	if (r != 0) {
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "%s: %s", path,
			    kagi_strerror(r));
		goto out;
	}
	r = policy_parse((const char *)buf, len, path, out, errbuf, errlen);
out:
	free(buf);
	return r;
}

void
policy_free(struct policy *p)
{
	free(p);
}

/* ---- accessors ---- */

const struct policy_password *
policy_password(const struct policy *p, enum policy_tier tier)
{
	if (p == NULL || (unsigned)tier >= POLICY_TIER_COUNT)
		return NULL;
	return &p->pw[tier];
}

const struct policy_lockout *
policy_lockout(const struct policy *p, enum policy_tier tier)
{
	if (p == NULL || (unsigned)tier >= POLICY_TIER_COUNT)
		return NULL;
	return &p->lock[tier];
}

const struct policy_privileged *
policy_privileged(const struct policy *p)
{
	return p != NULL ? &p->priv : NULL;
}

const struct policy_sweep *
policy_sweep(const struct policy *p)
{
	return p != NULL ? &p->sweep : NULL;
}

size_t
policy_zone_count(const struct policy *p)
{
	return p != NULL ? p->nzones : 0;
}

const struct policy_zone *
policy_zone_at(const struct policy *p, size_t i)
{
	if (p == NULL || i >= p->nzones)
		return NULL;
	return &p->zones[i];
}

const struct policy_login *
policy_login(const struct policy *p)
{
	return p != NULL ? &p->login : NULL;
}

const struct policy_fido *
policy_fido(const struct policy *p)
{
	return p != NULL ? &p->fido : NULL;
}

const struct policy_zone *
policy_zone_by_oid(const struct policy *p, const char *oid)
{
	if (p == NULL || oid == NULL || oid[0] == '\0')
		return NULL;
	for (size_t i = 0; i < p->nzones; i++)
		if (strcmp(p->zones[i].policy_oid, oid) == 0)
			return &p->zones[i];
	return NULL;
}

const struct policy_zone *
policy_zone_find(const struct policy *p, const char *name)
{
	if (p == NULL || name == NULL)
		return NULL;
	for (size_t i = 0; i < p->nzones; i++)
		if (strcmp(p->zones[i].name, name) == 0)
			return &p->zones[i];
	return NULL;
}

const struct policy_cards *
policy_cards(const struct policy *p)
{
	return p != NULL ? &p->cards : NULL;
}
