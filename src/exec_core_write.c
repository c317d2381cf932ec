/*-------------------------------------------------------------------------
 *
 * exec_core_write.c
 *	  Writing an execution core row where it was found (locked, or read for
 *	  an update that locks it), instead of by an UPDATE statement.
 *
 *	  Every transition locks its execution's row (ff_core_lock, a batch's
 *	  ff_core_lock_many, a claim's candidates), changes the record in C and
 *	  stores it (ff_core_store).  An UPDATE statement for that store spent
 *	  more on its executor than on the write: starting it (a projection of
 *	  every mutable column, an index scan, the result relation) for each
 *	  single store, and for a batch's set form unnesting the rows and
 *	  finding each again by key (profiled in test/bench/README.md).  The
 *	  locking read already returned where the row version is (its ctid),
 *	  so the store writes the new version there through the executor's
 *	  single-row path, ExecSimpleRelationUpdate, as logical replication
 *	  applies a change: row triggers, constraints, replica identity and
 *	  index entries as an UPDATE has them.  What only a statement does
 *	  (statement triggers, transition tables, rules, row security) sends
 *	  every write to its statement (direct_write_ok).  No privilege is
 *	  checked here: the locking read (FOR UPDATE) needed UPDATE on the
 *	  table.
 *
 *	  A complete or claims that write nothing before the row read it without
 *	  its lock and store it with ff_core_write_unlocked: the update takes the
 *	  lock, and reports a row changed since it was read (or, for a claim,
 *	  held by another transaction): a complete goes back to the locking
 *	  read, a claim walks again (under REPEATABLE READ, the locking walk;
 *	  doc/decisions.md, "Claims and completes without a row lock of their
 *	  own").
 *
 *	  A store whose row location is unknown (a row inserted in the same
 *	  call) or no longer holds the newest version (this transaction changed
 *	  the row since it was read, or an aborted subtransaction left a dead
 *	  version there) goes through the UPDATE statement by key, as before.
 *
 * IDENTIFICATION
 *	  src/exec_core_write.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/nodeModifyTable.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "storage/bufmgr.h"
#include "tcop/utility.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "core_spi.h"
#include "core_state.h"
#include "exec_core.h"
#include "exec_core_row.h"
#include "ff_engine.h"

/* ff_engine.test_store_by_key: every store by key (tests of that path) */
bool		ff_test_store_by_key = false;

/* A store argument as its column's value (the UPDATE statement's casts). */
static Datum
field_value(const FieldMap *f, Datum arg)
{
	switch (f->kind)
	{
		case FIELD_INT:
			{
				int64		v = DatumGetInt64(arg);

				if (f->typid == INT8OID)
					return arg;
				if ((f->typid == INT4OID && (v < PG_INT32_MIN || v > PG_INT32_MAX)) ||
					(f->typid == INT2OID && (v < PG_INT16_MIN || v > PG_INT16_MAX)))
					ereport(ERROR,
							(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
							 errmsg("%s out of range for column \"%s\"",
									f->typid == INT4OID ? "integer" : "smallint", f->name)));
				return f->typid == INT4OID ? Int32GetDatum((int32) v) : Int16GetDatum((int16) v);
			}
		case FIELD_ENUM:
			{
				/* the label's index in the C table (enum_arg) */
				int64		i = DatumGetInt64(arg);

				if (i < 0 || i >= f->nlabels)
					elog(ERROR, "label index " INT64_FORMAT " out of range for column \"%s\"", i, f->name);
				if (OidIsValid(f->enum_oids[i]))
					return ObjectIdGetDatum(f->enum_oids[i]);
				/* not a label this install has: enum_in's own error */
				return DirectFunctionCall2(enum_in, CStringGetDatum(f->labels[i]), ObjectIdGetDatum(f->typid));
			}
		default:
			return arg;
	}
}

/*
 * The row version at tid, fetched into slot, when it is the newest version
 * of the execution the store names (its key in v[0], v[1]): created by a
 * committed transaction or this one, and not updated or deleted since (a
 * lock leaves it the newest).  A caller that holds the row's lock keeps it
 * the newest until written; one that does not learns from its update's own
 * check (update_unlocked), and with unheld asks also that no other
 * transaction hold the row now.
 */
