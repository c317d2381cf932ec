/*-------------------------------------------------------------------------
 *
 * exec_stream.c
 *	  Attempt output streams (behaviour/execution §3.24-§3.27): a worker
 *	  appends frames to the stream of its running attempt; readers read
 *	  ranges, follow it live (tail) or read its summary document.
 *
 *	  - Modes: durable (kept up to retention_maxlen exactly, or about
 *	    10 000), summary (the payload is a JSON merge patch, RFC 7396,
 *	    applied to a summary document; about 64 frames kept), best_effort
 *	    (kept to K frames, K sized from an EMA of the append rate, between
 *	    maxlen_floor and maxlen_ceiling; a stream that never had a durable
 *	    frame expires 2 x ttl_ms after its last append).
 *	  - Entry ids are "<ms>-<seq>", strictly increasing per stream even if
 *	    the clock steps back: ms = max(now, last ms), seq counts within ms.
 *	  - The stream's meta row is its serialization point.  An append locks
 *	    it (never the execution row); every transition that ends an attempt
 *	    closes it under the same lock, so no frame lands after a close.
 *	    The lease is checked from the execution row as committed; an
 *	    expired lease is refused but not marked (behaviour/execution §3.24 check 4).
 *	  - Tailing blocks on the session's latch: the reader registers the
 *	    stream in shared memory and the writer's commit sets its latch
 *	    (bgw_shmem.c).  Without the preloaded library it re-checks every
 *	    100 ms instead.  No row lock is held while waiting.
 *
 * IDENTIFICATION
 *	  src/exec_stream.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/wait_event.h"

#include "core_clock.h"
#include "exec_core.h"
#include "ff_engine.h"
#include "exec_lease.h"
#include "core_spi.h"
#include "core_tenant.h"
#include "core_validate.h"
#include "bgw.h"

PG_FUNCTION_INFO_V1(ff_append_frame);
PG_FUNCTION_INFO_V1(ff_read_attempt_stream);
PG_FUNCTION_INFO_V1(ff_tail_attempt_stream);
PG_FUNCTION_INFO_V1(ff_read_summary);

#define FF_DEFAULT_DURABLE_MAXLEN	10000
#define FF_SUMMARY_MAXLEN			64
#define FF_TRIM_SLACK				64	/* approximate trims delete in bulk */
#define FF_MERGE_MAX_DEPTH			16
#define FF_SENTINEL_MAX_DEPTH		32
#define FF_NULL_SENTINEL			"__ff_null__"
#define FF_MAX_READ_COUNT			10000
#define FF_MAX_TAIL_BLOCK_MS		30000

typedef enum StreamMode
{
	MODE_DURABLE, MODE_SUMMARY, MODE_BEST_EFFORT
} StreamMode;

static const char *const mode_labels[] = {"durable", "summary", "best_effort", NULL};

/* ---- JSON merge patch (RFC 7396) ---- */

/*
 * patch_too_deep
 *		Whether objects nest along object members (what a merge recurses
 *		into) deeper than left levels below obj.  Each container is visited
 *		at most once and the walk stops at the bound, so a hostile patch
 *		costs at most its size (the text was already bounded in nesting).
 */
static bool
patch_too_deep(JsonbContainer *obj, int left)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (left <= 0)
		return true;
	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	it = JsonbIteratorInit(obj);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_VALUE && v.type == jbvBinary && JsonContainerIsObject(v.val.binary.data) &&
			patch_too_deep(v.val.binary.data, left - 1))
			return true;
	return false;
}

/*
 * push_merged
 *		Pushes MergePatch(target, patch) as an object: members of the
 *		target not named by the patch are kept, null members delete,
 *		object members merge recursively (into {} when the target's value
 *		is not an object: RFC 7396, also for an empty object), anything
 *		else replaces.
 */
static JsonbValue *
push_merged(JsonbParseState **st, JsonbContainer *target, JsonbContainer *patch)
{
	JsonbIterator *it;
	JsonbValue	k,
				v,
				buf;
	JsonbIteratorToken tok;

	pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
	if (target != NULL)
	{
		it = JsonbIteratorInit(target);
		while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
		{
			if (tok != WJB_KEY)
				continue;
			tok = JsonbIteratorNext(&it, &v, true);
			if (getKeyJsonValueFromContainer(patch, k.val.string.val, k.val.string.len, &buf) != NULL)
				continue;		/* the patch decides this member */
			pushJsonbValue(st, WJB_KEY, &k);
			pushJsonbValue(st, WJB_VALUE, &v);
		}
	}
	it = JsonbIteratorInit(patch);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		if (tok != WJB_KEY)
			continue;
		tok = JsonbIteratorNext(&it, &v, true);
		if (v.type == jbvNull)
			continue;
		pushJsonbValue(st, WJB_KEY, &k);
		if (v.type == jbvBinary && JsonContainerIsObject(v.val.binary.data))
		{
			JsonbValue *tv = target ? getKeyJsonValueFromContainer(target, k.val.string.val,
																   k.val.string.len, &buf) : NULL;
			JsonbContainer *tc = (tv && tv->type == jbvBinary &&
								  JsonContainerIsObject(tv->val.binary.data)) ? tv->val.binary.data : NULL;

			push_merged(st, tc, v.val.binary.data);
		}
		else
			pushJsonbValue(st, WJB_VALUE, &v);
	}
	return pushJsonbValue(st, WJB_END_OBJECT, NULL);
}

