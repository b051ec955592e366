#!/usr/bin/env node
// Health probe of the long-running sigma-sweep processes (orchestrator, standing agents): exit 0
// when this network namespace — the pod, or the container under Docker — holds an established TCP
// connection to the NATS server of $NATS_URL, else exit 1 with the reason on stderr. Both processes
// keep one NATS connection for their whole life and reconnect by themselves, so a pod that has had
// none for the probe's failure window is cut off or wedged. It reads /proc/net/tcp{,6} (the
// kernel's socket table) and needs no network round trip, no credentials and no dependency:
// Kubernetes runs it as an exec probe, Docker as the image's HEALTHCHECK.
//
//   node deploy/probe.mjs            port from $NATS_URL (first server; 4222 when none is given)
//   node deploy/probe.mjs 4222 5432  these remote ports, all of them
import { readFileSync } from 'node:fs';

const ESTABLISHED = '01';

function natsPort(env = process.env) {
  const first = (env.NATS_URL ?? 'nats://127.0.0.1:4222').split(',')[0].trim();
  try {
    const url = new URL(first.includes('://') ? first : `nats://${first}`);
    return url.port ? Number(url.port) : 4222;
  } catch {
    return 4222;
  }
}

/** Remote ports of the established connections in /proc/net/tcp and tcp6. */
function establishedRemotePorts() {
  const ports = new Set();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue; // no IPv6 in this kernel, or not Linux
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st …; addresses are HEXIP:HEXPORT
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4 || cols[3] !== ESTABLISHED) continue;
      ports.add(parseInt(cols[2].split(':')[1], 16));
    }
  }
  return ports;
}

const wanted = process.argv.length > 2 ? process.argv.slice(2).map(Number) : [natsPort()];
if (wanted.some((p) => !Number.isInteger(p) || p <= 0 || p > 65535)) {
  process.stderr.write(`probe: ports must be integers in 1..65535, got ${process.argv.slice(2).join(' ')}\n`);
  process.exit(2);
}
const open = establishedRemotePorts();
const missing = wanted.filter((p) => !open.has(p));
if (missing.length) {
  process.stderr.write(`probe: no established connection to port ${missing.join(', ')}\n`);
  process.exit(1);
}
