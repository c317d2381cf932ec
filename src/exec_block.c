/*-------------------------------------------------------------------------
 *
 * exec_block.c
 *	  Holding eligible executions back and letting them go (behaviour/execution §3.14, §3.15, §5.6): block_execution_for_admission and
 *	  unblock_execution.  Budgets, quotas and capability routing block
 *	  through here; an operator can pause an execution the same way.
 *
 *	  Public state of a block (behaviour/execution §C.1): budget and quota blocks are
 *	  rate_limited, route / operator / lane-state blocks are waiting, as
 *	  the behaviour/execution §2.2 derivation says; the stored value is always derived.
 *
 * IDENTIFICATION
 *	  src/exec_block.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "exec_block.h"
#include "core_clock.h"
#include "exec_core.h"
#include "ff_engine.h"
#include "core_spi.h"
#include "core_validate.h"

PG_FUNCTION_INFO_V1(ff_block_execution_for_admission);
PG_FUNCTION_INFO_V1(ff_unblock_execution);

/* blocking_reason -> the eligibility it parks the execution in (behaviour/execution §3.14) */
static bool
block_target(BlockingReason reason, EligibilityState *elig)
{
	switch (reason)
	{
		case BLOCK_WAITING_FOR_BUDGET:
			*elig = ELIG_BLOCKED_BY_BUDGET;
			return true;
		case BLOCK_WAITING_FOR_QUOTA:
			*elig = ELIG_BLOCKED_BY_QUOTA;
			return true;
		case BLOCK_WAITING_FOR_CAPABLE_WORKER:
			*elig = ELIG_BLOCKED_BY_ROUTE;
			return true;
		case BLOCK_PAUSED_BY_OPERATOR:
			*elig = ELIG_BLOCKED_BY_OPERATOR;
			return true;
		case BLOCK_PAUSED_BY_POLICY:
			*elig = ELIG_BLOCKED_BY_LANE_STATE;
			return true;
		default:
			return false;
	}
}

/*
 * ff_block_locked
 *		Park a locked, eligible execution in the blocked state of reason
 *		(one block_target accepts) and store it.
 */
void
ff_block_locked(ExecCore *c, BlockingReason reason, const char *detail, int64 now)
{
	EligibilityState elig;

	if (!block_target(reason, &elig))
		elog(ERROR, "not a blocking reason: %d", (int) reason);
	ff_core_set_vector(c, PHASE_RUNNABLE, OWN_UNOWNED, elig, reason, detail, OUTCOME_NONE,
					   c->attempt_state == ATT_NONE ? ATT_PENDING_FIRST_ATTEMPT : c->attempt_state);
	c->last_transition_at = now;
	c->last_mutation_at = now;
	ff_core_store(c);
}

/*
 * ff.block_execution_for_admission(execution_id, blocking_reason,
 *		blocking_detail, now_ms)
 *		Decision (behaviour/execution §3.14 recommendation): only an eligible execution can be
 *		blocked, so a delayed or dependency-blocked one never leaves its
 *		own index.
 */
Datum
ff_block_execution_for_admission(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	char	   *reason_text = ff_arg_text(fcinfo, 1, "blocking_reason");
	char	   *detail = ff_arg_text_opt(fcinfo, 2);
	int64		now = PG_ARGISNULL(3) ? ff_now_ms() : PG_GETARG_INT64(3);
	int			reason = ff_label_lookup(ff_blocking_labels, reason_text);
	EligibilityState elig;
	FFResult	r;
	ExecCore	c;

	ff_check_max_len(detail, 4096, "blocking_detail");
	ff_spi_connect();
	if (!ff_core_lock(id, &c))
		ff_result_not_found(&r);
	else if (c.lifecycle_phase == PHASE_TERMINAL)
		ff_result_not_active(&r, &c);
	else if (c.lifecycle_phase != PHASE_RUNNABLE)
		ffr_error(&r, "execution_not_eligible");
	else if (reason < 0 || !block_target((BlockingReason) reason, &elig))
	{
		ffr_error(&r, "invalid_blocking_reason");
		ffr_text(&r, "detail", reason_text);
	}
	else if (c.eligibility_state != ELIG_ELIGIBLE_NOW)
		ffr_error(&r, "execution_not_eligible");
	else
	{
		ff_block_locked(&c, (BlockingReason) reason, detail, now);
		ffr_ok(&r, "OK");
		ffr_text(&r, "result", "blocked");
		ffr_text(&r, "public_state", ff_public_labels[c.public_state]);
	}
	FF_RETURN_RESULT(&r);
}

/*
 * ff_unblock_id
 *		Budget, quota, route and operator blocks only; lane-state and
 *		dependency blocks are released elsewhere.  The execution returns
 *		to its original place in the queue (ordering uses created_at).
 *		expected (a blocking reason label, or NULL) must match.  SPI
 *		connected; fills *r.
 */
void
ff_unblock_id(ExecId id, int64 now, const char *expected, FFResult *r)
{
	ExecCore	c;

	if (!ff_core_lock(id, &c))
		ff_result_not_found(r);
	else if (c.lifecycle_phase != PHASE_RUNNABLE ||
			 (c.eligibility_state != ELIG_BLOCKED_BY_BUDGET &&
			  c.eligibility_state != ELIG_BLOCKED_BY_QUOTA &&
			  c.eligibility_state != ELIG_BLOCKED_BY_ROUTE &&
			  c.eligibility_state != ELIG_BLOCKED_BY_OPERATOR) ||
			 (expected && strcmp(expected, ff_blocking_labels[c.blocking_reason]) != 0))
		ffr_error(r, "execution_not_eligible");
	else
	{
		ff_core_set_vector(&c, PHASE_RUNNABLE, OWN_UNOWNED, ELIG_ELIGIBLE_NOW,
						   BLOCK_WAITING_FOR_WORKER, NULL, OUTCOME_NONE,
						   c.attempt_state == ATT_NONE ? ATT_PENDING_FIRST_ATTEMPT : c.attempt_state);
		c.last_transition_at = now;
		c.last_mutation_at = now;
		ff_core_store(&c);
		ffr_ok(r, "OK");
		ffr_text(r, "result", "unblocked");
	}
}

/* ff.unblock_execution(execution_id, now_ms, expected_blocking_reason) */
Datum
ff_unblock_execution(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	int64		now = PG_ARGISNULL(1) ? ff_now_ms() : PG_GETARG_INT64(1);
	char	   *expected = ff_arg_text_opt(fcinfo, 2);
	FFResult	r;

	if (expected && ff_label_lookup(ff_blocking_labels, expected) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown blocking reason \"%s\"", expected)));
	ff_spi_connect();
	ff_unblock_id(id, now, expected, &r);
	FF_RETURN_RESULT(&r);
}
