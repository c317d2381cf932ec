/*-------------------------------------------------------------------------
 *
 * bgw_shmem.c
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
 *	  src/bgw_shmem.c
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

#include "bgw_notify.h"
#include "bgw.h"

PG_FUNCTION_INFO_V1(ff_wake_launcher_sql);

FFShared   *ff_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static bool wake_launcher_at_commit = false;
static bool xact_callback_registered = false;

/* Streams this transaction appended to: their tailers are woken at commit. */
#define MAX_PENDING_STREAM_WAKES 16
static StreamKey pending_stream_wakes[MAX_PENDING_STREAM_WAKES];
static int	num_pending_stream_wakes = 0;
static bool wake_all_streams = false;	/* too many distinct streams */
static int	my_engine_slot = -1;
static bool waiter_cleanup_registered = false;

static void
ff_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(FFShared)));
	ff_notify_shmem_request();
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
		pg_atomic_init_u64(&ff_shared->lane_gen, 0);
	}
	ff_notify_shmem_startup();
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

static bool
stream_key_eq(const StreamKey *a, const StreamKey *b)
{
	return a->dboid == b->dboid && a->partition == b->partition &&
		a->attempt_index == b->attempt_index &&
		memcmp(a->uuid.data, b->uuid.data, UUID_LEN) == 0;
}

/*
 * Sets the latches of the sessions tailing the streams written to.  The
 * latches are collected under the spinlock and set after it (SetLatch may
 * make a system call).
 */
static void
wake_stream_waiters(void)
{
	Latch	   *wake[FF_MAX_STREAM_WAITERS];
	int			nwake = 0,
				i,
				j;

	SpinLockAcquire(&ff_shared->mutex);
	for (i = 0; i < FF_MAX_STREAM_WAITERS; i++)
	{
		StreamWaiter *w = &ff_shared->waiters[i];

		if (w->pid == 0)
			continue;
		for (j = 0; j < num_pending_stream_wakes; j++)
			if (wake_all_streams || stream_key_eq(&w->key, &pending_stream_wakes[j]))
			{
				wake[nwake++] = w->latch;
				break;
			}
	}
	SpinLockRelease(&ff_shared->mutex);
	for (i = 0; i < nwake; i++)
		SetLatch(wake[i]);
}

static void
ff_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && ff_shared != NULL)
	{
		if (wake_launcher_at_commit)
		{
			Latch	   *latch;

			SpinLockAcquire(&ff_shared->mutex);
			latch = ff_shared->launcher_latch;
			ff_shared->launcher_wake_requested = true;
			SpinLockRelease(&ff_shared->mutex);
			if (latch)
				SetLatch(latch);
		}
		if (num_pending_stream_wakes > 0)
			wake_stream_waiters();
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		wake_launcher_at_commit = false;
		num_pending_stream_wakes = 0;
		wake_all_streams = false;
	}
}

static void
register_xact_callback(void)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(ff_xact_callback, NULL);
		xact_callback_registered = true;
	}
}

void
ff_wake_launcher_at_commit(void)
{
	register_xact_callback();
	wake_launcher_at_commit = true;
}

/* Tailers of this stream are woken when the current transaction commits. */
void
ff_stream_wake_at_commit(const StreamKey *key)
{
	int			i;

	if (ff_shared == NULL)
		return;
	register_xact_callback();
	for (i = 0; i < num_pending_stream_wakes; i++)
		if (stream_key_eq(&pending_stream_wakes[i], key))
			return;
	if (num_pending_stream_wakes < MAX_PENDING_STREAM_WAKES)
		pending_stream_wakes[num_pending_stream_wakes++] = *key;
	else
		wake_all_streams = true;
}

/* Frees the slots of this backend when it exits. */
static void
waiter_cleanup(int code, Datum arg)
{
	int			i;

	SpinLockAcquire(&ff_shared->mutex);
	for (i = 0; i < FF_MAX_STREAM_WAITERS; i++)
		if (ff_shared->waiters[i].pid == MyProcPid)
			ff_shared->waiters[i].pid = 0;
	SpinLockRelease(&ff_shared->mutex);
}

/*
 * ff_stream_waiter_register
 *		Announce that this session waits on a stream; returns the slot, or
 *		-1 when there is no shared memory or no free slot (the caller then
 *		re-checks on a short timer instead).
 */
