"""``Module`` (the base of every layer and model), ``Parameter`` and ``Sequential``, as in torch.nn.

A Module registers every ``Parameter`` and sub-``Module`` assigned to it as an attribute, in the order
of assignment; ``named_parameters()`` then walks the tree and names each parameter by its path
("fc1.weight", "0.bias"), exactly as torch does, so state dicts line up with torch's.

A *buffer* (``register_buffer``, torch's) is state that is not learned, such as batch norm's running
mean: it is saved by ``state_dict`` (after the module's parameters, as torch orders them), moved by
``to`` and cast by ``astype``, but not returned by ``parameters()``, so no optimiser touches it.
"""
from __future__ import annotations

import math
from collections import OrderedDict, namedtuple
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Tuple

import numpy as np

from tinygrad_lite import backend
from tinygrad_lite.errors import DataError, ShapeError
from tinygrad_lite.core import Tensor

from .serialization import load_arrays, save_arrays


class Parameter(Tensor):
    """A Tensor that is a model's learnable weight: it requires grad and a Module registers it."""
    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None, device: Optional[str] = None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype, device=device)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of layers and models: subclasses set parameters/sub-modules in ``__init__`` (after
    ``super().__init__()``) and write ``forward``; calling the module calls ``forward``."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        if params is None:
            if isinstance(value, (Parameter, Module)):
                raise AttributeError(f"cannot assign {type(value).__name__} '{name}' before "
                                     f"Module.__init__() is called; call super().__init__() first")
        elif isinstance(value, Parameter):
            self._modules.pop(name, None)
            self._buffers.pop(name, None)
            params[name] = value
            if value.name is None:
                value.name = name               # shown by viz and trace_backward; see _prefix_names
        elif isinstance(value, Module):
            params.pop(name, None)
            self._buffers.pop(name, None)
            self._modules[name] = value
            _prefix_names(value, name)
        elif name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign a {type(value).__name__} to buffer '{name}' of "
                                f"{type(self).__name__} (a Tensor or None is expected)")
            self._buffers[name] = value
        elif name in params or name in self._modules:
            if value is not None:
                kind = "parameter" if name in params else "module"
                raise TypeError(f"cannot assign a {type(value).__name__} to {kind} '{name}' of "
                                f"{type(self).__name__} (a {'Parameter' if kind == 'parameter' else 'Module'} "
                                f"or None is expected); to change the values, assign to .data")
            (params if name in params else self._modules)[name] = None
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._buffers.pop(name, None)
        self._non_persistent_buffers.discard(name)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, tensor: Optional[Tensor], persistent: bool = True) -> None:
        """Register ``tensor`` (a Tensor, or None for an absent one) as the buffer ``name``: state that
        is not learned (batch norm's running mean). It is reached as ``self.name``, moved by ``to``,
        saved by ``state_dict`` when ``persistent``, and never returned by ``parameters()``."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot register a buffer before Module.__init__() is called")
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"register_buffer: the name must be a non-empty str without '.', got {name!r}")
        if tensor is not None and (not isinstance(tensor, Tensor) or isinstance(tensor, Parameter)):
            raise TypeError(f"register_buffer: '{name}' must be a Tensor (not a Parameter) or None, got "
                            f"{type(tensor).__name__}")
        if name in self._parameters or name in self._modules or (
                hasattr(self, name) and name not in self._buffers):
            raise KeyError(f"register_buffer: attribute '{name}' already exists")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)
        object.__setattr__(self, name, tensor)

    def register_parameter(self, name: str, param: Optional[Parameter]) -> None:
        """Register ``param`` (a Parameter, or None for an absent one such as ``bias=False``)."""
        if param is None:
            self._parameters[name] = None
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ---- the tree ---------------------------------------------------------------------------------
    def named_children(self) -> Iterator[Tuple[str, Module]]:
        return ((name, child) for name, child in self._modules.items() if child is not None)

    def children(self) -> Iterator[Module]:
        return (child for child in self._modules.values() if child is not None)

    def named_modules(self, prefix: str = "") -> Iterator[Tuple[str, Module]]:
        """(name, module) for this module ("") and every descendant, depth first, each once."""
        seen = set()

        def walk(module, prefix):
            if id(module) in seen:
                return
            seen.add(id(module))
            yield prefix, module
            for name, child in module._modules.items():
                if child is not None:
                    yield from walk(child, f"{prefix}.{name}" if prefix else name)
        return walk(self, prefix)

    def modules(self) -> Iterator[Module]:
        return (module for _, module in self.named_modules())

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[Tuple[str, Parameter]]:
        """(dotted name, Parameter) for every parameter, each once even when shared, in torch's order."""
        return self._named_members(lambda module: module._parameters.items(), prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        return (param for _, param in self.named_parameters(recurse=recurse))

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[Tuple[str, Tensor]]:
        """(dotted name, Tensor) for every buffer that is not None, each once, in torch's order."""
        return self._named_members(lambda module: module._buffers.items(), prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        return (buffer for _, buffer in self.named_buffers(recurse=recurse))

    def _named_state(self):
        """What ``state_dict`` holds, in torch's order: each module's parameters, then its persistent
        buffers, module by module depth first."""
        return self._named_members(lambda module: list(module._parameters.items()) + [
            (n, b) for n, b in module._buffers.items() if n not in module._non_persistent_buffers])

    def _named_members(self, members, prefix="", recurse=True):
        """(dotted name, tensor) for each ``members(module)`` entry of every module (or this one alone),
        depth first, skipping None and yielding a tensor shared by several modules once."""
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, tensor in members(module):
                if tensor is None or id(tensor) in seen:
                    continue
                seen.add(id(tensor))
                yield (f"{module_name}.{name}" if module_name else name), tensor

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn(module)`` on every sub-module, then on this one (torch's order); returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def num_parameters(self) -> int:
        """The number of learnable numbers in the model."""
        return sum(p.numel() for p in self.parameters())

    # ---- training state ---------------------------------------------------------------------------
    def zero_grad(self) -> None:
        """Forget every parameter's gradient (set it to None, as torch does by default)."""
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout active) for this module and every descendant; returns self."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode (dropout off); returns self."""
        return self.train(False)

    # ---- device and dtype -------------------------------------------------------------------------
    def to(self, device: str) -> Module:
        """Move every parameter (and its gradient) and every buffer to ``device``, in place; returns self."""
        device = backend.resolve_device(device)
        for p in self.parameters():
            p.data = backend.to_device(p.data, device)
            if p.grad is not None:
                p.grad = Tensor._wrap(backend.to_device(p.grad.data, device))
        for buffer in self.buffers():
            buffer.data = backend.to_device(buffer.data, device)
        return self

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self) -> Module:
        return self.to("cuda")

    def astype(self, dtype: Any) -> Module:
        """Cast every parameter (and its gradient) and every floating buffer to a floating ``dtype``, in
        place (integer buffers such as ``num_batches_tracked`` stay as they are, as in torch); returns self."""
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"{type(self).__name__}.astype: dtype must be a floating type, got {dtype}")
        for p in self.parameters():
            p.data = p.data.astype(dtype, copy=False)
            if p.grad is not None:
                p.grad = Tensor._wrap(p.grad.data.astype(dtype, copy=False))
        for buffer in self.buffers():
            if buffer.dtype.kind == "f":
                buffer.data = buffer.data.astype(dtype, copy=False)
        return self

    def double(self) -> Module:
        return self.astype(np.float64)

    def float(self) -> Module:
        return self.astype(np.float32)

    # ---- state ------------------------------------------------------------------------------------
    def state_dict(self) -> Dict[str, np.ndarray]:
        """An ordered dict: dotted parameter or buffer name -> a NumPy copy of its values on the host."""
        return OrderedDict((name, np.array(backend.as_numpy(p.data), copy=True))
                           for name, p in self._named_state())

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy values into the parameters and buffers, by name, cast to each one's dtype and device.

        Every shape must match (``ShapeError`` listing each mismatch). With ``strict`` (the default)
        the names must match too: missing or unexpected names raise ``DataError`` listing them.
        Returns ``(missing_keys, unexpected_keys)``. Nothing is changed when an error is raised.
        """
        own = OrderedDict(self._named_state())
        given = OrderedDict((k, backend.as_numpy(v.data if isinstance(v, Tensor) else v))
                            for k, v in state_dict.items())
        missing = [k for k in own if k not in given]
        unexpected = [k for k in given if k not in own]
        mismatched = [f"{k}: model {own[k].shape}, state_dict {tuple(np.shape(given[k]))}"
                      for k in own if k in given and tuple(np.shape(given[k])) != own[k].shape]
        name = type(self).__name__
        if strict and (missing or unexpected):
            problems = []
            if missing:
                problems.append(f"missing keys {missing}")
            if unexpected:
                problems.append(f"unexpected keys {unexpected}")
            if mismatched:
                problems.append(f"shape mismatches [{'; '.join(mismatched)}]")
            raise DataError(f"{name}.load_state_dict: the state dict does not fit the model: "
                            + ", ".join(problems) + f"; the model expects {list(own)}")
        if mismatched:
            raise ShapeError(f"{name}.load_state_dict: shape mismatches: {'; '.join(mismatched)}")
        for key in own:
            if key in given:
                values = np.asarray(given[key])
                if values.dtype.kind not in "biuf":
                    raise DataError(f"{name}.load_state_dict: {key} holds {values.dtype} values, "
                                    f"not numbers")
                given[key] = values
        for key, param in own.items():
            if key in given:
                param.data[...] = backend.to_device(given[key].astype(param.dtype, copy=False), param.device)
        return IncompatibleKeys(missing, unexpected)

    def save(self, path: Any) -> None:
        """Save the parameters to ``path`` as an .npz (atomically; see ``nn.serialization``)."""
        save_arrays(path, self.state_dict())

    def load(self, path: Any, strict: bool = True) -> Module:
        """Load parameters saved by ``save``; a bad file raises ``DataError`` naming it. Returns self.

        With ``strict``, a file whose arrays declare more bytes than this model's parameters and
        buffers could fill (``max_state_bytes()``) is refused before anything is read.
        """
        bound = self.max_state_bytes() if strict else None
        self.load_state_dict(load_arrays(path, max_bytes=bound), strict=strict)
        return self

    def max_state_bytes(self, copies: int = 1) -> int:
        """The most bytes a file holding ``copies`` arrays like each of ``state_dict()``'s can need:
        8 bytes a value (float64, the widest dtype saved) plus 1 MiB for the .npy headers. Files are
        read within it: ``load`` (copies=1), a training checkpoint (the weights and optimiser buffers)."""
        return copies * 8 * sum(math.prod(t.shape) for _, t in self._named_state()) + (1 << 20)

    # ---- printing ---------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr (torch's hook)."""
        return ""

    def __repr__(self):
        lines = [f"({name}): " + _indent(repr(child)) for name, child in self._modules.items()]
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        body = ([extra] if extra else []) + lines
        return type(self).__name__ + "(\n  " + "\n  ".join(body) + "\n)"


