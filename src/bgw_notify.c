/*-------------------------------------------------------------------------
 *
 * bgw_notify.c
 *	  Notifications for applications (completion channels, lane wake-ups,
 *	  signal events), sent outside the user's commit (behaviour/README §6).
 *
 *	  PostgreSQL 15 holds one cluster-wide lock from a notifying
 *	  transaction's pre-commit to the end of its commit's WAL flush, so
 *	  notifying commits never share a flush.  An operation therefore only
 *	  records what it would announce (ff_notify_at_commit); at commit the
 *	  records are copied into a ring in shared memory, one per engine
 *	  worker, and the worker's latch is set.  The engine worker of the
 *	  database sends them (ff_notify_relay): in the order the transactions
 *	  committed, many per transaction of its own, with synchronous_commit
 *	  off since a notification is a wake-up, never the durable record.
 *
 *	  Delivery is at most once: what a crash, a full ring or a worker
 *	  exiting between commit and relay drops is not sent again; the tables
 *	  (ff.completion_event, ff.signal_event, the claimable executions) stay
 *	  the record, and listeners poll as a fallback.  Where no engine worker
 *	  runs for the database (library not preloaded, ff_engine.enabled off),
 *	  or ff_engine.notify_in_transaction is on, the transaction sends its
 *	  notifications itself, as PostgreSQL's NOTIFY does.
 *
 * IDENTIFICATION
 *	  src/bgw_notify.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/async.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "bgw_notify.h"
#include "bgw.h"

bool		ff_notify_in_transaction = false;

/*
 * One ring per engine slot: [uint16 length][uint8 channel length][channel]
 * [payload] records, written at commit and emptied by the relay.  A record
 * never wraps: one that does not fit the rest of the ring is dropped.
 */
#define FF_NOTIFY_RING_BYTES (64 * 1024)

typedef struct NotifyRing
{
	uint32		used;			/* bytes of records from data[0] */
	char		data[FF_NOTIFY_RING_BYTES];
} NotifyRing;

static NotifyRing *rings = NULL;
static LWLockPadded *ring_locks = NULL;

/* This transaction's notifications, in the order they were recorded. */
typedef struct PendingNotify
{
	char	   *channel;
	char	   *payload;
	int			level;			/* subtransaction nesting level */
} PendingNotify;

static PendingNotify *pending = NULL;
static int	npending = 0;
static int	maxpending = 0;
static bool callbacks_registered = false;
static int	relay_slot = -1;	/* where the pre-commit decided to send */

Size
ff_notify_shmem_size(void)
{
	return mul_size(FF_MAX_ENGINE_WORKERS, sizeof(NotifyRing));
}

void
ff_notify_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(ff_notify_shmem_size()));
	RequestNamedLWLockTranche("ff_engine notify", FF_MAX_ENGINE_WORKERS);
}

/* Called with AddinShmemInitLock held. */
void
ff_notify_shmem_startup(void)
{
	bool		found;

	rings = ShmemInitStruct("ff_engine notify", ff_notify_shmem_size(), &found);
	if (!found)
		memset(rings, 0, ff_notify_shmem_size());
	ring_locks = GetNamedLWLockTranche("ff_engine notify");
}

static void
forget_pending(void)
{
	pending = NULL;
	npending = 0;
	maxpending = 0;
	relay_slot = -1;
}

/* Copies the records into the ring of relay_slot and wakes its worker. */
static void
push_to_ring(void)
{
	NotifyRing *ring = &rings[relay_slot];
	Latch	   *latch;
	int			i;

	LWLockAcquire(&ring_locks[relay_slot].lock, LW_EXCLUSIVE);
	/* the worker may have exited since the pre-commit: then they are lost */
	latch = ff_engine_slot_latch(relay_slot, MyDatabaseId);
	for (i = 0; latch != NULL && i < npending; i++)
	{
		size_t		clen = strlen(pending[i].channel);
		size_t		plen = strlen(pending[i].payload);
		size_t		len = 3 + clen + plen;

		if (len > PG_UINT16_MAX || ring->used + len > FF_NOTIFY_RING_BYTES)
			continue;			/* dropped: notifications are at most once */
		ring->data[ring->used] = (char) (len & 0xff);
		ring->data[ring->used + 1] = (char) (len >> 8);
		ring->data[ring->used + 2] = (char) clen;
		memcpy(ring->data + ring->used + 3, pending[i].channel, clen);
		memcpy(ring->data + ring->used + 3 + clen, pending[i].payload, plen);
		ring->used += len;
	}
	LWLockRelease(&ring_locks[relay_slot].lock);
	if (latch)
		SetLatch(latch);
}

