/*-------------------------------------------------------------------------
 *
 * spi_plan.h
 *	  Kept SPI plans.  Every statement the engine runs repeatedly is a
 *	  static FFPlan beside the code that uses it: its text, its argument
 *	  types, and the plan prepared on first use and kept for the life of
 *	  the backend (re-validated by the plan cache after DDL).
 *
 * IDENTIFICATION
 *	  src/spi_plan.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_SPI_PLAN_H
#define FF_ENGINE_SPI_PLAN_H

#include "executor/spi.h"

#define FF_PLAN_MAX_ARGS 96

typedef struct FFPlan
{
	const char *sql;
	int			nargs;
	Oid			argtypes[FF_PLAN_MAX_ARGS];
	SPIPlanPtr	plan;
} FFPlan;

/* Run a kept plan; returns SPI_processed.  Errors on an SPI failure. */
extern uint64 ff_plan_exec(FFPlan *p, Datum *values, const bool *nulls, long tcount);

/* Connect / finish SPI around an SQL-callable function body. */
extern void ff_spi_connect(void);
extern Datum ff_spi_finish_datum(Datum d);

/* Column accessors for the first result tuple of the last ff_plan_exec. */
extern bool ff_col_isnull(int row, int col);
extern char *ff_col_text(int row, int col);		/* NULL when SQL NULL */
extern int64 ff_col_int64(int row, int col, int64 if_null);
extern bool ff_col_bool(int row, int col);
extern Datum ff_col_datum(int row, int col, bool *isnull);

extern ErrorData *ff_run_in_subxact(void (*fn) (void *arg), void *arg, MemoryContext cxt);

#endif							/* FF_ENGINE_SPI_PLAN_H */
