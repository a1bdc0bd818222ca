#!/usr/bin/env python
"""How far can features trained elsewhere go on the sample scene? Upper bounds for its map.

Scores the 90 unambiguous tiles of docs/autzen_reference.yaml (as score_sample_map.py does)
with classifiers that are not zero-shot and so bound what a UC Merced + AID model can do:

1. supervised: a logistic regression on frozen ImageNet EfficientNet-Lite0 features (128 px,
   the default model's input), trained on --per-class images of every one of the 51 UC
   Merced and AID classes (not zero-shot: every class is seen), applied to each tile, to
   windows 2 and 3 times a tile around it, and to the mean of the three scales' probabilities;
2. few-shot within the scene: nearest class mean over k reference tiles per kind (k = 1, 3, 5;
   --seeds draws), the rest scored, on the frozen ImageNet features and on the default
   model's features (the ones its classes from example areas use).

  python scripts/bench/probe_sample_scene.py       # about 2 minutes on 2 CPU cores (needs the [pretrained] extra)
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[2]

from rsdsva.data.folders import read_image  # noqa: E402
from rsdsva.data.images import scan_image_folder  # noqa: E402
from rsdsva.mapping import default_model_path  # noqa: E402
from rsdsva.models.checkpoint import load_checkpoint  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
SCENE = ROOT / "sample_data" / "autzen_0p3m_2994.tif"
# the probe's classes are folder names; these are the ones a person accepts, by kind
ACCEPT = {"water": {"river", "pond", "bridge"}, "forest": {"forest"}, "meadow": {"meadow", "park", "playground"},
          "parking_lot": {"parkinglot", "parking"}, "stadium": {"stadium"},
          "large_buildings": {"buildings", "commercial", "industrial", "center", "school", "church", "stadium"}}


def imagenet_lite0():
    import timm

    from rsdsva.models.convert import convert_efficientnet_pytorch
    from rsdsva.models.hub import packaged_weights_path
    from rsdsva.models.weights import read_state_dict

    net = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0)
    state = convert_efficientnet_pytorch(read_state_dict(packaged_weights_path("efficientnet-lite0")),
                                         [len(s) for s in net.blocks])
    net.load_state_dict({k: v for k, v in state.items() if not k.startswith("classifier")})
    return net.eval()


@torch.inference_mode()
def features(net, images: list[torch.Tensor], size: int = 128) -> np.ndarray:
    """Pooled features of uint8 (3, H, W) images, resized to ``size``, normalised as lite0 wants."""
    out = []
    for start in range(0, len(images), 64):
        x = torch.stack([torch.nn.functional.interpolate(im[None].float() / 255, size=(size, size), mode="bilinear",
                                                         antialias=True)[0] for im in images[start : start + 64]])
        out.append(net((x - 0.5) / 0.5).numpy())
    return np.concatenate(out)


def reference_windows(context: float) -> tuple[list[torch.Tensor], list[str]]:
    """The reference tiles (or windows ``context`` times a tile around them), as the map reads them."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.windows import Window

    reference = yaml.safe_load((ROOT / "docs" / "autzen_reference.yaml").read_text())
    images, kinds = [], []
    with rasterio.open(SCENE) as src:
        for kind, spec in reference.items():
            for row, col in spec["tiles"]:
                half = (context - 1) * 128
                window = Window(col * 256 - half, row * 256 - half, 256 * context, 256 * context)
                data = src.read(window=window, boundless=True, fill_value=0, out_shape=(3, 256, 256),
                                resampling=Resampling.average)
                images.append(torch.from_numpy(data))
                kinds.append(kind)
    return images, kinds


def fit_logistic(x: np.ndarray, y: np.ndarray):
    """Multinomial logistic regression (standardised features, L2), by L-BFGS."""
    classes = np.unique(y)
    target = torch.as_tensor(np.searchsorted(classes, y))
    xt = torch.as_tensor(x, dtype=torch.float32)
    mean, std = xt.mean(0), xt.std(0) + 1e-6
    xt = (xt - mean) / std
    lin = torch.nn.Linear(x.shape[1], len(classes))
    opt = torch.optim.LBFGS(lin.parameters(), max_iter=300)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(lin(xt), target) + 1e-3 * lin.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return lambda f: (classes, lin((torch.as_tensor(f, dtype=torch.float32) - mean) / std).softmax(1).detach().numpy())


def agreement(labels, kinds) -> str:
    ok = [norm(lab) in ACCEPT[k] for lab, k in zip(labels, kinds)]
    per = ", ".join(f"{k} {sum(o for o, kk in zip(ok, kinds) if kk == k)}/{kinds.count(k)}" for k in ACCEPT)
    return f"{sum(ok)}/{len(ok)} ({np.mean(ok):.0%}; {per})"


def norm(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--per-class", type=int, default=60)
    p.add_argument("--seeds", type=int, default=10)
    a = p.parse_args()
    torch.manual_seed(0)
    net = imagenet_lite0()

    train, labels = [], []
    for root in (SHARED / "ucm", SHARED / "aid150"):
        by_class: dict[str, list] = {}
        for s in scan_image_folder(root):
            by_class.setdefault(s.label, []).append(s.source)
        for label, files in by_class.items():
            train += [read_image(f) for f in files[: a.per_class]]
            labels += [norm(label)] * len(files[: a.per_class])
    predict = fit_logistic(features(net, train), np.array(labels))
    print(f"1. supervised probe: frozen ImageNet lite0 at 128 px, logistic regression on {len(train)} images "
          f"of all 51 UC Merced and AID classes")
    probs = {}
    for context in (1, 2, 3):
        images, kinds = reference_windows(context)
        classes, probs[context] = predict(features(net, images))
        print(f"   window {context} x tile: {agreement(classes[probs[context].argmax(1)], kinds)}")
    mean = sum(probs.values())
    print(f"   mean of the three: {agreement(classes[mean.argmax(1)], kinds)}")

    images, kinds = reference_windows(1)
    model, info = load_checkpoint(default_model_path())
    from rsdsva.predict import Classifier

    run = Classifier(model.eval(), info, info.classes)
    with torch.inference_mode():
        own = model(run.prepare(torch.stack(images).float() / 255)).features.numpy()
    names, kinds_arr = list(ACCEPT), np.array(kinds)
    print(f"2. few-shot within the scene: nearest class mean over k reference tiles per kind, the others scored "
          f"(mean over {a.seeds} draws)")
    for label, feats in (("frozen ImageNet lite0", features(net, images)), ("default model", own)):
        f = feats / np.linalg.norm(feats, axis=1, keepdims=True)
        row = []
        for k in (1, 3, 5):
            accs = []
            for seed in range(a.seeds):
                rng = np.random.default_rng(seed)
                chosen = {n: rng.choice(np.flatnonzero(kinds_arr == n), size=k, replace=False) for n in names}
                test = np.setdiff1d(np.arange(len(kinds)), np.concatenate(list(chosen.values())))
                protos = np.stack([f[chosen[n]].mean(0) for n in names])
                accs.append(np.mean(np.array(names)[(f[test] @ protos.T).argmax(1)] == kinds_arr[test]))
            row.append(f"k={k} {np.mean(accs):.0%} ± {np.std(accs):.0%}")
        print(f"   {label}: " + ", ".join(row))


if __name__ == "__main__":
    main()
