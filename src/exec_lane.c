/*-------------------------------------------------------------------------
 *
 * exec_lane.c
 *	  Lane controls and concurrency keys (issue 26).
 *
 *	  Lane controls: ff.pause_lane / ff.resume_lane / ff.set_lane_limit
 *	  write ff.lane (a row only for a lane paused or limited).  Lanes are
 *	  global, so only an administrator changes them.  A claim reads the
 *	  lane's controls from a per-backend cache of ff.lane, valid while the
 *	  generation counter in shared memory is unchanged: a transaction that
 *	  changed ff.lane (a statement trigger notes it) bumps the counter at
 *	  commit, before its COMMIT returns, so a claim that starts afterwards
 *	  sees the change.  A claim on a lane with no controls therefore runs no
 *	  statement for them.  Without shared memory (the library not
 *	  preloaded), in a transaction that changed ff.lane itself, and under
 *	  REPEATABLE READ the cache is bypassed (one lookup).
 *
 *	  Concurrency keys: an execution created with policy
 *	  {"concurrency": {"key": k, "limit": n}} may be claimed only while
 *	  fewer than n executions of (namespace, k) hold a live lease (phase
 *	  active, ownership leased).  There is no counter to keep: the slots
 *	  are the entries of the partial index execution_concurrency_idx, so a
 *	  slot frees by whatever way the execution stops holding a live lease
 *	  (complete, fail, retry, cancel, delay, suspend, wait for children,
 *	  lease expiry marked, revoke, expire), and no operation but a claim
 *	  touches anything of a key.  A lane limit is the same rule over the
 *	  lane's executions holding a live lease.
 *
 *	  Race freedom: a claim that would take a slot first takes a
 *	  transaction-level advisory lock on the key (or lane), then counts
 *	  with a fresh snapshot (READ COMMITTED: each statement has its own),
 *	  so two claimers of one key are serialised and the second counts the
 *	  first's committed claim.  Lock order: execution row, then the lane
 *	  lock, then the key lock.  ff.claim_next takes the lane lock before
 *	  any execution row, execution rows with SKIP LOCKED and key locks with
 *	  a try (never waits while holding them), so it cannot close a cycle;
 *	  the grant-consuming claims wait in that order.  Advisory lock space:
 *	  (class FF_LANE_LOCK_CLASS or FF_KEY_LOCK_CLASS, hash of the name); a
 *	  hash collision only serialises two keys, never lets a limit be
 *	  exceeded.  Under REPEATABLE READ a count could miss a concurrent
 *	  claim, so a claim that needs a slot raises 0A000 there.
 *
 * IDENTIFICATION
 *	  src/exec_lane.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "catalog/namespace.h"
#include "utils/memutils.h"

#include "core_clock.h"
#include "ff_engine.h"
#include "exec_lane.h"
#include "core_partition.h"
#include "core_result.h"
#include "core_spi.h"
#include "core_tenant.h"
#include "core_validate.h"
#include "bgw.h"

#define FF_LANE_LOCK_CLASS	0x66660001
#define FF_KEY_LOCK_CLASS	0x66660002

PG_FUNCTION_INFO_V1(ff_pause_lane);
PG_FUNCTION_INFO_V1(ff_resume_lane);
PG_FUNCTION_INFO_V1(ff_set_lane_limit);
PG_FUNCTION_INFO_V1(ff_lane_changed);

/* ---- the cache of ff.lane ---- */

typedef struct LaneEntry
{
	char		lane_id[FF_LANE_ID_MAX + 1];	/* hash key */
	bool		paused;
	int32		max_active;		/* 0: no limit */
} LaneEntry;

static HTAB *lane_cache = NULL;
static uint64 lane_cache_gen = 0;
static Oid	lane_cache_rel = InvalidOid;	/* ff.lane the cache was read from */
static bool lane_cache_valid = false;
static bool lane_changed_in_xact = false;
static bool lane_callback_registered = false;

static FFPlan plan_lane_all = {
	"SELECT lane_id, paused, coalesce(max_active, 0)::bigint FROM ff.lane "
	"WHERE paused OR max_active IS NOT NULL", 0, {0}
};
static FFPlan plan_lane_one = {
	"SELECT paused, coalesce(max_active, 0)::bigint FROM ff.lane WHERE lane_id = $1",
	1, {TEXTOID}
};

static void
lane_xact_callback(XactEvent event, void *arg)
{
	/* COMMIT PREPARED could run in any backend, with no bump after it */
	if (event == XACT_EVENT_PRE_PREPARE && lane_changed_in_xact)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot PREPARE a transaction that changed lane controls")));
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PREPARE)
		return;
	if (lane_changed_in_xact)
	{
		/* after the commit is visible: claims starting now reload */
		if (event == XACT_EVENT_COMMIT && ff_shared != NULL)
			pg_atomic_fetch_add_u64(&ff_shared->lane_gen, 1);
		lane_cache_valid = false;
		lane_changed_in_xact = false;
	}
}

