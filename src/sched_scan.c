/*-------------------------------------------------------------------------
 *
 * sched_scan.c
 *	  The schedules scanner, ff.scan_schedules (issue 26), on the one batch
 *	  runner (bgw_batch.c).  The selection locks due schedule rows FOR
 *	  UPDATE SKIP LOCKED: the row lock is the slot's lock, so a second
 *	  runner skips it, and once the first commits the row is no longer due.
 *	  An item is a schedule (partition 0, its schedule_id).
 *
 *	  The batch first runs whole, unguarded: one set-based statement fires
 *	  the simple schedules (one due slot, none missed, no overlap to check,
 *	  within end and max_fires, no flow) and ff._schedule_advance the rest.
 *	  When that fails, each schedule runs alone with every slot guarded by
 *	  ff._schedule_advance: a failing slot is counted missed, never retried
 *	  (it would block the rest), and is recorded in ff.scanner_item_failure
 *	  without back-off (the slot is missed; the schedule keeps its cadence);
 *	  a later run without a failing slot deletes that row.  A schedule whose
 *	  advance fails even so is the runner's failing item (recorded, backed
 *	  off, its row not advanced).
 *
 * IDENTIFICATION
 *	  src/sched_scan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "bgw_batch.h"
#include "core_clock.h"
#include "core_spi.h"
#include "ff_engine.h"

PG_FUNCTION_INFO_V1(ff_scan_schedules);

#define SCHED_SCANNER "schedules"

/* due schedules, oldest slot first ($4, $5: the tag filter, unused) */
static FFPlan plan_due = {
	"SELECT 0::smallint, x.schedule_id, " FF_BATCH_FAILING("0", "x.schedule_id") " "
	"FROM ff.schedule x WHERE NOT x.paused AND x.next_fire_at <= $1 "
	"AND ($3::text IS NULL OR x.namespace = $3) AND "
	FF_BATCH_NOT_BACKING_OFF("0", "x.schedule_id")
	"ORDER BY x.next_fire_at LIMIT $2 FOR UPDATE OF x SKIP LOCKED",
	FF_BATCH_ARGS
};

/*
 * The set-based fast path over the locked rows $1 at time $2: the same
 * firing as ff._schedule_advance for a schedule with one due slot, in
 * three statements.  One row per schedule it took: (schedule_id, fired,
 * ok); a refused creation (not ok) makes the caller redo the batch guarded.
 */
