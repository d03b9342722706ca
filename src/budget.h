/*
 * budget.h: the budgets an account worker spends against an exchange host.
 * For now, the per-worker share account.c uses (budget_share.h).
 */
#ifndef EXFEEDD_BUDGET_H
#define EXFEEDD_BUDGET_H

#include "budget_share.h"

#endif