static void
lane_cache_load(uint64 gen, Oid rel)
{
	HASHCTL		ctl;
	uint64		n,
				i;

	if (lane_cache != NULL)
		hash_destroy(lane_cache);
	lane_cache = NULL;
	lane_cache_valid = false;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = FF_LANE_ID_MAX + 1;
	ctl.entrysize = sizeof(LaneEntry);
	ctl.hcxt = TopMemoryContext;
	n = ff_plan_exec(&plan_lane_all, NULL, NULL, 0);
	lane_cache = hash_create("ff_engine lanes", Max(n, 16), &ctl,
							 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	for (i = 0; i < n; i++)
	{
		char		key[FF_LANE_ID_MAX + 1];
		char	   *id = ff_col_text((int) i, 1);
		LaneEntry  *e;

		memset(key, 0, sizeof(key));
		strlcpy(key, id, sizeof(key));
		e = hash_search(lane_cache, key, HASH_ENTER, NULL);
		e->paused = ff_col_bool((int) i, 2);
		e->max_active = (int32) ff_col_int64((int) i, 3, 0);
	}
	lane_cache_gen = gen;
	lane_cache_rel = rel;
	lane_cache_valid = true;
}

/*
 * ff_lane_controls
 *		The lane's controls (SPI connected): paused, and its limit (0: none).
 *		Returns whether it has any.
 */
bool
ff_lane_controls(const char *lane, bool *paused, int *max_active)
{
	*paused = false;
	*max_active = 0;
	if (ff_shared != NULL && !lane_changed_in_xact && !IsolationUsesXactSnapshot())
	{
		uint64		gen = pg_atomic_read_u64(&ff_shared->lane_gen);
		/* the extension dropped and created again: another table */
		Oid			rel = get_relname_relid("lane", get_namespace_oid("ff", false));
		char		key[FF_LANE_ID_MAX + 1];
		LaneEntry  *e;

		pg_read_barrier();
		if (!lane_cache_valid || gen != lane_cache_gen || rel != lane_cache_rel)
			lane_cache_load(gen, rel);
		memset(key, 0, sizeof(key));
		strlcpy(key, lane, sizeof(key));
		e = hash_search(lane_cache, key, HASH_FIND, NULL);
		if (e == NULL)
			return false;
		*paused = e->paused;
		*max_active = e->max_active;
	}
	else
	{
		Datum		v[1];

		v[0] = CStringGetTextDatum(lane);
		if (ff_plan_exec(&plan_lane_one, v, NULL, 1) == 0)
			return false;
		*paused = ff_col_bool(0, 1);
		*max_active = (int) ff_col_int64(0, 2, 0);
	}
	return *paused || *max_active > 0;
}

/*
 * ff._lane_changed() -- statement trigger on ff.lane: whatever changed it
 *		(these functions, pg_restore, an administrator's DML), backends drop
 *		their cache once the change commits.
 */
Datum
ff_lane_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("ff._lane_changed() runs only as a trigger")));
	if (!lane_callback_registered)
	{
		RegisterXactCallback(lane_xact_callback, NULL);
		lane_callback_registered = true;
	}
	lane_changed_in_xact = true;
	lane_cache_valid = false;
	return PointerGetDatum(NULL);
}

/* ---- slots ---- */

static void
require_read_committed(void)
{
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a claim under a concurrency key or a lane limit needs READ COMMITTED isolation"),
				 errdetail("Its slot count must see claims committed after the transaction's snapshot.")));
}

static bool
slot_lock(int32 lock_class, const char *a, const char *b, bool wait)
{
	StringInfoData s;
	int32		h;

	initStringInfo(&s);
	appendStringInfoString(&s, a);
	if (b != NULL)
	{
		appendStringInfoChar(&s, '\0');
		appendBinaryStringInfo(&s, b, strlen(b));
	}
	h = (int32) hash_bytes((const unsigned char *) s.data, s.len);
	pfree(s.data);
	if (wait)
	{
		DirectFunctionCall2(pg_advisory_xact_lock_int4, Int32GetDatum(lock_class), Int32GetDatum(h));
		return true;
	}
	return DatumGetBool(DirectFunctionCall2(pg_try_advisory_xact_lock_int4,
											Int32GetDatum(lock_class), Int32GetDatum(h)));
}

static FFPlan plan_key_count = {
	"SELECT count(*) FROM ff.execution WHERE namespace = $1 AND concurrency_key = $2 "
	"AND concurrency_key IS NOT NULL AND lifecycle_phase = 'active' AND ownership_state = 'leased'",
	2, {TEXTOID, TEXTOID}, NULL, true
};

