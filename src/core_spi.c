/*-------------------------------------------------------------------------
 *
 * core_spi.c
 *	  Kept SPI plans and small accessors for their results.
 *
 *	  Plans are prepared with SPI_prepare_cursor (generic on request) and
 *	  moved out of the SPI context with SPI_keepplan the first time a
 *	  statement runs in a backend.  Values read with the accessors live in
 *	  the current SPI procedure context and vanish at SPI_finish; results
 *	  that outlive the call are moved out by ff_spi_finish_datum.
 *
 *	  Deferred writes (core_spi.h) record calls of plans that have a set
 *	  form and run each plan once for all of them at the flush.
 *
 * IDENTIFICATION
 *	  src/core_spi.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "core_memory.h"
#include "core_spi.h"

/*
 * The statements this backend has kept, in the order they were first
 * prepared: what ff._engine_statements() reports, so that a test can
 * explain the engine's own statements rather than copies of them.
 */
typedef struct KeptStatement
{
	char	   *sql;
	int			nargs;
	Oid			argtypes[FF_PLAN_MAX_ARGS];
	bool		generic;
	bool		key_lookups;
	struct KeptStatement *next;
} KeptStatement;

static KeptStatement *kept_head = NULL,
		   *kept_tail = NULL;

static void
remember_statement(const char *sql, int nargs, const Oid *argtypes, bool generic, bool key_lookups)
{
	KeptStatement *k = MemoryContextAllocZero(TopMemoryContext, sizeof(KeptStatement));

	k->sql = MemoryContextStrdup(TopMemoryContext, sql);
	k->nargs = nargs;
	memcpy(k->argtypes, argtypes, sizeof(Oid) * nargs);
	k->generic = generic;
	k->key_lookups = key_lookups;
	if (kept_tail)
		kept_tail->next = k;
	else
		kept_head = k;
	kept_tail = k;
}

static SPIPlanPtr
keep_plan(const char *sql, int nargs, Oid *argtypes, bool generic, bool key_lookups)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes,
										  generic ? CURSOR_OPT_GENERIC_PLAN : 0);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	remember_statement(sql, nargs, argtypes, generic, key_lookups);
	return plan;
}

PG_FUNCTION_INFO_V1(ff_engine_statements);

/*
 * ff._engine_statements() -> TABLE(statement, argument_types, generic,
 * key_lookups)
 *		Every statement the engine has kept in this backend so far (a
 *		statement is kept the first time its code path runs), with the
 *		argument types it was prepared with, whether it is planned once for
 *		all arguments (generic) and whether it is planned as index lookups
 *		(key_lookups).  For tests and diagnosis: EXPLAIN what the engine
 *		runs.
 */
Datum
ff_engine_statements(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	KeptStatement *k;

	InitMaterializedSRF(fcinfo, 0);
	for (k = kept_head; k != NULL; k = k->next)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		Datum	   *types = palloc(sizeof(Datum) * Max(k->nargs, 1));
		int			i;

		CHECK_FOR_INTERRUPTS();
		for (i = 0; i < k->nargs; i++)
			types[i] = ObjectIdGetDatum(k->argtypes[i]);
		values[0] = CStringGetTextDatum(k->sql);
		values[1] = PointerGetDatum(construct_array(types, k->nargs, REGTYPEOID, sizeof(Oid), true, TYPALIGN_INT));
		values[2] = BoolGetDatum(k->generic);
		values[3] = BoolGetDatum(k->key_lookups);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

static const char *const key_lookup_gucs[] = {
	"enable_seqscan", "enable_bitmapscan", "enable_hashjoin", "enable_mergejoin"
};

/*
 * Runs a kept plan.  With key_lookups (FFPlan.key_lookups), a (re)planning
 * on the way sees only index scans and nested loops, in a GUC nest level of
 * its own (restored after, or by the abort).
 */
static uint64
run_plan(SPIPlanPtr plan, const char *sql, int nargs, Datum *values,
		 const bool *nulls, long tcount, bool key_lookups)
{
	char		nullflags[FF_PLAN_MAX_ARGS + 1];
	int			i,
				rc,
				gucs = 0;

	for (i = 0; i < nargs; i++)
		nullflags[i] = (nulls != NULL && nulls[i]) ? 'n' : ' ';
	nullflags[nargs] = '\0';
	if (key_lookups)
	{
		gucs = NewGUCNestLevel();
		for (i = 0; i < lengthof(key_lookup_gucs); i++)
			(void) set_config_option(key_lookup_gucs[i], "off", PGC_USERSET, PGC_S_SESSION,
									 GUC_ACTION_SAVE, true, 0, false);
	}
	rc = SPI_execute_plan(plan, values, nullflags, false, tcount);
	if (key_lookups)
		AtEOXact_GUC(true, gucs);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed for \"%s\": %s", sql,
			 SPI_result_code_string(rc));
	return SPI_processed;
}

