/*-------------------------------------------------------------------------
 *
 * flow_ops.c
 *	  Flows (behaviour/flows §3.1-§3.5, §3.7, §3.12): creating a flow,
 *	  adding members, tags, edge-group policies, staging edges (with the
 *	  cycle check), the atomic add_dependency, and cancelling a flow.
 *
 *	  A flow and all its members share one partition (RFC-011), so every
 *	  operation here is partition-local.  Lock order: the flow row first,
 *	  then execution rows (ascending execution id when several).
 *
 * IDENTIFICATION
 *	  src/flow_ops.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "core_clock.h"
#include "flow_resolve.h"
#include "exec_core.h"
#include "flow_completion.h"
#include "exec_ops.h"
#include "ff_engine.h"
#include "exec_lease.h"
#include "core_partition.h"
#include "core_spi.h"
#include "core_tenant.h"
#include "core_validate.h"

PG_FUNCTION_INFO_V1(ff_create_flow);
PG_FUNCTION_INFO_V1(ff_add_execution_to_flow);
PG_FUNCTION_INFO_V1(ff_set_flow_tags);
PG_FUNCTION_INFO_V1(ff_set_edge_group_policy);
PG_FUNCTION_INFO_V1(ff_stage_dependency_edge);
PG_FUNCTION_INFO_V1(ff_add_dependency);
PG_FUNCTION_INFO_V1(ff_cancel_flow);
PG_FUNCTION_INFO_V1(ff_ack_cancel_member);

#define FF_MAX_CYCLE_CHECK_NODES 1000
#define FF_DEFAULT_CANCEL_GRACE_MS 30000
#define FF_QUORUM_K_MAX 2147483647

/* The flow row, locked. */
typedef struct FlowRow
{
	int			partition;
	pg_uuid_t	id;
	char	   *state;
	int64		graph_revision;
	int64		node_count;
	char	   *cancel_reason;
	char	   *cancellation_policy;
	char	   *namespace;
} FlowRow;

static FFPlan plan_flow_lock = {
	"SELECT public_flow_state, graph_revision, node_count, cancel_reason, cancellation_policy, namespace "
	"FROM ff.flow WHERE partition = $1 AND flow_id = $2 FOR UPDATE",
	2, {INT2OID, UUIDOID}
};

static pg_uuid_t *
flow_arg(FunctionCallInfo fcinfo, int n)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("flow_id must not be NULL")));
	return PG_GETARG_UUID_P(n);
}

/*
 * flow_lock
 *		Lock and read the flow row; false when it does not exist, or belongs
 *		to a namespace the caller is not bound to (checked before locking).
 */
static bool
flow_lock(const pg_uuid_t *flow, FlowRow *f)
{
	Datum		v[2];

	f->partition = ff_uuid_flow_partition(flow);
	f->id = *flow;
	if (!ff_flow_visible(f->partition, flow))
		return false;
	v[0] = Int16GetDatum((int16) f->partition);
	v[1] = UUIDPGetDatum(flow);
	if (ff_plan_exec(&plan_flow_lock, v, NULL, 1) == 0)
		return false;
	f->state = ff_col_text(0, 1);
	f->graph_revision = ff_col_int64(0, 2, 0);
	f->node_count = ff_col_int64(0, 3, 0);
	f->cancel_reason = ff_col_text(0, 4);
	f->cancellation_policy = ff_col_text(0, 5);
	f->namespace = ff_col_text(0, 6);
	return true;
}

static inline bool
flow_terminal(const FlowRow *f)
{
	return strcmp(f->state, "open") != 0;
}

/* ---- create, membership, tags ---- */

static FFPlan plan_flow_insert = {
	"INSERT INTO ff.flow (partition, flow_id, flow_kind, namespace, created_at, last_mutation_at) "
	"VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT DO NOTHING",
	5, {INT2OID, UUIDOID, TEXTOID, TEXTOID, INT8OID}
};

