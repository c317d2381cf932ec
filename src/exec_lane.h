/*-------------------------------------------------------------------------
 *
 * exec_lane.h
 *	  Lane controls and concurrency keys (see exec_lane.c).
 *
 * IDENTIFICATION
 *	  src/exec_lane.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_LANE_H
#define FF_ENGINE_LANE_H

#include "utils/jsonb.h"

#include "exec_core.h"

#define FF_LANE_ID_MAX				64
#define FF_MAX_CONCURRENCY_LIMIT	1000000

extern bool ff_lane_controls(const char *lane, bool *paused, int *max_active);
extern int64 ff_key_slots_taken(const ExecCore *c);
extern bool ff_key_slot_free(const ExecCore *c, int64 taken_here, bool wait);
extern int64 ff_lane_slots_free(const char *lane, int max_active);
extern const char *ff_claim_refusal(const ExecCore *c, bool keeps_slot);
extern void ff_concurrency_from_policy(Jsonb *policy, char **key, int64 *limit);

#endif							/* FF_ENGINE_LANE_H */
