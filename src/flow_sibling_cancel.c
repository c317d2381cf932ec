/*-------------------------------------------------------------------------
 *
 * flow_sibling_cancel.c
 *	  RFC-016 sibling cancellation (behaviour/flows §3.10, §3.11, §6.2,
 *	  §6.3): when an any_of or quorum group under cancel_remaining is
 *	  decided, resolution records (atomically with the flip) the siblings
 *	  still running and indexes the group in ff.pending_cancel_group.  The
 *	  dispatcher here cancels those siblings and drains the request; the
 *	  reconciler finishes requests a crash left behind (Invariant Q6).
 *
 *	  - Each group is handled in its own subtransaction: every listed
 *	    sibling is cancelled (source sibling_quorum, as issue 8
 *	    pins the literal; reason the group's),
 *	    then the request is drained, all or nothing.  A failure rolls the
 *	    group back and leaves it for the next pass: never a half drain.
 *	  - Both scanners take index rows with FOR UPDATE SKIP LOCKED, so the
 *	    reconciler skips a group the dispatcher holds ("never fight the
 *	    dispatcher") and two dispatchers never take one group.
 *	  - The resolution that records a request wakes the engine worker at
 *	    commit, which dispatches at once; the 1 s tick is the floor.
 *	  - Every sibling is cancelled, however many (no 1024 cap, behaviour/flows §C.17).
 *	  - Lock order: the pending_cancel_group row, then the edge_group row,
 *	    then each sibling's execution row, one at a time.  Resolution locks
 *	    the edge_group and then inserts the index row (no lock wait: the
 *	    row is new), and a sibling's own terminal call locks only its
 *	    execution row, so no cycle can form; a sibling racing the
 *	    dispatcher simply waits and then finds the other's outcome
 *	    (test/isolation/specs/sibling_races.spec).
 *
 * IDENTIFICATION
 *	  src/flow_sibling_cancel.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "core_clock.h"
#include "exec_core.h"
#include "exec_ops.h"
#include "ff_engine.h"
#include "core_partition.h"
#include "bgw_batch.h"
#include "core_spi.h"

PG_FUNCTION_INFO_V1(ff_drain_sibling_cancel_group);
PG_FUNCTION_INFO_V1(ff_reconcile_sibling_cancel_group);
PG_FUNCTION_INFO_V1(ff_scan_edge_cancel_dispatch);
PG_FUNCTION_INFO_V1(ff_scan_edge_cancel_reconcile);

#define FF_SIBLING_SOURCE "sibling_quorum"

static FFPlan plan_tuple_lock = {
	"SELECT 1 FROM ff.pending_cancel_group WHERE partition = $1 AND flow_id = $2 "
	"AND downstream_execution_id = $3 FOR UPDATE",
	3, {INT2OID, UUIDOID, UUIDOID}
};
static FFPlan plan_group_request = {
	"SELECT cancel_siblings_pending, cancel_siblings_members, coalesce(cancel_siblings_reason, "
	"'sibling_quorum_satisfied') FROM ff.edge_group "
	"WHERE partition = $1 AND flow_id = $2 AND downstream_execution_id = $3 FOR UPDATE",
	3, {INT2OID, UUIDOID, UUIDOID}
};
static FFPlan plan_drain = {
	"WITH t AS (DELETE FROM ff.pending_cancel_group WHERE partition = $1 AND flow_id = $2 "
	"AND downstream_execution_id = $3 RETURNING 1), "
	"g AS (UPDATE ff.edge_group SET cancel_siblings_pending = false, cancel_siblings_members = NULL "
	"WHERE partition = $1 AND flow_id = $2 AND downstream_execution_id = $3 RETURNING 1) "
	"SELECT (SELECT count(*) FROM t), (SELECT count(*) FROM g)",
	3, {INT2OID, UUIDOID, UUIDOID}
};
static FFPlan plan_siblings_live = {
	"SELECT count(*) FROM ff.execution WHERE partition = $1 AND execution_id = ANY($2) "
	"AND lifecycle_phase <> 'terminal'",
	2, {INT2OID, UUIDARRAYOID}
};
static FFPlan plan_stat = {
	"INSERT INTO ff.sibling_cancel_stat AS s (reason, disposition, count) VALUES ($1, $2, $3) "
	"ON CONFLICT (reason, disposition) DO UPDATE SET count = s.count + EXCLUDED.count",
	3, {TEXTOID, TEXTOID, INT8OID}
};

static inline void
key3(Datum *v, int partition, const pg_uuid_t *flow, const pg_uuid_t *down)
{
	v[0] = Int16GetDatum((int16) partition);
	v[1] = UUIDPGetDatum(flow);
	v[2] = UUIDPGetDatum(down);
}

/*
 * drain
 *		Removes the index row and clears the group's flag and sibling list
 *		in one statement (reason, satisfied_at, state and counters stay as
 *		breadcrumbs).  Returns drained / already_drained / drained_sans_group.
 */
