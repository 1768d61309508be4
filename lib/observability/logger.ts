/**
 * The workers' logger: the Temporal Runtime's logger, so the SDK's own lines, those of the core
 * (forwarded), and those of workflow and activity code (`log` of @temporalio/workflow and
 * @temporalio/activity, which carry workflowId, runId, activityType, activityId, taskQueue and
 * mlo's `model`) all come out the same way: one JSON object per line on stdout
 * (`MLO_LOG_FORMAT=json`, the default), or one readable line (`text`).
 *
 * A JSON line: {"time":"…","level":"INFO","message":"…","pool":"gpu","model":"…","workflowId":"…",…}.
 * Values that are not JSON (errors, bigints) are written as strings; an error keeps its stack.
 */
import type { LogLevel, LogMetadata, Logger } from '@temporalio/common';
import type { LogFormat, LogLevelName } from './config';

const RANK: Record<LogLevel, number> = { TRACE: 0, DEBUG: 1, INFO: 2, WARN: 3, ERROR: 4 };

/** Nanoseconds since the epoch (the SDK's timestamp key), as the SDK logs them. */
const TIMESTAMP_KEY = '[TimeStamp]';

function jsonValue(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  return value;
}

export class WorkerLogger implements Logger {
  constructor(
    readonly format: LogFormat,
    readonly level: LogLevelName,
    /** Fields on every line, e.g. { pool: 'gpu' }. */
    readonly base: Record<string, unknown> = {},
    private readonly write: (line: string) => void = (line) => void process.stdout.write(`${line}\n`),
  ) {}

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    if (RANK[level] < RANK[this.level]) return;
    const { [TIMESTAMP_KEY]: ts, ...fields } = (meta ?? {}) as Record<string, unknown>;
    const time = typeof ts === 'bigint' ? new Date(Number(ts / 1_000_000n)) : new Date();
    if (this.format === 'json') {
      this.write(JSON.stringify({ time: time.toISOString(), level, message, ...this.base, ...fields }, jsonValue));
      return;
    }
    const pool = typeof this.base.pool === 'string' ? `[mlo ${this.base.pool} worker] ` : '';
    const rest = Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields, jsonValue)}` : '';
    this.write(`${time.toISOString()} ${level.padEnd(5)} ${pool}${message}${rest}`);
  }

  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}
