/*
 * Audit export formats (R-LOG-3, R-LOG-5): JSON lines and RFC 5424 syslog
 * lines, one per record, for SIEMs.  Record fields come from LMDB and are
 * treated as untrusted text: JSON strings are escaped by jansson, syslog
 * structured-data values by RFC 5424 §6.3.3 ('"', '\\', ']'), and control
 * bytes never reach a line (a line is one record).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kagi/util.h"
#include "server_int.h"

int
kagid_audit_format_parse(const char *s, enum kagid_audit_format *out)
{
	*out = KAGID_AUDIT_JSONL;
	if (s == NULL || strcmp(s, "jsonl") == 0)
		return 0;
	if (strcmp(s, "syslog") == 0) {
		*out = KAGID_AUDIT_SYSLOG;
		return 0;
	}
	return KAGI_ERR_INVALID;
}

/* Escape for an SD-PARAM value; control bytes become '?'. */
char *
kagid_sd_escape(const char *s)
{
	size_t n = 0, i, j;
	char *o;

	if (s == NULL)
		s = "";
	for (i = 0; s[i] != '\0'; i++)
		n += (s[i] == '"' || s[i] == '\\' || s[i] == ']') ? 2 : 1;
	if ((o = malloc(n + 1)) == NULL)
		return NULL;
	for (i = 0, j = 0; s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\' || c == ']')
			o[j++] = '\\';
		o[j++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	o[j] = '\0';
	return o;
}

/* Free text of the MSG part: control bytes become '?'. */
static char *
msg_clean(const char *s)
{
	char *o;
	size_t i;

	if ((o = strdup(s == NULL ? "" : s)) == NULL)
		return NULL;
	for (i = 0; o[i] != '\0'; i++) {
		unsigned char c = (unsigned char)o[i];
		if (c < 0x20 || c == 0x7f)
			o[i] = '?';
	}
	return o;
}

static json_t *
detail_value(const char *detail)
{
	json_t *v;
	json_error_t e;

	if (detail == NULL || detail[0] == '\0')
		return json_object();
	v = json_loads(detail, JSON_REJECT_DUPLICATES, &e);
	if (v != NULL && json_is_object(v))
		return v;
	json_decref(v);
	/* not an object: keep the text, never drop it */
	return json_string(detail);
}

static int
line_jsonl(const struct store_audit *rec, const char *timebuf,
    const char *prevhex, const char *hashhex, char **out)
{
	int r = KAGI_ERR_NOMEM;
	json_t *o = NULL, *d = NULL;
	char *s = NULL, *line = NULL;
	size_t n;

	if ((d = detail_value(rec->detail)) == NULL)
		goto out;
	o = json_pack("{s:I, s:s, s:s?, s:s?, s:s?, s:s?, s:O, s:s, s:s}",
	    "seq", (json_int_t)rec->seq, "time", timebuf,
	    "actor", rec->actor, "action", rec->action,
	    "object", rec->object, "outcome", rec->outcome,
	    "detail", d, "prev", prevhex, "hash", hashhex);
	if (o == NULL) {
		/* invalid UTF-8 in a field: the store refuses it, so corrupt */
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	if ((s = json_dumps(o, JSON_COMPACT)) == NULL)
		goto out;
	n = strlen(s);
	if ((line = malloc(n + 2)) == NULL)
		goto out;
	memcpy(line, s, n);
	line[n] = '\n';
	line[n + 1] = '\0';
	*out = line;
	r = 0;
out:
	free(s);
	json_decref(o);
	json_decref(d);
	return r;
}

static int
line_syslog(const struct store_audit *rec, const char *timebuf,
    const char *prevhex, const char *hashhex, const char *host, char **out)
{
	int r = KAGI_ERR_NOMEM;
	char *actor = NULL, *action = NULL, *object = NULL, *outcome = NULL;
	char *m_action = NULL, *m_object = NULL, *m_outcome = NULL;
	char *m_detail = NULL;
	char hostbuf[256];
	size_t i;
	int pri, n;
	char *line = NULL;

	/* HOSTNAME: PRINTUSASCII, no spaces, "-" if unknown (RFC 5424 §6.2.4) */
	snprintf(hostbuf, sizeof(hostbuf), "%s",
	    (host == NULL || host[0] == '\0') ? "-" : host);
	for (i = 0; hostbuf[i] != '\0'; i++) {
		unsigned char c = (unsigned char)hostbuf[i];
		if (c <= 0x20 || c >= 0x7f)
			hostbuf[i] = '-';
	}
	/* facility authpriv (10); info for ok, notice for anything else */
	pri = 10 * 8 + ((rec->outcome != NULL &&
	    strcmp(rec->outcome, "ok") == 0) ? 6 : 5);
	if ((actor = kagid_sd_escape(rec->actor)) == NULL ||
	    (action = kagid_sd_escape(rec->action)) == NULL ||
	    (object = kagid_sd_escape(rec->object)) == NULL ||
	    (outcome = kagid_sd_escape(rec->outcome)) == NULL ||
	    (m_action = msg_clean(rec->action)) == NULL ||
	    (m_object = msg_clean(rec->object)) == NULL ||
	    (m_outcome = msg_clean(rec->outcome)) == NULL ||
	    (m_detail = msg_clean(rec->detail)) == NULL)
		goto out;
	n = asprintf(&line, "<%d>1 %s %s kagid - AUDIT [kagi@32473 "
	    "seq=\"%llu\" actor=\"%s\" action=\"%s\" object=\"%s\" "
	    "outcome=\"%s\" prev=\"%s\" hash=\"%s\"] action=%s object=%s "
	    "outcome=%s detail=%s\n", pri, timebuf, hostbuf,
	    (unsigned long long)rec->seq, actor, action, object, outcome,
	    prevhex, hashhex, m_action, m_object[0] ? m_object : "-",
	    m_outcome, m_detail[0] ? m_detail : "{}");
	if (n < 0) {
		line = NULL;
		goto out;
	}
	*out = line;
	r = 0;
out:
	free(actor);
	free(action);
	free(object);
	free(outcome);
	free(m_action);
	free(m_object);
	free(m_outcome);
	free(m_detail);
	return r;
}

int
kagid_audit_line(const struct store_audit *rec,
    const uint8_t hash[STORE_HASH_LEN], enum kagid_audit_format fmt,
    const char *host, char **out)
{
	char timebuf[64], prevhex[2 * STORE_HASH_LEN + 1];
	char hashhex[2 * STORE_HASH_LEN + 1];
	int r;

	*out = NULL;
	if ((r = kagi_time_format_utc(rec->time, timebuf, sizeof(timebuf))) != 0)
		return r;
	kagi_hex_encode(rec->prev, STORE_HASH_LEN, prevhex);
	kagi_hex_encode(hash, STORE_HASH_LEN, hashhex);
	if (fmt == KAGID_AUDIT_SYSLOG)
		return line_syslog(rec, timebuf, prevhex, hashhex, host, out);
	return line_jsonl(rec, timebuf, prevhex, hashhex, out);
}
