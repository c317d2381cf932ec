/*-------------------------------------------------------------------------
 *
 * exec_claim.c
 *	  Claiming work (behaviour/execution §3.2-§3.5, §3.13, §5): claim
 *	  grants, the fresh and resumed claim paths, the operator's
 *	  grant-and-claim, the delayed promoter's per-item step, and the
 *	  worker's hot path ff.claim_next.
 *
 *	  ff.claim_next replaces the reference's partition walk with one scan
 *	  of the ELIGIBLE index of the lane (priority desc, created_at, id),
 *	  taking rows with FOR UPDATE SKIP LOCKED (or, for claims that write
 *	  nothing but the row, passing over the rows other transactions hold
 *	  and letting the update take the lock): concurrent workers do not wait
 *	  on each other (but for a row taken in the instant between a check and
 *	  an unlocked claim's update) and never receive the same execution.  A
 *	  row is skipped when its required capabilities are not a subset of the
 *	  worker's, and when a live claim grant reserves it for someone else.
 *
 *	  Lane controls and concurrency keys (exec_lane.c): a claim on a paused lane
 *	  takes nothing; on a limited lane it takes at most the lane's free
 *	  slots; an execution whose key is at its limit is passed over (the
 *	  candidate query filters keys found full, the claim re-checks under
 *	  the key's lock) and the scan goes on to other keys, so one busy key
 *	  holds back no other.  Fair rule: keys are served in claim order
 *	  (priority, then age), each at most up to its limit at a time; with
 *	  limit 1 a key's next execution waits until its running one leaves,
 *	  while every other key with eligible work is served in between.  The
 *	  lane's controls come from a cache (no statement on a lane without
 *	  them), and a claim of an execution without a key runs nothing more.
 *
 * IDENTIFICATION
 *	  src/exec_claim.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "quota.h"
#include "core_clock.h"
#include "exec_core.h"
#include "exec_core_row.h"
#include "flow_completion.h"
#include "exec_lane.h"
#include "ff_engine.h"
#include "exec_lease.h"
#include "exec_ops.h"
#include "core_partition.h"
#include "core_spi.h"
#include "core_tenant.h"
#include "core_validate.h"

PG_FUNCTION_INFO_V1(ff_issue_claim_grant);
PG_FUNCTION_INFO_V1(ff_issue_reclaim_grant);
PG_FUNCTION_INFO_V1(ff_reclaim_execution);
PG_FUNCTION_INFO_V1(ff_claim_execution);
PG_FUNCTION_INFO_V1(ff_claim_resumed_execution);
PG_FUNCTION_INFO_V1(ff_issue_grant_and_claim);
PG_FUNCTION_INFO_V1(ff_claim_next);
PG_FUNCTION_INFO_V1(ff_promote_delayed);

#define FF_MAX_LEASE_TTL_MS		(INT64CONST(7) * 24 * 3600 * 1000)
#define FF_MAX_CLAIM_BATCH		1000

/* What a claim needs to know about the claimer and the new lease. */
typedef struct ClaimRequest
{
	char	   *worker_id;
	char	   *worker_instance_id;
	char	   *lane;
	pg_uuid_t	lease_id;
	pg_uuid_t	attempt_id;
	int64		lease_ttl_ms;
	int64		renew_before_ms;
	int64		attempt_timeout_ms; /* <= 0: none */
	int64		execution_deadline_at;	/* <= 0: keep */
	Jsonb	   *attempt_policy;
} ClaimRequest;

/* c's key, (partition, execution_id), into v; v */
static Datum *
exec_key(const ExecCore *c, Datum *v)
{
	v[0] = Int16GetDatum((int16) c->id.partition);
	v[1] = UUIDPGetDatum(&c->id.uuid);
	return v;
}

static void
check_ttl(int64 ttl, const char *name)
{
	ff_check_positive(ttl, name);
	if (ttl > FF_MAX_LEASE_TTL_MS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be at most " INT64_FORMAT " ms, got " INT64_FORMAT,
						name, FF_MAX_LEASE_TTL_MS, ttl)));
}

/* Positions of worker_id, worker_instance_id and the lane argument. */
static void
claimer_args(FunctionCallInfo fcinfo, int worker_arg, int instance_arg,
			 int lane_arg, ClaimRequest *req)
{
	req->worker_id = ff_arg_text(fcinfo, worker_arg, "worker_id");
	req->worker_instance_id = ff_arg_text(fcinfo, instance_arg, "worker_instance_id");
	req->lane = ff_arg_text(fcinfo, lane_arg, "lane");
	ff_check_worker_id(req->worker_id, "worker_id");
	ff_check_worker_id(req->worker_instance_id, "worker_instance_id");
	ff_check_lane_id(PG_GETARG_TEXT_PP(lane_arg));
	req->attempt_timeout_ms = 0;
	req->execution_deadline_at = 0;
	req->attempt_policy = NULL;
}

/*
 * attempt_policy_arg
 *		attempt_policy_json must be a JSON object (behaviour/execution §3.3 check 12); misuse
 *		raises 22023 before anything is written.
 */
static Jsonb *
attempt_policy_arg(FunctionCallInfo fcinfo, int n)
{
	char	   *s = ff_arg_text_opt(fcinfo, n);
	Jsonb	   *jb;

	if (s == NULL)
		return NULL;
	ff_check_json_text(s, "attempt_policy_json");
	if (!ff_json_text_valid(s) || !JB_ROOT_IS_OBJECT(jb = ff_jsonb_from_text(s)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("attempt_policy_json must be a JSON object")));
	return jb;
}

static void
uuid_arg_or_mint(FunctionCallInfo fcinfo, int n, pg_uuid_t *out)
{
	if (n < 0 || PG_ARGISNULL(n))
		ff_mint_uuid(out);
	else
		*out = *PG_GETARG_UUID_P(n);
}

/*
 * lease_args
 *		The new lease a claim asks for: its id (minted when NULL or when
 *		there is no argument) and its TTL; renewal is due at 2/3 of it.
 */
static void
lease_args(FunctionCallInfo fcinfo, int lease_id_arg, int ttl_arg, ClaimRequest *req)
{
	uuid_arg_or_mint(fcinfo, lease_id_arg, &req->lease_id);
	req->lease_ttl_ms = ff_arg_int64(fcinfo, ttl_arg, "lease_ttl_ms");
	check_ttl(req->lease_ttl_ms, "lease_ttl_ms");
	req->renew_before_ms = (req->lease_ttl_ms * 2) / 3;
}

/*
 * The claimer (arguments 1-3) and new lease (5-6) of the claims that take
 * a grant: claim_execution, claim_resumed_execution, issue_grant_and_claim.
 */
static void
grant_claim_args(FunctionCallInfo fcinfo, ClaimRequest *req)
{
	claimer_args(fcinfo, 1, 2, 3, req);
	lease_args(fcinfo, 5, 6, req);
}

/*
 * The new attempt a fresh claim opens, from argument first on: its id
 * (minted when NULL), policy, timeout and execution deadline.
 */
