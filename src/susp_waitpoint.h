/*-------------------------------------------------------------------------
 *
 * susp_waitpoint.h
 *	  Waitpoint rows (behaviour/suspension §2, §4.2, §4.3), shared by
 *	  susp_ops.c (suspend) and susp_signal.c (signal delivery).
 *
 * IDENTIFICATION
 *	  src/susp_waitpoint.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_SUSP_WAITPOINT_H
#define FF_ENGINE_SUSP_WAITPOINT_H

#include "utils/array.h"

#include "core_result.h"
#include "exec_lease.h"
#include "susp_condition.h"

/* A waitpoint to be bound: id, key and minted token. */
typedef struct Binding
{
	pg_uuid_t	id;
	char		id_text[37];
	char	   *key;
	char	   *token;
} Binding;

extern void ff_check_waitpoint_key(const char *k);
extern bool ff_wp_lock(int partition, const pg_uuid_t *wp_id, Waitpoint *w);
extern void ff_wp_store_condition(int partition, Waitpoint *w);
extern ArrayType *ff_wp_signal_ids(Waitpoint *w);
extern void ff_wp_insert(ExecCore *c, const Binding *b, int64 attempt_index,
						 const pg_uuid_t *susp, const char *state, int64 expires_at,
						 int64 now);
extern bool ff_wp_any_exists(int partition, Binding *b, int n);
extern bool ff_susp_lock_lease_holder(ExecId id, Fence *f, int64 attempt_index,
									  const char *attempt_error, int64 now,
									  ExecCore *c, FFResult *r);

#endif							/* FF_ENGINE_SUSP_WAITPOINT_H */