static FFPlan plan_fast = {
	"WITH f AS MATERIALIZED ("
	" SELECT x.schedule_id, x.next_fire_at AS slot, nx.nxt, x.end_at, x.max_fires, x.fire_count,"
	"  ff.create_execution(ff.execution_id(x.lane_id), x.namespace, x.lane_id, x.execution_kind,"
	"   x.priority, 'schedule:' || x.name, x.policy_json, x.payload, NULL,"
	"   'ff:schedule:' || x.schedule_id || ':' || x.next_fire_at, 604800000,"
	"   coalesce(x.tags, '{}') || jsonb_build_object('ff.schedule', x.name, 'ff.slot', x.next_fire_at::text)) AS r"
	" FROM ff.schedule x, LATERAL (SELECT ff.cron_next_fire(x.cron, x.time_zone, x.next_fire_at) AS nxt) nx"
	" WHERE x.schedule_id = ANY ($1)"
	"  AND x.flow_template IS NULL"
	"  AND (x.overlap = 'allow' OR x.last_execution_id IS NULL)"
	"  AND (nx.nxt IS NULL OR nx.nxt > $2)"
	"  AND (x.end_at IS NULL OR x.next_fire_at <= x.end_at)"
	"  AND (x.max_fires IS NULL OR x.fire_count < x.max_fires)"
	"  AND (x.catch_up <> 'none' OR $2 - x.next_fire_at <= x.misfire_grace_ms)"
	"), ins AS ("
	" INSERT INTO ff.schedule_firing (schedule_id, slot_at, manual, execution_id, fired_at)"
	" SELECT f.schedule_id, f.slot, false, f.r ->> 'execution_id', $2 FROM f"
	" WHERE (f.r ->> 'ok')::boolean"
	" ON CONFLICT ON CONSTRAINT schedule_firing_pkey DO NOTHING"
	"), upd AS ("
	" UPDATE ff.schedule x SET"
	"  next_fire_at = CASE WHEN (f.end_at IS NOT NULL AND f.nxt > f.end_at)"
	"                        OR (f.max_fires IS NOT NULL"
	"                            AND f.fire_count + (f.r ->> 'status' = 'OK')::integer >= f.max_fires)"
	"                      THEN NULL ELSE f.nxt END,"
	"  fire_count = x.fire_count + (f.r ->> 'status' = 'OK')::integer,"
	"  last_fire_at = CASE WHEN f.r ->> 'status' = 'OK' THEN $2 ELSE x.last_fire_at END,"
	"  last_slot_at = CASE WHEN f.r ->> 'status' = 'OK' THEN f.slot ELSE x.last_slot_at END,"
	"  last_execution_id = CASE WHEN f.r ->> 'status' = 'OK' THEN f.r ->> 'execution_id'"
	"                           ELSE x.last_execution_id END,"
	"  last_flow_id = CASE WHEN f.r ->> 'status' = 'OK' THEN NULL ELSE x.last_flow_id END,"
	"  last_error = CASE WHEN f.r ->> 'status' = 'OK' THEN NULL ELSE x.last_error END,"
	"  updated_at = $2"
	" FROM f WHERE x.schedule_id = f.schedule_id AND (f.r ->> 'ok')::boolean"
	" RETURNING x.schedule_id"
	") "
	"SELECT f.schedule_id, f.r ->> 'status' = 'OK', coalesce((f.r ->> 'ok')::boolean, false) FROM f",
	2, {UUIDARRAYOID, INT8OID}
};

/* one schedule the fast path did not take, its row locked */
static FFPlan plan_advance = {
	"SELECT ff._schedule_advance(x, $2, $3, $4) FROM ff.schedule x WHERE x.schedule_id = $1",
	4, {UUIDOID, INT8OID, INT4OID, BOOLOID}
};

static FFPlan plan_failed_now = {
	"SELECT 1 FROM ff.scanner_item_failure WHERE scanner = '" SCHED_SCANNER "' AND partition = 0 "
	"AND item_id = $1 AND last_failed_at = $2",
	2, {UUIDOID, INT8OID}
};

static FFPlan plan_next = {
	"SELECT min(x.next_fire_at) FROM ff.schedule x WHERE NOT x.paused AND x.next_fire_at > $1",
	1, {INT8OID}
};

typedef struct SchedBatch
{
	FFBatchItem *items;
	int			n;
	int			cap;			/* ff_engine.schedule_catch_up_max */
	bool	   *fast;			/* taken by the fast path (batch run) */
	int		   *fired;			/* executions created, by item */
} SchedBatch;