/*
 * ff.create_flow(flow_id, flow_kind, namespace) (behaviour/flows §3.1)
 *		A second call is ALREADY_SATISFIED and changes nothing.
 */
Datum
ff_create_flow(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *flow = flow_arg(fcinfo, 0);
	char	   *kind = PG_ARGISNULL(1) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *ns = ff_arg_text(fcinfo, 2, "namespace");
	int			partition = ff_uuid_flow_partition(flow);
	Datum		v[5];
	FFResult	r;

	ff_check_max_len(kind, FF_MAX_ID_BYTES, "flow_kind");
	ff_check_max_len(ns, FF_MAX_ID_BYTES, "namespace");
	ff_spi_connect();
	ff_namespace_require(ns);
	v[0] = Int16GetDatum((int16) partition);
	v[1] = UUIDPGetDatum(flow);
	v[2] = CStringGetTextDatum(kind);
	v[3] = CStringGetTextDatum(ns);
	v[4] = Int64GetDatum(ff_now_ms());
	ffr_ok(&r, ff_plan_exec(&plan_flow_insert, v, NULL, 0) > 0 ? "OK" : "ALREADY_SATISFIED");
	ffr_uuid(&r, "flow_id", flow);
	ffr_int(&r, "partition", partition);
	FF_RETURN_RESULT(&r);
}

static FFPlan plan_flow_member_added = {
	"UPDATE ff.flow SET node_count = node_count + 1, graph_revision = graph_revision + 1, "
	"last_mutation_at = $3, in_flow_index = true WHERE partition = $1 AND flow_id = $2 RETURNING node_count",
	3, {INT2OID, UUIDOID, INT8OID}
};

/*
 * ff.add_execution_to_flow(flow_id, execution_id) (behaviour/flows §3.2)
 *		The execution must have been minted in the flow's partition
 *		(ff.flow_member_execution_id) and be of the flow's namespace (a
 *		decision of this port: a flow is one tenant's); one that is active
 *		or suspended joins only by an administrator's call (cancel_flow
 *		cancels members without their leases).  It belongs to one flow for
 *		good.
 */
Datum
ff_add_execution_to_flow(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *flow = flow_arg(fcinfo, 0);
	ExecId		id = ff_arg_exec_id(fcinfo, 1, "execution_id");
	int64		now = ff_now_ms();
	FlowRow		f;
	ExecCore	c;
	FFResult	r;

	ff_spi_connect();
	if (id.partition != ff_uuid_flow_partition(flow))
	{
		ffr_error(&r, "partition_mismatch");
		ffr_int(&r, "execution_partition", id.partition);
		ffr_int(&r, "flow_partition", ff_uuid_flow_partition(flow));
	}
	else if (!flow_lock(flow, &f))
		ffr_error(&r, "flow_not_found");
	else if (flow_terminal(&f))
		ffr_error(&r, "flow_already_terminal");
	else if (!ff_core_lock(id, &c))
		ff_result_not_found(&r);
	else if (c.flow_id.set && memcmp(c.flow_id.v.data, flow->data, UUID_LEN) == 0)
	{
		ffr_ok(&r, "ALREADY_SATISFIED");
		ffr_exec_id(&r, "execution_id", id.partition, &id.uuid);
		ffr_int(&r, "node_count", f.node_count);
	}
	else if (c.flow_id.set)
	{
		ffr_error(&r, "already_member_of_different_flow");
		ffr_uuid(&r, "detail", &c.flow_id.v);
	}
	else if ((c.lifecycle_phase == PHASE_ACTIVE || c.lifecycle_phase == PHASE_SUSPENDED) &&
			 !ff_caller_is_admin())
	{
		/*
		 * cancel_flow cancels its members without their leases: a submitter
		 * may put only work that has not started under a flow, or it could
		 * adopt a running execution to cancel it (that needs ff_admin)
		 */
		ff_require_admin("adding a started execution to a flow");
	}
	else if (strcmp(c.namespace, f.namespace) != 0)
	{
		/* a flow is one tenant's: its members share its namespace */
		ffr_error(&r, "namespace_mismatch");
		ffr_text(&r, "execution_namespace", c.namespace);
		ffr_text(&r, "flow_namespace", f.namespace);
	}
	else
	{
		Datum		v[3];

		c.flow_id.set = true;
		c.flow_id.v = *flow;
		ff_core_store(&c);
		v[0] = Int16GetDatum((int16) f.partition);
		v[1] = UUIDPGetDatum(flow);
		v[2] = Int64GetDatum(now);
		ff_plan_exec(&plan_flow_member_added, v, NULL, 1);
		ffr_ok(&r, "OK");
		ffr_exec_id(&r, "execution_id", id.partition, &id.uuid);
		ffr_int(&r, "node_count", ff_col_int64(0, 1, 0));
	}
	FF_RETURN_RESULT(&r);
}

