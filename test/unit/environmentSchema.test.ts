// The JSON schema that VS Code checks .astraforge/environment.json with: it is
// the contract's zod schema, generated (the committed file must match), it is
// contributed in package.json, and the two accept and refuse the same files.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { EnvironmentFile, environmentJsonSchema } from '@astraforge/contract/environment';

const ROOT = join(__dirname, '..', '..');
const SCHEMA_FILE = join(ROOT, 'media', 'schemas', 'environment.schema.json');

const ACCEPTED: unknown[] = [
  {},
  { setup: 'npm ci' },
  {
    $schema: './schema.json',
    setup: 'pip install -r requirements.txt',
    setup_timeout_seconds: 900,
    cache_key_files: ['requirements.txt', 'constraints.txt'],
    network: { setup: { mode: 'allowlist', allow: ['pypi.org', '*.pythonhosted.org'] }, agent: { mode: 'none' } },
    env: { PYTHONUNBUFFERED: '1', _UNDERSCORE: 'x' },
    image: 'python:3.12',
  },
  { network: { agent: { mode: 'open', deny: ['169.254.169.254'] } } },
];

const REFUSED: unknown[] = [
  { setup: '' },
  { setup: 42 },
  { setup_timeout_seconds: 0 },
  { setup_timeout_seconds: 1.5 },
  { cache_key_files: 'package-lock.json' },
  { network: { setup: { mode: 'some' } } },
  { network: { setup: { allow: ['x'] } } },
  { network: { build: { mode: 'none' } } },
  { env: { '1BAD': 'x' } },
  { env: { OK: 1 } },
  { install: 'npm ci' },
  [],
];

describe('environment.json schema', () => {
  it('isTheContractsSchemaGenerated', () => {
    const generated = environmentJsonSchema();
    if (process.env.UPDATE_SCHEMAS) writeFileSync(SCHEMA_FILE, `${JSON.stringify(generated, null, 2)}\n`);
    assert.deepEqual(
      JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')),
      generated,
      'media/schemas/environment.schema.json is stale: run UPDATE_SCHEMAS=1 npx mocha --require tsx/cjs test/unit/environmentSchema.test.ts',
    );
  });

  it('isContributedToVsCodeForTheEnvironmentFile', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    const entry = pkg.contributes.jsonValidation.find((v: any) => v.fileMatch === '/.astraforge/environment.json');
    assert.ok(entry, 'a jsonValidation entry for .astraforge/environment.json');
    assert.ok(existsSync(join(ROOT, entry.url)), entry.url);
    assert.ok(readFileSync(join(ROOT, '.vscodeignore'), 'utf8').includes('!media/**'), 'the schema is packaged with the extension');
  });

  it('acceptsAndRefusesTheSameFilesAsTheContract', () => {
    const validate = new Ajv({ strict: false }).compile(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')));
    for (const example of ACCEPTED) {
      assert.ok(EnvironmentFile.safeParse(example).success, `zod accepts ${JSON.stringify(example)}`);
      assert.ok(validate(example), `the JSON schema accepts ${JSON.stringify(example)}: ${JSON.stringify(validate.errors)}`);
    }
    for (const example of REFUSED) {
      assert.ok(!EnvironmentFile.safeParse(example).success, `zod refuses ${JSON.stringify(example)}`);
      assert.ok(!validate(example), `the JSON schema refuses ${JSON.stringify(example)}`);
    }
  });

  it('describesEachPropertyForCompletions', () => {
    const schema = environmentJsonSchema() as any;
    const props = schema.definitions.EnvironmentFile.properties;
    for (const name of ['setup', 'cache_key_files', 'network', 'env', 'image']) assert.ok(name in props, name);
    for (const name of ['setup', 'cache_key_files', 'network', 'env', 'image'])
      assert.ok(props[name].description, `${name} has a description`);
    assert.deepEqual(schema.definitions.EnvironmentNetworkPolicy.properties.mode.enum, ['none', 'allowlist', 'open']);
  });
});
