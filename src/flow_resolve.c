/*-------------------------------------------------------------------------
 *
 * flow_resolve.c
 *	  Dependency edges on the child side (behaviour/flows §3.6, §3.8, §5):
 *	  applying an edge to a child, resolving it when its upstream ends
 *	  (all_of, any_of and quorum groups, RFC-016) and the skip transition.
 *	  The completion events that drive resolution are dispatched by
 *	  flow_completion.c, which calls ff_cascade_completion here.
 *
 *	  Lock order: the edge group row, then the downstream execution row
 *	  (then its own dependency rows).  Every resolution into one downstream
 *	  serialises on its group row, which is what keeps the counters exact
 *	  (Invariant Q2).  Re-delivery of a completion is harmless: an edge is
 *	  resolved once, later resolutions answer already_resolved.
 *
 *	  Completion dispatch: each undispatched completion event is handled in
 *	  its own subtransaction (resolve every outgoing edge of the execution,
 *	  then mark the event processed), so a crash never loses work and a
 *	  failing event does not block the others.  A skip writes its own
 *	  completion event, so a cascade proceeds level by level with no depth
 *	  limit.
 *
 * IDENTIFICATION
 *	  src/flow_resolve.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "core_clock.h"
#include "flow_completion.h"
#include "flow_resolve.h"
#include "exec_core.h"
#include "ff_engine.h"
#include "exec_lease.h"
#include "core_partition.h"
#include "core_spi.h"
#include "core_validate.h"

PG_FUNCTION_INFO_V1(ff_apply_dependency_to_child);
PG_FUNCTION_INFO_V1(ff_resolve_dependency);
PG_FUNCTION_INFO_V1(ff_reconcile_dependencies_of);

#define FF_RECONCILE_EDGES_PER_CHILD 20

/* ---- statements ---- */

