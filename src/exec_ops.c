/*-------------------------------------------------------------------------
 *
 * exec_ops.c
 *	  Execution operations of behaviour/execution §3: create (behaviour/execution §3.1),
 *	  complete (behaviour/execution §3.8), fail with retry (behaviour/execution §3.9), cancel (behaviour/execution §3.10), delay
 *	  (behaviour/execution §3.11), move_to_waiting_children (behaviour/execution §3.12), change_priority (behaviour/execution §3.16)
 *	  and tags (behaviour/execution §3.23).
 *
 *	  Each SQL-callable function validates its arguments (raising on
 *	  misuse before anything is written), locks the execution row, and
 *	  returns the jsonb envelope for every domain outcome.
 *
 * IDENTIFICATION
 *	  src/exec_ops.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "budget.h"
#include "quota.h"
#include "core_clock.h"
#include "exec_core.h"
#include "flow_completion.h"
#include "exec_lane.h"
#include "exec_ops.h"
#include "ff_engine.h"
#include "exec_lease.h"
#include "core_partition.h"
#include "core_spi.h"
#include "susp_ops.h"
#include "core_tenant.h"
#include "core_validate.h"

PG_FUNCTION_INFO_V1(ff_create_execution);
PG_FUNCTION_INFO_V1(ff_complete_execution);
PG_FUNCTION_INFO_V1(ff_fail_execution);
PG_FUNCTION_INFO_V1(ff_cancel_execution);
PG_FUNCTION_INFO_V1(ff_delay_execution);
PG_FUNCTION_INFO_V1(ff_move_to_waiting_children);
PG_FUNCTION_INFO_V1(ff_change_priority);
PG_FUNCTION_INFO_V1(ff_set_execution_tags);
PG_FUNCTION_INFO_V1(ff_expire_execution);
PG_FUNCTION_INFO_V1(ff_replay_execution);

#define FF_PRIORITY_MAX 9000

static int64
clamp_priority(int64 p)
{
	return p < 0 ? 0 : (p > FF_PRIORITY_MAX ? FF_PRIORITY_MAX : p);
}

static void
result_duplicate(FFResult *r, int partition, const pg_uuid_t *u)
{
	ffr_ok(r, "DUPLICATE");
	ffr_exec_id(r, "execution_id", partition, u);
}

/* ---- create_execution ---- */

static FFPlan plan_idem_lookup = {
	"SELECT execution_id FROM ff.idempotency_key WHERE partition = $1 "
	"AND namespace = $2 AND key = $3 AND expires_at > $4",
	4, {INT2OID, TEXTOID, TEXTOID, INT8OID}
};
static FFPlan plan_idem_claim = {
	"INSERT INTO ff.idempotency_key AS k (partition, namespace, key, execution_id, expires_at) "
	"VALUES ($1, $2, $3, $4, $5) ON CONFLICT (partition, namespace, key) DO UPDATE "
	"SET execution_id = EXCLUDED.execution_id, expires_at = EXCLUDED.expires_at "
	"WHERE k.expires_at <= $6 RETURNING 1",
	6, {INT2OID, TEXTOID, TEXTOID, UUIDOID, INT8OID, INT8OID}
};
static FFPlan plan_exists = {
	"SELECT 1 FROM ff.execution WHERE partition = $1 AND execution_id = $2",
	2, {INT2OID, UUIDOID}
};
static FFPlan plan_exists_many = {
	"SELECT partition, execution_id FROM ff.execution WHERE " FF_EXEC_IDS_IN,
	2, {INT2ARRAYOID, UUIDARRAYOID}, NULL, true,.key_lookups = true
};

/* Whether any of n ids has an entry, of any row version, in ff.execution's key. */
static bool
any_key_entry(const ExecId *ids, int n)
{
	static const Oid key_types[2] = {INT2OID, UUIDOID};
	PkeyProbe	p;
	bool		any = false;
	int			k;

	ff_pkey_probe_begin(&p, "execution", 2, key_types);
	for (k = 0; k < n && !any; k++)
	{
		Datum		key[2];

		key[0] = Int16GetDatum((int16) ids[k].partition);
		key[1] = UUIDPGetDatum(unconstify(pg_uuid_t *, &ids[k].uuid));
		any = ff_pkey_probe(&p, key);
	}
	ff_pkey_probe_end(&p);
	return any;
}

/*
 * ff_existing_ids
 *		Which of n ids name an execution already (of any namespace, as the
 *		single probe of ff_create_one): one statement for a batch of
 *		creates instead of one per item.  Sorted by ff_exec_id_cmp; *nfound
 *		of them.
 */
ExecId *
ff_existing_ids(const ExecId *ids, int n, int *nfound)
{
	Datum		args[2];
	ExecId	   *found;
	uint64		got,
				i;

	/* ids of fresh executions have no key entry yet: the statement only when one has */
	if (!any_key_entry(ids, n))
	{
		*nfound = 0;
		return palloc(sizeof(ExecId));
	}
	ff_exec_id_arrays(ids, n, args);
	got = ff_plan_exec(&plan_exists_many, args, NULL, 0);
	found = palloc(sizeof(ExecId) * Max(got, 1));
	for (i = 0; i < got; i++)
	{
		bool		isnull;

		found[i].partition = DatumGetInt16(ff_col_datum((int) i, 1, &isnull));
		found[i].uuid = *DatumGetUUIDP(ff_col_datum((int) i, 2, &isnull));
	}
	qsort(found, got, sizeof(ExecId), ff_exec_id_cmp);
	*nfound = (int) got;
	return found;
}

/*
 * Tag values are stored as strings, as the reference's tostring() does.
 * Tags whose values are all strings already are stored as given; the
 * others go through this statement once per create (the insert itself
 * carries no subquery: its executor set-up was a fifth of a create's).
 */
static FFPlan plan_tags_as_strings = {
	"SELECT COALESCE((SELECT pg_catalog.jsonb_object_agg(t.key, "
	"CASE WHEN pg_catalog.jsonb_typeof(t.value) = 'string' THEN t.value "
	"ELSE pg_catalog.to_jsonb(t.value #>> '{}') END) FROM pg_catalog.jsonb_each($1) t), '{}')",
	1, {JSONBOID}
};
static uint64 data_insert(FFPlan *p, int n, const Datum *v, const bool *vn);
static FFPlan plan_data_insert = {
	"INSERT INTO ff.execution_data (partition, execution_id, payload, policy, tags) "
	"VALUES ($1, $2, $3, $4, COALESCE($5, '{}'))",
	5, {INT2OID, UUIDOID, BYTEAOID, JSONBOID, JSONBOID}, NULL, false,
	"INSERT INTO ff.execution_data (partition, execution_id, payload, policy, tags) "
	"SELECT v.a1, v.a2, v.a3, v.a4, COALESCE(v.a5, '{}') FROM %s ORDER BY v.a1, v.a2",
	0, true, .flush_direct = data_insert
};