uint64
ff_plan_exec(FFPlan *p, Datum *values, const bool *nulls, long tcount)
{
	if (p->after_flush == NULL && ff_plan_defer(p, values, nulls))
		return 1;
	if (p->plan == NULL)
		p->plan = keep_plan(p->sql, p->nargs, p->argtypes, p->generic, p->key_lookups);
	return run_plan(p->plan, p->sql, p->nargs, values, nulls, tcount, p->key_lookups);
}

static bool defer_writes_table(const char *table_name);

/* ---- ff.<name> by name, without a catalogue lookup each time ---- */

#define REL_OID_SLOTS 16

static struct
{
	char		name[NAMEDATALEN];
	Oid			oid;			/* InvalidOid: to look up again */
}			rel_oids[REL_OID_SLOTS];
static int	n_rel_oids = 0;
static bool rel_oids_callback = false;

/* Any invalidation of a relation kept here (renamed, dropped, altered) sends its next use to the catalogue. */
static void
rel_oids_forget(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < n_rel_oids; i++)
		if (relid == InvalidOid || rel_oids[i].oid == relid)
			rel_oids[i].oid = InvalidOid;
}

static void
rel_oids_forget_all(Datum arg, int cacheid, uint32 hashvalue)
{
	rel_oids_forget(arg, InvalidOid);
}

/*
 * ff_rel_lock
 *		The OID of relation ff.<name>, locked in mode, as
 *		RangeVarGetRelid(ff.<name>, mode) finds it; an error when there is
 *		none.  The name is looked up once per backend and again after any
 *		invalidation of the relation: the lock taken first, the answer is
 *		kept only if no invalidation of it arrived meanwhile (the lookup
 *		cost a transition's statement-free reads ~2 % of their
 *		instructions).
 */
Oid
ff_rel_lock(const char *name, LOCKMODE mode)
{
	int			i;
	Oid			oid;

	for (i = 0; i < n_rel_oids; i++)
		if (strcmp(rel_oids[i].name, name) == 0)
			break;
	if (i < n_rel_oids && OidIsValid(rel_oids[i].oid))
	{
		oid = rel_oids[i].oid;
		LockRelationOid(oid, mode);
		if (rel_oids[i].oid == oid)
			return oid;
		/* renamed or dropped before the lock: by name again, as RangeVarGetRelid retries */
		UnlockRelationOid(oid, mode);
	}
	if (!rel_oids_callback)
	{
		CacheRegisterRelcacheCallback(rel_oids_forget, (Datum) 0);
		/* a schema renamed (and another named ff) changes no relation */
		CacheRegisterSyscacheCallback(NAMESPACEOID, rel_oids_forget_all, (Datum) 0);
		rel_oids_callback = true;
	}
	oid = RangeVarGetRelid(makeRangeVar("ff", (char *) name, -1), mode, false);
	if (i == n_rel_oids && n_rel_oids < REL_OID_SLOTS && strlen(name) < NAMEDATALEN)
		strlcpy(rel_oids[n_rel_oids++].name, name, NAMEDATALEN);
	if (i < n_rel_oids)
		rel_oids[i].oid = oid;
	return oid;
}

/*
 * The scan keys of the first nkeys columns of primary key idx of
 * ff.<table_name>, equal to keys (int2, int4, int8 or uuid, as types says).
 */
