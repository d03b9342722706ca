/*
 * role.c: the worker roles, their names, how many of each the config asks
 * for, and the order in which they stop.
 */
#include "autoconf.h"

#include <string.h>

#include "exfeedd.h"

static const struct {
	const char	*name;
	int		 stage;
} roles[ROLE_MAX] = {
	[ROLE_ACCOUNT] = { "account", 1 },
	[ROLE_MARKET] = { "market", 1 },
	[ROLE_WRITER] = { "writer", 2 },
	[ROLE_GATEWAY] = { "gateway", 0 },
	[ROLE_BROKER] = { "broker", 3 },
};

const char *
role_name(enum role r)
{
	return roles[r].name;
}

int
role_parse(const char *s, enum role *out)
{
	for (int r = 0; r < ROLE_MAX; r++)
		if (strcmp(roles[r].name, s) == 0) {
			*out = (enum role)r;
			return 0;
		}
	return -1;
}

int
role_stage(enum role r)
{
	return roles[r].stage;
}

int
role_count(enum role r, const struct config *cfg)
{
	switch (r) {
	case ROLE_ACCOUNT:
		return (int)cfg->account_shards;
	case ROLE_BROKER:
		return config_has_broker(cfg);
	default:
		return 1;
	}
}
