/*-------------------------------------------------------------------------
 *
 * exec_lease.c
 *	  Leases: the fence triple (behaviour/execution §1.4), validation on lease-bound writes
 *	  with lazy expiry (behaviour/execution §4.3, §4.4), renew (behaviour/execution §3.6), progress (behaviour/execution §3.7) and the
 *	  lease-expiry scanner's per-item step (behaviour/execution §3.17).
 *
 *	  An expired lease is never requeued automatically: the execution
 *	  stays active / lease_expired_reclaimable until it is reclaimed,
 *	  cancelled or expired by a timeout (behaviour/execution §4.4).  Marking an expiry is a
 *	  committed side effect even when the call then reports lease_expired
 *	  (behaviour/execution §0.4), which is why outcomes are returned, never raised.
 *
 * IDENTIFICATION
 *	  src/exec_lease.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/acl.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "core_clock.h"
#include "exec_core.h"
#include "ff_engine.h"
#include "exec_lease.h"
#include "core_tenant.h"
#include "core_spi.h"
#include "core_validate.h"
#include "bgw_notify.h"

static void announce_lost(const ExecCore *c, const char *reason);

PG_FUNCTION_INFO_V1(ff_renew_lease);
PG_FUNCTION_INFO_V1(ff_update_progress);
PG_FUNCTION_INFO_V1(ff_mark_lease_expired_if_due);
PG_FUNCTION_INFO_V1(ff_revoke_lease);

Fence
ff_fence_args(FunctionCallInfo fcinfo, int lease_id_arg, int epoch_arg, int attempt_id_arg)
{
	Fence		f;

	f.lease_id = ff_arg_uuid_opt(fcinfo, lease_id_arg);
	f.has_epoch = ff_arg_int64_opt(fcinfo, epoch_arg, &f.lease_epoch);
	f.attempt_id = attempt_id_arg >= 0 ? ff_arg_uuid_opt(fcinfo, attempt_id_arg) : NULL;
	return f;
}

/*
 * ff_fence_resolve
 *		All three parts given: a fenced call.  None given: allowed only
 *		with source = operator_override where the operation permits it,
 *		and then the identity check is skipped (*trusted).  A mixture is
 *		partial_fence_triple.
 */
bool
ff_fence_resolve(const Fence *f, const char *source, bool allow_override,
				 bool *trusted, FFResult *r)
{
	int			given = (f->lease_id != NULL) + f->has_epoch + (f->attempt_id != NULL);

	*trusted = false;
	if (given == 3)
		return true;
	if (given > 0)
	{
		ffr_error(r, "partial_fence_triple");
		return false;
	}
	if (allow_override && source != NULL && strcmp(source, FF_SOURCE_OPERATOR_OVERRIDE) == 0)
	{
		ff_require_admin(FF_SOURCE_OPERATOR_OVERRIDE);
		*trusted = true;
		return true;
	}
	ffr_error(r, "fence_required");
	return false;
}

/*
 * ff_lease_lock_and_validate
 *		The prologue of every lease-bound operation (complete, fail, delay,
 *		wait-children, suspend, create_pending_waitpoint): lock, resolve the
 *		fence (operator override when source says so), validate the lease
 *		with expiry marking.  False with *r set on any failure.
 */
bool
ff_lease_lock_and_validate(ExecId id, Fence *f, const char *source, int64 now,
						   ExecCore *c, FFResult *r)
{
	bool		trusted;

	if (!ff_core_lock(id, c))
	{
		ff_result_not_found(r);
		return false;
	}
	if (!ff_fence_resolve(f, source, true, &trusted, r))
		return false;
	if (!ff_lease_validate(c, f, trusted, now, r))
		return false;
	/* acting on a live lease without it: its end is announced (ff_lease_release) */
	c->lease_overridden = trusted && c->ownership_state == OWN_LEASED;
	return true;
}

/*
 * ff_require_admin
 *		Operator powers (acting without the lease) belong to ff_admin.  The
 *		caller is the role outside the SECURITY DEFINER call (session user
 *		or SET ROLE), never the function's owner.
 */
