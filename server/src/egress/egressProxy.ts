// The egress proxy: lives in the server process, outside every sandbox, and
// gives each sandbox with network a listener of its own (egressListener.ts)
// on a unix socket that only that sandbox gets bound in. Bounds what runs and
// sessions ask for by the server's config.
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { NetworkPolicyRequest } from '@astraforge/contract/networkPolicy';
import { allowPrivateKeys, hostAddresses, type AddressPolicy } from './addressCheck';
import { EdgeCredentials } from './edgeCredentials';
import { EgressCa } from './egressCa';
import type { NetworkConfig } from './egressConfig';
import type { EgressLimits } from './egressLedger';
import { EgressListener, type EdgeOptions } from './egressListener';
import { createNameResolver, type NameResolver } from './nameResolver';
import { boundPolicy, narrowPolicy, type EffectivePolicy } from './networkPolicy';

export interface EgressProxyOptions {
  /** Where the per-sandbox sockets are made (a folder of the server's, 0711). */
  socketDir: string;
  config: NetworkConfig;
  /** Where the CA for terminated hosts is kept (0700): egress-ca in the server's data folder. */
  caDir: string;
  /** Replaces DNS (tests). */
  resolver?: NameResolver;
  log: (obj: Record<string, unknown>, msg: string) => void;
}

export class EgressProxy {
  private readonly resolver: NameResolver;
  private readonly addresses: AddressPolicy;
  private readonly limits: EgressLimits;
  private readonly edge: EdgeOptions;

  constructor(private readonly opts: EgressProxyOptions) {
    const c = opts.config;
    this.resolver = opts.resolver ?? createNameResolver({ pinned: c.resolve, dnsServers: c.dnsServers });
    this.addresses = { allowPrivate: allowPrivateKeys(c.allowPrivate), ownAddresses: hostAddresses() };
    this.limits = {
      maxConnections: c.maxConnections,
      maxBytes: c.maxBytesPerRun,
      idleTimeoutMs: c.idleTimeoutSeconds * 1000,
      maxConnectionMs: c.maxConnectionSeconds * 1000,
      connectTimeoutMs: c.connectTimeoutSeconds * 1000,
    };
    const credentials = new EdgeCredentials(c.credentials, c.upstreamCaFiles);
    // The CA is made (at the first start that needs one) only where some host's TLS is terminated.
    const ca = credentials.terminatesTls ? new EgressCa(opts.caDir) : undefined;
    this.edge = { credentials, ca };
    mkdirSync(opts.socketDir, { recursive: true, mode: 0o711 });
    // Sockets a previous server process left (its sandboxes are gone; the data folder's lock says it is).
    for (const name of readdirSync(opts.socketDir)) if (name.endsWith('.sock')) rmSync(join(opts.socketDir, name), { force: true });
  }

  /** The policy a request gets; throws PolicyRefused when it asks for more than the server allows. */
  bound(req: NetworkPolicyRequest | undefined): EffectivePolicy {
    return boundPolicy(req, this.opts.config);
  }

  /** What the server allows of a policy a workspace file asked for, and the entries left out (see narrowPolicy). */
  narrow(req: NetworkPolicyRequest | undefined): { request: NetworkPolicyRequest | undefined; dropped: string[] } {
    return narrowPolicy(req, this.opts.config);
  }

  /** A listener for one sandbox, started. */
  async open(sandboxId: string, policy: EffectivePolicy, ownerUid: number): Promise<EgressListener> {
    const listener = new EgressListener({
      socketPath: join(this.opts.socketDir, `${sandboxId}.sock`),
      policy,
      addresses: this.addresses,
      resolver: this.resolver,
      limits: this.limits,
      ownerUid,
      edge: this.edge,
      log: (obj, msg) => this.opts.log({ session_id: sandboxId, ...obj }, msg),
    });
    await listener.start();
    return listener;
  }
}
