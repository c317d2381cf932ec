/*-------------------------------------------------------------------------
 *
 * ff_engine.h
 *	  Settings shared by the subsystems, and the return helper every
 *	  SQL-callable operation ends with.
 *
 * IDENTIFICATION
 *	  src/ff_engine.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_FF_ENGINE_H
#define FF_ENGINE_FF_ENGINE_H

#include "utils/jsonb.h"

/* GUCs (ff_engine.c) */
extern int	ff_default_retention_s;
extern int	ff_retention_failed_s;
extern int	ff_retention_cancelled_s;
extern int	ff_max_payload_bytes;
extern int	ff_max_json_bytes;
extern int	ff_max_json_depth;
extern int	ff_max_frame_bytes;
extern int	ff_max_stream_frames;
extern int	ff_max_signals_per_execution;
extern bool ff_notify_completions;
extern bool ff_test_store_by_key;

/* ff_engine.completion_events: rows for flow members only, or for all */
#define FF_COMPLETION_EVENTS_FLOWS 0
#define FF_COMPLETION_EVENTS_ALL 1
extern int	ff_completion_events;
extern bool ff_notify_work;

/* Finish SPI and return the envelope built in *r (SPI must be connected). */
#define FF_RETURN_RESULT(r) \
	PG_RETURN_DATUM(ff_spi_finish_datum(JsonbPGetDatum(ffr_finish(r))))

/*
 * An SQL entry point that is one call of a shared implementation (its
 * variants differing by an argument), declared in one line.
 */
#define FF_SQL_ENTRY(fn, call) \
	Datum fn(PG_FUNCTION_ARGS) { return call; }

#endif							/* FF_ENGINE_FF_ENGINE_H */
