/**
 * `mlo models validate [file…]`: validates model specs (every spec in the models directory
 * by default), printing OK per file or every problem with its line and field.
 */
import path from 'node:path';
import { BadInputError, EXIT_CODES } from '../../lib/core/errors';
import { listSpecFiles, loadSpecFile, SpecError } from '../../lib/spec/model-spec';
import { boolFlag } from '../args';
import type { Command } from '../command';
import { JSON_FLAG, MODELS_DIR_FLAG, modelsDir } from '../context';

type ValidationResult = { file: string; ok: boolean; model?: string; problems: string[] };

function validateFiles(files: string[]): ValidationResult[] {
  return files.map((f) => {
    const file = path.relative(process.cwd(), f) || f;
    try {
      const spec = loadSpecFile(f);
      return { file, ok: true, model: spec.name, problems: [] };
    } catch (err) {
      if (err instanceof SpecError) return { file, ok: false, problems: err.problems };
      if (err instanceof BadInputError) return { file, ok: false, problems: [err.message] };
      throw err;
    }
  });
}

export const modelsCommand: Command = {
  name: 'models',
  summary: 'validate model specs: `mlo models validate [file…]`',
  usage: 'mlo models validate [file…] [--models-dir DIR] [--json]',
  flags: [JSON_FLAG, MODELS_DIR_FLAG],
  details: [
    'subcommands:',
    '  validate [file…]   validate the given spec files, or every *.yaml in the models directory;',
    '                     prints OK per valid file and every problem (line, field, fix) of the others.',
    'Exit 0 when all are valid, 2 when any is not.',
  ],
  async run(args) {
    const [sub, ...files] = args.positionals;
    if (sub !== 'validate')
      throw new BadInputError(
        sub
          ? `unknown subcommand "models ${sub}"; use \`mlo models validate [file…]\``
          : '`mlo models` needs a subcommand: `mlo models validate [file…]`',
      );
    const dir = modelsDir(args);
    const targets = files.length > 0 ? files.map((f) => path.resolve(f)) : listSpecFiles(dir);
    if (targets.length === 0)
      throw new BadInputError(`no model specs (*.yaml) in ${path.relative(process.cwd(), dir) || dir}/`);
    const results = validateFiles(targets);
    const bad = results.filter((r) => !r.ok).length;
    if (boolFlag(args, 'json')) console.log(JSON.stringify(results, null, 2));
    else {
      for (const r of results) {
        if (r.ok) console.log(`OK    ${r.file} (${r.model})`);
        else console.log([`FAIL  ${r.file}`, ...r.problems.map((p) => `        - ${p}`)].join('\n'));
      }
      console.log(`${results.length - bad} valid, ${bad} invalid`);
    }
    return bad > 0 ? EXIT_CODES.badInput : EXIT_CODES.ok;
  },
};
