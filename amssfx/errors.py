"""Typed errors raised at the boundaries of amssfx, with messages that say what to do."""


class AmssfxError(Exception):
    """Base class: every error a user can cause or fix."""


class AudioReadError(AmssfxError):
    """An input file is missing, empty, unreadable, truncated or has no frames."""


class AudioWriteError(AmssfxError):
    """An output could not be written; nothing partial is left behind."""


class NonFiniteAudioError(AmssfxError):
    """The audio holds NaN or Inf samples."""


class QueryError(AmssfxError):
    """A text query does not follow the query language."""


class MaskError(AmssfxError):
    """A latent-channel mask or index is out of range or malformed."""


class ModelContractError(AmssfxError):
    """A model file is missing, corrupt, or does not match the engine's contract."""


class EffectChainError(AmssfxError):
    """An effect-chain spec is malformed or a plugin cannot be loaded."""


class SessionError(AmssfxError):
    """A session (recipe) file is malformed or does not match what it names."""


class DeviceError(AmssfxError):
    """The audio device is missing, busy, or stopped during playback."""


class Cancelled(AmssfxError):
    """The operation was cancelled by the user; nothing partial was kept."""


class UsageValueError(AmssfxError):
    """A value given by the caller (a flag, an argument) outside its documented range."""
