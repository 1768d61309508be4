/**
 * Lexer and parser of the derived-column expression language (grammar in docs/expressions.md),
 * and the canonical printer whose text identifies an expression (whitespace, redundant
 * parentheses and quote style do not change it).
 */
import { type BinaryOp, type Expr, ExprError, FUNCTION_NAMES, FUNCTIONS, isFnName, KEYWORDS } from './ast';

type Tok =
  | { t: 'num'; text: string; value: number; pos: number; end: number }
  | { t: 'str'; value: string; pos: number; end: number }
  | { t: 'ident'; name: string; pos: number; end: number }
  | { t: 'kw'; kw: (typeof KEYWORDS)[number]; pos: number; end: number }
  | { t: 'op'; op: string; pos: number; end: number }
  | { t: 'eof'; pos: number; end: number };

const OPS = ['==', '!=', '<=', '>=', '<', '>', '+', '-', '*', '/', '(', ')', ','];

const WORD_OPS: Record<string, string> = { '&&': 'and', '||': 'or', '!': 'not', '=': '==', '<>': '!=' };

export function tokenize(text: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (/[0-9.]/.test(c)) {
      const m = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(text.slice(i));
      if (!m) throw new ExprError(text, i, `"${c}" is not a number`, 'write numbers as 12, 0.5 or 1e3');
      i += m[0].length;
      if (i < text.length && /[A-Za-z_]/.test(text[i]!))
        throw new ExprError(
          text,
          start,
          `"${text.slice(start, i + 1)}" is not a number or a name`,
          'names start with a letter or "_"',
        );
      const value = Number(m[0]);
      if (!Number.isFinite(value))
        throw new ExprError(
          text,
          start,
          `${m[0]} is too large for a number`,
          'write a finite number (at most about 1.8e308)',
        );
      out.push({ t: 'num', text: m[0], value, pos: start, end: i });
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i))![0];
      i += m.length;
      const kw = m.toLowerCase();
      // Keywords in any case (AND, Or); the canonical text writes them in lower case.
      if ((KEYWORDS as readonly string[]).includes(kw))
        out.push({ t: 'kw', kw: kw as (typeof KEYWORDS)[number], pos: start, end: i });
      else out.push({ t: 'ident', name: m, pos: start, end: i });
      continue;
    }
    if (c === "'" || c === '"') {
      // A quote inside a string is written twice: 'O''Brien'.
      let value = '';
      i++;
      for (;;) {
        if (i >= text.length)
          throw new ExprError(
            text,
            start,
            'unterminated string',
            `close it with ${c}; write a ${c} inside it as ${c}${c}`,
          );
        const d = text[i]!;
        if (d === c) {
          if (text[i + 1] === c) {
            value += c;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += d;
        i++;
      }
      out.push({ t: 'str', value, pos: start, end: i });
      continue;
    }
    const two = text.slice(i, i + 2);
    const wrong =
      two === '&&' || two === '||' || two === '<>'
        ? two
        : (c === '=' && two !== '==') || (c === '!' && two !== '!=')
          ? c
          : undefined;
    if (wrong)
      throw new ExprError(text, start, `"${wrong}" is not an operator of this language`, `write ${WORD_OPS[wrong]}`);
    const op = OPS.find((o) => text.startsWith(o, i));
    if (!op)
      throw new ExprError(
        text,
        start,
        `unexpected character "${c}"`,
        "use names, numbers, 'strings', + - * /, comparisons, and/or/not, in (…) and function calls",
      );
    i += op.length;
    out.push({ t: 'op', op, pos: start, end: i });
  }
  out.push({ t: 'eof', pos: text.length, end: text.length });
  return out;
}

function describeTok(t: Tok): string {
  switch (t.t) {
    case 'num':
      return `number ${t.text}`;
    case 'str':
      return 'a string';
    case 'ident':
      return `"${t.name}"`;
    case 'kw':
      return `"${t.kw}"`;
    case 'op':
      return `"${t.op}"`;
    case 'eof':
      return 'the end of the expression';
  }
}

const CMP_OPS = new Set(['==', '!=', '<', '<=', '>', '>=']);

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length]!;
}

export function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dist = distance(name.toLowerCase(), c.toLowerCase());
    if (dist < bestD) [best, bestD] = [c, dist];
  }
  return bestD <= Math.max(1, Math.floor(name.length / 3)) ? best : undefined;
}

class Parser {
  private i = 0;
  constructor(
    private readonly text: string,
    private readonly toks: Tok[],
  ) {}