static FFPlan plan_flow_tags = {
	"UPDATE ff.flow SET tags = tags || pg_catalog.jsonb_object($3), last_mutation_at = $4 "
	"WHERE partition = $1 AND flow_id = $2",
	4, {INT2OID, UUIDOID, TEXTARRAYOID, INT8OID}
};

/* ff.set_flow_tags(flow_id, VARIADIC pairs) (behaviour/flows §3.3): keys like app.field */
Datum
ff_set_flow_tags(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *flow = flow_arg(fcinfo, 0);
	ArrayType  *pairs = PG_ARGISNULL(1) ? NULL : PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *elems;
	int			nelems = ff_tag_pairs(pairs, &elems);
	FlowRow		f;
	FFResult	r;
	Datum		v[4];

	ff_spi_connect();
	if (ff_tag_pairs_refused(nelems, &r))
		FF_RETURN_RESULT(&r);
	if (!flow_lock(flow, &f))
	{
		ffr_error(&r, "flow_not_found");
		FF_RETURN_RESULT(&r);
	}
	if (ff_tag_keys_refused(elems, nelems, &r))
		FF_RETURN_RESULT(&r);
	v[0] = Int16GetDatum((int16) f.partition);
	v[1] = UUIDPGetDatum(flow);
	v[2] = PointerGetDatum(pairs);
	v[3] = Int64GetDatum(ff_now_ms());
	ff_plan_exec(&plan_flow_tags, v, NULL, 0);
	ffr_ok(&r, "OK");
	ffr_int(&r, "count", nelems / 2);
	FF_RETURN_RESULT(&r);
}

/* ---- edge-group policy ---- */

static FFPlan plan_group_get = {
	"SELECT policy_variant, n FROM ff.edge_group "
	"WHERE partition = $1 AND flow_id = $2 AND downstream_execution_id = $3 FOR UPDATE",
	3, {INT2OID, UUIDOID, UUIDOID}
};
static FFPlan plan_group_set = {
	"INSERT INTO ff.edge_group AS g (partition, flow_id, downstream_execution_id, policy_variant, "
	"on_satisfied, k, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
	"ON CONFLICT (partition, flow_id, downstream_execution_id) DO UPDATE SET "
	"policy_variant = EXCLUDED.policy_variant, on_satisfied = EXCLUDED.on_satisfied, k = EXCLUDED.k, "
	"n = 0, succeeded = 0, failed = 0, skipped = 0, group_state = 'pending', created_at = EXCLUDED.created_at",
	7, {INT2OID, UUIDOID, UUIDOID, TEXTOID, TEXTOID, INT4OID, INT8OID}
};

static inline void
invalid_input(FFResult *r, const char *detail)
{
	ffr_error_detail(r, "invalid_input", detail);
}

/*
 * ff.set_edge_group_policy(flow_id, downstream_execution_id, policy_variant,
 *		on_satisfied, k) (behaviour/flows §3.4)
 *		Before the first edge is applied to the downstream; afterwards the
 *		policy is fixed.  The same variant again is already_set (the first
 *		k and on_satisfied win).
 */
