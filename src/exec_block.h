/*-------------------------------------------------------------------------
 *
 * exec_block.h
 *	  Blocking an eligible execution that is already locked (the claim
 *	  path's admission refusals).
 *
 * IDENTIFICATION
 *	  src/exec_block.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_ADMISSION_H
#define FF_ENGINE_ADMISSION_H

#include "exec_core.h"

extern void ff_block_locked(ExecCore *c, BlockingReason reason, const char *detail, int64 now);
extern void ff_unblock_id(ExecId id, int64 now, const char *expected, FFResult *r);

#endif							/* FF_ENGINE_ADMISSION_H */
