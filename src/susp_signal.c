/*-------------------------------------------------------------------------
 *
 * susp_signal.c
 *	  Signal delivery (behaviour/suspension §4.4) and buffering for pending
 *	  waitpoints (behaviour/suspension §4.5).  The waitpoint token is the authorisation; it is
 *	  verified before anything about the waitpoint's state is revealed.  A
 *	  signal that satisfies the condition of a suspended execution makes it
 *	  claimable in the same transaction (the lane is notified at commit).
 *
 *	  Locking: the execution row, then the waitpoint row (susp_ops.c's
 *	  order); composite progress rows are only touched under both.
 *
 * IDENTIFICATION
 *	  src/susp_signal.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "core_clock.h"
#include "exec_core.h"
#include "ff_engine.h"
#include "bgw_notify.h"
#include "core_spi.h"
#include "susp_ops.h"
#include "core_validate.h"
#include "susp_hmac.h"

PG_FUNCTION_INFO_V1(ff_deliver_signal);
PG_FUNCTION_INFO_V1(ff_buffer_signal_for_pending_waitpoint);

#define FF_DEFAULT_SIGNAL_DEDUP_TTL	INT64CONST(86400000)

typedef struct SignalArgs
{
	ExecId		exec;
	pg_uuid_t  *wp_id;
	Signal		sig;
	const char *token;
	bytea	   *payload;
	const char *category;
	const char *idem_key;
	const char *correlation_id;
	const char *encoding;
	const char *target_scope;
	int64		created_at;
	int64		dedup_ttl;
	int64		resume_delay;
	int64		max_signals;
} SignalArgs;

static const char *
text_arg_default(FunctionCallInfo fcinfo, int n, const char *dflt, const char *name)
{
	const char *s = PG_ARGISNULL(n) ? dflt : text_to_cstring(PG_GETARG_TEXT_PP(n));

	ff_check_signal_text(s, name);
	return s;
}

/* Every argument checked before anything is read (misuse raises). */
static void
signal_args(FunctionCallInfo fcinfo, SignalArgs *a)
{
	pg_uuid_t  *sid;

	memset(a, 0, sizeof(*a));
	a->exec = ff_arg_exec_id(fcinfo, 0, "execution_id");
	a->wp_id = ff_arg_uuid_opt(fcinfo, 1);
	sid = ff_arg_uuid_opt(fcinfo, 2);
	if (a->wp_id == NULL || sid == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", a->wp_id == NULL ? "waitpoint_id" : "signal_id")));
	a->sig.id = *sid;
	ff_format_uuid(sid, a->sig.id_text);
	a->sig.name = ff_arg_text(fcinfo, 3, "signal_name");
	ff_check_signal_text(a->sig.name, "signal_name");
	if (strncmp(a->sig.name, "__", 2) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("signal names beginning with \"__\" are reserved, got \"%s\"", a->sig.name)));
	a->token = PG_ARGISNULL(4) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(4));
	ff_check_max_len(a->token, 1024, "waitpoint_token");
	a->payload = PG_ARGISNULL(5) ? NULL : PG_GETARG_BYTEA_PP(5);
	if (a->payload && VARSIZE_ANY_EXHDR(a->payload) > FF_MAX_SIGNAL_PAYLOAD)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("payload_too_large"),
				 errdetail("A signal payload is at most %d bytes, got %zu.", FF_MAX_SIGNAL_PAYLOAD,
						   (Size) VARSIZE_ANY_EXHDR(a->payload))));
	if (a->payload && VARSIZE_ANY_EXHDR(a->payload) == 0)
		a->payload = NULL;
	a->category = text_arg_default(fcinfo, 6, "", "signal_category");
	a->sig.source_type = text_arg_default(fcinfo, 7, "", "source_type");
	a->sig.source_identity = text_arg_default(fcinfo, 8, "", "source_identity");
	a->idem_key = text_arg_default(fcinfo, 9, "", "idempotency_key");
	a->correlation_id = text_arg_default(fcinfo, 10, "", "correlation_id");
	a->encoding = text_arg_default(fcinfo, 11, "json", "payload_encoding");
	a->target_scope = text_arg_default(fcinfo, 12, "waitpoint", "target_scope");
	a->created_at = PG_ARGISNULL(13) ? FF_NULL : PG_GETARG_INT64(13);
	a->dedup_ttl = PG_ARGISNULL(14) ? FF_DEFAULT_SIGNAL_DEDUP_TTL : PG_GETARG_INT64(14);
	a->resume_delay = PG_ARGISNULL(15) ? 0 : PG_GETARG_INT64(15);
	ff_check_nonnegative(a->resume_delay, "resume_delay_ms");
	/* ff_engine.max_signals_per_execution; the argument may only lower it */
	a->max_signals = ff_limit_in_force(!PG_ARGISNULL(16), PG_ARGISNULL(16) ? 0 : PG_GETARG_INT32(16),
									   ff_max_signals_per_execution);
}

