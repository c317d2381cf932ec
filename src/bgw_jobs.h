/*-------------------------------------------------------------------------
 *
 * bgw_jobs.h
 *	  The job registry: every background job declared once (bgw_jobs.c).
 *	  The settings, the engine worker's schedule, ff.run_scanner,
 *	  ff._jobs(), the rows of ff.scanner_state and the status view all
 *	  come from the one table.  See src/README.md, "Workers and wake-ups".
 *
 * IDENTIFICATION
 *	  src/bgw_jobs.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_BGW_JOBS_H
#define FF_ENGINE_BGW_JOBS_H

#include "postgres.h"

/*
 * A job.  Its batch is one call of sql_function(batch_size), which returns
 * the jsonb envelope of a scan ({"processed", "errors", "more", and
 * optionally "next_in_ms"}).
 *
 *  - default_interval_ms > 0: a scanner, run at the interval of its setting
 *    ff_engine.<name>_interval, recorded in ff.scanner_state, callable as
 *    ff.run_scanner(name).
 *  - at_commit: also run (unrecorded) when a commit wakes the engine
 *    worker for completion work, and at least every FF_JOB_POLL_MS; jobs
 *    with no interval run only so.  They run in table order, until a batch
 *    is not full.
 */
typedef struct FFJob
{
	const char *name;
	const char *sql_function;	/* schema-qualified */
	int			batch_size;
	int			default_interval_ms;	/* 0: no setting, not a scanner */
	bool		at_commit;
	const char *description;	/* the setting's help text */
} FFJob;

/* Poll of the at-commit jobs, in case a wake-up was lost. */
#define FF_JOB_POLL_MS 1000

extern const FFJob ff_jobs[];
extern const int ff_njobs;

/* The current interval of a scanner (its setting); FF_JOB_POLL_MS otherwise. */
extern int	ff_job_interval_ms(int job);
extern bool ff_job_is_scanner(int job);
extern int	ff_job_lookup(const char *name);	/* -1: none */

/* Defines ff_engine.<name>_interval for every scanner (_PG_init). */
extern void ff_jobs_define_settings(void);

/*
 * One batch of a job (SPI connected, in a transaction).  A scanner's run
 * is recorded in ff.scanner_state (its row inserted if missing); an
 * at-commit run (record = false) is not.  Returns the envelope in the SPI
 * context; *more when the batch was full, *next_in_ms when the job asked
 * to run again sooner than its interval (-1 otherwise).
 */
extern Datum ff_job_run(int job, bool record, bool *more, int64 *next_in_ms);

/* Records a failed batch of a scanner in ff.scanner_state (SPI connected). */
extern void ff_job_record_error(int job, ErrorData *edata);

#endif							/* FF_ENGINE_BGW_JOBS_H */
