"""docs/mapping.md stays true: its complete examples load and every key is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from surfaces.helpers import ROOT

from surfaced.mapping import load_mapping
from surfaced.mapping.compile import DEFAULT_KEYS, TOP_KEYS
from surfaced.mapping.controls import CONTROL_KEYS
from surfaced.mapping.messages import OUTPUT_EXTRA
from surfaced.mapping.values import BUTTONS, ENCODINGS

DOC = (ROOT / "docs" / "mapping.md").read_text()
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC, flags=re.S)


def test_complete_examples_load(tmp_path: Path) -> None:
    complete = [b for b in BLOCKS if "transport:" in b and "controls:" in b]
    assert complete
    for n, block in enumerate(complete):
        path = tmp_path / f"example{n}.yaml"
        path.write_text(block)
        assert load_mapping(path).controls


def test_the_pages_example_loads(tmp_path: Path) -> None:
    block = next(b for b in BLOCKS if b.startswith("pages:"))
    path = tmp_path / "pages.yaml"
    path.write_text("name: x\ntransport: midi\nmatch: {port: x}\nstrips: 8\n" + block)
    m = load_mapping(path)
    assert {c.stanza for c in m.controls} >= {"vpot_pan", "vpot_send", "fader_trim", "shift"}


@pytest.mark.parametrize("key", [*TOP_KEYS, *DEFAULT_KEYS, *CONTROL_KEYS, *OUTPUT_EXTRA,
                                 *BUTTONS, *ENCODINGS])
def test_every_key_and_word_is_documented(key: str) -> None:
    assert f"`{key}" in DOC or f"{key}:" in DOC, f"docs/mapping.md does not mention {key!r}"


GUIDE = (ROOT / "docs" / "mappings.md").read_text()


def test_the_device_table_lists_every_shipped_mapping() -> None:
    listed = set(re.findall(r"^\| `([\w-]+)` \|", GUIDE, flags=re.M))
    shipped = {p.stem for p in (ROOT / "mappings").glob("*.yaml")}
    assert listed == shipped


def test_the_guide_examples_load(tmp_path: Path) -> None:
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", GUIDE, flags=re.S)
              if "match:" in b and "controls:" in b]
    assert len(blocks) >= 4
    for n, block in enumerate(blocks):
        path = tmp_path / f"guide{n}.yaml"
        path.write_text(block)
        assert load_mapping(path).controls
