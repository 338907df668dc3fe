"""The master key: where it lives (a pluggable source) and how several coexist (rotation).

One small module per source behind :class:`MasterKeySource`; :func:`load_master_keys` picks
the one the settings name. Optional sources import their client library lazily, so a
deployment installs only the extra it uses (``sessionjwt[vault]``, ``sessionjwt[aws]``).
"""

from sessionjwt.keys.master.env import ENV_SOURCE_WARNING
from sessionjwt.keys.master.file import load_or_create_master_key
from sessionjwt.keys.master.keyset import (
    MasterKeys,
    generate_master_key,
    master_key_id,
    parse_master_key,
)
from sessionjwt.keys.master.load import build_source, load_master_keys
from sessionjwt.keys.master.source import MasterKeySource
from sessionjwt.settings import MASTER_KEY_BYTES

__all__ = [
    "ENV_SOURCE_WARNING",
    "MASTER_KEY_BYTES",
    "MasterKeySource",
    "MasterKeys",
    "build_source",
    "generate_master_key",
    "load_master_keys",
    "load_or_create_master_key",
    "master_key_id",
    "parse_master_key",
]