/*
 * The data rows of creates (n of them; v, vn: plan_data_insert's arguments
 * of each), written without a statement: a create called alone at once, a
 * batch's at its flush (p's own writer).  FF_FLUSH_BY_STATEMENT when the
 * statement must write them: a table changed by its owner
 * (ff_write_insert_rows).
 */
static uint64
data_insert(FFPlan *p, int n, const Datum *v, const bool *vn)
{
	/* p's columns and types; result is left NULL, as the statement leaves it */
	static const char *const cols[] = {"partition", "execution_id", "payload", "policy", "tags"};
	const int	ncols = lengthof(cols);
	Datum	   *values = palloc(sizeof(Datum) * ncols * Max(n, 1));
	bool	   *nulls = palloc(sizeof(bool) * ncols * Max(n, 1));
	Datum		no_tags = (Datum) 0;
	int64		done;
	int			r;

	Assert(p->nargs == ncols);
	memcpy(values, v, sizeof(Datum) * ncols * n);
	memcpy(nulls, vn, sizeof(bool) * ncols * n);
	for (r = 0; r < n; r++)
	{
		if (!nulls[r * ncols + 4])
			continue;
		/* COALESCE(tags, '{}') */
		if (no_tags == (Datum) 0)
			no_tags = JsonbPGetDatum(ff_jsonb_from_text("{}"));
		values[r * ncols + 4] = no_tags;
		nulls[r * ncols + 4] = false;
	}
	done = ff_write_insert_rows("execution_data", ncols, cols, p->argtypes, n, values, nulls);
	pfree(values);
	pfree(nulls);
	return done < 0 ? FF_FLUSH_BY_STATEMENT : (uint64) done;
}

/* tags (an object) with every value a string, as they are stored */
static Jsonb *
tags_as_strings(Jsonb *tags)
{
	JsonbIterator *it = JsonbIteratorInit(&tags->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	Datum		arg = JsonbPGetDatum(tags);
	bool		isnull;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_VALUE && v.type != jbvString)
		{
			ff_plan_exec(&plan_tags_as_strings, &arg, NULL, 1);
			return DatumGetJsonbPCopy(ff_col_datum(0, 1, &isnull));
		}
	}
	return tags;
}

static FFPlan plan_undo_create = {
	"WITH d AS (DELETE FROM ff.execution_data WHERE partition = $1 AND execution_id = $2) "
	"DELETE FROM ff.execution WHERE partition = $1 AND execution_id = $2",
	2, {INT2OID, UUIDOID}
};

static bool
idem_lookup(int partition, const char *ns, const char *key, int64 now, pg_uuid_t *out)
{
	Datum		v[4];
	bool		isnull;

	v[0] = Int16GetDatum((int16) partition);
	v[1] = CStringGetTextDatum(ns);
	v[2] = CStringGetTextDatum(key);
	v[3] = Int64GetDatum(now);
	if (ff_plan_exec(&plan_idem_lookup, v, NULL, 1) == 0)
		return false;
	*out = *DatumGetUUIDP(ff_col_datum(0, 1, &isnull));
	return true;
}

/* A payload (what: the argument's name) above ff_engine.max_payload_bytes is an error. */
static void
check_payload_size(bytea *payload, const char *what)
{
	if (payload && VARSIZE_ANY_EXHDR(payload) > (Size) ff_max_payload_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s is %zu bytes, more than ff_engine.max_payload_bytes (%d)",
						what, (Size) VARSIZE_ANY_EXHDR(payload), ff_max_payload_bytes)));
}

/*
 * ff_check_create_item
 *		The checks of one create's id and payload, before anything is
 *		written (num_partitions: ff_num_flow_partitions()).
 */
void
ff_check_create_item(ExecId id, bytea *payload, int num_partitions)
{
	check_payload_size(payload, "input_payload");
	if (id.partition >= num_partitions)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("execution id partition %d is out of range", id.partition),
				 errdetail("ff.partition_config has %d flow partitions.", num_partitions),
				 errhint("Mint ids with ff.execution_id(lane_id) or ff.flow_member_execution_id(flow_id).")));
}

/*
 * ff_create_one
 *		The create operation (behaviour/execution §3.1) on arguments already checked (the
 *		shared ones by the caller, id and payload by ff_check_create_item);
 *		SPI connected, the namespace granted.  Shared by create_execution
 *		and create_executions.
 *
 * Order of checks (behaviour/execution §3.1): idempotency key, existing id, then policy;
 * a duplicate wins over a bad policy.  Index membership derives from the
 * state written, so a past delay_until simply makes the execution eligible.
 */
