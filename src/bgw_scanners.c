/*-------------------------------------------------------------------------
 *
 * bgw_scanners.c
 *	  The execution scanners (behaviour/execution §6; behaviour/flows §6.1; behaviour/suspension §6.1):
 *	  each ff.scan_<name>() is one bounded batch run by bgw_batch.c, its
 *	  selection a kept plan, its per-item step the C operation.  The
 *	  engine worker (and pg_cron, through ff.run_scanners) calls them
 *	  through ff.run_scanner, which counts their cycles.
 *
 * IDENTIFICATION
 *	  src/bgw_scanners.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "bgw_batch.h"
#include "budget.h"
#include "core_clock.h"
#include "exec_block.h"
#include "exec_lease.h"
#include "exec_ops.h"
#include "ff_engine.h"
#include "flow_resolve.h"
#include "susp_ops.h"

PG_FUNCTION_INFO_V1(ff_scan_lease_expiry);
PG_FUNCTION_INFO_V1(ff_scan_delayed);
PG_FUNCTION_INFO_V1(ff_scan_attempt_timeouts);
PG_FUNCTION_INFO_V1(ff_scan_execution_deadlines);
PG_FUNCTION_INFO_V1(ff_scan_unblock);
PG_FUNCTION_INFO_V1(ff_scan_suspension_timeouts);
PG_FUNCTION_INFO_V1(ff_scan_dependencies);

#define FF_SCAN_MAX_BATCH 1000

/* The select list of a scan over executions e. */
#define EXEC_ITEM "SELECT e.partition, e.execution_id, " FF_BATCH_FAILING("e.partition", "e.execution_id")
#define EXEC_WANTS FF_BATCH_WANTS("e.partition", "e.execution_id", "e.namespace")

static ExecId
item_exec_id(const FFBatchItem *item)
{
	ExecId		id;

	id.partition = item->partition;
	id.uuid = item->id;
	return id;
}

/* One batch of a scanner over its selection, answered with its envelope. */
static Datum
scan(FunctionCallInfo fcinfo, const char *scanner, FFPlan *select, FFBatchStep step, void *arg)
{
	FFScanArgs	a;
	FFBatchCounts c = {0, 0, 0};
	FFResult	r;

	ff_scan_args(fcinfo, scanner, true, FF_SCAN_MAX_BATCH, &a);
	ff_spi_connect();
	ff_batch_run(select, &a, step, arg, &c);
	ff_batch_result(&r, scanner, &c, a.batch_size);
	FF_RETURN_RESULT(&r);
}

/*
 * The scanners over executions e are one shape: a due selection (its FROM
 * and WHERE, then its due order) and the C operation run per item.
 */
#define EXEC_SCAN(from_where, order) \
	{EXEC_ITEM " FROM " from_where " AND " EXEC_WANTS "ORDER BY " order \
	 " LIMIT $2 FOR UPDATE OF e SKIP LOCKED", FF_BATCH_ARGS}

typedef void (*ExecIdOp) (ExecId id, int64 now, FFResult *r);

typedef struct ExecScan
{
	const char *name;			/* the scanner's name in ff.scanner_state */
	FFPlan		select;
	ExecIdOp	op;
} ExecScan;

static void
exec_scan_step(const FFBatchItem *item, int64 now, void *arg)
{
	FFResult	r;

	((const ExecScan *) arg)->op(item_exec_id(item), now, &r);
}

/* ff.scan_<name>(batch_size, namespace, tag) of an ExecScan */
static Datum
exec_scan(FunctionCallInfo fcinfo, ExecScan *s)
{
	return scan(fcinfo, s->name, &s->select, exec_scan_step, s);
}

static void
attempt_timeout_op(ExecId id, int64 now, FFResult *r)
{
	ff_expire_id(id, "attempt_timeout", now, r);
}

static void
execution_deadline_op(ExecId id, int64 now, FFResult *r)
{
	ff_expire_id(id, "execution_deadline", now, r);
}

static void
unblock_op(ExecId id, int64 now, FFResult *r)
{
	ff_unblock_id(id, now, NULL, r);
}

/* lease expiry (behaviour/execution §6.1): held leases past their expiry */
static ExecScan scan_lease_expiry = {"lease_expiry", EXEC_SCAN(
	"ff.execution e WHERE e.lifecycle_phase = 'active' AND e.ownership_state = 'leased' "
	"AND e.lease_expires_at <= $1", "e.lease_expires_at"), ff_lease_expire_if_due};

/* delayed promoter (behaviour/execution §6.2) */
static ExecScan scan_delayed = {"delayed", EXEC_SCAN(
	"ff.execution e WHERE e.lifecycle_phase = 'runnable' "
	"AND e.eligibility_state = 'not_eligible_until_time' AND e.delay_until <= $1", "e.delay_until"),
	ff_promote_delayed_id};

