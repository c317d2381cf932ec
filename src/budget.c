/*-------------------------------------------------------------------------
 *
 * budget.c
 *	  Budgets (behaviour/budgets §3): create, report usage with hard / soft
 *	  limits and idempotency, the per-execution spend ledger and its
 *	  release, resets; the rule that attached budgets refuse admission
 *	  (behaviour/budgets §5.1, shared by the claim path and the unblock scanner); the
 *	  attached-budget list.  Quota policies and admission are quota.c, with
 *	  the argument helpers here.
 *
 *	  Tenancy (issue 20): a budget or quota policy belongs to a namespace
 *	  or, NULL, to none (global).  A role bound to namespaces reaches only
 *	  those of its namespaces: another tenant's and global ones read as not
 *	  found (and are never locked).  Budgets and a quota govern an
 *	  execution only when they are of its namespace or global: attaching
 *	  others is refused (invalid_budget_scope), and the claim-time checks
 *	  ignore any that slipped in (an id attached before it was defined).
 *
 *	  Locking: every budget operation locks its ff.budget row first; that
 *	  lock serialises every write of the budget's usage, ledger and marks,
 *	  so usage rows need no lock of their own.
 *
 * IDENTIFICATION
 *	  src/budget.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "budget.h"
#include "core_clock.h"
#include "exec_core.h"
#include "ff_engine.h"
#include "core_ids.h"
#include "core_partition.h"
#include "core_spi.h"
#include "core_tenant.h"
#include "core_validate.h"

PG_FUNCTION_INFO_V1(ff_create_budget);
PG_FUNCTION_INFO_V1(ff_report_usage_and_check);
PG_FUNCTION_INFO_V1(ff_record_spend);
PG_FUNCTION_INFO_V1(ff_release_budget);
PG_FUNCTION_INFO_V1(ff_reset_budget);
PG_FUNCTION_INFO_V1(ff_budget_block_detail_sql);

#define FF_MAX_BUDGET_DIMENSIONS	64
#define FF_USAGE_DEDUP_TTL_MS		INT64CONST(86400000)

/* The now_ms argument n: engine time, or the given time from an admin only. */
int64
ff_budget_now_arg(FunctionCallInfo fcinfo, int n)
{
	return ff_caller_now_ms(!PG_ARGISNULL(n), PG_ARGISNULL(n) ? 0 : PG_GETARG_INT64(n));
}

/* A namespace argument of create: NULL (global) or 1..256 bytes. */
char *
ff_budget_namespace_arg(FunctionCallInfo fcinfo, int n)
{
	char	   *ns = PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));

	if (ns != NULL && ns[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid_input: namespace must not be empty (NULL means global)")));
	ff_check_max_len(ns, FF_MAX_ID_BYTES, "namespace");
	return ns;
}

/*
 * Creating a budget or quota policy in ns: a namespace not granted is 42501
 * (ff_namespace_require), and so is a global one for a role bound to
 * namespaces.  SPI connected.
 */
void
ff_budget_require_create_scope(const char *ns, const char *what)
{
	if (ns != NULL)
		ff_namespace_require(ns);
	else if (!ff_namespace_allowed(NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("a global %s (namespace NULL) needs a role not bound to namespaces", what)));
}

pg_uuid_t *
ff_budget_uuid_arg(FunctionCallInfo fcinfo, int n, const char *name)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name)));
	return PG_GETARG_UUID_P(n);
}