Datum
ff_set_edge_group_policy(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *flow = flow_arg(fcinfo, 0);
	ExecId		down = ff_arg_exec_id(fcinfo, 1, "downstream_execution_id");
	char	   *variant = ff_arg_text(fcinfo, 2, "policy_variant");
	char	   *on_satisfied = ff_arg_text_opt(fcinfo, 3);
	int64		k = PG_ARGISNULL(4) ? 0 : PG_GETARG_INT64(4);
	bool		quorum = strcmp(variant, "quorum") == 0;
	bool		all_of = strcmp(variant, "all_of") == 0;
	FlowRow		f;
	FFResult	r;
	Datum		v[7];
	bool		n[7] = {false};

	ff_spi_connect();
	if (quorum && k < 1)
		invalid_input(&r, "quorum k must be >= 1");
	else if (quorum && k > FF_QUORUM_K_MAX)
		invalid_input(&r, "quorum k exceeds supported maximum");
	else if (!flow_lock(flow, &f))
		ffr_error(&r, "flow_not_found");
	else if (!all_of && !quorum && strcmp(variant, "any_of") != 0)
		invalid_input(&r, psprintf("unsupported_policy_variant: %s", variant));
	else if (!all_of && (on_satisfied == NULL ||
						 (strcmp(on_satisfied, "cancel_remaining") != 0 && strcmp(on_satisfied, "let_run") != 0)))
		invalid_input(&r, "on_satisfied required for any_of/quorum: cancel_remaining | let_run");
	else
	{
		bool		exists;

		v[0] = Int16GetDatum((int16) down.partition);
		v[1] = UUIDPGetDatum(flow);
		v[2] = UUIDPGetDatum(&down.uuid);
		exists = ff_plan_exec(&plan_group_get, v, NULL, 1) > 0;
		if (exists && ff_col_int64(0, 2, 0) > 0)
			invalid_input(&r, "edge_group_policy_already_fixed: dependencies already staged");
		else if (exists && strcmp(ff_col_text(0, 1), variant) == 0)
		{
			ffr_ok(&r, "OK");
			ffr_text(&r, "result", "already_set");
		}
		else
		{
			v[3] = CStringGetTextDatum(variant);
			v[4] = all_of ? (Datum) 0 : CStringGetTextDatum(on_satisfied);
			n[4] = all_of;
			v[5] = Int32GetDatum(quorum ? (int32) k : 0);
			v[6] = Int64GetDatum(ff_now_ms());
			ff_plan_exec(&plan_group_set, v, n, 0);
			ffr_ok(&r, "OK");
			ffr_text(&r, "result", "set");
		}
	}
	FF_RETURN_RESULT(&r);
}

/* ---- staging ---- */

static FFPlan plan_is_member = {
	"SELECT count(*) FROM ff.execution WHERE partition = $1 AND flow_id = $2 "
	"AND execution_id IN ($3, $4)",
	4, {INT2OID, UUIDOID, UUIDOID, UUIDOID}
};
/*
 * Would upstream -> downstream close a loop: is upstream reachable from
 * downstream?  At most 1000 distinct nodes are examined; a graph that
 * reaches more is refused as a cycle (behaviour/flows §3.5.1, conservatively).
 */
static FFPlan plan_reach = {
	"WITH RECURSIVE reach(node) AS (SELECT $3::uuid UNION SELECT e.downstream_execution_id "
	"FROM ff.flow_edge e JOIN reach r ON e.partition = $1 AND e.flow_id = $2 "
	"AND e.upstream_execution_id = r.node) "
	"SELECT coalesce(bool_or(node = $4), false), count(*) FROM (SELECT node FROM reach LIMIT 1001) x",
	4, {INT2OID, UUIDOID, UUIDOID, UUIDOID}
};
static FFPlan plan_edge_insert = {
	"INSERT INTO ff.flow_edge (partition, flow_id, edge_id, upstream_execution_id, downstream_execution_id, "
	"dependency_kind, data_passing_ref, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
	"ON CONFLICT DO NOTHING",
	8, {INT2OID, UUIDOID, UUIDOID, UUIDOID, UUIDOID, TEXTOID, TEXTOID, INT8OID}
};
static FFPlan plan_flow_edge_added = {
	"UPDATE ff.flow SET graph_revision = graph_revision + 1, edge_count = edge_count + 1, "
	"last_mutation_at = $3 WHERE partition = $1 AND flow_id = $2 RETURNING graph_revision",
	3, {INT2OID, UUIDOID, INT8OID}
};

