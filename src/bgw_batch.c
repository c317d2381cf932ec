/*-------------------------------------------------------------------------
 *
 * bgw_batch.c
 *	  One way to run a scanner batch (bgw_batch.h).  The selection is a
 *	  kept plan that locks the due items with SKIP LOCKED (two scanners
 *	  never take the same item) and leaves out items in back-off; each
 *	  item's C operation runs on (partition, uuid) directly.
 *
 *	  Failure isolation: the whole batch runs in one subtransaction, and
 *	  only when that fails is it run again item by item, each in a
 *	  subtransaction of its own (a subtransaction per item would give
 *	  every writing item a subtransaction id, and past 64 of them every
 *	  snapshot taken meanwhile has to consult pg_subtrans).  A failing item
 *	  is recorded in ff.scanner_item_failure with its SQLSTATE, message and
 *	  detail, and logged as a WARNING.  Back-off per item, in cycles of its
 *	  scanner (ff.scanner_state.cycle, which ff.run_scanner advances): the
 *	  first two consecutive failures are retried on the next cycle (a
 *	  serialization failure or a deadlock passes), the third skips the item
 *	  for 10 cycles, each further one doubles that, up to 1000 cycles.  A
 *	  success deletes the item's row.  A query cancel is never isolated: it
 *	  ends the call.
 *
 * IDENTIFICATION
 *	  src/bgw_batch.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "bgw_batch.h"
#include "core_clock.h"
#include "core_ids.h"

/* ---- arguments ---- */

static char *
setting_or_null(const char *name)
{
	const char *v = GetConfigOption(name, true, false);

	return (v == NULL || v[0] == '\0') ? NULL : pstrdup(v);
}

/* A scan's namespace filter: argument n, else ff_engine.scanner_namespace. */
char *
ff_scan_namespace_arg(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? setting_or_null("ff_engine.scanner_namespace")
		: text_to_cstring(PG_GETARG_TEXT_PP(n));
}

void
ff_scan_args(FunctionCallInfo fcinfo, const char *scanner, bool filtered, int max_batch,
			 FFScanArgs *a)
{
	char	   *tag = NULL;
	char	   *eq;

	memset(a, 0, sizeof(*a));
	a->scanner = scanner;
	if (PG_ARGISNULL(0) || PG_GETARG_INT32(0) < 1 || PG_GETARG_INT32(0) > max_batch)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be between 1 and %d, got %s", max_batch,
						PG_ARGISNULL(0) ? "NULL" : psprintf("%d", PG_GETARG_INT32(0)))));
	a->batch_size = PG_GETARG_INT32(0);
	if (filtered)
	{
		a->namespace = ff_scan_namespace_arg(fcinfo, 1);
		tag = PG_ARGISNULL(2) ? setting_or_null("ff_engine.scanner_tag")
			: text_to_cstring(PG_GETARG_TEXT_PP(2));
	}
	if (tag != NULL)
	{
		eq = strchr(tag, '=');
		if (eq == NULL || eq == tag)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a scanner tag filter looks like key=value, got \"%s\"", tag)));
		a->tag_key = pnstrdup(tag, eq - tag);
		a->tag_value = pstrdup(eq + 1);
	}
	a->now = ff_now_ms();
}

/* ---- selection ---- */

/* The items of the last statement's result (SPI_tuptable). */
FFBatchItem *
ff_batch_select_result(int rows)
{
	FFBatchItem *items = palloc0(sizeof(FFBatchItem) * Max(rows, 1));
	int			ncols = rows > 0 ? SPI_tuptable->tupdesc->natts : 0;
	int			i;

	/* copied out: each item's operation runs statements of its own */
	for (i = 0; i < rows; i++)
	{
		bool		isnull;
		FFBatchItem *it = &items[i];

		it->partition = (int) ff_col_int64(i, 1, 0);
		it->id = *DatumGetUUIDP(ff_col_datum(i, 2, &isnull));
		it->failing = ff_col_bool(i, 3);
		if (ncols >= 4 && !ff_col_isnull(i, 4))
		{
			it->has_aux = true;
			it->aux = *DatumGetUUIDP(ff_col_datum(i, 4, &isnull));
		}
		if (ncols >= 5)
			it->aux_text = ff_col_text(i, 5);
	}
	return items;
}

