// The error-to-prompt builder on real traces, captured on this machine from
// small programs in fixtures/traces/proj (Node, Python, Java, Go, tsc), with
// the paths as the user's machine printed them.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { buildTaskPrompt, type WorkspaceReader } from '../../server/src/agents/prompts/taskPrompt';
import { findSourceLocations, resolveInWorkspace } from '../../server/src/agents/prompts/stackFrames';

const FIXTURES = join(__dirname, 'fixtures/traces');
const PROJECT = join(FIXTURES, 'proj');

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? listFiles(p) : [relative(PROJECT, p)];
  });
}

const workspace: WorkspaceReader = {
  files: () => listFiles(PROJECT),
  read: async (path) => readFileSync(join(PROJECT, path), 'utf8'),
};

function trace(name: string): string {
  return readFileSync(join(FIXTURES, name), 'utf8');
}

async function errorPrompt(text: string, context?: object): Promise<string> {
  return buildTaskPrompt({ kind: 'error', prompt: text, ...(context ? { context } : {}) }, workspace);
}

/** The headings of the excerpts, in order: "### path:line". */
function excerptHeadings(prompt: string): string[] {
  return [...prompt.matchAll(/^### (.+)$/gm)].map((m) => m[1]);
}

describe('error prompt builder', () => {
  it('pointsANodeTraceAtTheWorkspaceFramesOnly', async () => {
    const prompt = await errorPrompt(trace('node.txt'));
    // One excerpt per line: the header line and the first frame both point at total.js:2.
    assert.deepEqual(excerptHeadings(prompt), ['src/orders/total.js:2', 'src/orders/total.js:6:50', 'src/index.js:4:13']);
    // The excerpt marks the failing line and shows the code around it.
    assert.ok(prompt.includes('> 2 |   return item.price * item.qty;'));
    assert.match(prompt, / {3}5 \| function orderTotal\(order\) \{/);
    assert.ok(!prompt.includes('### node:internal'), 'runtime frames are not excerpted');
    assert.match(prompt, /TypeError: Cannot read properties of null/);
  });

  it('followsAPythonTracebackIntoEachFile', async () => {
    const prompt = await errorPrompt(trace('python.txt'));
    assert.deepEqual(excerptHeadings(prompt), ['app/main.py:3', 'app/pricing.py:6', 'app/pricing.py:2']);
    assert.ok(prompt.includes('> 2 |     return item["price"] / item["qty"]'));
    assert.match(prompt, /ZeroDivisionError: division by zero/);
  });

  it('mapsJavaFramesThroughTheirPackagePath', async () => {
    const prompt = await errorPrompt(trace('java.txt'));
    // ImmutableCollections is the JDK's: not in the workspace, so not excerpted.
    assert.deepEqual(excerptHeadings(prompt), [
      'src/main/java/com/example/orders/OrderService.java:9',
      'src/main/java/com/example/orders/OrderService.java:15',
    ]);
    assert.ok(prompt.includes('>  9 |             sum += prices.get(i);'));
  });

  it('readsAGoPanicsGoroutineFrames', async () => {
    const prompt = await errorPrompt(trace('go.txt'));
    assert.deepEqual(excerptHeadings(prompt), ['internal/stock/stock.go:9', 'cmd/inventory/main.go:7']);
    assert.match(prompt, />\s+9 \| \titems\[name\]\.Count \+= n/);
  });

  it('readsATypeScriptCompilerError', async () => {
    const prompt = await errorPrompt(trace('tsc.txt'));
    assert.deepEqual(excerptHeadings(prompt), ['web/greet.ts:2:3']);
  });

  it('addsTheUsersContextAndTheSteps', async () => {
    const prompt = await errorPrompt('Error: boom', {
      file: 'app/pricing.py',
      range: { start_line: 1, end_line: 1 },
      diagnostics: ['app/pricing.py:2: possible division by zero'],
      terminal_output: '$ python3 app/main.py\nZeroDivisionError: division by zero\n',
    });
    assert.match(prompt, /reported in `app\/pricing\.py`, lines 2-2/);
    assert.match(prompt, /## Diagnostics\n- app\/pricing\.py:2: possible division by zero/);
    assert.match(prompt, /## Terminal output\n`{3}\n\$ python3 app\/main\.py/);
    assert.deepEqual(excerptHeadings(prompt), ['app/pricing.py:2']);
    assert.match(prompt, /1\. Reproduce it first/);
    assert.match(prompt, /run the reproduction and the relevant tests again/i);
  });

  it('keepsAnErrorWithBackticksInsideItsFence', async () => {
    const prompt = await errorPrompt('SyntaxError: unexpected ``` in template');
    assert.match(prompt, /^`{4}\nSyntaxError: unexpected ``` in template\n`{4}$/m);
  });

  it('passesASpecThrough', async () => {
    const prompt = await buildTaskPrompt({ kind: 'spec', prompt: 'Add a --verbose flag.' }, workspace);
    assert.match(prompt, /## Task\nAdd a --verbose flag\./);
  });

  it('refusesAmbiguousAndEscapingPaths', () => {
    const files = ['a/util.js', 'b/util.js', 'src/x.js'];
    assert.equal(resolveInWorkspace({ rawPath: 'util.js', line: 1 }, files), undefined);
    assert.equal(resolveInWorkspace({ rawPath: '/home/u/proj/a/util.js', line: 1 }, files)?.path, 'a/util.js');
    assert.equal(resolveInWorkspace({ rawPath: '../src/x.js', line: 1 }, files), undefined);
    assert.deepEqual(findSourceLocations('    at foo (node:internal/x.js:1:1)\n    at bar (/x/node_modules/y/z.js:3:4)'), []);
  });
});
