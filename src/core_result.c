/*-------------------------------------------------------------------------
 *
 * core_result.c
 *	  Builds the jsonb result envelope directly with pushJsonbValue (no
 *	  text round trip).  Memory comes from CurrentMemoryContext.
 *
 * IDENTIFICATION
 *	  src/core_result.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "core_ids.h"
#include "core_result.h"

static void
push_key(FFResult *r, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = unconstify(char *, key);
	k.val.string.len = strlen(key);
	pushJsonbValue(&r->state, WJB_KEY, &k);
}

static void
push_string(FFResult *r, const char *key, const char *val)
{
	JsonbValue	v;

	push_key(r, key);
	/* pushJsonbValue keeps the pointer until ffr_finish: copy the bytes */
	v.type = jbvString;
	v.val.string.len = strlen(val);
	v.val.string.val = pnstrdup(val, v.val.string.len);
	pushJsonbValue(&r->state, WJB_VALUE, &v);
}

void
ffr_bool(FFResult *r, const char *key, bool val)
{
	JsonbValue	v;

	push_key(r, key);
	v.type = jbvBool;
	v.val.boolean = val;
	pushJsonbValue(&r->state, WJB_VALUE, &v);
}

static void
push_null(FFResult *r, const char *key)
{
	JsonbValue	v;

	push_key(r, key);
	v.type = jbvNull;
	pushJsonbValue(&r->state, WJB_VALUE, &v);
}

/* A plain object (no ok/status), e.g. a history event's detail. */
void
ffr_begin(FFResult *r)
{
	r->state = NULL;
	pushJsonbValue(&r->state, WJB_BEGIN_OBJECT, NULL);
}

/* An envelope: ok, then its status (ok) or error code. */
static void
begin_envelope(FFResult *r, bool ok, const char *key, const char *val)
{
	ffr_begin(r);
	ffr_bool(r, "ok", ok);
	push_string(r, key, val);
}

void
ffr_ok(FFResult *r, const char *status)
{
	begin_envelope(r, true, "status", status);
}

void
ffr_error(FFResult *r, const char *code)
{
	begin_envelope(r, false, "error", code);
}

/* An error envelope with its detail, e.g. invalid_input and what is wrong. */
void
ffr_error_detail(FFResult *r, const char *code, const char *detail)
{
	ffr_error(r, code);
	ffr_text(r, "detail", detail);
}

void
ffr_text(FFResult *r, const char *key, const char *val)
{
	if (val == NULL)
		push_null(r, key);
	else
		push_string(r, key, val);
}

void
ffr_int(FFResult *r, const char *key, int64 val)
{
	JsonbValue	v;

	push_key(r, key);
	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(val);
	pushJsonbValue(&r->state, WJB_VALUE, &v);
}

void
ffr_int_or_null(FFResult *r, const char *key, int64 val, bool isnull)
{
	if (isnull)
		push_null(r, key);
	else
		ffr_int(r, key, val);
}

void
ffr_uuid(FFResult *r, const char *key, const pg_uuid_t *u)
{
	char		buf[37];

	if (u == NULL)
	{
		push_null(r, key);
		return;
	}
	ff_format_uuid(u, buf);
	push_string(r, key, buf);
}

void
ffr_exec_id(FFResult *r, const char *key, int partition, const pg_uuid_t *u)
{
	push_string(r, key, ff_format_exec_id(partition, u));
}

void
ffr_jsonb(FFResult *r, const char *key, Jsonb *val)
{
	JsonbValue	v;

	if (val == NULL)
	{
		push_null(r, key);
		return;
	}
	push_key(r, key);
	v.type = jbvBinary;
	v.val.binary.data = &val->root;
	v.val.binary.len = VARSIZE(val) - VARHDRSZ;
	pushJsonbValue(&r->state, WJB_VALUE, &v);
}

Jsonb *
ffr_finish(FFResult *r)
{
	return JsonbValueToJsonb(pushJsonbValue(&r->state, WJB_END_OBJECT, NULL));
}