static bool
fetch_newest(Relation rel, const CoreLayout *l, ItemPointer tid, const Datum *v,
			 TupleTableSlot *slot, bool unheld)
{
	BufferHeapTupleTableSlot *bslot = (BufferHeapTupleTableSlot *) slot;
	HeapTupleHeader h;
	bool		newest;
	bool		isnull;
	Datum		d;

	if (!ItemPointerIsValid(tid) ||
		!table_tuple_fetch_row_version(rel, tid, SnapshotAny, slot))
		return false;
	LockBuffer(bslot->buffer, BUFFER_LOCK_SHARE);
	h = bslot->base.tuple->t_data;
	newest = ((h->t_infomask & HEAP_XMAX_INVALID) || HEAP_XMAX_IS_LOCKED_ONLY(h->t_infomask)) &&
		!HeapTupleHeaderXminInvalid(h) &&
		(HeapTupleHeaderXminCommitted(h) ||
		 TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetRawXmin(h)) ||
		 TransactionIdDidCommit(HeapTupleHeaderGetRawXmin(h)));
	if (newest && unheld)
		newest = HeapTupleSatisfiesUpdate(bslot->base.tuple, GetCurrentCommandId(false),
										  bslot->buffer) == TM_Ok;
	LockBuffer(bslot->buffer, BUFFER_LOCK_UNLOCK);
	if (!newest)
		return false;
	d = slot_getattr(slot, l->partition_att, &isnull);
	if (isnull || DatumGetInt16(d) != DatumGetInt16(v[0]))
		return false;
	d = slot_getattr(slot, l->id_att, &isnull);
	return !isnull && memcmp(DatumGetUUIDP(d), DatumGetUUIDP(v[1]), UUID_LEN) == 0;
}

/* Built-in functions and plain nodes only: state that can outlive a query. */
static bool
keepable_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	switch (nodeTag(node))
	{
		case T_Var:
			/* a whole row or a system column keeps per-query state */
			if (((Var *) node)->varattno <= 0)
				return true;
			break;
		case T_Const:
		case T_List:
		case T_BoolExpr:
		case T_NullTest:
		case T_BooleanTest:
		case T_RelabelType:
			break;
		case T_OpExpr:
		case T_DistinctExpr:
		case T_NullIfExpr:
			set_opfuncid((OpExpr *) node);
			if (((OpExpr *) node)->opfuncid >= FirstGenbkiObjectId)
				return true;
			break;
		case T_ScalarArrayOpExpr:
			set_sa_opfuncid((ScalarArrayOpExpr *) node);
			if (((ScalarArrayOpExpr *) node)->opfuncid >= FirstGenbkiObjectId ||
				OidIsValid(((ScalarArrayOpExpr *) node)->hashfuncid))
				return true;
			break;
		case T_FuncExpr:
			if (((FuncExpr *) node)->funcid >= FirstGenbkiObjectId)
				return true;
			break;
		default:
			return true;
	}
	return expression_tree_walker(node, keepable_walker, context);
}

static bool
keepable(Node *expr)
{
	return !keepable_walker(expr, NULL);
}

/*
 * ff_core_write_cache_build
 *		What the writes of ff.execution (rel) keep from one call to the next,
 *		built into c in the current memory context (the layout's, which
 *		ff_core_layout rebuilds with any change of the table or its indexes).
 *		ExecOpenIndices and the first row of a write built them again for
 *		every call, which cost a single store more than its heap update
 *		(callgrind, test/bench/README.md).  Only what is built from built-in
 *		functions is kept (its compiled state holds nothing of a query or a
 *		transaction), and only for btree indexes without expressions;
 *		anything else is built per write as before.  The EXECUTE privilege on
 *		those built-in functions is checked when they are compiled, not at
 *		every write: the engine's functions run as the extension's owner.
 */
void
ff_core_write_cache_build(Relation rel, WriteCache *c)
{
	List	   *oids = RelationGetIndexList(rel);
	TupleConstr *constr = RelationGetDescr(rel)->constr;
	ListCell   *lc;
	int			i = 0;

	c->nindexes = list_length(oids);
	c->indexoids = palloc0(sizeof(Oid) * Max(c->nindexes, 1));
	c->infos = palloc0(sizeof(IndexInfo *) * Max(c->nindexes, 1));
	foreach(lc, oids)
	{
		Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);
		IndexInfo  *ii = BuildIndexInfo(idx);
		List	   *pred = (List *) expression_planner((Expr *) ii->ii_Predicate);

		c->indexoids[i] = lfirst_oid(lc);

		if (idx->rd_rel->relam == BTREE_AM_OID && ii->ii_Expressions == NIL &&
			keepable((Node *) pred))
		{
			if (pred != NIL)
				ii->ii_PredicateState = ExecInitQual(pred, NULL);
			/* what an insert's conflict check needs (ff_core_write_insert) */
			if (ii->ii_Unique)
				BuildSpeculativeIndexInfo(idx, ii);
			c->infos[i] = ii;
		}
		index_close(idx, NoLock);
		i++;
	}
	if (constr != NULL && constr->num_check > 0)
	{
		ExprState **checks = palloc0(sizeof(ExprState *) * constr->num_check);

		for (i = 0; i < constr->num_check && checks != NULL; i++)
		{
			Expr	   *e = expression_planner(stringToNode(constr->check[i].ccbin));

			if (keepable((Node *) e))
				checks[i] = ExecInitExpr(e, NULL);
			else
				checks = NULL;
		}
		c->checks = checks;
	}
}

