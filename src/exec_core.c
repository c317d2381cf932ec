/*-------------------------------------------------------------------------
 *
 * exec_core.c
 *	  Reading and writing the execution core row, and the side records
 *	  that transitions write (attempts, lease history, stream meta,
 *	  completion events, claim grants).
 *
 *	  The SELECT, UPDATE and INSERT statements for ff.execution are built
 *	  once per backend from the field list in exec_core.h and kept as SPI
 *	  plans, so adding a column means adding it in one place.
 *
 *	  All functions here run inside an SPI connection opened by the
 *	  SQL-callable function, with the execution row already locked (or,
 *	  for ff_core_store_unlocked_many, read and about to be locked by its
 *	  update).
 *
 * IDENTIFICATION
 *	  src/exec_core.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "core_clock.h"
#include "flow_completion.h"
#include "exec_core.h"
#include "exec_core_row.h"
#include "bgw_notify.h"
#include "ff_engine.h"
#include "core_spi.h"
#include "core_tenant.h"

/* ---- statement text built from the field list ---- */

static FFPlan plan_store = {NULL, 2, {INT2OID, UUIDOID}};
static FFPlan plan_insert = {NULL, 3, {INT2OID, UUIDOID, TEXTOID}};

/* Each macro appends "col = $k" (the store) for one mutable field. */
#define UPD(n, type, cast) \
	do { \
		appendStringInfo(&buf, "%s" #n " = $%d%s", first ? "" : ", ", \
						 plan->nargs + 1, cast); \
		plan->argtypes[plan->nargs++] = type; \
		first = false; \
	} while (0);
#define UPD_T(n) UPD(n, TEXTOID, "")
#define UPD_I(n) UPD(n, INT8OID, "")
#define UPD_U(n) UPD(n, UUIDOID, "")
#define UPD_E(n, ct, lab, st) \
	do { \
		appendStringInfo(&buf, "%s" #n " = %s", first ? "" : ", ", \
						 enum_arg(lab, st, psprintf("$%d", plan->nargs + 1))); \
		plan->argtypes[plan->nargs++] = INT8OID; \
		first = false; \
	} while (0);

/*
 * An enum field's argument in a statement: its label's index (C's enum
 * value, int8) made the enum by the label table, whose labels the parser
 * turns into constants.  Passing the index spares each store a text round
 * trip of its seven enums (label to text, copied, read back, looked up).
 */
static char *
enum_arg(const char *const *labels, const char *sqltype, const char *arg)
{
	StringInfoData b;
	int			i;

	initStringInfo(&b);
	appendStringInfoString(&b, "(ARRAY[");
	for (i = 0; labels[i] != NULL; i++)
		appendStringInfo(&b, "%s%s", i ? ", " : "", quote_literal_cstr(labels[i]));
	appendStringInfo(&b, "]::%s[])[(%s)::integer + 1]", sqltype, arg);
	return b.data;
}

/* A batch's deferred stores, at its flush. */
static uint64
store_flush(FFPlan *p, int n, const Datum *values, const bool *nulls)
{
	return ff_core_write(p, n, values, nulls, NULL);
}

/*
 * A batch's deferred creates, at its flush: inserted directly where it can.
 * The batch probed its ids; one another transaction created since is a
 * unique violation, which the flush reports as the batch's serialization
 * failure, as for its set statement (core_spi.c).
 */
static uint64
insert_flush(FFPlan *p, int n, const Datum *values, const bool *nulls)
{
	int64		done = ff_core_write_insert(p, n, values, nulls, true);

	return done < 0 ? FF_FLUSH_BY_STATEMENT : (uint64) done;
}

/*
 * The store by key, returning where the new version is.  Its last
 * argument, the row's location as read, is for ff_core_write, which
 * writes there and runs this statement only for a row it cannot.
 */
static void
build_store_plan(FFPlan *plan)
{
	StringInfoData buf;
	bool		first = true;
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	initStringInfo(&buf);
	appendStringInfoString(&buf, "UPDATE ff.execution SET ");
	FF_CORE_MUTABLE_FIELDS(UPD_T, UPD_I, UPD_U, UPD_E)
	appendStringInfoString(&buf, " WHERE partition = $1 AND execution_id = $2 RETURNING ctid");
	plan->argtypes[plan->nargs++] = TIDOID;
	plan->sql = buf.data;
	/* a later store of the same row replaces an earlier one: whole rows */
	plan->key_args = 2;
	plan->each_row = true;
	plan->flush_direct = store_flush;
	MemoryContextSwitchTo(old);
}

