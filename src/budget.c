/*-------------------------------------------------------------------------
 *
 * budget.c
 *	  Budgets and quota policies (spec/budgets.md §3, §4) and the
 *	  admission a claim applies to them (§5.1): create, report usage with
 *	  hard / soft limits and idempotency, the per-execution spend ledger
 *	  and its release, resets; quota policies with a sliding window and a
 *	  concurrency cap, admission and its release; attaching budgets and a
 *	  quota to an execution.
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
 *	  so usage rows need no lock of their own.  Every quota operation locks
 *	  its ff.quota_policy row first.  A claim already holds its candidate
 *	  execution rows when it takes a policy row; nothing locks a policy and
 *	  then an execution, so the two orders never cross.
 *
 * IDENTIFICATION
 *	  src/budget.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "exec_block.h"
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
PG_FUNCTION_INFO_V1(ff_create_quota_policy);
PG_FUNCTION_INFO_V1(ff_check_admission_and_record);
PG_FUNCTION_INFO_V1(ff_release_admission);
PG_FUNCTION_INFO_V1(ff_set_execution_admission);
PG_FUNCTION_INFO_V1(ff_budget_block_detail_sql);
PG_FUNCTION_INFO_V1(ff_quota_refuses_sql);

#define FF_MAX_BUDGET_DIMENSIONS	64
#define FF_USAGE_DEDUP_TTL_MS		INT64CONST(86400000)
#define FF_DEFAULT_QUOTA_WINDOW_S	60
#define FF_MAX_ATTACHED_BUDGETS		64

/* The now_ms argument n: engine time, or the given time from an admin only. */
static int64
now_arg(FunctionCallInfo fcinfo, int n)
{
	return ff_caller_now_ms(!PG_ARGISNULL(n), PG_ARGISNULL(n) ? 0 : PG_GETARG_INT64(n));
}

/* A namespace argument of create: NULL (global) or 1..256 bytes. */
static char *
namespace_arg(FunctionCallInfo fcinfo, int n)
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
static void
require_create_scope(const char *ns, const char *what)
{
	if (ns != NULL)
		ff_namespace_require(ns);
	else if (!ff_namespace_allowed(NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("a global %s (namespace NULL) needs a role not bound to namespaces", what)));
}

static pg_uuid_t *
uuid_arg(FunctionCallInfo fcinfo, int n, const char *name)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name)));
	return PG_GETARG_UUID_P(n);
}

static void
check_nonnegative_arg(int64 v, const char *name)
{
	if (v < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid_input: %s must not be negative, got " INT64_FORMAT, name, v)));
}

/* Dimension names: 1..256 bytes, no ',' and no control characters (§1). */
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
 * parallel, at most 64, names valid and distinct (Appendix C #2), values
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
			check_nonnegative_arg(out->values[k][i], valnames[k]);
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

/* ---- create_budget (§3.1) ---- */

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
	pg_uuid_t  *id = uuid_arg(fcinfo, 0, "budget_id");
	ArrayType  *vals[2];
	const char *valnames[2] = {"hard_limits", "soft_limits"};
	int64		interval = PG_ARGISNULL(4) ? 0 : PG_GETARG_INT64(4);
	int64		now = now_arg(fcinfo, 10);
	char	   *ns = namespace_arg(fcinfo, 11);
	Dims		d;
	Datum		v[10];
	bool		vn[10] = {false};
	FFResult	r;
	int			i;

	vals[0] = PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2);
	vals[1] = PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3);
	parse_dims(PG_ARGISNULL(1) ? NULL : PG_GETARG_ARRAYTYPE_P(1), vals, valnames, 2, &d);
	check_nonnegative_arg(interval, "reset_interval_ms");
	v[0] = UUIDPGetDatum(id);
	v[1] = Int16GetDatum((int16) ff_uuid_partition(id, ff_num_budget_partitions()));
	for (i = 0; i < 5; i++)
		v[2 + i] = CStringGetTextDatum(text_arg_or_empty(fcinfo, 5 + i, "a budget description field"));
	v[7] = Int64GetDatum(interval);
	v[8] = Int64GetDatum(now);
	v[9] = ns ? CStringGetTextDatum(ns) : (Datum) 0;
	vn[9] = (ns == NULL);

	ff_spi_connect();
	require_create_scope(ns, "budget");
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

/* ---- report_usage_and_check (§3.2) and record_spend (§3.3) ---- */

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
 * hard breach commits only its bookkeeping (§0.4 item 1).
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
		ffr_error(r, "budget_not_found");	/* Appendix C #1: no stub */
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
 *		No lease is checked (§3.2: the worker path carries none).
 */
