/*
 * libFuzzer harness for policy_parse: arbitrary bytes as policy.ini.  A parse
 * either succeeds (and then every accessor and decision works on the result)
 * or fails with a "fuzz.ini:LINE:" message and no policy.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kagi/log.h"
#include "kagi/policy.h"

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
	struct policy *p = NULL;
	char err[512];
	int r;

	kagi_log_set_handler(quiet, NULL);
	r = policy_parse((const char *)data, size, "fuzz.ini", &p, err,
	    sizeof(err));
	if (r != 0) {
		if (p != NULL || strncmp(err, "fuzz.ini:", 9) != 0)
			abort();
		return 0;
	}
	if (p == NULL || policy_zone_count(p) == 0)
		abort();
	for (size_t i = 0; i < policy_zone_count(p); i++) {
		const struct policy_zone *z = policy_zone_at(p, i);
		if (z == NULL || strlen(z->banner) >= sizeof(z->banner) ||
		    policy_zone_find(p, z->name) != z)
			abort();
		for (int k = 0; k < STORE_KIND_COUNT; k++) {
			/* R-MFA-2 must hold for anything that loaded. */
			if (z->is_mynumber && z->min_categories[k] < 2)
				abort();
			if (policy_check_factors(p, z->name, k,
			    POLICY_FACTOR_PASSWORD, 0) == 0 && z->is_mynumber)
				abort();
		}
	}
	for (int t = 0; t < POLICY_TIER_COUNT; t++) {
		uint32_t count = 0;
		int64_t first = 0, until = 0;
		if (policy_password(p, t) == NULL || policy_lockout(p, t) == NULL)
			abort();
		(void)policy_lockout_fail(policy_lockout(p, t), &count, &first,
		    &until, 1000);
	}
	policy_free(p);
	return 0;
}