/* Lane-wide: the lease-expiry index holds every live lease (no lane index: every claim would pay it). */
static FFPlan plan_lane_count = {
	"SELECT count(*) FROM ff.execution WHERE lane_id = $1 "
	"AND lifecycle_phase = 'active' AND ownership_state = 'leased'",
	1, {TEXTOID}, NULL, true
};

/*
 * ff_key_slot_free
 *		Whether the execution's concurrency key has a free slot, with
 *		taken_here slots taken by this call and not yet written.  Takes the
 *		key's lock first (waiting, or with !wait trying and answering false
 *		when another transaction holds it).  The lock is held to the end of
 *		the transaction.
 */
bool
ff_key_slot_free(const ExecCore *c, int64 taken_here, bool wait)
{
	require_read_committed();
	if (!slot_lock(FF_KEY_LOCK_CLASS, c->namespace, c->concurrency_key, wait))
		return false;
	return ff_key_slots_taken(c) + taken_here < c->concurrency_limit;
}

/*
 * ff_key_slots_taken
 *		How many executions of the execution's concurrency key hold a live
 *		lease now, without the key's lock: a hint, which a claim checks
 *		again under the lock (ff_key_slot_free).
 */
int64
ff_key_slots_taken(const ExecCore *c)
{
	Datum		v[2];
	int64		n;

	v[0] = CStringGetTextDatum(c->namespace);
	v[1] = CStringGetTextDatum(c->concurrency_key);
	ff_plan_exec(&plan_key_count, v, NULL, 1);
	n = ff_col_int64(0, 1, 0);
	SPI_freetuptable(SPI_tuptable);
	return n;
}

/*
 * ff_lane_slots_free
 *		How many more executions of the lane may hold a live lease (its
 *		limit minus those holding one), after taking the lane's lock.
 */
int64
ff_lane_slots_free(const char *lane, int max_active)
{
	Datum		v[1];

	require_read_committed();
	slot_lock(FF_LANE_LOCK_CLASS, lane, NULL, true);
	v[0] = CStringGetTextDatum(lane);
	ff_plan_exec(&plan_lane_count, v, NULL, 1);
	return Max((int64) max_active - ff_col_int64(0, 1, 0), 0);
}

/*
 * ff_claim_refusal
 *		For the claims that name one execution (grant-consuming, operator):
 *		why this claim may not take a slot now (lane_paused,
 *		lane_limit_reached, concurrency_limit_reached), or NULL.  The
 *		execution row is locked; keeps_slot: it holds one already (a reclaim
 *		of a lease not yet marked expired).
 */
const char *
ff_claim_refusal(const ExecCore *c, bool keeps_slot)
{
	bool		paused;
	int			max_active;

	if (ff_lane_controls(c->lane_id, &paused, &max_active))
	{
		if (paused)
			return "lane_paused";
		if (max_active > 0 && !keeps_slot && ff_lane_slots_free(c->lane_id, max_active) <= 0)
			return "lane_limit_reached";
	}
	if (c->concurrency_key != NULL && !keeps_slot && !ff_key_slot_free(c, 0, true))
		return "concurrency_limit_reached";
	return NULL;
}

/*
 * ff_concurrency_from_policy
 *		The policy's "concurrency": {"key": text, "limit": int} (limit
 *		defaults to 1).  Misuse raises 22023 before anything is written.
 */
void
ff_concurrency_from_policy(Jsonb *policy, char **key, int64 *limit)
{
	JsonbValue	buf,
			   *v;
	JsonbContainer *cc;
	double		lim = 1;

	*key = NULL;
	*limit = FF_NULL;
	if (policy == NULL || !JB_ROOT_IS_OBJECT(policy) ||
		(v = ff_jsonb_get(&policy->root, "concurrency", &buf)) == NULL ||
		v->type == jbvNull)
		return;
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("policy concurrency must be an object {\"key\": text, \"limit\": integer}")));
	cc = v->val.binary.data;
	v = ff_jsonb_get(cc, "key", &buf);
	if (v == NULL || v->type != jbvString || v->val.string.len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("policy concurrency.key must be a non-empty string")));
	if (v->val.string.len > FF_MAX_ID_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("policy concurrency.key must be at most %d bytes, got %d",
						FF_MAX_ID_BYTES, v->val.string.len)));
	*key = pnstrdup(v->val.string.val, v->val.string.len);
	if (strlen(*key) != (size_t) v->val.string.len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("policy concurrency.key must not contain NUL")));
	v = ff_jsonb_get(cc, "limit", &buf);
	if (v != NULL && v->type != jbvNull &&
		(v->type != jbvNumeric || !ff_jsonb_get_number(cc, "limit", &lim)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("policy concurrency.limit must be an integer")));
	if (lim != (double) (int64) lim || lim < 1 || lim > FF_MAX_CONCURRENCY_LIMIT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("policy concurrency.limit must be an integer between 1 and %d, got %g",
						FF_MAX_CONCURRENCY_LIMIT, lim)));
	*limit = (int64) lim;
}