Datum
ff_report_usage_and_check(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = uuid_arg(fcinfo, 0, "budget_id");
	ArrayType  *vals[1] = {PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2)};
	const char *valnames[1] = {"deltas"};
	char	   *dedup = ff_arg_text_opt(fcinfo, 3);
	int64		now = now_arg(fcinfo, 4);
	Dims		d;
	FFResult	r;

	parse_dims(PG_ARGISNULL(1) ? NULL : PG_GETARG_ARRAYTYPE_P(1), vals, valnames, 1, &d);
	ff_check_max_len(dedup, 1024, "dedup_key");
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
	pg_uuid_t  *id = uuid_arg(fcinfo, 0, "budget_id");
	ExecId		exec = ff_arg_exec_id(fcinfo, 1, "execution_id");
	ArrayType  *vals[1] = {PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3)};
	const char *valnames[1] = {"deltas"};
	char	   *key = ff_arg_text_opt(fcinfo, 4);
	int64		now = now_arg(fcinfo, 5);
	Dims		d;
	FFResult	r;

	parse_dims(PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2), vals, valnames, 1, &d);
	sort_dims(&d);
	ff_check_max_len(key, 1024, "idempotency_key");
	ff_spi_connect();
	apply_usage(id, ff_format_exec_id(exec.partition, &exec.uuid), &d, key, now, &r);
	FF_RETURN_RESULT(&r);
}

/* ---- release_budget (§3.4) and reset_budget (§3.5) ---- */

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
	pg_uuid_t  *id = uuid_arg(fcinfo, 0, "budget_id");
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
	pg_uuid_t  *id = uuid_arg(fcinfo, 0, "budget_id");
	int64		now = now_arg(fcinfo, 1);
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

/* ---- quota policies (§4) ---- */

/* A limit is realised as that many slot rows: at most a million. */
#define FF_MAX_QUOTA_SLOTS	INT64CONST(1000000)

static void
check_quota_limits(int64 window, int64 rate, int64 cap)
{
	if (window > INT64CONST(9007199254740))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("invalid_input: window_seconds is too large")));
	if (rate > FF_MAX_QUOTA_SLOTS || cap > FF_MAX_QUOTA_SLOTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("invalid_input: a quota limit is at most " INT64_FORMAT ", got " INT64_FORMAT,
						FF_MAX_QUOTA_SLOTS, Max(rate, cap))));
}

static FFPlan plan_quota_insert = {
	"INSERT INTO ff.quota_policy (quota_policy_id, partition, window_seconds, "
	"max_requests_per_window, active_concurrency_cap, jitter_ms, created_at, namespace) "
	"VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING 1",
	8, {UUIDOID, INT2OID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, TEXTOID}
};

/*
 * ff.create_quota_policy(quota_policy_id, window_seconds,
 *		max_requests_per_window, max_concurrent, jitter_ms, now_ms, namespace)
 *		Negative values are misuse (the spec leaves it open; pinned here).
 */
Datum
ff_create_quota_policy(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = uuid_arg(fcinfo, 0, "quota_policy_id");
	int64		window = ff_arg_int64(fcinfo, 1, "window_seconds");
	int64		rate = ff_arg_int64(fcinfo, 2, "max_requests_per_window");
	int64		cap = ff_arg_int64(fcinfo, 3, "max_concurrent");
	int64		jitter = PG_ARGISNULL(4) ? 0 : PG_GETARG_INT64(4);
	int64		now = now_arg(fcinfo, 5);
	char	   *ns = namespace_arg(fcinfo, 6);
	Datum		v[8];
	bool		vn[8] = {false};
	FFResult	r;

	check_nonnegative_arg(window, "window_seconds");
	check_nonnegative_arg(rate, "max_requests_per_window");
	check_nonnegative_arg(cap, "max_concurrent");
	check_nonnegative_arg(jitter, "jitter_ms");
	check_quota_limits(window, rate, cap);
	v[0] = UUIDPGetDatum(id);
	v[1] = Int16GetDatum((int16) ff_uuid_partition(id, ff_num_quota_partitions()));
	v[2] = Int64GetDatum(window);
	v[3] = Int64GetDatum(rate);
	v[4] = Int64GetDatum(cap);
	v[5] = Int64GetDatum(jitter);
	v[6] = Int64GetDatum(now);
	v[7] = ns ? CStringGetTextDatum(ns) : (Datum) 0;
	vn[7] = (ns == NULL);
	ff_spi_connect();
	require_create_scope(ns, "quota policy");
	ffr_ok(&r, ff_plan_exec(&plan_quota_insert, v, vn, 0) > 0 ? "OK" : "ALREADY_SATISFIED");
	ffr_uuid(&r, "quota_policy_id", id);
	FF_RETURN_RESULT(&r);
}

