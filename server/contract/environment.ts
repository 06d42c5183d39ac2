// A project's environment: what `.astraforge/environment.json` may say (and
// what a `.devcontainer/devcontainer.json` is read as when it is absent).
// The setup command runs once per environment key in a sandbox of its own;
// what it changed in the workspace (node_modules, a virtualenv) is kept and
// laid under every later run with the same key. The JSON schema that VS Code
// checks the file with is generated from EnvironmentFile (schemas/).
import { z } from 'zod';

/**
 * A sandbox's way out, as the egress policy (issue 16, networkPolicy.ts) will
 * define it: the same shape, so a file written now keeps its meaning then.
 * Until egress lands, every sandbox has no network whatever this says.
 */
export const EnvironmentNetworkPolicy = z
  .object({
    mode: z
      .enum(['none', 'allowlist', 'open'])
      .describe('none: no network; allowlist: only the hosts in `allow`; open: any host but `deny`'),
    allow: z.array(z.string().min(1)).default([]).describe('Host names or *.suffix patterns reachable in allowlist mode'),
    deny: z.array(z.string().min(1)).default([]).describe('Hosts refused whatever the mode'),
  })
  .strict()
  .meta({ id: 'EnvironmentNetworkPolicy', description: "A sandbox's network policy." });
export type EnvironmentNetworkPolicy = z.infer<typeof EnvironmentNetworkPolicy>;

/** The registries a setup command usually installs from: the default of the setup phase. */
export const PACKAGE_REGISTRY_HOSTS: readonly string[] = [
  'registry.npmjs.org',
  'registry.yarnpkg.com',
  'pypi.org',
  'files.pythonhosted.org',
  'crates.io',
  'static.crates.io',
  'index.crates.io',
  'proxy.golang.org',
  'sum.golang.org',
];

/** The lockfiles whose contents key an environment when `cache_key_files` is not given. */
export const LOCKFILE_NAMES: readonly string[] = [
  'package-lock.json',
  'npm-shrinkwrap.json',
  'pnpm-lock.yaml',
  'yarn.lock',
  'poetry.lock',
  'uv.lock',
  'Pipfile.lock',
  'Cargo.lock',
  'go.sum',
];
/** requirements.txt, requirements-dev.txt, requirements_test.txt... */
export const REQUIREMENTS_PATTERN = /^requirements.*\.txt$/;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const EnvironmentFile = z
  .object({
    $schema: z.string().optional(),
    setup: z
      .string()
      .min(1)
      .optional()
      .describe('Shell command run once per environment in /workspace (bash -c), e.g. "npm ci". Its changes to the workspace are kept.'),
    setup_timeout_seconds: z.number().int().positive().max(7200).optional().describe('Time limit of the setup command (default 600)'),
    cache_key_files: z
      .array(z.string().min(1))
      .optional()
      .describe('Workspace files whose contents key the environment (default: the lockfiles found)'),
    network: z
      .object({
        setup: EnvironmentNetworkPolicy.optional().describe('During setup (default: the package registries)'),
        agent: EnvironmentNetworkPolicy.optional().describe("During the agent's turns (default: none)"),
      })
      .strict()
      .optional()
      .describe('The network of the setup phase and of the agent phase (enforced once egress policies land)'),
    env: z.record(z.string().regex(ENV_NAME), z.string()).optional().describe('Non-secret variables set for setup and for the agent'),
    image: z.string().min(1).optional().describe('Sandbox image for the docker and kubernetes providers'),
  })
  .strict()
  .meta({ id: 'EnvironmentFile', title: 'AstraForge environment', description: '.astraforge/environment.json' });
export type EnvironmentFile = z.infer<typeof EnvironmentFile>;

/** Where a run's environment was defined. */
export const EnvironmentSource = z.enum(['environment.json', 'devcontainer.json']);
export type EnvironmentSource = z.infer<typeof EnvironmentSource>;

/** An environment as the server uses it: defaults applied, from whichever file defined it. */
export interface EnvironmentDefinition {
  source: EnvironmentSource;
  setup?: string;
  setupTimeoutSeconds: number;
  /** Workspace-relative paths, sorted. */
  keyFiles: string[];
  network: { setup: EnvironmentNetworkPolicy; agent: EnvironmentNetworkPolicy };
  env: Record<string, string>;
  image?: string;
}

export const DEFAULT_SETUP_TIMEOUT_SECONDS = 600;
export const DEFAULT_SETUP_NETWORK: EnvironmentNetworkPolicy = { mode: 'allowlist', allow: [...PACKAGE_REGISTRY_HOSTS], deny: [] };
export const DEFAULT_AGENT_NETWORK: EnvironmentNetworkPolicy = { mode: 'none', allow: [], deny: [] };

/** The JSON schema of `.astraforge/environment.json` (what the editor completes and checks with). */
export function environmentJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(EnvironmentFile, { io: 'input', target: 'draft-7' }) as Record<string, unknown>;
  return { ...schema, $id: 'https://astraforge.dev/schemas/environment.json' };
}
