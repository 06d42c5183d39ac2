// The `alerts` section of the server's config: the trackers' secrets, and
// for each tracker project the repository its fixes go to and the policy its
// runs follow. A secret may be written as `{ "env": "NAME" }`: it is read
// from the environment while config.ts parses the config, so a missing
// variable stops the server at start, not at the first alert.
import { z } from 'zod';
import { AgentName } from '@astraforge/contract/runTask';

/** A secret in the config, or the name of the variable that holds it. */
const Secret = z.union([z.string().min(1), z.object({ env: z.string().min(1) }).strict()]).transform((ref, ctx) => {
  if (typeof ref === 'string') return ref;
  const value = process.env[ref.env];
  if (!value) {
    ctx.addIssue({ code: 'custom', message: `the environment variable ${ref.env} is not set` });
    return z.NEVER;
  }
  return value;
});

const DEFAULT_API_URLS = { github: 'https://api.github.com', gitlab: 'https://gitlab.com/api/v4' } as const;

export const PullRequestConfig = z
  .object({
    provider: z.enum(['github', 'gitlab']),
    /** GitHub's REST root (https://api.github.com, or an Enterprise server's /api/v3), or GitLab's /api/v4. */
    apiUrl: z.url().optional(),
    /** owner/name on GitHub; the project's path (group/name) or numeric id on GitLab. */
    repo: z.string().min(1),
    token: Secret,
  })
  .strict()
  .transform((pr) => ({ ...pr, apiUrl: (pr.apiUrl ?? DEFAULT_API_URLS[pr.provider]).replace(/\/+$/, '') }));
export type PullRequestConfig = z.infer<typeof PullRequestConfig>;

export const ProjectPolicy = z
  .object({
    /** Any URL git clones (https://, ssh://, file://). */
    repository: z.string().min(1),
    /** The base branch: fixes start from it when the release maps to no commit, and pull requests target it. */
    branch: z.string().min(1).default('main'),
    agent: AgentName.default('codex'),
    /** For the command agent: the command it runs. */
    command: z.string().min(1).optional(),
    /** The model the project's runs ask for (through the server's gateway and key); the server's default when absent. */
    model: z.string().min(1).optional(),
    /** Egress for the project's runs: allowlist entries (hosts, wildcards, presets), bounded by the server's \`network.allow\`. */
    network: z.array(z.string()).optional(),
    /** The run's time limit; the server's own limit still applies. */
    maxSeconds: z.number().int().positive().optional(),
    /** Globs (`*`, `**`, `?`) of paths the agent must not change; a diff that does fails review. */
    protectedPaths: z.array(z.string().min(1)).default([]),
    /** Where the fix is proposed; without it the fix stays in the run, for review in VS Code. */
    pullRequest: PullRequestConfig.optional(),
    /** HTTP credentials for clone and push; default: the pull request's token. */
    gitCredentials: z
      .object({ username: z.string().min(1).optional(), token: Secret })
      .strict()
      .optional(),
    /** The secret of this project's Sentry service hook, when it sends through one. */
    serviceHookSecret: Secret.optional(),
    /** Runs this project may start per hour; alerts past it wait in the queue. Default: alerts.maxRunsPerHour. */
    maxRunsPerHour: z.number().int().min(0).optional(),
  })
  .strict();
export type ProjectPolicy = z.infer<typeof ProjectPolicy>;

const TrackerApi = {
  /** The tracker's web root (https://sentry.io, https://app.glitchtip.com); its REST API is under /api/0. */
  apiUrl: z.url().optional(),
  /** A token that may read events and, for the pull request's link, comment on issues. */
  apiToken: Secret.optional(),
};

export const AlertsConfig = z
  .object({
    sentry: z
      .object({
        /** The integration's client secret: it signs every integration-platform webhook. */
        clientSecret: Secret.optional(),
        /** Deliveries whose Sentry-Hook-Timestamp is older than this (or as far ahead) are refused. */
        maxAgeSeconds: z.number().int().positive().default(300),
        ...TrackerApi,
      })
      .strict()
      .prefault({}),
    glitchtip: z
      .object({
        /** The secret in the webhook's URL: /api/hooks/glitchtip/<token>. */
        token: Secret.optional(),
        ...TrackerApi,
      })
      .strict()
      .prefault({}),
    /** Tracker project (its slug, or for GlitchTip its name) to repository and policy. */
    projects: z.record(z.string(), ProjectPolicy).default({}),
    maxRunsPerHour: z.number().int().min(0).default(4),
    /** Alerts a project may have waiting; past it deliveries are recorded and dropped. */
    maxQueuedPerProject: z.number().int().positive().default(20),
    /** How many of the last breadcrumbs an error task carries. */
    breadcrumbs: z.number().int().min(0).max(200).default(20),
    /** The author of fix commits. */
    author: z
      .object({ name: z.string().min(1).default('AstraForge'), email: z.string().min(3).default('astraforge@localhost') })
      .prefault({}),
    /** The server's address as people reach it, for the run's link in pull requests. */
    publicUrl: z.url().optional(),
  })
  .strict()
  .prefault({});
export type AlertsConfig = z.infer<typeof AlertsConfig>;
