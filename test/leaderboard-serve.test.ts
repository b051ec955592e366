/**
 * `sigma-sweep serve`: the static server answers files of its folder with their content types, a
 * folder with its index.html, and nothing outside the folder: `..` plain, percent-encoded or with
 * backslashes, and symbolic links that lead out, are refused; bad encodings are 400, other methods 405.
 */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveFolder, type RunningServer } from '../orchestrator/leaderboard/static-server.ts';
import { cli } from './helpers/cli.ts';

let root: string;
let server: RunningServer;

beforeAll(async () => {
  const top = mkdtempSync(path.join(os.tmpdir(), 'sigma-serve-'));
  root = path.join(top, 'site');
  mkdirSync(path.join(root, 'sub'), { recursive: true });
  writeFileSync(path.join(top, 'outside.txt'), 'SECRET');
  writeFileSync(path.join(root, 'index.html'), '<!DOCTYPE html><title>top</title>');
  writeFileSync(path.join(root, 'sub', 'index.html'), '<!DOCTYPE html><title>sub</title>');
  writeFileSync(path.join(root, 'curves-m1.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  writeFileSync(path.join(root, 'curves-m1.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47]));
  writeFileSync(path.join(root, 'data.bin'), 'x');
  writeFileSync(path.join(root, 'a b.txt'), 'spaced');
  symlinkSync(path.join(top, 'outside.txt'), path.join(root, 'link-out.txt'));
  symlinkSync(top, path.join(root, 'dir-out'));
  symlinkSync(path.join(root, 'curves-m1.svg'), path.join(root, 'link-in.svg'));
  server = await serveFolder(root, 0, '127.0.0.1');
});

afterAll(async () => {
  await server?.close();
});

/** One raw request: the path goes out exactly as written (fetch would normalise `..` away). */
function request(rawPath: string, method = 'GET'): Promise<{ status: number; type: string | undefined; body: string; length: string | undefined; location: string | undefined }> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: rawPath, method }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], body, length: res.headers['content-length'], location: res.headers.location }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('serve', () => {
  it('prints an http URL on 127.0.0.1 with the port it got', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  });

  it('serves files with their content types, folders by their index.html', async () => {
    expect(await request('/')).toMatchObject({ status: 200, type: 'text/html; charset=utf-8', body: '<!DOCTYPE html><title>top</title>' });
    expect(await request('/sub/')).toMatchObject({ status: 200, body: '<!DOCTYPE html><title>sub</title>' });
    expect(await request('/sub')).toMatchObject({ status: 301, location: '/sub/' });
    expect(await request('//sub')).toMatchObject({ status: 301, location: '/sub/' }); // never `//sub/`: another host
    expect(await request('/curves-m1.svg')).toMatchObject({ status: 200, type: 'image/svg+xml' });
    expect(await request('/curves-m1.png?v=2')).toMatchObject({ status: 200, type: 'image/png', length: '4' });
    expect(await request('/data.bin')).toMatchObject({ status: 200, type: 'application/octet-stream' });
    expect(await request('/a%20b.txt')).toMatchObject({ status: 200, type: 'text/plain; charset=utf-8', body: 'spaced' });
    expect(await request('/link-in.svg')).toMatchObject({ status: 200, type: 'image/svg+xml' });
    expect(await request('/missing.html')).toMatchObject({ status: 404 });
    const head = await request('/index.html', 'HEAD');
    expect(head).toMatchObject({ status: 200, body: '', length: String('<!DOCTYPE html><title>top</title>'.length) });
  });

  it('nothing outside the folder: .. in every spelling and links that lead out', async () => {
    for (const p of ['/../outside.txt', '/%2e%2e/outside.txt', '/..%2foutside.txt', '/sub/..%2f..%2foutside.txt', '/%2E%2E%2Foutside.txt', '/..\\outside.txt', '/%5c..%5coutside.txt', '/sub/../../outside.txt', '/link-out.txt', '/dir-out/outside.txt', '/dir-out/']) {
      const r = await request(p);
      expect({ p, secret: r.body.includes('SECRET') }).toEqual({ p, secret: false });
      expect([403, 404]).toContain(r.status);
    }
    expect((await request('/link-out.txt')).status).toBe(403);
  });

  it('bad encodings are 400, methods other than GET and HEAD 405', async () => {
    expect((await request('/%E0%A4%A')).status).toBe(400);
    expect((await request('/%00index.html')).status).toBe(400);
    expect(await request('/index.html', 'POST')).toMatchObject({ status: 405 });
    expect((await request('/index.html', 'DELETE')).status).toBe(405);
  });

  it('the command: a folder that does not exist, a port in use and a bad port exit 2', async () => {
    expect(await cli(['serve', path.join(root, 'nope')])).toMatchObject({ code: 2, err: expect.stringMatching(/serve: cannot serve '.*nope': ENOENT/) });
    expect(await cli(['serve', path.join(root, 'index.html')])).toMatchObject({ code: 2, err: expect.stringMatching(/is not a folder/) });
    const port = new URL(server.url).port;
    expect(await cli(['serve', root, '--port', port])).toMatchObject({ code: 2, err: expect.stringMatching(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE`)) });
    expect(await cli(['serve', root, '--port', '70000'])).toMatchObject({ code: 2, err: expect.stringMatching(/--port: '70000' is not a port number/) });
  });
});