static FFPlan plan_edge_get = {
	"SELECT upstream_execution_id, downstream_execution_id, dependency_kind, data_passing_ref "
	"FROM ff.flow_edge WHERE partition = $1 AND flow_id = $2 AND edge_id = $3",
	3, {INT2OID, UUIDOID, UUIDOID}
};
static FFPlan plan_group_ensure = {
	"INSERT INTO ff.edge_group (partition, flow_id, downstream_execution_id) VALUES ($1, $2, $3) "
	"ON CONFLICT DO NOTHING",
	3, {INT2OID, UUIDOID, UUIDOID}
};
static FFPlan plan_group_lock = {
	"SELECT policy_variant, on_satisfied, k, n, succeeded, failed, skipped, group_state "
	"FROM ff.edge_group WHERE partition = $1 AND flow_id = $2 AND downstream_execution_id = $3 FOR UPDATE",
	3, {INT2OID, UUIDOID, UUIDOID}
};
static FFPlan plan_group_apply = {
	"UPDATE ff.edge_group SET n = n + 1 WHERE partition = $1 AND flow_id = $2 AND downstream_execution_id = $3",
	3, {INT2OID, UUIDOID, UUIDOID}
};
static FFPlan plan_dep_insert = {
	"INSERT INTO ff.dependency (partition, downstream_execution_id, edge_id, flow_id, upstream_execution_id, "
	"dependency_kind, data_passing_ref) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
	7, {INT2OID, UUIDOID, UUIDOID, UUIDOID, UUIDOID, TEXTOID, TEXTOID}
};
static FFPlan plan_dep_lock = {
	"SELECT state, upstream_execution_id, data_passing_ref FROM ff.dependency "
	"WHERE partition = $1 AND downstream_execution_id = $2 AND edge_id = $3 FOR UPDATE",
	3, {INT2OID, UUIDOID, UUIDOID}
};
static FFPlan plan_dep_resolve = {
	"UPDATE ff.dependency SET state = $4, last_resolved_at = $5 "
	"WHERE partition = $1 AND downstream_execution_id = $2 AND edge_id = $3",
	5, {INT2OID, UUIDOID, UUIDOID, TEXTOID, INT8OID}
};
static FFPlan plan_meta_apply = {
	"INSERT INTO ff.dependency_meta AS m (partition, execution_id, flow_id, unsatisfied_required_count, "
	"last_flow_graph_revision, last_dependency_update_at) VALUES ($1, $2, $3, 1, $4, $5) "
	"ON CONFLICT (partition, execution_id) DO UPDATE SET flow_id = EXCLUDED.flow_id, "
	"unsatisfied_required_count = m.unsatisfied_required_count + 1, "
	"last_flow_graph_revision = EXCLUDED.last_flow_graph_revision, "
	"last_dependency_update_at = EXCLUDED.last_dependency_update_at "
	"RETURNING unsatisfied_required_count",
	5, {INT2OID, UUIDOID, UUIDOID, INT8OID, INT8OID}
};
static FFPlan plan_meta_resolve = {
	"UPDATE ff.dependency_meta SET unsatisfied_required_count = unsatisfied_required_count - 1, "
	"impossible_required_count = impossible_required_count + $3, last_dependency_update_at = $4 "
	"WHERE partition = $1 AND execution_id = $2 RETURNING unsatisfied_required_count",
	4, {INT2OID, UUIDOID, INT4OID, INT8OID}
};
static FFPlan plan_group_count = {
	"UPDATE ff.edge_group SET succeeded = succeeded + $4, failed = failed + $5, skipped = skipped + $6 "
	"WHERE partition = $1 AND flow_id = $2 AND downstream_execution_id = $3 "
	"RETURNING n, succeeded, failed, skipped",
	6, {INT2OID, UUIDOID, UUIDOID, INT4OID, INT4OID, INT4OID}
};
static FFPlan plan_group_state = {
	"UPDATE ff.edge_group SET group_state = $4, "
	"satisfied_at = CASE WHEN $4 = 'satisfied' THEN $5 ELSE satisfied_at END "
	"WHERE partition = $1 AND flow_id = $2 AND downstream_execution_id = $3",
	5, {INT2OID, UUIDOID, UUIDOID, TEXTOID, INT8OID}
};
/* the siblings: upstreams of the group's inbound edges not yet terminal */
static FFPlan plan_group_flag = {
	"WITH g AS (UPDATE ff.edge_group SET cancel_siblings_pending = true, cancel_siblings_reason = $4, "
	"cancel_siblings_members = ARRAY(SELECT e.upstream_execution_id FROM ff.flow_edge e "
	"JOIN ff.execution x ON x.partition = e.partition AND x.execution_id = e.upstream_execution_id "
	"WHERE e.partition = $1 AND e.flow_id = $2 AND e.downstream_execution_id = $3 "
	"AND x.lifecycle_phase <> 'terminal' ORDER BY e.created_at, e.edge_id) "
	"WHERE partition = $1 AND flow_id = $2 AND downstream_execution_id = $3 RETURNING 1) "
	"INSERT INTO ff.pending_cancel_group (partition, flow_id, downstream_execution_id, enqueued_at) "
	"SELECT $1, $2, $3, $5 FROM g ON CONFLICT DO NOTHING",
	5, {INT2OID, UUIDOID, UUIDOID, TEXTOID, INT8OID}
};
static FFPlan plan_data_pass = {
	"UPDATE ff.execution_data d SET payload = u.result FROM ff.execution_data u "
	"WHERE d.partition = $1 AND d.execution_id = $2 AND u.partition = $1 AND u.execution_id = $3 "
	"AND u.result IS NOT NULL RETURNING 1",
	3, {INT2OID, UUIDOID, UUIDOID}
};

static inline void
key3(Datum *v, int partition, const pg_uuid_t *a, const pg_uuid_t *b)
{
	v[0] = Int16GetDatum((int16) partition);
	v[1] = UUIDPGetDatum(a);
	v[2] = UUIDPGetDatum(b);
}