/* A quota policy of the caller's namespaces ($2). */
static FFPlan plan_quota_visible = {
	"SELECT 1 FROM ff.quota_policy WHERE quota_policy_id = $1 AND namespace = ANY ($2)",
	2, {UUIDOID, TEXTARRAYOID}
};

/*
 * Whether the caller may use the quota policy id: an unrestricted caller
 * any id, defined or not (slots are keyed by the bare id, as the
 * reference's are); a role bound to namespaces only a defined policy of
 * its namespaces (another tenant's, a global one and an undefined id read
 * alike as not found).  SPI connected.
 */
static bool
quota_visible(pg_uuid_t *policy)
{
	Datum		v[2];
	bool		n[2] = {false, false};

	v[1] = ff_namespaces_array(&n[1]);
	if (n[1])
		return true;
	v[0] = UUIDPGetDatum(policy);
	return ff_plan_exec(&plan_quota_visible, v, n, 1) > 0;
}

static FFPlan plan_guard_live = {
	"SELECT 1 FROM ff.quota_admission WHERE quota_policy_id = $1 AND execution_id = $2 AND expires_at > $3",
	3, {UUIDOID, TEXTOID, INT8OID}
};
/* A free slot of the kind among the first limit slots; locked ones are skipped. */
static FFPlan plan_slot_free = {
	"SELECT slot FROM ff.quota_slot WHERE quota_policy_id = $1 AND kind = $2 AND dimension = $3 "
	"AND free_at <= $4 AND slot <= $5 ORDER BY free_at LIMIT 1 FOR UPDATE SKIP LOCKED",
	5, {UUIDOID, CHAROID, TEXTOID, INT8OID, INT8OID}
};
static FFPlan plan_slot_count = {
	"SELECT count(*) FROM ff.quota_slot WHERE quota_policy_id = $1 AND kind = $2 AND dimension = $3 AND slot <= $4",
	4, {UUIDOID, CHAROID, TEXTOID, INT8OID}
};
static FFPlan plan_slot_gap = {
	"SELECT g FROM pg_catalog.generate_series(1, $4::integer) g WHERE NOT EXISTS (SELECT 1 FROM ff.quota_slot s "
	"WHERE s.quota_policy_id = $1 AND s.kind = $2 AND s.dimension = $3 AND s.slot = g) LIMIT 1",
	4, {UUIDOID, CHAROID, TEXTOID, INT8OID}
};
/* A new slot is created already taken by the admission that needed it. */
static FFPlan plan_slot_create = {
	"INSERT INTO ff.quota_slot (quota_policy_id, kind, dimension, slot, execution_id, taken_at, free_at) "
	"VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING slot",
	7, {UUIDOID, CHAROID, TEXTOID, INT4OID, TEXTOID, INT8OID, INT8OID}
};
static FFPlan plan_slot_uncreate = {
	"DELETE FROM ff.quota_slot WHERE quota_policy_id = $1 AND kind = $2 AND dimension = $3 AND slot = $4",
	4, {UUIDOID, CHAROID, TEXTOID, INT4OID}
};
static FFPlan plan_slot_oldest = {
	"SELECT min(free_at) FROM ff.quota_slot WHERE quota_policy_id = $1 AND kind = $2 AND dimension = $3 AND slot <= $4",
	4, {UUIDOID, CHAROID, TEXTOID, INT8OID}
};

/*
 * Lock a free slot of kind among slots 1..limit, or create a slot when
 * every existing one is busy and fewer than limit exist.  For a small limit
 * the exact count decides at once and the lowest missing number is created;
 * for a large one, a new slot with a number spread by the execution id is
 * tried first (concurrent admissions do not all race for the same one and
 * wait on each other; any number up to the limit is as good as another),
 * then a free existing slot, with the exact count as the fallback.  0 when there is none: every
 * slot up to the limit exists and is busy or being taken by another
 * transaction (a refusal that never over-admits).  A slot it creates is
 * already taken by exec_text until free_at (*created).
 */
#define FF_QUOTA_EXACT_SLOTS 256

