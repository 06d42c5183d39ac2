// Loopback stand-ins for the alert tests: a real git server (git
// http-backend behind HTTP Basic auth), and one HTTP server that answers as
// Sentry's REST API, GitHub's and GitLab's do, checking each request against
// their documented contracts (paths, auth headers, body fields) and noting
// every departure as a violation.
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gitHttpBackend } from '../helpers/gitHttpBackend';

export const FIXTURES = join(__dirname, '../fixtures/alerts');

export function fixture(name: string): any {
  return JSON.parse(readFileSync(join(FIXTURES, name), 'utf8'));
}

/** As Sentry signs: HMAC-SHA256 of the body's bytes with the secret, hex. */
export function sentrySignature(secret: string, body: string | Buffer): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

export function sentryHeaders(secret: string, body: string, resource: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    'content-type': 'application/json',
    'request-id': `req-${Math.random().toString(16).slice(2)}`,
    'sentry-hook-resource': resource,
    'sentry-hook-timestamp': String(Math.floor(Date.now() / 1000)),
    'sentry-hook-signature': sentrySignature(secret, body),
    ...extra,
  };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

// --- a git server -------------------------------------------------------

export interface GitServer {
  url: string;
  /** Requests refused for missing or wrong credentials. */
  refused: number;
  close(): Promise<void>;
}