  /** The current token (a method, so checks of one token do not narrow the next). */
  private get tok(): Tok {
    return this.peek();
  }

  private peek(): Tok {
    return this.toks[this.i]!;
  }

  private fail(t: Tok, problem: string, fix: string): never {
    throw new ExprError(this.text, t.pos, problem, fix);
  }

  private isOp(op: string): boolean {
    return this.tok.t === 'op' && this.tok.op === op;
  }

  private isKw(kw: string): boolean {
    return this.tok.t === 'kw' && this.tok.kw === kw;
  }

  private expectOp(op: string, fix: string): Tok {
    const t = this.tok;
    if (!this.isOp(op)) this.fail(t, `expected "${op}" but found ${describeTok(t)}`, fix);
    this.i++;
    return t;
  }

  parseAll(): Expr {
    if (this.tok.t === 'eof') this.fail(this.tok, 'the expression is empty', 'write one, e.g. log1p(amount)');
    const e = this.or();
    const t = this.peek();
    if (t.t !== 'eof') {
      const fix =
        t.t === 'ident' || t.t === 'num' || t.t === 'str'
          ? 'put an operator between the two operands (e.g. + or ==), or remove one'
          : t.t === 'op' && t.op === ')'
            ? 'remove the extra ")" or add the missing "("'
            : 'remove it or complete the expression';
      this.fail(t, `unexpected ${describeTok(t)}`, fix);
    }
    return e;
  }

  private or(): Expr {
    let left = this.and();
    while (this.isKw('or')) {
      this.i++;
      const right = this.and();
      left = { kind: 'binary', op: 'or', left, right, pos: left.pos, end: right.end };
    }
    return left;
  }

  private and(): Expr {
    let left = this.not();
    while (this.isKw('and')) {
      this.i++;
      const right = this.not();
      left = { kind: 'binary', op: 'and', left, right, pos: left.pos, end: right.end };
    }
    return left;
  }

  private not(): Expr {
    if (this.isKw('not')) {
      const pos = this.tok.pos;
      this.i++;
      const arg = this.not();
      return { kind: 'not', arg, pos, end: arg.end };
    }
    return this.comparison();
  }

  private comparison(): Expr {
    const left = this.additive();
    const t = this.tok;
    if (t.t === 'op' && CMP_OPS.has(t.op)) {
      this.i++;
      const right = this.additive();
      const next = this.tok;
      if (next.t === 'op' && CMP_OPS.has(next.op))
        this.fail(next, 'comparisons do not chain', 'join them with and, e.g. a < b and b < c');
      return { kind: 'binary', op: t.op as BinaryOp, left, right, pos: left.pos, end: right.end };
    }
    const negated =
      this.isKw('not') && this.toks[this.i + 1]?.t === 'kw' && (this.toks[this.i + 1] as { kw: string }).kw === 'in';
    if (this.isKw('in') || negated) {
      this.i += negated ? 2 : 1;
      this.expectOp('(', 'write the list in parentheses: x in (1, 2, 3)');
      const items: Expr[] = [];
      if (this.isOp(')')) this.fail(this.tok, 'the list of "in" is empty', 'list at least one value: x in (1, 2)');
      for (;;) {
        items.push(this.additive());
        if (this.isOp(',')) {
          this.i++;
          continue;
        }
        break;
      }
      const close = this.expectOp(')', 'separate the values with "," and close the list with ")"');
      return { kind: 'in', arg: left, items, negated, pos: left.pos, end: close.end };
    }
    return left;
  }

  private additive(): Expr {
    let left = this.multiplicative();
    while (this.isOp('+') || this.isOp('-')) {
      const op = (this.tok as { op: string }).op as BinaryOp;
      this.i++;
      const right = this.multiplicative();
      left = { kind: 'binary', op, left, right, pos: left.pos, end: right.end };
    }
    return left;
  }

  private multiplicative(): Expr {
    let left = this.unary();
    while (this.isOp('*') || this.isOp('/')) {
      const op = (this.tok as { op: string }).op as BinaryOp;
      this.i++;
      const right = this.unary();
      left = { kind: 'binary', op, left, right, pos: left.pos, end: right.end };
    }
    return left;
  }

  private unary(): Expr {
    if (this.isOp('-')) {
      const pos = this.tok.pos;
      this.i++;
      const arg = this.unary();
      return { kind: 'neg', arg, pos, end: arg.end };
    }
    return this.primary();
  }

