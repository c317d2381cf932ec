/*-------------------------------------------------------------------------
 *
 * budget.h
 *	  Budgets as the claim path, execution creation and quota.c see them
 *	  (behaviour/budgets §2.3, §5.1), and the argument helpers of the budget
 *	  and quota entry points.
 *
 * IDENTIFICATION
 *	  src/budget.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_BUDGET_H
#define FF_ENGINE_BUDGET_H

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

#define FF_MAX_ATTACHED_BUDGETS		64

/* Argument helpers shared with quota.c (misuse raises, "invalid_input: ..."). */
extern int64 ff_budget_now_arg(FunctionCallInfo fcinfo, int n);
extern char *ff_budget_namespace_arg(FunctionCallInfo fcinfo, int n);
extern void ff_budget_require_create_scope(const char *ns, const char *what);
extern pg_uuid_t *ff_budget_uuid_arg(FunctionCallInfo fcinfo, int n, const char *name);
extern void ff_budget_check_nonnegative(int64 v, const char *name);

/*
 * Why the attached budgets (CSV) refuse admission to an execution of
 * namespace ns (the first at or over a hard limit), or NULL.  SPI connected.
 * SQL: ff._budget_block_detail(text, text).
 */
extern char *ff_budget_block_detail(const char *csv, const char *ns);
extern ArrayType *ff_budget_ids_array(const char *csv);
extern void ff_budget_csv_add(StringInfo csv, const pg_uuid_t *u);
extern bool ff_reset_budget_id(pg_uuid_t *id, int64 now, int64 *next_reset_at);
extern char *ff_policy_budget_ids(Jsonb *policy, const char **bad);

#endif							/* FF_ENGINE_BUDGET_H */
