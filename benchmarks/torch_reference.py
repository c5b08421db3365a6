"""Reference PyTorch implementation of one Fig-6 run, as the Scan and Snap authors run it.

Faithful to the official `decoder_only.py` (`Model2` + `Dataset2`, spec §2 and §5): each step
samples a fresh batch in Python (per sequence: class uniform, T-1 tokens by `torch.multinomial`
with replacement, then the query), builds the one-hot X (B x T x M), attends with
Z[x_T, x_t] over the T-1 contextual positions, l2-normalises X^T b, applies K1 (Y = K1.weight^T),
mean cross-entropy; two SGD-momentum optimizers (K1 at lr_z * ratio, K2 at lr_z), PyTorch's
default nn.Linear init U(+-1/sqrt(M)). One configuration per process (the authors' Hydra sweep).

    python benchmarks/torch_reference.py --num-last 1 --lr-z 1 --ratio 2 --seed 1

prints one JSON line: the final distinct-token entropy (mean over classes, spec §5) and timings.
Needs the optional extra: ``pip install -e .[bench]`` (CPU torch).
"""

from __future__ import annotations

import argparse
import json
import time

T_IMPORT0 = time.perf_counter()
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

T_IMPORT = time.perf_counter() - T_IMPORT0


def layout(num_last: int, num_next_per_last: int = 2, num_common: int = 10, num_unique: int = 10):
    """Dataset2's token layout: (probs K x M, query K, target K, distinct mask K x M)."""
    L, J, C, U = num_last, num_next_per_last, num_common, num_unique
    K = L * J
    unique_off = C
    last_off = unique_off + U * K
    next_off = last_off + L
    M = next_off + K
    probs = torch.zeros(K, M, dtype=torch.float64)
    distinct = torch.zeros(K, M, dtype=torch.bool)
    query = torch.zeros(K, dtype=torch.long)
    target = torch.zeros(K, dtype=torch.long)
    for m in range(L):
        for j in range(J):
            n = m * J + j
            w = torch.zeros(M, dtype=torch.float64)
            w[:C] = 1.0
            lo = unique_off + U * n
            w[lo : lo + U] = torch.linspace(0.1, 1.0, U, dtype=torch.float64)
            distinct[n, lo : lo + U] = True
            probs[n] = w / w.sum()
            query[n] = last_off + m
            target[n] = next_off + n
    return probs.float(), query, target, distinct


class Dataset2:
    def __init__(self, num_last: int, seq_len: int):
        self.probs, self.query, self.target, self.distinct = layout(num_last)
        self.K, self.M = self.probs.shape
        self.T = seq_len

    def sample(self, batch_size: int):
        xs, ys = [], []
        for _ in range(batch_size):  # one sequence at a time, in Python
            n = int(torch.randint(self.K, (1,)))
            ctx = torch.multinomial(self.probs[n], self.T - 1, replacement=True)
            xs.append(torch.cat([ctx, self.query[n : n + 1]]))
            ys.append(self.target[n])
        return torch.stack(xs), torch.stack(ys)


class Model2(nn.Module):
    def __init__(self, M: int):
        super().__init__()
        self.K1 = nn.Linear(M, M, bias=False)  # decoder: logits = K1.weight @ f  (Y = K1.weight^T)
        self.K2 = nn.Linear(M, M, bias=False)  # attention logits: Z = K2.weight, row = query
        self.M = M

    def forward(self, x):
        X = F.one_hot(x, self.M).float()  # B x T x M
        ctx, last = X[:, :-1], X[:, -1]  # keys: positions 0..T-2; query: the last token
        z_BxM = last @ self.K2.weight  # row x_T of Z = K2.weight (spec §5: row = query)
        logits_BxT1 = torch.einsum("btm,bm->bt", ctx, z_BxM)
        b = torch.softmax(logits_BxT1, dim=1)
        combined = torch.einsum("bt,btm->bm", b, ctx)
        combined = combined / combined.norm(dim=1, keepdim=True)
        return self.K1(combined)


def entropy_distinct(model: Model2, data: Dataset2) -> float:
    """Spec §5: c_n from the parameters (get_c), restricted to the distinct tokens, renormalised."""
    with torch.no_grad():
        Z = model.K2.weight.double()  # Z[query, l]
        out = []
        for n in range(data.K):
            w = data.probs[n].double() * torch.exp(Z[data.query[n]])
            d = w[data.distinct[n]]
            p = d / d.sum()
            out.append(float(-(p * torch.log(p)).sum()))
    return sum(out) / len(out)


def train(num_last: int, lr_z: float, ratio: float, seed: int, steps: int = 100, batch: int = 128,
          seq_len: int = 128) -> dict:
    torch.manual_seed(seed)
    data = Dataset2(num_last, seq_len)
    model = Model2(data.M)
    opt_y = torch.optim.SGD(model.K1.parameters(), lr=lr_z * ratio, momentum=0.9)
    opt_z = torch.optim.SGD(model.K2.parameters(), lr=lr_z, momentum=0.9)
    t0 = time.perf_counter()
    for _ in range(steps):
        x, y = data.sample(batch)
        loss = F.cross_entropy(model(x), y)
        opt_y.zero_grad()
        opt_z.zero_grad()
        loss.backward()
        opt_y.step()
        opt_z.step()
    return {"M": data.M, "num_last": num_last, "lr_z": lr_z, "ratio": ratio, "seed": seed,
            "entropy": entropy_distinct(model, data), "final_loss": loss.item(),
            "train_s": time.perf_counter() - t0, "import_torch_s": T_IMPORT}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num-last", type=int, required=True)
    ap.add_argument("--lr-z", type=float, required=True)
    ap.add_argument("--ratio", type=float, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--steps", type=int, default=100)
    a = ap.parse_args()
    print(json.dumps(train(a.num_last, a.lr_z, a.ratio, a.seed, a.steps)))


if __name__ == "__main__":
    main()