static FFPlan plan_signal_count = {
	"SELECT count(*) FROM ff.signal WHERE partition = $1 AND execution_id = $2",
	2, {INT2OID, UUIDOID}
};
static FFPlan plan_dedup_claim = {
	"INSERT INTO ff.signal_dedup AS d (partition, waitpoint_id, idempotency_key, execution_id, "
	"signal_id, expires_at) VALUES ($1, $2, $3, $4, $5, $6) "
	"ON CONFLICT (partition, waitpoint_id, idempotency_key) DO UPDATE SET "
	"execution_id = EXCLUDED.execution_id, signal_id = EXCLUDED.signal_id, "
	"expires_at = EXCLUDED.expires_at WHERE d.expires_at <= $7 RETURNING 1",
	7, {INT2OID, UUIDOID, TEXTOID, UUIDOID, UUIDOID, INT8OID, INT8OID}
};
static FFPlan plan_dedup_get = {
	"SELECT signal_id FROM ff.signal_dedup WHERE partition = $1 AND waitpoint_id = $2 "
	"AND idempotency_key = $3",
	3, {INT2OID, UUIDOID, TEXTOID}
};
static FFPlan plan_signal_insert = {
	"INSERT INTO ff.signal (partition, signal_id, execution_id, waitpoint_id, seq, "
	"target_scope, signal_name, signal_category, source_type, source_identity, "
	"correlation_id, idempotency_key, created_at, accepted_at, payload, payload_encoding, "
	"observed_effect) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, "
	"$15, $16, $17) ON CONFLICT DO NOTHING",
	17, {INT2OID, UUIDOID, UUIDOID, UUIDOID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID, BYTEAOID, TEXTOID, TEXTOID}
};
static FFPlan plan_wp_counters = {
	"UPDATE ff.waitpoint SET next_seq = $3, signal_count = signal_count + $4, "
	"matched_signal_count = matched_signal_count + $5, "
	"last_signal_at = CASE WHEN $4 > 0 THEN $6 ELSE last_signal_at END, "
	"cond_signal_ids = coalesce($7, cond_signal_ids), "
	"cond_satisfied_count = coalesce($8, cond_satisfied_count) "
	"WHERE partition = $1 AND waitpoint_id = $2",
	8, {INT2OID, UUIDOID, INT8OID, INT4OID, INT4OID, INT8OID, UUIDARRAYOID, INT4OID}
};
static FFPlan plan_event = {
	"WITH e AS (INSERT INTO ff.signal_event (partition, execution_id, signal_id, waitpoint_id, "
	"source_identity, effect, delivered_at, namespace, instance_tag) SELECT $1, $2, $3, $4, $5, "
	"$6, $7, $8, (SELECT d.tags ->> 'cairn.instance_id' FROM ff.execution_data d "
	"WHERE d.partition = $1 AND d.execution_id = $2) RETURNING event_id) "
	"SELECT event_id::text FROM e",
	8, {INT2OID, UUIDOID, UUIDOID, UUIDOID, TEXTOID, TEXTOID, INT8OID, TEXTOID}
};

/* Check 7 (limit) and 8 (idempotency).  False with *r set when refused. */
static bool
limit_and_dedup(SignalArgs *a, int64 now, FFResult *r)
{
	Datum		v[7];

	v[0] = Int16GetDatum((int16) a->exec.partition);
	v[1] = UUIDPGetDatum(&a->exec.uuid);
	if (a->max_signals > 0)
	{
		ff_plan_exec(&plan_signal_count, v, NULL, 1);
		if (ff_col_int64(0, 1, 0) >= a->max_signals)
		{
			ffr_error(r, "signal_limit_exceeded");
			return false;
		}
	}
	if (a->idem_key[0] != '\0' && a->dedup_ttl > 0)
	{
		v[1] = UUIDPGetDatum(a->wp_id);
		v[2] = CStringGetTextDatum(a->idem_key);
		v[3] = UUIDPGetDatum(&a->exec.uuid);
		v[4] = UUIDPGetDatum(&a->sig.id);
		v[5] = Int64GetDatum(now + a->dedup_ttl);
		v[6] = Int64GetDatum(now);
		if (ff_plan_exec(&plan_dedup_claim, v, NULL, 0) == 0)
		{
			bool		isnull;

			ff_plan_exec(&plan_dedup_get, v, NULL, 1);
			ffr_ok(r, "DUPLICATE");
			ffr_uuid(r, "signal_id", DatumGetUUIDP(ff_col_datum(0, 1, &isnull)));
			return false;
		}
	}
	return true;
}