/* attempt timeouts (behaviour/execution §6.3) and execution deadlines (behaviour/execution §6.4) */
static ExecScan scan_attempt_timeouts = {"attempt_timeout", EXEC_SCAN(
	"ff.execution e WHERE e.attempt_timeout_at <= $1", "e.attempt_timeout_at"), attempt_timeout_op};
static ExecScan scan_execution_deadlines = {"execution_deadline", EXEC_SCAN(
	"ff.execution e WHERE e.execution_deadline_at <= $1", "e.execution_deadline_at"), execution_deadline_op};

/*
 * unblock (behaviour/execution §6.7):
 * Budget blocks clear when no attached budget is at a hard limit, quota
 * blocks when the quota's window and cap have room (the checks claims make:
 * ff._budget_block_detail and ff._quota_refuses are their C), route blocks
 * once the union of the capabilities of the live workers of the namespace
 * covers the requirement.  Operator, lane-state and flow-cancel holds are
 * never released here.
 */
static ExecScan scan_unblock_ = {"unblock", EXEC_SCAN(
	"ff.execution e WHERE e.lifecycle_phase = 'runnable' "
	"AND ((e.eligibility_state = 'blocked_by_budget' AND e.blocking_reason = 'waiting_for_budget' "
	"AND ff._budget_block_detail(e.budget_ids, e.namespace) IS NULL) "
	"OR (e.eligibility_state = 'blocked_by_quota' AND e.blocking_reason = 'waiting_for_quota' "
	"AND (e.quota_policy_id IS NULL OR NOT ff._quota_refuses(e.quota_policy_id, $1, e.namespace))) "
	"OR (e.eligibility_state = 'blocked_by_route' AND e.blocking_reason = 'waiting_for_capable_worker' "
	"AND (e.required_capabilities IS NULL OR e.required_capabilities <@ ARRAY(SELECT DISTINCT cap "
	"FROM ff.worker w, unnest(w.capabilities) cap WHERE w.namespace = e.namespace AND w.expires_at > $1))))",
	"e.eligibility_state, e.created_at"), unblock_op};

/* suspension timeouts (behaviour/suspension §6.1) */
static ExecScan scan_suspension_timeouts = {"suspension_timeout", EXEC_SCAN(
	"ff.suspension s JOIN ff.execution e ON e.partition = s.partition "
	"AND e.execution_id = s.execution_id WHERE s.closed_at IS NULL AND s.timeout_at <= $1 "
	"AND e.lifecycle_phase = 'suspended'", "s.timeout_at, s.partition, s.execution_id"),
	ff_expire_suspension_id};

FF_SQL_ENTRY(ff_scan_lease_expiry, exec_scan(fcinfo, &scan_lease_expiry))
FF_SQL_ENTRY(ff_scan_delayed, exec_scan(fcinfo, &scan_delayed))
FF_SQL_ENTRY(ff_scan_attempt_timeouts, exec_scan(fcinfo, &scan_attempt_timeouts))
FF_SQL_ENTRY(ff_scan_execution_deadlines, exec_scan(fcinfo, &scan_execution_deadlines))
FF_SQL_ENTRY(ff_scan_unblock, exec_scan(fcinfo, &scan_unblock_))
FF_SQL_ENTRY(ff_scan_suspension_timeouts, exec_scan(fcinfo, &scan_suspension_timeouts))

/*
 * ---- dependencies (behaviour/flows §6.1) ----
 * The safety net for lost completions, driven by the data: children with
 * an unresolved edge whose upstream already ended.  No row lock here:
 * resolution locks the group row, then the child.
 */
static FFPlan plan_dependencies = {
	"SELECT x.partition, x.downstream_execution_id, " FF_BATCH_FAILING("x.partition", "x.downstream_execution_id")
	" FROM (SELECT DISTINCT d.partition, d.downstream_execution_id FROM ff.dependency d "
	"JOIN ff.execution u ON u.partition = d.partition AND u.execution_id = d.upstream_execution_id "
	"JOIN ff.execution ch ON ch.partition = d.partition AND ch.execution_id = d.downstream_execution_id "
	"WHERE d.state = 'unsatisfied' AND u.lifecycle_phase = 'terminal' AND "
	FF_BATCH_WANTS("ch.partition", "ch.execution_id", "ch.namespace") "LIMIT $2) x",
	FF_BATCH_ARGS
};

static void
dependencies_step(const FFBatchItem *item, int64 now, void *arg)
{
	(void) ff_reconcile_dependencies_id(item_exec_id(item), now);
}

/* ff.scan_dependencies(batch_size, namespace, tag) */
FF_SQL_ENTRY(ff_scan_dependencies, scan(fcinfo, "dependencies", &plan_dependencies, dependencies_step, NULL))

/*
 * ---- retention (behaviour/execution §6.6) ----
 * Every record of an execution, its streams and dependency records
 * included, in this order; its flow and the flow's edges stay.
 */
