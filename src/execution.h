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

#endif							/* FF_ENGINE_EXECUTION_H */
