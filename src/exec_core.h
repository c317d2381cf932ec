/*-------------------------------------------------------------------------
 *
 * exec_core.h
 *	  The execution core record (behaviour/execution §2.4) in C, and the
 *	  side records every transition touches: attempts, lease history,
 *	  claim grants, stream meta, completion events.
 *
 *	  Glossary:
 *	  - an *execution* is one unit of work with a payload, identified by
 *		{fp:N}:<uuid>; N is its partition;
 *	  - an *attempt* is one try at running it (index 0, 1, ...); retries,
 *		reclaims and replays create new attempts, a resumed claim continues
 *		the current one;
 *	  - a *lease* is one worker instance's exclusive, time-limited right to
 *		act on the running attempt, fenced by (lease_id, lease_epoch,
 *		attempt_id); the epoch only ever grows;
 *	  - a *claim grant* reserves an eligible execution for one worker_id
 *		for a short time before it claims.
 *
 *	  Operations follow one pattern: ff_core_lock() reads the row FOR
 *	  UPDATE into an ExecCore, the operation checks and mutates the struct
 *	  exactly as the spec's effects say, and ff_core_store() writes every
 *	  mutable column back in one UPDATE.  (A complete or claims that write
 *	  nothing before the row read it unlocked, ff_core_read_many or a
 *	  candidate walk without locks, and the stores' updates take the
 *	  locks, ff_core_store_unlocked_many.)  Lock order: the execution row
 *	  first, then its own attempt / grant / data / stream rows; no
 *	  operation locks two execution rows except claim_next, which takes
 *	  them with SKIP LOCKED, or passes over the rows others hold and lets
 *	  its updates take them: it waits only for a row taken in the instant
 *	  between its check and its update (then a deadlock is possible in
 *	  principle, which PostgreSQL's detector ends), and batches, which lock
 *	  in (partition, execution_id) order: a batch of completes stores the
 *	  rows it can unlocked in that order, up to the first another
 *	  transaction changed meanwhile, and then locks that one and the rest,
 *	  still in that order.
 *
 * IDENTIFICATION
 *	  src/exec_core.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_EXEC_CORE_H
#define FF_ENGINE_EXEC_CORE_H

#include "storage/itemptr.h"

#include "core_ids.h"
#include "core_spi.h"
#include "core_result.h"
#include "core_state.h"

/* "Unset" for integer fields (SQL NULL). */
#define FF_NULL PG_INT64_MIN

typedef struct UuidOpt
{
	bool		set;
	pg_uuid_t	v;
} UuidOpt;

/*
 * Column list of ff.execution after (partition, execution_id).
 * T = text (char *, NULL when unset), I = bigint-ish (int64, FF_NULL when
 * unset), U = uuid (UuidOpt), E = enum (C enum, with its label table and
 * SQL type).  Immutable columns are read but never written back.
 */
#define FF_CORE_IMMUTABLE_FIELDS(T, I, U, E) \
	T(namespace) T(lane_id) T(execution_kind) T(creator_identity) \
	I(created_at) I(retention_ms) T(concurrency_key) I(concurrency_limit)

#define FF_CORE_MUTABLE_FIELDS(T, I, U, E) \
	I(priority) U(flow_id) \
	E(lifecycle_phase, LifecyclePhase, ff_phase_labels, "ff.lifecycle_phase") \
	E(ownership_state, OwnershipState, ff_ownership_labels, "ff.ownership_state") \
	E(eligibility_state, EligibilityState, ff_eligibility_labels, "ff.eligibility_state") \
	E(blocking_reason, BlockingReason, ff_blocking_labels, "ff.blocking_reason") \
	T(blocking_detail) \
	E(terminal_outcome, TerminalOutcome, ff_outcome_labels, "ff.terminal_outcome") \
	E(attempt_state, AttemptState, ff_attempt_state_labels, "ff.attempt_state") \
	E(public_state, PublicState, ff_public_labels, "ff.public_state") \
	I(total_attempt_count) I(current_attempt_index) U(current_attempt_id) \
	I(retry_count) I(replay_count) I(lease_reclaim_count) \
	U(current_lease_id) I(current_lease_epoch) T(current_worker_id) \
	T(current_worker_instance_id) T(current_lane) \
	I(lease_acquired_at) I(lease_expires_at) I(lease_last_renewed_at) \
	I(lease_renewal_deadline) I(lease_expired_at) I(lease_revoked_at) \
	T(lease_revoke_reason) \
	I(started_at) I(completed_at) I(last_transition_at) I(last_mutation_at) \
	I(delay_until) I(attempt_timeout_at) I(execution_deadline_at) I(purge_after) \
	T(pending_retry_reason) T(pending_replay_reason) \
	T(pending_replay_requested_by) I(pending_previous_attempt_index) \
	T(failure_reason) T(cancellation_reason) T(cancelled_by) \
	U(current_suspension_id) U(current_waitpoint_id) I(last_hmac_validation_failed_at) \
	T(budget_ids) U(quota_policy_id) \
	I(progress_pct) T(progress_message) I(progress_updated_at) \
	I(last_capability_mismatch_at) I(history_seq) \
	I(held_attempt_seq) U(held_lease_id) T(held_worker_id) T(held_worker_instance_id)