/*
 * ExecOpenIndices with what the cache keeps: the indexes opened and locked
 * as there, each IndexInfo the cache's or built now.  Given the one row a
 * write stores (row), an index whose kept predicate that row fails is left
 * unopened: ExecInsertIndexTuples would pass it over (and an insert's
 * conflict check too), and opening and locking the twelve indexes cost a
 * single store more than the entries it makes.  Only when nothing can
 * change the row after this (no BEFORE row trigger of the command, cmd, no
 * stored generated column).
 */
static void
open_indexes(ResultRelInfo *rri, const WriteCache *c, EState *estate, TupleTableSlot *row, CmdType cmd)
{
	Relation	rel = rri->ri_RelationDesc;
	ExprContext *econtext = GetPerTupleExprContext(estate);
	int			i,
				n = 0;

	if ((rri->ri_TrigDesc &&
		 (cmd == CMD_INSERT ? rri->ri_TrigDesc->trig_insert_before_row : rri->ri_TrigDesc->trig_update_before_row)) ||
		(rel->rd_att->constr && rel->rd_att->constr->has_generated_stored))
		row = NULL;
	econtext->ecxt_scantuple = row;
	if (c->nindexes == 0)
		return;
	rri->ri_IndexRelationDescs = palloc(sizeof(Relation) * c->nindexes);
	rri->ri_IndexRelationInfo = palloc(sizeof(IndexInfo *) * c->nindexes);
	for (i = 0; i < c->nindexes; i++)
	{
		IndexInfo  *ii = c->infos[i];
		Relation	idx;

		if (row != NULL && ii != NULL && ii->ii_PredicateState != NULL &&
			!ExecQual(ii->ii_PredicateState, econtext))
			continue;
		idx = index_open(c->indexoids[i], RowExclusiveLock);
		if (ii == NULL)
		{
			ii = BuildIndexInfo(idx);
			if (cmd == CMD_INSERT && ii->ii_Unique)
				BuildSpeculativeIndexInfo(idx, ii);
		}
		rri->ri_IndexRelationDescs[n] = idx;
		rri->ri_IndexRelationInfo[n] = ii;
		n++;
	}
	rri->ri_NumIndices = n;
}

/*
 * Whether writes of cmd to rel may go through the single-row path: a plain
 * table, and nothing only a statement does asked of them (statement
 * triggers, transition tables, rules, row security).  Otherwise each goes
 * to its statement.
 */
static bool
direct_write_ok(Relation rel, CmdType cmd)
{
	TriggerDesc *t = rel->trigdesc;

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relhasrules || rel->rd_rel->relrowsecurity)
		return false;
	if (t == NULL)
		return true;
	if (cmd == CMD_INSERT)
		return !t->trig_insert_before_statement && !t->trig_insert_after_statement &&
			!t->trig_insert_new_table;
	return !t->trig_update_before_statement && !t->trig_update_after_statement &&
		!t->trig_update_old_table && !t->trig_update_new_table;
}

/* The executor state of one call's writes to the table. */
typedef struct WriteState
{
	EState	   *estate;
	ResultRelInfo *rri;
	EPQState	epq;
	TupleTableSlot *oldslot;	/* a row version as found */
	TupleTableSlot *newslot;	/* the row to write */
	bool		indexes_open;
} WriteState;

static void
write_begin(WriteState *w, Relation rel, Bitmapset *updated_cols, ExprState **checks, CmdType cmd)
{
	RangeTblEntry *rte;

	/* as the executor refuses a statement's writes (ExecCheckXactReadOnly) */
	PreventCommandIfReadOnly(cmd == CMD_INSERT ? "INSERT" : "UPDATE");
	PreventCommandIfParallelMode(cmd == CMD_INSERT ? "INSERT" : "UPDATE");
	rte = makeNode(RangeTblEntry);

	w->estate = CreateExecutorState();
	w->indexes_open = false;
	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(rel);
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	rte->updatedCols = bms_copy(updated_cols);
	ExecInitRangeTable(w->estate, list_make1(rte));
	w->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(w->rri, rel, 1, NULL, 0);
	/* where the AFTER trigger queue looks the relation up */
	w->estate->es_opened_result_relations = list_make1(w->rri);
	w->estate->es_output_cid = GetCurrentCommandId(true);
	w->estate->es_snapshot = ActiveSnapshotSet() ? GetActiveSnapshot() : InvalidSnapshot;
	/* the indexes are opened with the first row (open_indexes) */
	/* ExecRelCheck compiles them when this is unset */
	w->rri->ri_ConstraintExprs = checks;
	EvalPlanQualInit(&w->epq, w->estate, NULL, NIL, -1);
	w->oldslot = table_slot_create(rel, &w->estate->es_tupleTable);
	w->newslot = ExecInitExtraTupleSlot(w->estate, RelationGetDescr(rel), &TTSOpsVirtual);
	AfterTriggerBeginQuery();
}

