"""Settings from the environment into msgspec Structs."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
import pytest

from stellate.core import CoreSettings, SettingsError, load_settings
from stellate.core.settings import env_names


class Sample(msgspec.Struct, frozen=True, kw_only=True):
    url: Annotated[str | None, msgspec.Meta(extra={"env": ["DATABASE_URL"]})] = None
    size: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10
    hosts: list[str] = []
    mode: Literal["fast", "safe"] = "safe"
    ratio: float = 0.5


def test_defaults_when_environment_is_empty() -> None:
    assert load_settings(CoreSettings, environ={}) == CoreSettings()
    assert CoreSettings().env == "development"
    assert not CoreSettings().is_production


def test_values_are_converted_from_strings() -> None:
    settings = load_settings(
        Sample,
        prefix="APP_",
        environ={"APP_SIZE": "20", "APP_HOSTS": "a.example, b.example", "APP_RATIO": "0.25"},
    )
    assert (settings.size, settings.hosts, settings.ratio) == (20, ["a.example", "b.example"], 0.25)


def test_json_list_and_empty_optional() -> None:
    settings = load_settings(
        Sample, prefix="APP_", environ={"APP_HOSTS": '["x", "y"]', "APP_URL": ""}
    )
    assert settings.hosts == ["x", "y"]
    assert settings.url is None


def test_alias_and_priority() -> None:
    assert env_names(Sample, "APP_")["url"] == ["APP_URL", "DATABASE_URL"]
    only_alias = load_settings(Sample, prefix="APP_", environ={"DATABASE_URL": "pg://a"})
    assert only_alias.url == "pg://a"
    both = load_settings(
        Sample, prefix="APP_", environ={"DATABASE_URL": "pg://a", "APP_URL": "pg://b"}
    )
    assert both.url == "pg://b"


def test_overrides_win_and_are_strict() -> None:
    settings = load_settings(
        Sample, prefix="APP_", environ={"APP_SIZE": "5"}, overrides={"size": 7}
    )
    assert settings.size == 7
    with pytest.raises(SettingsError, match=r"settings\['size'\]=`seven` is not valid"):
        load_settings(Sample, prefix="APP_", environ={}, overrides={"size": "seven"})


def test_every_bad_value_is_reported_with_accepted_values() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(
            CoreSettings,
            environ={
                "STELLATE_DEBUG": "maybe",
                "STELLATE_ENV": "prod",
                "STELLATE_LOG_LEVEL": "loud",
            },
        )
    problems = info.value.problems
    assert len(problems) == 3
    assert (
        "STELLATE_DEBUG=`maybe` is not valid: expected a boolean: one of `true`, `false`, `1`, `0`"
        in problems
    )
    assert (
        "STELLATE_ENV=`prod` is not valid: expected one of `development`, `test`, `production`"
        in problems
    )


def test_constraints_are_checked() -> None:
    with pytest.raises(SettingsError, match="APP_SIZE=`500` is not valid"):
        load_settings(Sample, prefix="APP_", environ={"APP_SIZE": "500"})


def test_unknown_override_lists_valid_names() -> None:
    with pytest.raises(SettingsError, match=r"Unknown setting `sise` \(valid: `url`, `size`"):
        load_settings(Sample, prefix="APP_", environ={}, overrides={"sise": 1})