void
ff_budget_check_nonnegative(int64 v, const char *name)
{
	if (v < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid_input: %s must not be negative, got " INT64_FORMAT, name, v)));
}

/* Dimension names: 1..256 bytes, no ',' and no control characters (behaviour/budgets §1). */
static void
check_dimension(const char *d)
{
	const unsigned char *p;

	if (d[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid_input: a dimension name must not be empty")));
	ff_check_max_len(d, FF_MAX_ID_BYTES, "dimension");
	for (p = (const unsigned char *) d; *p; p++)
		if (*p == ',' || *p < 0x20 || *p == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid_input: dimension \"%s\" contains a comma or a control character", d)));
}

typedef struct Dims
{
	int			n;
	char	  **names;
	int64	   *values[2];		/* one or two value arrays, parallel to names */
} Dims;

static int
cmp_dim_index(const void *a, const void *b, void *arg)
{
	char	  **names = (char **) arg;

	return strcmp(names[*(const int *) a], names[*(const int *) b]);
}

/*
 * The dimension arrays of create / report / record_spend: one-dimensional,
 * parallel, at most 64, names valid and distinct (behaviour/budgets §C.2), values
 * non-NULL and non-negative.  Misuse raises before anything is read.
 */
static void
parse_dims(ArrayType *names, ArrayType **vals, const char **valnames, int nvals, Dims *out)
{
	Datum	   *ne;
	bool	   *nn;
	int			i,
				k,
				*order;

	memset(out, 0, sizeof(*out));
	if (names == NULL)
		return;
	if (ARR_NDIM(names) > 1)
		ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR), errmsg("dimensions must be one-dimensional")));
	deconstruct_array(names, TEXTOID, -1, false, TYPALIGN_INT, &ne, &nn, &out->n);
	if (out->n > FF_MAX_BUDGET_DIMENSIONS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("invalid_input: too_many_dimensions: limit=%d, got=%d", FF_MAX_BUDGET_DIMENSIONS, out->n)));
	out->names = palloc(Max(out->n, 1) * sizeof(char *));
	for (i = 0; i < out->n; i++)
	{
		if (nn[i])
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("a dimension name must not be NULL")));
		out->names[i] = TextDatumGetCString(ne[i]);
		check_dimension(out->names[i]);
	}
	for (k = 0; k < nvals; k++)
	{
		Datum	   *ve;
		bool	   *vn;
		int			nv = 0;

		if (vals[k] != NULL)
		{
			if (ARR_NDIM(vals[k]) > 1)
				ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR), errmsg("%s must be one-dimensional", valnames[k])));
			deconstruct_array(vals[k], INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &ve, &vn, &nv);
		}
		if (nv != out->n)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("invalid_input: dimension_limit_array_mismatch: dimensions=%d %s=%d",
							out->n, valnames[k], nv)));
		out->values[k] = palloc(Max(nv, 1) * sizeof(int64));
		for (i = 0; i < nv; i++)
		{
			if (vn[i])
				ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("%s must not contain NULL", valnames[k])));
			out->values[k][i] = DatumGetInt64(ve[i]);
			ff_budget_check_nonnegative(out->values[k][i], valnames[k]);
		}
	}
	order = palloc(Max(out->n, 1) * sizeof(int));
	for (i = 0; i < out->n; i++)
		order[i] = i;
	qsort_arg(order, out->n, sizeof(int), cmp_dim_index, out->names);
	for (i = 1; i < out->n; i++)
		if (strcmp(out->names[order[i]], out->names[order[i - 1]]) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid_input: duplicate dimension \"%s\"", out->names[order[i]])));
}

/* Reorder the dimensions ascending by name (record_spend iterates so). */
static void
sort_dims(Dims *d)
{
	int			i,
				j;

	for (i = 1; i < d->n; i++)
		for (j = i; j > 0 && strcmp(d->names[j - 1], d->names[j]) > 0; j--)
		{
			char	   *tn = d->names[j];
			int64		tv = d->values[0][j];

			d->names[j] = d->names[j - 1];
			d->names[j - 1] = tn;
			d->values[0][j] = d->values[0][j - 1];
			d->values[0][j - 1] = tv;
		}
}

static Datum
text_array(char **items, int n)
{
	Datum	   *e = palloc(Max(n, 1) * sizeof(Datum));
	int			i;

	for (i = 0; i < n; i++)
		e[i] = CStringGetTextDatum(items[i]);
	return PointerGetDatum(construct_array(e, n, TEXTOID, -1, false, TYPALIGN_INT));
}

