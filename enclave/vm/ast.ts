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
