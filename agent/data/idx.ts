/**
 * IDX file reader (the MNIST / Fashion-MNIST container format), plain or gzip-compressed (the
 * Fashion-MNIST distribution and Debian's dataset-fashion-mnist ship `.gz` files).
 *
 * Layout: 2 zero bytes, a type code (0x08 = unsigned byte is the only one used by these datasets),
 * the number of dimensions, then one big-endian uint32 per dimension, then the data.
 * Every check failure throws IdxFormatError naming the file and what is wrong, so a truncated or
 * mislabelled file never turns into silently wrong pixels.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { constants, gunzipSync } from 'node:zlib';
import { DatasetFileError } from './dataset.ts';

export class IdxFormatError extends DatasetFileError {
  constructor(file: string, detail: string) {
    super(file, `not a valid IDX file: ${detail}`);
    this.name = 'IdxFormatError';
  }
}

export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

/** The shape a header announces, checked against the number of bytes the file (uncompressed) has. */
function parseHeader(buf: Uint8Array, totalBytes: number, file: string, expectDims: number): { shape: number[]; header: number } {
  if (totalBytes < 4) throw new IdxFormatError(file, `file is ${totalBytes} bytes, shorter than the 4-byte magic number`);
  if (buf[0] !== 0 || buf[1] !== 0) throw new IdxFormatError(file, 'magic number must start with two zero bytes');
  if (buf[2] !== 0x08) throw new IdxFormatError(file, `type code 0x${buf[2].toString(16)} is not 0x08 (unsigned byte)`);
  const ndim = buf[3];
  if (ndim !== expectDims) throw new IdxFormatError(file, `expected ${expectDims} dimensions, header says ${ndim}`);
  const header = 4 + 4 * ndim;
  if (totalBytes < header || buf.length < header) throw new IdxFormatError(file, 'truncated header');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const shape: number[] = [];
  for (let i = 0; i < ndim; i++) shape.push(view.getUint32(4 + 4 * i, false));
  const count = shape.reduce((a, b) => a * b, 1);
  if (totalBytes !== header + count) {
    throw new IdxFormatError(
      file,
      `header shape [${shape.join(', ')}] needs ${header + count} bytes, file has ${totalBytes}` + (totalBytes < header + count ? ' (truncated)' : ' (trailing bytes)'),
    );
  }
  return { shape, header };
}

/** Parse an IDX ubyte buffer; `expectDims` pins the number of dimensions (3 images, 1 labels). */
export function parseIdx(buf: Uint8Array, file: string, expectDims: number): IdxArray {
  const { shape, header } = parseHeader(buf, buf.length, file, expectDims);
  return { shape, data: buf.subarray(header) };
}

const isGzip = (b: Uint8Array) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

export function readIdxFile(file: string, expectDims: number): IdxArray {
  const raw = readFileSync(file);
  let buf: Uint8Array = raw;
  if (isGzip(raw)) {
    try {
      buf = gunzipSync(raw);
    } catch (e) {
      throw new IdxFormatError(file, `corrupt gzip data (${(e as Error).message})`);
    }
  }
  return parseIdx(buf, file, expectDims);
}

/**
 * The shape an IDX file holds, checked without reading it whole: the header, and the file size
 * (for `.gz`, the first block inflated and the uncompressed size from the gzip trailer). The full
 * read (readIdxFile) checks everything again.
 */
export function probeIdxFile(file: string, expectDims: number): number[] {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(Math.min(size, 65536));
    readSync(fd, head, 0, head.length, 0);
    if (!isGzip(head)) return parseHeader(head, size, file, expectDims).shape;
    if (size < 18) throw new IdxFormatError(file, `gzip file of ${size} bytes is truncated`);
    const tail = Buffer.alloc(4);
    readSync(fd, tail, 0, 4, size - 4);
    let start: Uint8Array;
    try {
      // Z_SYNC_FLUSH: inflate what the first block gives without asking for the end of the stream
      start = gunzipSync(head, { finishFlush: constants.Z_SYNC_FLUSH });
    } catch (e) {
      throw new IdxFormatError(file, `corrupt gzip data (${(e as Error).message})`);
    }
    return parseHeader(start, tail.readUInt32LE(0), file, expectDims).shape;
  } finally {
    closeSync(fd);
  }
}
