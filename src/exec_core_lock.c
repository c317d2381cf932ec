/*-------------------------------------------------------------------------
 *
 * exec_core_lock.c
 *	  Locking reads of the execution core row without a statement: one row
 *	  by its key (every transition that names an execution), and a claim's
 *	  candidates from the partial index of what it looks for.  Each does
 *	  what SELECT ... FOR UPDATE [SKIP LOCKED] over the same index did: a
 *	  new snapshot (the transaction's under REPEATABLE READ), the index in
 *	  its order, the row version visible to it, then the row lock, which
 *	  under READ COMMITTED follows the row to its newest version and
 *	  re-checks that version, and otherwise makes a changed row a
 *	  serialization failure.  (ff_core_read_keys reads rows the same way
 *	  without their locks, and a claim's walk can take a candidate without
 *	  it, for completes or a claim whose updates take them.)  A
 *	  statement's executor start-up cost a transition ~10 % of its
 *	  instructions and a claim a third (profiled in test/bench/README.md).
 *	  The caller needs UPDATE on ff.execution, as FOR UPDATE does;
 *	  SERIALIZABLE reads take their predicate locks in the index and heap
 *	  access, as the statement's did.
 *
 * IDENTIFICATION
 *	  src/exec_core_lock.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/nbtree.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "core_spi.h"
#include "core_tenant.h"
#include "exec_core.h"
#include "exec_core_row.h"

/*
 * ff_core_relid_for_update
 *		ff.execution's OID, locked in RowShareLock (as FOR UPDATE locks it),
 *		once the caller is found to hold UPDATE on it.
 */
Oid
ff_core_relid_for_update(void)
{
	Oid			relid;
	AclResult	acl;

	/* as the executor refuses a statement's row locks */
	PreventCommandIfReadOnly("SELECT FOR UPDATE");
	relid = ff_rel_lock("execution", RowShareLock);

	acl = pg_class_aclcheck(relid, GetUserId(), ACL_UPDATE);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, "execution");
	return relid;
}

/*
 * Whether table_tuple_lock's result res is a row locked (true), or one to
 * pass over (false): changed by this very command, or deleted meanwhile.
 * A row another transaction changed or deleted is a serialization failure
 * under REPEATABLE READ and SERIALIZABLE (ExecLockRows' words); under READ
 * COMMITTED the lock followed the updates, so only a deleted row is left.
 */
static bool
row_locked(TM_Result res)
{
	switch (res)
	{
		case TM_Ok:
			return true;
		case TM_SelfModified:
		case TM_WouldBlock:
			return false;
		case TM_Updated:
		case TM_Deleted:
			if (IsolationUsesXactSnapshot())
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent update")));
			if (res == TM_Updated)
				elog(ERROR, "unexpected table_tuple_lock status: %u", res);
			return false;
		case TM_Invisible:
			elog(ERROR, "attempted to lock invisible tuple");
			return false;
		default:
			elog(ERROR, "unexpected table_tuple_lock status: %u", res);
	}
	return false;
}

/*
 * The row lock's flags, as ExecLockRows sets them: an update in progress
 * waited for (or skipped) and its outcome followed under READ COMMITTED;
 * under REPEATABLE READ and SERIALIZABLE the version seen or a failure.
 */
static int
lock_flags(void)
{
	return TUPLE_LOCK_FLAG_LOCK_UPDATE_IN_PROGRESS |
		(IsolationUsesXactSnapshot() ? 0 : TUPLE_LOCK_FLAG_FIND_LAST_VERSION);
}

/*
 * What every locking read starts from: the table and its layout, a
 * snapshot that sees this transaction's work (as a new statement's), and
 * the command its rows are locked by (as a statement's: a claim filter's
 * own statements do not move it).
 */
typedef struct LockRead
{
	Relation	rel;
	CoreLayout *l;
	Snapshot	snap;
	CommandId	cid;
} LockRead;

