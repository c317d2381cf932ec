/*-------------------------------------------------------------------------
 *
 * susp_hmac.c
 *	  Waitpoint tokens (behaviour/suspension §5): "kid:<40 hex>" where the
 *	  digest is HMAC-SHA1(secret of kid, waitpoint_id "|" key "|" created_at).
 *	  The keystore is ff.waitpoint_hmac_key, read through SPI inside the
 *	  caller's transaction, so a concurrent rotation is seen whole or not at
 *	  all.  HMAC comes from the server's common/hmac (no pgcrypto); digests
 *	  are compared in constant time; secrets are zeroed after use and never
 *	  logged.  A waitpoint's token verifies only under the kid it was minted
 *	  with (the kid of the token stored on the waitpoint).
 *
 * IDENTIFICATION
 *	  src/susp_hmac.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hmac.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "core_spi.h"
#include "susp_hmac.h"

PG_FUNCTION_INFO_V1(ff_hmac_sha1_hex_sql);
PG_FUNCTION_INFO_V1(ff_random_secret_sql);

#define SHA1_LEN 20

/* HMAC-SHA1 of msg under key, as 40 lower-case hex characters + NUL. */
static void
hmac_sha1_hex(const uint8 *key, size_t keylen, const char *msg, size_t msglen, char *out)
{
	static const char hex[] = "0123456789abcdef";
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA1);
	uint8		mac[SHA1_LEN];
	int			i;

	if (ctx == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	if (pg_hmac_init(ctx, key, keylen) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) msg, msglen) < 0 ||
		pg_hmac_final(ctx, mac, sizeof(mac)) < 0)
	{
		const char *why = pstrdup(pg_hmac_error(ctx));

		pg_hmac_free(ctx);
		elog(ERROR, "HMAC-SHA1 failed: %s", why);
	}
	pg_hmac_free(ctx);
	for (i = 0; i < SHA1_LEN; i++)
	{
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 15];
	}
	out[2 * SHA1_LEN] = '\0';
	explicit_bzero(mac, sizeof(mac));
}

/* Constant time: no early exit on the first differing byte. */
static bool
digest_equal(const char *a, const char *b, size_t len)
{
	volatile unsigned char acc = 0;
	size_t		i;

	for (i = 0; i < len; i++)
		acc |= (unsigned char) a[i] ^ (unsigned char) b[i];
	return acc == 0;
}

static char *
token_message(const char *waitpoint_id, const char *key, int64 created_at)
{
	return psprintf("%s|%s|" INT64_FORMAT, waitpoint_id, key, created_at);
}

static FFPlan plan_current_key = {
	"SELECT kid, secret FROM ff.waitpoint_hmac_key WHERE is_current", 0, {0}
};
static FFPlan plan_key = {
	"SELECT secret, is_current, expires_at, "
	"EXISTS (SELECT 1 FROM ff.waitpoint_hmac_key WHERE is_current) "
	"FROM ff.waitpoint_hmac_key WHERE kid = $1",
	1, {TEXTOID}
};
static FFPlan plan_any_current = {
	"SELECT 1 FROM ff.waitpoint_hmac_key WHERE is_current", 0, {0}
};

/* The bytes of a bytea column of the last SPI result, copied. */
static bytea *
col_bytea(int row, int col)
{
	bool		isnull;
	Datum		d = ff_col_datum(row, col, &isnull);

	return isnull ? NULL : DatumGetByteaPCopy(d);
}

static char *
sign(bytea *secret, const char *message)
{
	char	   *out = palloc(2 * SHA1_LEN + 1);

	hmac_sha1_hex((const uint8 *) VARDATA_ANY(secret), VARSIZE_ANY_EXHDR(secret),
				  message, strlen(message), out);
	explicit_bzero(VARDATA_ANY(secret), VARSIZE_ANY_EXHDR(secret));
	return out;
}

/*
 * ff_token_mint (behaviour/suspension §5.5)
 *		NULL and *token set on success; otherwise the error code.  An empty
 *		stored secret is the bytea keystore's "invalid hex" (a secret that
 *		cannot key an HMAC).
 */