static void
attempt_args(FunctionCallInfo fcinfo, int first, ClaimRequest *req)
{
	uuid_arg_or_mint(fcinfo, first, &req->attempt_id);
	req->attempt_policy = attempt_policy_arg(fcinfo, first + 1);
	ff_arg_int64_opt(fcinfo, first + 2, &req->attempt_timeout_ms);
	ff_arg_int64_opt(fcinfo, first + 3, &req->execution_deadline_at);
	ff_check_nonnegative(req->attempt_timeout_ms, "attempt_timeout_ms");
}

/* Active with a lease that expired or was revoked (behaviour/execution §3.19, §3.20). */
static inline bool
is_reclaimable(const ExecCore *c)
{
	return c->lifecycle_phase == PHASE_ACTIVE &&
		(c->ownership_state == OWN_LEASE_EXPIRED_RECLAIMABLE ||
		 c->ownership_state == OWN_LEASE_REVOKED);
}

/* ---- the claim transitions ---- */

static void
set_leased(ExecCore *c, const ClaimRequest *req, int64 epoch, int64 now)
{
	/* every grant is a fresh epoch, one above the last (behaviour/execution §2.3 I4) */
	Assert(epoch == c->current_lease_epoch + 1);
	ff_core_set_vector(c, PHASE_ACTIVE, OWN_LEASED, ELIG_NOT_APPLICABLE, BLOCK_NONE,
					   NULL, OUTCOME_NONE, ATT_RUNNING_ATTEMPT);
	c->current_lease_id.set = true;
	c->current_lease_id.v = req->lease_id;
	c->current_lease_epoch = epoch;
	c->current_worker_id = req->worker_id;
	c->current_worker_instance_id = req->worker_instance_id;
	c->current_lane = req->lane;
	c->lease_acquired_at = now;
	c->lease_last_renewed_at = now;
	c->lease_expires_at = now + req->lease_ttl_ms;
	c->lease_renewal_deadline = now + req->renew_before_ms;
	/* behaviour/execution §C.21: a new lease never inherits old expiry/revocation marks */
	c->lease_expired_at = FF_NULL;
	c->lease_revoked_at = FF_NULL;
	c->lease_revoke_reason = NULL;
	c->delay_until = FF_NULL;
	c->last_transition_at = now;
	c->last_mutation_at = now;
}

/*
 * Whether a fresh claim of c holds its attempt on the execution row: the
 * first attempt of a plain claim (exec_core.c, "a first attempt held on
 * the execution row"), of which nothing is in the attempt or lease tables
 * unless something other than its completion happens to it.
 */
static bool
holds_attempt(const ExecCore *c, const Jsonb *attempt_policy, const char *history_reason)
{
	return c->total_attempt_count == 0 && c->attempt_state != ATT_PENDING_RETRY_ATTEMPT &&
		c->attempt_state != ATT_PENDING_REPLAY_ATTEMPT && attempt_policy == NULL &&
		history_reason == NULL;
}

/*
 * claim_fresh_set
 *		A new attempt under a new lease (behaviour/execution §3.3 effects), but
 *		for the row's store (claim_fresh).  The attempt type follows the
 *		pending kind; lineage comes from the pending fields, which the claim
 *		consumes.
 */
static const char *
claim_fresh_set(ExecCore *c, const ClaimRequest *req, const char *history_reason, int64 now)
{
	int64		epoch = c->current_lease_epoch + 1;
	int64		idx = c->total_attempt_count;
	const char *type = ATTEMPT_TYPE_INITIAL;
	const char *retry_reason = NULL,
			   *replay_reason = NULL,
			   *replay_by = NULL;
	int64		prev = FF_NULL,
				replayed_from = FF_NULL;
	bool		hold;

	if (c->attempt_state == ATT_PENDING_RETRY_ATTEMPT)
	{
		type = ATTEMPT_TYPE_RETRY;
		retry_reason = c->pending_retry_reason;
		prev = c->pending_previous_attempt_index;
	}
	else if (c->attempt_state == ATT_PENDING_REPLAY_ATTEMPT)
	{
		type = ATTEMPT_TYPE_REPLAY;
		replay_reason = c->pending_replay_reason;
		replay_by = c->pending_replay_requested_by;
		replayed_from = c->pending_previous_attempt_index;
	}
	hold = holds_attempt(c, req->attempt_policy, history_reason);
	Assert(!hold || (idx == 0 && strcmp(type, ATTEMPT_TYPE_INITIAL) == 0));
	if (!hold)
		ff_attempt_insert(c, idx, &req->attempt_id, type, &req->lease_id, epoch,
						  req->worker_id, req->worker_instance_id, now,
						  retry_reason, prev, replay_reason, replay_by, replayed_from,
						  NULL, req->attempt_policy);
	set_leased(c, req, epoch, now);
	c->current_attempt_index = idx;
	c->total_attempt_count = idx + 1;
	c->current_attempt_id.set = true;
	c->current_attempt_id.v = req->attempt_id;
	if (c->started_at == FF_NULL)
		c->started_at = now;
	c->pending_retry_reason = NULL;
	c->pending_replay_reason = NULL;
	c->pending_replay_requested_by = NULL;
	c->pending_previous_attempt_index = FF_NULL;
	c->attempt_timeout_at = req->attempt_timeout_ms > 0 ? now + req->attempt_timeout_ms : FF_NULL;
	if (req->execution_deadline_at > 0)
		c->execution_deadline_at = req->execution_deadline_at;
	if (hold)
		ff_attempt_hold(c);
	else
		ff_history_append(c, "acquired", history_reason, now, NULL);
	return type;
}

/* claim_fresh_set, and the row stored. */
static const char *
claim_fresh(ExecCore *c, const ClaimRequest *req, const char *history_reason, int64 now)
{
	const char *type = claim_fresh_set(c, req, history_reason, now);

	ff_core_store(c);
	return type;
}

/*
 * claim_resume
 *		Continue the interrupted attempt under a new lease (behaviour/execution §3.4 effects):
 *		same attempt index and id, epoch + 1, counters and started_at kept.
 */
static void
claim_resume(ExecCore *c, const ClaimRequest *req, const char *history_reason, int64 now)
{
	int64		epoch = c->current_lease_epoch + 1;

	ff_attempt_resume(c, c->current_attempt_index, &req->lease_id, epoch,
					  req->worker_id, req->worker_instance_id, now);
	set_leased(c, req, epoch, now);
	c->attempt_timeout_at = req->attempt_timeout_ms > 0 ? now + req->attempt_timeout_ms : FF_NULL;
	ff_history_append(c, "acquired", history_reason, now, NULL);
	ff_core_store(c);
}

/*
 * claim_reclaim
 *		Take over an execution whose lease expired or was revoked (behaviour/execution §3.20):
 *		the old attempt ends interrupted_reclaimed and its stream closes;
 *		a new attempt of type reclaim starts under a new lease (epoch + 1).
 *		Decisions (behaviour/execution §C.7): the reason strings are lease_expired /
 *		lease_revoked, the attempt policy is stored, and the old attempt's
 *		timeout does not carry over to the new attempt.
 */