static void
pkey_scankeys(Relation idx, const char *table_name, int nkeys, const Datum *keys,
			  const Oid *types, ScanKeyData *sk)
{
	int			i;

	for (i = 0; i < nkeys; i++)
	{
		RegProcedure eq;

		switch (types[i])
		{
			case INT2OID:
				eq = F_INT2EQ;
				break;
			case INT4OID:
				eq = F_INT4EQ;
				break;
			case INT8OID:
				eq = F_INT8EQ;
				break;
			case UUIDOID:
				eq = F_UUID_EQ;
				break;
			default:
				elog(ERROR, "cannot probe an index by a key of type %u", types[i]);
				eq = InvalidOid;
		}
		if (TupleDescAttr(RelationGetDescr(idx), i)->atttypid != types[i])
			elog(ERROR, "the primary key of ff.%s: key %d is not of type %u", table_name, i + 1, types[i]);
		ScanKeyInit(&sk[i], (AttrNumber) (i + 1), BTEqualStrategyNumber, eq, keys[i]);
	}
}

/* ff.<table_name>, and its primary key when it is a valid and ready btree of at least nkeys columns */
static Relation
pkey_open(const char *table_name, int nkeys, LOCKMODE mode, Relation *idx)
{
	Relation	heap = table_open(ff_rel_lock(table_name, mode), NoLock);
	Oid			pkey = RelationGetPrimaryKeyIndex(heap);

	*idx = OidIsValid(pkey) ? index_open(pkey, mode) : NULL;
	if (*idx != NULL &&
		(!(*idx)->rd_index->indisvalid || !(*idx)->rd_index->indisready ||
		 (*idx)->rd_rel->relam != BTREE_AM_OID || nkeys > IndexRelationGetNumberOfKeyAttributes(*idx)))
	{
		index_close(*idx, NoLock);
		*idx = NULL;
	}
	return heap;
}

/*
 * ff_pkey_may_have_key
 *		Whether the primary key of table ff.<table_name> has any entry, of a
 *		live row version or not, whose first nkeys columns equal keys (int2,
 *		int4, int8 or uuid, as types says).  None means no version of such a
 *		row exists, so a statement changing the rows with that key would
 *		change nothing: a transition skips it (a claim's delete of grants that
 *		nobody issued, a completion's close of a stream nobody opened, which
 *		cost a job ~7 % of its instructions as statements).  An entry of any
 *		version, committed or not, sends the caller to its statement, which
 *		decides as before; so do SERIALIZABLE (the statement's read of the
 *		missing key is a predicate lock this probe would not take), writes
 *		to the table deferred and not yet flushed (their rows have no entry
 *		yet) and a key that is not valid and ready.  (A batch probes each
 *		row too: with the table found by its kept OID, a probe costs less than a
 *		row of the batch's set statement, and usually no row is left.)
 */
static PkeyProbe *defer_probe(const char *table_name, int nkeys, const Oid *types);
/* the subtransaction that began the deferred writes (ff_defer_begin) */
static SubTransactionId defer_subxid = InvalidSubTransactionId;

bool
ff_pkey_may_have_key(const char *table_name, int nkeys, const Datum *keys, const Oid *types)
{
	PkeyProbe	p;
	bool		found;

	/* held for the batch's own level: a nested subtransaction's would end with it */
	if (ff_deferring() && GetCurrentSubTransactionId() == defer_subxid)
		return ff_pkey_probe(defer_probe(table_name, nkeys, types), keys);
	ff_pkey_probe_begin(&p, table_name, nkeys, types);
	found = ff_pkey_probe(&p, keys);
	ff_pkey_probe_end(&p);
	return found;
}

/*
 * Whether btree idx never held an entry: its metapage names no root page
 * (a root, once made, stays until the index is rebuilt, which our lock on
 * it excludes).  A table a deployment never writes (claim grants, streams)
 * then costs a probe one metapage read instead of a descent.
 */
static bool
key_never_used(Relation idx)
{
	/* the indexes (by file) seen with a root: never read again */
	static RelFileNode used[8];
	static int	nused = 0,
				next = 0;
	Buffer		buf;
	bool		unused;
	int			i;

	for (i = 0; i < nused; i++)
		if (RelFileNodeEquals(used[i], idx->rd_node))
			return false;
	buf = ReadBuffer(idx, BTREE_METAPAGE);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	unused = BTPageGetMeta(BufferGetPage(buf))->btm_root == P_NONE;
	UnlockReleaseBuffer(buf);
	if (!unused)
	{
		used[next] = idx->rd_node;
		next = (next + 1) % lengthof(used);
		nused = Min(nused + 1, (int) lengthof(used));
	}
	return unused;
}

/*
 * ff_pkey_probe_begin / ff_pkey_probe / ff_pkey_probe_end
 *		ff_pkey_may_have_key for many keys of one table (a claim's walk
 *		asks it of every candidate), the table and its key opened once.
 */
