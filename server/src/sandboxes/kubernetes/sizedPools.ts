// The warm pool a session's claim names, by its size. A session that asks
// for less memory or CPU than its tier's template gives gets a template of
// that size and a warm pool of it (sandboxSize.ts), made in the namespace
// the first time the size is asked for and kept for every later session of
// that size, by this server or another one in the namespace (the names are
// the size and a hash of the tier's template, so a changed tier template
// gets new ones). The pool keeps no warm pods (replicas 0: such a claim is
// a cold start) unless an operator scales it.
import { CLAIM_GROUP, CLAIM_VERSION, type ClaimClient, type KubeObjectOf } from './claimClient';
import { LABEL_MANAGED_BY } from './claimSpec';
import { describeSize, sizedName, sizedTemplateSpec, sizeFor, templateSize, type PodSize, type TemplateSpec } from './sandboxSize';

export const LABEL_SIZED_FROM = 'astraforge.dev/sized-from';
/** How long a tier's pool and template, once read, are taken as they are (a changed template is seen after this). */
const TIER_TTL_MS = 30_000;

interface Tier {
  templateName: string;
  spec: TemplateSpec;
}

export class SizedPools {
  private readonly tiers = new Map<string, { at: number; tier: Promise<Tier> }>();
  private readonly made = new Map<string, Promise<void>>();

  constructor(
    private readonly client: ClaimClient,
    private readonly log?: (obj: Record<string, unknown>, msg: string) => void,
  ) {}

  /**
   * The warm pool for a session of the tier `pool` that asked for `asked`
   * (only the dimensions it asked about, already within the server's
   * limits): the tier's own pool when its template fits, else the pool of
   * that size, made if it is not there yet.
   */
  async poolFor(pool: string, asked: PodSize): Promise<string> {
    if (asked.memoryBytes === undefined && asked.cpus === undefined) return pool;
    const tier = await this.tier(pool);
    const size = sizeFor(templateSize(tier.spec), asked);
    if (!size) return pool;
    const name = sizedName(tier.templateName, tier.spec, size);
    let making = this.made.get(name);
    if (!making) {
      making = this.make(pool, name, tier, size);
      this.made.set(name, making);
      making.catch(() => this.made.delete(name));
    }
    await making;
    return name;
  }

  private tier(pool: string): Promise<Tier> {
    const known = this.tiers.get(pool);
    if (known && Date.now() - known.at < TIER_TTL_MS) return known.tier;
    const tier = this.readTier(pool);
    this.tiers.set(pool, { at: Date.now(), tier });
    tier.catch(() => this.tiers.delete(pool));
    return tier;
  }

  private async readTier(pool: string): Promise<Tier> {
    let poolObj: KubeObjectOf;
    try {
      poolObj = await this.client.getExtension('sandboxwarmpools', pool);
    } catch (e) {
      throw new Error(`cannot read SandboxWarmPool "${pool}" to size the sandbox: ${(e as Error).message}`);
    }
    const templateName = (poolObj.spec?.sandboxTemplateRef as { name?: string } | undefined)?.name;
    if (!templateName) throw new Error(`SandboxWarmPool "${pool}" names no sandboxTemplateRef`);
    try {
      const template = await this.client.getExtension('sandboxtemplates', templateName);
      return { templateName, spec: (template.spec ?? {}) as TemplateSpec };
    } catch (e) {
      throw new Error(`cannot read SandboxTemplate "${templateName}" to size the sandbox: ${(e as Error).message}`);
    }
  }

  /** The template and the pool of one size; either may exist already (another session or server made it). */
  private async make(tierPool: string, name: string, tier: Tier, size: PodSize): Promise<void> {
    const labels = { [LABEL_MANAGED_BY]: 'astraforge', [LABEL_SIZED_FROM]: tierPool };
    const apiVersion = `${CLAIM_GROUP}/${CLAIM_VERSION}`;
    const what = `the template "${name}" (${describeSize(size)})`;
    try {
      const template = await this.client.createExtension('sandboxtemplates', {
        apiVersion,
        kind: 'SandboxTemplate',
        metadata: { name, labels },
        spec: sizedTemplateSpec(tier.spec, size),
      });
      const pool = await this.client.createExtension('sandboxwarmpools', {
        apiVersion,
        kind: 'SandboxWarmPool',
        metadata: { name, labels },
        spec: { sandboxTemplateRef: { name }, replicas: 0 },
      });
      if (template || pool)
        this.log?.({ pool: name, from: tierPool, memory_bytes: size.memoryBytes, cpus: size.cpus }, 'sandbox size made');
    } catch (e) {
      throw new Error(
        `cannot make ${what} and its warm pool (may the server's account create sandboxtemplates and sandboxwarmpools?): ${(e as Error).message}`,
      );
    }
  }
}
