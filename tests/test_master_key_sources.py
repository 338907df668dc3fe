"""Master-key sources that need no outside service: the file (default) and the environment.

Also what every source shares: sizes, encodings, and errors that never carry the secret.
"""

from __future__ import annotations

import base64
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from sessionjwt import ConfigurationError, ManualClock, SessionJWT
from sessionjwt.keys.master import (
    ENV_SOURCE_WARNING,
    MasterKeys,
    generate_master_key,
    load_master_keys,
    master_key_id,
)
from sessionjwt.keys.master.env import EnvSource
from sessionjwt.keys.master.file import FileSource
from tests.conftest import make_settings
from tests.secret_servers import login_and_check


def write_key(path: Path, text: str | bytes, mode: int = 0o600) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    os.chmod(path, mode)
    return path


# -- file ---------------------------------------------------------------------------------


def test_file_source_creates_the_current_key_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "master.key"
    keys = load_master_keys(make_settings(tmp_path, master_key_file=path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(keys.current) == 32
    assert load_master_keys(make_settings(tmp_path, master_key_file=path)) == keys


def test_file_source_refuses_a_key_readable_by_others(tmp_path: Path) -> None:
    path = write_key(tmp_path / "master.key", generate_master_key(), mode=0o640)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        FileSource().load(str(path))


@pytest.mark.parametrize("size", [16, 31, 33, 64])
def test_file_source_refuses_a_key_of_the_wrong_size(tmp_path: Path, size: int) -> None:
    path = write_key(tmp_path / "master.key", base64.urlsafe_b64encode(os.urandom(size)))
    with pytest.raises(ConfigurationError, match=f"must hold 32 bytes, not {size}"):
        FileSource().load(str(path))


def test_file_source_refuses_text_that_is_not_base64url(tmp_path: Path) -> None:
    path = write_key(tmp_path / "master.key", "not a key at all!")
    with pytest.raises(ConfigurationError, match="not base64url") as refused:
        FileSource().load(str(path))
    assert "not a key at all" not in str(refused.value)


def test_a_missing_previous_key_file_is_an_error_not_a_new_key(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, master_key_previous=str(tmp_path / "old.key"))
    with pytest.raises(ConfigurationError, match=r"old\.key does not exist"):
        load_master_keys(settings)
    assert not (tmp_path / "old.key").exists()


def test_previous_key_files_are_loaded_after_the_current_one(tmp_path: Path) -> None:
    old = write_key(tmp_path / "old.key", generate_master_key())
    older = write_key(tmp_path / "older.key", generate_master_key())
    settings = make_settings(tmp_path, master_key_previous=f"{old}, {older}")
    keys = load_master_keys(settings)
    assert keys.ids[1:] == tuple(
        master_key_id(FileSource().load(str(path))) for path in (old, older)
    )


# -- env ----------------------------------------------------------------------------------


async def test_env_source_works_and_warns_at_every_start(
    tmp_path: Path,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("SJ_TEST_MASTER_KEY", generate_master_key())
    settings = make_settings(
        tmp_path, master_key_source="env", master_key_env_var="SJ_TEST_MASTER_KEY"
    )
    for _ in range(2):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="sessionjwt"):
            async with SessionJWT(settings, clock=clock) as auth:
                await login_and_check(auth)
        warnings = [r for r in caplog.records if r.getMessage() == ENV_SOURCE_WARNING]
        assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert not (tmp_path / "master.key").exists()  # the file source was not used


def test_env_source_names_a_missing_variable() -> None:
    with pytest.raises(ConfigurationError, match="SJ_NOT_SET is not set"):
        EnvSource({}).load("SJ_NOT_SET")


def test_env_source_error_for_a_wrong_size_key_does_not_echo_it() -> None:
    short = base64.urlsafe_b64encode(b"sixteen byte key").decode()
    with pytest.raises(ConfigurationError, match="must hold 32 bytes") as refused:
        EnvSource({"KEY": short}).load("KEY")
    assert short not in str(refused.value)


def test_serve_prints_the_env_warning(tmp_path: Path) -> None:
    """`sessionjwt serve` shows the warning on the terminal before anything else happens
    (here the variable is unset, so it then stops with a configuration error)."""
    env = {
        **os.environ,
        "SESSIONJWT_DATA_DIR": str(tmp_path),
        "SESSIONJWT_MASTER_KEY_SOURCE": "env",
        "SESSIONJWT_MASTER_KEY_ENV_VAR": "SJ_TEST_UNSET_KEY",
        "COLUMNS": "400",
    }
    env.pop("SJ_TEST_UNSET_KEY", None)
    result = subprocess.run(
        [sys.executable, "-m", "sessionjwt.server.cli", "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "WARNING INSECURE: the master key comes from an environment variable" in result.stderr
    assert "SJ_TEST_UNSET_KEY is not set" in result.stderr


# -- shared rules -------------------------------------------------------------------------


def test_a_key_pasted_where_its_name_belongs_is_refused_without_repeating_it(
    tmp_path: Path,
) -> None:
    key = generate_master_key()
    with pytest.raises(ValidationError) as refused:
        make_settings(tmp_path, master_key_previous=key)
    assert key not in str(refused.value)
    assert key.rstrip("=") not in str(refused.value)


@pytest.mark.parametrize(
    ("source", "missing"),
    [("vault", "master_key_vault_path"), ("aws-ssm", "master_key_aws_name")],
)
def test_a_source_without_its_location_is_refused_at_start_up(
    tmp_path: Path, source: str, missing: str
) -> None:
    with pytest.raises(ValidationError, match=missing):
        make_settings(tmp_path, master_key_source=source)


@pytest.mark.parametrize(
    ("source", "module", "extra"),
    [
        ("vault", "hvac", "sessionjwt[vault]"),
        ("aws-ssm", "boto3", "sessionjwt[aws]"),
        ("aws-secrets-manager", "boto3", "sessionjwt[aws]"),
    ],
)
def test_a_missing_client_library_names_the_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, module: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # what `import` sees when not installed
    monkeypatch.setenv("VAULT_ADDR", "http://127.0.0.1:1")
    monkeypatch.setenv("VAULT_TOKEN", "unused")
    settings = make_settings(
        tmp_path,
        master_key_source=source,
        master_key_vault_path="sessionjwt/master",
        master_key_aws_name="sessionjwt-master",
        master_key_aws_region="eu-west-1",
    )
    with pytest.raises(ConfigurationError, match="pip install") as refused:
        load_master_keys(settings)
    assert f"pip install '{extra}'" in str(refused.value)


def test_the_master_key_set_shows_ids_never_keys() -> None:
    current, previous = os.urandom(32), os.urandom(32)
    keys = MasterKeys(current=current, previous=(previous, current))
    assert keys.ids == (master_key_id(current), master_key_id(previous))  # duplicate dropped
    shown = repr(keys)
    assert master_key_id(current) in shown
    for key in (current, previous):
        assert repr(key) not in shown and base64.urlsafe_b64encode(key).decode() not in shown


def test_generated_keys_are_random_32_byte_base64url() -> None:
    first, second = generate_master_key(), generate_master_key()
    assert first != second
    assert len(base64.urlsafe_b64decode(first)) == 32
