/*-------------------------------------------------------------------------
 *
 * core_ids.c
 *	  Execution ids and hashing (behaviour/execution §1): parsing and
 *	  formatting ids, CRC-16 and FNV-1a, minting UUIDs.  Partitions and
 *	  minting whole execution ids are core_partition.c, which calls this
 *	  file (never the other way).
 *
 *	  An execution id is "{fp:N}:<uuid>".  N is the partition, baked in
 *	  when the id is minted: crc16(lane) mod num_flow_partitions for a
 *	  solo execution, crc16(flow uuid bytes) mod num_flow_partitions for a
 *	  flow member.  Parsing never checks N against the partition count.
 *
 * IDENTIFICATION
 *	  src/core_ids.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "core_ids.h"

PG_FUNCTION_INFO_V1(ff_crc16_sql);
PG_FUNCTION_INFO_V1(ff_parse_execution_id_sql);
PG_FUNCTION_INFO_V1(ff_format_execution_id_sql);

/*
 * ff_crc16
 *		CRC-16/XMODEM: polynomial 0x1021, init 0, no reflection, no final
 *		XOR.  crc16("123456789") = 0x31C3.
 */
uint16
ff_crc16(const unsigned char *data, size_t len)
{
	uint16		crc = 0;
	size_t		i;
	int			b;

	for (i = 0; i < len; i++)
	{
		if ((i & 0xFFFFF) == 0)
			CHECK_FOR_INTERRUPTS();	/* ff.crc16 takes any bytea */
		crc ^= (uint16) data[i] << 8;
		for (b = 0; b < 8; b++)
			crc = (crc & 0x8000) ? (uint16) ((crc << 1) ^ 0x1021) : (uint16) (crc << 1);
	}
	return crc;
}

