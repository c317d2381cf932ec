// Type declarations for ff-engine (written by hand; the package has no build step).
import type { EventEmitter } from 'node:events';
import type { Pool, PoolConfig } from 'pg';

/** Anything with pg's query(): a Client, a PoolClient or a Pool. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<{ rows: any[] }>;
}

export class FfError extends Error {
  /** The envelope's error ("execution_not_found", "stale_lease", ...), "invalid_argument", "timeout" or "sql_error". */
  code: string;
  /** The SQLSTATE of a database error ("22023", "42501", ...). */
  sqlstate?: string;
  /** The refused call's whole envelope. */
  envelope?: Record<string, unknown>;
}
/** Thrown by a handler: the execution fails with no retry (failure category "permanent"). */
export class Permanent extends Error {
  constructor(message: string, options?: { cause?: unknown });
  readonly category: 'permanent';
}
/**
 * Thrown by a handler: the attempt fails and is retried as the retry policy
 * allows (as any other error; category "transient" unless given; a policy's
 * retryable_categories, when set, retries only the categories it names).
 */
export class Retryable extends Error {
  constructor(message: string, options?: { category?: string; cause?: unknown });
  category: string;
}

export interface RetryOptions {
  maxRetries: number;
  /** exponential backoff: initialDelayMs * multiplier ^ retry, at most maxDelayMs (defaults 1000, 2, 60000) */
  initialDelayMs?: number;
  multiplier?: number;
  maxDelayMs?: number;
  /** fixed backoff instead */
  fixedDelayMs?: number;
}

export interface EnqueueOptions {
  /** an execution id {fp:N}:<uuid>; minted by the database when absent */
  id?: string;
  lane?: string;
  kind?: string;
  /** a Buffer travels as bytes, anything else as JSON */
  input?: unknown;
  /** 0..9000, higher first */
  priority?: number;
  /** claimable after this many ms (database clock) */
  delayMs?: number;
  /** claimable from this time (ms since the epoch or a Date) */
  runAt?: number | Date;
  idempotencyKey?: string;
  dedupTtlMs?: number;
  retry?: RetryOptions;
  /** {"app.key": "value"} */
  tags?: Record<string, string>;
  /** capabilities a worker must have to claim it */
  capabilities?: string[];
  namespace?: string;
  /** the execution expires this many ms from now */
  deadlineMs?: number;
  /** a flow id: the execution is minted in the flow's partition and added to it */
  flow?: string;
  creator?: string;
  /** extra engine policy keys (merged under retry and capabilities) */
  policy?: Record<string, unknown>;
}

export interface Enqueued {
  executionId: string;
  status: 'OK' | 'DUPLICATE';
  publicState: string | null;
  duplicate: boolean;
}

export interface ExecutionResult {
  executionId: string;
  state: string;
  outcome: string | null;
  terminal: boolean;
  /** the result decoded: JSON when it is JSON, else the Buffer; null when none */
  value: unknown;
  payload: Buffer | null;
  failureReason: string | null;
  namespace: string;
}

export const TERMINAL_STATES: string[];
export function encodePayload(v: unknown): Buffer | null;
export function decodePayload(b: Buffer | null): unknown;

export function enqueue(db: Queryable, options?: EnqueueOptions): Promise<Enqueued>;
export function enqueueMany(db: Queryable, items: EnqueueOptions[]): Promise<Enqueued[]>;
export function createFlow(db: Queryable, options?: { flowId?: string; kind?: string; namespace?: string }): Promise<string>;
export function addDependency(db: Queryable, flowId: string, upstreamId: string, downstreamId: string,
  options?: { dependencyKind?: string; dataPassingRef?: string }): Promise<Record<string, any>>;
export function cancelFlow(db: Queryable, flowId: string,
  options?: { reason?: string; policy?: 'cancel_all' | 'cancel_pending' | 'flow_only'; wait?: boolean }): Promise<Record<string, any>>;
export function cancel(db: Queryable, executionId: string, options?: { reason?: string }): Promise<Record<string, any>>;
export function deliverSignal(db: Queryable, options: {
  executionId: string; waitpointId: string; token: string; name: string; payload?: unknown;
  idempotencyKey?: string; sourceType?: string; sourceIdentity?: string;
}): Promise<{ signalId: string; effect: string; [k: string]: any }>;
export function getState(db: Queryable, executionId: string): Promise<Record<string, any> | null>;
export function getResult(db: Queryable, executionId: string): Promise<ExecutionResult | null>;
export function waitForResult(db: Queryable | Pool, executionId: string,
  options?: { timeoutMs?: number; pollMs?: number }): Promise<ExecutionResult>;

