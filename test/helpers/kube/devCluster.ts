// The whole cluster double: the API server, the agent-sandbox controller
// double, and the namespace seeded with the SandboxTemplates and warm pools
// of server/deploy/kubernetes (the manifests a real install applies), so a
// server started with its KUBECONFIG and `--sandbox kubernetes` needs no
// other setting. scripts/dev-cluster.sh runs it; tests start it in-process.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';
import { ControllerDouble } from './controllerDouble';
import { startKubeDouble, type KubeDouble } from './kubeDouble';
import type { KubeObject } from './objectStore';

const REPO = resolve(__dirname, '../../..');
export const DEPLOY_DIR = join(REPO, 'server/deploy/kubernetes');
const SEEDED = ['sandbox-templates.yaml', 'sandbox-warmpools.yaml'];

export interface DevClusterOptions {
  namespace?: string;
  /** Overrides every warm pool's replicas (0: every claim starts cold). */
  warmPoolReplicas?: number;
  runnerBinary?: string;
  /** How often the controller writes claimed pods' PodMetrics (0: never; tests write their own). */
  podMetricsIntervalMs?: number;
  port?: number;
  dir?: string;
}

export interface DevCluster {
  kube: KubeDouble;
  controller: ControllerDouble;
  kubeconfig: string;
  namespace: string;
  stop(): Promise<void>;
}

function codexBinary(): string | undefined {
  const bin = join(REPO, 'node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex');
  return existsSync(bin) ? bin : undefined;
}

export function deployObjects(file: string): KubeObject[] {
  return (loadAllYaml(readFileSync(join(DEPLOY_DIR, file), 'utf8')) as KubeObject[]).filter(Boolean);
}

export async function startDevCluster(o: DevClusterOptions = {}): Promise<DevCluster> {
  const kube = await startKubeDouble({ namespace: o.namespace ?? 'astraforge', port: o.port, dir: o.dir });
  const controller = new ControllerDouble({
    api: kube.api,
    runnerBinary: o.runnerBinary ?? join(REPO, 'server/dist/af-runner'),
    // What server/deploy/images/sandbox.Dockerfile puts in the image beside the runner.
    imageFiles: [
      { host: join(REPO, 'server/deploy/images/sandbox-entrypoint.sh'), path: '/opt/astraforge/bin/entrypoint' },
      { host: join(REPO, 'server/deploy/images/runtime_api.py'), path: '/opt/astraforge/bin/runtime_api.py' },
      // The Codex CLI, where the image carries it for the codex agent.
      ...(codexBinary() ? [{ host: codexBinary()!, path: '/.astraforge/bin/codex' }] : []),
    ],
    dir: join(kube.dir, 'pods'),
    podMetricsIntervalMs: o.podMetricsIntervalMs,
  });
  controller.start();
  for (const file of SEEDED) {
    for (const obj of deployObjects(file)) {
      const kind = kube.api.kind(obj.kind!);
      if (obj.kind === 'SandboxWarmPool' && o.warmPoolReplicas !== undefined)
        (obj.spec as { replicas: number }).replicas = o.warmPoolReplicas;
      kube.api.store.create(kind, kube.namespace, { ...obj, metadata: { ...obj.metadata, namespace: kube.namespace } });
    }
  }
  return {
    kube,
    controller,
    kubeconfig: kube.kubeconfig,
    namespace: kube.namespace,
    async stop() {
      await controller.stop();
      await kube.stop();
    },
  };
}
