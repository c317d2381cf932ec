/*-------------------------------------------------------------------------
 *
 * susp_ops.c
 *	  Suspension of a running attempt on waitpoints (behaviour/suspension):
 *	  suspend_execution (behaviour/suspension §4.1) with fresh and pending waitpoints, the
 *	  buffered-signal replay and idempotent replay of the call, operator
 *	  resume (behaviour/suspension §4.6), the timeout behaviours (behaviour/suspension §4.7), and the closing /
 *	  resuming steps shared with signal delivery (susp_signal.c), cancel
 *	  and expire.  Waitpoint rows and their operations are in
 *	  susp_waitpoint.c, the condition language in susp_condition.c.
 *
 *	  Locking: every operation locks the execution row first (ff_core_lock),
 *	  then the suspension row, then waitpoint rows; nothing here locks two
 *	  executions.  The pending-waitpoint expiry scanner locks only
 *	  waitpoint rows, with SKIP LOCKED, so it never waits on this code.
 *
 * IDENTIFICATION
 *	  src/susp_ops.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "core_clock.h"
#include "exec_core.h"
#include "flow_completion.h"
#include "exec_ops.h"
#include "ff_engine.h"
#include "exec_lease.h"
#include "core_spi.h"
#include "susp_ops.h"
#include "core_tenant.h"
#include "core_validate.h"
#include "susp_hmac.h"

PG_FUNCTION_INFO_V1(ff_suspend_execution);
PG_FUNCTION_INFO_V1(ff_resume_execution);
PG_FUNCTION_INFO_V1(ff_expire_suspension);

#define FF_MAX_EXTRA_WAITPOINTS		64
#define FF_TIMEOUT_PAST_TOLERANCE	600000
#define FF_SUSPEND_DEDUP_MAX_TTL	INT64CONST(604800000)

/* behaviour/suspension §2.7: the nine reason codes and the blocking reason each maps to. */
static const struct
{
	const char *code;
	BlockingReason block;
}			reason_map[] = {
	{"waiting_for_signal", BLOCK_WAITING_FOR_SIGNAL},
	{"waiting_for_approval", BLOCK_WAITING_FOR_APPROVAL},
	{"waiting_for_callback", BLOCK_WAITING_FOR_CALLBACK},
	{"waiting_for_tool_result", BLOCK_WAITING_FOR_TOOL_RESULT},
	{"waiting_for_operator_review", BLOCK_PAUSED_BY_OPERATOR},
	{"paused_by_policy", BLOCK_PAUSED_BY_POLICY},
	{"paused_by_budget", BLOCK_WAITING_FOR_BUDGET},
	{"step_boundary", BLOCK_WAITING_FOR_SIGNAL},
	{"manual_pause", BLOCK_PAUSED_BY_OPERATOR},
};

static const char *const timeout_behaviors[] = {
	"fail", "cancel", "expire", "auto_resume", "auto_resume_with_timeout_signal", "escalate", NULL
};

static FFPlan plan_tree = {
	"SELECT resume_condition -> 'tree' FROM ff.suspension WHERE partition = $1 "
	"AND execution_id = $2 AND condition_kind = 'composite'",
	2, {INT2OID, UUIDOID}
};

/* The composite tree of the execution's suspension (NULL: matcher form). */
Jsonb *
ff_suspension_tree(ExecCore *c)
{
	Datum		v[2];
	bool		isnull;
	Datum		d;

	v[0] = Int16GetDatum((int16) c->id.partition);
	v[1] = UUIDPGetDatum(&c->id.uuid);
	if (ff_plan_exec(&plan_tree, v, NULL, 1) == 0)
		return NULL;
	d = ff_col_datum(0, 1, &isnull);
	return isnull ? NULL : DatumGetJsonbPCopy(d);
}

/* ---- closing and resuming, shared by every path ---- */

/*
 * Close the open suspension, every active waitpoint of the execution (they
 * all belong to it) with its condition, drop the composite progress, and
 * with close_pending also the never-activated pending waitpoints (terminal
 * paths).  behaviour/suspension §C.6, §C.11, §C.12: every path closes everything.
 */
static FFPlan plan_close_all = {
	"WITH s AS (UPDATE ff.suspension SET closed_at = $3, close_reason = $4, "
	"satisfied_at = CASE WHEN $6 THEN $3 ELSE satisfied_at END, "
	"last_signal_at = coalesce($8, last_signal_at) "
	"WHERE partition = $1 AND execution_id = $2 AND closed_at IS NULL RETURNING 1), "
	"w AS (UPDATE ff.waitpoint SET state = 'closed', closed_at = $3, close_reason = $4, "
	"satisfied_at = CASE WHEN $6 THEN $3 ELSE satisfied_at END, "
	"cond_closed = CASE WHEN cond_kind IS NULL THEN NULL ELSE true END, "
	"cond_closed_at = CASE WHEN cond_kind IS NULL OR cond_closed THEN cond_closed_at ELSE $3 END, "
	"cond_closed_reason = CASE WHEN cond_kind IS NULL OR cond_closed THEN cond_closed_reason ELSE $5 END "
	"WHERE partition = $1 AND execution_id = $2 AND (state = 'active' OR ($7 AND state = 'pending')) "
	"RETURNING 1), "
	"t AS (DELETE FROM ff.suspension_token WHERE partition = $1 AND execution_id = $2 RETURNING 1) "
	"SELECT (SELECT count(*) FROM s), (SELECT count(*) FROM w), (SELECT count(*) FROM t)",
	8, {INT2OID, UUIDOID, INT8OID, TEXTOID, TEXTOID, BOOLOID, BOOLOID, INT8OID}
};

