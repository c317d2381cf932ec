/*-------------------------------------------------------------------------
 *
 * exec_lease.h
 *	  Lease fencing, validation and expiry (behaviour/execution §4).
 *
 * IDENTIFICATION
 *	  src/exec_lease.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_LEASE_H
#define FF_ENGINE_LEASE_H

#include "fmgr.h"
#include "exec_core.h"

#define FF_SOURCE_OPERATOR_OVERRIDE "operator_override"

extern Fence ff_fence_args(FunctionCallInfo fcinfo, int lease_id_arg,
						   int epoch_arg, int attempt_id_arg);
extern bool ff_fence_resolve(const Fence *f, const char *source,
							 bool allow_override, bool *trusted, FFResult *r);
extern void ff_fence_check_swapped(const UuidOpt *cur_lease, const UuidOpt *cur_attempt,
								   const pg_uuid_t *lease_id, const pg_uuid_t *attempt_id);
extern bool ff_lease_validate(ExecCore *c, const Fence *f, bool trusted,
							  int64 now, FFResult *r);
extern bool ff_lease_lock_and_validate(ExecId id, Fence *f, const char *source, int64 now,
									   ExecCore *c, FFResult *r);
extern void ff_require_admin(const char *what);
extern bool ff_lease_is_expired(const ExecCore *c, int64 now);
extern bool ff_lease_held_by(const ExecCore *c, const Fence *f, int64 now);
extern void ff_lease_mark_expired(ExecCore *c, int64 now);
extern void ff_lease_release(ExecCore *c, const char *reason, const char *lost, int64 now);
extern void ff_lease_expire_if_due(ExecId id, int64 now, FFResult *r);

#endif							/* FF_ENGINE_LEASE_H */
