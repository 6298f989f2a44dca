"""Fine-tuning the plate recognizer on CPU with CTC, within a time budget, keeping the checkpoint
that reads the validation crops best, then the model card beside the exported ONNX. Run it as
``alpr train recognizer``. With the ~220 US development crops here it did not beat the stock model
on held-out plates (docs/experiments.md); a department with more labelled crops of its own may.
"""

from __future__ import annotations

import json
import math
import platform
import random
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from alpr.domain.scoring import corpus_scores
from detectors import ctc
from detectors.training.detector_data import sha256
from detectors.training.recognizer_data import (
    ALPHABET,
    EXTRA_VAL_MAX,
    VAL_SHARE,
    Sample,
    augment,
    band_crop,
    build_samples,
    rec_batch,
    split,
    stock_reader,
    synthetic_samples,
)
from detectors.training.recognizer_model import (
    MODEL_NAME,
    STOCK_REC,
    convert,
    cut_head,
    export,
    fold_o,
    freeze_convs,
    greedy,
    import_torch,
    predict,
    stock_recognizer,
)


def train(out: Path, *, crops: Path | None, scenes: Path | None, extra_crops: Path | None = None, share: float = 0.5,
          minutes: float = 20.0, lr: float = 2e-4, batch: int = 16, seed: int = 0, us_fraction: float = 0.5,
          frozen_convs: int = 24, warmup: int = 20, val_every: int = 40, print_every: int = 10, threads: int = 2,
          max_steps: int = 0, synthetic: int = 0, synthetic_fraction: float = 0.25,
          progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Fine-tunes the stock recognizer for ``minutes`` of wall clock (or ``max_steps``), keeps the
    checkpoint with the best validation exact match (US and extra crops pooled, O folded to 0, ties
    by character accuracy) on
    the ``VAL_SHARE`` hash split of the training share, and exports it to ``out``. Only files and
    scenes with ``in_training_share(name, share)`` are read from ``crops`` and ``scenes``; the rest
    stays held out for ``alpr eval``. ``synthetic`` simulator plates (``synthetic_samples``) make
    ``synthetic_fraction`` of each batch; they are never validated on. Returns what the model card
    records."""
    say = progress or (lambda msg: print(msg, file=sys.stderr, flush=True))
    torch = import_torch()
    import onnxruntime as ort

    t_start = time.monotonic()
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = random.Random(seed)

    stock = stock_recognizer()
    model, symbols = convert(stock)
    reader = stock_reader(threads)
    assert list(symbols) == list(reader.engine.text_rec.postprocess_op.character), "symbols differ from rapidocr's decoder"
    cut_head(model, symbols)
    frozen = freeze_convs(model, frozen_convs)
    params = [p for p in model.parameters() if p.requires_grad]
    say(f"model: {sum(p.numel() for p in model.parameters()):,} parameters, {sum(p.numel() for p in params):,} trained")

    sources = build_samples(crops, scenes, extra_crops, share, reader, say)
    us_train, us_val, extra_train, extra_val = [], [], [], []
    for name, samples in sources.items():
        tr, va = split(samples)
        if name == "extra":
            extra_train, extra_val = tr, va[:EXTRA_VAL_MAX]
        else:
            us_train += tr
            us_val += va
    synthetic_train = synthetic_samples(synthetic, seed) if synthetic else []
    if not us_train and not extra_train:
        raise ValueError("no training samples")
    val_sets = {"us": ([band_crop(*s[1:4]) for s in us_val], [s.label for s in us_val]),
                "us detected lines": ([band_crop(*s[1:4]) for s in us_val if s.name.endswith("@line")],
                                      [s.label for s in us_val if s.name.endswith("@line")]),
                "extra": ([band_crop(*s[1:4]) for s in extra_val], [s.label for s in extra_val])}
    val_sets = {k: v for k, v in val_sets.items() if v[0]}
    data = {"sources": {k: len(v) for k, v in sources.items()}, "us_train": len(us_train), "us_val": len(us_val),
            "extra_train": len(extra_train), "extra_val": len(extra_val), "synthetic_train": len(synthetic_train)}
    say(f"data: {data}")

    # The cut head must read like the whole model folded onto the plate alphabet (as the reader decodes it).
    check = (val_sets.get("us") or val_sets["extra"])[0][:64]
    stock_session = ort.InferenceSession(str(stock), providers=["CPUExecutionProvider"])
    fold = ctc.fold_classes(symbols)
    stock_read = [ctc.text(ctc.decode(p, fold)) for p in stock_session.run(None, {"x": rec_batch(check)})[0]]
    cut_read = greedy(predict(model, check))
    agreement = sum(a == b for a, b in zip(stock_read, cut_read)) / len(check)
    say(f"cut head reads like the stock model on {agreement:.1%} of {len(check)} validation crops")

    def validate() -> dict[str, dict[str, float]]:
        return {k: corpus_scores(greedy(predict(model, c)), t, fold_o) for k, (c, t) in val_sets.items()}

    def key(v: dict[str, dict[str, float]]) -> tuple[float, float]:
        # US and extra validation crops pooled: a few dozen US crops alone let one lucky step win.
        pooled = [v[k] for k in ("us", "extra") if k in v]
        n = sum(s["n"] for s in pooled)
        return sum(s["exact"] * s["n"] for s in pooled) / n, sum(s["char_acc"] * s["n"] for s in pooled) / n

    v = validate()
    history = [{"step": 0, "val": v}]
    best = {"step": 0, "val": v}
    best_state = {k: t.detach().clone() for k, t in model.state_dict().items()}
    say(f"step 0: val {_brief(v)}")

    def draw() -> Sample:
        if synthetic_train and rng.random() < synthetic_fraction:
            return rng.choice(synthetic_train)
        if us_train and (not extra_train or rng.random() < us_fraction):
            return rng.choice(us_train)
        return rng.choice(extra_train)

    opt = torch.optim.Adam(params, lr=lr)
    ctc_loss = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    index = {c: i + 1 for i, c in enumerate(ALPHABET)}
    budget = minutes * 60
    t_train = time.monotonic()
    step, losses = 0, []
    while True:
        elapsed = time.monotonic() - t_train
        if elapsed >= budget or (max_steps and step >= max_steps):
            break
        # Warm-up, then cosine decay to a tenth over the time budget.
        rate = lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.45 * (1 + math.cos(math.pi * elapsed / budget)))
        for group in opt.param_groups:
            group["lr"] = rate
        drawn = [draw() for _ in range(batch)]
        x = torch.from_numpy(rec_batch([augment(s.image, s.box, s.band, rng) for s in drawn]))
        targets = [[index[c] for c in s.label] for s in drawn]
        model.train()
        log_probs = model(x).log_softmax(-1).permute(1, 0, 2)  # (T, N, C)
        loss = ctc_loss(log_probs, torch.tensor(sum(targets, [])), torch.full((len(drawn),), log_probs.shape[0], dtype=torch.long),
                        torch.tensor([len(t) for t in targets]))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        step += 1
        losses.append(loss.item())
        if step % print_every == 0:
            say(f"step {step}: loss {np.mean(losses[-print_every:]):.4f} lr {rate:.2e} "
                f"{(time.monotonic() - t_train) / step:.2f} s/step, {(time.monotonic() - t_train) / 60:.1f} min")
        if step % val_every == 0 or time.monotonic() - t_train >= budget or (max_steps and step >= max_steps):
            v = validate()
            history.append({"step": step, "loss": float(np.mean(losses[-val_every:])), "val": v})
            better = key(v) > key(best["val"])
            if better:
                best = {"step": step, "val": v}
                best_state = {k: t.detach().clone() for k, t in model.state_dict().items()}
            say(f"step {step}: val {_brief(v)}{'  (best)' if better else ''}")
    train_minutes = (time.monotonic() - t_train) / 60
    model.load_state_dict(best_state)
    say(f"trained {step} steps in {train_minutes:.1f} min; best step {best['step']}: val {_brief(best['val'])}")

    diffs = export(model, out, check)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    crops_all, _ = val_sets.get("us") or val_sets["extra"]
    onnx_read = [r for i in range(0, len(crops_all), 32)
                 for r in greedy(session.run(None, {"x": rec_batch(crops_all[i:i + 32])})[0])]
    torch_read = greedy(predict(model, crops_all))
    assert onnx_read == torch_read, "onnxruntime reads the validation crops differently from torch"
    say(f"exported {out}; max |onnxruntime - torch| {max(diffs.values()):.1e}, same readings on {len(crops_all)} crops")

    import onnx2torch

    return {"data": data, "share": share, "val_share": VAL_SHARE, "crops": str(crops) if crops else None,
            "scenes": str(scenes) if scenes else None, "extra_crops": str(extra_crops) if extra_crops else None,
            "steps": step, "minutes": minutes, "train_minutes": round(train_minutes, 2),
            "total_minutes": round((time.monotonic() - t_start) / 60, 2), "lr": lr, "warmup": warmup, "batch": batch,
            "seed": seed, "us_fraction": us_fraction, "synthetic_fraction": synthetic_fraction if synthetic else 0.0,
            "frozen_convs": len(frozen),
            "trained_parameters": sum(p.numel() for p in params), "cut_head_agreement": round(agreement, 4),
            "best_step": best["step"], "val": best["val"], "val_at_start": history[0]["val"], "history": history,
            "onnx_max_abs_diff": diffs, "base": f"{STOCK_REC} (rapidocr-onnxruntime)", "torch": torch.__version__,
            "onnx2torch": getattr(onnx2torch, "__version__", "1.5.15"), "python": platform.python_version()}


def _brief(v: dict[str, dict[str, float]]) -> str:
    return " | ".join(f"{k} exact {s['exact']:.3f} char {s['char_acc']:.3f} (n {s['n']})" for k, s in v.items())


def write_card(out: Path, result: dict[str, Any], command: str) -> Path:
    """``NAME.json`` (for programs) and ``NAME.md`` (for people) beside the weights: data used and
    held out, settings, validation metrics and the file's sha256, so a run can be repeated."""
    held_out = []
    if result.get("crops"):
        held_out.append(f"{result['crops']}: rows whose file is not in_training_share(file, {result['share']})")
    if result.get("scenes"):
        held_out.append(f"{result['scenes']}: scenes whose stem is not in_training_share(stem, {result['share']})")
    card = {
        "model": out.name, "name": MODEL_NAME, "architecture": "PP-OCRv4 rec (SVTR-LCNet), CTC head cut to blank + 0-9 A-Z",
        "classes": ["blank", *ALPHABET], "input": "x: (N, 3, 48, W) float32, (BGR/255 - 0.5)/0.5, zero padded right",
        "output": "probs: (N, W/8, 37) softmax", "sha256": sha256(out), "bytes": out.stat().st_size,
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **{k: v for k, v in result.items() if k != "history"}, "held_out": held_out, "command": command,
        "history": result.get("history", []),
        "notes": f"Validation is the {result.get('val_share', VAL_SHARE):.0%} hash split (in_training_share('val/' + "
                 "scene, 0.2)) of the training share, used to pick the checkpoint; report reading accuracy with "
                 "`alpr eval` on the held-out share only.",
    }
    card_json = out.with_suffix(".json")
    card_json.write_text(json.dumps(card, indent=2) + "\n")
    val = result["val"]
    lines = [f"# Plate recognizer `{out.name}`", "",
             f"- Base: {card['base']}, converted with onnx2torch {card['onnx2torch']}, head cut to 37 classes "
             f"(blank + 0-9 A-Z), first {result['frozen_convs']} convolutions frozen, "
             f"{result['trained_parameters']:,} parameters trained.",
             f"- Trained {result['steps']} steps in {result['train_minutes']} min (budget {result['minutes']} min) on CPU: "
             f"batch {result['batch']}, Adam lr {result['lr']} (warm-up {result['warmup']} steps, cosine to a tenth), "
             f"seed {result['seed']}, US share of each batch {result['us_fraction']}, simulated plates' share "
             f"{result.get('synthetic_fraction', 0.0)} ({result['data'].get('synthetic_train', 0)} drawn); "
             f"best step {result['best_step']}.",
             f"- Command: `{command}`",
             f"- sha256: `{card['sha256']}` ({card['bytes']:,} bytes)",
             "", "## Data (training share)", "",
             *(f"- {src}: {n} samples" for src, n in result["data"]["sources"].items()),
             f"- US train {result['data']['us_train']}, US validation {result['data']['us_val']}; extra train "
             f"{result['data']['extra_train']}, extra validation {result['data']['extra_val']}",
             *(f"- held out (never trained or tuned on): {h}" for h in held_out),
             "", f"## Validation ({result.get('val_share', VAL_SHARE):.0%} of the training share; O folded to 0)", "",
             *(f"- {k}: exact {s['exact']:.3f}, character accuracy {s['char_acc']:.3f} (n {s['n']}); at step 0 "
               f"{result['val_at_start'].get(k, {}).get('exact', float('nan')):.3f}" for k, s in val.items()), ""]
    out.with_suffix(".md").write_text("\n".join(lines))
    return card_json
