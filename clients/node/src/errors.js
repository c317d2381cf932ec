// Errors of the ff_engine client and worker.

/**
 * Every error the package raises: a refused call (`code` = the envelope's
 * error, e.g. "execution_not_found"), a database error (`sqlstate`, e.g.
 * "22023"), a wrong argument caught before any query (`code`
 * "invalid_argument"), or a wait that timed out (`code` "timeout").
 */
export class FfError extends Error {
  constructor(message, { code, sqlstate, envelope, cause } = {}) {
    super(message, cause ? { cause } : undefined);
    this.name = 'FfError';
    this.code = code ?? (sqlstate ? 'sql_error' : 'error');
    if (sqlstate) this.sqlstate = sqlstate;
    if (envelope) this.envelope = envelope;
  }
}

/**
 * Thrown by a handler: fail the execution with no retry (failure category
 * "permanent", which the engine never retries).
 */
export class Permanent extends Error {
  constructor(message, { cause } = {}) {
    super(message, cause ? { cause } : undefined);
    this.name = 'Permanent';
    this.category = 'permanent';
  }
}

/** Thrown by a handler: fail the attempt, retried as the execution's retry policy allows (any other error does the same). */
export class Retryable extends Error {
  constructor(message, { category = 'transient', cause } = {}) {
    super(message, cause ? { cause } : undefined);
    this.name = 'Retryable';
    this.category = category;
  }
}

export function argError(message) {
  return new FfError(message, { code: 'invalid_argument' });
}

// A pg error (it has a SQLSTATE in .code) becomes an FfError carrying it.
export function wrapDbError(err) {
  if (err instanceof FfError) return err;
  if (err && typeof err.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code)) {
    return new FfError(err.message, { sqlstate: err.code, cause: err });
  }
  return err;
}

// An envelope {"ok": false, "error": ...} becomes an FfError; ok ones pass.
export function checkEnvelope(env, what) {
  if (env && env.ok === false) {
    const detail = env.detail ? ` (${env.detail})` : '';
    throw new FfError(`${what}: ${env.error}${detail}`, { code: env.error, envelope: env });
  }
  return env;
}
