/*
 * kagi.conf (conf.h).  inih splits lines and sections; every line passes
 * through our reader first, which counts lines (this inih build does not pass
 * line numbers to handlers), strips leading blanks (so an indented line is
 * never taken as a continuation of the previous value), and refuses unknown
 * sections, over-long lines, NUL bytes and invalid UTF-8.  The handler checks
 * keys against one table.  The first error wins and stops the parse.
 *
 * Presence of keys is not required here: each program checks the keys it
 * needs (a terminal has no [kagid], a server may have no [client]).  A key
 * that is present must have a non-empty, valid value.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "kagi/conf.h"
#include "kagi/file.h"
#include "kagi/i18n.h"
#include "kagi/kbuf.h"
#include "kagi/log.h"
#include "kagi/util.h"

#define CONF_MAX_SIZE (64u * 1024u)
#define CONF_LABEL_MAX 32 /* PKCS#11 CK_TOKEN_INFO label */

enum conf_kind {
	CK_PATH,   /* resolved against the file's directory */
	CK_LISTEN, /* host:port */
	CK_MODE,   /* octal permission bits */
	CK_LOG,    /* stderr|syslog */
	CK_LEVEL,  /* error|warn|info|debug */
	CK_LABEL,  /* PKCS#11 token label */
	CK_URL,    /* http(s)://... */
	CK_TEXT,   /* UTF-8 text, <= 64 bytes, no control characters */
	CK_DURATION, /* 90s, 15m, 24h, 30d */
	CK_KEYTYPE,  /* p256, p384, rsa3072 */
	CK_SECONDS,  /* whole seconds 0..600 */
	CK_MILLIS,   /* whole milliseconds 0..100 */
	CK_ONOFF,    /* on|off */
	CK_DEVICE,   /* "auto" or a path */
	CK_COMMAND,  /* a command line, <= 256 bytes, no control characters */
};

struct conf_key {
	const char *section;
	const char *key;
	enum conf_kind kind;
	size_t off; /* offset of the char * field; unused for CK_MODE */
};

#define F(field) offsetof(struct kagi_conf, field)