/*
 * replace_sentinel
 *		Every string leaf equal to "__ff_null__" (arrays included, to depth
 *		32) becomes JSON null: how a caller sets a real null, since null
 *		in a merge patch deletes.
 */
static Jsonb *
replace_sentinel(Jsonb *doc)
{
	JsonbIterator *it = JsonbIteratorInit(&doc->root);
	JsonbParseState *st = NULL;
	JsonbValue	v,
			   *res = NULL;
	JsonbIteratorToken tok;
	int			depth = 0;
	uint32		steps = 0;
	Size		slen = strlen(FF_NULL_SENTINEL);

	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if ((++steps & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		switch (tok)
		{
			case WJB_BEGIN_OBJECT:
				depth++;
				res = pushJsonbValue(&st, tok, NULL);
				break;
			case WJB_BEGIN_ARRAY:
				depth++;
				res = pushJsonbValue(&st, tok, &v);
				break;
			case WJB_END_OBJECT:
			case WJB_END_ARRAY:
				depth--;
				res = pushJsonbValue(&st, tok, NULL);
				break;
			default:
				if ((tok == WJB_VALUE || tok == WJB_ELEM) && v.type == jbvString &&
					depth <= FF_SENTINEL_MAX_DEPTH && (Size) v.val.string.len == slen &&
					memcmp(v.val.string.val, FF_NULL_SENTINEL, slen) == 0)
					v.type = jbvNull;
				res = pushJsonbValue(&st, tok, &v);
				break;
		}
	}
	return JsonbValueToJsonb(res);
}

/*
 * The merged summary document.  It is a caller's document that is stored,
 * so it is bounded by ff_engine.max_json_bytes like any other (54000):
 * without the bound, patches adding keys would grow it, and the cost of
 * every later append with it, without end.
 */
static Jsonb *
merge_patch(Jsonb *doc, Jsonb *patch)
{
	JsonbParseState *st = NULL;
	Jsonb	   *merged;

	merged = replace_sentinel(JsonbValueToJsonb(push_merged(&st, doc ? &doc->root : NULL, &patch->root)));
	if (VARSIZE(merged) - VARHDRSZ > (Size) ff_max_json_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the summary document would be %zu bytes, more than ff_engine.max_json_bytes (%d)",
						(Size) (VARSIZE(merged) - VARHDRSZ), ff_max_json_bytes)));
	return merged;
}

/* ---- append ---- */

static FFPlan plan_lease_view = {
	"SELECT lifecycle_phase::text, ownership_state::text, lease_expires_at, current_attempt_index, "
	"current_lease_id, current_lease_epoch, current_attempt_id FROM ff.execution "
	"WHERE partition = $1 AND execution_id = $2",
	2, {INT2OID, UUIDOID}
};
static FFPlan plan_meta_lock = {
	"SELECT closed_at, last_ts, last_seq, retained_count, has_durable_frame, ema_rate_hz, "
	"last_append_ts_ms, frames_expire_at FROM ff.stream_meta "
	"WHERE partition = $1 AND execution_id = $2 AND attempt_index = $3 FOR UPDATE",
	3, {INT2OID, UUIDOID, INT4OID}
};
static FFPlan plan_meta_create = {
	"INSERT INTO ff.stream_meta (partition, execution_id, attempt_index, attempt_id, created_at, retention_maxlen) "
	"VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
	6, {INT2OID, UUIDOID, INT4OID, UUIDOID, INT8OID, INT4OID}
};
static FFPlan plan_summary_get = {
	"SELECT document, version FROM ff.stream_summary "
	"WHERE partition = $1 AND execution_id = $2 AND attempt_index = $3",
	3, {INT2OID, UUIDOID, INT4OID}
};
static FFPlan plan_summary_put = {
	"INSERT INTO ff.stream_summary AS s (partition, execution_id, attempt_index, document, version, "
	"patch_kind, first_applied_ms, last_updated_ms) VALUES ($1, $2, $3, $4, $5, 'json-merge-patch', $6, $6) "
	"ON CONFLICT (partition, execution_id, attempt_index) DO UPDATE SET document = EXCLUDED.document, "
	"version = EXCLUDED.version, last_updated_ms = EXCLUDED.last_updated_ms",
	6, {INT2OID, UUIDOID, INT4OID, JSONBOID, INT8OID, INT8OID}
};
static FFPlan plan_frame_insert = {
	"INSERT INTO ff.stream_frame (partition, execution_id, attempt_index, ts, seq, frame_type, frame_ts, "
	"payload, encoding, source, mode, correlation_id, summary_version, ttl_ms) "
	"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
	14, {INT2OID, UUIDOID, INT4OID, INT8OID, INT4OID, TEXTOID, INT8OID, BYTEAOID, TEXTOID,
	TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID}
};
static FFPlan plan_frame_trim = {
	"DELETE FROM ff.stream_frame f USING (SELECT ts, seq FROM ff.stream_frame "
	"WHERE partition = $1 AND execution_id = $2 AND attempt_index = $3 ORDER BY ts, seq LIMIT $4) old "
	"WHERE f.partition = $1 AND f.execution_id = $2 AND f.attempt_index = $3 AND f.ts = old.ts AND f.seq = old.seq",
	4, {INT2OID, UUIDOID, INT4OID, INT8OID}
};
static FFPlan plan_meta_update = {
	"UPDATE ff.stream_meta SET last_ts = $4, last_seq = $5, frame_count = frame_count + 1, "
	"retained_count = $6, total_bytes = total_bytes + $7, last_frame_at = $8, has_durable_frame = $9, "
	"ema_rate_hz = coalesce($10, ema_rate_hz), last_append_ts_ms = coalesce($11, last_append_ts_ms), "
	"maxlen_applied_last = coalesce($12, maxlen_applied_last), frames_expire_at = $13, "
	"retention_maxlen = $14 WHERE partition = $1 AND execution_id = $2 AND attempt_index = $3 "
	"RETURNING frame_count",
	14, {INT2OID, UUIDOID, INT4OID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, BOOLOID,
	FLOAT8OID, INT8OID, INT4OID, INT8OID, INT4OID}
};

