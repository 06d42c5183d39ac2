// One codicon per run status, for every place a run shows: the sidebar's
// list and header (the webview), the run quick pick and the status bar (the
// extension). Pure, so both bundles share it through the contract.

export interface StatusIcon {
  /** The codicon's name. */
  name: string;
  /** Whether it turns (a run still under way). */
  spin: boolean;
}

export function statusIcon(status: string): StatusIcon {
  switch (status) {
    case 'queued':
      return { name: 'clock', spin: false };
    case 'provisioning':
    case 'running':
      return { name: 'loading', spin: true };
    case 'succeeded':
      return { name: 'pass', spin: false };
    case 'failed':
      return { name: 'error', spin: false };
    case 'cancelled':
      return { name: 'circle-slash', spin: false };
    case 'interrupted':
      return { name: 'debug-disconnect', spin: false };
    default:
      return { name: 'circle-outline', spin: false };
  }
}

/** The icon in VS Code's label syntax, `$(name)` or `$(name~spin)`. */
export function statusIconLabel(status: string): string {
  const icon = statusIcon(status);
  return `$(${icon.name}${icon.spin ? '~spin' : ''})`;
}