static const struct conf_key conf_keys[] = {
	{ "kagid", "data_dir", CK_PATH, F(data_dir) },
	{ "kagid", "policy", CK_PATH, F(policy) },
	{ "kagid", "listen", CK_LISTEN, F(listen) },
	{ "kagid", "http_listen", CK_LISTEN, F(http_listen) },
	{ "kagid", "socket", CK_PATH, F(socket) },
	{ "kagid", "socket_mode", CK_MODE, 0 },
	{ "kagid", "pid_file", CK_PATH, F(pid_file) },
	{ "kagid", "tls_cert", CK_PATH, F(tls_cert) },
	{ "kagid", "tls_key", CK_PATH, F(tls_key) },
	{ "kagid", "tls_client_ca", CK_PATH, F(tls_client_ca) },
	{ "kagid", "log", CK_LOG, F(log) },
	{ "kagid", "log_level", CK_LEVEL, F(log_level) },
	{ "kagid", "jpki_auth_ca", CK_PATH, F(jpki_auth_ca) },
	{ "hsm", "module", CK_PATH, F(hsm_module) },
	{ "hsm", "token_label", CK_LABEL, F(hsm_token_label) },
	{ "hsm", "pin_file", CK_PATH, F(hsm_pin_file) },
	{ "hsm", "softhsm2_conf", CK_PATH, F(softhsm2_conf) },
	{ "client", "socket", CK_PATH, F(client_socket) },
	{ "client", "url", CK_URL, F(client_url) },
	{ "client", "cert", CK_PATH, F(client_cert) },
	{ "client", "key", CK_PATH, F(client_key) },
	{ "client", "ca", CK_PATH, F(client_ca) },
	{ "ca", "key_type", CK_KEYTYPE, F(ca_key_type) },
	{ "ca", "org", CK_TEXT, F(ca_org) },
	{ "ca", "upn_suffix", CK_TEXT, F(ca_upn_suffix) },
	{ "ca", "base_url", CK_URL, F(ca_base_url) },
	{ "ca", "crl_dir", CK_PATH, F(ca_crl_dir) },
	{ "ca", "crl_next_update", CK_DURATION, F(ca_crl_next_update) },
	{ "ca", "ocsp_validity", CK_DURATION, F(ca_ocsp_validity) },
	{ "ca", "validity_staff_logon", CK_DURATION,
	  F(ca_validity_staff_logon) },
	{ "ca", "validity_terminal", CK_DURATION, F(ca_validity_terminal) },
	{ "ca", "validity_server", CK_DURATION, F(ca_validity_server) },
	{ "ca", "validity_ocsp", CK_DURATION, F(ca_validity_ocsp) },
	{ "ca", "group_commit_ms", CK_MILLIS, F(ca_group_commit_ms) },
	{ "cardd", "socket", CK_PATH, F(cardd_socket) },
	{ "cardd", "kagid_url", CK_URL, F(cardd_kagid_url) },
	{ "cardd", "terminal_cert", CK_PATH, F(cardd_terminal_cert) },
	{ "cardd", "terminal_key", CK_PATH, F(cardd_terminal_key) },
	{ "cardd", "ca", CK_PATH, F(cardd_ca) },
	{ "cardd", "pkcs11_module", CK_PATH, F(cardd_pkcs11_module) },
	{ "cardd", "card_wait", CK_SECONDS, F(cardd_card_wait) },
	{ "cardd", "fido", CK_ONOFF, F(cardd_fido) },
	{ "cardd", "fido_device", CK_DEVICE, F(cardd_fido_device) },
	{ "cardd", "insecure_fido_test_io_module", CK_PATH,
	  F(cardd_insecure_fido_test_io_module) },
	{ "cardd", "lock_command", CK_COMMAND, F(cardd_lock_command) },
	{ "cardd", "counter_group", CK_TEXT, F(cardd_counter_group) },
	{ "cardd", "priv_end_command", CK_COMMAND,
	  F(cardd_priv_end_command) },
};

#define CONF_NKEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

static const char *const conf_sections[] = { "kagid", "hsm", "client",
	"ca", "cardd" };

struct conf_parse {
	const char *text;
	size_t len;
	size_t pos;
	int line;
	const char *name;
	const char *dir;
	struct kagi_conf *c;
	unsigned char seen[CONF_NKEYS];
	int err;      /* first error, 0 if none */
	int err_line;
	char *errbuf;
	size_t errlen;
};

static void
conf_error(struct conf_parse *p, int err, const char *section,
    const char *key, const char *reason)
{
	if (p->err != 0)
		return;
	p->err = err;
	p->err_line = p->line;
	if (p->errbuf == NULL || p->errlen == 0)
		return;
	if (section != NULL && key != NULL)
		snprintf(p->errbuf, p->errlen, "%s:%d: [%s] %s: %s", p->name,
		    p->line, section, key, reason);
	else if (section != NULL)
		snprintf(p->errbuf, p->errlen, "%s:%d: [%s]: %s", p->name,
		    p->line, section, reason);
	else if (key != NULL)
		snprintf(p->errbuf, p->errlen, "%s:%d: %s: %s", p->name,
		    p->line, key, reason);
	else
		snprintf(p->errbuf, p->errlen, "%s:%d: %s", p->name, p->line,
		    reason);
}