static void
write_end(WriteState *w)
{
	AfterTriggerEndQuery(w->estate);
	EvalPlanQualEnd(&w->epq);
	/* its indexes, and relations the AFTER trigger queue opened */
	ExecCloseResultRelations(w->estate);
	ExecResetTupleTable(w->estate->es_tupleTable, false);
	FreeExecutorState(w->estate);
}

/*
 * The new version of the row in w->oldslot, into w->newslot: its columns
 * with the store's mutable fields (v, vn: one store's arguments) put in.
 * The table's indexes are opened with the first row; only those it enters
 * when it is the write's single row.
 */
static void
new_version(WriteState *w, const CoreLayout *l, const Datum *v, const bool *vn, bool single)
{
	TupleDesc	desc = w->oldslot->tts_tupleDescriptor;
	MemoryContext old;
	int			k;

	old = MemoryContextSwitchTo(GetPerTupleMemoryContext(w->estate));
	ExecClearTuple(w->newslot);
	slot_getallattrs(w->oldslot);
	memcpy(w->newslot->tts_values, w->oldslot->tts_values, sizeof(Datum) * desc->natts);
	memcpy(w->newslot->tts_isnull, w->oldslot->tts_isnull, sizeof(bool) * desc->natts);
	for (k = 0; k < FF_CORE_NMUTABLE; k++)
	{
		const FieldMap *f = &l->fields[k];

		w->newslot->tts_isnull[f->attnum - 1] = vn[2 + k];
		w->newslot->tts_values[f->attnum - 1] = vn[2 + k] ? (Datum) 0 : field_value(f, v[2 + k]);
	}
	ExecStoreVirtualTuple(w->newslot);
	/* a copy: the old version's values point into its buffer */
	ExecMaterializeSlot(w->newslot);
	MemoryContextSwitchTo(old);
	if (!w->indexes_open)
	{
		open_indexes(w->rri, &l->write, w->estate, single ? w->newslot : NULL, CMD_UPDATE);
		w->indexes_open = true;
	}
}

/*
 * write_located
 *		The stores whose row is where its locking read found it, written
 *		there; the others are marked in by_key (*nkey of them).  Returns
 *		the rows written.
 */
static uint64
write_located(Relation rel, const CoreLayout *l, FFPlan *store, int n, const Datum *values,
			  const bool *nulls, ItemPointer newtids, bool *by_key, int *nkey)
{
	int			nargs = store->nargs;
	int			tid_arg = nargs - 1;
	uint64		written = 0;
	WriteState	w;
	int			r;

	write_begin(&w, rel, l->updated_cols, l->write.checks, CMD_UPDATE);
	for (r = 0; r < n; r++)
	{
		const Datum *v = &values[r * nargs];
		const bool *vn = &nulls[r * nargs];

		CHECK_FOR_INTERRUPTS();
		if (vn[tid_arg] || ff_test_store_by_key ||
			!fetch_newest(rel, l, (ItemPointer) DatumGetPointer(v[tid_arg]), v, w.oldslot, false))
		{
			by_key[r] = true;
			(*nkey)++;
			continue;
		}
		new_version(&w, l, v, vn, n == 1);
		ExecSimpleRelationUpdate(w.rri, w.estate, &w.epq, w.oldslot, w.newslot);
		/* a row trigger that returned NULL skipped it: not written */
		if (ItemPointerIsValid(&w.newslot->tts_tid))
			written++;
		if (newtids)
			newtids[r] = w.newslot->tts_tid;
		ExecClearTuple(w.oldslot);
		ResetPerTupleExprContext(w.estate);
	}
	write_end(&w);
	return written;
}

static Relation
open_core(void)
{
	return table_open(ff_rel_lock("execution", RowExclusiveLock), NoLock);
}

/*
 * ff_core_write
 *		Runs n stores of the plan built by exec_core.c (arguments: partition,
 *		execution_id, the mutable fields in FF_CORE_MUTABLE_FIELDS order,
 *		then the row's ctid as read; its statement updates by key and
 *		returns the new ctid).  newtids, when given, receives each row's new
 *		location (invalid when unknown).  Returns the rows written.  The
 *		caller holds each row's lock (taken by the read that gave its ctid):
 *		no other transaction can write the row meanwhile.
 */
uint64
ff_core_write(FFPlan *store, int n, const Datum *values, const bool *nulls, ItemPointer newtids)
{
	int			nargs = store->nargs;
	bool	   *by_key = palloc0(sizeof(bool) * Max(n, 1));
	int			nkey = 0;
	uint64		written = 0;
	Relation	rel;
	CoreLayout *layout;
	int			r;

	rel = open_core();
	layout = ff_core_layout(rel);
	/* a row trigger's writes keep it as it is until these are done */
	ff_core_layout_users++;
	PG_TRY();
	{
		if (direct_write_ok(rel, CMD_UPDATE))
			written = write_located(rel, layout, store, n, values, nulls, newtids, by_key, &nkey);
		else
		{
			for (r = 0; r < n; r++)
				by_key[r] = true;
			nkey = n;
		}
	}
	PG_FINALLY();
	{
		ff_core_layout_users--;
	}
	PG_END_TRY();
	table_close(rel, NoLock);
	/* what follows in this transaction sees the new versions */
	CommandCounterIncrement();

	for (r = 0; nkey > 0 && r < n; r++)
	{
		if (!by_key[r])
			continue;
		if (ff_plan_exec(store, (Datum *) &values[r * nargs], &nulls[r * nargs], 0) == 1)
		{
			written++;
			if (newtids)
			{
				bool		isnull;
				Datum		t = ff_col_datum(0, 1, &isnull);

				newtids[r] = *(ItemPointer) DatumGetPointer(t);
			}
		}
		else if (newtids)
			ItemPointerSetInvalid(&newtids[r]);
	}
	pfree(by_key);
	return written;
}