/*
 * stage_edge
 *		The flow-side edge (behaviour/flows §3.5).  expected_revision < 0 means "the current
 *		revision" (add_dependency holds the flow lock, so nothing moves).
 *		Returns the new graph revision, or -1 with the error in *r.
 */
static int64
stage_edge(const pg_uuid_t *flow, const pg_uuid_t *edge, ExecId up, ExecId down,
		   int64 expected_revision, const char *kind, const char *ref, int64 now, FFResult *r)
{
	FlowRow		f;
	Datum		v[8];
	bool		n[8] = {false};

	if (memcmp(up.uuid.data, down.uuid.data, UUID_LEN) == 0)
	{
		ffr_error(r, "self_referencing_edge");
		return -1;
	}
	if (!flow_lock(flow, &f))
	{
		ffr_error(r, "flow_not_found");
		return -1;
	}
	if (flow_terminal(&f))
	{
		ffr_error(r, "flow_already_terminal");
		return -1;
	}
	if (expected_revision >= 0 && expected_revision != f.graph_revision)
	{
		ffr_error(r, "stale_graph_revision");
		ffr_int(r, "graph_revision", f.graph_revision);
		return -1;
	}
	v[0] = Int16GetDatum((int16) f.partition);
	v[1] = UUIDPGetDatum(flow);
	v[2] = UUIDPGetDatum(&up.uuid);
	v[3] = UUIDPGetDatum(&down.uuid);
	ff_plan_exec(&plan_is_member, v, NULL, 1);
	if (up.partition != f.partition || down.partition != f.partition || ff_col_int64(0, 1, 0) != 2)
	{
		ffr_error(r, "execution_not_in_flow");
		return -1;
	}
	v[2] = UUIDPGetDatum(&down.uuid);
	v[3] = UUIDPGetDatum(&up.uuid);
	ff_plan_exec(&plan_reach, v, NULL, 1);
	if (ff_col_bool(0, 1) || ff_col_int64(0, 2, 0) > FF_MAX_CYCLE_CHECK_NODES)
	{
		ffr_error(r, "cycle_detected");
		return -1;
	}
	v[2] = UUIDPGetDatum(edge);
	v[3] = UUIDPGetDatum(&up.uuid);
	v[4] = UUIDPGetDatum(&down.uuid);
	v[5] = CStringGetTextDatum(kind);
	v[6] = ref ? CStringGetTextDatum(ref) : (Datum) 0;
	n[6] = (ref == NULL);
	v[7] = Int64GetDatum(now);
	if (ff_plan_exec(&plan_edge_insert, v, n, 0) == 0)
	{
		ffr_error(r, "dependency_already_exists");
		return -1;
	}
	v[2] = Int64GetDatum(now);
	ff_plan_exec(&plan_flow_edge_added, v, NULL, 1);
	return ff_col_int64(0, 1, 0);
}

/*
 * ff.stage_dependency_edge(flow_id, edge_id, upstream_execution_id,
 *		downstream_execution_id, expected_graph_revision, dependency_kind,
 *		data_passing_ref) (behaviour/flows §3.5)
 */