static void
lock_read_begin(LockRead *r)
{
	r->rel = table_open(ff_core_relid_for_update(), NoLock);
	r->l = ff_core_layout(r->rel);
	CommandCounterIncrement();
	r->snap = RegisterSnapshot(GetTransactionSnapshot());
	r->cid = GetCurrentCommandId(true);
}

static void
lock_read_end(LockRead *r)
{
	UnregisterSnapshot(r->snap);
	table_close(r->rel, NoLock);
}

/* What locking rows by their keys keeps from one key to the next. */
typedef struct KeyLocks
{
	LockRead	r;
	Relation	idx;			/* the primary key */
	IndexScanDesc scan;
	TupleTableSlot *slot;
} KeyLocks;

static void
keylocks_begin(KeyLocks *k)
{
	lock_read_begin(&k->r);
	k->idx = index_open(k->r.l->pkey_oid, AccessShareLock);
	if (k->idx->rd_index->indnkeyatts != 2 || k->idx->rd_index->indkey.values[0] != k->r.l->partition_att ||
		k->idx->rd_index->indkey.values[1] != k->r.l->id_att)
		elog(ERROR, "ff.execution's primary key is not (partition, execution_id)");
	k->slot = table_slot_create(k->r.rel, NULL);
	k->scan = index_beginscan(k->r.rel, k->idx, k->r.snap, 2, 0);
}

static void
keylocks_end(KeyLocks *k)
{
	index_endscan(k->scan);
	ExecDropSingleTupleTableSlot(k->slot);
	index_close(k->idx, NoLock);
	lock_read_end(&k->r);
}

/*
 * Lock execution id's row and read the version locked into c; false when
 * there is none (or it was deleted meanwhile), or when it is in a namespace
 * the caller is not bound to: then it is passed over before its lock (a
 * namespace never changes), so a refused caller blocks no other tenant.
 * Without lock, the version the snapshot sees is read and not locked.
 */
static bool
keylocks_read(KeyLocks *k, ExecId id, ExecCore *c, bool lock)
{
	ScanKeyData sk[2];
	ItemPointerData tid;
	TM_FailureData tmfd;
	bool		isnull;
	Datum		ns;

	ScanKeyInit(&sk[0], 1, BTEqualStrategyNumber, F_INT2EQ, Int16GetDatum((int16) id.partition));
	ScanKeyInit(&sk[1], 2, BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(&id.uuid));
	index_rescan(k->scan, sk, 2, NULL, 0);
	if (!index_getnext_slot(k->scan, ForwardScanDirection, k->slot))
		return false;
	ns = slot_getattr(k->slot, k->r.l->namespace_att, &isnull);
	if (isnull || !ff_namespace_allowed(TextDatumGetCString(ns)))
		return false;
	tid = k->slot->tts_tid;
	if (lock && !row_locked(table_tuple_lock(k->r.rel, &tid, k->r.snap, k->slot, k->r.cid,
											 LockTupleExclusive, LockWaitBlock, lock_flags(), &tmfd)))
		return false;
	memset(c, 0, sizeof(*c));
	/* the version locked: the newest (its key never changes); or the one seen */
	c->tid = k->slot->tts_tid;
	ff_core_read_tuple(ExecFetchSlotHeapTuple(k->slot, false, NULL), k->r.l, c);
	/* a version reached by following updates is still this execution */
	return c->id.partition == id.partition && memcmp(&c->id.uuid, &id.uuid, sizeof(pg_uuid_t)) == 0;
}

/*
 * ff_core_read_by_key
 *		Lock the newest version of execution id's row and read it into c, as
 *		SELECT ... FOR UPDATE by its key does: the row found by the primary
 *		key, then locked, waiting for a writer that holds it.  false when
 *		there is no such row (or it was deleted meanwhile), or when it is
 *		in a namespace the caller is not bound to (then not locked).
 *		Without lock, the version its snapshot sees is read and not locked.
 */
