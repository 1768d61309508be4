/**
 * The benchmark runner: `npm run bench -- <name> [args]` runs `scripts/bench/<name>.ts` with
 * the args, in its own Node process (same loader), and exits with its exit code. With no
 * name or an unknown one it lists the benchmarks and exits 2.
 *
 * A benchmark compares mlo against a reference in the same run, prints a ratio (machines are
 * shared and noisy, absolute times are not comparable across runs) and prints ONE JSON object
 * as its last line. Helpers live in scripts/bench/lib/ and are not benchmarks.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { summaryOf } from './lib/summary';
import { runMain } from './lib/main';

const DIR = __dirname;

function benchmarks(): { name: string; summary: string }[] {
  return readdirSync(DIR)
    .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.endsWith('.d.ts'))
    .sort()
    .map((f) => ({ name: f.replace(/\.ts$/, ''), summary: summaryOf(readFileSync(path.join(DIR, f), 'utf8')) }));
}

function list(reason: string): number {
  const all = benchmarks();
  console.error(reason);
  console.error('usage: npm run bench -- <name> [args]   (e.g. npm run bench -- backfill --help)');
  console.error('benchmarks:');
  for (const b of all) console.error(`  ${b.name.padEnd(14)} ${b.summary}`);
  if (all.length === 0) console.error('  (none)');
  return 2;
}

async function main(): Promise<number> {
  const [name, ...args] = process.argv.slice(2);
  if (name === undefined || name === '' || name === '--help' || name === '-h')
    return list(name === undefined || name === '' ? 'no benchmark named' : 'the benchmark runner');
  if (!benchmarks().some((b) => b.name === name)) return list(`unknown benchmark "${name}"`);
  const child = spawn(process.execPath, [...process.execArgv, path.join(DIR, `${name}.ts`), ...args], {
    stdio: 'inherit',
  });
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  process.on('SIGINT', forward('SIGINT'));
  process.on('SIGTERM', forward('SIGTERM'));
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + (signal === 'SIGINT' ? 2 : 15) : 1)));
    child.on('error', (err) => {
      console.error(`could not start ${name}: ${err.message}`);
      resolve(1);
    });
  });
}

void runMain(main);
