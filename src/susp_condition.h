/*-------------------------------------------------------------------------
 *
 * susp_condition.h
 *	  The resume-condition language (behaviour/suspension §3) and the records
 *	  it evaluates: a waitpoint's condition record and one signal.
 *
 * IDENTIFICATION
 *	  src/susp_condition.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_SUSP_CONDITION_H
#define FF_ENGINE_SUSP_CONDITION_H

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#include "exec_core.h"

#define FF_MAX_SIGNAL_PAYLOAD	65536
#define FF_SIGNAL_LOG_MAX		1000

/* A waitpoint row with its condition record, as locked by ff_wp_lock. */
typedef struct Waitpoint
{
	pg_uuid_t	id;
	char		id_text[37];
	pg_uuid_t	execution_id;
	int64		attempt_index;
	UuidOpt		suspension_id;
	char	   *key;
	char	   *token;
	char	   *state;			/* pending | active | closed */
	int64		created_at;
	int64		expires_at;		/* FF_NULL when none */
	int64		next_seq;
	/* condition record; cond_kind NULL while pending */
	char	   *cond_kind;		/* matcher | composite */
	char	   *match_mode;
	int64		min_count;
	int			nmatchers;
	char	  **names;			/* "" = wildcard */
	pg_uuid_t  *sig_ids;
	bool	   *sig_set;
	int64		satisfied_count;
	bool		cond_closed;
} Waitpoint;

/* One signal being delivered (or replayed from a waitpoint's log). */
typedef struct Signal
{
	pg_uuid_t	id;
	char		id_text[37];
	const char *name;
	const char *source_type;
	const char *source_identity;
} Signal;

/* A resume condition as parsed and validated (behaviour/suspension §3.1-§3.4). */
typedef struct Condition
{
	bool		composite;
	Jsonb	   *tree;			/* composite: the tree as its own document */
	char	   *match_mode;
	int64		min_count;
	int			nnames;
	char	  **names;			/* matcher names; {""} = wildcard */
	char	   *single_key;		/* matcher form's optional waitpoint_key */
	List	   *keys;			/* composite: referenced waitpoint keys */
} Condition;

/* ERROR 22023 "invalid suspension: <detail>" (misuse of the suspension calls). */
extern void ff_susp_invalid(const char *detail) pg_attribute_noreturn();
extern void ff_check_signal_text(const char *s, const char *name);
extern void ff_condition_parse(Jsonb *json, bool has_timeout, Condition *cond);
extern bool ff_condition_references(const Condition *cond, const char *key);
extern void ff_condition_init(Waitpoint *w, const Condition *cond);
extern const char *ff_condition_eval(ExecCore *c, Waitpoint *w, Jsonb *tree,
									 const Signal *s, bool *satisfied);

#endif							/* FF_ENGINE_SUSP_CONDITION_H */