/* The arguments of plan_slot_create and plan_slot_take: a slot taken until free_at. */
static void
slot_row_args(Datum *v, pg_uuid_t *policy, char kind, const char *dim, int slot,
			  const char *exec_text, int64 now, int64 free_at)
{
	v[0] = UUIDPGetDatum(policy);
	v[1] = CharGetDatum(kind);
	v[2] = CStringGetTextDatum(dim);
	v[3] = Int32GetDatum(slot);
	v[4] = CStringGetTextDatum(exec_text);
	v[5] = Int64GetDatum(now);
	v[6] = Int64GetDatum(free_at);
}

static int
slot_lock(pg_uuid_t *policy, char kind, const char *dim, int64 limit, const char *exec_text,
		  int64 now, int64 free_at, bool *created)
{
	Datum		v[7];
	int			attempt;

	*created = false;
	v[0] = UUIDPGetDatum(policy);
	v[1] = CharGetDatum(kind);
	v[2] = CStringGetTextDatum(dim);
	for (attempt = 0; attempt < 16; attempt++)
	{
		int64		pick;
		bool		spread = limit > FF_QUOTA_EXACT_SLOTS && attempt < 8;

		/*
		 * Spread numbers are tried before a free slot is looked for: while
		 * fewer slots exist than the limit (the common case of a large
		 * limit) the new one is taken with one statement.
		 */
		if (!spread || attempt > 0)
		{
			v[3] = Int64GetDatum(now);
			v[4] = Int64GetDatum(limit);
			if (ff_plan_exec(&plan_slot_free, v, NULL, 1) > 0)
				return (int) ff_col_int64(0, 1, 0);
		}
		if (spread)
			pick = (int64) ((ff_fnv1a64((const unsigned char *) exec_text, strlen(exec_text)) +
							 (uint64) attempt * UINT64CONST(0x9E3779B97F4A7C15)) % (uint64) limit) + 1;
		else
		{
			v[3] = Int64GetDatum(limit);
			ff_plan_exec(&plan_slot_count, v, NULL, 1);
			if (ff_col_int64(0, 1, 0) >= limit)
				return 0;
			if (ff_plan_exec(&plan_slot_gap, v, NULL, 1) == 0)
				return 0;
			pick = ff_col_int64(0, 1, 0);
		}
		slot_row_args(v, policy, kind, dim, (int) pick, exec_text, now, free_at);
		if (ff_plan_exec(&plan_slot_create, v, NULL, 1) > 0)
		{
			*created = true;
			return (int) pick;
		}
	}
	return 0;
}

/* Take a found (existing, locked) free slot; the guard of the admission. */
static FFPlan plan_slot_take = {
	"UPDATE ff.quota_slot SET execution_id = $5, taken_at = $6, free_at = $7 "
	"WHERE quota_policy_id = $1 AND kind = $2 AND dimension = $3 AND slot = $4",
	7, {UUIDOID, CHAROID, TEXTOID, INT4OID, TEXTOID, INT8OID, INT8OID}
};
static FFPlan plan_guard_write = {
	"INSERT INTO ff.quota_admission (quota_policy_id, execution_id, admitted_at, expires_at) "
	"VALUES ($1, $2, $3, $4) ON CONFLICT (quota_policy_id, execution_id) "
	"DO UPDATE SET admitted_at = EXCLUDED.admitted_at, expires_at = EXCLUDED.expires_at",
	4, {UUIDOID, TEXTOID, INT8OID, INT8OID}
};

static void
slot_take(pg_uuid_t *policy, char kind, const char *dim, int slot, const char *exec_text,
		  int64 now, int64 free_at)
{
	Datum		v[7];

	slot_row_args(v, policy, kind, dim, slot, exec_text, now, free_at);
	ff_plan_exec(&plan_slot_take, v, NULL, 0);
}

/*
 * quota_admit (§4.2): an admission guard still live answers
 * ALREADY_ADMITTED; otherwise a free rate slot (rate > 0) and a free
 * concurrency slot (cap > 0) are needed, rate first, and are taken, with
 * the guard written, only when both are there.  A rate slot stays busy for
 * the window, a concurrency slot until the admission expires (the window)
 * or is released.
 */