/* The stream's frames beyond the newest keep are deleted; returns how many. */
static int64
trim_to(Datum *key, int64 retained, int64 keep)
{
	Datum		v[4];

	if (retained <= keep)
		return 0;
	v[0] = key[0];
	v[1] = key[1];
	v[2] = key[2];
	v[3] = Int64GetDatum(retained - keep);
	return (int64) ff_plan_exec(&plan_frame_trim, v, NULL, 0);
}

static inline void
invalid_input(FFResult *r, const char *detail)
{
	ffr_error_detail(r, "invalid_input", detail);
}

/*
 * ff.append_frame(execution_id, attempt_index, lease_id, lease_epoch,
 *		frame_type, payload, ts, encoding, correlation_id, source,
 *		retention_maxlen, attempt_id, max_payload_bytes, stream_mode,
 *		patch_kind, ttl_ms, maxlen_floor, maxlen_ceiling, ema_alpha)
 *
 * Bad input (oversize payload, unknown mode, a patch that is not a JSON
 * object, too deep) is refused before anything is written.  The payload
 * limit is ff_engine.max_frame_bytes, and the retention caps
 * (retention_maxlen, maxlen_ceiling) ff_engine.max_stream_frames: the
 * arguments may only lower them.  The lease is checked (a cheap read)
 * before a summary patch is parsed, so only the lease holder makes the
 * server read one (behaviour/execution §3.24 puts the lease checks first too).
 */