/*
 * The signal record, next in its waitpoint's log, and the waitpoint
 * counters (with the matcher progress when store_matchers).
 */
static void
record_signal(SignalArgs *a, Waitpoint *w, const char *effect, bool counted, bool matched,
			  bool store_matchers, int64 now)
{
	Datum		v[17];
	bool		n[17] = {false};

	w->next_seq++;
	v[0] = Int16GetDatum((int16) a->exec.partition);
	v[1] = UUIDPGetDatum(&a->sig.id);
	v[2] = UUIDPGetDatum(&a->exec.uuid);
	v[3] = UUIDPGetDatum(a->wp_id);
	v[4] = Int64GetDatum(w->next_seq);
	v[5] = CStringGetTextDatum(a->target_scope);
	v[6] = CStringGetTextDatum(a->sig.name);
	v[7] = CStringGetTextDatum(a->category);
	v[8] = CStringGetTextDatum(a->sig.source_type);
	v[9] = CStringGetTextDatum(a->sig.source_identity);
	v[10] = CStringGetTextDatum(a->correlation_id);
	v[11] = CStringGetTextDatum(a->idem_key);
	v[12] = Int64GetDatum(a->created_at != FF_NULL ? a->created_at : now);
	v[13] = Int64GetDatum(now);
	v[14] = a->payload ? PointerGetDatum(a->payload) : (Datum) 0;
	n[14] = (a->payload == NULL);
	v[15] = CStringGetTextDatum(a->encoding);
	v[16] = CStringGetTextDatum(effect);
	if (ff_plan_exec(&plan_signal_insert, v, n, 0) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("signal_id %s was already used", a->sig.id_text),
				 errhint("Mint a new signal id for each delivery; retries reuse the idempotency key.")));
	memset(n, 0, sizeof(n));
	v[1] = UUIDPGetDatum(a->wp_id);
	v[2] = Int64GetDatum(w->next_seq);
	v[3] = Int32GetDatum(counted ? 1 : 0);
	v[4] = Int32GetDatum(matched ? 1 : 0);
	v[5] = Int64GetDatum(now);
	/* the matcher progress rides along (composite progress is elsewhere) */
	v[6] = store_matchers ? PointerGetDatum(ff_wp_signal_ids(w)) : (Datum) 0;
	n[6] = !store_matchers;
	v[7] = Int32GetDatum((int32) w->satisfied_count);
	n[7] = !store_matchers;
	ff_plan_exec(&plan_wp_counters, v, n, 0);
}

/*
 * deliver (behaviour/suspension §4.4 from check 4): the waitpoint is authenticated and owned by
 * the execution, which is locked.
 */
static void
deliver(SignalArgs *a, ExecCore *c, Waitpoint *w, int64 now, FFResult *r)
{
	const char *effect;
	bool		satisfied = false,
				composite;
	Jsonb	   *tree = NULL;
	Datum		v[8];

	/* 5. the waitpoint must be live for the execution's phase */
	if (c->lifecycle_phase == PHASE_SUSPENDED)
	{
		if (strcmp(w->state, "closed") == 0)
		{
			ffr_error(r, "waitpoint_closed");
			return;
		}
		if (strcmp(w->state, "active") != 0 || !w->suspension_id.set ||
			!c->current_suspension_id.set ||
			memcmp(w->suspension_id.v.data, c->current_suspension_id.v.data, UUID_LEN) != 0)
		{
			ffr_error(r, "target_not_signalable");
			return;
		}
	}
	else if (strcmp(w->state, "pending") == 0)
	{
		ffr_error(r, "waitpoint_pending_use_buffer_script");
		return;
	}
	else if (strcmp(w->state, "active") != 0)
	{
		ffr_error(r, "target_not_signalable");
		return;
	}
	/* 6. the condition record */
	if (w->cond_kind == NULL)
	{
		ffr_error(r, "waitpoint_not_found");
		return;
	}
	if (w->cond_closed)
	{
		ffr_error(r, "waitpoint_closed");
		return;
	}
	/* 7-8 */
	if (!limit_and_dedup(a, now, r))
		return;

	composite = strcmp(w->cond_kind, "composite") == 0;
	if (composite)
		tree = ff_suspension_tree(c);
	if (composite && tree == NULL)
		effect = "signal_ignored_not_in_condition";
	else
		effect = ff_condition_eval(c, w, tree, &a->sig, &satisfied);
	record_signal(a, w, effect, true,
				  strcmp(effect, "signal_ignored_not_in_condition") != 0 &&
				  strcmp(effect, "signal_ignored_matcher_failed") != 0 &&
				  strcmp(effect, "no_op") != 0, !composite, now);

	if (!satisfied)
		ff_suspension_touch(c, now);
	else
	{
		if (composite)
			ff_suspension_set_closer(c, &a->sig.id);
		if (c->lifecycle_phase == PHASE_SUSPENDED)
			ff_suspension_resume_core(c, a->resume_delay,
									  psprintf("resume delay " INT64_FORMAT "ms after signal %s",
											   a->resume_delay, a->sig.name), now);
		/* the matcher path stamps last_signal_at as it closes; composite does not */
		ff_suspension_close_all(c, "resumed", "satisfied", true, false,
								composite ? FF_NULL : now, now);
	}

	/* behaviour/suspension §7.1 the signal-delivery event, announced at commit */
	v[0] = Int16GetDatum((int16) a->exec.partition);
	v[1] = UUIDPGetDatum(&a->exec.uuid);
	v[2] = UUIDPGetDatum(&a->sig.id);
	v[3] = UUIDPGetDatum(a->wp_id);
	v[4] = CStringGetTextDatum(a->sig.source_identity);
	v[5] = CStringGetTextDatum(effect);
	v[6] = Int64GetDatum(now);
	v[7] = CStringGetTextDatum(c->namespace);
	if (ff_plan_exec(&plan_event, v, NULL, 1) == 1)
		ff_notify_at_commit("ff_signal_event", ff_col_text(0, 1));

	ffr_ok(r, "OK");
	ffr_text(r, "signal_id", a->sig.id_text);
	ffr_text(r, "effect", effect);
	if (satisfied)
		ffr_text(r, "public_state", ff_public_labels[c->public_state]);
}

