/*-------------------------------------------------------------------------
 *
 * core_validate.c
 *	  Argument validation, capability sets, policy validation, JSON helpers.
 *
 * IDENTIFICATION
 *	  src/core_validate.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/jsonapi.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/rel.h"

#include "ff_engine.h"
#include "core_validate.h"
#include "core_result.h"

PG_FUNCTION_INFO_V1(ff_json_limit_trigger);
PG_FUNCTION_INFO_V1(ff_check_worker_id_sql);

char *
ff_arg_text(FunctionCallInfo fcinfo, int n, const char *name)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name)));
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

char *
ff_arg_text_opt(FunctionCallInfo fcinfo, int n)
{
	char	   *s;

	if (PG_ARGISNULL(n))
		return NULL;
	s = text_to_cstring(PG_GETARG_TEXT_PP(n));
	return s[0] == '\0' ? NULL : s;
}

int64
ff_arg_int64(FunctionCallInfo fcinfo, int n, const char *name)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name)));
	return PG_GETARG_INT64(n);
}

int32
ff_arg_int32(FunctionCallInfo fcinfo, int n, const char *name)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name)));
	return PG_GETARG_INT32(n);
}

bool
ff_arg_int64_opt(FunctionCallInfo fcinfo, int n, int64 *out)
{
	if (PG_ARGISNULL(n))
		return false;
	*out = PG_GETARG_INT64(n);
	return true;
}

pg_uuid_t *
ff_arg_uuid_opt(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : PG_GETARG_UUID_P(n);
}

void
ff_check_positive(int64 v, const char *name)
{
	if (v <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be positive, got " INT64_FORMAT, name, v)));
}

void
ff_check_nonnegative(int64 v, const char *name)
{
	if (v < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative, got " INT64_FORMAT, name, v)));
}

void
ff_check_max_len(const char *s, int max, const char *name)
{
	if (s != NULL && strlen(s) > (size_t) max)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("%s is longer than %d bytes", name, max)));
}

/*
 * ff_limit_in_force
 *		A limit an admin sets (setting, 0 = none) that a call argument may
 *		only lower: the smaller of the two; an argument absent or <= 0
 *		asks for nothing, so the setting applies.
 */
int64
ff_limit_in_force(bool given, int64 asked, int64 setting)
{
	if (!given || asked <= 0)
		return setting;
	if (setting <= 0)
		return asked;
	return Min(asked, setting);
}

