// A pod's size on Kubernetes. A SandboxClaim carries no resources: the pod's
// memory and CPU limits are its template's. So a session that asks for less
// than its tier's template gets a template of its own size, derived from the
// tier's (the sandbox container's limits set to the size, everything else as
// it is). Pure: what size, under what name, with what spec; sizedPools.ts
// makes the objects.
import { createHash } from 'node:crypto';
import { parseQuantity } from './podMetrics';

/** Memory and CPU for a whole sandbox (bytes, cores). */
export interface PodSize {
  memoryBytes: number;
  cpus: number;
}

/** The smallest pod the sandbox image is given: its runner and a shell must start in it. */
export const MIN_MEMORY_BYTES = 64 * 1024 * 1024;
export const MIN_CPUS = 0.01;
/** The container af-runner runs in (the templates' one container; else the first). */
export const SANDBOX_CONTAINER = 'sandbox';
/** Names of templates and pools end up in label values and pod names: 63 characters at most. */
const MAX_NAME = 63;

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
export function templateSize(spec: TemplateSpec): Partial<PodSize> {
  const limits = sandboxContainer(spec)?.resources?.limits;
  return { memoryBytes: parseQuantity(limits?.memory), cpus: parseQuantity(limits?.cpu) };
}

/**
 * The size a session's pod must have, or undefined when the tier's template
 * already fits (it gives no more than the session asked in every dimension
 * it asked about). A dimension the session did not ask about keeps the
 * template's limit. Rounded to whole MiB and millicores, never below the
 * image's minimum.
 */
export function sizeFor(template: Partial<PodSize>, asked: Partial<PodSize>): PodSize | undefined {
  const tighter = (want: number | undefined, has: number | undefined) => want !== undefined && (has === undefined || want < has);
  const memoryTighter = tighter(asked.memoryBytes, template.memoryBytes);
  const cpuTighter = tighter(asked.cpus, template.cpus);
  if (!memoryTighter && !cpuTighter) return undefined;
  const mib = (bytes: number) => Math.max(MIN_MEMORY_BYTES, Math.floor(bytes / 2 ** 20) * 2 ** 20);
  const millicores = (cpus: number) => Math.max(MIN_CPUS, Math.floor(cpus * 1000) / 1000);
  const memory = memoryTighter ? asked.memoryBytes! : template.memoryBytes;
  const cpus = cpuTighter ? asked.cpus! : template.cpus;
  // Unbounded in the template and not asked: the size names the server's bound for it (the caller's asked value).
  return { memoryBytes: mib(memory ?? asked.memoryBytes ?? MIN_MEMORY_BYTES), cpus: millicores(cpus ?? asked.cpus ?? 1) };
}

/** The name of the template (and pool) of one size of a tier's template: the size and the tier template's spec, hashed. */
export function sizedName(templateName: string, templateSpec: TemplateSpec, size: PodSize): string {
  const hash = createHash('sha256').update(JSON.stringify(templateSpec)).digest('hex').slice(0, 8);
  const suffix = `-${Math.round(size.cpus * 1000)}m-${Math.round(size.memoryBytes / 2 ** 20)}mi-${hash}`;
  const base = templateName.slice(0, MAX_NAME - suffix.length).replace(/[-.]+$/, '');
  return `${base}${suffix}`;
}

/** The tier's template spec with the sandbox container's limits set to `size` (requests no higher than them). */
export function sizedTemplateSpec(spec: TemplateSpec, size: PodSize): TemplateSpec {
  const copy = structuredClone(spec);
  const container = sandboxContainer(copy);
  if (!container) throw new Error('the template has no container');
  const memory = `${Math.round(size.memoryBytes / 2 ** 20)}Mi`;
  const cpu = `${Math.round(size.cpus * 1000)}m`;
  const requests = { ...container.resources?.requests };
  const requested = (key: string, limit: number) => {
    const r = parseQuantity(requests[key]);
    return r !== undefined && r > limit;
  };
  if (requested('memory', size.memoryBytes)) requests.memory = memory;
  if (requested('cpu', size.cpus)) requests.cpu = cpu;
  container.resources = { ...container.resources, requests, limits: { ...container.resources?.limits, memory, cpu } };
  return copy;
}