static const char *
drain(int partition, const pg_uuid_t *flow, const pg_uuid_t *down)
{
	Datum		v[3];

	key3(v, partition, flow, down);
	ff_plan_exec(&plan_drain, v, NULL, 1);
	if (ff_col_int64(0, 1, 0) == 0)
		return "already_drained";
	return ff_col_int64(0, 2, 0) == 0 ? "drained_sans_group" : "drained";
}

static void
group_args(FunctionCallInfo fcinfo, pg_uuid_t **flow, ExecId *down)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("flow_id and downstream_execution_id required")));
	*flow = PG_GETARG_UUID_P(0);
	*down = ff_arg_exec_id(fcinfo, 1, "downstream_execution_id");
}

/* ff.drain_sibling_cancel_group(flow_id, downstream_execution_id) (behaviour/flows §3.10) */
Datum
ff_drain_sibling_cancel_group(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *flow;
	ExecId		down;
	FFResult	r;

	group_args(fcinfo, &flow, &down);
	ff_spi_connect();
	ffr_ok(&r, "OK");
	ffr_text(&r, "result", drain(down.partition, flow, &down.uuid));
	FF_RETURN_RESULT(&r);
}

/*
 * reconcile_group
 *		The reconciler's decision for one request (behaviour/flows §3.11).  It never
 *		cancels: while a listed sibling still runs, the dispatcher owns the
 *		request and nothing is written.  Returns false for no_op, true when
 *		the request was removed.
 */
static bool
reconcile_group(int partition, const pg_uuid_t *flow, const pg_uuid_t *down, FFResult *r)
{
	Datum		v[3];
	bool		isnull;

	key3(v, partition, flow, down);
	if (ff_plan_exec(&plan_tuple_lock, v, NULL, 1) == 0)
	{
		ffr_ok(r, "OK");
		ffr_text(r, "result", "no_op");
		ffr_text(r, "detail", "not_in_set");
		return false;
	}
	if (ff_plan_exec(&plan_group_request, v, NULL, 1) == 0)
	{
		drain(partition, flow, down);
		ffr_ok(r, "OK");
		ffr_text(r, "result", "sremmed_stale");
		ffr_text(r, "detail", "missing_edgegroup");
		return true;
	}
	if (!ff_col_bool(0, 1))
	{
		drain(partition, flow, down);
		ffr_ok(r, "OK");
		ffr_text(r, "result", "sremmed_stale");
		ffr_text(r, "detail", "flag_cleared");
		return true;
	}
	{
		Datum		members = ff_col_datum(0, 2, &isnull);

		if (!isnull)
		{
			Datum		w[2];

			w[0] = v[0];
			w[1] = members;
			ff_plan_exec(&plan_siblings_live, w, NULL, 1);
			if (ff_col_int64(0, 1, 0) > 0)
			{
				ffr_ok(r, "OK");
				ffr_text(r, "result", "no_op");
				ffr_text(r, "detail", "siblings_running");
				return false;
			}
		}
	}
	drain(partition, flow, down);
	ffr_ok(r, "OK");
	ffr_text(r, "result", "completed_drain");
	return true;
}

