// Frames per second in the sidebar while 10,000 lines per second stream in,
// measured in headless Chromium on the real webview bundle (with a stand-in
// for VS Code's webview API), beside two common ways of showing a log,
// measured the same way in the same run: appending a DOM node per line, and
// re-rendering the whole history on each update (what posting full state
// per update amounts to).
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { openBrowser } from '../test/helpers/codeServer';
import { REPO_ROOT } from '../test/helpers/serverProcess';
import type { Row } from './stats';
import { RunEventName } from '@astraforge/contract/runEvents';

const LINES_PER_SECOND = 10_000;
const BATCH_MS = 40; // the extension's batching interval
const SECONDS = 10;

const PEERS: Record<string, string> = {
  // One <div> per line, appended as lines arrive: no virtualisation.
  'append a node per line': `
    const root = document.getElementById('root');
    root.style.cssText = 'height:100vh;overflow:auto;font:13px monospace;white-space:pre';
    window.addEventListener('message', (ev) => {
      if (ev.data.type !== 'runEvents') return;
      const frag = document.createDocumentFragment();
      for (const e of ev.data.events) for (const line of e.text.split('\\n')) if (line) { const d = document.createElement('div'); d.textContent = line; frag.append(d); }
      root.append(frag);
      root.scrollTop = root.scrollHeight;
    });`,
  // The whole history re-rendered on every update.
  'full re-render per update': `
    const root = document.getElementById('root');
    root.style.cssText = 'height:100vh;overflow:auto;font:13px monospace;white-space:pre';
    const lines = [];
    window.addEventListener('message', (ev) => {
      if (ev.data.type !== 'runEvents') return;
      for (const e of ev.data.events) for (const line of e.text.split('\\n')) if (line) lines.push(line);
      root.replaceChildren(...lines.map((l) => { const d = document.createElement('div'); d.textContent = l; return d; }));
      root.scrollTop = root.scrollHeight;
    });`,
};

/** Posts the run's messages as the extension would and counts frames meanwhile. */
const FLOOD_DRIVER = `
window.__flood = async (linesPerSecond, batchMs, seconds) => {
  const now = new Date().toISOString();
  const run = { id: 'bench', agent: 'command', status: 'running', created_at: now, updated_at: now, snapshot_id: 's', last_seq: 0,
    task: { kind: 'spec', prompt: 'flood', command: 'flood' } };
  window.postMessage({ type: 'init', agents: ['codex', 'deepagent', 'command'], defaultAgent: 'command', connection: { status: 'connected' } }, '*');
  window.postMessage({ type: 'runSelected', run }, '*');
  window.postMessage({ type: 'runEvents', runId: 'bench', events: [{ seq: 1, type: ${JSON.stringify(RunEventName.commandStarted)}, ts: now, command: 'flood' }] }, '*');
  await new Promise((r) => setTimeout(r, 300));
  let seq = 1, line = 0, stop = false;
  const perBatch = (linesPerSecond * batchMs) / 1000;
  const frames = [];
  const tick = (t) => { frames.push(t); if (!stop) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  const started = performance.now();
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      const text = [];
      for (let i = 0; i < perBatch; i++) text.push('line-' + ++line + ' ' + 'x'.repeat(40));
      window.postMessage({ type: 'runEvents', runId: 'bench',
        events: [{ seq: ++seq, type: ${JSON.stringify(RunEventName.commandOutput)}, ts: now, stream: 'stdout', text: text.join('\\n') + '\\n' }] }, '*');
      if (performance.now() - started >= seconds * 1000) { clearInterval(timer); resolve(); }
    }, batchMs);
  });
  stop = true;
  const elapsed = (frames[frames.length - 1] - frames[0]) / 1000;
  let worst = 0;
  for (let i = 1; i < frames.length; i++) worst = Math.max(worst, frames[i] - frames[i - 1]);
  return { fps: (frames.length - 1) / elapsed, worstFrameMs: worst, lines: line };
};`;

function page(body: string): string {
  return `<!DOCTYPE html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="/codicon.css"><link rel="stylesheet" href="/sidebar.css">
<script>
  window.__sent = [];
  window.acquireVsCodeApi = () => ({ postMessage: (m) => window.__sent.push(m), getState: () => undefined, setState: () => {} });
  ${FLOOD_DRIVER}
</script></head>
<body style="width:360px;height:800px"><div id="root"></div>${body}</body></html>`;
}

async function serve(): Promise<Server> {
  const files: Record<string, [string, string]> = {
    '/main.js': [join(REPO_ROOT, 'webview-ui/dist/main.js'), 'text/javascript'],
    '/sidebar.css': [join(REPO_ROOT, 'media/sidebar.css'), 'text/css'],
    '/codicon.css': [join(REPO_ROOT, 'webview-ui/dist/codicons/codicon.css'), 'text/css'],
    '/codicon.ttf': [join(REPO_ROOT, 'webview-ui/dist/codicons/codicon.ttf'), 'font/ttf'],
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/') {
      const peer = url.searchParams.get('peer');
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(page(peer ? `<script>${PEERS[peer]}</script>` : '<script src="/main.js"></script>'));
      return;
    }
    const f = files[url.pathname];
    if (!f) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': f[1] });
    res.end(readFileSync(f[0]));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

/** Streams the lines into the page and counts animation frames meanwhile. */
async function measure(url: string): Promise<{ fps: number; worstFrameMs: number; lines: number }> {
  const browser = await openBrowser();
  try {
    const p = await browser.newPage({ viewport: { width: 360, height: 800 } });
    await p.goto(url);
    return (await p.evaluate(`window.__flood(${LINES_PER_SECOND}, ${BATCH_MS}, ${SECONDS})`)) as {
      fps: number;
      worstFrameMs: number;
      lines: number;
    };
  } finally {
    await browser.close();
  }
}

export async function webviewFps(): Promise<{ rows: Row[]; ours: number; peers: { name: string; fps: number }[] }> {
  const server = await serve();
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  try {
    const ours = await measure(base);
    const rows: Row[] = [
      {
        name: `sidebar fps, ${LINES_PER_SECOND / 1000}k lines/s for ${SECONDS} s`,
        n: 1,
        p50: ours.fps,
        unit: 'fps',
        note: `worst frame ${ours.worstFrameMs.toFixed(0)} ms, ${ours.lines} lines`,
      },
    ];
    const peers: { name: string; fps: number }[] = [];
    for (const name of Object.keys(PEERS)) {
      const r = await measure(`${base}?peer=${encodeURIComponent(name)}`);
      peers.push({ name, fps: r.fps });
      rows.push({ name: `peer: ${name}`, n: 1, p50: r.fps, unit: 'fps', note: `worst frame ${r.worstFrameMs.toFixed(0)} ms` });
    }
    return { rows, ours: ours.fps, peers };
  } finally {
    server.close();
  }
}