void
ff_pkey_probe_begin(PkeyProbe *p, const char *table_name, int nkeys, const Oid *types)
{
	p->table_name = table_name;
	p->nkeys = nkeys;
	p->types = types;
	p->heap = NULL;
	p->idx = NULL;
	p->scan = NULL;
	p->maybe_unused = true;
	if (IsolationIsSerializable() || defer_writes_table(table_name))
		return;
	p->heap = pkey_open(table_name, nkeys, AccessShareLock, &p->idx);
	if (p->idx != NULL)
		p->scan = index_beginscan(p->heap, p->idx, SnapshotAny, nkeys, 0);
}

bool
ff_pkey_probe(PkeyProbe *p, const Datum *keys)
{
	ScanKeyData sk[INDEX_MAX_KEYS];

	if (p->scan == NULL || defer_writes_table(p->table_name))
		return true;
	/* looked at again each time: another transaction may make the first entry */
	if (p->maybe_unused && (p->maybe_unused = key_never_used(p->idx)))
		return false;
	pkey_scankeys(p->idx, p->table_name, p->nkeys, keys, p->types, sk);
	index_rescan(p->scan, sk, p->nkeys, NULL, 0);
	return index_getnext_tid(p->scan, ForwardScanDirection) != NULL;
}

void
ff_pkey_probe_end(PkeyProbe *p)
{
	if (p->scan != NULL)
		index_endscan(p->scan);
	if (p->idx != NULL)
		index_close(p->idx, NoLock);
	if (p->heap != NULL)
		table_close(p->heap, NoLock);
}

/*
 * ff_pkey_fetch_begin / _next / _end
 *		Column column of the rows of ff.<table_name> whose primary key (all
 *		its nkeys columns, of types) equals the keys given to each _next, as
 *		one new snapshot sees them, each copied into the current memory
 *		context (a value stored out of line fetched); _next answers false
 *		when there is no such row.  What SELECT column ... WHERE key = keys
 *		returns, without a statement's executor start-up (a claim's payload
 *		cost it ~3 % of its instructions as a subquery), the table and its
 *		key opened once for a batch's rows.  The caller needs SELECT on the
 *		table.
 */
void
ff_pkey_fetch_begin(PkeyFetch *f, const char *table_name, int nkeys, const Oid *types,
					const char *column)
{
	AclResult	acl;

	f->table_name = table_name;
	f->nkeys = nkeys;
	f->types = types;
	f->heap = pkey_open(table_name, nkeys, AccessShareLock, &f->idx);
	acl = pg_class_aclcheck(RelationGetRelid(f->heap), GetUserId(), ACL_SELECT);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, (char *) table_name);
	if (f->idx == NULL || IndexRelationGetNumberOfKeyAttributes(f->idx) != nkeys)
		elog(ERROR, "the primary key of ff.%s is not a valid btree of %d columns", table_name, nkeys);
	f->att = get_attnum(RelationGetRelid(f->heap), column);
	if (f->att == InvalidAttrNumber)
		elog(ERROR, "ff.%s has no column \"%s\"", table_name, column);
	f->snap = RegisterSnapshot(GetTransactionSnapshot());
	f->slot = table_slot_create(f->heap, NULL);
	f->scan = index_beginscan(f->heap, f->idx, f->snap, nkeys, 0);
}

bool
ff_pkey_fetch_next(PkeyFetch *f, const Datum *keys, Datum *value, bool *isnull)
{
	ScanKeyData sk[INDEX_MAX_KEYS];
	Datum		d;
	Form_pg_attribute a;

	pkey_scankeys(f->idx, f->table_name, f->nkeys, keys, f->types, sk);
	index_rescan(f->scan, sk, f->nkeys, NULL, 0);
	*isnull = true;
	*value = (Datum) 0;
	if (!index_getnext_slot(f->scan, ForwardScanDirection, f->slot))
		return false;
	d = slot_getattr(f->slot, f->att, isnull);
	a = TupleDescAttr(RelationGetDescr(f->heap), f->att - 1);
	if (*isnull)
		;
	else if (a->attlen == -1 && VARATT_IS_EXTERNAL(DatumGetPointer(d)))
		*value = PointerGetDatum(detoast_external_attr((struct varlena *) DatumGetPointer(d)));
	else
		*value = datumCopy(d, a->attbyval, a->attlen);
	return true;
}

