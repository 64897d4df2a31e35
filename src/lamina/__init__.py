"""lamina: turn any image into editable RGBA layers, back to front.

Only light names are imported here; engines, the server and the client load
lazily so that ``import lamina`` and the CLI start fast.
"""

from lamina.errors import (
    EngineError,
    EngineUnavailable,
    ImageTooLarge,
    InvalidImage,
    InvalidParams,
    LaminaError,
)
from lamina.types import DecomposeParams, Layer, LayerStack

__version__ = "0.1.0"

__all__ = [
    "DecomposeParams",
    "EngineError",
    "EngineUnavailable",
    "ImageTooLarge",
    "InvalidImage",
    "InvalidParams",
    "LaminaError",
    "Layer",
    "LayerStack",
    "__version__",
]
