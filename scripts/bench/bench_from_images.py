#!/usr/bin/env python
"""How good are class vectors estimated from 5 example images (rsdsva attributes from-images)?

For the default model's held-out classes (never trained on), draw 5 example images
per class from the unseen VALIDATION images of the model's own split, estimate
each class's vector, and compare with the human vectors: cosine similarity per
class, and ZSL accuracy over the held-out classes on the unseen TEST images with
estimated versus human vectors. Repeated over several draws of the examples. Then
two bounds on what any class vectors can do with this model: vectors from all of a
class's validation images, and the share of each human vector that lies on attributes
no seen class has (which training only ever taught as absent).

  python scripts/bench/bench_from_images.py              # default model, UCM + AID originals
  python scripts/bench/bench_from_images.py --only ucm   # its held-out classes that UC Merced has
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

from rsdsva.attributes.check import untaught_attributes, untaught_shares  # noqa: E402
from rsdsva.attributes.examples import attributes_from_images, image_attributes  # noqa: E402
from rsdsva.classes import normalized_vectors  # noqa: E402
from rsdsva.models.checkpoint import load_checkpoint  # noqa: E402
from rsdsva.models.model_file import default_model_path  # noqa: E402
from rsdsva.training.experiment import Experiment, prepare  # noqa: E402
from rsdsva.training.metrics import mean_per_class_accuracy  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(default_model_path()))
    p.add_argument("--shots", type=int, default=5)
    p.add_argument("--draws", type=int, default=3)
    p.add_argument("--only", choices=["ucm", "aid150"], default=None,
                   help="use only this dataset's images (and the held-out classes it has)")
    a = p.parse_args()

    model, info = load_checkpoint(a.model)
    model.eval()
    human = info.held_out_classes()
    exp = Experiment(data=(SHARED / "ucm", SHARED / "aid150"), folder_map=("ucm-unified", "aid-unified"),
                     attributes="unified", seed=int(info.provenance.get("seed", 0)))
    _, split = prepare(exp, unseen=list(human.names))
    if a.only:
        keep = lambda samples: [s for s in samples if f"/{a.only}/" in s.source]  # noqa: E731
        split.val_unseen, split.test_unseen = keep(split.val_unseen), keep(split.test_unseen)
        human = human.subset([n for n in human.names if any(s.label == n for s in split.test_unseen)])
    test = split.test_unseen
    truth = np.array([human.names.index(s.label) for s in test])
    scores = image_attributes(model, info, [s.source for s in test], head="model", batch_size=64)

    def zsl(space) -> float:
        logits = scores @ normalized_vectors(space).T
        return mean_per_class_accuracy(truth, logits.argmax(1))  # as the model's ZSL figure

    print(f"{len(human)} held-out classes{' of ' + a.only if a.only else ''}, {len(test)} unseen test images, {a.shots} examples per class, {a.draws} draws")
    print(f"ZSL accuracy with the human vectors: {zsl(human):.3f}")
    every = {n: [s.source for s in split.val_unseen if s.label == n] for n in human.names}
    for head in ("vam", "prototype"):
        cosines, accs = [], []
        for draw in range(a.draws):
            rng = np.random.default_rng(draw)
            examples = {}
            for name, pool in every.items():
                examples[name] = [pool[i] for i in rng.choice(len(pool), a.shots, replace=False)]
            est = attributes_from_images(model, info, examples, head=head).subset(human.names)
            cos = (normalized_vectors(est) * normalized_vectors(human)).sum(1)
            cosines.append(cos)
            accs.append(zsl(est))
        cos = np.array(cosines)
        print(f"head {head:9s}: cosine to human vectors {cos.mean():.3f} (per class "
              + ", ".join(f"{n} {v:.2f}" for n, v in zip(human.names, cos.mean(0)))
              + f"); ZSL accuracy with estimated vectors {np.mean(accs):.3f} ± {np.std(accs):.3f}")
        est = attributes_from_images(model, info, every, head=head).subset(human.names)
        print(f"head {head:9s}: vectors from all {len(split.val_unseen)} validation images: ZSL accuracy {zsl(est):.3f}")
    shares = untaught_shares(human, untaught_attributes(info.classes))
    print("share of each human vector on attributes no seen class has at half strength: " + ", ".join(
        f"{n} {v:.2f}" for n, v in zip(human.names, shares)))


if __name__ == "__main__":
    main()
