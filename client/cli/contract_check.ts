/**
 * `cloister contract check FILE`: compiles a contract as every validator's VM would, prints its
 * code hash and size, and warns about shapes that compile but cannot work as meant: missing or
 * misspelled entry points, an entry point that is not a function, a reply asked for without a
 * `reply` entry point, and globals the VM removes. Warnings come from reading the source, not
 * running it (see `contract_warnings`), so they can miss things or be wrong; they fail the command
 * only with `--strict`.
 * @module
 */

import { readFileSync } from 'node:fs';
import type { AnyNode, Pattern } from 'acorn';
import { children_of } from '../../enclave/vm/ast.js';
import { compile_contract } from '../../enclave/vm/compile.js';
import {
  bound_names,
  ContractRejected,
  entry_point_names,
  is_reference,
  parse_contract,
} from '../../enclave/vm/instrument.js';
import { code_size_bytes_max } from '../../enclave/vm/limits.js';
import { removed_global_names } from '../../enclave/vm/realm_script.js';
import { to_hex } from '../../protocol/bytes.js';
import { get_provider } from '../../protocol/providers/index.js';

/** One thing `contract check` found suspicious, with where it is when it is somewhere. */
export interface CheckWarning {
  /** Stable name of the kind of warning (for scripts): see `contract_warnings`. */
  code:
    | 'no_instantiate'
    | 'no_execute_or_query'
    | 'entry_not_function'
    | 'misspelled_entry'
    | 'reply_missing'
    | 'removed_global';
  message: string;
  /** 1-based line and column in the source, when the warning is about one place. */
  line?: number;
  column?: number;
}

/** Largest edit distance at which an export is taken for a misspelled entry point. */
const misspelling_distance_max = 2;

/** Members the VM removes from globals it keeps, as `object.member`. */
const removed_members: ReadonlyMap<string, string> = new Map([
  ['Math.random', 'use ctx.random()'],
  ['Array.fromAsync', 'it returns a promise'],
  ['Error.captureStackTrace', 'stack traces have no frames'],
  ['Error.prepareStackTrace', 'stack traces have no frames'],
]);

/** What each removed global is replaced by, where something is. */
const removed_hints: ReadonlyMap<string, string> = new Map([
  ['Date', 'use ctx.time_ms'],
  ['performance', 'use ctx.time_ms'],
  ['crypto', 'use ctx.random()'],
  ['RegExp', 'validate strings by hand'],
  ['setTimeout', 'nothing runs after the call'],
  ['setInterval', 'nothing runs after the call'],
  ['setImmediate', 'nothing runs after the call'],
  ['queueMicrotask', 'nothing runs after the call'],
  ['Promise', 'nothing runs after the call'],
]);

/** Methods removed from every built-in prototype (locale-dependent or regular expressions). */
function removed_method(name: string): string | null {
  if (name === 'localeCompare' || name.startsWith('toLocale')) return 'it depends on the host locale';
  if (name === 'match' || name === 'matchAll')
    return 'String.prototype.match and matchAll take regular expressions';
  return null;
}

type ExportKind = 'function' | 'class' | 'value' | 'unknown';

interface ExportInfo {
  kind: ExportKind;
  node: AnyNode;
}

/** Levenshtein distance between two short strings. */
export function edit_distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}

function place(node: AnyNode): { line?: number; column?: number } {
  return node.loc ? { line: node.loc.start.line, column: node.loc.start.column + 1 } : {};
}

function kind_of_value(
  init: AnyNode | null | undefined,
  bindings: Map<string, AnyNode>,
  depth = 0,
): ExportKind {
  if (!init) return 'value';
  let node = init;
  while (node.type === 'ParenthesizedExpression') node = node.expression;
  switch (node.type) {
    case 'FunctionExpression':
    case 'ArrowFunctionExpression':
      return 'function';
    case 'ClassExpression':
      return 'class';
    case 'Literal':
    case 'ObjectExpression':
    case 'ArrayExpression':
    case 'TemplateLiteral':
      return 'value';
    case 'Identifier': {
      const target = bindings.get(node.name);
      return target === undefined || depth > 8 ? 'unknown' : kind_of_binding(target, bindings, depth + 1);
    }
    default:
      return 'unknown';
  }
}

