// The first step of a clean stop: no new connection is taken, and the
// requests under way (a long exec, an upload, a streamed answer) may finish,
// for at most the drain time; then the shutdown goes on and cuts what is
// left. A run's event stream and the stream of run changes are
// subscriptions, not work under way: they never end by themselves, so they
// are not waited for (their clients reconnect later).
import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';

const POLL_MS = 50;
const SUBSCRIPTION = /\/events$|^\/api\/runs\/changes$/;

export class RequestDrain {
  private readonly underWay = new Set<ServerResponse>();
  private cutShort = false;

  /** Call before the app is ready: it counts the app's requests from here on. */
  constructor(private readonly app: FastifyInstance) {
    app.addHook('onRequest', async (req, reply) => {
      if (SUBSCRIPTION.test(req.routeOptions.url ?? '')) return;
      const res = reply.raw;
      this.underWay.add(res);
      res.once('close', () => this.underWay.delete(res));
    });
  }

  get openRequests(): number {
    return this.underWay.size;
  }

  /** Stops listening and waits for the requests under way, at most `graceMs`. */
  async drain(graceMs: number, log: (obj: Record<string, unknown>, msg: string) => void): Promise<void> {
    // Connections already open stay until app.close(), so their answers still go out.
    this.app.server.close();
    if (this.openRequests === 0 || graceMs <= 0) return;
    log(
      { open_requests: this.openRequests, drain_seconds: graceMs / 1000 },
      'waiting for the requests under way (signal again to stop now)',
    );
    const deadline = Date.now() + graceMs;
    while (this.openRequests > 0 && Date.now() < deadline && !this.cutShort) await new Promise((r) => setTimeout(r, POLL_MS));
    if (this.openRequests > 0) log({ open_requests: this.openRequests }, 'cutting the requests still open');
  }

  /** Ends the wait now (a second signal: the operator does not want to wait). */
  cut(): void {
    this.cutShort = true;
  }
}