static void
notify_xact_callback(XactEvent event, void *arg)
{
	int			i;

	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (npending == 0)
				break;
			/* the engine worker sends them, or (none running) we do */
			relay_slot = (!ff_notify_in_transaction && rings != NULL)
				? ff_engine_slot_of(MyDatabaseId) : -1;
			if (relay_slot < 0)
			{
				for (i = 0; i < npending; i++)
					Async_Notify(pending[i].channel, pending[i].payload);
				npending = 0;
			}
			break;
		case XACT_EVENT_COMMIT:
			/* after the commit record: nothing here may fail */
			if (npending > 0 && relay_slot >= 0)
				push_to_ring();
			forget_pending();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			forget_pending();
			break;
		default:
			break;
	}
}

/*
 * A rolled-back subtransaction takes back what it recorded; a committed one
 * hands it to its parent, so that a later sibling rolled back at the same
 * level (a batch's next item) does not take it too.  Records are kept in
 * order, so those of the ending level are the last ones.
 */
static void
notify_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	int			i;

	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		while (npending > 0 && pending[npending - 1].level >= level)
			npending--;
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (i = npending - 1; i >= 0 && pending[i].level >= level; i--)
			pending[i].level = level - 1;
	}
}

/*
 * ff_notify_at_commit
 *		Announce (channel, payload) once this transaction commits.  An
 *		identical record of the same transaction is sent once, as NOTIFY
 *		folds them.
 */
void
ff_notify_at_commit(const char *channel, const char *payload)
{
	MemoryContext old;
	int			level = GetCurrentTransactionNestLevel();
	int			i;

	if (!callbacks_registered)
	{
		RegisterXactCallback(notify_xact_callback, NULL);
		RegisterSubXactCallback(notify_subxact_callback, NULL);
		callbacks_registered = true;
	}
	for (i = npending - 1; i >= 0 && i >= npending - 8; i--)
		if (strcmp(pending[i].channel, channel) == 0 && strcmp(pending[i].payload, payload) == 0)
			return;
	old = MemoryContextSwitchTo(TopTransactionContext);
	if (npending == maxpending)
	{
		maxpending = Max(16, maxpending * 2);
		pending = pending == NULL ? palloc(sizeof(PendingNotify) * maxpending)
			: repalloc(pending, sizeof(PendingNotify) * maxpending);
	}
	pending[npending].channel = pstrdup(channel);
	pending[npending].payload = pstrdup(payload);
	pending[npending].level = level;
	npending++;
	MemoryContextSwitchTo(old);
}

/*
 * ff_notify_relay
 *		The engine worker's side: send what the committed transactions of
 *		its database left in its ring, in one transaction of its own (no
 *		flush waited for).  Returns the number of notifications sent.
 */
int
ff_notify_relay(int slot)
{
	NotifyRing *ring;
	char	   *copy;
	uint32		used,
				off = 0;
	int			sent = 0;

	if (rings == NULL || slot < 0)
		return 0;
	ring = &rings[slot];
	LWLockAcquire(&ring_locks[slot].lock, LW_EXCLUSIVE);
	used = ring->used;
	copy = used > 0 ? palloc(used) : NULL;
	if (used > 0)
		memcpy(copy, ring->data, used);
	ring->used = 0;
	LWLockRelease(&ring_locks[slot].lock);
	if (used == 0)
		return 0;

	StartTransactionCommand();
	(void) set_config_option("synchronous_commit", "off", PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
	while (off < used)
	{
		uint32		len = (uint8) copy[off] | ((uint32) (uint8) copy[off + 1] << 8);
		int			clen = (uint8) copy[off + 2];
		char	   *channel = pnstrdup(copy + off + 3, clen);
		char	   *payload = pnstrdup(copy + off + 3 + clen, len - 3 - clen);

		Async_Notify(channel, payload);
		off += len;
		sent++;
	}
	CommitTransactionCommand();
	pfree(copy);
	return sent;
}

/* An engine slot changes hands: what its ring holds is not the new owner's. */
void
ff_notify_ring_reset(int slot)
{
	if (rings == NULL || slot < 0)
		return;
	LWLockAcquire(&ring_locks[slot].lock, LW_EXCLUSIVE);
	rings[slot].used = 0;
	LWLockRelease(&ring_locks[slot].lock);
}
