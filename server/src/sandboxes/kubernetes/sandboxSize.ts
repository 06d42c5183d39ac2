// A pod's size on Kubernetes. A SandboxClaim carries no resources: the pod's
// memory and CPU limits are its template's. So a session that asks for less
// than its tier's template gets a template of its own size, derived from the
// tier's (the sandbox container's limits set to the size, everything else as
// it is). Pure: what size, under what name, with what spec; sizedPools.ts
// makes the objects.
import { createHash } from 'node:crypto';
import { parseQuantity } from './podMetrics';

/** Memory and CPU for a whole sandbox (bytes, cores); a dimension left out is unbounded, as in the template. */
export interface PodSize {
  memoryBytes?: number;
  cpus?: number;
}

/** The smallest pod the sandbox image is given: its runner and a shell must start in it. */
export const MIN_MEMORY_BYTES = 64 * 1024 * 1024;
export const MIN_CPUS = 0.01;
/** The container af-runner runs in (the templates' one container; else the first). */
export const SANDBOX_CONTAINER = 'sandbox';
/** Names of templates and pools end up in label values and pod names: 63 characters at most. */
const MAX_NAME = 63;
const MiB = 2 ** 20;

/** A size in the units Kubernetes is given it here (whole MiB, millicores): the template's limits and its name use the same. */
function quantities(size: PodSize): { mib?: number; millicores?: number } {
  return {
    mib: size.memoryBytes === undefined ? undefined : Math.round(size.memoryBytes / MiB),
    millicores: size.cpus === undefined ? undefined : Math.round(size.cpus * 1000),
  };
}

interface Container {
  name?: string;
  resources?: { limits?: Record<string, string | number>; requests?: Record<string, string | number> };
}

export interface TemplateSpec {
  podTemplate?: { spec?: { containers?: Container[] } };
}

function sandboxContainer(spec: TemplateSpec): Container | undefined {
  const containers = spec.podTemplate?.spec?.containers ?? [];
  return containers.find((c) => c.name === SANDBOX_CONTAINER) ?? containers[0];
}

/** The template's own limits for the sandbox container (a dimension it leaves unbounded is undefined). */
export function templateSize(spec: TemplateSpec): PodSize {
  const limits = sandboxContainer(spec)?.resources?.limits;
  return { memoryBytes: parseQuantity(limits?.memory), cpus: parseQuantity(limits?.cpu) };
}

/**
 * The size a session's pod must have, or undefined when the tier's template
 * already fits (it gives no more than the session asked in every dimension
 * it asked about). A dimension the session did not ask about keeps the
 * template's limit (none, where the template sets none). Rounded down to
 * whole MiB and millicores, never below the image's minimum.
 */
export function sizeFor(template: PodSize, asked: PodSize): PodSize | undefined {
  const tighter = (want: number | undefined, has: number | undefined) => want !== undefined && (has === undefined || want < has);
  const memoryTighter = tighter(asked.memoryBytes, template.memoryBytes);
  const cpuTighter = tighter(asked.cpus, template.cpus);
  if (!memoryTighter && !cpuTighter) return undefined;
  const memory = memoryTighter ? asked.memoryBytes : template.memoryBytes;
  const cpus = cpuTighter ? asked.cpus : template.cpus;
  return {
    ...(memory !== undefined ? { memoryBytes: Math.max(MIN_MEMORY_BYTES, Math.floor(memory / MiB) * MiB) } : {}),
    ...(cpus !== undefined ? { cpus: Math.max(MIN_CPUS, Math.floor(cpus * 1000) / 1000) } : {}),
  };
}

/** The name of the template (and pool) of one size of a tier's template: the size and the tier template's spec, hashed. */
export function sizedName(templateName: string, templateSpec: TemplateSpec, size: PodSize): string {
  const hash = createHash('sha256').update(JSON.stringify(templateSpec)).digest('hex').slice(0, 8);
  const { mib, millicores } = quantities(size);
  const suffix = `${millicores === undefined ? '' : `-${millicores}m`}${mib === undefined ? '' : `-${mib}mi`}-${hash}`;
  const base = templateName.slice(0, MAX_NAME - suffix.length).replace(/[-.]+$/, '');
  return `${base}${suffix}`;
}

/** The tier's template spec with the sandbox container's limits set to `size` (requests no higher than them). */
export function sizedTemplateSpec(spec: TemplateSpec, size: PodSize): TemplateSpec {
  const copy = structuredClone(spec);
  const container = sandboxContainer(copy);
  if (!container) throw new Error('the template has no container');
  const { mib, millicores } = quantities(size);
  const limits = { ...container.resources?.limits };
  const requests = { ...container.resources?.requests };
  const set = (key: 'memory' | 'cpu', quantity: string, bound: number) => {
    limits[key] = quantity;
    const requested = parseQuantity(requests[key]);
    if (requested !== undefined && requested > bound) requests[key] = quantity;
  };
  if (mib !== undefined) set('memory', `${mib}Mi`, size.memoryBytes!);
  if (millicores !== undefined) set('cpu', `${millicores}m`, size.cpus!);
  container.resources = { ...container.resources, requests, limits };
  return copy;
}

/** A size as people read it, for messages: "256 MiB, 0.5 CPU". */
export function describeSize(size: PodSize): string {
  const { mib } = quantities(size);
  return [mib === undefined ? undefined : `${mib} MiB`, size.cpus === undefined ? undefined : `${size.cpus} CPU`]
    .filter(Boolean)
    .join(', ');
}
