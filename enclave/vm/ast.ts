/**
 * Generic traversal of acorn syntax trees: the children of a node and the depth of a tree.
 * @module
 */

import type { AnyNode } from 'acorn';

/** A child of a node, with the field it sits in (so callers can tell a key from a value). */
export interface Child {
  node: AnyNode;
  key: string;
}

function is_node(value: unknown): value is AnyNode {
  return (
    typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string'
  );
}

/** The direct child nodes of `node`, in source order of their fields. */
export function children_of(node: AnyNode): Child[] {
  const out: Child[] = [];
  for (const key of Object.keys(node)) {
    // `loc`, `range` and literal values are never nodes; `regex` is a plain record.
    const value = (node as unknown as Record<string, unknown>)[key];
    if (Array.isArray(value)) {
      for (const item of value) if (is_node(item)) out.push({ node: item, key });
    } else if (is_node(value)) {
      out.push({ node: value, key });
    }
  }
  return out;
}

/**
 * Depth of the tree under `root` (a lone node has depth 1), found without recursion so that
 * it cannot overflow the stack whatever the tree, and stopping once it passes `limit`.
 */
export function tree_depth_exceeds(root: AnyNode, limit: number): boolean {
  const stack: [AnyNode, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth > limit) return true;
    for (const child of children_of(node)) stack.push([child.node, depth + 1]);
  }
  return false;
}

const LOOPS = new Set([
  'ForStatement',
  'ForInStatement',
  'ForOfStatement',
  'WhileStatement',
  'DoWhileStatement',
]);
const FUNCTIONS = new Set(['FunctionDeclaration', 'FunctionExpression', 'ArrowFunctionExpression']);

/**
 * Nodes of the straight-line code under `roots`: every node, except what runs under a tick of
 * its own (the bodies, tests and updates of nested loops, nested functions, class field
 * initializers and static blocks). Iterative, like `tree_depth_exceeds`.
 */
export function straight_line_nodes(roots: readonly AnyNode[]): number {
  let count = 0;
  const stack: AnyNode[] = [...roots];
  while (stack.length > 0) {
    const node = stack.pop()!;
    count++;
    if (FUNCTIONS.has(node.type) || node.type === 'StaticBlock') continue;
    for (const child of children_of(node)) {
      if (LOOPS.has(node.type) && (child.key === 'body' || child.key === 'test' || child.key === 'update'))
        continue;
      if (node.type === 'PropertyDefinition' && child.key === 'value') continue;
      stack.push(child.node);
    }
  }
  return count;
}
