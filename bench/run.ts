// `npm run bench`: the server's speed against its goals and its peers,
// measured in one run on this machine.
import { cpus } from 'node:os';

import { REPO_ROOT, startServer } from '../test/helpers/serverProcess';
import { BenchClient } from './httpClient';
import { dockerBench } from './dockerBench';
import { egressBench, egressContext } from './egressBench';
import { kubeBench } from './kubeBench';
import { extensionBench } from './extensionBench';
import { dockerRun, rawBwrap, sandboxRuntime } from './peers';
import { runBench } from './runBench';
import { sandboxBench } from './sandboxBench';
import { table, type Row } from './stats';
import { webviewFps } from './webviewFps';
import { windowBench } from './windowBench';

async function main(): Promise<void> {
  const server = await startServer({ config: { maxOutputBytes: 512 * 1024 * 1024, maxSessions: 300, runs: { maxConcurrent: 4 } } });
  const client = new BenchClient(server.url, server.apiKey);
  const rows: Row[] = [];
  try {
    const sandbox = await sandboxBench(client, server.child.pid!);
    rows.push(...sandbox.rows);
    const runs = await runBench(client);
    rows.push(...runs.rows);
    const floor = await rawBwrap(100);
    const docker = await dockerRun(20);
    const srt = await sandboxRuntime(20, REPO_ROOT);
    rows.push(floor, docker, srt);
    const dockerProvider = await dockerBench();
    rows.push(...dockerProvider.rows);
    const egress = await egressBench();
    rows.push(...egress.rows);
    const kube = await kubeBench();
    rows.push(...kube.rows);
    const ext = await extensionBench();
    rows.push(...ext.rows);
    const fps = await webviewFps();
    rows.push(...fps.rows);
    const windows = await windowBench();
    rows.push(...windows.rows);

    console.log(
      `\nAstraForge bench — ${new Date().toISOString()} — ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}\n`,
    );
    console.log(table(rows));
    const createFirst = rows.find((r) => r.name.startsWith('create + first'))!.p50!;
    console.log('\nRatios (p50):');
    console.log(`- create + first command vs raw bwrap /bin/true: ${(createFirst / floor.p50!).toFixed(2)}×`);
    for (const peer of [docker, srt]) {
      if (peer.p50 !== undefined)
        console.log(`- ${peer.name.replace('peer: ', '')} vs our create + first command: ${(peer.p50 / createFirst).toFixed(1)}× slower`);
      if (peer.p50 !== undefined)
        console.log(`- ${peer.name.replace('peer: ', '')} vs our warm exec: ${(peer.p50 / sandbox.warmExecP50).toFixed(0)}× slower`);
    }
    const provisioning = runs.rows.find((r) => r.name.startsWith('run on that snapshot'))!.p50!;
    const plainBaseline = runs.rows.find((r) => r.name.startsWith('peer: tar -x'))!.p50!;
    console.log(`- run provisioning (sandboxed) vs tar -x + git add -A on the host: ${(provisioning / plainBaseline).toFixed(2)}×`);
    const firstDrawn = ext.rows.find((r) => r.name.startsWith('Send Spec'))!.p50!;
    const apiFirst = ext.rows.find((r) => r.name.includes('API alone'))!.p50!;
    if (dockerProvider.createFirstP50 !== undefined && docker.p50 !== undefined) {
      console.log(`- docker provider create + first command vs bubblewrap's: ${(dockerProvider.createFirstP50 / createFirst).toFixed(1)}×`);
      console.log(
        `- \`docker run --rm\` vs our docker create + first command: ${(docker.p50 / dockerProvider.createFirstP50).toFixed(2)}×`,
      );
      console.log(`- docker provider warm exec vs bubblewrap's: ${(dockerProvider.warmExecP50! / sandbox.warmExecP50).toFixed(2)}×`);
    }
    if (kube.warmCreateFirstP50 !== undefined && kube.coldCreateFirstP50 !== undefined) {
      console.log(
        `- kubernetes (double) create + first command vs bubblewrap's: ${(kube.warmCreateFirstP50 / createFirst).toFixed(1)}× (warm pod), cold vs warm pod: ${(kube.coldCreateFirstP50 / kube.warmCreateFirstP50).toFixed(1)}×`,
      );
    }
    console.log(`- Send Spec to first event drawn vs the same through the API alone: ${(firstDrawn / apiFirst).toFixed(2)}×`);
    for (const peer of fps.peers) console.log(`- sidebar fps vs ${peer.name}: ${(fps.ours / Math.max(peer.fps, 0.01)).toFixed(1)}×`);
    const gitApply = ext.rows.find((r) => r.name.includes('git apply'))!.p50!;
    const applyAll = ext.rows.find((r) => r.name.startsWith('apply all'))!.p50!;
    const applyByEdit = ext.rows.find((r) => r.name.startsWith('apply all through'))!.p50!;
    console.log(`- review apply-all vs git apply of the same patch: ${(applyAll / gitApply).toFixed(1)}×`);
    console.log(`- review apply-all through one WorkspaceEdit vs straight to disk: ${(applyByEdit / applyAll).toFixed(1)}×`);
    console.log('\nGoals:');
    const goal = (ok: boolean) => (ok ? 'met' : 'NOT met');
    console.log(`- warm exec p50 ≤ 3 ms: ${sandbox.warmExecP50.toFixed(2)} ms — ${goal(sandbox.warmExecP50 <= 3)}`);
    console.log(`- create + first command p50 ≤ 25 ms: ${sandbox.createFirstP50.toFixed(1)} ms — ${goal(sandbox.createFirstP50 <= 25)}`);
    console.log(`- snapshot of 20,000 files / 200 MB < 3 s: ${runs.snapshotSeconds.toFixed(2)} s — ${goal(runs.snapshotSeconds < 3)}`);
    console.log(`- event latency p50 < 10 ms: ${runs.latencyP50.toFixed(2)} ms — ${goal(runs.latencyP50 < 10)}`);
    console.log(`- sidebar smooth at 10k lines/s (≥ 50 fps): ${fps.ours.toFixed(0)} fps — ${goal(fps.ours >= 50)}`);
    const egressThroughput = (egress.throughputOverhead ?? NaN) * 100;
    console.log(`- egress proxy throughput overhead < 10%: ${egressThroughput.toFixed(1)}% — ${goal(egressThroughput < 10)}`);
    const egressFirst = egress.firstByteOverheadMs ?? NaN;
    console.log(`- egress proxy overhead per connection < 2 ms: ${egressFirst.toFixed(2)} ms — ${goal(egressFirst < 2)}`);
    for (const line of egressContext(egress)) console.log(`  ${line}`);
    const reviewOpen = ext.rows.find((r) => r.name.startsWith('open the review'))!.p50!;
    const reviewApply = ext.rows.find((r) => r.name.startsWith('apply all'))!.p50!;
    console.log(`- review of 500 files / 50,000 lines opens < 1 s: ${reviewOpen.toFixed(0)} ms — ${goal(reviewOpen < 1000)}`);
    console.log(`- and applies < 1 s: ${reviewApply.toFixed(0)} ms — ${goal(reviewApply < 1000)}`);
    // VS Code's own part (the workbench, the extension host) is not the extension's to shorten: the goal is on what follows activation.
    console.log(
      `- reload to the transcript drawn again < 1 s after activation: ${windows.reloadAfterActivationP50.toFixed(0)} ms (VS Code's part before it: ${windows.vscodeP50.toFixed(0)} ms) — ${goal(windows.reloadAfterActivationP50 < 1000)}`,
    );
    console.log(
      `- second window connected < 1 s after activation: ${windows.secondAfterActivationP50.toFixed(0)} ms — ${goal(windows.secondAfterActivationP50 < 1000)}`,
    );
  } finally {
    await client.close();
    await server.dispose();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
