/*-------------------------------------------------------------------------
 *
 * bgw_engine.c
 *	  The engine worker: one per database with ff_engine installed.  It
 *	  runs the jobs of the registry (bgw_jobs.c): each scanner at its
 *	  interval, the at-commit jobs as commits wake it, one batch per
 *	  transaction, and sleeps on its latch until the next one is due.  A
 *	  full batch means a backlog, so the next batch follows at once (up to
 *	  256 in a row, the reference's sweep of 256 partitions).
 *
 *	  - An error in one batch is logged (SQLSTATE, message, detail) and the
 *	    loop goes on (batch_failed); a failing scanner records it in
 *	    ff.scanner_state (last_error_*) and backs off (its interval
 *	    doubled per consecutive failure, up to 8 times).  Failing *items*
 *	    are tracked by the scanners themselves (skipped for 10 cycles
 *	    after 3 failures).
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
#include "bgw_jobs.h"

/* A job's schedule in this worker (by job: bgw_jobs.c). */
typedef struct JobSlot
{
	TimestampTz next_due;
	int			failures;		/* consecutive failed batches */
	int64		next_in_ms;		/* the last batch's next_in_ms, -1 if none */
} JobSlot;

static JobSlot *slots;

/* Most batches one job takes in a row before the others get a turn. */
#define FF_MAX_BATCHES_PER_TICK 256

/* The at-commit jobs run when a commit announces work, else polled. */
static TimestampTz next_dispatch_poll = 0;

/* The extension is installed (call inside a transaction). */
static bool
extension_present(void)
{
	return OidIsValid(get_extension_oid("ff_engine", true));
}

/* One batch of a job, what it asks for, and how it went. */
typedef struct JobRun
{
	int			job;
	bool		record;			/* a scanner's run, kept in ff.scanner_state */
	const char *activity;
	bool		present;		/* the extension was there */
	bool		more;
	int64		next_in_ms;
} JobRun;

/*
 * job_batch
 *		One batch in its own transaction.  Errors propagate to the
 *		caller's run_guarded.
 */