Datum
ff_append_frame(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	int64		attempt_index = ff_arg_int32(fcinfo, 1, "attempt_index");
	pg_uuid_t  *lease_id = ff_arg_uuid_opt(fcinfo, 2);
	int64		lease_epoch = ff_arg_int64(fcinfo, 3, "lease_epoch");
	char	   *frame_type = ff_arg_text(fcinfo, 4, "frame_type");
	bytea	   *payload;
	int64		frame_ts;
	char	   *encoding = PG_ARGISNULL(7) ? "utf8" : text_to_cstring(PG_GETARG_TEXT_PP(7));
	char	   *correlation_id = ff_arg_text_opt(fcinfo, 8);
	char	   *source = PG_ARGISNULL(9) ? "worker" : text_to_cstring(PG_GETARG_TEXT_PP(9));
	int64		retention_maxlen = PG_ARGISNULL(10) ? 0 : PG_GETARG_INT32(10);
	pg_uuid_t  *attempt_id = ff_arg_uuid_opt(fcinfo, 11);
	int64		max_payload = PG_ARGISNULL(12) ? ff_max_frame_bytes : PG_GETARG_INT32(12);
	char	   *mode_text = ff_arg_text_opt(fcinfo, 13);
	char	   *patch_kind = ff_arg_text_opt(fcinfo, 14);
	int64		ttl_ms = PG_ARGISNULL(15) ? 0 : PG_GETARG_INT64(15);
	int64		floor_k = PG_ARGISNULL(16) ? 0 : PG_GETARG_INT32(16);
	int64		ceiling_k = PG_ARGISNULL(17) ? 0 : PG_GETARG_INT32(17);
	double		alpha = PG_ARGISNULL(18) ? 0 : PG_GETARG_FLOAT8(18);
	int64		now = ff_now_ms();
	StreamMode	mode = MODE_DURABLE;
	Jsonb	   *patch = NULL;
	Size		len;
	FFResult	r;
	Datum		key[3];
	bool		isnull;

	if (lease_id == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("lease_id must not be NULL")));
	if (PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("payload must not be NULL")));
	payload = PG_GETARG_BYTEA_PP(5);
	frame_ts = PG_ARGISNULL(6) ? now : PG_GETARG_INT64(6);
	ff_check_max_len(frame_type, 256, "frame_type");
	ff_check_max_len(encoding, 64, "encoding");
	ff_check_max_len(source, 256, "source");
	ff_check_max_len(correlation_id, 256, "correlation_id");
	ff_check_nonnegative(attempt_index, "attempt_index");
	ff_check_nonnegative(retention_maxlen, "retention_maxlen");
	ff_check_nonnegative(max_payload, "max_payload_bytes");
	ff_check_nonnegative(ttl_ms, "ttl_ms");
	len = VARSIZE_ANY_EXHDR(payload);
	/* the caller may ask for less than the settings, never for more */
	max_payload = Min(max_payload, ff_max_frame_bytes);
	if (retention_maxlen > ff_max_stream_frames)
		retention_maxlen = ff_max_stream_frames;

	ff_spi_connect();
	/* 1. size first, before reading anything */
	if ((int64) len > max_payload)
	{
		ffr_error(&r, "retention_limit_exceeded");
		ffr_text(&r, "detail", psprintf("payload is %zu bytes, the limit is " INT64_FORMAT, len, max_payload));
		FF_RETURN_RESULT(&r);
	}
	/* mode: refused before any write (behaviour/execution §C.15) */
	if (mode_text != NULL)
	{
		int			m = ff_label_lookup(mode_labels, mode_text);

		if (m < 0)
		{
			invalid_input(&r, psprintf("unknown stream_mode \"%s\"", mode_text));
			FF_RETURN_RESULT(&r);
		}
		mode = (StreamMode) m;
	}

	/* 2-6. the lease, as committed (no lock, no marking) */
	key[0] = Int16GetDatum((int16) id.partition);
	key[1] = UUIDPGetDatum(&id.uuid);
	key[2] = Int32GetDatum((int32) attempt_index);
	{
		char	   *phase,
				   *own;
		int64		expires,
					cur_idx,
					cur_epoch;
		Datum		cur_lease;

		/* another tenant's execution is as unknown as a missing one */
		if (!ff_execution_visible(id) ||
			ff_plan_exec(&plan_lease_view, key, NULL, 1) == 0 ||
			strcmp(phase = ff_col_text(0, 1), "active") != 0)
		{
			ffr_error(&r, "stream_closed");
			FF_RETURN_RESULT(&r);
		}
		own = ff_col_text(0, 2);
		expires = ff_col_int64(0, 3, 0);
		cur_idx = ff_col_int64(0, 4, -1);
		cur_lease = ff_col_datum(0, 5, &isnull);
		cur_epoch = ff_col_int64(0, 6, -1);
		{
			UuidOpt		l = {!isnull},
						a = {false};
			bool		anull;
			Datum		att = ff_col_datum(0, 7, &anull);

			if (!isnull)
				l.v = *DatumGetUUIDP(cur_lease);
			if ((a.set = !anull))
				a.v = *DatumGetUUIDP(att);
			ff_fence_check_swapped(&l, &a, lease_id, attempt_id);
		}
		if (strcmp(own, "leased") != 0 || expires <= now || cur_idx != attempt_index ||
			isnull || memcmp(DatumGetUUIDP(cur_lease)->data, lease_id->data, UUID_LEN) != 0 ||
			cur_epoch != lease_epoch)
		{
			ffr_error(&r, "stale_owner_cannot_append");
			FF_RETURN_RESULT(&r);
		}
	}

	/*
	 * 9. the summary patch, before any write (behaviour/execution §C.15).  Its nesting
	 * is bounded on the text, before the parse, so a deep one costs one
	 * pass over its bytes.
	 */
	if (mode == MODE_SUMMARY)
	{
		char	   *text = pnstrdup(VARDATA_ANY(payload), len);

		if (patch_kind != NULL && strcmp(patch_kind, "json-merge-patch") != 0)
		{
			invalid_input(&r, "unsupported patch_kind");
			FF_RETURN_RESULT(&r);
		}
		if (ff_json_text_too_deep(VARDATA_ANY(payload), len, ff_max_json_depth))
		{
			invalid_input(&r, "patch_depth_exceeded");
			FF_RETURN_RESULT(&r);
		}
		if (strlen(text) != len || !pg_verifymbstr(text, len, true) || !ff_json_text_valid(text))
		{
			invalid_input(&r, "patch payload is not valid JSON");
			FF_RETURN_RESULT(&r);
		}
		patch = ff_jsonb_from_text(text);
		if (!JB_ROOT_IS_OBJECT(patch))
		{
			invalid_input(&r, "patch must be a JSON object");
			FF_RETURN_RESULT(&r);
		}
		if (patch_too_deep(&patch->root, FF_MERGE_MAX_DEPTH))
		{
			invalid_input(&r, "patch_depth_exceeded");
			FF_RETURN_RESULT(&r);
		}
	}

	/* 7-8. the meta row, created on the first append, locked */
	if (ff_plan_exec(&plan_meta_lock, key, NULL, 1) == 0)
	{
		Datum		v[6];
		bool		n[6] = {false};

		v[0] = key[0];
		v[1] = key[1];
		v[2] = key[2];
		v[3] = attempt_id ? UUIDPGetDatum(attempt_id) : (Datum) 0;
		n[3] = (attempt_id == NULL);
		v[4] = Int64GetDatum(now);
		v[5] = Int32GetDatum((int32) retention_maxlen);
		ff_plan_exec(&plan_meta_create, v, n, 0);
		if (ff_plan_exec(&plan_meta_lock, key, NULL, 1) == 0)
			elog(ERROR, "stream meta row vanished");
	}
	if (!ff_col_isnull(0, 1))
	{
		ffr_error(&r, "stream_closed");
		FF_RETURN_RESULT(&r);
	}
	{
		int64		last_ts = ff_col_int64(0, 2, 0);
		int64		last_seq = ff_col_int64(0, 3, -1);
		int64		retained = ff_col_int64(0, 4, 0);
		bool		has_durable = ff_col_bool(0, 5);
		bool		rate_null;
		double		rate = DatumGetFloat8(ff_col_datum(0, 6, &rate_null));
		int64		last_append = ff_col_int64(0, 7, FF_NULL);
		int64		expire_at = ff_col_int64(0, 8, FF_NULL);
		int64		ts,
					seq,
					keep,
					summary_version = FF_NULL,
					frame_count;
		int32		applied_k = 0;
		Datum		v[14];
		bool		n[14] = {false};

		/* a best-effort stream that expired: its frames are gone */
		if (expire_at != FF_NULL && expire_at <= now)
			retained -= trim_to(key, retained, 0);

		/* entry id, monotonic even if the clock steps back */
		ts = Max(now, last_ts);
		seq = (ts == last_ts) ? last_seq + 1 : 0;

		/* summary: apply the patch */
		if (mode == MODE_SUMMARY)
		{
			Jsonb	   *doc = NULL;
			int64		version = 0;

			if (ff_plan_exec(&plan_summary_get, key, NULL, 1) == 1)
			{
				doc = DatumGetJsonbP(ff_col_datum(0, 1, &isnull));
				version = ff_col_int64(0, 2, 0);
				if (!JB_ROOT_IS_OBJECT(doc))
				{
					ffr_error(&r, "corruption");
					ffr_text(&r, "detail", "stored summary document is not a JSON object");
					FF_RETURN_RESULT(&r);
				}
			}
			summary_version = version + 1;
			v[0] = key[0];
			v[1] = key[1];
			v[2] = key[2];
			v[3] = JsonbPGetDatum(merge_patch(doc, patch));
			v[4] = Int64GetDatum(summary_version);
			v[5] = Int64GetDatum(now);
			ff_plan_exec(&plan_summary_put, v, NULL, 0);
		}

		/* the frame */
		v[0] = key[0];
		v[1] = key[1];
		v[2] = key[2];
		v[3] = Int64GetDatum(ts);
		v[4] = Int32GetDatum((int32) seq);
		v[5] = CStringGetTextDatum(frame_type);
		v[6] = Int64GetDatum(frame_ts);
		v[7] = PointerGetDatum(payload);
		v[8] = CStringGetTextDatum(encoding);
		v[9] = CStringGetTextDatum(source);
		v[10] = CStringGetTextDatum(mode_labels[mode]);
		v[11] = correlation_id ? CStringGetTextDatum(correlation_id) : (Datum) 0;
		n[11] = (correlation_id == NULL);
		v[12] = Int64GetDatum(summary_version);
		n[12] = (summary_version == FF_NULL);
		v[13] = Int64GetDatum(ttl_ms);
		n[13] = !(mode == MODE_BEST_EFFORT && ttl_ms > 0);
		ff_plan_exec(&plan_frame_insert, v, n, 0);
		retained++;

		/* retention */
		if (mode == MODE_BEST_EFFORT)
		{
			double		a = (alpha <= 0 || alpha > 1) ? 0.2 : alpha;
			double		ttl_s = (double) Max(ttl_ms, 1) / 1000.0;
			int64		lo = Min(floor_k <= 0 ? 64 : floor_k, ff_max_stream_frames);
			int64		hi = Min(ceiling_k <= 0 ? 16384 : Max(ceiling_k, lo), ff_max_stream_frames);

			if (last_append == FF_NULL || rate_null)
				rate = (double) lo / (2.0 * ttl_s);
			else
			{
				int64		dt = now - last_append;

				rate = a * (1000.0 / (double) (dt <= 0 ? 1 : dt)) + (1.0 - a) * rate;
			}
			keep = (int64) ceil(rate * ttl_s * 2.0);
			keep = Min(Max(keep, lo), hi);
			applied_k = (int32) keep;
			last_append = now;
			/* approximately: trim in bulk once past K by a slack */
			if (retained > keep + Min(FF_TRIM_SLACK, keep / 4))
				retained -= trim_to(key, retained, keep);
			if (!has_durable && ttl_ms > 0)
				expire_at = now + 2 * ttl_ms;
		}
		else
		{
			has_durable = true;
			expire_at = FF_NULL;	/* a durable frame ends the expiry for good */
			if (mode == MODE_SUMMARY)
			{
				if (retained > FF_SUMMARY_MAXLEN + FF_TRIM_SLACK / 4)
					retained -= trim_to(key, retained, FF_SUMMARY_MAXLEN);
			}
			else if (retention_maxlen > 0)
				retained -= trim_to(key, retained, retention_maxlen);	/* exact */
			else if (retained > Min(FF_DEFAULT_DURABLE_MAXLEN, ff_max_stream_frames) + FF_TRIM_SLACK)
				retained -= trim_to(key, retained, Min(FF_DEFAULT_DURABLE_MAXLEN, ff_max_stream_frames));
		}

		/* meta */
		memset(n, 0, sizeof(n));
		v[0] = key[0];
		v[1] = key[1];
		v[2] = key[2];
		v[3] = Int64GetDatum(ts);
		v[4] = Int64GetDatum(seq);
		v[5] = Int64GetDatum(retained);
		v[6] = Int64GetDatum((int64) len);
		v[7] = Int64GetDatum(now);
		v[8] = BoolGetDatum(has_durable);
		v[9] = Float8GetDatum(rate);
		n[9] = (mode != MODE_BEST_EFFORT);
		v[10] = Int64GetDatum(last_append);
		n[10] = (mode != MODE_BEST_EFFORT);
		v[11] = Int32GetDatum(applied_k);
		n[11] = (mode != MODE_BEST_EFFORT);
		v[12] = Int64GetDatum(expire_at);
		n[12] = (expire_at == FF_NULL);
		v[13] = Int32GetDatum((int32) retention_maxlen);
		ff_plan_exec(&plan_meta_update, v, n, 1);
		frame_count = ff_col_int64(0, 1, 0);

		/* tailers of this stream wake when we commit */
		{
			StreamKey	sk;

			sk.dboid = MyDatabaseId;
			sk.partition = id.partition;
			sk.uuid = id.uuid;
			sk.attempt_index = (int) attempt_index;
			ff_stream_wake_at_commit(&sk);
		}

		ffr_ok(&r, "OK");
		ffr_text(&r, "entry_id", psprintf(INT64_FORMAT "-" INT64_FORMAT, ts, seq));
		ffr_int(&r, "frame_count", frame_count);
		ffr_int_or_null(&r, "summary_version", summary_version, summary_version == FF_NULL);
	}
	FF_RETURN_RESULT(&r);
}

