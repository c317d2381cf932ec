/*-------------------------------------------------------------------------
 *
 * core_clock.h
 *	  Engine time: integer milliseconds since the Unix epoch.  Each
 *	  operation reads the clock once.  Tests pin it with the superuser-only
 *	  setting ff_engine.test_clock_ms.
 *
 * IDENTIFICATION
 *	  src/core_clock.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_CLOCK_H
#define FF_ENGINE_CLOCK_H

#include "utils/guc.h"

extern char *ff_test_clock_setting;

extern int64 ff_now_ms(void);
extern int64 ff_caller_now_ms(bool given, int64 now_ms);
extern bool ff_test_clock_check(char **newval, void **extra, GucSource source);
extern void ff_test_clock_assign(const char *newval, void *extra);

#endif							/* FF_ENGINE_CLOCK_H */