/* FNV-1a 64: used only for non-routing purposes (scan-start jitter). */
uint64
ff_fnv1a64(const unsigned char *data, size_t len)
{
	uint64		h = UINT64CONST(0xcbf29ce484222325);
	size_t		i;

	for (i = 0; i < len; i++)
	{
		h ^= data[i];
		h *= UINT64CONST(0x100000001b3);
	}
	return h;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * ff_parse_uuid
 *		Canonical hyphenated UUID (8-4-4-4-12 hex digits, any case).
 */
bool
ff_parse_uuid(const char *s, size_t len, pg_uuid_t *out)
{
	int			i,
				j = 0;

	if (len != 36)
		return false;
	for (i = 0; i < 36;)
	{
		int			hi,
					lo;

		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (s[i] != '-')
				return false;
			i++;
			continue;
		}
		hi = hexval(s[i]);
		lo = hexval(s[i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out->data[j++] = (unsigned char) ((hi << 4) | lo);
		i += 2;
	}
	return true;
}

void
ff_format_uuid(const pg_uuid_t *u, char *buf)
{
	static const char hex[] = "0123456789abcdef";
	int			i,
				p = 0;

	for (i = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			buf[p++] = '-';
		buf[p++] = hex[u->data[i] >> 4];
		buf[p++] = hex[u->data[i] & 0x0f];
	}
	buf[p] = '\0';
}

int
ff_exec_id_cmp(const void *a, const void *b)
{
	const ExecId *x = a,
			   *y = b;

	if (x->partition != y->partition)
		return x->partition < y->partition ? -1 : 1;
	return memcmp(x->uuid.data, y->uuid.data, UUID_LEN);
}

/*
 * ff_parse_exec_id
 *		"{fp:N}:<uuid>" with N a decimal 0..65535 (no sign, no blanks).
 */
bool
ff_parse_exec_id(const char *s, ExecId *out)
{
	const char *p;
	long		n = 0;
	int			digits = 0;

	if (strncmp(s, "{fp:", 4) != 0)
		return false;
	for (p = s + 4; *p >= '0' && *p <= '9'; p++)
	{
		n = n * 10 + (*p - '0');
		if (++digits > 5)
			return false;
	}
	if (digits == 0 || n > 65535 || p[0] != '}' || p[1] != ':')
		return false;
	p += 2;
	if (!ff_parse_uuid(p, strlen(p), &out->uuid))
		return false;
	out->partition = (int) n;
	return true;
}

char *
ff_format_exec_id(int partition, const pg_uuid_t *u)
{
	/* "{fp:" partition "}:" uuid, without psprintf's format parsing (a job formats three) */
	char	   *out = palloc(4 + 11 + 2 + 37);
	int			len;

	memcpy(out, "{fp:", 4);
	len = 4 + pg_ltoa(partition, out + 4);
	out[len++] = '}';
	out[len++] = ':';
	ff_format_uuid(u, out + len);
	return out;
}

/*
 * Bytes from the strong random source, drawn a block at a time: a call of
 * pg_strong_random for each UUID cost a claim 3-5 % of its instructions
 * (the source's set-up per call).  The block belongs to the process that
 * drew it, so a forked child never hands out its parent's bytes, and each
 * byte is wiped as it is handed out.
 */
static void
strong_random(uint8 *out, int n)
{
	static uint8 block[1024];
	static int	used = sizeof(block);
	static int	owner = 0;

	Assert(n <= (int) sizeof(block));
	if (owner != MyProcPid || used + n > (int) sizeof(block))
	{
		if (!pg_strong_random(block, sizeof(block)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate a random UUID")));
		used = 0;
		owner = MyProcPid;
	}
	memcpy(out, block + used, n);
	memset(block + used, 0, n);
	used += n;
}

/* A version-4 UUID from the strong random source. */
void
ff_mint_uuid(pg_uuid_t *out)
{
	strong_random(out->data, UUID_LEN);
	out->data[6] = (out->data[6] & 0x0f) | 0x40;
	out->data[8] = (out->data[8] & 0x3f) | 0x80;
}

/*
 * A version-7 UUID (RFC 9562): the wall clock's Unix milliseconds in the
 * first 48 bits, a 12-bit counter (RFC 9562's method 1), then random bits.
 * Execution ids are minted so: the primary keys holding them grow at one
 * end instead of at random places (fewer pages touched per insert, measured
 * in doc/decisions.md), and the ids one backend mints sort in the order it
 * minted them.  The counter restarts at a random value below 2048 each
 * millisecond; one that runs out borrows the next millisecond.
 */
void
ff_mint_uuid_v7(pg_uuid_t *out)
{
	static uint64 last_ms = 0;
	static uint32 counter = 0;
	uint64		ms = (uint64) ((GetCurrentTimestamp() / 1000) +
							   (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000);
	int			i;

	ff_mint_uuid(out);
	if (ms > last_ms)
	{
		last_ms = ms;
		counter = ((uint32) out->data[6] << 8 | out->data[7]) & 0x7ff;
	}
	else if (++counter > 0xfff)
	{
		last_ms++;				/* the clock went back, or 4096 ids in one ms */
		counter = 0;
	}
	for (i = 0; i < 6; i++)
		out->data[i] = (uint8) (last_ms >> (40 - 8 * i));
	out->data[6] = (uint8) (0x70 | (counter >> 8));
	out->data[7] = (uint8) (counter & 0xff);
}

void
ff_exec_id_arrays(const ExecId *ids, int n, Datum *args)
{
	Datum	   *parts = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *uuids = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
	{
		parts[i] = Int16GetDatum((int16) ids[i].partition);
		uuids[i] = UUIDPGetDatum(&ids[i].uuid);
	}
	args[0] = PointerGetDatum(construct_array(parts, n, INT2OID, 2, true, TYPALIGN_SHORT));
	args[1] = PointerGetDatum(construct_array(uuids, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
}

ExecId
ff_arg_exec_id(FunctionCallInfo fcinfo, int n, const char *argname)
{
	ExecId		id;
	char	   *s;

	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", argname)));
	s = text_to_cstring(PG_GETARG_TEXT_PP(n));

	if (!ff_parse_exec_id(s, &id))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid execution id for \"%s\": \"%s\"", argname, s),
				 errhint("An execution id looks like {fp:N}:<uuid>; mint one with ff.execution_id(lane_id).")));
	return id;
}

/* ---- SQL helpers ---- */

/* ff.crc16(bytea) -> integer */
Datum
ff_crc16_sql(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);

	PG_RETURN_INT32(ff_crc16((unsigned char *) VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b)));
}

/* ff.parse_execution_id(text) -> (partition smallint, execution_uuid uuid) */
Datum
ff_parse_execution_id_sql(PG_FUNCTION_ARGS)
{
	ExecId		id = ff_arg_exec_id(fcinfo, 0, "execution_id");
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	*u = id.uuid;
	values[0] = Int16GetDatum((int16) id.partition);
	values[1] = UUIDPGetDatum(u);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/* ff.format_execution_id(partition smallint, execution_uuid uuid) -> text */
Datum
ff_format_execution_id_sql(PG_FUNCTION_ARGS)
{
	int			part = PG_GETARG_INT16(0);

	if (part < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("partition must be between 0 and 65535, got %d", part)));
	PG_RETURN_TEXT_P(cstring_to_text(ff_format_exec_id(part, PG_GETARG_UUID_P(1))));
}