/* last_signal_at: stamped on the suspension as it closes (FF_NULL: kept). */
void
ff_suspension_close_all(ExecCore *c, const char *reason, const char *cond_reason,
						bool satisfied, bool close_pending, int64 last_signal_at, int64 now)
{
	Datum		v[8];
	bool		n[8] = {false};

	v[0] = Int16GetDatum((int16) c->id.partition);
	v[1] = UUIDPGetDatum(&c->id.uuid);
	v[2] = Int64GetDatum(now);
	v[3] = CStringGetTextDatum(reason);
	v[4] = CStringGetTextDatum(cond_reason);
	v[5] = BoolGetDatum(satisfied);
	v[6] = BoolGetDatum(close_pending);
	v[7] = Int64GetDatum(last_signal_at);
	n[7] = (last_signal_at == FF_NULL);
	ff_plan_exec(&plan_close_all, v, n, 1);
}

static FFPlan plan_set_closer = {
	"UPDATE ff.suspension SET closer_signal_id = $3, all_satisfier_signals = "
	"ARRAY(SELECT DISTINCT signal_id FROM ff.suspension_token t WHERE t.partition = $1 "
	"AND t.execution_id = $2 ORDER BY 1) WHERE partition = $1 AND execution_id = $2",
	3, {INT2OID, UUIDOID, UUIDOID}
};

/* Composite resume: record the closing signal and every satisfier (before close_all). */
void
ff_suspension_set_closer(ExecCore *c, const pg_uuid_t *closer)
{
	Datum		v[3];

	v[0] = Int16GetDatum((int16) c->id.partition);
	v[1] = UUIDPGetDatum(&c->id.uuid);
	v[2] = UUIDPGetDatum(closer);
	ff_plan_exec(&plan_set_closer, v, NULL, 0);
}

static FFPlan plan_touch = {
	"UPDATE ff.suspension SET last_signal_at = $3 WHERE partition = $1 AND execution_id = $2",
	3, {INT2OID, UUIDOID, INT8OID}
};

void
ff_suspension_touch(ExecCore *c, int64 now)
{
	Datum		v[3];

	v[0] = Int16GetDatum((int16) c->id.partition);
	v[1] = UUIDPGetDatum(&c->id.uuid);
	v[2] = Int64GetDatum(now);
	ff_plan_exec(&plan_touch, v, NULL, 0);
}

/*
 * The execution side of every resume (behaviour/suspension §4.4.3 item 4, behaviour/suspension §4.6, §4.7): runnable
 * with the attempt interrupted, eligible at once or after a resume delay
 * (delay_until written, behaviour/suspension §C.13).  Stores the row, which announces
 * the lane's work notification when it became claimable.
 */
void
ff_suspension_resume_core(ExecCore *c, int64 delay_ms, const char *delay_detail, int64 now)
{
	if (delay_ms > 0)
	{
		ff_core_set_vector(c, PHASE_RUNNABLE, OWN_UNOWNED, ELIG_NOT_ELIGIBLE_UNTIL_TIME,
						   BLOCK_WAITING_FOR_RESUME_DELAY, delay_detail, OUTCOME_NONE,
						   ATT_ATTEMPT_INTERRUPTED);
		c->delay_until = now + delay_ms;
	}
	else
		ff_core_set_vector(c, PHASE_RUNNABLE, OWN_UNOWNED, ELIG_ELIGIBLE_NOW,
						   BLOCK_WAITING_FOR_WORKER, NULL, OUTCOME_NONE,
						   ATT_ATTEMPT_INTERRUPTED);
	c->current_suspension_id.set = false;
	c->current_waitpoint_id.set = false;
	c->last_transition_at = now;
	c->last_mutation_at = now;
	ff_core_store(c);
}
/* ---- suspend_execution (behaviour/suspension §4.1) ---- */

