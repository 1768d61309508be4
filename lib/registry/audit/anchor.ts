/**
 * The anchor: the chain's head (seq and hash) kept outside the bucket, so that deleting or
 * rewriting the newest records is as detectable as editing an old one. In mlo it is the
 * registered model's MLflow tag `mlo.audit_head`; whoever can rewrite the bucket needs MLflow
 * write access as well to hide it.
 */
import { isNotFound, type MlflowClient, type RegisteredModel, tagsOf } from '../mlflow';
import { ModelTag } from '../tags';
import { isHashHex, type AuditHead } from './record';
import type { AnchorState } from './verify';

export interface AuditAnchor {
  /** What the anchor says; `no-model` when the registered model does not exist. */
  read(model: string): Promise<AnchorState>;
  /** Records the head. Resolves false when the registered model does not exist (nothing anchored). */
  write(model: string, head: AuditHead): Promise<boolean>;
}

/** The tag value: `{"hash":"…","seq":N}`. */
export function formatAnchor(head: AuditHead): string {
  return JSON.stringify({ seq: head.seq, hash: head.hash });
}

/** Parses a tag value into an anchor state (`invalid` with why, when it is not one). */
export function parseAnchor(raw: string | undefined): AnchorState {
  if (raw === undefined) return { kind: 'absent' };
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return { kind: 'invalid', raw, detail: `not JSON: ${raw.slice(0, 100)}` };
  }
  const o = (typeof v === 'object' && v !== null ? v : {}) as { seq?: unknown; hash?: unknown };
  if (typeof o.seq !== 'number' || !Number.isSafeInteger(o.seq) || o.seq < 1)
    return { kind: 'invalid', raw, detail: `seq must be an integer >= 1: ${raw.slice(0, 100)}` };
  if (!isHashHex(o.hash)) return { kind: 'invalid', raw, detail: `hash must be SHA-256 hex: ${raw.slice(0, 100)}` };
  return { kind: 'anchored', head: { seq: o.seq, hash: o.hash } };
}

/** The anchor on the registered model's `mlo.audit_head` tag, through the project's MLflow client. */
export class MlflowAuditAnchor implements AuditAnchor {
  constructor(private readonly mlflow: MlflowClient) {}

  async read(model: string): Promise<AnchorState> {
    let rm: RegisteredModel;
    try {
      rm = await this.mlflow.getRegisteredModel(model);
    } catch (err) {
      if (isNotFound(err)) return { kind: 'no-model' };
      throw err;
    }
    return parseAnchor(tagsOf(rm)[ModelTag.auditHead]);
  }

  async write(model: string, head: AuditHead): Promise<boolean> {
    try {
      await this.mlflow.setRegisteredModelTag(model, ModelTag.auditHead, formatAnchor(head));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }
}