/* ---- child transitions ---- */

/*
 * promote_child
 *		blocked_by_dependencies -> eligible, keeping attempt_state and the
 *		FIFO place (behaviour/flows §3.8.3 step 5).  Only a runnable, unowned child that is
 *		still blocked on dependencies moves.
 */
static void
promote_child(ExecCore *c, int64 now)
{
	if (c->lifecycle_phase != PHASE_RUNNABLE || c->ownership_state != OWN_UNOWNED ||
		c->terminal_outcome != OUTCOME_NONE || c->eligibility_state != ELIG_BLOCKED_BY_DEPENDENCIES)
		return;
	ff_core_set_vector(c, PHASE_RUNNABLE, OWN_UNOWNED, ELIG_ELIGIBLE_NOW, BLOCK_WAITING_FOR_WORKER,
					   NULL, OUTCOME_NONE,
					   c->attempt_state == ATT_NONE ? ATT_PENDING_FIRST_ATTEMPT : c->attempt_state);
	c->last_transition_at = now;
	c->last_mutation_at = now;
	ff_core_store(c);
}

/*
 * skip_child
 *		The skip transition (behaviour/flows §3.8.5), done completely (behaviour/flows §C.14): a
 *		running or interrupted attempt ends ended_cancelled with
 *		dependency_impossible and its stream closes, a lease is released,
 *		a grant is deleted, every timer cleared; the child turns terminal
 *		skipped and announces it, so its own downstream edges resolve.
 */
static void
skip_child(ExecCore *c, int64 now)
{
	bool		had_attempt = (c->attempt_state == ATT_RUNNING_ATTEMPT ||
							   c->attempt_state == ATT_ATTEMPT_INTERRUPTED);

	if (had_attempt)
	{
		ff_attempt_end(c, c->current_attempt_index, "ended_cancelled", now, "dependency_impossible", NULL);
		ff_stream_close(c, c->current_attempt_index, "dependency_impossible", now, false);
	}
	if (c->lifecycle_phase == PHASE_ACTIVE)
		ff_lease_release(c, "dependency_impossible", "dependency_impossible", now);
	ff_grant_delete(c);
	ff_core_make_terminal(c, OUTCOME_SKIPPED, now);
	c->attempt_state = had_attempt ? ATT_ATTEMPT_TERMINAL : ATT_NONE;
	ff_core_store(c);
	ff_completion_emit(c, OUTCOME_SKIPPED, now);
}

/* Copies the upstream's result into the child's payload; true when copied. */
static bool
pass_data(ExecCore *child, const pg_uuid_t *upstream)
{
	Datum		v[3];

	key3(v, child->id.partition, &child->id.uuid, upstream);
	return ff_plan_exec(&plan_data_pass, v, NULL, 0) > 0;
}

/* ---- apply ---- */

/*
 * ff_apply_edge
 *		Records a staged edge on its child and blocks the child (behaviour/flows §3.6).
 *		Decisions: the staged edge must exist and match (behaviour/flows §C.6,
 *		invalid_dependency); an any_of/quorum group that already fired
 *		counts the new edge but does not block the child again (C.7); a
 *		delayed or admission-blocked child simply becomes dependency-blocked
 *		(its old queue is left because membership follows the state).
 *		Returns the child's unresolved count, or -1 when nothing was applied
 *		(the envelope in *r says why).
 */
