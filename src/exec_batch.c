/*-------------------------------------------------------------------------
 *
 * exec_batch.c
 *	  Batched forms of the lease-bound terminal operations, so a worker
 *	  loop runs one claim transaction (ff.claim_next with max_count) and
 *	  one completion transaction per batch:
 *	  ff.complete_executions and ff.fail_executions; and of create,
 *	  ff.create_executions (one lane and one set of options for all).
 *
 *	  - Parallel arrays, one element per execution, each with its own
 *	    fence: every item is exactly the single operation, with its own
 *	    per-item envelope (stale_lease, execution_not_active, ...).
 *	  - Every argument is checked before anything is written (lengths,
 *	    NULL elements, id syntax, sizes): bad input raises and changes
 *	    nothing.  Items then run in array order in the caller's
 *	    transaction.
 *	  - A batch of distinct executions locks them all in one pass, in
 *	    (partition, execution_id) order whatever the array order, so two
 *	    batches never deadlock on each other, and defers its writes
 *	    (core_spi.h): each table is written once per batch, not per item.
 *	    A batch of completes that each write only their row (the holder's
 *	    live lease, first attempt) stores those rows first, in the same
 *	    order, each update taking its row's lock; the rest is then locked
 *	    (ff_complete_unlocked_many).
 *	    A batch naming an execution twice runs item by item instead (the
 *	    second item must see the first's write), locking in array order.
 *	  - A batch of creates of distinct ids defers its inserts the same
 *	    way (written in id order); one of its ids created meanwhile by
 *	    another transaction fails the whole call (40001, retry).
 *
 * IDENTIFICATION
 *	  src/exec_batch.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "core_clock.h"
#include "exec_core.h"
#include "exec_ops.h"
#include "ff_engine.h"
#include "core_ids.h"
#include "core_partition.h"
#include "core_spi.h"
#include "core_tenant.h"
#include "core_validate.h"

PG_FUNCTION_INFO_V1(ff_complete_executions);
PG_FUNCTION_INFO_V1(ff_fail_executions);
PG_FUNCTION_INFO_V1(ff_create_executions);

#define FF_BATCH_MAX 1000
#define FF_CREATE_BATCH_MAX 10000

typedef struct BatchArg
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
} BatchArg;

/*
 * batch_array
 *		Deconstructs argument argno (a one-dimensional array of elemtype).
 *		A required array may hold no NULL; an optional one may be NULL
 *		itself (n = -1).
 */
static BatchArg
batch_array(FunctionCallInfo fcinfo, int argno, Oid elemtype, const char *name, bool required)
{
	BatchArg	a = {NULL, NULL, -1};
	ArrayType  *arr;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			i;

	if (PG_ARGISNULL(argno))
	{
		if (required)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null", name)));
		return a;
	}
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", name)));
	/* a huge array is refused before it is taken apart */
	if (ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr)) > FF_CREATE_BATCH_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s has more than %d elements", name, FF_CREATE_BATCH_MAX)));
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(arr, elemtype, typlen, typbyval, typalign, &a.elems, &a.nulls, &a.n);
	if (required)
		for (i = 0; i < a.n; i++)
			if (a.nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("%s[%d] must not be null", name, i + 1)));
	return a;
}

/* An optional per-item array: NULL (n = -1) or exactly n long. */
static BatchArg
batch_optional(FunctionCallInfo fcinfo, int argno, Oid elemtype, const char *name, int n)
{
	BatchArg	a = batch_array(fcinfo, argno, elemtype, name, false);

	if (a.n >= 0 && a.n != n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be null or as long as execution_ids", name)));
	return a;
}

/* The execution ids of execution_ids[], parsed. */
static ExecId *
batch_exec_ids(BatchArg *ids)
{
	ExecId	   *out = palloc(sizeof(ExecId) * Max(ids->n, 1));
	int			i;

	for (i = 0; i < ids->n; i++)
	{
		char	   *s = TextDatumGetCString(ids->elems[i]);

		if (!ff_parse_exec_id(s, &out[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid execution id in execution_ids[%d]: \"%s\"", i + 1, s)));
	}
	return out;
}

/* The execution ids and fences shared by both batch calls, checked. */
typedef struct BatchItems
{
	int			n;
	ExecId	   *ids;
	Fence	   *fences;
	/* for completes: those stored before the batch locked its rows */
	StoredComplete **stored;
} BatchItems;

static BatchItems
batch_items(FunctionCallInfo fcinfo)
{
	BatchArg	ids = batch_array(fcinfo, 0, TEXTOID, "execution_ids", true);
	BatchArg	leases = batch_array(fcinfo, 1, UUIDOID, "lease_ids", true);
	BatchArg	epochs = batch_array(fcinfo, 2, INT8OID, "lease_epochs", true);
	BatchArg	attempts = batch_array(fcinfo, 3, UUIDOID, "attempt_ids", true);
	BatchItems	b;
	int			i;

	if (leases.n != ids.n || epochs.n != ids.n || attempts.n != ids.n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("execution_ids, lease_ids, lease_epochs and attempt_ids must have the same length"),
				 errdetail("Lengths %d, %d, %d, %d.", ids.n, leases.n, epochs.n, attempts.n)));
	if (ids.n > FF_BATCH_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("at most %d executions per batch, got %d", FF_BATCH_MAX, ids.n)));
	b.n = ids.n;
	b.stored = NULL;
	b.ids = batch_exec_ids(&ids);
	b.fences = palloc(sizeof(Fence) * Max(b.n, 1));
	for (i = 0; i < b.n; i++)
	{
		b.fences[i].lease_id = DatumGetUUIDP(leases.elems[i]);
		b.fences[i].has_epoch = true;
		b.fences[i].lease_epoch = DatumGetInt64(epochs.elems[i]);
		b.fences[i].attempt_id = DatumGetUUIDP(attempts.elems[i]);
	}
	return b;
}