/* Worker ids: 1..256 bytes, no whitespace or control characters (behaviour/execution §1.3). */
void
ff_check_worker_id(const char *s, const char *name)
{
	const unsigned char *p;

	if (s == NULL || s[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", name)));
	ff_check_max_len(s, FF_MAX_ID_BYTES, name);
	for (p = (const unsigned char *) s; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must not contain whitespace or control characters", name)));
}

/*
 * ff._check_worker_id(id text, name text) -> void
 *		The worker-id rule of claims, as a claim applies it to its argument
 *		(NULL 22004, then ff_check_worker_id), for the SQL that registers
 *		workers: one rule, the same SQLSTATEs.
 */
Datum
ff_check_worker_id_sql(PG_FUNCTION_ARGS)
{
	const char *name = PG_ARGISNULL(1) ? "worker id" : text_to_cstring(PG_GETARG_TEXT_PP(1));

	ff_check_worker_id(ff_arg_text(fcinfo, 0, name), name);
	PG_RETURN_VOID();
}

/* ---- capability sets ---- */

static int
cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* A token: non-empty, no comma, no byte <= 0x20, no 0x7F (behaviour/execution §5.4). */
static const char *
token_problem(const char *t)
{
	const unsigned char *p;

	if (t[0] == '\0')
		return "empty_token";
	for (p = (const unsigned char *) t; *p; p++)
	{
		if (*p == ',')
			return "comma_in_token";
		if (*p <= 0x20 || *p == 0x7f)
			return "control_or_whitespace";
	}
	return NULL;
}

static const char *
caps_check_bounds(const CapSet *set, const char *side)
{
	size_t		bytes = 0;
	int			i;

	if (set->ntokens > FF_MAX_CAP_TOKENS)
		return psprintf("%s:too_many_tokens", side);
	for (i = 0; i < set->ntokens; i++)
		bytes += strlen(set->tokens[i]) + (i > 0 ? 1 : 0);
	if (bytes > FF_MAX_CAP_BYTES)
		return psprintf("%s:too_many_bytes", side);
	return NULL;
}

/*
 * ff_caps_from_csv
 *		Comma-separated tokens; empty tokens are skipped (behaviour/execution §3.2 step 6).
 */
const char *
ff_caps_from_csv(const char *csv, const char *side, CapSet *out)
{
	char	   *copy,
			   *tok,
			   *save = NULL;
	int			cap = 8;

	out->ntokens = 0;
	out->tokens = palloc(sizeof(char *) * cap);
	if (csv == NULL)
		return NULL;
	if (strlen(csv) > FF_MAX_CAP_BYTES)
		return psprintf("%s:too_many_bytes", side);
	copy = pstrdup(csv);
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
	{
		if (out->ntokens == cap)
		{
			cap *= 2;
			out->tokens = repalloc(out->tokens, sizeof(char *) * cap);
		}
		out->tokens[out->ntokens++] = tok;
	}
	qsort(out->tokens, out->ntokens, sizeof(char *), cmp_cstr);
	return caps_check_bounds(out, side);
}

/*
 * ff_caps_from_array
 *		A worker's capabilities as text[]: every token is validated, and
 *		a bad one is a configuration error (22023), as in behaviour/execution §5.2 step 1.
 */
void
ff_caps_from_array(ArrayType *arr, CapSet *out)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;
	const char *problem;

	out->ntokens = 0;
	out->tokens = NULL;
	if (arr == NULL)
		return;
	/* too many tokens is refused before any of them is looked at */
	if (ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr)) > FF_MAX_CAP_TOKENS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("worker_capabilities exceed the limits: worker:too_many_tokens"),
				 errdetail("At most %d tokens and %d bytes as CSV.",
						   FF_MAX_CAP_TOKENS, FF_MAX_CAP_BYTES)));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	out->tokens = palloc(sizeof(char *) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("worker_capabilities must not contain NULL")));
		out->tokens[i] = TextDatumGetCString(elems[i]);
		if ((problem = token_problem(out->tokens[i])) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid worker capability \"%s\": %s", out->tokens[i], problem)));
	}
	out->ntokens = n;
	qsort(out->tokens, n, sizeof(char *), cmp_cstr);
	if ((problem = caps_check_bounds(out, "worker")) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("worker_capabilities exceed the limits: %s", problem),
				 errdetail("At most %d tokens and %d bytes as CSV.",
						   FF_MAX_CAP_TOKENS, FF_MAX_CAP_BYTES)));
}

char *
ff_caps_to_csv(const CapSet *set)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < set->ntokens; i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		appendStringInfoString(&buf, set->tokens[i]);
	}
	return buf.data;
}

/*
 * ff_caps_missing
 *		Sorted CSV of required tokens absent from "have" (exact,
 *		case-sensitive), or NULL when required is a subset of have.
 */
char *
ff_caps_missing(const CapSet *required, const CapSet *have)
{
	StringInfoData buf;
	int			i;
	bool		any = false;

	initStringInfo(&buf);
	for (i = 0; i < required->ntokens; i++)
	{
		if (have->ntokens > 0 &&
			bsearch(&required->tokens[i], have->tokens, have->ntokens,
					sizeof(char *), cmp_cstr) != NULL)
			continue;
		if (any)
			appendStringInfoChar(&buf, ',');
		appendStringInfoString(&buf, required->tokens[i]);
		any = true;
	}
	return any ? buf.data : NULL;
}

/* ---- JSON ---- */

/*
 * A scalar callback makes the lexer de-escape strings, so invalid escapes
 * and \u0000 are reported as parse errors here rather than raised later.
 */
static void
noop_scalar(void *state, char *token, JsonTokenType tokentype)
{
}