static void
claim_reclaim(ExecCore *c, const ClaimRequest *req, int64 now)
{
	int64		old_idx = c->current_attempt_index == FF_NULL ? 0 : c->current_attempt_index;
	int64		old_epoch = c->current_lease_epoch;
	int64		idx = c->total_attempt_count;
	const char *why = c->ownership_state == OWN_LEASE_REVOKED ? "lease_revoked" : "lease_expired";
	FFResult	detail;

	ff_attempt_end(c, old_idx, "interrupted_reclaimed", now, why, NULL);
	ff_stream_close(c, old_idx, "reclaimed", now, false);
	ff_attempt_insert(c, idx, &req->attempt_id, ATTEMPT_TYPE_RECLAIM, &req->lease_id,
					  old_epoch + 1, req->worker_id, req->worker_instance_id, now,
					  NULL, old_idx, NULL, NULL, FF_NULL, why, req->attempt_policy);
	set_leased(c, req, old_epoch + 1, now);
	c->current_attempt_index = idx;
	c->total_attempt_count = idx + 1;
	c->current_attempt_id.set = true;
	c->current_attempt_id.v = req->attempt_id;
	c->lease_reclaim_count += 1;
	c->attempt_timeout_at = req->attempt_timeout_ms > 0 ? now + req->attempt_timeout_ms : FF_NULL;
	ffr_begin(&detail);
	ffr_int(&detail, "old_lease_epoch", old_epoch);
	ffr_int(&detail, "old_attempt_index", old_idx);
	ff_history_append(c, "reclaimed", why, now, ffr_finish(&detail));
	ff_core_store(c);
}

/*
 * reclaim_cap
 *		The most reclaims allowed: the policy's max_reclaim_count when it
 *		has one, else the caller's default.
 */
static int64
reclaim_cap(ExecCore *c, int64 default_max)
{
	Jsonb	   *policy = ff_execution_policy(c);
	double		v;

	if (policy && JB_ROOT_IS_OBJECT(policy) &&
		ff_jsonb_get_number(&policy->root, "max_reclaim_count", &v) && v >= 0)
		return (int64) v;
	return default_max;
}

/*
 * fail_over_reclaim_cap
 *		Reclaimed too often: terminal failure, committed even though the
 *		caller gets max_retries_exhausted.  Decision (behaviour/execution §C.6): unlike
 *		the reference, the old attempt is ended, its stream closed, the
 *		release recorded and the completion announced.
 */
static void
fail_over_reclaim_cap(ExecCore *c, int64 now)
{
	ff_attempt_end(c, c->current_attempt_index, "ended_failure", now, "max_reclaims_exceeded", NULL);
	ff_stream_close(c, c->current_attempt_index, "attempt_failure", now, false);
	ff_history_append(c, "released", "max_reclaims_exceeded", now, NULL);
	ff_core_make_terminal(c, OUTCOME_FAILED, now);
	c->failure_reason = "max_reclaims_exceeded";
	ff_core_store(c);
	ff_completion_emit(c, OUTCOME_FAILED, now);
}

static void
result_claimed(FFResult *r, ExecCore *c, const char *attempt_type)
{
	/*
	 * In jsonb's key order (shorter first, then by bytes): the object's keys
	 * are then sorted already, which the sort at its end finds at once
	 */
	ffr_ok(r, "OK");
	ffr_uuid(r, "lease_id", &c->current_lease_id.v);
	/* what a worker dispatches on (with execution_kind), so it needs no second read */
	ffr_text(r, "namespace", c->namespace);
	ffr_uuid(r, "attempt_id", &c->current_attempt_id.v);
	ffr_int(r, "lease_epoch", c->current_lease_epoch);
	ffr_text(r, "attempt_type", attempt_type);
	ffr_exec_id(r, "execution_id", c->id.partition, &c->id.uuid);
	ffr_int(r, "attempt_index", c->current_attempt_index);
	ffr_text(r, "execution_kind", c->execution_kind ? c->execution_kind : "");
	ffr_int(r, "lease_expires_at", c->lease_expires_at);
}

/* ---- claim grants ---- */

typedef struct Grant
{
	bool		exists;
	char	   *worker_id;
	int64		expires_at;
} Grant;

static FFPlan plan_grant_get = {
	"SELECT worker_id, grant_expires_at FROM ff.claim_grant "
	"WHERE partition = $1 AND execution_id = $2",
	2, {INT2OID, UUIDOID}
};

static Grant
grant_get(ExecCore *c)
{
	Grant		g = {false, NULL, 0};
	Datum		v[2];

	if (ff_plan_exec(&plan_grant_get, exec_key(c, v), NULL, 1) > 0)
	{
		g.exists = true;
		g.worker_id = ff_col_text(0, 1);
		g.expires_at = ff_col_int64(0, 2, 0);
	}
	/* (a claim's scan may ask for many rows: their results do not pile up) */
	SPI_freetuptable(SPI_tuptable);
	return g;
}

static inline bool
grant_live(const Grant *g, int64 now)
{
	return g->exists && now <= g->expires_at;
}

/* Whether the execution's grant (read into *g) is held by worker_id, expired or not. */
static bool
grant_held(ExecCore *c, const char *worker_id, Grant *g)
{
	*g = grant_get(c);
	return g->exists && strcmp(g->worker_id, worker_id) == 0;
}

/*
 * A member of a flow cancelled with cancel_all / cancel_pending is owed a
 * cancel (ff.flow_pending_cancel) from the flow cancel's commit until the
 * engine cancels it.  No claim starts it in between: the claim paths answer
 * execution_not_eligible (behaviour/flows §3.12.5, the recommended fix of the
 * reference's claim race; flow_only owes nothing and its members go on).
 */
static FFPlan plan_cancel_owed = {
	"SELECT 1 FROM ff.flow_pending_cancel WHERE partition = $1 AND flow_id = $2 AND execution_id = $3",
	3, {INT2OID, UUIDOID, UUIDOID}
};

static bool
flow_cancel_pending(const ExecCore *c)
{
	Datum		v[3];
	bool		owed;

	if (!c->flow_id.set)
		return false;
	v[0] = Int16GetDatum((int16) c->id.partition);
	v[1] = UUIDPGetDatum(&c->flow_id.v);
	v[2] = UUIDPGetDatum(&c->id.uuid);
	/* (no entry of any version: none owed, without a statement) */
	if (!ff_pkey_may_have_key("flow_pending_cancel", 3, v, plan_cancel_owed.argtypes))
		return false;
	owed = ff_plan_exec(&plan_cancel_owed, v, NULL, 1) > 0;
	SPI_freetuptable(SPI_tuptable);
	return owed;
}

static bool
flow_cancel_owed(const ExecCore *c, FFResult *r)
{
	if (!flow_cancel_pending(c))
		return false;
	ffr_error(r, "execution_not_eligible");
	ffr_text(r, "detail", "flow_cancelled");
	return true;
}