int64
ff_apply_edge(int partition, const pg_uuid_t *flow, const pg_uuid_t *edge_id,
			  const pg_uuid_t *child_uuid, const pg_uuid_t *upstream,
			  int64 graph_revision, int64 now, FFResult *r)
{
	Datum		v[7];
	bool		n[7] = {false};
	ExecCore	c;
	ExecId		cid;
	char	   *kind,
			   *ref;
	char	   *variant,
			   *gstate;
	int64		unresolved;
	bool		isnull;

	/* the staged edge, as given */
	key3(v, partition, flow, edge_id);
	if (ff_plan_exec(&plan_edge_get, v, NULL, 1) == 0 ||
		memcmp(DatumGetUUIDP(ff_col_datum(0, 1, &isnull))->data, upstream->data, UUID_LEN) != 0 ||
		memcmp(DatumGetUUIDP(ff_col_datum(0, 2, &isnull))->data, child_uuid->data, UUID_LEN) != 0)
	{
		ffr_error(r, "invalid_dependency");
		ffr_text(r, "detail", "no staged edge with this id, upstream and downstream");
		return -1;
	}
	kind = ff_col_text(0, 3);
	ref = ff_col_text(0, 4);

	/* group row first, then the child (lock order) */
	key3(v, partition, flow, child_uuid);
	ff_plan_exec(&plan_group_ensure, v, NULL, 0);
	ff_plan_exec(&plan_group_lock, v, NULL, 1);
	variant = ff_col_text(0, 1);
	gstate = ff_col_text(0, 8);

	cid.partition = partition;
	cid.uuid = *child_uuid;
	if (!ff_core_lock(cid, &c))
	{
		ff_result_not_found(r);
		return -1;
	}
	if (c.flow_id.set && memcmp(c.flow_id.v.data, flow->data, UUID_LEN) != 0)
	{
		ffr_error(r, "execution_already_in_flow");
		return -1;
	}

	v[0] = Int16GetDatum((int16) partition);
	v[1] = UUIDPGetDatum(child_uuid);
	v[2] = UUIDPGetDatum(edge_id);
	v[3] = UUIDPGetDatum(flow);
	v[4] = UUIDPGetDatum(upstream);
	v[5] = CStringGetTextDatum(kind);
	v[6] = ref ? CStringGetTextDatum(ref) : (Datum) 0;
	n[6] = (ref == NULL);
	if (ff_plan_exec(&plan_dep_insert, v, n, 0) == 0)
	{
		ffr_ok(r, "OK");
		ffr_text(r, "result", "already_applied");
		return -1;
	}
	key3(v, partition, flow, child_uuid);
	ff_plan_exec(&plan_group_apply, v, NULL, 0);
	v[0] = Int16GetDatum((int16) partition);
	v[1] = UUIDPGetDatum(child_uuid);
	v[2] = UUIDPGetDatum(flow);
	v[3] = Int64GetDatum(graph_revision);
	v[4] = Int64GetDatum(now);
	ff_plan_exec(&plan_meta_apply, v, NULL, 1);
	unresolved = ff_col_int64(0, 1, 0);

	if (c.lifecycle_phase == PHASE_RUNNABLE && c.terminal_outcome == OUTCOME_NONE &&
		!(strcmp(variant, "all_of") != 0 && strcmp(gstate, "pending") != 0))
	{
		char		eid[37];

		ff_format_uuid(edge_id, eid);
		ff_core_set_vector(&c, PHASE_RUNNABLE, c.ownership_state, ELIG_BLOCKED_BY_DEPENDENCIES,
						   BLOCK_WAITING_FOR_CHILDREN,
						   psprintf(INT64_FORMAT " dep(s) unresolved incl %s", unresolved, eid),
						   OUTCOME_NONE,
						   c.attempt_state == ATT_NONE ? ATT_PENDING_FIRST_ATTEMPT : c.attempt_state);
		c.delay_until = FF_NULL;
		c.last_transition_at = now;
		c.last_mutation_at = now;
		ff_core_store(&c);
	}
	ffr_ok(r, "OK");
	ffr_int(r, "unresolved", unresolved);
	return unresolved;
}

/*
 * ff.apply_dependency_to_child(flow_id, edge_id, downstream_execution_id,
 *		upstream_execution_id, graph_revision)
 */