/* The fast path over the whole batch; a refusal raises (the redo guards). */
static void
fast_path(SchedBatch *b, int64 now)
{
	Datum	   *ids = palloc(sizeof(Datum) * b->n);
	Datum		v[2];
	uint64		rows,
				r;
	int			i;

	for (i = 0; i < b->n; i++)
	{
		ids[i] = UUIDPGetDatum(&b->items[i].id);
		b->fast[i] = false;
		b->fired[i] = 0;
	}
	v[0] = PointerGetDatum(construct_array(ids, b->n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	v[1] = Int64GetDatum(now);
	rows = ff_plan_exec(&plan_fast, v, NULL, 0);
	for (r = 0; r < rows; r++)
	{
		bool		isnull;
		pg_uuid_t  *id = DatumGetUUIDP(ff_col_datum((int) r, 1, &isnull));

		if (!ff_col_bool((int) r, 3))
			ereport(ERROR,
					(errcode(ERRCODE_RAISE_EXCEPTION),
					 errmsg("a schedule firing was refused")));
		for (i = 0; i < b->n; i++)
			if (memcmp(&b->items[i].id, id, UUID_LEN) == 0)
			{
				b->fast[i] = true;
				b->fired[i] = ff_col_bool((int) r, 2) ? 1 : 0;
				break;
			}
	}
}

static void
sched_step(const FFBatchItem *item, int64 now, void *arg)
{
	SchedBatch *b = (SchedBatch *) arg;
	int			k = (int) (item - b->items);
	Datum		v[4];

	if (!item->isolated)
	{
		/* the batch run: the items come in order, the first fires the simple ones */
		if (k == 0)
			fast_path(b, now);
		if (b->fast[k])
			return;
	}
	/* only a finished step counts: the batch may run again item by item */
	b->fired[k] = 0;
	v[0] = UUIDPGetDatum(unconstify(pg_uuid_t *, &item->id));
	v[1] = Int64GetDatum(now);
	v[2] = Int32GetDatum(b->cap);
	v[3] = BoolGetDatum(item->isolated);
	if (ff_plan_exec(&plan_advance, v, NULL, 1) > 0)
		b->fired[k] = (int) ff_col_int64(0, 1, 0);
	/* guarded, a missed slot's failure row written now stays (no clearing) */
	if (item->isolated && item->failing)
	{
		v[1] = Int64GetDatum(now);
		if (ff_plan_exec(&plan_failed_now, v, NULL, 1) > 0)
			b->items[k].failing = false;
	}
}

/*
 * ff.scan_schedules(batch_size, namespace) -> jsonb
 *		Fires the due slots of up to batch_size due schedules (at most
 *		ff_engine.schedule_catch_up_max each).  Returns {processed
 *		(schedules taken), fired, errors, more, next_in_ms (until the next
 *		slot, when the batch was not full; the engine worker wakes then)}.
 */
Datum
ff_scan_schedules(PG_FUNCTION_ARGS)
{
	FFScanArgs	a;
	FFBatchCounts c = {0, 0, 0};
	SchedBatch	b;
	const char *cap = GetConfigOption("ff_engine.schedule_catch_up_max", true, false);
	int64		next = 0;
	bool		has_next = false;
	int			fired = 0,
				i;
	FFResult	r;

	ff_scan_args(fcinfo, SCHED_SCANNER, false, 1000, &a);
	a.namespace = ff_scan_namespace_arg(fcinfo, 1);
	ff_spi_connect();
	b.items = ff_batch_select(&plan_due, &a, &b.n);
	b.cap = (cap != NULL && cap[0] != '\0') ? pg_strtoint32(cap) : 100;
	b.fast = palloc0(sizeof(bool) * Max(b.n, 1));
	b.fired = palloc0(sizeof(int) * Max(b.n, 1));
	ff_batch_apply(a.scanner, b.items, b.n, a.now, sched_step, &b, &c);
	for (i = 0; i < b.n; i++)
		fired += b.fired[i];
	/* a due row another runner holds is not counted: its runner fires it */
	if (b.n < a.batch_size)
	{
		Datum		v[1] = {Int64GetDatum(a.now)};

		ff_plan_exec(&plan_next, v, NULL, 1);
		has_next = !ff_col_isnull(0, 1);
		if (has_next)
			next = Max(ff_col_int64(0, 1, 0) - ff_now_ms(), 0);
	}
	ffr_ok(&r, "OK");
	ffr_text(&r, "scanner", SCHED_SCANNER);
	ffr_int(&r, "processed", b.n);
	ffr_int(&r, "fired", fired);
	ffr_int(&r, "errors", c.errors);
	ffr_bool(&r, "more", b.n >= a.batch_size);
	ffr_int_or_null(&r, "next_in_ms", next, !has_next);
	FF_RETURN_RESULT(&r);
}
