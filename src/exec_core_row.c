/*-------------------------------------------------------------------------
 *
 * exec_core_row.c
 *	  The execution core row as the table stores it: where each field's
 *	  column is (the table's layout as this backend last saw it), and a
 *	  stored version taken apart into an ExecCore.
 *
 *	  The locking reads (exec_core_lock.c) lock a version on its page and
 *	  take it apart here once, by column number, enums by their OIDs,
 *	  instead of a statement's select list of seventy columns (enums cast
 *	  to text, the capability array joined), whose executor start-up and
 *	  projection cost each read more than the row itself (profiled in
 *	  test/bench/README.md).  The store (exec_core_write.c) uses the same
 *	  layout to put the fields back.
 *
 * IDENTIFICATION
 *	  src/exec_core_row.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/tupdesc.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/array.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "exec_core.h"
#include "exec_core_row.h"

static CoreLayout *layout = NULL;
static uint64 layout_gen = 0;	/* invalidations that may concern it */
static bool layout_building = false;
static bool callback_registered = false;

/* the indexes of CoreScanSet, by name */
const char *const ff_core_scan_index_names[FF_CORE_NSCANSETS] = {
	"execution_eligible_idx", "execution_lease_lost_idx", "execution_lease_expiry_idx"
};

/* callers holding the layout now (a store in progress; see ff_core_layout) */
int			ff_core_layout_users = 0;

/*
 * Counts an invalidation of the table or of one of its indexes: a caller
 * holding the layout keeps using it (its lock on the table keeps it true);
 * the next lookup rebuilds it.  Any invalidation during a build makes what
 * it builds stale (an index's readiness changed while it was read).
 */
static void
layout_forget(Datum arg, Oid relid)
{
	int			i;

	if (layout_building || relid == InvalidOid ||
		(layout != NULL && relid == layout->relid))
	{
		layout_gen++;
		return;
	}
	for (i = 0; layout != NULL && i < layout->write.nindexes; i++)
		if (relid == layout->write.indexoids[i])
			layout_gen++;
}

static AttrNumber
column_of(TupleDesc desc, const char *name)
{
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		if (!a->attisdropped && strcmp(NameStr(a->attname), name) == 0)
			return a->attnum;
	}
	elog(ERROR, "ff.execution has no column \"%s\"", name);
	return InvalidAttrNumber;
}

static void
layout_field(TupleDesc desc, FieldMap *f, const char *name, FieldKind kind,
			 const char *const *labels)
{
	f->name = name;
	f->kind = kind;
	f->labels = labels;
	f->attnum = column_of(desc, name);
	f->typid = TupleDescAttr(desc, f->attnum - 1)->atttypid;
	f->enum_oids = NULL;
	f->nlabels = 0;
	if (kind == FIELD_ENUM)
	{
		int			i;

		for (f->nlabels = 0; labels[f->nlabels] != NULL; f->nlabels++)
			;
		f->enum_oids = palloc(sizeof(Oid) * Max(f->nlabels, 1));
		for (i = 0; i < f->nlabels; i++)
		{
			HeapTuple	t = SearchSysCache2(ENUMTYPOIDNAME, ObjectIdGetDatum(f->typid),
											CStringGetDatum(labels[i]));

			f->enum_oids[i] = InvalidOid;
			if (HeapTupleIsValid(t))
			{
				f->enum_oids[i] = ((Form_pg_enum) GETSTRUCT(t))->oid;
				ReleaseSysCache(t);
			}
		}
	}
	else if ((kind == FIELD_TEXT && f->typid != TEXTOID) ||
			 (kind == FIELD_UUID && f->typid != UUIDOID) ||
			 (kind == FIELD_INT && f->typid != INT8OID && f->typid != INT4OID && f->typid != INT2OID))
		elog(ERROR, "ff.execution column \"%s\" has an unexpected type %u", name, f->typid);
}

/*
 * The definitions of the CoreScanSet indexes, as sql/install/10_exec_tables.sql
 * creates them and pg_get_indexdef prints them with every name qualified:
 * a claim walks an index in its order and trusts its predicate not to
 * leave out a row of the set, so any other index of the name is not used.
 */