/* ---- reading ---- */

/*
 * The entries of a range, as a jsonb array, and the close markers.  The
 * payload is text for utf8 frames and base64 otherwise.  A best-effort
 * stream past its expiry has no entries.  $4..$7 bound (ts, seq); $8 is the
 * count; $9 drops best-effort frames after the limit (the reference's
 * order, so fewer than the count may return).
 */
static FFPlan plan_read = {
	"SELECT coalesce((SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object("
	"'id', f.ts || '-' || f.seq, 'frame_type', f.frame_type, 'ts', f.frame_ts, "
	"'payload', CASE WHEN f.encoding = 'utf8' THEN convert_from(f.payload, 'UTF8') "
	"ELSE encode(f.payload, 'base64') END, 'encoding', f.encoding, 'source', f.source, 'mode', f.mode, "
	"'correlation_id', f.correlation_id, 'summary_version', f.summary_version, 'ttl_ms', f.ttl_ms)) "
	"ORDER BY f.ts, f.seq) FROM (SELECT * FROM ff.stream_frame f0 "
	"WHERE f0.partition = $1 AND f0.execution_id = $2 AND f0.attempt_index = $3 "
	"AND (f0.ts, f0.seq) >= ($4, $5) AND (f0.ts, f0.seq) <= ($6, $7) "
	"AND NOT EXISTS (SELECT 1 FROM ff.stream_meta m WHERE m.partition = $1 AND m.execution_id = $2 "
	"AND m.attempt_index = $3 AND m.frames_expire_at <= $10) "
	"ORDER BY f0.ts, f0.seq LIMIT $8) f WHERE NOT ($9 AND f.mode = 'best_effort')), '[]'::jsonb), "
	"(SELECT closed_at FROM ff.stream_meta m WHERE m.partition = $1 AND m.execution_id = $2 AND m.attempt_index = $3), "
	"(SELECT closed_reason FROM ff.stream_meta m WHERE m.partition = $1 AND m.execution_id = $2 AND m.attempt_index = $3)",
	10, {INT2OID, UUIDOID, INT4OID, INT8OID, INT8OID, INT8OID, INT8OID, INT4OID, BOOLOID, INT8OID}
};