void
ff_require_admin(const char *what)
{
	if (ff_caller_is_admin())
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("%s requires the ff_admin role", what),
			 errhint("Present the lease (lease_id, lease_epoch, attempt_id) instead.")));
}

static bool
lease_uuid_eq(const UuidOpt *stored, const pg_uuid_t *given)
{
	return stored->set && given != NULL && memcmp(stored->v.data, given->data, UUID_LEN) == 0;
}

/*
 * ff_fence_check_swapped
 *		The fence's two uuids passed in each other's place - renew_lease
 *		takes (attempt_id, lease_id), complete_execution (lease_id, ...,
 *		attempt_id) - would read as stale_lease, which tells a worker to
 *		stop: a coding bug must not look like a race.  Raises 22023 when
 *		the presented lease id is the current attempt's id (and not also
 *		the lease's) and the presented attempt id, when the call takes one,
 *		is the current lease's id.  The caller holds both ids, so saying
 *		so reveals nothing.
 */
void
ff_fence_check_swapped(const UuidOpt *cur_lease, const UuidOpt *cur_attempt,
					   const pg_uuid_t *lease_id, const pg_uuid_t *attempt_id)
{
	if (lease_id == NULL || !lease_uuid_eq(cur_attempt, lease_id) ||
		lease_uuid_eq(cur_lease, lease_id))
		return;
	if (attempt_id == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lease_id is the attempt's id, not the lease's"),
				 errhint("Pass the lease_id the claim returned (or the claim itself as the fence).")));
	if (lease_uuid_eq(cur_lease, attempt_id))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lease_id and attempt_id look swapped"),
				 errdetail("The lease_id presented is the attempt's id and the attempt_id presented is the lease's id."),
				 errhint("Check the argument order of this function (or pass the claim itself as the fence).")));
}

/*
 * ff_lease_is_expired
 *		A lease is dead once marked, whatever this caller's clock says (a
 *		marked lease is never resurrected), or once its expiry has passed.
 */
bool
ff_lease_is_expired(const ExecCore *c, int64 now)
{
	return c->ownership_state == OWN_LEASE_EXPIRED_RECLAIMABLE ||
		c->lease_expires_at == FF_NULL || c->lease_expires_at <= now;
}

/*
 * ff_lease_validate
 *		validate_lease_and_mark_expired (behaviour/execution §4.3): active phase, not revoked,
 *		not past expiry (marking it expired otherwise, before any identity
 *		check), then the fence.  On failure the envelope is in *r.  A
 *		swapped fence raises first (ff_fence_check_swapped).
 */
bool
ff_lease_validate(ExecCore *c, const Fence *f, bool trusted, int64 now, FFResult *r)
{
	/* a misuse raises before anything, even the expiry mark, is written */
	if (!trusted)
		ff_fence_check_swapped(&c->current_lease_id, &c->current_attempt_id,
							   f->lease_id, f->attempt_id);
	if (c->lifecycle_phase != PHASE_ACTIVE)
	{
		ff_result_not_active(r, c);
		return false;
	}
	if (c->ownership_state == OWN_LEASE_REVOKED)
	{
		ffr_error(r, "lease_revoked");
		return false;
	}
	if (ff_lease_is_expired(c, now))
	{
		ff_lease_mark_expired(c, now);
		ffr_error(r, "lease_expired");
		return false;
	}
	if (!trusted &&
		(!lease_uuid_eq(&c->current_lease_id, f->lease_id) ||
		 c->current_lease_epoch != f->lease_epoch ||
		 !lease_uuid_eq(&c->current_attempt_id, f->attempt_id)))
	{
		ffr_error(r, "stale_lease");
		return false;
	}
	return true;
}

/*
 * ff_lease_held_by
 *		Whether f, given whole, is the live lease of c as read: what
 *		ff_lease_validate accepts without writing anything or raising.
 */
bool
ff_lease_held_by(const ExecCore *c, const Fence *f, int64 now)
{
	return f->lease_id != NULL && f->has_epoch && f->attempt_id != NULL &&
		c->lifecycle_phase == PHASE_ACTIVE && c->ownership_state == OWN_LEASED &&
		!ff_lease_is_expired(c, now) &&
		lease_uuid_eq(&c->current_lease_id, f->lease_id) &&
		c->current_lease_epoch == f->lease_epoch &&
		lease_uuid_eq(&c->current_attempt_id, f->attempt_id);
}

