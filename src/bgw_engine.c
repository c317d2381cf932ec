/*-------------------------------------------------------------------------
 *
 * bgw_engine.c
 *	  The engine worker: one per database with ff_engine installed.  It
 *	  runs each scanner (ff.run_scanner) at its interval, one batch per
 *	  transaction, and sleeps on its latch until the next one is due.  A
 *	  full batch means a backlog, so the next batch follows at once (up to
 *	  256 in a row, the reference's sweep of 256 partitions).
 *
 *	  - An error in one batch is logged and the loop goes on; the failing
 *	    scanner backs off (its interval doubled per consecutive failure, up
 *	    to 8 times).  Failing *items* are tracked by the scanners
 *	    themselves (skipped for 10 cycles after 3 failures).
 *	  - SIGTERM uses die(): a running batch is cancelled and the worker
 *	    exits.  SIGHUP reloads the intervals.
 *	  - No transaction stays open between batches.
 *	  - The worker exits (code 0, so it is not restarted by the
 *	    postmaster) when the extension is absent or dropped, or when
 *	    ff_engine.enabled is off for its database; the launcher looks again
 *	    after its naptime.
 *
 * IDENTIFICATION
 *	  src/bgw_engine.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "bgw_notify.h"
#include "core_spi.h"
#include "bgw.h"

/* A scanner, its interval setting and its schedule in this worker. */
typedef struct ScannerSlot
{
	const char *name;
	int		   *interval_ms;
	TimestampTz next_due;
	int			failures;		/* consecutive failed batches */
	int64		next_in_ms;		/* the last batch's next_in_ms, -1 if none */
} ScannerSlot;

static ScannerSlot scanners[] = {
	{"lease_expiry", &ff_lease_expiry_interval_ms, 0, 0, -1},
	{"delayed", &ff_delayed_interval_ms, 0, 0, -1},
	{"attempt_timeout", &ff_attempt_timeout_interval_ms, 0, 0, -1},
	{"execution_deadline", &ff_execution_deadline_interval_ms, 0, 0, -1},
	{"unblock", &ff_unblock_interval_ms, 0, 0, -1},
	{"retention", &ff_retention_interval_ms, 0, 0, -1},
	{"dependencies", &ff_dependencies_interval_ms, 0, 0, -1},
	{"flow_cancel", &ff_flow_cancel_interval_ms, 0, 0, -1},
	{"flow_projector", &ff_flow_projector_interval_ms, 0, 0, -1},
	{"edge_cancel_dispatch", &ff_edge_cancel_dispatch_interval_ms, 0, 0, -1},
	{"edge_cancel_reconcile", &ff_edge_cancel_reconcile_interval_ms, 0, 0, -1},
	{"suspension_timeout", &ff_suspension_timeout_interval_ms, 0, 0, -1},
	{"pending_waitpoint_expiry", &ff_pending_waitpoint_expiry_interval_ms, 0, 0, -1},
	{"budget_reset", &ff_budget_reset_interval_ms, 0, 0, -1},
	{"budget_reconcile", &ff_budget_reconcile_interval_ms, 0, 0, -1},
	{"quota_reconcile", &ff_quota_reconcile_interval_ms, 0, 0, -1},
	{"worker_registry_sweep", &ff_worker_registry_sweep_interval_ms, 0, 0, -1},
	{"schedules", &ff_schedules_interval_ms, 0, 0, -1},
};

#define NUM_SCANNERS lengthof(scanners)

/*
 * One batch; "more" when it was full, so a backlog is drained at once;
 * "next_in_ms" when the scanner knows its next work is due sooner than its
 * interval (the schedules scanner: the next slot), so the worker wakes then.
 */
static FFPlan plan_run_scanner = {
	"SELECT coalesce((r ->> 'more')::boolean, false), coalesce((r ->> 'next_in_ms')::bigint, -1) "
	"FROM ff.run_scanner($1) r", 1, {TEXTOID}
};

/* Most batches one scanner takes in a row before the others get a turn. */
#define FF_MAX_BATCHES_PER_TICK 256

