/*-------------------------------------------------------------------------
 *
 * exec_fence.c
 *	  The fence as one value: an overload of every lease-bound function
 *	  whose first argument is `fence jsonb` - the claim envelope as a claim
 *	  returned it, or its {execution_id, lease_id, lease_epoch, attempt_id,
 *	  attempt_index} subset - in place of the separate ids, so a worker
 *	  passes one value instead of three in an order to remember.
 *
 *	  - The fence is checked strictly before anything is read: an object
 *	    with all five fields, of their types, and no field a claim does
 *	    not carry; anything else is 22023 and nothing is written.
 *	  - Each overload then calls the separate-ids function's C entry point
 *	    with the fence's parts in their places (FenceForm): one code path
 *	    for both forms, the same envelopes, the same lease checks.
 *	  - The overloads are shaped so that no call the separate-ids forms
 *	    accepted resolves differently (sql/install/45_exec_fence_forms.sql).
 *
 * IDENTIFICATION
 *	  src/exec_fence.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "core_ids.h"
#include "ff_engine.h"

/* The separate-ids forms' entry points (their files declare them too). */
extern PGDLLEXPORT Datum ff_renew_lease(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum ff_update_progress(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum ff_complete_execution(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum ff_fail_execution(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum ff_delay_execution(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum ff_move_to_waiting_children(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum ff_cancel_execution(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum ff_append_frame(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum ff_suspend_execution(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum ff_create_pending_waitpoint(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum ff_close_waitpoint(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum ff_complete_executions(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum ff_fail_executions(PG_FUNCTION_ARGS);

PG_FUNCTION_INFO_V1(ff_renew_lease_fence);
PG_FUNCTION_INFO_V1(ff_update_progress_fence);
PG_FUNCTION_INFO_V1(ff_complete_execution_fence);
PG_FUNCTION_INFO_V1(ff_fail_execution_fence);
PG_FUNCTION_INFO_V1(ff_delay_execution_fence);
PG_FUNCTION_INFO_V1(ff_move_to_waiting_children_fence);
PG_FUNCTION_INFO_V1(ff_cancel_execution_fence);
PG_FUNCTION_INFO_V1(ff_append_frame_fence);
PG_FUNCTION_INFO_V1(ff_suspend_execution_fence);
PG_FUNCTION_INFO_V1(ff_create_pending_waitpoint_fence);
PG_FUNCTION_INFO_V1(ff_close_waitpoint_fence);
PG_FUNCTION_INFO_V1(ff_complete_executions_fence);
PG_FUNCTION_INFO_V1(ff_fail_executions_fence);

/* The most arguments of a separate-ids form (suspend_execution's). */
#define FF_FENCE_MAX_ARGS 20

/* A fence, parsed. */
typedef struct JsonFence
{
	char	   *execution_id;
	pg_uuid_t	lease_id;
	int64		lease_epoch;
	pg_uuid_t	attempt_id;
	int32		attempt_index;
} JsonFence;

#define FENCE_EXECUTION_ID	0x01
#define FENCE_LEASE_ID		0x02
#define FENCE_LEASE_EPOCH	0x04
#define FENCE_ATTEMPT_ID	0x08
#define FENCE_ATTEMPT_INDEX	0x10
#define FENCE_ALL			0x1f

static void
bad_fence(const char *name, const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s: %s", name, problem),
			 errhint("Pass the claim as it was returned, or {\"execution_id\", \"lease_id\", "
					 "\"lease_epoch\", \"attempt_id\", \"attempt_index\"}.")));
}

/* A JSON number that is an integer in [min, max]. */
static bool
json_integer(const JsonbValue *v, int64 min, int64 max, int64 *out)
{
	char	   *s,
			   *end;
	long long	x;

	if (v->type != jbvNumeric)
		return false;
	s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	if (!(isdigit((unsigned char) s[0]) || (s[0] == '-' && isdigit((unsigned char) s[1]))))
		return false;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || x < min || x > max)
		return false;
	*out = (int64) x;
	return true;
}

static bool
json_uuid(const JsonbValue *v, pg_uuid_t *out)
{
	return v->type == jbvString && ff_parse_uuid(v->val.string.val, v->val.string.len, out);
}

static bool
json_string_is(const JsonbValue *v, const char *want)
{
	return v->type == jbvString && v->val.string.len == (int) strlen(want) &&
		memcmp(v->val.string.val, want, v->val.string.len) == 0;
}

/*
 * fence_from_jsonb
 *		Parse a fence strictly.  Besides its five fields it may carry the
 *		rest of a claim envelope (ok true, status "OK", lease_expires_at,
 *		attempt_type, namespace, execution_kind), so the claim itself can be
 *		passed; any other field
 *		is refused, as is a missing or mistyped one.
 */
static void
fence_from_jsonb(Jsonb *j, const char *name, JsonFence *out)
{
	JsonbIterator *it;
	JsonbValue	k,
				v;
	JsonbIteratorToken tok;
	int			seen = 0;
	int64		n;

	if (JB_ROOT_IS_SCALAR(j) || !JB_ROOT_IS_OBJECT(j))
		bad_fence(name, "not a JSON object");
	it = JsonbIteratorInit(&j->root);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		char	   *key;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(k.val.string.val, k.val.string.len);
		if (JsonbIteratorNext(&it, &v, true) != WJB_VALUE)
			bad_fence(name, "malformed object");
		if (strcmp(key, "execution_id") == 0)
		{
			ExecId		id;

			if (v.type != jbvString)
				bad_fence(name, "execution_id must be a string");
			out->execution_id = pnstrdup(v.val.string.val, v.val.string.len);
			if (!ff_parse_exec_id(out->execution_id, &id))
				bad_fence(name, "execution_id is not an execution id {fp:N}:<uuid>");
			seen |= FENCE_EXECUTION_ID;
		}
		else if (strcmp(key, "lease_id") == 0)
		{
			if (!json_uuid(&v, &out->lease_id))
				bad_fence(name, "lease_id must be a uuid string");
			seen |= FENCE_LEASE_ID;
		}
		else if (strcmp(key, "lease_epoch") == 0)
		{
			if (!json_integer(&v, 0, PG_INT64_MAX, &out->lease_epoch))
				bad_fence(name, "lease_epoch must be a non-negative integer");
			seen |= FENCE_LEASE_EPOCH;
		}
		else if (strcmp(key, "attempt_id") == 0)
		{
			if (!json_uuid(&v, &out->attempt_id))
				bad_fence(name, "attempt_id must be a uuid string");
			seen |= FENCE_ATTEMPT_ID;
		}
		else if (strcmp(key, "attempt_index") == 0)
		{
			if (!json_integer(&v, 0, PG_INT32_MAX, &n))
				bad_fence(name, "attempt_index must be a non-negative integer");
			out->attempt_index = (int32) n;
			seen |= FENCE_ATTEMPT_INDEX;
		}
		else if (strcmp(key, "ok") == 0)
		{
			if (v.type != jbvBool || !v.val.boolean)
				bad_fence(name, "not a successful claim (ok is not true)");
		}
		else if (strcmp(key, "status") == 0)
		{
			if (!json_string_is(&v, "OK"))
				bad_fence(name, "not a successful claim (status is not \"OK\")");
		}
		else if (strcmp(key, "lease_expires_at") == 0)
		{
			if (!json_integer(&v, PG_INT64_MIN, PG_INT64_MAX, &n))
				bad_fence(name, "lease_expires_at must be an integer");
		}
		else if (strcmp(key, "attempt_type") == 0 || strcmp(key, "namespace") == 0 ||
				 strcmp(key, "execution_kind") == 0)
		{
			if (v.type != jbvString)
				bad_fence(name, psprintf("%s must be a string", key));
		}
		else
			bad_fence(name, psprintf("unknown field \"%.64s\"", key));
	}
	if (seen != FENCE_ALL)
	{
		static const char *const fields[] = {"execution_id", "lease_id", "lease_epoch",
		"attempt_id", "attempt_index"};
		int			i;

		for (i = 0; (seen & (1 << i)) != 0; i++)
			;
		bad_fence(name, psprintf("field \"%s\" is missing", fields[i]));
	}
}

/*
 * How a fence form maps onto its separate-ids form: where each part of
 * the fence goes (-1: that form does not take it) and where each of the
 * fence form's other arguments goes.  A position given nothing is NULL,
 * which every separate-ids form reads as its default.
 */
typedef struct FenceForm
{
	PGFunction	fn;
	int			nargs;
	int			exec,
				index,
				lease,
				epoch,
				attempt;
	int			nrest;
	int			rest[FF_FENCE_MAX_ARGS];
} FenceForm;

static Datum call_with_fence(FunctionCallInfo fcinfo, const FenceForm *form);

/* A fence-taking entry point: its FenceForm, then the one code path. */
#define FENCE_ENTRY(fn, ...) \
	Datum fn(PG_FUNCTION_ARGS) \
	{ \
		static const FenceForm form = __VA_ARGS__; \
		return call_with_fence(fcinfo, &form); \
	}

static Datum
call_with_fence(FunctionCallInfo fcinfo, const FenceForm *form)
{
	LOCAL_FCINFO(inner, FF_FENCE_MAX_ARGS);
	JsonFence	f;
	Datum		result;
	int			i;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("fence must not be NULL")));
	if (PG_NARGS() != form->nrest + 1 || form->nargs > FF_FENCE_MAX_ARGS)
		elog(ERROR, "fence form called with %d arguments, expected %d", PG_NARGS(), form->nrest + 1);
	fence_from_jsonb(PG_GETARG_JSONB_P(0), "fence", &f);

	InitFunctionCallInfoData(*inner, fcinfo->flinfo, form->nargs, fcinfo->fncollation,
							 fcinfo->context, fcinfo->resultinfo);
	for (i = 0; i < form->nargs; i++)
	{
		inner->args[i].value = (Datum) 0;
		inner->args[i].isnull = true;
	}
#define PUT(pos, datum) \
	do { if ((pos) >= 0) { inner->args[pos].value = (datum); inner->args[pos].isnull = false; } } while (0)
	PUT(form->exec, CStringGetTextDatum(f.execution_id));
	PUT(form->index, Int32GetDatum(f.attempt_index));
	PUT(form->lease, UUIDPGetDatum(&f.lease_id));
	PUT(form->epoch, Int64GetDatum(f.lease_epoch));
	PUT(form->attempt, UUIDPGetDatum(&f.attempt_id));
#undef PUT
	for (i = 0; i < form->nrest; i++)
		inner->args[form->rest[i]] = fcinfo->args[i + 1];
	result = form->fn(inner);
	fcinfo->isnull = inner->isnull;
	return result;
}

/* ff.renew_lease(fence, lease_ttl_ms, lease_history_grace_ms) */
FENCE_ENTRY(ff_renew_lease_fence, {ff_renew_lease, 7, 0, 1, 3, 4, 2, 2, {5, 6}})

/* ff.update_progress(fence, progress_pct) */
FENCE_ENTRY(ff_update_progress_fence, {ff_update_progress, 5, 0, -1, 1, 2, -1, 1, {3}})

/* ff.complete_execution(fence, result_payload) */
FENCE_ENTRY(ff_complete_execution_fence, {ff_complete_execution, 6, 0, -1, 1, 2, 3, 1, {4}})

/* ff.fail_execution(fence, failure_reason, failure_category) */
FENCE_ENTRY(ff_fail_execution_fence, {ff_fail_execution, 7, 0, -1, 1, 2, 3, 2, {4, 5}})

/* ff.delay_execution(fence, delay_until, source) */
FENCE_ENTRY(ff_delay_execution_fence, {ff_delay_execution, 6, 0, -1, 1, 2, 3, 2, {4, 5}})

/* ff.move_to_waiting_children(fence, source) */
FENCE_ENTRY(ff_move_to_waiting_children_fence, {ff_move_to_waiting_children, 5, 0, -1, 1, 2, 3, 1, {4}})

/* ff.cancel_execution(fence, reason, source): the lease holder's cancel */
FENCE_ENTRY(ff_cancel_execution_fence, {ff_cancel_execution, 5, 0, -1, 3, 4, -1, 2, {1, 2}})

/* ff.append_frame(fence, frame_type, payload, stream_mode, retention_maxlen) */
FENCE_ENTRY(ff_append_frame_fence, {ff_append_frame, 19, 0, 1, 2, 3, 11, 4, {4, 5, 13, 10}})

/*
 * ff.suspend_execution(fence, suspension_id, waitpoint_id, waitpoint_key,
 *		reason_code, resume_condition, timeout_at, timeout_behavior,
 *		use_pending_waitpoint)
 */
FENCE_ENTRY(ff_suspend_execution_fence, {ff_suspend_execution, 20, 0, 1, 2, 3, 4, 8, {5, 6, 7, 8, 9, 10, 11, 15}})

/* ff.create_pending_waitpoint(fence, waitpoint_id, waitpoint_key, expires_at) */
FENCE_ENTRY(ff_create_pending_waitpoint_fence, {ff_create_pending_waitpoint, 8, 0, 1, 2, 3, 4, 3, {5, 6, 7}})

/* ff.close_waitpoint(fence, waitpoint_id, reason) */
FENCE_ENTRY(ff_close_waitpoint_fence, {ff_close_waitpoint, 7, 0, -1, 3, 4, 5, 2, {1, 2}})

/*
 * call_batch_with_fences
 *		The batch forms: fences jsonb[] becomes the separate-ids form's four
 *		parallel arrays (execution_ids, lease_ids, lease_epochs,
 *		attempt_ids); the other arguments follow in order.
 */
static Datum
call_batch_with_fences(FunctionCallInfo fcinfo, PGFunction fn)
{
	LOCAL_FCINFO(inner, 4 + 2);
	ArrayType  *arr;
	Datum	   *elems,
			   *ids,
			   *leases,
			   *epochs,
			   *attempts;
	pg_uuid_t  *uuids;
	bool	   *nulls;
	int			n,
				i;
	Datum		result;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("fences must not be null")));
	if (PG_NARGS() > 3)
		elog(ERROR, "batch fence form called with %d arguments", PG_NARGS());
	arr = PG_GETARG_ARRAYTYPE_P(0);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("fences must be a one-dimensional array")));
	deconstruct_array(arr, JSONBOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	ids = palloc(sizeof(Datum) * Max(n, 1));
	leases = palloc(sizeof(Datum) * Max(n, 1));
	epochs = palloc(sizeof(Datum) * Max(n, 1));
	attempts = palloc(sizeof(Datum) * Max(n, 1));
	uuids = palloc(sizeof(pg_uuid_t) * 2 * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		JsonFence	f;

		CHECK_FOR_INTERRUPTS();
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("fences[%d] must not be null", i + 1)));
		fence_from_jsonb(DatumGetJsonbP(elems[i]), psprintf("fences[%d]", i + 1), &f);
		uuids[2 * i] = f.lease_id;
		uuids[2 * i + 1] = f.attempt_id;
		ids[i] = CStringGetTextDatum(f.execution_id);
		leases[i] = UUIDPGetDatum(&uuids[2 * i]);
		epochs[i] = Int64GetDatum(f.lease_epoch);
		attempts[i] = UUIDPGetDatum(&uuids[2 * i + 1]);
	}
	InitFunctionCallInfoData(*inner, fcinfo->flinfo, 4 + PG_NARGS() - 1, fcinfo->fncollation,
							 fcinfo->context, fcinfo->resultinfo);
	inner->args[0].value = PointerGetDatum(construct_array(ids, n, TEXTOID, -1, false, TYPALIGN_INT));
	inner->args[1].value = PointerGetDatum(construct_array(leases, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	inner->args[2].value = PointerGetDatum(construct_array(epochs, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	inner->args[3].value = PointerGetDatum(construct_array(attempts, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	for (i = 0; i < 4; i++)
		inner->args[i].isnull = false;
	for (i = 1; i < PG_NARGS(); i++)
		inner->args[3 + i] = fcinfo->args[i];
	result = fn(inner);
	fcinfo->isnull = inner->isnull;
	return result;
}

/* ff.complete_executions(fences, result_payloads) */
FF_SQL_ENTRY(ff_complete_executions_fence, call_batch_with_fences(fcinfo, ff_complete_executions))

/* ff.fail_executions(fences, failure_reasons, failure_category) */
FF_SQL_ENTRY(ff_fail_executions_fence, call_batch_with_fences(fcinfo, ff_fail_executions))
