// The sandbox API's rows of `npm run bench` alone, for one or more server
// bundles in turn: `tsx bench/sandboxOnly.ts [mainA.js [mainB.js ...]]`.
import { resolve } from 'node:path';
import { start, stop } from './benchServer';
import { sandboxBench } from './sandboxBench';
import { table } from './stats';

async function main(): Promise<void> {
  const mains = process.argv.slice(2);
  if (mains.length === 0) mains.push(resolve(__dirname, '../server/dist/main.js'));
  for (const [i, main] of mains.entries()) {
    const s = await start(String.fromCharCode(65 + i), main);
    try {
      const { rows } = await sandboxBench(s.client, s.child.pid!);
      console.log(`\n${s.label}: ${main}\n\n${table(rows)}`);
    } finally {
      await stop(s);
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