static FFPlan plan_grant_put = {
	"INSERT INTO ff.claim_grant (partition, execution_id, kind, worker_id, "
	"worker_instance_id, lane_id, capability_hash, route_snapshot_json, "
	"admission_summary, created_at, grant_expires_at) "
	"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
	"ON CONFLICT (partition, execution_id) DO UPDATE SET kind = EXCLUDED.kind, "
	"worker_id = EXCLUDED.worker_id, worker_instance_id = EXCLUDED.worker_instance_id, "
	"lane_id = EXCLUDED.lane_id, capability_hash = EXCLUDED.capability_hash, "
	"route_snapshot_json = EXCLUDED.route_snapshot_json, "
	"admission_summary = EXCLUDED.admission_summary, created_at = EXCLUDED.created_at, "
	"grant_expires_at = EXCLUDED.grant_expires_at",
	11, {INT2OID, UUIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, INT8OID, INT8OID}
};

/*
 * issue_grant
 *		The body of issue_claim_grant (behaviour/execution §3.2) and issue_reclaim_grant
 *		(behaviour/execution §3.19): they differ only in which executions qualify.  A
 *		capability mismatch is committed (last_capability_mismatch_at)
 *		although the call returns an error (behaviour/execution §0.4).
 */
static Datum
issue_grant(FunctionCallInfo fcinfo, bool reclaim)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	char	   *worker_id = ff_arg_text(fcinfo, 1, "worker_id");
	char	   *wiid = ff_arg_text(fcinfo, 2, "worker_instance_id");
	char	   *lane = ff_arg_text(fcinfo, 3, "lane_id");
	char	   *cap_hash = ff_arg_text_opt(fcinfo, 4);
	int64		ttl = ff_arg_int64(fcinfo, 5, "grant_ttl_ms");
	char	   *route = ff_arg_text_opt(fcinfo, 6);
	char	   *admission = ff_arg_text_opt(fcinfo, 7);
	char	   *worker_csv = ff_arg_text_opt(fcinfo, 8);
	int64		now = ff_now_ms();
	FFResult	r;
	ExecCore	c;
	Grant		g;
	CapSet		have,
				need;
	const char *capserr;
	char	   *missing;

	ff_check_worker_id(worker_id, "worker_id");
	ff_check_worker_id(wiid, "worker_instance_id");
	ff_check_lane_id(PG_GETARG_TEXT_PP(3));
	check_ttl(ttl, "grant_ttl_ms");
	ff_check_max_len(cap_hash, 1024, "capability_hash");
	ff_check_max_len(route, 65536, "route_snapshot_json");
	ff_check_max_len(admission, 65536, "admission_summary");

	ff_spi_connect();
	if (!ff_core_lock(id, &c))
	{
		ff_result_not_found(&r);
		FF_RETURN_RESULT(&r);
	}
	if (reclaim ? !is_reclaimable(&c)
		: (c.lifecycle_phase != PHASE_RUNNABLE || c.eligibility_state != ELIG_ELIGIBLE_NOW))
	{
		ffr_error(&r, reclaim ? "execution_not_reclaimable" : "execution_not_eligible");
		FF_RETURN_RESULT(&r);
	}
	if (flow_cancel_owed(&c, &r))
		FF_RETURN_RESULT(&r);
	g = grant_get(&c);
	if (grant_live(&g, now))
	{
		ffr_error(&r, "grant_already_exists");
		FF_RETURN_RESULT(&r);
	}
	if (!reclaim && strcmp(lane, c.lane_id) != 0)
	{
		ffr_error(&r, "execution_not_in_eligible_set");
		FF_RETURN_RESULT(&r);
	}
	if ((capserr = ff_caps_from_csv(worker_csv, "worker", &have)) != NULL ||
		(capserr = ff_caps_from_csv(c.required_caps_csv, "required", &need)) != NULL)
	{
		ffr_error(&r, "invalid_capabilities");
		ffr_text(&r, "detail", capserr);
		FF_RETURN_RESULT(&r);
	}
	if ((missing = ff_caps_missing(&need, &have)) != NULL)
	{
		c.last_capability_mismatch_at = now;
		ff_core_store(&c);
		ffr_error(&r, "capability_mismatch");
		ffr_text(&r, "missing", missing);
		FF_RETURN_RESULT(&r);
	}
	{
		Datum		v[11];
		bool		n[11] = {false};

		v[0] = Int16GetDatum((int16) id.partition);
		v[1] = UUIDPGetDatum(&id.uuid);
		v[2] = CStringGetTextDatum(reclaim ? "reclaim" : "claim");
		v[3] = CStringGetTextDatum(worker_id);
		v[4] = CStringGetTextDatum(wiid);
		v[5] = CStringGetTextDatum(lane);
		v[6] = cap_hash ? CStringGetTextDatum(cap_hash) : (Datum) 0;
		n[6] = (cap_hash == NULL);
		v[7] = route ? CStringGetTextDatum(route) : (Datum) 0;
		n[7] = (route == NULL);
		v[8] = admission ? CStringGetTextDatum(admission) : (Datum) 0;
		n[8] = (admission == NULL);
		v[9] = Int64GetDatum(now);
		v[10] = Int64GetDatum(now + ttl);
		ff_plan_exec(&plan_grant_put, v, n, 0);
	}
	ffr_ok(&r, "OK");
	ffr_exec_id(&r, "execution_id", id.partition, &id.uuid);
	ffr_int(&r, "grant_expires_at", now + ttl);
	FF_RETURN_RESULT(&r);
}

/*
 * ff.issue_claim_grant(execution_id, worker_id, worker_instance_id,
 *		lane_id, capability_hash, grant_ttl_ms, route_snapshot_json,
 *		admission_summary, worker_capabilities_csv)
 */
FF_SQL_ENTRY(ff_issue_claim_grant, issue_grant(fcinfo, false))

/*
 * ff.issue_reclaim_grant(...same arguments...) -- a grant to reclaim an
 *		execution whose lease expired or was revoked (behaviour/execution §3.19).  The worker
 *		need not be the previous holder.
 */
FF_SQL_ENTRY(ff_issue_reclaim_grant, issue_grant(fcinfo, true))

/*
 * ff.claim_execution(execution_id, worker_id, worker_instance_id, lane,
 *		capability_snapshot_hash, lease_id, lease_ttl_ms, renew_before_ms,
 *		attempt_id, attempt_policy_json, attempt_timeout_ms,
 *		execution_deadline_at)
 *		A fresh attempt from a claim grant.  lease_id and attempt_id are
 *		minted when not given.
 */