/* how many fields each list has */
#define FF_FIELD_ONE(n) + 1
#define FF_FIELD_ONE_E(n, ct, lab, st) + 1
#define FF_CORE_NIMMUTABLE (0 FF_CORE_IMMUTABLE_FIELDS(FF_FIELD_ONE, FF_FIELD_ONE, FF_FIELD_ONE, FF_FIELD_ONE_E))
#define FF_CORE_NMUTABLE (0 FF_CORE_MUTABLE_FIELDS(FF_FIELD_ONE, FF_FIELD_ONE, FF_FIELD_ONE, FF_FIELD_ONE_E))

#define FF_DECL_T(n) char *n;
#define FF_DECL_I(n) int64 n;
#define FF_DECL_U(n) UuidOpt n;
#define FF_DECL_E(n, ct, lab, st) ct n;

typedef struct ExecCore
{
	ExecId		id;
	char	   *required_caps_csv;	/* sorted CSV, NULL when no requirement */
	FF_CORE_IMMUTABLE_FIELDS(FF_DECL_T, FF_DECL_I, FF_DECL_U, FF_DECL_E)
	FF_CORE_MUTABLE_FIELDS(FF_DECL_T, FF_DECL_I, FF_DECL_U, FF_DECL_E)
	bool		loaded_claimable;	/* claimable (or reclaimable) as read: store
									 * announces a change */
	int64		loaded_lease_epoch; /* as read or last stored: epochs and */
	int64		loaded_attempt_count;	/* attempt counts never go back */
	ItemPointerData tid;		/* where the row version read (or last
								 * written) is; invalid when unknown */
	bool		lease_overridden;	/* this call ends a live lease it does
									 * not hold (operator_override) */
} ExecCore;

/* A lease fence as passed by a caller; each part may be absent. */
typedef struct Fence
{
	pg_uuid_t  *lease_id;
	bool		has_epoch;
	int64		lease_epoch;
	pg_uuid_t  *attempt_id;
} Fence;

/* ---- the core row ---- */
extern char *ff_lane_channel(const char *lane_id);
extern void ff_core_loaded(ExecCore *c);
extern bool ff_core_lock(ExecId id, ExecCore *c);
extern void ff_core_lock_many(const ExecId *ids, int n);
extern void ff_core_store(ExecCore *c);
extern int	ff_core_read_many(const ExecId *ids, int n, ExecCore *out);
extern int	ff_core_store_unlocked_many(ExecCore *const *cs, int n, bool skip_held, bool *stored_rows);
extern bool ff_core_unlocked_ok(Relation rel);
extern int	ff_core_write_unlocked(FFPlan *store, int n, const Datum *values, const bool *nulls,
								   ItemPointer newtids, bool skip_held, bool *written);
extern int64 ff_core_write_insert(FFPlan *insert, int n, const Datum *values, const bool *nulls,
								   bool probed);
extern uint64 ff_core_write(FFPlan *store, int n, const Datum *values, const bool *nulls,
							ItemPointer newtids);
extern bool ff_core_insert(ExecCore *c);
extern int64 ff_write_insert_rows(const char *relname, int ncols, const char *const *cols, const Oid *types,
								  int nrows, const Datum *values, const bool *nulls);
extern void ff_core_init(ExecCore *c, ExecId id);

extern void ff_core_set_vector(ExecCore *c, LifecyclePhase phase,
							   OwnershipState own, EligibilityState elig,
							   BlockingReason block, const char *detail,
							   TerminalOutcome outcome, AttemptState att);
extern void ff_core_clear_lease_mirror(ExecCore *c);
extern void ff_core_make_terminal(ExecCore *c, TerminalOutcome outcome, int64 now);

/* ---- side records ---- */
extern void ff_attempt_insert(ExecCore *c, int64 idx, const pg_uuid_t *attempt_id,
							  const char *attempt_type, const pg_uuid_t *lease_id,
							  int64 epoch, const char *worker_id,
							  const char *worker_instance_id, int64 now,
							  const char *retry_reason, int64 previous_attempt_index,
							  const char *replay_reason, const char *replay_requested_by,
							  int64 replayed_from, const char *reclaim_reason,
							  Jsonb *attempt_policy);
extern void ff_attempt_end(ExecCore *c, int64 idx, const char *state, int64 now,
						   const char *failure_reason, const char *failure_category);
extern void ff_attempt_suspend(ExecCore *c, int64 idx, int64 now, const char *suspension_id);
extern void ff_attempt_resume(ExecCore *c, int64 idx, const pg_uuid_t *lease_id,
							  int64 epoch, const char *worker_id,
							  const char *worker_instance_id, int64 now);

extern void ff_history_append(ExecCore *c, const char *event, const char *reason,
							  int64 now, Jsonb *detail);
extern void ff_attempt_hold(ExecCore *c);
extern void ff_attempt_materialize(ExecCore *c);
extern void ff_stream_close(ExecCore *c, int64 idx, const char *reason, int64 now,
							bool only_if_open);
extern void ff_grant_delete(ExecCore *c);
extern Jsonb *ff_execution_policy(ExecCore *c);

/* ---- shared result shapes ---- */
extern void ff_result_not_active(FFResult *r, ExecCore *c);
extern void ff_result_not_found(FFResult *r);

#endif							/* FF_ENGINE_EXEC_CORE_H */