/*
 * The common prologue (behaviour/suspension §4.4 checks 1-4): lock, find the waitpoint, verify
 * the token (stamping the execution on failure, which commits), check the
 * waitpoint belongs to the execution and the execution is not terminal.
 */
static bool
authenticate(SignalArgs *a, int64 now, ExecCore *c, Waitpoint *w, FFResult *r)
{
	const char *err;

	if (!ff_core_lock(a->exec, c))
	{
		ff_result_not_found(r);
		return false;
	}
	if (!ff_wp_lock(a->exec.partition, a->wp_id, w) || w->created_at == FF_NULL)
	{
		ffr_error(r, "invalid_token");
		return false;
	}
	if ((err = ff_token_verify(a->token, w->token, w->id_text, w->key, w->created_at, now)) != NULL)
	{
		c->last_hmac_validation_failed_at = now;
		ff_core_store(c);
		ffr_error(r, err);
		return false;
	}
	if (memcmp(w->execution_id.data, a->exec.uuid.data, UUID_LEN) != 0)
	{
		ffr_error(r, "invalid_waitpoint_for_execution");
		return false;
	}
	if (c->lifecycle_phase == PHASE_TERMINAL)
	{
		ffr_error(r, "target_not_signalable");
		return false;
	}
	return true;
}

/*
 * The two signal entry points: a delivery, or (buffer_pending) a delivery
 * that records a signal for a pending waitpoint instead of refusing it.
 */
static Datum
signal_entry(FunctionCallInfo fcinfo, bool buffer_pending)
{
	SignalArgs	a;
	int64		now = ff_now_ms();
	FFResult	r;
	ExecCore	c;
	Waitpoint	w;

	signal_args(fcinfo, &a);
	ff_spi_connect();
	if (!authenticate(&a, now, &c, &w, &r))
		 /* result set */ ;
	else if (!buffer_pending || strcmp(w.state, "active") == 0)
		deliver(&a, &c, &w, now, &r);
	else if (strcmp(w.state, "pending") != 0)
		ffr_error(&r, "waitpoint_closed");
	else if (limit_and_dedup(&a, now, &r))
	{
		record_signal(&a, &w, "buffered_for_pending_waitpoint", false, false, false, now);
		ffr_ok(&r, "OK");
		ffr_text(&r, "signal_id", a.sig.id_text);
		ffr_text(&r, "effect", "buffered_for_pending_waitpoint");
	}
	FF_RETURN_RESULT(&r);
}

/*
 * ff.deliver_signal(execution_id, waitpoint_id, signal_id, signal_name,
 *		waitpoint_token, payload, signal_category, source_type,
 *		source_identity, idempotency_key, correlation_id, payload_encoding,
 *		target_scope, created_at, dedup_ttl_ms, resume_delay_ms,
 *		max_signals_per_execution)
 */
FF_SQL_ENTRY(ff_deliver_signal, signal_entry(fcinfo, false))

/*
 * ff.buffer_signal_for_pending_waitpoint(same arguments as deliver_signal)
 *		Records a signal for a pending waitpoint, to be evaluated when a
 *		suspend activates it.  On an active waitpoint it is a full
 *		delivery (behaviour/suspension §C.16), resume_delay_ms included.
 */
FF_SQL_ENTRY(ff_buffer_signal_for_pending_waitpoint, signal_entry(fcinfo, true))