/*
 * batch_result
 *		{"ok": true, "status": "OK", "count": n, "succeeded": k,
 *		 "results": [per-item envelope with its execution_id, ...]}
 *		Called with SPI connected; returns with it finished.
 */
static Datum
batch_result(int n, JsonbValue **items, int succeeded)
{
	FFResult	r;

	ffr_ok(&r, "OK");
	ffr_int(&r, "count", n);
	ffr_int(&r, "succeeded", succeeded);
	/* copied out of SPI's memory; SPI disconnected */
	PG_RETURN_DATUM(ff_spi_finish_datum(JsonbPGetDatum(ffr_list(&r, "results", items, n))));
}

/* Whether a batch is worth deferring: two items or more, no id twice. */
static bool
batch_distinct(const ExecId *ids, int n)
{
	ExecId	   *sorted = palloc(sizeof(ExecId) * Max(n, 1));
	int			i;

	if (n < 2)
		return false;
	memcpy(sorted, ids, sizeof(ExecId) * n);
	qsort(sorted, n, sizeof(ExecId), ff_exec_id_cmp);
	for (i = 1; i < n; i++)
		if (ff_exec_id_cmp(&sorted[i - 1], &sorted[i]) == 0)
			return false;
	return true;
}

/*
 * batch_begin
 *		With SPI connected: for distinct executions, when every item is a
 *		complete that writes only its row, those rows stored first (up to
 *		the first changed meanwhile: ff_complete_unlocked_many), then the
 *		rest locked and writes deferred.  Returns whether it deferred (the
 *		caller then flushes).
 */
static bool
batch_begin(BatchItems *b, int64 now)
{
	ExecId	   *rest;
	int			i,
				nrest = 0;

	if (!batch_distinct(b->ids, b->n))
		return false;
	if (b->stored != NULL)
		ff_complete_unlocked_many(b->ids, b->fences, b->n, now, b->stored);
	rest = palloc(sizeof(ExecId) * b->n);
	for (i = 0; i < b->n; i++)
		if (b->stored == NULL || b->stored[i] == NULL)
			rest[nrest++] = b->ids[i];
	ff_defer_begin();
	if (nrest > 0)
		ff_core_lock_many(rest, nrest);
	return true;
}

/* One item of a batch: run it on execution i, its envelope in *r. */
typedef void (*BatchItemFn) (BatchItems *b, int i, void *arg, int64 now, FFResult *r);

/*
 * batch_run
 *		Connect SPI, run every item (locked and deferred together when the
 *		executions are distinct), each envelope tagged with its execution
 *		id, and return the batch result.
 */
static Datum
batch_run(BatchItems *b, BatchItemFn item, void *arg, int64 now)
{
	JsonbValue **items;
	bool		deferred;
	int			i,
				ok = 0;

	ff_spi_connect();
	deferred = batch_begin(b, now);
	items = palloc(sizeof(JsonbValue *) * Max(b->n, 1));
	for (i = 0; i < b->n; i++)
	{
		FFResult	r;

		/* deferred items run no statement: a cancel is seen here */
		CHECK_FOR_INTERRUPTS();
		item(b, i, arg, now, &r);
		ffr_exec_id(&r, "execution_id", b->ids[i].partition, &b->ids[i].uuid);
		items[i] = ffr_finish_value(&r);
		ok += ffr_value_ok(items[i]);
	}
	if (deferred)
		ff_defer_flush();
	return batch_result(b->n, items, ok);
}

