// The sidebar app: wires the run list, the run header, the transcript and
// the composer to the extension's messages. Messages from the extension are
// validated with the protocol's zod schema before anything reads them.
import { AgentName, type Run } from '@astraforge/contract/runApi';
import { HostMessage, ViewMessage } from '@astraforge/contract/webviewMessages';
import { Composer, type ComposerValues } from './composer';
import { NetworkPrompt } from './networkPrompt';
import { RunHeader } from './runHeader';
import { RunList } from './runList';
import { wasSent } from './sentDraft';
import { Transcript } from './transcript';
import { TranscriptView } from './transcriptView';
import { loadState, post, saveState } from './vscodeApi';

const AGE_REFRESH_MS = 30_000;

const state = loadState();
let transcript = new Transcript();
let shownRun: Run | undefined;
let pending: 'startRun' | 'followUp' | undefined;
/** The draft as the saved state brought it back, until the user edits it or the run list has been compared with it. */
let restoredDraft: string | undefined = state.draft || undefined;

function send(message: ViewMessage): void {
  post(ViewMessage.parse(message));
}

const banner = document.createElement('div');
banner.className = 'banner';
banner.setAttribute('role', 'status');
banner.hidden = true;

const runList = new RunList(
  (runId) => send({ type: 'selectRun', runId }),
  state.runsCollapsed,
  (collapsed) => {
    state.runsCollapsed = collapsed;
    saveState(state);
  },
);

const header = new RunHeader({
  onNewRun: () => showRun(undefined),
  onCancel: (runId) => send({ type: 'cancelRun', runId }),
  onReview: (runId) => send({ type: 'reviewChanges', runId }),
  onOpenSource: (runId) => send({ type: 'openRunSource', runId }),
});

let reportedSeq = 0;
const view = new TranscriptView(
  transcript,
  (blockId) => {
    if (transcript.toggle(blockId)) view.schedule();
  },
  (rows) => {
    // Tells the extension what is on screen, once per frame that showed new events.
    if (!shownRun || transcript.lastSeq === reportedSeq) return;
    reportedSeq = transcript.lastSeq;
    send({ type: 'rendered', runId: shownRun.id, lastSeq: reportedSeq, rows });
  },
);

const welcome = document.createElement('div');
welcome.className = 'welcome';
welcome.innerHTML =
  '<p>Hand a task to an agent that works on a copy of this workspace in a sandbox. Nothing it does touches your files until you review and apply its changes.</p>' +
  '<p>Describe the task below, or paste an error to fix. The command agent runs a shell command without a model.</p>';

const composer = new Composer(
  { draft: state.draft, command: state.command, agent: state.agent ?? 'codex', kind: state.kind },
  {
    onStart: (v: ComposerValues) => {
      pending = 'startRun';
      composer.setBusy(true);
      send({
        type: 'startRun',
        agent: AgentName.parse(v.agent),
        kind: v.kind,
        prompt: v.draft,
        ...(v.agent === 'command' ? { command: v.command.trim() } : {}),
      });
    },
    onFollowUp: (message) => {
      if (!shownRun) return;
      pending = 'followUp';
      composer.setBusy(true);
      send({ type: 'followUp', runId: shownRun.id, message });
    },
    onChange: (v) => {
      restoredDraft = undefined;
      Object.assign(state, { draft: v.draft, command: v.command, agent: v.agent, kind: v.kind });
      saveState(state);
    },
  },
);

const networkPrompt = new NetworkPrompt({
  onAllow: (host, port, scope) => {
    if (shownRun) send({ type: 'allowHost', runId: shownRun.id, host, port, scope });
  },
});

const root = document.getElementById('root')!;
root.append(banner, runList.element, header.element, welcome, view.element, networkPrompt.element, composer.element);

function showRun(run: Run | undefined): void {
  const changed = run?.id !== shownRun?.id;
  shownRun = run;
  header.setRun(run);
  runList.setSelected(run?.id);
  welcome.hidden = !!run;
  view.element.hidden = !run;
  composer.setMode(run ? 'followUp' : 'start', run?.agent);
  if (changed) {
    state.selectedRunId = run?.id;
    saveState(state);
  }
}

function finishPending(ok: boolean, message?: string): void {
  if (!pending) return;
  pending = undefined;
  composer.setBusy(false);
  if (ok) composer.clear();
  else composer.showError(message ?? 'That did not work.');
}

window.addEventListener('message', (ev: MessageEvent) => {
  const parsed = HostMessage.safeParse(ev.data);
  if (!parsed.success) return; // not ours, or a drift the extension already logged
  const msg = parsed.data;
  switch (msg.type) {
    case 'init':
      composer.setAgents(msg.agents, state.agent && AgentName.safeParse(state.agent).success ? state.agent : msg.defaultAgent);
      showConnection(msg.connection);
      break;
    case 'connection':
      showConnection(msg.connection);
      break;
    case 'runs':
      runList.setRuns(msg.runs);
      if (restoredDraft !== undefined && wasSent(restoredDraft, msg.runs)) composer.forgetSent();
      restoredDraft = undefined;
      break;
    case 'runSelected':
      // A fresh transcript: the extension replays the run's log from its start.
      transcript = new Transcript();
      networkPrompt.reset();
      reportedSeq = 0;
      view.setTranscript(transcript);
      showRun(msg.run);
      finishPending(true);
      break;
    case 'runEvents':
      if (msg.runId !== shownRun?.id) break;
      networkPrompt.apply(msg.events);
      if (transcript.apply(msg.events)) view.schedule();
      break;
    case 'runUpdated':
      if (msg.run.id === shownRun?.id) {
        shownRun = msg.run;
        header.setRun(msg.run);
      }
      break;
    case 'ack':
      if (msg.of === pending) finishPending(true);
      break;
    case 'error':
      if (pending) finishPending(false, msg.message);
      else composer.showError(msg.message);
      break;
  }
});

function showConnection(c: { status: string; message?: string }): void {
  banner.hidden = c.status === 'connected';
  banner.className = `banner banner-${c.status}`;
  banner.textContent =
    c.status === 'starting' ? 'Starting the AstraForge server…' : (c.message ?? 'Not connected to the AstraForge server.');
}

showRun(undefined);
setInterval(() => runList.render(), AGE_REFRESH_MS);
send({ type: 'ready', runId: state.selectedRunId });
