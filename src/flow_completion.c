/*-------------------------------------------------------------------------
 *
 * flow_completion.c
 *	  Completion in one place, in the order an execution_id travels:
 *
 *	  1. emit: every terminal transition (exec_ops.c complete / fail /
 *	     cancel / expire, exec_claim.c, susp_ops.c, a skip in
 *	     flow_resolve.c) calls ff_completion_emit, which writes the
 *	     completion event (a flow member's always, others' only under
 *	     ff_engine.completion_events = all) and announces it on its
 *	     namespace's completion channel, sent after the commit;
 *	  2. wake: a flow member's event asks for the engine worker of the
 *	     database (ff_wake_engine_at_commit); at commit its slot is marked
 *	     and its latch set (ff_engine_wake, bgw_shmem.c);
 *	  3. schedule: the worker runs the registry's at-commit jobs
 *	     (bgw_jobs.c, bgw_engine.c), the first of which is
 *	     ff.dispatch_completions;
 *	  4. dispatch: ff_dispatch_completions, below, takes the undispatched
 *	     events and hands each flow member's to ff_cascade_completion
 *	     (flow_resolve.c), which resolves its outgoing edges.
 *
 *	  Dispatch: each event of a flow member is handled in its own
 *	  subtransaction (resolve every outgoing edge, then mark the event
 *	  processed), so a crash never loses work and a failing event does not
 *	  block the others.  A skip writes its own completion event, so a
 *	  cascade proceeds level by level with no depth limit.
 *
 * IDENTIFICATION
 *	  src/flow_completion.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "bgw.h"
#include "bgw_batch.h"
#include "bgw_notify.h"
#include "core_clock.h"
#include "core_result.h"
#include "core_spi.h"
#include "core_tenant.h"
#include "exec_core.h"
#include "ff_engine.h"
#include "flow_completion.h"
#include "flow_resolve.h"

PG_FUNCTION_INFO_V1(ff_dispatch_completions);

/* ---- completion events (behaviour/execution §3.32, behaviour/README §6) ---- */

static void completion_announce_all(uint64 n);

/*
 * Both forms return the event as completion_announce reads it.  The event
 * of an execution outside any flow has no edges to resolve: it is written
 * already dispatched (processed_at set), so the dispatcher never visits it.
 */
static FFPlan plan_completion_insert = {
	"INSERT INTO ff.completion_event (partition, execution_id, flow_id, outcome, created_at, processed_at, namespace) "
	"VALUES ($1, $2, $3, $4::ff.terminal_outcome, $5, CASE WHEN $3 IS NULL THEN $5 END, $6) "
	"RETURNING event_id, partition, execution_id, flow_id, outcome::text, namespace",
	6, {INT2OID, UUIDOID, UUIDOID, TEXTOID, INT8OID, TEXTOID}, NULL, false,
	"INSERT INTO ff.completion_event (partition, execution_id, flow_id, outcome, created_at, processed_at, namespace) "
	"SELECT a1, a2, a3, a4::ff.terminal_outcome, a5, CASE WHEN a3 IS NULL THEN a5 END, a6 FROM %s "
	"RETURNING event_id, partition, execution_id, flow_id, outcome::text, namespace",
	0, true, completion_announce_all
};

/*
 * Announce a terminal transition on its namespace's completion channel
 * (ff_completion_channel: a name only roles that may read the namespace
 * can learn, since PostgreSQL lets any role LISTEN on any channel).
 */
static void
announce(int64 event_id, int partition, const pg_uuid_t *exec_uuid,
		 const pg_uuid_t *flow, const char *outcome, const char *ns)
{
	char		flowbuf[37];

	if (flow)
		ff_format_uuid(flow, flowbuf);
	ff_notify_at_commit(ff_completion_channel(ns),
				 psprintf("{\"event_id\": " INT64_FORMAT ", \"execution_id\": \"%s\", "
						  "\"flow_id\": %s%s%s, \"outcome\": \"%s\"}",
						  event_id, ff_format_exec_id(partition, exec_uuid),
						  flow ? "\"" : "", flow ? flowbuf : "null",
						  flow ? "\"" : "", outcome));
}

/* Announce the event in row `row` of the insert's result. */
static void
completion_announce(int row)
{
	bool		isnull;
	Datum		flow = ff_col_datum(row, 4, &isnull);
	bool		noflow = isnull;

	if (!ff_notify_completions)
		return;
	announce(ff_col_int64(row, 1, 0), (int) ff_col_int64(row, 2, 0),
			 DatumGetUUIDP(ff_col_datum(row, 3, &isnull)),
			 noflow ? NULL : DatumGetUUIDP(flow), ff_col_text(row, 5),
			 ff_col_text(row, 6));
}

