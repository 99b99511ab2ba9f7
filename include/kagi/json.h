/*
 * JSON helpers over jansson for untrusted bodies: size and depth caps, typed
 * getters that name the field that is wrong.
 */
#ifndef KAGI_JSON_H
#define KAGI_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kagi/err.h"

#define KAGI_JSON_MAX_BODY (1024u * 1024u)

/*
 * Parse a JSON object of at most KAGI_JSON_MAX_BODY bytes (no duplicate keys,
 * no NUL in strings).  On error, errbuf names line/column and *out is NULL.
 */
int kagi_json_parse_object(const char *text, size_t len, json_t **out,
    char *errbuf, size_t errlen) KAGI_WUR;
/*
 * Typed getters: KAGI_ERR_NOT_FOUND if absent (and !required -> 0 with the
 * default left untouched), KAGI_ERR_FORMAT if of the wrong type, too long or
 * out of range.  The field name is written to the log on error.
 */
int kagi_json_get_string(const json_t *obj, const char *key, int required,
    size_t maxlen, const char **out) KAGI_WUR;
int kagi_json_get_int(const json_t *obj, const char *key, int required,
    int64_t min, int64_t max, int64_t *out) KAGI_WUR;
int kagi_json_get_bool(const json_t *obj, const char *key, int required,
    int *out) KAGI_WUR;
/* The first member of object o whose name is not in allowed (NULL-ended),
 * or NULL: request bodies refuse unknown members, since a typo must not
 * silently change what happens. */
const char *kagi_json_unknown_key(const json_t *o, const char *const *allowed);
/* Compact, sorted-key dump (free()); NULL on failure. */
char *kagi_json_dump(const json_t *v);
/*
 * Make jansson wipe every block it frees (json_set_alloc_funcs): values
 * parsed from a request may hold a password or PIN, and jansson copies
 * strings into blocks of its own.  Call once at start, before any JSON is
 * made; programs that handle secrets in JSON (kagid, kagi-cardd, kagi) do.
 */
void kagi_json_wipe_on_free(void);

#endif
