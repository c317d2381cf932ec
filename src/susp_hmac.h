/*-------------------------------------------------------------------------
 *
 * susp_hmac.h
 *	  Minting and verifying waitpoint tokens (behaviour/suspension §5).
 *
 * IDENTIFICATION
 *	  src/susp_hmac.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_WAITPOINT_HMAC_H
#define FF_ENGINE_WAITPOINT_HMAC_H

/* Both return NULL on success, else the spec's error code. */
extern const char *ff_token_mint(const char *waitpoint_id, const char *key,
								 int64 created_at, char **token);
extern const char *ff_token_verify(const char *token, const char *minted_token,
								   const char *waitpoint_id, const char *key,
								   int64 created_at, int64 now);

#endif							/* FF_ENGINE_WAITPOINT_HMAC_H */
