// A key goes to a new host only once the user agreed; settings that decide
// where keys go are read from the user's own settings only.
import assert from 'node:assert/strict';
import type * as vscode from 'vscode';
import type { Prompts } from '../../src/prompts';
import { approvedOrigin, mayKeyGoTo, originOf, SEND_KEY } from '../../src/server/keyConsent';
import { userLevelValue, userSetting } from '../../src/server/userSettings';

function memento(): vscode.Memento {
  const values = new Map<string, unknown>();
  return {
    keys: () => [...values.keys()],
    get: <T>(key: string, fallback?: T) => (values.has(key) ? (values.get(key) as T) : fallback),
    update: async (key: string, value: unknown) => void values.set(key, value),
  } as vscode.Memento;
}

function answering(answer: string | undefined): Prompts & { asked: string[] } {
  const asked: string[] = [];
  return { asked, modal: async (message) => (asked.push(message), answer) };
}

describe('key consent', () => {
  it('asksBeforeAKeyGoesToANewOriginAndRemembersYes', async () => {
    const state = memento();
    const yes = answering(SEND_KEY);
    assert.equal(await mayKeyGoTo(state, yes, 'model', 'https://api.example.com'), true);
    assert.deepEqual(yes.asked, ['Send your model key to https://api.example.com?']);
    assert.equal(approvedOrigin(state, 'model'), 'https://api.example.com');
    // The same origin again: no question.
    assert.equal(await mayKeyGoTo(state, yes, 'model', 'https://api.example.com'), true);
    assert.equal(yes.asked.length, 1);
  });

  it('keepsTheKeyWhenTheUserDeclinesOrCancels', async () => {
    const state = memento();
    await mayKeyGoTo(state, answering(SEND_KEY), 'server', 'https://mine.example');
    for (const answer of [undefined, 'Cancel']) {
      const no = answering(answer);
      assert.equal(await mayKeyGoTo(state, no, 'server', 'https://evil.example'), false);
      assert.deepEqual(no.asked, ['Send your server key to https://evil.example?']);
    }
    assert.equal(approvedOrigin(state, 'server'), 'https://mine.example', 'the approved origin is unchanged');
    assert.equal(approvedOrigin(state, 'model'), undefined, 'each key has its own');
  });

  it('comparesOriginsNotWholeUrls', () => {
    assert.equal(originOf('model', 'https://api.example.com/v1'), 'https://api.example.com');
    assert.equal(originOf('model', 'https://api.example.com:8443/v1'), 'https://api.example.com:8443');
    assert.notEqual(originOf('model', 'https://api.example.com.evil.io/v1'), 'https://api.example.com');
    assert.throws(() => originOf('model', 'file:///etc/passwd'), /astraforge\.model\.baseUrl is not an http\(s\) URL/);
    assert.throws(() => originOf('server', 'not a url'), /astraforge\.server\.url/);
  });

  it('readsOnlyTheUsersOwnValueOrTheDefault', () => {
    assert.equal(userLevelValue({ defaultValue: '', workspaceValue: 'http://evil/v1' }), '');
    assert.equal(userLevelValue({ defaultValue: '', workspaceFolderValue: 'http://evil/v1' }), '');
    assert.equal(userLevelValue({ defaultValue: '', globalValue: 'https://mine/v1', workspaceValue: 'http://evil/v1' }), 'https://mine/v1');
    assert.equal(userLevelValue(undefined), undefined);
    // As a VS Code that applied a workspace value would report it: still ignored.
    const config = {
      inspect: <T>() => ({ key: 'astraforge.model.baseUrl', defaultValue: '' as T, workspaceValue: ' http://evil/v1 ' as T }),
    };
    assert.equal(userSetting(config, 'model.baseUrl'), '');
    const mine = {
      inspect: <T>() => ({ key: 'astraforge.model.baseUrl', globalValue: ' https://mine/v1 ' as T, workspaceValue: 'http://evil/v1' as T }),
    };
    assert.equal(userSetting(mine, 'model.baseUrl'), 'https://mine/v1');
  });
});
