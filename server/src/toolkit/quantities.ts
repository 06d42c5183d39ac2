// Kubernetes-style resource quantities, as the toolkit's clients send them.
import { AppError } from '../errors';

const UNITS: Record<string, number> = {
  '': 1,
  k: 1e3,
  m: 1e6,
  g: 1e9,
  t: 1e12,
  ki: 1024,
  mi: 1024 ** 2,
  gi: 1024 ** 3,
  ti: 1024 ** 4,
};

/** "512Mi", "2G", "1073741824": bytes. */
export function parseMemory(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?)?b?\s*$/i.exec(q);
  if (!m) throw new AppError('INVALID_REQUEST', `memory "${q}" is not a quantity like 512Mi or 2G`);
  return Math.round(Number(m[1]) * UNITS[(m[2] ?? '').toLowerCase()]);
}

/** "500m", "2", 1.5: cores. */
export function parseCpu(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(m?)\s*$/.exec(q);
  if (!m) throw new AppError('INVALID_REQUEST', `cpu "${q}" is not a quantity like 500m or 2`);
  return Number(m[1]) / (m[2] ? 1000 : 1);
}