/** The kind of a top-level declaration node that binds a name. */
function kind_of_binding(node: AnyNode, bindings: Map<string, AnyNode>, depth = 0): ExportKind {
  if (node.type === 'FunctionDeclaration') return 'function';
  if (node.type === 'ClassDeclaration') return 'class';
  if (node.type === 'VariableDeclarator') {
    return node.id.type === 'Identifier' ? kind_of_value(node.init, bindings, depth) : 'unknown';
  }
  return 'unknown';
}

/** Top-level bindings by name: function and class declarations and variable declarators. */
function top_level_bindings(program: AnyNode & { body: AnyNode[] }): Map<string, AnyNode> {
  const bindings = new Map<string, AnyNode>();
  for (const statement of program.body) {
    const declaration = statement.type === 'ExportNamedDeclaration' ? statement.declaration : statement;
    if (!declaration) continue;
    if (declaration.type === 'FunctionDeclaration' || declaration.type === 'ClassDeclaration') {
      if (declaration.id) bindings.set(declaration.id.name, declaration);
    } else if (declaration.type === 'VariableDeclaration') {
      for (const declarator of declaration.declarations) {
        const names: string[] = [];
        bound_names(declarator.id, names);
        for (const name of names) bindings.set(name, declarator);
      }
    }
  }
  return bindings;
}

/** Every named export with what it is, as far as the source says. */
function exports_of(program: AnyNode & { body: AnyNode[] }): Map<string, ExportInfo> {
  const bindings = top_level_bindings(program);
  const exported = new Map<string, ExportInfo>();
  for (const statement of program.body) {
    if (statement.type !== 'ExportNamedDeclaration') continue;
    const declaration = statement.declaration;
    if (declaration) {
      if (declaration.type === 'VariableDeclaration') {
        for (const declarator of declaration.declarations) {
          const names: string[] = [];
          bound_names(declarator.id, names);
          for (const name of names) {
            exported.set(name, { kind: kind_of_binding(declarator, bindings), node: declarator });
          }
        }
      } else {
        exported.set(declaration.id.name, {
          kind: kind_of_binding(declaration, bindings),
          node: declaration,
        });
      }
      continue;
    }
    for (const specifier of statement.specifiers) {
      const name =
        specifier.exported.type === 'Identifier' ? specifier.exported.name : String(specifier.exported.value);
      const local = specifier.local.type === 'Identifier' ? bindings.get(specifier.local.name) : undefined;
      exported.set(name, {
        kind: local === undefined ? 'unknown' : kind_of_binding(local, bindings),
        node: specifier,
      });
    }
  }
  return exported;
}

function entry_warnings(exported: Map<string, ExportInfo>): CheckWarning[] {
  const warnings: CheckWarning[] = [];
  const entries: readonly string[] = entry_point_names;
  if (!exported.has('instantiate')) {
    warnings.push({
      code: 'no_instantiate',
      message: 'no `instantiate` export: the contract cannot be instantiated',
    });
  }
  if (!exported.has('execute') && !exported.has('query')) {
    warnings.push({
      code: 'no_execute_or_query',
      message: 'neither `execute` nor `query` is exported: once instantiated, the contract cannot be called',
    });
  }
  for (const [name, info] of exported) {
    if (entries.includes(name)) {
      if (info.kind === 'value' || info.kind === 'class') {
        warnings.push({
          code: 'entry_not_function',
          message: `\`${name}\` is exported but is not a function${info.kind === 'class' ? ' (a class cannot be called without new)' : ''}: calling it is a contract error`,
          ...place(info.node),
        });
      }
      continue;
    }
    const near = entries.find((entry) => edit_distance(name, entry) <= misspelling_distance_max);
    if (near !== undefined) {
      warnings.push({
        code: 'misspelled_entry',
        message: `export \`${name}\` looks like the entry point \`${near}\`, which the VM looks up by its exact name`,
        ...place(info.node),
      });
    }
  }
  return warnings;
}

/** Names bound anywhere in the source: they shadow globals of the same name. */
function declared_names(program: AnyNode): Set<string> {
  const names: string[] = [];
  const stack: AnyNode[] = [program];
  while (stack.length > 0) {
    const node = stack.pop()!;
    switch (node.type) {
      case 'VariableDeclarator':
        bound_names(node.id, names);
        break;
      case 'FunctionDeclaration':
      case 'FunctionExpression':
      case 'ArrowFunctionExpression':
        if (node.type !== 'ArrowFunctionExpression' && node.id) names.push(node.id.name);
        for (const param of node.params) bound_names(param as Pattern, names);
        break;
      case 'ClassDeclaration':
      case 'ClassExpression':
        if (node.id) names.push(node.id.name);
        break;
      case 'CatchClause':
        if (node.param) bound_names(node.param, names);
        break;
      default:
        break;
    }
    for (const child of children_of(node)) stack.push(child.node);
  }
  return new Set(names);
}

