/*-------------------------------------------------------------------------
 *
 * budget.h
 *	  Budgets and quotas as the claim path and execution creation see
 *	  them (spec/budgets.md §2.3, §5.1).
 *
 * IDENTIFICATION
 *	  src/budget.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_BUDGET_H
#define FF_ENGINE_BUDGET_H

#include "utils/jsonb.h"

#include "exec_core.h"

typedef enum QuotaOutcome
{
	QUOTA_ADMITTED, QUOTA_ALREADY_ADMITTED, QUOTA_RATE_EXCEEDED, QUOTA_CONCURRENCY_EXCEEDED
} QuotaOutcome;

extern bool ff_admit_for_claim(ExecCore *c, int64 now);
extern bool ff_reset_budget_id(pg_uuid_t *id, int64 now, int64 *next_reset_at);
extern char *ff_policy_budget_ids(Jsonb *policy, const char **bad);
extern const char *ff_admission_scope_error(const char *budget_csv, const pg_uuid_t *quota, const char *ns);

#endif							/* FF_ENGINE_BUDGET_H */
