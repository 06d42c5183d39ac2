// Secrets at the edge: the server's config attaches a credential to a host and
// the egress proxy adds it, so a sandbox reaches a private HTTPS git server
// (git http-backend behind a real HTTPS server on loopback that wants the
// token) with curl and with git clone and push, and never holds the token:
// not in any process's environment or command line, not in any file it can
// see. The proxy terminates TLS for that host only (its own CA, trusted inside
// the sandbox; the real host's certificate verified on the way out); the same
// server under another name or its raw address is passed through untouched
// and gets no header, and a server without the credential gets 401. Plain
// HTTP hosts get the header added directly. Runs against bubblewrap, or Docker
// with ASTRAFORGE_TEST_SANDBOX=docker.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../helpers/apiClient';
import { makeTree } from '../helpers/runHelpers';
import { startServer, type ServerProcess } from '../helpers/serverProcess';
import { git } from './alertsStandIns';
import { gitHttpBackend } from '../helpers/gitHttpBackend';
import { DOCKER, statusOf } from './egressStandIns';

const TOKEN = `edge-secret-${Math.random().toString(36).slice(2)}`;
const GIT_CREDENTIAL = `Basic ${Buffer.from(`x-access-token:${TOKEN}`).toString('base64')}`;
const PLAIN_TOKEN = `plain-secret-${Math.random().toString(36).slice(2)}`;
const PLAIN_CREDENTIAL = `Bearer ${PLAIN_TOKEN}`;

interface PrivateOrigin {
  server: Server;
  port: number;
  /** Every Authorization header that arrived (undefined: none). */
  authorizations: (string | undefined)[];
  /** TCP connections accepted. */
  connections: () => number;
}

/** Serves /whoami and the git repositories under `root` to requests carrying `expected`, and 401 to the rest. */
async function startPrivateOrigin(server: Server, expected: string, root: string): Promise<PrivateOrigin> {
  const authorizations: (string | undefined)[] = [];
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    authorizations.push(req.headers.authorization);
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="private"' }).end('who are you?\n');
      return;
    }
    if (req.url === '/whoami') return void res.end(`authorized at ${req.headers.host}\n`);
    gitHttpBackend(root, req, res);
  });
  let connections = 0;
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, authorizations, connections: () => connections };
}

/** A shell command that fetches `url` through the proxy and prints the body, then the HTTP status (000: none, as when TLS verification fails). */
function fetchCommand(url: string, opts: { insecure?: boolean; headers?: Record<string, string> } = {}): string {
  const headers = Object.entries(opts.headers ?? {});
  // Loopback is left direct by NO_PROXY; a sandbox aiming at the raw address names the proxy for it itself.
  const env = 'env -u NO_PROXY -u no_proxy ';
  if (!DOCKER) {
    const h = headers.map(([k, v]) => `-H '${k}: ${v}' `).join('');
    return `${env}curl -sS ${opts.insecure ? '-k ' : ''}${h}-w '\\n%{http_code}\\n' '${url}' 2>&1; true`;
  }
  const py = [
    'import json, ssl, sys, urllib.request, urllib.error',
    'ctx = ssl._create_unverified_context() if sys.argv[2] == "1" else ssl.create_default_context()',
    'req = urllib.request.Request(sys.argv[1], headers=json.loads(sys.argv[3]))',
    'try:',
    '  r = urllib.request.urlopen(req, timeout=20, context=ctx); print(r.read().decode()); print(r.status)',
    'except urllib.error.HTTPError as e:',
    '  print(e.read().decode()); print(e.code)',
    'except Exception as e:',
    '  print(e); print("000")',
  ].join('\n');
  return `${env}python3 -c '${py}' '${url}' ${opts.insecure ? 1 : 0} '${JSON.stringify(Object.fromEntries(headers))}'`;
}

/**
 * Python that looks for each needle (given base64-encoded, so no command line
 * holds one) in every readable /proc/PID/environ and cmdline and every file
 * under /workspace, /tmp, $HOME and /etc; prints where each was found and how
 * much it read.
 */
