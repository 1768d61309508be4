/**
 * An HTTP proxy in front of a real server (S3 or MLflow), for injected outages. It forwards
 * every request as it came (headers untouched, so S3 signatures stay valid) and can:
 * - go `down`: connections are refused, exactly as if the server were gone;
 * - `fail`: answer every request with 503, as a failing server does;
 * - trigger on a request (`arm`): run a fault the moment a matching request arrives, before or
 *   after it reached the server (after: the server acted, the caller never hears of it).
 */
import http from 'node:http';
import net from 'node:net';

export type ProxyMode = 'up' | 'down' | 'fail';
type Trigger = {
  match: (req: http.IncomingMessage, body: Buffer) => boolean;
  /**
   * 'before': the request is dropped; 'after': it reaches the server, its answer is lost;
   * 'hold': it waits until `fire` resolves, then goes on (false: not this one, the trigger stays armed).
   */
  when: 'before' | 'after' | 'hold';
  fire: () => void | Promise<boolean>;
};

export class FaultProxy {
  private server: http.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private mode: ProxyMode = 'up';
  private trigger: Trigger | undefined;
  /** Requests that reached the server through the proxy, by method and path (for reports). */
  readonly seen: string[] = [];

  private constructor(
    readonly name: string,
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  static async start(name: string, target: { host: string; port: number }): Promise<FaultProxy> {
    const proxy = new FaultProxy(name, await freePort(), target);
    await proxy.listen();
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get state(): ProxyMode {
    return this.mode;
  }

  /** Fires `fire` once, on the first request that matches. */
  arm(t: Trigger): void {
    this.trigger = t;
  }

  disarm(): void {
    this.trigger = undefined;
  }

  async setMode(mode: ProxyMode): Promise<void> {
    this.mode = mode;
    if (mode === 'down') {
      const s = this.server;
      this.server = undefined;
      for (const sock of this.sockets) sock.destroy();
      this.sockets.clear();
      if (s) await new Promise<void>((r) => s.close(() => r()));
    } else await this.listen();
  }

  /** Goes `mode` for `ms`, then up again; resolves when it is up. */
  async outage(mode: 'down' | 'fail', ms: number): Promise<void> {
    await this.setMode(mode);
    await new Promise((r) => setTimeout(r, ms));
    await this.setMode('up');
  }

  async close(): Promise<void> {
    this.trigger = undefined;
    await this.setMode('down');
  }

  private async listen(): Promise<void> {
    if (this.server) return;
    const server = http.createServer({ keepAlive: true }, (req, res) => this.handle(req, res));
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (this.mode === 'fail') return void res.writeHead(503, { connection: 'close' }).end('injected failure');
      const t = this.trigger;
      const fires = t !== undefined && t.match(req, body);
      if (fires) this.trigger = undefined;
      if (fires && t.when === 'before') {
        void t.fire();
        return void req.socket.destroy();
      }
      if (fires && t.when === 'hold') return void this.hold(t, req, body, res);
      this.forward(req, body, res, fires ? () => void t.fire() : undefined);
    });
  }

  private async hold(t: Trigger, req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): Promise<void> {
    const consumed = await Promise.resolve(t.fire()).catch(() => true);
    if (consumed === false && this.trigger === undefined) this.trigger = t;
    this.forward(req, body, res);
  }

  private forward(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse, lose?: () => void): void {
    const headers = { ...req.headers };
    delete headers.expect; // the body is buffered already; `expect` is never signed
    const up = http.request({ ...this.target, method: req.method, path: req.url, headers, agent: false }, (answer) => {
      this.seen.push(`${req.method} ${req.url?.split('?')[0]}`);
      if (lose) {
        answer.resume();
        answer.on('end', () => {
          lose();
          req.socket.destroy();
        });
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on('error', () => req.socket.destroy());
    up.end(body);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

/** The JSON body of a request, or undefined. */
export function jsonBody(body: Buffer): Record<string, unknown> | undefined {
  try {
    return JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
