/*-------------------------------------------------------------------------
 *
 * ffr.c
 *	  The router's two routing primitives, computed exactly as the shards
 *	  do (src/core_ids.c): CRC-16/XMODEM, and the partition N of an execution
 *	  id "{fp:N}:<uuid>".  Everything else of the router is SQL.
 *
 * IDENTIFICATION
 *	  router/ffr.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(ffr_crc16_sql);
PG_FUNCTION_INFO_V1(ffr_uuid_crc16_sql);
PG_FUNCTION_INFO_V1(ffr_partition_of_execution_sql);

/* CRC-16/XMODEM: polynomial 0x1021, init 0, no reflection, no final XOR. */
static uint16
ffr_crc16(const unsigned char *data, size_t len)
{
	uint16		crc = 0;
	size_t		i;
	int			b;

	for (i = 0; i < len; i++)
	{
		if ((i & 0xFFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		crc ^= (uint16) data[i] << 8;
		for (b = 0; b < 8; b++)
			crc = (crc & 0x8000) ? (uint16) ((crc << 1) ^ 0x1021) : (uint16) (crc << 1);
	}
	return crc;
}

/* ffr.crc16(bytea) -> integer */
Datum
ffr_crc16_sql(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);

	PG_RETURN_INT32(ffr_crc16((unsigned char *) VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b)));
}

/* ffr.uuid_crc16(uuid) -> integer: the hash of the 16 raw bytes */
Datum
ffr_uuid_crc16_sql(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *u = PG_GETARG_UUID_P(0);

	PG_RETURN_INT32(ffr_crc16(u->data, UUID_LEN));
}

static bool
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*
 * ffr.partition_of_execution(text) -> integer
 *		The N of "{fp:N}:<uuid>", with the engine's parse rules: N decimal
 *		0..65535, a canonical hyphenated uuid after "}:".  A malformed id is
 *		22P02 here, before any shard is asked.
 */
Datum
ffr_partition_of_execution_sql(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	long		n = 0;
	int			digits = 0;
	int			p,
				i;
	bool		good = len > 4 && strncmp(s, "{fp:", 4) == 0;

	for (p = 4; good && p < len && s[p] >= '0' && s[p] <= '9'; p++)
	{
		n = n * 10 + (s[p] - '0');
		if (++digits > 5)
			good = false;
	}
	if (good && (digits == 0 || n > 65535 || p + 2 > len || s[p] != '}' || s[p + 1] != ':'))
		good = false;
	if (good)
	{
		p += 2;
		if (len - p != 36)
			good = false;
		for (i = 0; good && i < 36; i++)
		{
			if (i == 8 || i == 13 || i == 18 || i == 23)
				good = s[p + i] == '-';
			else
				good = is_hex(s[p + i]);
		}
	}
	if (!good)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid execution id: \"%s\"", text_to_cstring(t)),
				 errhint("An execution id looks like {fp:N}:<uuid>; mint one with ff.execution_id(lane_id).")));
	PG_RETURN_INT32((int32) n);
}