static QuotaOutcome
quota_admit(pg_uuid_t *policy, const char *dimension, int64 now, int64 window_s,
			int64 rate, int64 cap, const char *exec_text, int64 jitter, int64 *retry_after)
{
	int64		window_ms = window_s * 1000;
	int			rslot = 0,
				cslot = 0;
	bool		rnew = false,
				cnew = false;
	Datum		v[7];

	*retry_after = 0;
	v[0] = UUIDPGetDatum(policy);
	v[1] = CStringGetTextDatum(exec_text);
	v[2] = Int64GetDatum(now);
	if (ff_plan_exec(&plan_guard_live, v, NULL, 1) > 0)
		return QUOTA_ALREADY_ADMITTED;
	if (rate > 0 &&
		(rslot = slot_lock(policy, 'r', dimension, rate, exec_text, now, now + window_ms, &rnew)) == 0)
	{
		v[1] = CharGetDatum('r');
		v[2] = CStringGetTextDatum(dimension);
		v[3] = Int64GetDatum(rate);
		ff_plan_exec(&plan_slot_oldest, v, NULL, 1);
		*retry_after = Max(0, ff_col_int64(0, 1, now) - now);
		if (jitter > 0)
			*retry_after += (int64) pg_prng_uint64_range(&pg_global_prng_state, 0, (uint64) jitter);
		return QUOTA_RATE_EXCEEDED;
	}
	if (cap > 0 &&
		(cslot = slot_lock(policy, 'c', "", cap, exec_text, now, now + window_ms, &cnew)) == 0)
	{
		if (rnew)
		{
			/* the rate slot this admission created must not count */
			v[1] = CharGetDatum('r');
			v[2] = CStringGetTextDatum(dimension);
			v[3] = Int32GetDatum(rslot);
			ff_plan_exec(&plan_slot_uncreate, v, NULL, 0);
		}
		return QUOTA_CONCURRENCY_EXCEEDED;
	}
	if (rslot && !rnew)
		slot_take(policy, 'r', dimension, rslot, exec_text, now, now + window_ms);
	if (cslot && !cnew)
		slot_take(policy, 'c', "", cslot, exec_text, now, now + window_ms);
	v[1] = CStringGetTextDatum(exec_text);
	v[2] = Int64GetDatum(now);
	v[3] = Int64GetDatum(now + window_ms);
	ff_plan_exec(&plan_guard_write, v, NULL, 0);
	return QUOTA_ADMITTED;
}

static const char *const quota_outcome_labels[] = {
	"ADMITTED", "ALREADY_ADMITTED", "RATE_EXCEEDED", "CONCURRENCY_EXCEEDED"
};

/*
 * ff.check_admission_and_record(quota_policy_id, execution_id, window_seconds,
 *		rate_limit, concurrency_cap, dimension, jitter_ms, now_ms)
 *		The limits are the caller's, as in the reference.  A role bound to
 *		namespaces must name a policy of its namespaces, else
 *		quota_policy_not_found.
 */
Datum
ff_check_admission_and_record(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = uuid_arg(fcinfo, 0, "quota_policy_id");
	ExecId		exec = ff_arg_exec_id(fcinfo, 1, "execution_id");
	int64		window = ff_arg_int64(fcinfo, 2, "window_seconds");
	int64		rate = ff_arg_int64(fcinfo, 3, "rate_limit");
	int64		cap = ff_arg_int64(fcinfo, 4, "concurrency_cap");
	char	   *dimension = ff_arg_text_opt(fcinfo, 5);
	int64		jitter = PG_ARGISNULL(6) ? 0 : PG_GETARG_INT64(6);
	int64		now = now_arg(fcinfo, 7);
	int64		retry;
	QuotaOutcome o;
	FFResult	r;

	check_nonnegative_arg(window, "window_seconds");
	check_nonnegative_arg(rate, "rate_limit");
	check_nonnegative_arg(cap, "concurrency_cap");
	check_nonnegative_arg(jitter, "jitter_ms");
	ff_check_max_len(dimension, FF_MAX_ID_BYTES, "dimension");
	check_quota_limits(window, rate, cap);
	ff_spi_connect();
	if (!quota_visible(id))
	{
		ffr_error(&r, "quota_policy_not_found");
		FF_RETURN_RESULT(&r);
	}
	o = quota_admit(id, dimension ? dimension : "default", now, window, rate, cap,
					ff_format_exec_id(exec.partition, &exec.uuid), jitter, &retry);
	ffr_ok(&r, quota_outcome_labels[o]);
	if (o == QUOTA_RATE_EXCEEDED)
		ffr_int(&r, "retry_after_ms", retry);
	FF_RETURN_RESULT(&r);
}

