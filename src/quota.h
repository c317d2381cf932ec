/*-------------------------------------------------------------------------
 *
 * quota.h
 *	  Quotas and admission as the claim path, execution creation and the
 *	  scanners see them (behaviour/budgets §2.3, §4, §5.1).
 *
 * IDENTIFICATION
 *	  src/quota.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_QUOTA_H
#define FF_ENGINE_QUOTA_H

#include "utils/uuid.h"

#include "exec_core.h"

typedef enum QuotaOutcome
{
	QUOTA_ADMITTED, QUOTA_ALREADY_ADMITTED, QUOTA_RATE_EXCEEDED, QUOTA_CONCURRENCY_EXCEEDED
} QuotaOutcome;

/*
 * Budgets, then the quota, for a locked candidate of a claim: true when it
 * may be claimed, else it has been blocked (stored).  SPI connected.
 */
extern bool ff_admit_for_claim(ExecCore *c, int64 now);

/*
 * Whether the quota policy would refuse an admission now to an execution of
 * namespace ns: the rule claim admission applies (every rate slot up to the
 * limit busy, or every concurrency slot), read without taking a slot.  A
 * policy that does not govern the namespace, or has no limits, refuses
 * nothing.  SPI connected.  SQL: ff._quota_refuses(uuid, bigint, text).
 */
extern bool ff_quota_refuses(const pg_uuid_t *policy, int64 now, const char *ns);

/*
 * NULL when the caller may attach the budgets (CSV, or NULL) and quota
 * policy (or NULL) to an execution of namespace ns, else the detail of the
 * invalid_budget_scope outcome.  SPI connected.
 */
extern const char *ff_admission_scope_error(const char *budget_csv, const pg_uuid_t *quota,
											const char *ns);

#endif							/* FF_ENGINE_QUOTA_H */