/*
 * ExecSimpleRelationUpdate of w->newslot over the version at tid, which
 * this transaction has not locked: the update takes the row's lock,
 * waiting for a transaction that holds it, as an UPDATE statement's does
 * (heap_update supports no other way).  false, nothing written, when
 * another transaction changed or deleted the row since that version (what
 * would send a statement to EvalPlanQual).  No BEFORE row trigger: it
 * would lock the row itself (GetTupleForTrigger).
 */
static bool
update_unlocked(WriteState *w, ItemPointer tid)
{
	ResultRelInfo *rri = w->rri;
	Relation	rel = rri->ri_RelationDesc;
	TupleTableSlot *slot = w->newslot;
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	bool		update_indexes;
	List	   *recheck = NIL;
	TM_Result	res;

	CheckCmdReplicaIdentity(rel, CMD_UPDATE);
	if (rel->rd_att->constr && rel->rd_att->constr->has_generated_stored)
		ExecComputeStoredGenerated(rri, w->estate, slot, CMD_UPDATE);
	if (rel->rd_att->constr)
		ExecConstraints(rri, slot, w->estate);
	res = table_tuple_update(rel, tid, slot, w->estate->es_output_cid, w->estate->es_snapshot,
							 InvalidSnapshot, true, &tmfd, &lockmode, &update_indexes);
	if (res == TM_Updated || res == TM_Deleted)
		return false;
	if (res != TM_Ok)
		elog(ERROR, "unexpected table_tuple_update status: %u", res);
	if (rri->ri_NumIndices > 0 && update_indexes)
		recheck = ExecInsertIndexTuples(rri, slot, w->estate, true, false, NULL, NIL);
	ExecARUpdateTriggers(w->estate, rri, NULL, NULL, tid, NULL, slot, recheck, NULL, false);
	list_free(recheck);
	return true;
}

/*
 * ff_core_unlocked_ok
 *		Whether a transition may read its row without locking it, to store
 *		it with ff_core_write_unlocked: not while every store goes by key
 *		(ff_engine.test_store_by_key).  With rel (ff.execution, open), also
 *		whether the table lets such a store through: no BEFORE row trigger
 *		(it would lock the row itself), nothing only a statement does.
 */
bool
ff_core_unlocked_ok(Relation rel)
{
	return !ff_test_store_by_key &&
		(rel == NULL ||
		 (direct_write_ok(rel, CMD_UPDATE) && !rel->rd_rel->relispartition &&
		  (rel->trigdesc == NULL || !rel->trigdesc->trig_update_before_row)));
}

/*
 * ff_core_write_unlocked
 *		n stores of the plan (as ff_core_write) to rows this transaction read
 *		without locking them (ff_core_read_many, a claim's walk without
 *		locks; each ctid is its store's last argument), in the order given:
 *		each new version written where its row was read unless another
 *		transaction changed the row since, in one step with the row's lock.
 *		written[r] says which were; the others, nothing written, the caller
 *		locks and does again (or passes over).  Without skip_held the
 *		writes end at the first row not written, so that the caller, which
 *		locks that row and those after it in the order given, takes its
 *		row locks in that order (a batch's) whatever happens here.  None
 *		is written when the table asks for what this path does not do (a
 *		statement, a BEFORE row trigger).  newtids[r] receives each new
 *		version's location.  With skip_held, a row another transaction
 *		holds when its store begins is not waited for (a claim's SKIP
 *		LOCKED); one that takes it in the instant before the update is.
 *		Returns how many were written.
 */
