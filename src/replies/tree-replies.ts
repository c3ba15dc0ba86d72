import type { Button, Reply } from "../reply.ts";
import { UserError } from "../errors.ts";
import { utc } from "./format.ts";
import { PAGE_SIZE } from "./snapshot-replies.ts";

// `list <server> --tree` (drivers with features.trees): the snapshots drawn as a tree with box-drawing
// branches, children in creation order, ● on the current snapshot and, as its last child, "you are here":
// the server's state now is a child of the current snapshot (a new snapshot goes there). Paged like list,
// 50 snapshots a page in drawing order; every line's branches are computed from the whole tree, so page 2
// still lines up under page 1.

/** One snapshot as the tree needs it (the command reads these from the ledger). */
export interface TreeNode {
  id: number;
  name: string;
  parentId: number | null;
  current: boolean;
  state: string;
  createdAt: number;
  origin: string;
}

interface Row {
  node: TreeNode;
  text: string;
  /** The "you are here" line drawn right after this row (after the current snapshot's last descendant). */
  after?: string;
}

type Step = { node: TreeNode; prefix: string; guide: string } | { here: TreeNode; prefix: string };

const byCreation = (a: TreeNode, b: TreeNode) => a.createdAt - b.createdAt || a.id - b.id;

function nodeText(n: TreeNode, prefix: string): string {
  const marks = [utc(n.createdAt), ...(n.state === "done" ? [] : [n.state]), ...(n.origin === "external" ? ["external"] : [])];
  return `${prefix}${n.current ? "● " : ""}${n.name}  ${marks.join("  ")}`;
}

/** Children by parent, and the roots: snapshots without a parent or whose parent is not among the nodes (deleted). */
function childrenOf(nodes: TreeNode[]): { roots: TreeNode[]; kids: Map<number, TreeNode[]> } {
  const ids = new Set(nodes.map((n) => n.id));
  const kids = new Map<number, TreeNode[]>();
  const roots: TreeNode[] = [];
  for (const n of nodes) {
    if (n.parentId === null || n.parentId === n.id || !ids.has(n.parentId)) roots.push(n);
    else {
      const list = kids.get(n.parentId);
      if (list) list.push(n);
      else kids.set(n.parentId, [n]);
    }
  }
  for (const list of kids.values()) list.sort(byCreation);
  return { roots: roots.sort(byCreation), kids };
}

/** Depth-first, with an explicit stack: a chain of thousands draws without deep recursion. */
function walk(start: TreeNode, kids: Map<number, TreeNode[]>, seen: Set<number>, rows: Row[]): void {
  const stack: Step[] = [{ node: start, prefix: "", guide: "" }];
  while (stack.length > 0) {
    const step = stack.pop()!;
    if ("here" in step) {
      rows[rows.length - 1]!.after = `${step.prefix}you are here (the current state, a child of ${step.here.name})`;
      continue;
    }
    const { node, prefix, guide } = step;
    if (seen.has(node.id)) continue; // a parent loop in bad data: each snapshot is drawn once
    seen.add(node.id);
    rows.push({ node, text: nodeText(node, prefix) });
    const children = (kids.get(node.id) ?? []).filter((c) => !seen.has(c.id));
    const count = children.length + (node.current ? 1 : 0);
    const branch = (i: number) =>
      i === count - 1 ? { prefix: `${guide}└─ `, guide: `${guide}   ` } : { prefix: `${guide}├─ `, guide: `${guide}│  ` };
    // Pushed last-first so they pop in creation order; "you are here" is the last child.
    if (node.current) stack.push({ here: node, prefix: branch(count - 1).prefix });
    for (let i = children.length - 1; i >= 0; i--) stack.push({ node: children[i]!, ...branch(i) });
  }
}

/** Every snapshot once, in drawing order; snapshots caught in a parent loop start trees of their own. */
function treeRows(nodes: TreeNode[]): Row[] {
  const { roots, kids } = childrenOf(nodes);
  const seen = new Set<number>();
  const rows: Row[] = [];
  for (const root of roots) walk(root, kids, seen, rows);
  if (rows.length < nodes.length) for (const n of [...nodes].sort(byCreation)) if (!seen.has(n.id)) walk(n, kids, seen, rows);
  return rows;
}

/** The tree, one page of PAGE_SIZE snapshots; `page` beyond the last is refused as list refuses it. */
export function snapshotTree(nodes: TreeNode[], page: number, server: string): Reply {
  const command = `list ${server} --tree`;
  if (nodes.length === 0)
    return { visibility: "ephemeral", tone: "info", title: `${server} has no snapshots yet`, lines: [`Take one with: create ${server}`] };
  const pages = Math.ceil(nodes.length / PAGE_SIZE);
  if (page < 1 || page > pages) throw new UserError("bad_page", `there are only ${pages} page(s): try ${command}`);
  const rows = treeRows(nodes);
  const start = (page - 1) * PAGE_SIZE;
  const shown = rows.slice(start, start + PAGE_SIZE);
  const first = shown[0]!.node;
  const parent = first.parentId === null ? undefined : nodes.find((n) => n.id === first.parentId);
  const buttons: Button[] = [];
  if (page > 1) buttons.push({ label: "Previous", command: `${command} --page ${page - 1}` });
  if (page < pages) buttons.push({ label: "Next", command: `${command} --page ${page + 1}` });
  const paged = pages > 1 ? ` (page ${page} of ${pages})` : "";
  return {
    visibility: "ephemeral",
    tone: "info",
    title: `${server}: snapshot tree, ${start + 1}–${start + shown.length} of ${nodes.length}${paged}`,
    lines: page > 1 && parent ? [`continued from page ${page - 1}: ${first.name} is under ${parent.name}`] : undefined,
    monospace: shown.flatMap((r) => (r.after === undefined ? [r.text] : [r.text, r.after])),
    buttons: buttons.length ? buttons : undefined,
  };
}
