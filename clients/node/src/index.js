// ff_engine for Node: a client that works in your transaction, and a worker runtime.
export { FfError, Permanent, Retryable } from './errors.js';
export {
  enqueue, enqueueMany, createFlow, addDependency, cancelFlow, cancel, deliverSignal,
  getState, getResult, waitForResult, encodePayload, decodePayload, TERMINAL_STATES,
} from './client.js';
export { Worker, Job, jsonLogger } from './worker.js';
