/*-------------------------------------------------------------------------
 *
 * bgw.h
 *	  Background workers: a launcher started from shared_preload_libraries,
 *	  and one engine worker per database where ff_engine is installed,
 *	  which runs the scanners at their intervals.  See src/README.md.
 *
 * IDENTIFICATION
 *	  src/bgw.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_WORKERS_H
#define FF_ENGINE_WORKERS_H

#include "postgres.h"

#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/spin.h"
#include "utils/uuid.h"

#define FF_LAUNCHER_TYPE	"ff_engine launcher"
#define FF_WORKER_TYPE		"ff_engine worker"

/* A session blocked in ff.tail_attempt_stream, waiting for frames. */
#define FF_MAX_STREAM_WAITERS 128

typedef struct StreamKey
{
	Oid			dboid;
	int			partition;
	pg_uuid_t	uuid;
	int			attempt_index;
} StreamKey;

typedef struct StreamWaiter
{
	pid_t		pid;			/* 0: slot free */
	StreamKey	key;
	Latch	   *latch;
} StreamWaiter;

/* An engine worker, woken after commit when completions need dispatching. */
#define FF_MAX_ENGINE_WORKERS 64

typedef struct EngineSlot
{
	Oid			dboid;			/* InvalidOid: slot free */
	pid_t		pid;
	Latch	   *latch;
	bool		work_pending;	/* completions or sibling cancels to dispatch */
} EngineSlot;

/* Shared state: where to find the launcher, and who waits on which stream. */
typedef struct FFShared
{
	slock_t		mutex;
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	bool		launcher_wake_requested;	/* retry every database now */
	StreamWaiter waiters[FF_MAX_STREAM_WAITERS];
	EngineSlot	engines[FF_MAX_ENGINE_WORKERS];
	pg_atomic_uint64 lane_gen;	/* bumped when ff.lane changes (exec_lane.c) */
} FFShared;

extern FFShared *ff_shared;

/* GUCs */
extern bool ff_enabled;
extern bool ff_push_dispatch;
extern int	ff_launcher_naptime_ms;

extern void ff_shmem_init(void);
extern void ff_register_launcher(void);
extern void ff_wake_launcher_at_commit(void);
extern int	ff_stream_waiter_register(const StreamKey *key);
extern void ff_stream_waiter_unregister(int slot);
extern void ff_stream_wake_at_commit(const StreamKey *key);
extern void ff_engine_slot_register(void);
extern void ff_engine_wake(Oid dboid);
extern bool ff_engine_take_pending(void);
extern int	ff_engine_my_slot(void);
extern int	ff_engine_slot_of(Oid dboid);
extern Latch *ff_engine_slot_latch(int slot, Oid dboid);

PGDLLEXPORT void ff_launcher_main(Datum main_arg);
PGDLLEXPORT void ff_engine_worker_main(Datum main_arg);

#endif							/* FF_ENGINE_WORKERS_H */
