#!/usr/bin/env python
"""Context that costs less (#41 item 3), two ways the network could see less per tile, against
today's default map (windows 2 and 3 times the tile, each also mirrored, each resized to the
model's 128 px) on the sample scene's reference:

1. Windows shared by neighbouring tiles: the network runs once over the whole scene (and once
   mirrored) at the scale a window has today, and each tile's window is cut out of that feature
   map (2x: 4x4 cells, 3x: 6x6; or the 3x window from a run at a coarser scale, 3x3 cells), then
   pooled by the model's heads. About a quarter of today's pixels for the 2x window.
2. A smaller (or larger) input for a window: each window read as today, resized to another size.

And why 1 fails: the attribute scores of one 2x window against the same window cut out of a
read twice as wide. Torch on the CPU; the per-window rows reproduce the default map's labels.

  python scripts/bench/probe_shared_windows.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import rasterio
import torch
import torch.nn.functional as F
import yaml

from rsdsva.engines.base import softmax
from rsdsva.inference import ClassifierSettings
from rsdsva.mapping.source import context_pixels, seen_window
from rsdsva.predict import build_classifier

ROOT = Path(__file__).resolve().parents[2]
SCENE = ROOT / "sample_data" / "autzen_0p3m_2994.tif"
REFERENCE = ROOT / "docs" / "autzen_reference.yaml"
TILE = 256  # the default model's 78 m at the scene's 1 ft pixels


class Probe:
    def __init__(self) -> None:
        self.clf = build_classifier(ClassifierSettings(engine="torch", context=(2.0, 3.0), orientations=2))
        self.net = self.clf.engine.model
        pre = self.clf.info.preprocessing
        self.mean, self.std = (torch.tensor(v).view(1, 3, 1, 1) for v in (pre.mean, pre.std))
        self.size = pre.image_size
        with rasterio.open(SCENE) as src:
            self.scene = torch.from_numpy(src.read().astype(np.float32) / 255)[None]
        reference = yaml.safe_load(REFERENCE.read_text())
        self.accept = {tuple(t): set(k["accept"]) for k in reference.values() for t in k["tiles"]}
        self.tiles = list(self.accept)

    def model_input(self, images: torch.Tensor, size: int) -> torch.Tensor:
        images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        return ((images - self.mean) / self.std).contiguous(memory_format=torch.channels_last)

    @torch.inference_mode()
    def heads(self, tokens: torch.Tensor) -> torch.Tensor:
        """The score head's attributes (N, A) of token sets (N, P, D), as the model pools them."""
        net = self.net
        vam = net.vam(net.vam_norm(tokens.mean(1)))
        proto = torch.einsum("npd,ad->nap", tokens, net.prototypes).amax(-1)
        return {"vam": vam, "prototype": proto, "sum": vam + proto}[net.config.score_head]

    @torch.inference_mode()
    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        return self.net.backbone.model.forward_features(images)

    def windows(self, scale: float, mirrored: bool, size: int) -> torch.Tensor:
        """Each reference tile's window read as the map reads it, at input ``size``."""
        _, _, h, w = self.scene.shape
        margin, out = context_pixels(TILE, scale), []
        for i in range(0, len(self.tiles), 32):
            cut = []
            for r, c in self.tiles[i : i + 32]:
                win = seen_window(rasterio.windows.Window(c * TILE, r * TILE, TILE, TILE), margin, w, h)
                cut.append(self.scene[0, :, win.row_off : win.row_off + win.height, win.col_off : win.col_off + win.width])
            batch = torch.stack(cut).flip(-1) if mirrored else torch.stack(cut)
            fmap = self.tokens(self.model_input(batch, size))
            out.append(self.heads(fmap.flatten(2).transpose(1, 2)))
        return torch.cat(out)

    def shared(self, scale: float, mirrored: bool, cells: int) -> torch.Tensor:
        """Each tile's window cut out of one run over the whole scene at ``cells`` feature cells a tile."""
        _, _, h, w = self.scene.shape
        stride = 32  # the feature map's cell, in input pixels
        f = cells * stride / TILE
        scene = F.interpolate(self.scene, size=(round(h * f), round(w * f)), mode="bilinear", antialias=True,
                              align_corners=False)
        scene = ((scene.flip(-1) if mirrored else scene) - self.mean) / self.std
        fmap = self.tokens(scene.contiguous(memory_format=torch.channels_last))
        fmap = (fmap.flip(-1) if mirrored else fmap)[0]
        n, (gh, gw) = round(cells * scale), fmap.shape[1:]
        margin = (n - cells) // 2
        cut = []
        for r, c in self.tiles:
            y, x = min(max(r * cells - margin, 0), gh - n), min(max(c * cells - margin, 0), gw - n)
            cut.append(fmap[:, y : y + n, x : x + n].flatten(1).T)
        return self.heads(torch.stack(cut))

    def labels(self, attributes: list[torch.Tensor]) -> list[str]:
        head = self.clf.head
        probs = np.mean([softmax(head.logits(a.numpy()) - head.offset) for a in attributes], axis=0)
        return [self.clf.classes.names[i] for i in probs.argmax(1)]

    def report(self, name: str, labels: list[str], today: list[str]) -> None:
        ok = sum(lab in self.accept[t] for t, lab in zip(self.tiles, labels))
        same = np.mean(np.array(labels) == np.array(today))
        print(f"{name:58s} {ok:>3}/{len(self.tiles)}   {same:6.1%}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.parse_args()
    torch.set_num_threads(2)
    probe = Probe()
    sizes = (96, 128, 160, 192)
    read = {(s, m, z): probe.windows(s, m, z) for s in (2.0, 3.0) for m in (False, True) for z in sizes}
    both = (False, True)
    today = probe.labels([read[(s, m, 128)] for s in (2.0, 3.0) for m in both])
    print(f"{SCENE.name}: {len(probe.tiles)} reference tiles; the labels a person accepts, and the same label as today")
    probe.report("today: windows 2,3 read per tile at 128 px, mirrored", today, today)
    shared = {(s, m, cells): probe.shared(s, m, cells) for s in (2.0, 3.0) for m in both for cells in (1, 2, 3)}
    rows = {
        "shared: 2x and 3x cut from one run at 2 cells a tile": [shared[(s, m, 2)] for s in (2.0, 3.0) for m in both],
        "shared: 2x at 2 cells a tile, 3x at 1 cell": [shared[(2.0, m, 2)] for m in both] + [shared[(3.0, m, 1)] for m in both],
        "shared: 2x and 3x at 3 cells a tile": [shared[(s, m, 3)] for s in (2.0, 3.0) for m in both],
        "shared 2x at 2 cells a tile, 3x read per tile": [shared[(2.0, m, 2)] for m in both] + [read[(3.0, m, 128)] for m in both],
    }
    for z2, z3 in [(128, 96), (96, 128), (96, 96), (128, 160), (128, 192), (96, 160)]:
        rows[f"read per tile: 2x at {z2} px, 3x at {z3} px"] = [read[(2.0, m, z2)] for m in both] + [read[(3.0, m, z3)] for m in both]
    for name, attributes in rows.items():
        probe.report(name, probe.labels(attributes), today)
    with torch.inference_mode():  # one 2x window, alone and cut out of a read twice as wide around it
        y = x = 4 * TILE
        alone = probe.model_input(probe.scene[:, :, y : y + 2 * TILE, x : x + 2 * TILE], probe.size)
        wide = probe.model_input(probe.scene[:, :, y - TILE : y + 3 * TILE, x - TILE : x + 3 * TILE], 2 * probe.size)
        a = probe.heads(probe.tokens(alone).flatten(2).transpose(1, 2))
        b = probe.heads(probe.tokens(wide)[:, :, 2:6, 2:6].flatten(2).transpose(1, 2))
    print(f"one 2x window alone vs cut from a read twice as wide: attribute scores correlate "
          f"{np.corrcoef(a.numpy().ravel(), b.numpy().ravel())[0, 1]:.2f}, largest difference "
          f"{float((a - b).abs().max()):.2f} (largest score {float(a.abs().max()):.2f})")


if __name__ == "__main__":
    main()
