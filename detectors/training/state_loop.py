"""Training the state classifier on CPU within a time budget: a small CNN from scratch, trained on
augmented specimens and the training share of real crops, checkpointed to resume, the checkpoint
that reads validation best exported to ONNX with its model card. Run it as ``alpr train state``.
"""

from __future__ import annotations

import json
import math
import platform
import random
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from alpr.domain.states import STATES
from detectors.state_reader import INPUT_HW
from detectors.training.detector_data import sha256
from detectors.training.state_data import (
    CROP_TRAIN_SHARE,
    SPECIMEN_TRAIN_SHARE,
    VAL_SHARE,
    StateSample,
    batch,
    counts,
    crop_samples,
    is_validation,
    specimen_samples,
)

MODEL_NAME = "state-cnn"


def build_model(torch, classes: int = len(STATES)):
    """Five stride-2 stages of two 3x3 convolutions (BatchNorm, ReLU), global pooling, a linear
    head: about 1.2 M parameters, a few milliseconds a plate on one core."""
    nn = torch.nn

    def stage(cin: int, cout: int) -> list:
        return [nn.Conv2d(cin, cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    widths = [3, 32, 48, 96, 160, 256]
    layers = [layer for a, b in zip(widths, widths[1:]) for layer in stage(a, b)]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(widths[-1], classes))


def accuracy(torch, model, samples: list[StateSample], rng: random.Random, size: int = 64) -> tuple[float, float]:
    """(top-1, top-3) on un-augmented samples."""
    if not samples:
        return float("nan"), float("nan")
    model.eval()
    top1 = top3 = 0
    with torch.no_grad():
        for i in range(0, len(samples), size):
            x, y = batch(samples[i:i + size], rng, train=False)
            logits = model(torch.from_numpy(x))
            best = logits.topk(3, dim=1).indices.numpy()
            top1 += int((best[:, 0] == y).sum())
            top3 += int((best == y[:, None]).any(1).sum())
    model.train()
    return top1 / len(samples), top3 / len(samples)


def export(torch, model, out: Path) -> None:
    import onnx

    model.eval()

    class WithSoftmax(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return torch.softmax(self.inner(x), dim=1)

    out.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, 3, *INPUT_HW)
    torch.onnx.export(WithSoftmax(model), dummy, str(out), input_names=["x"], output_names=["probs"],
                      dynamic_axes={"x": {0: "n"}, "probs": {0: "n"}}, opset_version=17, dynamo=False)
    proto = onnx.load(str(out))
    entry = proto.metadata_props.add()
    entry.key, entry.value = "states", ",".join(STATES)
    onnx.save(proto, str(out))


def train(out: Path, *, specimens: Path, crops: Path | None, minutes: float = 30.0, lr: float = 2e-3, batch_size: int = 48,
          real_fraction: float = 0.25, label_smoothing: float = 0.1, seed: int = 0, threads: int = 2, val_every: int = 150,
          checkpoint: Path | None = None,
          progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Trains for ``minutes`` of wall clock (AdamW, one-cycle cosine schedule over the budget), a
    ``real_fraction`` of each batch from real crops when there are any. Every ``val_every`` steps
    the validation top-1 (specimens and real crops averaged) is measured; the best weights are kept
    and, with the optimiser, written to ``checkpoint`` so that a stopped run resumes from there."""
    say = progress or (lambda msg: print(msg, file=sys.stderr, flush=True))
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    t0 = time.monotonic()
    spec = specimen_samples(specimens)
    real = crop_samples(crops) if crops else []
    spec_train = [s for s in spec if not is_validation(s)]
    spec_val = [s for s in spec if is_validation(s)]
    real_train = [s for s in real if not is_validation(s)]
    real_val = [s for s in real if is_validation(s)]
    say(f"data: {len(spec_train)} specimens to train on, {len(spec_val)} to validate; "
        f"{len(real_train)} real crops to train on, {len(real_val)} to validate")

    model = build_model(torch)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    step, best, best_state, history, elapsed_before = 0, -1.0, None, [], 0.0
    if checkpoint and checkpoint.exists():
        saved = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        step, best, history, elapsed_before = saved["step"], saved["best"], saved["history"], saved["elapsed_s"]
        best_state = saved["best_model"]
        say(f"resumed from {checkpoint} at step {step} ({elapsed_before / 60:.1f} min trained)")
    budget_s = minutes * 60
    n_real = round(batch_size * real_fraction) if real_train else 0

    def elapsed() -> float:
        return elapsed_before + time.monotonic() - t0

    def next_batch(seed: int) -> tuple[np.ndarray, np.ndarray]:
        r = random.Random(seed)
        picked = r.sample(spec_train, batch_size - n_real) + [r.choice(real_train) for _ in range(n_real)]
        return batch(picked, r, train=True)

    # The next batch is augmented in a thread (OpenCV releases the GIL) while this one trains.
    prefetch = ThreadPoolExecutor(1)
    pending = prefetch.submit(next_batch, rng.randrange(1 << 30))
    while elapsed() < budget_s:
        frac = min(1.0, elapsed() / budget_s)
        warm = min(1.0, (step + 1) / 100)
        for g in opt.param_groups:
            g["lr"] = lr * warm * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac)))
        x, y = pending.result()
        pending = prefetch.submit(next_batch, rng.randrange(1 << 30))
        loss = loss_fn(model(torch.from_numpy(x)), torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % val_every == 0 or elapsed() >= budget_s:
            s1, s3 = accuracy(torch, model, spec_val, rng)
            r1, r3 = accuracy(torch, model, real_val, rng)
            score = s1 if math.isnan(r1) else (s1 + r1) / 2
            history.append({"step": step, "minutes": round(elapsed() / 60, 2), "loss": round(float(loss.detach()), 4),
                            "specimens_top1": round(s1, 4), "real_top1": round(r1, 4)})
            if score > best:
                best = score
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            say(f"step {step} ({elapsed() / 60:.1f}/{minutes:g} min): loss {float(loss.detach()):.3f}, validation specimens "
                f"{s1:.3f} (top-3 {s3:.3f}), real crops {r1:.3f} (top-3 {r3:.3f}), best {best:.3f}")
            if checkpoint:
                checkpoint.parent.mkdir(parents=True, exist_ok=True)
                torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step, "best": best,
                            "best_model": best_state, "history": history, "elapsed_s": elapsed()}, checkpoint)
    prefetch.shutdown(cancel_futures=True)
    if best_state is not None:
        model.load_state_dict(best_state)
    export(torch, model, out)
    s1, s3 = accuracy(torch, model, spec_val, rng)
    r1, r3 = accuracy(torch, model, real_val, rng)
    return {
        "steps": step, "minutes": minutes, "train_minutes": round(elapsed() / 60, 1), "lr": lr, "batch": batch_size,
        "real_fraction": real_fraction if real_train else 0.0, "label_smoothing": label_smoothing, "seed": seed, "specimens": str(specimens),
        "crops": str(crops) if crops else "", "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
        "data": {"specimens_train": len(spec_train), "specimens_val": len(spec_val), "real_train": len(real_train),
                 "real_val": len(real_val), "per_state_train": counts(spec_train + real_train)},
        "val": {"specimens_top1": s1, "specimens_top3": s3, "real_top1": r1, "real_top3": r3},
        "parameters": sum(p.numel() for p in model.parameters()), "history": history,
    }


def write_card(out: Path, result: dict[str, Any], command: str) -> Path:
    """``NAME.json`` and ``NAME.md`` beside the weights: data, split, settings and figures."""
    held_out = [f"{result['specimens']}: designs not in_training_share(design_key(state, design), {SPECIMEN_TRAIN_SHARE})"]
    if result["crops"]:
        held_out.append(f"{result['crops']}: rows whose file is not in_training_share(file, {CROP_TRAIN_SHARE})")
    card = {"model": out.name, "name": MODEL_NAME, "classes": list(STATES),
            "input": f"x: (N, 3, {INPUT_HW[0]}, {INPUT_HW[1]}) float32 RGB/127.5 - 1", "output": "probs: (N, 51) softmax",
            "sha256": sha256(out), "bytes": out.stat().st_size,
            "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), **result, "held_out": held_out,
            "command": command}
    out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    v = result["val"]
    lines = [f"# State classifier `{out.name}`", "",
             f"- A CNN trained from scratch ({result['parameters']:,} parameters: five stride-2 stages of two 3x3 "
             f"convolutions, global pooling, a linear head) on CPU for {result['train_minutes']} min, {result['steps']} "
             f"steps: batch {result['batch']}, AdamW lr {result['lr']} (cosine), label smoothing {result.get('label_smoothing', 0.1)}, "
             f"seed {result['seed']}, "
             f"real crops {result['real_fraction']:.0%} of each batch.",
             f"- Command: `{command}`", f"- sha256: `{card['sha256']}` ({card['bytes']:,} bytes)", "",
             "## Data", "",
             f"- Specimens (official designs, dummy serials), split by design: {result['data']['specimens_train']} "
             f"trained on, {result['data']['specimens_val']} for checkpoint selection; placeholder pictures that stand "
             "for several states are left out.",
             f"- Real crops (`seg_and_ocr`): {result['data']['real_train']} trained on, {result['data']['real_val']} for "
             "checkpoint selection.",
             "- Augmentation: loose or clipped edges, perspective, shrinking to 40-200 px, blur, white balance, "
             "exposure, grey, noise, JPEG.",
             *(f"- Held out (never trained or tuned on): {h}" for h in held_out), "",
             f"## Validation (the {VAL_SHARE:.0%} hash split of each training share)", "",
             f"- specimens: top-1 {v['specimens_top1']:.3f}, top-3 {v['specimens_top3']:.3f}",
             f"- real crops: top-1 {v['real_top1']:.3f}, top-3 {v['real_top3']:.3f}", "",
             "Score on the held-out shares with `alpr eval --states` and `alpr eval --crops`.", ""]
    md = out.with_suffix(".md")
    md.write_text("\n".join(lines))
    return md

