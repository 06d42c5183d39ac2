// Label and field selectors as the API server reads them: `a=b`, `a==b`,
// `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x,y)`, comma meaning AND; field
// selectors on metadata.name and metadata.namespace.

export class SelectorError extends Error {}

type Requirement = (labels: Record<string, string>) => boolean;

/** Splits on commas outside parentheses. */
function terms(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

const KEY = /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$/;

function checkKey(key: string): string {
  if (!KEY.test(key)) throw new SelectorError(`invalid label key "${key}"`);
  return key;
}

function requirement(term: string): Requirement {
  let m = /^(\S+)\s+(in|notin)\s+\((.*)\)$/.exec(term);
  if (m) {
    const key = checkKey(m[1]);
    const values = new Set(m[3].split(',').map((v) => v.trim()));
    return m[2] === 'in' ? (l) => key in l && values.has(l[key]) : (l) => !(key in l) || !values.has(l[key]);
  }
  m = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
  if (m) {
    const [, key, op, value] = m;
    checkKey(key);
    return op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value;
  }
  if (term.startsWith('!')) {
    const key = checkKey(term.slice(1).trim());
    return (l) => !(key in l);
  }
  const key = checkKey(term);
  return (l) => key in l;
}

export function labelSelector(text: string | null): Requirement {
  if (!text) return () => true;
  const reqs = terms(text).map(requirement);
  return (labels) => reqs.every((r) => r(labels));
}

interface Named {
  metadata: { name: string; namespace?: string };
}

export function fieldSelector(text: string | null): (obj: Named) => boolean {
  if (!text) return () => true;
  const checks = terms(text).map((term) => {
    const m = /^([^=!]+)(==|=|!=)(.*)$/.exec(term);
    if (!m) throw new SelectorError(`invalid field selector "${term}"`);
    const [, field, op, value] = m;
    const get = (o: Named): string | undefined => {
      if (field === 'metadata.name') return o.metadata.name;
      if (field === 'metadata.namespace') return o.metadata.namespace ?? '';
      throw new SelectorError(`field label not supported: ${field}`);
    };
    return op === '!=' ? (o: Named) => get(o) !== value : (o: Named) => get(o) === value;
  });
  return (o) => checks.every((c) => c(o));
}
