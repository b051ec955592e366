import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Store } from '../orchestrator/db/store.ts';
import { storeContract } from './helpers/store-contract.ts';

// one PGlite folder for the file (PGlite takes seconds to start); reopened per test
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'sigma-sweep-pglite-'));
storeContract(() => Store.open({ dataDir }));
