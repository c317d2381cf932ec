/*-------------------------------------------------------------------------
 *
 * susp_ops.h
 *	  Suspensions (behaviour/suspension): the closing and resuming steps of
 *	  susp_ops.c shared with signal delivery (susp_signal.c), cancel and
 *	  expire.  Includes the waitpoint and condition headers.
 *
 * IDENTIFICATION
 *	  src/susp_ops.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_SUSPENSION_H
#define FF_ENGINE_SUSPENSION_H

#include "susp_waitpoint.h"

extern Jsonb *ff_suspension_tree(ExecCore *c);
extern void ff_suspension_close_all(ExecCore *c, const char *reason,
									const char *cond_reason, bool satisfied,
									bool close_pending, int64 last_signal_at, int64 now);
extern void ff_suspension_resume_core(ExecCore *c, int64 delay_ms,
									  const char *delay_detail, int64 now);
extern void ff_suspension_set_closer(ExecCore *c, const pg_uuid_t *closer);
extern void ff_suspension_touch(ExecCore *c, int64 now);
extern void ff_expire_suspension_id(ExecId id, int64 now, FFResult *r);

#endif							/* FF_ENGINE_SUSPENSION_H */
