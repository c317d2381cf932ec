/*-------------------------------------------------------------------------
 *
 * susp_waitpoint.c
 *	  Waitpoints (behaviour/suspension §2, §4.2, §4.3): the waitpoint row with
 *	  its condition record (lock, store, insert), the key rule, the lease
 *	  fence taken by suspend and create_pending_waitpoint (behaviour/suspension §C.15),
 *	  create_pending_waitpoint and close_waitpoint.
 *
 *	  Locking: the execution row first (ff_core_lock), then waitpoint rows.
 *
 * IDENTIFICATION
 *	  src/susp_waitpoint.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "core_clock.h"
#include "core_spi.h"
#include "core_validate.h"
#include "exec_core.h"
#include "exec_lease.h"
#include "ff_engine.h"
#include "susp_hmac.h"
#include "susp_waitpoint.h"

PG_FUNCTION_INFO_V1(ff_create_pending_waitpoint);
PG_FUNCTION_INFO_V1(ff_close_waitpoint);

#define FF_MAX_PENDING_PER_ATTEMPT	64

/* Waitpoint keys: 1..256 bytes, no control characters (behaviour/suspension §1.1). */
void
ff_check_waitpoint_key(const char *k)
{
	const unsigned char *p;

	if (k == NULL || k[0] == '\0')
		ff_susp_invalid("waitpoint_key must not be empty");
	ff_check_max_len(k, FF_MAX_ID_BYTES, "waitpoint_key");
	for (p = (const unsigned char *) k; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			ff_susp_invalid("waitpoint_key contains a control character");
}

static FFPlan plan_wp_lock = {
	"SELECT execution_id, attempt_index, suspension_id, waitpoint_key, token, state, "
	"created_at, expires_at, next_seq, cond_kind, cond_match_mode, cond_min_count, "
	"cond_names, cond_signal_ids, cond_satisfied_count, cond_closed "
	"FROM ff.waitpoint WHERE partition = $1 AND waitpoint_id = $2 FOR UPDATE",
	2, {INT2OID, UUIDOID}
};

bool
ff_wp_lock(int partition, const pg_uuid_t *wp_id, Waitpoint *w)
{
	Datum		v[2];
	bool		isnull;
	Datum		d;

	memset(w, 0, sizeof(*w));
	v[0] = Int16GetDatum((int16) partition);
	v[1] = UUIDPGetDatum(wp_id);
	if (ff_plan_exec(&plan_wp_lock, v, NULL, 1) == 0)
		return false;
	w->id = *wp_id;
	ff_format_uuid(wp_id, w->id_text);
	w->execution_id = *DatumGetUUIDP(ff_col_datum(0, 1, &isnull));
	w->attempt_index = ff_col_int64(0, 2, FF_NULL);
	d = ff_col_datum(0, 3, &isnull);
	w->suspension_id.set = !isnull;
	if (!isnull)
		w->suspension_id.v = *DatumGetUUIDP(d);
	w->key = ff_col_text(0, 4);
	w->token = ff_col_text(0, 5);
	w->state = ff_col_text(0, 6);
	w->created_at = ff_col_int64(0, 7, FF_NULL);
	w->expires_at = ff_col_int64(0, 8, FF_NULL);
	w->next_seq = ff_col_int64(0, 9, 0);
	w->cond_kind = ff_col_text(0, 10);
	w->match_mode = ff_col_text(0, 11);
	w->min_count = ff_col_int64(0, 12, 1);
	w->satisfied_count = ff_col_int64(0, 15, 0);
	w->cond_closed = !ff_col_isnull(0, 16) && ff_col_bool(0, 16);
	d = ff_col_datum(0, 13, &isnull);
	if (!isnull)
	{
		Datum	   *names,
				   *ids;
		bool	   *nn,
				   *idnull;
		int			n,
					nid,
					i;

		deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT, &names, &nn, &n);
		deconstruct_array(DatumGetArrayTypeP(ff_col_datum(0, 14, &isnull)), UUIDOID, UUID_LEN,
						  false, TYPALIGN_CHAR, &ids, &idnull, &nid);
		w->nmatchers = n;
		w->names = palloc(n * sizeof(char *));
		w->sig_ids = palloc0(n * sizeof(pg_uuid_t));
		w->sig_set = palloc0(n * sizeof(bool));
		for (i = 0; i < n; i++)
		{
			w->names[i] = TextDatumGetCString(names[i]);
			if (i < nid && !idnull[i])
			{
				w->sig_set[i] = true;
				w->sig_ids[i] = *DatumGetUUIDP(ids[i]);
			}
		}
	}
	return true;
}

