/*-------------------------------------------------------------------------
 *
 * ff_engine.c
 *	  Module entry point: PG_MODULE_MAGIC, _PG_init and the settings.
 *
 *	  ff_engine is a durable execution engine inside PostgreSQL.  The
 *	  operations live in one file per subsystem (exec_ops.c, exec_lease.c,
 *	  exec_claim.c, ...); this file only defines what the module exposes
 *	  to the server.
 *
 * IDENTIFICATION
 *	  src/ff_engine.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include <limits.h>

#include "core_clock.h"
#include "core_memory.h"
#include "ff_engine.h"
#include "bgw_notify.h"
#include "core_tenant.h"
#include "bgw.h"
#include "bgw_jobs.h"

PG_MODULE_MAGIC;

int			ff_default_retention_s = 86400;
int			ff_max_payload_bytes = 1048576;
int			ff_max_json_bytes = 262144;
int			ff_max_json_depth = 32;
int			ff_max_frame_bytes = 65536;
int			ff_max_stream_frames = 16384;
int			ff_max_signals_per_execution = 10000;
bool		ff_enabled = true;
bool		ff_push_dispatch = true;
bool		ff_notify_completions = true;
int			ff_completion_events = FF_COMPLETION_EVENTS_FLOWS;
bool		ff_notify_work = true;
int			ff_launcher_naptime_ms = 5000;
int			ff_retention_failed_s = -1;
int			ff_retention_cancelled_s = -1;
static int	ff_schedule_catch_up_max = 100;	/* read by ff.scan_schedules */
int			ff_waitpoint_hmac_grace_ms = 86400000;
int			ff_signal_event_retention_ms = 86400000;
static int	ff_max_worker_ttl_ms = 3600000;	/* read by ff.register_worker */
static char *ff_scanner_namespace = NULL;
static char *ff_scanner_tag = NULL;