function scanCommand(needles: string[]): string {
  const py = [
    'import base64, json, os, sys',
    'needles = [base64.b64decode(a) for a in sys.argv[1:]]',
    'hits = [[] for n in needles]',
    'counts = {"environ": 0, "cmdline": 0, "files": 0}',
    'def check(where, data):',
    '  for i, n in enumerate(needles):',
    '    if n in data: hits[i].append(where)',
    'for pid in os.listdir("/proc"):',
    '  if not pid.isdigit(): continue',
    '  for kind in ("environ", "cmdline"):',
    '    try:',
    '      data = open("/proc/%s/%s" % (pid, kind), "rb").read()',
    '    except OSError:',
    '      continue',
    '    counts[kind] += 1',
    '    check("%s:%s" % (kind, pid), data)',
    'for top in ["/workspace", "/tmp", os.environ.get("HOME", "/home/sandbox"), "/etc"]:',
    '  for d, dirs, files in os.walk(top):',
    '    for name in files:',
    '      p = os.path.join(d, name)',
    '      if os.path.islink(p) or not os.path.isfile(p): continue',
    '      try:',
    '        data = open(p, "rb").read()',
    '      except OSError:',
    '        continue',
    '      counts["files"] += 1',
    '      check("file:" + p, data)',
    'print(json.dumps({"hits": hits, "counts": counts}))',
  ].join('\n');
  return `python3 -c '${py}' ${needles.map((n) => Buffer.from(n).toString('base64')).join(' ')}`;
}