#define PURGE(sql) {sql, 2, {INT2OID, UUIDOID}}
static FFPlan plan_purge[] = {
	PURGE("DELETE FROM ff.stream_frame WHERE partition = $1 AND execution_id = $2"),
	PURGE("DELETE FROM ff.stream_summary WHERE partition = $1 AND execution_id = $2"),
	PURGE("DELETE FROM ff.stream_meta WHERE partition = $1 AND execution_id = $2"),
	PURGE("DELETE FROM ff.attempt_record WHERE partition = $1 AND execution_id = $2"),
	PURGE("DELETE FROM ff.lease_log WHERE partition = $1 AND execution_id = $2"),
	PURGE("DELETE FROM ff.claim_grant WHERE partition = $1 AND execution_id = $2"),
	PURGE("DELETE FROM ff.completion_event WHERE partition = $1 AND execution_id = $2"),
	PURGE("DELETE FROM ff.idempotency_key WHERE partition = $1 AND execution_id = $2"),
	PURGE("DELETE FROM ff.scanner_item_failure WHERE partition = $1 AND item_id = $2"),
	PURGE("DELETE FROM ff.signal_dedup WHERE partition = $1 AND waitpoint_id IN "
		  "(SELECT w.waitpoint_id FROM ff.waitpoint w WHERE w.partition = $1 AND w.execution_id = $2)"),
	PURGE("DELETE FROM ff.signal WHERE partition = $1 AND execution_id = $2"),
	PURGE("DELETE FROM ff.waitpoint WHERE partition = $1 AND execution_id = $2"),
	PURGE("DELETE FROM ff.suspension_token WHERE partition = $1 AND execution_id = $2"),
	PURGE("DELETE FROM ff.suspension WHERE partition = $1 AND execution_id = $2"),
	PURGE("DELETE FROM ff.suspend_dedup WHERE partition = $1 AND execution_id = $2"),
	PURGE("DELETE FROM ff.dependency WHERE partition = $1 AND downstream_execution_id = $2"),
	PURGE("DELETE FROM ff.dependency_meta WHERE partition = $1 AND execution_id = $2"),
	PURGE("DELETE FROM ff.execution_data WHERE partition = $1 AND execution_id = $2"),
	PURGE("DELETE FROM ff.execution WHERE partition = $1 AND execution_id = $2"),
};

/* Deletes every record of an execution; whether its row was there. */
static bool
purge_execution(ExecId id)
{
	Datum		v[2];
	uint64		n = 0;
	int			i;

	v[0] = Int16GetDatum((int16) id.partition);
	v[1] = UUIDPGetDatum(&id.uuid);
	for (i = 0; i < lengthof(plan_purge); i++)
		n = ff_plan_exec(&plan_purge[i], v, NULL, 0);
	return n > 0;
}

PG_FUNCTION_INFO_V1(ff_purge_execution);

/* ff.purge_execution(execution_id) -> boolean */
Datum
ff_purge_execution(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	bool		found;

	ff_spi_connect();
	found = purge_execution(id);
	SPI_finish();
	PG_RETURN_BOOL(found);
}

/* terminal executions past their own purge time (behaviour/execution §6.6 recommendation) */
static FFPlan plan_retention = {
	EXEC_ITEM " FROM ff.execution e WHERE e.lifecycle_phase = 'terminal' AND e.purge_after <= $1 AND "
	EXEC_WANTS "ORDER BY e.purge_after LIMIT $2 FOR UPDATE OF e SKIP LOCKED",
	FF_BATCH_ARGS
};

static void
retention_step(const FFBatchItem *item, int64 now, void *arg)
{
	(void) purge_execution(item_exec_id(item));
}

/*
 * The set-based cleanups beside it, each one statement counting what it
 * removed ($1 the time, $2 the batch size, $3 the namespace filter): they
 * have no per-item operation that could fail alone.
 */
