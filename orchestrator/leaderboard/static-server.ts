/**
 * `sigma-sweep serve`: a small static file server (node:http) for a leaderboard folder. GET and HEAD
 * only; a folder serves its index.html; nothing outside the folder is reachable, neither by `..`
 * (encoded or not) nor through a symbolic link that leads out of it (paths are compared after
 * realpath). A folder without its trailing slash is redirected to it. Content types by extension,
 * `nosniff`, no directory listings.
 */
import { createReadStream, realpathSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { BadInputError } from '../../schema/errors.ts';

export const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.tex': 'text/x-tex; charset=utf-8',
  '.pdf': 'application/pdf',
};

export const contentType = (file: string) => CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';

/** The file a URL path names inside `root` (a realpath), or the HTTP status that answers it instead. */
export function resolveRequest(root: string, urlPath: string): { file: string } | { status: 400 | 403 | 404 } | { status: 301; location: string } {
  const rawPath = urlPath.split('?')[0].split('#')[0];
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return { status: 400 };
  }
  if (decoded.includes('\0')) return { status: 400 };
  const inside = (p: string) => p === root || p.startsWith(root + path.sep);
  let target = path.resolve(root, '.' + path.posix.normalize('/' + decoded.replace(/\\/g, '/')));
  if (!inside(target)) return { status: 403 };
  let real: string;
  try {
    real = realpathSync(target);
  } catch {
    return { status: 404 };
  }
  if (!inside(real)) return { status: 403 }; // a symbolic link out of the folder
  try {
    if (statSync(real).isDirectory()) {
      // a folder's page links relative to the folder: /sub → /sub/ first
      // (rebuilt from the normalised path: `//host/x` must not become a redirect to another host)
      if (!rawPath.endsWith('/')) return { status: 301, location: `${path.posix.normalize('/' + decoded).split('/').map(encodeURIComponent).join('/')}/` };
      target = path.join(real, 'index.html');
      real = realpathSync(target);
      if (!inside(real)) return { status: 403 };
    }
    if (!statSync(real).isFile()) return { status: 404 };
  } catch {
    return { status: 404 };
  }
  return { file: real };
}

export interface RunningServer {
  url: string;
  server: Server;
  close: () => Promise<void>;
}

/** Serve `dir` on host:port (port 0: any free port); resolves once listening. */
export async function serveFolder(dir: string, port: number, host: string): Promise<RunningServer> {
  let root: string;
  try {
    root = realpathSync(dir);
    if (!statSync(root).isDirectory()) throw new BadInputError(`serve: '${dir}' is not a folder`);
  } catch (e) {
    if (e instanceof BadInputError) throw e;
    throw new BadInputError(`serve: cannot serve '${dir}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const server = createServer((req, res) => {
    const send = (status: number, text: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff', ...headers });
      res.end(req.method === 'HEAD' ? undefined : `${status} ${text}\n`);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed', { allow: 'GET, HEAD' });
    const found = resolveRequest(root, req.url ?? '/');
    if ('location' in found) return send(301, 'moved permanently', { location: found.location });
    if ('status' in found) return send(found.status, found.status === 400 ? 'bad request' : found.status === 403 ? 'forbidden' : 'not found');
    const size = statSync(found.file).size;
    res.writeHead(200, { 'content-type': contentType(found.file), 'content-length': String(size), 'x-content-type-options': 'nosniff', 'cache-control': 'no-cache' });
    if (req.method === 'HEAD') return res.end();
    createReadStream(found.file)
      .on('error', () => res.destroy())
      .pipe(res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND' ? new BadInputError(`serve: cannot listen on ${host}:${port}: ${e.code}`) : e),
    );
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${shownHost}:${addr.port}/`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // keep-alive connections would hold close() open
      }),
  };
}
