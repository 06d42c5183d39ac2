// Percentiles and the Markdown table the benchmark prints.
export interface Row {
  name: string;
  n?: number;
  p50?: number;
  p95?: number;
  unit: string;
  note?: string;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function summarize(name: string, samples: number[], unit = 'ms', note?: string): Row {
  const sorted = [...samples].sort((a, b) => a - b);
  return { name, n: samples.length, p50: percentile(sorted, 50), p95: percentile(sorted, 95), unit, note };
}

/** Times `fn` n times, one after another. */
export async function timeEach(n: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    out.push(performance.now() - t0);
  }
  return out;
}

function fmt(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return '';
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

export function table(rows: Row[]): string {
  const lines = ['| measure | n | p50 | p95 | unit | note |', '|---|---:|---:|---:|---|---|'];
  for (const r of rows) lines.push(`| ${r.name} | ${r.n ?? ''} | ${fmt(r.p50)} | ${fmt(r.p95)} | ${r.unit} | ${r.note ?? ''} |`);
  return lines.join('\n');
}
