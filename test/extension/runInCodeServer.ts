// Runs the extension-host suite inside a real VS Code (code-server in
// headless Chromium; see test/helpers/extensionSuite.ts). Prints each result
// and mocha's "N passing / N failing" lines, which the test command adds up.
import { runSuiteInCodeServer } from '../helpers/extensionSuite';

async function main(): Promise<number> {
  const started = Date.now();
  const results = await runSuiteInCodeServer();
  console.log('\n  extension host (code-server)');
  for (const p of results.passes) console.log(`    ✔ ${p.title} (${p.duration}ms)`);
  results.failures.forEach((f, i) => console.log(`    ${i + 1}) ${f.title}`));
  console.log(`\n  ${results.passes.length} passing (${((Date.now() - started) / 1000).toFixed(0)}s)`);
  if (results.failures.length) {
    console.log(`  ${results.failures.length} failing\n`);
    results.failures.forEach((f, i) => console.log(`  ${i + 1}) ${f.title}:\n     ${f.error}\n`));
  }
  return results.failures.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