void
ff_create_one(const CreateArgs *a, ExecId id, bytea *payload, int64 now, FFResult *r)
{
	ExecCore	c;
	Jsonb	   *policy = a->policy;
	pg_uuid_t	mapped;
	Datum		v[6];
	bool		n[6] = {false};

	/* 2. idempotency key, 3. existing execution */
	if (a->idem_key && idem_lookup(id.partition, a->ns, a->idem_key, now, &mapped))
	{
		result_duplicate(r, id.partition, &mapped);
		return;
	}
	v[0] = Int16GetDatum((int16) id.partition);
	v[1] = UUIDPGetDatum(&id.uuid);
	/*
	 * A batch probed its ids at once.  Otherwise the insert below finds an
	 * existing id itself (ON CONFLICT DO NOTHING), so the id is probed
	 * first only where a refusal of the policy could come before it.
	 */
	if (a->existing != NULL ?
		bsearch(&id, a->existing, a->nexisting, sizeof(ExecId), ff_exec_id_cmp) != NULL :
		(a->policy_err != NULL || a->budget_bad != NULL || a->budget_csv != NULL) &&
		ff_plan_exec(&plan_exists, v, NULL, 1) > 0)
	{
		result_duplicate(r, id.partition, &id.uuid);
		return;
	}

	/* 4. policy, fail-closed, nothing written yet (validated by ff_create_args) */
	if (a->policy_err != NULL)
	{
		ffr_error(r, a->policy_err);
		ffr_text(r, "detail", a->policy_detail);
		return;
	}

	/* budgets named by the policy are attached (behaviour/budgets §2.3) */
	if (a->budget_bad)
	{
		ffr_error(r, "invalid_policy_json");
		ffr_text(r, "detail", a->budget_bad);
		return;
	}
	/* only budgets of its namespace (or global ones) may govern it */
	if (a->budget_csv)
	{
		const char *bad = ff_admission_scope_error(a->budget_csv, NULL, a->ns);

		if (bad != NULL)
		{
			ffr_error(r, "invalid_budget_scope");
			ffr_text(r, "detail", bad);
			return;
		}
	}

	/* 5-6. the core record */
	ff_core_init(&c, id);
	c.namespace = a->ns;
	c.lane_id = a->lane;
	c.execution_kind = a->kind;
	c.creator_identity = a->creator;
	c.created_at = now;
	c.priority = clamp_priority(a->priority);
	c.required_caps_csv = a->caps.ntokens > 0 ? ff_caps_to_csv(&a->caps) : NULL;
	c.current_lane = a->lane;
	c.budget_ids = a->budget_csv;
	c.last_transition_at = now;
	c.last_mutation_at = now;
	c.execution_deadline_at = a->deadline;
	c.concurrency_key = a->conc_key;
	c.concurrency_limit = a->conc_limit;
	if (policy && JB_ROOT_IS_OBJECT(policy))
	{
		JsonbContainer *sp = ff_jsonb_get_object(&policy->root, "stream_policy");
		double		ret;

		if (sp && ff_jsonb_get_number(sp, "retention_ttl_ms", &ret) && ret >= 0)
			c.retention_ms = (int64) ret;
	}
	if (a->delay_until != FF_NULL && a->delay_until > now)
	{
		ff_core_set_vector(&c, PHASE_RUNNABLE, OWN_UNOWNED, ELIG_NOT_ELIGIBLE_UNTIL_TIME,
						   BLOCK_WAITING_FOR_DELAY,
						   psprintf("delayed until " INT64_FORMAT, a->delay_until),
						   OUTCOME_NONE, ATT_PENDING_FIRST_ATTEMPT);
		c.delay_until = a->delay_until;
	}
	else
		ff_core_set_vector(&c, PHASE_RUNNABLE, OWN_UNOWNED, ELIG_ELIGIBLE_NOW,
						   BLOCK_WAITING_FOR_WORKER, NULL, OUTCOME_NONE,
						   ATT_PENDING_FIRST_ATTEMPT);
	if (!ff_core_insert(&c))
	{
		/* it exists: created before, or concurrently by another transaction that committed */
		result_duplicate(r, id.partition, &id.uuid);
		return;
	}

	/* 7-8. payload, policy, tags */
	v[2] = payload ? PointerGetDatum(payload) : (Datum) 0;
	n[2] = (payload == NULL);
	v[3] = policy ? JsonbPGetDatum(policy) : (Datum) 0;
	n[3] = (policy == NULL);
	v[4] = a->tags ? JsonbPGetDatum(tags_as_strings(a->tags)) : (Datum) 0;
	n[4] = (a->tags == NULL);
	/* a batch's creates are deferred: its flush inserts them (data_insert) */
	if (ff_deferring() || data_insert(&plan_data_insert, 1, v, n) == FF_FLUSH_BY_STATEMENT)
		ff_plan_exec(&plan_data_insert, v, n, 0);

	/* 11. idempotency mapping; losing a race to a concurrent create undoes ours */
	if (a->idem_key && a->dedup_ttl > 0)
	{
		Datum		k[6];

		k[0] = Int16GetDatum((int16) id.partition);
		k[1] = CStringGetTextDatum(a->ns);
		k[2] = CStringGetTextDatum(a->idem_key);
		k[3] = UUIDPGetDatum(&id.uuid);
		k[4] = Int64GetDatum(now + a->dedup_ttl);
		k[5] = Int64GetDatum(now);
		if (ff_plan_exec(&plan_idem_claim, k, NULL, 0) == 0)
		{
			ff_plan_exec(&plan_undo_create, v, NULL, 0);
			if (!idem_lookup(id.partition, a->ns, a->idem_key, now, &mapped))
				mapped = id.uuid;
			result_duplicate(r, id.partition, &mapped);
			return;
		}
	}

	ffr_ok(r, "OK");
	ffr_exec_id(r, "execution_id", id.partition, &id.uuid);
	ffr_text(r, "public_state", ff_public_labels[c.public_state]);
}

/*
 * ff_create_args
 *		The shared arguments of create_execution(s), checked: fcinfo's
 *		arguments namespace, lane_id, execution_kind, priority,
 *		creator_identity, policy_json, delay_until at the argument numbers
 *		given (-1: absent, its default).
 */
CreateArgs
ff_create_args(FunctionCallInfo fcinfo, int ns_arg, int lane_arg, int kind_arg, int priority_arg,
			   int creator_arg, int policy_arg, int delay_arg)
{
	CreateArgs	a;

#define ARG_GIVEN(k) ((k) >= 0 && !PG_ARGISNULL(k))
	memset(&a, 0, sizeof(a));
	a.ns = ff_arg_text(fcinfo, ns_arg, "namespace");
	a.lane = ff_arg_text(fcinfo, lane_arg, "lane_id");
	ff_check_lane_id(PG_GETARG_TEXT_PP(lane_arg));
	a.kind = ARG_GIVEN(kind_arg) ? text_to_cstring(PG_GETARG_TEXT_PP(kind_arg)) : "";
	a.priority = ARG_GIVEN(priority_arg) ? PG_GETARG_INT64(priority_arg) : 0;
	a.creator = ARG_GIVEN(creator_arg) ? text_to_cstring(PG_GETARG_TEXT_PP(creator_arg)) : "";
	a.policy_text = policy_arg >= 0 ? ff_arg_text_opt(fcinfo, policy_arg) : NULL;
	a.delay_until = ARG_GIVEN(delay_arg) ? PG_GETARG_INT64(delay_arg) : FF_NULL;
#undef ARG_GIVEN
	a.deadline = FF_NULL;
	a.dedup_ttl = 86400000;
	ff_check_max_len(a.ns, FF_MAX_ID_BYTES, "namespace");
	ff_check_max_len(a.kind, FF_MAX_ID_BYTES, "execution_kind");
	ff_check_max_len(a.creator, FF_MAX_ID_BYTES, "creator_identity");
	/* bounded before it is parsed; parsed once, however many items use it */
	ff_check_json_text(a.policy_text, "policy_json");
	a.policy_err = ff_validate_policy(a.policy_text, &a.policy, &a.caps, &a.policy_detail);
	if (a.policy_err == NULL)
		a.budget_csv = ff_policy_budget_ids(a.policy, &a.budget_bad);
	a.conc_key = NULL;
	a.conc_limit = FF_NULL;
	if (a.policy_err == NULL)
		ff_concurrency_from_policy(a.policy, &a.conc_key, &a.conc_limit);
	return a;
}

/*
 * ff.create_execution(execution_id, namespace, lane_id, execution_kind,
 *		priority, creator_identity, policy_json, input_payload, delay_until,
 *		idempotency_key, dedup_ttl_ms, tags, execution_deadline_at)
 */
