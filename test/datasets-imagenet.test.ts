/**
 * ImageNet validation images from a folder: images written here with sharp (PNG, JPEG), the two
 * layouts (class sub-folders, labels file), the two resize modes checked byte for byte against
 * Pillow (the digests below are what scripts/data/pil_resize_reference.py printed with Pillow
 * 9.4.0 for the same synthetic images), corrupt and missing files named.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetFileError } from '../agent/data/dataset.ts';
import { decodeImage, listImagenet, openImagenet } from '../agent/data/imagenet.ts';
import { probeDataset, openDataset } from '../agent/data/registry.ts';
import { roundHalfEven, shorterSideSize } from '../agent/data/resize.ts';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'imagenet-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** The synthetic image of the Pillow reference (pil_resize_reference.py `pixel`). */
const pixel = (x: number, y: number, c: number) => (x * 7 + y * 13 + c * 71 + ((x * y) % 29)) % 256;
function synthetic(w: number, h: number): Buffer {
  const b = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) b[(y * w + x) * 3 + c] = pixel(x, y, c);
  return b;
}
const png = (w: number, h: number, file: string) => sharp(synthetic(w, h), { raw: { width: w, height: h, channels: 3 } }).png().toFile(file);
const flat = (w: number, h: number, rgb: [number, number, number]) => sharp({ create: { width: w, height: h, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } });

// Pillow 9.4.0: Image.resize((224, 224), BILINEAR), or Resize(256) + CenterCrop(224) as torchvision computes them
const PILLOW = [
  { resize: '224', w: 37, h: 29, sha256: 'c214dc457a7fb07e4b96be91393af8ee51a15f25e43ca16aa51692dc40a649f4', first: [0, 71, 142, 0, 71, 142], centre: [71, 142, 213] },
  { resize: '224', w: 300, h: 260, sha256: '4a82a1744a3b6572a627671f775254646d7dca842839f0ea2e87ed2611a5f991', first: [4, 75, 146, 14, 85, 156], centre: [199, 25, 85] },
  { resize: '224', w: 500, h: 375, sha256: '257c25bcb57032b407d56550ef799de0b3fb31a0aac591afa4c0eb9a5a90c3af', first: [12, 83, 154, 27, 98, 169], centre: [115, 186, 130] },
  { resize: '256-crop-224', w: 300, h: 260, sha256: '26a8e6db30851c438f0f05647c0c2176700d62097c30f565c98de7251312635f', first: [228, 43, 114, 239, 54, 125], centre: [203, 19, 89] },
  { resize: '256-crop-224', w: 293, h: 256, sha256: '8b7b2264dcc3b180902939a8bdfc6b17a10a6d020c603142730ceb271912ce19', first: [212, 27, 98, 206, 21, 92], centre: [138, 209, 24] },
  { resize: '256-crop-224', w: 240, h: 301, sha256: '46630316f335bc41da463c36b91a07570d97c0251c6016da08975f2fb3471ba5', first: [186, 1, 72, 206, 26, 92], centre: [250, 65, 136] },
] as const;

const CENTRE = (112 * 224 + 112) * 3;