static FFPlan plan_wp_store_condition = {
	"UPDATE ff.waitpoint SET cond_kind = $3, cond_match_mode = $4, cond_min_count = $5, "
	"cond_names = $6, cond_signal_ids = $7, cond_satisfied_count = $8, "
	"cond_closed = coalesce(cond_closed, false) WHERE partition = $1 AND waitpoint_id = $2",
	8, {INT2OID, UUIDOID, TEXTOID, TEXTOID, INT4OID, TEXTARRAYOID, UUIDARRAYOID, INT4OID}
};

/* The matchers' satisfying signal ids as uuid[] (NULL = unsatisfied). */
ArrayType *
ff_wp_signal_ids(Waitpoint *w)
{
	Datum	   *ids = palloc(Max(w->nmatchers, 1) * sizeof(Datum));
	bool	   *idnull = palloc(Max(w->nmatchers, 1) * sizeof(bool));
	int			dims[1] = {w->nmatchers},
				lbs[1] = {1},
				i;

	for (i = 0; i < w->nmatchers; i++)
	{
		ids[i] = UUIDPGetDatum(&w->sig_ids[i]);
		idnull[i] = !w->sig_set[i];
	}
	return construct_md_array(ids, idnull, 1, dims, lbs, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR);
}

/* Write a waitpoint's condition record (kind, matchers and progress). */
void
ff_wp_store_condition(int partition, Waitpoint *w)
{
	Datum		v[8];
	bool		n[8] = {false};
	Datum	   *names = palloc(Max(w->nmatchers, 1) * sizeof(Datum));
	int			dims[1] = {w->nmatchers},
				lbs[1] = {1},
				i;

	for (i = 0; i < w->nmatchers; i++)
		names[i] = CStringGetTextDatum(w->names[i]);
	v[0] = Int16GetDatum((int16) partition);
	v[1] = UUIDPGetDatum(&w->id);
	v[2] = CStringGetTextDatum(w->cond_kind);
	v[3] = w->match_mode ? CStringGetTextDatum(w->match_mode) : (Datum) 0;
	n[3] = (w->match_mode == NULL);
	v[4] = Int32GetDatum((int32) w->min_count);
	v[5] = PointerGetDatum(construct_md_array(names, NULL, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
	v[6] = PointerGetDatum(ff_wp_signal_ids(w));
	v[7] = Int32GetDatum((int32) w->satisfied_count);
	ff_plan_exec(&plan_wp_store_condition, v, n, 0);
}

static FFPlan plan_wp_exists = {
	"SELECT 1 FROM ff.waitpoint WHERE partition = $1 AND waitpoint_id = ANY ($2)",
	2, {INT2OID, UUIDARRAYOID}
};
static FFPlan plan_wp_insert = {
	"INSERT INTO ff.waitpoint (partition, waitpoint_id, execution_id, attempt_index, "
	"suspension_id, waitpoint_key, token, state, created_at, activated_at, expires_at) "
	"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN $8 = 'active' THEN $9 END, $10)",
	10, {INT2OID, UUIDOID, UUIDOID, INT4OID, UUIDOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID}
};

void
ff_wp_insert(ExecCore *c, const Binding *b, int64 attempt_index, const pg_uuid_t *susp,
				 const char *state, int64 expires_at, int64 now)
{
	Datum		v[10];
	bool		n[10] = {false};

	v[0] = Int16GetDatum((int16) c->id.partition);
	v[1] = UUIDPGetDatum(&b->id);
	v[2] = UUIDPGetDatum(&c->id.uuid);
	v[3] = Int32GetDatum((int32) attempt_index);
	v[4] = susp ? UUIDPGetDatum(susp) : (Datum) 0;
	n[4] = (susp == NULL);
	v[5] = CStringGetTextDatum(b->key);
	v[6] = CStringGetTextDatum(b->token);
	v[7] = CStringGetTextDatum(state);
	v[8] = Int64GetDatum(now);
	v[9] = Int64GetDatum(expires_at);
	n[9] = (expires_at == FF_NULL);
	ff_plan_exec(&plan_wp_insert, v, n, 0);
}

/* Any of these waitpoint ids already stored in the partition? */
bool
ff_wp_any_exists(int partition, Binding *b, int n)
{
	Datum	   *ids = palloc(n * sizeof(Datum));
	Datum		v[2];
	int			i;

	for (i = 0; i < n; i++)
		ids[i] = UUIDPGetDatum(&b[i].id);
	v[0] = Int16GetDatum((int16) partition);
	v[1] = PointerGetDatum(construct_array(ids, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	return ff_plan_exec(&plan_wp_exists, v, NULL, 1) > 0;
}

/*
 * Lock the execution and check the caller holds its lease (suspend behaviour/suspension §4.1.2
 * steps 3-6; create_pending_waitpoint takes the same fence, behaviour/suspension §C.15): the full fence (no source, so no operator override), an expired
 * lease marked (committed), and the attempt index, refused with
 * attempt_error.
 */
bool
ff_susp_lock_lease_holder(ExecId id, Fence *f, int64 attempt_index, const char *attempt_error,
				  int64 now, ExecCore *c, FFResult *r)
{
	if (!ff_lease_lock_and_validate(id, f, NULL, now, c, r))
		return false;
	if (c->current_attempt_index != attempt_index)
	{
		ffr_error(r, attempt_error);
		return false;
	}
	return true;
}

/* ---- create_pending_waitpoint (behaviour/suspension §4.2) ---- */

static FFPlan plan_pending_count = {
	"SELECT count(*) FROM ff.waitpoint WHERE partition = $1 AND execution_id = $2 "
	"AND attempt_index = $3 AND state = 'pending'",
	3, {INT2OID, UUIDOID, INT4OID}
};
static FFPlan plan_wp_replace_closed = {
	"DELETE FROM ff.waitpoint WHERE partition = $1 AND waitpoint_id = $2 AND state = 'closed'",
	2, {INT2OID, UUIDOID}
};

/*
 * ff.create_pending_waitpoint(execution_id, attempt_index, lease_id,
 *		lease_epoch, attempt_id, waitpoint_id, waitpoint_key, expires_at)
 *		Decisions: the full fence is validated like suspend (behaviour/suspension §C.15); at most 64 open pending waitpoints per attempt (#14); a closed
 *		waitpoint of the same execution is replaced, one of another
 *		execution never is.
 */
Datum
ff_create_pending_waitpoint(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	int64		attempt_index = ff_arg_int32(fcinfo, 1, "attempt_index");
	Fence		f = ff_fence_args(fcinfo, 2, 3, 4);
	pg_uuid_t  *wp_id = ff_arg_uuid_opt(fcinfo, 5);
	char	   *key = ff_arg_text_opt(fcinfo, 6);
	int64		expires_at = PG_ARGISNULL(7) ? FF_NULL : PG_GETARG_INT64(7);
	int64		now = ff_now_ms();
	FFResult	r;
	ExecCore	c;
	Waitpoint	w;
	Binding		b;
	Datum		v[3];
	const char *err;

	if (wp_id == NULL)
		ff_susp_invalid("waitpoint_id must not be NULL");
	memset(&b, 0, sizeof(b));
	b.id = *wp_id;
	ff_format_uuid(wp_id, b.id_text);
	b.key = key ? key : psprintf("wpk:%s", b.id_text);
	ff_check_waitpoint_key(b.key);
	if (expires_at == FF_NULL || expires_at <= now)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expires_at must be in the future")));

	ff_spi_connect();
	if (!ff_susp_lock_lease_holder(id, &f, attempt_index, "stale_lease", now, &c, &r))
		FF_RETURN_RESULT(&r);
	if (ff_wp_lock(id.partition, wp_id, &w) &&
		(strcmp(w.state, "closed") != 0 ||
		 memcmp(w.execution_id.data, id.uuid.data, UUID_LEN) != 0))
	{
		ffr_error(&r, "waitpoint_already_exists");
		FF_RETURN_RESULT(&r);
	}
	v[0] = Int16GetDatum((int16) id.partition);
	v[1] = UUIDPGetDatum(&id.uuid);
	v[2] = Int32GetDatum((int32) attempt_index);
	ff_plan_exec(&plan_pending_count, v, NULL, 1);
	if (ff_col_int64(0, 1, 0) >= FF_MAX_PENDING_PER_ATTEMPT)
	{
		ffr_error(&r, "waitpoint_limit_exceeded");
		FF_RETURN_RESULT(&r);
	}
	if ((err = ff_token_mint(b.id_text, b.key, now, &b.token)) != NULL)
	{
		ffr_error(&r, err);
		FF_RETURN_RESULT(&r);
	}
	v[1] = UUIDPGetDatum(wp_id);
	ff_plan_exec(&plan_wp_replace_closed, v, NULL, 0);
	ff_wp_insert(&c, &b, attempt_index, NULL, "pending", expires_at, now);
	ffr_ok(&r, "OK");
	ffr_text(&r, "waitpoint_id", b.id_text);
	ffr_text(&r, "waitpoint_key", b.key);
	ffr_text(&r, "waitpoint_token", b.token);
	FF_RETURN_RESULT(&r);
}

/* ---- close_waitpoint (behaviour/suspension §4.3) ---- */

static FFPlan plan_wp_close = {
	"UPDATE ff.waitpoint SET state = 'closed', closed_at = $3, close_reason = $4 "
	"WHERE partition = $1 AND waitpoint_id = $2",
	4, {INT2OID, UUIDOID, INT8OID, TEXTOID}
};

/*
 * ff.close_waitpoint(execution_id, waitpoint_id, reason, lease_id,
 *		lease_epoch, attempt_id, source)
 *		Closes a pending waitpoint.  The lease holder presents its fence;
 *		an operator passes source => 'operator_override' instead.  Active
 *		waitpoints are refused (behaviour/suspension §C.8).
 */
Datum
ff_close_waitpoint(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	pg_uuid_t  *wp_id = ff_arg_uuid_opt(fcinfo, 1);
	char	   *reason = ff_arg_text_opt(fcinfo, 2);
	Fence		f = ff_fence_args(fcinfo, 3, 4, 5);
	char	   *source = ff_arg_text_opt(fcinfo, 6);
	int64		now = ff_now_ms();
	bool		trusted;
	FFResult	r;
	ExecCore	c;
	Waitpoint	w;
	Datum		v[4];

	if (wp_id == NULL)
		ff_susp_invalid("waitpoint_id must not be NULL");
	if (reason == NULL)
		reason = "proactive_close";
	ff_check_max_len(reason, FF_MAX_ID_BYTES, "reason");

	ff_spi_connect();
	if (!ff_core_lock(id, &c))
		ff_result_not_found(&r);
	else if (!ff_fence_resolve(&f, source, true, &trusted, &r) ||
			 (!trusted && !ff_lease_validate(&c, &f, false, now, &r)))
		 /* result set */ ;
	else if (!ff_wp_lock(id.partition, wp_id, &w) ||
			 memcmp(w.execution_id.data, id.uuid.data, UUID_LEN) != 0)
		ffr_error(&r, "waitpoint_not_found");
	else if (strcmp(w.state, "closed") == 0)
	{
		ffr_ok(&r, "OK");
		ffr_text(&r, "result", "already_closed");
	}
	else if (strcmp(w.state, "pending") != 0)
		ffr_error(&r, "waitpoint_not_open");
	else
	{
		v[0] = Int16GetDatum((int16) id.partition);
		v[1] = UUIDPGetDatum(wp_id);
		v[2] = Int64GetDatum(now);
		v[3] = CStringGetTextDatum(reason);
		ff_plan_exec(&plan_wp_close, v, NULL, 0);
		ffr_ok(&r, "OK");
		ffr_text(&r, "result", "closed");
	}
	FF_RETURN_RESULT(&r);
}
