/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  The shared memory of ff_engine and wake-ups set after commit.
 *
 *	  A transaction that needs the launcher to look again (CREATE
 *	  EXTENSION) asks for a wake-up; a transaction callback sets the
 *	  launcher's latch only once the transaction has committed, so the
 *	  workers it starts see the committed catalog (the pattern of
 *	  ApplyLauncherWakeupAtCommit).  Nothing in a commit callback can
 *	  raise an error: it only sets a latch.
 *
 * IDENTIFICATION
 *	  src/shmem.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "workers.h"

PG_FUNCTION_INFO_V1(ff_wake_launcher_sql);

FFShared   *ff_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static bool wake_launcher_at_commit = false;
static bool xact_callback_registered = false;

static void
ff_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(FFShared)));
}

static void
ff_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	ff_shared = ShmemInitStruct("ff_engine", sizeof(FFShared), &found);
	if (!found)
	{
		memset(ff_shared, 0, sizeof(FFShared));
		SpinLockInit(&ff_shared->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Called from _PG_init while shared_preload_libraries is being processed. */
void
ff_shmem_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = ff_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = ff_shmem_startup;
}

static void
ff_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && wake_launcher_at_commit && ff_shared != NULL)
	{
		Latch	   *latch;

		SpinLockAcquire(&ff_shared->mutex);
		latch = ff_shared->launcher_latch;
		ff_shared->launcher_wake_requested = true;
		SpinLockRelease(&ff_shared->mutex);
		if (latch)
			SetLatch(latch);
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE)
		wake_launcher_at_commit = false;
}

void
ff_wake_launcher_at_commit(void)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(ff_xact_callback, NULL);
		xact_callback_registered = true;
	}
	wake_launcher_at_commit = true;
}

/*
 * ff._wake_launcher() -- asks the launcher to look for databases with the
 *		extension once this transaction commits (the install script calls
 *		it).  Without the preloaded library it does nothing.
 */
Datum
ff_wake_launcher_sql(PG_FUNCTION_ARGS)
{
	if (ff_shared != NULL)
		ff_wake_launcher_at_commit();
	PG_RETURN_BOOL(ff_shared != NULL);
}