Datum
ff_stage_dependency_edge(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *flow = flow_arg(fcinfo, 0);
	pg_uuid_t  *edge = PG_ARGISNULL(1) ? NULL : PG_GETARG_UUID_P(1);
	ExecId		up = ff_arg_exec_id(fcinfo, 2, "upstream_execution_id");
	ExecId		down = ff_arg_exec_id(fcinfo, 3, "downstream_execution_id");
	int64		expected = ff_arg_int64(fcinfo, 4, "expected_graph_revision");
	char	   *kind = PG_ARGISNULL(5) ? "success_only" : text_to_cstring(PG_GETARG_TEXT_PP(5));
	char	   *ref = ff_arg_text_opt(fcinfo, 6);
	FFResult	r;
	int64		rev;

	if (edge == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("edge_id must not be NULL")));
	ff_check_nonnegative(expected, "expected_graph_revision");
	ff_check_max_len(kind, 256, "dependency_kind");
	ff_check_max_len(ref, 1024, "data_passing_ref");
	ff_spi_connect();
	if ((rev = stage_edge(flow, edge, up, down, expected, kind, ref, ff_now_ms(), &r)) >= 0)
	{
		ffr_ok(&r, "OK");
		ffr_uuid(&r, "edge_id", edge);
		ffr_int(&r, "graph_revision", rev);
	}
	FF_RETURN_RESULT(&r);
}

/*
 * ff.add_dependency(flow_id, upstream_execution_id, downstream_execution_id,
 *		edge_id, dependency_kind, data_passing_ref, expected_graph_revision)
 *		Stage and apply in one transaction (behaviour/flows §3.7): the child is blocked the
 *		moment the edge exists.  The edge id is minted when NULL; the
 *		expected revision defaults to the current one.
 */
Datum
ff_add_dependency(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *flow = flow_arg(fcinfo, 0);
	ExecId		up = ff_arg_exec_id(fcinfo, 1, "upstream_execution_id");
	ExecId		down = ff_arg_exec_id(fcinfo, 2, "downstream_execution_id");
	pg_uuid_t	edge;
	char	   *kind = PG_ARGISNULL(4) ? "success_only" : text_to_cstring(PG_GETARG_TEXT_PP(4));
	char	   *ref = ff_arg_text_opt(fcinfo, 5);
	int64		expected = PG_ARGISNULL(6) ? -1 : PG_GETARG_INT64(6);
	int64		now = ff_now_ms();
	FFResult	r,
				applied;
	int64		rev;

	if (PG_ARGISNULL(3))
		ff_mint_uuid(&edge);
	else
		edge = *PG_GETARG_UUID_P(3);
	ff_check_max_len(kind, 256, "dependency_kind");
	ff_check_max_len(ref, 1024, "data_passing_ref");
	ff_spi_connect();
	if ((rev = stage_edge(flow, &edge, up, down, expected, kind, ref, now, &r)) >= 0)
	{
		/* members of an open flow, a fresh edge: applying cannot fail now */
		int64		unresolved = ff_apply_edge(down.partition, flow, &edge, &down.uuid, &up.uuid,
											   rev, now, &applied);

		if (unresolved < 0)
			elog(ERROR, "applying a freshly staged edge failed");
		ffr_ok(&r, "OK");
		ffr_uuid(&r, "edge_id", &edge);
		ffr_int(&r, "graph_revision", rev);
		ffr_int(&r, "unresolved", unresolved);
	}
	FF_RETURN_RESULT(&r);
}

/* ---- cancel ---- */

static FFPlan plan_flow_cancel = {
	"UPDATE ff.flow SET public_flow_state = 'cancelled', cancelled_at = $3, cancel_reason = $4, "
	"cancellation_policy = $5, last_mutation_at = $3 WHERE partition = $1 AND flow_id = $2",
	5, {INT2OID, UUIDOID, INT8OID, TEXTOID, TEXTOID}
};
static FFPlan plan_members = {
	"SELECT execution_id, lifecycle_phase::text FROM ff.execution WHERE partition = $1 AND flow_id = $2 "
	"ORDER BY execution_id",
	2, {INT2OID, UUIDOID}
};
static FFPlan plan_pending_add = {
	"INSERT INTO ff.flow_pending_cancel (partition, flow_id, execution_id) SELECT $1, $2, unnest($3::uuid[]) "
	"ON CONFLICT DO NOTHING",
	3, {INT2OID, UUIDOID, UUIDARRAYOID}
};
static FFPlan plan_backlog_set = {
	"UPDATE ff.flow SET cancel_due_at = $3 WHERE partition = $1 AND flow_id = $2",
	3, {INT2OID, UUIDOID, INT8OID}
};