bool
ff_core_read_by_key(ExecId id, ExecCore *c, bool lock)
{
	return ff_core_read_keys(&id, 1, c, lock) == 1;
}

/*
 * ff_core_read_keys
 *		ff_core_read_by_key of the n executions ids (distinct, in the order
 *		given: a batch's lock order), in one snapshot, into out in the same
 *		order; returns how many were found.  A row of a namespace the
 *		caller is not bound to is neither locked nor read.  Without lock,
 *		for transitions that write nothing before their rows, whose updates
 *		then lock them and find out whether another transaction changed
 *		them since (ff_core_write_unlocked).
 */
int
ff_core_read_keys(const ExecId *ids, int n, ExecCore *out, bool lock)
{
	KeyLocks	k;
	int			i,
				got = 0;

	keylocks_begin(&k);
	for (i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (keylocks_read(&k, ids[i], &out[got], lock))
			got++;
	}
	keylocks_end(&k);
	return got;
}

/*
 * Whether version c belongs to set (the predicate of its index, and the
 * claim's bounds on its keys: the lane, an expiry reached by now).
 */
static bool
in_set(CoreScanSet set, const ExecCore *c, const char *lane, int64 now)
{
	if (strcmp(c->lane_id, lane) != 0)
		return false;
	switch (set)
	{
		case SCAN_ELIGIBLE:
			return c->lifecycle_phase == PHASE_RUNNABLE && c->eligibility_state == ELIG_ELIGIBLE_NOW;
		case SCAN_LEASE_LOST:
			return c->lifecycle_phase == PHASE_ACTIVE &&
				(c->ownership_state == OWN_LEASE_EXPIRED_RECLAIMABLE ||
				 c->ownership_state == OWN_LEASE_REVOKED);
		case SCAN_LEASE_EXPIRY:
			return c->lifecycle_phase == PHASE_ACTIVE && c->ownership_state == OWN_LEASED &&
				c->lease_expires_at != FF_NULL && c->lease_expires_at <= now;
		default:
			elog(ERROR, "unknown candidate set %d", (int) set);
	}
	return false;
}

/*
 * The index of set, open, and its scan key: the lane (the first key of
 * ELIGIBLE and LEASE_LOST), expiry up to now (LEASE_EXPIRY, whose lane is
 * checked on the row).  An index dropped, not valid or not as installed
 * (the layout keeps only one that is) is an error: a claim would otherwise
 * scan the whole table, or miss rows.
 */
static Relation
open_set_index(const CoreLayout *l, CoreScanSet set, const char *lane, int64 now, ScanKeyData *sk)
{
	Relation	idx = NULL;

	if (OidIsValid(l->scan_oids[set]))
		idx = index_open(l->scan_oids[set], AccessShareLock);
	if (idx == NULL || !idx->rd_index->indisvalid || idx->rd_rel->relam != BTREE_AM_OID)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("index ff.%s is missing, not valid or not as installed", ff_core_scan_index_names[set]),
				 errhint("Claims walk it: recreate it as the extension's install script does, or REINDEX it.")));
	if (set == SCAN_LEASE_EXPIRY)
		ScanKeyInit(sk, 1, BTLessEqualStrategyNumber, F_INT8LE, Int64GetDatum(now));
	else
		ScanKeyEntryInitialize(sk, 0, 1, BTEqualStrategyNumber, InvalidOid,
							   idx->rd_indcollation[0], F_TEXTEQ, CStringGetTextDatum(lane));
	return idx;
}

/* A walk of one candidate set: what ff_core_lock_candidates keeps open. */
typedef struct SetWalk
{
	LockRead	r;
	CoreScanSet set;
	const char *lane;
	int64		now;
	IndexScanDesc scan;
	TupleTableSlot *seen;
	TupleTableSlot *locked;
} SetWalk;

/*
 * The version in slot read into c, in context cxt, and whether it is in the
 * walk's set and passes filter (1, else 0); -1 when it is in the set and
 * qualify, given, refuses it (before filter sees it).
 */