/** Whether `options` (the third argument of an `execute` call) may ask for a reply. */
function may_ask_reply(options: AnyNode | undefined): boolean {
  if (options === undefined) return false;
  if (options.type !== 'ObjectExpression') return true;
  return options.properties.some(
    (p) =>
      p.type === 'SpreadElement' ||
      (p.type === 'Property' &&
        !p.computed &&
        ((p.key.type === 'Identifier' && p.key.name === 'reply') ||
          (p.key.type === 'Literal' && p.key.value === 'reply')) &&
        !(p.value.type === 'Literal' && p.value.value === false)),
  );
}

interface Found {
  /** First use of each removed global or member, and how many uses. */
  removed: Map<string, { node: AnyNode; count: number; hint: string }>;
  /** First `execute(...)` call (in source order) that may ask for a reply. */
  reply_call: AnyNode | null;
}

function scan(program: AnyNode): Found {
  const removed_globals = new Set(removed_global_names);
  const declared = declared_names(program);
  const found: Found = { removed: new Map(), reply_call: null };
  const note = (name: string, node: AnyNode, hint: string) => {
    const seen = found.removed.get(name);
    if (seen === undefined) found.removed.set(name, { node, count: 1, hint });
    else {
      seen.count++;
      if (node.start < seen.node.start) seen.node = node;
    }
  };
  const stack: [AnyNode, AnyNode | null, string][] = [[program, null, '']];
  while (stack.length > 0) {
    const [node, parent, key] = stack.pop()!;
    if (node.type === 'Identifier' && removed_globals.has(node.name) && is_reference(parent, key)) {
      if (!declared.has(node.name))
        note(node.name, node, removed_hints.get(node.name) ?? 'removed for determinism');
    } else if (node.type === 'MemberExpression' && !node.computed && node.property.type === 'Identifier') {
      const member = node.property.name;
      const object = node.object.type === 'Identifier' ? node.object.name : null;
      const dotted = object === null ? null : `${object}.${member}`;
      if (dotted !== null && removed_members.has(dotted) && !declared.has(object!)) {
        note(dotted, node, removed_members.get(dotted)!);
      } else if (parent?.type === 'CallExpression' && key === 'callee') {
        const why = removed_method(member);
        if (why !== null) note(`.${member}()`, node, why);
      }
    } else if (
      node.type === 'CallExpression' &&
      node.callee.type === 'MemberExpression' &&
      !node.callee.computed &&
      node.callee.property.type === 'Identifier' &&
      node.callee.property.name === 'execute' &&
      (found.reply_call === null || node.start < found.reply_call.start) &&
      may_ask_reply(node.arguments[2])
    ) {
      found.reply_call = node;
    }
    for (const child of children_of(node)) stack.push([child.node, node, child.key]);
  }
  return found;
}

function sorted_by_place(warnings: CheckWarning[]): CheckWarning[] {
  return warnings.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
}

/**
 * Warnings about `source`, which must parse (check `compile_contract` first; an unparsable source
 * has none). All heuristic, from the syntax alone:
 * - `no_instantiate`, `no_execute_or_query`: entry points missing from the exports;
 * - `entry_not_function`: an entry point exported as a literal, object, array or class (an export
 *   whose value the source does not show, such as a call's result, is given the benefit of the
 *   doubt);
 * - `misspelled_entry`: an export within edit distance 2 of an entry point's name (`instanciate`,
 *   `Execute`, `querry`);
 * - `reply_missing`: no `reply` export while some `x.execute(a, b, options)` call passes options
 *   that are not an object literal without `reply` (or with `reply: false`);
 * - `removed_global`: a use of a global or built-in member the VM removes (`Date`, `Math.random`,
 *   `setTimeout`, `x.localeCompare()`, ...), unless the source declares that name itself.
 */