#define CLEANUP(sql) {sql, 3, {INT8OID, INT4OID, TEXTOID}}
static const char *const cleanup_keys[] = {
	"streams_expired", "idempotency_keys_expired", "signal_guards_expired",
	"signal_events_trimmed", "schedule_firings_trimmed"
};
static FFPlan plan_cleanups[] = {
	/* frames of best-effort streams past their expiry */
	CLEANUP("WITH expired AS (SELECT m.partition, m.execution_id, m.attempt_index FROM ff.stream_meta m "
			"WHERE m.frames_expire_at <= $1 ORDER BY m.frames_expire_at LIMIT $2 FOR UPDATE SKIP LOCKED), "
			"frames AS (DELETE FROM ff.stream_frame f USING expired x WHERE f.partition = x.partition "
			"AND f.execution_id = x.execution_id AND f.attempt_index = x.attempt_index), "
			"metas AS (UPDATE ff.stream_meta m SET retained_count = 0, frames_expire_at = NULL FROM expired x "
			"WHERE m.partition = x.partition AND m.execution_id = x.execution_id "
			"AND m.attempt_index = x.attempt_index RETURNING 1) SELECT count(*) FROM metas"),
	/* expired idempotency keys */
	CLEANUP("WITH gone AS (DELETE FROM ff.idempotency_key k WHERE (k.partition, k.namespace, k.key) IN ("
			"SELECT i.partition, i.namespace, i.key FROM ff.idempotency_key i WHERE i.expires_at <= $1 "
			"AND ($3::text IS NULL OR i.namespace = $3) ORDER BY i.expires_at LIMIT $2 * 10 "
			"FOR UPDATE SKIP LOCKED) RETURNING 1) SELECT count(*) FROM gone"),
	/* expired signal idempotency guards */
	CLEANUP("WITH gone AS (DELETE FROM ff.signal_dedup d WHERE (d.partition, d.waitpoint_id, d.idempotency_key) IN ("
			"SELECT g.partition, g.waitpoint_id, g.idempotency_key FROM ff.signal_dedup g WHERE g.expires_at <= $1 "
			"ORDER BY g.expires_at LIMIT $2 * 10 FOR UPDATE SKIP LOCKED) RETURNING 1) SELECT count(*) FROM gone"),
	/* signal-delivery events past ff_engine.signal_event_retention */
	CLEANUP("WITH gone AS (DELETE FROM ff.signal_event v WHERE (v.partition, v.event_id) IN ("
			"SELECT x.partition, x.event_id FROM ff.signal_event x "
			"WHERE x.delivered_at < $1 - ff._setting_ms('ff_engine.signal_event_retention') "
			"ORDER BY x.delivered_at LIMIT $2 * 50 FOR UPDATE SKIP LOCKED) RETURNING 1) SELECT count(*) FROM gone"),
	/* schedule firing records past ff_engine.default_retention */
	CLEANUP("WITH gone AS (DELETE FROM ff.schedule_firing f WHERE (f.schedule_id, f.slot_at, f.manual) IN ("
			"SELECT x.schedule_id, x.slot_at, x.manual FROM ff.schedule_firing x "
			"WHERE x.fired_at < $1 - ff._setting_ms('ff_engine.default_retention') "
			"ORDER BY x.fired_at LIMIT $2 * 50 FOR UPDATE SKIP LOCKED) RETURNING 1) SELECT count(*) FROM gone"),
};

PG_FUNCTION_INFO_V1(ff_trim_retention);

/* ff.trim_retention(batch_size, namespace, tag) */
Datum
ff_trim_retention(PG_FUNCTION_ARGS)
{
	FFScanArgs	a;
	FFBatchCounts c = {0, 0, 0};
	FFResult	r;
	Datum		v[3];
	bool		n[3] = {false, false, false};
	int			i;

	StaticAssertStmt(lengthof(cleanup_keys) == lengthof(plan_cleanups), "one key per cleanup");
	ff_scan_args(fcinfo, "retention", true, FF_SCAN_MAX_BATCH, &a);
	ff_spi_connect();
	ff_batch_run(&plan_retention, &a, retention_step, NULL, &c);
	ff_batch_result(&r, "retention", &c, a.batch_size);
	v[0] = Int64GetDatum(a.now);
	v[1] = Int32GetDatum(a.batch_size);
	v[2] = a.namespace ? CStringGetTextDatum(a.namespace) : (Datum) 0;
	n[2] = a.namespace == NULL;
	for (i = 0; i < lengthof(plan_cleanups); i++)
	{
		ff_plan_exec(&plan_cleanups[i], v, n, 0);
		ffr_int(&r, cleanup_keys[i], ff_col_int64(0, 1, 0));
	}
	FF_RETURN_RESULT(&r);
}

/*
 * ---- pending waitpoint expiry (behaviour/suspension §6.2) ----
 * Pending waitpoints past their expiry close as never_committed; only the
 * waitpoint rows are locked (a racing suspend that locked one first wins,
 * and it is then no longer pending).  The item is the waitpoint.
 */
static FFPlan plan_pending_waitpoints = {
	"SELECT w.partition, w.waitpoint_id, " FF_BATCH_FAILING("w.partition", "w.waitpoint_id")
	" FROM ff.waitpoint w WHERE w.state = 'pending' AND w.expires_at <= $1 AND "
	FF_BATCH_NOT_BACKING_OFF("w.partition", "w.waitpoint_id")
	"AND ($3::text IS NULL AND $4::text IS NULL OR EXISTS (SELECT 1 FROM ff.execution e "
	"WHERE e.partition = w.partition AND e.execution_id = w.execution_id AND "
	FF_BATCH_FILTER("e.partition", "e.execution_id", "e.namespace") ")) "
	"ORDER BY w.expires_at, w.partition, w.waitpoint_id LIMIT $2 FOR UPDATE OF w SKIP LOCKED",
	FF_BATCH_ARGS
};
static FFPlan plan_waitpoint_never_committed = {
	"UPDATE ff.waitpoint SET state = 'closed', closed_at = $3, close_reason = 'never_committed' "
	"WHERE partition = $1 AND waitpoint_id = $2 AND state = 'pending'",
	3, {INT2OID, UUIDOID, INT8OID}
};

