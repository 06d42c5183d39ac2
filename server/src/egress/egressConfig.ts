// The server's network settings (config.json "network"): the most any run or
// session may be given, how names resolve, which private endpoints may be
// reached, the limits per sandbox, and the credentials the proxy adds at the
// edge so that no token need ever be inside a sandbox.
import { z } from 'zod';
import { NetworkRule } from '@astraforge/contract/networkPolicy';

const MiB = 1024 * 1024;

/** A credential's value: written out (not advised), or read at start from a variable of the server's or a file. */
export const CredentialValue = z.union([
  z.string().min(1),
  z.object({ env: z.string().min(1) }).strict(),
  z.object({ file: z.string().min(1) }).strict(),
]);
export type CredentialValue = z.infer<typeof CredentialValue>;

/** One exact host (no wildcard, no preset), optionally with :port. */
const CredentialHost = z
  .string()
  .regex(
    /^(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i,
    'an exact host, optionally with :port',
  );

/**
 * A header the proxy adds to every request to one host, replacing any the
 * sandbox sent. With `terminateTls` the host is HTTPS (port 443 unless given):
 * the proxy terminates TLS for it (a certificate of its own CA, which sandboxes
 * trust) and re-originates TLS to the real host, verified normally; without,
 * the host is plain HTTP (port 80 unless given). Every other host is passed
 * through untouched.
 */
export const EdgeCredential = z
  .object({
    host: CredentialHost,
    terminateTls: z.boolean().default(false),
    header: z
      .string()
      .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'a header name')
      .default('Authorization'),
    value: CredentialValue,
  })
  .strict();
export type EdgeCredential = z.infer<typeof EdgeCredential>;

export const NetworkConfig = z
  .object({
    /** The most any run or session may be allowed: hosts, *.domain, host:port, presets (npm, pypi, crates, go, github, gitlab, debian). */
    allow: z.array(NetworkRule).default([]),
    /** Refused for everyone, whatever a request allows. */
    deny: z.array(NetworkRule).default([]),
    /** Whether a run or session may ask for mode "open" (any public address). */
    open: z.boolean().default(false),
    /** name -> address, used instead of DNS (as curl --resolve); a private address also needs allowPrivate. */
    resolve: z.record(z.string(), z.union([z.ipv4(), z.ipv6()])).default({}),
    /** Exact ip:port endpoints that may be reached although private, loopback or link-local ("10.0.0.5:443", "[fd00::1]:443"). */
    allowPrivate: z.array(z.string().regex(/^(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]):\d{1,5}$/, 'ip:port')).default([]),
    /** DNS servers ("ip" or "ip:port") the proxy asks instead of the host's resolver. */
    dnsServers: z.array(z.string()).optional(),
    /** Connections open at once through one sandbox's proxy. */
    maxConnections: z.number().int().positive().default(64),
    /** Bytes both ways through one sandbox's proxy: a run's whole allowance. */
    maxBytesPerRun: z
      .number()
      .int()
      .positive()
      .default(4096 * MiB),
    /** A connection that moves no byte this long is closed. */
    idleTimeoutSeconds: z.number().int().positive().default(300),
    /** No connection lives longer than this. */
    maxConnectionSeconds: z.number().int().positive().default(3600),
    connectTimeoutSeconds: z.number().int().positive().default(15),
    /** Headers added at the edge, per host (see EdgeCredential); a credential never widens what a policy allows. */
    credentials: z.array(EdgeCredential).default([]),
    /** PEM files of CAs trusted, beside the system's, when the proxy re-originates TLS to a terminated host. */
    upstreamCaFiles: z.array(z.string().min(1)).default([]),
  })
  .prefault({});
export type NetworkConfig = z.infer<typeof NetworkConfig>;
