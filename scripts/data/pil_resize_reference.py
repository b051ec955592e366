#!/usr/bin/env python3
"""Reference outputs of the ImageNet preprocessing of the sigma-zero evaluation, for
test/datasets-imagenet.test.ts: Pillow's BILINEAR resize (what torchvision's Resize does to a PIL
image) and torchvision's Resize(256) + CenterCrop(224) arithmetic, on synthetic RGB images whose
pixels both sides compute from a formula. Run by hand with a python3 that has Pillow (Debian's
python3-pil); the test holds the printed digests, so no Python is needed to run it.

    /usr/bin/python3 scripts/data/pil_resize_reference.py
"""
import base64
import hashlib
import io
import json

import PIL
from PIL import Image


def pixel(x, y, c):
    return (x * 7 + y * 13 + c * 71 + (x * y) % 29) % 256


def synthetic(w, h):
    data = bytes(pixel(x, y, c) for y in range(h) for x in range(w) for c in range(3))
    return Image.frombytes('RGB', (w, h), data)


def resize_224(img):
    return img.resize((224, 224), Image.BILINEAR)


def resize_256_crop_224(img):
    w, h = img.size
    # torchvision Resize(256): the shorter side becomes 256, the other int(256 * long / short)
    if w <= h:
        size = (256, int(256 * h / w))
    else:
        size = (int(256 * w / h), 256)
    if size != img.size:
        img = img.resize(size, Image.BILINEAR)
    # torchvision CenterCrop(224)
    w, h = img.size
    top = int(round((h - 224) / 2.0))
    left = int(round((w - 224) / 2.0))
    return img.crop((left, top, left + 224, top + 224))


CASES = [
    ('224', 37, 29, resize_224),
    ('224', 300, 260, resize_224),
    ('224', 500, 375, resize_224),
    ('256-crop-224', 300, 260, resize_256_crop_224),
    ('256-crop-224', 293, 256, resize_256_crop_224),
    ('256-crop-224', 240, 301, resize_256_crop_224),
]

if __name__ == '__main__':
    out = []
    for mode, w, h, fn in CASES:
        b = fn(synthetic(w, h)).tobytes()
        out.append({'resize': mode, 'w': w, 'h': h, 'sha256': hashlib.sha256(b).hexdigest(), 'first': list(b[:6]), 'centre': list(b[(112 * 224 + 112) * 3:(112 * 224 + 112) * 3 + 3])})
    print('// Pillow %s' % PIL.__version__)
    for o in out:
        print(json.dumps(o) + ',')
    # a JPEG (Pillow's encoder, quality 85, 4:2:0) for the decoder: its bytes and Pillow's pixels after each resize
    buf = io.BytesIO()
    synthetic(40, 30).save(buf, 'JPEG', quality=85)
    jpeg = buf.getvalue()
    print(json.dumps({'jpeg': base64.b64encode(jpeg).decode()}))
    for mode, fn in (('224', resize_224), ('256-crop-224', resize_256_crop_224)):
        b = fn(Image.open(io.BytesIO(jpeg)).convert('RGB')).tobytes()
        print(json.dumps({'resize': mode, 'sha256': hashlib.sha256(b).hexdigest(), 'first': list(b[:6])}))
