/*-------------------------------------------------------------------------
 *
 * quota.c
 *	  Quota policies (behaviour/budgets §4) and admission (behaviour/budgets §5.1): create,
 *	  admission with a sliding window and a concurrency cap as slot rows,
 *	  its release, the rule that a quota is full (shared by admission and
 *	  the unblock scanner, ff._quota_refuses), the claim-time admission of
 *	  budgets then quota, and attaching budgets and a quota to an
 *	  execution.  Budgets themselves are budget.c.
 *
 *	  Tenancy (issue 20): a quota policy belongs to a namespace or, NULL,
 *	  to none (global); see budget.c.  A quota governs an execution only
 *	  when it is of its namespace or global.
 *
 *	  Locking: every quota operation locks its ff.quota_policy row first.
 *	  A claim already holds its candidate execution rows when it takes a
 *	  policy row; nothing locks a policy and then an execution, so the two
 *	  orders never cross.
 *
 * IDENTIFICATION
 *	  src/quota.c
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

#include "budget.h"
#include "core_clock.h"
#include "core_ids.h"
#include "core_partition.h"
#include "core_spi.h"
#include "core_tenant.h"
#include "core_validate.h"
#include "exec_block.h"
#include "exec_core.h"
#include "ff_engine.h"
#include "quota.h"

PG_FUNCTION_INFO_V1(ff_create_quota_policy);
PG_FUNCTION_INFO_V1(ff_check_admission_and_record);
PG_FUNCTION_INFO_V1(ff_release_admission);
PG_FUNCTION_INFO_V1(ff_quota_refuses_sql);
PG_FUNCTION_INFO_V1(ff_quota_refusing_sql);
PG_FUNCTION_INFO_V1(ff_set_execution_admission);

#define FF_DEFAULT_QUOTA_WINDOW_S	60

/* ---- quota policies (behaviour/budgets §4) ---- */

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
	pg_uuid_t  *id = ff_budget_uuid_arg(fcinfo, 0, "quota_policy_id");
	int64		window = ff_arg_int64(fcinfo, 1, "window_seconds");
	int64		rate = ff_arg_int64(fcinfo, 2, "max_requests_per_window");
	int64		cap = ff_arg_int64(fcinfo, 3, "max_concurrent");
	int64		jitter = PG_ARGISNULL(4) ? 0 : PG_GETARG_INT64(4);
	int64		now = ff_budget_now_arg(fcinfo, 5);
	char	   *ns = ff_budget_namespace_arg(fcinfo, 6);
	Datum		v[8];
	bool		vn[8] = {false};
	FFResult	r;

	ff_budget_check_nonnegative(window, "window_seconds");
	ff_budget_check_nonnegative(rate, "max_requests_per_window");
	ff_budget_check_nonnegative(cap, "max_concurrent");
	ff_budget_check_nonnegative(jitter, "jitter_ms");
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
	ff_budget_require_create_scope(ns, "quota policy");
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
 * quota_admit (behaviour/budgets §4.2): an admission guard still live answers
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
	pg_uuid_t  *id = ff_budget_uuid_arg(fcinfo, 0, "quota_policy_id");
	ExecId		exec = ff_arg_exec_id(fcinfo, 1, "execution_id");
	int64		window = ff_arg_int64(fcinfo, 2, "window_seconds");
	int64		rate = ff_arg_int64(fcinfo, 3, "rate_limit");
	int64		cap = ff_arg_int64(fcinfo, 4, "concurrency_cap");
	char	   *dimension = ff_arg_text_opt(fcinfo, 5);
	int64		jitter = PG_ARGISNULL(6) ? 0 : PG_GETARG_INT64(6);
	int64		now = ff_budget_now_arg(fcinfo, 7);
	int64		retry;
	QuotaOutcome o;
	FFResult	r;

	ff_budget_check_nonnegative(window, "window_seconds");
	ff_budget_check_nonnegative(rate, "rate_limit");
	ff_budget_check_nonnegative(cap, "concurrency_cap");
	ff_budget_check_nonnegative(jitter, "jitter_ms");
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
 *		Decision (behaviour/budgets §C.6): a concurrency slot is freed only when the
 *		admission existed, so a double release frees one slot.  The rate
 *		slot stays busy and counts until the window passes.
 */
