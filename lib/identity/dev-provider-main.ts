/**
 * Process entry of the dev OIDC provider, as the dev stack runs it:
 *
 *   npx tsx lib/identity/dev-provider-main.ts
 *
 * Settings from the environment (see loadDevProviderConfig): MLO_OIDC_PORT (7380), MLO_OIDC_HOST
 * (127.0.0.1), MLO_OIDC_STATE_DIR (<MLO_STACK_DIR>/oidc), client secrets. Logs to stdout; a health
 * check answers on /healthz; SIGTERM or SIGINT stops it cleanly (exit 0). Exit 2 for bad settings,
 * 5 when the port is taken.
 */
import { isMloError } from '../core/errors';
import { loadDevProviderConfig, startDevProvider } from './dev-provider';

async function main(): Promise<void> {
  const cfg = loadDevProviderConfig();
  const dev = await startDevProvider(cfg);
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    cfg.log(`oidc: ${signal}: stopping`);
    const force = setTimeout(() => process.exit(0), 5000);
    force.unref();
    void dev.close().then(() => {
      cfg.log('oidc: stopped');
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  console.error(isMloError(err) ? err.message : err);
  process.exit(isMloError(err) ? err.exitCode : 1);
});
