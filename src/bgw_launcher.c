/*-------------------------------------------------------------------------
 *
 * bgw_launcher.c
 *	  The launcher: one process, started from shared_preload_libraries,
 *	  that keeps an engine worker running in every database where
 *	  ff_engine is installed.
 *
 *	  The launcher is connected to no database, so it cannot see which
 *	  databases have the extension.  It starts an engine worker in every
 *	  database that accepts connections; a worker that finds no extension
 *	  (or finds the engine disabled there) exits at once, and the launcher
 *	  tries that database again after ff_engine.launcher_naptime, doubled
 *	  for each such exit in a row up to 64 naptimes.  CREATE
 *	  EXTENSION wakes the launcher after commit, so a new installation is
 *	  served at once rather than after a nap.  Workers are never restarted
 *	  by the postmaster (BGW_NEVER_RESTART); the launcher restarts them,
 *	  at most once per naptime per database.
 *
 * IDENTIFICATION
 *	  src/bgw_launcher.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "bgw.h"

/* What the launcher knows of one database. */
typedef struct DatabaseEntry
{
	Oid			dboid;			/* hash key */
	BackgroundWorkerHandle *handle; /* NULL when no worker runs */
	TimestampTz started_at;		/* when the current/last worker started */
	TimestampTz next_start;		/* no restart before this */
	int			quick_exits;	/* workers in a row that stopped within a naptime */
	bool		seen;			/* still in pg_database */
} DatabaseEntry;

/*
 * A database whose worker keeps stopping at once (no extension there, or
 * the engine disabled) is looked at again after a naptime that doubles
 * each time, up to this many naptimes: every look is a backend start-up,
 * tens of milliseconds of CPU, which a server full of databases without
 * ff_engine should not pay every naptime.  CREATE EXTENSION still wakes
 * the launcher at once.
 */
#define FF_LAUNCHER_MAX_DOUBLINGS 6	/* 64 naptimes */

/* Registers the launcher; called from _PG_init. */
void
ff_register_launcher(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 1;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "ff_engine");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "ff_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, FF_LAUNCHER_TYPE);
	snprintf(worker.bgw_type, BGW_MAXLEN, FF_LAUNCHER_TYPE);
	RegisterBackgroundWorker(&worker);
}

static void
launcher_detach(int code, Datum arg)
{
	SpinLockAcquire(&ff_shared->mutex);
	if (ff_shared->launcher_pid == MyProcPid)
	{
		ff_shared->launcher_pid = 0;
		ff_shared->launcher_latch = NULL;
	}
	SpinLockRelease(&ff_shared->mutex);
}

/*
 * start_engine_worker
 *		A dynamic worker for one database; the launcher is told when it
 *		stops (bgw_notify_pid), so its handle shows the exit.
 */
static BackgroundWorkerHandle *
start_engine_worker(Oid dboid, const char *dbname)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "ff_engine");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "ff_engine_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, FF_WORKER_TYPE " (dbname=%s)", dbname);
	snprintf(worker.bgw_type, BGW_MAXLEN, FF_WORKER_TYPE);
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	worker.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		ereport(LOG,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("ff_engine launcher could not start a worker for database \"%s\"", dbname),
				 errhint("Raise max_worker_processes.")));
		return NULL;
	}
	return handle;
}

/*
 * visit_databases
 *		One pass over pg_database (a shared catalog, readable without a
 *		database connection): make sure every database that accepts
 *		connections has a worker, unless it is waiting out its naptime.
 */
static void
visit_databases(HTAB *dbs, MemoryContext keep, bool retry_now)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	HASH_SEQ_STATUS seq;
	DatabaseEntry *e;
	TimestampTz now = GetCurrentTimestamp();

	hash_seq_init(&seq, dbs);
	while ((e = hash_seq_search(&seq)) != NULL)
		e->seen = false;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		bool		found;
		pid_t		pid;

		if (!db->datallowconn || db->datistemplate)
			continue;
		e = hash_search(dbs, &db->oid, HASH_ENTER, &found);
		if (!found)
		{
			e->handle = NULL;
			e->next_start = 0;
			e->quick_exits = 0;
		}
		e->seen = true;
		if (e->handle != NULL &&
			GetBackgroundWorkerPid(e->handle, &pid) == BGWH_STOPPED)
		{
			int			doublings;

			pfree(e->handle);
			e->handle = NULL;
			if (now < TimestampTzPlusMilliseconds(e->started_at, ff_launcher_naptime_ms))
				e->quick_exits++;
			else
				e->quick_exits = 0;
			doublings = Min(Max(e->quick_exits - 1, 0), FF_LAUNCHER_MAX_DOUBLINGS);
			e->next_start = TimestampTzPlusMilliseconds(now, (int64) ff_launcher_naptime_ms << doublings);
		}
		if (e->handle == NULL && (retry_now || now >= e->next_start))
		{
			MemoryContext old = MemoryContextSwitchTo(keep);

			e->handle = start_engine_worker(db->oid, NameStr(db->datname));
			MemoryContextSwitchTo(old);
			e->started_at = now;
			if (e->handle == NULL)
				e->next_start = TimestampTzPlusMilliseconds(now, ff_launcher_naptime_ms);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();

	/* forget dropped databases */
	hash_seq_init(&seq, dbs);
	while ((e = hash_seq_search(&seq)) != NULL)
		if (!e->seen && e->handle == NULL)
			hash_search(dbs, &e->dboid, HASH_REMOVE, NULL);
}

void
ff_launcher_main(Datum main_arg)
{
	HASHCTL		ctl;
	HTAB	   *dbs;
	MemoryContext keep;
	bool		retry_now = true;

	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname(FF_LAUNCHER_TYPE);

	SpinLockAcquire(&ff_shared->mutex);
	ff_shared->launcher_pid = MyProcPid;
	ff_shared->launcher_latch = MyLatch;
	SpinLockRelease(&ff_shared->mutex);
	before_shmem_exit(launcher_detach, (Datum) 0);

	keep = AllocSetContextCreate(TopMemoryContext, "ff_engine launcher", ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(DatabaseEntry);
	ctl.hcxt = keep;
	dbs = hash_create("ff_engine databases", 16, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	while (!ShutdownRequestPending)
	{
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		visit_databases(dbs, keep, retry_now);

		/* a worker stopping also sets our latch (bgw_notify_pid) */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					   ff_launcher_naptime_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		/* CREATE EXTENSION asked for a look at every database right now */
		SpinLockAcquire(&ff_shared->mutex);
		retry_now = ff_shared->launcher_wake_requested;
		ff_shared->launcher_wake_requested = false;
		SpinLockRelease(&ff_shared->mutex);
	}
	proc_exit(0);
}
