/**
 * Checks contract source and rewrites it into a metered factory function.
 *
 * The contract is an ES module. It is parsed once with acorn, every construct that could escape
 * metering or differ between validators is rejected, and the text is rewritten in place: `export`
 * keywords are dropped, a gas tick opens every function body and loop body, every function body
 * counts call depth, and every `catch` first hands the exception to the VM (so out-of-gas and
 * depth faults cannot be swallowed). For error positions, every statement first records its
 * offset in the original source in a variable of its function (`__cloister_p`), and every function
 * body (and the module body) hands an exception leaving it to the VM with that offset, as every
 * `catch` does: the VM keeps the first offset an exception is seen with. The result is the source
 * of
 *
 *     (function (globalThis) { return function (tick, caught, deep, spread, ..., mark) {
 *       <module>; return exports } })
 *
 * which the sandbox evaluates once per program and calls once per contract call.
 * @module
 */

import { type AnyNode, type Pattern, parse, type Token, tokTypes } from 'acorn';
import { children_of, straight_line_nodes, tree_depth_exceeds } from './ast.js';
import {
  ast_depth_max,
  call_args_max,
  call_depth_unit_chars,
  call_depth_units_max,
  code_size_bytes_max,
  operand_chars_free,
  straight_line_nodes_per_gas,
  tick_gas,
} from './limits.js';
import { apply_edits, type Edit } from './splice.js';

/** Identifiers starting with this are the VM's own; contract code may not name them. */
export const reserved_prefix = '__cloister';

/** Entry points the factory returns, in a fixed order. */
export const entry_point_names = ['instantiate', 'execute', 'query', 'reply'] as const;

/** The one ECMAScript edition contracts are parsed as, so acceptance never drifts with acorn's default. */
export const ecma_version = 2022;

const tick_fn = `${reserved_prefix}_tick`;
const gas_var = `${reserved_prefix}_gas`;
/**
 * One tick covering `nodes` syntax nodes of straight-line code: decrement gas inline (1 plus 1 per
 * `straight_line_nodes_per_gas` nodes), call the VM only when it runs out.
 */
function tick_code(nodes: number): string {
  const gas = tick_gas * (1 + Math.floor(nodes / straight_line_nodes_per_gas));
  return `if((${gas_var}.left-=${gas})<0)${tick_fn}();`;
}
const caught_fn = `${reserved_prefix}_caught`;
const deep_fn = `${reserved_prefix}_deep`;
const depth_var = `${reserved_prefix}_depth`;
const error_var = `${reserved_prefix}_e`;
/** A function's (or the module body's) last statement started: its offset in the original source. */
const pos_var = `${reserved_prefix}_p`;
const mark_fn = `${reserved_prefix}_mark`;

/** Records that the statement at `offset` (in the original source) starts. */
function pos_code(offset: number): string {
  return `${pos_var}=${offset};`;
}

const spread_fn = `${reserved_prefix}_spread`;
/** The metered operators: `a OP b` becomes `op(k, a, b)`, `k` the operator's index here. */
export const metered_operators = [
  '+',
  '-',
  '*',
  '/',
  '%',
  '**',
  '<<',
  '>>',
  '>>>',
  '&',
  '|',
  '^',
  '==',
  '!=',
  '===',
  '!==',
  '<',
  '<=',
  '>',
  '>=',
  'in',
] as const;
const op_fn = `${reserved_prefix}_op`;
const after_fn = `${reserved_prefix}_after`;
const str_fn = `${reserved_prefix}_str`;
const elems_fn = `${reserved_prefix}_elems`;
const props_fn = `${reserved_prefix}_props`;
const key_fn = `${reserved_prefix}_key`;

/**
 * Opens a function body of `weight` depth units starting at `offset`: its own position variable,
 * one tick, then the depth count inside the `try` whose `catch` (from `epilogue`) hands a leaving
 * exception to the VM with the position and whose `finally` gives the units back however the
 * body ends.
 */
function prologue(weight: number, nodes: number, offset: number): string {
  return `var ${pos_var}=${offset};${tick_code(nodes)}try{if((${depth_var}+=${weight})>${call_depth_units_max})${deep_fn}();`;
}

