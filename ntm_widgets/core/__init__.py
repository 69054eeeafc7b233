"""The NTM core: addressing and memory functions, heads, controllers, the model."""

from .addressing import address, content_weights, interpolate, sharpen, shift
from .heads import Head, HeadParams
from .memory import read, write, write_many
from .ntm import NTM, LSTMBaseline, NTMState

__all__ = [
    "address",
    "content_weights",
    "interpolate",
    "sharpen",
    "shift",
    "Head",
    "HeadParams",
    "read",
    "write",
    "write_many",
    "NTM",
    "LSTMBaseline",
    "NTMState",
]
