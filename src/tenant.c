/*-------------------------------------------------------------------------
 *
 * tenant.c
 *	  Namespace isolation (issue 10): a login role bound to namespaces in
 *	  ff.namespace_grant sees and touches only executions of those
 *	  namespaces; every other role (and superusers, ff_admin, the engine's
 *	  own workers) is unrestricted.  The caller is the role outside the
 *	  SECURITY DEFINER call (session user or SET ROLE).  The binding is read
 *	  once per transaction.
 *
 *	  Where it is enforced: ff_core_lock (every operation on an execution
 *	  sees another tenant's execution as not found), execution and flow
 *	  creation, ff.claim_next's candidates, the stream readers, and the
 *	  read models (through the ff.visible_execution view).
 *
 * IDENTIFICATION
 *	  src/tenant.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "ids.h"
#include "spi_plan.h"
#include "tenant.h"

PG_FUNCTION_INFO_V1(ff_namespaces_sql);

static LocalTransactionId cached_lxid = InvalidLocalTransactionId;
static Oid	cached_user = InvalidOid;
static bool cached_restricted;
static int	cached_n;
static char **cached_list;

static FFPlan plan_grants = {
	"SELECT namespace FROM ff.namespace_grant WHERE role_name = $1 ORDER BY namespace",
	1, {NAMEOID}
};

/*
 * ff_caller_is_admin
 *		Whether the calling role (outside the SECURITY DEFINER call: session
 *		user or SET ROLE) is a superuser or has the privileges of ff_admin.
 *		Admins are never restricted to namespaces and may see lease ids.
 */
bool
ff_caller_is_admin(void)
{
	Oid			caller = GetOuterUserId();
	Oid			admin = get_role_oid("ff_admin", true);

	return superuser_arg(caller) || (OidIsValid(admin) && has_privs_of_role(caller, admin));
}

/* ff._is_admin() -> boolean: ff_caller_is_admin for views and plpgsql. */
PG_FUNCTION_INFO_V1(ff_is_admin_sql);
Datum
ff_is_admin_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(ff_caller_is_admin());
}

/*
 * The caller's namespaces: false when unrestricted, else true with the
 * list (possibly empty).  SPI must be connected.
 */
bool
ff_tenant_namespaces(char ***list, int *n)
{
	Oid			caller = GetOuterUserId();

	if (cached_lxid != MyProc->lxid || cached_user != caller)
	{
		MemoryContext old;
		uint64		i,
					rows = 0;

		cached_restricted = false;
		cached_n = 0;
		if (!ff_caller_is_admin())
		{
			Datum		v[1];
			char	   *name = GetUserNameFromId(caller, false);

			v[0] = DirectFunctionCall1(namein, CStringGetDatum(name));
			rows = ff_plan_exec(&plan_grants, v, NULL, 0);
			cached_restricted = rows > 0;
		}
		old = MemoryContextSwitchTo(TopTransactionContext);
		cached_list = palloc(sizeof(char *) * Max(rows, 1));
		for (i = 0; i < rows; i++)
			cached_list[i] = pstrdup(ff_col_text((int) i, 1));
		MemoryContextSwitchTo(old);
		cached_n = (int) rows;
		cached_lxid = MyProc->lxid;
		cached_user = caller;
	}
	*list = cached_list;
	*n = cached_n;
	return cached_restricted;
}

/* Whether the caller may see and touch executions of namespace ns. */
bool
ff_namespace_allowed(const char *ns)
{
	char	  **list;
	int			n,
				i;

	if (!ff_tenant_namespaces(&list, &n))
		return true;
	for (i = 0; i < n; i++)
		if (ns != NULL && strcmp(list[i], ns) == 0)
			return true;
	return false;
}

/* Creating in a namespace the caller is not bound to is a privilege error. */
void
ff_namespace_require(const char *ns)
{
	if (!ff_namespace_allowed(ns))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("namespace \"%s\" is not granted to role \"%s\"", ns,
						GetUserNameFromId(GetOuterUserId(), false)),
				 errhint("An administrator grants it with ff.grant_namespace.")));
}

/* The caller's namespaces as text[] for a query parameter; NULL when unrestricted. */
Datum
ff_namespaces_array(bool *isnull)
{
	char	  **list;
	int			n,
				i;
	Datum	   *e;

	*isnull = !ff_tenant_namespaces(&list, &n);
	if (*isnull)
		return (Datum) 0;
	e = palloc(sizeof(Datum) * Max(n, 1));
	for (i = 0; i < n; i++)
		e[i] = CStringGetTextDatum(list[i]);
	return PointerGetDatum(construct_array(e, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* ff._namespaces() -> text[]: the caller's namespaces, NULL when unrestricted. */
Datum
ff_namespaces_sql(PG_FUNCTION_ARGS)
{
	bool		isnull;
	Datum		d;

	ff_spi_connect();
	d = ff_namespaces_array(&isnull);
	if (isnull)
	{
		SPI_finish();
		PG_RETURN_NULL();
	}
	PG_RETURN_DATUM(ff_spi_finish_datum(d));
}

static FFPlan plan_exec_namespace = {
	"SELECT namespace FROM ff.execution WHERE partition = $1 AND execution_id = $2",
	2, {INT2OID, UUIDOID}
};

/* Whether the caller may see the execution (readers that do not lock it). */
bool
ff_execution_visible(ExecId id)
{
	char	  **list;
	int			n;
	Datum		v[2];

	if (!ff_tenant_namespaces(&list, &n))
		return true;
	v[0] = Int16GetDatum((int16) id.partition);
	v[1] = UUIDPGetDatum(&id.uuid);
	if (ff_plan_exec(&plan_exec_namespace, v, NULL, 1) == 0)
		return true;			/* nothing to hide */
	return ff_namespace_allowed(ff_col_text(0, 1));
}
