// Draft pull requests on GitHub and draft merge requests on GitLab, through
// their REST APIs: open one for a pushed branch (or find the one already
// open for it), rewrite its description, and tell whether it is still open.
import type { PullRequestRef } from '@astraforge/contract/alertsApi';
import type { PullRequestConfig } from '../alertsConfig';
import { callJson } from './httpJson';

export interface PullRequestDraft {
  branch: string;
  base: string;
  title: string;
  body: string;
}

export interface PullRequestProvider {
  open(draft: PullRequestDraft): Promise<PullRequestRef>;
  describe(ref: PullRequestRef, body: string): Promise<void>;
  isOpen(ref: PullRequestRef): Promise<boolean>;
}

export function pullRequestProvider(config: PullRequestConfig): PullRequestProvider {
  return config.provider === 'github' ? new GitHubPulls(config) : new GitLabMergeRequests(config);
}

interface GitHubPull {
  number: number;
  html_url: string;
  state: string;
}

class GitHubPulls implements PullRequestProvider {
  constructor(private readonly config: PullRequestConfig) {}

  async open(draft: PullRequestDraft): Promise<PullRequestRef> {
    const owner = this.config.repo.split('/')[0];
    const existing = await this.call<GitHubPull[]>('GET', `/pulls?state=open&head=${encodeURIComponent(`${owner}:${draft.branch}`)}`);
    if (existing.length) {
      const ref = this.ref(existing[0], draft.branch);
      await this.describe(ref, draft.body);
      return ref;
    }
    const pull = await this.call<GitHubPull>('POST', '/pulls', {
      title: draft.title,
      head: draft.branch,
      base: draft.base,
      body: draft.body,
      draft: true,
    });
    return this.ref(pull, draft.branch);
  }

  async describe(ref: PullRequestRef, body: string): Promise<void> {
    await this.call('PATCH', `/pulls/${ref.number}`, { body });
  }

  async isOpen(ref: PullRequestRef): Promise<boolean> {
    return (await this.call<GitHubPull>('GET', `/pulls/${ref.number}`)).state === 'open';
  }

  private ref(pull: GitHubPull, branch: string): PullRequestRef {
    return { provider: 'github', number: pull.number, url: pull.html_url, branch };
  }

  private async call<T>(method: 'GET' | 'POST' | 'PATCH', path: string, body?: unknown): Promise<T> {
    const res = await callJson<T>({
      method,
      url: `${this.config.apiUrl}/repos/${this.config.repo}${path}`,
      headers: {
        authorization: `Bearer ${this.config.token}`,
        accept: 'application/vnd.github+json',
        'x-github-api-version': '2022-11-28',
      },
      body,
    });
    return res.body;
  }
}

interface GitLabMergeRequest {
  iid: number;
  web_url: string;
  state: string;
}

class GitLabMergeRequests implements PullRequestProvider {
  constructor(private readonly config: PullRequestConfig) {}

  async open(draft: PullRequestDraft): Promise<PullRequestRef> {
    const existing = await this.call<GitLabMergeRequest[]>('GET', `?state=opened&source_branch=${encodeURIComponent(draft.branch)}`);
    if (existing.length) {
      const ref = this.ref(existing[0], draft.branch);
      await this.describe(ref, draft.body);
      return ref;
    }
    // A title starting with "Draft:" is what makes a merge request a draft.
    const mr = await this.call<GitLabMergeRequest>('POST', '', {
      source_branch: draft.branch,
      target_branch: draft.base,
      title: `Draft: ${draft.title}`,
      description: draft.body,
      remove_source_branch: true,
    });
    return this.ref(mr, draft.branch);
  }

  async describe(ref: PullRequestRef, body: string): Promise<void> {
    await this.call('PUT', `/${ref.number}`, { description: body });
  }

  async isOpen(ref: PullRequestRef): Promise<boolean> {
    return (await this.call<GitLabMergeRequest>('GET', `/${ref.number}`)).state === 'opened';
  }

  private ref(mr: GitLabMergeRequest, branch: string): PullRequestRef {
    return { provider: 'gitlab', number: mr.iid, url: mr.web_url, branch };
  }

  private async call<T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<T> {
    // A project's path is its id too, with its slashes encoded.
    const project = encodeURIComponent(this.config.repo);
    const res = await callJson<T>({
      method,
      url: `${this.config.apiUrl}/projects/${project}/merge_requests${path}`,
      headers: { 'private-token': this.config.token },
      body,
    });
    return res.body;
  }
}