/* ff_engine.<name>: an on/off setting, on by default */
static void
define_switch(const char *name, const char *desc, const char *long_desc, bool *var,
			  GucContext context)
{
	DefineCustomBoolVariable(psprintf("ff_engine.%s", name), desc, long_desc,
							 var, true, context, 0, NULL, NULL, NULL);
}

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomStringVariable("ff_engine.test_clock_ms",
							   "Pins the engine clock to this many milliseconds since the Unix epoch (tests only).",
							   "Empty means the database's wall clock.",
							   &ff_test_clock_setting,
							   "",
							   PGC_SUSET,
							   0,
							   ff_test_clock_check,
							   ff_test_clock_assign,
							   NULL);

	DefineCustomBoolVariable("ff_engine.test_store_by_key",
							 "Writes every execution row by an UPDATE statement by key (tests only).",
							 "Off: a transition writes the row where its locking read found it.",
							 &ff_test_store_by_key,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("ff_engine.default_retention",
							"How long a terminal execution is kept before retention may purge it.",
							"A policy's stream_policy.retention_ttl_ms overrides it per execution.",
							&ff_default_retention_s,
							86400,
							0,
							INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("ff_engine.retention_failed",
							"How long a failed or expired execution is kept before retention may purge it (-1: ff_engine.default_retention).",
							"Lets terminal failures (the ff.dead_letter view) outlive completed work; a policy's stream_policy.retention_ttl_ms still overrides it.",
							&ff_retention_failed_s, -1, -1, INT_MAX, PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("ff_engine.retention_cancelled",
							"How long a cancelled execution is kept before retention may purge it (-1: ff_engine.default_retention).",
							"A policy's stream_policy.retention_ttl_ms still overrides it.",
							&ff_retention_cancelled_s, -1, -1, INT_MAX, PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);

	DefineCustomIntVariable("ff_engine.max_payload_bytes",
							"Largest input or result payload accepted, in bytes.",
							NULL,
							&ff_max_payload_bytes,
							1048576,
							0,
							MaxAllocSize / 2,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	/*
	 * Limits a caller cannot raise: call arguments of the same meaning only
	 * ask for less (the effective limit is the smaller of the two).
	 */
	DefineCustomIntVariable("ff_engine.max_json_bytes",
							"Largest JSON document a caller may have stored (tags, policies, resume conditions, a stream summary), in bytes.",
							"Larger ones are refused with SQLSTATE 54000 before anything is written.",
							&ff_max_json_bytes,
							262144,
							1024,
							MaxAllocSize / 2,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	DefineCustomIntVariable("ff_engine.max_json_depth",
							"Deepest nesting of arrays and objects accepted in a caller's JSON document.",
							"Checked before the document is parsed or walked; deeper ones are refused.",
							&ff_max_json_depth,
							32,
							2,
							1000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("ff_engine.max_frame_bytes",
							"Largest stream frame payload accepted, in bytes (append_frame's max_payload_bytes may only lower it).",
							NULL,
							&ff_max_frame_bytes,
							65536,
							0,
							MaxAllocSize / 2,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	DefineCustomIntVariable("ff_engine.max_stream_frames",
							"Most frames one attempt stream keeps (append_frame's retention_maxlen and maxlen_ceiling may only lower it).",
							"Durable streams without a retention_maxlen keep about min(10000, this).",
							&ff_max_stream_frames,
							16384,
							64,
							INT_MAX,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("ff_engine.max_signals_per_execution",
							"Most signals one execution may receive over its life (a call's max_signals_per_execution may only lower it).",
							"0: no limit.",
							&ff_max_signals_per_execution,
							10000,
							0,
							INT_MAX,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	define_switch("enabled",
				  "Runs the engine worker in a database (off: the scanners only run when called).",
				  "Settable per database with ALTER DATABASE; read when the worker connects.",
				  &ff_enabled, PGC_SUSET);
	define_switch("push_dispatch",
				  "The engine worker resolves dependencies as completions commit.",
				  "Off: only the dependency reconciler resolves them, every ff_engine.dependencies_interval.",
				  &ff_push_dispatch, PGC_SIGHUP);
	define_switch("notify_completions",
				  "Every terminal transition sends NOTIFY ff_completion in its transaction.",
				  "PostgreSQL serialises the commits of notifying transactions (one "
				  "cluster-wide lock held through the commit's flush); off lifts that "
				  "ceiling where nobody LISTENs.  Dependency resolution does not need it.",
				  &ff_notify_completions, PGC_SUSET);
	{
		static const struct config_enum_entry kinds[] = {
			{"flows", FF_COMPLETION_EVENTS_FLOWS, false},
			{"all", FF_COMPLETION_EVENTS_ALL, false},
			{NULL, 0, false}
		};

		DefineCustomEnumVariable("ff_engine.completion_events",
								 "Which terminal transitions leave a row in ff.completion_event.",
								 "flows (the default): only flow members', whose dependents the dispatcher "
								 "resolves from the row; every transition is still announced on the "
								 "completion channel.  all: every execution's, as in 0.1.",
								 &ff_completion_events, FF_COMPLETION_EVENTS_FLOWS, kinds,
								 PGC_SUSET, 0, NULL, NULL, NULL);
	}
	define_switch("notify_work",
				  "An execution becoming claimable sends NOTIFY on its lane's channel.",
				  "Off: workers poll claim_next instead of waiting on the channel.",
				  &ff_notify_work, PGC_SUSET);
	DefineCustomBoolVariable("ff_engine.notify_in_transaction",
							 "The committing transaction sends its own notifications (completions, lane wake-ups, signal events).",
							 "Off (the default): the engine worker sends them just after the commit, "
							 "because PostgreSQL serialises the commits of notifying transactions "
							 "(one cluster-wide lock held through the commit's flush).  Where no "
							 "engine worker runs for the database they are sent in the transaction anyway.",
							 &ff_notify_in_transaction, false, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("ff_engine.keep_freed_memory",
							"Freed memory a backend running the engine's functions keeps for its next call instead of giving it back to the kernel (glibc).",
							"A batch claim or completion allocates and frees a few megabytes; given back, "
							"the next call takes the pages again with a page fault each.  At a backend's "
							"first call glibc's own thresholds start here instead of at 128 kB; a backend "
							"keeps at most what it used.  0 leaves malloc as it is.  Lowering it takes "
							"effect in new sessions.",
							&ff_keep_freed_memory_kb, 8192, 0, 65536,
							PGC_SUSET, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomBoolVariable("ff_engine.require_namespace_binding",
							 "A role with no namespace binding sees and touches nothing (instead of everything).",
							 "For multi-tenant databases: every non-admin role must then be bound "
							 "with ff.grant_namespace before it can act.  Superusers and ff_admin "
							 "members are never restricted.",
							 &ff_require_namespace_binding, false, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("ff_engine.launcher_naptime",
							"How often the launcher looks for databases that need an engine worker.",
							NULL, &ff_launcher_naptime_ms, 5000, 100, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	/* ff_engine.<job>_interval: one per scanner of the job registry */
	ff_jobs_define_settings();
	DefineCustomIntVariable("ff_engine.schedule_catch_up_max",
							"Most slots one schedule fires in one scan when it catches up (catch_up = all).",
							"The rest fire in the following scans; slots older than the schedule's catch_up_window_ms are missed.",
							&ff_schedule_catch_up_max, 100, 1, 100000, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("ff_engine.waitpoint_hmac_grace",
							"How long tokens of a rotated-out waitpoint key still verify (default grace of ff.rotate_waitpoint_hmac_secret).",
							NULL, &ff_waitpoint_hmac_grace_ms, 86400000, 0, INT_MAX, PGC_USERSET,
							GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("ff_engine.signal_event_retention",
							"How long signal-delivery events are kept before the retention trimmer deletes them.",
							NULL, &ff_signal_event_retention_ms, 86400000, 1000, INT_MAX, PGC_SIGHUP,
							GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("ff_engine.max_worker_ttl",
							"Longest ttl_ms a worker registration may ask for (ff.register_worker refuses more).",
							"A heartbeat extends a registration by at most this much, so a worker that stops heartbeating leaves the registry within it.",
							&ff_max_worker_ttl_ms, 3600000, 1, INT_MAX, PGC_SUSET,
							GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomStringVariable("ff_engine.scanner_namespace",
							   "Scanners only touch executions of this namespace (empty: all).",
							   NULL, &ff_scanner_namespace, "", PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("ff_engine.scanner_tag",
							   "Scanners only touch executions carrying this tag, as key=value (empty: all).",
							   NULL, &ff_scanner_tag, "", PGC_SUSET, 0, NULL, NULL, NULL);

	MarkGUCPrefixReserved("ff_engine");

	if (process_shared_preload_libraries_in_progress)
	{
		ff_shmem_init();
		ff_register_launcher();
	}
}