static void
pending_waitpoint_step(const FFBatchItem *item, int64 now, void *arg)
{
	Datum		v[3];

	v[0] = Int16GetDatum((int16) item->partition);
	v[1] = UUIDPGetDatum(unconstify(pg_uuid_t *, &item->id));
	v[2] = Int64GetDatum(now);
	ff_plan_exec(&plan_waitpoint_never_committed, v, NULL, 0);
}

PG_FUNCTION_INFO_V1(ff_scan_pending_waitpoint_expiry);

/* ff.scan_pending_waitpoint_expiry(batch_size, namespace, tag) */
FF_SQL_ENTRY(ff_scan_pending_waitpoint_expiry, scan(fcinfo, "pending_waitpoint_expiry", &plan_pending_waitpoints, pending_waitpoint_step, NULL))

/*
 * ---- flow cancels (behaviour/flows §6.4) ----
 * Members owed a cancel of cancelled flows whose backlog entry is due by
 * due_before: at most max_flows flows (locked with SKIP LOCKED, so the
 * background pass and the reconciler never work on one flow at once) and
 * max_members members, at most 500 of one flow per call.  Each member is
 * an item of the flow_cancel scanner: cancelled (or found terminal or
 * gone) and acknowledged; a failing one stays owed, recorded and backing
 * off.  The flow leaves the backlog once nothing is owed.
 */
static FFPlan plan_owed_flows = {
	"SELECT fl.partition, fl.flow_id, coalesce(fl.cancel_reason, 'flow_cancelled') FROM ff.flow fl "
	"WHERE fl.cancel_due_at <= $1 AND ($3::text IS NULL OR fl.namespace = $3) "
	"ORDER BY fl.cancel_due_at LIMIT $2 FOR UPDATE SKIP LOCKED",
	3, {INT8OID, INT4OID, TEXTOID}
};
static FFPlan plan_owed_members = {
	"SELECT p.partition, p.execution_id, " FF_BATCH_FAILING_AT("'flow_cancel'", "p.partition", "p.execution_id")
	" FROM ff.flow_pending_cancel p WHERE p.partition = $1 AND p.flow_id = $2 AND "
	FF_BATCH_NOT_BACKING_OFF_AT("'flow_cancel'", "p.partition", "p.execution_id")
	"ORDER BY p.execution_id LIMIT $3",
	3, {INT2OID, UUIDOID, INT4OID}
};
static FFPlan plan_flow_settled = {
	"UPDATE ff.flow fl SET cancel_due_at = NULL WHERE fl.partition = $1 AND fl.flow_id = $2 "
	"AND NOT EXISTS (SELECT 1 FROM ff.flow_pending_cancel p WHERE p.partition = $1 AND p.flow_id = $2)",
	2, {INT2OID, UUIDOID}
};

#define FF_FLOW_CANCEL_MEMBERS_PER_FLOW 500

typedef struct OwedFlow
{
	int			partition;
	pg_uuid_t	flow;
	char	   *reason;
} OwedFlow;

static void
member_cancel_step(const FFBatchItem *item, int64 now, void *arg)
{
	OwedFlow   *f = (OwedFlow *) arg;
	ExecId		id = item_exec_id(item);
	ExecCore	c;

	if (ff_core_lock(id, &c) && c.lifecycle_phase != PHASE_TERMINAL)
		ff_cancel_locked(&c, f->reason, FF_SOURCE_OPERATOR_OVERRIDE, now);
	/* cancelled, already terminal or gone: the cancel is done */
	ff_ack_cancel_member_id(&f->flow, id);
}

/* Returns whether more may be owed (a full batch of flows or members). */
static bool
cancel_owed_members(int64 due_before, int max_flows, int max_members, const char *ns,
					int64 now, FFBatchCounts *c)
{
	Datum		v[3];
	bool		n[3] = {false, false, ns == NULL};
	uint64		nflows,
				i;
	OwedFlow   *flows;
	bool		more = false;

	v[0] = Int64GetDatum(due_before);
	v[1] = Int32GetDatum(max_flows);
	v[2] = ns ? CStringGetTextDatum(ns) : (Datum) 0;
	nflows = ff_plan_exec(&plan_owed_flows, v, n, 0);
	flows = palloc(sizeof(OwedFlow) * Max(nflows, 1));
	for (i = 0; i < nflows; i++)
	{
		bool		isnull;

		flows[i].partition = (int) ff_col_int64((int) i, 1, 0);
		flows[i].flow = *DatumGetUUIDP(ff_col_datum((int) i, 2, &isnull));
		flows[i].reason = ff_col_text((int) i, 3);
	}
	for (i = 0; i < nflows && c->processed < max_members; i++)
	{
		int			room = Min(FF_FLOW_CANCEL_MEMBERS_PER_FLOW, max_members - c->processed);
		int			nitems;
		FFBatchItem *items;
		Datum		mv[3];

		CHECK_FOR_INTERRUPTS();
		mv[0] = Int16GetDatum((int16) flows[i].partition);
		mv[1] = UUIDPGetDatum(&flows[i].flow);
		mv[2] = Int32GetDatum(room);
		nitems = (int) ff_plan_exec(&plan_owed_members, mv, NULL, 0);
		items = ff_batch_select_result(nitems);
		ff_batch_apply("flow_cancel", items, nitems, now, member_cancel_step, &flows[i], c);
		/* members skipped while backing off wait for a later call */
		more = more || nitems >= room;
		ff_plan_exec(&plan_flow_settled, mv, NULL, 0);
	}
	return more || nflows >= (uint64) max_flows || c->processed >= max_members;
}

