/*
 * policy: module-private layout of struct policy.  Only the policy sources
 * include it; everyone else sees the opaque type and the accessors in policy.h.
 */
#ifndef KAGI_POLICY_INT_H
#define KAGI_POLICY_INT_H

#include "kagi/policy.h"

/* Largest policy.ini accepted (bytes). */
#define POLICY_MAX_FILE (1024u * 1024u)

struct policy {
	struct policy_password pw[POLICY_TIER_COUNT];
	struct policy_lockout lock[POLICY_TIER_COUNT];
	struct policy_privileged priv;
	struct policy_sweep sweep;
	size_t nzones;
	struct policy_zone zones[POLICY_MAX_ZONES];
};

#endif