  private primary(): Expr {
    const t = this.tok;
    switch (t.t) {
      case 'num':
        this.i++;
        return { kind: 'number', value: t.value, text: t.text, pos: t.pos, end: t.end };
      case 'str':
        this.i++;
        return { kind: 'string', value: t.value, pos: t.pos, end: t.end };
      case 'kw':
        if (t.kw === 'true' || t.kw === 'false') {
          this.i++;
          return { kind: 'bool', value: t.kw === 'true', pos: t.pos, end: t.end };
        }
        if (t.kw === 'null') {
          this.i++;
          return { kind: 'null', pos: t.pos, end: t.end };
        }
        return this.fail(t, `expected a value but found "${t.kw}"`, 'put a column, a literal or a call there');
      case 'ident': {
        this.i++;
        if (!this.isOp('(')) return { kind: 'column', name: t.name, pos: t.pos, end: t.end };
        if (!isFnName(t.name)) {
          const near = closest(t.name, FUNCTION_NAMES);
          this.fail(
            t,
            `unknown function "${t.name}"`,
            `${near ? `did you mean ${near}? ` : ''}the functions are ${FUNCTION_NAMES.join(', ')}`,
          );
        }
        const fn = t.name;
        this.i++;
        const args: Expr[] = [];
        if (!this.isOp(')')) {
          for (;;) {
            args.push(this.or());
            if (this.isOp(',')) {
              this.i++;
              continue;
            }
            break;
          }
        }
        const close = this.expectOp(
          ')',
          `separate the arguments with "," and close the call with ")": ${FUNCTIONS[fn].help}`,
        );
        const { min, max } = FUNCTIONS[fn];
        if (args.length < min || args.length > max) {
          const want = min === max ? `${min}` : `at least ${min}`;
          this.fail(
            t,
            `${fn} takes ${want} argument${min === 1 && max === 1 ? '' : 's'}, not ${args.length}`,
            `write ${FUNCTIONS[fn].help}`,
          );
        }
        return { kind: 'call', fn, args, namePos: t.pos, pos: t.pos, end: close.end };
      }
      case 'op':
        if (t.op === '(') {
          this.i++;
          const inner = this.or();
          const close = this.expectOp(')', 'close the parenthesis');
          return { ...inner, pos: t.pos, end: close.end };
        }
        return this.fail(
          t,
          `expected a value but found ${describeTok(t)}`,
          t.op === ')' || t.op === ','
            ? 'a value is missing before it'
            : 'put a column, a literal or a parenthesised expression there',
        );
      case 'eof':
        return this.fail(t, 'the expression ends too early', 'complete it: an operand is missing');
    }
  }
}

/** Parses an expression; an ExprError names the position and the fix. */
export function parseExpr(text: string): Expr {
  return new Parser(text, tokenize(text)).parseAll();
}

const PREC: Record<BinaryOp, number> = {
  or: 1,
  and: 2,
  '==': 4,
  '!=': 4,
  '<': 4,
  '<=': 4,
  '>': 4,
  '>=': 4,
  '+': 5,
  '-': 5,
  '*': 6,
  '/': 6,
};

function precOf(e: Expr): number {
  switch (e.kind) {
    case 'binary':
      return PREC[e.op];
    case 'not':
      return 3;
    case 'in':
      return 4;
    case 'neg':
      return 7;
    default:
      return 8;
  }
}

function quote(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/**
 * The canonical text of an expression: one space around binary operators, single quotes,
 * parentheses only where precedence needs them. Parsing it gives the same tree.
 */
export function printExpr(e: Expr): string {
  const wrap = (x: Expr, min: number) => (precOf(x) < min ? `(${printExpr(x)})` : printExpr(x));
  switch (e.kind) {
    case 'number':
      return String(e.value);
    case 'string':
      return quote(e.value);
    case 'bool':
      return String(e.value);
    case 'null':
      return 'null';
    case 'column':
      return e.name;
    case 'neg':
      return `-${wrap(e.arg, 7)}`;
    case 'not':
      return `not ${wrap(e.arg, 3)}`;
    case 'in':
      return `${wrap(e.arg, 5)} ${e.negated ? 'not in' : 'in'} (${e.items.map((x) => wrap(x, 5)).join(', ')})`;
    case 'call':
      return `${e.fn}(${e.args.map(printExpr).join(', ')})`;
    case 'binary': {
      const p = PREC[e.op];
      // Left-associative: the right operand of equal precedence needs parentheses; comparisons do not chain.
      const cmp = p === 4;
      return `${wrap(e.left, cmp ? 5 : p)} ${e.op} ${wrap(e.right, p + 1)}`;
    }
  }
}
