/*-------------------------------------------------------------------------
 *
 * workers.h
 *	  Background workers: a launcher started from shared_preload_libraries,
 *	  and one engine worker per database where ff_engine is installed,
 *	  which runs the scanners at their intervals.  See src/README.md.
 *
 * IDENTIFICATION
 *	  src/workers.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_WORKERS_H
#define FF_ENGINE_WORKERS_H

#include "postgres.h"

#include "storage/latch.h"
#include "storage/spin.h"

#define FF_LAUNCHER_TYPE	"ff_engine launcher"
#define FF_WORKER_TYPE		"ff_engine worker"

/* Shared state: where to find the launcher, to wake it. */
typedef struct FFShared
{
	slock_t		mutex;
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	bool		launcher_wake_requested;	/* retry every database now */
} FFShared;

extern FFShared *ff_shared;

/* GUCs */
extern bool ff_enabled;
extern int	ff_launcher_naptime_ms;
extern int	ff_lease_expiry_interval_ms;
extern int	ff_delayed_interval_ms;
extern int	ff_attempt_timeout_interval_ms;
extern int	ff_execution_deadline_interval_ms;
extern int	ff_unblock_interval_ms;
extern int	ff_retention_interval_ms;

extern void ff_shmem_init(void);
extern void ff_register_launcher(void);
extern void ff_wake_launcher_at_commit(void);

PGDLLEXPORT void ff_launcher_main(Datum main_arg);
PGDLLEXPORT void ff_engine_worker_main(Datum main_arg);

#endif							/* FF_ENGINE_WORKERS_H */