/** Serves every bare repository under `root` at <url>/<name>.git, for a user with the token as password. */
export async function startGitServer(root: string, token: string): Promise<GitServer> {
  const expected = `Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`;
  const state = { refused: 0 };
  const server = createServer((req, res) => {
    if (req.headers.authorization !== expected) {
      state.refused++;
      res.writeHead(401, { 'www-authenticate': 'Basic realm="git"' }).end();
      return;
    }
    gitHttpBackend(root, req, res, 'x-access-token');
  });
  const url = await listen(server);
  return {
    url,
    get refused() {
      return state.refused;
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}

const GIT_ENV = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Dev',
  GIT_AUTHOR_EMAIL: 'dev@shop.example',
  GIT_COMMITTER_NAME: 'Dev',
  GIT_COMMITTER_EMAIL: 'dev@shop.example',
};

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** The shop the error comes from: `cartTotal` throws on a cart without items. Commit 1 is the release, commit 2 moves main on. */
export const SHOP_FILES: Record<string, string> = {
  'package.json': '{ "name": "shop", "private": true, "scripts": { "test": "node test/cart.test.js" } }\n',
  'src/cart.js':
    'function cartTotal(cart) {\n  return cart.items.reduce((sum, item) => sum + item.price * item.qty, 0);\n}\n\nmodule.exports = { cartTotal };\n',
  'src/checkout.js':
    "const { cartTotal } = require('./cart');\nfunction checkout(req, res) {\n  const total = cartTotal(req.session.cart);\n  res.json({ total });\n}\nmodule.exports = { checkout };\n",
  'test/cart.test.js':
    "const assert = require('node:assert');\nconst { cartTotal } = require('../src/cart');\nassert.strictEqual(cartTotal({ items: [{ price: 2, qty: 3 }] }), 6);\nassert.strictEqual(cartTotal({}), 0);\nconsole.log('cart tests passed');\n",
  'config/production.json': '{ "payments": "live" }\n',
};

/** The command agent's fix: guard the missing items, then run the tests. */
export const SHOP_FIX = "sed -i 's/cart.items.reduce/(cart.items ?? []).reduce/' src/cart.js && node test/cart.test.js && env";

export interface ShopRepo {
  root: string;
  bare: string;
  release: string;
  head: string;
}

/** A bare repository `<root>/<name>.git` holding the shop, on branch main. */
export function makeShopRepo(root: string, name: string): ShopRepo {
  const work = mkdtempSync(join(tmpdir(), 'af-shop-'));
  for (const [path, content] of Object.entries(SHOP_FILES)) {
    mkdirSync(dirname(join(work, path)), { recursive: true });
    writeFileSync(join(work, path), content);
  }
  git(work, 'init', '-q', '-b', 'main');
  git(work, 'add', '-A');
  git(work, 'commit', '-q', '-m', 'shop');
  const release = git(work, 'rev-parse', 'HEAD');
  writeFileSync(join(work, 'README.md'), 'The shop.\n');
  git(work, 'add', '-A');
  git(work, 'commit', '-q', '-m', 'readme');
  const head = git(work, 'rev-parse', 'HEAD');
  const bare = join(root, `${name}.git`);
  git(root, 'clone', '-q', '--bare', work, bare);
  rmSync(work, { recursive: true, force: true }); // the bare clone has it all
  return { root, bare, release, head };
}

// --- Sentry's, GitHub's and GitLab's REST APIs ---------------------------

export interface RecordedCall {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

export interface ApiStandIn {
  url: string;
  calls: RecordedCall[];
  violations: string[];
  /** Set a pull request's (or merge request's) state as the forge reports it. */
  setState(number: number, state: string): void;
  close(): Promise<void>;
}

export interface ApiTokens {
  sentry: string;
  glitchtip: string;
  github: string;
  gitlab: string;
}

/** latestEvent answers GET /api/0/issues/<id>/events/latest/ (undefined: 404). */
export async function startApiStandIn(tokens: ApiTokens, latestEvent: (issueId: string) => object | undefined): Promise<ApiStandIn> {
  const calls: RecordedCall[] = [];
  const violations: string[] = [];
  const pulls = new Map<number, { state: string; head: string; body: string; title: string }>();
  let nextNumber = 17;
  const server = createServer(async (req, res) => {
    const raw = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://x');
    let body: any;
    try {
      body = raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
    } catch {
      violations.push(`${req.method} ${url.pathname}: body is not JSON`);
    }
    calls.push({ method: req.method!, path: url.pathname + url.search, headers: req.headers, body });
    const send = (status: number, answer: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    const fail = (why: string, status = 400) => {
      violations.push(`${req.method} ${url.pathname}: ${why}`);
      send(status, { message: why });
    };
    const p = url.pathname;
    let m: RegExpExecArray | null;
    // Sentry (and GlitchTip): Bearer auth, paths under /api/0 with a trailing slash.
    if ((m = /^\/(sentry|glitchtip)\/api\/0\/issues\/([^/]+)\/events\/latest\/$/.exec(p)) && req.method === 'GET') {
      if (req.headers.authorization !== `Bearer ${tokens[m[1] as 'sentry' | 'glitchtip']}`)
        return fail('wrong or missing bearer token', 401);
      const event = latestEvent(m[2]);
      return event ? send(200, event) : send(404, { detail: 'Event not found' });
    }
    if ((m = /^\/(sentry|glitchtip)\/api\/0\/issues\/([^/]+)\/comments\/$/.exec(p)) && req.method === 'POST') {
      if (req.headers.authorization !== `Bearer ${tokens[m[1] as 'sentry' | 'glitchtip']}`)
        return fail('wrong or missing bearer token', 401);
      if (typeof body?.text !== 'string' || !body.text) return fail('a comment needs "text"');
      return send(201, { id: '1', type: 'note', data: { text: body.text }, dateCreated: new Date().toISOString() });
    }
    // GitHub: /repos/{owner}/{repo}/pulls, Bearer token, its media type and API version.
    if ((m = /^\/github\/repos\/([^/]+)\/([^/]+)\/pulls(?:\/(\d+))?$/.exec(p))) {
      if (req.headers.authorization !== `Bearer ${tokens.github}`) return fail('wrong or missing bearer token', 401);
      if (req.headers.accept !== 'application/vnd.github+json') violations.push(`${p}: Accept is not application/vnd.github+json`);
      if (!req.headers['x-github-api-version']) violations.push(`${p}: no X-GitHub-Api-Version`);
      if (!req.headers['user-agent']) violations.push(`${p}: no User-Agent (GitHub refuses those)`);
      const [owner, repo, number] = [m[1], m[2], m[3] ? Number(m[3]) : undefined];
      const html = (n: number) => `https://github.example/${owner}/${repo}/pull/${n}`;
      if (req.method === 'GET' && number === undefined) {
        const head = url.searchParams.get('head') ?? '';
        if (!head.startsWith(`${owner}:`)) violations.push(`${p}: head filter must be owner:branch, got ${head}`);
        const branch = head.slice(owner.length + 1);
        const open = [...pulls.entries()].filter(([, pr]) => pr.head === branch && pr.state === 'open');
        return send(
          200,
          open.map(([n, pr]) => ({ number: n, html_url: html(n), state: pr.state, draft: true, head: { ref: pr.head } })),
        );
      }
      if (req.method === 'POST' && number === undefined) {
        for (const f of ['title', 'head', 'base', 'body'])
          if (typeof body?.[f] !== 'string' || !body[f]) return fail(`"${f}" must be a string`, 422);
        if (body.draft !== true) return fail('expected a draft pull request', 422);
        const n = nextNumber++;
        pulls.set(n, { state: 'open', head: body.head, body: body.body, title: body.title });
        return send(201, { number: n, html_url: html(n), state: 'open', draft: true, head: { ref: body.head }, base: { ref: body.base } });
      }
      const pr = number !== undefined ? pulls.get(number) : undefined;
      if (!pr) return fail('no such pull request', 404);
      if (req.method === 'PATCH') {
        if (typeof body?.body !== 'string') return fail('"body" must be a string', 422);
        pr.body = body.body;
        return send(200, { number, html_url: html(number!), state: pr.state, draft: true });
      }
      if (req.method === 'GET')
        return send(200, { number, html_url: html(number!), state: pr.state, draft: true, merged: pr.state === 'closed' });
    }
    // GitLab: /api/v4/projects/{url-encoded path}/merge_requests, PRIVATE-TOKEN.
    if ((m = /^\/gitlab\/api\/v4\/projects\/([^/]+)\/merge_requests(?:\/(\d+))?$/.exec(p))) {
      if (req.headers['private-token'] !== tokens.gitlab) return fail('wrong or missing PRIVATE-TOKEN', 401);
      if (!req.url!.includes('%2F')) violations.push(`${p}: a project path must be URL-encoded`);
      const iid = m[2] ? Number(m[2]) : undefined;
      const web = (n: number) => `https://gitlab.example/${decodeURIComponent(m![1])}/-/merge_requests/${n}`;
      if (req.method === 'GET' && iid === undefined) {
        const branch = url.searchParams.get('source_branch');
        const open = [...pulls.entries()].filter(([, pr]) => pr.head === branch && pr.state === 'opened');
        return send(
          200,
          open.map(([n, pr]) => ({ iid: n, web_url: web(n), state: pr.state, draft: true })),
        );
      }
      if (req.method === 'POST' && iid === undefined) {
        for (const f of ['source_branch', 'target_branch', 'title'])
          if (typeof body?.[f] !== 'string' || !body[f]) return fail(`"${f}" is required`);
        if (!/^Draft:/.test(body.title)) return fail('a draft merge request\'s title starts with "Draft:"', 422);
        const n = nextNumber++;
        pulls.set(n, { state: 'opened', head: body.source_branch, body: body.description ?? '', title: body.title });
        return send(201, {
          iid: n,
          web_url: web(n),
          state: 'opened',
          draft: true,
          source_branch: body.source_branch,
          target_branch: body.target_branch,
        });
      }
      const mr = iid !== undefined ? pulls.get(iid) : undefined;
      if (!mr) return fail('no such merge request', 404);
      if (req.method === 'PUT') {
        mr.body = body?.description ?? mr.body;
        return send(200, { iid, web_url: web(iid!), state: mr.state });
      }
      if (req.method === 'GET') return send(200, { iid, web_url: web(iid!), state: mr.state });
    }
    fail(`not a documented endpoint`, 404);
  });
  const url = await listen(server);
  return {
    url,
    calls,
    violations,
    setState: (n, state) => {
      const pr = pulls.get(n);
      if (pr) pr.state = state;
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}
