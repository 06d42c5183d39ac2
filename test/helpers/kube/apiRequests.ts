// The API double's request side: which resource a path names, the body as
// an object (validated as a CRD's schema would), patches, and answers
// (JSON, and errors as Kubernetes `Status` objects).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { apiVersionOf, findKind, type KubeKind } from './kubeResources';
import { KubeApiError, type KubeObject } from './objectStore';
import { applyJsonPatch, mergePatch } from './patches';

export interface Target {
  kind: KubeKind;
  namespace?: string;
  name?: string;
  sub?: string;
}

export function parseTarget(path: string): Target | undefined {
  const parts = path.split('/').filter(Boolean);
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) [group, version, rest] = ['', parts[1], parts.slice(2)];
  else if (parts[0] === 'apis' && parts.length >= 4) [group, version, rest] = [parts[1], parts[2], parts.slice(3)];
  else return undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3 && findKind(group, version, rest[2])?.namespaced) {
    const kind = findKind(group, version, rest[2])!;
    return { kind, namespace: rest[1], name: rest[3], sub: rest[4] };
  }
  const kind = findKind(group, version, rest[0]);
  if (!kind || rest.length > 3) return undefined;
  return { kind, name: rest[1], sub: rest[2] };
}

export function parseObject(body: string, kind: KubeKind): KubeObject {
  let obj: KubeObject;
  try {
    obj = JSON.parse(body) as KubeObject;
  } catch {
    throw new KubeApiError(
      400,
      'BadRequest',
      'the body of the request was in an unknown format - accepted media types include: application/json',
    );
  }
  if (!obj || typeof obj !== 'object' || !obj.metadata || typeof obj.metadata !== 'object') {
    throw new KubeApiError(422, 'Invalid', `${kind.kind} is invalid: metadata: Required value`);
  }
  if (obj.kind && obj.kind !== kind.kind)
    throw new KubeApiError(
      400,
      'BadRequest',
      `the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${apiVersionOf(kind)})`,
    );
  if (!obj.metadata.name && !obj.metadata.generateName) {
    throw new KubeApiError(422, 'Invalid', `${kind.kind} "" is invalid: metadata.name: Required value: name or generateName is required`);
  }
  return obj;
}

/** The CRD's required fields and DNS-1123 names, as the real server's schema validation answers (422 Invalid). */
export function validate(kind: KubeKind, obj: KubeObject): void {
  const causes: { reason: string; message: string; field: string }[] = [];
  const name = obj.metadata.name;
  if (name && !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name)) {
    causes.push({
      reason: 'FieldValueInvalid',
      message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'`,
      field: 'metadata.name',
    });
  }
  for (const path of kind.required) {
    let cur: unknown = obj;
    for (const seg of path.split('.')) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[seg] : undefined;
    if (cur === undefined || cur === null || cur === '')
      causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: path });
  }
  if (causes.length) {
    throw new KubeApiError(
      422,
      'Invalid',
      `${kind.kind}.${kind.group || 'core'} "${name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`,
      { name, group: kind.group, kind: kind.kind, causes },
    );
  }
}

export function patched(current: KubeObject, body: string, contentType: string): KubeObject {
  let patch: unknown;
  try {
    patch = JSON.parse(body);
  } catch {
    throw new KubeApiError(400, 'BadRequest', 'the body of the request was in an unknown format');
  }
  if (contentType.startsWith('application/merge-patch+json')) return mergePatch(current, patch) as KubeObject;
  if (contentType.startsWith('application/json-patch+json')) return applyJsonPatch(current, patch);
  throw new KubeApiError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json`,
  );
}

export function isTrue(v: string | null): boolean {
  return v === 'true' || v === '1';
}

export function throwNotFound(): never {
  throw notFoundPath();
}

export function notFoundPath(): KubeApiError {
  return new KubeApiError(404, 'NotFound', 'the server could not find the requested resource');
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

export function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function statusBody(e: KubeApiError): object {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: e.message,
    reason: e.reason,
    ...(e.details ? { details: e.details } : {}),
    code: e.code,
  };
}

export function sendStatus(res: ServerResponse, e: unknown): void {
  const err = e instanceof KubeApiError ? e : new KubeApiError(500, 'InternalError', `Internal error occurred: ${(e as Error).message}`);
  if (res.headersSent) return void res.end();
  sendJson(res, err.code, statusBody(err));
}
