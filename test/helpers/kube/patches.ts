// The two patch formats Kubernetes takes for custom resources: JSON merge
// patch (RFC 7386, what `kubectl apply` sends for them) and JSON patch
// (RFC 6902).
import { KubeApiError, type KubeObject } from './objectStore';

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

interface Op {
  op: string;
  path: string;
  value?: unknown;
  from?: string;
}

function pointer(path: string): string[] {
  return path
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

export function applyJsonPatch(current: KubeObject, patch: unknown): KubeObject {
  if (!Array.isArray(patch)) throw new KubeApiError(400, 'BadRequest', 'json patch must be an array of operations');
  const doc = JSON.parse(JSON.stringify(current)) as Record<string, unknown>;
  for (const op of patch as Op[]) {
    const segs = pointer(op.path);
    const last = segs.pop()!;
    let parent: Record<string, unknown> | unknown[] = doc;
    for (const s of segs) {
      const next: unknown = Array.isArray(parent) ? parent[Number(s)] : parent[s];
      if (!next || typeof next !== 'object')
        throw new KubeApiError(422, 'Invalid', `the server rejected our request due to an error in our request: missing path ${op.path}`);
      parent = next as Record<string, unknown>;
    }
    const get = () => (Array.isArray(parent) ? parent[Number(last)] : parent[last]);
    switch (op.op) {
      case 'add':
      case 'replace':
        if (op.op === 'replace' && get() === undefined)
          throw new KubeApiError(422, 'Invalid', `replace operation does not apply: doc is missing key: ${op.path}`);
        if (Array.isArray(parent)) {
          if (last === '-') parent.push(op.value);
          else if (op.op === 'add') parent.splice(Number(last), 0, op.value);
          else parent[Number(last)] = op.value;
        } else parent[last] = op.value;
        break;
      case 'remove':
        if (get() === undefined) throw new KubeApiError(422, 'Invalid', `remove operation does not apply: doc is missing path: ${op.path}`);
        if (Array.isArray(parent)) parent.splice(Number(last), 1);
        else delete parent[last];
        break;
      case 'test':
        if (JSON.stringify(get()) !== JSON.stringify(op.value)) throw new KubeApiError(422, 'Invalid', `testing value ${op.path} failed`);
        break;
      default:
        throw new KubeApiError(400, 'BadRequest', `unsupported json patch operation ${op.op}`);
    }
  }
  return doc as KubeObject;
}