static const char *const scan_index_defs[FF_CORE_NSCANSETS] = {
	("CREATE INDEX execution_eligible_idx ON ff.execution USING btree "
	 "(lane_id, priority DESC, created_at, partition, execution_id) "
	 "WHERE ((lifecycle_phase = 'runnable'::ff.lifecycle_phase) "
	 "AND (eligibility_state = 'eligible_now'::ff.eligibility_state))"),
	("CREATE INDEX execution_lease_lost_idx ON ff.execution USING btree (lane_id, lease_expires_at) "
	 "WHERE ((lifecycle_phase = 'active'::ff.lifecycle_phase) AND (ownership_state = ANY "
	 "(ARRAY['lease_expired_reclaimable'::ff.ownership_state, 'lease_revoked'::ff.ownership_state])))"),
	("CREATE INDEX execution_lease_expiry_idx ON ff.execution USING btree (lease_expires_at) "
	 "WHERE ((lifecycle_phase = 'active'::ff.lifecycle_phase) AND (ownership_state = 'leased'::ff.ownership_state))")
};

/* the columns those definitions name: a column renamed (and another added under its name) changes their text */
static const char *const scan_index_columns[] = {
	"lane_id", "priority", "created_at", "partition", "execution_id", "lifecycle_phase",
	"eligibility_state", "ownership_state", "lease_expires_at"
};

/*
 * The index of each set found as installed, by OID, the xmin of its
 * pg_class row and the attribute numbers of the columns its definition
 * names: its printed definition does not change while all three stay (a
 * rename or any ALTER of the index writes a new row; a renamed column moves
 * its name to another number), so a rebuilt layout (after each ANALYZE of
 * the table, say) need not print it again (~2 ms a backend).
 */
static Oid	verified_oid[FF_CORE_NSCANSETS];
static TransactionId verified_xmin[FF_CORE_NSCANSETS];
static AttrNumber verified_atts[FF_CORE_NSCANSETS][lengthof(scan_index_columns)];

/* Index indexoid kept as the index of a CoreScanSet when it has the set's name and definition. */
static void
scan_index(CoreLayout *l, TupleDesc desc, Oid indexoid)
{
	HeapTuple	t = SearchSysCache1(RELOID, ObjectIdGetDatum(indexoid));
	TransactionId xmin;
	AttrNumber	atts[lengthof(scan_index_columns)];
	char	   *def;
	int			set,
				i;
	int			nest;

	if (!HeapTupleIsValid(t))
		return;
	for (set = 0; set < FF_CORE_NSCANSETS; set++)
		if (strcmp(NameStr(((Form_pg_class) GETSTRUCT(t))->relname), ff_core_scan_index_names[set]) == 0)
			break;
	xmin = HeapTupleHeaderGetXmin(t->t_data);
	ReleaseSysCache(t);
	if (set == FF_CORE_NSCANSETS)
		return;
	for (i = 0; i < lengthof(scan_index_columns); i++)
		atts[i] = column_of(desc, scan_index_columns[i]);
	if (verified_oid[set] == indexoid && TransactionIdEquals(verified_xmin[set], xmin) &&
		memcmp(verified_atts[set], atts, sizeof(atts)) == 0)
	{
		l->scan_oids[set] = indexoid;
		return;
	}
	/* every name qualified, whatever the caller's search_path */
	nest = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	def = TextDatumGetCString(DirectFunctionCall1(pg_get_indexdef, ObjectIdGetDatum(indexoid)));
	AtEOXact_GUC(false, nest);
	if (strcmp(def, scan_index_defs[set]) != 0)
		return;
	l->scan_oids[set] = indexoid;
	verified_oid[set] = indexoid;
	verified_xmin[set] = xmin;
	memcpy(verified_atts[set], atts, sizeof(atts));
}

