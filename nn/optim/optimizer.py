"""The optimiser base class: parameter groups, ``zero_grad``, and a state dict that resumes exactly.

Subclasses write ``update(param, grad, group, state)``, which changes ``param.data`` in place from
the raw arrays (no graph is built); ``state`` is that parameter's own dict of arrays and counters.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, Mapping

import numpy as np

from tinygrad_lite import backend
from tinygrad_lite.errors import DataError
from tinygrad_lite.core import Tensor


class Optimizer:
    """``params``: an iterable of Parameters, or of dicts ``{"params": [...], "lr": ..., ...}`` (param
    groups, each overriding the defaults)."""
    scalar_state = ()        # per-parameter state entries that are numbers, not arrays (Adam's "step")
    nonnegative = ()         # hyper-parameters that must be >= 0 besides lr and weight_decay

    def __init__(self, params: Iterable[Any], defaults: Mapping[str, Any]):
        self.defaults = dict(defaults)
        self.param_groups = []
        self.state = []          # one dict per parameter, in the order of the groups
        if isinstance(params, Tensor) or hasattr(params, "named_parameters") or not hasattr(params, "__iter__"):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Parameters, such as "
                            f"model.parameters(), got {type(params).__name__}")
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty list of parameters "
                             f"(did you pass model.parameters() of a model without any?)")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: Dict[str, Any]) -> None:
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{type(self).__name__}: a param group must be a dict with a 'params' key")
        group = {**self.defaults, **group}
        group["params"] = list(group["params"])
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: parameters must be Tensors, got {type(p).__name__}")
            if not p.requires_grad:
                raise ValueError(f"{type(self).__name__}: a parameter of shape {p.shape} does not require grad")
            if id(p) in seen:
                raise ValueError(f"{type(self).__name__}: a parameter appears in more than one place")
            seen.add(id(p))
            self.state.append({})
        self._check_hyperparameters(group)
        self.param_groups.append(group)

    def _check_hyperparameters(self, group):
        """Raise ValueError naming any hyper-parameter out of range (subclasses extend this)."""
        for key in self.defaults:
            if not isinstance(group[key], (bool, int, float, tuple, list, np.number)):
                raise TypeError(f"{type(self).__name__}: {key} must be a number, got {group[key]!r}")
        if not group["lr"] >= 0:
            raise ValueError(f"{type(self).__name__}: lr must be >= 0, got {group['lr']!r}")
        for key in ("weight_decay",) + self.nonnegative:
            if not group.get(key, 0) >= 0:
                raise ValueError(f"{type(self).__name__}: {key} must be >= 0, got {group[key]!r}")

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (set to None, torch's default)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient, in place. Overflowing or NaN gradients give inf
        and NaN weights silently, as in torch (the training loop reports the NaN loss that follows);
        NumPy's warnings are off here so that they cannot stop an update half-way."""
        index = 0
        with np.errstate(all="ignore"):
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        self.update(p, p.grad.data, group, self.state[index])
                    index += 1

    def update(self, param: Tensor, grad: np.ndarray, group: Dict[str, Any], state: Dict[str, Any]) -> None:
        raise NotImplementedError

    # ---- state ------------------------------------------------------------------------------------
    def state_dict(self) -> Dict[str, Any]:
        """A flat dict of host NumPy arrays and numbers, ready for ``nn.serialization.save_arrays``:
        "param_groups.{g}.{hyper-parameter}" and "state.{i}.{name}" (i counts parameters in order)."""
        out = {}
        for g, group in enumerate(self.param_groups):
            for key, value in group.items():
                if key != "params":
                    out[f"param_groups.{g}.{key}"] = _host(value)
        for i, state in enumerate(self.state):
            for key, value in state.items():
                if not key.startswith("_"):          # "_scratch": working memory, not state
                    out[f"state.{i}.{key}"] = _host(value)
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore hyper-parameters and buffers saved by ``state_dict`` (also after a save/load round
        trip, where numbers come back as 0-d arrays). Arrays go to each parameter's device and dtype.
        Hyper-parameters are checked as the constructor checks them (``lr >= 0`` ...): a refused
        state dict raises ``ValueError`` / ``TypeError`` naming the field and changes nothing."""
        name = type(self).__name__
        params = [p for group in self.param_groups for p in group["params"]]
        new_groups = [dict(group) for group in self.param_groups]
        new_state = [{} for _ in params]
        for key, value in state_dict.items():
            parts = key.split(".")
            if len(parts) != 3 or parts[0] not in ("param_groups", "state") or not parts[1].isdigit():
                raise DataError(f"{name}.load_state_dict: unexpected key {key!r}")
            index, field = int(parts[1]), parts[2]
            if parts[0] == "param_groups":
                if index >= len(new_groups) or field not in new_groups[index] or field == "params":
                    raise DataError(f"{name}.load_state_dict: key {key!r} does not fit this optimiser "
                                    f"({len(new_groups)} param group(s) with {sorted(self.defaults)})")
                new_groups[index][field] = _to_python(value)
            else:
                if index >= len(params):
                    raise DataError(f"{name}.load_state_dict: key {key!r} names parameter {index}, but "
                                    f"this optimiser has {len(params)}")
                p = params[index]
                array = backend.as_numpy(value.data if isinstance(value, Tensor) else value)
                if field in self.scalar_state:
                    new_state[index][field] = _to_python(array)
                elif array.shape != p.shape:
                    raise DataError(f"{name}.load_state_dict: {key} has shape {array.shape}, but parameter "
                                    f"{index} has shape {p.shape}")
                else:
                    new_state[index][field] = backend.to_device(array.astype(p.dtype), p.device)
        for new in new_groups:                  # a saved lr of -1 is refused as the constructor refuses it
            self._check_hyperparameters(new)
        for group, new in zip(self.param_groups, new_groups):
            group.update({k: v for k, v in new.items() if k != "params"})
        self.state = new_state


def _host(value):
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple):
        return np.asarray(value)
    return np.array(backend.as_numpy(value), copy=True)


def _to_python(value):
    """A saved number (possibly a 0-d array) or tuple (a 1-d array) back as Python values."""
    array = np.asarray(value)
    if array.ndim == 0:
        return array.item()
    return tuple(array.tolist())