Datum
ff_claim_execution(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	ClaimRequest req;
	int64		now = ff_now_ms();
	FFResult	r;
	ExecCore	c;
	Grant		g;
	const char *refusal;

	grant_claim_args(fcinfo, &req);
	if (!PG_ARGISNULL(7))
		req.renew_before_ms = PG_GETARG_INT64(7);
	ff_check_nonnegative(req.renew_before_ms, "renew_before_ms");
	attempt_args(fcinfo, 8, &req);

	ff_spi_connect();
	if (!ff_core_lock(id, &c))
		ff_result_not_found(&r);
	else if (c.lifecycle_phase != PHASE_RUNNABLE)
		ffr_error(&r, "execution_not_leaseable");
	else if (c.ownership_state != OWN_UNOWNED)
		ffr_error(&r, "lease_conflict");
	else if (c.eligibility_state != ELIG_ELIGIBLE_NOW || c.terminal_outcome != OUTCOME_NONE)
		ffr_error(&r, "execution_not_leaseable");
	else if (c.attempt_state == ATT_RUNNING_ATTEMPT)
		ffr_error(&r, "active_attempt_exists");
	else if (c.attempt_state == ATT_ATTEMPT_INTERRUPTED)
		ffr_error(&r, "use_claim_resumed_execution");
	else if (flow_cancel_owed(&c, &r))
		;
	else if (!grant_held(&c, req.worker_id, &g))
		ffr_error(&r, "invalid_claim_grant");
	else if (g.expires_at < now)
		ffr_error(&r, "claim_grant_expired");
	else if ((refusal = ff_claim_refusal(&c, false)) != NULL)
		ffr_error(&r, refusal);
	else
	{
		const char *type;

		ff_grant_delete(&c);
		type = claim_fresh(&c, &req, NULL, now);
		result_claimed(&r, &c, type);
	}
	FF_RETURN_RESULT(&r);
}

/*
 * ff.claim_resumed_execution(execution_id, worker_id, worker_instance_id,
 *		lane, capability_snapshot_hash, lease_id, lease_ttl_ms,
 *		remaining_attempt_timeout_ms)
 *		Continue an interrupted attempt from a claim grant.  Decision
 *		(behaviour/execution §C.11): the execution must also be unowned and eligible.
 */
Datum
ff_claim_resumed_execution(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	ClaimRequest req;
	int64		now = ff_now_ms();
	FFResult	r;
	ExecCore	c;
	Grant		g;
	const char *refusal;

	grant_claim_args(fcinfo, &req);
	ff_arg_int64_opt(fcinfo, 7, &req.attempt_timeout_ms);
	ff_check_nonnegative(req.attempt_timeout_ms, "remaining_attempt_timeout_ms");

	ff_spi_connect();
	if (!ff_core_lock(id, &c))
		ff_result_not_found(&r);
	else if (c.lifecycle_phase != PHASE_RUNNABLE)
		ffr_error(&r, "execution_not_leaseable");
	else if (c.attempt_state != ATT_ATTEMPT_INTERRUPTED)
		ffr_error(&r, "not_a_resumed_execution");
	else if (c.ownership_state != OWN_UNOWNED)
		ffr_error(&r, "lease_conflict");
	else if (c.eligibility_state != ELIG_ELIGIBLE_NOW)
		ffr_error(&r, "execution_not_leaseable");
	else if (flow_cancel_owed(&c, &r))
		;
	else if (!grant_held(&c, req.worker_id, &g))
		ffr_error(&r, "invalid_claim_grant");
	else if (g.expires_at < now)
	{
		ff_grant_delete(&c);
		ffr_error(&r, "claim_grant_expired");
	}
	else if ((refusal = ff_claim_refusal(&c, false)) != NULL)
		ffr_error(&r, refusal);
	else
	{
		ff_grant_delete(&c);
		claim_resume(&c, &req, "claim_resumed", now);
		result_claimed(&r, &c, "resumed");
	}
	FF_RETURN_RESULT(&r);
}

/*
 * ff.issue_grant_and_claim(execution_id, worker_id, worker_instance_id,
 *		lane, capability_hash, lease_id, lease_ttl_ms, attempt_id,
 *		attempt_policy_json, attempt_timeout_ms, execution_deadline_at)
 *		Operator grant + claim in one step; capabilities are not checked.
 *		The transient grant of the reference is never visible, so no grant
 *		is left behind in any outcome.  Decision (behaviour/execution §C.11): the
 *		resume path also requires eligible_now, so a delayed or
 *		dependency-blocked execution is never claimed out of its index.
 */
Datum
ff_issue_grant_and_claim(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	ClaimRequest req;
	int64		now = ff_now_ms();
	FFResult	r;
	ExecCore	c;
	Grant		g;
	const char *refusal;

	grant_claim_args(fcinfo, &req);
	attempt_args(fcinfo, 7, &req);

	ff_spi_connect();
	if (!ff_core_lock(id, &c))
	{
		ff_result_not_found(&r);
		FF_RETURN_RESULT(&r);
	}
	if (c.lifecycle_phase != PHASE_RUNNABLE)
		ffr_error(&r, "execution_not_eligible");
	else if (c.ownership_state != OWN_UNOWNED)
		ffr_error(&r, "lease_conflict");
	else if (c.terminal_outcome != OUTCOME_NONE)
		ffr_error(&r, "execution_not_eligible");
	else if (c.attempt_state == ATT_RUNNING_ATTEMPT)
		ffr_error(&r, "active_attempt_exists");
	else if ((g = grant_get(&c), grant_live(&g, now)))
		ffr_error(&r, "grant_already_exists");
	else if (c.attempt_state != ATT_ATTEMPT_INTERRUPTED && strcmp(req.lane, c.lane_id) != 0)
		ffr_error(&r, "execution_not_in_eligible_set");
	else if (c.eligibility_state != ELIG_ELIGIBLE_NOW)
		ffr_error(&r, "execution_not_eligible");
	else if (flow_cancel_owed(&c, &r))
		;
	else if ((refusal = ff_claim_refusal(&c, false)) != NULL)
		ffr_error(&r, refusal);
	else
	{
		if (g.exists)
			ff_grant_delete(&c);	/* an expired grant */
		if (c.attempt_state == ATT_ATTEMPT_INTERRUPTED)
			claim_resume(&c, &req, "issue_grant_and_claim_resumed", now);
		else
			claim_fresh(&c, &req, "issue_grant_and_claim", now);
		ffr_ok(&r, "OK");
		ffr_uuid(&r, "lease_id", &c.current_lease_id.v);
		ffr_int(&r, "lease_epoch", c.current_lease_epoch);
		ffr_int(&r, "attempt_index", c.current_attempt_index);
	}
	FF_RETURN_RESULT(&r);
}

#define FF_DEFAULT_MAX_RECLAIMS 100

/*
 * ff.reclaim_execution(execution_id, worker_id, worker_instance_id, lane,
 *		lease_id, lease_ttl_ms, attempt_id, attempt_policy_json,
 *		default_max_reclaim_count)
 *		Consumes a reclaim grant.  Decision (behaviour/execution §C.6): the grant is
 *		validated before the reclaim cap, so only a granted worker can push
 *		an execution over its cap.
 */