#define LAY_T(n) layout_field(desc, &fields[k++], #n, FIELD_TEXT, NULL);
#define LAY_I(n) layout_field(desc, &fields[k++], #n, FIELD_INT, NULL);
#define LAY_U(n) layout_field(desc, &fields[k++], #n, FIELD_UUID, NULL);
#define LAY_E(n, ct, lab, st) layout_field(desc, &fields[k++], #n, FIELD_ENUM, lab);

static CoreLayout *
build_layout(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "ff core layout",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	CoreLayout *l = NULL;

	PG_TRY();
	{
		FieldMap   *fields;
		int			k;

		l = palloc0(sizeof(CoreLayout));
		l->relid = RelationGetRelid(rel);
		/* with its missing values: columns added since a row was written */
		l->desc = CreateTupleDescCopyConstr(desc);
		l->partition_att = column_of(desc, "partition");
		if (TupleDescAttr(desc, l->partition_att - 1)->atttypid != INT2OID)
			elog(ERROR, "ff.execution column \"partition\" is not a smallint");
		l->id_att = column_of(desc, "execution_id");
		l->caps_att = column_of(desc, "required_capabilities");
		l->namespace_att = column_of(desc, "namespace");
		l->pkey_oid = RelationGetPrimaryKeyIndex(rel);
		if (!OidIsValid(l->pkey_oid))
			elog(ERROR, "ff.execution has no primary key");
		if (TupleDescAttr(desc, l->id_att - 1)->atttypid != UUIDOID ||
			TupleDescAttr(desc, l->caps_att - 1)->atttypid != TEXTARRAYOID)
			elog(ERROR, "ff.execution's key or capability column has an unexpected type");
		fields = l->immutable;
		k = 0;
		FF_CORE_IMMUTABLE_FIELDS(LAY_T, LAY_I, LAY_U, LAY_E)
		fields = l->fields;
		k = 0;
		FF_CORE_MUTABLE_FIELDS(LAY_T, LAY_I, LAY_U, LAY_E)
		for (k = 0; k < FF_CORE_NMUTABLE; k++)
			l->updated_cols = bms_add_member(l->updated_cols,
											 l->fields[k].attnum - FirstLowInvalidHeapAttributeNumber);
		ff_core_write_cache_build(rel, &l->write);
		for (k = 0; k < l->write.nindexes; k++)
			scan_index(l, desc, l->write.indexoids[k]);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	return l;
}

/*
 * ff_core_layout
 *		The layout of ff.execution (rel), rebuilt after any change of the
 *		table.  One a caller still holds (ff_core_layout_users, a store in
 *		progress whose row trigger reads a row) is not freed at once: it
 *		moves under the transaction, which that caller ends within.
 */
CoreLayout *
ff_core_layout(Relation rel)
{
	CoreLayout *l;
	uint64		gen = layout_gen;

	if (layout != NULL && layout->relid == RelationGetRelid(rel) &&
		(layout->gen == gen || ff_core_layout_users > 0))
		return layout;
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(layout_forget, (Datum) 0);
		callback_registered = true;
	}
	/* a failed build leaves the old layout stale: its generation is behind */
	layout_building = true;
	PG_TRY();
	{
		l = build_layout(rel);
	}
	PG_FINALLY();
	{
		layout_building = false;
	}
	PG_END_TRY();
	l->gen = gen;
	if (layout != NULL)
	{
		MemoryContext cxt = GetMemoryChunkContext(layout);

		if (ff_core_layout_users > 0)
			MemoryContextSetParent(cxt, TopTransactionContext);
		else
			MemoryContextDelete(cxt);
	}
	layout = l;
	return l;
}

/* ---- a stored version -> ExecCore ---- */

static char *
get_text(const Datum *v, const bool *n, const FieldMap *f)
{
	return n[f->attnum - 1] ? NULL : TextDatumGetCString(v[f->attnum - 1]);
}

static int64
get_int(const Datum *v, const bool *n, const FieldMap *f)
{
	return n[f->attnum - 1] ? FF_NULL : ff_datum_int64(v[f->attnum - 1], f->typid, f->attnum);
}