Datum
ff_create_execution(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	CreateArgs	a = ff_create_args(fcinfo, 1, 2, 3, 4, 5, 6, 8);
	bytea	   *payload = PG_ARGISNULL(7) ? NULL : PG_GETARG_BYTEA_PP(7);
	FFResult	r;

	a.idem_key = ff_arg_text_opt(fcinfo, 9);
	if (!PG_ARGISNULL(10))
		a.dedup_ttl = PG_GETARG_INT64(10);
	a.tags = PG_ARGISNULL(11) ? NULL : PG_GETARG_JSONB_P(11);
	if (!PG_ARGISNULL(12))
		a.deadline = PG_GETARG_INT64(12);
	ff_check_max_len(a.idem_key, 1024, "idempotency_key");
	if (a.tags && !JB_ROOT_IS_OBJECT(a.tags))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tags must be a JSON object")));
	ff_check_jsonb(a.tags, "tags");
	ff_check_create_item(id, payload, ff_num_flow_partitions());

	ff_spi_connect();
	ff_namespace_require(a.ns);
	ff_create_one(&a, id, payload, ff_now_ms(), &r);
	FF_RETURN_RESULT(&r);
}

/* ---- lease-bound terminal and parking operations ---- */

static FFPlan plan_store_result = {
	"UPDATE ff.execution_data SET result = $3 WHERE partition = $1 AND execution_id = $2",
	3, {INT2OID, UUIDOID, BYTEAOID}
};

/*
 * ff_check_result_size
 *		result_payload above ff_engine.max_payload_bytes is an error.
 */
void
ff_check_result_size(bytea *result)
{
	check_payload_size(result, "result_payload");
}

/*
 * A leased attempt's execution ends: the lease released, the terminal
 * vector stored, the completion announced, the answer "result".
 */
static void
end_leased_terminal(ExecCore *c, const char *release_reason, TerminalOutcome outcome,
					const char *result, int64 now, FFResult *r)
{
	ff_lease_release(c, release_reason, NULL, now);
	ff_core_make_terminal(c, outcome, now);
	ff_core_store(c);
	ff_completion_emit(c, outcome, now);
	ffr_ok(r, "OK");
	ffr_text(r, "result", result);
}

/* A non-empty result payload stored with the execution's data. */
static void
store_result(ExecId id, bytea *result)
{
	Datum		v[3];

	if (result == NULL || VARSIZE_ANY_EXHDR(result) == 0)
		return;
	v[0] = Int16GetDatum((int16) id.partition);
	v[1] = UUIDPGetDatum(&id.uuid);
	v[2] = PointerGetDatum(result);
	ff_plan_exec(&plan_store_result, v, NULL, 0);
}

/*
 * ff_complete_unlocked_many
 *		Completes whose transitions write nothing before the execution row -
 *		the fence is the live lease, and the attempt and the lease are held
 *		on the row, so their ends are written there - store their rows
 *		without locking them first: each update takes its row's lock.  A
 *		row lock taken only to be followed by that update cost a job a WAL
 *		record of its own (doc/decisions.md, "Claims and completes without a
 *		row lock of their own").  For the n distinct executions ids (fences
 *		alike), read and stored in (partition, execution_id) order, the lock
 *		order of batches; stored[i] receives item i's row when it was stored
 *		(ff_complete_stored then finishes it), NULL otherwise: another
 *		transaction changed that row, or one before it in that order, since
 *		it was read, and the caller does those completes under the lock, as
 *		if it had waited there; the rows stored all come before the rows it
 *		locks, so the batch takes its locks in that one order.  When one
 *		item would write more, or is refused, none is stored.
 */
void
ff_complete_unlocked_many(const ExecId *ids, const Fence *fences, int n, int64 now,
						  StoredComplete **stored)
{
	ExecIdOrder *order;		/* the items in the batch's lock order */
	ExecId	   *sorted;
	ExecCore   *rows;
	StoredComplete *sc;
	ExecCore  **cs;
	bool	   *stored_rows;
	int			k;

	memset(stored, 0, sizeof(StoredComplete *) * n);
	if (ff_deferring())
		return;					/* a batch's item, its row locked */
	order = palloc(sizeof(ExecIdOrder) * n);
	sorted = palloc(sizeof(ExecId) * n);
	rows = palloc(sizeof(ExecCore) * n);
	sc = palloc(sizeof(StoredComplete) * n);
	cs = palloc(sizeof(ExecCore *) * n);
	stored_rows = palloc(sizeof(bool) * n);
	for (k = 0; k < n; k++)
	{
		order[k].id = ids[k];
		order[k].pos = k;
	}
	qsort(order, n, sizeof(ExecIdOrder), ff_exec_id_cmp);
	for (k = 0; k < n; k++)
		sorted[k] = order[k].id;
	if (ff_core_read_many(sorted, n, rows) != n)
		return;
	for (k = 0; k < n; k++)
		if (!ff_lease_held_by(&rows[k], &fences[order[k].pos], now) ||
			rows[k].held_attempt_seq == FF_NULL)
			return;
	/* every item qualifies: the transitions, on the rows as read */
	for (k = 0; k < n; k++)
	{
		sc[k].c = cs[k] = &rows[k];
		sc[k].attempt_index = rows[k].current_attempt_index;
		ff_lease_release(&rows[k], "completed", NULL, now);
		ff_core_make_terminal(&rows[k], OUTCOME_SUCCESS, now);
	}
	ff_core_store_unlocked_many(cs, n, false, stored_rows);
	for (k = 0; k < n; k++)
		if (stored_rows[k])
			stored[order[k].pos] = &sc[k];
}

/*
 * ff_complete_stored
 *		What follows a complete's unlocked store: the attempt's stream
 *		closed, the result stored, the completion announced.
 */
void
ff_complete_stored(StoredComplete *s, bytea *result, int64 now, FFResult *r)
{
	ff_stream_close(s->c, s->attempt_index, "attempt_success", now, false);
	store_result(s->c->id, result);
	ff_completion_emit(s->c, OUTCOME_SUCCESS, now);
	ffr_ok(r, "OK");
	ffr_text(r, "result", "completed");
}

/*
 * ff_complete_one
 *		The complete operation (behaviour/execution §3.8) on arguments already checked; SPI
 *		connected.  Shared by complete_execution and complete_executions.
 */
