"""`surfaced prep`: a folder of stems becomes a session an engineer can mix on at once."""

from __future__ import annotations

from pathlib import Path

from surfaced.assist.measure import measure
from surfaced.cli import main
from surfaced.session import generators, load_session
from surfaced.session.wavio import write_wav

RATE = 48000
FILES = {  # file name -> (generator, gain dB): deliberately badly staged
    "01_Kick.wav": ("kick", -10.0), "02 Snare.wav": ("snare", 4.0),
    "OH L.wav": ("hats", -6.0), "OH R.wav": ("hats", -7.0), "Bass DI.wav": ("bass", -14.0),
    "Lead Vox.wav": ("vocal", -12.0), "Keys.wav": ("keys", 0.0), "Pad.wav": ("pad", -20.0),
    "Riser FX.wav": ("pink", -12.0), "Gtr 3.wav": ("lead", -3.0),
}


def _stems(folder: Path) -> Path:
    folder.mkdir()
    for name, (gen, db) in FILES.items():
        write_wav(folder / name, generators.generate(gen, RATE, 8.0) * 10 ** (db / 20), RATE)
    return folder


def test_prep_makes_an_ordered_staged_balanced_session(tmp_path: Path) -> None:
    stems = _stems(tmp_path / "stems")
    out = tmp_path / "song.yaml"
    assert main(["prep", str(stems), "-o", str(out), "--no-taste",
                 "--role", "Gtr 3.wav=keys"]) == 0
    s = load_session(out)
    names = [c.name for c in s.channels]
    assert names[:4] == ["Kick", "Snare", "OH L", "OH R"]  # drums first, in kit order
    assert names.index("Bass DI") < names.index("Keys") < names.index("Lead Vox")
    assert names[-1] == "Riser FX"
    by = {c.name: c.params for c in s.channels}
    assert by["OH L"]["assist/pan"] == -1.0 and by["OH R"]["assist/pan"] == 1.0
    assert by["Kick"].get("hpf/on", 0.0) == 0.0 and by["Lead Vox"]["hpf/on"] == 1.0
    assert by["Lead Vox"]["assist/level"] > by["Pad"]["assist/level"]
    assert all("fader" not in p for p in by.values())  # faders start at 0 dB: the engineer's
    # The corrected guitar took the keys' role: its level and high-pass are the keys'.
    from surfaced.assist.roles import BY_NAME

    assert by["Gtr 3"]["assist/level"] == BY_NAME["keys"].level  # a mono file of that role
    assert by["Keys"]["assist/level"] == BY_NAME["keys"].level - 3.0  # stereo: on both sides
    # Every input is staged: at the target, or under the peak ceiling.
    for c in s.channels:
        audio = generators.generate(FILES[Path(c.source.name).name][0], RATE, 8.0) * 10 ** (
            FILES[Path(c.source.name).name][1] / 20)
        lv = measure(audio * 10 ** (c.params["assist/trim"] / 20), RATE)
        assert abs(lv.loudness + 18.0) < 0.15 or abs(lv.true_peak + 6.0) < 0.15, c.name
    # The session plays and no bus clips.
    engine = s.make_mixer().engine
    engine.process(RATE * 8)
    m = engine.meters().master
    assert m.clip_count == 0 and max(m.true_peak_max) < 10 ** (-1 / 20) + 1e-3
    assert (tmp_path / "song.assist.json").exists()


def test_prep_is_deterministic_and_says_what_is_wrong(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    stems = _stems(tmp_path / "stems")
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    assert main(["prep", str(stems), "-o", str(a), "--no-taste"]) == 0
    assert main(["prep", str(stems), "-o", str(b), "--no-taste"]) == 0
    assert a.read_text() == b.read_text()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["prep", str(empty), "-o", str(a)]) == 2
    assert "no .wav files" in capsys.readouterr().err
    assert main(["prep", str(stems), "-o", str(a), "--role", "Pad.wav=tuba"]) == 2
    assert "unknown role 'tuba'" in capsys.readouterr().err


def test_roles_from_names() -> None:
    from surfaced.assist.roles import role_of, side_of

    cases = {"Kick In": "kick", "BassDrum": "kick", "Bass DI": "bass", "Lead Vox": "vocal",
             "BGV 2": "backing", "Hi Hat": "hats", "Rhodes": "keys", "Synth Lead": "synth",
             "Strings": "pad", "Acoustic Gtr": "guitar", "Impact FX": "fx", "Thing": "other"}
    assert {n: role_of(n).name for n in cases} == cases
    assert side_of("Piano L") == ("L", "piano") and side_of("Keys.R") == ("R", "keys")
    assert side_of("Lead") is None