/* Parses "<ms>" or "<ms>-<seq>" (digits only). */
static bool
parse_entry_id(const char *s, int64 *ts, int64 *seq, bool *has_seq)
{
	char	   *end;
	long long	a,
				b = 0;

	if (!isdigit((unsigned char) s[0]))
		return false;
	errno = 0;
	a = strtoll(s, &end, 10);
	if (errno != 0)
		return false;
	*has_seq = false;
	if (*end == '-')
	{
		if (!isdigit((unsigned char) end[1]))
			return false;
		b = strtoll(end + 1, &end, 10);
		if (errno != 0 || b > PG_INT32_MAX)
			return false;
		*has_seq = true;
	}
	if (*end != '\0')
		return false;
	*ts = a;
	*seq = b;
	return true;
}

typedef struct ReadRequest
{
	ExecId		id;
	int64		attempt_index;
	int64		from_ts,
				from_seq,
				to_ts,
				to_seq;
	int			count;
	bool		exclude_best_effort;
} ReadRequest;

/* Validates count and visibility; NULL or the invalid_input detail. */
static const char *
read_options(FunctionCallInfo fcinfo, int count_arg, int vis_arg, ReadRequest *req)
{
	int64		count = PG_ARGISNULL(count_arg) ? 0 : PG_GETARG_INT32(count_arg);
	char	   *vis = ff_arg_text_opt(fcinfo, vis_arg);

	if (count < 1)
		return "count_limit must be >= 1";
	if (count > FF_MAX_READ_COUNT)
		return "count_limit_exceeds_hard_cap";
	req->count = (int) count;
	if (vis != NULL && strcmp(vis, "all") != 0 && strcmp(vis, "exclude_best_effort") != 0)
		return "visibility must be all or exclude_best_effort";
	req->exclude_best_effort = vis != NULL && strcmp(vis, "exclude_best_effort") == 0;
	return NULL;
}