int
ff_core_write_unlocked(FFPlan *store, int n, const Datum *values, const bool *nulls,
					   ItemPointer newtids, bool skip_held, bool *written)
{
	int			nargs = store->nargs;
	volatile int done = 0;
	Relation	rel;
	CoreLayout *layout;
	WriteState	w;
	int			r;

	memset(written, 0, sizeof(bool) * n);
	rel = open_core();
	if (!ff_core_unlocked_ok(rel))
	{
		table_close(rel, NoLock);
		return 0;
	}
	layout = ff_core_layout(rel);
	ff_core_layout_users++;
	PG_TRY();
	{
		write_begin(&w, rel, layout->updated_cols, layout->write.checks, CMD_UPDATE);
		for (r = 0; r < n; r++)
		{
			const Datum *v = &values[r * nargs];
			const bool *vn = &nulls[r * nargs];
			ItemPointer tid = (ItemPointer) DatumGetPointer(v[nargs - 1]);

			CHECK_FOR_INTERRUPTS();
			/* a version already changed is not waited for: the lock will */
			if (!vn[nargs - 1] && fetch_newest(rel, layout, tid, v, w.oldslot, skip_held))
			{
				new_version(&w, layout, v, vn, n == 1);
				if (update_unlocked(&w, tid))
				{
					written[r] = true;
					newtids[r] = w.newslot->tts_tid;
					done++;
				}
				ExecClearTuple(w.oldslot);
				ResetPerTupleExprContext(w.estate);
			}
			/* the caller locks this row and the rest, in order */
			if (!written[r] && !skip_held)
				break;
		}
		write_end(&w);
	}
	PG_FINALLY();
	{
		ff_core_layout_users--;
	}
	PG_END_TRY();
	table_close(rel, NoLock);
	/* what follows in this transaction sees the new versions */
	if (done > 0)
		CommandCounterIncrement();
	return done;
}

/* ---- inserts ---- */

/* The capabilities' column: string_to_array(csv, ','), as the statement has it. */
static Datum
caps_array(const char *csv)
{
	int			n = 0,
				k = 0;
	const char *p;
	Datum	   *elems;

	if (*csv != '\0')
		for (n = 1, p = csv; *p; p++)
			n += (*p == ',');
	elems = palloc(sizeof(Datum) * Max(n, 1));
	for (p = csv; k < n; k++)
	{
		size_t		len = strcspn(p, ",");

		elems[k] = PointerGetDatum(cstring_to_text_with_len(p, len));
		p += len + 1;
	}
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * The row one insert stores (exec_core.c's insert plan: partition,
 * execution_id, the capabilities as comma-separated names, the immutable
 * fields, then the mutable ones), into slot.
 */
static void
insert_row(const CoreLayout *l, const Datum *v, const bool *vn, TupleTableSlot *slot)
{
	int			natts = slot->tts_tupleDescriptor->natts;
	int			i,
				k;

	ExecClearTuple(slot);
	for (i = 0; i < natts; i++)
	{
		slot->tts_values[i] = (Datum) 0;
		slot->tts_isnull[i] = true;
	}
	slot->tts_values[l->partition_att - 1] = v[0];
	slot->tts_isnull[l->partition_att - 1] = false;
	slot->tts_values[l->id_att - 1] = v[1];
	slot->tts_isnull[l->id_att - 1] = false;
	if (!vn[2])
	{
		slot->tts_values[l->caps_att - 1] = caps_array(TextDatumGetCString(v[2]));
		slot->tts_isnull[l->caps_att - 1] = false;
	}
	for (k = 0; k < FF_CORE_NIMMUTABLE + FF_CORE_NMUTABLE; k++)
	{
		const FieldMap *f = k < FF_CORE_NIMMUTABLE ? &l->immutable[k] : &l->fields[k - FF_CORE_NIMMUTABLE];

		slot->tts_isnull[f->attnum - 1] = vn[3 + k];
		if (!vn[3 + k])
			slot->tts_values[f->attnum - 1] = field_value(f, v[3 + k]);
	}
	ExecStoreVirtualTuple(slot);
}

/*
 * At REPEATABLE READ and above, a conflicting row this transaction's
 * snapshot cannot see is a serialization failure, as ON CONFLICT DO
 * NOTHING has it (a skip would hide a row the caller never saw).
 */
static void
conflict_visible(WriteState *w, Relation rel, ItemPointer tid)
{
	if (!IsolationUsesXactSnapshot())
		return;
	if (!table_tuple_fetch_row_version(rel, tid, SnapshotAny, w->oldslot))
		elog(ERROR, "failed to fetch the conflicting row of an insert");
	if (!table_tuple_satisfies_snapshot(rel, w->oldslot, w->estate->es_snapshot))
	{
		bool		isnull;
		TransactionId xmin = DatumGetTransactionId(slot_getsysattr(w->oldslot, MinTransactionIdAttributeNumber,
																	  &isnull));

		if (!TransactionIdIsCurrentTransactionId(xmin))
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to concurrent update")));
	}
	ExecClearTuple(w->oldslot);
}

/*
 * The row in w->newslot as an insert stores it: its BEFORE INSERT row
 * triggers run (false: one skipped it) and the table's constraints checked.
 */
static bool
insert_checked(WriteState *w, Relation rel)
{
	TupleTableSlot *slot = w->newslot;

	if (w->rri->ri_TrigDesc && w->rri->ri_TrigDesc->trig_insert_before_row &&
		!ExecBRInsertTriggers(w->estate, w->rri, slot))
		return false;
	/* what a constraint may read of it, as ExecInsert sets it */
	slot->tts_tableOid = RelationGetRelid(rel);
	if (rel->rd_att->constr)
		ExecConstraints(w->rri, slot, w->estate);
	return true;
}

typedef enum InsertOutcome
{
	INSERTED,
	INSERT_CONFLICT,			/* a row with the key exists */
	INSERT_SKIPPED				/* by a BEFORE INSERT row trigger */
} InsertOutcome;

/*
 * One speculative insertion of the row in w->newslot, as INSERT ... ON
 * CONFLICT DO NOTHING makes it (every unique index an arbiter): a conflict
 * when a row with its key exists or was inserted meanwhile by a transaction
 * that committed.
 */
static InsertOutcome
insert_speculative(WriteState *w, Relation rel)
{
	TupleTableSlot *slot = w->newslot;
	List	   *recheck;
	ItemPointerData conflict;
	uint32		token;
	bool		clash;

	if (!insert_checked(w, rel))
		return INSERT_SKIPPED;
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (!ExecCheckIndexConstraints(w->rri, slot, w->estate, &conflict, NIL))
		{
			conflict_visible(w, rel, &conflict);
			return INSERT_CONFLICT;
		}
		/* others wait on this token, not on the transaction, for the outcome */
		token = SpeculativeInsertionLockAcquire(GetCurrentTransactionId());
		table_tuple_insert_speculative(rel, slot, w->estate->es_output_cid, 0, NULL, token);
		clash = false;
		recheck = ExecInsertIndexTuples(w->rri, slot, w->estate, false, true, &clash, NIL);
		table_tuple_complete_speculative(rel, slot, token, !clash);
		SpeculativeInsertionLockRelease(GetCurrentTransactionId());
		if (!clash)
			break;
		/* a row with the key came in meanwhile: the check again finds it */
		list_free(recheck);
	}
	ExecARInsertTriggers(w->estate, w->rri, slot, recheck, NULL);
	list_free(recheck);
	return INSERTED;
}

