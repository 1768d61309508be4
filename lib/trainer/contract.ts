/**
 * The trainer contract (mlo.trainer/v1), TypeScript side. The full text is trainers/README.md:
 * a trainer is a command run with `--input <file>`; it prints JSON lines on stdout and exits
 * 0 on success, 2 for bad input and 3 for a deterministic failure (never retried: the same input
 * fails the same way, e.g. an ONNX export that does not reproduce the model), 75 for a transient
 * failure (retried); any other exit is a crash (retried).
 */
import { z } from 'zod';
import type { DayRange } from '../core/windows';

export const TRAINER_CONTRACT = 'mlo.trainer/v1';

export const TRAINER_EXIT = { ok: 0, badInput: 2, deterministic: 3, transient: 75 } as const;

export type TrainerInput = {
  contract: typeof TRAINER_CONTRACT;
  manifestUri: string;
  featureColumns: string[];
  labelColumn: string;
  train: DayRange;
  validation: DayRange;
  params: Record<string, string | number | boolean>;
  seed: number;
  outputPrefix: string;
  checkpointPrefix: string;
  resume: { uri: string; step: number } | null;
  device: string;
  /** stdin is a pipe held open by the activity; its end of file means the worker is gone (README §1). */
  stdinLease?: boolean;
};

const metrics = z.record(z.string(), z.number().nullable()).default({});

const trainerLineSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('progress'), step: z.number(), total: z.number().optional(), metrics }).passthrough(),
  z
    .object({ type: z.literal('checkpoint'), uri: z.string().startsWith('s3://'), step: z.number().int() })
    .passthrough(),
  z
    .object({
      type: z.literal('result'),
      onnxUri: z.string().startsWith('s3://'),
      metrics,
      inputSchema: z.object({ name: z.string(), dtype: z.string(), columns: z.array(z.string()) }).passthrough(),
      outputs: z.object({ probability: z.string(), probabilityIndex: z.number().int().optional() }).passthrough(),
      /** Optional: the same model as an MLflow model directory in S3 (trainers/README.md §6). */
      mlflowModel: z
        .object({
          uri: z.string().startsWith('s3://').endsWith('/'),
          files: z
            .array(z.string().refine(isRelativeFilePath, 'a relative path of a file: no leading /, no . or .. segment'))
            .nonempty()
            .refine((f) => f.includes('MLmodel'), 'lists no MLmodel file'),
          flavor: z.string().optional(),
        })
        .passthrough()
        .optional(),
      trainedRows: z.number().optional(),
      validRows: z.number().optional(),
    })
    .passthrough(),
]);

/** `a/b.json`: segments that are not empty, `.` or `..`, without backslashes or NUL. */
function isRelativeFilePath(p: string): boolean {
  return p.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..' && !/[\\\0]/.test(seg));
}

export type TrainerLine = z.infer<typeof trainerLineSchema>;
export type TrainerResult = Extract<TrainerLine, { type: 'result' }>;

/** Parses one stdout line; undefined (with a reason) when it breaks the contract. */
export function parseTrainerLine(line: string): { ok: true; value: TrainerLine } | { ok: false; reason: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return { ok: false, reason: `not JSON: ${line.slice(0, 200)}` };
  }
  const r = trainerLineSchema.safeParse(raw);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || 'line'}: ${i.message}`).join('; ');
    return { ok: false, reason: `${issues} in ${line.slice(0, 200)}` };
  }
  return { ok: true, value: r.data };
}
