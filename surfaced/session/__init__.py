"""Session files and what feeds a mix: reading, saving, autosave and recovery,
the built-in generators and audio files."""

from surfaced.session.read import (
    BUILTIN_PATH,
    FORMAT_VERSION,
    ChannelConfig,
    Session,
    SessionError,
    Source,
    default_session,
    load_session,
    parse_session,
)

__all__ = ["BUILTIN_PATH", "FORMAT_VERSION", "ChannelConfig", "Session", "SessionError",
           "Source", "default_session", "load_session", "parse_session"]