static void
members_json(FFResult *r, int partition, pg_uuid_t *ids, int n, int cap)
{
	FFResult	list;
	int			i;

	/* an array of ids as a jsonb value */
	list.state = NULL;
	pushJsonbValue(&list.state, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < n && i < cap; i++)
	{
		char	   *s = ff_format_exec_id(partition, &ids[i]);
		JsonbValue	e;

		e.type = jbvString;
		e.val.string.val = s;
		e.val.string.len = strlen(s);
		pushJsonbValue(&list.state, WJB_ELEM, &e);
	}
	ffr_jsonb(r, "members", JsonbValueToJsonb(pushJsonbValue(&list.state, WJB_END_ARRAY, NULL)));
}

/*
 * ff.cancel_flow(flow_id, reason, cancellation_policy, grace_ms, wait)
 *		(behaviour/flows §3.12)  cancel_all: every member; cancel_pending: members still
 *		runnable (behaviour/flows §C.9); flow_only: the flow record alone.  With
 *		wait (the default) the members are cancelled in this transaction;
 *		without, they are owed a cancel (PENDING_CANCELS): no claim starts
 *		them any more, the engine worker cancels them in batches as soon as
 *		this transaction commits (ff.dispatch_flow_cancels), and the cancel
 *		reconciler takes over what is still owed once grace_ms has passed.  A flow already
 *		terminal answers ALREADY_SATISFIED with the stored policy, reason
 *		and members (at most 1000).
 */