static FFPlan plan_suspend_dedup_get = {
	"SELECT outcome FROM ff.suspend_dedup WHERE partition = $1 AND execution_id = $2 "
	"AND idempotency_key = $3 AND (expires_at IS NULL OR expires_at > $4)",
	4, {INT2OID, UUIDOID, TEXTOID, INT8OID}
};
static FFPlan plan_suspend_dedup_put = {
	"INSERT INTO ff.suspend_dedup AS d (partition, execution_id, idempotency_key, outcome, expires_at) "
	"VALUES ($1, $2, $3, $4, $5) ON CONFLICT (partition, execution_id, idempotency_key) "
	"DO UPDATE SET outcome = EXCLUDED.outcome, expires_at = EXCLUDED.expires_at",
	5, {INT2OID, UUIDOID, TEXTOID, JSONBOID, INT8OID}
};
static FFPlan plan_suspension_get = {
	"SELECT closed_at IS NULL FROM ff.suspension WHERE partition = $1 AND execution_id = $2 FOR UPDATE",
	2, {INT2OID, UUIDOID}
};
static FFPlan plan_suspension_archive = {
	"WITH t AS (DELETE FROM ff.suspension_token WHERE partition = $1 AND execution_id = $2) "
	"DELETE FROM ff.suspension WHERE partition = $1 AND execution_id = $2",
	2, {INT2OID, UUIDOID}
};
static FFPlan plan_wp_activate = {
	"UPDATE ff.waitpoint SET suspension_id = $3, state = 'active', activated_at = $4, "
	"expires_at = $5 WHERE partition = $1 AND waitpoint_id = $2",
	5, {INT2OID, UUIDOID, UUIDOID, INT8OID, INT8OID}
};
static FFPlan plan_wp_satisfied_at_activation = {
	"UPDATE ff.waitpoint SET state = 'closed', satisfied_at = $3, closed_at = $3, "
	"close_reason = 'resumed', cond_closed = true, cond_closed_at = $3, "
	"cond_closed_reason = 'satisfied' WHERE partition = $1 AND waitpoint_id = $2",
	3, {INT2OID, UUIDOID, INT8OID}
};
static FFPlan plan_buffered = {
	"SELECT signal_id, signal_name, source_type, source_identity FROM ("
	"SELECT signal_id, signal_name, source_type, source_identity, seq FROM ff.signal "
	"WHERE partition = $1 AND waitpoint_id = $2 ORDER BY seq DESC LIMIT $3) x ORDER BY seq",
	3, {INT2OID, UUIDOID, INT4OID}
};
static FFPlan plan_signal_effect = {
	"UPDATE ff.signal SET observed_effect = $3 WHERE partition = $1 AND signal_id = $2",
	3, {INT2OID, UUIDOID, TEXTOID}
};
static FFPlan plan_suspension_insert = {
	"INSERT INTO ff.suspension (partition, execution_id, suspension_id, attempt_index, "
	"primary_waitpoint_id, waitpoint_key, extra_waitpoints, reason_code, requested_by, "
	"created_at, timeout_at, timeout_behavior, resume_condition, condition_kind, "
	"resume_policy, continuation_metadata_pointer) VALUES "
	"($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
	16, {INT2OID, UUIDOID, UUIDOID, INT4OID, UUIDOID, TEXTOID, JSONBOID, TEXTOID,
		TEXTOID, INT8OID, INT8OID, TEXTOID, JSONBOID, TEXTOID, JSONBOID, TEXTOID}
};
/*
 * Replay a pending waitpoint's buffered signals, in log order, through the
 * evaluator live delivery uses (behaviour/suspension §C.7); records each one's effect.
 * True when they already satisfy the condition.
 */
static bool
replay_buffered(ExecCore *c, Waitpoint *w, Jsonb *tree)
{
	Datum		v[3];
	int			n,
				i;
	Signal	   *sigs;

	v[0] = Int16GetDatum((int16) c->id.partition);
	v[1] = UUIDPGetDatum(&w->id);
	v[2] = Int32GetDatum(FF_SIGNAL_LOG_MAX);
	n = (int) ff_plan_exec(&plan_buffered, v, NULL, 0);
	sigs = palloc0(Max(n, 1) * sizeof(Signal));
	for (i = 0; i < n; i++)
	{
		bool		isnull;

		sigs[i].id = *DatumGetUUIDP(ff_col_datum(i, 1, &isnull));
		ff_format_uuid(&sigs[i].id, sigs[i].id_text);
		sigs[i].name = ff_col_text(i, 2);
		sigs[i].source_type = ff_col_text(i, 3);
		sigs[i].source_identity = ff_col_text(i, 4);
	}
	for (i = 0; i < n; i++)
	{
		bool		satisfied;
		const char *effect = ff_condition_eval(c, w, tree, &sigs[i], &satisfied);
		Datum		e[3];

		e[0] = Int16GetDatum((int16) c->id.partition);
		e[1] = UUIDPGetDatum(&sigs[i].id);
		e[2] = CStringGetTextDatum(effect);
		ff_plan_exec(&plan_signal_effect, e, NULL, 0);
		if (satisfied)
			return true;
	}
	return false;
}