// the same script: the 40×30 synthetic image saved by Pillow as JPEG (quality 85, 4:2:0), and
// Pillow's pixels after decoding it (libjpeg-turbo) and each resize
const PILLOW_JPEG = Buffer.from(
  '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAUDBAQEAwUEBAQFBQUGBwwIBwcHBw8LCwkMEQ8SEhEPERETFhwXExQaFRERGCEYGh0dHx8fExciJCIeJBweHx7/2wBDAQUFBQcGBw4ICA4eFBEUHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh7/wAARCAAeACgDASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwB/hfwXa28SNLAXckAIq/17V0+pS+H/AArBu1i6it5dhaK0hXdO5w2MKOcHaRk/LkYJrD1zxxc28wtvC4hgS0lmSe8mEciyrswJEOcAbtzDPXbGc4Zlrg7q8vJLmONprnVbnLPK91K7BXKKvfnOFjBHooB5wBw/8L3EtT95J0aL2jF2lb+8/u/RLU3wfCOGy6jHGZzU9nB203m79lZ279dO1jrfEfjG+1OzvbfRopNKsBJHKl5t2XOxUJlVypJBL8grg4XBzuNcrdapLqdyruLjVJo0ESXN07O27JIXLHIQZY47npjqbWheE7q92y3++YgDO7OOFUZ/JV565A55r0DQ/DEEUkSJCXbePnI+Q4B5z6Yx/nmvejleS8N0PaYqSj+bdvvbdjGvxrOlBUMmoKjFfadpTfS99l0vvr1tdHGaT4Uurz/kIyyTYwxEh2xqdvBCjjOPQdzRXf6xrWgeGb1bHULk3Go5V5bWHP7tGBYkkDCsQMKp5yVJ2qS4K8Wpx3mE3zZfgW6XRvS672R5lPhfOcxisTKE582t3rfzu9X6nmOn6Dfaw0fnxusSqHSJCcbTnB9Ny5AzwSAPeu40XwtFE6KlsWl4AypC+nfr9Ovbmuq0DS7O4iSIvIqgADCAEAe/WuL8d+L9YsNTl8M2kQ0a9tioup7O5WZJkkjDAAtErKwDDDLjHPB4IxxfGmJzKbwWRw5LfFOVtN1pHXys9X5LcvK8izDiTGSlOXNLeTb2Xn1+SR0/iSa08KaImoaqA1wVK2tpGcNO+Ofoozy3b0yQDxOv+ONbvrUvarJoOmSW6o6RSmSSN94IkSVFVwSAqkcjBPGTkct4nuLm3a3nM8t1e3hO65un81gECjHzDnIIHOcAflL4c0k3l3bzahdz3Kx52+Y5cjIxxk/Su7J+DFiLYvH1Pazb+KV3tponp0td6/kfQ4zEZRwnUlhfY+3xMVe70hFtJpWvrbd9XtdXdqcKXFyI4dIR7eNy6lxH8xGSBtY+vXlQQeM0V6npekWVpsEKYEn3SQCO2crRXXmXGuR5LXeDlCUpR3tFaPs3Jxv8rrzPkcdnObZpV+sVazV+ibSXolsf/9k=',
  'base64',
);
const PILLOW_JPEG_RESIZED = [
  { resize: '224', sha256: '3419b28dc1d847ff86b72d248446fd84a450e1ba59a2394c747333a0a46a257a', first: [9, 63, 127, 9, 63, 127] },
  { resize: '256-crop-224', sha256: 'f3f1afcef52d505938b553df3de0c13d97a5a573c213de4fb4a5366267fc3d90', first: [68, 143, 208, 69, 145, 208] },
] as const;

describe('ImageNet preprocessing equals Pillow/torchvision', () => {
  it.each(PILLOW)('$resize of a $w×$h PNG', async (ref) => {
    const file = path.join(tmp(), 'img.png');
    await png(ref.w, ref.h, file);
    const out = await decodeImage(file, ref.resize);
    expect(out.length).toBe(224 * 224 * 3);
    expect(Array.from(out.subarray(0, 6))).toEqual(ref.first);
    expect(Array.from(out.subarray(CENTRE, CENTRE + 3))).toEqual(ref.centre);
    expect(createHash('sha256').update(out).digest('hex')).toBe(ref.sha256);
  });

  it.each(PILLOW_JPEG_RESIZED)('$resize of a JPEG: sharp decodes the bytes Pillow decodes', async (ref) => {
    const file = path.join(tmp(), 'img.JPEG');
    writeFileSync(file, PILLOW_JPEG);
    const out = await decodeImage(file, ref.resize);
    expect(Array.from(out.subarray(0, 6))).toEqual(ref.first);
    expect(createHash('sha256').update(out).digest('hex')).toBe(ref.sha256);
  });

  it('torchvision sizes: int() of the long side, crop offsets rounded half to even', () => {
    expect(shorterSideSize(300, 260, 256)).toEqual([295, 256]); // 295.38 → 295
    expect(shorterSideSize(240, 301, 256)).toEqual([256, 321]); // portrait
    expect([roundHalfEven(34.5), roundHalfEven(35.5), roundHalfEven(48.5), roundHalfEven(16)]).toEqual([34, 36, 48, 16]);
  });

  it('JPEG and grey images decode to RGB (a flat colour stays that colour)', async () => {
    const d = tmp();
    await flat(64, 48, [200, 30, 90]).jpeg({ quality: 95 }).toFile(path.join(d, 'a.JPEG'));
    const jpeg = await decodeImage(path.join(d, 'a.JPEG'), '224');
    for (const at of [0, CENTRE, jpeg.length - 3]) {
      const px = Array.from(jpeg.subarray(at, at + 3));
      [200, 30, 90].forEach((v, c) => expect(Math.abs(px[c] - v), `pixel ${px}`).toBeLessThanOrEqual(3));
    }
    await sharp(Buffer.alloc(20 * 10, 77), { raw: { width: 20, height: 10, channels: 1 } }).png().toFile(path.join(d, 'grey.png'));
    const grey = await decodeImage(path.join(d, 'grey.png'), '256-crop-224');
    expect(Array.from(grey.subarray(CENTRE, CENTRE + 3))).toEqual([77, 77, 77]);
  });
});

