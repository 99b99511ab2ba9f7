/* libFuzzer harness for untrusted JSON bodies (kagi_json_*). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kagi/json.h"
#include "kagi/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
quiet(int level, const char *file, int line, const char *func,
    const char *msg, void *arg)
{
	(void)level, (void)file, (void)line, (void)func, (void)msg, (void)arg;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *o = NULL, *again = NULL;
	char err[256];
	const char *s;
	int64_t i;
	int b;
	char *dump;

	kagi_log_set_handler(quiet, NULL);
	if (kagi_json_parse_object((const char *)data, size, &o, err,
	    sizeof(err)) != 0) {
		if (o != NULL)
			abort();
		return 0;
	}
	(void)kagi_json_get_string(o, "account", 0, 64, &s);
	(void)kagi_json_get_int(o, "serial", 0, 0, INT64_MAX, &i);
	(void)kagi_json_get_bool(o, "hold", 0, &b);
	/* What we emit must parse again. */
	dump = kagi_json_dump(o);
	if (dump == NULL)
		abort();
	if (kagi_json_parse_object(dump, strlen(dump), &again, err,
	    sizeof(err)) != 0 && strlen(dump) <= KAGI_JSON_MAX_BODY)
		abort();
	json_decref(again);
	free(dump);
	json_decref(o);
	return 0;
}