/*
 * One plain insertion of the row in w->newslot, as INSERT makes it: a row
 * with the same key is a unique violation (for a batch whose keys were
 * probed before, and the other rows of a create).  Returns false when a
 * BEFORE INSERT row trigger skipped it.
 */
static bool
insert_plain(WriteState *w, Relation rel)
{
	TupleTableSlot *slot = w->newslot;
	List	   *recheck;

	if (!insert_checked(w, rel))
		return false;
	table_tuple_insert(rel, slot, w->estate->es_output_cid, 0, NULL);
	recheck = ExecInsertIndexTuples(w->rri, slot, w->estate, false, false, NULL, NIL);
	ExecARInsertTriggers(w->estate, w->rri, slot, recheck, NULL);
	list_free(recheck);
	return true;
}

/* Whether the insert plan names every column of the table (none left to its default). */
static bool
insert_covers_table(const CoreLayout *l)
{
	TupleDesc	desc = l->desc;
	bool	   *named = palloc0(sizeof(bool) * desc->natts);
	int			i,
				k;
	bool		all = true;

	named[l->partition_att - 1] = named[l->id_att - 1] = named[l->caps_att - 1] = true;
	for (k = 0; k < FF_CORE_NIMMUTABLE; k++)
		named[l->immutable[k].attnum - 1] = true;
	for (k = 0; k < FF_CORE_NMUTABLE; k++)
		named[l->fields[k].attnum - 1] = true;
	for (i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped && !named[i])
			all = false;
	pfree(named);
	return all;
}

/*
 * ff_core_write_insert
 *		Runs n inserts of the plan built by exec_core.c (the arguments of
 *		each in values and nulls) through the executor's single-row path,
 *		row triggers, constraints and index entries as the statement has
 *		them, without starting a statement's executor, which cost a create
 *		two thirds of its instructions (test/bench/README.md).  Unless the
 *		caller probed the keys (probed), each insert is INSERT ... ON
 *		CONFLICT DO NOTHING's (a speculative insertion): a row whose key
 *		exists is skipped.  A batch that probed its keys inserts as its set
 *		statement does, plainly: a row with one of its keys inserted since
 *		is a unique violation, which the caller reports; its rows go in key
 *		order, as the set statement inserts them, so that two batches cannot
 *		deadlock on each other's new keys.  Returns the rows inserted (a row
 *		trigger may skip one), or -1 when the table has a column the plan
 *		does not name (its default is the statement's to compute) or the
 *		tests ask for the statement: the caller then runs it.  No privilege
 *		is checked here: the engine's functions run as the extension's
 *		owner.
 */
