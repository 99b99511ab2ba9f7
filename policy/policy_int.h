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
	struct policy_login login;
	struct policy_fido fido;
	struct policy_cards cards;
	size_t nzones;
	struct policy_zone zones[POLICY_MAX_ZONES];
	uint32_t action_roles[POLICY_ACTION_MAX]; /* [roles], by table index */
	char common_list[1024];                   /* [general] common_list */
};

/* roles.c */
void policy_roles_defaults(struct policy *p);
/* Index of an action in the table, -1 if unknown. */
int policy_action_index(const char *name);
/* One role name of n bytes -> its bit; KAGI_ERR_INVALID if unknown. */
int policy_role_from_name(const char *s, size_t n, uint32_t *bit);

#endif
