/* libFuzzer harness for kagi.conf parsing (kagi_conf_parse). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kagi/conf.h"
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
	struct kagi_conf *c = NULL;
	char err[512];
	int r;

	kagi_log_set_handler(quiet, NULL);
	r = kagi_conf_parse((const char *)data, size, "fuzz.conf", "/etc/kagi",
	    &c, err, sizeof(err));
	if (r == 0) {
		if (c == NULL || c->log == NULL || c->hsm_module == NULL)
			abort();
		/* every configured path is absolute after resolution */
		if (c->data_dir != NULL && c->data_dir[0] != '/')
			abort();
	} else if (c != NULL || strlen(err) == 0) {
		abort();
	}
	kagi_conf_free(c);
	return 0;
}
