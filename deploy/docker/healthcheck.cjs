#!/usr/bin/env node
// The worker images' HEALTHCHECK: the pool's Prometheus endpoint answers 200 on
// http://127.0.0.1:<port>/metrics within the timeout; the port is MLO_METRICS_PORT_<POOL>, else the
// pool's default (orchestrator 9471, cpu 9472, gpu 9473). With the endpoint off
// (MLO_METRICS_PORT_<POOL>=off) the process itself is the only signal (a dead worker ends the
// container) and the check passes, saying so. Plain Node, no dependencies.
'use strict';
const http = require('node:http');

/** The workers' default metrics ports (docs/observability.md). */
const DEFAULT_PORTS = { orchestrator: 9471, cpu: 9472, gpu: 9473 };

function portVariable(pool) {
  return `MLO_METRICS_PORT_${String(pool).toUpperCase()}`;
}

/** Resolves to { ok, message } for the pool's metrics endpoint. */
function check(env = process.env, timeoutMs = 4000) {
  const pool = env.MLO_POOL;
  if (!pool) return Promise.resolve({ ok: false, message: 'MLO_POOL is not set (orchestrator, cpu or gpu)' });
  const variable = portVariable(pool);
  const raw = (env[variable] ?? '').trim() || String(DEFAULT_PORTS[pool] ?? '');
  if (raw === '')
    return Promise.resolve({
      ok: false,
      message: `MLO_POOL is ${JSON.stringify(pool)}: expected orchestrator, cpu or gpu`,
    });
  if (raw.toLowerCase() === 'off')
    return Promise.resolve({ ok: true, message: `${variable} is off: no metrics endpoint to check` });
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    return Promise.resolve({ ok: false, message: `${variable} is ${JSON.stringify(raw)}, not a TCP port` });
  const url = `http://127.0.0.1:${port}/metrics`;
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(
        res.statusCode === 200
          ? { ok: true, message: `${url}: 200` }
          : { ok: false, message: `${url}: HTTP ${res.statusCode}` },
      );
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ ok: false, message: `${url}: ${err.message}` }));
  });
}

module.exports = { check, portVariable, DEFAULT_PORTS };

if (require.main === module) {
  check().then(({ ok, message }) => {
    (ok ? console.log : console.error)(`mlo healthcheck: ${message}`);
    process.exit(ok ? 0 : 1);
  });
}
