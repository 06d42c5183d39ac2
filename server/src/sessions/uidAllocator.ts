// Hands each sandbox an unprivileged host uid of its own, so sandboxes cannot
// signal or read each other even after an escape, and per-uid limits (nproc)
// count per sandbox. The range sits far above ordinary users.
export const UID_BASE = 200_000;
export const UID_COUNT = 60_000;

export class UidAllocator {
  private readonly inUse = new Set<number>();
  private next = 0;

  reserve(uid: number): void {
    this.inUse.add(uid);
  }

  allocate(): number {
    // Only root can start processes as other uids; a user's own server shares its uid with its sandboxes.
    const own = process.getuid?.() ?? 0;
    if (own !== 0) return own;
    for (let i = 0; i < UID_COUNT; i++) {
      const uid = UID_BASE + ((this.next + i) % UID_COUNT);
      if (!this.inUse.has(uid)) {
        this.next = (this.next + i + 1) % UID_COUNT;
        this.inUse.add(uid);
        return uid;
      }
    }
    throw new Error('no sandbox uid left');
  }

  release(uid: number): void {
    this.inUse.delete(uid);
  }
}
