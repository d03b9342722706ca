/*
 * preflight.h: what `exfeedctl preflight` checks before a first start.
 */
#ifndef EXFEEDD_PREFLIGHT_H
#define EXFEEDD_PREFLIGHT_H

#include <stdio.h>

#include "config.h"

/*
 * Check, for the loaded configuration cfg, every reason exfeedd's start
 * would fail, each printed to out as "ok    WHAT" or "FAIL  WHAT: WHY" with
 * a "fix:" line.  Run as root, it checks as the daemon will be after its
 * privilege drop ([daemon] user, group; the database as that user).
 * Returns 0 when nothing fails, -1 otherwise.
 */
int	 preflight(const struct config *cfg, FILE *out);

#endif