void
ff_complete_one(ExecId id, Fence *f, bytea *result, const char *source, int64 now, FFResult *r)
{
	ExecCore	c;
	StoredComplete *s;

	ff_complete_unlocked_many(&id, f, 1, now, &s);
	if (s != NULL)
	{
		ff_complete_stored(s, result, now, r);
		return;
	}
	if (ff_lease_lock_and_validate(id, f, source, now, &c, r))
	{
		ff_attempt_end(&c, c.current_attempt_index, "ended_success", now, NULL, NULL);
		ff_stream_close(&c, c.current_attempt_index, "attempt_success", now, false);
		store_result(id, result);
		end_leased_terminal(&c, "completed", OUTCOME_SUCCESS, "completed", now, r);
	}
}

/*
 * ff.complete_execution(execution_id, lease_id, lease_epoch, attempt_id,
 *						 result_payload, source)
 */
Datum
ff_complete_execution(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	Fence		f = ff_fence_args(fcinfo, 1, 2, 3);
	bytea	   *result = PG_ARGISNULL(4) ? NULL : PG_GETARG_BYTEA_PP(4);
	char	   *source = ff_arg_text_opt(fcinfo, 5);
	FFResult	r;

	ff_check_result_size(result);
	ff_spi_connect();
	ff_complete_one(id, &f, result, source, ff_now_ms(), &r);
	FF_RETURN_RESULT(&r);
}

/*
 * category_retryable
 *		Decision (a reference defect, behaviour/execution §3.9 and behaviour/execution §B.10: the
 *		reference ignores the category): a failure of category "permanent"
 *		is never retried, and a retry_policy naming retryable_categories
 *		(an array of strings) retries only those.
 */
static bool
category_retryable(JsonbContainer *rp, const char *category)
{
	JsonbValue	buf,
			   *list = ff_jsonb_get(rp, "retryable_categories", &buf);
	JsonbValue	want;

	if (category != NULL && strcmp(category, "permanent") == 0)
		return false;
	if (list == NULL || list->type != jbvBinary || !JsonContainerIsArray(list->val.binary.data))
		return true;
	if (category == NULL)
		return false;
	want.type = jbvString;
	want.val.string.val = (char *) category;
	want.val.string.len = strlen(category);
	return findJsonbValueFromContainer(list->val.binary.data, JB_FARRAY, &want) != NULL;
}

/*
 * apply_jitter
 *		retry_policy.jitter (issue 26): "full" draws the delay uniformly from
 *		[0, d], "equal" from [d/2, d]; "none" or absent keeps d (FlowFabric's
 *		behaviour).  Spreads retries of work that failed together.
 */
static int64
apply_jitter(JsonbContainer *rp, int64 d)
{
	char	   *j = ff_jsonb_get_string(rp, "jitter");

	if (j == NULL || d <= 0)
		return d;
	if (strcmp(j, "full") == 0)
		return (int64) pg_prng_uint64_range(&pg_global_prng_state, 0, (uint64) d);
	if (strcmp(j, "equal") == 0)
		return d / 2 + (int64) pg_prng_uint64_range(&pg_global_prng_state, 0, (uint64) (d - d / 2));
	return d;
}

/*
 * retry_delay_ms
 *		The retry decision of behaviour/execution §3.9 from the stored policy's retry_policy.
 *		Returns -1 for "no retry".  Decision: a retry_policy object uses the
 *		SDK's defaults for missing fields (max_retries 3, exponential
 *		1000 ms x 2 capped at 60000); no retry_policy means no retry; the
 *		failure's category may rule a retry out (category_retryable).
 */
static int64
retry_delay_ms(Jsonb *policy, int64 retry_count, const char *category)
{
	JsonbContainer *rp,
			   *bo;
	double		max_retries = 3,
				initial = 1000,
				maxd = 60000,
				mult = 2,
				fixed = 1000,
				d;
	char	   *type;

	if (policy == NULL || !JB_ROOT_IS_OBJECT(policy) ||
		(rp = ff_jsonb_get_object(&policy->root, "retry_policy")) == NULL)
		return -1;
	ff_jsonb_get_number(rp, "max_retries", &max_retries);
	if ((double) retry_count >= max_retries || !category_retryable(rp, category))
		return -1;
	bo = ff_jsonb_get_object(rp, "backoff");
	type = bo ? ff_jsonb_get_string(bo, "type") : NULL;
	if (type == NULL || strcmp(type, "exponential") == 0)
	{
		if (bo)
		{
			ff_jsonb_get_number(bo, "initial_delay_ms", &initial);
			ff_jsonb_get_number(bo, "max_delay_ms", &maxd);
			ff_jsonb_get_number(bo, "multiplier", &mult);
		}
		d = initial * pow(mult, (double) retry_count);
		if (d > maxd)
			d = maxd;
	}
	else if (strcmp(type, "fixed") == 0)
	{
		ff_jsonb_get_number(bo, "delay_ms", &fixed);
		d = fixed;
	}
	else
		d = 1000;
	if (!(d >= 0))
		d = 0;
	if (d > 1e12)
		d = 1e12;
	return apply_jitter(rp, (int64) floor(d));
}

/*
 * ff_fail_one
 *		The fail operation (behaviour/execution §3.9) on arguments already checked; SPI
 *		connected.  The retry policy is read from the stored execution
 *		policy.  Shared by fail_execution and fail_executions.
 */
void
ff_fail_one(ExecId id, Fence *f, char *reason, const char *category, const char *source,
			int64 now, FFResult *r)
{
	ExecCore	c;

	if (ff_lease_lock_and_validate(id, f, source, now, &c, r))
	{
		int64		backoff = retry_delay_ms(ff_execution_policy(&c), c.retry_count, category);
		int64		idx = c.current_attempt_index;

		ff_attempt_end(&c, idx, "ended_failure", now, reason ? reason : "", category);
		ff_stream_close(&c, idx, "attempt_failure", now, false);
		if (backoff >= 0)
		{
			int64		delay_until = now + backoff;

			ff_lease_release(&c, "failed_retry_scheduled", NULL, now);
			ff_core_set_vector(&c, PHASE_RUNNABLE, OWN_UNOWNED, ELIG_NOT_ELIGIBLE_UNTIL_TIME,
							   BLOCK_WAITING_FOR_RETRY_BACKOFF,
							   psprintf("retry backoff until " INT64_FORMAT " (attempt " INT64_FORMAT " failed: %s)",
										delay_until, idx == FF_NULL ? 0 : idx, reason ? reason : ""),
							   OUTCOME_NONE, ATT_PENDING_RETRY_ATTEMPT);
			c.pending_retry_reason = reason;
			c.pending_previous_attempt_index = idx == FF_NULL ? 0 : idx;
			c.retry_count += 1;
			c.current_attempt_id.set = false;
			c.delay_until = delay_until;
			c.failure_reason = reason;
			c.last_transition_at = now;
			c.last_mutation_at = now;
			ff_core_store(&c);
			ffr_ok(r, "OK");
			ffr_text(r, "result", "retry_scheduled");
			ffr_int(r, "delay_until", delay_until);
		}
		else
		{
			c.failure_reason = reason;	/* make_terminal leaves it */
			end_leased_terminal(&c, "failed_terminal", OUTCOME_FAILED, "terminal_failed", now, r);
		}
	}
}

