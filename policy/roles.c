/*
 * Operator roles per action ([roles] in policy.ini, docs/POLICY.md).  The
 * table of actions is closed: policy.ini may change which roles an action
 * needs but cannot name an action kagid does not know (a typo would
 * otherwise silently leave the default in force).  kagid asks
 * policy_action_roles() before every operator action (server/authz.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "policy_int.h"

#define R_OP  POLICY_ROLE_OPERATOR
#define R_AP  POLICY_ROLE_APPROVER
#define R_CI  POLICY_ROLE_CISO
#define R_HD  POLICY_ROLE_HELPDESK
#define R_AU  POLICY_ROLE_AUDITOR
#define R_HR  POLICY_ROLE_HR
#define R_READ (R_OP | R_AP | R_CI | R_HD | R_AU | R_HR)

struct action_def {
	const char *name;
	uint32_t roles; /* default */
};

/* Keep in step with docs/POLICY.md "[roles]" and policy/default.c. */
static const struct action_def actions[POLICY_ACTION_MAX] = {
	{ "person.add", R_OP },
	{ "person.edit", R_OP },
	{ "person.show", R_READ },
	{ "person.list", R_READ },
	{ "user.add", R_OP },
	{ "user.show", R_READ },
	{ "user.list", R_READ },
	{ "user.disable", R_OP },
	{ "user.enable", R_OP },
	{ "user.delete", R_OP },
	{ "user.unlock", R_HD | R_OP },
	{ "user.reset-password", R_HD | R_OP },
	{ "user.member", R_OP },
	{ "auth.password", R_OP },
	{ "operator.grant", R_CI },
	{ "operator.list", R_CI | R_OP | R_AU },
	{ "operator.cert", R_CI },
	{ "priv.request", R_OP },
	{ "priv.approve", R_AP },
	{ "priv.approve-delegate", R_CI },
	{ "priv.deny", R_AP | R_CI },
	{ "priv.revoke", R_AP | R_CI | R_OP },
	{ "priv.list", R_OP | R_AP | R_CI | R_AU },
	{ "hr.plan", R_HR },
	{ "hr.apply", R_HR },
	{ "sweep.run", R_OP },
	{ "audit.verify", R_AU | R_CI },
	{ "audit.export", R_AU },
	{ "cert.issue", R_OP },
	{ "cert.revoke", R_OP },
	{ "cert.list", R_OP | R_AU | R_CI },
	{ "terminal.add", R_OP },
	{ "terminal.revoke", R_OP },
	{ "card.manage", R_OP },
	{ "card.show", R_OP | R_AP | R_CI | R_HD | R_AU },
	{ "card.list", R_OP | R_AP | R_CI | R_HD | R_AU },
	{ "card.enrol", R_OP },
	{ "card.lost", R_OP },
	{ "card.found", R_OP },
	{ "card.return", R_OP },
	{ "card.destroy", R_OP },
	{ "card.pin_unblock", R_OP },
	{ "card.approve", R_AP | R_CI },
	{ "fido.manage", R_OP },
	{ NULL, 0 },
};

static const char *const role_names[] = {
	"operator", "approver", "ciso", "helpdesk", "auditor", "hr", NULL
};

const char *
policy_role_name(uint32_t bit)
{
	for (size_t i = 0; role_names[i] != NULL; i++)
		if (bit == (1u << i))
			return role_names[i];
	return NULL;
}

int
policy_role_from_name(const char *s, size_t n, uint32_t *bit)
{
	*bit = 0;
	for (size_t i = 0; role_names[i] != NULL; i++) {
		if (strlen(role_names[i]) == n &&
		    strncasecmp(role_names[i], s, n) == 0) {
			*bit = 1u << i;
			return 0;
		}
	}
	return KAGI_ERR_INVALID;
}

int
policy_roles_parse(const char *s, uint32_t *out)
{
	uint32_t acc = 0, bit;
	int none = 0, any = 0;

	if (out != NULL)
		*out = 0;
	if (s == NULL || out == NULL)
		return KAGI_ERR_INVALID;
	while (*s != '\0') {
		size_t n;
		while (*s == ' ' || *s == '\t')
			s++;
		n = strcspn(s, ",");
		{
			size_t m = n;
			while (m > 0 && (s[m - 1] == ' ' || s[m - 1] == '\t'))
				m--;
			if (m == 0)
				return KAGI_ERR_INVALID;
			if (m == 4 && strncasecmp(s, "none", 4) == 0) {
				none = 1;
			} else {
				if (policy_role_from_name(s, m, &bit) != 0 ||
				    (acc & bit) != 0)
					return KAGI_ERR_INVALID;
				acc |= bit;
			}
			any = 1;
		}
		s += n;
		if (*s == ',') {
			s++;
			if (*s == '\0')
				return KAGI_ERR_INVALID;
		}
	}
	/* "none" stands alone: only the local administrator */
	if (!any || (none && acc != 0))
		return KAGI_ERR_INVALID;
	*out = acc;
	return 0;
}

int
policy_action_index(const char *name)
{
	if (name == NULL)
		return -1;
	for (int i = 0; actions[i].name != NULL; i++)
		if (strcmp(actions[i].name, name) == 0)
			return i;
	return -1;
}

const char *
policy_action_at(size_t i)
{
	if (i >= POLICY_ACTION_MAX)
		return NULL;
	return actions[i].name;
}

void
policy_roles_defaults(struct policy *p)
{
	for (size_t i = 0; i < POLICY_ACTION_MAX; i++)
		p->action_roles[i] = actions[i].roles;
}

int
policy_action_roles(const struct policy *p, const char *action,
    uint32_t *roles)
{
	int i;

	if (roles != NULL)
		*roles = 0;
	if (p == NULL || roles == NULL)
		return KAGI_ERR_INVALID;
	if ((i = policy_action_index(action)) < 0)
		return KAGI_ERR_NOT_FOUND;
	*roles = p->action_roles[i];
	return 0;
}

const char *
policy_common_list(const struct policy *p)
{
	if (p == NULL || p->common_list[0] == '\0')
		return NULL;
	return p->common_list;
}
