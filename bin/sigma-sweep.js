#!/usr/bin/env node
// sigma-sweep CLI entry: the sources are TypeScript, loaded through tsx (a runtime dependency),
// so a clone runs without a build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../orchestrator/cli.ts');
process.exitCode = await main(process.argv);