static void
completion_announce_all(uint64 n)
{
	uint64		i;

	for (i = 0; i < n; i++)
		completion_announce((int) i);
}

/*
 * An event id for an announcement without a row: the rows' own sequence,
 * advanced as nextval() does, without a statement (whose executor start-up
 * cost a completion ~3 % of its instructions).
 */
static int64
next_event_id(void)
{
	/* (the lock nextval takes on the sequence) */
	return nextval_internal(ff_rel_lock("completion_event_event_id_seq", RowExclusiveLock), true);
}

/*
 * ff_completion_emit
 *		Record the terminal transition and announce it on its namespace's
 *		completion channel; the notification is delivered after commit.
 *		Only a flow member's transition needs its row (the dispatcher
 *		resolves its dependents from it); outside a flow the row is written
 *		only under ff_engine.completion_events = all, and the announcement
 *		takes its event id from the rows' sequence, so listeners see the
 *		same payload either way (doc/decisions.md, "Completion events").
 */
void
ff_completion_emit(ExecCore *c, TerminalOutcome outcome, int64 now)
{
	Datum		v[6];
	bool		n[6] = {false};

	if (!c->flow_id.set && ff_completion_events == FF_COMPLETION_EVENTS_FLOWS)
	{
		if (!ff_notify_completions)
			return;
		ff_completion_channel_key_load();
		announce(next_event_id(), c->id.partition, &c->id.uuid, NULL,
				 ff_outcome_labels[outcome], c->namespace);
		return;
	}
	v[0] = Int16GetDatum((int16) c->id.partition);
	v[1] = UUIDPGetDatum(&c->id.uuid);
	v[2] = UUIDPGetDatum(&c->flow_id.v);
	n[2] = !c->flow_id.set;
	v[3] = CStringGetTextDatum(ff_outcome_labels[outcome]);
	v[4] = Int64GetDatum(now);
	v[5] = CStringGetTextDatum(c->namespace);
	if (c->flow_id.set)
		ff_wake_engine_at_commit();
	/* announcing reads the insert's result: no query of its own then */
	if (ff_notify_completions)
		ff_completion_channel_key_load();
	/* deferred: announced when the batch's events are inserted */
	if (!ff_plan_defer(&plan_completion_insert, v, n))
	{
		ff_plan_exec(&plan_completion_insert, v, n, 1);
		completion_announce(0);
	}
}

/* ---- the engine worker's wake-up (after commit) ---- */

static bool wake_engine_at_commit = false;
static bool xact_callback_registered = false;

static void
completion_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && wake_engine_at_commit)
		ff_engine_wake(MyDatabaseId);
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE)
		wake_engine_at_commit = false;
}

/*
 * ff_wake_engine_at_commit
 *		This transaction wrote work for the engine worker of its database
 *		(completion events, sibling cancels): wake it once we commit.
 */
void
ff_wake_engine_at_commit(void)
{
	if (ff_shared == NULL)
		return;
	if (!xact_callback_registered)
	{
		RegisterXactCallback(completion_xact_callback, NULL);
		xact_callback_registered = true;
	}
	wake_engine_at_commit = true;
}

/* ---- dispatch ---- */

#define DISPATCH_JOB "completion_dispatch"

/* undispatched events, oldest first, but for those whose execution waits */
static FFPlan plan_events = {
	"SELECT c.partition, c.event_id, c.execution_id, c.flow_id, f.item_id IS NOT NULL "
	"FROM ff.completion_event c LEFT JOIN ff.scanner_item_failure f ON f.scanner = '" DISPATCH_JOB "' "
	"AND f.partition = c.partition AND f.item_id = c.execution_id "
	"WHERE c.processed_at IS NULL AND (f.skip_until_at IS NULL OR f.skip_until_at <= $2) "
	"ORDER BY c.event_id LIMIT $1 FOR UPDATE OF c SKIP LOCKED",
	2, {INT4OID, INT8OID}
};
static FFPlan plan_event_done = {
	"UPDATE ff.completion_event SET processed_at = $3 WHERE partition = $1 AND event_id = $2",
	3, {INT2OID, INT8OID, INT8OID}, NULL, false,
	"UPDATE ff.completion_event c SET processed_at = v.a3 FROM %s "
	"WHERE c.partition = v.a1 AND c.event_id = v.a2",
	0, true
};
typedef struct PendingEvent
{
	int			partition;
	int64		event_id;
	pg_uuid_t	execution;
	bool		has_flow;
	pg_uuid_t	flow;
	bool		failing;		/* its execution has a failure row */
} PendingEvent;

typedef struct EventTask
{
	PendingEvent *e;
	int64		now;
	int		   *resolved;
} EventTask;