static Datum
int8_array(int64 *items, int n)
{
	Datum	   *e = palloc(Max(n, 1) * sizeof(Datum));
	int			i;

	for (i = 0; i < n; i++)
		e[i] = Int64GetDatum(items[i]);
	return PointerGetDatum(construct_array(e, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* ---- create_budget (behaviour/budgets §3.1) ---- */

static FFPlan plan_budget_insert = {
	"INSERT INTO ff.budget (budget_id, partition, scope_type, scope_id, enforcement_mode, "
	"on_hard_limit, on_soft_limit, reset_interval_ms, next_reset_at, created_at, last_updated_at, namespace) "
	"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $8 > 0 THEN $9 + $8 END, $9, $9, $10) "
	"ON CONFLICT DO NOTHING RETURNING 1",
	10, {UUIDOID, INT2OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID, TEXTOID}
};
static FFPlan plan_limits_insert = {
	"INSERT INTO ff.budget_limit (budget_id, dimension, hard_limit, soft_limit) "
	"SELECT $1, d, h, s FROM ROWS FROM (pg_catalog.unnest($2::text[]), pg_catalog.unnest($3::bigint[]), pg_catalog.unnest($4::bigint[])) u(d, h, s)",
	4, {UUIDOID, TEXTARRAYOID, INT8ARRAYOID, INT8ARRAYOID}
};

static const char *
text_arg_or_empty(FunctionCallInfo fcinfo, int n, const char *name)
{
	const char *s = PG_ARGISNULL(n) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(n));

	ff_check_max_len(s, FF_MAX_ID_BYTES, name);
	return s;
}

/*
 * ff.create_budget(budget_id, dimensions, hard_limits, soft_limits,
 *		reset_interval_ms, scope_type, scope_id, enforcement_mode,
 *		on_hard_limit, on_soft_limit, now_ms, namespace)
 *		An existing budget stays as it is, namespace included.
 */
Datum
ff_create_budget(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = ff_budget_uuid_arg(fcinfo, 0, "budget_id");
	ArrayType  *vals[2];
	const char *valnames[2] = {"hard_limits", "soft_limits"};
	int64		interval = PG_ARGISNULL(4) ? 0 : PG_GETARG_INT64(4);
	int64		now = ff_budget_now_arg(fcinfo, 10);
	char	   *ns = ff_budget_namespace_arg(fcinfo, 11);
	Dims		d;
	Datum		v[10];
	bool		vn[10] = {false};
	FFResult	r;
	int			i;

	vals[0] = PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2);
	vals[1] = PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3);
	parse_dims(PG_ARGISNULL(1) ? NULL : PG_GETARG_ARRAYTYPE_P(1), vals, valnames, 2, &d);
	ff_budget_check_nonnegative(interval, "reset_interval_ms");
	v[0] = UUIDPGetDatum(id);
	v[1] = Int16GetDatum((int16) ff_uuid_partition(id, ff_num_budget_partitions()));
	for (i = 0; i < 5; i++)
		v[2 + i] = CStringGetTextDatum(text_arg_or_empty(fcinfo, 5 + i, "a budget description field"));
	v[7] = Int64GetDatum(interval);
	v[8] = Int64GetDatum(now);
	v[9] = ns ? CStringGetTextDatum(ns) : (Datum) 0;
	vn[9] = (ns == NULL);

	ff_spi_connect();
	ff_budget_require_create_scope(ns, "budget");
	if (ff_plan_exec(&plan_budget_insert, v, vn, 0) == 0)
		ffr_ok(&r, "ALREADY_SATISFIED");
	else
	{
		Datum		l[4];

		l[0] = UUIDPGetDatum(id);
		l[1] = text_array(d.names, d.n);
		l[2] = int8_array(d.values[0], d.n);
		l[3] = int8_array(d.values[1], d.n);
		ff_plan_exec(&plan_limits_insert, l, NULL, 0);
		ffr_ok(&r, "OK");
	}
	ffr_uuid(&r, "budget_id", id);
	FF_RETURN_RESULT(&r);
}

/* ---- report_usage_and_check (behaviour/budgets §3.2) and record_spend (behaviour/budgets §3.3) ---- */