#define INS(n, type, cast) \
	do { \
		appendStringInfoString(&cols, ", " #n); \
		appendStringInfo(&vals, ", $%d%s", plan->nargs + 1, cast); \
		appendStringInfo(&set, ", v.a%d%s", plan->nargs + 1, cast); \
		plan->argtypes[plan->nargs++] = type; \
	} while (0);
#define INS_T(n) INS(n, TEXTOID, "")
#define INS_I(n) INS(n, INT8OID, "")
#define INS_U(n) INS(n, UUIDOID, "")
#define INS_E(n, ct, lab, st) \
	do { \
		appendStringInfoString(&cols, ", " #n); \
		appendStringInfo(&vals, ", %s", enum_arg(lab, st, psprintf("$%d", plan->nargs + 1))); \
		appendStringInfo(&set, ", %s", enum_arg(lab, st, psprintf("v.a%d", plan->nargs + 1))); \
		plan->argtypes[plan->nargs++] = INT8OID; \
	} while (0);

/*
 * The insert, and its set form for a batch of new executions (deferred
 * creates): in key order, so two batches naming the same ids cannot
 * deadlock on each other's new index entries.  A row another transaction
 * inserted first is skipped, and the flush then reports the batch short
 * of rows (each_row).
 */
static void
build_insert_plan(FFPlan *plan)
{
	StringInfoData cols,
				vals,
				set;
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	initStringInfo(&cols);
	initStringInfo(&vals);
	initStringInfo(&set);
	appendStringInfoString(&cols, "INSERT INTO ff.execution (partition, execution_id, required_capabilities");
	appendStringInfoString(&vals, "$1, $2, pg_catalog.string_to_array($3, ',')");
	appendStringInfoString(&set, "v.a1, v.a2, pg_catalog.string_to_array(v.a3, ',')");
	FF_CORE_IMMUTABLE_FIELDS(INS_T, INS_I, INS_U, INS_E)
	FF_CORE_MUTABLE_FIELDS(INS_T, INS_I, INS_U, INS_E)
	appendStringInfoChar(&cols, ')');
	plan->sql = psprintf("%s VALUES (%s) ON CONFLICT DO NOTHING", cols.data, vals.data);
	/* no ON CONFLICT: the batch probed its ids (ff_existing_ids), and one
	 * created concurrently since is a unique violation the flush reports
	 * as the batch's serialization failure */
	plan->set_sql = psprintf("%s SELECT %s FROM %%s ORDER BY v.a1, v.a2", cols.data, set.data);
	plan->each_row = true;
	plan->insert_race = true;
	plan->flush_direct = insert_flush;
	MemoryContextSwitchTo(old);
}

/* ---- row -> struct ---- */

/*
 * core_claimable
 *		Work a worker of the lane can take: eligible to claim, or active
 *		with a lease that expired or was revoked (what claim_next with
 *		reclaim takes over).
 */
static inline bool
core_claimable(const ExecCore *c)
{
	return (c->lifecycle_phase == PHASE_RUNNABLE && c->eligibility_state == ELIG_ELIGIBLE_NOW) ||
		(c->lifecycle_phase == PHASE_ACTIVE &&
		 (c->ownership_state == OWN_LEASE_EXPIRED_RECLAIMABLE ||
		  c->ownership_state == OWN_LEASE_REVOKED));
}

/*
 * ff_lane_channel
 *		The NOTIFY channel of a lane: ff_lane_<lane_id>, or, for a lane id
 *		too long for a channel name, ff_lane_h<64-bit hash in hex>.
 */
char *
ff_lane_channel(const char *lane_id)
{
	size_t		len = strlen(lane_id);

	if (len + 8 < NAMEDATALEN)
		return psprintf("ff_lane_%s", lane_id);
	{
		uint64		h = hash_bytes_extended((const unsigned char *) lane_id, (int) len, 0);

		return psprintf("ff_lane_h%08x%08x", (uint32) (h >> 32), (uint32) h);
	}
}

/*
 * announce_work
 *		An execution became claimable (eligible, or its lease lost and so
 *		reclaimable): NOTIFY its lane's channel after commit (bgw_notify.c) so
 *		idle workers wake instead of polling.  The identical notifications
 *		of one transaction are folded, so a batch announces each lane once.
 */
static void
announce_work(ExecCore *c)
{
	if (ff_notify_work && core_claimable(c) && !c->loaded_claimable && c->lane_id)
		ff_notify_at_commit(ff_lane_channel(c->lane_id), "");
	c->loaded_claimable = core_claimable(c);
}

/* What the transition starts from, as read. */
void
ff_core_loaded(ExecCore *c)
{
	c->loaded_claimable = core_claimable(c);
	c->loaded_lease_epoch = c->current_lease_epoch;
	c->loaded_attempt_count = c->total_attempt_count;
}

/*
 * The invariants of behaviour/execution §2.3 on a row about to be written (assert builds,
 * FF_ASSERTS=1): I1 terminal_outcome set iff terminal; I2 a lease only on an
 * active execution, with its id, attempt and expiry; I3 a running attempt
 * only under a lease; public_state derived; I4 / I5 the lease epoch and the
 * attempt count never go back from what was read.  A release build checks
 * nothing here (the test-only trigger of the pgTAP suites does).
 */
static void
assert_core_invariants(const ExecCore *c)
{
	Assert((c->terminal_outcome != OUTCOME_NONE) == (c->lifecycle_phase == PHASE_TERMINAL));
	Assert(c->ownership_state != OWN_LEASED ||
		   (c->lifecycle_phase == PHASE_ACTIVE && c->current_lease_id.set &&
			c->current_attempt_id.set && c->lease_expires_at != FF_NULL));
	Assert(c->attempt_state != ATT_RUNNING_ATTEMPT || c->ownership_state == OWN_LEASED);
	Assert(c->public_state == ff_derive_public_state(c->lifecycle_phase, c->eligibility_state,
													 c->terminal_outcome));
	Assert(c->current_lease_epoch >= c->loaded_lease_epoch);
	Assert(c->total_attempt_count >= c->loaded_attempt_count);
	(void) c;					/* a release build uses none of it */
}

/*
 * Rows locked ahead by ff_core_lock_many for a batch that defers its
 * writes, sorted by (partition, execution_id); they live in the deferral's
 * memory and are forgotten with it.
 */
static ExecCore *prefetched = NULL;
static int	nprefetched = 0;

static void
prefetch_forget(void *arg)
{
	prefetched = NULL;
	nprefetched = 0;
}

static int
prefetched_cmp(const void *key, const void *row)
{
	return ff_exec_id_cmp(key, &((const ExecCore *) row)->id);
}

/*
 * ff_core_lock_many
 *		Lock the rows of n distinct executions in (partition, execution_id)
 *		order - the lock order of every batch, so two batches never deadlock
 *		on each other - and keep them for ff_core_lock until the deferred
 *		writes are flushed.  Requires ff_defer_begin.  Another tenant's rows
 *		are neither locked nor kept (ff_core_lock then finds them missing).
 */
void
ff_core_lock_many(const ExecId *ids, int n)
{
	MemoryContext cxt = ff_defer_context();
	MemoryContext old;
	MemoryContextCallback *cb;
	ExecId	   *sorted;
	ExecCore   *rows;
	int			i,
				got;

	if (cxt == NULL)
		elog(ERROR, "ff_core_lock_many needs deferred writes");
	/* forgotten with the deferral, also when a lock below fails */
	cb = MemoryContextAlloc(cxt, sizeof(*cb));
	cb->func = prefetch_forget;
	cb->arg = NULL;
	MemoryContextRegisterResetCallback(cxt, cb);
	sorted = palloc(sizeof(ExecId) * Max(n, 1));
	memcpy(sorted, ids, sizeof(ExecId) * n);
	qsort(sorted, n, sizeof(ExecId), ff_exec_id_cmp);
	old = MemoryContextSwitchTo(cxt);
	rows = palloc(sizeof(ExecCore) * Max(n, 1));
	got = ff_core_read_keys(sorted, n, rows, true);
	for (i = 0; i < got; i++)
		ff_core_loaded(&rows[i]);
	MemoryContextSwitchTo(old);
	pfree(sorted);
	prefetched = rows;
	nprefetched = got;
}

/*
 * ff_core_lock
 *		Lock and read the execution row; false when it does not exist.
 */
bool
ff_core_lock(ExecId id, ExecCore *c)
{
	if (prefetched != NULL)
	{
		ExecCore   *row = bsearch(&id, prefetched, nprefetched, sizeof(ExecCore),
								  prefetched_cmp);

		/* not among the batch's rows: a missing one, or another execution */
		if (row != NULL)
		{
			*c = *row;
			return ff_namespace_allowed(c->namespace);
		}
	}
	/*
	 * Another tenant's row must not even be locked (a transaction held open
	 * after a refused call would block its owner): the lock reads the
	 * namespace, which never changes, of the version it finds before
	 * taking the lock.
	 */
	if (!ff_core_read_by_key(id, c, true))
		return false;
	ff_core_loaded(c);
	/* another tenant's execution does not exist for this caller */
	return ff_namespace_allowed(c->namespace);
}

/* ---- struct -> parameters ---- */

#define PUT_T(n) do { nulls[k] = (c->n == NULL); values[k++] = c->n ? CStringGetTextDatum(c->n) : (Datum) 0; } while (0);
#define PUT_I(n) do { nulls[k] = (c->n == FF_NULL); values[k++] = Int64GetDatum(c->n); } while (0);
#define PUT_U(n) do { nulls[k] = !c->n.set; values[k++] = UUIDPGetDatum(&c->n.v); } while (0);
#define PUT_E(n, ct, lab, st) do { nulls[k] = false; values[k++] = Int64GetDatum((int64) c->n); } while (0);

/* The store plan's arguments for c (ff_core_write's). */
static void
store_args(ExecCore *c, Datum *values, bool *nulls)
{
	int			k = 2;

	if (plan_store.sql == NULL)
		build_store_plan(&plan_store);
	values[0] = Int16GetDatum((int16) c->id.partition);
	values[1] = UUIDPGetDatum(&c->id.uuid);
	nulls[0] = nulls[1] = false;
	assert_core_invariants(c);
	FF_CORE_MUTABLE_FIELDS(PUT_T, PUT_I, PUT_U, PUT_E)
	nulls[k] = !ItemPointerIsValid(&c->tid);
	values[k++] = PointerGetDatum(&c->tid);
	Assert(k == plan_store.nargs);
}

/* What follows every store of c. */
static void
stored(ExecCore *c)
{
	c->loaded_lease_epoch = c->current_lease_epoch;
	c->loaded_attempt_count = c->total_attempt_count;
	announce_work(c);
}

void
ff_core_store(ExecCore *c)
{
	Datum		values[FF_PLAN_MAX_ARGS];
	bool		nulls[FF_PLAN_MAX_ARGS];

	store_args(c, values, nulls);
	if (ff_deferring())
		(void) ff_plan_exec(&plan_store, values, nulls, 0);
	else if (ff_core_write(&plan_store, 1, values, nulls, &c->tid) != 1)
		elog(ERROR, "execution row vanished while locked");
	stored(c);
}

/*
 * ff_core_read_many
 *		Read the rows of n distinct executions, ids in (partition,
 *		execution_id) order, in one snapshot and without locking them, for
 *		transitions that write nothing before their rows and store them
 *		with ff_core_store_unlocked_many: out receives the rows found in the
 *		same order (the missing, and other tenants', left out); returns how
 *		many.  0 when a batch locks its rows or stores go by statement.
 */
int
ff_core_read_many(const ExecId *ids, int n, ExecCore *out)
{
	int			got,
				i;

	if (prefetched != NULL || ff_deferring() || !ff_core_unlocked_ok(NULL))
		return 0;
	got = ff_core_read_keys(ids, n, out, false);
	for (i = 0; i < got; i++)
		ff_core_loaded(&out[i]);
	return got;
}

/*
 * ff_core_store_unlocked_many
 *		Store the n rows cs (distinct), read without their locks
 *		(ff_core_read_many, a claim's candidates taken unlocked), in one
 *		write: each update locks its row.  stored_rows[i] says which were
 *		stored; returns how many.  A row another transaction changed since
 *		it was read is not (ff_core_write_unlocked; without skip_held the
 *		writes end there), nor with skip_held one another transaction
 *		holds: the caller does those transitions again (under the lock, as
 *		if it had waited there; or, for a claim, passes over them as SKIP
 *		LOCKED would and walks again).
 */
int
ff_core_store_unlocked_many(ExecCore *const *cs, int n, bool skip_held, bool *stored_rows)
{
	int			nargs;
	Datum	   *values;
	bool	   *nulls;
	ItemPointerData *tids = palloc(sizeof(ItemPointerData) * Max(n, 1));
	int			i,
				done;

	if (plan_store.sql == NULL)
		build_store_plan(&plan_store);
	nargs = plan_store.nargs;
	values = palloc(sizeof(Datum) * nargs * Max(n, 1));
	nulls = palloc(sizeof(bool) * nargs * Max(n, 1));
	for (i = 0; i < n; i++)
		store_args(cs[i], &values[i * nargs], &nulls[i * nargs]);
	done = ff_core_write_unlocked(&plan_store, n, values, nulls, tids, skip_held, stored_rows);
	for (i = 0; i < n; i++)
		if (stored_rows[i])
		{
			cs[i]->tid = tids[i];
			stored(cs[i]);
		}
	pfree(tids);
	pfree(values);
	pfree(nulls);
	return done;
}

/*
 * ff_core_insert
 *		Insert a new core row; false when the id already exists.  Deferred
 *		(a batch of creates, whose ids were probed), it reports true and
 *		the flush fails the batch (40001) if another transaction created
 *		one of its ids meanwhile.
 */
bool
ff_core_insert(ExecCore *c)
{
	Datum		values[FF_PLAN_MAX_ARGS];
	bool		nulls[FF_PLAN_MAX_ARGS];
	int			k = 3;

	if (plan_insert.sql == NULL)
		build_insert_plan(&plan_insert);
	values[0] = Int16GetDatum((int16) c->id.partition);
	values[1] = UUIDPGetDatum(&c->id.uuid);
	values[2] = c->required_caps_csv ? CStringGetTextDatum(c->required_caps_csv) : (Datum) 0;
	nulls[0] = nulls[1] = false;
	nulls[2] = (c->required_caps_csv == NULL);
	assert_core_invariants(c);
	FF_CORE_IMMUTABLE_FIELDS(PUT_T, PUT_I, PUT_U, PUT_E)
	FF_CORE_MUTABLE_FIELDS(PUT_T, PUT_I, PUT_U, PUT_E)
	/* a batch's creates are deferred: its flush inserts them (insert_flush) */
	if (!ff_deferring())
	{
		int64		done = ff_core_write_insert(&plan_insert, 1, values, nulls, false);

		if (done == 0)
			return false;
		if (done == 1)
		{
			announce_work(c);
			return true;
		}
	}
	if (ff_plan_exec(&plan_insert, values, nulls, 0) != 1)
		return false;
	announce_work(c);
	return true;
}

#define INIT_T(n) c->n = NULL;
#define INIT_I(n) c->n = FF_NULL;
#define INIT_U(n) c->n.set = false;
#define INIT_E(n, ct, lab, st) c->n = (ct) 0;

/* A blank record: every optional field unset, counters zero. */
void
ff_core_init(ExecCore *c, ExecId id)
{
	memset(c, 0, sizeof(*c));
	c->id = id;
	ItemPointerSetInvalid(&c->tid);	/* not written yet */
	FF_CORE_IMMUTABLE_FIELDS(INIT_T, INIT_I, INIT_U, INIT_E)
	FF_CORE_MUTABLE_FIELDS(INIT_T, INIT_I, INIT_U, INIT_E)
	c->total_attempt_count = 0;
	c->retry_count = 0;
	c->replay_count = 0;
	c->lease_reclaim_count = 0;
	c->current_lease_epoch = 0;
	c->history_seq = 0;
	c->priority = 0;
}

/* ---- transitions shared by many operations ---- */

/*
 * ff_core_set_vector
 *		Write the state vector; public_state is always derived (behaviour/execution §2.2).
 */
void
ff_core_set_vector(ExecCore *c, LifecyclePhase phase, OwnershipState own,
				   EligibilityState elig, BlockingReason block,
				   const char *detail, TerminalOutcome outcome, AttemptState att)
{
	c->lifecycle_phase = phase;
	c->ownership_state = own;
	c->eligibility_state = elig;
	c->blocking_reason = block;
	c->blocking_detail = detail ? pstrdup(detail) : NULL;
	c->terminal_outcome = outcome;
	c->attempt_state = att;
	c->public_state = ff_derive_public_state(phase, elig, outcome);
}

/* The six lease mirror fields that every release clears (behaviour/execution §3.9). */
void
ff_core_clear_lease_mirror(ExecCore *c)
{
	c->current_lease_id.set = false;
	c->current_worker_id = NULL;
	c->current_worker_instance_id = NULL;
	c->lease_expires_at = FF_NULL;
	c->lease_last_renewed_at = FF_NULL;
	c->lease_renewal_deadline = FF_NULL;
}

/*
 * outcome_retention_s
 *		Retention by outcome (issue 26): failures (failed, expired) and
 *		cancellations may be kept longer than completed work; -1 means
 *		ff_engine.default_retention.  A policy's retention_ttl_ms wins.
 */
static int
outcome_retention_s(TerminalOutcome outcome)
{
	if ((outcome == OUTCOME_FAILED || outcome == OUTCOME_EXPIRED) && ff_retention_failed_s >= 0)
		return ff_retention_failed_s;
	if (outcome == OUTCOME_CANCELLED && ff_retention_cancelled_s >= 0)
		return ff_retention_cancelled_s;
	return ff_default_retention_s;
}

/*
 * ff_core_make_terminal
 *		The common part of every transition into terminal: the vector,
 *		completed_at, the lease released, every timer cleared and the
 *		retention clock started.  current_attempt_id/index and the lease
 *		epoch are kept (clients reconcile lost replies with them, behaviour/execution §3.9.1).
 *		Decision (behaviour/execution §C.21): the expiry/revocation markers are cleared
 *		too, so they never outlive the lease they describe.
 */
void
ff_core_make_terminal(ExecCore *c, TerminalOutcome outcome, int64 now)
{
	AttemptState att = (c->current_attempt_index != FF_NULL) ? ATT_ATTEMPT_TERMINAL : c->attempt_state;

	ff_core_set_vector(c, PHASE_TERMINAL, OWN_UNOWNED, ELIG_NOT_APPLICABLE,
					   BLOCK_NONE, NULL, outcome, att);
	ff_core_clear_lease_mirror(c);
	c->lease_expired_at = FF_NULL;
	c->lease_revoked_at = FF_NULL;
	c->lease_revoke_reason = NULL;
	c->current_suspension_id.set = false;
	c->current_waitpoint_id.set = false;
	c->delay_until = FF_NULL;
	c->attempt_timeout_at = FF_NULL;
	c->execution_deadline_at = FF_NULL;
	c->completed_at = now;
	c->purge_after = now + (c->retention_ms != FF_NULL ? c->retention_ms
							: (int64) outcome_retention_s(outcome) * 1000);
	c->last_transition_at = now;
	c->last_mutation_at = now;
}

/* ---- attempts ---- */

static FFPlan plan_attempt_insert = {
	"INSERT INTO ff.attempt_record (partition, execution_id, attempt_index, attempt_id, "
	"attempt_type, attempt_state, created_at, started_at, lease_id, lease_epoch, "
	"worker_id, worker_instance_id, retry_reason, previous_attempt_index, "
	"replay_reason, replay_requested_by, replayed_from_attempt_index, "
	"reclaim_reason, policy) VALUES ($1, $2, $3, $4, $5::ff.attempt_type, "
	"'started', $6, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
	17, {INT2OID, UUIDOID, INT4OID, UUIDOID, TEXTOID, INT8OID, UUIDOID, INT8OID,
		TEXTOID, TEXTOID, TEXTOID, INT4OID, TEXTOID, TEXTOID, INT4OID, TEXTOID,
	JSONBOID}, NULL, false,
	"INSERT INTO ff.attempt_record (partition, execution_id, attempt_index, attempt_id, "
	"attempt_type, attempt_state, created_at, started_at, lease_id, lease_epoch, "
	"worker_id, worker_instance_id, retry_reason, previous_attempt_index, "
	"replay_reason, replay_requested_by, replayed_from_attempt_index, "
	"reclaim_reason, policy) SELECT a1, a2, a3, a4, a5::ff.attempt_type, "
	"'started', a6, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17 FROM %s",
	0, true
};

static inline Datum
text_or_null(const char *s, bool *isnull)
{
	*isnull = (s == NULL);
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

void
ff_attempt_insert(ExecCore *c, int64 idx, const pg_uuid_t *attempt_id,
				  const char *attempt_type, const pg_uuid_t *lease_id,
				  int64 epoch, const char *worker_id,
				  const char *worker_instance_id, int64 now,
				  const char *retry_reason, int64 previous_attempt_index,
				  const char *replay_reason, const char *replay_requested_by,
				  int64 replayed_from, const char *reclaim_reason,
				  Jsonb *attempt_policy)
{
	Datum		v[17];
	bool		n[17] = {false};

	ff_attempt_materialize(c);
	v[0] = Int16GetDatum((int16) c->id.partition);
	v[1] = UUIDPGetDatum(&c->id.uuid);
	v[2] = Int32GetDatum((int32) idx);
	v[3] = UUIDPGetDatum(attempt_id);
	v[4] = CStringGetTextDatum(attempt_type);
	v[5] = Int64GetDatum(now);
	v[6] = UUIDPGetDatum(lease_id);
	v[7] = Int64GetDatum(epoch);
	v[8] = text_or_null(worker_id, &n[8]);
	v[9] = text_or_null(worker_instance_id, &n[9]);
	v[10] = text_or_null(retry_reason, &n[10]);
	v[11] = Int32GetDatum((int32) previous_attempt_index);
	n[11] = (previous_attempt_index == FF_NULL);
	v[12] = text_or_null(replay_reason, &n[12]);
	v[13] = text_or_null(replay_requested_by, &n[13]);
	v[14] = Int32GetDatum((int32) replayed_from);
	n[14] = (replayed_from == FF_NULL);
	v[15] = text_or_null(reclaim_reason, &n[15]);
	v[16] = attempt_policy ? JsonbPGetDatum(attempt_policy) : (Datum) 0;
	n[16] = (attempt_policy == NULL);
	ff_plan_exec(&plan_attempt_insert, v, n, 0);
}

/*
 * The attempt updates reach one row by its key: planned as index lookups
 * (a generic plan made while the table was empty scanned the whole table
 * on every complete, the drain's hottest spot in a profile).
 */
static FFPlan plan_attempt_end = {
	"UPDATE ff.attempt_record SET attempt_state = $4::ff.attempt_record_state, "
	"ended_at = $5, failure_reason = COALESCE($6, failure_reason), "
	"failure_category = COALESCE($7, failure_category) "
	"WHERE partition = $1 AND execution_id = $2 AND attempt_index = $3",
	7, {INT2OID, UUIDOID, INT4OID, TEXTOID, INT8OID, TEXTOID, TEXTOID}, NULL, false,
	"UPDATE ff.attempt_record t SET attempt_state = v.a4::ff.attempt_record_state, "
	"ended_at = v.a5, failure_reason = COALESCE(v.a6, t.failure_reason), "
	"failure_category = COALESCE(v.a7, t.failure_category) FROM %s "
	"WHERE t.partition = v.a1 AND t.execution_id = v.a2 AND t.attempt_index = v.a3",
	.key_lookups = true
};

/* End attempt idx in one of the terminal attempt states. */
void
ff_attempt_end(ExecCore *c, int64 idx, const char *state, int64 now,
			   const char *failure_reason, const char *failure_category)
{
	Datum		v[7];
	bool		n[7] = {false};

	if (idx == FF_NULL)
		return;
	/* a held first attempt ends successfully on the execution row alone */
	if (c->held_attempt_seq != FF_NULL && strcmp(state, "ended_success") == 0)
		return;
	ff_attempt_materialize(c);
	v[0] = Int16GetDatum((int16) c->id.partition);
	v[1] = UUIDPGetDatum(&c->id.uuid);
	v[2] = Int32GetDatum((int32) idx);
	v[3] = CStringGetTextDatum(state);
	v[4] = Int64GetDatum(now);
	v[5] = text_or_null(failure_reason, &n[5]);
	v[6] = text_or_null(failure_category, &n[6]);
	ff_plan_exec(&plan_attempt_end, v, n, 0);
}

static FFPlan plan_attempt_suspend = {
	"UPDATE ff.attempt_record SET attempt_state = 'suspended', suspended_at = $4, "
	"suspension_id = $5 WHERE partition = $1 AND execution_id = $2 AND attempt_index = $3",
	5, {INT2OID, UUIDOID, INT4OID, INT8OID, TEXTOID}, .key_lookups = true
};

/* Pause attempt idx (delay, wait-children, suspend): it resumes later. */
void
ff_attempt_suspend(ExecCore *c, int64 idx, int64 now, const char *suspension_id)
{
	Datum		v[5];

	if (idx == FF_NULL)
		return;
	ff_attempt_materialize(c);
	v[0] = Int16GetDatum((int16) c->id.partition);
	v[1] = UUIDPGetDatum(&c->id.uuid);
	v[2] = Int32GetDatum((int32) idx);
	v[3] = Int64GetDatum(now);
	v[4] = CStringGetTextDatum(suspension_id);
	ff_plan_exec(&plan_attempt_suspend, v, NULL, 0);
}

static FFPlan plan_attempt_resume = {
	"UPDATE ff.attempt_record SET attempt_state = 'started', resumed_at = $4, "
	"lease_id = $5, lease_epoch = $6, worker_id = $7, worker_instance_id = $8, "
	"suspended_at = NULL, suspension_id = NULL "
	"WHERE partition = $1 AND execution_id = $2 AND attempt_index = $3",
	8, {INT2OID, UUIDOID, INT4OID, INT8OID, UUIDOID, INT8OID, TEXTOID, TEXTOID}, .key_lookups = true
};

/* Continue attempt idx under a new lease (resumed claim, behaviour/execution §3.4). */
void
ff_attempt_resume(ExecCore *c, int64 idx, const pg_uuid_t *lease_id, int64 epoch,
				  const char *worker_id, const char *worker_instance_id, int64 now)
{
	Datum		v[8];

	ff_attempt_materialize(c);
	v[0] = Int16GetDatum((int16) c->id.partition);
	v[1] = UUIDPGetDatum(&c->id.uuid);
	v[2] = Int32GetDatum((int32) idx);
	v[3] = Int64GetDatum(now);
	v[4] = UUIDPGetDatum(lease_id);
	v[5] = Int64GetDatum(epoch);
	v[6] = CStringGetTextDatum(worker_id);
	v[7] = CStringGetTextDatum(worker_instance_id);
	ff_plan_exec(&plan_attempt_resume, v, NULL, 0);
}

/* ---- lease history (behaviour/execution §4.6) ---- */

/*
 * One row of ff.lease_log per lease: the acquisition inserts it, the expiry
 * mark and the end are written into it (a HOT update: no indexed column
 * changes).  Events that belong to no lease get a row of their own.
 */
#define FF_HISTORY_CAP 1000

static FFPlan plan_history_insert = {
	"INSERT INTO ff.lease_log (partition, execution_id, seq, event, lease_id, "
	"lease_epoch, attempt_index, attempt_id, worker_id, worker_instance_id, "
	"reason, detail, ts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
	13, {INT2OID, UUIDOID, INT8OID, TEXTOID, UUIDOID, INT8OID, INT4OID, UUIDOID,
	TEXTOID, TEXTOID, TEXTOID, JSONBOID, INT8OID}, NULL, false,
	"INSERT INTO ff.lease_log (partition, execution_id, seq, event, lease_id, "
	"lease_epoch, attempt_index, attempt_id, worker_id, worker_instance_id, "
	"reason, detail, ts) SELECT a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13 FROM %s",
	0, true
};

/*
 * The lease's row is the execution's newest: nothing else is inserted while
 * a lease is held.  Matching its epoch keeps a row from another lease (a
 * 0.1.0 event row) from taking the end.  $8.. are the lease's identity, for
 * the set form: a deferred end that matches no row is inserted as an event
 * row of its own, as a single call does (ff_history_append).
 */
static FFPlan plan_history_end = {
	"UPDATE ff.lease_log SET end_seq = $3, end_event = $4, end_reason = $5, ended_at = $6 "
	"WHERE partition = $1 AND execution_id = $2 AND lease_epoch = $7 AND end_seq IS NULL "
	"AND seq = (SELECT max(seq) FROM ff.lease_log WHERE partition = $1 AND execution_id = $2)",
	12, {INT2OID, UUIDOID, INT8OID, TEXTOID, TEXTOID, INT8OID, INT8OID, UUIDOID, INT4OID, UUIDOID,
	TEXTOID, TEXTOID}, NULL, false,
	"WITH v AS (SELECT * FROM %s), "
	"u AS (UPDATE ff.lease_log t SET end_seq = v.a3, end_event = v.a4, end_reason = v.a5, ended_at = v.a6 "
	"FROM v WHERE t.partition = v.a1 AND t.execution_id = v.a2 AND t.lease_epoch = v.a7 "
	"AND t.end_seq IS NULL AND t.seq = (SELECT max(m.seq) FROM ff.lease_log m "
	"WHERE m.partition = v.a1 AND m.execution_id = v.a2) RETURNING t.partition, t.execution_id) "
	"INSERT INTO ff.lease_log (partition, execution_id, seq, event, lease_id, lease_epoch, "
	"attempt_index, attempt_id, worker_id, worker_instance_id, reason, ts) "
	"SELECT v.a1, v.a2, v.a3, v.a4, v.a8, v.a7, v.a9, v.a10, v.a11, v.a12, v.a5, v.a6 FROM v "
	"WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.partition = v.a1 AND u.execution_id = v.a2)",
	.key_lookups = true
};
static FFPlan plan_history_expired = {
	"UPDATE ff.lease_log SET expired_seq = $3, expired_at = $4 "
	"WHERE partition = $1 AND execution_id = $2 AND lease_epoch = $5 AND expired_seq IS NULL "
	"AND end_seq IS NULL AND seq = (SELECT max(seq) FROM ff.lease_log WHERE partition = $1 AND execution_id = $2)",
	5, {INT2OID, UUIDOID, INT8OID, INT8OID, INT8OID}, .key_lookups = true
};
static FFPlan plan_history_trim = {
	"DELETE FROM ff.lease_log WHERE partition = $1 AND execution_id = $2 AND seq <= $3",
	3, {INT2OID, UUIDOID, INT8OID}
};

/*
 * ff_history_append
 *		Record a lease event carrying the current lease identity of the core
 *		(call before the lease mirror is cleared): 'expired', 'released' and
 *		'revoked' go into the lease's row, when it has one; any other event,
 *		or an end whose lease has no row, is a row of its own.  Every 100
 *		events the log is trimmed to about the newest FF_HISTORY_CAP.
 */
void
ff_history_append(ExecCore *c, const char *event, const char *reason,
				  int64 now, Jsonb *detail)
{
	Datum		v[13];
	bool		n[13] = {false};
	int64		seq;
	bool		is_end = strcmp(event, "released") == 0 || strcmp(event, "revoked") == 0;

	/* a held lease ending by completion stays on the execution row */
	if (c->held_attempt_seq != FF_NULL && is_end && detail == NULL &&
		reason != NULL && strcmp(reason, "completed") == 0 &&
		strcmp(event, "released") == 0 && c->current_lease_id.set)
	{
		c->history_seq++;
		c->held_lease_id = c->current_lease_id;
		c->held_worker_id = c->current_worker_id;
		c->held_worker_instance_id = c->current_worker_instance_id;
		return;
	}
	ff_attempt_materialize(c);
	seq = ++c->history_seq;

	v[0] = Int16GetDatum((int16) c->id.partition);
	v[1] = UUIDPGetDatum(&c->id.uuid);
	v[2] = Int64GetDatum(seq);
	if (c->current_lease_id.set && detail == NULL &&
		(is_end || strcmp(event, "expired") == 0))
	{
		uint64		done;

		if (is_end)
		{
			v[3] = CStringGetTextDatum(event);
			v[4] = text_or_null(reason, &n[4]);
			v[5] = Int64GetDatum(now);
			v[6] = Int64GetDatum(c->current_lease_epoch);
			v[7] = UUIDPGetDatum(&c->current_lease_id.v);
			v[8] = Int32GetDatum((int32) c->current_attempt_index);
			n[8] = (c->current_attempt_index == FF_NULL);
			v[9] = UUIDPGetDatum(&c->current_attempt_id.v);
			n[9] = !c->current_attempt_id.set;
			v[10] = text_or_null(c->current_worker_id, &n[10]);
			v[11] = text_or_null(c->current_worker_instance_id, &n[11]);
			/*
			 * deferred in a batch: its set form touches every lease's row,
			 * and inserts the ends that matched none
			 */
			done = ff_plan_exec(&plan_history_end, v, n, 0);
		}
		else
		{
			v[3] = Int64GetDatum(now);
			v[4] = Int64GetDatum(c->current_lease_epoch);
			done = reason ? 0 : ff_plan_exec(&plan_history_expired, v, NULL, 0);
		}
		if (done > 0)
			goto trim;
		memset(n, 0, sizeof(n));
	}
	v[3] = CStringGetTextDatum(event);
	v[4] = UUIDPGetDatum(&c->current_lease_id.v);
	n[4] = !c->current_lease_id.set;
	v[5] = Int64GetDatum(c->current_lease_epoch);
	v[6] = Int32GetDatum((int32) c->current_attempt_index);
	n[6] = (c->current_attempt_index == FF_NULL);
	v[7] = UUIDPGetDatum(&c->current_attempt_id.v);
	n[7] = !c->current_attempt_id.set;
	v[8] = text_or_null(c->current_worker_id, &n[8]);
	v[9] = text_or_null(c->current_worker_instance_id, &n[9]);
	v[10] = text_or_null(reason, &n[10]);
	v[11] = detail ? JsonbPGetDatum(detail) : (Datum) 0;
	n[11] = (detail == NULL);
	v[12] = Int64GetDatum(now);
	ff_plan_exec(&plan_history_insert, v, n, 0);

trim:
	if (seq > FF_HISTORY_CAP && seq % 100 == 0)
	{
		v[2] = Int64GetDatum(seq - FF_HISTORY_CAP);
		ff_plan_exec(&plan_history_trim, v, NULL, 0);
	}
}

/* ---- a first attempt held on the execution row ---- */

/*
 * A fresh claim's first attempt and its lease are, on the common path,
 * written twice and then only read back rarely: an attempt row and a lease
 * row inserted at the claim, each updated again at the completion.  Their
 * every field is on the execution row already while the lease is held, so
 * such a claim writes neither (ff_attempt_hold); a completion keeps them
 * there too, with the lease's identity copied to held_lease_id and
 * held_worker_*.  The views ff.attempt and ff.lease_history show the held
 * attempt and its events as if they were rows.  Anything else that touches
 * the attempt or the lease history (a failure, a suspension, an expiry, a
 * second attempt, a replay...) first writes them out as rows
 * (ff_attempt_materialize), then goes on as usual.
 */
static FFPlan plan_attempt_held = {
	"INSERT INTO ff.attempt_record (partition, execution_id, attempt_index, attempt_id, "
	"attempt_type, attempt_state, created_at, started_at, ended_at, lease_id, lease_epoch, "
	"worker_id, worker_instance_id) VALUES ($1, $2, 0, $3, 'initial', "
	"$4::ff.attempt_record_state, $5, $5, $6, $7, $8, $9, $10)",
	10, {INT2OID, UUIDOID, UUIDOID, TEXTOID, INT8OID, INT8OID, UUIDOID, INT8OID, TEXTOID, TEXTOID}
};
static FFPlan plan_lease_held = {
	"INSERT INTO ff.lease_log (partition, execution_id, seq, event, lease_id, lease_epoch, "
	"attempt_index, attempt_id, worker_id, worker_instance_id, ts, end_seq, end_event, "
	"end_reason, ended_at) VALUES ($1, $2, $3, 'acquired', $4, $5, 0, $6, $7, $8, $9, $10, "
	"$11, $12, $13)",
	13, {INT2OID, UUIDOID, INT8OID, UUIDOID, INT8OID, UUIDOID, TEXTOID, TEXTOID, INT8OID,
	INT8OID, TEXTOID, TEXTOID, INT8OID}
};

/* In place of ff_attempt_insert and the 'acquired' event of a fresh claim. */
void
ff_attempt_hold(ExecCore *c)
{
	c->held_attempt_seq = ++c->history_seq;
	c->held_lease_id.set = false;
	c->held_worker_id = NULL;
	c->held_worker_instance_id = NULL;
}

/* Write a held first attempt and its lease out as rows (at once, never deferred). */
void
ff_attempt_materialize(ExecCore *c)
{
	Datum		v[13];
	bool		n[13] = {false};
	bool		ended = c->held_lease_id.set;
	const UuidOpt *lease = ended ? &c->held_lease_id : &c->current_lease_id;
	const char *w = ended ? c->held_worker_id : c->current_worker_id;
	const char *wi = ended ? c->held_worker_instance_id : c->current_worker_instance_id;
	int64		seq = c->held_attempt_seq;

	if (seq == FF_NULL)
		return;
	v[0] = Int16GetDatum((int16) c->id.partition);
	v[1] = UUIDPGetDatum(&c->id.uuid);
	v[2] = UUIDPGetDatum(&c->current_attempt_id.v);
	v[3] = CStringGetTextDatum(ended ? "ended_success" : "started");
	v[4] = Int64GetDatum(c->lease_acquired_at);
	v[5] = Int64GetDatum(c->completed_at);
	n[5] = !ended;
	v[6] = UUIDPGetDatum(&lease->v);
	n[6] = !lease->set;
	v[7] = Int64GetDatum(c->current_lease_epoch);
	v[8] = text_or_null(w, &n[8]);
	v[9] = text_or_null(wi, &n[9]);
	ff_plan_exec(&plan_attempt_held, v, n, 0);

	memset(n, 0, sizeof(n));
	v[2] = Int64GetDatum(seq);
	v[3] = UUIDPGetDatum(&lease->v);
	n[3] = !lease->set;
	v[4] = Int64GetDatum(c->current_lease_epoch);
	v[5] = UUIDPGetDatum(&c->current_attempt_id.v);
	v[6] = text_or_null(w, &n[6]);
	v[7] = text_or_null(wi, &n[7]);
	v[8] = Int64GetDatum(c->lease_acquired_at);
	v[9] = Int64GetDatum(seq + 1);
	v[10] = CStringGetTextDatum("released");
	v[11] = CStringGetTextDatum("completed");
	v[12] = Int64GetDatum(c->completed_at);
	n[9] = n[10] = n[11] = n[12] = !ended;
	ff_plan_exec(&plan_lease_held, v, n, 0);

	c->held_attempt_seq = FF_NULL;
	c->held_lease_id.set = false;
	c->held_worker_id = NULL;
	c->held_worker_instance_id = NULL;
}

/* ---- streams ---- */

static FFPlan plan_stream_close = {
	"UPDATE ff.stream_meta SET closed_at = $4, closed_reason = $5 "
	"WHERE partition = $1 AND execution_id = $2 AND attempt_index = $3 "
	"AND (NOT $6 OR closed_at IS NULL)",
	6, {INT2OID, UUIDOID, INT4OID, INT8OID, TEXTOID, BOOLOID}, NULL, false,
	"UPDATE ff.stream_meta t SET closed_at = v.a4, closed_reason = v.a5 FROM %s "
	"WHERE t.partition = v.a1 AND t.execution_id = v.a2 AND t.attempt_index = v.a3 "
	"AND (NOT v.a6 OR t.closed_at IS NULL)"
};

/* Close the stream of attempt idx, if it has one. */
void
ff_stream_close(ExecCore *c, int64 idx, const char *reason, int64 now, bool only_if_open)
{
	Datum		v[6];

	if (idx == FF_NULL)
		return;
	v[0] = Int16GetDatum((int16) c->id.partition);
	v[1] = UUIDPGetDatum(&c->id.uuid);
	v[2] = Int32GetDatum((int32) idx);
	v[3] = Int64GetDatum(now);
	/* a stream nobody opened has nothing to close */
	if (!ff_pkey_may_have_key("stream_meta", 3, v, plan_stream_close.argtypes))
		return;
	v[4] = CStringGetTextDatum(reason);
	v[5] = BoolGetDatum(only_if_open);
	ff_plan_exec(&plan_stream_close, v, NULL, 0);
}

/* ---- claim grants ---- */

static FFPlan plan_grant_delete = {
	"DELETE FROM ff.claim_grant WHERE partition = $1 AND execution_id = $2",
	2, {INT2OID, UUIDOID}, NULL, false,
	"DELETE FROM ff.claim_grant g USING %s WHERE g.partition = v.a1 AND g.execution_id = v.a2"
};

void
ff_grant_delete(ExecCore *c)
{
	Datum		v[2];

	v[0] = Int16GetDatum((int16) c->id.partition);
	v[1] = UUIDPGetDatum(&c->id.uuid);
	/* no grant issued, none to delete */
	if (!ff_pkey_may_have_key("claim_grant", 2, v, plan_grant_delete.argtypes))
		return;
	ff_plan_exec(&plan_grant_delete, v, NULL, 0);
}

/* ---- stored policy ---- */

static FFPlan plan_policy = {
	"SELECT policy FROM ff.execution_data WHERE partition = $1 AND execution_id = $2",
	2, {INT2OID, UUIDOID}
};

/* The stored execution policy, or NULL when none was given. */
Jsonb *
ff_execution_policy(ExecCore *c)
{
	Datum		v[2];
	bool		isnull;
	Datum		d;

	v[0] = Int16GetDatum((int16) c->id.partition);
	v[1] = UUIDPGetDatum(&c->id.uuid);
	if (ff_plan_exec(&plan_policy, v, NULL, 1) == 0)
		return NULL;
	d = ff_col_datum(0, 1, &isnull);
	return isnull ? NULL : DatumGetJsonbP(d);
}

/* ---- shared result shapes ---- */

/*
 * ff_result_not_active
 *		execution_not_active with the four details clients use to
 *		reconcile a lost reply (behaviour/execution §3.9.1).
 */
void
ff_result_not_active(FFResult *r, ExecCore *c)
{
	ffr_error(r, "execution_not_active");
	ffr_text(r, "terminal_outcome", ff_outcome_labels[c->terminal_outcome]);
	ffr_int(r, "current_lease_epoch", c->current_lease_epoch);
	ffr_text(r, "lifecycle_phase", ff_phase_labels[c->lifecycle_phase]);
	ffr_uuid(r, "current_attempt_id", c->current_attempt_id.set ? &c->current_attempt_id.v : NULL);
}

void
ff_result_not_found(FFResult *r)
{
	ffr_error(r, "execution_not_found");
}