/*
 * ff_json_text_too_deep
 *		Whether JSON text nests arrays and objects deeper than max: one pass
 *		over the bytes, before any parse, without recursion, so a hostile
 *		document costs no more than reading it.  Brackets inside strings do
 *		not count.  Invalid JSON may be misjudged; it is refused anyway.
 */
bool
ff_json_text_too_deep(const char *s, Size len, int max)
{
	int			depth = 0;
	bool		in_string = false;
	Size		i;

	for (i = 0; i < len; i++)
	{
		char		ch = s[i];

		if ((i & 0xFFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (in_string)
		{
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_string = false;
		}
		else if (ch == '"')
			in_string = true;
		else if (ch == '{' || ch == '[')
		{
			if (++depth > max)
				return true;
		}
		else if (ch == '}' || ch == ']')
			depth--;
	}
	return false;
}

/*
 * ff_jsonb_too_deep
 *		The same for a parsed document: an iterative walk (the iterator
 *		keeps its own stack), stopping as soon as it is past max.
 */
bool
ff_jsonb_too_deep(Jsonb *jb, int max)
{
	JsonbIterator *it = JsonbIteratorInit(&jb->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			depth = 0;
	uint32		steps = 0;

	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if ((++steps & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (tok == WJB_BEGIN_ARRAY || tok == WJB_BEGIN_OBJECT)
		{
			if (++depth > max)
				return true;
		}
		else if (tok == WJB_END_ARRAY || tok == WJB_END_OBJECT)
			depth--;
	}
	return false;
}

static void
pg_attribute_noreturn()
json_too_large(const char *what, Size len)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("%s is %zu bytes, more than ff_engine.max_json_bytes (%d)",
					what, len, ff_max_json_bytes)));
}

static void
pg_attribute_noreturn()
json_too_deep(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("%s nests deeper than ff_engine.max_json_depth (%d)",
					what, ff_max_json_depth)));
}

/*
 * ff_check_json_text / ff_check_jsonb
 *		A caller's JSON document that is stored: at most
 *		ff_engine.max_json_bytes and ff_engine.max_json_depth, else 54000
 *		before anything is parsed further or written.  NULL passes.
 */
void
ff_check_json_text(const char *s, const char *what)
{
	Size		len;

	if (s == NULL)
		return;
	len = strlen(s);
	if (len > (Size) ff_max_json_bytes)
		json_too_large(what, len);
	if (ff_json_text_too_deep(s, len, ff_max_json_depth))
		json_too_deep(what);
}

void
ff_check_jsonb(Jsonb *jb, const char *what)
{
	if (jb == NULL)
		return;
	if (VARSIZE(jb) - VARHDRSZ > (Size) ff_max_json_bytes)
		json_too_large(what, VARSIZE(jb) - VARHDRSZ);
	if (ff_jsonb_too_deep(jb, ff_max_json_depth))
		json_too_deep(what);
}

/*
 * ff._json_limit(column): a BEFORE trigger bounding a jsonb column that
 * statements grow in place (tags = tags || ...) by
 * ff_engine.max_json_bytes, so repeated small calls cannot build a huge
 * document either.
 */
Datum
ff_json_limit_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	HeapTuple	tup;
	TupleDesc	desc;
	int			i;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("ff._json_limit must be a BEFORE ... FOR EACH ROW trigger")));
	tup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	desc = RelationGetDescr(td->tg_relation);
	for (i = 0; i < td->tg_trigger->tgnargs; i++)
	{
		const char *col = td->tg_trigger->tgargs[i];
		int			attnum = SPI_fnumber(desc, col);
		bool		isnull;
		Datum		d;
		Size		len;

		if (attnum <= 0)
			elog(ERROR, "ff._json_limit: no column \"%s\"", col);
		d = heap_getattr(tup, attnum, desc, &isnull);
		if (isnull)
			continue;
		len = toast_raw_datum_size(d) - VARHDRSZ;
		if (len > (Size) ff_max_json_bytes)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("%s.%s would be %zu bytes, more than ff_engine.max_json_bytes (%d)",
							RelationGetRelationName(td->tg_relation), col, len, ff_max_json_bytes)));
	}
	return PointerGetDatum(tup);
}