Datum
ff_apply_dependency_to_child(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *flow = PG_ARGISNULL(0) ? NULL : PG_GETARG_UUID_P(0);
	pg_uuid_t  *edge = PG_ARGISNULL(1) ? NULL : PG_GETARG_UUID_P(1);
	ExecId		down = ff_arg_exec_id(fcinfo, 2, "downstream_execution_id");
	ExecId		up = ff_arg_exec_id(fcinfo, 3, "upstream_execution_id");
	int64		rev = PG_ARGISNULL(4) ? 0 : PG_GETARG_INT64(4);
	FFResult	r;

	if (flow == NULL || edge == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("flow_id and edge_id must not be NULL")));
	ff_spi_connect();
	if (up.partition != down.partition)
		ffr_error(&r, "invalid_dependency");
	else
		ff_apply_edge(down.partition, flow, edge, &down.uuid, &up.uuid, rev, ff_now_ms(), &r);
	FF_RETURN_RESULT(&r);
}

/* ---- resolve ---- */

static void
result_resolved(FFResult *r, const char *state, const char *detail)
{
	ffr_ok(r, "OK");
	ffr_text(r, "result", state);
	ffr_text(r, "detail", detail);
}

/*
 * ff_resolve_edge
 *		Resolves one applied edge after its upstream ended with outcome
 *		(behaviour/flows §3.8).  *skipped tells whether the child was skipped now.
 */