void
ff_pkey_fetch_end(PkeyFetch *f)
{
	index_endscan(f->scan);
	ExecDropSingleTupleTableSlot(f->slot);
	UnregisterSnapshot(f->snap);
	index_close(f->idx, NoLock);
	table_close(f->heap, NoLock);
}

/* ---- deferred writes ---- */

typedef struct Deferred
{
	FFPlan	   *plan;
	int			n,
				cap;
	Datum	   *values;			/* n rows of plan->nargs */
	bool	   *nulls;
	uint32	   *keyhash;		/* per row, when plan->key_args > 0 */
	int16		typlen[FF_PLAN_MAX_ARGS];
	bool		byval[FF_PLAN_MAX_ARGS];
	char	   *table;			/* the ff table it writes; NULL: unknown */
	struct Deferred *next;
} Deferred;

/* Non-NULL while deferring; the recorded calls live in it. */
static MemoryContext defer_cxt = NULL;
static Deferred *defer_head = NULL,
		   *defer_tail = NULL;

/*
 * The key probes of the tables a batch's items probed (ff_pkey_may_have_key
 * while deferring), each opened once for the batch and ended before its
 * flush: opening the table, its key and a scan for every item cost a
 * batched job 13 000 instructions (test/bench/README.md).  Items run no
 * statement, so nothing else opens or closes them meanwhile.
 */
#define DEFER_PROBES 4
static PkeyProbe *defer_probes[DEFER_PROBES];
static int	n_defer_probes = 0;

/*
 * The table an INSERT INTO, UPDATE or DELETE FROM statement writes, when it
 * is an ff table named first; NULL otherwise.
 */
static char *
written_table(const char *sql)
{
	static const char *const verbs[] = {"INSERT INTO ff.", "UPDATE ff.", "DELETE FROM ff."};
	int			i;

	for (i = 0; i < lengthof(verbs); i++)
		if (strncmp(sql, verbs[i], strlen(verbs[i])) == 0)
		{
			const char *t = sql + strlen(verbs[i]);

			return pnstrdup(t, strcspn(t, " (\n"));
		}
	return NULL;
}

/*
 * Whether writes deferred so far may go to ff.<table_name>: a row inserted
 * there and not yet flushed has no index entry, so a probe of its key would
 * miss it.
 */
static bool
defer_writes_table(const char *table_name)
{
	Deferred   *d;

	for (d = defer_head; d != NULL; d = d->next)
		if (d->n > 0 && (d->table == NULL || strcmp(d->table, table_name) == 0))
			return true;
	return false;
}

static void
defer_forget(void *arg)
{
	defer_cxt = NULL;
	defer_head = defer_tail = NULL;
	/* on an error the resource owner closes their relations and scans */
	n_defer_probes = 0;
}

/* The probe of ff.<table_name>'s key held for the deferred writes. */
static PkeyProbe *
defer_probe(const char *table_name, int nkeys, const Oid *types)
{
	MemoryContext old;
	PkeyProbe  *p;
	int			i;

	for (i = 0; i < n_defer_probes; i++)
	{
		p = defer_probes[i];
		if (strcmp(p->table_name, table_name) == 0 && p->nkeys == nkeys && p->types == types)
			return p;
	}
	if (n_defer_probes == DEFER_PROBES)
		elog(ERROR, "more than %d tables probed in one batch", DEFER_PROBES);
	old = MemoryContextSwitchTo(defer_cxt);
	p = palloc(sizeof(PkeyProbe));
	ff_pkey_probe_begin(p, table_name, nkeys, types);
	MemoryContextSwitchTo(old);
	defer_probes[n_defer_probes++] = p;
	return p;
}

void
ff_defer_begin(void)
{
	MemoryContextCallback *cb;

	if (defer_cxt != NULL)
		elog(ERROR, "deferred writes already begun");
	/* a child of the SPI procedure context: gone with it on any error */
	defer_cxt = AllocSetContextCreate(CurrentMemoryContext, "ff deferred writes",
									  ALLOCSET_DEFAULT_SIZES);
	defer_subxid = GetCurrentSubTransactionId();
	cb = MemoryContextAlloc(defer_cxt, sizeof(*cb));
	cb->func = defer_forget;
	cb->arg = NULL;
	MemoryContextRegisterResetCallback(defer_cxt, cb);
}