static Jsonb *
extras_json(Binding *b, int n, bool with_token)
{
	StringInfoData s;
	int			i;

	initStringInfo(&s);
	appendStringInfoChar(&s, '[');
	for (i = 0; i < n; i++)
	{
		appendStringInfo(&s, "%s{\"waitpoint_id\": \"%s\", \"waitpoint_key\": ", i ? ", " : "", b[i].id_text);
		escape_json(&s, b[i].key);
		if (with_token)
		{
			appendStringInfoString(&s, ", \"waitpoint_token\": ");
			escape_json(&s, b[i].token);
		}
		appendStringInfoChar(&s, '}');
	}
	appendStringInfoChar(&s, ']');
	return ff_jsonb_from_text(s.data);
}


static void
suspend_result(FFResult *r, const char *status, const pg_uuid_t *susp, Binding *b, int nb)
{
	ffr_ok(r, status);
	ffr_uuid(r, "suspension_id", susp);
	ffr_text(r, "waitpoint_id", b[0].id_text);
	ffr_text(r, "waitpoint_key", b[0].key);
	ffr_text(r, "waitpoint_token", b[0].token);
	ffr_jsonb(r, "extra_waitpoints", extras_json(b + 1, nb - 1, true));
}

/*
 * ff.suspend_execution(execution_id, attempt_index, lease_id, lease_epoch,
 *		attempt_id, suspension_id, waitpoint_id, waitpoint_key, reason_code,
 *		resume_condition, timeout_at, timeout_behavior, requested_by,
 *		resume_policy, continuation_metadata_pointer, use_pending_waitpoint,
 *		idempotency_key, dedup_ttl_ms, extra_waitpoint_ids,
 *		extra_waitpoint_keys)
 *
 * Every argument and the condition are validated before anything is
 * read; every domain check precedes every write, so a returned error
 * leaves nothing changed (except the committed mark-expired of behaviour/suspension §0.4).
 */
