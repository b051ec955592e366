// Worker-thread bootstrap: worker threads do not inherit the main thread's tsx loader.
import { register } from 'tsx/esm/api';

register();
await import('./worker-main.ts');