int
ff_stream_waiter_register(const StreamKey *key)
{
	int			i,
				slot = -1;

	if (ff_shared == NULL)
		return -1;
	if (!waiter_cleanup_registered)
	{
		before_shmem_exit(waiter_cleanup, (Datum) 0);
		waiter_cleanup_registered = true;
	}
	SpinLockAcquire(&ff_shared->mutex);
	for (i = 0; i < FF_MAX_STREAM_WAITERS; i++)
		if (ff_shared->waiters[i].pid == 0)
		{
			ff_shared->waiters[i].pid = MyProcPid;
			ff_shared->waiters[i].key = *key;
			ff_shared->waiters[i].latch = MyLatch;
			slot = i;
			break;
		}
	SpinLockRelease(&ff_shared->mutex);
	return slot;
}

void
ff_stream_waiter_unregister(int slot)
{
	if (slot < 0 || ff_shared == NULL)
		return;
	SpinLockAcquire(&ff_shared->mutex);
	if (ff_shared->waiters[slot].pid == MyProcPid)
		ff_shared->waiters[slot].pid = 0;
	SpinLockRelease(&ff_shared->mutex);
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

/*
 * ff_engine_wake
 *		Marks the engine worker of a database as having work and sets its
 *		latch (called after a commit: flow_completion.c).  No worker: nothing.
 */
void
ff_engine_wake(Oid dboid)
{
	Latch	   *latch = NULL;
	int			i;

	if (ff_shared == NULL)
		return;
	SpinLockAcquire(&ff_shared->mutex);
	for (i = 0; i < FF_MAX_ENGINE_WORKERS; i++)
		if (ff_shared->engines[i].dboid == dboid)
		{
			ff_shared->engines[i].work_pending = true;
			latch = ff_shared->engines[i].latch;
			break;
		}
	SpinLockRelease(&ff_shared->mutex);
	if (latch)
		SetLatch(latch);
}

static void
engine_slot_release(int code, Datum arg)
{
	SpinLockAcquire(&ff_shared->mutex);
	if (my_engine_slot >= 0 && ff_shared->engines[my_engine_slot].pid == MyProcPid)
		ff_shared->engines[my_engine_slot].dboid = InvalidOid;
	SpinLockRelease(&ff_shared->mutex);
}

/* The engine worker announces itself for its database. */
void
ff_engine_slot_register(void)
{
	int			i;

	SpinLockAcquire(&ff_shared->mutex);
	for (i = 0; i < FF_MAX_ENGINE_WORKERS; i++)
		if (ff_shared->engines[i].dboid == InvalidOid || ff_shared->engines[i].dboid == MyDatabaseId)
		{
			ff_shared->engines[i].dboid = MyDatabaseId;
			ff_shared->engines[i].pid = MyProcPid;
			ff_shared->engines[i].latch = MyLatch;
			ff_shared->engines[i].work_pending = true;	/* drain what is there */
			my_engine_slot = i;
			break;
		}
	SpinLockRelease(&ff_shared->mutex);
	ff_notify_ring_reset(my_engine_slot);
	before_shmem_exit(engine_slot_release, (Datum) 0);
}

/* This engine worker's slot (-1 when it has none). */
int
ff_engine_my_slot(void)
{
	return my_engine_slot;
}

/* The slot of the engine worker running for a database, or -1. */
int
ff_engine_slot_of(Oid dboid)
{
	int			i,
				slot = -1;

	if (ff_shared == NULL)
		return -1;
	SpinLockAcquire(&ff_shared->mutex);
	for (i = 0; i < FF_MAX_ENGINE_WORKERS; i++)
		if (ff_shared->engines[i].dboid == dboid)
		{
			slot = i;
			break;
		}
	SpinLockRelease(&ff_shared->mutex);
	return slot;
}

/* The latch of a slot's worker while it still serves dboid, else NULL. */
Latch *
ff_engine_slot_latch(int slot, Oid dboid)
{
	Latch	   *latch = NULL;

	SpinLockAcquire(&ff_shared->mutex);
	if (ff_shared->engines[slot].dboid == dboid)
		latch = ff_shared->engines[slot].latch;
	SpinLockRelease(&ff_shared->mutex);
	return latch;
}

/* Whether work was announced since the last call (and clears it). */
bool
ff_engine_take_pending(void)
{
	bool		pending = true;

	if (my_engine_slot < 0)
		return true;
	SpinLockAcquire(&ff_shared->mutex);
	pending = ff_shared->engines[my_engine_slot].work_pending;
	ff_shared->engines[my_engine_slot].work_pending = false;
	SpinLockRelease(&ff_shared->mutex);
	return pending;
}
