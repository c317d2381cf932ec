/*-------------------------------------------------------------------------
 *
 * core_state.h
 *	  The seven-dimension state vector of an execution (behaviour/execution §2.1) as C enums, their SQL labels and the public-state derivation.
 *
 *	  Each C enum lists its values in the order of the SQL enum type of
 *	  the same name (sql/install/00_core_types.sql), so a label table indexed by
 *	  the enum value converts in both directions.
 *
 * IDENTIFICATION
 *	  src/core_state.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_STATE_H
#define FF_ENGINE_STATE_H

typedef enum LifecyclePhase
{
	PHASE_SUBMITTED, PHASE_RUNNABLE, PHASE_ACTIVE, PHASE_SUSPENDED, PHASE_TERMINAL
} LifecyclePhase;

typedef enum OwnershipState
{
	OWN_UNOWNED, OWN_LEASED, OWN_LEASE_EXPIRED_RECLAIMABLE, OWN_LEASE_REVOKED
} OwnershipState;

typedef enum EligibilityState
{
	ELIG_ELIGIBLE_NOW, ELIG_NOT_ELIGIBLE_UNTIL_TIME, ELIG_BLOCKED_BY_DEPENDENCIES,
	ELIG_BLOCKED_BY_BUDGET, ELIG_BLOCKED_BY_QUOTA, ELIG_BLOCKED_BY_ROUTE,
	ELIG_BLOCKED_BY_LANE_STATE, ELIG_BLOCKED_BY_OPERATOR, ELIG_NOT_APPLICABLE
} EligibilityState;

typedef enum BlockingReason
{
	BLOCK_NONE, BLOCK_WAITING_FOR_WORKER, BLOCK_WAITING_FOR_RETRY_BACKOFF,
	BLOCK_WAITING_FOR_RESUME_DELAY, BLOCK_WAITING_FOR_DELAY,
	BLOCK_WAITING_FOR_SIGNAL, BLOCK_WAITING_FOR_APPROVAL,
	BLOCK_WAITING_FOR_CALLBACK, BLOCK_WAITING_FOR_TOOL_RESULT,
	BLOCK_WAITING_FOR_CHILDREN, BLOCK_WAITING_FOR_BUDGET,
	BLOCK_WAITING_FOR_QUOTA, BLOCK_WAITING_FOR_CAPABLE_WORKER,
	BLOCK_WAITING_FOR_LOCALITY_MATCH, BLOCK_PAUSED_BY_OPERATOR,
	BLOCK_PAUSED_BY_POLICY, BLOCK_PAUSED_BY_FLOW_CANCEL
} BlockingReason;

typedef enum TerminalOutcome
{
	OUTCOME_NONE, OUTCOME_SUCCESS, OUTCOME_FAILED, OUTCOME_CANCELLED,
	OUTCOME_EXPIRED, OUTCOME_SKIPPED
} TerminalOutcome;

typedef enum AttemptState
{
	ATT_NONE, ATT_PENDING_FIRST_ATTEMPT, ATT_RUNNING_ATTEMPT,
	ATT_ATTEMPT_INTERRUPTED, ATT_PENDING_RETRY_ATTEMPT,
	ATT_PENDING_REPLAY_ATTEMPT, ATT_ATTEMPT_TERMINAL
} AttemptState;

typedef enum PublicState
{
	PUB_WAITING, PUB_DELAYED, PUB_RATE_LIMITED, PUB_WAITING_CHILDREN,
	PUB_ACTIVE, PUB_SUSPENDED, PUB_RESUMABLE, PUB_COMPLETED, PUB_FAILED,
	PUB_CANCELLED, PUB_EXPIRED, PUB_SKIPPED
} PublicState;

/* Label tables, indexed by the enum value; NULL-terminated. */
extern const char *const ff_phase_labels[];
extern const char *const ff_ownership_labels[];
extern const char *const ff_eligibility_labels[];
extern const char *const ff_blocking_labels[];
extern const char *const ff_outcome_labels[];
extern const char *const ff_attempt_state_labels[];
extern const char *const ff_public_labels[];

/* Attempt record types and states (behaviour/execution §2.5). */
#define ATTEMPT_TYPE_INITIAL	"initial"
#define ATTEMPT_TYPE_RETRY		"retry"
#define ATTEMPT_TYPE_RECLAIM	"reclaim"
#define ATTEMPT_TYPE_REPLAY		"replay"

extern int	ff_label_lookup(const char *const *labels, const char *label);
extern PublicState ff_derive_public_state(LifecyclePhase phase,
										  EligibilityState elig,
										  TerminalOutcome outcome);

#endif							/* FF_ENGINE_STATE_H */