static int
walk_check(SetWalk *w, TupleTableSlot *slot, MemoryContext cxt, CoreScanFilter qualify,
		   CoreScanFilter filter, void *arg, ExecCore *c)
{
	MemoryContext caller = MemoryContextSwitchTo(cxt);
	int			ok;

	memset(c, 0, sizeof(*c));
	ff_core_read_tuple(ExecFetchSlotHeapTuple(slot, false, NULL), w->r.l, c);
	ok = in_set(w->set, c, w->lane, w->now);
	if (ok && qualify != NULL && !qualify(c, arg))
		ok = -1;
	else if (ok)
		ok = filter(c, arg);
	/* (an SPI call in filter leaves SPI's context current) */
	MemoryContextSwitchTo(caller);
	return ok;
}

/*
 * For a walk without locks: whether the version in slot, seen and not
 * locked, is one this transaction's update can take (TM_Ok), one SKIP
 * LOCKED would pass over (TM_BeingModified: another transaction holds or
 * is changing the row), one another transaction changed since the walk's
 * snapshot (TM_Updated, also for a delete: a lock would follow it to its
 * newer version), or anything else (a row this transaction holds or
 * changed, a row held by several transactions): TM_Invisible, for the
 * locking walk to decide.
 */
static TM_Result
seen_state(SetWalk *w, TupleTableSlot *slot)
{
	BufferHeapTupleTableSlot *b = (BufferHeapTupleTableSlot *) slot;
	HeapTupleHeader h = b->base.tuple->t_data;
	TM_Result	res;

	LockBuffer(b->buffer, BUFFER_LOCK_SHARE);
	res = HeapTupleSatisfiesUpdate(b->base.tuple, w->r.cid, b->buffer);
	if (res == TM_BeingModified &&
		((h->t_infomask & HEAP_XMAX_IS_MULTI) ||
		 TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetRawXmax(h))))
		res = TM_Invisible;
	LockBuffer(b->buffer, BUFFER_LOCK_UNLOCK);
	if (res == TM_Deleted)
		res = TM_Updated;
	return res == TM_Ok || res == TM_BeingModified || res == TM_Updated ? res : TM_Invisible;
}

/*
 * Up to limit rows of the walk locked into out (or, with qualify, taken
 * unlocked, up to the first row that must be left to the locking walk:
 * then *stopped, and -1 when it is the first; with changed, a row changed
 * since the snapshot is passed over and *changed said instead), each read
 * into a context of its own under the caller's.
 */
static int
walk_set(SetWalk *w, int limit, CoreScanFilter qualify, CoreScanFilter filter, void *arg, ExecCore *out,
		 bool *stopped, bool *changed)
{
	bool		lock = qualify == NULL;
	MemoryContext caller = CurrentMemoryContext;
	/* a version passed over leaves nothing behind */
	MemoryContext scratch = AllocSetContextCreate(caller, "ff candidate", ALLOCSET_SMALL_SIZES);
	int			n = 0;

	while (n < limit && index_getnext_slot(w->scan, ForwardScanDirection, w->seen))
	{
		ItemPointerData tid = w->seen->tts_tid;
		ExecCore   *c = &out[n];
		TM_FailureData tmfd;
		TupleTableSlot *taken = lock ? w->locked : w->seen;
		int			ok;

		CHECK_FOR_INTERRUPTS();
		ok = walk_check(w, w->seen, scratch, qualify, filter, arg, c);
		if (ok < 0)
		{
			*stopped = true;
			break;
		}
		if (ok && !lock)
		{
			TM_Result	res = seen_state(w, w->seen);

			if (res == TM_Updated && changed != NULL)
				*changed = true;
			else if (res != TM_Ok && res != TM_BeingModified)
			{
				*stopped = true;
				break;
			}
			ok = res == TM_Ok;
		}
		else if (ok)
		{
			ok = row_locked(table_tuple_lock(w->r.rel, &tid, w->r.snap, w->locked, w->r.cid,
											 LockTupleExclusive, LockWaitSkip, lock_flags(), &tmfd));
			if (ok && tmfd.traversed)
			{
				/* the lock followed the row to a newer version: that one is checked again */
				MemoryContextReset(scratch);
				ok = walk_check(w, w->locked, scratch, NULL, filter, arg, c);
			}
		}
		if (!ok)
		{
			MemoryContextReset(scratch);
			continue;
		}
		/* taken: its fields stay in the context they were read into */
		c->tid = taken->tts_tid;
		scratch = AllocSetContextCreate(caller, "ff candidate", ALLOCSET_SMALL_SIZES);
		n++;
	}
	MemoryContextDelete(scratch);
	return *stopped && n == 0 ? -1 : n;
}

