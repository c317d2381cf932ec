/*-------------------------------------------------------------------------
 *
 * spi_plan.c
 *	  Kept SPI plans and small accessors for their results.
 *
 *	  Plans are prepared with SPI_prepare and moved out of the SPI context
 *	  with SPI_keepplan the first time a statement runs in a backend.
 *	  Values read with the accessors live in the current SPI procedure
 *	  context and vanish at SPI_finish; results that outlive the call are
 *	  moved out by ff_spi_finish_datum.
 *
 * IDENTIFICATION
 *	  src/spi_plan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "spi_plan.h"

uint64
ff_plan_exec(FFPlan *p, Datum *values, const bool *nulls, long tcount)
{
	char		nullflags[FF_PLAN_MAX_ARGS + 1];
	int			i,
				rc;

	if (p->plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(p->sql, p->nargs, p->argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s", p->sql,
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		p->plan = plan;
	}
	for (i = 0; i < p->nargs; i++)
		nullflags[i] = (nulls != NULL && nulls[i]) ? 'n' : ' ';
	nullflags[p->nargs] = '\0';

	rc = SPI_execute_plan(p->plan, values, nullflags, false, tcount);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed for \"%s\": %s", p->sql,
			 SPI_result_code_string(rc));
	return SPI_processed;
}

void
ff_spi_connect(void)
{
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
	Oid			t;

	if (isnull)
		return if_null;
	t = SPI_gettypeid(SPI_tuptable->tupdesc, col);
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
 *		way the caller is back in cxt under its own resource owner.
 */
ErrorData *
ff_run_in_subxact(void (*fn) (void *arg), void *arg, MemoryContext cxt)
{
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

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
	return edata;
}