/*
 * The arguments both reads share (execution_id, attempt_index, count_limit,
 * visibility at 0, 1, 4, 5), SPI connected; false with the invalid_input
 * envelope in *r.
 */
static bool
read_request_args(FunctionCallInfo fcinfo, ReadRequest *req, FFResult *r)
{
	const char *bad;

	req->id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	req->attempt_index = ff_arg_int32(fcinfo, 1, "attempt_index");
	ff_spi_connect();
	if ((bad = read_options(fcinfo, 4, 5, req)) != NULL)
	{
		invalid_input(r, bad);
		return false;
	}
	return true;
}

/* Runs the read; the result envelope is built in *r. */
static int
run_read(ReadRequest *req, int64 now, FFResult *r)
{
	Datum		v[10];
	bool		isnull;
	Jsonb	   *entries;
	int			n;

	if (!ff_execution_visible(req->id))
	{
		/* another tenant's stream reads as one that does not exist */
		ffr_ok(r, "OK");
		ffr_jsonb(r, "entries", ff_jsonb_from_text("[]"));
		ffr_int_or_null(r, "closed_at", 0, true);
		ffr_text(r, "closed_reason", NULL);
		return 0;
	}
	v[0] = Int16GetDatum((int16) req->id.partition);
	v[1] = UUIDPGetDatum(&req->id.uuid);
	v[2] = Int32GetDatum((int32) req->attempt_index);
	v[3] = Int64GetDatum(req->from_ts);
	v[4] = Int64GetDatum(req->from_seq);
	v[5] = Int64GetDatum(req->to_ts);
	v[6] = Int64GetDatum(req->to_seq);
	v[7] = Int32GetDatum(req->count);
	v[8] = BoolGetDatum(req->exclude_best_effort);
	v[9] = Int64GetDatum(now);
	ff_plan_exec(&plan_read, v, NULL, 1);
	entries = DatumGetJsonbP(ff_col_datum(0, 1, &isnull));
	n = JB_ROOT_COUNT(entries);
	ffr_ok(r, "OK");
	ffr_jsonb(r, "entries", entries);
	ffr_int_or_null(r, "closed_at", ff_col_int64(0, 2, 0), ff_col_isnull(0, 2));
	ffr_text(r, "closed_reason", ff_col_text(0, 3));
	return n;
}

/*
 * ff.read_attempt_stream(execution_id, attempt_index, from_id, to_id,
 *		count_limit, visibility) (behaviour/execution §3.25)
 *		from/to: 'start', 'end', '<ms>' or '<ms>-<seq>', inclusive; a bare
 *		<ms> means <ms>-0 as a lower bound and <ms>-max as an upper one.
 */
Datum
ff_read_attempt_stream(PG_FUNCTION_ARGS)
{
	ReadRequest req;
	char	   *from = PG_ARGISNULL(2) ? "start" : text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *to = PG_ARGISNULL(3) ? "end" : text_to_cstring(PG_GETARG_TEXT_PP(3));
	bool		has_seq;
	FFResult	r;

	if (!read_request_args(fcinfo, &req, &r))
		FF_RETURN_RESULT(&r);
	if (strcmp(from, "start") == 0)
		req.from_ts = req.from_seq = 0;
	else if (!parse_entry_id(from, &req.from_ts, &req.from_seq, &has_seq))
	{
		invalid_input(&r, "from_id must be start, <ms> or <ms>-<seq>");
		FF_RETURN_RESULT(&r);
	}
	if (strcmp(to, "end") == 0)
	{
		req.to_ts = PG_INT64_MAX;
		req.to_seq = PG_INT32_MAX;
	}
	else if (!parse_entry_id(to, &req.to_ts, &req.to_seq, &has_seq))
	{
		invalid_input(&r, "to_id must be end, <ms> or <ms>-<seq>");
		FF_RETURN_RESULT(&r);
	}
	else if (!has_seq)
		req.to_seq = PG_INT32_MAX;
	run_read(&req, ff_now_ms(), &r);
	FF_RETURN_RESULT(&r);
}