/* ---- the administrator's functions ---- */

static FFPlan plan_lane_pause = {
	"INSERT INTO ff.lane AS l (lane_id, paused, updated_at, updated_by) VALUES ($1, $2, $3, $4) "
	"ON CONFLICT (lane_id) DO UPDATE SET paused = EXCLUDED.paused, "
	"updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by "
	"RETURNING l.paused, coalesce(l.max_active, 0)::bigint",
	4, {TEXTOID, BOOLOID, INT8OID, TEXTOID}
};
static FFPlan plan_lane_limit = {
	"INSERT INTO ff.lane AS l (lane_id, max_active, updated_at, updated_by) VALUES ($1, $2, $3, $4) "
	"ON CONFLICT (lane_id) DO UPDATE SET max_active = EXCLUDED.max_active, "
	"updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by "
	"RETURNING l.paused, coalesce(l.max_active, 0)::bigint",
	4, {TEXTOID, INT4OID, INT8OID, TEXTOID}
};
/* a lane back to no controls keeps no row */
static FFPlan plan_lane_tidy = {
	"DELETE FROM ff.lane WHERE lane_id = $1 AND NOT paused AND max_active IS NULL",
	1, {TEXTOID}
};

static char *
admin_lane_arg(FunctionCallInfo fcinfo)
{
	char	   *lane;

	if (!ff_caller_is_admin())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("lane controls are for administrators (ff_admin)"),
				 errdetail("Lanes are shared by every namespace.")));
	lane = ff_arg_text(fcinfo, 0, "lane_id");
	ff_check_lane_id(PG_GETARG_TEXT_PP(0));
	return lane;
}

static Datum
lane_result(const char *lane, bool tidy)
{
	FFResult	r;
	bool		paused = ff_col_bool(0, 1);
	int64		max_active = ff_col_int64(0, 2, 0);
	Datum		v[1];

	if (tidy && !paused && max_active == 0)
	{
		v[0] = CStringGetTextDatum(lane);
		ff_plan_exec(&plan_lane_tidy, v, NULL, 0);
	}
	ffr_ok(&r, "OK");
	ffr_text(&r, "lane_id", lane);
	ffr_bool(&r, "paused", paused);
	ffr_int_or_null(&r, "max_active", max_active, max_active == 0);
	FF_RETURN_RESULT(&r);
}

static Datum
set_paused(FunctionCallInfo fcinfo, bool paused)
{
	char	   *lane = admin_lane_arg(fcinfo);
	Datum		v[4];

	ff_spi_connect();
	v[0] = CStringGetTextDatum(lane);
	v[1] = BoolGetDatum(paused);
	v[2] = Int64GetDatum(ff_now_ms());
	v[3] = CStringGetTextDatum(GetUserNameFromId(GetSessionUserId(), false));
	ff_plan_exec(&plan_lane_pause, v, NULL, 0);
	return lane_result(lane, !paused);
}

/* ff.pause_lane(lane_id) -> jsonb: claims on the lane take nothing until resumed. */
FF_SQL_ENTRY(ff_pause_lane, set_paused(fcinfo, true))

/* ff.resume_lane(lane_id) -> jsonb */
FF_SQL_ENTRY(ff_resume_lane, set_paused(fcinfo, false))

/* ff.set_lane_limit(lane_id, max_active) -> jsonb; NULL: no limit. */
Datum
ff_set_lane_limit(PG_FUNCTION_ARGS)
{
	char	   *lane = admin_lane_arg(fcinfo);
	bool		unlimited = PG_ARGISNULL(1);
	int64		max_active = unlimited ? 0 : PG_GETARG_INT32(1);
	Datum		v[4];
	bool		n[4] = {false, unlimited, false, false};

	if (!unlimited && (max_active < 1 || max_active > FF_MAX_CONCURRENCY_LIMIT))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_active must be between 1 and %d (or NULL: no limit), got " INT64_FORMAT,
						FF_MAX_CONCURRENCY_LIMIT, max_active)));
	ff_spi_connect();
	v[0] = CStringGetTextDatum(lane);
	v[1] = Int32GetDatum((int32) max_active);
	v[2] = Int64GetDatum(ff_now_ms());
	v[3] = CStringGetTextDatum(GetUserNameFromId(GetSessionUserId(), false));
	ff_plan_exec(&plan_lane_limit, v, n, 0);
	return lane_result(lane, unlimited);
}