/*
 * ff_lease_mark_expired
 *		The mark-expired transition (behaviour/execution §4.4); idempotent.  The lease mirror
 *		keeps the dead lease's values; the attempt is untouched until a
 *		reclaim; the attempt's stream is closed so tailers stop.
 */
void
ff_lease_mark_expired(ExecCore *c, int64 now)
{
	if (c->ownership_state == OWN_LEASE_EXPIRED_RECLAIMABLE)
		return;
	announce_lost(c, "lease_expired");
	ff_history_append(c, "expired", NULL, now, NULL);
	ff_core_set_vector(c, c->lifecycle_phase, OWN_LEASE_EXPIRED_RECLAIMABLE,
					   c->eligibility_state, BLOCK_WAITING_FOR_WORKER,
					   "lease expired, awaiting reclaim", c->terminal_outcome,
					   ATT_ATTEMPT_INTERRUPTED);
	c->lease_expired_at = now;
	c->last_mutation_at = now;
	ff_stream_close(c, c->current_attempt_index, "lease_expired", now, true);
	ff_core_store(c);
}

/*
 * announce_lost
 *		A live lease ends by someone other than its holder (an expiry
 *		mark, a revoke, or a release by ff_lease_release for a cancel, a
 *		timeout, a dependency that can no longer be met, an operator's
 *		override): its holder is told on the namespace's lease channel
 *		(ff_lease_channel) after commit, so that a worker stops the handler
 *		at once instead of at its next renewal, and need not listen to
 *		every completion to see cancels.
 *		The lease is named by its epoch, which every acquisition raises: a
 *		worker holding a newer lease of the same execution ignores it.  Not
 *		by its id: every reader of the namespace may listen, and a lease
 *		marked expired still serves its id's holder for a cancel.  Call
 *		before the lease mirror is cleared; a lease already marked expired
 *		or revoked was announced then.
 */
static void
announce_lost(const ExecCore *c, const char *reason)
{
	if (c->lifecycle_phase != PHASE_ACTIVE || c->ownership_state != OWN_LEASED)
		return;
	ff_completion_channel_key_load();
	ff_notify_at_commit(ff_lease_channel(c->namespace),
						psprintf("{\"execution_id\": \"%s\", \"lease_epoch\": " INT64_FORMAT
								 ", \"reason\": \"%s\"}",
								 ff_format_exec_id(c->id.partition, &c->id.uuid),
								 c->current_lease_epoch, reason));
}

/*
 * ff_lease_release
 *		"Release lease": a 'released' history event with the lease's
 *		identity, then the mirror and the attempt timer cleared (the
 *		LEASE_EXPIRY / WORKER_LEASES / ACTIVE / ATTEMPT_TIMEOUT entries are
 *		derived from those columns).  lost: why, when someone other than
 *		the holder ends the lease (NULL for the holder's own calls, unless
 *		an operator's override made them): its holder is told.
 */
void
ff_lease_release(ExecCore *c, const char *reason, const char *lost, int64 now)
{
	if (lost == NULL && c->lease_overridden)
		lost = "operator_override";
	if (lost != NULL)
		announce_lost(c, lost);
	ff_history_append(c, "released", reason, now, NULL);
	ff_core_clear_lease_mirror(c);
	c->attempt_timeout_at = FF_NULL;
}

/*
 * ff.renew_lease(execution_id, attempt_index, attempt_id, lease_id,
 *				  lease_epoch, lease_ttl_ms, lease_history_grace_ms)
 */
