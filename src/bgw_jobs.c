/*-------------------------------------------------------------------------
 *
 * bgw_jobs.c
 *	  The job registry: every background job, declared once below (its
 *	  name, interval setting and default, batch size, the SQL function that
 *	  does one batch).  From the table come the settings
 *	  (ff_engine.<name>_interval), the engine worker's schedule
 *	  (bgw_engine.c), ff.run_scanner, ff._jobs() and through it the rows of
 *	  ff.scanner_state and the ff.scanner_status view.  Adding a job is one
 *	  line here, its SQL function, and its row in README's Settings table
 *	  (test/live/docs.sh checks it).
 *
 *	  A batch is one call of the job's SQL function through a kept plan;
 *	  whether that function is plpgsql or C does not matter here.
 *
 * IDENTIFICATION
 *	  src/bgw_jobs.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "bgw_jobs.h"
#include "core_clock.h"
#include "core_spi.h"

PG_FUNCTION_INFO_V1(ff_run_scanner);
PG_FUNCTION_INFO_V1(ff_jobs_sql);

/*
 * The jobs.  The batch sizes are the SQL functions' defaults (the pgTAP
 * suite 09_scanners checks it), so a manual call of ff.scan_<name>() does
 * what the worker does.  Order matters for the at-commit jobs only: the
 * completions are dispatched first, then the sibling cancels their
 * resolutions asked for, then the members of flows cancelled without waiting.
 */
const FFJob ff_jobs[] = {
	{"lease_expiry", "ff.scan_lease_expiry", 50, 1500, false,
	"Interval of the lease-expiry scanner."},
	{"delayed", "ff.scan_delayed", 50, 750, false,
	"Interval of the delayed promoter."},
	{"attempt_timeout", "ff.scan_attempt_timeouts", 50, 2000, false,
	"Interval of the attempt-timeout scanner."},
	{"execution_deadline", "ff.scan_execution_deadlines", 50, 5000, false,
	"Interval of the execution-deadline scanner."},
	{"unblock", "ff.scan_unblock", 100, 5000, false,
	"Interval of the unblock scanner."},
	{"retention", "ff.trim_retention", 200, 60000, false,
	"Interval of the retention trimmer."},
	{"dependencies", "ff.scan_dependencies", 50, 15000, false,
	"Interval of the dependency reconciler (safety net for lost completions)."},
	{"completion_dispatch", "ff.dispatch_completions", 100, 0, true,
	"Resolves the dependents of new completion events as their commit wakes the engine worker (ff_engine.push_dispatch)."},
	{"flow_cancel", "ff.scan_flow_cancels", 50, 15000, false,
	"Interval of the flow-cancel reconciler."},
	{"flow_projector", "ff.project_flows", 100, 15000, false,
	"Interval of the flow projector (flow summaries)."},
	{"edge_cancel_dispatch", "ff.scan_edge_cancel_dispatch", 50, 1000, true,
	"Interval of the sibling-cancel dispatcher (it is also woken at commit)."},
	{"flow_cancel_dispatch", "ff.dispatch_flow_cancels", 500, 0, true,
	"Cancels the members a cancel_flow(wait => false) left owed a cancel, as its commit wakes the engine worker."},
	{"edge_cancel_reconcile", "ff.scan_edge_cancel_reconcile", 50, 10000, false,
	"Interval of the sibling-cancel reconciler."},
	{"suspension_timeout", "ff.scan_suspension_timeouts", 50, 2000, false,
	"Interval of the suspension-timeout scanner."},
	{"pending_waitpoint_expiry", "ff.scan_pending_waitpoint_expiry", 100, 5000, false,
	"Interval of the pending-waitpoint expiry scanner."},
	{"budget_reset", "ff.scan_budget_resets", 20, 15000, false,
	"Interval of the budget-reset scanner."},
	{"budget_reconcile", "ff.reconcile_budgets", 1000, 30000, false,
	"Interval of the budget reconciler."},
	{"quota_reconcile", "ff.reconcile_quotas", 1000, 30000, false,
	"Interval of the quota reconciler."},
	{"worker_registry_sweep", "ff.sweep_worker_registry", 500, 30000, false,
	"Interval of the worker-registry sweep."},
	{"schedules", "ff.scan_schedules", 1000, 1000, false,
	"Interval of the schedule scanner (fires due slots of recurring schedules)."},
};