function epilogue(weight: number): string {
  return `}catch(${error_var}){${mark_fn}(${error_var},${pos_var});throw ${error_var}}finally{${depth_var}-=${weight}}`;
}

/**
 * Whether a statement in a statement list records its position. Declarations that run nothing
 * (functions, `export { ... }`), empty statements, blocks (their statements record) and jumps
 * that cannot throw do not.
 */
function records_position(statement: AnyNode): boolean {
  switch (statement.type) {
    case 'FunctionDeclaration':
    case 'EmptyStatement':
    case 'BlockStatement':
    case 'BreakStatement':
    case 'ContinueStatement':
      return false;
    case 'ReturnStatement':
      return statement.argument !== null && statement.argument !== undefined;
    case 'ExportNamedDeclaration':
      return (
        statement.declaration !== null &&
        statement.declaration !== undefined &&
        statement.declaration.type !== 'FunctionDeclaration'
      );
    default:
      return true;
  }
}

/** Depth units a function whose source spans `[start, end)` holds while it runs. */
function weight_of(start: number, end: number): number {
  return 1 + Math.floor((end - start) / call_depth_unit_chars);
}

/** A contract the VM refuses, with the reason. */
export class ContractRejected extends Error {
  override name = 'ContractRejected';
}

/** What `instrument_module` produces. */
export interface Instrumented {
  /** Script source evaluating to the outer factory function described in the module docs. */
  factory_source: string;
  /** Entry points the module exports. */
  entry_points: string[];
}

