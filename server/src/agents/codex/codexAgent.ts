// The `codex` agent: the real OpenAI Codex CLI, `codex exec --json`, run in
// the sandbox's /workspace with its own sandbox off (ours contains it) and
// its model provider set to the gateway relay on the sandbox's loopback.
// A follow-up resumes the same Codex thread (`codex exec resume`).
//
// Why `exec --json` and not `app-server`: every turn of a run is a
// non-interactive job whose end is the diff; exec's JSON lines are a flat
// event stream we translate line by line, cancel is our own process-tree
// kill, and `exec resume <thread>` carries the conversation to follow-ups.
// app-server's JSON-RPC session would add a long-lived protocol peer for
// features (approvals, mid-turn steering) a sandboxed run does not use.
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RunEventName, type FollowUpRequest } from '@astraforge/contract/runApi';
import type { SandboxAttachments } from '../../sandboxes/sandboxProvider';
import { shellQuote } from '../../sessions/shellQuote';
import type { Agent, AgentContext, AgentOutcome } from '../agent';
import { buildTaskPrompt } from '../prompts/taskPrompt';
import { LineSplitter, translateCodexLine, type CodexTurnState } from './codexEvents';

const SANDBOX_BINARY = '/.astraforge/bin/codex';
const CODEX_HOME = '/home/sandbox/.codex';
const TOKEN_ENV = 'ASTRAFORGE_MODEL_TOKEN';

export interface CodexAgentOptions {
  /** The Codex binary on the host, or undefined when @openai/codex is not installed. */
  hostBinary: string | undefined;
  /** A folder every sandbox uid can traverse, where the binary is exposed from. */
  exposeDir: string;
  /** Why models cannot be used (no provider configured), or undefined. */
  modelProblem: () => string | undefined;
  streamRetries: number;
}

/** The Codex binary: the one configured (codexBinary, ASTRAFORGE_CODEX_BINARY), else the platform binary that the @openai/codex package installed, if any. */
export function findCodexBinary(chosen?: string): string | undefined {
  if (chosen) return existsSync(chosen) ? chosen : undefined;
  const triple = process.arch === 'arm64' ? 'aarch64-unknown-linux-musl' : 'x86_64-unknown-linux-musl';
  const pkg = process.arch === 'arm64' ? '@openai/codex-linux-arm64' : '@openai/codex-linux-x64';
  try {
    const root = dirname(require.resolve(`${pkg}/package.json`));
    const bin = join(root, 'vendor', triple, 'bin', 'codex');
    return existsSync(bin) ? bin : undefined;
  } catch {
    return undefined;
  }
}

export class CodexAgent implements Agent {
  readonly name = 'codex' as const;
  readonly usesModel = true;
  private exposed?: string;
  /** Codex thread per run, for follow-ups. */
  private readonly threads = new Map<string, string>();

  constructor(private readonly opts: CodexAgentOptions) {}

  unavailableReason(): string | undefined {
    if (!this.opts.hostBinary)
      return 'the Codex CLI is not installed on the server: run `npm install @openai/codex` in the server folder, or point ASTRAFORGE_CODEX_BINARY (the extension: astraforge.codex.path) at a codex binary';
    return this.opts.modelProblem();
  }

  sandboxAttachments(): SandboxAttachments {
    return { readOnlyFiles: [{ hostPath: this.exposedBinary(), sandboxPath: SANDBOX_BINARY }] };
  }

  async start(ctx: AgentContext): Promise<AgentOutcome> {
    const prompt = await buildTaskPrompt(ctx.task, ctx.workspace);
    ctx.emit(RunEventName.agentPrompt, { text: prompt });
    return this.turn(ctx, prompt, undefined);
  }

  async followUp(ctx: AgentContext, req: FollowUpRequest): Promise<AgentOutcome> {
    const message = req.message ?? req.command ?? '';
    return this.turn(ctx, message, this.threads.get(ctx.runId));
  }