const int	ff_njobs = lengthof(ff_jobs);

/* The settings' variables, by job (unused for jobs without an interval). */
static int	job_interval_ms[lengthof(ff_jobs)];

bool
ff_job_is_scanner(int job)
{
	return ff_jobs[job].default_interval_ms > 0;
}

int
ff_job_interval_ms(int job)
{
	return ff_job_is_scanner(job) ? job_interval_ms[job] : FF_JOB_POLL_MS;
}

int
ff_job_lookup(const char *name)
{
	int			i;

	for (i = 0; i < ff_njobs; i++)
		if (strcmp(ff_jobs[i].name, name) == 0)
			return i;
	return -1;
}

/* A scanner's interval setting: ff_engine.<name>_interval. */
static char *
job_setting_name(int job)
{
	return psprintf("ff_engine.%s_interval", ff_jobs[job].name);
}

/* ff_engine.<name>_interval for every scanner: reloadable, floor 100 ms */
void
ff_jobs_define_settings(void)
{
	int			i;

	for (i = 0; i < ff_njobs; i++)
	{
		if (!ff_job_is_scanner(i))
			continue;
		job_interval_ms[i] = ff_jobs[i].default_interval_ms;
		DefineCustomIntVariable(job_setting_name(i),
								ff_jobs[i].description, NULL, &job_interval_ms[i],
								ff_jobs[i].default_interval_ms, 100, INT_MAX, PGC_SIGHUP,
								GUC_UNIT_MS, NULL, NULL, NULL);
	}
}

/* One batch of each job: the envelope and what the scheduler reads of it. */
static FFPlan *job_plans = NULL;

static FFPlan *
job_plan(int job)
{
	if (job_plans == NULL)
	{
		FFPlan	   *plans = MemoryContextAllocZero(TopMemoryContext, sizeof(FFPlan) * ff_njobs);
		int			i;

		for (i = 0; i < ff_njobs; i++)
		{
			/* the function name is the table's constant, never user input */
			plans[i].sql = MemoryContextStrdup(TopMemoryContext,
											   psprintf("SELECT r, (r ->> 'processed')::integer, (r ->> 'errors')::integer, "
														"coalesce((r ->> 'more')::boolean, false), "
														"coalesce((r ->> 'next_in_ms')::bigint, -1) "
														"FROM %s($1) r", ff_jobs[i].sql_function));
			plans[i].nargs = 1;
			plans[i].argtypes[0] = INT4OID;
		}
		job_plans = plans;
	}
	return &job_plans[job];
}

/* A job added by an upgrade of the library gets its row on its first run. */
static FFPlan plan_state_ensure = {
	"INSERT INTO ff.scanner_state (scanner) VALUES ($1) ON CONFLICT (scanner) DO NOTHING", 1, {TEXTOID}
};
static FFPlan plan_state_record = {
	"UPDATE ff.scanner_state s SET cycle = s.cycle + 1, runs = s.runs + 1, last_started_at = $2, "
	"last_duration_ms = $3, last_processed = $4, last_errors = $5, "
	"total_processed = s.total_processed + $4, total_errors = s.total_errors + $5, next_run_at = $2 + $6 "
	"WHERE s.scanner = $1",
	6, {TEXTOID, INT8OID, FLOAT8OID, INT4OID, INT4OID, INT8OID}
};
static FFPlan plan_state_error = {
	"INSERT INTO ff.scanner_state AS s (scanner, last_error_sqlstate, last_error, last_error_at) "
	"VALUES ($1, $2, $3, $4) ON CONFLICT (scanner) DO UPDATE SET "
	"last_error_sqlstate = EXCLUDED.last_error_sqlstate, last_error = EXCLUDED.last_error, "
	"last_error_at = EXCLUDED.last_error_at",
	4, {TEXTOID, TEXTOID, TEXTOID, INT8OID}
};

