import { Client, Connection } from '@temporalio/client';
import type { Config } from './config';
import { UnreachableError } from '../core/errors';

/** Opens a client connection to Temporal; an unreachable server is an UnreachableError. */
export async function connectClient(cfg: Config): Promise<{ client: Client; connection: Connection }> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: cfg.temporal.address, connectTimeout: '5s' });
  } catch (err) {
    throw new UnreachableError('Temporal', cfg.temporal.address, err instanceof Error ? err.message : String(err));
  }
  return { client: new Client({ connection, namespace: cfg.temporal.namespace }), connection };
}