/* ff.reconcile_sibling_cancel_group(flow_id, downstream_execution_id) (behaviour/flows §3.11) */
Datum
ff_reconcile_sibling_cancel_group(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *flow;
	ExecId		down;
	FFResult	r;

	group_args(fcinfo, &flow, &down);
	ff_spi_connect();
	reconcile_group(down.partition, flow, &down.uuid, &r);
	FF_RETURN_RESULT(&r);
}

/* ---- dispatcher ---- */

typedef struct Dispositions
{
	int64		cancelled;
	int64		already_terminal;
	int64		not_found;
} Dispositions;

/*
 * dispatch_group
 *		Cancels every listed sibling of one locked request, then drains it
 *		(behaviour/flows §6.2).  Runs inside the caller's subtransaction.
 */
static void
dispatch_group(int partition, const pg_uuid_t *flow, const pg_uuid_t *down, int64 now, Dispositions *d)
{
	Datum		v[3];
	bool		isnull;
	Datum		members;
	char	   *reason;
	Datum	   *elems = NULL;
	bool	   *nulls = NULL;
	int			n = 0,
				i;
	Dispositions mine = {0, 0, 0};

	key3(v, partition, flow, down);
	if (ff_plan_exec(&plan_group_request, v, NULL, 1) > 0)
	{
		members = ff_col_datum(0, 2, &isnull);
		reason = ff_col_text(0, 3);
		if (!isnull)
			deconstruct_array(DatumGetArrayTypeP(members), UUIDOID, UUID_LEN, false, TYPALIGN_CHAR,
							  &elems, &nulls, &n);
		for (i = 0; i < n; i++)
		{
			ExecCore	c;
			ExecId		sid;

			sid.partition = partition;
			sid.uuid = *DatumGetUUIDP(elems[i]);
			if (!ff_core_lock(sid, &c))
				mine.not_found++;
			else if (c.lifecycle_phase == PHASE_TERMINAL)
				mine.already_terminal++;
			else
			{
				ff_cancel_locked(&c, reason, FF_SIBLING_SOURCE, now);
				mine.cancelled++;
			}
		}
		/* counters, by the group's reason */
		{
			const char *disp[3] = {"cancelled", "already_terminal", "not_found"};
			int64		cnt[3] = {mine.cancelled, mine.already_terminal, mine.not_found};
			Datum		s[3];

			for (i = 0; i < 3; i++)
			{
				if (cnt[i] == 0)
					continue;
				s[0] = CStringGetTextDatum(reason);
				s[1] = CStringGetTextDatum(disp[i]);
				s[2] = Int64GetDatum(cnt[i]);
				ff_plan_exec(&plan_stat, s, NULL, 0);
			}
		}
	}
	drain(partition, flow, down);
	d->cancelled += mine.cancelled;
	d->already_terminal += mine.already_terminal;
	d->not_found += mine.not_found;
}

/*
 * The dispatcher's items: requests not backing off, oldest first; a group
 * is keyed by its downstream execution (the flow rides along).
 */
static FFPlan plan_dispatch_groups = {
	"SELECT g.partition, g.downstream_execution_id, "
	FF_BATCH_FAILING("g.partition", "g.downstream_execution_id") ", g.flow_id "
	"FROM ff.pending_cancel_group g WHERE "
	FF_BATCH_NOT_BACKING_OFF("g.partition", "g.downstream_execution_id")
	"ORDER BY g.enqueued_at LIMIT $2 FOR UPDATE OF g SKIP LOCKED",
	FF_BATCH_ARGS
};

static void
dispatch_step(const FFBatchItem *item, int64 now, void *arg)
{
	pg_uuid_t	flow = item->aux;
	pg_uuid_t	down = item->id;

	dispatch_group(item->partition, &flow, &down, now, (Dispositions *) arg);
}

/*
 * ff.scan_edge_cancel_dispatch(batch_size) -> jsonb (behaviour/flows §6.2)
 *		Up to batch_size requests, oldest first, each in a subtransaction of
 *		its own (a group's dispositions count only once it drained); a
 *		failing one is recorded in ff.scanner_item_failure and left for a
 *		later pass.  Returns {processed (groups drained), errors, cancelled,
 *		already_terminal, not_found, more}.
 */