Datum
ff_suspend_execution(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	int64		attempt_index = ff_arg_int32(fcinfo, 1, "attempt_index");
	Fence		f = ff_fence_args(fcinfo, 2, 3, 4);
	pg_uuid_t  *susp = ff_arg_uuid_opt(fcinfo, 5);
	pg_uuid_t  *wp_id = ff_arg_uuid_opt(fcinfo, 6);
	char	   *wp_key = ff_arg_text_opt(fcinfo, 7);
	char	   *reason = ff_arg_text(fcinfo, 8, "reason_code");
	Jsonb	   *cond_json = PG_ARGISNULL(9) ? NULL : PG_GETARG_JSONB_P(9);
	int64		timeout_at = PG_ARGISNULL(10) ? FF_NULL : PG_GETARG_INT64(10);
	char	   *behavior = ff_arg_text_opt(fcinfo, 11);
	char	   *requested_by = ff_arg_text_opt(fcinfo, 12);
	Jsonb	   *policy = PG_ARGISNULL(13) ? NULL : PG_GETARG_JSONB_P(13);
	char	   *cont_ptr = PG_ARGISNULL(14) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(14));
	bool		use_pending = !PG_ARGISNULL(15) && PG_GETARG_BOOL(15);
	char	   *idem_key = ff_arg_text_opt(fcinfo, 16);
	int64		dedup_ttl = PG_ARGISNULL(17) ? FF_NULL : PG_GETARG_INT64(17);
	int64		now = ff_now_ms();
	BlockingReason block = BLOCK_NONE;
	Condition	cond;
	Binding    *b;
	int			nb = 1,
				i;
	FFResult	r;
	ExecCore	c;
	Waitpoint	w;
	Datum		v[16];
	bool		n[16] = {false};
	Jsonb	   *out;
	bool		known_reason = false;

	/* ---- misuse: raise before anything is read ---- */
	if (susp == NULL)
		ff_susp_invalid("suspension_id must not be NULL");
	if (wp_id == NULL)
		ff_susp_invalid("waitpoints_empty");
	if (cond_json == NULL)
		ff_susp_invalid("resume_condition must not be NULL");
	/* stored documents: bounded before they are walked (54000) */
	ff_check_jsonb(cond_json, "resume_condition");
	ff_check_jsonb(policy, "resume_policy");
	for (i = 0; i < lengthof(reason_map); i++)
		if (strcmp(reason, reason_map[i].code) == 0)
		{
			block = reason_map[i].block;
			known_reason = true;
		}
	if (!known_reason)
		ff_susp_invalid(psprintf("unknown reason_code \"%s\"", reason));
	if (behavior == NULL)
		behavior = "fail";
	if (ff_label_lookup(timeout_behaviors, behavior) < 0)
		ff_susp_invalid(psprintf("unknown timeout_behavior \"%s\"", behavior));
	if (requested_by == NULL)
		requested_by = "worker";
	ff_check_max_len(requested_by, FF_MAX_ID_BYTES, "requested_by");
	ff_check_max_len(cont_ptr, 4096, "continuation_metadata_pointer");
	ff_check_max_len(idem_key, 1024, "idempotency_key");
	if (timeout_at != FF_NULL && timeout_at + FF_TIMEOUT_PAST_TOLERANCE < now)
		ff_susp_invalid("timeout_at_in_past");
	if (dedup_ttl != FF_NULL && dedup_ttl < 0)
		ff_susp_invalid("dedup_ttl_ms must not be negative");
	ff_condition_parse(cond_json, timeout_at != FF_NULL, &cond);

	/* bindings: the primary, then the extras in order */
	{
		ArrayType  *ids = PG_ARGISNULL(18) ? NULL : PG_GETARG_ARRAYTYPE_P(18);
		ArrayType  *keys = PG_ARGISNULL(19) ? NULL : PG_GETARG_ARRAYTYPE_P(19);
		Datum	   *ide = NULL,
				   *keye = NULL;
		bool	   *idn = NULL,
				   *keyn = NULL;
		int			nid = 0,
					nkey = 0;

		if (ids && ARR_NDIM(ids) > 1)
			ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
							errmsg("extra_waitpoint_ids must be one-dimensional")));
		if (keys && ARR_NDIM(keys) > 1)
			ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
							errmsg("extra_waitpoint_keys must be one-dimensional")));
		/* too many is refused before the arrays are taken apart */
		if ((ids && ArrayGetNItems(ARR_NDIM(ids), ARR_DIMS(ids)) > FF_MAX_EXTRA_WAITPOINTS) ||
			(keys && ArrayGetNItems(ARR_NDIM(keys), ARR_DIMS(keys)) > FF_MAX_EXTRA_WAITPOINTS))
			ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
							errmsg("more than %d extra waitpoints", FF_MAX_EXTRA_WAITPOINTS)));
		if (ids)
			deconstruct_array(ids, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR, &ide, &idn, &nid);
		if (keys)
			deconstruct_array(keys, TEXTOID, -1, false, TYPALIGN_INT, &keye, &keyn, &nkey);
		if (nid != nkey)
			ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
							errmsg("extra_waitpoint_ids and extra_waitpoint_keys must have the same length")));
		if (nid > FF_MAX_EXTRA_WAITPOINTS)
			ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
							errmsg("more than %d extra waitpoints", FF_MAX_EXTRA_WAITPOINTS)));
		nb = 1 + nid;
		b = palloc0(nb * sizeof(Binding));
		b[0].id = *wp_id;
		ff_format_uuid(wp_id, b[0].id_text);
		b[0].key = wp_key ? wp_key : psprintf("wpk:%s", b[0].id_text);
		if (!use_pending)
			ff_check_waitpoint_key(b[0].key);
		for (i = 0; i < nid; i++)
		{
			int			j;

			if (idn[i] || keyn[i] || VARSIZE_ANY_EXHDR(DatumGetTextPP(keye[i])) == 0)
			{
				/* check 1: a returned error, before anything is read */
				ffr_error(&r, "additional_waitpoint_binding_malformed");
				ffr_int(&r, "index", i);
				PG_RETURN_JSONB_P(ffr_finish(&r));
			}
			b[i + 1].id = *DatumGetUUIDP(ide[i]);
			ff_format_uuid(&b[i + 1].id, b[i + 1].id_text);
			b[i + 1].key = TextDatumGetCString(keye[i]);
			ff_check_waitpoint_key(b[i + 1].key);
			for (j = 0; j <= i; j++)
				if (memcmp(b[j].id.data, b[i + 1].id.data, UUID_LEN) == 0)
					ff_susp_invalid("the same waitpoint id is bound twice");
		}
		/* behaviour/suspension §3.4: the condition and the bindings must name the same keys */
		if (!use_pending && !cond.composite && cond.single_key &&
			strcmp(cond.single_key, b[0].key) != 0)
			ff_susp_invalid("waitpoint_key_mismatch");
		if (!use_pending && cond.composite)
		{
			ListCell   *lc;

			foreach(lc, cond.keys)
			{
				bool		bound = false;

				for (i = 0; i < nb && !bound; i++)
					bound = strcmp(b[i].key, (char *) lfirst(lc)) == 0;
				if (!bound)
					ff_susp_invalid(psprintf("referenced_waitpoint_key_missing_binding: %s", (char *) lfirst(lc)));
			}
		}
		if (nb > 1 && !use_pending)
			for (i = 0; i < nb; i++)
				if (!cond.composite || !ff_condition_references(&cond, b[i].key))
					ff_susp_invalid(psprintf("extra_binding_not_referenced_by_condition: %s", b[i].key));
	}

	ff_spi_connect();

	/*
	 * 2. idempotent replay, before every state check.  A decision of this
	 * port: the stored outcome holds the waitpoint tokens, so it is
	 * replayed only to a caller that may see the execution and presents
	 * the fence of the original call (the key is scoped by lease id and
	 * epoch); anyone else goes through the checks below and fails them.
	 */
	if (idem_key)
	{
		char		lease[37];

		if (!ff_execution_visible(id))
		{
			ff_result_not_found(&r);
			FF_RETURN_RESULT(&r);
		}
		if (f.lease_id != NULL)
			ff_format_uuid(f.lease_id, lease);
		else
			strcpy(lease, "-");
		idem_key = psprintf("%s|%s|" INT64_FORMAT, idem_key, lease, f.has_epoch ? f.lease_epoch : -1);
		v[0] = Int16GetDatum((int16) id.partition);
		v[1] = UUIDPGetDatum(&id.uuid);
		v[2] = CStringGetTextDatum(idem_key);
		v[3] = Int64GetDatum(now);
		if (ff_plan_exec(&plan_suspend_dedup_get, v, NULL, 1) > 0)
		{
			bool		isnull;

			PG_RETURN_DATUM(ff_spi_finish_datum(ff_col_datum(0, 1, &isnull)));
		}
	}

	/* 3-6. execution, fence, lease, attempt */
	if (!ff_susp_lock_lease_holder(id, &f, attempt_index, "invalid_lease_for_suspend", now, &c, &r))
		FF_RETURN_RESULT(&r);

	/* 7. an open suspension record (only reachable through corruption) */
	v[0] = Int16GetDatum((int16) id.partition);
	v[1] = UUIDPGetDatum(&id.uuid);
	if (ff_plan_exec(&plan_suspension_get, v, NULL, 1) > 0 && ff_col_bool(0, 1))
	{
		ffr_error(&r, "already_suspended");
		FF_RETURN_RESULT(&r);
	}

	/* 8-9. the primary waitpoint: pending activation or fresh bindings */
	if (use_pending)
	{
		if (nb > 1)
		{
			ffr_error(&r, "use_pending_with_extras_unsupported");
			FF_RETURN_RESULT(&r);
		}
		if (!ff_wp_lock(id.partition, wp_id, &w))
			ffr_error(&r, "waitpoint_not_found");
		else if (strcmp(w.state, "pending") != 0)
			ffr_error(&r, "waitpoint_not_pending");
		else if (memcmp(w.execution_id.data, id.uuid.data, UUID_LEN) != 0 ||
				 w.attempt_index != attempt_index)
			ffr_error(&r, "invalid_waitpoint_for_execution");
		else if (w.expires_at != FF_NULL && w.expires_at <= now)
			ffr_error(&r, "pending_waitpoint_expired");
		else if (w.token == NULL || w.token[0] == '\0')
			ffr_error(&r, "waitpoint_not_token_bound");
		else
			goto checked;
		FF_RETURN_RESULT(&r);
	}
	else
	{
		const char *err;

		if (ff_wp_any_exists(id.partition, b, nb))
		{
			ffr_error(&r, "waitpoint_already_exists");
			FF_RETURN_RESULT(&r);
		}
		for (i = 0; i < nb; i++)
			if ((err = ff_token_mint(b[i].id_text, b[i].key, now, &b[i].token)) != NULL)
			{
				ffr_error(&r, err);
				FF_RETURN_RESULT(&r);
			}
	}
