/*-------------------------------------------------------------------------
 *
 * core_memory.h
 *	  ff_engine.keep_freed_memory (core_memory.c).
 *
 * IDENTIFICATION
 *	  src/core_memory.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_CORE_MEMORY_H
#define FF_ENGINE_CORE_MEMORY_H

extern int	ff_keep_freed_memory_kb;

extern void ff_memory_keep(void);

#endif							/* FF_ENGINE_CORE_MEMORY_H */
