/*-------------------------------------------------------------------------
 *
 * ff_engine.c
 *	  Module entry point: PG_MODULE_MAGIC, _PG_init and the settings.
 *
 *	  ff_engine is a durable execution engine inside PostgreSQL.  The
 *	  operations live in one file per subsystem (execution.c, lease.c,
 *	  scheduling.c, ...); this file only defines what the module exposes
 *	  to the server.
 *
 * IDENTIFICATION
 *	  src/ff_engine.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include <limits.h>

#include "clock.h"
#include "ff_engine.h"

PG_MODULE_MAGIC;

int			ff_default_retention_s = 86400;
int			ff_max_payload_bytes = 1048576;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomStringVariable("ff_engine.test_clock_ms",
							   "Pins the engine clock to this many milliseconds since the Unix epoch (tests only).",
							   "Empty means the database's wall clock.",
							   &ff_test_clock_setting,
							   "",
							   PGC_SUSET,
							   0,
							   ff_test_clock_check,
							   ff_test_clock_assign,
							   NULL);

	DefineCustomIntVariable("ff_engine.default_retention",
							"How long a terminal execution is kept before retention may purge it.",
							"A policy's stream_policy.retention_ttl_ms overrides it per execution.",
							&ff_default_retention_s,
							86400,
							0,
							INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("ff_engine.max_payload_bytes",
							"Largest input or result payload accepted, in bytes.",
							NULL,
							&ff_max_payload_bytes,
							1048576,
							0,
							MaxAllocSize / 2,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("ff_engine");
}