/* Completion events: dispatched when a commit announces them, else polled. */
static FFPlan plan_dispatch = {
	"SELECT coalesce((r ->> 'more')::boolean, false) FROM ff.dispatch_completions(100) r", 0, {0}
};
/* then the sibling cancels those completions may have requested */
static FFPlan plan_sibling_dispatch = {
	"SELECT coalesce((r ->> 'more')::boolean, false) FROM ff.scan_edge_cancel_dispatch(50) r", 0, {0}
};
/* and the members a cancel_flow(wait => false) left owed a cancel */
static FFPlan plan_flow_cancel_dispatch = {
	"SELECT coalesce((r ->> 'more')::boolean, false) FROM ff.dispatch_flow_cancels(500) r", 0, {0}
};
#define FF_DISPATCH_POLL_MS 1000
static TimestampTz next_dispatch_poll = 0;

/* The extension is installed (call inside a transaction). */
static bool
extension_present(void)
{
	return OidIsValid(get_extension_oid("ff_engine", true));
}

/*
 * run_batch
 *		One scanner batch in its own transaction.  Returns false when the
 *		extension has gone (the worker then exits); *more is set when the
 *		batch was full.  Errors propagate to the caller's PG_TRY.
 */
static bool
run_batch(ScannerSlot *s, bool *more)
{
	Datum		arg = CStringGetTextDatum(s->name);
	bool		present;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	present = extension_present();
	*more = false;
	if (present)
	{
		pgstat_report_activity(STATE_RUNNING, psprintf("ff_engine scanner %s", s->name));
		ff_spi_connect();
		ff_plan_exec(&plan_run_scanner, &arg, NULL, 1);
		*more = ff_col_bool(0, 1);
		s->next_in_ms = ff_col_int64(0, 2, -1);
		SPI_finish();
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return present;
}

/*
 * dispatch_completions
 *		Resolves downstream edges of new completion events, 100 per
 *		transaction, until none is left (or 256 batches); runs when a commit
 *		announced events and at least every second.  Errors are contained:
 *		ff.dispatch_completions isolates each event in a subtransaction.
 */
/* In a PG_CATCH: copy the error out, abort the transaction, log it. */
static void
abort_and_log(MemoryContext cxt, const char *activity)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	AbortCurrentTransaction();
	pgstat_report_activity(STATE_IDLE, NULL);
	ereport(LOG, (errmsg("%s failed: %s", activity, edata->message)));
}

/* Runs one kept plan in its own transaction; its boolean answer, false on error. */
static bool
run_dispatch_batch(FFPlan *plan, const char *activity, MemoryContext cxt)
{
	volatile bool more = false;

	MemoryContextReset(cxt);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, activity);
		ff_spi_connect();
		ff_plan_exec(plan, NULL, NULL, 1);
		more = ff_col_bool(0, 1);
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
	}
	PG_CATCH();
	{
		abort_and_log(cxt, activity);
		more = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(TopMemoryContext);
	CHECK_FOR_INTERRUPTS();
	return more;
}

/*
 * dispatch_completions
 *		Resolves downstream edges of new completion events, 100 per
 *		transaction, until none is left (or 256 batches), then cancels the
 *		losing siblings those resolutions asked for, then the members of
 *		flows cancelled without waiting (500 per transaction); runs when a
 *		commit announced work and at least every second.  Errors are contained:
 *		each event and each sibling group is isolated in a subtransaction.
 */
static void
dispatch_completions(MemoryContext cxt)
{
	int			batches;
	TimestampTz now = GetCurrentTimestamp();

	if (!ff_push_dispatch || (!ff_engine_take_pending() && now < next_dispatch_poll))
		return;
	next_dispatch_poll = TimestampTzPlusMilliseconds(now, FF_DISPATCH_POLL_MS);
	for (batches = 0; batches < FF_MAX_BATCHES_PER_TICK; batches++)
		if (!run_dispatch_batch(&plan_dispatch, "ff_engine dispatching completions", cxt))
			break;
	for (batches = 0; batches < FF_MAX_BATCHES_PER_TICK; batches++)
		if (!run_dispatch_batch(&plan_sibling_dispatch, "ff_engine cancelling siblings", cxt))
			break;
	for (batches = 0; batches < FF_MAX_BATCHES_PER_TICK; batches++)
		if (!run_dispatch_batch(&plan_flow_cancel_dispatch, "ff_engine cancelling flow members", cxt))
			break;
}