/* The budget, locked, if the caller may see it ($2: its namespaces, NULL for all). */
static FFPlan plan_budget_lock = {
	"SELECT reset_interval_ms FROM ff.budget WHERE budget_id = $1 "
	"AND ($2::text[] IS NULL OR namespace = ANY ($2)) FOR UPDATE",
	2, {UUIDOID, TEXTARRAYOID}
};
static FFPlan plan_dedup_live = {
	"SELECT 1 FROM ff.budget_usage_dedup WHERE budget_id = $1 AND dedup_key = $2 AND expires_at > $3",
	3, {UUIDOID, TEXTOID, INT8OID}
};
static FFPlan plan_usage_read = {
	"SELECT coalesce(u.value, 0), coalesce(l.hard_limit, 0), coalesce(l.soft_limit, 0) "
	"FROM pg_catalog.unnest($2::text[]) WITH ORDINALITY d(dim, ord) "
	"LEFT JOIN ff.budget_usage u ON u.budget_id = $1 AND u.dimension = d.dim "
	"LEFT JOIN ff.budget_limit l ON l.budget_id = $1 AND l.dimension = d.dim ORDER BY d.ord",
	2, {UUIDOID, TEXTARRAYOID}
};
static FFPlan plan_hard_breach = {
	"UPDATE ff.budget SET breach_count = breach_count + 1, last_breach_at = $2, "
	"last_breach_dim = $3, last_updated_at = $2 WHERE budget_id = $1",
	3, {UUIDOID, INT8OID, TEXTOID}
};
static FFPlan plan_usage_apply = {
	"INSERT INTO ff.budget_usage AS u (budget_id, dimension, value) "
	"SELECT $1, d, v FROM ROWS FROM (pg_catalog.unnest($2::text[]), pg_catalog.unnest($3::bigint[])) x(d, v) "
	"ON CONFLICT (budget_id, dimension) DO UPDATE SET value = u.value + EXCLUDED.value",
	3, {UUIDOID, TEXTARRAYOID, INT8ARRAYOID}
};
static FFPlan plan_ledger_apply = {
	"INSERT INTO ff.budget_usage_by_exec AS l (budget_id, execution_id, dimension, delta_total) "
	"SELECT $1, $4, d, v FROM ROWS FROM (pg_catalog.unnest($2::text[]), pg_catalog.unnest($3::bigint[])) x(d, v) "
	"ON CONFLICT (budget_id, execution_id, dimension) DO UPDATE SET delta_total = l.delta_total + EXCLUDED.delta_total",
	4, {UUIDOID, TEXTARRAYOID, INT8ARRAYOID, TEXTOID}
};
static FFPlan plan_budget_touch = {
	"UPDATE ff.budget SET last_updated_at = $2, soft_breach_count = soft_breach_count + $3 "
	"WHERE budget_id = $1",
	3, {UUIDOID, INT8OID, INT8OID}
};
static FFPlan plan_dedup_stamp = {
	"INSERT INTO ff.budget_usage_dedup (budget_id, dedup_key, expires_at) VALUES ($1, $2, $3) "
	"ON CONFLICT (budget_id, dedup_key) DO UPDATE SET expires_at = EXCLUDED.expires_at",
	3, {UUIDOID, TEXTOID, INT8OID}
};

/*
 * Lock a budget the caller may see; false when there is none.  Another
 * tenant's budget (or a global one, for a role bound to namespaces) is not
 * there for it, and is not locked.
 */
static bool
budget_lock(pg_uuid_t *budget)
{
	Datum		v[2];
	bool		n[2] = {false, false};

	v[0] = UUIDPGetDatum(budget);
	v[1] = ff_namespaces_array(&n[1]);
	return ff_plan_exec(&plan_budget_lock, v, n, 1) > 0;
}

/*
 * "Check before increment": either every delta applies or none does.  A
 * hard breach commits only its bookkeeping (behaviour/budgets §0.4 item 1).
 */
