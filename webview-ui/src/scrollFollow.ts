// When the view follows new output: only while the reader is at the bottom.
// Scrolling up pauses it; scrolling back down (or "Jump to latest") resumes.
// Pure, so the rule is tested without a browser.

export interface ScrollMetrics {
  scrollTop: number;
  clientHeight: number;
  scrollHeight: number;
}

/** Within this many pixels of the end counts as "at the bottom" (sub-pixel scroll positions, zoom). */
const SLACK_PX = 4;

export function isAtBottom(m: ScrollMetrics): boolean {
  return m.scrollTop + m.clientHeight >= m.scrollHeight - SLACK_PX;
}

export class ScrollFollow {
  /** Whether new rows scroll the view to the end. */
  following = true;
  /** Rows arrived while not following: the "Jump to latest" button shows. */
  unseen = false;

  /** The user (or the browser) scrolled: follow again exactly when the end is in view. */
  onScroll(m: ScrollMetrics): void {
    this.following = isAtBottom(m);
    if (this.following) this.unseen = false;
  }

  /** Content grew; returns whether to scroll to the end. */
  onGrow(): boolean {
    if (!this.following) this.unseen = true;
    return this.following;
  }

  jumpToLatest(): void {
    this.following = true;
    this.unseen = false;
  }
}