checked:

	/* ---- every check passed: the writes ---- */
	ff_plan_exec(&plan_suspension_archive, v, NULL, 0);
	if (use_pending)
	{
		b[0].key = w.key;
		b[0].token = w.token;
		ff_condition_init(&w, &cond);
		v[0] = Int16GetDatum((int16) id.partition);
		v[1] = UUIDPGetDatum(wp_id);
		v[2] = UUIDPGetDatum(susp);
		v[3] = Int64GetDatum(now);
		v[4] = Int64GetDatum(timeout_at);
		n[4] = (timeout_at == FF_NULL);
		ff_plan_exec(&plan_wp_activate, v, n, 0);
		if (replay_buffered(&c, &w, cond.tree))
		{
			/* behaviour/suspension §4.1.4: already satisfied; the lease and the attempt go on */
			Datum		e[3];

			ff_wp_store_condition(id.partition, &w);
			e[0] = Int16GetDatum((int16) id.partition);
			e[1] = UUIDPGetDatum(wp_id);
			e[2] = Int64GetDatum(now);
			ff_plan_exec(&plan_wp_satisfied_at_activation, e, NULL, 0);
			/* composite progress of the replay is not kept */
			e[1] = UUIDPGetDatum(&id.uuid);
			ff_plan_exec(&plan_suspension_archive, e, NULL, 0);
			suspend_result(&r, "ALREADY_SATISFIED", susp, b, 1);
			goto store_outcome;
		}
		ff_wp_store_condition(id.partition, &w);
	}
	else
	{
		for (i = 0; i < nb; i++)
		{
			Waitpoint	fresh;

			memset(&fresh, 0, sizeof(fresh));
			fresh.id = b[i].id;
			ff_wp_insert(&c, &b[i], attempt_index, susp, "active", timeout_at, now);
			ff_condition_init(&fresh, &cond);
			ff_wp_store_condition(id.partition, &fresh);
		}
	}

	/* 4.1.5: the suspension record and the execution's transition */
	memset(n, 0, sizeof(n));
	v[0] = Int16GetDatum((int16) id.partition);
	v[1] = UUIDPGetDatum(&id.uuid);
	v[2] = UUIDPGetDatum(susp);
	v[3] = Int32GetDatum((int32) attempt_index);
	v[4] = UUIDPGetDatum(&b[0].id);
	v[5] = CStringGetTextDatum(b[0].key);
	v[6] = JsonbPGetDatum(extras_json(b + 1, nb - 1, false));
	v[7] = CStringGetTextDatum(reason);
	v[8] = CStringGetTextDatum(requested_by);
	v[9] = Int64GetDatum(now);
	v[10] = Int64GetDatum(timeout_at);
	n[10] = (timeout_at == FF_NULL);
	v[11] = CStringGetTextDatum(behavior);
	v[12] = JsonbPGetDatum(cond_json);
	v[13] = CStringGetTextDatum(cond.composite ? "composite" : "matcher");
	v[14] = policy ? JsonbPGetDatum(policy) : (Datum) 0;
	n[14] = (policy == NULL);
	v[15] = cont_ptr ? CStringGetTextDatum(cont_ptr) : (Datum) 0;
	n[15] = (cont_ptr == NULL);
	ff_plan_exec(&plan_suspension_insert, v, n, 0);

	{
		char		susp_text[37];

		ff_format_uuid(susp, susp_text);
		ff_attempt_suspend(&c, attempt_index, now, susp_text);
	}
	ff_lease_release(&c, "suspend", NULL, now);
	ff_core_set_vector(&c, PHASE_SUSPENDED, OWN_UNOWNED, ELIG_NOT_APPLICABLE, block,
					   psprintf("suspended: waitpoint %s awaiting %s", b[0].id_text, reason),
					   OUTCOME_NONE, ATT_ATTEMPT_INTERRUPTED);
	c.current_suspension_id.set = true;
	c.current_suspension_id.v = *susp;
	c.current_waitpoint_id.set = true;
	c.current_waitpoint_id.v = b[0].id;
	c.last_transition_at = now;
	c.last_mutation_at = now;
	ff_core_store(&c);
	suspend_result(&r, "OK", susp, b, nb);

