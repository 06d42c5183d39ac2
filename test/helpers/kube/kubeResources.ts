// The kinds the Kubernetes API double serves, and the discovery documents
// (/api, /apis, /apis/<group>/<version>) kubectl and client libraries read
// before they act on a kind. Shapes follow kubernetes-sigs/agent-sandbox:
// Sandbox in agents.x-k8s.io/v1beta1, SandboxClaim, SandboxTemplate and
// SandboxWarmPool in extensions.agents.x-k8s.io/v1beta1.

export interface KubeKind {
  group: string; // '' for the core group
  version: string;
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  namespaced: boolean;
  /** A status subresource: the main resource ignores status, /status changes only status. */
  statusSubresource: boolean;
  /** Dotted paths a create must carry (a CRD's required fields), checked as the API server's validation would. */
  required: string[];
}

export const SANDBOX_GROUP = 'agents.x-k8s.io';
export const EXTENSIONS_GROUP = 'extensions.agents.x-k8s.io';
export const AGENT_SANDBOX_VERSION = 'v1beta1';

export const KINDS: KubeKind[] = [
  {
    group: '',
    version: 'v1',
    kind: 'Namespace',
    plural: 'namespaces',
    singular: 'namespace',
    shortNames: ['ns'],
    namespaced: false,
    statusSubresource: true,
    required: [],
  },
  {
    group: SANDBOX_GROUP,
    version: AGENT_SANDBOX_VERSION,
    kind: 'Sandbox',
    plural: 'sandboxes',
    singular: 'sandbox',
    shortNames: ['sandbox'],
    namespaced: true,
    statusSubresource: true,
    required: ['spec.podTemplate.spec'],
  },
  {
    group: EXTENSIONS_GROUP,
    version: AGENT_SANDBOX_VERSION,
    kind: 'SandboxClaim',
    plural: 'sandboxclaims',
    singular: 'sandboxclaim',
    shortNames: ['sandboxclaim'],
    namespaced: true,
    statusSubresource: true,
    required: ['spec.warmPoolRef.name'],
  },
  {
    group: EXTENSIONS_GROUP,
    version: AGENT_SANDBOX_VERSION,
    kind: 'SandboxTemplate',
    plural: 'sandboxtemplates',
    singular: 'sandboxtemplate',
    shortNames: ['sandboxtemplate'],
    namespaced: true,
    statusSubresource: false,
    required: ['spec.podTemplate.spec'],
  },
  {
    group: EXTENSIONS_GROUP,
    version: AGENT_SANDBOX_VERSION,
    kind: 'SandboxWarmPool',
    plural: 'sandboxwarmpools',
    singular: 'sandboxwarmpool',
    shortNames: ['swp'],
    namespaced: true,
    statusSubresource: true,
    required: ['spec.sandboxTemplateRef.name'],
  },
];

/**
 * metrics-server's PodMetrics (metrics.k8s.io/v1beta1, plural "pods"): read-only on a real cluster,
 * written here by the controller double from each pod's cgroup (or by a test).
 */
KINDS.push({
  group: 'metrics.k8s.io',
  version: 'v1beta1',
  kind: 'PodMetrics',
  plural: 'pods',
  singular: '',
  shortNames: [],
  namespaced: true,
  statusSubresource: false,
  required: [],
});

/** The plain kinds a deployment of the server holds (server/deploy/kubernetes), stored as given: no controllers act on them. */
const PLAIN: [group: string, version: string, kind: string, plural: string, shortNames: string[]][] = [
  ['', 'v1', 'ServiceAccount', 'serviceaccounts', ['sa']],
  ['', 'v1', 'ConfigMap', 'configmaps', ['cm']],
  ['', 'v1', 'Secret', 'secrets', []],
  ['', 'v1', 'Service', 'services', ['svc']],
  ['', 'v1', 'PersistentVolumeClaim', 'persistentvolumeclaims', ['pvc']],
  ['apps', 'v1', 'Deployment', 'deployments', ['deploy']],
  ['rbac.authorization.k8s.io', 'v1', 'Role', 'roles', []],
  ['rbac.authorization.k8s.io', 'v1', 'RoleBinding', 'rolebindings', []],
  ['networking.k8s.io', 'v1', 'NetworkPolicy', 'networkpolicies', ['netpol']],
];
for (const [group, version, kind, plural, shortNames] of PLAIN) {
  KINDS.push({
    group,
    version,
    kind,
    plural,
    singular: kind.toLowerCase(),
    shortNames,
    namespaced: true,
    statusSubresource: false,
    required: [],
  });
}

export function apiVersionOf(k: KubeKind): string {
  return k.group ? `${k.group}/${k.version}` : k.version;
}

export function findKind(group: string, version: string, plural: string): KubeKind | undefined {
  return KINDS.find((k) => k.group === group && k.version === version && k.plural === plural);
}

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/** The APIResourceList of one group/version. */
export function resourceList(group: string, version: string): object | undefined {
  const kinds = KINDS.filter((k) => k.group === group && k.version === version);
  if (kinds.length === 0) return undefined;
  const resources: object[] = [];
  for (const k of kinds) {
    resources.push({
      name: k.plural,
      singularName: k.singular,
      namespaced: k.namespaced,
      kind: k.kind,
      verbs: VERBS,
      shortNames: k.shortNames,
      ...(k.group ? { categories: ['all'] } : {}),
    });
    if (k.statusSubresource) {
      resources.push({
        name: `${k.plural}/status`,
        singularName: '',
        namespaced: k.namespaced,
        kind: k.kind,
        verbs: ['get', 'patch', 'update'],
      });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources };
}

export function coreVersions(serverAddress: string): object {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

export function groupList(): object {
  const groups = [...new Set(KINDS.filter((k) => k.group).map((k) => k.group))];
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: groups.map((name) => {
      const versions = [...new Set(KINDS.filter((k) => k.group === name).map((k) => k.version))].map((v) => ({
        groupVersion: `${name}/${v}`,
        version: v,
      }));
      return { name, versions, preferredVersion: versions[0] };
    }),
  };
}

export function groupDoc(group: string): object | undefined {
  const list = groupList() as { groups: { name: string }[] };
  return list.groups.find((g) => g.name === group)
    ? { kind: 'APIGroup', apiVersion: 'v1', ...list.groups.find((g) => g.name === group) }
    : undefined;
}