static void
apply_usage(pg_uuid_t *budget, const char *exec_text, Dims *d, const char *dedup_key,
			int64 now, FFResult *r)
{
	Datum		v[4];
	int64	   *cur,
			   *hard,
			   *soft;
	int			i,
				soft_dim = -1;

	v[0] = UUIDPGetDatum(budget);
	if (!budget_lock(budget))
	{
		ffr_error(r, "budget_not_found");	/* behaviour/budgets §C.1: no stub */
		return;
	}
	if (dedup_key)
	{
		v[1] = CStringGetTextDatum(dedup_key);
		v[2] = Int64GetDatum(now);
		if (ff_plan_exec(&plan_dedup_live, v, NULL, 1) > 0)
		{
			ffr_ok(r, "ALREADY_APPLIED");
			return;
		}
	}
	v[1] = text_array(d->names, d->n);
	ff_plan_exec(&plan_usage_read, v, NULL, 0);
	cur = palloc(Max(d->n, 1) * sizeof(int64));
	hard = palloc(Max(d->n, 1) * sizeof(int64));
	soft = palloc(Max(d->n, 1) * sizeof(int64));
	for (i = 0; i < d->n; i++)
	{
		cur[i] = ff_col_int64(i, 1, 0);
		hard[i] = ff_col_int64(i, 2, 0);
		soft[i] = ff_col_int64(i, 3, 0);
	}
	/* the hard check, in argument order; landing on the limit is fine */
	for (i = 0; i < d->n; i++)
	{
		if (d->values[0][i] > PG_INT64_MAX - cur[i])
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("invalid_input: usage of \"%s\" would exceed 2^63-1", d->names[i])));
		if (hard[i] > 0 && cur[i] + d->values[0][i] > hard[i])
		{
			v[1] = Int64GetDatum(now);
			v[2] = CStringGetTextDatum(d->names[i]);
			ff_plan_exec(&plan_hard_breach, v, NULL, 0);
			ffr_ok(r, "HARD_BREACH");
			ffr_text(r, "dimension", d->names[i]);
			ffr_int(r, "current_usage", cur[i]);
			ffr_int(r, "hard_limit", hard[i]);
			return;
		}
	}
	for (i = 0; i < d->n && soft_dim < 0; i++)
		if (soft[i] > 0 && cur[i] + d->values[0][i] > soft[i])
			soft_dim = i;
	v[1] = text_array(d->names, d->n);
	v[2] = int8_array(d->values[0], d->n);
	if (d->n > 0)
		ff_plan_exec(&plan_usage_apply, v, NULL, 0);
	if (exec_text && d->n > 0)
	{
		v[3] = CStringGetTextDatum(exec_text);
		ff_plan_exec(&plan_ledger_apply, v, NULL, 0);
	}
	v[1] = Int64GetDatum(now);
	v[2] = Int64GetDatum(soft_dim >= 0 ? 1 : 0);
	ff_plan_exec(&plan_budget_touch, v, NULL, 0);
	if (dedup_key)
	{
		v[1] = CStringGetTextDatum(dedup_key);
		v[2] = Int64GetDatum(now + FF_USAGE_DEDUP_TTL_MS);
		ff_plan_exec(&plan_dedup_stamp, v, NULL, 0);
	}
	if (soft_dim >= 0)
	{
		ffr_ok(r, "SOFT_BREACH");
		ffr_text(r, "dimension", d->names[soft_dim]);
		ffr_int(r, "usage", cur[soft_dim] + d->values[0][soft_dim]);
		ffr_int(r, "soft_limit", soft[soft_dim]);
	}
	else
		ffr_ok(r, "OK");
}

/*
 * ff.report_usage_and_check(budget_id, dimensions, deltas, dedup_key, now_ms)
 *		No lease is checked (behaviour/budgets §3.2: the worker path carries none).
 */
/*
 * The usage a report carries, from argument dims_arg on: dimensions,
 * deltas, a dedup key (named key_name, returned) and the clock.
 */
static char *
usage_args(FunctionCallInfo fcinfo, int dims_arg, const char *key_name, bool sorted, Dims *d, int64 *now)
{
	ArrayType  *vals[1] = {PG_ARGISNULL(dims_arg + 1) ? NULL : PG_GETARG_ARRAYTYPE_P(dims_arg + 1)};
	const char *valnames[1] = {"deltas"};
	char	   *key = ff_arg_text_opt(fcinfo, dims_arg + 2);

	*now = ff_budget_now_arg(fcinfo, dims_arg + 3);
	parse_dims(PG_ARGISNULL(dims_arg) ? NULL : PG_GETARG_ARRAYTYPE_P(dims_arg), vals, valnames, 1, d);
	if (sorted)
		sort_dims(d);
	ff_check_max_len(key, 1024, key_name);
	return key;
}

Datum
ff_report_usage_and_check(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = ff_budget_uuid_arg(fcinfo, 0, "budget_id");
	int64		now;
	Dims		d;
	char	   *dedup = usage_args(fcinfo, 1, "dedup_key", false, &d, &now);
	FFResult	r;

	ff_spi_connect();
	apply_usage(id, NULL, &d, dedup, now, &r);
	FF_RETURN_RESULT(&r);
}

/*
 * ff.record_spend(budget_id, execution_id, dimensions, deltas,
 *		idempotency_key, now_ms)
 *		As report_usage_and_check, dimensions taken in ascending name order,
 *		each applied delta also attributed to the execution's ledger.
 */
Datum
ff_record_spend(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = ff_budget_uuid_arg(fcinfo, 0, "budget_id");
	ExecId		exec = ff_arg_exec_id(fcinfo, 1, "execution_id");
	int64		now;
	Dims		d;
	char	   *key = usage_args(fcinfo, 2, "idempotency_key", true, &d, &now);
	FFResult	r;

	ff_spi_connect();
	apply_usage(id, ff_format_exec_id(exec.partition, &exec.uuid), &d, key, now, &r);
	FF_RETURN_RESULT(&r);
}

