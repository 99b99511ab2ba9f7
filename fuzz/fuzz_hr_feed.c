/*
 * libFuzzer target: the HR feed parser (server/hr_feed.c, docs/HR-FEED.md).
 * Any bytes: either rows (every field valid UTF-8 within its cap, a known
 * status, a real date, no duplicate staff number) or faults with no rows,
 * never a crash or a leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kagi/kbuf.h"
#include "kagi/log.h"
#include "server_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
quiet(int level, const char *file, int line, const char *func,
    const char *msg, void *arg)
{
	(void)level; (void)file; (void)line; (void)func; (void)msg; (void)arg;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct hr_feed_errors e;
	struct hr_feed *f = NULL;
	int r;

	kagi_log_set_handler(quiet, NULL);
	r = hr_feed_parse(data, size, &f, &e);
	if (r != 0) {
		if (f != NULL || e.total == 0 || e.n > HR_FEED_MAX_ERRORS)
			abort();
		return 0;
	}
	if (f == NULL || e.total != 0)
		abort();
	for (size_t i = 0; i < f->n; i++) {
		const struct hr_row *row = &f->rows[i];
		int64_t t;

		if (row->status < 0 || row->status >= HR_STATUS_COUNT)
			abort();
		if (hr_date_parse(row->f[HR_COL_EFFECTIVE], &t) != 0 ||
		    t != row->effective)
			abort();
		for (int c = 0; c < HR_COL_COUNT; c++)
			if (row->f[c] == NULL || !kagi_utf8_valid(row->f[c],
			    strlen(row->f[c])) || strlen(row->f[c]) > 256)
				abort();
		for (size_t j = 0; j < i && j < 64; j++)
			if (strcmp(f->rows[j].f[HR_COL_STAFF_NO],
			    row->f[HR_COL_STAFF_NO]) == 0)
				abort();
	}
	hr_feed_free(f);
	return 0;
}