export interface Logger {
  /** the lowest level logged (jsonLogger has it); or isLevelEnabled (pino): per-job debug fields are built only when logged */
  level?: string;
  isLevelEnabled?(level: string): boolean;
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}
export function jsonLogger(level?: 'debug' | 'info' | 'warn' | 'error', stream?: NodeJS.WritableStream): Logger;

export interface Signal {
  signalId: string; name: string; value: unknown; payload: Buffer | null;
  category: string; sourceType: string; sourceIdentity: string; acceptedAt: number;
}

export class Job {
  readonly id: string;
  readonly kind: string;
  readonly namespace: string;
  readonly lane: string;
  readonly attempt: number;
  readonly attemptType: 'initial' | 'retry' | 'reclaim' | 'resumed' | 'replay' | string;
  /** true when this run continues an attempt after a delay or a suspension */
  readonly resumed: boolean;
  readonly payload: Buffer | null;
  /** the input decoded: JSON when it is JSON, else the Buffer; null when none */
  readonly input: any;
  /** aborted the moment the lease is lost, revoked, the execution cancelled or the worker hands it back */
  readonly signal: AbortSignal;
  readonly lost: string | null;
  readonly settled: null | 'delayed' | 'suspended' | 'handed_back';
  progress(pct: number, message?: string | null): Promise<Record<string, any>>;
  appendFrame(frameType: string, data: unknown, options?: { mode?: 'durable' | 'summary' | 'best_effort'; ttlMs?: number }): Promise<Record<string, any>>;
  delay(ms: number): Promise<Record<string, any>>;
  suspend(options?: {
    key?: string; signals?: string[]; timeoutMs?: number;
    onTimeout?: 'fail' | 'cancel' | 'expire' | 'auto_resume' | 'auto_resume_with_timeout_signal' | 'escalate';
    waitpointId?: string; reason?: string;
  }): Promise<{ alreadySatisfied: boolean; waitpointId: string; token?: string }>;
  signals(): Promise<Signal[]>;
}

export type Handler = (job: Job) => unknown | Promise<unknown>;

export interface WorkerOptions {
  /** a pg Pool (the worker holds up to four of its connections: give it at least five) */
  pool?: Pool;
  /** or a connection string / pg config: the worker makes its own pool */
  connection?: string | PoolConfig;
  lanes?: string[];
  /** by execution kind; '*' catches kinds without a handler */
  handlers?: Record<string, Handler>;
  /** handlers running at once (default 10) */
  concurrency?: number;
  /**
   * executions claimed ahead of free slots: they wait their turn under a
   * renewed lease, which makes claims fewer and larger for short jobs, but
   * other workers cannot take them meanwhile; handed back unstarted at stop.
   * 'auto' (default): what the slots start within ~50 ms at the handlers'
   * mean duration, at most 500, none before a handler has run; 0: none
   */
  prefetch?: number | 'auto';
  /**
   * ms a finished job's completion waits for others to share its commit
   * (one complete_executions, one WAL flush); default 5, 0: at once
   */
  completeDelayMs?: number;
  leaseTtlMs?: number;
  pollIntervalMs?: number;
  /** take over executions whose worker died (default true) */
  reclaim?: boolean;
  capabilities?: string[];
  /** namespaces whose lease channel is listened to from the start (leases lost: cancels, revokes, expiries); default ['default'] */
  namespaces?: string[];
  workerId?: string;
  instanceId?: string;
  shutdownTimeoutMs?: number;
  /** stop gracefully on SIGTERM / SIGINT (default true) */
  handleSignals?: boolean;
  logger?: Logger;
  poolSize?: number;
  attemptTimeoutMs?: number;
}

export type WorkerEvent = 'claimed' | 'started' | 'completed' | 'failed' | 'retried' | 'lease_lost' | 'refused' | 'handed_back' | 'stopped' | 'error';

export class Worker extends EventEmitter {
  constructor(options: WorkerOptions);
  readonly instanceId: string;
  readonly counters: Record<'claimed' | 'started' | 'completed' | 'failed' | 'retried' | 'lease_lost' | 'refused' | 'handed_back' | 'errors', number>;
  register(kind: string, handler: Handler): this;
  start(): Promise<this>;
  stop(options?: { timeoutMs?: number }): Promise<void>;
  on(event: WorkerEvent, listener: (fields: any) => void): this;
}