static int
is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* A section header line: refuse names outside the table. */
static void
conf_check_section(struct conf_parse *p, const char *s, size_t n)
{
	const char *end;
	char name[64];
	size_t i, nl;

	if (n == 0 || s[0] != '[')
		return;
	end = memchr(s, ']', n);
	if (end == NULL)
		return; /* inih reports the syntax error */
	nl = (size_t)(end - s - 1);
	/* inih trims blanks inside the brackets; do the same. */
	while (nl > 0 && is_blank(s[1]))
		s++, nl--;
	while (nl > 0 && is_blank(s[nl]))
		nl--;
	if (nl >= sizeof(name)) {
		conf_error(p, KAGI_ERR_INVALID, NULL, NULL,
		    _("unknown section"));
		return;
	}
	memcpy(name, s + 1, nl);
	name[nl] = '\0';
	for (i = 0; i < sizeof(conf_sections) / sizeof(conf_sections[0]); i++)
		if (strcmp(name, conf_sections[i]) == 0)
			return;
	conf_error(p, KAGI_ERR_INVALID, name, NULL, _("unknown section"));
}

/* fgets-like reader over the in-memory text (ini_reader). */
static char *
conf_reader(char *str, int num, void *stream)
{
	struct conf_parse *p = stream;
	const char *s, *nl;
	size_t n, rest, content;

	if (p->err != 0 || p->pos >= p->len || num < 4)
		return NULL;
	s = p->text + p->pos;
	rest = p->len - p->pos;
	nl = memchr(s, '\n', rest);
	n = nl != NULL ? (size_t)(nl - s) + 1 : rest;
	p->pos += n;
	p->line++;
	if (!kagi_utf8_valid(s, n)) {
		conf_error(p, KAGI_ERR_FORMAT, NULL, NULL,
		    _("not valid UTF-8 text"));
		return NULL;
	}
	while (n > 0 && is_blank(*s))
		s++, n--;
	content = n;
	while (content > 0 && (s[content - 1] == '\n' ||
	    s[content - 1] == '\r'))
		content--;
	if (content + 2 > (size_t)num - 1) {
		conf_error(p, KAGI_ERR_LIMIT, NULL, NULL,
		    _("line is too long"));
		return NULL;
	}
	conf_check_section(p, s, content);
	if (p->err != 0)
		return NULL;
	memcpy(str, s, content);
	str[content] = '\n';
	str[content + 1] = '\0';
	return str;
}

static int
conf_listen_ok(const char *v)
{
	const char *colon = strrchr(v, ':');
	size_t hl, i;
	unsigned long port = 0;
	const char *q;

	if (colon == NULL || colon == v)
		return 0;
	hl = (size_t)(colon - v);
	for (i = 0; i < hl; i++)
		if ((unsigned char)v[i] <= 0x20)
			return 0;
	if (v[0] == '[') {
		if (hl < 3 || v[hl - 1] != ']')
			return 0;
	} else if (memchr(v, ':', hl) != NULL)
		return 0; /* bare IPv6 must be bracketed */
	q = colon + 1;
	if (*q == '\0' || strlen(q) > 5)
		return 0;
	for (; *q != '\0'; q++) {
		if (*q < '0' || *q > '9')
			return 0;
		port = port * 10 + (unsigned long)(*q - '0');
	}
	return port <= 65535;
}

static int
conf_mode_parse(const char *v, mode_t *out)
{
	size_t n = strlen(v), i;
	unsigned m = 0;

	if (n < 3 || n > 4)
		return -1;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '7')
			return -1;
		m = m * 8 + (unsigned)(v[i] - '0');
	}
	if (m > 0777)
		return -1; /* no setuid, setgid or sticky bits on a socket */
	*out = (mode_t)m;
	return 0;
}