const char *
ff_token_mint(const char *waitpoint_id, const char *key, int64 created_at, char **token)
{
	char	   *kid;
	bytea	   *secret;

	if (ff_plan_exec(&plan_current_key, NULL, NULL, 1) == 0)
		return "hmac_secret_not_initialized";
	kid = ff_col_text(0, 1);
	secret = col_bytea(0, 2);
	if (secret == NULL)
		return "hmac_secret_not_initialized";
	if (VARSIZE_ANY_EXHDR(secret) == 0)
		return "invalid_secret";
	*token = psprintf("%s:%s", kid, sign(secret, token_message(waitpoint_id, key, created_at)));
	return NULL;
}

/*
 * The kid of a token as minted ("kid:digest"), or NULL when it has none.
 */
static char *
token_kid(const char *token)
{
	const char *colon = token ? strchr(token, ':') : NULL;

	return (colon == NULL || colon == token) ? NULL : pnstrdup(token, colon - token);
}

/*
 * ff_token_verify (behaviour/suspension §5.6), in the spec's order of precedence.  NULL when
 * the token is good, otherwise the error code.
 *
 * minted_token is the token stored with the waitpoint when it was minted:
 * only its kid may verify.  Trusting the kid named in the presented token
 * would let a MAC under any kid in grace open the waitpoint, so during a
 * rotation a MAC under the new key would open waitpoints minted under the
 * old one.  A token naming another kid is treated like an unknown kid.
 */
const char *
ff_token_verify(const char *token, const char *minted_token, const char *waitpoint_id,
				const char *key, int64 created_at, int64 now)
{
	const char *colon;
	char	   *kid;
	char	   *minted_kid = token_kid(minted_token);
	char	   *expected;
	bytea	   *secret;
	Datum		v[1];
	bool		ok;

	if (token == NULL || token[0] == '\0')
		return "missing_token";
	colon = strchr(token, ':');
	if (colon == NULL || colon == token || colon[1] == '\0')
		return "invalid_token";
	if (strlen(colon + 1) != 2 * SHA1_LEN)
		return "invalid_token";
	kid = pnstrdup(token, colon - token);
	v[0] = CStringGetTextDatum(kid);
	if (minted_kid == NULL || strcmp(kid, minted_kid) != 0 ||
		ff_plan_exec(&plan_key, v, NULL, 1) == 0)
	{
		/* unknown kid; an empty keystore takes precedence */
		if (ff_plan_exec(&plan_any_current, NULL, NULL, 1) == 0)
			return "hmac_secret_not_initialized";
		return "invalid_token";
	}
	if (!ff_col_bool(0, 4))
		return "hmac_secret_not_initialized";
	if (!ff_col_bool(0, 2))
	{
		int64		expires = ff_col_int64(0, 3, 0);

		if (expires <= 0 || expires < now)
			return "token_expired";
	}
	secret = col_bytea(0, 1);
	if (secret == NULL)
		return "invalid_token";
	if (VARSIZE_ANY_EXHDR(secret) == 0)
		return "invalid_secret";
	expected = sign(secret, token_message(waitpoint_id, key, created_at));
	ok = digest_equal(expected, colon + 1, 2 * SHA1_LEN);
	explicit_bzero(expected, 2 * SHA1_LEN);
	return ok ? NULL : "invalid_token";
}

/*
 * ff._hmac_sha1_hex(key bytea, message bytea) -> text
 *		The primitive, for the behaviour/suspension §5.9 test vectors.
 */
Datum
ff_hmac_sha1_hex_sql(PG_FUNCTION_ARGS)
{
	bytea	   *key = PG_GETARG_BYTEA_PP(0);
	bytea	   *msg = PG_GETARG_BYTEA_PP(1);
	char		out[2 * SHA1_LEN + 1];

	hmac_sha1_hex((const uint8 *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key),
				  VARDATA_ANY(msg), VARSIZE_ANY_EXHDR(msg), out);
	PG_RETURN_TEXT_P(cstring_to_text(out));
}

/* ff._random_secret() -> 32 bytes from the server's strong random source. */
Datum
ff_random_secret_sql(PG_FUNCTION_ARGS)
{
	bytea	   *b = palloc(VARHDRSZ + 32);

	SET_VARSIZE(b, VARHDRSZ + 32);
	if (!pg_strong_random(VARDATA(b), 32))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random waitpoint secret")));
	PG_RETURN_BYTEA_P(b);
}
