"""Load pretrained weights safely into a registered backbone.

Accepted layouts (each normalised to a torchvision-style state_dict):
- a torchvision state_dict, optionally under ``state_dict``;
- robust-models-transfer (Salman et al.): ``{"model": ...}`` with weights under
  ``module.model.``; ``module.attacker.*`` (a copy for the attack) and
  ``module.normalizer.*`` (input normalisation) are dropped;
- IST-DASLab sparse-transfer: ``{"model_state_dict": ...}``, where pruned layers may be
  wrapped as ``X._layer.weight`` with a ``X._weight_mask`` buffer: the mask is applied;
- a ``module.`` (DataParallel) prefix anywhere above is stripped;
- ``.safetensors`` files.
``torch.load`` runs with ``weights_only=True``; arbitrary unpickling needs ``trust=True``.
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .backbones import create_backbone, get_backbone_cfg
from .errors import CheckpointError, UnsafeCheckpointError
from .fileio import sha256_file

_DROPPED_PREFIXES = ("module.attacker.", "module.normalizer.", "attacker.", "normalizer.")
_NESTED_KEYS = ("model_state_dict", "state_dict", "model")
_SAFETENSORS_SUFFIX = ".safetensors"


@dataclass(frozen=True)
class CheckpointInfo:
    path: str
    sha256: str
    layout: str  # torchvision | robust-models-transfer | sparse-transfer | safetensors
    num_classes: int


def _pickle_imports_code(path: Path) -> bool:
    """Whether ``path`` parses as a pickle that imports a global (a class or function it would
    call on load), read opcode by opcode without executing any."""
    import pickletools

    try:
        with open(path, "rb") as f:
            return any(op.name in ("GLOBAL", "STACK_GLOBAL", "INST", "OBJ") for op, _arg, _pos in pickletools.genops(f))
    except Exception:  # not a pickle at all: corrupt, not unsafe
        return False


def _read_raw(path: Path, trust: bool):
    if path.suffix == _SAFETENSORS_SUFFIX:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path)), "safetensors"
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(
                f"cannot read safetensors file {path} ({exc}); it is truncated or corrupt: re-download or re-save it"
            ) from None
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=not trust), None
    except pickle.UnpicklingError as exc:
        # torch names a non-allowlisted class "Unsupported global"; a plain pickle (not torch's zip
        # layout) can fail earlier on its protocol, so look at its opcodes without running them.
        if not trust and ("unsupported global" in str(exc).lower() or _pickle_imports_code(path)):
            raise UnsafeCheckpointError(
                f"checkpoint {path} contains arbitrary Python objects that could run code when loaded; "
                "if you trust its source pass --trust-checkpoint"
            ) from None
        raise CheckpointError(f"cannot unpickle checkpoint {path}; it is truncated or corrupt: re-download or re-save it") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, AttributeError, KeyError) as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise CheckpointError(
            f"cannot read checkpoint {path} ({reason}); it is truncated or corrupt: re-download or re-save it"
        ) from None


def _unwrap(raw) -> tuple[dict, str]:
    """Find the state_dict inside a checkpoint and name its layout."""
    import torch

    if not isinstance(raw, dict):
        raise CheckpointError(
            f"checkpoint holds a {type(raw).__name__}, not a state_dict; save model.state_dict() instead"
        )
    layout = "torchvision"
    for key in _NESTED_KEYS:
        if key in raw and isinstance(raw[key], dict):
            raw, layout = raw[key], {"model_state_dict": "sparse-transfer", "model": "robust-models-transfer"}.get(
                key, "torchvision"
            )
            break
    tensors = {k: v for k, v in raw.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError("checkpoint has no weight tensors; pass a file saved from model.state_dict()")
    return tensors, layout


def normalise_state_dict(state: dict) -> dict:
    """Map any accepted layout's keys onto torchvision names, applying sparse-transfer masks."""
    state = {k: v for k, v in state.items() if not k.startswith(_DROPPED_PREFIXES)}
    renamed = {}
    for key, value in state.items():
        for prefix in ("module.model.", "module."):
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        renamed[key] = value
    out = {}
    for key, value in renamed.items():
        if key.endswith("._weight_mask"):
            continue
        if "._layer." in key:
            base, _, leaf = key.rpartition("._layer.")
            mask = renamed.get(f"{base}._weight_mask")
            if leaf == "weight" and mask is not None:
                value = value * mask.to(value.dtype)
            key = f"{base}.{leaf}"
        out[key] = value
    return out


def _summarise(keys, limit: int = 6) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


def read_state_dict(path: Path, trust: bool = False) -> tuple[dict, str]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found; check the --checkpoint path")
    raw, layout = _read_raw(path, trust)
    state, nested_layout = _unwrap(raw)
    return normalise_state_dict(state), layout or nested_layout


def load_pretrained(arch: str, path: Path, trust: bool = False):
    """Build ``arch`` and load the checkpoint at ``path``; returns ``(model, CheckpointInfo)``.

    The head's class count is taken from the checkpoint, so a CIFAR-100 or a 5-class
    checkpoint loads into the matching head.
    """
    cfg = get_backbone_cfg(arch)
    state, layout = read_state_dict(path, trust)
    head_weight = state.get(f"{cfg.head}.weight")
    num_classes = int(head_weight.shape[0]) if head_weight is not None and head_weight.ndim == 2 else cfg.num_classes
    model = create_backbone(arch, num_classes=num_classes)
    expected = model.state_dict()
    missing = set(expected) - set(state)
    unexpected = set(state) - set(expected)
    wrong_shape = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or wrong_shape:
        parts = []
        if missing:
            parts.append(f"missing keys: {_summarise(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_summarise(unexpected)}")
        if wrong_shape:
            parts.append(f"shape mismatches: {_summarise(wrong_shape, 3)}")
        raise CheckpointError(
            f"checkpoint {path} does not fit --arch {arch} ({'; '.join(parts)}); "
            "pass the architecture it was trained as"
        )
    broken = [k for k, v in state.items() if v.is_floating_point() and not bool(v.isfinite().all())]
    if broken:
        raise CheckpointError(f"checkpoint {path} has NaN or Inf values in {len(broken)} tensors (first: {broken[0]}); "
                              "it is damaged or its training diverged: use another checkpoint")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
    info = CheckpointInfo(str(Path(path).resolve()), sha256_file(Path(path)), layout, num_classes)
    return model.eval(), info
