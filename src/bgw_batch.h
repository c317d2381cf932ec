/*-------------------------------------------------------------------------
 *
 * bgw_batch.h
 *	  One way to run a scanner batch: select the due items with a kept
 *	  FOR UPDATE SKIP LOCKED plan, run the C operation of each item in a
 *	  subtransaction, record a failing item in ff.scanner_item_failure (its
 *	  SQLSTATE, message and detail) and back off from it per item.
 *
 * IDENTIFICATION
 *	  src/bgw_batch.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_BGW_BATCH_H
#define FF_ENGINE_BGW_BATCH_H

#include "fmgr.h"
#include "utils/uuid.h"

#include "core_result.h"
#include "core_spi.h"

/*
 * A batch's selection is an FFPlan with these arguments: $1 the engine
 * time (bigint), $2 the batch size (integer), $3 the namespace filter, $4
 * and $5 the tag filter's key and value (text, NULL when unfiltered), $6
 * the scanner's name.  It returns (partition smallint, item uuid, failing
 * boolean) and optionally an aux uuid and an aux text column, one row per
 * item, and locks what the item's step needs with SKIP LOCKED.
 * FF_BATCH_WANTS is its filter over an execution (P, ID: the partition and
 * execution id columns, NS its namespace): the namespace and tag filter
 * (FF_BATCH_FILTER), and no item in back-off (FF_BATCH_NOT_BACKING_OFF,
 * over the item's key).  FF_BATCH_FAILING is the failing column.  The _AT
 * forms name the parameter that holds the scanner's name.
 */
#define FF_BATCH_FILTER(P, ID, NS) \
	"($3::text IS NULL OR " NS " = $3) " \
	"AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM ff.execution_data d WHERE d.partition = " P \
	" AND d.execution_id = " ID " AND d.tags ->> $4 = $5)) "
#define FF_BATCH_NOT_BACKING_OFF_AT(S, P, ID) \
	"NOT EXISTS (SELECT 1 FROM ff.scanner_item_failure f WHERE f.scanner = " S " AND f.partition = " P \
	" AND f.item_id = " ID " AND f.skip_until_cycle > " \
	"(SELECT s.cycle FROM ff.scanner_state s WHERE s.scanner = " S ")) "
#define FF_BATCH_NOT_BACKING_OFF(P, ID) FF_BATCH_NOT_BACKING_OFF_AT("$6", P, ID)
#define FF_BATCH_WANTS(P, ID, NS) FF_BATCH_FILTER(P, ID, NS) "AND " FF_BATCH_NOT_BACKING_OFF(P, ID)
#define FF_BATCH_FAILING_AT(S, P, ID) \
	"EXISTS (SELECT 1 FROM ff.scanner_item_failure f WHERE f.scanner = " S " AND f.partition = " P \
	" AND f.item_id = " ID ")"
#define FF_BATCH_FAILING(P, ID) FF_BATCH_FAILING_AT("$6", P, ID)
#define FF_BATCH_ARGS 6, {INT8OID, INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID}

/* A scan's arguments: batch size, filter and clock. */
typedef struct FFScanArgs
{
	const char *scanner;
	int			batch_size;
	char	   *namespace;		/* NULL: every namespace */
	char	   *tag_key;		/* NULL: no tag filter */
	char	   *tag_value;
	int64		now;
} FFScanArgs;

/* One selected item. */
typedef struct FFBatchItem
{
	int			partition;
	pg_uuid_t	id;
	bool		failing;		/* has a failure row: cleared on success */
	bool		isolated;		/* runs in a subtransaction of its own */
	bool		has_aux;
	pg_uuid_t	aux;			/* e.g. the flow of a member */
	char	   *aux_text;
} FFBatchItem;

/* What a batch did: items selected, succeeded, failed. */
typedef struct FFBatchCounts
{
	int			selected;
	int			processed;
	int			errors;
} FFBatchCounts;

/* The C operation of one item; runs in a subtransaction, SPI connected. */
typedef void (*FFBatchStep) (const FFBatchItem *item, int64 now, void *arg);

/*
 * Reads a scanner's (batch_size, namespace, tag) arguments (namespace and
 * tag only when the function has them); the defaults come from
 * ff_engine.scanner_namespace and ff_engine.scanner_tag.  Misuse raises.
 */
extern char *ff_scan_namespace_arg(FunctionCallInfo fcinfo, int n);
extern void ff_scan_args(FunctionCallInfo fcinfo, const char *scanner, bool filtered,
						 int max_batch, FFScanArgs *a);

/* Select with the kept plan; returns the items (SPI connected). */
extern FFBatchItem *ff_batch_select(FFPlan *select, const FFScanArgs *a, int *n);
/* The items of the last statement's rows, for a selection of other arguments. */
extern FFBatchItem *ff_batch_select_result(int rows);

/*
 * Run step on each item: the whole batch in one subtransaction, and only
 * if that fails each item in one of its own, a failing item recorded in
 * ff.scanner_item_failure.  A success clears the item's failure row.
 */
extern void ff_batch_apply(const char *scanner, FFBatchItem *items, int n, int64 now,
						   FFBatchStep step, void *arg, FFBatchCounts *c);

/* ff_batch_select then ff_batch_apply. */
extern void ff_batch_run(FFPlan *select, const FFScanArgs *a, FFBatchStep step, void *arg,
						 FFBatchCounts *c);

/* Record one failure of an item / clear an item's failures (SPI connected). */
extern void ff_batch_record_failure(const char *scanner, int partition, const pg_uuid_t *item,
									ErrorData *edata, int64 now);
extern void ff_batch_clear_failure(const char *scanner, int partition, const pg_uuid_t *item);
/*
 * The same for a dispatcher that runs per commit, not in cycles: the item
 * waits by time (skip_until_at: 1 s, 10 s from its third failure on).
 */
extern void ff_batch_record_failure_timed(const char *scanner, int partition, const pg_uuid_t *item,
										  ErrorData *edata, int64 now);

/*
 * The scanner envelope {"ok", "status", "scanner", "processed", "errors",
 * "more"}; more when the batch was full.  Leaves r open for more fields.
 */
extern void ff_batch_result(FFResult *r, const char *scanner, const FFBatchCounts *c, int batch_size);

#endif							/* FF_ENGINE_BGW_BATCH_H */
