/*-------------------------------------------------------------------------
 *
 * core_tenant.c
 *	  Namespace isolation: a role bound to namespaces in ff.namespace_binding
 *	  (or a member of such a role) sees and touches only objects of those
 *	  namespaces - executions, flows, budgets, quota policies, workers.
 *	  Superusers and ff_admin members (so the engine's own workers) are
 *	  never restricted; a role with no binding is unrestricted unless
 *	  ff_engine.require_namespace_binding is on.  The caller is the role
 *	  outside the SECURITY DEFINER call (session user or SET ROLE).
 *
 *	  Where it is enforced: ff_core_lock and ff_core_lock_many (another
 *	  tenant's execution reads as not found, and is checked before it is
 *	  locked), creation of executions and flows, the flow lock, claim_next's
 *	  candidates, budgets, quotas and the worker registry, the stream
 *	  readers, and the read models (ff.visible_execution, ff.visible_flow).
 *
 * IDENTIFICATION
 *	  src/core_tenant.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "core_ids.h"
#include "core_spi.h"
#include "core_tenant.h"
#include "core_validate.h"

PG_FUNCTION_INFO_V1(ff_namespaces_sql);

bool		ff_require_namespace_binding = false;

/* The caller's namespaces, kept for one statement of one transaction. */
static LocalTransactionId cached_lxid = InvalidLocalTransactionId;
static TimestampTz cached_stmt = 0;
static Oid	cached_user = InvalidOid;
static bool cached_restricted;
static int	cached_n;
static char **cached_list;

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
 * The bindings that apply to a role: its own and those of every role it is
 * a member of (directly or not, with or without INHERIT: a member can SET
 * ROLE to the bound role anyway).  Matched by OID, so renaming a role
 * neither frees nor moves it.
 */
static FFPlan plan_bindings = {
	"SELECT DISTINCT n FROM ff.namespace_binding b "
	"LEFT JOIN LATERAL pg_catalog.unnest(b.namespaces) AS n ON true "
	"WHERE pg_catalog.pg_has_role($1, b.role::oid, 'MEMBER') ORDER BY n",
	1, {OIDOID}
};

/*
 * ff_tenant_namespaces
 *		The caller's namespaces: false when unrestricted, else true with the
 *		list (possibly empty: a bound role whose every namespace was revoked
 *		sees nothing, it does not fall back to everything).  Read once per
 *		statement, so a binding changed by an administrator applies to the
 *		caller's next statement.  SPI must be connected.
 */
bool
ff_tenant_namespaces(char ***list, int *n)
{
	Oid			caller = GetOuterUserId();
	TimestampTz stmt = GetCurrentStatementStartTimestamp();

	if (cached_lxid != MyProc->lxid || cached_user != caller || cached_stmt != stmt)
	{
		MemoryContext old;
		uint64		i,
					rows = 0;
		int			k = 0;

		cached_restricted = false;
		if (!ff_caller_is_admin())
		{
			Datum		v[1];

			v[0] = ObjectIdGetDatum(caller);
			rows = ff_plan_exec(&plan_bindings, v, NULL, 0);
			cached_restricted = rows > 0 || ff_require_namespace_binding;
		}
		old = MemoryContextSwitchTo(TopTransactionContext);
		cached_list = palloc(sizeof(char *) * Max(rows, 1));
		for (i = 0; i < rows; i++)
		{
			char	   *ns = ff_col_text((int) i, 1);

			/* a binding with no namespace left contributes a NULL row */
			if (ns != NULL)
				cached_list[k++] = pstrdup(ns);
		}
		MemoryContextSwitchTo(old);
		cached_n = k;
		cached_lxid = MyProc->lxid;
		cached_user = caller;
		cached_stmt = stmt;
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

static FFPlan plan_flow_namespace = {
	"SELECT namespace FROM ff.flow WHERE partition = $1 AND flow_id = $2",
	2, {INT2OID, UUIDOID}
};

/*
 * Whether the caller may see the flow: read without a lock, before the
 * flow row is locked (a flow's namespace never changes).  An absent flow
 * has nothing to hide.
 */
bool
ff_flow_visible(int partition, const pg_uuid_t *flow)
{
	char	  **list;
	int			n;
	Datum		v[2];

	if (!ff_tenant_namespaces(&list, &n))
		return true;
	v[0] = Int16GetDatum((int16) partition);
	v[1] = UUIDPGetDatum(flow);
	if (ff_plan_exec(&plan_flow_namespace, v, NULL, 1) == 0)
		return true;
	return ff_namespace_allowed(ff_col_text(0, 1));
}

/* ---- tenant-private completion channels ---- */

static FFPlan plan_channel_key = {
	"SELECT secret FROM ff.channel_key",
	0, {InvalidOid}
};

static KeptTable key_table = FF_KEPT_TABLE("channel_key");
static bool channel_key_loaded = false;
static uint8 channel_key[64];
static int	channel_keylen = 0;

/*
 * The last namespace's channel, derived under the key loaded now: a worker
 * completes the executions of one namespace after another, and the HMAC
 * cost a completion ~3 % of its instructions.
 */
static char *last_channel_ns = NULL;
static char last_channel[14 + 32 + 1];

/*
 * ff_completion_channel_key_load
 *		Read the channel key once per backend, and again after a write to
 *		ff.channel_key (a kept table, core_spi.h: a restore replaces it).
 *		It runs a query, so call it before reading another statement's
 *		results: ff_completion_emit does, before the event is written, so
 *		announcing the event never has to.
 */
void
ff_completion_channel_key_load(void)
{
	bool		isnull;
	bytea	   *k;

	if (ff_kept_fresh(&key_table))
		return;
	ff_kept_reading(&key_table);
	if (ff_plan_exec(&plan_channel_key, NULL, NULL, 1) != 1)
		elog(ERROR, "ff.channel_key is empty");
	k = DatumGetByteaPP(ff_col_datum(0, 1, &isnull));
	channel_keylen = Min(VARSIZE_ANY_EXHDR(k), (int) sizeof(channel_key));
	memcpy(channel_key, VARDATA_ANY(k), channel_keylen);
	ff_kept_read(&key_table);
	channel_key_loaded = true;
	if (last_channel_ns != NULL)
		pfree(last_channel_ns);
	last_channel_ns = NULL;
}

/*
 * keyed_channel
 *		prefix followed by 32 hex digits of HMAC-SHA256(channel key, domain
 *		|| ns).  A namespace is text, which holds no NUL byte: a domain that
 *		starts with one keeps each kind of channel apart from the others.
 */
static char *
keyed_channel(const char *prefix, const char *domain, size_t domainlen, const char *ns)
{
	uint8		mac[PG_SHA256_DIGEST_LENGTH];
	pg_hmac_ctx *ctx;
	size_t		plen = strlen(prefix);
	char	   *out;
	int			i;

	if (!channel_key_loaded)
		elog(ERROR, "the channel key is not loaded");
	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL || pg_hmac_init(ctx, channel_key, channel_keylen) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) domain, domainlen) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) ns, strlen(ns)) < 0 ||
		pg_hmac_final(ctx, mac, sizeof(mac)) < 0)
		elog(ERROR, "could not derive a channel name: %s", pg_hmac_error(ctx));
	pg_hmac_free(ctx);
	out = palloc(plen + 32 + 1);
	memcpy(out, prefix, plen);
	for (i = 0; i < 16; i++)
		sprintf(out + plen + 2 * i, "%02x", mac[i]);
	return out;
}

