/*-------------------------------------------------------------------------
 *
 * flow_completion.h
 *	  A terminal transition's way to the dependency resolver: emit (the
 *	  event row and the channel announcement), the engine worker's wake-up
 *	  at commit, and the dispatch of events (ff.dispatch_completions).
 *
 * IDENTIFICATION
 *	  src/flow_completion.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_FLOW_COMPLETION_H
#define FF_ENGINE_FLOW_COMPLETION_H

#include "exec_core.h"

extern void ff_completion_emit(ExecCore *c, TerminalOutcome outcome, int64 now);
extern void ff_wake_engine_at_commit(void);

#endif							/* FF_ENGINE_FLOW_COMPLETION_H */