store_outcome:
	out = ffr_finish(&r);
	if (idem_key)
	{
		/* behaviour/suspension §4.1.6: the caller-side TTL rule, unless one is given */
		if (dedup_ttl == FF_NULL)
			dedup_ttl = timeout_at != FF_NULL
				? Min(Max(timeout_at - now, 0) + 60000, FF_SUSPEND_DEDUP_MAX_TTL)
				: FF_SUSPEND_DEDUP_MAX_TTL;
		memset(n, 0, sizeof(n));
		v[0] = Int16GetDatum((int16) id.partition);
		v[1] = UUIDPGetDatum(&id.uuid);
		v[2] = CStringGetTextDatum(idem_key);
		v[3] = JsonbPGetDatum(out);
		v[4] = Int64GetDatum(now + dedup_ttl);
		n[4] = (dedup_ttl == 0);
		ff_plan_exec(&plan_suspend_dedup_put, v, n, 0);
	}
	PG_RETURN_DATUM(ff_spi_finish_datum(JsonbPGetDatum(out)));
}

/* ---- resume_execution (behaviour/suspension §4.6) and expire_suspension (behaviour/suspension §4.7) ---- */

static FFPlan plan_open_suspension = {
	"SELECT timeout_at, timeout_behavior FROM ff.suspension WHERE partition = $1 "
	"AND execution_id = $2 AND closed_at IS NULL FOR UPDATE",
	2, {INT2OID, UUIDOID}
};

/* Lock the open suspension; false when there is none. */
static bool
lock_open_suspension(ExecCore *c, int64 *timeout_at, char **behavior)
{
	Datum		v[2];

	v[0] = Int16GetDatum((int16) c->id.partition);
	v[1] = UUIDPGetDatum(&c->id.uuid);
	if (ff_plan_exec(&plan_open_suspension, v, NULL, 1) == 0)
		return false;
	*timeout_at = ff_col_int64(0, 1, FF_NULL);
	*behavior = ff_col_text(0, 2);
	return true;
}

/*
 * ff.resume_execution(execution_id, trigger_type, resume_delay_ms)
 *		Operator resume: no fence, no token.  The primary condition is
 *		closed too (behaviour/suspension §C.11).
 */