FFBatchItem *
ff_batch_select(FFPlan *select, const FFScanArgs *a, int *n)
{
	Datum		v[6];
	bool		nulls[6] = {false, false, a->namespace == NULL, a->tag_key == NULL,
	a->tag_key == NULL, false};

	v[0] = Int64GetDatum(a->now);
	v[1] = Int32GetDatum(a->batch_size);
	v[2] = a->namespace ? CStringGetTextDatum(a->namespace) : (Datum) 0;
	v[3] = a->tag_key ? CStringGetTextDatum(a->tag_key) : (Datum) 0;
	v[4] = a->tag_key ? CStringGetTextDatum(a->tag_value) : (Datum) 0;
	v[5] = CStringGetTextDatum(a->scanner);
	*n = (int) ff_plan_exec(select, v, nulls, 0);
	return ff_batch_select_result(*n);
}

/* ---- failures ---- */

static FFPlan plan_failure_record = {
	"INSERT INTO ff.scanner_item_failure AS f (scanner, partition, item_id, failures, sqlstate, message, "
	"detail, first_failed_at, last_failed_at, skip_until_cycle) VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $7, 0) "
	"ON CONFLICT (scanner, partition, item_id) DO UPDATE SET failures = f.failures + 1, "
	"sqlstate = EXCLUDED.sqlstate, message = EXCLUDED.message, detail = EXCLUDED.detail, "
	"last_failed_at = EXCLUDED.last_failed_at, "
	"skip_until_cycle = CASE WHEN f.failures + 1 < 3 THEN 0 "
	"ELSE coalesce((SELECT s.cycle FROM ff.scanner_state s WHERE s.scanner = $1), 0) + 1 "
	"+ least(10::bigint << least(f.failures + 1 - 3, 7), 1000) END",
	7, {TEXTOID, INT2OID, UUIDOID, TEXTOID, TEXTOID, TEXTOID, INT8OID}
};
/*
 * A dispatcher runs at every commit that wakes it, not in cycles: its
 * failing item waits by time instead, 1 s, 10 s from the third failure on.
 */
static FFPlan plan_failure_record_timed = {
	"INSERT INTO ff.scanner_item_failure AS f (scanner, partition, item_id, failures, sqlstate, message, "
	"detail, first_failed_at, last_failed_at, skip_until_cycle, skip_until_at) "
	"VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $7, 0, $7 + 1000) "
	"ON CONFLICT (scanner, partition, item_id) DO UPDATE SET failures = f.failures + 1, "
	"sqlstate = EXCLUDED.sqlstate, message = EXCLUDED.message, detail = EXCLUDED.detail, "
	"last_failed_at = EXCLUDED.last_failed_at, "
	"skip_until_at = EXCLUDED.last_failed_at + CASE WHEN f.failures + 1 >= 3 THEN 10000 ELSE 1000 END",
	7, {TEXTOID, INT2OID, UUIDOID, TEXTOID, TEXTOID, TEXTOID, INT8OID}
};
static FFPlan plan_failure_clear = {
	"DELETE FROM ff.scanner_item_failure WHERE scanner = $1 AND partition = $2 AND item_id = $3",
	3, {TEXTOID, INT2OID, UUIDOID}
};