def _prefix_names(child, prefix):
    """Name each parameter of ``child`` by its path in the enclosing module ("0.weight", "conv1.bias"),
    as long as it still bears the name its path in ``child`` gave it (a name set by hand is kept, and a
    module shared by two parents keeps the first one's)."""
    for path, param in child.named_parameters():
        if param.name == path:
            param.name = f"{prefix}.{path}"


def _indent(text):
    return text.replace("\n", "\n  ")


class Sequential(Module):
    """Modules applied one after another; named "0", "1", ... like torch. Supports len, [i], [a:b]."""

    def __init__(self, *modules: Any):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            modules = list(modules[0].items())
        else:
            modules = [(str(i), m) for i, m in enumerate(modules)]
        for name, module in modules:
            if not isinstance(module, Module):
                raise TypeError(f"Sequential: item {name} must be a Module, got {type(module).__name__}")
            setattr(self, name, module)

    def forward(self, x: Any) -> Any:
        for module in self._modules.values():
            x = module(x)
        return x

    def append(self, module: Module) -> Sequential:
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.append: expected a Module, got {type(module).__name__}")
        setattr(self, str(len(self)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: Any) -> Any:
        items = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*items[index])
        if not -len(items) <= index < len(items):
            raise IndexError(f"Sequential index {index} is out of range for {len(items)} modules")
        return items[index]