/** 1000 class names n00000000 … n00000999, in class order. */
const SYNSETS = Array.from({ length: 1000 }, (_, i) => `n${String(i).padStart(8, '0')}`);

describe('ImageNet folder layouts', () => {
  it('class sub-folders with a classes file: ImageFolder order, classes from the file', async () => {
    const root = tmp();
    const classes = path.join(tmp(), 'synsets.txt');
    // LOC_synset_mapping.txt style: the first word is the folder name; class order = line order
    writeFileSync(classes, SYNSETS.map((s, i) => `${s} class number ${i}`).join('\n') + '\n');
    for (const s of [SYNSETS[998], SYNSETS[3], SYNSETS[40]]) mkdirSync(path.join(root, s));
    await png(30, 20, path.join(root, SYNSETS[998], 'b.png'));
    await flat(40, 40, [10, 20, 30]).jpeg().toFile(path.join(root, SYNSETS[998], 'a.JPEG'));
    await png(30, 20, path.join(root, SYNSETS[3], 'z.png'));
    mkdirSync(path.join(root, SYNSETS[40], 'sub'));
    await png(30, 20, path.join(root, SYNSETS[40], 'sub', 'deep.png'));
    await png(30, 20, path.join(root, SYNSETS[40], 'top.png'));
    writeFileSync(path.join(root, SYNSETS[40], 'notes.txt'), 'not an image');
    const listing = listImagenet({ path: root, classes });
    // folders sorted; files sorted per folder; a folder's own files before its sub-folders' (sorted os.walk)
    expect(listing.files.map((f) => path.relative(root, f))).toEqual([
      `${SYNSETS[3]}/z.png`,
      `${SYNSETS[40]}/top.png`,
      `${SYNSETS[40]}/sub/deep.png`,
      `${SYNSETS[998]}/a.JPEG`,
      `${SYNSETS[998]}/b.png`,
    ]);
    expect(Array.from(listing.labels)).toEqual([3, 40, 40, 998, 998]);
    expect(probeDataset({ name: 'imagenet', split: 'test', path: root, classes })).toEqual({ count: 5 });

    const ds = await openDataset({ name: 'imagenet', split: 'test', path: root, classes, resize: '224' });
    const x = await ds.samples([3, 0]);
    expect(x.length).toBe(2 * 224 * 224 * 3);
    // sample 3 is the flat JPEG; sample 0 a synthetic PNG whose corner pixel is (0, 71, 142)
    for (const [c, v] of [10, 20, 30].entries()) expect(Math.abs(x[CENTRE + c] * 255 - v)).toBeLessThanOrEqual(3);
    expect(Array.from(x.subarray(224 * 224 * 3, 224 * 224 * 3 + 3)).map((v) => Math.round(v * 255))).toEqual([0, 71, 142]);
  });

  it('1000 class sub-folders without a classes file: sorted folder names are the classes', async () => {
    const root = tmp();
    for (const s of SYNSETS) mkdirSync(path.join(root, s));
    await png(10, 10, path.join(root, SYNSETS[999], 'x.png'));
    await png(10, 10, path.join(root, SYNSETS[0], 'y.png'));
    const listing = listImagenet({ path: root });
    expect(Array.from(listing.labels)).toEqual([0, 999]);
  });

  it('fewer than 1000 sub-folders need a classes file; folders missing from it are named', async () => {
    const root = tmp();
    mkdirSync(path.join(root, 'n01440764'));
    await png(10, 10, path.join(root, 'n01440764', 'x.png'));
    expect(() => listImagenet({ path: root })).toThrow(/holds 1 class sub-folders; numbering classes by sorted folder name needs all 1000 \(give `classes`/);
    const classes = path.join(tmp(), 'c.txt');
    writeFileSync(classes, SYNSETS.join('\n'));
    expect(() => listImagenet({ path: root, classes })).toThrow(/sub-folder n01440764 not named in the classes file/);
    writeFileSync(classes, SYNSETS.slice(0, 10).join('\n'));
    const e = (() => {
      try {
        listImagenet({ path: root, classes });
      } catch (err) {
        return err as DatasetFileError;
      }
    })();
    expect(e).toBeInstanceOf(DatasetFileError);
    expect(e!.field).toBe('classes');
    expect(e!.message).toMatch(/c\.txt: names 10 classes; ImageNet models have 1000/);
  });

  it('a flat folder with a labels file: line order, labels as given; errors name the line or the file', async () => {
    const root = tmp();
    for (const n of ['ILSVRC2012_val_00000001.JPEG', 'ILSVRC2012_val_00000002.JPEG', 'ILSVRC2012_val_00000003.png']) {
      if (n.endsWith('png')) await png(50, 40, path.join(root, n));
      else await flat(50, 40, [100, 100, 100]).jpeg().toFile(path.join(root, n));
    }
    const labels = path.join(tmp(), 'val.txt');
    writeFileSync(labels, '# caffe val.txt\nILSVRC2012_val_00000003.png 999\n\nILSVRC2012_val_00000001.JPEG 65\nILSVRC2012_val_00000002.JPEG 0\n');
    const listing = listImagenet({ path: root, labels });
    expect(listing.files.map((f) => path.basename(f))).toEqual(['ILSVRC2012_val_00000003.png', 'ILSVRC2012_val_00000001.JPEG', 'ILSVRC2012_val_00000002.JPEG']);
    expect(Array.from(listing.labels)).toEqual([999, 65, 0]);
    const ds = openImagenet({ name: 'imagenet', split: 'test', path: root, labels, resize: '256-crop-224' });
    expect(ds.count).toBe(3);

    const bad: Array<[string, RegExp]> = [
      ['ILSVRC2012_val_00000001.JPEG 1000\n', /val\.txt: line 1: class '1000' is not an index in 0\.\.999/],
      ['a.JPEG\n', /line 1: 'a\.JPEG' is not '<file> <class index>'/],
      ['ILSVRC2012_val_00000001.JPEG 1\nILSVRC2012_val_00000009.JPEG 2\n', /ILSVRC2012_val_00000009\.JPEG: missing \(listed on line 2 of .*val\.txt\)/],
      ['ILSVRC2012_val_00000001.JPEG 1\nILSVRC2012_val_00000001.JPEG 1\n', /line 2: ILSVRC2012_val_00000001\.JPEG is listed twice \(first on line 1\)/],
    ];
    for (const [text, message] of bad) {
      writeFileSync(labels, text);
      expect(() => listImagenet({ path: root, labels })).toThrow(message);
    }
    expect(() => listImagenet({ path: root })).toThrow(/holds no class sub-folders \(give `labels`/);
    expect(() => listImagenet({ path: path.join(root, 'nope') })).toThrow(/nope: no such folder/);
  });

  it('a corrupt image is named when its sample is read; the others still read', async () => {
    const root = tmp();
    await png(20, 20, path.join(root, 'good.png'));
    writeFileSync(path.join(root, 'broken.JPEG'), Buffer.from('this is not a jpeg at all'));
    const labels = path.join(root, 'labels.txt');
    writeFileSync(labels, 'good.png 1\nbroken.JPEG 2\n');
    const ds = openImagenet({ name: 'imagenet', split: 'test', path: root, labels });
    expect((await ds.samples([0])).length).toBe(224 * 224 * 3);
    const err = await ds.samples([0, 1]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetFileError);
    expect((err as Error).message).toMatch(/broken\.JPEG: cannot decode the image/);
    await expect(ds.samples([2])).rejects.toThrow(/sample index 2 is outside imagenet\/test \(0\.\.1\)/);
  });
});