Datum
ff_reclaim_execution(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	ClaimRequest req;
	int64		default_max = PG_ARGISNULL(8) ? FF_DEFAULT_MAX_RECLAIMS : PG_GETARG_INT64(8);
	int64		now = ff_now_ms();
	FFResult	r;
	ExecCore	c;
	Grant		g;
	const char *refusal;
	int64		cap;

	claimer_args(fcinfo, 1, 2, 3, &req);
	lease_args(fcinfo, 4, 5, &req);
	uuid_arg_or_mint(fcinfo, 6, &req.attempt_id);
	req.attempt_policy = attempt_policy_arg(fcinfo, 7);
	ff_check_nonnegative(default_max, "default_max_reclaim_count");

	ff_spi_connect();
	if (!ff_core_lock(id, &c))
		ff_result_not_found(&r);
	else if (!is_reclaimable(&c))
		ffr_error(&r, "execution_not_reclaimable");
	else if (flow_cancel_owed(&c, &r))
		;
	else if (!(g = grant_get(&c)).exists || !grant_live(&g, now) ||
			 strcmp(g.worker_id, req.worker_id) != 0)
		ffr_error(&r, "invalid_claim_grant");
	else if ((refusal = ff_claim_refusal(&c, c.ownership_state == OWN_LEASED)) != NULL)
		ffr_error(&r, refusal);
	else if (c.lease_reclaim_count >= (cap = reclaim_cap(&c, default_max)))
	{
		ff_grant_delete(&c);
		fail_over_reclaim_cap(&c, now);
		ffr_error(&r, "max_retries_exhausted");
		ffr_int(&r, "max_reclaim_count", cap);
	}
	else
	{
		ff_grant_delete(&c);
		claim_reclaim(&c, &req, now);
		result_claimed(&r, &c, ATTEMPT_TYPE_RECLAIM);
	}
	FF_RETURN_RESULT(&r);
}

/* ---- ff.claim_next: the worker's hot path ---- */

/* The types of an execution's key: (partition, execution_id). */
static const Oid exec_key_types[2] = {INT2OID, UUIDOID};

/* What ff.claim_next's candidates must pass beside their set's own conditions. */
typedef struct ClaimFilter
{
	const CapSet *caps;			/* the worker's */
	int64		now;
	bool		keys;			/* pass over an execution whose key is full */
	/* the last key counted in this scan: a backlog of one key, counted once */
	char	   *key_ns;
	char	   *key;
	int64		key_taken;
	MemoryContext cxt;			/* where those are kept */
	PkeyProbe	grants;			/* ff.claim_grant's key, open for the walk */
} ClaimFilter;

/*
 * A candidate the worker may take: it has every capability the execution
 * requires; the execution is in one of the worker's namespaces; no claim
 * grant reserves it (a live one for someone, behaviour/execution §5); its
 * flow owes it no cancellation; and, for the eligible and the lost (not
 * for an expired lease, which holds its slot), its concurrency key has a
 * free slot, a hint the claim checks again under the key's lock (counted
 * once per key and scan).  Seen before the row's lock, so a row passed over
 * is not locked (one that fails again when the lock followed it to a newer
 * version stays locked, as a statement's re-check leaves it).
 */
static bool
candidate_ok(const ExecCore *c, void *arg)
{
	ClaimFilter *f = arg;
	Datum		v[2];

	if (c->required_caps_csv != NULL)
	{
		CapSet		required;

		/* a requirement out of bounds is refused, as a claim by id refuses it */
		if (ff_caps_from_csv(c->required_caps_csv, "execution", &required) != NULL ||
			ff_caps_missing(&required, f->caps) != NULL)
			return false;
	}
	if (!ff_namespace_allowed(c->namespace))
		return false;
	if (ff_pkey_probe(&f->grants, exec_key(c, v)))
	{
		Grant		g = grant_get((ExecCore *) c);

		if (grant_live(&g, f->now))
			return false;
	}
	if (flow_cancel_pending(c))
		return false;
	if (f->keys && c->concurrency_key != NULL)
	{
		if (f->key == NULL || strcmp(f->key, c->concurrency_key) != 0 ||
			strcmp(f->key_ns, c->namespace) != 0)
		{
			MemoryContext old = MemoryContextSwitchTo(f->cxt);

			if (f->key != NULL)
			{
				pfree(f->key);
				pfree(f->key_ns);
			}
			f->key = pstrdup(c->concurrency_key);
			f->key_ns = pstrdup(c->namespace);
			MemoryContextSwitchTo(old);
			f->key_taken = ff_key_slots_taken(c);
		}
		if (f->key_taken >= c->concurrency_limit)
			return false;
	}
	return true;
}

/* A locked candidate with its input payload. */
typedef struct Candidate
{
	ExecCore	core;
	Datum		payload;
	bool		payload_null;
} Candidate;

/*
 * Locks up to limit candidates of set, each read with its payload
 * (ff_core_lock_candidates); with qualify, takes them unlocked, up to a row
 * left to the locking walk (*stopped; *n -1 when none was taken), and with
 * changed too passes over rows changed since the walk's snapshot, saying so
 * in *changed.
 */
static Candidate *
lock_candidates(CoreScanSet set, const char *lane, ClaimFilter *f, int limit, CoreScanFilter qualify,
				int64 *n, bool *stopped, bool *changed)
{
	ExecCore   *cores;
	Candidate  *rows;
	PkeyFetch	payloads;
	int			got,
				i;

	f->keys = set != SCAN_LEASE_EXPIRY;
	f->key = f->key_ns = NULL;
	f->cxt = CurrentMemoryContext;
	ff_pkey_probe_begin(&f->grants, "claim_grant", 2, exec_key_types);
	got = ff_core_lock_candidates(set, lane, f->now, limit, qualify, candidate_ok, f, &cores, stopped, changed);
	ff_pkey_probe_end(&f->grants);
	if (got < 0)
	{
		*n = -1;
		return NULL;
	}
	rows = palloc(sizeof(Candidate) * Max(got, 1));
	if (got > 0)
		ff_pkey_fetch_begin(&payloads, "execution_data", 2, exec_key_types, "payload");
	for (i = 0; i < got; i++)
	{
		Datum		v[2];

		rows[i].core = cores[i];
		ff_core_loaded(&rows[i].core);
		ff_pkey_fetch_next(&payloads, exec_key(&cores[i], v), &rows[i].payload, &rows[i].payload_null);
	}
	if (got > 0)
		ff_pkey_fetch_end(&payloads);
	*n = got;
	return rows;
}

static void
emit_claim(ReturnSetInfo *rsinfo, Candidate *cand, const char *type)
{
	FFResult	r;
	Datum		out[2];
	bool		outnull[2] = {false, cand->payload_null};

	result_claimed(&r, &cand->core, type);
	out[0] = JsonbPGetDatum(ffr_finish(&r));
	out[1] = cand->payload;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, outnull);
}

/*
 * Takes over up to limit of one reclaim statement's candidates; returns how
 * many it claimed (one reclaimed too often fails terminally instead).
 */
