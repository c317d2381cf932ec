/*-------------------------------------------------------------------------
 *
 * execution.h
 *	  Execution transitions that other subsystems reuse.
 *
 * IDENTIFICATION
 *	  src/execution.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_EXECUTION_H
#define FF_ENGINE_EXECUTION_H

#include "exec_core.h"

extern void ff_cancel_locked(ExecCore *c, const char *reason, const char *source, int64 now);
extern void ff_check_result_size(bytea *result);
extern void ff_complete_one(ExecId id, Fence *f, bytea *result, const char *source, int64 now, FFResult *r);
extern void ff_fail_one(ExecId id, Fence *f, char *reason, const char *category, const char *source,
						int64 now, FFResult *r);

#endif							/* FF_ENGINE_EXECUTION_H */
