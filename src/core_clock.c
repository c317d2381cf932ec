/*-------------------------------------------------------------------------
 *
 * core_clock.c
 *	  Engine time and the test clock.
 *
 *	  ff_engine.test_clock_ms (PGC_SUSET, a string because GUC integers are
 *	  32 bits) pins "now" to a fixed millisecond value; empty means the
 *	  database's wall clock.  Tests move time by SETting it.
 *
 * IDENTIFICATION
 *	  src/core_clock.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "core_clock.h"
#include "core_tenant.h"

PG_FUNCTION_INFO_V1(ff_now_ms_sql);
PG_FUNCTION_INFO_V1(ff_caller_now_ms_sql);

char	   *ff_test_clock_setting = NULL;
static int64 test_clock_ms = -1;

int64
ff_now_ms(void)
{
	TimestampTz now;

	if (test_clock_ms >= 0)
		return test_clock_ms;
	now = GetCurrentTimestamp();
	return now / 1000 +
		(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000;
}

bool
ff_test_clock_check(char **newval, void **extra, GucSource source)
{
	char	   *end;
	long long	v;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	errno = 0;
	v = strtoll(*newval, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0)
	{
		GUC_check_errdetail("ff_engine.test_clock_ms must be empty or a non-negative integer number of milliseconds.");
		return false;
	}
	return true;
}

void
ff_test_clock_assign(const char *newval, void *extra)
{
	test_clock_ms = (newval == NULL || newval[0] == '\0') ? -1 : strtoll(newval, NULL, 10);
}

/* ff.now_ms() -> bigint: the engine clock, as the operations read it */
Datum
ff_now_ms_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(ff_now_ms());
}

/*
 * ff_caller_now_ms
 *		The time an operation runs at when a caller may pass now_ms: engine
 *		time when it passes none.  Only an admin may pass one (42501
 *		otherwise): a chosen time decides expiries and schedules, so a
 *		worker passing a far-future time would register forever or keep
 *		marks that never expire.
 */
int64
ff_caller_now_ms(bool given, int64 now_ms)
{
	if (!given)
		return ff_now_ms();
	if (!ff_caller_is_admin())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("now_ms may only be passed by an administrator"),
				 errhint("Leave now_ms NULL: the engine's clock is used.")));
	return now_ms;
}

/* ff._caller_now_ms(now_ms bigint) -> bigint: ff_caller_now_ms for plpgsql */
Datum
ff_caller_now_ms_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(ff_caller_now_ms(!PG_ARGISNULL(0), PG_ARGISNULL(0) ? 0 : PG_GETARG_INT64(0)));
}