static void
job_batch(void *arg)
{
	JobRun	   *run = (JobRun *) arg;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	run->present = extension_present();
	run->more = false;
	run->next_in_ms = -1;
	if (run->present)
	{
		pgstat_report_activity(STATE_RUNNING, run->activity);
		ff_spi_connect();
		(void) ff_job_run(run->job, run->record, &run->more, &run->next_in_ms);
		SPI_finish();
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * run_guarded
 *		Runs fn(arg); on an error copies it into cxt, aborts the
 *		transaction and returns it (NULL when fn succeeded).  The loop goes
 *		on whatever one batch does.
 */
static ErrorData *
run_guarded(void (*fn) (void *), void *arg, MemoryContext cxt)
{
	ErrorData  *volatile edata = NULL;

	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		fn(arg);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		pgstat_report_activity(STATE_IDLE, NULL);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(TopMemoryContext);
	return edata;
}

static int64
backoff_ms(int job)
{
	int			shift = Min(slots[job].failures, 3);

	return (int64) ff_job_interval_ms(job) << shift;
}

/* Records a scanner's failed batch in ff.scanner_state, in a transaction of its own. */
typedef struct FailedJob
{
	int			job;
	ErrorData  *edata;
} FailedJob;

static void
record_failure(void *arg)
{
	FailedJob  *f = (FailedJob *) arg;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (extension_present())
	{
		ff_spi_connect();
		ff_job_record_error(f->job, f->edata);
		SPI_finish();
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/*
 * batch_failed
 *		What a failed batch leads to, for every kind of work the worker
 *		does: the log line (SQLSTATE, message, detail); for a scanner
 *		(job >= 0 with recording) also its back-off (the interval doubled
 *		per consecutive failure, up to 8 times) and its last error in
 *		ff.scanner_state.
 */
static void
batch_failed(const char *what, int job, bool scanner, ErrorData *edata, MemoryContext cxt)
{
	const char *sqlstate = unpack_sql_state(edata->sqlerrcode);

	if (!scanner)
	{
		ereport(LOG,
				(errcode(edata->sqlerrcode),
				 errmsg("%s failed: SQLSTATE %s: %s", what, sqlstate, edata->message),
				 edata->detail ? errdetail_internal("%s", edata->detail) : 0));
		return;
	}
	slots[job].failures++;
	ereport(LOG,
			(errcode(edata->sqlerrcode),
			 errmsg("%s failed: SQLSTATE %s: %s", what, sqlstate, edata->message),
			 errdetail_internal("%s%sConsecutive failures: %d; next try in " INT64_FORMAT " ms.",
								edata->detail ? edata->detail : "", edata->detail ? "\n" : "",
								slots[job].failures, backoff_ms(job))));
	{
		FailedJob	f = {job, edata};
		ErrorData  *again = run_guarded(record_failure, &f, cxt);

		if (again)
			ereport(LOG,
					(errcode(again->sqlerrcode),
					 errmsg("%s: its failure could not be recorded: SQLSTATE %s: %s",
							what, unpack_sql_state(again->sqlerrcode), again->message)));
	}
}

/*
 * dispatch_at_commit
 *		The at-commit jobs (bgw_jobs.h), in table order: the dependents of
 *		new completion events, then the losing siblings those resolutions
 *		asked to cancel, then the members of flows cancelled without
 *		waiting; each until a batch is not full (or 256 batches).  Runs when
 *		a commit announced work and at least every FF_JOB_POLL_MS.  Each
 *		event and each sibling group is isolated in a subtransaction by the
 *		job itself; a failed batch is logged and the next job runs.
 */
static void
dispatch_at_commit(MemoryContext cxt)
{
	TimestampTz now = GetCurrentTimestamp();
	int			i;

	if (!ff_push_dispatch || (!ff_engine_take_pending() && now < next_dispatch_poll))
		return;
	next_dispatch_poll = TimestampTzPlusMilliseconds(now, FF_JOB_POLL_MS);
	for (i = 0; i < ff_njobs; i++)
	{
		int			batches;

		if (!ff_jobs[i].at_commit)
			continue;
		for (batches = 0; batches < FF_MAX_BATCHES_PER_TICK; batches++)
		{
			JobRun		run = {i, false, NULL, false, false, -1};
			ErrorData  *edata;

			MemoryContextReset(cxt);
			MemoryContextSwitchTo(cxt);
			run.activity = psprintf("ff_engine dispatcher %s", ff_jobs[i].name);
			edata = run_guarded(job_batch, &run, cxt);
			if (edata)
				batch_failed(run.activity, i, false, edata, cxt);
			CHECK_FOR_INTERRUPTS();
			if (edata || !run.present || !run.more)
				break;
		}
	}
}

/*
 * relay_notifications
 *		Sends the notifications committed transactions of this database
 *		left for it (bgw_notify.c), in a transaction of its own; a failure is
 *		logged and those notifications are lost (they are wake-ups only).
 */
static void
relay_batch(void *arg)
{
	SetCurrentStatementStartTimestamp();
	(void) ff_notify_relay(ff_engine_my_slot());
}

static void
relay_notifications(MemoryContext cxt)
{
	ErrorData  *edata;

	MemoryContextReset(cxt);
	edata = run_guarded(relay_batch, NULL, cxt);
	if (edata)
		batch_failed("ff_engine sending notifications", -1, false, edata, cxt);
}

/*
 * scanner_tick
 *		The batches of one due scanner: a full batch means a backlog, so
 *		the next follows at once (up to 256); notifications and completions
 *		are handled between them, so a long backlog does not hold them up.
 */
typedef struct ScannerTick
{
	JobRun		run;
	MemoryContext aux_cxt;
} ScannerTick;

static void
scanner_tick(void *arg)
{
	ScannerTick *t = (ScannerTick *) arg;
	int			batches;

	t->run.more = true;
	for (batches = 0; t->run.more && batches < FF_MAX_BATCHES_PER_TICK; batches++)
	{
		job_batch(&t->run);
		if (!t->run.present)
		{
			ereport(LOG, (errmsg("ff_engine worker exiting: the extension is not installed")));
			proc_exit(0);
		}
		slots[t->run.job].next_in_ms = t->run.next_in_ms;
		CHECK_FOR_INTERRUPTS();
		relay_notifications(t->aux_cxt);
		dispatch_at_commit(t->aux_cxt);
	}
}

void
ff_engine_worker_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);
	MemoryContext loop_cxt;
	MemoryContext aux_cxt;
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

	slots = MemoryContextAllocZero(TopMemoryContext, sizeof(JobSlot) * ff_njobs);
	for (i = 0; i < ff_njobs; i++)
		slots[i].next_in_ms = -1;
	loop_cxt = AllocSetContextCreate(TopMemoryContext, "ff_engine worker loop", ALLOCSET_DEFAULT_SIZES);
	aux_cxt = AllocSetContextCreate(TopMemoryContext, "ff_engine worker dispatch", ALLOCSET_DEFAULT_SIZES);
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
			for (i = 0; i < ff_njobs; i++)
				slots[i].next_due = Min(slots[i].next_due,
										TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ff_job_interval_ms(i)));
		}
		if (!ff_enabled)
			proc_exit(0);

		for (i = 0; i < ff_njobs; i++)
		{
			JobSlot    *s = &slots[i];
			ScannerTick t;
			ErrorData  *edata;

			/* notifications and completions first: workers wait on them */
			relay_notifications(aux_cxt);
			dispatch_at_commit(aux_cxt);
			if (!ff_job_is_scanner(i))
				continue;
			now = GetCurrentTimestamp();
			if (now < s->next_due)
				continue;
			MemoryContextReset(loop_cxt);
			MemoryContextSwitchTo(loop_cxt);
			t.run.job = i;
			t.run.record = true;
			t.run.activity = psprintf("ff_engine scanner %s", ff_jobs[i].name);
			t.aux_cxt = aux_cxt;
			edata = run_guarded(scanner_tick, &t, loop_cxt);
			if (edata)
				batch_failed(t.run.activity, i, true, edata, aux_cxt);
			else
				s->failures = 0;
			s->next_due = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													  s->failures == 0 && s->next_in_ms >= 0
													  ? Min(s->next_in_ms, backoff_ms(i))
													  : backoff_ms(i));
		}

		now = GetCurrentTimestamp();
		for (i = 0; i < ff_njobs; i++)
		{
			long		until;

			if (!ff_job_is_scanner(i))
				continue;
			until = TimestampDifferenceMilliseconds(now, slots[i].next_due);
			sleep_ms = Min(sleep_ms, until);
		}
		sleep_ms = Min(sleep_ms, TimestampDifferenceMilliseconds(now, next_dispatch_poll));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(sleep_ms, 1), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