bool
ff_deferring(void)
{
	return defer_cxt != NULL;
}

MemoryContext
ff_defer_context(void)
{
	return defer_cxt;
}

static Deferred *
deferred_for(FFPlan *p)
{
	Deferred   *d;
	int			k;

	for (d = defer_head; d != NULL && d->plan != p; d = d->next)
		;
	if (d != NULL)
		return d;
	d = palloc0(sizeof(Deferred));
	d->plan = p;
	d->cap = 16;
	d->values = palloc(sizeof(Datum) * p->nargs * d->cap);
	d->nulls = palloc(sizeof(bool) * p->nargs * d->cap);
	d->keyhash = palloc(sizeof(uint32) * d->cap);
	for (k = 0; k < p->nargs; k++)
		get_typlenbyval(p->argtypes[k], &d->typlen[k], &d->byval[k]);
	d->table = written_table(p->sql);
	if (defer_tail)
		defer_tail->next = d;
	else
		defer_head = d;
	defer_tail = d;
	return d;
}

/* The row's key (its first key_args arguments): hashed, and compared. */
static uint32
key_hash(Deferred *d, Datum *values, const bool *nulls)
{
	uint32		h = 0;
	int			k;

	for (k = 0; k < d->plan->key_args; k++)
	{
		uint32		kh = 0;

		if (nulls[k])
			kh = 1;
		else if (d->byval[k])
			kh = hash_bytes((const unsigned char *) &values[k], sizeof(Datum));
		else if (d->typlen[k] > 0)
			kh = hash_bytes((const unsigned char *) DatumGetPointer(values[k]), d->typlen[k]);
		else
			elog(ERROR, "a deferred key must be of a fixed-length type");
		h = hash_combine(h, kh);
	}
	return h;
}

static bool
same_key(Deferred *d, int row, Datum *values, const bool *nulls)
{
	Datum	   *a = &d->values[row * d->plan->nargs];
	bool	   *an = &d->nulls[row * d->plan->nargs];
	int			k;

	for (k = 0; k < d->plan->key_args; k++)
		if (an[k] || nulls[k] || !datumIsEqual(a[k], values[k], d->byval[k], d->typlen[k]))
			return false;
	return true;
}

static const bool no_nulls[FF_PLAN_MAX_ARGS];

bool
ff_plan_defer(FFPlan *p, Datum *values, const bool *nulls)
{
	MemoryContext old;
	Deferred   *d;
	Datum	   *row;
	bool	   *rownulls;
	uint32		h = 0;
	int			k,
				r;

	if (defer_cxt == NULL || (p->set_sql == NULL && p->flush_direct == NULL))
		return false;
	if (nulls == NULL)
		nulls = no_nulls;
	old = MemoryContextSwitchTo(defer_cxt);
	d = deferred_for(p);
	r = d->n;
	if (p->key_args > 0)
	{
		h = key_hash(d, values, nulls);
		for (r = 0; r < d->n; r++)
			if (d->keyhash[r] == h && same_key(d, r, values, nulls))
				break;
	}
	if (r == d->n)
	{
		if (d->n == d->cap)
		{
			d->cap *= 2;
			d->values = repalloc(d->values, sizeof(Datum) * p->nargs * d->cap);
			d->nulls = repalloc(d->nulls, sizeof(bool) * p->nargs * d->cap);
			d->keyhash = repalloc(d->keyhash, sizeof(uint32) * d->cap);
		}
		d->n++;
	}
	d->keyhash[r] = h;
	row = &d->values[r * p->nargs];
	rownulls = &d->nulls[r * p->nargs];
	for (k = 0; k < p->nargs; k++)
	{
		rownulls[k] = nulls[k];
		row[k] = nulls[k] ? (Datum) 0 : datumCopy(values[k], d->byval[k], d->typlen[k]);
	}
	MemoryContextSwitchTo(old);
	return true;
}

/*
 * The set statement's FROM item: one array of anonymous rows, unnested
 * with a column definition list.  (One array per argument under ROWS FROM
 * costs a tuplestore per argument: ~2 ms to start for 55 columns of 100.)
 */
