"""PyTorch side of `npm run bench:engine` (optional: runs only where Debian's python3-torch is
installed). Same models as the tfjs side (MNIST SmallCNN; CIFAR ResNet-18 with BasicBlocks
[2, 2, 2, 2], BatchNorm in eval mode), same work per step: a forward and the gradient of
sum(max logits) with respect to the input. Prints one JSON object: median milliseconds per
forward and per step, and PyTorch's thread count and BLAS.

usage: python3 bench/torch_engine.py --threads 1 --repeats 5
"""
import argparse
import json
import re
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * 4 * 4, 200), nn.ReLU(), nn.Linear(200, 200), nn.ReLU(), nn.Linear(200, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = nn.Sequential()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.b1(self.c1(x)))
        return F.relu(self.b2(self.c2(out)) + self.short(x))


class ResNet18(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.b1 = nn.BatchNorm2d(64)
        layers, cin = [], 64
        for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, 10)

    def forward(self, x):
        out = self.layers(F.relu(self.b1(self.c1(x))))
        return self.fc(torch.flatten(F.avg_pool2d(out, 4), 1))


def median_ms(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def measure(model, shape, repeats):
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.rand(shape)

    def forward():
        with torch.no_grad():
            model(x)

    def step():
        d = torch.zeros_like(x, requires_grad=True)
        model(x + d).max(1).values.sum().backward()
        return d.grad

    return {"forward": median_ms(forward, repeats), "step": median_ms(step, repeats)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--models", default="smallcnn32,smallcnn128,resnet18-32")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": "", "results": {}}
    m = re.search(r"BLAS_INFO=([^,]*)", torch.__config__.show())
    out["blas"] = m.group(1) if m else "unknown"
    out["mkldnn"] = torch.backends.mkldnn.is_available()
    for name in args.models.split(","):
        if name.startswith("smallcnn"):
            out["results"][name] = measure(SmallCNN(), (int(name[8:]), 1, 28, 28), args.repeats)
        elif name.startswith("resnet18-"):
            out["results"][name] = measure(ResNet18(), (int(name[9:]), 3, 32, 32), args.repeats)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
