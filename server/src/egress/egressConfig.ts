// The server's network settings (config.json "network"): the most any run or
// session may be given, how names resolve, which private endpoints may be
// reached, and the limits per sandbox.
import { z } from 'zod';
import { NetworkRule } from '@astraforge/contract/networkPolicy';

const MiB = 1024 * 1024;

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
  })
  .prefault({});
export type NetworkConfig = z.infer<typeof NetworkConfig>;
