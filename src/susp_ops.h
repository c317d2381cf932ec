/*-------------------------------------------------------------------------
 *
 * susp_ops.h
 *	  Suspensions, waitpoints and resume conditions (spec/suspension.md),
 *	  shared by susp_ops.c (suspend, waitpoints, resume, timeouts) and
 *	  susp_signal.c (signal delivery).
 *
 * IDENTIFICATION
 *	  src/susp_ops.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_SUSPENSION_H
#define FF_ENGINE_SUSPENSION_H

#include "utils/array.h"

#include "exec_core.h"

#define FF_MAX_SIGNAL_PAYLOAD	65536
#define FF_SIGNAL_LOG_MAX		1000

/* A waitpoint row with its condition record, as locked by wp_lock. */
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

extern bool ff_wp_lock(int partition, const pg_uuid_t *wp_id, Waitpoint *w);
extern void ff_wp_store_condition(int partition, Waitpoint *w);
extern ArrayType *ff_wp_signal_ids(Waitpoint *w);
extern const char *ff_condition_eval(ExecCore *c, Waitpoint *w, Jsonb *tree,
									 const Signal *s, bool *satisfied);
extern Jsonb *ff_suspension_tree(ExecCore *c);
extern void ff_suspension_close_all(ExecCore *c, const char *reason,
									const char *cond_reason, bool satisfied,
									bool close_pending, int64 last_signal_at, int64 now);
extern void ff_suspension_resume_core(ExecCore *c, int64 delay_ms,
									  const char *delay_detail, int64 now);
extern void ff_suspension_set_closer(ExecCore *c, const pg_uuid_t *closer);
extern void ff_suspension_touch(ExecCore *c, int64 now);
extern void ff_expire_suspension_id(ExecId id, int64 now, FFResult *r);
extern void ff_check_signal_text(const char *s, const char *name);

#endif							/* FF_ENGINE_SUSPENSION_H */