static Datum
cancel_result(const FFBatchCounts *c, bool more, const char *scanner)
{
	FFResult	r;

	ffr_ok(&r, "OK");
	if (scanner)
		ffr_text(&r, "scanner", scanner);
	ffr_int(&r, "processed", c->processed);
	ffr_int(&r, "errors", c->errors);
	ffr_bool(&r, "more", more);
	return ff_spi_finish_datum(JsonbPGetDatum(ffr_finish(&r)));
}

PG_FUNCTION_INFO_V1(ff_cancel_owed_members);
PG_FUNCTION_INFO_V1(ff_dispatch_flow_cancels);
PG_FUNCTION_INFO_V1(ff_scan_flow_cancels);

/* ff._cancel_owed_members(due_before, max_flows, max_members, namespace) */
Datum
ff_cancel_owed_members(PG_FUNCTION_ARGS)
{
	FFBatchCounts c = {0, 0, 0};
	bool		more;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) ||
		PG_GETARG_INT32(1) < 1 || PG_GETARG_INT32(2) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("due_before, max_flows and max_members must be given and positive")));
	ff_spi_connect();
	more = cancel_owed_members(PG_GETARG_INT64(0), PG_GETARG_INT32(1), PG_GETARG_INT32(2),
							   ff_arg_text_opt(fcinfo, 3), ff_now_ms(), &c);
	PG_RETURN_DATUM(cancel_result(&c, more, NULL));
}

/* ff.dispatch_flow_cancels(max_members): the pass a cancel_flow(wait => false) starts */
Datum
ff_dispatch_flow_cancels(PG_FUNCTION_ARGS)
{
	FFBatchCounts c = {0, 0, 0};
	int			max_members = PG_ARGISNULL(0) ? 0 : PG_GETARG_INT32(0);
	bool		more;

	if (PG_ARGISNULL(0) || max_members < 1 || max_members > 10000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_members must be between 1 and 10000, got %s",
						PG_ARGISNULL(0) ? "NULL" : psprintf("%d", max_members))));
	ff_spi_connect();
	more = cancel_owed_members(PG_INT64_MAX, max_members, max_members, NULL, ff_now_ms(), &c);
	PG_RETURN_DATUM(cancel_result(&c, more, NULL));
}

/*
 * ff.scan_flow_cancels(batch_size, namespace, tag): the backstop, members
 * still owed a cancel once the grace has passed (at most 500 per flow).
 */
Datum
ff_scan_flow_cancels(PG_FUNCTION_ARGS)
{
	FFScanArgs	a;
	FFBatchCounts c = {0, 0, 0};
	bool		more;

	ff_scan_args(fcinfo, "flow_cancel", true, FF_SCAN_MAX_BATCH, &a);
	ff_spi_connect();
	more = cancel_owed_members(a.now, a.batch_size, FF_FLOW_CANCEL_MEMBERS_PER_FLOW * a.batch_size,
							   a.namespace, a.now, &c);
	PG_RETURN_DATUM(cancel_result(&c, more, "flow_cancel"));
}

/*
 * ---- budget resets (behaviour/budgets §7.1) ----
 * Budgets due for their periodic reset, earliest first; each reset
 * reschedules the budget from its own time.  The item is the budget
 * (partition 0).  Expired usage idempotency marks are swept on the way.
 */
static FFPlan plan_budget_resets = {
	"SELECT 0::smallint, x.budget_id, " FF_BATCH_FAILING("0", "x.budget_id")
	" FROM ff.budget x WHERE x.next_reset_at <= $1 AND " FF_BATCH_NOT_BACKING_OFF("0", "x.budget_id")
	"ORDER BY x.next_reset_at LIMIT $2 FOR UPDATE SKIP LOCKED",
	FF_BATCH_ARGS
};
static FFPlan plan_budget_dedup_sweep = {
	"DELETE FROM ff.budget_usage_dedup d WHERE (d.budget_id, d.dedup_key) IN ("
	"SELECT x.budget_id, x.dedup_key FROM ff.budget_usage_dedup x WHERE x.expires_at <= $1 "
	"ORDER BY x.expires_at LIMIT $2 * 50 FOR UPDATE SKIP LOCKED)",
	2, {INT8OID, INT4OID}
};

static void
budget_reset_step(const FFBatchItem *item, int64 now, void *arg)
{
	pg_uuid_t	id = item->id;
	int64		next;

	(void) ff_reset_budget_id(&id, now, &next);
}

