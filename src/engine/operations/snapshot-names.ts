// Default snapshot names follow LXD's documented pattern example {{ creation_date|date:'2006-01-02_15-04-05' }}:
// sortable, readable, valid as folder and LXD names.
export async function defaultSnapshotName(at: number, taken: (name: string) => boolean | Promise<boolean>): Promise<string> {
  const d = new Date(at);
  const p = (n: number) => String(n).padStart(2, "0");
  const base = `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}_${p(d.getUTCHours())}-${p(d.getUTCMinutes())}-${p(d.getUTCSeconds())}`;
  if (!(await taken(base))) return base;
  for (let i = 2; ; i++) if (!(await taken(`${base}-${i}`))) return `${base}-${i}`;
}
