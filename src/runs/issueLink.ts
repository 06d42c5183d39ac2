// The link from an alert's run to its Sentry or GlitchTip issue. The URL
// came in a webhook and passed through the server: only a web address is
// opened (VS Code's openExternal would also run `command:` and open
// `file:` URIs), and it is taken from the server's record of the run,
// never from the webview's message.
import type { Run } from '@astraforge/contract/runApi';

/** The issue's web address, when the run came from an alert that gave one that is http(s). */
export function issueLink(run: Pick<Run, 'source'>): string | undefined {
  const url = run.source?.url;
  if (!url) return undefined;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.toString() : undefined;
  } catch {
    return undefined;
  }
}
