import { describe, expect, it } from 'vitest';
import { defaultPayloadConverter } from '@temporalio/common';
import { identityRefusal } from '../../workflows/decision-gate';
import {
  readIdentityHeader,
  requesterIdentity,
  verifiedCallerOf,
  VERIFIED,
  withVerifiedCaller,
} from '../../workflows/identity';
import { WORKFLOW_INTERCEPTOR_MODULES } from '../../lib/infra/config';
import { orchestratorPool } from '../../workers/orchestrator';
import { loadConfig } from '../../lib/infra/config';
import { WORKFLOW_TRACING_MODULE } from '../../lib/observability/worker';
import { DefaultLogger } from '@temporalio/worker';

const BOB = { subject: 'u-bob', email: 'bob@example.com' };

describe('the verified identity header', () => {
  it("reads the server's json/plain payload", () => {
    expect(readIdentityHeader(defaultPayloadConverter.toPayload(BOB))).toEqual(BOB);
    expect(readIdentityHeader(defaultPayloadConverter.toPayload({ subject: 'mlo-orchestrator' }))).toEqual({
      subject: 'mlo-orchestrator',
    });
  });

  it('is no identity when it is not the server’s shape', () => {
    const read = (v: unknown) => readIdentityHeader(defaultPayloadConverter.toPayload(v));
    expect(read({ email: 'bob@example.com' })).toEqual({ error: 'header mlo-verified-identity names no subject' });
    expect(read('bob@example.com')).toEqual({ error: 'header mlo-verified-identity names no subject' });
    expect(read({ subject: 'u', email: 7 })).toEqual({
      error: 'header mlo-verified-identity has an e-mail that is not a string',
    });
    expect(
      readIdentityHeader({ metadata: { encoding: new TextEncoder().encode('binary/x') }, data: new Uint8Array() }),
    ).toMatchObject({ error: expect.stringMatching(/^header mlo-verified-identity is not a JSON payload/) as string });
  });

  it('is attached under a symbol that no payload can carry', () => {
    const arg = withVerifiedCaller({ reviewer: 'bob@example.com' }, BOB);
    expect(verifiedCallerOf(arg)).toEqual(BOB);
    expect(arg.reviewer).toBe('bob@example.com');
    // What a client can send is JSON: it never holds the symbol.
    const sent = JSON.parse(JSON.stringify({ reviewer: 'x', [String(VERIFIED)]: BOB })) as unknown;
    expect(verifiedCallerOf(sent)).toBeUndefined();
    expect(verifiedCallerOf(withVerifiedCaller('not an object', BOB))).toEqual(BOB);
  });
});

describe('a decision with a verified caller', () => {
  it('is acceptable when the payload names the caller', () => {
    expect(identityRefusal({ reviewer: 'bob@example.com' }, BOB)).toBeUndefined();
    expect(identityRefusal({ reviewer: 'anyone@example.com' }, undefined)).toBeUndefined();
  });

  it('is refused when the payload names someone else, or no one', () => {
    expect(identityRefusal({ reviewer: 'alice@example.com' }, BOB)).toBe(
      'the decision names reviewer "alice@example.com" but the caller is bob@example.com (verified by the server); ' +
        'a reviewer decides only as themselves: {"reviewer": "bob@example.com"}',
    );
    expect(identityRefusal({}, BOB)).toMatch(/^the decision names no reviewer but the caller is bob@example.com/);
  });

  it('is refused when the caller has no e-mail or the header was unreadable', () => {
    expect(identityRefusal({ reviewer: 'svc' }, { subject: 'svc' })).toBe(
      "the verified caller (subject svc) has no e-mail; a decision needs a reviewer's e-mail",
    );
    expect(identityRefusal({ reviewer: 'bob@example.com' }, { error: 'header x names no subject' })).toBe(
      "the caller's verified identity cannot be read (header x names no subject); the decision is refused",
    );
  });
});

describe('the requester', () => {
  it('is a person’s e-mail or a service’s subject', () => {
    expect(requesterIdentity('carol@example.com')).toEqual({ email: 'carol@example.com' });
    expect(requesterIdentity('mlo-schedule')).toEqual({ subject: 'mlo-schedule' });
  });
});

describe('the workflow worker', () => {
  it('registers the verified-identity interceptor in its bundle', async () => {
    const [worker] = await orchestratorPool.workers(loadConfig(), new DefaultLogger('ERROR'));
    expect(worker?.options.interceptors?.workflowModules).toEqual([
      ...WORKFLOW_INTERCEPTOR_MODULES,
      WORKFLOW_TRACING_MODULE,
    ]);
    expect(WORKFLOW_INTERCEPTOR_MODULES).toEqual([expect.stringMatching(/workflows\/interceptors\.ts$/)]);
  });
});