static void
complete_item(BatchItems *b, int i, void *arg, int64 now, FFResult *r)
{
	BatchArg   *results = (BatchArg *) arg;
	bytea	   *res = (results->n < 0 || results->nulls[i]) ? NULL : DatumGetByteaPP(results->elems[i]);

	if (b->stored != NULL && b->stored[i] != NULL)
		ff_complete_stored(b->stored[i], res, now, r);
	else
		ff_complete_one(b->ids[i], &b->fences[i], res, "", now, r);
}

typedef struct FailArgs
{
	char	  **why;
	char	   *category;
} FailArgs;

static void
fail_item(BatchItems *b, int i, void *arg, int64 now, FFResult *r)
{
	FailArgs   *fa = (FailArgs *) arg;

	ff_fail_one(b->ids[i], &b->fences[i], fa->why[i], fa->category, "", now, r);
}

/*
 * ff.complete_executions(execution_ids text[], lease_ids uuid[],
 *		lease_epochs bigint[], attempt_ids uuid[], result_payloads bytea[])
 */
Datum
ff_complete_executions(PG_FUNCTION_ARGS)
{
	BatchItems	b = batch_items(fcinfo);
	BatchArg	results = batch_optional(fcinfo, 4, BYTEAOID, "result_payloads", b.n);
	int64		now = ff_now_ms();
	int			i;

	for (i = 0; i < results.n; i++)
		if (!results.nulls[i])
			ff_check_result_size(DatumGetByteaPP(results.elems[i]));
	b.stored = palloc0(sizeof(StoredComplete *) * Max(b.n, 1));
	return batch_run(&b, complete_item, &results, now);
}

/*
 * ff.fail_executions(execution_ids text[], lease_ids uuid[],
 *		lease_epochs bigint[], attempt_ids uuid[], failure_reasons text[],
 *		failure_category text)
 */
Datum
ff_fail_executions(PG_FUNCTION_ARGS)
{
	BatchItems	b = batch_items(fcinfo);
	BatchArg	reasons = batch_optional(fcinfo, 4, TEXTOID, "failure_reasons", b.n);
	char	   *category = ff_arg_text_opt(fcinfo, 5);
	int64		now = ff_now_ms();
	char	  **why;
	FailArgs	fa;
	int			i;

	ff_check_max_len(category, 256, "failure_category");
	why = palloc0(sizeof(char *) * Max(b.n, 1));
	for (i = 0; i < reasons.n; i++)
		if (!reasons.nulls[i])
		{
			why[i] = TextDatumGetCString(reasons.elems[i]);
			ff_check_max_len(why[i], 4096, "failure_reason");
		}
	fa.why = why;
	fa.category = category;
	return batch_run(&b, fail_item, &fa, now);
}

/*
 * ff.create_executions(execution_ids text[], lane_id, input_payloads
 *		bytea[], namespace, priority, policy_json, delay_until)
 *		Each item is exactly create_execution with the shared options.
 */
Datum
ff_create_executions(PG_FUNCTION_ARGS)
{
	BatchArg	ids = batch_array(fcinfo, 0, TEXTOID, "execution_ids", true);
	BatchArg	payloads;
	CreateArgs	a;
	ExecId	   *eids;
	bytea	  **data;
	JsonbValue **items;
	int64		now = ff_now_ms();
	int			nparts = ff_num_flow_partitions();
	bool		deferred;
	int			i,
				ok = 0;

	if (ids.n > FF_CREATE_BATCH_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("at most %d executions per call, got %d", FF_CREATE_BATCH_MAX, ids.n)));
	payloads = batch_optional(fcinfo, 2, BYTEAOID, "input_payloads", ids.n);
	a = ff_create_args(fcinfo, 3, 1, -1, 4, -1, 5, 6);
	eids = batch_exec_ids(&ids);
	data = palloc0(sizeof(bytea *) * Max(ids.n, 1));
	for (i = 0; i < ids.n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (payloads.n >= 0 && !payloads.nulls[i])
			data[i] = DatumGetByteaPP(payloads.elems[i]);
		ff_check_create_item(eids[i], data[i], nparts);
	}
	ff_spi_connect();
	ff_namespace_require(a.ns);
	deferred = batch_distinct(eids, ids.n);
	if (deferred)
	{
		a.existing = ff_existing_ids(eids, ids.n, &a.nexisting);
		ff_defer_begin();
	}
	items = palloc(sizeof(JsonbValue *) * Max(ids.n, 1));
	for (i = 0; i < ids.n; i++)
	{
		FFResult	r;

		CHECK_FOR_INTERRUPTS();
		ff_create_one(&a, eids[i], data[i], now, &r);
		items[i] = ffr_finish_value(&r);
		ok += ffr_value_ok(items[i]);
	}
	if (deferred)
		ff_defer_flush();
	return batch_result(ids.n, items, ok);
}
