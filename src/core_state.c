/*-------------------------------------------------------------------------
 *
 * core_state.c
 *	  Labels of the state-vector enums and the public-state derivation
 *	  (behaviour/execution §2.2).
 *
 * IDENTIFICATION
 *	  src/core_state.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core_state.h"

const char *const ff_phase_labels[] = {
	"submitted", "runnable", "active", "suspended", "terminal", NULL
};
const char *const ff_ownership_labels[] = {
	"unowned", "leased", "lease_expired_reclaimable", "lease_revoked", NULL
};
const char *const ff_eligibility_labels[] = {
	"eligible_now", "not_eligible_until_time", "blocked_by_dependencies",
	"blocked_by_budget", "blocked_by_quota", "blocked_by_route",
	"blocked_by_lane_state", "blocked_by_operator", "not_applicable", NULL
};
const char *const ff_blocking_labels[] = {
	"none", "waiting_for_worker", "waiting_for_retry_backoff",
	"waiting_for_resume_delay", "waiting_for_delay", "waiting_for_signal",
	"waiting_for_approval", "waiting_for_callback", "waiting_for_tool_result",
	"waiting_for_children", "waiting_for_budget", "waiting_for_quota",
	"waiting_for_capable_worker", "waiting_for_locality_match",
	"paused_by_operator", "paused_by_policy", "paused_by_flow_cancel", NULL
};
const char *const ff_outcome_labels[] = {
	"none", "success", "failed", "cancelled", "expired", "skipped", NULL
};
const char *const ff_attempt_state_labels[] = {
	"none", "pending_first_attempt", "running_attempt", "attempt_interrupted",
	"pending_retry_attempt", "pending_replay_attempt", "attempt_terminal", NULL
};
const char *const ff_public_labels[] = {
	"waiting", "delayed", "rate_limited", "waiting_children", "active",
	"suspended", "resumable", "completed", "failed", "cancelled", "expired",
	"skipped", NULL
};

/*
 * ff_label_lookup
 *		Index of a label in a NULL-terminated label table, or -1.
 */
int
ff_label_lookup(const char *const *labels, const char *label)
{
	int			i;

	for (i = 0; labels[i] != NULL; i++)
		if (strcmp(labels[i], label) == 0)
			return i;
	return -1;
}

/*
 * ff_derive_public_state
 *		The user-facing state for a vector (behaviour/execution §2.2).  Every transition writes
 *		the stored public_state from this function, so the two never drift.
 *		Decision (behaviour/execution §C.1): budget and quota blocks are
 *		rate_limited; route, operator and lane-state blocks are waiting.
 */
PublicState
ff_derive_public_state(LifecyclePhase phase, EligibilityState elig,
					   TerminalOutcome outcome)
{
	switch (phase)
	{
		case PHASE_TERMINAL:
			switch (outcome)
			{
				case OUTCOME_SUCCESS:
					return PUB_COMPLETED;
				case OUTCOME_CANCELLED:
					return PUB_CANCELLED;
				case OUTCOME_EXPIRED:
					return PUB_EXPIRED;
				case OUTCOME_SKIPPED:
					return PUB_SKIPPED;
				default:
					return PUB_FAILED;
			}
		case PHASE_SUSPENDED:
			return PUB_SUSPENDED;
		case PHASE_ACTIVE:
			return PUB_ACTIVE;
		case PHASE_RUNNABLE:
			switch (elig)
			{
				case ELIG_NOT_ELIGIBLE_UNTIL_TIME:
					return PUB_DELAYED;
				case ELIG_BLOCKED_BY_DEPENDENCIES:
					return PUB_WAITING_CHILDREN;
				case ELIG_BLOCKED_BY_BUDGET:
				case ELIG_BLOCKED_BY_QUOTA:
					return PUB_RATE_LIMITED;
				default:
					return PUB_WAITING;
			}
		default:
			return PUB_WAITING;
	}
}