static int
conf_handler(void *user, const char *section, const char *key,
    const char *value)
{
	struct conf_parse *p = user;
	const struct conf_key *k = NULL;
	char **field;
	char *s = NULL;
	int level;
	size_t i;

	if (p->err != 0)
		return 0;
	if (section == NULL || section[0] == '\0') {
		conf_error(p, KAGI_ERR_INVALID, NULL, key,
		    _("key outside of a section"));
		return 0;
	}
	for (i = 0; i < CONF_NKEYS; i++) {
		if (strcmp(conf_keys[i].section, section) == 0 &&
		    strcmp(conf_keys[i].key, key) == 0) {
			k = &conf_keys[i];
			break;
		}
	}
	if (k == NULL) {
		conf_error(p, KAGI_ERR_INVALID, section, key,
		    _("unknown key"));
		return 0;
	}
	if (p->seen[i]) {
		conf_error(p, KAGI_ERR_INVALID, section, key,
		    _("duplicate key"));
		return 0;
	}
	p->seen[i] = 1;
	if (value == NULL || value[0] == '\0') {
		conf_error(p, KAGI_ERR_INVALID, section, key,
		    _("empty value"));
		return 0;
	}
	switch (k->kind) {
	case CK_MODE:
		if (conf_mode_parse(value, &p->c->socket_mode) != 0) {
			conf_error(p, KAGI_ERR_INVALID, section, key,
			    _("expected an octal mode such as 0660"));
			return 0;
		}
		return 1;
	case CK_PATH:
		s = kagi_path_join(p->dir, value);
		break;
	case CK_LISTEN:
		if (!conf_listen_ok(value)) {
			conf_error(p, KAGI_ERR_INVALID, section, key,
			    _("expected host:port with a port from 0 to "
			    "65535"));
			return 0;
		}
		s = strdup(value);
		break;
	case CK_LOG:
		if (strcmp(value, "stderr") != 0 &&
		    strcmp(value, "syslog") != 0) {
			conf_error(p, KAGI_ERR_INVALID, section, key,
			    _("expected stderr or syslog"));
			return 0;
		}
		s = strdup(value);
		break;
	case CK_LEVEL:
		if (kagi_log_level_parse(value, &level) != 0) {
			conf_error(p, KAGI_ERR_INVALID, section, key,
			    _("expected error, warn, info or debug"));
			return 0;
		}
		s = strdup(value);
		break;
	case CK_LABEL:
		if (strlen(value) > CONF_LABEL_MAX) {
			conf_error(p, KAGI_ERR_INVALID, section, key,
			    _("token label is longer than 32 bytes"));
			return 0;
		}
		s = strdup(value);
		break;
	case CK_URL:
		if ((strncmp(value, "https://", 8) != 0 || value[8] == '\0') &&
		    (strncmp(value, "http://", 7) != 0 || value[7] == '\0')) {
			conf_error(p, KAGI_ERR_INVALID, section, key,
			    _("expected an http:// or https:// URL"));
			return 0;
		}
		s = strdup(value);
		break;
	case CK_TEXT: {
		size_t n = strlen(value);
		int bad = n > 64;
		for (size_t j = 0; !bad && j < n; j++)
			bad = (unsigned char)value[j] < 0x20 || value[j] == 0x7f;
		if (bad) {
			conf_error(p, KAGI_ERR_INVALID, section, key,
			    _("expected text of at most 64 bytes without "
			    "control characters"));
			return 0;
		}
		s = strdup(value);
		break;
	}
	case CK_DURATION: {
		int64_t d = 0;
		if (kagi_duration_parse(value, &d) != 0 || d <= 0) {
			conf_error(p, KAGI_ERR_INVALID, section, key,
			    _("expected a duration such as 90s, 15m, 24h or "
			    "30d"));
			return 0;
		}
		s = strdup(value);
		break;
	}
	case CK_KEYTYPE:
		if (strcmp(value, "p256") != 0 && strcmp(value, "p384") != 0 &&
		    strcmp(value, "rsa3072") != 0) {
			conf_error(p, KAGI_ERR_INVALID, section, key,
			    _("expected p256, p384 or rsa3072"));
			return 0;
		}
		s = strdup(value);
		break;
	case CK_SECONDS: {
		size_t n = strlen(value);
		unsigned long v = 0;
		int bad = n == 0 || n > 3;
		for (size_t j = 0; !bad && j < n; j++) {
			bad = value[j] < '0' || value[j] > '9';
			v = v * 10 + (unsigned long)(value[j] - '0');
		}
		if (bad || v > 600) {
			conf_error(p, KAGI_ERR_INVALID, section, key,
			    _("expected a number of seconds from 0 to 600"));
			return 0;
		}
		s = strdup(value);
		break;
	}
	case CK_MILLIS: {
		size_t n = strlen(value);
		unsigned long v = 0;
		int bad = n == 0 || n > 3;
		for (size_t j = 0; !bad && j < n; j++) {
			bad = value[j] < '0' || value[j] > '9';
			v = v * 10 + (unsigned long)(value[j] - '0');
		}
		if (bad || v > 100) {
			conf_error(p, KAGI_ERR_INVALID, section, key,
			    _("expected a number of milliseconds from 0 to "
			    "100"));
			return 0;
		}
		s = strdup(value);
		break;
	}
	case CK_ONOFF:
		if (strcmp(value, "on") != 0 && strcmp(value, "off") != 0) {
			conf_error(p, KAGI_ERR_INVALID, section, key,
			    _("expected on or off"));
			return 0;
		}
		s = strdup(value);
		break;
	case CK_DEVICE:
		s = strcmp(value, "auto") == 0 ? strdup(value) :
		    kagi_path_join(p->dir, value);
		break;
	case CK_COMMAND: {
		size_t n = strlen(value);
		int bad = n > 256;
		for (size_t j = 0; !bad && j < n; j++)
			bad = (unsigned char)value[j] < 0x20 || value[j] == 0x7f;
		if (bad) {
			conf_error(p, KAGI_ERR_INVALID, section, key,
			    _("expected a command of at most 256 bytes without "
			    "control characters"));
			return 0;
		}
		s = strdup(value);
		break;
	}
	}
	if (s == NULL) {
		conf_error(p, KAGI_ERR_NOMEM, section, key,
		    kagi_strerror(KAGI_ERR_NOMEM));
		return 0;
	}
	field = (char **)(void *)((char *)p->c + k->off);
	free(*field);
	*field = s;
	return 1;
}