static void
prepare_set_plan(FFPlan *p)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	TupleDesc	desc = CreateTemplateTupleDesc(p->nargs);
	StringInfoData rows;
	Oid			type = RECORDARRAYOID;
	int			k;

	initStringInfo(&rows);
	appendStringInfoString(&rows, "pg_catalog.unnest($1) AS v(");
	for (k = 0; k < p->nargs; k++)
	{
		TupleDescInitEntry(desc, k + 1, NULL, p->argtypes[k], -1, 0);
		appendStringInfo(&rows, "%sa%d %s", k ? ", " : "", k + 1,
						 format_type_be_qualified(p->argtypes[k]));
	}
	appendStringInfoChar(&rows, ')');
	p->set_desc = BlessTupleDesc(desc);
	MemoryContextSwitchTo(old);
	p->set_plan = keep_plan(psprintf(p->set_sql, rows.data), 1, &type, true, true);
	pfree(rows.data);
}

/*
 * Runs one plan's recorded calls as its set statement, as key lookups:
 * every set statement writes or joins its rows by primary key.  Returns
 * the rows it touched.
 */
static uint64
flush_set(Deferred *d)
{
	FFPlan	   *p = d->plan;
	Datum	   *rows = palloc(sizeof(Datum) * d->n);
	Datum		array;
	int			r;

	if (p->set_plan == NULL)
		prepare_set_plan(p);
	for (r = 0; r < d->n; r++)
		rows[r] = HeapTupleGetDatum(heap_form_tuple(p->set_desc,
													&d->values[r * p->nargs],
													&d->nulls[r * p->nargs]));
	array = PointerGetDatum(construct_array(rows, d->n, RECORDOID, -1, false,
											TYPALIGN_DOUBLE));
	return run_plan(p->set_plan, p->set_sql, 1, &array, NULL, 0, true);
}

/* One plan's recorded calls written: by its own writer, or its set statement. */
static uint64
flush_rows(Deferred *d)
{
	FFPlan	   *p = d->plan;
	uint64		n;

	n = p->flush_direct != NULL ? p->flush_direct(p, d->n, d->values, d->nulls) : FF_FLUSH_BY_STATEMENT;
	return n == FF_FLUSH_BY_STATEMENT ? flush_set(d) : n;
}

/* Runs one plan's recorded calls. */
static void
flush_one(Deferred *d)
{
	FFPlan	   *p = d->plan;
	MemoryContext cxt = CurrentMemoryContext;
	volatile uint64 n = 0;

	/*
	 * Rows a batch locked cannot go missing; a row it creates can have
	 * been created by a concurrent transaction first (a unique violation,
	 * or no row with ON CONFLICT DO NOTHING): the whole batch fails, and a
	 * retry sees that row.  The transaction is failing either way, so the
	 * violation is reported as the batch's error without a subtransaction,
	 * however the rows were written.
	 */
	PG_TRY();
	{
		n = flush_rows(d);
	}
	PG_CATCH();
	{
		ErrorData  *e;

		if (!p->insert_race || geterrcode() != ERRCODE_UNIQUE_VIOLATION)
			PG_RE_THROW();
		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("a batch of %d writes met a row another transaction wrote concurrently", d->n),
				 errdetail("%s", e->detail ? e->detail : e->message),
				 errhint("Retry the call.")));
	}
	PG_END_TRY();
	if (p->each_row && n != (uint64) d->n)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("a batch of %d writes changed " UINT64_FORMAT " rows: another transaction wrote the same rows concurrently",
						d->n, n),
				 errdetail("Statement: %s", p->sql),
				 errhint("Retry the call.")));
	if (p->after_flush)
		p->after_flush((uint64) n);
}

void
ff_defer_flush(void)
{
	Deferred   *d;
	MemoryContext cxt = defer_cxt;

	if (cxt == NULL)
		elog(ERROR, "deferred writes not begun");
	while (n_defer_probes > 0)
		ff_pkey_probe_end(defer_probes[--n_defer_probes]);
	/* the set statements run as themselves: nothing is deferred any more */
	d = defer_head;
	defer_cxt = NULL;
	for (; d != NULL; d = d->next)
		flush_one(d);
	MemoryContextDelete(cxt);
}

void
ff_spi_connect(void)
{
	ff_memory_keep();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/*
 * ff_spi_finish_datum
 *		Copy a by-reference result into the caller's context, then finish.
 */
Datum
ff_spi_finish_datum(Datum d)
{
	Datum		out = SPI_datumTransfer(d, false, -1);

	SPI_finish();
	return out;
}

Datum
ff_col_datum(int row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, isnull);
}

