/*-------------------------------------------------------------------------
 *
 * flow_resolve.h
 *	  Applying and resolving dependency edges (what a dispatched completion
 *	  event resolves: flow_completion.c).
 *
 * IDENTIFICATION
 *	  src/flow_resolve.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_DEPENDENCY_H
#define FF_ENGINE_DEPENDENCY_H

#include "exec_core.h"

extern int64 ff_apply_edge(int partition, const pg_uuid_t *flow, const pg_uuid_t *edge_id,
						  const pg_uuid_t *child_uuid, const pg_uuid_t *upstream,
						  int64 graph_revision, int64 now, FFResult *r);
extern void ff_resolve_edge(int partition, const pg_uuid_t *flow, const pg_uuid_t *edge_id,
							const pg_uuid_t *child_uuid, TerminalOutcome outcome, int64 now,
							FFResult *r, bool *skipped);
extern int	ff_cascade_completion(int partition, const pg_uuid_t *flow,
								  const pg_uuid_t *upstream, int64 now);
extern int	ff_reconcile_dependencies_id(ExecId id, int64 now);
extern void ff_ack_cancel_member_id(const pg_uuid_t *flow, ExecId id);	/* flow_ops.c */

#endif							/* FF_ENGINE_DEPENDENCY_H */
