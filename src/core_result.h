/*-------------------------------------------------------------------------
 *
 * core_result.h
 *	  The jsonb envelope every operation returns (behaviour/README §3):
 *	  {"ok": true, "status": "OK", ...fields} or
 *	  {"ok": false, "error": "<code>", ...detail}.
 *
 * IDENTIFICATION
 *	  src/core_result.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_RESULT_H
#define FF_ENGINE_RESULT_H

#include "utils/jsonb.h"
#include "utils/uuid.h"

typedef struct FFResult
{
	JsonbParseState *state;
} FFResult;

extern void ffr_begin(FFResult *r);
extern void ffr_ok(FFResult *r, const char *status);
extern void ffr_error(FFResult *r, const char *code);
extern void ffr_error_detail(FFResult *r, const char *code, const char *detail);
extern void ffr_text(FFResult *r, const char *key, const char *val);	/* NULL -> null */
extern void ffr_int(FFResult *r, const char *key, int64 val);
extern void ffr_int_or_null(FFResult *r, const char *key, int64 val, bool isnull);
extern void ffr_bool(FFResult *r, const char *key, bool val);
extern void ffr_uuid(FFResult *r, const char *key, const pg_uuid_t *u);	/* NULL -> null */
extern void ffr_exec_id(FFResult *r, const char *key, int partition, const pg_uuid_t *u);
extern void ffr_jsonb(FFResult *r, const char *key, Jsonb *val);
extern Jsonb *ffr_finish(FFResult *r);
extern JsonbValue *ffr_finish_value(FFResult *r);
extern bool ffr_value_ok(const JsonbValue *obj);
extern Jsonb *ffr_list(FFResult *r, const char *key, JsonbValue **items, int n);

#endif							/* FF_ENGINE_RESULT_H */
