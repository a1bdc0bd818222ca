#!/usr/bin/env python
"""Resized JPEG copies of class-folder image sets (small enough to carry to a GPU machine).

  python scripts/jobs/resize_images.py ../shared/data/ucm UCM_112px --size 112 --quality 75
  python scripts/jobs/resize_images.py ../shared/data/aid150 AID_112px --size 112 --quality 68
  python scripts/jobs/resize_images.py ../shared/data/ucm .devdata/ucm --size 128 --format webp --quality 80

WebP copies are about a quarter smaller than JPEG at the same quality setting.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image

SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"}


def resize(job: tuple[Path, Path, int, int]) -> None:
    src, dst, size, quality = job
    dst.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as im:
        im.convert("RGB").resize((size, size), Image.BICUBIC).save(dst, quality=quality)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--quality", type=int, default=75)
    p.add_argument("--format", choices=("jpg", "webp"), default="jpg")
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()
    src, dst = Path(a.src), Path(a.dst)
    jobs = [(f, dst / f.parent.name / (f.stem + "." + a.format), a.size, a.quality)
            for f in sorted(src.glob("*/*")) if f.suffix.lower() in SUFFIXES]
    with ProcessPoolExecutor(a.workers) as pool:
        list(pool.map(resize, jobs, chunksize=64))
    print(f"{len(jobs)} images -> {dst}")


if __name__ == "__main__":
    main()
