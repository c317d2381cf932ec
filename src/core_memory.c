/*-------------------------------------------------------------------------
 *
 * core_memory.c
 *	  ff_engine.keep_freed_memory: how much freed memory a backend running
 *	  the engine's functions keeps for its next call.
 *
 *	  A batch claim or completion allocates and frees a few megabytes.
 *	  glibc's malloc gives freed memory at the top of its heap back to the
 *	  kernel once it exceeds its trim threshold, and serves blocks above its
 *	  mmap threshold with mappings of their own, unmapped when freed; both
 *	  start at 128 kB.  The next call then takes the same pages again, one
 *	  page fault each, zeroed by the kernel: on the benchmark machine
 *	  40 % of the server's CPU in a drain (doc/decisions.md, "Freed memory
 *	  kept").  glibc raises both thresholds by itself when a mapped block is
 *	  freed (the mmap threshold to that block's size, the trim threshold to
 *	  twice it, up to 32 MB and 64 MB), but only after a large enough block
 *	  came and went.  A backend's first call here makes that happen at once:
 *	  it maps and frees one block of half the setting.  glibc keeps adjusting
 *	  from there as it would have (mallopt would pin the thresholds and stop
 *	  that); a threshold an administrator pinned (MALLOC_MMAP_THRESHOLD_,
 *	  glibc.malloc tunables) stays as pinned.  Other C libraries are left
 *	  alone.
 *
 * IDENTIFICATION
 *	  src/core_memory.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core_memory.h"

int			ff_keep_freed_memory_kb = 8192;

/* the largest setting this backend has acted on (thresholds only rise) */
static int	applied_kb = 0;

/*
 * ff_memory_keep
 *		Raises glibc's thresholds when the setting is above what this
 *		backend has acted on (an integer compare per call otherwise):
 *		mapping and freeing one block of half the setting leaves blocks up
 *		to that size served from the heap and freed memory up to the
 *		setting kept.  Lowering the setting takes effect in new sessions.
 */
void
ff_memory_keep(void)
{
	if (likely(ff_keep_freed_memory_kb <= applied_kb))
		return;
#ifdef __GLIBC__
	{
		/* a block above 32 MB would not move glibc's threshold (64-bit) */
		size_t		block = Min((size_t) ff_keep_freed_memory_kb * 512,
								(size_t) 32 * 1024 * 1024 - 64 * 1024);
		/* volatile: the compiler may not drop the pair as unused */
		void	   *volatile p = malloc(block);

		free(p);
	}
#endif
	applied_kb = ff_keep_freed_memory_kb;
}