PG_FUNCTION_INFO_V1(ff_scan_budget_resets);

/* ff.scan_budget_resets(batch_size) */
Datum
ff_scan_budget_resets(PG_FUNCTION_ARGS)
{
	FFScanArgs	a;
	FFBatchCounts c = {0, 0, 0};
	FFResult	r;
	Datum		v[2];

	ff_scan_args(fcinfo, "budget_reset", false, FF_SCAN_MAX_BATCH, &a);
	ff_spi_connect();
	ff_batch_run(&plan_budget_resets, &a, budget_reset_step, NULL, &c);
	v[0] = Int64GetDatum(a.now);
	v[1] = Int32GetDatum(a.batch_size);
	ff_plan_exec(&plan_budget_dedup_sweep, v, NULL, 0);
	ff_batch_result(&r, "budget_reset", &c, a.batch_size);
	FF_RETURN_RESULT(&r);
}

/*
 * ---- set-based maintenance ----
 * Scanners without a per-item operation that could fail alone: each is
 * one kept statement returning what it processed ($1 the time, $2 the
 * batch size, $3 the namespace filter).
 */
#define SET_SCAN_ARGS 3, {INT8OID, INT4OID, TEXTOID}

static Datum
set_scan(FunctionCallInfo fcinfo, const char *scanner, FFPlan *stmt, bool filtered, bool more_when_full)
{
	FFScanArgs	a;
	FFBatchCounts c = {0, 0, 0};
	FFResult	r;
	Datum		v[3];
	bool		n[3] = {false, false, false};

	ff_scan_args(fcinfo, scanner, filtered, FF_SCAN_MAX_BATCH, &a);
	ff_spi_connect();
	v[0] = Int64GetDatum(a.now);
	v[1] = Int32GetDatum(a.batch_size);
	v[2] = a.namespace ? CStringGetTextDatum(a.namespace) : (Datum) 0;
	n[2] = a.namespace == NULL;
	ff_plan_exec(stmt, v, n, 0);
	c.processed = (int) ff_col_int64(0, 1, 0);
	c.selected = more_when_full ? c.processed : 0;
	ff_batch_result(&r, scanner, &c, a.batch_size);
	FF_RETURN_RESULT(&r);
}

/* exact counts per flow (behaviour/flows §6.5, behaviour/flows §C.13), the reference's derivation; a flow whose members all ended leaves FLOW_INDEX */
static FFPlan plan_project_flows = {
	"WITH picked AS ( "
	"SELECT fl.partition, fl.flow_id FROM ff.flow fl "
	"WHERE fl.in_flow_index AND ($3::text IS NULL OR fl.namespace = $3::text) "
	"ORDER BY fl.last_mutation_at LIMIT $2), "
	"counts AS ( "
	"SELECT p.partition, p.flow_id, count(e.execution_id) AS total, "
	"count(*) FILTER (WHERE e.public_state = 'completed') AS completed, "
	"count(*) FILTER (WHERE e.public_state = 'failed') AS failed, "
	"count(*) FILTER (WHERE e.public_state = 'cancelled') AS cancelled, "
	"count(*) FILTER (WHERE e.public_state = 'expired') AS expired, "
	"count(*) FILTER (WHERE e.public_state = 'skipped') AS skipped, "
	"count(*) FILTER (WHERE e.public_state = 'active') AS active, "
	"count(*) FILTER (WHERE e.public_state = 'suspended') AS suspended, "
	"count(*) FILTER (WHERE e.public_state = 'waiting') AS waiting, "
	"count(*) FILTER (WHERE e.public_state = 'delayed') AS delayed, "
	"count(*) FILTER (WHERE e.public_state = 'rate_limited') AS rate_limited, "
	"count(*) FILTER (WHERE e.public_state = 'waiting_children') AS waiting_children "
	"FROM picked p LEFT JOIN ff.execution e ON e.partition = p.partition AND e.flow_id = p.flow_id "
	"GROUP BY p.partition, p.flow_id), "
	"derived AS ( "
	"SELECT x.*, (x.completed + x.failed + x.cancelled + x.expired + x.skipped) AS terminal, "
	"CASE WHEN x.completed + x.failed + x.cancelled + x.expired + x.skipped = x.total THEN "
	"CASE WHEN x.failed + x.cancelled + x.expired > 0 THEN 'failed' ELSE 'completed' END "
	"WHEN x.active > 0 THEN 'running' "
	"WHEN x.suspended + x.delayed + x.rate_limited + x.waiting_children > 0 THEN 'blocked' "
	"ELSE 'open' END AS state "
	"FROM counts x WHERE x.total > 0), "
	"upserted AS ( "
	"INSERT INTO ff.flow_summary AS s (partition, flow_id, total_members, members_completed, members_failed, "
	"members_cancelled, members_expired, members_skipped, members_active, members_suspended, "
	"members_waiting, members_delayed, members_rate_limited, members_waiting_children, "
	"public_flow_state, last_summary_update_at) "
	"SELECT d.partition, d.flow_id, d.total, d.completed, d.failed, d.cancelled, d.expired, d.skipped, "
	"d.active, d.suspended, d.waiting, d.delayed, d.rate_limited, d.waiting_children, d.state, $1 "
	"FROM derived d "
	"ON CONFLICT (partition, flow_id) DO UPDATE SET total_members = EXCLUDED.total_members, "
	"members_completed = EXCLUDED.members_completed, members_failed = EXCLUDED.members_failed, "
	"members_cancelled = EXCLUDED.members_cancelled, members_expired = EXCLUDED.members_expired, "
	"members_skipped = EXCLUDED.members_skipped, members_active = EXCLUDED.members_active, "
	"members_suspended = EXCLUDED.members_suspended, members_waiting = EXCLUDED.members_waiting, "
	"members_delayed = EXCLUDED.members_delayed, members_rate_limited = EXCLUDED.members_rate_limited, "
	"members_waiting_children = EXCLUDED.members_waiting_children, "
	"public_flow_state = EXCLUDED.public_flow_state, last_summary_update_at = EXCLUDED.last_summary_update_at "
	"RETURNING 1), "
	"retired AS ( "
	"UPDATE ff.flow fl SET in_flow_index = false FROM derived d "
	"WHERE fl.partition = d.partition AND fl.flow_id = d.flow_id AND d.terminal = d.total "
	"RETURNING 1) "
	"SELECT count(*) FROM upserted",
	SET_SCAN_ARGS
};

