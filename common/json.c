/*
 * JSON for untrusted bodies: whole input, size cap, no duplicate keys, no NUL
 * in strings, a depth cap, an object at the top; getters that name the field.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kagi/i18n.h"
#include "kagi/json.h"
#include "kagi/log.h"
#include "kagi/secmem.h"

#define KAGI_JSON_MAX_DEPTH 32

static int
json_depth_ok(const json_t *v, int depth)
{
	const char *key;
	json_t *child;
	size_t i;

	if (depth > KAGI_JSON_MAX_DEPTH)
		return 0;
	if (json_is_object(v)) {
		json_object_foreach((json_t *)(uintptr_t)v, key, child)
			if (!json_depth_ok(child, depth + 1))
				return 0;
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, child)
			if (!json_depth_ok(child, depth + 1))
				return 0;
	}
	return 1;
}

static void
set_err(char *errbuf, size_t errlen, const char *msg)
{
	if (errbuf != NULL && errlen > 0)
		snprintf(errbuf, errlen, "%s", msg);
}

int
kagi_json_parse_object(const char *text, size_t len, json_t **out,
    char *errbuf, size_t errlen)
{
	json_error_t jerr;
	json_t *v = NULL;
	int r = KAGI_ERR_INTERNAL;

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (out == NULL)
		return KAGI_ERR_INTERNAL;
	*out = NULL;
	if (text == NULL && len != 0)
		return KAGI_ERR_INTERNAL;
	if (len > KAGI_JSON_MAX_BODY) {
		set_err(errbuf, errlen, _("JSON body is too large"));
		return KAGI_ERR_LIMIT;
	}
	/*
	 * No JSON_ALLOW_NUL: "\u0000" is refused; no
	 * JSON_DISABLE_EOF_CHECK: anything after the value is refused.
	 */
	v = json_loadb(text != NULL ? text : "", len,
	    JSON_REJECT_DUPLICATES, &jerr);
	if (v == NULL) {
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen,
			    _("JSON error at line %d, column %d: %s"),
			    jerr.line, jerr.column, jerr.text);
		r = json_error_code(&jerr) == json_error_out_of_memory ?
		    KAGI_ERR_NOMEM : KAGI_ERR_FORMAT;
		goto out;
	}
	if (!json_is_object(v)) {
		set_err(errbuf, errlen, _("JSON body is not an object"));
		r = KAGI_ERR_FORMAT;
		goto out;
	}
	if (!json_depth_ok(v, 1)) {
		set_err(errbuf, errlen, _("JSON body is nested too deeply"));
		r = KAGI_ERR_LIMIT;
		goto out;
	}
	*out = v;
	v = NULL;
	r = 0;
out:
	json_decref(v);
	return r;
}

static int
json_field(const json_t *obj, const char *key, int required, json_t **v)
{
	*v = NULL;
	if (obj == NULL || key == NULL || !json_is_object(obj))
		return KAGI_ERR_INTERNAL;
	*v = json_object_get(obj, key);
	if (*v == NULL || json_is_null(*v)) {
		*v = NULL;
		if (required) {
			kagi_log_debug("json: field \"%s\" missing", key);
			return KAGI_ERR_NOT_FOUND;
		}
	}
	return 0;
}

int
kagi_json_get_string(const json_t *obj, const char *key, int required,
    size_t maxlen, const char **out)
{
	json_t *v;
	int r;

	if (out == NULL)
		return KAGI_ERR_INTERNAL;
	if ((r = json_field(obj, key, required, &v)) != 0 || v == NULL)
		return r;
	if (!json_is_string(v)) {
		kagi_log_debug("json: field \"%s\" is not a string", key);
		return KAGI_ERR_FORMAT;
	}
	if (json_string_length(v) > maxlen) {
		kagi_log_debug("json: field \"%s\" too long (%zu > %zu)", key,
		    json_string_length(v), maxlen);
		return KAGI_ERR_FORMAT;
	}
	*out = json_string_value(v);
	return 0;
}

int
kagi_json_get_int(const json_t *obj, const char *key, int required,
    int64_t min, int64_t max, int64_t *out)
{
	json_t *v;
	json_int_t i;
	int r;

	if (out == NULL)
		return KAGI_ERR_INTERNAL;
	if ((r = json_field(obj, key, required, &v)) != 0 || v == NULL)
		return r;
	if (!json_is_integer(v)) {
		kagi_log_debug("json: field \"%s\" is not an integer", key);
		return KAGI_ERR_FORMAT;
	}
	i = json_integer_value(v);
	if (i < min || i > max) {
		kagi_log_debug("json: field \"%s\" out of range", key);
		return KAGI_ERR_FORMAT;
	}
	*out = (int64_t)i;
	return 0;
}

int
kagi_json_get_bool(const json_t *obj, const char *key, int required,
    int *out)
{
	json_t *v;
	int r;

	if (out == NULL)
		return KAGI_ERR_INTERNAL;
	if ((r = json_field(obj, key, required, &v)) != 0 || v == NULL)
		return r;
	if (!json_is_boolean(v)) {
		kagi_log_debug("json: field \"%s\" is not a boolean", key);
		return KAGI_ERR_FORMAT;
	}
	*out = json_is_true(v);
	return 0;
}

char *
kagi_json_dump(const json_t *v)
{
	if (v == NULL)
		return NULL;
	return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

void
kagi_json_wipe_on_free(void)
{
	json_set_alloc_funcs(malloc, kagi_free_wipe);
}

const char *
kagi_json_unknown_key(const json_t *o, const char *const *allowed)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)(uintptr_t)o, key, v) {
		size_t i;

		(void)v;
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(allowed[i], key) == 0)
				break;
		if (allowed[i] == NULL)
			return key;
	}
	return NULL;
}
