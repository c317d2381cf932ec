/*-------------------------------------------------------------------------
 *
 * exec_core_row.h
 *	  The execution core row as the table stores it (exec_core_row.c):
 *	  the layout the reader and the store (exec_core_write.c) share.
 *
 * IDENTIFICATION
 *	  src/exec_core_row.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_EXEC_CORE_ROW_H
#define FF_ENGINE_EXEC_CORE_ROW_H

#include "access/attnum.h"
#include "access/htup.h"
#include "access/tupdesc.h"
#include "nodes/bitmapset.h"
#include "utils/relcache.h"

#include "exec_core.h"

/*
 * The partial indexes of ff.execution a claim walks for its candidates
 * (exec_core_lock.c, ff_core_lock_candidates), each in its claim order.
 */
typedef enum CoreScanSet
{
	SCAN_ELIGIBLE,				/* the lane's eligible executions, best first */
	SCAN_LEASE_LOST,			/* the lane's leases marked expired or
								 * revoked, by expiry */
	SCAN_LEASE_EXPIRY,			/* leases held past their expiry, by expiry */
	FF_CORE_NSCANSETS
} CoreScanSet;

/* How a field's value is held in C. */
typedef enum FieldKind
{
	FIELD_TEXT,
	FIELD_INT,					/* int64 for an int2/4/8 column */
	FIELD_UUID,
	FIELD_ENUM					/* a label index for an enum column */
} FieldKind;

typedef struct FieldMap
{
	const char *name;
	FieldKind	kind;
	const char *const *labels;	/* FIELD_ENUM: the C label table */
	int			nlabels;
	AttrNumber	attnum;
	Oid			typid;
	Oid		   *enum_oids;		/* FIELD_ENUM: per label, InvalidOid if absent */
} FieldMap;

/*
 * What this backend's writes keep from one call to the next
 * (exec_core_write.c, ff_core_write_cache_build): each index's IndexInfo
 * with its partial-index predicate compiled, and the check constraints
 * compiled.
 */
typedef struct WriteCache
{
	int			nindexes;
	Oid		   *indexoids;		/* in RelationGetIndexList's order */
	struct IndexInfo **infos;	/* per index; NULL: built per write */
	struct ExprState **checks;	/* the check constraints; NULL: built per write */
} WriteCache;

/*
 * Where the table keeps each field, and what its writes keep, as this
 * backend last saw the table; rebuilt after any relcache invalidation of
 * the table or of one of its indexes (DDL, or DROP and CREATE EXTENSION).
 */
typedef struct CoreLayout
{
	Oid			relid;
	uint64		gen;			/* the invalidations counted when it was built */
	TupleDesc	desc;			/* the table's, with its missing values */
	AttrNumber	partition_att;
	AttrNumber	id_att;
	AttrNumber	caps_att;
	AttrNumber	namespace_att;
	Oid			pkey_oid;		/* (partition, execution_id) */
	Oid			scan_oids[FF_CORE_NSCANSETS];	/* by name; InvalidOid: missing */
	Bitmapset  *updated_cols;	/* as an UPDATE of the mutable fields has */
	FieldMap	immutable[FF_CORE_NIMMUTABLE];
	FieldMap	fields[FF_CORE_NMUTABLE];	/* the mutable ones */
	WriteCache	write;
} CoreLayout;

extern int	ff_core_layout_users;

extern CoreLayout *ff_core_layout(Relation rel);
extern const char *const ff_core_scan_index_names[FF_CORE_NSCANSETS];
extern void ff_core_read_tuple(HeapTuple tuple, const CoreLayout *l, ExecCore *c);

/* exec_core_lock.c: locking reads without a statement */
typedef bool (*CoreScanFilter) (const ExecCore *c, void *arg);
extern Oid	ff_core_relid_for_update(void);
extern bool ff_core_read_by_key(ExecId id, ExecCore *c, bool lock);
extern int	ff_core_read_keys(const ExecId *ids, int n, ExecCore *out, bool lock);
extern int	ff_core_lock_candidates(CoreScanSet set, const char *lane, int64 now, int limit,
									CoreScanFilter qualify, CoreScanFilter filter, void *arg,
									ExecCore **rows, bool *stopped, bool *changed);
extern void ff_core_write_cache_build(Relation rel, WriteCache *c);

#endif							/* FF_ENGINE_EXEC_CORE_ROW_H */