bool
ff_json_text_valid(const char *s)
{
	JsonLexContext *lex;
	JsonSemAction sem;

	memset(&sem, 0, sizeof(sem));
	sem.scalar = noop_scalar;
	lex = makeJsonLexContextCstringLen(unconstify(char *, s), strlen(s),
									   GetDatabaseEncoding(), true);
	return pg_parse_json(lex, &sem) == JSON_SUCCESS;
}

Jsonb *
ff_jsonb_from_text(const char *s)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s)));
}

JsonbValue *
ff_jsonb_get(JsonbContainer *c, const char *key, JsonbValue *buf)
{
	if (c == NULL || !JsonContainerIsObject(c))
		return NULL;
	return getKeyJsonValueFromContainer(c, key, strlen(key), buf);
}

bool
ff_jsonb_get_number(JsonbContainer *c, const char *key, double *out)
{
	JsonbValue	buf,
			   *v = ff_jsonb_get(c, key, &buf);

	if (v == NULL || v->type != jbvNumeric)
		return false;
	*out = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
	return true;
}

JsonbContainer *
ff_jsonb_get_object(JsonbContainer *c, const char *key)
{
	JsonbValue	buf,
			   *v = ff_jsonb_get(c, key, &buf);

	if (v == NULL || v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		return NULL;
	return v->val.binary.data;
}

char *
ff_jsonb_get_string(JsonbContainer *c, const char *key)
{
	JsonbValue	buf,
			   *v = ff_jsonb_get(c, key, &buf);

	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/*
 * ff_validate_policy
 *		Fail-closed validation of an execution policy (behaviour/execution §3.1 step 4).
 *		Decision (behaviour/execution §C.17): an object in place of the capability
 *		array is rejected as required:not_array.
 */
const char *
ff_validate_policy(const char *text, Jsonb **policy, CapSet *caps, const char **detail)
{
	Jsonb	   *jb;
	JsonbValue	buf,
			   *rr,
			   *req;
	JsonbContainer *rrc;
	JsonbIterator *it;
	JsonbValue	elem;
	JsonbIteratorToken tok;
	int			n = 0,
				cap = 8;

	*policy = NULL;
	caps->ntokens = 0;
	caps->tokens = NULL;
	if (text == NULL || text[0] == '\0')
		return NULL;
	if (!ff_json_text_valid(text))
	{
		*detail = "malformed";
		return "invalid_policy_json";
	}
	jb = ff_jsonb_from_text(text);
	*policy = jb;
	if (!JB_ROOT_IS_OBJECT(jb))
		return NULL;			/* a scalar policy is stored as is */

	/* retry_policy.jitter: none, full or equal (issue 26) */
	rr = ff_jsonb_get(&jb->root, "retry_policy", &buf);
	if (rr != NULL && rr->type == jbvBinary && JsonContainerIsObject(rr->val.binary.data))
	{
		JsonbValue	jbuf,
				   *j = ff_jsonb_get(rr->val.binary.data, "jitter", &jbuf);

		if (j != NULL && (j->type != jbvString ||
						  !((j->val.string.len == 4 && strncmp(j->val.string.val, "none", 4) == 0) ||
							(j->val.string.len == 4 && strncmp(j->val.string.val, "full", 4) == 0) ||
							(j->val.string.len == 5 && strncmp(j->val.string.val, "equal", 5) == 0))))
		{
			*detail = "retry_policy.jitter:not_none_full_or_equal";
			return "invalid_policy_json";
		}
	}

	rr = ff_jsonb_get(&jb->root, "routing_requirements", &buf);
	if (rr == NULL)
		return NULL;
	if (rr->type != jbvBinary || !JsonContainerIsObject(rr->val.binary.data))
	{
		*detail = "routing_requirements:not_object";
		return "invalid_policy_json";
	}
	rrc = rr->val.binary.data;
	req = ff_jsonb_get(rrc, "required_capabilities", &buf);
	if (req == NULL)
		return NULL;
	if (req->type != jbvBinary || !JsonContainerIsArray(req->val.binary.data))
	{
		*detail = "required:not_array";
		return "invalid_capabilities";
	}
	caps->tokens = palloc(sizeof(char *) * cap);
	it = JsonbIteratorInit(req->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		const char *problem;
		char	   *t;

		if (tok != WJB_ELEM)
			continue;
		CHECK_FOR_INTERRUPTS();
		if (elem.type != jbvString)
		{
			*detail = "required:non_string_token";
			return "invalid_capabilities";
		}
		t = pnstrdup(elem.val.string.val, elem.val.string.len);
		if ((problem = token_problem(t)) != NULL)
		{
			*detail = psprintf("required:%s", problem);
			return "invalid_capabilities";
		}
		if (n == cap)
		{
			cap *= 2;
			caps->tokens = repalloc(caps->tokens, sizeof(char *) * cap);
		}
		caps->tokens[n++] = t;
	}
	caps->ntokens = n;
	qsort(caps->tokens, n, sizeof(char *), cmp_cstr);
	if ((*detail = caps_check_bounds(caps, "required")) != NULL)
		return "invalid_capabilities";
	return NULL;
}

bool
ff_tag_key_valid(const char *key)
{
	const char *p = key;

	if (!(*p >= 'a' && *p <= 'z'))
		return false;
	for (p++; *p && *p != '.'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	if (*p != '.')
		return false;
	p++;
	if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
		return false;
	for (p++; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.'))
			return false;
	return true;
}

/*
 * ff_tag_pairs
 *		The VARIADIC key/value pairs of set_execution_tags / set_flow_tags:
 *		a one-dimensional text array without NULL (else an error).  Returns
 *		the element count (0 for a NULL array) and the elements.
 */
int
ff_tag_pairs(ArrayType *pairs, Datum **elems)
{
	bool	   *nulls;
	int			n,
				i;
	Size		bytes = 0;

	*elems = NULL;
	if (pairs == NULL)
		return 0;
	if (ARR_NDIM(pairs) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("pairs must be a one-dimensional array")));
	/* every key and value costs at least 4 bytes of the document: too many is refused unread */
	if ((Size) ArrayGetNItems(ARR_NDIM(pairs), ARR_DIMS(pairs)) * 4 > (Size) ff_max_json_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%d tag keys and values are more than ff_engine.max_json_bytes (%d) allows",
						ArrayGetNItems(ARR_NDIM(pairs), ARR_DIMS(pairs)), ff_max_json_bytes)));
	deconstruct_array(pairs, TEXTOID, -1, false, TYPALIGN_INT, elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("tag keys and values must not be NULL")));
		bytes += VARSIZE_ANY_EXHDR(DatumGetPointer((*elems)[i]));
	}
	/* what the stored document grows by; the whole one is bounded at the write */
	if (bytes > (Size) ff_max_json_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("tags are %zu bytes, more than ff_engine.max_json_bytes (%d)",
						bytes, ff_max_json_bytes)));
	return n;
}

/* The first key of the pairs that is not a valid tag key, or NULL. */
char *
ff_tag_pairs_bad_key(const Datum *elems, int n)
{
	int			i;

	for (i = 0; i < n; i += 2)
	{
		char	   *key = TextDatumGetCString(elems[i]);

		if (!ff_tag_key_valid(key))
			return key;
	}
	return NULL;
}

/*
 * The answers of set_execution_tags and set_flow_tags: true, with *r the
 * refusal, when the pairs are not non-empty key/value pairs (checked
 * before the lock) or a key is not a tag key (checked after it).
 */
bool
ff_tag_pairs_refused(int n, FFResult *r)
{
	if (n != 0 && n % 2 == 0)
		return false;
	ffr_error_detail(r, "invalid_input", "tags must be non-empty even-length key/value pairs");
	return true;
}

bool
ff_tag_keys_refused(const Datum *elems, int n, FFResult *r)
{
	char	   *bad_key = ff_tag_pairs_bad_key(elems, n);

	if (bad_key == NULL)
		return false;
	ffr_error_detail(r, "invalid_tag_key", bad_key);
	return true;
}