static FFPlan plan_release_admission = {
	"WITH g AS (DELETE FROM ff.quota_admission WHERE quota_policy_id = $1 AND execution_id = $2 RETURNING 1) "
	"UPDATE ff.quota_slot SET free_at = 0, execution_id = NULL WHERE quota_policy_id = $1 AND kind = 'c' "
	"AND dimension = '' AND execution_id = $2 AND free_at > $3 AND EXISTS (SELECT 1 FROM g)",
	3, {UUIDOID, TEXTOID, INT8OID}
};

/*
 * ff.release_admission(quota_policy_id, execution_id)
 *		Decision (Appendix C #6): a concurrency slot is freed only when the
 *		admission existed, so a double release frees one slot.  The rate
 *		slot stays busy and counts until the window passes.
 */
Datum
ff_release_admission(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = uuid_arg(fcinfo, 0, "quota_policy_id");
	ExecId		exec = ff_arg_exec_id(fcinfo, 1, "execution_id");
	Datum		v[3];
	FFResult	r;

	ff_spi_connect();
	v[0] = UUIDPGetDatum(id);
	v[1] = CStringGetTextDatum(ff_format_exec_id(exec.partition, &exec.uuid));
	v[2] = Int64GetDatum(ff_now_ms());
	if (quota_visible(id))		/* else nothing to release, as for an unknown id */
		ff_plan_exec(&plan_release_admission, v, NULL, 0);
	ffr_ok(&r, "OK");
	ffr_text(&r, "result", "released");
	FF_RETURN_RESULT(&r);
}

/* ---- claim-time admission (§5.1 b-c) ---- */

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

/* The attached ids that are UUIDs, in order (others mean no budget, §5.1). */
static ArrayType *
budget_ids_array(const char *csv)
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
 * §5.1) — or NULL when every one admits.  The claim path and the unblock
 * scanner (ff._budget_block_detail) share it.
 */
static char *
budget_block_detail(const char *csv, const char *ns)
{
	Datum		v[2];
	bool		n[2] = {false, ns == NULL};

	v[0] = PointerGetDatum(budget_ids_array(csv));
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
	detail = budget_block_detail(text_to_cstring(PG_GETARG_TEXT_PP(0)), ff_arg_text_opt(fcinfo, 1));
	if (detail == NULL)
	{
		SPI_finish();
		PG_RETURN_NULL();
	}
	PG_RETURN_DATUM(ff_spi_finish_datum(CStringGetTextDatum(detail)));
}

/* The limits of a quota policy that may govern an execution of namespace $2. */
static FFPlan plan_policy_limits = {
	"SELECT window_seconds, max_requests_per_window, active_concurrency_cap, jitter_ms "
	"FROM ff.quota_policy WHERE quota_policy_id = $1 AND (namespace IS NULL OR namespace = $2)",
	2, {UUIDOID, TEXTOID}
};

/* Busy slots of a kind among the first limit (at most limit counted). */
static FFPlan plan_slots_busy = {
	"SELECT count(*) FROM (SELECT 1 FROM ff.quota_slot WHERE quota_policy_id = $1 AND kind = $2 "
	"AND dimension = $3 AND slot <= $4 AND free_at > $5 LIMIT $4) x",
	5, {UUIDOID, CHAROID, TEXTOID, INT8OID, INT8OID}
};

static bool
quota_kind_full(pg_uuid_t *policy, char kind, const char *dim, int64 limit, int64 now)
{
	Datum		v[5];

	v[0] = UUIDPGetDatum(policy);
	v[1] = CharGetDatum(kind);
	v[2] = CStringGetTextDatum(dim);
	v[3] = Int64GetDatum(limit);
	v[4] = Int64GetDatum(now);
	ff_plan_exec(&plan_slots_busy, v, NULL, 1);
	return ff_col_int64(0, 1, 0) >= limit;
}

/*
 * Whether a quota would refuse an admission now to an execution of
 * namespace ns, without taking anything: every rate slot up to the limit
 * busy, or every concurrency slot (the slots quota_admit takes).  A policy
 * of another namespace, or none, refuses nothing.
 */
static bool
quota_refuses(pg_uuid_t *policy, int64 now, const char *ns)
{
	Datum		v[2];
	bool		vn[2] = {false, ns == NULL};
	int64		rate,
				cap;

	v[0] = UUIDPGetDatum(policy);
	v[1] = ns ? CStringGetTextDatum(ns) : (Datum) 0;
	if (ff_plan_exec(&plan_policy_limits, v, vn, 1) == 0)
		return false;
	rate = ff_col_int64(0, 2, 0);
	cap = ff_col_int64(0, 3, 0);
	return (rate > 0 && quota_kind_full(policy, 'r', "default", rate, now)) ||
		(cap > 0 && quota_kind_full(policy, 'c', "", cap, now));
}