static int
conf_set_default(char **field, const char *v)
{
	if ((*field = strdup(v)) == NULL)
		return KAGI_ERR_NOMEM;
	return 0;
}

void
kagi_conf_free(struct kagi_conf *c)
{
	size_t i;

	if (c == NULL)
		return;
	free(c->path);
	free(c->dir);
	for (i = 0; i < CONF_NKEYS; i++)
		if (conf_keys[i].kind != CK_MODE)
			free(*(char **)(void *)((char *)c + conf_keys[i].off));
	free(c);
}

int
kagi_conf_parse(const char *text, size_t len, const char *name,
    const char *dir, struct kagi_conf **out, char *errbuf, size_t errlen)
{
	struct conf_parse p;
	struct kagi_conf *c = NULL;
	int r = KAGI_ERR_INTERNAL, rc;

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (out == NULL)
		return KAGI_ERR_INTERNAL;
	*out = NULL;
	if ((text == NULL && len != 0) || name == NULL || dir == NULL)
		return KAGI_ERR_INTERNAL;
	memset(&p, 0, sizeof(p));
	p.text = text != NULL ? text : "";
	p.len = len;
	p.name = name;
	p.dir = dir;
	p.errbuf = errbuf;
	p.errlen = errlen;
	if (len > CONF_MAX_SIZE) {
		conf_error(&p, KAGI_ERR_LIMIT, NULL, NULL,
		    _("configuration file is too large"));
		r = KAGI_ERR_LIMIT;
		goto out;
	}
	/* A UTF-8 byte order mark is tolerated (editors on Windows). */
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		p.pos = 3;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	c->socket_mode = 0660;
	if ((r = conf_set_default(&c->path, name)) != 0 ||
	    (r = conf_set_default(&c->dir, dir)) != 0 ||
	    (r = conf_set_default(&c->log, "stderr")) != 0 ||
	    (r = conf_set_default(&c->log_level, "info")) != 0 ||
	    (r = conf_set_default(&c->hsm_module,
	    "/usr/lib/softhsm/libsofthsm2.so")) != 0 ||
	    (r = conf_set_default(&c->hsm_token_label, "kagi")) != 0)
		goto out;
	p.c = c;
	rc = ini_parse_stream(conf_reader, &p, conf_handler, &p);
	if (rc > 0 && (p.err == 0 || rc < p.err_line)) {
		/* inih found a syntax error before any of ours. */
		p.err = 0;
		p.line = rc;
		conf_error(&p, KAGI_ERR_FORMAT, NULL, NULL,
		    _("expected [section] or key = value"));
	} else if (rc < 0 && p.err == 0) {
		p.err = rc == -2 ? KAGI_ERR_NOMEM : KAGI_ERR_INTERNAL;
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "%s: %s", name,
			    kagi_strerror(p.err));
	}
	if (p.err != 0) {
		r = p.err;
		goto out;
	}
	*out = c;
	c = NULL;
	r = 0;