bool
ff_col_isnull(int row, int col)
{
	bool		isnull;

	(void) ff_col_datum(row, col, &isnull);
	return isnull;
}

char *
ff_col_text(int row, int col)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}

int64
ff_col_int64(int row, int col, int64 if_null)
{
	bool		isnull;
	Datum		d = ff_col_datum(row, col, &isnull);

	if (isnull)
		return if_null;
	return ff_datum_int64(d, SPI_gettypeid(SPI_tuptable->tupdesc, col), col);
}

/* An integer column's value (type t, column col for the error) as int64. */
int64
ff_datum_int64(Datum d, Oid t, int col)
{
	if (t == INT8OID)
		return DatumGetInt64(d);
	if (t == INT4OID)
		return DatumGetInt32(d);
	if (t == INT2OID)
		return DatumGetInt16(d);
	elog(ERROR, "column %d is not an integer (type %u)", col, t);
	return 0;
}

bool
ff_col_bool(int row, int col)
{
	bool		isnull;
	Datum		d = ff_col_datum(row, col, &isnull);

	return !isnull && DatumGetBool(d);
}

/*
 * ff_run_in_subxact
 *		Runs fn(arg) in an internal subtransaction, with SPI usable inside.
 *		Returns NULL when it committed; on an error the subtransaction is
 *		rolled back, the error state cleared and the error returned, copied
 *		into cxt (the caller reports it and calls FreeErrorData).  Either
 *		way the caller is back in cxt under its own resource owner.  A query
 *		cancel or a statement timeout is never returned: it is the caller's,
 *		not the work's, and is raised again after the rollback.
 */
ErrorData *
ff_run_in_subxact(void (*fn) (void *arg), void *arg, MemoryContext cxt)
{
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	/* a rolled-back subtransaction would leave its deferred writes behind */
	if (defer_cxt != NULL)
		elog(ERROR, "a subtransaction cannot run while writes are deferred");
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	if (edata != NULL && edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
		ReThrowError(edata);
	return edata;
}


/* ---- kept tables ---- */

PG_FUNCTION_INFO_V1(ff_kept_table_changed);

static KeptTable *kept[4];
static int	nkept = 0;

/* A relcache invalidation of a kept table (or of every relation). */
static void
kept_invalidated(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < nkept; i++)
		if (relid == InvalidOid || relid == kept[i]->relid)
		{
			kept[i]->valid = false;
			kept[i]->changed = true;
		}
}

/*
 * ff_kept_fresh
 *		Whether what was read of k's table still serves.  What was read
 *		through a REPEATABLE READ or SERIALIZABLE snapshot serves that
 *		transaction only: the snapshot may predate a change whose
 *		invalidation this backend has already taken in.
 */
bool
ff_kept_fresh(KeptTable *k)
{
	return k->valid && (!k->xact_snapshot || k->lxid == MyProc->lxid);
}

/*
 * ff_kept_reading / ff_kept_read
 *		The caller reads k's table now / has read it: what it read serves
 *		unless an invalidation arrived in between (or the read failed, and
 *		ff_kept_read was never reached).
 */
void
ff_kept_reading(KeptTable *k)
{
	int			i;

	for (i = 0; i < nkept && kept[i] != k; i++)
		;
	if (i == nkept)
	{
		if (nkept == lengthof(kept))
			elog(ERROR, "more than %d kept tables", (int) lengthof(kept));
		if (nkept == 0)
			CacheRegisterRelcacheCallback(kept_invalidated, (Datum) 0);
		kept[nkept++] = k;
	}
	k->relid = get_relname_relid(k->table_name, get_namespace_oid("ff", false));
	k->valid = false;
	k->changed = false;
	k->xact_snapshot = IsolationUsesXactSnapshot();
	k->lxid = MyProc->lxid;
}

void
ff_kept_read(KeptTable *k)
{
	k->valid = !k->changed;
}

void
ff_kept_forget(KeptTable *k)
{
	k->valid = false;
}

/*
 * ff._kept_table_changed() — trigger, after every statement writing a kept
 * table: what every backend read of it is read again (at its next
 * transaction; this one's at its next statement, and again if it rolls
 * back).
 */
Datum
ff_kept_table_changed(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("ff._kept_table_changed() must be called as a trigger")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(td->tg_relation));
	return PointerGetDatum(NULL);
}