void
ff_resolve_edge(int partition, const pg_uuid_t *flow, const pg_uuid_t *edge_id,
				const pg_uuid_t *child_uuid, TerminalOutcome outcome, int64 now,
				FFResult *r, bool *skipped)
{
	Datum		v[7];
	bool		have_group;
	char	   *variant = NULL,
			   *on_satisfied = NULL,
			   *gstate = NULL,
			   *dep_state,
			   *ref;
	int64		k = 0;
	pg_uuid_t	upstream;
	bool		isnull;
	ExecCore	c;
	ExecId		cid;
	bool		have_child;
	bool		success = (outcome == OUTCOME_SUCCESS);

	*skipped = false;
	/* group row first (lock order), then the dependency and the child */
	key3(v, partition, flow, child_uuid);
	have_group = ff_plan_exec(&plan_group_lock, v, NULL, 1) > 0;
	if (have_group)
	{
		variant = ff_col_text(0, 1);
		on_satisfied = ff_col_text(0, 2);
		k = ff_col_int64(0, 3, 0);
		gstate = ff_col_text(0, 8);
	}
	key3(v, partition, child_uuid, edge_id);
	if (ff_plan_exec(&plan_dep_lock, v, NULL, 1) == 0)
	{
		ffr_error(r, "invalid_dependency");
		return;
	}
	dep_state = ff_col_text(0, 1);
	upstream = *DatumGetUUIDP(ff_col_datum(0, 2, &isnull));
	ref = ff_col_text(0, 3);
	if (strcmp(dep_state, "unsatisfied") != 0)
	{
		ffr_ok(r, "OK");
		ffr_text(r, "result", "already_resolved");
		return;
	}
	cid.partition = partition;
	cid.uuid = *child_uuid;
	have_child = ff_core_lock(cid, &c);

	if (!have_group || strcmp(variant, "all_of") == 0)
	{
		int64		remaining;

		key3(v, partition, child_uuid, edge_id);
		v[3] = CStringGetTextDatum(success ? "satisfied" : "impossible");
		v[4] = Int64GetDatum(now);
		ff_plan_exec(&plan_dep_resolve, v, NULL, 0);
		v[0] = Int16GetDatum((int16) partition);
		v[1] = UUIDPGetDatum(child_uuid);
		v[2] = Int32GetDatum(success ? 0 : 1);
		v[3] = Int64GetDatum(now);
		remaining = ff_plan_exec(&plan_meta_resolve, v, NULL, 1) > 0 ? ff_col_int64(0, 1, 0) : 0;
		if (have_group)
		{
			key3(v, partition, flow, child_uuid);
			v[3] = Int32GetDatum(success ? 1 : 0);
			v[4] = Int32GetDatum(success ? 0 : 1);
			v[5] = Int32GetDatum(0);
			ff_plan_exec(&plan_group_count, v, NULL, 1);
			/* behaviour/flows §C.8: an impossible group stays impossible */
			if (!success || (remaining == 0 && strcmp(gstate, "impossible") != 0))
			{
				key3(v, partition, flow, child_uuid);
				v[3] = CStringGetTextDatum(success ? "satisfied" : "impossible");
				v[4] = Int64GetDatum(now);
				ff_plan_exec(&plan_group_state, v, NULL, 0);
			}
		}
		if (!success)
		{
			if (have_child && c.terminal_outcome == OUTCOME_NONE)
			{
				skip_child(&c, now);
				*skipped = true;
			}
			result_resolved(r, "impossible", *skipped ? "child_skipped" : "");
			return;
		}
		{
			bool		injected = false;

			if (have_child && ref != NULL && c.terminal_outcome == OUTCOME_NONE)
				injected = pass_data(&c, &upstream);
			if (have_child && remaining == 0)
				promote_child(&c, now);
			result_resolved(r, "satisfied", injected ? "data_injected" : "");
		}
		return;
	}

	/* any_of / quorum: the four-counter model */
	{
		int			bucket_s = success ? 1 : 0,
					bucket_k = (outcome == OUTCOME_SKIPPED) ? 1 : 0,
					bucket_f = (!success && outcome != OUTCOME_SKIPPED) ? 1 : 0;
		int64		gn,
					gs,
					gf,
					gk;
		int64		keff = strcmp(variant, "any_of") == 0 ? 1 : Max(k, 1);
		const char *flip = NULL;

		key3(v, partition, child_uuid, edge_id);
		v[3] = CStringGetTextDatum(success ? "satisfied" : "impossible");
		v[4] = Int64GetDatum(now);
		ff_plan_exec(&plan_dep_resolve, v, NULL, 0);
		key3(v, partition, flow, child_uuid);
		v[3] = Int32GetDatum(bucket_s);
		v[4] = Int32GetDatum(bucket_f);
		v[5] = Int32GetDatum(bucket_k);
		ff_plan_exec(&plan_group_count, v, NULL, 1);
		gn = ff_col_int64(0, 1, 0);
		gs = ff_col_int64(0, 2, 0);
		gf = ff_col_int64(0, 3, 0);
		gk = ff_col_int64(0, 4, 0);
		if (gs + gf + gk > gn)
		{
			/* Q2: the writes above stay (behaviour/flows §C.20: as the reference) */
			ffr_error(r, "invariant_violation");
			ffr_text(r, "detail", psprintf("edgegroup counters exceed n: " INT64_FORMAT "/" INT64_FORMAT,
										   gs + gf + gk, gn));
			return;
		}
		if (strcmp(gstate, "pending") != 0)
		{
			result_resolved(r, "already_fired", "");	/* Q1 */
			return;
		}
		if (gs >= keff)
			flip = "satisfied";
		else if (gf + gk > gn - keff)
			flip = "impossible";
		else
		{
			result_resolved(r, "pending", "");
			return;
		}
		key3(v, partition, flow, child_uuid);
		v[3] = CStringGetTextDatum(flip);
		v[4] = Int64GetDatum(now);
		ff_plan_exec(&plan_group_state, v, NULL, 0);
		if (on_satisfied != NULL && strcmp(on_satisfied, "cancel_remaining") == 0)
		{
			key3(v, partition, flow, child_uuid);
			v[3] = CStringGetTextDatum(strcmp(flip, "satisfied") == 0 ?
									   "sibling_quorum_satisfied" : "sibling_quorum_impossible");
			v[4] = Int64GetDatum(now);
			ff_plan_exec(&plan_group_flag, v, NULL, 0);
			ff_wake_engine_at_commit();
		}
		if (!have_child)
		{
			result_resolved(r, flip, "");
			return;
		}
		if (strcmp(flip, "satisfied") == 0)
		{
			bool		injected = false;

			if (ref != NULL && c.terminal_outcome == OUTCOME_NONE)
				injected = pass_data(&c, &upstream);
			promote_child(&c, now);
			result_resolved(r, "satisfied", injected ? "data_injected" : "");
		}
		else
		{
			if (c.terminal_outcome == OUTCOME_NONE)
			{
				skip_child(&c, now);
				*skipped = true;
			}
			result_resolved(r, "impossible", *skipped ? "child_skipped" : "");
		}
	}
}

