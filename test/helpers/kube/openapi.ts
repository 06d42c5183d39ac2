// The OpenAPI v3 documents kubectl downloads before it validates or applies:
// the root index of group/versions, then one document per group/version with
// each kind's schema (x-kubernetes-group-version-kind) and the paths whose
// operations take `fieldValidation` (kubectl then leaves validation to the
// server). Schemas keep unknown fields, as the agent-sandbox CRDs' nested
// pod templates do.
import { createHash } from 'node:crypto';
import { KINDS, type KubeKind } from './kubeResources';

function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

function gvDoc(group: string, version: string): object | undefined {
  const kinds = KINDS.filter((k) => k.group === group && k.version === version);
  if (!kinds.length) return undefined;
  const schemas: Record<string, object> = {};
  const paths: Record<string, object> = {};
  const params = [
    { name: 'dryRun', in: 'query', schema: { type: 'string' } },
    { name: 'fieldManager', in: 'query', schema: { type: 'string' } },
    { name: 'fieldValidation', in: 'query', schema: { type: 'string' } },
  ];
  for (const k of kinds) {
    const ref = schemaName(k);
    schemas[ref] = {
      type: 'object',
      'x-kubernetes-group-version-kind': [{ group: k.group, version: k.version, kind: k.kind }],
      properties: {
        apiVersion: { type: 'string' },
        kind: { type: 'string' },
        metadata: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
      },
    };
    const base = `/${gvPath(k.group, k.version)}${k.namespaced ? '/namespaces/{namespace}' : ''}/${k.plural}`;
    const op = (id: string) => ({
      operationId: `${id}${k.kind}`,
      parameters: params,
      responses: { '200': { content: { 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } } } },
      'x-kubernetes-group-version-kind': { group: k.group, version: k.version, kind: k.kind },
    });
    paths[base] = { post: op('create'), get: op('list') };
    paths[`${base}/{name}`] = { get: op('read'), put: op('replace'), patch: op('patch'), delete: op('delete') };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.32.0' }, paths, components: { schemas } };
}

function schemaName(k: KubeKind): string {
  const group = k.group ? k.group.split('.').reverse().join('.') : 'io.k8s.api.core';
  return `${group}.${k.version}.${k.kind}`;
}

/** The root index or one group/version's document; undefined when the path names neither. */
export function openapiV3(path: string): object | undefined {
  if (path === '/openapi/v3') {
    const out: Record<string, { serverRelativeURL: string }> = {};
    for (const k of KINDS) {
      const p = gvPath(k.group, k.version);
      const hash = createHash('sha256')
        .update(JSON.stringify(gvDoc(k.group, k.version)))
        .digest('hex')
        .slice(0, 32)
        .toUpperCase();
      out[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${hash}` };
    }
    return { paths: out };
  }
  const m = /^\/openapi\/v3\/(?:api\/([^/]+)|apis\/([^/]+)\/([^/]+))$/.exec(path);
  if (!m) return undefined;
  return m[1] ? gvDoc('', m[1]) : gvDoc(m[2], m[3]);
}
