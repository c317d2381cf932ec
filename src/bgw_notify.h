/*-------------------------------------------------------------------------
 *
 * bgw_notify.h
 *	  Notifications sent after commit by the engine worker (see bgw_notify.c).
 *
 * IDENTIFICATION
 *	  src/bgw_notify.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef FF_ENGINE_NOTIFY_H
#define FF_ENGINE_NOTIFY_H

extern bool ff_notify_in_transaction;

extern void ff_notify_at_commit(const char *channel, const char *payload);
extern Size ff_notify_shmem_size(void);
extern void ff_notify_shmem_request(void);
extern void ff_notify_shmem_startup(void);
extern void ff_notify_ring_reset(int slot);
extern int	ff_notify_relay(int slot);

#endif							/* FF_ENGINE_NOTIFY_H */