static FFPlan plan_upstream_outcome = {
	"SELECT lifecycle_phase::text, terminal_outcome::text FROM ff.execution "
	"WHERE partition = $1 AND execution_id = $2",
	2, {INT2OID, UUIDOID}
};

/*
 * The upstream's outcome when it is terminal; false otherwise (behaviour/flows §C.15: an event for an execution no longer terminal resolves nothing).
 */
static bool
upstream_outcome(int partition, const pg_uuid_t *upstream, TerminalOutcome *out)
{
	Datum		v[2];

	v[0] = Int16GetDatum((int16) partition);
	v[1] = UUIDPGetDatum(upstream);
	if (ff_plan_exec(&plan_upstream_outcome, v, NULL, 1) == 0 ||
		strcmp(ff_col_text(0, 1), "terminal") != 0)
		return false;
	*out = (TerminalOutcome) ff_label_lookup(ff_outcome_labels, ff_col_text(0, 2));
	return true;
}

/*
 * ff.resolve_dependency(flow_id, edge_id, upstream_outcome)
 *		Resolves one edge; the outcome defaults to the upstream's actual
 *		terminal outcome (nothing happens while it is not terminal).
 */
Datum
ff_resolve_dependency(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *flow = PG_ARGISNULL(0) ? NULL : PG_GETARG_UUID_P(0);
	pg_uuid_t  *edge = PG_ARGISNULL(1) ? NULL : PG_GETARG_UUID_P(1);
	char	   *given = ff_arg_text_opt(fcinfo, 2);
	int64		now = ff_now_ms();
	TerminalOutcome outcome = OUTCOME_NONE;
	FFResult	r;
	bool		skipped,
				isnull;
	Datum		v[3];
	int			partition;
	pg_uuid_t	up,
				down;

	if (flow == NULL || edge == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("flow_id and edge_id must not be NULL")));
	if (given != NULL && ff_label_lookup(ff_outcome_labels, given) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("upstream_outcome must be a terminal outcome, got \"%s\"", given)));
	partition = ff_uuid_flow_partition(flow);
	ff_spi_connect();
	key3(v, partition, flow, edge);
	if (ff_plan_exec(&plan_edge_get, v, NULL, 1) == 0)
	{
		ffr_error(&r, "invalid_dependency");
		FF_RETURN_RESULT(&r);
	}
	up = *DatumGetUUIDP(ff_col_datum(0, 1, &isnull));
	down = *DatumGetUUIDP(ff_col_datum(0, 2, &isnull));
	if (given != NULL)
		outcome = (TerminalOutcome) ff_label_lookup(ff_outcome_labels, given);
	else if (!upstream_outcome(partition, &up, &outcome))
	{
		ffr_ok(&r, "OK");
		ffr_text(&r, "result", "upstream_not_terminal");
		FF_RETURN_RESULT(&r);
	}
	ff_resolve_edge(partition, flow, edge, &down, outcome, now, &r, &skipped);
	FF_RETURN_RESULT(&r);
}

/* ---- dispatch of completion events ---- */

static FFPlan plan_out_edges = {
	"SELECT edge_id, downstream_execution_id FROM ff.flow_edge "
	"WHERE partition = $1 AND flow_id = $2 AND upstream_execution_id = $3 ORDER BY edge_id",
	3, {INT2OID, UUIDOID, UUIDOID}
};

