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

/*
 * ffr_finish_value
 *		The finished envelope as an object tree, for ffr_list: a batch that
 *		converted each item and took it apart again into its list spent
 *		6 500 instructions a job on it (test/bench/README.md).
 */
JsonbValue *
ffr_finish_value(FFResult *r)
{
	return pushJsonbValue(&r->state, WJB_END_OBJECT, NULL);
}

/* Whether a finished envelope (ffr_finish_value) says "ok": true. */
bool
ffr_value_ok(const JsonbValue *obj)
{
	int			i;

	for (i = 0; i < obj->val.object.nPairs; i++)
	{
		const JsonbPair *p = &obj->val.object.pairs[i];

		if (p->key.val.string.len == 2 && memcmp(p->key.val.string.val, "ok", 2) == 0)
			return p->value.type == jbvBool && p->value.val.boolean;
	}
	return false;
}

/*
 * ffr_list
 *		Finishes r with key holding the list of n finished envelopes (trees
 *		from ffr_finish_value, taken as they are).  pushJsonbValue takes a
 *		container only as a converted one, which it takes apart again, so
 *		the pair is placed in the finished object's tree by jsonb's key
 *		order (shorter keys first, then by bytes), which a converted object
 *		keeps sorted and unique.
 */
Jsonb *
ffr_list(FFResult *r, const char *key, JsonbValue **items, int n)
{
	JsonbValue *obj = pushJsonbValue(&r->state, WJB_END_OBJECT, NULL);
	JsonbValue	list;
	JsonbPair  *pairs;
	int			klen = strlen(key);
	int			np = obj->val.object.nPairs;
	int			i,
				at;

	list.type = jbvArray;
	list.val.array.nElems = n;
	list.val.array.rawScalar = false;
	list.val.array.elems = palloc(sizeof(JsonbValue) * Max(n, 1));
	for (i = 0; i < n; i++)
		list.val.array.elems[i] = *items[i];
	for (at = 0; at < np; at++)
	{
		const JsonbValue *k = &obj->val.object.pairs[at].key;
		int			c = k->val.string.len != klen ? (k->val.string.len > klen ? 1 : -1) :
			memcmp(k->val.string.val, key, klen);

		if (c == 0)
			elog(ERROR, "envelope key \"%s\" given twice", key);
		if (c > 0)
			break;
	}
	pairs = palloc(sizeof(JsonbPair) * (np + 1));
	memcpy(pairs, obj->val.object.pairs, sizeof(JsonbPair) * at);
	memcpy(pairs + at + 1, obj->val.object.pairs + at, sizeof(JsonbPair) * (np - at));
	pairs[at].key.type = jbvString;
	pairs[at].key.val.string.val = unconstify(char *, key);
	pairs[at].key.val.string.len = klen;
	pairs[at].value = list;
	pairs[at].order = np;
	obj->val.object.pairs = pairs;
	obj->val.object.nPairs = np + 1;
	return JsonbValueToJsonb(obj);
}