static UuidOpt
get_uuid(const Datum *v, const bool *n, const FieldMap *f)
{
	UuidOpt		u;

	u.set = !n[f->attnum - 1];
	if (u.set)
		u.v = *DatumGetUUIDP(v[f->attnum - 1]);
	else
		memset(&u.v, 0, sizeof(u.v));
	return u;
}

static int
get_enum(const Datum *v, const bool *n, const FieldMap *f)
{
	Oid			o = n[f->attnum - 1] ? InvalidOid : DatumGetObjectId(v[f->attnum - 1]);
	int			i;
	HeapTuple	t;

	for (i = 0; OidIsValid(o) && i < f->nlabels; i++)
		if (f->enum_oids[i] == o)
			return i;
	/* a value added to the type since the layout was built: by its label */
	t = OidIsValid(o) ? SearchSysCache1(ENUMOID, ObjectIdGetDatum(o)) : NULL;
	if (HeapTupleIsValid(t))
	{
		i = ff_label_lookup(f->labels, NameStr(((Form_pg_enum) GETSTRUCT(t))->enumlabel));
		ReleaseSysCache(t);
		if (i >= 0)
			return i;
	}
	elog(ERROR, "unexpected value %u in column \"%s\"", o, f->name);
	return -1;
}

/*
 * The capability array as its CSV (array_to_string(a, ',')), NULL when it
 * is empty.
 */
static char *
caps_csv(Datum arr)
{
	ArrayType  *a = DatumGetArrayTypeP(arr);
	Datum	   *elems;
	bool	   *enulls;
	int			nelems,
				i;
	bool		printed = false;
	StringInfoData buf;

	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &enulls, &nelems);
	initStringInfo(&buf);
	for (i = 0; i < nelems; i++)
	{
		if (enulls[i])
			continue;
		if (printed)
			appendStringInfoChar(&buf, ',');
		appendBinaryStringInfo(&buf, VARDATA_ANY(DatumGetPointer(elems[i])),
							   VARSIZE_ANY_EXHDR(DatumGetPointer(elems[i])));
		printed = true;
	}
	pfree(elems);
	pfree(enulls);
	if ((Pointer) a != DatumGetPointer(arr))
		pfree(a);
	if (buf.len == 0)
	{
		pfree(buf.data);
		return NULL;
	}
	return buf.data;
}

#define GET_T(n) c->n = get_text(v, isnull, f++);
#define GET_I(n) c->n = get_int(v, isnull, f++);
#define GET_U(n) c->n = get_uuid(v, isnull, f++);
#define GET_E(n, ct, lab, st) c->n = (ct) get_enum(v, isnull, f++);

/*
 * ff_core_read_tuple
 *		The fields of row version tuple of ff.execution (layout l) set in c
 *		(allocated in the current memory context); the rest of c is left to
 *		the caller.  The tuple's buffer stays pinned while it is read.
 */
void
ff_core_read_tuple(HeapTuple tuple, const CoreLayout *l, ExecCore *c)
{
	Datum	   *v;
	bool	   *isnull;
	const FieldMap *f;

	v = palloc(sizeof(Datum) * l->desc->natts);
	isnull = palloc(sizeof(bool) * l->desc->natts);
	heap_deform_tuple(tuple, l->desc, v, isnull);
	if (isnull[l->partition_att - 1] || isnull[l->id_att - 1])
		elog(ERROR, "a core row without its key");
	c->id.partition = DatumGetInt16(v[l->partition_att - 1]);
	c->id.uuid = *DatumGetUUIDP(v[l->id_att - 1]);
	c->required_caps_csv = isnull[l->caps_att - 1] ? NULL : caps_csv(v[l->caps_att - 1]);
	f = l->immutable;
	FF_CORE_IMMUTABLE_FIELDS(GET_T, GET_I, GET_U, GET_E)
	f = l->fields;
	FF_CORE_MUTABLE_FIELDS(GET_T, GET_I, GET_U, GET_E)
	pfree(v);
	pfree(isnull);
}