/*
 * ff_cascade_completion
 *		Resolves every outgoing edge of an execution that ended; returns how
 *		many edges were resolved.
 */
int
ff_cascade_completion(int partition, const pg_uuid_t *flow, const pg_uuid_t *upstream, int64 now)
{
	TerminalOutcome outcome;
	Datum		v[3];
	uint64		n,
				i;
	pg_uuid_t  *edges,
			   *downs;
	int			resolved = 0;
	bool		isnull;

	if (!upstream_outcome(partition, upstream, &outcome))
		return 0;
	key3(v, partition, flow, upstream);
	n = ff_plan_exec(&plan_out_edges, v, NULL, 0);
	edges = palloc(sizeof(pg_uuid_t) * Max(n, 1));
	downs = palloc(sizeof(pg_uuid_t) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		edges[i] = *DatumGetUUIDP(ff_col_datum((int) i, 1, &isnull));
		downs[i] = *DatumGetUUIDP(ff_col_datum((int) i, 2, &isnull));
	}
	for (i = 0; i < n; i++)
	{
		FFResult	r;
		bool		skipped;

		ff_resolve_edge(partition, flow, &edges[i], &downs[i], outcome, now, &r, &skipped);
		resolved++;
	}
	return resolved;
}

static FFPlan plan_child_ripe = {
	"SELECT d.flow_id, d.edge_id, u.terminal_outcome::text FROM ff.dependency d "
	"JOIN ff.execution u ON u.partition = d.partition AND u.execution_id = d.upstream_execution_id "
	"WHERE d.partition = $1 AND d.downstream_execution_id = $2 AND d.state = 'unsatisfied' "
	"AND u.lifecycle_phase = 'terminal' ORDER BY d.edge_id LIMIT $3",
	3, {INT2OID, UUIDOID, INT4OID}
};

/*
 * ff_reconcile_dependencies_id
 *		The dependency reconciler's step for one child (behaviour/flows §6.1): resolves up
 *		to 20 of its unresolved edges whose upstream already ended; returns
 *		how many.  SPI connected.
 */
int
ff_reconcile_dependencies_id(ExecId id, int64 now)
{
	Datum		v[3];
	uint64		n,
				i;
	pg_uuid_t  *flows,
			   *edges;
	TerminalOutcome *outcomes;
	bool		isnull;

	v[0] = Int16GetDatum((int16) id.partition);
	v[1] = UUIDPGetDatum(&id.uuid);
	v[2] = Int32GetDatum(FF_RECONCILE_EDGES_PER_CHILD);
	n = ff_plan_exec(&plan_child_ripe, v, NULL, 0);
	flows = palloc(sizeof(pg_uuid_t) * Max(n, 1));
	edges = palloc(sizeof(pg_uuid_t) * Max(n, 1));
	outcomes = palloc(sizeof(TerminalOutcome) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		flows[i] = *DatumGetUUIDP(ff_col_datum((int) i, 1, &isnull));
		edges[i] = *DatumGetUUIDP(ff_col_datum((int) i, 2, &isnull));
		outcomes[i] = (TerminalOutcome) ff_label_lookup(ff_outcome_labels, ff_col_text((int) i, 3));
	}
	for (i = 0; i < n; i++)
	{
		FFResult	r;
		bool		skipped;

		ff_resolve_edge(id.partition, &flows[i], &edges[i], &id.uuid, outcomes[i], now, &r, &skipped);
	}
	return (int) n;
}

/* ff._reconcile_dependencies_of(execution_id) -> integer */
Datum
ff_reconcile_dependencies_of(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	int			n;

	ff_spi_connect();
	n = ff_reconcile_dependencies_id(id, ff_now_ms());
	SPI_finish();
	PG_RETURN_INT32(n);
}
