"""Checking what a checkpoint claims against the budgets (studio.budgets) before the claim costs memory.

torch rebuilds a tensor as a view of the storage bytes actually present, so a stride-0 or overlapping view
costs nothing at load yet claims any size: it becomes gigabytes the first time a plugin copies or converts
it. A config (safetensors metadata, an NVlabs pickle's constructor arguments) can likewise describe a network
far larger than the file's weights. Both are refused here, with the claim and the limit in one sentence.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import torch

from studio import budgets
from studio.errors import CheckpointError, clipped


class TensorBudget:
    """Adds up the tensors one file rebuilds and refuses the first that claims more than the file holds.

    Used by the torch loader after torch.load (which allocates only the storages present) and by
    restricted unpicklers as each tensor is rebuilt."""

    def __init__(self, what: str, file_bytes: int):
        self.what = what
        self.limit = budgets.weights_limit(file_bytes)
        self.max_elements = budgets.current().max_array_elements
        self.total = 0

    def add(self, t: torch.Tensor, name: str = "a tensor") -> None:
        self.add_claim(t.shape, t.stride(), t.element_size(), t.untyped_storage().nbytes(), name)

    def add_claim(self, shape: Iterable[int], stride: Iterable[int], itemsize: int, held: int,
                  name: str = "a tensor") -> None:
        """A tensor's claim checked from its rebuild arguments, before the view exists (`add` passes a
        built tensor's): its bytes against the storage holding them, its elements, the running total."""
        shape, stride = tuple(int(s) for s in shape), tuple(int(s) for s in stride)
        if any(s < 0 for s in shape):
            raise CheckpointError(f"{self.what}: {name} has a negative size {shape}")
        numel = math.prod(shape)
        size = numel * itemsize
        if size > held:
            raise CheckpointError(f"{self.what}: {name} claims {budgets.human(size)} "
                                  f"(shape {shape}, strides {stride}) from {budgets.human(held)} of stored "
                                  "data; refusing a tensor that repeats its data")
        if numel > self.max_elements:
            raise budgets.refuse(CheckpointError, f"{self.what}: {name}", f"{numel:,} elements",
                                 f"{self.max_elements:,}", "max_array_elements")
        self.total += size
        if self.total > self.limit:
            raise budgets.refuse(CheckpointError, self.what, f"{budgets.human(self.total)} of weights",
                                 f"{budgets.human(self.limit)} for a file of its size",
                                 "weights_per_file_byte")


def check_loaded(obj: Any, what: str, file_bytes: int) -> None:
    """Walk what torch.load returned (dicts, lists, tuples, objects' attributes) and check every tensor."""
    budget = TensorBudget(what, file_bytes)
    seen: set[int] = set()
    stack: list[tuple[Any, str]] = [(obj, "")]
    while stack:
        node, name = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, torch.Tensor):
            budget.add(node, f"tensor {name or '(top level)'!r}")
        elif isinstance(node, dict):
            stack.extend((v, f"{name}.{k}" if name else str(k)) for k, v in node.items())
        elif isinstance(node, (list, tuple, set, frozenset)):
            stack.extend((v, f"{name}[{i}]") for i, v in enumerate(node))
        elif hasattr(node, "__dict__") and not isinstance(node, type):
            stack.extend((v, f"{name}.{k}" if name else k) for k, v in vars(node).items())


def check_network(build: Callable[[], torch.nn.Module], what: str, file_bytes: int,
                  counts: Iterable[tuple[str, int]] = ()) -> None:
    """Build the network a config describes on the meta device (no memory) and refuse it when its weights
    exceed the budget for the file, before the real one is built. `counts` (name, number) are the
    config's layer counts, checked against max_layers first: a meta build still loops once per layer."""
    max_layers = budgets.current().max_layers
    for name, n in counts:
        if not isinstance(n, int) or n > max_layers:
            raise budgets.refuse(CheckpointError, f"{what}'s config", f"{n} {name}", str(max_layers),
                                 "max_layers")
    try:
        with torch.device("meta"):
            net = build()
    except CheckpointError:
        raise
    except Exception as exc:  # a config the constructor cannot follow: say so once, in one line
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"{what} describes a network that cannot be built: {clipped(first, 160)}") from None
    size = sum(t.numel() * t.element_size() for t in [*net.parameters(), *net.buffers()])
    limit = budgets.weights_limit(file_bytes)
    if size > limit:
        raise budgets.refuse(CheckpointError, f"{what}'s config", f"a network of {budgets.human(size)}",
                             f"{budgets.human(limit)} for a file of its size", "weights_per_file_byte")