int64
ff_core_write_insert(FFPlan *insert, int n, const Datum *values, const bool *nulls, bool probed)
{
	int			nargs = insert->nargs;
	Relation	rel;
	CoreLayout *layout;
	WriteState	w;
	volatile int64 done = -1;

	if (ff_test_store_by_key)
		return -1;
	rel = open_core();
	layout = ff_core_layout(rel);
	ff_core_layout_users++;
	PG_TRY();
	{
		if (insert_covers_table(layout) && direct_write_ok(rel, CMD_INSERT))
		{
			/* by key, as the set statement inserts them */
			ExecIdOrder *order = palloc(sizeof(ExecIdOrder) * Max(n, 1));
			int			r;

			for (r = 0; r < n; r++)
			{
				order[r].id.partition = DatumGetInt16(values[r * nargs]);
				order[r].id.uuid = *DatumGetUUIDP(values[r * nargs + 1]);
				order[r].pos = r;
			}
			qsort(order, n, sizeof(ExecIdOrder), ff_exec_id_cmp);
			done = 0;
			write_begin(&w, rel, NULL, layout->write.checks, CMD_INSERT);
			for (r = 0; r < n; r++)
			{
				MemoryContext old;

				CHECK_FOR_INTERRUPTS();
				old = MemoryContextSwitchTo(GetPerTupleMemoryContext(w.estate));
				insert_row(layout, &values[order[r].pos * nargs], &nulls[order[r].pos * nargs], w.newslot);
				MemoryContextSwitchTo(old);
				/*
				 * A single row opens only the indexes it enters (a partial
				 * index it does not enter is no arbiter of its conflicts
				 * either); a batch opens them all once.
				 */
				if (r == 0)
					open_indexes(w.rri, &layout->write, w.estate, n == 1 ? w.newslot : NULL, CMD_INSERT);
				if (probed ? insert_plain(&w, rel) : insert_speculative(&w, rel) == INSERTED)
					done++;
				ResetPerTupleExprContext(w.estate);
			}
			write_end(&w);
			pfree(order);
		}
	}
	PG_FINALLY();
	{
		ff_core_layout_users--;
	}
	PG_END_TRY();
	table_close(rel, NoLock);
	if (done > 0)
		CommandCounterIncrement();
	return done;
}


/* ---- the other rows of a create ---- */

/*
 * ff_write_insert_rows
 *		Inserts nrows rows into ff.<relname> through the executor's
 *		single-row path (row triggers, constraints, index entries and unique
 *		checks as an INSERT statement has them), its columns named in cols
 *		(ncols of them, of the types types), row r's values at
 *		values[r * ncols] (nulls alike); a column not named gets NULL, as
 *		the statement gives a column without a default.  Returns the rows
 *		inserted (a row trigger may skip one), or -1, having written
 *		nothing, when the statement must insert them: a column named with
 *		another type (a domain included), a column not named with a
 *		default, any generated or identity column, a table that is not a
 *		plain one, or anything only a statement does.  An INSERT
 *		statement's executor start-up was a sixth of a single create's
 *		instructions, and a batch's set statement 18 000 a row.  No
 *		privilege is checked here: the engine's functions run as the
 *		extension's owner.
 */
int64
ff_write_insert_rows(const char *relname, int ncols, const char *const *cols, const Oid *types,
					 int nrows, const Datum *values, const bool *nulls)
{
	Relation	rel = table_open(ff_rel_lock(relname, RowExclusiveLock), NoLock);
	TupleDesc	desc = RelationGetDescr(rel);
	WriteState	w;
	int		   *col_of = palloc(sizeof(int) * Max(desc->natts, 1));
	int64		done = 0;
	int			named = 0,
				i,
				k,
				r;
	bool		direct = !ff_test_store_by_key && direct_write_ok(rel, CMD_INSERT);

	/* each column of the table is one of cols, of its type, or NULL as the statement leaves it */
	for (i = 0; direct && i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		col_of[i] = -1;
		if (att->attisdropped)
			continue;
		if (att->attgenerated || att->attidentity)
			direct = false;
		for (k = 0; k < ncols && strcmp(NameStr(att->attname), cols[k]) != 0; k++)
			;
		if (k == ncols)
			direct = direct && !att->atthasdef;
		else
		{
			direct = direct && att->atttypid == types[k];
			col_of[i] = k;
			named++;
		}
	}
	if (!direct || named != ncols)
	{
		table_close(rel, NoLock);
		pfree(col_of);
		return -1;
	}
	write_begin(&w, rel, NULL, NULL, CMD_INSERT);
	ExecOpenIndices(w.rri, false);
	for (r = 0; r < nrows; r++)
	{
		TupleTableSlot *slot = w.newslot;

		CHECK_FOR_INTERRUPTS();
		ExecClearTuple(slot);
		for (i = 0; i < desc->natts; i++)
		{
			slot->tts_values[i] = col_of[i] < 0 ? (Datum) 0 : values[r * ncols + col_of[i]];
			slot->tts_isnull[i] = col_of[i] < 0 ? true : nulls[r * ncols + col_of[i]];
		}
		ExecStoreVirtualTuple(slot);
		if (insert_plain(&w, rel))
			done++;
		ResetPerTupleExprContext(w.estate);
	}
	write_end(&w);
	table_close(rel, NoLock);
	pfree(col_of);
	CommandCounterIncrement();
	return done;
}
