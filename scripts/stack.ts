/** `npm run stack -- up|down|status|env`: the local dev stack (Temporal, S3, MLflow, the OIDC provider). */
import { isMloError } from '../lib/core/errors';
import { loadStackConfig } from '../lib/infra/config';
import { PARTS, stackDown, stackStatus, stackUp, type PartName } from '../lib/stack/stack';
import { exportLines, stackEnv } from '../lib/stack/stack-env';

const USAGE = `usage: npm run stack -- up [${PARTS.join('|')}…] | down | status | env`;

async function main(cmd: string | undefined, rest: string[]): Promise<number> {
  switch (cmd) {
    case 'up': {
      const unknown = rest.filter((r) => !PARTS.includes(r as PartName));
      if (unknown.length > 0) {
        const names = unknown.map((u) => `"${u}"`).join(', ');
        console.error(`mlo stack: unknown part ${names}; the parts are ${PARTS.join(', ')}\n${USAGE}`);
        return 2;
      }
      const r = await stackUp({ only: rest.length > 0 ? (rest as PartName[]) : undefined });
      for (const p of r.parts) console.log(`${p.result === 'started' ? 'started' : 'already running'}: ${p.title}`);
      console.log(`\nmlo dev stack is up (${r.seconds.toFixed(1)}s):\n${r.addresses.map((a) => `  ${a}`).join('\n')}`);
      return 0;
    }
    case 'down': {
      const r = await stackDown();
      if (r.every((x) => x.result === 'not-running')) console.log('mlo dev stack: nothing was running');
      return 0;
    }
    case 'status': {
      const parts = await stackStatus();
      for (const p of parts) {
        console.log(
          `${p.title.padEnd(22)} ${p.state}${p.pid ? ` (pid ${p.pid})` : ''}${p.detail ? ` — ${p.detail}` : ''}`,
        );
        if (p.state === 'running') for (const a of p.addresses) console.log(`    ${a}`);
      }
      return parts.every((p) => p.state === 'running') ? 0 : 3;
    }
    case 'env': {
      // For `eval "$(npm run -s stack -- env)"`: stdout holds only the export lines.
      const { variables, missing } = stackEnv(loadStackConfig());
      console.log(exportLines(variables));
      if (missing.length > 0)
        console.error(
          `mlo stack: not running (no ports recorded): ${missing.join(', ')}; start them with npm run stack -- up`,
        );
      return missing.length > 0 ? 3 : 0;
    }
    default:
      console.error(USAGE);
      return 2;
  }
}

main(process.argv[2], process.argv.slice(3)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(isMloError(err) ? `mlo stack: ${err.message}` : err);
    process.exit(isMloError(err) ? err.exitCode : 1);
  },
);
