/*-------------------------------------------------------------------------
 *
 * core_tenant.h
 *	  Namespace isolation by login role (see core_tenant.c).
 *
 * IDENTIFICATION
 *	  src/core_tenant.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_TENANT_H
#define FF_ENGINE_TENANT_H

#include "core_ids.h"

extern bool ff_require_namespace_binding;

extern bool ff_caller_is_admin(void);
extern bool ff_tenant_namespaces(char ***list, int *n);
extern bool ff_namespace_allowed(const char *ns);
extern void ff_namespace_require(const char *ns);
extern Datum ff_namespaces_array(bool *isnull);
extern bool ff_execution_visible(ExecId id);
extern bool ff_flow_visible(int partition, const pg_uuid_t *flow);
extern void ff_completion_channel_key_load(void);
extern char *ff_completion_channel(const char *ns);
extern char *ff_lease_channel(const char *ns);

#endif							/* FF_ENGINE_TENANT_H */
