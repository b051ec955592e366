"""PyTorch side of `npm run bench:sigma-zero` (optional: runs only where Debian's python3-torch is
installed).

THIS IS A RE-STATEMENT FOR TIMING, NOT THE OFFICIAL CODE. It follows the official σ-zero loop (V3,
sigma0-advx/sigma-zero `sigma_zero_attack.py`, as specified step by step in the project's attack
spec §1.3): torch.optim.Adam on δ, CosineAnnealingLR(T_max=steps, eta_min=lr/10), margin clipped at
0 plus the smooth ℓ0 term averaged over the batch, ℓ∞-normalised gradient, box, per-feature
threshold tensor moved by ±t·η after the scheduler step, strict sparsification, best tracking on the
evaluated point. As in the official code, the model's parameters keep requires_grad (PyTorch then
also computes weight gradients it never uses); --freeze turns that off to show what it costs.

The model is the zoo's MNIST SmallCNN with the weights the bench exports from the tfjs model
(tfjs flattens NHWC, so the module permutes to NHWC before flattening, as the ONNX twin does).

usage: python3 bench/torch/sigma_zero_ref.py --data DIR [--threads 1] [--steps 100] [--batch 100] [--freeze]
DIR holds meta.json and data.bin written by bench/sigma-zero.ts. Prints one JSON object.
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 32, 3)
        self.c2 = nn.Conv2d(32, 32, 3)
        self.c3 = nn.Conv2d(32, 64, 3)
        self.c4 = nn.Conv2d(64, 64, 3)
        self.f1 = nn.Linear(1024, 200)
        self.f2 = nn.Linear(200, 200)
        self.f3 = nn.Linear(200, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c2(F.relu(self.c1(x)))), 2)
        x = F.max_pool2d(F.relu(self.c4(F.relu(self.c3(x)))), 2)
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # tfjs flatten order (h, w, c)
        return self.f3(F.relu(self.f2(F.relu(self.f1(x)))))


def difference_of_logits(logits, labels):
    """adv_lib: f_y − max_{j≠y} f_j, the other max taken after adding −∞ at y."""
    infhot = torch.zeros_like(logits).scatter_(1, labels[:, None], float("inf"))
    class_logits = logits.gather(1, labels[:, None]).squeeze(1)
    other_logits = (logits - infhot).amax(dim=1)
    return class_logits - other_logits


def sigma_zero(model, x, y, steps=100, lr=1.0, sigma=1e-3, threshold=0.3, t=0.01):
    batch_size, max_size = x.shape[0], x[0].numel()
    delta = torch.zeros_like(x, requires_grad=True)
    optimizer = torch.optim.Adam([delta], lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps, eta_min=lr / 10)
    best_l0 = torch.full((batch_size,), max_size, dtype=torch.long)
    best_delta = torch.zeros_like(x)
    th = torch.full_like(x, threshold)
    for _ in range(steps):
        adv = x + delta
        logits = model(adv)
        is_adv = logits.argmax(1) != y
        dl_loss = difference_of_logits(logits, y).clip(min=0)
        l0_approx = (delta.square() / (delta.square() + sigma)).flatten(1).sum(1) / max_size
        l0_norm = delta.data.flatten(1).ne(0).sum(1)
        is_better = is_adv & (l0_norm < best_l0)
        best_l0 = torch.where(is_better, l0_norm, best_l0)
        best_delta = torch.where(is_better[:, None, None, None], delta.data, best_delta)
        loss = (is_adv.logical_not().float() + dl_loss + l0_approx).mean()
        optimizer.zero_grad()
        loss.backward()
        g = delta.grad.data
        g.div_(g.flatten(1).norm(p=math.inf, dim=1).clamp_min(1e-12)[:, None, None, None])
        optimizer.step()
        scheduler.step()
        delta.data.add_(x).clamp_(0, 1).sub_(x)
        eta = scheduler.get_last_lr()[0]
        th[~is_adv] -= t * eta
        th[is_adv] += t * eta
        th.clamp_(0, 1)
        delta.data[delta.data.abs() < th] = 0
    return (x + best_delta).detach()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--freeze", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    meta = json.load(open(os.path.join(args.data, "meta.json")))
    raw = np.fromfile(os.path.join(args.data, "data.bin"), dtype="<f4")

    def tensor(name):
        e = meta["tensors"][name]
        return torch.from_numpy(raw[e["offset"]: e["offset"] + int(np.prod(e["shape"]))].reshape(e["shape"]).copy())

    model = SmallCNN().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(tensor(name))
    if args.freeze:
        for p in model.parameters():
            p.requires_grad_(False)
    x = tensor("images")  # [n, 1, 28, 28]
    y = tensor("labels").long()
    with torch.no_grad():
        gap = (model(x) - tensor("logits")).abs().div(tensor("logits").abs().clamp_min(1)).max().item()

    n = x.shape[0]
    advs = []
    t0 = time.perf_counter()
    c0 = time.process_time()
    for s in range(0, n, args.batch):
        advs.append(sigma_zero(model, x[s: s + args.batch], y[s: s + args.batch], steps=args.steps))
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    adv = torch.cat(advs).clamp(0, 1)
    with torch.no_grad():
        success = model(adv).argmax(1) != y
    l0 = (adv != x).flatten(1).sum(1)
    print(json.dumps({
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "frozen": args.freeze,
        "logitGap": gap,
        "seconds": seconds,
        "cpuSeconds": cpu,
        "l0": [int(v) if ok else None for v, ok in zip(l0.tolist(), success.tolist())],
    }))


if __name__ == "__main__":
    main()