/*
 * ff.fail_execution(execution_id, lease_id, lease_epoch, attempt_id,
 *					 failure_reason, failure_category, source)
 */
Datum
ff_fail_execution(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	Fence		f = ff_fence_args(fcinfo, 1, 2, 3);
	char	   *reason = ff_arg_text_opt(fcinfo, 4);
	char	   *category = ff_arg_text_opt(fcinfo, 5);
	char	   *source = ff_arg_text_opt(fcinfo, 6);
	FFResult	r;

	ff_check_max_len(reason, 4096, "failure_reason");
	ff_check_max_len(category, 256, "failure_category");
	ff_spi_connect();
	ff_fail_one(id, &f, reason, category, source, ff_now_ms(), &r);
	FF_RETURN_RESULT(&r);
}

/*
 * ff.cancel_execution(execution_id, reason, source, lease_id, lease_epoch)
 *
 * Decisions (behaviour/execution §C.4, §C.5): cancelling an active execution needs
 * the holder's lease (id and epoch), or ff_admin with source =
 * operator_override (the default source: a non-admin presenting the lease
 * is checked against it, one presenting none gets 42501); runnable and
 * suspended executions are cancelled by any caller of the function;
 * source = flow_cascade suppresses the completion that resolves the
 * execution's dependents, so it is ff_admin's too;
 * an interrupted attempt of a runnable execution is ended as cancelled;
 * an outstanding claim grant is deleted.
 */
Datum
ff_cancel_execution(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	char	   *reason = PG_ARGISNULL(1) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *source = PG_ARGISNULL(2) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(2));
	Fence		f = ff_fence_args(fcinfo, 3, 4, -1);
	int64		now = ff_now_ms();
	bool		override = strcmp(source, FF_SOURCE_OPERATOR_OVERRIDE) == 0;
	FFResult	r;
	ExecCore	c;
	LifecyclePhase from;

	ff_check_max_len(reason, 4096, "reason");
	ff_check_max_len(source, 256, "source");
	if ((f.lease_id != NULL) != f.has_epoch)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lease_id and lease_epoch must be given together")));
	ff_spi_connect();
	if (!ff_core_lock(id, &c))
	{
		ff_result_not_found(&r);
		FF_RETURN_RESULT(&r);
	}
	from = c.lifecycle_phase;
	if (from == PHASE_TERMINAL)
	{
		ff_result_not_active(&r, &c);
		FF_RETURN_RESULT(&r);
	}
	if (strcmp(source, "flow_cascade") == 0)
		ff_require_admin("source flow_cascade");
	/* acting without the lease is ff_admin's; a non-admin's lease is checked */
	if (override && from == PHASE_ACTIVE && !ff_caller_is_admin())
	{
		if (f.lease_id == NULL)
			ff_require_admin("cancelling an active execution without its lease");
		override = false;
	}
	if (from == PHASE_ACTIVE && !override)
	{
		ff_fence_check_swapped(&c.current_lease_id, &c.current_attempt_id, f.lease_id, NULL);
		if (c.ownership_state == OWN_LEASE_REVOKED)
			ffr_error(&r, "lease_revoked");
		else if (f.lease_id == NULL)
			ffr_error(&r, "fence_required");
		else if (!c.current_lease_id.set ||
				 memcmp(c.current_lease_id.v.data, f.lease_id->data, UUID_LEN) != 0 ||
				 c.current_lease_epoch != f.lease_epoch)
			ffr_error(&r, "stale_lease");
		else
			goto do_cancel;
		FF_RETURN_RESULT(&r);
	}

do_cancel:
	ff_cancel_locked(&c, reason, source, now);
	ffr_ok(&r, "OK");
	ffr_text(&r, "result", "cancelled");
	ffr_text(&r, "cancelled_from", ff_phase_labels[from]);
	FF_RETURN_RESULT(&r);
}

/*
 * ff_cancel_locked
 *		The effects of a cancel (behaviour/execution §3.10) on a locked, non-terminal execution
 *		whose checks have passed: the attempt ends, the lease is released,
 *		an outstanding grant is deleted, the execution turns terminal and
 *		the completion is announced (except for source flow_cascade).
 *		Shared by cancel_execution, cancel_flow and sibling cancellation.
 */
void
ff_cancel_locked(ExecCore *c, const char *reason, const char *source, int64 now)
{
	LifecyclePhase from = c->lifecycle_phase;

	if (from == PHASE_ACTIVE || from == PHASE_SUSPENDED ||
		c->attempt_state == ATT_ATTEMPT_INTERRUPTED)
	{
		ff_attempt_end(c, c->current_attempt_index, "ended_cancelled", now,
					   psprintf("cancelled: %s", reason), NULL);
		ff_stream_close(c, c->current_attempt_index, "attempt_cancelled", now, false);
	}
	if (from == PHASE_ACTIVE)
		ff_lease_release(c, "cancelled", "cancelled", now);
	ff_grant_delete(c);
	/* its suspension, waitpoints (pending ones too) and conditions close */
	ff_suspension_close_all(c, "cancelled", "cancelled", false, true, FF_NULL, now);
	ff_core_make_terminal(c, OUTCOME_CANCELLED, now);
	c->cancellation_reason = pstrdup(reason);
	c->cancelled_by = source[0] ? pstrdup(source) : ff_format_exec_id(c->id.partition, &c->id.uuid);
	ff_core_store(c);
	if (strcmp(source, "flow_cascade") != 0)
		ff_completion_emit(c, OUTCOME_CANCELLED, now);
}

/*
 * park_attempt
 *		The common effects of delay and wait-children: the lease is
 *		released, the attempt is paused (not ended: the same attempt
 *		resumes later through a resumed claim) and its stream stays open.
 */
static void
park_attempt(ExecCore *c, const char *reason, EligibilityState elig,
			 BlockingReason block, const char *detail, int64 now)
{
	ff_attempt_suspend(c, c->current_attempt_index, now, reason);
	ff_lease_release(c, reason, NULL, now);
	ff_core_set_vector(c, PHASE_RUNNABLE, OWN_UNOWNED, elig, block, detail,
					   OUTCOME_NONE, ATT_ATTEMPT_INTERRUPTED);
	c->last_transition_at = now;
	c->last_mutation_at = now;
}

/*
 * ff.delay_execution(execution_id, lease_id, lease_epoch, attempt_id,
 *					  delay_until, source)
 */
