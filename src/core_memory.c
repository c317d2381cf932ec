/*-------------------------------------------------------------------------
 *
 * core_memory.c
 *	  ff_engine.keep_freed_memory: how much freed memory a backend running
 *	  the engine's functions keeps for its next call.
 *
 *	  A batch claim or completion allocates a few megabytes and frees them
 *	  when it returns.  glibc's malloc gives freed memory at the top of the
 *	  heap back to the kernel once it exceeds its trim threshold (128 kB at
 *	  first), and serves blocks above its mmap threshold with mappings of
 *	  their own, unmapped when freed.  The next call then takes the same
 *	  pages again, one page fault each, zeroed by the kernel: on the
 *	  benchmark machine a quarter of a batched drain's server CPU
 *	  (test/bench/README.md).  Raising both thresholds keeps those pages in
 *	  the process, which is what glibc's own adjustment converges to after
 *	  a large block has been freed (up to 32 MB mapped, twice that kept),
 *	  without starting low in every backend.  What a backend keeps is at
 *	  most what it used; other C libraries are left as they are.
 *
 * IDENTIFICATION
 *	  src/core_memory.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "core_memory.h"

int			ff_keep_freed_memory_kb = 8192;

/* the value this backend last gave malloc; -1: none yet */
static int	applied_kb = -1;

/*
 * ff_memory_keep
 *		Gives malloc the setting when it changed since this backend last
 *		did (an integer compare per call otherwise): freed memory up to the
 *		setting is kept, blocks above half of it are mapped apart.  Neither
 *		threshold goes below glibc's starting value, so 0 restores those
 *		(not glibc's later adjustment of them).
 */
void
ff_memory_keep(void)
{
	if (likely(applied_kb == ff_keep_freed_memory_kb))
		return;
#ifdef __GLIBC__
	{
		/* never below glibc's starting values (128 kB), which 0 restores */
		size_t		start = 128 * 1024;
		size_t		keep = Max((size_t) ff_keep_freed_memory_kb * 1024, start);
		/* glibc refuses a mapping threshold above 32 MB (64-bit) */
		size_t		map = Min(Max(keep / 2, start), (size_t) 32 * 1024 * 1024);

		mallopt(M_TRIM_THRESHOLD, (int) keep);	/* at most 1 GB: the setting's bound */
		mallopt(M_MMAP_THRESHOLD, (int) map);
	}
#endif
	applied_kb = ff_keep_freed_memory_kb;
}