export function contract_warnings(source: string): CheckWarning[] {
  let program: AnyNode & { body: AnyNode[] };
  try {
    program = parse_contract(source) as AnyNode & { body: AnyNode[] };
  } catch (error) {
    if (error instanceof ContractRejected) return [];
    throw error;
  }
  const exported = exports_of(program);
  const warnings = entry_warnings(exported);
  const found = scan(program);
  if (found.reply_call !== null && !exported.has('reply')) {
    warnings.push({
      code: 'reply_missing',
      message:
        'this ctx.execute may ask for a reply, but the contract exports no `reply` entry point: the reply would fail, and the whole transaction with it',
      ...place(found.reply_call),
    });
  }
  for (const [name, { node, count, hint }] of found.removed) {
    const more = count > 1 ? ` (${count} uses)` : '';
    warnings.push({
      code: 'removed_global',
      message: `\`${name}\` is not available in contracts: ${hint}${more}`,
      ...place(node),
    });
  }
  return sorted_by_place(warnings);
}

/** What `contract check` reports. */
export type CheckReport =
  | {
      ok: boolean;
      file: string;
      code_hash: string;
      size_bytes: number;
      entry_points: string[];
      warnings: CheckWarning[];
    }
  /** `stage` says what refused it: the size limit or the compiler. */
  | { ok: false; file: string; stage: 'size' | 'compile'; error: string };

/** Where the command reads and writes (a test passes its own). */
export interface CheckIo {
  read(file: string): Uint8Array;
  stdout(text: string): void;
  stderr(text: string): void;
}

const process_io: CheckIo = {
  read: (file) => readFileSync(file),
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
};

function format_warning(file: string, w: CheckWarning): string {
  const where = w.line === undefined ? file : `${file}:${w.line}:${w.column}`;
  return `cloister: warning: ${where}: ${w.message}\n`;
}

/**
 * Checks `bytes` (the contract file's content) as `contract check` does: compile, hash, warn.
 * `strict` turns any warning into a failure (`ok: false`).
 */
export function check_contract(file: string, bytes: Uint8Array, strict: boolean): CheckReport {
  if (bytes.length > code_size_bytes_max) {
    const error = `the contract is ${bytes.length} bytes; the limit is ${code_size_bytes_max}`;
    return { ok: false, file, stage: 'size', error };
  }
  const source = Buffer.from(bytes).toString('utf8');
  const compiled = compile_contract(source);
  if (!compiled.ok) return { ok: false, file, stage: 'compile', error: compiled.message };
  const code_hash = to_hex(get_provider('native').sha256(bytes));
  const warnings = contract_warnings(source);
  const exported = exports_of(parse_contract(source) as AnyNode & { body: AnyNode[] });
  const entry_points = entry_point_names.filter((name) => exported.has(name));
  return {
    ok: !(strict && warnings.length > 0),
    file,
    code_hash,
    size_bytes: bytes.length,
    entry_points,
    warnings,
  };
}

/**
 * Runs `cloister contract check FILE [--json] [--strict]`: prints the report (JSON on stdout with
 * `--json`, else a summary on stdout and warnings on stderr). Returns whether the command failed.
 */
export function contract_check_command(
  file: string,
  options: { json: boolean; strict: boolean },
  io: CheckIo = process_io,
): 'ok' | 'failure' {
  let bytes: Uint8Array;
  try {
    bytes = io.read(file);
  } catch (error) {
    io.stderr(`cloister: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}\n`);
    return 'failure';
  }
  const report = check_contract(file, bytes, options.strict);
  if (!('code_hash' in report)) {
    if (options.json) io.stdout(`${JSON.stringify(report)}\n`);
    else if (report.stage === 'compile') io.stderr(`cloister: ${file} does not compile: ${report.error}\n`);
    else io.stderr(`cloister: ${file}: ${report.error}\n`);
    return 'failure';
  }
  if (options.json) {
    io.stdout(`${JSON.stringify(report)}\n`);
  } else {
    const entries = report.entry_points.length > 0 ? report.entry_points.join(', ') : 'none';
    io.stdout(
      `${report.ok ? 'ok' : 'warnings (--strict)'}  ${file}\n  code hash     ${report.code_hash}\n  size          ${report.size_bytes} bytes\n  entry points  ${entries}\n`,
    );
    for (const warning of report.warnings) io.stderr(format_warning(file, warning));
  }
  return report.ok ? 'ok' : 'failure';
}