Datum
ff_cancel_flow(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *flow = flow_arg(fcinfo, 0);
	char	   *reason = PG_ARGISNULL(1) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *policy = PG_ARGISNULL(2) ? "cancel_all" : text_to_cstring(PG_GETARG_TEXT_PP(2));
	int64		grace = PG_ARGISNULL(3) ? FF_DEFAULT_CANCEL_GRACE_MS : PG_GETARG_INT64(3);
	bool		wait = PG_ARGISNULL(4) ? true : PG_GETARG_BOOL(4);
	int64		now = ff_now_ms();
	FlowRow		f;
	FFResult	r;
	Datum		v[5];
	uint64		n,
				i;
	pg_uuid_t  *ids;
	bool	   *runnable;
	bool		isnull;
	int			targets = 0,
				cancelled = 0;

	ff_check_max_len(reason, 4096, "reason");
	if (strcmp(policy, "cancel_all") != 0 && strcmp(policy, "cancel_pending") != 0 &&
		strcmp(policy, "flow_only") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cancellation_policy must be cancel_all, cancel_pending or flow_only, got \"%s\"", policy)));
	ff_spi_connect();
	if (grace < 0 || grace > INT64CONST(9007199254740991))
	{
		ffr_error(&r, "invalid_grace_ms");
		FF_RETURN_RESULT(&r);
	}
	if (!flow_lock(flow, &f))
	{
		ffr_error(&r, "flow_not_found");
		FF_RETURN_RESULT(&r);
	}
	v[0] = Int16GetDatum((int16) f.partition);
	v[1] = UUIDPGetDatum(flow);
	n = ff_plan_exec(&plan_members, v, NULL, 0);
	ids = palloc(sizeof(pg_uuid_t) * Max(n, 1));
	runnable = palloc(sizeof(bool) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		ids[i] = *DatumGetUUIDP(ff_col_datum((int) i, 1, &isnull));
		runnable[i] = strcmp(ff_col_text((int) i, 2), "runnable") == 0;
	}
	if (flow_terminal(&f))
	{
		ffr_ok(&r, "ALREADY_SATISFIED");
		ffr_text(&r, "cancellation_policy", f.cancellation_policy ? f.cancellation_policy : policy);
		ffr_text(&r, "cancel_reason", f.cancel_reason);
		members_json(&r, f.partition, ids, (int) n, 1000);
		FF_RETURN_RESULT(&r);
	}
	v[2] = Int64GetDatum(now);
	v[3] = CStringGetTextDatum(reason);
	v[4] = CStringGetTextDatum(policy);
	ff_plan_exec(&plan_flow_cancel, v, NULL, 0);

	if (strcmp(policy, "flow_only") != 0)
	{
		pg_uuid_t  *owed = palloc(sizeof(pg_uuid_t) * Max(n, 1));

		for (i = 0; i < n; i++)
		{
			ExecCore	c;
			ExecId		mid;

			if (strcmp(policy, "cancel_pending") == 0 && !runnable[i])
				continue;
			targets++;
			mid.partition = f.partition;
			mid.uuid = ids[i];
			if (!wait)
			{
				owed[targets - 1] = ids[i];
				continue;
			}
			/* one member at a time, ascending ids (lock order) */
			if (ff_core_lock(mid, &c) && c.lifecycle_phase != PHASE_TERMINAL &&
				(strcmp(policy, "cancel_all") == 0 || c.lifecycle_phase == PHASE_RUNNABLE))
			{
				ff_cancel_locked(&c, reason, "operator_override", now);
				cancelled++;
			}
		}
		if (!wait && targets > 0)
		{
			Datum	   *elems = palloc(sizeof(Datum) * targets);
			int			j;

			for (j = 0; j < targets; j++)
				elems[j] = UUIDPGetDatum(&owed[j]);
			v[2] = PointerGetDatum(construct_array(elems, targets, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
			ff_plan_exec(&plan_pending_add, v, NULL, 0);
			v[2] = Int64GetDatum(now + grace);
			ff_plan_exec(&plan_backlog_set, v, NULL, 0);
			/* the engine starts on them at commit; the grace only says when
			 * the reconciler may take over what that pass did not reach */
			ff_wake_engine_at_commit();
		}
	}
	ffr_ok(&r, "OK");
	ffr_text(&r, "result", wait ? "cancelled" : "cancellation_scheduled");
	ffr_text(&r, "cancellation_policy", policy);
	ffr_int(&r, "members_cancelled", cancelled);
	ffr_int(&r, "members_owed", wait ? 0 : targets);
	members_json(&r, f.partition, ids, (int) n, (int) n);
	FF_RETURN_RESULT(&r);
}

static FFPlan plan_ack = {
	"WITH d AS (DELETE FROM ff.flow_pending_cancel WHERE partition = $1 AND flow_id = $2 AND execution_id = $3) "
	"UPDATE ff.flow SET cancel_due_at = NULL WHERE partition = $1 AND flow_id = $2 "
	"AND NOT EXISTS (SELECT 1 FROM ff.flow_pending_cancel p WHERE p.partition = $1 AND p.flow_id = $2 "
	"AND p.execution_id <> $3)",
	3, {INT2OID, UUIDOID, UUIDOID}
};

/*
 * ff_ack_cancel_member_id
 *		A member's cancel is done: it leaves the flow's owed list, and the
 *		flow leaves the backlog with its last one.  SPI connected.
 */
void
ff_ack_cancel_member_id(const pg_uuid_t *flow, ExecId id)
{
	Datum		v[3];

	v[0] = Int16GetDatum((int16) id.partition);
	v[1] = UUIDPGetDatum(unconstify(pg_uuid_t *, flow));
	v[2] = UUIDPGetDatum(&id.uuid);
	ff_plan_exec(&plan_ack, v, NULL, 0);
}

/* ff.ack_cancel_member(flow_id, execution_id) (behaviour/flows §3.12.4): never errors */
Datum
ff_ack_cancel_member(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *flow = flow_arg(fcinfo, 0);
	ExecId		id = ff_arg_exec_id(fcinfo, 1, "execution_id");
	FFResult	r;

	ff_spi_connect();
	ff_ack_cancel_member_id(flow, id);
	ffr_ok(&r, "OK");
	FF_RETURN_RESULT(&r);
}
