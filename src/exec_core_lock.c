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
 *	  serialization failure.  A statement's executor start-up cost a
 *	  transition ~10 % of its instructions and a claim a third (profiled in
 *	  test/bench/README.md).  The caller needs UPDATE on ff.execution, as
 *	  FOR UPDATE does; SERIALIZABLE reads take their predicate locks in the
 *	  index and heap access, as the statement's did.
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
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "core_spi.h"
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
	Oid			relid = ff_rel_lock("execution", RowShareLock);
	AclResult	acl;

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
		default:
			elog(ERROR, "unexpected table_tuple_lock status: %u", res);
	}
	return false;
}

/* The snapshot a locking read starts from: this transaction's work seen, as by a new statement. */
static Snapshot
statement_snapshot(void)
{
	CommandCounterIncrement();
	return RegisterSnapshot(GetTransactionSnapshot());
}

/*
 * ff_core_lock_by_key
 *		Lock the newest version of execution id's row and read it into c, as
 *		SELECT ... FOR UPDATE by its key does, without a statement (whose
 *		executor start-up cost a transition ~10 % of its instructions): the
 *		row found by the primary key under a new snapshot (the transaction's,
 *		under REPEATABLE READ), then locked, waiting for a writer that holds
 *		it; under READ COMMITTED the lock follows the row to the version that
 *		writer left, otherwise a changed or deleted row is a serialization
 *		failure.  false when there is no such row (or it was deleted
 *		meanwhile).  The caller needs UPDATE on ff.execution, as FOR UPDATE
 *		does.
 */
bool
ff_core_lock_by_key(ExecId id, ExecCore *c)
{
	Oid			relid = ff_core_relid_for_update();
	Relation	rel,
				idx;
	CoreLayout *l;
	Snapshot	snap;
	ScanKeyData sk[2];
	IndexScanDesc scan;
	TupleTableSlot *slot;
	TM_FailureData tmfd;
	TM_Result	res;
	ItemPointerData tid;
	bool		found;
	int16		part = (int16) id.partition;

	rel = table_open(relid, NoLock);
	l = ff_core_layout(rel);
	idx = index_open(l->pkey_oid, AccessShareLock);
	if (idx->rd_index->indnkeyatts != 2 || idx->rd_index->indkey.values[0] != l->partition_att ||
		idx->rd_index->indkey.values[1] != l->id_att)
		elog(ERROR, "ff.execution's primary key is not (partition, execution_id)");
	snap = statement_snapshot();
	ScanKeyInit(&sk[0], 1, BTEqualStrategyNumber, F_INT2EQ, Int16GetDatum(part));
	ScanKeyInit(&sk[1], 2, BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(&id.uuid));
	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, idx, snap, 2, 0);
	index_rescan(scan, sk, 2, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	if (found)
		tid = slot->tts_tid;
	index_endscan(scan);
	index_close(idx, NoLock);
	if (found)
	{
		res = table_tuple_lock(rel, &tid, snap, slot, GetCurrentCommandId(true),
							   LockTupleExclusive, LockWaitBlock,
							   TUPLE_LOCK_FLAG_LOCK_UPDATE_IN_PROGRESS |
							   (IsolationUsesXactSnapshot() ? 0 : TUPLE_LOCK_FLAG_FIND_LAST_VERSION),
							   &tmfd);
		found = row_locked(res);
		/* the version locked: the newest (its key never changes) */
		tid = slot->tts_tid;
	}
	ExecDropSingleTupleTableSlot(slot);
	if (found)
	{
		memset(c, 0, sizeof(*c));
		c->tid = tid;
		/* (the snapshot still registered: out-of-line values are read) */
		ff_core_read_version(rel, l, &c->tid, c);
		/* a version reached by following updates is still this execution */
		found = c->id.partition == id.partition &&
			memcmp(&c->id.uuid, &id.uuid, sizeof(pg_uuid_t)) == 0;
	}
	UnregisterSnapshot(snap);
	table_close(rel, NoLock);
	return found;
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
 * checked on the row).  An index dropped, not valid or not on that column
 * (the layout keeps only one that is) is an error: a claim would otherwise
 * scan the whole table.
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
				 errmsg("index ff.%s is missing or not valid", ff_core_scan_index_names[set]),
				 errhint("Claims need it: recreate it as the extension's install script does, or REINDEX it.")));
	if (set == SCAN_LEASE_EXPIRY)
		ScanKeyInit(sk, 1, BTLessEqualStrategyNumber, F_INT8LE, Int64GetDatum(now));
	else
		ScanKeyEntryInitialize(sk, 0, 1, BTEqualStrategyNumber, InvalidOid,
							   idx->rd_indcollation[0], F_TEXTEQ, CStringGetTextDatum(lane));
	return idx;
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
 */
int
ff_core_lock_candidates(CoreScanSet set, const char *lane, int64 now, int limit,
						CoreScanFilter filter, void *arg, ExecCore **rows)
{
	Relation	rel,
				idx;
	CoreLayout *l;
	Snapshot	snap;
	ScanKeyData sk;
	IndexScanDesc scan;
	TupleTableSlot *seen,
			   *locked;
	MemoryContext scratch,
				old;
	ExecCore   *out;
	int			n = 0;

	rel = table_open(ff_core_relid_for_update(), NoLock);
	l = ff_core_layout(rel);
	idx = open_set_index(l, set, lane, now, &sk);
	snap = statement_snapshot();
	out = palloc(sizeof(ExecCore) * Max(limit, 1));
	/* a version passed over leaves nothing behind */
	scratch = AllocSetContextCreate(CurrentMemoryContext, "ff candidate", ALLOCSET_SMALL_SIZES);
	seen = table_slot_create(rel, NULL);
	locked = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, idx, snap, 1, 0);
	index_rescan(scan, &sk, 1, NULL, 0);
	while (n < limit && index_getnext_slot(scan, ForwardScanDirection, seen))
	{
		ItemPointerData tid = seen->tts_tid;
		ExecCore	probe;
		ExecCore   *c = &out[n];
		TM_FailureData tmfd;
		TM_Result	res;
		bool		ok;

		CHECK_FOR_INTERRUPTS();
		old = MemoryContextSwitchTo(scratch);
		memset(&probe, 0, sizeof(probe));
		ff_core_read_tuple(ExecFetchSlotHeapTuple(seen, false, NULL), l, &probe);
		ok = in_set(set, &probe, lane, now) && filter(&probe, arg);
		MemoryContextSwitchTo(old);
		MemoryContextReset(scratch);
		if (!ok)
			continue;
		res = table_tuple_lock(rel, &tid, snap, locked, GetCurrentCommandId(true),
							   LockTupleExclusive, LockWaitSkip,
							   IsolationUsesXactSnapshot() ? 0 : TUPLE_LOCK_FLAG_FIND_LAST_VERSION,
							   &tmfd);
		if (!row_locked(res))
			continue;
		memset(c, 0, sizeof(*c));
		c->tid = locked->tts_tid;
		ff_core_read_tuple(ExecFetchSlotHeapTuple(locked, false, NULL), l, c);
		if (tmfd.traversed && !(in_set(set, c, lane, now) && filter(c, arg)))
			continue;
		n++;
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(seen);
	ExecDropSingleTupleTableSlot(locked);
	MemoryContextDelete(scratch);
	index_close(idx, NoLock);
	UnregisterSnapshot(snap);
	table_close(rel, NoLock);
	*rows = out;
	return n;
}
