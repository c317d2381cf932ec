/*-------------------------------------------------------------------------
 *
 * core_partition.h
 *	  Partition counts (the ff.partition_config row) and partitioners.
 *
 * IDENTIFICATION
 *	  src/core_partition.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_PARTITION_H
#define FF_ENGINE_PARTITION_H

#include "utils/uuid.h"

extern int	ff_num_flow_partitions(void);
extern int	ff_num_budget_partitions(void);
extern int	ff_num_quota_partitions(void);

extern int	ff_solo_partition(text *lane_id);
extern int	ff_uuid_partition(const pg_uuid_t *u, int count);
extern int	ff_uuid_flow_partition(const pg_uuid_t *flow_id);

/* Validation of a lane id: 1..64 bytes of printable ASCII (behaviour/execution §1.3). */
extern void ff_check_lane_id(text *lane_id);

#endif							/* FF_ENGINE_PARTITION_H */
