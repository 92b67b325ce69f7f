"""Small helpers shared by models, data and callbacks that belong to none of them."""

from .checkpoint import (
    CheckpointMismatchError,
    atomic_torch_save,
    non_finite_tensors,
    rng_states,
    set_rng_states,
    state_dict_mismatch,
)

__all__ = [
    "CheckpointMismatchError",
    "atomic_torch_save",
    "non_finite_tensors",
    "rng_states",
    "set_rng_states",
    "state_dict_mismatch",
]