Datum
ff_delay_execution(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	Fence		f = ff_fence_args(fcinfo, 1, 2, 3);
	int64		delay_until = ff_arg_int64(fcinfo, 4, "delay_until");
	char	   *source = ff_arg_text_opt(fcinfo, 5);
	int64		now = ff_now_ms();
	FFResult	r;
	ExecCore	c;

	ff_check_nonnegative(delay_until, "delay_until");
	ff_spi_connect();
	if (ff_lease_lock_and_validate(id, &f, source, now, &c, &r))
	{
		park_attempt(&c, "worker_delay", ELIG_NOT_ELIGIBLE_UNTIL_TIME, BLOCK_WAITING_FOR_DELAY,
					 psprintf("delayed until " INT64_FORMAT, delay_until), now);
		c.delay_until = delay_until;
		ff_core_store(&c);
		ffr_ok(&r, "OK");
		ffr_int(&r, "delay_until", delay_until);
	}
	FF_RETURN_RESULT(&r);
}

/*
 * ff.move_to_waiting_children(execution_id, lease_id, lease_epoch,
 *							   attempt_id, source)
 */
Datum
ff_move_to_waiting_children(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	Fence		f = ff_fence_args(fcinfo, 1, 2, 3);
	char	   *source = ff_arg_text_opt(fcinfo, 4);
	int64		now = ff_now_ms();
	FFResult	r;
	ExecCore	c;

	ff_spi_connect();
	if (ff_lease_lock_and_validate(id, &f, source, now, &c, &r))
	{
		park_attempt(&c, "waiting_children", ELIG_BLOCKED_BY_DEPENDENCIES,
					 BLOCK_WAITING_FOR_CHILDREN,
					 "waiting for child executions to complete", now);
		ff_core_store(&c);
		ffr_ok(&r, "OK");
	}
	FF_RETURN_RESULT(&r);
}

/* ff.change_priority(execution_id, new_priority) (behaviour/execution §3.16) */
Datum
ff_change_priority(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	int64		want = clamp_priority(ff_arg_int64(fcinfo, 1, "new_priority"));
	int64		now = ff_now_ms();
	FFResult	r;
	ExecCore	c;

	ff_spi_connect();
	if (!ff_core_lock(id, &c))
		ff_result_not_found(&r);
	else if (c.lifecycle_phase != PHASE_RUNNABLE || c.eligibility_state != ELIG_ELIGIBLE_NOW)
		ffr_error(&r, "execution_not_eligible");
	else
	{
		int64		old = c.priority;

		c.priority = want;
		c.last_mutation_at = now;
		ff_core_store(&c);
		ffr_ok(&r, "OK");
		ffr_int(&r, "old_priority", old);
		ffr_int(&r, "new_priority", want);
	}
	FF_RETURN_RESULT(&r);
}

static FFPlan plan_tags_merge = {
	"UPDATE ff.execution_data SET tags = tags || pg_catalog.jsonb_object($3) "
	"WHERE partition = $1 AND execution_id = $2",
	3, {INT2OID, UUIDOID, TEXTARRAYOID}
};

/*
 * ff.set_execution_tags(execution_id, VARIADIC pairs text[]) (behaviour/execution §3.23)
 *		Keys must be namespaced ("app.field"); all keys are checked before
 *		anything is written.  Allowed in any phase.
 */
Datum
ff_set_execution_tags(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	ArrayType  *pairs = PG_ARGISNULL(1) ? NULL : PG_GETARG_ARRAYTYPE_P(1);
	int64		now = ff_now_ms();
	Datum	   *elems;
	int			nelems = ff_tag_pairs(pairs, &elems);
	FFResult	r;
	ExecCore	c;

	ff_spi_connect();
	if (ff_tag_pairs_refused(nelems, &r))
		FF_RETURN_RESULT(&r);
	if (!ff_core_lock(id, &c))
	{
		ff_result_not_found(&r);
		FF_RETURN_RESULT(&r);
	}
	if (ff_tag_keys_refused(elems, nelems, &r))
		FF_RETURN_RESULT(&r);
	{
		Datum		v[3];

		v[0] = Int16GetDatum((int16) id.partition);
		v[1] = UUIDPGetDatum(&id.uuid);
		v[2] = PointerGetDatum(pairs);
		ff_plan_exec(&plan_tags_merge, v, NULL, 0);
	}
	c.last_mutation_at = now;
	ff_core_store(&c);
	ffr_ok(&r, "OK");
	ffr_int(&r, "count", nelems / 2);
	FF_RETURN_RESULT(&r);
}

/*
 * ff_expire_id (behaviour/execution §3.21)
 *		The attempt-timeout and execution-deadline scanners' per-item step
 *		(reason attempt_timeout or execution_deadline); no fencing.  An
 *		attempt timeout ends the execution (it does not retry).  Decision
 *		(behaviour/execution §C.5): a parked (interrupted) attempt of a runnable
 *		execution is ended too, as cancel does.  SPI connected; fills *r.
 */
void
ff_expire_id(ExecId id, const char *reason, int64 now, FFResult *r)
{
	ExecCore	c;
	LifecyclePhase from;
	char	   *why;

	ffr_ok(r, "OK");
	if (!ff_core_lock(id, &c))
	{
		ffr_text(r, "result", "not_found_cleaned");
		return;
	}
	from = c.lifecycle_phase;
	if (from == PHASE_TERMINAL)
	{
		ffr_text(r, "result", "already_terminal");
		return;
	}
	if (from != PHASE_RUNNABLE || c.attempt_state == ATT_ATTEMPT_INTERRUPTED)
	{
		ff_attempt_end(&c, c.current_attempt_index, "ended_failure", now, reason, NULL);
		ff_stream_close(&c, c.current_attempt_index, "expired", now, false);
	}
	why = psprintf("expired:%s", reason);
	if (from == PHASE_ACTIVE)
		ff_lease_release(&c, why, "expired", now);
	/* behaviour/suspension §C.12: everything of a suspension closes */
	ff_suspension_close_all(&c, why, why, false, true, FF_NULL, now);
	ff_core_make_terminal(&c, OUTCOME_EXPIRED, now);
	c.failure_reason = pstrdup(reason);
	ff_core_store(&c);
	ff_completion_emit(&c, OUTCOME_EXPIRED, now);
	ffr_text(r, "result", "expired");
	ffr_text(r, "previous_phase", ff_phase_labels[from]);
}

/* ff.expire_execution(execution_id, expire_reason) */
Datum
ff_expire_execution(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	char	   *reason = ff_arg_text_opt(fcinfo, 1);
	FFResult	r;

	if (reason == NULL)
		reason = "attempt_timeout";
	if (strcmp(reason, "attempt_timeout") != 0 && strcmp(reason, "execution_deadline") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expire_reason must be attempt_timeout or execution_deadline, got \"%s\"", reason)));
	ff_spi_connect();
	ff_expire_id(id, reason, ff_now_ms(), &r);
	FF_RETURN_RESULT(&r);
}

