/**
 * Structured logs on stderr: `info message key=value …` for people, one JSON object per line with
 * --log-format json (or SIGMA_SWEEP_LOG=json). stdout stays reserved for results (tables, ids).
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function createLogger(opts: { format?: 'text' | 'json'; level?: Level; stream?: NodeJS.WritableStream } = {}): Logger {
  const format = opts.format ?? (process.env.SIGMA_SWEEP_LOG === 'json' ? 'json' : 'text');
  const min = ORDER[opts.level ?? ((process.env.SIGMA_SWEEP_LOG_LEVEL as Level) || 'info')] ?? 20;
  const out = opts.stream ?? process.stderr;
  const emit = (level: Level, msg: string, fields: Record<string, unknown> = {}) => {
    if (ORDER[level] < min) return;
    fields = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)); // absent, not "undefined"
    if (format === 'json') {
      out.write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }) + '\n');
    } else {
      const kv = Object.entries(fields)
        .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
        .join(' ');
      out.write(`${level.padEnd(5)} ${msg}${kv ? ' ' + kv : ''}\n`);
    }
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}
