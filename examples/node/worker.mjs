// A worker of ten lines: node examples/node/worker.mjs (PG* env variables; SIGTERM stops it gracefully)
import { Worker, Permanent } from 'ff-engine';

const worker = new Worker({
  connection: process.env.DATABASE_URL ?? {}, lanes: ['emails'], concurrency: 10,
  handlers: {
    send_invoice: async (job) => {
      if (!job.input.to) throw new Permanent('no recipient');       // no retry
      await job.progress(50, 'rendering');
      return { sent: true, to: job.input.to };                      // stored as the result
    },
  },
});
await worker.start();