Datum
ff_resume_execution(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	char	   *trigger = ff_arg_text_opt(fcinfo, 1);
	int64		delay = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT64(2);
	int64		now = ff_now_ms();
	int64		timeout_at;
	char	   *behavior;
	FFResult	r;
	ExecCore	c;

	if (trigger && strcmp(trigger, "signal") != 0 && strcmp(trigger, "operator") != 0 &&
		strcmp(trigger, "auto_resume") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("trigger_type must be signal, operator or auto_resume, got \"%s\"", trigger)));
	ff_check_nonnegative(delay, "resume_delay_ms");
	ff_spi_connect();
	if (!ff_core_lock(id, &c))
		ff_result_not_found(&r);
	else if (c.lifecycle_phase != PHASE_SUSPENDED || !lock_open_suspension(&c, &timeout_at, &behavior))
		ffr_error(&r, "execution_not_suspended");
	else
	{
		ff_suspension_resume_core(&c, delay, psprintf("resume delay " INT64_FORMAT "ms", delay), now);
		ff_suspension_close_all(&c, "resumed", "resumed", true, false, FF_NULL, now);
		ffr_ok(&r, "OK");
		ffr_text(&r, "public_state", ff_public_labels[c.public_state]);
	}
	FF_RETURN_RESULT(&r);
}

static FFPlan plan_escalate = {
	"UPDATE ff.suspension SET reason_code = 'waiting_for_operator_review', timeout_at = NULL, "
	"timeout_behavior = NULL WHERE partition = $1 AND execution_id = $2",
	2, {INT2OID, UUIDOID}
};

/*
 * ff_expire_suspension_id
 *		The timeout behaviour of one suspension (behaviour/suspension §4.7), re-validated under
 *		the execution lock: a signal that resumed the execution first wins.
 *		The suspension-timeout scanner's per-item step.  SPI connected;
 *		fills *rp.
 */
void
ff_expire_suspension_id(ExecId id, int64 now, FFResult *rp)
{
	int64		timeout_at;
	char	   *behavior;
	FFResult	r;
	ExecCore	c;

	ffr_ok(&r, "OK");
	if (!ff_core_lock(id, &c))
		ffr_text(&r, "result", "not_found_cleaned");
	else if (c.lifecycle_phase != PHASE_SUSPENDED)
		ffr_text(&r, "result", "not_suspended_cleaned");
	else if (!lock_open_suspension(&c, &timeout_at, &behavior))
		ffr_text(&r, "result", "no_active_suspension_cleaned");
	else if (timeout_at == FF_NULL || timeout_at > now)
		ffr_text(&r, "result", "not_yet_due");
	else if (behavior && strncmp(behavior, "auto_resume", 11) == 0)
	{
		ff_suspension_resume_core(&c, 0, NULL, now);
		ff_suspension_close_all(&c, "timed_out_auto_resume", "timed_out_auto_resume", false, false, FF_NULL, now);
		ffr_text(&r, "result", "auto_resume");
		ffr_text(&r, "public_state", ff_public_labels[c.public_state]);
	}
	else if (behavior && strcmp(behavior, "escalate") == 0)
	{
		Datum		v[2];

		c.blocking_reason = BLOCK_PAUSED_BY_OPERATOR;
		c.blocking_detail = psprintf("suspension escalated: timeout at " INT64_FORMAT, timeout_at);
		c.last_mutation_at = now;
		ff_core_store(&c);
		v[0] = Int16GetDatum((int16) id.partition);
		v[1] = UUIDPGetDatum(&id.uuid);
		ff_plan_exec(&plan_escalate, v, NULL, 0);
		ffr_text(&r, "result", "escalate");
		ffr_text(&r, "public_state", ff_public_labels[c.public_state]);
	}
	else
	{
		const char *b = (behavior && (strcmp(behavior, "cancel") == 0 ||
									  strcmp(behavior, "expire") == 0)) ? behavior : "fail";
		TerminalOutcome outcome = b[0] == 'c' ? OUTCOME_CANCELLED :
			(b[0] == 'e' ? OUTCOME_EXPIRED : OUTCOME_FAILED);
		char	   *why = psprintf("suspension_timeout:%s", b);
		char	   *close_reason = psprintf("timed_out_%s", b);

		ff_attempt_end(&c, c.current_attempt_index,
					   outcome == OUTCOME_CANCELLED ? "ended_cancelled" : "ended_failure",
					   now, why, NULL);
		ff_stream_close(&c, c.current_attempt_index, "suspension_timeout", now, false);
		ff_core_make_terminal(&c, outcome, now);
		c.failure_reason = why;
		if (outcome == OUTCOME_CANCELLED)
		{
			c.cancellation_reason = "suspension_timeout";
			c.cancelled_by = "system_timeout_policy";
		}
		ff_core_store(&c);
		ff_suspension_close_all(&c, close_reason, close_reason, false, true, FF_NULL, now);
		ff_completion_emit(&c, outcome, now);
		ffr_text(&r, "result", b);
		ffr_text(&r, "public_state", ff_public_labels[c.public_state]);
	}
	*rp = r;
}

/* ff.expire_suspension(execution_id) */
Datum
ff_expire_suspension(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	FFResult	r;

	ff_spi_connect();
	ff_expire_suspension_id(id, ff_now_ms(), &r);
	FF_RETURN_RESULT(&r);
}
