// Network egress: the policy a run or session asks for, the entries its
// allow and deny lists hold, and what its session info and usage show.
// The server bounds every request by its own config (a request for more is
// refused with INVALID_REQUEST) and enforces it in the egress proxy.
import { z } from 'zod';

/**
 * Named lists the server ships (server/src/egress/presets.ts documents each):
 * `npm`, `pypi`, `crates`, `go`, `github`, `gitlab`, `debian`.
 */
export const NETWORK_PRESETS = ['npm', 'pypi', 'crates', 'go', 'github', 'gitlab', 'debian'] as const;
export const NetworkPreset = z.enum(NETWORK_PRESETS);
export type NetworkPreset = z.infer<typeof NetworkPreset>;

const LABEL = '[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?';
const HOST = `(?:\\*\\.)?${LABEL}(?:\\.${LABEL})*`;
const IPV4 = '\\d{1,3}(?:\\.\\d{1,3}){3}';
const IPV6 = '\\[[0-9a-f:.]+\\]';
const PORT = '(?::\\d{1,5})?';
const RULE = new RegExp(`^(?:${HOST}|${IPV4}|${IPV6})${PORT}$`, 'i');

/**
 * One allow or deny entry: a preset name; an exact host (`registry.npmjs.org`);
 * a wildcard (`*.example.com`: every name under example.com, not example.com
 * itself); an IP address (IPv6 in brackets). Each may end in `:port`; without
 * one it means the web ports 80 and 443.
 */
export const NetworkRule = z
  .string()
  .min(1)
  .max(260)
  .regex(RULE, 'a preset, a host, *.domain or an IP address, optionally with :port')
  .refine((s) => {
    const port = /:(\d{1,5})$/.exec(s)?.[1];
    return port === undefined || (Number(port) >= 1 && Number(port) <= 65535);
  }, 'a port from 1 to 65535');
export type NetworkRule = z.infer<typeof NetworkRule>;

/** none: no network (the default); allowlist: only what `allow` names; open: anything public (only where the server allows it). */
export const NetworkMode = z.enum(['none', 'allowlist', 'open']);
export type NetworkMode = z.infer<typeof NetworkMode>;

/** What a run or session asks for (POST /api/runs, POST /v1/sessions, the toolkit's session body). */
export const NetworkPolicyRequest = z
  .object({
    mode: NetworkMode,
    /** allowlist: the entries to allow, each within the server's own allow list; absent: the server's whole list. */
    allow: z.array(NetworkRule).max(256).optional(),
    /** Entries refused even where an allow entry matches (the server's own deny list always applies). */
    deny: z.array(NetworkRule).max(256).optional(),
  })
  .strict();
export type NetworkPolicyRequest = z.infer<typeof NetworkPolicyRequest>;

/** The policy in force, presets expanded: what a session's info shows. */
export const NetworkPolicy = z.object({
  mode: NetworkMode,
  allow: z.array(z.string()),
  deny: z.array(z.string()),
});
export type NetworkPolicy = z.infer<typeof NetworkPolicy>;

/** Why a connection was refused: the deny entry, or the check that failed. */
export const BlockRule = z
  .string()
  .describe(
    '"deny:<entry>", "no-rule", "mode:none", "<category>-address" (loopback, private, link-local, metadata, multicast, reserved, server), "host-mismatch", "resolve-failed", "invalid-target", "limit:connections" or "limit:bytes"',
  );

/** Bytes and connections through the egress proxy: a session's and a run's. */
export const NetworkUsage = z.object({
  bytes_sent: z.number().int(),
  bytes_received: z.number().int(),
  connections: z.number().int(),
  blocked: z.number().int(),
});
export type NetworkUsage = z.infer<typeof NetworkUsage>;

/** A session's network, as its info shows it. */
export const SessionNetwork = NetworkPolicy.extend({
  usage: NetworkUsage,
  /** Hosts (host:port) a connection was allowed to, first use first. */
  allowed_hosts: z.array(z.string()),
  /** The latest refusals, newest last (at most 20). */
  blocked: z.array(z.object({ host: z.string(), port: z.number().int(), rule: BlockRule, reason: z.string(), at: z.string() })),
});
export type SessionNetwork = z.infer<typeof SessionNetwork>;