Datum
ff_renew_lease(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	int64		attempt_index = ff_arg_int32(fcinfo, 1, "attempt_index");
	Fence		f = ff_fence_args(fcinfo, 3, 4, 2);
	int64		ttl = ff_arg_int64(fcinfo, 5, "lease_ttl_ms");
	int64		grace = PG_ARGISNULL(6) ? 0 : PG_GETARG_INT64(6);
	int64		now = ff_now_ms();
	FFResult	r;
	ExecCore	c;
	bool		trusted,
				found;

	ff_check_positive(ttl, "lease_ttl_ms");
	ff_check_nonnegative(grace, "lease_history_grace_ms");
	ff_spi_connect();
	found = ff_core_lock(id, &c);
	if (found)
		ff_fence_check_swapped(&c.current_lease_id, &c.current_attempt_id,
							   f.lease_id, f.attempt_id);
	if (!found)
		ff_result_not_found(&r);
	else if (!ff_fence_resolve(&f, NULL, false, &trusted, &r))
		 /* result set */ ;
	else if (c.lifecycle_phase != PHASE_ACTIVE)
		ff_result_not_active(&r, &c);
	else if (c.ownership_state == OWN_LEASE_REVOKED || c.lease_revoked_at != FF_NULL)
		ffr_error(&r, "lease_revoked");
	else if (ff_lease_is_expired(&c, now))
	{
		ff_lease_mark_expired(&c, now);
		ffr_error(&r, "lease_expired");
	}
	else if (c.current_attempt_index != attempt_index ||
			 !lease_uuid_eq(&c.current_attempt_id, f.attempt_id) ||
			 !lease_uuid_eq(&c.current_lease_id, f.lease_id) ||
			 c.current_lease_epoch != f.lease_epoch)
		ffr_error(&r, "stale_lease");
	else
	{
		c.lease_last_renewed_at = now;
		c.lease_expires_at = now + ttl;
		c.lease_renewal_deadline = now + (ttl * 2) / 3;
		c.last_mutation_at = now;
		ff_core_store(&c);
		ffr_ok(&r, "OK");
		ffr_int(&r, "lease_expires_at", c.lease_expires_at);
	}
	FF_RETURN_RESULT(&r);
}

/*
 * ff.update_progress(execution_id, lease_id, lease_epoch, progress_pct,
 *					  progress_message)
 *		The "lite" lease check of behaviour/execution §3.7: an expired lease is reported but
 *		not marked.
 */
Datum
ff_update_progress(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	Fence		f = ff_fence_args(fcinfo, 1, 2, -1);
	bool		has_pct = !PG_ARGISNULL(3);
	int64		pct = has_pct ? PG_GETARG_INT32(3) : 0;
	char	   *message = ff_arg_text_opt(fcinfo, 4);
	int64		now = ff_now_ms();
	FFResult	r;
	ExecCore	c;
	bool		found;

	if (f.lease_id == NULL || !f.has_epoch)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("lease_id and lease_epoch must not be NULL")));
	if (has_pct && (pct < 0 || pct > 100))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("progress_pct must be between 0 and 100, got " INT64_FORMAT, pct)));
	ff_check_max_len(message, 4096, "progress_message");

	ff_spi_connect();
	found = ff_core_lock(id, &c);
	if (found)
		ff_fence_check_swapped(&c.current_lease_id, &c.current_attempt_id, f.lease_id, NULL);
	if (!found)
		ff_result_not_found(&r);
	else if (c.lifecycle_phase != PHASE_ACTIVE)
		ff_result_not_active(&r, &c);
	else if (c.ownership_state == OWN_LEASE_REVOKED)
		ffr_error(&r, "lease_revoked");
	else if (ff_lease_is_expired(&c, now))
		ffr_error(&r, "lease_expired");
	else if (!lease_uuid_eq(&c.current_lease_id, f.lease_id) || c.current_lease_epoch != f.lease_epoch)
		ffr_error(&r, "stale_lease");
	else
	{
		if (has_pct)
			c.progress_pct = pct;
		if (message)
			c.progress_message = message;
		c.progress_updated_at = now;
		c.last_mutation_at = now;
		ff_core_store(&c);
		ffr_ok(&r, "OK");
	}
	FF_RETURN_RESULT(&r);
}

static void
already_satisfied(FFResult *r, const char *reason)
{
	ffr_ok(r, "ALREADY_SATISFIED");
	ffr_text(r, "reason", reason);
}