/*
 * relay_notifications
 *		Sends the notifications committed transactions of this database
 *		left for it (bgw_notify.c), in a transaction of its own; a failure is
 *		logged and those notifications are lost (they are wake-ups only).
 */
static void
relay_notifications(MemoryContext cxt)
{
	MemoryContextReset(cxt);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();
		(void) ff_notify_relay(ff_engine_my_slot());
	}
	PG_CATCH();
	{
		abort_and_log(cxt, "ff_engine sending notifications");
	}
	PG_END_TRY();
	MemoryContextSwitchTo(TopMemoryContext);
}

static int64
backoff_ms(const ScannerSlot *s)
{
	int			shift = Min(s->failures, 3);

	return (int64) *s->interval_ms << shift;
}

void
ff_engine_worker_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);
	MemoryContext loop_cxt;
	int			i;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname(FF_WORKER_TYPE);

	StartTransactionCommand();
	if (!extension_present() || !ff_enabled)
	{
		CommitTransactionCommand();
		proc_exit(0);
	}
	CommitTransactionCommand();
	ff_engine_slot_register();
	ereport(LOG, (errmsg("ff_engine worker started")));

	loop_cxt = AllocSetContextCreate(TopMemoryContext, "ff_engine worker loop", ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		TimestampTz now;
		long		sleep_ms = ff_launcher_naptime_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			/* new intervals apply from now */
			for (i = 0; i < (int) NUM_SCANNERS; i++)
				scanners[i].next_due = Min(scanners[i].next_due,
										   TimestampTzPlusMilliseconds(GetCurrentTimestamp(), *scanners[i].interval_ms));
		}
		if (!ff_enabled)
			proc_exit(0);

		for (i = 0; i < (int) NUM_SCANNERS; i++)
		{
			ScannerSlot *s = &scanners[i];

			/* notifications and completions first: workers wait on them */
			relay_notifications(loop_cxt);
			dispatch_completions(loop_cxt);
			now = GetCurrentTimestamp();
			if (now < s->next_due)
				continue;
			MemoryContextReset(loop_cxt);
			MemoryContextSwitchTo(loop_cxt);
			PG_TRY();
			{
				bool		more = true;
				int			batches;

				/* a full batch means a backlog: take the next one at once */
				for (batches = 0; more && batches < FF_MAX_BATCHES_PER_TICK; batches++)
				{
					if (!run_batch(s, &more))
					{
						ereport(LOG, (errmsg("ff_engine worker exiting: the extension is not installed")));
						proc_exit(0);
					}
					CHECK_FOR_INTERRUPTS();
					/* a long backlog does not hold up completions */
					relay_notifications(loop_cxt);
					dispatch_completions(loop_cxt);
				}
				s->failures = 0;
			}
			PG_CATCH();
			{
				ErrorData  *edata;

				/* copy the error out, then abort the failed transaction */
				MemoryContextSwitchTo(loop_cxt);
				edata = CopyErrorData();
				FlushErrorState();
				AbortCurrentTransaction();
				pgstat_report_activity(STATE_IDLE, NULL);
				s->failures++;
				ereport(LOG,
						(errmsg("ff_engine scanner %s failed: %s", s->name, edata->message),
						 errdetail("Consecutive failures: %d; next try in " INT64_FORMAT " ms.",
								   s->failures, backoff_ms(s))));
				FreeErrorData(edata);
			}
			PG_END_TRY();
			MemoryContextSwitchTo(TopMemoryContext);
			s->next_due = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													  s->failures == 0 && s->next_in_ms >= 0
													  ? Min(s->next_in_ms, backoff_ms(s))
													  : backoff_ms(s));
		}

		now = GetCurrentTimestamp();
		for (i = 0; i < (int) NUM_SCANNERS; i++)
		{
			long		until = TimestampDifferenceMilliseconds(now, scanners[i].next_due);

			sleep_ms = Min(sleep_ms, until);
		}
		sleep_ms = Min(sleep_ms, TimestampDifferenceMilliseconds(now, next_dispatch_poll));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(sleep_ms, 1), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