Datum
ff_job_run(int job, bool record, bool *more, int64 *next_in_ms)
{
	const FFJob *j = &ff_jobs[job];
	Datum		name = CStringGetTextDatum(j->name);
	Datum		batch = Int32GetDatum(j->batch_size);
	TimestampTz started;
	int64		now;
	Datum		r;
	bool		isnull;

	if (record)
		ff_plan_exec(&plan_state_ensure, &name, NULL, 0);
	started = GetCurrentTimestamp();
	now = ff_now_ms();
	ff_plan_exec(job_plan(job), &batch, NULL, 1);
	r = ff_col_datum(0, 1, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("%s returned NULL", j->sql_function)));
	r = datumCopy(r, false, -1);
	*more = ff_col_bool(0, 4);
	*next_in_ms = ff_col_int64(0, 5, -1);
	if (record)
	{
		Datum		v[6];
		bool		n[6] = {false, false, false, false, false, false};

		v[0] = name;
		v[1] = Int64GetDatum(now);
		v[2] = Float8GetDatum((double) (GetCurrentTimestamp() - started) / 1000.0);
		v[3] = ff_col_datum(0, 2, &n[3]);
		v[4] = ff_col_datum(0, 3, &n[4]);
		v[5] = Int64GetDatum((int64) ff_job_interval_ms(job));
		ff_plan_exec(&plan_state_record, v, n, 0);
	}
	return r;
}

void
ff_job_record_error(int job, ErrorData *edata)
{
	Datum		v[4];
	StringInfoData msg;

	initStringInfo(&msg);
	appendStringInfoString(&msg, edata->message ? edata->message : "");
	if (edata->detail)
		appendStringInfo(&msg, "\nDETAIL: %s", edata->detail);
	v[0] = CStringGetTextDatum(ff_jobs[job].name);
	v[1] = CStringGetTextDatum(unpack_sql_state(edata->sqlerrcode));
	v[2] = CStringGetTextDatum(msg.data);
	v[3] = Int64GetDatum(ff_now_ms());
	ff_plan_exec(&plan_state_error, v, NULL, 0);
}

/*
 * ff.run_scanner(scanner text) -> jsonb
 *		One batch of a scanner, recorded in ff.scanner_state (what pg_cron
 *		calls through ff.run_scanners; the engine worker runs ff_job_run).
 */
Datum
ff_run_scanner(PG_FUNCTION_ARGS)
{
	int			job = PG_ARGISNULL(0) ? -1 : ff_job_lookup(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	bool		more;
	int64		next_in_ms;

	if (job < 0 || !ff_job_is_scanner(job))
	{
		StringInfoData names;
		int			i;

		initStringInfo(&names);
		for (i = 0; i < ff_njobs; i++)
			if (ff_job_is_scanner(i))
				appendStringInfo(&names, "%s%s", names.len > 0 ? ", " : "", ff_jobs[i].name);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown scanner \"%s\"",
						PG_ARGISNULL(0) ? "<NULL>" : text_to_cstring(PG_GETARG_TEXT_PP(0))),
				 errhint("Scanners: %s.", names.data)));
	}
	ff_spi_connect();
	return ff_spi_finish_datum(ff_job_run(job, true, &more, &next_in_ms));
}

/*
 * ff._jobs() -> setof (name, setting, interval_ms, default_interval_ms,
 *					  batch_size, sql_function, at_commit, description)
 *		The registry as a table; interval_ms is the setting's value in this
 *		session.
 */
Datum
ff_jobs_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < ff_njobs; i++)
	{
		const FFJob *j = &ff_jobs[i];
		Datum		v[8];
		bool		n[8] = {false, false, false, false, false, false, false, false};

		v[0] = CStringGetTextDatum(j->name);
		if (ff_job_is_scanner(i))
			v[1] = CStringGetTextDatum(job_setting_name(i));
		else
			n[1] = true;
		v[2] = Int64GetDatum((int64) ff_job_interval_ms(i));
		v[3] = Int64GetDatum((int64) (ff_job_is_scanner(i) ? j->default_interval_ms : FF_JOB_POLL_MS));
		v[4] = Int32GetDatum(j->batch_size);
		v[5] = CStringGetTextDatum(j->sql_function);
		v[6] = BoolGetDatum(j->at_commit);
		v[7] = CStringGetTextDatum(j->description);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, n);
	}
	return (Datum) 0;
}
