/*-------------------------------------------------------------------------
 *
 * core_spi.h
 *	  Kept SPI plans.  Every statement the engine runs repeatedly is a
 *	  static FFPlan beside the code that uses it: its text, its argument
 *	  types, and the plan prepared on first use and kept for the life of
 *	  the backend (re-validated by the plan cache after DDL).
 *
 * IDENTIFICATION
 *	  src/core_spi.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_SPI_PLAN_H
#define FF_ENGINE_SPI_PLAN_H

#include "executor/spi.h"
#include "storage/lock.h"

#define FF_PLAN_MAX_ARGS 96

typedef struct FFPlan
{
	const char *sql;
	int			nargs;
	Oid			argtypes[FF_PLAN_MAX_ARGS];
	SPIPlanPtr	plan;
	/*
	 * Plan once for every argument value: for a hot statement whose best
	 * plan never depends on its arguments, where the plan cache would
	 * otherwise keep re-planning it (its custom plans look cheaper).
	 */
	bool		generic;

	/*
	 * Deferred writes (see ff_defer_begin).  set_sql is the same statement
	 * over all deferred calls: its one %s becomes a FROM item v(a1 .. an),
	 * one row per call in call order, ak being the call's k-th argument.
	 * With key_args > 0 a call whose first key_args arguments (of
	 * fixed-length types) equal an earlier deferred call's replaces it (a
	 * whole-row store: the last one wins).  With each_row the set
	 * statement must touch one row per deferred call.  after_flush, when
	 * set, receives the set statement's result (SPI_tuptable) and marks a
	 * plan its callers defer explicitly with ff_plan_defer, because they
	 * need what it returns; ff_plan_exec never defers it.
	 */
	const char *set_sql;
	int			key_args;
	bool		each_row;
	void		(*after_flush) (uint64 n);
	SPIPlanPtr	set_plan;
	TupleDesc	set_desc;		/* the row type of the set statement's array */

	/*
	 * Plan as index lookups (index scans, nested loops), whatever the
	 * statistics say: for a statement that only reaches rows by key, whose
	 * generic plan is kept and may have been made while its table was
	 * nearly empty (a hash join over a sequential scan, kept as the table
	 * grows).  The set statements of deferred writes always are.
	 */
	bool		key_lookups;

	/*
	 * Its rows (set statement or own writer) are inserted where another
	 * transaction may create them first: a unique violation at the flush is
	 * that race (the batch's 40001), not a bug.
	 */
	bool		insert_race;

	/*
	 * Writes the deferred calls itself instead of a set statement (at the
	 * flush; returns the rows written, or FF_FLUSH_BY_STATEMENT to leave
	 * them to the set statement): the core row's store, which writes each
	 * row where its locking read found it, and its insert
	 * (exec_core_write.c).
	 */
	uint64		(*flush_direct) (struct FFPlan *p, int n, const Datum *values, const bool *nulls);
} FFPlan;

#define FF_FLUSH_BY_STATEMENT PG_UINT64_MAX

/* Run a kept plan; returns SPI_processed.  Errors on an SPI failure. */
extern uint64 ff_plan_exec(FFPlan *p, Datum *values, const bool *nulls, long tcount);
extern Oid	ff_rel_lock(const char *name, LOCKMODE mode);
extern bool ff_pkey_may_have_key(const char *table_name, int nkeys, const Datum *keys, const Oid *types);
/* Many keys probed in one primary key (ff_pkey_probe_begin). */
typedef struct PkeyProbe
{
	const char *table_name;
	int			nkeys;
	const Oid  *types;
	Relation	heap;
	Relation	idx;
	struct IndexScanDescData *scan; /* NULL: every key may be there */
	bool		maybe_unused;	/* the key had no entry ever when last looked at */
} PkeyProbe;

extern void ff_pkey_probe_begin(PkeyProbe *p, const char *table_name, int nkeys, const Oid *types);
extern bool ff_pkey_probe(PkeyProbe *p, const Datum *keys);
extern void ff_pkey_probe_end(PkeyProbe *p);

/* A column of rows read by primary key (ff_pkey_fetch_begin). */
typedef struct PkeyFetch
{
	const char *table_name;
	int			nkeys;
	const Oid  *types;
	Relation	heap;
	Relation	idx;
	AttrNumber	att;
	Snapshot	snap;
	struct IndexScanDescData *scan;
	struct TupleTableSlot *slot;
} PkeyFetch;

extern void ff_pkey_fetch_begin(PkeyFetch *f, const char *table_name, int nkeys, const Oid *types,
								const char *column);
extern bool ff_pkey_fetch_next(PkeyFetch *f, const Datum *keys, Datum *value, bool *isnull);
extern void ff_pkey_fetch_end(PkeyFetch *f);

/*
 * Deferred writes: between ff_defer_begin and ff_defer_flush, ff_plan_exec
 * on a plan with a set_sql (or a flush_direct) records the call instead of
 * running it (and reports one row), and ff_defer_flush runs each such plan once for all
 * its calls, in the order the plans were first deferred.  A batch
 * operation over distinct executions thereby pays one executor start-up
 * (and one compilation of every partial-index predicate) per statement
 * instead of per item.  Only for writes nothing reads back before the
 * flush; SPI must stay connected until the flush.  An error in between
 * discards the recorded calls with the SPI context they live in.
 */
extern void ff_defer_begin(void);
extern bool ff_deferring(void);
extern MemoryContext ff_defer_context(void);
extern bool ff_plan_defer(FFPlan *p, Datum *values, const bool *nulls);
extern void ff_defer_flush(void);

/* Connect / finish SPI around an SQL-callable function body. */
extern void ff_spi_connect(void);
extern Datum ff_spi_finish_datum(Datum d);

/* Column accessors for the first result tuple of the last ff_plan_exec. */
extern bool ff_col_isnull(int row, int col);
extern char *ff_col_text(int row, int col);		/* NULL when SQL NULL */
extern int64 ff_col_int64(int row, int col, int64 if_null);
extern int64 ff_datum_int64(Datum d, Oid t, int col);
extern bool ff_col_bool(int row, int col);
extern Datum ff_col_datum(int row, int col, bool *isnull);

extern ErrorData *ff_run_in_subxact(void (*fn) (void *arg), void *arg, MemoryContext cxt);

/*
 * Kept tables: what a backend read from a small configuration table
 * (ff.partition_config, ff.channel_key) serves it until the table's
 * statement trigger ff._kept_table_changed invalidates it (core_spi.c).
 * Use: if (!ff_kept_fresh(&k)) { ff_kept_reading(&k); read it;
 * ff_kept_read(&k); }: a read that fails leaves it to be read again.
 */
typedef struct KeptTable
{
	const char *table_name;		/* in schema ff */
	Oid			relid;
	bool		valid;
	bool		changed;		/* invalidated while being read */
	bool		xact_snapshot;	/* read through a REPEATABLE READ snapshot */
	LocalTransactionId lxid;	/* ... in this transaction */
} KeptTable;

#define FF_KEPT_TABLE(name) {(name), InvalidOid, false, false, false, InvalidLocalTransactionId}

extern bool ff_kept_fresh(KeptTable *k);
extern void ff_kept_reading(KeptTable *k);
extern void ff_kept_read(KeptTable *k);
extern void ff_kept_forget(KeptTable *k);

#endif							/* FF_ENGINE_SPI_PLAN_H */
