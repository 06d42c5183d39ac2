// Which repository and policy a tracker project's alerts go to. Sentry names
// projects by slug; GlitchTip's webhook gives the project's display name, so
// a name also matches the key it slugifies to ("Web Shop" -> "web-shop").
import type { AlertsConfig, ProjectPolicy } from '../alertsConfig';
import type { GitAccess } from '../outbound/hostGit';

export interface ProjectRoute {
  /** The config key that matched. */
  key: string;
  policy: ProjectPolicy;
  git: GitAccess;
  maxRunsPerHour: number;
}

export function routeFor(config: AlertsConfig, project: string): ProjectRoute | undefined {
  const keys = Object.keys(config.projects);
  const key =
    keys.find((k) => k === project) ??
    keys.find((k) => k.toLowerCase() === project.toLowerCase()) ??
    keys.find((k) => k === slugify(project));
  if (!key) return undefined;
  const policy = config.projects[key];
  return { key, policy, git: gitAccessFor(policy), maxRunsPerHour: policy.maxRunsPerHour ?? config.maxRunsPerHour };
}

/** The credentials for clone and push: the project's own, else its pull request's token as that host expects it. */
function gitAccessFor(policy: ProjectPolicy): GitAccess {
  if (policy.gitCredentials)
    return { url: policy.repository, username: policy.gitCredentials.username, token: policy.gitCredentials.token };
  const pr = policy.pullRequest;
  if (!pr) return { url: policy.repository };
  return { url: policy.repository, username: pr.provider === 'gitlab' ? 'oauth2' : 'x-access-token', token: pr.token };
}

function slugify(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}
