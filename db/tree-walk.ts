import type { SnapshotRow } from "./types.ts";

/**
 * Every snapshot below `id` (not `id` itself), leaves first: each after all of its descendants (post-order, in the
 * order `kids` gives siblings). Iterative, so a chain of thousands does not run out of stack; a parent loop in bad
 * data is walked once. Both backends' TreeRepo.descendants walk with it.
 */
export function postOrder(id: number, kids: (parent: number) => SnapshotRow[]): SnapshotRow[] {
  const out: SnapshotRow[] = [];
  const seen = new Set<number>([id]);
  const stack: Array<{ row: SnapshotRow; kids: SnapshotRow[] | null }> = kids(id).reverse().map((row) => ({ row, kids: null }));
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.kids === null) {
      if (seen.has(top.row.id)) {
        stack.pop();
        continue;
      }
      seen.add(top.row.id);
      top.kids = kids(top.row.id).filter((k) => !seen.has(k.id));
      for (const k of [...top.kids].reverse()) stack.push({ row: k, kids: null });
      continue;
    }
    out.push(stack.pop()!.row);
  }
  return out;
}
