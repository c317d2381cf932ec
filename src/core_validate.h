/*-------------------------------------------------------------------------
 *
 * core_validate.h
 *	  Argument validation at the SQL boundary, capability token sets,
 *	  execution policy validation and small JSON helpers.
 *
 *	  Misuse (a NULL where a value is required, a malformed identifier,
 *	  an out-of-range number) raises an ERROR with a proper SQLSTATE before
 *	  anything is written.  Outcomes the spec defines as results
 *	  (invalid_policy_json, invalid_capabilities, ...) are returned by the
 *	  callers as envelopes instead.
 *
 * IDENTIFICATION
 *	  src/core_validate.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_VALIDATE_H
#define FF_ENGINE_VALIDATE_H

#include "fmgr.h"
#include "utils/array.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

#define FF_MAX_CAP_TOKENS	256
#define FF_MAX_CAP_BYTES	4096
#define FF_MAX_ID_BYTES		256

/* Required / optional arguments. Optional text: NULL and '' both give NULL. */
extern char *ff_arg_text(FunctionCallInfo fcinfo, int n, const char *name);
extern char *ff_arg_text_opt(FunctionCallInfo fcinfo, int n);
extern int64 ff_arg_int64(FunctionCallInfo fcinfo, int n, const char *name);
extern int32 ff_arg_int32(FunctionCallInfo fcinfo, int n, const char *name);
extern bool ff_arg_int64_opt(FunctionCallInfo fcinfo, int n, int64 *out);
extern pg_uuid_t *ff_arg_uuid_opt(FunctionCallInfo fcinfo, int n);
extern void ff_check_positive(int64 v, const char *name);
extern void ff_check_nonnegative(int64 v, const char *name);
extern void ff_check_max_len(const char *s, int max, const char *name);
extern void ff_check_worker_id(const char *s, const char *name);
extern int64 ff_limit_in_force(bool given, int64 asked, int64 setting);

/*
 * Capability token sets.  A set is a sorted array of C strings.  The
 * parse functions return NULL on success or the spec's detail code
 * ("required:too_many_tokens", ...) on failure.
 */
typedef struct CapSet
{
	int			ntokens;
	char	  **tokens;			/* sorted, byte order */
} CapSet;

extern const char *ff_caps_from_csv(const char *csv, const char *side, CapSet *out);
extern void ff_caps_from_array(ArrayType *arr, CapSet *out);
extern char *ff_caps_to_csv(const CapSet *set);
extern char *ff_caps_missing(const CapSet *required, const CapSet *have);

/*
 * Execution policy (behaviour/execution §3.1 step 4).  On success returns NULL and sets
 * *policy (NULL when the text is empty) and *caps (required capabilities,
 * ntokens 0 when none).  On failure returns the error code and sets
 * *detail.
 */
extern const char *ff_validate_policy(const char *text, Jsonb **policy,
									  CapSet *caps, const char **detail);

/*
 * JSON helpers.  ff_check_json_text / ff_check_jsonb bound a caller's
 * document that is stored by ff_engine.max_json_bytes and
 * ff_engine.max_json_depth (54000); the *_too_deep walks are linear and
 * stop at the bound.
 */
extern bool ff_json_text_too_deep(const char *s, Size len, int max);
extern bool ff_jsonb_too_deep(Jsonb *jb, int max);
extern void ff_check_json_text(const char *s, const char *what);
extern void ff_check_jsonb(Jsonb *jb, const char *what);
extern bool ff_json_text_valid(const char *s);
extern Jsonb *ff_jsonb_from_text(const char *s);
extern JsonbValue *ff_jsonb_get(JsonbContainer *c, const char *key, JsonbValue *buf);
extern bool ff_jsonb_get_number(JsonbContainer *c, const char *key, double *out);
extern JsonbContainer *ff_jsonb_get_object(JsonbContainer *c, const char *key);
extern char *ff_jsonb_get_string(JsonbContainer *c, const char *key);

/* Tag keys: ^[a-z][a-z0-9_]*\.[a-z0-9_][a-z0-9_.]*$ (behaviour/execution §3.23, strict). */
extern bool ff_tag_key_valid(const char *key);
extern int	ff_tag_pairs(ArrayType *pairs, Datum **elems);
extern char *ff_tag_pairs_bad_key(const Datum *elems, int n);
struct FFResult;
extern bool ff_tag_pairs_refused(int n, struct FFResult *r);
extern bool ff_tag_keys_refused(const Datum *elems, int n, struct FFResult *r);

#endif							/* FF_ENGINE_VALIDATE_H */
