"""The exception family. Every layer maps these to user-facing answers in one place."""


class LaminaError(Exception):
    """Base class of every error lamina raises on purpose."""


class InvalidParams(LaminaError, ValueError):
    """A decomposition parameter is out of range or of the wrong type."""


class InvalidImage(LaminaError, ValueError):
    """The input bytes are not a decodable image of a supported kind."""


class ImageTooLarge(InvalidImage):
    """The image exceeds the configured pixel or byte limit (decompression bombs included)."""


class EngineUnavailable(LaminaError):
    """The requested engine cannot run here (missing extra, no weights, no device)."""


class EngineError(LaminaError):
    """The engine failed on this input; the message is safe to show to the user."""


class JobNotFound(LaminaError, LookupError):
    """No such job, or it belongs to another API key (the two are indistinguishable on purpose)."""


class StorageUnavailable(LaminaError):
    """The file storage failed in a way that may pass (read-only or full disk, a missing
    mount, an unreachable bucket): the API answers 503, a worker retries the job later."""