out:
	kagi_conf_free(c);
	return r;
}

const char *
kagi_conf_locate(const char *explicit_path)
{
	const char *env;

	if (explicit_path != NULL && explicit_path[0] != '\0')
		return explicit_path;
	env = getenv("KAGI_CONFIG");
	if (env != NULL && env[0] != '\0')
		return env;
	return KAGI_CONF_DEFAULT;
}

int
kagi_conf_load(const char *path, struct kagi_conf **out, char *errbuf,
    size_t errlen)
{
	struct kagi_conf *c = NULL;
	uint8_t *text = NULL;
	size_t len = 0;
	char *abs = NULL, *dir = NULL, cwd[4096];
	int r = KAGI_ERR_INTERNAL;

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (out == NULL)
		return KAGI_ERR_INTERNAL;
	*out = NULL;
	if (path == NULL || path[0] == '\0')
		return KAGI_ERR_INTERNAL;
	if (path[0] == '/')
		abs = strdup(path);
	else if (getcwd(cwd, sizeof(cwd)) != NULL)
		abs = kagi_path_join(cwd, path);
	else {
		r = KAGI_ERR_SYSTEM;
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "%s: %s", path,
			    kagi_strerror(r));
		goto out;
	}
	if (abs == NULL || (dir = kagi_path_dirname(abs)) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	/* R-TERM-6: only root or the running user may change settings. */
	r = kagi_file_check(abs, KAGI_FILE_CONFIG);
	if (r == 0)
		r = kagi_file_read(abs, CONF_MAX_SIZE, KAGI_FILE_CONFIG, &text,
		    &len);
	if (r != 0) {
		if (errbuf == NULL || errlen == 0)
			goto out;
		if (r == KAGI_ERR_NOT_FOUND)
			snprintf(errbuf, errlen,
			    _("%s: configuration file not found"), path);
		else if (r == KAGI_ERR_PERM)
			snprintf(errbuf, errlen,
			    _("%s: unsafe configuration file: it must be a "
			    "regular file owned by root or by you, and not "
			    "writable by group or others"), path);
		else if (r == KAGI_ERR_LIMIT)
			snprintf(errbuf, errlen,
			    _("%s: configuration file is too large"), path);
		else
			snprintf(errbuf, errlen,
			    _("%s: cannot read the configuration file: %s"),
			    path, kagi_strerror(r));
		goto out;
	}
	if ((r = kagi_conf_parse((const char *)text, len, path, dir, &c,
	    errbuf, errlen)) != 0)
		goto out;
	free(c->path);
	c->path = abs;
	abs = NULL;
	*out = c;
	c = NULL;
	r = 0;
out:
	kagi_conf_free(c);
	free(text);
	free(dir);
	free(abs);
	return r;
}