/* ---- release_budget (behaviour/budgets §3.4) and reset_budget (behaviour/budgets §3.5) ---- */

static FFPlan plan_release = {
	"WITH l AS (DELETE FROM ff.budget_usage_by_exec WHERE budget_id = $1 AND execution_id = $2 "
	"RETURNING dimension, delta_total), "
	"u AS (INSERT INTO ff.budget_usage AS u (budget_id, dimension, value) "
	"SELECT $1, l.dimension, 0 FROM l ON CONFLICT (budget_id, dimension) DO UPDATE "
	"SET value = greatest(0, u.value - (SELECT l2.delta_total FROM l l2 WHERE l2.dimension = EXCLUDED.dimension)) "
	"RETURNING 1) "
	"SELECT (SELECT count(*) FROM l), (SELECT count(*) FROM u)",
	2, {UUIDOID, TEXTOID}
};

/* ff.release_budget(budget_id, execution_id) */
Datum
ff_release_budget(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = ff_budget_uuid_arg(fcinfo, 0, "budget_id");
	ExecId		exec = ff_arg_exec_id(fcinfo, 1, "execution_id");
	Datum		v[2];
	FFResult	r;

	ff_spi_connect();
	v[0] = UUIDPGetDatum(id);
	ffr_ok(&r, "OK");
	if (!budget_lock(id))
		ffr_text(&r, "result", "noop");
	else
	{
		v[1] = CStringGetTextDatum(ff_format_exec_id(exec.partition, &exec.uuid));
		ff_plan_exec(&plan_release, v, NULL, 1);
		ffr_text(&r, "result", ff_col_int64(0, 1, 0) > 0 ? "released" : "noop");
	}
	FF_RETURN_RESULT(&r);
}

static FFPlan plan_reset = {
	"WITH z AS (UPDATE ff.budget_usage SET value = 0 WHERE budget_id = $1) "
	"UPDATE ff.budget SET reset_count = reset_count + 1, last_reset_at = $2, last_updated_at = $2, "
	"last_breach_at = NULL, last_breach_dim = NULL, "
	"next_reset_at = CASE WHEN reset_interval_ms > 0 THEN $2 + reset_interval_ms END "
	"WHERE budget_id = $1 RETURNING coalesce(next_reset_at, 0)",
	2, {UUIDOID, INT8OID}
};

/*
 * ff.reset_budget(budget_id, now_ms)
 *		The next reset is anchored on this reset's time (no catch-up).
 */
Datum
ff_reset_budget(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = ff_budget_uuid_arg(fcinfo, 0, "budget_id");
	int64		now = ff_budget_now_arg(fcinfo, 1);
	int64		next;
	FFResult	r;

	ff_spi_connect();
	if (!ff_reset_budget_id(id, now, &next))
		ffr_error(&r, "budget_not_found");
	else
	{
		ffr_ok(&r, "OK");
		ffr_int(&r, "next_reset_at", next);
	}
	FF_RETURN_RESULT(&r);
}

/*
 * ff_reset_budget_id
 *		Resets a budget (the budget-reset scanner's per-item step); false
 *		when it is not there.  SPI connected.
 */
bool
ff_reset_budget_id(pg_uuid_t *id, int64 now, int64 *next_reset_at)
{
	Datum		v[2];

	if (!budget_lock(id))
		return false;
	v[0] = UUIDPGetDatum(id);
	v[1] = Int64GetDatum(now);
	ff_plan_exec(&plan_reset, v, NULL, 1);
	*next_reset_at = ff_col_int64(0, 1, 0);
	return true;
}

/* ---- budget refusals at claim time (behaviour/budgets §5.1 b) ---- */

/*
 * The first attached budget at or over a hard limit, in attachment then
 * dimension order; only budgets of the execution's namespace ($2) or global
 * ones govern it.
 */
static FFPlan plan_budget_breach = {
	"SELECT l.budget_id, l.dimension, coalesce(u.value, 0), l.hard_limit "
	"FROM pg_catalog.unnest($1::uuid[]) WITH ORDINALITY x(id, ord) "
	"JOIN ff.budget b ON b.budget_id = x.id AND (b.namespace IS NULL OR b.namespace = $2) "
	"JOIN ff.budget_limit l ON l.budget_id = b.budget_id AND l.hard_limit > 0 "
	"LEFT JOIN ff.budget_usage u ON u.budget_id = l.budget_id AND u.dimension = l.dimension "
	"WHERE coalesce(u.value, 0) >= l.hard_limit ORDER BY x.ord, l.dimension LIMIT 1",
	2, {UUIDARRAYOID, TEXTOID}
};