static int64
reclaim_candidates(ReturnSetInfo *rsinfo, CoreScanSet set, ClaimFilter *f,
				   ClaimRequest *req, int64 limit, int64 now)
{
	Candidate  *rows;
	int64		n,
				i;
	int64		claimed = 0;
	bool		stopped;

	rows = lock_candidates(set, req->lane, f, (int) limit, NULL, &n, &stopped, NULL);
	for (i = 0; i < n; i++)
	{
		ExecCore   *c = &rows[i].core;

		/* a lost lease gave its slot up: take one again (an expired one keeps it) */
		if (c->concurrency_key != NULL && c->ownership_state != OWN_LEASED &&
			!ff_key_slot_free(c, 0, false))
			continue;
		if (c->ownership_state == OWN_LEASED)
		{
			/* taken over below, in this transaction: nobody need be woken */
			c->loaded_claimable = true;
			ff_lease_mark_expired(c, now);
		}
		ff_grant_delete(c);
		if (c->lease_reclaim_count >= reclaim_cap(c, FF_DEFAULT_MAX_RECLAIMS))
		{
			fail_over_reclaim_cap(c, now);
			continue;
		}
		ff_mint_uuid(&req->lease_id);
		ff_mint_uuid(&req->attempt_id);
		claim_reclaim(c, req, now);
		emit_claim(rsinfo, &rows[i], ATTEMPT_TYPE_RECLAIM);
		claimed++;
	}
	return claimed;
}

/*
 * Whether claim_next's claim of c writes nothing before the execution row:
 * its first attempt held on the row, no concurrency key (a slot counted
 * under the key's lock), budget or quota (admission), and no claim grant
 * row to delete.
 */
static bool
claims_row_only(const ExecCore *c, void *arg)
{
	ClaimFilter *f = arg;
	Datum		v[2];

	if (c->concurrency_key != NULL || c->budget_ids != NULL || c->quota_policy_id.set ||
		c->attempt_state == ATT_ATTEMPT_INTERRUPTED || !holds_attempt(c, NULL, NULL))
		return false;
	return !ff_pkey_probe(&f->grants, exec_key(c, v));
}

/*
 * Claims of up to limit executions that write nothing before the execution
 * row (claims_row_only) take their candidates without row locks, and the
 * stores' updates take the locks: a lock followed by an update of the same
 * row wrote a WAL record of its own (doc/decisions.md, "Claims and
 * completes without a row lock of their own").  A row another transaction
 * holds is passed over, in the walk or when its store begins, as SKIP
 * LOCKED passes over it.  The walk stops at a candidate that must be
 * claimed under the lock (its claim writes more): *more then says that the
 * locking walk is to claim the rest.  A row changed since the walk's
 * snapshot, and one its store finds taken or changed (another claimer's
 * walk saw the same rows before either stored them), are passed over and
 * *lost says so: a new walk, with a new snapshot, looks again.  Under
 * REPEATABLE READ, where a new walk has the same snapshot, both go to the
 * locking walk (*more), as before.  Returns how many were claimed.  Not
 * under SERIALIZABLE, whose key probes always answer "may exist" (a grant
 * row).
 */
static int64
claim_unlocked(ReturnSetInfo *rsinfo, ClaimFilter *f, ClaimRequest *req, int64 limit, int64 now,
			   bool *more, bool *lost)
{
	Candidate  *rows;
	ExecCore  **cs;
	bool	   *stored_rows;
	const char **types;
	int64	   *taken;
	PkeyProbe	grants;
	Datum		v[2];
	int64		n,
				i;
	int			m = 0,
				done;

	*more = true;
	*lost = false;
	if (IsolationIsSerializable() || !ff_core_unlocked_ok(NULL))
		return 0;
	/* under REPEATABLE READ a new walk has the same snapshot: the walk stops */
	rows = lock_candidates(SCAN_ELIGIBLE, req->lane, f, (int) limit, claims_row_only, &n, more,
						   IsolationUsesXactSnapshot() ? NULL : lost);
	if (n <= 0)
		return 0;
	cs = palloc(sizeof(ExecCore *) * n);
	types = palloc(sizeof(char *) * n);
	taken = palloc(sizeof(int64) * n);
	stored_rows = palloc(sizeof(bool) * n);
	ff_pkey_probe_begin(&grants, "claim_grant", 2, exec_key_types);
	for (i = 0; i < n; i++)
	{
		/* a grant issued since the walk's probe: the row is left to the locking walk */
		if (ff_pkey_probe(&grants, exec_key(&rows[i].core, v)))
		{
			*more = true;
			continue;
		}
		cs[m] = &rows[i].core;
		taken[m] = i;
		ff_mint_uuid(&req->lease_id);
		ff_mint_uuid(&req->attempt_id);
		types[m++] = claim_fresh_set(&rows[i].core, req, NULL, now);
	}
	done = ff_core_store_unlocked_many(cs, m, true, stored_rows);
	/*
	 * One another transaction took or changed meanwhile: a new walk goes on
	 * (under REPEATABLE READ, with the same snapshot, the locking walk).
	 */
	if (done < m && IsolationUsesXactSnapshot())
		*more = true;
	else if (done < m)
		*lost = true;
	for (i = 0; i < m; i++)
	{
		if (!stored_rows[i])
			continue;
		/*
		 * A grant issued in the instant before the update (which waited for
		 * its issuer) is deleted, as the locking walk deletes one issued
		 * between its check and its lock.
		 */
		if (ff_pkey_probe(&grants, exec_key(cs[i], v)))
			ff_grant_delete(cs[i]);
		emit_claim(rsinfo, &rows[taken[i]], types[i]);
	}
	ff_pkey_probe_end(&grants);
	return done;
}

/*
 * ff.claim_next(lane_id, worker_id, worker_instance_id, worker_capabilities,
 *				 lease_ttl_ms, max_count, attempt_timeout_ms, reclaim)
 *		RETURNS TABLE (claim jsonb, input_payload bytea)
 *
 * Claims up to max_count of the lane's best eligible executions, each
 * with its own lease and attempt exactly as a single claim; no row when
 * there is no work.  An interrupted execution (delayed or parked and now
 * eligible again) is resumed on its current attempt.  With reclaim, the
 * lane's executions whose lease expired or was revoked are taken over
 * first (those marked expired or revoked, then those past their expiry,
 * marked expired on the way), so a fleet recovers from a dead worker
 * without an operator; one reclaimed too often fails terminally instead
 * and is not returned.
 */