static void
record_failure(FFPlan *plan, const char *scanner, int partition, const pg_uuid_t *item,
			   ErrorData *edata, int64 now)
{
	Datum		v[7];
	bool		n[7] = {false, false, false, false, false, edata->detail == NULL, false};
	const char *state = unpack_sql_state(edata->sqlerrcode);

	ereport(WARNING,
			(errmsg("ff_engine scanner %s failed on %s: %s", scanner,
					ff_format_exec_id(partition, item), edata->message),
			 errdetail("SQLSTATE %s%s%s", state, edata->detail ? ": " : "",
					   edata->detail ? edata->detail : "")));
	v[0] = CStringGetTextDatum(scanner);
	v[1] = Int16GetDatum((int16) partition);
	v[2] = UUIDPGetDatum(unconstify(pg_uuid_t *, item));
	v[3] = CStringGetTextDatum(state);
	v[4] = CStringGetTextDatum(edata->message ? edata->message : "");
	v[5] = edata->detail ? CStringGetTextDatum(edata->detail) : (Datum) 0;
	v[6] = Int64GetDatum(now);
	ff_plan_exec(plan, v, n, 0);
}

void
ff_batch_record_failure(const char *scanner, int partition, const pg_uuid_t *item,
						ErrorData *edata, int64 now)
{
	record_failure(&plan_failure_record, scanner, partition, item, edata, now);
}

void
ff_batch_record_failure_timed(const char *scanner, int partition, const pg_uuid_t *item,
							  ErrorData *edata, int64 now)
{
	record_failure(&plan_failure_record_timed, scanner, partition, item, edata, now);
}

void
ff_batch_clear_failure(const char *scanner, int partition, const pg_uuid_t *item)
{
	Datum		v[3];

	v[0] = CStringGetTextDatum(scanner);
	v[1] = Int16GetDatum((int16) partition);
	v[2] = UUIDPGetDatum(unconstify(pg_uuid_t *, item));
	ff_plan_exec(&plan_failure_clear, v, NULL, 0);
}

/* ---- running ---- */

typedef struct BatchTask
{
	FFBatchItem *items;
	int			n;
	int64		now;
	FFBatchStep step;
	void	   *arg;
} BatchTask;

static void
batch_task(void *p)
{
	BatchTask  *t = (BatchTask *) p;
	int			i;

	for (i = 0; i < t->n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		t->step(&t->items[i], t->now, t->arg);
	}
}

/* Run items [0, n) in one subtransaction; NULL on success. */
static ErrorData *
run_isolated(FFBatchItem *items, int n, int64 now, FFBatchStep step, void *arg)
{
	BatchTask	t = {items, n, now, step, arg};

	return ff_run_in_subxact(batch_task, &t, CurrentMemoryContext);
}

void
ff_batch_apply(const char *scanner, FFBatchItem *items, int n, int64 now,
			   FFBatchStep step, void *arg, FFBatchCounts *c)
{
	ErrorData  *edata;
	int			i;

	c->selected += n;
	if (n == 0)
		return;
	if (n > 1)
	{
		edata = run_isolated(items, n, now, step, arg);
		if (edata == NULL)
		{
			c->processed += n;
			for (i = 0; i < n; i++)
				if (items[i].failing)
					ff_batch_clear_failure(scanner, items[i].partition, &items[i].id);
			return;
		}
		FreeErrorData(edata);
	}
	for (i = 0; i < n; i++)
	{
		items[i].isolated = true;
		edata = run_isolated(&items[i], 1, now, step, arg);
		if (edata == NULL)
		{
			c->processed++;
			if (items[i].failing)
				ff_batch_clear_failure(scanner, items[i].partition, &items[i].id);
		}
		else
		{
			c->errors++;
			ff_batch_record_failure(scanner, items[i].partition, &items[i].id, edata, now);
			FreeErrorData(edata);
		}
	}
}

void
ff_batch_run(FFPlan *select, const FFScanArgs *a, FFBatchStep step, void *arg, FFBatchCounts *c)
{
	int			n;
	FFBatchItem *items = ff_batch_select(select, a, &n);

	ff_batch_apply(a->scanner, items, n, a->now, step, arg, c);
}

void
ff_batch_result(FFResult *r, const char *scanner, const FFBatchCounts *c, int batch_size)
{
	ffr_ok(r, "OK");
	ffr_text(r, "scanner", scanner);
	ffr_int(r, "processed", c->processed);
	ffr_int(r, "errors", c->errors);
	/* a full batch means more may be due: the caller can take another */
	ffr_bool(r, "more", c->selected >= batch_size);
}