/* ff._quota_refuses(policy uuid, now_ms bigint, namespace text) -> boolean */
Datum
ff_quota_refuses_sql(PG_FUNCTION_ARGS)
{
	bool		refuses;

	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	ff_spi_connect();
	refuses = quota_refuses(PG_GETARG_UUID_P(0), PG_ARGISNULL(1) ? ff_now_ms() : PG_GETARG_INT64(1),
							ff_arg_text_opt(fcinfo, 2));
	SPI_finish();
	PG_RETURN_BOOL(refuses);
}

/*
 * ff_admit_for_claim
 *		Budgets, then the quota, for a locked candidate of a claim: true
 *		when it may be claimed; otherwise it has been blocked (stored) with
 *		the reason and detail of §5.1, and is not claimed.  Budgets are
 *		not reserved (§5.1: overshoot is stopped at report time).
 */
bool
ff_admit_for_claim(ExecCore *c, int64 now)
{
	Datum		v[2];
	bool		vn[2] = {false, c->namespace == NULL};
	char	   *refusal;

	if (c->budget_ids != NULL && (refusal = budget_block_detail(c->budget_ids, c->namespace)) != NULL)
	{
		ff_block_locked(c, BLOCK_WAITING_FOR_BUDGET, refusal, now);
		return false;
	}
	if (c->quota_policy_id.set)
	{
		int64		window,
					rate,
					cap,
					jitter,
					retry;
		QuotaOutcome o;

		v[0] = UUIDPGetDatum(&c->quota_policy_id.v);
		v[1] = c->namespace ? CStringGetTextDatum(c->namespace) : (Datum) 0;
		if (ff_plan_exec(&plan_policy_limits, v, vn, 1) == 0)
			return true;		/* an undefined policy (or another namespace's) means no quota */
		window = ff_col_int64(0, 1, 0);
		rate = ff_col_int64(0, 2, 0);
		cap = ff_col_int64(0, 3, 0);
		jitter = ff_col_int64(0, 4, 0);
		if (rate == 0 && cap == 0)
			return true;
		if (window == 0)
			window = FF_DEFAULT_QUOTA_WINDOW_S;
		o = quota_admit(&c->quota_policy_id.v, "default", now, window, rate, cap,
						ff_format_exec_id(c->id.partition, &c->id.uuid), jitter, &retry);
		if (o == QUOTA_RATE_EXCEEDED || o == QUOTA_CONCURRENCY_EXCEEDED)
		{
			char		pid[37];

			ff_format_uuid(&c->quota_policy_id.v, pid);
			ff_block_locked(c, BLOCK_WAITING_FOR_QUOTA,
							o == QUOTA_RATE_EXCEEDED
							? psprintf("quota %s: rate limit " INT64_FORMAT "/" INT64_FORMAT " per " INT64_FORMAT "s window",
									   pid, rate, rate, window)
							: psprintf("quota %s: concurrency cap " INT64_FORMAT, pid, cap),
							now);
			return false;
		}
	}
	return true;
}

/* ---- attaching budgets and a quota to executions (§2.3) ---- */

/* Append a budget id to the attachment CSV unless it is there already. */
static void
csv_add_budget(StringInfo csv, const pg_uuid_t *u)
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
		csv_add_budget(&s, &u);
	}
	return s.len ? s.data : NULL;
}

/*
 * The first attached id that may not govern an execution of namespace $2
 * as caller $3 (its namespaces, NULL when unrestricted) attaches it: one of
 * another namespace for anyone; for a role bound to namespaces also a
 * global one and an undefined id, which it cannot tell apart from another
 * tenant's.
 */
