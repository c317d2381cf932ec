/*-------------------------------------------------------------------------
 *
 * core_ids.h
 *	  Identifiers and partitioning (behaviour/execution §1): execution ids
 *	  of the form {fp:N}:<uuid>, CRC-16/XMODEM partitioners, FNV-1a, and
 *	  caller-side minting of UUIDs.
 *
 * IDENTIFICATION
 *	  src/core_ids.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_IDS_H
#define FF_ENGINE_IDS_H

#include "fmgr.h"
#include "utils/uuid.h"

/* A parsed execution id: partition N and the UUID. */
typedef struct ExecId
{
	int			partition;
	pg_uuid_t	uuid;
} ExecId;

extern uint16 ff_crc16(const unsigned char *data, size_t len);
extern uint64 ff_fnv1a64(const unsigned char *data, size_t len);

extern bool ff_parse_uuid(const char *s, size_t len, pg_uuid_t *out);
extern void ff_format_uuid(const pg_uuid_t *u, char *buf);	/* buf >= 37 */
extern bool ff_parse_exec_id(const char *s, ExecId *out);
/* Order of (partition, execution_id), as the table's key sorts: a qsort comparator. */
extern int	ff_exec_id_cmp(const void *a, const void *b);

/*
 * An execution id with the position it came from, for sorting a batch into
 * its key order (qsort with ff_exec_id_cmp: the id is the first member)
 * while keeping track of each item.
 */
typedef struct ExecIdOrder
{
	ExecId		id;				/* first: sorted by ff_exec_id_cmp */
	int			pos;
} ExecIdOrder;
extern char *ff_format_exec_id(int partition, const pg_uuid_t *u);
extern void ff_mint_uuid(pg_uuid_t *out);
extern void ff_mint_uuid_v7(pg_uuid_t *out);

/*
 * n execution ids as a statement's $1 (smallint[]) and $2 (uuid[]), and the
 * condition that selects their rows by key with them.
 */
#define FF_EXEC_IDS_IN \
	"(partition, execution_id) IN (SELECT v.p, v.u FROM ROWS FROM " \
	"(pg_catalog.unnest($1), pg_catalog.unnest($2)) AS v(p, u))"
extern void ff_exec_id_arrays(const ExecId *ids, int n, Datum *args);

/* Parse an execution id argument: 22004 when NULL, 22P02 when malformed. */
extern ExecId ff_arg_exec_id(FunctionCallInfo fcinfo, int n, const char *argname);

#endif							/* FF_ENGINE_IDS_H */
