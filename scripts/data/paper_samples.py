#!/usr/bin/env python3
"""The sample subsets of the sigma-zero evaluation, as JSON index lists for agent/data/paper-samples/.

The evaluation draws its subsets with `random.seed(1233); random.sample(range(1, N), n)`
(N = size of the test split: 10000 for MNIST and CIFAR-10, 50000 for the ImageNet validation
set; n = 1000 or 100). The draw is deterministic for any CPython 3 (Mersenne Twister seeded from
an int, `sample` built on `getrandbits`), so the lists are generated once, by hand, and committed:
nothing in sigma-sweep runs Python.

    python3 scripts/data/paper_samples.py            # writes agent/data/paper-samples/N<N>-n<n>.json
    python3 scripts/data/paper_samples.py --check    # exits 1 if a committed file differs

The index order is kept as drawn (it is the order the evaluation iterates its subset in).
"""
import json
import os
import platform
import random
import sys

SEED = 1233
SIZES = (10000, 50000)
COUNTS = (1000, 100)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'agent', 'data', 'paper-samples')


def draw(N, n):
    random.seed(SEED)
    return random.sample(range(1, N), n)


def document(N, n):
    return {
        'description': 'random.seed(%d); random.sample(range(1, %d), %d)' % (SEED, N, n),
        'generator': 'python3 scripts/data/paper_samples.py',
        'python': platform.python_implementation() + ' ' + platform.python_version(),
        'N': N,
        'n': n,
        'indices': draw(N, n),
    }


def encode(doc):
    # one index list on one line keeps the file small and diffs readable
    head = {k: v for k, v in doc.items() if k != 'indices'}
    text = json.dumps(head, indent=2)[:-2]
    return text + ',\n  "indices": ' + json.dumps(doc['indices'], separators=(',', ':')) + '\n}\n'


def main():
    check = '--check' in sys.argv[1:]
    bad = 0
    for N in SIZES:
        for n in COUNTS:
            path = os.path.normpath(os.path.join(OUT, 'N%d-n%d.json' % (N, n)))
            doc = document(N, n)
            if check:
                with open(path) as f:
                    old = json.load(f)
                same = old['indices'] == doc['indices']
                print('%s %s (first five %s)' % ('ok  ' if same else 'DIFF', path, doc['indices'][:5]))
                bad += not same
            else:
                with open(path, 'w') as f:
                    f.write(encode(doc))
                print('wrote %s (first five %s)' % (path, doc['indices'][:5]))
    sys.exit(1 if bad else 0)


if __name__ == '__main__':
    main()