function utf8_length(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

function where(source: string, pos: number): string {
  let line = 1;
  let column = 0;
  for (let i = 0; i < pos && i < source.length; i++) {
    if (source.charCodeAt(i) === 10) {
      line++;
      column = 0;
    } else {
      column++;
    }
  }
  return `${line}:${column + 1}`;
}

/** Names a declaration or pattern binds, for `export const {a, b: [c]} = ...`. */
export function bound_names(pattern: Pattern, out: string[]): void {
  switch (pattern.type) {
    case 'Identifier':
      out.push(pattern.name);
      break;
    case 'ObjectPattern':
      for (const prop of pattern.properties) {
        bound_names(prop.type === 'RestElement' ? prop.argument : prop.value, out);
      }
      break;
    case 'ArrayPattern':
      for (const element of pattern.elements) if (element) bound_names(element, out);
      break;
    case 'RestElement':
      bound_names(pattern.argument, out);
      break;
    case 'AssignmentPattern':
      bound_names(pattern.left, out);
      break;
    case 'MemberExpression':
      break;
  }
}

/** Whether an identifier in field `key` of `parent` refers to a binding (rather than naming a property or label). */
export function is_reference(parent: AnyNode | null, key: string): boolean {
  if (parent === null) return true;
  switch (parent.type) {
    case 'MemberExpression':
      return key !== 'property' || parent.computed;
    case 'Property':
    case 'MethodDefinition':
    case 'PropertyDefinition':
      return key !== 'key' || parent.computed;
    case 'ExportSpecifier':
      return key === 'local';
    case 'LabeledStatement':
    case 'BreakStatement':
    case 'ContinueStatement':
      return key !== 'label';
    case 'MetaProperty':
      return false;
    default:
      return true;
  }
}

/**
 * Parses contract `source` as the VM does (size, syntax and nesting checks included), collecting
 * its tokens into `tokens` when given. Throws `ContractRejected`. The tree has acorn's `start` and
 * `end` offsets and `loc` line/column positions.
 */
export function parse_contract(source: string, tokens?: Token[]): AnyNode {
  if (typeof source !== 'string') throw new TypeError('contract source must be a string');
  if (source.length > code_size_bytes_max || utf8_length(source) > code_size_bytes_max) {
    throw new ContractRejected(`contract source exceeds ${code_size_bytes_max} bytes`);
  }
  let program: AnyNode;
  try {
    program = parse(source, {
      ecmaVersion: ecma_version,
      sourceType: 'module',
      preserveParens: true,
      allowHashBang: false,
      allowReturnOutsideFunction: false,
      allowImportExportEverywhere: false,
      allowAwaitOutsideFunction: false,
      locations: true,
      ...(tokens === undefined ? {} : { onToken: tokens }),
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // acorn turns its own stack overflow into this SyntaxError; report it like any deep tree.
    if (message.startsWith('Not enough stack space') || error instanceof RangeError) throw nesting_error();
    throw new ContractRejected(`syntax error: ${message}`);
  }
  if (tree_depth_exceeds(program, ast_depth_max)) throw nesting_error();
  return program;
}

/**
 * The 1-based line and column (in UTF-16 code units) of `offset` in `source`, counting line
 * breaks as ECMAScript does (LF, CR, CRLF, U+2028, U+2029), so they match acorn's and editors'.
 * Returns a function answering for any offset, from a table built once.
 */
export function line_locator(source: string): (offset: number) => { line: number; column: number } {
  const starts = [0];
  for (let i = 0; i < source.length; i++) {
    const c = source.charCodeAt(i);
    if (c === 13 && source.charCodeAt(i + 1) === 10) continue;
    if (c === 10 || c === 13 || c === 0x2028 || c === 0x2029) starts.push(i + 1);
  }
  return (offset) => {
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (starts[mid]! <= offset) low = mid;
      else high = mid - 1;
    }
    return { line: low + 1, column: offset - starts[low]! + 1 };
  };
}

/**
 * Parses, checks and instruments contract `source`. Throws `ContractRejected` with a message
 * naming the line and column of the first offending construct.
 */
export function instrument_module(source: string): Instrumented {
  const tokens: Token[] = [];
  const program = parse_contract(source, tokens);

  const fail = (node: { start: number }, what: string): never => {
    throw new ContractRejected(`${what} (at ${where(source, node.start)})`);
  };

  for (const token of tokens) {
    // A vm.Script is parsed as a script, where `<!--` and `-->` start comments; in a module they
    // are operators. Code that relies on either reading would run differently than it was checked.
    if (
      (token.type === tokTypes.relational && source.startsWith('<!--', token.start)) ||
      (token.type === tokTypes.incDec && source.startsWith('-->', token.start))
    ) {
      fail(token, 'HTML-like comment syntax (<!-- or -->) is not allowed');
    }
  }

  const edits: Edit[] = [];
  const exported = new Map<string, string>();
  let seq = 0;
  const open = (pos: number, text: string): void => {
    edits.push({ start: pos, end: pos, text, opens: true, seq: seq++ });
  };
  const close = (pos: number, text: string): void => {
    edits.push({ start: pos, end: pos, text, opens: false, seq: seq++ });
  };
  const remove = (start: number, end: number): void => {
    // A space, not nothing, so the tokens on either side never merge.
    edits.push({ start, end, text: ' ', opens: true, seq: seq++ });
  };
  const token_at_or_after = (pos: number, label: string): Token => {
    for (const token of tokens) if (token.start >= pos && token.type.label === label) return token;
    throw new RangeError(`no ${label} token after ${pos}`);
  };

  const wrap_body = (fn: AnyNode & { params: AnyNode[] }, body: AnyNode): void => {
    const weight = weight_of(fn.start, fn.end);
    // Parameter defaults and the body's code outside its loops run once per call.
    const nodes = straight_line_nodes([...fn.params, body]);
    if (body.type === 'BlockStatement') {
      open(body.start + 1, prologue(weight, nodes, body.start));
      close(body.end - 1, epilogue(weight));
    } else {
      // `x => e` becomes `x => {tick; try {return e;} finally {...}}`; with preserveParens the
      // body includes any parentheses around it, so `() => ({})` stays an object.
      open(body.start, `{${prologue(weight, nodes, body.start)}return `);
      close(body.end, `;${epilogue(weight)}}`);
    }
  };

  // Each iteration runs the body, the test and the update.
  const tick_loop_body = (loop: AnyNode & { body: AnyNode }): void => {
    const body = loop.body;
    const per_iteration: AnyNode[] = [body];
    if ('test' in loop && loop.test) per_iteration.push(loop.test as AnyNode);
    if ('update' in loop && loop.update) per_iteration.push(loop.update as AnyNode);
    const code = tick_code(straight_line_nodes(per_iteration));
    if (body.type === 'BlockStatement') {
      open(body.start + 1, code);
    } else {
      open(body.start, `{${code}${records_position(body) ? pos_code(body.start) : ''}`);
      close(body.end, '}');
    }
    // The test and update record nothing of their own (that would cost every iteration): an error
    // there is reported at the loop statement the first time, later at the body's last statement.
  };

  const record_positions = (statements: readonly AnyNode[]): void => {
    for (const statement of statements) {
      if (records_position(statement)) open(statement.start, pos_code(statement.start));
    }
  };
  // The body of an `if` or `else` that is not a block becomes one, so it can record its position.
  const block_with_position = (statement: AnyNode | null | undefined): void => {
    if (!statement || statement.type === 'BlockStatement' || !records_position(statement)) return;
    open(statement.start, `{${pos_code(statement.start)}`);
    close(statement.end, '}');
  };

  // Operands read twice by an inline fast path must be free of side effects and cheap.
  const is_plain = (n: AnyNode): boolean =>
    (n.type === 'Identifier' && n.name !== 'undefined') ||
    (n.type === 'Literal' && typeof n.value === 'number');
  const operator_token = (node: AnyNode & { left: AnyNode; right: AnyNode }, operator: string): Token => {
    for (const token of tokens) {
      if (
        token.start >= node.left.end &&
        token.end <= node.right.start &&
        source.slice(token.start, token.end) === operator
      )
        return token;
    }
    throw new RangeError(`no ${operator} token in ${node.start}-${node.end}`);
  };
  // `a OP b` → `op(k, a, b)`, or with plain operands `(typeof a === 'number' && typeof b ===
  // 'number' ? a OP b : op(k, a, b))`: numbers are O(1) whatever the operator; strings and
  // BigInts pay by size in the VM.
  const meter_binary = (node: AnyNode & { left: AnyNode; right: AnyNode; operator: string }): void => {
    const k = (metered_operators as readonly string[]).indexOf(node.operator);
    if (k < 0 || node.left.type === 'PrivateIdentifier') return;
    const token = operator_token(node, node.operator);
    if (is_plain(node.left) && is_plain(node.right)) {
      const a = source.slice(node.left.start, node.left.end);
      const b = source.slice(node.right.start, node.right.end);
      const fast = `${node.left.type === 'Literal' ? '' : `typeof ${a}==='number'&&`}${node.right.type === 'Literal' ? '' : `typeof ${b}==='number'&&`}`;
      open(node.start, `(${fast}true?${a}${node.operator}${b}:${op_fn}(${k},`);
      edits.push({ start: token.start, end: token.end, text: ',', opens: false, seq: seq++ });
      close(node.end, '))');
      return;
    }
    open(node.start, `${op_fn}(${k},`);
    edits.push({ start: token.start, end: token.end, text: ',', opens: false, seq: seq++ });
    close(node.end, ')');
  };
  // `x OP= y` → `x = op(k, x, y)` for a plain target (an identifier, or a non-computed member
  // of an identifier or this); any other target pays after the fact by the result's size.
  const meter_assignment = (node: AnyNode & { left: AnyNode; right: AnyNode; operator: string }): void => {
    if (node.operator.length < 2 || node.operator.endsWith('==') || !node.operator.endsWith('=')) return;
    const base = node.operator.slice(0, -1);
    if (base === '&&' || base === '||' || base === '??') return;
    const k = (metered_operators as readonly string[]).indexOf(base);
    if (k < 0) return;
    const left = node.left;
    const simple =
      left.type === 'Identifier' ||
      (left.type === 'MemberExpression' &&
        !left.computed &&
        !left.optional &&
        left.property.type === 'Identifier' &&
        (left.object.type === 'Identifier' || left.object.type === 'ThisExpression'));
    const token = operator_token(node, node.operator);
    if (simple) {
      const target = source.slice(left.start, left.end);
      edits.push({
        start: token.start,
        end: token.end,
        text: `=${op_fn}(${k},${target},`,
        opens: false,
        seq: seq++,
      });
      close(node.end, ')');
    } else {
      open(node.start, `${after_fn}(`);
      close(node.end, ')');
    }
  };

  const visited = new Set<AnyNode>();
  const visit = (node: AnyNode, parent: AnyNode | null, key: string): void => {
    // acorn may share one node between two fields (shorthand properties); edit it once.
    if (visited.has(node)) return;
    visited.add(node);
    switch (node.type) {
      case 'StaticBlock':
        // Its statements record into the enclosing function's position (a static block runs
        // while the class is defined, so an error in it leaves from there).
        open(token_at_or_after(node.start, '{').end, tick_code(straight_line_nodes(node.body)));
        record_positions(node.body);
        break;
      case 'Program':
      case 'BlockStatement':
        record_positions(node.body as AnyNode[]);
        break;
      case 'SwitchCase':
        record_positions(node.consequent);
        break;
      case 'IfStatement':
        block_with_position(node.consequent);
        block_with_position(node.alternate);
        break;
      case 'ImportDeclaration':
        fail(node, 'import declarations are not allowed');
        break;
      case 'ImportExpression':
        fail(node, 'import() is not allowed');
        break;
      case 'MetaProperty':
        if (node.meta.name === 'import') fail(node, 'import.meta is not allowed');
        break;
      case 'ExportDefaultDeclaration':
        fail(node, 'export default is not allowed; export the entry points by name');
        break;
      case 'ExportAllDeclaration':
        fail(node, 'export * is not allowed');
        break;
      case 'ExportNamedDeclaration':
        if (node.source) fail(node, 're-exporting from another module is not allowed');
        if (node.declaration) {
          remove(node.start, node.declaration.start);
          const names: string[] = [];
          const declaration = node.declaration;
          if (declaration.type === 'VariableDeclaration') {
            for (const declarator of declaration.declarations) bound_names(declarator.id, names);
          } else {
            names.push(declaration.id.name);
          }
          for (const name of names) exported.set(name, name);
        } else {
          remove(node.start, node.end);
          for (const specifier of node.specifiers) {
            const as =
              specifier.exported.type === 'Identifier' ? specifier.exported.name : specifier.exported.value;
            if (as === 'default')
              fail(specifier, 'export default is not allowed; export the entry points by name');
            if (specifier.local.type !== 'Identifier') fail(specifier, 'string export names are not allowed');
            exported.set(String(as), (specifier.local as { name: string }).name);
          }
        }
        break;
      case 'FunctionDeclaration':
      case 'FunctionExpression':
      case 'ArrowFunctionExpression':
        // An async function or generator resumes from the job queue or the caller, outside
        // the call that metered it.
        if (node.async) fail(node, 'async functions are not allowed');
        if (node.generator) fail(node, 'generators are not allowed');
        wrap_body(node, node.body);
        break;
      case 'AwaitExpression':
        fail(node, 'await is not allowed');
        break;
      case 'YieldExpression':
        fail(node, 'yield is not allowed');
        break;
      case 'ForOfStatement':
        if (node.await) fail(node, 'for await is not allowed');
        tick_loop_body(node);
        break;
      case 'ForStatement':
      case 'WhileStatement':
      case 'DoWhileStatement':
        tick_loop_body(node);
        break;
      case 'Literal':
        // A regular expression runs unmetered in one step and may backtrack exponentially.
        if (node.regex) fail(node, 'regular expression literals are not allowed');
        break;
      case 'WithStatement':
        fail(node, 'with is not allowed');
        break;
      case 'DebuggerStatement':
        fail(node, 'debugger is not allowed');
        break;
      case 'Identifier':
        if (node.name.startsWith(reserved_prefix)) {
          fail(node, `identifiers starting with ${reserved_prefix} are reserved`);
        }
        // At module level `arguments` would be the factory's own arguments: the VM's callbacks.
        if (node.name === 'arguments' && is_reference(parent, key)) {
          fail(node, '`arguments` is not allowed; use rest parameters');
        }
        break;
      case 'PrivateIdentifier':
        if (node.name.startsWith(reserved_prefix)) {
          fail(node, `identifiers starting with ${reserved_prefix} are reserved`);
        }
        break;
      case 'TryStatement':
        if (!node.handler) {
          // Observe every exception passing through, so a `finally` cannot hide a fault.
          open(
            node.block.end,
            `catch(${error_var}){${caught_fn}(${error_var},${pos_var});throw ${error_var}}`,
          );
        }
        break;
      case 'CatchClause': {
        let name = error_var;
        if (!node.param) {
          if (!source.startsWith('catch', node.start))
            throw new RangeError('catch clause without catch keyword');
          open(node.start + 'catch'.length, `(${error_var})`);
        } else if (node.param.type === 'Identifier') {
          name = node.param.name;
        } else {
          // A destructuring parameter would run code before the VM sees the exception.
          fail(node.param, 'catch parameter must be a plain identifier');
        }
        open(node.body.start + 1, `${caught_fn}(${name},${pos_var});`);
        break;
      }
      case 'PropertyDefinition':
        if (node.value) {
          // A field initializer runs on construction with no function body of its own, so
          // `class A { a = new A() }` would recurse unmetered: give it one.
          const weight = weight_of(node.value.start, node.value.end);
          const nodes = straight_line_nodes([node.value]);
          open(node.value.start, `(()=>{${prologue(weight, nodes, node.value.start)}return `);
          close(node.value.end, `;${epilogue(weight)}})()`);
        }
        break;
      case 'TaggedTemplateExpression':
        if (node.quasi.expressions.length >= call_args_max) {
          fail(node, `a call may pass at most ${call_args_max} arguments`);
        }
        break;
      case 'CallExpression':
      case 'NewExpression':
        if (node.arguments.length > call_args_max)
          fail(node, `a call may pass at most ${call_args_max} arguments`);
        for (const arg of node.arguments) {
          // Spread arguments land on the native stack: bound their number like apply's.
          if (arg.type === 'SpreadElement') {
            open(arg.argument.start, `${spread_fn}(`);
            close(arg.argument.end, ')');
          }
        }
        break;
      case 'BinaryExpression':
        meter_binary(node);
        break;
      case 'AssignmentExpression':
        meter_assignment(node);
        break;
      case 'TemplateLiteral':
        // Building the string copies every part; a BigInt part converts in quadratic time.
        if (node.expressions.length > 0 && parent?.type !== 'TaggedTemplateExpression') {
          open(node.start, `${after_fn}(`);
          close(node.end, ')');
          for (const expression of node.expressions) {
            open(expression.start, `${str_fn}(`);
            close(expression.end, ')');
          }
        }
        break;
      case 'ArrayExpression':
        for (const element of node.elements) {
          if (element?.type === 'SpreadElement') {
            open(element.argument.start, `${elems_fn}(`);
            close(element.argument.end, ')');
          }
        }
        break;
      case 'ObjectExpression':
        for (const property of node.properties) {
          if (property.type === 'SpreadElement') {
            open(property.argument.start, `${props_fn}(`);
            close(property.argument.end, ')');
          }
        }
        break;
      case 'ForInStatement':
        open(node.right.start, `${props_fn}(`);
        close(node.right.end, ')');
        tick_loop_body(node);
        break;
      case 'MemberExpression':
        // A long string key is hashed in full on every access.
        if (node.computed && node.property.type !== 'Literal' && node.property.type !== 'PrivateIdentifier') {
          const key = node.property;
          if (key.type === 'Identifier') {
            const name = key.name;
            open(key.start, `typeof ${name}==='string'&&${name}.length>${operand_chars_free}?${key_fn}(`);
            close(key.end, `):${name}`);
          } else {
            open(key.start, `${key_fn}(`);
            close(key.end, ')');
          }
        }
        break;
      default:
        break;
    }
    for (const child of children_of(node)) visit(child.node, node, child.key);
  };
  visit(program, null, '');

  const entry_points = entry_point_names.filter((name) => exported.has(name));
  const returned = entry_points.map((name) => `${JSON.stringify(name)}:${exported.get(name)}`).join(',');
  const body = apply_edits(source, edits);
  // The module body runs inside a try, so an exception leaving it is marked like a function's.
  const factory_source =
    `(function (globalThis) {'use strict';\n` +
    `return function (${tick_fn}, ${caught_fn}, ${deep_fn}, ${spread_fn}, ${gas_var}, ${op_fn}, ${after_fn}, ${str_fn}, ${elems_fn}, ${props_fn}, ${key_fn}, ${mark_fn}) {'use strict';let ${depth_var} = 0;var ${pos_var} = 0;try{\n` +
    `${body}\n;return {__proto__: null${returned ? `,${returned}` : ''}};\n}catch(${error_var}){${mark_fn}(${error_var},${pos_var});throw ${error_var}}};\n})`;
  return { factory_source, entry_points };
}

function nesting_error(): ContractRejected {
  return new ContractRejected(`contract source nests deeper than ${ast_depth_max} levels`);
}