/*
 * ff.tail_attempt_stream(execution_id, attempt_index, after, block_ms,
 *		count_limit, visibility) (behaviour/execution §3.26)
 *		Entries after the exclusive cursor "after" ('0-0' = from the start);
 *		when there are none and block_ms > 0, waits up to block_ms (at most
 *		30 000) for the next commit that appends to this stream, then
 *		returns what there is (possibly nothing).  A closed stream returns
 *		at once.  Call it in READ COMMITTED (each look takes a new
 *		snapshot).
 */
Datum
ff_tail_attempt_stream(PG_FUNCTION_ARGS)
{
	ReadRequest req;
	char	   *after = ff_arg_text(fcinfo, 2, "after");
	int64		block_ms = PG_ARGISNULL(3) ? 0 : PG_GETARG_INT32(3);
	bool		has_seq;
	FFResult	r;
	int64		deadline;
	StreamKey	sk;
	volatile int slot = -1;

	if (!read_request_args(fcinfo, &req, &r))
		FF_RETURN_RESULT(&r);
	if (block_ms < 0 || block_ms > FF_MAX_TAIL_BLOCK_MS)
	{
		invalid_input(&r, "block_ms must be between 0 and 30000");
		FF_RETURN_RESULT(&r);
	}
	if (!parse_entry_id(after, &req.from_ts, &req.from_seq, &has_seq))
	{
		invalid_input(&r, "after must be a concrete cursor <ms>-<seq> (0-0 for the start)");
		FF_RETURN_RESULT(&r);
	}
	/* exclusive: the next id after (ts, seq) */
	req.from_seq += 1;
	req.to_ts = PG_INT64_MAX;
	req.to_seq = PG_INT32_MAX;

	sk.dboid = MyDatabaseId;
	sk.partition = req.id.partition;
	sk.uuid = req.id.uuid;
	sk.attempt_index = (int) req.attempt_index;
	deadline = ff_now_ms() + block_ms;

	PG_TRY();
	{
		for (;;)
		{
			int64		left;

			if (run_read(&req, ff_now_ms(), &r) > 0 || block_ms == 0 || !ff_col_isnull(0, 2))
				break;
			left = deadline - ff_now_ms();
			if (left <= 0)
				break;
			if (slot < 0)
			{
				/* registered before the next look, so no commit is missed */
				slot = ff_stream_waiter_register(&sk);
				continue;
			}
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 slot >= 0 ? left : Min(left, 100), PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_FINALLY();
	{
		ff_stream_waiter_unregister(slot);
	}
	PG_END_TRY();
	FF_RETURN_RESULT(&r);
}

static FFPlan plan_summary_read = {
	"SELECT document, version, patch_kind, last_updated_ms, first_applied_ms FROM ff.stream_summary "
	"WHERE partition = $1 AND execution_id = $2 AND attempt_index = $3",
	3, {INT2OID, UUIDOID, INT4OID}
};

/*
 * ff.read_summary(execution_id, attempt_index) (behaviour/execution §3.27)
 *		Before any summary frame: document null, version 0.
 */
Datum
ff_read_summary(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	int64		attempt_index = ff_arg_int32(fcinfo, 1, "attempt_index");
	Datum		key[3];
	FFResult	r;
	bool		isnull;

	key[0] = Int16GetDatum((int16) id.partition);
	key[1] = UUIDPGetDatum(&id.uuid);
	key[2] = Int32GetDatum((int32) attempt_index);
	ff_spi_connect();
	ffr_ok(&r, "OK");
	if (!ff_execution_visible(id) || ff_plan_exec(&plan_summary_read, key, NULL, 1) == 0)
	{
		ffr_jsonb(&r, "document", NULL);
		ffr_int(&r, "version", 0);
		ffr_text(&r, "patch_kind", NULL);
		ffr_int(&r, "last_updated_ms", 0);
		ffr_int(&r, "first_applied_ms", 0);
	}
	else
	{
		ffr_jsonb(&r, "document", DatumGetJsonbP(ff_col_datum(0, 1, &isnull)));
		ffr_int(&r, "version", ff_col_int64(0, 2, 0));
		ffr_text(&r, "patch_kind", ff_col_text(0, 3));
		ffr_int(&r, "last_updated_ms", ff_col_int64(0, 4, 0));
		ffr_int(&r, "first_applied_ms", ff_col_int64(0, 5, 0));
	}
	FF_RETURN_RESULT(&r);
}
