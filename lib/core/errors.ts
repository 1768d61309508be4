/**
 * Typed errors shared by the CLI, the workers and the scripts. Each carries a stable
 * `code` (never rely on class names across process or minification boundaries) and
 * maps to one documented CLI exit code.
 */

export const EXIT_CODES = {
  ok: 0,
  /** unexpected failure (a bug) */
  internal: 1,
  /** bad input: a flag, a model spec, a file, the environment */
  badInput: 2,
  /** a reviewer rejected the promotion, or it expired */
  rejected: 3,
  /** an evaluation, shadow or data gate failed */
  gateFailed: 4,
  /** Temporal, S3 or MLflow could not be reached */
  unreachable: 5,
} as const;

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

export abstract class MloError extends Error {
  abstract readonly code: string;
  abstract readonly exitCode: ExitCode;
}

/** The environment or the stack settings hold bad values. Lists every problem. */
export class ConfigError extends MloError {
  readonly code = 'CONFIG_INVALID';
  readonly exitCode = EXIT_CODES.badInput;
  override name = 'ConfigError';
  constructor(
    summary: string,
    readonly problems: string[],
  ) {
    super(`${summary}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Bad input from the user: a flag, a file, a value. The message names it and the fix. */
export class BadInputError extends MloError {
  readonly code = 'BAD_INPUT';
  readonly exitCode = EXIT_CODES.badInput;
  override name = 'BadInputError';
}

/** A service the command needs (Temporal, S3, MLflow) did not answer. */
export class UnreachableError extends MloError {
  readonly code = 'UNREACHABLE';
  readonly exitCode = EXIT_CODES.unreachable;
  override name = 'UnreachableError';
  constructor(
    readonly service: string,
    readonly address: string,
    detail: string,
  ) {
    super(
      `${service} is unreachable at ${address}: ${detail}. Start the dev stack with \`npm run stack -- up\`, ` +
        `or point the configuration at a running ${service}.`,
    );
  }
}

/** The dev stack could not start or stop a part. */
export class StackError extends MloError {
  readonly code = 'STACK';
  readonly exitCode = EXIT_CODES.unreachable;
  override name = 'StackError';
}

export function isMloError(err: unknown): err is MloError {
  return err instanceof MloError;
}
