// The part of the Sentry REST API that Sentry and GlitchTip both serve and
// alerts use: an issue's latest event (the stack trace that issue webhooks
// and GlitchTip's webhook leave out), and a comment on the issue.
import { callJson } from './httpJson';

export interface TrackerAccess {
  /** The tracker's web root; the API is under /api/0. */
  apiUrl: string;
  token: string;
}

export class TrackerApi {
  private readonly root: string;

  constructor(private readonly access: TrackerAccess) {
    this.root = `${access.apiUrl.replace(/\/+$/, '')}/api/0`;
  }

  async latestEvent(issueId: string): Promise<Record<string, unknown>> {
    const { body } = await callJson<Record<string, unknown>>({
      method: 'GET',
      url: `${this.root}/issues/${encodeURIComponent(issueId)}/events/latest/`,
      headers: this.auth(),
    });
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('the latest event is not a JSON object');
    return body;
  }

  async comment(issueId: string, text: string): Promise<void> {
    await callJson({
      method: 'POST',
      url: `${this.root}/issues/${encodeURIComponent(issueId)}/comments/`,
      headers: this.auth(),
      body: { text },
    });
  }

  private auth(): Record<string, string> {
    return { authorization: `Bearer ${this.access.token}` };
  }
}