/* Mark the event processed (deferred while writes are deferred). */
static void
event_done(PendingEvent *e, int64 now)
{
	Datum		v[3];

	v[0] = Int16GetDatum((int16) e->partition);
	v[1] = Int64GetDatum(e->event_id);
	v[2] = Int64GetDatum(now);
	ff_plan_exec(&plan_event_done, v, NULL, 0);
}

static void
dispatch_event_task(void *arg)
{
	EventTask  *t = (EventTask *) arg;

	if (t->e->has_flow)
		*t->resolved += ff_cascade_completion(t->e->partition, &t->e->flow, &t->e->execution, t->now);
	event_done(t->e, t->now);
}

/*
 * dispatch_event
 *		One completion event in its own subtransaction: resolve the
 *		execution's outgoing edges and mark the event processed.  On an
 *		error the subtransaction rolls back and the failure is recorded in
 *		ff.scanner_item_failure by the event's execution (bgw_batch.c, by
 *		time: the dispatcher runs at every commit, not in cycles); a later
 *		success deletes the row.
 */
static bool
dispatch_event(PendingEvent *e, int64 now, MemoryContext callercxt, int *resolved)
{
	EventTask	t = {e, now, resolved};
	ErrorData  *edata = ff_run_in_subxact(dispatch_event_task, &t, callercxt);

	if (edata == NULL)
	{
		if (e->failing)
			ff_batch_clear_failure(DISPATCH_JOB, e->partition, &e->execution);
		return true;
	}
	ff_batch_record_failure_timed(DISPATCH_JOB, e->partition, &e->execution, edata, now);
	FreeErrorData(edata);
	return false;
}

/*
 * ff.dispatch_completions(max_events) -> jsonb
 *		Handles up to max_events undispatched completion events, oldest
 *		first, each in its own subtransaction: resolve its execution's
 *		outgoing edges, mark it processed.  A failing event is recorded in
 *		ff.scanner_item_failure and retried after 1 s, after 10 s once it
 *		failed three times.  Returns {processed,
 *		resolved, errors, more}.
 */
Datum
ff_dispatch_completions(PG_FUNCTION_ARGS)
{
	int			max_events = PG_ARGISNULL(0) ? 100 : PG_GETARG_INT32(0);
	int64		now = ff_now_ms();
	MemoryContext callercxt;
	PendingEvent *events;
	uint64		n,
				i;
	int			processed = 0,
				resolved = 0,
				errors = 0;
	FFResult	r;
	Datum		v[4];
	bool		isnull;

	if (max_events < 1 || max_events > 10000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_events must be between 1 and 10000, got %d", max_events)));
	ff_spi_connect();
	callercxt = CurrentMemoryContext;

	/*
	 * Events written by this very call (a skip announces itself) are taken
	 * in the next round, so one call carries a cascade down a chain.
	 */
	for (;;)
	{
		int			room = max_events - processed - errors;

		if (room <= 0)
			break;
		v[0] = Int32GetDatum(room);
		v[1] = Int64GetDatum(now);
		n = ff_plan_exec(&plan_events, v, NULL, 0);
		if (n == 0)
			break;
		events = palloc(sizeof(PendingEvent) * n);
		for (i = 0; i < n; i++)
		{
			events[i].partition = (int) ff_col_int64((int) i, 1, 0);
			events[i].event_id = ff_col_int64((int) i, 2, 0);
			events[i].execution = *DatumGetUUIDP(ff_col_datum((int) i, 3, &isnull));
			events[i].has_flow = !ff_col_isnull((int) i, 4);
			if (events[i].has_flow)
				events[i].flow = *DatumGetUUIDP(ff_col_datum((int) i, 4, &isnull));
			events[i].failing = ff_col_bool((int) i, 5);
		}
		/*
		 * An event of an execution outside any flow has nothing to resolve:
		 * they are all marked processed by one statement, and only flow
		 * members pay for a subtransaction each.
		 */
		ff_defer_begin();
		for (i = 0; i < n; i++)
			if (!events[i].has_flow)
			{
				event_done(&events[i], now);
				processed++;
			}
		ff_defer_flush();
		for (i = 0; i < n; i++)
		{
			if (!events[i].has_flow)
				continue;
			if (dispatch_event(&events[i], now, callercxt, &resolved))
				processed++;
			else
				errors++;
		}
	}
	ffr_ok(&r, "OK");
	ffr_int(&r, "processed", processed);
	ffr_int(&r, "resolved", resolved);
	ffr_int(&r, "errors", errors);
	ffr_bool(&r, "more", processed + errors >= max_events);
	FF_RETURN_RESULT(&r);
}