Datum
ff_scan_edge_cancel_dispatch(PG_FUNCTION_ARGS)
{
	FFScanArgs	a;
	FFBatchCounts c = {0, 0, 0};
	FFBatchItem *items;
	Dispositions d = {0, 0, 0};
	int			n,
				i;
	FFResult	r;

	ff_scan_args(fcinfo, "edge_cancel_dispatch", false, 1000, &a);
	ff_spi_connect();
	items = ff_batch_select(&plan_dispatch_groups, &a, &n);
	for (i = 0; i < n; i++)
		ff_batch_apply(a.scanner, &items[i], 1, a.now, dispatch_step, &d, &c);
	ff_batch_result(&r, a.scanner, &c, a.batch_size);
	ffr_int(&r, "cancelled", d.cancelled);
	ffr_int(&r, "already_terminal", d.already_terminal);
	ffr_int(&r, "not_found", d.not_found);
	FF_RETURN_RESULT(&r);
}

/*
 * The reconciler's items: the same selection (a request the dispatcher
 * holds is skipped, never waited for).
 */
#define plan_reconcile_groups plan_dispatch_groups

/* A reconciled group's outcome, by item: written last, so a rerun overwrites. */
typedef enum
{
	RECONCILE_NONE = 0,
	RECONCILE_DRAINED,
	RECONCILE_LEFT
} ReconcileOutcome;

typedef struct ReconcileBatch
{
	const FFBatchItem *items;
	ReconcileOutcome *outcome;
} ReconcileBatch;

static void
reconcile_step(const FFBatchItem *item, int64 now, void *arg)
{
	ReconcileBatch *b = (ReconcileBatch *) arg;
	int			k = (int) (item - b->items);
	pg_uuid_t	flow = item->aux;
	pg_uuid_t	down = item->id;
	FFResult	one;			/* per-group detail, not reported by the scan */

	/* the batch may run again item by item: only a finished step counts */
	b->outcome[k] = RECONCILE_NONE;
	b->outcome[k] = reconcile_group(item->partition, &flow, &down, &one)
		? RECONCILE_DRAINED : RECONCILE_LEFT;
}

/*
 * ff.scan_edge_cancel_reconcile(batch_size) -> jsonb (behaviour/flows §6.3)
 *		Requests a crash left behind: stale ones are removed, ones whose
 *		siblings have all ended are drained; a request whose siblings still
 *		run, or that the dispatcher holds, is left alone.  A failing request
 *		is recorded in ff.scanner_item_failure (by its downstream execution)
 *		and backs off; the others go on.
 */
Datum
ff_scan_edge_cancel_reconcile(PG_FUNCTION_ARGS)
{
	FFScanArgs	a;
	FFBatchCounts c = {0, 0, 0};
	ReconcileBatch b;
	FFBatchItem *items;
	int			n,
				i,
				done = 0,
				left = 0;
	FFResult	r;

	ff_scan_args(fcinfo, "edge_cancel_reconcile", false, 1000, &a);
	ff_spi_connect();
	items = ff_batch_select(&plan_reconcile_groups, &a, &n);
	b.items = items;
	b.outcome = palloc0(sizeof(ReconcileOutcome) * Max(n, 1));
	ff_batch_apply(a.scanner, items, n, a.now, reconcile_step, &b, &c);
	for (i = 0; i < n; i++)
	{
		if (b.outcome[i] == RECONCILE_DRAINED)
			done++;
		else if (b.outcome[i] == RECONCILE_LEFT)
			left++;
	}
	ffr_ok(&r, "OK");
	ffr_text(&r, "scanner", a.scanner);
	ffr_int(&r, "processed", done);
	ffr_int(&r, "left_to_dispatcher", left);
	ffr_int(&r, "errors", c.errors);
	ffr_bool(&r, "more", n >= a.batch_size);
	FF_RETURN_RESULT(&r);
}
