/**
 * Failed gates as people read them: the CLI, the Temporal UI's details, MLflow's `mlo.failed_gates`
 * tag and the audit record all show the gate, the value it judged and why, in the same words.
 */

/** One failed gate of a candidate: its stage, the gate as the spec writes it, the value judged, and a note. */
export type FailedGate = { stage: 'evaluation' | 'shadow'; gate: string; value: number | null; note: string };

/** A stage's gate results as the stage summary carries them (activities/types.ts GateOutcome). */
type StageGates = { passed: boolean; gates?: { gate: string; status: string; value: number | null; note: string }[] };

/** The failed gates of both stages, evaluation first. */
export function failedGates(evaluation: StageGates, shadow: StageGates): FailedGate[] {
  const of = (stage: FailedGate['stage'], s: StageGates): FailedGate[] =>
    (s.gates ?? [])
      .filter((g) => g.status === 'fail')
      .map((g) => ({ stage, gate: g.gate, value: g.value, note: g.note }));
  return [...of('evaluation', evaluation), ...of('shadow', shadow)];
}

/** `evaluation: auc >= 0.80 — value 0.7712 (note)` */
export function describeFailedGate(g: FailedGate): string {
  const value = g.value === null ? 'no value' : `value ${Number(g.value.toPrecision(6))}`;
  return `${g.stage}: ${g.gate} — ${value}${g.note ? ` (${g.note})` : ''}`;
}