/*
 * ff_lease_expire_if_due
 *		The lease-expiry scanner's per-item step (behaviour/execution §3.17): marks a held
 *		lease past its expiry expired.  SPI connected; fills *r.
 */
void
ff_lease_expire_if_due(ExecId id, int64 now, FFResult *r)
{
	ExecCore	c;

	if (!ff_core_lock(id, &c))
		already_satisfied(r, "execution_not_found");
	else if (c.lifecycle_phase != PHASE_ACTIVE)
		already_satisfied(r, "not_active");
	else if (c.ownership_state == OWN_LEASE_EXPIRED_RECLAIMABLE)
		already_satisfied(r, "already_expired");
	else if (c.ownership_state == OWN_LEASE_REVOKED)
		already_satisfied(r, "already_revoked");
	else if (c.ownership_state == OWN_UNOWNED)
		already_satisfied(r, "unowned");
	else if (c.lease_expires_at != FF_NULL && c.lease_expires_at > now)
		already_satisfied(r, "not_yet_expired");
	else
	{
		ff_lease_mark_expired(&c, now);
		ffr_ok(r, "OK");
		ffr_text(r, "result", "marked_expired");
	}
}

/* ff.mark_lease_expired_if_due(execution_id) */
Datum
ff_mark_lease_expired_if_due(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	int64		now = ff_now_ms();
	FFResult	r;

	ff_spi_connect();
	ff_lease_expire_if_due(id, now, &r);
	FF_RETURN_RESULT(&r);
}

/*
 * ff.revoke_lease(execution_id, expected_lease_id, revoke_reason) (behaviour/execution §3.18)
 *		Immediate, not terminal: the holder loses the lease (every
 *		lease-checked call of it now gets lease_revoked) and the execution
 *		waits, active / lease_revoked, for a reclaim, a cancel or a timeout.
 *		The lease mirror keeps the revoked lease's identity.
 */
Datum
ff_revoke_lease(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	pg_uuid_t  *expected = ff_arg_uuid_opt(fcinfo, 1);
	char	   *reason = ff_arg_text_opt(fcinfo, 2);
	int64		now = ff_now_ms();
	FFResult	r;
	ExecCore	c;

	if (reason == NULL)
		reason = "operator";
	ff_check_max_len(reason, 1024, "revoke_reason");
	ff_spi_connect();
	if (!ff_core_lock(id, &c))
		ff_result_not_found(&r);
	else if (c.lifecycle_phase != PHASE_ACTIVE)
		ff_result_not_active(&r, &c);
	else if (c.ownership_state == OWN_LEASE_REVOKED)
		already_satisfied(&r, "already_revoked");
	else if (c.ownership_state == OWN_LEASE_EXPIRED_RECLAIMABLE)
		already_satisfied(&r, "already_expired");
	else if (c.ownership_state != OWN_LEASED)
		ffr_error(&r, "no_active_lease");
	else if (expected != NULL && !lease_uuid_eq(&c.current_lease_id, expected))
	{
		char		want[37],
					have[37];

		ff_format_uuid(expected, want);
		ff_format_uuid(&c.current_lease_id.v, have);
		ffr_error(&r, "stale_lease");
		ffr_text(&r, "detail", psprintf("expected %s but current is %s", want, have));
	}
	else
	{
		announce_lost(&c, "lease_revoked");
		ff_history_append(&c, "revoked", reason, now, NULL);
		ff_core_set_vector(&c, PHASE_ACTIVE, OWN_LEASE_REVOKED, c.eligibility_state,
						   BLOCK_WAITING_FOR_WORKER, psprintf("lease revoked: %s", reason),
						   OUTCOME_NONE, ATT_ATTEMPT_INTERRUPTED);
		c.lease_revoked_at = now;
		c.lease_revoke_reason = reason;
		c.last_mutation_at = now;
		ff_core_store(&c);
		ffr_ok(&r, "OK");
		ffr_text(&r, "result", "revoked");
		ffr_uuid(&r, "lease_id", &c.current_lease_id.v);
		ffr_int(&r, "lease_epoch", c.current_lease_epoch);
	}
	FF_RETURN_RESULT(&r);
}