#define FF_DEFAULT_MAX_REPLAYS 10

/*
 * Replaying a skipped flow member (behaviour/flows §3.14; behaviour/flows §C.11 as
 * recommended): its impossible edges become unresolved again, its group
 * is reset from its dependency records (state pending, counters
 * recounted, sibling request cleared), and the upstreams of the reset edges
 * that already ended are announced again, so the dispatcher re-resolves
 * them at once.  Returns the number of unresolved edges.
 */
static FFPlan plan_replay_deps = {
	"WITH reset AS (UPDATE ff.dependency SET state = 'unsatisfied', last_resolved_at = NULL "
	"WHERE partition = $1 AND downstream_execution_id = $2 AND state = 'impossible' "
	"RETURNING flow_id, upstream_execution_id), "
	"counted AS (SELECT count(*) FILTER (WHERE state = 'unsatisfied') + (SELECT count(*) FROM reset) AS n "
	"FROM ff.dependency WHERE partition = $1 AND downstream_execution_id = $2), "
	"meta AS (UPDATE ff.dependency_meta SET unsatisfied_required_count = (SELECT n FROM counted), "
	"impossible_required_count = 0, last_dependency_update_at = $3 "
	"WHERE partition = $1 AND execution_id = $2), "
	"grp AS (UPDATE ff.edge_group g SET group_state = 'pending', failed = 0, skipped = 0, "
	"succeeded = (SELECT count(*) FROM ff.dependency d WHERE d.partition = $1 AND d.downstream_execution_id = $2 "
	"AND d.state = 'satisfied'), cancel_siblings_pending = false, cancel_siblings_members = NULL "
	"WHERE g.partition = $1 AND g.downstream_execution_id = $2), "
	"again AS (INSERT INTO ff.completion_event (partition, execution_id, flow_id, namespace, outcome, created_at) "
	"SELECT DISTINCT $1::smallint, u.execution_id, r.flow_id, u.namespace, u.terminal_outcome, $3 FROM reset r "
	"JOIN ff.execution u ON u.partition = $1 AND u.execution_id = r.upstream_execution_id "
	"WHERE u.lifecycle_phase = 'terminal') "
	"SELECT n FROM counted",
	3, {INT2OID, UUIDOID, INT8OID}
};

static int64
replay_skipped_member(ExecCore *c, int64 now)
{
	Datum		v[3];

	v[0] = Int16GetDatum((int16) c->id.partition);
	v[1] = UUIDPGetDatum(&c->id.uuid);
	v[2] = Int64GetDatum(now);
	ff_plan_exec(&plan_replay_deps, v, NULL, 1);
	ff_wake_engine_at_commit();
	return ff_col_int64(0, 1, 0);
}

/*
 * ff.replay_execution(execution_id) (behaviour/execution §3.22)
 *		Runs a terminal execution again: it becomes eligible with a pending
 *		replay attempt; the next claim creates attempt total_attempt_count
 *		of type replay.  The lease epoch is never reset.
 *		Decisions (behaviour/execution §C.9): the replay attempt records which attempt
 *		it replays; retry_count is reset so the replay gets the policy's
 *		retries again; the previous outcome's reasons are cleared.  The
 *		stored result stays until a new complete overwrites it.
 */
Datum
ff_replay_execution(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	char	   *requested_by = ff_arg_text_opt(fcinfo, 1);
	char	   *reason = ff_arg_text_opt(fcinfo, 2);
	int64		now = ff_now_ms();
	FFResult	r;
	ExecCore	c;

	ff_check_max_len(requested_by, FF_MAX_ID_BYTES, "requested_by");
	ff_check_max_len(reason, 4096, "reason");
	ff_spi_connect();
	if (!ff_core_lock(id, &c))
		ff_result_not_found(&r);
	else if (c.lifecycle_phase != PHASE_TERMINAL)
		ffr_error(&r, "execution_not_terminal");
	else
	{
		Jsonb	   *policy = ff_execution_policy(&c);
		double		max = FF_DEFAULT_MAX_REPLAYS;
		FFResult	detail;
		int64		unresolved = 0;
		bool		skipped_member = (c.terminal_outcome == OUTCOME_SKIPPED && c.flow_id.set);

		if (policy && JB_ROOT_IS_OBJECT(policy))
			ff_jsonb_get_number(&policy->root, "max_replay_count", &max);
		if ((double) c.replay_count >= max)
		{
			ffr_error(&r, "max_replays_exhausted");
			ffr_int(&r, "max_replay_count", (int64) max);
			FF_RETURN_RESULT(&r);
		}
		/*
		 * A held first attempt is written out while it still reads as
		 * completed: the replay clears completed_at, its end time.
		 */
		ff_attempt_materialize(&c);
		if (skipped_member)
			unresolved = replay_skipped_member(&c, now);
		if (skipped_member)
			ff_core_set_vector(&c, PHASE_RUNNABLE, OWN_UNOWNED, ELIG_BLOCKED_BY_DEPENDENCIES,
							   BLOCK_WAITING_FOR_CHILDREN,
							   psprintf(INT64_FORMAT " dep(s) unsatisfied after replay", unresolved),
							   OUTCOME_NONE, ATT_PENDING_REPLAY_ATTEMPT);
		else
			ff_core_set_vector(&c, PHASE_RUNNABLE, OWN_UNOWNED, ELIG_ELIGIBLE_NOW,
							   BLOCK_WAITING_FOR_WORKER, NULL, OUTCOME_NONE,
							   ATT_PENDING_REPLAY_ATTEMPT);
		c.replay_count += 1;
		c.retry_count = 0;
		c.pending_replay_reason = reason;
		c.pending_replay_requested_by = requested_by;
		c.pending_previous_attempt_index = c.current_attempt_index;
		c.completed_at = FF_NULL;
		c.purge_after = FF_NULL;
		c.failure_reason = NULL;
		c.cancellation_reason = NULL;
		c.cancelled_by = NULL;
		c.last_transition_at = now;
		c.last_mutation_at = now;
		ffr_begin(&detail);
		ffr_int(&detail, "replay_count", c.replay_count);
		ffr_text(&detail, "replay_type", skipped_member ? "skipped_flow_member" : "normal");
		ff_history_append(&c, "replay_initiated", reason, now, ffr_finish(&detail));
		ff_core_store(&c);
		ffr_ok(&r, "OK");
		ffr_int(&r, "unsatisfied_dependencies", unresolved);
		ffr_int(&r, "replay_count", c.replay_count);
	}
	FF_RETURN_RESULT(&r);
}