  private async turn(ctx: AgentContext, prompt: string, resumeThread: string | undefined): Promise<AgentOutcome> {
    const model = ctx.model;
    if (!model) return { status: 'failed', error: 'the Codex agent needs the model gateway' };
    const state: CodexTurnState = {};
    const lines = new LineSplitter();
    const onLine = (line: string) => {
      for (const ev of translateCodexLine(line, state)) ctx.emit(ev.type, ev.data);
    };
    let stderrTail = '';
    const out = await ctx.exec(this.command(model.token, model.sandboxBaseUrl, model.model, prompt, resumeThread), (stream, text) => {
      if (stream === 'stdout') lines.push(text, onLine);
      else stderrTail = (stderrTail + text).slice(-4000);
    });
    lines.flush(onLine);
    if (state.threadId) this.threads.set(ctx.runId, state.threadId);
    if (out.cancelled) return { status: 'failed', error: 'cancelled' };
    if (out.timedOut) return { status: 'failed', error: "Codex ran out of the run's time" };
    if (state.failure) return { status: 'failed', error: `Codex: ${state.failure}` };
    if (out.exitCode !== 0) {
      const why = stderrTail.trim().split('\n').slice(-3).join(' ');
      return { status: 'failed', error: `Codex exited with ${out.exitCode}${why ? `: ${why}` : ''}` };
    }
    return { status: 'succeeded' };
  }

  private command(token: string, baseUrl: string, model: string, prompt: string, resumeThread: string | undefined): string {
    const config = [
      'model_provider=astraforge',
      'model_providers.astraforge.name="AstraForge gateway"',
      `model_providers.astraforge.base_url=${JSON.stringify(baseUrl)}`,
      'model_providers.astraforge.wire_api="responses"',
      `model_providers.astraforge.env_key="${TOKEN_ENV}"`,
      `model_providers.astraforge.stream_max_retries=${this.opts.streamRetries}`,
      `model_providers.astraforge.request_max_retries=${this.opts.streamRetries}`,
      // The commands Codex runs need no gateway token (Codex itself keeps it); keep it out of their environment.
      `shell_environment_policy.exclude=["${TOKEN_ENV}"]`,
    ];
    const args = [
      SANDBOX_BINARY,
      'exec',
      ...(resumeThread ? ['resume'] : []),
      '--json',
      '--skip-git-repo-check',
      '--dangerously-bypass-approvals-and-sandbox',
      '-m',
      model,
      ...config.flatMap((c) => ['-c', c]),
      ...(resumeThread ? [resumeThread] : []),
      '-',
    ];
    // The prompt goes in on stdin through a quoted heredoc: no quoting limits, no expansion.
    const eof = `AF_PROMPT_${randomBytes(8).toString('hex')}`;
    return [
      `cd /workspace && mkdir -p ${CODEX_HOME} && ${TOKEN_ENV}=${shellQuote(token)} CODEX_HOME=${CODEX_HOME} ${args.map(shellQuote).join(' ')} <<'${eof}'`,
      prompt,
      eof,
    ].join('\n');
  }

  /** A hard link (or, across filesystems, a copy) of the binary where sandbox uids can reach it. */
  private exposedBinary(): string {
    if (this.exposed) return this.exposed;
    const src = this.opts.hostBinary!;
    const dst = join(this.opts.exposeDir, 'codex');
    mkdirSync(this.opts.exposeDir, { recursive: true, mode: 0o755 });
    const srcStat = statSync(src);
    const dstStat = existsSync(dst) ? statSync(dst) : undefined;
    const same = dstStat && (dstStat.ino === srcStat.ino || (dstStat.size === srcStat.size && dstStat.mtimeMs >= srcStat.mtimeMs));
    if (!same) {
      rmSync(dst, { force: true });
      try {
        linkSync(src, dst);
      } catch {
        copyFileSync(src, dst);
      }
      chmodSync(dst, 0o755);
    }
    this.exposed = dst;
    return dst;
  }
}