describe('egress secrets at the edge', function () {
  this.timeout(180_000);
  const dir = mkdtempSync(join(tmpdir(), 'af-egress-secrets-'));
  const gitRoot = join(dir, 'git');
  let origin: PrivateOrigin;
  let plain: PrivateOrigin;
  let server: ServerProcess;
  let serverConfig: Record<string, unknown>;
  const extraDirs: string[] = [];
  let api: ApiClient;

  before(async () => {
    // The private server's own certificate, self-signed for secret.test: the server's config trusts it for re-origination, the sandbox never sees it.
    // prettier-ignore
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(dir, 'origin.key'), '-out', join(dir, 'origin.pem'), '-days', '2', '-subj', '/CN=secret.test',
      '-addext', 'subjectAltName=DNS:secret.test'], { stdio: 'pipe' });
    const work = makeTree({ 'README.md': '# private\n' });
    git(work, 'init', '-q', '-b', 'main');
    git(work, 'add', '.');
    git(work, 'commit', '-qm', 'first');
    execFileSync('git', ['clone', '-q', '--bare', work, join(gitRoot, 'lib.git')]);
    const tls = { key: readFileSync(join(dir, 'origin.key')), cert: readFileSync(join(dir, 'origin.pem')) };
    origin = await startPrivateOrigin(createHttpsServer(tls), GIT_CREDENTIAL, gitRoot);
    plain = await startPrivateOrigin(createHttpServer(), PLAIN_CREDENTIAL, gitRoot);
    writeFileSync(join(dir, 'plain-token'), `${PLAIN_CREDENTIAL}\n`, { mode: 0o600 });
    const o = origin.port;
    const p = plain.port;
    serverConfig = {
      pool: { size: 0 },
      network: {
        allow: [`secret.test:${o}`, `alias.test:${o}`, `127.0.0.1:${o}`, `plain.test:${p}`, `plain-alias.test:${p}`],
        resolve: { 'secret.test': '127.0.0.1', 'alias.test': '127.0.0.1', 'plain.test': '127.0.0.1', 'plain-alias.test': '127.0.0.1' },
        allowPrivate: [`127.0.0.1:${o}`, `127.0.0.1:${p}`],
        credentials: [
          { host: `secret.test:${o}`, terminateTls: true, value: { env: 'AF_TEST_EDGE_CREDENTIAL' } },
          { host: `plain.test:${p}`, value: { file: join(dir, 'plain-token') } },
        ],
        upstreamCaFiles: [join(dir, 'origin.pem')],
      },
    };
    server = await startServer({ env: { AF_TEST_EDGE_CREDENTIAL: GIT_CREDENTIAL }, config: serverConfig });
    api = new ApiClient(server.url, server.apiKey);
  });

  after(async () => {
    await server?.dispose();
    origin?.server.close();
    plain?.server.close();
    for (const d of [dir, ...extraDirs]) rmSync(d, { recursive: true, force: true });
  });

  async function run(id: string, cmd: string): Promise<string> {
    const r = await api.exec(id, cmd, 90_000);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.output as string;
  }

  const everything = () => ({
    mode: 'allowlist',
    allow: [
      `secret.test:${origin.port}`,
      `alias.test:${origin.port}`,
      `127.0.0.1:${origin.port}`,
      `plain.test:${plain.port}`,
      `plain-alias.test:${plain.port}`,
    ],
  });

  it('addsTheCredentialToATerminatedHttpsHostInPlaceOfTheSandboxs', async () => {
    const id = await api.createSession({ network: everything() });
    const seen = origin.authorizations.length;
    const out = await run(
      id,
      fetchCommand(`https://secret.test:${origin.port}/whoami`, { headers: { Authorization: 'Bearer forged-by-the-sandbox' } }),
    );
    assert.equal(statusOf(out), 200, out);
    assert.match(out, new RegExp(`authorized at secret.test:${origin.port}`));
    assert.deepEqual(origin.authorizations.slice(seen), [GIT_CREDENTIAL], 'the sandbox header replaced, not added beside');
    const trust = await run(
      id,
      'echo "$SSL_CERT_FILE $NODE_EXTRA_CA_CERTS"; grep -c "BEGIN CERTIFICATE" "$SSL_CERT_FILE" "$NODE_EXTRA_CA_CERTS"',
    );
    assert.match(trust, /^\/tmp\/\.astraforge\/ca-bundle\.pem \/tmp\/\.astraforge\/egress-ca\.pem$/m, trust);
    assert.match(trust, /egress-ca\.pem:1$/m, 'the CA alone');
    assert.match(trust, /ca-bundle\.pem:(\d{2,})$/m, "the image's roots and the CA");
  });

  it('clonesAndPushesOverHttpsAndTheTokenIsNowhereInTheSandbox', async () => {
    const id = await api.createSession({ network: everything() });
    const url = `https://secret.test:${origin.port}/lib.git`;
    const [requestsBefore, connectionsBefore] = [origin.authorizations.length, origin.connections()];
    const out = await run(
      id,
      [
        'export GIT_TERMINAL_PROMPT=0',
        `git clone -q ${url} /workspace/lib`,
        'cd /workspace/lib',
        'echo pushed from the sandbox > pushed.txt',
        'git add pushed.txt',
        'git -c user.name=sandbox -c user.email=sandbox@example.invalid commit -qm "from the sandbox"',
        'git push -q origin main 2>&1',
        'echo "exit $?"',
      ].join(' && '),
    );
    assert.match(out, /exit 0/, out);
    const log = execFileSync('git', ['--git-dir', join(gitRoot, 'lib.git'), 'log', '--format=%s', 'main'], { encoding: 'utf8' });
    assert.match(log, /^from the sandbox$/m, 'the push arrived');
    const requests = origin.authorizations.length - requestsBefore;
    const connections = origin.connections() - connectionsBefore;
    assert.ok(requests >= 4 && connections < requests, `upstream connections kept alive: ${connections} for ${requests} requests`);
    const usage = (await api.get(`/v1/sessions/${id}`)).body.network.usage;
    assert.ok(usage.bytes_received > 1000 && usage.bytes_sent > 1000, `terminated traffic is counted: ${JSON.stringify(usage)}`);

    // The scan, with canaries planted in each place it looks, so it is shown to find what is there.
    const canary = `canary-${Math.random().toString(36).slice(2)}`;
    const scan = await run(
      id,
      `export AF_CANARY_ENV=${canary}; printf %s ${canary} > /tmp/canary.txt; sh -c 'sleep 30' ${canary}x & ` +
        `${scanCommand([TOKEN, GIT_CREDENTIAL.slice('Basic '.length), PLAIN_TOKEN, canary])}; kill $!`,
    );
    const report = JSON.parse(scan.trim().split('\n').pop()!) as { hits: string[][]; counts: Record<string, number> };
    const [token, encoded, plainToken, canaryHits] = report.hits;
    assert.deepEqual(token, [], `the token: ${JSON.stringify(report)}`);
    assert.deepEqual(encoded, [], 'the Basic credential, encoded');
    assert.deepEqual(plainToken, []);
    for (const place of ['environ:', 'cmdline:', 'file:/tmp/canary.txt'])
      assert.ok(
        canaryHits!.some((h) => h.startsWith(place)),
        `the scan finds a canary in ${place}: ${JSON.stringify(report)}`,
      );
    assert.ok(report.counts.environ! >= 2 && report.counts.files! > 10, JSON.stringify(report.counts));
  });

  it('addsTheCredentialToAPlainHttpHost', async () => {
    const id = await api.createSession({ network: everything() });
    const out = await run(id, fetchCommand(`http://plain.test:${plain.port}/whoami`));
    assert.equal(statusOf(out), 200, out);
    assert.equal(plain.authorizations.at(-1), PLAIN_CREDENTIAL);
  });

  it('givesNothingToTheSameServerUnderAnotherNameOrItsAddress', async () => {
    const id = await api.createSession({ network: everything() });
    const o = origin.port;
    const seen = origin.authorizations.length;
    // Passed through untouched: the sandbox meets the origin's own certificate (which it does not trust), not one of the proxy's.
    const verified = await run(id, fetchCommand(`https://alias.test:${o}/whoami`));
    assert.equal(statusOf(verified), 0, verified);
    for (const url of [`https://alias.test:${o}/whoami`, `https://127.0.0.1:${o}/whoami`]) {
      const out = await run(id, fetchCommand(url, { insecure: true }));
      assert.equal(statusOf(out), 401, `${url}: ${out}`);
    }
    const plainAlias = await run(id, fetchCommand(`http://plain-alias.test:${plain.port}/whoami`));
    assert.equal(statusOf(plainAlias), 401, plainAlias);
    // Inside the terminated tunnel, a request naming another host (virtual hosting on the same address) is refused.
    const other = await run(id, fetchCommand(`https://secret.test:${o}/whoami`, { headers: { Host: `alias.test:${o}` } }));
    assert.equal(statusOf(other), 403, other);
    assert.ok(
      origin.authorizations.slice(seen).every((a) => a === undefined),
      JSON.stringify(origin.authorizations.slice(seen)),
    );
    const info = (await api.get(`/v1/sessions/${id}`)).body.network;
    assert.ok(info.blocked.some((b: { rule: string }) => b.rule === 'host-mismatch'));
  });

  it('answers401WhereTheServerHasNoCredentialForTheHost', async () => {
    const bare = await startServer({
      config: {
        pool: { size: 0 },
        network: {
          allow: [`secret.test:${origin.port}`],
          resolve: { 'secret.test': '127.0.0.1' },
          allowPrivate: [`127.0.0.1:${origin.port}`],
        },
      },
    });
    try {
      const bareApi = new ApiClient(bare.url, bare.apiKey);
      const id = await bareApi.createSession({ network: { mode: 'allowlist', allow: [`secret.test:${origin.port}`] } });
      const r = await bareApi.exec(id, fetchCommand(`https://secret.test:${origin.port}/whoami`, { insecure: true }), 60_000);
      assert.equal(statusOf(r.body.output), 401, r.body.output);
      // A server that terminates nothing leaves the sandbox's trust alone.
      const env = await bareApi.exec(
        id,
        'env | grep -c -e SSL_CERT_FILE -e NODE_EXTRA_CA_CERTS; ls /tmp/.astraforge 2>&1 | head -1',
        60_000,
      );
      assert.match(env.body.output, /^0$/m, env.body.output);
      assert.match(env.body.output, /No such file/, env.body.output);
    } finally {
      await bare.dispose();
    }
  });

  it('keepsItsCaInTheDataFolderPrivateAndAcrossRestarts', async () => {
    // The data folder here is traversable (under /tmp), so the sandboxes' folders, and the CA beside them, are in it.
    const caDir = join(server.dataDir, 'egress-ca');
    assert.equal(statSync(caDir).mode & 0o777, 0o700);
    assert.equal(statSync(join(caDir, 'ca.key')).mode & 0o777, 0o600);
    assert.equal(statSync(join(caDir, 'leaf.key')).mode & 0o777, 0o600);
    const ca = readFileSync(join(caDir, 'ca.pem'), 'utf8');
    await server.stop();
    const dataDir = server.dataDir;
    server = await startServer({ dataDir, env: { AF_TEST_EDGE_CREDENTIAL: GIT_CREDENTIAL }, config: serverConfig });
    // dispose() leaves a folder it was given: removed with the test's.
    extraDirs.push(dataDir);
    api = new ApiClient(server.url, server.apiKey);
    assert.equal(readFileSync(join(caDir, 'ca.pem'), 'utf8'), ca, 'the same CA after a restart');
    const id = await api.createSession({ network: everything() });
    const out = await run(id, fetchCommand(`https://secret.test:${origin.port}/whoami`));
    assert.equal(statusOf(out), 200, out);
  });

  it('refusesToStartWhenACredentialCannotBeRead', async () => {
    for (const name of ['unset', 'broken']) mkdirSync(join(dir, name));
    const network = { credentials: [{ host: 'secret.test', terminateTls: true, value: { env: 'AF_TEST_NOT_SET' } }] };
    await assert.rejects(startServer({ dataDir: join(dir, 'unset'), config: { network } }), /AF_TEST_NOT_SET/);
    const broken = { credentials: [{ host: 'plain.test', value: 'Bearer a\r\nX-Injected: 1' }] };
    await assert.rejects(startServer({ dataDir: join(dir, 'broken'), config: { network: broken } }), /line break/);
  });
});
