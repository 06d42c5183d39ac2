// A pod's usage, measured from inside it through its runner: the container's
// cgroup (v2: memory.current, cpu.stat, memory.max) where the runtime shows
// it, else the pod's own processes in /proc (its pid namespace holds only
// them; the runner, pid 1, reaps every finished one, so its children's times
// count what has ended). Whatever comes back is the sandbox's output: parsed
// as numbers or ignored.
import type { RunnerClient } from '../runnerProtocol';
import type { SandboxUsage } from '../sandboxProvider';

const PROBE = [
  'if [ -r /sys/fs/cgroup/memory.current ] && [ -r /sys/fs/cgroup/cpu.stat ]; then',
  '  echo "cgroup $(cat /sys/fs/cgroup/memory.current) $(awk \'/^usage_usec/{print $2}\' /sys/fs/cgroup/cpu.stat) $(cat /sys/fs/cgroup/memory.max)"',
  'else',
  '  cat /proc/[0-9]*/stat 2>/dev/null | awk -v hz="$(getconf CLK_TCK)" \'{p=$1; sub(/^.*\\) /,""); t+=$12+$13; r+=$22; if (p==1) t+=$14+$15} END {printf "proc %d %d max\\n", r*4096, t*1000000/hz}\'',
  'fi',
].join('\n');

export async function podUsage(runner: RunnerClient, configuredLimit: number): Promise<SandboxUsage> {
  let out = '';
  const done = await runner.exec(PROBE, {
    timeoutMs: 5000,
    separateStderr: true,
    maxOutputBytes: 256,
    onOutput: (s, c) => {
      if (s === 'stdout') out += c.toString();
    },
  }).result;
  const m = /^(cgroup|proc) (\d+) (\d+) (\d+|max)\s*$/.exec(out);
  if (done.exitCode !== 0 || !m) return { memoryBytes: 0, memoryLimit: configuredLimit, cpuUsageUsec: 0 };
  const limit = m[4] === 'max' ? configuredLimit : Math.min(Number(m[4]), configuredLimit);
  return { memoryBytes: Number(m[2]), memoryLimit: limit, cpuUsageUsec: Number(m[3]) };
}
