/*-------------------------------------------------------------------------
 *
 * core_partition.c
 *	  The partition configuration row and the partitioners of behaviour/execution §1,
 *	  and the SQL helpers that mint execution ids (ids themselves are
 *	  core_ids.c, which this file calls).
 *
 *	  The counts can only change while no execution exists
 *	  (ff.set_partition_config), because an execution's partition is baked
 *	  into its id for good.  A backend keeps them (a kept table, core_spi.h)
 *	  until the table's trigger invalidates them: reading them once per
 *	  transaction cost a create called alone a tenth of its instructions.
 *
 * IDENTIFICATION
 *	  src/core_partition.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "core_ids.h"
#include "core_partition.h"
#include "core_spi.h"
#include "core_validate.h"

PG_FUNCTION_INFO_V1(ff_set_partition_config);
PG_FUNCTION_INFO_V1(ff_execution_id_sql);
PG_FUNCTION_INFO_V1(ff_flow_member_execution_id_sql);
PG_FUNCTION_INFO_V1(ff_solo_partition_sql);
PG_FUNCTION_INFO_V1(ff_flow_partition_sql);
PG_FUNCTION_INFO_V1(ff_budget_partition_sql);
PG_FUNCTION_INFO_V1(ff_quota_partition_sql);

static int	cached_counts[3];
static KeptTable config = FF_KEPT_TABLE("partition_config");

static FFPlan plan_read_config = {
	"SELECT num_flow_partitions, num_budget_partitions, num_quota_partitions "
	"FROM ff.partition_config", 0, {0}
};

static void
load_counts(void)
{
	if (ff_kept_fresh(&config))
		return;
	ff_kept_reading(&config);
	ff_spi_connect();
	if (ff_plan_exec(&plan_read_config, NULL, NULL, 1) != 1)
		elog(ERROR, "ff.partition_config has no row");
	cached_counts[0] = (int) ff_col_int64(0, 1, 256);
	cached_counts[1] = (int) ff_col_int64(0, 2, 32);
	cached_counts[2] = (int) ff_col_int64(0, 3, 32);
	SPI_finish();
	ff_kept_read(&config);
}

int
ff_num_flow_partitions(void)
{
	load_counts();
	return cached_counts[0];
}

int
ff_num_budget_partitions(void)
{
	load_counts();
	return cached_counts[1];
}

int
ff_num_quota_partitions(void)
{
	load_counts();
	return cached_counts[2];
}

int
ff_solo_partition(text *lane_id)
{
	return ff_crc16((unsigned char *) VARDATA_ANY(lane_id),
					VARSIZE_ANY_EXHDR(lane_id)) % ff_num_flow_partitions();
}

int
ff_uuid_partition(const pg_uuid_t *u, int count)
{
	return ff_crc16(u->data, UUID_LEN) % count;
}

/* The partition of a flow and its members (RFC-011 co-location). */
int
ff_uuid_flow_partition(const pg_uuid_t *flow_id)
{
	return ff_uuid_partition(flow_id, ff_num_flow_partitions());
}

void
ff_check_lane_id(text *lane_id)
{
	const unsigned char *p = (const unsigned char *) VARDATA_ANY(lane_id);
	int			len = VARSIZE_ANY_EXHDR(lane_id);
	int			i;

	if (len < 1 || len > 64)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lane_id must be 1 to 64 bytes long, got %d", len)));
	for (i = 0; i < len; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("lane_id must be printable ASCII"),
					 errdetail("Byte %d is 0x%02x.", i, p[i])));
}

static FFPlan plan_count_executions = {
	"SELECT EXISTS (SELECT 1 FROM ff.execution)", 0, {0}
};
static FFPlan plan_write_config = {
	"UPDATE ff.partition_config SET num_flow_partitions = $1, "
	"num_budget_partitions = $2, num_quota_partitions = $3",
	3, {INT4OID, INT4OID, INT4OID}
};

/*
 * ff.set_partition_config(num_flow_partitions, num_budget_partitions,
 *						   num_quota_partitions) -> jsonb
 *		Changes the partition counts.  Refused (55000) once any execution
 *		exists with other counts: ids already minted carry their partition.
 */
Datum
ff_set_partition_config(PG_FUNCTION_ARGS)
{
	int			want[3];
	int			i;
	Datum		values[3];

	for (i = 0; i < 3; i++)
	{
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("partition counts must not be NULL")));
		want[i] = PG_GETARG_INT32(i);
		if (want[i] < 1 || want[i] > 32768)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("partition counts must be between 1 and 32768, got %d", want[i])));
		values[i] = Int32GetDatum(want[i]);
	}
	load_counts();
	ff_spi_connect();
	if (want[0] != cached_counts[0] || want[1] != cached_counts[1] ||
		want[2] != cached_counts[2])
	{
		ff_plan_exec(&plan_count_executions, NULL, NULL, 1);
		if (ff_col_bool(0, 1))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot change the partition configuration while executions exist"),
					 errdetail("Configured %d/%d/%d, requested %d/%d/%d.",
							   cached_counts[0], cached_counts[1], cached_counts[2],
							   want[0], want[1], want[2]),
					 errhint("Execution ids carry their partition; keep the existing counts.")));
		ff_plan_exec(&plan_write_config, values, NULL, 0);
		ff_kept_forget(&config);
	}
	SPI_finish();
	PG_RETURN_BOOL(true);
}

/* ---- SQL helpers: partitions and minting ids ---- */

/* ff.solo_partition(lane_id text) -> smallint */
Datum
ff_solo_partition_sql(PG_FUNCTION_ARGS)
{
	text	   *lane = PG_GETARG_TEXT_PP(0);

	ff_check_lane_id(lane);
	PG_RETURN_INT16(ff_solo_partition(lane));
}

/* ff.flow_partition(flow_id uuid) -> smallint */
Datum
ff_flow_partition_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT16(ff_uuid_partition(PG_GETARG_UUID_P(0), ff_num_flow_partitions()));
}

/* ff.budget_partition(budget_id uuid) -> smallint */
Datum
ff_budget_partition_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT16(ff_uuid_partition(PG_GETARG_UUID_P(0), ff_num_budget_partitions()));
}

/* ff.quota_partition(quota_policy_id uuid) -> smallint */
Datum
ff_quota_partition_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT16(ff_uuid_partition(PG_GETARG_UUID_P(0), ff_num_quota_partitions()));
}

/* ff.execution_id(lane_id text DEFAULT 'default') -> text: a fresh solo id */
Datum
ff_execution_id_sql(PG_FUNCTION_ARGS)
{
	text	   *lane = PG_GETARG_TEXT_PP(0);
	pg_uuid_t	u;

	ff_check_lane_id(lane);
	ff_mint_uuid_v7(&u);
	PG_RETURN_TEXT_P(cstring_to_text(ff_format_exec_id(ff_solo_partition(lane), &u)));
}

/* ff.flow_member_execution_id(flow_id uuid) -> text: co-located with the flow */
Datum
ff_flow_member_execution_id_sql(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *flow = PG_GETARG_UUID_P(0);
	pg_uuid_t	u;

	ff_mint_uuid_v7(&u);
	PG_RETURN_TEXT_P(cstring_to_text(ff_format_exec_id(ff_uuid_partition(flow, ff_num_flow_partitions()), &u)));
}