PG_FUNCTION_INFO_V1(ff_project_flows);

/* ff.project_flows(batch_size, namespace, tag) */
FF_SQL_ENTRY(ff_project_flows, set_scan(fcinfo, "flow_projector", &plan_project_flows, true, false))

/* the drift alarm of non-resetting budgets (behaviour/budgets §7.2): reconciled_breach_at set while some usage is strictly over its hard limit, cleared otherwise */
static FFPlan plan_reconcile_budgets = {
	"WITH cand AS ( "
	"SELECT b.budget_id, EXISTS (SELECT 1 FROM ff.budget_limit l JOIN ff.budget_usage u "
	"ON u.budget_id = l.budget_id AND u.dimension = l.dimension "
	"WHERE l.budget_id = b.budget_id AND l.hard_limit > 0 AND u.value > l.hard_limit) AS breached "
	"FROM ff.budget b WHERE b.reset_interval_ms = 0 FOR UPDATE OF b SKIP LOCKED), "
	"changed AS ( "
	"UPDATE ff.budget b SET reconciled_breach_at = CASE WHEN cand.breached THEN $1 END "
	"FROM cand WHERE b.budget_id = cand.budget_id AND cand.breached <> (b.reconciled_breach_at IS NOT NULL) "
	"RETURNING 1) "
	"SELECT count(*) FROM changed",
	SET_SCAN_ARGS
};

PG_FUNCTION_INFO_V1(ff_reconcile_budgets);

/* ff.reconcile_budgets(batch_size) */
FF_SQL_ENTRY(ff_reconcile_budgets, set_scan(fcinfo, "budget_reconcile", &plan_reconcile_budgets, false, false))

/* quota admissions past their window are dropped (behaviour/budgets §7.3); processed counts the policies */
static FFPlan plan_reconcile_quotas = {
	"WITH gone AS ( "
	"DELETE FROM ff.quota_admission a WHERE (a.quota_policy_id, a.execution_id) IN ( "
	"SELECT x.quota_policy_id, x.execution_id FROM ff.quota_admission x WHERE x.expires_at <= $1 "
	"ORDER BY x.expires_at LIMIT $2 * 10 FOR UPDATE SKIP LOCKED) "
	"RETURNING a.quota_policy_id) "
	"SELECT count(DISTINCT quota_policy_id) FROM gone",
	SET_SCAN_ARGS
};

PG_FUNCTION_INFO_V1(ff_reconcile_quotas);

/* ff.reconcile_quotas(batch_size) */
FF_SQL_ENTRY(ff_reconcile_quotas, set_scan(fcinfo, "quota_reconcile", &plan_reconcile_quotas, false, false))

/* expired worker registrations are deleted (behaviour/budgets §7.5) */
static FFPlan plan_sweep_workers = {
	"WITH gone AS ( "
	"DELETE FROM ff.worker w WHERE (w.namespace, w.worker_instance_id) IN ( "
	"SELECT x.namespace, x.worker_instance_id FROM ff.worker x WHERE x.expires_at <= $1 "
	"ORDER BY x.expires_at LIMIT $2 FOR UPDATE SKIP LOCKED) "
	"RETURNING 1) "
	"SELECT count(*) FROM gone",
	SET_SCAN_ARGS
};

PG_FUNCTION_INFO_V1(ff_sweep_worker_registry);

/* ff.sweep_worker_registry(batch_size) */
FF_SQL_ENTRY(ff_sweep_worker_registry, set_scan(fcinfo, "worker_registry_sweep", &plan_sweep_workers, false, true))