Datum
ff_release_admission(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = ff_budget_uuid_arg(fcinfo, 0, "quota_policy_id");
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

/* The limits of a quota policy that may govern an execution of namespace $2. */
static FFPlan plan_policy_limits = {
	"SELECT window_seconds, max_requests_per_window, active_concurrency_cap, jitter_ms "
	"FROM ff.quota_policy WHERE quota_policy_id = $1 AND (namespace IS NULL OR namespace = $2)",
	2, {UUIDOID, TEXTOID}
};

typedef struct QuotaLimits
{
	int64		window_s;
	int64		rate;
	int64		cap;
	int64		jitter;
} QuotaLimits;

/*
 * The limits of the policy governing an execution of namespace ns; false
 * when it governs nothing: an undefined policy (or another namespace's),
 * or one with neither a rate nor a cap.  Window 0 means 60 s.
 */
static bool
quota_limits(const pg_uuid_t *policy, const char *ns, QuotaLimits *q)
{
	Datum		v[2];
	bool		vn[2] = {false, ns == NULL};

	v[0] = UUIDPGetDatum(policy);
	v[1] = ns ? CStringGetTextDatum(ns) : (Datum) 0;
	if (ff_plan_exec(&plan_policy_limits, v, vn, 1) == 0)
		return false;
	q->window_s = ff_col_int64(0, 1, 0);
	q->rate = ff_col_int64(0, 2, 0);
	q->cap = ff_col_int64(0, 3, 0);
	q->jitter = ff_col_int64(0, 4, 0);
	if (q->rate == 0 && q->cap == 0)
		return false;
	if (q->window_s == 0)
		q->window_s = FF_DEFAULT_QUOTA_WINDOW_S;
	return true;
}

/* Busy slots of the kind among 1..limit (counted up to limit). */
static FFPlan plan_slots_busy = {
	"SELECT count(*) FROM (SELECT 1 FROM ff.quota_slot WHERE quota_policy_id = $1 AND kind = $2 "
	"AND dimension = $3 AND slot <= $4 AND free_at > $5 LIMIT $4) x",
	5, {UUIDOID, CHAROID, TEXTOID, INT8OID, INT8OID}
};

/*
 * A kind of slot is full when every slot 1..limit is busy (free_at > now):
 * then slot_lock finds no free slot and no number to create.
 */
static bool
slots_full(const pg_uuid_t *policy, char kind, const char *dim, int64 limit, int64 now)
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

bool
ff_quota_refuses(const pg_uuid_t *policy, int64 now, const char *ns)
{
	QuotaLimits q;

	if (!quota_limits(policy, ns, &q))
		return false;
	return (q.rate > 0 && slots_full(policy, 'r', "default", q.rate, now)) ||
		(q.cap > 0 && slots_full(policy, 'c', "", q.cap, now));
}

/* ff._quota_refuses(policy uuid, now_ms bigint, namespace text) -> boolean */
Datum
ff_quota_refuses_sql(PG_FUNCTION_ARGS)
{
	bool		refuses;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);	/* no policy, no time: nothing is busy */
	ff_spi_connect();
	refuses = ff_quota_refuses(PG_GETARG_UUID_P(0), PG_GETARG_INT64(1), ff_arg_text_opt(fcinfo, 2));
	SPI_finish();
	PG_RETURN_BOOL(refuses);
}

/* The namespace of a policy the caller may see ($2: its namespaces, NULL for all). */
static FFPlan plan_quota_own_namespace = {
	"SELECT namespace FROM ff.quota_policy WHERE quota_policy_id = $1 "
	"AND ($2::text[] IS NULL OR namespace = ANY ($2))",
	2, {UUIDOID, TEXTARRAYOID}
};

/*
 * ff._quota_refusing(policy uuid) -> boolean
 *		ff.quota_status's column: whether the policy refuses an admission
 *		now to an execution of its own namespace (the rule above); NULL for
 *		a policy the caller may not see, so a reader learns nothing of
 *		another tenant's.
 */
Datum
ff_quota_refusing_sql(PG_FUNCTION_ARGS)
{
	Datum		v[2];
	bool		n[2] = {false, false};
	char	   *ns;
	bool		refuses;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	ff_spi_connect();
	v[0] = UUIDPGetDatum(PG_GETARG_UUID_P(0));
	v[1] = ff_namespaces_array(&n[1]);
	if (ff_plan_exec(&plan_quota_own_namespace, v, n, 1) == 0)
	{
		SPI_finish();
		PG_RETURN_NULL();
	}
	ns = ff_col_text(0, 1);
	refuses = ff_quota_refuses(PG_GETARG_UUID_P(0), ff_now_ms(), ns);
	SPI_finish();
	PG_RETURN_BOOL(refuses);
}

/*
 * ff_admit_for_claim
 *		Budgets, then the quota, for a locked candidate of a claim: true
 *		when it may be claimed; otherwise it has been blocked (stored) with
 *		the reason and detail of behaviour/budgets §5.1, and is not claimed.  Budgets are
 *		not reserved (behaviour/budgets §5.1: overshoot is stopped at report time).
 */
bool
ff_admit_for_claim(ExecCore *c, int64 now)
{
	char	   *refusal;
	QuotaLimits q;
	int64		retry;
	QuotaOutcome o;
	char		pid[37];

	if (c->budget_ids != NULL && (refusal = ff_budget_block_detail(c->budget_ids, c->namespace)) != NULL)
	{
		ff_block_locked(c, BLOCK_WAITING_FOR_BUDGET, refusal, now);
		return false;
	}
	if (!c->quota_policy_id.set || !quota_limits(&c->quota_policy_id.v, c->namespace, &q))
		return true;
	o = quota_admit(&c->quota_policy_id.v, "default", now, q.window_s, q.rate, q.cap,
					ff_format_exec_id(c->id.partition, &c->id.uuid), q.jitter, &retry);
	if (o != QUOTA_RATE_EXCEEDED && o != QUOTA_CONCURRENCY_EXCEEDED)
		return true;
	ff_format_uuid(&c->quota_policy_id.v, pid);
	ff_block_locked(c, BLOCK_WAITING_FOR_QUOTA,
					o == QUOTA_RATE_EXCEEDED
					? psprintf("quota %s: rate limit " INT64_FORMAT "/" INT64_FORMAT " per " INT64_FORMAT "s window",
							   pid, q.rate, q.rate, q.window_s)
					: psprintf("quota %s: concurrency cap " INT64_FORMAT, pid, q.cap),
					now);
	return false;
}

/* ---- attaching budgets and a quota to executions (behaviour/budgets §2.3) ---- */

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
		v[0] = PointerGetDatum(ff_budget_ids_array(budget_csv));
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
 *		(extension-defined, behaviour/budgets §2.3); NULL detaches.  Budgets or a quota that
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
			ff_budget_csv_add(&csv, DatumGetUUIDP(e[i]));
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