static FFPlan plan_budget_scope = {
	"SELECT x.id FROM pg_catalog.unnest($1::uuid[]) WITH ORDINALITY x(id, ord) "
	"LEFT JOIN ff.budget b ON b.budget_id = x.id "
	"WHERE CASE WHEN b.budget_id IS NULL THEN $3::text[] IS NOT NULL "
	"ELSE b.namespace IS DISTINCT FROM $2 AND (b.namespace IS NOT NULL OR $3::text[] IS NOT NULL) END "
	"ORDER BY x.ord LIMIT 1",
	3, {UUIDARRAYOID, TEXTOID, TEXTARRAYOID}
};
static FFPlan plan_quota_scope = {
	"SELECT 1 FROM (SELECT $1::uuid AS id) x LEFT JOIN ff.quota_policy q ON q.quota_policy_id = x.id "
	"WHERE CASE WHEN q.quota_policy_id IS NULL THEN $3::text[] IS NOT NULL "
	"ELSE q.namespace IS DISTINCT FROM $2 AND (q.namespace IS NOT NULL OR $3::text[] IS NOT NULL) END",
	3, {UUIDOID, TEXTOID, TEXTARRAYOID}
};

/*
 * ff_admission_scope_error
 *		Whether the caller may attach budgets (CSV, or NULL) and a quota
 *		policy (or NULL) to an execution of namespace ns: NULL when it may,
 *		else the detail of the invalid_budget_scope outcome naming the first
 *		refused id.  A budget or policy of another namespace never governs
 *		an execution (whoever attaches it: an admin's mistake is refused as
 *		well); a role bound to namespaces may attach only defined ones of
 *		the execution's namespace, so that another tenant's, a global one
 *		and an undefined id answer alike.  Unrestricted callers may still
 *		attach global and undefined ids (the reference checks nothing).
 *		SPI connected.
 */
const char *
ff_admission_scope_error(const char *budget_csv, const pg_uuid_t *quota, const char *ns)
{
	Datum		v[3];
	bool		n[3] = {false, ns == NULL, false};

	v[1] = ns ? CStringGetTextDatum(ns) : (Datum) 0;
	v[2] = ff_namespaces_array(&n[2]);
	if (budget_csv != NULL)
	{
		v[0] = PointerGetDatum(budget_ids_array(budget_csv));
		if (ff_plan_exec(&plan_budget_scope, v, n, 1) > 0)
			return psprintf("budget_id %s", ff_col_text(0, 1));
	}
	if (quota != NULL)
	{
		char		txt[37];

		v[0] = UUIDPGetDatum(quota);
		if (ff_plan_exec(&plan_quota_scope, v, n, 1) > 0)
		{
			ff_format_uuid(quota, txt);
			return psprintf("quota_policy_id %s", txt);
		}
	}
	return NULL;
}

/*
 * ff.set_execution_admission(execution_id, budget_ids, quota_policy_id)
 *		Replaces the attached budgets and quota of a non-terminal execution
 *		(extension-defined, §2.3); NULL detaches.  Budgets or a quota that
 *		may not govern it: invalid_budget_scope, nothing changed.
 */
Datum
ff_set_execution_admission(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	ArrayType  *budgets = PG_ARGISNULL(1) ? NULL : PG_GETARG_ARRAYTYPE_P(1);
	pg_uuid_t  *quota = ff_arg_uuid_opt(fcinfo, 2);
	StringInfoData csv;
	FFResult	r;
	ExecCore	c;
	const char *scope_error;

	initStringInfo(&csv);
	if (budgets)
	{
		Datum	   *e;
		bool	   *en;
		int			n,
					i;

		if (ARR_NDIM(budgets) > 1)
			ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR), errmsg("budget_ids must be one-dimensional")));
		deconstruct_array(budgets, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR, &e, &en, &n);
		if (n > FF_MAX_ATTACHED_BUDGETS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("at most %d budgets can be attached, got %d", FF_MAX_ATTACHED_BUDGETS, n)));
		for (i = 0; i < n; i++)
		{
			if (en[i])
				ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("budget_ids must not contain NULL")));
			csv_add_budget(&csv, DatumGetUUIDP(e[i]));
		}
	}
	ff_spi_connect();
	if (!ff_core_lock(id, &c))
		ff_result_not_found(&r);
	else if (c.lifecycle_phase == PHASE_TERMINAL)
		ff_result_not_active(&r, &c);
	else if ((scope_error = ff_admission_scope_error(csv.len ? csv.data : NULL, quota, c.namespace)) != NULL)
	{
		ffr_error(&r, "invalid_budget_scope");
		ffr_text(&r, "detail", scope_error);
	}
	else
	{
		c.budget_ids = csv.len ? csv.data : NULL;
		c.quota_policy_id.set = (quota != NULL);
		if (quota)
			c.quota_policy_id.v = *quota;
		c.last_mutation_at = ff_now_ms();
		ff_core_store(&c);
		ffr_ok(&r, "OK");
	}
	FF_RETURN_RESULT(&r);
}
