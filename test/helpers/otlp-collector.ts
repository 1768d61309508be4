/**
 * An OTLP/HTTP trace collector in the test process: it takes what exporters POST to
 * `/v1/traces`, JSON (the Node exporter, ids in hex) or protobuf (the Python exporter), and
 * keeps every span with its service name.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
// The OTLP protobuf definitions the OpenTelemetry JS exporters ship (protobufjs, static code).
import * as otlpRoot from '@opentelemetry/otlp-transformer/build/src/generated/root';

export type CollectedSpan = {
  service: string;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, unknown>;
};

type AnyValue = { stringValue?: string; intValue?: unknown; boolValue?: boolean; doubleValue?: number };
type KeyValue = { key: string; value?: AnyValue };
type RawSpan = {
  name: string;
  traceId: string | Uint8Array;
  spanId: string | Uint8Array;
  parentSpanId?: string | Uint8Array;
  startTimeUnixNano: unknown;
  endTimeUnixNano: unknown;
  attributes?: KeyValue[];
};
type Request = {
  resourceSpans?: { resource?: { attributes?: KeyValue[] }; scopeSpans?: { spans?: RawSpan[] }[] }[];
};

function hex(id: string | Uint8Array | undefined): string {
  if (id === undefined) return '';
  return typeof id === 'string' ? id.toLowerCase() : Buffer.from(id).toString('hex');
}

function value(v: AnyValue | undefined): string | boolean | number | undefined {
  if (!v) return undefined;
  return (
    v.stringValue ?? v.boolValue ?? v.doubleValue ?? (v.intValue !== undefined ? ns(v.intValue).toString() : undefined)
  );
}

function ns(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'string' || typeof v === 'number') return BigInt(v);
  // protobufjs Long
  const l = v as { low: number; high: number; unsigned?: boolean } | undefined;
  return l ? (BigInt(l.high >>> 0) << 32n) + BigInt(l.low >>> 0) : 0n;
}

const ExportTraceServiceRequest = (
  otlpRoot as unknown as {
    opentelemetry: {
      proto: { collector: { trace: { v1: { ExportTraceServiceRequest: { decode: (b: Uint8Array) => unknown } } } } };
    };
  }
).opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

export class OtlpCollector {
  readonly spans: CollectedSpan[] = [];
  readonly contentTypes = new Set<string>();
  private constructor(
    private readonly server: http.Server,
    readonly endpoint: string,
  ) {}

  static async start(): Promise<OtlpCollector> {
    const box: { collector?: OtlpCollector } = {};
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const type = String(req.headers['content-type'] ?? '');
        try {
          if (req.url !== '/v1/traces') throw new Error(`unexpected path ${req.url}`);
          box.collector?.contentTypes.add(type.split(';')[0]!);
          const parsed = (
            type.includes('json') ? JSON.parse(body.toString('utf8')) : ExportTraceServiceRequest.decode(body)
          ) as Request;
          box.collector?.take(parsed);
          res
            .writeHead(200, { 'content-type': type.includes('json') ? 'application/json' : type })
            .end(type.includes('json') ? '{}' : '');
        } catch (err) {
          res.writeHead(400).end(String(err));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    box.collector = new OtlpCollector(server, `http://127.0.0.1:${port}`);
    return box.collector;
  }

  private take(req: Request): void {
    for (const rs of req.resourceSpans ?? []) {
      const service = String(value(rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value) ?? '');
      for (const ss of rs.scopeSpans ?? [])
        for (const s of ss.spans ?? [])
          this.spans.push({
            service,
            name: s.name,
            traceId: hex(s.traceId),
            spanId: hex(s.spanId),
            parentSpanId: hex(s.parentSpanId),
            startNs: ns(s.startTimeUnixNano),
            endNs: ns(s.endTimeUnixNano),
            attributes: Object.fromEntries((s.attributes ?? []).map((a) => [a.key, value(a.value)])),
          });
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
