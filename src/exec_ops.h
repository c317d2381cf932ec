/*-------------------------------------------------------------------------
 *
 * exec_ops.h
 *	  Execution transitions that other subsystems reuse.
 *
 * IDENTIFICATION
 *	  src/exec_ops.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_EXECUTION_H
#define FF_ENGINE_EXECUTION_H

#include "fmgr.h"
#include "utils/jsonb.h"

#include "exec_core.h"
#include "core_validate.h"

/* The arguments of a create shared by every item of create_executions. */
typedef struct CreateArgs
{
	char	   *ns;
	char	   *lane;
	char	   *kind;
	char	   *creator;
	char	   *policy_text;
	int64		priority;
	int64		delay_until;	/* FF_NULL: none */
	int64		deadline;		/* FF_NULL: none */
	char	   *idem_key;		/* NULL: none */
	int64		dedup_ttl;
	Jsonb	   *tags;			/* NULL: none */
	/* policy_text validated once per call (ff_create_args), used per item */
	const char *policy_err;		/* NULL: valid */
	const char *policy_detail;
	Jsonb	   *policy;
	CapSet		caps;
	char	   *budget_csv;
	const char *budget_bad;
	char	   *conc_key;		/* policy concurrency (issue 26); NULL: none */
	int64		conc_limit;
	/* a batch's ids that exist already, sorted (ff_existing_ids); else NULL */
	ExecId	   *existing;
	int			nexisting;
} CreateArgs;

extern CreateArgs ff_create_args(FunctionCallInfo fcinfo, int ns_arg, int lane_arg, int kind_arg,
								 int priority_arg, int creator_arg, int policy_arg, int delay_arg);
extern void ff_check_create_item(ExecId id, bytea *payload, int num_partitions);
extern void ff_create_one(const CreateArgs *a, ExecId id, bytea *payload, int64 now, FFResult *r);
extern ExecId *ff_existing_ids(const ExecId *ids, int n, int *nfound);

extern void ff_expire_id(ExecId id, const char *reason, int64 now, FFResult *r);
extern void ff_promote_delayed_id(ExecId id, int64 now, FFResult *r);
extern void ff_cancel_locked(ExecCore *c, const char *reason, const char *source, int64 now);
extern void ff_check_result_size(bytea *result);
extern void ff_complete_one(ExecId id, Fence *f, bytea *result, const char *source, int64 now, FFResult *r);

/* A complete stored without a row lock of its own, still to be finished. */
typedef struct StoredComplete
{
	ExecCore   *c;				/* the row as stored */
	int64		attempt_index;	/* the attempt it ended */
} StoredComplete;

extern void ff_complete_unlocked_many(const ExecId *ids, const Fence *fences, int n, int64 now,
									  StoredComplete **stored);
extern void ff_complete_stored(StoredComplete *s, bytea *result, int64 now, FFResult *r);
extern void ff_fail_one(ExecId id, Fence *f, char *reason, const char *category, const char *source,
						int64 now, FFResult *r);

#endif							/* FF_ENGINE_EXECUTION_H */