/*
 * ff_core_lock_candidates
 *		Lock up to limit executions of set (for lane, with expiries up to
 *		now) that filter accepts, in the index's order, passing over rows
 *		another transaction holds, as SELECT ... FOR UPDATE SKIP LOCKED
 *		LIMIT limit over that index did; *rows gets them, read as locked.
 *		filter sees each version before its lock (SKIP LOCKED's filter) and,
 *		when the lock followed the row to a newer version, that version
 *		again (as EvalPlanQual re-checks it; one that no longer qualifies is
 *		passed over, still locked).  filter may run statements.
 *		With qualify, the rows are taken as seen, not locked, for a claim
 *		whose updates take the locks (ff_core_store_unlocked_many,
 *		skip_held): a row another transaction holds is passed over, and the
 *		walk stops (*stopped) at a row of the set that qualify refuses (seen
 *		before filter), or an accepted row that a lock would have followed to
 *		a newer version (unless changed is given: then it is passed over
 *		and *changed set, for the caller to walk again with a new snapshot),
 *		or that this transaction or several hold: the caller claims the rest
 *		with the locking walk.  -1 when it stopped before taking any (also
 *		when the table allows no unlocked store).
 */
int
ff_core_lock_candidates(CoreScanSet set, const char *lane, int64 now, int limit,
						CoreScanFilter qualify, CoreScanFilter filter, void *arg, ExecCore **rows,
						bool *stopped, bool *changed)
{
	SetWalk		w;
	Relation	idx;
	ScanKeyData sk;
	ExecCore   *out = palloc(sizeof(ExecCore) * Max(limit, 1));
	int			n;

	w.set = set;
	w.lane = lane;
	w.now = now;
	lock_read_begin(&w.r);
	idx = open_set_index(w.r.l, set, lane, now, &sk);
	*stopped = false;
	if (changed != NULL)
		*changed = false;
	/* rows taken unlocked are stored unlocked: where the table allows it */
	if (qualify != NULL && !ff_core_unlocked_ok(w.r.rel))
	{
		index_close(idx, NoLock);
		lock_read_end(&w.r);
		*rows = out;
		*stopped = true;
		return -1;
	}
	w.seen = table_slot_create(w.r.rel, NULL);
	w.locked = table_slot_create(w.r.rel, NULL);
	w.scan = index_beginscan(w.r.rel, idx, w.r.snap, 1, 0);
	index_rescan(w.scan, &sk, 1, NULL, 0);
	/* a filter's statement never frees the layout under the walk */
	ff_core_layout_users++;
	PG_TRY();
	{
		n = walk_set(&w, limit, qualify, filter, arg, out, stopped, changed);
	}
	PG_FINALLY();
	{
		ff_core_layout_users--;
	}
	PG_END_TRY();
	index_endscan(w.scan);
	ExecDropSingleTupleTableSlot(w.seen);
	ExecDropSingleTupleTableSlot(w.locked);
	index_close(idx, NoLock);
	lock_read_end(&w.r);
	*rows = out;
	return n;
}