/*
 * ff_completion_channel
 *		The NOTIFY channel of a namespace's completions:
 *		ff_completion_<32 hex digits of HMAC-SHA256(channel key, namespace)>.
 *		PostgreSQL lets every role LISTEN on every channel, so a channel
 *		is private only while its name is: the key never leaves the
 *		database, and ff.completion_channel tells a role the names of its
 *		own namespaces only.  Needs ff_completion_channel_key_load first.
 */
char *
ff_completion_channel(const char *ns)
{
	char	   *out;

	if (last_channel_ns != NULL && strcmp(last_channel_ns, ns) == 0)
		return pstrdup(last_channel);
	out = keyed_channel("ff_completion_", "", 0, ns);
	{
		/* copied before the old one goes: never left pointing at freed memory */
		char	   *copy = MemoryContextStrdup(TopMemoryContext, ns);

		if (last_channel_ns != NULL)
			pfree(last_channel_ns);
		last_channel_ns = copy;
	}
	memcpy(last_channel, out, sizeof(last_channel));
	return out;
}

/*
 * ff_lease_channel
 *		The NOTIFY channel on which a namespace's workers hear that a lease
 *		they hold was lost: ff_lease_<32 hex digits of the HMAC of a NUL,
 *		"lease", a NUL and the namespace>, private as completion channels
 *		are.  Needs ff_completion_channel_key_load first.
 */
char *
ff_lease_channel(const char *ns)
{
	static const char domain[] = "\0lease\0";

	return keyed_channel("ff_lease_", domain, sizeof(domain) - 1, ns);
}

/*
 * The channel derive names for the namespace argument, told only to a
 * caller bound to that namespace.
 */
static Datum
channel_for_caller(FunctionCallInfo fcinfo, char *(*derive) (const char *ns))
{
	char	   *ns = ff_arg_text(fcinfo, 0, "namespace");
	char	   *channel;

	ff_check_max_len(ns, FF_MAX_ID_BYTES, "namespace");
	ff_spi_connect();
	ff_namespace_require(ns);
	ff_completion_channel_key_load();
	channel = derive(ns);
	/* channel lives in SPI's context: copied out before it goes */
	return ff_spi_finish_datum(CStringGetTextDatum(channel));
}

PG_FUNCTION_INFO_V1(ff_completion_channel_sql);

/* ff.completion_channel(namespace) -> text: for the caller's namespaces only. */
Datum
ff_completion_channel_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(channel_for_caller(fcinfo, ff_completion_channel));
}

PG_FUNCTION_INFO_V1(ff_lease_channel_sql);

/* ff.lease_channel(namespace) -> text: for the caller's namespaces only. */
Datum
ff_lease_channel_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(channel_for_caller(fcinfo, ff_lease_channel));
}