/* The attached ids that are UUIDs, in order (others mean no budget, behaviour/budgets §5.1). */
ArrayType *
ff_budget_ids_array(const char *csv)
{
	char	   *copy = pstrdup(csv);
	char	   *tok,
			   *save = NULL;
	Datum	   *ids = palloc(sizeof(Datum) * (strlen(csv) / 2 + 1));
	int			n = 0;

	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
	{
		pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));
		char	   *end;

		while (*tok == ' ' || *tok == '\t')
			tok++;
		end = tok + strlen(tok);
		while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (ff_parse_uuid(tok, end - tok, u))
			ids[n++] = UUIDPGetDatum(u);
	}
	return construct_array(ids, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR);
}

/*
 * Why the attached budgets (CSV) refuse admission to an execution of
 * namespace ns — the first one at or over a hard limit (usage >= limit,
 * behaviour/budgets §5.1) — or NULL when every one admits.  The claim path and the unblock
 * scanner (ff._budget_block_detail) share it.
 */
char *
ff_budget_block_detail(const char *csv, const char *ns)
{
	Datum		v[2];
	bool		n[2] = {false, ns == NULL};

	v[0] = PointerGetDatum(ff_budget_ids_array(csv));
	v[1] = ns ? CStringGetTextDatum(ns) : (Datum) 0;
	if (ff_plan_exec(&plan_budget_breach, v, n, 1) == 0)
		return NULL;
	return psprintf("budget ff:budget:%s:usage: %s " INT64_FORMAT "/" INT64_FORMAT,
					ff_col_text(0, 1), ff_col_text(0, 2), ff_col_int64(0, 3, 0), ff_col_int64(0, 4, 0));
}

/* ff._budget_block_detail(budget_ids text, namespace text) -> text */
Datum
ff_budget_block_detail_sql(PG_FUNCTION_ARGS)
{
	char	   *detail;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	ff_spi_connect();
	detail = ff_budget_block_detail(text_to_cstring(PG_GETARG_TEXT_PP(0)), ff_arg_text_opt(fcinfo, 1));
	if (detail == NULL)
	{
		SPI_finish();
		PG_RETURN_NULL();
	}
	PG_RETURN_DATUM(ff_spi_finish_datum(CStringGetTextDatum(detail)));
}

/* ---- the attached-budget list (behaviour/budgets §2.3) ---- */

/* Append a budget id to the attachment CSV unless it is there already. */
void
ff_budget_csv_add(StringInfo csv, const pg_uuid_t *u)
{
	char		txt[37];

	ff_format_uuid(u, txt);
	if (strstr(csv->data, txt) == NULL)	/* ids are fixed-length: no false match */
		appendStringInfo(csv, "%s%s", csv->len ? "," : "", txt);
}

/*
 * The policy's budget_ids array as the stored CSV (given order, duplicates
 * dropped); NULL when absent or empty.  *bad is set for a malformed array.
 */
char *
ff_policy_budget_ids(Jsonb *policy, const char **bad)
{
	JsonbValue	buf,
			   *arr;
	StringInfoData s;
	int			n,
				i;

	*bad = NULL;
	if (policy == NULL || !JB_ROOT_IS_OBJECT(policy))
		return NULL;
	arr = ff_jsonb_get(&policy->root, "budget_ids", &buf);
	if (arr == NULL || arr->type == jbvNull)
		return NULL;
	if (arr->type != jbvBinary || !JsonContainerIsArray(arr->val.binary.data))
	{
		*bad = "budget_ids:not_array";
		return NULL;
	}
	n = JsonContainerSize(arr->val.binary.data);
	if (n > FF_MAX_ATTACHED_BUDGETS)
	{
		*bad = "budget_ids:too_many";
		return NULL;
	}
	initStringInfo(&s);
	for (i = 0; i < n; i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(arr->val.binary.data, i);
		pg_uuid_t	u;

		if (e == NULL || e->type != jbvString ||
			!ff_parse_uuid(e->val.string.val, e->val.string.len, &u))
		{
			*bad = "budget_ids:not_uuid";
			return NULL;
		}
		ff_budget_csv_add(&s, &u);
	}
	return s.len ? s.data : NULL;
}