Datum
ff_claim_next(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ClaimRequest req;
	ArrayType  *caps_arr = PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3);
	int64		max_count = PG_ARGISNULL(5) ? 1 : PG_GETARG_INT32(5);
	bool		reclaim = !PG_ARGISNULL(7) && PG_GETARG_BOOL(7);
	int64		now = ff_now_ms();
	int64		claimed = 0;
	CapSet		caps;
	ClaimFilter filter;
	int64		n,
				i;
	Candidate  *rows;
	bool		paused;
	int			max_active;
	int			round;
	int			ntaken = 0;
	struct
	{
		const char *ns;
		const char *key;
		int64		n;
	}		   *taken = NULL;

	claimer_args(fcinfo, 1, 2, 0, &req);
	ff_caps_from_array(caps_arr, &caps);
	lease_args(fcinfo, -1, 4, &req);
	ff_arg_int64_opt(fcinfo, 6, &req.attempt_timeout_ms);
	ff_check_nonnegative(req.attempt_timeout_ms, "attempt_timeout_ms");
	if (max_count < 1 || max_count > FF_MAX_CLAIM_BATCH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_count must be between 1 and %d, got " INT64_FORMAT,
						FF_MAX_CLAIM_BATCH, max_count)));

	/* the caller's row type when it gives one: not built from the catalogue per call */
	InitMaterializedSRF(fcinfo, rsinfo != NULL && IsA(rsinfo, ReturnSetInfo) &&
						rsinfo->expectedDesc != NULL ? MAT_SRF_USE_EXPECTED_DESC : 0);
	ff_spi_connect();
	filter.caps = &caps;
	filter.now = now;

	/* a paused lane gives nothing; a limited one at most its free slots */
	if (ff_lane_controls(req.lane, &paused, &max_active))
	{
		if (!paused && max_active > 0)
			max_count = Min(max_count, ff_lane_slots_free(req.lane, max_active));
		if (paused || max_count <= 0)
		{
			SPI_finish();
			return (Datum) 0;
		}
	}

	if (reclaim)
	{
		claimed = reclaim_candidates(rsinfo, SCAN_LEASE_LOST, &filter, &req, max_count, now);
		if (claimed < max_count)
			claimed += reclaim_candidates(rsinfo, SCAN_LEASE_EXPIRY, &filter, &req,
										  max_count - claimed, now);
	}

	/* claims that write only the row: without row locks of their own where they can */
	if (claimed < max_count)
	{
		bool		more,
					lost = true;

		/*
		 * Rows changed during a walk, or stored first by another claimer,
		 * are looked for again by a new walk (which passes over them now):
		 * concurrent claims of the same lane start at the same head.  A walk
		 * that stopped, or a fourth that lost rows again, leaves the rest to
		 * the locking walk.
		 */
		for (round = 0; lost && round < 4; round++)
		{
			claimed += claim_unlocked(rsinfo, &filter, &req, max_count - claimed, now, &more, &lost);
			if ((!more && !lost) || claimed >= max_count)
			{
				SPI_finish();
				return (Datum) 0;
			}
			if (more)
				break;
		}
	}

	/*
	 * Keys passed over because this batch filled them: once the batch is
	 * written the candidate query sees them full, so a new scan finds other
	 * keys' work (a few rounds at most; one when no key is involved).
	 */
	for (round = 0; claimed < max_count && round < 4; round++)
	{
		bool		key_full = false;
		bool		stopped;

		ntaken = 0;
		rows = lock_candidates(SCAN_ELIGIBLE, req.lane, &filter, (int) (max_count - claimed), NULL, &n,
							   &stopped, NULL);
		/* distinct rows, locked: each table is written once for them all */
		if (n > 1)
			ff_defer_begin();
		for (i = 0; i < n; i++)
		{
			ExecCore   *c = &rows[i].core;
			const char *type = "resumed";
			int			k = -1;

			CHECK_FOR_INTERRUPTS();
			if (c->concurrency_key != NULL)
			{
				/* slots this batch took of the key, not yet written */
				for (k = 0; k < ntaken; k++)
					if (strcmp(taken[k].key, c->concurrency_key) == 0 &&
						strcmp(taken[k].ns, c->namespace) == 0)
						break;
				if (!ff_key_slot_free(c, k < ntaken ? taken[k].n : 0, false))
				{
					key_full = true;
					continue;
				}
			}
			/* budgets and quota (behaviour/budgets §5.1): refused ones are blocked */
			if ((c->budget_ids != NULL || c->quota_policy_id.set) && !ff_admit_for_claim(c, now))
				continue;
			ff_mint_uuid(&req.lease_id);
			ff_grant_delete(c); /* an expired grant, if any */
			if (c->attempt_state == ATT_ATTEMPT_INTERRUPTED)
				claim_resume(c, &req, "claim_next_resumed", now);
			else
			{
				ff_mint_uuid(&req.attempt_id);
				type = claim_fresh(c, &req, NULL, now);
			}
			emit_claim(rsinfo, &rows[i], type);
			claimed++;
			if (k >= 0)
			{
				if (k == ntaken)
				{
					if (taken == NULL)
						taken = palloc(sizeof(*taken) * Max(n, 1));
					taken[ntaken].ns = c->namespace;
					taken[ntaken].key = c->concurrency_key;
					taken[ntaken++].n = 0;
				}
				taken[k].n++;
			}
		}
		if (ff_deferring())
			ff_defer_flush();
		if (!key_full || n == 0)
			break;
		if (taken != NULL)
			pfree(taken);
		taken = NULL;
	}
	SPI_finish();
	return (Datum) 0;
}

/*
 * ff_promote_delayed_id
 *		The delayed promoter's per-item step (behaviour/execution §3.13).  attempt_state is
 *		preserved: it decides the next claim's path and attempt type.  SPI
 *		connected; fills *r.
 */
void
ff_promote_delayed_id(ExecId id, int64 now, FFResult *r)
{
	ExecCore	c;
	const char *outcome;

	if (!ff_core_lock(id, &c))
		outcome = "not_found_cleaned";
	else if (c.lifecycle_phase != PHASE_RUNNABLE)
		outcome = "not_runnable_cleaned";
	else if (c.eligibility_state != ELIG_NOT_ELIGIBLE_UNTIL_TIME)
		outcome = "not_delayed_cleaned";
	else if (c.delay_until != FF_NULL && c.delay_until > now)
		outcome = "not_yet_due";
	else
	{
		ff_core_set_vector(&c, PHASE_RUNNABLE, OWN_UNOWNED, ELIG_ELIGIBLE_NOW,
						   BLOCK_WAITING_FOR_WORKER, NULL, OUTCOME_NONE, c.attempt_state);
		c.delay_until = FF_NULL;
		c.last_transition_at = now;
		c.last_mutation_at = now;
		ff_core_store(&c);
		outcome = "promoted";
	}
	ffr_ok(r, "OK");
	ffr_text(r, "result", outcome);
}

/* ff.promote_delayed(execution_id, now_ms) */
Datum
ff_promote_delayed(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	int64		now = PG_ARGISNULL(1) ? ff_now_ms() : PG_GETARG_INT64(1);
	FFResult	r;

	ff_spi_connect();
	ff_promote_delayed_id(id, now, &r);
	FF_RETURN_RESULT(&r);
}

PG_FUNCTION_INFO_V1(ff_lane_channel_sql);

/*
 * ff.lane_channel(lane_id) -> text
 *		The channel that announces work on a lane: LISTEN to it and claim
 *		when woken (an execution of the lane became claimable).
 */
Datum
ff_lane_channel_sql(PG_FUNCTION_ARGS)
{
	char	   *lane = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_TEXT_P(cstring_to_text(ff_lane_channel(lane)));
}
