// A session's pod size on Kubernetes: when the tier's template fits, when a
// template of the session's own size is needed, its name, and its spec.
import assert from 'node:assert/strict';
import { MIN_MEMORY_BYTES, sizedName, sizedTemplateSpec, sizeFor, templateSize } from '../../server/src/sandboxes/kubernetes/sandboxSize';
import { deployObjects } from '../helpers/kube/devCluster';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

function tierTemplate() {
  const t = deployObjects('sandbox-templates.yaml').find((o) => o.metadata.name === 'astraforge-runc');
  if (!t) throw new Error('no runc template in the deployment');
  return t.spec as any;
}

describe('kubernetes sandbox sizes', () => {
  it('readsTheSandboxContainersLimitsFromTheTemplate', () => {
    assert.deepEqual(templateSize(tierTemplate()), { memoryBytes: 2 * GiB, cpus: 2 });
    assert.deepEqual(templateSize({ podTemplate: { spec: { containers: [{ name: 'other' }] } } }), {
      memoryBytes: undefined,
      cpus: undefined,
    });
  });

  it('keepsTheTiersTemplateWhenItGivesNoMoreThanAsked', () => {
    const tier = { memoryBytes: 2 * GiB, cpus: 2 };
    assert.equal(sizeFor(tier, {}), undefined, 'nothing asked');
    assert.equal(sizeFor(tier, { memoryBytes: 2 * GiB, cpus: 2 }), undefined, 'exactly the template');
    assert.equal(sizeFor(tier, { memoryBytes: 4 * GiB }), undefined, 'more than the template: the template is the most there is');
  });

  it('sizesDownOnlyTheDimensionsAskedAbout', () => {
    const tier = { memoryBytes: 2 * GiB, cpus: 2 };
    assert.deepEqual(sizeFor(tier, { memoryBytes: 256 * MiB }), { memoryBytes: 256 * MiB, cpus: 2 });
    assert.deepEqual(sizeFor(tier, { cpus: 0.5 }), { memoryBytes: 2 * GiB, cpus: 0.5 });
    assert.deepEqual(sizeFor(tier, { memoryBytes: 300 * MiB + 12345, cpus: 0.33333 }), { memoryBytes: 300 * MiB, cpus: 0.333 });
    assert.deepEqual(sizeFor(tier, { memoryBytes: 1024 }), { memoryBytes: MIN_MEMORY_BYTES, cpus: 2 }, 'never below what the image needs');
    // A template without limits is unbounded: any ask is tighter, and a dimension not asked about stays unbounded.
    assert.deepEqual(sizeFor({}, { memoryBytes: 512 * MiB }), { memoryBytes: 512 * MiB });
    assert.deepEqual(sizeFor({ memoryBytes: 2 * GiB }, { cpus: 0.25 }), { memoryBytes: 2 * GiB, cpus: 0.25 });
  });

  it('namesASizeByItAndByTheTiersTemplate', () => {
    const spec = tierTemplate();
    const name = sizedName('astraforge-runc', spec, { memoryBytes: 256 * MiB, cpus: 0.5 });
    assert.match(name, /^astraforge-runc-500m-256mi-[0-9a-f]{8}$/);
    assert.equal(sizedName('astraforge-runc', structuredClone(spec), { memoryBytes: 256 * MiB, cpus: 0.5 }), name, 'stable');
    const changed = structuredClone(spec);
    changed.podTemplate.spec.containers[0].image = 'astraforge/sandbox:0.2.0';
    assert.notEqual(
      sizedName('astraforge-runc', changed, { memoryBytes: 256 * MiB, cpus: 0.5 }),
      name,
      'a changed tier template gets new sizes',
    );
    assert.match(sizedName('open', spec, { memoryBytes: 512 * MiB }), /^open-512mi-[0-9a-f]{8}$/, 'no CPU part for an unbounded CPU');
    const long = sizedName('a'.repeat(80) + '-', spec, { memoryBytes: 4 * GiB, cpus: 1.5 });
    assert.ok(long.length <= 63, long);
    assert.match(long, /^a+-1500m-4096mi-[0-9a-f]{8}$/);
  });

  it('setsTheContainersLimitsAndKeepsTheRestOfTheTemplate', () => {
    const spec = tierTemplate();
    const before = JSON.stringify(spec);
    const sized = sizedTemplateSpec(spec, { memoryBytes: 256 * MiB, cpus: 0.5 });
    assert.equal(JSON.stringify(spec), before, 'the tier template is not changed');
    const c = sized.podTemplate!.spec!.containers![0] as any;
    assert.deepEqual(c.resources.limits, { ...spec.podTemplate.spec.containers[0].resources.limits, memory: '256Mi', cpu: '500m' });
    // Requests above the new limits come down to them (the API server refuses requests over limits); lower ones stay.
    assert.equal(c.resources.requests.memory, '256Mi');
    assert.equal(c.resources.requests.cpu, '250m');
    assert.equal(c.resources.requests['ephemeral-storage'], '1Gi');
    const rest = (s: any) => {
      const copy = structuredClone(s);
      delete copy.podTemplate.spec.containers[0].resources;
      return copy;
    };
    assert.deepEqual(rest(sized), rest(spec), 'runtime class, security context, probes and the rest as the tier has them');
    // A dimension the size leaves unbounded is not written.
    const open = { podTemplate: { spec: { containers: [{ name: 'sandbox', resources: { requests: { cpu: '1' } } }] } } };
    assert.deepEqual((sizedTemplateSpec(open, { memoryBytes: 256 * MiB }).podTemplate!.spec!.containers![0] as any).resources, {
      requests: { cpu: '1' },
      limits: { memory: '256Mi' },
    });
  });
});
